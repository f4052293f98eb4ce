//! whichdb against CPython: the committed fixtures (tests/fixtures/whichdb/make.py ran
//! `dbm.whichdb` of Debian's CPython 3.11 on every query), the 3.13 and pydbm dialects
//! derived from them by spec §6, and a live differential run.

use pydbm_engine::live_reference::{python_or_skip, Python};
use std::path::{Path, PathBuf};
use std::process::Command;

use pydbm_engine::OsVfs;
use pydbm_formats::whichdb::{fuzz_files, whichdb, whichdb_as, Dialect};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whichdb")
}

/// Parses Python's `repr` of whichdb's answer.
fn parse_answer(repr: &str) -> Option<String> {
    match repr {
        "None" => None,
        s => Some(s.trim_matches('\'').to_string()),
    }
}

fn expected() -> Vec<(String, Option<String>)> {
    let text = std::fs::read_to_string(fixtures().join("expected.tsv")).expect("expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (q, a) = l.split_once('\t').expect("QUERY<TAB>ANSWER");
            (q.to_string(), parse_answer(a))
        })
        .collect()
}

fn answer(path: &Path, dialect: Dialect) -> Option<String> {
    whichdb_as(&OsVfs::new(), path, dialect)
        .expect("whichdb over real files does not fail")
        .map(str::to_string)
}

/// Files CPython cannot name but pydbm opens as gdbm (docs/cli.md `pydbm whichdb`).
const PYDBM_GDBM_EXTRAS: [&str; 8] = [
    "corpus/gdbm/09-numsync.gdbm",
    "corpus/gdbm/10-converted-numsync.gdbm",
    "corpus/gdbm/invalid/byteswapped-magic.gdbm",
    "edge/gdbm-numsync64/x",
    "edge/gdbm-numsync32/x",
    "edge/gdbm-swapped64/x",
    "edge/gdbm-swapped-omagic/x",
    "edge/gdbm-swapped-numsync/x",
];

fn starts_with_sqlite_header(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| b.starts_with(b"SQLite format 3\0"))
        .unwrap_or(false)
}

#[test]
fn cpython311_dialect_matches_reference_fixtures() {
    let exp = expected();
    assert!(exp.len() >= 70, "{} queries", exp.len());
    let mut failures = Vec::new();
    for (q, want) in &exp {
        let got = answer(&fixtures().join(q), Dialect::CPython311);
        if &got != want {
            failures.push(format!("{q}: got {got:?}, CPython 3.11 says {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// 3.13 adds exactly one check to 3.11's whichdb (spec §6 step 5, Lib/dbm diffed
/// 3.6–3.13): a file whose 16 first bytes are the SQLite header is `dbm.sqlite3`. The
/// corpus's `via-dbm-open` was made by 3.13's `dbm.open(name, 'c')`.
#[test]
fn cpython313_dialect_adds_only_the_sqlite_check() {
    let mut sqlite = 0;
    for (q, want311) in expected() {
        let path = fixtures().join(&q);
        let want = if want311.as_deref() == Some("") && starts_with_sqlite_header(&path) {
            sqlite += 1;
            Some("dbm.sqlite3".to_string())
        } else {
            want311
        };
        assert_eq!(answer(&path, Dialect::CPython313), want, "{q}");
    }
    assert_eq!(sqlite, 4, "the three corpus databases and the bare header");
}

#[test]
fn pydbm_dialect_names_every_gdbm_variant() {
    for (q, want311) in expected() {
        let path = fixtures().join(&q);
        let got = whichdb(&OsVfs::new(), &path)
            .expect("no vfs failure")
            .map(str::to_string);
        let want = if PYDBM_GDBM_EXTRAS.contains(&q.as_str()) {
            assert_eq!(
                want311.as_deref(),
                Some(""),
                "{q}: CPython does not know it"
            );
            Some("dbm.gnu".to_string())
        } else {
            answer(&path, Dialect::CPython313)
        };
        assert_eq!(got, want, "{q}");
    }
}

/// Debian's python3 with `dbm.ndbm` (Berkeley DB) and `dbm.gnu` (`PYDBM_PYTHON_GDBM`,
/// pydbm_engine::live_reference), or None after the SKIPPED line (a failure under CI=true).
fn python() -> Option<PathBuf> {
    python_or_skip(Python::Gdbm, "import dbm.ndbm, dbm.gnu")
}

/// Live: random 16-byte headers (gdbm/SQLite/BDB magics mixed with noise) and random
/// companion files in a temp dir; CPython 3.11's whichdb and pydbm's 3.11 dialect agree.
#[test]
fn live_random_files_match_cpython() {
    let Some(py) = python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let small_db = std::fs::read(fixtures().join("corpus/ndbm/small.db")).expect("small.db");
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let heads: [&[u8]; 7] = [
        &0x13579acfu32.to_le_bytes(),
        &0x13579ad1u32.to_le_bytes(),
        &0x13579acfu32.to_be_bytes(),
        b"SQLite format 3\0",
        b"'",
        b"\"",
        b"",
    ];
    let mut queries = Vec::new();
    for i in 0..200 {
        let base = dir.path().join(format!("q{i}"));
        for ext in ["", ".pag", ".dir", ".dat", ".db"] {
            if next() % 3 != 0 {
                continue;
            }
            let mut data = heads[(next() % heads.len() as u64) as usize].to_vec();
            let extra = (next() % 20) as usize;
            data.extend((0..extra).map(|_| next() as u8));
            if ext == ".db" && next() % 2 == 0 {
                data = small_db.clone();
            }
            let mut p = base.clone().into_os_string();
            p.push(ext);
            std::fs::write(&p, &data).expect("write");
        }
        queries.push(base);
    }
    let script = "import dbm, sys\nfor q in sys.argv[1:]:\n    print(repr(dbm.whichdb(q)))\n";
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(&queries)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let answers: Vec<&str> = text.lines().collect();
    assert_eq!(answers.len(), queries.len());
    for (q, a) in queries.iter().zip(answers) {
        assert_eq!(
            answer(q, Dialect::CPython311),
            parse_answer(a),
            "{}",
            q.display()
        );
    }
}

/// Replays every seed of the `whichdb` fuzz target through the function it calls.
#[test]
fn fuzz_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/whichdb");
    let mut answers = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/whichdb") {
        let data = std::fs::read(entry.expect("entry").path()).expect("seed");
        answers.push(fuzz_files(&data));
    }
    assert!(answers.len() >= 5, "seeds in {}", dir.display());
    // The seeds cover every answer.
    for want in [
        None,
        Some(""),
        Some("dbm.gnu"),
        Some("dbm.ndbm"),
        Some("dbm.dumb"),
        Some("dbm.sqlite3"),
    ] {
        assert!(answers.contains(&want), "no seed answers {want:?}");
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Live: every fixture file of every format in the workspace (gnu, ndbm, dumb, sqlite,
/// shelve), queried as itself and without its extension, gets CPython 3.11's answer from
/// the 3.11 dialect, and the 3.13 and pydbm dialects differ from it only by their rules.
#[test]
fn live_every_format_fixture_matches_cpython() {
    let Some(py) = python() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "formats/tests/fixtures/gnu",
        "formats/tests/fixtures/ndbm",
        "formats/tests/fixtures/dumb",
        "sqlite/tests/fixtures",
        "shelve/tests/fixtures/shelve",
    ] {
        walk(&root.join(dir), &mut files);
    }
    let mut queries: Vec<PathBuf> = Vec::new();
    for f in files {
        if let Some(ext) = f.extension().and_then(|e| e.to_str()) {
            if ["db", "pag", "dir", "dat"].contains(&ext) {
                queries.push(f.with_extension(""));
            }
        }
        queries.push(f);
    }
    queries.sort();
    queries.dedup();
    assert!(queries.len() > 100, "{} queries", queries.len());
    let script = "import dbm, sys\nfor q in sys.stdin.read().split('\\n'):\n    if q: print(repr(dbm.whichdb(q)))\n";
    let mut child = Command::new(py)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    {
        use std::io::Write;
        let list: Vec<String> = queries.iter().map(|q| q.display().to_string()).collect();
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(list.join("\n").as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("python finishes");
    let text = String::from_utf8(out.stdout).expect("utf8");
    let answers: Vec<&str> = text.lines().collect();
    assert_eq!(answers.len(), queries.len());
    let mut known = 0;
    for (q, a) in queries.iter().zip(answers) {
        let want = parse_answer(a);
        assert_eq!(answer(q, Dialect::CPython311), want, "{}", q.display());
        if want.as_deref().is_some_and(|m| !m.is_empty()) {
            known += 1;
        }
    }
    assert!(known > 20, "only {known} recognised databases");
}

/// CPython 3.13's `dbm.whichdb`, run live by `PYDBM_PYTHON313` (the pyenv build). That build has no
/// `_dbm`, so its whichdb would skip the `.db` probe (spec §6 step 2: `ndbm.open` is tried
/// only when `dbm.ndbm` imports); docs/cli.md defines the answer of a 3.13 *with* `dbm.ndbm`.
/// The script therefore gives 3.13's whichdb an `ndbm` whose `open` runs the real
/// `dbm.ndbm.open` (Berkeley DB 5.3) of Debian's python3 (`sys.argv[1]`) in a child and raises OSError
/// (as `dbm.ndbm.error` is) when that fails. Everything else is 3.13's own code.
const CPYTHON313_WHICHDB: &str = r#"
import dbm, subprocess, sys, types
def _ndbm_open(name, flag='r', mode=0o666):
    r = subprocess.run([sys.argv[1], '-c',
        'import dbm.ndbm, sys\ntry:\n    dbm.ndbm.open(sys.argv[1]).close()\nexcept dbm.ndbm.error:\n    sys.exit(3)',
        name], capture_output=True)
    if r.returncode == 3:
        raise OSError('dbm.ndbm.error')
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    return types.SimpleNamespace(close=lambda: None)
dbm.whichdb.__globals__['ndbm'] = types.SimpleNamespace(open=_ndbm_open)
for q in sys.stdin.read().split('\n'):
    if q: print(repr(dbm.whichdb(q)))
"#;

/// Runs [`CPYTHON313_WHICHDB`] on `queries`, or None when 3.13 or the 3.11 with
/// `dbm.ndbm` it borrows is missing.
fn cpython313_answers(queries: &[PathBuf]) -> Option<Vec<Option<String>>> {
    let py = python_or_skip(Python::Py313, "import dbm.sqlite3")?;
    let gdbm_python = python()?;
    let mut child = Command::new(py)
        .arg("-c")
        .arg(CPYTHON313_WHICHDB)
        .arg(gdbm_python)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python 3.13 runs");
    {
        use std::io::Write;
        let list: Vec<String> = queries.iter().map(|q| q.display().to_string()).collect();
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(list.join("\n").as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("python 3.13 finishes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let answers: Vec<Option<String>> = text.lines().map(parse_answer).collect();
    assert_eq!(answers.len(), queries.len());
    Some(answers)
}

/// Live against CPython 3.13 (issue 7): every edge case and corpus query of expected.tsv
/// and every fixture file of every format in the workspace (as itself and without its
/// extension). The CPython313 dialect equals 3.13's answer on every one; the default
/// (pydbm) dialect differs only where docs/cli.md says: gdbm variants CPython cannot name
/// (numsync, byte-swapped) are `dbm.gnu` where 3.13 says ''.
#[test]
fn live_cpython313_matches_every_query() {
    let mut queries: Vec<PathBuf> = expected().iter().map(|(q, _)| fixtures().join(q)).collect();
    let edge_count = queries.len();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "formats/tests/fixtures/gnu",
        "formats/tests/fixtures/ndbm",
        "formats/tests/fixtures/dumb",
        "sqlite/tests/fixtures",
        "shelve/tests/fixtures/shelve",
    ] {
        walk(&root.join(dir), &mut files);
    }
    let mut more = Vec::new();
    for f in files {
        if let Some(ext) = f.extension().and_then(|e| e.to_str()) {
            if ["db", "pag", "dir", "dat"].contains(&ext) {
                more.push(f.with_extension(""));
            }
        }
        more.push(f);
    }
    more.sort();
    more.dedup();
    queries.extend(more);
    let Some(answers) = cpython313_answers(&queries) else {
        return;
    };
    let (mut sqlite, mut ndbm, mut extras) = (0, 0, 0);
    for (i, (q, want)) in queries.iter().zip(&answers).enumerate() {
        assert_eq!(&answer(q, Dialect::CPython313), want, "{}", q.display());
        let pydbm = whichdb(&OsVfs::new(), q)
            .expect("no vfs failure")
            .map(str::to_string);
        if &pydbm != want {
            assert_eq!(want.as_deref(), Some(""), "{}", q.display());
            assert_eq!(pydbm.as_deref(), Some("dbm.gnu"), "{}", q.display());
            if i < edge_count {
                let rel = q.strip_prefix(fixtures()).expect("under fixtures");
                assert!(
                    PYDBM_GDBM_EXTRAS.contains(&rel.to_str().expect("utf-8")),
                    "{}",
                    q.display()
                );
            }
            extras += 1;
        }
        match want.as_deref() {
            Some("dbm.sqlite3") => sqlite += 1,
            Some("dbm.ndbm") => ndbm += 1,
            _ => {}
        }
    }
    println!(
        "whichdb vs live 3.13: {} queries ({edge_count} from expected.tsv), {sqlite} dbm.sqlite3, {ndbm} dbm.ndbm, {extras} gdbm variants only pydbm names",
        queries.len()
    );
    assert!(
        edge_count >= 70 && queries.len() > 170,
        "{} queries",
        queries.len()
    );
    assert!(sqlite >= 4 && ndbm >= 4, "sqlite {sqlite}, ndbm {ndbm}");
    assert!(extras >= PYDBM_GDBM_EXTRAS.len(), "{extras} gdbm variants");
}
