//! The per-node OpenAPI rules of `ValidateCustomResourceDefinitionOpenAPISchema`
//! (and its `specStandardValidatorV3`): unsupported keywords, defaults where
//! they cannot be applied, the list/map topology extensions and the static
//! parts of `x-kubernetes-validations`.
//!
//! Unlike the structural rules these are not sorted: upstream reports them in
//! traversal order (node checks, then additionalProperties, properties, not,
//! allOf, oneOf, anyOf, definitions, items, dependencies, then the node's
//! extension checks). Go visits maps in random order; we use sorted keys.
//!
//! CEL compilation is not done here. Upstream compiles a node's rules only if
//! no schema error was found at or below that node; we record the nodes
//! whose rules must be skipped for that reason so the CEL hook can honour it.

use std::collections::BTreeSet;

use crate::field_error::FieldError;

use super::gofmt;
use super::jsonpath;
use super::model::Props;
use super::path::{child, index, key};
use super::structural;

/// `openapiV3Types.List()` (sorted).
const OPENAPI_V3_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// `supportedValidationReason.List()` (sorted).
const VALIDATION_REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];

/// `specStandardValidatorV3` state that changes while descending.
#[derive(Clone)]
struct Ssv {
    allow_defaults: bool,
    disallow_defaults_reason: String,
    inside_resource_meta: bool,
    require_valid_property_type: bool,
}

impl Ssv {
    fn with_forbidden_defaults(&self, reason: String) -> Ssv {
        Ssv {
            allow_defaults: false,
            disallow_defaults_reason: reason,
            ..self.clone()
        }
    }
}

/// Options of `validationOptions` these rules read.
#[derive(Clone, Copy)]
pub struct SchemaOpts {
    pub require_valid_property_type: bool,
    pub require_atomic_set_type: bool,
    pub require_map_list_keys_map_set_validation: bool,
}

/// Result of validating one `openAPIV3Schema`.
pub struct SchemaCheck {
    pub errors: Vec<FieldError>,
    /// Node paths whose `x-kubernetes-validations` upstream would not
    /// compile because of schema errors at or below them.
    pub skip_rules: BTreeSet<String>,
}

/// `ValidateCustomResourceDefinitionOpenAPISchema(schema, path, ssv, isRoot=true, ...)`.
pub fn validate(path: &str, schema: &Props<'_>, opts: SchemaOpts) -> SchemaCheck {
    let ssv = Ssv {
        allow_defaults: true,
        disallow_defaults_reason: String::new(),
        inside_resource_meta: false,
        require_valid_property_type: opts.require_valid_property_type,
    };
    let mut check = SchemaCheck {
        errors: Vec::new(),
        skip_rules: BTreeSet::new(),
    };
    node(schema, path, &ssv, true, opts, &mut check);
    check
}

/// `specStandardValidatorV3.validate`.
fn standard(s: &Props<'_>, path: &str, ssv: &Ssv, errs: &mut Vec<FieldError>) {
    if ssv.require_valid_property_type
        && !s.type_.is_empty()
        && !OPENAPI_V3_TYPES.contains(&s.type_.as_str())
    {
        errs.push(FieldError::not_supported(
            child(path, "type"),
            s.type_.as_str(),
            &OPENAPI_V3_TYPES,
        ));
    }
    if s.default.is_some() && !ssv.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ssv.disallow_defaults_reason.is_empty() {
            detail.push(' ');
            detail.push_str(&ssv.disallow_defaults_reason);
        }
        errs.push(FieldError::forbidden(child(path, "default"), detail));
    }
    if !s.id.is_empty() {
        errs.push(FieldError::forbidden(
            child(path, "id"),
            "id is not supported",
        ));
    }
    if s.additional_items.is_some() {
        errs.push(FieldError::forbidden(
            child(path, "additionalItems"),
            "additionalItems is not supported",
        ));
    }
    if !s.pattern_properties.is_empty() {
        errs.push(FieldError::forbidden(
            child(path, "patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if !s.definitions.is_empty() {
        errs.push(FieldError::forbidden(
            child(path, "definitions"),
            "definitions is not supported",
        ));
    }
    if s.dependencies.is_some() {
        errs.push(FieldError::forbidden(
            child(path, "dependencies"),
            "dependencies is not supported",
        ));
    }
    if s.ref_.is_some() {
        errs.push(FieldError::forbidden(
            child(path, "$ref"),
            "$ref is not supported",
        ));
    }
    if s.type_ == "null" {
        errs.push(FieldError::forbidden(
            child(path, "type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if s.items.as_ref().is_some_and(|i| !i.array().is_empty()) {
        errs.push(FieldError::forbidden(
            child(path, "items"),
            "items must be a schema object and not an array",
        ));
    }
    if ssv.inside_resource_meta && s.x_embedded_resource {
        errs.push(FieldError::forbidden(
            child(path, "x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
}

fn has_newlines(s: &str) -> bool {
    s.contains(['\n', '\r'])
}

/// Whether a type requirement error is `Required` (no type) or `Invalid`.
fn type_error(path: &str, type_: &str, detail: &str) -> FieldError {
    if type_.is_empty() {
        FieldError::required(child(path, "type"), detail)
    } else {
        FieldError::invalid(child(path, "type"), type_, detail)
    }
}

fn node(
    s: &Props<'_>,
    path: &str,
    ssv: &Ssv,
    is_root: bool,
    opts: SchemaOpts,
    check: &mut SchemaCheck,
) {
    let start = check.errors.len();
    let errs = &mut check.errors;
    standard(s, path, ssv, errs);
    if s.unique_items {
        errs.push(FieldError::forbidden(
            child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }

    if let Some(ap) = &s.additional_properties {
        if !s.properties.is_empty() && (!ap.allows || ap.schema.is_some()) {
            errs.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Some(sub) = &ap.schema {
            let sub_ssv = if ssv.inside_resource_meta {
                ssv.with_forbidden_defaults(
                    "inside additionalProperties applying to object metadata".into(),
                )
            } else {
                ssv.clone()
            };
            node(
                sub,
                &child(path, "additionalProperties"),
                &sub_ssv,
                false,
                opts,
                check,
            );
        }
    }
    for (name, sub) in &s.properties {
        let mut sub_ssv = ssv.clone();
        if (is_root || s.x_embedded_resource) && META_FIELDS.contains(&name.as_str()) {
            sub_ssv.inside_resource_meta = true;
            if is_root {
                sub_ssv = sub_ssv.with_forbidden_defaults(format!("in top-level {name}"));
            }
        }
        node(
            sub,
            &key(&child(path, "properties"), name),
            &sub_ssv,
            false,
            opts,
            check,
        );
    }
    if let Some(n) = &s.not {
        node(n, &child(path, "not"), ssv, false, opts, check);
    }
    for (name, list) in [
        ("allOf", &s.all_of),
        ("oneOf", &s.one_of),
        ("anyOf", &s.any_of),
    ] {
        for (i, sub) in list.iter().enumerate() {
            node(sub, &index(&child(path, name), i), ssv, false, opts, check);
        }
    }
    for (name, sub) in &s.definitions {
        node(
            sub,
            &key(&child(path, "definitions"), name),
            ssv,
            false,
            opts,
            check,
        );
    }
    if let Some(items) = &s.items {
        if let Some(sub) = items.schema() {
            node(sub, &child(path, "items"), ssv, false, opts, check);
        }
        for (i, sub) in items.array().iter().enumerate() {
            node(
                sub,
                &index(&child(path, "items"), i),
                ssv,
                false,
                opts,
                check,
            );
        }
    }
    if let Some(deps) = &s.dependencies {
        for (name, dep) in deps {
            if let Some(sub) = &dep.schema {
                node(
                    sub,
                    &key(&child(path, "dependencies"), name),
                    ssv,
                    false,
                    opts,
                    check,
                );
            }
        }
    }

    let errs = &mut check.errors;
    topology(s, path, opts, errs);
    if opts.require_map_list_keys_map_set_validation {
        map_list_keys_map_set(s, path, errs);
    }
    rules(s, path, errs);

    if !s.x_validations.is_empty() && check.errors.len() > start {
        check.skip_rules.insert(path.to_string());
    }
}

/// Extension checks: preserve-unknown-fields, map type, list type, map keys.
fn topology(s: &Props<'_>, path: &str, opts: SchemaOpts, errs: &mut Vec<FieldError>) {
    if s.x_preserve_unknown_fields == Some(false) {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        ));
    }
    if let Some(map_type) = &s.x_map_type {
        if s.type_ != "object" {
            errs.push(type_error(
                path,
                &s.type_,
                "must be object if x-kubernetes-map-type is specified",
            ));
        }
        if map_type != "atomic" && map_type != "granular" {
            errs.push(FieldError::not_supported(
                child(path, "x-kubernetes-map-type"),
                map_type.as_str(),
                &["atomic", "granular"],
            ));
        }
    }
    let items = s.items.as_ref().and_then(|i| i.schema());
    if s.x_list_type.is_some() && s.type_ != "array" {
        errs.push(type_error(
            path,
            &s.type_,
            "must be array if x-kubernetes-list-type is specified",
        ));
    } else if opts.require_atomic_set_type
        && s.x_list_type.as_deref() == Some("set")
        && let Some(is) = items
    {
        const DETAIL: &str = "must be atomic as item of a list with x-kubernetes-list-type=set";
        let items_path = child(path, "items");
        // Upstream reports the items' list type in both cases.
        let value = is
            .x_list_type
            .as_deref()
            .map_or(serde_json::Value::Null, serde_json::Value::from);
        match is.type_.as_str() {
            "array" if is.x_list_type.as_deref().is_some_and(|t| t != "atomic") => {
                errs.push(FieldError::invalid(
                    child(&items_path, "x-kubernetes-list-type"),
                    value,
                    DETAIL,
                ));
            }
            "object" if is.x_map_type.as_deref() != Some("atomic") => {
                errs.push(FieldError::invalid(
                    child(&items_path, "x-kubernetes-map-type"),
                    value,
                    DETAIL,
                ));
            }
            _ => {}
        }
    }
    if let Some(list_type) = &s.x_list_type
        && !["atomic", "set", "map"].contains(&list_type.as_str())
    {
        errs.push(FieldError::not_supported(
            child(path, "x-kubernetes-list-type"),
            list_type.as_str(),
            &["atomic", "set", "map"],
        ));
    }
    if !s.x_list_map_keys.is_empty() {
        const DETAIL: &str = "must be map if x-kubernetes-list-map-keys is non-empty";
        match s.x_list_type.as_deref() {
            None => errs.push(FieldError::required(
                child(path, "x-kubernetes-list-type"),
                DETAIL,
            )),
            Some(t) if t != "map" => errs.push(FieldError::invalid(
                child(path, "x-kubernetes-list-type"),
                t,
                DETAIL,
            )),
            _ => {}
        }
    }
    if s.x_list_type.as_deref() == Some("map") {
        list_map(s, path, errs);
    }
}

/// The `x-kubernetes-list-type: map` requirements.
fn list_map(s: &Props<'_>, path: &str, errs: &mut Vec<FieldError>) {
    let keys_path = child(path, "x-kubernetes-list-map-keys");
    if s.x_list_map_keys.is_empty() {
        errs.push(FieldError::required(
            keys_path.clone(),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    let items_path = child(path, "items");
    let Some(items) = &s.items else {
        errs.push(FieldError::required(
            items_path,
            "must have a schema if x-kubernetes-list-type is map",
        ));
        return;
    };
    let Some(is) = items.schema() else {
        // Upstream prints the Go struct; we print the items as JSON.
        let raw = s.raw.0.get("items").cloned().unwrap_or_default();
        errs.push(FieldError::invalid(
            items_path,
            raw,
            "must only have a single schema if x-kubernetes-list-type is map",
        ));
        return;
    };
    if is.type_ != "object" {
        errs.push(FieldError::invalid(
            child(&items_path, "type"),
            is.type_.as_str(),
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    let keys = gofmt::string_slice(&s.x_list_map_keys);
    let mut seen = BTreeSet::new();
    for k in &s.x_list_map_keys {
        match is.properties.get(k) {
            Some(p) if p.type_ == "array" || p.type_ == "object" => {
                // Upstream reports the items' type ("object") here.
                errs.push(FieldError::invalid(
                    child(&key(&child(&items_path, "properties"), k), "type"),
                    is.type_.as_str(),
                    "must be a scalar type if parent array's x-kubernetes-list-type is map",
                ));
            }
            Some(_) => {}
            None => errs.push(gofmt::invalid_raw(
                keys_path.clone(),
                &keys,
                "entries must all be names of item properties",
            )),
        }
        if !seen.insert(k) {
            errs.push(gofmt::invalid_raw(
                keys_path.clone(),
                &keys,
                "must not contain duplicate entries",
            ));
        }
    }
}

/// `validateMapListKeysMapSet`; also used to detect old CRDs that violate
/// it (update ratcheting).
pub fn map_list_keys_map_set(s: &Props<'_>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(is) = s.items.as_ref().and_then(|i| i.schema()) else {
        return;
    };
    let Some(list_type) = s.x_list_type.as_deref() else {
        return;
    };
    if list_type != "set" && list_type != "map" {
        return;
    }
    let items_path = child(path, "items");
    if is.nullable {
        errs.push(FieldError::forbidden(
            child(&items_path, "nullable"),
            format!("cannot be nullable when x-kubernetes-list-type is {list_type}"),
        ));
    }
    if list_type == "map" {
        for k in &s.x_list_map_keys {
            let Some(p) = is.properties.get(k) else {
                continue;
            };
            let prop_path = key(&child(&items_path, "properties"), k);
            if !is.required.contains(k) && p.default.is_none() {
                errs.push(FieldError::required(
                    child(&prop_path, "default"),
                    "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                ));
            }
            if p.nullable {
                errs.push(FieldError::forbidden(
                    child(&prop_path, "nullable"),
                    "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                ));
            }
        }
    }
}

/// The static checks of `x-kubernetes-validations` entries.
fn rules(s: &Props<'_>, path: &str, errs: &mut Vec<FieldError>) {
    for (i, rule) in s.x_validations.iter().enumerate() {
        let rule_path = index(&child(path, "x-kubernetes-validations"), i);
        let trimmed_rule = rule.rule.trim();
        let trimmed_msg = rule.message.trim();
        if trimmed_rule.is_empty() {
            errs.push(FieldError::required(
                child(&rule_path, "rule"),
                "rule is not specified",
            ));
        } else if !rule.message.is_empty() && trimmed_msg.is_empty() {
            errs.push(FieldError::invalid(
                child(&rule_path, "message"),
                rule.message.as_str(),
                "must be non-empty if specified",
            ));
        } else if has_newlines(trimmed_msg) {
            errs.push(FieldError::invalid(
                child(&rule_path, "message"),
                rule.message.as_str(),
                "must not contain line breaks",
            ));
        } else if has_newlines(trimmed_rule) && trimmed_msg.is_empty() {
            errs.push(FieldError::required(
                child(&rule_path, "message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if !rule.message_expression.is_empty() && rule.message_expression.trim().is_empty() {
            errs.push(FieldError::required(
                child(&rule_path, "messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = &rule.reason
            && !VALIDATION_REASONS.contains(&reason.as_str())
        {
            errs.push(FieldError::not_supported(
                child(&rule_path, "reason"),
                reason.as_str(),
                &VALIDATION_REASONS,
            ));
        }
        let fp = &rule.field_path;
        let fp_path = child(&rule_path, "fieldPath");
        if !fp.is_empty() && fp.trim().is_empty() {
            errs.push(FieldError::invalid(
                fp_path.clone(),
                fp.as_str(),
                "must be non-empty if specified",
            ));
        }
        if has_newlines(fp) {
            errs.push(FieldError::invalid(
                fp_path.clone(),
                fp.as_str(),
                "must not contain line breaks",
            ));
        }
        // `pathValid`: only judged when the node converts to a structural schema.
        if !fp.is_empty()
            && structural::init_error(s).is_none()
            && jsonpath::valid_field_path(fp, s, true).is_err()
        {
            errs.push(FieldError::invalid(
                fp_path,
                fp.as_str(),
                "must be a valid path",
            ));
        }
    }
}
