//! Trellis' API types and the pure logic around them.
//!
//! Nothing here does I/O: selectors, name and metadata validation, field
//! errors, patches and kcp's API types are plain functions over
//! `serde_json::Value` and typed structs, so the server, tests and tools can
//! share them without pulling in the runtime.

pub mod cel;
pub mod crd;
pub mod error;
pub mod field_error;
pub mod fieldpath;
pub mod fields;
#[doc(hidden)]
pub mod fuzzing;
pub mod goquote;
pub mod jsonpath;
pub mod kcp;
pub mod labels;
pub mod patch;
pub mod proto;
pub mod rbac;
pub mod schema;
pub mod smp;
pub mod ssa;
pub mod status;
pub mod validation;

pub use error::{Error, Result};
pub use field_error::{ErrorType, FieldError};
pub use status::{GroupKind, GroupResource, Status, StatusCause, StatusDetails};
