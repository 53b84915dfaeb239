//! The two JSON path dialects CRD validation checks.
//!
//! * `validateSimpleJSONPath` (printer columns, scale subresource paths):
//!   only "non-empty and starts with a dot" is enforced upstream; we also
//!   enforce [`crate::jsonpath::check_bounds`] so that every accepted path
//!   parses in bounded time and stack.
//! * `cel.ValidFieldPath` (selectable fields, `x-kubernetes-validations`
//!   `fieldPath`): a path of `.name` and `['name']` steps that must resolve
//!   through the *structural* schema (`properties`, or `additionalProperties`
//!   for map keys). It is tokenized like upstream's `bufio.Scanner` split
//!   function so that the error texts (`expected [ or . but got: x`,
//!   `unexpected end of JSON path`, ...) come out identical.
//!
//! Where upstream would dereference a nil schema (a map step below
//! `additionalProperties: true`) and crash, we report
//! `does not refer to a valid field` instead.

use crate::field_error::FieldError;

use super::model::Props;

/// `validateSimpleJSONPath`.
pub fn validate_simple(s: &str, path: &str) -> Vec<FieldError> {
    if s.is_empty() {
        vec![FieldError::invalid(path, s, "must not be empty")]
    } else if !s.starts_with('.') {
        vec![FieldError::invalid(
            path,
            s,
            "must be a simple json path starting with .",
        )]
    } else if s.len() > crate::jsonpath::MAX_LEN {
        vec![FieldError::too_long(path, crate::jsonpath::MAX_LEN)]
    } else if let Err(e) = crate::jsonpath::check_bounds(s) {
        // Beyond upstream (which has no bound): the path is parsed at
        // start-up and on every request, so it must parse safely.
        vec![FieldError::invalid(path, s, e)]
    } else {
        Vec::new()
    }
}

/// Splits like upstream's scanner: `.`, `[`, `]` alone, single-quoted
/// strings whole, anything else up to the next delimiter.
fn tokenize(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut tokens = Vec::new();
    let mut start = 0;
    while start < b.len() {
        let data = &b[start..];
        let mut len = data.len();
        if data[0] == b'\'' {
            for i in 1..data.len() {
                if data[i] == b'\'' && data[i - 1] != b'\\' {
                    len = i + 1;
                    break;
                }
            }
        } else if matches!(data[0], b'.' | b'[' | b']') {
            len = 1;
        } else if let Some(i) = data.iter().position(|c| matches!(c, b'.' | b'[' | b']')) {
            len = i;
        }
        tokens.push(&s[start..start + len]);
        start += len;
    }
    tokens
}

/// `unescapeSingleQuote`.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('\\'),
            Some('\n') => out.push_str("\\\n"),
            Some(d) => out.push(match d {
                'a' => '\x07',
                'b' => '\x08',
                'f' => '\x0c',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\x0b',
                '\'' => '\'',
                '\\' => '\\',
                other => return Err(format!("invalid escape char \\{other}")),
            }),
        }
    }
    Ok(out)
}

/// A resolved field path.
#[derive(Debug)]
pub struct Resolved<'p, 'a> {
    /// `field.Path.String()` of the path (`spec.labels[app]`).
    pub path: String,
    /// `path.Root().String()`.
    pub root: String,
    /// The schema the path ends at (`None` below `additionalProperties: true`).
    pub schema: Option<&'p Props<'a>>,
}

/// `cel.ValidFieldPath(jsonPath, schema, WithFieldPathAllowArrayNotation(allow_array))`,
/// with `schema` read structurally.
pub fn valid_field_path<'p, 'a>(
    json_path: &str,
    schema: &'p Props<'a>,
    allow_array: bool,
) -> Result<Resolved<'p, 'a>, String> {
    const NOT_A_FIELD: &str = "does not refer to a valid field";
    const UNEXPECTED_END: &str = "unexpected end of JSON path";
    let mut current: Option<&'p Props<'a>> = Some(schema);
    let mut path = String::new();
    let mut root = String::new();
    let mut step = |name: &str, current: &mut Option<&'p Props<'a>>| -> Result<(), String> {
        let s = current.ok_or(NOT_A_FIELD)?;
        let named = if !s.properties.is_empty() {
            true
        } else if s.additional_properties.is_some() {
            false
        } else {
            return Err(NOT_A_FIELD.into());
        };
        if named {
            if path.is_empty() {
                root = name.to_string();
                path = name.to_string();
            } else {
                path = format!("{path}.{name}");
            }
            *current = Some(s.properties.get(name).ok_or(NOT_A_FIELD)?);
        } else {
            path = format!("{path}[{name}]");
            if root.is_empty() {
                root = path.clone();
            }
            *current = s
                .additional_properties
                .as_ref()
                .and_then(|a| a.schema.as_deref());
        }
        Ok(())
    };
    let tokens = tokenize(json_path);
    let mut it = tokens.into_iter();
    while let Some(tok) = it.next() {
        match tok {
            "[" => {
                if !allow_array {
                    return Err("array notation is not allowed".into());
                }
                let tok = it.next().ok_or(UNEXPECTED_END)?;
                if tok.len() < 2 || !tok.starts_with('\'') || !tok.ends_with('\'') {
                    return Err(format!("expected single quoted string but got {tok}"));
                }
                let name = unescape(&tok[1..tok.len() - 1])
                    .map_err(|e| format!("invalid string literal: {e}"))?;
                step(&name, &mut current)?;
                let tok = it.next().ok_or(UNEXPECTED_END)?;
                if tok != "]" {
                    return Err(format!("expected ] but got {tok}"));
                }
            }
            "." => {
                let tok = it.next().ok_or(UNEXPECTED_END)?;
                step(tok, &mut current)?;
            }
            other => return Err(format!("expected [ or . but got: {other}")),
        }
    }
    Ok(Resolved {
        path,
        root,
        schema: current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_through_properties_and_maps() {
        let raw = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"x": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}});
        let s = Props::parse(&raw);
        let r = valid_field_path(".spec.x", &s, false).unwrap();
        assert_eq!((r.path.as_str(), r.root.as_str()), ("spec.x", "spec"));
        assert_eq!(r.schema.unwrap().type_, "string");
        let r = valid_field_path(".labels['a.b']", &s, true).unwrap();
        assert_eq!(r.path, "labels[a.b]");
        assert_eq!(
            valid_field_path(".labels['a']", &s, false).unwrap_err(),
            "array notation is not allowed"
        );
        assert_eq!(
            valid_field_path("spec", &s, false).unwrap_err(),
            "expected [ or . but got: spec"
        );
        assert_eq!(
            valid_field_path(".spec.", &s, false).unwrap_err(),
            "unexpected end of JSON path"
        );
        assert_eq!(
            valid_field_path(".spec.y", &s, false).unwrap_err(),
            "does not refer to a valid field"
        );
    }
}
