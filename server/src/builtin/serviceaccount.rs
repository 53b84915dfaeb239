//! ServiceAccounts. Tokens for them are minted through the `token`
//! subresource by the authentication layer.

use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::registry::{Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

pub struct ServiceAccountStrategy;

impl Strategy for ServiceAccountStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<ServiceAccount>(body, "ServiceAccount", "v1")
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new(
                "Secrets",
                "string",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let n = obj
            .get("secrets")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        vec![table::name_cell(obj), json!(n), table::age_cell(obj, now)]
    }
}
