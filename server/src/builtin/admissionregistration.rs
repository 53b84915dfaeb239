//! ValidatingAdmissionPolicies and their bindings
//! (`admissionregistration.k8s.io/v1`), stored per workspace. Their checks
//! — kube's field paths and messages, every expression compiled — live in
//! [`crate::policy::compiled`], which the policy cache compiles them with
//! too; enforcement is [`crate::policy`].

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use serde_json::{Value, json};
use trellis_apis::FieldError;

use crate::error::ApiResult;
use crate::policy::compiled;
use crate::registry::{Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

pub struct PolicyStrategy;

impl Strategy for PolicyStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<ValidatingAdmissionPolicy>(body, "ValidatingAdmissionPolicy", "v1")
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        compiled::default_policy(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        compiled::default_policy(new);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        match serde_json::from_value::<ValidatingAdmissionPolicy>(obj.clone()) {
            Ok(p) => compiled::policy(&p).1,
            Err(e) => vec![FieldError::invalid("spec", "", e.to_string())],
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new(
                "Validations",
                "integer",
                "Validations indicates the number of validation rules defined in this configuration",
            ),
            Column::new(
                "ParamKind",
                "string",
                "ParamKind specifies the kind of resources used to parameterize this policy",
            ),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let validations = obj
            .pointer("/spec/validations")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let param_kind = match obj.pointer("/spec/paramKind") {
            Some(pk) => format!(
                "{}/{}",
                pk.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
                pk.get("kind").and_then(Value::as_str).unwrap_or("")
            ),
            None => "<unset>".into(),
        };
        vec![
            table::name_cell(obj),
            json!(validations),
            json!(param_kind),
            table::age_cell(obj, now),
        ]
    }
}

pub struct BindingStrategy;

impl Strategy for BindingStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<ValidatingAdmissionPolicyBinding>(
            body,
            "ValidatingAdmissionPolicyBinding",
            "v1",
        )
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        compiled::default_binding(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        compiled::default_binding(new);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        match serde_json::from_value::<ValidatingAdmissionPolicyBinding>(obj.clone()) {
            Ok(b) => compiled::binding(&b).1,
            Err(e) => vec![FieldError::invalid("spec", "", e.to_string())],
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new(
                "PolicyName",
                "string",
                "PolicyName indicates the policy definition which the policy binding binded to",
            ),
            Column::new(
                "ParamRef",
                "string",
                "ParamRef indicates the param resource which sets the configration param",
            ),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let policy = obj
            .pointer("/spec/policyName")
            .cloned()
            .unwrap_or(json!(""));
        let param = match obj.pointer("/spec/paramRef") {
            None => "<unset>".to_string(),
            Some(pr) => {
                let name = pr.get("name").and_then(Value::as_str).unwrap_or("");
                let ns = pr.get("namespace").and_then(Value::as_str).unwrap_or("");
                match (name, ns, pr.get("selector")) {
                    ("", _, Some(sel)) => trellis_apis::labels::from_label_selector(sel)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    ("", _, None) => "<unset>".into(),
                    (name, "", _) => format!("*/{name}"),
                    (name, ns, _) => format!("{ns}/{name}"),
                }
            }
        };
        vec![
            table::name_cell(obj),
            policy,
            json!(param),
            table::age_cell(obj, now),
        ]
    }
}

/// ValidatingWebhookConfigurations and MutatingWebhookConfigurations:
/// kube's defaults and checks live in [`crate::webhook::config`].
pub struct WebhookConfigStrategy {
    pub kind: crate::webhook::config::Kind,
}

impl WebhookConfigStrategy {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            crate::webhook::config::Kind::Validating => "ValidatingWebhookConfiguration",
            crate::webhook::config::Kind::Mutating => "MutatingWebhookConfiguration",
        }
    }
}

impl Strategy for WebhookConfigStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        use k8s_openapi::api::admissionregistration::v1::{
            MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
        };
        match self.kind {
            crate::webhook::config::Kind::Validating => {
                super::typed::decode::<ValidatingWebhookConfiguration>(body, self.kind_name(), "v1")
            }
            crate::webhook::config::Kind::Mutating => {
                super::typed::decode::<MutatingWebhookConfiguration>(body, self.kind_name(), "v1")
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        crate::webhook::config::default_configuration(obj, self.kind);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        crate::webhook::config::default_configuration(new, self.kind);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        use crate::webhook::config::{self, Kind, Target};
        let compiled = match self.kind {
            Kind::Validating => serde_json::from_value(obj.clone()).map(|c| config::validating(&c)),
            Kind::Mutating => serde_json::from_value(obj.clone()).map(|c| config::mutating(&c)),
        };
        match compiled {
            Ok((hooks, errs)) => {
                for h in hooks.iter().filter(|h| h.broken.is_none()) {
                    if let Target::Unresolvable(why) = &h.target {
                        crate::policy::notes::warn(format!(
                            "webhook {:?}: {why}; calls to it fail and its failurePolicy decides",
                            h.name
                        ));
                    }
                }
                errs
            }
            Err(e) => vec![FieldError::invalid("webhooks", "", e.to_string())],
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new(
                "Webhooks",
                "integer",
                "Webhooks indicates the number of webhooks in this configuration",
            ),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let n = obj
            .get("webhooks")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        vec![table::name_cell(obj), json!(n), table::age_cell(obj, now)]
    }
}
