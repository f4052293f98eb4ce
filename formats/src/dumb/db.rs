//! [`DumbDb`]: a `dbm.dumb` database opened through the engine's [`Pager`], implementing
//! [`Dbm`].
//!
//! ```
//! use pydbm_engine::{Dbm, OpenOptions};
//! use pydbm_formats::dumb::{db::file_paths, DumbDb};
//!
//! let dir = tempfile::tempdir()?;
//! let name = dir.path().join("db");
//! let mut db = DumbDb::open(&name, &OpenOptions::from_flag("c")?)?;
//! db.insert(b"apple", b"red")?;
//! db.insert(b"kiwi", b"green")?;
//! db.insert(b"apple", b"yellow!")?; // fits its 512-byte block: rewritten in place
//! db.remove(b"kiwi")?;
//! db.insert(b"fig", b"purple")?; // appended at the next free block
//! db.close()?;
//!
//! let [dat, dir_file, _bak] = file_paths(&name);
//! // The bytes CPython 3.11 and 3.13's dbm.dumb write for the same five operations.
//! assert_eq!(std::fs::read(&dir_file)?, b"'apple', (0, 7)\n'fig', (1024, 6)\n");
//! assert_eq!(std::fs::metadata(&dat)?.len(), 1030);
//! let mut ro = DumbDb::open(&name, &OpenOptions::from_flag("r")?)?;
//! assert_eq!(ro.keys()?, vec![b"apple".to_vec(), b"fig".to_vec()]); // insertion order
//! assert_eq!(ro.get(b"fig")?, Some(b"purple".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pydbm_engine::{
    CursorPosition, Dbm, Durability, Error, FileSpec, LockKind, LockMode, OpenMode, OpenOptions,
    OsVfs, Pager, PagerOptions, Result, Vfs,
};

use super::index::Index;
use super::store::{Store, DAT, DIR};

/// The paths of a dumb database's files: `NAME.dat`, `NAME.dir`, `NAME.bak` (CPython appends
/// the suffix to the name as given, `os.fsencode(file) + b'.dat'`).
pub fn file_paths(name: &Path) -> [PathBuf; 3] {
    [".dat", ".dir", ".bak"].map(|ext| {
        let mut s: OsString = name.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    })
}

/// An open `dbm.dumb` database.
///
/// Every operation behaves and writes as CPython 3.13's `dbm.dumb` does (python-formats spec
/// §3), and is one atomic transaction of the engine's journal `NAME.dat-journal`. Dropping an
/// open handle closes it as CPython's `__del__` does (errors are then ignored; call
/// [`Dbm::close`] to see them).
#[derive(Debug)]
pub struct DumbDb {
    store: Option<Store>,
    name: PathBuf,
}

impl DumbDb {
    /// Opens `name` (without extension) on the real file system; see [`DumbDb::open_in`].
    pub fn open(name: &Path, opts: &OpenOptions) -> Result<DumbDb> {
        DumbDb::open_in(Arc::new(OsVfs::new()), name, opts)
    }

    /// Opens `name` (without extension) through `vfs` as `dbm.dumb.open(name, flag, mode)`:
    /// `opts.mode` is the flag, `opts.file_mode` the mode (the umask applies at creation),
    /// `opts.durability` pydbm's crash-safety level. Takes a `flock` on `NAME.dat` (shared for
    /// `'r'`, else exclusive) unless `opts.no_lock`.
    ///
    /// Errors: gdbm's `f`/`s` modifiers → [`Error::BadArgument`] with CPython's wording
    /// (`u`, pydbm's `no_lock`, is accepted); `'r'`/`'w'` with `NAME.dat` or `NAME.dir` missing → [`Error::Io`] of kind
    /// `NotFound` naming that file; a malformed `.dir` → [`Error::Corrupt`] naming the line;
    /// a held lock → [`Error::Locked`].
    pub fn open_in(vfs: Arc<dyn Vfs>, name: &Path, opts: &OpenOptions) -> Result<DumbDb> {
        if opts.fast || opts.sync {
            // CPython 3.8+: dbm.dumb.open takes only the four letters (spec §3.3).
            return Err(Error::BadArgument(
                "Flag must be one of 'r', 'w', 'c', or 'n'".into(),
            ));
        }
        let paths = file_paths(name);
        let read_only = opts.mode == OpenMode::Read;
        if !matches!(opts.mode, OpenMode::Create | OpenMode::New) {
            // 'r'/'w' need both files (CPython: FileNotFoundError, .dat checked first). Checked
            // before the pager takes its lock, which would create a missing .dat.
            for f in [DAT, DIR] {
                if !vfs.exists(&paths[f])? {
                    return Err(Error::io(
                        &paths[f],
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "No such file or directory",
                        ),
                    ));
                }
            }
        }
        let lock_mode = if read_only {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        let pager_opts = PagerOptions {
            durability: opts.durability,
            read_only,
            lock: (!opts.no_lock).then_some((LockKind::Flock, lock_mode)),
            lock_timeout: opts.lock_timeout,
            // Without a journal, larger pages mean fewer write-backs of the appended .dat
            // (measured: ~25% less CPU on the benchmark); with one, every in-place change
            // journals a whole page, so the default stays.
            page_size: if opts.durability == Durability::None {
                16384
            } else {
                PagerOptions::default().page_size
            },
            ..PagerOptions::default()
        };
        let specs = paths
            .iter()
            .map(|p| FileSpec {
                path: p.clone(),
                create_mode: opts.file_mode,
            })
            .collect();
        let pager = Pager::open(vfs, specs, pager_opts)?;
        let store = Store::open(pager, opts.mode)?;
        Ok(DumbDb {
            store: Some(store),
            name: name.to_path_buf(),
        })
    }

    fn store(&mut self) -> Result<&mut Store> {
        self.store.as_mut().ok_or_else(|| Error::Closed {
            path: self.name.clone(),
        })
    }

    /// The in-memory index (keys in iteration order with their `(pos, size)`).
    pub fn index(&mut self) -> Result<&Index> {
        Ok(self.store()?.index())
    }

    /// Logical length of `NAME.dat`.
    pub fn dat_len(&mut self) -> Result<u64> {
        Ok(self.store()?.dat_len())
    }
}

impl Dbm for DumbDb {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store()?.get(key)
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.store()?.insert(key, value)
    }

    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        self.store()?.remove(key)
    }

    fn contains(&mut self, key: &[u8]) -> Result<bool> {
        Ok(self.store()?.index().get(key).is_some())
    }

    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .store()?
            .index()
            .iter()
            .map(|(k, _)| k.to_vec())
            .collect())
    }

    fn len(&mut self) -> Result<usize> {
        Ok(self.store()?.index().len())
    }

    fn sync(&mut self) -> Result<()> {
        self.store()?.sync()
    }

    /// CPython's `close()`: commits the index when modified, then writes everything back and
    /// releases the lock. Closing twice is not an error.
    fn close(&mut self) -> Result<()> {
        let Some(mut store) = self.store.take() else {
            return Ok(());
        };
        let committed = store.close_commit();
        let closed = store.into_files().close();
        committed.and(closed)
    }

    /// pydbm's compaction (CPython's dumb has none); see [`Store::reorganize`].
    fn reorganize(&mut self) -> Result<()> {
        self.store()?.reorganize()
    }

    fn path(&self) -> &Path {
        &self.name
    }

    fn module(&self) -> &'static str {
        "dbm.dumb"
    }

    fn begin_transaction(&mut self) -> Result<()> {
        self.store()?.begin_transaction()
    }

    fn commit_transaction(&mut self) -> Result<()> {
        self.store()?.commit_transaction()
    }

    /// Rolls the journal back, then reopens the store from the files, so the in-memory
    /// index, `.dat` length and held appends are those of the last commit.
    fn rollback_transaction(&mut self) -> Result<()> {
        let Some(store) = self.store.take() else {
            return Err(Error::Closed {
                path: self.name.clone(),
            });
        };
        let mode = if store.read_only() {
            OpenMode::Read
        } else {
            OpenMode::Write
        };
        let mut files = store.into_files();
        files.rollback()?;
        self.store = Some(Store::open(files, mode)?);
        Ok(())
    }

    /// Up to [`CURSOR_BATCH`] keys per batch from the in-memory index, in its (CPython's
    /// dict) order.
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let next = self
            .store()?
            .index()
            .keys_from(pos.next as usize, CURSOR_BATCH, out);
        pos.next = next as u64;
        Ok(())
    }
}

/// Keys per cursor batch ([`Dbm::next_keys`]) of a dumb database.
pub const CURSOR_BATCH: usize = 256;

impl Drop for DumbDb {
    fn drop(&mut self) {
        // CPython: __del__ = close.
        let _ = self.close();
    }
}
