//! `NdbmFormat`: the `pydbm` CLI's entry points for `dbm.ndbm` files (open, check, stats,
//! recover, crashtest).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pydbm_engine::crash::{self, CrashConfig};
use pydbm_engine::crash_replay::run_replay;
use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{
    CrashReport, Dbm, Durability, Format, OpenMode, OpenOptions, OsVfs, Pager, Problem, Result, Vfs,
};

use super::db::{db_path, NdbmDb};
use super::page::Page;
use pydbm_engine::Store;

/// The `dbm.ndbm` format (Berkeley DB 5.3 hash `NAME.db`). `PATH` is the name without `.db`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NdbmFormat;

/// The registered instance.
pub static FORMAT: NdbmFormat = NdbmFormat;

fn read_only() -> OpenOptions {
    OpenOptions {
        mode: OpenMode::Read,
        ..OpenOptions::default()
    }
}

impl Format for NdbmFormat {
    fn module(&self) -> &'static str {
        "dbm.ndbm"
    }

    /// [`open_any`] over `vfs`.
    fn open_in(&self, vfs: Arc<dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dbm>> {
        open_any(vfs, path, opts)
    }

    /// [`Format::open_in`] over the real file system, with the Berkeley DB 5.3 handle
    /// reading through [`super::db::os_vfs`] (a memory map under its lock).
    fn open(&self, path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dbm>> {
        open_dispatch(Arc::new(OsVfs::new()), super::db::os_vfs(opts), path, opts)
    }

    fn check(&self, path: &Path) -> Result<Vec<Problem>> {
        if is_compat_pair(path)? {
            return super::compat::check(&OsVfs::new(), path);
        }
        // A read-only open refuses a hot journal (docs/recovery.md): report it alone.
        if let Some(p) = pydbm_engine::journal_problem(&OsVfs::new(), &db_path(path))? {
            return Ok(vec![p]);
        }
        let mut db = NdbmDb::open(path, &read_only())?;
        super::check::check(db.hash_store()?)
    }

    fn stats(&self, path: &Path) -> Result<Vec<(String, String)>> {
        if is_compat_pair(path)? {
            return super::compat::stats(path);
        }
        let mut db = NdbmDb::open(path, &read_only())?;
        let st = db.hash_store()?;
        let m = st.meta().clone();
        let records = st.count()?;
        let size = Store::len(st.file());
        let (mut hash_pages, mut overflow, mut free, mut holes, mut free_bytes) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        for pgno in 1..=m.last_pgno {
            match st.page(pgno)? {
                Page::Hash(h) => {
                    hash_pages += 1;
                    free_bytes += h.free_space(m.pagesize as usize) as u64;
                }
                Page::Overflow(_) => overflow += 1,
                Page::Free { .. } => free += 1,
                Page::Hole => holes += 1,
            }
        }
        let v = |s: &str, x: String| (s.to_string(), x);
        Ok(vec![
            v("format", "dbm.ndbm (Berkeley DB hash)".into()),
            v("library", super::LIBRARY.into()),
            v(
                "variant",
                format!(
                    "hash version {}, {:?}-endian, {}-byte pages",
                    m.version, m.endian, m.pagesize
                ),
            ),
            v("records", records.to_string()),
            v("nelem", m.nelem.to_string()),
            v("file size", size.to_string()),
            v("pages", (m.last_pgno as u64 + 1).to_string()),
            v("buckets", (m.max_bucket as u64 + 1).to_string()),
            v("hash pages", hash_pages.to_string()),
            v("overflow pages", overflow.to_string()),
            v("free-list pages", free.to_string()),
            v("unused (hole) pages", holes.to_string()),
            v("free bytes on hash pages", free_bytes.to_string()),
            v(
                "spares",
                format!(
                    "{:?}",
                    &m.spares[..=super::hash::ceil_log2(m.max_bucket as u64 + 1) as usize]
                ),
            ),
        ])
    }

    fn recover(&self, path: &Path) -> Result<Vec<String>> {
        if is_compat_pair(path)? {
            return recover_compat_pair(path);
        }
        let vfs = OsVfs::new();
        match Pager::recover(&vfs, &db_path(path))? {
            Some(lines) => Ok(lines),
            None => Ok(vec![format!(
                "{}: no hot journal; nothing to recover",
                db_path(path).display()
            )]),
        }
    }

    fn discard_journal(&self, path: &Path) -> Result<Vec<String>> {
        let db = db_path(path);
        Ok(Pager::discard_journal(&OsVfs::new(), &db)?
            .unwrap_or_else(|| vec![format!("{}: no journal", db.display())]))
    }

    /// Runs the workload twice: crashing as a killed process (`Durability::Process`) and
    /// as a power loss (`Durability::Full`); the report sums both.
    fn crashtest(
        &self,
        ops: u64,
        seed: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<CrashReport> {
        let mut total = CrashReport::default();
        for d in [Durability::Process, Durability::Full] {
            let r = crashtest(ops, seed, d, None, progress)?;
            total.crash_points += r.crash_points;
            total.violations += r.violations;
            for line in r.details {
                if total.details.len() < crash::MAX_DETAILS {
                    total.details.push(format!("{d:?}: {line}"));
                }
            }
        }
        Ok(total)
    }
}

/// Whether `path` names a gdbm_compat `NAME.pag`/`NAME.dir` pair and no `NAME.db` (the
/// layout [`open_any`] opens through [`super::compat`]).
fn is_compat_pair(path: &Path) -> Result<bool> {
    let vfs = OsVfs::new();
    Ok(!vfs.exists(&db_path(path))? && super::compat::exists(&vfs, path)?)
}

/// `recover` of a gdbm_compat pair: `dbm.gnu`'s on `NAME.pag`.
fn recover_compat_pair(path: &Path) -> Result<Vec<String>> {
    crate::gnu::FORMAT.recover(&super::compat::pag_path(path))
}

/// Opens `path` as `dbm.ndbm` would on any platform: the gdbm_compat layout when
/// `NAME.pag` and `NAME.dir` exist and `NAME.db` does not (through
/// [`super::compat::CompatDb`]); a db-1.85 hash `NAME.db` (macOS, FreeBSD) read-only
/// through [`super::db185::Db185Db`] (`'r'` only); otherwise a Berkeley DB 5.3 hash through
/// [`NdbmDb`] (also for new files).
pub fn open_any(vfs: Arc<dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dbm>> {
    open_dispatch(vfs.clone(), vfs, path, opts)
}

/// [`open_any`] with the Berkeley DB 5.3 handle reading through `db_vfs` (on real files the
/// mapped [`super::db::os_vfs`], since `NdbmDb` holds the engine lock) while the sniffing
/// and the gdbm_compat and db-1.85 readers use `vfs` (`pread`).
fn open_dispatch(
    vfs: Arc<dyn Vfs>,
    db_vfs: Arc<dyn Vfs>,
    path: &Path,
    opts: &OpenOptions,
) -> Result<Box<dyn Dbm>> {
    let file = db_path(path);
    if !vfs.exists(&file)? && super::compat::exists(&*vfs, path)? {
        return Ok(Box::new(super::compat::CompatDb::open_with(
            vfs, path, opts,
        )?));
    }
    if opts.mode != OpenMode::New && vfs.exists(&file)? {
        let f = vfs.open(&file, pydbm_engine::VfsOpen::READ)?;
        let mut head = [0u8; 8];
        if f.read_at(&mut head, 0)? == 8 && super::db185::Db185::sniff(&head) {
            if opts.mode != OpenMode::Read {
                return Err(pydbm_engine::Error::unsupported(
                    &file,
                    "writing db-1.85 hash files (open with 'r')",
                ));
            }
            return Ok(Box::new(super::db185::Db185Db::open_with(&*vfs, path)?));
        }
    }
    Ok(Box::new(NdbmDb::open_with(db_vfs, path, opts)?))
}

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Operations per independent workload (each from a fresh database). The replay harness
/// is linear in a workload's length, but every crash point copies the files once: short
/// workloads keep the files, and so each point, small, and every run crashes during
/// creation too.
pub const OPS_PER_WORKLOAD: u64 = 200;

/// Runs `ops` random operations (inserts of small, 1024/1025-byte and multi-page values,
/// replaces, deletes, reopens), as `ceil(ops / OPS_PER_WORKLOAD)` workloads from fresh
/// databases (seeds derived from `seed`), through the engine's linear-time crash harness
/// ([`run_replay`]: one recorded run per workload, the disk at each crash point rebuilt
/// from the log) at `durability`, crashing at every write and sync (or, per workload, at
/// `max_points` of them), and checks the recovered mapping is a committed one and `check`
/// finds no problem. The reports are summed.
pub fn crashtest(
    ops: u64,
    seed: u64,
    durability: Durability,
    max_points: Option<u64>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    let mut total = CrashReport::default();
    let mut seeds = SplitMix64::new(seed);
    let mut left = ops;
    while left > 0 {
        let n = left.min(OPS_PER_WORKLOAD);
        left -= n;
        let r = crashtest_one(n, seeds.next_u64(), durability, max_points, progress)?;
        total.crash_points += r.crash_points;
        total.violations += r.violations;
        for line in r.details {
            if total.details.len() < crash::MAX_DETAILS {
                total.details.push(line);
            }
        }
    }
    Ok(total)
}

/// One workload of [`crashtest`]: `ops` operations from a fresh database.
fn crashtest_one(
    ops: u64,
    seed: u64,
    durability: Durability,
    max_points: Option<u64>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    let path = Path::new("/crash/t");
    let opts = OpenOptions {
        mode: OpenMode::Create,
        durability,
        ..OpenOptions::default()
    };
    let workload = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(State)| -> Result<()> {
        let mut rng = SplitMix64::new(seed);
        // Through `Format::open_in`, the path the CLI and `pydbm::open` take.
        let mut db = FORMAT.open_in(vfs.clone(), path, &opts)?;
        let mut state = State::new();
        committed(state.clone());
        for _ in 0..ops {
            let r = rng.below(100);
            if r < 8 {
                db.close()?;
                db = FORMAT.open_in(
                    vfs.clone(),
                    path,
                    &OpenOptions {
                        mode: OpenMode::Write,
                        ..opts.clone()
                    },
                )?;
            } else if r < 30 && !state.is_empty() {
                let i = rng.below(state.len() as u64) as usize;
                let k = state.keys().nth(i).cloned().unwrap_or_default();
                db.remove(&k)?;
                state.remove(&k);
            } else {
                let k = format!("k{}", rng.below(ops.max(4) / 2 + 1)).into_bytes();
                let n = match rng.below(10) {
                    0 => 1025,
                    1 => 1024,
                    2 => 5000,
                    3 => 0,
                    _ => rng.below(300) as usize,
                };
                let v: Vec<u8> = (0..n).map(|i| (i as u8) ^ (k.len() as u8)).collect();
                db.insert(&k, &v)?;
                state.insert(k, v);
            }
            committed(state.clone());
        }
        db.close()
    };
    let read_state = |vfs: Arc<dyn Vfs>| -> Result<State> {
        // As `pydbm recover` does: a read-only open never rolls back (docs/recovery.md).
        Pager::recover(&*vfs, &db_path(path))?;
        let mut db = NdbmDb::open_with(vfs, path, &read_only())?;
        let mut s = State::new();
        for k in db.keys()? {
            let v = db.get(&k)?.unwrap_or_default();
            s.insert(k, v);
        }
        let problems = super::check::check(db.hash_store()?)?;
        if let Some(p) = problems.first() {
            return Err(pydbm_engine::Error::corrupt(
                path,
                p.offset.unwrap_or(0),
                p.message.clone(),
            ));
        }
        db.close()?;
        Ok(s)
    };
    run_replay(
        CrashConfig {
            seed,
            durability,
            max_points,
        },
        &workload,
        &read_state,
        progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Format::open_in` over a `MemVfs` writes `NAME.db` onto the memory disk, readable
    /// again through the same path, and nothing on disk.
    #[test]
    fn open_in_runs_over_a_memory_disk() {
        let mem = pydbm_engine::MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let path = Path::new("/mem/a");
        let mut db = FORMAT
            .open_in(vfs.clone(), path, &OpenOptions::from_flag("c").unwrap())
            .unwrap();
        for i in 0..500u32 {
            db.insert(&i.to_le_bytes(), &[i as u8; 40]).unwrap();
        }
        db.remove(&7u32.to_le_bytes()).unwrap();
        db.close().unwrap();
        let image = mem
            .read_file(&db_path(path))
            .expect("NAME.db is on the memory disk");
        assert_eq!(&image[12..16], &0x061561u32.to_le_bytes()[..], "hash magic");
        let mut db = FORMAT.open_in(vfs, path, &read_only()).unwrap();
        assert_eq!(db.len().unwrap(), 499);
        assert_eq!(db.get(&9u32.to_le_bytes()).unwrap(), Some(vec![9u8; 40]));
        assert!(!db_path(path).exists());
    }
}
