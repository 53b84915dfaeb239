//! Name, label and annotation validation with Kubernetes' exact messages.
//!
//! Mirrors, as of Kubernetes v1.33:
//! - `k8s.io/apimachinery/pkg/util/validation` (`IsDNS1123Subdomain`,
//!   `IsDNS1123Label`, `IsDNS1035Label`, `IsQualifiedName`,
//!   `IsValidLabelValue`, `MaxLenError`, `RegexError`, `EmptyError`);
//! - `k8s.io/apimachinery/pkg/api/validation` (`NameIsDNSSubdomain`,
//!   `NameIsDNSLabel`, `NameIsDNS1035Label`, `maskTrailingDash`, the name and
//!   generateName part of `ValidateObjectMetaAccessor`, `ValidateAnnotations`);
//! - `k8s.io/apimachinery/pkg/apis/meta/v1/validation` (`ValidateLabels`,
//!   `ValidateLabelName`).
//!
//! The `is_*` functions return the list of problems (empty when valid), like
//! their Go counterparts return `[]string`. Lengths are byte lengths, as in Go.
//! The regular expressions upstream uses are implemented by hand (they are
//! simple character-class patterns); the regex text still appears verbatim in
//! the messages.

use crate::field_error::{ErrorType, FieldError};
use serde_json::{Map, Value};

/// `DNS1123LabelMaxLength`.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// `DNS1123SubdomainMaxLength`.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// `DNS1035LabelMaxLength`.
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// `qualifiedNameMaxLength` (the name part of a label/annotation key).
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// `LabelValueMaxLength`.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// `TotalAnnotationSizeLimitB`: 256 KiB over all keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_B: usize = 256 * (1 << 10);

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// Upstream `MaxLenError`: `must be no more than N characters`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// Upstream `EmptyError`.
pub fn empty_error() -> &'static str {
    "must be non-empty"
}

/// Upstream `RegexError`. Note the double space Go produces between examples
/// (`'a',  or 'b'`): each example is followed by `", "` and each further one
/// is preceded by `" or "`.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut s = String::with_capacity(msg.len() + fmt.len() + 64);
    s.push_str(msg);
    s.push_str(" (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push('\'');
        s.push_str(example);
        s.push_str("', ");
    }
    s.push_str("regex used for validation is '");
    s.push_str(fmt);
    s.push_str("')");
    s
}

// ---------------------------------------------------------------------------
// Hand-written equivalents of the upstream regular expressions (anchored).

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
fn match_dns1123_label(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            is_lower_alnum(f)
                && is_lower_alnum(l)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
fn match_dns1123_subdomain(b: &[u8]) -> bool {
    b.split(|&c| c == b'.').all(match_dns1123_label)
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$`
fn match_dns1035_label(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_lowercase()
                && is_lower_alnum(l)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
fn match_qualified_name(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
fn match_label_value(b: &[u8]) -> bool {
    b.is_empty() || match_qualified_name(b)
}

// ---------------------------------------------------------------------------
// IsXxx functions.

fn dns1123_label_errors(value: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !match_dns1123_label(value) {
        if match_dns1123_subdomain(value) {
            // A valid subdomain but not a valid label: it must be the dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

fn dns1123_subdomain_errors(value: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !match_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

fn dns1035_label_errors(value: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    if !match_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Upstream `IsDNS1123Label` (max 63; a dotted but otherwise valid value
/// gets `must not contain dots`).
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    dns1123_label_errors(value.as_bytes())
}

/// Upstream `IsDNS1123Subdomain` (max 253).
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    dns1123_subdomain_errors(value.as_bytes())
}

/// Upstream `IsDNS1035Label` (max 63; must start with a letter). Used for
/// Service names.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    dns1035_label_errors(value.as_bytes())
}

/// Upstream `IsQualifiedName`: the format of label and annotation keys, an
/// optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    // Upstream checks the pattern independently of the two checks above, so
    // an empty name gets both "must be non-empty" and the pattern message.
    if !match_qualified_name(name.as_bytes()) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Upstream `IsValidLabelValue`: empty, or at most 63 characters of
/// `[-A-Za-z0-9_.]` starting and ending with an alphanumeric.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !match_label_value(value.as_bytes()) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

// ---------------------------------------------------------------------------
// Name validation functions (`ValidateNameFunc`) and generateName handling.

/// Upstream `maskTrailingDash`, on bytes: when the value ends in `-`, the
/// last *two* bytes are replaced by `a` (that is what upstream does, despite
/// its comment saying "the final character"). Upstream panics on the
/// one-byte value `-`; here it becomes `a`.
fn mask_trailing_dash_bytes(name: &[u8]) -> Vec<u8> {
    if name.last() == Some(&b'-') {
        let mut out = name[..name.len().saturating_sub(2)].to_vec();
        out.push(b'a');
        out
    } else {
        name.to_vec()
    }
}

/// Upstream `maskTrailingDash` (see [`NameRule::check`]): `"abc-"` becomes
/// `"aba"`. Returned lossily as UTF-8 when the cut splits a multi-byte
/// character; validation itself works on the exact bytes.
pub fn mask_trailing_dash(name: &str) -> String {
    String::from_utf8_lossy(&mask_trailing_dash_bytes(name.as_bytes())).into_owned()
}

/// Which format an object's `metadata.name` must have (upstream's
/// `ValidateNameFunc` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameRule {
    /// `NameIsDNSSubdomain`: most resources (ConfigMap, Pod, Deployment, ...).
    Dns1123Subdomain,
    /// `NameIsDNSLabel`: e.g. Namespace (`ValidateNamespaceName`).
    Dns1123Label,
    /// `NameIsDNS1035Label`: e.g. Service.
    Dns1035Label,
    /// `path.ValidatePathSegmentName`: RBAC objects (`ValidateRBACName`),
    /// whose names such as `system:discovery` only have to be usable as one
    /// URL path segment.
    PathSegment,
}

impl NameRule {
    /// The upstream name function: `prefix` is true when `name` is a
    /// `generateName` prefix, in which case a trailing dash is masked first
    /// (random characters will follow it).
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let bytes = if prefix {
            mask_trailing_dash_bytes(name.as_bytes())
        } else {
            name.as_bytes().to_vec()
        };
        match self {
            NameRule::Dns1123Subdomain => dns1123_subdomain_errors(&bytes),
            NameRule::Dns1123Label => dns1123_label_errors(&bytes),
            NameRule::Dns1035Label => dns1035_label_errors(&bytes),
            NameRule::PathSegment => path_segment_errors(name, prefix),
        }
    }
}

/// Upstream `IsValidPathSegmentName` (or `IsValidPathSegmentPrefix` for a
/// `generateName` prefix, which may still be completed to a valid name).
fn path_segment_errors(name: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        for bad in [".", ".."] {
            if name == bad {
                return vec![format!("may not be '{bad}'")];
            }
        }
    }
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Upstream `NameIsDNSSubdomain(name, prefix)`.
pub fn name_is_dns_subdomain(name: &str, prefix: bool) -> Vec<String> {
    NameRule::Dns1123Subdomain.check(name, prefix)
}

/// Upstream `NameIsDNSLabel(name, prefix)` (also `ValidateNamespaceName`).
pub fn name_is_dns_label(name: &str, prefix: bool) -> Vec<String> {
    NameRule::Dns1123Label.check(name, prefix)
}

/// Upstream `NameIsDNS1035Label(name, prefix)`.
pub fn name_is_dns1035_label(name: &str, prefix: bool) -> Vec<String> {
    NameRule::Dns1035Label.check(name, prefix)
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// What `ValidateObjectMetaAccessor` reports for the (already generated)
/// name at `field_path` (e.g. `metadata.name`): `Required value: name or
/// generateName is required` when empty, otherwise one `Invalid value` per
/// problem.
pub fn validate_name(name: &str, rule: NameRule, field_path: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(
            field_path,
            "name or generateName is required",
        )];
    }
    rule.check(name, false)
        .into_iter()
        .map(|msg| FieldError::invalid(field_path, name, msg))
        .collect()
}

/// [`validate_name`] with [`NameRule::Dns1123Subdomain`].
pub fn validate_name_subdomain(name: &str, field_path: &str) -> Vec<FieldError> {
    validate_name(name, NameRule::Dns1123Subdomain, field_path)
}

/// [`validate_name`] with [`NameRule::Dns1123Label`].
pub fn validate_name_label(name: &str, field_path: &str) -> Vec<FieldError> {
    validate_name(name, NameRule::Dns1123Label, field_path)
}

/// What `ValidateObjectMetaAccessor` reports for `generateName` at
/// `field_path` (e.g. `metadata.generateName`): nothing when empty,
/// otherwise the rule applied with `prefix = true` (trailing dash masked),
/// reported against the original prefix.
pub fn validate_generate_name_prefix(
    generate_name: &str,
    rule: NameRule,
    field_path: &str,
) -> Vec<FieldError> {
    if generate_name.is_empty() {
        return Vec::new();
    }
    rule.check(generate_name, true)
        .into_iter()
        .map(|msg| FieldError::invalid(field_path, generate_name, msg))
        .collect()
}

/// The name part of upstream `ValidateObjectMetaAccessor`, in its order:
/// `<meta_path>.generateName` errors first, then `<meta_path>.name`.
///
/// Upstream generates the name (`rest.BeforeCreate`) *before* validating, so
/// callers should pass the generated name; a `generateName` with an empty
/// `name` yields `Required value: name or generateName is required`, exactly
/// like upstream would.
pub fn validate_object_meta_name(
    name: &str,
    generate_name: &str,
    rule: NameRule,
    meta_path: &str,
) -> Vec<FieldError> {
    let mut errs =
        validate_generate_name_prefix(generate_name, rule, &child(meta_path, "generateName"));
    errs.extend(validate_name(name, rule, &child(meta_path, "name")));
    errs
}

// ---------------------------------------------------------------------------
// Labels and annotations.

/// Upstream `ValidateLabelName`: one `Invalid value` per problem with the
/// key, reported at `field_path` (the map's path, no subscript).
pub fn validate_label_name(key: &str, field_path: &str) -> Vec<FieldError> {
    is_qualified_name(key)
        .into_iter()
        .map(|msg| FieldError::invalid(field_path, key, msg))
        .collect()
}

fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Trellis-specific: labels and annotations are `map[string]string`
/// upstream, so a non-string value never reaches validation there (decoding
/// fails first). We report it as a type error at `<path>[<key>]`.
fn non_string_error(field_path: &str, key: &str, value: &Value) -> FieldError {
    FieldError::new(
        ErrorType::TypeInvalid,
        format!("{field_path}[{key}]"),
        Some(value.clone()),
        "must be a string",
    )
}

/// Upstream `ValidateLabels`: keys must be qualified names and values valid
/// label values; every error is reported at `field_path` (e.g.
/// `metadata.labels`) with the offending key or value. Go iterates the map
/// in random order; we go through keys in sorted order.
pub fn validate_labels(labels: &Map<String, Value>, field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in sorted_entries(labels) {
        errs.extend(validate_label_name(key, field_path));
        match value.as_str() {
            Some(v) => errs.extend(
                is_valid_label_value(v)
                    .into_iter()
                    .map(|msg| FieldError::invalid(field_path, v, msg)),
            ),
            None => errs.push(non_string_error(field_path, key, value)),
        }
    }
    errs
}

/// Upstream `ValidateAnnotations`: keys must be qualified names once
/// lower-cased (reported with the original key at `field_path`), and the
/// total size of keys and values may not exceed 256 KiB
/// (`Too long: may not be more than 262144 bytes`, via
/// [`FieldError::too_long`]). Non-string values are reported as type errors
/// and counted with their JSON text length.
pub fn validate_annotations(annotations: &Map<String, Value>, field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total: usize = 0;
    for (key, value) in sorted_entries(annotations) {
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(field_path, key.as_str(), msg));
        }
        total += key.len();
        match value.as_str() {
            Some(v) => total += v.len(),
            None => {
                total += value.to_string().len();
                errs.push(non_string_error(field_path, key, value));
            }
        }
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
        errs.push(FieldError::too_long(
            field_path,
            TOTAL_ANNOTATION_SIZE_LIMIT_B,
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    const QNAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn path_segment_names() {
        assert!(
            NameRule::PathSegment
                .check("system:discovery", false)
                .is_empty()
        );
        assert!(NameRule::PathSegment.check("Mixed:Case", false).is_empty());
        assert_eq!(
            NameRule::PathSegment.check("..", false),
            ["may not be '..'"]
        );
        assert_eq!(
            NameRule::PathSegment.check("a/b%c", false),
            ["may not contain '/'", "may not contain '%'"]
        );
        assert!(NameRule::PathSegment.check(".", true).is_empty());
    }

    #[test]
    fn regex_error_formats() {
        assert_eq!(
            regex_error("m", "f", &[]),
            "m (regex used for validation is 'f')"
        );
        assert_eq!(
            regex_error("m", "f", &["a"]),
            "m (e.g. 'a', regex used for validation is 'f')"
        );
        assert_eq!(
            regex_error("m", "f", &["a", "b"]),
            "m (e.g. 'a',  or 'b', regex used for validation is 'f')"
        );
    }

    #[test]
    fn dns1123_subdomain() {
        for ok in [
            "a",
            "ab",
            "a-b",
            "0",
            "a.b",
            "a.b.c",
            "1.2.3.4",
            "a--b",
            "example.com",
        ] {
            assert!(is_dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in [
            "", "A", "-a", "a-", ".a", "a.", "a..b", "a_b", "a b", "é", "a.-b", "Foo",
        ] {
            assert_eq!(
                is_dns1123_subdomain(bad),
                vec![SUBDOMAIN_MSG.to_string()],
                "{bad}"
            );
        }
        let max = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(max.len(), 253);
        assert!(is_dns1123_subdomain(&max).is_empty());
        let too_long = format!("{max}e");
        assert_eq!(
            is_dns1123_subdomain(&too_long),
            vec!["must be no more than 253 characters".to_string()]
        );
        assert_eq!(
            is_dns1123_subdomain(&"A".repeat(254)),
            vec![
                "must be no more than 253 characters".to_string(),
                SUBDOMAIN_MSG.to_string()
            ]
        );
    }

    #[test]
    fn dns1123_label() {
        for ok in ["a", "a-b", "0-0", "abc123"] {
            assert!(is_dns1123_label(ok).is_empty(), "{ok}");
        }
        assert!(is_dns1123_label(&"a".repeat(63)).is_empty());
        assert_eq!(
            is_dns1123_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
        assert_eq!(
            is_dns1123_label("a.b"),
            vec!["must not contain dots".to_string()]
        );
        for bad in ["", "-a", "a-", "A", "a_b", "a..b", ".a"] {
            assert_eq!(is_dns1123_label(bad), vec![LABEL_MSG.to_string()], "{bad}");
        }
    }

    #[test]
    fn dns1035_label() {
        assert!(is_dns1035_label("my-svc").is_empty());
        assert_eq!(is_dns1035_label("1abc"), vec![DNS1035_MSG.to_string()]);
        assert_eq!(is_dns1035_label("a.b"), vec![DNS1035_MSG.to_string()]);
        assert_eq!(
            is_dns1035_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn qualified_name() {
        for ok in [
            "a",
            "A",
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "example.com/Upper_Case.dots-dashes",
            "k8s.io/app",
            "a_b",
            "a.B",
        ] {
            assert!(is_qualified_name(ok).is_empty(), "{ok}");
        }
        assert!(is_qualified_name(&"a".repeat(63)).is_empty());
        assert_eq!(
            is_qualified_name(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters".to_string()]
        );
        assert_eq!(is_qualified_name("a$b"), vec![QNAME_MSG.to_string()]);
        assert_eq!(is_qualified_name("_a"), vec![QNAME_MSG.to_string()]);
        assert_eq!(
            is_qualified_name(""),
            vec![
                "name part must be non-empty".to_string(),
                QNAME_MSG.to_string()
            ]
        );
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty".to_string()]
        );
        assert_eq!(
            is_qualified_name("a/"),
            vec![
                "name part must be non-empty".to_string(),
                QNAME_MSG.to_string()
            ]
        );
        assert_eq!(
            is_qualified_name("Example.com/a"),
            vec![format!("prefix part {SUBDOMAIN_MSG}")]
        );
        let long_prefix = format!("{}/a", "a".repeat(254));
        assert_eq!(
            is_qualified_name(&long_prefix),
            vec!["prefix part must be no more than 253 characters".to_string()]
        );
        assert_eq!(
            is_qualified_name("a/b/c"),
            vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
        );
    }

    #[test]
    fn label_value() {
        for ok in ["", "a", "A", "a-b_c.d", "1", "my_value", "12345"] {
            assert!(is_valid_label_value(ok).is_empty(), "{ok}");
        }
        assert!(is_valid_label_value(&"v".repeat(63)).is_empty());
        assert_eq!(
            is_valid_label_value(&"v".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
        for bad in ["-a", "a-", "a b", "a/b", "_", "é"] {
            assert_eq!(
                is_valid_label_value(bad),
                vec![LABEL_VALUE_MSG.to_string()],
                "{bad}"
            );
        }
        assert_eq!(
            is_valid_label_value(&format!("-{}", "v".repeat(63))),
            vec![
                "must be no more than 63 characters".to_string(),
                LABEL_VALUE_MSG.to_string()
            ]
        );
    }

    #[test]
    fn mask_trailing_dash_matches_upstream() {
        assert_eq!(mask_trailing_dash("abc-"), "aba");
        assert_eq!(mask_trailing_dash("ab-"), "aa");
        assert_eq!(mask_trailing_dash("abc"), "abc");
        assert_eq!(mask_trailing_dash("-"), "a");
        assert_eq!(mask_trailing_dash(""), "");
    }

    #[test]
    fn name_functions() {
        assert!(name_is_dns_subdomain("foo-", true).is_empty());
        assert_eq!(
            name_is_dns_subdomain("foo-", false),
            vec![SUBDOMAIN_MSG.to_string()]
        );
        assert!(name_is_dns_label("ns-", true).is_empty());
        assert_eq!(
            name_is_dns_label("a.b-", true),
            vec!["must not contain dots".to_string()]
        );
        assert!(name_is_dns1035_label("svc-", true).is_empty());
        // Masking removes the byte before the dash too: "a.-" becomes "aa".
        assert!(name_is_dns_subdomain("a.-", true).is_empty());
        // Upper case stays invalid after masking.
        assert_eq!(
            name_is_dns_subdomain("Foo-", true),
            vec![SUBDOMAIN_MSG.to_string()]
        );
        // Length is checked after masking (masking shortens by one byte).
        let prefix = format!("{}-", "a".repeat(253));
        assert!(name_is_dns_subdomain(&prefix, true).is_empty());
    }

    #[test]
    fn metadata_name_errors() {
        let errs = validate_name_subdomain("Foo", "metadata.name");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            format!("metadata.name: Invalid value: \"Foo\": {SUBDOMAIN_MSG}")
        );
        assert_eq!(errs[0].kind, ErrorType::Invalid);

        let errs = validate_name_subdomain("", "metadata.name");
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        assert!(validate_name_subdomain("foo.bar", "metadata.name").is_empty());

        let errs = validate_name_label("a.b", "metadata.name");
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Invalid value: \"a.b\": must not contain dots"
        );
        let long = "a".repeat(64);
        let errs = validate_name_label(&long, "metadata.name");
        assert_eq!(
            errs[0].to_string(),
            format!("metadata.name: Invalid value: \"{long}\": must be no more than 63 characters")
        );
        assert!(validate_name_label(&"a".repeat(63), "metadata.name").is_empty());
        assert!(validate_name_subdomain(&"a".repeat(253), "metadata.name").is_empty());
        assert_eq!(
            validate_name_subdomain(&"a".repeat(254), "metadata.name").len(),
            1
        );
    }

    #[test]
    fn generate_name_errors() {
        // Trailing dash is fine in a prefix.
        assert!(
            validate_generate_name_prefix(
                "web-",
                NameRule::Dns1123Subdomain,
                "metadata.generateName"
            )
            .is_empty()
        );
        assert!(
            validate_generate_name_prefix("", NameRule::Dns1123Subdomain, "metadata.generateName")
                .is_empty()
        );
        let errs = validate_generate_name_prefix(
            "Web-",
            NameRule::Dns1123Subdomain,
            "metadata.generateName",
        );
        assert_eq!(
            errs[0].to_string(),
            format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_MSG}")
        );
        // Full ObjectMeta name check: generateName errors come first.
        let errs =
            validate_object_meta_name("Web-x7k2p", "Web-", NameRule::Dns1123Subdomain, "metadata");
        let rendered: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            rendered,
            vec![
                format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_MSG}"),
                format!("metadata.name: Invalid value: \"Web-x7k2p\": {SUBDOMAIN_MSG}"),
            ]
        );
        assert!(
            validate_object_meta_name("web-x7k2p", "web-", NameRule::Dns1123Subdomain, "metadata")
                .is_empty()
        );
        let errs = validate_object_meta_name("", "web-", NameRule::Dns1123Subdomain, "metadata");
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let errs = validate_object_meta_name("", "", NameRule::Dns1123Label, "");
        assert_eq!(
            errs[0].to_string(),
            "name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn labels_validation() {
        assert!(
            validate_labels(
                &map(json!({"app": "web", "k8s.io/x": "", "a": "b.c"})),
                "metadata.labels"
            )
            .is_empty()
        );
        let errs = validate_labels(
            &map(json!({"a b": "ok", "good": "bad value"})),
            "metadata.labels",
        );
        let rendered: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            rendered,
            vec![
                format!("metadata.labels: Invalid value: \"a b\": {QNAME_MSG}"),
                format!("metadata.labels: Invalid value: \"bad value\": {LABEL_VALUE_MSG}"),
            ]
        );
        let long = "v".repeat(64);
        let errs = validate_labels(&map(json!({ "k": long })), "metadata.labels");
        assert_eq!(
            errs[0].to_string(),
            format!(
                "metadata.labels: Invalid value: \"{long}\": must be no more than 63 characters"
            )
        );
        let errs = validate_labels(&map(json!({"k": 1})), "metadata.labels");
        assert_eq!(errs[0].kind, ErrorType::TypeInvalid);
        assert_eq!(errs[0].field, "metadata.labels[k]");
    }

    #[test]
    fn annotations_validation() {
        // Keys are checked case-insensitively but reported verbatim.
        assert!(
            validate_annotations(
                &map(json!({"Example.COM/Foo": "any value at all !"})),
                "metadata.annotations"
            )
            .is_empty()
        );
        let errs = validate_annotations(&map(json!({"a/b/c": "x"})), "metadata.annotations");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with(
            "metadata.annotations: Invalid value: \"a/b/c\": a qualified name must consist"
        ));
        let errs = validate_annotations(&map(json!({"Bad_Prefix/x": "x"})), "metadata.annotations");
        assert_eq!(
            errs[0].to_string(),
            format!(
                "metadata.annotations: Invalid value: \"Bad_Prefix/x\": prefix part {SUBDOMAIN_MSG}"
            )
        );

        // Exactly at the limit: fine. One byte over: too long.
        let at_limit = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B - 1);
        assert!(
            validate_annotations(&map(json!({ "k": at_limit })), "metadata.annotations").is_empty()
        );
        let over = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B);
        let errs = validate_annotations(&map(json!({ "k": over })), "metadata.annotations");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].kind, ErrorType::TooLong);
        assert_eq!(
            errs[0].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }
}
