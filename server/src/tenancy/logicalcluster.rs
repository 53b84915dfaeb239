//! `LogicalCluster` objects: one per workspace, always named `cluster`.
//!
//! The object is the workspace seen from inside: its phase, its owner (the
//! `Workspace` in the parent) and the initializers and terminators that
//! still have to run. Initializers remove themselves from
//! `status.initializers` through the status subresource, terminators from
//! `status.terminators` once the workspace is being deleted (phase
//! `Terminating`); the workspace controller notices and completes the
//! workspace, or its deletion, once none is left.
//!
//! Everything else on it is the server's: its annotations place the
//! workspace in the tree and give its type, which admission of child
//! workspaces trusts. Only masters write the object itself
//! (`authz::system`), and [`LogicalClusterAdmission`] lets everyone else
//! change nothing in its status but removing initializers, and
//! terminators while it terminates.

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
        // Initializers and terminators only ever shrink: a workspace cannot
        // be sent back into initialization, nor given a terminator it did
        // not start with.
        if old.pointer("/status/phase").is_none() {
            // Initialization has not started: the controller sets them.
            return Vec::new();
        }
        let mut errs = Vec::new();
        for (field, what) in [
            ("initializers", "initializers"),
            ("terminators", "terminators"),
        ] {
            let ptr = format!("/status/{field}");
            let (n, o) = (meta::strings_at(new, &ptr), meta::strings_at(old, &ptr));
            if let Some(added) = n.iter().find(|i| !o.contains(i)) {
                errs.push(FieldError::invalid(
                    format!("status.{field}"),
                    Value::String(added.clone()),
                    format!("{what} can only be removed"),
                ));
            }
        }
        errs
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
        let forbidden = |why: &str| -> ApiResult<()> {
            Err(trellis_apis::Status::forbidden(
                &trellis_apis::GroupResource::new("core.kcp.io", "logicalclusters"),
                meta::name(new),
                why,
            )
            .into())
        };
        let mut rest = new.get("status").cloned().unwrap_or(Value::Null);
        let was = old.get("status").cloned().unwrap_or(Value::Null);
        if let Some(m) = rest.as_object_mut() {
            for field in ["initializers", "terminators"] {
                match was.get(field) {
                    Some(i) => m.insert(field.into(), i.clone()),
                    None => m.remove(field),
                };
            }
        }
        if rest != was {
            return forbidden(
                "only removing initializers from status.initializers and terminators from status.terminators is supported",
            );
        }
        let terminating = was.get("phase").and_then(Value::as_str) == Some("Terminating");
        let terminators = |v: &Value| meta::strings_at(v, "/status/terminators");
        if !terminating && terminators(new) != terminators(old) {
            return forbidden(
                "terminators can only be removed once the workspace is being deleted",
            );
        }
        Ok(())
    }
}
