//! Why a reconcile failed. The runtime hands it to the controller's
//! `error_policy` (which logs it and backs the key off); nothing here
//! becomes an HTTP response.

use crate::error::ApiError;
use crate::runtime::finalizer::RemoveError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Storage could not be read.
    #[error("reading storage: {0}")]
    Storage(#[from] trellis_storage::Error),
    /// An object could not be read or decoded (the message says which).
    #[error("{0}")]
    Read(String),
    /// The store refused to create an object.
    #[error("creating {resource}: {}", error.status().message)]
    Create { resource: String, error: ApiError },
    /// The store refused a write.
    #[error("{what}: {error}")]
    Write { what: &'static str, error: ApiError },
    #[error(transparent)]
    Finalizer(#[from] RemoveError),
}

impl Error {
    /// Wraps a refused write described by `what` ("updating status").
    pub fn write(what: &'static str) -> impl FnOnce(ApiError) -> Error {
        move |error| Error::Write { what, error }
    }
}
