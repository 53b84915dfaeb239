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
//! Extension point: binding itself (resolving the export, conflicts,
//! `status.boundResources`, phase and conditions) is the binding
//! controller's job; it writes status through the status subresource.

use serde_json::Value;
use trellis_apis::FieldError;
use trellis_apis::kcp::apibinding;

use super::conversion::Conversion;
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
