//! pydbm-sqlite vs rusqlite (same bundled SQLite) vs CPython 3.13's sqlite3
//! (`PYDBM_PYTHON313`, default pyenv's 3.13, linked to Debian's libsqlite3.so.0; timed inside
//! Python), plus "raw Debian SQLite": the same C calls as the rusqlite loop made on Debian's
//! libsqlite3.so.0 (loaded with dlopen), so Python's per-row overhead is measured against the
//! very library it runs on.
//!
//! Workload: N rows `(i, "row<i>")` inserted with `executemany` in one transaction into a
//! file database (timed until the commit returns), then a full `SELECT` fetched into memory.
//! Each side runs 3 rounds, interleaved (raw, pydbm, debian, python, raw, …) so a loaded
//! machine slows all sides alike; the best wall time and the best process CPU time of the
//! 3 rounds are reported.
//!
//! Usage: `cargo run --release -p pydbm-benches --bin sqlite [N] [--only raw|pydbm]`
//! (N defaults to 200000; `--only` runs one round of one side, for profiling with callgrind).
//! `--scan R` builds both tables once and runs only the row-at-a-time scans, R rounds
//! alternated (rusqlite, pydbm, pydbm, rusqlite, …), printing each side's median and best.

use pydbm_benches::{ProcessCpu, SharedLibrary};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pydbm_sqlite::{connect, ConnectOptions};

/// CPython 3.13: `PYDBM_PYTHON313`, else the default lookup of
/// `pydbm_engine::live_reference` (PATH `python3.13`, pyenv), else the bare name.
fn python313() -> std::path::PathBuf {
    pydbm_engine::live_reference::python(pydbm_engine::live_reference::Python::Py313)
        .unwrap_or_else(|| "python3.13".into())
}

/// Wall seconds and process CPU seconds.
#[derive(Clone, Copy, Debug)]
struct Time {
    wall: f64,
    cpu: f64,
}

/// Process CPU seconds so far (user + system).
fn cpu_now() -> f64 {
    ProcessCpu::now().total()
}

struct Timer(Instant, f64);
impl Timer {
    fn start() -> Timer {
        Timer(Instant::now(), cpu_now())
    }
    fn stop(&self) -> Time {
        Time {
            wall: self.0.elapsed().as_secs_f64(),
            cpu: cpu_now() - self.1,
        }
    }
}

/// (insert, select) for one run.
type Run = (Time, Time);

fn pydbm(path: &Path, n: i64) -> Run {
    let c = connect(path, &ConnectOptions::default()).expect("open");
    c.execute("create table t(a integer, b text)", ())
        .expect("create");
    let t = Timer::start();
    pydbm_insert(&c, n);
    let ins = t.stop();
    let t = Timer::start();
    let rows = pydbm_select(&c);
    let sel = t.stop();
    assert_eq!(rows.len() as i64, n);
    (ins, sel)
}

// The timed phases are separate functions (never inlined) so that callgrind can count each
// one alone: `--toggle-collect=sqlite::pydbm_insert` etc.

#[inline(never)]
fn pydbm_insert(c: &pydbm_sqlite::Connection, n: i64) {
    c.executemany(
        "insert into t values (?, ?)",
        // A tuple per row, bound from a borrow: the same work as rusqlite's `(i, String)`.
        (0..n).map(|i| (i, format!("row{i}"))),
    )
    .expect("insert");
    c.commit().expect("commit");
}

#[inline(never)]
fn pydbm_select(c: &pydbm_sqlite::Connection) -> Vec<pydbm_sqlite::Value> {
    c.execute("select a, b from t", ())
        .expect("select")
        .fetchall()
        .expect("fetch")
}

fn raw(path: &Path, n: i64) -> Run {
    let mut c = rusqlite::Connection::open(path).expect("open");
    c.execute("create table t(a integer, b text)", [])
        .expect("create");
    let t = Timer::start();
    raw_insert(&mut c, n);
    let ins = t.stop();
    let t = Timer::start();
    let rows = raw_select(&c);
    let sel = t.stop();
    assert_eq!(rows.len() as i64, n);
    (ins, sel)
}

#[inline(never)]
fn raw_insert(c: &mut rusqlite::Connection, n: i64) {
    let tx = c.transaction().expect("begin");
    {
        let mut st = tx.prepare("insert into t values (?, ?)").expect("prepare");
        for i in 0..n {
            st.execute((i, format!("row{i}"))).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

#[inline(never)]
fn raw_select(c: &rusqlite::Connection) -> Vec<(i64, String)> {
    let mut st = c.prepare("select a, b from t").expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// Row-at-a-time scan of the table `pydbm`/`raw` built: every row is stepped, turned into
/// owned values and consumed (the sum of `a` and of `len(b)`), nothing kept. pydbm: `for row
/// in cursor` (one lock and one step per row, as Python's lazy cursor).
#[inline(never)]
fn iterate_pydbm(path: &Path) -> Time {
    let c = connect(path, &ConnectOptions::default()).expect("open");
    let t = Timer::start();
    let mut sum = 0i64;
    for row in c.execute("select a, b from t", ()).expect("select") {
        let row = row.expect("row");
        let v = row.as_tuple().expect("a tuple row");
        sum += v[0].as_int().expect("int") + v[1].as_text().expect("text").len() as i64;
    }
    let time = t.stop();
    assert!(sum > 0);
    time
}

/// The rusqlite side of [`iterate_pydbm`]: `query_map` to `(i64, String)`, consumed.
#[inline(never)]
fn iterate_raw(path: &Path) -> Time {
    let c = rusqlite::Connection::open(path).expect("open");
    let t = Timer::start();
    let mut st = c.prepare("select a, b from t").expect("prepare");
    let mut sum = 0i64;
    for row in st
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .expect("query")
    {
        let (a, b) = row.expect("row");
        sum += a + b.len() as i64;
    }
    let time = t.stop();
    assert!(sum > 0);
    time
}

/// A reference, not the goal's baseline: the full `SELECT` on rusqlite with dynamically
/// typed rows (a `Vec<rusqlite::types::Value>` per row: what a Python-shaped row is, done
/// the plain rusqlite way), on the table `raw` built.
fn select_raw_dynamic(path: &Path) -> Time {
    let c = rusqlite::Connection::open(path).expect("open");
    let t = Timer::start();
    let mut st = c.prepare("select a, b from t").expect("prepare");
    let rows: Vec<Vec<rusqlite::types::Value>> = st
        .query_map([], |r| (0..2).map(|i| r.get(i)).collect())
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let time = t.stop();
    assert!(!rows.is_empty());
    time
}

/// The handful of SQLite C functions the raw loop needs, from Debian's libsqlite3.so.0.
/// (The bundled SQLite linked into this binary is not exported, so the two do not mix.)
type FnVersion = unsafe extern "C" fn() -> *const c_char;
type FnOpen = unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> c_int;
type FnExec = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_void,
    *mut c_void,
    *mut *mut c_char,
) -> c_int;
type FnPrepare = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    c_int,
    *mut *mut c_void,
    *mut *const c_char,
) -> c_int;
type FnBindInt64 = unsafe extern "C" fn(*mut c_void, c_int, i64) -> c_int;
type FnBindText = unsafe extern "C" fn(*mut c_void, c_int, *const c_char, c_int, isize) -> c_int;
type FnStep = unsafe extern "C" fn(*mut c_void) -> c_int;
type FnReset = unsafe extern "C" fn(*mut c_void) -> c_int;
type FnColumnInt64 = unsafe extern "C" fn(*mut c_void, c_int) -> i64;
type FnColumnText = unsafe extern "C" fn(*mut c_void, c_int) -> *const u8;
type FnColumnBytes = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type FnFinalize = unsafe extern "C" fn(*mut c_void) -> c_int;
type FnClose = unsafe extern "C" fn(*mut c_void) -> c_int;

struct Debian {
    version: FnVersion,
    open: FnOpen,
    exec: FnExec,
    prepare: FnPrepare,
    bind_int64: FnBindInt64,
    bind_text: FnBindText,
    step: FnStep,
    reset: FnReset,
    column_int64: FnColumnInt64,
    column_text: FnColumnText,
    column_bytes: FnColumnBytes,
    finalize: FnFinalize,
    close: FnClose,
}

const SQLITE_ROW: c_int = 100;
const SQLITE_DONE: c_int = 101;
/// SQLITE_TRANSIENT: SQLite copies bound text (what rusqlite passes for a `String`).
const SQLITE_TRANSIENT: isize = -1;

impl Debian {
    fn load() -> Option<Debian> {
        let lib = SharedLibrary::open(c"libsqlite3.so.0")?;
        // SAFETY: each symbol is read as the prototype documented for it in sqlite3.h.
        unsafe {
            Some(Debian {
                version: lib.get(c"sqlite3_libversion")?,
                open: lib.get(c"sqlite3_open")?,
                exec: lib.get(c"sqlite3_exec")?,
                prepare: lib.get(c"sqlite3_prepare_v2")?,
                bind_int64: lib.get(c"sqlite3_bind_int64")?,
                bind_text: lib.get(c"sqlite3_bind_text")?,
                step: lib.get(c"sqlite3_step")?,
                reset: lib.get(c"sqlite3_reset")?,
                column_int64: lib.get(c"sqlite3_column_int64")?,
                column_text: lib.get(c"sqlite3_column_text")?,
                column_bytes: lib.get(c"sqlite3_column_bytes")?,
                finalize: lib.get(c"sqlite3_finalize")?,
                close: lib.get(c"sqlite3_close")?,
            })
        }
    }

    fn version(&self) -> String {
        // SAFETY: sqlite3_libversion returns a static NUL-terminated string.
        unsafe { CStr::from_ptr((self.version)()) }
            .to_string_lossy()
            .into_owned()
    }

    /// The rusqlite loop's C calls (bind, step, reset per row; a `(i64, String)` per row
    /// read), on Debian's SQLite.
    fn run(&self, path: &Path, n: i64) -> Run {
        let cpath =
            std::ffi::CString::new(path.to_str().expect("utf-8 temp path")).expect("no NUL");
        // SAFETY: every pointer passed is valid for the call; statements are finalized and
        // the handle closed before returning; return codes are checked.
        unsafe {
            let mut db = std::ptr::null_mut();
            assert_eq!((self.open)(cpath.as_ptr(), &mut db), 0, "open");
            let exec = |sql: &CStr| {
                let rc = (self.exec)(
                    db,
                    sql.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                );
                assert_eq!(rc, 0, "{sql:?}");
            };
            let prepare = |sql: &CStr| {
                let mut st = std::ptr::null_mut();
                let rc = (self.prepare)(db, sql.as_ptr(), -1, &mut st, std::ptr::null_mut());
                assert_eq!(rc, 0, "{sql:?}");
                st
            };
            exec(c"create table t(a integer, b text)");
            let t = Timer::start();
            exec(c"begin");
            let st = prepare(c"insert into t values (?, ?)");
            for i in 0..n {
                let s = format!("row{i}");
                assert_eq!((self.bind_int64)(st, 1, i), 0);
                let rc =
                    (self.bind_text)(st, 2, s.as_ptr().cast(), s.len() as c_int, SQLITE_TRANSIENT);
                assert_eq!(rc, 0);
                assert_eq!((self.step)(st), SQLITE_DONE);
                (self.reset)(st);
            }
            (self.finalize)(st);
            exec(c"commit");
            let ins = t.stop();
            let t = Timer::start();
            let st = prepare(c"select a, b from t");
            let mut rows: Vec<(i64, String)> = Vec::new();
            loop {
                match (self.step)(st) {
                    SQLITE_ROW => {
                        let a = (self.column_int64)(st, 0);
                        let p = (self.column_text)(st, 1);
                        let len = (self.column_bytes)(st, 1) as usize;
                        let b = std::str::from_utf8(std::slice::from_raw_parts(p, len))
                            .expect("utf-8")
                            .to_string();
                        rows.push((a, b));
                    }
                    rc => {
                        assert_eq!(rc, SQLITE_DONE);
                        break;
                    }
                }
            }
            (self.finalize)(st);
            let sel = t.stop();
            assert_eq!(rows.len() as i64, n);
            (self.close)(db);
            (ins, sel)
        }
    }
}

const PY: &str = r#"
import sqlite3, sys, time
n = int(sys.argv[2])
c = sqlite3.connect(sys.argv[1])
c.execute("create table t(a integer, b text)")
t, p = time.perf_counter(), time.process_time()
c.executemany("insert into t values (?, ?)", ((i, "row%d" % i) for i in range(n)))
c.commit()
ins, insc = time.perf_counter() - t, time.process_time() - p
t, p = time.perf_counter(), time.process_time()
rows = c.execute("select a, b from t").fetchall()
sel, selc = time.perf_counter() - t, time.process_time() - p
assert len(rows) == n
print(ins, insc, sel, selc, sqlite3.sqlite_version, sys.version.split()[0])
"#;

fn python(path: &Path, n: i64) -> Option<(Run, String)> {
    let out = Command::new(python313())
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
    let num = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok());
    Some((
        (
            Time {
                wall: num(0)?,
                cpu: num(1)?,
            },
            Time {
                wall: num(2)?,
                cpu: num(3)?,
            },
        ),
        format!("Python {}, SQLite {}", f.get(5)?, f.get(4)?),
    ))
}

/// Best wall and best CPU (separately) of each phase.
fn best(runs: &[Run]) -> Option<Run> {
    let min = |f: &dyn Fn(&Run) -> f64| runs.iter().map(f).fold(f64::MAX, f64::min);
    (!runs.is_empty()).then(|| {
        (
            Time {
                wall: min(&|r| r.0.wall),
                cpu: min(&|r| r.0.cpu),
            },
            Time {
                wall: min(&|r| r.1.wall),
                cpu: min(&|r| r.1.cpu),
            },
        )
    })
}

/// `--scan R`: the row-at-a-time scans alone, R rounds alternated in ABBA order so a
/// machine whose load drifts slows both sides alike; medians and minima per side.
fn scan_rounds(dir: &Path, n: i64, rounds: usize) {
    let (pr, pp) = (dir.join("scan-raw.db"), dir.join("scan-pydbm.db"));
    raw(&pr, n);
    pydbm(&pp, n);
    let (mut r, mut d) = (vec![], vec![]);
    let (mut r_sys, mut d_sys) = (0.0, 0.0);
    let system = |f: &dyn Fn() -> Time, out: &mut Vec<Time>, sys: &mut f64| {
        let before = ProcessCpu::now().system;
        out.push(f());
        *sys += ProcessCpu::now().system - before;
    };
    for round in 0..rounds {
        if round % 2 == 0 {
            system(&|| iterate_raw(&pr), &mut r, &mut r_sys);
            system(&|| iterate_pydbm(&pp), &mut d, &mut d_sys);
        } else {
            system(&|| iterate_pydbm(&pp), &mut d, &mut d_sys);
            system(&|| iterate_raw(&pr), &mut r, &mut r_sys);
        }
    }
    let stat = |v: &[Time], f: fn(&Time) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(f64::total_cmp);
        (x[x.len() / 2], x[0])
    };
    let (rw, rc) = (stat(&r, |t| t.wall), stat(&r, |t| t.cpu));
    let (dw, dc) = (stat(&d, |t| t.wall), stat(&d, |t| t.cpu));
    println!("{n} rows, row-at-a-time scan, {rounds} alternated rounds: median (best) seconds");
    println!("             wall               cpu");
    println!(
        "rusqlite     {:.4} ({:.4})    {:.4} ({:.4})",
        rw.0, rw.1, rc.0, rc.1
    );
    println!(
        "pydbm        {:.4} ({:.4})    {:.4} ({:.4})",
        dw.0, dw.1, dc.0, dc.1
    );
    println!(
        "system CPU per round (whole call, open included): rusqlite {:.4}, pydbm {:.4}",
        r_sys / rounds as f64,
        d_sys / rounds as f64
    );
    println!(
        "pydbm/rusqlite {:.3} ({:.3})    {:.3} ({:.3})",
        dw.0 / rw.0,
        dw.1 / rw.1,
        dc.0 / rc.0,
        dc.1 / rc.1
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: i64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    if let Some(side) = only {
        let p = dir.path().join("only.db");
        let r = match side.as_str() {
            "raw" => raw(&p, n),
            "pydbm" => pydbm(&p, n),
            other => panic!("--only raw|pydbm, not {other}"),
        };
        println!("{side}: insert {:?}, select {:?}", r.0, r.1);
        let it = match side.as_str() {
            "raw" => iterate_raw(&p),
            _ => iterate_pydbm(&p),
        };
        println!("{side}: row-at-a-time scan {it:?}");
        return;
    }
    if let Some(rounds) = args
        .iter()
        .position(|a| a == "--scan")
        .and_then(|i| args.get(i + 1))
    {
        let rounds: usize = rounds.parse().expect("--scan R: a number of rounds");
        scan_rounds(dir.path(), n, rounds.max(1));
        return;
    }
    let debian = Debian::load();
    let (mut r, mut d, mut deb, mut py) = (vec![], vec![], vec![], vec![]);
    let (mut r_iter, mut d_iter, mut r_dyn) = (vec![], vec![], vec![]);
    let mut py_version = None;
    for round in 0..3 {
        let p = |tag: &str| dir.path().join(format!("{tag}{round}.db"));
        r.push(raw(&p("raw"), n));
        d.push(pydbm(&p("pydbm"), n));
        r_iter.push(iterate_raw(&p("raw")));
        d_iter.push(iterate_pydbm(&p("pydbm")));
        r_dyn.push(select_raw_dynamic(&p("raw")));
        if let Some(lib) = &debian {
            deb.push(lib.run(&p("debian"), n));
        }
        if let Some((x, v)) = python(&p("py"), n) {
            py.push(x);
            py_version = Some(v);
        }
    }
    let r = best(&r).expect("3 rounds");
    let d = best(&d).expect("3 rounds");
    println!(
        "{n} rows; best of 3 interleaved rounds; wall seconds (process CPU seconds)\n\
         pydbm-sqlite and rusqlite: SQLite {} (bundled)",
        pydbm_sqlite::sqlite_version()
    );
    println!(
        "                     insert            select            insert/rusqlite  select/rusqlite"
    );
    let line = |name: &str, x: Run, base: Run| {
        println!(
            "{name:<20} {:6.3} ({:6.3})   {:6.3} ({:6.3})   {:5.2} ({:5.2})    {:5.2} ({:5.2})",
            x.0.wall,
            x.0.cpu,
            x.1.wall,
            x.1.cpu,
            x.0.wall / base.0.wall,
            x.0.cpu / base.0.cpu,
            x.1.wall / base.1.wall,
            x.1.cpu / base.1.cpu
        )
    };
    line("rusqlite", r, r);
    line("pydbm-sqlite", d, r);
    let per = |a: f64, b: f64| (a - b) / n as f64 * 1e9;
    println!(
        "pydbm per-row overhead over rusqlite (ns, wall/cpu): insert {:.0}/{:.0}, select {:.0}/{:.0}",
        per(d.0.wall, r.0.wall),
        per(d.0.cpu, r.0.cpu),
        per(d.1.wall, r.1.wall),
        per(d.1.cpu, r.1.cpu)
    );
    let min = |v: &[Time], f: fn(&Time) -> f64| v.iter().map(f).fold(f64::MAX, f64::min);
    let (ri, di) = (
        (min(&r_iter, |t| t.wall), min(&r_iter, |t| t.cpu)),
        (min(&d_iter, |t| t.wall), min(&d_iter, |t| t.cpu)),
    );
    let rd = (min(&r_dyn, |t| t.wall), min(&r_dyn, |t| t.cpu));
    println!(
        "select with dynamic rows (Vec<types::Value> per row), reference only: rusqlite {:.3} ({:.3}); pydbm/that {:.2} ({:.2})",
        rd.0, rd.1, d.1.wall / rd.0, d.1.cpu / rd.1
    );
    println!(
        "row-at-a-time scan (for row in cursor / query_map), nothing kept: rusqlite {:.3} ({:.3}), pydbm {:.3} ({:.3}), ratio {:.2} ({:.2})",
        ri.0, ri.1, di.0, di.1, di.0 / ri.0, di.1 / ri.1
    );
    let (Some(deb), Some(lib)) = (best(&deb), debian.as_ref()) else {
        println!("raw Debian SQLite    SKIPPED: libsqlite3.so.0 not loadable");
        return;
    };
    line(&format!("raw SQLite {}", lib.version()), deb, r);
    match (best(&py), py_version) {
        (Some(p), Some(v)) => {
            line("python3.13 sqlite3", p, r);
            println!("  ({v}: Debian's libsqlite3.so.0, the library of the raw row above)");
            println!(
                "python per-row overhead over raw SQLite {} (ns, wall/cpu): insert {:.0}/{:.0}, select {:.0}/{:.0}",
                lib.version(),
                per(p.0.wall, deb.0.wall),
                per(p.0.cpu, deb.0.cpu),
                per(p.1.wall, deb.1.wall),
                per(p.1.cpu, deb.1.cpu)
            );
        }
        _ => println!(
            "python3.13 sqlite3   SKIPPED: {} not available",
            python313().display()
        ),
    }
}
