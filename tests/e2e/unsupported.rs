//! What the server does not do yet, it refuses: no request answers success
//! for work nobody will carry out. Foreground and orphaning deletion need a
//! garbage collector; a `Webhook` conversion strategy needs a conversion
//! webhook client. Each is refused with a 422 Status naming the field, and
//! what the server does do (Background deletion, `None` conversion) still
//! works.

use serde_json::{Value, json};

use crate::common::Server;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: default}\n";

fn status(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a Status ({e}): {body}"))
}

fn assert_refused(code: u16, body: &str, field: &str, value: &str) {
    assert_eq!(code, 422, "{body}");
    let s = status(body);
    assert_eq!(s["kind"], "Status", "{body}");
    assert_eq!(s["reason"], "Invalid", "{body}");
    let cause = &s["details"]["causes"][0];
    assert_eq!(cause["field"], field, "{body}");
    assert_eq!(cause["reason"], "FieldValueForbidden", "{body}");
    let msg = s["message"].as_str().unwrap_or_default();
    assert!(msg.contains(value) && msg.contains("Background"), "{body}");
}

#[test]
fn deletion_needing_a_garbage_collector_is_refused() {
    let s = Server::start("unsupported_delete");
    s.kubectl_in(Some(CM), &["apply", "-f", "-"]);
    let path = "/api/v1/namespaces/default/configmaps/keep";

    // What kubectl sends for --cascade=foreground / orphan.
    for cascade in ["foreground", "orphan"] {
        let err = s.kubectl_err(&[
            "delete",
            "configmap",
            "keep",
            &format!("--cascade={cascade}"),
        ]);
        assert!(
            err.contains("dependents are not garbage collected by this server"),
            "{cascade}: {err}"
        );
    }
    // The same in the query, and the deprecated orphanDependents, in the
    // body and in the query.
    for (query, body) in [
        ("?propagationPolicy=Foreground", None),
        ("?propagationPolicy=Orphan", None),
        ("?orphanDependents=true", None),
        (
            "",
            Some(json!({"kind": "DeleteOptions", "apiVersion": "v1", "orphanDependents": true})),
        ),
        (
            "",
            Some(
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}),
            ),
        ),
    ] {
        let body = body.map(|b| b.to_string());
        let (code, out) = s.curl("DELETE", &format!("{path}{query}"), body.as_deref());
        let (field, value) = match (query, &body) {
            (q, _) if q.contains("orphanDependents") => ("orphanDependents", "true"),
            (_, Some(b)) if b.contains("orphanDependents") => ("orphanDependents", "true"),
            (q, _) if q.contains("Orphan") => ("propagationPolicy", "Orphan"),
            _ => ("propagationPolicy", "Foreground"),
        };
        assert_refused(code, &out, field, value);
    }
    // Collections too, and nothing was deleted by any of it.
    let (code, out) = s.curl(
        "DELETE",
        "/api/v1/namespaces/default/configmaps?propagationPolicy=Foreground",
        None,
    );
    assert_refused(code, &out, "propagationPolicy", "Foreground");
    let (code, out) = s.curl("GET", path, None);
    assert_eq!(code, 200, "{out}");

    // Background (kubectl's default) and no policy delete.
    s.kubectl_ok(&["delete", "configmap", "keep", "--cascade=background"]);
    s.kubectl_in(Some(CM), &["apply", "-f", "-"]);
    let (code, out) = s.curl("DELETE", path, None);
    assert_eq!(code, 200, "{out}");
    let (code, out) = s.curl("GET", path, None);
    assert_eq!(code, 404, "{out}");
}

fn crd(strategy: &str) -> String {
    let conversion = if strategy == "Webhook" {
        "  conversion:\n    strategy: Webhook\n    webhook:\n      conversionReviewVersions: [v1]\n      clientConfig:\n        url: https://convert.example.com/convert\n"
    } else {
        "  conversion:\n    strategy: None\n"
    };
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.io
spec:
  group: example.io
  names: {{plural: gadgets, singular: gadget, kind: Gadget}}
  scope: Namespaced
{conversion}  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v2
    served: true
    storage: false
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#
    )
}

#[test]
fn conversion_webhooks_are_refused() {
    let s = Server::start("unsupported_webhook");
    let out = s.kubectl_in(Some(&crd("Webhook")), &["apply", "-f", "-"]);
    assert!(!out.status.success(), "a Webhook CRD was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.conversion.strategy: Forbidden: \"Webhook\": conversion webhooks are not supported by this server yet"),
        "{err}"
    );
    let (code, out) = s.curl(
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.io",
        None,
    );
    assert_eq!(code, 404, "{out}");

    // None is served; switching it to Webhook later is refused too.
    let out = s.kubectl_in(Some(&crd("None")), &["apply", "-f", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.kubectl_in(Some(&crd("Webhook")), &["apply", "-f", "-"]);
    assert!(!out.status.success(), "switching to Webhook was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conversion webhooks are not supported"),
        "{err}"
    );

    // An APIResourceSchema goes through the same checks.
    let schema = r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata: {name: v1.things.example.io}
spec:
  group: example.io
  names: {plural: things, singular: thing, kind: Thing, listKind: ThingList}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig: {url: "https://convert.example.com/convert"}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;
    let out = s.kubectl_in(Some(schema), &["apply", "-f", "-"]);
    assert!(
        !out.status.success(),
        "a Webhook APIResourceSchema was accepted"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.conversion.strategy: Forbidden: \"Webhook\""),
        "{err}"
    );
}
