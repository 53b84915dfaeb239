//! The runtime driven directly: a scripted storage stands in for the real
//! one (so watches can be broken and histories expired on cue) and time is
//! paused (so delays are checked exactly, without sleeping).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use trellis_storage::{
    Error, Event, EventKind, EventStream, ListOptions, ListResult, Preconditions, Record, Result,
    Stats, Storage, Value, WatchItem,
};

use super::reflector::RESET_AFTER;
use super::*;

const MS: Duration = Duration::from_millis(1);

/// What the next `watch` call answers.
enum Script {
    Expired,
    /// A failure other than expiry.
    Fail,
    Stream(mpsc::UnboundedReceiver<Result<WatchItem>>),
}

/// A storage whose list answers from a map and whose watches follow a
/// script; it records every list and watch call.
#[derive(Default)]
struct Scripted {
    records: Mutex<BTreeMap<Bytes, Bytes>>,
    revision: Mutex<u64>,
    watches: Mutex<VecDeque<Script>>,
    /// `after_revision` of each watch call.
    watch_calls: Mutex<Vec<u64>>,
    list_calls: Mutex<usize>,
    /// Lists that fail before they answer again.
    failing_lists: Mutex<usize>,
}

impl Scripted {
    fn put(&self, key: &str, revision: u64) {
        self.records
            .lock()
            .insert(Bytes::from(key.to_string()), Bytes::from_static(b"{}"));
        *self.revision.lock() = revision;
    }

    /// Scripts the next watch as a stream fed through the returned sender.
    fn next_stream(&self) -> mpsc::UnboundedSender<Result<WatchItem>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.watches.lock().push_back(Script::Stream(rx));
        tx
    }
}

fn event(key: &str, revision: u64) -> Result<WatchItem> {
    Ok(WatchItem::Event(Arc::new(Event {
        kind: EventKind::Modified,
        key: Bytes::from(key.to_string()),
        revision,
        value: Bytes::from_static(b"{}"),
        prev: None,
        uid: None,
        revision_offset: None,
    })))
}

#[async_trait::async_trait]
impl Storage for Scripted {
    async fn get(&self, _: &[u8]) -> Result<Option<Record>> {
        unimplemented!("not used by the runtime")
    }

    async fn list(&self, opts: ListOptions) -> Result<ListResult> {
        *self.list_calls.lock() += 1;
        {
            let mut failing = self.failing_lists.lock();
            if *failing > 0 {
                *failing -= 1;
                return Err(Error::Engine("scripted list failure".into()));
            }
        }
        let items = self
            .records
            .lock()
            .iter()
            .filter(|(k, _)| k.starts_with(&opts.prefix))
            .map(|(k, v)| Record {
                key: k.clone(),
                value: v.clone(),
                revision: 1,
                uid: None,
                revision_offset: None,
            })
            .collect();
        Ok(ListResult {
            items,
            revision: *self.revision.lock(),
            more: false,
        })
    }

    async fn create(&self, _: Bytes, _: Value, _: Option<Arc<str>>) -> Result<Record> {
        unimplemented!("not used by the runtime")
    }

    async fn update(&self, _: Bytes, _: Value, _: Option<u64>) -> Result<Record> {
        unimplemented!("not used by the runtime")
    }

    async fn delete(&self, _: Bytes, _: Preconditions) -> Result<Record> {
        unimplemented!("not used by the runtime")
    }

    async fn watch(&self, _: Bytes, after_revision: u64) -> Result<EventStream> {
        self.watch_calls.lock().push(after_revision);
        match self.watches.lock().pop_front() {
            Some(Script::Expired) => Err(Error::Expired {
                requested: after_revision,
                oldest: after_revision + 100,
            }),
            Some(Script::Fail) => Err(Error::Engine("scripted failure".into())),
            Some(Script::Stream(rx)) => Ok(Box::pin(tokio_stream_from(rx))),
            // Unscripted: a healthy watch on which nothing happens.
            None => Ok(Box::pin(futures::stream::pending())),
        }
    }

    fn current_revision(&self) -> u64 {
        *self.revision.lock()
    }

    fn stats(&self) -> Stats {
        Stats::default()
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

fn tokio_stream_from(
    mut rx: mpsc::UnboundedReceiver<Result<WatchItem>>,
) -> impl futures::Stream<Item = Result<WatchItem>> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Every reconcile call: the key and when it started.
type Calls = Arc<Mutex<Vec<(String, Instant)>>>;

fn keys_of(calls: &Calls, key: &str) -> Vec<Instant> {
    calls
        .lock()
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, t)| *t)
        .collect()
}

/// A watch of everything in `s`, keyed by storage key.
fn watch_all(s: &Arc<Scripted>) -> Watch<String> {
    let storage: Arc<dyn Storage> = s.clone();
    Watch::new(storage, Bytes::new(), |c| {
        vec![String::from_utf8_lossy(&c.key).into_owned()]
    })
}

/// Waits (in paused time: lets the runtime run) until `f` holds.
async fn until(mut f: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if f() {
            return;
        }
        tokio::time::sleep(MS).await;
    }
    panic!("condition not reached");
}

#[derive(Debug)]
struct Failed;

#[tokio::test(start_paused = true)]
async fn dedups_keys_and_never_runs_one_key_twice_at_once() {
    let s = Arc::new(Scripted::default());
    s.put("a", 1);
    s.put("b", 1);
    let events = s.next_stream();
    let (stop, shutdown) = watch::channel(false);
    let calls: Calls = Default::default();
    let release = Arc::new(Notify::new());
    let running = Arc::new(Mutex::new(Vec::<String>::new()));
    let overlap = Arc::new(Mutex::new(false));
    let (c, r, run, o) = (
        calls.clone(),
        release.clone(),
        running.clone(),
        overlap.clone(),
    );
    let task = tokio::spawn(
        Controller::new("test", shutdown)
            .watches(watch_all(&s))
            .concurrency(4)
            .run(
                (),
                move |(), k: String| {
                    let (c, r, run, o) = (c.clone(), r.clone(), run.clone(), o.clone());
                    async move {
                        c.lock().push((k.clone(), Instant::now()));
                        {
                            let mut run = run.lock();
                            if run.contains(&k) {
                                *o.lock() = true;
                            }
                            run.push(k.clone());
                        }
                        if k == "a" {
                            r.notified().await;
                        }
                        run.lock().retain(|x| *x != k);
                        Ok::<_, Failed>(Action::await_change())
                    }
                },
                |_, _, _| Action::await_change(),
            ),
    );
    // "b" runs while "a" is held: different keys run concurrently.
    until(|| keys_of(&calls, "a").len() == 1 && keys_of(&calls, "b").len() == 1).await;
    assert_eq!(running.lock().as_slice(), ["a"]);
    // A burst of changes to the running key...
    for rev in 2..12 {
        events.send(event("a", rev)).unwrap();
    }
    tokio::time::sleep(10 * MS).await;
    assert_eq!(
        keys_of(&calls, "a").len(),
        1,
        "a running key is not started again"
    );
    release.notify_one();
    // ...runs it exactly once more, after the run in progress.
    until(|| keys_of(&calls, "a").len() == 2).await;
    release.notify_one();
    events.send(event("c", 12)).unwrap();
    until(|| keys_of(&calls, "c").len() == 1).await;
    assert_eq!(keys_of(&calls, "a").len(), 2);
    assert!(!*overlap.lock(), "a key ran twice at once");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_and_success_resets() {
    let s = Arc::new(Scripted::default());
    s.put("a", 1);
    let (stop, shutdown) = watch::channel(false);
    let calls: Calls = Default::default();
    let c = calls.clone();
    // Fails 3 times, succeeds asking for a requeue, then fails twice more.
    let outcomes = Arc::new(Mutex::new(VecDeque::from([
        false, false, false, true, false, false, true,
    ])));
    let policy_saw = Arc::new(Mutex::new(Vec::new()));
    let p = policy_saw.clone();
    let task = tokio::spawn(
        Controller::new("test", shutdown)
            .watches(watch_all(&s))
            .backoff(Backoff::new(20 * MS, 1000 * MS))
            .run(
                (),
                move |(), k: String| {
                    let (c, o) = (c.clone(), outcomes.clone());
                    async move {
                        c.lock().push((k, Instant::now()));
                        match o.lock().pop_front() {
                            Some(false) => Err(Failed),
                            Some(true) => Ok(Action::requeue(5 * MS)),
                            None => Ok(Action::await_change()),
                        }
                    }
                },
                move |_, _, failures| {
                    p.lock().push(failures);
                    Action::backoff()
                },
            ),
    );
    until(|| keys_of(&calls, "a").len() == 8).await;
    let t = keys_of(&calls, "a");
    let gaps: Vec<Duration> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        [20 * MS, 40 * MS, 80 * MS, 5 * MS, 20 * MS, 40 * MS, 5 * MS],
        "backoff doubles per consecutive failure and starts over after a success"
    );
    assert_eq!(policy_saw.lock().as_slice(), [1, 2, 3, 1, 2]);
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_broken_watch_resumes_where_it_stopped() {
    let s = Arc::new(Scripted::default());
    s.put("a", 3);
    let first = s.next_stream();
    let second = s.next_stream();
    let (stop, shutdown) = watch::channel(false);
    let calls: Calls = Default::default();
    let c = calls.clone();
    let task = tokio::spawn(
        Controller::new("test", shutdown)
            .watches(watch_all(&s))
            .run(
                (),
                move |(), k: String| {
                    let c = c.clone();
                    async move {
                        c.lock().push((k, Instant::now()));
                        Ok::<_, Failed>(Action::await_change())
                    }
                },
                |_, _, _| Action::await_change(),
            ),
    );
    first.send(event("b", 4)).unwrap();
    first.send(Ok(WatchItem::Progress(7))).unwrap();
    first.send(Err(Error::WatcherTooSlow)).unwrap();
    second.send(event("c", 8)).unwrap();
    until(|| keys_of(&calls, "c").len() == 1).await;
    assert_eq!(keys_of(&calls, "b").len(), 1);
    // Listed once at 3, watched after 3, resumed after the progress
    // notification's 7: nothing relisted, nothing missed.
    assert_eq!(s.watch_calls.lock().as_slice(), [3, 7]);
    assert_eq!(*s.list_calls.lock(), 1);
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_expired_history_relists() {
    let s = Arc::new(Scripted::default());
    s.put("a", 3);
    let first = s.next_stream();
    s.watches.lock().push_back(Script::Expired);
    let (stop, shutdown) = watch::channel(false);
    let calls: Calls = Default::default();
    let c = calls.clone();
    let task = tokio::spawn(
        Controller::new("test", shutdown)
            .watches(watch_all(&s))
            .run(
                (),
                move |(), k: String| {
                    let c = c.clone();
                    async move {
                        c.lock().push((k, Instant::now()));
                        Ok::<_, Failed>(Action::await_change())
                    }
                },
                |_, _, _| Action::await_change(),
            ),
    );
    until(|| keys_of(&calls, "a").len() == 1).await;
    // Changes happen that the watch will never deliver.
    s.put("z", 50);
    first.send(Err(Error::WatcherTooSlow)).unwrap();
    until(|| keys_of(&calls, "z").len() == 1).await;
    assert_eq!(
        keys_of(&calls, "a").len(),
        2,
        "a relist maps every record again"
    );
    assert_eq!(*s.list_calls.lock(), 2);
    // Watched after 3; resuming after 3 hit the expired history; after
    // the relist, watched from the relist's revision.
    until(|| s.watch_calls.lock().len() == 3).await;
    assert_eq!(s.watch_calls.lock().as_slice(), [3, 3, 50]);
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_running_reconciles_finish_and_starts_no_more() {
    let s = Arc::new(Scripted::default());
    s.put("a", 1);
    s.put("b", 1);
    let (stop, shutdown) = watch::channel(false);
    let calls: Calls = Default::default();
    let finished = Arc::new(Mutex::new(Vec::<String>::new()));
    let release = Arc::new(Notify::new());
    let (c, f, r) = (calls.clone(), finished.clone(), release.clone());
    let task = tokio::spawn(
        Controller::new("test", shutdown)
            .watches(watch_all(&s))
            .concurrency(1)
            .run(
                (),
                move |(), k: String| {
                    let (c, f, r) = (c.clone(), f.clone(), r.clone());
                    async move {
                        c.lock().push((k.clone(), Instant::now()));
                        r.notified().await;
                        f.lock().push(k);
                        Ok::<_, Failed>(Action::await_change())
                    }
                },
                |_, _, _| Action::await_change(),
            ),
    );
    until(|| keys_of(&calls, "a").len() == 1).await;
    stop.send(true).unwrap();
    tokio::time::sleep(50 * MS).await;
    assert!(
        !task.is_finished(),
        "shutdown waits for the running reconcile"
    );
    release.notify_one();
    task.await.unwrap();
    assert_eq!(finished.lock().as_slice(), ["a"]);
    assert!(
        keys_of(&calls, "b").is_empty(),
        "nothing starts after shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn resync_relists_every_period() {
    let s = Arc::new(Scripted::default());
    s.put("a", 1);
    let (stop, shutdown) = watch::channel(false);
    let calls: Calls = Default::default();
    let c = calls.clone();
    let task = tokio::spawn(
        Controller::new("test", shutdown)
            .watches(watch_all(&s))
            .resync(100 * MS)
            .run(
                (),
                move |(), k: String| {
                    let c = c.clone();
                    async move {
                        c.lock().push((k, Instant::now()));
                        Ok::<_, Failed>(Action::await_change())
                    }
                },
                |_, _, _| Action::await_change(),
            ),
    );
    until(|| keys_of(&calls, "a").len() == 3).await;
    let t = keys_of(&calls, "a");
    assert_eq!(t[1] - t[0], 100 * MS);
    assert_eq!(t[2] - t[1], 100 * MS);
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Grants leadership on cue; each lease is lost on cue.
struct Gate {
    grant: Arc<Notify>,
    lose: Arc<Notify>,
    campaigns: Arc<Mutex<usize>>,
}

#[async_trait::async_trait]
impl LeaderElector for Gate {
    async fn acquire(&self, _: &str) -> Lease {
        *self.campaigns.lock() += 1;
        self.grant.notified().await;
        let lose = self.lose.clone();
        Lease {
            lost: Box::pin(async move { lose.notified().await }),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn runs_only_while_leading() {
    let s = Arc::new(Scripted::default());
    s.put("a", 1);
    let (stop, shutdown) = watch::channel(false);
    let calls: Calls = Default::default();
    let c = calls.clone();
    let (grant, lose) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let campaigns = Arc::new(Mutex::new(0));
    let gate = Gate {
        grant: grant.clone(),
        lose: lose.clone(),
        campaigns: campaigns.clone(),
    };
    let task = tokio::spawn(
        Controller::new("test", shutdown)
            .watches(watch_all(&s))
            .leader_election(Arc::new(gate))
            .run(
                (),
                move |(), k: String| {
                    let c = c.clone();
                    async move {
                        c.lock().push((k, Instant::now()));
                        Ok::<_, Failed>(Action::requeue(10 * MS))
                    }
                },
                |_, _, _| Action::await_change(),
            ),
    );
    until(|| *campaigns.lock() == 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(calls.lock().is_empty(), "nothing runs before leading");
    grant.notify_one();
    until(|| keys_of(&calls, "a").len() >= 3).await;
    lose.notify_one();
    until(|| *campaigns.lock() == 2).await;
    let n = calls.lock().len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        calls.lock().len(),
        n,
        "nothing runs after leadership is lost"
    );
    // Leading again lists afresh.
    grant.notify_one();
    until(|| calls.lock().len() > n).await;
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// A reflector following `g/` of `s` into `sink` (backoff 10ms..100ms).
fn reflect(s: &Arc<Scripted>, sink: &Arc<Recorded>) -> Reflector {
    let storage: Arc<dyn Storage> = s.clone();
    Reflector::spawn(
        "test",
        storage,
        vec![Bytes::from_static(b"g/")],
        sink.clone(),
        Backoff::new(10 * MS, 100 * MS),
    )
}

/// What a reflector handed its sink.
#[derive(Default)]
struct Recorded {
    keys: Mutex<Vec<Bytes>>,
    resets: Mutex<usize>,
}

impl Sink for Recorded {
    fn apply(&self, change: &Change) {
        assert!(!change.key.ends_with(b"/poison"), "a sink bug");
        self.keys.lock().push(change.key.clone());
    }
    fn reset(&self, _: &[u8]) {
        *self.resets.lock() += 1;
    }
}

#[tokio::test(start_paused = true)]
async fn a_reflector_applies_waits_resumes_and_resets() {
    let s = Arc::new(Scripted::default());
    *s.revision.lock() = 10;
    let first = s.next_stream();
    s.watches.lock().push_back(Script::Expired);
    let after_reset = s.next_stream();
    let sink = Arc::new(Recorded::default());
    let r = reflect(&s, &sink);
    // Nothing committed since it started: synced at once.
    assert!(r.synced(Duration::ZERO).await);
    // A write commits at 12; until the watch delivers it, not synced.
    *s.revision.lock() = 12;
    let start = Instant::now();
    assert!(!r.synced(5 * MS).await);
    assert_eq!(start.elapsed(), 5 * MS, "waits the whole timeout");
    first.send(event("g/r/c1/ns/a", 11)).unwrap();
    assert!(!r.synced(5 * MS).await, "11 is not 12");
    first.send(Ok(WatchItem::Progress(12))).unwrap();
    assert!(r.synced(Duration::from_secs(1)).await);
    assert_eq!(
        sink.keys.lock().as_slice(),
        [Bytes::from_static(b"g/r/c1/ns/a")]
    );
    // The stream breaks; its resume point (12) has expired: the sink is
    // reset and the watch starts over at the current revision.
    first.send(Err(Error::WatcherTooSlow)).unwrap();
    *s.revision.lock() = 20;
    until(|| *sink.resets.lock() == 1).await;
    until(|| s.watch_calls.lock().len() == 3).await;
    assert_eq!(s.watch_calls.lock().as_slice(), [10, 12, 20]);
    assert!(r.synced(Duration::ZERO).await);
    after_reset.send(event("g/r/c2//b", 21)).unwrap();
    *s.revision.lock() = 21;
    assert!(r.synced(Duration::from_secs(1)).await);
    assert_eq!(sink.keys.lock().len(), 2);
    // Dropped: its task stops, later changes reach nobody.
    drop(r);
    tokio::task::yield_now().await;
    let _ = after_reset.send(event("g/r/c2//c", 22));
    tokio::time::sleep(10 * MS).await;
    assert_eq!(sink.keys.lock().len(), 2);
    assert!(
        after_reset.is_closed(),
        "the aborted task dropped its stream"
    );
}

/// A sink that panics, and a watch that cannot be reopened, both end in
/// starting over from the current revision; the prefix is not synced
/// until that is done.
#[tokio::test(start_paused = true)]
async fn a_reflector_starts_over_after_a_panic_or_repeated_failures() {
    let s = Arc::new(Scripted::default());
    *s.revision.lock() = 10;
    let first = s.next_stream();
    let second = s.next_stream();
    // The second stream ending is one fruitless attempt; these make
    // RESET_AFTER in a row.
    for _ in 1..RESET_AFTER {
        s.watches.lock().push_back(Script::Fail);
    }
    let sink = Arc::new(Recorded::default());
    let r = reflect(&s, &sink);
    tokio::task::yield_now().await;
    *s.revision.lock() = 11;
    first.send(event("g/r/c1/ns/poison", 11)).unwrap();
    until(|| *sink.resets.lock() == 1).await;
    assert!(r.synced(Duration::from_secs(1)).await);
    assert!(
        sink.keys.lock().is_empty(),
        "the poisoned change was not applied"
    );
    assert_eq!(
        s.watch_calls.lock().as_slice(),
        [10, 11],
        "started over at 11"
    );
    drop(second);
    *s.revision.lock() = 30;
    assert!(!r.synced(5 * MS).await, "30 is not applied yet");
    until(|| *sink.resets.lock() == 2).await;
    until(|| s.watch_calls.lock().last() == Some(&30)).await;
    assert_eq!(
        s.watch_calls.lock().as_slice(),
        [10, 11, 11, 11, 11, 11, 30]
    );
    assert!(r.synced(Duration::ZERO).await);
}

/// While a listing reflector refills its sink after an expiry (here its
/// relist fails twice first), the prefix is not synced, even though no
/// new change was committed; then it is.
#[tokio::test(start_paused = true)]
async fn a_reflector_being_refilled_is_not_synced() {
    let s = Arc::new(Scripted::default());
    s.put("g/r/c1/ns/a", 10);
    let sink = Arc::new(Recorded::default());
    let storage: Arc<dyn Storage> = s.clone();
    s.watches.lock().push_back(Script::Expired);
    let r = Reflector::start(
        "test",
        storage,
        vec![Bytes::from_static(b"g/")],
        sink.clone(),
        Backoff::new(10 * MS, 100 * MS),
    )
    .await
    .unwrap();
    assert_eq!(sink.keys.lock().len(), 1, "listed before start returns");
    *s.failing_lists.lock() = 2;
    until(|| *sink.resets.lock() == 1).await;
    assert!(!r.synced(5 * MS).await, "refilling");
    until(|| *s.list_calls.lock() == 4).await;
    assert!(r.synced(Duration::from_secs(1)).await);
    assert_eq!(sink.keys.lock().len(), 2, "listed again");
}
