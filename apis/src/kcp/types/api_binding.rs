//! `apis.kcp.io/v1alpha2` APIBinding (kcp's
//! `v1alpha2/types_apibinding.go`), the version the server stores.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Condition, KcpObject, PermissionClaim, PermissionClaimSelector, is_default};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct APIBinding {
    pub metadata: ObjectMeta,
    pub spec: APIBindingSpec,
    #[serde(skip_serializing_if = "is_default")]
    pub status: APIBindingStatus,
}

impl KcpObject for APIBinding {
    const API_VERSION: &'static str = "apis.kcp.io/v1alpha2";
    const KIND: &'static str = "APIBinding";
    const PLURAL: &'static str = "apibindings";
}

impl APIBinding {
    /// The referenced export: (path, name), the path empty when it is
    /// the binding's own workspace.
    pub fn export(&self) -> (&str, &str) {
        self.spec
            .reference
            .export
            .as_ref()
            .map(|e| (e.path.as_str(), e.name.as_str()))
            .unwrap_or(("", ""))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct APIBindingSpec {
    pub reference: BindingReference,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permission_claims: Vec<AcceptablePermissionClaim>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BindingReference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportBindingReference>,
}

/// An APIExport by the path of its workspace (empty: the referring
/// object's own) and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportBindingReference {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    pub name: String,
}

/// A claim with the objects it covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScopedPermissionClaim {
    #[serde(flatten)]
    pub claim: PermissionClaim,
    pub selector: PermissionClaimSelector,
}

/// A consumer's answer to one of the export's claims.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcceptablePermissionClaim {
    #[serde(flatten)]
    pub scoped: ScopedPermissionClaim,
    /// `Accepted` or `Rejected`.
    pub state: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct APIBindingStatus {
    #[serde(
        rename = "apiExportClusterName",
        skip_serializing_if = "String::is_empty"
    )]
    pub api_export_cluster_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bound_resources: Vec<BoundAPIResource>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub applied_permission_claims: Vec<ScopedPermissionClaim>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_permission_claims: Vec<PermissionClaim>,
}

/// A resource a binding serves, with the schema and identity it was bound
/// under.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BoundAPIResource {
    pub group: String,
    pub resource: String,
    pub schema: BoundAPIResourceSchema,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_versions: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BoundAPIResourceSchema {
    pub name: String,
    /// kcp spells this one `UID` (JSON), unlike a LogicalCluster owner's.
    #[serde(rename = "UID")]
    pub uid: String,
    pub identity_hash: String,
}
