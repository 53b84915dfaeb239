//! The read view: an immutable, ordered map of every live key at one revision.
//!
//! The committer owns a working copy and publishes a clone after each durable
//! flush; cloning an `imbl::OrdMap` is O(1) and later writes copy only the
//! paths they touch. Readers therefore see only durable data, always at one
//! consistent revision, and never block writers or each other.
//!
//! Lists at a past revision start from the current snapshot and undo the
//! retained events newer than the requested revision (each event carries the
//! value it replaced), touching only keys under the listed prefix. The
//! events stream in (from the log, then the ring); only the first one per
//! key is kept.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::{Event, EventKind, Record};

pub(crate) type Map = imbl::OrdMap<Bytes, Arc<Record>>;

#[derive(Clone, Default)]
pub(crate) struct Snapshot {
    pub revision: u64,
    pub map: Map,
    /// Sum of stored value sizes.
    pub bytes: u64,
}

/// The smallest key greater than every key starting with `prefix`, or `None`
/// if there is none (prefix of all 0xff bytes, or empty).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(Bytes::from(end));
        }
    }
    None
}

fn range<'a>(
    map: &'a Map,
    prefix: &Bytes,
    start_after: Option<&Bytes>,
) -> impl Iterator<Item = (&'a Bytes, &'a Arc<Record>)> + 'a {
    let lower = match start_after {
        Some(k) if k.as_ref() >= prefix.as_ref() => Bound::Excluded(k.clone()),
        _ => Bound::Included(prefix.clone()),
    };
    let upper = match prefix_end(prefix) {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    map.range((lower, upper))
}

/// Up to `limit` records under `prefix` after `start_after`; the flag says
/// whether more follow.
pub(crate) fn list_latest(
    map: &Map,
    prefix: &Bytes,
    start_after: Option<&Bytes>,
    limit: Option<usize>,
) -> (Vec<Record>, bool) {
    let limit = limit.unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut it = range(map, prefix, start_after);
    for (_, rec) in it.by_ref() {
        if items.len() == limit {
            return (items, true);
        }
        items.push((**rec).clone());
    }
    (items, false)
}

/// What the keys touched after a past revision held at it, built from the
/// events after it (oldest first) one at a time, so that they can stream
/// from the log without being collected.
#[derive(Default)]
pub(crate) struct Overlay {
    start_after: Option<Bytes>,
    /// For each key touched after `at`, its first later event says what
    /// the key held at `at`: nothing if that event created it, else its
    /// `prev`.
    keys: BTreeMap<Bytes, Option<Record>>,
}

impl Overlay {
    pub fn new(start_after: Option<Bytes>) -> Self {
        Overlay {
            start_after,
            keys: BTreeMap::new(),
        }
    }

    /// Notes one event. `copy` copies the bytes kept, so that an event read
    /// from the log does not pin its whole record.
    pub fn add(&mut self, e: &Event, copy: bool) {
        if self.start_after.as_ref().is_some_and(|s| e.key <= *s) {
            return;
        }
        if self.keys.contains_key(&e.key) {
            return;
        }
        let own = |b: &Bytes| {
            if copy {
                Bytes::copy_from_slice(b)
            } else {
                b.clone()
            }
        };
        let old = match (&e.kind, &e.prev) {
            (EventKind::Added, _) | (_, None) => None,
            (_, Some(p)) => Some(Record {
                key: own(&e.key),
                value: own(&p.value),
                revision: p.revision,
                uid: e.uid.clone(),
                revision_offset: p.revision_offset,
            }),
        };
        self.keys.insert(own(&e.key), old);
    }
}

/// Like [`list_latest`] but as of `at`, given the overlay of the events
/// after `at` (under `prefix`) that the snapshot already contains.
pub(crate) fn list_at(
    map: &Map,
    overlay: Overlay,
    prefix: &Bytes,
    start_after: Option<&Bytes>,
    limit: Option<usize>,
) -> (Vec<Record>, bool) {
    let overlay = overlay.keys;
    let limit = limit.unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut current = range(map, prefix, start_after).peekable();
    let mut old = overlay.into_iter().peekable();
    loop {
        let next = match (current.peek(), old.peek()) {
            (None, None) => break,
            (Some(_), None) => current.next().map(|(_, r)| Some((**r).clone())),
            (None, Some(_)) => old.next().map(|(_, r)| r),
            (Some((ck, _)), Some((ok, _))) => match (*ck).cmp(ok) {
                std::cmp::Ordering::Less => current.next().map(|(_, r)| Some((**r).clone())),
                std::cmp::Ordering::Greater => old.next().map(|(_, r)| r),
                std::cmp::Ordering::Equal => {
                    current.next();
                    old.next().map(|(_, r)| r)
                }
            },
        };
        if let Some(Some(rec)) = next {
            if items.len() == limit {
                return (items, true);
            }
            items.push(rec);
        }
    }
    (items, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_handles_carry() {
        assert_eq!(prefix_end(b"ab").unwrap(), Bytes::from_static(b"ac"));
        assert_eq!(prefix_end(b"a\xff").unwrap(), Bytes::from_static(b"b"));
        assert!(prefix_end(b"\xff\xff").is_none());
        assert!(prefix_end(b"").is_none());
    }
}
