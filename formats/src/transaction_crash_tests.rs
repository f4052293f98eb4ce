//! Crash-atomicity of transactions over the fault-injecting file layer (issue 18): a
//! transaction of many inserts, overwrites and deletes on gnu, ndbm and dumb, crashed at
//! every write and sync of the run (`pydbm_engine::crash`), recovers to the state before
//! the transaction or the state after it — also when the page cache is too small for the
//! transaction, so dirty pages are evicted (journal first) before the commit.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pydbm_engine::crash::{self, CrashConfig};
use pydbm_engine::{Dbm, Durability, OpenMode, OpenOptions, Result, Vfs};

use crate::dumb::DumbDb;
use crate::gnu::{self, GnuOptions};
use crate::ndbm::NdbmDb;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

const PATH: &str = "/d/db";

fn opts(mode: OpenMode, durability: Durability) -> OpenOptions {
    OpenOptions {
        mode,
        durability,
        ..OpenOptions::default()
    }
}

fn open(format: &str, vfs: Arc<dyn Vfs>, o: &OpenOptions) -> Result<Box<dyn Dbm>> {
    let path = Path::new(PATH);
    Ok(match format {
        "gnu" => Box::new(gnu::open_with(
            vfs,
            path,
            o,
            GnuOptions {
                block_size: 512,
                // A few pages: the transaction's dirty pages are evicted before its commit.
                cache_bytes: 16 << 10,
                ..GnuOptions::default()
            },
        )?),
        "ndbm" => Box::new(NdbmDb::open_with(vfs, path, o)?),
        _ => Box::new(DumbDb::open_in(vfs, path, o)?),
    })
}

fn state(db: &mut Box<dyn Dbm>) -> Result<State> {
    db.iter().collect()
}

fn value(i: usize) -> Vec<u8> {
    vec![(i * 7) as u8; 20 + (i * 53) % 700]
}

/// Base records (committed one by one), then one transaction of `n` operations.
fn workload(
    format: &str,
    durability: Durability,
    n: usize,
    vfs: Arc<dyn Vfs>,
    committed: &mut dyn FnMut(State),
) -> Result<()> {
    let mut db = open(format, vfs, &opts(OpenMode::New, durability))?;
    let mut model = State::new();
    committed(model.clone());
    for i in 0..10 {
        let k = format!("base{i}").into_bytes();
        db.insert(&k, &value(i))?;
        model.insert(k, value(i));
        committed(model.clone());
    }
    let mut txn = db.transaction()?;
    for i in 0..n {
        let k = if i % 10 == 3 {
            format!("base{}", i % 7).into_bytes()
        } else {
            format!("txn{i}").into_bytes()
        };
        txn.insert(&k, &value(i + 1))?;
        model.insert(k, value(i + 1));
    }
    for i in 7..10 {
        let k = format!("base{i}").into_bytes();
        assert!(txn.remove(&k)?, "base key present");
        model.remove(&k);
    }
    txn.commit()?;
    committed(model);
    db.close()
}

fn check(format: &str, durability: Durability, n: usize) {
    let read_state = |vfs: Arc<dyn Vfs>| -> Result<State> {
        let mut db = open(format, vfs, &opts(OpenMode::Write, durability))?;
        let s = state(&mut db);
        db.close()?;
        s
    };
    let report = crash::run(
        CrashConfig {
            seed: 18,
            durability,
            max_points: Some(400),
        },
        &|vfs, committed| workload(format, durability, n, vfs, committed),
        &read_state,
        &mut |_, _| {},
    )
    .expect("the workload runs without a crash");
    assert!(report.crash_points > 20, "{format}: {report:?}");
    assert_eq!(
        report.violations,
        0,
        "{format} {durability:?}: {} crash points; first: {:.300}",
        report.crash_points,
        report.details.first().map(String::as_str).unwrap_or("")
    );
}

#[test]
fn gnu_transaction_is_atomic_under_crashes() {
    check("gnu", Durability::Process, 300);
    check("gnu", Durability::Full, 120);
}

#[test]
fn ndbm_transaction_is_atomic_under_crashes() {
    check("ndbm", Durability::Process, 300);
    check("ndbm", Durability::Full, 120);
}

#[test]
fn dumb_transaction_is_atomic_under_crashes() {
    check("dumb", Durability::Process, 300);
    check("dumb", Durability::Full, 120);
}
