//! Reads shelve files that CPython wrote, from Rust.
//!
//! ```text
//! cargo run --example read_python_shelve            # the committed CPython fixtures
//! cargo run --example read_python_shelve -- PATH    # your own shelf (opened read-only)
//! ```
//!
//! Without an argument it reads two shelves committed under
//! `shelve/tests/fixtures/shelve/` (made by `make.py` / `make313.py` there):
//! `gnu/shelf`, written by CPython 3.11's `shelve.open` over `dbm.gnu`, and
//! `py313/sqlite3/shelf`, written by CPython 3.13's `shelve.open` (whose default backend is
//! `dbm.sqlite3`). Each value is printed as Python's `repr` prints it and checked against the
//! `repr` CPython printed for it (`records.tsv`); a few are also read as plain Rust types
//! through serde. The program exits non-zero on any difference, so CI can run it.
//!
//! Opening a format picks it the way Python's `shelve.open` does (`pydbm::whichdb` on the
//! existing file). The fixtures are copied to a temporary directory first: even a read-only
//! SQLite open of a WAL database creates `-wal`/`-shm` files beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pydbm::shelve::pickle::repr::repr;
use pydbm::shelve::shelf::{Shelf, ShelfOptions};

type Failure = Box<dyn std::error::Error>;

/// `records.tsv`: key (hex) → the `repr` CPython printed for `shelf[key]`.
fn expected_reprs(fixtures: &Path) -> Result<BTreeMap<String, String>, Failure> {
    let text = std::fs::read_to_string(fixtures.join("records.tsv"))?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.splitn(3, '\t');
        let (Some(key_hex), Some(_value_hex), Some(repr)) = (cols.next(), cols.next(), cols.next())
        else {
            return Err(format!("records.tsv: a line without three columns: {line:?}").into());
        };
        let key = (0..key_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()?;
        out.insert(String::from_utf8(key)?, repr.to_string());
    }
    Ok(out)
}

/// Prints every record of the shelf at `path`; returns how many differ from `expected`.
fn show(path: &Path, expected: Option<&BTreeMap<String, String>>) -> Result<usize, Failure> {
    let module = pydbm::whichdb(path)?.unwrap_or("(cannot be opened)");
    println!("{} ({module}):", path.display());
    let mut shelf: Shelf = pydbm::open_shelf(path, "r", ShelfOptions::default())?;
    let mut keys = shelf.keys()?;
    keys.sort();
    let mut differences = 0;
    for key in &keys {
        let value = shelf.get_pickle(key)?.ok_or("a listed key has no value")?;
        let mut shown = repr(&value)?;
        if let Some(want) = expected.map(|e| e.get(key)) {
            if want != Some(&shown) {
                println!("  MISMATCH {key:?}: CPython printed {want:?}");
                differences += 1;
            }
        }
        if shown.chars().count() > 70 {
            shown = shown.chars().take(67).collect::<String>() + "...";
        }
        println!("  {key:?}: {shown}");
    }
    if let Some(e) = expected {
        if keys.len() != e.len() {
            println!(
                "  MISMATCH: {} keys, CPython stored {}",
                keys.len(),
                e.len()
            );
            differences += 1;
        }
        // The same values as Rust types, through serde.
        let greeting: Option<String> = shelf.get("str")?;
        let numbers: Option<Vec<i64>> = shelf.get("big-list")?;
        let pairs: Option<(i64, (i64, (i64,)))> = shelf.get("tuple")?;
        let ok = greeting.as_deref() == Some("h\u{e9}llo \u{1F600}")
            && numbers.as_ref().map(Vec::len) == Some(2500)
            && pairs == Some((1, (2, (3,))));
        println!(
            "  serde: str = {greeting:?}, big-list has {:?} items, tuple = {pairs:?}",
            numbers.map(|n| n.len())
        );
        if !ok {
            println!("  MISMATCH: serde values differ from what CPython stored");
            differences += 1;
        }
    }
    shelf.close()?;
    Ok(differences)
}

fn run() -> Result<usize, Failure> {
    if let Some(path) = std::env::args_os().nth(1) {
        return show(Path::new(&path), None);
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shelve/tests/fixtures/shelve");
    let expected = expected_reprs(&fixtures)?;
    let scratch = tempfile::tempdir()?;
    let mut differences = 0;
    for (dir, made_by) in [
        ("gnu", "CPython 3.11, dbm.gnu"),
        ("py313/sqlite3", "CPython 3.13's default, dbm.sqlite3"),
    ] {
        let copy = scratch.path().join(dir.replace('/', "-"));
        std::fs::create_dir(&copy)?;
        std::fs::copy(fixtures.join(dir).join("shelf"), copy.join("shelf"))?;
        println!("-- written by {made_by}");
        differences += show(&copy.join("shelf"), Some(&expected))?;
    }
    Ok(differences)
}

fn main() -> ExitCode {
    match run() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(n) => {
            eprintln!("read_python_shelve: {n} difference(s) from CPython's values");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("read_python_shelve: {e}");
            ExitCode::FAILURE
        }
    }
}
