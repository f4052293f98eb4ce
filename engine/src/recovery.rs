//! Hot-journal rollback: puts the database files back as the journal header and records
//! say they were when the interrupted transaction began.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::journal::{
    BadHeader, FreshImage, JournalEntry, JournalHeader, LengthMark, MAX_HEADER_LEN, MAX_MARK_DATA,
    RECORD_HEADER_LEN, VERSION_1,
};
use crate::lock::{LockGuard, LockKind, LockMode, LockTable};
use crate::{Error, Result, Vfs, VfsFile, VfsOpen};

/// The journal path of a pager whose first file is `primary`: `<primary>-journal`.
pub fn journal_path(primary: &Path) -> PathBuf {
    let mut s = primary.as_os_str().to_os_string();
    s.push("-journal");
    PathBuf::from(s)
}

/// How a file is named inside a journal beside `journal`: its file name when it lives in the
/// journal's directory, else its whole path.
pub fn journal_name(journal: &Path, file: &Path) -> Vec<u8> {
    match (file.parent(), file.file_name()) {
        (Some(dir), Some(name)) if Some(dir) == journal.parent() => name.as_bytes().to_vec(),
        _ => file.as_os_str().as_bytes().to_vec(),
    }
}

fn resolve(journal: &Path, name: &[u8]) -> PathBuf {
    let p = Path::new(OsStr::from_bytes(name));
    match journal.parent() {
        Some(dir) => dir.join(p),
        None => p.to_path_buf(),
    }
}

/// Whether `name` is a plain file name (no separator, not `.`/`..`, no NUL) that is not the
/// journal's own name: recovery only ever touches files beside the journal (journal.md,
/// "Validity rules").
fn is_plain_name(journal: &Path, name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.contains(&b'/')
        && !name.contains(&0)
        && journal.file_name().map(OsStrExt::as_bytes) != Some(name)
}

/// What a journal file holds, read with bounded reads.
#[derive(Debug)]
pub(crate) enum JournalState {
    /// No journal file.
    Absent,
    /// Empty, or invalidated by a commit: nothing to roll back.
    NotHot,
    /// The header does not parse: no page of its transaction reached a file.
    BadHeader(BadHeader),
    /// A valid header: the transaction it describes may have changed the files.
    Hot {
        header: JournalHeader,
        header_len: usize,
        file_len: u64,
    },
}

/// Reads the header of the journal open as `jf` (at most [`MAX_HEADER_LEN`] bytes).
fn read_state(jf: &dyn VfsFile) -> Result<JournalState> {
    let file_len = jf.len()?;
    let n = usize::try_from(file_len).map_or(MAX_HEADER_LEN, |l| l.min(MAX_HEADER_LEN));
    let mut buf = vec![0u8; n];
    jf.read_exact_at(&mut buf, 0)?;
    if buf.is_empty() || buf.starts_with(&crate::journal::INVALIDATED_MAGIC) {
        return Ok(JournalState::NotHot);
    }
    Ok(match JournalHeader::parse(&buf) {
        Ok((header, header_len)) => JournalState::Hot {
            header,
            header_len,
            file_len,
        },
        Err(bad) => JournalState::BadHeader(bad),
    })
}

/// Whether a database's journal needs a rollback: the one answer `check`, `recover` and
/// every open share ([`journal_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    /// No journal file.
    Absent,
    /// A journal that needs no rollback: empty, invalidated by a commit, or with a header
    /// that does not parse (no database byte of its transaction was written). A writable
    /// open or `pydbm recover` deletes it; readers leave it alone.
    Cold,
    /// A valid header: the transaction it describes may have changed the files.
    Hot {
        /// A live pydbm writer holds the journal's lock: its transaction is in progress, not
        /// interrupted, and nobody may roll it back.
        in_use: bool,
        /// The journal's format version ([`crate::journal::VERSION`] or `VERSION_1`).
        version: u32,
    },
}

/// Takes the lock that says "a live writer owns this journal" on the open journal `jf`: a
/// writer holds it exclusive from the journal's creation until it closes
/// (docs/recovery.md). `Ok(None)` when the file has no identity to lock (never on real
/// files); [`Error::Locked`] when another handle holds a conflicting lock.
pub(crate) fn lock_journal(jf: &dyn VfsFile, mode: LockMode) -> Result<Option<LockGuard>> {
    match LockTable::global().lock(jf, mode, LockKind::Flock, None) {
        Ok(g) => Ok(Some(g)),
        Err(Error::Unsupported { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Decides whether the journal of the pager whose first file is `primary` is hot, and
/// whether a live writer owns it. Reads the journal's header and probes its lock with a
/// shared lock released at once; never writes, truncates or removes anything.
pub fn journal_status(vfs: &dyn Vfs, primary: &Path) -> Result<JournalStatus> {
    let journal = journal_path(primary);
    if !vfs.exists(&journal)? {
        return Ok(JournalStatus::Absent);
    }
    let jf = match vfs.open(&journal, VfsOpen::READ) {
        Err(e) if e.is_not_found() => return Ok(JournalStatus::Absent),
        other => other?,
    };
    Ok(match read_state(&*jf)? {
        JournalState::Absent => JournalStatus::Absent,
        JournalState::NotHot | JournalState::BadHeader(_) => JournalStatus::Cold,
        JournalState::Hot { header, .. } => JournalStatus::Hot {
            in_use: match lock_journal(&*jf, LockMode::Shared) {
                Ok(_) => false,
                Err(Error::Locked { .. }) => true,
                Err(e) => return Err(e),
            },
            version: header.version,
        },
    })
}

/// What every reader (a read-only or unlocked open, `stats`) does first: it never writes
/// (docs/recovery.md), and a hot journal means the files may hold an interrupted transaction's torn writes, so the open is refused —
/// [`Error::Locked`] when a live writer owns the journal (its commit is in progress),
/// [`Error::HotJournal`] when the writer is gone (open writable or run `pydbm recover`).
pub fn refuse_hot_journal(vfs: &dyn Vfs, primary: &Path) -> Result<()> {
    let journal = journal_path(primary);
    match journal_status(vfs, primary)? {
        JournalStatus::Hot { in_use: true, .. } => Err(Error::Locked {
            path: journal.clone(),
        }),
        JournalStatus::Hot { in_use: false, .. } => Err(Error::HotJournal {
            path: journal.clone(),
        }),
        JournalStatus::Absent | JournalStatus::Cold => Ok(()),
    }
}

/// What the journal at `journal` holds (see [`JournalState`]); reads, never writes.
pub(crate) fn probe(vfs: &dyn Vfs, journal: &Path) -> Result<JournalState> {
    if !vfs.exists(journal)? {
        return Ok(JournalState::Absent);
    }
    let jf = match vfs.open(journal, VfsOpen::READ) {
        Err(e) if e.is_not_found() => return Ok(JournalState::Absent),
        other => other?,
    };
    read_state(&*jf)
}

/// Where one valid record is: its target and where its data lies in the journal.
#[derive(Debug, Clone, Copy)]
struct RecordAt {
    file: usize,
    offset: u64,
    len: u64,
    data_pos: u64,
}

/// The valid records of a journal: pre-images (where their data lies), post-image crcs by
/// pre-image record index, fresh-image crcs by (file, piece offset), the last lengths mark
/// per file, and the torn tail's length.
#[derive(Debug, Default)]
struct Scanned {
    recs: Vec<RecordAt>,
    posts: HashMap<u32, Vec<u32>>,
    fresh: BTreeMap<(u32, u64), Vec<u32>>,
    lengths: HashMap<u32, LengthMark>,
    ignored_tail: u64,
}

/// Reads the valid records after the header, one at a time through a buffer of at most
/// `RECORD_HEADER_LEN + max(page_size, MAX_MARK_DATA)` bytes (≤ 16 MiB + 20), never the
/// whole journal.
fn scan_records(
    jf: &dyn VfsFile,
    header: &JournalHeader,
    header_len: usize,
    file_len: u64,
) -> Result<Scanned> {
    let mut out = Scanned::default();
    let mut pos = header_len as u64;
    let mut buf = Vec::new();
    let max_data = u64::from(header.page_size).max(MAX_MARK_DATA as u64);
    while pos < file_len {
        let want = (RECORD_HEADER_LEN as u64 + max_data).min(file_len - pos);
        buf.resize(want as usize, 0);
        jf.read_exact_at(&mut buf, pos)?;
        let Some((entry, n)) = JournalEntry::parse(&buf, header) else {
            break;
        };
        match entry {
            JournalEntry::Pre(rec) => out.recs.push(RecordAt {
                file: rec.file as usize,
                offset: rec.offset,
                len: rec.data.len() as u64,
                data_pos: pos + RECORD_HEADER_LEN as u64,
            }),
            JournalEntry::Post(posts) => {
                for p in posts {
                    out.posts.entry(p.record).or_default().push(p.crc);
                }
            }
            JournalEntry::Fresh(fresh) => {
                for f in fresh {
                    out.fresh.entry((f.file, f.offset)).or_default().push(f.crc);
                }
            }
            JournalEntry::Lengths(m) => {
                // Marks only widen: the last one of a file is its whole range.
                out.lengths.insert(m.file, m);
            }
        }
        pos += n as u64;
    }
    out.ignored_tail = file_len - pos;
    Ok(out)
}

/// Refusal of a rollback that would overwrite bytes written after the crash: names the file,
/// the offset and what is there, and keeps the journal.
fn conflict(journal: &Path, path: &Path, offset: u64, what: String) -> Error {
    Error::corrupt(
        path,
        offset,
        format!(
            "{what}; another program wrote the file after the interrupted transaction, so \
             rolling back would destroy its writes: refusing to recover; the journal {} is kept \
             (`pydbm recover --discard` deletes it, leaving the files as they are)",
            journal.display()
        ),
    )
}

/// Proves that rolling back changes only what the interrupted transaction wrote
/// (docs/journal.md, "Post-images"): every file's length lies in the range the transaction
/// gave it; every pre-image record's range holds either its pre-image (the write never
/// happened) or one of the post-images the transaction recorded for it; and every fresh
/// piece (bytes past the original length, version 3) holds one of its fresh images. Where a
/// truncation of the transaction may have reached the file (at or past the least length it
/// gave the file) a range may also read as zeros, and a pre-image range as its pre-image cut
/// short by zeros; bytes past a file's end read as zeros. Reads only.
fn verify_post_images(
    vfs: &dyn Vfs,
    jf: &dyn VfsFile,
    journal: &Path,
    header: &JournalHeader,
    paths: &[PathBuf],
    scanned: &Scanned,
) -> Result<()> {
    let mut lows = Vec::with_capacity(paths.len());
    let mut handles = Vec::with_capacity(paths.len());
    for (i, (jfile, path)) in header.files.iter().zip(paths).enumerate() {
        let orig = jfile.orig_len.unwrap_or(0);
        let (lo, hi) = match scanned.lengths.get(&(i as u32)) {
            Some(m) => (m.lo.min(orig), m.hi.max(orig)),
            None => (orig, orig),
        };
        lows.push(lo);
        let handle = if vfs.exists(path)? {
            Some(vfs.open(path, VfsOpen::READ)?)
        } else {
            None
        };
        match (&handle, jfile.orig_len) {
            (None, Some(_)) if lo > 0 => {
                return Err(conflict(
                    journal,
                    path,
                    0,
                    "expected the file (the interrupted transaction never removed it), found it missing".into(),
                ));
            }
            (Some(h), _) => {
                let len = h.len()?;
                if len > hi || len < lo {
                    return Err(conflict(
                        journal,
                        path,
                        len.min(hi),
                        format!(
                            "expected a length in {lo}..={hi} (the lengths the interrupted \
                             transaction gave the file), found {len} bytes"
                        ),
                    ));
                }
            }
            _ => {}
        }
        handles.push(handle);
    }
    let (mut pre, mut now) = (Vec::new(), Vec::new());
    for (k, rec) in scanned.recs.iter().enumerate() {
        let Some(h) = &handles[rec.file] else {
            continue;
        };
        // At or past the least length, a truncation of the transaction may have cut the
        // range (then zeros, or the pre-image's first bytes then zeros, until a write).
        let truncatable = rec.offset + rec.len > lows[rec.file];
        pre.resize(rec.len as usize, 0);
        now.resize(rec.len as usize, 0);
        jf.read_exact_at(&mut pre, rec.data_pos)?;
        read_padded(&**h, rec.offset, &mut now)?;
        if pre == now {
            continue;
        }
        let crc = crc32fast::hash(&now);
        if scanned
            .posts
            .get(&(k as u32))
            .is_some_and(|c| c.contains(&crc))
        {
            continue;
        }
        if truncatable {
            let kept = pre.iter().zip(&now).take_while(|(a, b)| a == b).count();
            if now[kept..].iter().all(|&b| b == 0) {
                continue;
            }
        }
        return Err(conflict(
            journal,
            &paths[rec.file],
            rec.offset,
            format!(
                "the {} byte(s) the interrupted transaction wrote here, or the bytes from \
                 before it, found other bytes (crc32 {crc:08x})",
                rec.len
            ),
        ));
    }
    // Bytes past a file's original length have no pre-image: in a version 3 journal every
    // piece of them the transaction wrote has its fresh images recorded before the write, so
    // each piece the file holds now is one of those images, or zeros (never written, or cut
    // by a later truncation of the transaction). A version 2 journal has no fresh images.
    if header.version >= crate::journal::VERSION {
        let ps = u64::from(header.page_size);
        for (i, (jfile, h)) in header.files.iter().zip(&handles).enumerate() {
            let Some(h) = h else { continue };
            let len = h.len()?;
            let mut at = jfile.orig_len.unwrap_or(0);
            while at < len {
                let end = FreshImage::piece_end(at, ps);
                now.resize((end - at) as usize, 0);
                read_padded(&**h, at, &mut now)?;
                let crc = crc32fast::hash(&now);
                let ok = now.iter().all(|&b| b == 0)
                    || scanned
                        .fresh
                        .get(&(i as u32, at))
                        .is_some_and(|c| c.contains(&crc));
                if !ok {
                    return Err(conflict(
                        journal,
                        &paths[i],
                        at,
                        format!(
                            "bytes past the file's original length of {} that the interrupted \
                             transaction wrote, or zeros, found other bytes (crc32 {crc:08x})",
                            jfile.orig_len.unwrap_or(0)
                        ),
                    ));
                }
                at = end;
            }
        }
    }
    Ok(())
}

/// Reads `buf.len()` bytes of `h` at `offset`, as zeros past the file's end.
fn read_padded(h: &dyn VfsFile, offset: u64, buf: &mut [u8]) -> Result<()> {
    let len = h.len()?;
    let n = len.saturating_sub(offset).min(buf.len() as u64) as usize;
    h.read_exact_at(&mut buf[..n], offset)?;
    buf[n..].fill(0);
    Ok(())
}

/// Whether the records of file `file` cover every byte of `from..to`.
fn covered(recs: &[RecordAt], file: usize, from: u64, to: u64) -> bool {
    let mut spans: Vec<(u64, u64)> = recs
        .iter()
        .filter(|r| r.file == file)
        .map(|r| (r.offset, r.offset + r.len))
        .collect();
    spans.sort_unstable();
    let mut reached = from;
    for (s, e) in spans {
        if reached >= to {
            break;
        }
        if s <= reached {
            reached = reached.max(e);
        }
    }
    reached >= to
}

/// Rolls back the journal at `journal` if it is hot, then deletes it. The caller must hold
/// the exclusive lock on the database (or know no other handle can be using it).
///
/// Returns `None` when there is no journal or it is empty (nothing to do), else one line per
/// action. When `expected` is given, the header must name exactly those files (as
/// [`journal_name`] spells them) or the journal is reported [`Error::Corrupt`] and left alone.
/// A journal whose header is invalid is deleted without touching the files: the pager
/// writes (and under `Full` syncs) the whole header before any database page, so no page of
/// its transaction reached a file. Every restored file is fsynced before the journal is
/// invalidated, so a crash during recovery leaves the journal hot and recovery repeatable.
///
/// A hostile journal is refused ([`Error::Corrupt`], journal left in place, no file touched)
/// when it names a file that is not a plain name in the journal's directory, or declares an
/// original length that neither the file's current length nor the journal's records cover
/// (which would make recovery create a huge sparse file). Memory use is bounded by one page
/// plus a few words per record, whatever the journal's length fields say.
///
/// Before any byte changes, a version 2 journal's post-images are checked
/// ([`verify_post_images`]): a file another program changed since the crash is refused with
/// [`Error::Corrupt`] naming the file and offset, and the journal is kept. A version 1
/// journal has no post-images: with `allow_unverified` (an explicit `pydbm recover`) it is
/// rolled back as before, otherwise refused.
pub fn roll_back(
    vfs: &dyn Vfs,
    journal: &Path,
    expected: Option<&[Vec<u8>]>,
    allow_unverified: bool,
) -> Result<Option<Vec<String>>> {
    if !vfs.exists(journal)? {
        return Ok(None);
    }
    let jf = vfs.open(journal, VfsOpen::WRITE)?;
    let (header, header_len, file_len) = match read_state(&*jf)? {
        JournalState::Absent | JournalState::NotHot => {
            drop(jf);
            vfs.remove(journal)?;
            return Ok(None);
        }
        JournalState::BadHeader(bad) => {
            drop(jf);
            vfs.remove(journal)?;
            return Ok(Some(vec![format!(
                "{}: journal header invalid at offset {} (expected {}): discarded, no file changed",
                journal.display(),
                bad.offset,
                bad.expected
            )]));
        }
        JournalState::Hot {
            header,
            header_len,
            file_len,
        } => (header, header_len, file_len),
    };
    if let Some(names) = expected {
        let got: Vec<&[u8]> = header.files.iter().map(|f| &f.name[..]).collect();
        let want: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
        if got != want {
            return Err(Error::corrupt(
                journal,
                28,
                "a journal naming this database's files",
            ));
        }
    }
    for (i, f) in header.files.iter().enumerate() {
        let dup = header.files[..i].iter().any(|g| g.name == f.name);
        if !is_plain_name(journal, &f.name) || dup {
            return Err(Error::corrupt(
                journal,
                28,
                format!(
                    "distinct plain file names beside the journal (file {i} is named {:?}); refusing to recover",
                    String::from_utf8_lossy(&f.name)
                ),
            ));
        }
    }
    let paths: Vec<PathBuf> = header
        .files
        .iter()
        .map(|f| resolve(journal, &f.name))
        .collect();
    let scanned = scan_records(&*jf, &header, header_len, file_len)?;
    let mut lines = Vec::new();
    if header.version == VERSION_1 {
        if !allow_unverified {
            return Err(Error::corrupt(
                journal,
                8,
                "a version 2 journal: a version 1 journal has no post-images to prove the \
                 files unchanged since the crash; run `pydbm recover` to roll it back \
                 unverified, or `pydbm recover --discard` to delete it",
            ));
        }
        lines.push(format!(
            "{}: version 1 journal (no post-images): rolled back without checking for later writes",
            journal.display()
        ));
    } else {
        verify_post_images(vfs, &*jf, journal, &header, &paths, &scanned)?;
    }
    let (recs, ignored_tail) = (&scanned.recs, scanned.ignored_tail);
    // Every byte between a file's current length and its original length must come back
    // from a record: the pager journals all of them before shrinking or removing a file.
    for (i, (jfile, path)) in header.files.iter().zip(&paths).enumerate() {
        let Some(orig) = jfile.orig_len else { continue };
        let current = match vfs.exists(path)? {
            true => vfs.open(path, VfsOpen::READ)?.len()?,
            false => 0,
        };
        if orig > current && !covered(recs, i, current, orig) {
            return Err(Error::corrupt(
                journal,
                28,
                format!(
                    "records restoring {} from its current {current} byte(s) to its original {orig}; refusing to recover",
                    path.display()
                ),
            ));
        }
    }
    let mut restored = vec![0usize; paths.len()];
    let mut data = Vec::new();
    for rec in recs {
        // Only files that existed can have records (JournalRecord::parse checks it).
        data.resize(rec.len as usize, 0);
        jf.read_exact_at(&mut data, rec.data_pos)?;
        let f = vfs.open(&paths[rec.file], VfsOpen::CREATE)?;
        f.write_at(&data, rec.offset)?;
        restored[rec.file] += 1;
    }
    for (i, (jfile, path)) in header.files.iter().zip(&paths).enumerate() {
        match jfile.orig_len {
            None => {
                if vfs.exists(path)? {
                    vfs.remove(path)?;
                    lines.push(format!(
                        "{}: removed (created by the interrupted transaction)",
                        path.display()
                    ));
                }
            }
            Some(orig) => {
                let f = vfs.open(path, VfsOpen::CREATE)?;
                let before = f.len()?;
                if before != orig {
                    f.set_len(orig)?;
                }
                f.sync()?;
                lines.push(format!(
                    "{}: rolled back {} page(s); length {} -> {}",
                    path.display(),
                    restored[i],
                    before,
                    orig
                ));
            }
        }
    }
    if let Some(dir) = journal.parent() {
        vfs.sync_dir(dir)?;
    }
    if ignored_tail > 0 {
        lines.push(format!(
            "{}: ignored a torn tail of {} byte(s)",
            journal.display(),
            ignored_tail
        ));
    }
    jf.set_len(0)?;
    jf.sync()?;
    drop(jf);
    vfs.remove(journal)?;
    Ok(Some(lines))
}

/// Rolls back `journal` (a journal file's bytes) over an in-memory disk whose `/db/db` file
/// holds 8 KiB of a fixed pattern, with files limited to 64 MiB. This is what the
/// `journal_recovery` fuzz target runs: any input must give `Ok` or a clean `Err`, never a
/// panic, a hang or an unbounded allocation. Compiled for tests and the `fuzzing` feature.
#[cfg(any(test, feature = "fuzzing"))]
pub fn recover_in_memory(journal: &[u8]) -> Result<Option<Vec<String>>> {
    let vfs = crate::MemVfs::with_limit(64 << 20);
    let pattern: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
    vfs.write_file(Path::new("/db/db"), &pattern);
    vfs.write_file(Path::new("/db/db-journal"), journal);
    roll_back(&vfs, Path::new("/db/db-journal"), None, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays every seed of the `journal_recovery` fuzz target through the function it calls.
    #[test]
    fn fuzz_corpus_replays() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/journal_recovery");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = recover_in_memory(&data);
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            // Fuzzer-found inputs may fail cleanly (e.g. a length past the in-memory limit);
            // the named seeds must roll back.
            let text = match result {
                Ok(lines) => lines.unwrap_or_default().join("\n"),
                Err(e) => {
                    assert!(name.starts_with("fuzz-"), "{name}: {e}");
                    continue;
                }
            };
            match name.as_str() {
                "valid_two_records" => assert!(text.contains("rolled back 2 page(s)"), "{text}"),
                "torn_tail" => {
                    assert!(text.contains("rolled back 1 page(s)"), "{text}");
                    assert!(text.contains("torn tail"), "{text}");
                }
                "bad_header_crc" => assert!(text.contains("header invalid"), "{text}"),
                "stale_salt_record" => assert!(text.contains("rolled back 0 page(s)"), "{text}"),
                _ => {}
            }
            n += 1;
        }
        assert!(n >= 5, "expected the committed seeds in {}", dir.display());
    }

    #[test]
    fn rollback_restores_bytes_and_lengths() {
        let vfs = crate::MemVfs::new();
        let header = crate::journal::JournalHeader {
            version: crate::journal::VERSION,
            page_size: 16,
            salt: 3,
            files: vec![
                crate::journal::JournalFile {
                    name: b"a".to_vec(),
                    orig_len: Some(20),
                },
                crate::journal::JournalFile {
                    name: b"b".to_vec(),
                    orig_len: None,
                },
            ],
        };
        let mut j = header.encode();
        j.extend(
            crate::journal::JournalRecord {
                file: 0,
                offset: 16,
                data: b"WXYZ".to_vec(),
            }
            .encode(3),
        );
        // What the transaction wrote: "nnnn" over "WXYZ", file a grown to 40, b created.
        crate::journal::encode_posts(
            &mut j,
            3,
            &[crate::journal::PostImage {
                record: 0,
                crc: crc32fast::hash(b"nnnn"),
            }],
        );
        for (file, lo, hi) in [(0, 20, 40), (1, 0, 7)] {
            LengthMark { file, lo, hi }.encode_into(&mut j, 3);
        }
        // The bytes past the original lengths, per 16-byte page piece (zeros past the end).
        let fresh = |file, offset, bytes: &[u8]| crate::journal::FreshImage {
            file,
            offset,
            crc: crc32fast::hash(bytes),
        };
        crate::journal::encode_fresh(
            &mut j,
            3,
            &[
                fresh(0, 20, &[b'n'; 12]),
                fresh(0, 32, &[b"nnnnnnnn".as_slice(), &[0; 8]].concat()),
                fresh(1, 0, &[b"created".as_slice(), &[0; 9]].concat()),
            ],
        );
        vfs.write_file(Path::new("/d/a"), &[b'n'; 40]);
        vfs.write_file(Path::new("/d/b"), b"created");
        vfs.write_file(Path::new("/d/a-journal"), &j);
        let lines = roll_back(&vfs, Path::new("/d/a-journal"), None, false)
            .unwrap()
            .unwrap();
        let mut want = vec![b'n'; 16];
        want.extend(b"WXYZ");
        assert_eq!(vfs.read_file(Path::new("/d/a")).unwrap(), want);
        assert_eq!(vfs.read_file(Path::new("/d/b")), None);
        assert_eq!(vfs.read_file(Path::new("/d/a-journal")), None);
        assert_eq!(lines.len(), 2, "{lines:?}");
    }
}
