//! RBAC escalation prevention, as admission on the four RBAC resources.
//!
//! Upstream (`pkg/registry/rbac/*/policybased`) refuses a Role or
//! ClusterRole write that grants more than the writer holds, unless the
//! writer may `escalate` that role, and a binding write whose role grants
//! more than the writer holds, unless the writer may `bind` that role;
//! `system:masters` may do anything, and a ClusterRole with an
//! `aggregationRule` needs that privilege outright (aggregation can pull in
//! any rule). The decision logic is in [`trellis_apis::rbac::escalation`];
//! this runs it against the workspace's policy at write time, after the
//! object is validated, so patches and server-side apply are checked on the
//! object they produce. Updates that only touch what garbage collection
//! needs (owner references, finalizers) are not checked, as upstream.
//!
//! The server's own writes (no user) are not checked: the workspace owner's
//! `cluster-admin` binding is written by the workspace controller.

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};
use serde_json::Value;
use trellis_apis::rbac::escalation::{
    bind_attributes, confirm_no_escalation, escalate_attributes, escalation_allowed,
};
use trellis_apis::{GroupResource, Status};

use super::cache::RBAC_GROUP;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::registry::admission::{Admission, AdmitCtx};

/// The check for one RBAC resource (`roles`, `clusterroles`,
/// `rolebindings`, `clusterrolebindings`).
pub struct EscalationCheck {
    pub resource: &'static str,
}

fn forbidden(resource: &str, name: &str, message: String) -> ApiError {
    let gr = GroupResource {
        group: RBAC_GROUP.into(),
        resource: resource.into(),
    };
    Status::forbidden(&gr, name, &message).into()
}

/// Whether `new` differs from `old` only in what garbage collection writes
/// (`IsOnlyMutatingGCFields`).
fn only_gc_fields(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        let m = meta::meta_mut(&mut v);
        for f in [
            "ownerReferences",
            "finalizers",
            "managedFields",
            "resourceVersion",
            "generation",
        ] {
            m.remove(f);
        }
        v
    };
    strip(new) == strip(old)
}

impl EscalationCheck {
    async fn check(&self, ctx: &AdmitCtx<'_>, obj: &Value) -> ApiResult<()> {
        let Some(user) = ctx.user else { return Ok(()) };
        if escalation_allowed(user) {
            return Ok(());
        }
        let name = meta::name(obj);
        let namespace = meta::str_field(obj, "namespace");
        match self.resource {
            "roles" | "clusterroles" => {
                if self.resource == "clusterroles" && obj.get("aggregationRule").is_some() {
                    return Err(forbidden(
                        self.resource,
                        name,
                        "must have cluster-admin privileges to use the aggregationRule".into(),
                    ));
                }
                if let Some(attrs) =
                    escalate_attributes(user, RBAC_GROUP, self.resource, namespace, name)
                    && ctx.authz.authorize(ctx.cluster, &attrs).await?.is_allowed()
                {
                    return Ok(());
                }
                let rules: Vec<PolicyRule> = obj
                    .get("rules")
                    .cloned()
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|e| ApiError::bad_request(format!("rules: {e}")))?
                    .unwrap_or_default();
                let policy = ctx.authz.policy(ctx.cluster).await?;
                confirm_no_escalation(&policy, user, namespace, &rules)
                    .map_err(|m| forbidden(self.resource, name, m))
            }
            _ => {
                let role_ref: RoleRef = obj
                    .get("roleRef")
                    .cloned()
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|e| ApiError::bad_request(format!("roleRef: {e}")))?
                    .unwrap_or_default();
                if let Some(attrs) = bind_attributes(user, &role_ref, namespace)
                    && ctx.authz.authorize(ctx.cluster, &attrs).await?.is_allowed()
                {
                    return Ok(());
                }
                let policy = ctx.authz.policy(ctx.cluster).await?;
                let rules = policy
                    .role_ref_rules(&role_ref, namespace)
                    .map_err(|m| forbidden(self.resource, name, m))?;
                confirm_no_escalation(&policy, user, namespace, &rules)
                    .map_err(|m| forbidden(self.resource, name, m))
            }
        }
    }
}

#[async_trait::async_trait]
impl Admission for EscalationCheck {
    async fn admit_create(&self, ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        self.check(ctx, obj).await
    }

    async fn admit_update(
        &self,
        ctx: &AdmitCtx<'_>,
        new: &mut Value,
        old: &Value,
    ) -> ApiResult<()> {
        if only_gc_fields(new, old) {
            return Ok(());
        }
        self.check(ctx, new).await
    }
}
