//! Caches fed by storage watches.
//!
//! A [`Reflector`] follows storage prefixes (across every logical cluster)
//! and hands each change to the cache that owns it ([`Sink`]). This is how
//! in-memory state stays right whoever wrote it — this server, a controller,
//! another replica on the same etcd: nothing updates a cache as a side
//! effect of its own write.
//!
//! - **Read-your-writes**: [`Reflector::synced`] waits until every change
//!   under the prefixes committed before the call has been applied
//!   (storage's [`last_change`](trellis_storage::Storage::last_change), the
//!   newest change under a tracked prefix), so a request that starts after
//!   a write was acknowledged sees it — what kube-apiserver's consistent
//!   reads from its watch cache give. Unrelated writes do not make it wait.
//!   If the watch cannot catch up in time (it broke and is resuming, or
//!   the sink is being refilled), `synced` says so and the caller decides:
//!   the RBAC cache reads storage itself, the path index answers as it is.
//! - **Resume**: a stream that ends or breaks is reopened after the last
//!   revision applied, after a [`Backoff`] pause; nothing is missed.
//! - **List**: a reflector made with [`Reflector::start`] first lists its
//!   prefixes at one revision and applies every record as
//!   [`ChangeKind::Listed`], then watches after that revision; one made with
//!   [`Reflector::spawn`] only watches (its sink fills itself from storage
//!   on demand, e.g. the RBAC policy cache).
//! - **Reset**: history that expired (410) means changes were lost, so the
//!   sink is told to drop what came from the prefix ([`Sink::reset`]), the
//!   prefix is listed again if the reflector lists, and the watch starts
//!   again at the current revision. Until that is done the prefix does not
//!   count as synced. The same happens after [`RESET_AFTER`] fruitless
//!   attempts in a row to follow the watch (it cannot resume, so it starts
//!   over) and after a sink panicked (what it holds may be half-applied).
//!
//! The watch tasks stop when the reflector is dropped or the store closes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Notify;
use trellis_storage::{EventKind, ListOptions, ReadAt, Storage, WatchItem};

use super::backoff::Backoff;
use super::watcher::{Change, ChangeKind};

/// The cache a reflector feeds.
pub trait Sink: Send + Sync + 'static {
    /// One committed change, in revision order per prefix.
    fn apply(&self, change: &Change);
    /// Changes under `prefix` were lost: forget what came from it.
    fn reset(&self, prefix: &[u8]);
}

/// Attempts in a row to follow a watch that delivered nothing (it failed
/// to open, or ended at once) after which it starts over from the current
/// revision.
pub const RESET_AFTER: u32 = 5;

/// How far one prefix's sink is.
#[derive(Default)]
struct Cursor {
    /// Every change up to here is applied...
    applied: AtomicU64,
    /// ...unless the sink is being reset and refilled.
    resetting: AtomicBool,
}

/// Follows prefixes into a [`Sink`]; see the module docs.
pub struct Reflector {
    storage: Arc<dyn Storage>,
    prefixes: Vec<(Bytes, Arc<Cursor>)>,
    moved: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Reflector {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Reflector {
    /// Starts following `prefixes` after the current revision: the sink
    /// holds nothing yet, or only what it read from storage before this
    /// call. Must be called inside a tokio runtime.
    pub fn spawn(
        name: &'static str,
        storage: Arc<dyn Storage>,
        prefixes: Vec<Bytes>,
        sink: Arc<dyn Sink>,
        backoff: Backoff,
    ) -> Reflector {
        let from = track(&*storage, &prefixes);
        Self::follow_from(name, storage, prefixes, sink, backoff, from, false)
    }

    /// Lists `prefixes` into the sink at the current revision, then
    /// follows them; the sink is complete when this returns.
    pub async fn start(
        name: &'static str,
        storage: Arc<dyn Storage>,
        prefixes: Vec<Bytes>,
        sink: Arc<dyn Sink>,
        backoff: Backoff,
    ) -> trellis_storage::Result<Reflector> {
        let from = track(&*storage, &prefixes);
        for prefix in &prefixes {
            list_into(&*storage, prefix, from, &*sink).await?;
        }
        Ok(Self::follow_from(
            name, storage, prefixes, sink, backoff, from, true,
        ))
    }

    fn follow_from(
        name: &'static str,
        storage: Arc<dyn Storage>,
        prefixes: Vec<Bytes>,
        sink: Arc<dyn Sink>,
        backoff: Backoff,
        from: u64,
        relist: bool,
    ) -> Reflector {
        let moved = Arc::new(Notify::new());
        let mut tracked = Vec::new();
        let mut tasks = Vec::new();
        for prefix in prefixes {
            let cursor = Arc::new(Cursor {
                applied: AtomicU64::new(from),
                resetting: AtomicBool::new(false),
            });
            tracked.push((prefix.clone(), cursor.clone()));
            let task = Task {
                name,
                storage: storage.clone(),
                prefix,
                cursor,
                moved: moved.clone(),
                sink: sink.clone(),
                backoff,
                relist,
            };
            tasks.push(tokio::spawn(task.run()));
        }
        Reflector {
            storage,
            prefixes: tracked,
            moved,
            tasks,
        }
    }

    /// Whether every change committed before now has been applied, waiting
    /// up to `timeout` for it; `false` means the caller must not trust the
    /// sink for this read.
    pub async fn synced(&self, timeout: Duration) -> bool {
        let at = |c: &Cursor, target: u64| {
            !c.resetting.load(Ordering::Acquire) && c.applied.load(Ordering::Acquire) >= target
        };
        // Every request asks: the usual answer costs no allocation.
        if self
            .prefixes
            .iter()
            .all(|(p, c)| at(c, self.storage.last_change(p)))
        {
            return true;
        }
        // Behind: wait for the changes committed before the call, not for
        // whatever is committed while waiting.
        let targets: Vec<u64> = self
            .prefixes
            .iter()
            .map(|(p, _)| self.storage.last_change(p))
            .collect();
        let caught_up = || {
            self.prefixes
                .iter()
                .zip(&targets)
                .all(|((_, c), target)| at(c, *target))
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if caught_up() {
                return true;
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return caught_up();
            }
        }
    }
}

/// Tracks `prefixes` in storage, then reads the revision to follow them
/// from: in that order, `last_change` never answers a revision the watch
/// could only reach through a progress notification.
fn track(storage: &dyn Storage, prefixes: &[Bytes]) -> u64 {
    for prefix in prefixes {
        storage.track(prefix);
    }
    storage.current_revision()
}

/// Every record under `prefix` at `revision`, applied as listed.
async fn list_into(
    storage: &dyn Storage,
    prefix: &Bytes,
    revision: u64,
    sink: &dyn Sink,
) -> trellis_storage::Result<()> {
    let page = storage
        .list(ListOptions::all(prefix.clone(), ReadAt::Revision(revision)))
        .await?;
    for r in page.items {
        sink.apply(&Change {
            kind: ChangeKind::Listed,
            key: r.key,
            value: r.value,
        });
    }
    Ok(())
}

/// The task behind one prefix: watch, apply, resume; until aborted or the
/// store closes.
struct Task {
    name: &'static str,
    storage: Arc<dyn Storage>,
    prefix: Bytes,
    cursor: Arc<Cursor>,
    moved: Arc<Notify>,
    sink: Arc<dyn Sink>,
    backoff: Backoff,
    /// List the prefix again after a reset.
    relist: bool,
}

/// Why a followed stream stopped.
enum Stopped {
    /// Resume after the last revision applied.
    Resume,
    /// Start over: what the sink holds cannot be trusted.
    StartOver,
}

impl Task {
    fn advance(&self, to: u64) {
        self.cursor.applied.fetch_max(to, Ordering::AcqRel);
        self.moved.notify_waiters();
    }

    async fn run(self) {
        let name = self.name;
        let mut after = self.cursor.applied.load(Ordering::Acquire);
        let mut failures = 0u32;
        let mut must_start_over = false;
        loop {
            if must_start_over {
                match self.start_over().await {
                    Ok(now) => {
                        after = now;
                        failures = 0;
                        must_start_over = false;
                    }
                    Err(e) => {
                        tracing::warn!(cache = name, error = %e, "refilling a cache failed");
                        failures += 1;
                        tokio::time::sleep(self.backoff.delay(failures)).await;
                    }
                }
                continue;
            }
            let stopped = match self.storage.watch(self.prefix.clone(), after).await {
                Ok(stream) => {
                    let (stopped, delivered) = self.follow(stream, &mut after).await;
                    if delivered {
                        failures = 0;
                    }
                    stopped
                }
                Err(trellis_storage::Error::Expired { requested, oldest }) => {
                    tracing::info!(
                        cache = name,
                        requested,
                        oldest,
                        "cache watch history expired; starting over"
                    );
                    Stopped::StartOver
                }
                Err(trellis_storage::Error::Closed) => return,
                Err(e) => {
                    tracing::warn!(cache = name, error = %e, failures, "opening a cache watch failed");
                    if failures + 1 >= RESET_AFTER {
                        Stopped::StartOver
                    } else {
                        Stopped::Resume
                    }
                }
            };
            if let Stopped::StartOver = stopped {
                must_start_over = true;
                continue;
            }
            failures += 1;
            tokio::time::sleep(self.backoff.delay(failures)).await;
        }
    }

    /// Applies one stream until it ends; why it stopped, and whether it
    /// delivered anything.
    async fn follow(
        &self,
        mut stream: trellis_storage::EventStream,
        after: &mut u64,
    ) -> (Stopped, bool) {
        let mut delivered = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(WatchItem::Event(e)) => {
                    let kind = match e.kind {
                        EventKind::Added => ChangeKind::Added,
                        EventKind::Modified => ChangeKind::Modified,
                        EventKind::Deleted => ChangeKind::Deleted,
                    };
                    let change = Change {
                        kind,
                        key: e.key.clone(),
                        value: e.value.clone(),
                    };
                    if std::panic::catch_unwind(AssertUnwindSafe(|| self.sink.apply(&change)))
                        .is_err()
                    {
                        tracing::error!(
                            cache = self.name,
                            revision = e.revision,
                            "a cache failed to apply a change; starting over"
                        );
                        return (Stopped::StartOver, delivered);
                    }
                    *after = (*after).max(e.revision);
                }
                Ok(WatchItem::Progress(r)) => *after = (*after).max(r),
                Err(e) => {
                    tracing::info!(cache = self.name, error = %e, after = *after, "cache watch broke; resuming");
                    return (Stopped::Resume, delivered);
                }
            }
            delivered = true;
            self.advance(*after);
        }
        (Stopped::Resume, delivered)
    }

    /// Drops what the sink holds of the prefix and refills it as of the
    /// current revision (which it returns); the prefix is not synced
    /// meanwhile.
    async fn start_over(&self) -> Result<u64, String> {
        self.cursor.resetting.store(true, Ordering::Release);
        let now = self.storage.current_revision();
        let refill = async {
            std::panic::catch_unwind(AssertUnwindSafe(|| self.sink.reset(&self.prefix)))
                .map_err(|_| "the cache panicked while resetting".to_string())?;
            if self.relist {
                let listed = futures::FutureExt::catch_unwind(AssertUnwindSafe(list_into(
                    &*self.storage,
                    &self.prefix,
                    now,
                    &*self.sink,
                )))
                .await
                .map_err(|_| "the cache panicked while relisting".to_string())?;
                listed.map_err(|e| e.to_string())?;
            }
            Ok(now)
        };
        let result = refill.await;
        if result.is_ok() {
            self.cursor.applied.fetch_max(now, Ordering::AcqRel);
            self.cursor.resetting.store(false, Ordering::Release);
            self.moved.notify_waiters();
        }
        result
    }
}
