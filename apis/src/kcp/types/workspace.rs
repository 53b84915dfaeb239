//! `tenancy.kcp.io/v1alpha1` Workspace (kcp's `types_workspace.go`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Condition, KcpObject, is_default};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workspace {
    pub metadata: ObjectMeta,
    pub spec: WorkspaceSpec,
    #[serde(skip_serializing_if = "is_default")]
    pub status: WorkspaceStatus,
}

impl KcpObject for Workspace {
    const API_VERSION: &'static str = "tenancy.kcp.io/v1alpha1";
    const KIND: &'static str = "Workspace";
    const PLURAL: &'static str = "workspaces";
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkspaceSpec {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<WorkspaceTypeReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<WorkspaceLocation>,
    /// The logical cluster holding the workspace's content.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(rename = "URL", skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<Mount>,
}

/// A WorkspaceType by name and the path of the workspace holding it; an
/// empty path is resolved from the referring workspace upwards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkspaceTypeReference {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

impl WorkspaceTypeReference {
    /// `path:name`, the path defaulting to `default_path`.
    pub fn qualified(&self, default_path: &str) -> String {
        let path = if self.path.is_empty() {
            default_path
        } else {
            &self.path
        };
        format!("{path}:{}", self.name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkspaceLocation {
    /// A label selector in kcp; free-form in the stored schema, and not
    /// used by a one-shard server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mount {
    #[serde(rename = "ref")]
    pub reference: ObjectReference,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkspaceStatus {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub initializers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminators: Vec<String>,
}
