//! Storage benchmark: `cargo bench -p trellis-storage --bench storage`.
//!
//! Measures on the current machine, in one run:
//! * fsync latency of the filesystem the stores live on (the temp dir):
//!   4 KiB written then `fdatasync`, appended and in place;
//! * durable creates/s at 1, 16 and 64 concurrent writers (1 KiB values),
//!   with the default checkpointing and with folding deferred past the run
//!   (the acknowledgement path alone), against the naive baseline "sled
//!   insert + flush per write" at the same concurrency, with the same
//!   writes, keys and sled cache size, and the ratio;
//! * listing 100k 1 KiB objects under one prefix;
//! * recovery time and RSS when reopening those objects (child process);
//! * sled's memory for values stored out of line: 100 MB written as
//!   70 KB values and as 4 KiB values, RSS of a child process each;
//! * watch fan-out: 1,000 watchers on one prefix while writing 1,000
//!   objects/s, p50/p99/max delivery latency from write issue to receipt.
//!
//! Prints a markdown report for docs/benchmarks.md. `cargo test` (which,
//! unlike `cargo bench`, does not pass `--bench`) or `BENCH_QUICK=1` runs a
//! smaller smoke version of every step; both check that every write was
//! acknowledged, every object listed and recovered, and every event
//! delivered.

use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use trellis_storage::{CheckpointConfig, ListOptions, SledConfig, SledStorage, Storage, Value};

/// A quick smoke run: `BENCH_QUICK` is set, or the binary was not started
/// by `cargo bench` (which passes `--bench`), e.g. by `cargo test`.
fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some() || !std::env::args().any(|a| a == "--bench")
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

fn key(tag: &str, writer: usize, i: usize) -> String {
    format!("core/configmaps/{tag}/default/w{writer:02}-{i:08}")
}

/// The naive baseline: `threads` OS threads, each inserting its share of
/// `total` 1 KiB values into plain sled and flushing after every insert,
/// with the keys and sled cache size of the Trellis rows.
fn naive(threads: usize, total: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(SledConfig::new(dir.path()).cache_capacity)
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
                    db.insert(key("c", t, i), body.as_slice()).unwrap();
                    db.flush().unwrap();
                }
            });
        }
    });
    let rate = (per * threads) as f64 / start.elapsed().as_secs_f64();
    assert_eq!(
        db.len(),
        per * threads,
        "naive baseline: every insert stored"
    );
    rate
}

/// Latencies (µs, sorted) of `n` times writing 4 KiB to a file in `dir`
/// and `fdatasync`: appended to a growing file, or in place.
fn fsync_latencies(dir: &std::path::Path, n: usize, append: bool) -> Vec<u64> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.join(if append { "append" } else { "in-place" }))
        .unwrap();
    let block = vec![0x5au8; 4096];
    if !append {
        f.write_all(&block).unwrap();
        f.sync_all().unwrap();
    }
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        if !append {
            f.seek(SeekFrom::Start(0)).unwrap();
        }
        let start = Instant::now();
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        lat.push(start.elapsed().as_micros() as u64);
    }
    lat.sort_unstable();
    lat
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
                let key = Bytes::from(key(&tag, w, i));
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

/// Child phase: open the store, report recovery time and RSS; check that
/// it holds `expect` objects.
fn reopen_phase(dir: &str, expect: u64) {
    let before = rss_mib();
    let start = Instant::now();
    let store = SledStorage::open(SledConfig::new(dir)).unwrap();
    let took = start.elapsed();
    let st = store.stats();
    assert_eq!(st.objects, expect, "objects recovered");
    println!(
        "Reopen (recovery) of {} objects ({:.0} MiB of values, {} history events): {took:?}; process RSS {:.0} MiB (before open: {before:.0} MiB)\n",
        st.objects,
        st.object_bytes as f64 / (1 << 20) as f64,
        st.history_events,
        rss_mib()
    );
}

/// Child phase: write `total` bytes into plain sled (the store's cache
/// size) as values of `size` bytes, flush, and print the process's RSS
/// while the database is still open.
fn blobs_phase(size: usize, total: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(SledConfig::new(dir.path()).cache_capacity)
        .open()
        .unwrap();
    let before = rss_mib();
    let value = vec![b'v'; size];
    let n = total / size;
    for i in 0..n {
        db.insert(
            format!("core/secrets/blob/default/b{i:08}"),
            value.as_slice(),
        )
        .unwrap();
        if i % 64 == 63 {
            db.flush().unwrap();
        }
    }
    db.flush().unwrap();
    assert_eq!(db.len(), n, "every value stored");
    // Let sled's background threads settle before reading RSS.
    std::thread::sleep(Duration::from_millis(if quick() { 100 } else { 2_000 }));
    println!(
        "| {n} × {size} B ({:.0} MB) | {:.0} MiB | {before:.0} MiB |",
        (n * size) as f64 / 1e6,
        rss_mib()
    );
}

/// Runs this binary again as a child for `phase` with `envs`; panics
/// unless it succeeds; returns its stdout.
fn child(phase: &str, envs: &[(&str, String)]) -> String {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(std::env::args().skip(1))
        .env("BENCH_PHASE", phase)
        .stderr(std::process::Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "child phase {phase}: {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn env_usize(name: &str) -> usize {
    std::env::var(name).unwrap().parse().unwrap()
}

fn main() {
    match std::env::var("BENCH_PHASE").as_deref() {
        Ok("reopen") => {
            reopen_phase(
                &std::env::var("BENCH_DIR").unwrap(),
                env_usize("BENCH_EXPECT") as u64,
            );
            return;
        }
        Ok("blobs") => {
            blobs_phase(
                env_usize("BENCH_VALUE_SIZE"),
                env_usize("BENCH_TOTAL_BYTES"),
            );
            return;
        }
        _ => {}
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
    let defaults = SledConfig::new("");
    println!(
        "Store settings (defaults): {} MiB sled cache, fold every {} events or {:?}, watch history {:?} on disk with {} MiB of it in memory.\n",
        defaults.cache_capacity >> 20,
        defaults.checkpoint.fold_events,
        defaults.checkpoint.fold_interval,
        defaults.history.min_age,
        defaults.history.memory_bytes >> 20
    );

    // fsync latency of the filesystem the stores below live on.
    let syncs = if quick() { 200 } else { 5_000 };
    let dir = tempfile::tempdir().unwrap();
    println!("### fsync\n");
    println!(
        "4 KiB `write` + `fdatasync` on the filesystem of the temp dir ({}), {syncs} times each.\n",
        dir.path().display()
    );
    println!("| write | p50 | p99 | max |\n|---|---:|---:|---:|");
    for (label, append) in [("appended", true), ("in place", false)] {
        let lat = fsync_latencies(dir.path(), syncs, append);
        assert_eq!(lat.len(), syncs);
        println!(
            "| {label} | {} µs | {} µs | {} µs |",
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            lat.last().unwrap()
        );
    }
    println!();
    drop(dir);

    println!("### Durable creates/s, 1 KiB values\n");
    println!(
        "Each column uses a fresh store, one after the other, so they never overlap. \"acked\" is the default store; \"incl. checkpoint\""
    );
    println!(
        "also counts the time to close it, which waits for the background checkpointer to fold everything into the object tree;"
    );
    println!(
        "\"folding deferred\" is the acknowledgement path alone (one WAL record per commit group + flush): the checkpointer"
    );
    println!(
        "folds only when the store closes, after the timing. The naive baseline (plain sled, `insert` + `flush` per write from"
    );
    println!(
        "the same number of OS threads) makes the same writes with the same keys and sled cache size.\n"
    );
    println!(
        "| writers | writes | trellis acked/s | incl. checkpoint/s | acked/s, folding deferred | naive sled insert+flush/s | ratio (acked) | ratio (deferred) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (writers, total) in [
        (1, scaled(3_000)),
        (16, scaled(30_000)),
        (64, scaled(100_000)),
    ] {
        let writes = total / writers * writers;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStorage::open(SledConfig::new(dir.path())).unwrap());
        let start = Instant::now();
        let ours = rt.block_on(trellis_creates(store.clone(), writers, total, "c"));
        rt.block_on(store.close()).unwrap();
        let with_checkpoint = writes as f64 / start.elapsed().as_secs_f64();
        assert_eq!(store.stats().objects, writes as u64, "every create stored");
        drop(store);
        drop(dir);

        let dir = tempfile::tempdir().unwrap();
        let mut config = SledConfig::new(dir.path());
        config.checkpoint = CheckpointConfig {
            fold_events: usize::MAX,
            fold_interval: Duration::from_secs(24 * 3600),
            max_pending_events: usize::MAX,
        };
        let store = Arc::new(SledStorage::open(config).unwrap());
        let deferred = rt.block_on(trellis_creates(store.clone(), writers, total, "c"));
        rt.block_on(store.close()).unwrap();
        assert_eq!(store.stats().objects, writes as u64, "every create stored");
        drop(store);
        drop(dir);

        let base = naive(writers, total);
        println!(
            "| {writers} | {writes} | {ours:.0} | {with_checkpoint:.0} | {deferred:.0} | {base:.0} | {:.1}x | {:.1}x |",
            ours / base,
            deferred / base
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
    println!("### Restart\n");
    print!(
        "{}",
        child(
            "reopen",
            &[
                ("BENCH_DIR", dir.path().display().to_string()),
                ("BENCH_EXPECT", (n / 64 * 64).to_string()),
            ],
        )
    );
    drop(dir);

    // What sled keeps in memory of values stored out of line ("blobs"),
    // each size in a fresh process.
    let blob_bytes = if quick() { 10_000_000 } else { 100_000_000 };
    println!("### sled memory by value size\n");
    println!(
        "Plain sled with the store's cache size; {:.0} MB written as values of one size, flushed, RSS while the database is open.\n",
        blob_bytes as f64 / 1e6
    );
    println!("| values | RSS | RSS before writing |\n|---|---:|---:|");
    for size in [70_000usize, 4_096] {
        print!(
            "{}",
            child(
                "blobs",
                &[
                    ("BENCH_VALUE_SIZE", size.to_string()),
                    ("BENCH_TOTAL_BYTES", blob_bytes.to_string()),
                ],
            )
        );
    }
    println!();

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
    assert_eq!(received, expected, "every watcher received every event");
}
