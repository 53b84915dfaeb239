//! A ValidatingAdmissionPolicy and its bindings, checked and compiled once
//! when they are written (for the strategy's field errors) and again when
//! the cache loads them (to serve).
//!
//! The checks follow kube's `ValidateValidatingAdmissionPolicy` and
//! `ValidateValidatingAdmissionPolicyBinding` (field paths and messages);
//! expressions compile through [`trellis_apis::cel::admission`]. A stored
//! object that no longer compiles (it cannot be written that way, but a
//! newer server may judge differently) is served as a configuration error
//! its failurePolicy decides on, never as an allow.

use std::collections::HashSet;

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ParamRef, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicySpec,
};
use serde_json::Value;
use trellis_apis::FieldError;
use trellis_apis::cel::admission::{Declarations, Expression, Returns};
use trellis_apis::labels::Selector;
use trellis_apis::validation::{is_dns1035_label, is_dns1123_subdomain, is_qualified_name};

use crate::builtin::rbac::validate_label_selector;

pub(crate) const FAILURE_POLICIES: &[&str] = &["Fail", "Ignore"];
pub(crate) const MATCH_POLICIES: &[&str] = &["Equivalent", "Exact"];
const REASONS: &[&str] = &[
    "Forbidden",
    "Invalid",
    "RequestEntityTooLarge",
    "Unauthorized",
];
const ACTIONS: &[&str] = &["Audit", "Deny", "Warn"];
const OPERATIONS: &[&str] = &["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const SCOPES: &[&str] = &["*", "Cluster", "Namespaced"];
const MAX_AUDIT_ANNOTATIONS: usize = 20;
const MAX_VALUE_EXPRESSION_BYTES: usize = 5 * 1024;
const MAX_MATCH_CONDITIONS: usize = 64;
/// Beyond kube (which bounds them only by the request size): declaring a
/// variable costs time linear in those before it.
pub const MAX_VARIABLES: usize = 1000;

/// One resource rule, defaulted.
#[derive(Debug)]
pub struct Rule {
    pub operations: Vec<String>,
    pub groups: Vec<String>,
    pub versions: Vec<String>,
    pub resources: Vec<String>,
    pub scope: String,
    pub names: Vec<String>,
}

/// `matchConstraints` / `matchResources`, defaulted and parsed.
#[derive(Debug)]
pub struct Match {
    pub namespace_selector: Selector,
    pub object_selector: Selector,
    pub rules: Vec<Rule>,
    pub exclude: Vec<Rule>,
    pub equivalent: bool,
}

#[derive(Debug)]
pub struct Validation {
    pub expression: Expression,
    pub message: String,
    pub message_expression: Option<Expression>,
    /// kube's status reason; `Invalid` when unset.
    pub reason: String,
}

#[derive(Debug)]
pub struct AuditAnnotation {
    pub key: String,
    pub value: Expression,
}

/// A policy ready to evaluate.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub fail_open: bool,
    /// `(apiVersion, kind)`.
    pub param_kind: Option<(String, String)>,
    pub constraints: Match,
    pub match_conditions: Vec<(String, Expression)>,
    pub variable_names: Vec<String>,
    pub variables: Vec<Expression>,
    pub validations: Vec<Validation>,
    pub audit_annotations: Vec<AuditAnnotation>,
    /// Why it cannot be evaluated (it did not compile), if so.
    pub broken: Option<String>,
}

/// A binding ready to use.
#[derive(Debug)]
pub struct Binding {
    pub name: String,
    pub policy: String,
    pub param_ref: Option<ParamRef>,
    /// `None` when the binding sets no `matchResources`.
    pub resources: Option<Match>,
    pub deny: bool,
    pub warn: bool,
    pub audit: bool,
    pub actions: Vec<String>,
    pub broken: Option<String>,
}

fn err_text(errs: &[FieldError]) -> String {
    trellis_apis::field_error::aggregate(errs)
}

/// Fills kube's defaults (`SetDefaults_ValidatingAdmissionPolicySpec`,
/// `…MatchResources`, `…Rule`).
pub fn default_policy(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("failurePolicy")
        .or_insert_with(|| Value::String("Fail".into()));
    if let Some(m) = spec.get_mut("matchConstraints") {
        default_match(m);
    }
}

/// Defaults of a binding's `matchResources`.
pub fn default_binding(obj: &mut Value) {
    if let Some(m) = obj.pointer_mut("/spec/matchResources") {
        default_match(m);
    }
}

fn default_match(m: &mut Value) {
    let Some(m) = m.as_object_mut() else { return };
    m.entry("matchPolicy")
        .or_insert_with(|| Value::String("Equivalent".into()));
    for sel in ["namespaceSelector", "objectSelector"] {
        m.entry(sel)
            .or_insert_with(|| Value::Object(Default::default()));
    }
    for rules in ["resourceRules", "excludeResourceRules"] {
        if let Some(Value::Array(rs)) = m.get_mut(rules) {
            for r in rs.iter_mut().filter_map(Value::as_object_mut) {
                r.entry("scope")
                    .or_insert_with(|| Value::String("*".into()));
            }
        }
    }
}

fn strings(v: &Option<Vec<String>>) -> Vec<String> {
    v.clone().unwrap_or_default()
}

pub(crate) fn check_rule(r: &NamedRuleWithOperations, path: &str, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, n) in strings(&r.resource_names).iter().enumerate() {
        if n == "." || n == ".." || n.contains('/') || n.contains('%') {
            errs.push(FieldError::invalid(
                format!("{path}.resourceNames[{i}]"),
                n.as_str(),
                "may not contain '/' or '%' and may not be '.' or '..'",
            ));
        }
        if !seen.insert(n.clone()) {
            errs.push(FieldError::duplicate(
                format!("{path}.resourceNames[{i}]"),
                n.as_str(),
            ));
        }
    }
    let ops = strings(&r.operations);
    if ops.is_empty() {
        errs.push(FieldError::required(format!("{path}.operations"), ""));
    }
    if ops.len() > 1 && ops.iter().any(|o| o == "*") {
        errs.push(FieldError::invalid(
            format!("{path}.operations"),
            Value::from(ops.clone()),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, o) in ops.iter().enumerate() {
        if !OPERATIONS.contains(&o.as_str()) {
            errs.push(FieldError::not_supported(
                format!("{path}.operations[{i}]"),
                o.as_str(),
                OPERATIONS,
            ));
        }
    }
    for (field, list) in [
        ("apiGroups", &r.api_groups),
        ("apiVersions", &r.api_versions),
    ] {
        let list = strings(list);
        if list.is_empty() {
            errs.push(FieldError::required(format!("{path}.{field}"), ""));
        }
        if list.len() > 1 && list.iter().any(|g| g == "*") {
            errs.push(FieldError::invalid(
                format!("{path}.{field}"),
                Value::from(list.clone()),
                format!(
                    "if '*' is present, must not specify other {}",
                    if field == "apiGroups" {
                        "API groups"
                    } else {
                        "API versions"
                    }
                ),
            ));
        }
        if field == "apiVersions" {
            for (i, v) in list.iter().enumerate() {
                if v.is_empty() {
                    errs.push(FieldError::required(format!("{path}.{field}[{i}]"), ""));
                }
            }
        }
    }
    let resources = strings(&r.resources);
    if resources.is_empty() {
        errs.push(FieldError::required(format!("{path}.resources"), ""));
    }
    for (i, res) in resources.iter().enumerate() {
        if res.is_empty() {
            errs.push(FieldError::required(format!("{path}.resources[{i}]"), ""));
        }
    }
    if resources.len() > 1 && resources.iter().any(|r| r == "*/*") {
        errs.push(FieldError::invalid(
            format!("{path}.resources"),
            Value::from(resources.clone()),
            "if '*/*' is present, must not specify other resources",
        ));
    }
    if resources.iter().any(|r| r == "*")
        && resources
            .iter()
            .any(|r| r != "*" && !r.is_empty() && !r.contains('/'))
    {
        errs.push(FieldError::invalid(
            format!("{path}.resources"),
            Value::from(resources.clone()),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
    if let Some(s) = &r.scope
        && !SCOPES.contains(&s.as_str())
    {
        errs.push(FieldError::not_supported(
            format!("{path}.scope"),
            s.as_str(),
            SCOPES,
        ));
    }
}

pub(crate) fn selector(
    sel: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Selector {
    let Some(sel) = sel else {
        errs.push(FieldError::required(path, ""));
        return Selector::nothing();
    };
    let v = serde_json::to_value(sel).unwrap_or(Value::Null);
    errs.extend(validate_label_selector(&v, false, path));
    trellis_apis::labels::from_label_selector(&v).unwrap_or_else(|_| Selector::nothing())
}

pub(crate) fn rule(r: &NamedRuleWithOperations) -> Rule {
    Rule {
        operations: strings(&r.operations),
        groups: strings(&r.api_groups),
        versions: strings(&r.api_versions),
        resources: strings(&r.resources),
        scope: r.scope.clone().unwrap_or_else(|| "*".into()),
        names: strings(&r.resource_names),
    }
}

fn check_match(m: &MatchResources, path: &str, errs: &mut Vec<FieldError>) -> Match {
    let equivalent = match m.match_policy.as_deref() {
        None => {
            errs.push(FieldError::required(format!("{path}.matchPolicy"), ""));
            true
        }
        Some("Equivalent") => true,
        Some("Exact") => false,
        Some(other) => {
            errs.push(FieldError::not_supported(
                format!("{path}.matchPolicy"),
                other,
                MATCH_POLICIES,
            ));
            true
        }
    };
    let namespace_selector = selector(
        &m.namespace_selector,
        &format!("{path}.namespaceSelector"),
        errs,
    );
    let object_selector = selector(&m.object_selector, &format!("{path}.objectSelector"), errs);
    let rules = m.resource_rules.clone().unwrap_or_default();
    let exclude = m.exclude_resource_rules.clone().unwrap_or_default();
    for (i, r) in rules.iter().enumerate() {
        check_rule(r, &format!("{path}.resourceRules[{i}]"), errs);
    }
    for (i, r) in exclude.iter().enumerate() {
        check_rule(r, &format!("{path}.excludeResourceRules[{i}]"), errs);
    }
    Match {
        namespace_selector,
        object_selector,
        rules: rules.iter().map(rule).collect(),
        exclude: exclude.iter().map(rule).collect(),
        equivalent,
    }
}

fn has_newlines(s: &str) -> bool {
    s.contains('\n') || s.contains('\r')
}

/// Compiles `source` at `path`, recording kube's field error on failure.
fn expression(
    decls: &Declarations,
    source: &str,
    returns: Returns,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<Expression> {
    match decls.compile(source, returns) {
        Ok(e) => Some(e),
        Err(detail) => {
            errs.push(FieldError::invalid(path, source, detail));
            None
        }
    }
}

/// Checks and compiles `matchConditions` at `path` (policies' and
/// webhooks'): at most 64, qualified unique names, boolean expressions.
pub(crate) fn match_conditions(
    decls: &Declarations,
    conditions: &[MatchCondition],
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Vec<(String, Expression)> {
    if conditions.len() > MAX_MATCH_CONDITIONS {
        errs.push(FieldError::new(
            trellis_apis::ErrorType::TooMany,
            path,
            Some(Value::from(conditions.len())),
            format!("must have at most {MAX_MATCH_CONDITIONS} items"),
        ));
    }
    let mut compiled = Vec::new();
    let mut names = HashSet::new();
    for (i, c) in conditions.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let trimmed = c.expression.trim();
        if trimmed.is_empty() {
            errs.push(FieldError::required(format!("{path}.expression"), ""));
        } else if let Some(e) = expression(
            decls,
            trimmed,
            Returns::Bool,
            &format!("{path}.expression"),
            errs,
        ) {
            compiled.push((c.name.clone(), e));
        }
        if c.name.is_empty() {
            errs.push(FieldError::required(format!("{path}.name"), ""));
        } else {
            for msg in is_qualified_name(&c.name) {
                errs.push(FieldError::invalid(
                    format!("{path}.name"),
                    c.name.as_str(),
                    msg,
                ));
            }
            if !names.insert(c.name.clone()) {
                errs.push(FieldError::duplicate(
                    format!("{path}.name"),
                    c.name.as_str(),
                ));
            }
        }
    }
    compiled
}

/// Checks and compiles a policy; the field errors are what a write of it
/// is refused with.
pub fn policy(p: &ValidatingAdmissionPolicy) -> (Policy, Vec<FieldError>) {
    let name = p.metadata.name.clone().unwrap_or_default();
    let spec: ValidatingAdmissionPolicySpec = p.spec.clone().unwrap_or_default();
    let mut errs = Vec::new();
    let fail_open = match spec.failure_policy.as_deref() {
        None => {
            errs.push(FieldError::required("spec.failurePolicy", ""));
            false
        }
        Some("Fail") => false,
        Some("Ignore") => true,
        Some(other) => {
            errs.push(FieldError::not_supported(
                "spec.failurePolicy",
                other,
                FAILURE_POLICIES,
            ));
            false
        }
    };
    let param_kind = spec.param_kind.as_ref().map(|pk| {
        let api_version = pk.api_version.clone().unwrap_or_default();
        let kind = pk.kind.clone().unwrap_or_default();
        if api_version.is_empty() {
            errs.push(FieldError::required("spec.paramKind.apiVersion", ""));
        } else {
            let (group, version) = match api_version.split_once('/') {
                Some((g, v)) => (g, v),
                None => ("", api_version.as_str()),
            };
            if version.contains('/') {
                errs.push(FieldError::invalid(
                    "spec.paramKind.apiVersion",
                    api_version.as_str(),
                    format!("unexpected GroupVersion string: {api_version}"),
                ));
            } else {
                if !group.is_empty() {
                    let e = is_dns1123_subdomain(group);
                    if !e.is_empty() {
                        errs.push(FieldError::invalid(
                            "spec.paramKind.apiVersion",
                            group,
                            e.join(","),
                        ));
                    }
                }
                if version.is_empty() {
                    errs.push(FieldError::invalid(
                        "spec.paramKind.apiVersion",
                        api_version.as_str(),
                        "version must be specified",
                    ));
                } else {
                    let e = is_dns1035_label(version);
                    if !e.is_empty() {
                        errs.push(FieldError::invalid(
                            "spec.paramKind.apiVersion",
                            version,
                            e.join(","),
                        ));
                    }
                }
            }
        }
        if kind.is_empty() {
            errs.push(FieldError::required("spec.paramKind.kind", ""));
        } else {
            let e = is_dns1035_label(&kind.to_lowercase());
            if !e.is_empty() {
                errs.push(FieldError::invalid(
                    "spec.paramKind.kind",
                    kind.as_str(),
                    format!(
                        "may have mixed case, but should otherwise match: {}",
                        e.join(",")
                    ),
                ));
            }
        }
        (api_version, kind)
    });
    let constraints = match &spec.match_constraints {
        None => {
            errs.push(FieldError::required("spec.matchConstraints", ""));
            None
        }
        Some(m) => {
            let c = check_match(m, "spec.matchConstraints", &mut errs);
            if c.rules.is_empty() {
                errs.push(FieldError::required(
                    "spec.matchConstraints.resourceRules",
                    "",
                ));
            }
            Some(c)
        }
    };
    let mut decls = Declarations::new(param_kind.is_some());
    let conditions = spec.match_conditions.clone().unwrap_or_default();
    let match_conditions = match_conditions(&decls, &conditions, "spec.matchConditions", &mut errs);
    let mut variable_names = Vec::new();
    let mut variables = Vec::new();
    let declared = spec.variables.clone().unwrap_or_default();
    if declared.len() > MAX_VARIABLES {
        errs.push(FieldError::new(
            trellis_apis::ErrorType::TooMany,
            "spec.variables",
            Some(Value::from(declared.len())),
            format!("must have at most {MAX_VARIABLES} items"),
        ));
    }
    for (i, v) in declared.iter().take(MAX_VARIABLES).enumerate() {
        let path = format!("spec.variables[{i}]");
        if v.name.trim().is_empty() {
            errs.push(FieldError::required(
                format!("{path}.name"),
                "name is not specified",
            ));
        } else if !trellis_apis::cel::is_identifier(&v.name) {
            errs.push(FieldError::invalid(
                format!("{path}.name"),
                v.name.as_str(),
                "name is not a valid CEL identifier",
            ));
        }
        if v.expression.trim().is_empty() {
            errs.push(FieldError::required(
                format!("{path}.expression"),
                "expression is not specified",
            ));
            continue;
        }
        match decls.variable(&v.name, &v.expression) {
            Ok(e) => {
                variable_names.push(v.name.clone());
                variables.push(e);
            }
            Err(detail) => errs.push(FieldError::invalid(
                format!("{path}.expression"),
                v.expression.as_str(),
                detail,
            )),
        }
    }
    let validations_in = spec.validations.clone().unwrap_or_default();
    let annotations_in = spec.audit_annotations.clone().unwrap_or_default();
    let mut validations = Vec::new();
    let mut audit_annotations = Vec::new();
    if validations_in.is_empty() && annotations_in.is_empty() {
        let why = "validations or auditAnnotations must contain at least one item";
        errs.push(FieldError::required("spec.validations", why));
        errs.push(FieldError::required("spec.auditAnnotations", why));
    }
    for (i, v) in validations_in.iter().enumerate() {
        let path = format!("spec.validations[{i}]");
        let message = v.message.clone().unwrap_or_default();
        let message_expression = v.message_expression.clone().unwrap_or_default();
        let compiled = if v.expression.trim().is_empty() {
            errs.push(FieldError::required(
                format!("{path}.expression"),
                "expression is not specified",
            ));
            None
        } else {
            expression(
                &decls,
                &v.expression,
                Returns::Bool,
                &format!("{path}.expression"),
                &mut errs,
            )
        };
        let mut message_program = None;
        if !message_expression.is_empty() && message_expression.trim().is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.messageExpression"),
                message_expression.as_str(),
                "must be non-empty if specified",
            ));
        } else if !message_expression.trim().is_empty() {
            message_program = expression(
                &decls,
                &message_expression,
                Returns::String,
                &format!("{path}.messageExpression"),
                &mut errs,
            );
        }
        let trimmed = message.trim();
        if !message.is_empty() && trimmed.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.message"),
                message.as_str(),
                "message must be non-empty if specified",
            ));
        } else if has_newlines(trimmed) {
            errs.push(FieldError::invalid(
                format!("{path}.message"),
                message.as_str(),
                "message must not contain line breaks",
            ));
        }
        if let Some(r) = &v.reason
            && !REASONS.contains(&r.as_str())
        {
            errs.push(FieldError::not_supported(
                format!("{path}.reason"),
                r.as_str(),
                REASONS,
            ));
        }
        if let Some(expression) = compiled {
            validations.push(Validation {
                expression,
                message: trimmed.to_string(),
                message_expression: message_program,
                reason: v.reason.clone().unwrap_or_else(|| "Invalid".into()),
            });
        }
    }
    if annotations_in.len() > MAX_AUDIT_ANNOTATIONS {
        errs.push(FieldError::invalid(
            "spec.auditAnnotations",
            Value::from(annotations_in.len()),
            format!("must not have more than {MAX_AUDIT_ANNOTATIONS} auditAnnotations"),
        ));
    }
    let mut keys = HashSet::new();
    for (i, a) in annotations_in.iter().enumerate() {
        let path = format!("spec.auditAnnotations[{i}]");
        if name.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.key"),
                a.key.as_str(),
                "requires metadata.name be non-empty",
            ));
        } else {
            for msg in is_qualified_name(&format!("{name}/{}", a.key)) {
                errs.push(FieldError::invalid(
                    format!("{path}.key"),
                    format!("{name}/{}", a.key),
                    msg,
                ));
            }
        }
        if !keys.insert(a.key.clone()) {
            errs.push(FieldError::duplicate(format!("{path}.key"), a.key.as_str()));
        }
        let trimmed = a.value_expression.trim();
        if trimmed.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.valueExpression"),
                "valueExpression is not specified",
            ));
        } else if trimmed.len() > MAX_VALUE_EXPRESSION_BYTES {
            errs.push(FieldError::required(
                format!("{path}.valueExpression"),
                format!("must not exceed {MAX_VALUE_EXPRESSION_BYTES} bytes in length"),
            ));
        } else if let Some(value) = expression(
            &decls,
            trimmed,
            Returns::StringOrNull,
            &format!("{path}.valueExpression"),
            &mut errs,
        ) {
            audit_annotations.push(AuditAnnotation {
                key: a.key.clone(),
                value,
            });
        }
    }
    let broken = (!errs.is_empty()).then(|| err_text(&errs));
    let constraints = constraints.unwrap_or(Match {
        namespace_selector: Selector::nothing(),
        object_selector: Selector::nothing(),
        rules: Vec::new(),
        exclude: Vec::new(),
        equivalent: true,
    });
    (
        Policy {
            name,
            fail_open,
            param_kind,
            constraints,
            match_conditions,
            variable_names,
            variables,
            validations,
            audit_annotations,
            broken,
        },
        errs,
    )
}

/// Checks and parses a binding.
pub fn binding(b: &ValidatingAdmissionPolicyBinding) -> (Binding, Vec<FieldError>) {
    let spec = b.spec.clone().unwrap_or_default();
    let mut errs = Vec::new();
    let policy = spec.policy_name.clone().unwrap_or_default();
    if policy.is_empty() {
        errs.push(FieldError::required("spec.policyName", ""));
    } else {
        for msg in is_dns1123_subdomain(&policy) {
            errs.push(FieldError::invalid("spec.policyName", policy.as_str(), msg));
        }
    }
    if let Some(pr) = &spec.param_ref {
        let name = pr.name.clone().unwrap_or_default();
        if !name.is_empty() {
            if name == "." || name == ".." || name.contains('/') || name.contains('%') {
                errs.push(FieldError::invalid(
                    "spec.paramRef.name",
                    name.as_str(),
                    "may not contain '/' or '%' and may not be '.' or '..'",
                ));
            }
            if pr.selector.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.paramRef.name",
                    "name and selector are mutually exclusive",
                ));
            }
        }
        if let Some(sel) = &pr.selector {
            let v = serde_json::to_value(sel).unwrap_or(Value::Null);
            errs.extend(validate_label_selector(&v, false, "spec.paramRef.selector"));
            if !name.is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.paramRef.selector",
                    "name and selector are mutually exclusive",
                ));
            }
        }
        if name.is_empty() && pr.selector.is_none() {
            errs.push(FieldError::required(
                "spec.paramRef",
                "one of name or selector must be specified",
            ));
        }
        match pr.parameter_not_found_action.as_deref() {
            None | Some("") => errs.push(FieldError::required(
                "spec.paramRef.parameterNotFoundAction",
                "",
            )),
            Some("Deny" | "Allow") => {}
            Some(other) => errs.push(FieldError::not_supported(
                "spec.paramRef.parameterNotFoundAction",
                other,
                &["Deny", "Allow"],
            )),
        }
    }
    let resources = spec
        .match_resources
        .as_ref()
        .map(|m| check_match(m, "spec.matchResources", &mut errs));
    let actions = strings(&spec.validation_actions);
    let mut seen = HashSet::new();
    for (i, a) in actions.iter().enumerate() {
        if !ACTIONS.contains(&a.as_str()) {
            errs.push(FieldError::not_supported(
                format!("spec.validationActions[{i}]"),
                a.as_str(),
                ACTIONS,
            ));
        }
        if !seen.insert(a.as_str()) {
            errs.push(FieldError::duplicate(
                format!("spec.validationActions[{i}]"),
                a.as_str(),
            ));
        }
    }
    if seen.contains("Deny") && seen.contains("Warn") {
        errs.push(FieldError::invalid(
            "spec.validationActions",
            Value::from(actions.clone()),
            "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
        ));
    }
    if seen.is_empty() {
        errs.push(FieldError::required(
            "spec.validationActions",
            "at least one validation action is required",
        ));
    }
    let broken = (!errs.is_empty()).then(|| err_text(&errs));
    (
        Binding {
            name: b.metadata.name.clone().unwrap_or_default(),
            policy,
            param_ref: spec.param_ref.clone(),
            resources,
            deny: seen.contains("Deny"),
            warn: seen.contains("Warn"),
            audit: seen.contains("Audit"),
            actions: actions.clone(),
            broken,
        },
        errs,
    )
}
