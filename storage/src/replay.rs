//! Retained history read back from the write-ahead log.
//!
//! The hub keeps only the newest part of the retained history in memory
//! (see [`crate::hub`]); the rest is still in the log, whose records hold
//! exactly the events the ring held: kind, key, value, uid, and the
//! previous value with its revision. Decoding a record therefore yields
//! the same [`Event`]s a watch served from memory sends, including the
//! previous values that DELETED events and label-selector transitions need.
//!
//! * [`LogCursor`] walks the log forward from a revision, a record at a
//!   time, through a small read buffer: at most one chunk of matching
//!   events (and the records they share bytes with) is in memory at once,
//!   however much history lies on disk.
//! * [`CatchUp`] is a watch stream that starts before the ring: it reads
//!   the log in chunks on tokio's blocking pool (no thread is held while
//!   its consumer is slow), and once it has caught up with the ring's start
//!   registers with the hub from exactly the last revision it read, so the
//!   hand-over neither skips nor repeats an event. If the ring moved on in
//!   the meantime it simply reads further. A segment deleted under it means
//!   the window moved past it: the stream ends with `Expired`.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::task::JoinHandle;

use crate::hub::{Hub, Registration, WatchStream};
use crate::log::{Frame, FrameReader};
use crate::segments::SegmentIndex;
use crate::{Error, Event, Result, WatchItem};

/// Most matching events one chunk hands over.
const CHUNK_EVENTS: usize = 256;
/// Most log bytes one chunk reads (bounds the record bytes its events pin).
const CHUNK_BYTES: usize = 1 << 20;

/// Why reading stopped short.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The log no longer holds the next revision: compacted away.
    Gone,
    Failed(Error),
}

impl Stop {
    fn into_error(self, hub: &Hub, position: u64) -> Error {
        match self {
            Stop::Gone => Error::Expired {
                requested: position,
                oldest: hub.compacted(),
            },
            Stop::Failed(e) => e,
        }
    }
}

/// A forward reader of the log's events under a prefix.
pub(crate) struct LogCursor {
    segments: Arc<SegmentIndex>,
    prefix: Bytes,
    /// Every event up to here has been read.
    position: u64,
    /// The open segment (its first revision) and the reader in it.
    reader: Option<(u64, FrameReader)>,
    /// Events of the last decoded record beyond the previous `up_to`.
    carry: VecDeque<Arc<Event>>,
}

impl LogCursor {
    pub fn new(segments: Arc<SegmentIndex>, prefix: Bytes, after: u64) -> Self {
        LogCursor {
            segments,
            prefix,
            position: after,
            reader: None,
            carry: VecDeque::new(),
        }
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads forward up to revision `up_to` (which must be durable), or
    /// until a chunk's worth of events or bytes, appending the events under
    /// the prefix to `out`.
    pub fn read(&mut self, up_to: u64, out: &mut Vec<Arc<Event>>) -> Result<(), Stop> {
        let mut read_bytes = 0usize;
        // Whether the reader read again since its last record (see below).
        let mut reread = false;
        while self.position < up_to && out.len() < CHUNK_EVENTS && read_bytes < CHUNK_BYTES {
            if let Some(e) = self.carry.pop_front() {
                if !self.take(e, up_to, out) {
                    break;
                }
                continue;
            }
            if self.reader.is_none() {
                let seg = self.segments.find(self.position + 1).ok_or(Stop::Gone)?;
                self.reader = Some((seg.first, open(&seg.path)?));
            }
            let (segment_first, reader) = self.reader.as_mut().expect("opened above");
            let segment_first = *segment_first;
            match reader.next(false).map_err(Stop::Failed)? {
                Frame::Record(raw) => {
                    reread = false;
                    read_bytes += raw.len();
                    let batch = crate::wal::decode(raw).map_err(Stop::Failed)?;
                    if batch.last_revision() <= self.position {
                        continue;
                    }
                    if batch.first_revision > self.position + 1 {
                        return Err(Stop::Failed(Error::Engine(format!(
                            "write-ahead log skips from revision {} to {}",
                            self.position, batch.first_revision
                        ))));
                    }
                    self.carry.extend(batch.events);
                }
                // Everything up to `up_to` is written, but a reader kept
                // open since an earlier chunk may have read ahead into
                // space the writer had not reached then: read the segment
                // again before believing it ends (or is damaged) here.
                Frame::End { .. } if !reread => {
                    reader.reread().map_err(Stop::Failed)?;
                    reread = true;
                }
                Frame::End {
                    bad: Some(why),
                    offset,
                } => {
                    return Err(Stop::Failed(Error::Engine(format!(
                        "reading retained history: damaged log segment at offset {offset}: {why}"
                    ))));
                }
                Frame::End { bad: None, .. } => {
                    // The segment ends; the next revision is in the next one.
                    match self.segments.find(self.position + 1) {
                        Some(next) if next.first != segment_first => self.reader = None,
                        Some(_) => {
                            return Err(Stop::Failed(Error::Engine(format!(
                                "write-ahead log ends before revision {}",
                                self.position + 1
                            ))));
                        }
                        None => return Err(Stop::Gone),
                    }
                }
            }
        }
        Ok(())
    }

    /// Consumes one event; `false` (and the event kept) if it lies beyond
    /// `up_to`.
    fn take(&mut self, e: Arc<Event>, up_to: u64, out: &mut Vec<Arc<Event>>) -> bool {
        if e.revision <= self.position {
            return true;
        }
        if e.revision > up_to {
            self.carry.push_front(e);
            return false;
        }
        self.position = e.revision;
        if e.key.starts_with(&self.prefix) {
            out.push(e);
        }
        true
    }
}

fn open(path: &Path) -> Result<FrameReader, Stop> {
    FrameReader::open_raw(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Stop::Gone
        } else {
            Stop::Failed(Error::Engine(format!("opening {}: {e}", path.display())))
        }
    })
}

/// One chunk read on the blocking pool: the cursor comes back with it.
type Job = JoinHandle<(Box<LogCursor>, Result<Vec<Arc<Event>>, Stop>)>;

enum State {
    /// Reading the log: buffered events, then the cursor or its job.
    Log {
        buffered: VecDeque<Arc<Event>>,
        cursor: Option<Box<LogCursor>>,
        job: Option<Job>,
    },
    /// Handed over to the hub: ring history, then live events.
    Live(WatchStream),
    Done,
}

/// A watch stream that starts before the in-memory ring (see the module
/// docs).
pub(crate) struct CatchUp {
    hub: Arc<Hub>,
    prefix: Bytes,
    state: State,
}

impl CatchUp {
    pub fn new(hub: Arc<Hub>, prefix: Bytes, after: u64) -> Self {
        let cursor = LogCursor::new(hub.segments().clone(), prefix.clone(), after);
        CatchUp {
            hub,
            prefix,
            state: State::Log {
                buffered: VecDeque::new(),
                cursor: Some(Box::new(cursor)),
                job: None,
            },
        }
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<WatchItem>>> {
        self.state = State::Done;
        Poll::Ready(Some(Err(e)))
    }
}

impl Stream for CatchUp {
    type Item = Result<WatchItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let State::Log {
                buffered,
                cursor,
                job,
            } = &mut this.state
            else {
                return match &mut this.state {
                    State::Live(w) => Pin::new(w).poll_next(cx),
                    _ => Poll::Ready(None),
                };
            };
            if let Some(e) = buffered.pop_front() {
                return Poll::Ready(Some(Ok(WatchItem::Event(e))));
            }
            if let Some(j) = job {
                let (c, read) = match Pin::new(j).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(done)) => done,
                    Poll::Ready(Err(e)) => {
                        return this.fail(Error::Engine(format!("history reader failed: {e}")));
                    }
                };
                *job = None;
                match read {
                    Ok(events) => buffered.extend(events),
                    Err(stop) => {
                        let e = stop.into_error(&this.hub, c.position());
                        return this.fail(e);
                    }
                }
                *cursor = Some(c);
                continue;
            }
            let mut c = cursor.take().expect("a cursor when no job runs");
            if this.hub.is_closed() {
                this.state = State::Done;
                return Poll::Ready(None);
            }
            match this.hub.register(this.prefix.clone(), c.position()) {
                Ok(Registration::Watching(w)) => this.state = State::Live(w),
                Ok(Registration::FromLog { ring_start }) => {
                    *job = Some(tokio::task::spawn_blocking(move || {
                        let mut out = Vec::new();
                        let r = c.read(ring_start, &mut out);
                        (c, r.map(|()| out))
                    }));
                }
                Err(Error::Closed) => {
                    this.state = State::Done;
                    return Poll::Ready(None);
                }
                Err(e) => return this.fail(e),
            }
        }
    }
}

/// The events under `prefix` in `(after, up_to]` from the log and then the
/// ring, oldest first, handed to `each` one at a time (lists at a past
/// revision). Blocking: run it on the blocking pool.
pub(crate) fn events_between(
    hub: &Hub,
    prefix: &Bytes,
    after: u64,
    up_to: u64,
    mut each: impl FnMut(&Arc<Event>, bool),
) -> Result<()> {
    let mut cursor = LogCursor::new(hub.segments().clone(), prefix.clone(), after);
    let mut chunk = Vec::new();
    loop {
        if cursor.position() >= up_to {
            return Ok(());
        }
        if let Some(events) = hub.events_between(prefix, cursor.position(), up_to)? {
            for e in &events {
                each(e, false);
            }
            return Ok(());
        }
        let target = hub.ring_start().min(up_to);
        cursor
            .read(target, &mut chunk)
            .map_err(|stop| stop.into_error(hub, cursor.position()))?;
        for e in chunk.drain(..) {
            each(&e, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Log;
    use crate::wal::{WalBatch, encode};
    use crate::{EventKind, segments::SegmentIndex};

    fn append(log: &mut Log, index: &SegmentIndex, revision: u64) {
        let record = encode(&WalBatch {
            first_revision: revision,
            time_ms: 1,
            events: vec![Arc::new(Event {
                kind: EventKind::Added,
                key: Bytes::from(format!("g/r/c/ns/k{revision}")),
                revision,
                value: Bytes::from_static(b"{}"),
                prev: None,
                uid: None,
                revision_offset: None,
            })],
        });
        let (first, path) = log.append(revision, &record).unwrap();
        let path: Arc<Path> = Arc::from(path);
        index.record(first, || path, revision, revision, record.len() as u64, 1);
    }

    /// A cursor kept open on the segment being written read ahead into its
    /// preallocated zeros; records written after that are still read (the
    /// hand-over from the log to the ring under concurrent writes once
    /// failed with "write-ahead log ends before revision N" here).
    #[test]
    fn a_cursor_reads_records_written_after_it_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), 1 << 20, false, None, &mut |_, _, _| Ok(())).unwrap();
        let index = Arc::new(SegmentIndex::default());
        for r in 1..=10 {
            append(&mut log, &index, r);
        }
        let mut cursor = LogCursor::new(index.clone(), Bytes::from_static(b"g/"), 0);
        let mut out = Vec::new();
        cursor.read(10, &mut out).unwrap();
        assert_eq!(out.len(), 10);
        for r in 11..=20 {
            append(&mut log, &index, r);
        }
        out.clear();
        cursor.read(20, &mut out).unwrap();
        let revisions: Vec<u64> = out.iter().map(|e| e.revision).collect();
        assert_eq!(revisions, (11..=20).collect::<Vec<_>>());
        assert_eq!(cursor.position(), 20);
    }
}
