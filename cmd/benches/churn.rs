//! Churn soak against the real binary: `cargo bench -p trellis --bench
//! churn` (`BENCH_CHURN_SECS`, default 300, sets the length;
//! `BENCH_CHURN_ARGS` passes extra `trellis serve` flags, e.g.
//! `--watch-history-memory-mib 512` for the old all-in-memory history).
//! `cargo test` (no `--bench`) or `BENCH_QUICK=1` runs a 5 s smoke version.
//!
//! 16 clients create ConfigMaps with a 1 KiB value and delete each one
//! right after creating the next, so few objects are live while every
//! write lands in the watch history. The server's RSS is sampled every
//! 15 s (every second in the quick run), with the resourceVersion of the
//! moment. At the end a watch resumes from the oldest sample whose history
//! is still retained (from disk once the in-memory ring has moved on) and
//! must get 1,000 events from it; the report says how far back that was.
//! (The window is ten minutes, capped at 1M events and 512 MiB of log: a
//! churn as fast as this one reaches the caps well before ten minutes.)
//! The quick run requires the first sample to be reachable.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams, WatchEvent, WatchParams};

use common::Server;
use common::bench;

const CLIENTS: usize = 16;

fn cm(name: &str, payload: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("v".to_string(), payload.to_string())].into()),
        ..Default::default()
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let secs: u64 = if bench::quick() {
        5
    } else {
        std::env::var("BENCH_CHURN_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300)
    };
    let every = if bench::quick() { 1 } else { 15 };
    let extra = std::env::var("BENCH_CHURN_ARGS").unwrap_or_default();
    let args: Vec<&str> = extra.split_whitespace().collect();
    let server = Server::start_with("bench_churn", &args);
    println!("## Churn soak (`cargo bench -p trellis --bench churn`)\n");
    println!(
        "Machine: {}. {CLIENTS} clients create and delete 1 KiB ConfigMaps for {secs} s; extra flags: `{extra}`.\n",
        bench::machine()
    );
    rt.block_on(async {
        let client = server.client().await;
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &Namespace {
                    metadata: ObjectMeta {
                        name: Some("churn".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .expect("create namespace");
        let payload = Arc::new("x".repeat(1024));
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let api = Api::<ConfigMap>::namespaced(server.client().await, "churn");
            let (stop, writes, payload) = (stop.clone(), writes.clone(), payload.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    api.create(&PostParams::default(), &cm(&format!("c{c:02}-{i:09}"), &payload))
                        .await
                        .expect("create");
                    if i > 0 {
                        api.delete(&format!("c{c:02}-{:09}", i - 1), &DeleteParams::default())
                            .await
                            .expect("delete");
                    }
                    writes.fetch_add(2, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
        println!("| elapsed | writes | writes/s (last interval) | RSS |\n|---:|---:|---:|---:|");
        let api = Api::<ConfigMap>::namespaced(client.clone(), "churn");
        let start = Instant::now();
        let mut rvs: Vec<(Instant, String)> = Vec::new();
        let mut last = (Instant::now(), 0u64);
        let mut samples = Vec::new();
        while start.elapsed() < Duration::from_secs(secs) {
            tokio::time::sleep(Duration::from_secs(every)).await;
            let n = writes.load(Ordering::Relaxed);
            let rate = (n - last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (Instant::now(), n);
            let rss = bench::rss_kib(server.pid()) / 1024.0;
            samples.push(rss);
            println!(
                "| {:.0} s | {n} | {rate:.0} | {rss:.0} MiB |",
                start.elapsed().as_secs_f64()
            );
            let list = api.list(&Default::default()).await.expect("list");
            rvs.push((Instant::now(), list.metadata.resource_version.expect("a resourceVersion")));
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        let ended = Instant::now();
        let mut resumed = None;
        for (i, (at, rv)) in rvs.iter().enumerate() {
            let mut w = api
                .watch(&WatchParams::default(), rv)
                .await
                .expect("watch")
                .boxed();
            let mut seen = 0;
            let mut expired = false;
            while seen < 1000 && !expired {
                match tokio::time::timeout(Duration::from_secs(30), w.next())
                    .await
                    .expect("watch events within 30 s")
                    .expect("watch open")
                    .expect("watch event")
                {
                    WatchEvent::Added(_) | WatchEvent::Deleted(_) | WatchEvent::Modified(_) => {
                        seen += 1
                    }
                    WatchEvent::Bookmark(_) => {}
                    WatchEvent::Error(e) if e.code == 410 && !bench::quick() => expired = true,
                    WatchEvent::Error(e) => panic!("watch from resourceVersion {rv}: {e:?}"),
                }
            }
            if !expired {
                resumed = Some((i, rv.clone(), ended.duration_since(*at)));
                break;
            }
        }
        let (i, rv, back) = resumed.expect("some sample's history is retained");
        let min = samples.iter().cloned().fold(f64::MAX, f64::min);
        let max = samples.iter().cloned().fold(0.0, f64::max);
        println!(
            "\nRSS min {min:.0} MiB, max {max:.0} MiB, last {:.0} MiB. The oldest sample a watch could resume from: #{} (resourceVersion {rv}, {:.0} s before the end); it got 1000 events.\n",
            samples.last().unwrap(),
            i + 1,
            back.as_secs_f64()
        );
    });
}
