//! The HTTP surface: one router, one dispatcher.
//!
//! Request path: log & metrics middleware → cluster resolution → (health
//! endpoints excepted) authentication → discovery / OpenAPI / version, or a
//! resource request → registry lookup → the generic store. Every failure
//! becomes a `Status` through [`ApiError`](crate::error::ApiError).

pub mod discovery;
pub mod openapi;
pub mod resource;
pub mod review;
mod scale;
pub mod system;
mod token;
pub mod watch;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use trellis_apis::Status;

use trellis_apis::rbac::forbidden_status;

use crate::audit;
use crate::auth::UserInfo;
use crate::authz::{self, impersonation};
use crate::cluster::{LogicalCluster, ROOT};
use crate::error::{ApiError, ApiResult};
use crate::policy::notes;
use crate::request::info::{self, Target};
use crate::request::params::Params;
use crate::state::AppState;

/// Verb and resource of a request, left on the response for the access log
/// and metrics.
#[derive(Clone, Debug)]
pub struct RequestLabel {
    pub verb: &'static str,
    pub resource: String,
}

/// The API router. Public so that tests can drive handlers without a socket.
pub fn router(state: AppState) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// Requests slower than this are logged at info level (watches excepted:
/// they last as long as the client wants).
const SLOW_REQUEST: std::time::Duration = std::time::Duration::from_secs(1);

/// One line per request, off the hot path: at debug level (the audit log is
/// the complete record of who did what), at warn for server errors and at
/// info for slow requests. Formatting a line per request cost 13–45% of
/// create throughput at info level; a disabled line costs one cached
/// level check.
async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The body's media type tells an operator which client dialect (JSON,
    // protobuf, a patch flavour) a request used.
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let resp = next.run(req).await;
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    let label = resp.extensions().get::<RequestLabel>();
    let (verb, resource) = match label {
        Some(l) => (l.verb, l.resource.as_str()),
        None => ("", ""),
    };
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                method = %method,
                verb,
                resource,
                path,
                content_type,
                status,
                latency_ms = elapsed.as_secs_f64() * 1e3,
                "request"
            )
        };
    }
    if status >= 500 {
        line!(warn);
    } else if elapsed >= SLOW_REQUEST && verb != "watch" {
        line!(info);
    } else {
        line!(debug);
    }
    resp
}

/// Splits `/clusters/<c>/rest` into the cluster and the rest.
pub(crate) fn split_cluster(path: &str) -> (&str, &str) {
    if let Some(after) = path.strip_prefix("/clusters/") {
        match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        }
    } else {
        (ROOT, path)
    }
}

fn label(mut resp: Response, verb: &'static str, resource: &str) -> Response {
    resp.extensions_mut().insert(RequestLabel {
        verb,
        resource: resource.to_string(),
    });
    resp
}

async fn dispatch(State(state): State<AppState>, req: Request<Body>) -> Response {
    let extra_space = crate::auth::bearer_has_extra_space(req.headers());
    let req = match crate::request::path::decode(req) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    let mut resp = serve_request(state, req).await;
    if extra_space {
        resp = crate::response::with_warnings(resp, &[crate::auth::EXTRA_SPACE_WARNING.into()]);
    }
    resp
}

async fn serve_request(state: AppState, req: Request<Body>) -> Response {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path.starts_with(crate::provider::PREFIX) {
        // The provider endpoint authenticates and authorizes on its own
        // terms (content access to the export), but is audited and measured
        // like every other request.
        let mut audit = Audit::default();
        let uri = parts.uri.clone();
        let (resp, notes) =
            notes::scope(crate::provider::serve(&state, parts, body, &mut audit)).await;
        let resp = crate::response::with_warnings(resp, &notes.warnings);
        audit.annotations = notes.annotations;
        let attrs = audit.attrs.as_ref();
        state.metrics.record(
            attrs.map_or("", |a| a.verb.as_str()),
            attrs.map_or("", |a| a.resource.as_str()),
            resp.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
        if let Some(log) = state.audit.get() {
            audit.record(log, &uri, resp.status().as_u16());
        }
        return resp;
    }
    let (cluster_sel, rest) = split_cluster(&path);
    let rest = rest.to_string();
    // Health endpoints (also inside a workspace) need no credentials.
    if matches!(rest.as_str(), "/healthz" | "/livez" | "/readyz") {
        if !matches!(parts.method, http::Method::GET | http::Method::HEAD) {
            return ApiError::from(Status::method_not_allowed()).into_response();
        }
        return system::health(&rest, parts.uri.query()).into_response();
    }
    let mut audit = Audit {
        workspace: cluster_sel.to_string(),
        ..Default::default()
    };
    let uri = parts.uri.clone();
    // Admission below adds warnings and audit annotations to the notes.
    let ((resp, verb, resource), notes) = notes::scope(async {
        match admit(&state, cluster_sel, &rest, &parts, &mut audit).await {
            Err(e) => (e.into_response(), "", String::new()),
            Ok((cluster, user)) => {
                // The authenticated caller's share, whoever it impersonates.
                let actor = audit.actor.as_ref().unwrap_or(&user);
                let verb = audit.attrs.as_ref().map_or("", |a| a.verb.as_str());
                let seats = state
                    .fairness
                    .admit_request(actor, &cluster.name, verb, parts.uri.query())
                    .await;
                match seats {
                    Err(e) => (e.into_response(), "", String::new()),
                    Ok(seats) => {
                        match route_in_lane(&state, cluster, user, rest, verb, parts, body).await {
                            Ok((resp, verb, resource)) => (seats.hold(resp), verb, resource),
                            Err((e, verb, resource)) => (e.into_response(), verb, resource),
                        }
                    }
                }
            }
        }
    })
    .await;
    let resp = crate::response::with_warnings(resp, &notes.warnings);
    audit.annotations = notes.annotations;
    state.metrics.record(
        verb,
        &resource,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    if let Some(log) = state.audit.get() {
        audit.record(log, &uri, resp.status().as_u16());
    }
    label(resp, verb, &resource)
}

/// What the audit log learns about a request while it is admitted.
#[derive(Default)]
pub(crate) struct Audit {
    pub workspace: String,
    pub cluster: String,
    pub actor: Option<UserInfo>,
    pub user: Option<UserInfo>,
    pub attrs: Option<trellis_apis::rbac::Attributes>,
    pub decision: Option<audit::Decision>,
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Audit {
    fn record(&self, log: &audit::Auditor, uri: &http::Uri, code: u16) {
        let attrs = self.attrs.as_ref();
        let s = |f: fn(&trellis_apis::rbac::Attributes) -> &str| attrs.map_or("", f);
        let actor = self.actor.as_ref();
        let impersonated = match (&self.user, actor) {
            (Some(u), Some(a)) if u != a => Some(u.name.as_str()),
            _ => None,
        };
        let verb = match attrs {
            Some(a) => a.verb.as_str(),
            None => "",
        };
        log.record(&audit::Event {
            ts: jiff::Timestamp::now().to_string(),
            user: actor.map_or("", |u| u.name.as_str()),
            groups: actor.map_or(&[], |u| u.groups.as_slice()),
            impersonated_user: impersonated,
            verb,
            workspace: &self.workspace,
            cluster: &self.cluster,
            resource: s(|a| &a.resource),
            subresource: s(|a| &a.subresource),
            namespace: s(|a| &a.namespace),
            name: s(|a| &a.name),
            uri: uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
            decision: self.decision.unwrap_or(if code == 401 {
                audit::Decision::Unauthenticated
            } else {
                audit::Decision::Forbid
            }),
            code,
            annotations: &self.annotations,
        });
    }
}

/// Authentication, workspace resolution, impersonation and authorization:
/// the user the request runs as, and its workspace, or the refusal.
async fn admit(
    state: &AppState,
    cluster_sel: &str,
    rest: &str,
    parts: &http::request::Parts,
    audit: &mut Audit,
) -> ApiResult<(LogicalCluster, UserInfo)> {
    let actor = match state
        .auth
        .authenticate(&parts.headers, parts.extensions.get())
        .await
    {
        Ok(Some(u)) => u,
        _ => {
            audit.decision = Some(audit::Decision::Unauthenticated);
            return Err(Status::unauthorized().into());
        }
    };
    let cluster = state.clusters.resolve(cluster_sel).await;
    let cluster_name = cluster.as_ref().map(|c| c.name.as_str());
    if let Some(c) = &cluster {
        audit.workspace = c.path.clone();
        audit.cluster = c.name.clone();
    }
    let actor = authz::cache::scope_to_cluster(actor, cluster_name);
    audit.actor = Some(actor.clone());
    let user = match impersonation::requested(&parts.headers)? {
        None => actor,
        Some(r) => impersonation::impersonate(&state.authz, cluster_name, &actor, r).await?,
    };
    let attrs = authz::request::attributes(&user, &parts.method, rest, parts.uri.query());
    audit.user = Some(user.clone());
    let attrs = &*audit.attrs.insert(attrs);
    let Some(cluster) = cluster else {
        // Only those who may see everything learn that a workspace does
        // not exist; everyone else gets the refusal an existing workspace
        // they cannot enter would give.
        if user.in_group(crate::auth::MASTERS) {
            audit.decision = Some(audit::Decision::Allow);
            return Err(Status::path_not_found().into());
        }
        return Err(forbidden_status(attrs, authz::cache::ACCESS_DENIED).into());
    };
    let decision = state.authz.authorize(&cluster.name, attrs).await?;
    if !decision.is_allowed() {
        return Err(forbidden_status(attrs, decision.reason()).into());
    }
    audit.decision = Some(audit::Decision::Allow);
    Ok((cluster, user))
}

type Routed = Result<(Response, &'static str, String), (ApiError, &'static str, String)>;

/// Routes a LIST on the bulk lane ([`crate::bulk`]), its response body
/// included, and every other request where it arrived. A watch's initial
/// state takes the lane in [`watch`] itself: the rest of a watch's life is
/// not bulk work.
async fn route_in_lane(
    state: &AppState,
    cluster: LogicalCluster,
    user: UserInfo,
    rest: String,
    verb: &str,
    parts: http::request::Parts,
    body: Body,
) -> Routed {
    // The handler serves a watch for any boolean `watch` Go's ParseBool
    // reads as true ("t" too), which authorization files under "list", as
    // upstream does; a watch must not live on the lane.
    let watch = Params::parse(parts.uri.query()).is_ok_and(|p| p.watch);
    if verb != "list" || watch {
        return route(state, &cluster, &user, &rest, parts, body).await;
    }
    let state = state.clone();
    let ticket = crate::bulk::ticket();
    let routed = ticket
        .run(async move { route(&state, &cluster, &user, &rest, parts, body).await })
        .await;
    routed.map(move |(resp, verb, resource)| (resp.map(|b| ticket.body(b)), verb, resource))
}

async fn route(
    state: &AppState,
    cluster: &LogicalCluster,
    user: &UserInfo,
    rest: &str,
    parts: http::request::Parts,
    body: Body,
) -> Routed {
    // The path prefix clients used to reach this cluster; OpenAPI links
    // must keep it.
    let full = parts.uri.path();
    let base = &full[..full.len() - rest.len()];
    let plain = |r: ApiResult<Response>, verb: &'static str| match r {
        Ok(resp) => Ok((resp, verb, String::new())),
        Err(e) => Err((e, verb, String::new())),
    };
    match rest {
        "/version" | "/version/" => return plain(Ok(system::version()), "get"),
        "/metrics" => return plain(Ok(system::metrics(state)), "get"),
        "/openapi/v2" => {
            return plain(
                openapi::v2(&state.openapi_v2_cache(cluster), &parts.headers),
                "get",
            );
        }
        "/openapi/v3" | "/openapi/v3/" => {
            return plain(openapi::v3_root(&state.openapi_cache(cluster), base), "get");
        }
        _ => {}
    }
    if let Some(gv) = rest.strip_prefix("/openapi/v3/") {
        return plain(
            openapi::v3_group_version(
                &state.openapi_cache(cluster),
                base,
                gv,
                parts.uri.query(),
                &parts.headers,
            ),
            "get",
        );
    }
    let params = match Params::parse(parts.uri.query()) {
        Ok(p) => p,
        Err(e) => return Err((e, "", String::new())),
    };
    let Some(target) = info::parse(&parts.method, rest, params.watch) else {
        return Err((Status::path_not_found().into(), "", String::new()));
    };
    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let registry = state.clusters.registry(cluster);
    match target {
        Target::CoreVersions => plain(
            Ok(discovery::core_versions(state, &registry, accept)),
            "get",
        ),
        Target::Groups => plain(discovery::groups(&registry, accept), "get"),
        Target::Group(g) => plain(discovery::group(&registry, &g), "get"),
        Target::ResourceList { group, version } => {
            plain(discovery::resource_list(&registry, &group, &version), "get")
        }
        Target::Resource(req) if review::handles(&req) => {
            let verb = req.verb.as_str();
            let resource = req.resource.clone();
            match review::handle(state, cluster, user, req, parts, body).await {
                Ok(r) => Ok((r, verb, resource)),
                Err(e) => Err((e, verb, resource)),
            }
        }
        Target::Resource(req) => {
            let verb = req.verb.as_str();
            let resource = req.resource.clone();
            match resource::handle(state, cluster, user, req, params, parts, body).await {
                Ok(r) => Ok((r, verb, resource)),
                Err(e) => Err((e, verb, resource)),
            }
        }
    }
}
