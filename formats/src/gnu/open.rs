//! Opening a gdbm file by path through the engine: flags, locking (gdbm spec §15) and
//! the block size of new files (§3.1).
//!
//! # Examples
//!
//! Create a file as `dbm.gnu.open(path, "c")` does, use it, and reopen it read-only:
//!
//! ```
//! use pydbm_engine::{Dbm, Error, OpenOptions};
//! use pydbm_formats::gnu;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("fruit.gdbm");
//! let mut db = gnu::open(&path, &OpenOptions::from_flag("c")?)?;
//! db.insert(b"apple", b"red")?;
//! db.insert(b"kiwi", b"green")?;
//! db.insert(b"apple", b"yellow")?; // replaces
//! assert!(db.remove(b"kiwi")?);
//! assert!(!db.remove(b"kiwi")?);
//! assert_eq!(db.get(b"apple")?, Some(b"yellow".to_vec()));
//! assert_eq!(db.keys()?, vec![b"apple".to_vec()]);
//! db.close()?;
//!
//! let mut ro = gnu::open(&path, &OpenOptions::from_flag("r")?)?;
//! assert_eq!(ro.len()?, 1);
//! assert!(matches!(ro.insert(b"x", b"y"), Err(Error::ReadOnly { .. })));
//! // A second writer is refused while the reader holds its flock, as libgdbm refuses it.
//! let second = gnu::open(&path, &OpenOptions::from_flag("w")?);
//! assert!(matches!(second, Err(Error::Locked { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Any [`Vfs`] works, e.g. memory; [`GnuOptions`] takes the C API's settings:
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use pydbm_engine::{Dbm, MemVfs, OpenOptions, Vfs};
//! use pydbm_formats::gnu::{self, layout::NUMSYNC_MAGIC64, GnuOptions};
//!
//! let disk = MemVfs::new();
//! let vfs: Arc<dyn Vfs> = Arc::new(disk.clone());
//! let path = Path::new("/mem/numsync.gdbm");
//! let settings = GnuOptions { block_size: 1024, numsync: true, ..GnuOptions::default() };
//! let mut db = gnu::open_with(vfs, path, &OpenOptions::from_flag("n")?, settings)?;
//! for i in 0..1000u32 {
//!     db.insert(&i.to_be_bytes(), b"value")?;
//! }
//! db.close()?;
//! let bytes = disk.read_file(path).expect("the file exists");
//! assert_eq!(bytes[..4], NUMSYNC_MAGIC64.to_le_bytes()); // native byte order
//! assert_eq!(bytes.len() % 1024, 0);
//! # Ok::<(), pydbm_engine::Error>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use pydbm_engine::{
    Error, FileSpec, LockKind, LockMode, OpenMode, OpenOptions, OsVfs, Pager, PagerOptions, Result,
    Vfs,
};

use super::db::GnuDb;
use super::handle::{FileOptions, GdbmFile};

/// gdbm-specific open settings beyond Python's flags (the C API's arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GnuOptions {
    /// Block size for a new file (`gdbm_open`'s `block_size`; below 512 = the file's
    /// `st_blksize`, which is what Python always gets).
    pub block_size: i32,
    /// Create new files in the extended numsync format (`GDBM_NUMSYNC`).
    pub numsync: bool,
    /// Page-cache size for the engine pager in bytes (0 = [`DEFAULT_CACHE_BYTES`]).
    pub cache_bytes: usize,
}

/// The pager cache a gdbm handle gets by default: 64 MiB, eight times the engine's
/// default. gdbm reads are random record reads (one per `get`/`nextkey`), so a cache that
/// holds the records of a mid-sized file halves `get` time (docs/gdbm.md, "Speed"); the
/// cache only grows as pages are read, so small files cost no more memory.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// The file's preferred I/O block size (`st_blksize`) as `vfs` reports it; 4096 when the
/// file layer does not know it (a memory disk) or cannot tell.
fn st_blksize(vfs: &dyn Vfs, path: &Path) -> u64 {
    vfs.metadata(path)
        .ok()
        .and_then(|m| m.block_size)
        .unwrap_or(4096)
}

/// The real file system a gdbm handle opened with `opts` reads through: like libgdbm
/// (gdbm spec §14), a locked handle reads the file through a memory map
/// ([`OsVfs::with_mmap_reads`]), so a record read is a copy rather than a `pread`. The map is
/// safe while the flock excludes writers that could truncate the file; an unlocked (`'u'`)
/// handle reads with `pread`, since nothing stops another handle from truncating the file
/// under a map (reading a truncated mapped page is `SIGBUS`).
pub fn os_vfs(opts: &OpenOptions) -> Arc<dyn Vfs> {
    if opts.no_lock {
        Arc::new(OsVfs::new())
    } else {
        Arc::new(OsVfs::with_mmap_reads())
    }
}

/// Opens `path` as `dbm.gnu.open(path, flag)` would, on real files.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<GnuDb> {
    open_with(os_vfs(opts), path, opts, GnuOptions::default())
}

/// Opens `path` on any [`Vfs`] with Python's flags `opts` and gdbm options `gnu`.
///
/// Locking as libgdbm (spec §15): `flock` shared for `'r'`, exclusive otherwise, none with
/// `'u'`; a conflict fails at once with [`Error::Locked`] (or waits `opts.lock_timeout`).
/// `'r'`/`'w'` on a missing file → [`Error::Io`] of kind `NotFound`; a read-only open of an
/// empty file → [`Error::Corrupt`] ("Empty database"); malformed files → [`Error::Corrupt`].
pub fn open_with(
    vfs: Arc<dyn Vfs>,
    path: &Path,
    opts: &OpenOptions,
    gnu: GnuOptions,
) -> Result<GnuDb> {
    let writable = opts.mode.writable();
    if matches!(opts.mode, OpenMode::Read | OpenMode::Write) && !vfs.exists(path)? {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        ));
    }
    let lock = if opts.no_lock {
        None
    } else if writable {
        Some((LockKind::Flock, LockMode::Exclusive))
    } else {
        Some((LockKind::Flock, LockMode::Shared))
    };
    let pager = Pager::open(
        vfs.clone(),
        vec![FileSpec {
            path: path.to_path_buf(),
            create_mode: opts.file_mode,
        }],
        PagerOptions {
            durability: opts.durability,
            read_only: !writable,
            lock,
            lock_timeout: opts.lock_timeout,
            cache_bytes: if gnu.cache_bytes == 0 {
                DEFAULT_CACHE_BYTES
            } else {
                gnu.cache_bytes
            },
            ..PagerOptions::default()
        },
    )?;
    let st = pager;
    let file = GdbmFile::open(
        st,
        FileOptions {
            writable,
            truncate: opts.mode == OpenMode::New,
            block_size: gnu.block_size,
            st_blksize: st_blksize(&*vfs, path),
            numsync: gnu.numsync,
            sync_writes: opts.sync,
            ..FileOptions::default()
        },
    )?;
    Ok(GnuDb::from_file(path, file, None))
}
