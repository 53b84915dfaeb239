//! Logical clusters (workspaces) and what each serves.
//!
//! Every request resolves to a logical cluster before anything else:
//! `/clusters/<name-or-path>/...`, or `root` for unprefixed paths. The
//! registry of served resources, storage keys, watches, discovery and
//! OpenAPI are all per logical cluster. Clusters cost no threads or tasks:
//! resolving one is a map lookup.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::registry::Registry;

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

/// Known logical clusters and their resource registries.
pub struct Clusters {
    builtins: Arc<Registry>,
    clusters: RwLock<HashMap<String, LogicalCluster>>,
}

impl Clusters {
    pub fn new(builtins: Arc<Registry>) -> Self {
        let mut m = HashMap::new();
        m.insert(
            ROOT.to_string(),
            LogicalCluster {
                name: ROOT.into(),
                path: ROOT.into(),
            },
        );
        Clusters {
            builtins,
            clusters: RwLock::new(m),
        }
    }

    /// Resolves a path or logical-cluster name.
    pub fn resolve(&self, path_or_name: &str) -> Option<LogicalCluster> {
        self.clusters.read().get(path_or_name).cloned()
    }

    /// The resources served in `cluster`.
    pub fn registry(&self, _cluster: &LogicalCluster) -> Arc<Registry> {
        self.builtins.clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.clusters.read().keys().cloned().collect()
    }
}
