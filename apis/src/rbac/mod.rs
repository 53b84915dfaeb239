//! Kubernetes RBAC (`rbac.authorization.k8s.io/v1`) as pure functions.
//!
//! The server authorizes every request of a logical workspace against that
//! workspace's Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
//! with upstream's semantics (Kubernetes v1.33):
//!
//! - [`attributes`]: the request ([`Attributes`]) and identity ([`UserInfo`]);
//! - [`rules`]: whether one `PolicyRule` allows one request;
//! - [`aggregation`]: ClusterRole `aggregationRule`s, computed to their fixed
//!   point;
//! - [`index`]: [`PolicyIndex`], the whole policy precomputed per subject so
//!   [`PolicyIndex::authorize`] is a few hash lookups, plus the rule lists of
//!   SelfSubjectRulesReview;
//! - [`escalation`]: `Covers` and the checks that stop users from granting
//!   permissions they do not hold;
//! - [`bootstrap`]: the default roles and bindings (`cluster-admin`,
//!   `admin`/`edit`/`view`, discovery, ...);
//! - [`message`]: the exact 403 texts.
//!
//! Everything takes and returns k8s-openapi types and does no I/O: the
//! server lists the objects, builds a [`PolicyIndex`] whenever one of them
//! changes, and swaps it in; requests only read it.

pub mod aggregation;
pub mod attributes;
pub mod bootstrap;
pub mod escalation;
pub mod index;
pub mod message;
pub mod rules;

pub use aggregation::{aggregate_cluster_roles, effective_cluster_role_rules};
pub use attributes::{
    ALL_AUTHENTICATED, ALL_SERVICE_ACCOUNTS, ALL_UNAUTHENTICATED, ANONYMOUS, Attributes,
    SERVICE_ACCOUNT_USERNAME_PREFIX, SYSTEM_MASTERS, UserInfo, service_account_groups,
    service_account_username, split_service_account_username,
};
pub use escalation::{
    bind_attributes, confirm_no_escalation, covers, escalate_attributes, escalation_allowed,
    escalation_message,
};
pub use index::{Decision, PolicyIndex, RulesReview};
pub use message::{forbidden_message, forbidden_status, forbidden_status_message};
pub use rules::{new_rule, rule_allows, rules_allow};
