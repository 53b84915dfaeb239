//! The `apis.kcp.io` types through the real router (no socket): what the
//! registry serves, conversion on reads and writes of both versions,
//! immutability and name rules of schemas, and that the embedded CRDs are
//! themselves valid CRDs.

use axum::body::Body;
use http::Method;
use serde_json::{Value, json};

use crate::state::AppState;
use crate::testing::{self, Fixture};

const EXPORTS_V2: &str = "/apis/apis.kcp.io/v1alpha2/apiexports";
const EXPORTS_V1: &str = "/apis/apis.kcp.io/v1alpha1/apiexports";
const BINDINGS_V2: &str = "/apis/apis.kcp.io/v1alpha2/apibindings";
const BINDINGS_V1: &str = "/apis/apis.kcp.io/v1alpha1/apibindings";
const SCHEMAS: &str = "/apis/apis.kcp.io/v1alpha1/apiresourceschemas";

fn fixture() -> Fixture {
    Fixture::new()
}

async fn send(
    state: &AppState,
    method: Method,
    path: &str,
    content_type: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let a = testing::send(
        state,
        method,
        path,
        &[
            ("content-type", content_type),
            ("accept", "application/json"),
        ],
        body.map(|b| Body::from(b.to_string())).unwrap_or_default(),
    )
    .await;
    let v = serde_json::from_slice(&a.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&a.body).into()));
    (a.code, v)
}

async fn post(s: &AppState, path: &str, body: Value) -> (u16, Value) {
    send(s, Method::POST, path, "application/json", Some(body)).await
}

async fn put(s: &AppState, path: &str, body: Value) -> (u16, Value) {
    send(s, Method::PUT, path, "application/json", Some(body)).await
}

async fn get(s: &AppState, path: &str) -> (u16, Value) {
    send(s, Method::GET, path, "application/json", None).await
}

fn widgets_schema(name: &str) -> Value {
    json!({
        "apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema",
        "metadata": {"name": name},
        "spec": {
            "group": "example.io",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"color": {"type": "string"}}}}},
            }],
        },
    })
}

#[test]
fn registry_serves_the_four_types() {
    let b = crate::builtin::builtins();
    let mut got: Vec<String> = b
        .registry
        .all()
        .filter(|d| d.group == "apis.kcp.io")
        .map(|d| format!("{}/{}", d.version, d.resource))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "v1alpha1/apibindings",
            "v1alpha1/apiexportendpointslices",
            "v1alpha1/apiexports",
            "v1alpha1/apiresourceschemas",
            "v1alpha2/apibindings",
            "v1alpha2/apiexports",
        ]
    );
    // The storage version is the group's preferred one.
    assert_eq!(
        b.registry.versions_of("apis.kcp.io").unwrap(),
        ["v1alpha2".to_string(), "v1alpha1".to_string()]
    );
    for d in b.registry.all().filter(|d| d.group == "apis.kcp.io") {
        assert!(!d.namespaced, "{d:?}");
        assert_eq!(d.categories, vec!["kcp".to_string()], "{d:?}");
        assert_eq!(
            d.status_subresource,
            d.resource != "apiresourceschemas",
            "{d:?}"
        );
    }
}

#[test]
fn embedded_crds_are_valid_crds() {
    for mut crd in super::crds() {
        trellis_apis::crd::set_defaults(&mut crd);
        let errs = crate::custom::checks::validate_crd(&crd, None);
        // The group is reserved for the server, hence the approval check
        // does not apply; everything else must pass.
        assert!(
            errs.is_empty(),
            "{}: {:?}",
            crd["metadata"]["name"],
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn schemas_are_named_validated_and_immutable() {
    let f = fixture();
    let s = &f.state;
    let (code, created) = post(s, SCHEMAS, widgets_schema("v1.widgets.example.io")).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["nameValidation"], "DNS1123Subdomain");
    assert_eq!(created["spec"]["versions"][0]["served"], true);

    let (code, st) = post(s, SCHEMAS, widgets_schema("widgets.example.io")).await;
    assert_eq!(code, 422, "{st}");
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("must end in .widgets.example.io"),
        "{st}"
    );

    let mut bad = widgets_schema("v2.widgets.example.io");
    bad["spec"]["versions"][0]["schema"]["properties"]["spec"]["type"] = json!("bogus");
    let (code, st) = post(s, SCHEMAS, bad).await;
    assert_eq!(code, 422, "{st}");
    assert!(
        st["details"]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"]
                .as_str()
                .unwrap()
                .starts_with("spec.versions[0].schema.openAPIV3Schema")),
        "{st}"
    );

    let mut changed = created.clone();
    changed["spec"]["scope"] = json!("Cluster");
    let (code, st) = put(s, &format!("{SCHEMAS}/v1.widgets.example.io"), changed).await;
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("APIResourceSchema is immutable"),
        "{st}"
    );
    // Metadata stays writable.
    let mut labelled = created.clone();
    labelled["metadata"]["labels"] = json!({"team": "a"});
    let (code, st) = put(s, &format!("{SCHEMAS}/v1.widgets.example.io"), labelled).await;
    assert_eq!(code, 200, "{st}");
}

#[tokio::test]
async fn exports_convert_both_ways() {
    let f = fixture();
    let s = &f.state;
    let (code, created) = post(
        s,
        EXPORTS_V2,
        json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport", "metadata": {"name": "widgets"},
               "spec": {"resources": [{"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io"}],
                        "permissionClaims": [{"group": "", "resource": "configmaps", "verbs": ["get", "list"]}]},
               "status": {"identityHash": "forged"}}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    // Defaults, and a server-owned status.
    assert_eq!(
        created["spec"]["resources"][0]["storage"],
        json!({"crd": {}})
    );
    assert!(created.get("status").is_none(), "{created}");

    let (code, v1) = get(s, &format!("{EXPORTS_V1}/widgets")).await;
    assert_eq!(code, 200, "{v1}");
    assert_eq!(v1["apiVersion"], "apis.kcp.io/v1alpha1");
    assert_eq!(
        v1["spec"]["latestResourceSchemas"],
        json!(["v1.widgets.example.io"])
    );
    assert_eq!(
        v1["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "configmaps"}])
    );
    assert!(
        v1["metadata"]["annotations"]["apis.v1alpha2.kcp.io/permission-claims"].is_string(),
        "{v1}"
    );

    // A read-modify-write through v1alpha1 keeps what v1alpha1 cannot say.
    let mut edited = v1.clone();
    edited["spec"]["latestResourceSchemas"] =
        json!(["v1.widgets.example.io", "v1.gadgets.example.io"]);
    let (code, written) = put(s, &format!("{EXPORTS_V1}/widgets"), edited).await;
    assert_eq!(code, 200, "{written}");
    assert_eq!(written["apiVersion"], "apis.kcp.io/v1alpha1");
    let (_, v2) = get(s, &format!("{EXPORTS_V2}/widgets")).await;
    assert_eq!(
        v2["spec"]["resources"],
        json!([
            {"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}},
            {"name": "gadgets", "group": "example.io", "schema": "v1.gadgets.example.io", "storage": {"crd": {}}},
        ])
    );
    assert_eq!(
        v2["spec"]["permissionClaims"][0]["verbs"],
        json!(["get", "list"])
    );
    assert_eq!(v2["metadata"]["generation"], 2);

    // Created as v1alpha1, read as v1alpha2.
    let (code, created) = post(
        s,
        EXPORTS_V1,
        json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIExport", "metadata": {"name": "old"},
               "spec": {"latestResourceSchemas": ["today.things.example.io"],
                        "permissionClaims": [{"resource": "secrets", "all": true}]}}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "apis.kcp.io/v1alpha1");
    assert_eq!(created["spec"]["permissionClaims"][0]["all"], true);
    let (_, v2) = get(s, &format!("{EXPORTS_V2}/old")).await;
    assert_eq!(
        v2["spec"]["resources"],
        json!([{"name": "things", "group": "example.io", "schema": "today.things.example.io", "storage": {"crd": {}}}])
    );
    assert_eq!(
        v2["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "secrets", "identityHash": "", "verbs": ["*"]}])
    );

    // v1alpha1's own rules apply to v1alpha1 writes.
    let (code, st) = post(
        s,
        EXPORTS_V1,
        json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIExport", "metadata": {"name": "bad"},
               "spec": {"permissionClaims": [{"resource": "secrets"}]}}),
    )
    .await;
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("either \"all\" or \"resourceSelector\" must be set"),
        "{st}"
    );
    let (code, st) = post(
        s,
        EXPORTS_V1,
        json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIExport", "metadata": {"name": "bad"},
               "spec": {"latestResourceSchemas": ["widgets"]}}),
    )
    .await;
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["details"]["causes"][0]["field"],
        "spec.latestResourceSchemas[0]"
    );

    // Lists convert each item.
    let (code, list) = get(s, EXPORTS_V1).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["apiVersion"] == "apis.kcp.io/v1alpha1"
                && i["spec"].get("resources").is_none())
    );
}

#[tokio::test]
async fn bindings_convert_claims() {
    let f = fixture();
    let s = &f.state;
    let (code, created) = post(
        s,
        BINDINGS_V1,
        json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIBinding", "metadata": {"name": "b"},
               "spec": {"reference": {"export": {"path": "root:org", "name": "widgets"}},
                        "permissionClaims": [{"resource": "configmaps", "all": true, "state": "Accepted"}]}}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let (_, v2) = get(s, &format!("{BINDINGS_V2}/b")).await;
    assert_eq!(
        v2["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "configmaps", "identityHash": "", "verbs": ["*"],
                "selector": {"matchAll": true}, "state": "Accepted"}])
    );

    // The reference is immutable, in either version.
    let mut moved = v2.clone();
    moved["spec"]["reference"]["export"]["name"] = json!("gadgets");
    let (code, st) = put(s, &format!("{BINDINGS_V2}/b"), moved).await;
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("APIExport reference must not be changed"),
        "{st}"
    );
    let (_, mut v1) = get(s, &format!("{BINDINGS_V1}/b")).await;
    v1["spec"]["reference"]["export"]["name"] = json!("gadgets");
    let (code, st) = put(s, &format!("{BINDINGS_V1}/b"), v1).await;
    assert_eq!(code, 422, "{st}");

    // A v1alpha2 claim with a label selector reads back as v1alpha1 and
    // survives a write through it.
    let (code, st) = post(
        s,
        BINDINGS_V2,
        json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": "c"},
               "spec": {"reference": {"export": {"name": "widgets"}},
                        "permissionClaims": [{"resource": "secrets", "verbs": ["get"],
                                              "selector": {"matchLabels": {"app": "x"}}, "state": "Accepted"}]}}),
    )
    .await;
    assert_eq!(code, 201, "{st}");
    let (_, mut v1) = get(s, &format!("{BINDINGS_V1}/c")).await;
    assert_eq!(
        v1["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "secrets", "state": "Accepted"}])
    );
    v1["metadata"]["labels"] = json!({"touched": "yes"});
    let (code, st) = put(s, &format!("{BINDINGS_V1}/c"), v1).await;
    assert_eq!(code, 200, "{st}");
    let (_, v2) = get(s, &format!("{BINDINGS_V2}/c")).await;
    assert_eq!(
        v2["spec"]["permissionClaims"][0]["selector"],
        json!({"matchLabels": {"app": "x"}})
    );
    assert_eq!(v2["spec"]["permissionClaims"][0]["verbs"], json!(["get"]));

    // kcp's selector rule.
    let (code, st) = post(
        s,
        BINDINGS_V2,
        json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": "d"},
               "spec": {"reference": {"export": {"name": "widgets"}},
                        "permissionClaims": [{"resource": "secrets", "verbs": ["get"],
                                              "selector": {}, "state": "Accepted"}]}}),
    )
    .await;
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["details"]["causes"][0]["field"],
        "spec.permissionClaims[0].selector"
    );
}

#[tokio::test]
async fn v1alpha1_tables_use_v1alpha1_columns() {
    let f = fixture();
    let s = &f.state;
    let (code, _) = post(
        s,
        EXPORTS_V2,
        json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport", "metadata": {"name": "t"}}),
    )
    .await;
    assert_eq!(code, 201);
    let a = testing::send(
        s,
        Method::GET,
        EXPORTS_V1,
        &[("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")],
        Body::empty(),
    )
    .await;
    assert_eq!(a.code, 200);
    let t: Value = serde_json::from_slice(&a.body).unwrap();
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, vec!["Name", "Age", "Ready"]);
}
