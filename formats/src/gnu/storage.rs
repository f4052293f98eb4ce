//! Where a gdbm handle's bytes live: the [`Storage`] trait the store logic runs on, and
//! [`MemStorage`], a file image in memory (used by reorganize, the fuzz target and tests).
//!
//! One store/delete/reorganize is one transaction: the store logic calls
//! [`Storage::commit`] at the end of every update (gdbm spec §12.5 end_update).

use std::path::{Path, PathBuf};

use pydbm_engine::{Error, Result};

/// Positional byte storage with transactions.
pub trait Storage: Send {
    /// Logical length in bytes (including uncommitted writes).
    fn len(&self) -> u64;
    /// Whether the storage is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads exactly `buf.len()` bytes at `offset`; past the end → [`Error::Corrupt`].
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// The `len` bytes at `offset` where they lie, without copying them, when the storage
    /// can show them; `Ok(None)` otherwise, and the caller uses [`Storage::read_at`] (which
    /// reports a range past the end). The default never can.
    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        let _ = (offset, len);
        Ok(None)
    }
    /// A hint that `len` bytes at `offset` will be read soon (a prefetch); does nothing by
    /// default.
    fn prefetch(&self, offset: u64, len: usize) {
        let _ = (offset, len);
    }
    /// Writes `data` at `offset`, extending with zeros if needed.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Truncates or extends with zeros.
    fn set_len(&mut self, len: u64) -> Result<()>;
    /// Ends one operation atomically.
    fn commit(&mut self) -> Result<()>;
    /// Undoes everything since the last commit.
    fn rollback(&mut self) -> Result<()>;
    /// Writes everything back and makes it durable (Python's `db.sync()`).
    fn sync(&mut self) -> Result<()>;
    /// The file's path, for error messages.
    fn path(&self) -> &Path;
    /// Closes: writes everything back (per the durability level) and releases resources;
    /// later calls fail.
    fn finish(&mut self) -> Result<()>;
}

/// A whole file image in memory, with a copy-on-first-write undo image for rollback.
#[derive(Debug, Clone)]
pub struct MemStorage {
    path: PathBuf,
    data: Vec<u8>,
    undo: Option<Vec<u8>>,
    keep_undo: bool,
}

impl MemStorage {
    /// A storage holding `data`, reported as `path` in errors, with rollback support
    /// (each transaction copies the image once on its first write).
    pub fn new(path: impl Into<PathBuf>, data: Vec<u8>) -> MemStorage {
        MemStorage {
            path: path.into(),
            data,
            undo: None,
            keep_undo: true,
        }
    }
    /// A storage without rollback (no copy per transaction): for building a file image
    /// in one go, as reorganize does. [`Storage::rollback`] then fails.
    pub fn without_undo(path: impl Into<PathBuf>, data: Vec<u8>) -> MemStorage {
        MemStorage {
            path: path.into(),
            data,
            undo: None,
            keep_undo: false,
        }
    }
    /// The index range of the `len` bytes at `offset`, if they lie in the image.
    fn range(&self, offset: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(offset).ok()?;
        Some(start..start.checked_add(len)?).filter(|r| r.end <= self.data.len())
    }
    /// The current bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
    /// Takes the bytes out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }
    fn touch(&mut self) {
        if self.keep_undo && self.undo.is_none() {
            self.undo = Some(self.data.clone());
        }
    }
}

impl Storage for MemStorage {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match self.range(offset, buf.len()) {
            Some(r) => {
                buf.copy_from_slice(&self.data[r]);
                Ok(())
            }
            None => Err(Error::corrupt(
                &self.path,
                offset,
                format!(
                    "{} readable bytes (file is {} bytes; gdbm: Unexpected end of file)",
                    buf.len(),
                    self.data.len()
                ),
            )),
        }
    }
    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        Ok(self.range(offset, len).map(|r| &self.data[r]))
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        // Refuse absurd sizes instead of allocating them (a hostile next_block).
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= (1u64 << 40))
            .ok_or_else(|| Error::corrupt(&self.path, offset, "a write inside 1 TiB"))?;
        self.touch();
        if end as usize > self.data.len() {
            self.data.resize(end as usize, 0);
        }
        self.data[offset as usize..end as usize].copy_from_slice(data);
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> Result<()> {
        if len > (1u64 << 40) {
            return Err(Error::corrupt(&self.path, len, "a file size under 1 TiB"));
        }
        self.touch();
        self.data.resize(len as usize, 0);
        Ok(())
    }
    fn commit(&mut self) -> Result<()> {
        self.undo = None;
        Ok(())
    }
    fn rollback(&mut self) -> Result<()> {
        if !self.keep_undo {
            return Err(Error::unsupported(
                &self.path,
                "rollback of an image built without undo",
            ));
        }
        if let Some(u) = self.undo.take() {
            self.data = u;
        }
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        self.commit()
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn finish(&mut self) -> Result<()> {
        self.commit()
    }
}

impl<T: Storage + ?Sized> Storage for Box<T> {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        (**self).bytes_at(offset, len)
    }
    fn prefetch(&self, offset: u64, len: usize) {
        (**self).prefetch(offset, len)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        (**self).write_at(offset, data)
    }
    fn set_len(&mut self, len: u64) -> Result<()> {
        (**self).set_len(len)
    }
    fn commit(&mut self) -> Result<()> {
        (**self).commit()
    }
    fn rollback(&mut self) -> Result<()> {
        (**self).rollback()
    }
    fn sync(&mut self) -> Result<()> {
        (**self).sync()
    }
    fn path(&self) -> &Path {
        (**self).path()
    }
    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
}
