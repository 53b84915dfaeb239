//! Admission that needs more than the object: other objects, the caller,
//! the caller's permissions.
//!
//! A [`Strategy`](super::Strategy) sees one object and nothing else, which
//! covers defaulting and validation of most resources. A few resources must
//! look around before a create is allowed — a Workspace resolves its type
//! in the parent workspace and checks the parent's and child's type
//! restrictions, and records who created it. Like Kubernetes' admission
//! chain these run after the strategy has prepared and validated the object
//! and before it is written; they may mutate the object or refuse it with
//! any `Status`.

use std::sync::Arc;

use serde_json::Value;
use trellis_storage::Storage;

use crate::auth::UserInfo;
use crate::error::ApiResult;

/// What an admission step may look at.
pub struct AdmitCtx<'a> {
    pub storage: &'a Arc<dyn Storage>,
    /// Authorization policy, for checks such as RBAC escalation prevention.
    pub authz: &'a Arc<crate::authz::Authorizer>,
    /// The logical cluster (stable name) the object is written in.
    pub cluster: &'a str,
    /// The caller; `None` for the server's own controllers.
    pub user: Option<&'a UserInfo>,
    pub dry_run: bool,
    /// The subresource written (`status`, `approval`, ...), if any.
    pub subresource: Option<&'a str>,
}

impl AdmitCtx<'_> {
    /// Whether the write comes from the server itself or a `system:masters`
    /// member, who may set what ordinary users may not.
    pub fn privileged(&self) -> bool {
        self.user.is_none_or(|u| u.in_group(crate::auth::MASTERS))
    }
}

#[async_trait::async_trait]
pub trait Admission: Send + Sync + 'static {
    /// Runs before a new object is written.
    async fn admit_create(&self, ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()>;

    /// Runs before a changed object replaces `old`.
    async fn admit_update(
        &self,
        _ctx: &AdmitCtx<'_>,
        _new: &mut Value,
        _old: &Value,
    ) -> ApiResult<()> {
        Ok(())
    }

    /// Runs before a caller's delete starts (controllers' deletes are not
    /// admitted); `obj` is the object as stored.
    async fn admit_delete(&self, _ctx: &AdmitCtx<'_>, _obj: &Value) -> ApiResult<()> {
        Ok(())
    }
}
