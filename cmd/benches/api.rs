//! API server benchmark over HTTPS against the real binary:
//! `cargo bench -p trellis --bench api` (`BENCH_QUICK=1` for a smoke run).
//!
//! Measures durable creates/s at 1/16/64 concurrent clients, LIST of 10k and
//! 100k ConfigMaps (1 KiB) as JSON and as Table, RSS with 100k objects,
//! cold start with them, and watch fan-out latency with many watchers.
//! Client and server share the machine, so client CPU is included.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::Request;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};

use common::Server;

fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok()
}

fn scaled(n: usize) -> usize {
    if quick() { (n / 50).max(64) } else { n }
}

fn cm(name: &str, payload: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("payload".to_string(), payload.to_string())].into()),
        ..Default::default()
    }
}

async fn ensure_ns(client: &kube::Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let n = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let _ = api.create(&PostParams::default(), &n).await;
}

/// Creates `total` ConfigMaps in `ns` from `clients` concurrent tasks, each
/// with its own connection pool; returns creates/s.
async fn creates(
    server: &Server,
    ns: &str,
    clients: usize,
    total: usize,
    payload: &Arc<String>,
) -> f64 {
    let per = total / clients;
    let mut apis = Vec::new();
    for _ in 0..clients {
        apis.push(Api::<ConfigMap>::namespaced(server.client().await, ns));
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, api) in apis.into_iter().enumerate() {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                api.create(
                    &PostParams::default(),
                    &cm(&format!("c{c:02}-{i:06}"), &payload),
                )
                .await
                .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per * clients) as f64 / start.elapsed().as_secs_f64()
}

async fn timed_get(client: &kube::Client, path: &str, accept: &str) -> (Duration, usize) {
    let start = Instant::now();
    let req = Request::get(path)
        .header("accept", accept)
        .body(kube::client::Body::from(Vec::new()))
        .unwrap();
    let resp = client.send(req).await.expect("send");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (start.elapsed(), body.len())
}

async fn median_get(client: &kube::Client, path: &str, accept: &str) -> (Duration, usize) {
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(timed_get(client, path, accept).await);
    }
    runs.sort();
    runs[2]
}

fn rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut server = Server::start("bench_api");
    let payload = Arc::new("x".repeat(1000));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("## API server (`cargo bench -p trellis --bench api`)\n");
    println!(
        "Machine: {} cores, {cpu}. Client and server run on the same machine.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    rt.block_on(async {
        let client = server.client().await;
        println!("### Durable creates/s over HTTPS (ConfigMaps with a 1 KiB value)\n");
        println!("| clients | creates | creates/s |\n|---:|---:|---:|");
        for (clients, total) in [(1, scaled(2_000)), (16, scaled(16_000)), (64, scaled(32_000))] {
            let ns = format!("create-{clients}");
            ensure_ns(&client, &ns).await;
            let rate = creates(&server, &ns, clients, total, &payload).await;
            println!("| {clients} | {} | {rate:.0} |", total / clients * clients);
        }
        println!();

        // 10k in one namespace, then fill to 100k across the server.
        let ten_k = scaled(10_000);
        ensure_ns(&client, "list10k").await;
        creates(&server, "list10k", 64, ten_k, &payload).await;
        let so_far = 2_000 + 16_000 + 32_000 + 10_000;
        let hundred_k = scaled(100_000);
        ensure_ns(&client, "bulk").await;
        creates(&server, "bulk", 64, scaled(100_000).saturating_sub(if quick() { so_far / 50 } else { so_far }), &payload).await;
        // Count through /metrics: a list would itself allocate per object.
        let (_, _) = timed_get(&client, "/version", "application/json").await;
        let metrics = {
            let req = Request::get("/metrics").body(kube::client::Body::from(Vec::new())).unwrap();
            let body = client.send(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
            String::from_utf8_lossy(&body).to_string()
        };
        let total_objects: usize = metrics.lines().find(|l| l.starts_with("trellis_storage_objects ")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0);
        // ConfigMaps are all objects but the namespaces.
        let namespaces = 3 + 6;
        let all = total_objects - namespaces;
        // Let the background checkpoint and memory return settle: steady
        // state, not mid-burst.
        tokio::time::sleep(Duration::from_secs(12)).await;
        println!("RSS of the server with {all} ConfigMaps stored (12 s after the last create, before the LIST runs): {:.0} MiB.\n", rss_mib(server.pid()));


        println!("### LIST\n");
        println!("| objects | format | median latency | response size |\n|---:|---|---:|---:|");
        for (path, n) in [("/api/v1/namespaces/list10k/configmaps", ten_k), ("/api/v1/configmaps", all)] {
            for (label, accept) in [("JSON", "application/json"), ("Table", TABLE)] {
                let (d, size) = median_get(&client, path, accept).await;
                println!("| {n} | {label} | {:.0} ms | {:.1} MiB |", d.as_secs_f64() * 1e3, size as f64 / (1 << 20) as f64);
            }
        }
        println!();
        let (_, stored) = timed_get(&client, "/api/v1/configmaps", "application/json").await;
        let _ = hundred_k;
        println!("Stored objects: {all} ConfigMaps, {:.0} MiB as served JSON.\n", stored as f64 / (1 << 20) as f64);
    });

    let pid = server.pid();
    let rss = rss_mib(pid);
    println!("### Memory and cold start\n");
    println!("RSS of the server after the LIST runs: {rss:.0} MiB.\n");
    let stop = Instant::now();
    server.stop();
    let stopped = stop.elapsed();
    let start = Instant::now();
    server.restart_stopped();
    let ready = start.elapsed();
    println!(
        "Cold start with them (process start until serving, which follows storage recovery): {ready:?}; clean shutdown took {stopped:?}.\n"
    );
    println!(
        "RSS right after the cold start: {:.0} MiB.\n",
        rss_mib(server.pid())
    );

    rt.block_on(async {
        let watchers: usize = if quick() { 50 } else { 1_000 };
        let writes = if quick() { 50 } else { 500 };
        let rate = 50u64;
        let client = server.client().await;
        ensure_ns(&client, "fanout").await;
        let epoch = Instant::now();
        let mut handles = Vec::new();
        for w in 0..watchers {
            let c = if w % 50 == 0 { server.client().await } else { client.clone() };
            let client = c;
            handles.push(tokio::spawn(async move {
                let req = Request::get("/api/v1/namespaces/fanout/configmaps?watch=true&resourceVersion=0").body(kube::client::Body::from(Vec::new())).unwrap();
                let resp = client.send(req).await.expect("watch");
                let mut body = resp.into_body().into_data_stream();
                let mut buf = Vec::new();
                let mut lat = Vec::with_capacity(writes);
                while lat.len() < writes {
                    let Ok(Some(Ok(chunk))) = tokio::time::timeout(Duration::from_secs(60), body.next()).await else { break };
                    buf.extend_from_slice(&chunk);
                    while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=i).collect();
                        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
                        if let Some(sent) = v.pointer("/object/data/sent").and_then(|s| s.as_str()).and_then(|s| s.parse::<u64>().ok()) {
                            lat.push((epoch.elapsed().as_micros() as u64).saturating_sub(sent));
                        }
                    }
                }
                lat
            }));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let api = Api::<ConfigMap>::namespaced(client.clone(), "fanout");
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
        let mut creates = Vec::new();
        for i in 0..writes {
            tick.tick().await;
            let api = api.clone();
            let sent = epoch.elapsed().as_micros() as u64;
            creates.push(tokio::spawn(async move {
                let mut c = cm(&format!("f{i:05}"), "x");
                c.data.as_mut().unwrap().insert("sent".into(), sent.to_string());
                api.create(&PostParams::default(), &c).await.expect("create");
            }));
        }
        for c in creates {
            c.await.unwrap();
        }
        let mut all = Vec::new();
        let mut complete = 0;
        for h in handles {
            let l = h.await.unwrap();
            if l.len() == writes {
                complete += 1;
            }
            all.extend(l);
        }
        all.sort_unstable();
        println!("### Watch fan-out over HTTPS\n");
        println!("{watchers} watchers on one namespace (each its own streaming request), {writes} creates at {rate}/s; latency from issuing the create to each watcher decoding the event.\n");
        println!("| deliveries | watchers complete | p50 | p99 | max |\n|---:|---:|---:|---:|---:|");
        println!(
            "| {} of {} | {complete} of {watchers} | {:.1} ms | {:.1} ms | {:.1} ms |",
            all.len(),
            watchers * writes,
            percentile(&all, 0.5) as f64 / 1e3,
            percentile(&all, 0.99) as f64 / 1e3,
            all.last().copied().unwrap_or(0) as f64 / 1e3
        );
    });
    server.stop();
}
