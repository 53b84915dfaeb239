//! Where the `apis.kcp.io` objects live in storage: one place for their
//! keyspaces (and `of`, which `tenancy::types` uses for the tenancy ones), so controllers,
//! admission and the provider endpoint never spell the group out.

use trellis_apis::kcp::types::{
    APIBinding, APIExport, APIExportEndpointSlice, APIResourceSchema, KcpObject,
};
use trellis_storage::keys::Keyspace;

/// Where kcp's kind `T` is stored (group and plural; never the version).
pub fn of<T: KcpObject>() -> Keyspace {
    Keyspace::new(T::group(), T::PLURAL, None).expect("valid keyspace")
}

pub fn exports() -> Keyspace {
    of::<APIExport>()
}

pub fn bindings() -> Keyspace {
    of::<APIBinding>()
}

pub fn schemas() -> Keyspace {
    of::<APIResourceSchema>()
}

pub fn endpoint_slices() -> Keyspace {
    of::<APIExportEndpointSlice>()
}
