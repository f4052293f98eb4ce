//! The reference libraries, driven through Python: which interpreter serves which format
//! (found once per test process), and the one script every kill round runs in one process —
//! read the whole database, then optionally apply the round's own writes and close.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use pydbm_engine::live_reference::{python, Python};

use super::workload::{hex, unhex, Content};

/// Runs `python -c PROBE` and returns the interpreter's real executable when it succeeds
/// (a pyenv shim costs ~100 ms a start; the real path does not).
fn probe(python: &str, modules: &str, version_check: &str) -> Option<PathBuf> {
    let code = format!("import sys, {modules}; {version_check} print(sys.executable)");
    let out = Command::new(python).args(["-c", &code]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let exe = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!exe.is_empty()).then(|| PathBuf::from(exe))
}

/// Debian's python3 with `dbm.gnu` (libgdbm) and `dbm.ndbm` (Berkeley DB 5.3), as
/// `pydbm_engine::live_reference` finds it (`$PYDBM_PYTHON_GDBM`, default `/usr/bin/python3`).
pub fn python_debian() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let py = python(Python::Gdbm)?;
            probe(&py.to_string_lossy(), "dbm.gnu, dbm.ndbm", "")
        })
        .as_deref()
}

/// CPython 3.13 with `dbm.dumb` and `dbm.sqlite3`, as `pydbm_engine::live_reference` finds
/// it (`$PYDBM_PYTHON313`, else `python3.13` on PATH, else pyenv's newest 3.13).
pub fn python313() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let py = python(Python::Py313)?;
            probe(
                &py.to_string_lossy(),
                "dbm.dumb, dbm.sqlite3",
                "assert sys.version_info[:2] == (3, 13), sys.version;",
            )
        })
        .as_deref()
}

/// The reference interpreter a test compares against (`find`: [`python_debian`] or
/// [`python313`]): records its use for the run's live-reference summary
/// (`pydbm_engine::live_reference`), or skips loudly naming `name` (a failure under
/// `CI=true`) and returns `None`.
pub fn reference_or_skip(find: fn() -> Option<&'static Path>, name: &str) -> Option<&'static Path> {
    match find() {
        Some(python) => {
            pydbm_engine::live_reference::record_used(&format!("{name}: {}", python.display()));
            Some(python)
        }
        None => {
            pydbm_engine::live_reference::skip_or_fail(name);
            None
        }
    }
}

/// Reads every record (`item HEXKEY HEXVAL` lines, `?` for a listed key it cannot fetch,
/// then `end-read`), then applies the
/// `set`/`del` lines of stdin in order (a `del` of an absent key does nothing) and closes
/// (`closed`). argv: module, path, flag.
const ROUND_SCRIPT: &str = r#"
import sys, importlib
mod = importlib.import_module(sys.argv[1])
h = lambda b: b.hex() or '-'
u = lambda t: b'' if t == '-' else bytes.fromhex(t)
ops = [l.split() for l in sys.stdin.read().splitlines() if l.strip()]
db = mod.open(sys.argv[2], sys.argv[3])
try:
    out = []
    for k in db.keys():
        v = db.get(k)
        out.append('item %s %s' % (h(k), '?' if v is None else h(v)))
    out.append('end-read')
    sys.stdout.write('\n'.join(out) + '\n')
    sys.stdout.flush()
    for op in ops:
        if op[0] == 'set':
            db[u(op[1])] = u(op[2])
        elif u(op[1]) in db:
            del db[u(op[1])]
finally:
    db.close()
print('closed')
"#;

/// The value recorded for a key the reference lists but cannot fetch (not a value any
/// workload writes, so it always shows as a difference).
pub const UNFETCHABLE: &[u8] = b"\xff<the reference lists this key but cannot fetch it>";

/// What the reference saw and whether its writes were committed.
#[derive(Debug)]
pub struct RoundResult {
    /// The records the reference read (`None` when it failed before `end-read`).
    pub read: Option<Content>,
    /// Whether it applied its writes and closed without an exception.
    pub closed: bool,
    /// Its standard error (the traceback when it failed).
    pub stderr: String,
}

impl RoundResult {
    /// The last line of the reference's standard error (its exception), or `""`.
    pub fn error_line(&self) -> &str {
        self.stderr.trim().lines().last().unwrap_or("")
    }

    /// `None` when the reference read exactly `view`; otherwise what differs, or its error
    /// when it could not read.
    pub fn read_mismatch(&self, view: &Content) -> Option<String> {
        match &self.read {
            Some(c) if c == view => None,
            Some(c) => Some(super::kill_rounds::diff(c, view)),
            None => Some(self.error_line().to_string()),
        }
    }
}

/// Runs the round script through `python` on `module`'s database at `path` with `flag`
/// (`r` to only read; `w` to apply `writes`: `set HEXKEY HEXVAL` / `del HEXKEY` lines).
pub fn round(python: &Path, module: &str, path: &Path, flag: &str, writes: &str) -> RoundResult {
    let mut child = Command::new(python)
        // -I -S: no user site, no site-packages (the dbm modules are in the standard
        // library) and a faster start.
        .args(["-I", "-S", "-c", ROUND_SCRIPT, module])
        .arg(path)
        .arg(flag)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the reference interpreter (found by probing it)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(writes.as_bytes())
        .expect("write the reference's operations");
    let out = child.wait_with_output().expect("the reference ran");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut read = Content::new();
    let mut complete = false;
    let mut closed = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["item", k, "?"] => {
                if let Some(k) = unhex(k) {
                    // Berkeley DB's ndbm interface returns no data for an empty value, so
                    // Python's dbm.ndbm lists the key but cannot fetch it (CPython's
                    // test_dbm_ndbm skips test_empty_value for Berkeley DB); elsewhere a
                    // listed key that cannot be fetched is a finding.
                    let v = if module == "dbm.ndbm" {
                        Vec::new()
                    } else {
                        UNFETCHABLE.to_vec()
                    };
                    read.insert(k, v);
                }
            }
            ["item", k, v] => {
                if let (Some(k), Some(v)) = (unhex(k), unhex(v)) {
                    read.insert(k, v);
                }
            }
            ["end-read"] => complete = true,
            ["closed"] => closed = true,
            _ => {}
        }
    }
    RoundResult {
        read: complete.then_some(read),
        closed: closed && out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `content` after the reference's `set`/`del` lines (as the round script applies them).
pub fn apply_writes(content: &Content, writes: &str) -> Content {
    let mut after = content.clone();
    for line in writes.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["set", k, v] => {
                after.insert(
                    unhex(k).expect("the harness writes hex"),
                    unhex(v).expect("the harness writes hex"),
                );
            }
            ["del", k] => {
                after.remove(&unhex(k).expect("the harness writes hex"));
            }
            _ => panic!("the harness writes only set/del lines, not {line:?}"),
        }
    }
    after
}

/// The reference's writes of one round as stdin lines, and the content they leave when
/// applied to `before`: three new keys, one overwrite and one delete of existing keys.
pub fn writes_for_round(round: usize, before: &Content) -> (String, Content) {
    let mut after = before.clone();
    let mut text = String::new();
    let mut set = |k: Vec<u8>, v: Vec<u8>, text: &mut String| {
        text.push_str(&format!("set {} {}\n", hex(&k), hex(&v)));
        after.insert(k, v);
    };
    for i in 0..3 {
        let k = format!("ref-{round}-{i}").into_bytes();
        let v = format!("reference wrote {i} in round {round}").into_bytes();
        set(k, v, &mut text);
    }
    let existing: Vec<Vec<u8>> = before.keys().cloned().collect();
    if let Some(k) = existing.get(round % existing.len().max(1)) {
        set(
            k.clone(),
            format!("overwritten by the reference in round {round}").into_bytes(),
            &mut text,
        );
    }
    if let Some(k) = existing.get((round * 7 + 1) % existing.len().max(1)) {
        if existing.len() > 1 {
            text.push_str(&format!("del {}\n", hex(k)));
            after.remove(k);
        }
    }
    (text, after)
}
