//! The structural-schema view the CEL rules need, read once from the raw
//! `openAPIV3Schema` JSON.
//!
//! A [`Node`] keeps only what decides how data becomes CEL values and how
//! old data correlates with new: type, format, nullability, properties,
//! additionalProperties, items, the list/map topology extensions,
//! int-or-string, preserve-unknown-fields, embedded-resource, the node's own
//! `x-kubernetes-validations` and its `allOf` branches. Each node remembers
//! the schema path it was read from (`...properties[spec].items`) so compile
//! errors can name it.
//!
//! Invariants: `properties` is `Some` only when non-empty (as in a structural
//! schema); `additional` is `Some` only for a schema-valued
//! `additionalProperties`.

use serde_json::Value;
use std::collections::BTreeMap;

/// One `x-kubernetes-validations` entry, as written.
#[derive(Clone, Debug, Default)]
pub struct RuleSpec {
    pub rule: String,
    pub message: String,
    pub message_expression: String,
    /// `None` when absent; the raw string otherwise (validated at compile).
    pub reason: Option<String>,
    pub field_path: String,
    pub optional_old_self: Option<bool>,
}

impl RuleSpec {
    fn from_json(v: &Value) -> RuleSpec {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        RuleSpec {
            rule: s("rule"),
            message: s("message"),
            message_expression: s("messageExpression"),
            reason: v.get("reason").and_then(Value::as_str).map(str::to_string),
            field_path: s("fieldPath"),
            optional_old_self: v.get("optionalOldSelf").and_then(Value::as_bool),
        }
    }

    /// Go's `%#v` of the internal `apiextensions.ValidationRule`, which is how
    /// kube-apiserver shows the rule as the "value" of a compile error.
    /// Pointer fields print as an address when set; we print a fixed one.
    pub fn go_repr(&self) -> String {
        let ptr = |set: bool, ty: &str| {
            if set {
                format!("(*{ty})(0xc000000000)")
            } else {
                format!("(*{ty})(nil)")
            }
        };
        format!(
            "apiextensions.ValidationRule{{Rule:{}, Message:{}, MessageExpression:{}, Reason:{}, FieldPath:{}, OptionalOldSelf:{}}}",
            go_quote(&self.rule),
            go_quote(&self.message),
            go_quote(&self.message_expression),
            ptr(self.reason.is_some(), "apiextensions.FieldValueErrorReason"),
            go_quote(&self.field_path),
            ptr(self.optional_old_self.is_some(), "bool"),
        )
    }
}

pub use crate::goquote::go_quote;

#[derive(Clone, Debug, Default)]
#[allow(dead_code)] // `nullable`/`preserve_unknown` document the schema; values follow the data
pub struct Node {
    /// Where this node is in the CRD (`...openAPIV3Schema.properties[spec]`).
    pub path: String,
    pub ty: String,
    pub format: String,
    pub nullable: bool,
    pub properties: Option<BTreeMap<String, Node>>,
    pub additional: Option<Box<Node>>,
    pub items: Option<Box<Node>>,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub map_type: Option<String>,
    pub int_or_string: bool,
    pub preserve_unknown: bool,
    pub embedded: bool,
    pub rules: Vec<RuleSpec>,
    pub all_of: Vec<Node>,
    /// `maxLength`, `maxItems`, `maxProperties`: what bounds the sizes the
    /// cost estimator ([`super::sizes`]) assumes.
    pub max_length: Option<i64>,
    pub max_items: Option<i64>,
    pub max_properties: Option<i64>,
    /// With a non-empty `enum`: the byte length of its longest string.
    pub enum_max_len: Option<u64>,
    pub required: Vec<String>,
    pub has_default: bool,
}

impl Node {
    /// Reads `v` (a JSONSchemaProps object) found at `path`.
    pub fn from_json(v: &Value, path: &str) -> Node {
        let str_of = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let bool_of = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        let mut node = Node {
            path: path.to_string(),
            ty: str_of("type").unwrap_or_default(),
            format: str_of("format").unwrap_or_default(),
            nullable: bool_of("nullable"),
            list_type: str_of("x-kubernetes-list-type"),
            map_type: str_of("x-kubernetes-map-type"),
            int_or_string: bool_of("x-kubernetes-int-or-string"),
            preserve_unknown: bool_of("x-kubernetes-preserve-unknown-fields"),
            embedded: bool_of("x-kubernetes-embedded-resource"),
            max_length: v.get("maxLength").and_then(Value::as_i64),
            max_items: v.get("maxItems").and_then(Value::as_i64),
            max_properties: v.get("maxProperties").and_then(Value::as_i64),
            enum_max_len: v
                .get("enum")
                .and_then(Value::as_array)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .map(|s| s.len() as u64)
                        .max()
                        .unwrap_or(0)
                }),
            required: v
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            has_default: v.get("default").is_some_and(|d| !d.is_null()),
            ..Node::default()
        };
        if let Some(keys) = v
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
        {
            node.list_map_keys = keys
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect();
        }
        if let Some(props) = v.get("properties").and_then(Value::as_object)
            && !props.is_empty()
        {
            node.properties = Some(
                props
                    .iter()
                    .map(|(k, p)| {
                        (
                            k.clone(),
                            Node::from_json(p, &format!("{path}.properties[{k}]")),
                        )
                    })
                    .collect(),
            );
        }
        if let Some(ap) = v.get("additionalProperties")
            && ap.is_object()
        {
            node.additional = Some(Box::new(Node::from_json(
                ap,
                &format!("{path}.additionalProperties"),
            )));
        }
        if let Some(items) = v.get("items")
            && items.is_object()
        {
            node.items = Some(Box::new(Node::from_json(items, &format!("{path}.items"))));
        }
        if let Some(rules) = v.get("x-kubernetes-validations").and_then(Value::as_array) {
            node.rules = rules.iter().map(RuleSpec::from_json).collect();
        }
        if let Some(all_of) = v.get("allOf").and_then(Value::as_array) {
            node.all_of = all_of
                .iter()
                .enumerate()
                .map(|(i, s)| Node::from_json(s, &format!("{path}.allOf[{i}]")))
                .collect();
        }
        node
    }

    /// The schema type name shown as the "value" of a failed rule
    /// (`Invalid value: "object"`).
    pub fn type_name(&self) -> &str {
        &self.ty
    }

    /// Whether this node or any below it carries rules.
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
            || self.items.as_ref().is_some_and(|n| n.has_rules())
            || self.additional.as_ref().is_some_and(|n| n.has_rules())
            || self
                .properties
                .as_ref()
                .is_some_and(|p| p.values().any(Node::has_rules))
            || self.all_of.iter().any(Node::has_rules)
    }

    /// `x-kubernetes-map-type` lets old and new values correlate (granular,
    /// atomic or unset).
    pub fn map_correlatable(&self) -> bool {
        matches!(
            self.map_type.as_deref(),
            None | Some("granular") | Some("atomic")
        )
    }

    /// The schema as rules at the root of a resource see it: `apiVersion`,
    /// `kind`, and a `metadata` reduced to `name` and `generateName`
    /// (`WithTypeAndObjectMeta`).
    pub fn with_type_and_object_meta(&self) -> Node {
        let string = |p: &str| Node {
            path: p.to_string(),
            ty: "string".into(),
            ..Node::default()
        };
        let mut props = self.properties.clone().unwrap_or_default();
        let keep_meta = props.get("metadata").is_some_and(|m| {
            m.ty == "object"
                && m.properties.as_ref().is_some_and(|mp| {
                    mp.get("name").is_some_and(|n| n.ty == "string")
                        && mp.get("generateName").is_some_and(|n| n.ty == "string")
                })
        }) && props.get("kind").is_some_and(|k| k.ty == "string")
            && props.get("apiVersion").is_some_and(|k| k.ty == "string");
        if keep_meta {
            return self.clone();
        }
        let p = &self.path;
        props.insert("kind".into(), string(&format!("{p}.properties[kind]")));
        props.insert(
            "apiVersion".into(),
            string(&format!("{p}.properties[apiVersion]")),
        );
        let meta_path = format!("{p}.properties[metadata]");
        let mut meta_props = BTreeMap::new();
        meta_props.insert(
            "name".to_string(),
            string(&format!("{meta_path}.properties[name]")),
        );
        meta_props.insert(
            "generateName".to_string(),
            string(&format!("{meta_path}.properties[generateName]")),
        );
        props.insert(
            "metadata".into(),
            Node {
                path: meta_path,
                ty: "object".into(),
                properties: Some(meta_props),
                ..Node::default()
            },
        );
        Node {
            properties: Some(props),
            ..self.clone()
        }
    }
}
