//! OpenAPI v3: one document per group/version, rendered from
//! [`operations`](super::operations), with the definitions its paths reach.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sha2::Digest;

use super::operations::{self, Operation, Param, PathItem};
use super::{GvDoc, Lookup, closure, hex_upper, info};
use crate::registry::Registry;

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn param(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": p.location.as_str(),
        "description": p.description,
        "schema": {"type": p.type_, "uniqueItems": true},
    });
    if p.required() {
        v["required"] = Value::Bool(true);
    }
    v
}

fn operation(op: &Operation) -> Value {
    let mut o = json!({
        "tags": [op.tag],
        "description": op.description,
        "operationId": op.id,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": {"group": op.gvk.0, "version": op.gvk.1, "kind": op.gvk.2},
    });
    if !op.params.is_empty() {
        o["parameters"] = op.params.iter().map(param).collect();
    }
    if let Some(body) = &op.body {
        let content: Map<String, Value> = body
            .media_types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": schema_ref(&body.schema)})))
            .collect();
        o["requestBody"] = json!({"content": content, "required": true});
    }
    let replies: Map<String, Value> = op
        .replies
        .iter()
        .map(|r| {
            let mut v = json!({"description": r.description});
            if let Some(s) = &r.schema {
                let content: Map<String, Value> = op
                    .produces
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": schema_ref(s)})))
                    .collect();
                v["content"] = Value::Object(content);
            }
            (r.code.to_string(), v)
        })
        .collect();
    o["responses"] = Value::Object(replies);
    o
}

/// A path item in v3 form.
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

/// All v3 documents of a registry; `defs` must resolve the list kinds too
/// (see [`super::build_v3`]).
pub fn build(registry: &Registry, defs: &Lookup<'_>) -> BTreeMap<String, GvDoc> {
    let mut out = BTreeMap::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let mut paths = Map::new();
            let mut roots: Vec<String> = Vec::new();
            for def in registry.resources(group, version) {
                let items = operations::resource_paths(def);
                roots.push(def.openapi_name.clone());
                roots.extend(operations::referenced(&items).map(str::to_string));
                for item in &items {
                    paths.insert(item.path.clone(), path_item(item));
                }
            }
            let schemas = closure(defs, roots);
            let doc = json!({
                "openapi": "3.0.0",
                "info": info(),
                "paths": paths,
                "components": {"schemas": schemas},
            });
            let bytes = serde_json::to_vec(&doc).expect("document serialises");
            let hash = hex_upper(&sha2::Sha512::digest(&bytes)[..32]);
            out.insert(
                super::gv_path(group, version),
                GvDoc {
                    doc: Arc::new(bytes),
                    hash,
                },
            );
        }
    }
    out
}
