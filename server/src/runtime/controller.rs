//! The controller: declared watches feed a work queue whose keys are
//! reconciled, concurrently across keys and never concurrently for one.
//!
//! ```text
//! watches ──map──▶ keys ──▶ Queue ──▶ reconcile(ctx, key) ──▶ Action
//!                             ▲                 │ Err(e)
//!                             └── requeue ◀── error_policy(key, e, failures)
//! ```
//!
//! The shape is kube-runtime's `Controller`: a reconcile is a function of
//! a key that reads the current state itself (level-triggered: it does not
//! care which event woke it) and returns an [`Action`]; failures go through
//! an `error_policy` that returns the action instead.
//!
//! Lifecycle: the controller first waits for leadership
//! ([`LeaderElector`]); while it leads, one task per watch feeds keys
//! (see [`super::watcher`]) and the loop below starts reconciles. On
//! shutdown or lost leadership it stops its watches, starts nothing new
//! and waits for the reconciles in flight to finish (a half-done write
//! sequence is never cut off by the controller itself), then returns or
//! campaigns again.

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::action::Action;
use super::backoff::Backoff;
use super::leader::{AlwaysLeader, LeaderElector};
use super::queue::Queue;
use super::watcher::{Pace, Watch};

/// Keys in flight from the watches to the queue; a full buffer slows the
/// watches (storage then ends a watch that falls too far behind, and the
/// watcher resumes it).
const TRIGGER_BUFFER: usize = 1024;

/// A controller being declared; [`run`](Controller::run) starts it.
pub struct Controller<K> {
    name: &'static str,
    watches: Vec<Watch<K>>,
    concurrency: usize,
    backoff: Backoff,
    watch_backoff: Backoff,
    resync: Option<Duration>,
    elector: Arc<dyn LeaderElector>,
    shutdown: watch::Receiver<bool>,
}

/// Why a leadership term ended.
enum Ended {
    Shutdown,
    LostLease,
}

/// Aborts the watch tasks however the term ends.
struct Watchers(Vec<JoinHandle<()>>);

impl Drop for Watchers {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

impl<K> Controller<K>
where
    K: Clone + Eq + Hash + Debug + Send + Sync + 'static,
{
    /// A controller named `name` (for logs and leader election) that stops
    /// when `shutdown` turns true (or its sender is dropped).
    pub fn new(name: &'static str, shutdown: watch::Receiver<bool>) -> Self {
        Controller {
            name,
            watches: Vec::new(),
            concurrency: 16,
            backoff: Backoff::default(),
            watch_backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(5)),
            resync: None,
            elector: Arc::new(AlwaysLeader),
            shutdown,
        }
    }

    /// Adds a watch whose changes map to keys.
    pub fn watches(mut self, w: Watch<K>) -> Self {
        self.watches.push(w);
        self
    }

    /// How many different keys may reconcile at once (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The per-key backoff behind [`Action::backoff`].
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// The backoff between failed attempts to list or watch.
    pub fn watch_backoff(mut self, b: Backoff) -> Self {
        self.watch_backoff = b;
        self
    }

    /// Relists every watched prefix each `period` (off by default).
    pub fn resync(mut self, period: Duration) -> Self {
        self.resync = Some(period);
        self
    }

    /// Runs only while `elector` says this replica leads.
    pub fn leader_election(mut self, elector: Arc<dyn LeaderElector>) -> Self {
        self.elector = elector;
        self
    }

    /// Runs until shutdown. `reconcile(ctx, key)` brings one key's world in
    /// line; `error_policy(key, error, failures)` (failures: consecutive,
    /// this one included) says when a failed key runs again.
    pub async fn run<C, E, R, Fut, P>(self, ctx: C, reconcile: R, error_policy: P)
    where
        C: Clone + Send + Sync + 'static,
        E: Send + 'static,
        R: Fn(C, K) -> Fut + Send + Sync,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(&K, &E, u32) -> Action + Send + Sync,
    {
        let mut shutdown = self.shutdown.clone();
        loop {
            let lease = tokio::select! {
                l = self.elector.acquire(self.name) => l,
                _ = stopped(&mut shutdown) => return,
            };
            tracing::debug!(controller = self.name, "leading");
            match self
                .lead(&ctx, &reconcile, &error_policy, lease.lost, &mut shutdown)
                .await
            {
                Ended::Shutdown => return,
                Ended::LostLease => {
                    tracing::info!(controller = self.name, "lost leadership; stopped");
                }
            }
        }
    }

    async fn lead<C, E, R, Fut, P>(
        &self,
        ctx: &C,
        reconcile: &R,
        error_policy: &P,
        mut lost: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended
    where
        C: Clone + Send + Sync + 'static,
        E: Send + 'static,
        R: Fn(C, K) -> Fut + Send + Sync,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(&K, &E, u32) -> Action + Send + Sync,
    {
        let (tx, mut rx) = mpsc::channel(TRIGGER_BUFFER);
        let pace = Pace {
            backoff: self.watch_backoff,
            resync: self.resync,
        };
        let watchers = Watchers(
            self.watches
                .iter()
                .map(|w| tokio::spawn(w.clone().run(tx.clone(), pace, self.name)))
                .collect(),
        );
        drop(tx);
        let mut q: Queue<K> = Queue::new(self.concurrency, self.backoff);
        let mut inflight = FuturesUnordered::new();
        let ended = loop {
            while let Some(k) = q.start_next() {
                let run = reconcile(ctx.clone(), k.clone());
                inflight.push(async move { (k, run.await) });
            }
            let due = q.next_due();
            tokio::select! {
                _ = stopped(shutdown) => break Ended::Shutdown,
                _ = &mut lost => break Ended::LostLease,
                Some(k) = rx.recv() => {
                    q.push(k);
                    // Take what else is already there before starting work,
                    // so a burst of changes to one key runs it once.
                    while let Ok(k) = rx.try_recv() {
                        q.push(k);
                    }
                }
                Some((k, res)) = inflight.next(), if !inflight.is_empty() => {
                    let action = match res {
                        Ok(a) => {
                            q.forget(&k);
                            a
                        }
                        Err(e) => {
                            let failures = q.record_failure(&k);
                            error_policy(&k, &e, failures)
                        }
                    };
                    q.finish(k, action, Instant::now());
                }
                _ = sleep_until(due), if due.is_some() => q.promote_due(Instant::now()),
            }
        };
        drop(watchers);
        // Drain: what runs finishes; nothing new starts.
        while inflight.next().await.is_some() {}
        ended
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Completes once shutdown is requested (or can no longer be signalled).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
