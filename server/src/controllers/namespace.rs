//! The namespace controller: empties a Terminating namespace, then lets it go.
//!
//! Deleting a namespace only marks it (deletionTimestamp, phase Terminating)
//! because of its `kubernetes` spec finalizer. This controller watches every
//! namespace in every logical cluster; for each Terminating one it deletes
//! every namespaced object in it (objects with finalizers get marked and are
//! waited for), and once nothing is left removes the `kubernetes` finalizer
//! through `/finalize`, which completes the deletion.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use trellis_storage::ReadAt;
use trellis_storage::keys::{self, Keyspace};

use super::Error;
use crate::builtin::namespace::{KUBERNETES_FINALIZER, spec_finalizers};
use crate::cluster::LogicalCluster;
use crate::registry::store::{DeleteOpts, WriteCtx};
use crate::runtime::{Action, Controller, Watch};
use crate::state::AppState;

const MANAGER: &str = "trellis-namespace-controller";
/// How often a namespace whose content is still going is looked at again.
const RETRY: Duration = Duration::from_millis(500);
/// Namespaces emptied at once.
const CONCURRENCY: usize = 16;

fn keyspace() -> Keyspace {
    Keyspace::new("", "namespaces", None).expect("valid keyspace")
}

/// `(cluster, namespace)`.
type Key = (String, String);

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    Controller::new("namespace", state.shutdown.clone())
        .watches(Watch::new(
            state.store.storage.clone(),
            keyspace().all_clusters(),
            |c| terminating(&c.key, &c.value).into_iter().collect(),
        ))
        .concurrency(CONCURRENCY)
        .run(
            state,
            |st: AppState, (cluster, ns): Key| async move { reconcile(&st, &cluster, &ns).await },
            super::error_policy("namespace"),
        )
        .await
}

/// `(cluster, namespace)` if the stored namespace is terminating.
fn terminating(key: &Bytes, value: &Bytes) -> Option<Key> {
    let parts = keys::parse(key)?;
    let obj: Value = serde_json::from_slice(value).ok()?;
    is_terminating(&obj).then(|| (parts.cluster.to_string(), parts.name.to_string()))
}

fn is_terminating(obj: &Value) -> bool {
    crate::meta::is_deleting(obj)
        && spec_finalizers(obj)
            .iter()
            .any(|f| f == KUBERNETES_FINALIZER)
}

/// One pass over namespace `ns` of `cluster`: nothing to do unless it is
/// terminating (it may have gone, or been recreated, since the trigger).
pub async fn reconcile(state: &AppState, cluster: &str, ns: &str) -> Result<Action, Error> {
    let key = keyspace()
        .object(cluster, "", ns)
        .map_err(|e| Error::Read(e.to_string()))?;
    let current = state.store.storage.get(&key).await?;
    let live = current
        .and_then(|r| serde_json::from_slice::<Value>(&r.value).ok())
        .is_some_and(|o| is_terminating(&o));
    if !live {
        return Ok(Action::await_change());
    }
    finalize(state, cluster, ns).await
}

/// Deletes what is left in terminating namespace `ns`; once nothing is,
/// drops its `kubernetes` finalizer.
async fn finalize(state: &AppState, cluster: &str, ns: &str) -> Result<Action, Error> {
    let lc = LogicalCluster {
        name: cluster.to_string(),
        path: cluster.to_string(),
    };
    let registry = state.clusters.registry(&lc);
    let mut remaining = 0usize;
    let mut seen_keyspaces = HashSet::new();
    // The storage version's definition first: it needs no conversion call.
    let mut defs: Vec<_> = registry.all().collect();
    defs.sort_by_key(|d| d.converts_remotely());
    for def in defs {
        // One pass per stored resource, not per served version.
        if !def.namespaced || !seen_keyspaces.insert(def.keyspace.clone()) {
            continue;
        }
        let Ok(prefix) = def.keyspace.namespace(cluster, ns) else {
            continue;
        };
        let items = super::list(state, prefix, ReadAt::Latest).await?;
        for rec in items {
            remaining += 1;
            let Some(parts) = keys::parse(&rec.key) else {
                continue;
            };
            let deleting = serde_json::from_slice::<Value>(&rec.value)
                .is_ok_and(|o| crate::meta::is_deleting(&o));
            if deleting {
                continue;
            }
            let ctx = WriteCtx::system(cluster, def, Some(ns), None, MANAGER);
            if let Err(e) = state
                .store
                .delete(&ctx, parts.name, &DeleteOpts::default())
                .await
                && e.code() != 404
            {
                tracing::warn!(cluster, namespace = ns, error = %e, "deleting namespace content failed");
            }
        }
    }
    if remaining > 0 {
        // Objects with finalizers of their own are being waited for.
        return Ok(Action::requeue(RETRY));
    }
    let Some(ns_def) = registry.get("", "v1", "namespaces") else {
        return Ok(Action::await_change());
    };
    let ctx = WriteCtx::system(cluster, ns_def, None, Some("finalize"), MANAGER);
    let res = state
        .store
        .update_existing(&ctx, ns, |cur| {
            let fins: Vec<String> = spec_finalizers(cur)
                .into_iter()
                .filter(|f| f != KUBERNETES_FINALIZER)
                .collect();
            cur["spec"] = json!({"finalizers": fins});
            Ok(())
        })
        .await;
    match res {
        Err(e) if e.code() != 404 => Err(Error::write("finalizing namespace")(e)),
        _ => Ok(Action::await_change()),
    }
}
