//! kcp's `apis.kcp.io` API as pure functions: the conversions between
//! `v1alpha1` and `v1alpha2` of APIExport and APIBinding, the naming
//! rule of APIResourceSchemas, and the hashed export label on APIBindings.
//!
//! The server stores APIExports and APIBindings as `v1alpha2` and serves
//! `v1alpha1` through these conversions, so both directions must be
//! lossless for every object either version can express. `v1alpha2` says
//! things `v1alpha1` cannot (claim verbs, label selectors, non-CRD resource
//! storage) and vice versa (`all`/`resourceSelector` on claims); like kcp,
//! the part a version cannot hold travels in annotations
//! (`apis.v1alpha2.kcp.io/...`) and is restored on the way back. The
//! annotation keys and the decisions of what is "overhanging" are kcp's
//! (`sdk/apis/apis/v1alpha2/types_*_conversion.go`), so objects read from kcp
//! and written to Trellis (or the other way round) keep their meaning.
//!
//! Everything works on `serde_json::Value` in the JSON shape of the API:
//! claims are compared by group, resource and identity hash (kcp's
//! `EqualGRI`, absent and empty being the same). Fields the conversion does
//! not know are dropped, as Go's typed conversion drops them.
//!
//! One deliberate extension: a `v1alpha2` export claim's `defaultSelector`
//! (newer kcp SDKs) is carried in the same annotation as its verbs, so it
//! survives a round trip through `v1alpha1` as well.

pub mod apibinding;
pub mod apiexport;
pub mod export_label;
pub mod schema_name;
pub mod types;

use serde_json::{Map, Value, json};

/// `group`/`version` of the API.
pub const GROUP: &str = "apis.kcp.io";
pub const V1ALPHA1: &str = "apis.kcp.io/v1alpha1";
pub const V1ALPHA2: &str = "apis.kcp.io/v1alpha2";

/// v1alpha2 export resources that `latestResourceSchemas` cannot express
/// (non-CRD storage), kept on the v1alpha1 form.
pub const RESOURCE_SCHEMAS_ANNOTATION: &str = "apis.v1alpha2.kcp.io/resource-schemas";
/// v1alpha2 export claims whose verbs are not just `*`, kept on the
/// v1alpha1 form.
pub const PERMISSION_CLAIMS_ANNOTATION: &str = "apis.v1alpha2.kcp.io/permission-claims";
/// The v1alpha1 claims (with `all`/`resourceSelector`), kept on the
/// v1alpha2 form of exports and bindings.
pub const PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION: &str =
    "apis.v1alpha2.kcp.io/v1alpha1-permission-claims";
/// v1alpha2 binding claims that are not `verbs: ["*"]` + `matchAll`, kept on
/// the v1alpha1 form.
pub const ACCEPTABLE_PERMISSION_CLAIMS_ANNOTATION: &str =
    "apis.v1alpha2.kcp.io/acceptable-permission-claims";
/// `status.exportPermissionClaims` of a binding that v1alpha1 cannot hold.
pub const STATUS_PERMISSION_CLAIMS_ANNOTATION: &str =
    "apis.v1alpha2.kcp.io/status-export-permission-claims";
/// `status.appliedPermissionClaims` of a binding that v1alpha1 cannot hold.
pub const STATUS_APPLIED_CLAIMS_ANNOTATION: &str =
    "apis.v1alpha2.kcp.io/status-applied-permission-claims";
/// The v1alpha1 `status.exportPermissionClaims`, kept on the v1alpha2 form.
pub const STATUS_PERMISSION_CLAIMS_V1ALPHA1_ANNOTATION: &str =
    "apis.v1alpha2.kcp.io/v1alpha1-status-export-permission-claims";
/// The v1alpha1 `status.appliedPermissionClaims` with resource selectors,
/// kept on the v1alpha2 form.
pub const STATUS_APPLIED_CLAIMS_V1ALPHA1_ANNOTATION: &str =
    "apis.v1alpha2.kcp.io/v1alpha1-status-applied-permission-claims";

// ---------------------------------------------------------------- helpers

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn list_at<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    list(v.get(key))
}

fn bool_at(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// kcp's `EqualGRI`: same group, resource and identity hash.
fn same_gri(a: &Value, b: &Value) -> bool {
    ["group", "resource", "identityHash"]
        .iter()
        .all(|k| str_at(a, k) == str_at(b, k))
}

/// `verbs: ["*"]`, the only verbs v1alpha1 can express.
fn wildcard_verbs(claim: &Value) -> bool {
    matches!(list_at(claim, "verbs"), [v] if v == "*")
}

/// Inserts `key: value` unless the value is Go's zero value for an
/// `omitempty` field (empty string, false, empty list or object, null).
fn put(m: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    };
    if !empty {
        m.insert(key.into(), value);
    }
}

/// Copies `key` from `from` into `to` when present (non-null).
fn copy(to: &mut Map<String, Value>, from: &Value, key: &str) {
    if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
        to.insert(key.into(), v.clone());
    }
}

/// A v1alpha1 `PermissionClaim` as Go marshals it.
fn v1_claim(group: &str, resource: &str, identity: &str, all: bool, selector: Value) -> Value {
    let mut m = Map::new();
    put(&mut m, "group", json!(group));
    m.insert("resource".into(), json!(resource));
    put(&mut m, "all", json!(all));
    put(&mut m, "resourceSelector", selector);
    put(&mut m, "identityHash", json!(identity));
    Value::Object(m)
}

/// A v1alpha1 claim normalized to the fields the type has (what Go would
/// marshal into an annotation).
fn v1_claim_of(c: &Value) -> Value {
    let mut v = v1_claim(
        str_at(c, "group"),
        str_at(c, "resource"),
        str_at(c, "identityHash"),
        bool_at(c, "all"),
        c.get("resourceSelector").cloned().unwrap_or(Value::Null),
    );
    if let Some(state) = c.get("state").filter(|s| !s.is_null()) {
        v["state"] = state.clone();
    }
    v
}

/// The group/resource/identity part of a v2 claim (verbs left unset).
fn v2_claim_base(c: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "group", json!(str_at(c, "group")));
    m.insert("resource".into(), json!(str_at(c, "resource")));
    put(&mut m, "identityHash", json!(str_at(c, "identityHash")));
    m
}

/// A v1alpha2 `PermissionClaim` normalized to the fields the type has
/// (`verbs` is not `omitempty`).
fn v2_claim_of(c: &Value) -> Value {
    let mut m = v2_claim_base(c);
    m.insert(
        "verbs".into(),
        c.get("verbs").cloned().unwrap_or(Value::Null),
    );
    if let Some(sel) = c.get("defaultSelector").filter(|s| !s.is_null()) {
        m.insert("defaultSelector".into(), sel.clone());
    }
    Value::Object(m)
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

fn set_annotation(obj: &mut Value, key: &str, value: String) {
    let Some(o) = obj.as_object_mut() else { return };
    let meta = o.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let ann = meta
        .as_object_mut()
        .expect("object")
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if !ann.is_object() {
        *ann = json!({});
    }
    ann.as_object_mut()
        .expect("object")
        .insert(key.into(), Value::String(value));
}

fn remove_annotation(obj: &mut Value, key: &str) {
    if let Some(ann) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        ann.remove(key);
    }
}

/// Drops an annotations map left empty (Go turns it into nil).
fn tidy_annotations(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        && meta
            .get("annotations")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        meta.remove("annotations");
    }
}

/// Parses a JSON list kept in an annotation.
fn annotation_list(obj: &Value, key: &str) -> Option<Result<Vec<Value>, String>> {
    annotation(obj, key)
        .map(|raw| serde_json::from_str::<Vec<Value>>(raw).map_err(|e| format!("{key}: {e}")))
}

fn encode(list: &[Value]) -> String {
    Value::Array(list.to_vec()).to_string()
}

/// The object with `spec`/`status` replaced and `apiVersion` set: metadata
/// and kind are kept as they are (kcp deep-copies ObjectMeta). `spec` and
/// `status` appear when the input had them (or the spec has content), so a
/// round trip does not add empty stanzas.
fn with_parts(obj: &Value, api_version: &str, spec: Value, status: Value) -> Value {
    let mut out = Map::new();
    if let Some(o) = obj.as_object() {
        for (k, v) in o {
            if !matches!(k.as_str(), "spec" | "status") {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("apiVersion".into(), json!(api_version));
    if obj.get("spec").is_some_and(|s| !s.is_null())
        || spec.as_object().is_some_and(|m| !m.is_empty())
    {
        out.insert("spec".into(), spec);
    }
    if obj.get("status").is_some_and(|s| !s.is_null()) {
        out.insert("status".into(), status);
    }
    Value::Object(out)
}

/// A conversion that cannot be done: reported against the field of the
/// object being converted (the caller maps it to a 422).
#[derive(Clone, Debug, PartialEq)]
pub struct ConversionError {
    pub field: String,
    pub value: Value,
    pub detail: String,
}

impl ConversionError {
    pub fn to_field_error(&self) -> crate::FieldError {
        crate::FieldError::invalid(self.field.clone(), self.value.clone(), self.detail.clone())
    }
}

fn bad_annotation(key: &str, raw: &str, detail: String) -> ConversionError {
    ConversionError {
        field: format!("metadata.annotations[{key}]"),
        value: json!(raw),
        detail,
    }
}

/// Parses an annotation list, mapping failures to a [`ConversionError`].
fn annotation_list_strict(obj: &Value, key: &str) -> Result<Option<Vec<Value>>, ConversionError> {
    match annotation_list(obj, key) {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(e)) => Err(bad_annotation(
            key,
            annotation(obj, key).unwrap_or(""),
            format!("failed to decode: {e}"),
        )),
    }
}
