//! kcp's total object limit per logical cluster (its admission plugin
//! `core.kcp.io/LogicalClusterObjectCountLimit`): a create in a workspace
//! that already holds its limit of objects is refused with kcp's 403,
//! `logical cluster "<name>" has reached its total object count limit
//! (<count>/<limit> objects); delete objects to free up capacity`.
//!
//! The limit is the LogicalCluster's `core.kcp.io/max-total-objects`
//! annotation, else `--logical-cluster-total-object-limit` (0: none),
//! which does not apply to `root` and `system:` clusters (the server writes
//! bootstrap content there). As in kcp it is enforced only once the
//! LogicalCluster is `Ready`, on creates of objects (not subresources),
//! and never for Events (needed to debug a full workspace), LogicalClusters
//! or the `workspace-admin` ClusterRoleBinding. Every object counts,
//! exempt kinds included.
//!
//! Counting: kcp scans etcd every minute and adds the creates it admitted
//! since. Here two [`Reflector`]s keep it exact, fed by storage watches
//! (so every replica sees every replica's writes): one follows the
//! LogicalClusters (limit and phase), the other — started only once a
//! limit exists anywhere, since it lists every key — counts every
//! cluster's keys. A create in a limited cluster holds a [`Slot`] from its
//! check until its write is visible to the count: the count is the
//! reflected keys plus the slots whose write is in flight or not yet
//! reflected, so concurrent creates in one server never pass the limit
//! together. Across replicas the same window kcp has remains (two replicas
//! may each admit the last place). While the count is being rebuilt (its
//! watch history expired) creates are admitted, as kcp fails open.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;
use trellis_apis::Status;
use trellis_storage::Storage;

use super::ResourceDef;
use crate::error::ApiResult;
use crate::runtime::{Backoff, Change, ChangeKind, Reflector, Sink};

/// The annotation overriding the default limit (kcp's
/// `LogicalClusterMaxTotalObjectsAnnotationKey`).
pub const LIMIT_ANNOTATION: &str = "core.kcp.io/max-total-objects";

/// How long a create waits for the count to have seen earlier writes.
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// What the limit needs from one LogicalCluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ClusterInfo {
    /// The annotation's value, if it parses.
    limit: Option<i64>,
    ready: bool,
}

/// LogicalClusters' limits and phases, by cluster.
#[derive(Default)]
struct Clusters {
    info: Mutex<HashMap<String, ClusterInfo>>,
    /// Clusters whose annotation sets a limit above 0.
    limited: AtomicI64,
}

impl Sink for Clusters {
    fn apply(&self, change: &Change) {
        let Some(parts) = change.parts() else { return };
        let mut info = self.info.lock();
        let old = if change.kind == ChangeKind::Deleted {
            info.remove(parts.cluster)
        } else {
            let Some(obj) = change.object() else { return };
            let new = ClusterInfo {
                limit: obj
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(LIMIT_ANNOTATION))
                    .and_then(Value::as_str)
                    .and_then(|v| v.parse().ok()),
                ready: obj.pointer("/status/phase").and_then(Value::as_str) == Some("Ready"),
            };
            if new.limit.is_some_and(|l| l > 0) {
                self.limited.fetch_add(1, Ordering::Relaxed);
            }
            info.insert(parts.cluster.to_string(), new)
        };
        if old.is_some_and(|o| o.limit.is_some_and(|l| l > 0)) {
            self.limited.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn reset(&self, _prefix: &[u8]) {
        self.info.lock().clear();
        self.limited.store(0, Ordering::Relaxed);
    }
}

/// Keys per cluster, over every keyspace.
#[derive(Default)]
struct Counts {
    by_cluster: Mutex<HashMap<String, i64>>,
}

impl Sink for Counts {
    fn apply(&self, change: &Change) {
        let step = match change.kind {
            ChangeKind::Listed | ChangeKind::Added => 1,
            ChangeKind::Deleted => -1,
            ChangeKind::Modified => return,
        };
        let Some(parts) = change.parts() else { return };
        let mut counts = self.by_cluster.lock();
        match counts.get_mut(parts.cluster) {
            Some(n) => {
                *n += step;
                if *n <= 0 {
                    counts.remove(parts.cluster);
                }
            }
            None if step > 0 => {
                counts.insert(parts.cluster.to_string(), step);
            }
            None => {}
        }
    }

    fn reset(&self, _prefix: &[u8]) {
        self.by_cluster.lock().clear();
    }
}

/// A create's place, from its check until its object is counted.
struct Pending {
    id: u64,
    /// The revision that wrote it; `u64::MAX` while the write is in flight.
    revision: u64,
}

/// The limit step of the store's create (see the module docs).
pub struct ObjectLimits {
    default_limit: AtomicI64,
    storage: Mutex<Option<Arc<dyn Storage>>>,
    clusters: Arc<Clusters>,
    clusters_reflector: Mutex<Option<Arc<Reflector>>>,
    counts: Arc<Counts>,
    counts_reflector: tokio::sync::OnceCell<Arc<Reflector>>,
    pending: Mutex<HashMap<String, Vec<Pending>>>,
    next_id: AtomicU64,
}

impl Default for ObjectLimits {
    fn default() -> Self {
        ObjectLimits {
            default_limit: AtomicI64::new(0),
            storage: Mutex::new(None),
            clusters: Default::default(),
            clusters_reflector: Mutex::new(None),
            counts: Default::default(),
            counts_reflector: tokio::sync::OnceCell::new(),
            pending: Default::default(),
            next_id: AtomicU64::new(0),
        }
    }
}

/// A create's hold on its place: dropped without [`Slot::written`] (the
/// create failed), the place is free again.
pub(crate) struct Slot {
    limits: Arc<ObjectLimits>,
    cluster: String,
    id: u64,
    written: bool,
}

impl Slot {
    /// The object was written at `revision`: it keeps its place until the
    /// count has seen that revision.
    pub(crate) fn written(mut self, revision: u64) {
        if let Some(p) = self
            .limits
            .pending
            .lock()
            .get_mut(&self.cluster)
            .and_then(|v| v.iter_mut().find(|p| p.id == self.id))
        {
            p.revision = revision;
        }
        self.written = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.written {
            return;
        }
        let mut pending = self.limits.pending.lock();
        if let Some(v) = pending.get_mut(&self.cluster) {
            v.retain(|p| p.id != self.id);
            if v.is_empty() {
                pending.remove(&self.cluster);
            }
        }
    }
}

/// Creates the limit never refuses (kcp's exemptions).
fn exempt(def: &ResourceDef, name: &str) -> bool {
    match (def.group.as_str(), def.resource.as_str()) {
        ("core.kcp.io", "logicalclusters") | ("", "events") | ("events.k8s.io", "events") => true,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => name == "workspace-admin",
        _ => false,
    }
}

impl ObjectLimits {
    /// Sets `--logical-cluster-total-object-limit` (0 or less: none).
    pub fn set_default_limit(&self, limit: i64) {
        self.default_limit.store(limit, Ordering::Relaxed);
    }

    /// Follows the LogicalClusters under `prefix` (every cluster's); until
    /// this has run nothing is limited. Starts counting at once when a
    /// limit applies anywhere.
    pub async fn follow(
        self: &Arc<Self>,
        storage: Arc<dyn Storage>,
        prefix: Bytes,
    ) -> trellis_storage::Result<()> {
        *self.storage.lock() = Some(storage.clone());
        let reflector = Reflector::start(
            "object-limits",
            storage,
            vec![prefix],
            self.clusters.clone(),
            Backoff::default(),
        )
        .await?;
        *self.clusters_reflector.lock() = Some(Arc::new(reflector));
        if self.active() {
            self.counting().await?;
        }
        Ok(())
    }

    fn active(&self) -> bool {
        self.default_limit.load(Ordering::Relaxed) > 0
            || self.clusters.limited.load(Ordering::Relaxed) > 0
    }

    /// The count's reflector, started (listing every key) on first use.
    async fn counting(&self) -> trellis_storage::Result<Arc<Reflector>> {
        self.counts_reflector
            .get_or_try_init(|| async {
                let storage = self.storage.lock().clone().ok_or_else(|| {
                    trellis_storage::Error::Engine("object limits not started".into())
                })?;
                tracing::info!("counting objects per logical cluster for the object limit");
                Reflector::start(
                    "object-counts",
                    storage,
                    vec![Bytes::new()],
                    self.counts.clone(),
                    Backoff::default(),
                )
                .await
                .map(Arc::new)
            })
            .await
            .cloned()
    }

    /// The limit of `cluster`, if one is enforced now.
    fn limit_of(&self, cluster: &str) -> Option<i64> {
        let info = *self.clusters.info.lock().get(cluster)?;
        if !info.ready {
            return None;
        }
        let limit = match info.limit {
            Some(l) => l,
            None if cluster == crate::cluster::ROOT || cluster.starts_with("system:") => 0,
            None => self.default_limit.load(Ordering::Relaxed),
        };
        (limit > 0).then_some(limit)
    }

    /// Checks a create of `name` (a `def` object) in `cluster` against the
    /// limit and takes its place; `None` when no limit applies.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        cluster: &str,
        def: &ResourceDef,
        name: &str,
    ) -> ApiResult<Option<Slot>> {
        if !self.active() || exempt(def, name) {
            return Ok(None);
        }
        let clusters = self.clusters_reflector.lock().clone();
        let Some(clusters) = clusters else {
            return Ok(None);
        };
        // The LogicalCluster as committed before this create (its phase,
        // a limit just set).
        clusters.synced(SYNC_WAIT).await;
        let Some(limit) = self.limit_of(cluster) else {
            return Ok(None);
        };
        let counting = match self.counting().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "object count unavailable; create admitted");
                return Ok(None);
            }
        };
        if !counting.synced(SYNC_WAIT).await {
            tracing::warn!(cluster, "object count behind; create admitted");
            return Ok(None);
        }
        // Slots whose object the count has seen are counted there.
        let applied = counting.applied().unwrap_or(0);
        let mut pending = self.pending.lock();
        let slots = pending.entry(cluster.to_string()).or_default();
        slots.retain(|p| p.revision > applied);
        let stored = self
            .counts
            .by_cluster
            .lock()
            .get(cluster)
            .copied()
            .unwrap_or(0);
        let count = stored + slots.len() as i64;
        if count >= limit {
            if slots.is_empty() {
                pending.remove(cluster);
            }
            return Err(Status::forbidden(
                &def.group_resource(),
                name,
                &format!(
                    "logical cluster {cluster:?} has reached its total object count limit ({count}/{limit} objects); delete objects to free up capacity"
                ),
            )
            .into());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        slots.push(Pending {
            id,
            revision: u64::MAX,
        });
        Ok(Some(Slot {
            limits: self.clone(),
            cluster: cluster.to_string(),
            id,
            written: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, key: &str, value: Value) -> Change {
        Change {
            kind,
            key: Bytes::from(key.to_string()),
            value: Bytes::from(value.to_string()),
        }
    }

    #[test]
    fn counts_follow_adds_and_deletes_per_cluster() {
        let c = Counts::default();
        for (kind, key) in [
            (ChangeKind::Listed, "core/configmaps/a/default/x"),
            (ChangeKind::Added, "core/configmaps/a/default/y"),
            (ChangeKind::Modified, "core/configmaps/a/default/y"),
            (
                ChangeKind::Added,
                "rbac.authorization.k8s.io/roles/b/default/r",
            ),
            (ChangeKind::Deleted, "core/configmaps/a/default/x"),
            (ChangeKind::Added, "not-a-key"),
        ] {
            c.apply(&change(kind, key, Value::Null));
        }
        let counts = c.by_cluster.lock();
        assert_eq!(counts.get("a"), Some(&1));
        assert_eq!(counts.get("b"), Some(&1));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn limits_come_from_the_annotation_or_the_default() {
        let limits = ObjectLimits::default();
        let lc = |ann: Option<&str>, phase: &str| {
            let mut o =
                serde_json::json!({"metadata": {"name": "cluster"}, "status": {"phase": phase}});
            if let Some(a) = ann {
                o["metadata"]["annotations"] = serde_json::json!({LIMIT_ANNOTATION: a});
            }
            o
        };
        let put = |cluster: &str, obj: Value| {
            limits.clusters.apply(&change(
                ChangeKind::Added,
                &format!("core.kcp.io/logicalclusters/{cluster}//cluster"),
                obj,
            ))
        };
        put("plain", lc(None, "Ready"));
        put("annotated", lc(Some("5"), "Ready"));
        put("garbage", lc(Some("many"), "Ready"));
        put("starting", lc(Some("5"), "Initializing"));
        put("root", lc(None, "Ready"));
        put("system:admin", lc(None, "Ready"));
        assert!(limits.active(), "one cluster sets a limit");
        assert_eq!(limits.limit_of("plain"), None);
        assert_eq!(limits.limit_of("annotated"), Some(5));
        assert_eq!(limits.limit_of("starting"), None, "only once Ready");
        limits.set_default_limit(100);
        assert_eq!(limits.limit_of("plain"), Some(100));
        assert_eq!(limits.limit_of("garbage"), Some(100), "unparsable: default");
        assert_eq!(limits.limit_of("annotated"), Some(5));
        assert_eq!(limits.limit_of("root"), None, "no default for root");
        assert_eq!(limits.limit_of("system:admin"), None);
        assert_eq!(limits.limit_of("unknown"), None);
        // The annotation goes away: nothing is limited without a default.
        limits.set_default_limit(0);
        put("annotated", lc(None, "Ready"));
        limits.clusters.apply(&change(
            ChangeKind::Deleted,
            "core.kcp.io/logicalclusters/starting//cluster",
            Value::Null,
        ));
        assert!(!limits.active());
    }
}
