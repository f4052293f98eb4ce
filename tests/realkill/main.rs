//! The real-kill harness (issue 16, "What to build" items 2 and 3; docs/realkill.md): real
//! pydbm writer processes on real files, SIGKILLed at seeded random moments, checked against
//! the acknowledgements they printed and against the reference libraries; and full-disk
//! tests on a real small tmpfs. One test binary (link time on 2 cores).
//!
//! Run one format: `cargo test -p pydbm --test realkill gnu` (test names carry the format),
//! or set `REALKILL_FORMATS=gnu,dumb`. `REALKILL_KILLS=N` changes the number of kill rounds
//! of the plain tests, `REALKILL_SEED=S` their seed, `REALKILL_PYDBM=PATH` the binary under
//! test. The 5,000-kill runs are `--ignored`.

mod batch;
mod full_disk;
mod kill_rounds;
mod process;
mod reference;
mod reference_first;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The pydbm binary under test: `$REALKILL_PYDBM` (e.g. `target/release/pydbm`, or a copy
/// a long run keeps while the tree is rebuilt), else the debug build cargo made for this
/// test.
pub fn pydbm_binary() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| match std::env::var_os("REALKILL_PYDBM") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_pydbm")),
    })
}

/// Whether `REALKILL_FORMATS` (comma-separated; unset means all) selects `format`.
pub fn selected(format: &str) -> bool {
    match std::env::var("REALKILL_FORMATS") {
        Ok(list) => list.split(',').any(|f| f.trim() == format),
        Err(_) => true,
    }
}

/// A number from the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}
