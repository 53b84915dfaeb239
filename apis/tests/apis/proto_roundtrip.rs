//! Fully populated JSON -> protobuf -> JSON for every supported kind.

use crate::proto_support::*;
use k8s_pb::api::{
    authentication::v1 as authn, authorization::v1 as authz, coordination::v1 as coord,
    core::v1 as core, events::v1 as events, rbac::v1 as rbac,
};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as metav1;
use serde_json::{Value, json};

#[test]
fn namespace() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta("ns1"),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {
            "phase": "Terminating",
            "conditions": [{
                "type": "NamespaceDeletionDiscoveryFailure",
                "status": "False",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "reason": "ResourcesDiscovered",
                "message": "All resources successfully discovered"
            }]
        }
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<core::Namespace>(&body);
}

#[test]
fn configmap() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("cm1"),
        "immutable": false,
        "data": {"key": "value", "multi": "line1\nline2", "blank": ""},
        "binaryData": {"bin": "AAECA/8="}
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<core::ConfigMap>(&body);
    let (_, cm) = unwrap::<core::ConfigMap>(&body);
    assert_eq!(cm.binary_data["bin"], vec![0, 1, 2, 3, 255]);
    // Empty values survive in both maps.
    roundtrip(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "data": {"e": ""}, "binaryData": {"nul": ""}}));
}

#[test]
fn resource_quota() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta("q1"),
        "spec": {
            "hard": {"count/configmaps": "10", "requests.cpu": "1500m"},
            "scopes": ["NotTerminating"],
            "scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
            ]}
        },
        "status": {
            "hard": {"count/configmaps": "10", "requests.cpu": "1500m"},
            "used": {"count/configmaps": "3", "requests.cpu": "0"}
        }
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<core::ResourceQuota>(&body);
}

#[test]
fn limit_range() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": meta("lr1"),
        "spec": {"limits": [{
            "type": "Container",
            "max": {"cpu": "2", "memory": "1Gi"},
            "min": {"cpu": "100m"},
            "default": {"cpu": "500m"},
            "defaultRequest": {"cpu": "250m"},
            "maxLimitRequestRatio": {"cpu": "4"}
        }]}
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<core::LimitRange>(&body);
}

#[test]
fn secret() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta("s1"),
        "immutable": true,
        "data": {"password": "c2VjcmV0", "token": "dG9rZW4tdmFsdWU="},
        "stringData": {"plain": "text"},
        "type": "Opaque"
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<core::Secret>(&body);
    let (_, s) = unwrap::<core::Secret>(&body);
    assert_eq!(s.data["password"], b"secret");
}

#[test]
fn service_account() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta("default"),
        "secrets": [object_reference("a")],
        "imagePullSecrets": [{"name": "regcred"}],
        "automountServiceAccountToken": false
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<core::ServiceAccount>(&body);
}

#[test]
fn core_event() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta("web.1234"),
        "involvedObject": object_reference("inv"),
        "reason": "Started",
        "message": "Started container app",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": "2026-01-02T03:05:05Z",
        "count": 3,
        "type": "Normal",
        "eventTime": "2026-01-02T03:04:05.123456Z",
        "series": {"count": 2, "lastObservedTime": "2026-01-02T03:05:05.000001Z"},
        "action": "Start",
        "related": object_reference("rel"),
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1"
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<core::Event>(&body);
    let (_, ev) = unwrap::<core::Event>(&body);
    let et = ev.event_time.unwrap();
    assert_eq!(
        (et.seconds, et.nanos),
        (Some(1_767_323_045), Some(123_456_000))
    );
}

#[test]
fn events_v1_event() {
    let obj = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta("web.5678"),
        "eventTime": "2026-01-02T03:04:05.123456Z",
        "series": {"count": 0, "lastObservedTime": "2026-01-02T03:05:05.654321Z"},
        "reportingController": "example.com/controller",
        "reportingInstance": "controller-0",
        "action": "Reconcile",
        "reason": "Synced",
        "regarding": object_reference("reg"),
        "related": object_reference("rel"),
        "note": "synced successfully",
        "type": "Normal",
        "deprecatedSource": {"component": "ctrl", "host": "node-2"},
        "deprecatedFirstTimestamp": "2026-01-02T03:04:05Z",
        "deprecatedLastTimestamp": "2026-01-02T03:06:05Z",
        "deprecatedCount": 4
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<events::Event>(&body);
}

#[test]
fn lease() {
    let obj = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta("kube-controller-manager"),
        "spec": {
            "holderIdentity": "node-1_0b3a",
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-02T03:04:05.000000Z",
            "renewTime": "2026-01-02T03:04:20.500000Z",
            "leaseTransitions": 0,
            "strategy": "OldestEmulationVersion",
            "preferredHolder": "node-2"
        }
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<coord::Lease>(&body);
}

#[test]
fn token_request() {
    let obj = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": meta("default"),
        "spec": {
            "audiences": ["https://kubernetes.default.svc"],
            "expirationSeconds": 3600,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-0", "uid": "pod-uid"}
        },
        "status": {"token": "eyJhbGciOi.payload.sig", "expirationTimestamp": "2026-01-02T04:04:05Z"}
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<authn::TokenRequest>(&body);
}

#[test]
fn self_subject_review() {
    let obj = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "SelfSubjectReview",
        "metadata": meta("whoami"),
        "status": {"userInfo": {
            "username": "jane",
            "uid": "uid-jane",
            "groups": ["system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=abc"]}
        }}
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<authn::SelfSubjectReview>(&body);
}

#[test]
fn subject_access_review() {
    let obj = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "metadata": meta("sar"),
        "spec": subject_access_review_spec(),
        "status": subject_access_review_status()
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<authz::SubjectAccessReview>(&body);
}

#[test]
fn local_subject_access_review() {
    let obj = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "LocalSubjectAccessReview",
        "metadata": meta("lsar"),
        "spec": subject_access_review_spec(),
        "status": subject_access_review_status()
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<authz::LocalSubjectAccessReview>(&body);
}

#[test]
fn self_subject_access_review() {
    let mut spec = subject_access_review_spec();
    let spec_obj = spec.as_object_mut().unwrap();
    for k in ["user", "groups", "extra", "uid"] {
        spec_obj.remove(k);
    }
    let obj = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": meta("ssar"),
        "spec": spec,
        "status": {"allowed": true, "denied": true, "reason": "r", "evaluationError": "e"}
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<authz::SelfSubjectAccessReview>(&body);
}

#[test]
fn self_subject_rules_review() {
    let obj = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "metadata": meta("ssrr"),
        "spec": {"namespace": "team-a"},
        "status": {
            "resourceRules": [{
                "verbs": ["get"],
                "apiGroups": [""],
                "resources": ["pods"],
                "resourceNames": ["web-0"]
            }],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/version"]}],
            "incomplete": false,
            "evaluationError": "webhook timed out"
        }
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<authz::SelfSubjectRulesReview>(&body);
}

#[test]
fn role() {
    let obj = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": meta("reader"),
        "rules": [policy_rule()]
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<rbac::Role>(&body);
}

#[test]
fn cluster_role() {
    let obj = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": meta("aggregate"),
        "rules": [policy_rule(), {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                  "resourceNames": ["x"], "nonResourceURLs": ["*"]}],
        "aggregationRule": {"clusterRoleSelectors": [label_selector()]}
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<rbac::ClusterRole>(&body);
}

fn binding(kind: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta("binding"),
        "subjects": [
            {"kind": "ServiceAccount", "apiGroup": "x", "name": "default", "namespace": "team-a"},
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "jane", "namespace": "n"}
        ],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    })
}

#[test]
fn role_binding() {
    let body = roundtrip(&binding("RoleBinding"));
    assert_fully_populated::<rbac::RoleBinding>(&body);
}

#[test]
fn cluster_role_binding() {
    let body = roundtrip(&binding("ClusterRoleBinding"));
    assert_fully_populated::<rbac::ClusterRoleBinding>(&body);
}

#[test]
fn status() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": list_meta(),
        "status": "Failure",
        "message": "configmaps \"x\" not found",
        "reason": "NotFound",
        "details": {
            "name": "x",
            "group": "apps",
            "kind": "configmaps",
            "uid": "uid-x",
            "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "metadata.name"}],
            "retryAfterSeconds": 5
        },
        "code": 404
    });
    let body = roundtrip(&obj);
    assert_fully_populated::<metav1::Status>(&body);
}

#[test]
fn delete_options_any_group_version() {
    // client-go encodes DeleteOptions with the group version of the resource.
    for api_version in ["v1", "rbac.authorization.k8s.io/v1", "meta.k8s.io/v1"] {
        let obj = json!({
            "apiVersion": api_version,
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1", "resourceVersion": "12"},
            "orphanDependents": false,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
            "ignoreStoreReadErrorWithClusterBreakingPotential": true
        });
        let body = roundtrip(&obj);
        assert_fully_populated::<metav1::DeleteOptions>(&body);
    }
}

#[test]
fn watch_event_kind() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("w"),
                    "data": {"a": "b"}});
    let obj = json!({"apiVersion": "v1", "kind": "WatchEvent", "type": "MODIFIED", "object": cm});
    let body = roundtrip(&obj);
    assert_fully_populated::<metav1::WatchEvent>(&body);
}

#[test]
fn unknown_json_fields_are_ignored() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "bogus": 1, "labels": {"a": "b"}},
        "data": {"k": "v"},
        "status": {"whatever": true},
        "extra": [1, 2, 3]
    });
    let back = trellis_apis::proto::decode(&trellis_apis::proto::encode(&obj).unwrap()).unwrap();
    assert_eq!(
        back,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "x", "labels": {"a": "b"}}, "data": {"k": "v"}})
    );
}

#[test]
fn every_registered_kind_round_trips_minimal() {
    for (api_version, kind) in trellis_apis::proto::supported_kinds() {
        let api_version = if api_version == "*" {
            "v1"
        } else {
            api_version
        };
        let obj = if kind.ends_with("List") {
            json!({"apiVersion": api_version, "kind": kind, "metadata": {}, "items": []})
        } else if kind == "WatchEvent" {
            json!({"apiVersion": api_version, "kind": kind, "type": "ADDED",
                   "object": {"apiVersion": "v1", "kind": "Status"}})
        } else {
            json!({"apiVersion": api_version, "kind": kind})
        };
        assert!(trellis_apis::proto::supports(api_version, kind));
        roundtrip(&obj);
    }
}
