//! Recovery between real processes (docs/recovery.md, issue 16 item 2): a pydbm writer dies
//! with a hot journal, another library (Python's `dbm.gnu` / `dbm.ndbm`, i.e. libgdbm /
//! Berkeley DB) then opens the file and commits 101 keys, and after that no pydbm command may
//! roll the stale journal back over them.
//!
//! The crashed files are made deterministically: the workload runs over the engine's
//! `FaultVfs` with a process kill at one write (what a `kill -9` at that instant leaves: every
//! completed write), and the first kill point whose journal is hot *and* whose database file
//! already holds some of the interrupted transaction's pages is written to a real directory.
//! Everything after that is real processes: `/usr/bin/python3` and the `pydbm` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use pydbm_engine::live_reference::{record_used, skip_or_fail};
use pydbm_engine::{
    journal_path, journal_status, CrashKind, Dbm, FaultConfig, FaultVfs, Format, JournalStatus,
    MemVfs, OpenMode, OpenOptions, Vfs,
};

/// Debian's python3 with dbm.gnu/dbm.ndbm/dbm.dumb (`PYDBM_PYTHON_GDBM`, default
/// `/usr/bin/python3`, as `pydbm_engine::live_reference` finds it).
static PYTHON: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    pydbm_engine::live_reference::python(pydbm_engine::live_reference::Python::Gdbm)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/usr/bin/python3".into())
});

fn pydbm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pydbm"))
        .args(args)
        .output()
        .expect("the pydbm binary was built by cargo for this test")
}

fn python(script: &str, args: &[&str]) -> Output {
    Command::new(&*PYTHON)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs")
}

/// Whether `/usr/bin/python3` imports `module`.
fn python_has(module: &str) -> bool {
    Path::new(&*PYTHON).exists() && python(&format!("import {module}"), &[]).status.success()
}

/// The two formats of the scenario: name, Python module, the primary file of database
/// `name` (whose journal is `<primary>-journal`).
#[derive(Clone, Copy)]
enum Kind {
    Gnu,
    Ndbm,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gnu => "gnu",
            Kind::Ndbm => "ndbm",
        }
    }
    fn module(self) -> &'static str {
        match self {
            Kind::Gnu => "dbm.gnu",
            Kind::Ndbm => "dbm.ndbm",
        }
    }
    fn primary(self, name: &Path) -> PathBuf {
        match self {
            Kind::Gnu => name.to_path_buf(),
            Kind::Ndbm => pydbm_formats::ndbm::db_path(name),
        }
    }
    fn open(
        self,
        vfs: Arc<dyn Vfs>,
        name: &Path,
        mode: OpenMode,
    ) -> pydbm_engine::Result<Box<dyn Dbm>> {
        let opts = OpenOptions {
            mode,
            ..OpenOptions::default()
        };
        // Through `Format::open_in`, the path the CLI and `pydbm::open` take.
        match self {
            Kind::Gnu => pydbm_formats::gnu::FORMAT.open_in(vfs, name, &opts),
            Kind::Ndbm => pydbm_formats::ndbm::FORMAT.open_in(vfs, name, &opts),
        }
    }
}

/// A database of 300 keys committed, then a writer killed at the first write point `>= from`
/// that leaves a hot journal and a database file differing from the committed one: the
/// surviving files (database and journal), or `None` when no such point exists.
fn crashed_writer(kind: Kind, from: u64) -> Option<Vec<(PathBuf, Vec<u8>)>> {
    let name = Path::new("/c/db");
    let primary = kind.primary(name);
    let base = MemVfs::new();
    let mut db = kind
        .open(Arc::new(base.clone()), name, OpenMode::New)
        .expect("a fresh database opens");
    for i in 0..300u32 {
        db.insert(format!("old{i}").as_bytes(), &[b'o'; 90])
            .expect("insert on a memory disk");
    }
    db.close().expect("close on a memory disk");
    let committed = base.read_file(&primary).expect("the database exists");
    for n in from..from + 400 {
        let mem = base.snapshot();
        let fault = FaultVfs::new(
            mem.clone(),
            FaultConfig {
                seed: n,
                crash_at: Some(n),
                kind: CrashKind::ProcessKill,
            },
        );
        if let Ok(mut db) = kind.open(Arc::new(fault.clone()), name, OpenMode::Write) {
            for i in 0..400u32 {
                if db
                    .insert(format!("new{i}").as_bytes(), &[b'n'; 200])
                    .is_err()
                {
                    break;
                }
            }
            // The "killed" process never closes.
            std::mem::forget(db);
        }
        if !fault.has_crashed() {
            return None;
        }
        // A process kill keeps every completed write: the inner disk is what survives.
        let hot = matches!(
            journal_status(&mem, &primary),
            Ok(JournalStatus::Hot { .. })
        );
        if hot && mem.read_file(&primary).as_ref() != Some(&committed) {
            return Some(
                [primary.clone(), journal_path(&primary)]
                    .into_iter()
                    .map(|p| {
                        let data = mem.read_file(&p).expect("both files exist");
                        (PathBuf::from(p.file_name().expect("a file name")), data)
                    })
                    .collect(),
            );
        }
    }
    None
}

const STORE_101: &str = "
import sys, importlib
m = importlib.import_module(sys.argv[1])
d = m.open(sys.argv[2], 'w')
for i in range(101):
    d[b'py%d' % i] = b'committed by Python %d' % i
d.close()
";

const COUNT_101: &str = "
import sys, importlib
m = importlib.import_module(sys.argv[1])
d = m.open(sys.argv[2], 'r')
ok = sum(1 for i in range(101) if d.get(b'py%d' % i) == b'committed by Python %d' % i)
d.close()
print(ok)
";

/// The stale-journal scenario for one format, from several kill points.
fn stale_journal_is_never_rolled_over_other_commits(kind: Kind) {
    if !python_has(kind.module()) {
        skip_or_fail(&format!("{} with {}", &*PYTHON, kind.module()));
        return;
    }
    record_used(&format!("{} with {}", &*PYTHON, kind.module()));
    let mut rounds = 0;
    let mut from = 1;
    while rounds < 3 {
        let Some(files) = crashed_writer(kind, from) else {
            break;
        };
        from += 37;
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let name = tmp.path().join("db");
        for (file, data) in &files {
            std::fs::write(tmp.path().join(file), data).expect("write the crashed files");
        }
        let name_s = name.to_str().expect("a UTF-8 temporary path");
        // The other library commits 101 keys over the crashed file (it may refuse a torn
        // file: then this kill point says nothing about pydbm, try the next).
        if !python(STORE_101, &[kind.module(), name_s]).status.success() {
            continue;
        }
        rounds += 1;
        let primary = kind.primary(&name);
        let journal = journal_path(&primary);
        let snapshot = || {
            (
                std::fs::read(&primary).expect("the database file"),
                std::fs::read(&journal).ok(),
            )
        };
        let before = snapshot();
        assert!(before.1.is_some(), "the crashed writer's journal is there");
        let t = kind.name();
        for args in [
            vec!["keys", "--type", t, name_s],
            vec!["get", "--type", t, name_s, "py1"],
            vec!["stats", "--type", t, name_s],
            vec!["check", "--type", t, name_s],
            vec!["set", "--type", t, name_s, "k", "v"],
            vec!["recover", "--type", t, name_s],
        ] {
            let out = pydbm(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{t} {args:?}: exit status; stderr {err}"
            );
            assert!(!err.contains("internal error"), "{t} {args:?}: {err}");
            assert_eq!(snapshot(), before, "{t} {args:?} changed a file: {err}");
            if matches!(args[0], "set" | "recover") {
                assert!(
                    err.contains("another program wrote the file")
                        && err.contains("pydbm recover --discard"),
                    "{t} {args:?}: {err}"
                );
            }
        }
        let out = pydbm(&["recover", "--discard", "--type", t, name_s]);
        assert!(out.status.success(), "{t}: recover --discard: {out:?}");
        assert!(!journal.exists(), "{t}: --discard deletes the journal");
        let count = python(COUNT_101, &[kind.module(), name_s]);
        assert_eq!(
            String::from_utf8_lossy(&count.stdout).trim(),
            "101",
            "{t}: Python's 101 keys survive; {count:?}"
        );
        let keys = pydbm(&["keys", "--type", t, name_s]);
        let err = String::from_utf8_lossy(&keys.stderr);
        match kind {
            Kind::Ndbm => {
                assert!(keys.status.success(), "{t}: pydbm reads the file: {err}");
                let listed = String::from_utf8_lossy(&keys.stdout);
                assert_eq!(listed.lines().filter(|l| l.starts_with("py")).count(), 101);
            }
            // The file is the killed writer's torn pages with libgdbm's commits on top (the
            // journal was discarded): libgdbm reads it, pydbm may find it structurally
            // damaged (docs/recovery.md, "What a killed writer leaves"); then it says where,
            // and never by a panic.
            Kind::Gnu => assert!(
                keys.status.success()
                    || (keys.status.code() == Some(1) && err.contains("corrupt at offset")),
                "{t}: {err}"
            ),
        }
    }
    assert!(
        rounds > 0,
        "{}: no kill point usable by Python",
        kind.name()
    );
}

#[test]
fn gnu_stale_journal_is_never_rolled_over_libgdbm_commits() {
    stale_journal_is_never_rolled_over_other_commits(Kind::Gnu);
}

#[test]
fn ndbm_stale_journal_is_never_rolled_over_libdb_commits() {
    stale_journal_is_never_rolled_over_other_commits(Kind::Ndbm);
}

/// dbm.dumb (issue 16 item 3): `key = b'abcde'` committed; a `pydbm apply` process replaces
/// it with a 300-byte value (in place: same 512-byte block) and with a 700-byte one (moved),
/// and is killed with SIGKILL while it only reads, after the replacement completed. pydbm
/// and CPython must then read the new value — before the fix the in-place case read
/// `b'NEWVA'` (the old length over the new bytes) and the moved case the old value.
#[test]
fn dumb_completed_replacement_survives_sigkill() {
    use std::io::Write;
    for len in [300usize, 700] {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let name = tmp.path().join("db");
        let name_s = name.to_str().expect("a UTF-8 temporary path");
        let mut first = Command::new(env!("CARGO_BIN_EXE_pydbm"))
            .args(["apply", "--type", "dumb", "--flag", "c", name_s])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("pydbm runs");
        first
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(b"set 6b6579 6162636465\n")
            .expect("write the script");
        assert!(first.wait().expect("pydbm exits").success());
        let value: Vec<u8> = b"NEWVAL"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', len - 6))
            .collect();
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        // The set, then a million gets (apply reads its whole script first): the process is
        // killed while it only reads.
        let script_path = tmp.path().join("script");
        let mut script = format!("set 6b6579 {hex}\n").into_bytes();
        for _ in 0..1_000_000 {
            script.extend_from_slice(b"get 6b6579\n");
        }
        std::fs::write(&script_path, &script).expect("write the script");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pydbm"))
            .args(["apply", "--type", "dumb", "--flag", "w", name_s])
            .stdin(std::fs::File::open(&script_path).expect("open the script"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("pydbm runs");
        // The set has completed when its value is in .dat and its journal is no longer hot
        // (the commit invalidated it).
        let dat = tmp.path().join("db.dat");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let written = std::fs::read(&dat)
                .is_ok_and(|d| d.windows(value.len()).any(|w| w == value.as_slice()));
            let status =
                journal_status(&pydbm_engine::OsVfs::new(), &dat).expect("the journal's status");
            if written && !matches!(status, JournalStatus::Hot { .. }) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{len}: the set never completed"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(
            child.try_wait().expect("poll the writer").is_none(),
            "{len}: the writer must still be running (reading) when killed"
        );
        child.kill().expect("SIGKILL the writer");
        child.wait().expect("reap the writer");
        let out = pydbm(&["get", "--type", "dumb", "--hex", name_s, "6b6579"]);
        assert!(out.status.success(), "{len}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            hex,
            "{len}: pydbm reads"
        );
        if python_has("dbm.dumb") {
            let py = python(
                "import sys, dbm.dumb\nd = dbm.dumb.open(sys.argv[1], 'r')\nprint(d[b'key'].hex())",
                &[name_s],
            );
            assert_eq!(
                String::from_utf8_lossy(&py.stdout).trim(),
                hex,
                "{len}: CPython reads; {py:?}"
            );
        } else {
            skip_or_fail(&format!("{} with dbm.dumb", &*PYTHON));
        }
    }
}
