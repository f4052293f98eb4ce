//! dbm.dumb: the same workload through pydbm and CPython 3.13's `dbm.dumb` (`PYDBM_PYTHON313`, default pyenv's 3.13,
//! timed inside Python), ratio printed, output files compared byte for byte.
//!
//! Workload (issue 5): N inserts of 16-byte keys and 100-byte values into a new database,
//! then a get of every key, then close. `cargo run --release -p pydbm-benches --bin dumb [N]`.
//! `--only none|process` runs just that pydbm level without CPython (for profiling under
//! callgrind or perf). Times are wall clock and process CPU (user + system, getrusage; for
//! CPython measured inside the interpreter with `time.process_time`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pydbm_benches::ProcessCpu;
use pydbm_engine::{Dbm, Durability, OpenOptions};
use pydbm_formats::dumb::db::DumbDb;

/// CPython 3.13: `PYDBM_PYTHON313`, else the default lookup of
/// `pydbm_engine::live_reference` (PATH `python3.13`, pyenv), else the bare name.
fn python313() -> std::path::PathBuf {
    pydbm_engine::live_reference::python(pydbm_engine::live_reference::Python::Py313)
        .unwrap_or_else(|| "python3.13".into())
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:012}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    (0..100).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

/// Process CPU seconds so far (user + system), from getrusage.
fn cpu_now() -> f64 {
    ProcessCpu::now().total()
}

/// Timings of one run: wall seconds of (inserts, gets, close) and CPU seconds of the whole.
struct Times {
    insert: f64,
    get: f64,
    close: f64,
    cpu: f64,
}

impl Times {
    fn wall(&self) -> f64 {
        self.insert + self.get + self.close
    }
}

/// Runs the workload through pydbm.
fn run_pydbm(name: &Path, n: usize, durability: Durability) -> Times {
    let mut opts = OpenOptions::from_flag("n").expect("'n' is a valid flag");
    opts.durability = durability;
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    let vals: Vec<Vec<u8>> = (0..n).map(value).collect();
    let c0 = cpu_now();
    let t0 = Instant::now();
    let mut db = DumbDb::open(name, &opts).expect("open");
    for (k, v) in keys.iter().zip(&vals) {
        db.insert(k, v).expect("insert");
    }
    let t1 = Instant::now();
    for k in &keys {
        let v = db.get(k).expect("get").expect("present");
        assert_eq!(v.len(), 100);
    }
    let t2 = Instant::now();
    db.close().expect("close");
    let t3 = Instant::now();
    Times {
        insert: (t1 - t0).as_secs_f64(),
        get: (t2 - t1).as_secs_f64(),
        close: (t3 - t2).as_secs_f64(),
        cpu: cpu_now() - c0,
    }
}

const PY: &str = r#"
import dbm.dumb, sys, time
name, n = sys.argv[1], int(sys.argv[2])
key = lambda i: ('key-%012d' % i).encode()
value = lambda i: bytes((i * 31 + j * 7) % 251 for j in range(100))
keys = [key(i) for i in range(n)]; vals = [value(i) for i in range(n)]
c0 = time.process_time()
t0 = time.perf_counter()
db = dbm.dumb.open(name, 'n')
for k, v in zip(keys, vals):
    db[k] = v
t1 = time.perf_counter()
for k in keys:
    assert len(db[k]) == 100
t2 = time.perf_counter()
db.close()
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, time.process_time() - c0)
"#;

/// The floor under `Durability::Process`, where every operation must reach the kernel
/// before it returns: microseconds per raw `pwrite` on the same file system, for `n` 100-byte
/// appends at 512-byte strides to a fresh file (what a value append to `.dat` is) and for `n`
/// 8-byte overwrites at offset 0 (what a journal invalidation is).
fn pwrite_floor(dir: &Path, n: usize) -> (f64, f64) {
    use std::os::unix::fs::FileExt;
    let path = dir.join("floor");
    let f = std::fs::File::create(&path).expect("create the floor file");
    let buf = [7u8; 100];
    let t = Instant::now();
    for i in 0..n {
        f.write_all_at(&buf, i as u64 * 512).expect("pwrite");
    }
    let append = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        f.write_all_at(&buf[..8], 0).expect("pwrite");
    }
    let overwrite = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    drop(f);
    std::fs::remove_file(&path).expect("remove the floor file");
    (append, overwrite)
}

fn print_times(label: &str, t: &Times) {
    print!(
        "  {label:<26} insert {:7.3}s  get {:7.3}s  close {:6.3}s  wall {:7.3}s  cpu {:7.3}s",
        t.insert,
        t.get,
        t.close,
        t.wall(),
        t.cpu
    );
}

fn main() {
    let mut n = 100_000;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--only" => {
                only = match args.next().as_deref() {
                    Some("none") => Some(Durability::None),
                    Some("process") => Some(Durability::Process),
                    other => panic!("--only none|process, not {other:?}"),
                }
            }
            _ => n = a.parse().expect("N is a number"),
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    println!("dbm.dumb: {n} inserts (16-byte keys, 100-byte values), {n} gets, close");
    if let Some(d) = only {
        let t = run_pydbm(&tmp.path().join("only"), n, d);
        print_times(&format!("pydbm {d:?}"), &t);
        println!();
        return;
    }
    let py_name = tmp.path().join("py");
    let out = Command::new(python313())
        .args(["-c", PY])
        .arg(&py_name)
        .arg(n.to_string())
        .output();
    let py = match out {
        Ok(o) if o.status.success() => {
            let t: Vec<f64> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(|x| x.parse().expect("python prints seconds"))
                .collect();
            Some(Times {
                insert: t[0],
                get: t[1],
                close: t[2],
                cpu: t[3],
            })
        }
        _ => {
            eprintln!(
                "SKIPPED: {} dbm.dumb not available; pydbm timings only",
                python313().display()
            );
            None
        }
    };
    if let Some(p) = &py {
        print_times("CPython 3.13 dbm.dumb", p);
        println!();
    }
    for (label, d) in [
        ("durability=None", Durability::None),
        ("durability=Process", Durability::Process),
    ] {
        let name = tmp.path().join(label);
        let t = run_pydbm(&name, n, d);
        print_times(&format!("pydbm {label}"), &t);
        if let Some(p) = &py {
            print!(
                "  ratio wall {:.4} ({:.1}x)  cpu {:.4} ({:.1}x)",
                t.wall() / p.wall(),
                p.wall() / t.wall(),
                t.cpu / p.cpu,
                p.cpu / t.cpu
            );
            for ext in ["dat", "dir", "bak"] {
                let a = std::fs::read(tmp.path().join(format!("{label}.{ext}"))).ok();
                let b = std::fs::read(tmp.path().join(format!("py.{ext}"))).ok();
                assert!(a == b, "{label}: .{ext} differs from CPython's");
            }
            print!("  files identical");
        }
        println!();
    }
    let (append, overwrite) = pwrite_floor(tmp.path(), n);
    println!(
        "  raw pwrite on this file system: 100-byte append {append:.2} us, 8-byte overwrite {overwrite:.2} us"
    );
}
