//! ValidatingAdmissionPolicies end to end with kubectl 1.33, in our own
//! manifests: a workspace owner's policy with a ConfigMap param denying,
//! warning and auditing through three bindings; the param going missing
//! under `parameterNotFoundAction: Deny`; the policy staying in its
//! workspace; a provider's policy following its exported resource into a
//! consumer's workspace, where the consumer can neither see nor lift it.

use std::time::Duration;

use serde_json::Value;

use crate::common::users::{bind_export, bind_permission, create_workspace, start_with_users};

const TOKENS: &str = "\
team-token,team,uid-team,system:kcp:workspace-creators
other-token,other,uid-other,system:kcp:workspace-creators
provider-token,provider,uid-provider,system:kcp:workspace-creators
consumer-token,consumer,uid-consumer,\"consumers,system:kcp:workspace-creators\"
";

const POLICY: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: max-keys
spec:
  paramKind:
    apiVersion: v1
    kind: ConfigMap
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["configmaps"]
  matchConditions:
  - name: not-the-limits
    expression: "object.metadata.name != 'limits'"
  variables:
  - name: keys
    expression: "has(object.data) ? size(object.data) : 0"
  validations:
  - expression: "variables.keys <= int(params.data.maxKeys)"
    messageExpression: "'at most ' + params.data.maxKeys + ' keys, got ' + string(variables.keys)"
  auditAnnotations:
  - key: keys
    valueExpression: "string(variables.keys)"
"#;

fn binding(name: &str, selector: &str, actions: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}
spec:
  policyName: max-keys
  validationActions: {actions}
  paramRef:
    name: limits
    namespace: default
    parameterNotFoundAction: Deny
  matchResources:
    objectSelector:
      matchLabels:
        policy: {selector}
"#
    )
}

fn configmap(name: &str, label: &str, keys: usize) -> String {
    let data: String = (0..keys).map(|i| format!("  k{i}: v\n")).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n    policy: {label}\ndata:\n{data}"
    )
}

#[test]
fn a_workspace_owner_denies_warns_and_audits_with_params() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let audit_arg = audit.to_str().unwrap().to_string();
    let s = start_with_users(
        "vap_params",
        &dir,
        TOKENS,
        &["--audit-log-path", &audit_arg],
    );
    create_workspace(&s, "team-token", "team");
    create_workspace(&s, "other-token", "other");
    let team = s.as_user(Some("team-token"), "root:team");
    let other = s.as_user(Some("other-token"), "root:other");

    team.apply(POLICY);
    team.apply(&binding("max-keys-deny", "enforced", "[Deny]"));
    team.apply(&binding("max-keys-warn", "warned", "[Warn, Audit]"));
    // kubectl's table shows kube's columns.
    let table = team.ok(&["get", "validatingadmissionpolicies"]);
    assert!(
        table.contains("VALIDATIONS") && table.contains("PARAMKIND"),
        "{table}"
    );
    assert!(
        table.contains("max-keys") && table.contains("v1/ConfigMap"),
        "{table}"
    );
    let table = team.ok(&["get", "validatingadmissionpolicybindings"]);
    assert!(
        table.contains("POLICYNAME") && table.contains("default/limits"),
        "{table}"
    );

    // No param yet: the binding that denies refuses, as configured.
    let o = team.create(&configmap("early", "enforced", 1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("ValidatingAdmissionPolicy 'max-keys' with binding 'max-keys-deny' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"),
        "{err}"
    );
    // The param (exempt by the match condition, so it can be written).
    team.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: limits\n  namespace: default\ndata:\n  maxKeys: \"2\"\n");

    // Deny.
    let o = team.create(&configmap("too-many", "enforced", 3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "created over the limit");
    assert!(
        err.contains("ValidatingAdmissionPolicy 'max-keys' with binding 'max-keys-deny' denied request: at most 2 keys, got 3"),
        "{err}"
    );
    assert!(
        err.contains("is invalid"),
        "kube's reason is Invalid: {err}"
    );
    team.err(&["get", "configmap", "too-many", "-n", "default"]);
    let o = team.create(&configmap("fits", "enforced", 2));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // An update past the limit is refused as well.
    let err = team.err(&[
        "patch",
        "configmap",
        "fits",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"data":{"k9":"v"}}"#,
    ]);
    assert!(err.contains("at most 2 keys, got 3"), "{err}");

    // Warn + Audit: written, with kubectl printing the warning.
    let o = team.create(&configmap("warned", "warned", 3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("Warning: Validation failed for ValidatingAdmissionPolicy 'max-keys' with binding 'max-keys-warn': at most 2 keys, got 3"),
        "{err}"
    );
    // The audit log has the failure and the policy's annotation on that
    // request's line (written off the request path: wait for it).
    let line = crate::common::eventually_sync(Duration::from_secs(10), || {
        // The name of a create is in its body, not its URL: the line of
        // the one create that passed with a validation failure.
        crate::common::audit_lines(&audit).into_iter().find(|l| {
            l["verb"] == "create"
                && l["code"] == 201
                && l["annotations"]["validation.policy.admission.k8s.io/validation_failure"]
                    .is_string()
        })
    });
    assert_eq!(line["annotations"]["max-keys/keys"], "3", "{line}");
    let failures: Value = serde_json::from_str(
        line["annotations"]["validation.policy.admission.k8s.io/validation_failure"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(failures[0]["binding"], "max-keys-warn");
    assert_eq!(failures[0]["message"], "at most 2 keys, got 3");

    // Unlabelled objects match no binding.
    let o = team.create(&configmap("free", "none", 5));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Another workspace is not governed by this one's policies.
    let o = other.create(&configmap("too-many", "enforced", 3));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !other
            .ok(&["get", "validatingadmissionpolicies"])
            .contains("max-keys")
    );

    // The param gone: Deny again.
    team.ok(&["delete", "configmap", "limits", "-n", "default"]);
    let o = team.create(&configmap("late", "enforced", 1));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no params found"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A policy whose expression does not compile is refused with kube's
    // message, and nothing in admissionregistration is subject to policies
    // (the owner can always delete them).
    let o = team.create(&POLICY.replace("max-keys\nspec", "broken\nspec").replace(
        "variables.keys <= int(params.data.maxKeys)",
        "variables.keys <=",
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("spec.validations[0].expression: Invalid value: \"variables.keys <=\": compilation failed: ERROR: <input>:1:"),
        "{err}"
    );
    team.ok(&[
        "delete",
        "validatingadmissionpolicybinding",
        "max-keys-deny",
    ]);
    let o = team.create(&configmap("late", "enforced", 4));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

const SCHEMA: &str = r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: v1.gadgets.example.io
spec:
  group: example.io
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      type: object
      properties:
        spec:
          type: object
          properties:
            size: {type: integer}
"#;

const EXPORT: &str = r#"apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: gadgets
spec:
  resources:
  - name: gadgets
    group: example.io
    schema: v1.gadgets.example.io
    storage:
      crd: {}
"#;

const PROVIDER_POLICY: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: gadget-size
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["example.io"]
      apiVersions: ["*"]
      operations: ["CREATE", "UPDATE"]
      resources: ["gadgets"]
  validations:
  - expression: "object.spec.size <= 10"
    message: "gadgets come in sizes up to 10"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: gadget-size
spec:
  policyName: gadget-size
  validationActions: [Deny]
"#;

fn gadget(name: &str, size: u32) -> String {
    format!(
        "apiVersion: example.io/v1\nkind: Gadget\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  size: {size}\n"
    )
}

#[test]
fn a_providers_policy_follows_its_resource_into_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("vap_provider", &dir, TOKENS, &[]);
    create_workspace(&s, "provider-token", "provider");
    create_workspace(&s, "consumer-token", "consumer");
    let provider = s.as_user(Some("provider-token"), "root:provider");
    let consumer = s.as_user(Some("consumer-token"), "root:consumer");
    provider.apply(SCHEMA);
    provider.apply(EXPORT);
    provider.apply(&bind_permission("gadgets"));
    provider.apply(PROVIDER_POLICY);
    bind_export(&consumer, "root:provider", "gadgets", "gadgets");
    let o = consumer.create(&gadget("small", 3));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = consumer.create(&gadget("huge", 30));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the provider's policy did not apply");
    assert!(
        err.contains("(Forbidden)"),
        "the validation's reason: {err}"
    );
    assert!(
        err.contains("ValidatingAdmissionPolicy 'gadget-size' with binding 'gadget-size' denied request: gadgets come in sizes up to 10"),
        "{err}"
    );
    // The consumer sees none of it and has nothing to delete.
    let list = consumer.ok(&["get", "validatingadmissionpolicies", "-o", "name"]);
    assert!(list.trim().is_empty(), "{list}");
    consumer.err(&["delete", "validatingadmissionpolicybinding", "gadget-size"]);
    // The consumer's own policies apply to bound resources too.
    consumer.apply(
        &PROVIDER_POLICY
            .replace("gadget-size", "tiny")
            .replace("object.spec.size <= 10", "object.spec.size <= 2")
            .replace("sizes up to 10", "sizes up to 2 here"),
    );
    let o = consumer.create(&gadget("medium", 3));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("sizes up to 2 here"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Lifting the provider's policy lifts it for consumers.
    provider.ok(&["delete", "validatingadmissionpolicy", "gadget-size"]);
    consumer.ok(&["delete", "validatingadmissionpolicy", "tiny"]);
    let o = consumer.create(&gadget("huge", 30));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_workspace_owner_limits_object_counts_with_a_resource_quota() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("quota_counts", &dir, TOKENS, &[]);
    create_workspace(&s, "team-token", "team");
    let team = s.as_user(Some("team-token"), "root:team");
    team.ok(&[
        "create",
        "quota",
        "objects",
        "-n",
        "default",
        "--hard=count/configmaps=2,secrets=1",
    ]);
    team.ok(&["create", "configmap", "a", "-n", "default"]);
    team.ok(&["create", "configmap", "b", "-n", "default"]);
    let err = team.err(&["create", "configmap", "c", "-n", "default"]);
    assert!(
        err.contains("configmaps \"c\" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"),
        "{err}"
    );
    // kubectl's table shows what is used of what is allowed.
    let table = team.ok(&["get", "quota", "objects", "-n", "default"]);
    assert!(
        table.contains("count/configmaps: 2/2") && table.contains("secrets: 0/1"),
        "{table}"
    );
    // Room freed by a delete is found by the next create.
    team.ok(&["delete", "configmap", "a", "-n", "default"]);
    team.ok(&["create", "configmap", "c", "-n", "default"]);
    // LimitRanges are stored and served.
    team.apply(
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: small\n  namespace: default\nspec:\n  limits:\n  - type: Container\n    max: {cpu: \"2\"}\n",
    );
    let lr = team.ok(&[
        "get",
        "limitrange",
        "small",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.limits[0].max.cpu}",
    ]);
    assert_eq!(lr, "2");
}
