//! `pydbm apply` and the other file-writing commands end to end, one test binary (link time
//! on 2 cores): operation scripts recorded through the reference libraries, replayed through
//! the CLI binary, must leave the files the references left; the sqlite3 module checks
//! `pydbm sqlite` and `--type sqlite3` against CPython 3.13.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod dumb;
mod ndbm;
mod sqlite3;

/// Runs `pydbm apply --type DB_TYPE --flag FLAG PATH` with `script` on its standard input
/// and returns its exit status and output (stdout and stderr captured).
fn run_apply(db_type: &str, flag: &str, path: &Path, script: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pydbm"))
        .args(["apply", "--type", db_type, "--flag", flag])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the pydbm binary cargo built for this test");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(script)
        .expect("write the script to pydbm");
    child.wait_with_output().expect("pydbm ran")
}
