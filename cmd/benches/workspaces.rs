//! Workspace scale benchmark against the real binary:
//! `cargo bench -p trellis --bench workspaces` (`BENCH_WORKSPACES=10000,100000`
//! sets the steps). `cargo test` (no `--bench`) or `BENCH_QUICK=1` runs a
//! quick smoke version: one step of 200 workspaces, no pause before reading
//! RSS, 200 GETs.
//!
//! For each step it creates workspaces (kubectl-equivalent POSTs of
//! `Workspace` objects into `root`, 64 concurrent clients) until the total
//! is reached and waits until a LIST of `root`'s workspaces shows every one
//! of them `Ready` (a failed LIST fails the run); then gives each new
//! workspace a namespace and 10 ConfigMaps. It reports the workspace
//! creation rate (POST to Ready), RSS per workspace, p50/p99 latency of
//! GETs spread over all workspaces, and cold start with everything present:
//! from starting the process to the first 200 answer of `/readyz`.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use common::Server;
use common::bench;

const CLIENTS: usize = 64;

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(
            body.map(|b| serde_json::to_vec(b).unwrap())
                .unwrap_or_default(),
        ))
        .unwrap();
    let resp = client.send(req).await.expect("send");
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Runs `f(i)` for every i in `range` from CLIENTS concurrent tasks.
async fn fan_out<F, Fut>(clients: &[kube::Client], range: std::ops::Range<usize>, f: F)
where
    F: Fn(kube::Client, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let client = client.clone();
        let f = f.clone();
        let r = range.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = r.start + c;
            while i < r.end {
                f(client.clone(), i).await;
                i += CLIENTS;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// (workspaces in `root`, how many of them are not `Ready`), from a LIST
/// in pages of 5,000; panics if a page fails.
async fn readiness(client: &kube::Client) -> (usize, usize) {
    let mut cont = String::new();
    let (mut total, mut not_ready) = (0, 0);
    loop {
        let path = format!(
            "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces?limit=5000&continue={}",
            bench::query_escape(&cont)
        );
        let (code, list) = send(client, "GET", &path, None).await;
        assert_eq!(code, 200, "LIST {path}: {list}");
        let items = list["items"]
            .as_array()
            .unwrap_or_else(|| panic!("LIST {path}: no items: {list}"));
        total += items.len();
        not_ready += items
            .iter()
            .filter(|w| w["status"]["phase"] != "Ready")
            .count();
        match list["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => cont = c.to_string(),
            _ => return (total, not_ready),
        }
    }
}

fn main() {
    let quick = bench::quick();
    let steps: Vec<usize> = if quick {
        vec![200]
    } else {
        std::env::var("BENCH_WORKSPACES")
            .unwrap_or_else(|_| "10000,100000".into())
            .split(',')
            .map(|s| s.trim().parse().expect("number"))
            .collect()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut server = Server::start("bench_workspaces");
    println!("## Workspaces (`cargo bench -p trellis --bench workspaces`)\n");
    println!(
        "| workspaces | creation (POST → Ready) | workspaces/s | objects | RSS | RSS per workspace | GET p50 | GET p99 | cold start |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut done = 0usize;
    let baseline = bench::rss_kib(server.pid());
    for step in steps {
        let (elapsed, objects) = rt.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..CLIENTS {
                clients.push(bench::base_client(&server).await);
            }
            let start = Instant::now();
            fan_out(&clients, done..step, |c, i| async move {
                let ws = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": format!("ws{i:06}")}, "spec": {"type": {"name": "universal", "path": "root"}}});
                let (code, body) = send(&c, "POST", "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces", Some(&ws)).await;
                assert_eq!(code, 201, "{body}");
            })
            .await;
            let posted = start.elapsed();
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let (total, not_ready) = readiness(&clients[0]).await;
                if total >= step && not_ready == 0 {
                    assert_eq!(total, step, "workspaces in root");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{not_ready} of {total} workspaces still not Ready"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let elapsed = start.elapsed();
            eprintln!("{step}: posted in {posted:?}, all Ready after {elapsed:?}");
            // A namespace and 10 ConfigMaps in each new workspace.
            fan_out(&clients, done..step, |c, i| async move {
                let base = format!("/clusters/root:ws{i:06}/api/v1");
                let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}});
                let (code, body) = send(&c, "POST", &format!("{base}/namespaces"), Some(&ns)).await;
                assert_eq!(code, 201, "{body}");
                for j in 0..10 {
                    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm{j}")}, "data": {"key": "value"}});
                    let (code, body) = send(&c, "POST", &format!("{base}/namespaces/app/configmaps"), Some(&cm)).await;
                    assert_eq!(code, 201, "{body}");
                }
            })
            .await;
            eprintln!("{step}: content created after {:?}", start.elapsed());
            let objects = bench::storage_objects(&clients[0]).await;
            // Each workspace: Workspace, LogicalCluster, namespaces
            // `default` and `app`, 10 ConfigMaps.
            assert!(
                objects >= 14 * step as u64,
                "{objects} objects stored for {step} workspaces"
            );
            (elapsed, objects)
        });
        let created = step - done;
        done = step;
        // Steady state: let checkpointing and the memory returner run.
        if !quick {
            std::thread::sleep(Duration::from_secs(15));
        }
        let rss = bench::rss_kib(server.pid());
        let latencies = rt.block_on(async {
            let client = bench::base_client(&server).await;
            let mut lat = Vec::new();
            let mut x: u64 = 0x9e3779b97f4a7c15;
            for _ in 0..if quick { 200 } else { 2000 } {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let ws = (x as usize) % done;
                let path = format!(
                    "/clusters/root:ws{ws:06}/api/v1/namespaces/app/configmaps/cm{}",
                    x % 10
                );
                let t = Instant::now();
                let (code, _) = send(&client, "GET", &path, None).await;
                lat.push(t.elapsed().as_micros() as u64);
                assert_eq!(code, 200, "{path}");
            }
            lat.sort();
            lat
        });
        let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        bench::stop(&mut server);
        let cold = bench::cold_start(&mut server, &rt);
        println!(
            "| {done} | {:.1} s for {created} | {:.0} | {objects} | {:.0} MiB | {:.1} KiB | {:.2} ms | {:.2} ms | {:.2} s |",
            elapsed.as_secs_f64(),
            created as f64 / elapsed.as_secs_f64(),
            rss / 1024.0,
            (rss - baseline) / done as f64,
            p(0.5),
            p(0.99),
            cold.as_secs_f64(),
        );
    }
    bench::stop(&mut server);
}
