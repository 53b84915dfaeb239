//! A conformance suite every [`Storage`] backend must pass.
//!
//! A backend's test crate calls [`run_all`] (or single checks) with a
//! [`Backend`] that opens fresh, empty stores. Each check asserts behaviour
//! from the trait's contract: CAS conflicts, create-exists, delete
//! preconditions, pagination stability across concurrent writes, past-revision
//! reads, watch ordering and resumption, expiry, slow-watcher termination and
//! concurrent writers (no lost update, no duplicate revision).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::{
    Error, EventKind, EventStream, ListOptions, Preconditions, ReadAt, Storage, Value, WatchItem,
};

/// What a check needs from the backend under test.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    /// Retain (about) this many events of history.
    pub history_events: usize,
    /// Events a watcher may queue before it is terminated.
    pub watch_queue: usize,
}

impl Default for SuiteConfig {
    fn default() -> Self {
        SuiteConfig {
            history_events: 100_000,
            watch_queue: 10_000,
        }
    }
}

/// Opens fresh, empty stores for the suite.
pub trait Backend: Send + Sync {
    fn open(
        &self,
        config: SuiteConfig,
    ) -> Pin<Box<dyn Future<Output = Arc<dyn Storage>> + Send + '_>>;
}

/// A JSON-ish value whose revision the engine splices in.
pub fn value(n: u64) -> Value {
    let s = format!("{{\"rv\":\"\",\"n\":{n}}}");
    Value::with_revision_slot(Bytes::from(s), 7)
}

/// The `n` field and the spliced revision of a stored value.
pub fn parse(bytes: &[u8]) -> (u64, u64) {
    let s = std::str::from_utf8(bytes).expect("utf-8");
    let rv: u64 = s[7..s[7..].find('"').map(|i| i + 7).expect("rv end")]
        .parse()
        .expect("rv");
    let n: u64 = s[s.find("\"n\":").expect("n") + 4..s.len() - 1]
        .parse()
        .expect("n");
    (n, rv)
}

fn key(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

/// The next event, skipping progress notifications.
pub async fn next_event(w: &mut EventStream) -> Arc<crate::Event> {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("watch event within 10s")
            .expect("stream open")
            .expect("no watch error");
        if let WatchItem::Event(e) = item {
            return e;
        }
    }
}

/// Runs every check, each on a fresh store.
pub async fn run_all(b: &dyn Backend) {
    create_get_and_already_exists(b).await;
    revisions_are_global_and_increasing(b).await;
    compare_and_swap(b).await;
    delete_preconditions(b).await;
    list_prefix_and_pagination(b).await;
    pagination_stable_across_concurrent_writes(b).await;
    list_at_past_revision(b).await;
    watch_ordering_and_prefix_isolation(b).await;
    watch_resume_from_revision(b).await;
    watch_from_expired_revision(b).await;
    slow_watcher_is_terminated(b).await;
    concurrent_writers(b).await;
    progress_without_matching_events(b).await;
    last_change_covers_acknowledged_writes(b).await;
}

pub async fn create_get_and_already_exists(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let rec = s
        .create(key("g/r/c/ns/a"), value(1), Some(Arc::from("uid-a")))
        .await
        .unwrap();
    let (n, rv) = parse(&rec.value);
    assert_eq!(
        (n, rv),
        (1, rec.revision),
        "revision spliced into the stored value"
    );
    let got = s.get(b"g/r/c/ns/a").await.unwrap().expect("present");
    assert_eq!(got, rec);
    assert_eq!(got.uid.as_deref(), Some("uid-a"));
    assert_eq!(
        s.create(key("g/r/c/ns/a"), value(2), None)
            .await
            .unwrap_err(),
        Error::AlreadyExists
    );
    assert_eq!(
        parse(&s.get(b"g/r/c/ns/a").await.unwrap().unwrap().value).0,
        1,
        "failed create changed nothing"
    );
    assert!(s.get(b"g/r/c/ns/missing").await.unwrap().is_none());
    let verbatim = s
        .create(key("g/r/c/ns/v"), Value::verbatim(&b"raw"[..]), None)
        .await
        .unwrap();
    assert_eq!(&verbatim.value[..], b"raw");
    assert!(matches!(
        s.create(
            key("g/r/c/ns/bad"),
            Value::with_revision_slot(&b"x"[..], 5),
            None
        )
        .await,
        Err(Error::InvalidArgument(_))
    ));
    s.close().await.unwrap();
}

pub async fn revisions_are_global_and_increasing(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let start = s.current_revision();
    let mut last = start;
    for i in 0..20u64 {
        let k = if i % 2 == 0 {
            format!("a/r/c/ns/{i}")
        } else {
            format!("b/r/c/ns/{i}")
        };
        let rec = s.create(key(&k), value(i), None).await.unwrap();
        assert!(
            rec.revision > last,
            "revision {} not above {last}",
            rec.revision
        );
        last = rec.revision;
    }
    assert_eq!(s.current_revision(), last);
    let failed = s.create(key("a/r/c/ns/0"), value(0), None).await;
    assert!(failed.is_err());
    assert_eq!(
        s.current_revision(),
        last,
        "a failed write consumes no revision"
    );
    s.close().await.unwrap();
}

pub async fn compare_and_swap(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let k = key("g/r/c/ns/cas");
    let r1 = s.create(k.clone(), value(1), None).await.unwrap();
    let r2 = s
        .update(k.clone(), value(2), Some(r1.revision))
        .await
        .unwrap();
    assert!(r2.revision > r1.revision);
    match s.update(k.clone(), value(3), Some(r1.revision)).await {
        Err(Error::Conflict { expected, current }) => {
            assert_eq!((expected, current), (r1.revision, r2.revision))
        }
        other => panic!("stale CAS must conflict, got {other:?}"),
    }
    assert_eq!(
        parse(&s.get(&k).await.unwrap().unwrap().value).0,
        2,
        "conflicting update lost nothing"
    );
    let r3 = s.update(k.clone(), value(4), None).await.unwrap();
    assert_eq!(parse(&r3.value), (4, r3.revision));
    assert_eq!(
        s.update(key("g/r/c/ns/nope"), value(1), None)
            .await
            .unwrap_err(),
        Error::NotFound
    );
    assert_eq!(
        s.update(key("g/r/c/ns/nope"), value(1), Some(1))
            .await
            .unwrap_err(),
        Error::NotFound
    );
    s.close().await.unwrap();
}

pub async fn delete_preconditions(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let k = key("g/r/c/ns/d");
    let r1 = s
        .create(k.clone(), value(7), Some(Arc::from("u1")))
        .await
        .unwrap();
    let wrong_uid = Preconditions {
        uid: Some("u2".into()),
        revision: None,
    };
    assert!(matches!(
        s.delete(k.clone(), wrong_uid).await,
        Err(Error::UidMismatch { .. })
    ));
    let wrong_rev = Preconditions {
        uid: None,
        revision: Some(r1.revision + 100),
    };
    assert!(matches!(
        s.delete(k.clone(), wrong_rev).await,
        Err(Error::Conflict { .. })
    ));
    assert!(
        s.get(&k).await.unwrap().is_some(),
        "failed deletes keep the key"
    );
    let ok = Preconditions {
        uid: Some("u1".into()),
        revision: Some(r1.revision),
    };
    let gone = s.delete(k.clone(), ok).await.unwrap();
    assert!(gone.revision > r1.revision);
    assert_eq!(
        parse(&gone.value),
        (7, gone.revision),
        "final state carries the deletion revision"
    );
    assert!(s.get(&k).await.unwrap().is_none());
    assert_eq!(
        s.delete(k.clone(), Preconditions::default())
            .await
            .unwrap_err(),
        Error::NotFound
    );
    s.create(k.clone(), value(8), None)
        .await
        .expect("re-create after delete");
    s.close().await.unwrap();
}

pub async fn list_prefix_and_pagination(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    for i in 0..25u64 {
        s.create(key(&format!("g/r/c1/ns/k{i:03}")), value(i), None)
            .await
            .unwrap();
        s.create(key(&format!("g/r/c10/ns/k{i:03}")), value(i), None)
            .await
            .unwrap();
        s.create(key(&format!("g/q/c1/ns/k{i:03}")), value(i), None)
            .await
            .unwrap();
    }
    let all = s
        .list(ListOptions {
            prefix: key("g/r/c1/"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 25, "prefix c1/ must not include c10/");
    assert!(!all.more);
    assert_eq!(all.revision, s.current_revision());
    assert!(
        all.items.windows(2).all(|w| w[0].key < w[1].key),
        "key order"
    );
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list(ListOptions {
                prefix: key("g/r/c1/"),
                start_after: after.clone(),
                limit: Some(10),
                at: ReadAt::Latest,
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 10);
        after = page.items.last().map(|r| r.key.clone());
        seen.extend(page.items.iter().map(|r| r.key.clone()));
        if !page.more {
            break;
        }
    }
    assert_eq!(
        seen,
        all.items.iter().map(|r| r.key.clone()).collect::<Vec<_>>()
    );
    let cross = s
        .list(ListOptions {
            prefix: key("g/r/"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cross.items.len(), 50, "one resource across all clusters");
    let exact = s
        .list(ListOptions {
            prefix: key("g/r/c1/ns/k003"),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 1);
    s.close().await.unwrap();
}

pub async fn pagination_stable_across_concurrent_writes(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let mut expected = BTreeMap::new();
    for i in 0..100u64 {
        let k = key(&format!("g/r/c/ns/k{i:03}"));
        s.create(k.clone(), value(i), None).await.unwrap();
        expected.insert(k, i);
    }
    let first = s
        .list(ListOptions {
            prefix: key("g/r/c/"),
            limit: Some(30),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(first.more);
    let at = first.revision;
    // Writers change every kind of thing while the pager is between pages.
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..100u64 {
                let k = key(&format!("g/r/c/ns/k{i:03}"));
                match i % 3 {
                    0 => {
                        s.delete(k, Preconditions::default()).await.unwrap();
                    }
                    1 => {
                        s.update(k, value(1000 + i), None).await.unwrap();
                    }
                    _ => {
                        s.create(key(&format!("g/r/c/ns/k{i:03}x")), value(i), None)
                            .await
                            .unwrap();
                    }
                }
            }
        })
    };
    let mut got: BTreeMap<Bytes, u64> = first
        .items
        .iter()
        .map(|r| (r.key.clone(), parse(&r.value).0))
        .collect();
    let mut after = first.items.last().map(|r| r.key.clone());
    loop {
        let page = s
            .list(ListOptions {
                prefix: key("g/r/c/"),
                start_after: after.clone(),
                limit: Some(30),
                at: ReadAt::Revision(at),
            })
            .await
            .unwrap();
        assert_eq!(page.revision, at);
        for r in &page.items {
            assert!(r.revision <= at, "item newer than the list revision");
            got.insert(r.key.clone(), parse(&r.value).0);
        }
        after = page.items.last().map(|r| r.key.clone());
        tokio::task::yield_now().await;
        if !page.more {
            break;
        }
    }
    writer.await.unwrap();
    assert_eq!(
        got, expected,
        "pages at one revision form one consistent snapshot"
    );
    let now = s
        .list(ListOptions {
            prefix: key("g/r/c/"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        now.items.len(),
        100 - 34 + 33,
        "latest state reflects every write"
    );
    s.close().await.unwrap();
}

pub async fn list_at_past_revision(b: &dyn Backend) {
    let s = b
        .open(SuiteConfig {
            history_events: 50,
            ..Default::default()
        })
        .await;
    let r1 = s.create(key("g/r/c/ns/a"), value(1), None).await.unwrap();
    let r2 = s.update(key("g/r/c/ns/a"), value(2), None).await.unwrap();
    let page = s
        .list(ListOptions {
            prefix: key("g/r/c/"),
            at: ReadAt::Revision(r1.revision),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(parse(&page.items[0].value), (1, r1.revision));
    s.delete(key("g/r/c/ns/a"), Preconditions::default())
        .await
        .unwrap();
    let page = s
        .list(ListOptions {
            prefix: key("g/r/c/"),
            at: ReadAt::Revision(r2.revision),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        parse(&page.items[0].value),
        (2, r2.revision),
        "deleted key visible at an earlier revision"
    );
    let future = s.current_revision() + 10;
    assert!(matches!(
        s.list(ListOptions {
            prefix: key("g/r/"),
            at: ReadAt::Revision(future),
            ..Default::default()
        })
        .await,
        Err(Error::FutureRevision { .. })
    ));
    for i in 0..200u64 {
        s.create(key(&format!("g/r/c/ns/n{i}")), value(i), None)
            .await
            .unwrap();
    }
    assert!(matches!(
        s.list(ListOptions {
            prefix: key("g/r/"),
            at: ReadAt::Revision(r1.revision),
            ..Default::default()
        })
        .await,
        Err(Error::Expired { .. })
    ));
    s.close().await.unwrap();
}

pub async fn watch_ordering_and_prefix_isolation(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let start = s.current_revision();
    let mut w = s.watch(key("g/r/c1/"), start).await.unwrap();
    let mut expected = Vec::new();
    for i in 0..50u64 {
        let k = key(&format!("g/r/c1/ns/k{}", i % 7));
        let rec = match s.get(&k).await.unwrap() {
            None => (
                s.create(k.clone(), value(i), None).await.unwrap(),
                EventKind::Added,
            ),
            Some(_) if i % 5 == 0 => (
                s.delete(k.clone(), Preconditions::default()).await.unwrap(),
                EventKind::Deleted,
            ),
            Some(_) => (
                s.update(k.clone(), value(i), None).await.unwrap(),
                EventKind::Modified,
            ),
        };
        expected.push((rec.1, k, rec.0.revision));
        // Noise in a sibling workspace and another resource.
        s.create(key(&format!("g/r/c10/ns/k{i}")), value(i), None)
            .await
            .unwrap();
        s.create(key(&format!("g/q/c1/ns/k{i}")), value(i), None)
            .await
            .unwrap();
    }
    for (kind, k, rev) in expected {
        let e = next_event(&mut w).await;
        assert_eq!((e.kind, &e.key, e.revision), (kind, &k, rev));
        if kind == EventKind::Deleted {
            assert_eq!(
                parse(&e.value).1,
                rev,
                "DELETED carries the deletion revision"
            );
            assert!(e.prev.is_some());
        }
    }
    let foreign = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Some(Ok(WatchItem::Event(e))) = w.next().await {
                return e;
            }
        }
    });
    if let Ok(e) = foreign.await {
        panic!("foreign event {e:?}");
    }
    s.close().await.unwrap();
}

pub async fn watch_resume_from_revision(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let mut revs = Vec::new();
    for i in 0..30u64 {
        revs.push(
            s.create(key(&format!("g/r/c/ns/k{i}")), value(i), None)
                .await
                .unwrap()
                .revision,
        );
    }
    let from = revs[9];
    let mut w = s.watch(key("g/r/c/"), from).await.unwrap();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 30..60u64 {
                out.push(
                    s.create(key(&format!("g/r/c/ns/k{i}")), value(i), None)
                        .await
                        .unwrap()
                        .revision,
                );
            }
            out
        })
    };
    let mut later = writer.await.unwrap();
    let mut want: Vec<u64> = revs[10..].to_vec();
    want.append(&mut later);
    for rev in want {
        assert_eq!(
            next_event(&mut w).await.revision,
            rev,
            "history then live, no gap or duplicate"
        );
    }
    // A watch from the current revision sees only what comes next.
    let mut w2 = s.watch(key("g/r/c/"), s.current_revision()).await.unwrap();
    let rec = s
        .create(key("g/r/c/ns/last"), value(0), None)
        .await
        .unwrap();
    assert_eq!(next_event(&mut w2).await.revision, rec.revision);
    // A watch from a future revision waits for it.
    let mut w3 = s
        .watch(key("g/r/c/"), s.current_revision() + 1)
        .await
        .unwrap();
    s.create(key("g/r/c/ns/skipped"), value(0), None)
        .await
        .unwrap();
    let rec = s
        .create(key("g/r/c/ns/seen"), value(0), None)
        .await
        .unwrap();
    assert_eq!(next_event(&mut w3).await.revision, rec.revision);
    s.close().await.unwrap();
}

pub async fn watch_from_expired_revision(b: &dyn Backend) {
    let s = b
        .open(SuiteConfig {
            history_events: 20,
            ..Default::default()
        })
        .await;
    let first = s
        .create(key("g/r/c/ns/first"), value(0), None)
        .await
        .unwrap();
    for i in 0..200u64 {
        s.create(key(&format!("g/r/c/ns/k{i}")), value(i), None)
            .await
            .unwrap();
    }
    match s.watch(key("g/r/c/"), first.revision).await {
        Err(Error::Expired { requested, oldest }) => {
            assert_eq!(requested, first.revision);
            assert!(oldest > requested);
            let mut w = s
                .watch(key("g/r/c/"), oldest)
                .await
                .expect("watch from the oldest retained revision");
            assert_eq!(next_event(&mut w).await.revision, oldest + 1);
        }
        Err(e) => panic!("expected Expired, got {e:?}"),
        Ok(_) => panic!("expected Expired, got a stream"),
    }
    s.close().await.unwrap();
}

pub async fn slow_watcher_is_terminated(b: &dyn Backend) {
    let s = b
        .open(SuiteConfig {
            watch_queue: 16,
            ..Default::default()
        })
        .await;
    let start = s.current_revision();
    let mut slow = s.watch(key("g/r/"), start).await.unwrap();
    let mut fast = s.watch(key("g/r/"), start).await.unwrap();
    // The fast watcher acknowledges every event; the writer waits for each
    // acknowledgement, so only the stalled watcher can fall behind.
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel();
    let fast_reader = tokio::spawn(async move {
        let mut n = 0;
        while n < 200 {
            let e = next_event(&mut fast).await;
            ack_tx.send(e.revision).unwrap();
            n += 1;
        }
        n
    });
    let writes = tokio::time::timeout(Duration::from_secs(30), async {
        for i in 0..200u64 {
            let rev = s
                .create(key(&format!("g/r/c/ns/k{i}")), value(i), None)
                .await
                .unwrap()
                .revision;
            while ack_rx.recv().await.expect("fast watcher alive") < rev {}
        }
    });
    writes
        .await
        .expect("writers are never blocked by a stalled watcher");
    assert_eq!(
        fast_reader.await.unwrap(),
        200,
        "other watchers get everything"
    );
    let mut last = start;
    let mut terminated = false;
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
        match item {
            Ok(WatchItem::Event(e)) => {
                assert_eq!(e.revision, last + 1, "no gap before termination");
                last = e.revision;
            }
            Ok(WatchItem::Progress(_)) => {}
            Err(Error::WatcherTooSlow) => {
                terminated = true;
                break;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(terminated, "stalled watcher ends with WatcherTooSlow");
    assert!(last < start + 200);
    s.close().await.unwrap();
}

pub async fn concurrent_writers(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let counter = key("g/r/c/ns/counter");
    s.create(counter.clone(), value(0), None).await.unwrap();
    let workers = 16u64;
    let per = 25u64;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let s = s.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..per {
                // Read-modify-write with CAS: retry on conflict.
                loop {
                    let cur = s.get(&counter).await.unwrap().unwrap();
                    let (n, _) = parse(&cur.value);
                    match s
                        .update(counter.clone(), value(n + 1), Some(cur.revision))
                        .await
                    {
                        Ok(r) => {
                            revs.push(r.revision);
                            break;
                        }
                        Err(Error::Conflict { .. }) => continue,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                revs.push(
                    s.create(key(&format!("g/r/c/ns/w{w}-{i}")), value(i), None)
                        .await
                        .unwrap()
                        .revision,
                );
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let final_n = parse(&s.get(&counter).await.unwrap().unwrap().value).0;
    assert_eq!(final_n, workers * per, "no lost update");
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "no duplicate revision");
    assert_eq!(s.current_revision(), *all.iter().max().unwrap());
    s.close().await.unwrap();
}

/// A watcher on a quiet prefix still learns that the store moved on.
pub async fn progress_without_matching_events(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let mut w = s
        .watch(key("quiet/r/c/"), s.current_revision())
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..5u64 {
        last = s
            .create(key(&format!("busy/r/c/ns/k{i}")), value(i), None)
            .await
            .unwrap()
            .revision;
    }
    let got = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match w.next().await {
                Some(Ok(WatchItem::Progress(r))) if r >= last => return r,
                Some(Ok(WatchItem::Progress(_))) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("a progress notification arrives");
    assert!(got >= last);
    s.close().await.unwrap();
}

/// Read-your-writes for caches: `last_change` of a tracked prefix is at
/// least the revision of every write to it acknowledged before, and a
/// watch of the prefix reaches it (with the write's event) in time.
pub async fn last_change_covers_acknowledged_writes(b: &dyn Backend) {
    let s = b.open(SuiteConfig::default()).await;
    let first = s
        .create(key("cache/r/c/ns/a"), value(1), None)
        .await
        .unwrap()
        .revision;
    s.track(&key("cache/r/c/"));
    let mut w = s.watch(key("cache/r/c/"), first).await.unwrap();
    assert!(s.last_change(b"cache/r/c/") >= first);
    for i in 0..3u64 {
        s.create(key(&format!("other/r/c/ns/k{i}")), value(i), None)
            .await
            .unwrap();
    }
    let write = s
        .create(key("cache/r/c/ns/b"), value(2), None)
        .await
        .unwrap()
        .revision;
    let target = s.last_change(b"cache/r/c/");
    assert!(
        target >= write,
        "last_change {target} < acknowledged {write}"
    );
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match w.next().await {
                Some(Ok(WatchItem::Event(e))) => {
                    seen.push(e.key.clone());
                    if e.revision >= target {
                        return;
                    }
                }
                Some(Ok(WatchItem::Progress(r))) if r >= target => return,
                Some(Ok(WatchItem::Progress(_))) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("the watch reaches last_change");
    assert_eq!(seen, vec![key("cache/r/c/ns/b")]);
    s.close().await.unwrap();
}
