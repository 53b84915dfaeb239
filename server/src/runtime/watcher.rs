//! Watches: list a storage prefix, then follow its changes for good.
//!
//! One task per declared watch turns storage records into keys (through
//! the watch's mapper) and hands them to the controller. Like kube-runtime's
//! watcher it survives what breaks a watch:
//!
//! - **Start**: every record under the prefix is listed at the start
//!   revision and mapped as [`ChangeKind::Listed`]; the watch then follows
//!   from exactly that revision, so nothing falls between list and watch.
//! - **Resume**: a watch that ends (the consumer fell behind, the stream
//!   broke) is re-opened after the last revision it delivered (events or
//!   progress notifications); storage delivers every event once and in
//!   order, so nothing is missed and nothing needs relisting.
//! - **Relist**: a resume point older than the retained history (storage's
//!   `Expired`, HTTP's 410 Gone) means changes were lost; the prefix is
//!   listed again at the current revision and every record mapped as
//!   `Listed`, which is enough for level-triggered reconciles.
//! - **Backoff**: failures to list or watch wait [`Backoff`] before the
//!   next attempt; delivering an item resets it.
//! - **Resync** (optional): every period the prefix is listed again and
//!   mapped as `Listed`, a safety net for state that drifts without events.
//!
//! The task only stops when the controller aborts it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;
use trellis_storage::keys::{self, KeyParts};
use trellis_storage::{EventKind, ListOptions, ReadAt, Storage, WatchItem};

use super::backoff::Backoff;

/// How a record reached the mapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// From a (re)list or a resync: it exists now; what changed is unknown.
    Listed,
    Added,
    Modified,
    Deleted,
}

/// A record under a watched prefix.
#[derive(Clone, Debug)]
pub struct Change {
    pub kind: ChangeKind,
    pub key: Bytes,
    /// The stored object (for `Deleted`, its last state).
    pub value: Bytes,
}

impl Change {
    /// The storage key's parts (cluster, namespace, name).
    pub fn parts(&self) -> Option<KeyParts<'_>> {
        keys::parse(&self.key)
    }

    /// The stored object as JSON.
    pub fn object(&self) -> Option<Value> {
        serde_json::from_slice(&self.value).ok()
    }
}

/// Maps a change to the keys it asks to reconcile.
pub type Mapper<K> = Arc<dyn Fn(Change) -> BoxFuture<'static, Vec<K>> + Send + Sync>;

/// A declared watch: a storage prefix and how its changes map to keys.
pub struct Watch<K> {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) prefix: Bytes,
    pub(crate) from: Option<u64>,
    pub(crate) map: Mapper<K>,
    /// Called before a (re)list starts and once every record of it has
    /// been mapped.
    pub(crate) on_list: Option<(Hook, Hook)>,
}

/// A callback around a (re)list.
type Hook = Arc<dyn Fn() + Send + Sync>;

/// Records read per page when listing: a watch over a large prefix never
/// holds more than one page of it in memory.
const LIST_PAGE: usize = 500;

impl<K> Clone for Watch<K> {
    fn clone(&self) -> Self {
        Watch {
            storage: self.storage.clone(),
            prefix: self.prefix.clone(),
            from: self.from,
            map: self.map.clone(),
            on_list: self.on_list.clone(),
        }
    }
}

impl<K: Send + 'static> Watch<K> {
    /// Watches `prefix`, mapping each change with `map`.
    pub fn new(
        storage: Arc<dyn Storage>,
        prefix: Bytes,
        map: impl Fn(Change) -> Vec<K> + Send + Sync + 'static,
    ) -> Self {
        let map = Arc::new(map);
        Watch {
            storage,
            prefix,
            from: None,
            map: Arc::new(move |c| {
                let keys = map(c);
                Box::pin(async move { keys })
            }),
            on_list: None,
        }
    }

    /// Watches `prefix` with a mapper that reads (e.g. finds the objects
    /// that depend on the changed one).
    pub fn new_async(storage: Arc<dyn Storage>, prefix: Bytes, map: Mapper<K>) -> Self {
        Watch {
            storage,
            prefix,
            from: None,
            map,
            on_list: None,
        }
    }

    /// Calls `start` before each (re)list and `done` once it has been
    /// mapped completely: a watch-fed index drops what it had (deletes
    /// missed while away) and knows when it has seen everything again.
    pub fn on_list(
        mut self,
        start: impl Fn() + Send + Sync + 'static,
        done: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        self.on_list = Some((Arc::new(start), Arc::new(done)));
        self
    }

    /// Lists at `revision` (and watches after it) instead of the current
    /// revision: a controller whose state was loaded at `revision` before
    /// the server listened sees every change since.
    pub fn from(mut self, revision: u64) -> Self {
        self.from = Some(revision);
        self
    }
}

/// How the watch task paces itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    pub backoff: Backoff,
    pub resync: Option<Duration>,
}

/// What the task does next.
enum Step {
    /// List at this revision (`None`: the current one), then watch.
    List(Option<u64>),
    /// Watch after this revision.
    Watch(u64),
}

impl<K: Send + 'static> Watch<K> {
    /// Runs until aborted (or the controller stops listening).
    pub(crate) async fn run(self, tx: mpsc::Sender<K>, pace: Pace, controller: &'static str) {
        let mut failures = 0u32;
        let mut step = Step::List(self.from);
        loop {
            step = match step {
                Step::List(at) => {
                    let rev = at.unwrap_or_else(|| self.storage.current_revision());
                    if let Some((start, _)) = &self.on_list {
                        start();
                    }
                    match self.list(ReadAt::Revision(rev), &tx).await {
                        Ok(false) => return,
                        Ok(true) => {
                            if let Some((_, done)) = &self.on_list {
                                done();
                            }
                            Step::Watch(rev)
                        }
                        Err(trellis_storage::Error::Expired { .. }) if at.is_some() => {
                            // The start revision is gone: list what is now.
                            Step::List(None)
                        }
                        Err(e) => {
                            failures += 1;
                            let wait = pace.backoff.delay(failures);
                            tracing::warn!(controller, error = %e, ?wait, "listing for a watch failed");
                            tokio::time::sleep(wait).await;
                            Step::List(at)
                        }
                    }
                }
                Step::Watch(after) => match self.storage.watch(self.prefix.clone(), after).await {
                    Ok(stream) => {
                        let (next, delivered) =
                            self.follow(stream, after, &tx, pace, controller).await;
                        let Some(next) = next else { return };
                        if delivered {
                            failures = 0;
                        }
                        failures += 1;
                        // Resume where the stream stopped, after a pause so a
                        // watch that breaks at once does not spin.
                        tokio::time::sleep(pace.backoff.delay(failures)).await;
                        Step::Watch(next)
                    }
                    Err(trellis_storage::Error::Expired { requested, oldest }) => {
                        tracing::info!(
                            controller,
                            requested,
                            oldest,
                            "watch history expired; relisting"
                        );
                        Step::List(None)
                    }
                    Err(e) => {
                        failures += 1;
                        let wait = pace.backoff.delay(failures);
                        tracing::warn!(controller, error = %e, ?wait, "opening a watch failed");
                        tokio::time::sleep(wait).await;
                        Step::Watch(after)
                    }
                },
            };
        }
    }

    /// Follows one open stream until it ends; the revision to resume after
    /// (`None`: the controller is gone) and whether anything came.
    async fn follow(
        &self,
        mut stream: trellis_storage::EventStream,
        mut after: u64,
        tx: &mpsc::Sender<K>,
        pace: Pace,
        controller: &'static str,
    ) -> (Option<u64>, bool) {
        let mut delivered = false;
        let mut resync = pace.resync.map(|p| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let tick = async {
                match resync.as_mut() {
                    Some(t) => t.tick().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(WatchItem::Event(e))) => {
                        delivered = true;
                        after = after.max(e.revision);
                        let kind = match e.kind {
                            EventKind::Added => ChangeKind::Added,
                            EventKind::Modified => ChangeKind::Modified,
                            EventKind::Deleted => ChangeKind::Deleted,
                        };
                        if !self.send(tx, kind, e.key.clone(), e.value.clone()).await {
                            return (None, delivered);
                        }
                    }
                    Some(Ok(WatchItem::Progress(r))) => {
                        delivered = true;
                        after = after.max(r);
                    }
                    Some(Err(e)) => {
                        tracing::info!(controller, error = %e, after, "watch broke; resuming");
                        return (Some(after), delivered);
                    }
                    None => return (Some(after), delivered),
                },
                _ = tick => {
                    // Listed at the newest revision while the stream keeps
                    // its place: reconciles are level-triggered, so a key
                    // seen twice costs one no-op pass.
                    if let Ok(false) = self.list(ReadAt::Latest, tx).await {
                        return (None, delivered);
                    }
                }
            }
        }
    }

    /// Lists the prefix `at` a revision, page by page, mapping every
    /// record as `Listed`; `Ok(false)` once the controller stopped
    /// listening.
    async fn list(&self, at: ReadAt, tx: &mpsc::Sender<K>) -> trellis_storage::Result<bool> {
        let mut opts = ListOptions {
            prefix: self.prefix.clone(),
            start_after: None,
            limit: Some(LIST_PAGE),
            at,
        };
        loop {
            let page = self.storage.list(opts.clone()).await?;
            let last = page.items.last().map(|r| r.key.clone());
            for r in page.items {
                if !self.send(tx, ChangeKind::Listed, r.key, r.value).await {
                    return Ok(false);
                }
            }
            match last {
                Some(last) if page.more => {
                    // Later pages as they are now, not at the first page's
                    // revision: reading the past would replay every write
                    // since from the history. The watch resumes after the
                    // first page's revision and replays what changed, and
                    // reconciles are level-triggered, so nothing is lost.
                    opts.at = ReadAt::Latest;
                    opts.start_after = Some(last);
                }
                _ => return Ok(true),
            }
        }
    }

    /// Maps one change and hands its keys over; `false` once the
    /// controller stopped listening.
    async fn send(&self, tx: &mpsc::Sender<K>, kind: ChangeKind, key: Bytes, value: Bytes) -> bool {
        for k in (self.map)(Change { kind, key, value }).await {
            if tx.send(k).await.is_err() {
                return false;
            }
        }
        true
    }
}
