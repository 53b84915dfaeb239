//! The strategy of one served version of a custom resource.
//!
//! What apiextensions' `customResourceStrategy` does, in the order it does
//! it: decoding prunes everything the schema does not declare (reporting
//! it for `fieldValidation`) and applies defaults; validation checks the
//! OpenAPI schema, then the scale paths, then CEL rules (`x-kubernetes-
//! validations`), which are skipped when the object has type errors
//! because rules would only fail on them confusingly. Everything compiled
//! here (validator, rules, column paths) is built once per definition
//! change, never per request.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use trellis_apis::cel::Rules;
use trellis_apis::jsonpath::JsonPath;
use trellis_apis::schema::Schema;
use trellis_apis::schema::validate::Validator;
use trellis_apis::{ErrorType, FieldError};

use super::api::ScalePaths;
use super::columns::Columns;
use crate::error::{ApiError, ApiResult};
use crate::registry::{Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::Column;

pub struct CustomStrategy {
    pub kind: String,
    pub version: String,
    /// The served form's structural schema, `metadata` as ObjectMeta.
    pub structural: Arc<Schema>,
    pub validator: Validator,
    pub rules: Rules,
    pub columns: Columns,
    /// Field-selector names (`spec.color`) and their paths.
    pub selectable: Vec<(String, JsonPath)>,
    pub scale: Option<ScalePaths>,
}

/// Prunes `obj` by `structural` and applies its defaults (see
/// [`CustomStrategy::normalize`]); returns the pruned paths.
pub fn normalize(structural: &Schema, obj: &mut Value) -> Vec<String> {
    let meta = obj.as_object_mut().and_then(|m| m.remove("metadata"));
    let unknown = trellis_apis::schema::prune(obj, structural);
    trellis_apis::schema::default::apply_defaults(obj, structural);
    if let (Some(meta), Some(m)) = (meta, obj.as_object_mut()) {
        m.insert("metadata".into(), meta);
    }
    unknown
}

impl CustomStrategy {
    /// Prunes unknown fields (returning their paths) and applies defaults:
    /// what happens to every body on its way in, and to stored objects on
    /// their way out when the schema has defaults.
    ///
    /// `metadata` is left alone: it is ObjectMeta, decoded as such, and
    /// pruning it by schema would empty opaque parts such as
    /// `managedFields[*].fieldsV1`.
    pub fn normalize(&self, obj: &mut Value) -> Vec<String> {
        normalize(&self.structural, obj)
    }

    /// upstream `ValidateScaleSpec`/`ValidateScaleStatus`; errors are
    /// reported at the path as the definition writes it (leading dot).
    fn validate_scale(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let Some(scale) = &self.scale else {
            return errs;
        };
        for path in [&scale.spec_replicas, &scale.status_replicas] {
            let Some(v) = JsonPath::parse(path)
                .ok()
                .and_then(|p| p.first(obj).cloned())
            else {
                continue;
            };
            match v.as_i64() {
                Some(n) if n < 0 => errs.push(FieldError::invalid(
                    path.as_str(),
                    n,
                    "should be a non-negative integer",
                )),
                Some(n) if n > i64::from(i32::MAX) => errs.push(FieldError::invalid(
                    path.as_str(),
                    n,
                    format!("should be less than or equal to {}", i32::MAX),
                )),
                Some(_) => {}
                None => errs.push(FieldError::invalid(
                    path.as_str(),
                    0,
                    format!(
                        "{path} accessor error: {} is of the type {}, expected int64",
                        match &v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                        go_type(&v)
                    ),
                )),
            }
        }
        if let Some(path) = &scale.label_selector
            && let Some(v) = JsonPath::parse(path)
                .ok()
                .and_then(|p| p.first(obj).cloned())
            && !v.is_string()
        {
            errs.push(FieldError::invalid(
                path.as_str(),
                "",
                format!(
                    "{path} accessor error: {v} is of the type {}, expected string",
                    go_type(&v)
                ),
            ));
        }
        errs
    }

    fn check(&self, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = self.validator.validate(new);
        errs.extend(self.validate_scale(new));
        if !self.rules.is_empty() {
            let blocking = errs.iter().any(|e| {
                matches!(
                    e.kind,
                    ErrorType::NotSupported
                        | ErrorType::Required
                        | ErrorType::TooLong
                        | ErrorType::TooMany
                        | ErrorType::TypeInvalid
                )
            });
            if blocking {
                // Upstream's `field.Invalid(nil, nil, …)`: a nil path and value.
                errs.push(FieldError::new(
                    ErrorType::Invalid,
                    "<nil>",
                    Some(Value::Null),
                    "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                ));
            } else {
                errs.extend(self.rules.validate(new, old));
            }
        }
        errs
    }
}

/// The Go type a JSON value decodes to, for accessor error messages.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "<nil>",
    }
}

impl Strategy for CustomStrategy {
    fn decode(&self, mut body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        let mut unknown = Vec::new();
        // Metadata is ObjectMeta whatever the schema says: decode it as
        // such, so mistyped fields are refused as for built-in types.
        if let Some(meta) = body.get_mut("metadata") {
            let raw = meta.take();
            let typed: ObjectMeta = serde_ignored::deserialize(raw, |path| {
                unknown.push(format!("metadata.{path}"));
            })
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
                    kind = self.kind,
                    v = self.version
                ))
            })?;
            *meta = serde_json::to_value(&typed)
                .map_err(|e| ApiError::internal("re-encoding metadata", e))?;
        }
        unknown.extend(self.normalize(&mut body));
        Ok(Decoded {
            object: body,
            unknown_fields: unknown,
        })
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        self.check(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        self.check(new, Some(old))
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }

    fn is_selectable(&self, field: &str) -> bool {
        self.selectable.iter().any(|(f, _)| f == field)
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let (_, path) = self.selectable.iter().find(|(f, _)| f == field)?;
        match path.first(obj)? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn table_columns(&self) -> Vec<Column> {
        self.columns.definitions()
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        self.columns.cells(obj, now)
    }
}
