//! Evaluating compiled rules over an object, as `schema/cel/validation.go`
//! does.
//!
//! The walk follows the data: at each node with rules, `self` is the node's
//! value and `oldSelf` the correlated old value. Old values correlate through
//! object properties, map (additionalProperties) keys and the items of
//! `x-kubernetes-list-type: map` lists (by their key fields); nothing
//! correlates through other lists. `null` values are not validated (nor is
//! anything below them).
//!
//! Transition rules (those naming `oldSelf`) are skipped without a correlated
//! old value, unless `optionalOldSelf: true`, in which case `oldSelf` is
//! `optional.none()` / `optional.of(old)`. messageExpressions see the plain
//! (non-optional) `oldSelf`, as upstream.
//!
//! Ratcheting (CRDValidationRatcheting, on by default since 1.30): on update,
//! an error of a rule that does not use `oldSelf` is demoted to a warning
//! when the node — or, where the node cannot be correlated, its nearest
//! correlatable ancestor — equals its old value.
//!
//! Errors, by upstream's wording: `<path>: Invalid value: "<schema type>":
//! <message>`; the root's path is `<nil>` (Go's rendering of a nil path).
//!
//! Cost budgets are not enforced (no per-call or per-object CEL cost limit).

use super::compile::{CompiledRule, ENV, Rules, Validator};
use super::values::to_val;
use crate::field_error::{ErrorType, FieldError};
use cel::common::types::CelOptional;
use cel::{Context, ExecutionError, Value};
use serde_json::Value as Json;

/// Longest messageExpression result used, in bytes.
const MAX_MESSAGE_EXPRESSION_BYTES: usize = 5 * 1024;

/// What a validation run found.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub errors: Vec<FieldError>,
    /// Errors demoted by ratcheting, rendered as upstream's warnings.
    pub warnings: Vec<String>,
}

/// Ratcheting state: whether the current node correlates (and equals its
/// old value), or else whether the nearest correlatable ancestor did.
#[derive(Clone, Copy)]
struct Ratchet {
    /// `Some(equal)` if the node correlates with an old value.
    current: Option<bool>,
    /// Equality of the nearest correlatable ancestor.
    parent: bool,
}

impl Ratchet {
    fn should_ratchet(self) -> bool {
        self.current.unwrap_or(self.parent)
    }

    fn child(self, new: &Json, old: Option<&Json>) -> Ratchet {
        match self.current {
            None => self,
            Some(eq) => Ratchet {
                current: old.map(|o| o == new),
                parent: eq,
            },
        }
    }
}

impl Rules {
    /// Validates `new` (the whole pruned object; on update `old` is the
    /// stored object) and returns the field errors.
    pub fn validate(&self, new: &Json, old: Option<&Json>) -> Vec<FieldError> {
        self.validate_with_warnings(new, old).errors
    }

    /// Like [`Rules::validate`], also returning the warnings ratcheting
    /// demoted errors to.
    pub fn validate_with_warnings(&self, new: &Json, old: Option<&Json>) -> Outcome {
        let mut out = Outcome::default();
        if let Some(root) = &self.root {
            let ratchet = Ratchet {
                current: old.map(|o| o == new),
                parent: false,
            };
            validate(root, "", new, old, ratchet, &mut out);
        }
        out
    }
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn shown_path(path: &str) -> String {
    if path.is_empty() {
        "<nil>".to_string()
    } else {
        path.to_string()
    }
}

fn validate(
    v: &Validator,
    path: &str,
    new: &Json,
    old: Option<&Json>,
    ratchet: Ratchet,
    out: &mut Outcome,
) {
    if new.is_null() {
        return;
    }
    let old = old.filter(|o| !o.is_null());
    if !v.rules.is_empty() {
        expressions(v, path, new, old, ratchet, out);
    }
    for branch in &v.all_of {
        let r = Ratchet {
            current: None,
            parent: ratchet.parent,
        };
        validate(branch, path, new, old, r, out);
    }
    match new {
        Json::Array(items) => {
            if let Some(item_v) = &v.items {
                let old_items = old.and_then(Json::as_array);
                let is_map_list = v.node.list_type.as_deref() == Some("map");
                for (i, item) in items.iter().enumerate() {
                    let old_item = if is_map_list {
                        old_items.and_then(|o| find_by_keys(o, item, &v.node.list_map_keys))
                    } else {
                        None
                    };
                    let r = match ratchet.current {
                        None => ratchet,
                        Some(eq) => Ratchet {
                            current: if is_map_list {
                                old_item.map(|o| o == item)
                            } else {
                                None
                            },
                            parent: eq,
                        },
                    };
                    validate(item_v, &format!("{path}[{i}]"), item, old_item, r, out);
                }
            }
        }
        Json::Object(map) => {
            let old_map = old.and_then(Json::as_object);
            let correlatable = v.node.map_correlatable();
            if let Some(ap_v) = &v.additional {
                for (k, val) in map {
                    let old_val = old_map.filter(|_| correlatable).and_then(|m| m.get(k));
                    let r = ratchet.child(val, old_val);
                    validate(ap_v, &format!("{path}[{k}]"), val, old_val, r, out);
                }
            }
            for (k, val) in map {
                if let Some(prop_v) = v.properties.get(k) {
                    let old_val = old_map.filter(|_| correlatable).and_then(|m| m.get(k));
                    let r = if path.is_empty() && (k == "apiVersion" || k == "kind") {
                        Ratchet {
                            current: None,
                            parent: false,
                        }
                    } else {
                        ratchet.child(val, old_val)
                    };
                    validate(prop_v, &child_path(path, k), val, old_val, r, out);
                }
            }
        }
        _ => {}
    }
}

/// The old item of a map-list with the same key fields as `item`.
fn find_by_keys<'a>(old: &'a [Json], item: &Json, keys: &[String]) -> Option<&'a Json> {
    let key_of = |v: &Json| -> Vec<Json> {
        keys.iter()
            .map(|k| v.get(k).cloned().unwrap_or(Json::Null))
            .collect()
    };
    let wanted = key_of(item);
    old.iter().find(|o| key_of(o) == wanted)
}

fn expressions(
    v: &Validator,
    path: &str,
    new: &Json,
    old: Option<&Json>,
    ratchet: Ratchet,
    out: &mut Outcome,
) {
    let node = &v.node;
    let type_name = node.type_name().to_string();
    let has_old = old.is_some();
    // Converting a value for CEL is the expensive part of a rule (it copies
    // the whole subtree), so every rule of the node shares one context with
    // `self` and the plain `oldSelf`; only rules with `optionalOldSelf` get
    // an inner scope that rebinds `oldSelf` as an optional.
    let mut base = Context::with_env(ENV.clone());
    base.add_variable_as_val("self", to_val(new, node, v.resource_root));
    if let Some(o) = old {
        base.add_variable_as_val("oldSelf", to_val(o, node, v.resource_root));
    }

    for rule in &v.rules {
        let optional_old_self = rule.spec.optional_old_self == Some(true);
        if rule.uses_old_self && !has_old && !optional_old_self {
            continue;
        }
        let mut scope = None;
        if optional_old_self {
            let mut inner = base.new_inner_scope();
            match old {
                Some(o) => inner.add_variable_as_val(
                    "oldSelf",
                    Box::new(CelOptional::of(to_val(o, node, v.resource_root))),
                ),
                None => inner.add_variable_as_val("oldSelf", Box::new(CelOptional::none())),
            }
            scope = Some(inner);
        }
        let ctx = scope.as_ref().unwrap_or(&base);
        let result = rule.program.execute(ctx);
        let err_string = rule_error_string(rule);
        let at = shown_path(path);
        match result {
            Ok(Value::Bool(true)) => continue,
            Ok(Value::Bool(false)) => {}
            Ok(other) => {
                out.errors.push(FieldError::invalid(
                    at,
                    type_name.clone(),
                    format!(
                        "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {err_string} (got {other:?})"
                    ),
                ));
                continue;
            }
            Err(e) => {
                let detail = match &e {
                    ExecutionError::NoSuchOverload(_) => format!(
                        "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {err_string}"
                    ),
                    _ => format!("{} evaluating rule: {err_string}", go_error(&e)),
                };
                out.errors
                    .push(FieldError::invalid(at, type_name.clone(), detail));
                continue;
            }
        }

        let error_path = match &rule.field_path {
            Some(fp) if !fp.is_empty() => shown_path(&child_path(path, fp)),
            _ => shown_path(path),
        };
        let detail = rule
            .message_program
            .as_ref()
            .and_then(|mp| {
                // messageExpressions see the plain `oldSelf`.
                match mp.execute(&base) {
                    Ok(Value::String(s)) => {
                        let t = s.trim();
                        (!t.is_empty()
                            && !t.contains('\n')
                            && t.len() <= MAX_MESSAGE_EXPRESSION_BYTES)
                            .then(|| t.to_string())
                    }
                    _ => None,
                }
            })
            .unwrap_or_else(|| message_or_default(rule));
        let e =
            field_error_for_reason(&error_path, &type_name, detail, rule.spec.reason.as_deref());
        if !rule.uses_old_self && ratchet.should_ratchet() {
            out.warnings.push(e.to_string());
        } else {
            out.errors.push(e);
        }
    }
}

fn rule_error_string(rule: &CompiledRule) -> String {
    let msg = rule.spec.message.trim();
    if msg.is_empty() {
        rule.spec.rule.trim().to_string()
    } else {
        msg.to_string()
    }
}

fn message_or_default(rule: &CompiledRule) -> String {
    let msg = rule.spec.message.trim();
    if msg.is_empty() {
        format!("failed rule: {}", rule_error_string(rule))
    } else {
        msg.to_string()
    }
}

fn field_error_for_reason(
    path: &str,
    type_name: &str,
    detail: String,
    reason: Option<&str>,
) -> FieldError {
    match reason {
        Some("FieldValueForbidden") => FieldError::forbidden(path, detail),
        Some("FieldValueRequired") => FieldError::required(path, detail),
        Some("FieldValueDuplicate") => FieldError::new(
            ErrorType::Duplicate,
            path,
            Some(type_name.into()),
            String::new(),
        ),
        _ => FieldError::invalid(path, type_name, detail),
    }
}

/// cel-go's text for a runtime error.
fn go_error(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::DivisionByZero(_) => "division by zero".into(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".into(),
        ExecutionError::Overflow(..) => "integer overflow".into(),
        ExecutionError::IndexOutOfBounds(i) => {
            format!("index out of bounds: {}", show(i))
        }
        ExecutionError::FunctionError { message, .. } => message.clone(),
        ExecutionError::UndeclaredReference(r) => format!("no such attribute(s): {r}"),
        other => other.to_string(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}
