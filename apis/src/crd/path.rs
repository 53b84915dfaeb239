//! Field paths rendered the way `k8s.io/apimachinery/pkg/util/validation/field.Path`
//! renders them: children joined with `.`, indices and map keys in brackets
//! (`properties[spec]`, keys unquoted).
//!
//! Paths are plain `String`s because `FieldError::field` is one; these helpers
//! only keep the joining rules in one place.

/// `path.Child(name)`; an empty path means the root (no leading dot).
pub fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// `path.Index(i)`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// `path.Key(k)`.
pub fn key(path: &str, k: &str) -> String {
    format!("{path}[{k}]")
}
