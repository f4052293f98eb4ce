//! An SQLite VFS over pydbm's engine (sqlite3 spec §3.1): every file SQLite opens goes
//! through a [`pydbm_engine::Vfs`] (so [`pydbm_engine::FaultVfs`] crash-tests SQLite), and
//! SQLite's locks go through the engine's [`LockTable`] as POSIX byte-range locks at
//! SQLite's own offsets (§3.3), so pydbm, the `sqlite3` command line and Python's `sqlite3`
//! exclude each other, and two connections in this process behave like two processes.
//!
//! rusqlite has no VFS API, so this module uses `rusqlite::ffi` (libsqlite3-sys).
//!
//! WAL mode: the wal-index ("shared memory") lives in this process's heap, shared by every
//! connection of the process on the same file, with SQLite's eight shm lock slots kept in
//! the same place. Other processes cannot share it, so while it exists the VFS holds an
//! exclusive lock on the `-shm` file's DMS byte (offset 128, where SQLite's unix VFS takes
//! its "is anyone using the wal-index" lock): a foreign SQLite then gets "database is
//! locked" instead of a wal-index it cannot see.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use pydbm_engine::{LockGuard, LockKind, LockMode, LockTable, Vfs, VfsFile, VfsOpen};
use rusqlite::ffi;

use crate::error::{Error, Result};

/// SQLite's lock bytes (os.h; sqlite3 spec §3.3): PENDING, RESERVED, and the SHARED range.
pub const PENDING_BYTE: u64 = 0x4000_0000;
/// See [`PENDING_BYTE`].
pub const RESERVED_BYTE: u64 = PENDING_BYTE + 1;
/// First byte of the SHARED range.
pub const SHARED_FIRST: u64 = PENDING_BYTE + 2;
/// Length of the SHARED range.
pub const SHARED_SIZE: u64 = 510;

const SECTOR_SIZE: c_int = 4096;

pub(crate) struct VfsState {
    pub(crate) vfs: Arc<dyn Vfs>,
    open_files: AtomicUsize,
}

/// A registered SQLite VFS. Open connections with
/// [`crate::ConnectOptions::vfs`] = `Some(handle.name())`.
///
/// Dropping it unregisters the VFS; if files are still open through it (a connection
/// outlived the handle) its memory is leaked rather than freed under SQLite's feet.
pub struct EngineVfs {
    name: String,
    raw: *mut ffi::sqlite3_vfs,
    state: *mut VfsState,
    _cname: CString,
}

// SAFETY: the raw pointers are owned by this handle and only read by SQLite, which is
// thread-safe (serialized); VfsState is Send + Sync (Arc<dyn Vfs> + atomics).
unsafe impl Send for EngineVfs {}
unsafe impl Sync for EngineVfs {}

impl std::fmt::Debug for EngineVfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineVfs")
            .field("name", &self.name)
            .finish()
    }
}

impl EngineVfs {
    /// Registers `vfs` with SQLite under a fresh name starting with `prefix`.
    /// Fails when SQLite refuses the registration.
    pub fn register(prefix: &str, vfs: Arc<dyn Vfs>) -> Result<EngineVfs> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        let cname =
            CString::new(name.clone()).map_err(|_| Error::value("VFS name contains a NUL byte"))?;
        // SAFETY: sqlite3_vfs_find(NULL) returns the default VFS (unix), static for the
        // process. sqlite3_initialize is idempotent.
        let base = unsafe {
            ffi::sqlite3_initialize();
            ffi::sqlite3_vfs_find(std::ptr::null())
        };
        if base.is_null() {
            return Err(Error::operational("no default SQLite VFS to delegate to"));
        }
        let state = Box::into_raw(Box::new(VfsState {
            vfs,
            open_files: AtomicUsize::new(0),
        }));
        // SAFETY: base points to a valid sqlite3_vfs. The unix VFS's xDlOpen, xDlError,
        // xDlSym, xDlClose, xRandomness, xSleep, xCurrentTime, xGetLastError and
        // xCurrentTimeInt64 ignore their sqlite3_vfs argument, so they are reused as they are.
        let raw = unsafe {
            let b = &*base;
            Box::into_raw(Box::new(ffi::sqlite3_vfs {
                iVersion: 2,
                szOsFile: std::mem::size_of::<EngineFile>() as c_int,
                mxPathname: 1024,
                pNext: std::ptr::null_mut(),
                zName: cname.as_ptr(),
                pAppData: state as *mut c_void,
                xOpen: Some(x_open),
                xDelete: Some(x_delete),
                xAccess: Some(x_access),
                xFullPathname: Some(x_full_pathname),
                xDlOpen: b.xDlOpen,
                xDlError: b.xDlError,
                xDlSym: b.xDlSym,
                xDlClose: b.xDlClose,
                xRandomness: b.xRandomness,
                xSleep: b.xSleep,
                xCurrentTime: b.xCurrentTime,
                xGetLastError: b.xGetLastError,
                xCurrentTimeInt64: b.xCurrentTimeInt64,
                xSetSystemCall: None,
                xGetSystemCall: None,
                xNextSystemCall: None,
            }))
        };
        // SAFETY: raw is a valid, leaked-until-drop sqlite3_vfs.
        let rc = unsafe { ffi::sqlite3_vfs_register(raw, 0) };
        if rc != ffi::SQLITE_OK {
            // SAFETY: not registered, so nobody else holds these pointers.
            unsafe {
                drop(Box::from_raw(raw));
                drop(Box::from_raw(state));
            }
            return Err(Error::from_code(rc, "could not register the SQLite VFS"));
        }
        Ok(EngineVfs {
            name,
            raw,
            state,
            _cname: cname,
        })
    }

    /// The name to open connections with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine VFS over this very `vfs` (the same `Arc` allocation, compared by
    /// identity), registering one under a name starting with `prefix` when none is alive.
    /// Every holder of the returned `Arc` keeps the registration; the last drop unregisters
    /// it. The registration holds a clone of `vfs`, so the allocation (and the identity it
    /// is found by) cannot be reused while the registration lives.
    ///
    /// Fails when SQLite refuses a new registration.
    pub fn shared_over(prefix: &str, vfs: &Arc<dyn Vfs>) -> Result<Arc<EngineVfs>> {
        type Registry = std::collections::HashMap<usize, std::sync::Weak<EngineVfs>>;
        static REGISTRY: std::sync::OnceLock<std::sync::Mutex<Registry>> =
            std::sync::OnceLock::new();
        let mut reg = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        reg.retain(|_, weak| weak.strong_count() > 0);
        let key = Arc::as_ptr(vfs) as *const () as usize;
        if let Some(found) = reg.get(&key).and_then(std::sync::Weak::upgrade) {
            // SAFETY: state is owned by `found`, alive while `found` is.
            if Arc::ptr_eq(unsafe { &(*found.state).vfs }, vfs) {
                return Ok(found);
            }
        }
        let fresh = Arc::new(EngineVfs::register(prefix, vfs.clone())?);
        reg.insert(key, Arc::downgrade(&fresh));
        Ok(fresh)
    }
}

impl Drop for EngineVfs {
    fn drop(&mut self) {
        // SAFETY: raw was registered by us; unregistering is safe at any time. The memory
        // is freed only when no file opened through it is still open.
        unsafe {
            ffi::sqlite3_vfs_unregister(self.raw);
            if (*self.state).open_files.load(Ordering::SeqCst) == 0 {
                drop(Box::from_raw(self.raw));
                drop(Box::from_raw(self.state));
            }
        }
    }
}

/// What SQLite allocates per open file (`szOsFile` bytes): the base struct SQLite reads
/// `pMethods` from, then our state.
#[repr(C)]
struct EngineFile {
    base: ffi::sqlite3_file,
    state: *mut FileState,
}

pub(crate) struct FileState {
    pub(crate) vfs: *const VfsState,
    pub(crate) file: Box<dyn VfsFile>,
    pub(crate) path: PathBuf,
    /// This handle's share of the wal-index, once mapped.
    pub(crate) shm: Option<crate::shm::ShmHandle>,
    delete_on_close: bool,
    /// Sync the directory on the first sync (a created journal: its directory entry must
    /// be durable before the journal can protect anything).
    sync_dir_pending: bool,
    level: c_int,
    shared: Option<LockGuard>,
    reserved: Option<LockGuard>,
    pending: Option<LockGuard>,
    exclusive: Option<LockGuard>,
}

static IO_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(crate::shm::x_shm_map),
    xShmLock: Some(crate::shm::x_shm_lock),
    xShmBarrier: Some(crate::shm::x_shm_barrier),
    xShmUnmap: Some(crate::shm::x_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

/// Runs `f`, turning a panic into `err` (panics must not unwind into SQLite).
pub(crate) fn guarded(err: c_int, f: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(err)
}

unsafe fn vfs_state<'a>(p: *mut ffi::sqlite3_vfs) -> &'a VfsState {
    &*((*p).pAppData as *const VfsState)
}

pub(crate) unsafe fn file_state<'a>(f: *mut ffi::sqlite3_file) -> &'a mut FileState {
    &mut *(*(f as *mut EngineFile)).state
}

unsafe fn path_of(z: *const c_char) -> Option<PathBuf> {
    if z.is_null() {
        return None;
    }
    use std::os::unix::ffi::OsStrExt;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(
        CStr::from_ptr(z).to_bytes(),
    )))
}

fn temp_path() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "pydbm-sqlite-temp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

unsafe extern "C" fn x_open(
    pvfs: *mut ffi::sqlite3_vfs,
    zname: ffi::sqlite3_filename,
    pfile: *mut ffi::sqlite3_file,
    flags: c_int,
    pout: *mut c_int,
) -> c_int {
    guarded(ffi::SQLITE_CANTOPEN, || {
        let st = vfs_state(pvfs);
        (*pfile).pMethods = std::ptr::null();
        let (path, temp) = match path_of(zname) {
            Some(p) => (p, false),
            None => (temp_path(), true),
        };
        let write = flags & ffi::SQLITE_OPEN_READWRITE != 0;
        let create = flags & ffi::SQLITE_OPEN_CREATE != 0;
        let how = VfsOpen {
            write,
            create: create && write,
            truncate: false,
            mode: 0o644,
        };
        let existed = st.vfs.exists(&path).unwrap_or(false);
        let (file, readonly) = match st.vfs.open(&path, how) {
            Ok(f) => (f, !write),
            // Like the unix VFS: a read-write open of a read-only file falls back to reading.
            Err(_) if write && existed => match st.vfs.open(&path, VfsOpen::READ) {
                Ok(f) => (f, true),
                Err(_) => return ffi::SQLITE_CANTOPEN,
            },
            Err(_) => return ffi::SQLITE_CANTOPEN,
        };
        if !pout.is_null() {
            *pout = if readonly {
                (flags & !ffi::SQLITE_OPEN_READWRITE) | ffi::SQLITE_OPEN_READONLY
            } else {
                flags
            };
        }
        let journal_like = flags
            & (ffi::SQLITE_OPEN_MAIN_JOURNAL
                | ffi::SQLITE_OPEN_SUPER_JOURNAL
                | ffi::SQLITE_OPEN_WAL)
            != 0;
        let fs = Box::new(FileState {
            vfs: st as *const VfsState,
            file,
            path,
            delete_on_close: temp || flags & ffi::SQLITE_OPEN_DELETEONCLOSE != 0,
            sync_dir_pending: journal_like && !existed,
            shm: None,
            level: ffi::SQLITE_LOCK_NONE,
            shared: None,
            reserved: None,
            pending: None,
            exclusive: None,
        });
        st.open_files.fetch_add(1, Ordering::SeqCst);
        let ef = pfile as *mut EngineFile;
        (*ef).state = Box::into_raw(fs);
        (*pfile).pMethods = &IO_METHODS;
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_delete(
    pvfs: *mut ffi::sqlite3_vfs,
    zname: *const c_char,
    sync_dir: c_int,
) -> c_int {
    guarded(ffi::SQLITE_IOERR_DELETE, || {
        let st = vfs_state(pvfs);
        let Some(path) = path_of(zname) else {
            return ffi::SQLITE_IOERR_DELETE;
        };
        match st.vfs.remove(&path) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return ffi::SQLITE_IOERR_DELETE_NOENT,
            Err(_) => return ffi::SQLITE_IOERR_DELETE,
        }
        if sync_dir != 0 {
            let dir = path.parent().unwrap_or(Path::new("/"));
            if st.vfs.sync_dir(dir).is_err() {
                return ffi::SQLITE_IOERR_DIR_FSYNC;
            }
        }
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_access(
    pvfs: *mut ffi::sqlite3_vfs,
    zname: *const c_char,
    _flags: c_int,
    pres: *mut c_int,
) -> c_int {
    guarded(ffi::SQLITE_IOERR_ACCESS, || {
        let st = vfs_state(pvfs);
        let Some(path) = path_of(zname) else {
            *pres = 0;
            return ffi::SQLITE_OK;
        };
        // Like the unix VFS: an empty file counts as absent (a zero-length journal is not
        // hot).
        let present = match st.vfs.exists(&path) {
            Ok(true) => match st.vfs.open(&path, VfsOpen::READ) {
                Ok(f) => f.len().map(|l| l > 0).unwrap_or(false),
                Err(_) => false,
            },
            Ok(false) => false,
            Err(_) => return ffi::SQLITE_IOERR_ACCESS,
        };
        *pres = present as c_int;
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_full_pathname(
    _pvfs: *mut ffi::sqlite3_vfs,
    zname: *const c_char,
    nout: c_int,
    zout: *mut c_char,
) -> c_int {
    guarded(ffi::SQLITE_CANTOPEN, || {
        let Some(p) = path_of(zname) else {
            return ffi::SQLITE_CANTOPEN;
        };
        let abs = if p.is_absolute() {
            p
        } else {
            match std::env::current_dir() {
                Ok(d) => d.join(p),
                Err(_) => return ffi::SQLITE_CANTOPEN,
            }
        };
        use std::os::unix::ffi::OsStrExt;
        let bytes = abs.as_os_str().as_bytes();
        if bytes.len() + 1 > nout as usize {
            return ffi::SQLITE_CANTOPEN;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr() as *const c_char, zout, bytes.len());
        *zout.add(bytes.len()) = 0;
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_close(pfile: *mut ffi::sqlite3_file) -> c_int {
    guarded(ffi::SQLITE_IOERR_CLOSE, || {
        let ef = pfile as *mut EngineFile;
        if (*ef).state.is_null() {
            return ffi::SQLITE_OK;
        }
        let mut fs = Box::from_raw((*ef).state);
        (*ef).state = std::ptr::null_mut();
        if let Some(h) = fs.shm.take() {
            h.release(false);
        }
        let st = &*fs.vfs;
        let vfs = st.vfs.clone();
        let (path, delete) = (fs.path.clone(), fs.delete_on_close);
        drop(fs); // releases the lock guards, then the file
        st.open_files.fetch_sub(1, Ordering::SeqCst);
        if delete {
            let _ = vfs.remove(&path);
        }
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_read(
    pfile: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    guarded(ffi::SQLITE_IOERR_READ, || {
        let fs = file_state(pfile);
        let out = std::slice::from_raw_parts_mut(buf as *mut u8, amt as usize);
        let mut done = 0;
        while done < out.len() {
            match fs.file.read_at(&mut out[done..], off as u64 + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(_) => return ffi::SQLITE_IOERR_READ,
            }
        }
        if done < out.len() {
            // SQLite requires the unread tail zero-filled on a short read.
            out[done..].fill(0);
            return ffi::SQLITE_IOERR_SHORT_READ;
        }
        ffi::SQLITE_OK
    })
}

fn write_error(e: &pydbm_engine::Error) -> c_int {
    match e {
        pydbm_engine::Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => {
            ffi::SQLITE_FULL
        }
        _ => ffi::SQLITE_IOERR_WRITE,
    }
}

unsafe extern "C" fn x_write(
    pfile: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    guarded(ffi::SQLITE_IOERR_WRITE, || {
        let fs = file_state(pfile);
        let data = std::slice::from_raw_parts(buf as *const u8, amt as usize);
        match fs.file.write_at(data, off as u64) {
            Ok(()) => ffi::SQLITE_OK,
            Err(e) => write_error(&e),
        }
    })
}

unsafe extern "C" fn x_truncate(pfile: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    guarded(ffi::SQLITE_IOERR_TRUNCATE, || {
        let fs = file_state(pfile);
        match fs.file.set_len(size as u64) {
            Ok(()) => ffi::SQLITE_OK,
            Err(_) => ffi::SQLITE_IOERR_TRUNCATE,
        }
    })
}

unsafe extern "C" fn x_sync(pfile: *mut ffi::sqlite3_file, _flags: c_int) -> c_int {
    guarded(ffi::SQLITE_IOERR_FSYNC, || {
        let fs = file_state(pfile);
        if fs.file.sync().is_err() {
            return ffi::SQLITE_IOERR_FSYNC;
        }
        if fs.sync_dir_pending {
            let dir = fs.path.parent().unwrap_or(Path::new("/")).to_path_buf();
            if (*fs.vfs).vfs.sync_dir(&dir).is_err() {
                return ffi::SQLITE_IOERR_DIR_FSYNC;
            }
            fs.sync_dir_pending = false;
        }
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_file_size(
    pfile: *mut ffi::sqlite3_file,
    psize: *mut ffi::sqlite3_int64,
) -> c_int {
    guarded(ffi::SQLITE_IOERR_FSTAT, || {
        let fs = file_state(pfile);
        match fs.file.len() {
            Ok(n) => {
                *psize = n as ffi::sqlite3_int64;
                ffi::SQLITE_OK
            }
            Err(_) => ffi::SQLITE_IOERR_FSTAT,
        }
    })
}

/// One fcntl-style lock through the engine's table; `Ok(None)` when another handle holds a
/// conflicting one.
fn take(
    fs: &FileState,
    mode: LockMode,
    start: u64,
    len: u64,
) -> std::result::Result<Option<LockGuard>, c_int> {
    match LockTable::global().lock(fs.file.as_ref(), mode, LockKind::Fcntl { start, len }, None) {
        Ok(g) => Ok(Some(g)),
        Err(pydbm_engine::Error::Locked { .. }) => Ok(None),
        Err(_) => Err(ffi::SQLITE_IOERR_LOCK),
    }
}

/// SQLite's lock ladder over byte ranges, as its unix VFS does (os_unix.c's protocol,
/// sqlite3 spec §3.3): SHARED = shared lock on the SHARED range (taken while holding a
/// shared PENDING byte), RESERVED = exclusive RESERVED byte, PENDING = exclusive PENDING
/// byte, EXCLUSIVE = exclusive SHARED range.
unsafe extern "C" fn x_lock(pfile: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    guarded(ffi::SQLITE_IOERR_LOCK, || {
        let fs = file_state(pfile);
        if fs.level >= level {
            return ffi::SQLITE_OK;
        }
        match lock_to(fs, level) {
            Ok(true) => ffi::SQLITE_OK,
            Ok(false) => ffi::SQLITE_BUSY,
            Err(rc) => rc,
        }
    })
}

fn lock_to(fs: &mut FileState, level: c_int) -> std::result::Result<bool, c_int> {
    if fs.level == ffi::SQLITE_LOCK_NONE {
        // A shared PENDING byte keeps us out while a writer waits for EXCLUSIVE.
        let Some(p) = take(fs, LockMode::Shared, PENDING_BYTE, 1)? else {
            return Ok(false);
        };
        let s = take(fs, LockMode::Shared, SHARED_FIRST, SHARED_SIZE)?;
        drop(p);
        match s {
            Some(g) => {
                fs.shared = Some(g);
                fs.level = ffi::SQLITE_LOCK_SHARED;
            }
            None => return Ok(false),
        }
    }
    if level >= ffi::SQLITE_LOCK_RESERVED && fs.level < ffi::SQLITE_LOCK_RESERVED {
        match take(fs, LockMode::Exclusive, RESERVED_BYTE, 1)? {
            Some(g) => {
                fs.reserved = Some(g);
                fs.level = ffi::SQLITE_LOCK_RESERVED;
            }
            None => return Ok(false),
        }
    }
    if level >= ffi::SQLITE_LOCK_PENDING && fs.pending.is_none() {
        match take(fs, LockMode::Exclusive, PENDING_BYTE, 1)? {
            Some(g) => {
                fs.pending = Some(g);
                fs.level = ffi::SQLITE_LOCK_PENDING;
            }
            None => return Ok(false),
        }
    }
    if level == ffi::SQLITE_LOCK_EXCLUSIVE {
        // Trade our shared range lock for an exclusive one. New readers cannot slip in:
        // they need the PENDING byte, which we hold exclusively.
        fs.shared = None;
        match take(fs, LockMode::Exclusive, SHARED_FIRST, SHARED_SIZE)? {
            Some(g) => {
                fs.exclusive = Some(g);
                fs.level = ffi::SQLITE_LOCK_EXCLUSIVE;
            }
            None => {
                // Readers remain: go back to shared (cannot fail, see above) and report busy.
                fs.shared = take(fs, LockMode::Shared, SHARED_FIRST, SHARED_SIZE)?;
                if fs.shared.is_none() {
                    return Err(ffi::SQLITE_IOERR_LOCK);
                }
                fs.level = ffi::SQLITE_LOCK_PENDING;
                return Ok(false);
            }
        }
    }
    Ok(true)
}

unsafe extern "C" fn x_unlock(pfile: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    guarded(ffi::SQLITE_IOERR_UNLOCK, || {
        let fs = file_state(pfile);
        if fs.level <= level {
            return ffi::SQLITE_OK;
        }
        if level == ffi::SQLITE_LOCK_SHARED {
            if fs.exclusive.is_some() {
                fs.exclusive = None;
                match take(fs, LockMode::Shared, SHARED_FIRST, SHARED_SIZE) {
                    Ok(Some(g)) => fs.shared = Some(g),
                    _ => return ffi::SQLITE_IOERR_RDLOCK,
                }
            }
            fs.pending = None;
            fs.reserved = None;
            fs.level = ffi::SQLITE_LOCK_SHARED;
        } else {
            fs.exclusive = None;
            fs.pending = None;
            fs.reserved = None;
            fs.shared = None;
            fs.level = ffi::SQLITE_LOCK_NONE;
        }
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_check_reserved(pfile: *mut ffi::sqlite3_file, pres: *mut c_int) -> c_int {
    guarded(ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, || {
        let fs = file_state(pfile);
        if fs.level >= ffi::SQLITE_LOCK_RESERVED {
            *pres = 1;
            return ffi::SQLITE_OK;
        }
        match take(fs, LockMode::Shared, RESERVED_BYTE, 1) {
            Ok(Some(_probe)) => *pres = 0,
            Ok(None) => *pres = 1,
            Err(rc) => return rc,
        }
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_file_control(
    _pfile: *mut ffi::sqlite3_file,
    _op: c_int,
    _arg: *mut c_void,
) -> c_int {
    ffi::SQLITE_NOTFOUND
}

unsafe extern "C" fn x_sector_size(_pfile: *mut ffi::sqlite3_file) -> c_int {
    // The unix VFS's SQLITE_DEFAULT_SECTOR_SIZE, so journals have the same layout.
    SECTOR_SIZE
}

unsafe extern "C" fn x_device_characteristics(_pfile: *mut ffi::sqlite3_file) -> c_int {
    // As the unix VFS claims by default (SQLITE_POWERSAFE_OVERWRITE=1): a write never
    // damages bytes outside its own range, which FaultVfs's torn writes respect.
    ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{connect, ConnectOptions};
    use pydbm_engine::OsVfs;

    fn opts(v: &EngineVfs, timeout: f64) -> ConnectOptions {
        ConnectOptions {
            vfs: Some(v.name().to_string()),
            timeout,
            ..Default::default()
        }
    }

    /// The first row of `sql` on `c`, as Python's repr.
    fn first_row(c: &crate::Connection, sql: &str) -> String {
        c.execute(sql, ())
            .unwrap()
            .fetchone()
            .unwrap()
            .expect("the query returns a row")
            .repr()
    }

    #[test]
    fn files_written_through_the_engine_are_plain_sqlite_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.db");
        let v = EngineVfs::register("pydbm-test", Arc::new(OsVfs::new())).unwrap();
        let c = connect(&p, &opts(&v, 5.0)).unwrap();
        c.execute("create table t(a, b)", ()).unwrap();
        c.executemany(
            "insert into t values (?, ?)",
            (0..500).map(|i| vec![crate::Value::Int(i), crate::Value::Bytes(vec![7; 300])]),
        )
        .unwrap();
        c.commit().unwrap();
        c.close().unwrap();
        // Stock SQLite (the default unix VFS) reads it.
        let plain = rusqlite::Connection::open(&p).unwrap();
        let n: i64 = plain
            .query_row("select count(*) from t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 500);
        let ok: String = plain
            .query_row("pragma integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn two_connections_in_one_process_lock_like_two_processes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.db");
        let v = EngineVfs::register("pydbm-test", Arc::new(OsVfs::new())).unwrap();
        let a = connect(&p, &opts(&v, 0.0)).unwrap();
        let b = connect(&p, &opts(&v, 0.1)).unwrap();
        a.execute("create table t(x)", ()).unwrap();
        a.set_isolation_level(None).unwrap();
        a.execute("begin exclusive", ()).unwrap();
        a.execute("insert into t values (1)", ()).unwrap();
        let e = b.execute("select * from t", ()).unwrap_err();
        assert_eq!(e.message, "database is locked");
        a.execute("commit", ()).unwrap();
        assert_eq!(
            b.execute("select count(*) from t", ())
                .unwrap()
                .fetchall()
                .unwrap()
                .len(),
            1
        );
        // A reader blocks a writer's commit (EXCLUSIVE), not its RESERVED lock.
        b.set_isolation_level(None).unwrap();
        b.execute("begin", ()).unwrap();
        b.execute("select * from t", ()).unwrap();
        a.execute("begin immediate", ()).unwrap();
        a.execute("insert into t values (2)", ()).unwrap();
        let e = a.execute("commit", ()).unwrap_err();
        assert_eq!(e.message, "database is locked");
        b.execute("commit", ()).unwrap();
        a.execute("commit", ()).unwrap();
    }

    /// WAL through the engine VFS: two connections of this process share the in-process
    /// wal-index (a reader keeps its snapshot while the writer commits), the sqlite3 command
    /// line is kept out while it exists, and after the last close the file is a normal WAL
    /// database (checkpointed, -wal and -shm gone) that stock SQLite reads.
    #[test]
    fn wal_mode_through_the_engine() {
        use std::process::Command;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.db");
        let v = EngineVfs::register("pydbm-test", Arc::new(OsVfs::new())).unwrap();
        let a = connect(&p, &opts(&v, 1.0)).unwrap();
        assert_eq!(first_row(&a, "pragma journal_mode=wal"), "('wal',)");
        a.execute("create table t(x)", ()).unwrap();
        a.execute("insert into t values (1)", ()).unwrap();
        a.commit().unwrap();
        let b = connect(&p, &opts(&v, 1.0)).unwrap();
        b.set_isolation_level(None).unwrap();
        b.execute("begin", ()).unwrap();
        assert_eq!(first_row(&b, "select count(*) from t"), "(1,)");
        a.execute("insert into t values (2)", ()).unwrap();
        a.commit().unwrap();
        assert_eq!(first_row(&b, "select count(*) from t"), "(1,)");
        b.execute("commit", ()).unwrap();
        assert_eq!(first_row(&b, "select count(*) from t"), "(2,)");
        let cli = Path::new("/usr/bin/sqlite3");
        if cli.exists() {
            let o = Command::new(cli)
                .arg(&p)
                .arg("select count(*) from t;")
                .output()
                .unwrap();
            // The unix VFS cannot get the DMS lock: after its retries SQLite reports
            // SQLITE_PROTOCOL ("locking protocol") or SQLITE_BUSY; either way it reads nothing.
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("locking protocol") || err.contains("locked"),
                "{o:?}"
            );
            assert!(o.stdout.is_empty());
        }
        a.close().unwrap();
        b.close().unwrap();
        assert!(!dir.path().join("w.db-wal").exists());
        assert!(!dir.path().join("w.db-shm").exists());
        let plain = rusqlite::Connection::open(&p).unwrap();
        let n: i64 = plain
            .query_row("select count(*) from t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let jm: String = plain
            .query_row("pragma journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(jm, "wal");
    }

    /// The engine's fcntl locks are the ones the sqlite3 command line sees (spec §3.3).
    #[test]
    fn engine_locks_exclude_the_sqlite3_command_line() {
        use std::process::Command;
        let cli = Path::new("/usr/bin/sqlite3");
        if !cli.exists() {
            pydbm_engine::live_reference::skip_or_fail("/usr/bin/sqlite3");
            return;
        }
        pydbm_engine::live_reference::record_used("/usr/bin/sqlite3");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let v = EngineVfs::register("pydbm-test", Arc::new(OsVfs::new())).unwrap();
        let c = connect(&p, &opts(&v, 0.0)).unwrap();
        c.execute("create table t(x)", ()).unwrap();
        c.set_isolation_level(None).unwrap();
        c.execute("begin exclusive", ()).unwrap();
        let o = Command::new(cli)
            .arg(&p)
            .arg("select count(*) from t;")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("database is locked"),
            "{o:?}"
        );
        c.execute("commit", ()).unwrap();
        let o = Command::new(cli)
            .arg(&p)
            .arg("select count(*) from t;")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0");
        // The other way round: the command line holds BEGIN EXCLUSIVE; pydbm waits its
        // timeout, then fails with "database is locked".
        use std::io::{BufRead, Write};
        let mut child = Command::new(cli)
            .arg(&p)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "BEGIN EXCLUSIVE; INSERT INTO t VALUES(1); SELECT 'held';"
        )
        .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held");
        let w = connect(&p, &opts(&v, 0.2)).unwrap();
        let t0 = std::time::Instant::now();
        let e = w.execute("select count(*) from t", ()).unwrap_err();
        assert_eq!(e.message, "database is locked");
        assert!(t0.elapsed() >= std::time::Duration::from_millis(150));
        writeln!(stdin, "COMMIT;").unwrap();
        drop(stdin);
        child.wait().unwrap();
        assert_eq!(first_row(&w, "select count(*) from t"), "(1,)");
    }

    /// Acceptance (spec §3.3, "any close drops all POSIX locks"): while one EngineVfs
    /// connection holds RESERVED, a second EngineVfs connection opening, reading and closing
    /// the file, and a plain engine `OsVfs` open+read+close of it (what `whichdb` does),
    /// leave the holder's fcntl locks in place: the `sqlite3` CLI still cannot write.
    #[test]
    fn closing_other_descriptors_keeps_the_engine_vfs_locks() {
        use std::process::Command;
        let cli = Path::new("/usr/bin/sqlite3");
        if !cli.exists() {
            pydbm_engine::live_reference::skip_or_fail("/usr/bin/sqlite3");
            return;
        }
        pydbm_engine::live_reference::record_used("/usr/bin/sqlite3");
        let cli_sees_lock = |p: &Path| {
            let o = Command::new(cli)
                .arg(p)
                .arg("BEGIN IMMEDIATE; ROLLBACK;")
                .output()
                .unwrap();
            !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("database is locked")
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("held.db");
        let os: Arc<dyn Vfs> = Arc::new(OsVfs::new());
        let v = EngineVfs::register("pydbm-test", os.clone()).unwrap();
        let holder = connect(&p, &opts(&v, 0.0)).unwrap();
        holder.execute("create table t(x)", ()).unwrap();
        holder.execute("insert into t values (1)", ()).unwrap();
        holder.commit().unwrap();
        // Legacy mode: the INSERT begins a deferred transaction and takes RESERVED.
        holder.execute("insert into t values (2)", ()).unwrap();
        assert!(
            cli_sees_lock(&p),
            "the holder's RESERVED lock is not visible"
        );

        let other = connect(&p, &opts(&v, 0.0)).unwrap();
        assert_eq!(first_row(&other, "select count(*) from t"), "(1,)");
        other.close().unwrap();
        assert!(
            cli_sees_lock(&p),
            "closing a second EngineVfs connection dropped the lock"
        );

        let f = os.open(&p, pydbm_engine::VfsOpen::READ).unwrap();
        let mut magic = [0u8; 16];
        assert_eq!(f.read_at(&mut magic, 0).unwrap(), 16);
        assert_eq!(&magic, b"SQLite format 3\0");
        drop(f);
        assert!(cli_sees_lock(&p), "an OsVfs open+close dropped the lock");

        holder.commit().unwrap();
        assert!(!cli_sees_lock(&p), "the lock outlived its transaction");
        holder.close().unwrap();
    }
}
