//! Background controllers. Each is one task for the whole server, never one
//! per workspace: they watch a keyspace across all logical clusters.

pub mod apibinding;
pub mod apiexport;
pub mod crd;
pub mod namespace;
pub mod queue;
pub mod rbac;
pub mod sharing;
pub mod workspace;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use trellis_storage::{ListOptions, ReadAt, Record};

use crate::registry::ResourceDef;
use crate::registry::store::{DeleteOpts, WriteCtx};
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

/// Creates a cluster-scoped `obj` as `manager`; one that already exists
/// counts as created.
pub(crate) async fn create_ignoring_conflict(
    state: &AppState,
    manager: &str,
    cluster: &str,
    def: &Arc<ResourceDef>,
    obj: Value,
) -> Result<(), String> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ctx = WriteCtx::system(cluster, def, ns.as_deref(), None, manager);
    match state.store.create(&ctx, obj, Vec::new()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 409 => Ok(()),
        Err(e) => Err(format!("creating {}: {}", def.resource, e.status().message)),
    }
}

/// Updates the status of cluster-scoped `name` through `/status` with `f`
/// (which says whether it changed anything); `true` unless the write
/// failed (a missing object needs no status).
pub(crate) async fn set_status(
    state: &AppState,
    manager: &str,
    cluster: &str,
    def: &Arc<ResourceDef>,
    name: &str,
    mut f: impl FnMut(&mut Value) -> bool,
) -> bool {
    let c = WriteCtx::system(cluster, def, None, Some("status"), manager);
    let res = state
        .store
        .update_existing(&c, name, |cur| {
            if !cur.get("status").is_some_and(Value::is_object) {
                cur["status"] = json!({});
            }
            if !f(&mut cur["status"]) {
                return Err(trellis_apis::Status::failure(304, "Unchanged", "").into());
            }
            Ok(())
        })
        .await;
    match res {
        Ok(_) => true,
        Err(e) if e.code() == 304 || e.code() == 404 => true,
        Err(e) => {
            tracing::warn!(cluster, name, resource = %def.resource, error = %e, "status update failed");
            false
        }
    }
}

/// Sets `cond` in the status object `status` (moving its transition time
/// only when the status flips); whether anything changed.
pub(crate) fn put_condition(
    status: &mut Value,
    cond: &trellis_apis::crd::Condition,
    now: &str,
) -> bool {
    let before = status.clone();
    let mut wrapper = json!({"status": status.take()});
    trellis_apis::crd::set_condition(&mut wrapper, cond, now);
    *status = wrapper["status"].take();
    *status != before
}

/// Deletes the objects `items` (records of `def`'s keyspace in `cluster`)
/// through the store, so their own finalizers are honoured; a failure is
/// logged and left for the caller's next pass.
pub(crate) async fn delete_records(
    state: &AppState,
    manager: &str,
    cluster: &str,
    def: &Arc<ResourceDef>,
    items: Vec<Record>,
) {
    for rec in items {
        let Some(parts) = trellis_storage::keys::parse(&rec.key) else {
            continue;
        };
        let ns = (!parts.namespace.is_empty()).then_some(parts.namespace);
        let ctx = WriteCtx::system(cluster, def, ns, None, manager);
        if let Err(e) = state
            .store
            .delete(&ctx, parts.name, &DeleteOpts::default())
            .await
            && e.code() != 404
        {
            tracing::warn!(cluster, resource = %def.resource, error = %e, "deleting an instance");
        }
    }
}

/// Drops `finalizer` from cluster-scoped `name` (only if it still has
/// `uid`, when given: a recreated object is not the one that was
/// finished); `true` unless the write failed.
pub(crate) async fn remove_finalizer(
    state: &AppState,
    manager: &str,
    cluster: &str,
    def: &Arc<ResourceDef>,
    name: &str,
    finalizer: &str,
    uid: Option<&str>,
) -> bool {
    let ctx = WriteCtx::system(cluster, def, None, None, manager);
    let res = state
        .store
        .update_existing(&ctx, name, |cur| {
            if uid.is_some_and(|u| crate::meta::str_field(cur, "uid") != u) {
                return Err(trellis_apis::Status::failure(304, "Unchanged", "").into());
            }
            let fins: Vec<String> = crate::meta::finalizers(cur)
                .into_iter()
                .filter(|f| f != finalizer)
                .collect();
            crate::meta::meta_mut(cur).insert("finalizers".into(), json!(fins));
            Ok(())
        })
        .await;
    match res {
        Ok(_) => true,
        Err(e) if e.code() == 404 || e.code() == 304 => true,
        Err(e) => {
            tracing::warn!(cluster, name, resource = %def.resource, error = %e, "removing a finalizer");
            false
        }
    }
}
