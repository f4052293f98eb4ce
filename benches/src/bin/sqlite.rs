//! pydbm-sqlite vs rusqlite (same bundled SQLite) vs CPython's sqlite3 (/usr/bin/python3,
//! Debian's SQLite; timed inside Python): N rows `(i, "row<i>")` inserted with
//! `executemany` in one transaction into a file database, then a full `SELECT` fetched.
//!
//! Usage: `cargo run --release -p pydbm-benches --bin sqlite [N]` (N defaults to 200000).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pydbm_sqlite::{connect, ConnectOptions, Value};

fn pydbm(path: &Path, n: i64) -> (f64, f64) {
    let c = connect(path, &ConnectOptions::default()).expect("open");
    c.execute("create table t(a integer, b text)", ())
        .expect("create");
    let t = Instant::now();
    c.executemany(
        "insert into t values (?, ?)",
        (0..n).map(|i| vec![Value::Int(i), Value::Text(format!("row{i}"))]),
    )
    .expect("insert");
    c.commit().expect("commit");
    let ins = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let rows = c
        .execute("select a, b from t", ())
        .expect("select")
        .fetchall()
        .expect("fetch");
    assert_eq!(rows.len() as i64, n);
    (ins, t.elapsed().as_secs_f64())
}

fn raw(path: &Path, n: i64) -> (f64, f64) {
    let mut c = rusqlite::Connection::open(path).expect("open");
    c.execute("create table t(a integer, b text)", [])
        .expect("create");
    let t = Instant::now();
    let tx = c.transaction().expect("begin");
    {
        let mut st = tx.prepare("insert into t values (?, ?)").expect("prepare");
        for i in 0..n {
            st.execute((i, format!("row{i}"))).expect("insert");
        }
    }
    tx.commit().expect("commit");
    let ins = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut st = c.prepare("select a, b from t").expect("prepare");
    let rows: Vec<(i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(rows.len() as i64, n);
    (ins, t.elapsed().as_secs_f64())
}

const PY: &str = r#"
import sqlite3, sys, time
n = int(sys.argv[2])
c = sqlite3.connect(sys.argv[1])
c.execute("create table t(a integer, b text)")
t = time.perf_counter()
c.executemany("insert into t values (?, ?)", [(i, "row%d" % i) for i in range(n)])
c.commit()
ins = time.perf_counter() - t
t = time.perf_counter()
rows = c.execute("select a, b from t").fetchall()
assert len(rows) == n
print(ins, time.perf_counter() - t, sqlite3.sqlite_version)
"#;

fn python(path: &Path, n: i64) -> Option<(f64, f64, String)> {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", PY])
        .arg(path)
        .arg(n.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = s.split_whitespace().collect();
    Some((
        f.first()?.parse().ok()?,
        f.get(1)?.parse().ok()?,
        f.get(2)?.to_string(),
    ))
}

fn main() {
    let n: i64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let best = |f: &dyn Fn(&Path) -> (f64, f64), tag: &str| {
        let mut b = (f64::MAX, f64::MAX);
        for i in 0..3 {
            let p = dir.path().join(format!("{tag}{i}.db"));
            let (a, s) = f(&p);
            b = (b.0.min(a), b.1.min(s));
        }
        b
    };
    let r = best(&|p| raw(p, n), "raw");
    let d = best(&|p| pydbm(p, n), "pydbm");
    println!(
        "{n} rows, SQLite {} (bundled) for pydbm and rusqlite; best of 3",
        pydbm_sqlite::sqlite_version()
    );
    println!("                 insert(s)  select(s)  insert/rusqlite  select/rusqlite");
    println!(
        "rusqlite          {:8.3}  {:9.3}  {:15.2}  {:15.2}",
        r.0, r.1, 1.0, 1.0
    );
    println!(
        "pydbm-sqlite      {:8.3}  {:9.3}  {:15.2}  {:15.2}",
        d.0,
        d.1,
        d.0 / r.0,
        d.1 / r.1
    );
    let mut py = None;
    for i in 0..3 {
        if let Some(x) = python(&dir.path().join(format!("py{i}.db")), n) {
            py = Some(match py {
                None => x,
                Some((a, s, v)) => (f64::min(a, x.0), f64::min(s, x.1), v),
            });
        }
    }
    match py {
        Some((a, s, v)) => {
            println!(
                "python3 sqlite3   {a:8.3}  {s:9.3}  {:15.2}  {:15.2}   (SQLite {v}, Debian build)",
                a / r.0,
                s / r.1
            );
            let per = |t: f64| t / n as f64 * 1e9;
            println!(
                "per-row overhead over rusqlite: pydbm insert {:.0} ns, select {:.0} ns; python insert {:.0} ns, select {:.0} ns (python's includes a different SQLite build)",
                per(d.0 - r.0), per(d.1 - r.1), per(a - r.0), per(s - r.1)
            );
        }
        None => println!("python3 sqlite3   SKIPPED: /usr/bin/python3 not available"),
    }
}
