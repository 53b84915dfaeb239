//! Structural schemas: the shape of an object type, as the server needs it.
//!
//! Kubernetes decides several behaviours from a type's schema rather than
//! from its values: which fields exist (pruning, unknown-field warnings),
//! whether a JSON object is a *struct* (fixed properties) or a *map*
//! (arbitrary keys), how lists merge (`x-kubernetes-list-type`, patch merge
//! keys) and which fields managedFields tracks. This module holds that shape
//! for built-in types (loaded from k8s-openapi's schemas) and for custom
//! resources (from `openAPIV3Schema`) alike, so both go through the same
//! machinery.
//!
//! Loading resolves `$ref`s; a reference that is already being expanded
//! (recursive types such as `JSONSchemaProps`) becomes a free-form node
//! that preserves unknown fields, which is how Kubernetes treats such
//! fields in practice.

pub mod default;
pub mod validate;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

/// `x-kubernetes-list-type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    /// Items are objects identified by these keys.
    Map(Vec<String>),
}

/// The JSON type a node admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

/// One node of a structural schema.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub ty: Option<Type>,
    /// Struct fields.
    pub properties: BTreeMap<String, Arc<Schema>>,
    /// Map values (an object with arbitrary keys).
    pub additional_properties: Option<Arc<Schema>>,
    pub items: Option<Arc<Schema>>,
    pub preserve_unknown_fields: bool,
    pub embedded_resource: bool,
    pub int_or_string: bool,
    pub nullable: bool,
    pub list_type: Option<ListType>,
    /// `x-kubernetes-map-type: atomic`.
    pub map_atomic: bool,
    /// `x-kubernetes-patch-strategy` (e.g. `merge`, `retainKeys`, `merge,retainKeys`).
    pub patch_strategy: Option<String>,
    /// `x-kubernetes-patch-merge-key`.
    pub patch_merge_key: Option<String>,
    pub format: Option<String>,
    pub default: Option<Value>,
}

impl Schema {
    /// A node that accepts anything and keeps it.
    pub fn any() -> Self {
        Schema {
            preserve_unknown_fields: true,
            ..Default::default()
        }
    }

    /// Whether this node is a struct (declared properties, no arbitrary keys).
    pub fn is_struct(&self) -> bool {
        self.additional_properties.is_none()
            && (!self.properties.is_empty() || self.embedded_resource)
    }

    /// Whether this node is a map with arbitrary keys.
    pub fn is_map(&self) -> bool {
        self.additional_properties.is_some()
    }

    /// The schema of field `name` of an object node: its property, else the
    /// map value schema, else (preserve-unknown) a free-form node.
    pub fn field(&self, name: &str) -> Option<Arc<Schema>> {
        if let Some(p) = self.properties.get(name) {
            return Some(p.clone());
        }
        if let Some(a) = &self.additional_properties {
            return Some(a.clone());
        }
        if self.preserve_unknown_fields || self.ty.is_none() && self.properties.is_empty() {
            return Some(Arc::new(Schema::any()));
        }
        None
    }

    /// Effective list semantics: explicit list type, else patch strategy
    /// `merge` with a merge key (map) or on scalars (set), else atomic.
    pub fn effective_list_type(&self) -> ListType {
        if let Some(t) = &self.list_type {
            return t.clone();
        }
        let merges = self
            .patch_strategy
            .as_deref()
            .is_some_and(|s| s.split(',').any(|p| p == "merge"));
        if merges {
            if let Some(k) = &self.patch_merge_key {
                return ListType::Map(vec![k.clone()]);
            }
            return ListType::Set;
        }
        ListType::Atomic
    }

    /// Loads a schema from an OpenAPI v3 / JSON-schema document node,
    /// resolving `$ref`s against `definitions` (name → schema).
    pub fn from_openapi(node: &Value, definitions: &BTreeMap<String, Value>) -> Schema {
        let mut loader = Loader {
            definitions,
            expanding: HashSet::new(),
            cache: BTreeMap::new(),
        };
        loader.load(node)
    }
}

struct Loader<'a> {
    definitions: &'a BTreeMap<String, Value>,
    expanding: HashSet<String>,
    cache: BTreeMap<String, Arc<Schema>>,
}

fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

impl Loader<'_> {
    fn load_ref(&mut self, name: &str) -> Arc<Schema> {
        if let Some(s) = self.cache.get(name) {
            return s.clone();
        }
        if self.expanding.contains(name) {
            return Arc::new(Schema::any());
        }
        let Some(def) = self.definitions.get(name) else {
            return Arc::new(Schema::any());
        };
        self.expanding.insert(name.to_string());
        let s = Arc::new(self.load(&def.clone()));
        self.expanding.remove(name);
        self.cache.insert(name.to_string(), s.clone());
        s
    }

    fn load(&mut self, node: &Value) -> Schema {
        let Some(obj) = node.as_object() else {
            return Schema::any();
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            let base = (*self.load_ref(ref_name(r))).clone();
            return self.overlay(base, obj);
        }
        // `allOf: [{$ref}]` is how generators attach descriptions to refs.
        if let Some(Value::Array(all)) = obj.get("allOf")
            && all.len() == 1
            && all[0].get("$ref").is_some()
        {
            let base = self.load(&all[0]);
            return self.overlay(base, obj);
        }
        let mut s = Schema {
            ty: match obj.get("type") {
                Some(Value::String(t)) => parse_type(t),
                // schemars may emit ["string", "null"].
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .find_map(parse_type),
                _ => None,
            },
            ..Default::default()
        };
        if let Some(Value::Object(props)) = obj.get("properties") {
            for (k, v) in props {
                let child = self.load(v);
                s.properties.insert(k.clone(), Arc::new(child));
            }
        }
        match obj.get("additionalProperties") {
            Some(Value::Object(ap)) => {
                s.additional_properties = Some(Arc::new(self.load(&Value::Object(ap.clone()))))
            }
            Some(Value::Bool(true)) => s.additional_properties = Some(Arc::new(Schema::any())),
            _ => {}
        }
        if let Some(items) = obj.get("items") {
            s.items = Some(Arc::new(self.load(items)));
        }
        self.overlay(s, obj)
    }

    /// Applies the Kubernetes extensions and scalar attributes of `obj`.
    fn overlay(&mut self, mut s: Schema, obj: &serde_json::Map<String, Value>) -> Schema {
        let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
        s.preserve_unknown_fields |= flag("x-kubernetes-preserve-unknown-fields");
        s.embedded_resource |= flag("x-kubernetes-embedded-resource");
        s.int_or_string |= flag("x-kubernetes-int-or-string");
        s.nullable |= flag("nullable");
        if let Some(t) = obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
            s.list_type = Some(match t {
                "set" => ListType::Set,
                "map" => ListType::Map(
                    obj.get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|ks| {
                            ks.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                _ => ListType::Atomic,
            });
        }
        if let Some(t) = obj.get("x-kubernetes-map-type").and_then(Value::as_str) {
            s.map_atomic = t == "atomic";
        }
        if let Some(p) = obj
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
        {
            s.patch_strategy = Some(p.to_string());
        }
        if let Some(k) = obj
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
        {
            s.patch_merge_key = Some(k.to_string());
        }
        if let Some(f) = obj.get("format").and_then(Value::as_str) {
            s.format = Some(f.to_string());
        }
        if let Some(d) = obj.get("default") {
            s.default = Some(d.clone());
        }
        s
    }
}

/// Removes fields the schema does not declare, as the API server prunes
/// them; returns their paths (`spec.foo`, `spec.ports[0].bar`). Nodes that
/// preserve unknown fields keep them, but their declared properties are
/// still pruned beneath; embedded resources always keep `apiVersion`,
/// `kind` and `metadata`.
pub fn prune(value: &mut Value, schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    prune_at(value, schema, &mut String::new(), &mut out);
    out
}

fn prune_at(value: &mut Value, schema: &Schema, path: &mut String, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&k);
                let child = schema
                    .properties
                    .get(&k)
                    .cloned()
                    .or_else(|| schema.additional_properties.clone());
                let embedded_meta = schema.embedded_resource
                    && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                match child {
                    Some(c) => prune_at(m.get_mut(&k).expect("key exists"), &c, path, out),
                    None if schema.preserve_unknown_fields
                        || embedded_meta
                        || (schema.ty.is_none() && schema.properties.is_empty()) => {}
                    None => {
                        m.remove(&k);
                        out.push(path.clone());
                    }
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            if let Some(is) = &schema.items {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    prune_at(item, is, path, out);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

fn parse_type(t: &str) -> Option<Type> {
    Some(match t {
        "object" => Type::Object,
        "array" => Type::Array,
        "string" => Type::String,
        "integer" => Type::Integer,
        "number" => Type::Number,
        "boolean" => Type::Boolean,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loads_refs_maps_lists_and_cycles() {
        let defs: BTreeMap<String, Value> = [
            (
                "Meta".to_string(),
                json!({"type": "object", "properties": {
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "ownerReferences": {"type": "array", "items": {"type": "object"}, "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "uid"}
                }}),
            ),
            ("Props".to_string(), json!({"type": "object", "properties": {"items": {"$ref": "#/$defs/Props"}}})),
        ]
        .into_iter()
        .collect();
        let s = Schema::from_openapi(
            &json!({"type": "object", "properties": {"metadata": {"$ref": "#/$defs/Meta"}, "schema": {"allOf": [{"$ref": "#/definitions/Props"}]}}}),
            &defs,
        );
        let meta = s.field("metadata").unwrap();
        assert!(meta.is_struct());
        assert!(meta.field("labels").unwrap().is_map());
        assert_eq!(
            meta.field("finalizers").unwrap().effective_list_type(),
            ListType::Set
        );
        assert_eq!(
            meta.field("ownerReferences").unwrap().effective_list_type(),
            ListType::Map(vec!["uid".into()])
        );
        assert!(meta.field("nope").is_none());
        let mut v = json!({"metadata": {"labels": {"a": "1"}, "bogus": 1}, "schema": {"items": {"x": 1}}, "top": [1]});
        assert_eq!(
            prune(&mut v, &s),
            vec!["metadata.bogus".to_string(), "top".to_string()]
        );
        assert_eq!(
            v,
            json!({"metadata": {"labels": {"a": "1"}}, "schema": {"items": {"x": 1}}})
        );
        // Recursion stops at a free-form node.
        let props = s.field("schema").unwrap();
        assert!(
            props
                .field("items")
                .unwrap()
                .field("items")
                .unwrap()
                .preserve_unknown_fields
        );
    }
}
