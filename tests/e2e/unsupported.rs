//! What the server does not do yet, it refuses: no request answers success
//! for work nobody will carry out. A `Webhook` conversion strategy needs a
//! conversion webhook client: it is refused with a 422 Status naming the
//! field, and what the server does do (`None` conversion) still works.

use crate::common::Server;

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
