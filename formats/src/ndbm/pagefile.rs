//! The I/O seam of the Berkeley DB hash store: a byte-addressed file with
//! transactions. Production code runs it over the engine's journaled `Pager`; tests and
//! the fuzz target over [`MemFile`].

use std::path::{Path, PathBuf};

use pydbm_engine::{Error, Result};

/// A file the hash store reads and writes, with one transaction per operation.
///
/// `read` past the end fails with [`Error::Corrupt`]; `write` past the end extends the
/// file with zeros. `commit` makes everything written since the last commit durable as one
/// unit (per the implementation's durability), `rollback` discards it.
pub trait PageFile: Send {
    /// Logical length in bytes, uncommitted changes included.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Writes `data` at `offset`.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Truncates or extends (with zeros) to `len` bytes.
    fn set_len(&mut self, len: u64) -> Result<()>;
    /// Ends the current operation atomically.
    fn commit(&mut self) -> Result<()>;
    /// Discards every change since the last commit.
    fn rollback(&mut self) -> Result<()>;
    /// Writes everything back and makes it durable (Python's `db.sync()`).
    fn sync(&mut self) -> Result<()>;
    /// The file's path, for error messages.
    fn path(&self) -> &Path;
}

/// An in-memory [`PageFile`]: the committed image plus the working image.
#[derive(Debug, Clone)]
pub struct MemFile {
    path: PathBuf,
    committed: Vec<u8>,
    work: Vec<u8>,
    dirty: bool,
}

impl MemFile {
    /// A file holding `bytes`, reported under `path` in errors.
    pub fn new(path: impl Into<PathBuf>, bytes: Vec<u8>) -> MemFile {
        MemFile {
            path: path.into(),
            committed: bytes.clone(),
            work: bytes,
            dirty: false,
        }
    }

    /// The committed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.committed
    }

    /// Consumes the file, returning the committed bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.committed
    }
}

impl PageFile for MemFile {
    fn len(&self) -> u64 {
        self.work.len() as u64
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        match end {
            Some(end) if end <= self.work.len() as u64 => {
                buf.copy_from_slice(&self.work[offset as usize..end as usize]);
                Ok(())
            }
            _ => Err(Error::corrupt(
                &self.path,
                offset,
                format!(
                    "{} bytes inside the file of {} bytes",
                    buf.len(),
                    self.work.len()
                ),
            )),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let end = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(data.len()))
            .ok_or_else(|| {
                Error::corrupt(
                    &self.path,
                    offset,
                    format!("a write of {} bytes at an addressable offset", data.len()),
                )
            })?;
        if end > self.work.len() {
            self.work.resize(end, 0);
        }
        self.work[offset as usize..end].copy_from_slice(data);
        self.dirty = true;
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> Result<()> {
        self.work.resize(len as usize, 0);
        self.dirty = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.dirty {
            self.committed.clone_from(&self.work);
            self.dirty = false;
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.dirty {
            self.work.clone_from(&self.committed);
            self.dirty = false;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.commit()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// The production [`PageFile`]: file 0 of an engine [`pydbm_engine::Pager`], so every
/// operation commits atomically under the engine's rollback journal (`NAME.db-journal`).
#[derive(Debug)]
pub struct PagerFile {
    pager: Option<pydbm_engine::Pager>,
    path: PathBuf,
}

impl PagerFile {
    /// Wraps a pager whose file 0 is the database.
    pub fn new(pager: pydbm_engine::Pager) -> PagerFile {
        let path = pager.path(0).to_path_buf();
        PagerFile {
            pager: Some(pager),
            path,
        }
    }

    fn pager(&mut self) -> Result<&mut pydbm_engine::Pager> {
        self.pager.as_mut().ok_or_else(|| Error::Closed {
            path: self.path.clone(),
        })
    }

    /// Commits, writes everything back, removes the journal and releases the lock.
    /// Closing twice is not an error.
    pub fn close(&mut self) -> Result<()> {
        match self.pager.take() {
            Some(p) => p.close(),
            None => Ok(()),
        }
    }
}

impl PageFile for PagerFile {
    fn len(&self) -> u64 {
        self.pager.as_ref().map_or(0, |p| p.len(0))
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.pager()?.read_at(0, offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.pager()?.write_at(0, offset, data)
    }

    fn set_len(&mut self, len: u64) -> Result<()> {
        self.pager()?.set_len(0, len)
    }

    fn commit(&mut self) -> Result<()> {
        self.pager()?.commit()
    }

    fn rollback(&mut self) -> Result<()> {
        self.pager()?.rollback()
    }

    fn sync(&mut self) -> Result<()> {
        self.pager()?.sync()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
