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

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};
use trellis_storage::keys;
use trellis_storage::{ListOptions, Preconditions, ReadAt, WatchItem};

use super::queue::WorkQueue;
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
/// kcp's initializer that waits for a type's default API bindings.
const APIBINDINGS: &str = "system:apibindings";

/// The `(export path, export name)` of every default API binding of a type
/// and the types it extends; a binding without a path refers to an export
/// in the workspace of the type that lists it.
fn default_bindings(all: &[types::Type]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in all {
        for b in t.default_api_bindings().as_array().into_iter().flatten() {
            let export = b.get("export").and_then(Value::as_str).unwrap_or("");
            let path = match b.get("path").and_then(Value::as_str) {
                Some(p) if !p.is_empty() => p,
                _ => t.path.as_str(),
            };
            let k = (path.to_string(), export.to_string());
            if !export.is_empty() && !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

/// A default binding for a new workspace: named after the export plus a
/// hash of where it points (stable, so a retried pass finds its own
/// binding), created on behalf of the workspace's owner — whose `bind`
/// permission the binding controller checks — and accepting every claim
/// the export makes, as kcp's initializer does.
async fn default_binding(
    state: &AppState,
    ws: &Value,
    child: &str,
    export_path: &str,
    export: &str,
) -> Value {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{child}|{export_path}|{export}").as_bytes());
    let suffix: String = digest[..3].iter().map(|b| format!("{b:02x}")).collect();
    let prefix: String = export.chars().take(253 - 6).collect();
    let mut b = json!({
        "apiVersion": "apis.kcp.io/v1alpha2",
        "kind": "APIBinding",
        "metadata": {"name": format!("{prefix}-{}", &suffix[..5])},
        "spec": {"reference": {"export": {"path": export_path, "name": export}}},
    });
    if let Some(owner) = ws
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(OWNER_ANNOTATION))
    {
        b["metadata"]["annotations"] =
            json!({crate::controllers::apibinding::BINDER_ANNOTATION: owner});
    }
    let provider = state.clusters.resolve(export_path).map(|lc| lc.name);
    if let Some(provider) = provider
        && let Ok(Some(e)) = types::get(
            &state.store.storage,
            &super::apiexport::exports(),
            &provider,
            export,
        )
        .await
    {
        let claims: Vec<Value> = e
            .pointer("/spec/permissionClaims")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let mut c = c.clone();
                if let Some(m) = c.as_object_mut() {
                    m.remove("defaultSelector");
                    m.insert("state".into(), json!("Accepted"));
                    m.insert("selector".into(), json!({"matchAll": true}));
                }
                c
            })
            .collect();
        if !claims.is_empty() {
            b["spec"]["permissionClaims"] = json!(claims);
        }
    }
    b
}

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
    super::create_ignoring_conflict(state, MANAGER, ROOT, &lc_def, root_lc).await?;
    super::set_status(state, MANAGER, ROOT, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").and_then(Value::as_str) == Some("Ready") {
            return false;
        }
        *s = json!({"phase": "Ready", "URL": root_url(state, ROOT)});
        true
    })
    .await;
    let wt_def = def(state, "tenancy.kcp.io", "workspacetypes");
    for t in types::builtin_types() {
        super::create_ignoring_conflict(state, MANAGER, ROOT, &wt_def, t).await?;
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

/// How many workspaces are reconciled at once (see [`WorkQueue`]).
const PARALLEL: usize = 128;

type Key = (String, String);

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
        let mut q: WorkQueue<Key> = WorkQueue::new(PARALLEL);
        // Everything not Ready (or deleting) gets a look after a (re)start.
        for (cluster, ws) in
            list_all(&state, workspaces().all_clusters(), ReadAt::Revision(from)).await
        {
            let ready = ws.pointer("/status/phase").and_then(Value::as_str) == Some("Ready");
            if !ready || meta::is_deleting(&ws) {
                q.push((cluster, meta::name(&ws).to_string()));
            }
        }
        let mut inflight = FuturesUnordered::new();
        let mut retry = tokio::time::interval(RETRY);
        loop {
            while let Some(k) = q.start_next() {
                let st = state.clone();
                inflight.push(async move {
                    let done = reconcile(&st, &k.0, &k.1).await;
                    (k, done)
                });
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                Some((k, done)) = inflight.next(), if !inflight.is_empty() => {
                    q.finished(k, done);
                }
                _ = retry.tick(), if q.has_retries() => q.retry(),
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
    let (initializers, default_bindings) = match types::get_type(storage, tpath, tname).await {
        Ok(Some(t)) => match types::aliases(storage, &t).await {
            Ok(all) => {
                let mut v: Vec<String> = all
                    .iter()
                    .filter(|t| t.is_initializer())
                    .map(types::Type::qualified)
                    .collect();
                v.dedup();
                let bindings = default_bindings(&all);
                if !bindings.is_empty() {
                    v.push(APIBINDINGS.to_string());
                }
                (v, bindings)
            }
            Err(e) => {
                tracing::warn!(cluster, name, error = %e, "resolving workspace type");
                return false;
            }
        },
        // The type was deleted since admission: nothing to initialize.
        Ok(None) => (Vec::new(), Vec::new()),
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
        if let Err(e) = super::create_ignoring_conflict(state, MANAGER, child, &ns_def, ns).await {
            tracing::warn!(cluster, name, error = %e, "initializing workspace");
            return false;
        }
        initializers.retain(|i| i != UNIVERSAL);
    }
    for (export_path, export) in &default_bindings {
        let b = default_binding(state, ws, child, export_path, export).await;
        let b_def = super::apibinding::binding_def(state);
        if let Err(e) = super::create_ignoring_conflict(state, MANAGER, child, &b_def, b).await {
            tracing::warn!(cluster, name, error = %e, "creating a default API binding");
            return false;
        }
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
    if let Err(e) = super::create_ignoring_conflict(state, MANAGER, child, &lc_def, lc).await {
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
        if let Err(e) =
            super::create_ignoring_conflict(state, MANAGER, child, &crb_def, binding).await
        {
            tracing::warn!(cluster, name, error = %e, "binding the workspace owner");
            return false;
        }
    }
    let inits = initializers.clone();
    let u = url.clone();
    if !super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
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
    super::set_status(state, MANAGER, cluster, &ws_def, name, |s| {
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
        if super::create_ignoring_conflict(state, MANAGER, child, &ns_def, ns)
            .await
            .is_err()
        {
            return false;
        }
        if !super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
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
    if inits.iter().any(|i| i == APIBINDINGS) {
        let b_def = super::apibinding::binding_def(state);
        let Ok(prefix) = b_def.keyspace.cluster(child) else {
            return true;
        };
        let Some(items) = super::scan(state, prefix, ReadAt::Latest).await else {
            return false;
        };
        let all_bound = items.iter().all(|rec| {
            serde_json::from_slice::<Value>(&rec.value)
                .is_ok_and(|b| b.pointer("/status/phase").and_then(Value::as_str) == Some("Bound"))
        });
        if !all_bound {
            return false;
        }
        if !super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
            let Some(a) = s.get_mut("initializers").and_then(Value::as_array_mut) else {
                return false;
            };
            a.retain(|i| i != APIBINDINGS);
            true
        })
        .await
        {
            return false;
        }
        inits.retain(|i| i != APIBINDINGS);
    }
    let ws_def = def(state, "tenancy.kcp.io", "workspaces");
    let now = meta::now_rfc3339();
    if !inits.is_empty() {
        // Waiting for external initializers; mirror what is left.
        return super::set_status(state, MANAGER, cluster, &ws_def, name, |s| {
            if s.get("initializers") == Some(&json!(inits)) {
                return false;
            }
            s["initializers"] = json!(inits);
            true
        })
        .await;
    }
    if !super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
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
    super::set_status(state, MANAGER, cluster, &ws_def, name, |s| {
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
        if !super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
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
