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
/// Safety rules of the map: reads are bounded by the file length the handle last saw
/// (`fstat` when a read reaches past it) or set itself (its own writes and `set_len`), so the
/// handle's own truncations are safe. A page the file cannot supply when it is read — the file
/// truncated by another process (libdb takes no lock), or a hole on a full tmpfs — would raise
/// `SIGBUS`; the map is registered with `map_guard`'s handler, which absorbs the fault,
/// and the read is served again by `pread` (zeros for a hole, a short read past the end).
/// Locks still matter: they keep other pydbm processes from changing the file at all.
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
    fn is_os(&self) -> bool {
        true
    }

    /// `stat(2)` of `path` (following symlinks).
    fn metadata(&self, path: &Path) -> Result<crate::FileMeta> {
        let m = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Ok(crate::FileMeta {
                len: m.len(),
                owner: Some((m.uid(), m.gid())),
                mode: Some(m.mode() & 0o7777),
                block_size: Some(m.blksize()),
            })
        }
        #[cfg(not(unix))]
        Ok(crate::FileMeta {
            len: m.len(),
            owner: None,
            mode: None,
            block_size: None,
        })
    }
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
    /// The map's entry in the `SIGBUS` guard table; declared (and dropped) before `map`, since
    /// it must be unregistered before the pages are unmapped.
    guard: Option<crate::map_guard::Registration>,
    /// The mapping; it may reach past the file's end (pages there are never read: reads stop
    /// at `len`). `None` until the first read.
    map: Option<memmap2::Mmap>,
    /// [`crate::map_guard::fault_count`] when `map` was made: once it moves, the map may hold
    /// patched (zero) pages and is made again.
    faults_seen: u64,
    /// The map could not be guarded (the guard table is full or the handler could not be
    /// installed): this handle reads with `pread` only.
    unguarded: bool,
    /// The file length as this handle last measured (`fstat`) or set it (own writes and
    /// `set_len`); `None` until first measured.
    len: Option<u64>,
}

/// Smallest map: 1 MiB. A map grows to the next power of two past what a read needs, so a
/// file that grows while it is read is remapped O(log size) times, not once per growth.
const MIN_MAP_LEN: u64 = 1 << 20;

impl MapState {
    /// Drops the map (unregistering it first).
    fn unmap(&mut self) {
        self.guard = None;
        self.map = None;
    }

    /// The mapped bytes of `file` at `offset`, up to `want` of them (fewer only at the end
    /// of the file); `Ok(None)` when this handle cannot read through a guarded map (the
    /// caller reads with `pread`). Never exposes a mapped page at or past the file length
    /// this state knows (`len`), which is refreshed with `fstat` whenever a read reaches past
    /// it. A page the file cannot supply after all (truncated by another process, or a hole
    /// on a full tmpfs) is absorbed by [`crate::map_guard`]: the copy sees zeros and the
    /// fault counter moves, so callers that copy compare [`crate::map_guard::fault_count`]
    /// around the copy and re-read with `pread`.
    #[inline]
    fn bytes(
        &mut self,
        file: &File,
        path: &Path,
        offset: u64,
        want: usize,
    ) -> Result<Option<&[u8]>> {
        if self.unguarded {
            return Ok(None);
        }
        if self.map.is_some() && crate::map_guard::fault_count() != self.faults_seen {
            // Some map of this process absorbed a fault since this one was made: it may hold
            // zero pages in place of file pages, and the file may have shrunk.
            self.unmap();
            self.len = None;
        }
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
            return Ok(Some(&[]));
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
            self.unmap();
            let faults = crate::map_guard::fault_count();
            // SAFETY: the map is only read, and only below `len`, the file length this
            // handle measured or set itself. Mapping past the end of the file is allowed by
            // mmap(2); those pages are never read. A page the file cannot back when it is
            // read (truncated by another process, a hole on a full tmpfs) raises SIGBUS,
            // which `map_guard` absorbs for registered maps; an unregistered map is dropped
            // at once below, unread. Writes through `pwrite` are visible in a MAP_SHARED
            // map, so the bytes read are the file's current bytes.
            let m = unsafe { memmap2::MmapOptions::new().len(map_len).map(file) }
                .map_err(|e| Error::io(path, e))?;
            match crate::map_guard::register(m.as_ptr(), m.len()) {
                Some(g) => {
                    self.map = Some(m);
                    self.guard = Some(g);
                    self.faults_seen = faults;
                }
                None => {
                    drop(m);
                    self.unguarded = true;
                    return Ok(None);
                }
            }
        }
        let m = self.map.as_ref().expect("mapped just above");
        let start = offset as usize;
        Ok(Some(&m[start..start + n]))
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
            let before = crate::map_guard::fault_count();
            if let Some(bytes) = st.bytes(self.file(), &self.path, offset, buf.len())? {
                let n = bytes.len();
                buf[..n].copy_from_slice(bytes);
                if crate::map_guard::fault_count() == before {
                    return Ok(n);
                }
                // A page of the copy was missing from the file (map_guard patched it with
                // zeros): read the range again from the file itself.
            }
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
        // The handle is held exclusively: its map state is reached without locking. A page
        // of the slice the file cannot supply reads as zeros (map_guard), as `pread` of a hole
        // or the pager's view past a short file does.
        let bytes = cell.get_mut().bytes(file, &self.path, offset, len)?;
        Ok(bytes.filter(|b| b.len() == len && len > 0))
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

    /// Reserves the first `len` bytes with `fallocate(2)` (mode 0: blocks allocated, the file
    /// extended to at least `len`), checks the length, then maps them `MAP_SHARED` read-write
    /// and registers the map with `map_guard`. A store into a hole of a sparse file needs a
    /// block at fault time and raises `SIGBUS` when the disk (a full tmpfs) has none; after
    /// the reservation no store needs one. A file system without `fallocate` (`EOPNOTSUPP`) or
    /// without room (`ENOSPC`) is an error here, and the caller writes with `pwrite` instead
    /// (glibc's `posix_fallocate` would emulate the first by writing zeros: not used).
    #[cfg(target_os = "linux")]
    fn map_shared(&self, len: u64) -> Result<Option<Box<dyn crate::SharedMap>>> {
        let too_big = || {
            Error::BadArgument(format!(
                "{}: a {len}-byte shared map does not fit the address space",
                self.path.display()
            ))
        };
        let n = usize::try_from(len).map_err(|_| too_big())?;
        let off = libc::off_t::try_from(len).map_err(|_| too_big())?;
        if n == 0 {
            return Ok(None);
        }
        let fd = self.file().as_raw_fd();
        loop {
            // SAFETY: `fd` is this handle's open descriptor; fallocate has no memory
            // arguments.
            if unsafe { libc::fallocate(fd, 0, 0, off) } == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::io(&self.path, e));
            }
        }
        // Mapped length never past the end of the file: a store there would raise SIGBUS.
        let file_len = self.len()?;
        if file_len < len {
            return Err(Error::io(
                &self.path,
                io::Error::other(format!(
                    "fallocate of {len} bytes left the file {file_len} bytes long"
                )),
            ));
        }
        // SAFETY: the map covers bytes 0..len of a file at least `len` bytes long whose
        // blocks are allocated, so no store faults for want of space. Only the pager's
        // journal writer stores to it, holding the journal's exclusive lock, and it drops the
        // map before it removes or could shrink the file. Another process that cuts the file
        // anyway makes a store fault: the map is registered with `map_guard` below, which
        // absorbs the fault, and `OsSharedMap::store` reports it.
        let map = unsafe { memmap2::MmapOptions::new().len(n).map_mut(self.file()) }
            .map_err(|e| Error::io(&self.path, e))?;
        let Some(guard) = crate::map_guard::register(map.as_ptr(), map.len()) else {
            return Ok(None);
        };
        if let Some(cell) = &self.map {
            let mut st = cell.lock();
            if let Some(l) = st.len.as_mut() {
                *l = (*l).max(len);
            }
        }
        Ok(Some(Box::new(OsSharedMap { _guard: guard, map })))
    }
}

/// A `MAP_SHARED` read-write map of an OS file's first bytes ([`VfsFile::map_shared`]),
/// registered with `map_guard` so that a lost page never kills the process.
#[derive(Debug)]
struct OsSharedMap {
    /// The map's `SIGBUS` guard entry; declared (so dropped) before `map`.
    _guard: crate::map_guard::Registration,
    map: memmap2::MmapMut,
}

impl crate::SharedMap for OsSharedMap {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn store(&mut self, offset: usize, data: &[u8]) -> bool {
        let Some(dst) = offset
            .checked_add(data.len())
            .and_then(|end| self.map.get_mut(offset..end))
        else {
            return false;
        };
        let before = crate::map_guard::fault_count();
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        dst.copy_from_slice(data);
        // The copy is done before the count is read again, as the handler that may have run
        // inside it (on this thread) sees it.
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        crate::map_guard::fault_count() == before
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

    /// Another process truncates a file under a handle's read map: the handle's reads of the
    /// vanished pages return what `pread` returns (nothing), never `SIGBUS`.
    #[test]
    fn file_truncated_by_another_process_while_mapped_reads_short_not_sigbus() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![7u8; 64 * 1024]).unwrap();
        let mut m = OsVfs::with_mmap_reads().open(&p, VfsOpen::READ).unwrap();
        let mut buf = vec![0u8; 4096];
        // Maps the file and learns its 64 KiB length.
        assert_eq!(m.read_at(&mut buf, 60 * 1024).unwrap(), 4096);
        assert_eq!(buf, vec![7u8; 4096]);
        let st = std::process::Command::new("truncate")
            .args(["-s", "4096"])
            .arg(&p)
            .status()
            .expect("run truncate(1)");
        assert!(st.success());
        let before = crate::map_guard::fault_count();
        // The handle still believes the file is 64 KiB long: this read touches a mapped page
        // the file no longer has.
        let n = m.read_at(&mut buf, 32 * 1024).unwrap();
        assert_eq!(n, 0, "pread past the new end reads nothing");
        assert!(
            crate::map_guard::fault_count() > before,
            "the fault was absorbed"
        );
        // The surviving page still reads through the (re-made) map.
        assert_eq!(m.read_at(&mut buf, 0).unwrap(), 4096);
        assert_eq!(buf, vec![7u8; 4096]);
        // In-place slices of a vanished range are refused (the caller then reads).
        assert!(m.bytes_at(40 * 1024, 100).unwrap().is_none());
        // A second process grows it again: the new bytes are visible.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .write_all_at(&[9u8; 4096], 8192)
            .unwrap();
        assert_eq!(m.read_at(&mut buf, 8192).unwrap(), 4096);
        assert_eq!(buf, vec![9u8; 4096]);
    }
}
