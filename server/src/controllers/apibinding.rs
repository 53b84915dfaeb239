//! The APIBinding controller: binds, serves and unbinds exported APIs in
//! consumer clusters.
//!
//! Work is per consumer cluster, like the CRD controller's: the bindings
//! of one cluster compete for group/resources, so they are judged
//! together, oldest first, and the cluster's served set is rebuilt once
//! from the outcome. One pass:
//!
//! 1. each binding's desired status is computed ([`evaluate`]): the export
//!    is resolved (`spec.reference.export.path`, default the binding's own
//!    workspace) and must have an identity; the user who created the
//!    binding (recorded by admission in [`BINDER_ANNOTATION`]) needs the
//!    `bind` verb on the export in the provider's RBAC; every exported
//!    schema must exist; no built-in, CRD or other binding may already
//!    serve the group/resource (`NamingConflicts`, nothing is shadowed);
//!    permission claims the binding accepts must be ones the export makes.
//!    Conditions and reasons are kcp's;
//! 2. the served set is installed — before `Bound` is written, so a client
//!    that waits for the phase can use the resource at once;
//! 3. changed statuses are written through `/status`;
//! 4. a deleted binding's instances are deleted (admission refused the
//!    deletion unless there were none or the user asked for it with
//!    [`DELETE_INSTANCES_ANNOTATION`]), then its finalizer is dropped.
//!
//! Once bound, a binding stays bound: a later conflict or a broken export
//! only turns `BindingUpToDate` false and the last good resources stay
//! served. An export that moves to a new schema is followed (same
//! identity, so the stored objects stay).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use trellis_apis::crd::Condition;
use trellis_apis::kcp::export_label::{EXPORT_LABEL, export_label_value};
use trellis_apis::kcp::types::{
    self as kcp, APIBinding, APIBindingStatus, APIExport, APIResourceSchema, OwnerUserInfo,
    PermissionClaim,
};
use trellis_apis::rbac::attributes::{Attributes, UserInfo};
use trellis_storage::keys::Keyspace;
use trellis_storage::{ListOptions, ReadAt};

use super::Error;
use crate::authz::cache::scope_to_cluster;
use crate::cluster::{ApiSet, Source};
use crate::meta;
use crate::meta::str_at;
use crate::registry::BoundFrom;
use crate::registry::store::WriteCtx;
use crate::runtime::Action;
use crate::runtime::finalizer::{self, Cleanup, Phase};
use crate::sharing::bound;
use crate::sharing::keys::{bindings, exports, schemas};
use crate::state::AppState;
use crate::tenancy::types;

const MANAGER: &str = "trellis-apibinding-controller";
/// Keeps a binding until its instances are gone.
pub const FINALIZER: &str = "apis.kcp.io/apibinding-finalizer";
/// Who created the binding (JSON: username, uid, groups, extra); set by
/// admission, never by users.
pub const BINDER_ANNOTATION: &str = "apis.trellis.dev/binder";
/// `"true"` on a binding: deleting it deletes the bound resources'
/// instances instead of being refused while they exist.
pub const DELETE_INSTANCES_ANNOTATION: &str = "apis.trellis.dev/delete-instances";

fn crds() -> Keyspace {
    Keyspace::new("apiextensions.k8s.io", "customresourcedefinitions", None)
        .expect("valid keyspace")
}

async fn list(state: &AppState, ks: &Keyspace, cluster: &str) -> Result<Vec<Value>, Error> {
    let Ok(prefix) = ks.cluster(cluster) else {
        return Ok(Vec::new());
    };
    let items = super::list(state, prefix, ReadAt::Latest).await?;
    Ok(items
        .iter()
        .filter_map(|r| serde_json::from_slice(&r.value).ok())
        .collect())
}

/// The (group, resource, schema name, identity hash) a binding's status
/// says it serves.
fn bound_resources(status: &APIBindingStatus) -> Vec<(String, String, String, String)> {
    status
        .bound_resources
        .iter()
        .map(|r| {
            (
                r.group.clone(),
                r.resource.clone(),
                r.schema.name.clone(),
                r.schema.identity_hash.clone(),
            )
        })
        .collect()
}

/// Reads stored bindings; one that does not decode fails the pass.
/// Reads stored bindings typed. One that does not decode (the schema
/// admits none such) is left out with a warning, so it cannot hold up the
/// others of its cluster.
fn typed(cluster: &str, bindings: &mut Vec<Value>) -> Vec<APIBinding> {
    let mut out = Vec::with_capacity(bindings.len());
    bindings.retain(|b| match kcp::from_value(b) {
        Ok(t) => {
            out.push(t);
            true
        }
        Err(e) => {
            tracing::warn!(cluster, binding = meta::name(b), error = %e, "an APIBinding does not decode; skipped");
            false
        }
    });
    out
}

/// The keyspace of one bound resource.
pub fn bound_keyspace(group: &str, resource: &str, identity: &str) -> Option<Keyspace> {
    Keyspace::new(group, resource, Some(identity)).ok()
}

/// How many objects of the binding's resources exist in `cluster`, by
/// `resource.group`.
pub async fn instance_counts(
    storage: &Arc<dyn trellis_storage::Storage>,
    cluster: &str,
    binding: &APIBinding,
) -> Result<BTreeMap<String, usize>, String> {
    let mut out = BTreeMap::new();
    for (group, resource, _, identity) in bound_resources(&binding.status) {
        let Some(prefix) =
            bound_keyspace(&group, &resource, &identity).and_then(|k| k.cluster(cluster).ok())
        else {
            continue;
        };
        let page = storage
            .list(ListOptions::all(prefix, ReadAt::Latest))
            .await
            .map_err(|e| e.to_string())?;
        if !page.items.is_empty() {
            out.insert(format!("{resource}.{group}"), page.items.len());
        }
    }
    Ok(out)
}

/// The user recorded on a binding; `None` for bindings the server made.
/// An annotation that does not decode is a user nobody is (the `bind`
/// check then fails), never "no check".
fn binder(b: &APIBinding) -> Option<UserInfo> {
    let raw = b.metadata.annotations.as_ref()?.get(BINDER_ANNOTATION)?;
    let u: OwnerUserInfo = serde_json::from_str(raw).unwrap_or_default();
    Some(UserInfo {
        name: u.username,
        uid: u.uid,
        groups: u.groups,
        extra: u.extra,
    })
}

/// The annotation value recording `user` as a binding's creator.
pub fn binder_annotation(user: &UserInfo) -> String {
    json!({"username": user.name, "uid": user.uid, "groups": user.groups, "extra": user.extra})
        .to_string()
}

/// What one binding should say and serve.
struct Evaluated {
    status: Value,
    /// Something may change without an event (a grant, a schema).
    retry: bool,
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition::new(type_, status, reason, message)
}

/// The export a binding references: (provider cluster name, provider
/// path, export name).
async fn reference(
    state: &AppState,
    consumer: &str,
    b: &APIBinding,
) -> Option<(String, String, String)> {
    let (path, name) = b.export();
    if name.is_empty() {
        return None;
    }
    let path = if path.is_empty() { consumer } else { path };
    let lc = state.clusters.resolve(path).await?;
    Some((lc.name, lc.path, name.to_string()))
}

/// How a binding refers to its export in messages: kcp's `path|name`.
fn export_label(b: &APIBinding, consumer_path: &str) -> String {
    let (path, name) = b.export();
    let path = if path.is_empty() { consumer_path } else { path };
    format!("{path}|{name}")
}

/// Who holds each group/resource in a cluster while its bindings are
/// judged.
struct Holders {
    builtin: BTreeSet<(String, String)>,
    /// (group, plural) → CRD name.
    crds: BTreeMap<(String, String), String>,
    /// (group, plural) → (binding name, export description).
    bindings: BTreeMap<(String, String), (String, String)>,
}

impl Holders {
    /// Who else serves `group`/`resource`, if anyone. A built-in tenancy
    /// resource bound from one of root's system exports is the built-in
    /// itself (`sharing::system`): no conflict. Nothing else is waived.
    fn conflict(&self, me: &str, group: &str, resource: &str, system: bool) -> Option<String> {
        let k = (group.to_string(), resource.to_string());
        let forbidden = format!("spec.names.plural={resource} is forbidden");
        if self.builtin.contains(&k) {
            if system && group == crate::sharing::system::TENANCY_GROUP {
                return None;
            }
            return Some(format!(
                "naming conflict with a built-in resource: {forbidden}"
            ));
        }
        if let Some(crd) = self.crds.get(&k) {
            return Some(format!(
                "naming conflict with CustomResourceDefinition {crd:?}: {forbidden}"
            ));
        }
        match self.bindings.get(&k) {
            Some((b, export)) if b != me => Some(format!(
                "naming conflict with APIBinding {b:?} bound to {export}: {forbidden}"
            )),
            _ => None,
        }
    }
}

/// Judges one binding (not being deleted) against the cluster.
async fn evaluate(
    state: &AppState,
    consumer_path: &str,
    (raw, b): (&Value, &APIBinding),
    holders: &Holders,
    now: &str,
) -> Evaluated {
    // The status is edited as JSON: what this controller does not know
    // of it stays.
    let mut status = raw.get("status").cloned().unwrap_or_else(|| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let was_bound = !b.status.bound_resources.is_empty();
    let label = export_label(b, consumer_path);
    let name = b.metadata.name.as_deref().unwrap_or("");
    // Sets the outcome when the export cannot be used (yet).
    let export_invalid = |status: &mut Value, reason: &str, message: String| {
        super::put_condition(
            status,
            &cond("APIExportValid", "False", reason, &message),
            now,
        );
        if !was_bound {
            status["phase"] = json!("Binding");
            let waiting = cond(
                "InitialBindingCompleted",
                "False",
                "WaitingForEstablished",
                "Waiting for API(s) to be established",
            );
            super::put_condition(status, &waiting, now);
            super::put_condition(
                status,
                &cond("Ready", "False", "WaitingForEstablished", &waiting.message),
                now,
            );
        }
    };
    let Some((provider, provider_path, export_name)) = reference(state, consumer_path, b).await
    else {
        export_invalid(
            &mut status,
            "APIExportNotFound",
            format!("APIExport {label} not found"),
        );
        return Evaluated {
            status,
            retry: true,
        };
    };
    let storage = &state.store.storage;
    let export =
        match types::get_as::<APIExport>(storage, &exports(), &provider, &export_name).await {
            Ok(Some(e)) if e.metadata.deletion_timestamp.is_none() => e,
            Ok(_) => {
                export_invalid(
                    &mut status,
                    "APIExportNotFound",
                    format!("APIExport {label} not found"),
                );
                return Evaluated {
                    status,
                    retry: true,
                };
            }
            Err(e) => {
                export_invalid(
                    &mut status,
                    "InternalError",
                    format!("Error getting APIExport {label}: {e}"),
                );
                return Evaluated {
                    status,
                    retry: true,
                };
            }
        };
    // Only an identity that verifies against the export's key: objects
    // bound under a hash are visible to whoever serves that hash.
    let identity = match super::apiexport::verified_identity(state, &provider, &export).await {
        Ok(Some(h)) => h,
        Ok(None) => {
            export_invalid(
                &mut status,
                "MissingIdentityHash",
                format!("APIExport {label} is missing status.identityHash"),
            );
            return Evaluated {
                status,
                retry: true,
            };
        }
        Err(e) => {
            export_invalid(
                &mut status,
                "InternalError",
                format!("Error getting APIExport {label}: {e}"),
            );
            return Evaluated {
                status,
                retry: true,
            };
        }
    };
    // kcp checks `bind` when the binding is created; the result is a
    // condition here so a missing grant can be fixed without recreating
    // the binding. A bound binding was allowed once and stays.
    if !was_bound && let Some(user) = binder(b) {
        let user = scope_to_cluster(user, Some(&provider));
        let attrs = Attributes::resource(
            user,
            "bind",
            "",
            trellis_apis::kcp::GROUP,
            "",
            "apiexports",
            "",
            &export_name,
        );
        let allowed = state
            .authz
            .authorize_rbac(&provider, &attrs)
            .await
            .map(|d| d.is_allowed())
            .unwrap_or(false);
        if !allowed {
            export_invalid(
                &mut status,
                "BindForbidden",
                format!(
                    "no permission to bind to export {provider_path}:{export_name}: user {:?} needs the \"bind\" verb on apiexports {export_name:?} in {provider_path}",
                    attrs.user.name
                ),
            );
            return Evaluated {
                status,
                retry: true,
            };
        }
    }

    // The export's resources, each with its schema.
    let mut wanted: Vec<(String, String, APIResourceSchema)> = Vec::new();
    let mut problem: Option<(&str, String)> = None;
    for r in &export.spec.resources {
        let (group, plural, schema_name) = (r.group.as_str(), r.name.as_str(), r.schema.as_str());
        if r.storage.crd.is_none() {
            problem = Some((
                "APIResourceSchemaInvalid",
                format!(
                    "APIExport {label} resource {plural}.{group}: only storage.crd is supported"
                ),
            ));
            break;
        }
        match types::get_as::<APIResourceSchema>(storage, &schemas(), &provider, schema_name).await
        {
            Ok(Some(s)) if s.spec.group == group && s.spec.names.plural == plural => {
                wanted.push((group.to_string(), plural.to_string(), s));
            }
            Ok(Some(_)) => {
                problem = Some((
                    "APIResourceSchemaInvalid",
                    format!(
                        "APIResourceSchema {provider_path}|{schema_name} is invalid: it does not define {plural}.{group}"
                    ),
                ));
                break;
            }
            Ok(None) => {
                problem = Some((
                    "InternalError",
                    format!(
                        "Invalid APIExport. Please contact the APIExport owner to resolve: APIResourceSchema {schema_name:?} not found"
                    ),
                ));
                break;
            }
            Err(e) => {
                problem = Some(("InternalError", e));
                break;
            }
        }
    }
    if let Some((reason, message)) = problem {
        if reason == "InternalError" {
            export_invalid(&mut status, reason, message);
        } else {
            super::put_condition(&mut status, &cond("APIExportValid", "True", "", ""), now);
            not_up_to_date(&mut status, was_bound, reason, &message, now);
        }
        return Evaluated {
            status,
            retry: true,
        };
    }
    super::put_condition(&mut status, &cond("APIExportValid", "True", "", ""), now);

    let system = crate::sharing::system::is_system(&provider, &export_name);
    let conflicts: Vec<String> = wanted
        .iter()
        .filter_map(|(g, r, _)| holders.conflict(name, g, r, system))
        .collect();
    claims(&mut status, b, &export, now);
    if !conflicts.is_empty() {
        let message = format!("Unable to bind APIs: {}", conflicts.join("; "));
        not_up_to_date(&mut status, was_bound, "NamingConflicts", &message, now);
        return Evaluated {
            status,
            retry: true,
        };
    }

    let previous: BTreeMap<(&str, &str), &[String]> = b
        .status
        .bound_resources
        .iter()
        .map(|r| {
            (
                (r.group.as_str(), r.resource.as_str()),
                r.storage_versions.as_slice(),
            )
        })
        .collect();
    let bound: Vec<Value> = wanted
        .iter()
        .map(|(group, plural, s)| {
            let mut versions: BTreeSet<String> = previous
                .get(&(group.as_str(), plural.as_str()))
                .map(|v| v.to_vec())
                .unwrap_or_default()
                .into_iter()
                .collect();
            if let Some(v) = s.storage_version() {
                versions.insert(v.to_string());
            }
            json!({
                "group": group,
                "resource": plural,
                "schema": {
                    "name": s.metadata.name.as_deref().unwrap_or(""),
                    "UID": s.metadata.uid.as_deref().unwrap_or(""),
                    "identityHash": identity,
                },
                "storageVersions": versions,
            })
        })
        .collect();
    status["boundResources"] = json!(bound);
    status["apiExportClusterName"] = json!(provider);
    status["phase"] = json!("Bound");
    for t in ["InitialBindingCompleted", "BindingUpToDate", "Ready"] {
        super::put_condition(&mut status, &cond(t, "True", "", ""), now);
    }
    Evaluated {
        status,
        retry: false,
    }
}

/// The export changed in a way the binding cannot follow (yet).
fn not_up_to_date(status: &mut Value, was_bound: bool, reason: &str, message: &str, now: &str) {
    super::put_condition(
        status,
        &cond("BindingUpToDate", "False", reason, message),
        now,
    );
    if !was_bound {
        status["phase"] = json!("Binding");
        super::put_condition(
            status,
            &cond("InitialBindingCompleted", "False", reason, message),
            now,
        );
        super::put_condition(status, &cond("Ready", "False", reason, message), now);
    }
}

fn verbs(c: &PermissionClaim) -> BTreeSet<&str> {
    c.verbs.iter().map(String::as_str).collect()
}

/// Mirrors the export's claims and applies the ones the binding accepts.
fn claims(status: &mut Value, b: &APIBinding, export: &APIExport, now: &str) {
    let offered = &export.spec.permission_claims;
    let mut invalid = Vec::new();
    let mut applied = Vec::new();
    for decided in &b.spec.permission_claims {
        let c = &decided.scoped.claim;
        let matches = offered
            .iter()
            .any(|o| o.gri() == c.gri() && verbs(o) == verbs(c));
        if !matches {
            let (g, r, id) = c.gri();
            let gr = if g.is_empty() {
                r.to_string()
            } else {
                format!("{r}.{g}")
            };
            invalid.push(if id.is_empty() {
                gr
            } else {
                format!("{gr}:{id}")
            });
            continue;
        }
        if decided.state == "Accepted" {
            // A claim without a selector (never admitted, but stored
            // before that rule) covers everything.
            let selector = match &decided.scoped.selector {
                s if *s == Default::default() => json!({"matchAll": true}),
                s => json!(s),
            };
            let mut a = json!({"group": c.group, "resource": c.resource, "verbs": verbs(c), "selector": selector});
            if !c.identity_hash.is_empty() {
                a["identityHash"] = json!(c.identity_hash);
            }
            applied.push(a);
        }
    }
    status["exportPermissionClaims"] = json!(offered);
    status["appliedPermissionClaims"] = json!(applied);
    let valid = if invalid.is_empty() {
        cond("PermissionClaimsValid", "True", "", "")
    } else {
        const SHOWN: usize = 5;
        let shown: Vec<&str> = invalid.iter().take(SHOWN).map(String::as_str).collect();
        cond(
            "PermissionClaimsValid",
            "False",
            "InvalidPermissionClaims",
            &format!(
                "{} unexpected and/or invalid permission claims (showing first {}): {}",
                invalid.len(),
                shown.len(),
                shown.join(", ")
            ),
        )
    };
    super::put_condition(status, &valid, now);
    super::put_condition(
        status,
        &cond("PermissionClaimsApplied", "True", "", ""),
        now,
    );
}

/// Installs what `cluster` serves for `bindings` (their statuses as they
/// will be written).
/// A schema that could not be read leaves its resource out and fails the
/// pass (after the rest is installed), so it is tried again.
async fn serve(state: &AppState, cluster: &str, bindings: &[APIBinding]) -> Result<(), Error> {
    let mut set = ApiSet::default();
    let mut failed = None;
    for b in bindings {
        let provider = b.status.api_export_cluster_name.as_str();
        let name = b.metadata.name.as_deref().unwrap_or("");
        let resources = bound_resources(&b.status);
        if provider.is_empty() || resources.is_empty() {
            continue;
        }
        let provider_path = state
            .clusters
            .resolve(provider)
            .await
            .map(|lc| lc.path)
            .unwrap_or_else(|| provider.to_string());
        let terminating = b.metadata.deletion_timestamp.is_some();
        let system = crate::sharing::system::is_system(provider, b.export().1);
        let builtin = state.clusters.builtin_registry();
        for (group, resource, schema_name, identity) in resources {
            if system
                && group == crate::sharing::system::TENANCY_GROUP
                && builtin
                    .all()
                    .any(|d| d.group == group && d.resource == resource)
            {
                // Served by the built-in, over the same data.
                continue;
            }
            let schema =
                match types::get(&state.store.storage, &schemas(), provider, &schema_name).await {
                    Ok(Some(s)) => s,
                    Ok(None) => {
                        tracing::warn!(
                            cluster,
                            binding = name,
                            schema = %schema_name,
                            "a bound APIResourceSchema is gone; its resource is not served"
                        );
                        continue;
                    }
                    Err(e) => {
                        failed = Some(Error::Read(e));
                        continue;
                    }
                };
            let built = match state.bound_apis.get(
                &schema,
                &identity,
                terminating,
                &state.definitions,
                &state.store.policies.egress(),
            ) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(cluster, schema = %schema_name, error = %e, "a bound schema cannot be served");
                    continue;
                }
            };
            let from = Arc::new(BoundFrom {
                binding: name.to_string(),
                export_cluster: provider.to_string(),
                export_path: provider_path.clone(),
                export_name: b.export().1.to_string(),
                identity_hash: identity.clone(),
            });
            bound::add(&built, &from, &mut set.defs, &mut set.definitions);
        }
    }
    state.clusters.install(cluster, Source::Bindings, set);
    failed.map_or(Ok(()), Err)
}

/// Installs every cluster's bound resources from stored bindings, before
/// the server takes requests.
pub async fn load(state: &AppState, rev: u64) {
    let Some(items) = super::scan(state, bindings().all_clusters(), ReadAt::Revision(rev)).await
    else {
        return;
    };
    let mut by_cluster: BTreeMap<String, Vec<APIBinding>> = BTreeMap::new();
    for rec in items {
        let (Some(parts), Ok(obj)) = (
            trellis_storage::keys::parse(&rec.key),
            serde_json::from_slice::<APIBinding>(&rec.value),
        ) else {
            continue;
        };
        by_cluster
            .entry(parts.cluster.to_string())
            .or_default()
            .push(obj);
    }
    for (cluster, bs) in by_cluster {
        if let Err(e) = serve(state, &cluster, &bs).await {
            // The controller's first pass tries again.
            tracing::warn!(cluster, error = %e, "serving bound resources");
        }
    }
}

/// One pass over the bindings of `cluster`.
pub async fn reconcile(state: &AppState, cluster: &str) -> Result<Action, Error> {
    let mut current = list(state, &bindings(), cluster).await?;
    let crd_objs = list(state, &crds(), cluster).await?;
    let consumer_path = state
        .clusters
        .resolve(cluster)
        .await
        .map(|lc| lc.path)
        .unwrap_or_else(|| cluster.to_string());
    current.sort_by(|a, b| {
        let ts = |o: &Value| meta::str_field(o, "creationTimestamp").to_string();
        ts(a).cmp(&ts(b)).then(meta::name(a).cmp(meta::name(b)))
    });
    let read = typed(cluster, &mut current);
    let builtin = state.clusters.builtin_registry();
    let mut holders = Holders {
        builtin: builtin
            .all()
            .map(|d| (d.group.clone(), d.resource.clone()))
            .collect(),
        crds: BTreeMap::new(),
        bindings: BTreeMap::new(),
    };
    for c in &crd_objs {
        let group = str_at(c, "/spec/group").to_string();
        for plural in [
            str_at(c, "/spec/names/plural"),
            str_at(c, "/status/acceptedNames/plural"),
        ] {
            if !plural.is_empty() {
                holders.crds.insert(
                    (group.clone(), plural.to_string()),
                    meta::name(c).to_string(),
                );
            }
        }
    }
    // Bound bindings hold what they serve against newcomers.
    let describe = |b: &APIBinding| -> String {
        match b.export() {
            ("", name) => format!("local APIExport {name:?}"),
            (p, name) => format!("APIExport {p}:{name}"),
        }
    };
    let name_of = |b: &APIBinding| b.metadata.name.clone().unwrap_or_default();
    for b in &read {
        for (g, r, _, _) in bound_resources(&b.status) {
            holders
                .bindings
                .entry((g, r))
                .or_insert_with(|| (name_of(b), describe(b)));
        }
    }
    let now = meta::now_rfc3339();
    let mut action = Action::await_change();
    let mut changed = Vec::new();
    for (b, typed_b) in current.iter_mut().zip(&read) {
        if meta::is_deleting(b) {
            continue;
        }
        let e = evaluate(state, &consumer_path, (b, typed_b), &holders, &now).await;
        if e.retry {
            action = action.min(Action::requeue(super::apiexport::RETRY));
        }
        let new_status = APIBindingStatus::deserialize(&e.status).unwrap_or_default();
        for (g, r, _, _) in bound_resources(&new_status) {
            holders
                .bindings
                .entry((g, r))
                .or_insert_with(|| (name_of(typed_b), describe(typed_b)));
        }
        if b.get("status") != Some(&e.status) {
            b["status"] = e.status;
            changed.push(meta::name(b).to_string());
        }
    }
    // Every step runs even when one fails; the pass fails afterwards.
    // Served as the statuses will be written.
    let read = typed(cluster, &mut current);
    let mut failed = serve(state, cluster, &read).await.err();
    let def = super::kcp_def::<APIBinding>(state);
    for b in &current {
        if !changed.iter().any(|n| n == meta::name(b)) {
            continue;
        }
        let status = b["status"].clone();
        if let Err(e) = super::set_status(state, MANAGER, cluster, &def, meta::name(b), |s| {
            if *s == status {
                return false;
            }
            *s = status.clone();
            true
        })
        .await
        {
            failed = Some(e);
        }
    }
    let ctx = WriteCtx::system(cluster, &def, None, None, MANAGER);
    // The export label names the export the binding is bound to; admission
    // sets it when the reference resolves at create, this covers bindings
    // that bound later (and those stored before the label existed).
    for (b, typed_b) in current.iter().zip(&read) {
        let export_cluster = typed_b.status.api_export_cluster_name.as_str();
        if meta::is_deleting(b) || export_cluster.is_empty() {
            continue;
        }
        let want = export_label_value(export_cluster, typed_b.export().1);
        if meta::label(b, EXPORT_LABEL) == Some(want.as_str()) {
            continue;
        }
        if let Err(e) = super::edit(state, &ctx, meta::name(b), |cur| {
            if meta::label(cur, EXPORT_LABEL) == Some(want.as_str()) {
                return false;
            }
            meta::set_label(cur, EXPORT_LABEL, Some(&want));
            true
        })
        .await
            && e.code() != 404
        {
            failed = Some(Error::write("labelling a binding with its export")(e));
        }
    }
    for (b, typed_b) in current.iter().zip(&read) {
        if finalizer::phase(b, FINALIZER) != Phase::Cleanup {
            continue;
        }
        match finalizer::finalize(&state.store, &ctx, b, FINALIZER, || {
            unbind(state, cluster, typed_b, &now)
        })
        .await
        {
            Ok(a) => action = action.min(a),
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(action),
    }
}

/// Deletes a deleted binding's instances; done once none are left.
async fn unbind(
    state: &AppState,
    cluster: &str,
    b: &APIBinding,
    now: &str,
) -> Result<Cleanup, Error> {
    let name = b.metadata.name.as_deref().unwrap_or("");
    let def = super::kcp_def::<APIBinding>(state);
    let registry = state.clusters.apis_of(cluster).registry.clone();
    let mut remaining = Vec::new();
    for (group, resource, _, identity) in bound_resources(&b.status) {
        let Some(prefix) =
            bound_keyspace(&group, &resource, &identity).and_then(|k| k.cluster(cluster).ok())
        else {
            continue;
        };
        let items = super::list(state, prefix, ReadAt::Latest).await?;
        if items.is_empty() {
            continue;
        }
        remaining.push(format!(
            "{resource}.{group} has {} resource instances",
            items.len()
        ));
        // Any served version's definition addresses the keyspace.
        if let Some(rdef) = registry.all().find(|d| {
            d.group == group
                && d.resource == resource
                && d.bound
                    .as_ref()
                    .is_some_and(|f| f.identity_hash == identity)
        }) {
            super::delete_records(state, MANAGER, cluster, rdef, items).await;
        }
    }
    if remaining.is_empty() {
        return Ok(Cleanup::Done);
    }
    let c = cond(
        "BindingResourceDeleteSuccess",
        "False",
        "SomeResourcesRemain",
        &format!("Some resources are remaining: {}", remaining.join(", ")),
    );
    super::set_status(state, MANAGER, cluster, &def, name, |s| {
        super::put_condition(s, &c, now)
    })
    .await?;
    // Instances with finalizers of their own are waited for.
    Ok(Cleanup::Pending(Action::requeue(super::apiexport::RETRY)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binder_round_trips_through_its_annotation() {
        let mut user = UserInfo::new("alice").with_groups(["team", "system:authenticated"]);
        user.extra.insert(
            "authentication.kcp.io/cluster-name".into(),
            vec!["c1".into()],
        );
        let b = json!({"metadata": {"annotations": {BINDER_ANNOTATION: binder_annotation(&user)}}});
        assert_eq!(binder(&kcp::from_value(&b).unwrap()), Some(user));
        assert_eq!(binder(&APIBinding::default()), None);
        // Fails closed: a mangled annotation is a user nobody is.
        let mangled = json!({"metadata": {"annotations": {BINDER_ANNOTATION: "{not json"}}});
        let nobody = binder(&kcp::from_value(&mangled).unwrap()).unwrap();
        assert_eq!(nobody.name, "");
    }

    #[test]
    fn claims_must_match_the_export() {
        let export = json!({"spec": {"permissionClaims": [
            {"group": "", "resource": "secrets", "verbs": ["get", "create"]},
        ]}});
        let b = json!({"spec": {"permissionClaims": [
            {"group": "", "resource": "secrets", "verbs": ["get", "create"], "state": "Accepted", "selector": {"matchAll": true}},
            {"group": "", "resource": "configmaps", "verbs": ["get"], "state": "Accepted", "selector": {"matchAll": true}},
        ]}});
        let mut status = json!({});
        claims(
            &mut status,
            &kcp::from_value(&b).unwrap(),
            &kcp::from_value(&export).unwrap(),
            "t",
        );
        assert_eq!(
            status["appliedPermissionClaims"].as_array().unwrap().len(),
            1
        );
        assert_eq!(status["appliedPermissionClaims"][0]["resource"], "secrets");
        let c = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "PermissionClaimsValid")
            .unwrap();
        assert_eq!(c["status"], "False");
        assert_eq!(
            c["message"],
            "1 unexpected and/or invalid permission claims (showing first 1): configmaps"
        );
    }

    #[test]
    fn conflicts_name_the_holder() {
        let h = Holders {
            builtin: [("".to_string(), "pods".to_string())].into(),
            crds: [(
                ("example.io".to_string(), "widgets".to_string()),
                "widgets.example.io".to_string(),
            )]
            .into(),
            bindings: [(
                ("example.io".to_string(), "gadgets".to_string()),
                ("first".to_string(), "APIExport root:p:e".to_string()),
            )]
            .into(),
        };
        assert_eq!(
            h.conflict("b", "example.io", "widgets", false).unwrap(),
            "naming conflict with CustomResourceDefinition \"widgets.example.io\": spec.names.plural=widgets is forbidden"
        );
        assert_eq!(
            h.conflict("b", "example.io", "gadgets", false).unwrap(),
            "naming conflict with APIBinding \"first\" bound to APIExport root:p:e: spec.names.plural=gadgets is forbidden"
        );
        assert!(
            h.conflict("first", "example.io", "gadgets", false)
                .is_none()
        );
        assert!(h.conflict("b", "", "pods", false).is_some());
        assert!(h.conflict("b", "example.io", "things", false).is_none());
        // Root's tenancy export names the built-in tenancy resources: no
        // conflict with them, and with no other built-in.
        assert!(h.conflict("b", "", "pods", true).is_some());
        let mut h = h;
        h.builtin
            .insert(("tenancy.kcp.io".to_string(), "workspaces".to_string()));
        assert!(
            h.conflict("b", "tenancy.kcp.io", "workspaces", true)
                .is_none()
        );
        assert!(
            h.conflict("b", "tenancy.kcp.io", "workspaces", false)
                .is_some()
        );
    }
}
