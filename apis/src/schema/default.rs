//! Structural defaulting of custom resources, as upstream's
//! `apiextensions-apiserver/pkg/apiserver/schema/defaulting/algorithm.go`.
//!
//! For every object the schema describes, each declared property that has a
//! default and is missing — or is `null` where the property is not nullable
//! — gets a deep copy of the default; then every field is defaulted in turn,
//! through `properties`, `additionalProperties` values and array `items`.
//! A `null` map value or array item that is not nullable is replaced by the
//! value schema's default when there is one. Because fields are visited
//! after defaults are inserted, a default object is itself defaulted from
//! the schema below it.
//!
//! Invariants: only schema-declared places change; scalars are never
//! rewritten unless they are non-nullable nulls with a default; a `default:
//! null` counts as no default (upstream's `Default.Object == nil`). Non-
//! nullable nulls *without* a default are left for validation to report
//! (upstream prunes them only when checking defaults, not on requests).

use serde_json::Value;

use super::Schema;

/// Applies the defaults of `schema` to `obj` in place.
pub fn apply_defaults(obj: &mut Value, schema: &Schema) {
    match obj {
        Value::Object(m) => {
            for (k, prop) in &schema.properties {
                let Some(d) = default_of(prop) else {
                    continue;
                };
                match m.get_mut(k) {
                    None => {
                        m.insert(k.clone(), d.clone());
                    }
                    Some(v) if v.is_null() && !prop.nullable => *v = d.clone(),
                    Some(_) => {}
                }
            }
            for (k, v) in m.iter_mut() {
                if let Some(prop) = schema.properties.get(k) {
                    apply_defaults(v, prop);
                } else if let Some(values) = &schema.additional_properties {
                    replace_null(v, values);
                    apply_defaults(v, values);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &schema.items {
                for v in items {
                    replace_null(v, item);
                    apply_defaults(v, item);
                }
            }
        }
        _ => {}
    }
}

fn default_of(s: &Schema) -> Option<&Value> {
    s.default.as_ref().filter(|d| !d.is_null())
}

fn replace_null(v: &mut Value, s: &Schema) {
    if v.is_null()
        && !s.nullable
        && let Some(d) = default_of(s)
    {
        *v = d.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn schema(v: Value) -> Schema {
        Schema::from_openapi(&v, &BTreeMap::new())
    }

    #[test]
    fn defaults_missing_fields_nested_and_inside_defaults() {
        let s = schema(json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "default": {},
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "a"},
                "tls": {"type": "object", "properties": {"enabled": {"type": "boolean", "default": false}}}
            }
        }}}));
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K"});
        apply_defaults(&mut obj, &s);
        // The spec default is itself defaulted; tls has no default, so it
        // stays absent.
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "K", "spec": {"replicas": 1, "mode": "a"}})
        );
        let mut obj = json!({"spec": {"replicas": 3, "tls": {}}});
        apply_defaults(&mut obj, &s);
        assert_eq!(
            obj,
            json!({"spec": {"replicas": 3, "mode": "a", "tls": {"enabled": false}}})
        );
    }

    #[test]
    fn defaults_in_array_items_and_map_values() {
        let s = schema(json!({"type": "object", "properties": {
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "protocol": {"type": "string", "default": "TCP"}
            }}},
            "limits": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "unit": {"type": "string", "default": "Mi"}
            }}}
        }}));
        let mut obj = json!({"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}],
                             "limits": {"mem": {"value": 1}, "cpu": {"unit": "m"}}});
        apply_defaults(&mut obj, &s);
        assert_eq!(
            obj,
            json!({"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                   "limits": {"mem": {"value": 1, "unit": "Mi"}, "cpu": {"unit": "m"}}})
        );
    }

    #[test]
    fn null_handling() {
        let s = schema(json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string", "nullable": true, "default": "y"},
            "c": {"type": "string"},
            "d": {"type": "string", "default": null},
            "list": {"type": "array", "items": {"type": "string", "default": "item"}},
            "nlist": {"type": "array", "items": {"type": "string", "nullable": true, "default": "item"}},
            "map": {"type": "object", "additionalProperties": {"type": "integer", "default": 7}}
        }}));
        let mut obj = json!({"a": null, "b": null, "c": null, "list": ["v", null],
                             "nlist": [null], "map": {"k": null, "j": 1}});
        apply_defaults(&mut obj, &s);
        assert_eq!(
            obj,
            json!({"a": "x", "b": null, "c": null, "list": ["v", "item"],
                   "nlist": [null], "map": {"k": 7, "j": 1}})
        );
    }

    #[test]
    fn defaults_are_deep_copies() {
        let s = schema(json!({"type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "meta": {"type": "object", "default": {"tags": ["a"]},
                         "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
            }}}
        }}));
        let mut obj = json!({"items": [{}, {}]});
        apply_defaults(&mut obj, &s);
        obj["items"][0]["meta"]["tags"][0] = json!("changed");
        assert_eq!(obj["items"][1]["meta"]["tags"], json!(["a"]));
    }

    #[test]
    fn all_of_with_one_branch_keeps_the_node_properties() {
        // A single-branch allOf holding value validations must not hide the
        // node's own properties (see the loader fix in schema/mod.rs).
        let s = schema(json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "allOf": [{"required": ["x"]}],
            "properties": {"x": {"type": "string", "default": "d"}}
        }}}));
        let mut obj = json!({"spec": {}});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"spec": {"x": "d"}}));
    }
}
