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
//!   the bound user and as a master, whose difference is what authorization
//!   adds to a request end to end (authentication is a hash lookup for both).
//!
//! Run: `cargo bench -p trellis-server --bench authz` (`BENCH_ITERATIONS`
//! changes the 200 000 iterations of the decision loops).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use serde_json::json;
use tower::ServiceExt;
use trellis_apis::rbac::{Attributes, UserInfo};
use trellis_server::registry::store::WriteCtx;
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
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

    let builds = 50;
    let start = Instant::now();
    for _ in 0..builds {
        authz.invalidate(CLUSTER);
        black_box(authz.policy(CLUSTER).await.unwrap());
    }
    println!(
        "policy index build from storage (first request after an RBAC write): {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3 / builds as f64
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
    let requests = (iterations / 10).max(1_000);
    let mut results = Vec::new();
    for (name, token) in [
        ("as bound user", "user-token"),
        ("as master", "admin-token"),
    ] {
        // Warm up, then measure.
        for _ in 0..100 {
            let r = router.clone().oneshot(get(token)).await.unwrap();
            assert_eq!(r.status(), 200, "{name}");
        }
        let start = Instant::now();
        for _ in 0..requests {
            let r = router.clone().oneshot(get(token)).await.unwrap();
            black_box(r);
        }
        let d = start.elapsed();
        results.push(d.as_secs_f64() * 1e6 / requests as f64);
        println!("GET configmaps via router, {name}: {}", per_op(d, requests));
    }
    println!(
        "authorization overhead per request (bound user - master): {:.3} µs",
        results[0] - results[1]
    );
    drop(router);
    drop(state);
    storage.close().await.unwrap();
}
