//! OpenAPI v2 (Swagger 2.0): one document for the whole cluster, rendered
//! from the same [`operations`](super::operations) and definitions as the
//! v3 documents.
//!
//! Definitions are stored in v3 form; [`schema`] turns one into v2 the way
//! kube-apiserver publishes CRD schemas in v2 (apiextensions'
//! `ToStructuralOpenAPIV2`): junctors (`allOf`, `anyOf`, `oneOf`, `not`)
//! are dropped, a `nullable` node loses its type and children and leaves
//! its parent's `required`, a node preserving unknown fields loses its
//! children (and type `object`), an array without items its type. kubectl
//! builds its models from these definitions and rejects what it cannot
//! model (an array without one item schema, unknown primitive types,
//! dangling references), so the rules matter to clients, not only to
//! validators. A lone `allOf: [{$ref}]` (how v3 attaches a description to
//! a reference) becomes the reference itself with its siblings, as kube's
//! v2 documents write it. Keywords Swagger 2.0 does not know are dropped so
//! the document is valid (gnostic, which kubectl decodes the protobuf form
//! with, refuses them).

use serde_json::{Map, Value, json};

use super::operations::{self, Operation, Param, PathItem};
use super::{Lookup, closure, info};
use crate::registry::Registry;
use crate::schemas::rewrite_refs;

/// Schema keywords of Swagger 2.0 (besides `x-` extensions).
const KEYWORDS: [&str; 30] = [
    "$ref",
    "format",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "additionalProperties",
    "type",
    "items",
    "allOf",
    "properties",
    "discriminator",
    "readOnly",
    "xml",
    "externalDocs",
    "example",
];

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/definitions/{name}")})
}

fn param(p: &Param) -> Value {
    let mut v = json!({
        "uniqueItems": true,
        "type": p.type_,
        "description": p.description,
        "name": p.name,
        "in": p.location.as_str(),
    });
    if p.required() {
        v["required"] = Value::Bool(true);
    }
    v
}

fn operation(op: &Operation) -> Value {
    let mut params = Vec::new();
    if let Some(body) = &op.body {
        params.push(json!({"name": "body", "in": "body", "required": true, "schema": schema_ref(&body.schema)}));
    }
    params.extend(op.params.iter().map(param));
    let consumes = op
        .body
        .as_ref()
        .map(|b| b.media_types.clone())
        .unwrap_or_else(|| vec!["*/*"]);
    let replies: Map<String, Value> = op
        .replies
        .iter()
        .map(|r| {
            let mut v = json!({"description": r.description});
            if let Some(s) = &r.schema {
                v["schema"] = schema_ref(s);
            }
            (r.code.to_string(), v)
        })
        .collect();
    let mut o = json!({
        "description": op.description,
        "consumes": consumes,
        "produces": op.produces,
        "schemes": ["https"],
        "tags": [op.tag],
        "operationId": op.id,
        "responses": replies,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": {"group": op.gvk.0, "version": op.gvk.1, "kind": op.gvk.2},
    });
    if !params.is_empty() {
        o["parameters"] = Value::Array(params);
    }
    o
}

fn path_item(item: &PathItem) -> Value {
    let mut v = Map::new();
    for op in &item.ops {
        v.insert(op.method.to_string(), operation(op));
    }
    if !item.params.is_empty() {
        v.insert("parameters".into(), item.params.iter().map(param).collect());
    }
    Value::Object(v)
}

/// The v2 document of a registry; `defs` must resolve the list kinds too
/// (see [`super::build_v3`]).
pub fn build(registry: &Registry, defs: &Lookup<'_>) -> Value {
    let mut paths = Map::new();
    let mut roots: Vec<String> = Vec::new();
    for def in registry.all() {
        let items = operations::resource_paths(def);
        roots.push(def.openapi_name.clone());
        roots.extend(operations::referenced(&items).map(str::to_string));
        for item in &items {
            paths.insert(item.path.clone(), path_item(item));
        }
    }
    let definitions: Map<String, Value> = closure(defs, roots)
        .into_iter()
        .map(|(k, v)| (k, schema(&rewrite_refs(&v, "#/definitions/"))))
        .collect();
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": paths,
        "definitions": definitions,
    })
}

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

/// One schema (v3 form, references already rewritten) in v2 form.
pub fn schema(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut m = m.clone();
    // A description or default attached to a reference.
    if let Some(Value::Array(all)) = m.get("allOf")
        && all.len() == 1
        && let Some(r) = all[0].get("$ref").cloned()
        && !m.contains_key("$ref")
    {
        m.insert("$ref".into(), r);
    }
    for k in ["allOf", "anyOf", "oneOf", "not"] {
        m.remove(k);
    }
    // Properties that may be null are never required in v2.
    let nullable_props: Vec<String> = m
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, s)| is_true(s.get("nullable")))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if is_true(
        m.get("additionalProperties")
            .and_then(|a| a.get("nullable")),
    ) {
        m.remove("required");
    }
    if let Some(Value::Array(req)) = m.get_mut("required") {
        req.retain(|r| {
            !r.as_str()
                .is_some_and(|r| nullable_props.iter().any(|p| p == r))
        });
        if req.is_empty() {
            m.remove("required");
        }
    }
    if is_true(m.get("nullable")) {
        for k in ["type", "items", "properties"] {
            m.remove(k);
        }
    }
    let preserve = is_true(m.get("x-kubernetes-preserve-unknown-fields"));
    if preserve {
        m.remove("items");
        m.remove("properties");
        if m.get("type").and_then(Value::as_str) == Some("object") {
            m.remove("type");
        }
    }
    if m.get("type").and_then(Value::as_str) == Some("array") && !m.contains_key("items") {
        m.remove("type");
    }
    // A type list (JSON Schema style) keeps its first non-null type.
    if let Some(Value::Array(types)) = m.get("type") {
        match types.iter().find(|t| t.as_str() != Some("null")).cloned() {
            Some(t) => m.insert("type".into(), t),
            None => m.remove("type"),
        };
    }
    // v3's `discriminator` is an object; v2's a property name.
    if m.get("discriminator").is_some_and(|d| !d.is_string()) {
        m.remove("discriminator");
    }
    m.retain(|k, _| k.starts_with("x-") || KEYWORDS.contains(&k.as_str()));
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        for s in props.values_mut() {
            *s = schema(s);
        }
    }
    match m.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(|s| *s = schema(s)),
        Some(s @ Value::Object(_)) => *s = schema(s),
        _ => {}
    }
    if let Some(s @ Value::Object(_)) = m.get_mut("additionalProperties") {
        *s = schema(s);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_with_siblings_collapse() {
        let v3 = json!({"allOf": [{"$ref": "#/definitions/M"}], "description": "d", "default": {}});
        assert_eq!(
            schema(&v3),
            json!({"$ref": "#/definitions/M", "description": "d", "default": {}})
        );
    }

    #[test]
    fn crd_rules_of_kube_apply() {
        let v3 = json!({
            "type": "object",
            "required": ["a", "b"],
            "properties": {
                "a": {"type": "string", "nullable": true},
                "b": {"type": "array"},
                "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"x": {"type": "string"}}},
                "d": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
            },
        });
        assert_eq!(
            schema(&v3),
            json!({
                "type": "object",
                "required": ["b"],
                "properties": {
                    "a": {},
                    "b": {},
                    "c": {"x-kubernetes-preserve-unknown-fields": true},
                    "d": {"x-kubernetes-int-or-string": true},
                },
            })
        );
    }
}
