//! The workspace controller: schedules, initializes and deletes workspaces
//! in every logical cluster.
//!
//! One task watches the Workspace and LogicalCluster keyspaces across all
//! clusters and moves each workspace through kcp's phases:
//!
//! * **Scheduling** → the child's logical cluster is made addressable (path
//!   and name in the cluster index) and its `LogicalCluster` object is
//!   created with the type's initializers; the Workspace gets its URL and
//!   phase `Initializing`.
//! * **Initializing** → the server's own initializer (`root:universal`:
//!   the `default` namespace) runs at once; other initializers are external
//!   controllers that remove themselves from the LogicalCluster's
//!   `status.initializers`. With none left, both objects become `Ready`.
//! * **Terminating** (deletion) → child workspaces are deleted first, then
//!   every object of the logical cluster is removed from storage, the
//!   cluster is forgotten, and the Workspace's finalizer is dropped.
//!
//! Work is driven by watch events with a retry set for unfinished steps, so
//! idle workspaces cost nothing. [`bootstrap`] runs before the server
//! listens: it creates root's LogicalCluster and the built-in
//! WorkspaceTypes, and rebuilds the path index from stored Workspaces.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};
use trellis_storage::keys;
use trellis_storage::{ListOptions, Preconditions, ReadAt, WatchItem};

use crate::authz::bootstrap::WORKSPACE_ADMIN_BINDING;
use crate::authz::cache::RBAC_GROUP;
use crate::cluster::ROOT;
use crate::meta;
use crate::registry::ResourceDef;
use crate::registry::store::{DeleteOpts, WriteCtx};
use crate::state::AppState;
use crate::tenancy::types::{self, logical_clusters, workspaces};
use crate::tenancy::workspace::{FINALIZER, OWNER_ANNOTATION};
use crate::tenancy::{LOGICAL_CLUSTER, PATH_ANNOTATION, TYPE_ANNOTATION};

const MANAGER: &str = "trellis-workspace-controller";
const RETRY: Duration = Duration::from_millis(300);
/// The initializer the server runs itself.
const UNIVERSAL: &str = "root:universal";

/// kcp's `workspace-admin` binding: the user who created the workspace
/// (its owner annotation) becomes `cluster-admin` inside it. Members of
/// `system:masters` may do everything anyway and get no binding.
fn owner_binding(ws: &Value) -> Option<Value> {
    let owner: Value = ws
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())?;
    let user = owner.get("username").and_then(Value::as_str)?;
    let masters = owner
        .get("groups")
        .and_then(Value::as_array)
        .is_some_and(|g| g.iter().any(|g| g == crate::auth::MASTERS));
    if user.is_empty() || masters {
        return None;
    }
    Some(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": WORKSPACE_ADMIN_BINDING},
        "roleRef": {
            "apiGroup": RBAC_GROUP,
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": user}],
    }))
}

fn def(state: &AppState, group: &str, resource: &str) -> Arc<ResourceDef> {
    let version = if group.is_empty() { "v1" } else { "v1alpha1" };
    state
        .clusters
        .builtin_registry()
        .get(group, version, resource)
        .expect("tenancy types are built in")
        .clone()
}

fn ctx<'a>(
    cluster: &'a str,
    def: &'a Arc<ResourceDef>,
    subresource: Option<&'a str>,
) -> WriteCtx<'a> {
    WriteCtx::system(cluster, def, None, subresource, MANAGER)
}

async fn list_all(state: &AppState, prefix: bytes::Bytes, at: ReadAt) -> Vec<(String, Value)> {
    super::scan(state, prefix, at)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|rec| {
            let cluster = keys::parse(&rec.key)?.cluster.to_string();
            Some((cluster, serde_json::from_slice(&rec.value).ok()?))
        })
        .collect()
}

/// Creates root's LogicalCluster and the built-in types if missing, and
/// makes every existing workspace addressable by path. Returns the
/// revision the workspaces were read at.
pub async fn bootstrap(state: &AppState) -> Result<u64, String> {
    let lc_def = def(state, "core.kcp.io", "logicalclusters");
    let root_lc = json!({
        "apiVersion": "core.kcp.io/v1alpha1",
        "kind": "LogicalCluster",
        "metadata": {"name": LOGICAL_CLUSTER, "annotations": {TYPE_ANNOTATION: "root:root", PATH_ANNOTATION: ROOT}},
        "spec": {},
    });
    create_ignoring_conflict(state, ROOT, &lc_def, root_lc).await?;
    set_status(state, ROOT, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").and_then(Value::as_str) == Some("Ready") {
            return false;
        }
        *s = json!({"phase": "Ready", "URL": root_url(state, ROOT)});
        true
    })
    .await;
    let wt_def = def(state, "tenancy.kcp.io", "workspacetypes");
    for t in types::builtin_types() {
        create_ignoring_conflict(state, ROOT, &wt_def, t).await?;
    }

    let rev = state.store.storage.current_revision();
    let all = list_all(state, workspaces().all_clusters(), ReadAt::Revision(rev)).await;
    // child cluster → (parent cluster, segment)
    let mut parent_of: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (cluster, ws) in &all {
        if let Some(child) = ws.pointer("/spec/cluster").and_then(Value::as_str)
            && !child.is_empty()
        {
            parent_of.insert(
                child.to_string(),
                (cluster.clone(), meta::name(ws).to_string()),
            );
        }
    }
    for child in parent_of.keys() {
        if let Some(path) = path_of(child, &parent_of) {
            state.clusters.register(child, &path);
        }
    }
    Ok(rev)
}

fn path_of(cluster: &str, parent_of: &BTreeMap<String, (String, String)>) -> Option<String> {
    let mut segments = Vec::new();
    let mut at = cluster.to_string();
    while at != ROOT {
        let (parent, seg) = parent_of.get(&at)?;
        segments.push(seg.clone());
        at = parent.clone();
        if segments.len() > 1000 {
            return None;
        }
    }
    segments.push(ROOT.to_string());
    segments.reverse();
    Some(segments.join(":"))
}

fn root_url(state: &AppState, path: &str) -> String {
    format!("https://{}/clusters/{path}", state.config.external_address)
}

async fn create_ignoring_conflict(
    state: &AppState,
    cluster: &str,
    def: &Arc<ResourceDef>,
    obj: Value,
) -> Result<(), String> {
    match state
        .store
        .create(&ctx(cluster, def, None), obj, Vec::new())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 409 => Ok(()),
        Err(e) => Err(format!("creating {}: {}", def.resource, e.status().message)),
    }
}

/// Updates the status of `name` with `f` (which says whether it changed).
async fn set_status(
    state: &AppState,
    cluster: &str,
    def: &Arc<ResourceDef>,
    name: &str,
    mut f: impl FnMut(&mut Value) -> bool,
) -> bool {
    let c = ctx(cluster, def, Some("status"));
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

/// How many workspaces are reconciled at once. Concurrent writes share
/// storage flushes (group commit), which is what makes creating thousands
/// of workspaces a second possible; the bound keeps a burst from queueing
/// unbounded work.
const PARALLEL: usize = 128;

type Key = (String, String);

/// Reconciles keys concurrently, at most one run per key at a time; a key
/// that changes while it runs is run again afterwards.
struct Queue {
    waiting: VecDeque<Key>,
    queued: HashSet<Key>,
    running: HashSet<Key>,
    dirty: HashSet<Key>,
}

impl Queue {
    fn push(&mut self, k: Key) {
        if self.running.contains(&k) {
            self.dirty.insert(k);
        } else if self.queued.insert(k.clone()) {
            self.waiting.push_back(k);
        }
    }
}

/// Runs until the server shuts down.
pub async fn run(state: AppState, mut from: u64) {
    let mut shutdown = state.shutdown.clone();
    loop {
        let storage = state.store.storage.clone();
        let (Ok(mut ws_events), Ok(mut lc_events)) = (
            storage.watch(workspaces().all_clusters(), from).await,
            storage.watch(logical_clusters().all_clusters(), from).await,
        ) else {
            from = storage.current_revision();
            if *shutdown.borrow() {
                return;
            }
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let mut q = Queue {
            waiting: VecDeque::new(),
            queued: HashSet::new(),
            running: HashSet::new(),
            dirty: HashSet::new(),
        };
        // Everything not Ready (or deleting) gets a look after a (re)start.
        for (cluster, ws) in
            list_all(&state, workspaces().all_clusters(), ReadAt::Revision(from)).await
        {
            let ready = ws.pointer("/status/phase").and_then(Value::as_str) == Some("Ready");
            if !ready || meta::is_deleting(&ws) {
                q.push((cluster, meta::name(&ws).to_string()));
            }
        }
        let mut retry_later: BTreeSet<Key> = BTreeSet::new();
        let mut inflight = FuturesUnordered::new();
        let mut retry = tokio::time::interval(RETRY);
        loop {
            while q.running.len() < PARALLEL
                && let Some(k) = q.waiting.pop_front()
            {
                q.queued.remove(&k);
                q.running.insert(k.clone());
                let st = state.clone();
                inflight.push(async move {
                    let done = reconcile(&st, &k.0, &k.1).await;
                    (k, done)
                });
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                Some((k, done)) = inflight.next(), if !inflight.is_empty() => {
                    q.running.remove(&k);
                    if q.dirty.remove(&k) {
                        q.push(k);
                    } else if !done {
                        retry_later.insert(k);
                    }
                }
                _ = retry.tick(), if !retry_later.is_empty() => {
                    for k in std::mem::take(&mut retry_later) {
                        q.push(k);
                    }
                }
                item = ws_events.next() => match item {
                    Some(Ok(WatchItem::Event(e))) => {
                        from = from.max(e.revision);
                        if let Some(p) = keys::parse(&e.key) {
                            q.push((p.cluster.to_string(), p.name.to_string()));
                        }
                    }
                    Some(Ok(WatchItem::Progress(_))) => {}
                    _ => break,
                },
                item = lc_events.next() => match item {
                    Some(Ok(WatchItem::Event(e))) => {
                        let owner = serde_json::from_slice::<Value>(&e.value).ok().and_then(|lc| {
                            let o = lc.pointer("/spec/owner")?;
                            Some((
                                o.get("cluster")?.as_str()?.to_string(),
                                o.get("name")?.as_str()?.to_string(),
                            ))
                        });
                        if let Some(k) = owner {
                            q.push(k);
                        }
                    }
                    Some(Ok(WatchItem::Progress(_))) => {}
                    _ => break,
                },
            }
        }
        // Let running work finish before watching again.
        while inflight.next().await.is_some() {}
    }
}

/// One pass over Workspace `name` in `cluster`; `true` when no more work is
/// due until something changes.
async fn reconcile(state: &AppState, cluster: &str, name: &str) -> bool {
    let storage = &state.store.storage;
    let ws = match types::get(storage, &workspaces(), cluster, name).await {
        Ok(Some(ws)) => ws,
        Ok(None) => return true,
        Err(e) => {
            tracing::warn!(cluster, name, error = %e, "reading workspace");
            return false;
        }
    };
    let Some(parent) = state.clusters.resolve(cluster) else {
        // The parent itself is going away; its deletion handles this one.
        return !meta::is_deleting(&ws);
    };
    let child = ws
        .pointer("/spec/cluster")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let path = format!("{}:{name}", parent.path);
    if meta::is_deleting(&ws) {
        return delete(state, cluster, name, &child).await;
    }
    if child.is_empty() {
        return true;
    }
    match ws
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" | "Scheduling" => schedule(state, cluster, name, &ws, &child, &path).await,
        "Initializing" => initialize(state, cluster, name, &child).await,
        _ => {
            if state.clusters.resolve(&child).is_none() {
                state.clusters.register(&child, &path);
            }
            true
        }
    }
}

async fn schedule(
    state: &AppState,
    cluster: &str,
    name: &str,
    ws: &Value,
    child: &str,
    path: &str,
) -> bool {
    let storage = &state.store.storage;
    let tpath = ws
        .pointer("/spec/type/path")
        .and_then(Value::as_str)
        .unwrap_or(ROOT);
    let tname = ws
        .pointer("/spec/type/name")
        .and_then(Value::as_str)
        .unwrap_or("universal");
    let initializers: Vec<String> = match types::get_type(storage, tpath, tname).await {
        Ok(Some(t)) => match types::aliases(storage, &t).await {
            Ok(all) => {
                let mut v: Vec<String> = all
                    .iter()
                    .filter(|t| t.is_initializer())
                    .map(types::Type::qualified)
                    .collect();
                v.dedup();
                v
            }
            Err(e) => {
                tracing::warn!(cluster, name, error = %e, "resolving workspace type");
                return false;
            }
        },
        // The type was deleted since admission: nothing to initialize.
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(cluster, name, error = %e, "resolving workspace type");
            return false;
        }
    };
    state.clusters.register(child, path);
    // The server's own initializer runs before the LogicalCluster exists,
    // so a workspace of the built-in types is Ready in one pass (five
    // writes) instead of going through Initializing.
    let mut initializers = initializers;
    if initializers.iter().any(|i| i == UNIVERSAL) {
        let ns_def = def(state, "", "namespaces");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
        if let Err(e) = create_ignoring_conflict(state, child, &ns_def, ns).await {
            tracing::warn!(cluster, name, error = %e, "initializing workspace");
            return false;
        }
        initializers.retain(|i| i != UNIVERSAL);
    }
    let ready = initializers.is_empty();
    let phase = if ready { "Ready" } else { "Initializing" };
    let url = root_url(state, path);
    let lc_def = def(state, "core.kcp.io", "logicalclusters");
    let mut annotations =
        json!({TYPE_ANNOTATION: format!("{tpath}:{tname}"), PATH_ANNOTATION: path});
    if let Some(owner) = ws
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(OWNER_ANNOTATION))
    {
        annotations[OWNER_ANNOTATION] = owner.clone();
    }
    let lc = json!({
        "apiVersion": "core.kcp.io/v1alpha1",
        "kind": "LogicalCluster",
        "metadata": {"name": LOGICAL_CLUSTER, "annotations": annotations},
        "spec": {
            "owner": {
                "apiVersion": "tenancy.kcp.io/v1alpha1",
                "resource": "workspaces",
                "name": name,
                "cluster": cluster,
                "UID": meta::str_field(ws, "uid"),
            },
            "initializers": initializers,
        },
    });
    if let Err(e) = create_ignoring_conflict(state, child, &lc_def, lc).await {
        tracing::warn!(cluster, name, error = %e, "creating logical cluster");
        return false;
    }
    if let Some(binding) = owner_binding(ws) {
        let crb_def = state
            .clusters
            .builtin_registry()
            .get(RBAC_GROUP, "v1", "clusterrolebindings")
            .expect("RBAC is built in")
            .clone();
        if let Err(e) = create_ignoring_conflict(state, child, &crb_def, binding).await {
            tracing::warn!(cluster, name, error = %e, "binding the workspace owner");
            return false;
        }
    }
    let inits = initializers.clone();
    let u = url.clone();
    if !set_status(state, child, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").is_some() {
            return false;
        }
        *s = json!({"phase": phase, "initializers": inits, "URL": u});
        true
    })
    .await
    {
        return false;
    }
    let ws_def = def(state, "tenancy.kcp.io", "workspaces");
    let res = state
        .store
        .update_existing(&ctx(cluster, &ws_def, None), name, |cur| {
            cur["spec"]["URL"] = json!(url);
            Ok(())
        })
        .await;
    if let Err(e) = res {
        tracing::warn!(cluster, name, error = %e, "setting workspace URL");
        return false;
    }
    let now = meta::now_rfc3339();
    set_status(state, cluster, &ws_def, name, |s| {
        s["phase"] = json!(phase);
        s["initializers"] = json!(initializers);
        let mut conds =
            vec![json!({"type": "WorkspaceScheduled", "status": "True", "lastTransitionTime": now})];
        if ready {
            conds.push(
                json!({"type": "WorkspaceInitialized", "status": "True", "lastTransitionTime": now}),
            );
        }
        s["conditions"] = json!(conds);
        true
    })
    .await
}

async fn initialize(state: &AppState, cluster: &str, name: &str, child: &str) -> bool {
    let storage = &state.store.storage;
    let lc_def = def(state, "core.kcp.io", "logicalclusters");
    let lc = match types::get(storage, &logical_clusters(), child, LOGICAL_CLUSTER).await {
        Ok(Some(lc)) => lc,
        Ok(None) => return true,
        Err(_) => return false,
    };
    let mut inits: Vec<String> = lc
        .pointer("/status/initializers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if inits.iter().any(|i| i == UNIVERSAL) {
        let ns_def = def(state, "", "namespaces");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
        if create_ignoring_conflict(state, child, &ns_def, ns)
            .await
            .is_err()
        {
            return false;
        }
        if !set_status(state, child, &lc_def, LOGICAL_CLUSTER, |s| {
            let Some(a) = s.get_mut("initializers").and_then(Value::as_array_mut) else {
                return false;
            };
            a.retain(|i| i != UNIVERSAL);
            true
        })
        .await
        {
            return false;
        }
        inits.retain(|i| i != UNIVERSAL);
    }
    let ws_def = def(state, "tenancy.kcp.io", "workspaces");
    let now = meta::now_rfc3339();
    if !inits.is_empty() {
        // Waiting for external initializers; mirror what is left.
        return set_status(state, cluster, &ws_def, name, |s| {
            if s.get("initializers") == Some(&json!(inits)) {
                return false;
            }
            s["initializers"] = json!(inits);
            true
        })
        .await;
    }
    if !set_status(state, child, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").and_then(Value::as_str) == Some("Ready") {
            return false;
        }
        s["phase"] = json!("Ready");
        true
    })
    .await
    {
        return false;
    }
    set_status(state, cluster, &ws_def, name, |s| {
        if s.get("phase").and_then(Value::as_str) == Some("Ready") {
            return false;
        }
        s["phase"] = json!("Ready");
        s["initializers"] = json!([]);
        let mut conds = s
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conds.retain(|c| c.get("type").and_then(Value::as_str) != Some("WorkspaceInitialized"));
        conds.push(
            json!({"type": "WorkspaceInitialized", "status": "True", "lastTransitionTime": now}),
        );
        s["conditions"] = json!(conds);
        true
    })
    .await
}

/// Deletes the subtree below Workspace `name`, then the workspace itself.
async fn delete(state: &AppState, cluster: &str, name: &str, child: &str) -> bool {
    let ws_def = def(state, "tenancy.kcp.io", "workspaces");
    if !child.is_empty() {
        // No new children from now on (admission checks this phase).
        let lc_def = def(state, "core.kcp.io", "logicalclusters");
        if !set_status(state, child, &lc_def, LOGICAL_CLUSTER, |s| {
            if s.get("phase").and_then(Value::as_str) == Some("Terminating") {
                return false;
            }
            s["phase"] = json!("Terminating");
            true
        })
        .await
        {
            return false;
        }
        // Children first: each runs this same flow.
        let kids = list_all(
            state,
            workspaces().cluster(child).expect("valid cluster"),
            ReadAt::Latest,
        )
        .await;
        if !kids.is_empty() {
            for (_, kid) in &kids {
                if !meta::is_deleting(kid) {
                    let kname = meta::name(kid).to_string();
                    let _ = state
                        .store
                        .delete(&ctx(child, &ws_def, None), &kname, &DeleteOpts::default())
                        .await;
                }
            }
            return false;
        }
        if !purge(state, child).await {
            return false;
        }
        state.clusters.unregister(child);
        state.authz.invalidate(child);
    }
    let res = state
        .store
        .update_existing(&ctx(cluster, &ws_def, None), name, |cur| {
            if let Some(f) = cur
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)
            {
                f.retain(|x| x != FINALIZER);
            }
            Ok(())
        })
        .await;
    match res {
        Ok(_) => true,
        Err(e) if e.code() == 404 => true,
        Err(e) => {
            tracing::warn!(cluster, name, error = %e, "finalizing workspace");
            false
        }
    }
}

/// Removes every stored object of logical cluster `child`, whatever its
/// finalizers: the workspace is gone, so nothing in it can be waited for.
async fn purge(state: &AppState, child: &str) -> bool {
    let storage = state.store.storage.clone();
    let mut keyspaces = HashSet::new();
    let apis = state.clusters.apis_of(child);
    for d in apis.registry.all() {
        keyspaces.insert(d.keyspace.clone());
    }
    for ks in keyspaces {
        let Ok(prefix) = ks.cluster(child) else {
            continue;
        };
        loop {
            let Ok(page) = storage
                .list(ListOptions {
                    prefix: prefix.clone(),
                    start_after: None,
                    limit: Some(500),
                    at: ReadAt::Latest,
                })
                .await
            else {
                return false;
            };
            if page.items.is_empty() {
                break;
            }
            let deletes = page.items.into_iter().map(|rec| {
                let storage = storage.clone();
                async move {
                    match storage.delete(rec.key, Preconditions::default()).await {
                        Ok(_) | Err(trellis_storage::Error::NotFound) => true,
                        Err(e) => {
                            tracing::warn!(error = %e, "purging workspace content");
                            false
                        }
                    }
                }
            });
            if !futures::future::join_all(deletes)
                .await
                .into_iter()
                .all(|ok| ok)
            {
                return false;
            }
        }
    }
    true
}
