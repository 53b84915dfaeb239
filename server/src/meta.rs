//! Generic object-metadata rules applied to every resource, and the encoding
//! of objects for storage.
//!
//! Stored bytes carry their own `metadata.resourceVersion`: the object is
//! serialised with a per-process random sentinel in that field, the sentinel
//! is cut out, and the storage engine splices the commit revision in at that
//! offset (see `trellis_storage::Value`). Reads then serve stored bytes
//! without parsing them.

use bytes::Bytes;
use rand::Rng;
use serde_json::{Map, Value, json};
use trellis_apis::FieldError;
use trellis_apis::validation::{self, NameRule};

/// The garbage collector's finalizers (kube's `FinalizerOrphanDependents`
/// and `FinalizerDeleteDependents`).
pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Standard finalizers that need no domain prefix.
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", ORPHAN_FINALIZER, FOREGROUND_FINALIZER];

/// Characters of generated name suffixes (no vowels, no confusables).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Longest `generateName` prefix kept before the 5-character suffix.
const MAX_GENERATE_PREFIX: usize = 58;

/// Current time as Kubernetes writes `creationTimestamp` (RFC 3339, seconds).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `names.SimpleNameGenerator`: prefix (at most 58 bytes) + 5 random chars.
pub fn generate_name(prefix: &str) -> String {
    let mut base = prefix.to_string();
    if base.len() > MAX_GENERATE_PREFIX {
        let mut cut = MAX_GENERATE_PREFIX;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    let mut rng = rand::rng();
    for _ in 0..5 {
        base.push(NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char);
    }
    base
}

pub fn meta(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    obj.get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// `metadata`, created if missing or not an object.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

pub fn str_field<'a>(obj: &'a Value, key: &str) -> &'a str {
    meta(obj).get(key).and_then(Value::as_str).unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    str_field(obj, "name")
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    strings_at(obj, "/metadata/finalizers")
}

/// The strings of the array at JSON pointer `ptr` (others skipped; none
/// when absent).
pub fn strings_at(obj: &Value, ptr: &str) -> Vec<String> {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    meta(obj)
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// Validation of `metadata` common to every resource (upstream
/// `ValidateObjectMetaAccessor`, minus the name, which the caller checks
/// with the resource's rule after generating it).
pub fn validate_meta(obj: &Value, rule: NameRule, namespaced: bool) -> Vec<FieldError> {
    let m = meta(obj);
    let mut errs = validation::validate_object_meta_name(
        str_field(obj, "name"),
        str_field(obj, "generateName"),
        rule,
        "metadata",
    );
    if namespaced {
        let ns = str_field(obj, "namespace");
        if ns.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        }
    } else if !str_field(obj, "namespace").is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(Value::Object(labels)) = m.get("labels") {
        errs.extend(validation::validate_labels(labels, "metadata.labels"));
    }
    if let Some(Value::Object(ann)) = m.get("annotations") {
        errs.extend(validation::validate_annotations(
            ann,
            "metadata.annotations",
        ));
    }
    for (i, f) in finalizers(obj).iter().enumerate() {
        let path = format!("metadata.finalizers[{i}]");
        let msgs = validation::is_qualified_name(f);
        if !msgs.is_empty() {
            errs.extend(
                msgs.into_iter()
                    .map(|m| FieldError::invalid(path.clone(), f.clone(), m)),
            );
        } else if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()) {
            errs.push(FieldError::invalid(
                path,
                f.clone(),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    let fins = finalizers(obj);
    if fins.iter().any(|f| f == "orphan") && fins.iter().any(|f| f == "foregroundDeletion") {
        errs.push(FieldError::invalid(
            "metadata.finalizers",
            json!(fins),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    if let Some(Value::Array(owners)) = m.get("ownerReferences") {
        for (i, o) in owners.iter().enumerate() {
            for f in ["apiVersion", "kind", "name", "uid"] {
                if o.get(f).and_then(Value::as_str).unwrap_or("").is_empty() {
                    errs.push(FieldError::invalid(
                        format!("metadata.ownerReferences[{i}].{f}"),
                        o.get(f).cloned().unwrap_or(json!("")),
                        format!("{f} must not be empty"),
                    ));
                }
            }
        }
    }
    errs
}

/// Immutability rules of `metadata` on update.
pub fn validate_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in ["name", "namespace", "uid"] {
        let (n, o) = (str_field(new, f), str_field(old, f));
        if n != o {
            errs.push(FieldError::invalid(
                format!("metadata.{f}"),
                n,
                "field is immutable",
            ));
        }
    }
    if is_deleting(old) {
        let old_f = finalizers(old);
        let added: Vec<String> = finalizers(new)
            .into_iter()
            .filter(|f| !old_f.contains(f))
            .collect();
        if !added.is_empty() {
            let list = added
                .iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"),
            ));
        }
    }
    errs
}

/// A sentinel for the revision slot, unguessable per process.
#[derive(Clone)]
pub struct Sentinel {
    /// The JSON string content placed in `resourceVersion`.
    raw: String,
    /// Its serialised form, as searched for in the output.
    needle: Vec<u8>,
}

impl Default for Sentinel {
    fn default() -> Self {
        let token: u64 = rand::rng().random();
        let raw = format!("\u{1}trellis-rv-{token:016x}\u{1}");
        let needle = format!(
            "\"resourceVersion\":{}",
            serde_json::to_string(&raw).expect("string serialises")
        )
        .into_bytes();
        Sentinel { raw, needle }
    }
}

impl Sentinel {
    /// Serialises `obj` for storage with the revision slot marked; leaves
    /// `metadata.resourceVersion` removed from `obj`.
    pub fn encode(&self, obj: &mut Value) -> trellis_storage::Value {
        meta_mut(obj).insert("resourceVersion".into(), Value::String(self.raw.clone()));
        // Stored bytes are served as they are, so they are written in
        // kube-apiserver's key order once, here.
        let bytes = trellis_apis::proto::order::to_vec(obj);
        meta_mut(obj).remove("resourceVersion");
        let pos =
            memchr::memmem::find(&bytes, &self.needle).expect("the sentinel is in the output");
        // Keep `"resourceVersion":"` and the closing quote, drop the sentinel.
        let head = pos + b"\"resourceVersion\":\"".len();
        let tail = pos + self.needle.len() - 1;
        let mut out = Vec::with_capacity(bytes.len());
        out.extend_from_slice(&bytes[..head]);
        out.extend_from_slice(&bytes[tail..]);
        trellis_storage::Value::with_revision_slot(Bytes::from(out), head)
    }
}

/// The annotation naming an object's logical cluster, as kcp serves it in
/// cross-workspace views.
pub const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";

/// Sets one annotation, creating the map when needed.
/// The deepest nesting of objects and arrays stored objects may have.
///
/// Request bodies parse with a limit of 128 levels (serde_json's), and so
/// do stored objects when read back, in lists and watch events (a level or
/// three deeper) and in clients such as kube-rs. A patch, or the
/// managedFields that mirror an object's shape, can build something deeper
/// than any body that parsed; refusing it before it is stored keeps every
/// stored object readable (Go clients allow 10,000 levels; no real object
/// comes near either).
pub const MAX_DEPTH: usize = 100;

/// How deeply objects and arrays nest in `v` (a scalar: 0), computed
/// without recursion.
pub fn nesting_depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        max = max.max(depth);
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    max
}

/// Refuses an object nested beyond [`MAX_DEPTH`] (see there).
pub fn check_depth(obj: &Value) -> crate::error::ApiResult<()> {
    if nesting_depth(obj) > MAX_DEPTH {
        return Err(crate::error::ApiError::bad_request(format!(
            "the object nests objects and arrays more than {MAX_DEPTH} levels deep (metadata.managedFields included)"
        )));
    }
    Ok(())
}

/// The string at JSON pointer `ptr` of `obj`, or `""`.
pub fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// `metadata.<field>` (labels or annotations) as a map, made one if it is
/// absent or not an object.
fn string_map_mut<'a>(obj: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    let v = meta_mut(obj)
        .entry(field)
        .or_insert_with(|| Value::Object(Default::default()));
    if !v.is_object() {
        *v = Value::Object(Default::default());
    }
    v.as_object_mut().expect("object")
}

pub fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    string_map_mut(obj, "annotations").insert(key.to_string(), Value::String(value.to_string()));
}

/// The value of label `key`, if it is a string.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// The labels, made a map if absent.
pub fn labels_mut(obj: &mut Value) -> &mut Map<String, Value> {
    string_map_mut(obj, "labels")
}

/// Sets label `key` or, with `None`, removes it (and an emptied map).
pub fn set_label(obj: &mut Value, key: &str, value: Option<&str>) {
    let labels = labels_mut(obj);
    match value {
        Some(v) => {
            labels.insert(key.to_string(), Value::String(v.to_string()));
        }
        None => {
            labels.remove(key);
        }
    }
    if labels.is_empty() {
        meta_mut(obj).remove("labels");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_marks_the_slot() {
        let s = Sentinel::default();
        let mut obj = json!({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"resourceVersion": "evil"}});
        let v = s.encode(&mut obj);
        let slot = v.revision_slot.unwrap();
        let mut spliced = v.bytes[..slot].to_vec();
        spliced.extend_from_slice(b"42");
        spliced.extend_from_slice(&v.bytes[slot..]);
        let back: Value = serde_json::from_slice(&spliced).unwrap();
        assert_eq!(back["metadata"]["resourceVersion"], "42");
        assert_eq!(back["data"]["resourceVersion"], "evil");
        assert!(obj["metadata"].get("resourceVersion").is_none());
    }

    #[test]
    fn nesting_depth_counts_containers() {
        assert_eq!(nesting_depth(&json!("x")), 0);
        assert_eq!(nesting_depth(&json!({})), 1);
        assert_eq!(nesting_depth(&json!({"a": [1, {"b": []}]})), 4);
        let mut deep = json!("x");
        for _ in 0..MAX_DEPTH {
            deep = json!({ "a": deep });
        }
        assert!(check_depth(&deep).is_ok());
        let deeper = json!([deep]);
        let e = check_depth(&deeper).unwrap_err();
        assert_eq!(e.code(), 400);
        // Stored objects must read back with the parser's 128-level limit.
        assert!(serde_json::from_value::<Value>(deeper.clone()).is_ok());
        let text = serde_json::to_string(&json!({"items": [{"object": deeper}]})).unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }

    #[test]
    fn generated_names() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].bytes().all(|b| NAME_ALPHABET.contains(&b)));
        assert_eq!(generate_name(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn finalizer_rules() {
        let obj = json!({"metadata": {"name": "x", "namespace": "d", "finalizers": ["kubernetes", "nope", "example.com/f"]}});
        let errs = validate_meta(&obj, NameRule::Dns1123Subdomain, true);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "metadata.finalizers[1]: Invalid value: \"nope\": name is neither a standard finalizer name nor is it fully qualified"
        );
        let old = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/b"]}});
        let new = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/b", "c/d"]}});
        assert!(
            validate_meta_update(&new, &old)[0]
                .to_string()
                .contains("found new finalizers []string{\"c/d\"}")
        );
    }
}
