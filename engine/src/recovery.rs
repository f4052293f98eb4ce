//! Hot-journal rollback: puts the database files back as the journal header and records
//! say they were when the interrupted transaction began.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::journal::{BadHeader, JournalHeader, JournalRecord, MAX_HEADER_LEN, RECORD_HEADER_LEN};
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

/// Reads the valid records after the header, one at a time through a buffer of at most
/// `RECORD_HEADER_LEN + page_size` bytes (≤ 16 MiB + 20), never the whole journal.
/// Returns the records and the length of the torn or stale tail after them.
fn scan_records(
    jf: &dyn VfsFile,
    header: &JournalHeader,
    header_len: usize,
    file_len: u64,
) -> Result<(Vec<RecordAt>, u64)> {
    let mut recs = Vec::new();
    let mut pos = header_len as u64;
    let mut buf = Vec::new();
    while pos < file_len {
        let want = (RECORD_HEADER_LEN as u64 + u64::from(header.page_size)).min(file_len - pos);
        buf.resize(want as usize, 0);
        jf.read_exact_at(&mut buf, pos)?;
        let Some((rec, n)) = JournalRecord::parse(&buf, header) else {
            break;
        };
        recs.push(RecordAt {
            file: rec.file as usize,
            offset: rec.offset,
            len: rec.data.len() as u64,
            data_pos: pos + RECORD_HEADER_LEN as u64,
        });
        pos += n as u64;
    }
    Ok((recs, file_len - pos))
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
pub fn roll_back(
    vfs: &dyn Vfs,
    journal: &Path,
    expected: Option<&[Vec<u8>]>,
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
    let (recs, ignored_tail) = scan_records(&*jf, &header, header_len, file_len)?;
    // Every byte between a file's current length and its original length must come back
    // from a record: the pager journals all of them before shrinking or removing a file.
    for (i, (jfile, path)) in header.files.iter().zip(&paths).enumerate() {
        let Some(orig) = jfile.orig_len else { continue };
        let current = match vfs.exists(path)? {
            true => vfs.open(path, VfsOpen::READ)?.len()?,
            false => 0,
        };
        if orig > current && !covered(&recs, i, current, orig) {
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
    let mut lines = Vec::new();
    let mut restored = vec![0usize; paths.len()];
    let mut data = Vec::new();
    for rec in &recs {
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
/// panic, a hang or an unbounded allocation.
pub fn recover_in_memory(journal: &[u8]) -> Result<Option<Vec<String>>> {
    let vfs = crate::MemVfs::with_limit(64 << 20);
    let pattern: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
    vfs.write_file(Path::new("/db/db"), &pattern);
    vfs.write_file(Path::new("/db/db-journal"), journal);
    roll_back(&vfs, Path::new("/db/db-journal"), None)
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
        vfs.write_file(Path::new("/d/a"), &[b'n'; 40]);
        vfs.write_file(Path::new("/d/b"), b"created");
        vfs.write_file(Path::new("/d/a-journal"), &j);
        let lines = roll_back(&vfs, Path::new("/d/a-journal"), None)
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
