//! gdbm benchmark: the same workload through pydbm's gnu format and through libgdbm 1.23's
//! C API (loaded with dlopen, so this builds without libgdbm installed), printed as times
//! and ratios. Usage: `cargo run --release -p pydbm-benches --bin gnu -- [N] [ONLY]` (N defaults
//! to 100000; ONLY = `libgdbm` or `none` runs just that side, for callgrind/perf runs of one
//! side: `none` is pydbm at `Durability::None` with the default cache).
//!
//! Workload (issue 4): insert N random 16-byte keys with 100-byte values into a new file,
//! fetch every key in a random order, iterate every key (firstkey/nextkey). Each phase
//! prints wall time and the thread's CPU time, each with its ratio to libgdbm's.

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

struct Times {
    insert: Span,
    get: Span,
    iter: Span,
}

fn run_libgdbm(g: &Gdbm, path: &Path, keys: &[Vec<u8>], order: &[usize], value: &[u8]) -> Times {
    let p = CString::new(path.to_str().expect("utf-8 temp path")).expect("no NUL");
    unsafe {
        let t = Clock::start();
        let db = (g.open)(
            p.as_ptr(),
            0,
            3, /* GDBM_NEWDB */
            0o644,
            std::ptr::null(),
        );
        assert!(!db.is_null(), "gdbm_open failed");
        for k in keys {
            assert_eq!(
                (g.store)(
                    db,
                    Datum::of(k),
                    Datum::of(value),
                    1 /* GDBM_REPLACE */
                ),
                0
            );
        }
        let insert = t.stop();
        let t = Clock::start();
        for &i in order {
            let d = (g.fetch)(db, Datum::of(&keys[i]));
            assert!(!d.dptr.is_null());
            libc::free(d.dptr as *mut c_void);
        }
        let get = t.stop();
        let t = Clock::start();
        let mut n = 0;
        let mut k = (g.first)(db);
        while !k.dptr.is_null() {
            n += 1;
            let nk = (g.next)(db, k);
            libc::free(k.dptr as *mut c_void);
            k = nk;
        }
        let iter = t.stop();
        assert_eq!(n, keys.len());
        (g.close)(db);
        Times { insert, get, iter }
    }
}

fn run_pydbm(
    path: &Path,
    durability: Durability,
    cache_bytes: usize,
    keys: &[Vec<u8>],
    order: &[usize],
    value: &[u8],
) -> Times {
    let mut opts = OpenOptions::from_flag("n").expect("valid flag");
    opts.durability = durability;
    let gnu = pydbm_formats::gnu::GnuOptions {
        cache_bytes,
        ..Default::default()
    };
    // The file system `pydbm_formats::gnu::open` uses (mmap reads for a locked handle).
    let vfs = pydbm_formats::gnu::os_vfs(&opts);
    let t = Clock::start();
    let mut db = pydbm_formats::gnu::open_with(vfs, path, &opts, gnu).expect("open");
    for k in keys {
        db.insert(k, value).expect("insert");
    }
    let insert = t.stop();
    let t = Clock::start();
    // `GnuDb::get_into` with one reused buffer: the allocation-free lookup (`Dbm::get`
    // returns a fresh Vec per call, as libgdbm's `gdbm_fetch` mallocs one).
    let mut out = Vec::new();
    for &i in order {
        assert!(db.get_into(&keys[i], &mut out).expect("get"));
        assert_eq!(out.len(), value.len());
    }
    let get = t.stop();
    let t = Clock::start();
    let mut n = 0;
    let mut k = db.firstkey().expect("firstkey");
    while let Some(key) = k {
        n += 1;
        k = db.nextkey(&key).expect("nextkey");
    }
    let iter = t.stop();
    assert_eq!(n, keys.len());
    db.close().expect("close");
    Times { insert, get, iter }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut rng = pydbm_engine::prng::SplitMix64::new(42);
    let keys: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let mut k = rng.next_u64().to_le_bytes().to_vec();
            k.extend_from_slice(&rng.next_u64().to_le_bytes());
            k
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let value = vec![b'v'; 100];
    let dir = tempfile::tempdir().expect("tempdir");
    println!("gdbm benchmark: {n} random 16-byte keys, 100-byte values");
    let only = std::env::args().nth(2);
    let only = only.as_deref();
    if !matches!(only, None | Some("libgdbm") | Some("none")) {
        eprintln!("ONLY must be `libgdbm` or `none`");
        std::process::exit(2);
    }
    let base = if only == Some("none") {
        None
    } else {
        load_gdbm().map(|g| run_libgdbm(&g, &dir.path().join("ref.gdbm"), &keys, &order, &value))
    };
    if base.is_none() && only != Some("none") {
        println!("libgdbm (libgdbm.so.6) not available: pydbm figures only");
    }
    let show = |name: &str, t: &Times| {
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
        println!("{name}");
        println!(
            "    insert  {}",
            r(t.insert, base.as_ref().map(|b| b.insert))
        );
        println!("    get     {}", r(t.get, base.as_ref().map(|b| b.get)));
        println!("    iterate {}", r(t.iter, base.as_ref().map(|b| b.iter)));
    };
    if let Some(b) = &base {
        show("libgdbm 1.23 (C API)", b);
    }
    for (name, d, cache) in [
        ("pydbm durability=None", Durability::None, 0),
        ("pydbm None, 8M cache", Durability::None, 8 << 20),
        ("pydbm default (Process)", Durability::Process, 0),
    ] {
        if only == Some("libgdbm") || (only == Some("none") && cache != 0) {
            continue;
        }
        if only == Some("none") && d != Durability::None {
            continue;
        }
        let file = dir
            .path()
            .join(format!("{name}.gdbm").replace([' ', ','], "_"));
        let t = run_pydbm(&file, d, cache, &keys, &order, &value);
        show(name, &t);
    }
}
