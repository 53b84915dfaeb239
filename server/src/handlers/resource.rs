//! Resource requests: get, list, watch, create, update, patch, delete and
//! deletecollection on a resource or one of its subresources.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use trellis_apis::Status;
use trellis_apis::patch;

use crate::auth::UserInfo;
use crate::cluster::LogicalCluster;
use crate::error::{ApiError, ApiResult};
use crate::managed;
use crate::registry::ResourceDef;
use crate::registry::filter::Filter;
use crate::registry::store::{
    DeleteOpts, Deleted, ListAt, ListQuery, Mutation, Propagation, Store, WriteCtx, delete_success,
};
use crate::request::body;
use crate::request::info::{ResourceRequest, Verb};
use crate::request::media::{self, BodyFormat, Output};
use crate::request::params::{FieldValidation, Params, RvMatch};
use crate::response;
use crate::state::AppState;
use crate::table::IncludeObject;

pub async fn handle(
    state: &AppState,
    cluster: &LogicalCluster,
    user: &UserInfo,
    req: ResourceRequest,
    params: Params,
    parts: http::request::Parts,
    body: Body,
) -> ApiResult<Response> {
    // Read the whole body before anything can fail: an HTTP/2 answer sent
    // while the client is still uploading ends in a stream reset, which
    // clients report as a transport error instead of our Status.
    let body = if matches!(
        req.verb,
        Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
    ) {
        Body::from(body::read(body).await?)
    } else {
        body
    };
    let registry = state.clusters.registry(cluster);
    let Some(def) = registry
        .get(&req.group, &req.version, &req.resource)
        .cloned()
    else {
        return Err(Status::path_not_found().into());
    };
    handle_def(state, cluster, user, def, req, params, parts, body).await
}

/// [`handle`] for a definition the caller chose (the provider's view of
/// a consumer's resource, for one); the body has been read whole.
#[allow(clippy::too_many_arguments)] // the request's parts, as `handle`'s
pub async fn handle_def(
    state: &AppState,
    cluster: &LogicalCluster,
    user: &UserInfo,
    def: Arc<ResourceDef>,
    req: ResourceRequest,
    params: Params,
    parts: http::request::Parts,
    body: Body,
) -> ApiResult<Response> {
    // A namespace in the URL of a cluster-scoped resource addresses nothing.
    if !def.namespaced && req.namespace.is_some() {
        return Err(Status::path_not_found().into());
    }
    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let output = media::negotiate(accept, def.speaks_protobuf())?;
    let include =
        IncludeObject::parse(params.include_object.as_deref()).map_err(ApiError::bad_request)?;
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let manager = match &params.field_manager {
        Some(m) => {
            if m.len() > 128 {
                return Err(invalid_param(
                    "fieldManager",
                    m,
                    "must be no more than 128 characters",
                ));
            }
            m.clone()
        }
        None => managed::manager_from_user_agent(user_agent),
    };
    let subresource = req.subresource.as_deref();
    match subresource {
        None => {}
        Some("status") if def.status_subresource => {}
        Some("scale") if def.scale.is_some() => {}
        Some(s) if def.extra_subresources.contains(&s) => {}
        Some(_) => return Err(Status::path_not_found().into()),
    }
    // A bound resource's status belongs to the export's provider, who
    // writes it through the export's endpoint; in the consumer's
    // workspace nobody may, not even its admins (the main resource
    // ignores status, so this is the only way in).
    if let (Some(from), Some("status")) = (&def.bound, subresource)
        && matches!(req.verb, Verb::Update | Verb::Patch)
    {
        return Err(Status::forbidden(
            &def.group_resource(),
            req.name.as_deref().unwrap_or(""),
            &format!(
                "status is owned by APIExport {} and can only be written by its provider",
                from.export_display()
            ),
        )
        .into());
    }
    if subresource.is_none() && !def.supports(req.verb.as_str()) {
        return Err(Status::method_not_supported(&def.group_resource(), req.verb.as_str()).into());
    }
    let registry = state.clusters.apis(cluster).registry.clone();
    let cx = Call {
        state,
        registry: &registry,
        def: &def,
        cluster: &cluster.name,
        namespace: req.namespace.as_deref(),
        output,
        include,
        params: &params,
        manager: &manager,
        user,
    };
    let resp = match (req.verb, subresource) {
        (verb, Some("token")) => {
            cx.token(
                verb,
                req.name.as_deref().unwrap_or(""),
                body,
                content_type.as_deref(),
            )
            .await
        }
        (verb, Some("scale")) => {
            cx.scale(
                verb,
                req.name.as_deref().unwrap_or(""),
                body,
                content_type.as_deref(),
            )
            .await
        }
        (Verb::Create, None) if def.terminating => {
            let mut s = Status::method_not_supported(&def.group_resource(), "create");
            s.message = "create not allowed while custom resource definition is terminating".into();
            Err(s.into())
        }
        (Verb::Get, _) => cx.get(req.name.as_deref().unwrap_or("")).await,
        (Verb::List, None) => cx.list().await,
        (Verb::Watch, None) => {
            let mut params = params.clone();
            if let Some(name) = &req.name {
                // Watching one object is watching its name.
                params.field_selector = Some(match params.field_selector {
                    Some(fs) if !fs.is_empty() => format!("{fs},metadata.name={name}"),
                    _ => format!("metadata.name={name}"),
                });
            }
            super::watch::watch(
                state,
                &def,
                &cluster.name,
                req.namespace.as_deref(),
                &params,
                output,
                include,
            )
            .await
        }
        (Verb::Create, None) => cx.create(body, content_type.as_deref()).await,
        (Verb::Update, sub) => {
            cx.update(
                req.name.as_deref().unwrap_or(""),
                sub,
                body,
                content_type.as_deref(),
            )
            .await
        }
        (Verb::Patch, sub) if sub != Some("finalize") => {
            cx.patch(
                req.name.as_deref().unwrap_or(""),
                sub,
                body,
                content_type.as_deref(),
            )
            .await
        }
        (Verb::Delete, None) => cx.delete(req.name.as_deref().unwrap_or(""), body).await,
        (Verb::DeleteCollection, None) => cx.delete_collection(body).await,
        (verb, _) => Err(Status::method_not_supported(&def.group_resource(), verb.as_str()).into()),
    }?;
    // Every answer of a deprecated version carries its warning.
    Ok(match &def.deprecation {
        Some(w) => response::with_warnings(resp, std::slice::from_ref(w)),
        None => resp,
    })
}

fn invalid_param(field: &str, value: &str, detail: &str) -> ApiError {
    let gk = trellis_apis::GroupKind {
        group: "meta.k8s.io".into(),
        kind: "Options".into(),
    };
    Status::invalid(
        &gk,
        "",
        &[trellis_apis::FieldError::invalid(field, value, detail)],
    )
    .into()
}

/// The propagation a DELETE asks for: `propagationPolicy`, or the
/// deprecated `orphanDependents` (true: Orphan, false: Background); both
/// at once is kube's error.
fn propagation(policy: Option<String>, orphan: Option<bool>) -> ApiResult<Propagation> {
    match (policy.as_deref(), orphan) {
        (Some(p), Some(_)) => Err(invalid_param(
            "propagationPolicy",
            p,
            "orphanDependents and deletionPropagation cannot be both set",
        )),
        (Some("Foreground"), None) => Ok(Propagation::Foreground),
        (Some("Orphan"), None) | (None, Some(true)) => Ok(Propagation::Orphan),
        _ => Ok(Propagation::Background),
    }
}

pub(super) struct Call<'a> {
    pub(super) state: &'a AppState,
    /// The workspace's resources (admission policies look up param kinds).
    pub(super) registry: &'a crate::registry::Registry,
    pub(super) def: &'a Arc<ResourceDef>,
    pub(super) cluster: &'a str,
    pub(super) namespace: Option<&'a str>,
    pub(super) output: Output,
    pub(super) include: IncludeObject,
    pub(super) params: &'a Params,
    pub(super) manager: &'a str,
    pub(super) user: &'a UserInfo,
}

/// The resourceVersion semantics of a list.
pub fn list_at(params: &Params) -> ApiResult<ListAt> {
    let rv = params.resource_version.as_deref().filter(|v| !v.is_empty());
    let parse_rv = |v: &str| {
        v.parse::<u64>().map_err(|_| {
            let gk = trellis_apis::GroupKind {
                group: "meta.k8s.io".into(),
                kind: "ListOptions".into(),
            };
            ApiError::from(Status::invalid(
                &gk,
                "",
                &[trellis_apis::FieldError::invalid(
                    "resourceVersion",
                    v,
                    "must be a non-negative integer",
                )],
            ))
        })
    };
    if params.resource_version_match.is_some() && rv.is_none() {
        return Err(invalid_param(
            "resourceVersionMatch",
            "",
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    if params.continue_token.is_some() {
        if params.resource_version_match.is_some() {
            return Err(invalid_param(
                "resourceVersionMatch",
                "",
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if rv.is_some_and(|v| v != "0") {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        return Ok(ListAt::Latest);
    }
    Ok(match (rv, params.resource_version_match) {
        (None, _) | (Some("0"), None) => ListAt::Latest,
        (Some("0"), Some(RvMatch::NotOlderThan)) => ListAt::Latest,
        (Some("0"), Some(RvMatch::Exact)) => {
            return Err(invalid_param(
                "resourceVersionMatch",
                "Exact",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
        (Some(v), Some(RvMatch::Exact)) => ListAt::Exact(parse_rv(v)?),
        (Some(v), Some(RvMatch::NotOlderThan)) => ListAt::NotOlderThan(parse_rv(v)?),
        // Legacy semantics: an RV with a limit pages from exactly that RV.
        (Some(v), None) if params.limit.is_some_and(|l| l > 0) => ListAt::Exact(parse_rv(v)?),
        (Some(v), None) => ListAt::NotOlderThan(parse_rv(v)?),
    })
}

/// upstream `NewConflictError`: 409 with one cause per conflicting field.
fn apply_conflict(
    def: &ResourceDef,
    name: &str,
    conflicts: &[trellis_apis::ssa::Conflict],
) -> ApiError {
    let mut s = Status::failure(
        409,
        "Conflict",
        trellis_apis::ssa::conflict_message(conflicts),
    );
    s.details = trellis_apis::StatusDetails {
        name: name.into(),
        group: def.group.clone(),
        kind: def.resource.clone(),
        causes: conflicts
            .iter()
            .map(|c| trellis_apis::StatusCause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with {}", c.manager),
                field: c.path_string(),
            })
            .collect(),
        ..Default::default()
    };
    s.into()
}

/// Upstream `NewUnsupportedMediaTypeError`: a 415 naming what is accepted.
fn unsupported_media(accepted: &[&str]) -> ApiError {
    Status::unsupported_media_type(format!(
        "the body of the request was in an unknown format - accepted media types include: {}",
        accepted.join(", ")
    ))
    .into()
}

/// The media types a create or update body may use for this resource.
fn object_media(def: &ResourceDef) -> ApiError {
    if def.speaks_protobuf() {
        unsupported_media(&[media::JSON, media::YAML, media::PROTOBUF])
    } else {
        unsupported_media(&[media::JSON, media::YAML])
    }
}

/// The 415 for unsupported patch types; custom resources have no strategic
/// merge patch (no Go struct tags to drive it).
fn unsupported_patch(def: &ResourceDef) -> ApiError {
    let mut types = vec![media::JSON_PATCH, media::MERGE_PATCH];
    if def.strategic_merge {
        types.push(media::STRATEGIC_MERGE_PATCH);
    }
    types.push(media::APPLY_PATCH_YAML);
    unsupported_media(&types)
}

impl Call<'_> {
    pub(super) fn ctx<'s>(&'s self, subresource: Option<&'s str>) -> WriteCtx<'s> {
        WriteCtx {
            cluster: self.cluster,
            def: self.def,
            namespace: self.namespace,
            manager: self.manager,
            dry_run: self.params.dry_run,
            validation: self.params.field_validation(),
            subresource,
            apply: false,
            user: Some(self.user),
            registry: Some(self.registry),
        }
    }

    async fn get(&self, name: &str) -> ApiResult<Response> {
        let rec = self
            .state
            .store
            .get(self.cluster, self.def, self.namespace, name)
            .await?;
        let bytes = Store::served(self.def, &rec.value).await?;
        response::object(self.def, self.output, self.include, StatusCode::OK, bytes)
    }

    async fn list(&self) -> ApiResult<Response> {
        let filter = Filter::parse(
            self.def,
            self.params.label_selector.as_deref(),
            self.params.field_selector.as_deref(),
        )?;
        let at = list_at(self.params)?;
        let limit = self.params.limit.filter(|l| *l > 0).map(|l| l as usize);
        let q = ListQuery {
            filter: &filter,
            limit,
            continue_token: self.params.continue_token.as_deref(),
            at,
        };
        let page = self
            .state
            .store
            .list(self.cluster, self.def, self.namespace, &q)
            .await?;
        response::list(
            self.def,
            self.output,
            self.include,
            page.items,
            page.revision,
            page.continue_token.as_deref(),
        )
    }

    async fn read_body(
        &self,
        body: Body,
        content_type: Option<&str>,
    ) -> ApiResult<(BodyFormat, bytes::Bytes)> {
        let format = match media::body_format(content_type) {
            Some(BodyFormat::Protobuf) if !self.def.speaks_protobuf() => None,
            Some(f) if f.is_patch() => None,
            f => f,
        }
        .ok_or_else(|| object_media(self.def))?;
        Ok((format, body::read(body).await?))
    }

    async fn create(&self, body: Body, content_type: Option<&str>) -> ApiResult<Response> {
        let (format, bytes) = self.read_body(body, content_type).await?;
        let value = body::parse_document(&bytes, format)?;
        let (obj, warnings) = Store::decode(self.def, value, self.params.field_validation())?;
        let ctx = self.ctx(None);
        let res = self.state.store.create(&ctx, obj, warnings).await?;
        let resp = response::object(
            self.def,
            self.output,
            self.include,
            StatusCode::CREATED,
            res.object,
        )?;
        Ok(response::with_warnings(resp, &res.warnings))
    }

    async fn update(
        &self,
        name: &str,
        sub: Option<&str>,
        body: Body,
        content_type: Option<&str>,
    ) -> ApiResult<Response> {
        let (format, bytes) = self.read_body(body, content_type).await?;
        let value = body::parse_document(&bytes, format)?;
        let pinned_rv = value
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let (obj, warnings) = Store::decode(self.def, value, self.params.field_validation())?;
        if pinned_rv.is_none() && !self.def.strategy.allow_unconditional_update() {
            return Err(Status::invalid(
                &self.def.group_kind(),
                name,
                &[trellis_apis::FieldError::invalid(
                    "metadata.resourceVersion",
                    "0x0",
                    "must be specified for an update",
                )],
            )
            .into());
        }
        let ctx = self.ctx(sub);
        let allow_create = sub.is_none() && self.def.strategy.allow_create_on_update();
        let res = self
            .state
            .store
            .update_with(&ctx, name, |cur| match cur {
                None if allow_create => Ok(Mutation::Create {
                    body: obj.clone(),
                    warnings: warnings.clone(),
                }),
                None => Err(Status::not_found(&self.def.group_resource(), name).into()),
                Some(_) => Ok(Mutation::Update {
                    body: obj.clone(),
                    pinned_rv: pinned_rv.clone(),
                    warnings: warnings.clone(),
                }),
            })
            .await?;
        let code = if res.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let resp = response::object(self.def, self.output, self.include, code, res.object)?;
        Ok(response::with_warnings(resp, &res.warnings))
    }

    async fn patch(
        &self,
        name: &str,
        sub: Option<&str>,
        body: Body,
        content_type: Option<&str>,
    ) -> ApiResult<Response> {
        let format = media::body_format(content_type);
        let format = match format {
            Some(f @ (BodyFormat::JsonPatch | BodyFormat::MergePatch)) => f,
            Some(BodyFormat::ApplyPatch) => return self.apply(name, sub, body).await,
            Some(f @ BodyFormat::StrategicMergePatch) if self.def.strategic_merge => f,
            _ => return Err(unsupported_patch(self.def)),
        };
        if self.params.force.is_some() {
            return Err(invalid_param(
                "force",
                "true",
                "may not be specified for non-apply patch",
            ));
        }
        let bytes = body::read(body).await?;
        let ops = match format {
            BodyFormat::JsonPatch => Some(patch::parse_json_patch(&bytes)?),
            _ => None,
        };
        let merge: Option<Value> = match format {
            BodyFormat::MergePatch | BodyFormat::StrategicMergePatch => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
            ),
            _ => None,
        };
        let ctx = self.ctx(sub);
        let validation = self.params.field_validation();
        let def = self.def;
        let res = self
            .state
            .store
            .update_with(&ctx, name, |cur| {
                let Some(cur) = cur else {
                    return Err(Status::not_found(&def.group_resource(), name).into());
                };
                let cur_rv = cur
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let patched = match (&ops, &merge) {
                    (Some(ops), _) => patch::apply_json_patch(&cur, ops)?,
                    (_, Some(m)) if format == BodyFormat::StrategicMergePatch => {
                        trellis_apis::smp::apply(&cur, m, &def.schema)?
                    }
                    (_, Some(m)) => patch::apply_merge_patch(&cur, m)?,
                    _ => unreachable!("one patch kind is set"),
                };
                // A patch that sets resourceVersion makes it a precondition.
                let patched_rv = patched
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let pinned_rv =
                    (!patched_rv.is_empty() && patched_rv != cur_rv).then_some(patched_rv);
                let (obj, warnings) = decode_patched(def, patched, validation)?;
                Ok(Mutation::Update {
                    body: obj,
                    pinned_rv,
                    warnings,
                })
            })
            .await?;
        let resp = response::object(
            self.def,
            self.output,
            self.include,
            StatusCode::OK,
            res.object,
        )?;
        Ok(response::with_warnings(resp, &res.warnings))
    }

    /// Server-side apply (`application/apply-patch+yaml`).
    async fn apply(&self, name: &str, sub: Option<&str>, body: Body) -> ApiResult<Response> {
        let def = self.def;
        let Some(manager) = self.params.field_manager.clone().filter(|m| !m.is_empty()) else {
            let gk = trellis_apis::GroupKind {
                group: "meta.k8s.io".into(),
                kind: "PatchOptions".into(),
            };
            return Err(Status::invalid(
                &gk,
                "",
                &[trellis_apis::FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )],
            )
            .into());
        };
        let bytes = body::read(body).await?;
        let mut applied = body::parse_yaml(&bytes).map_err(|e| {
            ApiError::bad_request(format!("error decoding YAML: {}", e.status().message))
        })?;
        let Some(obj) = applied.as_object_mut() else {
            return Err(ApiError::bad_request(
                "error decoding YAML: the apply patch must be an object",
            ));
        };
        if obj
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}'",
                String::from_utf8_lossy(&bytes).trim()
            )));
        }
        if av != def.api_version() {
            return Err(ApiError::bad_request(format!(
                "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}",
                def.api_version()
            )));
        }
        if kind != def.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the apply patch ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
        {
            let m = crate::meta::meta_mut(&mut applied);
            match m.get("name").and_then(Value::as_str) {
                Some(n) if n != name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
                Some(_) => {}
                None => {
                    m.insert("name".into(), Value::String(name.to_string()));
                }
            }
            if def.namespaced {
                let ns = self.namespace.unwrap_or("");
                match m.get("namespace").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() && n != ns => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ));
                    }
                    _ => {
                        m.insert("namespace".into(), Value::String(ns.to_string()));
                    }
                }
            }
        }
        let unknown = trellis_apis::schema::prune(&mut applied, &def.schema);
        let mut warnings = Vec::new();
        if !unknown.is_empty() {
            match self.params.field_validation() {
                FieldValidation::Ignore => {}
                FieldValidation::Warn => {
                    warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")))
                }
                FieldValidation::Strict => {
                    let gvk = format!(
                        "{}, Kind={}",
                        if def.group.is_empty() {
                            format!("/{}", def.version)
                        } else {
                            def.api_version()
                        },
                        def.kind
                    );
                    return Err(ApiError::bad_request(format!(
                        "failed to create typed patch object ({gvk}): .{}: field not declared in schema",
                        unknown[0]
                    )));
                }
            }
        }
        let force = self.params.force.unwrap_or(false);
        let mut ctx = self.ctx(sub);
        ctx.manager = &manager;
        ctx.apply = true;
        let scope = ctx.scope();
        let subresource = if sub == Some("status") { "status" } else { "" };
        let validation = self.params.field_validation();
        let res = self
            .state
            .store
            .update_with(&ctx, name, |cur| {
                let creating = cur.is_none();
                if creating && sub.is_some() {
                    // A subresource never creates its object (kube's status
                    // storage refuses to): 404, as kube answers.
                    return Err(Status::not_found(&def.group_resource(), name).into());
                }
                let live = cur.unwrap_or_else(|| {
                    let mut o = serde_json::json!({"apiVersion": def.api_version(), "kind": def.kind, "metadata": {"name": name}});
                    if let Some(ns) = self.namespace.filter(|_| def.namespaced) {
                        o["metadata"]["namespace"] = Value::String(ns.to_string());
                    }
                    o
                });
                let managers = managed::decode(&live);
                let strip = |o: &Value| managed::strip(o, scope);
                let me = managed::Entry {
                    manager: manager.clone(),
                    operation: "Apply".into(),
                    subresource: subresource.into(),
                    api_version: def.api_version(),
                    time: Some(crate::meta::now_rfc3339()),
                    fields: Default::default(),
                };
                let run = trellis_apis::ssa::Apply { schema: &def.schema, live: &live, applied: &applied, strip: &strip, manager: me, force };
                let (mut merged, managers) = match trellis_apis::ssa::apply(run, managers) {
                    Ok(r) => r,
                    Err(trellis_apis::ssa::ApplyError::Conflicts(c)) => return Err(apply_conflict(def, name, &c)),
                    Err(trellis_apis::ssa::ApplyError::Invalid(m)) => {
                        return Err(Status::invalid(&def.group_kind(), name, &[trellis_apis::FieldError::invalid("", "", m)]).into());
                    }
                };
                managed::store(&mut merged, managers);
                crate::meta::meta_mut(&mut merged).remove("resourceVersion");
                let (obj, mut w) = Store::decode(def, merged, validation)?;
                w.extend(warnings.iter().cloned());
                if creating {
                    Ok(Mutation::Create { body: obj, warnings: w })
                } else {
                    Ok(Mutation::Update { body: obj, pinned_rv: None, warnings: w })
                }
            })
            .await?;
        let code = if res.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let resp = response::object(self.def, self.output, self.include, code, res.object)?;
        Ok(response::with_warnings(resp, &res.warnings))
    }

    async fn delete(&self, name: &str, body: Body) -> ApiResult<Response> {
        let opts = self.delete_opts(body).await?;
        let ctx = self.ctx(None);
        match self.state.store.delete(&ctx, name, &opts).await? {
            Deleted::Pending(obj) => {
                response::object(self.def, self.output, self.include, StatusCode::OK, obj)
            }
            Deleted::Gone { uid, .. } => {
                let s = delete_success(&self.def.group_resource(), name, &uid);
                Ok(response::json(
                    StatusCode::OK,
                    &serde_json::to_value(&s).expect("Status serialises"),
                ))
            }
        }
    }

    async fn delete_opts(&self, body: Body) -> ApiResult<DeleteOpts> {
        let bytes = body::read(body).await?;
        let mut opts = DeleteOpts {
            dry_run: self.params.dry_run,
            ..Default::default()
        };
        let (mut policy, mut orphan) = (None, None);
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            // client-go sends DeleteOptions as protobuf when it speaks protobuf.
            let v: Value = if bytes.starts_with(&trellis_apis::proto::MAGIC) {
                trellis_apis::proto::decode(&bytes).map_err(|e| {
                    ApiError::bad_request(format!("error decoding DeleteOptions: {e}"))
                })?
            } else {
                serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::bad_request(format!("error decoding DeleteOptions: {e}"))
                })?
            };
            opts.uid = v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            opts.resource_version = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(Value::Array(dr)) = v.get("dryRun") {
                for d in dr {
                    match d.as_str() {
                        Some("All") => opts.dry_run = true,
                        other => {
                            return Err(invalid_param(
                                "dryRun",
                                other.unwrap_or(""),
                                "supported values: \"All\"",
                            ));
                        }
                    }
                }
            }
            if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str)
                && !matches!(p, "Orphan" | "Background" | "Foreground")
            {
                return Err(invalid_param(
                    "propagationPolicy",
                    p,
                    "supported values: \"Orphan\", \"Background\", \"Foreground\"",
                ));
            }
            policy = v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string);
            orphan = v.get("orphanDependents").and_then(Value::as_bool);
        }
        if let Some(p) = &self.params.propagation_policy
            && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
        {
            return Err(invalid_param(
                "propagationPolicy",
                p,
                "supported values: \"Orphan\", \"Background\", \"Foreground\"",
            ));
        }
        opts.propagation = propagation(
            policy.or_else(|| self.params.propagation_policy.clone()),
            orphan.or(self.params.orphan_dependents),
        )?;
        Ok(opts)
    }

    async fn delete_collection(&self, body: Body) -> ApiResult<Response> {
        let opts = self.delete_opts(body).await?;
        let filter = Filter::parse(
            self.def,
            self.params.label_selector.as_deref(),
            self.params.field_selector.as_deref(),
        )?;
        let ctx = self.ctx(None);
        let (items, revision) = self
            .state
            .store
            .delete_collection(&ctx, &filter, &opts)
            .await?;
        response::list(self.def, Output::JSON, self.include, items, revision, None)
    }
}

/// Decodes a patched object; unknown fields and type errors are reported
/// against `patch` as the API server does for JSON and merge patches.
pub fn decode_patched(
    def: &ResourceDef,
    patched: Value,
    validation: FieldValidation,
) -> ApiResult<(Value, Vec<String>)> {
    let patched_text = patched.to_string();
    let invalid = |detail: String| -> ApiError {
        Status::invalid(
            &trellis_apis::GroupKind::default(),
            "",
            &[trellis_apis::FieldError::invalid(
                "patch",
                patched_text.clone(),
                detail,
            )],
        )
        .into()
    };
    match Store::decode(def, patched, validation) {
        Ok(r) => Ok(r),
        Err(e) if e.code() == 400 => Err(invalid(e.status().message.clone())),
        Err(e) => Err(e),
    }
}
