//! The wal-index ("shared memory") of the engine VFS (see [`crate::vfs`]): heap regions
//! shared by every connection of this process on one database file, SQLite's eight shm
//! lock slots, and the `-shm` DMS-byte lock that keeps other processes out while it exists.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use pydbm_engine::{LockGuard, LockKind, LockMode, LockTable, Vfs, VfsFile, VfsOpen};
use rusqlite::ffi;

use crate::vfs::{file_state, guarded, FileState};

/// Offset of the DMS byte in the `-shm` file (SQLite's unix VFS: UNIX_SHM_DMS = 128).
const DMS_BYTE: u64 = 128;
/// SQLite's SQLITE_SHM_NLOCK.
const NLOCK: usize = 8;

struct Region(*mut [u8]);

struct ShmInner {
    regions: Vec<Region>,
    exclusive: [Option<u64>; NLOCK],
    shared: [Vec<u64>; NLOCK],
    refs: usize,
    /// The DMS lock and the `-shm` file it is held on (guard first: it drops first).
    dms: Option<(LockGuard, Box<dyn VfsFile>)>,
    shm_path: PathBuf,
    vfs: Arc<dyn Vfs>,
}

// SAFETY: the raw region pointers are owned by ShmInner (freed in release) and only
// handed to SQLite, which synchronizes access through the shm locks and barriers.
unsafe impl Send for ShmInner {}

struct ShmNode {
    key: (u64, u64),
    inner: Mutex<ShmInner>,
}

/// Wal-indexes of this process by database file identity.
type NodeMap = HashMap<(u64, u64), Arc<ShmNode>>;

fn nodes() -> MutexGuard<'static, NodeMap> {
    static NODES: OnceLock<Mutex<NodeMap>> = OnceLock::new();
    NODES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn lock(node: &ShmNode) -> MutexGuard<'_, ShmInner> {
    node.inner.lock().unwrap_or_else(|p| p.into_inner())
}

/// One file handle's use of a wal-index.
pub(crate) struct ShmHandle {
    node: Arc<ShmNode>,
    id: u64,
}

impl ShmHandle {
    /// Joins (or creates) the wal-index of `fs`'s database file. Creating it takes the DMS
    /// lock; `Err(SQLITE_BUSY)` when another process holds it.
    fn open(fs: &FileState) -> Result<ShmHandle, c_int> {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let key = fs.file.identity().ok_or(ffi::SQLITE_IOERR_SHMOPEN)?;
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        let mut all = nodes();
        if let Some(node) = all.get(&key) {
            lock(node).refs += 1;
            return Ok(ShmHandle {
                node: node.clone(),
                id,
            });
        }
        // SAFETY: fs.vfs points to the VfsState of the VFS that opened fs, alive while fs is.
        let vfs = unsafe { (*fs.vfs).vfs.clone() };
        let shm_path = PathBuf::from(format!("{}-shm", fs.path.display()));
        let file = vfs
            .open(&shm_path, VfsOpen::CREATE)
            .map_err(|_| ffi::SQLITE_IOERR_SHMOPEN)?;
        let guard = match LockTable::global().lock(
            file.as_ref(),
            LockMode::Exclusive,
            LockKind::Fcntl {
                start: DMS_BYTE,
                len: 1,
            },
            None,
        ) {
            Ok(g) => g,
            Err(pydbm_engine::Error::Locked { .. }) => return Err(ffi::SQLITE_BUSY),
            Err(_) => return Err(ffi::SQLITE_IOERR_SHMOPEN),
        };
        let node = Arc::new(ShmNode {
            key,
            inner: Mutex::new(ShmInner {
                regions: Vec::new(),
                exclusive: [None; NLOCK],
                shared: Default::default(),
                refs: 1,
                dms: Some((guard, file)),
                shm_path,
                vfs,
            }),
        });
        all.insert(key, node.clone());
        Ok(ShmHandle { node, id })
    }

    /// Leaves the wal-index; the last user frees it, releases the DMS lock and (with
    /// `delete`) removes the `-shm` file.
    pub(crate) fn release(self, delete: bool) {
        let mut all = nodes();
        let mut inner = lock(&self.node);
        for s in 0..NLOCK {
            if inner.exclusive[s] == Some(self.id) {
                inner.exclusive[s] = None;
            }
            inner.shared[s].retain(|&o| o != self.id);
        }
        inner.refs -= 1;
        if inner.refs > 0 {
            return;
        }
        all.remove(&self.node.key);
        for r in inner.regions.drain(..) {
            // SAFETY: each region was made by Box::into_raw in x_shm_map and is freed once.
            unsafe { drop(Box::from_raw(r.0)) };
        }
        inner.dms = None;
        if delete {
            let _ = inner.vfs.remove(&inner.shm_path);
        }
    }
}

pub(crate) unsafe extern "C" fn x_shm_map(
    pfile: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    guarded(ffi::SQLITE_IOERR_SHMMAP, || {
        let fs = file_state(pfile);
        *pp = std::ptr::null_mut();
        if fs.shm.is_none() {
            match ShmHandle::open(fs) {
                Ok(h) => fs.shm = Some(h),
                Err(rc) => return rc,
            }
        }
        let Some(h) = fs.shm.as_ref() else {
            return ffi::SQLITE_IOERR_SHMMAP;
        };
        let mut inner = lock(&h.node);
        let want = region as usize;
        while inner.regions.len() <= want {
            if extend == 0 {
                return ffi::SQLITE_OK;
            }
            let r = Box::into_raw(vec![0u8; size as usize].into_boxed_slice());
            inner.regions.push(Region(r));
        }
        *pp = inner.regions[want].0 as *mut u8 as *mut c_void;
        ffi::SQLITE_OK
    })
}

pub(crate) unsafe extern "C" fn x_shm_lock(
    pfile: *mut ffi::sqlite3_file,
    ofst: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    guarded(ffi::SQLITE_IOERR_SHMLOCK, || {
        let fs = file_state(pfile);
        let Some(h) = fs.shm.as_ref() else {
            return ffi::SQLITE_IOERR_SHMLOCK;
        };
        let (a, b) = (ofst as usize, (ofst + n) as usize);
        if ofst < 0 || n < 1 || b > NLOCK {
            return ffi::SQLITE_IOERR_SHMLOCK;
        }
        let me = h.id;
        let mut i = lock(&h.node);
        if flags & ffi::SQLITE_SHM_UNLOCK != 0 {
            for s in a..b {
                if i.exclusive[s] == Some(me) {
                    i.exclusive[s] = None;
                }
                i.shared[s].retain(|&o| o != me);
            }
        } else if flags & ffi::SQLITE_SHM_SHARED != 0 {
            if (a..b).any(|s| i.exclusive[s].is_some_and(|o| o != me)) {
                return ffi::SQLITE_BUSY;
            }
            for s in a..b {
                if !i.shared[s].contains(&me) {
                    i.shared[s].push(me);
                }
            }
        } else {
            if (a..b).any(|s| {
                i.exclusive[s].is_some_and(|o| o != me) || i.shared[s].iter().any(|&o| o != me)
            }) {
                return ffi::SQLITE_BUSY;
            }
            for s in a..b {
                i.exclusive[s] = Some(me);
            }
        }
        ffi::SQLITE_OK
    })
}

pub(crate) unsafe extern "C" fn x_shm_barrier(_pfile: *mut ffi::sqlite3_file) {
    std::sync::atomic::fence(Ordering::SeqCst);
}

pub(crate) unsafe extern "C" fn x_shm_unmap(pfile: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    guarded(ffi::SQLITE_IOERR_SHMMAP, || {
        let fs = file_state(pfile);
        if let Some(h) = fs.shm.take() {
            h.release(delete != 0);
        }
        ffi::SQLITE_OK
    })
}
