//! The crash-recovery harness every format reuses.
//!
//! [`run`] runs a deterministic workload once over a [`FaultVfs`] to count its events (writes
//! and syncs) and record the states it reports as committed; then, for every event `n`, runs
//! it again crashing at `n`, reopens the surviving disk with `read_state` (which opens the
//! format, so its recovery runs), and checks that the state read is the last state the
//! workload reported before the crash or the one it was committing when the crash hit.
//!
//! Rules for workloads: the same workload must make the same calls on every run (a run that
//! reports different states at different event counts than the reference run is reported as a
//! violation); it reports
//! a state with `committed(state)` right after each operation returns. Until the first report
//! nothing is promised, so a workload should report right after creating its database; a
//! crash before that first report accepts either an error from `read_state` or the first state.

use std::fmt::Debug;
use std::sync::Arc;

use crate::prng::SplitMix64;
use crate::{
    CrashKind, CrashReport, Durability, Error, FaultConfig, FaultVfs, MemVfs, Result, Vfs,
};

/// How a [`run`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashConfig {
    /// Seeds the fault injection (the workload has its own seed, if any).
    pub seed: u64,
    /// `Full`: power loss at each point; `Process`: a process kill. `None` promises nothing
    /// and is refused with [`Error::BadArgument`].
    pub durability: Durability,
    /// Run at most this many crash points, spread evenly over the events (`None`: all).
    pub max_points: Option<u64>,
}

/// At most this many violation lines are kept in a report.
pub const MAX_DETAILS: usize = 32;

/// A workload: does its operations on the given file system and reports committed states.
pub type Workload<'a, S> = &'a dyn Fn(Arc<dyn Vfs>, &mut dyn FnMut(S)) -> Result<()>;

/// Reads the state back from a surviving disk (opening the format runs its recovery).
pub type ReadState<'a, S> = &'a dyn Fn(Arc<dyn Vfs>) -> Result<S>;

/// Runs `workload` crashing at every event (see the module docs) and reports violations.
///
/// # Example
///
/// A workload that keeps a counter in a file through a [`crate::Pager`]; every crash point
/// must leave the last committed counter or the one being committed:
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use pydbm_engine::crash::{self, CrashConfig};
/// use pydbm_engine::{Durability, FileSpec, LockKind, LockMode, Pager, PagerOptions, Result, Vfs};
///
/// fn pager(vfs: Arc<dyn Vfs>) -> Result<Pager> {
///     let opts = PagerOptions {
///         durability: Durability::Full,
///         lock: Some((LockKind::Flock, LockMode::Exclusive)),
///         ..PagerOptions::default()
///     };
///     Pager::open(vfs, vec![FileSpec::new("/db/counter")], opts)
/// }
/// let workload = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(u64)| -> Result<()> {
///     let mut p = pager(vfs)?;
///     for i in 0..4u64 {
///         p.write_at(0, 0, &i.to_le_bytes())?;
///         p.commit()?;
///         committed(i);
///     }
///     p.close()
/// };
/// let read_state = |vfs: Arc<dyn Vfs>| -> Result<u64> {
///     let mut p = pager(vfs)?; // opening rolls back a hot journal
///     let mut b = [0u8; 8];
///     p.read_at(0, 0, &mut b)?;
///     Ok(u64::from_le_bytes(b))
/// };
/// let cfg = CrashConfig { seed: 1, durability: Durability::Full, max_points: None };
/// let report = crash::run(cfg, &workload, &read_state, &mut |_, _| {})?;
/// assert!(report.crash_points > 10);
/// assert_eq!(report.violations, 0, "{:?}", report.details);
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
/// Runs `workload` crashing at every event (see the module docs) and reports violations.
///
/// `progress(done, total)` is called after each crash point. Fails only when the workload
/// fails without a crash (a bug in the workload or the format), or for `Durability::None`.
pub fn run<S: Clone + PartialEq + Debug>(
    cfg: CrashConfig,
    workload: Workload<'_, S>,
    read_state: ReadState<'_, S>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    let kind = match cfg.durability {
        Durability::Full => CrashKind::PowerLoss,
        _ => CrashKind::ProcessKill,
    };
    run_with_kind(cfg, kind, workload, read_state, progress)
}

/// [`run`] with the crash kind chosen by the caller, e.g.
/// [`CrashKind::PowerLossUnsyncedDirs`] to also lose directory changes not yet synced
/// (`cfg.durability` must still be `Process` or `Full`, else [`Error::BadArgument`]).
pub fn run_with_kind<S: Clone + PartialEq + Debug>(
    cfg: CrashConfig,
    kind: CrashKind,
    workload: Workload<'_, S>,
    read_state: ReadState<'_, S>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    if cfg.durability == Durability::None {
        return Err(Error::BadArgument(
            "crash testing needs Durability::Process or Durability::Full".into(),
        ));
    }
    // Reference run: count events, note each committed state with the event count at it.
    let reference = FaultVfs::new(
        MemVfs::new(),
        FaultConfig {
            seed: cfg.seed,
            crash_at: None,
            kind,
        },
    );
    let mut states: Vec<(u64, S)> = Vec::new();
    {
        let counter = reference.clone();
        let mut report = |s: S| states.push((counter.events(), s));
        workload(Arc::new(reference.clone()), &mut report)?;
    }
    let total = reference.events();
    let points: Vec<u64> = match cfg.max_points {
        Some(m) if m < total => (0..m).map(|i| 1 + i * total / m.max(1)).collect(),
        _ => (1..=total).collect(),
    };
    let mut report = CrashReport::default();
    let mut rng = SplitMix64::new(cfg.seed);
    for (i, &n) in points.iter().enumerate() {
        let vfs = FaultVfs::new(
            MemVfs::new(),
            FaultConfig {
                seed: rng.next_u64(),
                crash_at: Some(n),
                kind,
            },
        );
        // The workload's result is the simulated crash (or success if it ended before n).
        let mut seen: Vec<(u64, S)> = Vec::new();
        {
            let counter = vfs.clone();
            let _ = workload(Arc::new(vfs.clone()), &mut |s| {
                seen.push((counter.events(), s))
            });
        }
        // Crash points are numbered by the reference run: a workload (or engine) whose events
        // differ between runs would make every verdict meaningless, so that is a violation.
        if seen[..] != states[..seen.len().min(states.len())] {
            report.crash_points += 1;
            report.violations += 1;
            if report.details.len() < MAX_DETAILS {
                report.details.push(format!(
                    "crash at event {n}: the workload did not repeat the reference run's events and states (not deterministic)"
                ));
            }
            progress(i as u64 + 1, points.len() as u64);
            continue;
        }
        let image: Arc<dyn Vfs> = Arc::new(vfs.surviving_disk());
        let before = states.iter().rposition(|(at, _)| *at < n);
        judge_point(&mut report, n, image, &states, before, read_state);
        progress(i as u64 + 1, points.len() as u64);
    }
    Ok(report)
}

/// Judges one crash point for both harnesses: recovers `image` with `read_state` and counts
/// a violation in `report` unless the result equals the state committed last before the
/// crash (`states[before]`) or the one after it (the operation in flight may have committed).
/// A recovery that fails before any state was committed is not a violation (there was
/// nothing to keep).
pub(crate) fn judge_point<S: PartialEq + Debug>(
    report: &mut CrashReport,
    n: u64,
    image: Arc<dyn Vfs>,
    states: &[(u64, S)],
    before: Option<usize>,
    read_state: ReadState<'_, S>,
) {
    let after = before.map_or(0, |b| b + 1);
    let allowed: Vec<&S> = before
        .into_iter()
        .chain(Some(after).filter(|&a| a < states.len()))
        .map(|k| &states[k].1)
        .collect();
    report.crash_points += 1;
    let verdict = match read_state(image) {
        Ok(s) if allowed.contains(&&s) => None,
        Ok(s) => Some(format!(
            "crash at event {n}: recovered state {} is not one of the committed states {}",
            clip(format!("{s:?}")),
            clip(format!("{allowed:?}"))
        )),
        Err(_) if before.is_none() => None,
        Err(e) => Some(format!("crash at event {n}: recovery failed: {e}")),
    };
    if let Some(line) = verdict {
        report.violations += 1;
        if report.details.len() < MAX_DETAILS {
            report.details.push(line);
        }
    }
}

/// Shortens a debug rendering for a report line.
fn clip(mut s: String) -> String {
    const MAX: usize = 300;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VfsOpen;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn read_len(vfs: Arc<dyn Vfs>) -> Result<u64> {
        vfs.open(Path::new("/f"), VfsOpen::READ)?.len()
    }

    #[test]
    fn unprotected_writes_are_violations_and_nondeterminism_is_caught() {
        // Appends without any journal: a kill between two writes of one "operation" leaves
        // a length no committed state had.
        let torn = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(u64)| -> Result<()> {
            let f = vfs.open(Path::new("/f"), VfsOpen::CREATE)?;
            committed(0);
            for i in 0..4u64 {
                f.write_at(b"ab", i * 4)?;
                f.write_at(b"cd", i * 4 + 2)?;
                committed(i * 4 + 4);
            }
            Ok(())
        };
        let cfg = CrashConfig {
            seed: 1,
            durability: Durability::Process,
            max_points: None,
        };
        let r = run(cfg, &torn, &read_len, &mut |_, _| {}).unwrap();
        assert_eq!(r.crash_points, 9);
        assert_eq!(r.violations, 4, "{:?}", r.details);

        static RUNS: AtomicU64 = AtomicU64::new(0);
        let drifting = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(u64)| -> Result<()> {
            let f = vfs.open(Path::new("/f"), VfsOpen::CREATE)?;
            // Every other run makes one more write before its first report.
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
        let r = run(cfg, &drifting, &read_len, &mut |_, _| {}).unwrap();
        assert!(
            r.details.iter().any(|d| d.contains("not deterministic")),
            "{:?}",
            r.details
        );
        assert!(run(
            CrashConfig {
                durability: Durability::None,
                ..cfg
            },
            &torn,
            &read_len,
            &mut |_, _| {}
        )
        .is_err());
    }
}
