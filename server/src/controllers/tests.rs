//! Reconcile functions driven directly against a real store (no socket,
//! no runtime): objects are made through the router as a client would,
//! then one pass is run and its writes and [`Action`] checked.

use http::Method;
use serde_json::{Value, json};

use crate::registry::store::WriteCtx;
use crate::testing::{Fixture, json_call};

const CLUSTER: &str = "root";

/// Creates namespace `name`.
async fn namespace(st: &crate::state::AppState, name: &str) {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let (code, body) = json_call(st, Method::POST, "/api/v1/namespaces", Some(ns)).await;
    assert_eq!(code, 201, "{body}");
}

fn rv(obj: &Value) -> &str {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap()
}

#[tokio::test]
async fn namespace_empties_a_terminating_namespace_then_finalizes_it() {
    let f = Fixture::new();
    let st = &f.state;
    namespace(st, "doomed").await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let cms = "/api/v1/namespaces/doomed/configmaps";
    assert_eq!(json_call(st, Method::POST, cms, Some(cm)).await.0, 201);
    // Not terminating: nothing to do, nothing deleted.
    let a = super::namespace::reconcile(st, CLUSTER, "doomed")
        .await
        .unwrap();
    assert!(a.is_await_change());
    assert_eq!(
        json_call(st, Method::GET, &format!("{cms}/c"), None)
            .await
            .0,
        200
    );

    let (code, body) = json_call(st, Method::DELETE, "/api/v1/namespaces/doomed", None).await;
    assert_eq!(code, 200, "{body}");
    // The content goes first; the pass asks to look again.
    let a = super::namespace::reconcile(st, CLUSTER, "doomed")
        .await
        .unwrap();
    assert!(!a.is_await_change(), "{a:?}");
    assert_eq!(
        json_call(st, Method::GET, &format!("{cms}/c"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        json_call(st, Method::GET, "/api/v1/namespaces/doomed", None)
            .await
            .0,
        200
    );
    // Nothing left: the namespace goes.
    let a = super::namespace::reconcile(st, CLUSTER, "doomed")
        .await
        .unwrap();
    assert!(a.is_await_change());
    let (code, body) = json_call(st, Method::GET, "/api/v1/namespaces/doomed", None).await;
    assert_eq!(code, 404, "{body}");
}

#[tokio::test]
async fn rbac_aggregates_once_and_then_writes_nothing() {
    let f = Fixture::new();
    let st = &f.state;
    let roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
    let get_cm = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]});
    let src = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "src", "labels": {"agg": "yes"}}, "rules": [get_cm]});
    let agg = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "agg"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}});
    assert_eq!(json_call(st, Method::POST, roles, Some(src)).await.0, 201);
    assert_eq!(json_call(st, Method::POST, roles, Some(agg)).await.0, 201);
    let a = super::rbac::reconcile(st, CLUSTER).await.unwrap();
    assert!(a.is_await_change());
    let (code, got) = json_call(st, Method::GET, &format!("{roles}/agg"), None).await;
    assert_eq!(code, 200);
    assert_eq!(got["rules"], json!([get_cm]));
    // Converged: another pass leaves the role untouched.
    super::rbac::reconcile(st, CLUSTER).await.unwrap();
    let (_, again) = json_call(st, Method::GET, &format!("{roles}/agg"), None).await;
    assert_eq!(rv(&again), rv(&got));
}

#[tokio::test]
async fn an_edit_that_changes_nothing_writes_nothing() {
    let f = Fixture::new();
    let st = &f.state;
    namespace(st, "t").await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let path = "/api/v1/namespaces/t/configmaps";
    let (code, created) = json_call(st, Method::POST, path, Some(cm)).await;
    assert_eq!(code, 201, "{created}");
    let def = st
        .clusters
        .builtin_registry()
        .get("", "v1", "configmaps")
        .unwrap()
        .clone();
    let ctx = WriteCtx::system(CLUSTER, &def, Some("t"), None, "test");
    super::edit(st, &ctx, "c", |_| false).await.unwrap();
    let (_, same) = json_call(st, Method::GET, &format!("{path}/c"), None).await;
    assert_eq!(
        rv(&same),
        rv(&created),
        "an unchanged object is not written"
    );
    // The edit's verdict is what counts: a scratch change it disowns is
    // not written either.
    super::edit(st, &ctx, "c", |o| {
        o["data"] = json!({"scratch": "x"});
        false
    })
    .await
    .unwrap();
    let (_, same) = json_call(st, Method::GET, &format!("{path}/c"), None).await;
    assert_eq!(rv(&same), rv(&created));
    assert!(same.get("data").is_none(), "{same}");
    super::edit(st, &ctx, "c", |o| {
        o["data"] = json!({"k": "v"});
        true
    })
    .await
    .unwrap();
    let (_, changed) = json_call(st, Method::GET, &format!("{path}/c"), None).await;
    assert_ne!(rv(&changed), rv(&created));
    assert_eq!(changed["data"], json!({"k": "v"}));
    let missing = super::edit(st, &ctx, "nope", |_| false).await.unwrap_err();
    assert_eq!(missing.code(), 404);
}

#[tokio::test]
async fn crd_establishes_then_cleans_up_behind_its_finalizer() {
    let f = Fixture::new();
    let st = &f.state;
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    assert_eq!(json_call(st, Method::POST, crds, Some(crd)).await.0, 201);
    let a = super::crd::reconcile(st, CLUSTER).await.unwrap();
    assert!(a.is_await_change());
    let (_, got) = json_call(st, Method::GET, &format!("{crds}/widgets.example.io"), None).await;
    let established = got["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established, "{got}");
    namespace(st, "t").await;
    let widgets = "/apis/example.io/v1/namespaces/t/widgets";
    let w = json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}});
    let (code, body) = json_call(st, Method::POST, widgets, Some(w)).await;
    assert_eq!(code, 201, "{body}");

    let (code, body) = json_call(
        st,
        Method::DELETE,
        &format!("{crds}/widgets.example.io"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // Instances first: the definition waits for them.
    let a = super::crd::reconcile(st, CLUSTER).await.unwrap();
    assert!(!a.is_await_change(), "{a:?}");
    let (code, _) = json_call(st, Method::GET, &format!("{crds}/widgets.example.io"), None).await;
    assert_eq!(code, 200, "the finalizer holds the definition");
    // None left: the finalizer goes and the definition with it.
    let a = super::crd::reconcile(st, CLUSTER).await.unwrap();
    assert!(a.is_await_change());
    let (code, _) = json_call(st, Method::GET, &format!("{crds}/widgets.example.io"), None).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn exports_get_an_endpoint_slice_unless_they_opt_out() {
    let f = Fixture::new();
    let st = &f.state;
    // kcp's code reads the annotation, its docs say label: both opt out.
    for (name, metadata) in [
        ("plain", json!({"name": "plain"})),
        (
            "by-label",
            json!({"name": "by-label", "labels": {super::apiexport::SKIP_ENDPOINT_SLICE: "true"}}),
        ),
        (
            "by-annotation",
            json!({"name": "by-annotation", "annotations": {super::apiexport::SKIP_ENDPOINT_SLICE: ""}}),
        ),
    ] {
        let export = json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport", "metadata": metadata});
        let (code, body) = json_call(
            st,
            Method::POST,
            "/apis/apis.kcp.io/v1alpha2/apiexports",
            Some(export),
        )
        .await;
        assert_eq!(code, 201, "{body}");
        super::apiexport::reconcile(st, CLUSTER, name)
            .await
            .unwrap();
    }
    let slice = |name: &str| {
        let path = format!("/apis/apis.kcp.io/v1alpha1/apiexportendpointslices/{name}");
        async move { json_call(st, Method::GET, &path, None).await }
    };
    let (code, body) = slice("plain").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["spec"]["export"],
        json!({"path": "root", "name": "plain"})
    );
    for name in ["by-label", "by-annotation"] {
        let (code, body) = slice(name).await;
        assert_eq!(code, 404, "{name}: {body}");
    }
}
