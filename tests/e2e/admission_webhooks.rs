//! Admission webhooks end to end, with kubectl 1.33 and kube-rs against a
//! test webhook over HTTPS (tests/common/webhook.rs), in our own
//! manifests: a workspace owner's validating and mutating webhooks; every
//! way a call can fail under `failurePolicy` Fail and Ignore; the egress
//! policy refusing destinations a tenant must not reach; and kcp's
//! admission-webhook example rebuilt — the provider registers a webhook
//! once and it judges every consumer's objects of its exported resource.

use std::time::{Duration, Instant};

use crate::common::users::{bind_export, bind_permission, create_workspace, start_with_users};
use crate::common::webhook::Webhook;

const TOKENS: &str = "\
team-token,team,uid-team,system:kcp:workspace-creators
other-token,other,uid-other,system:kcp:workspace-creators
provider-token,provider,uid-provider,system:kcp:workspace-creators
consumer-token,consumer,uid-consumer,\"consumers,system:kcp:workspace-creators\"
";

fn validating(name: &str, hook: &str, url: &str, ca: &str, failure: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {name}
webhooks:
- name: {hook}
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: {failure}
  timeoutSeconds: 2
  objectSelector:
    matchLabels:
      webhook: "on"
  rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["configmaps"]
  clientConfig:
    url: "{url}"
    caBundle: "{ca}"
{extra}"#
    )
}

fn mutating(url: &str, ca: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: labeller
webhooks:
- name: label.configmaps.example.com
  admissionReviewVersions: ["v1"]
  sideEffects: None
  objectSelector:
    matchLabels:
      webhook: "on"
  rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE"]
    resources: ["configmaps"]
  clientConfig:
    url: "{url}/add-label"
    caBundle: "{ca}"
"#
    )
}

fn configmap(name: &str, color: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n    webhook: \"on\"\ndata:\n  color: {color}\n"
    )
}

#[test]
fn a_workspace_owner_validates_and_mutates_with_webhooks() {
    let hook = Webhook::start();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let audit_arg = audit.to_str().unwrap().to_string();
    let s = start_with_users(
        "webhooks_workspace",
        &dir,
        TOKENS,
        &[
            "--audit-log-path",
            &audit_arg,
            "--admission-webhook-allowed-networks",
            "127.0.0.1/32",
        ],
    );
    create_workspace(&s, "team-token", "team");
    create_workspace(&s, "other-token", "other");
    let team = s.as_user(Some("team-token"), "root:team");
    let other = s.as_user(Some("other-token"), "root:other");
    let url = &hook.url;
    let ca = &hook.ca_bundle;

    // kube's validation messages for what cannot work.
    let o = team.create(&validating(
        "plain",
        "deny.colors.example.com",
        &url.replace("https", "http"),
        ca,
        "Fail",
        "",
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("webhooks[0].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]"),
        "{err}"
    );

    team.apply(&validating(
        "colors",
        "deny.colors.example.com",
        &format!("{url}/deny-blue"),
        ca,
        "Fail",
        "",
    ));
    team.apply(&mutating(url, ca));
    let table = team.ok(&["get", "validatingwebhookconfigurations"]);
    assert!(
        table.contains("WEBHOOKS") && table.contains("colors"),
        "{table}"
    );

    // Refused by the webhook, with its message and code (kubectl).
    let o = team.create(&configmap("blue", "blue"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the webhook did not refuse");
    assert!(
        err.contains("admission webhook \"deny.colors.example.com\" denied the request: blue is not allowed here"),
        "{err}"
    );
    assert!(
        err.contains("Warning: checked by the test webhook"),
        "{err}"
    );
    team.err(&["get", "configmap", "blue", "-n", "default"]);

    // Allowed, mutated first: the validating webhook saw the label the
    // mutating one added, and the label is stored.
    let o = team.create(&configmap("green", "green"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let label = team.ok(&[
        "get",
        "configmap",
        "green",
        "-n",
        "default",
        "-o",
        "jsonpath={.metadata.labels.mutated}",
    ]);
    assert_eq!(label.trim(), "yes");
    let reviews = hook.received("/deny-blue");
    let seen = reviews
        .iter()
        .find(|r| r["request"]["name"] == "green")
        .expect("the validating webhook saw the create");
    let req = &seen["request"];
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(req["userInfo"]["username"], "team");
    assert_eq!(req["object"]["metadata"]["labels"]["mutated"], "yes");
    assert!(!req["uid"].as_str().unwrap_or("").is_empty());
    assert_eq!(
        req["resource"],
        serde_json::json!({"group": "", "version": "v1", "resource": "configmaps"})
    );
    let cluster = req["object"]["metadata"]["annotations"]["kcp.io/cluster"]
        .as_str()
        .expect("kcp's cluster annotation")
        .to_string();
    assert!(!cluster.is_empty());
    // The annotation is the review's, not stored.
    let stored = team.ok(&[
        "get",
        "configmap",
        "green",
        "-n",
        "default",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(!stored.contains("kcp.io/cluster"), "{stored}");
    // The audit line names where the calls went and what they said.
    let line = crate::common::eventually_sync(Duration::from_secs(10), || {
        crate::common::audit_lines(&audit).into_iter().find(|l| {
            l["verb"] == "create"
                && l["code"] == 201
                && l["annotations"]["deny.colors.example.com/verdict"] == "fine"
        })
    });
    let dest = line["annotations"]
        ["destination.webhook.admission.trellis.dev/colors.deny.colors.example.com"]
        .as_str()
        .unwrap_or("");
    assert!(
        dest.starts_with(&format!("{url}/deny-blue (127.0.0.1:")),
        "{line}"
    );
    assert!(
        line["annotations"]["mutation.webhook.admission.k8s.io/round_0_index_0"]
            .as_str()
            .is_some_and(|v| v.contains("\"mutated\":true")),
        "{line}"
    );

    // An update the webhook refuses (kube-rs: the Status reaches it whole).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use k8s_openapi::api::core::v1::ConfigMap;
        let client = s.client_in("root:team", Some("team-token")).await;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
        let patch = serde_json::json!({"data": {"color": "blue"}});
        let err = api
            .patch(
                "green",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
            .expect_err("the webhook refuses blue");
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 403, "{s:?}");
                assert!(s.message.contains("blue is not allowed here"), "{s:?}");
            }
            other => panic!("{other}"),
        }
    });

    // Another workspace is not governed by this one's webhooks.
    let o = other.create(&configmap("blue", "blue"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        other
            .ok(&[
                "get",
                "configmap",
                "blue",
                "-n",
                "default",
                "-o",
                "jsonpath={.metadata.labels.mutated}",
            ])
            .trim(),
        ""
    );

    // Every broken webhook: Fail refuses with kube's 500, Ignore goes on.
    let closed = crate::common::free_port();
    let broken = [
        (
            format!("https://127.0.0.1:{closed}/"),
            "failed to call webhook: Post",
        ),
        (format!("{url}/slow"), "context deadline exceeded"),
        (
            format!("{url}/garbage"),
            "received invalid webhook response: decoding the response",
        ),
        (
            format!("{url}/wrong-uid"),
            "received invalid webhook response: expected response.uid=",
        ),
        (
            format!("{url}/redirect"),
            "answered with a redirect (307 Temporary Redirect), which is not followed",
        ),
        (
            "https://169.254.169.254/latest/meta-data".to_string(),
            "is not allowed by the server's webhook egress policy",
        ),
        (
            format!("https://127.0.0.2:{}/", hook.addr.port()),
            "is not allowed by the server's webhook egress policy",
        ),
        (
            format!("https://127.0.0.1:{}/", s.port),
            "a webhook may not call the server itself",
        ),
    ];
    for (i, (target, want)) in broken.iter().enumerate() {
        team.apply(&validating(
            "broken",
            "broken.example.com",
            target,
            ca,
            "Fail",
            "",
        ));
        let started = Instant::now();
        let o = team.create(&configmap(&format!("closed-{i}"), "green"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{target}: created");
        assert!(
            err.contains("Internal error occurred: failed calling webhook \"broken.example.com\"")
                && err.contains(want),
            "{target}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{target}: the call was not bounded"
        );
        team.apply(&validating(
            "broken",
            "broken.example.com",
            target,
            ca,
            "Ignore",
            "",
        ));
        let o = team.create(&configmap(&format!("open-{i}"), "green"));
        assert!(
            o.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    team.ok(&["delete", "validatingwebhookconfiguration", "broken"]);

    // A mutating webhook whose patch does not apply: its failurePolicy
    // (Fail by default) decides.
    team.apply(
        &mutating(url, ca)
            .replace("name: labeller", "name: patcher")
            .replace("label.configmaps", "patch.configmaps")
            .replace("/add-label", "/bad-patch"),
    );
    let o = team.create(&configmap("patched", "green"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "failed calling webhook \"patch.configmaps.example.com\": the patch does not apply"
        ),
        "{err}"
    );
    // A patch that replaces the whole object is refused, and the server
    // goes on serving.
    team.apply(
        &mutating(url, ca)
            .replace("name: labeller", "name: patcher")
            .replace("label.configmaps", "patch.configmaps")
            .replace("/add-label", "/replace-root"),
    );
    let o = team.create(&configmap("rooted", "green"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("the patched object is not an object with object metadata"),
        "{err}"
    );
    team.ok(&["delete", "mutatingwebhookconfiguration", "patcher"]);

    // Mutation on update: the label removed by hand comes back.
    team.apply(&mutating(url, ca).replace(
        "operations: [\"CREATE\"]",
        "operations: [\"CREATE\", \"UPDATE\"]",
    ));
    team.ok(&["label", "configmap", "green", "-n", "default", "mutated-"]);
    let label = team.ok(&[
        "get",
        "configmap",
        "green",
        "-n",
        "default",
        "-o",
        "jsonpath={.metadata.labels.mutated}",
    ]);
    assert_eq!(label.trim(), "yes", "the update was not mutated");

    // Match conditions: a webhook that only judges some objects.
    team.apply(&validating(
        "colors",
        "deny.colors.example.com",
        &format!("{url}/deny-blue"),
        ca,
        "Fail",
        "  matchConditions:\n  - name: not-exempt\n    expression: \"!has(object.metadata.annotations) || !('exempt' in object.metadata.annotations)\"\n",
    ));
    let o = team.create(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: exempt\n  namespace: default\n  labels: {webhook: \"on\"}\n  annotations: {exempt: \"yes\"}\ndata:\n  color: blue\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = team.create(&configmap("blue-again", "blue"));
    assert!(!o.status.success(), "the match condition let it through");
}

const SCHEMA: &str = r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: v1alpha1.cowboys.wildwest.dev
spec:
  group: wildwest.dev
  names: {plural: cowboys, singular: cowboy, kind: Cowboy, listKind: CowboyList}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      type: object
      properties:
        spec:
          type: object
          properties:
            intent: {type: string}
        status:
          type: object
          properties:
            phase: {type: string}
    subresources:
      status: {}
"#;

const EXPORT: &str = r#"apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: cowboys
spec:
  resources:
  - name: cowboys
    group: wildwest.dev
    schema: v1alpha1.cowboys.wildwest.dev
    storage:
      crd: {}
"#;

fn cowboy(name: &str, intent: &str) -> String {
    format!(
        "apiVersion: wildwest.dev/v1alpha1\nkind: Cowboy\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  intent: {intent}\n"
    )
}

#[test]
fn a_providers_webhook_judges_every_consumers_objects() {
    let hook = Webhook::start();
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users(
        "webhooks_provider",
        &dir,
        TOKENS,
        &["--admission-webhook-allowed-networks", "127.0.0.1"],
    );
    create_workspace(&s, "provider-token", "provider");
    create_workspace(&s, "consumer-token", "consumer");
    let provider = s.as_user(Some("provider-token"), "root:provider");
    let consumer = s.as_user(Some("consumer-token"), "root:consumer");
    provider.apply(SCHEMA);
    provider.apply(EXPORT);
    provider.apply(&bind_permission("cowboys"));
    // Registered once, in the provider's workspace (kcp's example).
    provider.apply(&format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: cowboy-intent-validator
webhooks:
- name: validate.cowboys.wildwest.dev
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  rules:
  - apiGroups: ["wildwest.dev"]
    apiVersions: ["v1alpha1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["cowboys"]
    scope: "*"
  clientConfig:
    url: "{}/deny-blue"
    caBundle: "{}"
"#,
        hook.url, hook.ca_bundle
    ));
    bind_export(&consumer, "root:provider", "cowboys", "cowboys");
    let o = consumer.create(&cowboy("bad-intent", "bad"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the provider's webhook did not apply");
    assert!(
        err.contains("admission webhook \"validate.cowboys.wildwest.dev\" denied the request: blue is not allowed here"),
        "{err}"
    );
    let o = consumer.create(&cowboy("good-intent", "good"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A mutating webhook cannot forge status on create: status is the
    // provider controller's, written through /status.
    provider.apply(&format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: cowboy-status-forger
webhooks:
- name: forge.cowboys.wildwest.dev
  admissionReviewVersions: ["v1"]
  sideEffects: None
  rules:
  - apiGroups: ["wildwest.dev"]
    apiVersions: ["v1alpha1"]
    operations: ["CREATE"]
    resources: ["cowboys"]
  clientConfig:
    url: "{}/add-status"
    caBundle: "{}"
"#,
        hook.url, hook.ca_bundle
    ));
    let o = consumer.create(&cowboy("no-forged-status", "good"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !hook.received("/add-status").is_empty(),
        "the mutating webhook was not called"
    );
    let status = consumer.ok(&[
        "get",
        "cowboy",
        "no-forged-status",
        "-n",
        "default",
        "-o",
        "jsonpath={.status}",
    ]);
    assert!(status.trim().is_empty(), "status was forged: {status}");
    provider.ok(&[
        "delete",
        "mutatingwebhookconfiguration",
        "cowboy-status-forger",
    ]);
    // The webhook learns the consumer's workspace from kcp's annotation.
    let consumer_cluster = s.as_user(None, "root").ok(&[
        "get",
        "workspace",
        "consumer",
        "-o",
        "jsonpath={.spec.cluster}",
    ]);
    let reviews = hook.received("/deny-blue");
    let good = reviews
        .iter()
        .find(|r| r["request"]["name"] == "good-intent")
        .expect("the webhook saw the consumer's create");
    assert_eq!(
        good["request"]["object"]["metadata"]["annotations"]["kcp.io/cluster"],
        consumer_cluster.trim()
    );
    assert_eq!(good["request"]["userInfo"]["username"], "consumer");
    // The consumer can neither see nor remove the provider's webhook.
    let list = consumer.ok(&["get", "validatingwebhookconfigurations", "-o", "name"]);
    assert!(list.trim().is_empty(), "{list}");
    consumer.err(&[
        "delete",
        "validatingwebhookconfiguration",
        "cowboy-intent-validator",
    ]);
    let o = consumer.create(&cowboy("bad-again", "bad"));
    assert!(!o.status.success());
    // Removed by the provider, it judges no more.
    provider.ok(&[
        "delete",
        "validatingwebhookconfiguration",
        "cowboy-intent-validator",
    ]);
    let o = consumer.create(&cowboy("bad-at-last", "bad"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
