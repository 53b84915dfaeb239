//! Go value renderings for error messages.
//!
//! `field.Error.ErrorBody` prints the bad value with `%q` for strings, `%v`
//! for numbers and bools, and `%#v` for everything else. Several CRD errors
//! carry Go values that have no JSON equivalent (`[]string{"v1"}`,
//! `[]apiextensions.CustomResourceDefinitionVersion{...}`, a default decoded
//! into `map[string]interface {}`), so we render those here.
//!
//! `FieldError` quotes string values and prints other values as JSON, so a
//! pre-rendered Go value cannot travel in `FieldError::value`. Instead
//! [`invalid_raw`] leaves `value` empty and prefixes the rendering to the
//! detail: `body()` then reads `Invalid value: <rendering>: <detail>`, the
//! same bytes upstream produces. Only the message matters to clients
//! (`StatusCause` carries no value), so nothing is lost.
//!
//! Approximations: Go prints non-nil pointers inside `%#v` structs as
//! addresses (`(*apiextensions.CustomResourceValidation)(0xc000a1b2c0)`),
//! which are random; we print the fixed address `0xc000000000`. String
//! escapes follow Rust's `Debug`, which matches Go's `%q` for printable text.

use serde_json::Value;

use super::model::{Column, SelectableField, Version};
use crate::field_error::{ErrorType, FieldError};

/// The address printed for every non-nil pointer (see module docs).
const FAKE_ADDR: &str = "0xc000000000";

/// An `Invalid value` error whose value is an already rendered Go value.
pub fn invalid_raw(
    field: impl Into<String>,
    rendered: &str,
    detail: impl AsRef<str>,
) -> FieldError {
    FieldError::new(
        ErrorType::Invalid,
        field,
        None,
        format!("{rendered}: {}", detail.as_ref()),
    )
}

/// Go `%q` of a string.
pub fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// `%#v` of a `[]string`; an empty slice is rendered as nil, which is what
/// upstream holds whenever these errors fire on an empty list.
pub fn string_slice(v: &[String]) -> String {
    if v.is_empty() {
        return "[]string(nil)".into();
    }
    let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

fn opt_ptr(present: bool, ty: &str) -> String {
    if present {
        format!("(*{ty})({FAKE_ADDR})")
    } else {
        format!("(*{ty})(nil)")
    }
}

fn columns(cols: &[Column]) -> String {
    const TY: &str = "apiextensions.CustomResourceColumnDefinition";
    if cols.is_empty() {
        return format!("[]{TY}(nil)");
    }
    let items: Vec<String> = cols
        .iter()
        .map(|c| {
            format!(
                "{TY}{{Name:{}, Type:{}, Format:{}, Description:{}, Priority:{}, JSONPath:{}}}",
                quote(&c.name),
                quote(&c.type_),
                quote(&c.format),
                quote(&c.description),
                c.priority,
                quote(&c.json_path)
            )
        })
        .collect();
    format!("[]{TY}{{{}}}", items.join(", "))
}

fn selectable(fields: &[SelectableField]) -> String {
    const TY: &str = "apiextensions.SelectableField";
    if fields.is_empty() {
        return format!("[]{TY}(nil)");
    }
    let items: Vec<String> = fields
        .iter()
        .map(|f| format!("{TY}{{JSONPath:{}}}", quote(&f.json_path)))
        .collect();
    format!("[]{TY}{{{}}}", items.join(", "))
}

/// `%#v` of the internal `[]apiextensions.CustomResourceDefinitionVersion`
/// (after the v1 → internal conversion hoisted shared fields).
pub fn versions(vs: &[Version<'_>]) -> String {
    const TY: &str = "apiextensions.CustomResourceDefinitionVersion";
    if vs.is_empty() {
        return format!("[]{TY}(nil)");
    }
    let items: Vec<String> = vs
        .iter()
        .map(|v| {
            let warning = opt_ptr(v.deprecation_warning.is_some(), "string");
            format!(
                "{TY}{{Name:{}, Served:{}, Storage:{}, Deprecated:{}, DeprecationWarning:{}, Schema:{}, Subresources:{}, AdditionalPrinterColumns:{}, SelectableFields:{}}}",
                quote(&v.name),
                v.served,
                v.storage,
                v.deprecated,
                warning,
                opt_ptr(v.schema.is_some(), "apiextensions.CustomResourceValidation"),
                opt_ptr(v.subresources.is_some(), "apiextensions.CustomResourceSubresources"),
                columns(&v.columns),
                selectable(&v.selectable_fields),
            )
        })
        .collect();
    format!("[]{TY}{{{}}}", items.join(", "))
}

/// Go `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest
/// round-tripping digits, scientific notation (two-digit exponent at least)
/// when the decimal exponent is < -4 or >= 6, the precision `%g` uses for
/// that decision when asked for the shortest form.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    // Plain notation with the same digits.
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let point = exp + 1; // position of the decimal point within `digits`
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    if negative { format!("-{body}") } else { body }
}

fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        // Go decodes integers beyond int64 as float64.
        go_float(u as f64)
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// `%#v` of a JSON value decoded into `interface{}` as nested inside a
/// map or slice (types spelled out for composites, `interface {}(nil)`
/// for null).
fn go_json_nested(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_json_nested).collect();
            format!("[]interface {{}}{{{}}}", parts.join(", "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", quote(k), go_json_nested(&map[k])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
    }
}

/// How `ErrorBody` prints an `interface{}` holding decoded JSON: `%q` for
/// strings, `%v` for scalars, `%#v` for maps and slices, `null` for nil.
pub fn go_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => quote(s),
        _ => go_json_nested(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(-2.25), "-2.25");
    }

    #[test]
    fn json_like_go() {
        assert_eq!(go_json(&json!("a")), "\"a\"");
        assert_eq!(go_json(&json!(3)), "3");
        assert_eq!(
            go_json(&json!({"b": [1, "x", null], "a": true})),
            "map[string]interface {}{\"a\":true, \"b\":[]interface {}{1, \"x\", interface {}(nil)}}"
        );
        assert_eq!(string_slice(&[]), "[]string(nil)");
        assert_eq!(
            string_slice(&["a".into(), "b".into()]),
            "[]string{\"a\", \"b\"}"
        );
    }
}
