//! The namespace controller: empties a Terminating namespace, then lets it go.
//!
//! Deleting a namespace only marks it (deletionTimestamp, phase Terminating)
//! because of its `kubernetes` spec finalizer. This controller watches every
//! namespace in every logical cluster; for each Terminating one it deletes
//! every namespaced object in it (objects with finalizers get marked and are
//! waited for), and once nothing is left removes the `kubernetes` finalizer
//! through `/finalize`, which completes the deletion.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use trellis_storage::keys::{self, Keyspace};
use trellis_storage::{ReadAt, WatchItem};

use crate::builtin::namespace::{KUBERNETES_FINALIZER, spec_finalizers};
use crate::cluster::LogicalCluster;
use crate::registry::store::{DeleteOpts, WriteCtx};
use crate::state::AppState;

const MANAGER: &str = "trellis-namespace-controller";
/// How often unfinished namespaces are looked at again.
const RETRY: Duration = Duration::from_millis(500);

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let ks = Keyspace::new("", "namespaces", None).expect("valid keyspace");
    let mut shutdown = state.shutdown.clone();
    loop {
        let storage = state.store.storage.clone();
        let start = storage.current_revision();
        let Ok(mut events) = storage.watch(ks.all_clusters(), start).await else {
            return;
        };
        // Catch up with namespaces that were already terminating.
        let mut pending: BTreeSet<(String, String)> = BTreeSet::new();
        if let Some(items) = super::scan(&state, ks.all_clusters(), ReadAt::Revision(start)).await {
            for rec in items {
                if let Some(k) = terminating(&rec.key, &rec.value) {
                    pending.insert(k);
                }
            }
        }
        let mut retry = tokio::time::interval(RETRY);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = retry.tick(), if !pending.is_empty() => {
                    let work: Vec<_> = pending.iter().cloned().collect();
                    for (cluster, ns) in work {
                        if finalize(&state, &cluster, &ns).await {
                            pending.remove(&(cluster, ns));
                        }
                    }
                }
                item = events.next() => match item {
                    Some(Ok(WatchItem::Event(e))) => {
                        if let Some(k) = terminating(&e.key, &e.value) {
                            pending.insert(k);
                        }
                    }
                    Some(Ok(WatchItem::Progress(_))) => {}
                    // The watch ended (fell behind or the store closed): start over.
                    _ => break,
                },
            }
        }
    }
}

/// `(cluster, namespace)` if the stored namespace is terminating.
fn terminating(key: &Bytes, value: &Bytes) -> Option<(String, String)> {
    let parts = keys::parse(key)?;
    let obj: Value = serde_json::from_slice(value).ok()?;
    let deleting = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    (deleting
        && spec_finalizers(&obj)
            .iter()
            .any(|f| f == KUBERNETES_FINALIZER))
    .then(|| (parts.cluster.to_string(), parts.name.to_string()))
}

/// One pass over a terminating namespace; `true` when it needs no more work.
async fn finalize(state: &AppState, cluster: &str, ns: &str) -> bool {
    let lc = LogicalCluster {
        name: cluster.to_string(),
        path: cluster.to_string(),
    };
    let registry = state.clusters.registry(&lc);
    let mut remaining = 0usize;
    let mut seen_keyspaces = HashSet::new();
    for def in registry.all() {
        // One pass per stored resource, not per served version.
        if !def.namespaced || !seen_keyspaces.insert(def.keyspace.clone()) {
            continue;
        }
        let Ok(prefix) = def.keyspace.namespace(cluster, ns) else {
            continue;
        };
        let Some(items) = super::scan(state, prefix, ReadAt::Latest).await else {
            return false;
        };
        for rec in items {
            remaining += 1;
            let Some(parts) = keys::parse(&rec.key) else {
                continue;
            };
            let deleting = serde_json::from_slice::<Value>(&rec.value).is_ok_and(|o| {
                o.pointer("/metadata/deletionTimestamp")
                    .is_some_and(|v| !v.is_null())
            });
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
        return false;
    }
    let Some(ns_def) = registry.get("", "v1", "namespaces") else {
        return true;
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
        Ok(_) => true,
        Err(e) if e.code() == 404 => true,
        Err(e) => {
            tracing::warn!(cluster, namespace = ns, error = %e, "finalizing namespace failed");
            false
        }
    }
}
