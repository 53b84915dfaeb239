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

use serde_json::{Value, json};
use trellis_storage::Storage;
use trellis_storage::keys::Keyspace;

use crate::cluster::ROOT;

pub fn workspaces() -> Keyspace {
    Keyspace::new("tenancy.kcp.io", "workspaces", None).expect("valid keyspace")
}
pub fn workspace_types() -> Keyspace {
    Keyspace::new("tenancy.kcp.io", "workspacetypes", None).expect("valid keyspace")
}
pub fn logical_clusters() -> Keyspace {
    Keyspace::new("core.kcp.io", "logicalclusters", None).expect("valid keyspace")
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
        let Some(ws) = get(storage, &workspaces(), &cluster, segment).await? else {
            return Ok(None);
        };
        match ws.pointer("/spec/cluster").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => cluster = c.to_string(),
            _ => return Ok(None),
        }
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
    pub object: Value,
}

impl Type {
    pub fn qualified(&self) -> String {
        format!("{}:{}", self.path, self.name)
    }

    fn spec(&self, field: &str) -> &Value {
        self.object
            .get("spec")
            .and_then(|s| s.get(field))
            .unwrap_or(&Value::Null)
    }

    pub fn default_child(&self) -> Option<(String, String)> {
        let r = self.spec("defaultChildWorkspaceType");
        let name = r.get("name")?.as_str()?.to_string();
        let path = r
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Some((path, name))
    }

    pub fn is_initializer(&self) -> bool {
        self.spec("initializer").as_bool().unwrap_or(false)
    }

    pub fn is_terminator(&self) -> bool {
        self.spec("terminator").as_bool().unwrap_or(false)
    }

    /// `(none, allowed qualified names)` of limitAllowedParents/Children.
    pub fn limit(&self, field: &str) -> Option<(bool, Vec<String>)> {
        let l = self.spec(field);
        if l.is_null() {
            return None;
        }
        let none = l.get("none").and_then(Value::as_bool).unwrap_or(false);
        let types = refs(l.get("types"));
        Some((none, types))
    }

    pub fn default_api_bindings(&self) -> &Value {
        self.spec("defaultAPIBindings")
    }
}

fn refs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    let name = r.get("name")?.as_str()?;
                    let path = r.get("path").and_then(Value::as_str).unwrap_or(ROOT);
                    Some(format!("{path}:{name}"))
                })
                .collect()
        })
        .unwrap_or_default()
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
    Ok(get(storage, &workspace_types(), &cluster, name)
        .await?
        .map(|object| Type {
            path: path.to_string(),
            cluster,
            name: name.to_string(),
            object,
        }))
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
        for base in refs(cur.spec("extend").get("with")) {
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
        let Some((none, allowed)) = c.limit("limitAllowedParents") else {
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
        let Some((none, allowed)) = p.limit("limitAllowedChildren") else {
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
    let t = |name: &str, spec: Value| {
        json!({
            "apiVersion": "tenancy.kcp.io/v1alpha1",
            "kind": "WorkspaceType",
            "metadata": {"name": name, "labels": {"kcp.io/bootstrap": "true"}},
            "spec": spec,
        })
    };
    let root_ref = |name: &str| json!({"name": name, "path": ROOT});
    vec![
        t(
            "root",
            json!({
                "defaultChildWorkspaceType": root_ref("organization"),
                "limitAllowedParents": {"none": true},
            }),
        ),
        t(
            "universal",
            json!({
                "initializer": true,
                "defaultChildWorkspaceType": root_ref("universal"),
            }),
        ),
        t(
            "organization",
            json!({
                "extend": {"with": [root_ref("universal")]},
                "defaultChildWorkspaceType": root_ref("universal"),
                "limitAllowedParents": {"types": [root_ref("root")]},
            }),
        ),
        t(
            "team",
            json!({
                "extend": {"with": [root_ref("universal")]},
                "defaultChildWorkspaceType": root_ref("universal"),
                "limitAllowedParents": {"types": [root_ref("organization"), root_ref("team")]},
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(path: &str, name: &str, spec: Value) -> Type {
        Type {
            cluster: path.to_string(),
            path: path.into(),
            name: name.into(),
            object: json!({"spec": spec}),
        }
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
