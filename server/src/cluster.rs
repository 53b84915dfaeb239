//! Logical clusters (workspaces) and what each serves.
//!
//! Every request resolves to a logical cluster before anything else:
//! `/clusters/<name-or-path>/...`, or `root` for unprefixed paths. The
//! registry of served resources, storage keys, watches, discovery and
//! OpenAPI are all per logical cluster. Clusters cost no threads or tasks:
//! resolving one is a map lookup, and a cluster that serves only built-in
//! types shares the built-in [`ClusterApis`] instead of holding a copy.
//!
//! The name ↔ path index ([`Paths`]) is fed by a watch of every Workspace
//! and LogicalCluster (`tenancy::index`), never by the code that writes
//! them, so every replica resolves alike. [`Clusters::resolve`] first waits
//! until that watch has applied every such change committed before the
//! call: a client that saw its workspace Ready can use it at once.
//!
//! A cluster's [`ClusterApis`] is immutable: when its custom resources
//! change, the controller owning them installs a new set for its
//! [`Source`] (CRDs, APIBindings) and the cluster's APIs are rebuilt from
//! the built-ins plus every source's set. Readers hold an `Arc` for the
//! duration of a request, so a request sees one consistent set of APIs,
//! and caches derived from it (OpenAPI documents) live and die with it.
//! Sources never shadow each other: the CRD controller refuses names a
//! binding serves and the binding controller refuses group/resources a CRD
//! serves, so a later set wins only in a race, and then for one reconcile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde_json::Value;

use crate::handlers::openapi::{GvDoc, V2Doc};
use crate::registry::{Registry, ResourceDef};
use crate::runtime::Reflector;
use crate::schemas::Definitions;

/// How long a resolution waits for the index's watch to catch up before
/// it answers from the index as it is (the watch broke and is resuming).
const SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// The root logical cluster's name.
pub const ROOT: &str = "root";

/// A resolved logical cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalCluster {
    /// The stable name used in storage keys.
    pub name: String,
    /// The human path (`root`, `root:org:team`).
    pub path: String,
}

/// What one logical cluster serves.
pub struct ClusterApis {
    pub registry: Arc<Registry>,
    /// OpenAPI definitions of the cluster's custom types, by name; the
    /// built-in definitions are shared and looked up beneath these.
    pub custom_definitions: BTreeMap<String, Value>,
    openapi: OnceLock<Arc<BTreeMap<String, GvDoc>>>,
    openapi_v2: OnceLock<Arc<V2Doc>>,
}

impl ClusterApis {
    pub fn new(registry: Registry, custom_definitions: BTreeMap<String, Value>) -> Self {
        ClusterApis {
            registry: Arc::new(registry),
            custom_definitions,
            openapi: OnceLock::new(),
            openapi_v2: OnceLock::new(),
        }
    }

    /// A definition by name: custom first, then built-in.
    pub fn definition<'a>(&'a self, builtin: &'a Definitions, name: &str) -> Option<&'a Value> {
        self.custom_definitions
            .get(name)
            .or_else(|| builtin.schemas.get(name))
    }

    /// The OpenAPI v3 documents, built on first use.
    pub fn openapi(&self, builtin: &Definitions) -> Arc<BTreeMap<String, GvDoc>> {
        self.openapi
            .get_or_init(|| {
                Arc::new(crate::handlers::openapi::build_v3(
                    &self.registry,
                    &|name| self.definition(builtin, name),
                ))
            })
            .clone()
    }

    /// The OpenAPI v2 document, built on first use.
    pub fn openapi_v2(&self, builtin: &Definitions) -> Arc<V2Doc> {
        self.openapi_v2
            .get_or_init(|| {
                Arc::new(crate::handlers::openapi::build_v2(
                    &self.registry,
                    &|name| self.definition(builtin, name),
                ))
            })
            .clone()
    }
}

/// Who adds resources to a cluster beyond the built-ins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// CustomResourceDefinitions of the cluster (the CRD controller).
    Crds,
    /// Resources bound from APIExports (the APIBinding controller).
    Bindings,
}

/// What one source adds to a cluster.
#[derive(Default)]
pub struct ApiSet {
    /// In discovery order within each group.
    pub defs: Vec<ResourceDef>,
    /// OpenAPI definitions by name.
    pub definitions: BTreeMap<String, Value>,
}

/// Logical-cluster names and paths, both keys of one map (names never
/// contain `:`, paths other than `root` always do). Root is always there.
pub struct Paths {
    by: RwLock<HashMap<String, LogicalCluster>>,
}

impl Default for Paths {
    fn default() -> Self {
        let root = LogicalCluster {
            name: ROOT.into(),
            path: ROOT.into(),
        };
        Paths {
            by: RwLock::new(HashMap::from([(ROOT.to_string(), root)])),
        }
    }
}

impl Paths {
    pub fn get(&self, path_or_name: &str) -> Option<LogicalCluster> {
        self.by.read().get(path_or_name).cloned()
    }

    /// Makes cluster `name` addressable at `path` (and no longer at a
    /// path it had before).
    pub fn insert(&self, name: &str, path: &str) {
        let lc = LogicalCluster {
            name: name.to_string(),
            path: path.to_string(),
        };
        let mut m = self.by.write();
        if let Some(old) = m.get(name).cloned()
            && old.path != path
        {
            m.remove(&old.path);
        }
        // A path has one cluster: one that held it loses its name entry
        // too, so removing it later cannot take the path from `name`.
        if let Some(other) = m.get(path).cloned()
            && other.name != name
        {
            m.remove(&other.name);
        }
        m.insert(name.to_string(), lc.clone());
        m.insert(path.to_string(), lc);
    }

    /// Makes cluster `name` unaddressable (root stays).
    pub fn remove(&self, name: &str) {
        if name == ROOT {
            return;
        }
        let mut m = self.by.write();
        if let Some(lc) = m.remove(name) {
            m.remove(&lc.path);
        }
    }

    /// Everything but root.
    pub fn clear(&self) {
        self.by.write().retain(|k, _| k == ROOT);
    }
}

/// Known logical clusters and what each serves.
pub struct Clusters {
    builtins: Arc<ClusterApis>,
    paths: Arc<Paths>,
    /// The Workspace and LogicalCluster watch feeding `paths`, once
    /// started.
    index: OnceLock<Reflector>,
    /// Clusters that serve more than the built-ins.
    custom: RwLock<HashMap<String, Arc<ClusterApis>>>,
    /// Each source's contribution, by cluster; the lock also serializes
    /// rebuilds so two sources installing at once both end up served.
    parts: parking_lot::Mutex<HashMap<String, BTreeMap<Source, Arc<ApiSet>>>>,
}

impl Clusters {
    pub fn new(builtins: Registry) -> Self {
        Clusters {
            builtins: Arc::new(ClusterApis::new(builtins, BTreeMap::new())),
            paths: Arc::default(),
            index: OnceLock::new(),
            custom: RwLock::new(HashMap::new()),
            parts: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// The name ↔ path index, for the watch that feeds it.
    pub fn paths(&self) -> &Arc<Paths> {
        &self.paths
    }

    /// Hands over the watch feeding the index (see [`crate::tenancy::index`]).
    pub fn set_index(&self, reflector: Reflector) {
        if self.index.set(reflector).is_err() {
            tracing::warn!("the cluster index was already followed");
        }
    }

    /// Resolves a path or logical-cluster name, once the index has every
    /// Workspace and LogicalCluster change committed before the call.
    pub async fn resolve(&self, path_or_name: &str) -> Option<LogicalCluster> {
        if let Some(index) = self.index.get()
            && !index.synced(SYNC_TIMEOUT).await
        {
            tracing::warn!(
                path_or_name,
                "Workspace watch is behind; resolving from the index as it is"
            );
        }
        self.paths.get(path_or_name)
    }

    /// Everything `cluster` serves.
    pub fn apis(&self, cluster: &LogicalCluster) -> Arc<ClusterApis> {
        self.apis_of(&cluster.name)
    }

    /// Everything the cluster with stable name `name` serves.
    pub fn apis_of(&self, name: &str) -> Arc<ClusterApis> {
        self.custom
            .read()
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.builtins.clone())
    }

    /// The resources served in `cluster`.
    pub fn registry(&self, cluster: &LogicalCluster) -> Arc<Registry> {
        self.apis(cluster).registry.clone()
    }

    /// The built-in resources (served in every cluster).
    pub fn builtin_registry(&self) -> &Registry {
        &self.builtins.registry
    }

    /// Replaces what `source` adds to cluster `name` and rebuilds the
    /// cluster's APIs.
    pub fn install(&self, name: &str, source: Source, set: ApiSet) {
        let mut parts = self.parts.lock();
        let entry = parts.entry(name.to_string()).or_default();
        if set.defs.is_empty() {
            entry.remove(&source);
        } else {
            entry.insert(source, Arc::new(set));
        }
        if entry.is_empty() {
            parts.remove(name);
            self.custom.write().remove(name);
            return;
        }
        let mut registry = (*self.builtins.registry).clone();
        let mut definitions = BTreeMap::new();
        for set in entry.values() {
            for d in &set.defs {
                registry.add(d.clone());
            }
            definitions.extend(set.definitions.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let apis = Arc::new(ClusterApis::new(registry, definitions));
        self.custom.write().insert(name.to_string(), apis);
    }

    /// What `source` currently adds to cluster `name`.
    pub fn installed(&self, name: &str, source: Source) -> Option<Arc<ApiSet>> {
        self.parts.lock().get(name)?.get(&source).cloned()
    }

    /// Makes a logical cluster addressable without a Workspace object (for
    /// benches and tests; workspaces are indexed by their watch).
    pub fn register(&self, name: &str, path: &str) {
        self.paths.insert(name, path);
    }

    /// Drops what cluster `name` served beyond the built-ins (its
    /// workspace's objects were purged).
    pub fn forget_apis(&self, name: &str) {
        self.parts.lock().remove(name);
        self.custom.write().remove(name);
    }
}
