//! dbm.dumb: the same workload through pydbm and CPython's `dbm.dumb` (/usr/bin/python3,
//! timed inside Python), ratio printed, output files compared byte for byte.
//!
//! Workload (issue 5): N inserts of 16-byte keys and 100-byte values into a new database,
//! then a get of every key, then close. `cargo run --release -p pydbm-benches --bin dumb [N]`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pydbm_engine::{Dbm, Durability, OpenOptions};
use pydbm_formats::dumb::db::DumbDb;

const PYTHON: &str = "/usr/bin/python3";

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:012}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    (0..100).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

/// Seconds for (inserts, gets, close) through pydbm.
fn run_pydbm(name: &Path, n: usize, durability: Durability) -> (f64, f64, f64) {
    let mut opts = OpenOptions::from_flag("n").expect("'n' is a valid flag");
    opts.durability = durability;
    let t0 = Instant::now();
    let mut db = DumbDb::open(name, &opts).expect("open");
    for i in 0..n {
        db.insert(&key(i), &value(i)).expect("insert");
    }
    let t1 = Instant::now();
    for i in 0..n {
        let v = db.get(&key(i)).expect("get").expect("present");
        assert_eq!(v.len(), 100);
    }
    let t2 = Instant::now();
    db.close().expect("close");
    let t3 = Instant::now();
    (
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64(),
    )
}

const PY: &str = r#"
import dbm.dumb, sys, time
name, n = sys.argv[1], int(sys.argv[2])
key = lambda i: ('key-%012d' % i).encode()
value = lambda i: bytes((i * 31 + j * 7) % 251 for j in range(100))
keys = [key(i) for i in range(n)]; vals = [value(i) for i in range(n)]
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
print(t1 - t0, t2 - t1, t3 - t2)
"#;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N is a number"))
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let py_name = tmp.path().join("py");
    let out = Command::new(PYTHON)
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
            Some((t[0], t[1], t[2]))
        }
        _ => {
            eprintln!("SKIPPED: {PYTHON} dbm.dumb not available; pydbm timings only");
            None
        }
    };
    println!("dbm.dumb: {n} inserts (16-byte keys, 100-byte values), {n} gets, close");
    if let Some((i, g, c)) = py {
        println!(
            "  CPython {:<16} insert {i:8.3}s  get {g:8.3}s  close {c:7.3}s  total {:8.3}s",
            "dbm.dumb",
            i + g + c
        );
    }
    for (label, d) in [
        ("durability=None", Durability::None),
        ("durability=Process", Durability::Process),
    ] {
        let name = tmp.path().join(label);
        let (i, g, c) = run_pydbm(&name, n, d);
        let total = i + g + c;
        print!(
            "  pydbm {label:<18} insert {i:8.3}s  get {g:8.3}s  close {c:7.3}s  total {total:8.3}s"
        );
        if let Some((pi, pg, pc)) = py {
            let pt = pi + pg + pc;
            print!("  ratio {:.4} ({:.1}x faster)", total / pt, pt / total);
            for ext in ["dat", "dir", "bak"] {
                let a = std::fs::read(tmp.path().join(format!("{label}.{ext}"))).ok();
                let b = std::fs::read(tmp.path().join(format!("py.{ext}"))).ok();
                assert!(a == b, "{label}: .{ext} differs from CPython's");
            }
            print!("  files identical");
        }
        println!();
    }
}
