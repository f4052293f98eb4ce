//! The sqlite3 side of the command line (docs/cli.md, issue 9 item 8): `pydbm sqlite PATH SQL`
//! against CPython 3.13's `python -m sqlite3`, `--type sqlite3` files read and written by
//! CPython 3.13's `dbm.sqlite3`, and `pydbm crashtest --type sqlite3`.

use std::path::Path;
use std::process::{Command, Output};

fn pydbm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pydbm"))
        .args(args)
        .output()
        .expect("the pydbm binary was built by cargo for this test")
}

/// CPython 3.13 (`PYDBM_PYTHON313`, pydbm_engine::live_reference) when it can run
/// `sqlite3`; a loud SKIPPED otherwise (a failure under CI).
fn python313() -> Option<std::path::PathBuf> {
    pydbm_engine::live_reference::python_or_skip(
        pydbm_engine::live_reference::Python::Py313,
        "import sqlite3, dbm.sqlite3",
    )
}

/// The same one-shot commands through `pydbm sqlite` and `python3.13 -m sqlite3`, each on
/// its own database: same stdout, stderr and exit status, command by command.
#[test]
fn sqlite_command_matches_python_3_13() {
    let Some(py) = python313() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.db");
    let theirs = dir.path().join("theirs.db");
    let commands = [
        "create table t(a, b, c)",
        "insert into t values (1, 'x''y', NULL)",
        "insert into t values (2.5, x'00ff', 'é')",
        "select * from t",
        "select count(*), sum(a) from t",
        "select * from nope",
        "select 1; select 2",
        "insert into t values (1)",
        "",
    ];
    let py_version = Command::new(&py)
        .args(["-c", "import sqlite3; print(sqlite3.sqlite_version)"])
        .output()
        .unwrap();
    let py_version = String::from_utf8_lossy(&py_version.stdout)
        .trim()
        .to_string();
    // The interactive banner names each side's SQLite library and database path.
    let norm = |b: &[u8], version: &str, db: &Path| {
        String::from_utf8_lossy(b)
            .replace(version, "<version>")
            .replace(db.to_str().unwrap(), "<db>")
    };
    for sql in commands {
        let got = pydbm(&["sqlite", ours.to_str().unwrap(), sql]);
        let want = Command::new(&py)
            .args(["-m", "sqlite3", theirs.to_str().unwrap(), sql])
            .output()
            .unwrap();
        assert_eq!(
            norm(&got.stdout, pydbm_sqlite::sqlite_version(), &ours),
            norm(&want.stdout, &py_version, &theirs),
            "stdout of {sql:?}"
        );
        assert_eq!(
            norm(&got.stderr, pydbm_sqlite::sqlite_version(), &ours),
            norm(&want.stderr, &py_version, &theirs),
            "stderr of {sql:?}"
        );
        assert_eq!(got.status.code(), want.status.code(), "status of {sql:?}");
    }
}

/// `apply --type sqlite3` writes a file CPython 3.13's `dbm.sqlite3` reads, and `get`
/// reads what CPython 3.13 wrote; `whichdb` names it.
#[test]
fn type_sqlite3_files_interoperate_with_python_3_13() {
    let Some(py) = python313() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db.sqlite3");
    let ps = p.to_str().unwrap();
    let out = super::run_apply(
        "sqlite3",
        "c",
        &p,
        b"set 6b 76\nset 6b32 7632\ndel 6b\nlen\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    let read = Command::new(&py)
        .args([
            "-c",
            "import dbm.sqlite3, sys\nwith dbm.sqlite3.open(sys.argv[1], 'w') as d:\n    print(sorted((k, d[k]) for k in d.keys()))\n    d[b'py'] = b'thon'",
            ps,
        ])
        .output()
        .unwrap();
    assert!(read.status.success(), "{read:?}");
    assert_eq!(String::from_utf8_lossy(&read.stdout), "[(b'k2', b'v2')]\n");
    let got = pydbm(&["get", ps, "py"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim_end(), "thon");
    assert!(Path::new(ps).exists());
    let which = pydbm(&["whichdb", ps]);
    assert_eq!(String::from_utf8_lossy(&which.stdout), "dbm.sqlite3\n");
}

/// `pydbm crashtest --type sqlite3` (small run; the acceptance figure is in README.md):
/// crashes SQLite transactions at every write and sync point and finds no violation.
#[test]
fn crashtest_type_sqlite3_finds_no_violation() {
    let out = pydbm(&[
        "crashtest",
        "--type",
        "sqlite3",
        "--ops",
        "10",
        "--seed",
        "7",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let (points, violations) = last
        .strip_prefix("crash points: ")
        .and_then(|r| r.split_once(", violations: "))
        .unwrap_or_else(|| panic!("unexpected last line: {last:?}"));
    assert!(points.parse::<u64>().unwrap() >= 100, "{last}");
    assert_eq!(violations, "0", "{stdout}");
    assert!(out.status.success());
}
