//! Watch fan-out, the retained history window and its in-memory ring.
//!
//! The *retained history* is every event after `compacted` (what
//! `stats().compacted_revision` reports): a watch or a list may start
//! anywhere in it, and before it gets [`Error::Expired`]. It lives in the
//! write-ahead log on disk; the newest part of it is also kept in memory,
//! in a ring bounded by [`HistoryConfig::memory_bytes`]. Watches and lists
//! that start before the ring read the older part back from the log
//! ([`crate::replay`]) and then continue from the ring.
//!
//! * The window is trimmed from the front: exactly past `max_events`; past
//!   `min_age` (with more than `min_events` left) or `max_bytes` a whole
//!   log segment at a time, as the segment index only knows segments. The
//!   checkpointer deletes a segment only once the window has left it.
//! * The ring holds every event in `(ring.start, ring.last]`, a suffix of
//!   the window, and drops its oldest events when over its byte budget.
//!
//! The hub owns the ring and the set of live watchers, each behind its own
//! lock:
//!
//! * The committer appends every committed batch to the ring *before* it
//!   publishes the snapshot containing it (and after the log and segment
//!   index have it), so every event of a snapshot is in the ring or the
//!   log (lists at past revisions undo from them).
//! * A dispatcher thread delivers batches to watchers afterwards, so fan-out
//!   cost never delays commits.
//! * Registration from a revision inside the ring holds the ring lock while
//!   it copies the history and
//!   inserts the watcher, so every event is either in the copied history or
//!   appended later and hence delivered later. An event can be both (appended
//!   before, delivered after registration); the stream drops anything at or
//!   below its cursor, so delivery is exactly once and without gaps.
//! * A watcher's queue is bounded. If it is full the watcher is removed and
//!   its stream ends with `WatcherTooSlow`; writers and other watchers never
//!   wait for it and it cannot grow memory without bound.
//! * Events are shared (`Arc`), so fan-out to N watchers costs N pointer
//!   copies, and events share value bytes with the snapshot map.
//! * Watchers are indexed by prefix; an event is matched by looking up each
//!   `/`-terminated prefix of its key (and the key itself), so watchers of
//!   other resources or workspaces are never visited.
//!
//! * *Tracked* prefixes (the handful the server's own caches watch) get
//!   the revision of their newest change recorded in [`Hub::append`],
//!   before the snapshot containing it is published: a reader that sees a
//!   write acknowledged knows which revision a cache watching its prefix
//!   must have reached to include it, without waiting for unrelated
//!   writes ([`Hub::last_change`]).
//!
//! Lock order: ring, then tracked, then watchers.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::segments::SegmentIndex;
use crate::{Error, Event, Result, WatchItem};

/// How much history the store retains, and how much of it in memory.
#[derive(Clone, Debug)]
pub struct HistoryConfig {
    /// Always keep at least this many events (subject to the hard caps).
    pub min_events: usize,
    /// Keep every event younger than this (subject to the hard caps): the
    /// window watches can resume from. Lives on disk, in the log.
    pub min_age: Duration,
    /// Hard cap on retained events.
    pub max_events: usize,
    /// Hard cap on the log bytes of retained history (on disk; may be
    /// exceeded by up to one segment, as the log goes a segment at a time).
    pub max_bytes: usize,
    /// Budget of the in-memory ring of recent events (keys, values and
    /// previous values). Older retained history is read back from disk.
    pub memory_bytes: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            min_events: 100_000,
            min_age: Duration::from_secs(600),
            max_events: 1_000_000,
            max_bytes: 512 << 20,
            memory_bytes: 32 << 20,
        }
    }
}

/// The hub's half of a watcher. Only the hub holds the sender, so removing
/// the slot closes the stream's channel.
struct Slot {
    id: u64,
    tx: mpsc::Sender<WatchItem>,
    lagged: Arc<AtomicBool>,
}

struct Ring {
    events: VecDeque<Arc<Event>>,
    bytes: usize,
    /// The ring holds every event in `(start, last]`.
    start: u64,
    last: u64,
    /// Tracked prefixes and their newest change, updated on append (a
    /// copy of the hub's `tracked` map kept under the ring lock, so append
    /// needs no second lock).
    tracked: Vec<(Bytes, Arc<AtomicU64>)>,
}

/// What [`Hub::register`] made of a watch request.
pub(crate) enum Registration {
    /// Registered: retained history from the ring, then live events.
    Watching(WatchStream),
    /// The start lies before the ring: the events up to `ring_start` must
    /// be read from the log first (and registration retried from there).
    FromLog { ring_start: u64 },
}

struct Watchers {
    by_prefix: HashMap<Bytes, Vec<Slot>>,
    count: usize,
    next_id: u64,
    closed: bool,
}

pub(crate) struct Hub {
    ring: Mutex<Ring>,
    /// Readers' view of the tracked prefixes (see [`Hub::track`]).
    tracked: parking_lot::RwLock<HashMap<Bytes, Arc<AtomicU64>>>,
    watchers: Mutex<Watchers>,
    /// Every event after this revision is retained (in the ring or the log).
    compacted: AtomicU64,
    /// The log's segments: where the window beyond the ring lives.
    segments: Arc<SegmentIndex>,
    config: HistoryConfig,
    queue: usize,
}

/// What an event costs the ring's budget.
pub(crate) fn event_bytes(e: &Event) -> usize {
    e.key.len() + e.value.len() + e.prev.as_ref().map_or(0, |p| p.value.len()) + 64
}

impl Hub {
    /// A hub at `revision` whose history starts after `compacted` and whose
    /// ring is seeded with `history` (consecutive revisions ending at
    /// `revision`; the log holds everything between).
    pub fn new(
        config: HistoryConfig,
        queue: usize,
        compacted: u64,
        revision: u64,
        history: VecDeque<(Arc<Event>, u64)>,
        segments: Arc<SegmentIndex>,
    ) -> Arc<Self> {
        let start = history
            .front()
            .map_or(revision, |(e, _)| e.revision - 1)
            .max(compacted);
        let mut ring = Ring {
            events: VecDeque::with_capacity(history.len()),
            bytes: 0,
            start,
            last: start,
            tracked: Vec::new(),
        };
        for (event, _) in history {
            if event.revision <= start {
                continue;
            }
            debug_assert_eq!(event.revision, ring.last + 1);
            ring.last = event.revision;
            ring.bytes += event_bytes(&event);
            ring.events.push_back(event);
        }
        let hub = Hub {
            ring: Mutex::new(ring),
            tracked: Default::default(),
            watchers: Mutex::new(Watchers {
                by_prefix: HashMap::new(),
                count: 0,
                next_id: 0,
                closed: false,
            }),
            compacted: AtomicU64::new(compacted),
            segments,
            config,
            queue: queue.max(1),
        };
        debug_assert_eq!(hub.ring.lock().last, revision.max(compacted));
        hub.trim(&mut hub.ring.lock(), now_ms());
        Arc::new(hub)
    }

    /// The newest revision no longer retained; watches must start at or after it.
    pub fn compacted(&self) -> u64 {
        self.compacted.load(Ordering::Acquire)
    }

    /// Events in the retained window (in memory or on disk).
    pub fn history_len(&self) -> u64 {
        self.ring.lock().last - self.compacted()
    }

    /// Events and their budgeted bytes in the in-memory ring.
    pub fn ring_usage(&self) -> (usize, usize) {
        let ring = self.ring.lock();
        (ring.events.len(), ring.bytes)
    }

    /// The ring holds every event after this revision.
    pub fn ring_start(&self) -> u64 {
        self.ring.lock().start
    }

    pub fn segments(&self) -> &Arc<SegmentIndex> {
        &self.segments
    }

    #[allow(dead_code)]
    pub fn watcher_count(&self) -> usize {
        self.watchers.lock().count
    }

    /// Moves the window's start (`compacted`) past what the caps let go,
    /// then shrinks the ring to its budget and to the window.
    fn trim(&self, ring: &mut Ring, now: u64) {
        let cfg = &self.config;
        let mut compacted = self.compacted();
        compacted = compacted.max(ring.last.saturating_sub(cfg.max_events as u64));
        {
            // Age and size a segment at a time, oldest first; never the
            // newest segment (still being written, and the window must
            // keep the newest events anyway).
            let segs = self.segments.lock();
            let mut bytes: u64 = segs
                .iter()
                .filter(|s| s.last > compacted)
                .map(|s| s.bytes)
                .sum();
            let min_age_ms = cfg.min_age.as_millis() as u64;
            for s in segs.iter().take(segs.len().saturating_sub(1)) {
                if s.last <= compacted {
                    continue;
                }
                let over_cap = bytes > cfg.max_bytes as u64;
                let expendable = ring.last - s.last >= cfg.min_events as u64
                    && now.saturating_sub(s.last_time_ms) > min_age_ms;
                if !(over_cap || expendable) {
                    break;
                }
                compacted = s.last.min(ring.last);
                bytes -= s.bytes;
            }
        }
        if compacted > self.compacted() {
            self.compacted.store(compacted, Ordering::Release);
        }
        while let Some(front) = ring.events.front() {
            if ring.bytes <= cfg.memory_bytes && front.revision > compacted {
                break;
            }
            let front = ring.events.pop_front().expect("non-empty");
            ring.bytes -= event_bytes(&front);
            ring.start = front.revision;
        }
        if ring.events.is_empty() {
            ring.start = ring.last;
        }
    }

    /// Adds a committed batch to the retained history.
    pub fn append(&self, events: &[Arc<Event>]) {
        let mut ring = self.ring.lock();
        for e in events {
            debug_assert_eq!(e.revision, ring.last + 1, "gap in appended revisions");
            for (prefix, newest) in &ring.tracked {
                if e.key.starts_with(prefix) {
                    newest.store(e.revision, Ordering::Release);
                }
            }
            ring.last = e.revision;
            ring.bytes += event_bytes(e);
            ring.events.push_back(e.clone());
        }
        self.trim(&mut ring, now_ms());
    }

    /// Starts recording the newest change under `prefix` (idempotent).
    /// Changes from before are known as far as the ring reaches; an older
    /// one is assumed at the ring's start, which any watch opened from the
    /// current revision has passed.
    pub fn track(&self, prefix: &Bytes) {
        let mut ring = self.ring.lock();
        if ring.tracked.iter().any(|(p, _)| p == prefix) {
            return;
        }
        let newest = ring
            .events
            .iter()
            .rev()
            .find(|e| e.key.starts_with(prefix))
            .map_or(ring.start, |e| e.revision);
        let newest = Arc::new(AtomicU64::new(newest));
        ring.tracked.push((prefix.clone(), newest.clone()));
        self.tracked.write().insert(prefix.clone(), newest);
    }

    /// The revision of the newest change under a tracked `prefix`
    /// committed so far; `None` if the prefix is not tracked.
    pub fn last_change(&self, prefix: &[u8]) -> Option<u64> {
        self.tracked
            .read()
            .get(prefix)
            .map(|n| n.load(Ordering::Acquire))
    }

    /// Delivers a committed batch to the watchers whose prefix matches.
    pub fn deliver(&self, events: &[Arc<Event>]) {
        let mut watchers = self.watchers.lock();
        if watchers.count == 0 {
            return;
        }
        let mut dead: Vec<(Bytes, u64)> = Vec::new();
        for e in events {
            let key = &e.key;
            let mut deliver = |prefix: &[u8], by_prefix: &HashMap<Bytes, Vec<Slot>>| {
                let Some(slots) = by_prefix.get(prefix) else {
                    return;
                };
                for slot in slots {
                    // Once a watcher missed an event it must not get later
                    // ones: its stream ends there, without a gap.
                    if slot.lagged.load(Ordering::Relaxed) || slot.tx.is_closed() {
                        continue;
                    }
                    if let Err(err) = slot.tx.try_send(WatchItem::Event(e.clone())) {
                        if matches!(err, mpsc::error::TrySendError::Full(_)) {
                            slot.lagged.store(true, Ordering::Release);
                        }
                        dead.push((Bytes::copy_from_slice(prefix), slot.id));
                    }
                }
            };
            deliver(b"", &watchers.by_prefix);
            for (i, b) in key.iter().enumerate() {
                if *b == b'/' {
                    deliver(&key[..=i], &watchers.by_prefix);
                }
            }
            deliver(key, &watchers.by_prefix);
        }
        for (prefix, id) in dead {
            remove_slot(&mut watchers, &prefix, id);
        }
    }

    /// Tells every watcher that all events up to `revision` were delivered.
    /// Must only be called after every batch up to `revision` went through
    /// [`Hub::deliver`]. A full queue just skips the notification.
    pub fn progress(&self, revision: u64) {
        let watchers = self.watchers.lock();
        for slots in watchers.by_prefix.values() {
            for slot in slots {
                let _ = slot.tx.try_send(WatchItem::Progress(revision));
            }
        }
    }

    /// Registers a watcher for events under `prefix` after `after_revision`,
    /// unless the start lies before the ring (then the caller reads the log
    /// up to the ring first, see [`crate::replay`]).
    pub fn register(self: &Arc<Self>, prefix: Bytes, after_revision: u64) -> Result<Registration> {
        let ring = self.ring.lock();
        let compacted = self.compacted();
        if after_revision < compacted {
            return Err(Error::Expired {
                requested: after_revision,
                oldest: compacted,
            });
        }
        if after_revision < ring.start {
            if self.watchers.lock().closed {
                return Err(Error::Closed);
            }
            return Ok(Registration::FromLog {
                ring_start: ring.start,
            });
        }
        let history: VecDeque<Arc<Event>> = matching(&ring, &prefix, after_revision).collect();
        let mut watchers = self.watchers.lock();
        if watchers.closed {
            return Err(Error::Closed);
        }
        let (tx, rx) = mpsc::channel(self.queue);
        let id = watchers.next_id;
        watchers.next_id += 1;
        let lagged = Arc::new(AtomicBool::new(false));
        watchers
            .by_prefix
            .entry(prefix.clone())
            .or_default()
            .push(Slot {
                id,
                tx,
                lagged: lagged.clone(),
            });
        watchers.count += 1;
        Ok(Registration::Watching(WatchStream {
            history,
            rx,
            cursor: after_revision,
            id,
            lagged,
            prefix,
            hub: Arc::downgrade(self),
            finished: false,
        }))
    }

    /// Ends every watch stream and refuses new ones.
    pub fn close(&self) {
        let mut watchers = self.watchers.lock();
        watchers.closed = true;
        watchers.by_prefix.clear();
        watchers.count = 0;
    }

    /// Whether the hub is closed (no more watches).
    pub fn is_closed(&self) -> bool {
        self.watchers.lock().closed
    }

    /// Ring events under `prefix` with revisions in `(after_revision,
    /// up_to]`, oldest first; `Expired` if the window has moved past
    /// `after_revision`, `None` if the ring has (read the log first).
    pub fn events_between(
        &self,
        prefix: &[u8],
        after_revision: u64,
        up_to: u64,
    ) -> Result<Option<Vec<Arc<Event>>>> {
        let ring = self.ring.lock();
        let compacted = self.compacted();
        if after_revision < compacted {
            return Err(Error::Expired {
                requested: after_revision,
                oldest: compacted,
            });
        }
        if after_revision < ring.start {
            return Ok(None);
        }
        Ok(Some(
            matching(&ring, prefix, after_revision)
                .take_while(|e| e.revision <= up_to)
                .collect(),
        ))
    }
}

fn matching<'a>(
    ring: &'a Ring,
    prefix: &'a [u8],
    after_revision: u64,
) -> impl Iterator<Item = Arc<Event>> + 'a {
    let start = match ring.events.front() {
        Some(front) => (after_revision + 1).saturating_sub(front.revision) as usize,
        None => 0,
    };
    ring.events
        .iter()
        .skip(start)
        .filter(move |e| e.key.starts_with(prefix))
        .cloned()
}

fn remove_slot(watchers: &mut Watchers, prefix: &[u8], id: u64) {
    if let Some(slots) = watchers.by_prefix.get_mut(prefix) {
        let before = slots.len();
        slots.retain(|s| s.id != id);
        watchers.count -= before - slots.len();
        if slots.is_empty() {
            watchers.by_prefix.remove(prefix);
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A registered watcher's stream: retained history first, then live events.
pub(crate) struct WatchStream {
    history: VecDeque<Arc<Event>>,
    rx: mpsc::Receiver<WatchItem>,
    /// Highest revision delivered (or the starting point); anything at or
    /// below it is a duplicate and dropped.
    cursor: u64,
    id: u64,
    lagged: Arc<AtomicBool>,
    prefix: Bytes,
    hub: Weak<Hub>,
    finished: bool,
}

impl Stream for WatchStream {
    type Item = Result<WatchItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(e) = this.history.pop_front() {
            this.cursor = e.revision;
            return Poll::Ready(Some(Ok(WatchItem::Event(e))));
        }
        loop {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => {
                    let revision = match &item {
                        WatchItem::Event(e) => e.revision,
                        WatchItem::Progress(r) => *r,
                    };
                    if revision <= this.cursor {
                        continue;
                    }
                    this.cursor = revision;
                    return Poll::Ready(Some(Ok(item)));
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    if this.lagged.load(Ordering::Acquire) {
                        return Poll::Ready(Some(Err(Error::WatcherTooSlow)));
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            remove_slot(&mut hub.watchers.lock(), &self.prefix, self.id);
        }
    }
}
