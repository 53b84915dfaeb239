//! OpenAPI as real clients read it: every kubectl from 1.27 to 1.33
//! applies (client-side, validation on), creates, explains built-in and
//! CRD kinds (from v3, and from the protobuf v2 document with
//! `--output=plaintext-openapiv2`) and applies server-side in a workspace
//! with a CRD; and the `/openapi/v2` wire: content negotiation, ETag/304,
//! per-workspace definitions and paths.

use crate::common::{KUBECTL_MINORS, Server, kubectl_version_path};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a thing with gears.
        properties:
          spec:
            type: object
            description: What the widget should do.
            properties:
              gears:
                type: integer
                description: How many gears the widget turns.
              color:
                type: string
                nullable: true
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
              port:
                x-kubernetes-int-or-string: true
                anyOf: [{type: integer}, {type: string}]
          status:
            type: object
            properties:
              turning: {type: boolean}
"#;

const WS: &str = "root:org";

const SAR: &str = "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: nobody\n  resourceAttributes:\n    namespace: default\n    verb: get\n    resource: configmaps\n";

fn base(s: &Server) -> String {
    s.url.split("/clusters/").next().unwrap().to_string()
}

/// A server with workspace `root:org` serving the Widget CRD.
fn setup(name: &str) -> Server {
    let s = Server::start(name);
    let out = s.kubectl_in(
        Some("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: org\n"),
        &["create", "-f", "-"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.kubectl_ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Ready",
        "workspace/org",
        "--timeout=30s",
    ]);
    let server = format!("--server={}/clusters/{WS}", base(&s));
    let out = s.kubectl_in(Some(CRD), &[&server, "apply", "-f", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.kubectl_ok(&[
        &server,
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=30s",
    ]);
    s
}

/// Runs kubectl 1.`minor` in the workspace; (success, stdout, stderr).
fn run(s: &Server, minor: &str, stdin: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let server = format!("--server={}/clusters/{WS}", base(s));
    let mut all = vec![server.as_str()];
    all.extend_from_slice(args);
    let out = s.kubectl_bin(&kubectl_version_path(minor), stdin, &all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(s: &Server, minor: &str, stdin: Option<&str>, args: &[&str]) -> String {
    let (good, out, err) = run(s, minor, stdin, args);
    assert!(good, "kubectl 1.{minor} {args:?} failed: {err}\n{out}");
    out
}

fn configmap(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  a: b\n"
    )
}

fn widget(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  gears: 3\n  port: 80{extra}\n"
    )
}

#[test]
fn every_kubectl_applies_creates_and_explains() {
    let s = setup("openapi_kubectls");
    for minor in KUBECTL_MINORS {
        let v = |n: &str| format!("{n}-1-{minor}");
        // Client-side apply with validation on (the default): kubectl
        // fetches the protobuf v2 document and the field-validation probe.
        let out = ok(
            &s,
            minor,
            Some(&configmap(&v("applied"))),
            &["apply", "-f", "-"],
        );
        assert_eq!(
            out.trim(),
            format!("configmap/{} created", v("applied")),
            "1.{minor}"
        );
        let out = ok(
            &s,
            minor,
            Some(&widget(&v("applied"), "")),
            &["apply", "-f", "-"],
        );
        assert_eq!(
            out.trim(),
            format!("widget.example.com/{} created", v("applied")),
            "1.{minor}"
        );
        // Applying again computes a patch from the last applied state.
        let out = ok(
            &s,
            minor,
            Some(&widget(&v("applied"), "\n  color: red")),
            &["apply", "-f", "-"],
        );
        assert_eq!(
            out.trim(),
            format!("widget.example.com/{} configured", v("applied")),
            "1.{minor}"
        );
        let out = ok(
            &s,
            minor,
            Some(&configmap(&v("created"))),
            &["create", "-f", "-"],
        );
        assert_eq!(
            out.trim(),
            format!("configmap/{} created", v("created")),
            "1.{minor}"
        );
        let out = ok(
            &s,
            minor,
            Some(&widget(&v("created"), "")),
            &["create", "-f", "-"],
        );
        assert_eq!(
            out.trim(),
            format!("widget.example.com/{} created", v("created")),
            "1.{minor}"
        );
        // Validation is on: an unknown field is refused, by the server.
        let (good, _, err) = run(
            &s,
            minor,
            Some(&widget(&v("bogus"), "\n  bogus: 1")),
            &["create", "-f", "-"],
        );
        assert!(!good, "1.{minor}: an unknown field was accepted");
        assert!(
            err.contains(r#"unknown field "spec.bogus""#),
            "1.{minor}: {err}"
        );
        let out = ok(
            &s,
            minor,
            Some(&widget(&v("ssa"), "")),
            &["apply", "--server-side", "-f", "-"],
        );
        assert_eq!(
            out.trim(),
            format!("widget.example.com/{} serverside-applied", v("ssa")),
            "1.{minor}"
        );

        // A create-only kind has no PATCH operation to probe, so kubectl
        // validates it itself against the v2 definitions.
        let out = ok(
            &s,
            minor,
            Some(SAR),
            &["create", "-f", "-", "-o", "jsonpath={.status.allowed}"],
        );
        assert_eq!(out, "false", "1.{minor}");

        // explain, from whichever document this kubectl reads by default.
        let out = ok(&s, minor, None, &["explain", "widgets.spec.gears"]);
        assert!(
            out.contains("How many gears the widget turns."),
            "1.{minor}: {out}"
        );
        let out = ok(&s, minor, None, &["explain", "configmaps.data"]);
        assert!(
            out.contains("Data contains the configuration data."),
            "1.{minor}: {out}"
        );
        // explain from OpenAPI v2 (the protobuf document): its output names
        // the kind's apiVersion as VERSION and has no GROUP line.
        let out = ok(
            &s,
            minor,
            None,
            &[
                "explain",
                "widgets.spec.gears",
                "--output=plaintext-openapiv2",
            ],
        );
        assert!(
            out.contains("How many gears the widget turns."),
            "1.{minor}: {out}"
        );
        assert!(out.contains("VERSION:  example.com/v1"), "1.{minor}: {out}");
        assert!(!out.contains("GROUP:"), "1.{minor}: {out}");
        let out = ok(
            &s,
            minor,
            None,
            &["explain", "widgets", "--output=plaintext-openapiv2"],
        );
        assert!(
            out.contains("A Widget is a thing with gears."),
            "1.{minor}: {out}"
        );
        assert!(out.contains("spec\t<Object>"), "1.{minor}: {out}");
        let out = ok(
            &s,
            minor,
            None,
            &["explain", "namespaces.spec", "--output=plaintext-openapiv2"],
        );
        assert!(out.contains("finalizers\t<[]string>"), "1.{minor}: {out}");
    }
}

/// `/openapi/v2` of a workspace: what kube-openapi's handler does with
/// Accept and If-None-Match, and the workspace's own definitions and paths.
#[test]
fn openapi_v2_wire() {
    let s = setup("openapi_v2_wire");
    let path = format!("/clusters/{WS}/openapi/v2");
    let doc = s.get_json(&path);
    assert_eq!(doc["swagger"], "2.0");
    let widget = &doc["definitions"]["com.example.v1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "example.com", "version": "v1", "kind": "Widget"}])
    );
    assert_eq!(
        widget["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(
        doc["definitions"]["com.example.v1.WidgetList"]["properties"]["items"]["items"]["$ref"],
        "#/definitions/com.example.v1.Widget"
    );
    let item = &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"];
    let patch = &item["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        serde_json::json!({"group": "example.com", "version": "v1", "kind": "Widget"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
        "{patch}"
    );
    let params: Vec<&str> = item["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "path")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["namespace", "name"]);
    assert!(doc["paths"]["/api/v1/namespaces/{namespace}/configmaps"]["post"].is_object());
    assert!(doc["paths"]["/apis/example.com/v1/widgets"]["get"].is_object());
    // The root workspace has no Widgets.
    let root = s.get_json("/clusters/root/openapi/v2");
    assert!(root["definitions"]["com.example.v1.Widget"].is_null());
    assert!(root["paths"]["/api/v1/namespaces/{namespace}/configmaps"].is_object());

    // The protobuf form, under the name client-go asks for.
    let head = curl_head(
        &s,
        &path,
        &["Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf"],
    );
    assert!(
        head.starts_with("HTTP/2 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.contains("content-type: application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        "{head}"
    );
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no ETag: {head}"))
        .trim()
        .to_string();
    assert!(etag.starts_with('"') && etag.len() == 130, "{etag}");
    // JSON and protobuf share the ETag; a match is a 304 without a body.
    let json_head = curl_head(&s, &path, &["Accept: application/json"]);
    assert!(json_head.contains(&format!("etag: {etag}")), "{json_head}");
    assert!(
        json_head.contains("content-type: application/json"),
        "{json_head}"
    );
    let (code, body) = s.curl_with("GET", &path, &[&format!("If-None-Match: {etag}")], None);
    assert_eq!((code, body.as_str()), (304, ""));
    // Anything else is not acceptable.
    let (code, body) = s.curl_with(
        "GET",
        &path,
        &["Accept: application/vnd.kubernetes.protobuf"],
        None,
    );
    assert_eq!(code, 406, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "NotAcceptable", "{body}");
    // kube-apiserver no longer serves the legacy path; neither do we.
    let (code, _) = s.curl("GET", &format!("/clusters/{WS}/swagger-2.0.0.pb-v1"), None);
    assert_eq!(code, 404);
}

/// The response headers of a GET, one `name: value` line each, names
/// lower-cased.
fn curl_head(s: &Server, path: &str, headers: &[&str]) -> String {
    let token = std::fs::read_to_string(s.data_dir.join("pki/admin.token")).unwrap();
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-D", "-", "--cacert"])
        .arg(s.data_dir.join("pki/ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {}", token.trim())]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(format!("{}{path}", base(s))).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| match l.split_once(':') {
            Some((k, v)) => format!("{}:{v}\n", k.to_lowercase()),
            None => format!("{l}\n"),
        })
        .collect()
}
