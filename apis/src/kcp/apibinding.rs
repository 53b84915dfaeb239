//! APIBinding `v1alpha1` ⇄ `v1alpha2` (kcp's
//! `Convert_v1alpha{1,2}_APIBinding_To_v1alpha{2,1}_APIBinding`).
//!
//! The binding's claims carry the consumer's decision (`state`) about what
//! the export asks for. v1alpha1 claims say *which objects* with `all` or
//! `resourceSelector`; v1alpha2 claims say it with `selector` (a label
//! selector or `matchAll`) and add `verbs`:
//!
//! * `all` ⇄ `selector.matchAll`; a v1alpha1 claim with neither (or with a
//!   `resourceSelector`, which v1alpha2 cannot express and which always
//!   behaved as "all") becomes `matchAll: true`;
//! * claims without verbs become `verbs: ["*"]`;
//! * what one form cannot hold travels in annotations: v1alpha1 claims with
//!   resource selectors ([`PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION`]),
//!   v1alpha2 claims that are not `["*"]` + `matchAll`
//!   ([`ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION`]), and the same for the
//!   two claim lists in status.
//!
//! `reference`, `boundResources`, `phase`, `conditions` and
//! `apiExportClusterName` have the same shape in both versions.

use serde_json::{Map, Value, json};

use super::{
    ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION, ConversionError,
    PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION, STATUS_APPLIED_CLAIMS_ANNOTATION,
    STATUS_APPLIED_CLAIMS_V1ALPHA1_ANNOTATION, STATUS_PERMISSION_CLAIMS_ANNOTATION,
    STATUS_PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION, V1ALPHA1, V1ALPHA2, annotation_list,
    annotation_list_strict, bool_at, copy, encode, list_at, put, remove_annotation, same_gri,
    set_annotation, str_at, tidy_annotations, v1_claim, v1_claim_of, v2_claim_base, v2_claim_of,
    wildcard_verbs, with_parts,
};

fn match_all(claim: &Value) -> bool {
    claim
        .get("selector")
        .is_some_and(|s| bool_at(s, "matchAll"))
}

/// `verbs: ["*"]` and `matchAll`: all that v1alpha1 can express.
fn expressible(claim: &Value) -> bool {
    wildcard_verbs(claim) && match_all(claim)
}

fn has_resource_selector(claim: &Value) -> bool {
    !list_at(claim, "resourceSelector").is_empty()
}

/// A v1alpha2 `ScopedPermissionClaim` as Go marshals it (`selector` is not
/// `omitempty`).
fn v2_scoped_of(c: &Value) -> Value {
    let mut v = v2_claim_of(c);
    v["selector"] = c.get("selector").cloned().unwrap_or_else(|| json!({}));
    v
}

/// A v1alpha2 `AcceptablePermissionClaim` as Go marshals it.
fn v2_acceptable_of(c: &Value) -> Value {
    let mut v = v2_scoped_of(c);
    v["state"] = c.get("state").cloned().unwrap_or_else(|| json!(""));
    v
}

/// A v1alpha1 claim from a v1alpha2 one: `all` from `selector.matchAll`.
fn to_v1_claim(c: &Value, with_all: bool) -> Value {
    v1_claim(
        str_at(c, "group"),
        str_at(c, "resource"),
        str_at(c, "identityHash"),
        with_all && match_all(c),
        Value::Null,
    )
}

/// A v1alpha2 scoped claim from a v1alpha1 one (verbs left unset).
fn to_v2_scoped(c: &Value) -> Value {
    let mut m = v2_claim_base(c);
    let mut sel = Map::new();
    put(&mut sel, "matchAll", json!(bool_at(c, "all")));
    m.insert("selector".into(), Value::Object(sel));
    Value::Object(m)
}

/// Puts back `all`/`resourceSelector` remembered in `key` (lenient: the
/// annotation is the server's own).
fn restore_v1_fields(from: &Value, key: &str, claims: &mut [Value]) {
    let Some(Ok(original)) = annotation_list(from, key) else {
        return;
    };
    for pc in &original {
        let restored = v1_claim_of(pc);
        for out in claims.iter_mut().filter(|o| same_gri(pc, o)) {
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

/// Puts back verbs (and selectors, when `with_selector`) remembered in
/// `key`.
fn restore_v2_fields(
    from: &Value,
    key: &str,
    claims: &mut [Value],
    with_selector: bool,
) -> Result<(), ConversionError> {
    let Some(kept) = annotation_list_strict(from, key)? else {
        return Ok(());
    };
    for pc in &kept {
        for out in claims.iter_mut().filter(|o| same_gri(pc, o)) {
            out["verbs"] = pc.get("verbs").cloned().unwrap_or(Value::Null);
            if with_selector {
                out["selector"] = pc.get("selector").cloned().unwrap_or_else(|| json!({}));
            }
        }
    }
    Ok(())
}

/// Verbs default to `*`; a selector that selects nothing means "all" (what
/// v1alpha1 resource selectors always did).
fn default_claims(claims: &mut [Value], selectors: bool) {
    for c in claims {
        if list_at(c, "verbs").is_empty() {
            c["verbs"] = json!(["*"]);
        }
        if selectors {
            let sel = c.get("selector").cloned().unwrap_or(Value::Null);
            let selects = bool_at(&sel, "matchAll")
                || sel
                    .get("matchLabels")
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty())
                || !list_at(&sel, "matchExpressions").is_empty();
            if !selects {
                let mut sel = sel.as_object().cloned().unwrap_or_default();
                sel.insert("matchAll".into(), json!(true));
                c["selector"] = Value::Object(sel);
            }
        }
    }
}

fn status_common(status: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    for k in [
        "apiExportClusterName",
        "boundResources",
        "phase",
        "conditions",
    ] {
        copy(&mut m, status, k);
    }
    m
}

/// v1alpha2 → v1alpha1. Does not fail: the annotations it reads are the
/// reverse conversion's, and malformed ones are ignored.
pub fn to_v1alpha1(v2: &Value) -> Value {
    let spec = v2.get("spec").cloned().unwrap_or(Value::Null);
    let status = v2.get("status").cloned().unwrap_or(Value::Null);
    let claims = list_at(&spec, "permissionClaims");

    let mut out_spec = Map::new();
    copy(&mut out_spec, &spec, "reference");
    let mut v1_claims: Vec<Value> = claims
        .iter()
        .map(|c| {
            let mut v = to_v1_claim(c, true);
            v["state"] = c.get("state").cloned().unwrap_or_else(|| json!(""));
            v
        })
        .collect();
    restore_v1_fields(v2, PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION, &mut v1_claims);
    put(&mut out_spec, "permissionClaims", Value::Array(v1_claims));

    let export = list_at(&status, "exportPermissionClaims");
    let applied = list_at(&status, "appliedPermissionClaims");
    let mut out_status = status_common(&status);
    let mut v1_applied: Vec<Value> = applied.iter().map(|c| to_v1_claim(c, true)).collect();
    let mut v1_export: Vec<Value> = export.iter().map(|c| to_v1_claim(c, false)).collect();
    restore_v1_fields(
        v2,
        STATUS_PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION,
        &mut v1_export,
    );
    restore_v1_fields(
        v2,
        STATUS_APPLIED_CLAIMS_V1ALPHA1_ANNOTATION,
        &mut v1_applied,
    );
    put(
        &mut out_status,
        "appliedPermissionClaims",
        Value::Array(v1_applied),
    );
    put(
        &mut out_status,
        "exportPermissionClaims",
        Value::Array(v1_export),
    );

    let mut out = with_parts(
        v2,
        V1ALPHA1,
        Value::Object(out_spec),
        Value::Object(out_status),
    );
    for k in [
        PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION,
        STATUS_PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION,
        STATUS_APPLIED_CLAIMS_V1ALPHA1_ANNOTATION,
    ] {
        remove_annotation(&mut out, k);
    }
    let overhanging: Vec<Value> = claims
        .iter()
        .filter(|c| !expressible(c))
        .map(v2_acceptable_of)
        .collect();
    if !overhanging.is_empty() {
        set_annotation(
            &mut out,
            ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION,
            encode(&overhanging),
        );
    }
    let overhanging: Vec<Value> = export
        .iter()
        .filter(|c| !wildcard_verbs(c))
        .map(v2_claim_of)
        .collect();
    if !overhanging.is_empty() {
        set_annotation(
            &mut out,
            STATUS_PERMISSION_CLAIMS_ANNOTATION,
            encode(&overhanging),
        );
    }
    let overhanging: Vec<Value> = applied
        .iter()
        .filter(|c| !expressible(c))
        .map(v2_scoped_of)
        .collect();
    if !overhanging.is_empty() {
        set_annotation(
            &mut out,
            STATUS_APPLIED_CLAIMS_ANNOTATION,
            encode(&overhanging),
        );
    }
    tidy_annotations(&mut out);
    out
}

/// v1alpha1 → v1alpha2. Fails only on a malformed round-trip annotation.
pub fn to_v1alpha2(v1: &Value) -> Result<Value, ConversionError> {
    let spec = v1.get("spec").cloned().unwrap_or(Value::Null);
    let status = v1.get("status").cloned().unwrap_or(Value::Null);
    let claims = list_at(&spec, "permissionClaims");

    let mut out_spec = Map::new();
    copy(&mut out_spec, &spec, "reference");
    let mut v2_claims: Vec<Value> = claims
        .iter()
        .map(|c| {
            let mut v = to_v2_scoped(c);
            v["state"] = c.get("state").cloned().unwrap_or_else(|| json!(""));
            v
        })
        .collect();
    restore_v2_fields(
        v1,
        ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION,
        &mut v2_claims,
        true,
    )?;
    default_claims(&mut v2_claims, true);
    put(&mut out_spec, "permissionClaims", Value::Array(v2_claims));

    let export = list_at(&status, "exportPermissionClaims");
    let applied = list_at(&status, "appliedPermissionClaims");
    let mut out_status = status_common(&status);
    let mut v2_export: Vec<Value> = export
        .iter()
        .map(|c| Value::Object(v2_claim_base(c)))
        .collect();
    let mut v2_applied: Vec<Value> = applied.iter().map(to_v2_scoped).collect();
    restore_v2_fields(
        v1,
        STATUS_PERMISSION_CLAIMS_ANNOTATION,
        &mut v2_export,
        false,
    )?;
    restore_v2_fields(v1, STATUS_APPLIED_CLAIMS_ANNOTATION, &mut v2_applied, true)?;
    default_claims(&mut v2_export, false);
    default_claims(&mut v2_applied, true);
    put(
        &mut out_status,
        "appliedPermissionClaims",
        Value::Array(v2_applied),
    );
    put(
        &mut out_status,
        "exportPermissionClaims",
        Value::Array(v2_export),
    );

    let mut out = with_parts(
        v1,
        V1ALPHA2,
        Value::Object(out_spec),
        Value::Object(out_status),
    );
    for k in [
        ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION,
        STATUS_PERMISSION_CLAIMS_ANNOTATION,
        STATUS_APPLIED_CLAIMS_ANNOTATION,
    ] {
        remove_annotation(&mut out, k);
    }
    let kept: Vec<Value> = claims
        .iter()
        .filter(|c| has_resource_selector(c))
        .map(v1_claim_of)
        .collect();
    if !kept.is_empty() {
        set_annotation(
            &mut out,
            PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION,
            encode(&kept),
        );
    }
    if !export.is_empty() {
        let kept: Vec<Value> = export.iter().map(v1_claim_of).collect();
        set_annotation(
            &mut out,
            STATUS_PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION,
            encode(&kept),
        );
    }
    let kept: Vec<Value> = applied
        .iter()
        .filter(|c| has_resource_selector(c))
        .map(v1_claim_of)
        .collect();
    if !kept.is_empty() {
        set_annotation(
            &mut out,
            STATUS_APPLIED_CLAIMS_V1ALPHA1_ANNOTATION,
            encode(&kept),
        );
    }
    tidy_annotations(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(api_version: &str, spec: Value) -> Value {
        json!({"apiVersion": api_version, "kind": "APIBinding", "metadata": {"name": "b"}, "spec": spec})
    }

    const REFERENCE: &str = r#"{"export": {"path": "root:org", "name": "widgets"}}"#;

    fn reference() -> Value {
        serde_json::from_str(REFERENCE).unwrap()
    }

    #[test]
    fn plain_binding_round_trips() {
        let v1 = binding(V1ALPHA1, json!({"reference": reference()}));
        let v2 = to_v1alpha2(&v1).unwrap();
        assert_eq!(v2["apiVersion"], V1ALPHA2);
        assert_eq!(v2["spec"], json!({"reference": reference()}));
        assert_eq!(to_v1alpha1(&v2), v1);
    }

    #[test]
    fn all_becomes_match_all_and_back() {
        let v1 = binding(
            V1ALPHA1,
            json!({"reference": reference(), "permissionClaims": [
                {"group": "", "resource": "configmaps", "all": true, "state": "Accepted"},
                {"resource": "secrets", "identityHash": "", "state": "Rejected"},
            ]}),
        );
        let v2 = to_v1alpha2(&v1).unwrap();
        assert_eq!(
            v2["spec"]["permissionClaims"],
            json!([
                {"resource": "configmaps", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Accepted"},
                // Neither `all` nor a selector: kcp treats it as matchAll.
                {"resource": "secrets", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Rejected"},
            ])
        );
        assert!(v2["metadata"].get("annotations").is_none());
        let back = to_v1alpha1(&v2);
        assert_eq!(
            back["spec"]["permissionClaims"],
            json!([
                {"resource": "configmaps", "all": true, "state": "Accepted"},
                {"resource": "secrets", "all": true, "state": "Rejected"},
            ])
        );
    }

    #[test]
    fn resource_selectors_survive_v1alpha2() {
        let claim = json!({"group": "example.io", "resource": "things", "identityHash": "h",
            "resourceSelector": [{"namespace": "ns"}], "state": "Accepted"});
        let v1 = binding(
            V1ALPHA1,
            json!({"reference": reference(), "permissionClaims": [claim.clone()]}),
        );
        let v2 = to_v1alpha2(&v1).unwrap();
        assert_eq!(
            v2["spec"]["permissionClaims"][0]["selector"],
            json!({"matchAll": true})
        );
        let kept: Value = serde_json::from_str(
            v2["metadata"]["annotations"][PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(kept, json!([claim]));
        assert_eq!(to_v1alpha1(&v2), v1);
    }

    #[test]
    fn verbs_and_label_selectors_survive_v1alpha1() {
        let v2 = binding(
            V1ALPHA2,
            json!({"reference": reference(), "permissionClaims": [
                {"resource": "configmaps", "verbs": ["get", "list"], "selector": {"matchAll": true}, "state": "Accepted"},
                {"resource": "secrets", "verbs": ["*"], "selector": {"matchLabels": {"app": "x"}}, "state": "Accepted"},
                {"resource": "pods", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Rejected"},
            ]}),
        );
        let v1 = to_v1alpha1(&v2);
        assert_eq!(
            v1["spec"]["permissionClaims"],
            json!([
                {"resource": "configmaps", "all": true, "state": "Accepted"},
                {"resource": "secrets", "state": "Accepted"},
                {"resource": "pods", "all": true, "state": "Rejected"},
            ])
        );
        let kept: Value = serde_json::from_str(
            v1["metadata"]["annotations"][ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(kept.as_array().unwrap().len(), 2);
        assert_eq!(to_v1alpha2(&v1).unwrap(), v2);
    }

    #[test]
    fn status_claims_round_trip_both_ways() {
        let mut v2 = binding(V1ALPHA2, json!({"reference": reference()}));
        v2["status"] = json!({
            "apiExportClusterName": "abc",
            "phase": "Bound",
            "boundResources": [{"group": "example.io", "resource": "widgets",
                "schema": {"name": "v1.widgets.example.io", "UID": "u", "identityHash": "h"}, "storageVersions": ["v1"]}],
            "exportPermissionClaims": [
                {"resource": "configmaps", "verbs": ["get"]},
                {"resource": "secrets", "verbs": ["*"]},
            ],
            "appliedPermissionClaims": [
                {"resource": "configmaps", "verbs": ["get"], "selector": {"matchAll": true}},
                {"resource": "secrets", "verbs": ["*"], "selector": {"matchAll": true}},
            ],
        });
        let v1 = to_v1alpha1(&v2);
        assert_eq!(
            v1["status"]["exportPermissionClaims"],
            json!([{"resource": "configmaps"}, {"resource": "secrets"}])
        );
        assert_eq!(
            v1["status"]["appliedPermissionClaims"],
            json!([{"resource": "configmaps", "all": true}, {"resource": "secrets", "all": true}])
        );
        assert_eq!(
            v1["status"]["boundResources"],
            v2["status"]["boundResources"]
        );
        let ann = v1["metadata"]["annotations"].as_object().unwrap();
        assert!(ann.contains_key(STATUS_PERMISSION_CLAIMS_ANNOTATION));
        assert!(ann.contains_key(STATUS_APPLIED_CLAIMS_ANNOTATION));
        let back = to_v1alpha2(&v1).unwrap();
        assert_eq!(back["status"], v2["status"]);
        // v1alpha1's export claims are remembered for the way back.
        assert!(
            back["metadata"]["annotations"]
                .get(STATUS_PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION)
                .is_some()
        );
        assert_eq!(to_v1alpha1(&back), v1);
    }

    #[test]
    fn v1alpha1_status_selectors_survive() {
        let mut v1 = binding(V1ALPHA1, json!({"reference": reference()}));
        v1["status"] = json!({
            "exportPermissionClaims": [{"resource": "configmaps", "resourceSelector": [{"name": "a"}]}],
            "appliedPermissionClaims": [{"resource": "configmaps", "resourceSelector": [{"name": "a"}]}],
        });
        let v2 = to_v1alpha2(&v1).unwrap();
        assert_eq!(
            v2["status"]["appliedPermissionClaims"],
            json!([{"resource": "configmaps", "verbs": ["*"], "selector": {"matchAll": true}}])
        );
        assert_eq!(to_v1alpha1(&v2), v1);
    }

    #[test]
    fn malformed_annotations_are_errors() {
        let mut v1 = binding(V1ALPHA1, json!({"reference": reference()}));
        v1["metadata"]["annotations"] =
            json!({ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION: "not json"});
        assert!(to_v1alpha2(&v1).is_err());
    }
}
