//! Shared fixtures and helpers for the integration tests.
#![allow(dead_code)]

use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{Value, json};

/// Fully populated ObjectMeta (every field of the k8s-pb struct set).
pub fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "generateName": "gen-",
        "namespace": "team-a",
        "selfLink": "/api/v1/namespaces/team-a/things/x",
        "uid": "0b3a2c4e-1111-2222-3333-444455556666",
        "resourceVersion": "12345",
        "generation": 7,
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "deletionTimestamp": "2026-01-03T00:00:00Z",
        "deletionGracePeriodSeconds": 0,
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"note": "hello", "empty": ""},
        "ownerReferences": [{
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-123",
            "uid": "aaaa-bbbb",
            "controller": true,
            "blockOwnerDeletion": false
        }],
        "finalizers": ["example.com/cleanup", "kubernetes"],
        "managedFields": [{
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-01-02T03:04:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:key": {}}, "f:metadata": {"f:labels": {"f:app": {}}}},
            "subresource": "status"
        }]
    })
}

pub fn list_meta() -> Value {
    json!({
        "selfLink": "/api/v1/configmaps",
        "resourceVersion": "999",
        "continue": "token-abc",
        "remainingItemCount": 42
    })
}

pub fn object_reference(tag: &str) -> Value {
    json!({
        "kind": "Pod",
        "namespace": "team-a",
        "name": format!("pod-{tag}"),
        "uid": format!("uid-{tag}"),
        "apiVersion": "v1",
        "resourceVersion": "77",
        "fieldPath": "spec.containers{app}"
    })
}

pub fn label_selector() -> Value {
    json!({
        "matchLabels": {"rbac.example.com/aggregate-to-view": "true"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]
    })
}

pub fn policy_rule() -> Value {
    json!({
        "verbs": ["get", "list", "watch"],
        "apiGroups": ["", "apps"],
        "resources": ["pods", "deployments"],
        "resourceNames": ["web"],
        "nonResourceURLs": ["/healthz", "/metrics"]
    })
}

pub fn subject_access_review_spec() -> Value {
    json!({
        "resourceAttributes": {
            "namespace": "team-a",
            "verb": "list",
            "group": "apps",
            "version": "v1",
            "resource": "deployments",
            "subresource": "scale",
            "name": "web",
            "fieldSelector": {
                "rawSelector": "spec.nodeName=n1",
                "requirements": [{"key": "spec.nodeName", "operator": "In", "values": ["n1"]}]
            },
            "labelSelector": {
                "rawSelector": "app=web",
                "requirements": [{"key": "app", "operator": "In", "values": ["web"]}]
            }
        },
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
        "user": "jane",
        "groups": ["system:authenticated", "devs"],
        "extra": {"scopes": ["a", "b"], "reason": ["because"]},
        "uid": "user-uid-1"
    })
}

pub fn subject_access_review_status() -> Value {
    json!({
        "allowed": false,
        "denied": true,
        "reason": "no RBAC policy matched",
        "evaluationError": "partial failure"
    })
}

/// Wraps a prost message the way kube-apiserver/client-go do (`k8s\0` + Unknown).
pub fn wrap<M: Message>(api_version: &str, kind: &str, msg: &M) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(msg.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = b"k8s\0".to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

/// The typed message inside an encoded body.
pub fn unwrap<M: Message + Default>(body: &[u8]) -> (TypeMeta, M) {
    assert_eq!(&body[..4], b"k8s\0");
    let unknown = Unknown::decode(&body[4..]).expect("runtime.Unknown");
    let msg = M::decode(unknown.raw.unwrap_or_default().as_slice()).expect("typed message");
    (unknown.type_meta.unwrap(), msg)
}

/// Asserts every optional/repeated/map field (recursively) of the encoded message is set,
/// so a round trip of the fixture exercises every field of the converter. metav1.Time
/// never carries nanos on the wire, so `nanos: None` is allowed.
pub fn assert_fully_populated<M: Message + Default + std::fmt::Debug>(body: &[u8]) {
    let (_, msg) = unwrap::<M>(body);
    let dbg = format!("{msg:?}").replace("nanos: None", "");
    for needle in ["None", "[]", "{}"] {
        assert!(
            !dbg.contains(needle),
            "{} fixture leaves a field unset ({needle}): {dbg}",
            std::any::type_name::<M>()
        );
    }
}

/// encode -> decode must reproduce the JSON exactly.
pub fn roundtrip(obj: &Value) -> Vec<u8> {
    let body =
        trellis_apis::proto::encode(obj).unwrap_or_else(|e| panic!("encode {}: {e}", obj["kind"]));
    assert_eq!(&body[..4], b"k8s\0");
    let back = trellis_apis::proto::decode(&body)
        .unwrap_or_else(|e| panic!("decode {}: {e}", obj["kind"]));
    assert_eq!(&back, obj, "round trip changed {}", obj["kind"]);
    body
}
