//! Storage benchmark: `cargo bench -p trellis-storage --bench storage`.
//!
//! Measures on the current machine, in one run:
//! * durable creates/s at 1, 16 and 64 concurrent writers (1 KiB values),
//!   against the naive baseline "sled insert + flush per write" at the same
//!   concurrency, and the ratio;
//! * listing 100k 1 KiB objects under one prefix;
//! * watch fan-out: 1,000 watchers on one prefix while writing 1,000
//!   objects/s, p50/p99/max delivery latency from write issue to receipt.
//!
//! Prints a markdown report for docs/benchmarks.md. `BENCH_QUICK=1` shrinks
//! every workload for a smoke run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use trellis_storage::{ListOptions, SledConfig, SledStorage, Storage, Value};

fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok()
}

fn scaled(n: usize) -> usize {
    if quick() { (n / 20).max(10) } else { n }
}

fn payload() -> Vec<u8> {
    // {"t":<20 digits>,"rv":"","pad":"xxxx…"} padded to 1 KiB.
    let mut v = br#"{"t":00000000000000000000,"rv":"","pad":""#.to_vec();
    while v.len() < 1022 {
        v.push(b'x');
    }
    v.extend_from_slice(b"\"}");
    v
}
const RV_SLOT: usize = 32;

fn value_at(base: &[u8], t_nanos: u64) -> Value {
    let mut v = base.to_vec();
    v[5..25].copy_from_slice(format!("{t_nanos:020}").as_bytes());
    Value::with_revision_slot(Bytes::from(v), RV_SLOT)
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn naive(threads: usize, total: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(32 << 20)
        .open()
        .unwrap();
    let per = total / threads;
    let body = payload();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = &db;
            let body = &body;
            s.spawn(move || {
                for i in 0..per {
                    db.insert(
                        format!("core/configmaps/root/default/t{t}-{i:08}"),
                        body.as_slice(),
                    )
                    .unwrap();
                    db.flush().unwrap();
                }
            });
        }
    });
    (per * threads) as f64 / start.elapsed().as_secs_f64()
}

async fn trellis_creates(store: Arc<SledStorage>, writers: usize, total: usize, tag: &str) -> f64 {
    let per = total / writers;
    let body = Arc::new(payload());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let body = body.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let key = Bytes::from(format!("core/configmaps/{tag}/default/w{w:02}-{i:08}"));
                store.create(key, value_at(&body, 0), None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per * writers) as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Child phase: open the store, report recovery time and RSS.
fn reopen_phase(dir: &str) {
    let before = rss_mib();
    let start = Instant::now();
    let store = SledStorage::open(SledConfig::new(dir)).unwrap();
    let took = start.elapsed();
    let st = store.stats();
    println!(
        "Reopen (recovery) of {} objects ({:.0} MiB of values, {} history events): {took:?}; process RSS {:.0} MiB (before open: {before:.0} MiB)\n",
        st.objects,
        st.object_bytes as f64 / (1 << 20) as f64,
        st.history_events,
        rss_mib()
    );
}

fn main() {
    if std::env::var("BENCH_PHASE").as_deref() == Ok("reopen") {
        reopen_phase(&std::env::var("BENCH_DIR").unwrap());
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("## Storage engine (`cargo bench -p trellis-storage --bench storage`)\n");
    println!(
        "Machine: {} cores, {cpu}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    println!("### Durable creates/s, 1 KiB values\n");
    println!(
        "Each row uses a fresh store. \"incl. checkpoint\" also counts the time to close the store, which waits"
    );
    println!(
        "for the background checkpointer to fold everything into the object tree; the naive baseline runs after"
    );
    println!("the store is closed, so they never overlap.\n");
    println!(
        "| writers | writes | trellis acked/s | incl. checkpoint/s | naive sled insert+flush/s | ratio (acked) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (writers, total) in [
        (1, scaled(3_000)),
        (16, scaled(30_000)),
        (64, scaled(100_000)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStorage::open(SledConfig::new(dir.path())).unwrap());
        let start = Instant::now();
        let ours = rt.block_on(trellis_creates(store.clone(), writers, total, "c"));
        rt.block_on(store.close()).unwrap();
        let with_checkpoint = (total / writers * writers) as f64 / start.elapsed().as_secs_f64();
        drop(store);
        let base = naive(writers, scaled(total.min(20_000)));
        println!(
            "| {writers} | {} | {ours:.0} | {with_checkpoint:.0} | {base:.0} | {:.1}x |",
            total / writers * writers,
            ours / base
        );
    }
    println!();

    // Listing 100k objects under one prefix.
    let n = scaled(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStorage::open(SledConfig::new(dir.path())).unwrap());
    rt.block_on(trellis_creates(store.clone(), 64, n, "list"));
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let page = rt
            .block_on(store.list(ListOptions {
                prefix: Bytes::from_static(b"core/configmaps/list/"),
                ..Default::default()
            }))
            .unwrap();
        let bytes: usize = page.items.iter().map(|r| r.value.len()).sum();
        times.push(start.elapsed());
        assert_eq!(page.items.len(), n / 64 * 64);
        assert!(bytes >= page.items.len() * 1024);
    }
    times.sort();
    println!("### List\n");
    println!(
        "| objects | min | median | max |\n|---:|---:|---:|---:|\n| {} | {:.1} ms | {:.1} ms | {:.1} ms |\n",
        n / 64 * 64,
        times[0].as_secs_f64() * 1e3,
        times[3].as_secs_f64() * 1e3,
        times[6].as_secs_f64() * 1e3
    );
    rt.block_on(store.close()).unwrap();
    drop(store);

    // Cold start and memory with those objects, in a fresh process so that
    // nothing from the phases above is counted.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_PHASE", "reopen")
        .env("BENCH_DIR", dir.path())
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));

    // Watch fan-out.
    let watchers = if quick() { 100 } else { 1_000 };
    let rate = 1_000u64;
    let secs = if quick() { 2 } else { 10 };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStorage::open(SledConfig::new(dir.path())).unwrap());
    let epoch = Instant::now();
    let (lat, received, expected) = rt.block_on(async {
        let from = store.current_revision();
        let total = rate * secs;
        let mut handles = Vec::new();
        for _ in 0..watchers {
            let mut w = store
                .watch(Bytes::from_static(b"core/configmaps/fan/"), from)
                .await
                .unwrap();
            handles.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(total as usize);
                while (lat.len() as u64) < total {
                    let e = match tokio::time::timeout(Duration::from_secs(30), w.next()).await {
                        Ok(Some(Ok(trellis_storage::WatchItem::Event(e)))) => e,
                        Ok(Some(Ok(trellis_storage::WatchItem::Progress(_)))) => continue,
                        _ => break,
                    };
                    let t: u64 = std::str::from_utf8(&e.value[5..25])
                        .unwrap()
                        .parse()
                        .unwrap();
                    let now = epoch.elapsed().as_nanos() as u64;
                    lat.push(now.saturating_sub(t) / 1000);
                }
                lat
            }));
        }
        let body = Arc::new(payload());
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut writes = Vec::new();
        for i in 0..total {
            tick.tick().await;
            let store = store.clone();
            let body = body.clone();
            let t = epoch.elapsed().as_nanos() as u64;
            writes.push(tokio::spawn(async move {
                let key = Bytes::from(format!("core/configmaps/fan/default/e{i:08}"));
                store.create(key, value_at(&body, t), None).await.unwrap();
            }));
        }
        for w in writes {
            w.await.unwrap();
        }
        let mut all = Vec::new();
        let mut received = 0;
        for h in handles {
            let l = h.await.unwrap();
            received += l.len();
            all.extend(l);
        }
        all.sort_unstable();
        (all, received, total as usize * watchers)
    });
    println!("### Watch fan-out\n");
    println!(
        "{watchers} watchers on one prefix, {rate} writes/s for {secs} s; latency from write issue (before commit) to receipt by each watcher.\n"
    );
    println!("| deliveries | p50 | p99 | max |\n|---:|---:|---:|---:|");
    println!(
        "| {received} of {expected} | {:.2} ms | {:.2} ms | {:.2} ms |",
        percentile(&lat, 0.50) as f64 / 1e3,
        percentile(&lat, 0.99) as f64 / 1e3,
        lat.last().copied().unwrap_or(0) as f64 / 1e3
    );
    rt.block_on(store.close()).unwrap();
}
