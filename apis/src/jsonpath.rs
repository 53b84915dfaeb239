//! Kubernetes JSONPath expressions (printer columns, selectable fields,
//! scale paths), evaluated with `serde_json_path`.
//!
//! Kubernetes' dialect (`k8s.io/client-go/util/jsonpath`) predates RFC 9535:
//! fields are written `.spec.replicas`, dots inside a key are escaped
//! (`.metadata.labels.app\.kubernetes\.io/name`), and a template may be
//! wrapped in `{…}`. Everything inside brackets — indices, slices, unions,
//! quoted names and `?(…)` filters — is already RFC 9535 syntax. So an
//! expression is translated once into RFC form (every field becomes a
//! bracketed, quoted name, which admits any key) and handed to the
//! maintained RFC implementation, instead of a second hand-written
//! evaluator.
//!
//! Bounds: expressions are written by tenants (printer columns, scale and
//! selectable-field paths) and parsed at admission, at start-up and on
//! requests. `serde_json_path`'s parser recurses per nesting level and
//! backtracks on nested filters (20 nested `[?…]` take seconds, a few
//! hundred levels overflow a thread's stack), so [`check_bounds`] refuses
//! long or deeply nested expressions before anything parses them.

use serde_json::Value;

/// A parsed Kubernetes JSONPath expression.
#[derive(Clone, Debug)]
pub struct JsonPath {
    source: String,
    compiled: serde_json_path::JsonPath,
}

impl JsonPath {
    /// Parses `.a.b[0]`, `{.a.b}` or `$.a.b`; the error says why it is not
    /// a path.
    pub fn parse(expr: &str) -> Result<JsonPath, String> {
        check_bounds(expr)?;
        let rfc = translate(expr)?;
        let compiled = serde_json_path::JsonPath::parse(&rfc).map_err(|e| e.to_string())?;
        Ok(JsonPath {
            source: expr.to_string(),
            compiled,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every value the path selects, in document order.
    pub fn all<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        self.compiled.query(value).all()
    }

    /// The first value the path selects (what printer columns show).
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.compiled.query(value).first()
    }
}

/// The longest expression accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// The deepest nesting of brackets and parentheses accepted.
pub const MAX_NESTING: usize = 32;
/// The deepest nesting of filters (`[?…]` inside `[?…]`) accepted; parse
/// time grows exponentially with it.
pub const MAX_FILTER_NESTING: usize = 4;

/// Refuses expressions too long or too deeply nested to parse safely (see
/// the module comment); the error says which bound was exceeded.
pub fn check_bounds(expr: &str) -> Result<(), String> {
    if expr.len() > MAX_LEN {
        return Err(format!("may not be more than {MAX_LEN} bytes"));
    }
    // Open brackets/parentheses outside quotes; `true` marks a filter.
    let mut open: Vec<bool> = Vec::new();
    let mut quote: Option<char> = None;
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => {
                let filter = c == '[' && {
                    while chars.next_if(|c| c.is_whitespace()).is_some() {}
                    chars.peek() == Some(&'?')
                };
                open.push(filter);
                if open.len() > MAX_NESTING {
                    return Err(format!(
                        "may not nest brackets and parentheses more than {MAX_NESTING} deep"
                    ));
                }
                if open.iter().filter(|f| **f).count() > MAX_FILTER_NESTING {
                    return Err(format!(
                        "may not nest filters more than {MAX_FILTER_NESTING} deep"
                    ));
                }
            }
            (None, ']' | ')') => {
                open.pop();
            }
            _ => {}
        }
    }
    Ok(())
}

/// Rewrites a Kubernetes JSONPath into RFC 9535 syntax.
fn translate(expr: &str) -> Result<String, String> {
    let mut s = expr.trim();
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        s = inner.trim();
    }
    if let Some(rest) = s.strip_prefix('$') {
        s = rest;
    }
    if s.is_empty() {
        return Err("empty JSONPath".into());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::from("$");
    let mut i = 0;
    // A bare leading name (`spec.x`) reads as `.spec.x`.
    if chars[0] != '.' && chars[0] != '[' {
        i = push_name(&chars, 0, &mut out)?;
    }
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if chars.get(i + 1) == Some(&'.') {
                    out.push_str("..");
                    i += 2;
                    match chars.get(i) {
                        Some('[') => {}
                        Some('*') => {
                            out.push_str("[*]");
                            i += 1;
                        }
                        Some(_) => i = push_name(&chars, i, &mut out)?,
                        None => return Err("recursive descent needs a name".into()),
                    }
                } else if chars.get(i + 1) == Some(&'*') {
                    out.push_str("[*]");
                    i += 2;
                } else {
                    i = push_name(&chars, i + 1, &mut out)?;
                }
            }
            '[' => i = push_bracket(&chars, i, &mut out)?,
            c => return Err(format!("unexpected {c:?} at position {i}")),
        }
    }
    Ok(out)
}

/// Reads a field name starting at `start` (up to an unescaped `.` or `[`)
/// and appends it as `['name']`.
fn push_name(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut name = String::new();
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                name.push(chars[i + 1]);
                i += 2;
            }
            '.' | '[' => break,
            ']' => return Err(format!("unexpected ']' at position {i}")),
            c => {
                name.push(c);
                i += 1;
            }
        }
    }
    if name.is_empty() {
        return Err(format!("missing field name at position {start}"));
    }
    out.push_str("['");
    for c in name.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("']");
    Ok(i)
}

/// Copies a bracketed segment verbatim (it is RFC syntax already), finding
/// its end past quotes and nested brackets.
fn push_bracket(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        match (quote, c) {
            (Some(_), '\\') if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 1;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("unterminated [".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, v: &Value) -> Option<Value> {
        JsonPath::parse(path).unwrap().first(v).cloned()
    }

    #[test]
    fn kubernetes_forms() {
        let v = json!({
            "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}
        });
        assert_eq!(first(".spec.replicas", &v), Some(json!(3)));
        assert_eq!(first("{.spec.replicas}", &v), Some(json!(3)));
        assert_eq!(first("$.spec.replicas", &v), Some(json!(3)));
        assert_eq!(first("spec.replicas", &v), Some(json!(3)));
        assert_eq!(first(".spec.ports[1].port", &v), Some(json!(81)));
        assert_eq!(first(".spec.ports[-1].name", &v), Some(json!("b")));
        assert_eq!(
            first(".metadata.labels.app\\.kubernetes\\.io/name", &v),
            Some(json!("web"))
        );
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']", &v),
            Some(json!("web"))
        );
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Ready")].status"#, &v),
            Some(json!("True"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type=='Synced')].status", &v),
            Some(json!("False"))
        );
        let p = JsonPath::parse(".spec.ports[*].name").unwrap();
        assert_eq!(p.all(&v), vec![&json!("a"), &json!("b")]);
        let p = JsonPath::parse("..port").unwrap();
        assert_eq!(p.all(&v), vec![&json!(80), &json!(81)]);
        assert_eq!(first(".spec.missing", &v), None);
    }

    #[test]
    fn bounds_hostile_paths_before_parsing() {
        // Each of these overflowed the stack or ran for seconds unbounded.
        let deep_filters = format!(".a{}{}", "[?(@.b".repeat(500), ")]".repeat(500));
        let deep_parens = format!(".a[?{}@.b{}]", "(".repeat(2000), ")".repeat(2000));
        let slow_filters = format!(".a{}{}", "[?(@.b".repeat(20), ")]".repeat(20));
        let long = format!(".{}", "a".repeat(MAX_LEN));
        for (bad, want) in [
            (&deep_filters, "may not nest filters more than 4 deep"),
            (
                &deep_parens,
                "may not nest brackets and parentheses more than 32 deep",
            ),
            (&slow_filters, "may not nest filters more than 4 deep"),
            (&long, "may not be more than 4096 bytes"),
        ] {
            assert_eq!(JsonPath::parse(bad).unwrap_err(), want);
        }
        // Brackets inside quotes do not count; the deepest accepted forms parse.
        let quoted = format!(".metadata.labels['{}']", "[(".repeat(100));
        assert!(JsonPath::parse(&quoted).is_ok());
        let nested = format!(".a{}.b{}", "[?(@.b".repeat(4), ")]".repeat(4));
        assert!(JsonPath::parse(&nested).is_ok(), "{nested}");
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", "{}", ".spec[0", ".spec.", "..", ".spec]"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
