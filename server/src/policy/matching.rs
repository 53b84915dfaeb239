//! Which requests a policy or binding is about, as kube's
//! `policy/matching` and `webhook/predicates/rules` decide:
//!
//! - **Rules**: operation, API group, version, `resource[/subresource]`
//!   (`*`, `*/*`, `pods/*`, `*/status`), scope (`Cluster` when the request
//!   has no namespace) and `resourceNames`; exclusions first.
//! - **Equivalent** (the default `matchPolicy`): a request for another
//!   group/version of the same stored resource (Events as `v1` and
//!   `events.k8s.io/v1`, a CRD's versions) matches a rule naming that
//!   other form, and the policy then sees the object in that form.
//! - **namespaceSelector**: cluster-scoped requests always match, except
//!   for Namespaces, which are matched by their own labels; otherwise the
//!   labels of the request's namespace. **objectSelector**: the new or the
//!   old object's labels.

use std::sync::Arc;

use serde_json::Value;
use trellis_apis::labels::Selector;

use super::Request;
use super::compiled::{Match, Rule};
use crate::registry::ResourceDef;

fn one_of(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

fn resource_matches(rule: &Rule, resource: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        let (res, sub) = r.split_once('/').unwrap_or((r.as_str(), ""));
        (res == "*" || res == resource) && (sub == "*" || sub == subresource)
    })
}

fn rule_matches(rule: &Rule, req: &Request<'_>, def: &ResourceDef) -> bool {
    let scope_ok = match rule.scope.as_str() {
        "Cluster" => req.namespace.is_empty(),
        "Namespaced" => !req.namespace.is_empty(),
        _ => true,
    };
    scope_ok
        && one_of(&rule.operations, req.operation.as_str())
        && one_of(&rule.groups, &def.group)
        && one_of(&rule.versions, &def.version)
        && resource_matches(rule, &def.resource, req.subresource)
        && (rule.names.is_empty() || rule.names.iter().any(|n| n == req.name))
}

/// The definition (the request's own or an equivalent one) under which
/// `m` matches the request, if any.
pub fn matches(
    m: &Match,
    req: &Request<'_>,
    namespace_labels: Option<&serde_json::Map<String, Value>>,
) -> Option<Arc<ResourceDef>> {
    if !selector_matches(&m.namespace_selector, req, namespace_labels)
        || !object_matches(&m.object_selector, req)
    {
        return None;
    }
    let equivalents = || {
        req.registry
            .into_iter()
            .flat_map(|r| r.all())
            .filter(|d| d.keyspace == req.def.keyspace && !Arc::ptr_eq(d, req.def))
    };
    if m.exclude.iter().any(|r| rule_matches(r, req, req.def))
        || (m.equivalent
            && equivalents().any(|d| m.exclude.iter().any(|r| rule_matches(r, req, d))))
    {
        return None;
    }
    // A binding without resource rules narrows nothing (the policy's
    // constraints already matched).
    if m.rules.is_empty() || m.rules.iter().any(|r| rule_matches(r, req, req.def)) {
        return Some(req.def.clone());
    }
    if !m.equivalent {
        return None;
    }
    equivalents()
        .find(|d| m.rules.iter().any(|r| rule_matches(r, req, d)))
        .cloned()
}

/// An object's labels, if it has any.
pub(crate) fn labels_of(obj: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    obj?.pointer("/metadata/labels")?.as_object()
}

/// Whether `sel` selects an object with `labels` (none: no labels).
pub(super) fn matches_labels(
    sel: &Selector,
    labels: Option<&serde_json::Map<String, Value>>,
) -> bool {
    static EMPTY: std::sync::LazyLock<serde_json::Map<String, Value>> =
        std::sync::LazyLock::new(serde_json::Map::new);
    sel.matches(labels.unwrap_or(&EMPTY))
}

fn selector_matches(
    sel: &Selector,
    req: &Request<'_>,
    namespace_labels: Option<&serde_json::Map<String, Value>>,
) -> bool {
    if sel.is_empty() {
        return true;
    }
    let is_namespace = req.def.group.is_empty() && req.def.resource == "namespaces";
    if is_namespace {
        // The Namespace itself: the new object, or on DELETE the old.
        let obj = req.object.or(req.old_object);
        return matches_labels(sel, labels_of(obj));
    }
    if req.namespace.is_empty() {
        return true;
    }
    matches_labels(sel, namespace_labels)
}

fn object_matches(sel: &Selector, req: &Request<'_>) -> bool {
    if sel.is_empty() {
        return true;
    }
    // An absent object (a CREATE's old one, a DELETE's new one) matches
    // nothing, as kube's object matcher.
    let matches = |o: Option<&Value>| o.is_some() && matches_labels(sel, labels_of(o));
    matches(req.object) || matches(req.old_object)
}
