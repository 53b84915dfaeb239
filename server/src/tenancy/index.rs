//! The workspace path index, fed by a watch of every Workspace and every
//! LogicalCluster.
//!
//! A workspace's logical cluster is addressable by its stable name and by
//! its path (`root:org:team`) while its Workspace object (with
//! `spec.cluster`, which admission always sets) holds it *and* the
//! cluster's `LogicalCluster` object exists: from scheduling (the
//! workspace controller creates the LogicalCluster) until the deleted
//! workspace's content is purged (the LogicalCluster goes with it) — on
//! every replica alike. The [`Tree`] follows both through a [`Reflector`]
//! and writes [`Paths`]; nothing else does.
//!
//! Invariants:
//! - A cluster's path is its parent's path plus its Workspace's name; a
//!   cluster whose parent is not (yet) addressable is kept, unaddressable,
//!   until the parent is (a list delivers objects in key order, children
//!   before parents as often as not).
//! - Linking and unlinking walk subtrees with a work list and a visited set,
//!   so depth costs no stack and a cycle (only `system:masters` may choose
//!   `spec.cluster`) cannot loop.
//! - A Workspace whose `spec.cluster` names a cluster another Workspace
//!   already holds takes it over (the last writer wins, as it would with
//!   the controller); deleting either releases only what it holds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;

use crate::cluster::{Paths, ROOT};
use crate::runtime::{Backoff, Change, ChangeKind, Reflector, Sink};
use crate::state::AppState;

/// Lists every Workspace into the index and follows them from then on; the
/// index is complete when this returns.
pub async fn follow(state: &AppState) -> Result<(), trellis_storage::Error> {
    let sink = Arc::new(Tree::new(state.clusters.paths().clone()));
    let reflector = Reflector::start(
        "workspace-paths",
        state.store.storage.clone(),
        vec![
            super::types::workspaces().all_clusters(),
            super::types::logical_clusters().all_clusters(),
        ],
        sink,
        Backoff::default(),
    )
    .await?;
    state.clusters.set_index(reflector);
    Ok(())
}

/// The part of a Workspace the index reads.
#[derive(Deserialize)]
struct Workspace {
    #[serde(default)]
    spec: Spec,
}

#[derive(Default, Deserialize)]
struct Spec {
    #[serde(default)]
    cluster: String,
}

/// A Workspace: (parent cluster, name).
type Position = (String, String);

/// The Workspaces' keyspace (the other one followed is LogicalClusters').
const WORKSPACES: &str = "tenancy.kcp.io/workspaces";

#[derive(Default)]
struct Links {
    /// Which cluster each Workspace holds.
    held: HashMap<Position, String>,
    /// Where each cluster hangs.
    parent_of: HashMap<String, Position>,
    /// Each cluster's children.
    children: HashMap<String, BTreeSet<String>>,
    /// Clusters whose LogicalCluster object exists.
    present: HashSet<String>,
}

/// The Workspace tree behind [`Paths`]; the index's [`Sink`].
pub struct Tree {
    paths: Arc<Paths>,
    links: Mutex<Links>,
}

impl Tree {
    pub fn new(paths: Arc<Paths>) -> Self {
        Tree {
            paths,
            links: Mutex::default(),
        }
    }

    /// Addresses `cluster` and every cluster below it whose parent is now
    /// addressable.
    fn link(&self, links: &Links, cluster: &str) {
        let mut work = vec![cluster.to_string()];
        let mut seen = HashSet::new();
        while let Some(c) = work.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            let Some((parent, name)) = links.parent_of.get(&c) else {
                continue;
            };
            if !links.present.contains(&c) {
                continue;
            }
            let Some(parent) = self.paths.get(parent) else {
                continue;
            };
            self.paths.insert(&c, &format!("{}:{name}", parent.path));
            work.extend(links.children.get(&c).into_iter().flatten().cloned());
        }
    }

    /// Makes `cluster` and everything below it unaddressable (the tree
    /// keeps them, to be linked again if `cluster` comes back).
    fn unlink(&self, links: &Links, cluster: &str) {
        let mut work = vec![cluster.to_string()];
        let mut seen = HashSet::new();
        while let Some(c) = work.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            self.paths.remove(&c);
            work.extend(links.children.get(&c).into_iter().flatten().cloned());
        }
    }

    /// Workspace `at` no longer holds `cluster`.
    fn release(&self, links: &mut Links, at: &Position, cluster: &str) {
        if links.parent_of.get(cluster) != Some(at) {
            return;
        }
        links.parent_of.remove(cluster);
        if let Some(kids) = links.children.get_mut(&at.0) {
            kids.remove(cluster);
            if kids.is_empty() {
                links.children.remove(&at.0);
            }
        }
        self.unlink(links, cluster);
    }
}

impl Sink for Tree {
    fn apply(&self, change: &Change) {
        let Some(parts) = change.parts() else {
            return;
        };
        let mut links = self.links.lock();
        if parts.keyspace != WORKSPACES {
            // A LogicalCluster (one per cluster, named `cluster`).
            let cluster = parts.cluster.to_string();
            if cluster == ROOT {
                return;
            }
            if change.kind == ChangeKind::Deleted {
                links.present.remove(&cluster);
                self.unlink(&links, &cluster);
            } else if links.present.insert(cluster.clone()) {
                self.link(&links, &cluster);
            }
            return;
        }
        let at: Position = (parts.cluster.to_string(), parts.name.to_string());
        if change.kind == ChangeKind::Deleted {
            if let Some(cluster) = links.held.remove(&at) {
                self.release(&mut links, &at, &cluster);
            }
            return;
        }
        let cluster = serde_json::from_slice::<Workspace>(&change.value)
            .map(|w| w.spec.cluster)
            .unwrap_or_default();
        if cluster.is_empty() || cluster == ROOT || cluster.contains(':') {
            return;
        }
        if links.held.get(&at) == Some(&cluster) {
            // A status or metadata change (the usual case), or a Workspace
            // whose cluster another one took over since: nothing to do.
            return;
        }
        if let Some(old) = links.held.insert(at.clone(), cluster.clone()) {
            self.release(&mut links, &at, &old);
        }
        if let Some(prev) = links.parent_of.insert(cluster.clone(), at.clone()) {
            // Taken over: the subtree's old paths go before it is linked
            // under its new parent (which may not be addressable).
            if let Some(kids) = links.children.get_mut(&prev.0) {
                kids.remove(&cluster);
            }
            self.unlink(&links, &cluster);
        }
        links
            .children
            .entry(at.0.clone())
            .or_default()
            .insert(cluster.clone());
        self.link(&links, &cluster);
    }

    /// Forgets what came from `prefix`; the relist that follows links
    /// everything again.
    fn reset(&self, prefix: &[u8]) {
        let mut links = self.links.lock();
        if prefix.starts_with(format!("{WORKSPACES}/").as_bytes()) {
            let present = std::mem::take(&mut links.present);
            *links = Links {
                present,
                ..Links::default()
            };
        } else {
            links.present.clear();
        }
        self.paths.clear();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    fn ws(kind: ChangeKind, parent: &str, name: &str, cluster: &str) -> Change {
        let key = super::super::types::workspaces()
            .object(parent, "", name)
            .unwrap();
        let obj = json!({"metadata": {"name": name}, "spec": {"cluster": cluster}});
        Change {
            kind,
            key,
            value: Bytes::from(serde_json::to_vec(&obj).unwrap()),
        }
    }

    /// The LogicalCluster of `cluster` created or deleted.
    fn lc(kind: ChangeKind, cluster: &str) -> Change {
        let key = super::super::types::logical_clusters()
            .object(cluster, "", "cluster")
            .unwrap();
        Change {
            kind,
            key,
            value: Bytes::from_static(b"{}"),
        }
    }

    /// A tree where every named cluster's LogicalCluster exists.
    fn tree_with(clusters: &[&str]) -> Tree {
        let t = Tree::new(Arc::default());
        for c in clusters {
            t.apply(&lc(ChangeKind::Listed, c));
        }
        t
    }

    fn path(t: &Tree, name: &str) -> Option<String> {
        t.paths.get(name).map(|lc| lc.path)
    }

    #[test]
    fn paths_follow_workspaces_in_any_order() {
        let t = tree_with(&["c-org", "c-team", "c-sub"]);
        // A list hands children over before their parents.
        t.apply(&ws(ChangeKind::Listed, "c-org", "team", "c-team"));
        assert_eq!(path(&t, "c-team"), None, "parent not known yet");
        t.apply(&ws(ChangeKind::Listed, "c-team", "sub", "c-sub"));
        t.apply(&ws(ChangeKind::Listed, ROOT, "org", "c-org"));
        assert_eq!(path(&t, "c-org").as_deref(), Some("root:org"));
        assert_eq!(path(&t, "c-team").as_deref(), Some("root:org:team"));
        assert_eq!(
            t.paths
                .get("root:org:team:sub")
                .map(|lc| lc.name)
                .as_deref(),
            Some("c-sub")
        );
        // A status update changes nothing.
        t.apply(&ws(ChangeKind::Modified, ROOT, "org", "c-org"));
        assert_eq!(path(&t, "c-sub").as_deref(), Some("root:org:team:sub"));
        // Deleting a parent takes its subtree's addresses with it; the tree
        // keeps the subtree, so a re-created parent brings it back.
        t.apply(&ws(ChangeKind::Deleted, ROOT, "org", "c-org"));
        for c in ["c-org", "c-team", "c-sub", "root:org", "root:org:team"] {
            assert_eq!(t.paths.get(c), None, "{c}");
        }
        t.apply(&ws(ChangeKind::Added, ROOT, "org2", "c-org"));
        assert_eq!(path(&t, "c-sub").as_deref(), Some("root:org2:team:sub"));
        assert_eq!(t.paths.get("root:org:team:sub"), None);
        // Root, and names that are not cluster names, are never indexed.
        t.apply(&ws(ChangeKind::Added, ROOT, "evil", ROOT));
        t.apply(&ws(ChangeKind::Added, ROOT, "evil2", "a:b"));
        assert_eq!(path(&t, ROOT).as_deref(), Some(ROOT));
        assert_eq!(t.paths.get("root:evil"), None);
        assert_eq!(t.paths.get("a:b"), None);
        t.reset(b"");
        assert_eq!(t.paths.get("c-org"), None);
        assert_eq!(path(&t, ROOT).as_deref(), Some(ROOT));
    }

    #[test]
    fn a_taken_over_cluster_is_released_only_by_its_holder() {
        let t = tree_with(&["c1"]);
        t.apply(&ws(ChangeKind::Added, ROOT, "a", "c1"));
        t.apply(&ws(ChangeKind::Added, ROOT, "b", "c1"));
        assert_eq!(path(&t, "c1").as_deref(), Some("root:b"));
        assert_eq!(t.paths.get("root:a"), None);
        // A later update of `a` does not take it back.
        t.apply(&ws(ChangeKind::Modified, ROOT, "a", "c1"));
        assert_eq!(path(&t, "c1").as_deref(), Some("root:b"));
        // `a` no longer holds c1: its deletion leaves `b`'s address.
        t.apply(&ws(ChangeKind::Deleted, ROOT, "a", "c1"));
        assert_eq!(path(&t, "c1").as_deref(), Some("root:b"));
        t.apply(&ws(ChangeKind::Deleted, ROOT, "b", "c1"));
        assert_eq!(t.paths.get("c1"), None);
    }

    /// A cluster taken over by a Workspace under a parent that is not
    /// addressable (or under its own subtree) loses its old paths, with
    /// its subtree's, instead of keeping them.
    #[test]
    fn a_take_over_drops_the_old_paths() {
        let t = tree_with(&["c-a", "c-b", "c-x"]);
        t.apply(&ws(ChangeKind::Added, ROOT, "a", "c-a"));
        t.apply(&ws(ChangeKind::Added, "c-a", "b", "c-b"));
        assert_eq!(path(&t, "c-b").as_deref(), Some("root:a:b"));
        // Under an unaddressable parent: both paths go.
        t.apply(&ws(ChangeKind::Added, "c-nowhere", "x", "c-a"));
        for p in ["c-a", "c-b", "root:a", "root:a:b"] {
            assert_eq!(t.paths.get(p), None, "{p}");
        }
        // Under its own child: a loop, reachable from nowhere.
        t.apply(&ws(ChangeKind::Added, "c-b", "loop", "c-a"));
        for p in ["c-a", "c-b", "root:a:b:loop"] {
            assert_eq!(t.paths.get(p), None, "{p}");
        }
        // A path keeps one owner: a cluster taking another's path leaves
        // the old owner unaddressable by name too, and removing the old
        // owner later does not take the path away.
        t.apply(&ws(ChangeKind::Added, ROOT, "x", "c-x"));
        t.paths.insert("c-stale", "root:x");
        assert_eq!(t.paths.get("c-x"), None);
        t.paths.remove("c-x");
        assert_eq!(
            t.paths.get("root:x").map(|lc| lc.name).as_deref(),
            Some("c-stale")
        );
    }

    /// A cycle (only masters may pick `spec.cluster`) and a deep chain:
    /// neither loops nor recurses.
    #[test]
    fn cycles_and_depth_are_harmless() {
        let t = tree_with(&["c-x", "c-y"]);
        t.apply(&ws(ChangeKind::Added, "c-y", "x", "c-x"));
        t.apply(&ws(ChangeKind::Added, "c-x", "y", "c-y"));
        assert_eq!(t.paths.get("c-x"), None);
        t.apply(&ws(ChangeKind::Deleted, "c-x", "y", "c-y"));
        let depth = 2_000;
        for i in 0..depth {
            t.apply(&lc(ChangeKind::Listed, &format!("d{i}")));
        }
        for i in (0..depth).rev() {
            let parent = if i == 0 {
                ROOT.to_string()
            } else {
                format!("d{}", i - 1)
            };
            t.apply(&ws(ChangeKind::Listed, &parent, "n", &format!("d{i}")));
        }
        let deepest = path(&t, &format!("d{}", depth - 1)).unwrap();
        assert_eq!(deepest.matches(':').count(), depth);
        t.apply(&ws(ChangeKind::Deleted, ROOT, "n", "d0"));
        assert_eq!(t.paths.get(&format!("d{}", depth - 1)), None);
    }

    /// A cluster is addressable between its LogicalCluster's creation
    /// (scheduling) and its removal (the purge of a deleted workspace),
    /// even while its Workspace object stays (held by a finalizer).
    #[test]
    fn the_logical_cluster_bounds_addressability() {
        let t = Tree::new(Arc::default());
        t.apply(&ws(ChangeKind::Added, ROOT, "org", "c-org"));
        assert_eq!(path(&t, "c-org"), None, "not scheduled yet");
        t.apply(&ws(ChangeKind::Added, "c-org", "team", "c-team"));
        t.apply(&lc(ChangeKind::Added, "c-team"));
        assert_eq!(path(&t, "c-team"), None, "its parent is not scheduled");
        t.apply(&lc(ChangeKind::Added, "c-org"));
        assert_eq!(path(&t, "c-team").as_deref(), Some("root:org:team"));
        // Status updates of the LogicalCluster change nothing.
        t.apply(&lc(ChangeKind::Modified, "c-org"));
        assert_eq!(path(&t, "c-team").as_deref(), Some("root:org:team"));
        // The purge removes the LogicalCluster: gone, with its subtree,
        // though the Workspace object is still there.
        t.apply(&lc(ChangeKind::Deleted, "c-org"));
        assert_eq!(t.paths.get("root:org"), None);
        assert_eq!(t.paths.get("c-team"), None);
        // Root's own LogicalCluster never unindexes root.
        t.apply(&lc(ChangeKind::Deleted, ROOT));
        assert_eq!(path(&t, ROOT).as_deref(), Some(ROOT));
        // A reset of one prefix keeps what the other said; the relist
        // links everything again.
        t.apply(&lc(ChangeKind::Added, "c-org"));
        let workspaces = super::super::types::workspaces().all_clusters();
        t.reset(&workspaces);
        assert_eq!(t.paths.get("c-org"), None);
        t.apply(&ws(ChangeKind::Listed, ROOT, "org", "c-org"));
        t.apply(&ws(ChangeKind::Listed, "c-org", "team", "c-team"));
        assert_eq!(path(&t, "c-team").as_deref(), Some("root:org:team"));
        t.reset(&super::super::types::logical_clusters().all_clusters());
        assert_eq!(t.paths.get("c-org"), None);
        t.apply(&lc(ChangeKind::Listed, "c-team"));
        t.apply(&lc(ChangeKind::Listed, "c-org"));
        assert_eq!(path(&t, "c-team").as_deref(), Some("root:org:team"));
    }
}
