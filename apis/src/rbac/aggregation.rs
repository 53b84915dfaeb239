//! ClusterRole aggregation (`aggregationRule.clusterRoleSelectors`).
//!
//! Upstream, the `clusterrole-aggregation` controller rewrites the `rules`
//! of every ClusterRole that has an `aggregationRule`: for each selector in
//! order, the ClusterRoles matching it sorted by name (skipping the
//! aggregating role itself), every rule not already present (semantic
//! equality: an absent list equals an empty one) is appended. It re-runs
//! whenever any ClusterRole changes, so chains (`admin` selects `edit`, which
//! selects `view`) converge after a few passes.
//!
//! Here the same computation runs to its fixed point in one call, so the
//! authorizer never sees a half-aggregated state. Aggregating roles start
//! from no rules (not from whatever their stored `rules` say): aggregation
//! only ever adds rules, so iterating from empty reaches the least fixed
//! point, which is what upstream converges to from a fresh cluster and which
//! keeps a cycle (A selects B selects A) from preserving rules nobody grants
//! any more. A role with an `aggregationRule` but no selectors ends up with
//! no rules, as upstream.
//!
//! Selectors are evaluated with [`crate::labels::from_label_selector`]
//! (upstream `LabelSelectorAsSelector`); an invalid one (which validation
//! rejects on write anyway) selects nothing rather than failing the whole
//! policy, where upstream's controller would retry forever and leave the
//! role's rules stale.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::rules::list;
use crate::labels::{Selector, from_label_selector};

/// Upper bound on passes; a well-formed policy converges in (longest
/// aggregation chain + 1) passes. Only a pathological cycle whose rule
/// *order* keeps flipping could reach it, and then the last pass's rules
/// (already the full set) are used.
const MAX_PASSES: usize = 64;

/// Semantic equality of two rules (`equality.Semantic.DeepEqual`), under
/// which an absent list and an empty list are the same.
pub fn rules_equal(a: &PolicyRule, b: &PolicyRule) -> bool {
    a.verbs == b.verbs
        && list(&a.api_groups) == list(&b.api_groups)
        && list(&a.resources) == list(&b.resources)
        && list(&a.resource_names) == list(&b.resource_names)
        && list(&a.non_resource_urls) == list(&b.non_resource_urls)
}

/// Converts a typed `LabelSelector` (upstream `LabelSelectorAsSelector`).
/// Invalid selectors select nothing.
pub fn compile_selector(selector: &LabelSelector) -> Selector {
    serde_json::to_value(selector)
        .ok()
        .and_then(|v| from_label_selector(&v).ok())
        .unwrap_or_else(Selector::nothing)
}

/// Whether a selector matches an object with these labels.
pub fn selector_matches(selector: &Selector, labels: Option<&BTreeMap<String, String>>) -> bool {
    selector.matches_lookup(|k| labels.and_then(|l| l.get(k)).map(String::as_str))
}

/// The rules of every ClusterRole after aggregation, by name: its own rules
/// for a plain role, the aggregated ones for a role with an
/// `aggregationRule`.
pub fn effective_cluster_role_rules<'a>(
    cluster_roles: impl IntoIterator<Item = &'a ClusterRole>,
) -> HashMap<String, Vec<PolicyRule>> {
    let Aggregation { roles, rules } = aggregate(cluster_roles);
    roles
        .into_iter()
        .zip(rules)
        .map(|(role, rules)| (name_of(role).to_string(), rules))
        .collect()
}

/// The aggregated rules of each ClusterRole that has an `aggregationRule`
/// (what upstream's controller writes into `rules`), by name.
pub fn aggregate_cluster_roles<'a>(
    cluster_roles: impl IntoIterator<Item = &'a ClusterRole>,
) -> BTreeMap<String, Vec<PolicyRule>> {
    let Aggregation { roles, rules } = aggregate(cluster_roles);
    roles
        .into_iter()
        .zip(rules)
        .filter(|(role, _)| role.aggregation_rule.is_some())
        .map(|(role, rules)| (name_of(role).to_string(), rules))
        .collect()
}

fn name_of(role: &ClusterRole) -> &str {
    role.metadata.name.as_deref().unwrap_or("")
}

/// Roles sorted by name, and their effective rules in the same order.
struct Aggregation<'a> {
    roles: Vec<&'a ClusterRole>,
    rules: Vec<Vec<PolicyRule>>,
}

/// An aggregating role: its index, and for each selector in order the
/// indices (name order, itself excluded) of the roles it selects.
struct Aggregator {
    index: usize,
    sources: Vec<Vec<usize>>,
}

fn aggregate<'a>(cluster_roles: impl IntoIterator<Item = &'a ClusterRole>) -> Aggregation<'a> {
    let mut roles: Vec<&ClusterRole> = cluster_roles.into_iter().collect();
    // Name order is what the controller visits matches in; a stable sort
    // keeps duplicate names (impossible in a real store) deterministic.
    roles.sort_by(|a, b| name_of(a).cmp(name_of(b)));

    let aggregators: Vec<Aggregator> = roles
        .iter()
        .enumerate()
        .filter_map(|(index, role)| {
            let rule = role.aggregation_rule.as_ref()?;
            let selectors = rule.cluster_role_selectors.as_deref().unwrap_or(&[]);
            let sources = selectors
                .iter()
                .map(|s| {
                    let selector = compile_selector(s);
                    roles
                        .iter()
                        .enumerate()
                        .filter(|(j, other)| {
                            name_of(other) != name_of(role)
                                && *j != index
                                && selector_matches(&selector, other.metadata.labels.as_ref())
                        })
                        .map(|(j, _)| j)
                        .collect()
                })
                .collect();
            Some(Aggregator { index, sources })
        })
        .collect();

    let mut rules: Vec<Vec<PolicyRule>> = roles
        .iter()
        .map(|r| {
            if r.aggregation_rule.is_some() {
                Vec::new()
            } else {
                r.rules.clone().unwrap_or_default()
            }
        })
        .collect();

    for _ in 0..MAX_PASSES {
        let mut changed = false;
        for agg in &aggregators {
            let mut merged: Vec<PolicyRule> = Vec::new();
            for source in agg.sources.iter().flatten() {
                for rule in &rules[*source] {
                    if !merged.iter().any(|m| rules_equal(m, rule)) {
                        merged.push(rule.clone());
                    }
                }
            }
            if merged != rules[agg.index] {
                rules[agg.index] = merged;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Aggregation { roles, rules }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::rules::new_rule;
    use k8s_openapi::api::rbac::v1::AggregationRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, ObjectMeta};

    fn role(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: (!labels.is_empty()).then(|| {
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
                ..Default::default()
            },
            rules: Some(rules),
            aggregation_rule: None,
        }
    }

    fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: None,
        }
    }

    fn aggregating(
        name: &str,
        labels: &[(&str, &str)],
        selectors: Vec<LabelSelector>,
    ) -> ClusterRole {
        let mut r = role(name, labels, vec![]);
        r.rules = None;
        r.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: Some(selectors),
        });
        r
    }

    fn get(res: &str) -> PolicyRule {
        new_rule(&["get"]).groups(&[""]).resources(&[res]).build()
    }

    #[test]
    fn unions_matching_roles_in_name_order_without_duplicates() {
        let roles = vec![
            role("z-src", &[("agg", "yes")], vec![get("b"), get("a")]),
            role("a-src", &[("agg", "yes")], vec![get("a"), get("c")]),
            role("other", &[("agg", "no")], vec![get("x")]),
            role("unlabelled", &[], vec![get("y")]),
            aggregating("target", &[], vec![match_labels(&[("agg", "yes")])]),
        ];
        let out = aggregate_cluster_roles(&roles);
        assert_eq!(out.len(), 1);
        assert_eq!(out["target"], vec![get("a"), get("c"), get("b")]);
        let eff = effective_cluster_role_rules(&roles);
        assert_eq!(eff["target"], vec![get("a"), get("c"), get("b")]);
        assert_eq!(eff["other"], vec![get("x")]);
        assert_eq!(eff.len(), 5);
    }

    #[test]
    fn absent_and_empty_lists_are_the_same_rule() {
        let mut with_empty = get("a");
        with_empty.resource_names = Some(vec![]);
        let roles = vec![
            role("s1", &[("agg", "yes")], vec![get("a")]),
            role("s2", &[("agg", "yes")], vec![with_empty]),
            aggregating("t", &[], vec![match_labels(&[("agg", "yes")])]),
        ];
        assert_eq!(aggregate_cluster_roles(&roles)["t"], vec![get("a")]);
    }

    #[test]
    fn selectors_in_order_and_expressions() {
        let roles = vec![
            role("a", &[("k", "1")], vec![get("a")]),
            role("b", &[("k", "2")], vec![get("b")]),
            role("c", &[("other", "x")], vec![get("c")]),
            aggregating(
                "t",
                &[],
                vec![
                    match_labels(&[("k", "2")]),
                    LabelSelector {
                        match_labels: None,
                        match_expressions: Some(vec![LabelSelectorRequirement {
                            key: "k".into(),
                            operator: "In".into(),
                            values: Some(vec!["1".into(), "2".into()]),
                        }]),
                    },
                ],
            ),
        ];
        // Selector order first (b), then the second selector's matches in
        // name order (a, then b again, deduplicated).
        assert_eq!(
            aggregate_cluster_roles(&roles)["t"],
            vec![get("b"), get("a")]
        );
    }

    #[test]
    fn chains_converge_like_admin_edit_view() {
        let roles = vec![
            aggregating("admin", &[], vec![match_labels(&[("to-admin", "true")])]),
            aggregating(
                "edit",
                &[("to-admin", "true")],
                vec![match_labels(&[("to-edit", "true")])],
            ),
            aggregating(
                "view",
                &[("to-edit", "true")],
                vec![match_labels(&[("to-view", "true")])],
            ),
            role("agg-admin", &[("to-admin", "true")], vec![get("roles")]),
            role("agg-edit", &[("to-edit", "true")], vec![get("secrets")]),
            role("agg-view", &[("to-view", "true")], vec![get("configmaps")]),
        ];
        let out = aggregate_cluster_roles(&roles);
        assert_eq!(out["view"], vec![get("configmaps")]);
        assert_eq!(out["edit"], vec![get("secrets"), get("configmaps")]);
        // admin's sources in name order: agg-admin, edit.
        assert_eq!(
            out["admin"],
            vec![get("roles"), get("secrets"), get("configmaps")]
        );
    }

    #[test]
    fn aggregating_roles_ignore_their_stored_rules_and_themselves() {
        let mut t = aggregating(
            "t",
            &[("agg", "yes")],
            vec![match_labels(&[("agg", "yes")])],
        );
        t.rules = Some(vec![get("stale")]);
        let roles = vec![t, role("s", &[("agg", "yes")], vec![get("a")])];
        assert_eq!(aggregate_cluster_roles(&roles)["t"], vec![get("a")]);
    }

    #[test]
    fn cycles_terminate_with_the_union() {
        let roles = vec![
            aggregating("a", &[("g", "1")], vec![match_labels(&[("g", "2")])]),
            aggregating(
                "b",
                &[("g", "2")],
                vec![match_labels(&[("g", "1")]), match_labels(&[("g", "3")])],
            ),
            role("leaf", &[("g", "3")], vec![get("x")]),
        ];
        let out = aggregate_cluster_roles(&roles);
        assert_eq!(out["a"], vec![get("x")]);
        assert_eq!(out["b"], vec![get("x")]);
    }

    #[test]
    fn empty_invalid_and_everything_selectors() {
        let roles = vec![
            role("s", &[("a", "b")], vec![get("s")]),
            aggregating("none", &[], vec![]),
            aggregating(
                "invalid",
                &[],
                vec![LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "a".into(),
                        operator: "Bogus".into(),
                        values: None,
                    }]),
                }],
            ),
            aggregating("all", &[], vec![LabelSelector::default()]),
        ];
        let out = aggregate_cluster_roles(&roles);
        assert!(out["none"].is_empty());
        assert!(out["invalid"].is_empty());
        // `{}` selects every ClusterRole (the aggregating ones contribute
        // their own aggregated rules).
        assert_eq!(out["all"], vec![get("s")]);
        let mut no_selectors = aggregating("n", &[], vec![]);
        no_selectors.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: None,
        });
        assert!(aggregate_cluster_roles([&no_selectors])["n"].is_empty());
    }
}
