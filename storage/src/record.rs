//! What the store keeps per key, and what callers hand it to write.

use std::sync::Arc;

use bytes::Bytes;

use crate::{Error, Result};

/// One stored object as of some revision.
///
/// `value` is the caller's bytes with the revision spliced in (see
/// [`Value::revision_slot`]); readers return it as-is, never re-parsing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: Bytes,
    pub value: Bytes,
    /// The revision of the write that produced this value.
    pub revision: u64,
    /// The uid given at creation, used for delete preconditions.
    pub uid: Option<Arc<str>>,
    /// Where the decimal revision sits inside `value`, if it was spliced in.
    pub revision_offset: Option<u32>,
}

/// Bytes to write, plus where the engine should put the revision.
///
/// The revision of a write is only known when the write commits, yet
/// Kubernetes objects carry it inside themselves (`metadata.resourceVersion`).
/// The caller therefore serialises the object with an empty placeholder and
/// names the byte offset at which the engine inserts the decimal revision at
/// commit time. The stored bytes are then complete and readers serve them
/// without re-parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub bytes: Bytes,
    /// Byte offset at which the decimal revision is inserted, or `None` to
    /// store the bytes verbatim.
    pub revision_slot: Option<usize>,
}

impl Value {
    /// A value stored verbatim.
    pub fn verbatim(bytes: impl Into<Bytes>) -> Self {
        Value {
            bytes: bytes.into(),
            revision_slot: None,
        }
    }

    /// A value with the revision inserted at `slot`.
    pub fn with_revision_slot(bytes: impl Into<Bytes>, slot: usize) -> Self {
        Value {
            bytes: bytes.into(),
            revision_slot: Some(slot),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if let Some(slot) = self.revision_slot
            && (slot > self.bytes.len() || slot > u32::MAX as usize)
        {
            return Err(Error::InvalidArgument(format!(
                "revision slot {slot} outside value of {} bytes",
                self.bytes.len()
            )));
        }
        Ok(())
    }

    /// The stored bytes for this value written at `revision`.
    pub(crate) fn materialize(&self, revision: u64) -> (Bytes, Option<u32>) {
        match self.revision_slot {
            None => (self.bytes.clone(), None),
            Some(slot) => {
                let digits = revision.to_string();
                let mut out = Vec::with_capacity(self.bytes.len() + digits.len());
                out.extend_from_slice(&self.bytes[..slot]);
                out.extend_from_slice(digits.as_bytes());
                out.extend_from_slice(&self.bytes[slot..]);
                (Bytes::from(out), Some(slot as u32))
            }
        }
    }
}

impl Record {
    /// This record's value re-stamped with another revision: what a delete
    /// reports as the final state of the object (Kubernetes sends the last
    /// state with the deletion's resourceVersion).
    pub(crate) fn restamped(&self, revision: u64) -> Bytes {
        restamp(&self.value, self.revision_offset, self.revision, revision)
    }
}

/// `value` (carrying `old` at `offset`) with `new` in its place.
pub(crate) fn restamp(value: &Bytes, offset: Option<u32>, old: u64, new: u64) -> Bytes {
    match offset {
        None => value.clone(),
        Some(off) => {
            let off = off as usize;
            let old_len = digits(old);
            let digits = new.to_string();
            let mut out = Vec::with_capacity(value.len() + digits.len());
            out.extend_from_slice(&value[..off]);
            out.extend_from_slice(digits.as_bytes());
            out.extend_from_slice(&value[off + old_len..]);
            Bytes::from(out)
        }
    }
}

fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Conditions a delete must satisfy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub revision: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_and_restamps_the_revision() {
        let v = Value::with_revision_slot(&b"{\"rv\":\"\",\"x\":1}"[..], 7);
        let (bytes, off) = v.materialize(42);
        assert_eq!(&bytes[..], b"{\"rv\":\"42\",\"x\":1}");
        let rec = Record {
            key: Bytes::new(),
            value: bytes,
            revision: 42,
            uid: None,
            revision_offset: off,
        };
        assert_eq!(&rec.restamped(1000)[..], b"{\"rv\":\"1000\",\"x\":1}");
        assert_eq!(&rec.restamped(7)[..], b"{\"rv\":\"7\",\"x\":1}");
    }

    #[test]
    fn rejects_slot_past_end() {
        assert!(Value::with_revision_slot(&b"ab"[..], 3).check().is_err());
        assert!(Value::with_revision_slot(&b"ab"[..], 2).check().is_ok());
    }

    #[test]
    fn digit_count() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(u64::MAX), 20);
    }
}
