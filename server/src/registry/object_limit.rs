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
//! LogicalCluster is `Ready`, on every create, and never for Events
//! (needed to debug a full workspace), LogicalClusters or the
//! `workspace-admin` ClusterRoleBinding. Every object counts but Events,
//! which kcp's count leaves out too.
//!
//! Counting: kcp scans etcd every minute and adds the creates it admitted
//! since. Here two [`Reflector`]s keep it exact, fed by storage watches
//! (so every replica sees every replica's writes): one follows the
//! LogicalClusters (limit and phase), the other — started in the
//! background once a limit exists anywhere, since it lists every key —
//! counts every cluster's keys. A create in a limited cluster holds a
//! [`Slot`] for its storage key from its check until the count sees that
//! key added (under the count's own lock, so no moment counts it twice or
//! not at all), or until the create fails; concurrent creates in one
//! server never pass the limit together. Across replicas the same window
//! kcp has remains (two replicas may each admit the last place). Until the
//! count is ready (up to [`SYNC_WAIT`] after it is first needed) and while
//! it is rebuilt (its watch history expired) creates are admitted, as kcp
//! fails open.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use trellis_apis::Status;
use trellis_apis::kcp::types::{self as kcp, LogicalCluster};
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
            // Never admitted, but an undecodable one counts as unlimited
            // and not ready rather than keeping what it said before.
            let lc: LogicalCluster = kcp::from_value(&obj).unwrap_or_default();
            let new = ClusterInfo {
                limit: lc.annotation(LIMIT_ANNOTATION).parse().ok(),
                ready: lc.status.phase == kcp::phase::READY,
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

/// Events' keyspace (core and events.k8s.io Events share it): not counted.
const EVENTS: &str = "core/events";

/// A create's place, from its check until its key is counted.
struct Pending {
    id: u64,
    key: Bytes,
    /// Its write was acknowledged (a relist then counts it).
    written: bool,
}

#[derive(Default)]
struct CountState {
    /// Keys per cluster, over every keyspace but Events'.
    by_cluster: HashMap<String, i64>,
    /// Places taken by creates not yet counted, per cluster.
    pending: HashMap<String, Vec<Pending>>,
}

impl CountState {
    fn held(&self, cluster: &str) -> i64 {
        self.by_cluster.get(cluster).copied().unwrap_or(0)
            + self.pending.get(cluster).map_or(0, |p| p.len() as i64)
    }

    fn release(&mut self, cluster: &str, matches: impl Fn(&Pending) -> bool) {
        if let Some(v) = self.pending.get_mut(cluster) {
            if let Some(i) = v.iter().position(matches) {
                v.swap_remove(i);
            }
            if v.is_empty() {
                self.pending.remove(cluster);
            }
        }
    }
}

/// The count (see the module docs).
#[derive(Default)]
struct Counts {
    state: Mutex<CountState>,
}

impl Sink for Counts {
    fn apply(&self, change: &Change) {
        let step = match change.kind {
            ChangeKind::Listed | ChangeKind::Added => 1,
            ChangeKind::Deleted => -1,
            ChangeKind::Modified => return,
        };
        let Some(parts) = change.parts() else { return };
        if parts.keyspace == EVENTS {
            return;
        }
        let mut st = self.state.lock();
        if step > 0 {
            // The key is counted now: its create's place goes.
            st.release(parts.cluster, |p| p.key == change.key);
        }
        match st.by_cluster.get_mut(parts.cluster) {
            Some(n) => {
                *n += step;
                if *n <= 0 {
                    st.by_cluster.remove(parts.cluster);
                }
            }
            None if step > 0 => {
                st.by_cluster.insert(parts.cluster.to_string(), step);
            }
            None => {}
        }
    }

    fn reset(&self, _prefix: &[u8]) {
        let mut st = self.state.lock();
        st.by_cluster.clear();
        // What was written is in the relist; creates still in flight are
        // not.
        for v in st.pending.values_mut() {
            v.retain(|p| !p.written);
        }
        st.pending.retain(|_, v| !v.is_empty());
    }
}

/// The limit step of the store's create (see the module docs).
pub struct ObjectLimits {
    default_limit: AtomicI64,
    storage: Mutex<Option<Arc<dyn Storage>>>,
    clusters: Arc<Clusters>,
    clusters_reflector: Mutex<Option<Arc<Reflector>>>,
    counts: Arc<Counts>,
    counts_reflector: std::sync::OnceLock<Reflector>,
    counting_started: AtomicBool,
    counting_ready: tokio::sync::Notify,
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
            counts_reflector: std::sync::OnceLock::new(),
            counting_started: AtomicBool::new(false),
            counting_ready: tokio::sync::Notify::new(),
            next_id: AtomicU64::new(0),
        }
    }
}

/// A create's hold on its place; dropped, the place is free again unless
/// the count has taken the key over.
pub(crate) struct Slot {
    limits: Arc<ObjectLimits>,
    cluster: String,
    id: u64,
    key: Bytes,
    written: bool,
}

impl Slot {
    fn with_mine<R>(&self, f: impl FnOnce(&mut Pending) -> R) -> Option<R> {
        let mut st = self.limits.counts.state.lock();
        st.pending
            .get_mut(&self.cluster)
            .and_then(|v| v.iter_mut().find(|p| p.id == self.id))
            .map(f)
    }

    /// The create moved to another key (a generated name was taken).
    pub(crate) fn rekey(&mut self, key: Bytes) {
        self.key = key.clone();
        self.with_mine(|p| p.key = key);
    }

    /// The object was written: its place stays until the count sees it.
    pub(crate) fn written(mut self) {
        self.with_mine(|p| p.written = true);
        self.written = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.written {
            return;
        }
        let mut st = self.limits.counts.state.lock();
        let id = self.id;
        let mine = st
            .pending
            .get(&self.cluster)
            .is_some_and(|v| v.iter().any(|p| p.id == id));
        if mine {
            st.release(&self.cluster, |p| p.id == id);
        } else {
            // The count saw this key added and took a place for it — ours,
            // although the create that wrote it is another one (same name,
            // at the same time; this one failed): that one's place is the
            // one to give back.
            let key = self.key.clone();
            st.release(&self.cluster, |p| p.key == key);
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
    /// this has run nothing is limited. Starts counting (in the
    /// background) when a limit applies anywhere.
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
            self.start_counting();
        }
        Ok(())
    }

    fn active(&self) -> bool {
        self.default_limit.load(Ordering::Relaxed) > 0
            || self.clusters.limited.load(Ordering::Relaxed) > 0
    }

    /// Starts the count's reflector (listing every key) in the background,
    /// once; a failed start is tried again by the next create that needs it.
    fn start_counting(self: &Arc<Self>) {
        if self.counting_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(storage) = self.storage.lock().clone() else {
            self.counting_started.store(false, Ordering::Release);
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            tracing::info!("counting objects per logical cluster for the object limit");
            match Reflector::start(
                "object-counts",
                storage,
                vec![Bytes::new()],
                this.counts.clone(),
                Backoff::default(),
            )
            .await
            {
                Ok(r) => {
                    let _ = this.counts_reflector.set(r);
                    this.counting_ready.notify_waiters();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "counting objects failed; creates are not limited");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    this.counting_started.store(false, Ordering::Release);
                }
            }
        });
    }

    /// The count's reflector, waiting up to [`SYNC_WAIT`] for its start.
    async fn counting(self: &Arc<Self>) -> Option<&Reflector> {
        if let Some(r) = self.counts_reflector.get() {
            return Some(r);
        }
        self.start_counting();
        let deadline = tokio::time::Instant::now() + SYNC_WAIT;
        loop {
            let ready = self.counting_ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if let Some(r) = self.counts_reflector.get() {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, ready).await.is_err() {
                return self.counts_reflector.get();
            }
        }
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

    /// Checks a create of `name` (a `def` object, stored at `key`) in
    /// `cluster` against the limit and takes its place; `None` when no
    /// limit applies.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        cluster: &str,
        def: &ResourceDef,
        name: &str,
        key: Bytes,
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
        if !clusters.synced(SYNC_WAIT).await {
            tracing::warn!(
                cluster,
                "LogicalClusters behind; checking the limit as known"
            );
        }
        let Some(limit) = self.limit_of(cluster) else {
            return Ok(None);
        };
        let Some(counting) = self.counting().await else {
            tracing::warn!(cluster, "object count not ready; create admitted");
            return Ok(None);
        };
        if !counting.synced(SYNC_WAIT).await {
            tracing::warn!(cluster, "object count behind; create admitted");
            return Ok(None);
        }
        self.take_place(cluster, def, name, key, limit).map(Some)
    }

    /// Refuses the create if `cluster` holds `limit` objects (stored or
    /// with a place), else takes a place for `key`.
    fn take_place(
        self: &Arc<Self>,
        cluster: &str,
        def: &ResourceDef,
        name: &str,
        key: Bytes,
        limit: i64,
    ) -> ApiResult<Slot> {
        let mut st = self.counts.state.lock();
        let count = st.held(cluster);
        if count >= limit {
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
        st.pending
            .entry(cluster.to_string())
            .or_default()
            .push(Pending {
                id,
                key: key.clone(),
                written: false,
            });
        Ok(Slot {
            limits: self.clone(),
            cluster: cluster.to_string(),
            id,
            key,
            written: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
            (ChangeKind::Added, "core/events/c/default/e1"),
        ] {
            c.apply(&change(kind, key, Value::Null));
        }
        let st = c.state.lock();
        assert_eq!(st.by_cluster.get("a"), Some(&1));
        assert_eq!(st.by_cluster.get("b"), Some(&1));
        assert_eq!(st.by_cluster.len(), 2, "Events are not counted");
    }

    #[test]
    fn a_place_is_held_until_the_count_sees_its_key() {
        let limits = Arc::new(ObjectLimits::default());
        let def = crate::builtin::builtins()
            .registry
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        let key = |n: &str| Bytes::from(format!("core/configmaps/c/default/{n}"));
        let add = |n: &str| {
            limits.counts.apply(&change(
                ChangeKind::Added,
                &format!("core/configmaps/c/default/{n}"),
                Value::Null,
            ))
        };
        let held = || limits.counts.state.lock().held("c");
        add("old");
        // Two places taken: 1 stored + 2 pending = the limit of 3.
        let a = limits.take_place("c", &def, "a", key("a"), 3).unwrap();
        let mut b = limits.take_place("c", &def, "b", key("b"), 3).unwrap();
        let refused = limits
            .take_place("c", &def, "x", key("x"), 3)
            .err()
            .unwrap();
        assert!(
            format!("{refused:?}").contains("(3/3 objects)"),
            "{refused:?}"
        );
        // a's write is seen by the count before a hears it was acknowledged:
        // counted once, never twice.
        add("a");
        assert_eq!(held(), 3);
        a.written();
        assert_eq!(held(), 3);
        // b's generated name changed, then its create failed: its place goes.
        b.rekey(key("b2"));
        drop(b);
        assert_eq!(held(), 2);
        // Two creates of one name race; the count sees the key once (taking
        // the first place), the
        // loser's drop gives back the winner's.
        let l = limits
            .take_place("c", &def, "same", key("same"), 10)
            .unwrap();
        let w = limits
            .take_place("c", &def, "same", key("same"), 10)
            .unwrap();
        add("same");
        assert_eq!(held(), 4);
        drop(l);
        w.written();
        assert_eq!(held(), 3);
        // A relist counts what was written; a create in flight keeps its place.
        let f = limits.take_place("c", &def, "f", key("f"), 10).unwrap();
        limits.counts.reset(b"");
        assert_eq!(held(), 1);
        drop(f);
        assert_eq!(held(), 0);
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
