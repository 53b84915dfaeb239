//! `tenancy.kcp.io/v1alpha1` WorkspaceType (kcp's
//! `types_workspacetype.go`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Condition, KcpObject, WorkspaceTypeReference, is_default, is_false};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkspaceType {
    pub metadata: ObjectMeta,
    pub spec: WorkspaceTypeSpec,
    #[serde(skip_serializing_if = "is_default")]
    pub status: WorkspaceTypeStatus,
}

impl KcpObject for WorkspaceType {
    const API_VERSION: &'static str = "tenancy.kcp.io/v1alpha1";
    const KIND: &'static str = "WorkspaceType";
    const PLURAL: &'static str = "workspacetypes";
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkspaceTypeSpec {
    /// Workspaces of this type (or extending it) wait for an initializer
    /// named after the type.
    #[serde(skip_serializing_if = "is_false")]
    pub initializer: bool,
    /// Deleting a workspace of this type waits for a terminator named
    /// after the type.
    #[serde(skip_serializing_if = "is_false")]
    pub terminator: bool,
    #[serde(skip_serializing_if = "is_default")]
    pub extend: WorkspaceTypeExtension,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_workspace_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_child_workspace_type: Option<WorkspaceTypeReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_allowed_children: Option<WorkspaceTypeSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_allowed_parents: Option<WorkspaceTypeSelector>,
    #[serde(rename = "defaultAPIBindings", skip_serializing_if = "Vec::is_empty")]
    pub default_api_bindings: Vec<APIExportReference>,
    #[serde(
        rename = "defaultAPIBindingLifecycle",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_api_binding_lifecycle: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authentication_configurations: Vec<AuthenticationConfigurationReference>,
    /// RBAC PolicyRules in kcp; free-form in the stored schema.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub initializer_permissions: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminator_permissions: Vec<serde_json::Value>,
}

/// An export a new workspace of the type binds; an empty path is the
/// workspace holding the type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct APIExportReference {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    pub export: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthenticationConfigurationReference {
    pub name: String,
}

/// `limitAllowedChildren` / `limitAllowedParents`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkspaceTypeSelector {
    #[serde(skip_serializing_if = "is_false")]
    pub none: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<WorkspaceTypeReference>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkspaceTypeExtension {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub with: Vec<WorkspaceTypeReference>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkspaceTypeStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_workspaces: Vec<VirtualWorkspace>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualWorkspace {
    pub url: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
}
