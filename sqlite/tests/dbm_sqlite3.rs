//! dbm.sqlite3 interop: files made by CPython 3.13.0 (committed fixtures, made by
//! tests/fixtures/dbm-sqlite3/make.py and the shared corpus) open in pydbm with the same
//! content, and pydbm's files have the same records, rowids and page bytes; live Python
//! checks both ways when an interpreter is available.

use pydbm_engine::live_reference::{python_or_skip, Python};
use std::path::{Path, PathBuf};
use std::process::Command;

use pydbm_engine::{Dbm, Format, OpenOptions};
use pydbm_sqlite::dbm::{SqliteDbm, FORMAT};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dbm-sqlite3")
        .join(name)
}

fn opts(flag: &str) -> OpenOptions {
    OpenOptions::from_flag(flag).unwrap()
}

/// Copies a fixture into a temp dir (an 'r' open of a WAL file leaves -wal/-shm behind).
fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let dst = dir.join(name);
    std::fs::copy(fixture(name), &dst).unwrap();
    let mut perm = std::fs::metadata(&dst).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&dst, perm).unwrap();
    dst
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn rows_of(path: &Path) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT rowid, key, value FROM Dict ORDER BY rowid")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    rows
}

fn schema_of(path: &Path) -> Vec<(String, String, Option<String>)> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut st = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    rows
}

/// CPython 3.13 with `dbm.sqlite3` (`PYDBM_PYTHON313`, pydbm_engine::live_reference), or
/// None after the SKIPPED line (a failure when CI=true).
fn python313() -> Option<PathBuf> {
    python_or_skip(Python::Py313, "import dbm.sqlite3")
}

/// Debian's python3 (3.11, Debian's libsqlite3; `PYDBM_PYTHON_GDBM`) with `sqlite3`.
fn python311() -> Option<PathBuf> {
    python_or_skip(Python::Gdbm, "import sqlite3")
}

#[test]
fn corpus_files_open_with_python_content() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_fixture(dir.path(), "basic.sqlite3");
    let mut db = SqliteDbm::open(&p, &opts("r")).unwrap();
    // probe.json "open r": keys in BLOB order.
    let want: Vec<Vec<u8>> = vec![
        b"\x00\xff".to_vec(),
        b"1".to_vec(),
        b"1.5".to_vec(),
        b"ba".to_vec(),
        b"bytes-key".to_vec(),
        b"dup".to_vec(),
        b"str-key".to_vec(),
    ];
    assert_eq!(db.keys().unwrap(), want);
    assert_eq!(db.len().unwrap(), 7);
    // probe.json "get str key", "get int key 1 via b'1'", "get float".
    assert_eq!(
        db.get(b"str-key").unwrap().unwrap(),
        "str-val \u{20ac}".as_bytes()
    );
    assert_eq!(db.get(b"1").unwrap().unwrap(), b"2");
    assert_eq!(db.get(b"1.5").unwrap().unwrap(), b"2.5");
    assert_eq!(db.get(b"nope").unwrap(), None);
    db.close().unwrap();

    let p = copy_fixture(dir.path(), "via-dbm-open");
    let mut db = SqliteDbm::open(&p, &opts("w")).unwrap();
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"v");
    db.close().unwrap();
    let p = copy_fixture(dir.path(), "n-flag.sqlite3");
    let mut db = SqliteDbm::open(&p, &opts("r")).unwrap();
    assert_eq!(db.len().unwrap(), 0);
    db.close().unwrap();

    for name in ["basic.sqlite3", "via-dbm-open", "n-flag.sqlite3"] {
        let p = copy_fixture(dir.path(), name);
        assert_eq!(FORMAT.check(&p).unwrap(), vec![], "{name}");
        let stats = FORMAT.stats(&p).unwrap();
        assert!(stats.contains(&("written by".into(), "SQLite 3.40.1".into())));
    }
}

/// Replays ops.txt (the calls make.py made through CPython 3.13's dbm.sqlite3) and compares
/// with ops.sqlite3: same keys() order, same rows with the same rowids (REPLACE gives an
/// overwritten key a new rowid), same schema text, same file length and the same 100-byte
/// header except SQLITE_VERSION_NUMBER (offset 96..100). Page interiors are not compared:
/// the reference ran SQLite 3.40.1, pydbm the bundled 3.50.2, and the two place freeblocks
/// differently inside a page (spec §5: byte identity only for the same SQLite version).
#[test]
fn same_operations_give_the_reference_file() {
    let text = std::fs::read_to_string(fixture("ops.txt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ops.sqlite3");
    let mut db = SqliteDbm::open(&p, &opts("n")).unwrap();
    let mut want_keys = Vec::new();
    let mut want_rows = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "set" => db.insert(&unhex(f[1]), &unhex(f[2])).unwrap(),
            "del" => assert!(db.remove(&unhex(f[1])).unwrap()),
            "key" => want_keys.push(unhex(f[1])),
            "row" => want_rows.push((f[1].parse::<i64>().unwrap(), unhex(f[2]), unhex(f[3]))),
            other => panic!("bad line {other}"),
        }
    }
    assert_eq!(db.keys().unwrap(), want_keys);
    db.close().unwrap();
    assert_eq!(rows_of(&p), want_rows);
    let ours = std::fs::read(&p).unwrap();
    let theirs = std::fs::read(fixture("ops.sqlite3")).unwrap();
    assert_eq!(ours.len(), theirs.len(), "page count differs");
    assert_eq!(ours[..96], theirs[..96], "header differs");
    let refdir = tempfile::tempdir().unwrap();
    let reference = copy_fixture(refdir.path(), "ops.sqlite3");
    assert_eq!(schema_of(&p), schema_of(&reference));
}

#[test]
fn live_python_reads_pydbm_files_and_the_other_way_round() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.sqlite3");
    let mut db = SqliteDbm::open(&ours, &opts("c")).unwrap();
    db.insert(b"key", b"val").unwrap();
    db.insert(b"\x00\x01", "\u{20ac}".as_bytes()).unwrap();
    db.close().unwrap();
    if let Some(py) = python311() {
        // 3.11 has no dbm.sqlite3: read the Dict table with its sqlite3 module.
        let out = Command::new(py)
            .arg("-c")
            .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(sorted((k.hex(), v.hex(), type(k).__name__) for k, v in c.execute('select key, value from Dict')))")
            .arg(&ours)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "[('0001', 'e282ac', 'bytes'), ('6b6579', '76616c', 'bytes')]"
        );
    }
    if let Some(py) = python313() {
        let out = Command::new(&py)
            .arg("-c")
            .arg("import dbm.sqlite3,sys; d=dbm.sqlite3.open(sys.argv[1],'r'); print([(k.hex(), d[k].hex()) for k in d.keys()]); d.close()")
            .arg(&ours)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "[('0001', 'e282ac'), ('6b6579', '76616c')]"
        );
        let theirs = dir.path().join("theirs");
        let out = Command::new(&py)
            .arg("-c")
            .arg("import dbm,sys; d=dbm.open(sys.argv[1],'c'); d[b'a']=b'1'; d['s']='\u{e9}'; d[3]=4.5; d.close()")
            .arg(&theirs)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut db = SqliteDbm::open(&theirs, &opts("w")).unwrap();
        assert_eq!(
            db.keys().unwrap(),
            vec![b"3".to_vec(), b"a".to_vec(), b"s".to_vec()]
        );
        assert_eq!(db.get(b"s").unwrap().unwrap(), "\u{e9}".as_bytes());
        assert_eq!(db.get(b"3").unwrap().unwrap(), b"4.5");
        db.insert(b"new", b"x").unwrap();
        db.close().unwrap();
        let out = Command::new(&py)
            .arg("-c")
            .arg("import dbm,sys; d=dbm.open(sys.argv[1],'r'); print(d[b'new'], len(d)); d.close()")
            .arg(&theirs)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "b'x' 4");
    }
}

/// Whether `/usr/bin/sqlite3` (another process) fails to take a RESERVED lock on `p`
/// because of a lock held here ("database is locked"; the CLI's busy timeout is 0).
fn cli_sees_lock(cli: &Path, p: &Path) -> bool {
    let o = Command::new(cli)
        .arg(p)
        .arg("BEGIN IMMEDIATE; ROLLBACK;")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    !o.status.success() && err.contains("database is locked")
}

/// Acceptance (sqlite3 spec §3.3, "any close drops all POSIX locks"): `check` and `stats`
/// run from this process on a database another connection here holds RESERVED
/// must not open and close a second descriptor of it, or SQLite's fcntl locks vanish and
/// the `sqlite3` CLI could write under the holder. The control at the end opens and closes
/// one plain descriptor and shows that this test sees the lock disappear.
#[test]
fn check_and_stats_keep_another_connections_posix_locks() {
    let cli = Path::new("/usr/bin/sqlite3");
    if !cli.exists() {
        pydbm_engine::live_reference::skip_or_fail("/usr/bin/sqlite3");
        return;
    }
    pydbm_engine::live_reference::record_used("/usr/bin/sqlite3");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("held.sqlite3");
    // A rollback-journal file (locks on the database file itself) with dbm.sqlite3's table.
    let holder = rusqlite::Connection::open(&p).unwrap();
    holder
        .execute_batch(
            "CREATE TABLE Dict (\n    key BLOB UNIQUE NOT NULL,\n    value BLOB NOT NULL\n  );
             INSERT INTO Dict VALUES (x'01', x'02');
             BEGIN IMMEDIATE;
             INSERT INTO Dict VALUES (x'03', x'04');",
        )
        .unwrap();
    assert!(
        cli_sees_lock(cli, &p),
        "the holder's RESERVED lock is not visible"
    );

    let problems = FORMAT.check(&p).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert!(cli_sees_lock(cli, &p), "check dropped the holder's locks");

    let stats = FORMAT.stats(&p).unwrap();
    let get = |k: &str| stats.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("records").as_deref(), Some("1"), "{stats:?}");
    assert_eq!(get("journal mode").as_deref(), Some("delete"), "{stats:?}");
    assert!(cli_sees_lock(cli, &p), "stats dropped the holder's locks");

    // The holder still works and commits.
    holder.execute_batch("COMMIT").unwrap();
    let n: i64 = holder
        .query_row("SELECT count(*) FROM Dict", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);

    // Control: a plain open+close of the file drops the holder's locks.
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(cli_sees_lock(cli, &p));
    drop(std::fs::File::open(&p).unwrap());
    assert!(
        !cli_sees_lock(cli, &p),
        "a closed second descriptor should have dropped the lock (the test cannot detect loss)"
    );
    drop(holder);
}

/// Acceptance (sqlite3 spec §3.3), the `whichdb` path: `pydbm_formats::whichdb` opens and
/// closes the file through the engine's `OsVfs`. A pydbm connection on SQLite's default VFS
/// anchors its file in the engine's lock table, so that close is parked and the connection's
/// RESERVED lock survives (the `sqlite3` CLI still cannot write); the same for a
/// `dbm.sqlite3` handle, whose `whichdb` answer is checked too.
#[test]
fn whichdb_keeps_a_pydbm_connections_posix_locks() {
    use pydbm_sqlite::{connect, ConnectOptions, Value};
    let cli = Path::new("/usr/bin/sqlite3");
    if !cli.exists() {
        pydbm_engine::live_reference::skip_or_fail("/usr/bin/sqlite3");
        return;
    }
    pydbm_engine::live_reference::record_used("/usr/bin/sqlite3");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("held.db");
    let vfs = pydbm_engine::OsVfs::new();
    let c = connect(&p, &ConnectOptions::default()).unwrap();
    c.execute("create table t(x)", ()).unwrap();
    // Legacy mode: the INSERT opens a transaction and takes RESERVED until commit.
    c.execute("insert into t values (?)", vec![Value::Int(1)])
        .unwrap();
    assert!(
        cli_sees_lock(cli, &p),
        "the connection's RESERVED lock is not visible"
    );
    assert_eq!(
        pydbm_formats::whichdb::whichdb(&vfs, &p).unwrap(),
        Some("dbm.sqlite3")
    );
    assert!(
        cli_sees_lock(cli, &p),
        "whichdb dropped the connection's locks"
    );
    c.commit().unwrap();
    assert!(!cli_sees_lock(cli, &p), "the lock outlived the transaction");
    c.close().unwrap();

    // A dbm.sqlite3 handle, and a plain SQLite connection holding RESERVED beside it.
    let d = dir.path().join("dbm.sqlite3");
    let mut db = SqliteDbm::open(&d, &opts("c")).unwrap();
    db.insert(b"k", b"v").unwrap();
    let holder = rusqlite::Connection::open(&d).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO Dict VALUES (x'02', x'03');")
        .unwrap();
    assert_eq!(
        pydbm_formats::whichdb::whichdb(&vfs, &d).unwrap(),
        Some("dbm.sqlite3")
    );
    // WAL: a writer's lock is the WAL write lock in -shm; the CLI must still be refused.
    assert!(cli_sees_lock(cli, &d), "whichdb dropped the writer's locks");
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    assert_eq!(db.get(b"\x02").unwrap().unwrap(), b"\x03");
    db.close().unwrap();
}

/// `uri=True` connections hold the same anchor as plain paths (docs/sqlite.md): for
/// several spellings of a `file:` URI (percent-encoded bytes, `//localhost`, query
/// parameters, a fragment), a connection holding RESERVED keeps it visible to the `sqlite3`
/// CLI across `whichdb`'s open+close of the file. The path pydbm reads out of each URI is
/// the one SQLite itself opened (`sqlite3_db_filename`).
#[test]
fn uri_connections_keep_their_posix_locks() {
    use pydbm_sqlite::uri::FileUri;
    use pydbm_sqlite::{connect, ConnectOptions, Value};
    let cli = Path::new("/usr/bin/sqlite3");
    if !cli.exists() {
        pydbm_engine::live_reference::skip_or_fail("/usr/bin/sqlite3");
        return;
    }
    pydbm_engine::live_reference::record_used("/usr/bin/sqlite3");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let vfs = pydbm_engine::OsVfs::new();
    let cases = [
        (format!("file:{d}/a%20b%3Fc.db"), "a b?c.db"),
        (
            format!("file://localhost{d}/plain.db?mode=rwc&cache=private"),
            "plain.db",
        ),
        (format!("file:{d}/p%zz.db%00ignored#frag"), "p%zz.db"),
        (format!("file://{d}/x.db?vfs=unix-excl&mode=rwc"), "x.db"),
    ];
    let uri = ConnectOptions {
        uri: true,
        ..Default::default()
    };
    for (u, file) in &cases {
        let p = dir.path().join(file);
        assert_eq!(
            FileUri::parse(u).unwrap().unwrap().path,
            p,
            "pydbm's reading of {u}"
        );
        let raw = rusqlite::Connection::open_with_flags(
            u,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
                | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        assert_eq!(
            raw.path(),
            Some(p.to_str().unwrap()),
            "SQLite's reading of {u}"
        );
        drop(raw);
        let c = connect(u, &uri).unwrap();
        c.execute("create table t(x)", ()).unwrap();
        c.execute("insert into t values (?)", vec![Value::Int(1)])
            .unwrap();
        assert!(cli_sees_lock(cli, &p), "{u}: RESERVED is not visible");
        assert_eq!(
            pydbm_formats::whichdb::whichdb(&vfs, &p).unwrap(),
            Some("dbm.sqlite3")
        );
        assert!(cli_sees_lock(cli, &p), "{u}: whichdb dropped the locks");
        c.commit().unwrap();
        c.close().unwrap();
    }
    // In-memory and temporary URIs name no file: they open, and nothing is created.
    for u in ["file::memory:", "file:mem.db?mode=memory", "file:?mode=rwc"] {
        let c = connect(u, &uri).unwrap();
        c.execute("create table t(x)", ()).unwrap();
        c.close().unwrap();
    }
    assert!(!Path::new("mem.db").exists() && !Path::new(":memory:").exists());
}
