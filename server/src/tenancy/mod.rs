//! Workspaces: kcp's tenancy API (`tenancy.kcp.io/v1alpha1` Workspace and
//! WorkspaceType, `core.kcp.io/v1alpha1` LogicalCluster), served in every
//! logical cluster.
//!
//! The types are declared as CRDs (`crds.yaml`) and served through the same
//! schema machinery as custom resources, with small [`Hooks`] for what is
//! special about each and an admission step for Workspace creation. A
//! workspace is a tree position (its *path*, `root:org:team`) bound to a
//! stable, random *logical-cluster name* that keys its storage; the path
//! can be resolved by walking `Workspace` objects from `root`, and the
//! server keeps both in its in-memory cluster index (`cluster.rs`), which
//! a watch of every Workspace fills and keeps current ([`index`]).
//!
//! Creating a workspace costs a few storage writes (the Workspace, the
//! child's LogicalCluster, the `default` namespace and status updates) and
//! no thread, task or controller of its own.

pub mod index;
pub mod logicalcluster;
pub mod types;
pub mod workspace;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::custom::api::CustomApi;
use crate::custom::defs;
use crate::registry::hooked::{Hooked, Hooks};
use crate::registry::{Admission, ResourceDef};
use crate::schemas::Definitions;

/// Every workspace's LogicalCluster object is named this.
pub const LOGICAL_CLUSTER: &str = "cluster";
/// On a LogicalCluster: the workspace's type as `path:name`.
pub const TYPE_ANNOTATION: &str = "internal.tenancy.kcp.io/type";
/// On a LogicalCluster: the workspace's canonical path.
pub const PATH_ANNOTATION: &str = "kcp.io/path";
/// Holds a LogicalCluster until the workspace controller has emptied it.
pub const LOGICAL_CLUSTER_FINALIZER: &str = "core.kcp.io/logicalcluster";

pub(crate) const CRDS: &str = include_str!("crds.yaml");

/// The tenancy resources and their OpenAPI definitions, to be served in
/// every cluster.
pub fn resources(builtin: &Definitions) -> (Vec<ResourceDef>, Vec<(String, Value)>) {
    let mut defs_out = Vec::new();
    let mut definitions = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(CRDS) {
        let mut crd = Value::deserialize(doc).expect("tenancy CRDs are valid YAML");
        // Built-in names need no acceptance.
        crd["status"] = serde_json::json!({"acceptedNames": crd["spec"]["names"].clone()});
        let api = CustomApi::from_crd(&crd).expect("tenancy CRDs are complete");
        let built = defs::build(&api, builtin, &Default::default()).expect("tenancy CRDs compile");
        let (hooks, admission): (Arc<dyn Hooks>, Option<Arc<dyn Admission>>) =
            match api.names.plural.as_str() {
                "workspaces" => (
                    Arc::new(workspace::WorkspaceHooks),
                    Some(Arc::new(workspace::WorkspaceAdmission)),
                ),
                "logicalclusters" => (
                    Arc::new(logicalcluster::LogicalClusterHooks),
                    Some(Arc::new(logicalcluster::LogicalClusterAdmission)),
                ),
                _ => (Arc::new(NoHooks), None),
            };
        for mut d in built.defs {
            d.strategy = Arc::new(Hooked {
                base: d.strategy.clone(),
                hooks: hooks.clone(),
            });
            d.admission = admission.clone();
            defs_out.push(d);
        }
        definitions.extend(built.definitions);
    }
    (defs_out, definitions)
}

struct NoHooks;
impl Hooks for NoHooks {}

#[cfg(test)]
mod tests {
    #[test]
    fn definitions_build() {
        let b = crate::builtin::builtins();
        let names: Vec<String> = b
            .registry
            .all()
            .filter(|d| matches!(d.group.as_str(), "tenancy.kcp.io" | "core.kcp.io"))
            .map(|d| d.resource.clone())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
