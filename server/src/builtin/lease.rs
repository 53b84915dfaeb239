//! Leases (coordination.k8s.io/v1), used by controllers for leader election.

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::{Value, json};
use trellis_apis::FieldError;

use crate::error::ApiResult;
use crate::registry::{Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<Lease>(body, "Lease", "v1")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(d) = obj
            .pointer("/spec/leaseDurationSeconds")
            .and_then(Value::as_i64)
            && d <= 0
        {
            errs.push(FieldError::invalid(
                "spec.leaseDurationSeconds",
                d,
                "must be greater than 0",
            ));
        }
        if let Some(t) = obj
            .pointer("/spec/leaseTransitions")
            .and_then(Value::as_i64)
            && t < 0
        {
            errs.push(FieldError::invalid(
                "spec.leaseTransitions",
                t,
                "must be greater than or equal to 0",
            ));
        }
        errs
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new("Holder", "string", "The holder of the lease"),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        vec![
            table::name_cell(obj),
            obj.pointer("/spec/holderIdentity")
                .cloned()
                .unwrap_or(json!("")),
            table::age_cell(obj, now),
        ]
    }
}
