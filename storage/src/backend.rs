//! The engine-agnostic storage interface.
//!
//! Everything above the storage crate talks to `dyn Storage`, so a second
//! engine (etcd, another embedded store) plugs in without touching callers.
//! The contract every backend must honour is spelled out here and checked by
//! the conformance suite in [`crate::testing`].

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;

use crate::{Event, Preconditions, Record, Result, Value};

/// What a watch delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// A committed event under the watched prefix.
    Event(Arc<Event>),
    /// Every event under the prefix up to this revision has been delivered;
    /// sent periodically even when nothing under the prefix changes, so a
    /// consumer can report a fresh resume point (Kubernetes bookmarks).
    Progress(u64),
}

/// A stream of committed events, in revision order, without gaps or
/// duplicates, interleaved with progress notifications. It ends with
/// `Err(Error::WatcherTooSlow)` if the consumer fell too far behind, and ends
/// without error when the store shuts down.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<WatchItem>> + Send>>;

/// Which revision a list reads at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadAt {
    /// The newest committed state.
    #[default]
    Latest,
    /// Exactly this past (or current) revision; `Expired` if it is older than
    /// the retained history, `FutureRevision` if it is not written yet.
    Revision(u64),
}

/// A prefix scan, paginated by key.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only keys starting with this prefix.
    pub prefix: Bytes,
    /// Resume strictly after this key (the last key of the previous page).
    pub start_after: Option<Bytes>,
    /// At most this many records; `None` for all.
    pub limit: Option<usize>,
    pub at: ReadAt,
}

impl ListOptions {
    /// Every record under `prefix`, read `at`, in one page.
    pub fn all(prefix: Bytes, at: ReadAt) -> Self {
        ListOptions {
            prefix,
            start_after: None,
            limit: None,
            at,
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct ListResult {
    pub items: Vec<Record>,
    /// The revision the page was read at. Continue with
    /// `ReadAt::Revision(revision)` and `start_after = last key` to get a
    /// consistent next page.
    pub revision: u64,
    /// More records follow under the prefix.
    pub more: bool,
}

/// Store-wide counters (for metrics and tests that count what is left).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub revision: u64,
    /// The oldest revision a watch or list may start from.
    pub compacted_revision: u64,
    pub objects: u64,
    pub object_bytes: u64,
    pub history_events: u64,
}

/// A durable, revisioned key-value store with watch.
///
/// * One global revision counter: every committed write gets the next value,
///   and the write and its event are atomic.
/// * A write returns only once it is durable.
/// * Values are opaque bytes; see [`Value`] for how the revision gets into them.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The current value of `key`.
    async fn get(&self, key: &[u8]) -> Result<Option<Record>>;

    /// Keys under a prefix in key order, at the latest or a past revision.
    async fn list(&self, opts: ListOptions) -> Result<ListResult>;

    /// Creates `key`; `AlreadyExists` if it is present.
    async fn create(&self, key: Bytes, value: Value, uid: Option<Arc<str>>) -> Result<Record>;

    /// Replaces `key`'s value. With `expected_revision`, only if the key is
    /// still at that revision (`Conflict` otherwise). `NotFound` if missing.
    async fn update(
        &self,
        key: Bytes,
        value: Value,
        expected_revision: Option<u64>,
    ) -> Result<Record>;

    /// Deletes `key` if the preconditions hold; returns the final state
    /// stamped with the deletion revision.
    async fn delete(&self, key: Bytes, preconditions: Preconditions) -> Result<Record>;

    /// Every event under `prefix` with a revision greater than
    /// `after_revision`, then live events. `Expired` if that history is gone.
    async fn watch(&self, prefix: Bytes, after_revision: u64) -> Result<EventStream>;

    /// For a cache the server keeps: from now on the store keeps track of
    /// the newest change under `prefix`, which
    /// [`last_change`](Self::last_change) reports. Meant for a handful of
    /// prefixes (tracking costs every commit a prefix comparison each);
    /// idempotent. A backend that cannot track does nothing.
    fn track(&self, prefix: &Bytes) {
        let _ = prefix;
    }

    /// A revision a watch of `prefix` must have delivered (as an event or a
    /// progress notification) to include every change under `prefix`
    /// committed before this call: read-your-writes for caches. Exact for
    /// [tracked](Self::track) prefixes of a backend that tracks them; the
    /// current revision otherwise, which is always enough but may mean
    /// waiting for a progress notification.
    fn last_change(&self, prefix: &[u8]) -> u64 {
        let _ = prefix;
        self.current_revision()
    }

    /// The newest committed revision.
    fn current_revision(&self) -> u64;

    /// Counters describing the store.
    fn stats(&self) -> Stats;

    /// Finishes in-flight writes, closes watches and makes everything
    /// durable. Later calls fail with `Closed`.
    async fn close(&self) -> Result<()>;
}
