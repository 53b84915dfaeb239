//! `core.kcp.io/v1alpha1` LogicalCluster (kcp's
//! `logicalcluster_types.go`): one per workspace, named `cluster`, inside
//! the workspace's own logical cluster.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Condition, KcpObject, is_default, is_false};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogicalCluster {
    pub metadata: ObjectMeta,
    pub spec: LogicalClusterSpec,
    #[serde(skip_serializing_if = "is_default")]
    pub status: LogicalClusterStatus,
}

impl KcpObject for LogicalCluster {
    const API_VERSION: &'static str = "core.kcp.io/v1alpha1";
    const KIND: &'static str = "LogicalCluster";
    const PLURAL: &'static str = "logicalclusters";
}

impl LogicalCluster {
    /// Deleted, or being emptied before deletion.
    pub fn is_going(&self) -> bool {
        self.metadata.deletion_timestamp.is_some() || self.status.phase == super::phase::TERMINATING
    }

    /// A `metadata.annotations` value, empty when absent.
    pub fn annotation(&self, key: &str) -> &str {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
            .unwrap_or("")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogicalClusterSpec {
    #[serde(skip_serializing_if = "is_false")]
    pub directly_deletable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<LogicalClusterOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<OwnerUserInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub initializers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminators: Vec<String>,
}

/// The object whose life-cycle the logical cluster follows (its
/// Workspace).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogicalClusterOwner {
    pub api_version: String,
    pub resource: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub cluster: String,
    /// kcp spells this one `uid` (JSON), unlike the `UID` of bound schemas.
    pub uid: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnerUserInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogicalClusterStatus {
    #[serde(rename = "URL", skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub initializers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminators: Vec<String>,
}
