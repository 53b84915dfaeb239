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
    fn rejects_malformed_paths() {
        for bad in ["", "{}", ".spec[0", ".spec.", "..", ".spec]"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
