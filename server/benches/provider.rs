//! The provider endpoint (APIExport virtual workspace) with many consumers:
//! the provider's initial wildcard list, and the latency from a consumer's
//! write to the provider's watch event.
//!
//! In process, no socket, as the `sharing` bench: the server's state on
//! sled in a temp dir with the workspace, CRD and sharing controllers
//! running, every request sent through `trellis_server::router` as a
//! `system:masters` admin (who may use any export's content). Steps:
//!
//! 1. `root:provider` publishes the APIResourceSchema
//!    `v1.widgets.example.io` and the APIExport `widgets`; the endpoint is
//!    read from the `status.endpoints[0].url` of the export's default
//!    APIExportEndpointSlice (created by the export's controller), as a
//!    provider's controller would (`/services/apiexport/<provider
//!    cluster>/widgets`), and checked against the provider workspace's
//!    `spec.cluster`;
//! 2. `BENCH_WORKSPACES` (1,000) consumer workspaces are created and bind
//!    the export, and each creates `BENCH_INSTANCES` (10) Widgets in its
//!    `default` namespace (POST, `BENCH_CREATE_FAN_OUT` (32) at a time);
//! 3. the initial wildcard list, `GET <endpoint>/clusters/*/apis/
//!    example.io/v1/widgets`, `BENCH_LIST_RUNS` (5) times after one
//!    warm-up: unpaginated, and with `limit=500` following
//!    `metadata.continue` to the end; timed from the request to the last
//!    byte of the body (of each page, summed: the client's decoding of a
//!    page is not counted); every run is checked: every instance once,
//!    each annotated `kcp.io/cluster` with its consumer's logical cluster;
//! 4. a wildcard watch from the list's resourceVersion (with bookmarks);
//!    then `BENCH_WRITES` (2,000) merge patches of `spec.size` to random
//!    instances in random consumers, first one at a time, then
//!    `BENCH_WRITERS` (8) writers at once, each a closed loop. Each write
//!    sets a unique `spec.size`; its latency runs from just before the
//!    PATCH is sent to the moment the watch body yields the frame of its
//!    MODIFIED event (matched by `spec.size`, checked against the
//!    instance's `kcp.io/cluster`, name and the PATCH answer's
//!    resourceVersion). The watch is read frame by frame in its own task.
//!
//! Every write must produce its event (none missed, none unaccounted for),
//! or the run fails after printing its report.
//!
//! Run: `cargo bench -p trellis-server --bench provider` (the variables
//! above change the counts). `cargo test` (no `--bench`) or
//! `BENCH_QUICK=1` runs a quick smoke version: 20 consumers × 5 instances,
//! one list run, 100 writes per phase.

#[path = "common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use common::{
    PROVIDER, Server, WORKSPACES, binding, bindings_path, consumer, create_provider, env_or,
    env_usize, fan_out, fan_out_by, get_json, ms, not_ready_workspaces, post, request, summary,
    wait_until, widgets_path, workspace,
};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower::ServiceExt;

const CLUSTER: &str = "kcp.io/cluster";
const PAGE: usize = 500;
/// Unique `spec.size` values of the timed writes start here (the
/// instances are created with sizes below `BENCH_INSTANCES`).
const TOKENS: i64 = 1_000_000;

fn widget(j: usize) -> Value {
    json!({
        "apiVersion": "example.io/v1", "kind": "Widget",
        "metadata": {"name": format!("w{j}")},
        "spec": {"color": if j.is_multiple_of(2) { "red" } else { "blue" }, "size": j},
    })
}

/// GET `path` to the last byte: (status, body, time).
async fn timed_get(r: &Router, path: &str) -> (u16, bytes::Bytes, Duration) {
    let start = Instant::now();
    let resp = r
        .clone()
        .oneshot(request("GET", path, "application/json", None))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (code, body, start.elapsed())
}

/// Checks a wildcard list's items: `expect` instances, each once, each
/// annotated with a consumer's logical cluster.
fn check_items(items: &[Value], clusters: &HashSet<String>, expect: usize) {
    assert_eq!(items.len(), expect, "wildcard list: item count");
    let mut seen = HashSet::with_capacity(items.len());
    for it in items {
        let c = it["metadata"]["annotations"][CLUSTER]
            .as_str()
            .unwrap_or_else(|| panic!("no {CLUSTER} annotation: {it}"));
        assert!(clusters.contains(c), "{CLUSTER}={c} is no consumer's");
        let name = it["metadata"]["name"].as_str().unwrap();
        assert!(
            seen.insert((c.to_string(), name.to_string())),
            "{c}/{name} twice"
        );
    }
}

/// One unpaginated list: (time, items, resourceVersion, body bytes).
async fn list_full(r: &Router, base: &str) -> (Duration, Vec<Value>, String, usize) {
    let (code, body, took) = timed_get(r, base).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let mut list: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        list["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let items = match list["items"].take() {
        Value::Array(a) => a,
        other => panic!("items: {other}"),
    };
    (took, items, rv, body.len())
}

/// A list in pages of [`PAGE`]: (time of all requests, items, pages).
/// Only the requests are timed, not the decoding of each page.
async fn list_paged(r: &Router, base: &str) -> (Duration, Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut took = Duration::ZERO;
    let mut cont = String::new();
    let mut pages = 0;
    let mut rv = None;
    loop {
        let mut path = format!("{base}?limit={PAGE}");
        if !cont.is_empty() {
            path.push_str("&continue=");
            path.extend(form_urlencoded::byte_serialize(cont.as_bytes()));
        }
        let (code, body, t) = timed_get(r, &path).await;
        took += t;
        pages += 1;
        assert_eq!(code, 200, "{path}: {}", String::from_utf8_lossy(&body));
        let mut page: Value = serde_json::from_slice(&body).unwrap();
        let page_rv = page["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            rv.get_or_insert_with(|| page_rv.clone()),
            &page_rv,
            "pages of one list at one revision"
        );
        if let Value::Array(a) = page["items"].take() {
            assert!(a.len() <= PAGE);
            items.extend(a);
        }
        cont = page["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if cont.is_empty() {
            return (took, items, pages);
        }
    }
}

/// A timed write waiting for its event.
struct Pending {
    cluster: String,
    name: String,
    tx: oneshot::Sender<Seen>,
}

/// What the watch saw of a write.
struct Seen {
    at: Instant,
    cluster: String,
    name: String,
    rv: String,
}

#[derive(Default)]
struct Tally {
    by_type: BTreeMap<String, usize>,
    /// MODIFIED events whose `spec.size` no timed write waits for.
    unmatched: usize,
    bytes: usize,
    ended: bool,
}

type Waiters = Arc<Mutex<HashMap<i64, Pending>>>;

/// Reads the watch body frame by frame; hands each MODIFIED event to the
/// write waiting for its `spec.size`.
async fn read_watch(body: axum::body::Body, waiters: Waiters, tally: Arc<Mutex<Tally>>) {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let at = Instant::now();
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        tally.lock().bytes += data.len();
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let ev: Value = serde_json::from_slice(&line).unwrap();
            let kind = ev["type"].as_str().unwrap_or("").to_string();
            *tally.lock().by_type.entry(kind.clone()).or_default() += 1;
            if kind != "MODIFIED" {
                continue;
            }
            let obj = &ev["object"];
            let pending = obj["spec"]["size"]
                .as_i64()
                .and_then(|s| waiters.lock().remove(&s));
            let Some(p) = pending else {
                tally.lock().unmatched += 1;
                continue;
            };
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            let seen = Seen {
                at,
                cluster: s(&obj["metadata"]["annotations"][CLUSTER]),
                name: s(&obj["metadata"]["name"]),
                rv: s(&obj["metadata"]["resourceVersion"]),
            };
            assert_eq!(
                (seen.cluster.as_str(), seen.name.as_str()),
                (p.cluster.as_str(), p.name.as_str()),
                "event for the wrong instance"
            );
            let _ = p.tx.send(seen);
        }
    }
    tally.lock().ended = true;
}

/// One timed write: (PATCH answered, PATCH → event), or `None` if the
/// event did not come within 5 s.
async fn timed_write(
    r: &Router,
    waiters: &Waiters,
    cluster_of: &[String],
    token: i64,
    (ws, j): (usize, usize),
) -> Option<(Duration, Duration)> {
    let name = format!("w{j}");
    let (tx, rx) = oneshot::channel();
    waiters.lock().insert(
        token,
        Pending {
            cluster: cluster_of[ws].clone(),
            name: name.clone(),
            tx,
        },
    );
    let path = format!("{}/{name}", widgets_path(&consumer(ws)));
    let patch = json!({"spec": {"size": token}});
    let start = Instant::now();
    let resp = r
        .clone()
        .oneshot(request(
            "PATCH",
            &path,
            "application/merge-patch+json",
            Some(&patch),
        ))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let acked = start.elapsed();
    assert_eq!(
        code,
        200,
        "PATCH {path}: {}",
        String::from_utf8_lossy(&body)
    );
    let obj: Value = serde_json::from_slice(&body).unwrap();
    let seen = match tokio::time::timeout(Duration::from_secs(5), rx).await {
        Ok(Ok(seen)) => seen,
        _ => {
            waiters.lock().remove(&token);
            return None;
        }
    };
    assert_eq!(
        obj["metadata"]["resourceVersion"].as_str(),
        Some(seen.rv.as_str()),
        "the event is of this write"
    );
    debug_assert!(!seen.cluster.is_empty() && !seen.name.is_empty());
    Some((acked, seen.at.saturating_duration_since(start)))
}

/// Timed writes to `targets`, `writers` at a time (each a closed loop:
/// the next write once the last one's event has arrived). Returns (PATCH
/// answered, PATCH → event, event after the answer, missed, wall time).
async fn write_phase(
    r: &Router,
    waiters: &Waiters,
    cluster_of: &[String],
    first_token: i64,
    targets: &[(usize, usize)],
    writers: usize,
) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>, usize, Duration) {
    let results = Arc::new(Mutex::new(Vec::with_capacity(targets.len())));
    let start = Instant::now();
    {
        let results = &results;
        fan_out_by(writers, 0..targets.len(), |k| async move {
            let res = timed_write(r, waiters, cluster_of, first_token + k as i64, targets[k]).await;
            results.lock().push(res);
        })
        .await;
    }
    let wall = start.elapsed();
    let results = std::mem::take(&mut *results.lock());
    let mut acked = Vec::new();
    let mut event = Vec::new();
    let mut after = Vec::new();
    let mut missed = 0;
    for r in results {
        match r {
            Some((a, e)) => {
                acked.push(a);
                event.push(e);
                after.push(e.saturating_sub(a));
            }
            None => missed += 1,
        }
    }
    (acked, event, after, missed, wall)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() - 1) / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let consumers = env_or("BENCH_WORKSPACES", 1_000, 20).max(1);
    let per = env_or("BENCH_INSTANCES", 10, 5).max(1);
    let create_fan_out = env_usize("BENCH_CREATE_FAN_OUT", 32).max(1);
    let runs = env_or("BENCH_LIST_RUNS", 5, 1).max(1);
    let writes = env_or("BENCH_WRITES", 2_000, 100).max(1);
    let writers = env_usize("BENCH_WRITERS", 8).max(1);
    let total = consumers * per;
    let begin = Instant::now();

    let server = Server::start().await;
    let r = &server.router;
    let long = Duration::from_secs(120);

    // 1. The provider, its export, and the export's endpoint.
    create_provider(r).await;
    // The export's default endpoint slice (same name), from its controller.
    let slice_path =
        format!("/clusters/{PROVIDER}/apis/apis.kcp.io/v1alpha1/apiexportendpointslices/widgets");
    wait_until("the endpoint", Duration::from_millis(1), long, || async {
        let (_, s) = get_json(r, &slice_path).await;
        s["status"]["endpoints"][0]["url"].is_string()
    })
    .await;
    let (code, slice) = get_json(r, &slice_path).await;
    assert_eq!(code, 200, "{slice}");
    let url = slice["status"]["endpoints"][0]["url"].as_str().unwrap();
    let endpoint = &url[url.find("/services/apiexport/").expect("endpoint URL")..];
    let (code, provider_ws) = get_json(r, &format!("{WORKSPACES}/provider")).await;
    assert_eq!(code, 200, "{provider_ws}");
    let provider_cluster = provider_ws["spec"]["cluster"].as_str().unwrap();
    assert_eq!(
        endpoint,
        format!("/services/apiexport/{provider_cluster}/widgets"),
        "the slice's URL names the provider's logical cluster"
    );
    let list_path = format!("{endpoint}/clusters/*/apis/example.io/v1/widgets");

    // 2. Consumers: workspaces, bindings, instances.
    let t = Instant::now();
    fan_out(0..consumers, |i| async move {
        post(r, WORKSPACES, &workspace(&consumer(i))).await;
    })
    .await;
    wait_until("the consumers", Duration::from_millis(50), long, || async {
        not_ready_workspaces(r).await == 0
    })
    .await;
    let ws_took = t.elapsed();
    let (code, all_ws) = get_json(r, WORKSPACES).await;
    assert_eq!(code, 200, "{all_ws}");
    let by_name: HashMap<String, String> = all_ws["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["metadata"]["name"].as_str().unwrap().to_string(),
                w["spec"]["cluster"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let cluster_of: Vec<String> = (0..consumers)
        .map(|i| by_name[&consumer(i)].clone())
        .collect();
    let clusters: HashSet<String> = cluster_of.iter().cloned().collect();
    assert_eq!(clusters.len(), consumers);

    let t = Instant::now();
    fan_out(0..consumers, |i| async move {
        post(r, &bindings_path(&consumer(i)), &binding()).await;
    })
    .await;
    for i in 0..consumers {
        let path = widgets_path(&consumer(i));
        wait_until(&path, Duration::from_millis(1), long, || async {
            common::widgets_served(r, &consumer(i)).await
        })
        .await;
    }
    let bind_took = t.elapsed();

    let t = Instant::now();
    fan_out_by(create_fan_out, 0..total, |k| async move {
        // Round-robin over the consumers, so that concurrent creates
        // mostly land in different workspaces.
        post(
            r,
            &widgets_path(&consumer(k % consumers)),
            &widget(k / consumers),
        )
        .await;
    })
    .await;
    let create_took = t.elapsed();

    // 3. The initial wildcard list.
    let (first_full, warm, _, _) = list_full(r, &list_path).await;
    check_items(&warm, &clusters, total);
    drop(warm);
    let (cold_paged, warm, cold_pages) = list_paged(r, &list_path).await;
    check_items(&warm, &clusters, total);
    drop(warm);
    let mut full = Vec::new();
    let mut paged = Vec::new();
    let mut pages = cold_pages;
    let mut full_bytes = 0;
    let mut rv = String::new();
    for _ in 0..runs {
        let (took, items, list_rv, bytes) = list_full(r, &list_path).await;
        check_items(&items, &clusters, total);
        full.push(took);
        full_bytes = bytes;
        rv = list_rv;
        let (took, items, n) = list_paged(r, &list_path).await;
        check_items(&items, &clusters, total);
        paged.push(took);
        pages = n;
    }
    // One consumer's own list, for comparison (`per` instances).
    let mut own = Vec::new();
    for i in 0..runs.max(20) {
        let (code, _, took) = timed_get(r, &widgets_path(&consumer(i % consumers))).await;
        assert_eq!(code, 200);
        own.push(took);
    }

    // 4. Watch latency.
    let waiters: Waiters = Arc::default();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let watch_path =
        format!("{list_path}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true");
    let t = Instant::now();
    let resp = r
        .clone()
        .oneshot(request("GET", &watch_path, "application/json", None))
        .await
        .unwrap();
    let watch_opened = t.elapsed();
    assert_eq!(resp.status(), 200, "watch");
    let reader = tokio::spawn(read_watch(resp.into_body(), waiters.clone(), tally.clone()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut targets = |n: usize| -> Vec<(usize, usize)> {
        (0..n)
            .map(|_| (rng.random_range(0..consumers), rng.random_range(0..per)))
            .collect()
    };
    let seq_targets = targets(writes);
    let conc_targets = targets(writes);
    let seq = write_phase(r, &waiters, &cluster_of, TOKENS, &seq_targets, 1).await;
    let conc = write_phase(
        r,
        &waiters,
        &cluster_of,
        TOKENS + writes as i64,
        &conc_targets,
        writers,
    )
    .await;
    // Anything late still arrives before the watch is closed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    reader.abort();
    let _ = reader.await;
    let tally = std::mem::take(&mut *tally.lock());
    server.stop().await;

    // Report.
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let rate = |n: usize, d: Duration| format!("{:.0}/s", n as f64 / d.as_secs_f64());
    println!("## Provider endpoint (APIExport virtual workspace)\n");
    println!(
        "{consumers} bound consumer workspaces × {per} instances = {total}; list {runs} runs after a warm-up, medians; {writes} timed writes one at a time, then {writes} with {writers} writers; whole run {:.1} s.\n",
        begin.elapsed().as_secs_f64()
    );
    println!("| setup | time | rate |\n|---|---:|---:|");
    println!(
        "| {consumers} workspaces created (POST → all Ready) | {} | {} |",
        secs(ws_took),
        rate(consumers, ws_took)
    );
    println!(
        "| {consumers} bindings (POST → widgets served everywhere) | {} | {} |",
        secs(bind_took),
        rate(consumers, bind_took)
    );
    println!(
        "| {total} Widgets created ({create_fan_out} POSTs at a time) | {} | {} |",
        secs(create_took),
        rate(total, create_took)
    );
    println!();
    println!("### Initial wildcard list (`clusters/*`, {total} items)\n");
    println!("| list | median | min | max | items/s (median) |\n|---|---:|---:|---:|---:|");
    let row = |label: String, v: &[Duration]| {
        let m = median(v.to_vec());
        println!(
            "| {label} | {} | {} | {} | {:.0} |",
            ms(m),
            ms(*v.iter().min().unwrap()),
            ms(*v.iter().max().unwrap()),
            total as f64 / m.as_secs_f64()
        );
    };
    row(format!("unpaginated ({full_bytes} B)"), &full);
    row(format!("`limit={PAGE}`, {pages} pages"), &paged);
    println!(
        "\nFirst list after the creates (the warm-up): unpaginated {}, then paginated {} in {cold_pages} pages. One consumer's own list ({per} items, through `/clusters/<ws>`): {} median.",
        ms(first_full),
        ms(cold_paged),
        ms(median(own))
    );
    println!();
    println!("### Consumer write → provider watch event\n");
    println!(
        "Watch opened from the list's resourceVersion in {}.\n",
        ms(watch_opened)
    );
    println!(
        "| writes | PATCH answered p50 / p99 | **write → event p50** | **p99** | max | event after the answer p50 / p99 | missed | writes/s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let missed_total = seq.3 + conc.3;
    let timed_total = seq.1.len() + conc.1.len();
    for (label, (acked, event, after, missed, wall)) in [
        (format!("{writes}, one at a time"), seq),
        (format!("{writes}, {writers} writers"), conc),
    ] {
        let n = event.len();
        let (a50, a99, _) = summary(acked);
        let (e50, e99, emax) = summary(event);
        let (f50, f99, _) = summary(after);
        println!(
            "| {label} | {} / {} | **{}** | **{}** | {} | {} / {} | {missed} | {} |",
            ms(a50),
            ms(a99),
            ms(e50),
            ms(e99),
            ms(emax),
            ms(f50),
            ms(f99),
            rate(n, wall)
        );
    }
    let types: Vec<String> = tally
        .by_type
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "\nWatch frames: {} ({} B); MODIFIED not of a timed write: {}; stream ended before closing: {}. Target: p99 < 50 ms.",
        types.join(", "),
        tally.bytes,
        tally.unmatched,
        tally.ended
    );
    assert_eq!(missed_total, 0, "every timed write's event arrived");
    assert_eq!(timed_total, 2 * writes, "every timed write measured");
    assert_eq!(
        tally.by_type.get("MODIFIED").copied(),
        Some(2 * writes),
        "one MODIFIED event per write"
    );
    assert_eq!(tally.unmatched, 0, "no event unaccounted for");
    assert!(!tally.ended, "the watch stayed open");
}
