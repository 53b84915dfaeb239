//! The API sharing controller: one task for the whole server that watches
//! the `apis.kcp.io` keyspaces of every cluster and runs the APIExport
//! reconciler ([`super::apiexport`], per export) and the APIBinding
//! reconciler ([`super::apibinding`], per consumer cluster).
//!
//! An export's change re-runs every cluster with a binding to it, which is
//! how a new schema or identity reaches consumers. Work that waits on
//! something not watched (an export without identity yet, a missing
//! `bind` grant, a conflict that a deletion may resolve) is requeued, so
//! permission grants and CRD deletions elsewhere are picked up without
//! watching them; failures are retried with backoff.

use std::sync::Arc;

use serde_json::Value;
use trellis_storage::ReadAt;
use trellis_storage::keys;

use trellis_apis::kcp::types::APIExportEndpointSlice;

use super::Error;
use crate::runtime::{Action, ChangeKind, Controller, Watch};
use crate::sharing::keys::{bindings, endpoint_slices as slices, exports};
use crate::state::AppState;

/// Reconciles run at once; bindings of different clusters are independent.
const CONCURRENCY: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Export { cluster: String, name: String },
    Bindings { cluster: String },
    Slice { cluster: String, name: String },
}

/// Installs bound resources before the server listens; returns the
/// revision they were read at.
pub async fn load(state: &AppState) -> u64 {
    let rev = state.store.storage.current_revision();
    super::apibinding::load(state, rev).await;
    rev
}

/// Clusters with a binding to export `name` of `cluster` (bound to it, or
/// referencing it by path or name).
async fn consumers_of(state: &AppState, cluster: &str, name: &str) -> Vec<String> {
    let path = state.clusters.resolve(cluster).await.map(|lc| lc.path);
    let mut out = Vec::new();
    for rec in super::scan(state, bindings().all_clusters(), ReadAt::Latest)
        .await
        .unwrap_or_default()
    {
        let (Some(parts), Ok(b)) = (
            keys::parse(&rec.key),
            serde_json::from_slice::<Value>(&rec.value),
        ) else {
            continue;
        };
        let s = |p: &str| b.pointer(p).and_then(Value::as_str).unwrap_or("");
        if s("/spec/reference/export/name") != name {
            continue;
        }
        let ref_path = match s("/spec/reference/export/path") {
            "" => parts.cluster,
            p => p,
        };
        if s("/status/apiExportClusterName") == cluster
            || ref_path == cluster
            || path.as_deref() == Some(ref_path)
        {
            out.push(parts.cluster.to_string());
        }
    }
    out
}

/// One pass over a key.
pub async fn reconcile(state: &AppState, k: &Key) -> Result<Action, Error> {
    match k {
        Key::Export { cluster, name } => super::apiexport::reconcile(state, cluster, name).await,
        Key::Bindings { cluster } if cluster == crate::cluster::ROOT => {
            let action = super::apibinding::reconcile(state, cluster).await?;
            // Once root serves shards, the Shard this server is.
            crate::sharing::system::ensure_shard(state).await?;
            Ok(action)
        }
        Key::Bindings { cluster } => super::apibinding::reconcile(state, cluster).await,
        Key::Slice { cluster, name } => {
            super::apiexport::reconcile_slice(state, cluster, name).await
        }
    }
}

/// Runs until the server shuts down, following changes after `from` (the
/// revision [`load`] read at).
pub async fn run(state: AppState, from: u64) {
    let storage = state.store.storage.clone();
    // On start every export, binding cluster and slice gets a look: passes
    // that change nothing write nothing. A changed export also re-runs its
    // consumers (found by reading every binding, so only for real changes).
    let st = state.clone();
    let exports = Watch::new_async(
        storage.clone(),
        exports().all_clusters(),
        Arc::new(move |c| {
            let st = st.clone();
            Box::pin(async move {
                let Some(p) = c.parts() else {
                    return Vec::new();
                };
                let (cluster, name) = (p.cluster.to_string(), p.name.to_string());
                let mut keys = Vec::new();
                if c.kind != ChangeKind::Listed {
                    for c in consumers_of(&st, &cluster, &name).await {
                        keys.push(Key::Bindings { cluster: c });
                    }
                }
                keys.push(Key::Export { cluster, name });
                keys
            })
        }),
    )
    .from(from);
    let bindings = Watch::new(storage.clone(), bindings().all_clusters(), |c| {
        c.parts()
            .map(|p| Key::Bindings {
                cluster: p.cluster.to_string(),
            })
            .into_iter()
            .collect()
    })
    .from(from);
    // A Partition's change reaches the slices of its workspace naming it.
    let st = state.clone();
    let partitions = Watch::new_async(
        storage.clone(),
        keys::group_prefix("topology.kcp.io").expect("valid group"),
        Arc::new(move |c| {
            let st = st.clone();
            Box::pin(async move {
                let Some(p) = c.parts() else {
                    return Vec::new();
                };
                // `partitions[:<identity>]`, not `partitionsets`.
                let resource = p.keyspace.split(':').next().unwrap_or("");
                if resource != "topology.kcp.io/partitions" {
                    return Vec::new();
                }
                let (cluster, name) = (p.cluster.to_string(), p.name.to_string());
                let Ok(prefix) = slices().cluster(&cluster) else {
                    return Vec::new();
                };
                super::scan(&st, prefix, ReadAt::Latest)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|rec| {
                        let s: APIExportEndpointSlice = serde_json::from_slice(&rec.value).ok()?;
                        (s.spec.partition == name).then(|| Key::Slice {
                            cluster: cluster.clone(),
                            name: s.metadata.name.unwrap_or_default(),
                        })
                    })
                    .collect()
            })
        }),
    )
    .from(from);
    let slices = Watch::new(storage, slices().all_clusters(), |c| {
        c.parts()
            .map(|p| Key::Slice {
                cluster: p.cluster.to_string(),
                name: p.name.to_string(),
            })
            .into_iter()
            .collect()
    })
    .from(from);
    Controller::new("api-sharing", state.shutdown.clone())
        .watches(exports)
        .watches(bindings)
        .watches(slices)
        .watches(partitions)
        .concurrency(CONCURRENCY)
        .run(
            state,
            |st: AppState, k: Key| async move { reconcile(&st, &k).await },
            super::error_policy("api-sharing"),
        )
        .await
}
