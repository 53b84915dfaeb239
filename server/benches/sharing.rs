//! API sharing: bind latency and the cost of 1,000 bound workspaces.
//!
//! In process, no socket: the server's real state on sled in a temp dir,
//! bootstrapped as `trellis_server::run` does (workspace bootstrap, CRD and
//! binding load) with the workspace, CRD and sharing controllers running,
//! and every request sent through `server::router` as a `system:masters`
//! admin (who needs no `bind` grant). Steps:
//!
//! 1. a provider workspace `root:provider` publishes the APIResourceSchema
//!    `v1.widgets.example.io` and the APIExport `widgets`; the sharing
//!    controller gives it an identity;
//! 2. `BENCH_WORKSPACES` (1,000) consumer workspaces and one more, `plain`,
//!    that never binds, are created in `root` (POST, then wait for phase
//!    `Ready`: each gets its `default` namespace from the workspace
//!    controller); RSS before and after;
//! 3. discovery in the consumers while they are still unbound (baseline);
//! 4. every consumer binds `root:provider:widgets`: the first binding of the
//!    export alone (it compiles the schema), then of the rest all but
//!    `BENCH_BIND_SAMPLES` (200) + 1 in bulk, 16 at a time, one more as
//!    soon as the bulk is served, and, once every binding is `Bound` and
//!    the controller idle, the last 200 one at a time; each binding not in
//!    the bulk is timed from the POST of the APIBinding to the first 200
//!    answer of `GET .../apis/example.io/v1/namespaces/default/widgets`,
//!    polled every millisecond;
//! 5. RSS with every consumer bound, and discovery again in the bound
//!    consumers and in `plain`;
//! 6. attribution: consumer 0's installed bound API set is installed
//!    again into as many fake clusters (what the binding controller's
//!    `serve` does per cluster), with and without its OpenAPI definitions,
//!    and the RSS growth is divided by their number.
//!
//! RSS is VmRSS from `/proc/self/status`, read after a pause of 3 s, as it
//! stands ("raw") and after `malloc_trim(0)` ("trimmed", what the server's
//! memory returner would give back on its own after a large burst).
//!
//! Run: `cargo bench -p trellis-server --bench sharing` (`BENCH_WORKSPACES`,
//! `BENCH_BIND_SAMPLES` and `BENCH_DISCOVERY_ROUNDS` — discovery requests
//! per workspace and endpoint, default 5 — change the counts). `cargo test`
//! (no `--bench`) or `BENCH_QUICK=1` runs a quick smoke version: 20
//! consumers, 5 samples, one discovery round, no pauses before reading RSS.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use axum::Router;
use common::{
    FAN_OUT, Server, WORKSPACES, binding, bindings_path, consumer, create_provider, env_or,
    fan_out, get_json, ms, not_ready_workspaces, post, send, summary, us, wait_until,
    widgets_served, workspace,
};
use trellis_server::cluster::{ApiSet, Source};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Waits until `ws`'s binding reports phase `Bound`.
async fn wait_bound(router: &Router, ws: &str) {
    let path = format!("{}/widgets", bindings_path(ws));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, b) = get_json(router, &path).await;
        if b["status"]["phase"] == "Bound" {
            return;
        }
        assert!(Instant::now() < deadline, "{ws}: never Bound: {b}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Creates consumer `i`'s binding and waits until its widgets are served;
/// (POST latency, POST → first 200 of the widgets list).
async fn bind_one(router: &Router, i: usize) -> (Duration, Duration) {
    let ws = consumer(i);
    let start = Instant::now();
    post(router, &bindings_path(&ws), &binding()).await;
    let posted = start.elapsed();
    let deadline = start + Duration::from_secs(30);
    while !widgets_served(router, &ws).await {
        assert!(Instant::now() < deadline, "{ws}: widgets never served");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (posted, start.elapsed())
}

/// VmRSS in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free heap pages to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

/// (raw, trimmed) RSS in KiB after letting background work settle (not
/// in a quick run, whose RSS figures mean nothing).
async fn settled_rss() -> (u64, u64) {
    if !common::quick() {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let raw = rss_kib();
    trim();
    (raw, rss_kib())
}

/// Latencies of `rounds` GETs of `suffix` in each workspace of
/// `workspaces` (round-robin), answered `want`; and the last body size.
async fn discovery(
    router: &Router,
    workspaces: &[String],
    suffix: &str,
    accept: &str,
    want: u16,
    rounds: usize,
) -> (Vec<Duration>, usize) {
    let mut lat = Vec::with_capacity(workspaces.len() * rounds);
    let mut size = 0;
    for _ in 0..rounds {
        for ws in workspaces {
            let path = format!("/clusters/root:{ws}{suffix}");
            let start = Instant::now();
            let (code, body) = send(router, "GET", &path, accept, None).await;
            lat.push(start.elapsed());
            assert_eq!(code, want, "GET {path}: {}", String::from_utf8_lossy(&body));
            size = body.len();
        }
    }
    (lat, size)
}

/// The discovery requests measured: (label, path suffix, Accept, status
/// when bound, status when unbound).
const DISCOVERY: [(&str, &str, &str, u16, u16); 4] = [
    ("`/apis` aggregated (v2)", "/apis", AGGREGATED, 200, 200),
    (
        "`/apis` legacy APIGroupList",
        "/apis",
        "application/json",
        200,
        200,
    ),
    (
        "`/apis/example.io/v1`",
        "/apis/example.io/v1",
        "application/json",
        200,
        404,
    ),
    (
        "`/apis/rbac.authorization.k8s.io/v1` (built-in)",
        "/apis/rbac.authorization.k8s.io/v1",
        "application/json",
        200,
        200,
    ),
];

type Row = (Vec<Duration>, usize);

async fn discovery_all(
    router: &Router,
    workspaces: &[String],
    bound: bool,
    rounds: usize,
) -> Vec<Row> {
    let mut out = Vec::new();
    for (_, suffix, accept, when_bound, when_unbound) in DISCOVERY {
        let want = if bound { when_bound } else { when_unbound };
        // Warm up.
        discovery(
            router,
            &workspaces[..workspaces.len().min(50)],
            suffix,
            accept,
            want,
            1,
        )
        .await;
        out.push(discovery(router, workspaces, suffix, accept, want, rounds).await);
    }
    out
}

fn cell(row: &Row) -> String {
    let (p50, p99, _) = summary(row.0.clone());
    format!("{} / {} ({} B)", us(p50), us(p99), row.1)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let consumers = env_or("BENCH_WORKSPACES", 1_000, 20).max(3);
    let samples = env_or("BENCH_BIND_SAMPLES", 200, 5).clamp(1, consumers - 2);
    let rounds = env_or("BENCH_DISCOVERY_ROUNDS", 5, 1).max(1);
    let begin = Instant::now();

    let server = Server::start().await;
    let state = server.state.clone();
    let r = &server.router;
    let long = Duration::from_secs(120);

    // 1. The provider and its export.
    let identity_after = create_provider(r).await;

    // 2. Consumer workspaces (plus `plain`, which never binds).
    let (rss_empty, rss_empty_trim) = settled_rss().await;
    let t = Instant::now();
    fan_out(0..consumers, |i| async move {
        post(r, WORKSPACES, &workspace(&consumer(i))).await;
    })
    .await;
    post(r, WORKSPACES, &workspace("plain")).await;
    wait_until("the consumers", Duration::from_millis(50), long, || async {
        not_ready_workspaces(r).await == 0
    })
    .await;
    let created_after = t.elapsed();
    let (rss_plain, rss_plain_trim) = settled_rss().await;
    let names: Vec<String> = (0..consumers).map(consumer).collect();

    // 3. Discovery while unbound.
    let unbound_rows = discovery_all(r, &names, false, rounds).await;

    // 4. Bind: the first binding of the export, the bulk, then the samples.
    let (first_post, first) = bind_one(r, 0).await;
    let bulk_end = consumers - samples;
    let t = Instant::now();
    // The bulk leaves the last consumer before the samples to be bound
    // right after it, while the controller still has work queued.
    let bulk_last = bulk_end - 1;
    fan_out(1..bulk_last, |i| async move {
        post(r, &bindings_path(&consumer(i)), &binding()).await;
    })
    .await;
    let bulk_posted = t.elapsed();
    for i in 1..bulk_last {
        let ws = consumer(i);
        wait_until(&ws, Duration::from_millis(1), long, || {
            widgets_served(r, &ws)
        })
        .await;
    }
    let bulk_served = t.elapsed();
    let (_, after_bulk) = bind_one(r, bulk_last).await;
    for i in 1..bulk_end {
        wait_bound(r, &consumer(i)).await;
    }
    let bulk_bound = t.elapsed();
    // The controller's queue drains (each status write is an event, which
    // is one more pass per cluster); the samples then find it idle.
    if !common::quick() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut post_lat = Vec::new();
    let mut bind_lat = Vec::new();
    for i in bulk_end..consumers {
        let (p, b) = bind_one(r, i).await;
        post_lat.push(p);
        bind_lat.push(b);
    }
    for i in bulk_end..consumers {
        wait_bound(r, &consumer(i)).await;
    }
    let (code, one_binding) = send(
        r,
        "GET",
        &format!("{}/widgets", bindings_path(&names[0])),
        "application/json",
        None,
    )
    .await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&one_binding));
    let (rss_bound, rss_bound_trim) = settled_rss().await;

    // 5. Discovery when bound, and in `plain`.
    let bound_rows = discovery_all(r, &names, true, rounds).await;
    let plain = vec!["plain".to_string(); consumers];
    let plain_rows = discovery_all(r, &plain, false, 1).await;

    // 6. What the in-memory APIs of one bound cluster cost: install the
    // same bound set as consumer 0's into as many clusters again (what the
    // binding controller's `serve` does), without storage or requests.
    let c0 = state
        .clusters
        .resolve("root:c00000")
        .await
        .expect("c00000")
        .name;
    let set = state
        .clusters
        .installed(&c0, Source::Bindings)
        .expect("c00000 serves its binding");
    let builtin_defs = state.clusters.builtin_registry().all().count();
    let openapi_bytes = serde_json::to_vec(&set.definitions).unwrap().len();
    let (_, probe_before) = settled_rss().await;
    for i in 0..consumers {
        let copy = ApiSet {
            defs: set.defs.clone(),
            definitions: set.definitions.clone(),
        };
        state
            .clusters
            .install(&format!("probe{i}"), Source::Bindings, copy);
    }
    let (_, probe_after) = settled_rss().await;
    for i in 0..consumers {
        state
            .clusters
            .install(&format!("probe{i}"), Source::Bindings, ApiSet::default());
    }
    // The same without the OpenAPI definitions, to tell the two apart.
    let (_, probe2_before) = settled_rss().await;
    for i in 0..consumers {
        let copy = ApiSet {
            defs: set.defs.clone(),
            definitions: Default::default(),
        };
        state
            .clusters
            .install(&format!("probe{i}"), Source::Bindings, copy);
    }
    let (_, probe2_after) = settled_rss().await;
    for i in 0..consumers {
        state
            .clusters
            .install(&format!("probe{i}"), Source::Bindings, ApiSet::default());
    }

    drop(state);
    server.stop().await;

    // Report.
    let per = |a: u64, b: u64, n: usize| format!("{:.1} KiB", (b as f64 - a as f64) / n as f64);
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    println!("## API sharing (bindings)\n");
    println!(
        "{consumers} consumer workspaces, {samples} bindings timed one at a time, discovery {rounds} request(s) per workspace and endpoint; whole run {:.1} s.\n",
        begin.elapsed().as_secs_f64()
    );
    println!("| step | result |\n|---|---:|");
    println!(
        "| export created → `status.identityHash` set | {} |",
        ms(identity_after)
    );
    println!(
        "| {} workspaces created (POST → all Ready) | {:.2} s |",
        consumers + 1,
        created_after.as_secs_f64()
    );
    println!(
        "| first binding of the export (compiles the schema): POST / POST → served | {} / {} |",
        ms(first_post),
        ms(first)
    );
    println!(
        "| {} bindings in bulk ({FAN_OUT} at a time): all POSTed / all served / all `Bound` | {:.2} s / {:.2} s / {:.2} s ({:.0} bindings/s served) |",
        bulk_last - 1,
        bulk_posted.as_secs_f64(),
        bulk_served.as_secs_f64(),
        bulk_bound.as_secs_f64(),
        (bulk_last - 1) as f64 / bulk_served.as_secs_f64()
    );
    println!(
        "| one binding created as soon as the bulk is served (the controller still has the bulk's status events queued): POST → served | {} |",
        ms(after_bulk)
    );
    println!(
        "| stored APIBinding (as served, JSON) | {} B |",
        one_binding.len()
    );
    println!();
    println!(
        "### Bind latency ({samples} bindings, one at a time, {} already bound)\n",
        bulk_end
    );
    println!("| measurement | p50 | p99 | max |\n|---|---:|---:|---:|");
    let (a, b, c) = summary(post_lat);
    println!(
        "| POST APIBinding answered | {} | {} | {} |",
        ms(a),
        ms(b),
        ms(c)
    );
    let slow = bind_lat
        .iter()
        .filter(|d| **d > Duration::from_millis(10))
        .count();
    let mut worst: Vec<(Duration, usize)> = bind_lat
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, bulk_end + i))
        .collect();
    worst.sort();
    let worst: Vec<String> = worst
        .iter()
        .rev()
        .take(3)
        .map(|(d, i)| format!("{} ({})", ms(*d), consumer(*i)))
        .collect();
    let (a, b, c) = summary(bind_lat);
    println!(
        "| POST → first 200 on `widgets` | {} | {} | {} |",
        ms(a),
        ms(b),
        ms(c)
    );
    println!(
        "\n{slow} of {samples} over 10 ms; slowest: {}. Polling every 1 ms adds up to about 1 ms.",
        worst.join(", ")
    );
    println!();
    println!("### Memory (VmRSS; raw / after `malloc_trim`)\n");
    println!("| state | RSS raw | RSS trimmed |\n|---|---:|---:|");
    println!(
        "| provider only | {} | {} |",
        mib(rss_empty),
        mib(rss_empty_trim)
    );
    println!(
        "| + {} unbound workspaces | {} | {} |",
        consumers + 1,
        mib(rss_plain),
        mib(rss_plain_trim)
    );
    println!(
        "| + {consumers} bindings | {} | {} |",
        mib(rss_bound),
        mib(rss_bound_trim)
    );
    println!(
        "| **per workspace** (unbound) | {} | {} |",
        per(rss_empty, rss_plain, consumers + 1),
        per(rss_empty_trim, rss_plain_trim, consumers + 1)
    );
    println!(
        "| **per binding** (bound − unbound) | {} | {} |",
        per(rss_plain, rss_bound, consumers),
        per(rss_plain_trim, rss_bound_trim, consumers)
    );
    println!(
        "| of which a cluster's served APIs (registry of {builtin_defs} built-in + {} bound definitions, {openapi_bytes} B of OpenAPI definitions), measured by installing the same set into {consumers} more clusters | {} |",
        set.defs.len(),
        per(probe_before, probe_after, consumers)
    );
    println!(
        "| … the same set without its OpenAPI definitions | {} |",
        per(probe2_before, probe2_after, consumers)
    );
    println!();
    println!("### Discovery (p50 / p99, response size)\n");
    println!(
        "| request | {consumers} ws, unbound | {consumers} ws, bound | `plain` (unbound), after |\n|---|---:|---:|---:|"
    );
    for (k, (label, ..)) in DISCOVERY.iter().enumerate() {
        let plain_cell = if DISCOVERY[k].4 == 404 {
            format!("404: {}", cell(&plain_rows[k]))
        } else {
            cell(&plain_rows[k])
        };
        let unbound_cell = if DISCOVERY[k].4 == 404 {
            format!("404: {}", cell(&unbound_rows[k]))
        } else {
            cell(&unbound_rows[k])
        };
        println!(
            "| {label} | {unbound_cell} | {} | {plain_cell} |",
            cell(&bound_rows[k])
        );
    }
}
