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
//! Work is per cluster and driven by watch events, so a thousand idle
//! workspaces cost nothing; a cluster with unfinished cleanup is retried.
//! [`load`] does steps 1–2 for every cluster before the server listens, so
//! custom resources are served from the first request after a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use trellis_storage::keys::{self, Keyspace};
use trellis_storage::{ReadAt, WatchItem};

use trellis_apis::crd::{self, CLEANUP_FINALIZER};

use crate::cluster::{ApiSet, Source};
use crate::custom::api::CustomApi;
use crate::custom::defs;
use crate::meta;
use crate::registry::ResourceDef;
use crate::registry::store::WriteCtx;
use crate::state::AppState;

const MANAGER: &str = "trellis-crd-controller";
const RETRY: Duration = Duration::from_millis(500);

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

/// Runs until the server shuts down.
pub async fn run(state: AppState, mut from: u64) {
    let mut shutdown = state.shutdown.clone();
    let ks = keyspace();
    loop {
        let storage = state.store.storage.clone();
        let Ok(mut events) = storage.watch(ks.all_clusters(), from).await else {
            // Too old (or closed): reconcile everything from now on.
            from = storage.current_revision();
            let all = clusters_with_crds(&state).await;
            for c in all {
                reconcile(&state, &c).await;
            }
            if *shutdown.borrow() {
                return;
            }
            continue;
        };
        let mut pending: BTreeSet<String> = clusters_with_crds(&state).await;
        let mut retry = tokio::time::interval(RETRY);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = retry.tick(), if !pending.is_empty() => {
                    let work: Vec<String> = pending.iter().cloned().collect();
                    for cluster in work {
                        if reconcile(&state, &cluster).await {
                            pending.remove(&cluster);
                        }
                    }
                }
                item = events.next() => match item {
                    Some(Ok(WatchItem::Event(e))) => {
                        from = e.revision;
                        if let Some(p) = keys::parse(&e.key) {
                            let cluster = p.cluster.to_string();
                            if !reconcile(&state, &cluster).await {
                                pending.insert(cluster);
                            }
                        }
                    }
                    Some(Ok(WatchItem::Progress(r))) => from = r,
                    _ => break,
                },
            }
        }
    }
}

async fn clusters_with_crds(state: &AppState) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(items) = super::scan(state, keyspace().all_clusters(), ReadAt::Latest).await {
        for rec in items {
            if let Some(p) = keys::parse(&rec.key) {
                out.insert(p.cluster.to_string());
            }
        }
    }
    out
}

async fn list_crds(state: &AppState, cluster: &str) -> Option<Vec<Value>> {
    let prefix = keyspace().cluster(cluster).ok()?;
    let items = super::scan(state, prefix, ReadAt::Latest).await?;
    Some(
        items
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.value).ok())
            .collect(),
    )
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
        match defs::build(&api, &state.definitions) {
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

/// One pass over a cluster; `true` when nothing is left to retry.
async fn reconcile(state: &AppState, cluster: &str) -> bool {
    let Some(crds) = list_crds(state, cluster).await else {
        return false;
    };
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
    let mut done = true;
    for i in changed {
        if !write_status(state, cluster, &current[i]).await {
            done = false;
        }
    }
    for crd in &current {
        if meta::is_deleting(crd)
            && meta::finalizers(crd).iter().any(|f| f == CLEANUP_FINALIZER)
            && !cleanup(state, cluster, crd).await
        {
            done = false;
        }
    }
    done
}

fn crd_def(state: &AppState) -> Arc<ResourceDef> {
    state
        .clusters
        .builtin_registry()
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CRDs are built in")
        .clone()
}

async fn write_status(state: &AppState, cluster: &str, desired: &Value) -> bool {
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
        Ok(_) => true,
        Err(e) if e.code() == 404 || e.code() == 409 => true,
        Err(e) => {
            tracing::warn!(cluster, crd = %name, error = %e, "updating CRD status");
            false
        }
    }
}

/// Deletes a deleted definition's instances; removes its finalizer once
/// none are left. `true` when the definition needs no more work.
async fn cleanup(state: &AppState, cluster: &str, crd: &Value) -> bool {
    let Some(api) = CustomApi::from_crd(crd) else {
        // Never served: nothing can exist.
        return remove_finalizer(state, cluster, crd).await;
    };
    let Ok(ks) = Keyspace::new(&api.group, &api.names.plural, None) else {
        return remove_finalizer(state, cluster, crd).await;
    };
    let Ok(prefix) = ks.cluster(cluster) else {
        return false;
    };
    let Some(items) = super::scan(state, prefix, ReadAt::Latest).await else {
        return false;
    };
    if items.is_empty() {
        return remove_finalizer(state, cluster, crd).await;
    }
    // Any served version's definition addresses the shared keyspace.
    let registry = state.clusters.apis_of(cluster).registry.clone();
    let Some(def) = registry
        .all()
        .find(|d| d.group == api.group && d.resource == api.names.plural)
        .cloned()
    else {
        return false;
    };
    super::delete_records(state, MANAGER, cluster, &def, items).await;
    false
}

async fn remove_finalizer(state: &AppState, cluster: &str, crd: &Value) -> bool {
    let def = crd_def(state);
    super::remove_finalizer(
        state,
        MANAGER,
        cluster,
        &def,
        meta::name(crd),
        CLEANUP_FINALIZER,
        None,
    )
    .await
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
