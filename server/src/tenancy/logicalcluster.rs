//! `LogicalCluster` objects: one per workspace, always named `cluster`.
//!
//! The object is the workspace seen from inside: its phase, its owner (the
//! `Workspace` in the parent) and the initializers that still have to run.
//! Initializers remove themselves from `status.initializers` through the
//! status subresource; the workspace controller notices and completes the
//! workspace once none is left.
//!
//! Everything else on it is the server's: its annotations place the
//! workspace in the tree and give its type, which admission of child
//! workspaces trusts. Only masters write the object itself
//! (`authz::system`), and [`LogicalClusterAdmission`] lets everyone else
//! change nothing in its status but removing initializers.

use serde_json::Value;
use trellis_apis::FieldError;

use crate::error::ApiResult;
use crate::meta;
use crate::registry::hooked::Hooks;
use crate::registry::{Admission, AdmitCtx};

pub struct LogicalClusterHooks;

impl Hooks for LogicalClusterHooks {
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let name = meta::name(obj);
        if name != super::LOGICAL_CLUSTER {
            return vec![FieldError::invalid(
                "metadata.name",
                Value::String(name.to_string()),
                "must be \"cluster\"",
            )];
        }
        Vec::new()
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        // Initializers only ever shrink: a workspace cannot be sent back
        // into initialization.
        let list = |v: &Value| -> Vec<String> {
            v.pointer("/status/initializers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        if old.pointer("/status/phase").is_none() {
            // Initialization has not started: the controller sets them.
            return Vec::new();
        }
        let (n, o) = (list(new), list(old));
        match n.iter().find(|i| !o.contains(i)) {
            Some(added) => vec![FieldError::invalid(
                "status.initializers",
                Value::String(added.clone()),
                "initializers can only be removed",
            )],
            None => Vec::new(),
        }
    }
}

/// Keeps a LogicalCluster's status the server's, but for initializers
/// leaving (see the module comment).
pub struct LogicalClusterAdmission;

#[async_trait::async_trait]
impl Admission for LogicalClusterAdmission {
    async fn admit_create(&self, _ctx: &AdmitCtx<'_>, _obj: &mut Value) -> ApiResult<()> {
        Ok(())
    }

    async fn admit_update(
        &self,
        ctx: &AdmitCtx<'_>,
        new: &mut Value,
        old: &Value,
    ) -> ApiResult<()> {
        if ctx.privileged() {
            return Ok(());
        }
        let mut rest = new.get("status").cloned().unwrap_or(Value::Null);
        let was = old.get("status").cloned().unwrap_or(Value::Null);
        if let Some(m) = rest.as_object_mut() {
            match was.get("initializers") {
                Some(i) => m.insert("initializers".into(), i.clone()),
                None => m.remove("initializers"),
            };
        }
        if rest != was {
            return Err(trellis_apis::Status::forbidden(
                &trellis_apis::GroupResource::new("core.kcp.io", "logicalclusters"),
                meta::name(new),
                "only removing initializers from status.initializers is supported",
            )
            .into());
        }
        Ok(())
    }
}
