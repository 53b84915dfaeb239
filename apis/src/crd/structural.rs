//! Structural schema rules (`pkg/apiserver/schema`: `NewStructural`,
//! `ValidateStructural`, completeness and metadata invariants).
//!
//! Upstream first converts `JSONSchemaProps` into a `Structural` tree (the
//! "spine": type, properties, items, additionalProperties, extensions) whose
//! nodes carry `ValueValidation`s (the junctors `allOf`/`anyOf`/`oneOf`/`not`
//! and value constraints). We do not build that second tree: `Props` already
//! holds every field, and each rule below reads the fields the structural
//! view would contain. A junctor branch plays the role of a
//! `NestedValueValidation`, whose generic and extension fields must be
//! empty ("ForbiddenGenerics"/"ForbiddenExtensions").
//!
//! Invariants reproduced from upstream:
//! * `ValidateStructural` sorts its errors by their full text, because Go
//!   walks property maps in random order. Callers get them sorted too.
//! * `ValidateStructural` only runs when `NewStructural` succeeded; the
//!   conversion errors are reported separately ([`init_error`]) and only when
//!   no other schema error was found.
//! * Completeness (`properties` or `items` named inside a junctor must exist
//!   in the spine) is checked for the junctors of the root node only, exactly
//!   like upstream's `validateStructuralCompleteness`.

use crate::field_error::FieldError;

use super::model::Props;
use super::path::{child, index, key};
use super::re2;

/// `NewStructural`'s error for a schema, if it cannot be converted.
/// Properties are visited in sorted order (Go: random).
pub fn init_error(s: &Props<'_>) -> Option<&'static str> {
    unsupported_fields(s)
        .or_else(|| value_validation_init(s))
        .or_else(|| {
            s.additional_properties
                .as_ref()
                .and_then(|a| a.schema.as_deref())
                .and_then(init_error)
        })
        .or_else(|| extensions_init(s))
        .or_else(|| match &s.items {
            Some(items) if !items.array().is_empty() => {
                Some("OpenAPIV3Schema 'items' must be a schema, but is an array")
            }
            Some(items) => items.schema().and_then(init_error),
            None => None,
        })
        .or_else(|| s.properties.values().find_map(init_error))
}

fn unsupported_fields(s: &Props<'_>) -> Option<&'static str> {
    if !s.id.is_empty() {
        Some("OpenAPIV3Schema 'id' is not supported")
    } else if !s.schema.is_empty() {
        Some("OpenAPIV3Schema 'schema' is not supported")
    } else if s.ref_.as_deref().is_some_and(|r| !r.is_empty()) {
        Some("OpenAPIV3Schema '$ref' is not supported")
    } else if !s.pattern_properties.is_empty() {
        Some("OpenAPIV3Schema 'patternProperties' is not supported")
    } else if s.dependencies.as_ref().is_some_and(|d| !d.is_empty()) {
        Some("OpenAPIV3Schema 'dependencies' is not supported")
    } else if s.additional_items.is_some() {
        Some("OpenAPIV3Schema 'additionalItems' is not supported")
    } else if !s.definitions.is_empty() {
        Some("OpenAPIV3Schema 'definitions' is not supported")
    } else {
        None
    }
}

fn extensions_init(s: &Props<'_>) -> Option<&'static str> {
    (s.x_preserve_unknown_fields == Some(false)).then_some(
        "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined",
    )
}

fn value_validation_init(s: &Props<'_>) -> Option<&'static str> {
    s.not
        .as_deref()
        .and_then(nested_init)
        .or_else(|| s.all_of.iter().find_map(nested_init))
        .or_else(|| s.any_of.iter().find_map(nested_init))
        .or_else(|| s.one_of.iter().find_map(nested_init))
}

fn nested_init(s: &Props<'_>) -> Option<&'static str> {
    unsupported_fields(s)
        .or_else(|| value_validation_init(s))
        .or_else(|| {
            s.additional_properties
                .as_ref()
                .and_then(|a| a.schema.as_deref())
                .and_then(init_error)
        })
        .or_else(|| extensions_init(s))
        .or_else(|| match &s.items {
            Some(items) if !items.array().is_empty() => {
                Some("OpenAPIV3Schema 'items' must be a schema, but is an array")
            }
            Some(items) => items.schema().and_then(nested_init),
            None => None,
        })
        .or_else(|| s.properties.values().find_map(nested_init))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// `ValidateStructural(path, NewStructural(s))`, errors sorted by text.
/// Callers must check [`init_error`] first.
pub fn validate(path: &str, s: &Props<'_>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    invariants(s, Level::Root, path, &mut errs);
    value_validation_completeness(s, Some(s), path, path, &mut errs);
    errs.sort_by_cached_key(|e| e.to_string());
    errs
}

/// Whether `s` is a structural schema (no conversion or validation error).
pub fn is_structural(s: &Props<'_>) -> bool {
    init_error(s).is_none() && validate("", s).is_empty()
}

/// A junctor branch that is exactly `{type: <t>}` (the int-or-string forms
/// compare `NestedValueValidation`s with `reflect.DeepEqual`; `example` is
/// not part of them).
fn only_type(p: &Props<'_>, t: &str) -> bool {
    p.type_ == t
        && p.non_zero_go_fields()
            .into_iter()
            .all(|f| f == "Type" || f == "Example")
}

fn is_int_or_string_any_of(any_of: &[Props<'_>]) -> bool {
    any_of.len() == 2 && only_type(&any_of[0], "integer") && only_type(&any_of[1], "string")
}

fn invariants(s: &Props<'_>, lvl: Level, path: &str, errs: &mut Vec<FieldError>) {
    let items = s.items.as_ref().and_then(|i| i.schema());
    if s.type_ == "array" && items.is_none() {
        errs.push(FieldError::required(
            child(path, "items"),
            "must be specified",
        ));
    }
    if let Some(items) = items {
        invariants(items, Level::Item, &child(path, "items"), errs);
    }
    for (k, v) in &s.properties {
        invariants(v, Level::Field, &key(&child(path, "properties"), k), errs);
    }
    if let Some(ap) = &s.additional_properties {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Some(ap) = &ap.schema {
            invariants(ap, Level::Field, &child(path, "additionalProperties"), errs);
        }
    }

    // validateExtensions
    if s.x_int_or_string && s.preserves_unknown() {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if s.x_int_or_string && s.x_embedded_resource {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }

    let skip_any_of = is_int_or_string_any_of(&s.any_of);
    let skip_first_all_of_any_of = s
        .all_of
        .first()
        .is_some_and(|a| is_int_or_string_any_of(&a.any_of));
    value_validation(s, skip_any_of, skip_first_all_of_any_of, path, errs);

    let check_metadata = lvl == Level::Root || s.x_embedded_resource;
    if s.x_embedded_resource && s.type_ != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        errs.push(if s.type_.is_empty() {
            FieldError::required(child(path, "type"), detail)
        } else {
            FieldError::invalid(child(path, "type"), s.type_.as_str(), detail)
        });
    } else if s.type_.is_empty() && !s.x_int_or_string && !s.preserves_unknown() {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(child(path, "type"), detail));
    }
    if s.x_embedded_resource && s.additional_properties.is_some() {
        errs.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !s.type_.is_empty() && s.type_ != "object" {
        errs.push(FieldError::invalid(
            child(path, "type"),
            s.type_.as_str(),
            "must be object at the root",
        ));
    }
    let props = child(path, "properties");
    for name in ["kind", "apiVersion"] {
        if let Some(p) = s.properties.get(name)
            && check_metadata
            && p.type_ != "string"
        {
            errs.push(FieldError::invalid(
                child(&key(&props, name), "type"),
                p.type_.as_str(),
                "must be string",
            ));
        }
    }
    if let Some(meta) = s.properties.get("metadata") {
        metadata_invariants(meta, check_metadata, lvl, &key(&props, "metadata"), errs);
    }
    if s.x_embedded_resource && !s.preserves_unknown() && s.properties.is_empty() {
        errs.push(FieldError::required(
            props,
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Root `metadata` may only restrict `name` and `generateName`; anything
/// else in its structural form (besides `type`, `default`, and the fields
/// `NewStructural` drops) is forbidden.
fn metadata_invariants(
    s: &Props<'_>,
    check_metadata: bool,
    lvl: Level,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if check_metadata && s.type_ != "object" {
        errs.push(FieldError::invalid(
            child(path, "type"),
            s.type_.as_str(),
            "must be object",
        ));
    }
    if lvl != Level::Root {
        return;
    }
    let names_only = {
        let has = |n: &str| s.properties.contains_key(n);
        let n = s.properties.len();
        (has("name") && has("generateName") && n == 2)
            || ((has("name") || has("generateName")) && n == 1)
    };
    let restricts_more = s.non_zero_go_fields().into_iter().any(|f| match f {
        "Type" | "Default" | "Example" => false,
        "Properties" => !names_only,
        _ => true,
    });
    if restricts_more {
        errs.push(FieldError::forbidden(
            path,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

/// `validateValueValidation` for the junctors and pattern of `v`.
fn value_validation(
    v: &Props<'_>,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, a) in v.any_of.iter().enumerate() {
            nested(a, false, &index(&child(path, "anyOf"), i), errs);
        }
    }
    for (i, a) in v.all_of.iter().enumerate() {
        nested(
            a,
            skip_first_all_of_any_of && i == 0,
            &index(&child(path, "allOf"), i),
            errs,
        );
    }
    for (i, a) in v.one_of.iter().enumerate() {
        nested(a, false, &index(&child(path, "oneOf"), i), errs);
    }
    if let Some(n) = &v.not {
        nested(n, false, &child(path, "not"), errs);
    }
    if !v.pattern.is_empty()
        && let Err(e) = re2::check(&v.pattern)
    {
        errs.push(FieldError::invalid(
            child(path, "pattern"),
            v.pattern.as_str(),
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

/// `validateNestedValueValidation`: a junctor branch may only hold value
/// validations, `items` and `properties`.
fn nested(v: &Props<'_>, skip_any_of: bool, path: &str, errs: &mut Vec<FieldError>) {
    value_validation(v, skip_any_of, false, path, errs);
    if let Some(items) = v.items.as_ref().and_then(|i| i.schema()) {
        nested(items, false, &child(path, "items"), errs);
    }
    for (k, p) in &v.properties {
        nested(p, false, &key(&child(path, "properties"), k), errs);
    }
    let forbid = |errs: &mut Vec<FieldError>, field: &str, detail: &str| {
        errs.push(FieldError::forbidden(child(path, field), detail));
    };
    const UNDEFINED: &str = "must be undefined to be structural";
    const EMPTY: &str = "must be empty to be structural";
    const FALSE: &str = "must be false to be structural";
    if !v.type_.is_empty() {
        forbid(errs, "type", EMPTY);
    }
    if v.additional_properties.is_some() {
        forbid(errs, "additionalProperties", UNDEFINED);
    }
    if v.default.is_some() {
        forbid(errs, "default", UNDEFINED);
    }
    if !v.title.is_empty() {
        forbid(errs, "title", EMPTY);
    }
    if !v.description.is_empty() {
        forbid(errs, "description", EMPTY);
    }
    if v.nullable {
        forbid(errs, "nullable", FALSE);
    }
    if v.external_docs.is_some() {
        forbid(errs, "externalDocs", UNDEFINED);
    }
    if v.preserves_unknown() {
        forbid(errs, "x-kubernetes-preserve-unknown-fields", FALSE);
    }
    if v.x_embedded_resource {
        forbid(errs, "x-kubernetes-embedded-resource", FALSE);
    }
    if v.x_int_or_string {
        forbid(errs, "x-kubernetes-int-or-string", FALSE);
    }
    if !v.x_list_map_keys.is_empty() {
        forbid(errs, "x-kubernetes-list-map-keys", EMPTY);
    }
    if v.x_list_type.is_some() {
        forbid(errs, "x-kubernetes-list-type", UNDEFINED);
    }
    if v.x_map_type.is_some() {
        forbid(errs, "x-kubernetes-map-type", UNDEFINED);
    }
    if !v.x_validations.is_empty() {
        forbid(errs, "x-kubernetes-validations", EMPTY);
    }
    if v.properties.contains_key("metadata") {
        errs.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

fn required_because(s_path: &str, v_path: &str) -> FieldError {
    FieldError::required(s_path, format!("because it is defined in {v_path}"))
}

/// `validateValueValidationCompleteness`: the junctors of `v` against the
/// spine node `s`.
fn value_validation_completeness(
    v: &Props<'_>,
    s: Option<&Props<'_>>,
    s_path: &str,
    v_path: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(required_because(s_path, v_path));
        return;
    };
    if let Some(n) = &v.not {
        nested_completeness(n, Some(s), s_path, &child(v_path, "not"), errs);
    }
    for (name, list) in [
        ("allOf", &v.all_of),
        ("anyOf", &v.any_of),
        ("oneOf", &v.one_of),
    ] {
        for (i, a) in list.iter().enumerate() {
            nested_completeness(a, Some(s), s_path, &index(&child(v_path, name), i), errs);
        }
    }
}

fn nested_completeness(
    v: &Props<'_>,
    s: Option<&Props<'_>>,
    s_path: &str,
    v_path: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(required_because(s_path, v_path));
        return;
    };
    value_validation_completeness(v, Some(s), s_path, v_path, errs);
    if let Some(items) = v.items.as_ref().and_then(|i| i.schema()) {
        nested_completeness(
            items,
            s.items.as_ref().and_then(|i| i.schema()),
            &child(s_path, "items"),
            &child(v_path, "items"),
            errs,
        );
    }
    for (k, p) in &v.properties {
        let sp = key(&child(s_path, "properties"), k);
        let vp = key(&child(v_path, "properties"), k);
        match s.properties.get(k) {
            None => errs.push(required_because(&sp, &vp)),
            Some(sf) => nested_completeness(p, Some(sf), &sp, &vp, errs),
        }
    }
}
