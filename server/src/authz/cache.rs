//! The per-workspace policy cache and the authorizer chain.
//!
//! Invariant: a request reads a [`PolicyIndex`] that reflects every RBAC
//! write committed before the request started, whoever made it (this
//! server, a controller, another replica). The cache is fed by a watch of
//! the RBAC group ([`Reflector`]): a change drops its workspace's index.
//! Before using the cache a request waits until that watch has applied
//! every RBAC change committed so far ([`Reflector::synced`]; unrelated
//! writes do not count). An index whose build began before a drop (it may
//! have read the old policy) serves the request that built it but is never
//! cached — the `epoch` check. Without a running reflector (the policy is
//! not followed, or the watch is behind) indexes are built from storage for
//! each request and not cached: slower, never stale.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{NonResourceRule, ResourceRule};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use trellis_apis::rbac::{
    Attributes, Decision, PolicyIndex, RulesReview, SYSTEM_MASTERS, UserInfo,
};
use trellis_storage::keys::Keyspace;
use trellis_storage::{ListOptions, ReadAt, Storage};

use super::bootstrap::{ACCESS_PATH, ACCESS_VERB, BootstrapPolicy};
use crate::error::{ApiError, ApiResult};
use crate::runtime::{Backoff, Change, Reflector, Sink};

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// `extra` key naming the logical cluster a ServiceAccount belongs to (kcp's
/// key); its tokens are only worth a ServiceAccount identity there.
pub const CLUSTER_NAME_EXTRA: &str = "authentication.kcp.io/cluster-name";

pub struct Authorizer {
    storage: Arc<dyn Storage>,
    bootstrap: BootstrapPolicy,
    cache: Arc<Policies>,
    /// The watch feeding `cache`, once [`Authorizer::follow`] started it.
    reflector: OnceLock<Reflector>,
}

/// How long a request waits for the RBAC watch to catch up before it
/// builds its index from storage instead (the watch broke and is resuming).
const SYNC_TIMEOUT: Duration = Duration::from_millis(250);

/// Cached indexes by workspace; what the RBAC watch invalidates.
#[derive(Default)]
struct Policies {
    map: RwLock<HashMap<String, Arc<PolicyIndex>>>,
    /// Bumped by every invalidation (see the module docs).
    epoch: AtomicU64,
}

impl Sink for Policies {
    fn apply(&self, change: &Change) {
        if let Some(parts) = change.parts() {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            self.map.write().remove(parts.cluster);
        }
    }

    fn reset(&self, _: &[u8]) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.map.write().clear();
    }
}

fn rbac_gr(resource: &str) -> trellis_apis::GroupResource {
    trellis_apis::GroupResource {
        group: RBAC_GROUP.into(),
        resource: resource.into(),
    }
}

fn keyspace(resource: &str) -> Keyspace {
    Keyspace::new(RBAC_GROUP, resource, None).expect("RBAC keyspaces are valid")
}

/// Whether `user` is a ServiceAccount of `cluster` (and so may enter it
/// without an access grant).
pub fn is_service_account_of(user: &UserInfo, cluster: &str) -> bool {
    trellis_apis::rbac::attributes::split_service_account_username(&user.name).is_some()
        && user
            .extra
            .get(CLUSTER_NAME_EXTRA)
            .is_some_and(|c| c.iter().any(|c| c == cluster))
}

impl Authorizer {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Authorizer {
            storage,
            bootstrap: BootstrapPolicy::new(),
            cache: Arc::default(),
            reflector: OnceLock::new(),
        }
    }

    pub fn bootstrap(&self) -> &BootstrapPolicy {
        &self.bootstrap
    }

    /// Starts the watch that feeds the policy cache; until then nothing is
    /// cached. Idempotent; must be called inside a tokio runtime.
    pub fn follow(&self) {
        self.reflector.get_or_init(|| {
            let rbac = trellis_storage::keys::group_prefix(RBAC_GROUP).expect("valid RBAC group");
            Reflector::spawn(
                "rbac",
                self.storage.clone(),
                vec![rbac],
                self.cache.clone(),
                Backoff::default(),
            )
        });
    }

    /// Number of workspaces with a cached index.
    pub fn cached(&self) -> usize {
        self.cache.map.read().len()
    }

    async fn load<T: DeserializeOwned>(&self, resource: &str, cluster: &str) -> ApiResult<Vec<T>> {
        let prefix = keyspace(resource)
            .cluster(cluster)
            .map_err(|e| ApiError::internal("RBAC keyspace", e))?;
        let page = self
            .storage
            .list(ListOptions::all(prefix, ReadAt::Latest))
            .await
            .map_err(|e| ApiError::from_storage(e, &rbac_gr(resource), ""))?;
        // An object that does not parse as its type grants nothing rather
        // than failing every request of the workspace.
        Ok(page
            .items
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.value).ok())
            .collect())
    }

    /// The workspace's policy index, built on first use.
    pub async fn policy(&self, cluster: &str) -> ApiResult<Arc<PolicyIndex>> {
        let cacheable = match self.reflector.get() {
            Some(r) => {
                let synced = r.synced(SYNC_TIMEOUT).await;
                if !synced {
                    tracing::warn!(
                        cluster,
                        "RBAC watch is behind; reading the policy from storage"
                    );
                }
                synced
            }
            None => false,
        };
        if !cacheable {
            return Ok(Arc::new(self.read_policy(cluster).await?));
        }
        if let Some(p) = self.cache.map.read().get(cluster) {
            return Ok(p.clone());
        }
        let epoch = self.cache.epoch.load(Ordering::SeqCst);
        let index = Arc::new(self.read_policy(cluster).await?);
        let mut cache = self.cache.map.write();
        if self.cache.epoch.load(Ordering::SeqCst) == epoch {
            cache.insert(cluster.to_string(), index.clone());
        }
        Ok(index)
    }

    /// The workspace's policy as stored now, built without the cache.
    pub async fn read_policy(&self, cluster: &str) -> ApiResult<PolicyIndex> {
        let roles: Vec<Role> = self.load("roles", cluster).await?;
        let cluster_roles: Vec<ClusterRole> = self.load("clusterroles", cluster).await?;
        let role_bindings: Vec<RoleBinding> = self.load("rolebindings", cluster).await?;
        let crbs: Vec<ClusterRoleBinding> = self.load("clusterrolebindings", cluster).await?;
        Ok(self.build(&roles, &cluster_roles, &role_bindings, &crbs))
    }

    /// One workspace's objects over the bootstrap policy (same-named
    /// workspace objects win).
    pub fn build(
        &self,
        roles: &[Role],
        cluster_roles: &[ClusterRole],
        role_bindings: &[RoleBinding],
        cluster_role_bindings: &[ClusterRoleBinding],
    ) -> PolicyIndex {
        let local_roles: HashSet<&str> = cluster_roles
            .iter()
            .filter_map(|r| r.metadata.name.as_deref())
            .collect();
        let local_bindings: HashSet<&str> = cluster_role_bindings
            .iter()
            .filter_map(|r| r.metadata.name.as_deref())
            .collect();
        let all_roles = self
            .bootstrap
            .cluster_roles
            .iter()
            .filter(|r| !local_roles.contains(r.metadata.name.as_deref().unwrap_or("")))
            .chain(cluster_roles);
        let all_bindings = self
            .bootstrap
            .cluster_role_bindings
            .iter()
            .filter(|r| !local_bindings.contains(r.metadata.name.as_deref().unwrap_or("")))
            .chain(cluster_role_bindings);
        PolicyIndex::build(roles, all_roles, role_bindings, all_bindings)
    }

    /// The whole chain for one request in `cluster` (masters, workspace
    /// access, RBAC).
    pub async fn authorize(&self, cluster: &str, attrs: &Attributes) -> ApiResult<Decision> {
        if attrs.user.in_group(SYSTEM_MASTERS) {
            return Ok(Decision::Allow {
                reason: Arc::from(""),
            });
        }
        let policy = self.policy(cluster).await?;
        if !self.may_enter(&policy, cluster, &attrs.user) {
            return Ok(Decision::NoOpinion {
                reason: ACCESS_DENIED.to_string(),
            });
        }
        if super::system::protected(attrs) {
            return Ok(Decision::NoOpinion {
                reason: super::system::REASON.to_string(),
            });
        }
        Ok(policy.authorize(attrs))
    }

    /// RBAC of `cluster` alone, without the workspace-access gate: for
    /// permissions a workspace grants to outsiders who never enter it,
    /// like `bind` on an APIExport.
    pub async fn authorize_rbac(&self, cluster: &str, attrs: &Attributes) -> ApiResult<Decision> {
        if attrs.user.in_group(SYSTEM_MASTERS) {
            return Ok(Decision::Allow {
                reason: Arc::from(""),
            });
        }
        if super::system::protected(attrs) {
            return Ok(Decision::NoOpinion {
                reason: super::system::REASON.to_string(),
            });
        }
        Ok(self.policy(cluster).await?.authorize(attrs))
    }

    /// kcp's deep SubjectAccessReview: whether `user` holds `verb` on the
    /// named `group`/`resource` in `cluster`'s RBAC, as the identity it has
    /// there (scoped, see [`scope_to_cluster`]) and without needing access
    /// to that workspace — how a workspace lets outsiders `use` its types
    /// or `bind` its exports.
    pub async fn allows_in(
        &self,
        cluster: &str,
        user: &UserInfo,
        verb: &str,
        group: &str,
        resource: &str,
        name: &str,
    ) -> ApiResult<bool> {
        let user = scope_to_cluster(user.clone(), Some(cluster));
        let attrs = Attributes::resource(user, verb, "", group, "", resource, "", name);
        Ok(self.authorize_rbac(cluster, &attrs).await?.is_allowed())
    }

    /// Whether `user` may enter the workspace at all.
    pub async fn has_access(&self, cluster: &str, user: &UserInfo) -> ApiResult<bool> {
        if user.in_group(SYSTEM_MASTERS) {
            return Ok(true);
        }
        let policy = self.policy(cluster).await?;
        Ok(self.may_enter(&policy, cluster, user))
    }

    fn may_enter(&self, policy: &PolicyIndex, cluster: &str, user: &UserInfo) -> bool {
        is_service_account_of(user, cluster)
            || policy
                .authorize(&Attributes::non_resource(
                    user.clone(),
                    ACCESS_VERB,
                    ACCESS_PATH,
                ))
                .is_allowed()
    }

    /// What a SelfSubjectRulesReview reports. Masters get `*` (upstream's
    /// privileged-group authorizer); users without access to the workspace
    /// get nothing.
    pub async fn rules_review(
        &self,
        cluster: &str,
        user: &UserInfo,
        namespace: &str,
    ) -> ApiResult<RulesReview> {
        if user.in_group(SYSTEM_MASTERS) {
            let all = Some(vec!["*".to_string()]);
            return Ok(RulesReview {
                resource_rules: vec![ResourceRule {
                    verbs: vec!["*".into()],
                    api_groups: all.clone(),
                    resources: all.clone(),
                    resource_names: None,
                }],
                non_resource_rules: vec![NonResourceRule {
                    verbs: vec!["*".into()],
                    non_resource_urls: all,
                }],
                ..Default::default()
            });
        }
        let policy = self.policy(cluster).await?;
        if !self.may_enter(&policy, cluster, user) {
            return Ok(RulesReview::default());
        }
        Ok(policy.rules_review(user, namespace))
    }

    /// The rules `user` holds in `namespace` of `cluster`, for escalation
    /// checks; masters are handled by the caller.
    pub async fn rules_of(
        &self,
        cluster: &str,
        user: &UserInfo,
        namespace: &str,
    ) -> ApiResult<(Vec<k8s_openapi::api::rbac::v1::PolicyRule>, Option<String>)> {
        let policy = self.policy(cluster).await?;
        Ok(policy.policy_rules(user, namespace))
    }
}

/// The reason of a refusal for want of workspace access. It must not depend
/// on whether the workspace exists.
pub const ACCESS_DENIED: &str = "workspace access not permitted";

/// `extra` key restricting an identity to logical clusters (kcp's): each
/// value is a comma-separated list of `cluster:<name>` entries, one of
/// which must name the cluster; every value must hold.
pub const SCOPES_EXTRA: &str = "authentication.kcp.io/scopes";

/// Whether `user` may act as itself in `cluster` under its scopes (kcp's
/// `IsInScope`). An unresolved cluster is in no scope.
pub fn in_scope(user: &UserInfo, cluster: Option<&str>) -> bool {
    let Some(scopes) = user.extra.get(SCOPES_EXTRA) else {
        return true;
    };
    let Some(cluster) = cluster else {
        return false;
    };
    scopes.iter().all(|value| {
        value
            .split(',')
            .any(|s| s.trim().strip_prefix("cluster:") == Some(cluster))
    })
}

/// Restricts `user` to the logical cluster it is scoped to by
/// [`SCOPES_EXTRA`] (outside: `system:anonymous` with only
/// `system:authenticated`, kcp's `scopeDown`), then applies the
/// ServiceAccount rule below.
///
/// A ServiceAccount's identity is only good in its own workspace. Outside
/// it, the user is renamed `system:kcp:serviceaccount:<cluster>:<ns>:<name>`
/// and keeps only `system:authenticated`, so bindings written for a
/// same-named account of the addressed workspace cannot match it.
pub fn scope_to_cluster(user: UserInfo, cluster: Option<&str>) -> UserInfo {
    if !in_scope(&user, cluster) {
        return UserInfo {
            name: trellis_apis::rbac::attributes::ANONYMOUS.to_string(),
            uid: String::new(),
            groups: vec![trellis_apis::rbac::attributes::ALL_AUTHENTICATED.to_string()],
            extra: user.extra,
        };
    }
    let Some(home) = user
        .extra
        .get(CLUSTER_NAME_EXTRA)
        .and_then(|c| c.first())
        .cloned()
    else {
        return user;
    };
    if cluster == Some(home.as_str()) {
        return user;
    }
    let Some((ns, name)) =
        trellis_apis::rbac::attributes::split_service_account_username(&user.name)
    else {
        return user;
    };
    UserInfo {
        name: format!("system:kcp:serviceaccount:{home}:{ns}:{name}"),
        uid: user.uid.clone(),
        groups: vec![trellis_apis::rbac::attributes::ALL_AUTHENTICATED.to_string()],
        extra: user.extra.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use trellis_storage::{Preconditions, SledStorage, Value};

    use super::*;

    fn crb_key(cluster: &str, name: &str) -> bytes::Bytes {
        keyspace("clusterrolebindings")
            .object(cluster, "", name)
            .unwrap()
    }

    /// A binding written straight to storage, as a controller or another
    /// replica on the same store would: no store side effect tells the
    /// authorizer.
    async fn grant(storage: &Arc<dyn Storage>, cluster: &str, user: &str) {
        let crb = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "grant"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        });
        storage
            .create(
                crb_key(cluster, "grant"),
                Value::verbatim(serde_json::to_vec(&crb).unwrap()),
                None,
            )
            .await
            .unwrap();
    }

    /// Bob reading a ConfigMap in `default`.
    fn bob_gets() -> Attributes {
        Attributes::resource(
            UserInfo::new("bob"),
            "get",
            "default",
            "",
            "v1",
            "configmaps",
            "",
            "x",
        )
    }

    fn store(dir: &tempfile::TempDir) -> Arc<dyn Storage> {
        Arc::new(SledStorage::open_path(dir.path()).unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cached_policy_follows_storage_whoever_writes() {
        let dir = tempfile::tempdir().unwrap();
        let storage = store(&dir);
        let authz = Authorizer::new(storage.clone());
        authz.follow();
        let get = bob_gets();
        let allowed = || async { authz.authorize_rbac("c1", &get).await.unwrap().is_allowed() };
        assert!(!allowed().await);
        assert_eq!(authz.cached(), 1);
        // Read-your-writes, every time, without waiting between the write
        // and the request.
        for _ in 0..50 {
            grant(&storage, "c1", "bob").await;
            assert!(
                allowed().await,
                "a committed grant is seen by the next request"
            );
            storage
                .delete(crb_key("c1", "grant"), Preconditions::default())
                .await
                .unwrap();
            assert!(!allowed().await, "a committed revocation is seen at once");
        }
        // Writes elsewhere (other resources, other workspaces' RBAC) keep
        // c1's index: the very same one is served.
        let before = authz.policy("c1").await.unwrap();
        let cms = trellis_storage::keys::Keyspace::new("", "configmaps", None).unwrap();
        for i in 0..20 {
            storage
                .create(
                    cms.object("c1", "default", &format!("cm{i}")).unwrap(),
                    Value::verbatim(b"{}".to_vec()),
                    None,
                )
                .await
                .unwrap();
        }
        grant(&storage, "c2", "bob").await;
        assert!(Arc::ptr_eq(&before, &authz.policy("c1").await.unwrap()));
        assert!(!allowed().await);
        storage.close().await.unwrap();
    }

    /// Without a watch feeding it, nothing is cached (and nothing stale is
    /// served).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_watch_every_request_reads_storage() {
        let dir = tempfile::tempdir().unwrap();
        let storage = store(&dir);
        let authz = Authorizer::new(storage.clone());
        let get = bob_gets();
        assert!(!authz.authorize_rbac("c1", &get).await.unwrap().is_allowed());
        grant(&storage, "c1", "bob").await;
        assert!(authz.authorize_rbac("c1", &get).await.unwrap().is_allowed());
        assert_eq!(authz.cached(), 0);
        storage.close().await.unwrap();
    }
}
