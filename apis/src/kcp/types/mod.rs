//! kcp's API objects as typed structs: `Workspace`, `WorkspaceType`,
//! `LogicalCluster`, `APIResourceSchema`, `APIExport`, `APIBinding` and
//! `APIExportEndpointSlice`, in the versions the server stores.
//!
//! Field names, nesting and `omitempty` follow kcp's Go types
//! (`sdk/apis/{tenancy,core,apis}`), so a value serialised from these
//! structs is what kcp's own controllers would write, and one read from
//! storage means what kcp means. Every field defaults when absent (Go's
//! zero value), and unknown fields are ignored on reading.
//!
//! Invariants and intended use:
//! * **Read stored objects, build new ones.** Stored objects passed the
//!   type's schema on their way in, so [`from_value`] does not fail on
//!   them; a failure means storage holds something the schema never
//!   admitted and is reported, not defaulted. Requests not yet validated
//!   (mutating admission) stay JSON: their errors are the schema's to
//!   word.
//! * **Free-form where the stored schema is.** A field the server's schema
//!   keeps as preserve-unknown (a workspace's location selector, a type's
//!   initializer and terminator permissions, a schema's OpenAPI document)
//!   or only loosely checks (a schema's subresources, printer columns,
//!   selectable fields: the CRD registry's own model reads those) is a
//!   `serde_json::Value` here, so whatever was admitted also decodes: a
//!   tenant must not be able to store an object a controller cannot read.
//! * **Never round-trip a stored object through these structs to write it
//!   back**: fields newer than these types (or a user's unknown fields on
//!   objects whose schema preserves them) would be dropped. Updates edit
//!   the JSON; the structs describe what is read.
//! * No I/O, like the rest of this crate.

mod api_binding;
mod api_export;
mod api_resource_schema;
mod condition;
mod endpoint_slice;
mod logical_cluster;
mod workspace;
mod workspace_type;

pub use api_binding::*;
pub use api_export::*;
pub use api_resource_schema::*;
pub use condition::*;
pub use endpoint_slice::*;
pub use logical_cluster::*;
pub use workspace::*;
pub use workspace_type::*;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A kcp kind: where it lives on the wire.
pub trait KcpObject: Serialize + DeserializeOwned {
    const API_VERSION: &'static str;
    const KIND: &'static str;
    /// The resource (plural) it is served as.
    const PLURAL: &'static str;

    /// The API group (`API_VERSION` without the version).
    fn group() -> &'static str {
        Self::API_VERSION
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The version part of `API_VERSION`.
    fn version() -> &'static str {
        Self::API_VERSION
            .rsplit_once('/')
            .map_or(Self::API_VERSION, |(_, v)| v)
    }
}

/// Reads a (stored) object.
pub fn from_value<T: KcpObject>(v: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(v)
}

/// The JSON of a new object, `apiVersion` and `kind` included.
pub fn to_value<T: KcpObject>(obj: &T) -> Value {
    let mut m = Map::new();
    m.insert("apiVersion".into(), Value::from(T::API_VERSION));
    m.insert("kind".into(), Value::from(T::KIND));
    if let Ok(Value::Object(fields)) = serde_json::to_value(obj) {
        m.extend(fields);
    }
    Value::Object(m)
}

/// The phases a LogicalCluster and its Workspace go through (kcp's
/// `LogicalClusterPhaseType`), and an APIBinding's.
pub mod phase {
    pub const SCHEDULING: &str = "Scheduling";
    pub const INITIALIZING: &str = "Initializing";
    pub const READY: &str = "Ready";
    pub const UNAVAILABLE: &str = "Unavailable";
    pub const TERMINATING: &str = "Terminating";
    /// APIBinding: waiting for its export to become usable.
    pub const BINDING: &str = "Binding";
    /// APIBinding: serving its export's resources.
    pub const BOUND: &str = "Bound";
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[cfg(test)]
mod tests;
