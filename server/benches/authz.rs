//! Authorization overhead per request, with 1,000 RoleBindings in one
//! workspace.
//!
//! Measures, on the server's real types and storage (sled in a temp dir):
//! - `Authorizer::authorize` for an allowed and a refused request of a
//!   user bound in one of 100 namespaces (the full chain: workspace access,
//!   then RBAC), and for a `system:masters` user (the short cut);
//! - building a workspace's policy index from storage, which the first
//!   request after an RBAC write pays;
//! - a whole `GET .../configmaps` through `server::router` (no socket) as
//!   the bound user and as a master, each request timed on its own from
//!   the call to the last byte of the body (which is encoded lazily, as it
//!   is read) and checked (200, an empty ConfigMapList). The two kinds are
//!   interleaved in one loop (alternating which goes first), so drift in
//!   the machine's load hits both alike; the report gives the median and
//!   p99 of each and the median of the paired differences (bound user −
//!   master of the same round), which is what authorization adds to a
//!   request end to end (authentication is a hash lookup for both).
//!
//! Run: `cargo bench -p trellis-server --bench authz` (`BENCH_ITERATIONS`
//! changes the 200 000 iterations of the decision loops; the router loop
//! makes a tenth as many rounds, at least 1,000). `cargo test` (no
//! `--bench`) or `BENCH_QUICK=1` runs 2,000 iterations.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use serde_json::json;
use tower::ServiceExt;
use trellis_apis::rbac::{Attributes, UserInfo};
use trellis_server::registry::store::{DeleteOpts, WriteCtx};
use trellis_server::{AppState, ServerConfig};
use trellis_storage::{SledConfig, SledStorage, Storage};

const CLUSTER: &str = "benchws";
const NAMESPACES: usize = 100;
const BINDINGS: usize = 1_000;

fn per_op(d: Duration, n: usize) -> String {
    format!("{:.3} µs", d.as_secs_f64() * 1e6 / n as f64)
}

async fn create(state: &AppState, resource: &str, ns: Option<&str>, obj: serde_json::Value) {
    let group = if resource == "namespaces" {
        ""
    } else {
        "rbac.authorization.k8s.io"
    };
    let def = state
        .clusters
        .builtin_registry()
        .get(group, "v1", resource)
        .expect("built in")
        .clone();
    let ctx = WriteCtx::system(CLUSTER, &def, ns, None, "bench");
    state
        .store
        .create(&ctx, obj, Vec::new())
        .await
        .expect("create");
}

async fn populate(state: &AppState) {
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n}");
        create(
            state,
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    }
    create(
        state,
        "clusterrolebindings",
        None,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "bench-access"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kcp:workspace:access"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "bench"}],
        }),
    )
    .await;
    for i in 0..BINDINGS {
        let ns = format!("ns-{}", i % NAMESPACES);
        let role = ["view", "edit", "admin"][i % 3];
        create(
            state,
            "rolebindings",
            Some(&ns),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": format!("rb-{i}"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": format!("user-{i}")}],
            }),
        )
        .await;
    }
}

fn get(token: &str) -> http::Request<Body> {
    http::Request::get(format!(
        "/clusters/{CLUSTER}/api/v1/namespaces/ns-50/configmaps"
    ))
    .header("authorization", format!("Bearer {token}"))
    .body(Body::empty())
    .unwrap()
}

/// One GET through the router, to the last byte of the body; checks that
/// it answered 200 with an empty ConfigMapList.
async fn timed_get(router: &axum::Router, name: &str, token: &str) -> Duration {
    let start = Instant::now();
    let resp = router.clone().oneshot(get(token)).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let took = start.elapsed();
    assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
    let list: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(list["kind"], "ConfigMapList", "{name}");
    assert_eq!(list["items"], json!([]), "{name}");
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations = common::env_or("BENCH_ITERATIONS", 200_000, 2_000);
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> =
        Arc::new(SledStorage::open(SledConfig::new(dir.path().join("db"))).unwrap());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(storage.clone(), ServerConfig::default(), rx);
    state.clusters.register(CLUSTER, "root:bench");
    populate(&state).await;

    let user = UserInfo::new("user-550").with_groups(["bench", "system:authenticated"]);
    let allowed = Attributes::resource(
        user.clone(),
        "list",
        "ns-50",
        "",
        "v1",
        "configmaps",
        "",
        "",
    );
    let refused = Attributes::resource(
        user.clone(),
        "list",
        "ns-51",
        "",
        "v1",
        "configmaps",
        "",
        "",
    );
    let master = Attributes::resource(
        UserInfo::new("admin").with_groups(["system:masters"]),
        "list",
        "ns-50",
        "",
        "v1",
        "configmaps",
        "",
        "",
    );
    let authz = state.authz.clone();
    assert!(
        authz
            .authorize(CLUSTER, &allowed)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        !authz
            .authorize(CLUSTER, &refused)
            .await
            .unwrap()
            .is_allowed()
    );
    let index = authz.policy(CLUSTER).await.unwrap();
    println!(
        "workspace {CLUSTER}: {} bindings indexed ({} RoleBindings in {NAMESPACES} namespaces)",
        index.binding_count(),
        BINDINGS
    );

    for (name, attrs) in [
        ("allowed (access + RBAC)", &allowed),
        ("refused (access + RBAC)", &refused),
        ("system:masters", &master),
    ] {
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(authz.authorize(CLUSTER, black_box(attrs)).await.unwrap());
        }
        println!("authorize, {name}: {}", per_op(start.elapsed(), iterations));
    }

    let builds = if common::quick() { 3 } else { 50 };
    let start = Instant::now();
    for _ in 0..builds {
        black_box(authz.read_policy(CLUSTER).await.unwrap());
    }
    println!(
        "policy index build from storage: {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3 / builds as f64
    );
    // A RoleBinding created or deleted, then one request: the request
    // waits for the RBAC watch to deliver the write and rebuilds the index.
    let mut took = Duration::ZERO;
    let rb_def = state
        .clusters
        .builtin_registry()
        .get("rbac.authorization.k8s.io", "v1", "rolebindings")
        .expect("built in")
        .clone();
    for i in 0..builds {
        let ctx = WriteCtx::system(CLUSTER, &rb_def, Some("ns-0"), None, "bench");
        if i % 2 == 0 {
            let rb = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "churn", "namespace": "ns-0"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "churn"}],
            });
            state
                .store
                .create(&ctx, rb, Vec::new())
                .await
                .expect("create");
        } else {
            state
                .store
                .delete(&ctx, "churn", &DeleteOpts::default())
                .await
                .expect("delete");
        }
        let start = Instant::now();
        assert!(
            authz
                .authorize(CLUSTER, &allowed)
                .await
                .unwrap()
                .is_allowed()
        );
        took += start.elapsed();
    }
    println!(
        "first request after an RBAC write (watch catch-up + index build): {:.2} ms",
        took.as_secs_f64() * 1e3 / builds as f64
    );

    state.auth.add_token(
        "user-token",
        UserInfo {
            name: "user-550".into(),
            groups: vec!["bench".into()],
            ..Default::default()
        },
    );
    state.auth.add_token(
        "admin-token",
        UserInfo {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
            ..Default::default()
        },
    );
    let router = trellis_server::router(state.clone());
    let rounds = (iterations / 10).max(1_000);
    let variants = [
        ("as bound user", "user-token"),
        ("as master", "admin-token"),
    ];
    // Warm up.
    for _ in 0..100 {
        for (name, token) in variants {
            timed_get(&router, name, token).await;
        }
    }
    let mut samples = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    let mut paired = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut took = [Duration::ZERO; 2];
        for k in 0..2 {
            // Alternate which variant goes first.
            let v = (k + round) % 2;
            let (name, token) = variants[v];
            took[v] = timed_get(&router, name, token).await;
        }
        samples[0].push(took[0]);
        samples[1].push(took[1]);
        paired.push(took[0].as_secs_f64() - took[1].as_secs_f64());
    }
    for ((name, _), v) in variants.iter().zip(samples.iter_mut()) {
        v.sort();
        println!(
            "GET configmaps via router, {name}: median {}, p99 {} ({rounds} requests)",
            common::us_frac(common::percentile(v, 0.50)),
            common::us_frac(common::percentile(v, 0.99)),
        );
    }
    paired.sort_by(f64::total_cmp);
    println!(
        "authorization overhead per request (median of paired differences, bound user - master): {:.2} µs",
        paired[paired.len() / 2] * 1e6
    );
    drop(router);
    drop(state);
    storage.close().await.unwrap();
}
