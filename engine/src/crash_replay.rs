//! The linear-time crash harness: record the workload once, rebuild every crash image.
//!
//! [`run_replay`] has the contract of [`crate::crash::run`] (same arguments, same report,
//! same verdicts) but runs the workload only once (twice with the determinism check) instead
//! of once per crash point:
//!
//! 1. The workload runs over a [`RecordingVfs`] on an empty [`MemVfs`], which logs every
//!    event (create, truncate, write, set_len, sync, remove, rename, sync_dir: the events
//!    [`crate::FaultVfs`] counts, numbered alike) with its bytes, and the states the workload
//!    reports with `committed(state)`, each with the event count at that moment.
//! 2. A running model of the disk (per node: current bytes; for power loss also the bytes at
//!    its last sync and the operations since) is advanced event by event. For each crash
//!    point `n`, the image a crash at `n` leaves is built from it: process kill, every event
//!    before `n`; power loss, per file its synced bytes plus the writes and resizes since
//!    (and the interrupted event `n`), each dropped, kept, or torn at 512-byte sectors and
//!    reordered between resizes, drawn from the seed exactly as `FaultVfs` draws them (the
//!    same per-point seeds as `crash::run`, so both harnesses check the same images).
//! 3. `read_state` opens the image (so recovery runs) and its state must be the last
//!    committed state before `n` or the one in flight.
//!
//! Cost: one workload run, plus per point one image copy (the size of the files) and one
//! `read_state`: linear in the number of points for a bounded database.
//!
//! **Determinism.** A replay simulates crashes of the *recorded* run, so its verdicts need no
//! repeated run. What it needs is that every byte the workload stores goes through the given
//! `Vfs` and that `read_state` depends only on the image (no state kept in the process
//! between the workload and the check). Like `crash::run`, it also requires the workload to
//! be repeatable, and checks it cheaply: a second run counts events only, and its event count
//! and reported states (with the event count at each) must equal the recorded run's; if not,
//! the report carries a "not deterministic" violation. Bytes may differ between runs (e.g.
//! random journal salts); the event sequence may not.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use crate::crash::{judge_point, CrashConfig, ReadState, Workload};
use crate::prng::SplitMix64;
use crate::recording_vfs::{RecordedEvent, RecordedOp, RecordingVfs};
use crate::{CrashKind, CrashReport, Durability, Error, MemVfs, Result, Vfs, SECTOR};

/// An operation not yet synced, borrowed from the log.
#[derive(Debug, Clone, Copy)]
enum Pending<'a> {
    Write(u64, &'a [u8]),
    SetLen(u64),
}

/// The replay model of one file (an inode: it follows renames).
#[derive(Debug, Clone, Default)]
struct Node {
    current: Vec<u8>,
    /// Bytes at the last sync (power loss only).
    durable: Vec<u8>,
    /// Indices into the log of the writes and resizes since the last sync (power loss only).
    pending: Vec<usize>,
}

fn write_into(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    let end = start + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[start..end].copy_from_slice(bytes);
}

fn apply(data: &mut Vec<u8>, op: Pending<'_>) {
    match op {
        Pending::Write(offset, bytes) => write_into(data, offset, bytes),
        Pending::SetLen(len) => data.resize(len as usize, 0),
    }
}

/// The unsynced operation an event is, if it is one.
fn pending_of(op: &RecordedOp) -> Option<(usize, Pending<'_>)> {
    match op {
        RecordedOp::Write { node, offset, data } => Some((*node, Pending::Write(*offset, data))),
        RecordedOp::SetLen { node, len } => Some((*node, Pending::SetLen(*len))),
        RecordedOp::Truncate { node } => Some((*node, Pending::SetLen(0))),
        _ => None,
    }
}

/// What power loss leaves of a file: `durable`, then `ops` in order, each write dropped,
/// kept or torn at sectors and the writes between two resizes shuffled; each resize kept or
/// dropped. The same draws, in the same order, as `FaultVfs` (fault_vfs.rs, module docs), so
/// one seed gives one image in both harnesses.
fn after_power_loss(durable: &[u8], ops: &[Pending<'_>], rng: &mut SplitMix64) -> Vec<u8> {
    let mut data = durable.to_vec();
    let mut segment: Vec<(u64, &[u8])> = Vec::new();
    let flush = |seg: &mut Vec<(u64, &[u8])>, data: &mut Vec<u8>, rng: &mut SplitMix64| {
        for i in (1..seg.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            seg.swap(i, j);
        }
        for (offset, bytes) in seg.drain(..) {
            match rng.below(3) {
                0 => {}
                1 => write_into(data, offset, bytes),
                _ => {
                    let end = offset + bytes.len() as u64;
                    let mut pos = offset;
                    while pos < end {
                        let next = ((pos / SECTOR + 1) * SECTOR).min(end);
                        if rng.chance(1, 2) {
                            let s = (pos - offset) as usize;
                            let e = (next - offset) as usize;
                            write_into(data, pos, &bytes[s..e]);
                        }
                        pos = next;
                    }
                }
            }
        }
    };
    for op in ops {
        match *op {
            Pending::Write(offset, bytes) => segment.push((offset, bytes)),
            Pending::SetLen(_) => {
                flush(&mut segment, &mut data, rng);
                if rng.chance(1, 2) {
                    apply(&mut data, *op);
                }
            }
        }
    }
    flush(&mut segment, &mut data, rng);
    data
}

/// The running disk model of a replay.
struct Model {
    kind: CrashKind,
    paths: std::collections::BTreeMap<PathBuf, usize>,
    nodes: Vec<Node>,
    /// How many events of the log are applied.
    applied: usize,
}

impl Model {
    fn new(kind: CrashKind) -> Model {
        Model {
            kind,
            paths: Default::default(),
            nodes: Vec::new(),
            applied: 0,
        }
    }

    fn node(&mut self, n: usize) -> &mut Node {
        if self.nodes.len() <= n {
            self.nodes.resize_with(n + 1, Node::default);
        }
        &mut self.nodes[n]
    }

    /// Applies the log's events up to (not including) index `upto`.
    fn advance(&mut self, log: &[RecordedEvent], upto: usize) {
        let power = self.kind == CrashKind::PowerLoss;
        while self.applied < upto {
            let i = self.applied;
            self.applied += 1;
            let ev = &log[i];
            if !ev.applied {
                continue;
            }
            match &ev.op {
                RecordedOp::Create { path, node } => {
                    *self.node(*node) = Node::default();
                    self.paths.insert(path.clone(), *node);
                }
                RecordedOp::Remove { path } => {
                    self.paths.remove(path);
                }
                RecordedOp::Rename { from, to } => {
                    if let Some(n) = self.paths.remove(from) {
                        self.paths.insert(to.clone(), n);
                    }
                }
                RecordedOp::SyncDir { .. } => {}
                RecordedOp::Sync { node } => {
                    if power {
                        let m = self.node(*node);
                        m.durable.clone_from(&m.current);
                        m.pending.clear();
                    }
                }
                op => {
                    if let Some((node, p)) = pending_of(op) {
                        let m = self.node(node);
                        apply(&mut m.current, p);
                        if power {
                            m.pending.push(i);
                        }
                    }
                }
            }
        }
    }

    /// The disk a crash at event `n` (1-based; the model must be advanced to `n - 1`)
    /// leaves, drawing power-loss choices from `seed` as `FaultVfs` does.
    fn image(&self, log: &[RecordedEvent], n: u64, seed: u64) -> MemVfs {
        let image = MemVfs::new();
        match self.kind {
            CrashKind::ProcessKill => {
                for (path, &node) in &self.paths {
                    image.write_file(path, &self.nodes[node].current);
                }
            }
            // The replay model keeps directory changes durable at once (as `PowerLoss` does);
            // lost directory changes are exercised by `crash::run` with `FaultVfs`.
            CrashKind::PowerLoss | CrashKind::PowerLossUnsyncedDirs => {
                // fault_vfs.rs: the interrupted write or resize counts as an unsynced op.
                let interrupted = pending_of(&log[n as usize - 1].op);
                let mut rng = SplitMix64::new(seed ^ n.wrapping_mul(0x9E37_79B9));
                for (path, &node) in &self.paths {
                    let m = &self.nodes[node];
                    let mut ops: Vec<Pending<'_>> = m
                        .pending
                        .iter()
                        .filter_map(|&i| pending_of(&log[i].op).map(|(_, p)| p))
                        .collect();
                    if let Some((inode, p)) = interrupted {
                        if inode == node {
                            ops.push(p);
                        }
                    }
                    image.write_file(path, &after_power_loss(&m.durable, &ops, &mut rng));
                }
            }
        }
        image
    }
}

/// Runs `workload` once over a [`RecordingVfs`], then checks a crash at every event by
/// rebuilding its image (see the module docs). Same contract as [`crate::crash::run`]:
/// `progress(done, total)` after each crash point; fails only when the workload fails on its
/// own (no crash is injected while recording), or for `Durability::None`
/// ([`Error::BadArgument`]).
///
/// # Example
///
/// The same workload as [`crate::crash::run`]'s example, checked by replay: the same crash
/// points, one workload run.
///
/// ```
/// use std::sync::Arc;
/// use pydbm_engine::crash::{self, CrashConfig};
/// use pydbm_engine::crash_replay::run_replay;
/// use pydbm_engine::{Durability, FileSpec, LockKind, LockMode, Pager, PagerOptions, Result, Vfs};
///
/// fn pager(vfs: Arc<dyn Vfs>) -> Result<Pager> {
///     let opts = PagerOptions {
///         durability: Durability::Process,
///         lock: Some((LockKind::Flock, LockMode::Exclusive)),
///         ..PagerOptions::default()
///     };
///     Pager::open(vfs, vec![FileSpec::new("/db/log")], opts)
/// }
/// // Appends a 100-byte record per step; the state is the file's length.
/// let workload = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(u64)| -> Result<()> {
///     let mut p = pager(vfs)?;
///     committed(0);
///     for i in 0..5u64 {
///         p.write_at(0, i * 100, &[i as u8; 100])?;
///         p.commit()?;
///         committed(p.len(0));
///     }
///     p.close()
/// };
/// let read_state = |vfs: Arc<dyn Vfs>| -> Result<u64> { Ok(pager(vfs)?.len(0)) };
/// let cfg = CrashConfig { seed: 3, durability: Durability::Process, max_points: None };
/// let replayed = run_replay(cfg, &workload, &read_state, &mut |_, _| {})?;
/// let rerun = crash::run(cfg, &workload, &read_state, &mut |_, _| {})?;
/// assert_eq!(replayed.violations, 0, "{:?}", replayed.details);
/// assert_eq!(replayed.crash_points, rerun.crash_points);
/// assert_eq!(rerun.violations, 0);
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
pub fn run_replay<S: Clone + PartialEq + Debug>(
    cfg: CrashConfig,
    workload: Workload<'_, S>,
    read_state: ReadState<'_, S>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    let kind = match cfg.durability {
        Durability::Full => CrashKind::PowerLoss,
        Durability::Process => CrashKind::ProcessKill,
        Durability::None => {
            return Err(Error::BadArgument(
                "crash testing needs Durability::Process or Durability::Full".into(),
            ))
        }
    };
    let (log, states, _) = record(workload, true)?;
    let total = log.len() as u64;
    let mut report = CrashReport::default();
    // The determinism check: a counting run must repeat the events and states.
    let (_, again, counted) = record(workload, false)?;
    if again != states || counted != total {
        report.violations += 1;
        report.details.push(format!(
            "the workload did not repeat its events and states (not deterministic): {} states over {total} events, then {} states over {counted}",
            states.len(),
            again.len()
        ));
    }
    let points: Vec<u64> = match cfg.max_points {
        Some(m) if m < total => (0..m).map(|i| 1 + i * total / m.max(1)).collect(),
        _ => (1..=total).collect(),
    };
    let mut model = Model::new(kind);
    // The same per-point seeds as crash::run draws.
    let mut rng = SplitMix64::new(cfg.seed);
    for (i, &n) in points.iter().enumerate() {
        let seed = rng.next_u64();
        model.advance(&log, n as usize - 1);
        let image: Arc<dyn Vfs> = Arc::new(model.image(&log, n, seed));
        // States reported before event n (the log notes the count at each event).
        let before = log[n as usize - 1].states_before.checked_sub(1);
        judge_point(&mut report, n, image, &states, before, read_state);
        progress(i as u64 + 1, points.len() as u64);
    }
    Ok(report)
}

/// Runs the workload over a fresh recording disk: the log (empty when `keep_log` is false)
/// the reported states, each with the event count when it was reported, and the event count.
type Recorded<S> = (Vec<RecordedEvent>, Vec<(u64, S)>, u64);

fn record<S>(workload: Workload<'_, S>, keep_log: bool) -> Result<Recorded<S>> {
    let rec = if keep_log {
        RecordingVfs::new(MemVfs::new())
    } else {
        RecordingVfs::counting(MemVfs::new())
    };
    let mut states: Vec<(u64, S)> = Vec::new();
    {
        let counter = rec.clone();
        let mut report = |s: S| {
            states.push((counter.events(), s));
            counter.note_state();
        };
        workload(Arc::new(rec.clone()), &mut report)?;
    }
    Ok((rec.take_events(), states, rec.events()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash;
    use crate::VfsOpen;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn read_len(vfs: Arc<dyn Vfs>) -> Result<u64> {
        vfs.open(Path::new("/f"), VfsOpen::READ)?.len()
    }

    fn torn(vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(u64)) -> Result<()> {
        // Appends without any journal: a kill between two writes of one "operation" leaves
        // a length no committed state had.
        let f = vfs.open(Path::new("/f"), VfsOpen::CREATE)?;
        committed(0);
        for i in 0..4u64 {
            f.write_at(b"ab", i * 4)?;
            f.write_at(b"cd", i * 4 + 2)?;
            committed(i * 4 + 4);
        }
        Ok(())
    }

    const CFG: CrashConfig = CrashConfig {
        seed: 1,
        durability: Durability::Process,
        max_points: None,
    };

    #[test]
    fn unprotected_writes_are_violations_like_the_rerunning_harness() {
        let r = run_replay(CFG, &torn, &read_len, &mut |_, _| {}).unwrap();
        assert_eq!(r.crash_points, 9);
        assert_eq!(r.violations, 4, "{:?}", r.details);
        let slow = crash::run(CFG, &torn, &read_len, &mut |_, _| {}).unwrap();
        assert_eq!(slow.details, r.details);
        assert!(run_replay(
            CrashConfig {
                durability: Durability::None,
                ..CFG
            },
            &torn,
            &read_len,
            &mut |_, _| {}
        )
        .is_err());
    }

    #[test]
    fn a_drifting_workload_is_reported_not_deterministic() {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let drifting = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(u64)| -> Result<()> {
            let f = vfs.open(Path::new("/f"), VfsOpen::CREATE)?;
            if RUNS.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
                f.write_at(b"zz", 0)?;
            }
            committed(f.len()?);
            for i in 0..3 {
                f.write_at(b"abcd", i * 4)?;
                committed(i * 4 + 4);
            }
            Ok(())
        };
        let r = run_replay(CFG, &drifting, &read_len, &mut |_, _| {}).unwrap();
        assert!(
            r.details.iter().any(|d| d.contains("not deterministic")),
            "{:?}",
            r.details
        );
    }

    #[test]
    fn power_loss_images_equal_fault_vfs_images() {
        // The same workload crashed by FaultVfs and rebuilt by the replay model: byte-equal
        // disks at every point, for several seeds (renames, truncates and removes included).
        use crate::{FaultConfig, FaultVfs};
        fn w(vfs: &dyn Vfs) -> Result<()> {
            let f = vfs.open(Path::new("/a"), VfsOpen::CREATE)?;
            f.write_at(&[1; 1500], 0)?;
            f.sync()?;
            f.write_at(&[2; 1300], 300)?;
            f.set_len(900)?;
            f.write_at(&[3; 700], 800)?;
            vfs.rename(Path::new("/a"), Path::new("/b"))?;
            let g = vfs.open(Path::new("/c"), VfsOpen::CREATE)?;
            g.write_at(&[4; 600], 100)?;
            vfs.sync_dir(Path::new("/"))?;
            let h = vfs.open(
                Path::new("/b"),
                VfsOpen {
                    truncate: true,
                    ..VfsOpen::WRITE
                },
            )?;
            h.write_at(&[5; 10], 0)?;
            vfs.remove(Path::new("/c"))?;
            f.write_at(&[6; 1024], 512)?;
            Ok(())
        }
        for kind in [CrashKind::PowerLoss, CrashKind::ProcessKill] {
            let rec = RecordingVfs::new(MemVfs::new());
            w(&rec).unwrap();
            let log = rec.take_events();
            let mut model = Model::new(kind);
            for seed in 0..16u64 {
                for n in 1..=log.len() as u64 {
                    let fv = FaultVfs::new(
                        MemVfs::new(),
                        FaultConfig {
                            seed,
                            crash_at: Some(n),
                            kind,
                        },
                    );
                    assert!(w(&fv).is_err());
                    let want = fv.surviving_disk();
                    if model.applied > n as usize - 1 {
                        model = Model::new(kind);
                    }
                    model.advance(&log, n as usize - 1);
                    let got = model.image(&log, n, seed);
                    assert_eq!(got.paths(), want.paths(), "{kind:?} seed {seed} n {n}");
                    for p in want.paths() {
                        assert_eq!(
                            got.read_file(&p),
                            want.read_file(&p),
                            "{kind:?} seed {seed} n {n} {p:?}"
                        );
                    }
                }
            }
        }
    }
}
