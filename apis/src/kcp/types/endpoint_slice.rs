//! `apis.kcp.io/v1alpha1` APIExportEndpointSlice (kcp's
//! `types_apiexportendpointslice.go`): where an export's virtual
//! workspace is served.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Condition, ExportBindingReference, KcpObject, is_default};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct APIExportEndpointSlice {
    pub metadata: ObjectMeta,
    pub spec: APIExportEndpointSliceSpec,
    #[serde(skip_serializing_if = "is_default")]
    pub status: APIExportEndpointSliceStatus,
}

impl KcpObject for APIExportEndpointSlice {
    const API_VERSION: &'static str = "apis.kcp.io/v1alpha1";
    const KIND: &'static str = "APIExportEndpointSlice";
    const PLURAL: &'static str = "apiexportendpointslices";
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct APIExportEndpointSliceSpec {
    pub export: ExportBindingReference,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub partition: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct APIExportEndpointSliceStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub shard_selector: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub url: String,
}
