//! The policy every workspace starts with, shared rather than copied.
//!
//! Upstream's bootstrap roles (`cluster-admin`, `admin`, `edit`, `view`,
//! their aggregation parts, discovery and basic-user) and bindings
//! (masters, discovery and self-review for every authenticated user) come
//! from [`trellis_apis::rbac::bootstrap`]; to those Trellis adds kcp's
//! `system:kcp:workspace:access`, the role that lets a user into a
//! workspace. Every workspace's authorizer sees this policy beneath its own
//! objects: a workspace object of the same name replaces the bootstrap one.
//! The root workspace also stores the roles as objects, so that
//! `kubectl get clusterrole admin` answers there as in any cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use trellis_apis::rbac::{bootstrap, new_rule};

/// kcp's role granting entry to a workspace.
pub const WORKSPACE_ACCESS_ROLE: &str = "system:kcp:workspace:access";
/// The verb and path of workspace access.
pub const ACCESS_VERB: &str = "access";
pub const ACCESS_PATH: &str = "/";
/// The binding that makes a workspace's creator its admin.
pub const WORKSPACE_ADMIN_BINDING: &str = "workspace-admin";

/// The shared policy.
pub struct BootstrapPolicy {
    pub cluster_roles: Vec<ClusterRole>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

impl BootstrapPolicy {
    pub fn new() -> Self {
        let mut cluster_roles = bootstrap::cluster_roles();
        cluster_roles.push(ClusterRole {
            metadata: ObjectMeta {
                name: Some(WORKSPACE_ACCESS_ROLE.into()),
                labels: Some(BTreeMap::from([(
                    "kubernetes.io/bootstrapping".to_string(),
                    "rbac-defaults".to_string(),
                )])),
                ..Default::default()
            },
            rules: Some(vec![new_rule(&[ACCESS_VERB]).urls(&[ACCESS_PATH]).build()]),
            aggregation_rule: None,
        });
        BootstrapPolicy {
            cluster_roles,
            cluster_role_bindings: bootstrap::cluster_role_bindings(),
        }
    }
}

impl Default for BootstrapPolicy {
    fn default() -> Self {
        Self::new()
    }
}
