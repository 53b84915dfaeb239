//! Namespaces: cluster-scoped, named by DNS labels, with the `kubernetes`
//! spec finalizer that keeps a deleted namespace Terminating until the
//! namespace controller has emptied it.

use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};
use trellis_apis::FieldError;

use crate::error::ApiResult;
use crate::registry::{Decoded, NameRule, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

/// The spec finalizer the namespace controller removes.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";
/// The label every namespace carries with its own name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub struct NamespaceStrategy;

fn set_name_label(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        return;
    }
    let meta = &mut obj["metadata"];
    if !meta.get("labels").is_some_and(Value::is_object) {
        meta["labels"] = json!({});
    }
    meta["labels"][NAME_LABEL] = Value::String(name);
}

pub fn spec_finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_terminating(obj: &Value) -> bool {
    obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        || obj.pointer("/metadata/deletionTimestamp").is_some()
}

impl Strategy for NamespaceStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<Namespace>(body, "Namespace", "v1")
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Label
    }

    fn deletion_blocked(&self, obj: &Value) -> bool {
        !spec_finalizers(obj).is_empty()
    }

    fn begin_deletion(&self, obj: &mut Value) {
        if !obj.get("status").is_some_and(Value::is_object) {
            obj["status"] = json!({});
        }
        obj["status"]["phase"] = json!("Terminating");
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Active"});
        let mut fins = spec_finalizers(obj);
        if !fins.iter().any(|f| f == KUBERNETES_FINALIZER) {
            fins.push(KUBERNETES_FINALIZER.into());
        }
        if !obj.get("spec").is_some_and(Value::is_object) {
            obj["spec"] = json!({});
        }
        obj["spec"]["finalizers"] = json!(fins);
        set_name_label(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // Spec finalizers change only through /finalize, status through
        // /status; both subresource handlers bypass this.
        new["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
        new["status"] = old.get("status").cloned().unwrap_or(json!({}));
        set_name_label(new);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (i, f) in spec_finalizers(obj).iter().enumerate() {
            if f != KUBERNETES_FINALIZER && !f.contains('/') {
                errs.push(FieldError::invalid(
                    format!("spec.finalizers[{i}]"),
                    f.clone(),
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
        errs
    }

    fn selectable_fields(&self) -> &[&'static str] {
        &["status.phase"]
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new("Status", "string", "The status of the namespace"),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        vec![
            table::name_cell(obj),
            obj.pointer("/status/phase").cloned().unwrap_or(json!("")),
            table::age_cell(obj, now),
        ]
    }
}
