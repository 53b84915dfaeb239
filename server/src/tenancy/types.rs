//! WorkspaceTypes: the built-in ones and how a reference resolves.
//!
//! A type is named by `path:name` — the workspace holding the
//! `WorkspaceType` object and its name (`root:universal`). A reference
//! without a path is looked up in the workspace where the child is created,
//! then in each ancestor up to `root`, as kcp does. A type's *aliases* are
//! the type plus everything it extends, transitively; restrictions and
//! initializers apply through aliases.
//!
//! Everything here reads storage directly (one `get` per hop): admission
//! must see committed state, and paths resolve by walking `Workspace`
//! objects from `root`, so no in-memory index can be stale.

use std::sync::Arc;

use serde_json::Value;
use trellis_apis::kcp::types::{
    self as kcp, KcpObject, Workspace, WorkspaceType, WorkspaceTypeReference, WorkspaceTypeSelector,
};
use trellis_storage::Storage;
use trellis_storage::keys::Keyspace;

use crate::cluster::ROOT;
use crate::sharing::keys;

pub fn workspaces() -> Keyspace {
    keys::of::<Workspace>()
}
pub fn workspace_types() -> Keyspace {
    keys::of::<WorkspaceType>()
}
pub fn logical_clusters() -> Keyspace {
    keys::of::<kcp::LogicalCluster>()
}

/// Reads one cluster-scoped object straight from storage.
pub async fn get(
    storage: &Arc<dyn Storage>,
    ks: &Keyspace,
    cluster: &str,
    name: &str,
) -> Result<Option<Value>, String> {
    let key = ks
        .object(cluster, "", name)
        .map_err(|e| format!("key: {e}"))?;
    match storage.get(&key).await {
        Ok(Some(rec)) => serde_json::from_slice(&rec.value)
            .map(Some)
            .map_err(|e| format!("decoding {name}: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("reading {name}: {e}")),
    }
}

/// Reads one cluster-scoped kcp object straight from storage, typed.
pub async fn get_as<T: KcpObject>(
    storage: &Arc<dyn Storage>,
    ks: &Keyspace,
    cluster: &str,
    name: &str,
) -> Result<Option<T>, String> {
    match get(storage, ks, cluster, name).await? {
        Some(v) => kcp::from_value(&v)
            .map(Some)
            .map_err(|e| format!("decoding {} {name}: {e}", T::KIND)),
        None => Ok(None),
    }
}

/// The logical-cluster name of a workspace path (`root:org:team`), walking
/// Workspace objects from root. A logical-cluster name is accepted too.
pub async fn resolve_path(
    storage: &Arc<dyn Storage>,
    path: &str,
) -> Result<Option<String>, String> {
    let mut parts = path.split(':');
    let first = parts.next().unwrap_or_default();
    if first != ROOT {
        // Not a path: maybe a logical-cluster name.
        let lc = get(storage, &logical_clusters(), path, super::LOGICAL_CLUSTER).await?;
        return Ok(lc.map(|_| path.to_string()));
    }
    let mut cluster = ROOT.to_string();
    for segment in parts {
        let Some(ws) = get_as::<Workspace>(storage, &workspaces(), &cluster, segment).await? else {
            return Ok(None);
        };
        if ws.spec.cluster.is_empty() {
            return Ok(None);
        }
        cluster = ws.spec.cluster;
    }
    Ok(Some(cluster))
}

/// A resolved WorkspaceType with the canonical path of its workspace.
#[derive(Clone, Debug)]
pub struct Type {
    pub path: String,
    /// The logical cluster holding the type (where `use` is authorized).
    pub cluster: String,
    pub name: String,
    pub object: WorkspaceType,
}

impl Type {
    pub fn qualified(&self) -> String {
        format!("{}:{}", self.path, self.name)
    }

    /// The type's `defaultChildWorkspaceType` as (path, name).
    pub fn default_child(&self) -> Option<(String, String)> {
        let r = self.object.spec.default_child_workspace_type.as_ref()?;
        Some((r.path.clone(), r.name.clone()))
    }

    pub fn is_initializer(&self) -> bool {
        self.object.spec.initializer
    }

    pub fn is_terminator(&self) -> bool {
        self.object.spec.terminator
    }

    /// `(none, allowed qualified names)` of `limitAllowedParents`.
    pub fn limit_parents(&self) -> Option<(bool, Vec<String>)> {
        limit(&self.object.spec.limit_allowed_parents)
    }

    /// `(none, allowed qualified names)` of `limitAllowedChildren`.
    pub fn limit_children(&self) -> Option<(bool, Vec<String>)> {
        limit(&self.object.spec.limit_allowed_children)
    }

    pub fn default_api_bindings(&self) -> &[kcp::APIExportReference] {
        &self.object.spec.default_api_bindings
    }
}

fn limit(l: &Option<WorkspaceTypeSelector>) -> Option<(bool, Vec<String>)> {
    l.as_ref().map(|l| (l.none, refs(&l.types)))
}

/// Qualified names of type references; a reference without a path names
/// a type in root.
fn refs(v: &[WorkspaceTypeReference]) -> Vec<String> {
    v.iter().map(|r| r.qualified(ROOT)).collect()
}

/// Looks up type `name` in the workspace at `path`.
pub async fn get_type(
    storage: &Arc<dyn Storage>,
    path: &str,
    name: &str,
) -> Result<Option<Type>, String> {
    let Some(cluster) = resolve_path(storage, path).await? else {
        return Ok(None);
    };
    Ok(
        get_as::<WorkspaceType>(storage, &workspace_types(), &cluster, name)
            .await?
            .map(|object| Type {
                path: path.to_string(),
                cluster,
                name: name.to_string(),
                object,
            }),
    )
}

/// Resolves a reference from workspace `from`: an explicit path, or the
/// nearest workspace up the tree (then root) holding a type of that name.
pub async fn resolve_ref(
    storage: &Arc<dyn Storage>,
    from: &str,
    path: &str,
    name: &str,
) -> Result<Type, String> {
    if !path.is_empty() {
        return get_type(storage, path, name)
            .await?
            .ok_or_else(|| format!("workspace type \"{path}:{name}\" cannot be resolved"));
    }
    let mut at = from.to_string();
    loop {
        if let Some(t) = get_type(storage, &at, name).await? {
            return Ok(t);
        }
        match at.rsplit_once(':') {
            Some((parent, _)) => at = parent.to_string(),
            None if at != ROOT => at = ROOT.to_string(),
            None => return Err(format!("workspace type \"{name}\" cannot be resolved")),
        }
    }
}

/// Why a type's aliases could not be listed.
#[derive(Debug)]
pub enum AliasError {
    /// An extended type (`path:name`) does not resolve.
    Missing(String),
    /// A cycle, or storage failing.
    Other(String),
}

impl std::fmt::Display for AliasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AliasError::Missing(base) => {
                write!(f, "unable to find inherited workspace type {base}")
            }
            AliasError::Other(e) => f.write_str(e),
        }
    }
}

/// The type and everything it extends (transitively), the type last.
pub async fn aliases(storage: &Arc<dyn Storage>, t: &Type) -> Result<Vec<Type>, AliasError> {
    let mut out = Vec::new();
    let mut seen = vec![t.qualified()];
    let mut stack = vec![(t.clone(), vec![t.qualified()])];
    while let Some((cur, chain)) = stack.pop() {
        for base in refs(&cur.object.spec.extend.with) {
            if chain.contains(&base) {
                return Err(AliasError::Other(format!(
                    "circular dependency detected in workspace type {base}: {} -> {base}",
                    chain.join(" -> ")
                )));
            }
            if seen.contains(&base) {
                continue;
            }
            seen.push(base.clone());
            let (path, name) = base.rsplit_once(':').expect("qualified");
            let bt = get_type(storage, path, name)
                .await
                .map_err(AliasError::Other)?
                .ok_or_else(|| AliasError::Missing(base.clone()))?;
            let mut next = chain.clone();
            next.push(base.clone());
            out.push(bt.clone());
            stack.push((bt, next));
        }
    }
    out.push(t.clone());
    Ok(out)
}

/// kcp's `validateAllowedParents` and `validateAllowedChildren`.
pub fn check_restrictions(
    parent: &[Type],
    child: &[Type],
    parent_type: &str,
    child_type: &str,
) -> Result<(), String> {
    let names = |ts: &[Type]| -> Vec<String> {
        let mut v: Vec<String> = ts.iter().map(Type::qualified).collect();
        v.sort();
        v.dedup();
        v
    };
    let implements =
        |ts: &[Type], allowed: &[String]| ts.iter().any(|t| allowed.contains(&t.qualified()));
    let mut errs = Vec::new();
    for c in child {
        let Some((none, allowed)) = c.limit_parents() else {
            continue;
        };
        if none {
            errs.push(format!(
                "workspace type {child_type} cannot have any parent"
            ));
            continue;
        }
        if allowed.is_empty() || implements(parent, &allowed) {
            continue;
        }
        let extending = if c.qualified() != child_type {
            format!(" extends {}, which", c.qualified())
        } else {
            String::new()
        };
        let mut allowed = allowed.clone();
        allowed.sort();
        errs.push(format!(
            "workspace type {child_type}{extending} only allows [{}] parent workspaces, but parent type {parent_type} only implements [{}]",
            allowed.join(" "),
            names(parent).join(" ")
        ));
    }
    for p in parent {
        let Some((none, allowed)) = p.limit_children() else {
            continue;
        };
        if none {
            errs.push(format!(
                "workspace type {parent_type} cannot have any child"
            ));
            continue;
        }
        if allowed.is_empty() || implements(child, &allowed) {
            continue;
        }
        let extending = if p.qualified() != parent_type {
            format!(" extends {}, which", p.qualified())
        } else {
            String::new()
        };
        let mut allowed = allowed.clone();
        allowed.sort();
        errs.push(format!(
            "workspace type {parent_type}{extending} only allows [{}] child workspaces, but child type {child_type} only implements [{}]",
            allowed.join(" "),
            names(child).join(" ")
        ));
    }
    match errs.len() {
        0 => Ok(()),
        1 => Err(errs.remove(0)),
        _ => Err(format!("[{}]", errs.join(", "))),
    }
}

/// The built-in types, created in `root` at start-up. Their meaning follows
/// kcp: `root` is the root workspace's type (organizations below it by
/// default), `organization` lives directly under root, `team` under an
/// organization or team, `universal` goes anywhere. `universal` has an
/// initializer (the server's own: it creates the `default` namespace), and
/// the others extend it, so every workspace starts with a `default`
/// namespace.
pub fn builtin_types() -> Vec<Value> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kcp::{WorkspaceTypeExtension, WorkspaceTypeSpec};
    let t = |name: &str, spec: WorkspaceTypeSpec| {
        kcp::to_value(&WorkspaceType {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("kcp.io/bootstrap".to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            spec,
            ..Default::default()
        })
    };
    let root_ref = |name: &str| WorkspaceTypeReference {
        name: name.into(),
        path: ROOT.into(),
    };
    let allowed =
        |types: Vec<WorkspaceTypeReference>| Some(WorkspaceTypeSelector { none: false, types });
    let extends_universal = WorkspaceTypeExtension {
        with: vec![root_ref("universal")],
    };
    vec![
        t(
            "root",
            WorkspaceTypeSpec {
                default_child_workspace_type: Some(root_ref("organization")),
                limit_allowed_parents: Some(WorkspaceTypeSelector {
                    none: true,
                    types: Vec::new(),
                }),
                ..Default::default()
            },
        ),
        t(
            "universal",
            WorkspaceTypeSpec {
                initializer: true,
                default_child_workspace_type: Some(root_ref("universal")),
                ..Default::default()
            },
        ),
        t(
            "organization",
            WorkspaceTypeSpec {
                extend: extends_universal.clone(),
                default_child_workspace_type: Some(root_ref("universal")),
                limit_allowed_parents: allowed(vec![root_ref("root")]),
                ..Default::default()
            },
        ),
        t(
            "team",
            WorkspaceTypeSpec {
                extend: extends_universal,
                default_child_workspace_type: Some(root_ref("universal")),
                limit_allowed_parents: allowed(vec![root_ref("organization"), root_ref("team")]),
                ..Default::default()
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn ty(path: &str, name: &str, spec: Value) -> Type {
        Type {
            cluster: path.to_string(),
            path: path.into(),
            name: name.into(),
            object: kcp::from_value(&json!({"spec": spec})).unwrap(),
        }
    }

    /// The built-in types are written as the JSON they always were.
    #[test]
    fn builtin_types_keep_their_shape() {
        let org = builtin_types().remove(2);
        assert_eq!(
            org,
            json!({
                "apiVersion": "tenancy.kcp.io/v1alpha1",
                "kind": "WorkspaceType",
                "metadata": {"name": "organization", "labels": {"kcp.io/bootstrap": "true"}},
                "spec": {
                    "extend": {"with": [{"name": "universal", "path": "root"}]},
                    "defaultChildWorkspaceType": {"name": "universal", "path": "root"},
                    "limitAllowedParents": {"types": [{"name": "root", "path": "root"}]},
                },
            })
        );
    }

    #[test]
    fn restrictions_follow_aliases() {
        let universal = ty("root", "universal", json!({}));
        let org = ty(
            "root",
            "organization",
            json!({"limitAllowedParents": {"types": [{"name": "root", "path": "root"}]}}),
        );
        let team = ty(
            "root",
            "team",
            json!({"limitAllowedParents": {"types": [{"name": "organization", "path": "root"}, {"name": "team", "path": "root"}]}}),
        );
        let rootty = ty(
            "root",
            "root",
            json!({"limitAllowedParents": {"none": true}}),
        );
        // team under an organization (which extends universal): allowed.
        assert!(
            check_restrictions(
                &[universal.clone(), org.clone()],
                &[universal.clone(), team.clone()],
                "root:organization",
                "root:team"
            )
            .is_ok()
        );
        // team under a universal workspace: refused with kcp's message.
        let err = check_restrictions(
            std::slice::from_ref(&universal),
            &[universal.clone(), team.clone()],
            "root:universal",
            "root:team",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "workspace type root:team only allows [root:organization root:team] parent workspaces, but parent type root:universal only implements [root:universal]"
        );
        let err = check_restrictions(
            std::slice::from_ref(&universal),
            &[rootty],
            "root:universal",
            "root:root",
        )
        .unwrap_err();
        assert_eq!(err, "workspace type root:root cannot have any parent");
        let leaf = ty(
            "root",
            "leaf",
            json!({"limitAllowedChildren": {"none": true}}),
        );
        let err =
            check_restrictions(&[leaf], &[universal], "root:leaf", "root:universal").unwrap_err();
        assert_eq!(err, "workspace type root:leaf cannot have any child");
    }
}
