//! The real-kill harness (issue 16, "What to build" items 2 and 3; docs/realkill.md): real
//! pydbm writer processes on real files, SIGKILLed at seeded random moments, checked against
//! the acknowledgements they printed and against the reference libraries; and full-disk
//! tests on a real small tmpfs. One test binary (link time on 2 cores).
//!
//! Run one format: `cargo test -p pydbm-cli --test realkill gnu` (test names carry the format),
//! or set `REALKILL_FORMATS=gnu,dumb`. `REALKILL_KILLS=N` changes the number of kill rounds
//! of the plain tests, `REALKILL_SEED=S` their seed, `REALKILL_PYDBM=PATH` the binary under
//! test. The 5,000-kill runs are `--ignored`.

mod batch;
mod full_disk;
mod kill_rounds;
mod process;
mod reference;
mod reference_first;
#[path = "../support/tmpfs.rs"]
mod tmpfs;
mod transaction;
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

/// The writer's protocol (docs/realkill.md): `open`, one `ack` line per script line (with
/// `get`'s and `len`'s answers), `closed`; a failing line ends it with exit 1 after the
/// acknowledgements of the lines before it; `--flag` without `--ack-writer` is a usage error.
#[test]
fn ack_writer_acknowledges_each_operation() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("temp dir");
    for format in ["gnu", "ndbm", "dumb", "sqlite3"] {
        let path = dir.path().join(format);
        let run = |script: &str, flag: &str| {
            let mut child = Command::new(pydbm_binary())
                .args(["crashtest", "--type", format, "--ack-writer"])
                .arg(&path)
                .args(["--flag", flag])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn pydbm");
            child
                .stdin
                .take()
                .expect("stdin is piped")
                .write_all(script.as_bytes())
                .expect("feed the script");
            child.wait_with_output().expect("pydbm ran")
        };
        let out = run("set 61 6263\nget 61\nget 7a\nset 62 -\nlen\ndel 61\n", "n");
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "open\nack 1\nack 2 6263\nack 3 None\nack 4\nack 5 2\nack 6\nclosed\n",
            "{format}"
        );
        let out = run("set 63 64\ndel 7a\nset 65 66\n", "w");
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "open\nack 1\n",
            "{format}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("script line 2: key not found: 7a"),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(pydbm_binary())
        .args(["crashtest", "--type", "gnu", "--flag", "w"])
        .output()
        .expect("pydbm ran");
    assert_eq!(out.status.code(), Some(2));
}
