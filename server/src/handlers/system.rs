//! Health, version and metrics endpoints.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::response;
use crate::state::AppState;

/// The Kubernetes version Trellis speaks.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

const CHECKS: [&str; 2] = ["ping", "storage"];

/// `/healthz`, `/livez`, `/readyz` with `?verbose` and `?exclude=`.
pub fn health(path: &str, query: Option<&str>) -> Response {
    let mut verbose = false;
    let mut excluded = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "verbose" => verbose = true,
            "exclude" => excluded.push(v.into_owned()),
            _ => {}
        }
    }
    if !verbose {
        return response::raw(StatusCode::OK, "text/plain; charset=utf-8", "ok");
    }
    let mut out = String::new();
    for c in CHECKS {
        if excluded.iter().any(|e| e == c) {
            out.push_str(&format!("[+]{c} excluded: ok\n"));
        } else {
            out.push_str(&format!("[+]{c} ok\n"));
        }
    }
    out.push_str(&format!("{} check passed\n", path.trim_start_matches('/')));
    response::raw(StatusCode::OK, "text/plain; charset=utf-8", out)
}

pub fn version() -> Response {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    response::json(
        StatusCode::OK,
        &json!({
            "major": KUBE_MAJOR,
            "minor": KUBE_MINOR,
            "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0+trellis-{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": option_env!("TRELLIS_GIT_COMMIT").unwrap_or("unknown"),
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "rust",
            "compiler": "rustc",
            "platform": format!("{}/{arch}", std::env::consts::OS),
        }),
    )
}

pub fn metrics(state: &AppState) -> Response {
    let stats = state.store.storage.stats();
    state.metrics.revision.set(stats.revision as i64);
    state.metrics.objects.set(stats.objects as i64);
    (
        StatusCode::OK,
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
