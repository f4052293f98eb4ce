//! Uses pydbm the way an embedding program does, on gnu, ndbm, dumb and dbm.sqlite3: a
//! committed transaction, a dropped one (rolled back), an explicit rollback, and a lazy
//! cursor. Exits 1 with a message on any difference.

use std::path::Path;
use std::process::ExitCode;

use pydbm::{Dbm, Durability, Options};

fn exercise(name: &str, db: &mut dyn Dbm) -> Result<(), String> {
    let fail = |what: &str, e: pydbm::Error| format!("{name}: {what}: {e}");
    let mut txn = pydbm::Transaction::begin(db).map_err(|e| fail("begin", e))?;
    for i in 0..100u32 {
        txn.insert(format!("key{i:03}").as_bytes(), &i.to_le_bytes())
            .map_err(|e| fail("insert", e))?;
    }
    txn.commit().map_err(|e| fail("commit", e))?;
    {
        let mut dropped = pydbm::Transaction::begin(db).map_err(|e| fail("begin", e))?;
        dropped
            .insert(b"never", b"kept")
            .map_err(|e| fail("insert", e))?;
        dropped.remove(b"key000").map_err(|e| fail("remove", e))?;
        // dropped here: rolled back
    }
    let mut undone = pydbm::Transaction::begin(db).map_err(|e| fail("begin", e))?;
    undone
        .insert(b"also-never", b"kept")
        .map_err(|e| fail("insert", e))?;
    undone.rollback().map_err(|e| fail("rollback", e))?;
    let mut n = 0u32;
    for item in pydbm::Iter::new(db) {
        let (key, value) = item.map_err(|e| fail("iterate", e))?;
        let want = String::from_utf8_lossy(&key)
            .strip_prefix("key")
            .and_then(|k| k.parse::<u32>().ok())
            .ok_or_else(|| format!("{name}: unexpected key {key:?}"))?;
        if value != want.to_le_bytes() {
            return Err(format!("{name}: key{want:03} has {value:?}"));
        }
        n += 1;
    }
    if n != 100 {
        return Err(format!(
            "{name}: {n} records after the transactions, want 100"
        ));
    }
    db.close().map_err(|e| fail("close", e))
}

fn run(dir: &Path) -> Result<(), String> {
    let opts = Options::new().create().durability(Durability::Process);
    let e = |e: pydbm::Error| e.to_string();
    exercise("gnu", &mut opts.open_gnu(dir.join("a.gdbm")).map_err(e)?)?;
    exercise("ndbm", opts.open_ndbm(dir.join("b")).map_err(e)?.as_mut())?;
    exercise("dumb", &mut opts.open_dumb(dir.join("c")).map_err(e)?)?;
    exercise(
        "sqlite3",
        &mut opts.open_sqlite3(dir.join("d.sqlite3")).map_err(e)?,
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("pydbm-outside-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let result = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => {
            println!("outside program: gnu, ndbm, dumb, sqlite3: transactions and cursors ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outside program: {e}");
            ExitCode::FAILURE
        }
    }
}
