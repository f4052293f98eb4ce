//! pickle loads/dumps throughput: pydbm against CPython's C pickle on the same bytes.
//!
//! CPython (`/usr/bin/python3`) builds a mixed corpus (many small dicts/lists/strings, a few
//! large bytes), pickles it at protocol 4, times `pickle.loads` and `pickle.dumps` inside
//! Python (best of 3), and writes the pickle to a temporary file. pydbm then loads and dumps
//! the same bytes (best of 3), checks its dump is byte-identical to CPython's, and prints
//! the times and ratios (pydbm time / CPython time; < 1 means pydbm is faster).
//!
//! Usage: `cargo run --release -p pydbm-benches --bin pickle [RECORDS]` (default 300000).

use std::time::Instant;

use pydbm_shelve::pickle::{dumps, loads, LoadOptions};

const MAKE: &str = r#"
import pickle, sys, time
n = int(sys.argv[2])
data = [{'id': i, 'name': 'user%d' % i, 'tags': ['a', 'b', str(i)], 'score': i * 0.5,
         'flag': i % 2 == 0, 'pos': (i, -i)} for i in range(n)]
data += [bytes([i]) * 1_000_000 for i in range(5)]
blob = pickle.dumps(data, 4)
open(sys.argv[1], 'wb').write(blob)
def best(f):
    t = []
    for _ in range(3):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return min(t)
obj = pickle.loads(blob)
print(len(blob), best(lambda: pickle.loads(blob)), best(lambda: pickle.dumps(obj, 4)))
"#;

fn best<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let s = Instant::now();
        let v = f();
        times.push(s.elapsed().as_secs_f64());
        last = Some(v);
    }
    let t = times.into_iter().fold(f64::INFINITY, f64::min);
    // three iterations ran, so `last` is set
    (t, last.expect("ran three iterations"))
}

fn main() {
    let records: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("corpus.pickle");
    let out = match std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            MAKE,
            path.to_str().expect("utf-8 temp path"),
            &records.to_string(),
        ])
        .output()
    {
        Ok(o) if o.status.success() => o,
        _ => {
            println!("SKIPPED: /usr/bin/python3 (CPython reference) not available");
            return;
        }
    };
    let line = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let (size, py_load, py_dump) = (f[0], f[1], f[2]);
    let data = std::fs::read(&path).expect("read the pickle CPython wrote");
    let opts = LoadOptions::default();
    let (rs_load, graph) = best(|| loads(&data, &opts).expect("pydbm loads CPython's pickle"));
    let (rs_dump, bytes) = best(|| dumps(&graph, 4).expect("pydbm dumps"));
    let mb = size / 1e6;
    println!("pickle protocol 4, {records} records + 5 MB of bytes = {mb:.1} MB");
    println!(
        "loads: pydbm {:.3} s ({:.0} MB/s), CPython {:.3} s ({:.0} MB/s), ratio {:.2}",
        rs_load,
        mb / rs_load,
        py_load,
        mb / py_load,
        rs_load / py_load
    );
    println!(
        "dumps: pydbm {:.3} s ({:.0} MB/s), CPython {:.3} s ({:.0} MB/s), ratio {:.2}",
        rs_dump,
        mb / rs_dump,
        py_dump,
        mb / py_dump,
        rs_dump / py_dump
    );
    if bytes == data {
        println!("pydbm dump byte-identical to CPython's: yes");
    } else {
        let at = bytes.iter().zip(&data).position(|(a, b)| a != b);
        println!(
            "pydbm dump byte-identical to CPython's: NO (lengths {} vs {}, first difference at {:?})",
            bytes.len(),
            data.len(),
            at
        );
        if let Ok(dir) = std::env::var("PICKLE_BENCH_KEEP") {
            let dir = std::path::Path::new(&dir);
            let _ = std::fs::write(dir.join("pydbm.pickle"), &bytes);
            let _ = std::fs::write(dir.join("cpython.pickle"), &data);
        }
    }
}
