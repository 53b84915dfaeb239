//! Workspace objects: admission, server-owned fields and deletion.
//!
//! Creating a `Workspace` in a parent only records intent; the workspace
//! controller (`controllers::workspace`) schedules it (a logical cluster
//! with its `LogicalCluster` object), runs initializers and marks it Ready.
//! What must be decided synchronously is decided here, on create:
//!
//! * the type: the parent type's `defaultChildWorkspaceType` when none is
//!   given, resolved to a canonical `path:name`, the caller's `use` on it
//!   and on every type it extends (in the workspaces holding them), and
//!   both sides' `limitAllowedParents`/`limitAllowedChildren` checked
//!   through their aliases (refusals are 403 with kcp's messages);
//! * the logical-cluster name, random and immutable — never the caller's
//!   choice, so nobody can graft a workspace onto another's data;
//! * the owner (`experimental.tenancy.kcp.io/owner`), whom the
//!   authorization layer makes the new workspace's admin;
//! * phase `Scheduling` and the finalizer that holds deletion until the
//!   logical cluster's contents are gone.
//!
//! Stored objects (the parent's LogicalCluster, types) are read typed; the
//! request's Workspace stays JSON here because mutating admission runs
//! before the schema has checked it, and its type errors are the
//! schema's to report.

use rand::Rng;
use serde_json::{Value, json};
use trellis_apis::kcp::types::LogicalCluster;
use trellis_apis::{FieldError, GroupResource, Status};

use super::types;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::registry::hooked::Hooks;
use crate::registry::{Admission, AdmitCtx};

/// Holds a deleted Workspace until its logical cluster is emptied.
pub const FINALIZER: &str = "tenancy.kcp.io/workspace-content";
pub const OWNER_ANNOTATION: &str = "experimental.tenancy.kcp.io/owner";

fn gr() -> GroupResource {
    GroupResource::new("tenancy.kcp.io", "workspaces")
}

/// A fresh logical-cluster name: 16 characters of `[a-z0-9]`, as kcp's.
pub fn new_cluster_name() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub struct WorkspaceHooks;

impl Hooks for WorkspaceHooks {
    fn prepare_for_create(&self, obj: &mut Value) {
        let m = meta::meta_mut(obj);
        let fins = m.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(a) = fins.as_array_mut()
            && !a.iter().any(|f| f == FINALIZER)
        {
            a.push(json!(FINALIZER));
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let at = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
        if at(new, "/spec/type") != at(old, "/spec/type") {
            errs.push(FieldError::invalid(
                "spec.type",
                at(new, "/spec/type"),
                "field is immutable",
            ));
        }
        for (p, f) in [("/spec/cluster", "spec.cluster"), ("/spec/URL", "spec.URL")] {
            let o = at(old, p);
            let set = o.as_str().is_some_and(|s| !s.is_empty());
            if set && at(new, p) != o {
                errs.push(FieldError::invalid(f, at(new, p), "field is immutable"));
            }
        }
        errs
    }

    fn begin_deletion(&self, obj: &mut Value) {
        if !obj.get("status").is_some_and(Value::is_object) {
            obj["status"] = json!({});
        }
        obj["status"]["phase"] = json!("Terminating");
    }
}

pub struct WorkspaceAdmission;

/// Whether the caller may `use` type `t` (the server itself may).
async fn may_use(ctx: &AdmitCtx<'_>, t: &types::Type) -> ApiResult<bool> {
    let Some(user) = ctx.user else {
        return Ok(true);
    };
    ctx.authz
        .allows_in(
            &t.cluster,
            user,
            "use",
            "tenancy.kcp.io",
            "workspacetypes",
            &t.name,
        )
        .await
}

fn forbidden(name: &str, why: impl Into<String>) -> ApiError {
    Status::forbidden(&gr(), name, &why.into()).into()
}

#[async_trait::async_trait]
impl Admission for WorkspaceAdmission {
    async fn admit_create(&self, ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        let name = meta::name(obj).to_string();
        let storage = ctx.storage;
        let parent_lc = types::get_as::<LogicalCluster>(
            storage,
            &types::logical_clusters(),
            ctx.cluster,
            super::LOGICAL_CLUSTER,
        )
        .await
        .map_err(|e| ApiError::internal("reading the parent logical cluster", e))?
        .ok_or_else(|| {
            forbidden(
                &name,
                "workspace type cannot be resolved: parent logical cluster not found",
            )
        })?;
        if parent_lc.is_going() {
            return Err(forbidden(&name, "the parent workspace is being deleted"));
        }
        let parent_path = parent_lc.annotation(super::PATH_ANNOTATION);
        let parent_type_name = parent_lc.annotation(super::TYPE_ANNOTATION);
        let Some((ptp, ptn)) = parent_type_name.rsplit_once(':') else {
            return Err(forbidden(
                &name,
                format!(
                    "annotation {} on LogicalCluster must be in the form of cluster:name",
                    super::TYPE_ANNOTATION
                ),
            ));
        };
        let parent_type = types::get_type(storage, ptp, ptn)
            .await
            .map_err(|e| ApiError::internal("resolving the parent type", e))?
            .ok_or_else(|| forbidden(&name, format!("parent type cannot be resolved: workspace type \"{parent_type_name}\" not found")))?;

        // The requested type, or the parent's default.
        let (mut tpath, tname) = match obj.pointer("/spec/type/name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => (
                obj.pointer("/spec/type/path")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                n.to_string(),
            ),
            _ => parent_type.default_child().ok_or_else(|| {
                forbidden(
                    &name,
                    format!("spec.defaultChildWorkspaceType of workspace type {parent_type_name} must be set"),
                )
            })?,
        };
        // A type, and everything it extends, must be `use`d by the caller
        // in the workspace holding it (kcp's WorkspaceTypeExists). For
        // anyone but masters a type that does not resolve is refused in
        // the same words as one they may not use, naming the reference as
        // written, so types elsewhere cannot be probed.
        let caller_is_master = ctx.privileged();
        let written = if tpath.is_empty() {
            tname.clone()
        } else {
            format!("{tpath}:{tname}")
        };
        let cannot_use = |r: &str| {
            forbidden(
                &name,
                format!(
                    "unable to use workspace type {r}: missing verb='use' permission on workspacetype"
                ),
            )
        };
        let child_type = match types::resolve_ref(storage, parent_path, &tpath, &tname).await {
            Ok(t) => t,
            Err(e) if caller_is_master => return Err(forbidden(&name, e)),
            Err(_) => return Err(cannot_use(&written)),
        };
        if !may_use(ctx, &child_type).await? {
            return Err(cannot_use(&written));
        }
        if tpath.is_empty() {
            tpath = child_type.path.clone();
        }
        let child_aliases = match types::aliases(storage, &child_type).await {
            Ok(a) => a,
            Err(types::AliasError::Missing(base)) if !caller_is_master => {
                return Err(cannot_use(&base));
            }
            Err(e) => return Err(forbidden(&name, e.to_string())),
        };
        for t in &child_aliases {
            if !may_use(ctx, t).await? {
                return Err(cannot_use(&t.qualified()));
            }
        }
        let parent_aliases = types::aliases(storage, &parent_type)
            .await
            .map_err(|e| forbidden(&name, e.to_string()))?;
        types::check_restrictions(
            &parent_aliases,
            &child_aliases,
            parent_type_name,
            &format!("{tpath}:{tname}"),
        )
        .map_err(|e| forbidden(&name, e))?;
        if !obj.get("spec").is_some_and(Value::is_object) {
            obj["spec"] = json!({});
        }
        obj["spec"]["type"] = json!({"name": tname, "path": tpath});
        let requested = obj
            .pointer("/spec/cluster")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !requested.is_empty() && !caller_is_master {
            return Err(forbidden(
                &name,
                "spec.Cluster can only be set by system privileged users",
            ));
        }
        if !caller_is_master
            && obj
                .pointer("/spec/URL")
                .and_then(Value::as_str)
                .is_some_and(|u| !u.is_empty())
        {
            return Err(forbidden(
                &name,
                "spec.URL can only be set by system privileged users",
            ));
        }
        if requested.is_empty() {
            obj["spec"]["cluster"] = json!(new_cluster_name());
        } else if requested == crate::cluster::ROOT
            || types::get(
                storage,
                &types::logical_clusters(),
                requested,
                super::LOGICAL_CLUSTER,
            )
            .await
            .map_err(|e| ApiError::internal("reading the requested logical cluster", e))?
            .is_some()
        {
            // Two workspaces on one logical cluster would share (and on
            // deletion purge) each other's data.
            return Err(forbidden(
                &name,
                format!("logical cluster {requested:?} is already in use"),
            ));
        }
        if let Some(spec) = obj["spec"].as_object_mut() {
            spec.remove("URL");
        }
        // Labels the type adds, never overriding the caller's.
        let extra = &child_type.object.spec.additional_workspace_labels;
        if !extra.is_empty() {
            let m = meta::meta_mut(obj);
            let labels = m.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                for (k, v) in extra {
                    l.entry(k.clone()).or_insert_with(|| json!(v));
                }
            }
        }
        if let Some(u) = ctx.user {
            let owner = json!({"username": u.name, "uid": u.uid, "groups": u.groups});
            let m = meta::meta_mut(obj);
            let anns = m.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = anns.as_object_mut() {
                a.insert(OWNER_ANNOTATION.into(), json!(owner.to_string()));
            }
        }
        obj["status"] = json!({"phase": "Scheduling"});
        Ok(())
    }

    /// kcp's reserved metadata: the server's `*kcp.io/…` annotations (the
    /// owner whom the workspace controller makes admin) stay as the server
    /// wrote them.
    async fn admit_update(
        &self,
        ctx: &AdmitCtx<'_>,
        new: &mut Value,
        old: &Value,
    ) -> ApiResult<()> {
        if ctx.privileged() {
            return Ok(());
        }
        let reserved = |v: &Value| -> Vec<(String, Value)> {
            v.pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| {
                            k.split_once('/')
                                .is_some_and(|(domain, _)| domain.ends_with("kcp.io"))
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (was, is) = (reserved(old), reserved(new));
        if let Some((k, _)) = was
            .iter()
            .chain(&is)
            .find(|(k, _)| was.iter().find(|(o, _)| o == k) != is.iter().find(|(n, _)| n == k))
        {
            return Err(forbidden(
                meta::name(new),
                format!("modification of reserved annotation: {k:?}"),
            ));
        }
        Ok(())
    }
}
