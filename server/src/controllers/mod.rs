//! Background controllers. Each is one task for the whole server, never one
//! per workspace: they watch a keyspace across all logical clusters.

pub mod crd;
pub mod namespace;
pub mod workspace;
