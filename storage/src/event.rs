//! Change events: what the write-ahead log records and watchers receive.

use bytes::Bytes;

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// One committed write.
///
/// Events carry the previous value so that consumers can tell when an object
/// moves in or out of a filtered view (a label selector, say) and so that the
/// engine can serve lists at past revisions by undoing newer events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub key: Bytes,
    /// The revision this write committed at.
    pub revision: u64,
    /// The new value; for `Deleted`, the last state re-stamped with the
    /// deletion revision.
    pub value: Bytes,
    /// The value before this write (`None` for `Added`), with its revision.
    pub prev: Option<PrevValue>,
    /// The object's uid as given at creation.
    pub uid: Option<std::sync::Arc<str>>,
    /// Offset of the spliced revision inside `value`, if any.
    pub revision_offset: Option<u32>,
}

/// The value a key had before an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrevValue {
    pub value: Bytes,
    pub revision: u64,
    pub revision_offset: Option<u32>,
}

impl PrevValue {
    /// The previous value re-stamped with another revision (what a watch
    /// sends when an object leaves a filtered view: its last matching state
    /// at the revision of the change).
    pub fn restamped(&self, revision: u64) -> Bytes {
        crate::record::restamp(&self.value, self.revision_offset, self.revision, revision)
    }
}
