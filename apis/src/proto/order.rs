//! kube-apiserver's JSON key order for built-in kinds.
//!
//! Go's encoding/json writes a struct's fields in declaration order and a
//! map's keys sorted, so a built-in object comes out as `kind`,
//! `apiVersion`, `metadata`, `spec`, `status` (each nested struct in its own
//! field order), while a custom resource — an unstructured map — comes out
//! with every key sorted. Objects here are `serde_json::Value`s, whose maps
//! are sorted; [`to_vec`] writes them in Go's order instead.
//!
//! The order is the one of the protobuf message tables in `types/`: they
//! list each message's fields in the Go struct's order (go-to-protobuf
//! numbers fields in that order too), so the wire format and the key order
//! cannot drift apart. Keys a table does not know (fields newer than the
//! table, a client's unknown fields that the kind keeps) follow the known
//! ones, sorted, as they would from a map.
//!
//! Invariants: the output is the same JSON value as `serde_json::to_vec`
//! gives (only the order of object keys differs), for every input; a kind
//! without a table is written with sorted keys. Recursion follows the
//! value, which the caller has already bounded in depth (stored objects are
//! at most `meta::MAX_DEPTH` deep), so serialising cannot go deeper than
//! serde_json's own writer would.

use std::sync::OnceLock;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::proto::fields::Conv;

/// What the value under a key is, for ordering.
#[derive(Clone, Copy)]
pub(crate) enum Nested {
    /// A scalar, a list of scalars, a string map or opaque JSON: written as is.
    Leaf,
    /// A message (or a list of messages): its keys in the message's order.
    Message(fn() -> Option<&'static Fields>),
    /// A map whose values are messages: keys sorted, values in the message's order.
    MessageMap(fn() -> Option<&'static Fields>),
}

/// One message's JSON keys in Go's field order.
pub(crate) struct Fields {
    keys: Vec<(&'static str, Nested)>,
}

impl Fields {
    pub(crate) fn new(keys: Vec<(&'static str, Nested)>) -> Self {
        Fields { keys }
    }

    /// Go's `json:",inline"` of `inner` after the field `first`.
    pub(crate) fn inlined(first: (&'static str, Nested), inner: Option<&Fields>) -> Self {
        let mut keys = vec![first];
        keys.extend(inner.iter().flat_map(|f| f.keys.iter().copied()));
        Fields { keys }
    }

    fn known(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| *k == key)
    }
}

/// A message-typed field (`Option<T>`, `Vec<T>` or a map of `T`): `T`'s order.
pub(crate) fn message_of<T: Conv>() -> Nested {
    Nested::Message(T::fields)
}

/// A message-valued map field: `T`'s order for each value.
pub(crate) fn message_map_of<T: Conv>() -> Nested {
    Nested::MessageMap(T::fields)
}

/// Caches a message's order (built once per process, on first use).
pub(crate) fn cached(
    cell: &'static OnceLock<Fields>,
    build: impl FnOnce() -> Fields,
) -> Option<&'static Fields> {
    Some(cell.get_or_init(build))
}

/// Serialises `obj` as kube-apiserver would: a kind with a message table
/// (see `registry`) as `kind`, `apiVersion`, then its fields in Go's order;
/// anything else with sorted keys.
pub fn to_vec(obj: &Value) -> Vec<u8> {
    let fields = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .zip(obj.get("kind").and_then(Value::as_str))
        .and_then(|(av, kind)| crate::proto::registry::lookup(av, kind))
        // meta/v1's kinds are registered for any apiVersion (protobuf
        // accepts them so); a custom resource that happens to be called
        // `Status` is a map like any other.
        .filter(|entry| {
            entry.api_version != "*"
                || obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
                || obj
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .is_some_and(|av| av.starts_with("meta.k8s.io/"))
        })
        .and_then(|entry| (entry.fields)());
    match fields {
        Some(fields) => serde_json::to_vec(&Ordered {
            value: obj,
            fields: Some(fields),
            type_meta: true,
        }),
        None => serde_json::to_vec(obj),
    }
    .expect("JSON values serialise")
}

struct Ordered<'a> {
    value: &'a Value,
    fields: Option<&'static Fields>,
    /// The top of an object: `kind` and `apiVersion` first (Go's inlined
    /// TypeMeta), which the message tables leave to the envelope.
    type_meta: bool,
}

const TYPE_META: [&str; 2] = ["kind", "apiVersion"];

impl Ordered<'_> {
    fn child(value: &Value, nested: Nested) -> Ordered<'_> {
        match nested {
            Nested::Message(f) => Ordered {
                value,
                fields: f(),
                type_meta: false,
            },
            Nested::Leaf | Nested::MessageMap(_) => Ordered {
                value,
                fields: None,
                type_meta: false,
            },
        }
    }
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(fields) = self.fields else {
            return self.value.serialize(s);
        };
        match self.value {
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                if self.type_meta {
                    for k in TYPE_META {
                        if let Some(v) = map.get(k) {
                            out.serialize_entry(k, v)?;
                        }
                    }
                }
                for (k, nested) in &fields.keys {
                    if self.type_meta && TYPE_META.contains(k) {
                        continue;
                    }
                    let Some(v) = map.get(*k) else { continue };
                    if let Nested::MessageMap(f) = nested {
                        out.serialize_entry(
                            k,
                            &MessageMap {
                                value: v,
                                fields: f(),
                            },
                        )?;
                    } else {
                        out.serialize_entry(k, &Ordered::child(v, *nested))?;
                    }
                }
                for (k, v) in map {
                    let first = self.type_meta && TYPE_META.contains(&k.as_str());
                    if !first && !fields.known(k) {
                        out.serialize_entry(k, v)?;
                    }
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Ordered {
                        value: item,
                        fields: self.fields,
                        type_meta: false,
                    })?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

/// A map of messages: keys sorted (it is a Go map), each value ordered.
struct MessageMap<'a> {
    value: &'a Value,
    fields: Option<&'static Fields>,
}

impl Serialize for MessageMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Object(map) = self.value else {
            return self.value.serialize(s);
        };
        let mut out = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            out.serialize_entry(
                k,
                &Ordered {
                    value: v,
                    fields: self.fields,
                    type_meta: false,
                },
            )?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys_in(text: &str, keys: &[&str]) -> Vec<usize> {
        keys.iter()
            .map(|k| {
                text.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k} in {text}"))
            })
            .collect()
    }

    fn ascending(v: &[usize]) -> bool {
        v.windows(2).all(|w| w[0] < w[1])
    }

    #[test]
    fn built_in_kinds_follow_go_field_order() {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "data": {"b": "2", "a": "1"},
            "metadata": {"uid": "u", "namespace": "ns", "name": "n", "resourceVersion": "7",
                         "labels": {"z": "1", "a": "2"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "immutable": false,
            "zzUnknown": 1,
            "aaUnknown": 2,
        });
        let text = String::from_utf8(to_vec(&cm)).unwrap();
        assert!(text.starts_with(r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"n","namespace":"ns","uid":"u","resourceVersion":"7","creationTimestamp":"#), "{text}");
        // Known fields in Go's order, then unknown ones sorted; map keys sorted.
        assert!(text.ends_with(r#""labels":{"a":"2","z":"1"}},"immutable":false,"data":{"a":"1","b":"2"},"aaUnknown":2,"zzUnknown":1}"#), "{text}");
        // The same value as plain serialisation.
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), cm);
    }

    #[test]
    fn nested_messages_lists_and_inlined_structs() {
        let role = json!({
            "kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1",
            "rules": [{"resources": ["pods"], "apiGroups": [""], "verbs": ["get"], "resourceNames": ["x"]}],
            "metadata": {"name": "r"},
        });
        let text = String::from_utf8(to_vec(&role)).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"r"},"rules":[{"verbs":["get"],"apiGroups":[""],"resources":["pods"],"resourceNames":["x"]}]}"#
        );
        let hook = json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "w"},
            "webhooks": [{"sideEffects": "None", "name": "a.b.c",
                          "rules": [{"scope": "*", "resources": ["x"], "operations": ["CREATE"], "apiVersions": ["v1"], "apiGroups": [""]}]}],
        });
        let text = String::from_utf8(to_vec(&hook)).unwrap();
        assert!(
            text.contains(r#""webhooks":[{"name":"a.b.c","rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["x"],"scope":"*"}],"sideEffects":"None"}]"#),
            "{text}"
        );
    }

    #[test]
    fn status_and_lists() {
        let status = json!({"apiVersion": "v1", "kind": "Status", "code": 404, "details": {"kind": "configmaps", "name": "x"},
                            "message": "m", "metadata": {}, "reason": "NotFound", "status": "Failure"});
        let text = String::from_utf8(to_vec(&status)).unwrap();
        assert!(
            ascending(&keys_in(
                &text,
                &[
                    "kind",
                    "apiVersion",
                    "metadata",
                    "status",
                    "message",
                    "reason",
                    "details",
                    "code"
                ]
            )),
            "{text}"
        );
        let list = json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"continue": "c", "resourceVersion": "5"},
                          "items": [{"metadata": {"namespace": "a", "name": "b"}, "data": {"k": "v"}}]});
        let text = String::from_utf8(to_vec(&list)).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"5","continue":"c"},"items":[{"metadata":{"name":"b","namespace":"a"},"data":{"k":"v"}}]}"#
        );
    }

    #[test]
    fn other_kinds_keep_sorted_keys() {
        for obj in [
            json!({"kind": "Widget", "apiVersion": "example.io/v1", "spec": {"b": 1, "a": 2}, "metadata": {"name": "w", "annotations": {}}}),
            json!({"kind": "ConfigMap", "apiVersion": "v2", "metadata": {"name": "x"}}),
            json!({"metadata": {"name": "x"}}),
            // A custom resource called Status is not meta's Status.
            json!({"kind": "Status", "apiVersion": "example.io/v1", "status": "s", "code": 1, "metadata": {}}),
            json!([1, 2]),
        ] {
            assert_eq!(to_vec(&obj), serde_json::to_vec(&obj).unwrap());
        }
    }

    #[test]
    fn odd_shapes_are_written_as_they_are() {
        // A field of the wrong JSON type (a client's garbage the kind keeps
        // verbatim) is written as is, never dropped.
        let cm = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": "not-an-object",
                        "data": [1, {"b": 1, "a": 2}], "binaryData": null});
        let text = to_vec(&cm);
        assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), cm);
    }
}
