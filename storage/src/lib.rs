//! Trellis' storage engine: a durable, revisioned object store with watch.
//!
//! The crate knows nothing of HTTP or Kubernetes objects: it stores opaque
//! bytes under structured keys ([`keys`]) and gives every write a revision
//! from one global, monotonically increasing counter.
//!
//! * [`Storage`] is the engine-agnostic interface the server uses; a second
//!   backend (etcd, another embedded store) implements it and runs the
//!   conformance suite in `testing` (feature `testing`).
//! * [`SledStorage`] is the embedded default: group-committed write-ahead
//!   log in segment files (`fdatasync` per group), background checkpoint
//!   into sled, in-memory copy-on-write snapshots for
//!   reads, a retained event history on disk (the log) with its newest part
//!   in a bounded in-memory ring, and watch fan-out. See `engine` for the
//!   on-disk layout and `hub` for watch delivery guarantees.
//!
//! Guarantees every backend gives:
//! * a write is acknowledged only once durable, atomically with its event;
//! * revisions are never reused, also across crashes and restarts;
//! * a watch from revision N delivers every later event under its prefix in
//!   order, exactly once, or fails with [`Error::Expired`]; a consumer that
//!   falls too far behind gets [`Error::WatcherTooSlow`] instead of
//!   unbounded buffering.

mod backend;
mod engine;
mod error;
mod event;
mod hub;
pub mod keys;
mod log;
mod record;
mod replay;
mod segments;
mod snapshot;
mod wal;

#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{EventStream, ListOptions, ListResult, ReadAt, Stats, Storage, WatchItem};
pub use engine::{CheckpointConfig, SledConfig, SledStorage};
pub use error::{Error, Result};
pub use event::{Event, EventKind, PrevValue};
pub use hub::HistoryConfig;
pub use log::SyncObserver;
pub use record::{Preconditions, Record, Value};
