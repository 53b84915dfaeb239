//! The `bind` check on an APIExport reference, as kcp's admission makes it
//! for APIBindings and APIExportEndpointSlices.
//!
//! A reference names an export by workspace path and name; the caller needs
//! the `bind` verb on `apiexports/<name>` in the RBAC of the workspace
//! holding it (a deep SubjectAccessReview: no access to that workspace is
//! needed). A path that does not resolve is refused exactly like a missing
//! grant, so references cannot probe for other tenants' workspaces and
//! exports.

use serde_json::Value;
use trellis_apis::{GroupResource, Status};

use crate::error::ApiResult;
use crate::registry::admission::AdmitCtx;
use crate::tenancy::types;

/// Refuses the write of `gr` object `name` (a `kind` referencing
/// `spec_export`, `{path, name}`) unless the caller may bind that export.
pub async fn check(
    ctx: &AdmitCtx<'_>,
    gr: &GroupResource,
    kind: &str,
    name: &str,
    spec_export: Option<&Value>,
) -> ApiResult<()> {
    let Some(user) = ctx.user else {
        return Ok(());
    };
    if user.in_group(crate::auth::MASTERS) {
        return Ok(());
    }
    let field = |f: &str| {
        spec_export
            .and_then(|e| e.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (path, export) = (field("path"), field("name"));
    let cluster = if path.is_empty() {
        Some(ctx.cluster.to_string())
    } else {
        types::resolve_path(ctx.storage, path)
            .await
            .map_err(|e| Status::internal(format!("resolving {path}: {e}")))?
    };
    let allowed = match cluster {
        Some(c) if !export.is_empty() => {
            ctx.authz
                .allows_in(
                    &c,
                    user,
                    "bind",
                    trellis_apis::kcp::GROUP,
                    "apiexports",
                    export,
                )
                .await?
        }
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    let target = if path.is_empty() {
        export.to_string()
    } else {
        format!("{path}:{export}")
    };
    Err(Status::forbidden(
        gr,
        name,
        &format!("unable to create {kind}: no permission to bind to export {target}"),
    )
    .into())
}
