//! The replay harness (`crash_replay::run_replay`) against the re-running one (`crash::run`):
//! on the same pager workloads they simulate the same crash points with the same verdicts,
//! and the replay catches the two deliberately broken pagers as `crash::run` does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pydbm_engine::crash::{self, CrashConfig};
use pydbm_engine::crash_replay::run_replay;
use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{
    CrashReport, Durability, FileSpec, LockKind, LockMode, Pager, PagerOptions, PagerTestFault,
    Result, Vfs,
};

/// Each file's bytes (`None`: absent).
type State = Vec<Option<Vec<u8>>>;

fn specs() -> Vec<FileSpec> {
    ["/db/main", "/db/side"].iter().map(FileSpec::new).collect()
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
    (0..p.file_count())
        .map(|f| {
            if !p.exists(f) {
                return Ok(None);
            }
            let mut buf = vec![0u8; p.len(f) as usize];
            p.read_at(f, 0, &mut buf)?;
            Ok(Some(buf))
        })
        .collect()
}

/// `ops` random page writes, resizes and removes from `seed`, committing every 1 to 3.
fn workload(
    seed: u64,
    ops: usize,
    durability: Durability,
    fault: Option<PagerTestFault>,
) -> impl Fn(Arc<dyn Vfs>, &mut dyn FnMut(State)) -> Result<()> {
    move |vfs, committed| {
        let mut rng = SplitMix64::new(seed);
        // The disk starts empty; the locked open then creates the primary file.
        committed(vec![None; 2]);
        let mut p = Pager::open(vfs, specs(), options(durability, fault))?;
        committed(read_all(&mut p)?);
        let mut until_commit = 1 + rng.below(3);
        for _ in 0..ops {
            let f = rng.below(2) as usize;
            match rng.below(12) {
                0..=8 => {
                    let off = rng.below(2000);
                    let len = 1 + rng.below(700) as usize;
                    let byte = rng.next_u64() as u8;
                    p.write_at(f, off, &vec![byte; len])?;
                }
                9 | 10 => p.set_len(f, rng.below(2000))?,
                _ => p.remove_file(f)?,
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

fn read_state(vfs: Arc<dyn Vfs>) -> Result<State> {
    // Recovery as `pydbm recover` runs it, then an unlocked open (which refuses a hot journal).
    Pager::recover(&*vfs, &specs()[0].path)?;
    let opts = PagerOptions {
        lock: None,
        ..options(Durability::Process, None)
    };
    let mut p = Pager::open(vfs, specs(), opts)?;
    read_all(&mut p)
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

/// The speed-up on one longer workload (prints both times; the replay must agree and win):
/// `cargo test -p pydbm-engine --test crash_replay -- --ignored --nocapture`.
#[test]
#[ignore]
fn replay_is_faster_on_a_long_workload() {
    let (slow, fast) = both(Durability::Full, None, 1, 200);
    assert_eq!(slow.crash_points, fast.crash_points);
    assert_eq!(slow.violations + fast.violations, 0);
}
