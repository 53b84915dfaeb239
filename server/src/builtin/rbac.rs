//! The RBAC API (`rbac.authorization.k8s.io/v1`): Roles, ClusterRoles,
//! RoleBindings and ClusterRoleBindings, stored per workspace like every
//! other built-in.
//!
//! The four strategies mirror upstream's `pkg/registry/rbac/*/strategy.go`
//! and `pkg/apis/rbac/validation`, message for message, because kubectl
//! users see those texts:
//!
//! - Bodies are decoded through the k8s-openapi types, then defaulted as
//!   upstream's v1 defaulting does during decoding (`roleRef.apiGroup`, and
//!   a subject's `apiGroup` by kind), and empty optional lists/strings are
//!   dropped the way Go's `omitempty` drops them. The stored form is thus
//!   canonical: the aggregation controller and the authorizer can compare
//!   rules structurally, and a no-op write stays a no-op.
//! - Validation works on that canonical JSON (never on the raw body), so a
//!   missing `roleRef` is the upstream `Unsupported value: ""` /
//!   `Required value` pair rather than a decoding error.
//! - `roleRef` is immutable: upstream answers a change with
//!   `Invalid value: rbac.RoleRef{…}: cannot change roleRef`, rendering the
//!   Go struct with `%#v`. [`FieldError`] can only render JSON values, so
//!   the rendered struct travels in the detail with no value attached; the
//!   message text is identical.
//! - Upstream's `ValidateUpdate` runs the create validation twice (once
//!   directly, once inside `Validate*Update`) and relies on
//!   `ToAggregate` dropping the duplicates from the message; we run it once,
//!   which gives the same message.
//! - Like upstream, a PUT of a missing object creates it (RBAC objects are
//!   reconciled by `kubectl auth reconcile` and bootstrap code that way).
//! - Names are path segments upstream (`ValidateRBACName`), so
//!   `system:controller:x` is a valid role name: the strategies use
//!   [`NameRule::PathSegment`] for `metadata.name`, and [`rbac_name_errors`]
//!   checks `roleRef.name` the same way.
//!
//! Tables follow the server-side printers: Roles and ClusterRoles have no
//! printer upstream and use the default table convertor (`Name`,
//! `Created At` as an RFC 3339 timestamp); bindings show `Role` as
//! `Kind/name`, `Age`, and the wide `Users`, `Groups`, `ServiceAccounts`.
//!
//! Escalation checks (binding or granting more than the caller holds) are
//! admission, not strategy: they need the caller and the workspace policy.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::{Map, Value, json};
use trellis_apis::goquote::go_quote;
use trellis_apis::labels::from_label_selector;
use trellis_apis::validation::{
    is_valid_label_value, name_is_dns_subdomain, validate_label_name, validate_labels,
};
use trellis_apis::{ErrorType, FieldError};

use crate::error::ApiResult;
use crate::registry::{Decoded, NameRule, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

/// The RBAC API group.
pub const GROUP: &str = "rbac.authorization.k8s.io";

const SUBJECT_KINDS: [&str; 3] = ["ServiceAccount", "User", "Group"];

/// Upstream `ValidateRBACName` (`path.IsValidPathSegmentName`): a role or
/// binding name may be anything but `.` and `..` and may not contain `/` or
/// `%`. Also used for `roleRef.name`.
pub fn rbac_name_errors(name: &str) -> Vec<String> {
    NameRule::PathSegment.check(name, false)
}

// ------------------------------------------------------------ JSON access

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn list_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

fn strings_of(v: &Value, key: &str) -> Vec<String> {
    list_of(v, key)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------- decoding, defaults

/// Drops `key` from `obj` when it is an empty list or string (Go's
/// `omitempty`).
fn drop_empty(obj: &mut Map<String, Value>, key: &str) {
    let empty = match obj.get(key) {
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        obj.remove(key);
    }
}

/// Canonical rules: the optional lists of each rule are omitted when empty.
fn normalize_rules(rules: Option<&mut Value>) {
    let Some(Value::Array(rules)) = rules else {
        return;
    };
    for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
        for key in ["apiGroups", "resources", "resourceNames", "nonResourceURLs"] {
            drop_empty(rule, key);
        }
    }
}

/// Upstream `SetDefaults_RoleBinding`/`ClusterRoleBinding` and
/// `SetDefaults_Subject`, plus `omitempty` for the subjects' optional
/// strings.
fn default_binding(obj: &mut Value) {
    if let Some(role_ref) = obj.get_mut("roleRef").and_then(Value::as_object_mut)
        && role_ref
            .get("apiGroup")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
    {
        role_ref.insert("apiGroup".into(), json!(GROUP));
    }
    let Some(Value::Array(subjects)) = obj.get_mut("subjects") else {
        return;
    };
    for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
        let group_empty = subject
            .get("apiGroup")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty();
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        if group_empty && (kind == "User" || kind == "Group") {
            subject.insert("apiGroup".into(), json!(GROUP));
        }
        drop_empty(subject, "apiGroup");
        drop_empty(subject, "namespace");
    }
}

fn drop_empty_top(obj: &mut Value, key: &str) {
    if let Some(m) = obj.as_object_mut() {
        drop_empty(m, key);
    }
}

fn decode_role<T>(body: Value, kind: &str) -> ApiResult<Decoded>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let mut d = super::typed::decode::<T>(body, kind, "v1")?;
    normalize_rules(d.object.get_mut("rules"));
    if let Some(agg) = d
        .object
        .get_mut("aggregationRule")
        .and_then(Value::as_object_mut)
    {
        drop_empty(agg, "clusterRoleSelectors");
    }
    Ok(d)
}

fn decode_binding<T>(body: Value, kind: &str) -> ApiResult<Decoded>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let mut d = super::typed::decode::<T>(body, kind, "v1")?;
    default_binding(&mut d.object);
    drop_empty_top(&mut d.object, "subjects");
    Ok(d)
}

// -------------------------------------------------------------- validation

/// Upstream `ValidatePolicyRule`.
fn validate_policy_rule(rule: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if list_of(rule, "verbs").is_empty() {
        errs.push(FieldError::required(
            format!("{path}.verbs"),
            "verbs must contain at least one value",
        ));
    }
    let urls = list_of(rule, "nonResourceURLs");
    if !urls.is_empty() {
        let value = Value::Array(urls.to_vec());
        if namespaced {
            errs.push(FieldError::invalid(
                format!("{path}.nonResourceURLs"),
                value.clone(),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !list_of(rule, "apiGroups").is_empty()
            || !list_of(rule, "resources").is_empty()
            || !list_of(rule, "resourceNames").is_empty()
        {
            errs.push(FieldError::invalid(
                format!("{path}.nonResourceURLs"),
                value,
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errs;
    }
    if list_of(rule, "apiGroups").is_empty() {
        errs.push(FieldError::required(
            format!("{path}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if list_of(rule, "resources").is_empty() {
        errs.push(FieldError::required(
            format!("{path}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
    errs
}

fn validate_rules(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    list_of(obj, "rules")
        .iter()
        .enumerate()
        .flat_map(|(i, r)| validate_policy_rule(r, namespaced, &format!("rules[{i}]")))
        .collect()
}

/// Upstream `metav1validation.ValidateLabelSelector` with
/// `AllowInvalidLabelValueInSelector` = `allow_invalid_values`.
pub(crate) fn validate_label_selector(
    selector: &Value,
    allow_invalid_values: bool,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(Value::Object(labels)) = selector.get("matchLabels") {
        errs.extend(validate_labels(labels, &format!("{path}.matchLabels")));
    }
    for (i, expr) in list_of(selector, "matchExpressions").iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let values = strings_of(expr, "values");
        match str_of(expr, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                format!("{p}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errs.extend(validate_label_name(
            str_of(expr, "key"),
            &format!("{p}.key"),
        ));
        if !allow_invalid_values {
            for (j, v) in values.iter().enumerate() {
                for msg in is_valid_label_value(v) {
                    errs.push(FieldError::invalid(
                        format!("{p}.values[{j}]"),
                        v.as_str(),
                        msg,
                    ));
                }
            }
        }
    }
    errs
}

/// Upstream `hasInvalidLabelValueInLabelSelector` for a ClusterRole: an
/// object stored before values were checked may keep them on update.
fn has_invalid_label_value(obj: &Value) -> bool {
    let Some(agg) = obj.get("aggregationRule") else {
        return false;
    };
    list_of(agg, "clusterRoleSelectors").iter().any(|s| {
        list_of(s, "matchExpressions").iter().any(|e| {
            strings_of(e, "values")
                .iter()
                .any(|v| !is_valid_label_value(v).is_empty())
        })
    })
}

/// The `aggregationRule` part of upstream `ValidateClusterRole`.
fn validate_aggregation_rule(obj: &Value, allow_invalid_values: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(agg) = obj.get("aggregationRule").filter(|v| !v.is_null()) else {
        return errs;
    };
    let selectors = list_of(agg, "clusterRoleSelectors");
    if selectors.is_empty() {
        errs.push(FieldError::required(
            "aggregationRule.clusterRoleSelectors",
            "at least one clusterRoleSelector required if aggregationRule is non-nil",
        ));
    }
    for (i, selector) in selectors.iter().enumerate() {
        let path = format!("aggregationRule.clusterRoleSelectors[{i}]");
        errs.extend(validate_label_selector(
            selector,
            allow_invalid_values,
            &path,
        ));
        // `LabelSelectorAsSelector` failing: upstream reports the nil
        // selector it got back, which renders as "null".
        if from_label_selector(selector).is_err() {
            errs.push(FieldError::invalid(
                path,
                Value::Null,
                "invalid label selector.",
            ));
        }
    }
    errs
}

/// The `roleRef` part of upstream `ValidateRoleBinding` /
/// `ValidateClusterRoleBinding`.
fn validate_role_ref(obj: &Value, kinds: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let role_ref = obj.get("roleRef").cloned().unwrap_or(Value::Null);
    let api_group = str_of(&role_ref, "apiGroup");
    if api_group != GROUP {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            api_group,
            &[GROUP],
        ));
    }
    let kind = str_of(&role_ref, "kind");
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported("roleRef.kind", kind, kinds));
    }
    let name = str_of(&role_ref, "name");
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    } else {
        for msg in rbac_name_errors(name) {
            errs.push(FieldError::invalid("roleRef.name", name, msg));
        }
    }
    errs
}

/// Upstream `ValidateRoleBindingSubject`.
fn validate_subject(subject: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(subject, "name");
    let api_group = str_of(subject, "apiGroup");
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    }
    match str_of(subject, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in name_is_dns_subdomain(name, false) {
                    errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
                }
            }
            if !api_group.is_empty() {
                errs.push(FieldError::not_supported(
                    format!("{path}.apiGroup"),
                    api_group,
                    &[""],
                ));
            }
            if !namespaced && str_of(subject, "namespace").is_empty() {
                errs.push(FieldError::required(format!("{path}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if api_group != GROUP {
                errs.push(FieldError::not_supported(
                    format!("{path}.apiGroup"),
                    api_group,
                    &[GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{path}.kind"),
            other,
            &SUBJECT_KINDS,
        )),
    }
    errs
}

fn validate_binding(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    let mut errs = validate_role_ref(obj, kinds);
    for (i, s) in list_of(obj, "subjects").iter().enumerate() {
        errs.extend(validate_subject(s, namespaced, &format!("subjects[{i}]")));
    }
    errs
}

/// Go's `%#v` of the internal `rbac.RoleRef`, which upstream puts in the
/// immutability error.
fn go_role_ref(role_ref: &Value) -> String {
    format!(
        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
        go_quote(str_of(role_ref, "apiGroup")),
        go_quote(str_of(role_ref, "kind")),
        go_quote(str_of(role_ref, "name")),
    )
}

/// `roleRef` may not change (upstream `Validate*BindingUpdate`).
fn validate_role_ref_unchanged(new: &Value, old: &Value) -> Option<FieldError> {
    let part = |v: &Value, k: &str| {
        v.get("roleRef")
            .map(|r| str_of(r, k).to_string())
            .unwrap_or_default()
    };
    let changed = ["apiGroup", "kind", "name"]
        .iter()
        .any(|k| part(new, k) != part(old, k));
    changed.then(|| {
        let role_ref = new.get("roleRef").cloned().unwrap_or(Value::Null);
        // The value is a Go struct upstream; see the module comment.
        FieldError::new(
            ErrorType::Invalid,
            "roleRef",
            None,
            format!("{}: cannot change roleRef", go_role_ref(&role_ref)),
        )
    })
}

// ------------------------------------------------------------------ tables

/// `Created At` of the default table convertor:
/// `CreationTimestamp.UTC().Format(time.RFC3339)` (the zero time when
/// unset).
fn created_at_cell(obj: &Value) -> Value {
    let ts = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    Value::String(match ts {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".into(),
    })
}

const CREATED_AT: Column = Column::new(
    "Created At",
    "date",
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
);

fn role_columns() -> Vec<Column> {
    vec![NAME, CREATED_AT]
}

fn role_cells(obj: &Value) -> Vec<Value> {
    vec![table::name_cell(obj), created_at_cell(obj)]
}

/// Upstream `rbac.SubjectsStrings`: users, groups and `namespace/name` of
/// service accounts (other kinds are not shown).
fn subjects_strings(obj: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in list_of(obj, "subjects") {
        let name = str_of(s, "name").to_string();
        match str_of(s, "kind") {
            "ServiceAccount" => sas.push(format!("{}/{name}", str_of(s, "namespace"))),
            "User" => users.push(name),
            "Group" => groups.push(name),
            _ => {}
        }
    }
    (users, groups, sas)
}

fn binding_columns(role_doc: &'static str, what: &'static str) -> Vec<Column> {
    let (users, groups, sas) = match what {
        "roleBinding" => (
            "Users in the roleBinding",
            "Groups in the roleBinding",
            "ServiceAccounts in the roleBinding",
        ),
        _ => (
            "Users in the clusterRoleBinding",
            "Groups in the clusterRoleBinding",
            "ServiceAccounts in the clusterRoleBinding",
        ),
    };
    vec![
        NAME,
        Column::new("Role", "string", role_doc),
        AGE,
        Column::new("Users", "string", users).wide(),
        Column::new("Groups", "string", groups).wide(),
        Column::new("ServiceAccounts", "string", sas).wide(),
    ]
}

/// The printer's cells; servers print wide, kubectl hides priority-1
/// columns unless `-o wide`.
fn binding_cells(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let role_ref = obj.get("roleRef").cloned().unwrap_or(Value::Null);
    let (users, groups, sas) = subjects_strings(obj);
    vec![
        table::name_cell(obj),
        json!(format!(
            "{}/{}",
            str_of(&role_ref, "kind"),
            str_of(&role_ref, "name")
        )),
        table::age_cell(obj, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

/// `rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"]`, which upstream's
/// printer uses as the column description.
const ROLE_BINDING_ROLE_DOC: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
/// `rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"]`.
const CLUSTER_ROLE_BINDING_ROLE_DOC: &str = "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";

// -------------------------------------------------------------- strategies

pub struct RoleStrategy;

impl Strategy for RoleStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        decode_role::<Role>(body, "Role")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_rules(obj, true)
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn table_columns(&self) -> Vec<Column> {
        role_columns()
    }

    fn table_cells(&self, obj: &Value, _now: jiff::Timestamp) -> Vec<Value> {
        role_cells(obj)
    }
}

pub struct ClusterRoleStrategy;

impl Strategy for ClusterRoleStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        decode_role::<ClusterRole>(body, "ClusterRole")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_rules(obj, false);
        errs.extend(validate_aggregation_rule(obj, false));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_rules(new, false);
        errs.extend(validate_aggregation_rule(new, has_invalid_label_value(old)));
        errs
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn table_columns(&self) -> Vec<Column> {
        role_columns()
    }

    fn table_cells(&self, obj: &Value, _now: jiff::Timestamp) -> Vec<Value> {
        role_cells(obj)
    }
}

pub struct RoleBindingStrategy;

impl Strategy for RoleBindingStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        decode_binding::<RoleBinding>(body, "RoleBinding")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_binding(obj, true)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_binding(new, true);
        errs.extend(validate_role_ref_unchanged(new, old));
        errs
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn table_columns(&self) -> Vec<Column> {
        binding_columns(ROLE_BINDING_ROLE_DOC, "roleBinding")
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        binding_cells(obj, now)
    }
}

pub struct ClusterRoleBindingStrategy;

impl Strategy for ClusterRoleBindingStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        decode_binding::<ClusterRoleBinding>(body, "ClusterRoleBinding")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_binding(obj, false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_binding(new, false);
        errs.extend(validate_role_ref_unchanged(new, old));
        errs
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn table_columns(&self) -> Vec<Column> {
        binding_columns(CLUSTER_ROLE_BINDING_ROLE_DOC, "clusterRoleBinding")
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        binding_cells(obj, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn decode(s: &dyn Strategy, body: Value) -> Value {
        s.decode(body, FieldValidation::Strict).unwrap().object
    }

    #[test]
    fn rbac_names_are_path_segments() {
        assert!(rbac_name_errors("system:controller:x").is_empty());
        assert!(rbac_name_errors("Admin_Role").is_empty());
        assert_eq!(rbac_name_errors(".."), vec!["may not be '..'"]);
        assert_eq!(rbac_name_errors("."), vec!["may not be '.'"]);
        assert_eq!(
            rbac_name_errors("a/b%c"),
            vec!["may not contain '/'", "may not contain '%'"]
        );
        for s in [
            &RoleStrategy as &dyn Strategy,
            &ClusterRoleStrategy,
            &RoleBindingStrategy,
            &ClusterRoleBindingStrategy,
        ] {
            assert_eq!(s.name_rule(), NameRule::PathSegment);
        }
    }

    #[test]
    fn policy_rules_as_upstream() {
        let role = json!({"rules": [
            {"verbs": [], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
            {"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]},
        ]});
        assert_eq!(
            msgs(&RoleStrategy.validate(&role)),
            vec![
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[1].resources: Required value: resource rules must supply at least one resource",
                "rules[2].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs",
                "rules[3].nonResourceURLs: Invalid value: [\"/x\"]: namespaced rules cannot apply to non-resource URLs",
                "rules[3].nonResourceURLs: Invalid value: [\"/x\"]: rules cannot apply to both regular resources and non-resource URLs",
            ]
        );
        // ClusterRoles may use non-resource URLs.
        let cr =
            json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/version"]}]});
        assert!(ClusterRoleStrategy.validate(&cr).is_empty());
        let ok = json!({"rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]});
        assert!(RoleStrategy.validate(&ok).is_empty());
    }

    #[test]
    fn aggregation_rules_as_upstream() {
        let s = ClusterRoleStrategy;
        assert_eq!(
            msgs(&s.validate(&json!({"aggregationRule": {}}))),
            vec![
                "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"
            ]
        );
        let bad = json!({"aggregationRule": {"clusterRoleSelectors": [
            {"matchLabels": {"ok": "yes"}},
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            {"matchExpressions": [{"key": "a", "operator": "Bogus"}]},
        ]}});
        assert_eq!(
            msgs(&s.validate(&bad)),
            vec![
                "aggregationRule.clusterRoleSelectors[1].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "aggregationRule.clusterRoleSelectors[1]: Invalid value: \"null\": invalid label selector.",
                "aggregationRule.clusterRoleSelectors[2].matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "aggregationRule.clusterRoleSelectors[2]: Invalid value: \"null\": invalid label selector.",
                "aggregationRule.clusterRoleSelectors[3].matchExpressions[0].operator: Invalid value: \"Bogus\": not a valid selector operator",
                "aggregationRule.clusterRoleSelectors[3]: Invalid value: \"null\": invalid label selector.",
            ]
        );
        // A value stored before values were checked may stay on update.
        let invalid_value = json!({"aggregationRule": {"clusterRoleSelectors": [
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["-bad-"]}]},
        ]}});
        let created = msgs(&s.validate(&invalid_value));
        assert!(
            created[0].starts_with(
                "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].values[0]: Invalid value: \"-bad-\": a valid label must be"
            ),
            "{created:?}"
        );
        let updated = msgs(&s.validate_update(&invalid_value, &invalid_value));
        assert!(
            updated.iter().all(|m| !m.contains(".values[0]")),
            "{updated:?}"
        );
    }

    #[test]
    fn bindings_role_ref_as_upstream() {
        let crb = json!({"roleRef": {"apiGroup": "example.com", "kind": "Role", "name": "a/b"}});
        assert_eq!(
            msgs(&ClusterRoleBindingStrategy.validate(&crb)),
            vec![
                "roleRef.apiGroup: Unsupported value: \"example.com\": supported values: \"rbac.authorization.k8s.io\"",
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "roleRef.name: Invalid value: \"a/b\": may not contain '/'",
            ]
        );
        // A body without roleRef decodes (as in Go) and fails validation.
        let rb = decode(
            &RoleBindingStrategy,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "x"}}),
        );
        assert_eq!(
            msgs(&RoleBindingStrategy.validate(&rb)),
            vec![
                "roleRef.kind: Unsupported value: \"\": supported values: \"Role\", \"ClusterRole\"",
                "roleRef.name: Required value",
            ]
        );
        let ok = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "system:x"}});
        assert!(RoleBindingStrategy.validate(&ok).is_empty());
    }

    #[test]
    fn subjects_as_upstream() {
        let b = json!({
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "Bad_Name", "apiGroup": "x"},
                {"kind": "User", "name": "alice", "apiGroup": "x"},
                {"kind": "Group", "name": ""},
                {"kind": "Robot", "name": "r"},
            ],
        });
        let crb = msgs(&ClusterRoleBindingStrategy.validate(&b));
        assert!(
            crb[0].starts_with(
                "subjects[0].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"
            ),
            "{crb:?}"
        );
        assert_eq!(
            crb[1..],
            [
                "subjects[0].apiGroup: Unsupported value: \"x\": supported values: \"\"",
                "subjects[0].namespace: Required value",
                "subjects[1].apiGroup: Unsupported value: \"x\": supported values: \"rbac.authorization.k8s.io\"",
                "subjects[2].name: Required value",
                "subjects[2].apiGroup: Unsupported value: \"\": supported values: \"rbac.authorization.k8s.io\"",
                "subjects[3].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ]
        );
        // RoleBindings do not need a ServiceAccount subject's namespace.
        let rb = msgs(&RoleBindingStrategy.validate(&b));
        assert!(!rb.iter().any(|m| m.contains("namespace")), "{rb:?}");
    }

    #[test]
    fn decoding_defaults_like_v1() {
        let rb = decode(
            &RoleBindingStrategy,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "x"},
                "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [
                    {"kind": "User", "name": "alice"},
                    {"kind": "Group", "name": "devs", "apiGroup": ""},
                    {"kind": "ServiceAccount", "name": "sa", "namespace": "ns", "apiGroup": ""},
                ],
            }),
        );
        assert_eq!(rb["roleRef"]["apiGroup"], GROUP);
        assert_eq!(
            rb["subjects"],
            json!([
                {"kind": "User", "name": "alice", "apiGroup": GROUP},
                {"kind": "Group", "name": "devs", "apiGroup": GROUP},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
            ])
        );
        assert!(RoleBindingStrategy.validate(&rb).is_empty());
        let role = decode(
            &RoleStrategy,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "r"},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": []}],
            }),
        );
        assert_eq!(
            role["rules"],
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])
        );
        let e = RoleStrategy
            .decode(
                json!({"rules": [{"verbs": "get"}]}),
                FieldValidation::Strict,
            )
            .unwrap_err();
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn role_ref_is_immutable() {
        let old = json!({"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}});
        let new = json!({"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "edit"}});
        assert_eq!(
            msgs(&RoleBindingStrategy.validate_update(&new, &old)),
            vec![
                "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef"
            ]
        );
        let errs = ClusterRoleBindingStrategy.validate_update(&new, &old);
        assert_eq!(errs[0].kind, ErrorType::Invalid);
        assert_eq!(errs[0].field, "roleRef");
        assert!(RoleBindingStrategy.validate_update(&old, &old).is_empty());
        // Status message as kubectl prints it.
        let status = trellis_apis::Status::invalid(
            &trellis_apis::GroupKind {
                group: GROUP.into(),
                kind: "RoleBinding".into(),
            },
            "b",
            &errs,
        );
        assert_eq!(
            status.message,
            "RoleBinding.rbac.authorization.k8s.io \"b\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef"
        );
    }

    #[test]
    fn tables_like_the_printers() {
        let now: jiff::Timestamp = "2024-05-01T10:00:30Z".parse().unwrap();
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-05-01T10:00:00Z"}});
        let cols = RoleStrategy.table_columns();
        assert_eq!(
            cols.iter()
                .map(|c| (&*c.name, &*c.kind))
                .collect::<Vec<_>>(),
            vec![("Name", "string"), ("Created At", "date")]
        );
        assert_eq!(
            RoleStrategy.table_cells(&role, now),
            vec![json!("r"), json!("2024-05-01T10:00:00Z")]
        );
        assert_eq!(
            ClusterRoleStrategy.table_cells(&json!({"metadata": {"name": "c"}}), now),
            vec![json!("c"), json!("0001-01-01T00:00:00Z")]
        );

        let cols = RoleBindingStrategy.table_columns();
        assert_eq!(
            cols.iter()
                .map(|c| (&*c.name, c.priority))
                .collect::<Vec<_>>(),
            vec![
                ("Name", 0),
                ("Role", 0),
                ("Age", 0),
                ("Users", 1),
                ("Groups", 1),
                ("ServiceAccounts", 1)
            ]
        );
        assert_eq!(cols[4].description, "Groups in the roleBinding");
        assert_eq!(
            ClusterRoleBindingStrategy.table_columns()[5].description,
            "ServiceAccounts in the clusterRoleBinding"
        );
        let rb = json!({
            "metadata": {"name": "b", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice", "apiGroup": GROUP},
                {"kind": "User", "name": "bob", "apiGroup": GROUP},
                {"kind": "Group", "name": "devs", "apiGroup": GROUP},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
            ],
        });
        assert_eq!(
            RoleBindingStrategy.table_cells(&rb, now),
            vec![
                json!("b"),
                json!("ClusterRole/view"),
                json!("30s"),
                json!("alice, bob"),
                json!("devs"),
                json!("ns/sa")
            ]
        );
    }
}
