//! Shared server state, handed to every handler.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use trellis_storage::Storage;

use crate::auth::Authenticator;
use crate::authz::Authorizer;
use crate::builtin::Builtins;
use crate::cluster::{Clusters, LogicalCluster};
use crate::handlers::openapi::{GvDoc, V2Doc};
use crate::metrics::Metrics;
use crate::registry::store::Store;
use crate::schemas::Definitions;

/// Behaviour knobs of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// How often a watch with `allowWatchBookmarks` gets a bookmark.
    pub bookmark_interval: Duration,
    /// Watch duration when the client gives no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// Address clients reach us at (discovery's serverAddressByClientCIDRs).
    pub external_address: String,
    /// Requests and watches in flight per user and per workspace.
    pub fairness: crate::fairness::Limits,
    /// kcp's `--logical-cluster-total-object-limit` (0: none).
    pub total_object_limit: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            external_address: "127.0.0.1:6443".into(),
            fairness: Default::default(),
            total_object_limit: 0,
        }
    }
}

pub struct State {
    pub store: Store,
    pub clusters: Clusters,
    pub definitions: Definitions,
    /// Compiled APIs bound from APIExports, shared across clusters.
    pub bound_apis: crate::sharing::bound::Cache,
    pub auth: Authenticator,
    pub authz: Arc<Authorizer>,
    /// The audit log, when `--audit-log-path` is set (set once at startup).
    pub audit: std::sync::OnceLock<crate::audit::Auditor>,
    pub metrics: Metrics,
    /// Seats per user and per workspace (see [`crate::fairness`]).
    pub fairness: Arc<crate::fairness::Fairness>,
    pub config: ServerConfig,
    /// Flips to `true` when the server shuts down; watches end.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Cheap to clone; what axum hands to handlers.
#[derive(Clone)]
pub struct AppState(pub Arc<State>);

impl std::ops::Deref for AppState {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

impl AppState {
    /// The state over `storage`. Inside a tokio runtime the caches start
    /// following storage at once (outside one, the authorizer reads the
    /// policy from storage for every request).
    pub fn new(
        storage: Arc<dyn Storage>,
        config: ServerConfig,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let Builtins {
            registry,
            definitions,
        } = crate::builtin::builtins();
        let store = Store::new(storage);
        store.policies.set_builtins(registry.clone());
        if let Some(def) = registry.get("", "v1", "resourcequotas") {
            store.set_quota_def(def.clone());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            store.authz.follow();
        }
        AppState(Arc::new(State {
            audit: std::sync::OnceLock::new(),
            authz: store.authz.clone(),
            store,
            clusters: Clusters::new(registry),
            definitions,
            bound_apis: Default::default(),
            auth: Authenticator::new(),
            metrics: Metrics::default(),
            fairness: crate::fairness::Fairness::new(config.fairness.clone()),
            config,
            shutdown,
        }))
    }

    /// The OpenAPI v3 documents of a cluster.
    pub fn openapi_cache(&self, cluster: &LogicalCluster) -> Arc<BTreeMap<String, GvDoc>> {
        self.clusters.apis(cluster).openapi(&self.definitions)
    }

    /// The OpenAPI v2 document of a cluster.
    pub fn openapi_v2_cache(&self, cluster: &LogicalCluster) -> Arc<V2Doc> {
        self.clusters.apis(cluster).openapi_v2(&self.definitions)
    }
}
