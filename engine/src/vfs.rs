//! The file layer: `Vfs` opens files, `VfsFile` reads and writes them at offsets.
//!
//! Every byte pydbm stores goes through these traits, so the same format code runs
//! over real files ([`crate::OsVfs`]), memory ([`crate::MemVfs`]) and simulated crashes
//! ([`crate::FaultVfs`]).

use std::fmt::Debug;
use std::path::Path;

use crate::Result;

/// How to open a file through a [`Vfs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VfsOpen {
    /// Open for writing as well as reading.
    pub write: bool,
    /// Create the file if it does not exist (requires `write`).
    pub create: bool,
    /// Truncate the file to zero length on open (requires `write`).
    pub truncate: bool,
    /// Permission bits for a created file, before the process umask.
    pub mode: u32,
}

impl VfsOpen {
    /// Read-only open of an existing file.
    pub const READ: VfsOpen = VfsOpen {
        write: false,
        create: false,
        truncate: false,
        mode: 0o666,
    };
    /// Read-write open of an existing file.
    pub const WRITE: VfsOpen = VfsOpen {
        write: true,
        create: false,
        truncate: false,
        mode: 0o666,
    };
    /// Read-write open, creating the file if it is missing.
    pub const CREATE: VfsOpen = VfsOpen {
        write: true,
        create: true,
        truncate: false,
        mode: 0o666,
    };
}

/// What a file layer knows about a file besides its bytes (`stat(2)`'s fields that the
/// formats use). Fields a layer does not have are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Length in bytes.
    pub len: u64,
    /// Owner user and group ids (`st_uid`, `st_gid`).
    pub owner: Option<(u32, u32)>,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: Option<u32>,
    /// The preferred I/O block size (`st_blksize`), which gdbm uses as a new file's block
    /// size (gdbm spec §3.1).
    pub block_size: Option<u64>,
}

/// A file system: opens, removes and renames files.
///
/// Implementations must be usable from several threads; handles they return are
/// independent (like two `open(2)` calls on the same path).
pub trait Vfs: Send + Sync + Debug {
    /// Opens `path`. Fails with an [`crate::Error::Io`] naming `path` (kind `NotFound` when
    /// the file is missing and `create` is false).
    fn open(&self, path: &Path, how: VfsOpen) -> Result<Box<dyn VfsFile>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> Result<bool>;
    /// Removes `path`. Fails with kind `NotFound` when it is missing.
    fn remove(&self, path: &Path) -> Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Makes the directory entry changes (create, remove, rename) under `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Whether this file system is the operating system's own (its paths name real files
    /// that other processes and libraries see): true for [`crate::OsVfs`], false by default.
    /// `dbm.sqlite3` checks it to open OS files through SQLite's own unix VFS (whose
    /// `-shm` wal-index other processes share) and every other layer through pydbm's
    /// SQLite VFS over it.
    fn is_os(&self) -> bool {
        false
    }
    /// What is known about `path` (see [`FileMeta`]). Fails like [`Vfs::open`] for reading
    /// (kind `NotFound` when missing). The default opens the file for its length and knows
    /// nothing else; [`crate::OsVfs`] reports `stat(2)`.
    fn metadata(&self, path: &Path) -> Result<FileMeta> {
        let len = self.open(path, VfsOpen::READ)?.len()?;
        Ok(FileMeta {
            len,
            owner: None,
            mode: None,
            block_size: None,
        })
    }
}

/// An open file: positional reads and writes, length, sync.
pub trait VfsFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (fewer only at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize>;
    /// Writes all of `data` at `offset`, extending the file if needed.
    fn write_at(&self, data: &[u8], offset: u64) -> Result<()>;
    /// Makes every write so far durable (`fsync`).
    fn sync(&self) -> Result<()>;
    /// Current length in bytes.
    fn len(&self) -> Result<u64>;
    /// Truncates or extends (with zeros) to `len` bytes.
    fn set_len(&self, len: u64) -> Result<()>;
    /// The path this handle was opened with (for error messages).
    fn path(&self) -> &Path;

    /// Reads exactly `buf.len()` bytes at `offset`; a short file is an
    /// [`crate::Error::Io`] of kind `UnexpectedEof` naming the path.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(crate::Error::io(
                    self.path(),
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "wanted {} bytes at offset {}, file ends first",
                            buf.len(),
                            offset
                        ),
                    ),
                ));
            }
            done += n;
        }
        Ok(())
    }

    /// Whether the file is empty.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The `len` bytes at `offset` where they lie, without copying them, when this handle
    /// can show them (a memory-mapped handle whose known length covers the range);
    /// `Ok(None)` otherwise (the caller then uses [`VfsFile::read_at`]). The slice borrows
    /// the handle mutably, so nothing can remap or resize it while the slice lives. Errors
    /// are those of measuring or remapping a grown file.
    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        let _ = (offset, len);
        Ok(None)
    }

    /// The `(device, inode)` identity of the underlying file, when it has one; the
    /// process-wide lock table keys on it. In-memory files return a stable synthetic id.
    fn identity(&self) -> Option<(u64, u64)>;

    /// Whether reads are served from memory (a map of the file): a small read costs a copy,
    /// not a system call. The pager then reads pages it does not cache straight from the
    /// file instead of loading whole pages into its cache.
    fn is_mapped(&self) -> bool {
        false
    }

    /// A hint that `len` bytes at `offset` will be read soon: a mapped file asks the CPU to
    /// start loading them (a prefetch; never a fault, never an error). Others do nothing.
    fn prefetch(&self, offset: u64, len: usize) {
        let _ = (offset, len);
    }

    /// The raw OS descriptor, for OS locks (`flock`/`fcntl`); `None` for files that are not
    /// OS files.
    fn raw_fd(&self) -> Option<i32> {
        None
    }

    /// A writable view of the file's first `len` bytes that is the file itself (a
    /// `MAP_SHARED` map): a store through it is in the OS page cache at once, so it survives
    /// the process being killed, in program order with the system calls that follow it. Before
    /// mapping, the layer reserves the file's storage for those bytes (extending the file to at
    /// least `len`), so that a store never needs space the disk lacks; the view never reaches
    /// past the file's end. `Ok(None)` when this layer has no such view (the default: memory,
    /// fault-injecting and recording layers, whose crash semantics are those of
    /// [`VfsFile::write_at`]); an error when the reservation or the map failed (`ENOSPC`,
    /// `EOPNOTSUPP`, address space). The pager writes a [`crate::Durability::Process`]
    /// journal through it (docs/journal.md, "Process durability: the mapped journal").
    fn map_shared(&self, len: u64) -> Result<Option<Box<dyn SharedMap>>> {
        let _ = len;
        Ok(None)
    }
}

/// A shared writable view of a file's first bytes, from [`VfsFile::map_shared`]. Dropping it
/// unmaps it (before its file is removed: the pager drops it first).
pub trait SharedMap: Send + Sync + Debug {
    /// Length of the view in bytes.
    fn len(&self) -> usize;

    /// Whether the view is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `data` to byte `offset` of the view; `offset + data.len()` must not exceed
    /// [`SharedMap::len`] (the caller checks). Returns false when the bytes may not have
    /// reached the file (a page of the view was lost, e.g. the file was cut short by another
    /// process, and the store was absorbed instead of killing the process with `SIGBUS`):
    /// the caller must then drop the view and write the bytes with [`VfsFile::write_at`].
    #[must_use]
    fn store(&mut self, offset: usize, data: &[u8]) -> bool;
}
