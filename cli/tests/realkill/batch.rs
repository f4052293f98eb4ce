//! A batch killed mid-way (issue 16 item 2(e); docs/realkill.md): the real `pydbm apply`
//! runs 1,000 inserts of new keys `batch0000`..`batch0999` in order on a new database and is
//! SIGKILLed at a seeded random moment. `apply` runs consecutive sets in one transaction
//! (issue 18; up to 100,000 lines), so the database must hold none of the batch or all of
//! it with the right values — no prefix, no gap, no torn value — and the reference library,
//! after one pydbm open, must read the same records.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::kill_rounds::{diff, pydbm_view, target};
use super::reference;
use super::workload::{hex, Content, Rng};
use super::{env_number, pydbm_binary, selected};

const INSERTS: usize = 1000;

fn value(i: usize) -> Vec<u8> {
    (0..(i * 37) % 700).map(|j| (i + j) as u8).collect()
}

/// The database's first file, whose appearance means `apply` has opened it.
fn first_file(path: &Path) -> bool {
    path.exists() || path.with_extension("db").exists() || path.with_extension("dat").exists()
}

/// Spawns `pydbm apply --flag n` with the batch and waits until the database file exists
/// (or the process ended); returns the child and the time it took.
fn spawn_batch_until_created(format: &str, path: &Path, script: &str) -> (Child, Duration) {
    let start = Instant::now();
    let mut child = Command::new(pydbm_binary())
        .args(["apply", "--type", format, "--flag", "n"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pydbm apply");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(script.as_bytes()).expect("feed the batch");
    drop(stdin);
    while !first_file(path) && child.try_wait().expect("waitpid").is_none() {
        thread::sleep(Duration::from_micros(200));
    }
    (child, start.elapsed())
}

/// Runs the whole batch once: how long it runs after the file appears.
fn spawn_batch(format: &str, path: &Path, script: &str) -> (bool, Duration) {
    let (mut child, _) = spawn_batch_until_created(format, path, script);
    let start = Instant::now();
    let ok = child.wait().expect("reap pydbm apply").success();
    (ok, start.elapsed())
}

fn batch_test(name: &str) {
    if !selected(name) {
        eprintln!("SKIPPED: {name} not in REALKILL_FORMATS");
        return;
    }
    let t = target(name);
    let Some(python) = super::reference::reference_or_skip(t.python, t.python_name) else {
        return;
    };
    let rounds = env_number("REALKILL_BATCHES", 12);
    let mut rng = Rng::new(env_number("REALKILL_SEED", 16) ^ 0xe);
    let mut script = String::new();
    for i in 0..INSERTS {
        script.push_str(&format!(
            "set {} {}\n",
            hex(format!("batch{i:04}").as_bytes()),
            hex(&value(i))
        ));
    }
    let mut problems = Vec::new();
    let mut killed = 0;
    let mut half_created = 0;
    let mut prefixes = Vec::new();
    let calibration = tempfile::tempdir().expect("temp dir");
    let run_time = spawn_batch(t.name, &calibration.path().join("db"), &script)
        .1
        .max(Duration::from_millis(5));
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db");
        // Within 5%..85% of a full run, so most kills land inside the batch.
        let span = run_time.as_micros() as u64;
        let delay = Duration::from_micros(span / 20 + rng.below(span * 4 / 5 + 1));
        let (mut child, _) = spawn_batch_until_created(t.name, &path, &script);
        thread::sleep(delay);
        if child.try_wait().expect("waitpid").is_none() {
            child.kill().expect("SIGKILL our own child");
            killed += 1;
        }
        child.wait().expect("reap pydbm apply");
        let view = if first_file(&path) {
            match pydbm_view(&t, &path) {
                Ok(v) => v,
                // A kill inside the creating open, before any insert: dbm.sqlite3 creates
                // the file, then its table, dbm.dumb `.dat`, then `.dir` (both as CPython
                // does), ndbm and gnu the file, then its header. What is left opens as no
                // database; counted, reported in docs/realkill.md, and accepted as the empty
                // prefix.
                Err(e)
                    if (t.name == "sqlite3" && e.contains("no such table: Dict"))
                        || (t.name == "dumb" && e.contains("db.dir: No such file"))
                        // Killed between creating the file and writing its header: 0
                        // bytes, which libgdbm also refuses to read ("Empty database").
                        || (t.name == "gnu" && e.contains("Empty database"))
                        || e.contains("shorter than") =>
                {
                    half_created += 1;
                    Content::new()
                }
                Err(e) => {
                    problems.push(format!("round {round}: {e}"));
                    continue;
                }
            }
        } else {
            Content::new()
        };
        let j = view.len();
        let want: Content = (0..j)
            .map(|i| (format!("batch{i:04}").into_bytes(), value(i)))
            .collect();
        if view != want || (j != 0 && j != INSERTS) {
            problems.push(format!(
                "round {round}: not none or all of the batch ({j} of {INSERTS} records): {}",
                diff(&view, &want)
            ));
            continue;
        }
        prefixes.push(j);
        if j > 0 {
            let res = reference::round(python, t.module, &path, "r", "");
            if let Some(m) = res.read_mismatch(&view) {
                problems.push(format!(
                    "round {round}: the reference after one pydbm open: {m}"
                ));
            }
        }
    }
    eprintln!(
        "{name} batch of {INSERTS} inserts in one transaction, {killed} of {rounds} writers \
         killed before they ended: records left {prefixes:?} (full run {run_time:?}; killed \
         inside the creating open, leaving no database: {half_created})"
    );
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    // Run times vary with the machine's load: a third of the writers killed still tests it.
    assert!(
        killed * 3 >= rounds,
        "only {killed} of {rounds} writers were killed before they ended: {prefixes:?}"
    );
}

#[test]
fn gnu_batch_killed_midway_is_all_or_nothing() {
    batch_test("gnu");
}

#[test]
fn ndbm_batch_killed_midway_is_all_or_nothing() {
    batch_test("ndbm");
}

#[test]
fn dumb_batch_killed_midway_is_all_or_nothing() {
    batch_test("dumb");
}

#[test]
fn sqlite3_batch_killed_midway_is_all_or_nothing() {
    batch_test("sqlite3");
}
