use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::schema::Schema;

// ---------------------------------------------------------------------------
// Fixtures: Kubernetes-like schemas built with `Schema::from_openapi`.

fn defs() -> BTreeMap<String, Value> {
    let d = json!({
        "ObjectMeta": {"type": "object", "properties": {
            "name": {"type": "string"},
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {"type": "array", "items": {"type": "string"},
                "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
            "ownerReferences": {"type": "array", "items": {"$ref": "#/definitions/OwnerReference"},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "uid"}
        }},
        "OwnerReference": {"type": "object", "properties": {
            "uid": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"}
        }},
        "ContainerPort": {"type": "object", "properties": {
            "containerPort": {"type": "integer", "format": "int32"},
            "protocol": {"type": "string"}, "name": {"type": "string"}
        }},
        "EnvVar": {"type": "object", "properties": {
            "name": {"type": "string"}, "value": {"type": "string"}
        }},
        "Container": {"type": "object", "properties": {
            "name": {"type": "string"},
            "image": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"},
            "ports": {"type": "array", "items": {"$ref": "#/definitions/ContainerPort"},
                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "containerPort"},
            "env": {"type": "array", "items": {"$ref": "#/definitions/EnvVar"},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
            "securityContext": {"type": "object", "properties": {
                "runAsUser": {"type": "integer"}, "privileged": {"type": "boolean"}
            }}
        }},
        "Volume": {"type": "object", "properties": {
            "name": {"type": "string"},
            "emptyDir": {"type": "object", "properties": {"medium": {"type": "string"}}},
            "configMap": {"type": "object", "properties": {"name": {"type": "string"}}}
        }},
        "Toleration": {"type": "object", "properties": {
            "key": {"type": "string"}, "operator": {"type": "string"}, "effect": {"type": "string"}
        }},
        "PodSpec": {"type": "object", "properties": {
            "containers": {"type": "array", "items": {"$ref": "#/definitions/Container"},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
            "volumes": {"type": "array", "items": {"$ref": "#/definitions/Volume"},
                "x-kubernetes-patch-strategy": "merge,retainKeys", "x-kubernetes-patch-merge-key": "name"},
            "tolerations": {"type": "array", "items": {"$ref": "#/definitions/Toleration"}},
            "imagePullSecrets": {"type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
            "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"},
                "x-kubernetes-map-type": "atomic"},
            "securityContext": {"type": "object", "properties": {
                "runAsUser": {"type": "integer"}, "fsGroup": {"type": "integer"},
                "seLinuxOptions": {"type": "object", "properties": {"level": {"type": "string"}}}
            }}
        }},
        "Deployment": {"type": "object", "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/ObjectMeta"},
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "format": "int32"},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}
                }},
                "strategy": {"type": "object", "x-kubernetes-patch-strategy": "retainKeys", "properties": {
                    "type": {"type": "string"},
                    "rollingUpdate": {"type": "object", "properties": {
                        "maxSurge": {"x-kubernetes-int-or-string": true},
                        "maxUnavailable": {"x-kubernetes-int-or-string": true}
                    }}
                }},
                "template": {"type": "object", "properties": {
                    "metadata": {"$ref": "#/definitions/ObjectMeta"},
                    "spec": {"$ref": "#/definitions/PodSpec"}
                }},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }},
            "status": {"type": "object", "properties": {
                "conditions": {"type": "array", "items": {"type": "object", "properties": {
                    "type": {"type": "string"}, "status": {"type": "string"}
                }}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
                "hostIPs": {"type": "array", "items": {"type": "object", "properties": {
                    "ip": {"type": "string"}
                }}, "x-kubernetes-list-type": "atomic",
                    "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "ip"},
                "weird": {"type": "array", "items": {"type": "string"},
                    "x-kubernetes-patch-strategy": "merge,replace,retainKeys"}
            }}
        }},
        "ConfigMap": {"type": "object", "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/ObjectMeta"},
            "data": {"type": "object", "additionalProperties": {"type": "string"}}
        }},
        // Mirrors the shape of upstream's test type `mergeItem`.
        "MergeItem": {"type": "object", "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "other": {"type": "string"},
            "mergingList": {"type": "array", "items": {"$ref": "#/definitions/MergeItem"},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
            "nonMergingList": {"type": "array", "items": {"$ref": "#/definitions/MergeItem"}},
            "mergingIntList": {"type": "array", "items": {"type": "integer"},
                "x-kubernetes-patch-strategy": "merge"},
            "nonMergingIntList": {"type": "array", "items": {"type": "integer"}},
            "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}}
        }}
    });
    serde_json::from_value(d).unwrap()
}

fn schema(name: &str) -> Schema {
    Schema::from_openapi(&json!({ "$ref": format!("#/definitions/{name}") }), &defs())
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}, "finalizers": ["a", "b", "c"]},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1", "args": ["--a"],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "side:1"}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "k1", "operator": "Exists"}]
                }
            }
        }
    })
}

fn patch_deploy(patch: Value) -> Value {
    apply(&deployment(), &patch, &schema("Deployment")).unwrap()
}

fn patch_deploy_err(patch: Value) -> SmpError {
    apply(&deployment(), &patch, &schema("Deployment")).unwrap_err()
}

fn pod_spec(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect()
}

fn item(original: Value, patch: Value) -> Value {
    apply(&original, &patch, &schema("MergeItem")).unwrap()
}

fn item_err(original: Value, patch: Value) -> SmpError {
    apply(&original, &patch, &schema("MergeItem")).unwrap_err()
}

// ---------------------------------------------------------------------------
// Maps, nulls, scalars.

#[test]
fn maps_merge_recursively_and_null_deletes() {
    let r =
        patch_deploy(json!({"metadata": {"labels": {"tier": null, "new": "x", "app": "web2"}}}));
    assert_eq!(r["metadata"]["labels"], json!({"app": "web2", "new": "x"}));
    assert_eq!(r["metadata"]["name"], "web");
    assert_eq!(r["spec"], deployment()["spec"]);
}

#[test]
fn null_for_absent_key_is_dropped() {
    let r =
        patch_deploy(json!({"metadata": {"labels": {"ghost": null}}, "spec": {"paused": null}}));
    assert_eq!(r, deployment());
}

#[test]
fn values_already_in_the_original_keep_their_nulls() {
    // `kubectl rollout restart`.
    let r = patch_deploy(json!({"spec": {"template": {"metadata": {"annotations":
        {"kubectl.kubernetes.io/restartedAt": "2025-05-01T10:00:00Z"}}}}}));
    let meta = &r["spec"]["template"]["metadata"];
    assert_eq!(meta["creationTimestamp"], Value::Null);
    assert_eq!(
        meta["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2025-05-01T10:00:00Z"
    );
}

#[test]
fn scalars_and_type_changes_replace() {
    let r = patch_deploy(json!({"spec": {"replicas": 5, "selector": "oops"}}));
    assert_eq!(r["spec"]["replicas"], 5);
    assert_eq!(r["spec"]["selector"], "oops");
    // Taken wholesale: nulls inside are discarded.
    let r = patch_deploy(json!({"spec": {"replicas": {"x": null, "y": 1}}}));
    assert_eq!(r["spec"]["replicas"], json!({"y": 1}));
}

#[test]
fn null_and_non_object_patches() {
    let s = schema("Deployment");
    assert_eq!(
        apply(&deployment(), &Value::Null, &s).unwrap(),
        deployment()
    );
    let e = apply(&deployment(), &json!([1]), &s).unwrap_err();
    assert_eq!(
        e.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(e.http_code(), 400);
    let e = apply(&deployment(), &json!("x"), &s).unwrap_err();
    assert_eq!(
        e,
        SmpError::PatchNotAnObject {
            json_type: "string"
        }
    );
}

#[test]
fn configmap_kubectl_apply_removes_a_key() {
    // `kubectl apply` after deleting `removed` from the manifest.
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"}},
        "data": {"kept": "1", "removed": "2"}
    });
    let patch = json!({
        "data": {"removed": null},
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"}}
    });
    let r = apply(&cm, &patch, &schema("ConfigMap")).unwrap();
    assert_eq!(r["data"], json!({"kept": "1"}));
    assert_eq!(
        r["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "new"
    );
}

// ---------------------------------------------------------------------------
// Lists.

#[test]
fn lists_without_merge_strategy_are_replaced() {
    let r = patch_deploy(json!({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "args": ["--b", "--c"]}],
        "tolerations": [{"key": "k2", "effect": null}]
    }}}}));
    assert_eq!(pod_spec(&r)["containers"][0]["args"], json!(["--b", "--c"]));
    assert_eq!(pod_spec(&r)["tolerations"], json!([{"key": "k2"}]));
}

#[test]
fn kubectl_set_image_merges_container_by_name() {
    let r = patch_deploy(
        json!({"spec": {"template": {"spec": {"containers": [{"image": "app:2", "name": "app"}]}}}}),
    );
    let cs = &pod_spec(&r)["containers"];
    assert_eq!(names(cs), ["app", "sidecar"]);
    assert_eq!(cs[0]["image"], "app:2");
    assert_eq!(cs[0]["args"], json!(["--a"]));
    assert_eq!(
        cs[0]["ports"],
        deployment()["spec"]["template"]["spec"]["containers"][0]["ports"]
    );
    assert_eq!(cs[1], json!({"name": "sidecar", "image": "side:1"}));
}

#[test]
fn merge_list_order_without_set_element_order() {
    // Patch items keep patch order; a server-only item is inserted before the
    // first patch item it precedes live. A new item has no live position, so
    // it goes first (apimachinery's SMP "prepends"; cf. kustomize#2907).
    let r = patch_deploy(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n"}]}}}}),
    );
    assert_eq!(
        names(&pod_spec(&r)["containers"]),
        ["new", "app", "sidecar"]
    );

    let r = patch_deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "new", "image": "n"}, {"name": "app", "image": "x"}
    ]}}}}));
    assert_eq!(
        names(&pod_spec(&r)["containers"]),
        ["new", "app", "sidecar"]
    );

    // Upstream custom case "preserve the order from the patch in a merging list 2".
    let r = item(
        json!({"mergingList": [{"name": "1"}, {"name": "2", "value": "b"}, {"name": "3"}]}),
        json!({"mergingList": [{"name": "3", "value": "c"}, {"name": "1", "value": "a"}]}),
    );
    assert_eq!(
        r["mergingList"],
        json!([{"name": "2", "value": "b"}, {"name": "3", "value": "c"}, {"name": "1", "value": "a"}])
    );
}

#[test]
fn nested_merge_list_with_integer_merge_key() {
    let r = patch_deploy(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [
            {"containerPort": 443, "name": "https"}, {"containerPort": 8080, "protocol": "TCP"}
        ]}]}}}}),
    );
    assert_eq!(
        pod_spec(&r)["containers"][0]["ports"],
        json!([
            {"containerPort": 80, "protocol": "TCP"},
            {"containerPort": 443, "protocol": "TCP", "name": "https"},
            {"containerPort": 8080, "protocol": "TCP"}
        ])
    );
}

#[test]
fn primitive_merge_list_is_a_union() {
    let r = patch_deploy(json!({"metadata": {"finalizers": ["d", "a"]}}));
    assert_eq!(r["metadata"]["finalizers"], json!(["d", "a", "b", "c"]));
    let r = patch_deploy(json!({"metadata": {"finalizers": ["z"]}}));
    assert_eq!(r["metadata"]["finalizers"], json!(["z", "a", "b", "c"]));
    // Upstream custom cases ("unique scalars", "preserve the order from the
    // patch in a merging int list").
    assert_eq!(
        item(
            json!({"mergingIntList": [1, 2]}),
            json!({"mergingIntList": [2, 3]})
        )["mergingIntList"],
        json!([1, 2, 3])
    );
    assert_eq!(
        item(
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"mergingIntList": [3, 1]})
        )["mergingIntList"],
        json!([2, 3, 1])
    );
}

#[test]
fn list_type_alone_does_not_change_smp() {
    let mut d = deployment();
    d["status"] = json!({
        "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}],
        "hostIPs": [{"ip": "10.0.0.1"}]
    });
    let patch = json!({"status": {
        "conditions": [{"type": "Available", "status": "False"}],
        "hostIPs": [{"ip": "10.0.0.2"}]
    }});
    let r = apply(&d, &patch, &schema("Deployment")).unwrap();
    // listType=map without patch strategy: replaced.
    assert_eq!(
        r["status"]["conditions"],
        json!([{"type": "Available", "status": "False"}])
    );
    // listType=atomic with patchStrategy=merge: merged.
    assert_eq!(
        r["status"]["hostIPs"],
        json!([{"ip": "10.0.0.2"}, {"ip": "10.0.0.1"}])
    );
}

#[test]
fn atomic_map_type_is_still_merged() {
    let r = patch_deploy(json!({"spec": {"selector": {"matchLabels": {"extra": "1"}}}}));
    assert_eq!(
        r["spec"]["selector"]["matchLabels"],
        json!({"app": "web", "extra": "1"})
    );
    let mut d = deployment();
    d["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
    let patch = json!({"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}});
    let r = apply(&d, &patch, &schema("Deployment")).unwrap();
    assert_eq!(
        pod_spec(&r)["nodeSelector"],
        json!({"zone": "a", "disk": "ssd"})
    );
}

#[test]
fn free_form_and_unknown_fields_merge_maps_and_replace_lists() {
    let mut d = deployment();
    d["spec"]["config"] = json!({"a": {"b": 1, "c": [1, 2]}, "keep": true});
    d["spec"]["unknown"] = json!({"x": {"y": 1}, "l": [1]});
    let patch = json!({"spec": {
        "config": {"a": {"b": null, "d": 2, "c": [3]}},
        "unknown": {"x": {"z": 2}, "l": [2]}
    }});
    let r = apply(&d, &patch, &schema("Deployment")).unwrap();
    assert_eq!(
        r["spec"]["config"],
        json!({"a": {"d": 2, "c": [3]}, "keep": true})
    );
    assert_eq!(
        r["spec"]["unknown"],
        json!({"x": {"y": 1, "z": 2}, "l": [2]})
    );
}

// ---------------------------------------------------------------------------
// `$patch`.

#[test]
fn patch_replace_in_map() {
    let r = patch_deploy(
        json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate", "rollingUpdate": null}}}),
    );
    assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
    // Upstream custom cases "delete all keys from map" / "add key and delete all keys from map".
    assert_eq!(
        item(
            json!({"name": "1", "value": "1"}),
            json!({"$patch": "replace"})
        ),
        json!({})
    );
    assert_eq!(
        item(
            json!({"name": "1", "value": "1"}),
            json!({"other": "a", "$patch": "replace"})
        ),
        json!({"other": "a"})
    );
}

#[test]
fn patch_delete_in_map_leaves_an_empty_map() {
    let mut d = deployment();
    d["spec"]["template"]["spec"]["securityContext"] = json!({"runAsUser": 1});
    let patch = json!({"spec": {"template": {"spec": {"securityContext": {"$patch": "delete"}}}}});
    let r = apply(&d, &patch, &schema("Deployment")).unwrap();
    assert_eq!(pod_spec(&r)["securityContext"], json!({}));
    // Absent in the original: removeDirectives drops it.
    let r = patch_deploy(patch);
    assert!(pod_spec(&r).get("securityContext").is_none());
    // The whole object.
    assert_eq!(patch_deploy(json!({"$patch": "delete"})), json!({}));
    assert_eq!(
        patch_deploy(json!({"$patch": "replace", "kind": "X"})),
        json!({"kind": "X"})
    );
}

#[test]
fn unknown_patch_types_in_maps() {
    let e =
        patch_deploy_err(json!({"spec": {"strategy": {"$patch": "merge", "type": "Recreate"}}}));
    assert_eq!(
        e.to_string(),
        "unknown patch type: merge in map: map[$patch:merge type:Recreate]"
    );
    assert_eq!(e.http_code(), 500);
    let e = patch_deploy_err(json!({"spec": {"strategy": {"$patch": 1}}}));
    assert_eq!(
        e.to_string(),
        "unknown patch type: %!s(int64=1) in map: map[$patch:1]"
    );
    let e = patch_deploy_err(json!({"spec": {"strategy": {"$patch": true}}}));
    assert_eq!(
        e.to_string(),
        "unknown patch type: %!s(bool=true) in map: map[$patch:true]"
    );
}

#[test]
fn list_item_replace_directive() {
    let r = patch_deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "o", "args": null}
    ]}}}}));
    assert_eq!(
        pod_spec(&r)["containers"],
        json!([{"name": "only", "image": "o"}])
    );
    let r = patch_deploy(
        json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}]}}}}),
    );
    assert_eq!(pod_spec(&r)["containers"], json!([]));
}

#[test]
fn list_item_delete_directive() {
    let r = patch_deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "delete", "name": "sidecar"}
    ]}}}}));
    assert_eq!(names(&pod_spec(&r)["containers"]), ["app"]);
    // Upstream custom case "delete all duplicate entries in a merging list".
    let r = item(
        json!({"mergingList": [{"name": "1"}, {"name": "1"}, {"name": "2", "value": "a"}, {"name": "3"}, {"name": "3"}]}),
        json!({"mergingList": [{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]}),
    );
    assert_eq!(r["mergingList"], json!([{"name": "2", "value": "a"}]));
}

#[test]
fn list_item_directive_errors() {
    let cs = |items: Value| json!({"spec": {"template": {"spec": {"containers": items}}}});
    let e = patch_deploy_err(cs(json!([{"$patch": "merge", "name": "app"}])));
    assert_eq!(e, SmpError::MergeDirectiveInList);
    assert_eq!(
        e.to_string(),
        "merging lists cannot yet be specified in the patch"
    );
    let e = patch_deploy_err(cs(json!([{"$patch": "bogus", "name": "app"}])));
    assert_eq!(
        e.to_string(),
        "unknown patch type: bogus in map: map[$patch:bogus name:app]"
    );
    let e = patch_deploy_err(cs(json!([{"$patch": "delete", "image": "x"}])));
    assert_eq!(
        e.to_string(),
        "map: map[$patch:delete image:x] does not contain declared merge key: name"
    );
    assert_eq!(e.http_code(), 500);
}

// ---------------------------------------------------------------------------
// `$retainKeys`.

#[test]
fn retain_keys_kubectl_apply_switches_strategy() {
    // `kubectl apply` changing RollingUpdate (with rollingUpdate) to Recreate.
    let r = patch_deploy(json!({"spec": {"strategy": {
        "$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"
    }}}));
    assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
    // A defaulted field the manifest never set is cleared too.
    let r =
        patch_deploy(json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}));
    assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_in_a_merge_list_item() {
    let r = patch_deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "data"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}, "emptyDir": null, "name": "data"}]
    }}}}));
    assert_eq!(
        pod_spec(&r)["volumes"],
        json!([{"name": "data", "configMap": {"name": "cm"}}])
    );
}

#[test]
fn retain_keys_errors() {
    let e = patch_deploy_err(
        json!({"spec": {"strategy": {"$retainKeys": "type", "type": "Recreate"}}}),
    );
    assert_eq!(e, SmpError::BadPatchFormatForRetainKeys);
    assert_eq!(e.to_string(), "invalid patch format of retainKeys");
    assert_eq!(e.http_code(), 400);
    assert_eq!(e.status_reason(), "BadRequest");
    let e = patch_deploy_err(
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
    );
    assert_eq!(e, SmpError::BadPatchFormatForRetainKeys);
    // Nulls and parallel-list directives need not be listed.
    let r = patch_deploy(json!({"metadata": {"$retainKeys": ["name"], "labels": null,
        "$deleteFromPrimitiveList/finalizers": ["a"]}}));
    assert_eq!(r["metadata"], json!({"name": "web"}));
}

// ---------------------------------------------------------------------------
// `$setElementOrder` and `$deleteFromPrimitiveList`.

#[test]
fn set_element_order_kubectl_apply_inserts_in_place() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "mid"}, {"name": "sidecar"}],
        "containers": [{"name": "mid", "image": "m"}]
    }}}});
    let r = patch_deploy(patch.clone());
    assert_eq!(
        names(&pod_spec(&r)["containers"]),
        ["app", "mid", "sidecar"]
    );
    // Server-only items (e.g. injected) keep their live neighbourhood.
    let mut d = deployment();
    d["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .insert(1, json!({"name": "injected"}));
    let r = apply(&d, &patch, &schema("Deployment")).unwrap();
    assert_eq!(
        names(&pod_spec(&r)["containers"]),
        ["app", "mid", "injected", "sidecar"]
    );
}

#[test]
fn set_element_order_alone_reorders() {
    let r = patch_deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]
    }}}}));
    assert_eq!(names(&pod_spec(&r)["containers"]), ["sidecar", "app"]);
    let r = patch_deploy(json!({"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}));
    assert_eq!(r["metadata"]["finalizers"], json!(["c", "a", "b"]));
}

#[test]
fn set_element_order_upstream_raw_cases() {
    // "$setElementOrder contains item that is not present in the list to be merged".
    let r = item(
        json!({"mergingList": [{"name": "1"}, {"name": "3"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "3"}, {"name": "2"}, {"name": "1"}],
               "mergingList": [{"name": "3", "value": "3"}, {"name": "1", "value": "1"}]}),
    );
    assert_eq!(
        r["mergingList"],
        json!([{"name": "3", "value": "3"}, {"name": "1", "value": "1"}])
    );
    let r = item(
        json!({"mergingIntList": [1, 3]}),
        json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
    );
    assert_eq!(r["mergingIntList"], json!([3, 1]));
    // "should check if order in $setElementOrder and patch list match".
    let e = item_err(
        json!({"mergingList": [{"name": "1"}, {"name": "3"}, {"name": "2"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}],
               "mergingList": [{"name": "3", "value": "3"}, {"name": "1", "value": "1"}]}),
    );
    assert_eq!(
        e.to_string(),
        "The order in patch list:\n[map[name:3 value:3] map[name:1 value:1]]\n doesn't match \
         $setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]\n"
    );
    assert_eq!(e.http_code(), 500);
    let e = item_err(
        json!({"mergingIntList": [1, 3, 2]}),
        json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}),
    );
    assert!(e.to_string().contains("doesn't match"));
}

#[test]
fn kubectl_apply_removes_env_var_and_container() {
    // kubectl 1.33 three-way patch after deleting env B and container sidecar.
    let r = patch_deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [
            {"$setElementOrder/env": [{"name": "A"}], "env": [{"$patch": "delete", "name": "B"}], "name": "app"},
            {"$patch": "delete", "name": "sidecar"}
        ]
    }}}}));
    let cs = &pod_spec(&r)["containers"];
    assert_eq!(names(cs), ["app"]);
    assert_eq!(cs[0]["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(cs[0]["image"], "app:1");
}

#[test]
fn kubectl_apply_removes_finalizer() {
    let r = patch_deploy(json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["b"],
        "$setElementOrder/finalizers": ["a", "c"]
    }}));
    assert_eq!(r["metadata"]["finalizers"], json!(["a", "c"]));
}

#[test]
fn delete_from_primitive_list_semantics() {
    // Any list, regardless of strategy (args is atomic).
    let r = patch_deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "$deleteFromPrimitiveList/args": ["--a"]}
    ]}}}}));
    assert_eq!(pod_spec(&r)["containers"][0]["args"], json!([]));
    // Absent list: nothing is added.
    let r = patch_deploy(json!({"metadata": {"$deleteFromPrimitiveList/ghosts": ["x"]}}));
    assert!(r["metadata"].get("ghosts").is_none());
    // A null parallel list deletes the field, like a null value.
    let r = patch_deploy(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": null}}));
    assert!(r["metadata"].get("finalizers").is_none());
}

#[test]
fn set_element_order_with_new_list_drops_directive_items() {
    let r = patch_deploy(json!({"metadata": {
        "$setElementOrder/ownerReferences": [{"uid": "1"}],
        "ownerReferences": [{"uid": "1", "name": "o", "kind": null}, {"uid": "2", "$patch": "delete"}]
    }}));
    assert_eq!(
        r["metadata"]["ownerReferences"],
        json!([{"uid": "1", "name": "o"}])
    );
}

// ---------------------------------------------------------------------------
// Directive keys never leak.

#[test]
fn directives_never_leak_from_values_taken_wholesale() {
    let r = patch_deploy(json!({"spec": {"template": {"spec": {
        "securityContext": {
            "runAsUser": 1, "fsGroup": null, "$retainKeys": ["runAsUser"],
            "seLinuxOptions": {"$patch": "delete"},
            "$setElementOrder/x": [], "$deleteFromPrimitiveList/y": []
        },
        "containers": [{"name": "new", "image": "n", "args": null,
            "env": [{"name": "E", "value": null}, {"$patch": "replace"}],
            "securityContext": {"privileged": null, "$retainKeys": []}}]
    }}}}));
    let ps = pod_spec(&r);
    assert_eq!(ps["securityContext"], json!({"runAsUser": 1}));
    assert_eq!(
        ps["containers"][0],
        json!({"name": "new", "image": "n", "env": [{"name": "E"}], "securityContext": {}})
    );
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains('$'), "{text}");
}

// ---------------------------------------------------------------------------
// Errors.

#[test]
fn malformed_directive_keys() {
    let e = patch_deploy_err(json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}));
    assert_eq!(e, SmpError::BadPatchFormatForPrimitiveList);
    assert_eq!(e.to_string(), "invalid patch format of primitive list");
    assert_eq!(e.http_code(), 400);
    let e = patch_deploy_err(json!({"metadata": {"$deleteFromPrimitiveListX/finalizers": ["a"]}}));
    assert_eq!(e, SmpError::BadPatchFormatForPrimitiveList);
    let e = patch_deploy_err(json!({"metadata": {"$setElementOrderX/finalizers": ["a"]}}));
    assert_eq!(e, SmpError::BadPatchFormatForSetElementOrderList);
    assert_eq!(
        e.to_string(),
        "invalid patch format of setElementOrder list"
    );
    assert_eq!(e.http_code(), 400);
}

#[test]
fn bad_argument_types() {
    let e = patch_deploy_err(json!({"metadata": {"$setElementOrder/finalizers": "a"}}));
    assert_eq!(
        e.to_string(),
        "expected a []interface {}, but received a string"
    );
    assert_eq!(e.http_code(), 500);
    let e = patch_deploy_err(json!({"spec": {"$setElementOrder/replicas": [1]}}));
    assert_eq!(
        e.to_string(),
        "expected a []interface {}, but received a int64"
    );
    let e = patch_deploy_err(json!({"metadata": {"$setElementOrder/finalizers": null}}));
    assert_eq!(
        e.to_string(),
        "expected a []interface {}, but received a %!s(<nil>)"
    );
    let e = patch_deploy_err(
        json!({"spec": {"template": {"spec": {"$setElementOrder/containers": ["app"]}}}}),
    );
    assert_eq!(e, SmpError::NotAMap { index: 0 });
    assert_eq!(e.to_string(), "value for key 0 is not a map");
}

#[test]
fn missing_merge_key() {
    let e = patch_deploy_err(
        json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}}),
    );
    assert_eq!(
        e.to_string(),
        "map: map[image:nginx] does not contain declared merge key: name"
    );
    assert_eq!(e.http_code(), 500);
    assert_eq!(e.status_reason(), "");
    // A live item without the key breaks every patch of that list (#85332).
    let mut d = deployment();
    d["spec"]["template"]["spec"]["imagePullSecrets"] = json!([{}]);
    let patch = json!({"spec": {"template": {"spec": {"imagePullSecrets": [{"name": "reg"}]}}}});
    let e = apply(&d, &patch, &schema("Deployment")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "map: map[] does not contain declared merge key: name"
    );
}

#[test]
fn list_shape_errors() {
    let mut d = deployment();
    d["metadata"]["finalizers"] = json!([]);
    let s = schema("Deployment");
    let e = apply(&d, &json!({"metadata": {"finalizers": [["x"]]}}), &s).unwrap_err();
    assert_eq!(e, SmpError::NoListOfLists);
    assert_eq!(e.to_string(), "lists of lists are not supported");
    assert_eq!(e.http_code(), 422);
    assert_eq!(e.status_reason(), "Invalid");
    assert_eq!(
        e.status_message(),
        "the server rejected our request due to an error in our request"
    );
    let e = apply(
        &d,
        &json!({"metadata": {"$setElementOrder/finalizers": ["a"]}}),
        &s,
    )
    .unwrap_err();
    assert_eq!(e, SmpError::NoElements);
    assert_eq!(e.to_string(), "no elements in any of the given slices");
    let e = apply(&d, &json!({"metadata": {"finalizers": [null]}}), &s).unwrap_err();
    assert!(matches!(e, SmpError::Panic { .. }));
    assert_eq!(
        e.to_string(),
        "This request caused apiserver to panic. Look in the logs for details."
    );
    assert_eq!(e.http_code(), 500);

    let e = patch_deploy_err(json!({"metadata": {"finalizers": [1]}}));
    assert_eq!(
        e.to_string(),
        "list element types are not identical: [[a b c] [1]]"
    );
    let e = patch_deploy_err(json!({"spec": {"template": {"spec": {
        "$deleteFromPrimitiveList/tolerations": [{"key": "k1"}]
    }}}}));
    assert_eq!(
        e.to_string(),
        "cannot merge lists without merge key for struct"
    );
}

#[test]
fn unexpected_patch_strategy() {
    let mut d = deployment();
    d["status"] = json!({"weird": ["a"]});
    let e = apply(
        &d,
        &json!({"status": {"weird": ["b"]}}),
        &schema("Deployment"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unexpected patch strategy: [merge replace retainKeys]"
    );
    assert_eq!(e.http_code(), 500);
}

#[test]
fn comparing_maps_as_merge_keys_panics_like_go() {
    let e = item_err(
        json!({"mergingList": [{"name": {"a": 1}}]}),
        json!({"mergingList": [{"name": {"a": 1}, "value": "x"}]}),
    );
    assert_eq!(
        e,
        SmpError::Panic {
            reason: "runtime error: comparing uncomparable type map[string]interface {}".into()
        }
    );
}

#[test]
fn http_codes() {
    let cases = [
        (SmpError::NoListOfLists, 422),
        (SmpError::BadPatchFormatForPrimitiveList, 400),
        (SmpError::BadPatchFormatForRetainKeys, 400),
        (SmpError::BadPatchFormatForSetElementOrderList, 400),
        (SmpError::PatchNotAnObject { json_type: "array" }, 400),
        (SmpError::MergeDirectiveInList, 500),
        (SmpError::NoElements, 500),
        (SmpError::NotAMap { index: 1 }, 500),
        (
            SmpError::Panic {
                reason: String::new(),
            },
            500,
        ),
    ];
    for (e, code) in cases {
        assert_eq!(e.http_code(), code, "{e:?}");
    }
    assert_eq!(
        SmpError::BadPatchFormatForPrimitiveList.status_message(),
        "invalid patch format of primitive list"
    );
}

// ---------------------------------------------------------------------------
// Go emulation helpers.

#[test]
fn go_value_formatting() {
    assert_eq!(
        fmt_v(&json!({"b": [1, 2.5, null], "a": {"x": true}, "c": "s"})),
        "map[a:map[x:true] b:[1 2.5 <nil>] c:s]"
    );
    assert_eq!(fmt_s(&json!({"a": 1, "b": "x"})), "map[a:%!s(int64=1) b:x]");
    assert_eq!(fmt_s(&json!(1.5)), "%!s(float64=1.5)");
    assert_eq!(fmt_s(&Value::Null), "%!s(<nil>)");
    for (f, s) in [
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (123456.0, "123456"),
        (100.0, "100"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (0.0, "0"),
        (3.25, "3.25"),
    ] {
        assert_eq!(fmt_float(f), s, "{f}");
    }
}

#[test]
fn go_equality_distinguishes_int_and_float() {
    assert!(!go_eq(&json!(1), &json!(1.0)).unwrap());
    assert!(go_eq(&json!(1.5), &json!(1.5)).unwrap());
    assert!(go_eq(&Value::Null, &Value::Null).unwrap());
    assert!(!go_eq(&json!("1"), &json!(1)).unwrap());
    assert!(go_eq(&json!([1]), &json!([1])).is_err());
}

#[test]
fn go_stable_sort_matches_std_for_consistent_orders() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for len in [0, 1, 2, 5, 19, 20, 21, 39, 40, 41, 64, 100, 257] {
        let data: Vec<(usize, usize)> = (0..len).map(|i| (next() % 7, i)).collect();
        let mut ours = data.clone();
        go_stable_sort(&mut ours, &|a: &(usize, usize), b: &(usize, usize)| {
            a.0 < b.0
        });
        let mut std = data;
        std.sort_by_key(|p| p.0);
        assert_eq!(ours, std, "len {len}");
    }
}

#[test]
fn deduplicate_scalars_follows_go() {
    let r = deduplicate_scalars(vec![
        json!("a"),
        json!("b"),
        json!("a"),
        json!("c"),
        json!("b"),
    ])
    .unwrap();
    assert_eq!(r, vec![json!("a"), json!("b"), json!("c")]);
    let r = deduplicate_scalars(vec![json!(1), json!(1), json!(2), json!(3)]).unwrap();
    assert_eq!(r, vec![json!(1), json!(3), json!(2)]);
}

#[test]
fn deduplicate_scalars_simulates_the_go_loop() {
    // The indexed simulation must scramble exactly as the literal loop.
    let mut seed: u64 = 7;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for len in [0, 1, 2, 3, 5, 8, 13, 40, 100, 300] {
        for distinct in [1, 2, 3, 7, 50] {
            let items: Vec<Value> = (0..len)
                .map(|_| match next() % 3 {
                    0 => json!(next() % distinct),
                    1 => json!(format!("s{}", next() % distinct)),
                    _ => json!((next() % distinct) as f64 + 0.5),
                })
                .collect();
            assert_eq!(
                deduplicate_scalars(items.clone()).unwrap(),
                deduplicate_scalars_literally(items.clone()).unwrap(),
                "{items:?}"
            );
        }
    }
    // -0 and 0 are one float64; 1 and 1.0 are an int64 and a float64.
    assert_eq!(
        deduplicate_scalars(vec![
            json!(0.5),
            json!(-0.0),
            json!(0.0),
            json!(1),
            json!(1.0)
        ])
        .unwrap(),
        deduplicate_scalars_literally(vec![
            json!(0.5),
            json!(-0.0),
            json!(0.0),
            json!(1),
            json!(1.0)
        ])
        .unwrap(),
    );
}

#[test]
fn long_lists_merge_without_quadratic_scans() {
    // Every list operation looked items up by scanning another list (and
    // sorting did so per comparison): a 250 KiB patch of 10,000 owner
    // references took 28 s, ten times that as many took hours.
    let s = schema("Deployment");
    let n = 50_000;
    let refs = |from: usize| -> Vec<Value> {
        (from..from + n)
            .map(|i| json!({"uid": format!("u{i}"), "name": "n"}))
            .collect()
    };
    let finalizers =
        |from: usize| -> Vec<Value> { (from..from + n).map(|i| json!(format!("f{i}"))).collect() };
    let original = json!({"metadata": {"ownerReferences": refs(0), "finalizers": finalizers(0)}});
    let order: Vec<Value> = (0..n + n / 2)
        .map(|i| json!({"uid": format!("u{i}")}))
        .collect();
    let patch = json!({"metadata": {
        "ownerReferences": refs(n / 2),
        "$setElementOrder/ownerReferences": order,
        "finalizers": finalizers(n / 2),
        "$deleteFromPrimitiveList/finalizers": finalizers(n / 4)[..n / 2].to_vec(),
    }});
    let start = std::time::Instant::now();
    let out = apply(&original, &patch, &s).unwrap();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    let refs = out["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(refs.len(), n + n / 2);
    let finalizers = out["metadata"]["finalizers"].as_array().unwrap();
    assert_eq!(finalizers.len(), n + n / 2 - n / 2);
}
