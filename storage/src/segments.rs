//! The index of the write-ahead log's segments still on disk.
//!
//! One small entry per segment file (not per record): which revisions it
//! holds, how many bytes of records, and when its newest record was
//! committed. Three parties share it:
//!
//! * the committer extends the newest entry (or starts a new one) after
//!   every durable append, *before* the batch reaches the hub, so every
//!   event the hub has ever seen is findable here;
//! * the hub decides from it how far the retained history reaches (its age
//!   and size caps work a segment at a time, see [`crate::hub`]);
//! * the checkpointer deletes segments from the front once they are both
//!   checkpointed and outside the retained history;
//! * history readers ([`crate::replay`]) look up the segment holding a
//!   revision.
//!
//! Invariant: entries are in revision order and contiguous (each `first` is
//! the previous `last + 1`); only the front is ever removed and only the
//! back is ever extended.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

/// One segment file.
#[derive(Clone, Debug)]
pub(crate) struct SegmentInfo {
    /// Revision of its first and last event.
    pub first: u64,
    pub last: u64,
    /// Number of records (commit groups) and their bytes.
    pub records: usize,
    pub bytes: u64,
    /// Commit time of its newest record (ms since the Unix epoch).
    pub last_time_ms: u64,
    pub path: Arc<Path>,
}

#[derive(Default)]
pub(crate) struct SegmentIndex {
    segments: Mutex<VecDeque<SegmentInfo>>,
}

impl SegmentIndex {
    /// Notes a durable record of revisions `first..=last` in the segment
    /// starting at `segment_first`.
    pub fn record(
        &self,
        segment_first: u64,
        path: impl FnOnce() -> Arc<Path>,
        first: u64,
        last: u64,
        bytes: u64,
        time_ms: u64,
    ) {
        let mut segs = self.segments.lock();
        match segs.back_mut() {
            Some(s) if s.first == segment_first => {
                debug_assert_eq!(s.last + 1, first, "gap in the segment index");
                s.last = last;
                s.records += 1;
                s.bytes += bytes;
                s.last_time_ms = s.last_time_ms.max(time_ms);
            }
            _ => segs.push_back(SegmentInfo {
                first,
                last,
                records: 1,
                bytes,
                last_time_ms: time_ms,
                path: path(),
            }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, VecDeque<SegmentInfo>> {
        self.segments.lock()
    }

    /// The segment holding `revision`, if it is still on disk.
    pub fn find(&self, revision: u64) -> Option<SegmentInfo> {
        let segs = self.segments.lock();
        let i = segs.partition_point(|s| s.last < revision);
        segs.get(i).filter(|s| s.first <= revision).cloned()
    }

    /// Number of records in the log.
    pub fn records(&self) -> usize {
        self.segments.lock().iter().map(|s| s.records).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_extend_the_newest_segment_and_find_looks_up_revisions() {
        let idx = SegmentIndex::default();
        let p = |n: &str| -> Arc<Path> { Arc::from(Path::new(n)) };
        idx.record(1, || p("a"), 1, 3, 10, 5);
        idx.record(1, || p("unused"), 4, 4, 10, 7);
        idx.record(5, || p("b"), 5, 9, 10, 9);
        assert_eq!(idx.records(), 3);
        assert_eq!(idx.find(0).map(|s| s.first), None);
        assert_eq!(idx.find(1).map(|s| s.first), Some(1));
        let a = idx.find(4).unwrap();
        assert_eq!((a.first, a.last, a.bytes, a.last_time_ms), (1, 4, 20, 7));
        assert_eq!(&*a.path, Path::new("a"));
        assert_eq!(idx.find(9).map(|s| s.first), Some(5));
        assert_eq!(idx.find(10).map(|s| s.first), None);
        idx.lock().pop_front();
        assert_eq!(idx.find(2).map(|s| s.first), None);
    }
}
