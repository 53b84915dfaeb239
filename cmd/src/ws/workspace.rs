//! The parts of kcp's APIs the plugin talks to: `tenancy.kcp.io/v1alpha1`
//! Workspaces (URLs, the object to create, type references, phase) and the
//! `core.kcp.io/v1alpha1` LogicalCluster named `cluster` that every
//! workspace serves.

use std::fmt;

use serde_json::{Value, json};

use super::path::ClusterPath;

/// The collection of child workspaces of `parent`.
pub fn workspaces_url(parent: &ClusterPath) -> String {
    format!(
        "{}/apis/tenancy.kcp.io/v1alpha1/workspaces",
        parent.request_path()
    )
}

/// The child workspace `name` of `parent`.
pub fn workspace_url(parent: &ClusterPath, name: &str) -> String {
    format!("{}/{name}", workspaces_url(parent))
}

/// The LogicalCluster object of the workspace at `path`; readable iff the
/// workspace exists and the user may enter it.
pub fn logical_cluster_url(path: &ClusterPath) -> String {
    format!(
        "{}/apis/core.kcp.io/v1alpha1/logicalclusters/cluster",
        path.request_path()
    )
}

/// A workspace type reference (`spec.type`): a type name and the path of
/// the workspace that defines it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeRef {
    pub name: String,
    pub path: String,
}

impl TypeRef {
    /// Parses `--type`: `name` or `path:name` (the name is lower-cased, like
    /// kcp does; without a path the server defaults it).
    pub fn parse(flag: &str) -> TypeRef {
        match flag.rfind(':') {
            Some(i) => TypeRef {
                name: flag[i + 1..].to_lowercase(),
                path: flag[..i].to_string(),
            },
            None => TypeRef {
                name: flag.to_lowercase(),
                path: String::new(),
            },
        }
    }

    /// `spec.type` of a Workspace object, if set.
    pub fn of(ws: &Value) -> Option<TypeRef> {
        let t = ws.pointer("/spec/type")?.as_object()?;
        let field = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default();
        Some(TypeRef {
            name: field("name").to_string(),
            path: field("path").to_string(),
        })
    }

    fn to_json(&self) -> Value {
        let mut t = json!({ "name": self.name });
        if !self.path.is_empty() {
            t["path"] = json!(self.path);
        }
        t
    }
}

/// `path:name`, or just `name` without a path (kcp's rendering).
impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ClusterPath::new(&self.path).join(&self.name).as_str())
    }
}

/// The Workspace object to POST.
pub fn new_workspace(name: &str, ty: Option<&TypeRef>) -> Value {
    let mut spec = json!({});
    if let Some(t) = ty {
        spec["type"] = t.to_json();
    }
    json!({
        "apiVersion": "tenancy.kcp.io/v1alpha1",
        "kind": "Workspace",
        "metadata": { "name": name },
        "spec": spec,
    })
}

/// `status.phase` (empty if unset).
pub fn phase(ws: &Value) -> &str {
    ws.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub fn is_ready(ws: &Value) -> bool {
    phase(ws) == "Ready"
}

/// `metadata.name`.
pub fn name(ws: &Value) -> &str {
    ws.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `spec.URL` (empty until the workspace is scheduled).
pub fn spec_url(ws: &Value) -> &str {
    ws.pointer("/spec/URL")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_flag() {
        let t = TypeRef::parse("universal");
        assert_eq!((t.name.as_str(), t.path.as_str()), ("universal", ""));
        assert_eq!(t.to_string(), "universal");
        let t = TypeRef::parse("root:org:Team");
        assert_eq!((t.name.as_str(), t.path.as_str()), ("team", "root:org"));
        assert_eq!(t.to_string(), "root:org:team");
    }

    #[test]
    fn workspace_object() {
        let ws = new_workspace("org", Some(&TypeRef::parse("root:universal")));
        assert_eq!(
            ws,
            json!({
                "apiVersion": "tenancy.kcp.io/v1alpha1",
                "kind": "Workspace",
                "metadata": {"name": "org"},
                "spec": {"type": {"name": "universal", "path": "root"}},
            })
        );
        let plain = new_workspace("org", None);
        assert_eq!(plain["spec"], json!({}));
        assert_eq!(TypeRef::of(&ws).unwrap().to_string(), "root:universal");
        assert_eq!(TypeRef::of(&plain), None);
        assert_eq!(name(&ws), "org");
        assert!(!is_ready(&ws));
        assert!(is_ready(&json!({"status": {"phase": "Ready"}})));
    }

    #[test]
    fn urls() {
        let root = ClusterPath::root();
        assert_eq!(
            workspace_url(&root, "org"),
            "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces/org"
        );
        assert_eq!(
            logical_cluster_url(&ClusterPath::new("root:org")),
            "/clusters/root:org/apis/core.kcp.io/v1alpha1/logicalclusters/cluster"
        );
    }
}
