//! Authorization: may this user do this in this workspace?
//!
//! Upstream kube-apiserver asks a chain of authorizers; Trellis' chain, per
//! request, after authentication and cluster resolution:
//!
//! 1. `system:masters` may do everything (upstream's privileged-group
//!    authorizer, in front of RBAC);
//! 2. workspace access, as kcp models it: the user needs the `access` verb
//!    on the non-resource path `/` *inside* the workspace (ClusterRole
//!    `system:kcp:workspace:access`, or anything broader such as
//!    `cluster-admin`). ServiceAccounts of the workspace itself need no
//!    grant. Without access every request in the workspace is refused, and
//!    the refusal reads the same whether or not the workspace exists;
//! 3. server-owned state ([`system`]): nobody but masters writes the
//!    status the server decides or a workspace's `LogicalCluster`;
//! 4. RBAC of the workspace ([`trellis_apis::rbac::PolicyIndex`]).
//!
//! Policy per workspace is the workspace's own Roles, ClusterRoles,
//! RoleBindings and ClusterRoleBindings plus the shared bootstrap policy
//! ([`bootstrap`]): the roles users expect (`cluster-admin`, `admin`,
//! `edit`, `view`, discovery) exist in every workspace without being
//! copied into each. A workspace's index is built on first use from one
//! storage scan per RBAC resource and cached; a watch of the RBAC group
//! drops the workspace's entry on every change, whoever wrote it, and a
//! request first waits for that watch to catch up with the RBAC writes
//! committed before it ([`cache`]), so it sees the new policy.

pub mod bootstrap;
pub mod cache;
pub mod escalation;
pub mod impersonation;
pub mod request;
pub mod system;

pub use cache::Authorizer;
