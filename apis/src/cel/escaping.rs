//! Property-name escaping, as `k8s.io/apiserver/pkg/cel/escaping.go` does it.
//!
//! Object properties are exposed to CEL as fields, and a field must be a CEL
//! identifier: `foo-bar` is reached as `self.foo__dash__bar`. The rules:
//! `__` → `__underscores__`, `.` → `__dot__`, `-` → `__dash__`,
//! `/` → `__slash__`, and a name that is exactly a CEL reserved word becomes
//! `__{word}__`. A name that starts with a digit, or has any character outside
//! `[a-zA-Z0-9_.\-/]`, cannot be escaped: such a property is invisible to
//! rules (it still takes part in equality of the enclosing object).
//!
//! Invariant: `unescape(escape(x)) == x` for every escapable `x`.

/// CEL's reserved words: none may be an identifier.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

fn is_reserved(s: &str) -> bool {
    RESERVED.contains(&s)
}

/// Whether `name` is a CEL identifier (`[_a-zA-Z][_a-zA-Z0-9]*`, not a
/// reserved word): what an admission policy's variable may be called.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !is_reserved(name)
}

/// The CEL field name for property `ident`, or `None` if it has none.
pub fn escape(ident: &str) -> Option<String> {
    let first = ident.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if is_reserved(ident) {
        return Some(format!("__{ident}__"));
    }
    let mut out = String::with_capacity(ident.len());
    let mut chars = ident.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// The property name a CEL field name stands for, or `None` if it holds an
/// escape sequence that `escape` never produces.
pub fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(start) = rest.find("__") {
        // An escape sequence is `__` + one or more non-underscores + `__`.
        let after = &rest[start + 2..];
        let inner_len = after.find('_').unwrap_or(after.len());
        if inner_len == 0 || !after[inner_len..].starts_with("__") {
            // Not a sequence: keep the first underscore and rescan.
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
            continue;
        }
        let inner = &after[..inner_len];
        out.push_str(&rest[..start]);
        match inner {
            "underscores" => out.push_str("__"),
            "dot" => out.push('.'),
            "dash" => out.push('-'),
            "slash" => out.push('/'),
            kw if is_reserved(kw) => {
                if escaped.len() != kw.len() + 4 {
                    return None;
                }
                out.push_str(kw);
            }
            _ => return None,
        }
        rest = &after[inner_len + 2..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_kubernetes() {
        for (raw, esc) in [
            ("foo", "foo"),
            ("foo-bar", "foo__dash__bar"),
            ("a.b/c", "a__dot__b__slash__c"),
            ("x__y", "x__underscores__y"),
            ("namespace", "__namespace__"),
            ("_x", "_x"),
        ] {
            assert_eq!(escape(raw).as_deref(), Some(esc), "{raw}");
            assert_eq!(unescape(esc).as_deref(), Some(raw), "{esc}");
        }
        assert_eq!(escape("1abc"), None);
        assert_eq!(escape("a b"), None);
        assert_eq!(escape(""), None);
        assert_eq!(unescape("__bogus__"), None);
        assert_eq!(unescape("a__in__b"), None);
    }
}
