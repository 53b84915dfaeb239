//! The ClusterRole aggregation controller: keeps the stored `rules` of every
//! ClusterRole with an `aggregationRule` equal to the union of the rules of
//! the ClusterRoles its `clusterRoleSelectors` match, in the same workspace.
//!
//! Upstream's `clusterrole-aggregation` controller does this one role at a
//! time and converges over several passes for chains (`admin` selects
//! `edit`, which selects `view`). Here a change to any ClusterRole of a
//! workspace reconciles that workspace as a whole with
//! [`aggregate_cluster_roles`], which computes the fixed point in one call,
//! so a chain settles in one round of writes and a half-aggregated state is
//! never written.
//!
//! Invariants:
//!
//! - One task for the whole server watching the ClusterRole keyspace of all
//!   workspaces; an idle workspace costs nothing, and a workspace's
//!   ClusterRoles are read in one prefix scan per reconcile.
//! - Only roles whose rules actually differ (semantic equality: an absent
//!   list equals an empty one, as `equality.Semantic.DeepEqual`) are
//!   written, so the controller's own writes, which come back as watch
//!   events, end in a no-op reconcile instead of a loop.
//! - A write only replaces `rules`, and only while the stored object still
//!   has the `aggregationRule` the rules were computed from: a role that
//!   stopped aggregating between the scan and the write keeps the rules its
//!   owner gave it (the write is abandoned; the change that caused it
//!   triggers a fresh reconcile anyway).
//! - On start every workspace with ClusterRoles is reconciled, so changes
//!   made while the server was down are caught up; the runtime resumes a
//!   broken watch where it stopped and relists if its history expired.
//!   Failed workspaces are retried with backoff until they succeed.
//! - A burst of writes (`kubectl apply -f` of many roles) reconciles each
//!   workspace about once: the runtime's queue holds a workspace at most
//!   once and runs it again only if it changed during the run.
//!
//! The authorizer does not depend on this controller: it aggregates from the
//! source roles itself. The stored rules are what clients (`kubectl get
//! clusterrole admin -o yaml`, `kubectl auth reconcile`) see.

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use serde_json::Value;
use trellis_apis::Status;
use trellis_apis::rbac::aggregation::{aggregate_cluster_roles, rules_equal};
use trellis_storage::ReadAt;
use trellis_storage::keys::Keyspace;

use super::Error;
use crate::builtin::rbac::GROUP;
use crate::registry::ResourceDef;
use crate::registry::store::WriteCtx;
use crate::runtime::{Action, Controller, Watch};
use crate::state::AppState;

/// Upstream's field manager for the aggregated rules.
const MANAGER: &str = "clusterrole-aggregation-controller";
/// Workspaces aggregated at once.
const CONCURRENCY: usize = 16;

fn keyspace() -> Keyspace {
    Keyspace::new(GROUP, "clusterroles", None).expect("valid keyspace")
}

fn def(state: &AppState) -> Option<Arc<ResourceDef>> {
    state
        .clusters
        .builtin_registry()
        .get(GROUP, "v1", "clusterroles")
        .cloned()
}

/// Runs until the server shuts down. The key is a workspace.
pub async fn run(state: AppState) {
    Controller::new("clusterrole-aggregation", state.shutdown.clone())
        .watches(Watch::new(
            state.store.storage.clone(),
            keyspace().all_clusters(),
            |c| {
                c.parts()
                    .map(|p| p.cluster.to_string())
                    .into_iter()
                    .collect()
            },
        ))
        .concurrency(CONCURRENCY)
        .run(
            state,
            |st: AppState, cluster: String| async move { reconcile(&st, &cluster).await },
            super::error_policy("clusterrole-aggregation"),
        )
        .await
}

/// Whether two rule lists are the same under semantic equality.
fn same_rules(a: &[PolicyRule], b: &[PolicyRule]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| rules_equal(x, y))
}

/// The writes a workspace needs: `(name, aggregationRule as stored, rules)`
/// for each aggregating role whose stored rules differ from the aggregate.
fn plan(roles: &[(ClusterRole, Value)]) -> Vec<(String, Value, Vec<PolicyRule>)> {
    let desired = aggregate_cluster_roles(roles.iter().map(|(r, _)| r));
    roles
        .iter()
        .filter_map(|(role, raw)| {
            let name = role.metadata.name.as_deref()?;
            let rules = desired.get(name)?;
            let current = role.rules.as_deref().unwrap_or(&[]);
            (!same_rules(current, rules)).then(|| {
                (
                    name.to_string(),
                    raw.get("aggregationRule").cloned().unwrap_or(Value::Null),
                    rules.clone(),
                )
            })
        })
        .collect()
}

/// One pass over a workspace.
pub async fn reconcile(state: &AppState, cluster: &str) -> Result<Action, Error> {
    let Ok(prefix) = keyspace().cluster(cluster) else {
        return Ok(Action::await_change());
    };
    let items = super::list(state, prefix, ReadAt::Latest).await?;
    let roles: Vec<(ClusterRole, Value)> = items
        .iter()
        .filter_map(|rec| {
            let raw: Value = serde_json::from_slice(&rec.value).ok()?;
            let role: ClusterRole = serde_json::from_value(raw.clone()).ok()?;
            Some((role, raw))
        })
        .collect();
    if !roles.iter().any(|(r, _)| r.aggregation_rule.is_some()) {
        return Ok(Action::await_change());
    }
    let writes = plan(&roles);
    if writes.is_empty() {
        return Ok(Action::await_change());
    }
    let Some(def) = def(state) else {
        return Ok(Action::await_change());
    };
    let gr = def.group_resource();
    let mut failed = None;
    for (name, aggregation_rule, rules) in writes {
        let Ok(rules_json) = serde_json::to_value(&rules) else {
            continue;
        };
        let ctx = WriteCtx::system(cluster, &def, None, None, MANAGER);
        let res = state
            .store
            .update_existing(&ctx, &name, |cur| {
                let now = cur.get("aggregationRule").cloned().unwrap_or(Value::Null);
                if now != aggregation_rule {
                    return Err(Status::modified_conflict(&gr, &name).into());
                }
                cur["rules"] = rules_json.clone();
                Ok(())
            })
            .await;
        match res {
            Ok(_) => {}
            // Deleted meanwhile: nothing to aggregate into.
            Err(e) if e.code() == 404 => {}
            // Changed meanwhile: its watch event reconciles again.
            Err(e) if e.code() == 409 => {}
            // The other roles still get their rules; the pass fails after.
            Err(e) => failed = Some(Error::write("aggregating cluster role")(e)),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(Action::await_change()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(v: Value) -> (ClusterRole, Value) {
        (serde_json::from_value(v.clone()).unwrap(), v)
    }

    #[test]
    fn plans_only_roles_whose_rules_differ() {
        let get_cm = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]});
        let agg = json!({"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]});
        let roles = vec![
            role(json!({"metadata": {"name": "src", "labels": {"agg": "yes"}}, "rules": [get_cm]})),
            role(json!({"metadata": {"name": "stale"}, "aggregationRule": agg, "rules": []})),
            // Equal under semantic equality (absent vs empty resourceNames).
            role(
                json!({"metadata": {"name": "fresh"}, "aggregationRule": agg,
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": []}]}),
            ),
        ];
        let writes = plan(&roles);
        assert_eq!(writes.len(), 1);
        let (name, rule, rules) = &writes[0];
        assert_eq!(name, "stale");
        assert_eq!(rule, &agg);
        assert_eq!(serde_json::to_value(rules).unwrap(), json!([get_cm]));
    }

    #[test]
    fn nothing_selected_empties_stale_rules() {
        let roles = vec![role(json!({
            "metadata": {"name": "t"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"none": "x"}}]},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}],
        }))];
        let writes = plan(&roles);
        assert_eq!(writes.len(), 1);
        assert!(writes[0].2.is_empty());
        let settled = vec![role(json!({
            "metadata": {"name": "t"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"none": "x"}}]},
        }))];
        assert!(plan(&settled).is_empty());
    }
}
