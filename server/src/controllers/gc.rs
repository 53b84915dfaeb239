//! The garbage collector: objects whose owners are gone go too, as kube's
//! and kcp's collector decide from `metadata.ownerReferences`, per
//! workspace.
//!
//! - **Index**: one watch over all of storage keeps, for every object that
//!   names owners, which owner UIDs it names (`(cluster, owner uid)` →
//!   dependents' keys). Only dependents are indexed: an object without
//!   owner references costs the watch a byte scan, no parse and no memory.
//!   The watch lists page by page; reconciles that need the index wait
//!   until its first list is complete.
//! - **Dependent** keys (a dependent added or its references changed, or
//!   one of its owners deleted): every owner reference is resolved in the
//!   dependent's workspace — its kind through the workspace's resources,
//!   in the dependent's namespace for namespaced owners — and the owner
//!   read. An owner counts as gone when nothing of that name exists or
//!   what exists has another UID (a dangling reference). All gone: the
//!   dependent is deleted (background). Some gone: the dangling references
//!   are removed. A reference that cannot be resolved (an unknown kind; a
//!   cluster-scoped dependent naming a namespaced kind, which kube treats
//!   as unresolvable) keeps the dependent.
//! - **Owner** keys (an object being deleted with the collector's
//!   finalizer): `orphan` — every dependent's references to it are
//!   removed, then the finalizer; `foregroundDeletion` — every dependent
//!   is deleted in the foreground too, and the finalizer goes once no
//!   dependent with `blockOwnerDeletion` is left.
//!
//! The collector writes as the server (no admission); what it deletes goes
//! through the generic store, so finalizers and namespaces behave as for
//! any delete.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};
use trellis_storage::keys;

use super::Error;
use crate::cluster::LogicalCluster;
use crate::meta::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::registry::store::{DeleteOpts, Deleted, Mutation, Propagation, WriteCtx};
use crate::registry::{Registry, ResourceDef};
use crate::runtime::{Action, ChangeKind, Controller, Watch};
use crate::state::AppState;

const MANAGER: &str = "trellis-garbage-collector";
/// Keys reconciled at once.
const CONCURRENCY: usize = 8;
/// How often an owner waiting for blocking dependents looks again (the
/// dependents' own changes wake it sooner).
const WAIT: Duration = Duration::from_secs(10);
/// Owners looked up for one dependent.
const MAX_OWNER_LOOKUPS: usize = 64;

/// What to look at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// An object that names owners: are they still there?
    Dependent(Bytes),
    /// An object being deleted with `orphan` or `foregroundDeletion`.
    Owner(Bytes),
}

/// One `ownerReferences` entry.
#[derive(Clone, Debug)]
struct OwnerRef {
    api_version: String,
    kind: String,
    name: String,
    uid: String,
    block: bool,
}

fn owner_refs(obj: &Value) -> Vec<OwnerRef> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| {
                    let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
                    Some(OwnerRef {
                        api_version: s("apiVersion")?,
                        kind: s("kind")?,
                        name: s("name")?,
                        uid: s("uid")?,
                        block: r
                            .get("blockOwnerDeletion")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Dependents by owner, fed by the watch.
#[derive(Default)]
struct Index {
    /// `(cluster, owner uid)` → keys of objects naming it.
    dependents: HashMap<(String, String), HashSet<Bytes>>,
    /// A dependent's key → its cluster and the owner UIDs it names.
    owners: HashMap<Bytes, (String, Vec<String>)>,
    /// Owners held by the collector's finalizer, `(cluster, uid)` → key:
    /// a change to one of their dependents wakes them.
    held: HashMap<(String, String), Bytes>,
}

impl Index {
    /// Records `key`'s owner UIDs; whether they changed.
    fn set(&mut self, cluster: &str, key: &Bytes, mut uids: Vec<String>) -> bool {
        uids.sort();
        uids.dedup();
        if self.owners.get(key).is_some_and(|(_, old)| *old == uids) {
            return false;
        }
        self.remove(key);
        if uids.is_empty() {
            return true;
        }
        for u in &uids {
            self.dependents
                .entry((cluster.to_string(), u.clone()))
                .or_default()
                .insert(key.clone());
        }
        self.owners.insert(key.clone(), (cluster.to_string(), uids));
        true
    }

    fn remove(&mut self, key: &Bytes) {
        let Some((cluster, uids)) = self.owners.remove(key) else {
            return;
        };
        for u in uids {
            let k = (cluster.clone(), u);
            if let Some(set) = self.dependents.get_mut(&k) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&k);
                }
            }
        }
    }

    fn held_owners_of(&self, key: &Bytes) -> Vec<Bytes> {
        let Some((cluster, uids)) = self.owners.get(key) else {
            return Vec::new();
        };
        uids.iter()
            .filter_map(|u| self.held.get(&(cluster.clone(), u.clone())).cloned())
            .collect()
    }

    fn dependents_of(&self, cluster: &str, owner: &str) -> Vec<Bytes> {
        self.dependents
            .get(&(cluster.to_string(), owner.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The collector's shared state.
#[derive(Default)]
pub struct Collector {
    index: Mutex<Index>,
    /// The watch's first list is complete.
    synced: AtomicBool,
}

fn has(value: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(value, needle).is_some()
}

impl Collector {
    /// Maps one change of any object to the keys it asks to reconcile,
    /// keeping the index current.
    fn map(&self, kind: ChangeKind, key: &Bytes, value: &Bytes) -> Vec<Key> {
        let Some(parts) = keys::parse(key) else {
            return Vec::new();
        };
        let cluster = parts.cluster;
        if kind == ChangeKind::Deleted {
            let mut index = self.index.lock();
            // A held owner's dependent went: the owner may be done.
            let mut out: Vec<Key> = index
                .held_owners_of(key)
                .into_iter()
                .map(Key::Owner)
                .collect();
            index.remove(key);
            if index.dependents.is_empty() && index.held.is_empty() {
                return out;
            }
            let Ok(obj) = serde_json::from_slice::<Value>(value) else {
                return out;
            };
            let owner = (cluster.to_string(), uid(&obj).to_string());
            index.held.remove(&owner);
            out.extend(
                index
                    .dependents_of(cluster, &owner.1)
                    .into_iter()
                    .map(Key::Dependent),
            );
            return out;
        }
        let refs = has(value, b"\"ownerReferences\"");
        let held = has(value, b"\"orphan\"") || has(value, b"\"foregroundDeletion\"");
        if !refs && !held {
            let mut index = self.index.lock();
            if index.owners.contains_key(key) {
                index.remove(key);
            }
            return Vec::new();
        }
        let Ok(obj) = serde_json::from_slice::<Value>(value) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let owners: Vec<String> = owner_refs(&obj).into_iter().map(|r| r.uid).collect();
        let named = !owners.is_empty();
        let is_held = crate::meta::is_deleting(&obj)
            && crate::meta::finalizers(&obj)
                .iter()
                .any(|f| f == ORPHAN_FINALIZER || f == FOREGROUND_FINALIZER);
        let mut index = self.index.lock();
        // A held owner's dependent changed (e.g. it is being deleted in the
        // foreground itself): the owner may be done.
        out.extend(index.held_owners_of(key).into_iter().map(Key::Owner));
        let changed = index.set(cluster, key, owners);
        if named && (changed || kind == ChangeKind::Listed) {
            out.push(Key::Dependent(key.clone()));
        }
        let me = (cluster.to_string(), uid(&obj).to_string());
        if is_held {
            index.held.insert(me, key.clone());
            out.push(Key::Owner(key.clone()));
        } else {
            index.held.remove(&me);
        }
        out
    }

    /// A (re)list starts: what was indexed may be stale (deletes missed
    /// while the watch was away), so the index is rebuilt from the list.
    fn relisting(&self) {
        self.synced.store(false, Ordering::Release);
        *self.index.lock() = Index::default();
    }
}

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let collector = Arc::new(Collector::default());
    let mapper = collector.clone();
    let synced = collector.clone();
    let relisting = collector.clone();
    Controller::new("garbage-collector", state.shutdown.clone())
        .watches(
            Watch::new(state.store.storage.clone(), Bytes::new(), move |c| {
                mapper.map(c.kind, &c.key, &c.value)
            })
            .on_list(
                move || relisting.relisting(),
                move || synced.synced.store(true, Ordering::Release),
            ),
        )
        .concurrency(CONCURRENCY)
        .run(
            (state, collector),
            |(st, gc): (AppState, Arc<Collector>), key: Key| async move {
                reconcile(&st, &gc, key).await
            },
            super::error_policy("garbage-collector"),
        )
        .await
}

/// Where a key lives and what serves it.
struct Located {
    cluster: String,
    namespace: String,
    name: String,
    registry: Arc<Registry>,
    def: Arc<ResourceDef>,
}

fn locate(state: &AppState, key: &[u8]) -> Option<Located> {
    let parts = keys::parse(key)?;
    let registry = state.clusters.registry(&LogicalCluster {
        name: parts.cluster.to_string(),
        path: parts.cluster.to_string(),
    });
    let def = registry
        .for_storage(|d| {
            d.keyspace
                .object(parts.cluster, parts.namespace, parts.name)
                .is_ok_and(|k| k == key)
        })?
        .clone();
    Some(Located {
        cluster: parts.cluster.to_string(),
        namespace: parts.namespace.to_string(),
        name: parts.name.to_string(),
        registry,
        def,
    })
}

/// What an owner reference points at.
enum Owner {
    Present,
    Gone,
    /// Unknown kind, or a namespaced kind named by a cluster-scoped
    /// dependent: the collector cannot tell, so it keeps the dependent.
    Unresolvable,
}

/// The definition an owner reference names in `at`'s workspace (its
/// version if served, else any served version of the kind).
fn owner_def(at: &Located, r: &OwnerRef) -> Option<Arc<ResourceDef>> {
    let (group, version) = r
        .api_version
        .split_once('/')
        .unwrap_or(("", &r.api_version));
    let mut any = None;
    for d in at.registry.all() {
        if d.group == group && d.kind == r.kind {
            if d.version == version {
                return Some(d.clone());
            }
            any.get_or_insert_with(|| d.clone());
        }
    }
    any
}

/// Where the owner named by `r` would be stored, seen from the dependent
/// at `at`: `None` when the reference cannot be resolved (an unknown
/// kind; a namespaced kind named by a cluster-scoped dependent, which
/// kube treats as unresolvable).
fn owner_key(at: &Located, r: &OwnerRef) -> Option<Option<Bytes>> {
    let def = owner_def(at, r)?;
    if def.namespaced && at.namespace.is_empty() {
        return None;
    }
    let ns = if def.namespaced {
        at.namespace.as_str()
    } else {
        ""
    };
    // A name that cannot be a key names nothing: gone.
    Some(def.keyspace.object(&at.cluster, ns, &r.name).ok())
}

async fn owner(state: &AppState, at: &Located, r: &OwnerRef) -> Result<Owner, Error> {
    let Some(key) = owner_key(at, r) else {
        return Ok(Owner::Unresolvable);
    };
    let Some(key) = key else {
        return Ok(Owner::Gone);
    };
    let Some(rec) = state.store.storage.get(&key).await? else {
        return Ok(Owner::Gone);
    };
    // The uid the store recorded at creation; parsed only if absent.
    let same = match &rec.uid {
        Some(u) => **u == *r.uid,
        None => serde_json::from_slice::<Value>(&rec.value)
            .map(|o| uid(&o) == r.uid)
            .map_err(|e| Error::Read(e.to_string()))?,
    };
    Ok(if same { Owner::Present } else { Owner::Gone })
}

async fn reconcile(state: &AppState, gc: &Collector, key: Key) -> Result<Action, Error> {
    match key {
        Key::Dependent(k) => dependent(state, &k).await,
        Key::Owner(k) => {
            if !gc.synced.load(Ordering::Acquire) {
                // Dependents not yet indexed would be missed.
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            owner_deleting(state, gc, &k).await
        }
    }
}

fn read(rec: Option<trellis_storage::Record>) -> Option<Value> {
    rec.and_then(|r| serde_json::from_slice(&r.value).ok())
}

fn ctx<'a>(at: &'a Located) -> WriteCtx<'a> {
    let ns = (!at.namespace.is_empty()).then_some(at.namespace.as_str());
    WriteCtx::system(&at.cluster, &at.def, ns, None, MANAGER)
}

/// What a delete by the collector came to.
enum Outcome {
    Gone,
    /// Marked, waiting for finalizers.
    Pending,
    /// Changed meanwhile (a 409): look again later.
    Conflict,
}

/// Deletes the object at `at` if it still has `uid`.
async fn delete(
    state: &AppState,
    at: &Located,
    uid: &str,
    propagation: Propagation,
) -> Result<Outcome, Error> {
    let opts = DeleteOpts {
        uid: Some(uid.to_string()),
        propagation,
        ..Default::default()
    };
    match state.store.delete(&ctx(at), &at.name, &opts).await {
        Ok(Deleted::Gone { .. }) => Ok(Outcome::Gone),
        Ok(Deleted::Pending(_)) => Ok(Outcome::Pending),
        Err(e) if e.code() == 404 => Ok(Outcome::Gone),
        Err(e) if e.code() == 409 => Ok(Outcome::Conflict),
        Err(e) => Err(Error::write("collecting a dependent")(e)),
    }
}

/// Removes the owner references with UIDs in `gone` from the object at
/// `at` (if it still has the UID `uid`).
async fn strip_refs(
    state: &AppState,
    at: &Located,
    uid: &str,
    gone: &[String],
) -> Result<(), Error> {
    let want = uid.to_string();
    let gone: HashSet<&str> = gone.iter().map(String::as_str).collect();
    let res = state
        .store
        .update_with(&ctx(at), &at.name, |cur| {
            let Some(mut obj) = cur else {
                return Ok(Mutation::Unchanged);
            };
            if self::uid(&obj) != want {
                return Ok(Mutation::Unchanged);
            }
            let Some(refs) = obj
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            else {
                return Ok(Mutation::Unchanged);
            };
            let before = refs.len();
            refs.retain(|r| {
                !r.get("uid")
                    .and_then(Value::as_str)
                    .is_some_and(|u| gone.contains(u))
            });
            if refs.len() == before {
                return Ok(Mutation::Unchanged);
            }
            if refs.is_empty()
                && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
            {
                m.remove("ownerReferences");
            }
            Ok(Mutation::Update {
                body: obj,
                pinned_rv: None,
                warnings: Vec::new(),
            })
        })
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 404 => Ok(()),
        Err(e) => Err(Error::write("removing owner references")(e)),
    }
}

/// A dependent: delete it when every owner is gone, drop the references
/// to those that are.
async fn dependent(state: &AppState, key: &Bytes) -> Result<Action, Error> {
    let Some(obj) = read(state.store.storage.get(key).await?) else {
        return Ok(Action::await_change());
    };
    let refs = owner_refs(&obj);
    if refs.is_empty() || crate::meta::is_deleting(&obj) {
        return Ok(Action::await_change());
    }
    let Some(at) = locate(state, key) else {
        return Ok(Action::await_change());
    };
    let mut gone = Vec::new();
    let mut kept = 0usize;
    let mut seen = HashSet::new();
    for r in &refs {
        if !seen.insert(r.uid.as_str()) {
            continue;
        }
        if seen.len() > MAX_OWNER_LOOKUPS {
            // Beyond this many owners the rest are assumed present: the
            // dependent is kept, never collected on a guess.
            kept += 1;
            break;
        }
        match owner(state, &at, r).await? {
            Owner::Gone => gone.push(r.uid.clone()),
            Owner::Present | Owner::Unresolvable => kept += 1,
        }
    }
    let uid = uid(&obj).to_string();
    if kept == 0 {
        tracing::debug!(cluster = %at.cluster, name = %at.name, "collecting an object whose owners are gone");
        if let Outcome::Conflict = delete(state, &at, &uid, Propagation::Background).await? {
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
    } else if !gone.is_empty() {
        strip_refs(state, &at, &uid, &gone).await?;
    }
    Ok(Action::await_change())
}

/// An owner being deleted with the collector's finalizer.
async fn owner_deleting(state: &AppState, gc: &Collector, key: &Bytes) -> Result<Action, Error> {
    let Some(obj) = read(state.store.storage.get(key).await?) else {
        return Ok(Action::await_change());
    };
    let fins = crate::meta::finalizers(&obj);
    let orphan = fins.iter().any(|f| f == ORPHAN_FINALIZER);
    let foreground = fins.iter().any(|f| f == FOREGROUND_FINALIZER);
    if !crate::meta::is_deleting(&obj) || !(orphan || foreground) {
        return Ok(Action::await_change());
    }
    let Some(at) = locate(state, key) else {
        return Ok(Action::await_change());
    };
    let owner_uid = uid(&obj).to_string();
    let my_refs = owner_refs(&obj);
    let my_owners: HashSet<&str> = my_refs.iter().map(|r| r.uid.as_str()).collect();
    let candidates = gc.index.lock().dependents_of(&at.cluster, &owner_uid);
    let mut blocking = 0usize;
    for d in candidates {
        if d == *key {
            continue;
        }
        // The index may be ahead of or behind storage: read the truth.
        let Some(dep) = read(state.store.storage.get(&d).await?) else {
            continue;
        };
        let Some(dat) = locate(state, &d) else {
            continue;
        };
        let refs = owner_refs(&dep);
        // A reference counts only if it resolves to this very object (the
        // same uid named from another namespace names something else).
        let Some(r) = refs
            .iter()
            .find(|r| r.uid == owner_uid && owner_key(&dat, r) == Some(Some(key.clone())))
        else {
            continue;
        };
        let dep_uid = uid(&dep).to_string();
        if orphan {
            strip_refs(state, &dat, &dep_uid, std::slice::from_ref(&owner_uid)).await?;
            continue;
        }
        // Another owner still there keeps the dependent: only this
        // reference goes (kube's collector does the same).
        let mut other_owner = false;
        for o in refs
            .iter()
            .filter(|o| o.uid != owner_uid)
            .take(MAX_OWNER_LOOKUPS)
        {
            if matches!(
                owner(state, &dat, o).await?,
                Owner::Present | Owner::Unresolvable
            ) {
                other_owner = true;
                break;
            }
        }
        if other_owner {
            strip_refs(state, &dat, &dep_uid, std::slice::from_ref(&owner_uid)).await?;
            continue;
        }
        let deleting_in_foreground = crate::meta::is_deleting(&dep)
            && crate::meta::finalizers(&dep)
                .iter()
                .any(|f| f == FOREGROUND_FINALIZER);
        let still_there = if crate::meta::is_deleting(&dep) {
            true
        } else {
            !matches!(
                delete(state, &dat, &dep_uid, Propagation::Foreground).await?,
                Outcome::Gone
            )
        };
        // Two objects owning each other, both waiting in the foreground,
        // would wait for each other forever: such a dependent does not
        // block (kube unblocks references in cycles it detects).
        let cycle = deleting_in_foreground && my_owners.contains(dep_uid.as_str());
        if still_there && r.block && !cycle {
            blocking += 1;
        }
    }
    if blocking > 0 {
        return Ok(Action::requeue(WAIT));
    }
    // Every dependent let go: drop the finalizer (the store deletes the
    // object when it was the last one).
    let finalizer = if orphan {
        ORPHAN_FINALIZER
    } else {
        FOREGROUND_FINALIZER
    };
    let res = state
        .store
        .update_with(&ctx(&at), &at.name, |cur| {
            let Some(mut obj) = cur else {
                return Ok(Mutation::Unchanged);
            };
            if uid(&obj) != owner_uid {
                return Ok(Mutation::Unchanged);
            }
            let mut fins = crate::meta::finalizers(&obj);
            let before = fins.len();
            fins.retain(|f| f != finalizer);
            if fins.len() == before {
                return Ok(Mutation::Unchanged);
            }
            crate::meta::meta_mut(&mut obj).insert("finalizers".into(), json!(fins));
            Ok(Mutation::Update {
                body: obj,
                pinned_rv: None,
                warnings: Vec::new(),
            })
        })
        .await;
    match res {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if e.code() == 404 => Ok(Action::await_change()),
        Err(e) => Err(Error::write("removing the collector's finalizer")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(uid: &str, owners: &[&str], deleting: Option<&str>) -> Bytes {
        let refs: Vec<Value> = owners
            .iter()
            .map(|u| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": format!("o-{u}"), "uid": u}))
            .collect();
        let mut v = json!({"metadata": {"name": "x", "uid": uid}});
        if !refs.is_empty() {
            v["metadata"]["ownerReferences"] = json!(refs);
        }
        if let Some(f) = deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            v["metadata"]["finalizers"] = json!([f]);
        }
        Bytes::from(v.to_string())
    }

    fn key(name: &str) -> Bytes {
        Bytes::from(format!("core/configmaps/ws1/default/{name}"))
    }

    #[test]
    fn the_index_follows_dependents_and_maps_what_to_look_at() {
        let gc = Collector::default();
        // No owners: nothing indexed, nothing to do.
        assert!(
            gc.map(ChangeKind::Added, &key("plain"), &obj("u0", &[], None))
                .is_empty()
        );
        // A dependent: looked at once, and again only when its owners change.
        let d = key("dep");
        assert_eq!(
            gc.map(ChangeKind::Added, &d, &obj("u1", &["o1", "o2"], None)),
            vec![Key::Dependent(d.clone())]
        );
        assert!(
            gc.map(ChangeKind::Modified, &d, &obj("u1", &["o2", "o1"], None))
                .is_empty()
        );
        assert_eq!(
            gc.map(ChangeKind::Listed, &d, &obj("u1", &["o1", "o2"], None)),
            vec![Key::Dependent(d.clone())]
        );
        // An owner deleted: its dependents are looked at.
        assert_eq!(
            gc.map(ChangeKind::Deleted, &key("o-o1"), &obj("o1", &[], None)),
            vec![Key::Dependent(d.clone())]
        );
        // Same name, other workspace: not its dependent.
        let other = Bytes::from_static(b"core/configmaps/ws2/default/o-o2");
        assert!(
            gc.map(ChangeKind::Deleted, &other, &obj("o2", &[], None))
                .is_empty()
        );
        // An owner held by the collector's finalizer.
        let o = key("held");
        assert_eq!(
            gc.map(
                ChangeKind::Modified,
                &o,
                &obj("o9", &[], Some("foregroundDeletion"))
            ),
            vec![Key::Owner(o.clone())]
        );
        // References dropped: unindexed.
        gc.map(ChangeKind::Modified, &d, &obj("u1", &[], None));
        assert!(gc.index.lock().owners.is_empty());
        assert!(gc.index.lock().dependents.is_empty());
        gc.map(ChangeKind::Added, &d, &obj("u1", &["o3"], None));
        gc.map(ChangeKind::Deleted, &d, &obj("u1", &["o3"], None));
        assert!(gc.index.lock().dependents.is_empty());
    }
}
