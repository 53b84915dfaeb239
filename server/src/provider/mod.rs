//! The provider's endpoint: kcp's APIExport virtual workspace.
//!
//! `/services/apiexport/<provider-cluster>/<export>/clusters/<ws>/...`
//! serves, to whoever may use the export's content, the export's resources
//! as stored in every consumer workspace that binds it — and nothing else:
//!
//! * `<ws>` = `*`: list and watch across all bound workspaces. The
//!   resource's keyspace carries the export's identity, so this is one
//!   storage scan (and one storage watch) for all consumers, and every
//!   object they hold is a bound consumer's (unbinding deletes instances
//!   first). Objects carry `kcp.io/cluster`; resourceVersions are the
//!   server's global revisions, so resuming, 410 and bookmarks work as in
//!   any watch.
//! * `<ws>` = a consumer's logical cluster: everything a controller needs
//!   in that workspace, provided it has a Bound APIBinding to the export.
//!   Claimed resources (accepted permission claims) are served there with
//!   exactly the claimed verbs, and only objects matching the claim's
//!   selector exist for the provider; a provider's create or update gets
//!   the selector's `matchLabels` (kcp's rule: a missing label is added,
//!   a different value is refused).
//! * At both: the export's own APIBindings, read-only, selected by the
//!   `internal.apis.kcp.io/export` label (kcp serves them the same way,
//!   unless the export claims `apibindings`), so a provider can follow its
//!   consumers and their Ready condition.
//!
//! Ownership (see [`boundary`]): the provider reads instances, writes
//! `/status` and may change labels, annotations and finalizers; it cannot
//! create or delete consumers' instances or change their spec.
//!
//! Access: the caller needs, in the provider workspace's RBAC, the
//! request's verb or `content` on `apiexports/content` for the export —
//! kcp checks the request verb; granting `content` (or `*`) is the usual
//! way to give a controller the whole endpoint.
//!
//! The view is built per request from storage (the export, its schemas,
//! and for one workspace its binding); compiled schemas come from the
//! shared cache, so this is a few point reads.

pub mod boundary;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::Value;
use trellis_apis::Status;
use trellis_apis::kcp::GROUP;
use trellis_apis::kcp::export_label::{EXPORT_LABEL, export_label_value};
use trellis_apis::kcp::types as kcp;
use trellis_apis::rbac::attributes::{Attributes, UserInfo};
use trellis_apis::rbac::forbidden_status;

use crate::authz::cache::scope_to_cluster;
use crate::cluster::LogicalCluster;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{discovery, openapi, resource, system};
use crate::meta;
use crate::registry::store::WILDCARD;
use crate::registry::{Registry, ResourceDef};
use crate::request::info::{self, Target, Verb};
use crate::request::params::Params;
use crate::sharing::keys::{bindings, exports, schemas};
use crate::state::AppState;
use crate::tenancy::types;

/// Where provider endpoints live.
pub const PREFIX: &str = "/services/apiexport/";

/// The endpoint URL of export `name` of logical cluster `cluster`.
pub fn endpoint_url(state: &AppState, cluster: &str, name: &str) -> String {
    format!(
        "https://{}{PREFIX}{cluster}/{name}",
        state.config.external_address
    )
}

/// `<provider>/<export>/clusters/<ws><rest>` → its parts.
pub(crate) fn split(path: &str) -> Option<(&str, &str, &str, &str)> {
    let after = path.strip_prefix(PREFIX)?;
    let mut it = after.splitn(4, '/');
    let provider = it.next().filter(|s| !s.is_empty())?;
    let export = it.next().filter(|s| !s.is_empty())?;
    if it.next()? != "clusters" {
        return None;
    }
    let tail = it.next()?;
    let (ws, rest) = match tail.find('/') {
        Some(i) => (&tail[..i], &tail[i..]),
        None => (tail, ""),
    };
    (!ws.is_empty()).then_some((provider, export, ws, rest))
}

/// Serves one request under [`PREFIX`].
pub(crate) async fn serve(
    state: &AppState,
    parts: http::request::Parts,
    body: Body,
    audit: &mut crate::handlers::Audit,
) -> Response {
    match handle(state, parts, body, audit).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// What a claim lets the provider do in one workspace.
#[derive(Clone)]
struct Claim {
    verbs: BTreeSet<String>,
    /// `None`: every object.
    selector: Option<trellis_apis::labels::Selector>,
    /// Served across workspaces too: only the export's own APIBindings,
    /// which kcp serves read-only at every URL of the endpoint. Real
    /// claims are per workspace.
    everywhere: bool,
}

impl Claim {
    fn allows(&self, verb: &str) -> bool {
        self.verbs.contains("*") || self.verbs.contains(verb)
    }
}

/// The resources the provider sees at one `/clusters/<ws>`.
struct View {
    registry: Registry,
    /// OpenAPI definitions of the exported resources (built-in ones are
    /// looked up beneath them).
    definitions: std::collections::BTreeMap<String, Value>,
    /// Claimed resources by (group, resource) (empty for `*`: claims are
    /// served per workspace).
    claims: std::collections::BTreeMap<(String, String), Claim>,
}

async fn handle(
    state: &AppState,
    parts: http::request::Parts,
    body: Body,
    audit: &mut crate::handlers::Audit,
) -> ApiResult<Response> {
    let (resp, seat) = handle_seated(state, parts, body, audit).await?;
    Ok(seat.hold(resp))
}

async fn handle_seated(
    state: &AppState,
    parts: http::request::Parts,
    body: Body,
    audit: &mut crate::handlers::Audit,
) -> ApiResult<(Response, crate::fairness::Seats)> {
    use crate::audit::Decision;
    let path = parts.uri.path().to_string();
    let Some((provider_sel, export_name, ws, rest)) = split(&path) else {
        return Err(Status::path_not_found().into());
    };
    // Audited as a request in the consumer's workspace (`*` for all).
    audit.workspace = ws.to_string();
    audit.decision = Some(Decision::Unauthenticated);
    let user = match state
        .auth
        .authenticate(&parts.headers, parts.extensions.get())
        .await
    {
        Ok(Some(u)) => u,
        _ => return Err(Status::unauthorized().into()),
    };
    let provider = state.clusters.resolve(provider_sel).await;
    let user = scope_to_cluster(user, provider.as_ref().map(|p| p.name.as_str()));
    let req_attrs =
        crate::authz::request::attributes(&user, &parts.method, rest, parts.uri.query());
    audit.actor = Some(user.clone());
    audit.user = Some(user.clone());
    audit.attrs = Some(req_attrs.clone());
    audit.decision = Some(Decision::Forbid);
    let content = |verb: &str| {
        Attributes::resource(
            user.clone(),
            verb,
            "",
            trellis_apis::kcp::GROUP,
            "",
            "apiexports",
            "content",
            export_name,
        )
    };
    let denied = forbidden_status(&content(&req_attrs.verb), "");
    let Some(provider) = provider else {
        if user.in_group(crate::auth::MASTERS) {
            return Err(Status::path_not_found().into());
        }
        return Err(denied.into());
    };
    let mut allowed = false;
    for verb in [req_attrs.verb.as_str(), "content"] {
        if state
            .authz
            .authorize_rbac(&provider.name, &content(verb))
            .await?
            .is_allowed()
        {
            allowed = true;
            break;
        }
    }
    if !allowed {
        return Err(denied.into());
    }
    audit.decision = Some(Decision::Allow);
    // The provider's requests share its workspace's seats.
    let seat = state
        .fairness
        .admit_request(&user, &provider.name, &req_attrs.verb, parts.uri.query())
        .await?;
    let storage = &state.store.storage;
    let export = types::get_as::<kcp::APIExport>(storage, &exports(), &provider.name, export_name)
        .await
        .map_err(|e| ApiError::internal("reading the APIExport", e))?
        .ok_or_else(Status::path_not_found)?;
    // Only data the export provably owns: its hash must be its key's.
    let Some(identity) =
        crate::controllers::apiexport::verified_identity(state, &provider.name, &export)
            .await
            .map_err(|e| ApiError::internal("verifying the APIExport identity", e))?
    else {
        return Err(Status::path_not_found().into());
    };
    let consumer = if ws == WILDCARD {
        LogicalCluster {
            name: WILDCARD.into(),
            path: WILDCARD.into(),
        }
    } else {
        state
            .clusters
            .resolve(ws)
            .await
            .ok_or_else(|| not_bound(ws, &provider, export_name))?
    };
    audit.cluster = consumer.name.clone();
    let view = view(state, &provider, &export, &identity, &consumer).await?;

    let base = &path[..path.len() - rest.len()];
    let apis = || crate::cluster::ClusterApis::new(view.registry.clone(), view.definitions.clone());
    let docs = || apis().openapi(&state.definitions);
    match rest {
        "/version" | "/version/" => return Ok((system::version(), seat)),
        "/openapi/v2" => {
            let doc = apis().openapi_v2(&state.definitions);
            return Ok((openapi::v2(&doc, &parts.headers)?, seat));
        }
        "/openapi/v3" | "/openapi/v3/" => return Ok((openapi::v3_root(&docs(), base)?, seat)),
        _ => {}
    }
    if let Some(gv) = rest.strip_prefix("/openapi/v3/") {
        let doc = openapi::v3_group_version(&docs(), base, gv, parts.uri.query(), &parts.headers)?;
        return Ok((doc, seat));
    }
    let params = Params::parse(parts.uri.query())?;
    let Some(target) = info::parse(&parts.method, rest, params.watch) else {
        return Err(Status::path_not_found().into());
    };
    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let resp = match target {
        Target::CoreVersions => Ok(discovery::core_versions(state, &view.registry, accept)),
        Target::Groups => discovery::groups(&view.registry, accept),
        Target::Group(g) => discovery::group(&view.registry, &g),
        Target::ResourceList { group, version } => {
            discovery::resource_list(&view.registry, &group, &version)
        }
        Target::Resource(req) => {
            let Some(def) = view
                .registry
                .get(&req.group, &req.version, &req.resource)
                .cloned()
            else {
                return Err(Status::path_not_found().into());
            };
            let claim = view
                .claims
                .get(&(req.group.clone(), req.resource.clone()))
                .cloned();
            if req_attrs.verb != "list" || params.watch {
                resource_request(
                    state, &consumer, &user, def, claim, req, params, parts, body,
                )
                .await
            } else {
                // A LIST takes the bulk lane, as at the workspace paths.
                let (state, consumer, user) = (state.clone(), consumer.clone(), user.clone());
                let ticket = crate::bulk::ticket();
                ticket
                    .run(async move {
                        resource_request(
                            &state, &consumer, &user, def, claim, req, params, parts, body,
                        )
                        .await
                    })
                    .await
                    .map(move |r| r.map(|b| ticket.body(b)))
            }
        }
    }?;
    Ok((resp, seat))
}

fn not_bound(ws: &str, provider: &LogicalCluster, export: &str) -> ApiError {
    Status::failure(
        403,
        "Forbidden",
        format!(
            "workspace {ws:?} has no APIBinding to APIExport {}:{export}",
            provider.path
        ),
    )
    .into()
}

/// The definitions the provider sees at `consumer` (or `*`).
async fn view(
    state: &AppState,
    provider: &LogicalCluster,
    export: &kcp::APIExport,
    identity: &str,
    consumer: &LogicalCluster,
) -> ApiResult<View> {
    let storage = &state.store.storage;
    let export_name = export.metadata.name.as_deref().unwrap_or("");
    let mut registry = Registry::default();
    let mut definitions = std::collections::BTreeMap::new();
    let mut claims = std::collections::BTreeMap::new();
    let applied: Vec<kcp::ScopedPermissionClaim> = if consumer.name == WILDCARD {
        Vec::new()
    } else {
        let prefix = bindings()
            .cluster(&consumer.name)
            .map_err(|e| ApiError::internal("binding keyspace", e))?;
        let items = crate::controllers::scan(state, prefix, trellis_storage::ReadAt::Latest)
            .await
            .ok_or_else(|| ApiError::internal("reading APIBindings", "storage"))?;
        let binding = items
            .iter()
            .filter_map(|r| serde_json::from_slice::<kcp::APIBinding>(&r.value).ok())
            .find(|b| {
                b.status.api_export_cluster_name == provider.name
                    && b.export().1 == export_name
                    && !b.status.bound_resources.is_empty()
            })
            .ok_or_else(|| not_bound(&consumer.path, provider, export_name))?;
        binding.status.applied_permission_claims
    };
    for r in &export.spec.resources {
        let Ok(Some(schema)) = types::get(storage, &schemas(), &provider.name, &r.schema).await
        else {
            continue;
        };
        let Ok(built) = state.bound_apis.get(
            &schema,
            identity,
            false,
            &state.definitions,
            &state.store.policies.egress(),
        ) else {
            continue;
        };
        definitions.extend(
            built
                .definitions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        for d in &built.defs {
            let mut d = d.clone();
            d.annotate_cluster = true;
            d.verbs = vec!["get", "list", "watch", "update", "patch"];
            d.admission = Some(Arc::new(boundary::ProviderBoundary));
            registry.add(d);
        }
    }
    let builtin = state.clusters.builtin_registry();
    for c in &applied {
        if !c.claim.identity_hash.is_empty() {
            // Claims on other exports' resources are not served yet.
            continue;
        }
        let Some(base) = builtin
            .all()
            .find(|d| d.group == c.claim.group && d.resource == c.claim.resource)
        else {
            continue;
        };
        let verbs: BTreeSet<String> = c.claim.verbs.iter().cloned().collect();
        // An empty selector, like `matchAll`, selects everything.
        let selector = if c.selector.match_all || c.selector == Default::default() {
            None
        } else {
            let sel = serde_json::to_value(&c.selector)
                .map_err(|e| ApiError::internal("claim selector", e))?;
            Some(
                trellis_apis::labels::from_label_selector(&sel)
                    .map_err(|e| ApiError::internal("claim selector", e.to_string()))?,
            )
        };
        let match_labels: serde_json::Map<String, Value> = c
            .selector
            .match_labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        let claim = Claim {
            verbs,
            selector,
            everywhere: false,
        };
        // Every version of the resource, with the claimed verbs only.
        for d in builtin
            .all()
            .filter(|d| d.group == base.group && d.resource == base.resource)
        {
            let mut d = (**d).clone();
            d.annotate_cluster = true;
            d.verbs.retain(|v| claim.allows(v));
            if let Some(sel) = &claim.selector {
                d.admission = Some(Arc::new(boundary::ClaimSelector {
                    selector: sel.clone(),
                    match_labels: match_labels.clone(),
                }));
            }
            registry.add(d);
        }
        claims.insert((base.group.clone(), base.resource.clone()), claim);
    }
    // The export's own bindings, unless a claim on them serves more: kcp
    // always serves them, read-only and selected by the export label, so
    // a provider (multicluster-runtime's kcp provider among them) learns
    // which workspaces bind it and whether they are Ready.
    if let std::collections::btree_map::Entry::Vacant(slot) =
        claims.entry((GROUP.to_string(), "apibindings".to_string()))
    {
        let value = export_label_value(&provider.name, export_name);
        let selector = trellis_apis::labels::from_label_selector(
            &serde_json::json!({"matchLabels": {EXPORT_LABEL: value}}),
        )
        .map_err(|e| ApiError::internal("export label selector", e.to_string()))?;
        let claim = Claim {
            verbs: ["get", "list", "watch"].map(String::from).into(),
            selector: Some(selector),
            everywhere: true,
        };
        for d in builtin
            .all()
            .filter(|d| d.group == GROUP && d.resource == "apibindings")
        {
            let mut d = (**d).clone();
            d.annotate_cluster = true;
            d.verbs.retain(|v| claim.allows(v));
            registry.add(d);
        }
        slot.insert(claim);
    }
    Ok(View {
        registry,
        definitions,
        claims,
    })
}

/// One resource request through the view.
#[allow(clippy::too_many_arguments)] // the request's parts, as `resource::handle`'s
async fn resource_request(
    state: &AppState,
    consumer: &LogicalCluster,
    user: &UserInfo,
    def: Arc<ResourceDef>,
    claim: Option<Claim>,
    req: info::ResourceRequest,
    mut params: Params,
    parts: http::request::Parts,
    body: Body,
) -> ApiResult<Response> {
    // As `resource::handle` does: the whole body first.
    let body = Body::from(crate::request::body::read(body).await?);
    let gr = def.group_resource();
    let wildcard = consumer.name == WILDCARD;
    if wildcard && !matches!(req.verb, Verb::List | Verb::Watch) {
        return Err(Status::method_not_supported(&gr, req.verb.as_str()).into());
    }
    let verb = req.verb.as_str();
    match &claim {
        None => {
            if matches!(
                req.verb,
                Verb::Create | Verb::Delete | Verb::DeleteCollection
            ) {
                return Err(Status::forbidden(
                    &gr,
                    req.name.as_deref().unwrap_or(""),
                    &format!(
                        "a provider cannot {verb} instances in consumer workspaces: they belong to the consumer"
                    ),
                )
                .into());
            }
        }
        Some(c) => {
            if wildcard && !c.everywhere {
                return Err(Status::forbidden(
                    &gr,
                    "",
                    "claimed resources are served per workspace: address /clusters/<workspace>",
                )
                .into());
            }
            if c.everywhere && !c.allows(verb) {
                return Err(Status::method_not_supported(&gr, verb).into());
            }
            if !c.allows(verb) {
                return Err(Status::forbidden(
                    &gr,
                    req.name.as_deref().unwrap_or(""),
                    &format!(
                        "the permission claim accepted in workspace {} does not include {verb:?}",
                        consumer.path
                    ),
                )
                .into());
            }
            if let Some(sel) = &c.selector {
                if matches!(req.verb, Verb::List | Verb::Watch | Verb::DeleteCollection) {
                    params.label_selector = Some(match params.label_selector.take() {
                        Some(l) if !l.is_empty() => format!("{l},{sel}"),
                        _ => sel.to_string(),
                    });
                } else if let Some(name) = &req.name {
                    // Objects outside the selector do not exist for the
                    // provider.
                    let key = def
                        .keyspace
                        .object(&consumer.name, req.namespace.as_deref().unwrap_or(""), name)
                        .map_err(|_| Status::not_found(&gr, name))?;
                    if let Some(rec) = state
                        .store
                        .storage
                        .get(&key)
                        .await
                        .map_err(|e| ApiError::from_storage(e, &gr, name))?
                    {
                        let obj: Value = serde_json::from_slice(&rec.value)
                            .map_err(|e| ApiError::internal("stored object", e))?;
                        let labels = obj
                            .pointer("/metadata/labels")
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default();
                        if !sel.matches(&labels) {
                            return Err(Status::not_found(&gr, name).into());
                        }
                    }
                }
            }
        }
    }
    let single = !wildcard && !matches!(req.verb, Verb::List | Verb::Watch);
    let resp = resource::handle_def(state, consumer, user, def, req, params, parts, body).await?;
    if single {
        return annotate(resp, &consumer.name).await;
    }
    Ok(resp)
}

/// Adds `kcp.io/cluster` to a single-object JSON answer.
async fn annotate(resp: Response, cluster: &str) -> ApiResult<Response> {
    let is_json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !is_json || resp.status() == StatusCode::NO_CONTENT {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::internal("reading a response", e))?;
    let Ok(mut obj) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    };
    if obj.get("kind").and_then(Value::as_str) == Some("Status") || obj.get("metadata").is_none() {
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    }
    meta::set_annotation(&mut obj, meta::CLUSTER_ANNOTATION, cluster);
    let out = trellis_apis::proto::order::to_vec(&obj);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_provider_export_workspace_and_rest() {
        assert_eq!(
            split("/services/apiexport/root:p/widgets/clusters/*/apis/example.io/v1/widgets"),
            Some(("root:p", "widgets", "*", "/apis/example.io/v1/widgets"))
        );
        assert_eq!(
            split("/services/apiexport/abc/widgets/clusters/c1"),
            Some(("abc", "widgets", "c1", ""))
        );
        assert_eq!(split("/services/apiexport/abc/widgets"), None);
        assert_eq!(split("/services/apiexport/abc/widgets/other/c1/api"), None);
    }
}
