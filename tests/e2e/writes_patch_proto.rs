//! Writes in the dialects real tools use: strategic merge patch (kubectl
//! apply/edit/patch) and protobuf bodies (client-go typed clients).

use std::time::Duration;

use futures::StreamExt;
use http::{Method, Request};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use trellis_apis::proto;

use crate::common::{Server, send};

const PB: &str = "application/vnd.kubernetes.protobuf";

#[test]
fn kubectl_apply_edit_label_and_strategic_patches() {
    let s = Server::start("smp_kubectl");
    let v1 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\n  labels: {a: '1', b: '2'}\ndata:\n  one: '1'\n  two: '2'\n";
    let f = s.file("app.yaml", v1);
    assert!(
        s.kubectl_ok(&["apply", "-f", f.to_str().unwrap()])
            .contains("configmap/app created")
    );
    // Second apply: a key and a label removed, a key added.
    s.file("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\n  labels: {a: '1'}\ndata:\n  one: '1'\n  three: '3'\n");
    assert!(
        s.kubectl_ok(&["apply", "-f", f.to_str().unwrap()])
            .contains("configmap/app configured")
    );
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "cm",
            "app",
            "-o",
            "jsonpath={.data} {.metadata.labels}"
        ]),
        r#"{"one":"1","three":"3"} {"a":"1"}"#
    );
    // Third apply: a value changed; an imperative change by someone else survives.
    s.kubectl_ok(&["label", "cm", "app", "extra=yes"]);
    s.file("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\n  labels: {a: '1'}\ndata:\n  one: 'uno'\n  three: '3'\n");
    assert!(
        s.kubectl_ok(&["apply", "-f", f.to_str().unwrap()])
            .contains("configmap/app configured")
    );
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "cm",
            "app",
            "-o",
            "jsonpath={.data.one} {.metadata.labels.extra}"
        ]),
        "uno yes"
    );

    // kubectl edit (strategic merge patch built from the edit).
    let editor = s.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/three: \"3\"/three: \"33\"/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(crate::common::kubectl_path())
        .args(["edit", "cm", "app"])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "app", "-o", "jsonpath={.data.three}"]),
        "33"
    );

    s.kubectl_ok(&["label", "cm", "app", "a=9", "--overwrite"]);
    s.kubectl_ok(&["annotate", "cm", "app", "note=x"]);
    s.kubectl_ok(&["annotate", "cm", "app", "note=y", "--overwrite"]);
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "cm",
            "app",
            "-o",
            "jsonpath={.metadata.labels.a} {.metadata.annotations.note}"
        ]),
        "9 y"
    );

    // kubectl patch defaults to strategic: lists with a merge key merge.
    let sa = s.file("sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: default\nsecrets:\n- name: s1\n");
    s.kubectl_ok(&["apply", "-f", sa.to_str().unwrap()]);
    s.kubectl_ok(&[
        "patch",
        "sa",
        "robot",
        "-p",
        r#"{"secrets":[{"name":"s2"}]}"#,
    ]);
    let names = s.kubectl_ok(&["get", "sa", "robot", "-o", "jsonpath={.secrets[*].name}"]);
    assert!(names.contains("s1") && names.contains("s2"), "{names}");
    s.kubectl_ok(&[
        "patch",
        "sa",
        "robot",
        "-p",
        r#"{"secrets":[{"$patch":"delete","name":"s1"}]}"#,
    ]);
    assert_eq!(
        s.kubectl_ok(&["get", "sa", "robot", "-o", "jsonpath={.secrets[*].name}"]),
        "s2"
    );
    // A merge patch replaces the list instead.
    s.kubectl_ok(&[
        "patch",
        "sa",
        "robot",
        "--type=merge",
        "-p",
        r#"{"secrets":[{"name":"s3"}]}"#,
    ]);
    assert_eq!(
        s.kubectl_ok(&["get", "sa", "robot", "-o", "jsonpath={.secrets[*].name}"]),
        "s3"
    );
    // Directives on maps and primitive lists.
    s.kubectl_ok(&[
        "patch",
        "cm",
        "app",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["a.io/x","a.io/y"]}}"#,
    ]);
    s.kubectl_ok(&[
        "patch",
        "cm",
        "app",
        "-p",
        r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a.io/x"]}}"#,
    ]);
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "app", "-o", "jsonpath={.metadata.finalizers}"]),
        r#"["a.io/y"]"#
    );
    s.kubectl_ok(&[
        "patch",
        "cm",
        "app",
        "-p",
        r#"{"data":{"$patch":"replace","only":"1"}}"#,
    ]);
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "app", "-o", "jsonpath={.data}"]),
        r#"{"only":"1"}"#
    );
    s.kubectl_ok(&[
        "patch",
        "cm",
        "app",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
}

#[test]
fn bad_patches_get_kubernetes_codes_and_change_nothing() {
    let s = Server::start("patch_errors");
    s.kubectl_ok(&["apply", "-f", s.file("c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  a: '1'\n").to_str().unwrap()]);
    let path = "/api/v1/namespaces/default/configmaps/c";
    let before = s.curl("GET", path, None).1;
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "application/json-patch+json",
            r#"[{"op":"add","path":"data/x","value":"1"}]"#,
            422,
            "doc is missing path",
        ),
        (
            "application/json-patch+json",
            r#"[{"op":"test","path":"/data/a","value":"2"}]"#,
            422,
            "testing value /data/a failed",
        ),
        (
            "application/json-patch+json",
            r#"{"op":"add"}"#,
            400,
            "expected a sequence",
        ),
        (
            "application/strategic-merge-patch+json",
            r#"{"metadata":{"$deleteFromPrimitiveList":["x"]}}"#,
            400,
            "invalid patch format of primitive list",
        ),
        (
            "application/strategic-merge-patch+json",
            r#"{"data":{"$patch":"frob"}}"#,
            400,
            "unknown patch type: frob",
        ),
        (
            "application/strategic-merge-patch+json",
            r#"{"data":"#,
            400,
            "error decoding patch: EOF while parsing",
        ),
        (
            "application/merge-patch+json",
            r#"[1]"#,
            400,
            "Invalid JSON Patch",
        ),
        (
            "application/apply-patch+yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            422,
            "fieldManager",
        ),
    ];
    for (ct, body, code, needle) in cases {
        let (got, text) = s.curl_as("PATCH", path, ct, Some(body));
        assert_eq!(got, *code, "{ct} {body}: {text}");
        let status: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{ct} {body}: not a Status: {text}"));
        assert_eq!(status["kind"], "Status", "{text}");
        assert_eq!(status["code"], *code, "{text}");
        let reason = if *code == 400 {
            "BadRequest"
        } else {
            "Invalid"
        };
        assert_eq!(status["reason"], reason, "{ct} {body}: {text}");
        // (The message of a patch that cannot be applied is in
        // details.causes, as kube-apiserver puts it.)
        assert!(text.contains(needle), "{ct} {body}: {text}");
        assert_eq!(
            s.curl("GET", path, None).1,
            before,
            "a failed patch must not change the object"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_strategic_patch() {
    let s = Server::start("smp_kube_rs");
    let sas: Api<ServiceAccount> = Api::namespaced(s.client().await, "default");
    sas.patch("bot", &PatchParams::apply("t"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}, "secrets": [{"name": "a"}]}))).await.unwrap();
    let sa = sas
        .patch(
            "bot",
            &PatchParams::default(),
            &Patch::Strategic(json!({"secrets": [{"name": "b"}]})),
        )
        .await
        .unwrap();
    let mut names: Vec<String> = sa
        .secrets
        .unwrap()
        .into_iter()
        .filter_map(|r| r.name)
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn kubectl_imperative_creates_use_protobuf() {
    let s = Server::start("proto_kubectl");
    s.kubectl_ok(&["create", "namespace", "pb"]);
    s.kubectl_ok(&[
        "create",
        "configmap",
        "cm",
        "-n",
        "pb",
        "--from-literal=k=v",
    ]);
    s.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "sec",
        "-n",
        "pb",
        "--from-literal=pw=hunter2",
    ]);
    s.kubectl_ok(&["create", "serviceaccount", "robot", "-n", "pb"]);
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "cm", "-n", "pb", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "secret",
            "sec",
            "-n",
            "pb",
            "-o",
            "jsonpath={.data.pw}"
        ]),
        "aHVudGVyMg=="
    );
    assert_eq!(
        s.kubectl_ok(&["get", "sa", "robot", "-n", "pb", "-o", "name"])
            .trim(),
        "serviceaccount/robot"
    );
    let out = s.kubectl_ok(&["delete", "namespace", "pb"]);
    assert!(out.contains("deleted"));
    // The creates really were protobuf: the access log names the body type.
    let log = std::fs::read_to_string(&s.log).unwrap();
    for resource in ["configmaps", "secrets", "serviceaccounts"] {
        assert!(
            log.lines().any(|l| l.contains("verb=\"create\"")
                && l.contains(&format!("resource=\"{resource}\""))
                && l.contains("content_type=\"application/vnd.kubernetes.protobuf\"")),
            "{resource} create was not protobuf; see {}",
            s.log.display()
        );
    }
}

fn fixtures() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pbns", "labels": {"x": "y"}}}),
        ),
        (
            "/api/v1/namespaces/default/configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pbcm", "annotations": {"a": "b"}}, "data": {"k": "v"}, "binaryData": {"b": "AAEC"}}),
        ),
        (
            "/api/v1/namespaces/default/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pbsec"}, "type": "Opaque", "data": {"pw": "aHVudGVyMg=="}}),
        ),
        (
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "pbsa"}, "secrets": [{"name": "s"}], "automountServiceAccountToken": false}),
        ),
        (
            "/api/v1/namespaces/default/events",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "pbev"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "R", "message": "m", "type": "Normal", "count": 2, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z", "source": {"component": "c"}}),
        ),
        (
            "/apis/events.k8s.io/v1/namespaces/default/events",
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "pbev2"}, "regarding": {"kind": "Pod", "name": "p"}, "note": "n", "reason": "R", "type": "Warning", "action": "A", "reportingController": "ctl", "reportingInstance": "i", "eventTime": "2026-01-01T00:00:00.123456Z"}),
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "pblease"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 1}}),
        ),
        // Admission configuration, in the defaulted form the server keeps
        // (rules inline in JSON, nested messages on the wire); they match
        // nothing this test writes.
        (
            "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "pbvap"},
                "spec": {"failurePolicy": "Fail",
                    "matchConstraints": {"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
                        "resourceRules": [{"apiGroups": ["example.invalid"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["things"], "scope": "*"}]},
                    "validations": [{"expression": "true", "message": "m"}]}}),
        ),
        (
            "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "pbvapb"},
                "spec": {"policyName": "pbvap", "validationActions": ["Deny"]}}),
        ),
        (
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": {"name": "pbmwc"},
                "webhooks": [{"name": "m.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "failurePolicy": "Fail", "matchPolicy": "Equivalent", "timeoutSeconds": 10, "reinvocationPolicy": "Never",
                    "namespaceSelector": {}, "objectSelector": {},
                    "rules": [{"operations": ["CREATE"], "apiGroups": ["example.invalid"], "apiVersions": ["v1"], "resources": ["things"], "scope": "*"}],
                    "clientConfig": {"url": "https://hook.example.com/m", "caBundle": "Zm9v"}}]}),
        ),
        (
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "pbvwc"},
                "webhooks": [{"name": "v.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "failurePolicy": "Ignore", "matchPolicy": "Exact", "timeoutSeconds": 5,
                    "namespaceSelector": {}, "objectSelector": {},
                    "rules": [{"operations": ["CREATE"], "apiGroups": ["example.invalid"], "apiVersions": ["v1"], "resources": ["things"], "scope": "*"}],
                    "clientConfig": {"service": {"namespace": "ns", "name": "svc", "path": "/v", "port": 443}}}]}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_round_trip_for_every_builtin() {
    let s = Server::start("proto_roundtrip");
    let client = s.client().await;
    for (collection, obj) in fixtures() {
        let kind = obj["kind"].as_str().unwrap();
        let name = obj["metadata"]["name"].as_str().unwrap();
        // Create in protobuf, answer in protobuf.
        let (code, ct, body) = send(
            &client,
            Method::POST,
            collection,
            PB,
            &format!("{PB}, application/json"),
            proto::encode(&obj).unwrap(),
        )
        .await;
        assert_eq!(code, 201, "{kind}: {}", String::from_utf8_lossy(&body));
        assert_eq!(ct, PB, "{kind}");
        let created = proto::decode(&body).unwrap();
        // The same object read as JSON equals the protobuf answer.
        let (code, _, json_body) = send(
            &client,
            Method::GET,
            &format!("{collection}/{name}"),
            "application/json",
            "application/json",
            vec![],
        )
        .await;
        assert_eq!(code, 200, "{kind}: {}", String::from_utf8_lossy(&json_body));
        let as_json: Value = serde_json::from_slice(&json_body).unwrap();
        assert_eq!(created, as_json, "{kind}: protobuf and JSON forms differ");
        for (k, v) in obj.as_object().unwrap() {
            if k != "metadata" {
                assert_eq!(
                    &as_json[k], v,
                    "{kind}.{k} survived the protobuf round trip"
                );
            }
        }
        // Update in protobuf.
        let mut upd = as_json.clone();
        upd["metadata"]["labels"] = json!({"updated": "yes"});
        let (code, _, body) = send(
            &client,
            Method::PUT,
            &format!("{collection}/{name}"),
            PB,
            PB,
            proto::encode(&upd).unwrap(),
        )
        .await;
        assert_eq!(code, 200, "{kind}: {}", String::from_utf8_lossy(&body));
        assert_eq!(
            proto::decode(&body).unwrap()["metadata"]["labels"]["updated"],
            "yes"
        );
        // Lists in protobuf.
        let (code, ct, body) = send(
            &client,
            Method::GET,
            collection,
            "application/json",
            PB,
            vec![],
        )
        .await;
        assert_eq!((code, ct.as_str()), (200, PB));
        let list = proto::decode(&body).unwrap();
        assert_eq!(list["kind"], format!("{kind}List"));
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metadata"]["name"] == name)
        );
    }
    // DeleteOptions in protobuf: a uid precondition that does not hold.
    let opts =
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "not-it"}});
    let (code, _, _) = send(
        &client,
        Method::DELETE,
        "/api/v1/namespaces/default/configmaps/pbcm",
        PB,
        PB,
        proto::encode(&opts).unwrap(),
    )
    .await;
    assert_eq!(code, 409);
    // Garbage after the magic prefix is a 400 Status, not a 500.
    let mut junk = proto::MAGIC.to_vec();
    junk.extend_from_slice(&[0x0a, 0xff, 0xff]);
    let (code, ct, body) = send(
        &client,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        PB,
        "application/json",
        junk,
    )
    .await;
    assert_eq!(
        (code, ct.as_str()),
        (400, "application/json"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["reason"], "BadRequest");
    // Patches have no protobuf form.
    let (code, _, body) = send(
        &client,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/pbcm",
        PB,
        "application/json",
        proto::encode(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).unwrap(),
    )
    .await;
    assert_eq!(code, 415, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_watch_stream() {
    let s = Server::start("proto_watch");
    let client = s.client().await;
    let req = Request::get("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0")
        .header("accept", format!("{PB};stream=watch, {PB}"))
        .body(kube::client::Body::from(Vec::new()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let mut body = resp.into_body().into_data_stream();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}, "data": {"a": "1"}});
    // The watch is open (its headers arrived), so this create is an event
    // on it.
    let (code, _, created) = send(
        &client,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        PB,
        PB,
        proto::encode(&cm).unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&created));
    let mut buf = Vec::new();
    let event = loop {
        if let Ok((ty, obj, used)) = proto::decode_watch_frame(&buf) {
            buf.drain(..used);
            break (ty, obj);
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("frame")
            .expect("open")
            .unwrap();
        buf.extend_from_slice(&chunk);
    };
    assert_eq!(event.0, "ADDED");
    assert_eq!(event.1["metadata"]["name"], "watched");
    assert_eq!(event.1["data"]["a"], "1");
}

#[test]
fn yaml_bodies_where_kubernetes_takes_them() {
    let s = Server::start("yaml_bodies");
    let cms = "/api/v1/namespaces/default/configmaps";
    let (code, text) = s.curl_as(
        "POST",
        cms,
        "application/yaml",
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: '1'\n"),
    );
    assert_eq!(code, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    let (code, text) = s.curl_as(
        "PUT",
        &format!("{cms}/y"),
        "application/yaml",
        Some(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  resourceVersion: '{rv}'\ndata:\n  a: '2'\n"
        )),
    );
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "y", "-o", "jsonpath={.data.a}"]),
        "2"
    );
    // A patch has its own media types; plain YAML is not one of them.
    let (code, text) = s.curl_as(
        "PATCH",
        &format!("{cms}/y"),
        "application/yaml",
        Some("data: {a: '3'}\n"),
    );
    assert_eq!(code, 415, "{text}");
    assert!(
        text.contains("application/strategic-merge-patch+json"),
        "{text}"
    );
    // Broken YAML is a 400, not a 500.
    let (code, text) = s.curl_as(
        "POST",
        cms,
        "application/yaml",
        Some("metadata: [unclosed\n"),
    );
    assert_eq!(code, 400, "{text}");
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "y", "-o", "jsonpath={.data.a}"]),
        "2"
    );
}
