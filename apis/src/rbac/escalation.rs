//! Privilege-escalation prevention for Role/ClusterRole/binding writes.
//!
//! Upstream (`pkg/registry/rbac`) lets a user create or update a role, or a
//! binding to a role, only if one of these holds:
//! 1. the user is in `system:masters` ([`escalation_allowed`]);
//! 2. for roles: RBAC allows the user the `escalate` verb on that role
//!    ([`escalate_attributes`]); for bindings: the `bind` verb on the
//!    referenced role ([`bind_attributes`]);
//! 3. the user already holds every permission the role grants, in the
//!    namespace of the object (cluster-wide for cluster objects):
//!    [`confirm_no_escalation`], built on [`covers`].
//!
//! [`covers`] is upstream's `Covers`: each requested rule is broken down
//! ([`breakdown_rule`]) into atoms with one API group, one resource, one
//! verb and at most one resource name (or one URL and one verb), and each
//! atom must be covered by a single owner rule. Within one owner rule: `*`
//! verbs/groups/resources cover everything; a `*/sub` resource covers any
//! `res/sub`; a name-restricted owner rule covers only atoms for those
//! names (never an unrestricted atom); URL patterns ending in `*` cover by
//! prefix. Atoms cannot straddle owner rules, so covering is exact rather
//! than heuristic. Quirks kept on purpose: a requested rule with resources
//! but no API groups (or no verbs) breaks down to nothing and so is always
//! covered, and `*` in a *requested* rule is an ordinary value that only an
//! owner `*` covers.
//!
//! The refusal text is upstream's, e.g.
//! ```text
//! user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
//! {APIGroups:[""], Resources:["pods"], Verbs:["delete" "get"]}
//! ```
//! with missing atoms compacted per group/resource/name
//! ([`compact_rules`]) and one line per rule, sorted; the server wraps it as
//! `Forbidden` for the object being written.

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};

use super::attributes::{Attributes, SYSTEM_MASTERS, UserInfo};
use super::index::PolicyIndex;
use super::message::go_quote_list;
use super::rules::{API_GROUP_ALL, RESOURCE_ALL, VERB_ALL, list, non_resource_url_covers};

/// Splits a rule into atoms: one group × resource × verb (× name, when the
/// rule restricts names), then one URL × verb (`BreakdownRule`).
pub fn breakdown_rule(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| Some(vec![s.clone()]);
    let mut atoms = Vec::new();
    let names = list(&rule.resource_names);
    for group in list(&rule.api_groups) {
        for resource in list(&rule.resources) {
            for verb in &rule.verbs {
                let atom = PolicyRule {
                    api_groups: one(group),
                    resources: one(resource),
                    verbs: vec![verb.clone()],
                    ..Default::default()
                };
                if names.is_empty() {
                    atoms.push(atom);
                } else {
                    for name in names {
                        atoms.push(PolicyRule {
                            resource_names: one(name),
                            ..atom.clone()
                        });
                    }
                }
            }
        }
    }
    for url in list(&rule.non_resource_urls) {
        for verb in &rule.verbs {
            atoms.push(PolicyRule {
                non_resource_urls: one(url),
                verbs: vec![verb.clone()],
                ..Default::default()
            });
        }
    }
    atoms
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

/// `resourceCoversAll`: `*`, exact, or `*/sub` for `res/sub`.
fn resources_cover(owner: &[String], requested: &[String]) -> bool {
    if has(owner, RESOURCE_ALL) || has_all(owner, requested) {
        return true;
    }
    requested.iter().all(|r| {
        has(owner, r)
            || r.split_once('/')
                .is_some_and(|(_, sub)| has(owner, &format!("*/{sub}")))
    })
}

/// `nonResourceURLsCoversAll`.
fn urls_cover(owner: &[String], requested: &[String]) -> bool {
    requested
        .iter()
        .all(|path| owner.iter().any(|o| non_resource_url_covers(o, path)))
}

/// `ruleCovers`: whether one owner rule covers one atom.
fn rule_covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, VERB_ALL) || has_all(&owner.verbs, &atom.verbs);
    let groups = {
        let o = list(&owner.api_groups);
        has(o, API_GROUP_ALL) || has_all(o, list(&atom.api_groups))
    };
    let resources = resources_cover(list(&owner.resources), list(&atom.resources));
    let urls = urls_cover(
        list(&owner.non_resource_urls),
        list(&atom.non_resource_urls),
    );
    let owner_names = list(&owner.resource_names);
    let atom_names = list(&atom.resource_names);
    let names = if atom_names.is_empty() {
        owner_names.is_empty()
    } else {
        owner_names.is_empty() || has_all(owner_names, atom_names)
    };
    verbs && groups && resources && urls && names
}

/// `Covers`: whether `owner` rules allow everything `requested` rules do,
/// and the atoms they do not cover (in breakdown order).
pub fn covers(owner: &[PolicyRule], requested: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let uncovered: Vec<PolicyRule> = requested
        .iter()
        .flat_map(breakdown_rule)
        .filter(|atom| !owner.iter().any(|o| rule_covers(o, atom)))
        .collect();
    (uncovered.is_empty(), uncovered)
}

/// `CompactRules`: merges rules that have exactly one group, one resource,
/// at most one name and no URLs, and differ only in verbs, into one rule per
/// group/resource/name with the verbs in order of appearance. Other rules
/// are kept as they are, first.
pub fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    let mut simple: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let is_simple = list(&rule.resource_names).len() <= 1
            && list(&rule.non_resource_urls).is_empty()
            && list(&rule.api_groups).len() == 1
            && list(&rule.resources).len() == 1;
        if !is_simple {
            out.push(rule.clone());
            continue;
        }
        let same = |r: &&mut PolicyRule| {
            list(&r.api_groups) == list(&rule.api_groups)
                && list(&r.resources) == list(&rule.resources)
                && list(&r.resource_names) == list(&rule.resource_names)
        };
        match simple.iter_mut().find(same) {
            Some(existing) => existing.verbs.extend(rule.verbs.iter().cloned()),
            None => simple.push(rule.clone()),
        }
    }
    out.extend(simple);
    out
}

/// `CompactString`: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`,
/// listing only non-empty fields.
pub fn compact_string(rule: &PolicyRule) -> String {
    let fields = [
        ("APIGroups", list(&rule.api_groups)),
        ("Resources", list(&rule.resources)),
        ("NonResourceURLs", list(&rule.non_resource_urls)),
        ("ResourceNames", list(&rule.resource_names)),
        ("Verbs", rule.verbs.as_slice()),
    ];
    let parts: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}:{}", go_quote_list(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Upstream's refusal text for `missing` atoms, with `; resolution errors:
/// [...]` when the owner's own rules could not all be resolved.
pub fn escalation_message(
    user: &UserInfo,
    missing: &[PolicyRule],
    resolution_error: Option<&str>,
) -> String {
    let mut lines: Vec<String> = compact_rules(missing).iter().map(compact_string).collect();
    lines.sort();
    lines.dedup();
    let mut msg = format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        super::message::go_quote(&user.name),
        go_quote_list(&user.groups),
        lines.join("\n")
    );
    if let Some(err) = resolution_error {
        // `%v` of a one-element `[]error`.
        msg.push_str(&format!("; resolution errors: [{err}]"));
    }
    msg
}

/// `ConfirmNoEscalation`: `Ok` when `user` already holds every permission
/// `rules` grant in `namespace` (empty for cluster-scoped objects), else the
/// refusal message.
pub fn confirm_no_escalation(
    index: &PolicyIndex,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner, error) = index.policy_rules(user, namespace);
    let (ok, missing) = covers(&owner, rules);
    if ok {
        Ok(())
    } else {
        Err(escalation_message(user, &missing, error.as_deref()))
    }
}

/// `EscalationAllowed`: members of `system:masters` may grant anything.
pub fn escalation_allowed(user: &UserInfo) -> bool {
    user.in_group(SYSTEM_MASTERS)
}

/// The request `RoleEscalationAuthorized` authorizes: verb `escalate` on the
/// role being written (`resource` is `roles` or `clusterroles`; other
/// resources never qualify, so this returns `None` for them).
pub fn escalate_attributes(
    user: &UserInfo,
    api_group: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Option<Attributes> {
    if api_group != "rbac.authorization.k8s.io" || !matches!(resource, "roles" | "clusterroles") {
        return None;
    }
    Some(Attributes::resource(
        user.clone(),
        "escalate",
        namespace,
        api_group,
        "*",
        resource,
        "",
        name,
    ))
}

/// The request `BindingAuthorized` authorizes: verb `bind` on the referenced
/// role, in the binding's namespace (empty for ClusterRoleBindings). `None`
/// for an unknown `roleRef.kind`, which upstream never authorizes.
pub fn bind_attributes(
    user: &UserInfo,
    role_ref: &RoleRef,
    binding_namespace: &str,
) -> Option<Attributes> {
    let resource = match role_ref.kind.as_str() {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        _ => return None,
    };
    Some(Attributes::resource(
        user.clone(),
        "bind",
        binding_namespace,
        &role_ref.api_group,
        "",
        resource,
        "",
        &role_ref.name,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::rules::new_rule;

    fn r(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        new_rule(verbs).groups(groups).resources(resources).build()
    }

    #[test]
    fn breakdown() {
        let rule = new_rule(&["get", "list"])
            .groups(&["", "apps"])
            .resources(&["pods"])
            .names(&["a", "b"])
            .urls(&["/x"])
            .build();
        let atoms = breakdown_rule(&rule);
        assert_eq!(atoms.len(), 2 * 2 * 2 + 2);
        assert_eq!(
            atoms[0],
            new_rule(&["get"])
                .groups(&[""])
                .resources(&["pods"])
                .names(&["a"])
                .build()
        );
        assert_eq!(atoms[8], new_rule(&["get"]).urls(&["/x"]).build());
        // No groups: no resource atoms at all (vacuously covered upstream).
        assert!(breakdown_rule(&new_rule(&["get"]).resources(&["pods"]).build()).is_empty());
    }

    #[test]
    fn exact_and_star_cover() {
        let owner = vec![r(&["get", "list"], &[""], &["pods", "configmaps"])];
        assert!(covers(&owner, &[r(&["get"], &[""], &["pods"])]).0);
        assert!(
            covers(
                &owner,
                &[r(&["get", "list"], &[""], &["pods", "configmaps"])]
            )
            .0
        );
        let (ok, missing) = covers(&owner, &[r(&["get", "delete"], &["", "apps"], &["pods"])]);
        assert!(!ok);
        assert_eq!(
            missing,
            vec![
                r(&["delete"], &[""], &["pods"]),
                r(&["get"], &["apps"], &["pods"]),
                r(&["delete"], &["apps"], &["pods"]),
            ]
        );

        let admin = vec![
            r(&["*"], &["*"], &["*"]),
            new_rule(&["*"]).urls(&["*"]).build(),
        ];
        let wild = vec![
            r(&["*"], &["*"], &["*"]),
            new_rule(&["get"]).urls(&["/healthz", "/apis/*"]).build(),
            r(&["escalate"], &["rbac.authorization.k8s.io"], &["roles"]),
        ];
        assert_eq!(covers(&admin, &wild), (true, vec![]));
        // A requested `*` is only covered by an owner `*`.
        assert!(
            !covers(
                &[r(&["get", "list"], &[""], &["pods"])],
                &[r(&["*"], &[""], &["pods"])]
            )
            .0
        );
        assert!(
            !covers(
                &[r(&["get"], &[""], &["pods"])],
                &[r(&["get"], &["*"], &["pods"])]
            )
            .0
        );
        assert!(
            !covers(
                &[r(&["get"], &[""], &["pods"])],
                &[r(&["get"], &[""], &["*"])]
            )
            .0
        );
    }

    #[test]
    fn atoms_do_not_straddle_owner_rules() {
        // Each atom is covered by one rule, even if the request as a whole
        // needs several.
        let owner = vec![
            r(&["get"], &[""], &["pods"]),
            r(&["list"], &[""], &["pods"]),
        ];
        assert!(covers(&owner, &[r(&["get", "list"], &[""], &["pods"])]).0);
    }

    #[test]
    fn subresources() {
        let owner = vec![r(&["get"], &[""], &["*/status", "pods/log"])];
        assert!(
            covers(
                &owner,
                &[r(&["get"], &[""], &["pods/status", "nodes/status"])]
            )
            .0
        );
        assert!(covers(&owner, &[r(&["get"], &[""], &["pods/log"])]).0);
        assert!(!covers(&owner, &[r(&["get"], &[""], &["pods"])]).0);
        assert!(!covers(&owner, &[r(&["get"], &[""], &["pods/exec"])]).0);
        // `pods/*` requested is the literal subresource `*`, covered only by
        // `*/*`, `pods/*` or `*`.
        assert!(!covers(&owner, &[r(&["get"], &[""], &["pods/*"])]).0);
        assert!(
            covers(
                &[r(&["get"], &[""], &["*/*"])],
                &[r(&["get"], &[""], &["pods/*"])]
            )
            .0
        );
        // Owner `pods` does not cover `pods/log` and vice versa.
        assert!(
            !covers(
                &[r(&["get"], &[""], &["pods"])],
                &[r(&["get"], &[""], &["pods/log"])]
            )
            .0
        );
    }

    #[test]
    fn resource_names() {
        let named = vec![
            new_rule(&["get"])
                .groups(&[""])
                .resources(&["cm"])
                .names(&["a", "b"])
                .build(),
        ];
        let want = |names: &[&str]| {
            new_rule(&["get"])
                .groups(&[""])
                .resources(&["cm"])
                .names(names)
                .build()
        };
        assert!(covers(&named, &[want(&["a"])]).0);
        assert!(covers(&named, &[want(&["a", "b"])]).0);
        assert!(!covers(&named, &[want(&["c"])]).0);
        // Name-restricted owner never covers an unrestricted request.
        assert!(!covers(&named, &[r(&["get"], &[""], &["cm"])]).0);
        // Unrestricted owner covers any name.
        assert!(covers(&[r(&["get"], &[""], &["cm"])], &[want(&["z"])]).0);
    }

    #[test]
    fn non_resource_urls() {
        let owner = vec![new_rule(&["get"]).urls(&["/healthz", "/apis/*"]).build()];
        let want = |u: &str| new_rule(&["get"]).urls(&[u]).build();
        assert!(covers(&owner, &[want("/healthz")]).0);
        assert!(covers(&owner, &[want("/apis/apps")]).0);
        assert!(covers(&owner, &[want("/apis/*")]).0);
        assert!(!covers(&owner, &[want("/apis")]).0);
        assert!(!covers(&owner, &[want("*")]).0);
        assert!(!covers(&owner, &[new_rule(&["post"]).urls(&["/healthz"]).build()]).0);
        assert!(covers(&[new_rule(&["*"]).urls(&["*"]).build()], &[want("*")]).0);
        // Resource rules never cover URLs and vice versa.
        assert!(!covers(&[r(&["*"], &["*"], &["*"])], &[want("/healthz")]).0);
        assert!(
            !covers(
                &[new_rule(&["*"]).urls(&["*"]).build()],
                &[r(&["get"], &[""], &["pods"])]
            )
            .0
        );
    }

    #[test]
    fn compaction_and_message() {
        let missing = vec![
            r(&["get"], &[""], &["pods"]),
            r(&["delete"], &[""], &["pods"]),
            new_rule(&["get"])
                .groups(&[""])
                .resources(&["cm"])
                .names(&["x"])
                .build(),
            new_rule(&["list"])
                .groups(&[""])
                .resources(&["cm"])
                .names(&["x"])
                .build(),
            new_rule(&["get"]).urls(&["/metrics"]).build(),
        ];
        let compact = compact_rules(&missing);
        assert_eq!(
            compact,
            vec![
                new_rule(&["get"]).urls(&["/metrics"]).build(),
                r(&["get", "delete"], &[""], &["pods"]),
                new_rule(&["get", "list"])
                    .groups(&[""])
                    .resources(&["cm"])
                    .names(&["x"])
                    .build(),
            ]
        );
        assert_eq!(
            compact_string(&compact[2]),
            r#"{APIGroups:[""], Resources:["cm"], ResourceNames:["x"], Verbs:["get" "list"]}"#
        );
        assert_eq!(
            compact_string(&compact[0]),
            r#"{NonResourceURLs:["/metrics"], Verbs:["get"]}"#
        );

        let user = UserInfo::new("bob").with_groups(["devs", "system:authenticated"]);
        assert_eq!(
            escalation_message(&user, &missing, None),
            "user \"bob\" (groups=[\"devs\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"cm\"], ResourceNames:[\"x\"], Verbs:[\"get\" \"list\"]}\n\
             {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\" \"delete\"]}\n\
             {NonResourceURLs:[\"/metrics\"], Verbs:[\"get\"]}"
        );
        let no_groups = UserInfo::new("x");
        assert_eq!(
            escalation_message(
                &no_groups,
                &missing[..1],
                Some("role.rbac.authorization.k8s.io \"r\" not found")
            ),
            "user \"x\" (groups=[]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}; resolution errors: [role.rbac.authorization.k8s.io \"r\" not found]"
        );
    }

    #[test]
    fn confirm_against_an_index() {
        use k8s_openapi::api::rbac::v1::{Role, RoleBinding, Subject};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let role = Role {
            metadata: ObjectMeta {
                name: Some("editor".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            rules: Some(vec![r(&["get", "list", "create"], &[""], &["configmaps"])]),
        };
        let binding = RoleBinding {
            metadata: ObjectMeta {
                name: Some("b".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: "editor".into(),
            },
            subjects: Some(vec![Subject {
                kind: "User".into(),
                name: "bob".into(),
                ..Default::default()
            }]),
        };
        let idx = PolicyIndex::build([&role], [], [&binding], []);
        let bob = UserInfo::new("bob");
        assert!(
            confirm_no_escalation(&idx, &bob, "ns", &[r(&["get"], &[""], &["configmaps"])]).is_ok()
        );
        // Held only in "ns", not elsewhere or cluster-wide.
        assert!(
            confirm_no_escalation(&idx, &bob, "other", &[r(&["get"], &[""], &["configmaps"])])
                .is_err()
        );
        let err =
            confirm_no_escalation(&idx, &bob, "ns", &[r(&["delete"], &[""], &["configmaps"])])
                .unwrap_err();
        assert!(
            err.ends_with("{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"delete\"]}"),
            "{err}"
        );
    }

    #[test]
    fn special_verbs() {
        let masters = UserInfo::new("root").with_groups([SYSTEM_MASTERS]);
        assert!(escalation_allowed(&masters));
        assert!(!escalation_allowed(&UserInfo::new("root")));

        let a =
            escalate_attributes(&masters, "rbac.authorization.k8s.io", "roles", "ns", "r").unwrap();
        assert_eq!(
            (a.verb.as_str(), a.api_version.as_str(), a.name.as_str()),
            ("escalate", "*", "r")
        );
        assert!(
            escalate_attributes(
                &masters,
                "rbac.authorization.k8s.io",
                "rolebindings",
                "ns",
                "r"
            )
            .is_none()
        );

        let rr = RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "admin".into(),
        };
        let b = bind_attributes(&masters, &rr, "ns").unwrap();
        assert_eq!(
            (
                b.verb.as_str(),
                b.resource.as_str(),
                b.name.as_str(),
                b.namespace.as_str()
            ),
            ("bind", "clusterroles", "admin", "ns")
        );
        let bad = RoleRef {
            kind: "Other".into(),
            ..rr
        };
        assert!(bind_attributes(&masters, &bad, "").is_none());
    }
}
