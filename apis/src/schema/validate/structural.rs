//! The checks Kubernetes runs on a custom resource beside its OpenAPI
//! validation, driven by the structural schema rather than by JSON Schema:
//!
//! - `schema/objectmeta/validation.go`: every object marked
//!   `x-kubernetes-embedded-resource` needs a well-formed `apiVersion` and
//!   `kind`, and its `metadata` must be valid ObjectMeta;
//! - `schema/listtype/validation.go`: items of an `x-kubernetes-list-type:
//!   set` are unique, and the key fields of a `map` list identify one item.
//!
//! Both walk the object along the schema with `field.Path` notation (map
//! values as `[key]`, unlike the dotted names of OpenAPI messages). Most
//! schemas have neither feature, so the walk is compiled into a tree that
//! only keeps the branches leading to one, and a schema without any costs
//! nothing per request. Upstream collects all embedded-resource errors and
//! then all list errors; so do we.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::formats::{go_quote, go_sharp_v};
use crate::field_error::{ErrorType, FieldError};
use crate::schema::{ListType, Schema};
use crate::validation;

/// The part of a structural schema that carries list-type or
/// embedded-resource semantics.
#[derive(Debug)]
pub(super) struct Node {
    list: Option<ListType>,
    embedded: bool,
    props: Vec<(String, Node)>,
    additional: Option<Box<Node>>,
    items: Option<Box<Node>>,
}

/// The walk for `s`, or `None` when nothing under it needs checking.
pub(super) fn build(s: &Schema) -> Option<Node> {
    let list = match &s.list_type {
        Some(l @ (ListType::Set | ListType::Map(_))) => Some(l.clone()),
        _ => None,
    };
    let props: Vec<_> = s
        .properties
        .iter()
        .filter_map(|(k, c)| build(c).map(|n| (k.clone(), n)))
        .collect();
    let additional = s
        .additional_properties
        .as_deref()
        .and_then(build)
        .map(Box::new);
    let items = s.items.as_deref().and_then(build).map(Box::new);
    if list.is_none()
        && !s.embedded_resource
        && props.is_empty()
        && additional.is_none()
        && items.is_none()
    {
        return None;
    }
    Some(Node {
        list,
        embedded: s.embedded_resource,
        props,
        additional,
        items,
    })
}

/// Runs both checks on `v`, rooted at `path`; embedded-resource errors go
/// to `embedded`, list errors to `lists`.
pub(super) fn check(
    v: &Value,
    n: &Node,
    path: &mut String,
    embedded: &mut Vec<FieldError>,
    lists: &mut Vec<FieldError>,
) {
    match v {
        Value::Object(m) => {
            if n.embedded {
                embedded_resource(path, m, embedded);
            }
            for (k, child) in &n.props {
                if let Some(cv) = m.get(k) {
                    let len = push_child(path, k);
                    check(cv, child, path, embedded, lists);
                    path.truncate(len);
                }
            }
            if let Some(a) = &n.additional {
                for (k, cv) in m {
                    if n.props.iter().any(|(p, _)| p == k) {
                        continue;
                    }
                    let len = path.len();
                    path.push('[');
                    path.push_str(k);
                    path.push(']');
                    check(cv, a, path, embedded, lists);
                    path.truncate(len);
                }
            }
        }
        Value::Array(items) => {
            match &n.list {
                Some(ListType::Set) => {
                    for i in non_unique(items.iter().map(Key::of)) {
                        lists.push(duplicate(index(path, i), &items[i]));
                    }
                }
                Some(ListType::Map(keys)) => list_map(path, keys, items, lists),
                _ => {}
            }
            if let Some(it) = &n.items {
                for (i, cv) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    check(cv, it, path, embedded, lists);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

fn push_child(path: &mut String, k: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(k);
    len
}

fn child(path: &str, k: &str) -> String {
    let mut p = path.to_string();
    push_child(&mut p, k);
    p
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// How Go compares list items: scalars by dynamic type and value (so `1`
/// and `1.0` differ), compounds by their JSON encoding with sorted keys.
#[derive(PartialEq, Eq, Hash)]
enum Key {
    Unspecified,
    Null,
    Bool(bool),
    Int(String),
    Float(u64),
    Str(String),
    Compound(String),
}

impl Key {
    fn of(v: &Value) -> Key {
        match v {
            Value::Null => Key::Null,
            Value::Bool(b) => Key::Bool(*b),
            Value::Number(n) if n.is_i64() || n.is_u64() => Key::Int(n.to_string()),
            Value::Number(n) => Key::Float(n.as_f64().unwrap_or(0.0).to_bits()),
            Value::String(s) => Key::Str(s.clone()),
            compound => {
                let mut s = String::new();
                canonical_json(compound, &mut s);
                Key::Compound(s)
            }
        }
    }
}

fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Upstream `validateListSet`: the index of the second occurrence of every
/// value that occurs more than once (later repeats are not reported).
fn non_unique(keys: impl Iterator<Item = Key>) -> Vec<usize> {
    let mut seen: HashMap<Key, u32> = HashMap::new();
    let mut out = Vec::new();
    for (i, k) in keys.enumerate() {
        let times = seen.entry(k).or_insert(0);
        *times += 1;
        if *times == 2 {
            out.push(i);
        }
    }
    out
}

/// `field.Duplicate`: strings and integers render the same through
/// [`FieldError`]'s value; anything else is pre-rendered in Go's `%#v`
/// (`map[string]interface {}{"name":"a"}`) and carried in the detail.
fn duplicate(path: String, v: &Value) -> FieldError {
    let plain = match v {
        Value::String(s) => go_quote(s) == format!("{s:?}"),
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::Bool(_) => true,
        _ => false,
    };
    if plain {
        FieldError::duplicate(path, v.clone())
    } else {
        FieldError::new(ErrorType::Duplicate, path, None, go_sharp_v(v))
    }
}

/// Upstream `validateListMap`.
fn list_map(path: &str, keys: &[String], items: &[Value], out: &mut Vec<FieldError>) {
    if let Some((i, x)) = items
        .iter()
        .enumerate()
        .find(|(_, x)| !x.is_object() && !x.is_null())
    {
        out.push(FieldError::invalid(
            index(path, i),
            x.clone(),
            "must be an object for an array of list-type map",
        ));
        return;
    }
    if items.len() <= 1 {
        return;
    }
    if let [key] = keys {
        let values: Vec<Option<&Value>> = items
            .iter()
            .map(|x| x.as_object().and_then(|m| m.get(key)))
            .collect();
        let dups = non_unique(values.iter().map(|v| v.map_or(Key::Unspecified, Key::of)));
        for i in dups {
            let mut m = Map::new();
            if let Some(v) = values[i] {
                m.insert(key.clone(), v.clone());
            }
            out.push(duplicate(index(path, i), &Value::Object(m)));
        }
        return;
    }
    let key_maps: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut m = Map::new();
            if let Some(obj) = x.as_object() {
                for k in keys {
                    if let Some(v) = obj.get(k) {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(m)
        })
        .collect();
    for i in non_unique(key_maps.iter().map(Key::of)) {
        out.push(duplicate(index(path, i), &key_maps[i]));
    }
}

/// Go's `%T` for an unstructured value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Upstream `validateEmbeddedResource`. Go visits the keys in map order; we
/// report apiVersion, kind, then metadata.
fn embedded_resource(path: &str, m: &Map<String, Value>, out: &mut Vec<FieldError>) {
    for k in ["apiVersion", "kind"] {
        if !m.contains_key(k) {
            out.push(FieldError::required(child(path, k), ""));
        }
    }
    if let Some(v) = m.get("apiVersion") {
        let p = child(path, "apiVersion");
        match v.as_str() {
            None => out.push(FieldError::invalid(p, v.clone(), "must be a string")),
            Some("") => out.push(FieldError::invalid(p, "", "must not be empty")),
            // `schema.ParseGroupVersion` accepts `v1`, `group/v1` and `/`.
            Some(s) if s != "/" && s.matches('/').count() > 1 => out.push(FieldError::invalid(
                p,
                s,
                format!("unexpected GroupVersion string: {s}"),
            )),
            Some(_) => {}
        }
    }
    if let Some(v) = m.get("kind") {
        let p = child(path, "kind");
        match v.as_str() {
            None => out.push(FieldError::invalid(p, v.clone(), "must be a string")),
            Some("") => out.push(FieldError::invalid(p, "", "must not be empty")),
            Some(s) => {
                let errs = validation::is_dns1035_label(&s.to_lowercase());
                if !errs.is_empty() {
                    out.push(FieldError::invalid(
                        p,
                        s,
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            errs.join(",")
                        ),
                    ));
                }
            }
        }
    }
    if let Some(v) = m.get("metadata") {
        let p = child(path, "metadata");
        match v.as_object() {
            Some(meta) => object_meta(&p, meta, out),
            None => out.push(FieldError::invalid(
                p,
                v.clone(),
                format!("invalid metadata: expected object, got {}", go_type(v)),
            )),
        }
    }
}

/// `path.ValidatePathSegmentName`: names may not be `.` or `..` and may not
/// contain `/` or `%`; prefixes (generateName) only the latter.
fn path_segment_name(name: &str, prefix: bool) -> Vec<String> {
    if !prefix && (name == "." || name == "..") {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// The parts of `ValidateObjectMeta` that apply to an embedded object (with
/// `ValidatePathSegmentName` for names, a namespace required only when
/// given). An empty name is replaced by `fakename` upstream, so it never
/// fails. Fields of the wrong type are skipped: upstream coerces them away
/// while decoding, before validation sees them.
fn object_meta(path: &str, meta: &Map<String, Value>, out: &mut Vec<FieldError>) {
    let s = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("");
    let generate_name = s("generateName");
    if !generate_name.is_empty() {
        for msg in path_segment_name(generate_name, true) {
            out.push(FieldError::invalid(
                child(path, "generateName"),
                generate_name,
                msg,
            ));
        }
    }
    let name = match s("name") {
        "" => "fakename",
        n => n,
    };
    for msg in path_segment_name(name, false) {
        out.push(FieldError::invalid(child(path, "name"), name, msg));
    }
    let namespace = s("namespace");
    if !namespace.is_empty() {
        for msg in validation::name_is_dns_label(namespace, false) {
            out.push(FieldError::invalid(
                child(path, "namespace"),
                namespace,
                msg,
            ));
        }
    }
    if let Some(g) = meta.get("generation").and_then(Value::as_i64)
        && g < 0
    {
        out.push(FieldError::invalid(
            child(path, "generation"),
            g,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(Value::Object(labels)) = meta.get("labels") {
        out.extend(validation::validate_labels(labels, &child(path, "labels")));
    }
    if let Some(Value::Object(annotations)) = meta.get("annotations") {
        out.extend(validation::validate_annotations(
            annotations,
            &child(path, "annotations"),
        ));
    }
}
