//! Background controllers. Each is one [`Controller`](crate::runtime::Controller)
//! for the whole server, never one per workspace: it watches keyspaces
//! across all logical clusters and reconciles keys (a cluster, a workspace,
//! a namespace) with a `reconcile(state, key) -> Result<Action, Error>`
//! function that reads the current state and writes only what differs.
//! What the helpers here share: reads that fail are errors (the runtime
//! backs the key off), writes that would change nothing are not made.

pub mod apibinding;
pub mod apiexport;
pub mod crd;
pub mod error;
pub mod gc;
pub mod namespace;
pub mod rbac;
pub mod sharing;
pub mod workspace;

#[cfg(test)]
mod tests;

use std::fmt::Debug;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use trellis_storage::{ListOptions, ReadAt, Record};

pub use error::Error;

use crate::registry::ResourceDef;
use crate::registry::store::{DeleteOpts, Mutation, WriteCtx};
use crate::runtime::Action;
use crate::state::AppState;

/// The built-in definition of kcp's kind `T` (served in every cluster).
pub(crate) fn kcp_def<T: trellis_apis::kcp::types::KcpObject>(
    state: &AppState,
) -> Arc<ResourceDef> {
    state
        .clusters
        .builtin_registry()
        .get(T::group(), T::version(), T::PLURAL)
        .expect("kcp's kinds are built in")
        .clone()
}

/// The error policy every controller uses: log the failure with its key
/// and retry the key with exponential backoff.
pub(crate) fn error_policy<K: Debug>(
    controller: &'static str,
) -> impl Fn(&K, &Error, u32) -> Action {
    move |key, error, failures| {
        tracing::warn!(controller, ?key, %error, failures, "reconcile failed; retrying with backoff");
        Action::backoff()
    }
}

/// Every record under `prefix` in one read (controllers look at one
/// resource of one cluster or namespace, or at a small system keyspace).
pub(crate) async fn list(
    state: &AppState,
    prefix: Bytes,
    at: ReadAt,
) -> Result<Vec<Record>, trellis_storage::Error> {
    state
        .store
        .storage
        .list(ListOptions::all(prefix, at))
        .await
        .map(|page| page.items)
}

/// [`list`] for callers that only need to know whether storage answered;
/// `None` when it could not be read.
pub(crate) async fn scan(state: &AppState, prefix: Bytes, at: ReadAt) -> Option<Vec<Record>> {
    list(state, prefix, at).await.ok()
}

/// Cluster-scoped object `name` of `group`/`resource` as `cluster` serves
/// it (a bound or custom resource included); `None` when it is absent or
/// the resource is not served there.
pub(crate) async fn get_served(
    state: &AppState,
    cluster: &str,
    group: &str,
    resource: &str,
    name: &str,
) -> Result<Option<Value>, Error> {
    let key = state
        .clusters
        .apis_of(cluster)
        .registry
        .for_storage(|d| d.group == group && d.resource == resource)
        .and_then(|d| d.keyspace.object(cluster, "", name).ok());
    let Some(key) = key else {
        return Ok(None);
    };
    Ok(state
        .store
        .storage
        .get(&key)
        .await?
        .and_then(|r| serde_json::from_slice(&r.value).ok()))
}

/// Creates a cluster-scoped `obj` as `manager`; one that already exists
/// counts as created.
pub(crate) async fn create_ignoring_conflict(
    state: &AppState,
    manager: &str,
    cluster: &str,
    def: &Arc<ResourceDef>,
    obj: Value,
) -> Result<(), Error> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ctx = WriteCtx::system(cluster, def, ns.as_deref(), None, manager);
    match state.store.create(&ctx, obj, Vec::new()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 409 => Ok(()),
        Err(error) => Err(Error::Create {
            resource: def.resource.clone(),
            error,
        }),
    }
}

/// Edits existing object `name` in place with `f`, which says whether it
/// changed anything: an unchanged object is not written at all. A missing
/// object is a 404.
pub(crate) async fn edit(
    state: &AppState,
    ctx: &WriteCtx<'_>,
    name: &str,
    mut f: impl FnMut(&mut Value) -> bool,
) -> crate::error::ApiResult<()> {
    state
        .store
        .update_with(ctx, name, |cur| {
            let Some(mut cur) = cur else {
                return Ok(Mutation::Unchanged);
            };
            Ok(if f(&mut cur) {
                Mutation::Update {
                    body: cur,
                    pinned_rv: None,
                    warnings: Vec::new(),
                }
            } else {
                Mutation::Unchanged
            })
        })
        .await
        .map(|_| ())
}

/// Updates the status of cluster-scoped `name` through `/status` with `f`
/// (which says whether it changed anything); a missing object needs no
/// status.
pub(crate) async fn set_status(
    state: &AppState,
    manager: &str,
    cluster: &str,
    def: &Arc<ResourceDef>,
    name: &str,
    mut f: impl FnMut(&mut Value) -> bool,
) -> Result<(), Error> {
    let c = WriteCtx::system(cluster, def, None, Some("status"), manager);
    let res = edit(state, &c, name, |cur| {
        let mut status = cur
            .get("status")
            .filter(|s| s.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        if !f(&mut status) {
            return false;
        }
        cur["status"] = status;
        true
    })
    .await;
    match res {
        Err(e) if e.code() != 404 => Err(Error::write("updating status")(e)),
        _ => Ok(()),
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
