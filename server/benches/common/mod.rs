//! What the server's benches share: whether to run the quick smoke
//! variant ([`quick`]); and, for the API sharing benches (`sharing`,
//! `provider`), an in-process server with its controllers, requests through
//! `trellis_server::router` as a `system:masters` admin, the provider
//! workspace `root:provider` exporting `widgets.example.io`, consumer
//! workspaces and their bindings, and latency summaries.
//!
//! Each bench is its own crate and uses only part of this.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use trellis_server::auth::{MASTERS, UserInfo};
use trellis_server::controllers;
use trellis_server::{AppState, ServerConfig};
use trellis_storage::{SledConfig, SledStorage, Storage};

pub const TOKEN: &str = "bench-admin-token";
pub const PROVIDER: &str = "root:provider";
pub const WORKSPACES: &str = "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces";
/// Concurrent requests when creating things in bulk.
pub const FAN_OUT: usize = 16;

/// A quick smoke run: `BENCH_QUICK` is set, or the binary was not started
/// by `cargo bench` (which passes `--bench`), e.g. by `cargo test`.
pub fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some() || !std::env::args().any(|a| a == "--bench")
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `name` from the environment, else `full`, or `small` in a quick run.
pub fn env_or(name: &str, full: usize, small: usize) -> usize {
    env_usize(name, if quick() { small } else { full })
}

/// The server's state on sled in a temp dir, bootstrapped as
/// `trellis_server::run` does (workspace bootstrap, CRD and binding load),
/// with the workspace, CRD and sharing controllers running, and an admin
/// token (`system:masters`).
pub struct Server {
    pub state: AppState,
    pub router: Router,
    storage: Arc<dyn Storage>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(SledConfig::new(dir.path().join("db"))).unwrap());
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let state = AppState::new(storage.clone(), ServerConfig::default(), shutdown_rx);
        state
            .auth
            .add_token(TOKEN, UserInfo::new("admin").with_groups([MASTERS]));
        // As `trellis_server::run` does before listening.
        let ws_rev = controllers::workspace::bootstrap(&state).await.unwrap();
        let crd_rev = controllers::crd::load(&state).await;
        let sharing_rev = controllers::sharing::load(&state).await;
        let tasks = vec![
            tokio::spawn(controllers::workspace::run(state.clone(), ws_rev)),
            tokio::spawn(controllers::crd::run(state.clone(), crd_rev)),
            tokio::spawn(controllers::sharing::run(state.clone(), sharing_rev)),
        ];
        let router = trellis_server::router(state.clone());
        Server {
            state,
            router,
            storage,
            shutdown,
            tasks,
            _dir: dir,
        }
    }

    /// Stops the controllers (and open watches) and closes the storage.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        drop(self.router);
        drop(self.state);
        self.storage.close().await.unwrap();
    }
}

/// A request as the admin.
pub fn request(
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<&Value>,
) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json")
        .header("content-type", content_type)
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .unwrap()
}

pub async fn send(
    router: &Router,
    method: &str,
    path: &str,
    accept: &str,
    body: Option<&Value>,
) -> (u16, Bytes) {
    let mut req = request(method, path, "application/json", body);
    req.headers_mut()
        .insert("accept", http::HeaderValue::from_str(accept).unwrap());
    let resp = router.clone().oneshot(req).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (code, bytes)
}

pub async fn get_json(router: &Router, path: &str) -> (u16, Value) {
    let (code, body) = send(router, "GET", path, "application/json", None).await;
    (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub async fn post(router: &Router, path: &str, obj: &Value) {
    let (code, body) = send(router, "POST", path, "application/json", Some(obj)).await;
    assert_eq!(code, 201, "POST {path}: {}", String::from_utf8_lossy(&body));
}

pub fn consumer(i: usize) -> String {
    format!("c{i:05}")
}

pub fn workspace(name: &str) -> Value {
    json!({
        "apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace",
        "metadata": {"name": name},
        "spec": {"type": {"name": "universal", "path": "root"}},
    })
}

pub fn binding() -> Value {
    json!({
        "apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding",
        "metadata": {"name": "widgets"},
        "spec": {"reference": {"export": {"path": PROVIDER, "name": "widgets"}}},
    })
}

pub fn bindings_path(ws: &str) -> String {
    format!("/clusters/root:{ws}/apis/apis.kcp.io/v1alpha2/apibindings")
}

pub fn widgets_path(ws: &str) -> String {
    format!("/clusters/root:{ws}/apis/example.io/v1/namespaces/default/widgets")
}

/// Runs `f(i)` for every `i` in `range`, `width` at a time.
pub async fn fan_out_by<F, Fut>(width: usize, range: std::ops::Range<usize>, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    futures::stream::iter(range.map(f))
        .buffer_unordered(width)
        .collect::<Vec<()>>()
        .await;
}

/// Runs `f(i)` for every `i` in `range`, `FAN_OUT` at a time.
pub async fn fan_out<F, Fut>(range: std::ops::Range<usize>, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    fan_out_by(FAN_OUT, range, f).await;
}

/// Waits until `f` holds, polling every `every`; panics after `limit`.
pub async fn wait_until<Fut>(what: &str, every: Duration, limit: Duration, f: impl Fn() -> Fut)
where
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(every).await;
    }
}

/// Workspaces in root not yet `Ready`, in one unpaginated list.
pub async fn not_ready_workspaces(router: &Router) -> usize {
    let (code, list) = get_json(router, WORKSPACES).await;
    assert_eq!(code, 200, "{list}");
    list["items"]
        .as_array()
        .map(|a| a.iter().filter(|w| w["status"]["phase"] != "Ready").count())
        .unwrap_or(usize::MAX)
}

pub async fn widgets_served(router: &Router, ws: &str) -> bool {
    send(router, "GET", &widgets_path(ws), "application/json", None)
        .await
        .0
        == 200
}

/// Creates `root:provider` and, in it, the APIResourceSchema
/// `v1.widgets.example.io` and the APIExport `widgets`; returns the time
/// from the export's POST to its `status.identityHash`.
pub async fn create_provider(r: &Router) -> Duration {
    let long = Duration::from_secs(120);
    post(r, WORKSPACES, &workspace("provider")).await;
    wait_until("the provider", Duration::from_millis(5), long, || async {
        not_ready_workspaces(r).await == 0
    })
    .await;
    let base = format!("/clusters/{PROVIDER}/apis/apis.kcp.io");
    post(
        r,
        &format!("{base}/v1alpha1/apiresourceschemas"),
        &json!({
            "apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema",
            "metadata": {"name": "v1.widgets.example.io"},
            "spec": {
                "group": "example.io",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "color": {"type": "string", "enum": ["red", "blue"]},
                            "size": {"type": "integer", "minimum": 0},
                        }},
                        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                    }},
                }],
            },
        }),
    )
    .await;
    post(
        r,
        &format!("{base}/v1alpha2/apiexports"),
        &json!({
            "apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport",
            "metadata": {"name": "widgets"},
            "spec": {"resources": [{"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}}]},
        }),
    )
    .await;
    let t = Instant::now();
    wait_until(
        "the export's identity",
        Duration::from_millis(1),
        long,
        || async {
            let (_, e) = get_json(r, &format!("{base}/v1alpha2/apiexports/widgets")).await;
            e["status"]["identityHash"]
                .as_str()
                .is_some_and(|h| !h.is_empty())
        },
    )
    .await;
    t.elapsed()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Microseconds with two decimals.
pub fn us_frac(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// p50, p99 and max of `samples`.
pub fn summary(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    (
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default(),
    )
}
