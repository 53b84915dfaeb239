//! kcp's API-sharing types (`apis.kcp.io`) with kubectl: provider
//! manifests written for kcp apply unchanged, APIExports read and write in
//! both `v1alpha1` and `v1alpha2`, APIResourceSchemas are named and
//! validated like kcp's and cannot change, and discovery and `kubectl
//! explain` know all four types. Only the types are served here; nothing
//! binds yet.

use serde_json::{Value, json};

use crate::common::Server;

/// A provider's schema as `kubectl kcp crd snapshot` would write it.
const SCHEMA: &str = r#"
apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: v1.widgets.example.io
spec:
  group: example.io
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
    shortNames: [wd]
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      type: object
      properties:
        spec:
          type: object
          properties:
            color:
              type: string
              enum: [red, blue]
        status:
          type: object
          properties:
            ready: {type: boolean}
"#;

const EXPORT_V2: &str = r#"
apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: widgets
spec:
  resources:
  - name: widgets
    group: example.io
    schema: v1.widgets.example.io
    storage:
      crd: {}
  permissionClaims:
  - group: ""
    resource: configmaps
    verbs: ["get", "list", "watch"]
"#;

const EXPORT_V1: &str = r#"
apiVersion: apis.kcp.io/v1alpha1
kind: APIExport
metadata:
  name: legacy
spec:
  latestResourceSchemas:
  - v1.widgets.example.io
  - today.gadgets.example.io
  permissionClaims:
  - group: ""
    resource: secrets
    all: true
"#;

fn json_of(s: &Server, args: &[&str]) -> Value {
    serde_json::from_str(&s.kubectl_ok(args)).expect("json")
}

#[test]
fn sharing_types_with_kubectl() {
    let s = Server::start("sharing_types");

    // Discovery lists the four kinds, the export in its preferred version.
    let resources = s.kubectl_ok(&["api-resources", "--api-group=apis.kcp.io", "-o", "wide"]);
    for (name, version) in [
        ("apibindings", "apis.kcp.io/v1alpha2"),
        ("apiexportendpointslices", "apis.kcp.io/v1alpha1"),
        ("apiexports", "apis.kcp.io/v1alpha2"),
        ("apiresourceschemas", "apis.kcp.io/v1alpha1"),
    ] {
        assert!(
            resources
                .lines()
                .any(|l| l.starts_with(name) && l.contains(version) && l.contains("false")),
            "{name} {version}:\n{resources}"
        );
    }

    // A provider's manifests apply unchanged.
    let out = s.kubectl_in(Some(SCHEMA), &["apply", "-f", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.kubectl_in(Some(EXPORT_V2), &["apply", "-f", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schemas = s.kubectl_ok(&["get", "apiresourceschemas"]);
    assert!(schemas.contains("v1.widgets.example.io"), "{schemas}");

    // The v1alpha2 export reads as v1alpha1.
    let v1 = s.kubectl_ok(&[
        "get",
        "apiexports.v1alpha1.apis.kcp.io",
        "widgets",
        "-o",
        "yaml",
    ]);
    assert!(v1.contains("apiVersion: apis.kcp.io/v1alpha1"), "{v1}");
    assert!(
        v1.contains("latestResourceSchemas:\n  - v1.widgets.example.io"),
        "{v1}"
    );
    assert!(
        v1.contains("apis.v1alpha2.kcp.io/permission-claims"),
        "{v1}"
    );
    // kubectl's default is the preferred version.
    let v2 = json_of(&s, &["get", "apiexports", "widgets", "-o", "json"]);
    assert_eq!(v2["apiVersion"], "apis.kcp.io/v1alpha2");
    assert_eq!(
        v2["spec"]["permissionClaims"][0]["verbs"],
        json!(["get", "list", "watch"])
    );

    // A v1alpha1 export reads as v1alpha2.
    let out = s.kubectl_in(Some(EXPORT_V1), &["apply", "-f", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let legacy = json_of(
        &s,
        &[
            "get",
            "apiexports.v1alpha2.apis.kcp.io",
            "legacy",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        legacy["spec"]["resources"],
        json!([
            {"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}},
            {"name": "gadgets", "group": "example.io", "schema": "today.gadgets.example.io", "storage": {"crd": {}}},
        ])
    );
    assert_eq!(
        legacy["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "secrets", "identityHash": "", "verbs": ["*"]}])
    );
    // ... and still reads back as written.
    let back = json_of(
        &s,
        &[
            "get",
            "apiexports.v1alpha1.apis.kcp.io",
            "legacy",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        back["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "secrets", "all": true}])
    );
    // Re-applying the v1alpha1 manifest is a no-op.
    let again = s.kubectl_in(Some(EXPORT_V1), &["apply", "-f", "-"]);
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(again_out.contains("unchanged"), "{again_out}");
    // Editing through v1alpha1 keeps what only v1alpha2 says.
    s.kubectl_ok(&[
        "patch",
        "apiexports.v1alpha1.apis.kcp.io",
        "widgets",
        "--type=merge",
        "-p",
        r#"{"spec":{"latestResourceSchemas":["v1.widgets.example.io","v1.gadgets.example.io"]}}"#,
    ]);
    let v2 = json_of(&s, &["get", "apiexports", "widgets", "-o", "json"]);
    assert_eq!(
        v2["spec"]["resources"][1]["schema"],
        "v1.gadgets.example.io"
    );
    // Two schemas of one resource are refused (resources are keyed by
    // name and group), whichever version says it.
    let err = s.kubectl_err(&[
        "patch",
        "apiexports.v1alpha1.apis.kcp.io",
        "widgets",
        "--type=merge",
        "-p",
        r#"{"spec":{"latestResourceSchemas":["v1.widgets.example.io","v2.widgets.example.io"]}}"#,
    ]);
    assert!(err.contains("spec.resources[1]: Duplicate value"), "{err}");
    assert_eq!(
        v2["spec"]["permissionClaims"][0]["verbs"],
        json!(["get", "list", "watch"])
    );
    // Tables use each version's columns.
    let table = s.kubectl_ok(&["get", "apiexports.v1alpha1.apis.kcp.io"]);
    assert!(table.lines().next().unwrap().contains("READY"), "{table}");

    // Schemas are immutable ...
    let changed = SCHEMA.replace("enum: [red, blue]", "enum: [red, green]");
    let out = s.kubectl_in(Some(&changed), &["apply", "-f", "-"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("APIResourceSchema is immutable"), "{err}");
    // ... and named <prefix>.<plural>.<group>.
    let misnamed = SCHEMA.replace("name: v1.widgets.example.io", "name: widgets.example.io");
    let out = s.kubectl_in(Some(&misnamed), &["create", "-f", "-"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is invalid")
            && err.contains("metadata.name")
            && err.contains("must end in .widgets.example.io"),
        "{err}"
    );
    let (code, body) = s.curl(
        "POST",
        "/clusters/root/apis/apis.kcp.io/v1alpha1/apiresourceschemas",
        Some(&serde_json::to_string(&json!({
            "apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema",
            "metadata": {"name": "widgets.example.io"},
            "spec": {"group": "example.io", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"type": "object"}}]},
        }))
        .unwrap()),
    );
    assert_eq!(code, 422, "{body}");
    // A schema the CRD rules refuse is refused at its own path.
    let broken = SCHEMA
        .replace("name: v1.widgets.example.io", "name: v2.widgets.example.io")
        .replace("type: boolean", "type: bool");
    let out = s.kubectl_in(Some(&broken), &["create", "-f", "-"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "spec.versions[0].schema.openAPIV3Schema.properties[status].properties[ready].type"
        ),
        "{err}"
    );

    // Status is the server's: the controller sets the real identity (the
    // SHA-256 of the export's identity key, in hex) ...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let identity = loop {
        let v2 = json_of(&s, &["get", "apiexports", "widgets", "-o", "json"]);
        if let Some(h) = v2["status"]["identityHash"].as_str() {
            break h.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the controller never set status.identityHash: {v2}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        identity.len() == 64
            && identity
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{identity}"
    );
    // ... and a patch of the main resource does not change it.
    s.kubectl_ok(&[
        "patch",
        "apiexports",
        "widgets",
        "--type=merge",
        "-p",
        r#"{"status":{"identityHash":"forged"}}"#,
    ]);
    let v2 = json_of(&s, &["get", "apiexports", "widgets", "-o", "json"]);
    assert_eq!(v2["status"]["identityHash"], identity.as_str(), "{v2}");

    // Bindings and endpoint slices are served too.
    let out = s.kubectl_in(
        Some(
            "apiVersion: apis.kcp.io/v1alpha1\nkind: APIBinding\nmetadata:\n  name: widgets\nspec:\n  reference:\n    export:\n      path: root\n      name: widgets\n  permissionClaims:\n  - group: \"\"\n    resource: configmaps\n    all: true\n    state: Accepted\n---\napiVersion: apis.kcp.io/v1alpha1\nkind: APIExportEndpointSlice\nmetadata:\n  name: widgets\nspec:\n  export:\n    path: root\n    name: widgets\n",
        ),
        &["apply", "-f", "-"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binding = json_of(&s, &["get", "apibindings", "widgets", "-o", "json"]);
    assert_eq!(binding["apiVersion"], "apis.kcp.io/v1alpha2");
    assert_eq!(
        binding["spec"]["permissionClaims"][0]["selector"],
        json!({"matchAll": true})
    );
    let slices = s.kubectl_ok(&["get", "apiexportendpointslices"]);
    assert!(
        slices.lines().next().unwrap().contains("EXPORT") && slices.contains("widgets"),
        "{slices}"
    );

    // kubectl explain reads the published schemas.
    let explain = s.kubectl_ok(&["explain", "apiexports.spec"]);
    assert!(
        explain.contains("resources") && explain.contains("permissionClaims"),
        "{explain}"
    );
    let explain = s.kubectl_ok(&[
        "explain",
        "apiexports.spec",
        "--api-version=apis.kcp.io/v1alpha1",
    ]);
    assert!(explain.contains("latestResourceSchemas"), "{explain}");
    let explain = s.kubectl_ok(&["explain", "apibindings.spec.permissionClaims"]);
    assert!(explain.contains("selector"), "{explain}");
}
