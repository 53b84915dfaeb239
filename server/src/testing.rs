//! What in-crate tests share: a server state on a temporary sled store with
//! an admin (`system:masters`) token, and requests through [`crate::router`]
//! without a socket.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request};
use tower::ServiceExt;
use trellis_storage::{SledStorage, Storage};

use crate::auth::{MASTERS, UserInfo};
use crate::state::{AppState, ServerConfig};

/// The bearer token of the fixture's admin.
pub const ADMIN_TOKEN: &str = "admin-token";

/// A server state that lives as long as the fixture (its store's directory
/// and shutdown channel with it).
pub struct Fixture {
    pub state: AppState,
    _shutdown: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// A response, read whole.
pub struct Answer {
    pub code: u16,
    pub content_type: String,
    /// The `Warning` headers, as sent.
    pub warnings: Vec<String>,
    pub body: Bytes,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open_path(dir.path().join("db")).unwrap());
        let (tx, rx) = tokio::sync::watch::channel(false);
        let state = AppState::new(storage, ServerConfig::default(), rx);
        state
            .auth
            .add_token(ADMIN_TOKEN, UserInfo::new("admin").with_groups([MASTERS]));
        Fixture {
            state,
            _shutdown: tx,
            _dir: dir,
        }
    }
}

/// One request as the admin, with extra headers.
pub async fn send(
    state: &AppState,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Answer {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = crate::router(state.clone())
        .oneshot(b.body(body.into()).unwrap())
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        code,
        content_type,
        warnings,
        body,
    }
}

/// One JSON request as the admin: the status code and the body as JSON
/// (a body that is not JSON comes back as a string).
pub async fn json_call(
    state: &AppState,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let a = send(
        state,
        method,
        path,
        &[
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ],
        body.map(|b| Body::from(b.to_string())).unwrap_or_default(),
    )
    .await;
    let v = serde_json::from_slice(&a.body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&a.body).into()));
    (a.code, v)
}
