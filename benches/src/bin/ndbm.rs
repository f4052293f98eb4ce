//! dbm.ndbm (Berkeley DB 5.3 hash): the same workload through pydbm and through libdb 5.3's
//! own ndbm C API (`dbm_open`/`dbm_store`/`dbm_fetch`/`dbm_firstkey`/`dbm_nextkey`, exported
//! by libdb-5.3.so as `__db_ndbm_*`, the functions CPython's `_dbm` calls on Debian), ratio
//! printed, and the two files compared on every live byte (ndbm spec §4/§5 mask).
//!
//! libdb is loaded with dlopen, so this binary builds without libdb installed; when it is
//! missing the bench prints `SKIPPED` and pydbm's timings only.
//!
//! Workload (issue 8): N inserts of random 16-byte keys with 100-byte values into a new
//! database, N random gets, one full iteration (keys and values), close.
//! `cargo run --release -p pydbm-benches --bin ndbm [N]` (default 100000).
//!
//! Each phase is timed twice: wall clock, and the process's CPU time (user + system, from
//! `getrusage`), which other load on a shared machine disturbs much less. Ratios are
//! printed for both. `NDBM_BENCH_ONLY=None` (or `Process`) runs one pydbm durability only.

use pydbm_benches::{Datum, ProcessCpu, SharedLibrary};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;
use std::time::Instant;

use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{Dbm, Durability, OpenOptions};
use pydbm_formats::ndbm::live::live_diff;
use pydbm_formats::ndbm::{db_path, NdbmDb};

/// The keys (16 random bytes each, from a fixed seed), values, and a get order.
fn workload(n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<usize>) {
    let mut rng = SplitMix64::new(0x6e64_626d);
    let keys: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let mut k = rng.next_u64().to_le_bytes().to_vec();
            k.extend_from_slice(&rng.next_u64().to_le_bytes());
            k
        })
        .collect();
    let vals: Vec<Vec<u8>> = (0..n)
        .map(|i| (0..100).map(|j| ((i * 31 + j * 7) % 251) as u8).collect())
        .collect();
    let order: Vec<usize> = (0..n).map(|_| rng.below(n as u64) as usize).collect();
    (keys, vals, order)
}

/// A point in time: wall clock, this process's CPU time (user + system, and system alone),
/// and its read and write system calls so far (`syscr`/`syscw` of `/proc/self/io`; 0 where
/// unavailable).
#[derive(Clone, Copy)]
struct Stamp {
    wall: Instant,
    cpu: f64,
    sys: f64,
    io: [u64; 2],
}

fn io_calls() -> [u64; 2] {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    [field("syscr:"), field("syscw:")]
}

impl Stamp {
    fn now() -> Stamp {
        let cpu = ProcessCpu::now();
        Stamp {
            wall: Instant::now(),
            cpu: cpu.total(),
            sys: cpu.system,
            io: io_calls(),
        }
    }
}

/// Wall-clock and CPU seconds, and read/write system calls, of each of the four phases
/// (insert, get, iterate, close).
#[derive(Clone, Copy)]
struct Phases {
    wall: [f64; 4],
    cpu: [f64; 4],
    sys: [f64; 4],
    io: [[u64; 2]; 4],
}

fn phases(t: [Stamp; 5]) -> Phases {
    let mut p = Phases {
        wall: [0.0; 4],
        cpu: [0.0; 4],
        sys: [0.0; 4],
        io: [[0; 2]; 4],
    };
    for i in 0..4 {
        p.wall[i] = (t[i + 1].wall - t[i].wall).as_secs_f64();
        p.cpu[i] = t[i + 1].cpu - t[i].cpu;
        p.sys[i] = t[i + 1].sys - t[i].sys;
        p.io[i] = [0, 1].map(|k| t[i + 1].io[k] - t[i].io[k]);
    }
    p
}

/// The system CPU time and read/write system-call counts of the phases, as one line.
fn show_io(label: &str, p: &Phases) -> String {
    let names = ["insert", "get", "iterate", "close"];
    let parts: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "{} {:.3}s {}r/{}w",
                names[i], p.sys[i], p.io[i][0], p.io[i][1]
            )
        })
        .collect();
    format!("  {label:<34} system time, syscalls: {}", parts.join("  "))
}

/// Seconds for (inserts, gets, iteration, close) through pydbm.
fn run_pydbm(name: &Path, n: usize, durability: Durability) -> Phases {
    let (keys, vals, order) = workload(n);
    let mut opts = OpenOptions::from_flag("n").expect("'n' is a valid flag");
    opts.durability = durability;
    let t0 = Stamp::now();
    let mut db = NdbmDb::open(name, &opts).expect("open");
    for (k, v) in keys.iter().zip(&vals) {
        db.insert(k, v).expect("insert");
    }
    let t1 = Stamp::now();
    for &i in &order {
        assert_eq!(db.get(&keys[i]).expect("get").map(|v| v.len()), Some(100));
    }
    let t2 = Stamp::now();
    let mut count = 0usize;
    for item in pydbm_engine::Items::of(&mut db).expect("items") {
        item.expect("item");
        count += 1;
    }
    assert_eq!(count, n);
    let t3 = Stamp::now();
    db.close().expect("close");
    let t4 = Stamp::now();
    phases([t0, t1, t2, t3, t4])
}

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, c_int) -> *mut c_void;
type StoreFn = unsafe extern "C" fn(*mut c_void, Datum, Datum, c_int) -> c_int;
type FetchFn = unsafe extern "C" fn(*mut c_void, Datum) -> Datum;
type FirstFn = unsafe extern "C" fn(*mut c_void) -> Datum;
type NextFn = unsafe extern "C" fn(*mut c_void) -> Datum;
type CloseFn = unsafe extern "C" fn(*mut c_void);

/// The ndbm entry points of libdb 5.3.
struct LibDb {
    open: OpenFn,
    store: StoreFn,
    fetch: FetchFn,
    first: FirstFn,
    next: NextFn,
    close: CloseFn,
}

fn load_libdb() -> Option<LibDb> {
    let lib = SharedLibrary::open(c"libdb-5.3.so")?;
    // SAFETY: each symbol is read as the signature db.h declares for it
    // (`__db_ndbm_open(const char *, int, int)` etc.).
    unsafe {
        Some(LibDb {
            open: lib.get(c"__db_ndbm_open")?,
            store: lib.get(c"__db_ndbm_store")?,
            fetch: lib.get(c"__db_ndbm_fetch")?,
            first: lib.get(c"__db_ndbm_firstkey")?,
            next: lib.get(c"__db_ndbm_nextkey")?,
            close: lib.get(c"__db_ndbm_close")?,
        })
    }
}

/// Seconds for (inserts, gets, iteration, close) through libdb's ndbm API. Iteration is
/// `dbm_firstkey`/`dbm_nextkey` plus `dbm_fetch` of each key (what `for k in db: db[k]` does).
fn run_libdb(l: &LibDb, name: &Path, n: usize) -> Phases {
    let (keys, vals, order) = workload(n);
    let p = CString::new(name.to_str().expect("utf-8 temp path")).expect("no NUL in path");
    // SAFETY: every datum points into a live Vec for the duration of the call; returned
    // datums are only read (length) before the next call on the handle.
    unsafe {
        let t0 = Stamp::now();
        let db = (l.open)(
            p.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        );
        assert!(!db.is_null(), "dbm_open failed");
        for (k, v) in keys.iter().zip(&vals) {
            assert_eq!(
                (l.store)(db, Datum::of(k), Datum::of(v), 1 /* DBM_REPLACE */),
                0
            );
        }
        let t1 = Stamp::now();
        for &i in &order {
            assert_eq!((l.fetch)(db, Datum::of(&keys[i])).dsize, 100);
        }
        let t2 = Stamp::now();
        let mut count = 0usize;
        let mut k = (l.first)(db);
        while !k.dptr.is_null() {
            let owned = std::slice::from_raw_parts(k.dptr as *const u8, k.dsize as usize).to_vec();
            assert_eq!((l.fetch)(db, Datum::of(&owned)).dsize, 100);
            count += 1;
            k = (l.next)(db);
        }
        assert_eq!(count, n);
        let t3 = Stamp::now();
        (l.close)(db);
        let t4 = Stamp::now();
        phases([t0, t1, t2, t3, t4])
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N is a number"))
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let lib_name = tmp.path().join("libdb");
    let lib: Option<Phases> = match load_libdb() {
        Some(l) => Some(run_libdb(&l, &lib_name, n)),
        None => {
            eprintln!("SKIPPED: libdb-5.3.so (Berkeley DB 5.3) not available; pydbm timings only");
            None
        }
    };
    println!("dbm.ndbm: {n} inserts (random 16-byte keys, 100-byte values), {n} random gets, iteration, close");
    let show = |label: &str, t: [f64; 4]| {
        format!(
            "  {label:<34} insert {:7.3}s  get {:7.3}s  iterate {:7.3}s  close {:6.3}s  total {:7.3}s",
            t[0],
            t[1],
            t[2],
            t[3],
            t.iter().sum::<f64>()
        )
    };
    let ratios = |t: [f64; 4], p: [f64; 4]| {
        let r: Vec<String> = (0..4).map(|i| format!("{:.2}", t[i] / p[i])).collect();
        format!(
            "  ratio insert/get/iterate/close {}  total {:.2}",
            r.join("/"),
            t.iter().sum::<f64>() / p.iter().sum::<f64>()
        )
    };
    if let Some(p) = lib {
        println!("{}", show("libdb 5.3 C API (dbm_*), wall", p.wall));
        println!("{}", show("libdb 5.3 C API (dbm_*), cpu", p.cpu));
        println!("{}", show_io("libdb 5.3 C API (dbm_*)", &p));
    }
    let only = std::env::var("NDBM_BENCH_ONLY").ok();
    for (label, d) in [
        ("pydbm durability=None", Durability::None),
        ("pydbm durability=Process", Durability::Process),
    ] {
        if only.as_deref().is_some_and(|o| !label.ends_with(o)) {
            continue;
        }
        let name = tmp.path().join(label.replace([' ', '='], "_"));
        let t = run_pydbm(&name, n, d);
        for (kind, mine, theirs) in [
            ("wall", t.wall, lib.map(|p| p.wall)),
            ("cpu", t.cpu, lib.map(|p| p.cpu)),
        ] {
            print!("{}", show(&format!("{label}, {kind}"), mine));
            if let Some(p) = theirs {
                print!("{}", ratios(mine, p));
            }
            println!();
        }
        println!("{}", show_io(label, &t));
        if lib.is_some() {
            let a = std::fs::read(db_path(&name)).expect("pydbm file");
            let b = std::fs::read(db_path(&lib_name)).expect("libdb file");
            match live_diff(&b, &a) {
                None => println!("  live bytes identical"),
                Some(d) => println!("  LIVE BYTES DIFFER: {d}"),
            }
        }
    }
}
