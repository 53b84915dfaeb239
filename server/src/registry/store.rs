//! The one generic store every resource is served through.
//!
//! Like `k8s.io/apiserver/pkg/registry/generic/registry.Store`: create,
//! get, list, update, patch, delete and deletecollection are written once;
//! what differs per resource comes from its [`Strategy`](super::Strategy).
//! Writes are read-modify-write loops over the storage's compare-and-swap,
//! retried on conflict unless the client pinned a resourceVersion.
//!
//! Objects travel in three forms: the *served* form of the requested
//! group/version, the *stored* form, and the definition's *working* form
//! ([`super::resource::Conversion`]; the stored form unless a webhook
//! converts). The strategy's `decode` works on the served form; everything
//! else (defaults, validation, admission, selectors, tables) on the working
//! form; `convert.rs` moves objects between them. Reads of the storage
//! version return stored bytes untouched.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use trellis_apis::{FieldError, GroupResource, Status, StatusCause, StatusDetails};
use trellis_storage::keys::Keyspace;
use trellis_storage::{ListOptions, Preconditions, ReadAt, Record, Storage};

use super::ResourceDef;
use super::filter::Filter;
use crate::error::{ApiError, ApiResult};
use crate::managed::{self, Scope};
use crate::meta::{self, Sentinel};
use crate::request::params::FieldValidation;

/// The cluster name addressing every logical cluster at once (list and
/// watch only).
pub const WILDCARD: &str = "*";

/// Attempts for read-modify-write loops that lose a compare-and-swap.
const MAX_RETRIES: usize = 16;
/// Attempts to find an unused generated name.
const MAX_GENERATE_ATTEMPTS: usize = 8;

/// Who writes, where, and how.
#[derive(Clone, Debug)]
pub struct WriteCtx<'a> {
    pub cluster: &'a str,
    pub def: &'a Arc<ResourceDef>,
    /// Namespace from the URL (namespaced resources).
    pub namespace: Option<&'a str>,
    pub manager: &'a str,
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// `status` or `finalize` for subresource writes.
    pub subresource: Option<&'a str>,
    /// A server-side apply: the caller already computed managedFields.
    pub apply: bool,
    /// The caller; `None` for the server's own controllers.
    pub user: Option<&'a crate::auth::UserInfo>,
    /// The workspace's resources, for admission policies (param kinds,
    /// equivalent resources); `None` for the server's own writes.
    pub registry: Option<&'a super::Registry>,
}

impl<'a> WriteCtx<'a> {
    /// A write by one of the server's own controllers: no caller to admit,
    /// not a dry run, unknown fields ignored.
    pub fn system(
        cluster: &'a str,
        def: &'a Arc<ResourceDef>,
        namespace: Option<&'a str>,
        subresource: Option<&'a str>,
        manager: &'a str,
    ) -> Self {
        WriteCtx {
            cluster,
            def,
            namespace,
            manager,
            dry_run: false,
            validation: FieldValidation::Ignore,
            subresource,
            apply: false,
            user: None,
            registry: None,
        }
    }

    /// Which part of the object this write's manager may own.
    pub fn scope(&self) -> Scope {
        match (self.subresource, self.def.status_subresource) {
            // /approval writes conditions, a part of status.
            (Some("status" | "approval"), _) => Scope::Status,
            (_, true) => Scope::Main,
            _ => Scope::Whole,
        }
    }
}

/// The outcome of a write.
#[derive(Debug)]
pub struct WriteResult {
    /// The object as the client asked for it (served form), as JSON.
    pub object: Bytes,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// The outcome of a delete.
#[derive(Debug)]
pub enum Deleted {
    /// Removed from storage; `object` is its final state.
    Gone { object: Bytes, uid: String },
    /// Deletion started but waits for finalizers; the object as it is now.
    Pending(Bytes),
}

/// Options of a DELETE.
#[derive(Clone, Debug, Default)]
pub struct DeleteOpts {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
    /// What happens to the object's dependents (`propagationPolicy`).
    pub propagation: Propagation,
}

/// kube's `DeletionPropagation`: what the garbage collector does with the
/// dependents of a deleted object (see `controllers/gc.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// The object goes at once; its dependents are collected after.
    #[default]
    Background,
    /// The object waits (finalizer `foregroundDeletion`) until its
    /// dependents that block owner deletion are gone.
    Foreground,
    /// The object waits (finalizer `orphan`) until its dependents no
    /// longer name it as an owner.
    Orphan,
}

impl Propagation {
    /// The finalizer that holds the object for the collector, if any.
    pub fn finalizer(self) -> Option<&'static str> {
        match self {
            Propagation::Background => None,
            Propagation::Foreground => Some(meta::FOREGROUND_FINALIZER),
            Propagation::Orphan => Some(meta::ORPHAN_FINALIZER),
        }
    }
}

/// A page of a list, in the served form.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Bytes>,
    pub revision: u64,
    pub continue_token: Option<String>,
}

/// What a list asks for.
#[derive(Clone, Copy, Debug)]
pub struct ListQuery<'a> {
    pub filter: &'a Filter,
    pub limit: Option<usize>,
    pub continue_token: Option<&'a str>,
    pub at: ListAt,
}

/// Which revision a list reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListAt {
    Latest,
    /// Exactly this revision (410 if compacted).
    Exact(u64),
    /// This revision or newer (504 if the store has not reached it).
    NotOlderThan(u64),
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct ContinueToken {
    v: String,
    /// The revision the list is read at; -1 (upstream's convention) for
    /// "the latest", in the token offered when the original one expired.
    rv: i64,
    start: String,
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn encode_continue(rv: i64, last_key: &[u8], prefix: &[u8]) -> String {
    let start = String::from_utf8_lossy(&last_key[prefix.len()..]).into_owned();
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start,
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&token).expect("token serialises"))
}

pub(crate) fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let t: ContinueToken = serde_json::from_slice(&raw)
        .map_err(|_| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    if t.v != "meta.k8s.io/v1" {
        return Err(bad("server does not recognize this encoded key"));
    }
    if t.start.contains("..") || t.start.starts_with('/') {
        return Err(bad("key path is not allowed"));
    }
    if t.rv == 0 || t.rv < -1 {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    Ok(t)
}

/// What admission sees of a caller's write; `None` for the server's own
/// writes (not admitted).
fn admission_request<'a>(
    ctx: &'a WriteCtx<'_>,
    operation: crate::policy::Operation,
    name: &'a str,
    object: Option<&'a Value>,
    old_object: Option<&'a Value>,
) -> Option<crate::policy::Request<'a>> {
    Some(crate::policy::Request {
        cluster: ctx.cluster,
        def: ctx.def,
        registry: ctx.registry,
        operation,
        subresource: ctx.subresource.unwrap_or(""),
        namespace: if ctx.def.namespaced {
            ctx.namespace.unwrap_or("")
        } else {
            ""
        },
        name,
        object,
        old_object,
        user: ctx.user?,
        dry_run: ctx.dry_run,
    })
}

pub struct Store {
    pub storage: Arc<dyn Storage>,
    /// Authorization policy, which admission consults for escalation
    /// checks (its cache follows RBAC writes through a storage watch).
    pub authz: Arc<crate::authz::Authorizer>,
    /// ValidatingAdmissionPolicies, run on every caller's write.
    pub policies: Arc<crate::policy::Policies>,
    /// ResourceQuotas' definition, for the quota step (`registry/quota.rs`).
    pub(crate) quota_def: std::sync::OnceLock<Arc<ResourceDef>>,
    pub(crate) quota_locks: super::quota::Stripes,
    /// kcp's total object limit per logical cluster.
    pub object_limits: Arc<super::object_limit::ObjectLimits>,
    sentinel: Sentinel,
    namespaces: Keyspace,
}

fn parse(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal("stored object is not valid JSON", e))
}

/// An object's bytes as kube-apiserver writes them (Go's key order).
fn to_json(v: &Value) -> Bytes {
    Bytes::from(trellis_apis::proto::order::to_vec(v))
}

impl Store {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Store {
            authz: Arc::new(crate::authz::Authorizer::new(storage.clone())),
            policies: Arc::new(crate::policy::Policies::new(storage.clone())),
            quota_def: std::sync::OnceLock::new(),
            quota_locks: Default::default(),
            object_limits: Default::default(),
            storage,
            sentinel: Sentinel::default(),
            namespaces: Keyspace::new("", "namespaces", None).expect("valid keyspace"),
        }
    }

    fn admit_ctx<'a>(&'a self, ctx: &'a WriteCtx<'_>) -> super::AdmitCtx<'a> {
        super::AdmitCtx {
            storage: &self.storage,
            authz: &self.authz,
            cluster: ctx.cluster,
            user: ctx.user,
            dry_run: ctx.dry_run,
            subresource: ctx.subresource,
        }
    }

    /// Runs admission policies for a caller's write (the server's own
    /// writes are not admitted).
    async fn admit_policies(
        &self,
        ctx: &WriteCtx<'_>,
        operation: crate::policy::Operation,
        name: &str,
        object: Option<&Value>,
        old_object: Option<&Value>,
    ) -> ApiResult<()> {
        let Some(req) = admission_request(ctx, operation, name, object, old_object) else {
            return Ok(());
        };
        self.policies.admit(&req).await
    }

    /// Runs the mutating admission webhooks for a caller's write over
    /// `object` (stored form; `None` for a DELETE); returns whether they
    /// changed it, so the caller validates it again.
    async fn mutate(
        &self,
        ctx: &WriteCtx<'_>,
        operation: crate::policy::Operation,
        name: &str,
        object: Option<&mut Value>,
        old_object: Option<&Value>,
    ) -> ApiResult<bool> {
        let current = object.as_deref().cloned();
        let Some(req) = admission_request(ctx, operation, name, current.as_ref(), old_object)
        else {
            return Ok(false);
        };
        self.policies.mutate(&req, object).await
    }

    /// The answer to `ctx`'s caller for stored bytes: served, except that
    /// the server's own callers (no user), which never read it, take the
    /// stored form rather than wait on a conversion webhook.
    async fn answer(ctx: &WriteCtx<'_>, stored: &Bytes) -> ApiResult<Bytes> {
        if ctx.user.is_none() && Self::converts_on_write(ctx.def) {
            return Ok(stored.clone());
        }
        Self::served(ctx.def, stored).await
    }

    /// The answer when nothing was written: `old` is `stored` in the
    /// working form already, so a remote conversion is not asked again.
    async fn unchanged(ctx: &WriteCtx<'_>, stored: &Bytes, old: &Value) -> ApiResult<Bytes> {
        if Self::converts_on_write(ctx.def) {
            return Ok(to_json(&Self::served_value(ctx.def, old.clone())));
        }
        Self::served(ctx.def, stored).await
    }

    /// `obj` (working form) as written to storage.
    async fn encode(
        &self,
        def: &ResourceDef,
        obj: &mut Value,
    ) -> ApiResult<trellis_storage::Value> {
        if !Self::converts_on_write(def) {
            return Ok(self.sentinel.encode(obj));
        }
        let mut stored = Self::storage_form(def, obj.clone()).await?;
        Ok(self.sentinel.encode(&mut stored))
    }

    fn key(
        def: &ResourceDef,
        cluster: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Bytes> {
        let ns = if def.namespaced {
            namespace.unwrap_or("")
        } else {
            ""
        };
        def.keyspace
            .object(cluster, ns, name)
            .map_err(|_| Status::not_found(&def.group_resource(), name).into())
    }

    // ----------------------------------------------------------------- reads

    pub async fn get(
        &self,
        cluster: &str,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Record> {
        let key = Self::key(def, cluster, namespace, name)?;
        match self.storage.get(&key).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(Status::not_found(&def.group_resource(), name).into()),
            Err(e) => Err(ApiError::from_storage(e, &def.group_resource(), name)),
        }
    }

    /// The storage prefix a list or watch scans; `cluster` may be
    /// [`WILDCARD`].
    pub fn prefix(
        def: &ResourceDef,
        cluster: &str,
        namespace: Option<&str>,
        filter: &Filter,
    ) -> ApiResult<Bytes> {
        let bad = |_| ApiError::bad_request("invalid namespace or name in request");
        if cluster == WILDCARD {
            // Every workspace: one scan of the keyspace.
            if namespace.is_some() || filter.single_name().is_some() {
                return Err(ApiError::bad_request(
                    "a request across all workspaces cannot address a namespace or a name",
                ));
            }
            return Ok(def.keyspace.all_clusters());
        }
        match (def.namespaced, namespace, filter.single_name()) {
            (true, Some(ns), Some(name)) => def.keyspace.object(cluster, ns, name).map_err(bad),
            (true, Some(ns), None) => def.keyspace.namespace(cluster, ns).map_err(bad),
            (false, _, Some(name)) => def.keyspace.object(cluster, "", name).map_err(bad),
            // Down to the empty namespace segment, so a continue token's
            // key suffix is the bare name (a leading `/` is refused).
            (false, _, None) => def.keyspace.namespace(cluster, "").map_err(bad),
            _ => def.keyspace.cluster(cluster).map_err(bad),
        }
    }

    /// One page of objects matching `q.filter`.
    pub async fn list(
        &self,
        cluster: &str,
        def: &ResourceDef,
        namespace: Option<&str>,
        q: &ListQuery<'_>,
    ) -> ApiResult<ListPage> {
        let ListQuery {
            filter,
            limit,
            continue_token,
            at,
        } = *q;
        let prefix = Self::prefix(def, cluster, namespace, filter)?;
        let (mut start_after, mut read_at) = (None, ReadAt::Latest);
        if let Some(tok) = continue_token {
            let t = decode_continue(tok)?;
            let mut k = prefix.to_vec();
            k.extend_from_slice(t.start.as_bytes());
            start_after = Some(Bytes::from(k));
            read_at = match u64::try_from(t.rv) {
                Ok(rv) => ReadAt::Revision(rv),
                Err(_) => ReadAt::Latest,
            };
        } else {
            match at {
                ListAt::Latest => {}
                ListAt::Exact(rv) => read_at = ReadAt::Revision(rv),
                ListAt::NotOlderThan(rv) => {
                    let current = self.storage.current_revision();
                    if rv > current {
                        return Err(Status::too_large_resource_version(rv, current).into());
                    }
                }
            }
        }
        // Where the client's token left off (later batches of this request
        // move `start_after`, but return nothing if they fail).
        let resume_from = start_after.clone();
        let trivial = filter.is_trivial();
        let want = limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last_key: Option<Bytes> = None;
        let mut more = false;
        let revision = loop {
            let batch = if trivial {
                want.saturating_sub(items.len())
            } else {
                want.saturating_sub(items.len()).clamp(64, 4096)
            };
            let page = self
                .storage
                .list(ListOptions {
                    prefix: prefix.clone(),
                    start_after: start_after.clone(),
                    limit: (batch != usize::MAX).then_some(batch),
                    at: read_at,
                })
                .await
                .map_err(|e| match (e, continue_token) {
                    // Upstream's answer: the list cannot go on consistently,
                    // but here is a token that goes on from the same key at
                    // the latest revision, for a client that accepts that.
                    (trellis_storage::Error::Expired { .. }, Some(_)) => {
                        let mut status = Status::expired(CONTINUE_EXPIRED);
                        if let Some(after) = &resume_from {
                            status.metadata.insert(
                                "continue".into(),
                                encode_continue(-1, after, &prefix).into(),
                            );
                        }
                        status.into()
                    }
                    (e, _) => ApiError::from_storage(e, &def.group_resource(), ""),
                })?;
            read_at = ReadAt::Revision(page.revision);
            let n = page.items.len();
            for (i, rec) in page.items.into_iter().enumerate() {
                crate::fairness::pace(i).await;
                if items.len() == want {
                    more = true;
                    break;
                }
                start_after = Some(rec.key.clone());
                let keep = if trivial {
                    true
                } else {
                    let obj = parse(&rec.value)?;
                    filter.matches(def, &obj)
                };
                if keep {
                    last_key = Some(rec.key.clone());
                    items.push((rec.key, rec.value));
                }
                if items.len() == want && (i + 1 < n || page.more) {
                    more = true;
                    break;
                }
            }
            if more || !page.more {
                break page.revision;
            }
        };
        let continue_token = match (more, &last_key) {
            (true, Some(k)) => Some(encode_continue(revision as i64, k, &prefix)),
            _ => None,
        };
        Ok(ListPage {
            items: Self::served_page(def, items).await?,
            revision,
            continue_token,
        })
    }

    // ---------------------------------------------------------------- writes

    /// Checks `apiVersion`/`kind` of a body against the endpoint and fills
    /// them in when absent.
    pub fn check_type_meta(def: &ResourceDef, body: &mut Value) -> ApiResult<()> {
        let Some(obj) = body.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        };
        // kube reads apiVersion/kind into Go strings first; anything else
        // (a number, an object) fails that decode with a 400.
        for field in ["apiVersion", "kind"] {
            let go_type = match obj.get(field) {
                None | Some(Value::Null | Value::String(_)) => continue,
                Some(Value::Number(_)) => "number",
                Some(Value::Bool(_)) => "bool",
                Some(Value::Array(_)) => "array",
                Some(Value::Object(_)) => "object",
            };
            let text = serde_json::to_string(&*obj).unwrap_or_default();
            let summary = match text.char_indices().nth(30) {
                Some((i, _)) => format!("{} ...", &text[..i]),
                None => text,
            };
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: json: cannot unmarshal {go_type} into Go struct field .{field} of type string ({summary})",
                def.kind
            )));
        }
        let want_av = def.api_version();
        match obj.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => {
                obj.insert("apiVersion".into(), Value::String(want_av));
            }
            Some(av) if av == want_av => {}
            Some(av) => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({want_av})"
                )));
            }
        }
        match obj.get("kind").and_then(Value::as_str) {
            None | Some("") => {
                obj.insert("kind".into(), Value::String(def.kind.clone()));
            }
            Some(k) if k == def.kind => {}
            Some(k) => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    def.kind
                )));
            }
        }
        Ok(())
    }

    /// Decodes a served-form body into the working form, applying
    /// `fieldValidation` to unknown fields.
    pub fn decode(
        def: &ResourceDef,
        mut body: Value,
        validation: FieldValidation,
    ) -> ApiResult<(Value, Vec<String>)> {
        Self::check_type_meta(def, &mut body)?;
        let decoded = def.strategy.decode(body, validation)?;
        let mut warnings = Vec::new();
        if !decoded.unknown_fields.is_empty() {
            match validation {
                FieldValidation::Strict => {
                    let list: Vec<String> = decoded
                        .unknown_fields
                        .iter()
                        .map(|f| format!("unknown field \"{f}\""))
                        .collect();
                    // upstream `transformDecodeError` names the kind.
                    return Err(ApiError::bad_request(format!(
                        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                        list.join(", "),
                        kind = def.kind,
                        version = def.version,
                    )));
                }
                FieldValidation::Warn => warnings.extend(
                    decoded
                        .unknown_fields
                        .iter()
                        .map(|f| format!("unknown field \"{f}\"")),
                ),
                FieldValidation::Ignore => {}
            }
        }
        let working = match &def.converter {
            Some(super::Conversion::Local(c)) => c.to_stored(decoded.object),
            _ => decoded.object,
        };
        Ok((working, warnings))
    }

    fn invalid(def: &ResourceDef, name: &str, errs: Vec<FieldError>) -> ApiResult<()> {
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Status::invalid(&def.group_kind(), name, &errs).into())
        }
    }

    async fn check_namespace(&self, ctx: &WriteCtx<'_>, name: &str) -> ApiResult<()> {
        let def = ctx.def;
        if !def.namespaced {
            return Ok(());
        }
        let ns = ctx.namespace.unwrap_or("");
        let key = self
            .namespaces
            .object(ctx.cluster, "", ns)
            .map_err(|_| Status::not_found(&GroupResource::new("", "namespaces"), ns))?;
        let rec =
            self.storage.get(&key).await.map_err(|e| {
                ApiError::from_storage(e, &GroupResource::new("", "namespaces"), ns)
            })?;
        let Some(rec) = rec else {
            return Err(Status::not_found(&GroupResource::new("", "namespaces"), ns).into());
        };
        let ns_obj = parse(&rec.value)?;
        if crate::builtin::namespace::is_terminating(&ns_obj) {
            let mut s = Status::forbidden(
                &def.group_resource(),
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            );
            s.details.causes.push(StatusCause {
                reason: "NamespaceTerminating".into(),
                message: format!("namespace {ns} is being terminated"),
                field: "metadata.namespace".into(),
            });
            return Err(s.into());
        }
        Ok(())
    }

    fn set_namespace(ctx: &WriteCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        let m = meta::meta_mut(obj);
        if ctx.def.namespaced {
            let url_ns = ctx.namespace.unwrap_or("");
            match m.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    m.insert("namespace".into(), Value::String(url_ns.to_string()));
                }
            }
        } else {
            m.remove("namespace");
        }
        Ok(())
    }

    /// Creates an object from a decoded (stored-form) body.
    pub async fn create(
        &self,
        ctx: &WriteCtx<'_>,
        mut obj: Value,
        mut warnings: Vec<String>,
    ) -> ApiResult<WriteResult> {
        let def = ctx.def;
        Self::set_namespace(ctx, &mut obj)?;
        let now = meta::now_rfc3339();
        {
            let m = meta::meta_mut(&mut obj);
            if m.get("resourceVersion")
                .and_then(Value::as_str)
                .is_some_and(|rv| !rv.is_empty())
            {
                return Err(ApiError::bad_request(
                    "resourceVersion should not be set on objects to be created",
                ));
            }
            for f in [
                "uid",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
                "resourceVersion",
                "generation",
            ] {
                m.remove(f);
            }
            m.insert(
                "uid".into(),
                Value::String(uuid::Uuid::new_v4().to_string()),
            );
            m.insert("creationTimestamp".into(), Value::String(now.clone()));
            if def.strategy.tracks_generation() {
                m.insert("generation".into(), json!(1));
            }
        }
        if def.status_subresource {
            obj.as_object_mut().expect("object").remove("status");
        }
        def.strategy.prepare_for_create(&mut obj);
        let generate =
            meta::name(&obj).is_empty() && !meta::str_field(&obj, "generateName").is_empty();
        if generate {
            let n = meta::generate_name(meta::str_field(&obj, "generateName"));
            meta::meta_mut(&mut obj).insert("name".into(), Value::String(n));
        }
        let name = meta::name(&obj).to_string();
        self.check_namespace(ctx, &name).await?;
        if self
            .mutate(
                ctx,
                crate::policy::Operation::Create,
                &name,
                Some(&mut obj),
                None,
            )
            .await?
        {
            // What the server sets up on create is the server's, whatever
            // a webhook wrote (kube mutates before this preparation).
            if def.status_subresource {
                obj.as_object_mut().expect("object").remove("status");
            }
            def.strategy.prepare_for_create(&mut obj);
        }
        let mut errs = meta::validate_meta(&obj, def.strategy.name_rule(), def.namespaced);
        errs.extend(def.strategy.validate(&obj));
        Self::invalid(def, &name, errs)?;
        if let Some(admission) = &def.admission {
            admission
                .admit_create(&self.admit_ctx(ctx), &mut obj)
                .await?;
        }
        self.admit_policies(
            ctx,
            crate::policy::Operation::Create,
            &name,
            Some(&obj),
            None,
        )
        .await?;
        if !ctx.apply {
            managed::record_update(
                &def.schema,
                None,
                &mut obj,
                ctx.manager,
                &def.api_version(),
                ctx.scope(),
                &now,
            );
        }
        meta::check_depth(&obj)?;
        // Last, as kube's quota plugin, and only once nothing else can
        // refuse the object: it takes a place in the quotas, and holds the
        // namespace's quota lock until the object is written.
        // A conversion webhook is called before the quota lock is taken: a
        // slow one must not hold the namespace's other writers.
        let mut stored = if !ctx.dry_run && Self::converts_on_write(def) {
            Some(Self::storage_form(def, obj.clone()).await?)
        } else {
            None
        };
        let mut key = Self::key(def, ctx.cluster, ctx.namespace, meta::name(&obj))?;
        let mut place = self
            .object_limits
            .admit(ctx.cluster, def, &name, key.clone())
            .await?;
        let _quota = self.admit_quota(ctx, &name).await?;
        if ctx.dry_run {
            let served = Self::served_value(def, obj);
            return Ok(WriteResult {
                object: to_json(&served),
                created: true,
                warnings,
            });
        }
        let uid: Arc<str> = Arc::from(meta::str_field(&obj, "uid"));
        let mut attempts = 0;
        loop {
            let value = match stored.as_mut() {
                Some(s) => self.sentinel.encode(s),
                None => self.sentinel.encode(&mut obj),
            };
            match self
                .storage
                .create(key.clone(), value, Some(uid.clone()))
                .await
            {
                Ok(rec) => {
                    if let Some(place) = place.take() {
                        place.written();
                    }
                    warnings.dedup();
                    return Ok(WriteResult {
                        object: Self::answer(ctx, &rec.value).await?,
                        created: true,
                        warnings,
                    });
                }
                Err(trellis_storage::Error::AlreadyExists)
                    if generate && attempts + 1 < MAX_GENERATE_ATTEMPTS =>
                {
                    attempts += 1;
                    let n = meta::generate_name(meta::str_field(&obj, "generateName"));
                    if let Some(s) = stored.as_mut() {
                        meta::meta_mut(s).insert("name".into(), Value::String(n.clone()));
                    }
                    meta::meta_mut(&mut obj).insert("name".into(), Value::String(n));
                    key = Self::key(def, ctx.cluster, ctx.namespace, meta::name(&obj))?;
                    if let Some(place) = place.as_mut() {
                        place.rekey(key.clone());
                    }
                }
                Err(e) => {
                    return Err(ApiError::from_storage(
                        e,
                        &def.group_resource(),
                        meta::name(&obj),
                    ));
                }
            }
        }
    }

    /// The update half of a write: `old` (stored form) becomes `new`.
    /// Returns the object to store, or `None` for a no-op.
    fn prepare_update(
        &self,
        ctx: &WriteCtx<'_>,
        old: &Value,
        mut new: Value,
        now: &str,
    ) -> ApiResult<Option<Value>> {
        let def = ctx.def;
        Self::set_namespace(ctx, &mut new)?;
        let old_meta = meta::meta(old).clone();
        {
            let m = meta::meta_mut(&mut new);
            for f in [
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_meta.get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
            if m.get("uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
                && let Some(uid) = old_meta.get("uid")
            {
                m.insert("uid".into(), uid.clone());
            }
            m.remove("selfLink");
            m.remove("resourceVersion");
        }
        match ctx.subresource {
            Some("status") => {
                // Only status (and managedFields) change through /status.
                let mut merged = old.clone();
                merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
                if let Some(mf) = new.pointer("/metadata/managedFields") {
                    meta::meta_mut(&mut merged).insert("managedFields".into(), mf.clone());
                }
                if merged["status"].is_null() {
                    merged.as_object_mut().expect("object").remove("status");
                }
                meta::meta_mut(&mut merged).remove("resourceVersion");
                new = merged;
            }
            Some("approval") => {
                // Only the conditions change through /approval (kube's
                // approval strategy).
                let mut merged = old.clone();
                let conditions = new.pointer("/status/conditions").cloned();
                match (
                    merged.get_mut("status").and_then(Value::as_object_mut),
                    conditions,
                ) {
                    (Some(st), Some(c)) => {
                        st.insert("conditions".into(), c);
                    }
                    (Some(st), None) => {
                        st.remove("conditions");
                    }
                    (None, Some(c)) => merged["status"] = json!({"conditions": c}),
                    (None, None) => {}
                }
                if let Some(mf) = new.pointer("/metadata/managedFields") {
                    meta::meta_mut(&mut merged).insert("managedFields".into(), mf.clone());
                }
                meta::meta_mut(&mut merged).remove("resourceVersion");
                new = merged;
            }
            Some("finalize") => {
                let mut merged = old.clone();
                merged["spec"] = json!({"finalizers": new.pointer("/spec/finalizers").cloned().unwrap_or(json!([]))});
                meta::meta_mut(&mut merged).remove("resourceVersion");
                new = merged;
            }
            _ => {
                if def.status_subresource {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            new.as_object_mut().expect("object").remove("status");
                        }
                    }
                }
                def.strategy.prepare_for_update(&mut new, old);
            }
        }
        if def.strategy.tracks_generation() && ctx.subresource.is_none() {
            let outside_meta = |o: &Value| -> Value {
                let mut o = o.clone();
                if let Some(m) = o.as_object_mut() {
                    m.remove("metadata");
                    m.remove("status");
                }
                o
            };
            if outside_meta(&new) != outside_meta(old) {
                let g = old_meta
                    .get("generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    + 1;
                meta::meta_mut(&mut new).insert("generation".into(), json!(g));
            }
        }
        let name = meta::name(&new).to_string();
        let mut errs = meta::validate_meta(&new, def.strategy.name_rule(), def.namespaced);
        errs.extend(meta::validate_meta_update(&new, old));
        if ctx.subresource == Some("status") {
            errs.extend(def.strategy.validate_status_update(&new, old));
        } else {
            errs.extend(def.strategy.validate_update(&new, old));
        }
        Self::invalid(def, &name, errs)?;
        if !ctx.apply {
            managed::record_update(
                &def.schema,
                Some(old),
                &mut new,
                ctx.manager,
                &def.api_version(),
                ctx.scope(),
                now,
            );
        }
        let mut old_cmp = old.clone();
        meta::meta_mut(&mut old_cmp).remove("resourceVersion");
        if new == old_cmp {
            return Ok(None);
        }
        Ok(Some(new))
    }

    /// A read-modify-write of one object. `mutate` gets the current object
    /// in served form and returns the new served-form body; it is re-run
    /// when the write loses a race (unless the body pins a resourceVersion).
    pub async fn update_with<F>(
        &self,
        ctx: &WriteCtx<'_>,
        name: &str,
        mut mutate: F,
    ) -> ApiResult<WriteResult>
    where
        F: FnMut(Option<Value>) -> ApiResult<Mutation>,
    {
        let def = ctx.def;
        let key = Self::key(def, ctx.cluster, ctx.namespace, name)?;
        let gr = def.group_resource();
        for _ in 0..MAX_RETRIES {
            let cur = self
                .storage
                .get(&key)
                .await
                .map_err(|e| ApiError::from_storage(e, &gr, name))?;
            let Some(cur) = cur else {
                return match mutate(None)? {
                    Mutation::Create { body, warnings } => self.create(ctx, body, warnings).await,
                    Mutation::Update { .. } | Mutation::Unchanged => {
                        Err(Status::not_found(&gr, name).into())
                    }
                };
            };
            let old = Self::working(def, parse(&cur.value)?).await?;
            let served_old = Self::served_value(def, old.clone());
            let (new, pinned_rv, mut warnings) = match mutate(Some(served_old))? {
                Mutation::Update {
                    body,
                    pinned_rv,
                    warnings,
                } => (body, pinned_rv, warnings),
                Mutation::Unchanged => {
                    return Ok(WriteResult {
                        object: Self::unchanged(ctx, &cur.value, &old).await?,
                        created: false,
                        warnings: Vec::new(),
                    });
                }
                Mutation::Create { .. } => {
                    return Err(ApiError::internal(
                        "update produced a create",
                        "mutation mismatch",
                    ));
                }
            };
            if meta::name(&new) != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta::name(&new)
                )));
            }
            if let Some(rv) = &pinned_rv
                && rv.parse::<u64>().ok() != Some(cur.revision)
            {
                return Err(Status::modified_conflict(&gr, name).into());
            }
            let now = meta::now_rfc3339();
            let Some(mut new) = self.prepare_update(ctx, &old, new, &now)? else {
                return Ok(WriteResult {
                    object: Self::unchanged(ctx, &cur.value, &old).await?,
                    created: false,
                    warnings,
                });
            };
            // Mutating webhooks see the prepared object; what they change
            // is prepared and validated again (and may turn out a no-op).
            if self
                .mutate(
                    ctx,
                    crate::policy::Operation::Update,
                    name,
                    Some(&mut new),
                    Some(&old),
                )
                .await?
            {
                let Some(again) = self.prepare_update(ctx, &old, new, &now)? else {
                    return Ok(WriteResult {
                        object: Self::unchanged(ctx, &cur.value, &old).await?,
                        created: false,
                        warnings,
                    });
                };
                new = again;
            }
            if let Some(admission) = &def.admission {
                admission
                    .admit_update(&self.admit_ctx(ctx), &mut new, &old)
                    .await?;
            }
            self.admit_policies(
                ctx,
                crate::policy::Operation::Update,
                name,
                Some(&new),
                Some(&old),
            )
            .await?;
            meta::check_depth(&new)?;
            // The last finalizer gone from an object being deleted: delete it.
            if meta::is_deleting(&new)
                && meta::finalizers(&new).is_empty()
                && !def.strategy.deletion_blocked(&new)
            {
                if ctx.dry_run {
                    return Ok(WriteResult {
                        object: to_json(&Self::served_value(def, new)),
                        created: false,
                        warnings,
                    });
                }
                let value = self.encode(def, &mut new).await?;
                match self
                    .storage
                    .update(key.clone(), value, Some(cur.revision))
                    .await
                {
                    Ok(rec) => {
                        let gone = self
                            .storage
                            .delete(
                                key.clone(),
                                Preconditions {
                                    uid: None,
                                    revision: Some(rec.revision),
                                },
                            )
                            .await
                            .map_err(|e| ApiError::from_storage(e, &gr, name))?;
                        return Ok(WriteResult {
                            object: Self::answer(ctx, &gone.value).await?,
                            created: false,
                            warnings,
                        });
                    }
                    Err(trellis_storage::Error::Conflict { .. }) if pinned_rv.is_none() => continue,
                    Err(e) => return Err(ApiError::from_storage(e, &gr, name)),
                }
            }
            if ctx.dry_run {
                meta::meta_mut(&mut new)
                    .insert("resourceVersion".into(), json!(cur.revision.to_string()));
                return Ok(WriteResult {
                    object: to_json(&Self::served_value(def, new)),
                    created: false,
                    warnings,
                });
            }
            let value = self.encode(def, &mut new).await?;
            match self
                .storage
                .update(key.clone(), value, Some(cur.revision))
                .await
            {
                Ok(rec) => {
                    warnings.dedup();
                    return Ok(WriteResult {
                        object: Self::answer(ctx, &rec.value).await?,
                        created: false,
                        warnings,
                    });
                }
                Err(trellis_storage::Error::Conflict { .. }) if pinned_rv.is_none() => continue,
                Err(trellis_storage::Error::NotFound) if pinned_rv.is_none() => continue,
                Err(e) => return Err(ApiError::from_storage(e, &gr, name)),
            }
        }
        Err(Status::modified_conflict(&gr, name).into())
    }

    /// [`Store::update_with`] for an object that must already exist: `edit`
    /// changes it in place (an error aborts the write); a missing object is
    /// a 404.
    pub async fn update_existing<F>(
        &self,
        ctx: &WriteCtx<'_>,
        name: &str,
        mut edit: F,
    ) -> ApiResult<WriteResult>
    where
        F: FnMut(&mut Value) -> ApiResult<()>,
    {
        let gr = ctx.def.group_resource();
        self.update_with(ctx, name, |cur| {
            let Some(mut cur) = cur else {
                return Err(Status::not_found(&gr, name).into());
            };
            edit(&mut cur)?;
            Ok(Mutation::Update {
                body: cur,
                pinned_rv: None,
                warnings: Vec::new(),
            })
        })
        .await
    }

    // ---------------------------------------------------------------- delete

    pub async fn delete(
        &self,
        ctx: &WriteCtx<'_>,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Deleted> {
        let def = ctx.def;
        let gr = def.group_resource();
        let key = Self::key(def, ctx.cluster, ctx.namespace, name)?;
        for _ in 0..MAX_RETRIES {
            let cur = self
                .storage
                .get(&key)
                .await
                .map_err(|e| ApiError::from_storage(e, &gr, name))?;
            let Some(cur) = cur else {
                return Err(Status::not_found(&gr, name).into());
            };
            let mut obj = parse(&cur.value)?;
            let uid = meta::str_field(&obj, "uid").to_string();
            if let Some(want) = &opts.uid
                && *want != uid
            {
                return Err(Status::conflict(
                    &gr,
                    name,
                    &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
                )
                .into());
            }
            if let Some(want) = &opts.resource_version
                && want.parse::<u64>().ok() != Some(cur.revision)
            {
                return Err(Status::conflict(
                    &gr,
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {}", cur.revision),
                )
                .into());
            }
            // Admission sees the working form; the delete itself only edits
            // metadata, in the stored form.
            let working = if ctx.user.is_some() && Self::converts_on_write(def) {
                Some(Self::working(def, obj.clone()).await?)
            } else {
                None
            };
            let old = working.as_ref().unwrap_or(&obj);
            if ctx.user.is_some()
                && !meta::is_deleting(old)
                && let Some(admission) = &def.admission
            {
                admission.admit_delete(&self.admit_ctx(ctx), old).await?;
            }
            // Every caller's DELETE, as kube: also of an object already
            // being deleted, and a dry run asked for in the body too.
            let dry_ctx = WriteCtx {
                dry_run: ctx.dry_run || opts.dry_run,
                ..ctx.clone()
            };
            self.mutate(
                &dry_ctx,
                crate::policy::Operation::Delete,
                name,
                None,
                Some(old),
            )
            .await?;
            self.admit_policies(
                &dry_ctx,
                crate::policy::Operation::Delete,
                name,
                None,
                Some(old),
            )
            .await?;
            // Foreground and orphaning deletion hold the object with the
            // collector's finalizer (replacing the other one, as kube).
            let mut gc_finalizer_added = false;
            if let Some(f) = opts.propagation.finalizer() {
                let mut fins = meta::finalizers(&obj);
                if !fins.iter().any(|x| x == f) {
                    fins.retain(|x| x != meta::FOREGROUND_FINALIZER && x != meta::ORPHAN_FINALIZER);
                    fins.push(f.to_string());
                    meta::meta_mut(&mut obj).insert("finalizers".into(), json!(fins));
                    gc_finalizer_added = true;
                }
            }
            let graceful =
                !meta::finalizers(&obj).is_empty() || def.strategy.deletion_blocked(&obj);
            if graceful {
                let already = meta::is_deleting(&obj);
                if already && !gc_finalizer_added {
                    return Ok(Deleted::Pending(Self::answer(ctx, &cur.value).await?));
                }
                if already {
                    // Already going: only the finalizer changes.
                    meta::meta_mut(&mut obj).remove("resourceVersion");
                } else {
                    let m = meta::meta_mut(&mut obj);
                    m.insert(
                        "deletionTimestamp".into(),
                        Value::String(meta::now_rfc3339()),
                    );
                    m.insert("deletionGracePeriodSeconds".into(), json!(0));
                    if let Some(g) = m.get("generation").and_then(Value::as_i64)
                        && g > 0
                    {
                        m.insert("generation".into(), json!(g + 1));
                    }
                    m.remove("resourceVersion");
                    def.strategy.begin_deletion(&mut obj);
                }
                if opts.dry_run || ctx.dry_run {
                    return Ok(Deleted::Pending(to_json(
                        &Self::served_stored(def, obj).await?,
                    )));
                }
                let value = self.sentinel.encode(&mut obj);
                match self
                    .storage
                    .update(key.clone(), value, Some(cur.revision))
                    .await
                {
                    Ok(rec) => return Ok(Deleted::Pending(Self::answer(ctx, &rec.value).await?)),
                    Err(trellis_storage::Error::Conflict { .. }) => continue,
                    Err(e) => return Err(ApiError::from_storage(e, &gr, name)),
                }
            }
            if opts.dry_run || ctx.dry_run {
                return Ok(Deleted::Gone {
                    object: Self::answer(ctx, &cur.value).await?,
                    uid,
                });
            }
            match self
                .storage
                .delete(
                    key.clone(),
                    Preconditions {
                        uid: None,
                        revision: Some(cur.revision),
                    },
                )
                .await
            {
                Ok(rec) => {
                    return Ok(Deleted::Gone {
                        object: Self::answer(ctx, &rec.value).await?,
                        uid,
                    });
                }
                Err(trellis_storage::Error::Conflict { .. }) => continue,
                Err(trellis_storage::Error::NotFound) => {
                    return Err(Status::not_found(&gr, name).into());
                }
                Err(e) => return Err(ApiError::from_storage(e, &gr, name)),
            }
        }
        Err(Status::modified_conflict(&gr, name).into())
    }

    /// Deletes every object matching `filter`; returns what was deleted
    /// (or marked for deletion).
    pub async fn delete_collection(
        &self,
        ctx: &WriteCtx<'_>,
        filter: &Filter,
        opts: &DeleteOpts,
    ) -> ApiResult<(Vec<Bytes>, u64)> {
        let q = ListQuery {
            filter,
            limit: None,
            continue_token: None,
            at: ListAt::Latest,
        };
        let page = self.list(ctx.cluster, ctx.def, ctx.namespace, &q).await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in page.items {
            let obj = parse(&item)?;
            let name = meta::name(&obj).to_string();
            let ns = meta::str_field(&obj, "namespace").to_string();
            let item_ctx = WriteCtx {
                namespace: if ctx.def.namespaced { Some(&ns) } else { None },
                ..ctx.clone()
            };
            match self
                .delete(
                    &item_ctx,
                    &name,
                    &DeleteOpts {
                        dry_run: opts.dry_run,
                        propagation: opts.propagation,
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(Deleted::Gone { object, .. }) | Ok(Deleted::Pending(object)) => out.push(object),
                Err(e) if e.code() == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok((out, self.storage.current_revision()))
    }
}

/// What a read-modify-write produces.
pub enum Mutation {
    /// Replace the current object (served form).
    Update {
        body: Value,
        pinned_rv: Option<String>,
        warnings: Vec<String>,
    },
    /// The object is missing and should be created (stored form, decoded).
    Create { body: Value, warnings: Vec<String> },
    /// Leave the object as it is: nothing is written (a controller whose
    /// object already says what it would write). On a missing object this
    /// is a 404, like an update.
    Unchanged,
}

/// `Status{Success}` for an immediate delete.
pub fn delete_success(gr: &GroupResource, name: &str, uid: &str) -> Status {
    Status::success(StatusDetails {
        name: name.into(),
        group: gr.group.clone(),
        kind: gr.resource.clone(),
        uid: uid.into(),
        ..Default::default()
    })
}
