//! The copy `pydbm recover` keeps of a database before recovering it:
//! `NAME.damaged-YYYYMMDDTHHMMSSZ` plus each file's suffix (so the copy of dumb `x` is
//! `x.damaged-….dat`/`.dir`, itself a database pydbm and Python open). A pydbm journal
//! `FILE-journal` is kept as `COPY.journal`, a name no open treats as a hot journal (a hot
//! journal beside the copy would name the original file and could be rolled back over
//! it). The copy is removed again when recovery changed nothing.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::database_files::{suffixes, with_suffix};

/// A copy of a database's files taken before recovery.
#[derive(Debug)]
pub struct DamagedCopy {
    /// The copy's database name (`NAME.damaged-…`).
    pub name: PathBuf,
    /// `(original, copy)` for every file that existed.
    files: Vec<(PathBuf, PathBuf)>,
    /// Files of the database that did not exist when the copy was taken.
    absent: Vec<PathBuf>,
}

/// What recovery changed in a database's files, compared with the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Every file is as it was.
    Nothing,
    /// Only pydbm journals were removed, created or changed; the data files are as they were.
    JournalsOnly,
    /// A data file changed, appeared or disappeared.
    Data,
}

/// Whether `path` is a pydbm journal (`FILE-journal`).
fn is_journal(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().ends_with(b"-journal")
}

impl Change {
    /// The larger of two changes (`Nothing` < `JournalsOnly` < `Data`).
    fn max_with(self, other: Change) -> Change {
        match (self, other) {
            (Change::Data, _) | (_, Change::Data) => Change::Data,
            (Change::JournalsOnly, _) | (_, Change::JournalsOnly) => Change::JournalsOnly,
            _ => Change::Nothing,
        }
    }
}

/// `UNIX time` as `YYYYMMDDTHHMMSSZ` (UTC, proleptic Gregorian calendar).
pub fn utc_stamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from a day count (Howard Hinnant's `civil_from_days`, public domain).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The files of a `module` database `name` with the pydbm journal of each, as
/// `(file, suffix the copy gets)`.
fn files_of(module: &str, name: &Path) -> Vec<(PathBuf, String)> {
    suffixes(module)
        .iter()
        .flat_map(|s| {
            [
                (with_suffix(name, s), s.to_string()),
                (
                    with_suffix(name, &format!("{s}-journal")),
                    format!("{s}.journal"),
                ),
            ]
        })
        .collect()
}

impl DamagedCopy {
    /// Copies every existing file of the `module` database `name` beside it, under a name
    /// stamped with `now` (and `-2`, `-3`, … up to `-1000` if that name is taken).
    pub fn take(module: &str, name: &Path, now: SystemTime) -> io::Result<DamagedCopy> {
        let files = files_of(module, name);
        let stamp = utc_stamp(now);
        let copy_name = (1..=1000)
            .map(|n| {
                let tag = if n == 1 {
                    stamp.clone()
                } else {
                    format!("{stamp}-{n}")
                };
                with_suffix(name, &format!(".damaged-{tag}"))
            })
            .find(|c| {
                files
                    .iter()
                    .all(|(_, s)| with_suffix(c, s).symlink_metadata().is_err())
            })
            .ok_or_else(|| {
                io::Error::other(format!(
                    "{}.damaged-{stamp}: 1000 copies with this time stamp exist",
                    name.display()
                ))
            })?;
        let mut copy = DamagedCopy {
            name: copy_name,
            files: Vec::new(),
            absent: Vec::new(),
        };
        for (file, suffix) in files {
            if file.is_file() {
                let to = with_suffix(&copy.name, &suffix);
                fs::copy(&file, &to).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("copying {} to {}: {e}", file.display(), to.display()),
                    )
                })?;
                copy.files.push((file, to));
            } else {
                copy.absent.push(file);
            }
        }
        Ok(copy)
    }

    /// The copied files, as `(original, copy)`.
    pub fn files(&self) -> &[(PathBuf, PathBuf)] {
        &self.files
    }

    /// What changed in the database's files since the copy was taken (changed, removed or
    /// created files).
    pub fn changes(&self) -> io::Result<Change> {
        let mut change = Change::Nothing;
        let mut saw = |file: &Path| {
            change = change.max_with(if is_journal(file) {
                Change::JournalsOnly
            } else {
                Change::Data
            });
        };
        for (original, copy) in &self.files {
            if !original.is_file() || !same_contents(original, copy)? {
                saw(original);
            }
        }
        for file in &self.absent {
            if file.symlink_metadata().is_ok() {
                saw(file);
            }
        }
        Ok(change)
    }

    /// Removes the copy.
    pub fn discard(self) -> io::Result<()> {
        for (_, copy) in &self.files {
            fs::remove_file(copy)?;
        }
        Ok(())
    }
}

/// Whether files `a` and `b` hold the same bytes (read in 64 KiB chunks).
fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (fs::File::open(a)?, fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_are_utc_calendar_dates() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        // date -u -d @1796658300 +%Y%m%dT%H%M%SZ
        let t = UNIX_EPOCH + Duration::from_secs(1_796_658_300);
        assert_eq!(utc_stamp(t), "20261207T154500Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_825_600); // 2000-02-29 12:00:00
        assert_eq!(utc_stamp(leap), "20000229T120000Z");
    }

    #[test]
    fn copies_every_file_and_tells_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let x = dir.path().join("x");
        fs::write(with_suffix(&x, ".dat"), b"data").expect("write");
        fs::write(with_suffix(&x, ".dir"), b"index").expect("write");
        fs::write(with_suffix(&x, ".dat-journal"), b"j").expect("write");
        let now = UNIX_EPOCH + Duration::from_secs(1_796_658_300);
        let copy = DamagedCopy::take("dbm.dumb", &x, now).expect("copy");
        assert_eq!(copy.name, dir.path().join("x.damaged-20261207T154500Z"));
        assert_eq!(copy.files().len(), 3);
        let journal_copy = with_suffix(&copy.name, ".dat.journal");
        assert_eq!(fs::read(&journal_copy).expect("journal copy"), b"j");
        assert_eq!(copy.changes().expect("compare"), Change::Nothing);
        // A second copy in the same second gets another name.
        let second = DamagedCopy::take("dbm.dumb", &x, now).expect("copy");
        assert_eq!(second.name, dir.path().join("x.damaged-20261207T154500Z-2"));
        second.discard().expect("discard");
        fs::remove_file(with_suffix(&x, ".dat-journal")).expect("rm");
        assert_eq!(copy.changes().expect("compare"), Change::JournalsOnly);
        fs::write(with_suffix(&x, ".bak"), b"new").expect("write");
        assert_eq!(
            copy.changes().expect("compare"),
            Change::Data,
            "a created file"
        );
        fs::remove_file(with_suffix(&x, ".bak")).expect("rm");
        fs::write(with_suffix(&x, ".dat"), b"dat2").expect("write");
        assert_eq!(
            copy.changes().expect("compare"),
            Change::Data,
            "same length, other bytes"
        );
    }
}
