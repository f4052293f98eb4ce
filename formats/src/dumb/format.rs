//! [`DumbFormat`]: the CLI's entry points for `dbm.dumb` (open, check, stats, recover,
//! crashtest), and the static [`FORMAT`].

use std::path::Path;
use std::sync::Arc;

use pydbm_engine::{
    CrashReport, Dbm, Error, FileSpec, Format, LockKind, LockMode, OpenOptions, OsVfs, Pager,
    PagerOptions, Problem, Result, Vfs, VfsOpen,
};

use super::check::{self, Finding};
use super::db::{file_paths, DumbDb};
use super::dir_index::{self, Slot};
use super::store::{BAK, DAT, DIR};

/// The `dbm.dumb` format (CPython 3.13's `.dat`/`.dir`/`.bak`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DumbFormat;

/// The registry entry for `dbm.dumb`.
pub static FORMAT: DumbFormat = DumbFormat;

/// Reads a whole file through `vfs`; `None` when it does not exist.
pub(crate) fn read_file(vfs: &dyn Vfs, path: &Path) -> Result<Option<Vec<u8>>> {
    if !vfs.exists(path)? {
        return Ok(None);
    }
    let f = vfs.open(path, VfsOpen::READ)?;
    let len = usize::try_from(f.len()?)
        .map_err(|_| Error::unsupported(path, "a file larger than the address space"))?;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, 0)?;
    Ok(Some(buf))
}

fn finding_problem(dat: &Path, f: &Finding) -> Problem {
    let show = |k: &[u8]| {
        let mut v = Vec::new();
        dir_index::encode_key_repr(k, &mut v);
        String::from_utf8_lossy(&v).into_owned()
    };
    match f {
        Finding::OutsideDat { key, slot } => Problem {
            file: dat.to_path_buf(),
            offset: Some(slot.pos),
            message: format!(
                "key {} has {} value bytes at {}, past the end of .dat",
                show(key),
                slot.siz,
                slot.pos
            ),
        },
        Finding::Overlap { first, second, pos } => Problem {
            file: dat.to_path_buf(),
            offset: Some(*pos),
            message: format!(
                "value of key {} overlaps the value of key {}",
                show(second),
                show(first)
            ),
        },
    }
}

/// The shared `flock` a `'r'` handle takes on `NAME.dat`; none when `NAME.dat` is missing
/// (the reader then reports the missing file itself).
fn shared_dat_lock(vfs: &dyn Vfs, name: &Path) -> Result<Option<pydbm_engine::LockGuard>> {
    let dat = &file_paths(name)[DAT];
    if !vfs.exists(dat)? {
        return Ok(None);
    }
    pydbm_engine::LockTable::global()
        .lock_path(vfs, dat, LockMode::Shared, LockKind::Flock, None)
        .map(Some)
}

impl DumbFormat {
    /// [`Format::check`] through any `vfs`.
    pub fn check_in(&self, vfs: &dyn Vfs, name: &Path) -> Result<Vec<Problem>> {
        let paths = file_paths(name);
        let mut problems = Vec::new();
        problems.extend(pydbm_engine::journal_problem(vfs, &paths[DAT])?);
        let dat = read_file(vfs, &paths[DAT])?.ok_or_else(|| not_found(&paths[DAT]))?;
        let dir = read_file(vfs, &paths[DIR])?.ok_or_else(|| not_found(&paths[DIR]))?;
        let mut entries = Vec::new();
        for line in dir_index::lines(&dir) {
            match dir_index::parse_line(line.text) {
                Ok(e) => entries.push(e),
                Err(what) => problems.push(Problem {
                    file: paths[DIR].clone(),
                    offset: Some(line.offset),
                    message: format!("line {}: {what}", line.number),
                }),
            }
        }
        let index = super::index::Index::from_entries(entries);
        let analysis = check::analyze(index.iter(), dat.len() as u64);
        problems.extend(
            analysis
                .findings
                .iter()
                .map(|f| finding_problem(&paths[DAT], f)),
        );
        Ok(problems)
    }

    /// [`Format::stats`] through any `vfs`.
    pub fn stats_in(&self, vfs: &dyn Vfs, name: &Path) -> Result<Vec<(String, String)>> {
        let paths = file_paths(name);
        // A reader: torn bytes of an interrupted operation are not reported as the file.
        pydbm_engine::refuse_hot_journal(vfs, &paths[DAT])?;
        let dat = read_file(vfs, &paths[DAT])?.ok_or_else(|| not_found(&paths[DAT]))?;
        let dir = read_file(vfs, &paths[DIR])?.ok_or_else(|| not_found(&paths[DIR]))?;
        let bak = read_file(vfs, &paths[BAK])?;
        let index = super::index::Index::from_entries(dir_index::parse(&paths[DIR], &dir)?);
        let a = check::analyze(index.iter(), dat.len() as u64);
        let kv = |k: &str, v: String| (k.to_string(), v);
        Ok(vec![
            kv("format", "dbm.dumb".into()),
            kv(
                "variant",
                "CPython .dat/.dir/.bak, Latin-1 repr index".into(),
            ),
            kv("block size", "512".into()),
            kv("records", index.len().to_string()),
            kv(".dat size", dat.len().to_string()),
            kv(".dir size", dir.len().to_string()),
            kv(
                ".bak size",
                bak.map_or("absent".into(), |b| b.len().to_string()),
            ),
            kv("live value bytes", a.live_bytes.to_string()),
            kv(
                "values not at a 512-byte boundary (CPython reads them)",
                a.unaligned.to_string(),
            ),
            kv(
                "free space (orphaned .dat bytes)",
                a.orphaned_bytes.to_string(),
            ),
        ])
    }

    /// [`Format::recover`] through any `vfs`: rolls back a hot journal, then rebuilds `.dir`
    /// from its readable lines whose values lie inside `.dat` (the old `.dir` goes to `.bak`,
    /// as CPython's index commit does), naming every line dropped.
    pub fn recover_in(&self, vfs: Arc<dyn Vfs>, name: &Path) -> Result<Vec<String>> {
        let paths = file_paths(name);
        let mut report = match Pager::recover(&*vfs, &paths[DAT])? {
            Some(lines) => lines,
            None => vec!["no interrupted operation (no hot journal)".to_string()],
        };
        let dat_len = read_file(&*vfs, &paths[DAT])?
            .ok_or_else(|| not_found(&paths[DAT]))?
            .len() as u64;
        let Some(dir) = read_file(&*vfs, &paths[DIR])? else {
            return Err(not_found(&paths[DIR]));
        };
        let mut kept: Vec<(Vec<u8>, Slot)> = Vec::new();
        let mut dropped = 0usize;
        for line in dir_index::lines(&dir) {
            let shown = String::from_utf8_lossy(line.text);
            match dir_index::parse_line(line.text) {
                Ok((key, slot)) if slot.pos.checked_add(slot.siz).is_some_and(|e| e <= dat_len) => {
                    kept.push((key, slot))
                }
                Ok(_) => {
                    dropped += 1;
                    report.push(format!(
                        "lost: line {} ({shown}): value lies past the end of .dat",
                        line.number
                    ));
                }
                Err(what) => {
                    dropped += 1;
                    report.push(format!("lost: line {} ({shown}): {what}", line.number));
                }
            }
        }
        if dropped == 0 {
            // A key listed twice (an override line, docs/dumb.md "Replacements") is one record.
            let records = super::index::Index::from_entries(kept).len();
            report.push(format!("index ok: {records} records"));
            return Ok(report);
        }
        let index = super::index::Index::from_entries(kept);
        let text = dir_index::encode(index.iter());
        let specs = paths.iter().map(|p| FileSpec::new(p.clone())).collect();
        let mut pager = Pager::open(
            vfs,
            specs,
            PagerOptions {
                lock: Some((LockKind::Flock, LockMode::Exclusive)),
                ..PagerOptions::default()
            },
        )?;
        pager.set_len(BAK, 0)?;
        pager.write_at(BAK, 0, &dir)?;
        pager.set_len(DIR, 0)?;
        pager.write_at(DIR, 0, &text)?;
        pager.commit()?;
        pager.close()?;
        report.push(format!(
            "rebuilt {} with {} records ({dropped} lost); the old index is in {}",
            paths[DIR].display(),
            index.len(),
            paths[BAK].display()
        ));
        Ok(report)
    }
}

fn not_found(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
    )
}

impl Format for DumbFormat {
    fn module(&self) -> &'static str {
        "dbm.dumb"
    }

    fn open_in(&self, vfs: Arc<dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dbm>> {
        Ok(Box::new(DumbDb::open_in(vfs, path, opts)?))
    }

    /// Reads under the shared `flock` on `NAME.dat` a `'r'` handle takes, so a pydbm writer's
    /// half-done operation and live journal are not seen; [`Error::Locked`] while a pydbm
    /// writer holds it (CPython's dumb takes no lock, docs/locking.md).
    fn check(&self, path: &Path) -> Result<Vec<Problem>> {
        let vfs = OsVfs::new();
        let _lock = shared_dat_lock(&vfs, path)?;
        self.check_in(&vfs, path)
    }

    /// Reads under the shared `flock` on `NAME.dat`, as [`Format::check`] does.
    fn stats(&self, path: &Path) -> Result<Vec<(String, String)>> {
        let vfs = OsVfs::new();
        let _lock = shared_dat_lock(&vfs, path)?;
        self.stats_in(&vfs, path)
    }

    fn recover(&self, path: &Path) -> Result<Vec<String>> {
        self.recover_in(Arc::new(OsVfs::new()), path)
    }

    fn discard_journal(&self, path: &Path) -> Result<Vec<String>> {
        let dat = &file_paths(path)[DAT];
        Ok(Pager::discard_journal(&OsVfs::new(), dat)?
            .unwrap_or_else(|| vec![format!("{}: no journal", dat.display())]))
    }

    fn crashtest(
        &self,
        ops: u64,
        seed: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<CrashReport> {
        super::crashtest::run(ops, seed, pydbm_engine::Durability::Process, progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::{CrashKind, Durability, FaultConfig, FaultVfs, MemVfs};

    fn opts(flag: &str) -> OpenOptions {
        let mut o = OpenOptions::from_flag(flag).expect("valid flag");
        o.no_lock = true;
        o
    }

    #[test]
    fn check_reports_bad_lines_outside_and_overlap_but_not_alignment() {
        let mem = MemVfs::new();
        mem.write_file(Path::new("/t/db.dat"), &[7u8; 1100]);
        mem.write_file(
            Path::new("/t/db.dir"),
            b"'a', (0, 600)\n'b', (512, 3)\nzzz\n'c', (1024, 500)\n'd', (1030, 1)\n",
        );
        let problems = FORMAT.check_in(&mem, Path::new("/t/db")).unwrap();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        // 'd' at 1030 is not at a block boundary: CPython reads it, so it is no problem.
        assert_eq!(problems.len(), 3, "{text:#?}");
        assert!(text[0].contains("db.dir: offset 28: line 3"), "{}", text[0]);
        assert!(text.iter().any(|t| t.contains("past the end of .dat")));
        assert!(text
            .iter()
            .any(|t| t.contains("'b' overlaps the value of key 'a'")));
        let stats = FORMAT.stats_in(&mem, Path::new("/t/db"));
        assert!(matches!(stats, Err(Error::Corrupt { .. })));
    }

    #[test]
    fn stats_count_records_and_orphaned_space() {
        let mem: Arc<dyn Vfs> = Arc::new(MemVfs::new());
        let name = Path::new("/s/db");
        let mut db = DumbDb::open_in(mem.clone(), name, &opts("c")).unwrap();
        db.insert(b"a", &[1; 100]).unwrap();
        db.insert(b"b", &[2; 10]).unwrap();
        db.insert(b"a", &[3; 700]).unwrap(); // grows: the first block is orphaned
        db.close().unwrap();
        let stats = FORMAT.stats_in(&*mem, name).unwrap();
        let get = |k: &str| stats.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("records"), "2");
        assert_eq!(get(".dat size"), "1724");
        assert_eq!(get("free space (orphaned .dat bytes)"), "512");
        assert!(FORMAT.check_in(&*mem, name).unwrap().is_empty());
    }

    /// A crash in the middle of an operation leaves a hot journal; `recover` rolls it back to
    /// the triple before the operation, and `check` flags the journal until then.
    #[test]
    fn recover_rolls_back_an_interrupted_operation() {
        let name = Path::new("/r/db");
        let base = MemVfs::new();
        {
            let vfs: Arc<dyn Vfs> = Arc::new(base.clone());
            let mut db = DumbDb::open_in(vfs, name, &opts("c")).unwrap();
            db.insert(b"k", b"before").unwrap();
            db.close().unwrap();
        }
        let before: Vec<_> = file_paths(name).iter().map(|p| base.read_file(p)).collect();
        // Find a crash point that leaves a non-empty journal behind.
        for crash_at in 1..40 {
            let fault = FaultVfs::new(
                base.snapshot(),
                FaultConfig {
                    seed: crash_at,
                    crash_at: Some(crash_at),
                    kind: CrashKind::ProcessKill,
                },
            );
            let vfs: Arc<dyn Vfs> = Arc::new(fault.clone());
            let mut o = opts("w");
            o.durability = Durability::Process;
            if let Ok(mut db) = DumbDb::open_in(vfs, name, &o) {
                let _ = db.insert(b"k2", &[9; 3000]);
                let _ = db.remove(b"k");
                let _ = db.close();
            }
            let disk = fault.surviving_disk();
            let journal = pydbm_engine::journal_path(&file_paths(name)[DAT]);
            let hot = matches!(
                pydbm_engine::journal_status(&disk, &file_paths(name)[DAT]).unwrap(),
                pydbm_engine::JournalStatus::Hot { .. }
            );
            if !hot {
                // check and recover agree: no journal problem, nothing rolled back.
                assert!(FORMAT
                    .check_in(&disk, name)
                    .unwrap()
                    .iter()
                    .all(|p| !p.message.contains("journal")));
                continue;
            }
            assert!(disk.read_file(&journal).is_some());
            let problems = FORMAT.check_in(&disk, name).unwrap();
            assert!(problems[0].message.contains("hot rollback journal"));
            let disk: Arc<dyn Vfs> = Arc::new(disk);
            let report = FORMAT.recover_in(disk.clone(), name).unwrap();
            assert!(!report[0].starts_with("no interrupted"), "{report:?}");
            let mut db = DumbDb::open_in(disk.clone(), name, &opts("r")).unwrap();
            let keys = db.keys().unwrap();
            assert!(keys == vec![b"k".to_vec()] || keys == vec![b"k".to_vec(), b"k2".to_vec()]);
            if keys.len() == 1 {
                let mem_after: Vec<_> = file_paths(name)
                    .iter()
                    .map(|p| read_file(&*disk, p).unwrap())
                    .collect();
                assert_eq!(mem_after, before, "crash at {crash_at}");
            }
            return;
        }
        panic!("no crash point left a hot journal");
    }
}
