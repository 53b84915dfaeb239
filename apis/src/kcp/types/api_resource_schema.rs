//! `apis.kcp.io/v1alpha1` APIResourceSchema (kcp's
//! `types_apiresourceschema.go`): an immutable CRD-like description of one
//! resource, which APIExports point at by name.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionNames;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{KcpObject, is_false};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct APIResourceSchema {
    pub metadata: ObjectMeta,
    pub spec: APIResourceSchemaSpec,
}

impl KcpObject for APIResourceSchema {
    const API_VERSION: &'static str = "apis.kcp.io/v1alpha1";
    const KIND: &'static str = "APIResourceSchema";
    const PLURAL: &'static str = "apiresourceschemas";
}

impl APIResourceSchema {
    /// The version objects are stored in.
    pub fn storage_version(&self) -> Option<&str> {
        self.spec
            .versions
            .iter()
            .find(|v| v.storage)
            .map(|v| v.name.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct APIResourceSchemaSpec {
    pub group: String,
    pub names: CustomResourceDefinitionNames,
    /// `Cluster` or `Namespaced`.
    pub scope: String,
    pub versions: Vec<APIResourceVersion>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name_validation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct APIResourceVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecation_warning: Option<String>,
    /// The OpenAPI v3 schema, as a CRD version's `schema.openAPIV3Schema`.
    pub schema: Value,
    /// As a CRD version's (read by `crate::crd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresources: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_printer_columns: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectable_fields: Vec<Value>,
}
