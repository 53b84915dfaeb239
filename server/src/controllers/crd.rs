//! The CRD controller: names, establishment, serving and cleanup of
//! CustomResourceDefinitions in every logical cluster.
//!
//! Upstream splits this across the naming, establishing, finalizing and
//! discovery controllers plus the CRD handler's informer. Here one task
//! watches the CRD keyspace of all clusters and, for each cluster whose
//! definitions changed, reconciles the cluster as a whole:
//!
//! 1. names: each definition is granted the names it asks for unless
//!    another definition of the same group already holds them
//!    (`NamesAccepted`); names once accepted are kept;
//! 2. serving: every definition with accepted names is turned into
//!    resource definitions and the cluster's APIs are replaced atomically;
//! 3. status: only then is `Established` written, so a client that waits
//!    for the condition can use the resource at once;
//! 4. cleanup: a deleted definition's instances are deleted (waiting for
//!    their own finalizers), then its cleanup finalizer is removed.
//!
//! The key is a cluster and work is driven by watch events, so a thousand
//! idle workspaces cost nothing; a cluster with unfinished cleanup is
//! requeued, a failed one retried with backoff.
//! [`load`] does steps 1–2 for every cluster before the server listens, so
//! custom resources are served from the first request after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use trellis_storage::ReadAt;
use trellis_storage::keys::{self, Keyspace};

use trellis_apis::crd::{self, CLEANUP_FINALIZER};

use super::Error;
use crate::cluster::{ApiSet, Source};
use crate::custom::api::CustomApi;
use crate::custom::defs;
use crate::meta;
use crate::registry::ResourceDef;
use crate::registry::store::WriteCtx;
use crate::runtime::finalizer::{self, Cleanup, Phase};
use crate::runtime::{Action, Controller, Watch};
use crate::state::AppState;

const MANAGER: &str = "trellis-crd-controller";
/// How often a deleted definition whose instances are still going is
/// looked at again.
const RETRY: Duration = Duration::from_millis(500);
/// Clusters reconciled at once.
const CONCURRENCY: usize = 16;

fn keyspace() -> Keyspace {
    Keyspace::new("apiextensions.k8s.io", "customresourcedefinitions", None)
        .expect("valid keyspace")
}

/// Installs what every cluster serves, before the server takes requests.
/// Returns the revision the definitions were read at.
pub async fn load(state: &AppState) -> u64 {
    let rev = state.store.storage.current_revision();
    let mut by_cluster: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    if let Some(items) = super::scan(state, keyspace().all_clusters(), ReadAt::Revision(rev)).await
    {
        for rec in items {
            let (Some(parts), Ok(obj)) = (
                keys::parse(&rec.key),
                serde_json::from_slice::<Value>(&rec.value),
            ) else {
                continue;
            };
            by_cluster
                .entry(parts.cluster.to_string())
                .or_default()
                .push(obj);
        }
    }
    for (cluster, crds) in by_cluster {
        install(state, &cluster, &crds);
    }
    rev
}

/// Runs until the server shuts down, following changes after `from` (the
/// revision [`load`] read at). The key is a cluster.
pub async fn run(state: AppState, from: u64) {
    Controller::new("crd", state.shutdown.clone())
        .watches(
            Watch::new(
                state.store.storage.clone(),
                keyspace().all_clusters(),
                |c| {
                    c.parts()
                        .map(|p| p.cluster.to_string())
                        .into_iter()
                        .collect()
                },
            )
            .from(from),
        )
        .concurrency(CONCURRENCY)
        .run(
            state,
            |st: AppState, cluster: String| async move { reconcile(&st, &cluster).await },
            super::error_policy("crd"),
        )
        .await
}

async fn list_crds(state: &AppState, cluster: &str) -> Result<Vec<Value>, Error> {
    let Ok(prefix) = keyspace().cluster(cluster) else {
        return Ok(Vec::new());
    };
    let items = super::list(state, prefix, ReadAt::Latest).await?;
    Ok(items
        .iter()
        .filter_map(|r| serde_json::from_slice(&r.value).ok())
        .collect())
}

/// The status a definition should have given the others of its cluster:
/// upstream's naming and establishing controllers in one step (a single
/// server has no peers to wait for before establishing).
fn desired_status(
    crd: &Value,
    others: &[&Value],
    reserved: &crd::ReservedNames,
    now: &str,
) -> Value {
    let mut out = crd.clone();
    crd::sync_names(&mut out, others, reserved, now);
    if crd::is_condition_true(&out, "NamesAccepted") && !crd::is_condition_true(&out, "Established")
    {
        crd::set_condition(&mut out, &crd::established_condition(), now);
    }
    out["status"].clone()
}

/// The names resources bound in `cluster` hold in `group`: a CRD created
/// while admission could not see the binding yet still cannot take them.
fn bound_names(state: &AppState, cluster: &str, group: &str) -> crd::ReservedNames {
    let mut out = crd::ReservedNames::default();
    if let Some(set) = state.clusters.installed(cluster, Source::Bindings) {
        for d in set.defs.iter().filter(|d| d.group == group) {
            out.resources.insert(d.resource.clone());
            out.resources.insert(d.singular.clone());
            out.resources.extend(d.short_names.iter().cloned());
            out.kinds.insert(d.kind.clone());
            out.kinds.insert(d.list_kind.clone());
        }
    }
    out
}

/// Replaces what `cluster` serves with the definitions whose names were
/// accepted; returns the definitions that cannot be served (by name, with
/// why). A definition that does not build — stored before a bound existed,
/// or written straight into storage — is left out, never a reason for the
/// server or the rest of the workspace to stop.
fn install(state: &AppState, cluster: &str, crds: &[Value]) -> BTreeMap<String, String> {
    let mut failed = BTreeMap::new();
    let mut all: Vec<ResourceDef> = Vec::new();
    let mut definitions = BTreeMap::new();
    let builtin = state.clusters.builtin_registry();
    let bound = state.clusters.installed(cluster, Source::Bindings);
    for crd in crds {
        if !(crd::is_condition_true(crd, "NamesAccepted")
            || crd::is_condition_true(crd, "Established"))
        {
            continue;
        }
        let Some(api) = CustomApi::from_crd(crd) else {
            continue;
        };
        // Built-in and bound resources win over custom ones of the same
        // name.
        if api.versions.iter().any(|v| {
            builtin
                .get(&api.group, &v.name, &api.names.plural)
                .is_some()
        }) || bound.as_ref().is_some_and(|b| {
            b.defs
                .iter()
                .any(|d| d.group == api.group && d.resource == api.names.plural)
        }) {
            continue;
        }
        match defs::build(&api, &state.definitions, &state.store.policies.egress()) {
            Ok(b) => {
                all.extend(b.defs);
                definitions.extend(b.definitions);
            }
            Err(e) => {
                tracing::warn!(
                    cluster,
                    crd = meta::name(crd),
                    error = %e,
                    "custom resource definition cannot be served"
                );
                failed.insert(meta::name(crd).to_string(), e);
            }
        }
    }
    state.clusters.install(
        cluster,
        Source::Crds,
        ApiSet {
            defs: all,
            definitions,
        },
    );
    failed
}

/// One pass over a cluster.
pub async fn reconcile(state: &AppState, cluster: &str) -> Result<Action, Error> {
    let crds = list_crds(state, cluster).await?;
    let now = meta::now_rfc3339();
    // Names are decided one definition at a time, oldest first, each
    // seeing the names already granted to the others.
    let mut current = crds.clone();
    current.sort_by(|a, b| {
        let ts = |o: &Value| meta::str_field(o, "creationTimestamp").to_string();
        ts(a).cmp(&ts(b)).then(meta::name(a).cmp(meta::name(b)))
    });
    let mut changed: Vec<usize> = Vec::new();
    for i in 0..current.len() {
        let others: Vec<&Value> = current
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, o)| o)
            .collect();
        let group = current[i]
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let status = desired_status(
            &current[i],
            &others,
            &bound_names(state, cluster, &group),
            &now,
        );
        if current[i].get("status") != Some(&status) {
            current[i]["status"] = status;
            changed.push(i);
        }
    }
    let failed = install(state, cluster, &current);
    for (i, crd) in current.iter_mut().enumerate() {
        let Some(why) = failed.get(meta::name(crd)) else {
            continue;
        };
        let before = crd.get("status").cloned();
        crd::set_condition(
            crd,
            &crd::Condition::new(
                "Established",
                "False",
                "InstallationFailed",
                &format!("the definition cannot be served: {why}"),
            ),
            &now,
        );
        if crd.get("status") != before.as_ref() && !changed.contains(&i) {
            changed.push(i);
        }
    }
    // Every step runs even when one fails; the pass fails afterwards.
    let mut failed = None;
    for i in changed {
        if let Err(e) = write_status(state, cluster, &current[i]).await {
            failed = Some(e);
        }
    }
    let mut action = Action::await_change();
    let def = crd_def(state);
    let ctx = WriteCtx::system(cluster, &def, None, None, MANAGER);
    for crd in &current {
        if finalizer::phase(crd, CLEANUP_FINALIZER) != Phase::Cleanup {
            continue;
        }
        let cleaned = finalizer::finalize(&state.store, &ctx, crd, CLEANUP_FINALIZER, || {
            cleanup(state, cluster, crd)
        })
        .await;
        match cleaned {
            Ok(a) => action = action.min(a),
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(action),
    }
}

fn crd_def(state: &AppState) -> Arc<ResourceDef> {
    state
        .clusters
        .builtin_registry()
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CRDs are built in")
        .clone()
}

async fn write_status(state: &AppState, cluster: &str, desired: &Value) -> Result<(), Error> {
    let def = crd_def(state);
    let ctx = WriteCtx::system(cluster, &def, None, Some("status"), MANAGER);
    let name = meta::name(desired).to_string();
    let status = desired["status"].clone();
    let uid = meta::str_field(desired, "uid").to_string();
    let res = state
        .store
        .update_existing(&ctx, &name, |cur| {
            // A definition deleted and recreated under the same name gets
            // its own reconcile.
            if meta::str_field(cur, "uid") != uid {
                return Err(trellis_apis::Status::conflict(
                    &def.group_resource(),
                    &name,
                    "uid changed",
                )
                .into());
            }
            cur["status"] = status.clone();
            Ok(())
        })
        .await;
    match res {
        Err(e) if e.code() != 404 && e.code() != 409 => Err(Error::write("updating CRD status")(e)),
        _ => Ok(()),
    }
}

/// Deletes a deleted definition's instances; done once none are left.
async fn cleanup(state: &AppState, cluster: &str, crd: &Value) -> Result<Cleanup, Error> {
    let Some(api) = CustomApi::from_crd(crd) else {
        // Never served: nothing can exist.
        return Ok(Cleanup::Done);
    };
    let Ok(ks) = Keyspace::new(&api.group, &api.names.plural, None) else {
        return Ok(Cleanup::Done);
    };
    let Ok(prefix) = ks.cluster(cluster) else {
        return Ok(Cleanup::Pending(Action::requeue(RETRY)));
    };
    let items = super::list(state, prefix, ReadAt::Latest).await?;
    if items.is_empty() {
        return Ok(Cleanup::Done);
    }
    // Any served version's definition addresses the shared keyspace.
    let registry = state.clusters.apis_of(cluster).registry.clone();
    if let Some(def) = registry
        .for_storage(|d| d.group == api.group && d.resource == api.names.plural)
        .cloned()
    {
        super::delete_records(state, MANAGER, cluster, &def, items).await;
    }
    // Instances with finalizers of their own are waited for.
    Ok(Cleanup::Pending(Action::requeue(RETRY)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn crd(
        name: &str,
        plural: &str,
        kind: &str,
        shorts: &[&str],
        accepted: Option<Value>,
    ) -> Value {
        let mut c = json!({
            "metadata": {"name": name},
            "spec": {"group": "example.io", "names": {"plural": plural, "singular": plural.trim_end_matches('s'), "kind": kind, "listKind": format!("{kind}List"), "shortNames": shorts}},
            "status": {"acceptedNames": {"plural": "", "kind": ""}},
        });
        if let Some(a) = accepted {
            c["status"]["acceptedNames"] = a;
        }
        c
    }

    fn cond<'a>(status: &'a Value, ty: &str) -> &'a Value {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap()
    }

    #[test]
    fn names_are_granted_unless_taken() {
        let a = crd("widgets.example.io", "widgets", "Widget", &["wd"], None);
        let s = desired_status(&a, &[], &Default::default(), "t");
        assert_eq!(s["acceptedNames"]["plural"], "widgets");
        assert_eq!(s["acceptedNames"]["shortNames"], json!(["wd"]));
        assert_eq!(cond(&s, "NamesAccepted")["reason"], "NoConflicts");
        assert_eq!(cond(&s, "Established")["status"], "True");

        let holder = crd(
            "widgets.example.io",
            "widgets",
            "Widget",
            &["wd"],
            Some(
                json!({"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"]}),
            ),
        );
        let b = crd("gadgets.example.io", "gadgets", "Gadget", &["wd"], None);
        let s = desired_status(&b, &[&holder], &Default::default(), "t");
        let c = cond(&s, "NamesAccepted");
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "ShortNamesConflict");
        assert_eq!(c["message"], "\"wd\" is already in use");
        assert_eq!(cond(&s, "Established")["status"], "False");
        // The non-conflicting names are still granted.
        assert_eq!(s["acceptedNames"]["plural"], "gadgets");
        assert!(s["acceptedNames"].get("shortNames").is_none());

        let c2 = crd("other.example.io", "others", "Widget", &[], None);
        let s = desired_status(&c2, &[&holder], &Default::default(), "t");
        // Upstream checks plural, singular, shortNames, kind, listKind in
        // order and the last failing check names the reason: "Widget" also
        // implies the taken "WidgetList".
        assert_eq!(cond(&s, "NamesAccepted")["reason"], "ListKindConflict");
        assert_eq!(s["acceptedNames"]["plural"], "others");
        assert_ne!(s["acceptedNames"]["kind"], "Widget");
    }
}
