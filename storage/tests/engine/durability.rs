//! Durability proved, not assumed.
//!
//! * `acknowledgements_follow_fdatasync`: a child process writes one key at
//!   a time under `strace`; every append to a log segment is followed by an
//!   `fdatasync` of that segment, and every acknowledgement (the child's
//!   line on stdout) comes after the `fdatasync` covering it returned.
//! * `power_loss_loses_no_acknowledged_write`: a child writes from 16 tasks
//!   and reports, through the engine's sync observer, the durable length of
//!   each segment after every sync. The parent SIGKILLs it, then does what
//!   a power loss would to the log: throws away every byte past the last
//!   reported durable length (and drops segments whose creation was never
//!   synced), and leaves a torn, half-written frame at the tail. Every
//!   acknowledged write must survive. (SIGKILL alone proves little: the
//!   page cache survives it.) The checkpoint in sled is not rolled back:
//!   it only ever holds what the log already made durable, and log
//!   segments are deleted only after it is synced (`syncfs`).
//!
//! Cycles: `TRELLIS_POWER_CYCLES` (default 5; docs/testing.md has the long
//! run).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use trellis_storage::testing::{parse, value};
use trellis_storage::{SledConfig, SledStorage, Storage, SyncObserver};

use super::{crash_config, cycles_and_seed, key, next_random, run_and_kill};

const DIR: &str = "TRELLIS_DURABILITY_DIR";
const CYCLE: &str = "TRELLIS_DURABILITY_CYCLE";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Syscalls.
// ---------------------------------------------------------------------------

const SEQUENTIAL_WRITES: u64 = 200;

#[test]
#[ignore = "child process of acknowledgements_follow_fdatasync"]
fn sync_child() {
    let Ok(dir) = std::env::var(DIR) else { return };
    runtime().block_on(async move {
        let s = SledStorage::open(SledConfig::new(&dir)).unwrap();
        for i in 0..SEQUENTIAL_WRITES {
            let rec = s
                .create(key(&format!("g/r/c/ns/k{i}")), value(i), None)
                .await
                .unwrap();
            // One write(2) per acknowledgement, recognisable in the trace.
            let line = format!("@@ACK {}\n", rec.revision);
            std::io::stdout().write_all(line.as_bytes()).unwrap();
            std::io::stdout().flush().unwrap();
        }
        s.close().await.unwrap();
    });
}

/// What the trace says about one syscall line of `strace -f -y`.
#[derive(Debug, PartialEq)]
enum Call {
    /// An append to a log segment started.
    Append,
    /// An `fdatasync` of a log segment returned 0.
    Synced,
    /// An acknowledgement line was written.
    Ack,
    Other,
}

fn classify(line: &str, pending_sync: &mut std::collections::HashSet<String>) -> Call {
    // strace -f prefixes each line with the thread id; a call another
    // thread interrupts is split into `… <unfinished ...>` and
    // `<... name resumed>…` lines, and only the first names the file.
    let pid = line.split_whitespace().next().unwrap_or("").to_string();
    let segment = line.contains(".log>");
    if segment && line.contains("pwrite64(") && !line.contains("resumed>") {
        Call::Append
    } else if segment && line.contains("fdatasync(") && line.contains("<unfinished ...>") {
        pending_sync.insert(pid);
        Call::Other
    } else if segment && line.contains("fdatasync(") && line.trim_end().ends_with("= 0") {
        Call::Synced
    } else if line.contains("<... fdatasync resumed>") && pending_sync.remove(&pid) {
        if line.trim_end().ends_with("= 0") {
            Call::Synced
        } else {
            Call::Other
        }
    } else if line.contains("write(1") && line.contains("@@ACK") {
        Call::Ack
    } else {
        Call::Other
    }
}

/// Checks the order of appends, syncs and acknowledgements; returns
/// (appends, syncs, acks).
fn check_trace(trace: &str) -> (usize, usize, usize) {
    let (mut appends, mut syncs, mut acks) = (0, 0, 0);
    // Is there an append not yet covered by a completed fdatasync?
    let mut unsynced = false;
    // Acknowledgements the completed syncs allow (one writer: one per sync).
    let mut allowed = 0usize;
    let mut pending_sync = std::collections::HashSet::new();
    for line in trace.lines() {
        match classify(line, &mut pending_sync) {
            Call::Append => {
                appends += 1;
                unsynced = true;
            }
            Call::Synced => {
                syncs += 1;
                if unsynced {
                    allowed += 1;
                }
                unsynced = false;
            }
            Call::Ack => {
                acks += 1;
                assert!(
                    acks <= allowed,
                    "acknowledgement {acks} written before the fdatasync covering it returned: {line}"
                );
            }
            Call::Other => {}
        }
    }
    (appends, syncs, acks)
}

#[test]
fn acknowledgements_follow_fdatasync() {
    let strace = which("strace").expect(
        "strace is needed to count sync system calls; tests/run.sh installs it (apt-get install strace)",
    );
    let dir = tempfile::tempdir().unwrap();
    let trace_file = dir.path().join("trace");
    let data = dir.path().join("db");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(strace)
        .args(["-f", "-qq", "-y", "-s", "32", "-e"])
        .arg("trace=pwrite64,fdatasync,fsync,syncfs,write")
        .arg("-o")
        .arg(&trace_file)
        .arg(exe)
        .args([
            "durability::sync_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR, &data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acked = stdout.matches("@@ACK").count();
    assert_eq!(acked as u64, SEQUENTIAL_WRITES, "{stdout}");
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let (appends, syncs, acks) = check_trace(&trace);
    assert_eq!(
        acks as u64, SEQUENTIAL_WRITES,
        "every acknowledgement traced"
    );
    // One writer at a time: one group, one append, one sync per write.
    assert!(
        appends as u64 >= SEQUENTIAL_WRITES,
        "{appends} appends for {SEQUENTIAL_WRITES} writes"
    );
    assert!(
        syncs >= appends,
        "{syncs} fdatasync calls for {appends} appends"
    );
    eprintln!("sync trace: {appends} appends, {syncs} fdatasync, {acks} acknowledgements");
}

#[test]
fn the_trace_check_catches_an_early_acknowledgement() {
    let good = "1 pwrite64(5</d/wal/01.log>, \"x\", 1, 0) = 1\n\
                2 fdatasync(5</d/wal/01.log>) = 0\n\
                1 write(1</dev/pts/0>, \"@@ACK 1\\n\", 8) = 8\n";
    assert_eq!(check_trace(good), (1, 1, 1));
    let early = "1 pwrite64(5</d/wal/01.log>, \"x\", 1, 0) = 1\n\
                 2 fdatasync(5</d/wal/01.log> <unfinished ...>\n\
                 1 write(1</dev/pts/0>, \"@@ACK 1\\n\", 8) = 8\n\
                 2 <... fdatasync resumed>) = 0\n";
    let caught = std::panic::catch_unwind(|| check_trace(early));
    assert!(caught.is_err(), "an ack during the fdatasync must fail");
    // The same sync, interrupted by another thread's unrelated call, and
    // the ack after it resumed.
    let split = "1 pwrite64(5</d/wal/01.log>, \"x\", 1, 0) = 1\n\
                 2 fdatasync(5</d/wal/01.log> <unfinished ...>\n\
                 3 write(2</dev/null>, \"log\", 3) = 3\n\
                 2 <... fdatasync resumed>) = 0\n\
                 1 write(1</dev/pts/0>, \"@@ACK 1\\n\", 8) = 8\n";
    assert_eq!(check_trace(split), (1, 1, 1));
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------
// Power loss.
// ---------------------------------------------------------------------------

const WRITERS: u64 = 16;
/// Acknowledged writes a cycle waits for before its random kill moment.
const MIN_ACKED: usize = 100;

#[test]
#[ignore = "child process of power_loss_loses_no_acknowledged_write"]
fn power_child() {
    let Ok(dir) = std::env::var(DIR) else { return };
    let cycle: u64 = std::env::var(CYCLE).unwrap().parse().unwrap();
    let mut config = crash_config(Path::new(&dir));
    // Small segments, so kills land around segment rolls and deletions too.
    config.segment_bytes = 64 << 10;
    config.sync_observer = Some(SyncObserver(Arc::new(|path: &Path, len: u64| {
        // Printed before the writers of this group are acknowledged.
        println!("@@ S {} {len}", path.display());
    })));
    runtime().block_on(async move {
        let s = Arc::new(SledStorage::open(config).unwrap());
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let k = format!("g/power/c/ns/c{cycle}-w{w}-{i}");
                    let rec = s.create(key(&k), value(i), None).await.unwrap();
                    println!("@@ C {k} {}", rec.revision);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// Does to the log what a power loss after the last reported sync would.
fn lose_power(wal: &Path, durable: &HashMap<PathBuf, u64>, rng: &mut u64) {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let newest = segments.last().cloned();
    for seg in segments {
        let Some(&len) = durable.get(&seg) else {
            // Its creation was never synced: the directory entry is gone.
            std::fs::remove_file(&seg).unwrap();
            continue;
        };
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len).unwrap();
        if Some(&seg) == newest.as_ref() {
            // A torn frame: a plausible length and part of its bytes.
            let n = 1 + (next_random(rng) % 300) as usize;
            let mut torn = vec![0u8; 4 + n];
            torn[..4].copy_from_slice(&(n as u32 * 2).to_le_bytes());
            for b in &mut torn[4..] {
                *b = next_random(rng) as u8;
            }
            std::os::unix::fs::FileExt::write_all_at(&f, &torn, len).unwrap();
        }
    }
}

#[test]
fn power_loss_loses_no_acknowledged_write() {
    let (cycles, mut rng) = cycles_and_seed("TRELLIS_POWER_CYCLES", 5);
    let dir = tempfile::tempdir().unwrap();
    // Key → acknowledged revision, over all cycles.
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let mut lost_unacked = 0usize;
    let rt = runtime();
    let wal = dir.path().join("wal");
    for cycle in 0..cycles {
        // What the last cycle's clean close left is durable as it is.
        let mut durable: HashMap<PathBuf, u64> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&wal) {
            for e in entries {
                let e = e.unwrap();
                durable.insert(e.path(), e.metadata().unwrap().len());
            }
        }
        let lines = run_and_kill(
            "durability::power_child",
            &[
                (DIR, dir.path().to_str().unwrap()),
                (CYCLE, &cycle.to_string()),
            ],
            MIN_ACKED,
            |l| l.starts_with("C "),
            next_random(&mut rng) % 300,
            cycle,
        );
        let mut this_cycle = 0usize;
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["S", path, len] => {
                    durable.insert(PathBuf::from(path), len.parse().unwrap());
                }
                ["C", k, rev] => {
                    acked.insert(k.to_string(), rev.parse().unwrap());
                    this_cycle += 1;
                }
                other => panic!("cycle {cycle}: a line the child never prints: {other:?}"),
            }
        }
        assert!(this_cycle >= MIN_ACKED);
        assert!(
            lines.iter().any(|l| l.starts_with("S ")),
            "cycle {cycle}: no sync was reported"
        );
        lose_power(&wal, &durable, &mut rng);

        rt.block_on(async {
            let s = SledStorage::open(crash_config(dir.path())).unwrap_or_else(|e| {
                panic!("cycle {cycle}: the store must open after a power loss: {e}")
            });
            let max = acked.values().copied().max().unwrap_or(0);
            assert!(
                s.current_revision() >= max,
                "cycle {cycle}: revision went back"
            );
            for (k, rev) in &acked {
                let rec = s.get(k.as_bytes()).await.unwrap().unwrap_or_else(|| {
                    panic!("cycle {cycle}: acknowledged write {k} (revision {rev}) lost")
                });
                assert_eq!(rec.revision, *rev, "cycle {cycle}: {k}");
                assert_eq!(parse(&rec.value).1, *rev);
            }
            // Whatever was written but not acknowledged may or may not be
            // there; count what the simulated power loss took.
            let listed = s
                .list(trellis_storage::ListOptions {
                    prefix: key(&format!("g/power/c/ns/c{cycle}-")),
                    ..Default::default()
                })
                .await
                .unwrap();
            let here = listed.items.len();
            let acked_here = acked
                .keys()
                .filter(|k| k.contains(&format!("/c{cycle}-")))
                .count();
            assert!(here >= acked_here);
            lost_unacked += here - acked_here;
            s.close().await.unwrap();
        });
    }
    eprintln!(
        "power-loss test: {cycles} cycles, {} acknowledged writes verified, {lost_unacked} unacknowledged writes survived",
        acked.len()
    );
}
