//! Field selectors, as `k8s.io/apimachinery/pkg/fields` (Kubernetes v1.33).
//!
//! Syntax: comma-separated terms `field=value`, `field==value` (the same as
//! `=`) or `field!=value`. In values, `\,`, `\=` and `\\` stand for `,`, `=`
//! and `\`; any other escape is an error, as is an unescaped `=` in a value.
//! Field names are taken literally (no escapes) up to the first operator.
//! There is no whitespace trimming: `a = b` compares field `a ` with value
//! ` b`. An empty string selects everything.
//!
//! Matching: a field the object does not have compares as the empty string,
//! as upstream's `fields.Set.Get` does for the set of fields a resource
//! exposes. (Upstream rejects field names a resource does not support before
//! matching, with `field label not supported: <name>`; that per-resource
//! check is the caller's job.)

use std::fmt;

/// The operator of one term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOp {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One term: `field=value` or `field!=value` (value unescaped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

impl FieldRequirement {
    fn matches(&self, actual: &str) -> bool {
        match self.op {
            FieldOp::Equals => actual == self.value,
            FieldOp::NotEquals => actual != self.value,
        }
    }
}

/// Upstream `hasTerm.String()` / `notHasTerm.String()`: the value is
/// re-escaped.
impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOp::Equals => "=",
            FieldOp::NotEquals => "!=",
        };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// A field selector error; `Display` is the exact upstream message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldSelectorError {
    /// A term without an operator:
    /// `invalid selector: '<selector>'; can't understand '<term>'`.
    InvalidSelector { selector: String, term: String },
    /// `invalid field selector: invalid escape sequence: <sequence>`
    /// (`\x` for an unknown escape, `\` for a trailing backslash).
    InvalidEscapeSequence(String),
    /// An unescaped `=` (or `,`) in a value:
    /// `invalid field selector: unescaped character in value: <code point>`
    /// (Go prints the rune as a number, e.g. `61` for `=`).
    UnescapedRune(char),
}

impl fmt::Display for FieldSelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldSelectorError::InvalidSelector { selector, term } => {
                write!(
                    f,
                    "invalid selector: '{selector}'; can't understand '{term}'"
                )
            }
            FieldSelectorError::InvalidEscapeSequence(seq) => {
                write!(f, "invalid field selector: invalid escape sequence: {seq}")
            }
            FieldSelectorError::UnescapedRune(c) => {
                write!(
                    f,
                    "invalid field selector: unescaped character in value: {}",
                    *c as u32
                )
            }
        }
    }
}

impl std::error::Error for FieldSelectorError {}

/// A parsed field selector: the conjunction of its terms.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Matches everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Upstream `OneTermEqualSelector`.
    pub fn one_term_equal(field: impl Into<String>, value: impl Into<String>) -> FieldSelector {
        FieldSelector {
            requirements: vec![FieldRequirement {
                field: field.into(),
                op: FieldOp::Equals,
                value: value.into(),
            }],
        }
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms, in upstream's order (sorted by their raw text).
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether an object matches; `get(field)` returns the object's value for
    /// a field, `None` when it has none, which compares as `""`.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(get(&r.field).as_deref().unwrap_or("")))
    }

    /// Upstream `RequiresExactMatch`: the value of the first `field=value`
    /// (or `==`) term on `field`, e.g. to narrow a list with
    /// `metadata.name=x` to a single key. `!=` terms never count.
    pub fn single_equality(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.op == FieldOp::Equals && r.field == field)
            .map(|r| r.value.as_str())
    }
}

/// Upstream `String()`: terms joined by `,`, values escaped.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Upstream `EscapeValue`: `\` → `\\`, `,` → `\,`, `=` → `\=`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Upstream `UnescapeValue`.
pub fn unescape_value(s: &str) -> Result<String, FieldSelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(FieldSelectorError::InvalidEscapeSequence(format!("\\{c}"))),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedRune(c)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError::InvalidEscapeSequence("\\".to_string()));
    }
    Ok(out)
}

/// Upstream `splitTerms`: split on commas not escaped by a backslash (the
/// backslashes are kept).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Upstream `splitTerm`: the first position where `!=`, `==` or `=` starts
/// (tried in that order at each position) splits the term.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ] {
            if rest.starts_with(op) {
                return Some((&term[..i], kind, &term[i + op.len()..]));
            }
        }
    }
    None
}

/// Upstream `fields.ParseSelector`. Terms are sorted by their raw text and
/// empty terms skipped (so `a=b,,c=d` and a trailing comma are fine); a term
/// whose field and value are both empty (`=`) is dropped, as upstream's
/// identity transform does.
pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
    let mut parts = split_terms(selector);
    parts.sort_unstable();
    let mut requirements = Vec::with_capacity(parts.len());
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some((field, op, raw_value)) = split_term(part) else {
            return Err(FieldSelectorError::InvalidSelector {
                selector: selector.to_string(),
                term: part.to_string(),
            });
        };
        let value = unescape_value(raw_value)?;
        if field.is_empty() && value.is_empty() {
            continue;
        }
        requirements.push(FieldRequirement {
            field: field.to_string(),
            op,
            value,
        });
    }
    Ok(FieldSelector { requirements })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn obj(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn matches(sel: &str, o: &HashMap<String, String>) -> bool {
        parse(sel).unwrap().matches(|f| o.get(f).cloned())
    }

    fn req(field: &str, op: FieldOp, value: &str) -> FieldRequirement {
        FieldRequirement {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn empty_selects_everything() {
        for s in ["", ",", ",,"] {
            let sel = parse(s).unwrap();
            assert!(sel.is_empty(), "{s:?}");
            assert!(sel.matches(|_| None));
            assert_eq!(sel.to_string(), "");
        }
        assert!(FieldSelector::everything().is_empty());
    }

    #[test]
    fn operators() {
        assert_eq!(
            parse("a=b").unwrap().requirements(),
            &[req("a", FieldOp::Equals, "b")]
        );
        assert_eq!(
            parse("a==b").unwrap().requirements(),
            &[req("a", FieldOp::Equals, "b")]
        );
        assert_eq!(
            parse("a!=b").unwrap().requirements(),
            &[req("a", FieldOp::NotEquals, "b")]
        );
        assert_eq!(
            parse("a=").unwrap().requirements(),
            &[req("a", FieldOp::Equals, "")]
        );
        assert_eq!(
            parse("=b").unwrap().requirements(),
            &[req("", FieldOp::Equals, "b")]
        );
        // "==" normalises to "=" when rendered.
        assert_eq!(parse("a==b").unwrap().to_string(), "a=b");
        // The first operator position wins; at one position "!=" beats "==" beats "=".
        assert_eq!(
            parse("a!b=c").unwrap().requirements(),
            &[req("a!b", FieldOp::Equals, "c")]
        );
        assert_eq!(
            parse("a!==b").unwrap_err(),
            FieldSelectorError::UnescapedRune('=')
        );
        assert_eq!(
            parse("a===b").unwrap_err(),
            FieldSelectorError::UnescapedRune('=')
        );
        // No trimming.
        assert_eq!(
            parse("a = b").unwrap().requirements(),
            &[req("a ", FieldOp::Equals, " b")]
        );
        // "=" alone is dropped.
        assert!(parse("=").unwrap().is_empty());
        assert_eq!(
            parse("=,a=b").unwrap().requirements(),
            &[req("a", FieldOp::Equals, "b")]
        );
    }

    #[test]
    fn terms_sorted_by_raw_text() {
        let sel =
            parse("status.phase!=Failed,metadata.name=x,metadata.namespace==default").unwrap();
        assert_eq!(
            sel.to_string(),
            "metadata.name=x,metadata.namespace=default,status.phase!=Failed"
        );
    }

    #[test]
    fn escaping() {
        let sel = parse(r"a=x\,y\=z\\w,b!=\,").unwrap();
        assert_eq!(
            sel.requirements(),
            &[
                req("a", FieldOp::Equals, r"x,y=z\w"),
                req("b", FieldOp::NotEquals, ",")
            ]
        );
        assert_eq!(sel.to_string(), r"a=x\,y\=z\\w,b!=\,");
        assert_eq!(escape_value(r"a,b=c\d"), r"a\,b\=c\\d");
        assert_eq!(unescape_value(r"a\,b\=c\\d").unwrap(), r"a,b=c\d");
        assert_eq!(unescape_value("plain").unwrap(), "plain");
        // The field name is not unescaped.
        assert_eq!(
            parse(r"a\b=c").unwrap().requirements(),
            &[req(r"a\b", FieldOp::Equals, "c")]
        );
        // An escaped comma does not split terms.
        assert_eq!(parse(r"a=b\,c").unwrap().requirements().len(), 1);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            parse("a").unwrap_err().to_string(),
            "invalid selector: 'a'; can't understand 'a'"
        );
        assert_eq!(
            parse("x=1,foo").unwrap_err().to_string(),
            "invalid selector: 'x=1,foo'; can't understand 'foo'"
        );
        // Terms are sorted first, so the first bad term in sorted order is reported.
        assert_eq!(
            parse("zz,aa").unwrap_err().to_string(),
            "invalid selector: 'zz,aa'; can't understand 'aa'"
        );
        assert_eq!(
            parse(r"a=b\!").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \!"
        );
        assert_eq!(
            parse(r"a=b\n").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \n"
        );
        assert_eq!(
            parse(r"a=b\").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            unescape_value("a,b").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 44"
        );
    }

    #[test]
    fn matching() {
        let pod = obj(&[
            ("metadata.name", "web-1"),
            ("status.phase", "Running"),
            ("spec.nodeName", ""),
        ]);
        assert!(matches("metadata.name=web-1", &pod));
        assert!(matches("metadata.name==web-1", &pod));
        assert!(!matches("metadata.name=web-2", &pod));
        assert!(matches("status.phase!=Failed", &pod));
        assert!(!matches("status.phase!=Running", &pod));
        assert!(matches("metadata.name=web-1,status.phase=Running", &pod));
        assert!(!matches("metadata.name=web-1,status.phase=Pending", &pod));
        // Empty and absent values compare as "".
        assert!(matches("spec.nodeName=", &pod));
        assert!(matches("spec.schedulerName=", &pod));
        assert!(!matches("spec.schedulerName!=", &pod));
        assert!(matches("spec.schedulerName!=x", &pod));
        // Escaped values match their literal form.
        let cm = obj(&[("metadata.name", "a,b=c")]);
        assert!(matches(r"metadata.name=a\,b\=c", &cm));
    }

    #[test]
    fn single_equality() {
        let sel = parse("metadata.namespace=ns,metadata.name=x").unwrap();
        assert_eq!(sel.single_equality("metadata.name"), Some("x"));
        assert_eq!(sel.single_equality("metadata.namespace"), Some("ns"));
        assert_eq!(sel.single_equality("status.phase"), None);
        let sel = parse("metadata.name!=x").unwrap();
        assert_eq!(sel.single_equality("metadata.name"), None);
        let sel = parse("metadata.name==y").unwrap();
        assert_eq!(sel.single_equality("metadata.name"), Some("y"));
        let sel = parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(sel.single_equality("metadata.name"), Some("a,b"));
        let sel = FieldSelector::one_term_equal("metadata.name", "z");
        assert_eq!(sel.single_equality("metadata.name"), Some("z"));
        assert_eq!(sel.to_string(), "metadata.name=z");
    }

    #[test]
    fn non_ascii() {
        let sel = parse("a=é,ü!=x").unwrap();
        assert_eq!(
            sel.requirements(),
            &[
                req("a", FieldOp::Equals, "é"),
                req("ü", FieldOp::NotEquals, "x")
            ]
        );
    }
}
