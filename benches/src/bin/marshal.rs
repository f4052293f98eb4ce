//! marshal loads/dumps: pydbm against CPython's C marshal (Debian's `/usr/bin/python3`, `PYDBM_PYTHON_GDBM`, timed inside
//! the subprocess so interpreter start-up is excluded), same data, same repetitions.
//!
//! Run: `cargo run --release -p pydbm-benches --bin marshal` (prints one line per workload
//! with both times per operation and the ratio pydbm / CPython; below 1 means pydbm is faster).

use std::process::Command;
use std::time::Instant;

use pydbm_shelve::marshal;

/// Builds each workload's value in Python and times CPython on it; prints
/// `NAME HEX REPS LOADS_NS DUMPS_NS` per workload.
const PY: &str = r#"
import marshal, time, sys
def mixed(n):
    return [{"id": i, "name": "user%d" % i, "score": i * 0.5, "tags": ("a", "b", i % 7),
             "big": 2 ** 70 + i, "blob": b"x" * (i % 13)} for i in range(n)]
work = {
    "mixed_2k_records": mixed(2000),
    "ints_100k": list(range(-50000, 50000)),
    "floats_50k": [i / 7 for i in range(50000)],
    "strs_50k": ["s%06d" % i for i in range(50000)],
    "bytes_1MiB": b"\x00\x01" * (1 << 19),
    "sets_10k": [frozenset((i, i + 1, str(i))) for i in range(10000)],
}
for name, value in work.items():
    data = marshal.dumps(value, 4)
    v = marshal.loads(data)
    reps = max(3, int(2e6 // max(len(data), 1)))
    t = time.perf_counter()
    for _ in range(reps):
        marshal.loads(data)
    loads_ns = (time.perf_counter() - t) / reps * 1e9
    t = time.perf_counter()
    for _ in range(reps):
        marshal.dumps(v, 4)
    dumps_ns = (time.perf_counter() - t) / reps * 1e9
    print(name, data.hex(), reps, int(loads_ns), int(dumps_ns))
"#;

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or(0))
        .collect()
}

fn main() {
    // Debian's python3 (`PYDBM_PYTHON_GDBM`, default /usr/bin/python3): the measured reference.
    let py = pydbm_engine::live_reference::python(pydbm_engine::live_reference::Python::Gdbm)
        .unwrap_or_else(|| "/usr/bin/python3".into());
    let out = match Command::new(&py).args(["-c", PY]).output() {
        Ok(o) if o.status.success() => o,
        _ => {
            eprintln!("SKIPPED: {} not available", py.display());
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    println!(
        "{:<18} {:>10} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}",
        "workload", "bytes", "loads pydbm", "loads py", "ratio", "dumps pydbm", "dumps py", "ratio"
    );
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() != 5 {
            continue;
        }
        let data = unhex(f[1]);
        let reps: u32 = f[2].parse().unwrap_or(3);
        let py_loads: f64 = f[3].parse().unwrap_or(f64::NAN);
        let py_dumps: f64 = f[4].parse().unwrap_or(f64::NAN);
        let value = match marshal::loads(&data) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{}: pydbm cannot load CPython's dump: {e}", f[0]);
                continue;
            }
        };
        let t = Instant::now();
        for _ in 0..reps {
            let _ = std::hint::black_box(marshal::loads(std::hint::black_box(&data)));
        }
        let loads_ns = t.elapsed().as_nanos() as f64 / f64::from(reps);
        let t = Instant::now();
        for _ in 0..reps {
            let _ = std::hint::black_box(marshal::dumps(std::hint::black_box(&value), 4));
        }
        let dumps_ns = t.elapsed().as_nanos() as f64 / f64::from(reps);
        println!(
            "{:<18} {:>10} {:>10.0}us {:>10.0}us {:>7.2} {:>10.0}us {:>10.0}us {:>7.2}",
            f[0],
            data.len(),
            loads_ns / 1e3,
            py_loads / 1e3,
            loads_ns / py_loads,
            dumps_ns / 1e3,
            py_dumps / 1e3,
            dumps_ns / py_dumps
        );
    }
}
