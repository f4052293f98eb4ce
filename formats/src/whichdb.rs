//! `dbm.whichdb`: which dbm module made a file, answered as CPython answers it.
//!
//! python-formats spec §6 (and ndbm spec §2): the checks run in CPython's order — the
//! pair `NAME.pag`/`NAME.dir` (ndbm), a `NAME.db` that Berkeley DB's ndbm would open, the
//! pair `NAME.dat`/`NAME.dir` (dumb), then the first 16 bytes of `NAME` itself (SQLite
//! header in 3.13, gdbm magics in native byte order). `None` means `NAME` cannot be
//! opened; `Some("")` means "unknown format".
//!
//! [`Dialect::Pydbm`] (what [`whichdb`] answers and the CLI prints) is CPython 3.13 plus the
//! gdbm files pydbm opens but CPython cannot name (docs/cli.md): numsync, byte-swapped and
//! 32-bit-numsync magics answer `dbm.gnu`.
//!
//! ```
//! use std::path::Path;
//! use pydbm_engine::MemVfs;
//! use pydbm_formats::whichdb::{whichdb, whichdb_as, Dialect};
//!
//! let disk = MemVfs::new();
//! disk.write_file(Path::new("/d/g"), &0x13579acf_u32.to_le_bytes()); // GDBM_MAGIC64
//! disk.write_file(Path::new("/d/s"), b"SQLite format 3\0 and the rest");
//! disk.write_file(Path::new("/d/n"), &0x13579ad1_u32.to_le_bytes()); // numsync
//! disk.write_file(Path::new("/d/text"), b"hello, world");
//! disk.write_file(Path::new("/d/du.dat"), b"");
//! disk.write_file(Path::new("/d/du.dir"), b"");
//!
//! assert_eq!(whichdb(&disk, Path::new("/d/g"))?, Some("dbm.gnu"));
//! assert_eq!(whichdb(&disk, Path::new("/d/s"))?, Some("dbm.sqlite3"));
//! assert_eq!(whichdb(&disk, Path::new("/d/du"))?, Some("dbm.dumb"));
//! assert_eq!(whichdb(&disk, Path::new("/d/text"))?, Some("")); // unknown format
//! assert_eq!(whichdb(&disk, Path::new("/d/missing"))?, None); // cannot be opened
//! // CPython cannot name numsync gdbm files; pydbm's dialect can.
//! assert_eq!(whichdb(&disk, Path::new("/d/n"))?, Some("dbm.gnu"));
//! assert_eq!(whichdb_as(&disk, Path::new("/d/n"), Dialect::CPython313)?, Some(""));
//! // Before 3.13 whichdb had no SQLite check.
//! assert_eq!(whichdb_as(&disk, Path::new("/d/s"), Dialect::CPython311)?, Some(""));
//! # Ok::<(), pydbm_engine::Error>(())
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use pydbm_engine::{Result, Vfs, VfsFile, VfsOpen};

/// Whose answers to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// CPython 3.13 plus every gdbm magic pydbm reads (the default).
    #[default]
    Pydbm,
    /// CPython 3.13.0 exactly (with `dbm.ndbm` on Berkeley DB available).
    CPython313,
    /// CPython 3.6–3.12 exactly: no SQLite check (the live reference here is 3.11).
    CPython311,
}

/// gdbm header magics CPython recognises (`GDBM_OMAGIC`, `GDBM_MAGIC32`, `GDBM_MAGIC64`),
/// compared in native byte order (spec §6 step 6).
const GDBM_MAGICS: [u32; 3] = [0x13579ace, 0x13579acd, 0x13579acf];
/// gdbm numsync magics (gdbm spec §3.2), unknown to CPython's whichdb (spec §0 fact 8).
const GDBM_NUMSYNC_MAGICS: [u32; 2] = [0x13579ad0, 0x13579ad1];
/// The 16-byte SQLite file header (spec §5, last bullet).
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// Berkeley DB hash meta page magic at offset 12 (ndbm spec §3.1).
const BDB_HASH_MAGIC: u32 = 0x0006_1561;
/// `h_charkey` at offset 92: BDB refuses the file when it differs (ndbm spec §3.1).
const BDB_CHARKEY: u32 = 0x5E68_8DD1;

/// What CPython 3.13's `dbm.whichdb(path)` answers, extended to the gdbm variants pydbm
/// opens (see the module docs): `Ok(None)` when `path` cannot be opened, `Ok(Some(""))` for
/// an unknown format, else the module name (`"dbm.gnu"`, `"dbm.ndbm"`, `"dbm.dumb"`,
/// `"dbm.sqlite3"`).
///
/// Like CPython, failures to open or read a candidate file are answers, not errors; the
/// `Result` is for the file layer's own failures (none with [`pydbm_engine::OsVfs`]).
pub fn whichdb(vfs: &dyn Vfs, path: &Path) -> Result<Option<&'static str>> {
    whichdb_as(vfs, path, Dialect::Pydbm)
}

/// [`whichdb`] answering as `dialect` does.
pub fn whichdb_as(vfs: &dyn Vfs, path: &Path, dialect: Dialect) -> Result<Option<&'static str>> {
    // 1. ndbm: NAME.pag and NAME.dir both open.
    if opens(vfs, &with_suffix(path, ".pag")) && opens(vfs, &with_suffix(path, ".dir")) {
        return Ok(Some("dbm.ndbm"));
    }
    // 1b. NAME.db that dbm.ndbm (Berkeley DB 5.3) opens.
    if let Some(f) = open_readable(vfs, &with_suffix(path, ".db")) {
        if berkeley_db_hash_opens(f.as_ref()) {
            return Ok(Some("dbm.ndbm"));
        }
    }
    // 2. dumb: NAME.dat exists; NAME.dir is empty or starts with a quote.
    // CPython wraps these probes in `except OSError`: a stat that fails (ENOTDIR, EACCES)
    // means "not a dumb database", not an error.
    if vfs.exists(&with_suffix(path, ".dat")).unwrap_or(false) {
        if let Ok(dir) = vfs.open(&with_suffix(path, ".dir"), VfsOpen::READ) {
            // CPython stats the size first; a directory is not empty and then fails to
            // open, which the failing read below reproduces.
            if dir.len().ok() == Some(0) {
                return Ok(Some("dbm.dumb"));
            }
            let mut first = [0u8; 1];
            if matches!(dir.read_at(&mut first, 0), Ok(1)) && matches!(first[0], b'\'' | b'"') {
                return Ok(Some("dbm.dumb"));
            }
        }
    }
    // 3. NAME itself: unopenable → None.
    let Some(f) = open_readable(vfs, path) else {
        return Ok(None);
    };
    let mut s16 = [0u8; 16];
    let n = read_up_to(f.as_ref(), &mut s16);
    // 4. Fewer than 4 bytes → unknown.
    if n < 4 {
        return Ok(Some(""));
    }
    // 5. (3.13) the SQLite header.
    if dialect != Dialect::CPython311 && n == 16 && &s16 == SQLITE_HEADER {
        return Ok(Some("dbm.sqlite3"));
    }
    // 6. gdbm magics, native order (`struct.unpack("=l")`).
    let native = u32::from_ne_bytes([s16[0], s16[1], s16[2], s16[3]]);
    if GDBM_MAGICS.contains(&native) {
        return Ok(Some("dbm.gnu"));
    }
    if dialect == Dialect::Pydbm {
        let swapped = native.swap_bytes();
        let known = |m: u32| GDBM_MAGICS.contains(&m) || GDBM_NUMSYNC_MAGICS.contains(&m);
        if GDBM_NUMSYNC_MAGICS.contains(&native) || known(swapped) {
            return Ok(Some("dbm.gnu"));
        }
    }
    // 7. Anything else (including a Berkeley DB magic at offset 12) is unknown.
    Ok(Some(""))
}

/// `path` + `suffix`, byte-wise (CPython concatenates `os.fsencode(filename) + b".pag"`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens `path` for reading the way Python's `io.open(path, "rb")` succeeds: a directory
/// (which the OS lets us open but not read) does not count.
fn open_readable(vfs: &dyn Vfs, path: &Path) -> Option<Box<dyn VfsFile>> {
    let f = vfs.open(path, VfsOpen::READ).ok()?;
    let mut probe = [0u8; 1];
    f.read_at(&mut probe, 0).ok()?;
    Some(f)
}

fn opens(vfs: &dyn Vfs, path: &Path) -> bool {
    open_readable(vfs, path).is_some()
}

/// Reads up to `buf.len()` bytes from offset 0; a read error ends the read.
fn read_up_to(f: &dyn VfsFile, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], done as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n,
        }
    }
    done
}

/// Whether Berkeley DB 5.3's `dbm_open` (what Debian's `dbm.ndbm.open` calls) accepts the
/// file as a hash database: hash meta magic in either byte order, a hash version it reads
/// without upgrade (7–9), a power-of-two page size of 512–65536, a file length that is a
/// multiple of it, and the ndbm hash function's check value. Observed with BDB 5.3: a file
/// truncated to 512 bytes ("file size not a multiple of the pagesize"), zeros, an empty
/// file and hash version 5 ("requires a version upgrade") are all refused.
fn berkeley_db_hash_opens(f: &dyn VfsFile) -> bool {
    let mut meta = [0u8; 96];
    if read_up_to(f, &mut meta) < meta.len() {
        return false;
    }
    let le = |o: usize| u32::from_le_bytes([meta[o], meta[o + 1], meta[o + 2], meta[o + 3]]);
    let field: Box<dyn Fn(usize) -> u32> = if le(12) == BDB_HASH_MAGIC {
        Box::new(le)
    } else if le(12).swap_bytes() == BDB_HASH_MAGIC {
        Box::new(move |o| le(o).swap_bytes())
    } else {
        return false;
    };
    let version = field(16);
    let page_size = field(20);
    let Ok(len) = f.len() else { return false };
    (7..=9).contains(&version)
        && page_size.is_power_of_two()
        && (512..=65536).contains(&page_size)
        && len >= u64::from(page_size)
        && len % u64::from(page_size) == 0
        && field(92) == BDB_CHARKEY
}

/// The body of the `whichdb` fuzz target (also replayed by `cargo test`): lays arbitrary
/// bytes out as files on a [`pydbm_engine::MemVfs`] and asks [`whichdb`] about them.
///
/// Byte 0's low five bits say which of `x`, `x.pag`, `x.dir`, `x.dat`, `x.db` exist; the
/// rest of the input, split at each `0xFF 0x00` pair, gives their contents in that order
/// (missing pieces are empty). Returns the answer; never panics for any input.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_files(data: &[u8]) -> Option<&'static str> {
    let vfs = pydbm_engine::MemVfs::new();
    let mask = data.first().copied().unwrap_or(0);
    let rest = data.get(1..).unwrap_or(&[]);
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < rest.len() {
        if rest[i] == 0xff && rest[i + 1] == 0x00 {
            pieces.push(&rest[start..i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    pieces.push(&rest[start.min(rest.len())..]);
    let base = Path::new("/fuzz/x");
    for (bit, suffix) in ["", ".pag", ".dir", ".dat", ".db"].iter().enumerate() {
        if mask & (1 << bit) != 0 {
            let content = pieces.get(bit).copied().unwrap_or(&[]);
            vfs.write_file(&with_suffix(base, suffix), content);
        }
    }
    // MemVfs cannot fail here: every path is valid and nothing is locked.
    whichdb(&vfs, base).unwrap_or(None)
}
