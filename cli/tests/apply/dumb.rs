//! `pydbm apply --type dumb` against CPython 3.13's dbm.dumb: the differential scripts of
//! formats/tests/fixtures/dumb (made by CPython 3.13 with make.py) run through the CLI binary,
//! and `.dat`, `.dir`, `.bak` and the printed reads must equal 3.13's committed output byte for
//! byte. Then, when CPython 3.13 is present, the same scripts run through it live with the
//! same result, and it reads every database the CLI wrote.
//!
//! Every script that never deletes a missing key is run: the apply family (make.py's scripts
//! 220-399, whose deletes only name present keys) and those of the random family that happen
//! to have no missing-key del, at least 200 in all. A missing-key `del` ends an `apply` script
//! with an error (docs/cli.md), while CPython's `__delitem__` sets `_modified` before raising, so
//! such scripts cannot be run through `apply` unchanged; all 400 run through the library in
//! formats/tests/dumb.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("formats/tests/fixtures/dumb")
}

/// make.py's value(LEN, SEED), as hex for an `apply` line.
fn value_hex(n: usize, seed: usize) -> String {
    if n == 0 {
        return "-".to_string();
    }
    (0..n)
        .map(|i| format!("{:02x}", (seed + i * 131 + (i >> 9)) % 251))
        .collect()
}

/// Translates a make.py script into (`--flag`, apply script): `close` + `open F` become
/// `reopen` (3.13 treats `c` and `w` alike once the files exist), the final `close` is the end
/// of the script.
fn translate(script: &str) -> (String, String) {
    let mut lines = script.lines().filter(|l| !l.trim().is_empty());
    let first: Vec<&str> = lines.next().expect("a script").split_whitespace().collect();
    assert_eq!(first[0], "open", "scripts start with open");
    let mut out = String::new();
    let mut pending_close = false;
    for line in lines {
        let op: Vec<&str> = line.split_whitespace().collect();
        if pending_close {
            assert_eq!(op[0], "open", "close is followed by open or the end");
            assert!(op[1] == "w" || op[1] == "c", "reopen flag {}", op[1]);
            out.push_str("reopen\n");
            pending_close = false;
            continue;
        }
        match op[0] {
            "set" => out.push_str(&format!(
                "set {} {}\n",
                op[1],
                value_hex(op[2].parse().unwrap(), op[3].parse().unwrap())
            )),
            "close" => pending_close = true,
            _ => {
                out.push_str(line.trim());
                out.push('\n');
            }
        }
    }
    (first[1].to_string(), out)
}

/// CPython 3.13 with `dbm.dumb` (`PYDBM_PYTHON313`, pydbm_engine::live_reference), or None
/// after the loud skip (a failure under CI=true).
fn python() -> Option<PathBuf> {
    pydbm_engine::live_reference::python_or_skip(
        pydbm_engine::live_reference::Python::Py313,
        "import dbm.dumb",
    )
}

#[test]
fn apply_matches_cpython_313_files() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    let mut used = Vec::new();
    for name in names {
        let stem = name.trim_end_matches(".txt").to_string();
        let want = fixtures().join("expected").join(&stem);
        let want_out = std::fs::read_to_string(want.join("out.txt")).unwrap();
        if want_out.contains("KeyError") {
            continue;
        }
        let script = std::fs::read_to_string(fixtures().join("scripts").join(&name)).unwrap();
        let (flag, text) = translate(&script);
        let dir = tmp.path().join(&stem);
        std::fs::create_dir(&dir).unwrap();
        let o = super::run_apply("dumb", &flag, &dir.join("db"), text.as_bytes());
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            want_out,
            "{name}: reads"
        );
        for f in ["db.dat", "db.dir", "db.bak"] {
            let got = std::fs::read(dir.join(f)).ok();
            let exp = std::fs::read(want.join(f)).ok();
            assert!(got == exp, "{name}: {f} differs from CPython 3.13's");
        }
        dirs.push(dir);
        used.push(name);
    }
    assert!(
        dirs.len() >= 200,
        "{} scripts without a missing-key del, want at least 200",
        dirs.len()
    );
    eprintln!(
        "pydbm apply: {} scripts identical to CPython 3.13's fixtures",
        dirs.len()
    );
    let Some(python) = python() else {
        return;
    };
    // The same scripts through live CPython 3.13: the CLI's files equal its files.
    let (scripts, live) = (tmp.path().join("live-scripts"), tmp.path().join("live"));
    std::fs::create_dir(&scripts).unwrap();
    for name in &used {
        std::fs::copy(fixtures().join("scripts").join(name), scripts.join(name)).unwrap();
    }
    let o = Command::new(&python)
        .arg(fixtures().join("make.py"))
        .arg("run")
        .arg(&scripts)
        .arg(&live)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, dir) in used.iter().zip(&dirs) {
        for f in ["db.dat", "db.dir", "db.bak"] {
            let got = std::fs::read(dir.join(f)).ok();
            let exp = std::fs::read(live.join(name.trim_end_matches(".txt")).join(f)).ok();
            assert!(got == exp, "{name}: {f} differs from live CPython 3.13's");
        }
    }
    // CPython 3.13 opens every database the CLI wrote and lists what `pydbm dump` lists.
    let o = Command::new(&python)
        .arg(fixtures().join("make.py"))
        .arg("read")
        .args(&dirs)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "CPython 3.13 failed to read the CLI's files: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), dirs.len());
    for (line, dir) in lines.iter().zip(&dirs) {
        let d = Command::new(env!("CARGO_BIN_EXE_pydbm"))
            .args(["dump"])
            .arg(dir.join("db"))
            .output()
            .unwrap();
        assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
        let mut ours = dir.display().to_string();
        for rec in String::from_utf8(d.stdout).unwrap().lines() {
            let (k, v) = rec.split_once(' ').expect("dump lines are `KEY VAL`");
            ours.push_str(&format!(" {k}={v}"));
        }
        assert_eq!(line.trim_end(), ours.trim_end(), "{}", dir.display());
    }
}
