//! Does one `PolicyRule` allow one request?
//!
//! Same semantics as upstream `rbac.RuleAllows` and the matchers of
//! `pkg/apis/rbac/v1/evaluation_helpers.go`:
//!
//! - verbs and API groups match exactly or through `*`;
//! - resources match `*`, the exact `resource` or `resource/subresource`,
//!   or `*/subresource` (any resource's subresource of that name). There is
//!   deliberately no `resource/*`: upstream treats it as the literal
//!   subresource `*`, so `pods/*` does not grant `pods/log`, and neither
//!   `pods` nor `*/log` grant the other half of `pods/log`;
//! - `resourceNames`: an empty list allows any name, a non-empty list only
//!   requests carrying one of those names — so `list`, `watch`, `create` and
//!   `deletecollection`, which carry no name, are never allowed by a
//!   name-restricted rule;
//! - non-resource URLs match `*`, exactly, or by prefix when the rule ends in
//!   `*` (every trailing `*` is stripped before the prefix test, as Go's
//!   `TrimRight` does). A resource request never matches a non-resource rule
//!   and vice versa, because the other kind's list is empty.
//!
//! Absent lists (`None`) and empty lists behave identically, as Go's nil and
//! empty slices do. Matching allocates nothing: `resource/subresource` is
//! compared piecewise instead of being formatted per rule, since this is the
//! innermost loop of every authorization.

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::attributes::Attributes;

/// `*` in `verbs`: every verb.
pub const VERB_ALL: &str = "*";
/// `*` in `apiGroups`: every group.
pub const API_GROUP_ALL: &str = "*";
/// `*` in `resources`: every resource and subresource.
pub const RESOURCE_ALL: &str = "*";
/// `*` in `nonResourceURLs`: every path.
pub const NON_RESOURCE_ALL: &str = "*";

/// The strings of an optional list; `None` reads as empty.
pub(crate) fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

/// `VerbMatches`.
pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == VERB_ALL || v == verb)
}

/// `APIGroupMatches`.
pub fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    list(&rule.api_groups)
        .iter()
        .any(|g| g == API_GROUP_ALL || g == group)
}

/// `ResourceMatches` for a request on `resource` (plus `subresource` when
/// non-empty).
pub fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    list(&rule.resources).iter().any(|r| {
        if r == RESOURCE_ALL {
            return true;
        }
        if subresource.is_empty() {
            return r == resource;
        }
        is_pair(r, resource, subresource) || is_pair(r, "*", subresource)
    })
}

/// `s == head + "/" + tail`, without building the right-hand side.
fn is_pair(s: &str, head: &str, tail: &str) -> bool {
    s.len() == head.len() + 1 + tail.len()
        && s.starts_with(head)
        && s.as_bytes()[head.len()] == b'/'
        && s.ends_with(tail)
}

/// `ResourceNameMatches`.
pub fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    let names = list(&rule.resource_names);
    names.is_empty() || names.iter().any(|n| n == name)
}

/// `NonResourceURLMatches`.
pub fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    list(&rule.non_resource_urls)
        .iter()
        .any(|u| non_resource_url_covers(u, path))
}

/// Whether the rule URL `pattern` covers `path`: `*`, equality, or a
/// trailing-`*` prefix. Shared with the escalation check, whose upstream
/// twin (`nonResourceURLCovers`) has the same shape minus the bare `*`
/// shortcut, which the prefix test subsumes.
pub(crate) fn non_resource_url_covers(pattern: &str, path: &str) -> bool {
    if pattern == NON_RESOURCE_ALL || pattern == path {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(_) => path.starts_with(pattern.trim_end_matches('*')),
        None => false,
    }
}

/// `RuleAllows`: whether `rule` allows the request.
pub fn rule_allows(attrs: &Attributes, rule: &PolicyRule) -> bool {
    if attrs.resource_request {
        verb_matches(rule, &attrs.verb)
            && api_group_matches(rule, &attrs.api_group)
            && resource_matches(rule, &attrs.resource, &attrs.subresource)
            && resource_name_matches(rule, &attrs.name)
    } else {
        verb_matches(rule, &attrs.verb) && non_resource_url_matches(rule, &attrs.path)
    }
}

/// `RulesAllow`: whether any of `rules` allows the request.
pub fn rules_allow(attrs: &Attributes, rules: &[PolicyRule]) -> bool {
    rules.iter().any(|r| rule_allows(attrs, r))
}

/// Builds a `PolicyRule` the way upstream's `rbacv1helpers.NewRule(...)`
/// does; lists left unset stay `None` so the rule serializes without them.
#[derive(Clone, Debug, Default)]
pub struct RuleBuilder {
    rule: PolicyRule,
}

/// Starts a rule with these verbs.
pub fn new_rule(verbs: &[&str]) -> RuleBuilder {
    RuleBuilder {
        rule: PolicyRule {
            verbs: strings(verbs),
            ..Default::default()
        },
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn some_strings(v: &[&str]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| strings(v))
}

impl RuleBuilder {
    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.rule.api_groups = some_strings(groups);
        self
    }

    pub fn resources(mut self, resources: &[&str]) -> Self {
        self.rule.resources = some_strings(resources);
        self
    }

    pub fn names(mut self, names: &[&str]) -> Self {
        self.rule.resource_names = some_strings(names);
        self
    }

    pub fn urls(mut self, urls: &[&str]) -> Self {
        self.rule.non_resource_urls = some_strings(urls);
        self
    }

    pub fn build(self) -> PolicyRule {
        self.rule
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::attributes::UserInfo;

    fn req(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::resource(
            UserInfo::new("u"),
            verb,
            "ns",
            group,
            "v1",
            resource,
            sub,
            name,
        )
    }

    fn url(verb: &str, path: &str) -> Attributes {
        Attributes::non_resource(UserInfo::new("u"), verb, path)
    }

    #[test]
    fn verbs() {
        let r = new_rule(&["get", "list"])
            .groups(&[""])
            .resources(&["pods"])
            .build();
        assert!(rule_allows(&req("get", "", "pods", "", ""), &r));
        assert!(rule_allows(&req("list", "", "pods", "", ""), &r));
        assert!(!rule_allows(&req("watch", "", "pods", "", ""), &r));
        // Verbs are case-sensitive, as upstream.
        assert!(!rule_allows(&req("GET", "", "pods", "", ""), &r));
        let all = new_rule(&["*"]).groups(&[""]).resources(&["pods"]).build();
        assert!(rule_allows(&req("escalate", "", "pods", "", ""), &all));
        let none = new_rule(&[]).groups(&[""]).resources(&["pods"]).build();
        assert!(!rule_allows(&req("get", "", "pods", "", ""), &none));
    }

    #[test]
    fn api_groups() {
        let core = new_rule(&["get"]).groups(&[""]).resources(&["*"]).build();
        assert!(rule_allows(&req("get", "", "pods", "", ""), &core));
        assert!(!rule_allows(
            &req("get", "apps", "deployments", "", ""),
            &core
        ));
        let any = new_rule(&["get"]).groups(&["*"]).resources(&["*"]).build();
        assert!(rule_allows(
            &req("get", "apps", "deployments", "", ""),
            &any
        ));
        assert!(rule_allows(&req("get", "", "pods", "", ""), &any));
        // No apiGroups at all matches no resource request.
        let none = new_rule(&["get"]).resources(&["pods"]).build();
        assert!(!rule_allows(&req("get", "", "pods", "", ""), &none));
    }

    #[test]
    fn resources_and_subresources() {
        let pods = new_rule(&["get"])
            .groups(&[""])
            .resources(&["pods"])
            .build();
        assert!(rule_allows(&req("get", "", "pods", "", ""), &pods));
        assert!(!rule_allows(&req("get", "", "pods", "log", ""), &pods));
        assert!(!rule_allows(&req("get", "", "pod", "", ""), &pods));

        let log = new_rule(&["get"])
            .groups(&[""])
            .resources(&["pods/log"])
            .build();
        assert!(rule_allows(&req("get", "", "pods", "log", ""), &log));
        assert!(!rule_allows(&req("get", "", "pods", "", ""), &log));
        assert!(!rule_allows(&req("get", "", "pods", "status", ""), &log));
        assert!(!rule_allows(&req("get", "", "nodes", "log", ""), &log));
        // A subresource-looking resource name does not confuse matching.
        assert!(!rule_allows(&req("get", "", "pods/log", "", ""), &pods));

        let any_status = new_rule(&["get"])
            .groups(&["*"])
            .resources(&["*/status"])
            .build();
        assert!(rule_allows(
            &req("get", "", "pods", "status", ""),
            &any_status
        ));
        assert!(rule_allows(
            &req("get", "apps", "deployments", "status", ""),
            &any_status
        ));
        assert!(!rule_allows(&req("get", "", "pods", "", ""), &any_status));
        assert!(!rule_allows(
            &req("get", "", "pods", "log", ""),
            &any_status
        ));
        assert!(!rule_allows(
            &req("get", "", "pods", "xstatus", ""),
            &any_status
        ));

        // `resource/*` is not a wildcard upstream: only the literal `*`.
        let pods_star = new_rule(&["get"])
            .groups(&[""])
            .resources(&["pods/*"])
            .build();
        assert!(!rule_allows(&req("get", "", "pods", "log", ""), &pods_star));
        assert!(!rule_allows(&req("get", "", "pods", "", ""), &pods_star));
        assert!(rule_allows(&req("get", "", "pods", "*", ""), &pods_star));
        let star_star = new_rule(&["get"]).groups(&[""]).resources(&["*/*"]).build();
        assert!(!rule_allows(&req("get", "", "pods", "log", ""), &star_star));

        let all = new_rule(&["get"]).groups(&[""]).resources(&["*"]).build();
        assert!(rule_allows(&req("get", "", "pods", "", ""), &all));
        assert!(rule_allows(&req("get", "", "pods", "log", ""), &all));

        let empty = new_rule(&["get"]).groups(&[""]).build();
        assert!(!rule_allows(&req("get", "", "pods", "", ""), &empty));
    }

    #[test]
    fn resource_names() {
        let named = new_rule(&["get", "list", "create", "update"])
            .groups(&[""])
            .resources(&["configmaps"])
            .names(&["a", "b"])
            .build();
        assert!(rule_allows(&req("get", "", "configmaps", "", "a"), &named));
        assert!(rule_allows(
            &req("update", "", "configmaps", "", "b"),
            &named
        ));
        assert!(!rule_allows(&req("get", "", "configmaps", "", "c"), &named));
        // No name on the request: a name-restricted rule never matches.
        assert!(!rule_allows(&req("list", "", "configmaps", "", ""), &named));
        assert!(!rule_allows(
            &req("create", "", "configmaps", "", ""),
            &named
        ));

        let any = new_rule(&["get"])
            .groups(&[""])
            .resources(&["configmaps"])
            .build();
        assert!(rule_allows(
            &req("get", "", "configmaps", "", "whatever"),
            &any
        ));
        assert!(rule_allows(&req("get", "", "configmaps", "", ""), &any));
        let mut empty_names = any.clone();
        empty_names.resource_names = Some(vec![]);
        assert!(rule_allows(
            &req("get", "", "configmaps", "", "x"),
            &empty_names
        ));
    }

    #[test]
    fn non_resource_urls() {
        let r = new_rule(&["get"])
            .urls(&["/healthz", "/apis/*", "/logs**"])
            .build();
        assert!(rule_allows(&url("get", "/healthz"), &r));
        assert!(!rule_allows(&url("get", "/healthz/etcd"), &r));
        assert!(!rule_allows(&url("post", "/healthz"), &r));
        assert!(rule_allows(&url("get", "/apis/"), &r));
        assert!(rule_allows(&url("get", "/apis/apps/v1"), &r));
        assert!(!rule_allows(&url("get", "/apis"), &r));
        // All trailing stars go, as Go's TrimRight: `/logs**` is prefix `/logs`.
        assert!(rule_allows(&url("get", "/logs"), &r));
        assert!(rule_allows(&url("get", "/logsfoo"), &r));

        let all = new_rule(&["*"]).urls(&["*"]).build();
        assert!(rule_allows(&url("get", "/anything"), &all));
        assert!(rule_allows(&url("delete", "/"), &all));
        // A star not at the end is literal.
        let mid = new_rule(&["get"]).urls(&["/a/*/b"]).build();
        assert!(!rule_allows(&url("get", "/a/x/b"), &mid));
        assert!(rule_allows(&url("get", "/a/*/b"), &mid));
    }

    #[test]
    fn kinds_do_not_mix() {
        let urls = new_rule(&["*"]).urls(&["*"]).build();
        assert!(!rule_allows(&req("get", "", "pods", "", ""), &urls));
        let res = new_rule(&["*"]).groups(&["*"]).resources(&["*"]).build();
        assert!(!rule_allows(&url("get", "/healthz"), &res));
        assert!(rules_allow(
            &url("get", "/healthz"),
            &[res.clone(), urls.clone()]
        ));
        assert!(rules_allow(&req("get", "", "pods", "", ""), &[urls, res]));
        assert!(!rules_allow(&req("get", "", "pods", "", ""), &[]));
    }

    #[test]
    fn builder_leaves_unset_lists_absent() {
        let r = new_rule(&["get"])
            .groups(&[""])
            .resources(&["pods"])
            .build();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
        );
    }
}
