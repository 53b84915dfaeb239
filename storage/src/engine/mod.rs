//! The embedded engine: a write-ahead log of our own plus a checkpoint in
//! sled.
//!
//! Layout of the data directory:
//!
//! * `wal/`: segment files with one record per commit group, holding every
//!   event of the group (see [`crate::log`] and [`crate::wal`]). A write is
//!   acknowledged once the `fdatasync` covering its record returned.
//! * the sled database, tree `objects`: the checkpoint — every live key with
//!   its record, plus the `applied` marker saying up to which revision it is
//!   complete. Written lazily in the background by the checkpointer, never
//!   on the acknowledgement path, and synced to the device (`syncfs`) before
//!   any log segment it replaces is deleted. Recovery loads it and replays
//!   the log after it.
//!
//! In memory: the published [`Snapshot`](crate::snapshot) (all reads), the
//! ring of recent events in the [`Hub`](crate::hub) (watches, past-revision
//! lists), bounded by `HistoryConfig::memory_bytes`. Older retained history
//! is read back from the log's segments ([`crate::replay`]).
//!
//! Threads (none per watcher, none per workspace): the committer, the
//! checkpointer and the dispatcher.
//!
//! Why not "one sled insert per object plus one per event, flushed per
//! batch"? On the reference machine a 1 KiB sled insert costs ~8 µs of CPU,
//! a sled `Batch` takes a database-wide write lock, and sled's flush does
//! not reach the device (`sync_file_range`). The acknowledged path is one
//! append and one `fdatasync` per *group*; the per-object inserts move to
//! the checkpointer, which coalesces them and runs off that path.
//!
//! The log doubles as the retained watch history: a segment is deleted once
//! it is checkpointed *and* the history window (`HistoryConfig`: ten
//! minutes by default, capped in events and bytes) has moved past it, so a
//! watch can resume from anywhere in the window, across restarts too.
//! Object records are small and live in sled's bounded page cache.

mod checkpoint;
mod commit;
mod recovery;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

pub use self::checkpoint::CheckpointConfig;
use self::commit::{Committer, Op, Request};
use crate::hub::{HistoryConfig, Hub, Registration};
use crate::log::{Log, OnRecord};
use crate::segments::SegmentIndex;
use crate::snapshot::{self, Snapshot};
use crate::wal::WalBatch;
use crate::{
    Error, EventStream, ListOptions, ListResult, Preconditions, ReadAt, Record, Result, Stats,
    Storage, Value,
};

/// Settings of the sled engine.
#[derive(Clone, Debug)]
pub struct SledConfig {
    pub path: PathBuf,
    pub history: HistoryConfig,
    /// Events a watcher may have queued before it is terminated as too slow.
    pub watch_queue: usize,
    /// Largest commit group, in operations and in bytes.
    pub max_batch_ops: usize,
    pub max_batch_bytes: usize,
    /// When the background checkpointer folds the log into the object tree.
    pub checkpoint: CheckpointConfig,
    /// How often watchers get a progress notification.
    pub progress_interval: std::time::Duration,
    /// sled's page cache. Reads are served from memory snapshots, so this
    /// only needs to hold the checkpoint's working set.
    pub cache_capacity: u64,
    /// Preallocated size of a write-ahead log segment; the log is deleted a
    /// whole segment at a time.
    pub segment_bytes: u64,
    /// Sees every durable log length (the power-loss test throws away
    /// whatever lies beyond it).
    pub sync_observer: Option<crate::log::SyncObserver>,
    /// How long opening waits for another holder of the directory's lock to
    /// let go (as bbolt's `Options.Timeout`): sled releases it from its own
    /// threads shortly after a store in the same process closes.
    pub lock_timeout: std::time::Duration,
}

impl SledConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SledConfig {
            path: path.into(),
            history: HistoryConfig::default(),
            watch_queue: 10_000,
            max_batch_ops: 1024,
            max_batch_bytes: 16 << 20,
            checkpoint: CheckpointConfig::default(),
            progress_interval: std::time::Duration::from_secs(5),
            cache_capacity: 16 << 20,
            segment_bytes: 16 << 20,
            sync_observer: None,
            lock_timeout: std::time::Duration::from_secs(10),
        }
    }
}

struct Threads {
    committer: JoinHandle<()>,
    checkpointer: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
}

/// Opens the log, first moving the records of a store written before the
/// segment log (a sled tree `wal`) into it. The old tree is dropped only
/// once the segments holding its records are synced, so a crash midway
/// repeats the move from scratch.
fn migrate_sled_wal(
    db: &sled::Db,
    config: &SledConfig,
    wal_dir: &Path,
    on_record: &mut OnRecord<'_>,
) -> Result<Log> {
    let open = |on_record: &mut OnRecord<'_>| {
        Log::open(
            wal_dir,
            config.segment_bytes,
            true,
            config.sync_observer.clone(),
            on_record,
        )
    };
    if !db.tree_names().iter().any(|n| n.as_ref() == b"wal") {
        return open(on_record);
    }
    let old = db.open_tree("wal")?;
    if !old.is_empty() {
        // Segments from an interrupted earlier move are partial copies.
        if wal_dir.exists() {
            std::fs::remove_dir_all(wal_dir)
                .map_err(|e| Error::Engine(format!("clearing {}: {e}", wal_dir.display())))?;
        }
        let mut log = open(&mut |_, _, _| Ok(()))?;
        let mut moved = 0usize;
        for item in old.iter() {
            let (_, v) = item?;
            let batch = crate::wal::decode(Bytes::copy_from_slice(&v))?;
            log.append(batch.first_revision, &v)?;
            moved += 1;
        }
        drop(log);
        crate::log::sync_dir(wal_dir)?;
        tracing::info!(records = moved, "moved the write-ahead log out of sled");
    }
    drop(old);
    db.drop_tree("wal")?;
    db.flush()?;
    crate::log::sync_filesystem(&config.path)?;
    open(on_record)
}

/// The sled-backed [`Storage`].
pub struct SledStorage {
    db: sled::Db,
    segments: Arc<SegmentIndex>,
    published: Arc<ArcSwap<Snapshot>>,
    hub: Arc<Hub>,
    applied: Arc<AtomicU64>,
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    threads: Mutex<Option<Threads>>,
    failed: Arc<AtomicBool>,
}

/// Whether opening sled failed because another handle holds its lock.
/// sled reports that as `ErrorKind::Other` with the OS error only in the
/// message ("could not acquire lock on ...: Os { code: 11, kind:
/// WouldBlock, .. }"), so the kind alone never matches.
fn lock_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || (e.kind() == std::io::ErrorKind::Other
            && e.to_string().starts_with("could not acquire lock on"))
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| Error::Engine(format!("spawning {name}: {e}")))
}

impl SledStorage {
    /// Opens (or creates) a store, recovering everything acknowledged before
    /// the last shutdown or crash.
    pub fn open(config: SledConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.path)
            .map_err(|e| Error::Engine(format!("creating {}: {e}", config.path.display())))?;
        let deadline = std::time::Instant::now() + config.lock_timeout;
        let db = loop {
            match sled::Config::new()
                .path(&config.path)
                .cache_capacity(config.cache_capacity)
                .mode(sled::Mode::HighThroughput)
                .open()
            {
                Err(sled::Error::Io(e))
                    if lock_busy(&e) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => break r?,
            }
        };
        let objects = db.open_tree("objects")?;
        let wal_dir = config.path.join("wal");
        let mut recovery = recovery::Recovery::new(&objects, config.history.memory_bytes)?;
        let log = migrate_sled_wal(&db, &config, &wal_dir, &mut |path, first, raw| {
            recovery.record(path, first, raw)
        })?;
        let rec = recovery.finish();
        tracing::info!(
            revision = rec.snapshot.revision,
            objects = rec.snapshot.map.len(),
            log_from = rec.compacted,
            history_in_memory = rec.history.len(),
            replayed = rec.unapplied.iter().map(|b| b.events.len()).sum::<usize>(),
            "storage recovered"
        );

        let segments = rec.segments;
        let hub = Hub::new(
            config.history.clone(),
            config.watch_queue,
            rec.compacted,
            rec.snapshot.revision,
            rec.history,
            segments.clone(),
        );
        let published = Arc::new(ArcSwap::from_pointee(rec.snapshot.clone()));
        let applied = Arc::new(AtomicU64::new(rec.applied));
        let failed = Arc::new(AtomicBool::new(false));

        let (ck_tx, ck_rx) = std::sync::mpsc::sync_channel::<Arc<WalBatch>>(1024);
        let checkpointer = {
            let ck = checkpoint::Checkpointer {
                db: db.clone(),
                dir: config.path.clone(),
                objects,
                segments: segments.clone(),
                hub: hub.clone(),
                applied: applied.clone(),
                failed: failed.clone(),
                config: config.checkpoint.clone(),
            };
            let unapplied = rec.unapplied;
            spawn("trellis-checkpoint", move || ck.run(unapplied, ck_rx))?
        };
        let (dispatch_tx, dispatch_rx) = std::sync::mpsc::channel::<Arc<WalBatch>>();
        let dispatcher = {
            let hub = hub.clone();
            let every = config.progress_interval;
            let mut delivered = rec.snapshot.revision;
            spawn("trellis-dispatch", move || {
                let mut last_progress = std::time::Instant::now();
                loop {
                    match dispatch_rx.recv_timeout(every) {
                        Ok(batch) => {
                            hub.deliver(&batch.events);
                            delivered = batch.last_revision();
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                    if last_progress.elapsed() >= every {
                        hub.progress(delivered);
                        last_progress = std::time::Instant::now();
                    }
                }
                hub.close();
            })?
        };
        let (tx, rx) = mpsc::channel(8192);
        let committer = Committer {
            log,
            working: rec.snapshot,
            published: published.clone(),
            hub: hub.clone(),
            segments: segments.clone(),
            to_checkpoint: ck_tx,
            to_dispatch: dispatch_tx,
            failed: failed.clone(),
            max_batch_ops: config.max_batch_ops.max(1),
            max_batch_bytes: config.max_batch_bytes.max(1),
        };
        let committer = spawn("trellis-commit", move || committer.run(rx))?;
        Ok(SledStorage {
            db,
            segments,
            published,
            hub,
            applied,
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(Some(Threads {
                committer,
                checkpointer,
                dispatcher,
            })),
            failed,
        })
    }

    /// Opens a store at `path` with default settings.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(SledConfig::new(path.as_ref()))
    }

    /// Revision up to which the checkpoint is complete (0 before the first).
    pub fn checkpoint_revision(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Events in the in-memory part of the watch history and the bytes
    /// charged to its budget (`HistoryConfig::memory_bytes`).
    pub fn history_in_memory(&self) -> (usize, usize) {
        self.hub.ring_usage()
    }

    /// Number of write-ahead-log records on disk.
    pub fn wal_records(&self) -> usize {
        self.segments.records()
    }

    async fn submit(&self, op: Op) -> Result<Record> {
        let tx = self.tx.lock().clone().ok_or(Error::Closed)?;
        let (reply, rx) = oneshot::channel();
        tx.send(Request { op, reply })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Stops the threads and flushes; idempotent and blocking.
    fn shutdown_blocking(&self) -> Result<()> {
        // Dropping the only sender lets the committer drain its queue and
        // exit; it then drops the checkpointer's and dispatcher's senders,
        // the checkpointer folds what is pending and the dispatcher closes
        // every watch.
        self.tx.lock().take();
        if let Some(t) = self.threads.lock().take() {
            let _ = t.committer.join();
            let _ = t.checkpointer.join();
            let _ = t.dispatcher.join();
        }
        self.hub.close();
        self.db.flush()?;
        Ok(())
    }
}

impl Drop for SledStorage {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_blocking() {
            tracing::warn!(error = %e, "flush on drop failed");
        }
    }
}

#[async_trait::async_trait]
impl Storage for SledStorage {
    async fn get(&self, key: &[u8]) -> Result<Option<Record>> {
        Ok(self.published.load().map.get(key).map(|r| (**r).clone()))
    }

    async fn list(&self, opts: ListOptions) -> Result<ListResult> {
        let snap = self.published.load_full();
        let at = match opts.at {
            ReadAt::Latest => snap.revision,
            ReadAt::Revision(r) if r > snap.revision => {
                return Err(Error::FutureRevision {
                    requested: r,
                    current: snap.revision,
                });
            }
            ReadAt::Revision(r) => r,
        };
        let (items, more) = if at == snap.revision {
            snapshot::list_latest(
                &snap.map,
                &opts.prefix,
                opts.start_after.as_ref(),
                opts.limit,
            )
        } else {
            let mut overlay = snapshot::Overlay::new(opts.start_after.clone());
            if let Some(newer) = self.hub.events_between(&opts.prefix, at, snap.revision)? {
                for e in &newer {
                    overlay.add(e, false);
                }
            } else {
                // Older than the in-memory ring: stream the log.
                let hub = self.hub.clone();
                let prefix = opts.prefix.clone();
                let up_to = snap.revision;
                overlay = tokio::task::spawn_blocking(move || {
                    crate::replay::events_between(&hub, &prefix, at, up_to, |e, from_log| {
                        overlay.add(e, from_log)
                    })
                    .map(|()| overlay)
                })
                .await
                .map_err(|e| Error::Engine(format!("history reader failed: {e}")))??;
            }
            snapshot::list_at(
                &snap.map,
                overlay,
                &opts.prefix,
                opts.start_after.as_ref(),
                opts.limit,
            )
        };
        Ok(ListResult {
            items,
            revision: at,
            more,
        })
    }

    async fn create(&self, key: Bytes, value: Value, uid: Option<Arc<str>>) -> Result<Record> {
        self.submit(Op::Create { key, value, uid }).await
    }

    async fn update(
        &self,
        key: Bytes,
        value: Value,
        expected_revision: Option<u64>,
    ) -> Result<Record> {
        self.submit(Op::Update {
            key,
            value,
            expected: expected_revision,
        })
        .await
    }

    async fn delete(&self, key: Bytes, preconditions: Preconditions) -> Result<Record> {
        self.submit(Op::Delete { key, preconditions }).await
    }

    async fn watch(&self, prefix: Bytes, after_revision: u64) -> Result<EventStream> {
        if self.tx.lock().is_none() {
            return Err(Error::Closed);
        }
        match self.hub.register(prefix.clone(), after_revision)? {
            Registration::Watching(w) => Ok(Box::pin(w)),
            Registration::FromLog { .. } => Ok(Box::pin(crate::replay::CatchUp::new(
                self.hub.clone(),
                prefix,
                after_revision,
            ))),
        }
    }

    fn track(&self, prefix: &Bytes) {
        self.hub.track(prefix);
    }

    fn last_change(&self, prefix: &[u8]) -> u64 {
        self.hub
            .last_change(prefix)
            .unwrap_or_else(|| self.current_revision())
    }

    fn current_revision(&self) -> u64 {
        self.published.load().revision
    }

    fn stats(&self) -> Stats {
        let snap = self.published.load();
        Stats {
            revision: snap.revision,
            compacted_revision: self.hub.compacted(),
            objects: snap.map.len() as u64,
            object_bytes: snap.bytes,
            history_events: self.hub.history_len(),
        }
    }

    async fn close(&self) -> Result<()> {
        tokio::task::block_in_place(|| self.shutdown_blocking())?;
        if self.failed.load(Ordering::Acquire) {
            return Err(Error::Engine("store failed while running".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, EventKind};

    /// Opening waits for a lock another handle in this process still holds
    /// (sled lets go from its own threads shortly after a close), and gives
    /// up after `lock_timeout`.
    #[test]
    fn open_waits_for_the_sled_lock() {
        let dir = tempfile::tempdir().unwrap();
        let config = |timeout_ms| {
            let mut c = SledConfig::new(dir.path());
            c.lock_timeout = std::time::Duration::from_millis(timeout_ms);
            c
        };
        let held = sled::open(dir.path()).unwrap();
        let start = std::time::Instant::now();
        let e = SledStorage::open(config(200))
            .err()
            .expect("the lock is held");
        assert!(e.to_string().contains("could not acquire lock"), "{e}");
        assert!(start.elapsed() >= std::time::Duration::from_millis(200));
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            drop(held);
        });
        let s = SledStorage::open(config(10_000)).expect("opens once the lock is free");
        release.join().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        rt.block_on(s.close()).unwrap();
    }

    /// A store written before the segment log kept its log in a sled tree;
    /// opening it moves the records into segments and drops the tree.
    #[test]
    fn a_store_with_its_log_in_sled_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let old = db.open_tree("wal").unwrap();
            for first in [1u64, 3] {
                let batch = WalBatch {
                    first_revision: first,
                    time_ms: 1,
                    events: (first..first + 2)
                        .map(|r| {
                            Arc::new(Event {
                                kind: EventKind::Added,
                                key: Bytes::from(format!("g/r/c/ns/k{r}")),
                                revision: r,
                                value: Bytes::from(format!("{{\"n\":{r}}}")),
                                prev: None,
                                uid: None,
                                revision_offset: None,
                            })
                        })
                        .collect(),
                };
                old.insert(first.to_be_bytes(), crate::wal::encode(&batch))
                    .unwrap();
            }
            db.flush().unwrap();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        for _ in 0..2 {
            let s = SledStorage::open_path(dir.path()).unwrap();
            assert_eq!(s.current_revision(), 4);
            assert_eq!(s.wal_records(), 2);
            for r in 1..=4u64 {
                let rec = rt
                    .block_on(s.get(format!("g/r/c/ns/k{r}").as_bytes()))
                    .unwrap()
                    .expect("migrated");
                assert_eq!(rec.revision, r);
            }
            assert!(!s.db.tree_names().iter().any(|n| n.as_ref() == b"wal"));
            rt.block_on(s.close()).unwrap();
        }
        assert!(dir.path().join("wal").is_dir());
    }
}
