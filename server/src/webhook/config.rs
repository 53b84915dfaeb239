//! ValidatingWebhookConfigurations and MutatingWebhookConfigurations:
//! kube's defaults and checks (`SetDefaults_ValidatingWebhook`,
//! `validateValidatingWebhook`… with their field paths and messages), and
//! the compiled [`Webhook`]s the dispatcher calls.
//!
//! Both kinds share one shape here: a mutating webhook is a validating one
//! plus `reinvocationPolicy`. A stored configuration that no longer
//! compiles (an older server judged it differently) yields webhooks whose
//! calls fail, so their failurePolicy decides, never an allow.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MutatingWebhookConfiguration, NamedRuleWithOperations, RuleWithOperations,
    ServiceReference, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;
use trellis_apis::FieldError;
use trellis_apis::cel::admission::Declarations;
use trellis_apis::validation::{is_dns1035_label, is_dns1123_subdomain};

use super::client::Endpoint;
use crate::policy::compiled::{self, FAILURE_POLICIES, MATCH_POLICIES, Match};

const SIDE_EFFECTS: &[&str] = &["None", "NoneOnDryRun"];
const REINVOCATION_POLICIES: &[&str] = &["IfNeeded", "Never"];
const REVIEW_VERSIONS: &[&str] = &["v1", "v1beta1"];
/// kube's default `timeoutSeconds` (v1).
const DEFAULT_TIMEOUT_SECONDS: i32 = 10;
/// Beyond kube, which bounds them only by the object's size: each webhook
/// may be a call on every matching request.
pub const MAX_WEBHOOKS: usize = 64;

/// Which admission phase a webhook belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Validating,
    Mutating,
}

/// Where a webhook's calls go.
#[derive(Debug)]
pub enum Target {
    Url(Arc<Endpoint>),
    /// `clientConfig.service`: this control plane serves no Services, so
    /// the call fails with this explanation (failurePolicy decides).
    Unresolvable(String),
}

/// One webhook of a configuration, defaulted and compiled.
#[derive(Debug)]
pub struct Webhook {
    pub kind: Kind,
    pub configuration: String,
    pub name: String,
    pub matcher: Match,
    pub match_conditions: Vec<(String, trellis_apis::cel::admission::Expression)>,
    pub fail_open: bool,
    pub timeout: std::time::Duration,
    pub reinvoke_if_needed: bool,
    pub target: Target,
    /// Why the stored configuration cannot be used, if it cannot.
    pub broken: Option<String>,
}

/// Fills kube's defaults of every webhook of a configuration.
pub fn default_configuration(obj: &mut Value, kind: Kind) {
    let Some(hooks) = obj.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for h in hooks.iter_mut().filter_map(Value::as_object_mut) {
        h.entry("failurePolicy")
            .or_insert_with(|| Value::String("Fail".into()));
        h.entry("matchPolicy")
            .or_insert_with(|| Value::String("Equivalent".into()));
        for sel in ["namespaceSelector", "objectSelector"] {
            h.entry(sel)
                .or_insert_with(|| Value::Object(Default::default()));
        }
        h.entry("timeoutSeconds")
            .or_insert_with(|| Value::from(DEFAULT_TIMEOUT_SECONDS));
        if kind == Kind::Mutating {
            h.entry("reinvocationPolicy")
                .or_insert_with(|| Value::String("Never".into()));
        }
        if let Some(Value::Array(rules)) = h.get_mut("rules") {
            for r in rules.iter_mut().filter_map(Value::as_object_mut) {
                r.entry("scope")
                    .or_insert_with(|| Value::String("*".into()));
            }
        }
        if let Some(svc) = h
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .and_then(Value::as_object_mut)
        {
            svc.entry("port").or_insert_with(|| Value::from(443));
        }
    }
}

/// The fields both webhook kinds have, borrowed from either.
struct Fields<'a> {
    name: &'a str,
    review_versions: &'a [String],
    client: &'a WebhookClientConfig,
    failure_policy: Option<&'a str>,
    match_policy: Option<&'a str>,
    match_conditions: &'a [MatchCondition],
    namespace_selector: &'a Option<LabelSelector>,
    object_selector: &'a Option<LabelSelector>,
    rules: &'a [RuleWithOperations],
    side_effects: &'a str,
    timeout_seconds: Option<i32>,
    reinvocation: Option<&'a str>,
}

/// kube's `IsFullyQualifiedName`.
fn fully_qualified(path: &str, name: &str, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let bad = is_dns1123_subdomain(name);
    if !bad.is_empty() {
        errs.push(FieldError::invalid(path, name, bad.join(",")));
    } else if name.split('.').count() < 3 {
        errs.push(FieldError::invalid(
            path,
            name,
            "should be a domain with at least three segments separated by dots",
        ));
    }
}

/// kube's `ValidateWebhookURL` (https forced).
fn check_url(path: &str, url: &str, errs: &mut Vec<FieldError>) -> Option<http::Uri> {
    const FORM: &str = "; desired format: https://host[/path]";
    let uri: http::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => {
            errs.push(FieldError::required(
                path,
                format!("url must be a valid URL: {e}{FORM}"),
            ));
            return None;
        }
    };
    let mut ok = true;
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme != "https" {
        errs.push(FieldError::invalid(
            path,
            scheme,
            format!("'https' is the only allowed URL scheme{FORM}"),
        ));
        ok = false;
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    if let Some((user, _)) = authority.rsplit_once('@') {
        errs.push(FieldError::invalid(
            path,
            user,
            "user information is not permitted in the URL",
        ));
        ok = false;
    }
    if uri.host().unwrap_or("").is_empty() {
        errs.push(FieldError::invalid(
            path,
            "",
            format!("host must be specified{FORM}"),
        ));
        ok = false;
    }
    // `http::Uri` refuses fragments outright; a query survives parsing.
    if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
        errs.push(FieldError::invalid(
            path,
            q,
            "query parameters are not permitted in the URL",
        ));
        ok = false;
    }
    ok.then_some(uri)
}

/// kube's `ValidateWebhookService`.
fn check_service(path: &str, svc: &ServiceReference, errs: &mut Vec<FieldError>) {
    if svc.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    }
    if svc.namespace.is_empty() {
        errs.push(FieldError::required(format!("{path}.namespace"), ""));
    }
    let port = svc.port.unwrap_or(443);
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid(
            format!("{path}.port"),
            port,
            "port is not valid: must be between 1 and 65535, inclusive",
        ));
    }
    let Some(p) = svc.path.as_deref() else { return };
    if p.is_empty() || p == "/" {
        return;
    }
    let field = format!("{path}.path");
    if p == "//" {
        errs.push(FieldError::invalid(field, p, "segment[0] may not be empty"));
        return;
    }
    if !p.starts_with('/') {
        errs.push(FieldError::invalid(&field, p, "must start with a '/'"));
    }
    let inner = p.get(1..).unwrap_or("");
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    for (i, step) in inner.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                &field,
                p,
                format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for msg in is_dns1123_subdomain(step) {
            errs.push(FieldError::invalid(
                &field,
                p,
                format!("segment[{i}]: {msg}"),
            ));
        }
    }
}

fn check_review_versions(path: &str, versions: &[String], errs: &mut Vec<FieldError>) {
    if versions.is_empty() {
        errs.push(FieldError::required(
            path,
            format!("must specify one of {}", REVIEW_VERSIONS.join(", ")),
        ));
        return;
    }
    let mut seen = HashSet::new();
    for (i, v) in versions.iter().enumerate() {
        if !seen.insert(v.as_str()) {
            errs.push(FieldError::invalid(
                format!("{path}[{i}]"),
                v.as_str(),
                "duplicate version",
            ));
            continue;
        }
        for msg in is_dns1035_label(v) {
            errs.push(FieldError::invalid(format!("{path}[{i}]"), v.as_str(), msg));
        }
    }
    // Trellis speaks AdmissionReview v1 only (kube would accept a webhook
    // speaking only v1beta1; we refuse it rather than call it wrongly).
    if !versions.iter().any(|v| v == "v1") {
        errs.push(FieldError::invalid(
            path,
            Value::from(versions.to_vec()),
            "must include v1 (this server sends AdmissionReview v1 only)",
        ));
    }
}

fn one_of(
    path: String,
    value: Option<&str>,
    allowed: &[&str],
    errs: &mut Vec<FieldError>,
) -> Option<String> {
    let v = value?;
    if !allowed.contains(&v) {
        errs.push(FieldError::not_supported(path, v, allowed));
    }
    Some(v.to_string())
}

fn compile(
    kind: Kind,
    configuration: &str,
    f: &Fields<'_>,
    path: &str,
) -> (Webhook, Vec<FieldError>) {
    let mut errs = Vec::new();
    fully_qualified(&format!("{path}.name"), f.name, &mut errs);
    let named: Vec<NamedRuleWithOperations> = f
        .rules
        .iter()
        .map(|r| NamedRuleWithOperations {
            api_groups: r.api_groups.clone(),
            api_versions: r.api_versions.clone(),
            operations: r.operations.clone(),
            resources: r.resources.clone(),
            scope: r.scope.clone(),
            resource_names: None,
        })
        .collect();
    for (i, r) in named.iter().enumerate() {
        compiled::check_rule(r, &format!("{path}.rules[{i}]"), &mut errs);
    }
    let fail_open = one_of(
        format!("{path}.failurePolicy"),
        f.failure_policy,
        FAILURE_POLICIES,
        &mut errs,
    )
    .is_some_and(|p| p == "Ignore");
    let equivalent = one_of(
        format!("{path}.matchPolicy"),
        f.match_policy,
        MATCH_POLICIES,
        &mut errs,
    )
    .is_none_or(|p| p != "Exact");
    if f.side_effects.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.sideEffects"),
            format!("must specify one of {}", SIDE_EFFECTS.join(", ")),
        ));
    } else {
        one_of(
            format!("{path}.sideEffects"),
            Some(f.side_effects),
            SIDE_EFFECTS,
            &mut errs,
        );
    }
    let timeout = f.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=30).contains(&timeout) {
        errs.push(FieldError::invalid(
            format!("{path}.timeoutSeconds"),
            timeout,
            "the timeout value must be between 1 and 30 seconds",
        ));
    }
    let selector = |sel: &Option<LabelSelector>, field: &str, errs: &mut Vec<FieldError>| {
        let sel = sel.clone().unwrap_or_default();
        compiled::selector(&Some(sel), &format!("{path}.{field}"), errs)
    };
    let namespace_selector = selector(f.namespace_selector, "namespaceSelector", &mut errs);
    let object_selector = selector(f.object_selector, "objectSelector", &mut errs);
    let reinvoke_if_needed = one_of(
        format!("{path}.reinvocationPolicy"),
        f.reinvocation,
        REINVOCATION_POLICIES,
        &mut errs,
    )
    .is_some_and(|p| p == "IfNeeded");
    let cc = f.client;
    let client_path = format!("{path}.clientConfig");
    let target = match (&cc.url, &cc.service) {
        (Some(url), None) => match check_url(&format!("{client_path}.url"), url, &mut errs) {
            Some(uri) => match Endpoint::new(uri, cc.ca_bundle.as_ref().map(|b| b.0.as_slice())) {
                Ok(ep) => Target::Url(Arc::new(ep)),
                Err(e) => Target::Unresolvable(e),
            },
            None => Target::Unresolvable("the URL is invalid".into()),
        },
        (None, Some(svc)) => {
            check_service(&format!("{client_path}.service"), svc, &mut errs);
            Target::Unresolvable(format!(
                "clientConfig.service ({}/{}) cannot be resolved: this control plane serves no Services; use clientConfig.url",
                svc.namespace, svc.name
            ))
        }
        _ => {
            errs.push(FieldError::required(
                client_path,
                "exactly one of url or service is required",
            ));
            Target::Unresolvable("clientConfig has neither a url nor a service".into())
        }
    };
    check_review_versions(
        &format!("{path}.admissionReviewVersions"),
        f.review_versions,
        &mut errs,
    );
    let match_conditions = compiled::match_conditions(
        &Declarations::webhook(),
        f.match_conditions,
        &format!("{path}.matchConditions"),
        &mut errs,
    );
    let broken = (!errs.is_empty()).then(|| trellis_apis::field_error::aggregate(&errs));
    let hook = Webhook {
        kind,
        configuration: configuration.to_string(),
        name: f.name.to_string(),
        matcher: Match {
            namespace_selector,
            object_selector,
            rules: named.iter().map(compiled::rule).collect(),
            exclude: Vec::new(),
            equivalent,
        },
        match_conditions,
        fail_open,
        timeout: std::time::Duration::from_secs(timeout.clamp(1, 30) as u64),
        reinvoke_if_needed,
        target,
        broken,
    };
    (hook, errs)
}

/// Checks the webhooks' names are unique and their number bounded.
fn check_names<'a>(names: impl Iterator<Item = &'a str>, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    let mut count = 0;
    for (i, n) in names.enumerate() {
        count += 1;
        if !n.is_empty() && !seen.insert(n) {
            errs.push(FieldError::duplicate(format!("webhooks[{i}].name"), n));
        }
    }
    if count > MAX_WEBHOOKS {
        errs.push(FieldError::new(
            trellis_apis::ErrorType::TooMany,
            "webhooks",
            Some(Value::from(count)),
            format!("must have at most {MAX_WEBHOOKS} items"),
        ));
    }
}

/// The shared fields of a `ValidatingWebhook` or a `MutatingWebhook`
/// (the same names in both types).
macro_rules! fields {
    ($h:expr, $reinvocation:expr) => {
        Fields {
            name: &$h.name,
            review_versions: &$h.admission_review_versions,
            client: &$h.client_config,
            failure_policy: $h.failure_policy.as_deref(),
            match_policy: $h.match_policy.as_deref(),
            match_conditions: $h.match_conditions.as_deref().unwrap_or_default(),
            namespace_selector: &$h.namespace_selector,
            object_selector: &$h.object_selector,
            rules: $h.rules.as_deref().unwrap_or_default(),
            side_effects: &$h.side_effects,
            timeout_seconds: $h.timeout_seconds,
            reinvocation: $reinvocation,
        }
    };
}

/// Checks and compiles the webhooks of configuration `name`.
fn configuration<'a>(
    kind: Kind,
    name: &str,
    hooks: impl Iterator<Item = Fields<'a>>,
) -> (Vec<Webhook>, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    let mut names = Vec::new();
    for (i, f) in hooks.enumerate() {
        let (hook, e) = compile(kind, name, &f, &format!("webhooks[{i}]"));
        errs.extend(e);
        names.push(f.name);
        out.push(hook);
    }
    check_names(names.into_iter(), &mut errs);
    (out, errs)
}

/// Checks and compiles a ValidatingWebhookConfiguration.
pub fn validating(c: &ValidatingWebhookConfiguration) -> (Vec<Webhook>, Vec<FieldError>) {
    let name = c.metadata.name.clone().unwrap_or_default();
    let hooks = c.webhooks.as_deref().unwrap_or_default();
    configuration(
        Kind::Validating,
        &name,
        hooks.iter().map(|h| fields!(h, None)),
    )
}

/// Checks and compiles a MutatingWebhookConfiguration.
pub fn mutating(c: &MutatingWebhookConfiguration) -> (Vec<Webhook>, Vec<FieldError>) {
    let name = c.metadata.name.clone().unwrap_or_default();
    let hooks = c.webhooks.as_deref().unwrap_or_default();
    configuration(
        Kind::Mutating,
        &name,
        hooks
            .iter()
            .map(|h| fields!(h, h.reinvocation_policy.as_deref())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validating_errors(v: Value) -> Vec<String> {
        let mut v = v;
        default_configuration(&mut v, Kind::Validating);
        let c: ValidatingWebhookConfiguration = serde_json::from_value(v).unwrap();
        validating(&c).1.iter().map(|e| e.to_string()).collect()
    }

    fn hook(extra: Value) -> Value {
        let mut h = json!({
            "name": "check.orders.example.com",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "clientConfig": {"url": "https://hooks.example.com/validate"},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
        });
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        json!({"metadata": {"name": "c"}, "webhooks": [h]})
    }

    #[test]
    fn a_valid_webhook_compiles_with_kubes_defaults() {
        let mut v = hook(json!({}));
        default_configuration(&mut v, Kind::Mutating);
        assert_eq!(v["webhooks"][0]["failurePolicy"], "Fail");
        assert_eq!(v["webhooks"][0]["timeoutSeconds"], 10);
        assert_eq!(v["webhooks"][0]["reinvocationPolicy"], "Never");
        assert_eq!(v["webhooks"][0]["rules"][0]["scope"], "*");
        let c: MutatingWebhookConfiguration = serde_json::from_value(v).unwrap();
        let (hooks, errs) = mutating(&c);
        assert!(errs.is_empty(), "{errs:?}");
        assert!(!hooks[0].fail_open);
        assert!(matches!(hooks[0].target, Target::Url(_)));
        assert!(hooks[0].broken.is_none());
    }

    #[test]
    fn kubes_messages_for_bad_webhooks() {
        let cases = [
            (
                json!({"name": "short.name"}),
                "webhooks[0].name: Invalid value: \"short.name\": should be a domain with at least three segments separated by dots",
            ),
            (
                json!({"sideEffects": ""}),
                "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
            ),
            (
                json!({"sideEffects": "Some"}),
                "webhooks[0].sideEffects: Unsupported value: \"Some\": supported values: \"None\", \"NoneOnDryRun\"",
            ),
            (
                json!({"timeoutSeconds": 31}),
                "webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds",
            ),
            (
                json!({"clientConfig": {"url": "http://hooks.example.com/"}}),
                "webhooks[0].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
            ),
            (
                json!({"clientConfig": {"url": "https://hooks.example.com/?a=b"}}),
                "webhooks[0].clientConfig.url: Invalid value: \"a=b\": query parameters are not permitted in the URL",
            ),
            (
                json!({"clientConfig": {}}),
                "webhooks[0].clientConfig: Required value: exactly one of url or service is required",
            ),
            (
                json!({"clientConfig": {"service": {"name": "", "namespace": "ns", "path": "/a//b"}}}),
                "webhooks[0].clientConfig.service.name: Required value",
            ),
            (
                json!({"admissionReviewVersions": []}),
                "webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1",
            ),
            (
                json!({"matchConditions": [{"name": "x", "expression": "namespaceObject != null"}]}),
                "undeclared reference to 'namespaceObject'",
            ),
            (
                json!({"failurePolicy": "Sometimes"}),
                "webhooks[0].failurePolicy: Unsupported value: \"Sometimes\": supported values: \"Fail\", \"Ignore\"",
            ),
        ];
        for (extra, want) in cases {
            let errs = validating_errors(hook(extra.clone()));
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{extra}: want {want:?} in {errs:?}"
            );
        }
        let mut two = hook(json!({}));
        let h = two["webhooks"][0].clone();
        two["webhooks"].as_array_mut().unwrap().push(h);
        let errs = validating_errors(two);
        assert!(
            errs.iter()
                .any(|e| e.contains("webhooks[1].name: Duplicate value")),
            "{errs:?}"
        );
        let mut many = hook(json!({}));
        let h = many["webhooks"][0].clone();
        many["webhooks"] = Value::Array(
            (0..=MAX_WEBHOOKS)
                .map(|i| {
                    let mut h = h.clone();
                    h["name"] = json!(format!("h{i}.example.com"));
                    h
                })
                .collect(),
        );
        let errs = validating_errors(many);
        assert!(
            errs.iter().any(|e| e.contains("webhooks: Too many")),
            "{errs:?}"
        );
    }
}
