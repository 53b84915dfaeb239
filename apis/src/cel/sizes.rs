//! The sizes of the data a rule can see, for the cost estimator
//! ([`super::cost`]): declared by the schema at CRD admission, measured on
//! the object at evaluation.
//!
//! Declared sizes follow kube-apiserver's `SchemaDeclType` exactly
//! (`k8s.io/apiserver/pkg/cel/common/schemas.go`): a string's size is
//! `4 × maxLength`, the longest `enum` value, 32 for durations and
//! date-times, 12 for dates, and otherwise whatever fits in a 3 MiB
//! request (3,145,726); a list holds `maxItems` items or as many of its
//! smallest item as fit in 3 MiB, a map `maxProperties` entries or as many
//! of its smallest entry; objects, numbers and booleans have size 0, map
//! keys too. The smallest serialized size of each node (`""` is 2 bytes,
//! `true` 4, a number 1, an object 2 plus its required properties without
//! default) bounds how many times a node can repeat in a request.
//!
//! Measured sizes are the largest of each path in the actual value: the
//! byte length of strings (at least their code points, which is what
//! cel-go counts), the number of items or entries of lists and maps, and
//! the deep size, kube's runtime traversal cost (1 per scalar, list item
//! or map entry, 0.1 per byte of string), which bounds what comparing,
//! copying or converting a whole value costs.

use super::check::{GROWN_STACK, RED_ZONE};
use super::escaping::escape;
use super::schema::Node;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// `MaxRequestSizeBytes`: the largest request body kube-apiserver accepts.
pub(crate) const MAX_REQUEST_BYTES: u64 = 3 * 1024 * 1024;

/// The sizes below one variable, by path. Lists and maps merge all their
/// items (values) into `elem`, keeping the largest of each size; a field
/// looked up on a map is any of its values.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SizeTree {
    /// CEL `size()`: bytes of a string, items of a list, entries of a map.
    pub size: u64,
    /// Deep size (measured trees only; 0 when declared).
    pub deep: u64,
    /// Object properties, by the (escaped) names rules select them by.
    pub fields: BTreeMap<String, SizeTree>,
    /// List items or map values.
    pub elem: Option<Box<SizeTree>>,
    /// Map keys.
    pub keys: Option<Box<SizeTree>>,
    /// A value whose parts were not measured (a library type, or one too
    /// large to measure): every path below it has this node's sizes.
    pub opaque: bool,
}

/// kube's `maxCardinality`: how many times data of `min_size` bytes can
/// occur in one request.
pub(crate) fn max_cardinality(min_size: u64) -> u64 {
    MAX_REQUEST_BYTES / (min_size + 1)
}

/// kube's `extractMaxElements`: how many children of `node` one instance
/// of it can hold (`maxItems`/`maxProperties`), `None` when unbounded;
/// objects and scalars: 1.
pub(crate) fn max_children(node: &Node) -> Option<u64> {
    let bounded = |max: Option<i64>| max.map(|m| m.max(0) as u64);
    match node.ty.as_str() {
        "object" if node.additional.is_some() => bounded(node.max_properties),
        "array" => bounded(node.max_items),
        _ => Some(1),
    }
}

/// The declared sizes of data of `node`, and its smallest serialized size;
/// `None` when the schema is not exposed to rules (`SchemaDeclType`).
pub(crate) fn declared(node: &Node, resource_root: bool) -> Option<(SizeTree, u64)> {
    let leaf = |size: u64, min: u64| Some((leaf(size), min));
    let per_request = MAX_REQUEST_BYTES - 2;
    let from_max_length = |node: &Node| node.max_length.map(|m| m.max(0) as u64 * 4);
    if node.int_or_string {
        return leaf(from_max_length(node).unwrap_or(per_request), 1);
    }
    let owned;
    let node = if resource_root {
        owned = node.with_type_and_object_meta();
        &owned
    } else {
        node
    };
    match node.ty.as_str() {
        "array" => {
            let items = node.items.as_ref()?;
            let (item, item_min) = declared(items, items.embedded)?;
            let max = match node.max_items {
                Some(m) => m.max(0) as u64,
                None => per_request / (item_min + 1),
            };
            Some((
                SizeTree {
                    size: max,
                    elem: Some(Box::new(item)),
                    ..SizeTree::default()
                },
                2,
            ))
        }
        "object" => {
            if let Some(ap) = &node.additional {
                let (value, value_min) = declared(ap, ap.embedded)?;
                let max = match node.max_properties {
                    Some(m) => m.max(0) as u64,
                    None => per_request / (value_min + 6),
                };
                return Some((
                    SizeTree {
                        size: max,
                        elem: Some(Box::new(value)),
                        keys: Some(Box::new(SizeTree::default())),
                        ..SizeTree::default()
                    },
                    2,
                ));
            }
            let mut tree = SizeTree::default();
            let mut min = 2;
            for (name, prop) in node.properties.iter().flatten() {
                let Some((field, field_min)) = declared(prop, prop.embedded) else {
                    continue;
                };
                if node.required.contains(name) && !prop.has_default {
                    min += name.len() as u64 + field_min + 4;
                }
                if let Some(escaped) = escape(name) {
                    tree.fields.insert(escaped, field);
                }
            }
            Some((tree, min))
        }
        "string" => match node.format.as_str() {
            "byte" => leaf(node.max_length.map_or(per_request, |m| m.max(0) as u64), 2),
            "duration" => leaf(32, 3),
            "date" => leaf(12, 12),
            "date-time" => leaf(32, 21),
            _ => leaf(
                from_max_length(node)
                    .or(node.enum_max_len)
                    .unwrap_or(per_request),
                2,
            ),
        },
        "boolean" => leaf(0, 4),
        "number" | "integer" => leaf(0, 1),
        _ => None,
    }
}

fn leaf(size: u64) -> SizeTree {
    SizeTree {
        size,
        ..SizeTree::default()
    }
}

/// The measured sizes of `data` as rules at `node` see it.
pub(crate) fn measure(data: &Json, node: &Node, resource_root: bool) -> SizeTree {
    if resource_root || node.embedded {
        return measure_value(data, Some(&node.with_type_and_object_meta()));
    }
    measure_value(data, Some(node))
}

/// The measured sizes of JSON data no schema describes (an admission
/// policy's `object`, `params`…): every object is a map.
pub(crate) fn measure_plain(data: &Json) -> SizeTree {
    measure_value(data, None)
}

/// 0.1 per byte, rounded up, at least 1: kube's traversal cost of a string.
pub(crate) fn string_deep(bytes: u64) -> u64 {
    bytes.div_ceil(10).max(1)
}

fn measure_value(data: &Json, node: Option<&Node>) -> SizeTree {
    stacker::maybe_grow(RED_ZONE, GROWN_STACK, || measure_level(data, node))
}

fn measure_level(data: &Json, node: Option<&Node>) -> SizeTree {
    match data {
        Json::String(s) => SizeTree {
            size: s.len() as u64,
            deep: string_deep(s.len() as u64),
            ..SizeTree::default()
        },
        Json::Array(items) => {
            let item_node = node.and_then(|n| n.items.as_deref());
            let mut tree = SizeTree {
                size: items.len() as u64,
                deep: 1,
                ..SizeTree::default()
            };
            for item in items {
                let t = measure_value(item, item_node);
                tree.deep = tree.deep.saturating_add(t.deep);
                merge_into(&mut tree.elem, t);
            }
            tree
        }
        Json::Object(map) => {
            let props = node.and_then(|n| n.properties.as_ref());
            let additional = node.and_then(|n| n.additional.as_deref());
            let mut tree = SizeTree {
                size: map.len() as u64,
                deep: 1,
                ..SizeTree::default()
            };
            for (k, v) in map {
                let declared = props.and_then(|p| p.get(k));
                let child = declared.or(additional);
                let value = match child {
                    Some(c) if c.embedded => measure(v, c, false),
                    _ => measure_value(v, child),
                };
                let key_deep = string_deep(k.len() as u64);
                tree.deep = tree
                    .deep
                    .saturating_add(key_deep)
                    .saturating_add(value.deep);
                if props.is_some() {
                    // An object: fields by the names rules select them by.
                    let name = match declared {
                        Some(_) => escape(k).unwrap_or_else(|| k.clone()),
                        None => k.clone(),
                    };
                    tree.fields.insert(name, value);
                } else {
                    // A map: keys and values, whatever the key.
                    let key = SizeTree {
                        size: k.len() as u64,
                        deep: key_deep,
                        ..SizeTree::default()
                    };
                    merge_into(&mut tree.keys, key);
                    merge_into(&mut tree.elem, value);
                }
            }
            tree
        }
        _ => SizeTree {
            size: 1,
            deep: 1,
            ..SizeTree::default()
        },
    }
}

pub(crate) fn merge_into(slot: &mut Option<Box<SizeTree>>, t: SizeTree) {
    match slot {
        Some(existing) => merge(existing, t),
        None => *slot = Some(Box::new(t)),
    }
}

/// Keeps the largest of each size of `into` and `other`.
fn merge(into: &mut SizeTree, other: SizeTree) {
    into.size = into.size.max(other.size);
    into.deep = into.deep.max(other.deep);
    into.opaque |= other.opaque;
    for (k, v) in other.fields {
        match into.fields.get_mut(&k) {
            Some(existing) => merge(existing, v),
            None => {
                into.fields.insert(k, v);
            }
        }
    }
    if let Some(e) = other.elem {
        merge_into(&mut into.elem, *e);
    }
    if let Some(k) = other.keys {
        merge_into(&mut into.keys, *k);
    }
}

impl SizeTree {
    /// The subtree of field `name`: a property, or any value of a map.
    pub(crate) fn field(&self, name: &str) -> Option<&SizeTree> {
        self.fields.get(name).or(self.elem.as_deref())
    }
}
