//! `GnuFormat`: the `pydbm` CLI's entry points for gdbm files (open, check, stats,
//! recover, crashtest).
//!
//! ```
//! use pydbm_engine::{Format, OpenOptions};
//! use pydbm_formats::gnu::FORMAT;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("db");
//! let mut db = FORMAT.open(&path, &OpenOptions::from_flag("c")?)?; // a Box<dyn Dbm>
//! db.insert(b"k", b"v")?;
//! db.close()?;
//! assert_eq!(db.module(), "dbm.gnu");
//! assert!(FORMAT.check(&path)?.is_empty(), "a sound file has no problems");
//! let stats = FORMAT.stats(&path)?;
//! let stat = |name: &str| stats.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
//! assert_eq!(stat("records"), Some("1"));
//! assert_eq!(stat("problems"), Some("0"));
//!
//! // A damaged header is a problem naming the file, the offset and what was expected.
//! let mut bytes = std::fs::read(&path)?;
//! bytes[0] ^= 0xff;
//! std::fs::write(&path, &bytes)?;
//! let problems = FORMAT.check(&path)?;
//! assert_eq!(problems.len(), 1);
//! assert_eq!((problems[0].file.as_path(), problems[0].offset), (path.as_path(), Some(0)));
//! assert!(problems[0].message.contains("gdbm magic number"), "{}", problems[0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pydbm_engine::{
    crash, CrashReport, Dbm, Durability, Error, Format, OpenOptions, OsVfs, Pager, Problem, Result,
    Vfs, VfsOpen,
};

use super::check::walk;
use super::open::{open_with, GnuOptions};
use super::salvage::salvage;

/// The gdbm 1.23 format (`dbm.gnu`), opening new files with `options` (the gdbm C API's
/// settings Python's flags lack; [`FORMAT`] has the defaults Python gets).
#[derive(Debug, Clone, Copy, Default)]
pub struct GnuFormat {
    /// The gdbm settings [`Format::open_in`] passes to [`open_with`].
    pub options: GnuOptions,
}

/// The registry entry for `dbm.gnu`: the default [`GnuOptions`].
pub static FORMAT: GnuFormat = GnuFormat {
    options: GnuOptions {
        block_size: 0,
        numsync: false,
        cache_bytes: 0,
    },
};

/// The format the crash suites run: 512-byte blocks, so a few dozen keys split buckets and
/// the directory (a 4096-byte block holds over a hundred slots).
const CRASH_FORMAT: GnuFormat = GnuFormat {
    options: GnuOptions {
        block_size: 512,
        numsync: false,
        cache_bytes: 0,
    },
};

fn read_all(vfs: &dyn Vfs, path: &Path) -> Result<Vec<u8>> {
    let f = vfs.open(path, VfsOpen::READ)?;
    let n = f.len()?;
    let mut buf = vec![0u8; n as usize];
    f.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// The shared `flock` a `'r'` handle takes on `path` (gdbm spec §15), held while `check` and
/// `stats` read the raw file.
fn shared_lock(vfs: &dyn Vfs, path: &Path) -> Result<pydbm_engine::LockGuard> {
    pydbm_engine::LockTable::global().lock_path(
        vfs,
        path,
        pydbm_engine::LockMode::Shared,
        pydbm_engine::LockKind::Flock,
        None,
    )
}

/// `(name, value)` statistics of a gdbm file image: variant and space accounting.
pub fn stats_of(data: &[u8]) -> Vec<(String, String)> {
    let w = walk(data);
    let mut out = vec![("format".to_string(), "dbm.gnu (gdbm 1.23)".to_string())];
    if let Some(h) = &w.header {
        let l = h.layout;
        out.push(("variant".into(), l.describe()));
        if l.numsync {
            out.push(("numsync".into(), h.numsync.to_string()));
        }
        out.push(("block size".into(), h.block_size.to_string()));
        out.push((
            "directory".into(),
            format!("{} entries at {}", 1u64 << h.dir_bits.clamp(0, 40), h.dir),
        ));
        out.push(("bucket slots".into(), h.bucket_elems.to_string()));
        out.push(("next_block".into(), h.next_block.to_string()));
    }
    out.push(("records".into(), w.records.len().to_string()));
    out.push(("file size".into(), data.len().to_string()));
    out.push(("buckets".into(), w.buckets.to_string()));
    out.push((
        "free space".into(),
        format!("{} bytes in {} pieces", w.free_bytes, w.free_pieces),
    ));
    out.push(("avail stack blocks".into(), w.stack_blocks.to_string()));
    out.push(("problems".into(), w.problems.len().to_string()));
    out
}

/// Runs a random workload of `ops` operations on a gdbm file over the fault-injecting
/// file layer, crashing at every write/sync (power loss, `Durability::Full`); see
/// [`Format::crashtest`].
pub fn crashtest(ops: u64, seed: u64, progress: &mut dyn FnMut(u64, u64)) -> Result<CrashReport> {
    let path = Path::new("/crash/test.gdbm");
    type State = BTreeMap<Vec<u8>, Vec<u8>>;
    let workload = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(State)| -> Result<()> {
        let mut opts = OpenOptions::from_flag("c")?;
        opts.durability = Durability::Full;
        let mut db = CRASH_FORMAT.open_in(vfs, path, &opts)?;
        let mut state = State::new();
        committed(state.clone());
        let mut r = pydbm_engine::prng::SplitMix64::new(seed);
        for _ in 0..ops {
            let c = r.next_u64() % 100;
            let k = format!("k{}", r.next_u64() % 64).into_bytes();
            if c < 60 {
                let n = (r.next_u64() % 300) as usize;
                let v = vec![(c as u8).wrapping_mul(3); n];
                db.insert(&k, &v)?;
                state.insert(k, v);
            } else if c < 90 {
                db.remove(&k)?;
                state.remove(&k);
            } else if c < 95 {
                db.sync()?;
            } else {
                db.reorganize()?;
            }
            committed(state.clone());
        }
        db.close()
    };
    let read_state = |vfs: Arc<dyn Vfs>| -> Result<State> {
        if !vfs.exists(path)? {
            return Ok(State::new());
        }
        Pager::recover(&*vfs, path)?;
        let image = read_all(&*vfs, path)?;
        if image.is_empty() {
            return Ok(State::new());
        }
        // Beyond the committed state: the recovered file must be structurally sound.
        if let Some(p) = walk(&image).problems.first() {
            return Err(Error::corrupt(path, p.offset, p.message.clone()));
        }
        let mut db = CRASH_FORMAT.open_in(vfs, path, &OpenOptions::from_flag("r")?)?;
        let mut s = State::new();
        for k in db.keys()? {
            let v = db.get(&k)?.ok_or_else(|| Error::NotFound {
                what: "listed key".into(),
            })?;
            s.insert(k, v);
        }
        Ok(s)
    };
    // One recorded run, a disk image rebuilt per crash point (engine crash_replay.rs).
    pydbm_engine::crash_replay::run_replay(
        crash::CrashConfig {
            seed,
            durability: Durability::Full,
            max_points: None,
        },
        &workload,
        &read_state,
        progress,
    )
}

impl Format for GnuFormat {
    fn module(&self) -> &'static str {
        "dbm.gnu"
    }

    fn open_in(&self, vfs: Arc<dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dbm>> {
        Ok(Box::new(open_with(vfs, path, opts, self.options)?))
    }

    /// [`Format::open_in`] over the real file system read as libgdbm reads it
    /// ([`super::open::os_vfs`]: a memory map for a locked handle).
    fn open(&self, path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dbm>> {
        self.open_in(super::open::os_vfs(opts), path, opts)
    }

    /// Reads under a shared `flock` (as a `'r'` handle takes): a pydbm or libgdbm writer's
    /// half-done operation and live journal are not the checker's to see; fails with
    /// [`Error::Locked`] while one holds the file (docs/locking.md).
    fn check(&self, path: &Path) -> Result<Vec<Problem>> {
        let vfs = OsVfs::new();
        let _lock = shared_lock(&vfs, path)?;
        let mut out = Vec::new();
        out.extend(pydbm_engine::journal_problem(&vfs, path)?);
        let data = read_all(&vfs, path)?;
        for p in walk(&data).problems {
            out.push(Problem {
                file: path.to_path_buf(),
                offset: Some(p.offset),
                message: p.message,
            });
        }
        Ok(out)
    }

    /// Reads under a shared `flock`, as [`Format::check`] does.
    fn stats(&self, path: &Path) -> Result<Vec<(String, String)>> {
        let vfs = OsVfs::new();
        let _lock = shared_lock(&vfs, path)?;
        // A reader: torn bytes of an interrupted operation are not reported as the file.
        pydbm_engine::refuse_hot_journal(&vfs, path)?;
        Ok(stats_of(&read_all(&vfs, path)?))
    }

    fn recover(&self, path: &Path) -> Result<Vec<String>> {
        let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
        if let Some(lines) = Pager::recover(&*vfs, path)? {
            let mut out =
                vec!["rolled back a hot journal: the interrupted operation was undone".to_string()];
            out.extend(lines);
            return Ok(out);
        }
        let data = read_all(&*vfs, path)?;
        if walk(&data).problems.is_empty() {
            return Ok(vec![
                "no hot journal and no damage found: nothing to do".into()
            ]);
        }
        let s = salvage(path, &data)?;
        // Replace the contents in one journaled transaction under an exclusive lock.
        let mut pager = Pager::open(
            vfs,
            vec![pydbm_engine::FileSpec::new(path)],
            pydbm_engine::PagerOptions {
                lock: Some((
                    pydbm_engine::LockKind::Flock,
                    pydbm_engine::LockMode::Exclusive,
                )),
                durability: Durability::Full,
                ..Default::default()
            },
        )?;
        pager.write_at(0, 0, &s.image)?;
        pager.set_len(0, s.image.len() as u64)?;
        pager.commit()?;
        pager.close()?;
        Ok(s.report)
    }

    fn discard_journal(&self, path: &Path) -> Result<Vec<String>> {
        Ok(Pager::discard_journal(&OsVfs::new(), path)?
            .unwrap_or_else(|| vec![format!("{}: no journal", path.display())]))
    }

    fn crashtest(
        &self,
        ops: u64,
        seed: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<CrashReport> {
        crashtest(ops, seed, progress)
    }
}

/// The header of a gdbm ASCII dump of the file at `path` on the real file system: see
/// [`dump_meta_in`].
pub fn dump_meta(path: &Path) -> super::dump::DumpMeta {
    dump_meta_in(&OsVfs::new(), path)
}

/// The header of a gdbm ASCII dump of the file at `path` on `vfs` (spec §17.1): file name
/// as given, owner and group (with names when they resolve,
/// [`pydbm_engine::owner_names`]), permission bits, `numsync` when the file is a numsync
/// gdbm file, and the current time. What the file layer does not know (a memory disk has
/// no owner) is left at the defaults: ids 0, mode `0o644`.
pub fn dump_meta_in(vfs: &dyn Vfs, path: &Path) -> super::dump::DumpMeta {
    let mut meta = super::dump::DumpMeta {
        file: path.display().to_string(),
        mode: 0o644,
        ..Default::default()
    };
    if let Ok(m) = vfs.metadata(path) {
        if let Some((uid, gid)) = m.owner {
            meta.uid = uid;
            meta.gid = gid;
            meta.user = pydbm_engine::owner_names::user_name(uid);
            meta.group = pydbm_engine::owner_names::group_name(gid);
        }
        if let Some(mode) = m.mode {
            meta.mode = mode;
        }
    }
    if let Ok(bytes) = read_all(vfs, path) {
        if let Ok((l, _)) = super::header::Header::peek(&bytes) {
            meta.numsync = l.numsync;
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    meta.created = super::dump::ctime_utc(now);
    meta
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::journal::{JournalFile, JournalHeader, INVALIDATED_MAGIC};

    /// `Format::open_in` over a `MemVfs` writes a gdbm file onto the memory disk (locks and
    /// journal included), readable again through the same path, and nothing on disk.
    #[test]
    fn open_in_runs_over_a_memory_disk() {
        let mem = pydbm_engine::MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let path = Path::new("/mem/a.gdbm");
        let mut db = FORMAT
            .open_in(vfs.clone(), path, &OpenOptions::from_flag("c").unwrap())
            .unwrap();
        for i in 0..500u32 {
            db.insert(&i.to_le_bytes(), &[i as u8; 40]).unwrap();
        }
        db.remove(&7u32.to_le_bytes()).unwrap();
        db.close().unwrap();
        let image = mem.read_file(path).expect("the file is on the memory disk");
        assert_eq!(
            &image[..4],
            &0x1357_9acfu32.to_le_bytes()[..],
            "gdbm 64-bit magic"
        );
        assert!(walk(&image).problems.is_empty());
        let mut db = FORMAT
            .open_in(vfs, path, &OpenOptions::from_flag("r").unwrap())
            .unwrap();
        assert_eq!(db.len().unwrap(), 499);
        assert_eq!(db.get(&9u32.to_le_bytes()).unwrap(), Some(vec![9u8; 40]));
        assert!(!path.exists());
    }

    fn journal_problems(path: &Path) -> usize {
        FORMAT
            .check(path)
            .unwrap()
            .iter()
            .filter(|p| p.message.contains("journal"))
            .count()
    }

    /// check: an invalidated journal (what a Process-durability writer leaves after each
    /// commit) or a torn header is not reported; a journal with a valid header is.
    #[test]
    fn check_reports_only_hot_journals() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("j.gdbm");
        let mut db = super::super::open(&path, &OpenOptions::from_flag("n").unwrap()).unwrap();
        db.insert(b"k", b"v").unwrap();
        db.close().unwrap();
        let jp = pydbm_engine::journal_path(&path);
        let mut invalidated = INVALIDATED_MAGIC.to_vec();
        invalidated.extend_from_slice(&[7u8; 100]);
        std::fs::write(&jp, &invalidated).unwrap();
        assert_eq!(journal_problems(&path), 0);
        std::fs::write(&jp, b"pydbmJNL\x01\x00\x00\x00torn").unwrap();
        assert_eq!(journal_problems(&path), 0);
        let hot = JournalHeader {
            version: pydbm_engine::journal::VERSION,
            page_size: 4096,
            salt: 42,
            files: vec![JournalFile {
                name: b"j.gdbm".to_vec(),
                orig_len: Some(0),
            }],
        };
        std::fs::write(&jp, hot.encode()).unwrap();
        assert_eq!(journal_problems(&path), 1);
    }
}
