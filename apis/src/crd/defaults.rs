//! Defaulting and the registry strategy's field resets for
//! `apiextensions.k8s.io/v1` CustomResourceDefinitions, on JSON.
//!
//! * [`set_defaults`] is `SetObjectDefaults_CustomResourceDefinition`: it runs
//!   on every decode (create, update, and objects read back), so it only
//!   fills what is absent.
//! * `prepare_for_*` are the strategy's `PrepareForCreate`,
//!   `PrepareForUpdate` and the status strategy's `PrepareForUpdate`: they
//!   decide which half of the object a request may change and maintain
//!   `metadata.generation` and `status.storedVersions`.
//!
//! Upstream round-trips through Go structs, so a freshly created CRD reads
//! back with `status.acceptedNames: {plural: "", kind: ""}` (those two fields
//! are not `omitempty`); `prepare_for_create` writes that shape. A full
//! round-trip normalisation (dropping unknown fields, writing other
//! non-omitempty zero values) is not done here.

use serde_json::{Map, Value, json};

/// The finalizer the CRD controllers put on every CRD so instances are
/// deleted before the definition goes away.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// v1 defaulting (`SetDefaults_CustomResourceDefinition` and friends).
pub fn set_defaults(crd: &mut Value) {
    if let Some(spec) = crd.get_mut("spec").and_then(obj) {
        if let Some(names) = spec.get_mut("names").and_then(obj) {
            let kind = names
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if names
                .get("singular")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                names.insert("singular".into(), Value::String(kind.to_lowercase()));
            }
            if names
                .get("listKind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
                && !kind.is_empty()
            {
                names.insert("listKind".into(), Value::String(format!("{kind}List")));
            }
        }
        let conversion = spec.entry("conversion").or_insert(Value::Null);
        if !conversion.is_object() {
            *conversion = json!({"strategy": "None"});
        }
        let service = conversion
            .get_mut("webhook")
            .and_then(|w| w.get_mut("clientConfig"))
            .and_then(|c| c.get_mut("service"))
            .and_then(obj);
        if let Some(service) = service
            && service.get("port").is_none_or(Value::is_null)
        {
            service.insert("port".into(), json!(443));
        }
    }
    let stored_empty = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if stored_empty && let Some(storage) = storage_version(crd) {
        set_stored_versions(crd, vec![Value::String(storage)]);
    }
}

/// The name of the first version marked `storage: true`.
pub fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .map(|v| str_of(v, "name").to_string())
}

fn set_stored_versions(crd: &mut Value, versions: Vec<Value>) {
    let Some(root) = obj(crd) else {
        return;
    };
    let status = root.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    if let Some(status) = obj(status) {
        status.insert("storedVersions".into(), Value::Array(versions));
    }
}

/// Appends the storage version to `status.storedVersions` unless present.
fn record_storage_version(crd: &mut Value) {
    let Some(storage) = storage_version(crd) else {
        return;
    };
    let mut stored: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !stored.iter().any(|v| v.as_str() == Some(storage.as_str())) {
        stored.push(Value::String(storage));
        set_stored_versions(crd, stored);
    }
}

fn set_generation(crd: &mut Value, generation: i64) {
    if let Some(meta) = crd.get_mut("metadata").and_then(obj) {
        meta.insert("generation".into(), json!(generation));
    }
}

/// `PrepareForCreate`: users cannot set status; generation starts at 1 and
/// the storage version is recorded as stored.
pub fn prepare_for_create(crd: &mut Value) {
    if let Some(root) = obj(crd) {
        root.insert(
            "status".into(),
            json!({"acceptedNames": {"plural": "", "kind": ""}}),
        );
    }
    set_generation(crd, 1);
    record_storage_version(crd);
}

/// `PrepareForUpdate` of the main resource: status comes from the stored
/// object, generation increments when the spec changed (compared as JSON),
/// and a new storage version is appended to `status.storedVersions`.
pub fn prepare_for_update(new: &mut Value, old: &Value) {
    let old_status = old.get("status").cloned();
    if let Some(root) = obj(new) {
        match old_status {
            Some(s) => root.insert("status".into(), s),
            None => root.remove("status"),
        };
    }
    let old_generation = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if new.get("spec") != old.get("spec") {
        set_generation(new, old_generation + 1);
    } else {
        set_generation(new, old_generation);
    }
    record_storage_version(new);
}

/// The status strategy's `PrepareForUpdate`: only status may change. (Upstream
/// also means to reset metadata but passes the new object twice, so metadata
/// changes go through; we match that.)
pub fn prepare_for_status_update(new: &mut Value, old: &Value) {
    let old_spec = old.get("spec").cloned();
    if let Some(root) = obj(new) {
        match old_spec {
            Some(s) => root.insert("spec".into(), s),
            None => root.remove("spec"),
        };
    }
}
