//! The one error type of the storage crate.
//!
//! Variants describe *what* went wrong in storage terms; they carry no HTTP
//! codes. The server maps them to Kubernetes `Status` objects in one place.

/// Errors returned by a [`crate::Storage`] backend.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The key does not exist (get-for-update, update, delete).
    #[error("key not found")]
    NotFound,
    /// `create` found the key already present.
    #[error("key already exists")]
    AlreadyExists,
    /// A compare-and-swap or delete precondition on the revision failed.
    /// `current` is the revision the key has now.
    #[error("revision precondition failed: expected {expected}, current {current}")]
    Conflict { expected: u64, current: u64 },
    /// A delete precondition on the object's uid failed.
    #[error("uid precondition failed: expected {expected}, current {current}")]
    UidMismatch { expected: String, current: String },
    /// A read or watch asked for a revision older than the retained history.
    /// The server turns this into HTTP 410 / an in-stream `Expired` event.
    #[error("revision {requested} has been compacted (oldest available: {oldest})")]
    Expired { requested: u64, oldest: u64 },
    /// A read asked for a revision that has not been written yet.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision { requested: u64, current: u64 },
    /// A watcher fell further behind than its queue allows and was
    /// terminated so that it cannot hold memory without bound.
    #[error("watcher fell too far behind and was terminated")]
    WatcherTooSlow,
    /// The caller passed something the engine cannot store (bad key, bad
    /// revision slot, oversized value).
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// The store is shutting down or has been closed.
    #[error("storage is closed")]
    Closed,
    /// The underlying engine failed (I/O, corruption). The message is for
    /// logs only; the server must not show it to clients.
    #[error("storage engine failure: {0}")]
    Engine(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Engine(e.to_string())
    }
}
