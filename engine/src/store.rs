//! `Store`: the one transactional byte store every page-based format runs on.
//!
//! dbm.gnu and dbm.ndbm keep their whole database in one file and change it in place; the
//! format code addresses that file by byte offset and groups each logical operation (a
//! store, a delete, a reorganize) into one transaction. [`Store`] is that seam, and
//! [`Pager`] (file 0 of a pager) is its implementation: over [`crate::OsVfs`] for real
//! files, over [`MemVfs`] for images built in memory (reorganize, tests, fuzz targets) and
//! over [`crate::FaultVfs`] for the crash suites, so every use runs the same journal and
//! cache code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Error, FileSpec, MemVfs, Pager, PagerOptions, Result, VfsOpen};

/// A byte-addressed file with transactions: the storage a page-based format runs on.
///
/// Guarantees, as implemented by [`Pager`]:
/// - reads see every write since the last commit (the logical file);
/// - [`Store::commit`] ends one operation atomically under the pager's rollback journal
///   (docs/journal.md): after a crash at any point, the next writer's open finds the file
///   either as at this commit or as at the previous one, to the degree the pager's
///   [`crate::Durability`] promises (`Process`: a killed process; `Full`: also power loss;
///   `None`: nothing until [`Store::sync`]);
/// - [`Store::rollback`] undoes everything since the last commit (under `Durability::None`
///   only what is still in the page cache);
/// - after [`Store::finish`] every method but [`Store::len`] and [`Store::path`] fails with
///   [`Error::Closed`].
///
/// Errors: a read past the logical end is [`Error::Corrupt`] naming the file and offset; a
/// range ending past [`crate::MAX_FILE_LEN`] is [`Error::BadArgument`]; writes on a read-only
/// store are [`Error::ReadOnly`]; the file layer's failures are [`Error::Io`].
pub trait Store: Send {
    /// Logical length in bytes (including uncommitted writes).
    fn len(&self) -> u64;
    /// Whether the store is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads exactly `buf.len()` bytes at `offset`; past the end → [`Error::Corrupt`].
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// The `len` bytes at `offset` where they lie, without copying them, when the store can
    /// show them; `Ok(None)` otherwise, and the caller uses [`Store::read_at`] (which
    /// reports a range past the end). The default never can.
    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        let _ = (offset, len);
        Ok(None)
    }
    /// A hint that `len` bytes at `offset` will be read soon (a prefetch); never fails and
    /// does nothing by default.
    fn prefetch(&self, offset: u64, len: usize) {
        let _ = (offset, len);
    }
    /// Writes `data` at `offset`, extending with zeros if needed.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Truncates or extends with zeros.
    fn set_len(&mut self, len: u64) -> Result<()>;
    /// Ends one operation atomically (see the trait docs for what survives a crash). On
    /// error the operation stays open: call [`Store::rollback`] or drop the store.
    fn commit(&mut self) -> Result<()>;
    /// Undoes everything since the last commit.
    fn rollback(&mut self) -> Result<()>;
    /// Commits, writes everything back and makes it durable (Python's `db.sync()`).
    fn sync(&mut self) -> Result<()>;
    /// The file's path, for error messages.
    fn path(&self) -> &Path;
    /// Closes: commits, writes everything back (per the durability level), removes the
    /// journal and releases the lock; later calls fail with [`Error::Closed`]. Finishing
    /// twice is not an error.
    fn finish(&mut self) -> Result<()>;
}

impl Pager {
    /// Fails with [`Error::Closed`] once [`Store::finish`] has closed the pager.
    #[inline]
    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed {
                path: self.path(0).to_path_buf(),
            });
        }
        Ok(())
    }

    /// A [`Store`] in memory: a pager whose file 0 is `path` on a fresh [`MemVfs`] holding
    /// `image` (nothing is written when `image` is empty and the pager is read-only: the
    /// file then does not exist). For reorganize's new image, tests and fuzz targets.
    /// `opts.durability` chooses the cost: [`crate::Durability::None`] keeps no journal
    /// (nothing to roll back past what the cache holds; the fastest way to build a fresh
    /// image), `Process` journals every commit on the memory disk. The disk's files may
    /// grow to [`crate::DEFAULT_MEM_FILE_LIMIT`] bytes (a write past it is [`Error::Io`]).
    ///
    /// Errors: those of [`Pager::open`].
    pub fn in_memory(path: impl Into<PathBuf>, image: &[u8], opts: PagerOptions) -> Result<Pager> {
        let path = path.into();
        let vfs = MemVfs::new();
        if !image.is_empty() || !opts.read_only {
            vfs.write_file(&path, image);
        }
        Pager::open(Arc::new(vfs), vec![FileSpec::new(path)], opts)
    }

    /// An empty [`Pager::in_memory`] store for building a new file image in one go (gdbm's
    /// reorganize and salvage): [`crate::Durability::None`], so no journal and no copy of
    /// any page is kept, with a 64 MiB cache so an image of that size never touches the
    /// memory disk before [`Store::sync`]. Take the bytes with [`Pager::image`].
    /// [`Store::rollback`] only discards what the cache holds.
    pub fn new_image(path: impl Into<PathBuf>) -> Result<Pager> {
        Pager::in_memory(
            path,
            &[],
            PagerOptions {
                durability: crate::Durability::None,
                cache_bytes: 64 << 20,
                ..PagerOptions::default()
            },
        )
    }

    /// The whole content of file 0: the logical bytes (uncommitted writes included) while
    /// the pager is open, the file as its [`crate::Vfs`] holds it after [`Store::finish`] (empty
    /// when the file does not exist). Errors: reading the file.
    pub fn image(&mut self) -> Result<Vec<u8>> {
        if self.closed {
            let path = self.path(0).to_path_buf();
            let file = match self.vfs().open(&path, VfsOpen::READ) {
                Err(e) if e.is_not_found() => return Ok(Vec::new()),
                other => other?,
            };
            let len = usize::try_from(file.len()?).map_err(|_| {
                Error::BadArgument(format!("{}: too large to load", path.display()))
            })?;
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, 0)?;
            return Ok(buf);
        }
        let len = usize::try_from(self.len(0)).map_err(|_| {
            Error::BadArgument(format!("{}: too large to load", self.path(0).display()))
        })?;
        let mut buf = vec![0u8; len];
        if len > 0 {
            self.read_at(0, 0, &mut buf)?;
        }
        Ok(buf)
    }
}

/// File 0 of the pager is the store.
impl Store for Pager {
    #[inline]
    fn len(&self) -> u64 {
        Pager::len(self, 0)
    }
    #[inline]
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.ensure_open()?;
        Pager::read_at(self, 0, offset, buf)
    }
    #[inline]
    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        self.ensure_open()?;
        Pager::bytes_at(self, 0, offset, len)
    }
    #[inline]
    fn prefetch(&self, offset: u64, len: usize) {
        if !self.closed {
            Pager::prefetch(self, 0, offset, len);
        }
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.ensure_open()?;
        Pager::write_at(self, 0, offset, data)
    }
    fn set_len(&mut self, len: u64) -> Result<()> {
        self.ensure_open()?;
        Pager::set_len(self, 0, len)
    }
    fn commit(&mut self) -> Result<()> {
        self.ensure_open()?;
        Pager::commit(self)
    }
    fn rollback(&mut self) -> Result<()> {
        self.ensure_open()?;
        Pager::rollback(self)
    }
    fn sync(&mut self) -> Result<()> {
        self.ensure_open()?;
        Pager::sync(self)
    }
    fn path(&self) -> &Path {
        Pager::path(self, 0)
    }
    fn finish(&mut self) -> Result<()> {
        self.close_in_place()
    }
}

impl<T: Store + ?Sized> Store for Box<T> {
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

#[cfg(test)]
mod tests {
    use super::Store;
    use crate::{Durability, Error, Pager, PagerOptions};

    fn mem(image: &[u8], durability: Durability) -> Pager {
        Pager::in_memory(
            "s.db",
            image,
            PagerOptions {
                durability,
                ..PagerOptions::default()
            },
        )
        .expect("a memory pager opens")
    }

    #[test]
    fn rollback_undoes_to_the_last_commit() {
        let mut p = mem(b"abcdef", Durability::Process);
        Store::write_at(&mut p, 2, b"XY").unwrap();
        Store::commit(&mut p).unwrap();
        Store::write_at(&mut p, 0, b"Q").unwrap();
        Store::set_len(&mut p, 9000).unwrap();
        assert_eq!(Store::len(&p), 9000);
        Store::rollback(&mut p).unwrap();
        assert_eq!(p.image().unwrap(), b"abXYef");
    }

    #[test]
    fn read_past_the_end_is_corrupt_and_finish_closes() {
        let mut p = mem(b"abc", Durability::None);
        let mut buf = [0u8; 4];
        assert!(matches!(
            Store::read_at(&mut p, 0, &mut buf),
            Err(Error::Corrupt { .. })
        ));
        Store::write_at(&mut p, 3, b"d").unwrap();
        Store::finish(&mut p).unwrap();
        Store::finish(&mut p).unwrap();
        assert!(matches!(
            Store::read_at(&mut p, 0, &mut buf),
            Err(Error::Closed { .. })
        ));
        assert!(matches!(
            Store::write_at(&mut p, 0, b"x"),
            Err(Error::Closed { .. })
        ));
        assert_eq!(p.image().unwrap(), b"abcd");
    }

    #[test]
    fn a_read_only_empty_memory_store_has_no_file() {
        let mut p = mem(b"", Durability::Process);
        assert!(Store::is_empty(&p));
        let mut ro = Pager::in_memory(
            "r.db",
            b"",
            PagerOptions {
                read_only: true,
                ..PagerOptions::default()
            },
        )
        .unwrap();
        assert!(!ro.exists(0));
        assert!(matches!(
            Store::write_at(&mut ro, 0, b"x"),
            Err(Error::ReadOnly { .. })
        ));
        assert_eq!(p.image().unwrap(), b"");
    }
}
