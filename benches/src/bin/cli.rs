//! The whole-process CLI case (issue 17): `pydbm apply --type T` running a script of N sets
//! and N gets from stdin, against a Python process doing the same calls through the
//! reference module (reading and parsing the same script), CPU time of each child
//! (`wait4`'s rusage: user + system, start-up included on both sides), median of the
//! per-round ratios over alternated rounds. Then, when `strace` is installed, system calls
//! per insert of `pydbm apply` at its (only, default) durability.
//!
//! Usage: `cargo build --release -p pydbm-benches --bin cli && cargo build --release -p pydbm-cli &&
//! ./target/release/cli [N] [STRACE_N]` (N defaults to 200000, STRACE_N to 20000). ROUNDS
//! (default 3) sets the rounds, FORMATS a subset of `gnu,ndbm,dumb`, PYDBM_BIN the pydbm
//! binary (default: `pydbm` beside this one). References: gnu and ndbm — Debian's
//! `/usr/bin/python3` (`dbm.gnu` is libgdbm, `dbm.ndbm` is libdb 5.3), or PYDBM_SYSTEM_PYTHON;
//! dumb — CPython 3.13 (PYDBM_PYTHON313, else `python3.13` on PATH).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What Python runs: the `apply` script semantics of docs/cli.md for `set` and `get`.
const PY_APPLY: &str = r#"
import sys, importlib
mod = importlib.import_module(sys.argv[1])
db = mod.open(sys.argv[2], 'n')
fromhex = bytes.fromhex
for line in sys.stdin:
    op, _, rest = line.partition(' ')
    if op == 'set':
        k, v = rest.split()
        db[fromhex(k)] = fromhex(v)
    elif op == 'get':
        db.get(fromhex(rest.strip()))
db.close()
"#;

/// Writes the script: N `set` lines (16-byte keys, 100-byte values), then N `get` lines in
/// a scattered order. With `gets == false`, the sets only.
fn write_script(path: &Path, n: usize, gets: bool) {
    let mut f = std::io::BufWriter::new(File::create(path).expect("create the script"));
    let key = |i: usize| format!("{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let hex = |s: &[u8]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let value = hex(&[b'v'; 100]);
    for i in 0..n {
        writeln!(f, "set {} {value}", hex(key(i).as_bytes())).expect("write the script");
    }
    if gets {
        for j in 0..n {
            let i = (j * 1_000_003) % n;
            writeln!(f, "get {}", hex(key(i).as_bytes())).expect("write the script");
        }
    }
    f.flush().expect("write the script");
}

/// Runs `cmd` with `stdin` as its standard input; returns the child's CPU seconds (user,
/// system) from `wait4`, or `None` (with the reason on stderr) if it failed.
fn child_cpu(mut cmd: Command, stdin: &Path) -> Option<(f64, f64)> {
    let child = cmd
        .stdin(File::open(stdin).expect("open the script"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {cmd:?}: {e}");
            return None;
        }
    };
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let mut status: libc::c_int = 0;
    // SAFETY: `ru` is a zero-initialised rusage we own; the pid is our unreaped child.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let pid = libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru);
        assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
        ru
    };
    let err = reader.join().unwrap_or_default();
    let status = std::process::ExitStatus::from_raw(status);
    if !status.success() {
        eprintln!("{cmd:?} failed ({status}): {err}");
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some((secs(ru.ru_utime), secs(ru.ru_stime)))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `strace -f -c` of `cmd`: system call name → count.
fn strace_counts(
    pydbm: &Path,
    format: &str,
    db: &Path,
    script: &Path,
) -> Option<BTreeMap<String, u64>> {
    let strace = find_on_path("strace")?;
    let out_file = db.with_extension("strace");
    let mut cmd = Command::new(strace);
    cmd.args(["-f", "-c", "-o"])
        .arg(&out_file)
        .arg(pydbm)
        .args(["apply", "--type", format, "--flag", "n"])
        .arg(db);
    child_cpu(cmd, script)?;
    let text = std::fs::read_to_string(&out_file).ok()?;
    // Rows: "% time seconds usecs/call calls [errors] syscall"; the name is last, the
    // count is the fourth column.
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 5 && cols[0].parse::<f64>().is_ok() {
            if let (Some(name), Ok(calls)) = (cols.last(), cols[3].parse::<u64>()) {
                if *name != "total" {
                    counts.insert(name.to_string(), calls);
                }
            }
        }
    }
    Some(counts)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let strace_n: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3);
    let formats = std::env::var("FORMATS").unwrap_or_else(|_| "gnu,ndbm,dumb".into());
    let pydbm = std::env::var_os("PYDBM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .expect("own path")
                .with_file_name("pydbm")
        });
    let system_python = std::env::var_os("PYDBM_SYSTEM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"));
    let py313 = std::env::var_os("PYDBM_PYTHON313")
        .map(PathBuf::from)
        .or_else(|| find_on_path("python3.13"));
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("script");
    write_script(&script, n, true);
    println!(
        "CLI bench: `{} apply --type T` of {n} sets + {n} gets (script on stdin) vs Python \
         doing the same calls; child CPU (wait4 rusage, user+system), {rounds} alternated \
         rounds; load average at start {}",
        pydbm.display(),
        loadavg()
    );
    println!(
        "{:<6} {:<28} {:>16} {:>16} {:>9}  per-round ratios",
        "type", "reference", "pydbm cpu (u+s)", "ref cpu (u+s)", "ratio"
    );
    for format in formats.split(',') {
        let (python, module) = match format {
            "gnu" => (Some(system_python.clone()), "dbm.gnu"),
            "ndbm" => (Some(system_python.clone()), "dbm.ndbm"),
            "dumb" => (py313.clone(), "dbm.dumb"),
            other => {
                eprintln!("unknown format {other:?} in FORMATS (gnu,ndbm,dumb)");
                std::process::exit(2);
            }
        };
        let mut mine = Vec::new();
        let mut theirs = Vec::new();
        for round in 0..rounds {
            let run_pydbm = || {
                let db = dir.path().join(format!("pydbm-{format}"));
                let mut cmd = Command::new(&pydbm);
                cmd.args(["apply", "--type", format, "--flag", "n"])
                    .arg(&db);
                child_cpu(cmd, &script)
            };
            let run_python = || {
                let db = dir.path().join(format!("py-{format}"));
                let mut cmd = Command::new(python.as_ref()?);
                cmd.args(["-c", PY_APPLY, module]).arg(&db);
                child_cpu(cmd, &script)
            };
            if round % 2 == 0 {
                mine.push(run_pydbm());
                theirs.push(run_python());
            } else {
                theirs.push(run_python());
                mine.push(run_pydbm());
            }
        }
        let show = |v: &[Option<(f64, f64)>]| {
            let mut ok: Vec<(f64, f64)> = v.iter().flatten().copied().collect();
            if ok.is_empty() {
                return format!("{:>16}", "SKIPPED");
            }
            ok.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
            let (u, s) = ok[ok.len() / 2];
            format!("{:>6.2}s ({u:.2}+{s:.2})", u + s)
        };
        let ratios: Vec<f64> = mine
            .iter()
            .zip(&theirs)
            .filter_map(|(a, b)| {
                let (a, b) = (a.as_ref()?, b.as_ref()?);
                Some((a.0 + a.1) / (b.0 + b.1))
            })
            .collect();
        let label = format!(
            "{} {module}",
            python
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".into())
        );
        println!(
            "{format:<6} {label:<28} {} {} {:>9}  {}   load {}",
            show(&mine),
            show(&theirs),
            if ratios.is_empty() {
                "SKIPPED".to_string()
            } else {
                format!("{:.3}x", median(ratios.clone()))
            },
            ratios
                .iter()
                .map(|r| format!("{r:.3}"))
                .collect::<Vec<_>>()
                .join(" "),
            loadavg()
        );
    }
    // System calls per insert at the CLI's durability (the default, Process).
    let sets = dir.path().join("sets");
    write_script(&sets, strace_n, false);
    println!("\nsystem calls per insert (`strace -f -c pydbm apply`, {strace_n} sets, default durability):");
    for format in formats.split(',') {
        let db = dir.path().join(format!("strace-{format}"));
        match strace_counts(&pydbm, format, &db, &sets) {
            None => println!("  {format:<6} SKIPPED (strace not installed or the run failed)"),
            Some(c) => {
                let per = |name: &str| c.get(name).copied().unwrap_or(0) as f64 / strace_n as f64;
                let mut top: Vec<(&String, &u64)> = c.iter().collect();
                top.sort_by(|a, b| b.1.cmp(a.1));
                println!(
                    "  {format:<6} pwrite64 {:.2}/insert, pwritev {:.2}, getpid {:.2}, fsync+fdatasync {:.2}; \
                     most frequent: {}",
                    per("pwrite64"),
                    per("pwritev"),
                    per("getpid"),
                    per("fsync") + per("fdatasync"),
                    top.iter()
                        .take(5)
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
}
