//! `FaultVfs`: a file system wrapper that simulates a crash at a chosen write or sync.
//!
//! Every state-changing call is an *event*, numbered from 1: `write_at`, `set_len`, `sync`,
//! `remove`, `rename`, `sync_dir`, and an `open` that creates or truncates a file. With
//! [`FaultConfig::crash_at`] = `Some(n)`, event `n` does not happen; instead the system
//! "crashes": that call and every later call on the file system or any of its handles fails
//! with an [`Error::Io`] whose message is `simulated crash`. [`FaultVfs::surviving_disk`] then
//! gives what a reboot would find:
//!
//! - [`CrashKind::ProcessKill`]: every completed call's bytes (the OS page cache survives);
//!   event `n` and the rest of the operation are lost.
//! - [`CrashKind::PowerLoss`]: per file, everything up to its last `sync`, plus a random
//!   (seeded) mix of the writes since: each one dropped, kept, or torn at 512-byte sectors
//!   (some sectors kept, others not), applied in shuffled order between `set_len` calls, and
//!   each `set_len` kept or dropped. The interrupted write `n` counts as one of them.
//!   Directory changes (create, remove, rename) are modelled as durable at once, as a
//!   journaling file system's ordered metadata makes them in practice.
//! - [`CrashKind::PowerLossUnsyncedDirs`]: the same, and besides every directory change made
//!   after the last `sync_dir` of its directory (a rename counts in the target's directory)
//!   is independently kept or lost (seeded): a created file may vanish with its bytes, a
//!   removed or renamed-away file may come back. This is what POSIX promises without
//!   `fsync` of the directory, and what proves a pager syncs directories where it must.
//!
//! The model tracks every file the wrapper touched (opened, tested, removed or renamed);
//! files never touched are not in the image unless a base image is given to
//! [`FaultVfs::surviving_disk_over`].

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::prng::SplitMix64;
use crate::{Error, MemVfs, Result, Vfs, VfsFile, VfsOpen};

/// Which crash is simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashKind {
    /// Power loss or kernel crash: unsynced writes may be lost, reordered or torn.
    PowerLoss,
    /// The process is killed: completed writes survive, the rest of the operation does not.
    ProcessKill,
    /// Power loss that also loses directory changes made since the last `sync_dir` of their
    /// directory (see the module docs).
    PowerLossUnsyncedDirs,
}

/// When and how a [`FaultVfs`] crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultConfig {
    /// Seeds every random choice (which unsynced writes survive, and how they tear).
    pub seed: u64,
    /// The event number (from 1) at which to crash; `None` never crashes (counting only).
    pub crash_at: Option<u64>,
    /// Power loss or process kill.
    pub kind: CrashKind,
}

/// Sector size at which unsynced writes tear.
pub const SECTOR: u64 = 512;

#[derive(Debug, Clone)]
enum PendingOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

/// A directory change not yet made durable by a `sync_dir` of its directory.
#[derive(Debug, Clone)]
enum DirOp {
    Create {
        path: PathBuf,
        node: usize,
    },
    Remove {
        path: PathBuf,
        node: usize,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        node: usize,
        replaced: Option<usize>,
    },
}

impl DirOp {
    /// The directory whose `sync_dir` makes this change durable.
    fn dir(&self) -> Option<&Path> {
        match self {
            DirOp::Create { path, .. } | DirOp::Remove { path, .. } => path.parent(),
            DirOp::Rename { to, .. } => to.parent(),
        }
    }
}

/// The model of one file (an inode: it follows renames).
#[derive(Debug, Clone, Default)]
struct NodeModel {
    current: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<PendingOp>,
}

fn apply(data: &mut Vec<u8>, op: &PendingOp) {
    match op {
        PendingOp::Write {
            offset,
            data: bytes,
        } => {
            let start = *offset as usize;
            let end = start + bytes.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[start..end].copy_from_slice(bytes);
        }
        PendingOp::SetLen(len) => data.resize(*len as usize, 0),
    }
}

impl NodeModel {
    /// What power loss leaves of this file.
    fn after_power_loss(&self, rng: &mut SplitMix64) -> Vec<u8> {
        let mut data = self.durable.clone();
        let mut segment: Vec<(u64, &[u8])> = Vec::new();
        let flush = |seg: &mut Vec<(u64, &[u8])>, data: &mut Vec<u8>, rng: &mut SplitMix64| {
            // Shuffle (Fisher-Yates) to model reordering between barriers.
            for i in (1..seg.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                seg.swap(i, j);
            }
            for (offset, bytes) in seg.drain(..) {
                match rng.below(3) {
                    0 => {}
                    1 => apply(
                        data,
                        &PendingOp::Write {
                            offset,
                            data: bytes.to_vec(),
                        },
                    ),
                    _ => {
                        // Torn: each sector-aligned piece independently kept or lost.
                        let end = offset + bytes.len() as u64;
                        let mut pos = offset;
                        while pos < end {
                            let next = ((pos / SECTOR + 1) * SECTOR).min(end);
                            if rng.chance(1, 2) {
                                let s = (pos - offset) as usize;
                                let e = (next - offset) as usize;
                                apply(
                                    data,
                                    &PendingOp::Write {
                                        offset: pos,
                                        data: bytes[s..e].to_vec(),
                                    },
                                );
                            }
                            pos = next;
                        }
                    }
                }
            }
        };
        for op in &self.pending {
            match op {
                PendingOp::Write {
                    offset,
                    data: bytes,
                } => segment.push((*offset, bytes)),
                PendingOp::SetLen(_) => {
                    flush(&mut segment, &mut data, rng);
                    if rng.chance(1, 2) {
                        apply(&mut data, op);
                    }
                }
            }
        }
        flush(&mut segment, &mut data, rng);
        data
    }
}

#[derive(Debug)]
struct FaultState {
    cfg: FaultConfig,
    events: u64,
    crashed: bool,
    paths: HashMap<PathBuf, usize>,
    /// Paths known to be absent (so they are not read from the inner file system again).
    absent: std::collections::HashSet<PathBuf>,
    nodes: Vec<NodeModel>,
    /// Directory changes since their directory's last `sync_dir`, oldest first.
    dir_log: Vec<DirOp>,
}

impl FaultState {
    fn crash_error(path: &Path) -> Error {
        Error::io(path, io::Error::other("simulated crash"))
    }

    fn check(&self, path: &Path) -> Result<()> {
        if self.crashed {
            Err(Self::crash_error(path))
        } else {
            Ok(())
        }
    }

    /// Counts an event; Err if it is the crash point (then `interrupted` is recorded for
    /// power loss as an unsynced operation of `node`).
    fn event(&mut self, path: &Path, interrupted: Option<(usize, PendingOp)>) -> Result<()> {
        self.check(path)?;
        self.events += 1;
        if self.cfg.crash_at == Some(self.events) {
            self.crashed = true;
            if let (true, Some((node, op))) = (self.cfg.kind != CrashKind::ProcessKill, interrupted)
            {
                self.nodes[node].pending.push(op);
            }
            return Err(Self::crash_error(path));
        }
        Ok(())
    }

    fn new_node(&mut self, content: Vec<u8>) -> usize {
        self.nodes.push(NodeModel {
            current: content.clone(),
            durable: content,
            pending: Vec::new(),
        });
        self.nodes.len() - 1
    }
}

/// A [`Vfs`] wrapper that crashes on cue (see the module docs). Cloning shares the state.
///
/// # Example: crash a commit at every event
///
/// Count the events of one commit, then crash at each of them, under a process kill and
/// under power loss, and check that the rebooted disk holds the old bytes or the new ones,
/// never a mix ([`crate::crash`] does this for whole workloads):
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use pydbm_engine::{
///     CrashKind, Durability, FaultConfig, FaultVfs, FileSpec, LockKind, LockMode, MemVfs,
///     Pager, PagerOptions, Vfs,
/// };
///
/// let path = Path::new("/db/file");
/// let opts = PagerOptions {
///     durability: Durability::Full,
///     // The lock lets a reopen roll back a hot journal (a lockless pager refuses to).
///     lock: Some((LockKind::Flock, LockMode::Exclusive)),
///     ..PagerOptions::default()
/// };
/// let (old, new) = (vec![1u8; 10_000], vec![2u8; 10_000]);
/// let commit_new = |vfs: Arc<dyn Vfs>| -> pydbm_engine::Result<()> {
///     let mut pager = Pager::open(vfs, vec![FileSpec::new(path)], opts.clone())?;
///     pager.write_at(0, 0, &new)?;
///     pager.commit()
/// };
/// let base = MemVfs::new();
/// base.write_file(path, &old);
///
/// let counter = FaultVfs::new(
///     base.snapshot(),
///     FaultConfig { seed: 7, crash_at: None, kind: CrashKind::PowerLoss },
/// );
/// commit_new(Arc::new(counter.clone()))?;
/// let events = counter.events();
/// assert!(events >= 5, "journal write + sync, page write + sync, invalidation: {events}");
///
/// for kind in [CrashKind::ProcessKill, CrashKind::PowerLoss] {
///     for n in 1..=events {
///         let fault = FaultVfs::new(base.snapshot(), FaultConfig { seed: n, crash_at: Some(n), kind });
///         assert!(commit_new(Arc::new(fault.clone())).is_err());
///         let rebooted: Arc<dyn Vfs> = Arc::new(fault.surviving_disk());
///         let mut pager = Pager::open(rebooted, vec![FileSpec::new(path)], opts.clone())?; // rolls back
///         let mut now = vec![0u8; 10_000];
///         pager.read_at(0, 0, &mut now)?;
///         assert!(now == old || now == new, "{kind:?} at event {n} left a mix");
///     }
/// }
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FaultVfs<V> {
    inner: V,
    state: Arc<Mutex<FaultState>>,
}

impl<V: Vfs> FaultVfs<V> {
    /// Wraps `inner`. Files already in `inner` are read into the model when first touched.
    pub fn new(inner: V, cfg: FaultConfig) -> FaultVfs<V> {
        FaultVfs {
            inner,
            state: Arc::new(Mutex::new(FaultState {
                cfg,
                events: 0,
                crashed: false,
                paths: HashMap::new(),
                absent: Default::default(),
                nodes: Vec::new(),
                dir_log: Vec::new(),
            })),
        }
    }

    /// How many events have happened (the crash event included).
    pub fn events(&self) -> u64 {
        self.state.lock().events
    }

    /// Whether the crash happened.
    pub fn has_crashed(&self) -> bool {
        self.state.lock().crashed
    }

    /// The wrapped file system (its files show every completed write, like the OS page cache).
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// What a reboot would find: every touched file, as the crash kind leaves it (before a
    /// crash: for power loss, as if the power failed now). The same call gives the same image.
    pub fn surviving_disk(&self) -> MemVfs {
        self.surviving_disk_over(&MemVfs::new())
    }

    /// Like [`FaultVfs::surviving_disk`], on top of a copy of `base` (files this wrapper never
    /// touched keep their `base` bytes; touched files that no longer exist are removed).
    pub fn surviving_disk_over(&self, base: &MemVfs) -> MemVfs {
        let st = self.state.lock();
        let image = base.snapshot();
        let mut rng = SplitMix64::new(st.cfg.seed ^ st.events.wrapping_mul(0x9E37_79B9));
        let mut names = st.paths.clone();
        let mut gone = st.absent.clone();
        if st.cfg.kind == CrashKind::PowerLossUnsyncedDirs {
            // Undo, newest first, each unsynced directory change the coin says was lost.
            for op in st.dir_log.iter().rev() {
                if !rng.chance(1, 2) {
                    continue;
                }
                match op {
                    DirOp::Create { path, node } => {
                        if names.get(path) == Some(node) {
                            names.remove(path);
                            gone.insert(path.clone());
                        }
                    }
                    DirOp::Remove { path, node } => {
                        if !names.contains_key(path) {
                            names.insert(path.clone(), *node);
                            gone.remove(path);
                        }
                    }
                    DirOp::Rename {
                        from,
                        to,
                        node,
                        replaced,
                    } => {
                        if names.get(to) == Some(node) && !names.contains_key(from) {
                            names.insert(from.clone(), *node);
                            gone.remove(from);
                            match replaced {
                                Some(r) => {
                                    names.insert(to.clone(), *r);
                                }
                                None => {
                                    names.remove(to);
                                    gone.insert(to.clone());
                                }
                            }
                        }
                    }
                }
            }
        }
        for p in &gone {
            image.delete_file(p);
        }
        let mut paths: Vec<(&PathBuf, &usize)> = names.iter().collect();
        paths.sort();
        for (path, &node) in paths {
            let m = &st.nodes[node];
            let bytes = match st.cfg.kind {
                CrashKind::ProcessKill => m.current.clone(),
                CrashKind::PowerLoss | CrashKind::PowerLossUnsyncedDirs => {
                    m.after_power_loss(&mut rng)
                }
            };
            image.write_file(path, &bytes);
        }
        image
    }

    /// The model node of `path`, loading it from the inner file system on first touch.
    fn node_of(&self, st: &mut FaultState, path: &Path) -> Result<Option<usize>> {
        if let Some(&n) = st.paths.get(path) {
            return Ok(Some(n));
        }
        if st.absent.contains(path) {
            return Ok(None);
        }
        if !self.inner.exists(path)? {
            st.absent.insert(path.to_path_buf());
            return Ok(None);
        }
        let f = self.inner.open(path, VfsOpen::READ)?;
        let len = usize::try_from(f.len()?)
            .map_err(|_| Error::unsupported(path, "a file larger than memory under FaultVfs"))?;
        let mut content = vec![0u8; len];
        f.read_exact_at(&mut content, 0)?;
        let n = st.new_node(content);
        st.paths.insert(path.to_path_buf(), n);
        Ok(Some(n))
    }
}

impl<V: Vfs> Vfs for FaultVfs<V> {
    fn open(&self, path: &Path, how: VfsOpen) -> Result<Box<dyn VfsFile>> {
        let mut st = self.state.lock();
        st.check(path)?;
        let node = self.node_of(&mut st, path)?;
        let node = match node {
            None if how.create && how.write => {
                st.event(path, None)?;
                let n = st.new_node(Vec::new());
                st.paths.insert(path.to_path_buf(), n);
                st.absent.remove(path);
                st.dir_log.push(DirOp::Create {
                    path: path.to_path_buf(),
                    node: n,
                });
                n
            }
            None => {
                // The model mirrors the inner file system, so the inner open fails too.
                return Err(self.inner.open(path, how).err().unwrap_or_else(|| {
                    Error::io(
                        path,
                        io::Error::new(io::ErrorKind::NotFound, "missing in the crash model"),
                    )
                }));
            }
            Some(n) => {
                if how.truncate && how.write {
                    st.event(path, Some((n, PendingOp::SetLen(0))))?;
                    let m = &mut st.nodes[n];
                    m.current.clear();
                    m.pending.push(PendingOp::SetLen(0));
                }
                n
            }
        };
        let inner = self.inner.open(path, how)?;
        Ok(Box::new(FaultFile {
            inner,
            node,
            path: path.to_path_buf(),
            state: self.state.clone(),
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let mut st = self.state.lock();
        st.check(path)?;
        Ok(self.node_of(&mut st, path)?.is_some())
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        st.check(path)?;
        self.node_of(&mut st, path)?;
        st.event(path, None)?;
        self.inner.remove(path)?;
        if let Some(node) = st.paths.remove(path) {
            st.dir_log.push(DirOp::Remove {
                path: path.to_path_buf(),
                node,
            });
        }
        st.absent.insert(path.to_path_buf());
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut st = self.state.lock();
        st.check(from)?;
        self.node_of(&mut st, from)?;
        self.node_of(&mut st, to)?;
        st.event(from, None)?;
        self.inner.rename(from, to)?;
        if let Some(n) = st.paths.remove(from) {
            let replaced = st.paths.insert(to.to_path_buf(), n);
            st.absent.remove(to);
            st.dir_log.push(DirOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
                node: n,
                replaced,
            });
        }
        st.absent.insert(from.to_path_buf());
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut st = self.state.lock();
        st.event(dir, None)?;
        self.inner.sync_dir(dir)?;
        st.dir_log.retain(|op| op.dir() != Some(dir));
        Ok(())
    }
}

/// A handle on a [`FaultVfs`] file.
#[derive(Debug)]
struct FaultFile {
    inner: Box<dyn VfsFile>,
    node: usize,
    path: PathBuf,
    state: Arc<Mutex<FaultState>>,
}

impl VfsFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.state.lock().check(&self.path)?;
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, data: &[u8], offset: u64) -> Result<()> {
        let mut st = self.state.lock();
        let op = PendingOp::Write {
            offset,
            data: data.to_vec(),
        };
        st.event(&self.path, Some((self.node, op.clone())))?;
        self.inner.write_at(data, offset)?;
        let m = &mut st.nodes[self.node];
        apply(&mut m.current, &op);
        m.pending.push(op);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let mut st = self.state.lock();
        st.event(&self.path, None)?;
        self.inner.sync()?;
        let m = &mut st.nodes[self.node];
        m.durable = m.current.clone();
        m.pending.clear();
        Ok(())
    }

    fn len(&self) -> Result<u64> {
        self.state.lock().check(&self.path)?;
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let mut st = self.state.lock();
        let op = PendingOp::SetLen(len);
        st.event(&self.path, Some((self.node, op.clone())))?;
        self.inner.set_len(len)?;
        let m = &mut st.nodes[self.node];
        apply(&mut m.current, &op);
        m.pending.push(op);
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn identity(&self) -> Option<(u64, u64)> {
        self.inner.identity()
    }

    fn raw_fd(&self) -> Option<i32> {
        self.inner.raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_twice(vfs: &dyn Vfs) -> Result<()> {
        let f = vfs.open(Path::new("/f"), VfsOpen::CREATE)?;
        f.write_at(&[1; 2048], 0)?;
        f.sync()?;
        f.write_at(&[2; 2048], 0)?;
        f.write_at(&[3; 100], 4000)?;
        Ok(())
    }

    #[test]
    fn counts_events_and_fails_after_crash() {
        let v = FaultVfs::new(
            MemVfs::new(),
            FaultConfig {
                seed: 1,
                crash_at: None,
                kind: CrashKind::ProcessKill,
            },
        );
        write_twice(&v).unwrap();
        assert_eq!(v.events(), 5);
        for n in 1..=5 {
            let v = FaultVfs::new(
                MemVfs::new(),
                FaultConfig {
                    seed: 1,
                    crash_at: Some(n),
                    kind: CrashKind::ProcessKill,
                },
            );
            let e = write_twice(&v).unwrap_err();
            assert!(e.to_string().contains("simulated crash"));
            assert!(v.exists(Path::new("/f")).is_err());
            let img = v.surviving_disk().read_file(Path::new("/f"));
            match n {
                1 => assert_eq!(img, None),
                2 => assert_eq!(img.unwrap(), b""),
                3 | 4 => assert_eq!(img.unwrap(), vec![1; 2048]),
                _ => assert_eq!(img.unwrap(), vec![2; 2048]),
            }
        }
    }

    #[test]
    fn power_loss_keeps_synced_and_tears_unsynced_at_sectors() {
        let mut seen_torn = false;
        let mut seen_old = false;
        let mut seen_new = false;
        for seed in 0..64 {
            let v = FaultVfs::new(
                MemVfs::new(),
                FaultConfig {
                    seed,
                    crash_at: Some(5),
                    kind: CrashKind::PowerLoss,
                },
            );
            write_twice(&v).unwrap_err();
            let img = v.surviving_disk().read_file(Path::new("/f")).unwrap();
            // The write at 4000..4100 crosses a sector boundary: either part may survive.
            assert!([2048, 4096, 4100].contains(&img.len()), "len {}", img.len());
            // Synced bytes are 1s; the unsynced overwrite gives 2s, in whole sectors only.
            for sector in img[..2048].chunks(512) {
                assert!(sector.iter().all(|&b| b == sector[0]));
                assert!(sector[0] == 1 || sector[0] == 2);
            }
            let twos = img[..2048].chunks(512).filter(|s| s[0] == 2).count();
            match twos {
                0 => seen_old = true,
                4 => seen_new = true,
                _ => seen_torn = true,
            }
            assert_eq!(v.surviving_disk().read_file(Path::new("/f")).unwrap(), img);
        }
        assert!(seen_torn && seen_old && seen_new);
    }

    #[test]
    fn wraps_real_files_and_follows_renames_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"existing").unwrap();
        let v = FaultVfs::new(
            crate::OsVfs::new(),
            FaultConfig {
                seed: 3,
                crash_at: Some(4),
                kind: CrashKind::PowerLoss,
            },
        );
        let f = v.open(&a, VfsOpen::WRITE).unwrap();
        f.write_at(b"E", 0).unwrap(); // event 1, never synced
        v.rename(&a, &b).unwrap(); // event 2
        f.sync().unwrap(); // event 3: the renamed file's bytes are durable
        assert!(f.write_at(b"Q", 1).is_err()); // event 4: the crash
        assert!(v.has_crashed());
        assert!(f.len().is_err() && v.exists(&b).is_err());
        let img = v.surviving_disk();
        assert_eq!(img.read_file(&a), None);
        let got = img.read_file(&b).unwrap();
        // The interrupted write "Q" at offset 1 may or may not survive the power loss.
        assert!(got == b"Existing" || got == b"EQisting", "{got:?}");
        // The real file shows every completed write, like the OS page cache.
        assert_eq!(std::fs::read(&b).unwrap(), b"Existing");
        let base = MemVfs::new();
        base.write_file(Path::new("/untouched"), b"u");
        base.write_file(&a, b"stale");
        let over = v.surviving_disk_over(&base);
        assert_eq!(over.read_file(Path::new("/untouched")).unwrap(), b"u");
        assert_eq!(over.read_file(&a), None, "a was renamed away");
    }

    /// Under `PowerLossUnsyncedDirs` a created or removed file's directory entry survives
    /// only by luck until its directory is synced; after `sync_dir` always.
    #[test]
    fn unsynced_directory_changes_may_be_lost() {
        let (a, b) = (Path::new("/d/a"), Path::new("/d/b"));
        let mut outcomes = std::collections::HashSet::new();
        for seed in 0..64 {
            for synced in [false, true] {
                let v = FaultVfs::new(
                    MemVfs::new(),
                    FaultConfig {
                        seed,
                        crash_at: None,
                        kind: CrashKind::PowerLossUnsyncedDirs,
                    },
                );
                let f = v.open(b, VfsOpen::CREATE).unwrap();
                f.write_at(b"old", 0).unwrap();
                f.sync().unwrap();
                v.sync_dir(Path::new("/d")).unwrap();
                let g = v.open(a, VfsOpen::CREATE).unwrap();
                g.write_at(b"new", 0).unwrap();
                g.sync().unwrap();
                v.remove(b).unwrap();
                if synced {
                    v.sync_dir(Path::new("/d")).unwrap();
                }
                let img = v.surviving_disk();
                let got = (img.read_file(a), img.read_file(b));
                if synced {
                    assert_eq!(got, (Some(b"new".to_vec()), None), "seed {seed}");
                } else {
                    outcomes.insert(got);
                }
            }
        }
        // Unsynced: each of the two changes is independently kept or lost.
        assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    }
}
