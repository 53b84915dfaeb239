//! Rebuilding the in-memory state from disk when the store opens.
//!
//! 1. Load `objects` (the checkpoint) and its `applied` marker; records may
//!    be ahead of the marker (an interrupted fold), never behind it.
//! 2. Stream the WAL segments in revision order, a record at a time. Records must be contiguous and must
//!    start at or before `applied + 1`; anything else means lost data and
//!    the store refuses to open rather than serve it.
//! 3. Events after `applied` are replayed onto the map and handed to the
//!    checkpointer again; the newest events, as many as the ring's memory
//!    budget allows, seed the in-memory history, and the segment index
//!    lets watches resume from anything older still in the log.
//!
//! Values are taken from sled and the segments without copying, and
//! replayed history shares bytes with the map where an event is still the
//! key's current version, so a restart does not hold two copies.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::checkpoint::{APPLIED_MARKER, decode_record};
use crate::hub::event_bytes;
use crate::segments::SegmentIndex;
use crate::snapshot::Snapshot;
use crate::wal::{self, WalBatch};
use crate::{Error, Event, EventKind, Record, Result};

pub(crate) struct Recovered {
    pub snapshot: Snapshot,
    pub applied: u64,
    /// The newest events with their batch times, oldest first, as many as
    /// the in-memory ring's budget takes (the rest stays in the log).
    pub history: VecDeque<(Arc<Event>, u64)>,
    /// The revision before the first event in the log.
    pub compacted: u64,
    pub segments: Arc<SegmentIndex>,
    /// Batches the checkpointer has not folded in yet.
    pub unapplied: Vec<Arc<WalBatch>>,
}

/// Recovery in progress: the checkpoint is loaded, log records stream in
/// through [`Recovery::record`] one at a time.
pub(crate) struct Recovery {
    snapshot: Snapshot,
    applied: u64,
    memory_bytes: usize,
    history: VecDeque<(Arc<Event>, u64)>,
    history_bytes: usize,
    segments: Arc<SegmentIndex>,
    current_segment: Option<u64>,
    unapplied: Vec<Arc<WalBatch>>,
    compacted: Option<u64>,
    expected_next: Option<u64>,
}

impl Recovery {
    /// Loads the checkpoint; `memory_bytes` is the ring's budget.
    pub fn new(objects: &sled::Tree, memory_bytes: usize) -> Result<Self> {
        let applied = match objects.get(APPLIED_MARKER)? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Engine("corrupt applied marker".into()))?,
            ),
            None => 0,
        };
        let mut snapshot = Snapshot {
            revision: applied,
            ..Snapshot::default()
        };
        for item in objects.iter() {
            let (k, v) = item?;
            if k.as_ref() == APPLIED_MARKER {
                continue;
            }
            let key = Bytes::from_owner(k);
            let rec = decode_record(key.clone(), Bytes::from_owner(v))?;
            snapshot.bytes += rec.value.len() as u64;
            snapshot.map.insert(key, Arc::new(rec));
        }
        Ok(Recovery {
            snapshot,
            applied,
            memory_bytes,
            history: VecDeque::new(),
            history_bytes: 0,
            segments: Arc::new(SegmentIndex::default()),
            current_segment: None,
            unapplied: Vec::new(),
            compacted: None,
            expected_next: None,
        })
    }

    /// Takes the next log record (in log order).
    pub fn record(&mut self, path: &Path, segment_first: u64, raw: Bytes) -> Result<()> {
        let applied = self.applied;
        let bytes = raw.len() as u64;
        let batch = wal::decode(raw)?;
        let new_segment = self.current_segment != Some(segment_first);
        if new_segment && segment_first != batch.first_revision {
            return Err(Error::Engine(format!(
                "write-ahead log segment {} does not start with its named revision",
                path.display()
            )));
        }
        self.current_segment = Some(segment_first);
        match self.expected_next {
            None => {
                if batch.first_revision > applied + 1 {
                    return Err(Error::Engine(format!(
                        "write-ahead log starts at revision {} but the checkpoint ends at {applied}",
                        batch.first_revision
                    )));
                }
                self.compacted = Some(batch.first_revision - 1);
            }
            Some(n) if n != batch.first_revision => {
                return Err(Error::Engine(format!(
                    "gap in write-ahead log: expected revision {n}, found {}",
                    batch.first_revision
                )));
            }
            Some(_) => {}
        }
        self.expected_next = Some(batch.last_revision() + 1);
        self.segments.record(
            segment_first,
            || Arc::from(path),
            batch.first_revision,
            batch.last_revision(),
            bytes,
            batch.time_ms,
        );
        let mut events = Vec::with_capacity(batch.events.len());
        for e in &batch.events {
            let e = if e.revision > applied {
                replay(&mut self.snapshot, e);
                e.clone()
            } else {
                share_with_map(&self.snapshot, e)
            };
            self.history_bytes += event_bytes(&e);
            self.history.push_back((e.clone(), batch.time_ms));
            while self.history_bytes > self.memory_bytes {
                let Some((old, _)) = self.history.pop_front() else {
                    break;
                };
                self.history_bytes -= event_bytes(&old);
            }
            events.push(e);
        }
        if batch.last_revision() > applied {
            self.unapplied.push(Arc::new(WalBatch { events, ..batch }));
        }
        Ok(())
    }

    pub fn finish(mut self) -> Recovered {
        if let Some(next) = self.expected_next {
            self.snapshot.revision = self.snapshot.revision.max(next - 1);
        }
        let compacted = self.compacted.unwrap_or(self.snapshot.revision);
        Recovered {
            snapshot: self.snapshot,
            applied: self.applied,
            history: self.history,
            compacted,
            segments: self.segments,
            unapplied: self.unapplied,
        }
    }
}

fn replay(snapshot: &mut Snapshot, e: &Arc<Event>) {
    if let Some(old) = snapshot.map.remove(&e.key) {
        snapshot.bytes -= old.value.len() as u64;
    }
    if e.kind != EventKind::Deleted {
        snapshot.bytes += e.value.len() as u64;
        snapshot.map.insert(
            e.key.clone(),
            Arc::new(Record {
                key: e.key.clone(),
                value: e.value.clone(),
                revision: e.revision,
                uid: e.uid.clone(),
                revision_offset: e.revision_offset,
            }),
        );
    }
}

/// The event with its value bytes replaced by the map's copy when it is the
/// key's current version, so a restart does not hold two copies.
fn share_with_map(snapshot: &Snapshot, e: &Arc<Event>) -> Arc<Event> {
    match snapshot.map.get(&e.key) {
        Some(rec) if rec.revision == e.revision && e.kind != EventKind::Deleted => {
            Arc::new(Event {
                value: rec.value.clone(),
                key: rec.key.clone(),
                ..(**e).clone()
            })
        }
        _ => e.clone(),
    }
}
