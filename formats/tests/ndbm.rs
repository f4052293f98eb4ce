//! Differential tests of the ndbm (Berkeley DB 5.3 hash) writer against libdb.
//!
//! - `fixture_scripts_match_libdb`: replays every committed script of
//!   `tests/fixtures/ndbm/scripts` (made by `make.py` through Python's `dbm.ndbm`) and checks
//!   that pydbm's file equals libdb's on every live byte (ndbm spec §4/§5 mask).
//! - `live_scripts_match_libdb`: the same for fresh random scripts run through
//!   Debian's python3 (`PYDBM_PYTHON_GDBM`) now; also runs `db5.3_verify` on pydbm's files and has Python read
//!   them back. Skips loudly without the reference, fails under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

use std::sync::Arc;

use pydbm_engine::{Dbm, MemVfs, OpenOptions, Vfs};
use pydbm_engine::{Pager, PagerOptions};
use pydbm_formats::ndbm::live::live_diff;
use pydbm_formats::ndbm::{db_path, HashStore, NdbmDb};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ndbm")
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("script hex"))
        .collect()
}

/// Runs a `make.py` script through pydbm's full stack (`NdbmDb` over the engine's `Pager`
/// on a `MemVfs`, one transaction per operation); returns the file's bytes after close.
fn replay(script: &str, name: &str) -> Vec<u8> {
    let vfs = MemVfs::new();
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    let path = PathBuf::from(format!("/mem/{name}"));
    let mut db =
        NdbmDb::open_with(shared.clone(), &path, &OpenOptions::from_flag("c").unwrap()).unwrap();
    // Debugging aid: PYDBM_NDBM_STOP=N replays only the first N operations.
    let stop: usize = std::env::var("PYDBM_NDBM_STOP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let ops = script
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    for (n, line) in ops.take(stop).enumerate() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let ctx = || format!("{name} op {}: {line:.80}", n + 1);
        match w[0] {
            "set" => db.insert(&unhex(w[1]), &unhex(w[2])).unwrap(),
            "del" => assert!(db.remove(&unhex(w[1])).unwrap(), "{}", ctx()),
            "delmissing" => assert!(!db.remove(&unhex(w[1])).unwrap(), "{}", ctx()),
            "get" => {
                db.get(&unhex(w[1])).unwrap();
            }
            "keys" => {
                db.keys().unwrap();
            }
            "len" => {
                db.len().unwrap();
            }
            "reopen" => {
                db.close().unwrap();
                db =
                    NdbmDb::open_with(shared.clone(), &path, &OpenOptions::from_flag("w").unwrap())
                        .unwrap();
            }
            other => panic!("{}: unknown op {other}", ctx()),
        }
    }
    db.close().unwrap();
    vfs.read_file(&db_path(&path))
        .expect("the database file exists after close")
}

fn compare_dir(dir: &Path) -> usize {
    let mut n = 0;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    names.sort();
    let mut failures = Vec::new();
    for txt in names {
        let name = txt.file_stem().unwrap().to_string_lossy().into_owned();
        let script = std::fs::read_to_string(&txt).unwrap();
        let libdb = std::fs::read(txt.with_extension("db")).unwrap();
        let ours = replay(&script, &name);
        if let Some(dir) = std::env::var_os("PYDBM_NDBM_DUMP") {
            std::fs::write(Path::new(&dir).join(format!("{name}.db")), &ours).unwrap();
        }
        if let Some(d) = live_diff(&libdb, &ours) {
            failures.push(format!("{name}: {d}"));
        }
        n += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {n} scripts differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    n
}

#[test]
fn fixture_scripts_match_libdb() {
    // PYDBM_NDBM_FIXTURES points the test at another directory of make.py output (debugging).
    let dir = std::env::var_os("PYDBM_NDBM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("scripts"));
    let n = compare_dir(&dir);
    assert!(n >= 1, "only {n} fixture scripts");
}

/// The live reference (Debian's Python with dbm.ndbm over libdb 5.3, `PYDBM_PYTHON_GDBM`,
/// see pydbm_engine::live_reference, and `db5.3_verify`), or None after the loud `SKIPPED`
/// line (a failure under `CI=true`).
fn reference() -> Option<PathBuf> {
    let py = pydbm_engine::live_reference::python_or_skip(
        pydbm_engine::live_reference::Python::Gdbm,
        "import dbm.ndbm; assert dbm.ndbm.library == 'Berkeley DB'",
    )?;
    if Command::new("db5.3_verify").arg("-V").output().is_err() {
        pydbm_engine::live_reference::skip_or_fail("db5.3_verify (db5.3-util)");
        return None;
    }
    pydbm_engine::live_reference::record_used("db5.3_verify (db5.3-util)");
    Some(py)
}

#[test]
fn live_scripts_match_libdb() {
    let Some(python) = reference() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let count: usize = std::env::var("PYDBM_NDBM_SCRIPTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    // Seeds from 100000 on: disjoint from the committed fixtures (0..60).
    let st = Command::new(&python)
        .arg(fixtures().join("make.py"))
        .arg(dir.path())
        .arg("100000")
        .arg(count.to_string())
        .status()
        .unwrap();
    assert!(st.success(), "make.py failed");
    let n = compare_dir(dir.path());
    assert_eq!(n, count);
    // db5.3_verify accepts pydbm's files and Python lists the same pairs from them.
    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    let mut listing = String::from("import dbm.ndbm, sys\n");
    for i in 0..count {
        let name = format!("s{:04}", 100000 + i);
        let script = std::fs::read_to_string(dir.path().join(format!("{name}.txt"))).unwrap();
        let bytes = replay(&script, &name);
        let path = ours.join(format!("{name}.db"));
        std::fs::write(&path, &bytes).unwrap();
        let out = Command::new("db5.3_verify")
            .arg("-q")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "db5.3_verify rejects pydbm's {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        listing.push_str(&format!(
            "d = dbm.ndbm.open({:?}, 'r'); print({:?}, ' '.join(k.hex() or '-' for k in d.keys())); d.close()\n",
            ours.join(&name).to_str().unwrap(),
            name
        ));
    }
    let out = Command::new(&python)
        .arg("-c")
        .arg(&listing)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for (i, line) in text.lines().enumerate() {
        let name = format!("s{:04}", 100000 + i);
        let bytes = std::fs::read(ours.join(format!("{name}.db"))).unwrap();
        let mut st =
            HashStore::open(Pager::in_memory(&name, &bytes, PagerOptions::default()).unwrap())
                .unwrap();
        let mut want = vec![name.clone()];
        for k in st.keys().unwrap() {
            want.push(if k.is_empty() {
                "-".into()
            } else {
                k.iter().map(|b| format!("{b:02x}")).collect()
            });
        }
        let got: Vec<String> = line.split_whitespace().map(String::from).collect();
        // ndbm spec §1: Python's binding ends keys() at an empty key when the handle has
        // not yet returned a non-empty item; the listing may stop there.
        let cut = want.iter().position(|w| w == "-").unwrap_or(want.len());
        assert!(
            got == want || got[..] == want[..cut],
            "Python lists pydbm's {name} differently: {got:?} vs {want:?}"
        );
    }
    assert_eq!(text.lines().count(), count);
}

#[test]
fn compat_layout_reads_back_in_python() {
    let Some(python) = reference() else {
        return;
    };
    use pydbm_formats::ndbm::compat::{dir_path, CompatDb, DIR_STAMP};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    let vfs: Arc<dyn Vfs> = Arc::new(pydbm_engine::OsVfs::new());
    let mut db = CompatDb::open_with(vfs, &p, &OpenOptions::from_flag("c").unwrap()).unwrap();
    for i in 0..300u32 {
        db.insert(format!("key{i}").as_bytes(), &vec![b'v'; (i % 50) as usize])
            .unwrap();
    }
    db.close().unwrap();
    assert_eq!(std::fs::read(dir_path(&p)).unwrap(), DIR_STAMP.to_vec());
    // libgdbm 1.23 reads NAME.pag; whichdb names the pair dbm.ndbm (gdbm spec §20).
    let script = format!(
        "import dbm, dbm.gnu\nd = dbm.gnu.open({:?}, 'r')\nprint(len(d.keys()), d[b'key7'])\nprint(dbm.whichdb({:?}))",
        format!("{}.pag", p.display()),
        p.display().to_string()
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "300 b'vvvvvvv'\ndbm.ndbm\n"
    );
}
