//! What the benchmarks that start the real binary (`cmd/benches/*.rs`)
//! share: whether to run the quick smoke variant, the machine, the
//! server's RSS and object count, GETs with checked answers, and cold start
//! timed to the first 200 of `/readyz`.

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;

use super::Server;

/// A quick smoke run: `BENCH_QUICK` is set, or the binary was not started
/// by `cargo bench` (which passes `--bench`), e.g. by `cargo test`.
pub fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some() || !std::env::args().any(|a| a == "--bench")
}

/// "<cores> cores, <CPU model>".
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    format!(
        "{} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}

/// VmRSS of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("VmRSS")
}

/// Bytes process `pid` has caused to be written to storage so far
/// (`write_bytes` of `/proc/<pid>/io`: counted when the pages are
/// dirtied, all threads included).
pub fn write_bytes(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("/proc/<pid>/io");
    s.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes")
}

/// CPU time process `pid` has used so far, user and system, all threads
/// (`utime` + `stime` of `/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The command name (field 2) may hold spaces; count from its ')'.
    let rest = &s[s.rfind(')').expect("stat") + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 of the file; `rest` starts at field 3.
    let ticks = f[11] + f[12];
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`).
fn clock_ticks() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf CLK_TCK");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("CLK_TCK")
    })
}

/// The `p` quantile of `sorted`.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `s` percent-encoded for a query parameter (a continue token).
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A kube-rs client for the server itself (no `/clusters/root` prefix):
/// for `/readyz`, `/metrics` and paths that name their cluster.
pub async fn base_client(server: &Server) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    let base = server.url.split("/clusters/").next().unwrap().to_string();
    cfg.cluster_url = base.parse().expect("URL");
    kube::Client::try_from(cfg).expect("client")
}

/// GET `path` to the last byte: (status, body).
pub async fn get(client: &kube::Client, path: &str, accept: &str) -> (u16, bytes::Bytes) {
    let req = Request::get(path)
        .header("accept", accept)
        .body(kube::client::Body::from(Vec::new()))
        .unwrap();
    let resp = client.send(req).await.expect("send");
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (code, body)
}

/// The server's stored objects of every kind (`trellis_storage_objects`
/// of `/metrics`).
pub async fn storage_objects(client: &kube::Client) -> u64 {
    let (code, body) = get(client, "/metrics", "text/plain").await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(code, 200, "/metrics: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix("trellis_storage_objects "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("trellis_storage_objects in /metrics") as u64
}

/// Stops the server, checking that it exits cleanly; returns how long
/// that took.
pub fn stop(server: &mut Server) -> Duration {
    let start = Instant::now();
    let status = server.stop();
    assert!(status.success(), "clean shutdown, got {status}");
    start.elapsed()
}

/// Starts a stopped server again (same data and port) and returns the time
/// from starting the process to the first 200 answer of `/readyz`.
/// Polling starts once the process has printed its URL, which it does only
/// after recovering storage, right before it begins to serve, so no
/// earlier 200 is missed.
pub fn cold_start(server: &mut Server, rt: &tokio::runtime::Runtime) -> Duration {
    let start = Instant::now();
    server.restart_stopped();
    rt.block_on(async {
        let client = base_client(server).await;
        let deadline = start + Duration::from_secs(600);
        loop {
            let req = Request::get("/readyz")
                .body(kube::client::Body::from(Vec::new()))
                .unwrap();
            if let Ok(resp) = client.send(req).await
                && resp.status() == 200
            {
                return start.elapsed();
            }
            assert!(Instant::now() < deadline, "/readyz never answered 200");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}

/// A ConfigMap `name` whose data key `payload` holds `payload`.
pub fn cm(name: &str, payload: &str) -> k8s_openapi::api::core::v1::ConfigMap {
    k8s_openapi::api::core::v1::ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("payload".to_string(), payload.to_string())].into()),
        ..Default::default()
    }
}

/// Creates namespace `ns` (panics on failure).
pub async fn create_ns(client: &kube::Client, ns: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let api: kube::Api<Namespace> = kube::Api::all(client.clone());
    let n = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(ns.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&kube::api::PostParams::default(), &n)
        .await
        .unwrap_or_else(|e| panic!("create namespace {ns}: {e}"));
}
