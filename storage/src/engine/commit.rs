//! The commit path: one thread that orders, validates and durably logs writes.
//!
//! Writers enqueue requests; the committer takes everything queued (up to a
//! batch limit), checks each against its working state (create-if-absent,
//! compare-and-swap, delete preconditions), assigns consecutive revisions,
//! appends the whole group as one WAL record and `fdatasync`s once. Only
//! then does it publish the new snapshot and acknowledge the writers.
//! Writers arriving during a sync form the next group, so the sync cost is
//! shared by however many writers are waiting: group commit without timers.
//!
//! A single thread assigning revisions makes "no lost update, no duplicate
//! revision" hold by construction. If the log fails mid-commit the on-disk state
//! is uncertain, so the store stops accepting writes (as etcd does on a disk
//! error) instead of guessing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::hub::{Hub, now_ms};
use crate::segments::SegmentIndex;
use crate::snapshot::Snapshot;
use crate::wal::{self, WalBatch};
use crate::{Error, Event, EventKind, Preconditions, PrevValue, Record, Result, Value};

/// Keys longer than this are refused (sled and every sane caller agree).
pub(crate) const MAX_KEY_LEN: usize = 4096;

pub(crate) enum Op {
    Create {
        key: Bytes,
        value: Value,
        uid: Option<Arc<str>>,
    },
    Update {
        key: Bytes,
        value: Value,
        expected: Option<u64>,
    },
    Delete {
        key: Bytes,
        preconditions: Preconditions,
    },
}

impl Op {
    fn size(&self) -> usize {
        match self {
            Op::Create { key, value, .. } | Op::Update { key, value, .. } => {
                key.len() + value.bytes.len()
            }
            Op::Delete { key, .. } => key.len(),
        }
    }
}

pub(crate) struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Record>>,
}

pub(crate) struct Committer {
    pub log: crate::log::Log,
    pub working: Snapshot,
    pub published: Arc<ArcSwap<Snapshot>>,
    pub hub: Arc<Hub>,
    /// The log's segments on disk (compacted by the checkpointer); the hub
    /// reads older history through it.
    pub segments: Arc<SegmentIndex>,
    pub to_checkpoint: SyncSender<Arc<WalBatch>>,
    pub to_dispatch: Sender<Arc<WalBatch>>,
    pub failed: Arc<AtomicBool>,
    pub max_batch_ops: usize,
    pub max_batch_bytes: usize,
}

fn check_key(key: &Bytes) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key[0] == 0 {
        return Err(Error::InvalidArgument(format!(
            "invalid key of {} bytes",
            key.len()
        )));
    }
    Ok(())
}

impl Committer {
    pub fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut pending: Option<Request> = None;
        loop {
            let first = match pending.take() {
                Some(r) => r,
                None => match rx.blocking_recv() {
                    Some(r) => r,
                    None => break,
                },
            };
            let mut size = first.op.size();
            let mut batch = vec![first];
            while batch.len() < self.max_batch_ops && size < self.max_batch_bytes {
                match rx.try_recv() {
                    Ok(r) => {
                        size += r.op.size();
                        batch.push(r);
                    }
                    Err(_) => break,
                }
            }
            if self.failed.load(Ordering::Acquire) {
                for r in batch {
                    let _ = r.reply.send(Err(Error::Engine(
                        "store failed earlier; refusing writes".into(),
                    )));
                }
                continue;
            }
            self.commit(batch);
        }
    }

    fn apply(&mut self, op: Op) -> Result<(Record, Event)> {
        let revision = self.working.revision + 1;
        match op {
            Op::Create { key, value, uid } => {
                check_key(&key)?;
                value.check()?;
                if self.working.map.contains_key(&key) {
                    return Err(Error::AlreadyExists);
                }
                let (bytes, off) = value.materialize(revision);
                let rec = Record {
                    key: key.clone(),
                    value: bytes,
                    revision,
                    uid,
                    revision_offset: off,
                };
                let ev = Event {
                    kind: EventKind::Added,
                    key: key.clone(),
                    revision,
                    value: rec.value.clone(),
                    prev: None,
                    uid: rec.uid.clone(),
                    revision_offset: off,
                };
                self.working.bytes += rec.value.len() as u64;
                self.working.map.insert(key, Arc::new(rec.clone()));
                self.working.revision = revision;
                Ok((rec, ev))
            }
            Op::Update {
                key,
                value,
                expected,
            } => {
                check_key(&key)?;
                value.check()?;
                let cur = self.working.map.get(&key).cloned().ok_or(Error::NotFound)?;
                if let Some(expected) = expected
                    && expected != cur.revision
                {
                    return Err(Error::Conflict {
                        expected,
                        current: cur.revision,
                    });
                }
                let (bytes, off) = value.materialize(revision);
                let rec = Record {
                    key: key.clone(),
                    value: bytes,
                    revision,
                    uid: cur.uid.clone(),
                    revision_offset: off,
                };
                let ev = Event {
                    kind: EventKind::Modified,
                    key: key.clone(),
                    revision,
                    value: rec.value.clone(),
                    prev: Some(PrevValue {
                        value: cur.value.clone(),
                        revision: cur.revision,
                        revision_offset: cur.revision_offset,
                    }),
                    uid: rec.uid.clone(),
                    revision_offset: off,
                };
                self.working.bytes =
                    self.working.bytes - cur.value.len() as u64 + rec.value.len() as u64;
                self.working.map.insert(key, Arc::new(rec.clone()));
                self.working.revision = revision;
                Ok((rec, ev))
            }
            Op::Delete { key, preconditions } => {
                check_key(&key)?;
                let cur = self.working.map.get(&key).cloned().ok_or(Error::NotFound)?;
                if let Some(uid) = &preconditions.uid
                    && cur.uid.as_deref() != Some(uid.as_str())
                {
                    return Err(Error::UidMismatch {
                        expected: uid.clone(),
                        current: cur.uid.as_deref().unwrap_or("").to_string(),
                    });
                }
                if let Some(expected) = preconditions.revision
                    && expected != cur.revision
                {
                    return Err(Error::Conflict {
                        expected,
                        current: cur.revision,
                    });
                }
                let tombstone = cur.restamped(revision);
                let rec = Record {
                    key: key.clone(),
                    value: tombstone,
                    revision,
                    uid: cur.uid.clone(),
                    revision_offset: cur.revision_offset,
                };
                let ev = Event {
                    kind: EventKind::Deleted,
                    key: key.clone(),
                    revision,
                    value: rec.value.clone(),
                    prev: Some(PrevValue {
                        value: cur.value.clone(),
                        revision: cur.revision,
                        revision_offset: cur.revision_offset,
                    }),
                    uid: rec.uid.clone(),
                    revision_offset: rec.revision_offset,
                };
                self.working.bytes -= cur.value.len() as u64;
                self.working.map.remove(&key);
                self.working.revision = revision;
                Ok((rec, ev))
            }
        }
    }

    /// Commits one group.
    fn commit(&mut self, batch: Vec<Request>) {
        let first_revision = self.working.revision + 1;
        let mut events = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for req in batch {
            match self.apply(req.op) {
                Ok((rec, ev)) => {
                    events.push(Arc::new(ev));
                    replies.push((req.reply, Ok(rec)));
                }
                Err(e) => replies.push((req.reply, Err(e))),
            }
        }
        if events.is_empty() {
            for (reply, res) in replies {
                let _ = reply.send(res);
            }
            return;
        }
        let batch = Arc::new(WalBatch {
            first_revision,
            time_ms: now_ms(),
            events,
        });
        if let Err(e) = self.log(&batch) {
            tracing::error!(error = %e, "write-ahead log append failed; the store refuses further writes");
            self.failed.store(true, Ordering::Release);
            // Nothing of this group may become visible: roll the working
            // state back to what readers already see.
            self.working = (**self.published.load()).clone();
            for (reply, _) in replies {
                let _ = reply.send(Err(Error::Engine("write-ahead log append failed".into())));
            }
            return;
        }
        // The ring must hold every event a snapshot contains (lists at past
        // revisions undo from it), so append before publishing.
        self.hub.append(&batch.events);
        self.published.store(Arc::new(self.working.clone()));
        for (reply, res) in replies {
            let _ = reply.send(res);
        }
        let _ = self.to_dispatch.send(batch.clone());
        // Blocks when the checkpointer is far behind: back-pressure.
        let _ = self.to_checkpoint.send(batch);
    }

    /// Appends one WAL record and syncs it. (The checkpointer compacts.)
    fn log(&mut self, batch: &WalBatch) -> Result<()> {
        let record = wal::encode(batch);
        let size = record.len() as u64;
        let (segment_first, path) = self.log.append(batch.first_revision, &record)?;
        self.segments.record(
            segment_first,
            || Arc::from(path),
            batch.first_revision,
            batch.last_revision(),
            size,
            batch.time_ms,
        );
        Ok(())
    }
}
