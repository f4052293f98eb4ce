//! gdbm benchmark: the same workload through pydbm's gnu format and through libgdbm 1.23's
//! C API (loaded with dlopen, so this builds without libgdbm installed), printed as times
//! and ratios. Usage: `cargo run --release -p pydbm-benches --bin gnu -- [N] [ONLY]` (N defaults
//! to 100000; ONLY = `libgdbm` or `none` runs just that side, for callgrind/perf runs of one
//! side: `none` is pydbm at `Durability::None` with the default cache; `pair` runs those
//! two, for quick comparisons of the `None` ratios; the environment
//! variable ROUNDS sets how many times the get and iteration passes repeat, default 5).
//!
//! Workload (issue 4): insert N random 16-byte keys with 100-byte values into a new file,
//! fetch every key in a random order, iterate every key (firstkey/nextkey). Every side's
//! file is open at once: each inserts once, then the get pass and the iteration pass run in
//! rounds, every side once per round, and the median round is reported (the machine is
//! shared; a slow spell hits every side of one round alike). Each phase prints wall time
//! and the thread's CPU time, each with its ratio to libgdbm's.

use pydbm_benches::{Datum, SharedLibrary};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;
use std::time::{Duration, Instant};

/// Wall-clock and CPU time of one phase. The machine is shared, so wall time is noisy;
/// the thread's CPU time (user + system, `CLOCK_THREAD_CPUTIME_ID`: the process runs one
/// thread, and page faults and system calls count) is what the work itself cost.
#[derive(Clone, Copy)]
struct Span {
    wall: Duration,
    cpu: Duration,
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A started phase: call [`Clock::stop`] at its end.
struct Clock {
    wall: Instant,
    cpu: Duration,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: thread_cpu(),
        }
    }
    fn stop(&self) -> Span {
        Span {
            wall: self.wall.elapsed(),
            cpu: thread_cpu().saturating_sub(self.cpu),
        }
    }
}

use pydbm_engine::{Dbm, Durability, OpenOptions};

type OpenFn =
    unsafe extern "C" fn(*const c_char, c_int, c_int, c_int, *const c_void) -> *mut c_void;
type StoreFn = unsafe extern "C" fn(*mut c_void, Datum, Datum, c_int) -> c_int;
type FetchFn = unsafe extern "C" fn(*mut c_void, Datum) -> Datum;
type FirstFn = unsafe extern "C" fn(*mut c_void) -> Datum;
type NextFn = unsafe extern "C" fn(*mut c_void, Datum) -> Datum;
type CloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

struct Gdbm {
    open: OpenFn,
    store: StoreFn,
    fetch: FetchFn,
    first: FirstFn,
    next: NextFn,
    close: CloseFn,
}

fn load_gdbm() -> Option<Gdbm> {
    let lib = SharedLibrary::open(c"libgdbm.so.6")?;
    // SAFETY: each symbol is read as the signature gdbm.h declares for it.
    unsafe {
        Some(Gdbm {
            open: lib.get(c"gdbm_open")?,
            store: lib.get(c"gdbm_store")?,
            fetch: lib.get(c"gdbm_fetch")?,
            first: lib.get(c"gdbm_firstkey")?,
            next: lib.get(c"gdbm_nextkey")?,
            close: lib.get(c"gdbm_close")?,
        })
    }
}

/// One database under test: libgdbm's handle or a pydbm one.
enum Side<'g> {
    Gdbm(&'g Gdbm, *mut c_void),
    Pydbm(Box<pydbm_formats::gnu::GnuDb>),
}

impl Side<'_> {
    fn insert(&mut self, keys: &[[u8; 16]], value: &[u8]) -> Span {
        let t = Clock::start();
        match self {
            // SAFETY: `db` is an open libgdbm handle; the datums point into live slices.
            Side::Gdbm(g, db) => unsafe {
                for k in keys {
                    let rc = (g.store)(
                        *db,
                        Datum::of(k),
                        Datum::of(value),
                        1, /* GDBM_REPLACE */
                    );
                    assert_eq!(rc, 0, "gdbm_store failed");
                }
            },
            Side::Pydbm(db) => {
                for k in keys {
                    db.insert(k, value).expect("insert");
                }
            }
        }
        t.stop()
    }

    fn get(&mut self, keys: &[[u8; 16]], order: &[usize], value_len: usize) -> Span {
        let t = Clock::start();
        match self {
            // SAFETY: `db` is an open libgdbm handle; each returned datum is malloc'd by
            // libgdbm and freed here once.
            Side::Gdbm(g, db) => unsafe {
                for &i in order {
                    let d = (g.fetch)(*db, Datum::of(&keys[i]));
                    assert!(!d.dptr.is_null());
                    libc::free(d.dptr as *mut c_void);
                }
            },
            Side::Pydbm(db) => {
                // `GnuDb::get_into` with one reused buffer: the allocation-free lookup
                // (`Dbm::get` returns a fresh Vec per call, as `gdbm_fetch` mallocs one).
                let mut out = Vec::new();
                for &i in order {
                    assert!(db.get_into(&keys[i], &mut out).expect("get"));
                    assert_eq!(out.len(), value_len);
                }
            }
        }
        t.stop()
    }

    fn iterate(&mut self, expect: usize) -> Span {
        let t = Clock::start();
        let mut n = 0;
        match self {
            // SAFETY: `db` is an open libgdbm handle; each key datum is freed once, after
            // `gdbm_nextkey` used it.
            Side::Gdbm(g, db) => unsafe {
                let mut k = (g.first)(*db);
                while !k.dptr.is_null() {
                    n += 1;
                    let nk = (g.next)(*db, k);
                    libc::free(k.dptr as *mut c_void);
                    k = nk;
                }
            },
            Side::Pydbm(db) => {
                let mut k = db.firstkey().expect("firstkey");
                while let Some(key) = k {
                    n += 1;
                    k = db.nextkey(&key).expect("nextkey");
                }
            }
        }
        assert_eq!(n, expect);
        t.stop()
    }

    fn close(self) {
        match self {
            // SAFETY: `db` is an open libgdbm handle, closed once.
            Side::Gdbm(g, db) => unsafe {
                (g.close)(db);
            },
            Side::Pydbm(mut db) => db.close().expect("close"),
        }
    }
}

fn open_gdbm<'g>(g: &'g Gdbm, path: &Path) -> Side<'g> {
    let p = CString::new(path.to_str().expect("utf-8 temp path")).expect("no NUL");
    // SAFETY: `p` is a NUL-terminated path; 3 = GDBM_NEWDB, no fatal-error callback.
    let db = unsafe { (g.open)(p.as_ptr(), 0, 3, 0o644, std::ptr::null()) };
    assert!(!db.is_null(), "gdbm_open failed");
    Side::Gdbm(g, db)
}

fn open_pydbm(path: &Path, durability: Durability, cache_bytes: usize) -> Side<'static> {
    let mut opts = OpenOptions::from_flag("n").expect("valid flag");
    opts.durability = durability;
    let gnu = pydbm_formats::gnu::GnuOptions {
        cache_bytes,
        ..Default::default()
    };
    // The file system `pydbm_formats::gnu::open` uses (mmap reads for a locked handle).
    let vfs = pydbm_formats::gnu::os_vfs(&opts);
    Side::Pydbm(Box::new(
        pydbm_formats::gnu::open_with(vfs, path, &opts, gnu).expect("open"),
    ))
}

/// The median of `spans` by CPU time (the middle one; the upper middle of an even count).
fn median(spans: &[Span]) -> Span {
    let mut v = spans.to_vec();
    v.sort_by_key(|s| s.cpu);
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let only = std::env::args().nth(2);
    let only = only.as_deref();
    if !matches!(only, None | Some("libgdbm") | Some("none") | Some("pair")) {
        eprintln!("ONLY must be `libgdbm`, `none` or `pair`");
        std::process::exit(2);
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(5);
    let mut rng = pydbm_engine::prng::SplitMix64::new(42);
    // One flat array of keys (16 bytes each), so fetching a key costs the harness one
    // access, not a pointer chase to a separate allocation per key.
    let keys: Vec<[u8; 16]> = (0..n)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            k[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
            k
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let value = vec![b'v'; 100];
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "gdbm benchmark: {n} random 16-byte keys, 100-byte values; gets and iterations \
         repeated in {rounds} rounds (ROUNDS), every side once per round, median reported"
    );
    let gdbm = if only == Some("none") {
        None
    } else {
        load_gdbm()
    };
    if gdbm.is_none() && only != Some("none") {
        println!("libgdbm (libgdbm.so.6) not available: pydbm figures only");
    }
    let mut sides: Vec<(&str, Side)> = Vec::new();
    if let Some(g) = &gdbm {
        sides.push((
            "libgdbm 1.23 (C API)",
            open_gdbm(g, &dir.path().join("ref.gdbm")),
        ));
    }
    for (name, d, cache) in [
        ("pydbm durability=None", Durability::None, 0),
        ("pydbm None, 8M cache", Durability::None, 8 << 20),
        ("pydbm default (Process)", Durability::Process, 0),
    ] {
        let none_only = matches!(only, Some("none") | Some("pair"));
        if only == Some("libgdbm") || (none_only && (cache != 0 || d != Durability::None)) {
            continue;
        }
        let file = dir
            .path()
            .join(format!("{name}.gdbm").replace([' ', ','], "_"));
        sides.push((name, open_pydbm(&file, d, cache)));
    }
    // Insert once per side (a new file each); then every round runs each side's full get
    // pass, then each side's full iteration, so a slow spell of the shared machine hits
    // every side alike and the median drops it.
    let inserts: Vec<Span> = sides
        .iter_mut()
        .map(|(_, s)| s.insert(&keys, &value))
        .collect();
    let mut gets = vec![Vec::new(); sides.len()];
    let mut iters = vec![Vec::new(); sides.len()];
    for _ in 0..rounds {
        for (i, (_, s)) in sides.iter_mut().enumerate() {
            gets[i].push(s.get(&keys, &order, value.len()));
        }
        for (i, (_, s)) in sides.iter_mut().enumerate() {
            iters[i].push(s.iterate(n));
        }
    }
    let base = gdbm.as_ref().map(|_| 0usize);
    let r = |a: Span, b: Option<Span>| match b {
        Some(b) => format!(
            "{:>7.3}s ({:.2}x) cpu {:>7.3}s ({:.2}x)",
            a.wall.as_secs_f64(),
            a.wall.as_secs_f64() / b.wall.as_secs_f64(),
            a.cpu.as_secs_f64(),
            a.cpu.as_secs_f64() / b.cpu.as_secs_f64()
        ),
        None => format!(
            "{:>7.3}s cpu {:>7.3}s",
            a.wall.as_secs_f64(),
            a.cpu.as_secs_f64()
        ),
    };
    let cpus = |v: &[Span]| {
        v.iter()
            .map(|s| format!("{:.3}", s.cpu.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Each round's pydbm ÷ libgdbm CPU ratio (the two ran back to back, under the same
    // load), and their median: steadier than the ratio of the medians when the machine's
    // speed drifts.
    let round_ratios = |v: &[Span], b: Option<&[Span]>| match b {
        Some(b) => {
            let mut rs: Vec<f64> = v
                .iter()
                .zip(b)
                .map(|(a, b)| a.cpu.as_secs_f64() / b.cpu.as_secs_f64())
                .collect();
            let each = rs
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ");
            rs.sort_by(f64::total_cmp);
            format!("   round ratios {each} (median {:.2}x)", rs[rs.len() / 2])
        }
        None => String::new(),
    };
    for (i, (name, _)) in sides.iter().enumerate() {
        println!("{name}");
        println!("    insert  {}", r(inserts[i], base.map(|b| inserts[b])));
        println!(
            "    get     {}   rounds cpu: {}{}",
            r(median(&gets[i]), base.map(|b| median(&gets[b]))),
            cpus(&gets[i]),
            round_ratios(&gets[i], base.filter(|&b| b != i).map(|b| &gets[b][..]))
        );
        println!(
            "    iterate {}   rounds cpu: {}{}",
            r(median(&iters[i]), base.map(|b| median(&iters[b]))),
            cpus(&iters[i]),
            round_ratios(&iters[i], base.filter(|&b| b != i).map(|b| &iters[b][..]))
        );
    }
    for (_, s) in sides {
        s.close();
    }
}
