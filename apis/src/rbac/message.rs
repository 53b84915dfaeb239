//! The texts clients see when authorization says no.
//!
//! Mirrors `responsewriters.Forbidden` / `forbiddenMessage` and
//! `apierrors.NewForbidden` byte for byte, because kubectl users and test
//! suites match on them:
//!
//! - [`forbidden_message`]: `User "x" cannot list resource "configmaps" in
//!   API group "" in the namespace "y"` (or `... at the cluster scope`;
//!   subresources shown as `"pods/log"`; non-resource requests as `User "x"
//!   cannot get path "/foo"`);
//! - [`forbidden_status_message`]: the `Status.message` wrapping it,
//!   `configmaps is forbidden: ...`, `configmaps "n" is forbidden: ...`,
//!   `leases.coordination.k8s.io is forbidden: ...`, or `forbidden: ...`
//!   for non-resource requests, with `: <reason>` appended when the
//!   authorizer gave one;
//! - [`forbidden_status`]: the whole 403 `Status`.
//!
//! Upstream HTML-escapes `&`, `<` and `>` in the user-controlled part (so the
//! error cannot render as markup) but not in the authorizer's reason; so do
//! we. Quoting is Go's `%q`.

use crate::status::{GroupResource, Status, StatusDetails};

use super::attributes::Attributes;

pub(crate) use crate::goquote::go_quote;

/// Go's `%q` of a `[]string`: `["a" "b"]`, `[]` when empty.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Upstream's `sanitizer`: keeps an error from looking like HTML.
fn sanitize(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `forbiddenMessage`: what the user could not do.
pub fn forbidden_message(attrs: &Attributes) -> String {
    let user = go_quote(&attrs.user.name);
    if !attrs.resource_request {
        return format!(
            "User {user} cannot {} path {}",
            attrs.verb,
            go_quote(&attrs.path)
        );
    }
    let resource = go_quote(&attrs.combined_resource());
    let group = go_quote(&attrs.api_group);
    if attrs.namespace.is_empty() {
        format!(
            "User {user} cannot {} resource {resource} in API group {group} at the cluster scope",
            attrs.verb
        )
    } else {
        format!(
            "User {user} cannot {} resource {resource} in API group {group} in the namespace {}",
            attrs.verb,
            go_quote(&attrs.namespace)
        )
    }
}

/// The message of the 403 `Status` (`NewForbidden(gr, name, err)` where
/// `err` is the sanitized [`forbidden_message`] plus `: reason` if any).
pub fn forbidden_status_message(attrs: &Attributes, reason: &str) -> String {
    let mut why = sanitize(&forbidden_message(attrs));
    if !reason.is_empty() {
        why.push_str(": ");
        why.push_str(reason);
    }
    // The qualified resource never includes the subresource.
    let gr = GroupResource::new(attrs.api_group.as_str(), attrs.resource.as_str());
    if gr.group.is_empty() && gr.resource.is_empty() {
        format!("forbidden: {why}")
    } else if attrs.name.is_empty() {
        format!("{gr} is forbidden: {why}")
    } else {
        format!("{gr} {} is forbidden: {why}", go_quote(&attrs.name))
    }
}

/// The whole 403 `Status`: reason `Forbidden`, details naming the group,
/// the resource (as `kind`, as upstream does) and the object name.
pub fn forbidden_status(attrs: &Attributes, reason: &str) -> Status {
    Status::failure(403, "Forbidden", forbidden_status_message(attrs, reason)).with_details(
        StatusDetails {
            name: attrs.name.clone(),
            group: attrs.api_group.clone(),
            kind: attrs.resource.clone(),
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::attributes::UserInfo;

    fn res(ns: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::resource(
            UserInfo::new("x"),
            "list",
            ns,
            group,
            "v1",
            resource,
            sub,
            name,
        )
    }

    #[test]
    fn namespaced_and_cluster_scope() {
        assert_eq!(
            forbidden_message(&res("y", "", "configmaps", "", "")),
            r#"User "x" cannot list resource "configmaps" in API group "" in the namespace "y""#
        );
        assert_eq!(
            forbidden_message(&res(
                "",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "",
                ""
            )),
            r#"User "x" cannot list resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope"#
        );
    }

    #[test]
    fn subresources() {
        let mut a = res("ns", "", "pods", "log", "p");
        a.verb = "get".into();
        assert_eq!(
            forbidden_message(&a),
            r#"User "x" cannot get resource "pods/log" in API group "" in the namespace "ns""#
        );
        assert_eq!(
            forbidden_status_message(&a, ""),
            r#"pods "p" is forbidden: User "x" cannot get resource "pods/log" in API group "" in the namespace "ns""#
        );
    }

    #[test]
    fn non_resource() {
        let a = Attributes::non_resource(UserInfo::new("x"), "get", "/foo");
        assert_eq!(forbidden_message(&a), r#"User "x" cannot get path "/foo""#);
        assert_eq!(
            forbidden_status_message(&a, ""),
            r#"forbidden: User "x" cannot get path "/foo""#
        );
        let s = forbidden_status(&a, "");
        assert_eq!(s.details, StatusDetails::default());
    }

    #[test]
    fn status_messages() {
        assert_eq!(
            forbidden_status_message(&res("y", "", "configmaps", "", ""), ""),
            r#"configmaps is forbidden: User "x" cannot list resource "configmaps" in API group "" in the namespace "y""#
        );
        let mut named = res("y", "", "configmaps", "", "n");
        named.verb = "get".into();
        assert_eq!(
            forbidden_status_message(&named, ""),
            r#"configmaps "n" is forbidden: User "x" cannot get resource "configmaps" in API group "" in the namespace "y""#
        );
        assert_eq!(
            forbidden_status_message(
                &res("y", "coordination.k8s.io", "leases", "", ""),
                "RBAC: oops"
            ),
            r#"leases.coordination.k8s.io is forbidden: User "x" cannot list resource "leases" in API group "coordination.k8s.io" in the namespace "y": RBAC: oops"#
        );
        let s = forbidden_status(&named, "");
        assert_eq!(s.code, 403);
        assert_eq!(s.reason, "Forbidden");
        assert_eq!(s.details.name, "n");
        assert_eq!(s.details.kind, "configmaps");
        assert_eq!(s.details.group, "");
    }

    #[test]
    fn anonymous_and_escaping() {
        let mut a = res("ns", "", "secrets", "", "");
        a.user = UserInfo::new("system:anonymous");
        assert_eq!(
            forbidden_message(&a),
            r#"User "system:anonymous" cannot list resource "secrets" in API group "" in the namespace "ns""#
        );
        a.user = UserInfo::new("<b>\"q\"&\n");
        // %q escapes quotes and newlines; the sanitizer then escapes markup,
        // but not in the reason.
        assert_eq!(
            forbidden_status_message(&a, "<r>"),
            r#"secrets is forbidden: User "&lt;b&gt;\"q\"&amp;\n" cannot list resource "secrets" in API group "" in the namespace "ns": <r>"#
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("a\u{1}b\u{7f}\u{85}é"), "\"a\\x01b\\x7f\\u0085é\"");
        assert_eq!(go_quote_list(&[]), "[]");
        assert_eq!(
            go_quote_list(&["a".to_string(), "b c".to_string()]),
            r#"["a" "b c"]"#
        );
    }
}
