//! Crash-testing `dbm.sqlite3` the way every other format is crash-tested: a workload of
//! inserts, removes and multi-operation transactions on a handle opened through
//! [`Format::open_in`] over the engine's fault-injecting file layer (so through
//! [`crate::vfs::EngineVfs`]: every byte SQLite stores, its WAL and its locks go through the
//! engine), run by the engine's harnesses ([`pydbm_engine::crash::run`], re-running the
//! workload per crash point, and [`pydbm_engine::crash_replay::run_replay`], recording it
//! once). At each crash point the surviving disk is reopened through the same `open_in` (SQLite
//! replays the WAL or rolls back a hot journal there), `PRAGMA integrity_check` must say `ok`,
//! and the records must be the state committed last before the crash or the one in flight.
//!
//! The workload is the Python-shaped one: `dbm.sqlite3`'s schema in WAL mode, `synchronous`
//! from the durability (`Full` → `FULL` against power loss, `Process` → `NORMAL` against a
//! killed process).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pydbm_engine::crash::CrashConfig;
use pydbm_engine::crash_replay::run_replay;
use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{
    CrashReport, Dbm, Durability, Error, Format, OpenMode, OpenOptions, Result, Vfs,
};

use crate::dbm::{SqliteDbm, FORMAT};

/// The records of the database, by key.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Where the workload keeps its database on the crash-test disk.
pub const PATH: &str = "/crash/db.sqlite3";

/// The open options of the workload and of the recovery: `mode` at `durability`, failing
/// at once on a lock (nothing else holds one).
fn options(mode: OpenMode, durability: Durability) -> OpenOptions {
    OpenOptions {
        mode,
        durability,
        lock_timeout: Some(Duration::ZERO),
        ..OpenOptions::default()
    }
}

/// A value of 0–3000 bytes, so records overflow pages and free them again.
fn value(rng: &mut SplitMix64) -> Vec<u8> {
    let len = rng.below(3000) as usize;
    let byte = rng.below(256) as u8;
    vec![byte; len]
}

/// One of 48 keys, so inserts overwrite and removes find their key often.
fn key(rng: &mut SplitMix64) -> Vec<u8> {
    format!("key{:02}", rng.below(48)).into_bytes()
}

/// `ops` operations from `seed` on a new database opened with [`FORMAT`]`.open_in(vfs, …)`
/// at `durability`, reporting the records after each: single inserts (half), single removes
/// (a quarter) and transactions of 2–40 inserts, overwrites and removes (a quarter), one in
/// four of which is dropped instead of committed (rolled back: the state stays). Then it
/// closes the handle, reopens the database and compares (an `Err` when it differs).
pub fn workload(
    ops: u64,
    seed: u64,
    durability: Durability,
    vfs: Arc<dyn Vfs>,
    committed: &mut dyn FnMut(State),
) -> Result<()> {
    let vfs_of_reopen = vfs.clone();
    let mut db = FORMAT.open_in(vfs, Path::new(PATH), &options(OpenMode::New, durability))?;
    let mut model = State::new();
    committed(model.clone());
    let mut rng = SplitMix64::new(seed);
    for _ in 0..ops {
        match rng.below(4) {
            0 => {
                let k = key(&mut rng);
                let removed = db.remove(&k)?;
                if removed != model.remove(&k).is_some() {
                    return Err(Error::BadArgument(format!(
                        "remove({k:?}) said {removed}, the model disagrees"
                    )));
                }
            }
            1 => {
                let mut next = model.clone();
                let mut txn = db.transaction()?;
                for _ in 0..2 + rng.below(39) {
                    let k = key(&mut rng);
                    if rng.chance(1, 4) {
                        txn.remove(&k)?;
                        next.remove(&k);
                    } else {
                        let v = value(&mut rng);
                        txn.insert(&k, &v)?;
                        next.insert(k, v);
                    }
                }
                if rng.chance(1, 4) {
                    drop(txn);
                } else {
                    txn.commit()?;
                    model = next;
                }
            }
            _ => {
                let (k, v) = (key(&mut rng), value(&mut rng));
                db.insert(&k, &v)?;
                model.insert(k, v);
            }
        }
        committed(model.clone());
    }
    db.close()?;
    reopen_and_compare(vfs_of_reopen, durability, &model)
}

/// Reopens the closed database and requires the records to be `model`. Besides checking
/// the close itself (its checkpoint), this gives the harness crash points after the close
/// (the reopen creates `-wal` and `-shm`), so the image the close left is judged too.
fn reopen_and_compare(vfs: Arc<dyn Vfs>, durability: Durability, model: &State) -> Result<()> {
    let mut db = FORMAT.open_in(vfs, Path::new(PATH), &options(OpenMode::Write, durability))?;
    let state = db.iter().collect::<Result<State>>()?;
    db.close()?;
    if &state != model {
        return Err(Error::corrupt(
            PATH,
            0,
            format!(
                "the {} records written before the close (reopened: {} records)",
                model.len(),
                state.len()
            ),
        ));
    }
    Ok(())
}

/// Reopens the surviving disk through [`SqliteDbm::open_in`] (what [`FORMAT`]`.open_in`
/// runs; SQLite recovers the WAL or a hot journal here), requires `PRAGMA integrity_check`
/// to say `ok`, and reads every record through the cursor.
pub fn read_state(vfs: Arc<dyn Vfs>, durability: Durability) -> Result<State> {
    let path = Path::new(PATH);
    let mut db = SqliteDbm::open_in(vfs, path, &options(OpenMode::Write, durability))?;
    let problems = db.integrity_check()?;
    if problems != ["ok"] {
        return Err(Error::corrupt(
            path,
            0,
            format!("integrity_check ok, got {problems:?}"),
        ));
    }
    let state = db.iter().collect::<Result<State>>()?;
    db.close()?;
    Ok(state)
}

/// Crash-tests `ops` operations from `seed` with [`run_replay`]: power loss at every write
/// and sync for `Durability::Full`, a killed process for `Durability::Process`.
pub fn crashtest(
    ops: u64,
    seed: u64,
    durability: Durability,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    run_replay(
        CrashConfig {
            seed,
            durability,
            max_points: None,
        },
        &|vfs, committed| workload(ops, seed, durability, vfs, committed),
        &|vfs| read_state(vfs, durability),
        progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::crash;

    fn assert_clean(what: &str, report: &CrashReport, min_points: u64) {
        assert!(report.crash_points >= min_points, "{what}: {report:?}");
        assert_eq!(
            report.violations, 0,
            "{what}: {} crash points; {:#?}",
            report.crash_points, report.details
        );
    }

    /// The recording harness, every crash point: power loss and process kill.
    #[test]
    fn every_crash_point_recovers_a_committed_state() {
        let full = crashtest(80, 11, Durability::Full, &mut |_, _| {}).unwrap();
        eprintln!("dbm.sqlite3 replay, power loss: {full:?}");
        assert_clean("power loss", &full, 800);
        let kill = crashtest(80, 12, Durability::Process, &mut |_, _| {}).unwrap();
        eprintln!("dbm.sqlite3 replay, process kill: {kill:?}");
        assert_clean("process kill", &kill, 800);
    }

    /// The re-running harness over `FaultVfs` itself (the workload runs again per crash
    /// point, crashing there): a transaction of 300 inserts, overwrites and removes after
    /// ten single inserts is all there or not there at all.
    #[test]
    fn a_large_transaction_is_atomic_under_faultvfs_crashes() {
        fn txn_workload(
            durability: Durability,
            vfs: Arc<dyn Vfs>,
            committed: &mut dyn FnMut(State),
        ) -> Result<()> {
            let path = Path::new(PATH);
            let vfs_of_reopen = vfs.clone();
            let mut db = FORMAT.open_in(vfs, path, &options(OpenMode::New, durability))?;
            let mut model = State::new();
            committed(model.clone());
            let val = |i: usize| vec![(i * 7) as u8; 20 + (i * 53) % 700];
            for i in 0..10 {
                let k = format!("base{i}").into_bytes();
                db.insert(&k, &val(i))?;
                model.insert(k, val(i));
                committed(model.clone());
            }
            let mut txn = db.transaction()?;
            for i in 0..300 {
                let k = if i % 10 == 3 {
                    format!("base{}", i % 7).into_bytes()
                } else {
                    format!("txn{i}").into_bytes()
                };
                txn.insert(&k, &val(i + 1))?;
                model.insert(k, val(i + 1));
            }
            for i in 7..10 {
                let k = format!("base{i}").into_bytes();
                if !txn.remove(&k)? {
                    return Err(Error::BadArgument(format!("base{i} missing")));
                }
                model.remove(&k);
            }
            txn.commit()?;
            committed(model.clone());
            db.close()?;
            reopen_and_compare(vfs_of_reopen, durability, &model)
        }
        for durability in [Durability::Process, Durability::Full] {
            let report = crash::run(
                CrashConfig {
                    seed: 18,
                    durability,
                    max_points: None,
                },
                &|vfs, committed| txn_workload(durability, vfs, committed),
                &|vfs| read_state(vfs, durability),
                &mut |_, _| {},
            )
            .unwrap();
            eprintln!("dbm.sqlite3 transaction, FaultVfs {durability:?}: {report:?}");
            assert_clean(&format!("{durability:?}"), &report, 150);
        }
    }
}
