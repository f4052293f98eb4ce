//! Crash-testing your own workload with the engine's fault-injecting file system.
//!
//! ```text
//! cargo run --example crash_test_workload
//! ```
//!
//! The workload is a tiny bank on a gdbm file: money moves between two accounts and the
//! total must never change. pydbm makes every single `insert` atomic, but an application
//! that updates two records for one transfer can still be caught between them. The crash
//! harness finds that:
//!
//! 1. [`crash_replay::run_replay`] runs the workload once over a recording file system, then
//!    rebuilds the disk a crash at *every* write and sync would leave (a killed process under
//!    `Durability::Process`, a power loss that drops, reorders and tears unsynced writes under
//!    `Durability::Full`), reopens each image (so pydbm's journal recovery runs) and checks
//!    that the balances read back are a state the workload had committed.
//! 2. [`FaultVfs`] reproduces one crash point by hand: crash at event `n`, take the
//!    `surviving_disk()` and look at it.
//!
//! The "two records per transfer" design fails both checks; keeping the ledger in one record
//! passes them (so would one transaction per transfer, once `Dbm::transaction` exists).
//! The program exits non-zero when the harness does not see exactly that.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use pydbm::engine::crash::CrashConfig;
use pydbm::engine::{crash_replay, CrashKind, CrashReport, FaultConfig, FaultVfs, MemVfs, Vfs};
use pydbm::formats::gnu::{self, GnuDb, GnuOptions};
use pydbm::{Dbm, Durability, OpenMode, OpenOptions, Result};

const LEDGER: &str = "/bank/ledger.gdbm";
const TOTAL: u64 = 100;

/// Balances by account name: the state the harness compares.
type Balances = BTreeMap<String, u64>;

fn open(vfs: Arc<dyn Vfs>, mode: OpenMode, durability: Durability) -> Result<GnuDb> {
    let opts = OpenOptions {
        mode,
        durability,
        ..OpenOptions::default()
    };
    gnu::open_with(vfs, Path::new(LEDGER), &opts, GnuOptions::default())
}

/// The transfers both designs make: (from, to, amount).
fn transfers() -> Vec<(&'static str, &'static str, u64)> {
    (0..8)
        .map(|i| {
            if i % 3 == 2 {
                ("bob", "alice", 5 + i)
            } else {
                ("alice", "bob", 10 + i)
            }
        })
        .collect()
}

fn apply(balances: &mut Balances, (from, to, amount): (&str, &str, u64)) {
    *balances.get_mut(from).expect("both accounts exist") -= amount;
    *balances.get_mut(to).expect("both accounts exist") += amount;
}

fn opening_balances() -> Balances {
    Balances::from([("alice".to_string(), TOTAL), ("bob".to_string(), 0)])
}

/// A bank design: how it writes a transfer and how it reads the balances back.
trait Bank: Sync {
    fn name(&self) -> &'static str;
    fn write(&self, db: &mut GnuDb, balances: &Balances) -> Result<()>;
    fn read(&self, db: &mut GnuDb) -> Result<Balances>;
}

/// One record per account: a transfer is two inserts.
struct RecordPerAccount;

impl Bank for RecordPerAccount {
    fn name(&self) -> &'static str {
        "one record per account (two inserts per transfer)"
    }
    fn write(&self, db: &mut GnuDb, balances: &Balances) -> Result<()> {
        for (account, balance) in balances {
            db.insert(account.as_bytes(), balance.to_string().as_bytes())?;
        }
        Ok(())
    }
    fn read(&self, db: &mut GnuDb) -> Result<Balances> {
        let mut out = Balances::new();
        for key in db.keys()? {
            let value = db.get(&key)?.unwrap_or_default();
            let balance = String::from_utf8_lossy(&value).parse().unwrap_or(u64::MAX);
            out.insert(String::from_utf8_lossy(&key).into_owned(), balance);
        }
        Ok(out)
    }
}

/// The whole ledger in one record: a transfer is one atomic insert.
struct OneRecord;

impl Bank for OneRecord {
    fn name(&self) -> &'static str {
        "the ledger in one record (one insert per transfer)"
    }
    fn write(&self, db: &mut GnuDb, balances: &Balances) -> Result<()> {
        let text: Vec<String> = balances.iter().map(|(a, b)| format!("{a}={b}")).collect();
        db.insert(b"ledger", text.join(",").as_bytes())
    }
    fn read(&self, db: &mut GnuDb) -> Result<Balances> {
        let value = db.get(b"ledger")?.unwrap_or_default();
        let mut out = Balances::new();
        for pair in String::from_utf8_lossy(&value)
            .split(',')
            .filter(|p| !p.is_empty())
        {
            let (account, balance) = pair.split_once('=').unwrap_or((pair, ""));
            out.insert(account.to_string(), balance.parse().unwrap_or(u64::MAX));
        }
        Ok(out)
    }
}

/// The workload: create the file, open the accounts, make the transfers, reporting the
/// balances after each step.
fn workload(
    bank: &dyn Bank,
    durability: Durability,
    vfs: Arc<dyn Vfs>,
    committed: &mut dyn FnMut(Balances),
) -> Result<()> {
    let mut db = open(vfs, OpenMode::New, durability)?;
    committed(Balances::new()); // the new, empty file
    let mut balances = opening_balances();
    bank.write(&mut db, &balances)?;
    committed(balances.clone());
    for t in transfers() {
        apply(&mut balances, t);
        bank.write(&mut db, &balances)?;
        committed(balances.clone());
    }
    db.close()
}

/// Reads the balances from a rebooted disk (a writable open rolls back a hot journal).
fn read_back(bank: &dyn Bank, durability: Durability, vfs: Arc<dyn Vfs>) -> Result<Balances> {
    let mut db = open(vfs, OpenMode::Write, durability)?;
    bank.read(&mut db)
}

fn check_everywhere(bank: &dyn Bank, durability: Durability) -> Result<CrashReport> {
    let cfg = CrashConfig {
        seed: 2026,
        durability,
        max_points: None,
    };
    crash_replay::run_replay(
        cfg,
        &|vfs, committed| workload(bank, durability, vfs, committed),
        &|vfs| read_back(bank, durability, vfs),
        &mut |_, _| {},
    )
}

/// Finds the first event at which a killed process leaves money missing or made up, by
/// crashing a fresh run at each event in turn.
fn first_broken_total(bank: &dyn Bank) -> Result<Option<(u64, Balances)>> {
    let durability = Durability::Process;
    let counter = FaultVfs::new(
        MemVfs::new(),
        FaultConfig {
            seed: 1,
            crash_at: None,
            kind: CrashKind::ProcessKill,
        },
    );
    workload(bank, durability, Arc::new(counter.clone()), &mut |_| {})?;
    for n in 1..=counter.events() {
        let fault = FaultVfs::new(
            MemVfs::new(),
            FaultConfig {
                seed: n,
                crash_at: Some(n),
                kind: CrashKind::ProcessKill,
            },
        );
        // The run fails with "simulated crash" at event n.
        let _ = workload(bank, durability, Arc::new(fault.clone()), &mut |_| {});
        let disk: Arc<dyn Vfs> = Arc::new(fault.surviving_disk());
        if let Ok(balances) = read_back(bank, durability, disk) {
            if balances.len() == 2 && balances.values().sum::<u64>() != TOTAL {
                return Ok(Some((n, balances)));
            }
        }
    }
    Ok(None)
}

fn run() -> Result<bool> {
    let mut as_expected = true;
    let designs: [(&dyn Bank, bool); 2] = [(&RecordPerAccount, false), (&OneRecord, true)];
    for (bank, should_pass) in designs {
        println!("{}:", bank.name());
        for durability in [Durability::Process, Durability::Full] {
            let report = check_everywhere(bank, durability)?;
            println!(
                "  {durability:?}: {} crash points, {} violations",
                report.crash_points, report.violations
            );
            if let Some(line) = report.details.first() {
                println!("    e.g. {line}");
            }
            as_expected &= (report.violations == 0) == should_pass && report.crash_points > 0;
        }
        match first_broken_total(bank)? {
            Some((n, balances)) => {
                println!("  FaultVfs: a process killed at event {n} leaves {balances:?}");
                as_expected &= !should_pass;
            }
            None => {
                println!("  FaultVfs: no crash point changes the total");
                as_expected &= should_pass;
            }
        }
    }
    Ok(as_expected)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("crash_test_workload: the harness did not find what it should have");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("crash_test_workload: {e}");
            ExitCode::FAILURE
        }
    }
}
