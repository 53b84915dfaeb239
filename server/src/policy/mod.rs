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
    MutatingWebhookConfiguration, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingWebhookConfiguration,
};
use parking_lot::RwLock;
use serde_json::Value;
use trellis_storage::keys::Keyspace;
use trellis_storage::{ListOptions, ReadAt, Storage};

use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::registry::{Registry, ResourceDef};
use crate::runtime::{Backoff, Change, ChangeKind, Reflector, Sink};
use crate::webhook::Egress;
use crate::webhook::config::Webhook;
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

/// One workspace's policies, bindings and webhooks.
#[derive(Default)]
pub struct ClusterSet {
    policies: BTreeMap<String, Arc<Policy>>,
    bindings: BTreeMap<String, Arc<Binding>>,
    /// Webhook configurations by resource and name.
    webhook_configs: BTreeMap<(&'static str, String), Vec<Arc<Webhook>>>,
    /// Policies with at least one binding, by policy name.
    pub hooks: Vec<Hook>,
    /// Webhooks in calling order: by configuration name, then their place
    /// in the configuration.
    pub mutating: Vec<Arc<Webhook>>,
    pub validating: Vec<Arc<Webhook>>,
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
        for ((resource, _), hooks) in &self.webhook_configs {
            let list = if *resource == crate::webhook::MUTATING {
                &mut self.mutating
            } else {
                &mut self.validating
            };
            list.extend(hooks.iter().cloned());
        }
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
            crate::webhook::VALIDATING => {
                let parsed = serde_json::from_slice::<ValidatingWebhookConfiguration>(value);
                if let Err(e) = &parsed {
                    tracing::warn!(error = %e, "a stored ValidatingWebhookConfiguration cannot be read; it is not enforced");
                }
                if let Ok(c) = parsed {
                    let name = c.metadata.name.clone().unwrap_or_default();
                    let (hooks, _) = crate::webhook::config::validating(&c);
                    self.webhook_configs.insert(
                        (crate::webhook::VALIDATING, name),
                        hooks.into_iter().map(Arc::new).collect(),
                    );
                }
            }
            crate::webhook::MUTATING => {
                let parsed = serde_json::from_slice::<MutatingWebhookConfiguration>(value);
                if let Err(e) = &parsed {
                    tracing::warn!(error = %e, "a stored MutatingWebhookConfiguration cannot be read; it is not enforced");
                }
                if let Ok(c) = parsed {
                    let name = c.metadata.name.clone().unwrap_or_default();
                    let (hooks, _) = crate::webhook::config::mutating(&c);
                    self.webhook_configs.insert(
                        (crate::webhook::MUTATING, name),
                        hooks.into_iter().map(Arc::new).collect(),
                    );
                }
            }
            _ => {}
        }
    }

    /// Whether the workspace has no bound policy and no webhook.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty() && self.mutating.is_empty() && self.validating.is_empty()
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

/// Every resource the cache holds.
const RESOURCES: [&str; 4] = [
    POLICIES,
    BINDINGS,
    crate::webhook::VALIDATING,
    crate::webhook::MUTATING,
];

fn resource_of(keyspace: &str) -> Option<&'static str> {
    let r = keyspace.strip_prefix(GROUP)?.strip_prefix('/')?;
    RESOURCES.into_iter().find(|x| *x == r)
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
    /// Where webhooks may be called (the operator's flags).
    egress: crate::webhook::egress::Shared,
}

impl Policies {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Policies {
            storage,
            cache: Arc::default(),
            reflector: OnceLock::new(),
            builtins: OnceLock::new(),
            namespaces: Keyspace::new("", "namespaces", None).expect("valid keyspace"),
            egress: Arc::default(),
        }
    }

    /// Sets the webhook destination policy.
    pub fn set_egress(&self, egress: Egress) {
        *self.egress.write() = Arc::new(egress);
    }

    /// The webhook destination policy, as later [`Self::set_egress`] calls
    /// leave it (for conversion webhooks).
    pub fn egress(&self) -> crate::webhook::egress::Shared {
        self.egress.clone()
    }

    /// The request's namespace object (what namespace selectors and
    /// `namespaceObject` read); `None` for cluster-scoped requests and for
    /// Namespaces themselves.
    pub(crate) async fn namespace_object(&self, req: &Request<'_>) -> ApiResult<Option<Value>> {
        let is_namespace = req.def.group.is_empty() && req.def.resource == "namespaces";
        if req.namespace.is_empty() || is_namespace {
            return Ok(None);
        }
        let key = self
            .namespaces
            .object(req.cluster, "", req.namespace)
            .map_err(|e| ApiError::internal("namespace key", e))?;
        let rec = self.storage.get(&key).await.map_err(|e| {
            ApiError::from_storage(
                e,
                &trellis_apis::GroupResource {
                    group: String::new(),
                    resource: "namespaces".into(),
                },
                req.namespace,
            )
        })?;
        Ok(rec.and_then(|r| serde_json::from_slice(&r.value).ok()))
    }

    /// The sets that apply to `req`: its workspace's, and for a bound
    /// resource its provider's.
    async fn sets_for(&self, req: &Request<'_>) -> ApiResult<Vec<(String, Arc<ClusterSet>)>> {
        let mut out = vec![(req.cluster.to_string(), self.set_of(req.cluster).await?)];
        if let Some(from) = &req.def.bound
            && from.export_cluster != req.cluster
        {
            out.push((
                from.export_cluster.clone(),
                self.set_of(&from.export_cluster).await?,
            ));
        }
        Ok(out)
    }

    /// Runs the mutating webhooks that apply to `req` over `object` (its
    /// new object in stored form; `None` for a DELETE); returns whether
    /// they changed it.
    pub async fn mutate(&self, req: &Request<'_>, object: Option<&mut Value>) -> ApiResult<bool> {
        if req.def.group == GROUP {
            return Ok(false);
        }
        let sets = self.sets_for(req).await?;
        if sets.iter().all(|(_, s)| s.mutating.is_empty()) {
            return Ok(false);
        }
        // Status of a bound resource is its provider's: the consumer's
        // webhooks do not rewrite what is written through /status (a
        // workspace bound to its own export keeps its webhooks: it is the
        // provider). Through the provider's view no provider set is known
        // here, so no mutating webhook sees those writes.
        let provider_cluster = req.def.bound.as_ref().map(|b| b.export_cluster.as_str());
        let consumer_status =
            req.subresource == "status" && (req.def.bound.is_some() || req.def.annotate_cluster);
        let hooks: Vec<Arc<Webhook>> = sets
            .iter()
            .filter(|(cluster, _)| {
                !(consumer_status
                    && cluster == req.cluster
                    && provider_cluster != Some(req.cluster))
            })
            .flat_map(|(_, s)| s.mutating.iter().cloned())
            .collect();
        let namespace = self.namespace_object(req).await?;
        let egress = self.egress.read().clone();
        crate::webhook::dispatch::mutate(&egress, req, &hooks, namespace.as_ref(), object).await
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
        for resource in RESOURCES {
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
        let sets = self.sets_for(req).await?;
        if sets.iter().all(|(_, s)| s.is_empty()) {
            return Ok(());
        }
        let policies = sets.iter().any(|(_, s)| !s.hooks.is_empty());
        let hooks: Vec<Arc<Webhook>> = sets
            .iter()
            .flat_map(|(_, s)| s.validating.iter().cloned())
            .collect();
        if !policies && hooks.is_empty() {
            return Ok(());
        }
        // Read once for both: policies' `namespaceObject` and selectors.
        let namespace = self.namespace_object(req).await?;
        if policies {
            let mut run = dispatch::Dispatch::new(self, req, namespace.clone());
            for (i, (cluster, set)) in sets.iter().enumerate() {
                // The provider's param kinds resolve among the built-ins.
                let registry = if i == 0 {
                    req.registry
                } else {
                    self.builtins.get()
                };
                run.hooks(cluster, registry, set).await?;
            }
            run.finish()?;
        }
        if hooks.is_empty() {
            return Ok(());
        }
        let egress = self.egress.read().clone();
        crate::webhook::dispatch::validate(&egress, req, &hooks, namespace.as_ref()).await
    }
}
