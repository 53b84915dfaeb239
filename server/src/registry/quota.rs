//! ResourceQuota object counts, enforced at create as kube's
//! `ResourceQuota` admission plugin does for counts: a create in a
//! namespace whose quotas limit `count/<resource>[.<group>]` (or, for
//! core kinds, the legacy name: `configmaps`, `secrets`, …) is admitted
//! only if every such quota has room, and takes its place by raising the
//! quota's `status.used` with a compare-and-swap before the object is
//! written — so concurrent creates, on any replica, never pass a limit
//! together. Refusals are kube's: `exceeded quota: <quota>, requested:
//! configmaps=1, used: configmaps=2, limited: configmaps=2` (403).
//!
//! `status.used` is raised by creates; a delete does not lower it. Where
//! it is missing, or a create would not fit, the namespace's objects are
//! counted again and the count replaces it (so room freed by deletes is
//! found when it is needed, and `status.used` is filled in for a new
//! quota by its first create). For that count to be right, a limited
//! create holds a lock for its namespace (one of [`STRIPES`], by hash)
//! from taking its place until its object is written: within one server a
//! recount never misses a create in flight. Across replicas the
//! compare-and-swap still keeps two creates from taking the last place,
//! but a recount on one replica can miss a create in flight on another
//! (kube's quota controller has the same window).
//!
//! Only object counts are enforced (nothing here has compute resources);
//! `scopes`/`scopeSelector` are not evaluated (kube's scopes are about
//! pods).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use trellis_apis::Status;
use trellis_apis::cel::Quantity;
use trellis_storage::{ListOptions, ReadAt};

use super::ResourceDef;
use super::store::{Store, WriteCtx};
use crate::error::{ApiError, ApiResult};

/// Locks serializing limited creates, by hash of (cluster, namespace).
pub(crate) const STRIPES: usize = 64;

/// Held by a limited create until its object is written.
pub(crate) type QuotaGuard = tokio::sync::OwnedMutexGuard<()>;

/// The lock stripes (see the module docs), picked by a randomly keyed
/// hash so that no tenant can choose namespace names that share another
/// tenant's stripe.
pub(crate) struct Stripes {
    locks: Vec<Arc<tokio::sync::Mutex<()>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Stripes {
    fn default() -> Self {
        Stripes {
            locks: (0..STRIPES).map(|_| Arc::default()).collect(),
            hasher: Default::default(),
        }
    }
}

impl Stripes {
    async fn lock(&self, cluster: &str, ns: &str) -> QuotaGuard {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one((cluster, ns));
        self.locks[(h as usize) % STRIPES]
            .clone()
            .lock_owned()
            .await
    }
}

/// Core kinds kube also counts under their plain resource name.
const LEGACY: &[&str] = &[
    "configmaps",
    "persistentvolumeclaims",
    "pods",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "services",
];

/// The quota names that count objects of `def`.
fn count_names(def: &ResourceDef) -> Vec<String> {
    let mut names = vec![if def.group.is_empty() {
        format!("count/{}", def.resource)
    } else {
        format!("count/{}.{}", def.resource, def.group)
    }];
    if def.group.is_empty() && LEGACY.contains(&def.resource.as_str()) {
        names.push(def.resource.clone());
    }
    names
}

fn count_of(v: Option<&Value>) -> Option<i64> {
    Quantity::parse(v?.as_str()?)?.floor_integer()
}

impl Store {
    /// The ResourceQuota definition the quota step writes status with.
    pub fn set_quota_def(&self, def: Arc<ResourceDef>) {
        let _ = self.quota_def.set(def);
    }

    /// Every stored object of `def` in the namespace, now.
    async fn in_namespace(
        &self,
        def: &ResourceDef,
        cluster: &str,
        ns: &str,
    ) -> ApiResult<Vec<trellis_storage::Record>> {
        let prefix = def
            .keyspace
            .namespace(cluster, ns)
            .map_err(|e| ApiError::internal("quota keyspace", e))?;
        let page = self
            .storage
            .list(ListOptions::all(prefix, ReadAt::Latest))
            .await
            .map_err(|e| ApiError::from_storage(e, &def.group_resource(), ""))?;
        Ok(page.items)
    }

    /// Objects of `def` in the namespace now.
    async fn count_objects(&self, def: &ResourceDef, cluster: &str, ns: &str) -> ApiResult<i64> {
        Ok(self.in_namespace(def, cluster, ns).await?.len() as i64)
    }

    /// The namespace's quotas that count `names`: (quota name, quota,
    /// the names it limits).
    async fn limiting(
        &self,
        quota_def: &ResourceDef,
        cluster: &str,
        ns: &str,
        names: &[String],
    ) -> ApiResult<Vec<(String, Value, Vec<String>)>> {
        let mut out = Vec::new();
        for rec in self.in_namespace(quota_def, cluster, ns).await? {
            let Ok(quota) = serde_json::from_slice::<Value>(&rec.value) else {
                continue;
            };
            let limited: Vec<String> = names
                .iter()
                .filter(|n| {
                    quota
                        .pointer("/spec/hard")
                        .and_then(|h| h.get(*n))
                        .is_some()
                })
                .cloned()
                .collect();
            if !limited.is_empty() {
                let name = quota
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                out.push((name, quota, limited));
            }
        }
        Ok(out)
    }

    /// Admits the create of `name` into `ctx`'s namespace against its
    /// ResourceQuotas (a dry run checks without taking a place); if one
    /// limits it, the guard to hold until the object is written.
    pub(crate) async fn admit_quota(
        &self,
        ctx: &WriteCtx<'_>,
        name: &str,
    ) -> ApiResult<Option<QuotaGuard>> {
        let (Some(ns), true) = (ctx.namespace, ctx.def.namespaced) else {
            return Ok(None);
        };
        let Some(quota_def) = self.quota_def.get() else {
            return Ok(None);
        };
        let names = count_names(ctx.def);
        // A first look without the lock: most namespaces have no quota
        // counting this resource.
        if self
            .limiting(quota_def, ctx.cluster, ns, &names)
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        let guard = if ctx.dry_run {
            None
        } else {
            Some(self.quota_locks.lock(ctx.cluster, ns).await)
        };
        // Under the lock: the quotas as they are now.
        let quotas = self.limiting(quota_def, ctx.cluster, ns, &names).await?;
        let recount = if quotas
            .iter()
            .any(|(_, q, limited)| limited.iter().any(|n| full_or_missing(q, n)))
        {
            Some(self.count_objects(ctx.def, ctx.cluster, ns).await?)
        } else {
            None
        };
        let gr = ctx.def.group_resource();
        // Every quota is checked before any place is taken (kube's
        // `checkQuotas`), so a refusal by one leaves the others as they were.
        for (quota_name, q, limited) in &quotas {
            check(q, limited, recount, quota_name, &gr, name)?;
        }
        if ctx.dry_run {
            return Ok(None);
        }
        for (quota_name, _, limited) in &quotas {
            let status_ctx = WriteCtx::system(
                ctx.cluster,
                quota_def,
                Some(ns),
                Some("status"),
                "resourcequota-admission",
            );
            // Boxed: an update may create (`update_with`), which admits
            // quotas again — a cycle of futures only a box can hold.
            let taken = Box::pin(self.update_existing(&status_ctx, quota_name, |q| {
                let next = check(q, limited, recount, quota_name, &gr, name)?;
                let hard = q.pointer("/spec/hard").cloned().unwrap_or(Value::Null);
                let obj = q.as_object_mut().expect("a stored object");
                let status = obj
                    .entry("status")
                    .or_insert_with(|| Value::Object(Default::default()));
                let status = status
                    .as_object_mut()
                    .ok_or_else(|| ApiError::bad_request("quota status is not an object"))?;
                status.insert("hard".into(), hard);
                let used = status
                    .entry("used")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(used) = used {
                    for (n, v) in next {
                        used.insert(n, Value::String(v.to_string()));
                    }
                }
                Ok(())
            }))
            .await;
            match taken {
                Ok(_) => {}
                // Deleted since it was read: it limits nothing any more.
                Err(e) if e.code() == 404 && e.status().reason == "NotFound" => {}
                Err(e) => return Err(e),
            }
        }
        Ok(guard)
    }
}

/// The limit of `n` in quota `q`: one that does not parse, or is beyond
/// `i64`, limits nothing.
fn hard_of(q: &Value, n: &str) -> i64 {
    count_of(q.pointer("/spec/hard").and_then(|h| h.get(n))).unwrap_or(i64::MAX)
}

fn used_of(q: &Value, n: &str) -> Option<i64> {
    count_of(q.pointer("/status/used").and_then(|u| u.get(n)))
}

/// Whether `q`'s count of `n` must be recounted: missing, or full.
fn full_or_missing(q: &Value, n: &str) -> bool {
    used_of(q, n).is_none_or(|u| u.saturating_add(1) > hard_of(q, n))
}

/// The counts `q` would hold with one more object, or kube's refusal.
fn check(
    q: &Value,
    limited: &[String],
    recount: Option<i64>,
    quota_name: &str,
    gr: &trellis_apis::GroupResource,
    name: &str,
) -> ApiResult<BTreeMap<String, i64>> {
    let mut next = BTreeMap::new();
    let mut over: Vec<(String, i64, i64)> = Vec::new();
    for n in limited {
        let hard = hard_of(q, n);
        let used = match (used_of(q, n), recount) {
            (Some(u), _) if u.saturating_add(1) <= hard => u,
            (_, Some(actual)) => actual,
            (Some(u), None) => u,
            (None, None) => 0,
        };
        if used.saturating_add(1) > hard {
            over.push((n.clone(), used, hard));
        }
        next.insert(n.clone(), used.saturating_add(1));
    }
    if over.is_empty() {
        return Ok(next);
    }
    // kube's prettyPrint: by name.
    over.sort();
    let list = |f: &dyn Fn(&(String, i64, i64)) -> String| {
        over.iter().map(f).collect::<Vec<_>>().join(",")
    };
    let why = format!(
        "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
        list(&|(n, _, _)| format!("{n}=1")),
        list(&|(n, u, _)| format!("{n}={u}")),
        list(&|(n, _, h)| format!("{n}={h}")),
    );
    Err(Status::forbidden(gr, name, &why).into())
}

#[cfg(test)]
mod tests {
    use http::Method;
    use serde_json::json;

    use crate::testing::{Fixture, json_call};

    const QUOTAS: &str = "/api/v1/namespaces/default/resourcequotas";
    const CMS: &str = "/api/v1/namespaces/default/configmaps";

    async fn setup() -> Fixture {
        let f = Fixture::new();
        let (code, _) = json_call(
            &f.state,
            Method::POST,
            "/api/v1/namespaces",
            Some(json!({"metadata": {"name": "default"}})),
        )
        .await;
        assert_eq!(code, 201);
        f
    }

    async fn create_cm(f: &Fixture, name: &str, dry_run: bool) -> (u16, serde_json::Value) {
        let path = if dry_run {
            format!("{CMS}?dryRun=All")
        } else {
            CMS.to_string()
        };
        json_call(
            &f.state,
            Method::POST,
            &path,
            Some(json!({"metadata": {"name": name}})),
        )
        .await
    }

    #[tokio::test]
    async fn object_counts_are_enforced_and_freed_room_is_found() {
        let f = setup().await;
        let (code, q) = json_call(
            &f.state,
            Method::POST,
            QUOTAS,
            Some(json!({"metadata": {"name": "q"},
                        "spec": {"hard": {"count/configmaps": "2", "configmaps": "3", "secrets": "1"}}})),
        )
        .await;
        assert_eq!(code, 201, "{q}");
        for n in ["c1", "c2"] {
            assert_eq!(create_cm(&f, n, false).await.0, 201);
        }
        let (_, q) = json_call(&f.state, Method::GET, &format!("{QUOTAS}/q"), None).await;
        assert_eq!(q["status"]["used"]["count/configmaps"], "2", "{q}");
        assert_eq!(q["status"]["used"]["configmaps"], "2", "{q}");
        assert_eq!(q["status"]["hard"]["count/configmaps"], "2", "{q}");
        // At the limit: a dry run is refused too, and takes no place.
        for dry in [true, false] {
            let (code, s) = create_cm(&f, "c3", dry).await;
            assert_eq!(code, 403, "{s}");
            assert_eq!(
                s["message"],
                "configmaps \"c3\" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"
            );
        }
        // A delete frees a place: the next create recounts and finds it.
        let (code, _) = json_call(&f.state, Method::DELETE, &format!("{CMS}/c1"), None).await;
        assert_eq!(code, 200);
        assert_eq!(create_cm(&f, "c3", true).await.0, 201);
        let (_, q) = json_call(&f.state, Method::GET, &format!("{QUOTAS}/q"), None).await;
        assert_eq!(
            q["status"]["used"]["count/configmaps"], "2",
            "a dry run took a place: {q}"
        );
        assert_eq!(create_cm(&f, "c3", false).await.0, 201);
        assert_eq!(create_cm(&f, "c4", false).await.0, 403);
        // Other resources are only limited by their own names.
        let secret = |n: &str| json!({"metadata": {"name": n}});
        let path = "/api/v1/namespaces/default/secrets";
        assert_eq!(
            json_call(&f.state, Method::POST, path, Some(secret("s1")))
                .await
                .0,
            201
        );
        let (code, s) = json_call(&f.state, Method::POST, path, Some(secret("s2"))).await;
        assert_eq!(code, 403, "{s}");
        assert!(
            s["message"]
                .as_str()
                .unwrap()
                .contains("limited: secrets=1"),
            "{s}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_never_pass_a_limit_together() {
        let f = setup().await;
        let (code, _) = json_call(
            &f.state,
            Method::POST,
            QUOTAS,
            Some(json!({"metadata": {"name": "q"}, "spec": {"hard": {"count/configmaps": "5"}}})),
        )
        .await;
        assert_eq!(code, 201);
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let state = f.state.clone();
                tokio::spawn(async move {
                    json_call(
                        &state,
                        Method::POST,
                        CMS,
                        Some(json!({"metadata": {"name": format!("c{i}")}})),
                    )
                    .await
                    .0
                })
            })
            .collect();
        let mut codes = Vec::new();
        for t in tasks {
            codes.push(t.await.unwrap());
        }
        let created = codes.iter().filter(|c| **c == 201).count();
        assert_eq!(created, 5, "{codes:?}");
        assert!(codes.iter().all(|c| *c == 201 || *c == 403), "{codes:?}");
        let (_, list) = json_call(&f.state, Method::GET, CMS, None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn quotas_are_validated_like_kube() {
        let f = setup().await;
        for (hard, want) in [
            (
                json!({"configmaps": "lots"}),
                "spec.hard[configmaps]: Invalid value: \"lots\": quantities must match the regular expression",
            ),
            (
                json!({"configmaps": "-1"}),
                "spec.hard[configmaps]: Invalid value: \"-1\": must be greater than or equal to 0",
            ),
        ] {
            let (code, s) = json_call(
                &f.state,
                Method::POST,
                QUOTAS,
                Some(json!({"metadata": {"name": "bad"}, "spec": {"hard": hard}})),
            )
            .await;
            assert_eq!(code, 422, "{s}");
            assert!(s["message"].as_str().unwrap().contains(want), "{s}");
        }
        // Group resources count as count/<resource>.<group>.
        let (code, _) = json_call(
            &f.state,
            Method::POST,
            QUOTAS,
            Some(json!({"metadata": {"name": "leases"},
                        "spec": {"hard": {"count/leases.coordination.k8s.io": "0"}}})),
        )
        .await;
        assert_eq!(code, 201);
        let (code, s) = json_call(
            &f.state,
            Method::POST,
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            Some(json!({"metadata": {"name": "l"}})),
        )
        .await;
        assert_eq!(code, 403, "{s}");
        // LimitRanges are stored and served.
        let (code, s) = json_call(
            &f.state,
            Method::POST,
            "/api/v1/namespaces/default/limitranges",
            Some(json!({"metadata": {"name": "lr"},
                        "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}})),
        )
        .await;
        assert_eq!(code, 201, "{s}");
        assert_eq!(s["spec"]["limits"][0]["max"]["cpu"], "2");
    }

    #[tokio::test]
    async fn a_refusal_takes_no_place_and_lists_what_is_over_by_name() {
        let f = setup().await;
        for (name, hard) in [
            ("roomy", json!({"count/configmaps": "10"})),
            ("tight", json!({"count/configmaps": "1", "configmaps": "1"})),
            // Beyond i64: limits nothing (and never overflows a count).
            ("huge", json!({"configmaps": "10E"})),
        ] {
            let (code, s) = json_call(
                &f.state,
                Method::POST,
                QUOTAS,
                Some(json!({"metadata": {"name": name}, "spec": {"hard": hard}})),
            )
            .await;
            assert_eq!(code, 201, "{s}");
        }
        assert_eq!(create_cm(&f, "a", false).await.0, 201);
        let (code, s) = create_cm(&f, "b", false).await;
        assert_eq!(code, 403, "{s}");
        assert_eq!(
            s["message"],
            "configmaps \"b\" is forbidden: exceeded quota: tight, requested: configmaps=1,count/configmaps=1, used: configmaps=1,count/configmaps=1, limited: configmaps=1,count/configmaps=1"
        );
        // The quota checked first was not raised by the refused create.
        let (_, q) = json_call(&f.state, Method::GET, &format!("{QUOTAS}/roomy"), None).await;
        assert_eq!(q["status"]["used"]["count/configmaps"], "1", "{q}");
    }
}
