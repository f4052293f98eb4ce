//! dbm.ndbm (Berkeley DB 5.3 hash): the same workload through pydbm and Python's
//! `dbm.ndbm` over libdb 5.3 (/usr/bin/python3, timed inside Python), ratio printed, and
//! the two files compared on every live byte (ndbm spec §4/§5 mask).
//!
//! Workload (issue 8): N inserts of random 16-byte keys with 100-byte values into a new
//! database, N random gets, one full iteration, close.
//! `cargo run --release -p pydbm-benches --bin ndbm [N]`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{Dbm, Durability, OpenOptions};
use pydbm_formats::ndbm::live::live_diff;
use pydbm_formats::ndbm::{db_path, NdbmDb};

const PYTHON: &str = "/usr/bin/python3";

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

/// Seconds for (inserts, gets, iteration, close) through pydbm.
fn run_pydbm(name: &Path, n: usize, durability: Durability) -> [f64; 4] {
    let (keys, vals, order) = workload(n);
    let mut opts = OpenOptions::from_flag("n").expect("'n' is a valid flag");
    opts.durability = durability;
    let t0 = Instant::now();
    let mut db = NdbmDb::open(name, &opts).expect("open");
    for (k, v) in keys.iter().zip(&vals) {
        db.insert(k, v).expect("insert");
    }
    let t1 = Instant::now();
    for &i in &order {
        assert_eq!(db.get(&keys[i]).expect("get").map(|v| v.len()), Some(100));
    }
    let t2 = Instant::now();
    let mut count = 0usize;
    for item in pydbm_engine::Items::of(&mut db).expect("items") {
        item.expect("item");
        count += 1;
    }
    assert_eq!(count, n);
    let t3 = Instant::now();
    db.close().expect("close");
    let t4 = Instant::now();
    [t1 - t0, t2 - t1, t3 - t2, t4 - t3].map(|d| d.as_secs_f64())
}

const PY: &str = r#"
import dbm.ndbm, sys, time
name, keyfile, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(keyfile, 'rb').read()
keys = [raw[16 * i:16 * i + 16] for i in range(n)]
order = [int.from_bytes(raw[16 * n + 4 * i:16 * n + 4 * i + 4], 'little') for i in range(n)]
vals = [bytes((i * 31 + j * 7) % 251 for j in range(100)) for i in range(n)]
t0 = time.perf_counter()
db = dbm.ndbm.open(name, 'n')
for k, v in zip(keys, vals):
    db[k] = v
t1 = time.perf_counter()
for i in order:
    assert len(db[keys[i]]) == 100
t2 = time.perf_counter()
c = 0
for k in db.keys():
    db[k]
    c += 1
assert c == n, c
t3 = time.perf_counter()
db.close()
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"#;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N is a number"))
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (keys, _, order) = workload(n);
    let keyfile = tmp.path().join("keys.bin");
    let mut raw: Vec<u8> = keys.concat();
    for i in order {
        raw.extend_from_slice(&(i as u32).to_le_bytes());
    }
    std::fs::write(&keyfile, raw).expect("write key file");
    let py_name = tmp.path().join("py");
    let out = Command::new(PYTHON)
        .args(["-c", PY])
        .arg(&py_name)
        .arg(&keyfile)
        .arg(n.to_string())
        .output();
    let py: Option<[f64; 4]> = match out {
        Ok(o) if o.status.success() => {
            let t: Vec<f64> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(|x| x.parse().expect("python prints seconds"))
                .collect();
            Some([t[0], t[1], t[2], t[3]])
        }
        _ => {
            eprintln!("SKIPPED: {PYTHON} dbm.ndbm (libdb 5.3) not available; pydbm timings only");
            None
        }
    };
    println!("dbm.ndbm: {n} inserts (random 16-byte keys, 100-byte values), {n} random gets, iteration, close");
    let show = |label: &str, t: [f64; 4]| {
        format!(
            "  {label:<28} insert {:7.3}s  get {:7.3}s  iterate {:7.3}s  close {:6.3}s  total {:7.3}s",
            t[0],
            t[1],
            t[2],
            t[3],
            t.iter().sum::<f64>()
        )
    };
    if let Some(p) = py {
        println!("{}", show("CPython dbm.ndbm (libdb)", p));
    }
    for (label, d) in [
        ("pydbm durability=None", Durability::None),
        ("pydbm durability=Process", Durability::Process),
    ] {
        let name = tmp.path().join(label.replace([' ', '='], "_"));
        let t = run_pydbm(&name, n, d);
        print!("{}", show(label, t));
        if let Some(p) = py {
            let ratios: Vec<String> = (0..4).map(|i| format!("{:.2}", t[i] / p[i])).collect();
            print!(
                "  ratio insert/get/iterate/close {}  total {:.2}",
                ratios.join("/"),
                t.iter().sum::<f64>() / p.iter().sum::<f64>()
            );
            let a = std::fs::read(db_path(&name)).expect("pydbm file");
            let b = std::fs::read(db_path(&py_name)).expect("libdb file");
            match live_diff(&b, &a) {
                None => print!("  live bytes identical"),
                Some(d) => print!("  LIVE BYTES DIFFER: {d}"),
            }
        }
        println!();
    }
}
