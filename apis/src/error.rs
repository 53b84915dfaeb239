//! The crate's one error type.
//!
//! Each fallible area keeps a precise error of its own ([`PatchError`],
//! [`SmpError`], [`ProtoError`]) because each mirrors a different upstream
//! error family whose texts clients see verbatim. [`Error`] gathers them so a
//! caller (the server's single error-to-`Status` mapping) handles every
//! failure of this crate through one type.

use crate::patch::PatchError;
use crate::proto::ProtoError;
use crate::smp::SmpError;

/// Any failure of the pure API logic in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JSON patch or JSON merge patch is malformed or does not apply.
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// A strategic merge patch is malformed or does not apply.
    #[error(transparent)]
    StrategicMerge(#[from] SmpError),
    /// A protobuf body could not be decoded, or an object encoded.
    #[error(transparent)]
    Protobuf(#[from] ProtoError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
