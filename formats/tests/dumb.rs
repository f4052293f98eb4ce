//! dbm.dumb against CPython: committed fixtures (made by CPython 3.13 with
//! tests/fixtures/dumb/make.py; databases from 2.7, 3.6 and 3.13 by make_versions.py), the
//! shared corpus (CPython 3.7, 3.12, 3.13; copied into tests/fixtures/dumb/corpus), and the
//! live reference CPython 3.13 (`PYDBM_PYTHON313`, see pydbm_engine::live_reference).
//!
//! Version note: pydbm follows CPython 3.13; ≤ 3.12 differ in `.bak` after a sync/close
//! without changes (seen in the corpus copies of 3.7, 3.12 and 3.13 under
//! fixtures/dumb/corpus), so every byte comparison here is against 3.13 itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use pydbm_engine::{Dbm, Durability, Error, OpenMode, OpenOptions};
use pydbm_formats::dumb::db::DumbDb;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumb")
}

/// The reference dumb corpus's files the tests read, committed in tests/fixtures/dumb/corpus
/// (see the README there).
fn corpus_root() -> PathBuf {
    fixtures().join("corpus")
}

/// The live reference CPython 3.13 with `dbm.dumb` (`PYDBM_PYTHON313`,
/// pydbm_engine::live_reference), or None after the loud skip line (a failure under CI=true).
fn python() -> Option<PathBuf> {
    pydbm_engine::live_reference::python_or_skip(
        pydbm_engine::live_reference::Python::Py313,
        "import dbm.dumb",
    )
}

fn opts(flag: &str) -> OpenOptions {
    OpenOptions::from_flag(flag).expect("test flags are valid")
}

fn unhex(h: &str) -> Vec<u8> {
    if h == "-" {
        return Vec::new();
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("script hex is valid"))
        .collect()
}

fn tohex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// make.py's `value(n, seed)`.
fn value(n: usize, seed: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((seed + i * 131 + (i >> 9)) % 251) as u8)
        .collect()
}

/// Runs one script (make.py's language) through pydbm on real files at `dir/db`; returns the
/// read results, one line each, as make.py writes out.txt.
fn run_script(script: &str, dir: &Path, durability: Durability) -> String {
    let name = dir.join("db");
    let mut db: Option<DumbDb> = None;
    let mut out = String::new();
    for line in script.lines() {
        let op: Vec<&str> = line.split_whitespace().collect();
        if op.is_empty() {
            continue;
        }
        if op[0] == "open" {
            let mut o = opts(op[1]);
            o.durability = durability;
            db = Some(DumbDb::open(&name, &o).expect("open"));
            continue;
        }
        let d = db.as_mut().expect("script opens first");
        match op[0] {
            "set" => d
                .insert(
                    &unhex(op[1]),
                    &value(op[2].parse().unwrap(), op[3].parse().unwrap()),
                )
                .unwrap(),
            "del" => {
                if !d.remove(&unhex(op[1])).unwrap() {
                    out.push_str("KeyError\n");
                }
            }
            "get" => match d.get(&unhex(op[1])).unwrap() {
                Some(v) => out.push_str(&format!("{}\n", tohex(&v))),
                None => out.push_str("None\n"),
            },
            "keys" => {
                let k: Vec<String> = d.keys().unwrap().iter().map(|k| tohex(k)).collect();
                out.push_str(&format!("{}\n", k.join(" ")));
            }
            "len" => out.push_str(&format!("{}\n", d.len().unwrap())),
            "sync" => d.sync().unwrap(),
            "close" => {
                d.close().unwrap();
                db = None;
            }
            other => panic!("unknown op {other}"),
        }
    }
    if let Some(mut d) = db {
        d.close().unwrap();
    }
    out
}

fn script_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    names
}

fn read_opt(p: &Path) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

fn compare_files(label: &str, got: &Path, want: &Path, files: &[&str]) {
    for f in files {
        let (g, w) = (read_opt(&got.join(f)), read_opt(&want.join(f)));
        assert!(
            g == w,
            "{label}: {f} differs: pydbm {:?} bytes, CPython {:?} bytes",
            g.as_ref().map(Vec::len),
            w.as_ref().map(Vec::len)
        );
    }
}

/// All 400 scripts (make.py's random family 000-219 and apply family 220-399): pydbm's files
/// and reads equal the committed CPython fixtures byte for byte (.dat, .dir, .bak, out.txt),
/// under each durability level.
#[test]
fn scripts_match_committed_cpython_fixtures() {
    let names = script_names();
    assert!(names.len() >= 400, "{} scripts", names.len());
    let tmp = tempfile::tempdir().unwrap();
    for (i, name) in names.iter().enumerate() {
        let script = std::fs::read_to_string(fixtures().join("scripts").join(name)).unwrap();
        let durability = [Durability::Process, Durability::None, Durability::Full][i % 3];
        let dir = tmp.path().join(name.trim_end_matches(".txt"));
        std::fs::create_dir(&dir).unwrap();
        let out = run_script(&script, &dir, durability);
        let want = fixtures()
            .join("expected")
            .join(name.trim_end_matches(".txt"));
        compare_files(name, &dir, &want, &["db.dat", "db.dir", "db.bak"]);
        assert_eq!(
            out,
            std::fs::read_to_string(want.join("out.txt")).unwrap(),
            "{name}: read results"
        );
        assert!(
            !dir.join("db.dat-journal").exists(),
            "{name}: the journal outlived close"
        );
    }
}

/// The same scripts through the live CPython 3.13: `.dat`, `.dir`, `.bak`, read results and
/// file modes identical; then CPython 3.13 reads back every database pydbm wrote.
#[test]
fn scripts_match_live_cpython() {
    let Some(python) = python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (py313, ours) = (tmp.path().join("py313"), tmp.path().join("pydbm"));
    let make = fixtures().join("make.py");
    let scripts = fixtures().join("scripts");
    let o = Command::new(&python)
        .arg(&make)
        .arg("run")
        .arg(&scripts)
        .arg(&py313)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "make.py run: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut dirs = Vec::new();
    for name in script_names() {
        let stem = name.trim_end_matches(".txt");
        let script = std::fs::read_to_string(scripts.join(&name)).unwrap();
        let dir = ours.join(stem);
        std::fs::create_dir_all(&dir).unwrap();
        let out = run_script(&script, &dir, Durability::Process);
        compare_files(
            &format!("{name} vs 3.13"),
            &dir,
            &py313.join(stem),
            &["db.dat", "db.dir", "db.bak"],
        );
        assert_eq!(
            out,
            std::fs::read_to_string(py313.join(stem).join("out.txt")).unwrap(),
            "{name}: reads vs 3.13"
        );
        for f in ["db.dat", "db.dir", "db.bak"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| {
                std::fs::metadata(p)
                    .ok()
                    .map(|m| m.permissions().mode() & 0o777)
            };
            assert_eq!(
                mode(&dir.join(f)),
                mode(&py313.join(stem).join(f)),
                "{name}: {f} mode"
            );
        }
        dirs.push(dir);
    }
    // CPython opens every pydbm-written database and sees what pydbm sees.
    let o = Command::new(&python)
        .arg(&make)
        .arg("read")
        .args(&dirs)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "CPython failed to read pydbm's files: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), dirs.len());
    for (line, dir) in lines.iter().zip(&dirs) {
        let mut db = DumbDb::open(&dir.join("db"), &opts("r")).unwrap();
        let mut ours = dir.display().to_string();
        for k in db.keys().unwrap() {
            let v = db.get(&k).unwrap().unwrap();
            ours.push_str(&format!(" {}={}", tohex(&k), tohex(&v)));
        }
        assert_eq!(line.trim_end(), ours.trim_end());
    }
}

/// Files written by CPython 3.7, 3.12 and 3.13 (shared corpus) open in pydbm and read the
/// same mapping at every step.
#[test]
fn corpus_files_from_three_versions_read_identically() {
    let root = corpus_root();
    assert!(root.exists(), "{} is committed", root.display());
    let tmp = tempfile::tempdir().unwrap();
    for ver in ["py3.7", "py3.12", "py3.13"] {
        for step in [
            "03-after-close",
            "06-after-sync",
            "09-after-close",
            "12-after-n-close",
        ] {
            let dir = tmp.path().join(ver).join(step);
            std::fs::create_dir_all(&dir).unwrap();
            for f in ["db.dat", "db.dir", "db.bak"] {
                if let Ok(b) = std::fs::read(root.join(ver).join(step).join(f)) {
                    std::fs::write(dir.join(f), b).unwrap();
                }
            }
            let mut db = DumbDb::open(&dir.join("db"), &opts("r")).unwrap();
            let items: Vec<(Vec<u8>, Vec<u8>)> = db
                .keys()
                .unwrap()
                .into_iter()
                .map(|k| {
                    let v = db.get(&k).unwrap().unwrap();
                    (k, v)
                })
                .collect();
            match step {
                "03-after-close" => {
                    assert_eq!(items.len(), 6);
                    assert_eq!(items[2].0, b"\xff\x00'\"\\\n");
                    assert_eq!(items[3].0, "caf\u{e9}".as_bytes());
                    assert_eq!(items[4].1, vec![b'B'; 600]);
                }
                "06-after-sync" => {
                    assert_eq!(items[0], (b"a".to_vec(), vec![b'A'; 513]));
                    assert_eq!(items[4], (b"big".to_vec(), vec![b'C'; 100]));
                }
                "09-after-close" => assert_eq!(items.len(), 5),
                _ => assert_eq!(items, vec![(b"z".to_vec(), b"new".to_vec())]),
            }
        }
    }
}

/// Databases written by CPython 2.7 (dumbdbm), 3.6 and 3.13 (committed, made by
/// fixtures/dumb/make_versions.py): pydbm lists exactly the pairs that version read back.
/// 3.x lists them in `.dir` order, as pydbm does; 2.7's dict is unordered, so its order is
/// compared as a set.
#[test]
fn files_from_cpython_27_36_313_read_identically() {
    let tmp = tempfile::tempdir().unwrap();
    for ver in ["py2.7", "py3.6", "py3.13"] {
        for name in ["plain", "rewritten", "empty"] {
            let src = fixtures().join("versions").join(ver).join(name);
            let dir = tmp.path().join(ver).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for f in ["db.dat", "db.dir", "db.bak"] {
                if let Ok(b) = std::fs::read(src.join(f)) {
                    std::fs::write(dir.join(f), b).unwrap();
                }
            }
            let mut db = DumbDb::open(&dir.join("db"), &opts("r")).unwrap();
            let mut ours: Vec<String> = Vec::new();
            for k in db.keys().unwrap() {
                let v = db.get(&k).unwrap().unwrap();
                ours.push(format!("{} {}", tohex(&k), tohex(&v)));
            }
            let text = std::fs::read_to_string(src.join("items.txt")).unwrap();
            let mut want: Vec<String> = text.lines().map(str::to_string).collect();
            if name != "empty" {
                assert!(want.len() >= 8, "{ver}/{name}: {} items", want.len());
            }
            if ver == "py2.7" {
                ours.sort();
                want.sort();
            }
            assert_eq!(ours, want, "{ver}/{name}");
        }
    }
}

/// CPython's behaviour for missing files and read-only handles (spec §3.3), and no files
/// left behind by a failed open.
#[test]
fn flags_and_missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let name = tmp.path().join("m");
    for flag in ["r", "w"] {
        let e = DumbDb::open(&name, &opts(flag)).unwrap_err();
        assert!(e.is_not_found() && e.to_string().contains("m.dat"), "{e}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    for flag in ["cf", "ws"] {
        let e = DumbDb::open(&name, &opts(flag)).unwrap_err();
        assert!(
            e.to_string()
                .contains("Flag must be one of 'r', 'w', 'c', or 'n'"),
            "{e}"
        );
    }
    let mut db = DumbDb::open(&name, &opts("c")).unwrap();
    db.insert(b"k", b"v").unwrap();
    db.close().unwrap();
    assert!(matches!(db.get(b"k"), Err(Error::Closed { .. })));
    db.close().unwrap();
    let mut ro = DumbDb::open(&name, &opts("r")).unwrap();
    let e = ro.insert(b"x", b"y").unwrap_err();
    assert!(e.to_string().contains("opened for reading only"), "{e}");
    assert!(matches!(ro.remove(b"k"), Err(Error::ReadOnly { .. })));
    assert_eq!(ro.get(b"k").unwrap(), Some(b"v".to_vec()));
    drop(ro);
    std::fs::remove_file(tmp.path().join("m.dir")).unwrap();
    let e = DumbDb::open(&name, &opts("w")).unwrap_err();
    assert!(e.is_not_found() && e.to_string().contains("m.dir"), "{e}");
    let mut db = DumbDb::open(&name, &opts("n")).unwrap();
    assert_eq!(db.len().unwrap(), 0);
    assert_eq!(OpenMode::New, opts("n").mode);
    db.close().unwrap();
    assert_eq!(std::fs::read(tmp.path().join("m.dat")).unwrap(), b"");
    assert_eq!(std::fs::read(tmp.path().join("m.dir")).unwrap(), b"");
}

/// pydbm's reorganize leaves what CPython leaves after copying every item, in order, into a
/// new database and closing it (checked live).
#[test]
fn reorganize_matches_a_cpython_copy() {
    let Some(python) = python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let name = tmp.path().join("r");
    let mut db = DumbDb::open(&name, &opts("c")).unwrap();
    for i in 0..40u32 {
        db.insert(
            format!("k{i}").as_bytes(),
            &value((i as usize * 97) % 1800, i as usize),
        )
        .unwrap();
    }
    for i in (0..40u32).step_by(3) {
        db.insert(format!("k{i}").as_bytes(), &value(2500, 7))
            .unwrap();
    }
    for i in (0..40u32).step_by(7) {
        db.remove(format!("k{i}").as_bytes()).unwrap();
    }
    db.close().unwrap();
    let py = r#"
import dbm.dumb, sys
src = dbm.dumb.open(sys.argv[1], 'r')
dst = dbm.dumb.open(sys.argv[2], 'n')
for k in src.keys():
    dst[k] = src[k]
dst.close(); src.close()
"#;
    let o = Command::new(&python)
        .args(["-c", py])
        .arg(&name)
        .arg(tmp.path().join("copy"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut db = DumbDb::open(&name, &opts("w")).unwrap();
    db.reorganize().unwrap();
    db.close().unwrap();
    for ext in ["dat", "dir", "bak"] {
        assert_eq!(
            read_opt(&tmp.path().join(format!("r.{ext}"))),
            read_opt(&tmp.path().join(format!("copy.{ext}"))),
            ".{ext}"
        );
    }
}

/// After a crash at any of a workload's write/sync points and recovery, CPython still reads
/// the triple pydbm leaves, and sees the same mapping as pydbm.
#[test]
fn cpython_reads_what_recovery_leaves() {
    use pydbm_engine::{CrashKind, FaultConfig, FaultVfs, MemVfs, Pager, Vfs};
    use std::sync::Arc;
    let Some(python) = python() else {
        return;
    };
    let name = Path::new("/c/db");
    let workload = |vfs: Arc<dyn Vfs>| -> pydbm_engine::Result<()> {
        let mut o = opts("c");
        o.no_lock = true;
        let mut db = DumbDb::open_in(vfs.clone(), name, &o)?;
        for i in 0..12usize {
            db.insert(format!("k{}", i % 5).as_bytes(), &value(i * 300, i))?;
            if i % 4 == 3 {
                db.remove(format!("k{}", i % 3).as_bytes())?;
            }
            if i % 5 == 4 {
                db.sync()?;
            }
        }
        db.close()
    };
    let probe = FaultVfs::new(
        MemVfs::new(),
        FaultConfig {
            seed: 1,
            crash_at: None,
            kind: CrashKind::ProcessKill,
        },
    );
    workload(Arc::new(probe.clone())).unwrap();
    let events = probe.events();
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    let mut expected = Vec::new();
    for n in (1..=events).step_by((events as usize / 25).max(1)) {
        let fault = FaultVfs::new(
            MemVfs::new(),
            FaultConfig {
                seed: n,
                crash_at: Some(n),
                kind: CrashKind::ProcessKill,
            },
        );
        let _ = workload(Arc::new(fault.clone()));
        let disk = fault.surviving_disk();
        Pager::recover(&disk, Path::new("/c/db.dat")).unwrap();
        let Some(_) = disk.read_file(Path::new("/c/db.dir")) else {
            continue; // crashed before the database existed
        };
        let dir = tmp.path().join(format!("crash{n}"));
        std::fs::create_dir(&dir).unwrap();
        for ext in ["dat", "dir", "bak"] {
            if let Some(b) = disk.read_file(Path::new(&format!("/c/db.{ext}"))) {
                std::fs::write(dir.join(format!("db.{ext}")), b).unwrap();
            }
        }
        let mut db = DumbDb::open(&dir.join("db"), &opts("r")).unwrap();
        let mut line = dir.display().to_string();
        for k in db.keys().unwrap() {
            let v = db.get(&k).unwrap().unwrap();
            line.push_str(&format!(" {}={}", tohex(&k), tohex(&v)));
        }
        expected.push(line);
        dirs.push(dir);
    }
    assert!(dirs.len() >= 10, "{} crash images", dirs.len());
    let o = Command::new(&python)
        .arg(fixtures().join("make.py"))
        .arg("read")
        .args(&dirs)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "CPython failed to read a recovered database: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    let expected: Vec<String> = expected.iter().map(|l| l.trim_end().to_string()).collect();
    assert_eq!(got, expected);
}
