//! A transaction killed mid-commit (issue 18; docs/realkill.md): `pydbm crashtest
//! --ack-writer --transaction` runs 1,000 inserts (20 of them overwrite records already in
//! the database) and 10 deletes in one transaction on an existing database and is SIGKILLed
//! at a seeded moment — in two rounds of three between its `committing` and `committed`
//! lines, that is inside the commit, otherwise anywhere after its open. The database must
//! then hold the records before the transaction or all of them after it, never a mix:
//! before if the kill came before `committing`, after if `committed` was printed. The
//! reference library must read the same records.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::kill_rounds::{ack_lines, diff, pydbm_view, target, DEADLINE};
use super::process;
use super::reference;
use super::workload::{hex, Content, Rng};
use super::{env_number, pydbm_binary, selected};

const INSERTS: usize = 1000;
const BASE: usize = 40;
const OVERWRITES: usize = 20;
const DELETES: usize = 10;

fn value(i: usize, round: usize) -> Vec<u8> {
    (0..(i * 37) % 900).map(|j| (i + j + round) as u8).collect()
}

/// The database before the transaction, and the script that creates it.
fn base() -> (Content, String) {
    let mut content = Content::new();
    let mut script = String::new();
    for i in 0..BASE {
        let (k, v) = (format!("base{i:03}").into_bytes(), value(i, 7));
        script.push_str(&format!("set {} {}\n", hex(&k), hex(&v)));
        content.insert(k, v);
    }
    (content, script)
}

/// The transaction's script and the database after it.
fn transaction(before: &Content) -> (Content, String) {
    let mut after = before.clone();
    let mut script = String::new();
    for i in 0..INSERTS {
        let k = if i < OVERWRITES {
            format!("base{i:03}").into_bytes()
        } else {
            format!("txn{i:04}").into_bytes()
        };
        let v = value(i, 1);
        script.push_str(&format!("set {} {}\n", hex(&k), hex(&v)));
        after.insert(k, v);
    }
    for i in BASE - DELETES..BASE {
        let k = format!("base{i:03}").into_bytes();
        script.push_str(&format!("del {}\n", hex(&k)));
        after.remove(&k);
    }
    (after, script)
}

/// What the harness saw of one writer.
struct Seen {
    committing: Option<Instant>,
    committed: Option<Instant>,
}

/// Spawns the transaction writer on `path`; `kill_at(open, committing)` says when to kill
/// it (`None`: let it finish). Returns what its stdout said.
fn run_writer(
    format: &str,
    path: &Path,
    script: &str,
    kill_at: &mut dyn FnMut(Instant, Option<Instant>) -> Option<Instant>,
) -> Seen {
    let mut child = Command::new(pydbm_binary())
        .args(["crashtest", "--type", format, "--ack-writer"])
        .arg(path)
        .args(["--flag", "w", "--transaction"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the transaction writer");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(script.as_bytes()).expect("feed the script");
    drop(stdin);
    let lines = ack_lines(child.stdout.take().expect("stdout is piped"));
    let mut seen = Seen {
        committing: None,
        committed: None,
    };
    let mut open = None;
    let started = Instant::now();
    loop {
        if let Some(o) = open {
            if let Some(at) = kill_at(o, seen.committing) {
                if Instant::now() >= at {
                    let _ = child.kill();
                    break;
                }
            }
        }
        match lines.recv_timeout(Duration::from_micros(50)) {
            Ok(line) => {
                let now = Instant::now();
                match line.as_str() {
                    "open" => open = Some(now),
                    "committing" => seen.committing = Some(now),
                    "committed" => seen.committed = Some(now),
                    _ => {}
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        assert!(started.elapsed() < DEADLINE, "{format}: the writer hangs");
    }
    child.wait().expect("reap the writer");
    // Lines read before the pipe closed still count.
    while let Ok(line) = lines.try_recv() {
        match line.as_str() {
            "committing" => seen.committing = seen.committing.or(Some(Instant::now())),
            "committed" => seen.committed = seen.committed.or(Some(Instant::now())),
            _ => {}
        }
    }
    seen
}

fn transaction_test(name: &str) {
    if !selected(name) {
        eprintln!("SKIPPED: {name} not in REALKILL_FORMATS");
        return;
    }
    let t = target(name);
    let Some(python) = (t.python)() else {
        pydbm_engine::live_reference::skip_or_fail(t.python_name);
        return;
    };
    let rounds = env_number("REALKILL_TXN_ROUNDS", 15);
    let mut rng = Rng::new(env_number("REALKILL_SEED", 16) ^ 0x7a);
    let (before, base_script) = base();
    let (after, txn_script) = transaction(&before);
    let make_base = |path: &Path| {
        let mut apply = Command::new(pydbm_binary());
        apply
            .args(["apply", "--type", t.name, "--flag", "n"])
            .arg(path);
        let f = process::run_with_stdin(&mut apply, base_script.as_bytes(), DEADLINE);
        assert_eq!(f.code(), Some(0), "{name}: base: {}", f.stderr);
    };
    // Calibration: one full run gives the length of the transaction and of its commit.
    let calibration = tempfile::tempdir().expect("temp dir");
    let cpath = calibration.path().join("db");
    make_base(&cpath);
    let mut opened = None;
    let full = run_writer(t.name, &cpath, &txn_script, &mut |open, _| {
        opened = Some(open);
        None
    });
    let (Some(committing), Some(committed), Some(opened)) =
        (full.committing, full.committed, opened)
    else {
        panic!("{name}: the calibration run did not commit");
    };
    assert_eq!(
        pydbm_view(&t, &cpath),
        Ok(after.clone()),
        "{name}: calibration"
    );
    let work = committing.duration_since(opened).as_micros() as u64;
    let commit = committed.duration_since(committing).as_micros() as u64;
    let mut problems = Vec::new();
    let (mut none, mut all, mut in_commit) = (0, 0, 0);
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db");
        make_base(&path);
        let inside_commit = round % 3 != 2;
        let delay = Duration::from_micros(if inside_commit {
            rng.below(commit + 1)
        } else {
            rng.below(work + commit + 1)
        });
        let seen = run_writer(t.name, &path, &txn_script, &mut |open, committing| {
            if inside_commit {
                committing.map(|c| c + delay)
            } else {
                Some(open + delay)
            }
        });
        if seen.committing.is_some() && seen.committed.is_none() {
            in_commit += 1;
        }
        let view = match pydbm_view(&t, &path) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("round {round}: {e}"));
                continue;
            }
        };
        if view == before {
            none += 1;
            if seen.committed.is_some() {
                problems.push(format!(
                    "round {round}: `committed` was printed but the transaction is gone"
                ));
            }
        } else if view == after {
            all += 1;
            if seen.committing.is_none() {
                problems.push(format!(
                    "round {round}: killed before `committing`, yet the transaction is there"
                ));
            }
        } else {
            problems.push(format!(
                "round {round}: neither before nor after the transaction: vs before: {}; vs \
                 after: {}",
                diff(&view, &before),
                diff(&view, &after)
            ));
            continue;
        }
        let res = reference::round(python, t.module, &path, "r", "");
        if let Some(m) = res.read_mismatch(&view) {
            problems.push(format!(
                "round {round}: the reference after one pydbm open: {m}"
            ));
        }
    }
    eprintln!(
        "{name} transaction of {INSERTS} inserts + {DELETES} deletes, {rounds} kills: none {none}, \
         all {all}, killed between `committing` and `committed` {in_commit} (full run: \
         {work} µs of operations, {commit} µs of commit)"
    );
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    assert!(
        none > 0,
        "{name}: no kill landed before the commit finished"
    );
}

#[test]
fn gnu_transaction_killed_mid_commit_is_all_or_nothing() {
    transaction_test("gnu");
}

#[test]
fn ndbm_transaction_killed_mid_commit_is_all_or_nothing() {
    transaction_test("ndbm");
}

#[test]
fn dumb_transaction_killed_mid_commit_is_all_or_nothing() {
    transaction_test("dumb");
}

#[test]
fn sqlite3_transaction_killed_mid_commit_is_all_or_nothing() {
    transaction_test("sqlite3");
}

/// Kept small so the protocol test stays fast: `--transaction` prints `committing` and
/// `committed`, and a script line a transaction cannot run is a usage error.
#[test]
fn transaction_writer_protocol() {
    let dir = tempfile::tempdir().expect("temp dir");
    for format in ["gnu", "ndbm", "dumb", "sqlite3"] {
        let path = dir.path().join(format);
        let run = |script: &str, flag: &str| {
            let mut cmd = Command::new(pydbm_binary());
            cmd.args(["crashtest", "--type", format, "--ack-writer"])
                .arg(&path)
                .args(["--flag", flag, "--transaction"]);
            process::run_with_stdin(&mut cmd, script.as_bytes(), DEADLINE)
        };
        let out = run("set 61 6263\nget 61\ndel 61\nget 61\n", "n");
        assert_eq!(out.code(), Some(0), "{format}: {}", out.stderr);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "open\nack 1\nack 2 6263\nack 3\nack 4 None\ncommitting\ncommitted\nclosed\n",
            "{format}"
        );
        let out = run("set 62 63\nsync\n", "w");
        assert_eq!(out.code(), Some(2), "{format}: {}", out.stderr);
        assert!(
            out.stderr.contains("cannot run inside --transaction"),
            "{format}"
        );
        // The refused script's set was rolled back with it.
        let view = pydbm_view(&target(format), &path).expect("view");
        assert!(view.is_empty(), "{format}: {view:?}");
    }
}
