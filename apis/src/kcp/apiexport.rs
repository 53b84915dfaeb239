//! APIExport `v1alpha1` ⇄ `v1alpha2` (kcp's
//! `Convert_v1alpha{1,2}_APIExport_To_v1alpha{2,1}_APIExport`).
//!
//! * `spec.latestResourceSchemas: ["v1.widgets.example.io"]` ⇄
//!   `spec.resources: [{name: widgets, group: example.io, schema:
//!   v1.widgets.example.io, storage: {crd: {}}}]`; the name is parsed as
//!   `<prefix>.<resource>.<group>` with `core` meaning the core group.
//!   Resources with another storage (virtual) have no v1alpha1 form and are
//!   kept in [`RESOURCE_SCHEMAS_ANNOTATION`].
//! * Claims: v1alpha1 `{group, resource, identityHash, all,
//!   resourceSelector}` ⇄ v1alpha2 `{group, resource, identityHash, verbs}`.
//!   The v1alpha1 claims are kept whole in
//!   [`PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION`] on the v1alpha2 form; v1alpha2
//!   claims with verbs other than `["*"]` are kept in
//!   [`PERMISSION_CLAIMS_ANNOTATION`] on the v1alpha1 form; claims without
//!   verbs become `["*"]`.
//! * Status has the same shape in both versions.
//!
//! A `storage` that is absent counts as `{crd: {}}`, the schema's default,
//! so an object stored before defaulting converts like a defaulted one.

use serde_json::{Map, Value, json};

use super::{
    ConversionError, PERMISSION_CLAIMS_ANNOTATION, PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION,
    RESOURCE_SCHEMAS_ANNOTATION, V1ALPHA1, V1ALPHA2, annotation_list, annotation_list_strict, copy,
    encode, list_at, put, remove_annotation, same_gri, set_annotation, str_at, tidy_annotations,
    v1_claim, v1_claim_of, v2_claim_base, v2_claim_of, wildcard_verbs, with_parts,
};

/// Whether a v1alpha2 resource is stored as a CRD (the only storage
/// v1alpha1 knows).
fn is_crd(resource: &Value) -> bool {
    match resource.get("storage") {
        None | Some(Value::Null) => true,
        Some(s) => s.get("crd").is_some_and(|c| !c.is_null()),
    }
}

/// Claims v1alpha1 cannot express: verbs other than `*` (and the newer
/// `defaultSelector`).
fn overhanging_claim(claim: &Value) -> bool {
    !wildcard_verbs(claim) || claim.get("defaultSelector").is_some_and(|s| !s.is_null())
}

/// v1alpha2 → v1alpha1. Does not fail: the only annotation it reads is one
/// the reverse conversion writes, and a malformed one is ignored.
pub fn to_v1alpha1(v2: &Value) -> Value {
    let spec = v2.get("spec").cloned().unwrap_or(Value::Null);
    let resources = list_at(&spec, "resources");
    let claims = list_at(&spec, "permissionClaims");

    let mut out_spec = Map::new();
    copy(&mut out_spec, &spec, "identity");
    copy(&mut out_spec, &spec, "maximalPermissionPolicy");
    let mut v1_claims: Vec<Value> = claims
        .iter()
        .map(|c| {
            v1_claim(
                str_at(c, "group"),
                str_at(c, "resource"),
                str_at(c, "identityHash"),
                false,
                Value::Null,
            )
        })
        .collect();
    // Restore `all`/`resourceSelector` of claims written as v1alpha1.
    if let Some(Ok(original)) = annotation_list(v2, PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION) {
        for pc in &original {
            for out in v1_claims.iter_mut().filter(|o| same_gri(pc, o)) {
                let restored = v1_claim_of(pc);
                for k in ["all", "resourceSelector"] {
                    match restored.get(k) {
                        Some(v) => out[k] = v.clone(),
                        None => {
                            out.as_object_mut().expect("object").remove(k);
                        }
                    }
                }
            }
        }
    }
    put(&mut out_spec, "permissionClaims", Value::Array(v1_claims));
    let latest: Vec<Value> = resources
        .iter()
        .filter(|r| is_crd(r))
        .map(|r| json!(str_at(r, "schema")))
        .collect();
    put(&mut out_spec, "latestResourceSchemas", Value::Array(latest));

    let status = v2.get("status").cloned().unwrap_or(Value::Null);
    let mut out = with_parts(v2, V1ALPHA1, Value::Object(out_spec), status);
    remove_annotation(&mut out, PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION);
    let overhanging_rs: Vec<Value> = resources.iter().filter(|r| !is_crd(r)).cloned().collect();
    if !overhanging_rs.is_empty() {
        set_annotation(
            &mut out,
            RESOURCE_SCHEMAS_ANNOTATION,
            encode(&overhanging_rs),
        );
    }
    let overhanging_pc: Vec<Value> = claims
        .iter()
        .filter(|c| overhanging_claim(c))
        .map(v2_claim_of)
        .collect();
    if !overhanging_pc.is_empty() {
        set_annotation(
            &mut out,
            PERMISSION_CLAIMS_ANNOTATION,
            encode(&overhanging_pc),
        );
    }
    tidy_annotations(&mut out);
    out
}

/// Splits `v1.widgets.example.io` into (resource, group); `core` is the
/// core group.
pub fn parse_schema_name(schema: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = schema.split('.').collect();
    if parts.len() < 3 {
        return None;
    }
    let group = parts[2..].join(".");
    let group = if group == "core" {
        String::new()
    } else {
        group
    };
    Some((parts[1].to_string(), group))
}

/// v1alpha1 → v1alpha2. Fails on a schema name with fewer than three
/// segments or a malformed round-trip annotation, as kcp's does.
pub fn to_v1alpha2(v1: &Value) -> Result<Value, ConversionError> {
    let spec = v1.get("spec").cloned().unwrap_or(Value::Null);
    let claims = list_at(&spec, "permissionClaims");

    let mut out_spec = Map::new();
    copy(&mut out_spec, &spec, "identity");
    copy(&mut out_spec, &spec, "maximalPermissionPolicy");
    let mut v2_claims: Vec<Value> = claims
        .iter()
        .map(|c| Value::Object(v2_claim_base(c)))
        .collect();
    let mut resources = Vec::new();
    for (i, s) in list_at(&spec, "latestResourceSchemas").iter().enumerate() {
        let name = s.as_str().unwrap_or("");
        let (resource, group) = parse_schema_name(name).ok_or_else(|| ConversionError {
            field: format!("spec.latestResourceSchemas[{i}]"),
            value: s.clone(),
            detail: "must have at least 3 dot-separated segments".into(),
        })?;
        resources.push(json!({
            "group": group,
            "name": resource,
            "schema": name,
            "storage": {"crd": {}},
        }));
    }
    if let Some(extra) = annotation_list_strict(v1, RESOURCE_SCHEMAS_ANNOTATION)? {
        resources.extend(extra);
    }
    if let Some(overhanging) = annotation_list_strict(v1, PERMISSION_CLAIMS_ANNOTATION)? {
        for pc in &overhanging {
            for out in v2_claims.iter_mut().filter(|o| same_gri(pc, o)) {
                out["verbs"] = pc.get("verbs").cloned().unwrap_or(Value::Null);
                if let Some(sel) = pc.get("defaultSelector").filter(|s| !s.is_null()) {
                    out["defaultSelector"] = sel.clone();
                }
            }
        }
    }
    for c in v2_claims.iter_mut() {
        if list_at(c, "verbs").is_empty() {
            c["verbs"] = json!(["*"]);
        }
    }
    put(&mut out_spec, "permissionClaims", Value::Array(v2_claims));
    put(&mut out_spec, "resources", Value::Array(resources));

    let status = v1.get("status").cloned().unwrap_or(Value::Null);
    let mut out = with_parts(v1, V1ALPHA2, Value::Object(out_spec), status);
    remove_annotation(&mut out, RESOURCE_SCHEMAS_ANNOTATION);
    remove_annotation(&mut out, PERMISSION_CLAIMS_ANNOTATION);
    if !claims.is_empty() {
        let original: Vec<Value> = claims.iter().map(v1_claim_of).collect();
        set_annotation(
            &mut out,
            PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION,
            encode(&original),
        );
    }
    tidy_annotations(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(api_version: &str, spec: Value) -> Value {
        json!({"apiVersion": api_version, "kind": "APIExport", "metadata": {"name": "x"}, "spec": spec})
    }

    #[test]
    fn latest_resource_schemas_become_resources() {
        let v1 = export(
            V1ALPHA1,
            json!({"latestResourceSchemas": ["v1.widgets.example.io", "v2.configmaps.core"]}),
        );
        let v2 = to_v1alpha2(&v1).unwrap();
        assert_eq!(v2["apiVersion"], V1ALPHA2);
        assert_eq!(
            v2["spec"]["resources"],
            json!([
                {"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}},
                {"name": "configmaps", "group": "", "schema": "v2.configmaps.core", "storage": {"crd": {}}},
            ])
        );
        assert!(v2["metadata"].get("annotations").is_none());
        assert_eq!(to_v1alpha1(&v2), v1);
    }

    #[test]
    fn resources_become_latest_resource_schemas() {
        let v2 = export(
            V1ALPHA2,
            json!({"resources": [{"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}}]}),
        );
        let v1 = to_v1alpha1(&v2);
        assert_eq!(
            v1["spec"],
            json!({"latestResourceSchemas": ["v1.widgets.example.io"]})
        );
        assert_eq!(to_v1alpha2(&v1).unwrap(), v2);
    }

    #[test]
    fn virtual_resources_travel_in_an_annotation() {
        let virt = json!({"name": "things", "group": "example.io", "schema": "v1.things.example.io",
            "storage": {"virtual": {"reference": {"apiGroup": "cache.kcp.io", "kind": "CachedResourceEndpointSlice", "name": "t"}, "identityHash": "abc"}}});
        let v2 = export(
            V1ALPHA2,
            json!({"resources": [
                {"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}},
                virt.clone(),
            ]}),
        );
        let v1 = to_v1alpha1(&v2);
        assert_eq!(
            v1["spec"]["latestResourceSchemas"],
            json!(["v1.widgets.example.io"])
        );
        let kept: Value = serde_json::from_str(
            v1["metadata"]["annotations"][RESOURCE_SCHEMAS_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(kept, json!([virt]));
        assert_eq!(to_v1alpha2(&v1).unwrap(), v2);
    }

    #[test]
    fn v1alpha1_claims_round_trip_through_v1alpha2() {
        let v1 = export(
            V1ALPHA1,
            json!({"permissionClaims": [
                {"group": "", "resource": "configmaps", "all": true},
                {"group": "example.io", "resource": "things", "identityHash": "h1",
                 "resourceSelector": [{"name": "a", "namespace": "b"}]},
            ]}),
        );
        let v2 = to_v1alpha2(&v1).unwrap();
        assert_eq!(
            v2["spec"]["permissionClaims"],
            json!([
                {"resource": "configmaps", "verbs": ["*"]},
                {"group": "example.io", "resource": "things", "identityHash": "h1", "verbs": ["*"]},
            ])
        );
        let kept = v2["metadata"]["annotations"][PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION]
            .as_str()
            .unwrap();
        assert!(kept.contains("resourceSelector"), "{kept}");
        let back = to_v1alpha1(&v2);
        // The core group reads back without the empty `group` (omitempty);
        // the served form's defaulting puts `group: ""` back.
        assert_eq!(
            back["spec"]["permissionClaims"],
            json!([
                {"resource": "configmaps", "all": true},
                {"group": "example.io", "resource": "things", "identityHash": "h1",
                 "resourceSelector": [{"name": "a", "namespace": "b"}]},
            ])
        );
        assert!(back["metadata"].get("annotations").is_none());
    }

    #[test]
    fn v1alpha2_verbs_round_trip_through_v1alpha1() {
        let v2 = export(
            V1ALPHA2,
            json!({"permissionClaims": [
                {"group": "", "resource": "secrets", "verbs": ["get", "list"]},
                {"group": "", "resource": "configmaps", "verbs": ["*"]},
            ], "identity": {"secretRef": {"name": "s", "namespace": "kcp-system"}},
               "maximalPermissionPolicy": {"local": {}}}),
        );
        let v1 = to_v1alpha1(&v2);
        assert_eq!(
            v1["spec"]["permissionClaims"],
            json!([{"resource": "secrets"}, {"resource": "configmaps"}])
        );
        assert_eq!(v1["spec"]["identity"], v2["spec"]["identity"]);
        let kept: Value = serde_json::from_str(
            v1["metadata"]["annotations"][PERMISSION_CLAIMS_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            kept,
            json!([{"resource": "secrets", "verbs": ["get", "list"]}])
        );
        let back = to_v1alpha2(&v1).unwrap();
        assert_eq!(
            back["spec"]["permissionClaims"],
            json!([
                {"resource": "secrets", "verbs": ["get", "list"]},
                {"resource": "configmaps", "verbs": ["*"]},
            ])
        );
        // The v1alpha1 form's claims are remembered on the stored form.
        assert!(
            back["metadata"]["annotations"]
                .get(PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION)
                .is_some()
        );
        assert!(
            back["metadata"]["annotations"]
                .get(PERMISSION_CLAIMS_ANNOTATION)
                .is_none()
        );
        // ... and a second trip gives the same v1alpha1 form.
        assert_eq!(to_v1alpha1(&back), v1);
    }

    #[test]
    fn status_and_metadata_are_kept() {
        let mut v2 = export(V1ALPHA2, json!({}));
        v2["metadata"]["labels"] = json!({"a": "b"});
        v2["status"] = json!({"identityHash": "abc", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]});
        let v1 = to_v1alpha1(&v2);
        assert_eq!(v1["status"], v2["status"]);
        assert_eq!(v1["metadata"], v2["metadata"]);
        assert_eq!(to_v1alpha2(&v1).unwrap(), v2);
    }

    #[test]
    fn bad_schema_names_and_annotations_are_errors() {
        let v1 = export(
            V1ALPHA1,
            json!({"latestResourceSchemas": ["v1.widgets.example.io", "widgets"]}),
        );
        let e = to_v1alpha2(&v1).unwrap_err();
        assert_eq!(e.field, "spec.latestResourceSchemas[1]");
        let mut v1 = export(V1ALPHA1, json!({}));
        v1["metadata"]["annotations"] = json!({RESOURCE_SCHEMAS_ANNOTATION: "{"});
        let e = to_v1alpha2(&v1).unwrap_err();
        assert_eq!(
            e.field,
            format!("metadata.annotations[{RESOURCE_SCHEMAS_ANNOTATION}]")
        );
    }

    #[test]
    fn schema_names_parse() {
        assert_eq!(
            parse_schema_name("v1.widgets.example.io"),
            Some(("widgets".into(), "example.io".into()))
        );
        assert_eq!(
            parse_schema_name("today.pods.core"),
            Some(("pods".into(), String::new()))
        );
        assert_eq!(parse_schema_name("v1.widgets"), None);
    }
}
