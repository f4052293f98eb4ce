//! The process-wide lock table.
//!
//! Every lock pydbm takes goes through [`LockTable::global`], keyed by the file's
//! `(device, inode)`, so two handles on one file inside one process conflict exactly as two
//! processes do. Behind the table sit the OS mechanisms that make other processes see the
//! lock: `flock` (what libgdbm uses), POSIX `fcntl` byte-range locks (what SQLite uses), or
//! none (only this process's table).
//!
//! The classic `fcntl` pitfall — closing *any* descriptor of a file drops *every* `fcntl` lock
//! the process holds on it — is handled here: while the table holds `fcntl` locks on an inode,
//! descriptors of that inode being closed by [`crate::OsVfs`] are parked in the table and
//! closed only when the inode's last `fcntl` lock is released.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::{Error, Result, Vfs, VfsFile, VfsOpen};

/// Shared (readers) or exclusive (a writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockMode {
    /// Any number of shared holders at once; conflicts with an exclusive holder.
    Shared,
    /// One holder; conflicts with every other holder.
    Exclusive,
}

/// Which OS mechanism stands behind a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockKind {
    /// Whole-file `flock(2)` (what libgdbm takes, so pydbm and Python's `dbm.gnu` exclude
    /// each other).
    Flock,
    /// A POSIX `fcntl(F_SETLK)` lock on bytes `start..start+len` (`len == 0`: to the end of
    /// any file size), as SQLite takes them.
    Fcntl {
        /// First locked byte.
        start: u64,
        /// Number of bytes; 0 means "to infinity".
        len: u64,
    },
    /// Only this process's table: no OS lock, so other processes do not see it.
    /// Whole-file, in the same in-process namespace as [`LockKind::Flock`].
    None,
}

/// Whole-file locks held on one inode (flock and table-only locks).
#[derive(Debug)]
struct WholeLock {
    mode: LockMode,
    count: usize,
    /// A duplicate of the first flock holder's descriptor, carrying the OS flock.
    flock_fd: Option<OwnedFd>,
}

/// One held fcntl range (identical requests share an entry).
#[derive(Debug)]
struct RangeLock {
    start: u64,
    /// Exclusive end; `u64::MAX` for "to infinity".
    end: u64,
    mode: LockMode,
    count: usize,
}

#[derive(Debug, Default)]
struct InodeLocks {
    whole: Option<WholeLock>,
    ranges: Vec<RangeLock>,
    /// A descriptor for issuing fcntl calls (a dup of the first fcntl holder's).
    fcntl_fd: Option<OwnedFd>,
    /// Descriptors whose handles were dropped while fcntl locks were held.
    parked: Vec<File>,
}

impl InodeLocks {
    fn is_idle(&self) -> bool {
        self.whole.is_none() && self.ranges.is_empty()
    }
}

/// The process-wide table of held locks (see the module docs).
///
/// # Example
///
/// Two handles of one process conflict exactly as two processes would:
///
/// ```
/// use std::time::Duration;
/// use pydbm_engine::{Error, LockKind, LockMode, LockTable, OsVfs};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("db");
/// std::fs::write(&path, b"")?;
/// let (vfs, table) = (OsVfs::new(), LockTable::global());
///
/// let reader1 = table.lock_path(&vfs, &path, LockMode::Shared, LockKind::Flock, None)?;
/// let reader2 = table.lock_path(&vfs, &path, LockMode::Shared, LockKind::Flock, None)?;
/// let wait = Some(Duration::from_millis(20));
/// let refused = table.lock_path(&vfs, &path, LockMode::Exclusive, LockKind::Flock, wait);
/// assert!(matches!(refused, Err(Error::Locked { .. })));
///
/// drop((reader1, reader2));
/// let writer = table.lock_path(&vfs, &path, LockMode::Exclusive, LockKind::Flock, None)?;
/// assert_eq!(writer.path(), path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct LockTable {
    inodes: Mutex<HashMap<(u64, u64), InodeLocks>>,
    /// The process whose locks `inodes` records (0: none yet). A forked child inherits the
    /// table's memory but none of its `fcntl` locks, so on its first use the child drops
    /// what it inherited instead of counting its parent's locks as its own.
    owner: std::sync::atomic::AtomicU32,
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard {
    key: (u64, u64),
    path: PathBuf,
    held: Held,
    /// The process that took the lock: a guard a forked child inherited releases nothing.
    owner: u32,
}

#[derive(Debug, Clone, Copy)]
enum Held {
    Whole,
    Range {
        start: u64,
        end: u64,
        mode: LockMode,
    },
}

impl LockGuard {
    /// The path of the file the lock was taken on.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        LockTable::global().release(self.key, self.held, self.owner);
    }
}

fn last_os_error(path: &Path) -> Error {
    Error::io(path, io::Error::last_os_error())
}

fn dup_fd(fd: i32, path: &Path) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor the caller's VfsFile keeps open for the
    // duration of this call; a new descriptor is returned and owned below.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(last_os_error(path));
    }
    // SAFETY: `new` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Non-blocking flock; Ok(false) when another open file description holds a conflicting lock.
fn os_flock(fd: i32, op: libc::c_int, path: &Path) -> Result<bool> {
    loop {
        // SAFETY: flock on a descriptor owned by the caller.
        let r = unsafe { libc::flock(fd, op | libc::LOCK_NB) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(Error::io(path, e)),
        }
    }
}

/// Takes an exclusive OS `flock` on `path` through a descriptor of its own, outside the
/// lock table: for a pager whose own lock is table-only ([`LockKind::None`]), so that its
/// recovery still excludes other processes that `flock` the file (docs/recovery.md). The
/// returned handle carries the lock; dropping it closes the descriptor and releases it.
/// `Ok(None)` for a file with no descriptor (in-memory); [`Error::Locked`] on a conflict.
pub(crate) fn os_flock_exclusive(
    vfs: &dyn crate::Vfs,
    path: &Path,
) -> Result<Option<Box<dyn VfsFile>>> {
    let handle = vfs.open(path, crate::VfsOpen::READ)?;
    let Some(fd) = handle.raw_fd() else {
        return Ok(None);
    };
    if os_flock(fd, libc::LOCK_EX, path)? {
        Ok(Some(handle))
    } else {
        Err(Error::Locked {
            path: path.to_path_buf(),
        })
    }
}

/// Non-blocking fcntl lock/unlock of `start..end`; Ok(false) when another process conflicts.
fn os_fcntl(fd: i32, ty: libc::c_int, start: u64, end: u64, path: &Path) -> Result<bool> {
    let len = if end == u64::MAX { 0 } else { end - start };
    let (Ok(l_start), Ok(l_len)) = (i64::try_from(start), i64::try_from(len)) else {
        return Err(Error::BadArgument(format!(
            "{}: fcntl lock range {start}+{len} does not fit off_t",
            path.display()
        )));
    };
    // SAFETY: an all-zero flock struct is a valid value; the fields we need are set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = l_start as libc::off_t;
    fl.l_len = l_len as libc::off_t;
    loop {
        // SAFETY: F_SETLK with a pointer to a live flock struct.
        let r = unsafe { libc::fcntl(fd, libc::F_SETLK, &fl as *const libc::flock) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(Error::io(path, e)),
        }
    }
}

impl LockTable {
    /// The one table of this process.
    pub fn global() -> &'static LockTable {
        static TABLE: OnceLock<LockTable> = OnceLock::new();
        TABLE.get_or_init(LockTable::default)
    }

    /// Takes a `mode` lock of `kind` on `file`.
    ///
    /// Fails with [`Error::Locked`] when another handle (of this process or another) holds a
    /// conflicting lock — at once when `timeout` is `None`, otherwise after polling with
    /// backoff for up to `timeout`. Fails with [`Error::Unsupported`] for a file with no
    /// identity, and [`Error::Io`] when the OS call fails for another reason.
    /// A [`LockKind::Flock`]/[`LockKind::Fcntl`] lock on a file without a descriptor (an
    /// in-memory file) is kept in the table only.
    pub fn lock(
        &self,
        file: &dyn VfsFile,
        mode: LockMode,
        kind: LockKind,
        timeout: Option<Duration>,
    ) -> Result<LockGuard> {
        let key = file
            .identity()
            .ok_or_else(|| Error::unsupported(file.path(), "locking a file with no identity"))?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut pause = Duration::from_millis(1);
        loop {
            match self.try_lock(key, file, mode, kind)? {
                Some(held) => {
                    return Ok(LockGuard {
                        key,
                        path: file.path().to_path_buf(),
                        held,
                        owner: crate::process_id::current(),
                    })
                }
                None => match deadline {
                    Some(d) if Instant::now() < d => {
                        std::thread::sleep(pause.min(d.saturating_duration_since(Instant::now())));
                        pause = (pause * 2).min(Duration::from_millis(50));
                    }
                    _ => {
                        return Err(Error::Locked {
                            path: file.path().to_path_buf(),
                        })
                    }
                },
            }
        }
    }

    /// Opens the existing file `path` read-only on `vfs` and takes a whole-file lock on it
    /// ([`LockKind::Flock`] or [`LockKind::None`]) as [`LockTable::lock`] does; the lock
    /// outlives the descriptor used to take it (the table keeps its own) until the guard is
    /// dropped. For tools that read a file without a pager (`check`, `stats`): a shared lock
    /// keeps pydbm writers out while they read.
    pub fn lock_path(
        &self,
        vfs: &dyn Vfs,
        path: &Path,
        mode: LockMode,
        kind: LockKind,
        timeout: Option<Duration>,
    ) -> Result<LockGuard> {
        let handle = vfs.open(path, VfsOpen::READ)?;
        self.lock(&*handle, mode, kind, timeout)
    }

    /// Locks the table for this process: in a forked child, first forgets the locks the
    /// table recorded for the parent (the child holds none of its `fcntl` locks, and its
    /// guards of them release nothing). The inherited descriptors are closed, which
    /// releases no lock of the parent's: `fcntl` locks belong to the parent process, and an
    /// inherited `flock` stays held while the parent's descriptor is open.
    fn inodes(&self) -> parking_lot::MutexGuard<'_, HashMap<(u64, u64), InodeLocks>> {
        use std::sync::atomic::Ordering;
        let mut inodes = self.inodes.lock();
        let me = crate::process_id::current();
        if self.owner.load(Ordering::Relaxed) != me {
            inodes.clear();
            self.owner.store(me, Ordering::Relaxed);
        }
        inodes
    }

    /// One attempt; Ok(None) on a conflict.
    fn try_lock(
        &self,
        key: (u64, u64),
        file: &dyn VfsFile,
        mode: LockMode,
        kind: LockKind,
    ) -> Result<Option<Held>> {
        let path = file.path();
        let mut inodes = self.inodes();
        let entry = inodes.entry(key).or_default();
        let result = match kind {
            LockKind::Flock | LockKind::None => Self::try_whole(entry, file, mode, kind),
            LockKind::Fcntl { start, len } => {
                let end = if len == 0 {
                    u64::MAX
                } else {
                    start.checked_add(len).ok_or_else(|| {
                        Error::BadArgument(format!("{}: lock range overflows", path.display()))
                    })?
                };
                Self::try_range(entry, file, mode, start, end)
            }
        };
        if entry.is_idle() && entry.parked.is_empty() {
            inodes.remove(&key);
        }
        result
    }

    fn try_whole(
        entry: &mut InodeLocks,
        file: &dyn VfsFile,
        mode: LockMode,
        kind: LockKind,
    ) -> Result<Option<Held>> {
        let path = file.path();
        let os_fd = if kind == LockKind::Flock {
            file.raw_fd()
        } else {
            None
        };
        let op = match mode {
            LockMode::Shared => libc::LOCK_SH,
            LockMode::Exclusive => libc::LOCK_EX,
        };
        match &mut entry.whole {
            Some(w) => {
                if w.mode == LockMode::Exclusive || mode == LockMode::Exclusive {
                    return Ok(None);
                }
                if let (None, Some(fd)) = (&w.flock_fd, os_fd) {
                    let dup = dup_fd(fd, path)?;
                    if !os_flock(dup.as_raw_fd(), op, path)? {
                        return Ok(None);
                    }
                    w.flock_fd = Some(dup);
                }
                w.count += 1;
            }
            None => {
                let flock_fd = match os_fd {
                    Some(fd) => {
                        let dup = dup_fd(fd, path)?;
                        if !os_flock(dup.as_raw_fd(), op, path)? {
                            return Ok(None);
                        }
                        Some(dup)
                    }
                    None => None,
                };
                entry.whole = Some(WholeLock {
                    mode,
                    count: 1,
                    flock_fd,
                });
            }
        }
        Ok(Some(Held::Whole))
    }

    fn try_range(
        entry: &mut InodeLocks,
        file: &dyn VfsFile,
        mode: LockMode,
        start: u64,
        end: u64,
    ) -> Result<Option<Held>> {
        let path = file.path();
        let overlaps = |r: &RangeLock| r.start < end && start < r.end;
        if entry
            .ranges
            .iter()
            .any(|r| overlaps(r) && (r.mode == LockMode::Exclusive || mode == LockMode::Exclusive))
        {
            return Ok(None);
        }
        if let Some(r) = entry
            .ranges
            .iter_mut()
            .find(|r| r.start == start && r.end == end && r.mode == mode)
        {
            r.count += 1;
            return Ok(Some(Held::Range { start, end, mode }));
        }
        if entry.fcntl_fd.is_none() {
            if let Some(fd) = file.raw_fd() {
                entry.fcntl_fd = Some(dup_fd(fd, path)?);
            }
        }
        if let Some(fd) = &entry.fcntl_fd {
            let ty = match mode {
                LockMode::Shared => libc::F_RDLCK,
                LockMode::Exclusive => libc::F_WRLCK,
            };
            if !os_fcntl(fd.as_raw_fd(), ty, start, end, path)? {
                if entry.ranges.is_empty() {
                    entry.fcntl_fd = None;
                }
                return Ok(None);
            }
        }
        entry.ranges.push(RangeLock {
            start,
            end,
            mode,
            count: 1,
        });
        Ok(Some(Held::Range { start, end, mode }))
    }

    fn release(&self, key: (u64, u64), held: Held, owner: u32) {
        let mut inodes = self.inodes();
        if owner != crate::process_id::current() {
            return;
        }
        let Some(entry) = inodes.get_mut(&key) else {
            return;
        };
        match held {
            Held::Whole => {
                if let Some(w) = &mut entry.whole {
                    w.count -= 1;
                    if w.count == 0 {
                        if let Some(fd) = &w.flock_fd {
                            // Unlock explicitly: another descriptor may share the description.
                            // An unlock failure leaves nothing to do; closing the dup below
                            // releases the lock when no other descriptor shares it.
                            let _ = os_flock(fd.as_raw_fd(), libc::LOCK_UN, Path::new(""));
                        }
                        entry.whole = None;
                    }
                }
            }
            Held::Range { start, end, mode } => {
                if let Some(i) = entry
                    .ranges
                    .iter()
                    .position(|r| r.start == start && r.end == end && r.mode == mode)
                {
                    entry.ranges[i].count -= 1;
                    if entry.ranges[i].count == 0 {
                        entry.ranges.remove(i);
                        if let Some(fd) = &entry.fcntl_fd {
                            // Unlock only the bytes no other held range of this process covers:
                            // fcntl locks merge per process, so a blanket unlock would drop them.
                            for (s, e) in uncovered(start, end, &entry.ranges) {
                                let _ =
                                    os_fcntl(fd.as_raw_fd(), libc::F_UNLCK, s, e, Path::new(""));
                            }
                        }
                    }
                }
                if entry.ranges.is_empty() {
                    entry.fcntl_fd = None;
                    entry.parked.clear();
                }
            }
        }
        if entry.is_idle() && entry.parked.is_empty() {
            inodes.remove(&key);
        }
    }

    /// Closes `file` (a descriptor of inode `identity`), unless this process holds `fcntl`
    /// locks on that inode: then the descriptor is kept open until the last one is released.
    pub fn close_or_park(&self, identity: (u64, u64), file: File) {
        let mut inodes = self.inodes();
        match inodes.get_mut(&identity) {
            Some(entry) if !entry.ranges.is_empty() => entry.parked.push(file),
            _ => drop(file),
        }
    }

    /// How many descriptors are parked for `identity` (for tests and diagnostics).
    pub fn parked(&self, identity: (u64, u64)) -> usize {
        self.inodes().get(&identity).map_or(0, |e| e.parked.len())
    }
}

/// The parts of `start..end` not covered by any range in `others`.
fn uncovered(start: u64, end: u64, others: &[RangeLock]) -> Vec<(u64, u64)> {
    let mut cuts: Vec<(u64, u64)> = others
        .iter()
        .filter(|r| r.start < end && start < r.end)
        .map(|r| (r.start.max(start), r.end.min(end)))
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut pos = start;
    for (s, e) in cuts {
        if s > pos {
            out.push((pos, s));
        }
        pos = pos.max(e);
    }
    if pos < end {
        out.push((pos, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemVfs, OsVfs, Vfs, VfsOpen};

    #[test]
    fn uncovered_subtracts_ranges() {
        let r = |start, end| RangeLock {
            start,
            end,
            mode: LockMode::Shared,
            count: 1,
        };
        assert_eq!(uncovered(0, 10, &[]), vec![(0, 10)]);
        assert_eq!(uncovered(0, 10, &[r(2, 4), r(3, 6)]), vec![(0, 2), (6, 10)]);
        assert_eq!(uncovered(0, 10, &[r(0, 20)]), vec![]);
        assert_eq!(uncovered(5, u64::MAX, &[r(0, 7)]), vec![(7, u64::MAX)]);
    }

    #[test]
    fn in_process_handles_conflict_like_processes() {
        for vfs in [&MemVfs::new() as &dyn Vfs, &OsVfs::new()] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("db");
            let a = vfs.open(&p, VfsOpen::CREATE).unwrap();
            let b = vfs.open(&p, VfsOpen::WRITE).unwrap();
            let t = LockTable::global();
            for kind in [
                LockKind::Flock,
                LockKind::None,
                LockKind::Fcntl { start: 0, len: 0 },
            ] {
                let s1 = t.lock(&*a, LockMode::Shared, kind, None).unwrap();
                let s2 = t.lock(&*b, LockMode::Shared, kind, None).unwrap();
                assert!(matches!(
                    t.lock(&*b, LockMode::Exclusive, kind, None),
                    Err(Error::Locked { .. })
                ));
                drop(s1);
                drop(s2);
                let x = t.lock(&*a, LockMode::Exclusive, kind, None).unwrap();
                let start = Instant::now();
                assert!(t
                    .lock(&*b, LockMode::Shared, kind, Some(Duration::from_millis(30)))
                    .is_err());
                assert!(start.elapsed() >= Duration::from_millis(30));
                drop(x);
                drop(t.lock(&*b, LockMode::Exclusive, kind, None).unwrap());
            }
        }
    }

    #[test]
    fn disjoint_fcntl_ranges_do_not_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        let a = OsVfs::new().open(&p, VfsOpen::CREATE).unwrap();
        let t = LockTable::global();
        let x = t
            .lock(
                &*a,
                LockMode::Exclusive,
                LockKind::Fcntl { start: 0, len: 1 },
                None,
            )
            .unwrap();
        let y = t
            .lock(
                &*a,
                LockMode::Exclusive,
                LockKind::Fcntl { start: 1, len: 1 },
                None,
            )
            .unwrap();
        assert!(t
            .lock(
                &*a,
                LockMode::Shared,
                LockKind::Fcntl { start: 0, len: 2 },
                None
            )
            .is_err());
        drop((x, y));
    }
}

/// Tests across processes: the test binary re-spawns itself to run [`child_probe`] in a
/// separate process, which tries a lock and prints what happened.
#[cfg(test)]
mod process_tests {
    use super::*;
    use crate::{OsVfs, Vfs, VfsOpen};
    use std::process::Command;

    const ENV: &str = "PYDBM_LOCK_PROBE";

    fn kind_str(kind: LockKind) -> String {
        match kind {
            LockKind::Flock => "flock".into(),
            LockKind::None => "none".into(),
            LockKind::Fcntl { start, len } => format!("fcntl:{start}:{len}"),
        }
    }

    /// Runs the probe in a child process; true when it got the lock.
    fn probe(path: &Path, mode: LockMode, kind: LockKind) -> bool {
        let mode = match mode {
            LockMode::Shared => "shared",
            LockMode::Exclusive => "exclusive",
        };
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock::process_tests::child_probe",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, format!("{}|{mode}|{}", path.display(), kind_str(kind)))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.contains("PROBE:ACQUIRED") {
            true
        } else if stdout.contains("PROBE:LOCKED") {
            false
        } else {
            panic!(
                "child probe gave no verdict: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        }
    }

    /// The child side, run only by [`probe`] (`--ignored`, with the env var set): ignored in
    /// a normal run rather than passing without testing anything, and failing when run
    /// without the variable.
    #[test]
    #[ignore = "the child half of the cross-process lock tests; probe() runs it"]
    fn child_probe() {
        let spec = std::env::var(ENV)
            .expect("child_probe runs only as probe()'s child, with PYDBM_LOCK_PROBE set");
        let parts: Vec<&str> = spec.split('|').collect();
        let mode = if parts[1] == "shared" {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        let kind = match parts[2] {
            "flock" => LockKind::Flock,
            "none" => LockKind::None,
            f => {
                let n: Vec<u64> = f.split(':').skip(1).map(|x| x.parse().unwrap()).collect();
                LockKind::Fcntl {
                    start: n[0],
                    len: n[1],
                }
            }
        };
        let file = OsVfs::new()
            .open(Path::new(parts[0]), VfsOpen::WRITE)
            .unwrap();
        match LockTable::global().lock(&*file, mode, kind, None) {
            Ok(_) => println!("PROBE:ACQUIRED"),
            Err(Error::Locked { .. }) => println!("PROBE:LOCKED"),
            Err(e) => println!("PROBE:ERROR {e}"),
        }
    }

    const FORK_ENV: &str = "PYDBM_LOCK_FORK_DIR";

    /// A forked child does not count its parent's locks as its own: the parent holds a
    /// shared fcntl range, the child takes the same range through the table (inherited in
    /// its memory), then the parent releases its lock and asks the kernel who holds the
    /// range: it must be the child. Before the table checked its owner, the child only
    /// bumped the parent's count, took no lock of its own, and the range was free.
    #[test]
    fn forked_child_does_not_inherit_lock_ownership() {
        let dir = tempfile::tempdir().unwrap();
        // Forking is done in a single-threaded child test process (no other test thread
        // can hold the table's mutex or malloc's locks across the fork).
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock::process_tests::fork_scenario",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FORK_ENV, dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("FORK:CHILD-HOLDS-ITS-OWN-LOCK"),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The scenario of [`forked_child_does_not_inherit_lock_ownership`], run only as its
    /// child process (`--ignored`, with the env var set); fails when run without it.
    #[test]
    #[ignore = "the single-threaded half of forked_child_does_not_inherit_lock_ownership"]
    fn fork_scenario() {
        let dir = std::env::var(FORK_ENV)
            .expect("fork_scenario runs only as a child of its test, with PYDBM_LOCK_FORK_DIR set");
        let p = Path::new(&dir).join("db");
        let f = OsVfs::new().open(&p, VfsOpen::CREATE).unwrap();
        let t = LockTable::global();
        let range = LockKind::Fcntl {
            start: 100,
            len: 10,
        };
        let parent_lock = t.lock(&*f, LockMode::Shared, range, None).unwrap();
        let (mut to_parent, mut to_child) = ([0i32; 2], [0i32; 2]);
        // SAFETY: pipe writes two descriptors into each live two-element array.
        unsafe {
            assert_eq!(libc::pipe(to_parent.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(to_child.as_mut_ptr()), 0);
        }
        // SAFETY: this test process is single-threaded (--test-threads=1, see above).
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork: {}", io::Error::last_os_error());
        if child == 0 {
            // Held (not dropped) until _exit.
            let held = t.lock(&*f, LockMode::Shared, range, None);
            let took = held.is_ok();
            let mut ack = [0u8];
            // SAFETY: one-byte writes and reads on the pipes made above; _exit ends the
            // child without running the parent's destructors twice.
            unsafe {
                libc::write(to_parent[1], [u8::from(took)].as_ptr().cast(), 1);
                libc::read(to_child[0], ack.as_mut_ptr().cast(), 1);
                libc::_exit(0);
            }
        }
        let mut took = [0u8];
        // SAFETY: a one-byte read into a live buffer.
        unsafe { libc::read(to_parent[0], took.as_mut_ptr().cast(), 1) };
        assert_eq!(took[0], 1, "the child could not take a shared lock");
        drop(parent_lock);
        // SAFETY: F_GETLK fills the zeroed flock struct we own.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = 100;
        fl.l_len = 10;
        let fd = f.raw_fd().expect("an OsVfs file has a descriptor");
        // SAFETY: fd is open; fl is a live flock struct.
        let rc = unsafe { libc::fcntl(fd, libc::F_GETLK, &mut fl as *mut libc::flock) };
        let holder = (rc, fl.l_type, fl.l_pid);
        let mut status = 0;
        // SAFETY: releases the child (one byte on its pipe), then reaps it.
        unsafe {
            libc::write(to_child[1], b"x".as_ptr().cast(), 1);
            libc::waitpid(child, &mut status, 0);
        }
        if rc == 0 && fl.l_type == libc::F_RDLCK as libc::c_short && fl.l_pid == child {
            println!("FORK:CHILD-HOLDS-ITS-OWN-LOCK");
        } else {
            println!(
                "FORK:CHILD-HOLDS-NO-LOCK (fcntl rc, l_type, l_pid) = {holder:?}, child {child}"
            );
        }
    }

    #[test]
    fn flock_conflicts_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        let f = OsVfs::new().open(&p, VfsOpen::CREATE).unwrap();
        let t = LockTable::global();
        let x = t
            .lock(&*f, LockMode::Exclusive, LockKind::Flock, None)
            .unwrap();
        assert!(!probe(&p, LockMode::Shared, LockKind::Flock));
        // Table-only locks are invisible to other processes.
        assert!(probe(&p, LockMode::Exclusive, LockKind::None));
        drop(x);
        let s = t
            .lock(&*f, LockMode::Shared, LockKind::Flock, None)
            .unwrap();
        assert!(probe(&p, LockMode::Shared, LockKind::Flock));
        assert!(!probe(&p, LockMode::Exclusive, LockKind::Flock));
        drop(s);
        assert!(probe(&p, LockMode::Exclusive, LockKind::Flock));
    }

    #[test]
    fn fcntl_ranges_conflict_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        let f = OsVfs::new().open(&p, VfsOpen::CREATE).unwrap();
        let t = LockTable::global();
        let x = t
            .lock(
                &*f,
                LockMode::Exclusive,
                LockKind::Fcntl { start: 10, len: 1 },
                None,
            )
            .unwrap();
        assert!(probe(
            &p,
            LockMode::Exclusive,
            LockKind::Fcntl { start: 11, len: 5 }
        ));
        assert!(!probe(
            &p,
            LockMode::Shared,
            LockKind::Fcntl { start: 0, len: 0 }
        ));
        drop(x);
        assert!(probe(
            &p,
            LockMode::Exclusive,
            LockKind::Fcntl { start: 0, len: 0 }
        ));
    }

    /// The classic fcntl pitfall: closing another descriptor of the file must not drop the
    /// lock, and releasing one handle's lock must not drop another handle's.
    #[test]
    fn closing_one_handle_keeps_another_handles_lock() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        let vfs = OsVfs::new();
        let t = LockTable::global();
        let whole = LockKind::Fcntl { start: 0, len: 0 };
        let a = vfs.open(&p, VfsOpen::CREATE).unwrap();
        let b = vfs.open(&p, VfsOpen::WRITE).unwrap();
        let id = a.identity().unwrap();
        let ga = t.lock(&*a, LockMode::Shared, whole, None).unwrap();
        let gb = t.lock(&*b, LockMode::Shared, whole, None).unwrap();
        // Handle b is closed (its descriptor parked) and its guard released: a's lock holds.
        drop(b);
        assert_eq!(t.parked(id), 1);
        drop(gb);
        assert!(!probe(&p, LockMode::Exclusive, whole));
        // A third handle opened and closed meanwhile does not drop it either.
        drop(vfs.open(&p, VfsOpen::READ).unwrap());
        assert!(!probe(&p, LockMode::Exclusive, whole));
        drop(ga);
        assert_eq!(t.parked(id), 0);
        assert!(probe(&p, LockMode::Exclusive, whole));

        // flock: the guard outlives its handle.
        let c = vfs.open(&p, VfsOpen::WRITE).unwrap();
        let gc = t
            .lock(&*c, LockMode::Exclusive, LockKind::Flock, None)
            .unwrap();
        drop(c);
        assert!(!probe(&p, LockMode::Shared, LockKind::Flock));
        drop(gc);
        assert!(probe(&p, LockMode::Shared, LockKind::Flock));
    }

    /// The live reference is Debian's CPython 3.11 `dbm.gnu` (libgdbm 1.23; `PYDBM_PYTHON_GDBM`,
    /// see [`crate::live_reference`]), whose locking is `flock` and is the same in 3.13.
    fn python(py: &Path, code: &str) -> std::process::Output {
        Command::new(py).args(["-c", code]).output().unwrap()
    }

    /// pydbm's flock and libgdbm's exclude each other in both directions.
    #[test]
    fn flock_excludes_python_gdbm_and_back() {
        let Some(py) = crate::live_reference::python_or_skip(
            crate::live_reference::Python::Gdbm,
            "import dbm.gnu",
        ) else {
            return;
        };
        let py = py.as_path();
        use std::io::{BufRead, BufReader, Write};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.db");
        let ps = p.display().to_string();
        let made = python(
            py,
            &format!("import dbm.gnu\ndb = dbm.gnu.open({ps:?}, 'c')\ndb[b'k'] = b'v'\ndb.close()"),
        );
        assert!(made.status.success(), "{made:?}");
        let try_open = format!(
            "import dbm.gnu\ntry:\n    dbm.gnu.open({ps:?}, 'w').close()\n    print('OPENED')\nexcept dbm.gnu.error as e:\n    print('REFUSED', e)"
        );
        let f = OsVfs::new().open(&p, VfsOpen::WRITE).unwrap();
        let t = LockTable::global();
        let g = t
            .lock(&*f, LockMode::Exclusive, LockKind::Flock, None)
            .unwrap();
        let out = String::from_utf8_lossy(&python(py, &try_open).stdout).to_string();
        assert!(
            out.starts_with("REFUSED"),
            "gdbm opened a file pydbm locked: {out}"
        );
        drop(g);
        let out = String::from_utf8_lossy(&python(py, &try_open).stdout).to_string();
        assert!(out.starts_with("OPENED"), "{out}");

        let mut child = Command::new(py)
            .args([
                "-c",
                &format!(
                    "import dbm.gnu, sys\ndb = dbm.gnu.open({ps:?}, 'w')\nprint('READY', flush=True)\nsys.stdin.readline()\ndb.close()"
                ),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY");
        let r = t.lock(&*f, LockMode::Shared, LockKind::Flock, None);
        assert!(matches!(r, Err(Error::Locked { .. })), "{r:?}");
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        assert!(child.wait().unwrap().success());
        drop(
            t.lock(&*f, LockMode::Exclusive, LockKind::Flock, None)
                .unwrap(),
        );
    }
}
