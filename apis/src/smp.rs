//! Strategic merge patch (SMP), applied the way kube-apiserver 1.33 applies
//! `application/strategic-merge-patch+json` bodies.
//!
//! This is a from-scratch Rust rendition of the *apply* half of
//! `k8s.io/apimachinery/pkg/util/strategicpatch` (`StrategicMergeMapPatch` →
//! `mergeMap` with `MergeParallelList: true, IgnoreUnmatchedNulls: true`),
//! driven by a structural [`Schema`] instead of Go struct tags.
//!
//! # Semantics (as upstream)
//!
//! * Maps merge recursively; a `null` patch value deletes the key (a `null`
//!   for a key the original lacks is simply dropped).
//! * A key missing from the original, or whose JSON type differs from the
//!   original's, takes the patch value wholesale, after removing `null` map
//!   values (`discardNullValuesFromPatch`, kubernetes#107705) and every map
//!   carrying a `$patch` key (`removeDirectives`, kubernetes#117568).
//! * Lists merge only when the field's `x-kubernetes-patch-strategy` contains
//!   `merge`; every other list is replaced. Lists of maps merge on
//!   `x-kubernetes-patch-merge-key`; lists of scalars are unioned.
//!   The merged order is: patch items in patch order, interleaved with
//!   server-only items in their live order (`normalizeElementOrder` /
//!   `mergeSortedSlice`), and `$setElementOrder/<field>` overrides that.
//! * `x-kubernetes-list-type` / `x-kubernetes-list-map-keys` and
//!   `x-kubernetes-map-type` are **ignored**: server-side SMP looks patch
//!   metadata up from Go struct tags (`PatchMetaFromStruct` →
//!   `forkedjson.LookupPatchMetadataForStruct`), which carry only
//!   `patchStrategy` / `patchMergeKey`; the `+listType` / `+mapType` markers
//!   feed structured-merge-diff (server-side apply), not SMP. So a
//!   `listType=map` list without a patch strategy (e.g. CRD
//!   `status.conditions`) is replaced, a `listType=atomic` list *with*
//!   `patchStrategy=merge` is merged, and `mapType=atomic` structs (e.g.
//!   `LabelSelector`) are merged key by key. Do not use
//!   [`Schema::effective_list_type`] for SMP.
//! * Directives: `$patch: replace|delete` in maps (`merge` is rejected with
//!   "unknown patch type"; `delete` yields an *empty map*, not a removed
//!   key — upstream test "delete map from nested map"); `$patch:
//!   replace|delete` list items (`merge` → "merging lists cannot yet be
//!   specified in the patch"); `$retainKeys` (honoured wherever it appears,
//!   the server does not check the field's `retainKeys` strategy);
//!   `$setElementOrder/<field>`; `$deleteFromPrimitiveList/<field>` (applied
//!   to the named list whatever its strategy, kubernetes#110472, and a no-op
//!   when the list is absent, kubernetes#105421).
//! * Custom resources: kube-apiserver does not offer SMP for them at all
//!   (415 before any merging; `StrategicMergePatch` itself would return
//!   `ErrUnsupportedStrategicMergePatchFormat`, 400). Call [`apply`] only for
//!   built-in types.
//!
//! # Where this deliberately differs from the Go code
//!
//! * **Key order.** Go iterates patch maps in random order. We process
//!   `$retainKeys`, then `$setElementOrder/*`, then ordinary keys, then
//!   `$deleteFromPrimitiveList/*` (deletion wins when a patch both adds and
//!   deletes the same scalar — a patch kubectl never produces).
//! * **No directive or `null` leaks.** Upstream stores some patch values
//!   verbatim (a `$patch: replace` map, a replaced non-merge list, list
//!   items appended to a merge list, a `patchStrategy: replace` map) and
//!   leaves `$retainKeys` / `$setElementOrder/*` /
//!   `$deleteFromPrimitiveList/*` keys inside values taken wholesale; the
//!   typed decode that follows (`FromUnstructured`) then drops unknown keys
//!   and turns `null`s into zero values (or, with `fieldValidation=Strict`,
//!   rejects the unknown keys with 422). Trellis keeps JSON, so every value
//!   taken from the patch is sanitised: `null` map values are dropped (except
//!   the merge key of a new list item, kept so ordering behaves as upstream),
//!   maps with `$patch` are removed and the other directive keys stripped.
//!   Values already in the original are never touched (stored objects
//!   legitimately hold `null`s such as `creationTimestamp: null`).
//! * **Fields the schema does not know**, and free-form nodes
//!   (`x-kubernetes-preserve-unknown-fields`, untyped nodes, and the
//!   free-form node `Schema::from_openapi` substitutes for recursive types):
//!   maps merge recursively with no metadata and lists are replaced. With Go
//!   structs an unknown field cannot be in the original at all (decoding the
//!   stored object dropped it), and `RawExtension` / `apiextensions JSON` /
//!   `interface{}` fields fail two levels down ("unable to find api field in
//!   struct RawExtension for the json field …" / "merging an object in json
//!   but data type is not map or struct, instead is: interface", 500). Those
//!   failures depend on Go types the schema cannot express (and the
//!   recursion cut hides fully typed `JSONSchemaProps`), so we merge.
//! * `LookupPatchMetadataForSlice` errors ("expected slice or array type,
//!   but got: …", "unexpected slice of slice") depend on Go pointer-ness and
//!   are not reproduced.
//!
//! # Errors and HTTP status
//!
//! See [`SmpError::http_code`]. Messages are upstream's, rendered with Go's
//! `%v` / `%s` formatting of `map[string]interface{}` values (sorted keys,
//! `map[k:v]`, `[a b]`, `<nil>`, `1e+06`).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::schema::{Schema, Type};

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const GO_MAP: &str = "map[string]interface {}";
const GO_SLICE: &str = "[]interface {}";

/// A strategic merge patch failure, carrying kube-apiserver's message.
///
/// Upstream: the handler (`staging/src/k8s.io/apiserver/pkg/endpoints/
/// handlers/patch.go`) calls `strategicPatchObject` → `applyPatchToObject` →
/// `strategicpatch.StrategicMergeMapPatch`; a failure goes through
/// `interpretStrategicMergePatchError`, which compares the error against the
/// `mergepatch` sentinels. Everything else is returned as a plain Go error,
/// which `responsewriters.ErrorToAPIStatus` turns into a 500 `Status` with
/// an empty (`Unknown`) reason. [`SmpError::http_code`] encodes that switch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// `mergepatch.ErrNoListOfLists`: a merged/ordered list whose first
    /// element is itself a list (`sliceElementType`).
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// `mergepatch.ErrBadPatchFormatForPrimitiveList`: a
    /// `$deleteFromPrimitiveList…` key not of the form
    /// `$deleteFromPrimitiveList/<field>` (`extractKey`).
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    /// `mergepatch.ErrBadPatchFormatForRetainKeys`: `$retainKeys` is not a
    /// list, or the patch sets a field the list does not name
    /// (`applyRetainKeysDirective`).
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    /// `mergepatch.ErrBadPatchFormatForSetElementOrderList`: a
    /// `$setElementOrder…` key not of the form `$setElementOrder/<field>`.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    /// `mergepatch.ErrBadPatchType`: a `$patch` value other than
    /// `replace`/`delete` in a map, or other than `replace`/`delete`/`merge`
    /// in a list item. `directive` is Go `%s`, `map` Go `%v`.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    /// `$patch: merge` as a list item (`mergeSliceWithSpecialElements`).
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// `mergepatch.ErrNoMergeKey`: a list item (patch, live or
    /// `$setElementOrder`) lacks the field's merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// `mergepatch.ErrBadArgType`: a value of the wrong JSON type where a
    /// list or map is required (`[]interface {}`, `map[string]interface {}`).
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType { expected: String, actual: String },
    /// A merging list of maps without merge key (`mergeSlice`); `kind` is the
    /// Go kind of the element type (`struct`, `map`, `string`, …).
    #[error("cannot merge lists without merge key for {kind}")]
    MissingMergeKey { kind: String },
    /// Mixed element types in lists being merged (`sliceElementType`).
    #[error("list element types are not identical: {lists}")]
    ListElementTypesNotIdentical { lists: String },
    /// Ordering a list when neither live nor patch holds any element
    /// (`sliceElementType` from `mergePatchIntoOriginal`).
    #[error("no elements in any of the given slices")]
    NoElements,
    /// The patch list is not a subsequence of `$setElementOrder/<field>`
    /// (`validatePatchWithSetOrderList`).
    #[error(
        "The order in patch list:\n{patch_list}\n doesn't match $setElementOrder list:\n{order_list}\n"
    )]
    SetElementOrderMismatch {
        patch_list: String,
        order_list: String,
    },
    /// A `$setElementOrder` (or live) list of a merge list holds a non-map
    /// (`findMapInSliceBasedOnKeyValue`).
    #[error("value for key {index} is not a map")]
    NotAMap { index: usize },
    /// A schema patch strategy that `extractRetainKeysPatchStrategy` rejects.
    #[error("unexpected patch strategy: {strategies}")]
    UnexpectedPatchStrategy { strategies: String },
    /// The patch body is valid JSON but not an object: decoding it into
    /// `map[string]interface{}` fails in `strategicPatchObject`.
    #[error("json: cannot unmarshal {json_type} into Go value of type map[string]interface {{}}")]
    PatchNotAnObject { json_type: &'static str },
    /// The Go code would panic (e.g. a merging list whose first element is
    /// `null`, or `==` on two maps used as merge-key values). The panic
    /// escapes `finisher.FinishRequest` and `WithPanicRecovery` answers a
    /// `text/plain` 500 with this body; `reason` is the Go runtime message.
    #[error("This request caused apiserver to panic. Look in the logs for details.")]
    Panic { reason: String },
}

impl SmpError {
    /// The HTTP status kube-apiserver answers for this failure.
    ///
    /// `interpretStrategicMergePatchError` (handlers/patch.go):
    /// * `ErrBadJSONDoc`, `ErrBadPatchFormatForPrimitiveList`,
    ///   `ErrBadPatchFormatForRetainKeys`,
    ///   `ErrBadPatchFormatForSetElementOrderList`,
    ///   `ErrUnsupportedStrategicMergePatchFormat` → `NewBadRequest` → **400**;
    /// * `ErrNoListOfLists`, `ErrPatchContentNotMatchRetainKeys` →
    ///   `NewGenericServerResponse(422, …)` → **422**;
    /// * anything else is returned unchanged, is not an `APIStatus`, and
    ///   `ErrorToAPIStatus` → `convertStorageErrorOrNot` makes it **500**.
    ///
    /// A non-object patch fails `kjson.Unmarshal…` in `strategicPatchObject`
    /// → `NewBadRequest` → 400. A Go panic → `WithPanicRecovery` → 500.
    pub fn http_code(&self) -> u16 {
        match self {
            SmpError::BadPatchFormatForPrimitiveList
            | SmpError::BadPatchFormatForRetainKeys
            | SmpError::BadPatchFormatForSetElementOrderList
            | SmpError::PatchNotAnObject { .. } => 400,
            SmpError::NoListOfLists => 422,
            _ => 500,
        }
    }

    /// `Status.reason` of the response (`""` is `StatusReasonUnknown`).
    /// For [`SmpError::Panic`] there is no `Status` body at all.
    pub fn status_reason(&self) -> &'static str {
        match self.http_code() {
            400 => "BadRequest",
            422 => "Invalid",
            _ => "",
        }
    }

    /// `Status.message` of the response. `NewGenericServerResponse(422, …)`
    /// discards the SMP text and uses a fixed message; 400s and 500s carry
    /// the error text (for a panic: the plain-text body, without the `\n`).
    pub fn status_message(&self) -> String {
        match self.http_code() {
            422 => "the server rejected our request due to an error in our request".to_string(),
            _ => self.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, SmpError>;

/// Applies strategic merge patch `patch` to `original` (a whole object of the
/// type described by `schema`), as kube-apiserver 1.33 does for
/// `application/strategic-merge-patch+json`.
///
/// A `null` patch is a no-op (Go unmarshals `null` into an empty map); a
/// patch that is not an object fails with [`SmpError::PatchNotAnObject`].
pub fn apply(
    original: &Value,
    patch: &Value,
    schema: &Schema,
) -> std::result::Result<Value, SmpError> {
    let patch = match patch {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        Value::Array(_) => return Err(SmpError::PatchNotAnObject { json_type: "array" }),
        Value::String(_) => {
            return Err(SmpError::PatchNotAnObject {
                json_type: "string",
            });
        }
        Value::Number(_) => {
            return Err(SmpError::PatchNotAnObject {
                json_type: "number",
            });
        }
        Value::Bool(_) => return Err(SmpError::PatchNotAnObject { json_type: "bool" }),
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => return Err(bad_arg_type(GO_MAP, other)),
    };
    merge_map(original, patch, Some(schema)).map(Value::Object)
}

// ---------------------------------------------------------------------------
// Schema lookups (the role of `LookupPatchMeta`).

/// Patch metadata of one field: the schema below it (`None`: free-form) and
/// its strategy / merge key.
struct FieldMeta<'a> {
    sub: Option<&'a Schema>,
    strategies: Vec<&'a str>,
    merge_key: &'a str,
}

impl<'a> FieldMeta<'a> {
    fn free() -> Self {
        FieldMeta {
            sub: None,
            strategies: Vec::new(),
            merge_key: "",
        }
    }
}

/// `LookupPatchMetadataForStruct`: a declared property carries its own
/// metadata; a map value (`additionalProperties`) carries none, like the
/// element type of a Go map; anything else is free-form.
fn lookup_struct<'a>(schema: Option<&'a Schema>, key: &str) -> FieldMeta<'a> {
    let Some(s) = schema else {
        return FieldMeta::free();
    };
    if let Some(p) = s.properties.get(key) {
        return FieldMeta {
            sub: Some(p.as_ref()),
            strategies: p
                .patch_strategy
                .as_deref()
                .map(|st| st.split(',').collect())
                .unwrap_or_default(),
            merge_key: p.patch_merge_key.as_deref().unwrap_or(""),
        };
    }
    if let Some(ap) = &s.additional_properties {
        return FieldMeta {
            sub: Some(ap.as_ref()),
            strategies: Vec::new(),
            merge_key: "",
        };
    }
    FieldMeta::free()
}

/// `LookupPatchMetadataForSlice`: the field's metadata, with the element
/// schema as the sub-schema.
fn lookup_slice<'a>(schema: Option<&'a Schema>, key: &str) -> FieldMeta<'a> {
    let mut meta = lookup_struct(schema, key);
    meta.sub = meta.sub.and_then(|s| s.items.as_deref());
    meta
}

/// `extractRetainKeysPatchStrategy`: `(has retainKeys, other strategy)`.
fn extract_retain_keys_strategy<'a>(strategies: &[&'a str]) -> Result<(bool, &'a str)> {
    match strategies {
        [] => Ok((false, "")),
        [one] if *one == RETAIN_KEYS_STRATEGY => Ok((true, "")),
        [one] => Ok((false, one)),
        [a, b] if *a == RETAIN_KEYS_STRATEGY => Ok((true, b)),
        [a, b] if *b == RETAIN_KEYS_STRATEGY => Ok((true, a)),
        _ => Err(SmpError::UnexpectedPatchStrategy {
            strategies: format!("[{}]", strategies.join(" ")),
        }),
    }
}

/// `PatchMetaFromStruct.Name()` of an element schema: the Go kind name.
/// Best effort: Go types are not recorded in the schema.
fn go_kind_name(schema: Option<&Schema>) -> String {
    let Some(s) = schema else {
        return "interface".into();
    };
    if s.int_or_string || !s.properties.is_empty() || s.embedded_resource {
        return "struct".into();
    }
    if s.additional_properties.is_some() {
        return "map".into();
    }
    match s.ty {
        Some(Type::Object) => "struct",
        Some(Type::Array) => "slice",
        Some(Type::String) => "string",
        Some(Type::Integer) if s.format.as_deref() == Some("int32") => "int32",
        Some(Type::Integer) => "int64",
        Some(Type::Number) => "float64",
        Some(Type::Boolean) => "bool",
        None => "interface",
    }
    .into()
}

// ---------------------------------------------------------------------------
// mergeMap.

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Option<&Schema>,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER).cloned() {
        return handle_directive_in_merge_map(&directive, patch);
    }
    apply_retain_keys_directive(&mut original, &mut patch)?;
    merge_patch_into_original(&mut original, &mut patch, schema)?;

    let mut keys: Vec<String> = patch.keys().cloned().collect();
    keys.sort_by(|a, b| {
        let da = a.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX);
        let db = b.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX);
        da.cmp(&db).then_with(|| a.cmp(b))
    });
    for key in keys {
        let Some(patch_v) = patch.remove(&key) else {
            continue;
        };
        let (k, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?, true)
        } else {
            (key, false)
        };

        if patch_v.is_null() {
            original.remove(&k);
            continue;
        }
        let take_patch = match original.get(&k) {
            None => true,
            Some(o) => go_type(o) != go_type(&patch_v),
        };
        if take_patch {
            if !is_delete_list {
                match sanitize(patch_v) {
                    Some(v) => {
                        original.insert(k, v);
                    }
                    None => {
                        original.remove(&k);
                    }
                }
            }
            continue;
        }

        let Some(orig_v) = original.remove(&k) else {
            continue;
        };
        let merged = match (orig_v, patch_v) {
            (Value::Object(o), Value::Object(p)) => {
                let meta = lookup_struct(schema, &k);
                let (_, strategy) = extract_retain_keys_strategy(&meta.strategies)?;
                if strategy == REPLACE_DIRECTIVE {
                    Value::Object(sanitize_replacement_map(p))
                } else {
                    Value::Object(merge_map(o, p, meta.sub)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let meta = lookup_slice(schema, &k);
                let (_, strategy) = extract_retain_keys_strategy(&meta.strategies)?;
                Value::Array(merge_slice_handler(
                    o,
                    p,
                    meta.sub,
                    strategy,
                    meta.merge_key,
                    is_delete_list,
                )?)
            }
            (_, p) => p,
        };
        original.insert(k, merged);
    }
    Ok(original)
}

/// `handleDirectiveInMergeMap`.
fn handle_directive_in_merge_map(
    directive: &Value,
    mut patch: Map<String, Value>,
) -> Result<Map<String, Value>> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            Ok(sanitize_replacement_map(patch))
        }
        Some(DELETE_DIRECTIVE) => Ok(Map::new()),
        _ => Err(bad_patch_type(directive, &patch)),
    }
}

/// `applyRetainKeysDirective` (server side: `MergeParallelList` is true).
fn apply_retain_keys_directive(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(SmpError::BadPatchFormatForRetainKeys);
    };
    for v in &retain {
        go_hashable(v)?;
    }
    let retain: HashSet<&str> = retain.iter().filter_map(Value::as_str).collect();
    let retained = |k: &str| retain.contains(k);
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !retained(k) {
            return Err(SmpError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// `mergePatchIntoOriginal`: processes every `$setElementOrder/<field>`
/// together with `<field>`, removing both from the patch.
fn merge_patch_into_original(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Option<&Schema>,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for key in keys {
        let Some(order_v) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order_v else {
            return Err(bad_arg_type(GO_SLICE, &order_v));
        };
        let original_key = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = match original.get(&original_key) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type(GO_SLICE, other)),
        };
        let patch_list = match patch.get(&original_key) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type(GO_SLICE, other)),
        };
        let meta = lookup_slice(schema, &original_key);
        let (_, strategy) = extract_retain_keys_strategy(&meta.strategies)?;
        let merge_key = meta.merge_key;
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            merge_key,
        )?;

        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => sanitize_items(p.clone(), merge_key),
            (Some(o), Some(p)) => {
                merge_slice_handler(o.clone(), p.clone(), meta.sub, strategy, merge_key, false)?
            }
            (None, None) => continue,
        };
        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &order)?
        } else {
            partition_maps(merged, &order, merge_key)?
        };
        let original_list = original_list.unwrap_or_default();
        let patch_list = patch_list.unwrap_or_default();
        let kind = slice_element_type(&[&original_list, &patch_list])?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &original_list,
            merge_key,
            kind,
        )?;
        original.insert(original_key.clone(), Value::Array(both));
        patch.remove(&original_key);
    }
    Ok(())
}

/// `extractKey`: `<prefix>/<field>` → `<field>`.
fn extract_key(s: &str, prefix: &str) -> Result<String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX => {
            Err(SmpError::BadPatchFormatForPrimitiveList)
        }
        _ => Err(SmpError::BadPatchFormatForSetElementOrderList),
    }
}

/// `validatePatchWithSetOrderList`: the patch list (minus deletions and
/// directive items) must be a subsequence of the order list.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete = if merge_key.is_empty() {
        patch_list.to_vec()
    } else {
        extract_to_delete_items(patch_list.to_vec())?.0
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if contains_directive_marker(&non_delete[pi]) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(&non_delete[pi], &order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(SmpError::SetElementOrderMismatch {
            patch_list: fmt_v_list(patch_list),
            order_list: fmt_v_list(order),
        });
    }
    Ok(())
}

fn contains_directive_marker(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

/// `mergeKeyValueEqual`.
fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return go_eq(left, right);
    }
    let l = left.as_object().ok_or_else(|| bad_arg_type(GO_MAP, left))?;
    let r = right
        .as_object()
        .ok_or_else(|| bad_arg_type(GO_MAP, right))?;
    let lv = l.get(merge_key).ok_or_else(|| no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| no_merge_key(r, merge_key))?;
    go_eq(lv, rv)
}

// ---------------------------------------------------------------------------
// Lists.

/// `mergeSliceHandler`: merge when the strategy says so or for a
/// `$deleteFromPrimitiveList` list, otherwise replace.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem: Option<&Schema>,
    strategy: &str,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if strategy == MERGE_DIRECTIVE || is_delete_list {
        merge_slice(original, patch, elem, merge_key, is_delete_list)
    } else {
        Ok(sanitize_items(patch, merge_key))
    }
}

/// `mergeSlice`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem: Option<&Schema>,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let (server_order, patch_order, merged) = if kind != GoType::Map {
        if is_delete_list {
            return delete_from_slice(original, &patch);
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        let merged = deduplicate_scalars(both)?;
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(SmpError::MissingMergeKey {
                kind: go_kind_name(elem),
            });
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged =
            merge_slice_without_special_elements(original.clone(), &patch, merge_key, elem)?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch_order)?
    } else {
        partition_maps(merged, &patch_order, merge_key)?
    };
    normalize_element_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        merge_key,
        kind,
    )
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete` items to the
/// original and handles `$patch: replace`; returns `(original, patch)`
/// without special elements.
fn merge_slice_with_special_elements(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::new();
    let mut replace = false;
    let mut deletions = Deletions::new(&original, merge_key);
    for v in patch {
        let directive = v.as_object().and_then(|m| m.get(DIRECTIVE_MARKER));
        let Some(directive) = directive else {
            plain.push(v);
            continue;
        };
        let Some(item) = v.as_object() else {
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let value = item
                    .get(merge_key)
                    .ok_or_else(|| no_merge_key(item, merge_key))?;
                deletions.delete_matching_entries(&original, merge_key, value)?;
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => return Err(SmpError::MergeDirectiveInList),
            _ => return Err(bad_patch_type(directive, item)),
        }
    }
    if replace {
        return Ok((sanitize_items(plain, merge_key), Vec::new()));
    }
    Ok((deletions.apply(original), plain))
}

/// The `$patch: delete` items of one patch list applied to the original
/// list: each is upstream's `deleteMatchingEntries` (find the first item
/// whose merge key equals the value, remove it, start over, until none is
/// found), with the same results and errors, but through an index instead
/// of rescanning the list after each removal.
struct Deletions {
    index: MapIndex,
    removed: Vec<bool>,
}

impl Deletions {
    fn new(original: &[Value], merge_key: &str) -> Self {
        Deletions {
            index: MapIndex::new(original, merge_key),
            removed: vec![false; original.len()],
        }
    }

    /// Where the item at `i` of the original list now is.
    fn current(&self, i: usize) -> usize {
        i - self.removed[..i].iter().filter(|r| **r).count()
    }

    fn delete_matching_entries(
        &mut self,
        original: &[Value],
        merge_key: &str,
        value: &Value,
    ) -> Result<()> {
        // Removal never touches an item that is not a map, and the final
        // scan (the one that finds nothing more) reaches every item.
        let stop = self.index.first_non_map;
        match go_key(value) {
            Some(k) => {
                for i in self.index.take(&k) {
                    if stop.is_some_and(|stop| i > stop) {
                        break;
                    }
                    self.removed[i] = true;
                }
            }
            // Comparing maps or slices panics in Go: at the first item whose
            // merge key holds one (unless a non-map item comes first).
            None => {
                if let Some(i) = self.index.first_uncomparable(value)
                    && stop.is_none_or(|stop| i < stop)
                {
                    let candidate = original[i].get(merge_key).unwrap_or(&Value::Null);
                    return Err(go_eq(candidate, value).expect_err("uncomparable"));
                }
            }
        }
        match stop {
            Some(i) => Err(SmpError::NotAMap {
                index: self.current(i),
            }),
            None => Ok(()),
        }
    }

    fn apply(self, original: Vec<Value>) -> Vec<Value> {
        original
            .into_iter()
            .zip(self.removed)
            .filter_map(|(v, removed)| (!removed).then_some(v))
            .collect()
    }
}

/// `mergeSliceWithoutSpecialElements`: merges patch items into the live
/// items with the same merge key, appending the others.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    elem: Option<&Schema>,
) -> Result<Vec<Value>> {
    let mut index = MapIndex::new(&original, merge_key);
    for v in patch {
        let Some(item) = v.as_object() else {
            continue;
        };
        let value = item
            .get(merge_key)
            .ok_or_else(|| no_merge_key(item, merge_key))?;
        match index.find(&original, merge_key, value)? {
            Some(i) => {
                let live = match std::mem::take(&mut original[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                index.remove(i, &live, merge_key);
                original[i] = Value::Object(merge_map(live, item.clone(), elem)?);
                index.insert(i, &original[i], merge_key);
            }
            None => {
                if let Some(new) = sanitize_item(v.clone(), merge_key) {
                    index.insert(original.len(), &new, merge_key);
                    original.push(new);
                }
            }
        }
    }
    Ok(original)
}

/// upstream `findMapInSliceBasedOnKeyValue` over one list, as an index:
/// lists hold as many items as a request body does, and scanning the list
/// for every item of another made a 250 KiB patch take tens of seconds.
/// [`MapIndex::find`] answers what the scan would, errors included: the
/// first item that is not a map fails (`NotAMap`), the first whose merge
/// key equals the value matches, and comparing two maps or two slices
/// panics in Go.
struct MapIndex {
    first_non_map: Option<usize>,
    /// Positions of the items by (comparable) merge-key value, ascending.
    by_key: HashMap<GoKey, BTreeSet<usize>>,
    /// Positions of the items whose merge key holds a map, or a slice.
    map_keys: BTreeSet<usize>,
    slice_keys: BTreeSet<usize>,
}

impl MapIndex {
    fn new(list: &[Value], merge_key: &str) -> Self {
        let mut index = MapIndex {
            first_non_map: None,
            by_key: HashMap::new(),
            map_keys: BTreeSet::new(),
            slice_keys: BTreeSet::new(),
        };
        for (i, v) in list.iter().enumerate() {
            index.insert(i, v, merge_key);
        }
        index
    }

    /// The positions of the items whose merge key holds `candidate`.
    fn positions(&mut self, candidate: &Value) -> &mut BTreeSet<usize> {
        match go_key(candidate) {
            Some(k) => self.by_key.entry(k).or_default(),
            None if candidate.is_object() => &mut self.map_keys,
            None => &mut self.slice_keys,
        }
    }

    /// Records the item now at `i` (new items come last).
    fn insert(&mut self, i: usize, item: &Value, merge_key: &str) {
        match item.as_object() {
            None => self.first_non_map = Some(self.first_non_map.map_or(i, |f| f.min(i))),
            Some(m) => {
                if let Some(candidate) = m.get(merge_key) {
                    self.positions(candidate).insert(i);
                }
            }
        }
    }

    /// Forgets the item at `i` (before it is replaced).
    fn remove(&mut self, i: usize, item: &Map<String, Value>, merge_key: &str) {
        if let Some(candidate) = item.get(merge_key) {
            self.positions(candidate).remove(&i);
        }
    }

    /// Takes every position whose merge key is `k`.
    fn take(&mut self, k: &GoKey) -> BTreeSet<usize> {
        self.by_key.remove(k).unwrap_or_default()
    }

    /// The first item whose merge key holds the same uncomparable type as
    /// `value` (a map or a slice).
    fn first_uncomparable(&self, value: &Value) -> Option<usize> {
        match value {
            Value::Object(_) => self.map_keys.first().copied(),
            Value::Array(_) => self.slice_keys.first().copied(),
            _ => None,
        }
    }

    fn find(&self, list: &[Value], merge_key: &str, value: &Value) -> Result<Option<usize>> {
        let (hit, uncomparable) = match go_key(value) {
            Some(k) => (self.by_key.get(&k).and_then(|p| p.first()).copied(), false),
            None => (self.first_uncomparable(value), true),
        };
        match (self.first_non_map, hit) {
            (Some(stop), hit) if hit.is_none_or(|i| stop < i) => {
                Err(SmpError::NotAMap { index: stop })
            }
            (_, Some(i)) if uncomparable => {
                let candidate = list[i].get(merge_key).unwrap_or(&Value::Null);
                Err(go_eq(candidate, value).expect_err("uncomparable"))
            }
            (_, hit) => Ok(hit),
        }
    }
}

/// `deleteFromSlice`: the `$deleteFromPrimitiveList` semantics.
fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Result<Vec<Value>> {
    for v in to_delete {
        go_hashable(v)?;
    }
    let to_delete = GoSet::new(to_delete);
    let mut out = Vec::with_capacity(current.len());
    for v in current {
        if !to_delete.contains(&v)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// `deduplicateScalars`, including its order-scrambling swap-with-last:
///
/// ```go
/// for i := 0; i < length; i++ {
///     for j := i + 1; j <= length; j++ {
///         if s[i] == s[j] { s[j] = s[length]; s = s[0:length]; length--; j-- }
///     }
/// }
/// ```
///
/// That is quadratic (seconds for ten thousand finalizers), so it is
/// simulated: for each `i`, the duplicates of `s[i]` after it, found through
/// a position index, are filled in ascending order from the end of the
/// list, last items that are duplicates themselves being dropped.
fn deduplicate_scalars(s: Vec<Value>) -> Result<Vec<Value>> {
    // Maps and slices compare by panicking; keep the literal algorithm for
    // those errors (merged scalar lists hold one comparable type).
    let Some(keys) = s.iter().map(go_key).collect::<Option<Vec<GoKey>>>() else {
        return deduplicate_scalars_literally(s);
    };
    let mut ids: HashMap<GoKey, usize> = HashMap::new();
    let id: Vec<usize> = keys
        .into_iter()
        .map(|k| {
            let next = ids.len();
            *ids.entry(k).or_insert(next)
        })
        .collect();
    // at[p]: the original index of the item now at position p.
    let mut at: Vec<usize> = (0..s.len()).collect();
    let mut positions: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); ids.len()];
    for (p, &k) in id.iter().enumerate() {
        positions[k].insert(p);
    }
    let mut len = s.len();
    let mut i = 0;
    while i + 1 < len {
        let k = id[at[i]];
        while let Some(&j) = positions[k].range(i + 1..).next() {
            positions[k].remove(&j);
            // Fill the hole at j from the end.
            loop {
                let last = len - 1;
                len -= 1;
                if last == j {
                    break;
                }
                let moved = at[last];
                positions[id[moved]].remove(&last);
                if id[moved] != k {
                    at[j] = moved;
                    positions[id[moved]].insert(j);
                    break;
                }
            }
        }
        i += 1;
    }
    let mut items: Vec<Option<Value>> = s.into_iter().map(Some).collect();
    Ok(at[..len]
        .iter()
        .map(|&o| items[o].take().expect("each item once"))
        .collect())
}

/// The Go algorithm as written (see [`deduplicate_scalars`]).
fn deduplicate_scalars_literally(mut s: Vec<Value>) -> Result<Vec<Value>> {
    let mut length = s.len() as isize - 1;
    let mut i: isize = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if go_eq(&s[i as usize], &s[j as usize])? {
                s[j as usize] = s[length as usize].clone();
                s.truncate(length as usize);
                length -= 1;
                j -= 1;
            }
            j += 1;
        }
        i += 1;
    }
    Ok(s)
}

/// `partitionPrimitivesByPresentInList`.
fn partition_primitives(merged: Vec<Value>, by: &[Value]) -> Result<(Vec<Value>, Vec<Value>)> {
    for v in by {
        go_hashable(v)?;
    }
    let by = GoSet::new(by);
    let (mut patch, mut server) = (Vec::new(), Vec::new());
    for v in merged {
        if by.contains(&v)? {
            patch.push(v);
        } else {
            server.push(v);
        }
    }
    Ok((patch, server))
}

/// `partitionMapsByPresentInList`.
fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut patch, mut server) = (Vec::new(), Vec::new());
    let index = MapIndex::new(by, merge_key);
    for v in merged {
        let m = v.as_object().ok_or_else(|| bad_arg_type(GO_MAP, &v))?;
        let value = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
        if index.find(by, merge_key, value)?.is_some() {
            patch.push(v);
        } else {
            server.push(v);
        }
    }
    Ok((patch, server))
}

/// `normalizeElementOrder`: sorts patch items by `patch_order` and
/// server-only items by `server_order`, then interleaves them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    merge_sorted_slice(server_only, patch, server_order, merge_key, kind)
}

/// `normalizeSliceOrder`: stable sort by position in `order`; `$patch:
/// delete` items go last. Items absent from `order` compare as "less" like
/// upstream's comparator, so Go's exact stable-sort algorithm is used.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let (to_sort, to_delete) = if kind == GoType::Map {
        validate_merge_key_in_lists(merge_key, &[&to_sort, order])?;
        extract_to_delete_items(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    let mut sorted = if to_sort.len() < 2 {
        to_sort
    } else {
        let order = Positions::new(order, merge_key, kind);
        let mut keyed = Vec::with_capacity(to_sort.len());
        for v in to_sort {
            keyed.push((order.index_of(&v)?, v));
        }
        go_stable_sort(&mut keyed, &|a: &(isize, Value), b: &(isize, Value)| {
            if a.0 >= 0 && b.0 >= 0 {
                a.0 < b.0
            } else {
                true
            }
        });
        keyed.into_iter().map(|(_, v)| v).collect()
    };
    sorted.extend(to_delete);
    Ok(sorted)
}

/// `mergeSortedSlice`: inserts server-only items (`left`) into the patch
/// items (`right`), using live positions where both are known.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let server_order = Positions::new(server_order, merge_key, kind);
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (None, Some(_)) => false,
            (Some(_), None) => true,
            (Some(l), Some(r)) => {
                let li = server_order.index_of(l)?;
                let ri = server_order.index_of(r)?;
                li >= 0 && ri >= 0 && li < ri
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// upstream `index` (position of a value in a list, comparing merge-key
/// values for maps, a missing key being Go `nil`, and whole values
/// otherwise) over one list, as an index: sorting and merging call it for
/// every item, which made them quadratic.
struct Positions<'a> {
    merge_key: &'a str,
    kind: GoType,
    /// The first position of each comparable key.
    first: HashMap<GoKey, usize>,
    has_map: bool,
    has_slice: bool,
}

impl<'a> Positions<'a> {
    fn new(list: &[Value], merge_key: &'a str, kind: GoType) -> Self {
        let mut p = Positions {
            merge_key,
            kind,
            first: HashMap::with_capacity(list.len()),
            has_map: false,
            has_slice: false,
        };
        for (i, v) in list.iter().enumerate() {
            let k = p.key_of(v);
            match go_key(k) {
                Some(k) => {
                    p.first.entry(k).or_insert(i);
                }
                None if k.is_object() => p.has_map = true,
                None => p.has_slice = true,
            }
        }
        p
    }

    fn key_of<'v>(&self, item: &'v Value) -> &'v Value {
        if self.kind == GoType::Map {
            item.as_object()
                .and_then(|m| m.get(self.merge_key))
                .unwrap_or(&Value::Null)
        } else {
            item
        }
    }

    fn index_of(&self, value: &Value) -> Result<isize> {
        let wanted = self.key_of(value);
        match go_key(wanted) {
            Some(k) => Ok(self.first.get(&k).map_or(-1, |&i| i as isize)),
            // Comparing two maps or two slices panics in Go.
            None if (wanted.is_object() && self.has_map)
                || (wanted.is_array() && self.has_slice) =>
            {
                Err(go_eq(wanted, wanted).expect_err("uncomparable"))
            }
            None => Ok(-1),
        }
    }
}

/// `extractToDeleteItems`: `(kept, $patch: delete items)`.
fn extract_to_delete_items(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut keep, mut delete) = (Vec::new(), Vec::new());
    for v in list {
        let m = v.as_object().ok_or_else(|| bad_arg_type(GO_MAP, &v))?;
        if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

/// `validateMergeKeyInLists`.
fn validate_merge_key_in_lists(merge_key: &str, lists: &[&[Value]]) -> Result<()> {
    for list in lists {
        for item in list.iter() {
            let m = item.as_object().ok_or_else(|| bad_arg_type(GO_MAP, item))?;
            if !m.contains_key(merge_key) {
                return Err(no_merge_key(m, merge_key));
            }
        }
    }
    Ok(())
}

/// `sliceElementType`: the common Go type of all elements.
fn slice_element_type(slices: &[&[Value]]) -> Result<GoType> {
    let mut prev: Option<GoType> = None;
    for s in slices {
        for v in s.iter() {
            let t = go_type(v);
            match prev {
                None => {
                    if t == GoType::Nil {
                        return Err(SmpError::Panic {
                            reason: "runtime error: invalid memory address or nil pointer \
                                     dereference"
                                .into(),
                        });
                    }
                    if t == GoType::Slice {
                        return Err(SmpError::NoListOfLists);
                    }
                    prev = Some(t);
                }
                Some(p) if p != t => {
                    let lists: Vec<String> = slices.iter().map(|s| fmt_v_list(s)).collect();
                    return Err(SmpError::ListElementTypesNotIdentical {
                        lists: format!("[{}]", lists.join(" ")),
                    });
                }
                Some(_) => {}
            }
        }
    }
    prev.ok_or(SmpError::NoElements)
}

/// Go's `sort.SliceStable` (insertion-sorted blocks of 20 + `symMerge`),
/// reproduced so that inconsistent comparators order items as upstream does.
fn go_stable_sort<T>(data: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, less);
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, less);
    while block < n {
        a = 0;
        b = 2 * block;
        while b <= n {
            sym_merge(data, a, a + block, b, less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, less);
        }
        block *= 2;
    }
}

fn insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1]) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sym_merge<T>(data: &mut [T], a: usize, m: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i - 1 {
            data.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less);
    }
}

fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    let (mut i, mut j) = (m - a, b - m);
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

fn swap_range<T>(data: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        data.swap(a + i, b + i);
    }
}

// ---------------------------------------------------------------------------
// Sanitising values taken from the patch.

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE_MARKER
        || k == RETAIN_KEYS_DIRECTIVE
        || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// `discardNullValuesFromPatch`: drops `null` map values at any depth (list
/// elements that are `null` stay).
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// `removeDirectives` (a map holding `$patch` disappears), plus stripping the
/// parallel-list / retainKeys directive keys upstream would leave behind.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(remove_directives_in_map(m)))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn remove_directives_in_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, _)| !is_directive_key(k))
        .filter_map(|(k, c)| remove_directives(c).map(|c| (k, c)))
        .collect()
}

/// A value taken wholesale from the patch (key absent, or of another type,
/// in the original).
fn sanitize(mut v: Value) -> Option<Value> {
    discard_nulls(&mut v);
    remove_directives(v)
}

/// A map replacing its original (`$patch: replace`, `patchStrategy:
/// replace`); its own directive keys are dropped rather than the whole map.
fn sanitize_replacement_map(m: Map<String, Value>) -> Map<String, Value> {
    let mut v = Value::Object(m);
    discard_nulls(&mut v);
    match v {
        Value::Object(m) => remove_directives_in_map(m),
        _ => Map::new(),
    }
}

/// A list item taken from the patch: like [`sanitize`], but a `null` merge
/// key survives (upstream keeps the item, keyed by `nil`).
fn sanitize_item(v: Value, merge_key: &str) -> Option<Value> {
    let Value::Object(m) = v else {
        return remove_directives(v);
    };
    if m.contains_key(DIRECTIVE_MARKER) {
        return None;
    }
    let mut out = Map::new();
    for (k, mut c) in m {
        if c.is_null() {
            if !merge_key.is_empty() && k == merge_key {
                out.insert(k, c);
            }
            continue;
        }
        if is_directive_key(&k) {
            continue;
        }
        discard_nulls(&mut c);
        if let Some(c) = remove_directives(c) {
            out.insert(k, c);
        }
    }
    Some(Value::Object(out))
}

fn sanitize_items(items: Vec<Value>, merge_key: &str) -> Vec<Value> {
    items
        .into_iter()
        .filter_map(|v| sanitize_item(v, merge_key))
        .collect()
}

// ---------------------------------------------------------------------------
// Go value semantics: dynamic types, `==`, map hashing and fmt.

/// The dynamic Go type of a decoded JSON value (`UnmarshalCaseSensitive
/// PreserveInts` yields `int64` for integral numbers that fit, else
/// `float64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GoType {
    Nil,
    Map,
    Slice,
    String,
    Int64,
    Float64,
    Bool,
}

fn go_type(v: &Value) -> GoType {
    match v {
        Value::Null => GoType::Nil,
        Value::Object(_) => GoType::Map,
        Value::Array(_) => GoType::Slice,
        Value::String(_) => GoType::String,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.as_i64().is_some() => GoType::Int64,
        Value::Number(_) => GoType::Float64,
    }
}

/// `reflect.TypeOf(v)` as `%s` prints it.
fn go_type_name(v: &Value) -> &'static str {
    match go_type(v) {
        GoType::Nil => "%!s(<nil>)",
        GoType::Map => GO_MAP,
        GoType::Slice => GO_SLICE,
        GoType::String => "string",
        GoType::Int64 => "int64",
        GoType::Float64 => "float64",
        GoType::Bool => "bool",
    }
}

/// Go `==` on two `interface{}` values; comparing two maps or two slices
/// panics at run time.
fn go_eq(a: &Value, b: &Value) -> Result<bool> {
    let (ta, tb) = (go_type(a), go_type(b));
    if ta != tb {
        return Ok(false);
    }
    match ta {
        GoType::Map | GoType::Slice => Err(SmpError::Panic {
            reason: format!(
                "runtime error: comparing uncomparable type {}",
                go_type_name(a)
            ),
        }),
        GoType::Nil => Ok(true),
        GoType::Int64 => Ok(a.as_i64() == b.as_i64()),
        GoType::Float64 => Ok(a.as_f64() == b.as_f64()),
        GoType::String | GoType::Bool => Ok(a == b),
    }
}

/// Using a map or slice as a Go map key panics.
fn go_hashable(v: &Value) -> Result<()> {
    match go_type(v) {
        GoType::Map | GoType::Slice => Err(SmpError::Panic {
            reason: format!("runtime error: hash of unhashable type {}", go_type_name(v)),
        }),
        _ => Ok(()),
    }
}

/// A comparable Go value as a hash key: Go `==` on comparable values is
/// equality of their keys (types included: `int64(1) != float64(1)`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum GoKey {
    Nil,
    Bool(bool),
    Int(i64),
    /// The bits of the `float64`, with `-0` as `0` (`-0 == 0` in Go; JSON
    /// has no NaN).
    Float(u64),
    String(String),
}

/// The key of a comparable value; `None` for maps and slices.
fn go_key(v: &Value) -> Option<GoKey> {
    Some(match v {
        Value::Null => GoKey::Nil,
        Value::Bool(b) => GoKey::Bool(*b),
        Value::String(s) => GoKey::String(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => GoKey::Int(i),
            None => GoKey::Float((n.as_f64().unwrap_or(0.0) + 0.0).to_bits()),
        },
        Value::Object(_) | Value::Array(_) => return None,
    })
}

/// A Go `map[interface{}]bool` built from a list of comparable values.
struct GoSet(HashSet<GoKey>);

impl GoSet {
    fn new(set: &[Value]) -> Self {
        GoSet(set.iter().filter_map(go_key).collect())
    }

    /// Looking up a map or slice panics in Go.
    fn contains(&self, v: &Value) -> Result<bool> {
        go_hashable(v)?;
        Ok(go_key(v).is_some_and(|k| self.0.contains(&k)))
    }
}

fn bad_arg_type(expected: &str, actual: &Value) -> SmpError {
    SmpError::BadArgType {
        expected: expected.to_string(),
        actual: go_type_name(actual).to_string(),
    }
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> SmpError {
    SmpError::NoMergeKey {
        map: fmt_v_map(m),
        key: key.to_string(),
    }
}

fn bad_patch_type(directive: &Value, m: &Map<String, Value>) -> SmpError {
    SmpError::BadPatchType {
        directive: fmt_s(directive),
        map: fmt_v_map(m),
    }
}

/// Go `%v`.
fn fmt_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => fmt_float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => fmt_v_list(a),
        Value::Object(m) => fmt_v_map(m),
    }
}

fn fmt_v_list(a: &[Value]) -> String {
    let items: Vec<String> = a.iter().map(fmt_v).collect();
    format!("[{}]", items.join(" "))
}

fn fmt_v_map(m: &Map<String, Value>) -> String {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let items: Vec<String> = entries
        .into_iter()
        .map(|(k, v)| format!("{k}:{}", fmt_v(v)))
        .collect();
    format!("map[{}]", items.join(" "))
}

/// Go `%s` (non-strings print as `%!s(type=value)`).
fn fmt_s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".into(),
        Value::Bool(_) | Value::Number(_) => format!("%!s({}={})", go_type_name(v), fmt_v(v)),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(fmt_s).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", fmt_s(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go `%v` of a `float64` (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest
/// round-trip digits, in `d.ddde±XX` form when the decimal exponent is < -4
/// or >= 6 (`1e+06`, `1.5e-05`), plain otherwise (`123456`, `0.0001`).
fn fmt_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            let (i, frac) = digits.split_at(int_len);
            format!("{sign}{i}.{frac}")
        }
    } else {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    }
}

#[cfg(test)]
mod tests;
