//! Each kind read from and written to kcp's JSON: objects in the shape
//! kcp's controllers write survive a round trip unchanged, so the field
//! names (`URL`, an owner's `uid` against a bound schema's `UID`, the
//! inlined claim fields) are kcp's.

use serde_json::{Value, json};

use super::*;

fn round_trip<T: KcpObject + std::fmt::Debug>(v: Value) -> T {
    let typed: T = from_value(&v).expect("reads");
    assert_eq!(to_value(&typed), v, "round trip of {}", T::KIND);
    typed
}

#[test]
fn workspace() {
    let ws: Workspace = round_trip(json!({
        "apiVersion": "tenancy.kcp.io/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "team-a", "annotations": {"experimental.tenancy.kcp.io/owner": "{}"}},
        "spec": {
            "type": {"name": "team", "path": "root"},
            "cluster": "2x4kq7c3b9hd1m0z",
            "URL": "https://example.test/clusters/root:org:team-a",
            "location": {"selector": {"matchLabels": {"region": "eu"}}},
        },
        "status": {
            "phase": "Initializing",
            "initializers": ["root:team"],
            "conditions": [{"type": "WorkspaceScheduled", "status": "True", "lastTransitionTime": "2026-12-08T00:00:00Z"}],
        },
    }));
    assert_eq!(ws.spec.type_.unwrap().qualified("x"), "root:team");
    assert_eq!(ws.status.phase, phase::INITIALIZING);
    // Go's omitempty: an empty spec reads, and writes as `{}`.
    let bare: Workspace = from_value(&json!({"metadata": {"name": "w"}})).unwrap();
    assert_eq!(bare.spec, WorkspaceSpec::default());
    assert_eq!(
        to_value(&bare),
        json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": "w"}, "spec": {}})
    );
}

#[test]
fn workspace_type() {
    let t: WorkspaceType = round_trip(json!({
        "apiVersion": "tenancy.kcp.io/v1alpha1",
        "kind": "WorkspaceType",
        "metadata": {"name": "team"},
        "spec": {
            "initializer": true,
            "terminator": true,
            "extend": {"with": [{"name": "universal", "path": "root"}]},
            "additionalWorkspaceLabels": {"tier": "team"},
            "defaultChildWorkspaceType": {"name": "universal", "path": "root"},
            "limitAllowedParents": {"types": [{"name": "organization", "path": "root"}]},
            "limitAllowedChildren": {"none": true},
            "defaultAPIBindings": [{"path": "root", "export": "tenancy.kcp.io"}, {"export": "local"}],
            "defaultAPIBindingLifecycle": "InitializeOnly",
            "initializerPermissions": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}],
        },
    }));
    assert!(t.spec.limit_allowed_children.unwrap().none);
    assert_eq!(t.spec.default_api_bindings[1].path, "");
}

#[test]
fn logical_cluster_owner_uid_is_lower_case() {
    let lc: LogicalCluster = round_trip(json!({
        "apiVersion": "core.kcp.io/v1alpha1",
        "kind": "LogicalCluster",
        "metadata": {"name": "cluster", "annotations": {"kcp.io/path": "root:org"}},
        "spec": {
            "owner": {"apiVersion": "tenancy.kcp.io/v1alpha1", "resource": "workspaces", "name": "org", "cluster": "root", "uid": "u-1"},
            "initializers": ["root:universal"],
            "terminators": ["root:org-term"],
        },
        "status": {"phase": "Ready", "URL": "https://example.test/clusters/root:org"},
    }));
    assert_eq!(lc.spec.owner.as_ref().unwrap().uid, "u-1");
    assert_eq!(lc.annotation("kcp.io/path"), "root:org");
    assert_eq!(lc.annotation("absent"), "");
}

#[test]
fn api_export_and_binding_claims_inline_their_fields() {
    let e: APIExport = round_trip(json!({
        "apiVersion": "apis.kcp.io/v1alpha2",
        "kind": "APIExport",
        "metadata": {"name": "widgets"},
        "spec": {
            "resources": [{"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}}],
            "identity": {"secretRef": {"name": "id", "namespace": "kcp-system"}},
            "permissionClaims": [
                {"resource": "configmaps", "verbs": ["get", "list"]},
                {"group": "other.io", "resource": "things", "identityHash": "abc", "verbs": ["*"], "defaultSelector": {"matchLabels": {"a": "b"}}},
            ],
        },
        "status": {"identityHash": "f00", "virtualWorkspaces": [{"url": "https://x/services/apiexport/c/widgets"}]},
    }));
    assert!(e.spec.resources[0].storage.crd.is_some());
    assert_eq!(
        e.spec.permission_claims[1].gri(),
        ("other.io", "things", "abc")
    );

    let b: APIBinding = round_trip(json!({
        "apiVersion": "apis.kcp.io/v1alpha2",
        "kind": "APIBinding",
        "metadata": {"name": "widgets"},
        "spec": {
            "reference": {"export": {"path": "root:provider", "name": "widgets"}},
            "permissionClaims": [{"resource": "configmaps", "verbs": ["get"], "selector": {"matchAll": true}, "state": "Accepted"}],
        },
        "status": {
            "phase": "Bound",
            "apiExportClusterName": "p1",
            "boundResources": [{"group": "example.io", "resource": "widgets", "schema": {"name": "v1.widgets.example.io", "UID": "s-1", "identityHash": "f00"}, "storageVersions": ["v1"]}],
            "appliedPermissionClaims": [{"resource": "configmaps", "verbs": ["get"], "selector": {"matchAll": true}}],
            "exportPermissionClaims": [{"resource": "configmaps", "verbs": ["get"]}],
        },
    }));
    assert_eq!(b.export(), ("root:provider", "widgets"));
    assert_eq!(b.spec.permission_claims[0].state, "Accepted");
    assert!(b.spec.permission_claims[0].scoped.selector.match_all);
    assert_eq!(b.status.bound_resources[0].schema.uid, "s-1");
}

#[test]
fn schema_and_endpoint_slice() {
    let s: APIResourceSchema = round_trip(json!({
        "apiVersion": "apis.kcp.io/v1alpha1",
        "kind": "APIResourceSchema",
        "metadata": {"name": "v1.widgets.example.io"},
        "spec": {
            "group": "example.io",
            "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"type": "object"}},
                {"name": "v1", "served": true, "storage": true, "schema": {"type": "object"}, "subresources": {"status": {}}},
            ],
        },
    }));
    assert_eq!(s.storage_version(), Some("v1"));
    let _: APIExportEndpointSlice = round_trip(json!({
        "apiVersion": "apis.kcp.io/v1alpha1",
        "kind": "APIExportEndpointSlice",
        "metadata": {"name": "widgets"},
        "spec": {"export": {"path": "root:provider", "name": "widgets"}},
        "status": {"endpoints": [{"url": "https://x/services/apiexport/p1/widgets"}]},
    }));
}

#[test]
fn a_mistyped_field_is_an_error_not_a_default() {
    let bad = json!({"metadata": {"name": "w"}, "spec": {"cluster": 7}});
    assert!(from_value::<Workspace>(&bad).is_err());
}

#[test]
fn groups_and_versions_come_from_the_api_version() {
    assert_eq!(Workspace::group(), "tenancy.kcp.io");
    assert_eq!(LogicalCluster::group(), "core.kcp.io");
    assert_eq!(APIBinding::version(), "v1alpha2");
    assert_eq!(APIExportEndpointSlice::version(), "v1alpha1");
    assert_eq!(APIResourceSchema::PLURAL, "apiresourceschemas");
}

/// Fields the stored schema leaves free-form decode whatever they hold:
/// an object the server admitted must never be one its controllers
/// cannot read.
#[test]
fn free_form_fields_decode_anything() {
    let ws = json!({"spec": {"location": {"selector": {"matchLabels": {"a": 1}, "matchExpressions": "x"}}}});
    assert!(from_value::<Workspace>(&ws).is_ok());
    let t = json!({"spec": {"initializerPermissions": [{"verbs": "create"}, 7], "terminatorPermissions": [null]}});
    assert!(from_value::<WorkspaceType>(&t).is_ok());
    let s = json!({"spec": {"names": {"plural": "ws", "kind": "W"}, "versions": [{"name": "v1", "schema": {}, "additionalPrinterColumns": [{"priority": 3000000000u64}], "subresources": {"status": {"x": 1}}}]}});
    assert!(from_value::<APIResourceSchema>(&s).is_ok());
}
