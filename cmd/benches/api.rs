//! API server benchmark over HTTPS against the real binary:
//! `cargo bench -p trellis --bench api`. `cargo test` (no `--bench`) or
//! `BENCH_QUICK=1` runs a quick smoke version (a fiftieth of the objects,
//! 50 watchers, no pause before reading RSS).
//!
//! Measures durable creates/s at 1/16/64 concurrent clients, LIST of 10k and
//! 100k ConfigMaps (1 KiB) as JSON and as Table, the Table list in pages of
//! 500 rows (as kubectl fetches it), RSS with 100k objects, cold start with
//! them (process start to the first 200 of `/readyz`), and watch fan-out
//! latency with many watchers. Client and server share the machine, so
//! client CPU is included. Every create, list and watch is checked: the
//! lists must hold exactly the ConfigMaps created, every watcher must see
//! every event.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::Request;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use common::Server;
use common::bench::{self, cm, create_ns, percentile, quick};

fn scaled(n: usize) -> usize {
    if quick() { (n / 50).max(64) } else { n }
}

/// Creates `total / clients * clients` ConfigMaps in `ns` from `clients`
/// concurrent tasks, each with its own connection pool; returns (creates,
/// creates/s).
async fn creates(
    server: &Server,
    ns: &str,
    clients: usize,
    total: usize,
    payload: &Arc<String>,
) -> (usize, f64) {
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
    (
        per * clients,
        (per * clients) as f64 / start.elapsed().as_secs_f64(),
    )
}

/// GET `path` to the last byte, checked 200: (time, body).
async fn timed_get(client: &kube::Client, path: &str, accept: &str) -> (Duration, bytes::Bytes) {
    let start = Instant::now();
    let (code, body) = bench::get(client, path, accept).await;
    let took = start.elapsed();
    assert_eq!(
        code,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
    (took, body)
}

/// Items of a JSON list (`items`) or rows of a Table (`rows`), and its
/// continue token; decoded without building the objects.
fn count(body: &[u8]) -> (usize, String) {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(default, rename = "continue")]
        cont: String,
    }
    #[derive(serde::Deserialize)]
    struct Counted {
        #[serde(default)]
        items: Vec<serde::de::IgnoredAny>,
        #[serde(default)]
        rows: Vec<serde::de::IgnoredAny>,
        metadata: Meta,
    }
    let c: Counted = serde_json::from_slice(body).expect("a list");
    (c.items.len() + c.rows.len(), c.metadata.cont)
}

/// Median of 5 GETs of a list, each checked to hold `expect` entries;
/// (median time, response size).
async fn median_list(
    client: &kube::Client,
    path: &str,
    accept: &str,
    expect: usize,
) -> (Duration, usize) {
    let mut runs = Vec::new();
    for _ in 0..5 {
        let (took, body) = timed_get(client, path, accept).await;
        assert_eq!(count(&body).0, expect, "{path} as {accept}");
        runs.push((took, body.len()));
    }
    runs.sort();
    runs[2]
}

fn rss_mib(pid: u32) -> f64 {
    bench::rss_kib(pid) / 1024.0
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
    println!("## API server (`cargo bench -p trellis --bench api`)\n");
    println!(
        "Machine: {}. Client and server run on the same machine.\n",
        bench::machine()
    );

    let all = rt.block_on(async {
        let client = server.client().await;
        // Every ConfigMap this bench creates; the server has none of its own.
        let mut created = 0;
        println!("### Durable creates/s over HTTPS (ConfigMaps with a 1 KiB value)\n");
        println!("| clients | creates | creates/s |\n|---:|---:|---:|");
        for (clients, total) in [(1, scaled(2_000)), (16, scaled(16_000)), (64, scaled(32_000))] {
            let ns = format!("create-{clients}");
            create_ns(&client, &ns).await;
            let (n, rate) = creates(&server, &ns, clients, total, &payload).await;
            created += n;
            println!("| {clients} | {n} | {rate:.0} |");
        }
        println!();

        // 10k in one namespace, then fill to 100k across the server.
        create_ns(&client, "list10k").await;
        let (ten_k, _) = creates(&server, "list10k", 64, scaled(10_000), &payload).await;
        created += ten_k;
        create_ns(&client, "bulk").await;
        let (bulk, _) = creates(&server, "bulk", 64, scaled(100_000).saturating_sub(created), &payload).await;
        created += bulk;
        let objects = bench::storage_objects(&bench::base_client(&server).await).await;
        // Let the background checkpoint and memory return settle: steady
        // state, not mid-burst.
        if !quick() {
            tokio::time::sleep(Duration::from_secs(12)).await;
        }
        println!(
            "RSS of the server with {created} ConfigMaps stored ({objects} objects of every kind; {}before the LIST runs): {:.0} MiB.\n",
            if quick() { "" } else { "12 s after the last create, " },
            rss_mib(server.pid())
        );

        println!("### LIST\n");
        println!("| objects | format | median latency | response size |\n|---:|---|---:|---:|");
        let mut served = 0;
        for (path, n) in [("/api/v1/namespaces/list10k/configmaps", ten_k), ("/api/v1/configmaps", created)] {
            for (label, accept) in [("JSON", "application/json"), ("Table", TABLE)] {
                let (d, size) = median_list(&client, path, accept, n).await;
                if n == created && label == "JSON" {
                    served = size;
                }
                println!("| {n} | {label} | {:.0} ms | {:.1} MiB |", d.as_secs_f64() * 1e3, size as f64 / (1 << 20) as f64);
            }
        }
        println!();
        println!("Stored: {created} ConfigMaps, {:.0} MiB as served JSON.\n", served as f64 / (1 << 20) as f64);

        // The Table as kubectl fetches it: pages of 500 rows.
        let mut pages = Vec::new();
        let mut rows = 0;
        let mut cont = String::new();
        loop {
            let path = format!("/api/v1/configmaps?limit=500&continue={}", bench::query_escape(&cont));
            let (took, body) = timed_get(&client, &path, TABLE).await;
            let (n, next) = count(&body);
            assert!(n <= 500, "{n} rows in a page");
            pages.push(took.as_micros() as u64);
            rows += n;
            if next.is_empty() {
                break;
            }
            cont = next;
        }
        assert_eq!(rows, created, "rows over all pages");
        let total_ms = pages.iter().sum::<u64>() as f64 / 1e3;
        pages.sort_unstable();
        println!("Table in pages of 500 rows (`limit=500`, following `continue`): {} pages, {rows} rows, {total_ms:.0} ms in all; per page p50 {:.1} ms, p99 {:.1} ms.\n",
            pages.len(),
            percentile(&pages, 0.5) as f64 / 1e3,
            percentile(&pages, 0.99) as f64 / 1e3,
        );
        created
    });

    let pid = server.pid();
    let rss = rss_mib(pid);
    println!("### Memory and cold start\n");
    println!("RSS of the server after the LIST runs: {rss:.0} MiB.\n");
    let stopped = bench::stop(&mut server);
    let ready = bench::cold_start(&mut server, &rt);
    println!(
        "Cold start with them (process start until the first 200 from `/readyz`): {:.0} ms; clean shutdown took {:.0} ms.\n",
        ready.as_secs_f64() * 1e3,
        stopped.as_secs_f64() * 1e3
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
        // Nothing was lost across the restart.
        let (_, body) = timed_get(&client, "/api/v1/configmaps", "application/json").await;
        assert_eq!(count(&body).0, all, "ConfigMaps after the restart");
        drop(body);
        create_ns(&client, "fanout").await;
        let epoch = Instant::now();
        let opened = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for w in 0..watchers {
            let c = if w % 50 == 0 { server.client().await } else { client.clone() };
            let client = c;
            let opened = opened.clone();
            handles.push(tokio::spawn(async move {
                let req = Request::get("/api/v1/namespaces/fanout/configmaps?watch=true&resourceVersion=0").body(kube::client::Body::from(Vec::new())).unwrap();
                let resp = client.send(req).await.expect("watch");
                assert_eq!(resp.status(), 200, "watch");
                opened.fetch_add(1, Ordering::SeqCst);
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
        // Every watch is open (its response has started) before the first
        // create.
        let deadline = Instant::now() + Duration::from_secs(120);
        while opened.load(Ordering::SeqCst) < watchers {
            assert!(Instant::now() < deadline, "{} of {watchers} watches opened", opened.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
        println!("{watchers} watchers on one namespace (each its own streaming request, all open before the first create), {writes} creates at {rate}/s; latency from issuing the create to each watcher decoding the event.\n");
        println!("| deliveries | watchers complete | p50 | p99 | max |\n|---:|---:|---:|---:|---:|");
        println!(
            "| {} of {} | {complete} of {watchers} | {:.1} ms | {:.1} ms | {:.1} ms |",
            all.len(),
            watchers * writes,
            percentile(&all, 0.5) as f64 / 1e3,
            percentile(&all, 0.99) as f64 / 1e3,
            all.last().copied().unwrap_or(0) as f64 / 1e3
        );
        assert_eq!(all.len(), watchers * writes, "every watcher saw every create");
    });
    bench::stop(&mut server);
}
