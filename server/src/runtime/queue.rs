//! The work queue: which key runs next, and when a key runs again.
//!
//! Invariants (client-go's workqueue plus kube-runtime's scheduler):
//!
//! - **Dedup**: a key is at most once in the queue. Asking again for a key
//!   that is already waiting does nothing; asking for a key that is
//!   scheduled for later makes it run now instead.
//! - **One run per key**: a key never runs twice at once. A key asked for
//!   while it runs is marked dirty and runs once more right after, so the
//!   change that arrived mid-run is seen.
//! - **Bounded concurrency**: at most `concurrency` keys run at once
//!   (concurrent writes share storage flushes, so this is what makes
//!   reconciling thousands of objects a second possible, and the bound
//!   keeps a burst from starting unbounded work).
//! - **Per-key backoff**: each key counts its consecutive failures; a
//!   success forgets them.
//! - **Earliest wins**: a key scheduled twice for later keeps the earlier
//!   time.
//!
//! The queue is plain data with the clock passed in, so its rules are
//! tested without time passing.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

use super::action::{Action, Next};
use super::backoff::Backoff;

pub struct Queue<K> {
    concurrency: usize,
    backoff: Backoff,
    ready: VecDeque<K>,
    queued: HashSet<K>,
    running: HashSet<K>,
    dirty: HashSet<K>,
    /// (due, tie-breaker) → key, and its inverse.
    delayed: BTreeMap<(Instant, u64), K>,
    scheduled: HashMap<K, (Instant, u64)>,
    seq: u64,
    failures: HashMap<K, u32>,
}

impl<K: Clone + Eq + Hash> Queue<K> {
    pub fn new(concurrency: usize, backoff: Backoff) -> Self {
        Queue {
            concurrency: concurrency.max(1),
            backoff,
            ready: VecDeque::new(),
            queued: HashSet::new(),
            running: HashSet::new(),
            dirty: HashSet::new(),
            delayed: BTreeMap::new(),
            scheduled: HashMap::new(),
            seq: 0,
            failures: HashMap::new(),
        }
    }

    /// Asks for `k` to be reconciled now.
    pub fn push(&mut self, k: K) {
        if let Some(at) = self.scheduled.remove(&k) {
            self.delayed.remove(&at);
        }
        if self.running.contains(&k) {
            self.dirty.insert(k);
        } else if self.queued.insert(k.clone()) {
            self.ready.push_back(k);
        }
    }

    /// Asks for `k` to be reconciled at `at`, unless it runs sooner anyway.
    fn schedule(&mut self, k: K, at: Instant) {
        if self.queued.contains(&k) || self.dirty.contains(&k) {
            return;
        }
        if let Some(&(cur, _)) = self.scheduled.get(&k) {
            if cur <= at {
                return;
            }
            let old = self.scheduled.remove(&k).expect("just read");
            self.delayed.remove(&old);
        }
        self.seq += 1;
        let slot = (at, self.seq);
        self.delayed.insert(slot, k.clone());
        self.scheduled.insert(k, slot);
    }

    /// The next key to run, if the bound allows one more; it counts as
    /// running until [`finish`](Self::finish).
    pub fn start_next(&mut self) -> Option<K> {
        if self.running.len() >= self.concurrency {
            return None;
        }
        let k = self.ready.pop_front()?;
        self.queued.remove(&k);
        self.running.insert(k.clone());
        Some(k)
    }

    /// Counts a failed run of `k`; returns its consecutive failures.
    pub fn record_failure(&mut self, k: &K) -> u32 {
        let n = self.failures.entry(k.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Forgets `k`'s failures (it succeeded).
    pub fn forget(&mut self, k: &K) {
        self.failures.remove(k);
    }

    /// The delay [`Action::backoff`] means for `k` now.
    pub fn backoff_delay(&self, k: &K) -> Duration {
        self.backoff
            .delay(self.failures.get(k).copied().unwrap_or(0))
    }

    /// Records the end of a run of `k` and what it asked for.
    pub fn finish(&mut self, k: K, action: Action, now: Instant) {
        self.running.remove(&k);
        if self.dirty.remove(&k) {
            self.push(k);
            return;
        }
        let delay = match action.0 {
            Next::AwaitChange => return,
            Next::After(d) => d,
            Next::Backoff => self.backoff_delay(&k),
        };
        self.schedule(k, now + delay);
    }

    /// When the earliest scheduled key is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.delayed.keys().next().map(|(at, _)| *at)
    }

    /// Makes every key due at `now` ready.
    pub fn promote_due(&mut self, now: Instant) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let k = entry.remove();
            self.scheduled.remove(&k);
            self.push(k);
        }
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Keys waiting to run now.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// Keys scheduled for later.
    pub fn scheduled(&self) -> usize {
        self.delayed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn queue(concurrency: usize) -> Queue<&'static str> {
        Queue::new(concurrency, Backoff::new(10 * MS, 80 * MS))
    }

    #[test]
    fn a_key_runs_once_at_a_time_and_again_when_dirty() {
        let now = Instant::now();
        let mut q = queue(1);
        q.push("a");
        q.push("b");
        q.push("a");
        assert_eq!(q.ready(), 2, "a waiting key is not queued twice");
        assert_eq!(q.start_next(), Some("a"));
        // Bound reached.
        assert_eq!(q.start_next(), None);
        // Asked for while running: runs again after, once.
        q.push("a");
        q.push("a");
        q.finish("a", Action::await_change(), now);
        assert_eq!(q.start_next(), Some("b"));
        q.finish("b", Action::await_change(), now);
        assert_eq!(q.start_next(), Some("a"));
        q.finish("a", Action::await_change(), now);
        assert_eq!(q.start_next(), None);
        assert_eq!(q.scheduled(), 0);
    }

    #[test]
    fn different_keys_run_concurrently_up_to_the_bound() {
        let mut q = queue(2);
        for k in ["a", "b", "c"] {
            q.push(k);
        }
        assert_eq!(q.start_next(), Some("a"));
        assert_eq!(q.start_next(), Some("b"));
        assert_eq!(q.start_next(), None);
        assert_eq!(q.running(), 2);
    }

    #[test]
    fn requeue_waits_and_an_event_cuts_the_wait_short() {
        let now = Instant::now();
        let mut q = queue(4);
        q.push("a");
        q.start_next();
        q.finish("a", Action::requeue(50 * MS), now);
        assert_eq!(q.next_due(), Some(now + 50 * MS));
        q.promote_due(now + 49 * MS);
        assert_eq!(q.start_next(), None);
        q.promote_due(now + 50 * MS);
        assert_eq!(q.start_next(), Some("a"));
        q.finish("a", Action::requeue(50 * MS), now);
        // A watch event: runs now, and the schedule is gone.
        q.push("a");
        assert_eq!(q.scheduled(), 0);
        assert_eq!(q.start_next(), Some("a"));
    }

    #[test]
    fn the_earlier_schedule_wins() {
        let now = Instant::now();
        let mut q = queue(4);
        q.push("a");
        q.start_next();
        q.finish("a", Action::requeue(10 * MS), now);
        // Cannot run it while scheduled without a push; simulate a second
        // run finishing with a later wish through the internal rule.
        q.schedule("a", now + 100 * MS);
        assert_eq!(q.next_due(), Some(now + 10 * MS));
        q.schedule("a", now + 5 * MS);
        assert_eq!(q.next_due(), Some(now + 5 * MS));
        assert_eq!(q.scheduled(), 1);
    }

    #[test]
    fn backoff_grows_per_key_and_resets_on_success() {
        let now = Instant::now();
        let mut q = queue(4);
        let mut delays = Vec::new();
        for _ in 0..5 {
            q.push("a");
            assert_eq!(q.start_next(), Some("a"));
            q.record_failure(&"a");
            q.finish("a", Action::backoff(), now);
            delays.push(q.next_due().unwrap() - now);
        }
        assert_eq!(delays, [10 * MS, 20 * MS, 40 * MS, 80 * MS, 80 * MS]);
        // Another key's failures are its own.
        q.push("b");
        q.start_next();
        q.record_failure(&"b");
        assert_eq!(q.backoff_delay(&"b"), 10 * MS);
        // Success forgets.
        q.push("a");
        q.start_next();
        q.forget(&"a");
        q.finish("a", Action::await_change(), now);
        q.push("a");
        q.start_next();
        q.record_failure(&"a");
        q.finish("a", Action::backoff(), now);
        assert_eq!(q.backoff_delay(&"a"), 10 * MS);
    }
}
