//! admissionregistration.k8s.io/v1 (k8s.io/api/admissionregistration/v1/types.go).
//!
//! `RuleWithOperations` embeds `Rule` with `json:",inline"` (and
//! `NamedRuleWithOperations` embeds `RuleWithOperations` the same way):
//! one JSON object, nested messages on the wire, so those two are mapped
//! by hand.

use k8s_pb::api::admissionregistration::v1 as a;
use serde_json::Value;
use std::sync::OnceLock;

use crate::proto::error::Path;
use crate::proto::fields::{Conv, Result, expect_object, message, strings};
use crate::proto::order::{self, Fields, Nested};
use crate::proto::types::list;

message!(a::ValidatingAdmissionPolicy {
    "metadata" => metadata: object,
    "spec" => spec: object,
    "status" => status: object,
});
list!(a::ValidatingAdmissionPolicyList => a::ValidatingAdmissionPolicy);

message!(a::ValidatingAdmissionPolicySpec {
    "paramKind" => param_kind: object,
    "matchConstraints" => match_constraints: object,
    "validations" => validations: objects,
    "failurePolicy" => failure_policy: string_keep,
    "auditAnnotations" => audit_annotations: objects,
    "matchConditions" => match_conditions: objects,
    "variables" => variables: objects,
});

message!(a::ValidatingAdmissionPolicyStatus {
    "observedGeneration" => observed_generation: int64,
    "typeChecking" => type_checking: object,
    "conditions" => conditions: objects,
});

message!(a::TypeChecking {
    "expressionWarnings" => expression_warnings: objects,
});

message!(a::ExpressionWarning {
    "fieldRef" => field_ref: string_keep,
    "warning" => warning: string_keep,
});

message!(a::ParamKind {
    "apiVersion" => api_version: string,
    "kind" => kind: string,
});

message!(a::MatchResources {
    "namespaceSelector" => namespace_selector: object,
    "objectSelector" => object_selector: object,
    "resourceRules" => resource_rules: objects,
    "excludeResourceRules" => exclude_resource_rules: objects,
    "matchPolicy" => match_policy: string_keep,
});

message!(a::Validation {
    "expression" => expression: string_keep,
    "message" => message: string,
    "reason" => reason: string_keep,
    "messageExpression" => message_expression: string,
});

message!(a::AuditAnnotation {
    "key" => key: string_keep,
    "valueExpression" => value_expression: string_keep,
});

message!(a::MatchCondition {
    "name" => name: string_keep,
    "expression" => expression: string_keep,
});

message!(a::Variable {
    "name" => name: string_keep,
    "expression" => expression: string_keep,
});

message!(a::ValidatingAdmissionPolicyBinding {
    "metadata" => metadata: object,
    "spec" => spec: object,
});
list!(a::ValidatingAdmissionPolicyBindingList => a::ValidatingAdmissionPolicyBinding);

message!(a::ValidatingAdmissionPolicyBindingSpec {
    "policyName" => policy_name: string,
    "paramRef" => param_ref: object,
    "matchResources" => match_resources: object,
    "validationActions" => validation_actions: strings,
});

message!(a::ParamRef {
    "name" => name: string,
    "namespace" => namespace: string,
    "selector" => selector: object,
    "parameterNotFoundAction" => parameter_not_found_action: string_keep,
});

message!(a::Rule {
    "apiGroups" => api_groups: strings,
    "apiVersions" => api_versions: strings,
    "resources" => resources: strings,
    "scope" => scope: string_keep,
});

/// Go's `json:",inline"` embedding with one string list beside it: the
/// embedded message's JSON object, plus `key`.
fn inlined<T: Conv>(
    inner: &Option<T>,
    key: &str,
    list: &[String],
    path: &Path<'_>,
) -> Result<Value> {
    let mut obj = match inner {
        Some(r) => r.to_json(path)?,
        None => Value::Object(Default::default()),
    };
    if let (Some(v), Some(m)) = (strings::to_json(list, &path.key(key))?, obj.as_object_mut()) {
        m.insert(key.into(), v);
    }
    Ok(obj)
}

/// The string list `key` beside an inlined message.
fn list_beside(value: &Value, key: &str, path: &Path<'_>) -> Result<Vec<String>> {
    strings::from_json(expect_object(value, path)?.get(key), &path.key(key))
}

/// A message that Go's JSON inlines (`json:",inline"`) beside one string
/// list: `{<list key>, <the inner message's fields>}` in JSON, the inner
/// message nested on the wire.
macro_rules! inlined_beside {
    ($ty:ty { $json:literal => $list:ident, $inner:ident: $inner_ty:ty }) => {
        impl Conv for $ty {
            fn to_json(&self, path: &Path<'_>) -> Result<Value> {
                inlined(&self.$inner, $json, &self.$list, path)
            }

            fn from_json(value: &Value, path: &Path<'_>) -> Result<Self> {
                Ok(Self {
                    $list: list_beside(value, $json, path)?,
                    $inner: Some(<$inner_ty>::from_json(value, path)?),
                })
            }

            fn fields() -> Option<&'static Fields> {
                static FIELDS: OnceLock<Fields> = OnceLock::new();
                order::cached(&FIELDS, || {
                    Fields::inlined(($json, Nested::Leaf), <$inner_ty>::fields())
                })
            }
        }
    };
}

// `{operations, <Rule's fields>}`.
inlined_beside!(a::RuleWithOperations { "operations" => operations, rule: a::Rule });
// `{resourceNames, <RuleWithOperations' fields>}`.
inlined_beside!(a::NamedRuleWithOperations {
    "resourceNames" => resource_names,
    rule_with_operations: a::RuleWithOperations
});

message!(a::ValidatingWebhookConfiguration {
    "metadata" => metadata: object,
    "webhooks" => webhooks: objects,
});
list!(a::ValidatingWebhookConfigurationList => a::ValidatingWebhookConfiguration);

message!(a::MutatingWebhookConfiguration {
    "metadata" => metadata: object,
    "webhooks" => webhooks: objects,
});
list!(a::MutatingWebhookConfigurationList => a::MutatingWebhookConfiguration);

message!(a::ValidatingWebhook {
    "name" => name: string_keep,
    "clientConfig" => client_config: object,
    "rules" => rules: objects,
    "failurePolicy" => failure_policy: string_keep,
    "matchPolicy" => match_policy: string_keep,
    "namespaceSelector" => namespace_selector: object,
    "objectSelector" => object_selector: object,
    "sideEffects" => side_effects: string_keep,
    "timeoutSeconds" => timeout_seconds: int32_keep,
    "admissionReviewVersions" => admission_review_versions: strings,
    "matchConditions" => match_conditions: objects,
});

message!(a::MutatingWebhook {
    "name" => name: string_keep,
    "clientConfig" => client_config: object,
    "rules" => rules: objects,
    "failurePolicy" => failure_policy: string_keep,
    "matchPolicy" => match_policy: string_keep,
    "namespaceSelector" => namespace_selector: object,
    "objectSelector" => object_selector: object,
    "sideEffects" => side_effects: string_keep,
    "timeoutSeconds" => timeout_seconds: int32_keep,
    "admissionReviewVersions" => admission_review_versions: strings,
    "reinvocationPolicy" => reinvocation_policy: string_keep,
    "matchConditions" => match_conditions: objects,
});

message!(a::WebhookClientConfig {
    "url" => url: string_keep,
    "service" => service: object,
    "caBundle" => ca_bundle: bytes,
});

message!(a::ServiceReference {
    "namespace" => namespace: string_keep,
    "name" => name: string_keep,
    "path" => path: string_keep,
    "port" => port: int32_keep,
});

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// JSON → protobuf → JSON gives back what kube would serve.
    fn round_trip(v: Value) {
        let api_version = v["apiVersion"].as_str().unwrap().to_string();
        let kind = v["kind"].as_str().unwrap().to_string();
        let bytes = crate::proto::encode(&v).unwrap();
        let back = crate::proto::decode(&bytes).unwrap();
        assert_eq!(back["apiVersion"], api_version.as_str());
        assert_eq!(back["kind"], kind.as_str());
        assert_eq!(back, v, "{kind}");
    }

    use super::Value;

    #[test]
    fn admission_types_round_trip_with_inlined_rules() {
        round_trip(
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "p"},
            "spec": {"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConstraints": {"resourceRules": [{"resourceNames": ["a"], "operations": ["CREATE"],
                    "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "scope": "*"}],
                    "matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {}},
                "validations": [{"expression": "true", "message": "m", "reason": "Invalid"}],
                "failurePolicy": "Fail",
                "auditAnnotations": [{"key": "k", "valueExpression": "'v'"}],
                "matchConditions": [{"name": "c", "expression": "true"}],
                "variables": [{"name": "x", "expression": "1"}]},
            "status": {"observedGeneration": 2, "typeChecking": {"expressionWarnings": [{"fieldRef": "spec.validations[0].expression", "warning": "w"}]},
                "conditions": [{"type": "Ready", "status": "True", "reason": "R", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
        );
        round_trip(
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "b"},
            "spec": {"policyName": "p", "validationActions": ["Deny", "Audit"],
                "paramRef": {"name": "cm", "namespace": "ns", "parameterNotFoundAction": "Deny"},
                "matchResources": {"excludeResourceRules": [{"operations": ["*"], "apiGroups": ["apps"], "apiVersions": ["*"], "resources": ["deployments"]}]}}}),
        );
        round_trip(
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "m"},
            "webhooks": [{"name": "m.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Ignore", "matchPolicy": "Equivalent", "timeoutSeconds": 10, "reinvocationPolicy": "IfNeeded",
                "namespaceSelector": {"matchLabels": {"a": "b"}}, "objectSelector": {},
                "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "scope": "Namespaced"}],
                "clientConfig": {"url": "https://example.com/m", "caBundle": "Zm9v"},
                "matchConditions": [{"name": "c", "expression": "true"}]}]}),
        );
        round_trip(
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "v"},
            "webhooks": [{"name": "v.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "NoneOnDryRun",
                "clientConfig": {"service": {"namespace": "ns", "name": "svc", "path": "/v", "port": 443}}}]}),
        );
    }
}
