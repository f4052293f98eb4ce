//! `OfdPresence`: makes a `dbm.sqlite3` connection visible to a *second, independent* SQLite
//! library loaded in this process (e.g. CPython's `_sqlite3` next to pydbm's bundled SQLite).
//!
//! SQLite's unix VFS locks with classic `fcntl` record locks, which never conflict within
//! one process, and it tracks its own connections per inode only inside one copy of the
//! library. A foreign copy therefore (1) finds the `-shm` DMS byte (offset 128) unlocked and
//! truncates the wal-index our connection maps, and (2) on its close gets the EXCLUSIVE
//! database lock, checkpoints and deletes `-wal`/`-shm` while our connection still writes
//! to them, so it keeps reading a stale snapshot (sqlite3 spec §3.3: per-process locks).
//!
//! Linux open-file-description locks (`F_OFD_SETLK`) do conflict with classic locks even in
//! the same process. For the connection's life this holds OFD *read* locks on the DMS byte of
//! `NAME-shm` (what every user of a live wal-index holds, so the foreign SQLite reuses it)
//! and on the first byte of the database's SHARED range 0x40000002 (so the foreign close
//! cannot take EXCLUSIVE and leaves `-wal`/`-shm` alone). Our own SQLite never needs a
//! write lock on either byte except when it closes: [`OfdPresence::release`] must run
//! before the connection closes, and the descriptors are closed only after it, through the
//! engine's `close_or_park` (closing a descriptor drops the process's classic locks on the
//! file; other connections' anchors, and an engine anchor on `-shm` held here, park it).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pydbm_engine::LockTable;

use crate::anchor::FcntlAnchor;

/// Offset of the DMS byte in `-shm` (SQLite's unix VFS: UNIX_SHM_DMS).
const SHM_DMS_BYTE: i64 = 128;
/// First byte of SQLite's SHARED lock range in the database file (SHARED_FIRST).
const DB_SHARED_FIRST: i64 = 0x4000_0002;

/// OFD read locks on a database and its `-shm` (see the module doc).
pub(crate) struct OfdPresence {
    db: Option<File>,
    shm: Option<File>,
    /// An engine anchor on `-shm`, so closing descriptors of it parks them (see
    /// [`crate::anchor`]); dropped after `shm`.
    shm_anchor: Option<FcntlAnchor>,
}

/// Sets (`F_RDLCK`) or clears (`F_UNLCK`) an OFD lock on one byte of `file`.
fn ofd_lock(file: &File, start: i64, kind: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero flock is a valid value; l_pid must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start;
    fl.l_len = 1;
    // SAFETY: a valid descriptor owned by `file` and a pointer to a live flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn locked(path: &Path, start: i64) -> Option<File> {
    let file = File::open(path).ok()?;
    ofd_lock(&file, start, libc::F_RDLCK).ok()?;
    Some(file)
}

impl OfdPresence {
    /// Takes the locks for the database at `db_path` once SQLite has it open in WAL mode
    /// (the `-shm` exists). Best effort: a lock that cannot be taken (no `-shm`, not WAL,
    /// a file system without OFD locks) is simply not held.
    pub(crate) fn take(db_path: &Path) -> OfdPresence {
        let mut shm_name = db_path.as_os_str().to_owned();
        shm_name.push("-shm");
        let shm_path = Path::new(&shm_name);
        let shm = locked(shm_path, SHM_DMS_BYTE);
        OfdPresence {
            db: locked(db_path, DB_SHARED_FIRST),
            shm_anchor: shm.as_ref().and_then(|_| FcntlAnchor::take(shm_path)),
            shm,
        }
    }

    /// Whether both locks are held.
    #[cfg(test)]
    pub(crate) fn is_held(&self) -> bool {
        self.db.is_some() && self.shm.is_some()
    }

    /// Releases the locks but keeps the descriptors open; call it before SQLite closes the
    /// connection (its close takes EXCLUSIVE to checkpoint and remove `-wal`/`-shm`).
    pub(crate) fn release(&mut self) {
        if let Some(f) = &self.db {
            let _ = ofd_lock(f, DB_SHARED_FIRST, libc::F_UNLCK);
        }
        if let Some(f) = &self.shm {
            let _ = ofd_lock(f, SHM_DMS_BYTE, libc::F_UNLCK);
        }
    }
}

/// Closes `file` through the engine's lock table (parked while this process holds engine
/// `fcntl` ranges on the inode, e.g. another connection's anchor).
fn close_or_park(file: File) {
    match file.metadata() {
        Ok(m) => LockTable::global().close_or_park((m.dev(), m.ino()), file),
        Err(_) => drop(file),
    }
}

impl Drop for OfdPresence {
    fn drop(&mut self) {
        self.release();
        if let Some(f) = self.db.take() {
            close_or_park(f);
        }
        if let Some(f) = self.shm.take() {
            close_or_park(f);
        }
        drop(self.shm_anchor.take());
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::{c_char, c_int, c_void, CString};

    use pydbm_engine::{Dbm, OpenOptions};

    use crate::dbm::SqliteDbm;

    type FnOpen = unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> c_int;
    type FnPrepare = unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        c_int,
        *mut *mut c_void,
        *mut *const c_char,
    ) -> c_int;
    type FnStep = unsafe extern "C" fn(*mut c_void) -> c_int;
    type FnColumnBlob = unsafe extern "C" fn(*mut c_void, c_int) -> *const u8;
    type FnColumnBytes = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
    type FnFinalize = unsafe extern "C" fn(*mut c_void) -> c_int;
    type FnClose = unsafe extern "C" fn(*mut c_void) -> c_int;

    /// Debian's libsqlite3.so.0 (the library CPython links) loaded with dlopen: a second,
    /// independent SQLite in this process (the bundled one is not exported).
    struct Foreign {
        open: FnOpen,
        prepare: FnPrepare,
        step: FnStep,
        column_blob: FnColumnBlob,
        column_bytes: FnColumnBytes,
        finalize: FnFinalize,
        close: FnClose,
    }

    impl Foreign {
        fn load() -> Option<Foreign> {
            // SAFETY: dlopen/dlsym with NUL-terminated names; each symbol is cast to the
            // prototype documented for it in sqlite3.h.
            unsafe {
                let h = libc::dlopen(
                    c"libsqlite3.so.0".as_ptr(),
                    libc::RTLD_NOW | libc::RTLD_LOCAL,
                );
                if h.is_null() {
                    return None;
                }
                macro_rules! sym {
                    ($name:literal, $t:ty) => {{
                        let p = libc::dlsym(h, $name.as_ptr());
                        if p.is_null() {
                            return None;
                        }
                        std::mem::transmute::<*mut c_void, $t>(p)
                    }};
                }
                Some(Foreign {
                    open: sym!(c"sqlite3_open", FnOpen),
                    prepare: sym!(c"sqlite3_prepare_v2", FnPrepare),
                    step: sym!(c"sqlite3_step", FnStep),
                    column_blob: sym!(c"sqlite3_column_blob", FnColumnBlob),
                    column_bytes: sym!(c"sqlite3_column_bytes", FnColumnBytes),
                    finalize: sym!(c"sqlite3_finalize", FnFinalize),
                    close: sym!(c"sqlite3_close", FnClose),
                })
            }
        }

        /// The keys of `Dict` as a fresh connection of the foreign library sees them
        /// (open, query, close: what CPython's test_dbm_sqlite3 `db_content` does).
        fn keys(&self, path: &std::path::Path) -> Vec<Vec<u8>> {
            let name = CString::new(path.to_str().unwrap()).unwrap();
            let mut out = Vec::new();
            // SAFETY: the prototypes of sqlite3.h; handles used only while open.
            unsafe {
                let mut db = std::ptr::null_mut();
                assert_eq!((self.open)(name.as_ptr(), &mut db), 0);
                let mut st = std::ptr::null_mut();
                let sql = c"SELECT key FROM Dict ORDER BY key";
                let rc = (self.prepare)(db, sql.as_ptr(), -1, &mut st, std::ptr::null_mut());
                assert_eq!(rc, 0);
                while (self.step)(st) == 100 {
                    let n = usize::try_from((self.column_bytes)(st, 0)).unwrap();
                    let p = (self.column_blob)(st, 0);
                    out.push(if n == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(p, n).to_vec()
                    });
                }
                (self.finalize)(st);
                assert_eq!((self.close)(db), 0);
            }
            out
        }
    }

    /// CPython 3.13's `ReadWrite.test_readwrite_delete`: a second SQLite library in this
    /// process sees every committed delete while the dbm.sqlite3 handle stays open. The
    /// control (presence released) shows the stale snapshot the test used to get, so the
    /// test can fail.
    #[test]
    fn a_foreign_sqlite_in_this_process_sees_committed_deletes() {
        let Some(foreign) = Foreign::load() else {
            pydbm_engine::live_reference::skip_or_fail("libsqlite3.so.0");
            return;
        };
        pydbm_engine::live_reference::record_used("libsqlite3.so.0");
        for with_presence in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("db.sqlite3");
            let mut db = SqliteDbm::open(&p, &OpenOptions::from_flag("c").unwrap()).unwrap();
            if with_presence {
                assert!(db.presence_mut().is_held());
            } else {
                db.presence_mut().release();
            }
            db.insert(b"key", b"value").unwrap();
            db.insert(b"new", b"other").unwrap();
            db.remove(b"new").unwrap();
            assert_eq!(foreign.keys(&p), vec![b"key".to_vec()]);
            db.remove(b"key").unwrap();
            let seen = foreign.keys(&p);
            if with_presence {
                assert_eq!(seen, Vec::<Vec<u8>>::new());
                db.insert(b"again", b"v").unwrap();
                assert_eq!(foreign.keys(&p), vec![b"again".to_vec()]);
            } else {
                assert_eq!(seen, vec![b"key".to_vec()], "control: stale snapshot");
            }
            db.close().unwrap();
        }
    }
}
