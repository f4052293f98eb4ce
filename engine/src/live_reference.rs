//! Live references: where tests find the real programs they compare against (CPython
//! interpreters, libgdbm's tools, Berkeley DB's utilities, the `sqlite3` command line, a
//! shared corpus), the skip-or-fail policy when one is missing, and the record every live
//! test leaves so one summary at the end of a run can say what was used and what skipped.
//!
//! # Finding interpreters ([`python`])
//!
//! | reference | variable | default |
//! |---|---|---|
//! | [`Python::Py313`] | `PYDBM_PYTHON313` | `python3.13` on PATH, else `~/.pyenv/versions/3.13.*/bin/python3` |
//! | [`Python::Py311`] | `PYDBM_PYTHON311` | `python3.11` on PATH, else pyenv 3.11.*, else `/usr/bin/python3` if it is 3.11 |
//! | [`Python::Py36`] | `PYDBM_PYTHON36` | `python3.6` on PATH, else pyenv 3.6.* |
//! | [`Python::Py27`] | `PYDBM_PYTHON27` | `python2.7` on PATH, else pyenv 2.7.* |
//! | [`Python::Gdbm`] | `PYDBM_PYTHON_GDBM` | `/usr/bin/python3` (Debian's, with python3-gdbm and Berkeley DB's `dbm.ndbm`) |
//!
//! A set variable is used as given (a missing file then counts as a missing reference). A
//! candidate is only accepted after it runs and reports the expected `major.minor` (pyenv's
//! shims exist on PATH for versions that are not active, and fail when run).
//!
//! # Policy ([`skip_or_fail`])
//!
//! When a reference is missing the test says loudly that it skipped; under `CI=true` it fails
//! instead, so a CI machine that lost a reference cannot pass by skipping.
//!
//! # Summary ([`record_used`], [`summary`], [`print_run_summary`])
//!
//! libtest hides the output of passing tests, so every live test also appends one line to
//! `target/live-references/run-<cargo>-<binary>-<pid>.log` (one file per test process, one
//! `write` per line with `O_APPEND`, so parallel test threads and binaries never
//! interleave): `used` with the reference and the test, or `skipped` with what was missing.
//! `<cargo>` names the `cargo` process that started the test (its pid and start time, from
//! `/proc`), so the records of one `cargo test` are told apart from earlier runs'.
//!
//! Every package with live tests has a last test target, `tests/zz_live_references.rs`
//! (`harness = false`; cargo runs a package's test targets in name order and the packages
//! in name order, `pydbm-sqlite` last), that calls [`print_run_summary`]: a plain `cargo
//! test`, `cargo test -p <package>` and `cargo test --workspace` all show the summary of
//! what that run used and skipped (under `--workspace` each package's summary covers the
//! run so far, the last one all of it). cargo runs the doctests after every other test
//! target, so their output follows that last summary; `cargo test-all ARGS`
//! (`.cargo/config.toml`: the `live_references` example with `-- test ARGS`) runs `cargo
//! test ARGS` and then prints the summary of that whole run ([`print_summary_of_run`]) as
//! its last lines. `cargo run -q -p pydbm-engine --features test-support --example
//! live_references` prints the summary of every record file (`-- --reset` empties the
//! directory first).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Whether the environment says this is CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Reports that the reference `what` is missing: records the skip (see [`summary`]), then
/// panics under `CI=true`, otherwise prints `SKIPPED: {what} not available` to stderr (the
/// caller then returns without testing).
///
/// # Panics
/// Under `CI=true`, always.
pub fn skip_or_fail(what: &str) {
    record("skipped", what);
    report_missing(what);
}

/// The panic or the SKIPPED line of [`skip_or_fail`], without the record.
fn report_missing(what: &str) {
    if in_ci() {
        panic!("{what} not available and CI=true");
    }
    eprintln!("SKIPPED: {what} not available");
}

/// Records that the running test compared against the live reference `what` (a name and
/// the path used, e.g. `CPython 3.13 (/usr/bin/python3.13)`), for [`summary`].
pub fn record_used(what: &str) {
    record("used", what);
}

/// A CPython interpreter live tests compare against (see the module table for how each is
/// found).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Python {
    /// CPython 3.13: the reference for pickle, marshal, dbm.dumb, dbm.sqlite3, whichdb.
    Py313,
    /// CPython 3.11 (marshal's 3.11 flavor, the sqlite3 module's 3.11 behaviour).
    Py311,
    /// CPython 3.6 (pickles made by an old Python 3).
    Py36,
    /// CPython 2.7 (Python 2 pickles).
    Py27,
    /// Debian's `/usr/bin/python3` (3.11) with python3-gdbm: libgdbm through `dbm.gnu` and
    /// Berkeley DB 5.3 through `dbm.ndbm`.
    Gdbm,
}

impl Python {
    /// Every interpreter, in the order the summary lists them.
    pub const ALL: [Python; 5] = [
        Python::Py313,
        Python::Py311,
        Python::Py36,
        Python::Py27,
        Python::Gdbm,
    ];

    /// The environment variable that overrides where this interpreter is.
    pub fn env_var(self) -> &'static str {
        match self {
            Python::Py313 => "PYDBM_PYTHON313",
            Python::Py311 => "PYDBM_PYTHON311",
            Python::Py36 => "PYDBM_PYTHON36",
            Python::Py27 => "PYDBM_PYTHON27",
            Python::Gdbm => "PYDBM_PYTHON_GDBM",
        }
    }

    /// The `major.minor` it must report (`None`: any Python 3, for Debian's).
    pub fn version(self) -> Option<(u32, u32)> {
        match self {
            Python::Py313 => Some((3, 13)),
            Python::Py311 => Some((3, 11)),
            Python::Py36 => Some((3, 6)),
            Python::Py27 => Some((2, 7)),
            Python::Gdbm => None,
        }
    }

    /// Its name in messages: `CPython 3.13`, …, `Debian python3 (python3-gdbm)`.
    pub fn name(self) -> &'static str {
        match self {
            Python::Py313 => "CPython 3.13",
            Python::Py311 => "CPython 3.11",
            Python::Py36 => "CPython 3.6",
            Python::Py27 => "CPython 2.7",
            Python::Gdbm => "Debian python3 (python3-gdbm)",
        }
    }

    /// Candidate paths in lookup order when the variable is not set.
    fn candidates(self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some((major, minor)) = self.version() {
            let exe = format!("python{major}.{minor}");
            if let Some(path) = std::env::var_os("PATH") {
                out.extend(std::env::split_paths(&path).map(|d| d.join(&exe)));
            }
            let root = std::env::var_os("PYENV_ROOT")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
            if let Some(versions) = root.map(|r| r.join("versions")) {
                let prefix = format!("{major}.{minor}.");
                let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(&versions)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let patch = name.strip_prefix(&prefix)?.parse().ok()?;
                        Some((patch, e.path().join("bin").join(&exe)))
                    })
                    .collect();
                // Newest patch release first.
                found.sort_by_key(|f| std::cmp::Reverse(f.0));
                out.extend(found.into_iter().map(|(_, p)| p));
            }
            if self == Python::Py311 {
                out.push(PathBuf::from("/usr/bin/python3"));
            }
        } else {
            out.push(PathBuf::from("/usr/bin/python3"));
        }
        out
    }

    /// Whether `path` runs and reports this interpreter's version.
    fn accepts(self, path: &Path) -> bool {
        let Ok(out) = Command::new(path)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
        else {
            return false;
        };
        let reported = String::from_utf8_lossy(&out.stdout);
        out.status.success()
            && match self.version() {
                Some((major, minor)) => reported.trim() == format!("{major}.{minor}"),
                None => reported.starts_with("3."),
            }
    }

    fn locate(self) -> Option<PathBuf> {
        if let Some(set) = std::env::var_os(self.env_var()).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(set);
            return self.accepts(&path).then_some(path);
        }
        self.candidates()
            .into_iter()
            .find(|p| p.is_file() && self.accepts(p))
    }
}

impl std::fmt::Display for Python {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the interpreter `which` is, found once per process (module docs: the variable, then
/// PATH, then pyenv's versions directory), or `None` when it is not installed.
pub fn python(which: Python) -> Option<PathBuf> {
    static FOUND: OnceLock<Vec<Option<PathBuf>>> = OnceLock::new();
    let found = FOUND.get_or_init(|| Python::ALL.iter().map(|p| p.locate()).collect());
    let index = Python::ALL.iter().position(|p| *p == which)?;
    found.get(index).cloned().flatten()
}

/// The interpreter `which` when it is installed and `probe` (Python source, e.g. `import
/// dbm.gnu`) runs without error under it: records it as used by the calling test and
/// returns its path. Otherwise calls [`skip_or_fail`] naming the interpreter and the probe,
/// and returns `None` (the caller returns without testing).
///
/// # Panics
/// Under `CI=true` when the interpreter is missing or the probe fails.
pub fn python_or_skip(which: Python, probe: &str) -> Option<PathBuf> {
    let Some(path) = python(which) else {
        skip_or_fail(&format!(
            "{which} (set {} or install it; see pydbm_engine::live_reference)",
            which.env_var()
        ));
        return None;
    };
    let ok = Command::new(&path)
        .args(["-c", probe])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        skip_or_fail(&format!("{which} ({}) running `{probe}`", path.display()));
        return None;
    }
    record_used(&format!("{which} ({})", path.display()));
    Some(path)
}

/// The directory the records go to: `<target>/live-references`, where `<target>` is
/// `CARGO_TARGET_DIR` or the directory three levels above the running executable (cargo
/// puts tests in `<target>/<profile>/deps/` and examples in `<target>/<profile>/examples/`).
pub fn record_dir() -> Option<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::current_exe()
            .ok()?
            .parent()?
            .parent()?
            .parent()?
            .to_path_buf(),
    };
    Some(target.join("live-references"))
}

/// Appends `kind \t what \t test` to this process's record file. Best effort: a record that
/// cannot be written (read-only target) only loses a summary line, never a test.
fn record(kind: &str, what: &str) {
    let Some(dir) = record_dir() else {
        return;
    };
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_string());
    // cargo names test binaries `<target>-<16 hex digits>`: the target name is enough.
    let binary = match exe.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => exe.clone(),
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace(['\t', '\n'], " ");
    let line = format!(
        "{kind}\t{}\t{binary}::{test}\n",
        what.replace(['\t', '\n'], " ")
    );
    let run = match cargo_run() {
        Some(run) => format!("run-{run}-"),
        None => String::new(),
    };
    let _ = std::fs::create_dir_all(&dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{run}{exe}-{}.log", std::process::id())));
    if let Ok(mut file) = file {
        // One write per line: O_APPEND makes it atomic against the other threads.
        let _ = file.write_all(line.as_bytes());
    }
}

/// The pid and the start time (clock ticks since boot) of the process `pid`, and its
/// parent's pid and its command name, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(u64, u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split at the
    // last ')'. starttime is field 22, the 20th after comm.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    Some((start, ppid, comm))
}

/// The `cargo` process this test process runs under (the nearest ancestor whose command
/// name starts with `cargo`), as `<pid>.<start time>`: the same for every test binary one
/// `cargo test` starts (and their children), different for the next run even when the pid
/// is reused. Found once per process; `None` outside cargo or without `/proc`.
pub fn cargo_run() -> Option<String> {
    static RUN: OnceLock<Option<String>> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut pid = std::process::id();
        // A bounded walk: a cycle cannot occur in /proc, but a racing exit could confuse it.
        for _ in 0..32 {
            let (_, ppid, _) = proc_stat(pid)?;
            if ppid <= 1 {
                return None;
            }
            let (start, _, comm) = proc_stat(ppid)?;
            if comm.starts_with("cargo") {
                return Some(format!("{ppid}.{start}"));
            }
            pid = ppid;
        }
        None
    })
    .clone()
}

/// Whether the cargo run `run` (`<pid>.<start time>`, see [`cargo_run`]) is still going.
fn run_is_alive(run: &str) -> bool {
    let Some((pid, start)) = run.split_once('.') else {
        return false;
    };
    match (pid.parse::<u32>(), start.parse::<u64>()) {
        (Ok(pid), Ok(start)) => proc_stat(pid).is_some_and(|(s, _, _)| s == start),
        _ => false,
    }
}

/// Prints the summary of the records this cargo run left so far (see the module docs): the
/// body of every package's `tests/zz_live_references.rs`. Also deletes the record files of
/// cargo runs that have ended (their summary was printed, or never will be). Returns failure
/// when something skipped under `CI=true` (each skipping test has already failed there;
/// this makes the summary agree), or when the records cannot be read.
///
/// Arguments cargo passes through (`cargo test -- --ignored`, a filter) are ignored, except
/// `--list`, which prints nothing (a harness asking for the list of tests gets an empty one).
pub fn print_run_summary() -> std::process::ExitCode {
    if std::env::args().any(|a| a == "--list") {
        return std::process::ExitCode::SUCCESS;
    }
    let run = cargo_run();
    let scope = match &run {
        Some(run) => format!("this cargo run (cargo process {run}) so far"),
        None => "this test process (not run by cargo: nothing recorded to sum)".to_string(),
    };
    print_summary_of_run(run.as_deref(), &scope)
}

/// Prints the summary of the records the cargo run `run` left (`None`: no records, an empty
/// summary), headed `live references of {scope}`, and deletes the record files of cargo runs
/// that have ended, other than `run`. Returns failure when something skipped under `CI=true`,
/// or when the records cannot be read. The body of [`print_run_summary`], and what the
/// `live_references` example prints after a whole `cargo test` (`-- test ARGS`).
pub fn print_summary_of_run(run: Option<&str>, scope: &str) -> std::process::ExitCode {
    let Some(dir) = record_dir() else {
        eprintln!("live references: cannot locate the target directory; no summary");
        return std::process::ExitCode::FAILURE;
    };
    let mut mine = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            eprintln!("live references: cannot read {}: {e}", dir.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    for path in entries {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let Some(file_run) = name.strip_prefix("run-").and_then(|r| r.split('-').next()) else {
            continue;
        };
        if Some(file_run) == run {
            mine.push(path);
        } else if !run_is_alive(file_run) {
            // An ended run's records: best effort, a file that stays is only read again.
            let _ = std::fs::remove_file(&path);
        }
    }
    let text = match summary_of(mine, &dir) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("live references: cannot read {}: {e}", dir.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "\nlive references of {scope}; records in {}:",
        dir.display()
    );
    print!("{text}");
    if in_ci() && text.lines().any(|l| l.starts_with("SKIPPED ")) {
        eprintln!("live references: a reference was missing and CI=true");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

/// The run id ([`cargo_run`]'s `<pid>.<start time>`) that the test processes started by the
/// cargo process `pid` record under, while that process lives; `None` once it has ended or
/// without `/proc`.
pub fn run_of_cargo_process(pid: u32) -> Option<String> {
    let (start, _, _) = proc_stat(pid)?;
    Some(format!("{pid}.{start}"))
}

/// The summary of every record in `dir`: one line per reference used (with the number of
/// live tests that ran against it), one per missing reference (with the tests that skipped),
/// and a last line `live references: N live tests ran, M skipped`. Malformed lines are
/// counted and reported, not ignored.
pub fn summary(dir: &Path) -> std::io::Result<String> {
    let files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    summary_of(files, dir)
}

/// The summary of the `.log` files among `files` (others are skipped), which are in `dir`.
fn summary_of(mut files: Vec<PathBuf>, dir: &Path) -> std::io::Result<String> {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut malformed = 0usize;
    files.retain(|p| p.extension().is_some_and(|x| x == "log"));
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(&file)?.lines() {
            let mut fields = line.split('\t');
            match (fields.next(), fields.next(), fields.next()) {
                (Some("used"), Some(what), Some(_)) => {
                    *used.entry(what.to_string()).or_default() += 1
                }
                (Some("skipped"), Some(what), Some(test)) => skipped
                    .entry(what.to_string())
                    .or_default()
                    .push(test.to_string()),
                _ => malformed += 1,
            }
        }
    }
    let mut out = String::new();
    for (what, n) in &used {
        out.push_str(&format!("used     {what}: {n} live tests\n"));
    }
    for (what, tests) in &skipped {
        out.push_str(&format!(
            "SKIPPED  {what}: {} tests ({})\n",
            tests.len(),
            tests.join(", ")
        ));
    }
    if malformed > 0 {
        out.push_str(&format!(
            "{malformed} malformed record lines in {}\n",
            dir.display()
        ));
    }
    let ran: usize = used.values().sum();
    let missed: usize = skipped.values().map(Vec::len).sum();
    out.push_str(&format!(
        "live references: {ran} live tests ran, {missed} skipped ({} references used, {} missing)\n",
        used.len(),
        skipped.len()
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_reference_skips_or_fails_by_the_ci_variable() {
        // report_missing: skip_or_fail's behaviour without a record in the run's summary.
        match std::panic::catch_unwind(|| report_missing("a reference")) {
            Err(e) => {
                assert!(in_ci());
                let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                assert_eq!(msg, "a reference not available and CI=true");
            }
            Ok(()) => assert!(!in_ci()),
        }
    }

    #[test]
    fn the_summary_counts_uses_and_names_skips() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("a-1.log"),
            "used\tCPython 3.13 (/p)\tt::x\nused\tCPython 3.13 (/p)\tt::y\nskipped\tCPython 2.7\tt::z\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("b-2.log"), "used\tsqlite3\tu::w\nbroken\n").expect("write");
        std::fs::write(dir.path().join("ignored.txt"), "used\tx\ty\n").expect("write");
        let text = summary(dir.path()).expect("summary");
        assert_eq!(
            text,
            "used     CPython 3.13 (/p): 2 live tests\n\
             used     sqlite3: 1 live tests\n\
             SKIPPED  CPython 2.7: 1 tests (t::z)\n\
             1 malformed record lines in "
                .to_string()
                + &dir.path().display().to_string()
                + "\nlive references: 3 live tests ran, 1 skipped (2 references used, 1 missing)\n"
        );
    }

    #[test]
    fn a_run_is_alive_only_with_its_start_time() {
        let pid = std::process::id();
        let (start, ppid, comm) = proc_stat(pid).expect("/proc/self/stat parses");
        assert!(ppid > 0);
        assert!(!comm.is_empty());
        assert!(run_is_alive(&format!("{pid}.{start}")));
        // The same pid with another start time is a reused pid: a different run.
        assert!(!run_is_alive(&format!("{pid}.{}", start + 1)));
        assert!(!run_is_alive("not-a-run"));
        // Under cargo, the run is the cargo process, an ancestor that is alive.
        if let Some(run) = cargo_run() {
            assert!(run_is_alive(&run), "{run}");
        }
    }

    #[test]
    fn a_cargo_process_names_the_run_its_tests_record_under() {
        // What `cargo test-all` reads for its child: under cargo, the run of this test
        // process is exactly the id of the cargo process it names.
        if let Some(run) = cargo_run() {
            let (pid, _) = run.split_once('.').expect("<pid>.<start>");
            let pid: u32 = pid.parse().expect("a pid");
            assert_eq!(run_of_cargo_process(pid).as_deref(), Some(run.as_str()));
        }
        let me = std::process::id();
        let run = run_of_cargo_process(me).expect("this process has a /proc entry");
        assert!(
            run.starts_with(&format!("{me}.")) && run_is_alive(&run),
            "{run}"
        );
        // pid_max is at most 2^22 on Linux: no process has this pid.
        assert_eq!(run_of_cargo_process(u32::MAX), None);
    }

    #[test]
    fn an_interpreter_is_only_accepted_at_its_version() {
        // /bin/sh is no Python: it cannot report 3.13.
        assert!(!Python::Py313.accepts(Path::new("/bin/sh")));
        assert!(!Python::Gdbm.accepts(Path::new("/nonexistent/python3")));
        if let Some(p) = python(Python::Py313) {
            assert!(Python::Py313.accepts(&p));
            assert!(!Python::Py311.accepts(&p), "{} is not 3.11", p.display());
        }
    }
}
