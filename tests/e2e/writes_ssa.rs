//! Server-side apply as Flux, Argo CD, Terraform and kube-rs use it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::common::Server;

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn managers(cm: &ConfigMap) -> BTreeMap<String, Value> {
    cm.metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            (
                format!(
                    "{}/{}",
                    m.manager.clone().unwrap_or_default(),
                    m.operation.clone().unwrap_or_default()
                ),
                serde_json::to_value(&m.fields_v1).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_conflict_force_and_drop() {
    let s = Server::start("ssa_managers");
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let alice = PatchParams::apply("alice");
    let bob = PatchParams::apply("bob");

    // Apply creates the object when it is missing.
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"a": "1", "b": "2"}});
    let cm = cms
        .patch("shared", &alice, &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(cm.data.as_ref().unwrap()["a"], "1");
    assert_eq!(
        managers(&cm)["alice/Apply"],
        json!({"f:data": {"f:a": {}, "f:b": {}}})
    );

    // Same value: shared ownership, no conflict.
    let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"a": "1"}});
    let cm = cms
        .patch("shared", &bob, &Patch::Apply(&same))
        .await
        .unwrap();
    assert!(managers(&cm).contains_key("bob/Apply"));

    // Different value: 409 with one cause per field.
    let fight = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"a": "9", "b": "9"}});
    let st = api_error(
        cms.patch("shared", &bob, &Patch::Apply(&fight))
            .await
            .unwrap_err(),
    );
    assert_eq!(st.code, 409);
    assert_eq!(st.reason, "Conflict");
    assert_eq!(
        st.message,
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .data.a\n- .data.b"
    );
    let causes = st.details.unwrap().causes;
    assert_eq!(causes.len(), 2);
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".data.a");
    assert_eq!(
        cms.get("shared").await.unwrap().data.unwrap()["a"],
        "1",
        "a conflict changes nothing"
    );

    // Forced: Bob takes the fields; Alice loses them.
    let cm = cms
        .patch("shared", &bob.clone().force(), &Patch::Apply(&fight))
        .await
        .unwrap();
    assert_eq!(cm.data.as_ref().unwrap()["a"], "9");
    let m = managers(&cm);
    assert!(
        !m.contains_key("alice/Apply"),
        "alice owns nothing any more: {m:?}"
    );
    assert_eq!(m["bob/Apply"], json!({"f:data": {"f:a": {}, "f:b": {}}}));

    // Bob stops applying b: it is removed. An Update manager's field stays.
    cms.patch(
        "shared",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"c": "3"}})),
    )
    .await
    .unwrap();
    let less = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"a": "9"}});
    let cm = cms
        .patch("shared", &bob, &Patch::Apply(&less))
        .await
        .unwrap();
    let data = cm.data.unwrap();
    assert_eq!(data.get("b"), None);
    assert_eq!(data["c"], "3", "fields of other managers survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_status_subresource_and_bad_requests() {
    let s = Server::start("ssa_status");
    let client = s.client().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ssa-ns"}});
    nss.patch("ssa-ns", &PatchParams::apply("creator"), &Patch::Apply(&ns))
        .await
        .unwrap();
    let status = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ssa-ns"},
                        "status": {"conditions": [{"type": "Example", "status": "True", "reason": "Tested", "message": "ok"}]}});
    let n = nss
        .patch_status(
            "ssa-ns",
            &PatchParams::apply("status-writer"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    let conds = n.status.unwrap().conditions.unwrap();
    assert_eq!(conds[0].type_, "Example");
    let entry = n
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("status-writer"))
        .unwrap();
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    // No field manager.
    let st = api_error(
        cms.patch("x", &PatchParams::default(), &Patch::Apply(&cfg))
            .await
            .unwrap_err(),
    );
    assert_eq!((st.code, st.reason.as_str()), (422, "Invalid"));
    assert!(
        st.message.contains("fieldManager: Required value"),
        "{}",
        st.message
    );
    // managedFields in the body.
    let with_mf = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "managedFields": [{"manager": "x"}]}});
    let st = api_error(
        cms.patch("x", &PatchParams::apply("m"), &Patch::Apply(&with_mf))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (st.code, st.message.as_str()),
        (400, "metadata.managedFields must be nil")
    );
    // Wrong apiVersion.
    let wrong = json!({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_eq!(
        api_error(
            cms.patch("x", &PatchParams::apply("m"), &Patch::Apply(&wrong))
                .await
                .unwrap_err()
        )
        .code,
        400
    );
    // Unknown fields with strict validation.
    let unknown = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {"nope": 1}});
    let st = api_error(
        cms.patch(
            "x",
            &PatchParams::apply("m").validation_strict(),
            &Patch::Apply(&unknown),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(st.code, 400);
    assert!(
        st.message.contains(".spec: field not declared in schema"),
        "{}",
        st.message
    );
    // force on a non-apply patch (kube-rs refuses to send it; curl does).
    cms.patch(
        "y",
        &PatchParams::apply("m"),
        &Patch::Apply(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}})),
    )
    .await
    .unwrap();
    let (code, _) = s.curl_as(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/y?force=true",
        "application/merge-patch+json",
        Some("{}"),
    );
    assert_eq!(code, 422);
    // Nothing was created by the failed applies.
    assert_eq!(api_error(cms.get("x").await.unwrap_err()).code, 404);
}

#[test]
fn kubectl_server_side_apply() {
    let s = Server::start("ssa_kubectl");
    let m = s.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\ndata:\n  a: '1'\n  b: '2'\n");
    let out = s.kubectl_ok(&["apply", "--server-side", "-f", m.to_str().unwrap()]);
    assert!(out.contains("configmap/web serverside-applied"), "{out}");
    let other = s.file("other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\ndata:\n  a: 'mine'\n");
    let err = s.kubectl_err(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "-f",
        other.to_str().unwrap(),
    ]);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.a"),
        "{err}"
    );
    s.kubectl_ok(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "--force-conflicts",
        "-f",
        other.to_str().unwrap(),
    ]);
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "web", "-o", "jsonpath={.data.a}"]),
        "mine"
    );
    // The original manager drops b from its manifest: b goes away.
    let less = s.file(
        "less.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\ndata: {}\n",
    );
    s.kubectl_ok(&["apply", "--server-side", "-f", less.to_str().unwrap()]);
    assert_eq!(
        s.kubectl_ok(&["get", "cm", "web", "-o", "jsonpath={.data}"]),
        "{\"a\":\"mine\"}"
    );
}
