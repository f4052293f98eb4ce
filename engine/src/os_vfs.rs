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
/// With [`OsVfs::with_mmap_reads`], every handle (read-only or writable) serves reads from a
/// shared memory map (memmap2) instead of `pread`, as libgdbm does (gdbm spec §14): a small
/// read is a copy, not a system call, and [`VfsFile::is_mapped`] says so, so the pager reads
/// uncached pages straight from the map. Writes stay `pwrite` (the kernel's page cache makes
/// them visible through the map at once).
///
/// Safety rules of the map (see `OsFile::read_mapped`): reads are bounded by the file length
/// the handle last saw (`fstat` when a read reaches past it) or set itself (its own writes and
/// `set_len`), so the handle's own truncations are safe. Only use it on files no other handle
/// or process truncates while they are open (hold a lock): reading a page of a mapped file
/// that was truncated underneath kills the process with `SIGBUS`.
#[derive(Debug, Clone, Default)]
pub struct OsVfs {
    mmap_reads: bool,
}

impl OsVfs {
    /// The plain `pread`/`pwrite` file system.
    pub fn new() -> OsVfs {
        OsVfs { mmap_reads: false }
    }

    /// Like [`OsVfs::new`], but handles read through a memory map (see the type docs).
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
            map: if self.mmap_reads {
                Some(Mutex::new(MapState::default()))
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

/// The read map of an mmap-reading handle.
#[derive(Debug, Default)]
struct MapState {
    /// The mapping; it may reach past the file's end (pages there are never read: reads stop
    /// at `len`). `None` until the first read.
    map: Option<memmap2::Mmap>,
    /// The file length as this handle last measured (`fstat`) or set it (own writes and
    /// `set_len`); `None` until first measured.
    len: Option<u64>,
}

/// Smallest map: 1 MiB. A map grows to the next power of two past what a read needs, so a
/// file that grows while it is read is remapped O(log size) times, not once per growth.
const MIN_MAP_LEN: u64 = 1 << 20;

impl MapState {
    /// The mapped bytes of `file` at `offset`, up to `want` of them (fewer only at the end
    /// of the file). Never exposes a mapped page at or past the file length this state
    /// knows (`len`), which is refreshed with `fstat` whenever a read reaches past it; a
    /// shorter file than that can only come from another handle or process truncating it,
    /// which the [`OsVfs`] docs rule out.
    #[inline]
    fn bytes(&mut self, file: &File, path: &Path, offset: u64, want: usize) -> Result<&[u8]> {
        let want_end = offset.saturating_add(want as u64);
        let len = match self.len {
            Some(l) if l >= want_end => l,
            _ => {
                let l = file.metadata().map_err(|e| Error::io(path, e))?.len();
                self.len = Some(l);
                l
            }
        };
        if offset >= len || want == 0 {
            return Ok(&[]);
        }
        let n = want.min((len - offset) as usize);
        let end = offset + n as u64;
        if self.map.as_ref().is_none_or(|m| (m.len() as u64) < end) {
            let map_len = end.max(len).max(MIN_MAP_LEN).next_power_of_two();
            let map_len = usize::try_from(map_len).map_err(|_| {
                Error::BadArgument(format!(
                    "{}: a {map_len}-byte map does not fit the address space",
                    path.display()
                ))
            })?;
            self.map = None;
            // SAFETY: the map is only read, and only below `len`, the file length this
            // handle measured or set itself: those pages are backed by the file unless
            // another handle or process truncated it, which the type docs forbid (callers
            // hold a lock). Mapping past the end of the file is allowed by mmap(2); those
            // pages are never read (SIGBUS). Writes through `pwrite` are visible in a
            // MAP_SHARED map, so the bytes read are the file's current bytes.
            let m = unsafe { memmap2::MmapOptions::new().len(map_len).map(file) }
                .map_err(|e| Error::io(path, e))?;
            self.map = Some(m);
        }
        let m = self.map.as_ref().expect("mapped just above");
        let start = offset as usize;
        Ok(&m[start..start + n])
    }
}

/// A handle on an OS file.
#[derive(Debug)]
struct OsFile {
    /// Always `Some` until drop hands it to the lock table.
    file: Option<File>,
    path: PathBuf,
    identity: (u64, u64),
    /// The read map, for handles of an [`OsVfs::with_mmap_reads`] file system.
    map: Option<Mutex<MapState>>,
}

impl OsFile {
    fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("OsFile::file is Some until the handle is dropped")
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
            let mut st = cell.lock();
            let bytes = st.bytes(self.file(), &self.path, offset, buf.len())?;
            buf[..bytes.len()].copy_from_slice(bytes);
            return Ok(bytes.len());
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
            .map_err(|e| Error::io(&self.path, e))?;
        if let Some(cell) = &self.map {
            let mut st = cell.lock();
            if let Some(l) = st.len.as_mut() {
                *l = (*l).max(offset.saturating_add(data.len() as u64));
            }
        }
        Ok(())
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
        let res = self
            .file()
            .set_len(len)
            .map_err(|e| Error::io(&self.path, e));
        if let Some(cell) = &self.map {
            // Reads must stop at the new end at once (a shrunk file's old pages SIGBUS);
            // after a failure the length is unknown and measured again.
            cell.lock().len = res.is_ok().then_some(len);
        }
        res
    }

    fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        let (Some(cell), Some(file)) = (self.map.as_mut(), self.file.as_ref()) else {
            return Ok(None);
        };
        // The handle is held exclusively: its map state is reached without locking.
        let bytes = cell.get_mut().bytes(file, &self.path, offset, len)?;
        Ok((bytes.len() == len && len > 0).then_some(bytes))
    }

    fn prefetch(&self, offset: u64, len: usize) {
        let Some(cell) = &self.map else { return };
        let st = cell.lock();
        let (Some(m), Some(file_len)) = (st.map.as_ref(), st.len) else {
            return;
        };
        // Only bytes that a read would return (inside the known file length and the map).
        let end = offset.saturating_add(len as u64);
        if len == 0 || end > file_len || end > m.len() as u64 {
            return;
        }
        crate::prefetch::prefetch_bytes(&m[offset as usize..end as usize]);
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
        // Prefetch hints outside the file or the map are ignored, never a panic.
        for (off, len) in [
            (0, 10),
            (4096, 7),
            (4096, 8),
            (4000, 1 << 30),
            (u64::MAX, 5),
        ] {
            m.prefetch(off, len);
        }
        assert!(m.is_mapped() && !f.is_mapped());
        assert!(vfs
            .open(&dir.path().join("missing"), VfsOpen::READ)
            .unwrap_err()
            .is_not_found());
        assert_eq!(f.identity(), m.identity());
    }
}
