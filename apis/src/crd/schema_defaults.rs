//! Validation of `default` values inside a structural schema
//! (`structuraldefaulting.ValidateDefaults`), and the pruning it relies on.
//!
//! Upstream walks the structural spine (items and properties, never
//! additionalProperties, where defaults are forbidden anyway) treating the
//! root as an embedded resource. For every default it
//! 1. outside TypeMeta/ObjectMeta: rejects defaults that pruning would
//!    change (`must not have unknown fields`), when pruned defaults are
//!    required; this check lives here, since pruning is a pure function of
//!    the schema;
//! 2. checks that the default is valid metadata and valid against its
//!    schema (OpenAPI validation, CEL rules). That needs the schema validator,
//!    which another module owns, so it is delegated to the
//!    [`Hooks::check_default`](super::Hooks) callback with enough context
//!    (the node, the enclosing resource's schema, whether the default sits in
//!    resource metadata).
//!
//! Pruning follows `pruning.Prune` of the same release: unknown object fields
//! are dropped unless `x-kubernetes-preserve-unknown-fields` is set;
//! `apiVersion`, `kind` and `metadata` of (embedded) resources are kept;
//! below `additionalProperties: <bool>` every nested object is emptied.

use serde_json::Value;

use crate::field_error::FieldError;

use super::gofmt;
use super::model::Props;
use super::path::{child, key};
use super::{DefaultSite, Hooks, Step};

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

fn prune(x: &mut Value, s: Option<&Props<'_>>, embedded: bool) {
    if let Some(s) = s
        && s.preserves_unknown()
    {
        skip_prune(x, s, embedded);
        return;
    }
    match x {
        Value::Object(map) => {
            let Some(s) = s else {
                map.clear();
                return;
            };
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(prop) = s.properties.get(&k) {
                    prune(
                        map.get_mut(&k).expect("key exists"),
                        Some(prop),
                        prop.x_embedded_resource,
                    );
                } else if let Some(ap) = &s.additional_properties {
                    let sub = ap.schema.as_deref();
                    let emb = sub.is_some_and(|p| p.x_embedded_resource);
                    prune(map.get_mut(&k).expect("key exists"), sub, emb);
                } else {
                    map.remove(&k);
                }
            }
        }
        Value::Array(items) => {
            let sub = s.and_then(|s| s.items.as_ref()).and_then(|i| i.schema());
            let emb = sub.is_some_and(|p| p.x_embedded_resource);
            for v in items {
                prune(v, sub, emb);
            }
        }
        _ => {}
    }
}

fn skip_prune(x: &mut Value, s: &Props<'_>, embedded: bool) {
    match x {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(prop) = s.properties.get(k) {
                    prune(v, Some(prop), prop.x_embedded_resource);
                } else if let Some(ap) = &s.additional_properties {
                    let sub = ap.schema.as_deref();
                    prune(v, sub, sub.is_some_and(|p| p.x_embedded_resource));
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = s.items.as_ref().and_then(|i| i.schema()) {
                for v in items {
                    skip_prune(v, sub, sub.x_embedded_resource);
                }
            }
        }
        _ => {}
    }
}

/// `pruning.Prune(default, s, embedded)`.
pub fn pruned(default: &Value, s: &Props<'_>, embedded: bool) -> Value {
    let mut v = default.clone();
    prune(&mut v, Some(s), embedded);
    v
}

/// Whether any default of the schema changes when pruned (upstream
/// `schemaHasUnprunedDefaults`, which the update ratchet uses).
pub fn has_unpruned_defaults(s: &Props<'_>) -> bool {
    s.any(&mut |n| {
        n.default
            .is_some_and(|d| pruned(d, n, n.x_embedded_resource) != *d)
    })
}

struct Walk<'h, 'p, 'a> {
    hooks: &'h Hooks<'h>,
    require_pruned: bool,
    root: &'p Props<'a>,
}

/// Where the walk is: the enclosing resource, whether we are inside its
/// TypeMeta/ObjectMeta, and the steps from that resource to the node.
#[derive(Clone)]
struct Place<'p, 'a> {
    resource: &'p Props<'a>,
    inside_meta: bool,
    location: Vec<Step>,
}

impl<'p, 'a> Walk<'_, 'p, 'a> {
    fn node(&self, path: &str, s: &'p Props<'a>, place: Place<'p, 'a>, errs: &mut Vec<FieldError>) {
        // The root is validated as an embedded resource; an embedded
        // resource starts a new surrounding object.
        let embedded = s.x_embedded_resource || std::ptr::eq(s, self.root);
        let place = if embedded {
            Place {
                resource: s,
                inside_meta: false,
                location: Vec::new(),
            }
        } else {
            place
        };
        if let Some(default) = s.default {
            let default_path = child(path, "default");
            if !place.inside_meta && self.require_pruned && pruned(default, s, embedded) != *default
            {
                errs.push(gofmt::invalid_raw(
                    default_path.clone(),
                    &gofmt::go_json(default),
                    "must not have unknown fields",
                ));
            }
            if let Some(check) = self.hooks.check_default {
                errs.extend(check(&DefaultSite {
                    schema: s.raw.0,
                    default,
                    path: &default_path,
                    inside_meta: place.inside_meta,
                    resource_schema: place.resource.raw.0,
                    resource_is_root: std::ptr::eq(place.resource, self.root),
                    location: &place.location,
                }));
            }
        }
        if let Some(items) = s.items.as_ref().and_then(|i| i.schema()) {
            let mut sub = place.clone();
            sub.location.push(Step::Item);
            self.node(&child(path, "items"), items, sub, errs);
        }
        for (k, p) in &s.properties {
            let mut sub = place.clone();
            sub.inside_meta |= embedded && META_FIELDS.contains(&k.as_str());
            sub.location.push(Step::Field(k.clone()));
            self.node(&key(&child(path, "properties"), k), p, sub, errs);
        }
    }
}

/// `ValidateDefaults(path, s, isResourceRoot=true, requirePrunedDefaults)`.
pub fn validate(
    path: &str,
    s: &Props<'_>,
    require_pruned: bool,
    hooks: &Hooks<'_>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let walk = Walk {
        hooks,
        require_pruned,
        root: s,
    };
    let place = Place {
        resource: s,
        inside_meta: false,
        location: Vec::new(),
    };
    walk.node(path, s, place, &mut errs);
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prunes_unknown_fields() {
        let raw = json!({"type": "object", "properties": {"a": {"type": "string"},
            "m": {"type": "object", "additionalProperties": true},
            "p": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        let s = Props::parse(&raw);
        assert_eq!(
            pruned(
                &json!({"a": "x", "b": 1, "m": {"k": {"z": 1}, "s": 1}, "p": {"q": 1}}),
                &s,
                false
            ),
            json!({"a": "x", "m": {"k": {}, "s": 1}, "p": {"q": 1}})
        );
    }
}
