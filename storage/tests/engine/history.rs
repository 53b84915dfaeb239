//! Watch history older than the in-memory ring, read back from the log.
//!
//! Each test runs the same writes against a store whose ring holds a few
//! KiB (so nearly all history is on disk, spread over many small segments)
//! and, where it compares, against one whose ring holds everything: a watch
//! or past-revision list must not be able to tell them apart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use trellis_storage::testing::{next_event, value};
use trellis_storage::{
    CheckpointConfig, Error, Event, HistoryConfig, ListOptions, Preconditions, ReadAt, SledConfig,
    SledStorage, Storage, WatchItem,
};

fn key(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

/// A store at `dir` whose ring budget is `memory_bytes`; 4 KiB segments
/// and frequent checkpoints, so the log rolls and is compacted often.
fn config(dir: &std::path::Path, memory_bytes: usize) -> SledConfig {
    let mut c = SledConfig::new(dir);
    c.history = HistoryConfig {
        memory_bytes,
        ..Default::default()
    };
    c.segment_bytes = 4 << 10;
    c.checkpoint = CheckpointConfig {
        fold_events: 50,
        fold_interval: Duration::from_millis(20),
        max_pending_events: 10_000,
    };
    c.progress_interval = Duration::from_millis(200);
    c
}

/// Creates, updates and deletes under two workspaces, with uids and
/// spliced revisions, so that events carry every kind of previous value.
async fn workload(s: &dyn Storage, rounds: u64) {
    for r in 0..rounds {
        for ws in ["c1", "c2"] {
            let k = key(&format!("g/r/{ws}/ns/k{}", r % 13));
            match s.get(&k).await.unwrap() {
                None => {
                    s.create(k, value(r), Some(Arc::from(format!("uid-{r}").as_str())))
                        .await
                        .unwrap();
                }
                Some(_) if r % 3 == 0 => {
                    s.delete(k, Preconditions::default()).await.unwrap();
                }
                Some(cur) => {
                    s.update(k, value(r), Some(cur.revision)).await.unwrap();
                }
            }
        }
    }
}

/// Every event under `prefix` after `after`, up to `until`.
async fn collect(s: &dyn Storage, prefix: &str, after: u64, until: u64) -> Vec<Arc<Event>> {
    let mut w = s.watch(key(prefix), after).await.unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let item = tokio::time::timeout_at(deadline.into(), w.next())
            .await
            .expect("events within 20s")
            .expect("stream open")
            .expect("no watch error");
        let at = match item {
            WatchItem::Event(e) => {
                let r = e.revision;
                got.push(e);
                r
            }
            WatchItem::Progress(r) => r,
        };
        if at >= until {
            return got;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_and_lists_from_disk_match_those_from_memory() {
    let (disk_dir, ram_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut disk = Arc::new(SledStorage::open(config(disk_dir.path(), 4 << 10)).unwrap());
    let ram = Arc::new(SledStorage::open(config(ram_dir.path(), 64 << 20)).unwrap());
    workload(&*disk, 400).await;
    workload(&*ram, 400).await;
    let last = disk.current_revision();
    assert_eq!(last, ram.current_revision());
    let (ring_events, ring_bytes) = disk.history_in_memory();
    assert!(
        ring_bytes <= 4 << 10 && (ring_events as u64) < last / 10,
        "the small ring holds little: {ring_events} events, {ring_bytes} bytes"
    );
    assert_eq!(
        ram.history_in_memory().0 as u64,
        last,
        "the big ring holds all"
    );
    assert!(disk.wal_records() > 100, "the log is retained");
    for s in [&disk, &ram] {
        let st = s.stats();
        assert_eq!(st.compacted_revision, 0, "the window holds everything");
        assert_eq!(st.history_events, last);
    }
    for reopened in [false, true] {
        for (prefix, after) in [("g/r/", 0), ("g/r/c1/", 1), ("g/r/c2/", 177), ("g/", 600)] {
            let from_disk = collect(&*disk, prefix, after, last).await;
            let from_ram = collect(&*ram, prefix, after, last).await;
            assert!(!from_disk.is_empty());
            assert_eq!(
                from_disk, from_ram,
                "watch {prefix} after {after} (reopened: {reopened})"
            );
            assert!(
                from_disk.iter().any(|e| e.prev.is_some()),
                "previous values come back from disk"
            );
        }
        for at in [1, 250, 500, last - 3] {
            let opts = || ListOptions {
                prefix: key("g/r/c1/"),
                at: ReadAt::Revision(at),
                limit: Some(5),
                start_after: Some(key("g/r/c1/ns/k1")),
            };
            let (d, r) = (
                disk.list(opts()).await.unwrap(),
                ram.list(opts()).await.unwrap(),
            );
            assert_eq!(
                (d.items, d.revision, d.more),
                (r.items, r.revision, r.more),
                "list at {at} (reopened: {reopened})"
            );
        }
        if !reopened {
            // The history survives a restart, still mostly on disk.
            disk.close().await.unwrap();
            drop(disk);
            disk = Arc::new(SledStorage::open(config(disk_dir.path(), 4 << 10)).unwrap());
            assert!(disk.history_in_memory().1 <= 4 << 10);
        }
    }
    disk.close().await.unwrap();
    ram.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_past_the_window_is_expired_and_its_log_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), 4 << 10);
    // A window of 300 events, or of whatever is younger than 300 ms.
    c.history.max_events = 300;
    c.history.min_events = 0;
    c.history.min_age = Duration::from_millis(300);
    let s = SledStorage::open(c).unwrap();
    workload(&s, 100).await;
    let early = s.current_revision();
    workload(&s, 300).await;
    let st = s.stats();
    assert!(st.compacted_revision >= st.revision - 300, "{st:?}");
    match s.watch(key("g/r/"), early).await {
        Err(Error::Expired { requested, oldest }) => {
            assert_eq!((requested, oldest), (early, s.stats().compacted_revision))
        }
        Err(e) => panic!("expected Expired, got {e:?}"),
        Ok(_) => panic!("expected Expired, got a stream"),
    }
    assert!(matches!(
        s.list(ListOptions {
            prefix: key("g/r/"),
            at: ReadAt::Revision(early),
            ..Default::default()
        })
        .await,
        Err(Error::Expired { .. })
    ));
    // The oldest retained revision is served, from disk, in full.
    let oldest = s.stats().compacted_revision;
    assert!(
        (s.history_in_memory().0 as u64) < s.current_revision() - oldest,
        "part of the window is on disk only"
    );
    let got = collect(&s, "g/", oldest, s.current_revision()).await;
    let revs: Vec<u64> = got.iter().map(|e| e.revision).collect();
    assert_eq!(
        revs,
        (oldest + 1..=s.current_revision()).collect::<Vec<_>>()
    );

    // Age: once everything written so far is older than 300 ms, further
    // writes move the window past it and the log behind it is deleted.
    let before = s.current_revision();
    let records_before = s.wal_records();
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.stats().compacted_revision < before || s.wal_records() >= records_before {
        assert!(
            Instant::now() < deadline,
            "window never aged: {:?}",
            s.stats()
        );
        s.create(
            key(&format!("g/r/c3/ns/t{}", s.current_revision())),
            value(0),
            None,
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(
        s.watch(key("g/"), before - 1).await,
        Err(Error::Expired { .. })
    ));
    s.close().await.unwrap();
}

/// A watch from far back catches up from disk while writers keep moving
/// the ring; the hand-over must neither skip nor repeat a revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_over_from_disk_to_memory_under_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(SledStorage::open(config(dir.path(), 2 << 10)).unwrap());
    workload(&*s, 300).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..400u64 {
                    let k = key(&format!("g/r/c{w}/ns/live{i}"));
                    s.create(k.clone(), value(i), None).await.unwrap();
                    if i % 2 == 1 {
                        s.delete(k, Preconditions::default()).await.unwrap();
                    }
                }
            })
        })
        .collect();
    // Consumers read while the writers write; each stops at the end marker.
    let consumers: Vec<_> = [0u64, 100, 350]
        .into_iter()
        .map(|after| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut w = s.watch(key("g/r/"), after).await.unwrap();
                let mut want = after + 1;
                loop {
                    let e = next_event(&mut w).await;
                    assert_eq!(e.revision, want, "watch after {after}: gap or duplicate");
                    if e.key == key("g/r/end") {
                        return want;
                    }
                    want += 1;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let end = s.create(key("g/r/end"), value(0), None).await.unwrap();
    for c in consumers {
        assert_eq!(c.await.unwrap(), end.revision);
    }
    s.close().await.unwrap();
}
