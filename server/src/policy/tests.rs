//! Admission policies through the router, on a real store: what a client
//! sees (codes, messages, warnings) and what the audit log would get.

use http::Method;
use serde_json::{Value, json};

use crate::testing::{Fixture, json_call, send};

const VAP: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
const VAPB: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

async fn ok(f: &Fixture, path: &str, body: Value) -> Value {
    let (code, v) = json_call(&f.state, Method::POST, path, Some(body)).await;
    assert!(code == 201 || code == 200, "{path}: {code} {v}");
    v
}

async fn setup() -> Fixture {
    let f = Fixture::new();
    ok(
        &f,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "default", "labels": {"env": "test"}}}),
    )
    .await;
    ok(
        &f,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "prod", "labels": {"env": "prod"}}}),
    )
    .await;
    f
}

fn policy(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec.as_object_mut()
        .unwrap()
        .entry("matchConstraints")
        .or_insert(json!({
            "resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]
            }]
        }));
    json!({"metadata": {"name": name}, "spec": spec})
}

fn binding(name: &str, policy: &str, spec: Value) -> Value {
    let mut spec = spec;
    let m = spec.as_object_mut().unwrap();
    m.insert("policyName".into(), json!(policy));
    m.entry("validationActions").or_insert(json!(["Deny"]));
    json!({"metadata": {"name": name}, "spec": spec})
}

fn cm(name: &str, data: Value) -> Value {
    json!({"metadata": {"name": name}, "data": data})
}

#[tokio::test]
async fn deny_with_reason_message_and_kube_shape() {
    let f = setup().await;
    ok(
        &f,
        VAP,
        policy(
            "small",
            json!({"validations": [
                {"expression": "size(object.data) <= 1"},
                {"expression": "!has(object.data.forbidden)", "reason": "Forbidden",
                 "messageExpression": "'key forbidden in ' + object.metadata.name"}
            ]}),
        ),
    )
    .await;
    // No binding yet: nothing is enforced.
    ok(&f, CMS, cm("a", json!({"x": "1", "y": "2"}))).await;
    ok(&f, VAPB, binding("small-b", "small", json!({}))).await;
    // Defaults were filled as kube does.
    let (_, p) = json_call(&f.state, Method::GET, &format!("{VAP}/small"), None).await;
    assert_eq!(p["spec"]["failurePolicy"], "Fail");
    assert_eq!(p["spec"]["matchConstraints"]["matchPolicy"], "Equivalent");
    assert_eq!(
        p["spec"]["matchConstraints"]["namespaceSelector"],
        json!({})
    );
    assert_eq!(
        p["spec"]["matchConstraints"]["resourceRules"][0]["scope"],
        "*"
    );

    let (code, s) = json_call(
        &f.state,
        Method::POST,
        CMS,
        Some(cm("b", json!({"x": "1", "y": "2"}))),
    )
    .await;
    assert_eq!(code, 422, "{s}");
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(
        s["message"],
        "configmaps \"b\" is forbidden: ValidatingAdmissionPolicy 'small' with binding 'small-b' denied request: failed expression: size(object.data) <= 1"
    );
    assert_eq!(
        s["details"]["causes"][0]["message"],
        s["message"]
            .as_str()
            .unwrap()
            .split("forbidden: ")
            .nth(1)
            .unwrap()
    );
    let (code, s) = json_call(
        &f.state,
        Method::POST,
        CMS,
        Some(cm("c", json!({"forbidden": "1"}))),
    )
    .await;
    assert_eq!(code, 403, "{s}");
    assert_eq!(s["reason"], "Forbidden");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .ends_with("denied request: key forbidden in c"),
        "{s}"
    );
    // Allowed objects still go through; the binding's deletion lifts it.
    ok(&f, CMS, cm("d", json!({"x": "1"}))).await;
    let (code, _) = json_call(&f.state, Method::DELETE, &format!("{VAPB}/small-b"), None).await;
    assert_eq!(code, 200);
    ok(&f, CMS, cm("b", json!({"x": "1", "y": "2"}))).await;
}

#[tokio::test]
async fn warn_and_audit_actions_reach_the_response_and_the_notes() {
    let f = setup().await;
    ok(
        &f,
        VAP,
        policy(
            "labelled",
            json!({
                "validations": [{"expression": "has(object.metadata.labels) && 'team' in object.metadata.labels",
                                 "message": "needs a team label"}],
                "auditAnnotations": [{"key": "size", "valueExpression": "string(size(object.data))"}]
            }),
        ),
    )
    .await;
    ok(
        &f,
        VAPB,
        binding(
            "warn",
            "labelled",
            json!({"validationActions": ["Warn", "Audit"]}),
        ),
    )
    .await;
    let a = send(
        &f.state,
        Method::POST,
        CMS,
        &[("content-type", "application/json")],
        cm("w", json!({"k": "v"})).to_string(),
    )
    .await;
    assert_eq!(a.code, 201);
    assert_eq!(
        a.warnings,
        vec![
            "299 - \"Validation failed for ValidatingAdmissionPolicy 'labelled' with binding 'warn': needs a team label\""
        ]
    );
    // The notes carry the audit annotations the access log line records.
    let ((), notes) = crate::policy::notes::scope(async {
        let (code, _) = json_call(
            &f.state,
            Method::POST,
            CMS,
            Some(cm("w2", json!({"a": "1", "b": "2"}))),
        )
        .await;
        assert_eq!(code, 201);
    })
    .await;
    // json_call runs its own dispatch (own scope): nothing leaks out of it.
    assert!(notes.annotations.is_empty());
    let state = f.state.clone();
    let obj = json!({"metadata": {"name": "w3", "namespace": "default"}, "data": {"a": "1"}});
    let ((), notes) = crate::policy::notes::scope(async move {
        let registry = state.clusters.builtin_registry().clone();
        let def = registry.get("", "v1", "configmaps").unwrap().clone();
        let user = crate::auth::UserInfo::new("alice");
        let ctx = crate::registry::store::WriteCtx {
            cluster: crate::cluster::ROOT,
            def: &def,
            namespace: Some("default"),
            manager: "test",
            dry_run: false,
            validation: crate::request::params::FieldValidation::Strict,
            subresource: None,
            apply: false,
            user: Some(&user),
            registry: Some(&registry),
        };
        state.store.create(&ctx, obj, Vec::new()).await.unwrap();
    })
    .await;
    assert_eq!(notes.annotations["labelled/size"], "1");
    let failures: Value = serde_json::from_str(
        &notes.annotations["validation.policy.admission.k8s.io/validation_failure"],
    )
    .unwrap();
    assert_eq!(
        failures,
        json!([{"message": "needs a team label", "policy": "labelled", "binding": "warn",
                "expressionIndex": 0, "validationActions": ["Warn", "Audit"]}])
    );
}

#[tokio::test]
async fn params_selectors_conditions_and_failure_policy() {
    let f = setup().await;
    // A namespaced param kind: the limit comes from a ConfigMap.
    ok(
        &f,
        VAP,
        policy(
            "limit",
            json!({
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConditions": [{"name": "not-exempt", "expression": "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"}],
                "variables": [{"name": "max", "expression": "int(params.data.max)"}],
                "validations": [{"expression": "size(object.data) <= variables.max",
                                 "messageExpression": "'at most ' + string(variables.max) + ' keys'"}]
            }),
        ),
    )
    .await;
    ok(
        &f,
        VAPB,
        binding(
            "limit-prod",
            "limit",
            json!({
                "paramRef": {"name": "limits", "namespace": "default", "parameterNotFoundAction": "Deny"},
                "matchResources": {"namespaceSelector": {"matchLabels": {"env": "prod"}}}
            }),
        ),
    )
    .await;
    let prod = "/api/v1/namespaces/prod/configmaps";
    // The param is missing: parameterNotFoundAction Deny.
    let (code, s) = json_call(&f.state, Method::POST, prod, Some(cm("p1", json!({})))).await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"].as_str().unwrap().ends_with(
            "denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
        ),
        "{s}"
    );
    // Outside the selected namespace the binding does not apply.
    ok(&f, CMS, cm("limits", json!({"max": "1"}))).await;
    ok(&f, CMS, cm("many", json!({"a": "1", "b": "2"}))).await;
    let (code, s) = json_call(
        &f.state,
        Method::POST,
        prod,
        Some(cm("p2", json!({"a": "1", "b": "2"}))),
    )
    .await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .ends_with("denied request: at most 1 keys"),
        "{s}"
    );
    // A false match condition skips the policy.
    let exempt = json!({"metadata": {"name": "p3", "labels": {"exempt": "yes"}}, "data": {"a": "1", "b": "2"}});
    ok(&f, prod, exempt).await;
    // A runtime error: Fail denies, Ignore lets it through.
    let (code, _) = json_call(
        &f.state,
        Method::PUT,
        &format!("{CMS}/limits"),
        Some(cm("limits", json!({"max": "many"}))),
    )
    .await;
    assert_eq!(code, 200);
    let (code, s) = json_call(&f.state, Method::POST, prod, Some(cm("p4", json!({})))).await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"].as_str().unwrap().contains("resulted in error"),
        "{s}"
    );
    let (code, p) = json_call(&f.state, Method::GET, &format!("{VAP}/limit"), None).await;
    assert_eq!(code, 200);
    let mut p = p;
    p["spec"]["failurePolicy"] = json!("Ignore");
    let (code, _) = json_call(&f.state, Method::PUT, &format!("{VAP}/limit"), Some(p)).await;
    assert_eq!(code, 200);
    ok(&f, prod, cm("p4", json!({}))).await;
}

#[tokio::test]
async fn delete_sees_the_old_object_and_admission_config_is_exempt() {
    let f = setup().await;
    ok(
        &f,
        VAP,
        json!({"metadata": {"name": "keep"}, "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                "operations": ["DELETE"], "resources": ["*"]}]},
            "validations": [{"expression": "request.operation == 'DELETE' && object == null && !has(oldObject.metadata.labels)",
                             "message": "labelled objects are kept"}]
        }}),
    )
    .await;
    let mut b = binding("keep-b", "keep", json!({}));
    b["metadata"]["labels"] = json!({"a": "b"});
    ok(&f, VAPB, b).await;
    ok(
        &f,
        CMS,
        json!({"metadata": {"name": "l", "labels": {"a": "b"}}}),
    )
    .await;
    ok(&f, CMS, cm("u", json!({}))).await;
    let (code, s) = json_call(&f.state, Method::DELETE, &format!("{CMS}/l"), None).await;
    assert_eq!(code, 422, "{s}");
    let (code, _) = json_call(&f.state, Method::DELETE, &format!("{CMS}/u"), None).await;
    assert_eq!(code, 200);
    // The policy matches every DELETE, but not its own binding's.
    let (code, s) = json_call(&f.state, Method::DELETE, &format!("{VAPB}/keep-b"), None).await;
    assert_eq!(code, 200, "{s}");
    let (code, _) = json_call(&f.state, Method::DELETE, &format!("{CMS}/l"), None).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn writes_are_checked_like_kube() {
    let f = setup().await;
    let cases = [
        (
            json!({"metadata": {"name": "p"}, "spec": {"matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}]}}}),
            "spec.validations: Required value: validations or auditAnnotations must contain at least one item",
        ),
        (
            policy(
                "p",
                json!({"validations": [{"expression": "object.spec.replicas"}]}),
            ),
            "spec.validations[0].expression: Invalid value: \"object.spec.replicas\": must evaluate to bool but got dyn",
        ),
        (
            policy(
                "p",
                json!({"validations": [{"expression": "params.x == 1"}]}),
            ),
            "undeclared reference to 'params'",
        ),
        (
            policy(
                "p",
                json!({"validations": [{"expression": "authorizer.group('').resource('pods').check('get').allowed()"}]}),
            ),
            "undeclared reference to 'authorizer'",
        ),
        (
            policy(
                "p",
                json!({"failurePolicy": "Sometimes", "validations": [{"expression": "true"}]}),
            ),
            "spec.failurePolicy: Unsupported value: \"Sometimes\": supported values: \"Fail\", \"Ignore\"",
        ),
        (
            policy(
                "p",
                json!({"validations": [{"expression": &"(".repeat(200)}]}),
            ),
            "compilation failed",
        ),
    ];
    for (body, want) in cases {
        let (code, s) = json_call(&f.state, Method::POST, VAP, Some(body)).await;
        assert_eq!(code, 422, "{s}");
        assert!(
            s["message"].as_str().unwrap().contains(want),
            "want {want}: {s}"
        );
    }
    let bad_bindings = [
        (
            json!({"policyName": "p", "validationActions": ["Deny", "Warn"]}),
            "must not contain both Deny and Warn",
        ),
        (
            json!({"policyName": "p"}),
            "spec.validationActions: Required value: at least one validation action is required",
        ),
        (
            json!({"policyName": "p", "validationActions": ["Deny"], "paramRef": {"parameterNotFoundAction": "Deny"}}),
            "spec.paramRef: Required value: one of name or selector must be specified",
        ),
    ];
    for (spec, want) in bad_bindings {
        let (code, s) = json_call(
            &f.state,
            Method::POST,
            VAPB,
            Some(json!({"metadata": {"name": "b"}, "spec": spec})),
        )
        .await;
        assert_eq!(code, 422, "{s}");
        assert!(
            s["message"].as_str().unwrap().contains(want),
            "want {want}: {s}"
        );
    }
}

#[tokio::test]
async fn a_stored_policy_that_no_longer_compiles_fails_closed() {
    let f = setup().await;
    // Written past validation, as an older server might have stored it.
    let key = trellis_storage::keys::Keyspace::new(super::GROUP, super::POLICIES, None)
        .unwrap()
        .object(crate::cluster::ROOT, "", "old")
        .unwrap();
    let stored = policy(
        "old",
        json!({"failurePolicy": "Fail", "validations": [{"expression": "nonsense("}]}),
    );
    let mut stored = stored;
    stored["spec"]["matchConstraints"]["matchPolicy"] = json!("Equivalent");
    stored["spec"]["matchConstraints"]["namespaceSelector"] = json!({});
    stored["spec"]["matchConstraints"]["objectSelector"] = json!({});
    f.state
        .store
        .storage
        .create(
            key,
            trellis_storage::Value::verbatim(stored.to_string().into_bytes()),
            None,
        )
        .await
        .unwrap();
    ok(&f, VAPB, binding("old-b", "old", json!({}))).await;
    let (code, s) = json_call(&f.state, Method::POST, CMS, Some(cm("x", json!({})))).await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("denied request: failed to configure policy: spec.validations[0].expression"),
        "{s}"
    );
}

#[tokio::test]
async fn many_policies_stop_at_the_request_budget() {
    use trellis_apis::cel::admission::{Activation, Declarations, Inputs, Returns};
    let f = setup().await;
    let rule = "object.data.all(k, object.data.all(j, size(k) + size(j) < 100000))";
    let data: serde_json::Map<String, Value> =
        (0..200).map(|i| (format!("k{i:04}"), json!("v"))).collect();
    let obj = json!({"metadata": {"name": "big"}, "data": data});
    // What one validation costs on this object: each policy (5 of them)
    // stays under kube's per-evaluation budget, so only the request's
    // budget can stop them.
    let cost = {
        let e = Declarations::new(false)
            .compile(rule, Returns::Bool)
            .unwrap();
        let (null, req) = (Value::Null, json!({}));
        let inputs = Inputs {
            object: &obj,
            old_object: &null,
            request: &req,
            namespace_object: &null,
            params: None,
        };
        let mut a = Activation::new(&inputs, &[], &[]);
        assert!(a.eval(&e).is_ok());
        a.spent()
    };
    let per_policy = 5 * cost;
    assert!(per_policy < 10_000_000, "{per_policy}");
    let policies = super::dispatch::REQUEST_BUDGET / per_policy + 2;
    let validations: Vec<Value> = (0..5).map(|_| json!({"expression": rule})).collect();
    for i in 0..policies {
        ok(
            &f,
            VAP,
            policy(&format!("p{i}"), json!({"validations": validations})),
        )
        .await;
        ok(
            &f,
            VAPB,
            binding(&format!("b{i}"), &format!("p{i}"), json!({})),
        )
        .await;
        if i == 0 {
            // One alone admits the object.
            ok(&f, CMS, obj.clone()).await;
            let (code, _) = json_call(&f.state, Method::DELETE, &format!("{CMS}/big"), None).await;
            assert_eq!(code, 200);
        }
    }
    let (code, s) = json_call(&f.state, Method::POST, CMS, Some(obj)).await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains(trellis_apis::cel::admission::OUT_OF_BUDGET),
        "{s}"
    );
}

#[tokio::test]
async fn the_watch_fed_cache_enforces_a_policy_on_the_next_request() {
    let f = setup().await;
    f.state.store.policies.follow().await.unwrap();
    for round in 0..20 {
        let name = format!("p{round}");
        ok(
            &f,
            VAP,
            policy(&name, json!({"validations": [{"expression": format!("object.metadata.name != 'x{round}'")}]})),
        )
        .await;
        ok(&f, VAPB, binding(&format!("b{round}"), &name, json!({}))).await;
        // Read your writes: no wait between the binding and the request.
        let (code, s) = json_call(
            &f.state,
            Method::POST,
            CMS,
            Some(cm(&format!("x{round}"), json!({}))),
        )
        .await;
        assert_eq!(code, 422, "round {round}: {s}");
    }
}

#[tokio::test]
async fn oversized_policies_are_bounded() {
    let f = setup().await;
    // The most variables allowed, each naming the one before, and many
    // validations over the last: accepted, and evaluated within budget.
    let mut variables = vec![json!({"name": "v0", "expression": "1"})];
    for i in 1..super::compiled::MAX_VARIABLES {
        variables.push(
            json!({"name": format!("v{i}"), "expression": format!("variables.v{} + 1", i - 1)}),
        );
    }
    let last = super::compiled::MAX_VARIABLES - 1;
    let validations: Vec<Value> = (0..2000)
        .map(|i| json!({"expression": format!("variables.v{last} > {i}")}))
        .collect();
    ok(
        &f,
        VAP,
        policy(
            "big",
            json!({"variables": variables.clone(), "validations": validations}),
        ),
    )
    .await;
    ok(&f, VAPB, binding("big-b", "big", json!({}))).await;
    // 1000 > every i < 1000, then false from 1000 on.
    let (code, s) = json_call(&f.state, Method::POST, CMS, Some(cm("x", json!({})))).await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .ends_with(&format!("failed expression: variables.v{last} > 1000")),
        "{s}"
    );
    variables.push(json!({"name": "one_more", "expression": "1"}));
    let (code, s) = json_call(
        &f.state,
        Method::POST,
        VAP,
        Some(policy(
            "bigger",
            json!({"variables": variables, "validations": [{"expression": "true"}]}),
        )),
    )
    .await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("spec.variables: Too many: 1001: must have at most 1000 items"),
        "{s}"
    );
}

#[tokio::test]
async fn absent_objects_match_no_selector_and_unknown_param_kinds_fail_closed() {
    let f = setup().await;
    ok(
        &f,
        VAP,
        policy(
            "no-data",
            json!({"validations": [{"expression": "!has(object.data)"}]}),
        ),
    )
    .await;
    // Objects labelled exempt are left alone: on CREATE the old object is
    // absent, which matches no selector (kube), not "no labels".
    ok(
        &f,
        VAPB,
        binding(
            "no-data-b",
            "no-data",
            json!({"matchResources": {"objectSelector": {"matchExpressions": [
                {"key": "exempt", "operator": "DoesNotExist"}]}}}),
        ),
    )
    .await;
    let exempt = json!({"metadata": {"name": "e", "labels": {"exempt": "1"}}, "data": {"a": "1"}});
    ok(&f, CMS, exempt).await;
    let (code, _) = json_call(
        &f.state,
        Method::POST,
        CMS,
        Some(cm("n", json!({"a": "1"}))),
    )
    .await;
    assert_eq!(code, 422);
    // A paramKind nothing serves is the policy's configuration error.
    ok(
        &f,
        VAP,
        policy(
            "ghost",
            json!({"paramKind": {"apiVersion": "example.io/v1", "kind": "Ghost"},
                   "validations": [{"expression": "true"}]}),
        ),
    )
    .await;
    ok(
        &f,
        VAPB,
        binding(
            "ghost-b",
            "ghost",
            json!({"paramRef": {"name": "x", "parameterNotFoundAction": "Allow"}}),
        ),
    )
    .await;
    let exempt = json!({"metadata": {"name": "e2", "labels": {"exempt": "1"}}});
    let (code, s) = json_call(&f.state, Method::POST, CMS, Some(exempt)).await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"].as_str().unwrap().ends_with(
            "ValidatingAdmissionPolicy 'ghost' denied request: failed to configure policy: failed to find resource referenced by paramKind: 'example.io/v1, Kind=Ghost'"
        ),
        "{s}"
    );
}

#[tokio::test]
async fn the_first_denial_met_is_the_answer_whatever_its_kind() {
    let f = setup().await;
    // `a-deny` refuses by validation, `b-ghost` by configuration (an
    // unknown param kind); policies are met by name, so `a-deny` answers.
    ok(
        &f,
        VAP,
        policy(
            "a-deny",
            json!({"validations": [{"expression": "false", "message": "a says no"}]}),
        ),
    )
    .await;
    ok(&f, VAPB, binding("a-b", "a-deny", json!({}))).await;
    ok(
        &f,
        VAP,
        policy(
            "b-ghost",
            json!({"paramKind": {"apiVersion": "example.io/v1", "kind": "Ghost"},
                   "validations": [{"expression": "true"}]}),
        ),
    )
    .await;
    ok(
        &f,
        VAPB,
        binding(
            "b-b",
            "b-ghost",
            json!({"paramRef": {"name": "x", "parameterNotFoundAction": "Deny"}}),
        ),
    )
    .await;
    let (code, s) = json_call(&f.state, Method::POST, CMS, Some(cm("x", json!({})))).await;
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"].as_str().unwrap().ends_with(
            "ValidatingAdmissionPolicy 'a-deny' with binding 'a-b' denied request: a says no"
        ),
        "{s}"
    );
}
