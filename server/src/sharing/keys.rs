//! Where the `apis.kcp.io` objects live in storage: one place for their
//! keyspaces, as `tenancy::types` is for the tenancy ones, so controllers,
//! admission and the provider endpoint never spell the group out.

use trellis_apis::kcp::GROUP;
use trellis_storage::keys::Keyspace;

fn keyspace(resource: &str) -> Keyspace {
    Keyspace::new(GROUP, resource, None).expect("valid keyspace")
}

pub fn exports() -> Keyspace {
    keyspace("apiexports")
}

pub fn bindings() -> Keyspace {
    keyspace("apibindings")
}

pub fn schemas() -> Keyspace {
    keyspace("apiresourceschemas")
}

pub fn endpoint_slices() -> Keyspace {
    keyspace("apiexportendpointslices")
}
