//! The bulk writes of `convert`, `load` and `apply` in transactions of up to
//! [`TRANSACTION_BATCH`] operations (issue 17 item 4): one commit per batch instead of one
//! per record, so `dbm.sqlite3` runs one `BEGIN`…`COMMIT` and gnu/ndbm/dumb one journal
//! commit per batch. A process killed mid-run leaves whole batches (docs/cli.md). Formats
//! without transactions (ndbm's legacy layouts) and etcd commit per record as before.

use pydbm_engine::{Dbm, Error, Result, Transaction};

/// Operations per transaction of a bulk command: large enough that the commit cost is
/// negligible, small enough that the journal records a rollback keeps in memory stay bounded.
pub const TRANSACTION_BATCH: usize = 100_000;

/// A transaction on `db`, or `None` when its format has none — or is etcd, whose `Txn` is
/// capped by the server's `--max-txn-ops` (128 by default) and request size (1.5 MiB), so
/// bulk commands keep one request per record there (docs/etcd.md).
pub fn begin(db: &mut dyn Dbm) -> Result<Option<Transaction<'_>>> {
    if db.module() == pydbm::remote::ETCD_MODULE {
        return Ok(None);
    }
    match Transaction::begin(db) {
        Ok(t) => Ok(Some(t)),
        Err(Error::Unsupported { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Inserts every record of `records` into `db`, [`TRANSACTION_BATCH`] per transaction,
/// calling `progress` after each.
pub fn insert_all(
    db: &mut dyn Dbm,
    records: &mut dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>)>>,
    progress: &mut dyn FnMut(),
) -> Result<()> {
    let mut records = records.peekable();
    while records.peek().is_some() {
        let batched = match begin(db)? {
            Some(mut txn) => {
                for item in records.by_ref().take(TRANSACTION_BATCH) {
                    let (k, v) = item?;
                    txn.insert(&k, &v)?;
                    progress();
                }
                txn.commit()?;
                true
            }
            None => false,
        };
        if batched {
            continue;
        }
        for item in records.by_ref() {
            let (k, v) = item?;
            db.insert(&k, &v)?;
            progress();
        }
    }
    Ok(())
}
