//! The work queue controllers share: each key runs at most once at a
//! time, a key that changes while it runs runs again afterwards, and a key
//! whose run left work undone waits for the next retry tick.
//!
//! Keys run concurrently up to a bound: concurrent writes share storage
//! flushes (group commit), which is what makes reconciling thousands of
//! objects a second possible, and the bound keeps a burst from queueing
//! unbounded work.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::hash::Hash;

pub struct WorkQueue<K> {
    parallel: usize,
    waiting: VecDeque<K>,
    queued: HashSet<K>,
    running: HashSet<K>,
    dirty: HashSet<K>,
    retry_later: BTreeSet<K>,
}

impl<K: Clone + Eq + Hash + Ord> WorkQueue<K> {
    pub fn new(parallel: usize) -> Self {
        WorkQueue {
            parallel,
            waiting: VecDeque::new(),
            queued: HashSet::new(),
            running: HashSet::new(),
            dirty: HashSet::new(),
            retry_later: BTreeSet::new(),
        }
    }

    /// Asks for `k` to be reconciled (again).
    pub fn push(&mut self, k: K) {
        if self.running.contains(&k) {
            self.dirty.insert(k);
        } else if self.queued.insert(k.clone()) {
            self.waiting.push_back(k);
        }
    }

    /// The next key to run, if the bound allows one more; it counts as
    /// running until [`finished`](Self::finished).
    pub fn start_next(&mut self) -> Option<K> {
        if self.running.len() >= self.parallel {
            return None;
        }
        let k = self.waiting.pop_front()?;
        self.queued.remove(&k);
        self.running.insert(k.clone());
        Some(k)
    }

    /// Records the end of a run; `done` is false when work is left.
    pub fn finished(&mut self, k: K, done: bool) {
        self.running.remove(&k);
        if self.dirty.remove(&k) {
            self.push(k);
        } else if !done {
            self.retry_later.insert(k);
        }
    }

    pub fn has_retries(&self) -> bool {
        !self.retry_later.is_empty()
    }

    /// Queues every key waiting for a retry.
    pub fn retry(&mut self) {
        for k in std::mem::take(&mut self.retry_later) {
            self.push(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_runs_once_at_a_time_and_again_when_dirty() {
        let mut q = WorkQueue::new(1);
        q.push("a");
        q.push("b");
        q.push("a");
        assert_eq!(q.start_next(), Some("a"));
        // Bound reached.
        assert_eq!(q.start_next(), None);
        q.push("a");
        q.finished("a", true);
        assert_eq!(q.start_next(), Some("b"));
        q.finished("b", false);
        assert_eq!(q.start_next(), Some("a"));
        q.finished("a", true);
        assert_eq!(q.start_next(), None);
        assert!(q.has_retries());
        q.retry();
        assert_eq!(q.start_next(), Some("b"));
    }
}
