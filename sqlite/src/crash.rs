//! Crash testing SQLite through the engine VFS: a deterministic transactional workload over
//! the engine's file layer (via [`crate::vfs::EngineVfs`]), run by the engine's linear-time
//! [`pydbm_engine::crash_replay::run_replay`] harness: the workload runs once over a recording
//! file system, and for every write and sync the disk a crash there leaves is rebuilt and
//! opened, checking that SQLite's recovery (hot-journal rollback, WAL replay on the next
//! open) gives a committed state. Every byte SQLite stores goes through the engine VFS; the
//! wal-index lives in process memory keyed by file identity, and each rebuilt image is a new
//! in-memory disk, so no state leaks from the workload into a check.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pydbm_engine::crash::CrashConfig;
use pydbm_engine::crash_replay::run_replay;
use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{CrashReport, Durability, Error, Result, Vfs};

use crate::open::open_like_python;
use crate::vfs::EngineVfs;

/// The database's content: every `(k, v)` row of table `kv`, by `k`.
pub type KvState = Vec<(i64, Vec<u8>)>;

const DB: &str = "/crash/test.sqlite3";

fn wrap(e: crate::error::Error) -> Error {
    e.to_engine(Path::new(DB))
}

fn open(vfs: Arc<dyn Vfs>) -> Result<(EngineVfs, rusqlite::Connection)> {
    let handle = EngineVfs::register("pydbm-crash", vfs).map_err(wrap)?;
    let conn =
        open_like_python(DB, false, Duration::ZERO, 16, Some(handle.name())).map_err(wrap)?;
    Ok((handle, conn))
}

/// SQLite's journal mode for a crash test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    /// `journal_mode=DELETE`: rollback journal, deleted at commit.
    Delete,
    /// `journal_mode=WAL` (with the engine VFS's in-process wal-index).
    Wal,
}

/// Runs `ops` random transactions (each 1–4 inserts, updates or deletes of values up to
/// 3000 bytes, so pages split and free) in `mode` with `synchronous=FULL`, reporting the
/// model state after each commit.
pub fn workload(
    ops: u64,
    seed: u64,
    mode: JournalMode,
    vfs: Arc<dyn Vfs>,
    committed: &mut dyn FnMut(KvState),
) -> Result<()> {
    let (_handle, conn) = open(vfs)?;
    let e = |e: rusqlite::Error| wrap(e.into());
    let jm: String = conn
        .query_row(
            match mode {
                JournalMode::Delete => "PRAGMA journal_mode=DELETE",
                JournalMode::Wal => "PRAGMA journal_mode=WAL",
            },
            [],
            |r| r.get(0),
        )
        .map_err(e)?;
    if jm != format!("{mode:?}").to_lowercase() {
        return Err(Error::unsupported(
            DB,
            format!("journal_mode {mode:?} (got {jm})"),
        ));
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL; CREATE TABLE kv(k INTEGER PRIMARY KEY, v BLOB NOT NULL)",
    )
    .map_err(e)?;
    let mut model: std::collections::BTreeMap<i64, Vec<u8>> = Default::default();
    committed(Vec::new());
    let mut rng = SplitMix64::new(seed);
    for _ in 0..ops {
        let mut next = model.clone();
        conn.execute_batch("BEGIN").map_err(e)?;
        for _ in 0..1 + rng.below(4) {
            let k = rng.below(64) as i64;
            if rng.chance(1, 4) {
                conn.execute("DELETE FROM kv WHERE k = ?1", [k])
                    .map_err(e)?;
                next.remove(&k);
            } else {
                let len = rng.below(3000) as usize;
                let byte = rng.below(256) as u8;
                let v = vec![byte; len];
                conn.execute("REPLACE INTO kv(k, v) VALUES (?1, ?2)", (k, &v))
                    .map_err(e)?;
                next.insert(k, v);
            }
        }
        conn.execute_batch("COMMIT").map_err(e)?;
        model = next;
        committed(model.iter().map(|(k, v)| (*k, v.clone())).collect());
    }
    Ok(())
}

/// Opens the surviving disk (SQLite rolls back a hot journal here), requires
/// `PRAGMA integrity_check` to say `ok`, and reads table `kv`.
pub fn read_state(vfs: Arc<dyn Vfs>) -> Result<KvState> {
    let (_handle, conn) = open(vfs)?;
    let e = |e: rusqlite::Error| wrap(e.into());
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(e)?;
    if check != "ok" {
        return Err(Error::corrupt(
            DB,
            0,
            format!("integrity_check ok, got {check}"),
        ));
    }
    let mut st = conn.prepare("SELECT k, v FROM kv ORDER BY k").map_err(e)?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(e)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(e)?;
    Ok(rows)
}

/// Crash-tests `ops` transactions from `seed` under power loss (`Durability::Full`): every
/// write and sync of SQLite is a crash point. Half the transactions run in rollback-journal
/// mode, half in WAL mode (two workloads, one report).
pub fn crashtest(ops: u64, seed: u64, progress: &mut dyn FnMut(u64, u64)) -> Result<CrashReport> {
    let half = ops.div_ceil(2);
    let mut total = CrashReport::default();
    for (mode, n) in [(JournalMode::Delete, half), (JournalMode::Wal, ops - half)] {
        let r = crashtest_mode(n, seed, mode, progress)?;
        total.crash_points += r.crash_points;
        total.violations += r.violations;
        total.details.extend(r.details);
        total.details.truncate(pydbm_engine::crash::MAX_DETAILS);
    }
    Ok(total)
}

/// Crash-tests `ops` transactions from `seed` in journal mode `mode` under power loss
/// (`Durability::Full`), every write and sync a crash point; each violation line starts
/// with the mode. Zero `ops` is an empty report.
pub fn crashtest_mode(
    ops: u64,
    seed: u64,
    mode: JournalMode,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CrashReport> {
    if ops == 0 {
        return Ok(CrashReport::default());
    }
    let mut r = run_replay(
        CrashConfig {
            seed,
            durability: Durability::Full,
            max_points: None,
        },
        &|vfs, committed| workload(ops, seed, mode, vfs, committed),
        &read_state,
        progress,
    )?;
    for d in &mut r.details {
        *d = format!("{mode:?}: {d}");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_recovers_a_committed_state_at_every_crash_point() {
        let mut last = (0, 0);
        let report = crashtest(16, 7, &mut |d, t| last = (d, t)).unwrap();
        assert!(report.crash_points > 50, "{report:?}");
        assert_eq!(report.violations, 0, "{:#?}", report.details);
        assert_eq!(last.0, last.1);
    }

    #[test]
    fn process_kill_also_recovers() {
        let report = run_replay(
            CrashConfig {
                seed: 3,
                durability: Durability::Process,
                max_points: None,
            },
            &|vfs, committed| workload(6, 3, JournalMode::Wal, vfs, committed),
            &read_state,
            &mut |_, _| {},
        )
        .unwrap();
        assert!(report.crash_points > 20);
        assert_eq!(report.violations, 0, "{:#?}", report.details);
    }
}
