//! `apis.kcp.io/v1alpha2` APIExport (kcp's `v1alpha2/types_apiexport.go`),
//! the version the server stores.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{SecretReference, TypedLocalObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, ObjectMeta};
use serde::{Deserialize, Serialize};

use super::{Condition, KcpObject, is_default, is_false};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct APIExport {
    pub metadata: ObjectMeta,
    pub spec: APIExportSpec,
    #[serde(skip_serializing_if = "is_default")]
    pub status: APIExportStatus,
}

impl KcpObject for APIExport {
    const API_VERSION: &'static str = "apis.kcp.io/v1alpha2";
    const KIND: &'static str = "APIExport";
    const PLURAL: &'static str = "apiexports";
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct APIExportSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSchema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximal_permission_policy: Option<MaximalPermissionPolicy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permission_claims: Vec<PermissionClaim>,
}

/// One exported resource and the APIResourceSchema defining it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceSchema {
    /// The resource's plural name.
    pub name: String,
    pub group: String,
    /// The APIResourceSchema's name, in the export's workspace.
    pub schema: String,
    pub storage: ResourceSchemaStorage,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceSchemaStorage {
    /// Objects stored like custom resources (the only storage served).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crd: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#virtual: Option<ResourceSchemaStorageVirtual>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceSchemaStorageVirtual {
    #[serde(rename = "reference")]
    pub reference: TypedLocalObjectReference,
    pub identity_hash: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Identity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaximalPermissionPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Access an export asks for to a resource in its consumers' workspaces.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PermissionClaim {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    pub resource: String,
    pub verbs: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identity_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_selector: Option<PermissionClaimSelector>,
}

impl PermissionClaim {
    /// kcp's `EqualGRI`: group, resource and identity hash.
    pub fn gri(&self) -> (&str, &str, &str) {
        (&self.group, &self.resource, &self.identity_hash)
    }
}

/// Which objects of a claimed resource a binding grants: all of them, or
/// those a label selector picks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PermissionClaimSelector {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
    #[serde(skip_serializing_if = "is_false")]
    pub match_all: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct APIExportStatus {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identity_hash: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_workspaces: Vec<ExportVirtualWorkspace>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportVirtualWorkspace {
    pub url: String,
}
