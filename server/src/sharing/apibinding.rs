//! APIBindings: a consumer workspace's request to serve an APIExport's
//! resources, and its decisions on the export's permission claims.
//!
//! Stored as `v1alpha2` and served as `v1alpha1` too (see
//! [`super::conversion`]); the rules below see the stored form whichever
//! version was written. They are kcp's `ValidateAPIBinding(Update)` beyond
//! what the schema says: a claim's selector selects something (`matchAll`
//! or labels/expressions, not both), and a binding never goes back to the
//! empty phase once the controller has set one. The reference is required
//! and immutable through the schema (`oneOf` + CEL), as in kcp.
//!
//! Creating a binding needs `bind` on the export ([`super::bind`], kcp's
//! admission; a missing export reads the same as a refused one). Binding
//! itself (resolving the export, conflicts, `status.boundResources`, phase
//! and conditions) is the binding controller's job
//! (`controllers::apibinding`). Admission here also records who created
//! the binding, for the controller's repeat of the `bind` check, and guards
//! deletion: a binding whose resources still have instances in the
//! workspace is not deleted (409) unless it carries
//! `apis.trellis.dev/delete-instances: "true"`, in which case the
//! controller deletes them before the finalizer (added on create) lets the
//! binding go. Either way no bound object outlives its binding.
//!
//! Admission also sets kcp's `internal.apis.kcp.io/export` label (a hash of
//! the export's logical cluster and name, `trellis_apis::kcp::export_label`)
//! and keeps users from changing it: the provider's endpoint serves a
//! provider exactly the bindings carrying its export's value.

use serde_json::{Value, json};
use trellis_apis::kcp::apibinding;
use trellis_apis::kcp::export_label::{EXPORT_LABEL, export_label_value};
use trellis_apis::{FieldError, GroupResource, Status};

use super::conversion::Conversion;
use crate::controllers::apibinding::{
    BINDER_ANNOTATION, DELETE_INSTANCES_ANNOTATION, FINALIZER, binder_annotation, instance_counts,
};
use crate::error::ApiResult;
use crate::meta;
use crate::registry::admission::{Admission, AdmitCtx};
use crate::registry::hooked::Hooks;

/// `v1alpha1` ⇄ `v1alpha2`.
pub const CONVERSION: Conversion = Conversion {
    to_served: apibinding::to_v1alpha1,
    to_stored: apibinding::to_v1alpha2,
};

pub struct BindingHooks;

fn selector_errors(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let claims = obj
        .pointer("/spec/permissionClaims")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, claim) in claims.iter().enumerate() {
        let sel = claim.get("selector").cloned().unwrap_or(Value::Null);
        let labels = sel
            .get("matchLabels")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        let exprs = sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let path = format!("spec.permissionClaims[{i}].selector");
        if sel.get("matchAll").and_then(Value::as_bool) == Some(true) {
            if labels {
                errs.push(FieldError::invalid(
                    format!("{path}.matchLabels"),
                    sel.clone(),
                    "matchLabels cannot be used with matchAll",
                ));
            }
            if exprs {
                errs.push(FieldError::invalid(
                    format!("{path}.matchExpressions"),
                    sel.clone(),
                    "matchExpressions cannot be used with matchAll",
                ));
            }
        } else if !labels && !exprs {
            errs.push(FieldError::required(
                path,
                "either one of matchAll, matchLabels, or matchExpressions must be set",
            ));
        }
    }
    errs
}

fn phase(obj: &Value) -> &str {
    obj.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl Hooks for BindingHooks {
    fn prepare_for_create(&self, obj: &mut Value) {
        let mut fins = meta::finalizers(obj);
        if !fins.iter().any(|f| f == FINALIZER) {
            fins.push(FINALIZER.to_string());
            meta::meta_mut(obj).insert("finalizers".into(), json!(fins));
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        selector_errors(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = selector_errors(new);
        if !phase(old).is_empty() && phase(new).is_empty() {
            errs.push(FieldError::forbidden(
                "status.phase",
                format!("cannot transition from {:?} to \"\"", phase(old)),
            ));
        }
        errs
    }
}

/// Records the binder; refuses deleting a binding with live instances.
pub struct BindingAdmission;

fn set_binder(obj: &mut Value, value: Option<&Value>) {
    let m = meta::meta_mut(obj);
    let anns = m.entry("annotations").or_insert_with(|| json!({}));
    if !anns.is_object() {
        *anns = json!({});
    }
    let a = anns.as_object_mut().expect("object");
    match value {
        Some(v) => {
            a.insert(BINDER_ANNOTATION.into(), v.clone());
        }
        None => {
            a.remove(BINDER_ANNOTATION);
        }
    }
}

/// The logical cluster of the export `obj` references, if its path
/// resolves.
async fn export_cluster(ctx: &AdmitCtx<'_>, obj: &Value) -> ApiResult<Option<String>> {
    match meta::str_at(obj, "/spec/reference/export/path") {
        "" => Ok(Some(ctx.cluster.to_string())),
        path => crate::tenancy::types::resolve_path(ctx.storage, path)
            .await
            .map_err(|e| crate::error::ApiError::internal("resolving the export's path", e)),
    }
}

#[async_trait::async_trait]
impl Admission for BindingAdmission {
    async fn admit_create(&self, ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        super::bind::check(
            ctx,
            &GroupResource::new(trellis_apis::kcp::GROUP, "apibindings"),
            "APIBinding",
            meta::name(obj),
            obj.pointer("/spec/reference/export"),
        )
        .await?;
        // The server's own bindings (workspace defaults) name their binder.
        if let Some(u) = ctx.user {
            set_binder(obj, Some(&json!(binder_annotation(u))));
        }
        // An unresolvable path (only the server and masters get this far)
        // gets its label from the binding controller once it binds.
        let value = export_cluster(ctx, obj).await?.map(|cluster| {
            export_label_value(&cluster, meta::str_at(obj, "/spec/reference/export/name"))
        });
        meta::set_label(obj, EXPORT_LABEL, value.as_deref());
        Ok(())
    }

    async fn admit_update(
        &self,
        ctx: &AdmitCtx<'_>,
        new: &mut Value,
        old: &Value,
    ) -> ApiResult<()> {
        if ctx.user.is_some() {
            let kept = old
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(BINDER_ANNOTATION))
                .cloned();
            set_binder(new, kept.as_ref());
            // The export label is the server's, as kcp resets it: the
            // reference it hashes is immutable, and only the binding
            // controller (no user) repairs it.
            let kept = meta::label(old, EXPORT_LABEL).map(str::to_string);
            meta::set_label(new, EXPORT_LABEL, kept.as_deref());
        }
        Ok(())
    }

    async fn admit_delete(&self, ctx: &AdmitCtx<'_>, obj: &Value) -> ApiResult<()> {
        let asked = obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(DELETE_INSTANCES_ANNOTATION))
            .and_then(Value::as_str)
            == Some("true");
        if asked {
            return Ok(());
        }
        let stored: trellis_apis::kcp::types::APIBinding =
            trellis_apis::kcp::types::from_value(obj)
                .map_err(|e| Status::internal(format!("decoding the binding: {e}")))?;
        let counts = instance_counts(ctx.storage, ctx.cluster, &stored)
            .await
            .map_err(|e| Status::internal(format!("counting bound instances: {e}")))?;
        if counts.is_empty() {
            return Ok(());
        }
        let what: Vec<String> = counts.iter().map(|(gr, n)| format!("{n} {gr}")).collect();
        Err(Status::conflict(
            &GroupResource::new(trellis_apis::kcp::GROUP, "apibindings"),
            meta::name(obj),
            &format!(
                "instances of its resources still exist in this workspace ({}); delete them first, or annotate the APIBinding with {DELETE_INSTANCES_ANNOTATION}=true to delete them with it",
                what.join(", ")
            ),
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with_claim(selector: Value) -> Value {
        json!({"spec": {"reference": {"export": {"name": "e"}}, "permissionClaims": [
            {"resource": "configmaps", "verbs": ["*"], "selector": selector, "state": "Accepted"}]}})
    }

    #[test]
    fn selectors_must_select_one_way() {
        assert!(
            BindingHooks
                .validate(&with_claim(json!({"matchAll": true})))
                .is_empty()
        );
        assert!(
            BindingHooks
                .validate(&with_claim(json!({"matchLabels": {"a": "b"}})))
                .is_empty()
        );
        let errs = BindingHooks.validate(&with_claim(json!({})));
        assert_eq!(
            errs[0].to_string(),
            "spec.permissionClaims[0].selector: Required value: either one of matchAll, matchLabels, or matchExpressions must be set"
        );
        let errs = BindingHooks.validate(&with_claim(
            json!({"matchAll": true, "matchLabels": {"a": "b"}}),
        ));
        assert_eq!(
            errs[0].field,
            "spec.permissionClaims[0].selector.matchLabels"
        );
    }

    #[test]
    fn the_phase_never_goes_back_to_empty() {
        let old = json!({"status": {"phase": "Bound"}});
        let errs = BindingHooks.validate_update(&json!({"status": {}}), &old);
        assert_eq!(
            errs[0].to_string(),
            "status.phase: Forbidden: cannot transition from \"Bound\" to \"\""
        );
        assert!(
            BindingHooks
                .validate_update(&json!({"status": {"phase": "Binding"}}), &old)
                .is_empty()
        );
    }
}
