//! The RBAC authorizer of one logical workspace, precomputed.
//!
//! Upstream's `DefaultRuleResolver.VisitRulesFor` lists *every*
//! ClusterRoleBinding and every RoleBinding of the request's namespace on
//! each request and tests each subject against the user. [`PolicyIndex`]
//! turns that inside out once, when the policy changes: every binding is
//! resolved to the rules of the role it references (ClusterRoles after
//! [aggregation](super::aggregation)) and filed under each of its subjects'
//! keys, so a request costs a handful of hash lookups — the user name and
//! each group, cluster-wide and in the request's namespace — plus matching
//! the rules of the bindings found, independent of how many bindings the
//! workspace has.
//!
//! Subjects, as upstream `appliesToUser`:
//! - `User` is keyed by its name, `Group` by its name (a user matches
//!   through any of its groups, which is how bindings to
//!   `system:authenticated`, `system:serviceaccounts` or
//!   `system:serviceaccounts:<ns>` apply);
//! - `ServiceAccount` is keyed by the user name it authenticates as,
//!   `system:serviceaccount:<ns>:<name>`, where `<ns>` is the subject's
//!   namespace or, in a RoleBinding only, the binding's namespace when the
//!   subject has none. A ClusterRoleBinding's namespace-less ServiceAccount
//!   subject matches nobody;
//! - any other kind matches nobody; `apiGroup` is not consulted.
//!
//! Role references, as upstream `GetRoleReferenceRules`: a RoleBinding's
//! `Role` is looked up in the binding's namespace, a ClusterRoleBinding's
//! `Role` in the empty namespace (so never found), `ClusterRole` by name.
//! A binding whose role is missing grants nothing but is remembered with
//! upstream's error text (`clusterrole.rbac.authorization.k8s.io "x" not
//! found`), which surfaces as the reason of a refusal (`RBAC: ...`), as the
//! `evaluationError` of rule reviews, and in escalation messages.
//!
//! Decisions: RBAC only ever allows or has no opinion ([`Decision`]); with a
//! single authorizer, no opinion means 403. The allow reason names the
//! binding and its first subject that applies (`RBAC: allowed by
//! ClusterRoleBinding "b" of ClusterRole "r" to Group "g"`); these strings
//! are built at index time so allowing costs no formatting. When several
//! bindings allow a request, which one is named is unspecified (upstream it
//! is informer order). Rules are listed ([`PolicyIndex::rules_for`]) in
//! binding order: ClusterRoleBindings in the order given, then RoleBindings
//! in the order given, each binding once.
//!
//! Not here: the `system:masters` bypass, which upstream is a separate
//! authorizer in front of RBAC (see [`SYSTEM_MASTERS`]).
//!
//! [`SYSTEM_MASTERS`]: super::attributes::SYSTEM_MASTERS

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::authorization::v1::{NonResourceRule, ResourceRule};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::aggregation::effective_cluster_role_rules;
use super::attributes::{Attributes, SERVICE_ACCOUNT_USERNAME_PREFIX, UserInfo};
use super::message::go_quote;
use super::rules::{list, rule_allows};

/// Subject kinds (`rbacv1.UserKind`, ...).
pub const USER_KIND: &str = "User";
pub const GROUP_KIND: &str = "Group";
pub const SERVICE_ACCOUNT_KIND: &str = "ServiceAccount";

/// What RBAC says about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A rule allows it; the reason names the binding (`RBAC: allowed by
    /// ...`) and is shared, not copied, per request.
    Allow { reason: Arc<str> },
    /// No rule allows it. RBAC never denies outright, so this is upstream's
    /// `DecisionNoOpinion`; the server turns it into 403 with
    /// [`forbidden_status`](super::forbidden_status). The reason is empty
    /// unless bindings that apply to the user reference missing roles
    /// (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`).
    NoOpinion { reason: String },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow { reason } => reason,
            Decision::NoOpinion { reason } => reason,
        }
    }
}

/// Everything a SelfSubjectRulesReview reports (`status` of
/// `authorization.k8s.io/v1 SelfSubjectRulesReview`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RulesReview {
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
    /// Always false: upstream's RBAC rule resolver enumerates its rules
    /// fully and reports missing roles through `evaluation_error` only (other
    /// authorizers, such as webhooks, are what set `incomplete`).
    pub incomplete: bool,
    /// Upstream's aggregated resolution error text (`clusterrole.rbac...
    /// "x" not found`, or `[a, b]` for several); empty when every binding
    /// that applies resolved.
    pub evaluation_error: String,
}

/// How one subject of a binding recognizes a user.
#[derive(Clone, Debug)]
enum SubjectMatch {
    /// The user's name (User subjects, and ServiceAccount subjects by their
    /// `system:serviceaccount:...` user name).
    User(String),
    /// One of the user's groups.
    Group(String),
    /// Nobody (unknown kind, namespace-less ServiceAccount of a
    /// ClusterRoleBinding).
    Never,
}

impl SubjectMatch {
    fn applies_to(&self, user: &UserInfo) -> bool {
        match self {
            SubjectMatch::User(name) => user.name == *name,
            SubjectMatch::Group(group) => user.in_group(group),
            SubjectMatch::Never => false,
        }
    }
}

/// One binding, resolved.
#[derive(Debug)]
struct Binding {
    /// The referenced role's rules, or upstream's text for why they could not
    /// be resolved.
    rules: Result<Arc<[PolicyRule]>, Arc<str>>,
    /// Each subject in binding order, with the allow reason naming it.
    subjects: Vec<(SubjectMatch, Arc<str>)>,
}

impl Binding {
    /// The allow reason for `user`: upstream names the first subject (in the
    /// binding's order) that applies.
    fn reason_for(&self, user: &UserInfo) -> Arc<str> {
        self.subjects
            .iter()
            .find(|(m, _)| m.applies_to(user))
            .or(self.subjects.first())
            .map(|(_, reason)| reason.clone())
            .unwrap_or_else(|| Arc::from("RBAC: allowed"))
    }
}

/// Bindings (indices into [`PolicyIndex::bindings`]) by subject key, for one
/// scope (cluster-wide, or one namespace).
#[derive(Debug, Default)]
struct Scope {
    users: HashMap<String, Vec<u32>>,
    groups: HashMap<String, Vec<u32>>,
}

impl Scope {
    fn add(&mut self, key: &SubjectMatch, binding: u32) {
        let (map, name) = match key {
            SubjectMatch::User(n) => (&mut self.users, n),
            SubjectMatch::Group(n) => (&mut self.groups, n),
            SubjectMatch::Never => return,
        };
        let entry = map.entry(name.clone()).or_default();
        // A binding listing the same subject twice is filed once.
        if entry.last() != Some(&binding) {
            entry.push(binding);
        }
    }

    /// Bindings filed under the user's name or any of its groups, possibly
    /// with repeats (a binding naming both the user and one of its groups).
    fn candidates<'s>(&'s self, user: &'s UserInfo) -> impl Iterator<Item = u32> + 's {
        let by_name = self.users.get(user.name.as_str()).into_iter().flatten();
        let by_group = user
            .groups
            .iter()
            .filter_map(|g| self.groups.get(g.as_str()))
            .flatten();
        by_name.chain(by_group).copied()
    }
}

/// The precomputed RBAC policy of one workspace. Immutable; rebuild it when
/// any Role, ClusterRole or binding changes and swap it in.
#[derive(Debug, Default)]
pub struct PolicyIndex {
    /// ClusterRoleBindings in input order, then RoleBindings in input order.
    bindings: Vec<Binding>,
    cluster: Scope,
    namespaces: HashMap<String, Scope>,
    /// Effective (aggregated) rules of every ClusterRole.
    cluster_roles: HashMap<String, Arc<[PolicyRule]>>,
    /// Rules of every Role, by namespace then name.
    roles: HashMap<String, HashMap<String, Arc<[PolicyRule]>>>,
}

fn not_found(resource: &str, name: &str) -> Arc<str> {
    // The listers' `NewNotFound(rbacv1.Resource("role"|"clusterrole"), name)`.
    Arc::from(format!(
        "{resource}.rbac.authorization.k8s.io {} not found",
        go_quote(name)
    ))
}

/// `describeSubject`: `User "alice"`, `ServiceAccount "sa/ns"`.
fn describe_subject(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == SERVICE_ACCOUNT_KIND {
        let ns = subject
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(binding_namespace);
        format!(
            "{} {}",
            subject.kind,
            go_quote(&format!("{}/{ns}", subject.name))
        )
    } else {
        format!("{} {}", subject.kind, go_quote(&subject.name))
    }
}

/// The key a subject is filed under; `binding_namespace` is empty for
/// ClusterRoleBindings.
fn subject_match(subject: &Subject, binding_namespace: &str) -> SubjectMatch {
    match subject.kind.as_str() {
        USER_KIND => SubjectMatch::User(subject.name.clone()),
        GROUP_KIND => SubjectMatch::Group(subject.name.clone()),
        SERVICE_ACCOUNT_KIND => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(binding_namespace);
            if ns.is_empty() {
                SubjectMatch::Never
            } else {
                SubjectMatch::User(format!(
                    "{SERVICE_ACCOUNT_USERNAME_PREFIX}{ns}:{}",
                    subject.name
                ))
            }
        }
        _ => SubjectMatch::Never,
    }
}

/// Upstream `utilerrors.NewAggregate(errs).Error()`: the only message, or
/// the distinct messages in order as `[a, b]`.
fn aggregate_errors(errors: &[&str]) -> String {
    let mut distinct: Vec<&str> = Vec::new();
    for e in errors {
        if !distinct.contains(e) {
            distinct.push(e);
        }
    }
    match distinct.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

impl PolicyIndex {
    /// Builds the index from all RBAC objects of one workspace.
    pub fn build<'a>(
        roles: impl IntoIterator<Item = &'a Role>,
        cluster_roles: impl IntoIterator<Item = &'a ClusterRole>,
        role_bindings: impl IntoIterator<Item = &'a RoleBinding>,
        cluster_role_bindings: impl IntoIterator<Item = &'a ClusterRoleBinding>,
    ) -> PolicyIndex {
        let mut index = PolicyIndex {
            cluster_roles: effective_cluster_role_rules(cluster_roles)
                .into_iter()
                .map(|(name, rules)| (name, Arc::from(rules)))
                .collect(),
            ..Default::default()
        };
        for role in roles {
            let ns = role.metadata.namespace.clone().unwrap_or_default();
            let name = role.metadata.name.clone().unwrap_or_default();
            let rules: Arc<[PolicyRule]> = Arc::from(role.rules.clone().unwrap_or_default());
            index.roles.entry(ns).or_default().insert(name, rules);
        }

        for crb in cluster_role_bindings {
            let name = crb.metadata.name.as_deref().unwrap_or("");
            let rules = index.resolve(&crb.role_ref, "");
            let subjects = crb
                .subjects
                .iter()
                .flatten()
                .map(|s| {
                    let reason = format!(
                        "RBAC: allowed by ClusterRoleBinding {} of {} {} to {}",
                        go_quote(name),
                        crb.role_ref.kind,
                        go_quote(&crb.role_ref.name),
                        describe_subject(s, "")
                    );
                    (subject_match(s, ""), Arc::from(reason))
                })
                .collect();
            let id = index.push(Binding { rules, subjects });
            for (key, _) in &index.bindings[id as usize].subjects {
                index.cluster.add(key, id);
            }
        }

        for rb in role_bindings {
            let ns = rb.metadata.namespace.as_deref().unwrap_or("");
            // Upstream only lists RoleBindings of a non-empty request
            // namespace, so a namespace-less one can never apply.
            if ns.is_empty() {
                continue;
            }
            let name = rb.metadata.name.as_deref().unwrap_or("");
            let rules = index.resolve(&rb.role_ref, ns);
            let subjects = rb
                .subjects
                .iter()
                .flatten()
                .map(|s| {
                    let reason = format!(
                        "RBAC: allowed by RoleBinding {} of {} {} to {}",
                        go_quote(&format!("{name}/{ns}")),
                        rb.role_ref.kind,
                        go_quote(&rb.role_ref.name),
                        describe_subject(s, ns)
                    );
                    (subject_match(s, ns), Arc::from(reason))
                })
                .collect();
            let id = index.push(Binding { rules, subjects });
            let scope = index.namespaces.entry(ns.to_string()).or_default();
            for (key, _) in &index.bindings[id as usize].subjects {
                scope.add(key, id);
            }
        }
        index
    }

    fn push(&mut self, binding: Binding) -> u32 {
        let id = u32::try_from(self.bindings.len()).expect("fewer than 2^32 bindings");
        self.bindings.push(binding);
        id
    }

    /// `GetRoleReferenceRules`, with shared rule lists.
    fn resolve(
        &self,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> Result<Arc<[PolicyRule]>, Arc<str>> {
        match role_ref.kind.as_str() {
            "Role" => self
                .roles
                .get(binding_namespace)
                .and_then(|m| m.get(&role_ref.name))
                .cloned()
                .ok_or_else(|| not_found("role", &role_ref.name)),
            "ClusterRole" => self
                .cluster_roles
                .get(&role_ref.name)
                .cloned()
                .ok_or_else(|| not_found("clusterrole", &role_ref.name)),
            other => Err(Arc::from(format!(
                "unsupported role reference kind: {}",
                go_quote(other)
            ))),
        }
    }

    /// The rules a binding with this `roleRef` in `binding_namespace` (empty
    /// for a ClusterRoleBinding) grants, or upstream's error text; what the
    /// escalation check of a binding write compares against.
    pub fn role_ref_rules(
        &self,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> Result<Vec<PolicyRule>, String> {
        self.resolve(role_ref, binding_namespace)
            .map(|r| r.to_vec())
            .map_err(|e| e.to_string())
    }

    /// The effective (aggregated) rules of a ClusterRole.
    pub fn cluster_role_rules(&self, name: &str) -> Option<&[PolicyRule]> {
        self.cluster_roles.get(name).map(|r| &**r)
    }

    /// Number of bindings indexed (ClusterRoleBindings plus RoleBindings that
    /// have a namespace).
    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }

    /// The scopes a request in `namespace` consults: cluster-wide, then the
    /// namespace's (if it has any bindings).
    fn scopes<'s>(&'s self, namespace: &str) -> impl Iterator<Item = &'s Scope> + 's {
        let ns = (!namespace.is_empty())
            .then(|| self.namespaces.get(namespace))
            .flatten();
        std::iter::once(&self.cluster).chain(ns)
    }

    /// Authorizes one request (upstream `RBACAuthorizer.Authorize`).
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        let user = &attrs.user;
        let mut unresolved = false;
        for scope in self.scopes(&attrs.namespace) {
            for id in scope.candidates(user) {
                let binding = &self.bindings[id as usize];
                match &binding.rules {
                    Ok(rules) => {
                        if rules.iter().any(|r| rule_allows(attrs, r)) {
                            return Decision::Allow {
                                reason: binding.reason_for(user),
                            };
                        }
                    }
                    Err(_) => unresolved = true,
                }
            }
        }
        // Denials are the slow path only when some role is missing: then the
        // errors are gathered again, in binding order, for the reason.
        let reason = if unresolved {
            let (_, errors) = self.collect(user, &attrs.namespace);
            format!("RBAC: {}", aggregate_errors(&errors))
        } else {
            String::new()
        };
        Decision::NoOpinion { reason }
    }

    /// Every binding that applies to `user` in `namespace`, each once, in
    /// binding order; split into resolved rule lists and error texts.
    fn collect<'s>(
        &'s self,
        user: &UserInfo,
        namespace: &str,
    ) -> (Vec<&'s [PolicyRule]>, Vec<&'s str>) {
        let mut ids: Vec<u32> = self
            .scopes(namespace)
            .flat_map(|scope| scope.candidates(user))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for id in ids {
            match &self.bindings[id as usize].rules {
                Ok(r) => rules.push(&**r),
                Err(e) => errors.push(&**e),
            }
        }
        (rules, errors)
    }

    /// Upstream `RulesFor`: every rule that applies to `user` in `namespace`
    /// (cluster-wide rules included), and the aggregated resolution error if
    /// some binding's role is missing.
    pub fn policy_rules(
        &self,
        user: &UserInfo,
        namespace: &str,
    ) -> (Vec<PolicyRule>, Option<String>) {
        let (rules, errors) = self.collect(user, namespace);
        let rules = rules.into_iter().flatten().cloned().collect();
        let error = (!errors.is_empty()).then(|| aggregate_errors(&errors));
        (rules, error)
    }

    /// What a SelfSubjectRulesReview reports for `user` in `namespace`.
    pub fn rules_review(&self, user: &UserInfo, namespace: &str) -> RulesReview {
        let (rules, error) = self.policy_rules(user, namespace);
        let mut review = RulesReview::default();
        let some = |v: &Option<Vec<String>>| {
            let l = list(v);
            (!l.is_empty()).then(|| l.to_vec())
        };
        // As upstream, a rule naming both resources and URLs (invalid, but
        // storable in old clusters) contributes to both lists.
        for rule in rules {
            if !list(&rule.resources).is_empty() {
                review.resource_rules.push(ResourceRule {
                    verbs: rule.verbs.clone(),
                    api_groups: some(&rule.api_groups),
                    resources: some(&rule.resources),
                    resource_names: some(&rule.resource_names),
                });
            }
            if !list(&rule.non_resource_urls).is_empty() {
                review.non_resource_rules.push(NonResourceRule {
                    verbs: rule.verbs.clone(),
                    non_resource_urls: some(&rule.non_resource_urls),
                });
            }
        }
        review.evaluation_error = error.unwrap_or_default();
        review
    }

    /// [`rules_review`](Self::rules_review) as `(resourceRules,
    /// nonResourceRules, incomplete)`, where `incomplete` means "some binding
    /// that applies references a missing role, so the lists may be shorter
    /// than its author intended" (i.e. `evaluationError` is non-empty). To
    /// fill a SelfSubjectRulesReview exactly as upstream does, use
    /// [`rules_review`](Self::rules_review), which reports that case as
    /// `incomplete: false` plus the error text.
    pub fn rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
    ) -> (Vec<ResourceRule>, Vec<NonResourceRule>, bool) {
        let r = self.rules_review(user, namespace);
        let incomplete = !r.evaluation_error.is_empty();
        (r.resource_rules, r.non_resource_rules, incomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::attributes::{
        ALL_AUTHENTICATED, service_account_groups, service_account_username,
    };
    use crate::rbac::rules::new_rule;
    use k8s_openapi::api::rbac::v1::AggregationRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

    fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(Into::into),
            ..Default::default()
        }
    }

    fn role(ns: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
        Role {
            metadata: meta(Some(ns), name),
            rules: Some(rules),
        }
    }

    fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: meta(None, name),
            rules: Some(rules),
            aggregation_rule: None,
        }
    }

    fn subject(kind: &str, name: &str, ns: Option<&str>) -> Subject {
        Subject {
            api_group: (kind != SERVICE_ACCOUNT_KIND).then(|| "rbac.authorization.k8s.io".into()),
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(Into::into),
        }
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn rb(ns: &str, name: &str, kind: &str, role: &str, subjects: Vec<Subject>) -> RoleBinding {
        RoleBinding {
            metadata: meta(Some(ns), name),
            role_ref: role_ref(kind, role),
            subjects: Some(subjects),
        }
    }

    fn crb(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: meta(None, name),
            role_ref: role_ref("ClusterRole", role),
            subjects: Some(subjects),
        }
    }

    fn req(user: &UserInfo, verb: &str, ns: &str, resource: &str, name: &str) -> Attributes {
        Attributes::resource(user.clone(), verb, ns, "", "v1", resource, "", name)
    }

    fn read(resources: &[&str]) -> PolicyRule {
        new_rule(&["get", "list", "watch"])
            .groups(&[""])
            .resources(resources)
            .build()
    }

    struct Fixture {
        roles: Vec<Role>,
        cluster_roles: Vec<ClusterRole>,
        rbs: Vec<RoleBinding>,
        crbs: Vec<ClusterRoleBinding>,
    }

    impl Fixture {
        fn index(&self) -> PolicyIndex {
            PolicyIndex::build(&self.roles, &self.cluster_roles, &self.rbs, &self.crbs)
        }
    }

    fn fixture() -> Fixture {
        Fixture {
            roles: vec![
                role("team-a", "cm-reader", vec![read(&["configmaps"])]),
                role(
                    "team-b",
                    "cm-reader",
                    vec![read(&["configmaps", "secrets"])],
                ),
            ],
            cluster_roles: vec![
                cluster_role("secret-reader", vec![read(&["secrets"])]),
                cluster_role(
                    "ns-reader",
                    vec![
                        read(&["namespaces"]),
                        new_rule(&["get"]).urls(&["/healthz"]).build(),
                    ],
                ),
            ],
            rbs: vec![
                rb(
                    "team-a",
                    "alice-cm",
                    "Role",
                    "cm-reader",
                    vec![subject(USER_KIND, "alice", None)],
                ),
                rb(
                    "team-a",
                    "devs-secrets",
                    "ClusterRole",
                    "secret-reader",
                    vec![subject(GROUP_KIND, "devs", None)],
                ),
                rb(
                    "team-a",
                    "sa-local",
                    "Role",
                    "cm-reader",
                    vec![subject(SERVICE_ACCOUNT_KIND, "builder", None)],
                ),
                rb(
                    "team-b",
                    "sa-remote",
                    "Role",
                    "cm-reader",
                    vec![subject(SERVICE_ACCOUNT_KIND, "builder", Some("team-a"))],
                ),
            ],
            crbs: vec![crb(
                "everyone-ns",
                "ns-reader",
                vec![subject(GROUP_KIND, ALL_AUTHENTICATED, None)],
            )],
        }
    }

    #[test]
    fn users_in_their_namespace_only() {
        let idx = fixture().index();
        let alice = UserInfo::new("alice");
        let d = idx.authorize(&req(&alice, "list", "team-a", "configmaps", ""));
        assert_eq!(
            d,
            Decision::Allow {
                reason: Arc::from(
                    r#"RBAC: allowed by RoleBinding "alice-cm/team-a" of Role "cm-reader" to User "alice""#
                )
            }
        );
        assert!(
            !idx.authorize(&req(&alice, "list", "team-b", "configmaps", ""))
                .is_allowed()
        );
        assert!(
            !idx.authorize(&req(&alice, "list", "", "configmaps", ""))
                .is_allowed()
        );
        assert!(
            !idx.authorize(&req(&alice, "delete", "team-a", "configmaps", "x"))
                .is_allowed()
        );
        assert!(
            !idx.authorize(&req(&alice, "get", "team-a", "secrets", "x"))
                .is_allowed()
        );
        let denied = idx.authorize(&req(&alice, "get", "team-a", "secrets", "x"));
        assert_eq!(
            denied,
            Decision::NoOpinion {
                reason: String::new()
            }
        );
        assert!(
            !idx.authorize(&req(
                &UserInfo::new("bob"),
                "list",
                "team-a",
                "configmaps",
                ""
            ))
            .is_allowed()
        );
    }

    #[test]
    fn groups_and_cluster_bindings() {
        let idx = fixture().index();
        let dev = UserInfo::new("carol").with_groups(["devs", ALL_AUTHENTICATED]);
        let d = idx.authorize(&req(&dev, "get", "team-a", "secrets", "s"));
        assert_eq!(
            d.reason(),
            r#"RBAC: allowed by RoleBinding "devs-secrets/team-a" of ClusterRole "secret-reader" to Group "devs""#
        );
        // A ClusterRole bound by a RoleBinding is confined to that namespace.
        assert!(
            !idx.authorize(&req(&dev, "get", "team-b", "secrets", "s"))
                .is_allowed()
        );
        assert!(
            !idx.authorize(&req(&dev, "get", "", "secrets", "s"))
                .is_allowed()
        );
        // ClusterRoleBindings apply cluster-wide and in every namespace.
        let ns = Attributes::resource(dev.clone(), "get", "", "", "v1", "namespaces", "", "team-a");
        assert_eq!(
            idx.authorize(&ns).reason(),
            r#"RBAC: allowed by ClusterRoleBinding "everyone-ns" of ClusterRole "ns-reader" to Group "system:authenticated""#
        );
        assert!(
            idx.authorize(&req(&dev, "list", "team-b", "namespaces", ""))
                .is_allowed()
        );
        let health = Attributes::non_resource(dev.clone(), "get", "/healthz");
        assert!(idx.authorize(&health).is_allowed());
        let health = Attributes::non_resource(UserInfo::new("anon"), "get", "/healthz");
        assert!(!idx.authorize(&health).is_allowed());
    }

    #[test]
    fn service_accounts() {
        let idx = fixture().index();
        let mut sa = UserInfo::new(service_account_username("team-a", "builder"));
        sa.groups = service_account_groups("team-a").to_vec();
        // Namespace-less subject in a RoleBinding: the binding's namespace.
        let d = idx.authorize(&req(&sa, "get", "team-a", "configmaps", "c"));
        assert_eq!(
            d.reason(),
            r#"RBAC: allowed by RoleBinding "sa-local/team-a" of Role "cm-reader" to ServiceAccount "builder/team-a""#
        );
        // Explicit namespace: team-a's SA gets team-b's role in team-b.
        let d = idx.authorize(&req(&sa, "get", "team-b", "secrets", "s"));
        assert_eq!(
            d.reason(),
            r#"RBAC: allowed by RoleBinding "sa-remote/team-b" of Role "cm-reader" to ServiceAccount "builder/team-a""#
        );
        // Same SA name in another namespace is another user.
        let other = UserInfo::new(service_account_username("team-b", "builder"));
        assert!(
            !idx.authorize(&req(&other, "get", "team-b", "secrets", "s"))
                .is_allowed()
        );
        assert!(
            !idx.authorize(&req(&other, "get", "team-a", "configmaps", "c"))
                .is_allowed()
        );
    }

    #[test]
    fn service_account_groups_and_cluster_subjects() {
        let f = Fixture {
            roles: vec![],
            cluster_roles: vec![cluster_role("cm", vec![read(&["configmaps"])])],
            rbs: vec![rb(
                "x",
                "all-sas-of-y",
                "ClusterRole",
                "cm",
                vec![subject(GROUP_KIND, "system:serviceaccounts:y", None)],
            )],
            crbs: vec![
                crb(
                    "all-sas",
                    "cm",
                    vec![subject(GROUP_KIND, "system:serviceaccounts", None)],
                ),
                // A namespace-less SA subject in a ClusterRoleBinding matches nobody.
                crb(
                    "broken-sa",
                    "cm",
                    vec![subject(SERVICE_ACCOUNT_KIND, "default", None)],
                ),
                crb(
                    "sa",
                    "cm",
                    vec![subject(SERVICE_ACCOUNT_KIND, "default", Some("z"))],
                ),
            ],
        };
        let idx = f.index();
        let mut sa = UserInfo::new(service_account_username("y", "default"));
        sa.groups = service_account_groups("y").to_vec();
        let d = idx.authorize(&req(&sa, "list", "x", "configmaps", ""));
        assert_eq!(
            d.reason(),
            r#"RBAC: allowed by ClusterRoleBinding "all-sas" of ClusterRole "cm" to Group "system:serviceaccounts""#
        );
        let mut no_groups = sa.clone();
        no_groups.groups.clear();
        assert!(
            !idx.authorize(&req(&no_groups, "list", "x", "configmaps", ""))
                .is_allowed()
        );
        no_groups.groups = vec!["system:serviceaccounts:y".into()];
        assert!(
            idx.authorize(&req(&no_groups, "list", "x", "configmaps", ""))
                .is_allowed()
        );
        assert!(
            !idx.authorize(&req(&no_groups, "list", "y", "configmaps", ""))
                .is_allowed()
        );
        let z = UserInfo::new("system:serviceaccount:z:default");
        assert_eq!(
            idx.authorize(&req(&z, "list", "", "configmaps", ""))
                .reason(),
            r#"RBAC: allowed by ClusterRoleBinding "sa" of ClusterRole "cm" to ServiceAccount "default/z""#
        );
        // A User subject spelled as the SA user name is the same identity.
        let f2 = Fixture {
            crbs: vec![crb(
                "u",
                "cm",
                vec![subject(USER_KIND, "system:serviceaccount:z:default", None)],
            )],
            ..f
        };
        assert!(
            f2.index()
                .authorize(&req(&z, "list", "", "configmaps", ""))
                .is_allowed()
        );
    }

    #[test]
    fn reason_names_first_applicable_subject() {
        let f = Fixture {
            roles: vec![],
            cluster_roles: vec![cluster_role("cm", vec![read(&["configmaps"])])],
            rbs: vec![],
            crbs: vec![crb(
                "b",
                "cm",
                vec![
                    subject(USER_KIND, "someone-else", None),
                    subject(GROUP_KIND, "g", None),
                    subject(USER_KIND, "dave", None),
                    subject("Robot", "dave", None),
                ],
            )],
        };
        let idx = f.index();
        let dave = UserInfo::new("dave").with_groups(["g"]);
        assert_eq!(
            idx.authorize(&req(&dave, "get", "", "configmaps", "c"))
                .reason(),
            r#"RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "cm" to Group "g""#
        );
        let (rules, _, _) = idx.rules_for(&dave, "ns");
        assert_eq!(rules.len(), 1, "a binding applying twice is listed once");
    }

    #[test]
    fn missing_roles_are_ignored_and_reported() {
        let f = Fixture {
            roles: vec![role("ns", "present", vec![read(&["configmaps"])])],
            cluster_roles: vec![],
            rbs: vec![
                rb(
                    "ns",
                    "gone",
                    "Role",
                    "absent",
                    vec![subject(USER_KIND, "eve", None)],
                ),
                rb(
                    "ns",
                    "ok",
                    "Role",
                    "present",
                    vec![subject(USER_KIND, "eve", None)],
                ),
                // A Role of another namespace is not visible.
                rb(
                    "other",
                    "cross",
                    "Role",
                    "present",
                    vec![subject(USER_KIND, "eve", None)],
                ),
            ],
            crbs: vec![
                crb("gone-cr", "nope", vec![subject(USER_KIND, "eve", None)]),
                crb(
                    "gone-cr-again",
                    "nope",
                    vec![subject(USER_KIND, "eve", None)],
                ),
                ClusterRoleBinding {
                    role_ref: role_ref("Role", "present"),
                    ..crb("crb-to-role", "x", vec![subject(USER_KIND, "eve", None)])
                },
                ClusterRoleBinding {
                    role_ref: role_ref("Thing", "t"),
                    ..crb("weird", "x", vec![subject(USER_KIND, "eve", None)])
                },
                crb(
                    "other-user",
                    "nope2",
                    vec![subject(USER_KIND, "frank", None)],
                ),
            ],
        };
        let idx = f.index();
        let eve = UserInfo::new("eve");
        assert!(
            idx.authorize(&req(&eve, "get", "ns", "configmaps", "c"))
                .is_allowed()
        );
        let d = idx.authorize(&req(&eve, "get", "ns", "secrets", "s"));
        assert_eq!(
            d,
            Decision::NoOpinion {
                reason: r#"RBAC: [clusterrole.rbac.authorization.k8s.io "nope" not found, role.rbac.authorization.k8s.io "present" not found, unsupported role reference kind: "Thing", role.rbac.authorization.k8s.io "absent" not found]"#.into()
            }
        );
        let d = idx.authorize(&req(&eve, "get", "other", "configmaps", "c"));
        assert!(!d.is_allowed());
        let d = idx.authorize(&req(&UserInfo::new("frank"), "get", "", "secrets", "s"));
        assert_eq!(
            d.reason(),
            r#"RBAC: clusterrole.rbac.authorization.k8s.io "nope2" not found"#
        );

        let review = idx.rules_review(&eve, "ns");
        assert!(!review.incomplete, "upstream RBAC never sets incomplete");
        assert!(idx.rules_for(&eve, "ns").2);
        assert_eq!(review.resource_rules.len(), 1);
        assert!(review.evaluation_error.starts_with("[clusterrole.rbac"));
        let (_, _, incomplete) = idx.rules_for(&UserInfo::new("nobody"), "ns");
        assert!(!incomplete);
        assert_eq!(
            idx.role_ref_rules(&role_ref("ClusterRole", "nope"), "")
                .unwrap_err(),
            r#"clusterrole.rbac.authorization.k8s.io "nope" not found"#
        );
        assert_eq!(
            idx.role_ref_rules(&role_ref("Role", "present"), "ns")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn rules_review_splits_and_orders() {
        let idx = fixture().index();
        let dev = UserInfo::new("alice").with_groups(["devs", ALL_AUTHENTICATED]);
        let (res, non_res, incomplete) = idx.rules_for(&dev, "team-a");
        assert!(!incomplete);
        // ClusterRoleBindings first, then RoleBindings in input order.
        let resources: Vec<_> = res.iter().map(|r| r.resources.clone().unwrap()).collect();
        assert_eq!(
            resources,
            vec![
                vec!["namespaces".to_string()],
                vec!["configmaps".to_string()],
                vec!["secrets".to_string()],
            ]
        );
        assert_eq!(res[0].api_groups, Some(vec![String::new()]));
        assert_eq!(res[0].resource_names, None);
        assert_eq!(non_res.len(), 1);
        assert_eq!(
            non_res[0].non_resource_urls,
            Some(vec!["/healthz".to_string()])
        );
        assert_eq!(non_res[0].verbs, vec!["get".to_string()]);
        // Without a namespace only cluster-wide rules apply.
        let (res, _, _) = idx.rules_for(&dev, "");
        assert_eq!(res.len(), 1);
        let (rules, err) = idx.policy_rules(&dev, "team-a");
        assert_eq!(rules.len(), 4);
        assert_eq!(err, None);
    }

    #[test]
    fn aggregated_cluster_roles_are_resolved() {
        let mut agg = cluster_role("agg", vec![]);
        agg.rules = None;
        agg.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some([("to-agg".to_string(), "true".to_string())].into()),
                match_expressions: None,
            }]),
        });
        let mut part = cluster_role("part", vec![read(&["leases"])]);
        part.metadata.labels = Some([("to-agg".to_string(), "true".to_string())].into());
        let f = Fixture {
            roles: vec![],
            cluster_roles: vec![agg, part],
            rbs: vec![],
            crbs: vec![crb("b", "agg", vec![subject(USER_KIND, "u", None)])],
        };
        let idx = f.index();
        assert!(
            idx.authorize(&req(&UserInfo::new("u"), "list", "ns", "leases", ""))
                .is_allowed()
        );
        assert_eq!(
            idx.cluster_role_rules("agg").unwrap(),
            &[read(&["leases"])][..]
        );
        assert_eq!(idx.binding_count(), 1);
    }

    #[test]
    fn empty_index_allows_nothing() {
        let idx = PolicyIndex::default();
        let d = idx.authorize(&req(&UserInfo::new("u"), "get", "ns", "pods", "p"));
        assert_eq!(
            d,
            Decision::NoOpinion {
                reason: String::new()
            }
        );
        assert_eq!(
            idx.rules_review(&UserInfo::new("u"), "ns"),
            RulesReview::default()
        );
    }

    #[test]
    fn aggregate_error_text() {
        assert_eq!(aggregate_errors(&[]), "");
        assert_eq!(aggregate_errors(&["a"]), "a");
        assert_eq!(aggregate_errors(&["a", "a"]), "a");
        assert_eq!(aggregate_errors(&["a", "b", "a"]), "[a, b]");
    }
}
