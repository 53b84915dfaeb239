//! The naming rules of APIResourceSchemas (kcp's
//! `pkg/admission/apiresourceschema/validation.go`).
//!
//! A schema's name is `<prefix>.<plural>.<group>`, `core` standing for the
//! core group (`v1.widgets.example.io`, `today.configmaps.core`). The name
//! is what an APIExport lists, and the reverse parse (in [`super::apiexport`])
//! recovers group and resource from it, so the two must agree: the prefix
//! is a single DNS label-like segment and may not contain dots.
//!
//! Unlike a CRD, a schema may define the core group (`""`) and kcp's
//! single-segment legacy groups (`apps`, `batch`, ...): bound APIs can
//! stand in for built-in ones in a workspace.

use crate::validation::is_dns1123_subdomain;

/// Groups of a single segment that Kubernetes itself uses.
pub const SINGLE_SEGMENT_GROUP_EXCEPTIONS: [&str; 5] =
    ["apps", "batch", "extensions", "policy", "autoscaling"];

/// The group as it appears in schema names.
pub fn name_group(group: &str) -> &str {
    if group.is_empty() { "core" } else { group }
}

fn valid_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// Why `name` is not a valid name for a schema of `plural` in `group`, if
/// it is not. Nothing is said while `plural` is empty: the missing plural
/// is reported on its own.
pub fn name_error(name: &str, group: &str, plural: &str) -> Option<String> {
    if plural.is_empty() {
        return None;
    }
    let group = name_group(group);
    let suffix = format!(".{plural}.{group}");
    let Some(prefix) = name.strip_suffix(&suffix) else {
        return Some(format!("must end in {suffix}"));
    };
    if !valid_prefix(prefix) {
        return Some(format!(
            "must match ^[a-z]([-a-z0-9]*[a-z0-9])?$ in front of .{plural}.{group}"
        ));
    }
    None
}

/// Why `group` cannot be a schema's `spec.group`, if it cannot.
pub fn group_error(group: &str) -> Option<String> {
    if group.is_empty() {
        return None;
    }
    if group == "core" {
        return Some("must be empty string for the core group".into());
    }
    let errs = is_dns1123_subdomain(group);
    if !errs.is_empty() {
        return Some(errs.join(","));
    }
    if !group.contains('.') && !SINGLE_SEGMENT_GROUP_EXCEPTIONS.contains(&group) {
        return Some("should be a domain with at least one dot".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_end_in_plural_and_group() {
        assert_eq!(
            name_error("v1.widgets.example.io", "example.io", "widgets"),
            None
        );
        assert_eq!(
            name_error("today-2.configmaps.core", "", "configmaps"),
            None
        );
        assert_eq!(
            name_error("widgets.example.io", "example.io", "widgets").as_deref(),
            Some("must end in .widgets.example.io")
        );
        assert_eq!(
            name_error("v1.gadgets.example.io", "example.io", "widgets").as_deref(),
            Some("must end in .widgets.example.io")
        );
        assert_eq!(
            name_error("v1.configmaps", "", "configmaps").as_deref(),
            Some("must end in .configmaps.core")
        );
        for bad in [
            "1v.widgets.example.io",
            "a.b.widgets.example.io",
            "v1-.widgets.example.io",
        ] {
            assert_eq!(
                name_error(bad, "example.io", "widgets").as_deref(),
                Some("must match ^[a-z]([-a-z0-9]*[a-z0-9])?$ in front of .widgets.example.io"),
                "{bad}"
            );
        }
        assert_eq!(name_error("anything", "example.io", ""), None);
    }

    #[test]
    fn groups() {
        assert_eq!(group_error(""), None);
        assert_eq!(group_error("example.io"), None);
        assert_eq!(group_error("apps"), None);
        assert_eq!(
            group_error("core").as_deref(),
            Some("must be empty string for the core group")
        );
        assert_eq!(
            group_error("widgets").as_deref(),
            Some("should be a domain with at least one dot")
        );
        assert!(group_error("Example.io").is_some());
    }
}
