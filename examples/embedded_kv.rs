//! An embedded key-value store on pydbm: a small inventory kept in a gdbm file (or any
//! format: pass `sqlite3`, `ndbm` or `dumb` as the first argument), opened with
//! [`pydbm::Options`], changed in transactions that commit atomically or roll back, and
//! listed with a lazy cursor.
//!
//! `cargo run --example embedded_kv [gnu|ndbm|dumb|sqlite3] [DIR]`; `cargo test --example
//! embedded_kv` runs it for every format.

use std::path::Path;

use pydbm::{DbFormat, Dbm, Durability, Options};

/// Moves `qty` units of `item` from stock to `sold` in one transaction: both counters change,
/// or (when there is not enough stock) neither does.
fn sell(db: &mut Box<dyn Dbm>, item: &str, qty: u64) -> pydbm::Result<bool> {
    let mut txn = db.transaction()?;
    let stock_key = format!("stock/{item}");
    let sold_key = format!("sold/{item}");
    let stock = number(txn.get(stock_key.as_bytes())?);
    if stock < qty {
        // Dropping the guard rolls back (nothing was written anyway).
        return Ok(false);
    }
    let sold = number(txn.get(sold_key.as_bytes())?);
    txn.insert(stock_key.as_bytes(), (stock - qty).to_string().as_bytes())?;
    txn.insert(sold_key.as_bytes(), (sold + qty).to_string().as_bytes())?;
    txn.commit()?;
    Ok(true)
}

fn number(value: Option<Vec<u8>>) -> u64 {
    value
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Runs the demo on a new database of `format` in `dir`; returns the final listing.
fn run(format: DbFormat, dir: &Path) -> pydbm::Result<Vec<(String, String)>> {
    let path = dir.join("inventory");
    let opts = Options::new()
        .truncate()
        .format(format)
        .durability(Durability::Process)
        .lock_timeout(std::time::Duration::from_secs(1));
    let mut db = opts.open(&path)?;

    // Initial stock: 1,000 records in one transaction, one commit.
    let mut txn = db.transaction()?;
    for i in 0..1000 {
        txn.insert(format!("stock/item{i:04}").as_bytes(), b"10")?;
    }
    txn.commit()?;

    assert!(sell(&mut db, "item0007", 3)?);
    assert!(!sell(&mut db, "item0007", 8)?, "only 7 left");

    // A transaction that is dropped changes nothing.
    {
        let mut txn = db.transaction()?;
        txn.remove(b"stock/item0001")?;
    }
    assert!(db.contains(b"stock/item0001")?);
    db.close()?;

    // Reopen read-only (the format is found from the file) and list with a cursor.
    let mut db = Options::new().read_only().open(&path)?;
    let mut listing = Vec::new();
    for item in db.iter() {
        let (k, v) = item?;
        let k = String::from_utf8_lossy(&k).into_owned();
        if k.ends_with("0007") {
            listing.push((k, String::from_utf8_lossy(&v).into_owned()));
        }
    }
    listing.sort();
    let total = db.keys_iter().count();
    println!("{}: {total} records; item0007: {listing:?}", db.module());
    db.close()?;
    Ok(listing)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let format = match args.next().as_deref() {
        None | Some("gnu") => DbFormat::Gnu,
        Some("ndbm") => DbFormat::Ndbm,
        Some("dumb") => DbFormat::Dumb,
        Some("sqlite3") => DbFormat::Sqlite3,
        Some(other) => return Err(format!("unknown format {other:?}").into()),
    };
    match args.next() {
        Some(dir) => run(format, Path::new(&dir))?,
        None => run(
            format,
            &std::env::temp_dir().join(format!("pydbm-example-{}", std::process::id())),
        )
        .inspect(|_| {
            let _ = std::fs::remove_dir_all(
                std::env::temp_dir().join(format!("pydbm-example-{}", std::process::id())),
            );
        })?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_runs_the_demo() {
        for format in [
            DbFormat::Gnu,
            DbFormat::Ndbm,
            DbFormat::Dumb,
            DbFormat::Sqlite3,
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let listing = run(format, dir.path()).expect("demo runs");
            assert_eq!(
                listing,
                vec![
                    ("sold/item0007".to_string(), "3".to_string()),
                    ("stock/item0007".to_string(), "7".to_string()),
                ],
                "{format:?}"
            );
        }
    }
}
