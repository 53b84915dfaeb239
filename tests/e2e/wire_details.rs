//! Small wire details where kube's answer is the contract: base64 that Go
//! decodes, events.k8s.io's own field labels, the token an expired
//! continue offers, and the order of a built-in object's keys.

use serde_json::{Value, json};

use crate::common::Server;

/// 300 bytes of base64, wrapped at 76 columns as `base64` (no `-w0`)
/// prints it, the way the Kubernetes docs' TLS Secret example shows.
fn wrapped_base64(seed: u8) -> (String, String) {
    use base64::Engine;
    let raw: Vec<u8> = (0..300u32)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect();
    let flat = base64::engine::general_purpose::STANDARD.encode(&raw);
    let wrapped = flat
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    (flat, wrapped)
}

#[test]
fn a_tls_secret_with_wrapped_base64_is_created() {
    let s = Server::start("wire_tls_secret");
    let (crt, crt_wrapped) = wrapped_base64(1);
    let (key, key_wrapped) = wrapped_base64(2);
    let indent = |t: &str| t.replace('\n', "\n    ");
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls-demo\n  namespace: default\ntype: kubernetes.io/tls\ndata:\n  tls.crt: |\n    {}\n  tls.key: |\n    {}\n",
        indent(&crt_wrapped),
        indent(&key_wrapped)
    );
    assert!(
        manifest.matches('\n').count() > 12,
        "the values really are wrapped"
    );
    let path = s.file("tls.yaml", &manifest);
    let out = s.kubectl_ok(&["create", "-f", path.to_str().unwrap()]);
    assert!(out.contains("secret/tls-demo created"), "{out}");
    let got: Value = serde_json::from_str(
        &s.kubectl_ok(&["get", "secret", "tls-demo", "-n", "default", "-o", "json"]),
    )
    .unwrap();
    assert_eq!(got["data"]["tls.crt"], crt.as_str());
    assert_eq!(got["data"]["tls.key"], key.as_str());
    // Not base64 at all is still a 400.
    let (code, body) = s.curl(
        "POST",
        "/api/v1/namespaces/default/secrets",
        Some(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}, "data": {"a": "not base64!"}}).to_string()),
    );
    assert_eq!(code, 400, "{body}");
}

#[test]
fn events_v1_selects_by_its_own_field_labels() {
    let s = Server::start("wire_events_v1");
    for (name, regarding, controller) in [("e1", "web", "ctl-a"), ("e2", "db", "ctl-b")] {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "default"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": controller, "reportingInstance": "i1",
            "action": "Sync", "reason": "Synced", "type": "Normal",
            "regarding": {"kind": "Pod", "name": regarding, "namespace": "default"},
        });
        let (code, body) = s.curl(
            "POST",
            "/apis/events.k8s.io/v1/namespaces/default/events",
            Some(&ev.to_string()),
        );
        assert_eq!(code, 201, "{body}");
    }
    let names = |selector: &str| -> Vec<String> {
        let out = s.kubectl_ok(&[
            "get",
            "events.v1.events.k8s.io",
            "-n",
            "default",
            "--field-selector",
            selector,
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        out.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(names("regarding.name=web"), ["e1"]);
    assert_eq!(names("reportingController=ctl-b"), ["e2"]);
    assert_eq!(names("regarding.kind=Pod,type=Normal"), ["e1", "e2"]);
    // The core spellings are the core API's, not events.k8s.io's.
    let (code, body) = s.curl(
        "GET",
        "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb",
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("field label not supported: involvedObject.name"),
        "{body}"
    );
    // And the core API still selects by them.
    let (code, body) = s.curl(
        "GET",
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Ddb",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["items"][0]["metadata"]["name"], "e2", "{body}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[test]
fn an_expired_continue_offers_a_token_at_the_latest_revision() {
    let s = Server::start_with("wire_continue", &["--watch-history-events", "30"]);
    const CMS: &str = "/api/v1/namespaces/default/configmaps";
    let create = |name: &str| {
        let (code, body) = s.curl(
            "POST",
            CMS,
            Some(
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
                    .to_string(),
            ),
        );
        assert_eq!(code, 201, "{body}");
    };
    for i in 0..6 {
        create(&format!("a{i}"));
    }
    let (code, body) = s.curl("GET", &format!("{CMS}?limit=3"), None);
    assert_eq!(code, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    // Enough writes that the page's revision leaves the retained history.
    for i in 0..40 {
        create(&format!("b{i:02}"));
    }
    let (code, body) = s.curl("GET", &format!("{CMS}?limit=100&continue={token}"), None);
    assert_eq!(code, 410, "{body}");
    let gone: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(gone["reason"], "Expired");
    assert!(
        gone["message"]
            .as_str()
            .unwrap()
            .contains("use the continue token in this response"),
        "{body}"
    );
    let fresh = gone["metadata"]["continue"]
        .as_str()
        .unwrap_or_else(|| panic!("no continue token in the 410: {body}"));
    // It goes on after the first page's last item, at the latest revision:
    // the rest of the a's and every b written since.
    let (code, body) = s.curl("GET", &format!("{CMS}?limit=100&continue={fresh}"), None);
    assert_eq!(code, 200, "{body}");
    let rest: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    let first_page_last = page["items"][2]["metadata"]["name"].as_str().unwrap();
    assert!(names.iter().all(|n| *n > first_page_last), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.starts_with('b')).count(),
        40,
        "{names:?}"
    );
    assert!(names.contains(&"a5"), "{names:?}");
    let latest: u64 = rest["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let old: u64 = page["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(latest > old);
}

/// kube-apiserver writes a built-in object in its Go struct's field order
/// (`kind`, `apiVersion`, `metadata`, …, nested structs likewise) and a
/// custom resource or kcp object — an unstructured map — with sorted keys.
/// Clients that compare bytes, or people reading `curl` output, see the
/// same text from Trellis.
#[test]
fn built_in_objects_are_written_in_kubes_key_order() {
    let s = Server::start("wire_key_order");
    // Keys sent in an order of their own: the answer is kube's, not ours.
    let role = r#"{"rules":[{"resources":["configmaps"],"verbs":["get"],"apiGroups":[""]}],
                   "metadata":{"namespace":"default","name":"reader","labels":{"b":"1","a":"2"}},
                   "apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role"}"#;
    let (code, created) = s.curl(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
        Some(role),
    );
    assert_eq!(code, 201, "{created}");
    let head = r#"{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"reader","namespace":"default","uid":""#;
    let rules = r#"},"rules":[{"verbs":["get"],"apiGroups":[""],"resources":["configmaps"]}]}"#;
    for (what, body) in [
        ("create", created),
        (
            "get",
            s.curl(
                "GET",
                "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/reader",
                None,
            )
            .1,
        ),
    ] {
        assert!(body.starts_with(head), "{what}: {body}");
        assert!(body.ends_with(rules), "{what}: {body}");
        // metadata in ObjectMeta's order, map keys sorted.
        let order = [
            "\"uid\":",
            "\"resourceVersion\":",
            "\"creationTimestamp\":",
            "\"labels\":{\"a\":\"2\",\"b\":\"1\"}",
            "\"managedFields\":",
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|k| {
                body.find(k)
                    .unwrap_or_else(|| panic!("{what}: {k} in {body}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{what}: {body}");
    }

    // A list: its items in the same order.
    let (code, list) = s.curl(
        "GET",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
        None,
    );
    assert_eq!(code, 200, "{list}");
    assert!(
        list.starts_with(r#"{"kind":"RoleList","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"resourceVersion":""#),
        "{list}"
    );
    // Items of a built-in list have no kind/apiVersion (kube encodes the
    // Go list type; a custom resource list keeps them).
    assert!(
        list.contains(r#""items":[{"metadata":{"name":"reader","namespace":"default","uid":"#)
            && list.ends_with(&format!("{rules}]}}")),
        "{list}"
    );

    // A Status, as every kube error reads.
    let (code, missing) = s.curl("GET", "/api/v1/namespaces/default/configmaps/nope", None);
    assert_eq!(code, 404, "{missing}");
    assert_eq!(
        missing,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"configmaps"},"code":404}"#
    );

    // Watch events carry the stored bytes: the same order.
    let cm = r#"{"data":{"k":"v"},"metadata":{"name":"c1"},"kind":"ConfigMap","apiVersion":"v1"}"#;
    let (code, body) = s.curl("POST", "/api/v1/namespaces/default/configmaps", Some(cm));
    assert_eq!(code, 201, "{body}");
    let (code, events) = s.curl(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dc1",
        None,
    );
    assert_eq!(code, 200, "{events}");
    assert!(
        events.starts_with(r#"{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c1","namespace":"default","uid":"#),
        "{events}"
    );
    assert!(
        events.contains(r#"]},"data":{"k":"v"}}}"#),
        "data follows metadata: {events}"
    );

    // kcp's objects are custom resources in kcp: sorted keys, as there.
    let (code, ws) = s.curl(
        "POST",
        "/apis/tenancy.kcp.io/v1alpha1/workspaces",
        Some(r#"{"kind":"Workspace","apiVersion":"tenancy.kcp.io/v1alpha1","metadata":{"name":"sorted"}}"#),
    );
    assert_eq!(code, 201, "{ws}");
    assert!(
        ws.starts_with(
            r#"{"apiVersion":"tenancy.kcp.io/v1alpha1","kind":"Workspace","metadata":{"#
        ),
        "{ws}"
    );
    let (code, list) = s.curl("GET", "/apis/tenancy.kcp.io/v1alpha1/workspaces", None);
    assert_eq!(code, 200, "{list}");
    assert!(
        list.contains(
            r#""items":[{"apiVersion":"tenancy.kcp.io/v1alpha1","kind":"Workspace","metadata":{"#
        ),
        "the items of a custom resource list keep their type: {list}"
    );
}
