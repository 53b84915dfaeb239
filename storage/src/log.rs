//! The write-ahead log on disk: append-only segment files of ours, made
//! durable with `fdatasync` before anything they hold is acknowledged.
//!
//! Why not sled: sled's `flush` ends in `sync_file_range`, which waits for
//! the page writes but neither flushes the device's write cache nor the
//! file's metadata, so a power loss could drop acknowledged writes. Here
//! the log is plain files and the durability point is one `fdatasync` per
//! commit group, as etcd does.
//!
//! Layout: `<dir>/<first revision, 20 digits>.log`. A segment is
//! preallocated (`fallocate`) so appends do not change its size and
//! `fdatasync` need not write metadata; it holds frames
//! `[u32 LE length][record]`, each record a [`crate::wal`] encoding with its
//! own magic and CRC. A zero length is the end of the written part.
//!
//! Invariants:
//! * a frame is acknowledged only after the `fdatasync` that covers it
//!   returned (the [`SyncObserver`] sees each durable length, which the
//!   power-loss test uses to throw away everything after it);
//! * a new segment and its directory entry are synced before the first
//!   frame in it is written, so a durable frame is always reachable;
//! * only the last segment may end in a torn frame (a crash mid-append):
//!   recovery cuts it off and zeroes the rest. A bad frame in any earlier
//!   segment is corruption and the store refuses to open.
//! * segments are deleted oldest first and only when every record in them
//!   is folded into the checkpoint, which the checkpointer has synced, and
//!   has left the retained watch history (the log *is* the history older
//!   than the in-memory ring, see [`crate::replay`]);
//! * readers stream a segment a frame at a time ([`FrameReader`]): opening
//!   the store or replaying history never holds a whole segment in memory.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::{Error, Result};

/// Called with a segment's path and the length of its durable prefix after
/// every sync (tests use it to simulate power loss).
#[derive(Clone)]
pub struct SyncObserver(pub Arc<SyncFn>);

/// See [`SyncObserver`].
pub type SyncFn = dyn Fn(&Path, u64) + Send + Sync;

impl std::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncObserver")
    }
}

/// How long a frame's length prefix is.
const FRAME_HEADER: u64 = 4;

fn io(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::Engine(format!("{what}: {e}"))
}

/// Name of the segment starting at `first_revision`.
fn segment_name(first_revision: u64) -> String {
    format!("{first_revision:020}.log")
}

/// `fsync` of a directory, so entries created or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(format!("syncing directory {}", dir.display()), e))
}

/// Reserves `len` bytes for `file` without changing what reads return, so
/// later appends inside it are data-only writes. Filesystems without
/// `fallocate` simply grow the file as it is written.
fn preallocate(file: &File, len: u64) {
    // SAFETY: plain syscall on an owned, open descriptor.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "fallocate unsupported; segments grow as written");
    }
}

/// The open log: the segment being appended to.
pub(crate) struct Log {
    dir: PathBuf,
    segment_bytes: u64,
    sync: bool,
    observer: Option<SyncObserver>,
    /// The active segment, its first revision and the offset of the next
    /// frame.
    active: Option<(File, PathBuf, u64, u64)>,
}

/// Sees every intact record of the log at open, in order: the segment's
/// path, the segment's first revision, the record.
pub(crate) type OnRecord<'a> = dyn FnMut(&Path, u64, Bytes) -> Result<()> + 'a;

impl Log {
    /// Opens the log in `dir` (creating it), streams every intact record to
    /// `on_record` (one record in memory at a time) and repairs a torn tail.
    /// `segment_bytes` is the preallocated size of a new segment;
    /// `sync: false` skips every sync (tests only).
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        sync: bool,
        observer: Option<SyncObserver>,
        on_record: &mut OnRecord<'_>,
    ) -> Result<Log> {
        std::fs::create_dir_all(dir).map_err(|e| io(format!("creating {}", dir.display()), e))?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in
            std::fs::read_dir(dir).map_err(|e| io(format!("reading {}", dir.display()), e))?
        {
            let entry = entry.map_err(|e| io(format!("reading {}", dir.display()), e))?;
            let name = entry.file_name();
            let Some(first) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            found.push((first, entry.path()));
        }
        found.sort();
        let mut active = None;
        let count = found.len();
        for (i, (first_revision, path)) in found.into_iter().enumerate() {
            let last = i + 1 == count;
            let mut frames = FrameReader::open(&path)?;
            let (end, bad) = loop {
                match frames.next(true)? {
                    Frame::Record(raw) => on_record(&path, first_revision, raw)?,
                    Frame::End { offset, bad } => break (offset, bad),
                }
            };
            drop(frames);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| io(format!("opening {}", path.display()), e))?;
            if let Some(why) = bad {
                if !last {
                    return Err(Error::Engine(format!(
                        "write-ahead log segment {} is corrupt at offset {end}: {why}",
                        path.display()
                    )));
                }
                // A crash mid-append: cut the torn frame off and give the
                // space back as zeroes, so a later frame written here is
                // never followed by stale bytes.
                tracing::warn!(segment = %path.display(), offset = end, why, "cutting off a torn write-ahead log tail");
                file.set_len(end)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io(format!("truncating {}", path.display()), e))?;
                preallocate(&file, segment_bytes.max(end));
                if sync {
                    file.sync_all()
                        .map_err(|e| io(format!("syncing {}", path.display()), e))?;
                }
            }
            if last {
                active = Some((file, path, first_revision, end));
            }
        }
        Ok(Log {
            dir: dir.to_path_buf(),
            segment_bytes,
            sync,
            observer,
            active,
        })
    }

    /// Appends one record (the commit group starting at `first_revision`)
    /// and makes it durable. Returns the segment it went to: its first
    /// revision and path.
    pub fn append(&mut self, first_revision: u64, record: &[u8]) -> Result<(u64, &Path)> {
        let frame_len = FRAME_HEADER + record.len() as u64;
        let roll = match &self.active {
            None => true,
            Some((_, _, _, offset)) => *offset > 0 && offset + frame_len > self.segment_bytes,
        };
        if roll {
            self.roll(first_revision)?;
        }
        let (file, path, first, offset) = self.active.as_mut().expect("active segment");
        let mut frame = Vec::with_capacity(frame_len as usize);
        frame.extend_from_slice(&(record.len() as u32).to_le_bytes());
        frame.extend_from_slice(record);
        file.write_all_at(&frame, *offset)
            .map_err(|e| io(format!("writing {}", path.display()), e))?;
        if self.sync {
            file.sync_data()
                .map_err(|e| io(format!("fdatasync of {}", path.display()), e))?;
        }
        *offset += frame_len;
        if let Some(o) = &self.observer {
            (o.0)(path, *offset);
        }
        Ok((*first, path.as_path()))
    }

    /// Starts a new segment whose first record is `first_revision`.
    fn roll(&mut self, first_revision: u64) -> Result<()> {
        let path = self.dir.join(segment_name(first_revision));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io(format!("creating {}", path.display()), e))?;
        preallocate(&file, self.segment_bytes);
        if self.sync {
            file.sync_all()
                .map_err(|e| io(format!("syncing {}", path.display()), e))?;
            sync_dir(&self.dir)?;
        }
        if let Some(o) = &self.observer {
            (o.0)(&path, 0);
        }
        self.active = Some((file, path, first_revision, 0));
        Ok(())
    }

    /// Path of the segment being appended to, if any.
    #[cfg(test)]
    pub fn active_path(&self) -> Option<&Path> {
        self.active.as_ref().map(|(_, p, _, _)| p.as_path())
    }
}

/// Largest frame a reader accepts: a garbled length must not make it
/// allocate gigabytes (a commit group is at most `max_batch_bytes` of new
/// values plus as many previous ones).
const MAX_FRAME: u64 = 1 << 30;

/// What [`FrameReader::next`] found.
pub(crate) enum Frame {
    /// An intact record (its CRC checked).
    Record(Bytes),
    /// The written part ends at `offset`; `bad` says why the frame there is
    /// damaged (`None` when the segment simply ends: end of file or a zero
    /// length).
    End {
        offset: u64,
        bad: Option<&'static str>,
    },
}

/// Reads a segment's frames one at a time through a small buffer, so
/// neither recovery nor a watch replaying history holds more than one
/// record of a segment in memory.
pub(crate) struct FrameReader {
    file: BufReader<File>,
    offset: u64,
    len: u64,
}

impl FrameReader {
    /// Opens a segment for reading; `NotFound` stays recognisable (the
    /// segment was compacted away).
    pub fn open_raw(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(FrameReader {
            file: BufReader::with_capacity(64 << 10, file),
            offset: 0,
            len,
        })
    }

    pub fn open(path: &Path) -> Result<Self> {
        Self::open_raw(path).map_err(|e| io(format!("opening {}", path.display()), e))
    }

    /// Drops what was read ahead and reads on from the current frame
    /// boundary. A reader kept open on the segment being written may have
    /// buffered space the writer had not reached yet (preallocated zeros,
    /// a frame mid-write); what is written since is only seen after this.
    pub fn reread(&mut self) -> Result<()> {
        // BufReader's seek discards its buffer.
        self.file
            .seek(SeekFrom::Start(self.offset))
            .map_err(|e| io("seeking in a log segment", e))?;
        self.len = self.file_len()?;
        Ok(())
    }

    /// The segment file's size now (it may grow while it is read).
    fn file_len(&self) -> Result<u64> {
        Ok(self
            .file
            .get_ref()
            .metadata()
            .map_err(|e| io("reading a log segment's size", e))?
            .len())
    }

    /// Reads up to `buf.len()` bytes; fewer only at the end of the file.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.file.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io("reading a log segment", e)),
            }
        }
        Ok(got)
    }

    /// The next frame. With `check_rest`, a zero length is only accepted as
    /// the end if every byte after it is zero too (recovery: stale bytes
    /// after the end mean damage, not an unwritten tail).
    pub fn next(&mut self, check_rest: bool) -> Result<Frame> {
        let at = self.offset;
        let mut header = [0u8; FRAME_HEADER as usize];
        let got = self.fill(&mut header)?;
        if got < header.len() {
            // Fewer than four bytes left: the end, or a torn length.
            let bad = header[..got]
                .iter()
                .any(|b| *b != 0)
                .then_some("torn frame length");
            return Ok(Frame::End { offset: at, bad });
        }
        let len = u32::from_le_bytes(header) as u64;
        if len == 0 {
            let mut bad = None;
            if check_rest {
                let mut chunk = vec![0u8; 64 << 10];
                loop {
                    let n = self.fill(&mut chunk)?;
                    if chunk[..n].iter().any(|b| *b != 0) {
                        bad = Some("data after the end of the log");
                        break;
                    }
                    if n < chunk.len() {
                        break;
                    }
                }
            }
            return Ok(Frame::End { offset: at, bad });
        }
        let end = at + FRAME_HEADER + len;
        if end > self.len {
            // The file may have grown (no `fallocate`) since it was opened.
            self.len = self.file_len()?;
        }
        if len > MAX_FRAME || end > self.len {
            return Ok(Frame::End {
                offset: at,
                bad: Some("frame runs past the end"),
            });
        }
        let mut record = vec![0u8; len as usize];
        if self.fill(&mut record)? < record.len() {
            return Ok(Frame::End {
                offset: at,
                bad: Some("frame runs past the end"),
            });
        }
        if crate::wal::check(&record).is_err() {
            return Ok(Frame::End {
                offset: at,
                bad: Some("record fails its checksum"),
            });
        }
        self.offset = end;
        Ok(Frame::Record(Bytes::from(record)))
    }
}

/// Removes a segment file (every record in it is checkpointed).
pub(crate) fn remove_segment(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(format!("removing {}", path.display()), e)),
    }
}

/// Flushes everything written to the filesystem holding `dir` down to the
/// device (`syncfs`). The checkpointer calls it after sled's flush, which
/// only waits for page writes (`sync_file_range`): the checkpoint must be
/// on the device before the log it replaces is deleted.
pub(crate) fn sync_filesystem(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| io(format!("opening {}", dir.display()), e))?;
    // SAFETY: plain syscall on an owned, open descriptor.
    let rc = unsafe { libc::syncfs(d.as_raw_fd()) };
    if rc != 0 {
        return Err(io(
            format!("syncfs of {}", dir.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{WalBatch, encode};
    use crate::{Event, EventKind};

    fn record(first: u64, n: usize) -> Vec<u8> {
        encode(&WalBatch {
            first_revision: first,
            time_ms: 1,
            events: (0..n)
                .map(|i| {
                    Arc::new(Event {
                        kind: EventKind::Added,
                        key: Bytes::from(format!("g/r/c/ns/k{}", first + i as u64)),
                        revision: first + i as u64,
                        value: Bytes::from_static(b"{\"a\":1}"),
                        prev: None,
                        uid: None,
                        revision_offset: None,
                    })
                })
                .collect(),
        })
    }

    /// The reopened log and every record it holds with its segment's first
    /// revision.
    fn reopen(dir: &Path, seg: u64) -> (Log, Vec<(u64, Bytes)>) {
        let mut records = Vec::new();
        let log = Log::open(dir, seg, true, None, &mut |_, first, raw| {
            records.push((first, raw));
            Ok(())
        })
        .unwrap();
        (log, records)
    }

    /// Every frame of a segment file, and where the intact part ends.
    fn frames(path: &Path) -> (Vec<Bytes>, u64, Option<&'static str>) {
        let mut r = FrameReader::open(path).unwrap();
        let mut out = Vec::new();
        loop {
            match r.next(true).unwrap() {
                Frame::Record(b) => out.push(b),
                Frame::End { offset, bad } => return (out, offset, bad),
            }
        }
    }

    #[test]
    fn appends_roll_and_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = reopen(dir.path(), 300);
        for i in 0..20u64 {
            log.append(1 + i * 2, &record(1 + i * 2, 2)).unwrap();
        }
        drop(log);
        let (_, records) = reopen(dir.path(), 300);
        let segments: std::collections::BTreeSet<u64> = records.iter().map(|r| r.0).collect();
        assert!(segments.len() > 3, "segments rolled");
        let firsts: Vec<u64> = records
            .iter()
            .map(|(_, r)| crate::wal::decode(r.clone()).unwrap().first_revision)
            .collect();
        assert_eq!(firsts, (0..20u64).map(|i| 1 + i * 2).collect::<Vec<_>>());
        for seg in segments {
            let (_, first) = records.iter().find(|r| r.0 == seg).unwrap();
            let first = crate::wal::decode(first.clone()).unwrap().first_revision;
            assert_eq!(seg, first, "named after its first record");
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = reopen(dir.path(), 1 << 20);
        log.append(1, &record(1, 1)).unwrap();
        log.append(2, &record(2, 1)).unwrap();
        let path = log.active_path().unwrap().to_path_buf();
        drop(log);
        // Tear the second frame: keep its length, garble half its bytes.
        let (_, end, _) = frames(&path);
        let first_len = 4 + record(1, 1).len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xAB; 20], (first_len + 10) as u64)
            .unwrap();
        let (mut log, recs) = reopen(dir.path(), 1 << 20);
        assert_eq!(recs.len(), 1, "the torn frame is dropped");
        assert!(end as usize > first_len);
        // Appending after the repair leaves a clean log.
        log.append(2, &record(2, 3)).unwrap();
        drop(log);
        let (_, recs) = reopen(dir.path(), 1 << 20);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            crate::wal::decode(recs[1].1.clone()).unwrap().events.len(),
            3
        );
    }

    #[test]
    fn damage_before_the_last_segment_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = reopen(dir.path(), 200);
        for i in 0..6u64 {
            log.append(1 + i, &record(1 + i, 1)).unwrap();
        }
        drop(log);
        let (_, recs) = reopen(dir.path(), 200);
        let first = dir.path().join(segment_name(recs[0].0));
        assert!(
            recs.iter().any(|r| r.0 != recs[0].0),
            "two segments or more"
        );
        let f = OpenOptions::new().write(true).open(&first).unwrap();
        f.write_all_at(b"\xff", 10).unwrap();
        let err = Log::open(dir.path(), 200, true, None, &mut |_, _, _| Ok(()))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("is corrupt"), "{err}");
    }

    #[test]
    fn garbage_after_a_zero_length_is_not_silently_accepted_midlog() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, [0, 0, 0, 0, 1, 2, 3]).unwrap();
        let (recs, end, bad) = frames(&path);
        assert!(recs.is_empty() && end == 0 && bad.is_some());
        std::fs::write(&path, [0u8; 64]).unwrap();
        let (_, _, bad) = frames(&path);
        assert!(bad.is_none(), "zeroes are the preallocated, unwritten part");
    }

    #[test]
    fn a_garbled_length_is_damage_not_an_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, [0xff, 0xff, 0xff, 0x7f, 1, 2, 3]).unwrap();
        let (recs, end, bad) = frames(&path);
        assert!(recs.is_empty() && end == 0);
        assert_eq!(bad, Some("frame runs past the end"));
    }
}
