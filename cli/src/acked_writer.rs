//! `pydbm crashtest --ack-writer PATH`: the writer process the real-kill harness
//! (cli/tests/realkill, docs/realkill.md) SIGKILLs. It runs an `apply` script from stdin on one
//! handle, exactly as `apply` does, but acknowledges every operation the moment it returns:
//! one line `ack LINE` (with `get`'s answer as `ack LINE HEXVAL` or `ack LINE None`) is
//! written to stdout and flushed before the next operation starts. A line on stdout is
//! therefore a promise: the operation of that script line completed, and a kill after it
//! must not undo it.
//!
//! With `--transaction` the whole script runs in one [`pydbm_engine::Transaction`]: the
//! `ack` lines then promise nothing; `committing` is printed before the commit and
//! `committed` after it, and only `committed` promises every operation of the script.

use std::io::{self, Read, Write};
use std::path::Path;

use pydbm_engine::{Format, OpenOptions};

use super::script::{self, Op};
use super::{hex, CliError};

/// Runs the script on stdin against `path` (opened with `flag`), acknowledging each
/// operation on stdout as it completes. The first line, `open`, acknowledges the open.
pub fn run(
    format: &dyn Format,
    flag: &str,
    path: &Path,
    transaction: bool,
) -> Result<(), CliError> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
    let ops = script::parse(&text)
        .map_err(|e| CliError::Usage(format!("script line {}: {}", e.line, e.message)))?;
    let mut out = io::stdout().lock();
    let mut ack = |line: String| -> Result<(), CliError> {
        out.write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| CliError::Failed(format!("writing stdout: {e}")))
    };
    let mut db = format.open(path, &OpenOptions::from_flag(flag)?)?;
    ack("open\n".to_string())?;
    if transaction {
        run_in_transaction(&mut db, ops, &mut ack)?;
        db.close()?;
        return ack("closed\n".to_string());
    }
    for (line, op) in ops {
        let at = |e: pydbm_engine::Error| CliError::Failed(format!("script line {line}: {e}"));
        let answer = match op {
            Op::Set(k, v) => {
                db.insert(&k, &v).map_err(at)?;
                String::new()
            }
            Op::Del(k) => {
                if !db.remove(&k).map_err(at)? {
                    return Err(CliError::Failed(format!(
                        "script line {line}: key not found: {}",
                        hex::encode(&k)
                    )));
                }
                String::new()
            }
            Op::Get(k) => match db.get(&k).map_err(at)? {
                Some(v) => format!(" {}", hex::encode(&v)),
                None => " None".to_string(),
            },
            Op::Keys => {
                db.keys().map_err(at)?;
                String::new()
            }
            Op::Len => format!(" {}", db.len().map_err(at)?),
            Op::Sync => {
                db.sync().map_err(at)?;
                String::new()
            }
            Op::Reorganize => {
                db.reorganize().map_err(at)?;
                String::new()
            }
            Op::Reopen => {
                db.close().map_err(at)?;
                db = format
                    .open(path, &OpenOptions::from_flag("w")?)
                    .map_err(at)?;
                String::new()
            }
        };
        ack(format!("ack {line}{answer}\n"))?;
    }
    db.close()?;
    ack("closed\n".to_string())
}

/// `--transaction`: every operation of the script in one transaction (sets, deletes and
/// gets only), acknowledged as it returns; `committing`, the commit, `committed`.
fn run_in_transaction(
    db: &mut Box<dyn pydbm_engine::Dbm>,
    ops: Vec<(usize, Op)>,
    ack: &mut dyn FnMut(String) -> Result<(), CliError>,
) -> Result<(), CliError> {
    use pydbm_engine::Dbm;
    let mut txn = db.transaction()?;
    for (line, op) in ops {
        let at = |e: pydbm_engine::Error| CliError::Failed(format!("script line {line}: {e}"));
        let answer = match op {
            Op::Set(k, v) => {
                txn.insert(&k, &v).map_err(at)?;
                String::new()
            }
            Op::Del(k) => {
                if !txn.remove(&k).map_err(at)? {
                    return Err(CliError::Failed(format!(
                        "script line {line}: key not found: {}",
                        hex::encode(&k)
                    )));
                }
                String::new()
            }
            Op::Get(k) => match txn.get(&k).map_err(at)? {
                Some(v) => format!(" {}", hex::encode(&v)),
                None => " None".to_string(),
            },
            other => {
                return Err(CliError::Usage(format!(
                    "script line {line}: {other:?} cannot run inside --transaction (set, del \
                     and get can)"
                )))
            }
        };
        ack(format!("ack {line}{answer}\n"))?;
    }
    ack("committing\n".to_string())?;
    txn.commit()?;
    ack("committed\n".to_string())
}
