//! Trellis beside etcd 3.4 on the same machine, in one run:
//! `cargo bench -p trellis --bench etcd_baseline`. `cargo test` (no
//! `--bench`) or `BENCH_QUICK=1` runs a quick smoke version (tiny counts,
//! no settling pauses, no million-object step) that checks the same
//! things. `BENCH_MILLION=0` leaves out the million-object step of the full
//! run.
//!
//! Both servers run with their default durability: etcd `fdatasync`s its
//! WAL before acknowledging a commit; Trellis `fdatasync`s its log once per
//! commit group before acknowledging any write in it (no
//! `--unsafe-no-fsync` exists in either). The bench shows it by counting
//! both servers' sync calls under `strace` during a short load.
//!
//! What is measured, each server driven by its own client protocol from
//! this process (so client CPU competes with the servers' on a small
//! machine):
//!
//! * durable creates/s at 1/16/64/256 concurrent clients, 3 repetitions
//!   each, and each request's latency (p50/p99): ConfigMaps with a 1 KiB
//!   value over HTTPS (kube-rs) for Trellis, and for etcd a `Put` over its
//!   native gRPC API (`etcd-client`, plain HTTP/2) of the key Kubernetes
//!   would use with a value as long as the JSON Trellis returned for such
//!   a ConfigMap. Each client has its own connection, opened and used once
//!   before the clock starts. Repetitions interleave the two servers.
//! * bytes written to storage per create (`write_bytes` of
//!   `/proc/<pid>/io`) and server CPU per create (`utime`+`stime` of
//!   `/proc/<pid>/stat`), from the start of a load until the server's
//!   writes have settled (no write for a few seconds), so background
//!   checkpointing and compaction caused by the load count.
//! * RSS with 100k (and 1M) objects stored, on fresh servers, after the
//!   writes settled; cold start with them: process start until the first
//!   successful read of a stored object, 3 times.
//!
//! A plain `Put` is the cheapest write etcd has; kube-apiserver's create is
//! a transaction (create if absent), and talks to etcd over TLS. Both
//! simplifications favour etcd.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use tokio::runtime::Runtime;

use common::Server;
use common::bench::{self, cm, create_ns, percentile, quick};
use common::etcd::{self, Etcd};

const CLIENTS: [usize; 4] = [1, 16, 64, 256];
const REPS: usize = 3;
/// Concurrent clients that fill the stores for the memory and cold-start
/// steps.
const FILL_CLIENTS: usize = 64;
/// etcd's default backend quota is 2 GiB, too small for a million 1.4 KB
/// values in bbolt; raising it changes no durability setting.
const ETCD_QUOTA: &str = "--quota-backend-bytes=8589934592";

/// Creates per measurement at `clients` concurrent clients.
fn creates_at(clients: usize) -> usize {
    if quick() {
        clients * 2
    } else {
        match clients {
            1 => 2_000,
            16 => 16_000,
            _ => 32_000,
        }
    }
}

/// How long a server's storage writes must pause before a measurement
/// ends (longer than Trellis's 2 s checkpoint interval).
fn quiet() -> Duration {
    if quick() {
        Duration::ZERO
    } else {
        Duration::from_secs(3)
    }
}

/// Either server, with what the load needs to reach it.
enum Target<'a> {
    Etcd(&'a Etcd, Arc<Vec<u8>>),
    Trellis(&'a Server, Arc<String>),
}

/// Clients connected to one server, each on its own connection, each used
/// once already (so connection set-up is not timed).
enum Clients {
    Etcd(Vec<etcd_client::KvClient>, Arc<Vec<u8>>),
    Trellis(Vec<Api<ConfigMap>>, Arc<String>),
}

impl Target<'_> {
    fn pid(&self) -> u32 {
        match self {
            Target::Etcd(e, _) => e.pid(),
            Target::Trellis(s, _) => s.pid(),
        }
    }

    /// `n` clients for the objects of `group` (a namespace, created here
    /// for Trellis; a key prefix for etcd).
    async fn clients(&self, group: &str, n: usize) -> Clients {
        match self {
            Target::Etcd(e, value) => {
                let mut kvs = Vec::new();
                for _ in 0..n {
                    let mut kv = e.client().await.kv_client();
                    kv.get("/warm-up", None).await.expect("etcd warm-up read");
                    kvs.push(kv);
                }
                Clients::Etcd(kvs, value.clone())
            }
            Target::Trellis(s, payload) => {
                create_ns(&s.client().await, group).await;
                let mut apis = Vec::new();
                for _ in 0..n {
                    let api = Api::<ConfigMap>::namespaced(s.client().await, group);
                    api.list(&kube::api::ListParams::default().limit(1))
                        .await
                        .expect("Trellis warm-up read");
                    apis.push(api);
                }
                Clients::Trellis(apis, payload.clone())
            }
        }
    }
}

/// etcd key of object `name` in `group`, as Kubernetes names a ConfigMap.
fn etcd_key(group: &str, name: &str) -> String {
    format!("/registry/configmaps/{group}/{name}")
}

/// Creates objects `first..first+count` of `group` ("o0000042"), each
/// client taking the next index until all are done; returns the elapsed
/// time and each create's latency in µs, sorted. Every create must succeed.
async fn load(clients: Clients, group: &str, first: usize, count: usize) -> (Duration, Vec<u64>) {
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + count;
    let start = Instant::now();
    let mut tasks = Vec::new();
    match clients {
        Clients::Etcd(kvs, value) => {
            for mut kv in kvs {
                let (next, value, group) = (next.clone(), value.clone(), group.to_string());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end {
                            return lat;
                        }
                        let t = Instant::now();
                        kv.put(etcd_key(&group, &format!("o{i:07}")), value.to_vec(), None)
                            .await
                            .unwrap_or_else(|e| panic!("etcd put {i}: {e}"));
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                }));
            }
        }
        Clients::Trellis(apis, payload) => {
            for api in apis {
                let (next, payload) = (next.clone(), payload.clone());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end {
                            return lat;
                        }
                        let t = Instant::now();
                        api.create(&PostParams::default(), &cm(&format!("o{i:07}"), &payload))
                            .await
                            .unwrap_or_else(|e| panic!("Trellis create {i}: {e}"));
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                }));
            }
        }
    }
    let mut lat = Vec::with_capacity(count);
    for t in tasks {
        lat.extend(t.await.expect("client task"));
    }
    let took = start.elapsed();
    assert_eq!(lat.len(), count, "every create answered");
    lat.sort_unstable();
    (took, lat)
}

/// Waits until process `pid` has written nothing for `quiet` (at most 60 s).
fn settle(pid: u32, quiet: Duration) {
    if quiet.is_zero() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = bench::write_bytes(pid);
    let mut since = Instant::now();
    while since.elapsed() < quiet && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = bench::write_bytes(pid);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

/// One measured load.
struct Run {
    creates_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    bytes_per_create: f64,
    cpu_us_per_create: f64,
}

/// Creates `count` objects in `group` from `clients` clients and measures
/// it (see the module doc).
fn measure(rt: &Runtime, target: &Target, group: &str, clients: usize, count: usize) -> Run {
    let pid = target.pid();
    let conns = rt.block_on(target.clients(group, clients));
    let (io0, cpu0) = (bench::write_bytes(pid), bench::cpu_time(pid));
    let (took, lat) = rt.block_on(load(conns, group, 0, count));
    settle(pid, quiet());
    let (io1, cpu1) = (bench::write_bytes(pid), bench::cpu_time(pid));
    Run {
        creates_per_s: count as f64 / took.as_secs_f64(),
        p50_ms: percentile(&lat, 0.5) as f64 / 1e3,
        p99_ms: percentile(&lat, 0.99) as f64 / 1e3,
        bytes_per_create: (io1 - io0) as f64 / count as f64,
        cpu_us_per_create: (cpu1 - cpu0).as_secs_f64() * 1e6 / count as f64,
    }
}

/// Objects stored in `group`: etcd keys under its prefix, Trellis
/// ConfigMaps in its namespace (a metadata-only list).
async fn stored(target: &Target<'_>, group: &str) -> usize {
    match target {
        Target::Etcd(e, _) => {
            let opts = etcd_client::GetOptions::new()
                .with_prefix()
                .with_count_only();
            let r = e
                .client()
                .await
                .get(etcd_key(group, ""), Some(opts))
                .await
                .expect("etcd count");
            r.count() as usize
        }
        Target::Trellis(s, _) => {
            // In pages: a million objects' metadata at once is too much.
            let api = Api::<ConfigMap>::namespaced(s.client().await, group);
            let mut n = 0;
            let mut params = kube::api::ListParams::default().limit(10_000);
            loop {
                let page = api.list_metadata(&params).await.expect("Trellis list");
                n += page.items.len();
                match page.metadata.continue_ {
                    Some(c) if !c.is_empty() => params = params.continue_token(&c),
                    _ => return n,
                }
            }
        }
    }
}

/// Process start until the first successful read of object `o0000000` of
/// `group`, after a clean stop; the read value is checked.
fn cold_start(rt: &Runtime, target: &mut Target2, group: &str) -> Duration {
    match target {
        Target2::Etcd(e, value) => {
            e.stop();
            let start = Instant::now();
            e.restart_stopped();
            let got = rt.block_on(
                e.read_when_ready(&etcd_key(group, "o0000000"), Duration::from_secs(600)),
            );
            let took = start.elapsed();
            assert_eq!(&got, &**value, "etcd value after restart");
            took
        }
        Target2::Trellis(s, payload) => {
            // The client is built before the clock starts, as etcd's
            // connection options are.
            let api = Api::<ConfigMap>::namespaced(rt.block_on(s.client()), group);
            bench::stop(s);
            let start = Instant::now();
            s.restart_stopped();
            let got = rt.block_on(async {
                let deadline = start + Duration::from_secs(600);
                loop {
                    if let Ok(c) = api.get("o0000000").await {
                        return c;
                    }
                    assert!(Instant::now() < deadline, "no successful read");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            let took = start.elapsed();
            assert_eq!(
                got.data.as_ref().and_then(|d| d.get("payload")),
                Some(&**payload),
                "ConfigMap after restart"
            );
            took
        }
    }
}

/// An owned server, for the steps that stop and restart it.
enum Target2 {
    Etcd(Etcd, Arc<Vec<u8>>),
    Trellis(Server, Arc<String>),
}

impl Target2 {
    fn target(&self) -> Target<'_> {
        match self {
            Target2::Etcd(e, v) => Target::Etcd(e, v.clone()),
            Target2::Trellis(s, p) => Target::Trellis(s, p.clone()),
        }
    }
}

/// Counts the sync system calls of `pid` (all threads) under `strace -c`
/// while `work` runs.
fn syncs_during(pid: u32, work: impl FnOnce()) -> BTreeMap<String, u64> {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let mut st = Command::new("strace")
        .args([
            "-f",
            "-c",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,sync,msync",
            "-o",
        ])
        .arg(out.path())
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace (tests/run.sh installs it)");
    // strace says "Process N attached" once it traces the process.
    let mut err = BufReader::new(st.stderr.take().expect("stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).expect("strace stderr") > 0,
            "strace ended before attaching"
        );
        if line.contains("attached") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    work();
    let _ = Command::new("kill")
        .args(["-INT", &st.id().to_string()])
        .status();
    st.wait().expect("strace");
    let summary = std::fs::read_to_string(out.path()).expect("strace summary");
    let mut calls = BTreeMap::new();
    for l in summary.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5
            && let (Ok(n), Some(name)) = (f[3].parse::<u64>(), f.last())
            && *name != "total"
        {
            calls.insert(name.to_string(), n);
        }
    }
    calls
}

/// `min / median / max` of three or more figures, and the median.
fn spread(v: &[f64], digits: usize) -> (String, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let med = s[s.len() / 2];
    (
        format!(
            "{:.d$} / {:.d$} / {:.d$}",
            s[0],
            med,
            s[s.len() - 1],
            d = digits
        ),
        med,
    )
}

/// One table row: etcd's and Trellis's min/median/max, Trellis's median
/// over etcd's.
fn row(out: &mut Vec<String>, what: &str, e: &[f64], t: &[f64], digits: usize) {
    let (es, em) = spread(e, digits);
    let (ts, tm) = spread(t, digits);
    out.push(format!("| {what} | {es} | {ts} | {:.2}× |", tm / em));
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// Free bytes on the temp dir's filesystem.
fn free_disk() -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(std::env::temp_dir())
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df avail")
}

/// What [`fill`] measured on one server.
struct Objects {
    rss_mib: f64,
    rss_after_start_mib: f64,
    disk_mib: f64,
    cold_starts_ms: Vec<f64>,
}

/// Bytes under `dir` (`du -sb`).
fn disk_usage(dir: &std::path::Path) -> u64 {
    let out = Command::new("du").arg("-sb").arg(dir).output().expect("du");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("du -sb")
}

/// Fills server `k` with objects `from..upto` of group `bulk` from
/// [`FILL_CLIENTS`] clients, checks they are all stored, waits for its
/// writes to settle, and measures RSS, disk use and cold start (3 times).
fn fill(
    rt: &Runtime,
    server: &mut Target2,
    k: usize,
    from: usize,
    upto: usize,
    notes: &mut Vec<String>,
) -> Objects {
    let target = server.target();
    let pid = target.pid();
    let t = Instant::now();
    let conns = rt.block_on(async {
        match (&target, from) {
            // The namespace exists after the first fill.
            (Target::Trellis(s, p), f) if f > 0 => {
                let mut apis = Vec::new();
                for _ in 0..FILL_CLIENTS {
                    apis.push(Api::<ConfigMap>::namespaced(s.client().await, "bulk"));
                }
                Clients::Trellis(apis, p.clone())
            }
            _ => target.clients("bulk", FILL_CLIENTS).await,
        }
    });
    let (took, _) = rt.block_on(load(conns, "bulk", from, upto - from));
    let n = rt.block_on(stored(&target, "bulk"));
    assert_eq!(n, upto, "{}: objects stored", name(k));
    settle(pid, quiet());
    if !quick() {
        // Steady state, not mid-burst (background memory return).
        std::thread::sleep(Duration::from_secs(10));
    }
    let rss_mib = mib(bench::rss_kib(pid));
    let dir = match server {
        Target2::Etcd(e, _) => e.data_dir.clone(),
        Target2::Trellis(s, _) => s.data_dir.clone(),
    };
    let disk_mib = disk_usage(&dir) as f64 / (1 << 20) as f64;
    notes.push(format!(
        "{}: filled {from} → {upto} objects from {FILL_CLIENTS} clients in {:.1} s ({:.0}/s); {:.0} s more to settle",
        name(k),
        took.as_secs_f64(),
        (upto - from) as f64 / took.as_secs_f64(),
        t.elapsed().as_secs_f64() - took.as_secs_f64()
    ));
    let mut cold_starts_ms = Vec::new();
    let mut rss_after_start_mib = 0.0;
    for rep in 0..REPS {
        let d = cold_start(rt, server, "bulk");
        cold_starts_ms.push(d.as_secs_f64() * 1e3);
        if rep == 0 {
            rss_after_start_mib = mib(bench::rss_kib(server.target().pid()));
        }
    }
    Objects {
        rss_mib,
        rss_after_start_mib,
        disk_mib,
        cold_starts_ms,
    }
}

/// The table rows of one object count: etcd's figures, then Trellis's.
fn objects_rows(table: &mut Vec<String>, upto: usize, e: &Objects, t: &Objects) {
    let label = if upto >= 1_000_000 {
        format!("{}M", upto / 1_000_000)
    } else {
        format!("{}k", upto / 1000)
    };
    for (what, ev, tv) in [
        ("RSS, MiB (after the writes settled)", e.rss_mib, t.rss_mib),
        (
            "RSS right after a cold start, MiB",
            e.rss_after_start_mib,
            t.rss_after_start_mib,
        ),
        ("data directory, MiB", e.disk_mib, t.disk_mib),
    ] {
        table.push(format!(
            "| {what}, {label} objects | {ev:.0} | {tv:.0} | {:.2}× |",
            tv / ev
        ));
    }
    row(
        table,
        &format!("cold start, {label} objects, ms (to the first read)"),
        &e.cold_starts_ms,
        &t.cold_starts_ms,
        0,
    );
}

/// "1 client", "16 clients".
fn clients_label(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

fn name(k: usize) -> &'static str {
    ["etcd", "Trellis"][k]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let version = etcd::version();
    // Trellis's default log level (its access lines are debug level),
    // not the harness's, which tests read.
    let env = [("RUST_LOG", "info")];
    let payload = Arc::new("x".repeat(1024));

    // The etcd value: as long as the JSON Trellis returns for one of the
    // ConfigMaps it stores.
    let trellis = Server::start_with_env("etcd_baseline_trellis", &[], &env);
    let value: Arc<Vec<u8>> = Arc::new(rt.block_on(async {
        let client = trellis.client().await;
        create_ns(&client, "probe").await;
        let api = Api::<ConfigMap>::namespaced(client, "probe");
        let c = api
            .create(&PostParams::default(), &cm("o0000000", &payload))
            .await
            .expect("probe create");
        serde_json::to_vec(&c).expect("JSON")
    }));
    let etcd = Etcd::start("etcd_baseline_etcd", &[ETCD_QUOTA]);
    rt.block_on(etcd.ready());
    let targets = [
        Target::Etcd(&etcd, value.clone()),
        Target::Trellis(&trellis, payload.clone()),
    ];

    println!("## Trellis beside etcd (`cargo bench -p trellis --bench etcd_baseline`)\n");
    println!(
        "Machine: {}. etcd {version} (Debian's etcd-server). Both servers and the load clients on the same machine.\n",
        bench::machine()
    );
    println!(
        "Values: a ConfigMap with a 1 KiB value for Trellis (stored as {} B of JSON); for etcd a `Put` of `/registry/configmaps/<ns>/<name>` with a value of those {} B.\n",
        value.len(),
        value.len()
    );

    // Creates: per level, 3 repetitions, the two servers interleaved.
    let mut runs: BTreeMap<(usize, usize), Vec<Run>> = BTreeMap::new();
    for rep in 0..REPS {
        for (l, &clients) in CLIENTS.iter().enumerate() {
            let order = if (rep + l) % 2 == 0 { [0, 1] } else { [1, 0] };
            for k in order {
                let group = format!("r{rep}-c{clients}");
                let r = measure(&rt, &targets[k], &group, clients, creates_at(clients));
                eprintln!(
                    "{} rep {rep} {clients:>3} clients: {:.0} creates/s, p50 {:.2} ms, p99 {:.2} ms, {:.0} B/create, {:.0} µs CPU/create",
                    name(k),
                    r.creates_per_s,
                    r.p50_ms,
                    r.p99_ms,
                    r.bytes_per_create,
                    r.cpu_us_per_create
                );
                runs.entry((clients, k)).or_default().push(r);
            }
        }
    }
    // Every create was stored.
    for (k, target) in targets.iter().enumerate() {
        for rep in 0..REPS {
            for &clients in &CLIENTS {
                let group = format!("r{rep}-c{clients}");
                let n = rt.block_on(stored(target, &group));
                assert_eq!(n, creates_at(clients), "{} objects in {group}", name(k));
            }
        }
    }

    // Durability: both servers sync while acknowledging writes.
    let sync_creates = if quick() { 160 } else { 3_200 };
    let mut sync_rows = Vec::new();
    for (k, target) in targets.iter().enumerate() {
        let conns = rt.block_on(target.clients("syncs", 16));
        let calls = syncs_during(target.pid(), || {
            rt.block_on(load(conns, "syncs", 0, sync_creates));
        });
        let get = |n: &str| calls.get(n).copied().unwrap_or(0);
        let data_syncs = get("fdatasync") + get("fsync");
        assert!(
            data_syncs > 0,
            "{}: no fsync/fdatasync during {sync_creates} acknowledged creates: {calls:?}",
            name(k)
        );
        sync_rows.push(format!(
            "| {} | {sync_creates} | {} | {} | {} | {:.1} |",
            name(k),
            get("fdatasync"),
            get("fsync"),
            get("sync_file_range"),
            sync_creates as f64 / data_syncs as f64
        ));
    }
    drop(targets);
    drop(etcd);
    drop(trellis);

    let mut table = vec![
        format!(
            "| measurement | etcd {version} min / median / max | Trellis min / median / max | Trellis ÷ etcd (medians) |"
        ),
        "|---|---:|---:|---:|".to_string(),
    ];
    let pick = |clients: usize, k: usize, f: &dyn Fn(&Run) -> f64| -> Vec<f64> {
        runs[&(clients, k)].iter().map(f).collect()
    };
    for &c in &CLIENTS {
        row(
            &mut table,
            &format!("durable creates/s, {} (higher is better)", clients_label(c)),
            &pick(c, 0, &|r| r.creates_per_s),
            &pick(c, 1, &|r| r.creates_per_s),
            0,
        );
    }
    for &c in &CLIENTS {
        row(
            &mut table,
            &format!("create p50 ms, {}", clients_label(c)),
            &pick(c, 0, &|r| r.p50_ms),
            &pick(c, 1, &|r| r.p50_ms),
            2,
        );
        row(
            &mut table,
            &format!("create p99 ms, {}", clients_label(c)),
            &pick(c, 0, &|r| r.p99_ms),
            &pick(c, 1, &|r| r.p99_ms),
            2,
        );
    }
    for &c in &CLIENTS {
        row(
            &mut table,
            &format!("bytes written per create, {}", clients_label(c)),
            &pick(c, 0, &|r| r.bytes_per_create),
            &pick(c, 1, &|r| r.bytes_per_create),
            0,
        );
    }
    for &c in &CLIENTS {
        row(
            &mut table,
            &format!("server CPU µs per create, {}", clients_label(c)),
            &pick(c, 0, &|r| r.cpu_us_per_create),
            &pick(c, 1, &|r| r.cpu_us_per_create),
            0,
        );
    }

    // Memory and cold start, on fresh servers.
    let mut notes = Vec::new();
    let mut servers = vec![
        Target2::Etcd(
            Etcd::start("etcd_baseline_etcd", &[ETCD_QUOTA]),
            value.clone(),
        ),
        Target2::Trellis(
            Server::start_with_env("etcd_baseline_trellis", &[], &env),
            payload.clone(),
        ),
    ];
    if let Target2::Etcd(e, _) = &servers[0] {
        rt.block_on(e.ready());
    }
    let small = if quick() { 1_000 } else { 100_000 };
    let got: Vec<Objects> = (0..2)
        .map(|k| fill(&rt, &mut servers[k], k, 0, small, &mut notes))
        .collect();
    objects_rows(&mut table, small, &got[0], &got[1]);
    let million = !quick() && std::env::var("BENCH_MILLION").as_deref() != Ok("0");
    if million {
        // One server at a time, each removed (with its data) after its
        // step: a million objects take a few GB of disk each.
        let need = 6u64 << 30;
        let mut got = Vec::new();
        for (k, mut server) in servers.into_iter().enumerate() {
            let free = free_disk();
            if free < need {
                notes.push(format!(
                    "million-object step of {} skipped: {:.1} GiB free in the temp dir, {} GiB needed",
                    name(k),
                    free as f64 / (1u64 << 30) as f64,
                    need >> 30
                ));
                break;
            }
            got.push(fill(&rt, &mut server, k, small, 1_000_000, &mut notes));
        }
        if let [e, t] = &got[..] {
            objects_rows(&mut table, 1_000_000, e, t);
        }
    } else {
        drop(servers);
    }

    println!("{}\n", table.join("\n"));
    println!(
        "Sync calls while acknowledging creates from 16 clients (`strace -f -c` attached to each server):\n"
    );
    println!("| server | creates | fdatasync | fsync | sync_file_range | creates per sync |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("{}\n", sync_rows.join("\n"));
    for n in &notes {
        println!("* {n}");
    }
    println!("\nWhole run: {:.0} s.", started.elapsed().as_secs_f64());
}
