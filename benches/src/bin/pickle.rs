//! pickle loads/dumps throughput: pydbm against CPython's C pickle and serde-pickle on the
//! same bytes.
//!
//! CPython (3.13, `PYDBM_PYTHON313`, the reference; else Debian's `PYDBM_PYTHON_GDBM`) builds a mixed corpus
//! (many small dicts/lists/strings, a few large bytes; ~50 MB at the default size), pickles
//! it at protocol 4, times `pickle.loads` and `pickle.dumps` inside Python (best of 3), and
//! writes the pickle to a temporary file. pydbm then loads and dumps the same bytes (best of
//! 3), checks its dump is byte-identical to CPython's, and prints the times and ratios
//! (pydbm time / other time; < 1 means pydbm is faster). serde-pickle loads the same bytes
//! into its `Value` and dumps that `Value` (it writes protocol 3 only, so pydbm's protocol-3
//! dump of its graph is timed beside it).
//! Times are process CPU time (Python's `time.process_time`, `getrusage` here), so a
//! machine shared with other jobs does not distort the ratio; wall time is printed too.
//!
//! Usage: `cargo run --release -p pydbm-benches --bin pickle [RECORDS]` (default 600000).

use std::time::Instant;

use pydbm_benches::ProcessCpu;
use pydbm_shelve::pickle::{dumps, loads, LoadOptions};

const MAKE: &str = r#"
import pickle, sys, time
n = int(sys.argv[2])
data = [{'id': i, 'name': 'user%d' % i, 'tags': ['a', 'b', str(i)], 'score': i * 0.5,
         'flag': i % 2 == 0, 'pos': (i, -i)} for i in range(n)]
data += [bytes([i]) * 1_000_000 for i in range(5)]
blob = pickle.dumps(data, 4)
open(sys.argv[1], 'wb').write(blob)
def best(f, clock):
    t = []
    for _ in range(3):
        s = clock(); f(); t.append(clock() - s)
    return min(t)
obj = pickle.loads(blob)
cpu, wall = time.process_time, time.perf_counter
print(len(blob), best(lambda: pickle.loads(blob), cpu), best(lambda: pickle.dumps(obj, 4), cpu),
      best(lambda: pickle.loads(blob), wall), best(lambda: pickle.dumps(obj, 4), wall))
"#;

/// Process CPU time (user + system, all threads) in seconds.
fn cpu_seconds() -> f64 {
    ProcessCpu::now().total()
}

/// Best of three runs: (CPU seconds, wall seconds, last result).
fn best<T>(mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let (mut cpu, mut wall) = (f64::INFINITY, f64::INFINITY);
    let mut last = None;
    for _ in 0..3 {
        let (c, w) = (cpu_seconds(), Instant::now());
        let v = f();
        wall = wall.min(w.elapsed().as_secs_f64());
        cpu = cpu.min(cpu_seconds() - c);
        last = Some(v);
    }
    // three iterations ran, so `last` is set
    (cpu, wall, last.expect("ran three iterations"))
}

fn main() {
    let records: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(600_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("corpus.pickle");
    use pydbm_engine::live_reference::{python, Python};
    let py = python(Python::Py313)
        .or_else(|| python(Python::Gdbm))
        .unwrap_or_else(|| "python3".into());
    let py = py.display().to_string();
    let out = match std::process::Command::new(&py)
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
            println!("SKIPPED: {py} (CPython reference) not available");
            return;
        }
    };
    let line = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let (size, py_load, py_dump, py_load_wall, py_dump_wall) = (f[0], f[1], f[2], f[3], f[4]);
    let data = std::fs::read(&path).expect("read the pickle CPython wrote");
    let opts = LoadOptions::default();
    let (rs_load, rs_load_wall, graph) =
        best(|| loads(&data, &opts).expect("pydbm loads CPython's pickle"));
    let (rs_dump, rs_dump_wall, bytes) = best(|| dumps(&graph, 4).expect("pydbm dumps"));
    let (sp_load, sp_load_wall, value) = best(|| {
        serde_pickle::value_from_slice(&data, serde_pickle::DeOptions::new())
            .expect("serde-pickle loads CPython's pickle")
    });
    let (sp_dump, sp_dump_wall, _) = best(|| {
        serde_pickle::value_to_vec(&value, serde_pickle::SerOptions::new())
            .expect("serde-pickle dumps")
    });
    let (rs_dump3, rs_dump3_wall, _) = best(|| dumps(&graph, 3).expect("pydbm dumps"));
    let mb = size / 1e6;
    println!("pickle protocol 4, {records} records + 5 MB of bytes = {mb:.1} MB; CPython = {py}");
    for (what, rs, py, rsw, pyw) in [
        ("loads", rs_load, py_load, rs_load_wall, py_load_wall),
        ("dumps", rs_dump, py_dump, rs_dump_wall, py_dump_wall),
    ] {
        println!(
            "{what}: CPU pydbm {rs:.2} s ({:.0} MB/s), CPython {py:.2} s ({:.0} MB/s), ratio {:.2}; wall {rsw:.2} s vs {pyw:.2} s",
            mb / rs,
            mb / py,
            rs / py
        );
    }
    for (what, rs, sp, rsw, spw) in [
        ("loads", rs_load, sp_load, rs_load_wall, sp_load_wall),
        ("dumps p3", rs_dump3, sp_dump, rs_dump3_wall, sp_dump_wall),
    ] {
        println!(
            "{what}: CPU pydbm {rs:.2} s, serde-pickle {sp:.2} s, ratio {:.2}; wall {rsw:.2} s vs {spw:.2} s",
            rs / sp
        );
    }
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
