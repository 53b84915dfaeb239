//! The workspace controller: schedules, initializes and deletes workspaces
//! in every logical cluster.
//!
//! One task watches the Workspace and LogicalCluster keyspaces across all
//! clusters and moves each workspace through kcp's phases:
//!
//! * **Scheduling** → the child's `LogicalCluster` object is created with
//!   the type's initializers; the Workspace gets its URL and phase
//!   `Initializing`. (The child is addressable by path and name from the
//!   LogicalCluster's creation until the purge removes it: the cluster
//!   index follows both objects itself, see [`crate::tenancy::index`].)
//! * **Initializing** → the server's own initializer (`root:universal`:
//!   the `default` namespace) runs at once; other initializers are external
//!   controllers that remove themselves from the LogicalCluster's
//!   `status.initializers`. With none left, both objects become `Ready`.
//! * **Terminating** (deletion) → the type's terminators (WorkspaceTypes
//!   with `terminator: true`, in the LogicalCluster's
//!   `status.terminators` since scheduling) work on the content and
//!   remove themselves; with none left, child workspaces are deleted
//!   first, then every object of the logical cluster is removed from
//!   storage, its served APIs are dropped, and the Workspace's finalizer is
//!   dropped.
//!
//! The key is a Workspace (cluster, name); work is driven by watch events
//! on Workspaces and on the LogicalClusters they own, with requeues for
//! steps that wait, so idle workspaces cost nothing. [`bootstrap`] runs before the server
//! listens: it creates root's LogicalCluster and the built-in
//! WorkspaceTypes, and starts the path index's watch.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use trellis_apis::kcp::types::{
    self as kcp, APIBinding, APIBindingSpec, APIExport, AcceptablePermissionClaim,
    BindingReference, ExportBindingReference, LogicalCluster, LogicalClusterOwner,
    LogicalClusterSpec, OwnerUserInfo, PermissionClaim, PermissionClaimSelector,
    ScopedPermissionClaim, Workspace,
};
use trellis_storage::keys;
use trellis_storage::{ListOptions, Preconditions, ReadAt};

use super::Error;
use crate::authz::bootstrap::WORKSPACE_ADMIN_BINDING;
use crate::authz::cache::RBAC_GROUP;
use crate::cluster::ROOT;
use crate::meta;
use crate::registry::ResourceDef;
use crate::registry::store::{DeleteOpts, WriteCtx};
use crate::runtime::finalizer::{self, Cleanup, Phase};
use crate::runtime::{Action, ChangeKind, Controller, Watch};
use crate::state::AppState;
use crate::tenancy::types::{self, logical_clusters, workspaces};
use crate::tenancy::workspace::{FINALIZER, OWNER_ANNOTATION};
use crate::tenancy::{LOGICAL_CLUSTER, PATH_ANNOTATION, TYPE_ANNOTATION};

const MANAGER: &str = "trellis-workspace-controller";
/// How often a workspace waiting on something no watch reports (its
/// children going, its default bindings becoming bound) is looked at again.
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
        for b in t.default_api_bindings() {
            let path = if b.path.is_empty() { &t.path } else { &b.path };
            let k = (path.clone(), b.export.clone());
            if !b.export.is_empty() && !out.contains(&k) {
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
    ws: &Workspace,
    child: &str,
    export_path: &str,
    export: &str,
) -> Value {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{child}|{export_path}|{export}").as_bytes());
    let suffix: String = digest[..3].iter().map(|b| format!("{b:02x}")).collect();
    let prefix: String = export.chars().take(253 - 6).collect();
    let annotations = owner_annotation(ws).map(|owner| {
        [(
            crate::controllers::apibinding::BINDER_ANNOTATION.to_string(),
            owner.to_string(),
        )]
        .into()
    });
    let provider = state.clusters.resolve(export_path).await.map(|lc| lc.name);
    let mut permission_claims = Vec::new();
    if let Some(provider) = provider
        && let Ok(Some(e)) = types::get_as::<APIExport>(
            &state.store.storage,
            &crate::sharing::keys::exports(),
            &provider,
            export,
        )
        .await
    {
        permission_claims = e
            .spec
            .permission_claims
            .into_iter()
            .map(|c| AcceptablePermissionClaim {
                scoped: ScopedPermissionClaim {
                    claim: PermissionClaim {
                        default_selector: None,
                        ..c
                    },
                    selector: PermissionClaimSelector {
                        match_all: true,
                        ..Default::default()
                    },
                },
                state: "Accepted".into(),
            })
            .collect();
    }
    kcp::to_value(&APIBinding {
        metadata: ObjectMeta {
            name: Some(format!("{prefix}-{}", &suffix[..5])),
            annotations,
            ..Default::default()
        },
        spec: APIBindingSpec {
            reference: BindingReference {
                export: Some(ExportBindingReference {
                    path: export_path.into(),
                    name: export.into(),
                }),
            },
            permission_claims,
        },
        ..Default::default()
    })
}

/// The Workspace's owner annotation (the user who created it, as JSON).
fn owner_annotation(ws: &Workspace) -> Option<&str> {
    ws.metadata
        .annotations
        .as_ref()?
        .get(OWNER_ANNOTATION)
        .map(String::as_str)
}

/// kcp's `workspace-admin` binding: the user who created the workspace
/// (its owner annotation) becomes `cluster-admin` inside it. Members of
/// `system:masters` may do everything anyway and get no binding.
fn owner_binding(ws: &Workspace) -> Option<Value> {
    let owner: OwnerUserInfo = serde_json::from_str(owner_annotation(ws)?).ok()?;
    let user = owner.username;
    let masters = owner.groups.iter().any(|g| g == crate::auth::MASTERS);
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

fn namespaces(state: &AppState) -> Arc<ResourceDef> {
    state
        .clusters
        .builtin_registry()
        .get("", "v1", "namespaces")
        .expect("namespaces are built in")
        .clone()
}

fn ctx<'a>(
    cluster: &'a str,
    def: &'a Arc<ResourceDef>,
    subresource: Option<&'a str>,
) -> WriteCtx<'a> {
    WriteCtx::system(cluster, def, None, subresource, MANAGER)
}

/// Every object under `prefix` with its cluster; a failed read is an
/// error (taken for "nothing there", a deletion would purge what it had
/// to wait for).
async fn list_all(
    state: &AppState,
    prefix: bytes::Bytes,
    at: ReadAt,
) -> Result<Vec<(String, Value)>, Error> {
    Ok(super::list(state, prefix, at)
        .await
        .map_err(|e| Error::Read(e.to_string()))?
        .into_iter()
        .filter_map(|rec| {
            let cluster = keys::parse(&rec.key)?.cluster.to_string();
            Some((cluster, serde_json::from_slice(&rec.value).ok()?))
        })
        .collect())
}

/// Creates root's LogicalCluster and the built-in types if missing, and
/// starts the watch that makes every workspace addressable by path
/// ([`crate::tenancy::index`]). Returns the revision the controller's
/// watches start from.
pub async fn bootstrap(state: &AppState) -> Result<u64, String> {
    let lc_def = super::kcp_def::<LogicalCluster>(state);
    let root_lc = json!({
        "apiVersion": "core.kcp.io/v1alpha1",
        "kind": "LogicalCluster",
        "metadata": {"name": LOGICAL_CLUSTER, "annotations": {TYPE_ANNOTATION: "root:root", PATH_ANNOTATION: ROOT}},
        "spec": {},
    });
    super::create_ignoring_conflict(state, MANAGER, ROOT, &lc_def, root_lc)
        .await
        .map_err(|e| e.to_string())?;
    super::set_status(state, MANAGER, ROOT, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").and_then(Value::as_str) == Some("Ready") {
            return false;
        }
        *s = json!({"phase": "Ready", "URL": root_url(state, ROOT)});
        true
    })
    .await
    .unwrap_or_else(|e| tracing::warn!(error = %e, "marking root ready"));
    let wt_def = super::kcp_def::<kcp::WorkspaceType>(state);
    for t in types::builtin_types() {
        super::create_ignoring_conflict(state, MANAGER, ROOT, &wt_def, t)
            .await
            .map_err(|e| e.to_string())?;
    }

    // Every existing workspace addressable before the controller starts.
    crate::tenancy::index::follow(state)
        .await
        .map_err(|e| format!("indexing workspaces: {e}"))?;
    Ok(state.store.storage.current_revision())
}

fn root_url(state: &AppState, path: &str) -> String {
    format!("https://{}/clusters/{path}", state.config.external_address)
}

/// How many workspaces are reconciled at once.
const CONCURRENCY: usize = 128;

/// A Workspace: (parent cluster, name).
type Key = (String, String);

/// Runs until the server shuts down, following changes after `from` (the
/// revision [`bootstrap`] read at).
pub async fn run(state: AppState, from: u64) {
    let storage = state.store.storage.clone();
    // Everything not Ready (or deleting) gets a look on start; any change
    // to a Workspace, or to the LogicalCluster it owns, later.
    let ws = Watch::new(storage.clone(), workspaces().all_clusters(), |c| {
        if c.kind == ChangeKind::Listed {
            let Some(ws) = c.object() else {
                return Vec::new();
            };
            let ready = kcp::from_value::<Workspace>(&ws)
                .is_ok_and(|w| w.status.phase == kcp::phase::READY);
            if ready && !meta::is_deleting(&ws) {
                return Vec::new();
            }
        }
        c.parts()
            .map(|p| (p.cluster.to_string(), p.name.to_string()))
            .into_iter()
            .collect()
    })
    .from(from);
    let lcs = Watch::new(storage, logical_clusters().all_clusters(), |c| {
        if c.kind == ChangeKind::Listed {
            return Vec::new();
        }
        c.object()
            .and_then(|lc| owner(&kcp::from_value(&lc).ok()?))
            .into_iter()
            .collect()
    })
    .from(from);
    Controller::new("workspace", state.shutdown.clone())
        .watches(ws)
        .watches(lcs)
        .concurrency(CONCURRENCY)
        .run(
            state,
            |st: AppState, (cluster, name): Key| async move { reconcile(&st, &cluster, &name).await },
            super::error_policy("workspace"),
        )
        .await
}

/// The Workspace a LogicalCluster belongs to.
fn owner(lc: &LogicalCluster) -> Option<Key> {
    let o = lc.spec.owner.as_ref()?;
    if o.cluster.is_empty() || o.name.is_empty() {
        return None;
    }
    Some((o.cluster.clone(), o.name.clone()))
}

/// One pass over Workspace `name` in `cluster`.
pub async fn reconcile(state: &AppState, cluster: &str, name: &str) -> Result<Action, Error> {
    let storage = &state.store.storage;
    let Some(ws) = types::get(storage, &workspaces(), cluster, name)
        .await
        .map_err(Error::Read)?
    else {
        return Ok(Action::await_change());
    };
    // The JSON for the finalizer's writes, the typed object for reading.
    let typed: Workspace =
        kcp::from_value(&ws).map_err(|e| Error::Read(format!("decoding workspace {name}: {e}")))?;
    let Some(parent) = state.clusters.resolve(cluster).await else {
        // The parent itself is going away; its deletion handles this one.
        return Ok(if meta::is_deleting(&ws) {
            Action::requeue(RETRY)
        } else {
            Action::await_change()
        });
    };
    let child = typed.spec.cluster.clone();
    let path = format!("{}:{name}", parent.path);
    match finalizer::phase(&ws, FINALIZER) {
        Phase::Apply => {}
        Phase::Released => return Ok(Action::await_change()),
        Phase::Cleanup => {
            let ws_def = super::kcp_def::<Workspace>(state);
            return finalizer::finalize(
                &state.store,
                &ctx(cluster, &ws_def, None),
                &ws,
                FINALIZER,
                || delete_subtree(state, cluster, name, &child),
            )
            .await;
        }
    }
    if child.is_empty() {
        return Ok(Action::await_change());
    }
    match typed.status.phase.as_str() {
        "" | kcp::phase::SCHEDULING => schedule(state, cluster, name, &typed, &child, &path).await,
        kcp::phase::INITIALIZING => initialize(state, cluster, name, &child).await,
        _ => Ok(Action::await_change()),
    }
}

async fn schedule(
    state: &AppState,
    cluster: &str,
    name: &str,
    ws: &Workspace,
    child: &str,
    path: &str,
) -> Result<Action, Error> {
    let storage = &state.store.storage;
    // Admission always writes both; a type missing from storage is taken
    // for the universal one.
    let (tpath, tname) = match &ws.spec.type_ {
        Some(t) => (t.path.as_str(), t.name.as_str()),
        None => (ROOT, "universal"),
    };
    let (initializers, default_bindings, terminators) =
        match types::get_type(storage, tpath, tname).await {
            Ok(Some(t)) => match types::aliases(storage, &t).await {
                Ok(all) => {
                    let flagged = |f: fn(&types::Type) -> bool| {
                        let mut v: Vec<String> = all
                            .iter()
                            .filter(|t| f(t))
                            .map(types::Type::qualified)
                            .collect();
                        v.dedup();
                        v
                    };
                    let mut v = flagged(types::Type::is_initializer);
                    let bindings = default_bindings(&all);
                    if !bindings.is_empty() {
                        v.push(APIBINDINGS.to_string());
                    }
                    (v, bindings, flagged(types::Type::is_terminator))
                }
                Err(e) => return Err(Error::Read(format!("resolving workspace type: {e}"))),
            },
            // The type was deleted since admission: nothing to initialize.
            Ok(None) => (Vec::new(), Vec::new(), Vec::new()),
            Err(e) => return Err(Error::Read(format!("resolving workspace type: {e}"))),
        };
    // The server's own initializer runs before the LogicalCluster exists,
    // so a workspace of the built-in types is Ready in one pass (five
    // writes) instead of going through Initializing.
    let mut initializers = initializers;
    if initializers.iter().any(|i| i == UNIVERSAL) {
        let ns_def = namespaces(state);
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
        super::create_ignoring_conflict(state, MANAGER, child, &ns_def, ns).await?;
        initializers.retain(|i| i != UNIVERSAL);
    }
    for (export_path, export) in &default_bindings {
        let b = default_binding(state, ws, child, export_path, export).await;
        let b_def = super::kcp_def::<APIBinding>(state);
        super::create_ignoring_conflict(state, MANAGER, child, &b_def, b).await?;
    }
    let ready = initializers.is_empty();
    let phase = if ready { "Ready" } else { "Initializing" };
    let url = root_url(state, path);
    let lc_def = super::kcp_def::<LogicalCluster>(state);
    let mut annotations = std::collections::BTreeMap::from([
        (TYPE_ANNOTATION.to_string(), format!("{tpath}:{tname}")),
        (PATH_ANNOTATION.to_string(), path.to_string()),
    ]);
    if let Some(owner) = owner_annotation(ws) {
        annotations.insert(OWNER_ANNOTATION.into(), owner.into());
    }
    let lc = kcp::to_value(&LogicalCluster {
        metadata: ObjectMeta {
            name: Some(LOGICAL_CLUSTER.into()),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: LogicalClusterSpec {
            owner: Some(LogicalClusterOwner {
                api_version: <Workspace as kcp::KcpObject>::API_VERSION.into(),
                resource: "workspaces".into(),
                name: name.into(),
                namespace: String::new(),
                cluster: cluster.into(),
                uid: ws.metadata.uid.clone().unwrap_or_default(),
            }),
            initializers: initializers.clone(),
            terminators: terminators.clone(),
            ..Default::default()
        },
        ..Default::default()
    });
    super::create_ignoring_conflict(state, MANAGER, child, &lc_def, lc).await?;
    if let Some(binding) = owner_binding(ws) {
        let crb_def = state
            .clusters
            .builtin_registry()
            .get(RBAC_GROUP, "v1", "clusterrolebindings")
            .expect("RBAC is built in")
            .clone();
        super::create_ignoring_conflict(state, MANAGER, child, &crb_def, binding).await?;
    }
    let inits = initializers.clone();
    let u = url.clone();
    super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").is_some() {
            return false;
        }
        *s = json!({"phase": phase, "initializers": inits, "terminators": terminators, "URL": u});
        true
    })
    .await?;
    let ws_def = super::kcp_def::<Workspace>(state);
    state
        .store
        .update_existing(&ctx(cluster, &ws_def, None), name, |cur| {
            cur["spec"]["URL"] = json!(url);
            Ok(())
        })
        .await
        .map_err(Error::write("setting workspace URL"))?;
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
    .await?;
    // What is left (Initializing) follows from the status event.
    Ok(Action::await_change())
}

async fn initialize(
    state: &AppState,
    cluster: &str,
    name: &str,
    child: &str,
) -> Result<Action, Error> {
    let storage = &state.store.storage;
    let lc_def = super::kcp_def::<LogicalCluster>(state);
    let Some(lc) =
        types::get_as::<LogicalCluster>(storage, &logical_clusters(), child, LOGICAL_CLUSTER)
            .await
            .map_err(Error::Read)?
    else {
        return Ok(Action::await_change());
    };
    let mut inits = lc.status.initializers;
    if inits.iter().any(|i| i == UNIVERSAL) {
        let ns_def = namespaces(state);
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
        super::create_ignoring_conflict(state, MANAGER, child, &ns_def, ns).await?;
        super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
            let Some(a) = s.get_mut("initializers").and_then(Value::as_array_mut) else {
                return false;
            };
            a.retain(|i| i != UNIVERSAL);
            true
        })
        .await?;
        inits.retain(|i| i != UNIVERSAL);
    }
    if inits.iter().any(|i| i == APIBINDINGS) {
        let b_def = super::kcp_def::<APIBinding>(state);
        let Ok(prefix) = b_def.keyspace.cluster(child) else {
            return Ok(Action::await_change());
        };
        let items = super::list(state, prefix, ReadAt::Latest).await?;
        let all_bound = items.iter().all(|rec| {
            serde_json::from_slice::<APIBinding>(&rec.value)
                .is_ok_and(|b| b.status.phase == kcp::phase::BOUND)
        });
        if !all_bound {
            // Bindings in the child are not watched here.
            return Ok(Action::requeue(RETRY));
        }
        super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
            let Some(a) = s.get_mut("initializers").and_then(Value::as_array_mut) else {
                return false;
            };
            a.retain(|i| i != APIBINDINGS);
            true
        })
        .await?;
        inits.retain(|i| i != APIBINDINGS);
    }
    let ws_def = super::kcp_def::<Workspace>(state);
    let now = meta::now_rfc3339();
    if !inits.is_empty() {
        // Waiting for external initializers (their writes to the
        // LogicalCluster trigger the next pass); mirror what is left.
        super::set_status(state, MANAGER, cluster, &ws_def, name, |s| {
            if s.get("initializers") == Some(&json!(inits)) {
                return false;
            }
            s["initializers"] = json!(inits);
            true
        })
        .await?;
        return Ok(Action::await_change());
    }
    super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").and_then(Value::as_str) == Some("Ready") {
            return false;
        }
        s["phase"] = json!("Ready");
        true
    })
    .await?;
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
    .await?;
    Ok(Action::await_change())
}

/// Deletes the subtree of a deleted Workspace (`name` in `cluster`,
/// logical cluster `child`) once its terminators are done: its child
/// workspaces first (each runs this same flow), then every stored object.
/// Done once nothing is left; the Workspace's finalizer then goes.
async fn delete_subtree(
    state: &AppState,
    cluster: &str,
    name: &str,
    child: &str,
) -> Result<Cleanup, Error> {
    if child.is_empty() {
        return Ok(Cleanup::Done);
    }
    let ws_def = super::kcp_def::<Workspace>(state);
    // No new children from now on (admission checks this phase).
    let lc_def = super::kcp_def::<LogicalCluster>(state);
    let spec_terminators = types::get_as::<LogicalCluster>(
        &state.store.storage,
        &logical_clusters(),
        child,
        LOGICAL_CLUSTER,
    )
    .await
    .map_err(Error::Read)?
    .map(|lc| lc.spec.terminators)
    .unwrap_or_default();
    // Terminators work on the content, so it stays until the last has
    // removed itself from the LogicalCluster's status.terminators (whose
    // change brings the Workspace back here).
    let mut terminators = Vec::new();
    super::set_status(state, MANAGER, child, &lc_def, LOGICAL_CLUSTER, |s| {
        if s.get("phase").is_none() {
            // Scheduling stopped before the status was written: the
            // terminators are still the spec's.
            s["terminators"] = json!(spec_terminators);
        }
        terminators = meta::strings_at(s, "/terminators");
        if s.get("phase").and_then(Value::as_str) == Some("Terminating") {
            return false;
        }
        s["phase"] = json!("Terminating");
        true
    })
    .await?;
    super::set_status(state, MANAGER, cluster, &ws_def, name, |s| {
        let mirrored = json!(terminators);
        if s.get("terminators").unwrap_or(&json!([])) == &mirrored
            && s.get("phase").and_then(Value::as_str) == Some("Terminating")
        {
            return false;
        }
        // A scheduling or initializing pass racing the deletion may have
        // written its own phase.
        s["phase"] = json!("Terminating");
        s["terminators"] = mirrored;
        true
    })
    .await?;
    if !terminators.is_empty() {
        return Ok(Cleanup::Pending(Action::await_change()));
    }
    let kids = list_all(
        state,
        workspaces().cluster(child).expect("valid cluster"),
        ReadAt::Latest,
    )
    .await?;
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
        // The children finish in their own passes; look again.
        return Ok(Cleanup::Pending(Action::requeue(RETRY)));
    }
    purge(state, child).await?;
    state.clusters.forget_apis(child);
    Ok(Cleanup::Done)
}

/// Removes every stored object of logical cluster `child`, whatever its
/// finalizers: the workspace is gone, so nothing in it can be waited for.
async fn purge(state: &AppState, child: &str) -> Result<(), Error> {
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
            let page = storage
                .list(ListOptions {
                    prefix: prefix.clone(),
                    start_after: None,
                    limit: Some(500),
                    at: ReadAt::Latest,
                })
                .await?;
            if page.items.is_empty() {
                break;
            }
            let deletes = page.items.into_iter().map(|rec| {
                let storage = storage.clone();
                async move {
                    match storage.delete(rec.key, Preconditions::default()).await {
                        Ok(_) | Err(trellis_storage::Error::NotFound) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            });
            for r in futures::future::join_all(deletes).await {
                r?;
            }
        }
    }
    Ok(())
}
