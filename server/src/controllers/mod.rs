//! Background controllers. Each is one task for the whole server, never one
//! per workspace: they watch a keyspace across all logical clusters.

pub mod crd;
pub mod namespace;
pub mod rbac;
pub mod workspace;

use bytes::Bytes;
use trellis_storage::{ListOptions, ReadAt, Record};

use crate::state::AppState;

/// Every record under `prefix` in one read (controllers look at one
/// resource of one cluster or namespace, or at a small system keyspace);
/// `None` when storage could not be read.
pub(crate) async fn scan(state: &AppState, prefix: Bytes, at: ReadAt) -> Option<Vec<Record>> {
    state
        .store
        .storage
        .list(ListOptions {
            prefix,
            start_after: None,
            limit: None,
            at,
        })
        .await
        .ok()
        .map(|page| page.items)
}
