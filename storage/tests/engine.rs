//! Integration tests of the sled engine: the conformance suite, restarts,
//! a crash test that SIGKILLs a writer process at random moments, and the
//! durability tests (`engine/durability.rs`: syscall order under strace,
//! simulated power loss) and watch history served from the log
//! (`engine/history.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

#[path = "engine/durability.rs"]
mod durability;
#[path = "engine/history.rs"]
mod history;
use trellis_storage::testing::{self, Backend, SuiteConfig, next_event, parse, value};
use trellis_storage::{
    CheckpointConfig, HistoryConfig, ListOptions, Preconditions, SledConfig, SledStorage, Storage,
};

struct Sled {
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

impl Backend for Sled {
    fn open(
        &self,
        config: SuiteConfig,
    ) -> Pin<Box<dyn Future<Output = Arc<dyn Storage>> + Send + '_>> {
        Box::pin(async move {
            let dir = tempfile::tempdir().unwrap();
            let mut c = SledConfig::new(dir.path());
            c.history = HistoryConfig {
                min_events: config.history_events,
                max_events: config.history_events,
                ..Default::default()
            };
            c.watch_queue = config.watch_queue;
            c.progress_interval = Duration::from_millis(200);
            self.dirs.lock().unwrap().push(dir);
            Arc::new(SledStorage::open(c).unwrap()) as Arc<dyn Storage>
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    testing::run_all(&Sled {
        dirs: Mutex::new(Vec::new()),
    })
    .await;
}

fn key(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_revision_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let (last, mid) = {
        let s = SledStorage::open_path(dir.path()).unwrap();
        let mut revs = Vec::new();
        for i in 0..100u64 {
            revs.push(
                s.create(key(&format!("g/r/c/ns/k{i:03}")), value(i), None)
                    .await
                    .unwrap()
                    .revision,
            );
        }
        let upd = s
            .update(key("g/r/c/ns/k000"), value(1000), Some(revs[0]))
            .await
            .unwrap();
        let del = s
            .delete(key("g/r/c/ns/k001"), Preconditions::default())
            .await
            .unwrap();
        assert!(del.revision > upd.revision);
        s.close().await.unwrap();
        (del.revision, revs[49])
    };
    let s = SledStorage::open_path(dir.path()).unwrap();
    assert_eq!(
        s.current_revision(),
        last,
        "revision continues where it was"
    );
    let page = s
        .list(ListOptions {
            prefix: key("g/r/c/"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 99);
    assert_eq!(
        parse(&s.get(b"g/r/c/ns/k000").await.unwrap().unwrap().value).0,
        1000
    );
    assert!(s.get(b"g/r/c/ns/k001").await.unwrap().is_none());
    // The history survived: a watch resumes from before the restart.
    let mut w = s.watch(key("g/r/c/"), mid).await.unwrap();
    let mut got = Vec::new();
    while got.len() < (last - mid) as usize {
        let e = next_event(&mut w).await;
        got.push(e.revision);
    }
    assert_eq!(got, (mid + 1..=last).collect::<Vec<_>>());
    let next = s.create(key("g/r/c/ns/new"), value(1), None).await.unwrap();
    assert_eq!(
        next.revision,
        last + 1,
        "no revision is reused after restart"
    );
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_compaction_and_checkpoint_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = SledConfig::new(dir.path());
    c.history = HistoryConfig {
        min_events: 50,
        max_events: 50,
        ..Default::default()
    };
    c.checkpoint = CheckpointConfig {
        fold_events: 150,
        fold_interval: Duration::from_millis(50),
        max_pending_events: 1000,
    };
    // Small segments, as the log is deleted a segment at a time (once the
    // 50-event history window has left it).
    c.segment_bytes = 4_096;
    let last = {
        let s = SledStorage::open(c.clone()).unwrap();
        for round in 0..5u64 {
            for i in 0..200u64 {
                let k = key(&format!("g/r/c/ns/k{i:03}"));
                if round == 0 {
                    s.create(k, value(i), None).await.unwrap();
                } else {
                    s.update(k, value(round * 1000 + i), None).await.unwrap();
                }
            }
        }
        // Let a checkpoint catch up with the last writes, then write a few
        // more so the WAL gets compacted past it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.checkpoint_revision() + 150 < s.current_revision() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(s.checkpoint_revision() > 0, "a checkpoint was written");
        for i in 0..10u64 {
            s.update(key(&format!("g/r/c/ns/k{i:03}")), value(4000 + i), None)
                .await
                .unwrap();
        }
        let st = s.stats();
        assert_eq!(st.objects, 200);
        assert!(st.history_events <= 50);
        assert!(st.compacted_revision >= st.revision - 50);
        assert!(
            s.wal_records() < 300,
            "WAL compacted behind the checkpoint: {} records",
            s.wal_records()
        );
        s.close().await.unwrap();
        st.revision
    };
    let s = SledStorage::open(c).unwrap();
    assert_eq!(s.current_revision(), last);
    for i in 0..200u64 {
        let rec = s
            .get(format!("g/r/c/ns/k{i:03}").as_bytes())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(parse(&rec.value).0, 4000 + i);
    }
    let st = s.stats();
    assert!(st.history_events <= 50 && st.history_events > 0);
    assert!(matches!(
        s.watch(key("g/"), 1).await,
        Err(trellis_storage::Error::Expired { .. })
    ));
    s.close().await.unwrap();
}

// ---------------------------------------------------------------------------
// Crash test. The parent re-executes this test binary running `crash_child`,
// which writes concurrently and prints one line per acknowledged write. The
// parent SIGKILLs it at a random moment once it has acknowledged at least
// MIN_ACKED_PER_CYCLE writes, checks that the SIGKILL is what ended it (not
// a panic or an early exit, which would leave little to verify), reopens
// the store and checks every acknowledged write. Cycles:
// TRELLIS_CRASH_CYCLES (default 5; the full run documented in
// docs/benchmarks.md uses 100).
// ---------------------------------------------------------------------------

const CHILD_DIR: &str = "TRELLIS_CRASH_DIR";
const CHILD_CYCLE: &str = "TRELLIS_CRASH_CYCLE";
/// Acknowledged writes a cycle waits for before its random kill moment.
const MIN_ACKED_PER_CYCLE: usize = 1_000;

#[test]
#[ignore = "child process of crash_recovery_after_sigkill"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let cycle: u64 = std::env::var(CHILD_CYCLE).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let s = Arc::new(SledStorage::open(crash_config(std::path::Path::new(&dir))).unwrap());
        println!("\n@@ READY");
        let mut tasks = Vec::new();
        for w in 0..16u64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let counter = key(&format!("g/counter/c/ns/w{w}"));
                for i in 0.. {
                    let k = format!("g/obj/c/ns/c{cycle}-w{w}-{i}");
                    let rec = s.create(key(&k), value(i), None).await.unwrap();
                    println!("@@ C {k} {}", rec.revision);
                    if i % 3 == 0 {
                        let (n, rec) = match s.get(&counter).await.unwrap() {
                            None => (0, s.create(counter.clone(), value(0), None).await),
                            Some(cur) => {
                                let n = parse(&cur.value).0 + 1;
                                (
                                    n,
                                    s.update(counter.clone(), value(n), Some(cur.revision))
                                        .await,
                                )
                            }
                        };
                        let rec = rec.unwrap();
                        println!(
                            "@@ U {} {} {n}",
                            String::from_utf8_lossy(&counter),
                            rec.revision
                        );
                    }
                    if i % 5 == 4 {
                        let k = format!("g/obj/c/ns/c{cycle}-w{w}-{}", i - 2);
                        let rec = s.delete(key(&k), Preconditions::default()).await.unwrap();
                        println!("@@ D {k} {}", rec.revision);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[derive(Default)]
struct Acked {
    created: HashMap<String, u64>,
    deleted: HashMap<String, u64>,
    counters: HashMap<String, (u64, u64)>,
    revisions: HashSet<u64>,
}

/// `var` as a cycle count, `default` when unset; and a seed for
/// [`next_random`] from the clock (the cycles' kill moments differ per run).
fn cycles_and_seed(var: &str, default: u64) -> (u64, u64) {
    let cycles = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    (cycles, seed)
}

fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs the ignored test `test` of this binary as a child with `env`,
/// collects the lines it prints after `@@ ` (only complete ones: a line the
/// kill cut off was never acknowledged to us; `READY` left out), waits
/// until `min` of them satisfy `counts`, then another `delay_ms` and
/// SIGKILLs it. Fails the cycle unless the SIGKILL is what ended the child
/// and it wrote nothing to stderr (a panic or an early exit would leave
/// little to verify).
fn run_and_kill(
    test: &str,
    env: &[(&str, &str)],
    min: usize,
    counts: fn(&str) -> bool,
    delay_ms: u64,
    cycle: u64,
) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match out.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let Some(line) = buf.strip_suffix(b"\n") else {
                    break;
                };
                let line = String::from_utf8_lossy(line);
                // libtest may print its banner on the same line as ours.
                let Some(at) = line.find("@@ ") else { continue };
                let line = &line[at + 3..];
                if line != "READY" {
                    lines.lock().unwrap().push(line.to_string());
                }
            }
        })
    };
    let counted =
        |lines: &Mutex<Vec<String>>| lines.lock().unwrap().iter().filter(|l| counts(l)).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while counted(&lines) < min {
        if Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!(
                "cycle {cycle}: {} acknowledged, {min} expected; the child ended with {status}: {}",
                counted(&lines),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "cycle {cycle}: the child ended with {status} before the kill: {stderr}"
    );
    assert!(
        stderr.is_empty(),
        "cycle {cycle}: the child wrote to stderr: {stderr}"
    );
    let lines = std::mem::take(&mut *lines.lock().unwrap());
    assert!(counted(&Mutex::new(lines.clone())) >= min);
    lines
}

#[test]
fn crash_recovery_after_sigkill() {
    let (cycles, mut rng) = cycles_and_seed("TRELLIS_CRASH_CYCLES", 5);
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Acked::default();
    let mut total_acked = 0usize;
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for cycle in 0..cycles {
        let lines = run_and_kill(
            "crash_child",
            &[
                (CHILD_DIR, dir.path().to_str().unwrap()),
                (CHILD_CYCLE, &cycle.to_string()),
            ],
            MIN_ACKED_PER_CYCLE,
            |_| true,
            next_random(&mut rng) % 400,
            cycle,
        );
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["C", k, rev] => {
                    let rev: u64 = rev.parse().unwrap();
                    assert!(
                        acked.revisions.insert(rev),
                        "revision {rev} acknowledged twice"
                    );
                    acked.created.insert(k.to_string(), rev);
                }
                ["D", k, rev] => {
                    let rev: u64 = rev.parse().unwrap();
                    assert!(
                        acked.revisions.insert(rev),
                        "revision {rev} acknowledged twice"
                    );
                    acked.deleted.insert(k.to_string(), rev);
                }
                ["U", k, rev, n] => {
                    let (rev, n): (u64, u64) = (rev.parse().unwrap(), n.parse().unwrap());
                    assert!(
                        acked.revisions.insert(rev),
                        "revision {rev} acknowledged twice"
                    );
                    let e = acked.counters.entry(k.to_string()).or_insert((0, 0));
                    if n >= e.0 {
                        *e = (n, rev);
                    }
                }
                other => panic!("cycle {cycle}: a line the child never prints: {other:?}"),
            }
        }
        total_acked += lines.len();
        rt.block_on(verify(dir.path(), &acked, cycle));
    }
    // Every kind of write was acknowledged, and so checked after a crash.
    assert!(
        !acked.created.is_empty() && !acked.deleted.is_empty() && !acked.counters.is_empty(),
        "creates {}, deletes {}, counters {}",
        acked.created.len(),
        acked.deleted.len(),
        acked.counters.len()
    );
    assert!(total_acked >= cycles as usize * MIN_ACKED_PER_CYCLE);
    eprintln!(
        "crash test: {cycles} SIGKILL cycles, {total_acked} acknowledged writes verified, {} distinct revisions, {:?}",
        acked.revisions.len(),
        started.elapsed()
    );
}

/// Checkpoints and WAL compaction happen every few thousand writes, so that
/// kills land in the middle of them too.
fn crash_config(dir: &std::path::Path) -> SledConfig {
    let mut c = SledConfig::new(dir);
    c.checkpoint = CheckpointConfig {
        fold_events: 3_000,
        fold_interval: Duration::from_millis(100),
        max_pending_events: 20_000,
    };
    c.history = HistoryConfig {
        min_events: 5_000,
        max_events: 5_000,
        ..Default::default()
    };
    c
}

/// `(cycle, worker, index)` of a `g/obj/c/ns/c{cycle}-w{worker}-{index}` key.
fn object_index(k: &str) -> (u64, u64, u64) {
    let name = k.rsplit('/').next().unwrap();
    let mut parts = name.split('-');
    let c = parts.next().unwrap()[1..].parse().unwrap();
    let w = parts.next().unwrap()[1..].parse().unwrap();
    let i = parts.next().unwrap().parse().unwrap();
    (c, w, i)
}

async fn verify(dir: &std::path::Path, acked: &Acked, cycle: u64) {
    let s = SledStorage::open(crash_config(dir))
        .unwrap_or_else(|e| panic!("cycle {cycle}: store must open after SIGKILL: {e}"));
    let current = s.current_revision();
    let max_acked = acked.revisions.iter().copied().max().unwrap_or(0);
    assert!(
        current >= max_acked,
        "cycle {cycle}: revision went back from {max_acked} to {current}"
    );
    // Each worker has at most one write in flight when killed. A delete of
    // key j is issued right after the create of j+2 was acknowledged, so that
    // key may be gone without an acknowledged delete: the delete reached disk
    // but its acknowledgement did not reach us. Nothing else may be missing.
    let mut last_index: HashMap<(u64, u64), u64> = HashMap::new();
    for k in acked.created.keys() {
        let (c, w, i) = object_index(k);
        let e = last_index.entry((c, w)).or_insert(0);
        *e = (*e).max(i);
    }
    for (k, rev) in &acked.created {
        match acked.deleted.get(k) {
            Some(_) => assert!(
                s.get(k.as_bytes()).await.unwrap().is_none(),
                "cycle {cycle}: acked delete of {k} lost"
            ),
            None => {
                let (c, w, i) = object_index(k);
                let in_flight_delete =
                    (i + 2) % 5 == 4 && last_index.get(&(c, w)) == Some(&(i + 2));
                let Some(rec) = s.get(k.as_bytes()).await.unwrap() else {
                    assert!(in_flight_delete, "cycle {cycle}: acked create of {k} lost");
                    continue;
                };
                assert_eq!(
                    rec.revision, *rev,
                    "cycle {cycle}: {k} has the wrong revision"
                );
                assert_eq!(parse(&rec.value).1, *rev);
            }
        }
    }
    for (k, (n, rev)) in &acked.counters {
        let rec = s
            .get(k.as_bytes())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("cycle {cycle}: counter {k} lost"));
        let (have, have_rev) = parse(&rec.value);
        assert!(
            have >= *n,
            "cycle {cycle}: counter {k} went back from {n} to {have}"
        );
        if have == *n {
            assert_eq!(have_rev, *rev);
        }
    }
    // The retained history delivers a gap-free tail across the restart.
    let from = s
        .stats()
        .compacted_revision
        .max(current.saturating_sub(2000));
    let mut w = s.watch(key("g/"), from).await.unwrap();
    let mut expect = from + 1;
    while expect <= current {
        let e = next_event(&mut w).await;
        assert_eq!(
            e.revision, expect,
            "cycle {cycle}: gap in watch after restart"
        );
        expect += 1;
    }
    // New writes continue above everything acknowledged before.
    let rec = s
        .create(key(&format!("g/probe/c/ns/after-{cycle}")), value(0), None)
        .await
        .unwrap();
    assert_eq!(rec.revision, current + 1);
    // Listing agrees with point reads: every acknowledged, undeleted create
    // is in the list with its revision.
    let all = s
        .list(ListOptions {
            prefix: key("g/obj/"),
            ..Default::default()
        })
        .await
        .unwrap();
    let live: BTreeMap<_, _> = all
        .items
        .iter()
        .map(|r| (String::from_utf8(r.key.to_vec()).unwrap(), r.revision))
        .collect();
    for (k, rev) in &acked.created {
        if let Some(have) = live.get(k) {
            assert_eq!(have, rev, "cycle {cycle}: list disagrees on {k}");
        } else {
            assert!(acked.deleted.contains_key(k) || s.get(k.as_bytes()).await.unwrap().is_none());
        }
    }
    s.close().await.unwrap();
}

/// The embedded store tracks a watched prefix exactly: `last_change` is
/// the newest change under it (so a cache waits for nothing else), and
/// follows deletes and updates; an untracked prefix reports the current
/// revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_prefixes_report_their_newest_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStorage::open_path(dir.path()).unwrap();
    let before = s
        .create(key("rbac/roles/c1/ns/a"), value(1), None)
        .await
        .unwrap()
        .revision;
    s.create(key("other/r/c1/ns/x"), value(2), None)
        .await
        .unwrap();
    // Tracking starts late: the change already in the ring is found.
    s.track(&key("rbac/roles/"));
    assert_eq!(s.last_change(b"rbac/roles/"), before);
    for i in 0..5u64 {
        s.create(key(&format!("other/r/c1/ns/k{i}")), value(i), None)
            .await
            .unwrap();
    }
    assert_eq!(s.last_change(b"rbac/roles/"), before);
    assert_eq!(s.last_change(b"other/r/"), s.current_revision());
    let updated = s
        .update(key("rbac/roles/c1/ns/a"), value(3), None)
        .await
        .unwrap()
        .revision;
    assert_eq!(s.last_change(b"rbac/roles/"), updated);
    let deleted = s
        .delete(key("rbac/roles/c1/ns/a"), Preconditions::default())
        .await
        .unwrap()
        .revision;
    s.create(key("other/r/c1/ns/y"), value(4), None)
        .await
        .unwrap();
    assert_eq!(s.last_change(b"rbac/roles/"), deleted);
    // Tracking twice changes nothing.
    s.track(&key("rbac/roles/"));
    assert_eq!(s.last_change(b"rbac/roles/"), deleted);
    s.close().await.unwrap();
}
