//! ValidatingAdmissionPolicy (`admissionregistration.k8s.io/v1`) per
//! workspace: CEL rules a workspace owner — or an export's provider, for
//! its bound resources — writes to refuse, warn about or audit requests,
//! evaluated in process as kube-apiserver's `ValidatingAdmissionPolicy`
//! plugin does.
//!
//! - **Where it runs**: the generic store calls [`Policies::admit`] for
//!   every caller's create, update and delete, after the strategy and the
//!   resource's own admission accepted the object and before it is
//!   written (dry runs included, as kube's validating admission). The
//!   server's own controllers are not admitted, and nothing in
//!   `admissionregistration.k8s.io` is (kube exempts it too, so a policy
//!   cannot lock its own fix out).
//! - **Which policies**: those of the request's workspace, plus — for a
//!   resource bound from an APIExport — those of the export's workspace
//!   (kcp's rule: the provider's policies follow its resource into every
//!   consumer; consumers can neither see nor change them). A policy
//!   applies through each of its bindings in the same workspace; see
//!   [`matching`] for the match rules and [`dispatch`] for evaluation and
//!   what a denial looks like.
//! - **Cache**: a watch of the whole `admissionregistration.k8s.io` group
//!   ([`Reflector`], listing first) keeps each workspace's stored policies
//!   and bindings, never the code that writes them, so every replica serves
//!   the same policies; the first request of a workspace after a change
//!   compiles them (the watch only stores bytes, so one tenant's big
//!   policies never hold it back for others). A request first waits until
//!   that watch has applied every change committed before it (read your
//!   writes: a policy acknowledged is enforced on the next request); if the
//!   watch cannot catch up in 250 ms, or was never started, the workspace's
//!   policies are read and compiled from storage for that request.
//! - **Bounds**: expressions are bounded, type-checked and cost-limited as
//!   [`trellis_apis::cel::admission`] describes; a broken policy (stored by
//!   an older server) is a configuration error its `failurePolicy` decides.

pub mod compiled;
pub mod dispatch;
pub mod matching;
pub mod notes;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use parking_lot::RwLock;
use serde_json::Value;
use trellis_storage::keys::Keyspace;
use trellis_storage::{ListOptions, ReadAt, Storage};

use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::registry::{Registry, ResourceDef};
use crate::runtime::{Backoff, Change, ChangeKind, Reflector, Sink};
use compiled::{Binding, Policy};

/// The API group of admission configuration, exempt from policies.
pub const GROUP: &str = "admissionregistration.k8s.io";
pub const POLICIES: &str = "validatingadmissionpolicies";
pub const BINDINGS: &str = "validatingadmissionpolicybindings";

/// How long a request waits for the policy watch before it reads the
/// policies from storage itself.
const SYNC_TIMEOUT: Duration = Duration::from_millis(250);

/// The operation being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// What a policy may look at. Objects are in stored form.
pub struct Request<'a> {
    pub cluster: &'a str,
    pub def: &'a Arc<ResourceDef>,
    /// The workspace's resources, to find params' kinds and equivalent
    /// forms of the request's resource.
    pub registry: Option<&'a Registry>,
    pub operation: Operation,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    pub user: &'a UserInfo,
    pub dry_run: bool,
}

/// A policy with the bindings that apply it.
pub struct Hook {
    pub policy: Arc<Policy>,
    pub bindings: Vec<Arc<Binding>>,
}

/// One workspace's policies and bindings.
#[derive(Default)]
pub struct ClusterSet {
    policies: BTreeMap<String, Arc<Policy>>,
    bindings: BTreeMap<String, Arc<Binding>>,
    /// Policies with at least one binding, by policy name.
    pub hooks: Vec<Hook>,
}

impl ClusterSet {
    /// Pairs each policy with its bindings (linear: a workspace may hold
    /// many of both).
    fn rebuild(&mut self) {
        let mut by_policy: HashMap<&str, Vec<Arc<Binding>>> = HashMap::new();
        for b in self.bindings.values() {
            by_policy
                .entry(b.policy.as_str())
                .or_default()
                .push(b.clone());
        }
        self.hooks = self
            .policies
            .values()
            .filter_map(|p| {
                let bindings = by_policy.remove(p.name.as_str())?;
                Some(Hook {
                    policy: p.clone(),
                    bindings,
                })
            })
            .collect();
    }

    fn upsert(&mut self, resource: &str, value: &[u8]) {
        match resource {
            POLICIES => {
                if let Ok(p) = serde_json::from_slice::<ValidatingAdmissionPolicy>(value) {
                    let (policy, _) = compiled::policy(&p);
                    self.policies.insert(policy.name.clone(), Arc::new(policy));
                }
            }
            BINDINGS => {
                if let Ok(b) = serde_json::from_slice::<ValidatingAdmissionPolicyBinding>(value) {
                    let (binding, _) = compiled::binding(&b);
                    self.bindings
                        .insert(binding.name.clone(), Arc::new(binding));
                }
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }
}

/// One workspace's stored policies and bindings, as the watch delivered
/// them, and their compiled form once a request needed it.
#[derive(Default)]
struct Stored {
    objects: BTreeMap<(&'static str, String), bytes::Bytes>,
    compiled: OnceLock<Arc<ClusterSet>>,
}

impl Stored {
    /// The compiled set: built by the first request that needs it after a
    /// change (compiling is the workspace's own cost, never the watch's,
    /// so a tenant churning big policies cannot hold the watch back for
    /// everyone).
    fn compiled(&self) -> Arc<ClusterSet> {
        if let Some(c) = self.compiled.get() {
            return c.clone();
        }
        let mut set = ClusterSet::default();
        for ((resource, _), value) in &self.objects {
            set.upsert(resource, value);
        }
        set.rebuild();
        let set = Arc::new(set);
        // Two requests may both compile; either result is the same.
        let _ = self.compiled.set(set.clone());
        set
    }
}

/// Stored policies by workspace: what the watch feeds.
#[derive(Default)]
struct Cache {
    sets: RwLock<HashMap<String, Arc<Stored>>>,
}

fn resource_of(keyspace: &str) -> Option<&'static str> {
    match keyspace.strip_prefix(GROUP)?.strip_prefix('/')? {
        POLICIES => Some(POLICIES),
        BINDINGS => Some(BINDINGS),
        _ => None,
    }
}

impl Sink for Cache {
    fn apply(&self, change: &Change) {
        let Some(parts) = change.parts() else { return };
        let Some(resource) = resource_of(parts.keyspace) else {
            return;
        };
        let mut objects = self
            .sets
            .read()
            .get(parts.cluster)
            .map(|s| s.objects.clone())
            .unwrap_or_default();
        let key = (resource, parts.name.to_string());
        match change.kind {
            ChangeKind::Deleted => {
                objects.remove(&key);
            }
            _ => {
                objects.insert(key, change.value.clone());
            }
        }
        let mut sets = self.sets.write();
        if objects.is_empty() {
            sets.remove(parts.cluster);
        } else {
            sets.insert(
                parts.cluster.to_string(),
                Arc::new(Stored {
                    objects,
                    compiled: OnceLock::new(),
                }),
            );
        }
    }

    fn reset(&self, _: &[u8]) {
        self.sets.write().clear();
    }
}

/// The policy admission step: the cache, and what evaluation reads.
pub struct Policies {
    storage: Arc<dyn Storage>,
    cache: Arc<Cache>,
    reflector: OnceLock<Reflector>,
    /// Param kinds of a provider's policies resolve among the built-ins.
    builtins: OnceLock<Registry>,
    namespaces: Keyspace,
}

impl Policies {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Policies {
            storage,
            cache: Arc::default(),
            reflector: OnceLock::new(),
            builtins: OnceLock::new(),
            namespaces: Keyspace::new("", "namespaces", None).expect("valid keyspace"),
        }
    }

    /// The built-in resources, for provider policies' param kinds.
    pub fn set_builtins(&self, registry: Registry) {
        let _ = self.builtins.set(registry);
    }

    /// Lists every policy and binding into the cache and follows them.
    pub async fn follow(&self) -> trellis_storage::Result<()> {
        let prefix = trellis_storage::keys::group_prefix(GROUP).expect("valid group");
        let reflector = Reflector::start(
            "admission-policies",
            self.storage.clone(),
            vec![prefix],
            self.cache.clone(),
            Backoff::default(),
        )
        .await?;
        if self.reflector.set(reflector).is_err() {
            tracing::warn!("admission policies were already followed");
        }
        Ok(())
    }

    /// The policies of `cluster`, as of every write committed before the
    /// call.
    async fn set_of(&self, cluster: &str) -> ApiResult<Arc<ClusterSet>> {
        if let Some(r) = self.reflector.get()
            && r.synced(SYNC_TIMEOUT).await
        {
            let stored = self.cache.sets.read().get(cluster).cloned();
            return Ok(stored.map(|s| s.compiled()).unwrap_or_default());
        }
        self.load(cluster).await
    }

    /// Reads and compiles `cluster`'s policies from storage (no watch, or
    /// it is behind).
    async fn load(&self, cluster: &str) -> ApiResult<Arc<ClusterSet>> {
        let mut set = ClusterSet::default();
        for resource in [POLICIES, BINDINGS] {
            let ks = Keyspace::new(GROUP, resource, None).expect("valid keyspace");
            let prefix = ks
                .cluster(cluster)
                .map_err(|e| ApiError::internal("policy keyspace", e))?;
            let page = self
                .storage
                .list(ListOptions::all(prefix, ReadAt::Latest))
                .await
                .map_err(|e| {
                    ApiError::from_storage(
                        e,
                        &trellis_apis::GroupResource {
                            group: GROUP.into(),
                            resource: resource.into(),
                        },
                        "",
                    )
                })?;
            for rec in page.items {
                set.upsert(resource, &rec.value);
            }
        }
        set.rebuild();
        Ok(Arc::new(set))
    }

    /// Admits `req`, or answers its denial; warnings and audit
    /// annotations go to the request's [`notes`].
    pub async fn admit(&self, req: &Request<'_>) -> ApiResult<()> {
        if req.def.group == GROUP {
            return Ok(());
        }
        let own = self.set_of(req.cluster).await?;
        let provider = match &req.def.bound {
            Some(from) if from.export_cluster != req.cluster => Some((
                from.export_cluster.as_str(),
                self.set_of(&from.export_cluster).await?,
            )),
            _ => None,
        };
        if own.is_empty() && provider.as_ref().is_none_or(|(_, s)| s.is_empty()) {
            return Ok(());
        }
        let mut run = dispatch::Dispatch::new(self, req);
        run.hooks(req.cluster, req.registry, &own).await?;
        if let Some((cluster, set)) = &provider {
            run.hooks(cluster, self.builtins.get(), set).await?;
        }
        run.finish()
    }
}
