//! `OsVfs`: the real file system, through positional `pread`/`pwrite`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::{Error, Result, Vfs, VfsFile, VfsOpen};

/// The operating system's file system.
///
/// Reads and writes are `pread`/`pwrite` (no shared file position, so one handle may be used
/// from several threads). Created files get the [`VfsOpen::mode`] bits, reduced by the
/// process umask as `open(2)` does.
///
/// With [`OsVfs::with_mmap_reads`], handles opened read-only serve reads from a memory map
/// (memmap2) instead of `pread`. The map is refreshed when a read reaches past it. Only use
/// it on files no other process truncates while they are open: reading a page of a mapped
/// file that was truncated underneath kills the process with `SIGBUS`.
#[derive(Debug, Clone, Default)]
pub struct OsVfs {
    mmap_reads: bool,
}

impl OsVfs {
    /// The plain `pread`/`pwrite` file system.
    pub fn new() -> OsVfs {
        OsVfs { mmap_reads: false }
    }

    /// Like [`OsVfs::new`], but read-only handles read through a memory map (see the type docs).
    pub fn with_mmap_reads() -> OsVfs {
        OsVfs { mmap_reads: true }
    }
}

impl Vfs for OsVfs {
    fn open(&self, path: &Path, how: VfsOpen) -> Result<Box<dyn VfsFile>> {
        if (how.create || how.truncate) && !how.write {
            return Err(Error::BadArgument(format!(
                "{}: create/truncate need write access",
                path.display()
            )));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(how.write)
            .create(how.create)
            .truncate(how.truncate)
            .mode(how.mode)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        Ok(Box::new(OsFile {
            file: Some(file),
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            map: if self.mmap_reads && !how.write {
                Some(Mutex::new(None))
            } else {
                None
            },
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn remove(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io(from, e))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
        d.sync_all().map_err(|e| Error::io(dir, e))
    }
}

/// A handle on an OS file.
#[derive(Debug)]
struct OsFile {
    /// Always `Some` until drop hands it to the lock table.
    file: Option<File>,
    path: PathBuf,
    identity: (u64, u64),
    /// The read map, for read-only handles of an [`OsVfs::with_mmap_reads`] file system.
    map: Option<Mutex<Option<memmap2::Mmap>>>,
}

impl OsFile {
    fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("OsFile::file is Some until the handle is dropped")
    }

    fn read_mapped(
        &self,
        cell: &Mutex<Option<memmap2::Mmap>>,
        buf: &mut [u8],
        offset: u64,
    ) -> Result<usize> {
        let mut map = cell.lock();
        let want_end = offset.saturating_add(buf.len() as u64);
        let stale = match map.as_ref() {
            Some(m) => (m.len() as u64) < want_end,
            None => true,
        };
        if stale {
            let len = self.len()?;
            *map = if len == 0 {
                None
            } else {
                // SAFETY: the map is only read; the type docs require that no process
                // truncates a file opened through an mmap-reading OsVfs.
                Some(
                    unsafe { memmap2::Mmap::map(self.file()) }
                        .map_err(|e| Error::io(&self.path, e))?,
                )
            };
        }
        let Some(m) = map.as_ref() else { return Ok(0) };
        let len = m.len() as u64;
        if offset >= len {
            return Ok(0);
        }
        let start = offset as usize;
        let n = buf.len().min(m.len() - start);
        buf[..n].copy_from_slice(&m[start..start + n]);
        Ok(n)
    }
}

impl Drop for OsFile {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Closing any descriptor of a file drops every fcntl lock this process holds
            // on it, so the lock table keeps the descriptor open while such locks exist.
            crate::lock::LockTable::global().close_or_park(self.identity, file);
        }
    }
}

impl VfsFile for OsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        if let Some(cell) = &self.map {
            return self.read_mapped(cell, buf, offset);
        }
        loop {
            match self.file().read_at(buf, offset) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&self.path, e)),
            }
        }
    }

    fn write_at(&self, data: &[u8], offset: u64) -> Result<()> {
        self.file()
            .write_all_at(data, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn sync(&self) -> Result<()> {
        self.file().sync_all().map_err(|e| Error::io(&self.path, e))
    }

    fn len(&self) -> Result<u64> {
        Ok(self
            .file()
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len())
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file()
            .set_len(len)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn identity(&self) -> Option<(u64, u64)> {
        Some(self.identity)
    }

    fn raw_fd(&self) -> Option<i32> {
        Some(self.file().as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pread_pwrite_mode_and_mmap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let vfs = OsVfs::new();
        let how = VfsOpen {
            mode: 0o600,
            ..VfsOpen::CREATE
        };
        let f = vfs.open(&p, how).unwrap();
        f.write_at(b"abc", 4096).unwrap();
        assert_eq!(f.len().unwrap(), 4099);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o600, 0, "created with at most the bits asked for");
        let m = OsVfs::with_mmap_reads().open(&p, VfsOpen::READ).unwrap();
        let mut buf = [0u8; 4];
        m.read_exact_at(&mut buf, 4096).unwrap_err();
        assert_eq!(m.read_at(&mut buf, 4096).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        f.write_at(b"defg", 4099).unwrap();
        m.read_exact_at(&mut buf, 4099).unwrap();
        assert_eq!(&buf, b"defg");
        assert!(vfs
            .open(&dir.path().join("missing"), VfsOpen::READ)
            .unwrap_err()
            .is_not_found());
        assert_eq!(f.identity(), m.identity());
    }
}
