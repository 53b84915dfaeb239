//! CustomResourceDefinitions end to end: kubectl applies a definition and
//! its resources, and everything kubectl shows for them (validation errors,
//! defaults, printer columns, explain, scale, categories) behaves as against
//! Kubernetes; kube-rs drives a derived type including its status.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Server, eventually};

/// A definition with most features kubectl users meet: status and scale
/// subresources, printer columns, short names and the `all` category,
/// selectable fields, defaults, enums and CEL rules (one a transition rule).
pub const WIDGETS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.io
spec:
  group: example.io
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Ready
      type: string
      jsonPath: .status.conditions[?(@.type=="Ready")].status
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    selectableFields:
    - jsonPath: .spec.color
    schema:
      openAPIV3Schema:
        type: object
        description: A widget somebody ordered.
        properties:
          spec:
            type: object
            description: What the consumer wants.
            x-kubernetes-validations:
            - rule: "self.minReplicas <= self.replicas"
              message: "replicas must be at least minReplicas"
            - rule: "!has(oldSelf.owner) || self.owner == oldSelf.owner"
              message: "owner is immutable"
            properties:
              replicas: {type: integer, minimum: 0, default: 1, description: How many.}
              minReplicas: {type: integer, default: 0}
              color: {type: string, enum: [red, blue], default: red}
              owner: {type: string}
              size: {type: string, pattern: '^[0-9]+Gi$'}
              tags:
                type: array
                x-kubernetes-list-type: set
                items: {type: string, maxLength: 5}
          status:
            type: object
            properties:
              replicas: {type: integer}
              conditions:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [type]
                items:
                  type: object
                  required: [type, status]
                  properties:
                    type: {type: string}
                    status: {type: string}
"#;

fn establish(s: &Server, manifest: &str, name: &str) {
    let f = s.file(&format!("{name}.yaml"), manifest);
    s.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    s.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/{name}"),
        "--timeout=20s",
    ]);
}

fn apply(s: &Server, yaml: &str) -> std::process::Output {
    s.kubectl_in(Some(yaml), &["apply", "-f", "-"])
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn kubectl_custom_resources_validate_default_and_print() {
    let s = Server::start("crd_kubectl");
    establish(&s, WIDGETS, "widgets.example.io");

    // Discovery knows the resource, its short name and category.
    let resources = s.kubectl_ok(&["api-resources", "--api-group=example.io"]);
    assert!(
        resources.contains("widgets") && resources.contains("wd") && resources.contains("Widget"),
        "{resources}"
    );

    // Defaults show on read.
    let out = apply(
        &s,
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {owner: ann}\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.spec.replicas} {.spec.color} {.metadata.generation}"
        ]),
        "1 red 1"
    );

    // Printer columns, including a filter expression and a date column.
    s.kubectl_ok(&[
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":1,"conditions":[{"type":"Ready","status":"True"}]}}"#,
    ]);
    let table = s.kubectl_ok(&["get", "widgets"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "REPLICAS", "COLOR", "READY", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["w1", "1", "red", "True"]);
    assert!(row[4].ends_with('s'), "age cell {:?}", row[4]);

    // Schema violations: one cause per field, Kubernetes' messages.
    let bad = apply(
        &s,
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: bad, namespace: default}\nspec: {replicas: -1, color: green, size: big, tags: [a, a, toolong]}\n",
    );
    assert!(!bad.status.success());
    let err = stderr(&bad);
    for needle in [
        r#"The Widget "bad" is invalid"#,
        r#"spec.color: Unsupported value: "green": supported values: "red", "blue""#,
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        r#"spec.size: Invalid value: "big": spec.size in body should match '^[0-9]+Gi$'"#,
        r#"spec.tags[1]: Duplicate value: "a""#,
        "spec.tags[2]: Too long: may not be more than 5 bytes",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let (code, body) = s.curl(
        "POST",
        "/apis/example.io/v1/namespaces/default/widgets",
        Some(r#"{"apiVersion":"example.io/v1","kind":"Widget","metadata":{"name":"bad"},"spec":{"replicas":"x"}}"#),
    );
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "Widget");
    assert_eq!(status["details"]["group"], "example.io");
    let causes = status["details"]["causes"].as_array().unwrap();
    assert!(
        causes.iter().any(|c| c["field"] == "spec.replicas"
            && c["reason"] == "FieldValueTypeInvalid"
            && c["message"] == r#"Invalid value: "string": spec.replicas in body must be of type integer: "string""#),
        "{body}"
    );
    // Rules are not evaluated over type errors.
    assert!(
        body.contains("some validation rules were not checked"),
        "{body}"
    );

    // CEL rules: a plain rule and a transition rule.
    let cel = apply(
        &s,
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: cel, namespace: default}\nspec: {replicas: 1, minReplicas: 3}\n",
    );
    assert!(
        stderr(&cel)
            .contains("spec: Invalid value: \"object\": replicas must be at least minReplicas"),
        "{}",
        stderr(&cel)
    );
    let moved = s.kubectl_err(&[
        "patch",
        "wd",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"owner":"bob"}}"#,
    ]);
    assert!(
        moved.contains("spec: Invalid value: \"object\": owner is immutable"),
        "{moved}"
    );
    s.kubectl_ok(&[
        "patch",
        "wd",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}"
        ]),
        "2 2"
    );

    // Unknown fields under each fieldValidation mode.
    let unknown = "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: u, namespace: default}\nspec: {bogus: 1}\n";
    let strict = apply(&s, unknown);
    assert!(
        stderr(&strict).contains(r#"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus""#),
        "{}",
        stderr(&strict)
    );
    let warn = s.kubectl_in(Some(unknown), &["apply", "--validate=warn", "-f", "-"]);
    assert!(warn.status.success(), "{}", stderr(&warn));
    assert!(
        stderr(&warn).contains(r#"unknown field "spec.bogus""#),
        "{}",
        stderr(&warn)
    );
    let ignore = s.kubectl_in(
        Some(&unknown.replace("name: u", "name: u2")),
        &["create", "--validate=false", "-f", "-"],
    );
    assert!(ignore.status.success(), "{}", stderr(&ignore));
    assert!(
        !stderr(&ignore).contains("unknown field"),
        "{}",
        stderr(&ignore)
    );
    assert_eq!(
        s.kubectl_ok(&["get", "wd", "u2", "-o", "jsonpath={.spec}"]),
        r#"{"color":"red","minReplicas":0,"replicas":1}"#
    );

    // Status is a subresource: the main resource ignores it.
    s.kubectl_ok(&[
        "patch",
        "wd",
        "w1",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9}}"#,
    ]);
    assert_eq!(
        s.kubectl_ok(&["get", "wd", "w1", "-o", "jsonpath={.status.replicas}"]),
        "1"
    );

    // kubectl scale through /scale.
    assert!(
        s.kubectl_ok(&["scale", "widget", "w1", "--replicas=4"])
            .contains("scaled")
    );
    assert_eq!(
        s.kubectl_ok(&["get", "wd", "w1", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );
    let scale = s.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/example.io/v1/namespaces/default/widgets/w1/scale",
    ]);
    let scale: Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 4);
    assert_eq!(scale["status"]["replicas"], 1);
    // A negative count is the server's to refuse. (kubectl refuses
    // `--replicas=-1` before sending anything, so patch /scale directly.)
    let (code, body) = s.curl_as(
        "PATCH",
        "/apis/example.io/v1/namespaces/default/widgets/w1/scale",
        "application/merge-patch+json",
        Some(r#"{"spec":{"replicas":-1}}"#),
    );
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status["kind"].as_str(), status["reason"].as_str()),
        (Some("Status"), Some("Invalid")),
        "{body}"
    );
    assert!(
        status["message"].as_str().unwrap().contains(
            "is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        ),
        "{body}"
    );
    assert_eq!(status["details"]["causes"][0]["field"], "spec.replicas");
    assert_eq!(
        s.kubectl_ok(&["get", "wd", "w1", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );

    // Category `all` and field selectors on selectable fields.
    let all = s.kubectl_ok(&["get", "all"]);
    // (One kind only, so kubectl prints bare names.)
    assert!(all.lines().any(|l| l.starts_with("w1 ")), "{all}");
    s.kubectl_ok(&[
        "patch",
        "wd",
        "u2",
        "--type=merge",
        "-p",
        r#"{"spec":{"color":"blue"}}"#,
    ]);
    let blue = s.kubectl_ok(&[
        "get",
        "wd",
        "--field-selector",
        "spec.color=blue",
        "-o",
        "name",
    ]);
    assert_eq!(blue.trim(), "widget.example.io/u2");
    let bad_sel = s.kubectl_err(&["get", "wd", "--field-selector", "spec.owner=ann"]);
    assert!(
        bad_sel.contains("field label not supported: spec.owner"),
        "{bad_sel}"
    );

    // kubectl explain reads the published schema.
    let explain = s.kubectl_ok(&["explain", "widget.spec"]);
    assert!(explain.contains("What the consumer wants."), "{explain}");
    assert!(
        explain.contains("replicas") && explain.contains("How many."),
        "{explain}"
    );
    assert!(explain.contains("enum: red, blue"), "{explain}");
}

#[test]
fn crd_deletion_removes_instances_and_the_api() {
    let s = Server::start("crd_delete");
    establish(&s, WIDGETS, "widgets.example.io");
    for n in ["a", "b", "c"] {
        let o = apply(
            &s,
            &format!(
                "apiVersion: example.io/v1\nkind: Widget\nmetadata: {{name: {n}, namespace: default}}\nspec: {{}}\n"
            ),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // One instance has a finalizer nobody removes yet: the definition waits.
    s.kubectl_ok(&[
        "patch",
        "wd",
        "c",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.io/hold"]}}"#,
    ]);
    s.kubectl_ok(&["delete", "crd", "widgets.example.io", "--wait=false"]);
    let crd = s.kubectl_ok(&["get", "crd", "widgets.example.io", "-o", "json"]);
    let crd: Value = serde_json::from_str(&crd).unwrap();
    assert!(
        crd["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!("customresourcecleanup.apiextensions.k8s.io"))
    );
    assert!(
        crd["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Terminating" && c["status"] == "True"),
        "{crd}"
    );
    // Creates are refused while the definition terminates.
    let (code, body) = s.curl(
        "POST",
        "/apis/example.io/v1/namespaces/default/widgets",
        Some(r#"{"apiVersion":"example.io/v1","kind":"Widget","metadata":{"name":"late"}}"#),
    );
    assert_eq!(code, 405, "{body}");
    assert!(
        body.contains("create not allowed while custom resource definition is terminating"),
        "{body}"
    );
    // The unfinalized instances go; the held one stays, marked.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(eventually(Duration::from_secs(10), || async {
        let names = s.kubectl_ok(&["get", "wd", "-o", "name"]);
        (names.trim() == "widget.example.io/c").then_some(())
    }));
    // Releasing it completes the deletion; the API leaves discovery.
    s.kubectl_ok(&[
        "patch",
        "wd",
        "c",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    rt.block_on(eventually(Duration::from_secs(10), || async {
        let o = s.kubectl(&["get", "crd", "widgets.example.io"]);
        let gone = String::from_utf8_lossy(&o.stderr).contains(
            "customresourcedefinitions.apiextensions.k8s.io \"widgets.example.io\" not found",
        );
        (!o.status.success() && gone).then_some(())
    }));
    rt.block_on(eventually(Duration::from_secs(10), || async {
        let (code, _) = s.curl("GET", "/apis/example.io/v1", None);
        (code == 404).then_some(())
    }));
    let groups = s.kubectl_ok(&["api-resources"]);
    assert!(!groups.contains("example.io"), "{groups}");
    // Recreating starts from nothing.
    establish(&s, WIDGETS, "widgets.example.io");
    assert_eq!(s.kubectl_ok(&["get", "wd", "-A", "-o", "name"]).trim(), "");
}

#[test]
fn custom_resources_refuse_strategic_merge_and_protobuf() {
    let s = Server::start("crd_media_types");
    establish(&s, WIDGETS, "widgets.example.io");
    let o = apply(
        &s,
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: {replicas: 2}\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let path = "/apis/example.io/v1/namespaces/default/widgets/w";

    // kubectl's default patch type is strategic; Kubernetes refuses it for
    // custom resources and names the types it does accept.
    let err = s.kubectl_err(&["patch", "wd", "w", "-p", r#"{"spec":{"replicas":3}}"#]);
    assert!(
        err.contains(
            "application/strategic-merge-patch+json is not supported by example.io/v1, Kind=Widget: \
             the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        ),
        "{err}"
    );
    let (code, body) = s.curl_as(
        "PATCH",
        path,
        "application/strategic-merge-patch+json",
        Some(r#"{"spec":{"replicas":3}}"#),
    );
    assert_eq!(code, 415, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "UnsupportedMediaType", "{body}");
    for accepted in [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ] {
        assert!(
            status["message"].as_str().unwrap().contains(accepted),
            "{body}"
        );
    }
    assert!(
        !status["message"].as_str().unwrap().contains("strategic"),
        "{body}"
    );

    // Protobuf bodies and protobuf-only responses are not offered.
    let (code, body) = s.curl_as(
        "POST",
        "/apis/example.io/v1/namespaces/default/widgets",
        "application/vnd.kubernetes.protobuf",
        Some("k8s-protobuf-envelope"),
    );
    assert_eq!(code, 415, "{body}");
    let (code, body) = s.curl_with(
        "GET",
        path,
        &["Accept: application/vnd.kubernetes.protobuf"],
        None,
    );
    assert_eq!(code, 406, "{body}");
    // client-go's default: protobuf preferred, JSON accepted → JSON.
    let (code, body) = s.curl_with(
        "GET",
        path,
        &["Accept: application/vnd.kubernetes.protobuf, application/json"],
        None,
    );
    assert_eq!(code, 200, "{body}");
    let w: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(w["spec"]["replicas"], 2);

    // The merge patch kubectl falls back to is applied.
    s.kubectl_ok(&[
        "patch",
        "wd",
        "w",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    let w = s.get_json(path);
    assert_eq!(w["spec"]["replicas"], 3);
}

const BAD_BASE: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"things.example.io"},"spec":{"group":"example.io","scope":"Namespaced","names":{"plural":"things","kind":"Thing"},"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object"}}}]}}"#;

#[test]
fn invalid_definitions_are_refused_with_kubernetes_messages() {
    let s = Server::start("crd_invalid");
    let base: Value = serde_json::from_str(BAD_BASE).unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut c = base.clone();
                c["metadata"]["name"] = json!("wrong.example.io");
                c
            },
            r#"metadata.name: Invalid value: "wrong.example.io": must be spec.names.plural+"."+spec.group"#,
        ),
        (
            {
                let mut c = base.clone();
                c["metadata"]["name"] = json!("things.example");
                c["spec"]["group"] = json!("example");
                c
            },
            r#"spec.group: Invalid value: "example": should be a domain with at least one dot"#,
        ),
        (
            {
                let mut c = base.clone();
                let mut v2 = c["spec"]["versions"][0].clone();
                v2["name"] = json!("v2");
                c["spec"]["versions"].as_array_mut().unwrap().push(v2);
                c
            },
            "must have exactly one version marked as storage version",
        ),
        (
            {
                let mut c = base.clone();
                c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}});
                c
            },
            "properties[spec].type: Required value: must not be empty for specified object fields",
        ),
        (
            {
                let mut c = base.clone();
                c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.nope == 1"}]});
                c
            },
            "compilation failed",
        ),
    ];
    for (crd, needle) in cases {
        let (code, body) = s.curl(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            Some(&crd.to_string()),
        );
        assert_eq!(code, 422, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["reason"], "Invalid", "{body}");
        assert!(
            status["message"].as_str().unwrap().contains(needle),
            "missing {needle:?} in {body}"
        );
    }
    // Nothing was stored.
    assert_eq!(s.kubectl_ok(&["get", "crd", "-o", "name"]).trim(), "");

    // Names another definition of the group holds are not accepted.
    let (code, body) = s.curl(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some(BAD_BASE),
    );
    assert_eq!(code, 201, "{body}");
    s.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/things.example.io",
        "--timeout=20s",
    ]);
    let mut clash = base.clone();
    clash["metadata"]["name"] = json!("others.example.io");
    clash["spec"]["names"] = json!({"plural": "others", "kind": "Thing"});
    let (code, body) = s.curl(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some(&clash.to_string()),
    );
    assert_eq!(code, 201, "{body}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cond = rt.block_on(eventually(Duration::from_secs(10), || async {
        let out = s.kubectl_ok(&[
            "get",
            "crd",
            "others.example.io",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="NamesAccepted")]}"#,
        ]);
        (!out.is_empty()).then_some(out)
    }));
    let cond: Value = serde_json::from_str(&cond).unwrap();
    assert_eq!(cond["status"], "False");
    // Kind and list kind both clash; the last check reported wins, as upstream.
    assert_eq!(cond["reason"], "ListKindConflict");
    assert_eq!(cond["message"], r#""ThingList" is already in use"#);
    let (code, _) = s.curl("GET", "/apis/example.io/v1/namespaces/default/others", None);
    assert_eq!(code, 404);
}

#[test]
fn versions_storage_and_openapi_follow_the_definition() {
    let s = Server::start("crd_versions");
    let two = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.io}
spec:
  group: example.io
  scope: Cluster
  names: {plural: gadgets, kind: Gadget}
  versions:
  - name: v1beta1
    served: true
    storage: false
    deprecated: true
    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {size: {type: integer}}}}}}
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {size: {type: integer}}}}}}
"#;
    establish(&s, two, "gadgets.example.io");
    // The preferred version is the most stable one.
    let group = s.get_json("/apis/example.io");
    assert_eq!(group["preferredVersion"]["version"], "v1");
    // Written through the deprecated version (with its warning), read through both.
    let out = apply(
        &s,
        "apiVersion: example.io/v1beta1\nkind: Gadget\nmetadata: {name: g}\nspec: {size: 3}\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("example.io/v1beta1 Gadget is deprecated"),
        "{}",
        stderr(&out)
    );
    let v1 = s.get_json("/apis/example.io/v1/gadgets/g");
    assert_eq!(v1["apiVersion"], "example.io/v1");
    assert_eq!(v1["spec"]["size"], 3);
    let b1 = s.get_json("/apis/example.io/v1beta1/gadgets/g");
    assert_eq!(b1["apiVersion"], "example.io/v1beta1");

    // OpenAPI v3: one document per version, whose hash follows the schema.
    let hash = |s: &Server| -> String {
        let root = s.get_json("/openapi/v3");
        root["paths"]["apis/example.io/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = hash(&s);
    let doc = s.get_json("/openapi/v3/apis/example.io/v1");
    let schema = &doc["components"]["schemas"]["io.example.v1.Gadget"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Gadget"
    );
    assert!(
        schema["properties"]["metadata"]
            .to_string()
            .contains("ObjectMeta")
    );
    // Moving storage to v1beta1 records both stored versions; adding a field changes the document.
    let changed = two
        .replace("    storage: false\n    deprecated: true\n", "    storage: true\n    deprecated: true\n")
        .replace("  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {size: {type: integer}}}}}}",
                 "  - name: v1\n    served: true\n    storage: false\n    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {size: {type: integer}, color: {type: string}}}}}}");
    let f = s.file("gadgets2.yaml", &changed);
    s.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "crd",
            "gadgets.example.io",
            "-o",
            "jsonpath={.status.storedVersions}"
        ]),
        r#"["v1","v1beta1"]"#
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(eventually(Duration::from_secs(10), || async {
        (hash(&s) != before).then_some(())
    }));
    let explain = s.kubectl_ok(&["explain", "gadgets.spec", "--api-version=example.io/v1"]);
    assert!(explain.contains("color"), "{explain}");
}

/// A provider-style type derived with kube-rs.
#[derive(
    kube::CustomResource,
    Clone,
    Debug,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[kube(
    group = "kube.example.io",
    version = "v1",
    kind = "Database",
    namespaced,
    status = "DatabaseStatus",
    shortname = "db",
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#
)]
pub struct DatabaseSpec {
    pub size: i32,
    pub engine: String,
}

#[derive(
    Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct DatabaseStatus {
    pub phase: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_derived_custom_resource() {
    use futures::StreamExt;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::CustomResourceExt;
    use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
    use kube::runtime::wait::{await_condition, conditions};

    let s = Server::start("crd_kube_rs");
    let client = s.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "databases.kube.example.io",
        &PatchParams::apply("provider").force(),
        &Patch::Apply(Database::crd()),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(
            crds.clone(),
            "databases.kube.example.io",
            conditions::is_crd_established(),
        ),
    )
    .await
    .expect("established in time")
    .unwrap();

    let dbs: Api<Database> = Api::namespaced(client.clone(), "default");
    let mut watch = dbs
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let created = dbs
        .create(
            &PostParams::default(),
            &Database::new(
                "orders",
                DatabaseSpec {
                    size: 10,
                    engine: "postgres".into(),
                },
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.spec.size, 10);
    assert!(created.status.is_none());
    match tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WatchEvent::Added(db) => assert_eq!(db.metadata.name.as_deref(), Some("orders")),
        other => panic!("unexpected {other:?}"),
    }

    // The provider writes status through the status subresource (SSA).
    let status = serde_json::json!({
        "apiVersion": "kube.example.io/v1", "kind": "Database",
        "status": {"phase": "Ready"}
    });
    let patched = dbs
        .patch_status(
            "orders",
            &PatchParams::apply("provider-controller"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.status,
        Some(DatabaseStatus {
            phase: "Ready".into()
        })
    );
    assert_eq!(patched.spec.size, 10);
    let owner = |db: &Database, manager: &str| -> bool {
        db.metadata.managed_fields.iter().flatten().any(|m| {
            m.manager.as_deref() == Some(manager)
                && m.subresource.as_deref() == Some("status")
                && m.fields_v1
                    .as_ref()
                    .is_some_and(|f| f.0.to_string().contains("f:phase"))
        })
    };
    assert!(
        owner(&patched, "provider-controller"),
        "{:?}",
        patched.metadata.managed_fields
    );
    let got = dbs.get_status("orders").await.unwrap();
    assert_eq!(got.status.as_ref().unwrap().phase, "Ready");
    // Status on the main resource is ignored; spec changes bump generation.
    let mut edited = got.clone();
    edited.spec.size = 20;
    edited.status = Some(DatabaseStatus {
        phase: "Hacked".into(),
    });
    let replaced = dbs
        .replace("orders", &PostParams::default(), &edited)
        .await
        .unwrap();
    assert_eq!(replaced.spec.size, 20);
    assert_eq!(replaced.status.unwrap().phase, "Ready");
    assert_eq!(replaced.metadata.generation, Some(2));
    // Merge patch of status by another client.
    let merged = dbs
        .patch_status(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"phase": "Degraded"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.status.as_ref().unwrap().phase, "Degraded");
    assert_eq!(merged.metadata.generation, Some(2));
    // The update took the field over from the applier.
    assert!(
        !owner(&merged, "provider-controller"),
        "{:?}",
        merged.metadata.managed_fields
    );

    let list = dbs.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    // The printer columns from the derive show in kubectl.
    let table = s.kubectl_ok(&["get", "db"]);
    assert!(
        table.lines().next().unwrap().contains("SIZE")
            && table.contains("20")
            && table.contains("Degraded"),
        "{table}"
    );
    dbs.delete("orders", &Default::default()).await.unwrap();
    assert!(
        dbs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
