//! ResourceQuotas and LimitRanges (core v1). A ResourceQuota's object
//! counts are enforced at create by [`crate::quota`]; LimitRanges are
//! stored and served (nothing here has compute resources to limit).

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use serde_json::{Value, json};
use trellis_apis::FieldError;
use trellis_apis::cel::Quantity;

use crate::error::ApiResult;
use crate::registry::{Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

const QUANTITY_PATTERN: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// kube's checks of a `ResourceList` (`spec.hard`): qualified names,
/// quantities that parse and are not negative.
fn validate_resource_list(list: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(Value::Object(m)) = list else {
        return errs;
    };
    for (k, v) in m {
        let at = format!("{path}[{k}]");
        for msg in trellis_apis::validation::is_qualified_name(k) {
            errs.push(FieldError::invalid(at.clone(), k.as_str(), msg));
        }
        let text = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        match Quantity::parse(&text) {
            None => errs.push(FieldError::invalid(at, text, QUANTITY_PATTERN)),
            Some(q) if q.floor_integer().is_some_and(|n| n < 0) || text.starts_with('-') => errs
                .push(FieldError::invalid(
                    at,
                    text,
                    "must be greater than or equal to 0",
                )),
            Some(_) => {}
        }
    }
    errs
}

pub struct ResourceQuotaStrategy;

impl Strategy for ResourceQuotaStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<ResourceQuota>(body, "ResourceQuota", "v1")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_resource_list(obj.pointer("/spec/hard"), "spec.hard")
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        let mut errs = validate_resource_list(new.pointer("/status/hard"), "status.hard");
        errs.extend(validate_resource_list(
            new.pointer("/status/used"),
            "status.used",
        ));
        errs
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            AGE,
            Column::new(
                "Request",
                "string",
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            Column::new(
                "Limit",
                "string",
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        // kube's printer: `<name>: <used>/<hard>` by name, `limits.*` apart.
        let hard = obj
            .pointer("/status/hard")
            .or_else(|| obj.pointer("/spec/hard"));
        let used = obj.pointer("/status/used");
        let (mut requests, mut limits) = (Vec::new(), Vec::new());
        if let Some(Value::Object(hard)) = hard {
            let mut keys: Vec<&String> = hard.keys().collect();
            keys.sort();
            for k in keys {
                let h = hard[k].as_str().unwrap_or("");
                let u = used
                    .and_then(|u| u.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("0");
                let cell = format!("{k}: {u}/{h}");
                if k.starts_with("limits.") {
                    limits.push(cell);
                } else {
                    requests.push(cell);
                }
            }
        }
        vec![
            table::name_cell(obj),
            table::age_cell(obj, now),
            json!(requests.join(", ")),
            json!(limits.join(", ")),
        ]
    }
}

pub struct LimitRangeStrategy;

impl Strategy for LimitRangeStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<LimitRange>(body, "LimitRange", "v1")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(Value::Array(limits)) = obj.pointer("/spec/limits") {
            for (i, l) in limits.iter().enumerate() {
                if l.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    errs.push(FieldError::required(format!("spec.limits[{i}].type"), ""));
                }
                for field in [
                    "max",
                    "min",
                    "default",
                    "defaultRequest",
                    "maxLimitRequestRatio",
                ] {
                    errs.extend(validate_resource_list(
                        l.get(field),
                        &format!("spec.limits[{i}].{field}"),
                    ));
                }
            }
        }
        errs
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new(
                "Created At",
                "date",
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ]
    }

    fn table_cells(&self, obj: &Value, _now: jiff::Timestamp) -> Vec<Value> {
        vec![
            table::name_cell(obj),
            obj.pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(json!("")),
        ]
    }
}
