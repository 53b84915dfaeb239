//! The API sharing controller: one task for the whole server that watches
//! the `apis.kcp.io` keyspaces of every cluster and runs the APIExport
//! reconciler ([`super::apiexport`], per export) and the APIBinding
//! reconciler ([`super::apibinding`], per consumer cluster).
//!
//! An export's change re-runs every cluster with a binding to it, which is
//! how a new schema or identity reaches consumers. Unfinished work (an
//! export without identity yet, a missing `bind` grant, a conflict that a
//! deletion may resolve) is retried on a timer, so permission grants and
//! CRD deletions elsewhere are picked up without watching them.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::Value;
use trellis_storage::keys;
use trellis_storage::{ReadAt, WatchItem};

use super::apibinding::bindings;
use super::apiexport::exports;
use super::queue::WorkQueue;
use crate::state::AppState;

const RETRY: Duration = Duration::from_millis(1000);
/// Reconciles run at once; bindings of different clusters are independent.
const PARALLEL: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
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
    let path = state.clusters.resolve(cluster).map(|lc| lc.path);
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

async fn run_key(state: &AppState, k: &Key) -> bool {
    match k {
        Key::Export { cluster, name } => super::apiexport::reconcile(state, cluster, name).await,
        Key::Bindings { cluster } => super::apibinding::reconcile(state, cluster).await,
        Key::Slice { cluster, name } => {
            super::apiexport::reconcile_slice(state, cluster, name).await
        }
    }
}

/// Runs until the server shuts down.
pub async fn run(state: AppState, mut from: u64) {
    let mut shutdown = state.shutdown.clone();
    let prefix = Bytes::from_static(b"apis.kcp.io/");
    loop {
        let storage = state.store.storage.clone();
        let Ok(mut events) = storage.watch(prefix.clone(), from).await else {
            from = storage.current_revision();
            if *shutdown.borrow() {
                return;
            }
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let mut q: WorkQueue<Key> = WorkQueue::new(PARALLEL);
        // Everything gets a look after a (re)start: passes that change
        // nothing write nothing.
        for rec in super::scan(&state, exports().all_clusters(), ReadAt::Revision(from))
            .await
            .unwrap_or_default()
        {
            if let Some(p) = keys::parse(&rec.key) {
                q.push(Key::Export {
                    cluster: p.cluster.to_string(),
                    name: p.name.to_string(),
                });
            }
        }
        for rec in super::scan(&state, bindings().all_clusters(), ReadAt::Revision(from))
            .await
            .unwrap_or_default()
        {
            if let Some(p) = keys::parse(&rec.key) {
                q.push(Key::Bindings {
                    cluster: p.cluster.to_string(),
                });
            }
        }
        for rec in super::scan(
            &state,
            Bytes::from_static(b"apis.kcp.io/apiexportendpointslices/"),
            ReadAt::Revision(from),
        )
        .await
        .unwrap_or_default()
        {
            if let Some(p) = keys::parse(&rec.key) {
                q.push(Key::Slice {
                    cluster: p.cluster.to_string(),
                    name: p.name.to_string(),
                });
            }
        }
        let mut inflight = FuturesUnordered::new();
        let mut retry = tokio::time::interval(RETRY);
        loop {
            while let Some(k) = q.start_next() {
                let st = state.clone();
                inflight.push(async move {
                    let done = run_key(&st, &k).await;
                    (k, done)
                });
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                Some((k, done)) = inflight.next(), if !inflight.is_empty() => {
                    q.finished(k, done);
                }
                _ = retry.tick(), if q.has_retries() => q.retry(),
                item = events.next() => match item {
                    Some(Ok(WatchItem::Event(e))) => {
                        from = from.max(e.revision);
                        let Some(p) = keys::parse(&e.key) else { continue };
                        let cluster = p.cluster.to_string();
                        match p.keyspace {
                            "apis.kcp.io/apiexports" => {
                                for c in consumers_of(&state, &cluster, p.name).await {
                                    q.push(Key::Bindings { cluster: c });
                                }
                                q.push(Key::Export { cluster, name: p.name.to_string() });
                            }
                            "apis.kcp.io/apibindings" => q.push(Key::Bindings { cluster }),
                            "apis.kcp.io/apiexportendpointslices" => q.push(Key::Slice { cluster, name: p.name.to_string() }),
                            _ => {}
                        }
                    }
                    Some(Ok(WatchItem::Progress(r))) => from = from.max(r),
                    _ => break,
                },
            }
        }
        while inflight.next().await.is_some() {}
    }
}
