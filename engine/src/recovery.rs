//! Hot-journal rollback: puts the database files back as the journal header and records
//! say they were when the interrupted transaction began.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::journal::{parse_journal, JournalHeader};
use crate::{Error, Result, Vfs, VfsOpen};

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

/// Rolls back the journal at `journal` if it is hot, then deletes it.
///
/// Returns `None` when there is no journal or it is empty (nothing to do), else one line per
/// action. When `expected` is given, the header must name exactly those files (as
/// [`journal_name`] spells them) or the journal is reported [`Error::Corrupt`] and left alone.
/// A journal whose header is invalid is deleted without touching the files: the pager
/// writes (and under `Full` syncs) the whole header before any database page, so no page of
/// its transaction reached a file. Every restored file is fsynced before the journal is
/// invalidated, so a crash during recovery leaves the journal hot and recovery repeatable.
pub fn roll_back(
    vfs: &dyn Vfs,
    journal: &Path,
    expected: Option<&[Vec<u8>]>,
) -> Result<Option<Vec<String>>> {
    if !vfs.exists(journal)? {
        return Ok(None);
    }
    let jf = vfs.open(journal, VfsOpen::WRITE)?;
    let len = jf.len()?;
    let size = usize::try_from(len)
        .map_err(|_| Error::corrupt(journal, 0, "a journal that fits in memory"))?;
    let mut buf = vec![0u8; size];
    jf.read_exact_at(&mut buf, 0)?;
    let parsed = match parse_journal(&buf) {
        Ok(None) => {
            drop(jf);
            vfs.remove(journal)?;
            return Ok(None);
        }
        Err(bad) => {
            drop(jf);
            vfs.remove(journal)?;
            return Ok(Some(vec![format!(
                "{}: journal header invalid at offset {} (expected {}): discarded, no file changed",
                journal.display(),
                bad.offset,
                bad.expected
            )]));
        }
        Ok(Some(p)) => p,
    };
    if let Some(names) = expected {
        let got: Vec<&[u8]> = parsed.header.files.iter().map(|f| &f.name[..]).collect();
        let want: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
        if got != want {
            return Err(Error::corrupt(
                journal,
                28,
                "a journal naming this database's files",
            ));
        }
    }
    let mut lines = Vec::new();
    let header: &JournalHeader = &parsed.header;
    let paths: Vec<PathBuf> = header
        .files
        .iter()
        .map(|f| resolve(journal, &f.name))
        .collect();
    let mut restored = vec![0usize; paths.len()];
    for rec in &parsed.records {
        let i = rec.file as usize;
        // Only files that existed can have records (the pager journals bytes below the
        // original length only); a record for an absent file is skipped as it is deleted below.
        if header.files[i].orig_len.is_none() {
            continue;
        }
        let f = vfs.open(&paths[i], VfsOpen::CREATE)?;
        f.write_at(&rec.data, rec.offset)?;
        restored[i] += 1;
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
    if parsed.ignored_tail > 0 {
        lines.push(format!(
            "{}: ignored a torn tail of {} byte(s)",
            journal.display(),
            parsed.ignored_tail
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
