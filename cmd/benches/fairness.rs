//! Fairness under a noisy tenant, against the real binary over HTTPS:
//! `cargo bench -p trellis --bench fairness`. `cargo test` (no `--bench`)
//! or `BENCH_QUICK=1` runs a quick smoke version (100 ConfigMaps, 100 GETs,
//! the flood measured as soon as it is under way).
//!
//! Tenant A (user `a`, workspace `root:a`) floods LISTs of 2,000 1 KiB
//! ConfigMaps from 64 concurrent loops and keeps 64 watches open, while
//! tenant B (user `b`, `root:b`) GETs one ConfigMap in a loop. B's latency
//! is measured idle and under the flood: with the default per-user shares;
//! with those shares but LISTs at normal CPU priority (`--bulk-nice=0`, no
//! bulk lane priority); and with shares so large they never bind (the
//! baseline without fairness). Client and server share the machine's 2 cores.
//! B's client runs on a runtime and thread of its own.
//! A's LISTs count only when answered 200 and read to the end; any answer
//! but 200 or 429, or a broken body, fails the run, as does a 429 in the
//! baseline or a flood that completes no LIST from the start of B's
//! measurement (A's rate is taken over B's measurement, or until that
//! first LIST when B was faster).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use common::Server;
use common::bench::{self, cm, percentile, quick};

const TOKENS: &str = "a-token,a,uid-a\nb-token,b,uid-b\n";

/// `user` may do everything in `root:<ws>`.
async fn tenant(server: &Server, ws: &str, user: &str) {
    let root = server.client_in("root", None).await;
    let req = |body: serde_json::Value, path: &str| {
        Request::post(path)
            .header("content-type", "application/json")
            .body(kube::client::Body::from(body.to_string().into_bytes()))
            .unwrap()
    };
    let resp = root
        .send(req(
            serde_json::json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": ws}}),
            "/apis/tenancy.kcp.io/v1alpha1/workspaces",
        ))
        .await
        .expect("create workspace");
    assert!(resp.status().is_success(), "{}", resp.status());
    let inner = server.client_in(&format!("root:{ws}"), None).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = inner
            .send(req(
                serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": format!("{user}-admin")},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            ))
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "workspace {ws} never became usable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// B's GET latencies (µs) for `n` sequential requests.
async fn b_gets(client: &kube::Client, n: usize) -> Vec<u64> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        api.get("target").await.expect("B's GET");
        out.push(start.elapsed().as_micros() as u64);
    }
    out.sort_unstable();
    out
}

/// [`b_gets`] from a client of B's own, on a runtime and OS thread of its
/// own: B's latency is then the server's, not the wait behind A's client
/// tasks in this process (which decrypt and read ~1 GB/s of lists).
fn b_gets_isolated(server: &Server, n: usize) -> Vec<u64> {
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let b = server.client_in("root:b", Some("b-token")).await;
                        b_gets(&b, n / 10).await;
                        b_gets(&b, n).await
                    })
                })
                .join()
                .unwrap()
        })
    })
}

struct Flood {
    stop: Arc<AtomicBool>,
    /// LISTs answered 200 and read to the end.
    lists: Arc<AtomicU64>,
    /// Watches answered 200.
    watches: Arc<AtomicU64>,
    /// Requests answered 429.
    refused: Arc<AtomicU64>,
    /// Anything else: the request failed, another status, a broken body.
    failed: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A's LIST loops and watches, until stopped.
async fn flood(server: &Server, loops: usize, watches: usize) -> Flood {
    let stop = Arc::new(AtomicBool::new(false));
    let lists = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..loops + watches {
        // A few connection pools, as several controllers would have.
        let client = server.client_in("root:a", Some("a-token")).await;
        let (stop, lists, opened, refused, failed) = (
            stop.clone(),
            lists.clone(),
            opened.clone(),
            refused.clone(),
            failed.clone(),
        );
        let watch = i >= loops;
        tasks.push(tokio::spawn(async move {
            let path = if watch {
                "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=5"
            } else {
                "/api/v1/namespaces/default/configmaps"
            };
            while !stop.load(Ordering::Relaxed) {
                let req = Request::get(path)
                    .body(kube::client::Body::from(Vec::new()))
                    .unwrap();
                let resp = match client.send(req).await {
                    Ok(resp) => resp,
                    Err(e) => {
                        failed.lock().unwrap().push(format!("{path}: {e}"));
                        continue;
                    }
                };
                match resp.status().as_u16() {
                    429 => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    200 => {}
                    code => {
                        failed.lock().unwrap().push(format!("{path}: {code}"));
                        continue;
                    }
                }
                if watch {
                    opened.fetch_add(1, Ordering::Relaxed);
                }
                let mut body = resp.into_body();
                let mut complete = false;
                // Read to the end, checking for the stop every 50 ms (an
                // idle watch sends nothing).
                while !stop.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(50), body.frame()).await {
                        Err(_) | Ok(Some(Ok(_))) => {}
                        Ok(None) => {
                            complete = true;
                            break;
                        }
                        Ok(Some(Err(e))) => {
                            failed.lock().unwrap().push(format!("{path}: body: {e}"));
                            break;
                        }
                    }
                }
                if !watch && complete {
                    lists.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    Flood {
        stop,
        lists,
        watches: opened,
        refused,
        failed,
        tasks,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let gets = if quick() { 100 } else { 10_000 };
    let objects = if quick() { 100 } else { 2_000 };
    println!("## Fairness (`cargo bench -p trellis --bench fairness`)\n");
    println!(
        "Tenant A: 64 LIST loops over {objects} ConfigMaps of 1 KiB and 64 open watches; tenant B: {gets} sequential GETs of one ConfigMap. Client and server on the same {} cores.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| shares | B idle p50 | B idle p99 | B flooded p50 | B flooded p99 | p99 ratio | A lists/s | A refused (429) |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (baseline, label, extra) in [
        (
            false,
            "default (per user: LISTs = cores, 32 other requests, 512 watches)",
            vec![],
        ),
        (
            false,
            "default, `--bulk-nice=0` (LISTs at normal priority)",
            vec!["--bulk-nice=0"],
        ),
        (
            true,
            "unlimited (baseline)",
            vec![
                "--max-requests-inflight-per-user=1000000",
                "--max-requests-inflight-per-workspace=1000000",
                "--max-lists-inflight-per-user=1000000",
                "--max-lists-inflight-per-workspace=1000000",
                "--max-watches-per-user=1000000",
                "--max-watches-per-workspace=1000000",
            ],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).unwrap();
        let tokens = tokens.to_str().unwrap().to_string();
        let mut args = vec!["--token-auth-file", tokens.as_str()];
        args.extend(extra.iter().copied());
        let mut server = Server::start_with("bench_fairness", &args);
        rt.block_on(async {
            tenant(&server, "a", "a").await;
            tenant(&server, "b", "b").await;
            let a: Api<ConfigMap> =
                Api::namespaced(server.client_in("root:a", Some("a-token")).await, "default");
            let payload = "x".repeat(1000);
            for i in 0..objects {
                a.create(&PostParams::default(), &cm(&format!("a{i:05}"), &payload))
                    .await
                    .expect("A's create");
            }
            let b = server.client_in("root:b", Some("b-token")).await;
            Api::<ConfigMap>::namespaced(b.clone(), "default")
                .create(&PostParams::default(), &cm("target", "b"))
                .await
                .expect("B's create");
            let idle = b_gets_isolated(&server, gets);
            let f = flood(&server, 64, 64).await;
            // The flood is under way (some LIST done, some watch open)...
            let deadline = Instant::now() + Duration::from_secs(60);
            while f.lists.load(Ordering::Relaxed) == 0 || f.watches.load(Ordering::Relaxed) == 0 {
                assert!(
                    Instant::now() < deadline,
                    "the flood never got going: {:?}",
                    f.failed.lock().unwrap()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // ... and, in a full run, has reached its steady state.
            if !quick() {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let lists_before = f.lists.load(Ordering::Relaxed);
            let start = Instant::now();
            let flooded = b_gets_isolated(&server, gets);
            // The flood must have been running through B's measurement. A
            // quick run's 100 GETs take milliseconds, less than the LISTs
            // then in flight need (64 at once without shares, at the bulk
            // lane's priority), so wait for the next one to complete: a
            // flood that stalled fails here.
            let deadline = Instant::now() + Duration::from_secs(60);
            while f.lists.load(Ordering::Relaxed) == lists_before {
                assert!(
                    Instant::now() < deadline,
                    "{label}: A completed no LIST while B measured: {:?}",
                    f.failed.lock().unwrap()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let secs = start.elapsed().as_secs_f64();
            let lists = f.lists.load(Ordering::Relaxed) - lists_before;
            f.stop.store(true, Ordering::Relaxed);
            for t in f.tasks {
                tokio::time::timeout(Duration::from_secs(10), t)
                    .await
                    .expect("a flood task stops")
                    .expect("a flood task");
            }
            let refused = f.refused.load(Ordering::Relaxed);
            let p = |v: &[u64], q| percentile(v, q) as f64 / 1e3;
            println!(
                "| {label} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.1}x | {:.0} | {} |",
                p(&idle, 0.5),
                p(&idle, 0.99),
                p(&flooded, 0.5),
                p(&flooded, 0.99),
                p(&flooded, 0.99) / p(&idle, 0.99).max(0.001),
                lists as f64 / secs,
                refused
            );
            let failed = f.failed.lock().unwrap();
            assert!(
                failed.is_empty(),
                "{label}: {} of A's requests failed: {:?}",
                failed.len(),
                &failed[..failed.len().min(5)]
            );
            if baseline {
                assert_eq!(refused, 0, "{label}: nothing is refused without shares");
            }
        });
        bench::stop(&mut server);
    }
    println!();
}
