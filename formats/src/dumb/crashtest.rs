//! `pydbm crashtest --type dumb`: random workloads over the engine's fault-injecting file
//! system, crashed at every write and sync, checked by the engine's linear-time crash harness
//! ([`pydbm_engine::crash_replay::run_replay`]: one recorded run per workload, every crash
//! image rebuilt from the log).
//!
//! The database is opened through [`Format::open_in`]
//! (the path `Format::open` takes, over the fault-injecting file system instead of the OS).
//!
//! The state compared is the raw content of `.dat`, `.dir` and `.bak` (a digest of each, with
//! its existence and length): after any crash and recovery the triple must equal the triple
//! after the last completed operation, or after the one in flight. Reading the state first
//! rolls back a hot journal ([`Pager::recover`]) and then opens the database read-only as
//! pydbm would, so a triple pydbm cannot open is a violation too.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use pydbm_engine::crash::{self, CrashConfig};
use pydbm_engine::crash_replay::run_replay;
use pydbm_engine::prng::SplitMix64;
use pydbm_engine::Format;
use pydbm_engine::{CrashReport, Durability, OpenOptions, Pager, Result, Vfs};

use super::db::file_paths;
use super::format::{read_file, FORMAT};

/// Operations per independent workload (each from a fresh database). The replay harness is
/// linear in a workload's length; workloads stay short so the files (copied once per crash
/// point) stay small and every run also crashes during creation.
pub const OPS_PER_WORKLOAD: u64 = 40;

/// Digest of one file: `None` when absent, else (length, 64-bit SipHash of the bytes).
type FileDigest = Option<(u64, u64)>;

/// The state compared by the harness: the three files' digests.
pub type TripleState = [FileDigest; 3];

fn digest(data: &Option<Vec<u8>>) -> FileDigest {
    data.as_ref().map(|d| {
        // DefaultHasher::new() instances are all keyed alike: equal bytes, equal digests.
        let mut h = std::hash::DefaultHasher::new();
        d.hash(&mut h);
        (d.len() as u64, h.finish())
    })
}

fn snapshot(vfs: &dyn Vfs, name: &Path) -> Result<TripleState> {
    let paths = file_paths(name);
    Ok([
        digest(&read_file(vfs, &paths[0])?),
        digest(&read_file(vfs, &paths[1])?),
        digest(&read_file(vfs, &paths[2])?),
    ])
}

fn options(flag: &str, durability: Durability) -> OpenOptions {
    let mut o = OpenOptions::from_flag(flag).expect("crashtest flags are valid");
    o.durability = durability;
    o.no_lock = true;
    o
}

const KEYS: [&[u8]; 10] = [
    b"",
    b"a",
    b"key",
    b"caf\xc3\xa9",
    b"\xff\x00'\"\\\n",
    b"it's",
    b"\x7f\xa0\xad",
    b"long-key-long-key-long-key",
    b"k9",
    b"\x00",
];

/// One workload: `ops` random operations from `seed` on a fresh database `/crash/db`,
/// reporting the triple after each.
fn workload(
    vfs: Arc<dyn Vfs>,
    committed: &mut dyn FnMut(TripleState),
    seed: u64,
    ops: u64,
    durability: Durability,
) -> Result<()> {
    let name = Path::new("/crash/db");
    let mut rng = SplitMix64::new(seed);
    let mut db = FORMAT.open_in(vfs.clone(), name, &options("c", durability))?;
    committed(snapshot(&*vfs, name)?);
    for _ in 0..ops {
        let key = KEYS[rng.below(KEYS.len() as u64) as usize];
        match rng.below(100) {
            0..=49 => {
                let len = match rng.below(10) {
                    0 => 0,
                    1..=6 => rng.below(200),
                    _ => rng.below(2500),
                } as usize;
                let fill = rng.next_u64() as u8;
                db.insert(key, &vec![fill; len])?;
            }
            50..=64 => {
                db.remove(key)?;
            }
            65..=76 => db.sync()?,
            77..=86 => {
                db.close()?;
                db = FORMAT.open_in(vfs.clone(), name, &options("w", durability))?;
            }
            87..=89 => db.reorganize()?,
            _ => {
                db.get(key)?;
            }
        }
        committed(snapshot(&*vfs, name)?);
    }
    db.close()?;
    committed(snapshot(&*vfs, name)?);
    Ok(())
}

/// Recovery as a user would run it, then the raw triple; fails when pydbm cannot open it.
fn read_state(vfs: Arc<dyn Vfs>) -> Result<TripleState> {
    let name = Path::new("/crash/db");
    Pager::recover(&*vfs, &file_paths(name)[0])?;
    let mut db = FORMAT.open_in(vfs.clone(), name, &options("r", Durability::Process))?;
    let keys = db.keys()?;
    for k in &keys {
        db.get(k)?;
    }
    db.close()?;
    snapshot(&*vfs, name)
}

/// Runs `ceil(ops / OPS_PER_WORKLOAD)` workloads (seeds derived from `seed`) through
/// [`run_replay`] and sums their reports. `durability` must be `Process` (process kill at each
/// point) or `Full` (power loss); `None` is refused by the harness.
pub fn run(
    ops: u64,
    seed: u64,
    durability: Durability,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    let runs = ops.div_ceil(OPS_PER_WORKLOAD).max(1);
    let mut seeds = SplitMix64::new(seed);
    let mut total = CrashReport::default();
    for r in 0..runs {
        let wseed = seeds.next_u64();
        let wops = OPS_PER_WORKLOAD
            .min(ops.saturating_sub(r * OPS_PER_WORKLOAD))
            .max(1);
        let w = |vfs: Arc<dyn Vfs>, committed: &mut dyn FnMut(TripleState)| {
            workload(vfs, committed, wseed, wops, durability)
        };
        let report = run_replay(
            CrashConfig {
                seed: seeds.next_u64(),
                durability,
                max_points: None,
            },
            &w,
            &read_state,
            &mut |_, _| {},
        )?;
        total.crash_points += report.crash_points;
        total.violations += report.violations;
        for d in report.details {
            if total.details.len() < crash::MAX_DETAILS {
                total
                    .details
                    .push(format!("workload {r} (seed {wseed}): {d}"));
            }
        }
        progress(r + 1, runs);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_kill_at_every_point_leaves_a_committed_triple() {
        let report = run(80, 7, Durability::Process, &mut |_, _| {}).unwrap();
        assert!(report.crash_points > 200, "{report:?}");
        assert_eq!(report.violations, 0, "{:#?}", report.details);
    }

    #[test]
    fn power_loss_at_every_point_leaves_a_committed_triple() {
        let report = run(40, 11, Durability::Full, &mut |_, _| {}).unwrap();
        assert!(report.crash_points > 100, "{report:?}");
        assert_eq!(report.violations, 0, "{:#?}", report.details);
    }
}
