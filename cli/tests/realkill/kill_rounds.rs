//! Kill rounds (docs/realkill.md): a `pydbm crashtest --ack-writer` process runs a seeded
//! script on an on-disk database while pydbm reader processes loop over it; it is SIGKILLed
//! after a seeded random delay (sometimes first SIGSTOPped so a reader can be watched
//! against a frozen writer); then
//! (a) pydbm's view must be the model after the acknowledged operations, or after one more
//!     (the one in flight), and every `get` the writer acknowledged must have read the model;
//! (b) the reference library, after that one pydbm open, must read exactly pydbm's view;
//! (c) the reference then writes (three new keys, an overwrite, a delete) and closes, and
//!     pydbm's next view must hold exactly what it wrote;
//! (d) no reader process may end other than cleanly or with a "locked" error — or, once the
//!     writer is dead, with the "hot journal" refusal (docs/recovery.md: readers never roll
//!     back; the next writable open does) — and no byte of the database's files may change
//!     while the writer is stopped (a reader beside a stopped, live writer must see "locked",
//!     never "hot journal").
//! pydbm's view after a kill is read after one writable open (`apply --flag w` of a `len`
//! line), the open that recovers a hot journal under the rules of docs/recovery.md.
//! Before pydbm's first open the reference also reads the killed file once, read-only: what
//! another library sees after a kill is measured (it is not a pydbm promise, issue 16 item
//! 4), not counted as a violation.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::process::{self, drain};
use super::reference::{self, python313, python_debian};
use super::workload::{self, unhex, Content, Mix, Rng, Step};
use super::{env_number, pydbm_binary, selected};

/// A format under test and the reference that judges it.
pub struct Target {
    /// The `--type` name.
    pub name: &'static str,
    /// The Python module of the reference.
    pub module: &'static str,
    /// Finds the reference interpreter.
    pub python: fn() -> Option<&'static Path>,
    /// What the interpreter is, for a skip message.
    pub python_name: &'static str,
    /// The workload mix.
    pub mix: Mix,
}

/// The four formats of the harness.
pub fn target(name: &str) -> Target {
    let (module, python, python_name, mix): (_, fn() -> Option<&'static Path>, _, _) = match name {
        "gnu" => (
            "dbm.gnu",
            python_debian as _,
            "python3 with dbm.gnu (PYDBM_PYTHON_GDBM, default /usr/bin/python3)",
            Mix {
                max_value: 5000,
                reorganize: true,
            },
        ),
        "ndbm" => (
            "dbm.ndbm",
            python_debian as _,
            "python3 with dbm.ndbm (PYDBM_PYTHON_GDBM, default /usr/bin/python3)",
            Mix {
                max_value: 5000,
                reorganize: false,
            },
        ),
        "dumb" => (
            "dbm.dumb",
            python313 as _,
            "CPython 3.13 (PYDBM_PYTHON313 or python3.13 on PATH)",
            Mix {
                max_value: 3000,
                reorganize: true,
            },
        ),
        "sqlite3" => (
            "dbm.sqlite3",
            python313 as _,
            "CPython 3.13 (PYDBM_PYTHON313 or python3.13 on PATH)",
            Mix {
                max_value: 3000,
                reorganize: false,
            },
        ),
        other => panic!("no kill target named {other}"),
    };
    Target {
        name: match name {
            "gnu" => "gnu",
            "ndbm" => "ndbm",
            "dumb" => "dumb",
            _ => "sqlite3",
        },
        module,
        python,
        python_name,
        mix,
    }
}

/// What a run of kill rounds observed.
#[derive(Debug, Default)]
pub struct Tally {
    /// Rounds run.
    pub rounds: u64,
    /// Writers SIGKILLed after acknowledging their open (the kills that count).
    pub kills: u64,
    /// Writers SIGKILLed before acknowledging their open.
    pub kills_before_open: u64,
    /// Writers that finished their script before the kill.
    pub completed: u64,
    /// Writers that could not open because readers held the lock (exit 1, "locked").
    pub writer_locked_out: u64,
    /// Operations acknowledged in all rounds.
    pub acknowledged: u64,
    /// Rounds with a SIGSTOP probe (a reader run against a frozen writer).
    pub probes: u64,
    /// Reader processes run, and how they ended.
    pub reader_runs: u64,
    /// Readers that read cleanly.
    pub reader_clean: u64,
    /// Readers refused with a "locked" error.
    pub reader_locked: u64,
    /// Readers refused with the "hot journal" error after the writer died.
    pub reader_hot: u64,
    /// The reference's read-only view of the killed file before any pydbm open: a committed
    /// state (the acknowledged prefix, or it plus the in-flight operation).
    pub raw_consistent: u64,
    /// ... a state that is neither.
    pub raw_torn: u64,
    /// ... an error.
    pub raw_error: u64,
    /// The first few raw-read symptoms, for docs/realkill.md.
    pub raw_examples: Vec<String>,
    /// Every violation of (a)–(d), one line each.
    pub violations: Vec<String>,
}

impl Tally {
    /// One summary line.
    pub fn summary(&self, name: &str) -> String {
        format!(
            "{name}: rounds {}, kills {} (+{} before open, {} writers finished first, {} locked out by readers), acknowledged ops {}, \
             stop probes {}, readers {} ({} clean, {} locked, {} refused a dead writer's hot journal), \
             reference before pydbm opens: {} consistent, \
             {} torn, {} errors; violations {}",
            self.rounds,
            self.kills,
            self.kills_before_open,
            self.completed,
            self.writer_locked_out,
            self.acknowledged,
            self.probes,
            self.reader_runs,
            self.reader_clean,
            self.reader_locked,
            self.reader_hot,
            self.raw_consistent,
            self.raw_torn,
            self.raw_error,
            self.violations.len()
        )
    }
}

/// What one reader process loop saw.
#[derive(Debug, Default)]
struct ReaderLog {
    runs: u64,
    clean: u64,
    locked: u64,
    hot: u64,
    bad: Vec<String>,
}

/// How long any pydbm command may take before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Whether a reader may be refused with the "hot journal" error: only when the journal's
/// writer may be dead (the loop readers run on after the kill), never beside a live writer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriterState {
    /// The writer is alive (stopped): its journal is locked, readers must see "locked".
    Alive,
    /// The writer may have been killed: its journal may be hot.
    MaybeDead,
}

/// Runs one pydbm reader command and classifies its end: clean, locked, refused a hot
/// journal (allowed only under [`WriterState::MaybeDead`]), or a violation.
fn read_once(format: &str, path: &Path, kind: u64, writer: WriterState, log: &mut ReaderLog) {
    let mut cmd = Command::new(pydbm_binary());
    let what = match kind % 3 {
        0 => {
            cmd.args(["dump", "--type", format, "--format", "hex"]);
            "dump"
        }
        1 => {
            cmd.args(["get", "--hex", "--type", format]);
            "get"
        }
        _ => {
            cmd.args(["keys", "--hex", "--type", format]);
            "keys"
        }
    };
    cmd.arg(path);
    if what == "get" {
        cmd.arg(workload::hex(format!("k{:03}", kind % 96).as_bytes()));
    }
    let f = process::run(&mut cmd, DEADLINE);
    log.runs += 1;
    let stderr = f.stderr.trim();
    match f.code() {
        Some(0) => log.clean += 1,
        Some(1) if stderr.contains("locked") => log.locked += 1,
        Some(1) if writer == WriterState::MaybeDead && stderr.contains("hot journal") => {
            log.hot += 1
        }
        Some(1) if what == "get" && stderr.contains("key not found") => log.clean += 1,
        _ => log.bad.push(format!(
            "(d) reader `pydbm {what}`: {}: {}",
            f.describe(),
            first_chars(stderr, 300)
        )),
    }
}

/// The first `n` characters of `text` (messages quote at most that much of an error).
pub fn first_chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Reader processes looping over the database until stopped.
struct Readers {
    stop: Arc<AtomicBool>,
    handles: Vec<thread::JoinHandle<ReaderLog>>,
}

impl Readers {
    fn start(format: &'static str, path: &Path, count: u64, seed: u64) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..count)
            .map(|i| {
                let stop = Arc::clone(&stop);
                let path = path.to_path_buf();
                thread::spawn(move || {
                    let mut log = ReaderLog::default();
                    let mut kind = seed.wrapping_add(i);
                    while !stop.load(Ordering::Relaxed) {
                        read_once(format, &path, kind, WriterState::MaybeDead, &mut log);
                        kind = kind.wrapping_add(1 + i);
                        thread::sleep(Duration::from_millis(2));
                    }
                    log
                })
            })
            .collect();
        Readers { stop, handles }
    }

    fn finish(self, tally: &mut Tally) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            let log = h.join().expect("a reader loop thread does not panic");
            tally.reader_runs += log.runs;
            tally.reader_clean += log.clean;
            tally.reader_locked += log.locked;
            tally.reader_hot += log.hot;
            tally.violations.extend(log.bad);
        }
    }
}

/// The bytes of every file of the database directory, for "did a reader change anything":
/// SQLite's `-shm` (the WAL index every SQLite reader writes by design) is left out, and an
/// empty `-wal` counts as no `-wal`.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("the test's own temp dir is readable") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("-shm") {
            continue;
        }
        // A file unlinked between listing and reading is recorded as absent.
        if let Ok(bytes) = std::fs::read(entry.path()) {
            if !(bytes.is_empty() && name.ends_with("-wal")) {
                files.insert(name, bytes);
            }
        }
    }
    files
}

fn describe_snapshot_change(
    a: &BTreeMap<String, Vec<u8>>,
    b: &BTreeMap<String, Vec<u8>>,
) -> String {
    let mut parts = Vec::new();
    for (name, bytes) in a {
        match b.get(name) {
            None => parts.push(format!("{name} removed")),
            Some(other) if other.len() != bytes.len() => {
                parts.push(format!("{name} {} -> {} bytes", bytes.len(), other.len()))
            }
            Some(other) if other != bytes => {
                let at = bytes
                    .iter()
                    .zip(other)
                    .position(|(x, y)| x != y)
                    .unwrap_or(0);
                parts.push(format!("{name} changed at offset {at}"))
            }
            _ => {}
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        parts.push(format!("{name} created"));
    }
    parts.join(", ")
}

/// Whether process `pid` is stopped (`T` in /proc/PID/stat) or gone.
fn stopped_or_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| {
            matches!(
                rest.trim_start().chars().next(),
                Some('T' | 't' | 'Z' | 'X')
            )
        }),
        Err(_) => true,
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    // SAFETY: kill(2) on our own unreaped child's pid (it cannot have been reused).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// SIGSTOPs the writer, runs one reader against the frozen files, checks that nothing
/// changed and that the reader ended cleanly or "locked", then SIGCONTs it.
fn stop_probe(t: &Target, dir: &Path, path: &Path, writer: &Child, kind: u64, tally: &mut Tally) {
    signal(writer, libc::SIGSTOP);
    let start = Instant::now();
    while !stopped_or_gone(writer.id()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "SIGSTOP took effect"
        );
        thread::sleep(Duration::from_micros(200));
    }
    tally.probes += 1;
    let before = snapshot(dir);
    let mut log = ReaderLog::default();
    read_once(t.name, path, kind, WriterState::Alive, &mut log);
    let after = snapshot(dir);
    if before != after {
        tally.violations.push(format!(
            "(d) files changed while the writer was stopped and only readers ran: {}",
            describe_snapshot_change(&before, &after)
        ));
    }
    tally.reader_runs += log.runs;
    tally.reader_clean += log.clean;
    tally.reader_locked += log.locked;
    tally.violations.extend(log.bad);
    signal(writer, libc::SIGCONT);
}

/// The writer's acknowledgement lines as they arrive. Only whole lines count: a kill can
/// cut the last one, and a cut acknowledgement promises nothing.
pub fn ack_lines(stdout: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = Vec::new();
        // EOF (the writer died or finished) or a read error ends the stream.
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            if line.last() != Some(&b'\n') {
                break;
            }
            line.pop();
            if send
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
            line.clear();
        }
    });
    receive
}

/// `pydbm dump --format hex` parsed, or the command's failure. A dump refused because of a
/// dead writer's hot journal (readers never roll back: docs/recovery.md) is retried once
/// after one writable open, the open that recovers the journal.
pub fn pydbm_view(t: &Target, path: &Path) -> Result<Content, String> {
    let dump = || {
        process::run(
            Command::new(pydbm_binary())
                .args(["dump", "--type", t.name, "--format", "hex"])
                .arg(path),
            DEADLINE,
        )
    };
    let mut f = dump();
    if f.code() == Some(1) && f.stderr.contains("hot journal") {
        let mut open = Command::new(pydbm_binary());
        open.args(["apply", "--type", t.name, "--flag", "w"])
            .arg(path);
        let w = process::run_with_stdin(&mut open, b"len\n", DEADLINE);
        if w.code() != Some(0) {
            return Err(format!(
                "the writable open that recovers a hot journal (`pydbm apply --flag w`): {}: {}",
                w.describe(),
                first_chars(w.stderr.trim(), 300)
            ));
        }
        f = dump();
    }
    if f.code() != Some(0) {
        return Err(format!(
            "`pydbm dump`: {}: {}",
            f.describe(),
            first_chars(f.stderr.trim(), 300)
        ));
    }
    let mut content = Content::new();
    for line in String::from_utf8_lossy(&f.stdout).lines() {
        let parsed = line
            .split_once(' ')
            .and_then(|(k, v)| Some((unhex(k)?, unhex(v)?)));
        match parsed {
            Some((k, v)) => {
                content.insert(k, v);
            }
            None => return Err(format!("`pydbm dump` printed a malformed line {line:?}")),
        }
    }
    Ok(content)
}

/// A short description of how `got` differs from `want`.
pub fn diff(got: &Content, want: &Content) -> String {
    let show = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
    let missing: Vec<String> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .map(|k| show(k))
        .collect();
    let extra: Vec<String> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(|k| show(k))
        .collect();
    let changed: Vec<String> = want
        .iter()
        .filter_map(|(k, v)| {
            let g = got.get(k)?;
            (g != v).then(|| format!("{} ({} bytes, want {})", show(k), g.len(), v.len()))
        })
        .collect();
    let list = |v: &[String]| v.iter().take(4).cloned().collect::<Vec<_>>().join(" ");
    format!(
        "{} records, want {}; missing {} [{}], extra {} [{}], changed {} [{}]",
        got.len(),
        want.len(),
        missing.len(),
        list(&missing),
        extra.len(),
        list(&extra),
        changed.len(),
        list(&changed)
    )
}

/// What `pydbm check` and the format's own verifier (ndbm: `db5.3_verify`; gnu: `gdbmtool
/// count`) say about the file, for a violation's message.
pub fn verdicts(t: &Target, path: &Path) -> String {
    let mut said = Vec::new();
    let check = process::run(
        Command::new(pydbm_binary())
            .args(["check", "--type", t.name])
            .arg(path),
        DEADLINE,
    );
    said.push(format!(
        "pydbm check: {}: {}",
        check.describe(),
        first_chars(
            format!(
                "{} {}",
                String::from_utf8_lossy(&check.stdout),
                check.stderr
            )
            .trim(),
            300
        )
    ));
    let tool = match t.name {
        "ndbm" => Some(
            Command::new("db5.3_verify")
                .arg(path.with_extension("db"))
                .output(),
        ),
        "gnu" => Some(
            Command::new("gdbmtool")
                .args(["-r", "-N", "-q"])
                .arg(path)
                .arg("count")
                .output(),
        ),
        _ => None,
    };
    if let Some(Ok(out)) = tool {
        said.push(format!(
            "{}: {}: {}",
            if t.name == "ndbm" {
                "db5.3_verify"
            } else {
                "gdbmtool count"
            },
            out.status,
            first_chars(
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
                .trim(),
                300
            )
        ));
    }
    said.join("; ")
}

/// Copies the database directory to `target/tmp/realkill-evidence/LABEL-PID` for whoever
/// fixes the finding; returns where.
pub fn keep_evidence(dir: &Path, label: &str) -> PathBuf {
    let to = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("realkill-evidence")
        .join(format!("{label}-{}", std::process::id()));
    // Evidence is best effort: a failed copy must not hide the violation being reported.
    let _ = std::fs::create_dir_all(&to);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::copy(entry.path(), to.join(entry.file_name()));
        }
    }
    to
}

/// Removes every file of the database directory (a new database after a finding that left
/// the file unusable, so later rounds still test something).
pub fn reset(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("the test's own temp dir is readable") {
        let path = entry.expect("a directory entry").path();
        std::fs::remove_file(&path).expect("remove a file of the test's own database");
    }
}

/// Runs `text` through an ack writer to completion (set-up, not under test).
fn write_fully(t: &Target, path: &Path, text: &str) -> Result<(), String> {
    let mut child = Command::new(pydbm_binary())
        .args(["crashtest", "--type", t.name, "--ack-writer"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pydbm");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("feed the set-up script");
    let out = child.wait_with_output().expect("pydbm ran");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Creates the database with a seeded start content; returns it.
pub fn initialise(t: &Target, path: &Path, rng: &mut Rng) -> Content {
    let (steps, text) = workload::script(rng, &Content::new(), 40, t.mix);
    write_fully(t, path, &text).unwrap_or_else(|e| panic!("{}: set-up writer failed: {e}", t.name));
    let mut content = Content::new();
    for s in &steps {
        s.apply(&mut content);
    }
    content
}

/// Runs kill rounds of format `t` with reference `python`, from `seed`, until `kills` writers
/// were killed after their open (or three times that many rounds ran).
pub fn run_rounds(t: &Target, python: &Path, kills: u64, seed: u64, readers: u64) -> Tally {
    let max_delay_us = env_number("REALKILL_MAX_DELAY_MS", 40) * 1000;
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("db");
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut model = initialise(t, &path, &mut rng);
    for r in 0..kills * 3 {
        if tally.kills >= kills {
            break;
        }
        tally.rounds += 1;
        let before = tally.violations.len();
        let fresh = one_round(
            t,
            python,
            (dir.path(), &path),
            r as usize,
            &mut rng,
            &mut model,
            &mut tally,
            (max_delay_us, readers),
        );
        for v in &mut tally.violations[before..] {
            *v = format!("{} round {r} (seed {seed}): {v}", t.name);
        }
        if (r + 1) % 250 == 0 {
            eprintln!("progress: {}", tally.summary(t.name));
        }
        if !fresh {
            reset(dir.path());
            model = initialise(t, &path, &mut rng);
        }
    }
    tally
}

/// One kill round; returns false when the database must be recreated.
#[allow(clippy::too_many_arguments)]
fn one_round(
    t: &Target,
    python: &Path,
    (dir, path): (&Path, &Path),
    round: usize,
    rng: &mut Rng,
    model: &mut Content,
    tally: &mut Tally,
    (max_delay_us, reader_count): (u64, u64),
) -> bool {
    let (steps, text) = workload::script(rng, model, 400, t.mix);
    let delay = Duration::from_micros(rng.below(max_delay_us + 1));
    // One round in ten counts its delay from the spawn (a kill that may land in the open,
    // e.g. in a recovery); the others from the writer's `open` acknowledgement.
    let from_spawn = rng.below(10) == 0;
    let probe = reader_count > 0 && rng.below(4) == 0;
    let readers = Readers::start(t.name, path, reader_count, rng.next_u64());
    let mut writer = Command::new(pydbm_binary())
        .args(["crashtest", "--type", t.name, "--ack-writer"])
        .arg(path)
        .args(["--flag", "w"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the pydbm writer");
    let mut stdin = writer.stdin.take().expect("stdin is piped");
    // A writer killed before reading its script makes this write fail: that is the point.
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let acks = ack_lines(writer.stdout.take().expect("stdout is piped"));
    let err = drain(writer.stderr.take().expect("stderr is piped"));
    let mut lines: Vec<String> = Vec::new();
    if !from_spawn {
        // The open acknowledgement, or whatever ended the writer first.
        if let Ok(line) = acks.recv_timeout(DEADLINE) {
            lines.push(line);
        }
    }
    if probe {
        thread::sleep(delay / 2);
        stop_probe(t, dir, path, &writer, rng.next_u64(), tally);
        thread::sleep(delay / 2);
    } else {
        thread::sleep(delay);
    }
    let finished_first = writer.try_wait().expect("waitpid on our own child");
    if finished_first.is_none() {
        writer.kill().expect("SIGKILL our own child");
    }
    let status = writer.wait().expect("reap the writer");
    feeder.join().expect("the feeder thread does not panic");
    readers.finish(tally);
    lines.extend(acks.iter());
    let err = String::from_utf8_lossy(&err.join().expect("drain thread")).into_owned();
    let opened = lines.first().is_some_and(|l| l == "open");
    if finished_first.is_some() && !status.success() {
        if !opened && status.code() == Some(1) && err.contains("locked") {
            // Readers held the lock: refusing to open is the documented behaviour.
            tally.writer_locked_out += 1;
        } else {
            tally.violations.push(format!(
                "(a) the writer failed by itself ({status}): {}",
                first_chars(err.trim(), 300)
            ));
        }
    }

    let mut acked = 0usize;
    let mut closed = false;
    let mut state = model.clone();
    for line in &lines {
        let line = line.as_str();
        if line == "closed" {
            closed = true;
        } else if let Some(rest) = line.strip_prefix("ack ") {
            let mut words = rest.split(' ');
            let n: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            if n != acked + 1 || acked >= steps.len() {
                tally.violations.push(format!(
                    "(a) acknowledgement out of order: {line:?} after {acked}"
                ));
                return false;
            }
            if let Step::Get(k) = &steps[acked] {
                let want = state
                    .get(k)
                    .map(|v| workload::hex(v))
                    .unwrap_or("None".into());
                let got = words.next().unwrap_or("");
                if got != want {
                    tally.violations.push(format!(
                        "(a) the writer's get on line {n} read {} chars, the model holds {} chars",
                        got.len(),
                        want.len()
                    ));
                }
            }
            steps[acked].apply(&mut state);
            acked += 1;
        }
    }
    tally.acknowledged += acked as u64;
    if finished_first.is_some() {
        tally.completed += u64::from(opened);
    } else if opened {
        tally.kills += 1;
    } else {
        tally.kills_before_open += 1;
    }
    let mut allowed = vec![state.clone()];
    if opened && !closed && acked < steps.len() {
        let mut next = state.clone();
        steps[acked].apply(&mut next);
        allowed.push(next);
    }

    // What another library sees before pydbm opens the file again (measured, every other
    // round: a Python start is the slowest step of a round).
    if round.is_multiple_of(2) {
        let raw = reference::round(python, t.module, path, "r", "");
        match &raw.read {
            Some(c) if allowed.contains(c) => tally.raw_consistent += 1,
            Some(c) => {
                tally.raw_torn += 1;
                if tally.raw_examples.len() < 3 {
                    tally.raw_examples.push(format!(
                        "round {round}: torn view: {}",
                        diff(c, &allowed[0])
                    ));
                }
            }
            None => {
                tally.raw_error += 1;
                if tally.raw_examples.len() < 3 {
                    let last = raw.stderr.trim().lines().last().unwrap_or("").to_string();
                    tally
                        .raw_examples
                        .push(format!("round {round}: error: {}", first_chars(&last, 200)));
                }
            }
        }
    }

    // (a) pydbm's view is a committed prefix.
    let view = match pydbm_view(t, path) {
        Ok(v) => v,
        Err(e) => {
            tally.violations.push(format!("(a) after the kill: {e}"));
            return false;
        }
    };
    if !allowed.contains(&view) {
        tally.violations.push(format!(
            "(a) pydbm's view after the kill ({acked} ops acknowledged, {}) is no committed prefix: {}; {}; files kept in {}",
            if allowed.len() > 1 { "one in flight" } else { "none in flight" },
            diff(&view, &allowed[0]),
            verdicts(t, path),
            keep_evidence(dir, &format!("{}-round{round}-a", t.name)).display()
        ));
    }

    // (b) the reference reads pydbm's view; (c) its writes survive pydbm's next open.
    let (writes, expected) = reference::writes_for_round(round, &view);
    let res = reference::round(python, t.module, path, "w", &writes);
    match &res.read {
        Some(c) if *c == view => {}
        Some(c) => tally.violations.push(format!(
            "(b) the reference's view after one pydbm open differs from pydbm's: {}",
            diff(c, &view)
        )),
        None => tally.violations.push(format!(
            "(b) the reference cannot read the file after one pydbm open: {}; {}; files kept in {}",
            first_chars(res.error_line(), 300),
            verdicts(t, path),
            keep_evidence(dir, &format!("{}-round{round}-b", t.name)).display()
        )),
    }
    if !res.closed {
        if res.read.is_some() {
            tally.violations.push(format!(
                "(c) the reference's writes failed: {}",
                first_chars(res.error_line(), 300)
            ));
        }
        return false;
    }
    match pydbm_view(t, path) {
        Ok(after) if after == expected => *model = after,
        Ok(after) => {
            tally.violations.push(format!(
                "(c) pydbm's view after the reference wrote: {}",
                diff(&after, &expected)
            ));
            *model = after;
        }
        Err(e) => {
            tally
                .violations
                .push(format!("(c) after the reference wrote: {e}"));
            return false;
        }
    }
    if round % 25 == 24 {
        let f = process::run(
            Command::new(pydbm_binary())
                .args(["check", "--type", t.name])
                .arg(path),
            DEADLINE,
        );
        if f.code() != Some(0) {
            tally.violations.push(format!(
                "`pydbm check`: {}: {}",
                f.describe(),
                first_chars(
                    format!("{} {}", String::from_utf8_lossy(&f.stdout), f.stderr).trim(),
                    300
                )
            ));
        }
    }
    true
}

/// Runs kill rounds of `name` until `default_kills` writers were killed mid-script (with
/// `readers` reader process loops and, when there are any, SIGSTOP probes; with none, the
/// writer is alone and only (a)–(c) are checked) and fails on any violation, or when three
/// times as many rounds did not reach that many kills (a harness whose kills land before the
/// open or after the end tests nothing).
pub fn kill_test(name: &str, default_kills: u64, readers: u64) {
    if !selected(name) {
        eprintln!("SKIPPED: {name} not in REALKILL_FORMATS");
        return;
    }
    let t = target(name);
    let Some(python) = super::reference::reference_or_skip(t.python, t.python_name) else {
        return;
    };
    let kills = env_number("REALKILL_KILLS", default_kills);
    let seed = env_number("REALKILL_SEED", 16);
    let start = Instant::now();
    let tally = run_rounds(&t, python, kills, seed, readers);
    eprintln!(
        "{} in {:.1} s",
        tally.summary(name),
        start.elapsed().as_secs_f64()
    );
    for e in &tally.raw_examples {
        eprintln!("  {name} reference before pydbm opens, {e}");
    }
    assert!(
        tally.violations.is_empty(),
        "{} violation(s):\n{}",
        tally.violations.len(),
        tally
            .violations
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        tally.kills >= kills,
        "only {} of {} rounds killed a writer mid-script: {}",
        tally.kills,
        tally.rounds,
        tally.summary(name)
    );
}

#[test]
fn gnu_kill_rounds() {
    kill_test("gnu", 200, 2);
}

#[test]
fn gnu_kill_rounds_writer_alone() {
    kill_test("gnu", 100, 0);
}

#[test]
#[ignore = "5,000 kills: about an hour per format in a debug build (docs/realkill.md)"]
fn gnu_kill_rounds_5000() {
    kill_test("gnu", 5000, 2);
}

#[test]
fn ndbm_kill_rounds() {
    kill_test("ndbm", 200, 2);
}

#[test]
fn ndbm_kill_rounds_writer_alone() {
    // 200 while ndbm_kill_rounds is ignored, so plain `cargo test` still kills 200 writers.
    kill_test("ndbm", 200, 0);
}

#[test]
#[ignore = "5,000 kills: about an hour per format in a debug build (docs/realkill.md)"]
fn ndbm_kill_rounds_5000() {
    kill_test("ndbm", 5000, 2);
}

#[test]
fn dumb_kill_rounds() {
    kill_test("dumb", 200, 2);
}

#[test]
fn dumb_kill_rounds_writer_alone() {
    // 200 while dumb_kill_rounds is ignored, so plain `cargo test` still kills 200 writers.
    kill_test("dumb", 200, 0);
}

#[test]
#[ignore = "5,000 kills: about an hour per format in a debug build (docs/realkill.md)"]
fn dumb_kill_rounds_5000() {
    kill_test("dumb", 5000, 2);
}

#[test]
fn sqlite3_kill_rounds() {
    kill_test("sqlite3", 200, 2);
}

#[test]
fn sqlite3_kill_rounds_writer_alone() {
    // 200 while sqlite3_kill_rounds is ignored, so plain `cargo test` still kills 200 writers.
    kill_test("sqlite3", 200, 0);
}

#[test]
#[ignore = "5,000 kills: about an hour per format in a debug build (docs/realkill.md)"]
fn sqlite3_kill_rounds_5000() {
    kill_test("sqlite3", 5000, 2);
}
