//! `GnuDb`: a gdbm file with Python `dbm.gnu` semantics, implementing
//! [`pydbm_engine::Dbm`].

use std::any::Any;
use std::path::{Path, PathBuf};

use pydbm_engine::{CursorPosition, Dbm, Error, Pager, Result};

use super::handle::GdbmFile;

/// An open `dbm.gnu` database: a [`GdbmFile`] plus the lock it holds and the path it was
/// opened with. After [`Dbm::close`] every method fails with [`Error::Closed`].
pub struct GnuDb {
    path: PathBuf,
    file: Option<GdbmFile<Pager>>,
    /// Held until close (the engine's lock guard); dropped to release.
    lock: Option<Box<dyn Any + Send>>,
}

impl std::fmt::Debug for GnuDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GnuDb")
            .field("path", &self.path)
            .field("open", &self.file.is_some())
            .finish()
    }
}

impl GnuDb {
    /// Wraps an open file; `lock` is kept alive until close.
    pub fn from_file(
        path: impl Into<PathBuf>,
        file: GdbmFile<Pager>,
        lock: Option<Box<dyn Any + Send>>,
    ) -> GnuDb {
        GnuDb {
            path: path.into(),
            file: Some(file),
            lock,
        }
    }

    /// The open file, or [`Error::Closed`].
    pub fn file(&mut self) -> Result<&mut GdbmFile<Pager>> {
        self.file.as_mut().ok_or_else(|| Error::Closed {
            path: self.path.clone(),
        })
    }

    /// `db.firstkey()`: the first key in iteration order, or `None`.
    pub fn firstkey(&mut self) -> Result<Option<Vec<u8>>> {
        self.file()?.firstkey()
    }

    /// `db.nextkey(key)`: the key after `key`, or `None` at the end (or if `key` is gone).
    pub fn nextkey(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.file()?.nextkey(key)
    }

    /// `db.setdefault(key, default)`: the stored value, storing `default` first if absent.
    pub fn setdefault(&mut self, key: &[u8], default: &[u8]) -> Result<Vec<u8>> {
        if let Some(v) = self.get(key)? {
            return Ok(v);
        }
        self.insert(key, default)?;
        Ok(default.to_vec())
    }

    /// `db.get(key)` into a caller's buffer (see [`GdbmFile::fetch_into`]): clears `out`,
    /// and if `key` is stored puts its value there and returns `true`. With one buffer
    /// reused across calls, a lookup allocates nothing.
    pub fn get_into(&mut self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        self.file()?.fetch_into(key, out)
    }

    /// `gdbm_store(GDBM_INSERT)`: stores only if `key` is absent; returns whether it stored.
    pub fn insert_new(&mut self, key: &[u8], value: &[u8]) -> Result<bool> {
        self.file()?.store(key, value, false)
    }

    /// `gdbm_convert`: switch the file to the extended (numsync) header, or back.
    pub fn convert(&mut self, numsync: bool) -> Result<()> {
        self.file()?.convert(numsync)
    }

    /// Whether the file is in gdbm's needs-recovery state (spec §18).
    pub fn needs_recovery(&mut self) -> Result<bool> {
        Ok(self.file()?.needs_recovery())
    }
}

impl Dbm for GnuDb {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.file()?.fetch(key)
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.file()?.store(key, value, true).map(|_| ())
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        self.file()?.delete(key)
    }
    fn contains(&mut self, key: &[u8]) -> Result<bool> {
        self.file()?.exists(key)
    }
    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        self.file()?.keys()
    }
    fn len(&mut self) -> Result<usize> {
        self.file()?.count()
    }
    fn sync(&mut self) -> Result<()> {
        self.file()?.sync()
    }
    fn close(&mut self) -> Result<()> {
        let r = match self.file.take() {
            Some(f) => f.close().map(|_| ()),
            None => Ok(()),
        };
        self.lock = None;
        r
    }
    fn reorganize(&mut self) -> Result<()> {
        self.file()?.reorganize()
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn module(&self) -> &'static str {
        "dbm.gnu"
    }
    fn begin_transaction(&mut self) -> Result<()> {
        self.file()?.begin_transaction()
    }
    fn commit_transaction(&mut self) -> Result<()> {
        self.file()?.commit_transaction()
    }
    fn rollback_transaction(&mut self) -> Result<()> {
        self.file()?.rollback_transaction()
    }
    /// One key per batch: `gdbm_firstkey`, then `gdbm_nextkey` of the last key (whose
    /// bucket is still current, so no lookup is repeated).
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let next = if pos.started {
            self.file()?.nextkey(&pos.last_key)?
        } else {
            self.file()?.firstkey()?
        };
        if let Some(k) = next {
            pos.last_key.clone_from(&k);
            out.push(k);
        }
        Ok(())
    }
}

impl Drop for GnuDb {
    fn drop(&mut self) {
        let _ = Dbm::close(self);
    }
}
