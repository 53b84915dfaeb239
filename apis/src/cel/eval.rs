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
//! Costs: kube-apiserver tracks the actual cost of each evaluation and
//! cancels one past [`PER_CALL_LIMIT`], and stops validating an object once
//! its rules have cost [`RUNTIME_BUDGET`]. cel-rust tracks no cost, so each
//! rule and messageExpression is instead estimated before it runs, with
//! the sizes measured on `self` and `oldSelf` ([`super::sizes`],
//! [`super::cost`] in evaluation mode): an upper bound of what evaluating
//! it can cost. An estimate over the per-call limit is refused as a
//! cancelled evaluation (charging the limit, as cel-go would have spent it
//! before cancelling); otherwise the estimate is charged to the object's
//! budget. Both end validation with upstream's messages. Being a bound, it
//! refuses some objects kube-apiserver would accept near the limits (a
//! rule that would stop early, a branch not taken); it never lets a rule
//! run whose worst case is over them. Evaluation runs with at least
//! [`EVAL_STACK`] of stack (see [`super::bounds`]).

use super::compile::{Compiled, CompiledRule, ENV, Rules, Validator};
use super::cost::{self, Mode, Vars};
use super::limits::{
    BUDGET_EXHAUSTED, CALL_LIMIT_EXCEEDED, MESSAGE_BUDGET_EXHAUSTED, PER_CALL_LIMIT, RUNTIME_BUDGET,
};
use super::sizes;
use super::values::to_val;
use crate::field_error::{ErrorType, FieldError};
use crate::goquote::go_quote;
use cel::common::types::CelOptional;
use cel::{Context, ExecutionError, Value};
use serde_json::Value as Json;

/// The stack evaluation needs at least, and the size of the stack it
/// switches to when the current thread has less left: the bounds keep the
/// deepest accepted expression well within it.
pub(crate) const EVAL_STACK: usize = 1536 * 1024;
pub(crate) const GROWN_STACK: usize = 4 << 20;

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
        stacker::maybe_grow(EVAL_STACK, GROWN_STACK, || self.validate_on_stack(new, old))
    }

    /// [`Rules::validate_with_warnings`] on the current stack, however
    /// little is left.
    pub(crate) fn validate_on_stack(&self, new: &Json, old: Option<&Json>) -> Outcome {
        let mut run = Run {
            out: Outcome::default(),
            remaining: RUNTIME_BUDGET,
        };
        if let Some(root) = &self.root {
            let ratchet = Ratchet {
                current: old.map(|o| o == new),
                parent: false,
            };
            validate(root, "", new, old, ratchet, &mut run);
        }
        run.out
    }
}

/// One object's validation: what it found, and the cost budget left
/// (negative once validation stopped).
struct Run {
    out: Outcome,
    remaining: i64,
}

/// What charging an estimate to the budget found.
pub(crate) enum Charge {
    Done,
    /// Over the per-call limit: cancelled (the limit is charged).
    Cancelled,
    /// Over what is left of the budget (now negative).
    Exhausted,
}

/// Charges the estimate of `program` on `vars` to `remaining`, as cel-go
/// accounts an evaluation's actual cost: the cost is compared with what is
/// left before a cancellation is reported.
pub(crate) fn charge(program: &Compiled, vars: &Vars<'_>, remaining: &mut i64) -> Charge {
    let estimate = cost::estimate(&program.expr, &program.types, vars, Mode::Evaluation).max;
    let cancelled = estimate > PER_CALL_LIMIT;
    let spent = if cancelled {
        PER_CALL_LIMIT + 1
    } else {
        estimate
    };
    match i64::try_from(spent) {
        Ok(spent) if spent <= *remaining => {
            *remaining -= spent;
            if cancelled {
                Charge::Cancelled
            } else {
                Charge::Done
            }
        }
        _ => {
            *remaining = -1;
            Charge::Exhausted
        }
    }
}

impl Run {
    fn stopped(&self) -> bool {
        self.remaining < 0
    }

    /// [`charge`]; a cancelled rule stops the object's validation, as in
    /// kube's CRD validation.
    fn charge(&mut self, program: &Compiled, vars: &Vars<'_>) -> Charge {
        let c = charge(program, vars, &mut self.remaining);
        if matches!(c, Charge::Cancelled) {
            self.remaining = -1;
        }
        c
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
    run: &mut Run,
) {
    if new.is_null() || run.stopped() {
        return;
    }
    let old = old.filter(|o| !o.is_null());
    if !v.rules.is_empty() {
        expressions(v, path, new, old, ratchet, run);
    }
    for branch in &v.all_of {
        let r = Ratchet {
            current: None,
            parent: ratchet.parent,
        };
        validate(branch, path, new, old, r, run);
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
                    validate(item_v, &format!("{path}[{i}]"), item, old_item, r, run);
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
                    validate(ap_v, &format!("{path}[{k}]"), val, old_val, r, run);
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
                    validate(prop_v, &child_path(path, k), val, old_val, r, run);
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
    run: &mut Run,
) {
    let node = &v.node;
    let type_name = node.type_name().to_string();
    let has_old = old.is_some();
    if run.remaining <= 0 {
        run.out.errors.push(FieldError::invalid(
            shown_path(path),
            type_name,
            BUDGET_EXHAUSTED,
        ));
        run.remaining = -1;
        return;
    }
    let measured_new = sizes::measure(new, node, v.resource_root);
    let measured_old = old.map(|o| sizes::measure(o, node, v.resource_root));
    let sizes = Vars {
        self_: Some(&measured_new),
        old_self: measured_old.as_ref(),
        named: &[],
    };
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
        let err_string = rule_error_string(rule);
        let at = shown_path(path);
        match run.charge(&rule.program, &sizes) {
            Charge::Done => {}
            Charge::Exhausted => {
                run.out
                    .errors
                    .push(FieldError::invalid(at, type_name, BUDGET_EXHAUSTED));
                return;
            }
            Charge::Cancelled => {
                run.out.errors.push(FieldError::invalid(
                    at,
                    type_name,
                    format!(
                        "'{CALL_LIMIT_EXCEEDED}': no further validation rules will be run due to call cost exceeds limit for rule: {err_string}"
                    ),
                ));
                return;
            }
        }
        let out = &mut run.out;
        let result = Value::resolve(&rule.program.expr, ctx);
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
        let ratcheted = !rule.uses_old_self && ratchet.should_ratchet();
        let mut detail = None;
        if let Some(mp) = &rule.message_program {
            let stop = match run.charge(mp, &sizes) {
                Charge::Done => None,
                Charge::Exhausted => Some(MESSAGE_BUDGET_EXHAUSTED.to_string()),
                Charge::Cancelled => Some(format!(
                    "no further validation rules will be run due to call cost exceeds limit for messageExpression: {}",
                    go_quote(&rule.spec.message_expression)
                )),
            };
            if let Some(msg) = stop {
                let e = FieldError::invalid(error_path, type_name, msg);
                run.out.add(e, ratcheted);
                return;
            }
            // messageExpressions see the plain `oldSelf`.
            detail = match Value::resolve(&mp.expr, &base) {
                Ok(Value::String(s)) => {
                    let t = s.trim();
                    (!t.is_empty() && !t.contains('\n') && t.len() <= MAX_MESSAGE_EXPRESSION_BYTES)
                        .then(|| t.to_string())
                }
                _ => None,
            };
        }
        let detail = detail.unwrap_or_else(|| message_or_default(rule));
        let e =
            field_error_for_reason(&error_path, &type_name, detail, rule.spec.reason.as_deref());
        run.out.add(e, ratcheted);
    }
}

impl Outcome {
    /// Records a rule's error, or the warning ratcheting demotes it to.
    fn add(&mut self, e: FieldError, ratcheted: bool) {
        if ratcheted {
            self.warnings.push(e.to_string());
        } else {
            self.errors.push(e);
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
pub(crate) fn go_error(e: &ExecutionError) -> String {
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
