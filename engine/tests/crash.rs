//! The engine's crash-recovery suite: a random page-write workload over several files with
//! random commit points and rollbacks, crashed at every write and sync through `FaultVfs`, then reopened
//! (hot-journal rollback) and compared with the committed states.
//!
//! `Full` is checked under power loss (unsynced writes dropped, reordered, torn), `Process`
//! under a process kill. Two deliberately broken pagers prove the suite can fail.
//!
//! The same workloads also check the replay harness (`crash_replay::run_replay`) against the
//! re-running one (`crash::run`): the same crash points with the same verdicts, and the replay
//! catches the broken pagers as `crash::run` does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pydbm_engine::crash::{self, CrashConfig};
use pydbm_engine::crash_replay::run_replay;
use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{
    CrashKind, CrashReport, Durability, FileSpec, LockKind, LockMode, Pager, PagerOptions,
    PagerTestFault, Result, Vfs,
};

/// Each file's bytes (`None`: absent); prints as lengths and crc32s.
#[derive(Clone, PartialEq)]
struct State(Vec<Option<Vec<u8>>>);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|c| match c {
                None => "absent".to_string(),
                Some(b) => format!("{}B/{:08x}", b.len(), crc32fast::hash(b)),
            })
            .collect();
        write!(f, "[{}]", parts.join(" "))
    }
}

fn specs() -> Vec<FileSpec> {
    ["/db/main", "/db/side", "/db/extra"]
        .iter()
        .map(FileSpec::new)
        .collect()
}

fn options(durability: Durability, fault: Option<PagerTestFault>) -> PagerOptions {
    PagerOptions {
        page_size: 256,
        // Four pages: transactions overflow the cache, so evictions under the journal happen.
        cache_bytes: 4 * 256,
        durability,
        test_fault: fault,
        // Only a locked pager may roll back a hot journal.
        lock: Some((LockKind::None, LockMode::Exclusive)),
        ..PagerOptions::default()
    }
}

fn read_all(p: &mut Pager) -> Result<State> {
    let files: Result<Vec<Option<Vec<u8>>>> = (0..p.file_count())
        .map(|f| {
            if !p.exists(f) {
                return Ok(None);
            }
            let mut buf = vec![0u8; p.len(f) as usize];
            p.read_at(f, 0, &mut buf)?;
            Ok(Some(buf))
        })
        .collect();
    Ok(State(files?))
}

/// `ops` random operations from `seed`, committing every 1 to 3 operations.
fn workload(
    seed: u64,
    ops: usize,
    durability: Durability,
    fault: Option<PagerTestFault>,
) -> impl Fn(Arc<dyn Vfs>, &mut dyn FnMut(State)) -> Result<()> {
    move |vfs, committed| {
        let mut rng = SplitMix64::new(seed);
        // The disk starts empty; the locked open then creates the primary file.
        committed(State(vec![None; 3]));
        let mut p = Pager::open(vfs, specs(), options(durability, fault))?;
        committed(read_all(&mut p)?);
        let mut until_commit = 1 + rng.below(3);
        for _ in 0..ops {
            let f = rng.below(3) as usize;
            match rng.below(13) {
                0..=8 => {
                    let off = rng.below(3000);
                    let len = 1 + rng.below(700) as usize;
                    let byte = rng.next_u64() as u8;
                    let data: Vec<u8> = (0..len).map(|i| byte.wrapping_add(i as u8)).collect();
                    p.write_at(f, off, &data)?;
                }
                9 | 10 => p.set_len(f, rng.below(3000))?,
                11 => p.remove_file(f)?,
                _ => {
                    // Abandon the transaction: evicted pages, created and removed files
                    // are undone; the state is the last committed one again.
                    p.rollback()?;
                    committed(read_all(&mut p)?);
                    until_commit = 1 + rng.below(3);
                    continue;
                }
            }
            until_commit -= 1;
            if until_commit == 0 {
                p.commit()?;
                committed(read_all(&mut p)?);
                until_commit = 1 + rng.below(3);
            }
        }
        p.commit()?;
        committed(read_all(&mut p)?);
        p.close()
    }
}

fn read_state(durability: Durability) -> impl Fn(Arc<dyn Vfs>) -> Result<State> {
    move |vfs| {
        // Recovery as `pydbm recover` runs it (under the exclusive lock), then an unlocked
        // open, which would refuse a journal left hot.
        Pager::recover(&*vfs, &specs()[0].path)?;
        let opts = PagerOptions {
            lock: None,
            ..options(durability, None)
        };
        let mut p = Pager::open(vfs, specs(), opts)?;
        read_all(&mut p)
    }
}

/// Runs workloads from seed 0 up until `min_points` crash points have been simulated, with
/// the crash kind `run` picks for the durability (power loss for `Full`, a kill for `Process`).
fn suite(
    durability: Durability,
    fault: Option<PagerTestFault>,
    ops: usize,
    min_points: u64,
) -> CrashReport {
    let kind = match durability {
        Durability::Full => CrashKind::PowerLoss,
        _ => CrashKind::ProcessKill,
    };
    suite_with_kind(durability, kind, fault, ops, min_points)
}

fn suite_with_kind(
    durability: Durability,
    kind: CrashKind,
    fault: Option<PagerTestFault>,
    ops: usize,
    min_points: u64,
) -> CrashReport {
    let mut total = CrashReport::default();
    let mut seed = 0;
    while total.crash_points < min_points {
        let w = workload(seed, ops, durability, fault);
        let r = read_state(durability);
        let cfg = CrashConfig {
            seed: seed ^ 0x5eed,
            durability,
            max_points: None,
        };
        let rep = crash::run_with_kind(cfg, kind, &w, &r, &mut |_, _| {})
            .expect("workload runs without a crash");
        total.crash_points += rep.crash_points;
        total.violations += rep.violations;
        for d in rep.details {
            if total.details.len() < 8 {
                total.details.push(format!("workload seed {seed}: {d}"));
            }
        }
        seed += 1;
    }
    println!(
        "{durability:?} under {kind:?}{}: crash points: {}, violations: {}",
        fault.map(|f| format!(" with {f:?}")).unwrap_or_default(),
        total.crash_points,
        total.violations
    );
    for d in &total.details {
        println!("  {d}");
    }
    total
}

#[test]
fn full_durability_survives_power_loss_at_every_point() {
    let r = suite(Durability::Full, None, 12, 4_000);
    assert!(r.crash_points >= 4_000);
    assert_eq!(r.violations, 0, "{:#?}", r.details);
}

/// Power loss that also drops directory changes not yet synced: files created (also by an
/// eviction mid-transaction) or removed by a commit or a rollback must be durable before
/// the journal is invalidated.
#[test]
fn full_durability_survives_power_loss_losing_unsynced_directory_changes() {
    let r = suite_with_kind(
        Durability::Full,
        CrashKind::PowerLossUnsyncedDirs,
        None,
        12,
        4_000,
    );
    assert!(r.crash_points >= 4_000);
    assert_eq!(r.violations, 0, "{:#?}", r.details);
}

/// Proof the directory model can fail: a pager that never syncs directories loses files.
#[test]
fn suite_catches_a_skipped_directory_sync() {
    let r = suite_with_kind(
        Durability::Full,
        CrashKind::PowerLossUnsyncedDirs,
        Some(PagerTestFault::SkipDirSync),
        12,
        1_500,
    );
    assert!(
        r.violations > 0,
        "the broken pager passed {} crash points",
        r.crash_points
    );
}

#[test]
fn process_durability_survives_kill_at_every_point() {
    let r = suite(Durability::Process, None, 12, 5_000);
    assert!(r.crash_points >= 5_000);
    assert_eq!(r.violations, 0, "{:#?}", r.details);
}

/// Proof the suite can fail: without the journal fsync, power loss breaks atomicity.
#[test]
fn suite_catches_a_skipped_journal_sync() {
    let r = suite(
        Durability::Full,
        Some(PagerTestFault::SkipJournalSync),
        12,
        1_500,
    );
    assert!(
        r.violations > 0,
        "the broken pager passed {} crash points",
        r.crash_points
    );
}

/// Proof the suite can fail: pages written before the journal break atomicity under a kill.
#[test]
fn suite_catches_pages_written_before_the_journal() {
    let r = suite(
        Durability::Process,
        Some(PagerTestFault::PagesBeforeJournal),
        12,
        1_500,
    );
    assert!(
        r.violations > 0,
        "the broken pager passed {} crash points",
        r.crash_points
    );
}

/// The long run: `cargo test -p pydbm-engine --test crash -- --ignored --nocapture`.
#[test]
#[ignore]
fn long_run() {
    let a = suite_with_kind(
        Durability::Full,
        CrashKind::PowerLossUnsyncedDirs,
        None,
        40,
        200_000,
    );
    let b = suite(Durability::Process, None, 40, 200_000);
    assert_eq!(
        a.violations + b.violations,
        0,
        "{:#?} {:#?}",
        a.details,
        b.details
    );
}

/// Both harnesses over workloads from seeds `0..seeds`: (rerun totals, replay totals).
fn both(
    durability: Durability,
    fault: Option<PagerTestFault>,
    seeds: u64,
    ops: usize,
) -> (CrashReport, CrashReport) {
    let mut slow = CrashReport::default();
    let mut fast = CrashReport::default();
    let (mut t_slow, mut t_fast) = (Duration::ZERO, Duration::ZERO);
    for seed in 0..seeds {
        let w = workload(seed, ops, durability, fault);
        let read_state = read_state(durability);
        let cfg = CrashConfig {
            seed: seed ^ 0x5eed,
            durability,
            max_points: None,
        };
        let t = Instant::now();
        let a = crash::run(cfg, &w, &read_state, &mut |_, _| {}).expect("workload runs");
        t_slow += t.elapsed();
        let t = Instant::now();
        let b = run_replay(cfg, &w, &read_state, &mut |_, _| {}).expect("workload runs");
        t_fast += t.elapsed();
        assert_eq!(a.crash_points, b.crash_points, "seed {seed}");
        slow.crash_points += a.crash_points;
        slow.violations += a.violations;
        slow.details.extend(a.details);
        fast.crash_points += b.crash_points;
        fast.violations += b.violations;
        fast.details.extend(b.details);
    }
    println!(
        "{durability:?} {fault:?}: crash::run {} points {} violations in {t_slow:?}; run_replay {} points {} violations in {t_fast:?}",
        slow.crash_points, slow.violations, fast.crash_points, fast.violations
    );
    (slow, fast)
}

#[test]
fn replay_agrees_with_rerun_under_power_loss() {
    let (slow, fast) = both(Durability::Full, None, 6, 10);
    assert!(fast.crash_points > 200, "{fast:?}");
    assert_eq!(slow.violations, 0, "{:#?}", slow.details);
    assert_eq!(fast.violations, 0, "{:#?}", fast.details);
}

#[test]
fn replay_agrees_with_rerun_under_process_kill() {
    let (slow, fast) = both(Durability::Process, None, 6, 10);
    assert!(fast.crash_points > 200, "{fast:?}");
    assert_eq!(slow.violations, 0, "{:#?}", slow.details);
    assert_eq!(fast.violations, 0, "{:#?}", fast.details);
}

/// Without the journal fsync, power loss breaks atomicity: both harnesses must see it.
#[test]
fn replay_catches_a_skipped_journal_sync() {
    let (slow, fast) = both(
        Durability::Full,
        Some(PagerTestFault::SkipJournalSync),
        12,
        10,
    );
    assert!(slow.violations > 0, "crash::run missed it");
    assert!(fast.violations > 0, "run_replay missed it");
}

/// Pages written before the journal break atomicity under a kill: both must see it.
#[test]
fn replay_catches_pages_written_before_the_journal() {
    let (slow, fast) = both(
        Durability::Process,
        Some(PagerTestFault::PagesBeforeJournal),
        12,
        10,
    );
    assert!(slow.violations > 0, "crash::run missed it");
    assert!(fast.violations > 0, "run_replay missed it");
}

/// Why the replay harness is faster, asserted structurally rather than by timing: over one
/// longer workload (200 operations, power loss) `crash::run` re-executes the workload for
/// every crash point, `run_replay` executes it exactly twice (the recording and its
/// determinism check; crash_replay.rs module docs) and rebuilds each crash image from the
/// recording — with the same crash points and no violations in either.
#[test]
fn replay_runs_the_workload_once_where_rerun_runs_it_per_point() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let durability = Durability::Full;
    let w = workload(1, 200, durability, None);
    let read_state = read_state(durability);
    let cfg = CrashConfig {
        seed: 1 ^ 0x5eed,
        durability,
        max_points: None,
    };
    let runs = AtomicU64::new(0);
    let counted = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(State)| {
        runs.fetch_add(1, Ordering::Relaxed);
        w(vfs, committed)
    };
    let slow = crash::run(cfg, &counted, &read_state, &mut |_, _| {}).expect("workload runs");
    let rerun_runs = runs.swap(0, Ordering::Relaxed);
    let fast = run_replay(cfg, &counted, &read_state, &mut |_, _| {}).expect("workload runs");
    let replay_runs = runs.load(Ordering::Relaxed);
    assert_eq!(slow.crash_points, fast.crash_points);
    assert_eq!(slow.violations + fast.violations, 0, "{:#?}", slow.details);
    assert!(slow.crash_points > 100, "{slow:?}");
    assert_eq!(
        replay_runs, 2,
        "run_replay runs the workload to record it and to check it"
    );
    assert!(
        rerun_runs >= slow.crash_points,
        "crash::run ran the workload {rerun_runs} times for {} crash points",
        slow.crash_points
    );
}
