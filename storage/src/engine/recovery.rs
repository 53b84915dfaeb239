//! Rebuilding the in-memory state from disk when the store opens.
//!
//! 1. Load `objects` (the checkpoint) and its `applied` marker; records may
//!    be ahead of the marker (an interrupted fold), never behind it.
//! 2. Read the WAL segments in revision order. Records must be contiguous and must
//!    start at or before `applied + 1`; anything else means lost data and
//!    the store refuses to open rather than serve it.
//! 3. Events after `applied` are replayed onto the map and handed to the
//!    checkpointer again; every retained event seeds the watch history, so
//!    watches can resume across a restart.
//!
//! Values are taken from sled and the segments without copying, and
//! replayed history shares bytes with the map where an event is still the
//! key's current version, so a restart does not hold two copies.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::checkpoint::{APPLIED_MARKER, decode_record};
use crate::log::Segment;
use crate::snapshot::Snapshot;
use crate::wal::{self, WalBatch};
use crate::{Error, Event, EventKind, Record, Result};

/// One WAL record still on disk.
#[derive(Clone, Debug)]
pub(crate) struct WalEntry {
    pub last: u64,
    pub bytes: u64,
    /// The segment file holding it.
    pub segment: Arc<std::path::Path>,
}

pub(crate) struct Recovered {
    pub snapshot: Snapshot,
    pub applied: u64,
    /// Every retained event with its batch time, oldest first.
    pub history: Vec<(Arc<Event>, u64)>,
    /// The revision before the first retained event.
    pub compacted: u64,
    pub wal_index: VecDeque<WalEntry>,
    /// Batches the checkpointer has not folded in yet.
    pub unapplied: Vec<Arc<WalBatch>>,
}

pub(crate) fn recover(objects: &sled::Tree, segments: &[Segment]) -> Result<Recovered> {
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

    let mut history = Vec::new();
    let mut wal_index = VecDeque::new();
    let mut unapplied = Vec::new();
    let mut compacted = None;
    let mut expected_next: Option<u64> = None;
    let records = segments.iter().flat_map(|s| {
        let path: Arc<std::path::Path> = s.path.as_path().into();
        s.records
            .iter()
            .enumerate()
            .map(move |(i, r)| (path.clone(), (i == 0).then_some(s.first_revision), r))
    });
    for (segment, named, raw) in records {
        let bytes = raw.len() as u64;
        let batch = wal::decode(raw.clone())?;
        if named.is_some_and(|n| n != batch.first_revision) {
            return Err(Error::Engine(format!(
                "write-ahead log segment {} does not start with its named revision",
                segment.display()
            )));
        }
        match expected_next {
            None => {
                if batch.first_revision > applied + 1 {
                    return Err(Error::Engine(format!(
                        "write-ahead log starts at revision {} but the checkpoint ends at {applied}",
                        batch.first_revision
                    )));
                }
                compacted = Some(batch.first_revision - 1);
            }
            Some(n) if n != batch.first_revision => {
                return Err(Error::Engine(format!(
                    "gap in write-ahead log: expected revision {n}, found {}",
                    batch.first_revision
                )));
            }
            Some(_) => {}
        }
        expected_next = Some(batch.last_revision() + 1);
        wal_index.push_back(WalEntry {
            last: batch.last_revision(),
            bytes,
            segment,
        });
        let mut events = Vec::with_capacity(batch.events.len());
        for e in &batch.events {
            let e = if e.revision > applied {
                replay(&mut snapshot, e);
                e.clone()
            } else {
                share_with_map(&snapshot, e)
            };
            history.push((e.clone(), batch.time_ms));
            events.push(e);
        }
        if batch.last_revision() > applied {
            unapplied.push(Arc::new(WalBatch { events, ..batch }));
        }
    }
    if let Some(next) = expected_next {
        snapshot.revision = snapshot.revision.max(next - 1);
    }
    let compacted = compacted.unwrap_or(snapshot.revision);
    Ok(Recovered {
        snapshot,
        applied,
        history,
        compacted,
        wal_index,
        unapplied,
    })
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
