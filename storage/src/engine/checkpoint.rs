//! The checkpointer folds committed WAL batches into the `objects` tree.
//!
//! Acknowledged writes are durable once their WAL record is synced; the
//! `objects` tree only bounds how much WAL recovery replays and lets the WAL
//! be compacted. It is therefore written in the background, off the
//! acknowledgement path, and lazily: pending batches are folded when
//! `fold_events` have accumulated or the oldest is `fold_interval` old,
//! keeping only the last value of each key (a lease renewed every two seconds
//! costs one write per fold, not one per renewal).
//!
//! Why per key and small: sled keeps every value stored out of line (a
//! "blob", anything near 128 KiB per page) in memory for as long as it
//! lives, because its cache charges blobs by their pointer size. Object
//! records are small and stay inside sled's bounded page cache (the WAL
//! lives in segment files of its own, see `crate::log`).
//!
//! Folding uses plain sled inserts rather than a sled `Batch`, because a
//! batch takes sled's database-wide write lock and would stall the commit
//! path. Atomicity comes from ordering instead: write the objects, flush
//! and sync them to the device, then move the `applied` marker and sync
//! again. (sled's flush waits for page writes but not for the device's
//! cache, which may reorder them; `syncfs` in between keeps the order.)
//! Only then are log segments deleted. A durable marker therefore always implies
//! durable objects up to it; objects may be *ahead* of the marker after a
//! crash, which is harmless because recovery replays every WAL event after
//! the marker and replaying "set key to value" is idempotent.
//!
//! The commit path hands batches over through a bounded channel, and the
//! checkpointer stops draining it beyond `max_pending_events`: if folding
//! falls behind, commits wait rather than the WAL growing without bound.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};

use crate::hub::Hub;
use crate::segments::SegmentIndex;
use crate::wal::WalBatch;
use crate::{Error, Event, EventKind, Record, Result};

/// Key of the marker holding the revision up to which `objects` is complete.
/// Object keys never start with a NUL byte.
pub(crate) const APPLIED_MARKER: &[u8] = b"\0applied";

const RECORD_VERSION: u8 = 1;

/// When the checkpointer folds.
#[derive(Clone, Debug)]
pub struct CheckpointConfig {
    /// Fold once this many events are pending.
    pub fold_events: usize,
    /// Fold once the oldest pending event is this old.
    pub fold_interval: Duration,
    /// Stop accepting batches (so that commits wait) beyond this many.
    pub max_pending_events: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            fold_events: 20_000,
            fold_interval: Duration::from_secs(2),
            max_pending_events: 200_000,
        }
    }
}

pub(crate) fn encode_record(rec: &Record) -> Vec<u8> {
    let uid = rec.uid.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(1 + 8 + 4 + 2 + uid.len() + rec.value.len());
    out.push(RECORD_VERSION);
    out.extend_from_slice(&rec.revision.to_le_bytes());
    out.extend_from_slice(&rec.revision_offset.map_or(u32::MAX, |o| o).to_le_bytes());
    out.extend_from_slice(&(uid.len() as u16).to_le_bytes());
    out.extend_from_slice(uid.as_bytes());
    out.extend_from_slice(&rec.value);
    out
}

pub(crate) fn decode_record(key: Bytes, raw: Bytes) -> Result<Record> {
    let bad = || {
        Error::Engine(format!(
            "corrupt object record for key {:?}",
            String::from_utf8_lossy(&key)
        ))
    };
    let mut b = raw;
    if b.remaining() < 15 || b.get_u8() != RECORD_VERSION {
        return Err(bad());
    }
    let revision = b.get_u64_le();
    let off = b.get_u32_le();
    let uid_len = b.get_u16_le() as usize;
    if b.remaining() < uid_len {
        return Err(bad());
    }
    let uid = b.split_to(uid_len);
    let uid = if uid.is_empty() {
        None
    } else {
        Some(Arc::from(std::str::from_utf8(&uid).map_err(|_| bad())?))
    };
    Ok(Record {
        key,
        value: b,
        revision,
        uid,
        revision_offset: (off != u32::MAX).then_some(off),
    })
}

pub(crate) struct Checkpointer {
    pub db: sled::Db,
    /// The data directory (sled's), synced to the device after each flush.
    pub dir: std::path::PathBuf,
    pub objects: sled::Tree,
    /// The log's segments still on disk, oldest first.
    pub segments: Arc<SegmentIndex>,
    pub hub: Arc<Hub>,
    /// Revision up to which `objects` is complete and durable.
    pub applied: Arc<AtomicU64>,
    pub failed: Arc<AtomicBool>,
    pub config: CheckpointConfig,
}

impl Checkpointer {
    /// Runs until the commit path hangs up, then folds what is left.
    pub fn run(self, initial: Vec<Arc<WalBatch>>, rx: Receiver<Arc<WalBatch>>) {
        let mut pending_events: usize = initial.iter().map(|b| b.events.len()).sum();
        let mut oldest = (!initial.is_empty()).then(Instant::now);
        let mut pending = initial;
        let mut open = true;
        while open || !pending.is_empty() {
            if open && pending_events < self.config.max_pending_events {
                let wait = oldest.map_or(Duration::from_secs(3600), |t| {
                    self.config.fold_interval.saturating_sub(t.elapsed())
                });
                match rx.recv_timeout(wait) {
                    Ok(b) => {
                        oldest.get_or_insert_with(Instant::now);
                        pending_events += b.events.len();
                        pending.push(b);
                        while pending_events < self.config.max_pending_events {
                            let Ok(b) = rx.try_recv() else { break };
                            pending_events += b.events.len();
                            pending.push(b);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
            let due = !open
                || pending_events >= self.config.fold_events
                || oldest.is_some_and(|t| t.elapsed() >= self.config.fold_interval);
            if due && !pending.is_empty() {
                if let Err(e) = self.fold(&pending) {
                    // Writes stay durable in the WAL, but it can no longer be
                    // compacted; stop the store rather than grow forever.
                    tracing::error!(error = %e, "checkpoint failed; the store refuses further writes");
                    self.failed.store(true, Ordering::Release);
                    return;
                }
                pending.clear();
                pending_events = 0;
                oldest = None;
            }
        }
    }

    fn fold(&self, pending: &[Arc<WalBatch>]) -> Result<()> {
        let started = Instant::now();
        let mut latest: BTreeMap<&Bytes, &Event> = BTreeMap::new();
        let mut last = 0;
        for b in pending {
            for e in &b.events {
                latest.insert(&e.key, e);
                last = e.revision;
            }
        }
        let keys = latest.len();
        for (key, e) in latest {
            match e.kind {
                EventKind::Deleted => {
                    self.objects.remove(&key[..])?;
                }
                EventKind::Added | EventKind::Modified => {
                    let rec = Record {
                        key: key.clone(),
                        value: e.value.clone(),
                        revision: e.revision,
                        uid: e.uid.clone(),
                        revision_offset: e.revision_offset,
                    };
                    self.objects.insert(&key[..], encode_record(&rec))?;
                }
            }
        }
        // Objects first, durably; only then may the marker claim them.
        self.db.flush()?;
        crate::log::sync_filesystem(&self.dir)?;
        self.objects
            .insert(APPLIED_MARKER, &last.to_be_bytes()[..])?;
        // The marker must be durable before the WAL it replaces goes.
        self.db.flush()?;
        crate::log::sync_filesystem(&self.dir)?;
        self.applied.store(last, Ordering::Release);
        self.compact_wal(last)?;
        tracing::debug!(revision = last, keys, elapsed = ?started.elapsed(), "checkpoint folded");
        Ok(())
    }

    /// Deletes log segments that neither recovery (every record in them
    /// folded into the checkpoint) nor the retained watch history (the
    /// hub's window has moved past them) needs any more. Oldest first, so
    /// the log stays contiguous if we crash midway; never the newest
    /// segment, which the committer may still append to. A history reader
    /// that still has a deleted segment open keeps reading it; one that
    /// looks it up afterwards finds it gone and reports `Expired`.
    fn compact_wal(&self, applied: u64) -> Result<()> {
        loop {
            let front = {
                let mut segs = self.segments.lock();
                if segs.len() < 2 {
                    return Ok(());
                }
                let front = segs.front().expect("two or more");
                if front.last > applied || front.last > self.hub.compacted() {
                    return Ok(());
                }
                segs.pop_front().expect("two or more")
            };
            crate::log::remove_segment(&front.path)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let rec = Record {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"{\"a\":1}"),
            revision: 99,
            uid: Some(Arc::from("uid-1")),
            revision_offset: Some(3),
        };
        let back = decode_record(rec.key.clone(), Bytes::from(encode_record(&rec))).unwrap();
        assert_eq!(back, rec);
        let plain = Record {
            uid: None,
            revision_offset: None,
            ..rec
        };
        assert_eq!(
            decode_record(plain.key.clone(), Bytes::from(encode_record(&plain))).unwrap(),
            plain
        );
        assert!(decode_record(Bytes::new(), Bytes::from_static(b"\x01short")).is_err());
    }
}
