//! `NdbmDb`: a Berkeley DB hash file opened with Python's `dbm.ndbm` semantics.
//!
//! ```
//! use pydbm_engine::{Dbm, OpenOptions};
//! use pydbm_formats::ndbm::{db_path, NdbmDb};
//!
//! let dir = tempfile::tempdir()?;
//! let name = dir.path().join("colours");
//! let mut db = NdbmDb::open(&name, &OpenOptions::from_flag("c")?)?;
//! db.insert(b"sky", b"blue")?;
//! db.insert(b"grass", b"green")?;
//! assert!(db.remove(b"grass")?);
//! assert_eq!(db.get(b"sky")?, Some(b"blue".to_vec()));
//! assert_eq!(db.library(), "Berkeley DB");
//! db.close()?;
//! // dbm.ndbm on Berkeley DB stores NAME as NAME.db, a hash file with 4 KiB pages.
//! let file = db_path(&name);
//! assert_eq!(file, dir.path().join("colours.db"));
//! assert_eq!(std::fs::metadata(&file)?.len() % 4096, 0);
//! let mut ro = NdbmDb::open(&name, &OpenOptions::from_flag("r")?)?;
//! assert_eq!(ro.keys()?, vec![b"sky".to_vec()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pydbm_engine::{
    CursorPosition, Dbm, Error, LockKind, LockMode, OpenMode, OpenOptions, OsVfs, Pager,
    PagerOptions, Result, Store, Vfs, VfsOpen,
};

use super::store::HashStore;

/// What `dbm.ndbm.library` is for this layout (Debian's `_dbm` built against libdb).
pub const LIBRARY: &str = "Berkeley DB";

/// The file the ndbm shim opens for `path`: `path + ".db"` (ndbm spec §1).
pub fn db_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".db");
    PathBuf::from(s)
}

/// An open Berkeley DB 5.3 hash database (`NAME.db`), as `dbm.ndbm.open(NAME, flag)` gives.
///
/// Every `insert`/`remove` is one engine transaction. Locking: libdb's ndbm shim takes no
/// lock at all (ndbm spec §1, §6); pydbm takes a whole-file `flock` on `NAME.db` (through
/// the engine's lock table) — shared for `'r'`, exclusive otherwise — so pydbm handles in
/// this and other processes exclude each other (a reader never sees a writer's half-done
/// transaction, nor its journal as hot). libdb never calls `flock`, so Python's `dbm.ndbm`
/// is not blocked, as with the reference (docs/locking.md).
pub struct NdbmDb {
    store: Option<HashStore<Pager>>,
    path: PathBuf,
    read_only: bool,
    /// Whether a [`pydbm_engine::Transaction`] is open: operations then do not commit;
    /// [`Dbm::commit_transaction`] commits them together.
    in_txn: bool,
}

impl std::fmt::Debug for NdbmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdbmDb")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .field("open", &self.store.is_some())
            .finish()
    }
}

fn make_uid(vfs: &dyn Vfs, file: &Path) -> [u8; 20] {
    // ndbm spec §4: ino | dev | unique | serial | 0, native order. libdb never interprets
    // the uid of a non-environment database; any 20 bytes are valid.
    let (dev, ino) = vfs
        .open(file, VfsOpen::READ)
        .ok()
        .and_then(|f| f.identity())
        .unwrap_or((0, 0));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    let pid = std::process::id();
    let mut uid = [0u8; 20];
    uid[0..4].copy_from_slice(&(ino as u32).to_le_bytes());
    uid[4..8].copy_from_slice(&(dev as u32).to_le_bytes());
    uid[8..12].copy_from_slice(&(nanos ^ pid.rotate_left(16)).to_le_bytes());
    uid[12..16].copy_from_slice(&pid.to_le_bytes());
    uid
}

/// The real file system an ndbm handle opened with `opts` reads through: every `NdbmDb`
/// holds the engine lock (exclusive for writers, shared for `'r'`), so it reads the file
/// through a memory map ([`OsVfs::with_mmap_reads`]), as the gdbm handles do — a page read
/// is a copy from the map rather than a `pread`. The `flock` keeps other pydbm processes
/// out, but libdb's ndbm shim locks nothing (ndbm spec §1, §6) and truncates the file when it
/// frees the last page (ndbm spec §3.6), and a full tmpfs cannot back a hole's page: a mapped
/// read of such a page would raise `SIGBUS`, which the engine's map-fault guard
/// (`pydbm_engine::map_guard`) turns into the bytes `pread` would return. `opts.no_lock`
/// (`'u'`) keeps `pread`.
pub fn os_vfs(opts: &OpenOptions) -> Arc<dyn Vfs> {
    if opts.no_lock {
        Arc::new(OsVfs::new())
    } else {
        Arc::new(OsVfs::with_mmap_reads())
    }
}

impl NdbmDb {
    /// `dbm.ndbm.open(path, flag)` on real files: opens or creates `path.db`, reading through
    /// [`os_vfs`] (a memory map unless `opts.no_lock`).
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<NdbmDb> {
        NdbmDb::open_with(os_vfs(opts), path, opts)
    }

    /// [`NdbmDb::open`] over any file system (memory, fault injection).
    ///
    /// Errors: `'r'`/`'w'` on a missing file: [`Error::Io`] of kind `NotFound` naming
    /// `path.db`; [`Error::Locked`] when another pydbm handle holds it; [`Error::Corrupt`] /
    /// [`Error::Unsupported`] when the file is not a Berkeley DB hash file pydbm handles.
    pub fn open_with(vfs: Arc<dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<NdbmDb> {
        let file = db_path(path);
        let exists = vfs.exists(&file)?;
        if !exists && matches!(opts.mode, OpenMode::Read | OpenMode::Write) {
            return Err(Error::io(
                &file,
                std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
            ));
        }
        let read_only = opts.mode == OpenMode::Read;
        let pager = Pager::open(
            vfs.clone(),
            vec![pydbm_engine::FileSpec {
                path: file.clone(),
                create_mode: opts.file_mode,
            }],
            PagerOptions {
                durability: opts.durability,
                read_only,
                lock: Some((
                    LockKind::Flock,
                    if read_only {
                        LockMode::Shared
                    } else {
                        LockMode::Exclusive
                    },
                )),
                lock_timeout: opts.lock_timeout,
                ..PagerOptions::default()
            },
        )?;
        let pf = pager;
        let fresh = opts.mode == OpenMode::New || (opts.mode == OpenMode::Create && pf.is_empty());
        let store = if fresh {
            let uid = make_uid(&*vfs, &file);
            let mut st = HashStore::create(pf, uid)?;
            st.file_mut().commit()?;
            st
        } else {
            HashStore::open(pf)?
        };
        Ok(NdbmDb {
            store: Some(store),
            path: path.to_path_buf(),
            read_only,
            in_txn: false,
        })
    }

    fn store(&mut self) -> Result<&mut HashStore<Pager>> {
        let path = &self.path;
        self.store.as_mut().ok_or_else(|| Error::Closed {
            path: path.to_path_buf(),
        })
    }

    fn writable(&mut self) -> Result<&mut HashStore<Pager>> {
        if self.read_only {
            return Err(Error::ReadOnly {
                path: db_path(&self.path),
            });
        }
        self.store()
    }

    /// `dbm.ndbm.library`: `"Berkeley DB"`.
    pub fn library(&self) -> &'static str {
        LIBRARY
    }

    /// `db.setdefault(key, value)`'s store (`DBM_INSERT`): stores only when `key` is absent;
    /// returns the value now stored under `key`.
    pub fn setdefault(&mut self, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        if let Some(v) = self.get(key)? {
            return Ok(v);
        }
        let in_txn = self.in_txn;
        let st = self.writable()?;
        let r = st.put_new(key, value);
        finish(st, r, in_txn)?;
        Ok(value.to_vec())
    }

    /// The store, for tools (`check`, `stats`) that need the decoded structures.
    pub fn hash_store(&mut self) -> Result<&mut HashStore<Pager>> {
        self.store()
    }
}

/// Commits a finished operation, or rolls it back (and reloads the meta page) on error —
/// also when the commit itself fails (a full disk while writing pages back): the operation
/// is then undone at once from the records in memory, so no hot journal is left behind for
/// readers to refuse (issue 16, full disk). If that rollback fails too, the journal stays
/// hot and the next writable open recovers it; the commit's error is the one reported.
///
/// Inside a transaction (`in_txn`) a finished operation is not committed (the transaction
/// commits once); a failed one rolls back the whole transaction.
fn finish<T>(st: &mut HashStore<Pager>, r: Result<T>, in_txn: bool) -> Result<T> {
    let e = match r {
        Ok(v) if in_txn => return Ok(v),
        Ok(v) => match st.file_mut().commit() {
            Ok(()) => return Ok(v),
            Err(e) => e,
        },
        Err(e) => e,
    };
    st.file_mut().rollback()?;
    st.reload_meta()?;
    Err(e)
}

impl Dbm for NdbmDb {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store()?.get(key)
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let in_txn = self.in_txn;
        let st = self.writable()?;
        let r = st.put(key, value);
        finish(st, r, in_txn)
    }

    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        let in_txn = self.in_txn;
        let st = self.writable()?;
        let r = st.delete(key);
        finish(st, r, in_txn)
    }

    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        self.store()?.keys()
    }

    fn len(&mut self) -> Result<usize> {
        self.store()?.count()
    }

    fn sync(&mut self) -> Result<()> {
        if self.read_only {
            self.store()?;
            return Ok(());
        }
        self.store()?.file_mut().sync()
    }

    fn close(&mut self) -> Result<()> {
        match self.store.take() {
            Some(st) => st.into_file().close(),
            None => Ok(()),
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn module(&self) -> &'static str {
        "dbm.ndbm"
    }

    fn begin_transaction(&mut self) -> Result<()> {
        self.store()?.file_mut().commit()?;
        self.in_txn = true;
        Ok(())
    }

    fn commit_transaction(&mut self) -> Result<()> {
        self.in_txn = false;
        let st = self.store()?;
        finish(st, Ok(()), false)
    }

    /// Rolls the journal back and re-reads the meta page; the decoded-page cache is
    /// emptied by the rollback (`HashStore::reload_meta`).
    fn rollback_transaction(&mut self) -> Result<()> {
        self.in_txn = false;
        let st = self.store()?;
        st.file_mut().rollback()?;
        st.reload_meta()
    }

    /// One bucket per batch (its whole overflow chain), in `dbm_nextkey` order.
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let st = self.store()?;
        let max = u64::from(st.meta().max_bucket);
        while pos.next <= max && out.is_empty() {
            st.bucket_keys(pos.next as u32, out)?;
            pos.next += 1;
        }
        Ok(())
    }
}

impl Drop for NdbmDb {
    fn drop(&mut self) {
        // Errors on an implicit close cannot be reported; an explicit close() reports them.
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::MemVfs;

    fn open(vfs: &Arc<dyn Vfs>, flag: &str) -> Result<NdbmDb> {
        NdbmDb::open_with(
            vfs.clone(),
            Path::new("/d/x"),
            &OpenOptions::from_flag(flag)?,
        )
    }

    #[test]
    fn flags_behave_like_dbm_ndbm() {
        let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
        // 'r' and 'w' need the file; the error names x.db.
        let e = open(&vfs, "r").unwrap_err();
        assert!(e.to_string().contains("x.db"), "{e}");
        assert!(open(&vfs, "w").is_err());
        let mut db = open(&vfs, "c").unwrap();
        db.insert(b"k", b"v").unwrap();
        db.insert(b"e", b"").unwrap();
        assert_eq!(db.get(b"e").unwrap(), Some(Vec::new()));
        assert_eq!(db.setdefault(b"k", b"other").unwrap(), b"v".to_vec());
        assert_eq!(db.setdefault(b"n", b"new").unwrap(), b"new".to_vec());
        assert_eq!(db.len().unwrap(), 3);
        assert_eq!(db.library(), "Berkeley DB");
        assert_eq!(db.module(), "dbm.ndbm");
        db.close().unwrap();
        assert!(matches!(db.get(b"k"), Err(Error::Closed { .. })));
        db.close().unwrap();
        let mut ro = open(&vfs, "r").unwrap();
        assert_eq!(ro.get(b"k").unwrap(), Some(b"v".to_vec()));
        assert!(matches!(ro.insert(b"a", b"b"), Err(Error::ReadOnly { .. })));
        assert!(matches!(ro.remove(b"k"), Err(Error::ReadOnly { .. })));
        ro.close().unwrap();
        let mut w = open(&vfs, "w").unwrap();
        assert!(w.remove(b"k").unwrap());
        assert!(!w.remove(b"k").unwrap());
        w.close().unwrap();
        let mut n = open(&vfs, "n").unwrap();
        assert_eq!(n.len().unwrap(), 0);
        n.close().unwrap();
    }

    #[test]
    fn pydbm_handles_exclude_each_other_in_process() {
        let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
        let mut a = open(&vfs, "c").unwrap();
        assert!(matches!(open(&vfs, "w"), Err(Error::Locked { .. })));
        assert!(matches!(open(&vfs, "r"), Err(Error::Locked { .. })));
        a.close().unwrap();
        let r1 = open(&vfs, "r").unwrap();
        let r2 = open(&vfs, "r").unwrap();
        drop((r1, r2));
    }

    /// The mapped read path on real files (`NdbmDb::open` → [`os_vfs`]): splits, overflow
    /// values, deletes, a reopen and a read-only open all agree with a model, and the checker
    /// finds nothing, at every durability the bench uses.
    #[test]
    fn mapped_reads_on_real_files_agree_with_a_model() {
        use std::collections::BTreeMap;
        for durability in [
            pydbm_engine::Durability::None,
            pydbm_engine::Durability::Process,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m");
            let mut opts = OpenOptions::from_flag("c").unwrap();
            opts.durability = durability;
            let mut model = BTreeMap::new();
            let mut db = NdbmDb::open(&path, &opts).unwrap();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in 0..3000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = format!("k{}", x % 2500).into_bytes();
                let len = match i % 50 {
                    0 => 5000,
                    1 => 1025,
                    _ => (x % 120) as usize,
                };
                if x.is_multiple_of(5) {
                    assert_eq!(db.remove(&key).unwrap(), model.remove(&key).is_some());
                } else {
                    let value = vec![(i % 251) as u8; len];
                    db.insert(&key, &value).unwrap();
                    model.insert(key, value);
                }
                if i == 1500 {
                    db.close().unwrap();
                    opts.mode = OpenMode::Write;
                    db = NdbmDb::open(&path, &opts).unwrap();
                }
            }
            for (k, v) in &model {
                assert_eq!(db.get(k).unwrap().as_ref(), Some(v));
            }
            assert_eq!(db.len().unwrap(), model.len());
            db.close().unwrap();
            let mut ro = NdbmDb::open(&path, &OpenOptions::from_flag("r").unwrap()).unwrap();
            let mut keys = ro.keys().unwrap();
            keys.sort();
            assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>());
            let problems = super::super::check::check(ro.hash_store().unwrap()).unwrap();
            assert!(problems.is_empty(), "{problems:?}");
        }
    }

    #[test]
    fn not_a_hash_file_is_corrupt() {
        let vfs = MemVfs::new();
        vfs.write_file(Path::new("/d/x.db"), &[7u8; 5000]);
        let vfs: Arc<dyn Vfs> = Arc::new(vfs);
        assert!(matches!(open(&vfs, "r"), Err(Error::Corrupt { .. })));
    }
}
