//! Every format at every durability, side by side with its reference in one run (issue 17
//! item 5), reported as CPU-time ratios: the median over alternated rounds of the per-round
//! ratio pydbm ÷ reference (the two ran seconds apart, under the same load).
//!
//! Usage: `cargo build --release -p pydbm-benches --bin durability &&
//! ./target/release/durability [N] [FULL_N]` (N defaults to 100000, FULL_N to N / 100: the
//! `Full` rows fsync per operation, so they run fewer keys, and so does their reference).
//! The environment variable ROUNDS sets the rounds (default 3, at least 1), FORMATS a
//! comma-separated subset of `gnu,ndbm,dumb,sqlite`, PYDBM_PYTHON313 the CPython 3.13 for the
//! dumb and dbm.sqlite3 references (default `python3.13` on PATH).
//!
//! Workload per side and round, on a new file: open, N inserts of 16-byte keys (the hex of
//! `i × 0x9E3779B97F4A7C15`, so Python builds the same keys) with 100-byte values, close
//! (the "insert" phase, so deferred write-back counts); reopen, N gets in a scattered order
//! (`j × 1000003 mod N`), close (the "get" phase). The last column is the insert phase's
//! wall-clock ratio (what the fsync-bound `Full` rows are about). CPU time is the process's user + system
//! time (getrusage) for in-process sides and `time.process_time()` inside the child for the
//! Python references (their interpreter start-up is not counted).
//!
//! References: gnu — libgdbm 1.23's C API (dlopen; the `Full` row against `GDBM_SYNC`, an
//! fsync per store); ndbm — libdb 5.3's ndbm C API (it has no synchronous mode: every row
//! against its default); dumb — CPython 3.13's `dbm.dumb` in a subprocess (no synchronous
//! mode either); sqlite — rusqlite (the same bundled SQLite) running the statements
//! `dbm.sqlite3` runs with the `PRAGMA synchronous` pydbm uses at that durability, and
//! CPython 3.13's `dbm.sqlite3` itself against the `Full` row (its default is
//! `synchronous=FULL`, an fsync per set, so it runs FULL_N keys).
//!
//! A missing reference is reported as `SKIPPED` with pydbm's figures alone.

use pydbm_benches::{Datum, ProcessCpu, SharedLibrary};
use pydbm_engine::{Dbm, Durability, OpenOptions};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The keys and the get order of one workload size.
struct Workload {
    keys: Vec<[u8; 16]>,
    order: Vec<usize>,
    value: [u8; 100],
}

impl Workload {
    fn new(n: usize) -> Workload {
        let keys = (0..n as u64)
            .map(|i| {
                let mut k = [0u8; 16];
                let text = format!("{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                k.copy_from_slice(text.as_bytes());
                k
            })
            .collect();
        // 1000003 is prime, so this visits every index once unless N is a multiple of it.
        assert!(
            !n.is_multiple_of(1_000_003) || n == 0,
            "N must not be a multiple of 1000003"
        );
        let order = (0..n).map(|j| (j * 1_000_003) % n).collect();
        Workload {
            keys,
            order,
            value: [b'v'; 100],
        }
    }
}

/// The Python side of the keys and order above, for the subprocess references.
const PY_WORKLOAD: &str = r#"
import sys, time
name, n, module = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import importlib
mod = importlib.import_module(module)
keys = [b'%016x' % ((i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) for i in range(n)]
order = [keys[(j * 1000003) % n] for j in range(n)]
value = b'v' * 100
c0 = time.process_time(); w0 = time.perf_counter()
db = mod.open(name, 'n')
for k in keys:
    db[k] = value
db.close()
c1 = time.process_time(); w1 = time.perf_counter()
db = mod.open(name, 'w')
for k in order:
    assert len(db[k]) == 100
db.close()
c2 = time.process_time()
print(c1 - c0, c2 - c1, w1 - w0)
"#;

/// CPU seconds of the two phases of one run, and the insert phase's wall-clock seconds
/// (what the `Full` rows wait for: an fsync costs little CPU).
#[derive(Clone, Copy, Debug)]
struct Phases {
    insert: f64,
    get: f64,
    insert_wall: f64,
}

/// A point in time: process CPU seconds (user + system) and the wall clock.
#[derive(Clone, Copy)]
struct Stamp {
    cpu: f64,
    wall: std::time::Instant,
}

fn cpu() -> Stamp {
    Stamp {
        cpu: ProcessCpu::now().total(),
        wall: std::time::Instant::now(),
    }
}

impl Phases {
    /// The phases between three stamps: insert from `a` to `b`, get from `b` to `c`.
    fn between(a: Stamp, b: Stamp, c: Stamp) -> Phases {
        Phases {
            insert: b.cpu - a.cpu,
            get: c.cpu - b.cpu,
            insert_wall: (b.wall - a.wall).as_secs_f64(),
        }
    }
}

/// Runs the workload through any pydbm `Dbm` opened by `open` (flag `n`, then `w`).
fn run_pydbm(w: &Workload, open: &dyn Fn(&OpenOptions) -> Box<dyn Dbm>, d: Durability) -> Phases {
    let n = w.keys.len();
    let mut opts = OpenOptions::from_flag("n").expect("'n' is a valid flag");
    opts.durability = d;
    let c0 = cpu();
    let mut db = open(&opts);
    for k in &w.keys[..n] {
        db.insert(k, &w.value).expect("insert");
    }
    db.close().expect("close");
    let c1 = cpu();
    let mut opts = OpenOptions::from_flag("w").expect("'w' is a valid flag");
    opts.durability = d;
    let mut db = open(&opts);
    for &i in &w.order {
        let v = db.get(&w.keys[i]).expect("get").expect("key present");
        assert_eq!(v.len(), 100);
    }
    db.close().expect("close");
    Phases::between(c0, c1, cpu())
}

type GdbmOpenFn =
    unsafe extern "C" fn(*const c_char, c_int, c_int, c_int, *const c_void) -> *mut c_void;
type GdbmStoreFn = unsafe extern "C" fn(*mut c_void, Datum, Datum, c_int) -> c_int;
type GdbmFetchFn = unsafe extern "C" fn(*mut c_void, Datum) -> Datum;
type GdbmCloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// libgdbm 1.23's entry points.
struct Gdbm {
    open: GdbmOpenFn,
    store: GdbmStoreFn,
    fetch: GdbmFetchFn,
    close: GdbmCloseFn,
}

fn load_gdbm() -> Option<Gdbm> {
    let lib = SharedLibrary::open(c"libgdbm.so.6")?;
    // SAFETY: each symbol is read as the signature gdbm.h declares for it.
    unsafe {
        Some(Gdbm {
            open: lib.get(c"gdbm_open")?,
            store: lib.get(c"gdbm_store")?,
            fetch: lib.get(c"gdbm_fetch")?,
            close: lib.get(c"gdbm_close")?,
        })
    }
}

/// gdbm.h: GDBM_WRITER, GDBM_NEWDB, GDBM_SYNC.
const GDBM_WRITER: c_int = 1;
const GDBM_NEWDB: c_int = 3;
const GDBM_SYNC: c_int = 0x20;

fn run_gdbm(g: &Gdbm, path: &Path, w: &Workload, sync: bool) -> Phases {
    let p = CString::new(path.to_str().expect("utf-8 temp path")).expect("no NUL");
    let extra = if sync { GDBM_SYNC } else { 0 };
    // SAFETY: `p` is NUL-terminated; datums point into live slices for each call; each
    // fetched datum is malloc'd by libgdbm and freed here once; each handle closed once.
    unsafe {
        let c0 = cpu();
        let db = (g.open)(p.as_ptr(), 0, GDBM_NEWDB | extra, 0o644, std::ptr::null());
        assert!(!db.is_null(), "gdbm_open failed");
        for k in &w.keys {
            let rc = (g.store)(db, Datum::of(k), Datum::of(&w.value), 1 /* REPLACE */);
            assert_eq!(rc, 0, "gdbm_store failed");
        }
        (g.close)(db);
        let c1 = cpu();
        let db = (g.open)(p.as_ptr(), 0, GDBM_WRITER | extra, 0o644, std::ptr::null());
        assert!(!db.is_null(), "gdbm_open failed");
        for &i in &w.order {
            let d = (g.fetch)(db, Datum::of(&w.keys[i]));
            assert_eq!(d.dsize, 100);
            libc::free(d.dptr as *mut c_void);
        }
        (g.close)(db);
        Phases::between(c0, c1, cpu())
    }
}

type NdbmOpenFn = unsafe extern "C" fn(*const c_char, c_int, c_int) -> *mut c_void;
type NdbmStoreFn = unsafe extern "C" fn(*mut c_void, Datum, Datum, c_int) -> c_int;
type NdbmFetchFn = unsafe extern "C" fn(*mut c_void, Datum) -> Datum;
type NdbmCloseFn = unsafe extern "C" fn(*mut c_void);

/// libdb 5.3's ndbm entry points (`__db_ndbm_*`, what CPython's `_dbm` calls on Debian).
struct LibDb {
    open: NdbmOpenFn,
    store: NdbmStoreFn,
    fetch: NdbmFetchFn,
    close: NdbmCloseFn,
}

fn load_libdb() -> Option<LibDb> {
    let lib = SharedLibrary::open(c"libdb-5.3.so")?;
    // SAFETY: each symbol is read as the signature db.h declares for it.
    unsafe {
        Some(LibDb {
            open: lib.get(c"__db_ndbm_open")?,
            store: lib.get(c"__db_ndbm_store")?,
            fetch: lib.get(c"__db_ndbm_fetch")?,
            close: lib.get(c"__db_ndbm_close")?,
        })
    }
}

fn run_libdb(l: &LibDb, path: &Path, w: &Workload) -> Phases {
    let p = CString::new(path.to_str().expect("utf-8 temp path")).expect("no NUL");
    // SAFETY: `p` is NUL-terminated; datums point into live slices for each call; returned
    // datums are only read (length) before the next call; each handle closed once.
    unsafe {
        let c0 = cpu();
        let db = (l.open)(
            p.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        );
        assert!(!db.is_null(), "dbm_open failed");
        for k in &w.keys {
            let rc = (l.store)(
                db,
                Datum::of(k),
                Datum::of(&w.value),
                1, /* DBM_REPLACE */
            );
            assert_eq!(rc, 0, "dbm_store failed");
        }
        (l.close)(db);
        let c1 = cpu();
        let db = (l.open)(p.as_ptr(), libc::O_RDWR, 0o644);
        assert!(!db.is_null(), "dbm_open failed");
        for &i in &w.order {
            assert_eq!((l.fetch)(db, Datum::of(&w.keys[i])).dsize, 100);
        }
        (l.close)(db);
        Phases::between(c0, c1, cpu())
    }
}

/// rusqlite doing what `dbm.sqlite3` does: WAL, `PRAGMA synchronous = sync`, one autocommit
/// `REPLACE INTO` per set, one `SELECT` per get.
fn run_rusqlite(path: &Path, w: &Workload, sync: &str) -> Phases {
    use pydbm_sqlite::dbm::{BUILD_TABLE, LOOKUP_KEY, STORE_KV};
    let _ = std::fs::remove_file(path);
    let c0 = cpu();
    let c = rusqlite::Connection::open(path).expect("open");
    let _: String = c
        .query_row("PRAGMA journal_mode = wal", [], |r| r.get(0))
        .expect("wal");
    c.execute_batch(&format!("PRAGMA synchronous = {sync}"))
        .expect("pragma");
    c.execute(BUILD_TABLE, []).expect("create");
    {
        let mut st = c.prepare_cached(STORE_KV).expect("prepare");
        for k in &w.keys {
            st.execute((&k[..], &w.value[..])).expect("insert");
        }
    }
    drop(c);
    let c1 = cpu();
    let c = rusqlite::Connection::open(path).expect("open");
    c.execute_batch(&format!("PRAGMA synchronous = {sync}"))
        .expect("pragma");
    {
        let mut st = c.prepare_cached(LOOKUP_KEY).expect("prepare");
        for &i in &w.order {
            let v: Vec<u8> = st.query_row([&w.keys[i][..]], |r| r.get(0)).expect("get");
            assert_eq!(v.len(), 100);
        }
    }
    drop(c);
    Phases::between(c0, c1, cpu())
}

/// The workload in a CPython subprocess through `module` (`dbm.dumb`, `dbm.sqlite3`);
/// `None` when that interpreter or module cannot run it.
fn run_python(python: &Path, module: &str, path: &Path, n: usize) -> Option<Phases> {
    let out = Command::new(python)
        .args(["-c", PY_WORKLOAD])
        .arg(path)
        .arg(n.to_string())
        .arg(module)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "{} {module}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let t: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (t.len() == 3).then(|| Phases {
        insert: t[0],
        get: t[1],
        insert_wall: t[2],
    })
}

/// CPython 3.13: `PYDBM_PYTHON313`, else `python3.13` on PATH.
fn python313() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PYDBM_PYTHON313") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("python3.13"))
        .find(|p| p.is_file())
}

/// Runs one side once in the given directory; `None` when its reference is unavailable.
type RunSide<'a> = Box<dyn Fn(&Path) -> Option<Phases> + 'a>;

/// Opens a pydbm database of one format at a path with the given options.
type OpenDbm = Box<dyn Fn(&Path, &OpenOptions) -> Box<dyn Dbm>>;

/// One measured side: a label, its workload size, and how to run it once in a directory.
struct Side<'a> {
    label: String,
    n: usize,
    run: RunSide<'a>,
}

/// One output row: pydbm side `pydbm` measured against side `reference` (indices into the
/// sides; the same reference may serve several rows).
struct Row {
    pydbm: usize,
    reference: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let full_n: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or((n / 100).max(100));
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3);
    let formats = std::env::var("FORMATS").unwrap_or_else(|_| "gnu,ndbm,dumb,sqlite".into());
    let formats: Vec<&str> = formats.split(',').collect();
    let big = Workload::new(n);
    let small = Workload::new(full_n);
    let gdbm = load_gdbm();
    let libdb = load_libdb();
    let py313 = python313();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "durability bench: N={n} (Full rows: {full_n}), 16-byte keys, 100-byte values, \
         {rounds} alternated rounds; load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let mut sides: Vec<Side> = Vec::new();
    let mut rows: Vec<(&str, Row)> = Vec::new();
    let levels = [
        ("None", Durability::None),
        ("Process", Durability::Process),
        ("Full", Durability::Full),
    ];
    let wl = |d: Durability| if d == Durability::Full { &small } else { &big };
    for &format in &formats {
        let first = sides.len();
        // The references: index `first` runs at N, `first + 1` at FULL_N.
        match format {
            "gnu" => {
                for (sync, w) in [(false, &big), (true, &small)] {
                    let g = gdbm.as_ref();
                    sides.push(Side {
                        label: format!("libgdbm 1.23{}", if sync { " GDBM_SYNC" } else { "" }),
                        n: w.keys.len(),
                        run: Box::new(move |dir| {
                            g.map(|g| run_gdbm(g, &dir.join("ref.gdbm"), w, sync))
                        }),
                    });
                }
            }
            "ndbm" => {
                for w in [&big, &small] {
                    let l = libdb.as_ref();
                    sides.push(Side {
                        label: "libdb 5.3 ndbm".into(),
                        n: w.keys.len(),
                        run: Box::new(move |dir| l.map(|l| run_libdb(l, &dir.join("ref"), w))),
                    });
                }
            }
            "dumb" => {
                for w in [&big, &small] {
                    let p = py313.clone();
                    let n = w.keys.len();
                    sides.push(Side {
                        label: "CPython 3.13 dbm.dumb".into(),
                        n,
                        run: Box::new(move |dir| {
                            p.as_ref()
                                .and_then(|p| run_python(p, "dbm.dumb", &dir.join("ref"), n))
                        }),
                    });
                }
            }
            "sqlite" => {
                for (_, d) in levels {
                    let w = wl(d);
                    let sync = match d {
                        Durability::None => "OFF",
                        Durability::Process => "NORMAL",
                        Durability::Full => "FULL",
                    };
                    sides.push(Side {
                        label: format!("rusqlite synchronous={sync}"),
                        n: w.keys.len(),
                        run: Box::new(move |dir| {
                            Some(run_rusqlite(&dir.join("ref.sqlite"), w, sync))
                        }),
                    });
                }
                // CPython's dbm.sqlite3 runs at SQLite's default, synchronous=FULL (an fsync
                // per set), so it faces pydbm's Full row, at FULL_N.
                let p = py313.clone();
                sides.push(Side {
                    label: "CPython 3.13 dbm.sqlite3".into(),
                    n: full_n,
                    run: Box::new(move |dir| {
                        p.as_ref()
                            .and_then(|p| run_python(p, "dbm.sqlite3", &dir.join("ref.py"), full_n))
                    }),
                });
            }
            other => {
                eprintln!("unknown format {other:?} in FORMATS (gnu,ndbm,dumb,sqlite)");
                std::process::exit(2);
            }
        }
        for (li, (name, d)) in levels.into_iter().enumerate() {
            let w = wl(d);
            let open: OpenDbm = match format {
                "gnu" => Box::new(|p, o| Box::new(pydbm_formats::gnu::open(p, o).expect("open"))),
                "ndbm" => Box::new(|p, o| {
                    Box::new(pydbm_formats::ndbm::NdbmDb::open(p, o).expect("open"))
                }),
                "dumb" => Box::new(|p, o| {
                    Box::new(pydbm_formats::dumb::db::DumbDb::open(p, o).expect("open"))
                }),
                _ => Box::new(|p, o| Box::new(pydbm_sqlite::SqliteDbm::open(p, o).expect("open"))),
            };
            let reference = match format {
                "sqlite" => first + li,
                _ if d == Durability::Full => first + 1,
                _ => first,
            };
            sides.push(Side {
                label: format!("pydbm {format} {name}"),
                n: w.keys.len(),
                run: Box::new(move |dir| {
                    let path = dir.join("pydbm");
                    Some(run_pydbm(w, &|o| open(&path, o), d))
                }),
            });
            rows.push((
                format,
                Row {
                    pydbm: sides.len() - 1,
                    reference,
                },
            ));
        }
        if format == "sqlite" {
            // pydbm's Full row against CPython's dbm.sqlite3 too.
            rows.push((
                format,
                Row {
                    pydbm: sides.len() - 1,
                    reference: first + 3,
                },
            ));
        }
    }

    // Every round runs every side once, on a new directory; odd rounds in reverse order, so
    // no side always runs right after the same neighbour.
    let mut results: Vec<Vec<Option<Phases>>> = vec![Vec::new(); sides.len()];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..sides.len()).collect()
        } else {
            (0..sides.len()).rev().collect()
        };
        for i in order {
            let dir = tempfile::tempdir().expect("tempdir");
            results[i].push((sides[i].run)(dir.path()));
        }
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "round {} done, load average {}",
            round + 1,
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }

    println!(
        "\n{:<22} {:>7} {:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "pydbm side",
        "N",
        "reference",
        "ins cpu",
        "ref ins",
        "ins x",
        "get cpu",
        "ref get",
        "get x",
        "ins wall x"
    );
    let med = |i: usize, f: fn(&Phases) -> f64| {
        let v: Vec<f64> = results[i].iter().flatten().map(f).collect();
        (!v.is_empty()).then(|| median(v))
    };
    // Median of the per-round ratios (a round where either side is missing is left out).
    let ratio = |a: usize, b: usize, f: fn(&Phases) -> f64| {
        let v: Vec<f64> = results[a]
            .iter()
            .zip(&results[b])
            .filter_map(|(x, y)| Some(f(x.as_ref()?) / f(y.as_ref()?)))
            .collect();
        (!v.is_empty()).then(|| median(v))
    };
    let show = |x: Option<f64>, unit: &str| match x {
        Some(x) if unit == "x" => format!("{x:>8.3}x"),
        Some(x) => format!("{x:>8.3}s"),
        None => format!("{:>9}", "SKIPPED"),
    };
    let ins = |p: &Phases| p.insert;
    let get = |p: &Phases| p.get;
    let ins_wall = |p: &Phases| p.insert_wall;
    for (_, row) in &rows {
        let (p, r) = (row.pydbm, row.reference);
        println!(
            "{:<22} {:>7} {:<26} {} {} {} {} {} {} {}",
            sides[p].label,
            sides[p].n,
            sides[r].label,
            show(med(p, ins), "s"),
            show(med(r, ins), "s"),
            show(ratio(p, r, ins), "x"),
            show(med(p, get), "s"),
            show(med(r, get), "s"),
            show(ratio(p, r, get), "x"),
            show(ratio(p, r, ins_wall), "x"),
        );
    }
    println!("\nown-cost ratio (median per round): default Process insert ÷ None insert");
    for &format in &formats {
        let of = |level: &str| {
            sides
                .iter()
                .position(|s| s.label == format!("pydbm {format} {level}"))
                .expect("every format has every level")
        };
        println!(
            "  {format:<7} {}",
            show(ratio(of("Process"), of("None"), ins), "x")
        );
    }
}
