//! Running the `pydbm` binary cargo built for these tests, and reading databases back
//! through it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The formats of docs/cli.md's `TYPE`.
pub const FORMATS: [&str; 4] = ["gnu", "ndbm", "dumb", "sqlite3"];

/// Records of a database: key → value.
pub type Records = BTreeMap<Vec<u8>, Vec<u8>>;

/// What one run of `pydbm` did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status (`None`: ended by a signal).
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Runs `pydbm ARGS` with `stdin` on its standard input.
pub fn pydbm_with(args: &[&str], stdin: &[u8]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pydbm"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the pydbm binary cargo built for this test");
    let mut input = child.stdin.take().expect("stdin is piped");
    let data = stdin.to_vec();
    // A writer thread: pydbm may stop reading (a usage error) or write before it reads all.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("pydbm ran");
    writer
        .join()
        .expect("the stdin writer thread does not panic");
    Outcome {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `pydbm ARGS` (empty stdin), asserts exit status 0 and a silent stderr, and returns
/// stdout.
pub fn ok(args: &[&str]) -> Vec<u8> {
    ok_in(args, b"")
}

/// [`ok`] with `stdin`.
pub fn ok_in(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = pydbm_with(args, stdin);
    assert_eq!(
        out.code,
        Some(0),
        "pydbm {args:?} failed: {}",
        out.stderr.trim_end()
    );
    assert_eq!(out.stderr, "", "pydbm {args:?} wrote to stderr");
    out.stdout
}

/// [`ok`] as text.
pub fn ok_text(args: &[&str]) -> String {
    String::from_utf8(ok(args)).expect("pydbm printed UTF-8")
}

/// Runs `pydbm ARGS`, asserts exit status `code` (1 operational, 2 usage) and docs/cli.md's error
/// form (one line `pydbm: error: ...`), and returns that line.
pub fn fails(args: &[&str], code: i32) -> String {
    fails_in(args, b"", code)
}

/// [`fails`] with `stdin`.
pub fn fails_in(args: &[&str], stdin: &[u8], code: i32) -> String {
    let out = pydbm_with(args, stdin);
    assert_eq!(
        out.code,
        Some(code),
        "pydbm {args:?}: stderr {:?}",
        out.stderr
    );
    assert!(
        out.stderr.starts_with("pydbm: error: "),
        "pydbm {args:?}: {:?}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "pydbm {args:?}: one error line: {:?}",
        out.stderr
    );
    out.stderr
}

/// A path as the `&str` argument `pydbm` gets (temporary directories are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Lowercase hex, `-` for empty (docs/cli.md's byte notation).
pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses docs/cli.md's byte notation.
pub fn unhex(text: &str) -> Vec<u8> {
    if text == "-" {
        return Vec::new();
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("pydbm printed hex"))
        .collect()
}

/// The records of the database at `path`, read with `pydbm dump` (hex lines).
pub fn content(path: &Path) -> Records {
    dump_lines(&ok_text(&["dump", arg(path)]))
        .into_iter()
        .collect()
}

/// The `(key, value)` lines of a hex dump, in order.
pub fn dump_lines(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("dump line: HEXKEY HEXVAL");
            (unhex(k), unhex(v))
        })
        .collect()
}

/// The records the command tests store: text, binary, UTF-8 and a 5,000-byte value (gdbm
/// and Berkeley DB overflow).
pub fn sample() -> Records {
    let mut r = Records::new();
    r.insert(b"alpha".to_vec(), b"1".to_vec());
    r.insert(b"beta".to_vec(), b"two".to_vec());
    r.insert(vec![0, 0xff, 0x10], vec![1, 2, 0xff]);
    r.insert("ключ".as_bytes().to_vec(), "значение".as_bytes().to_vec());
    r.insert(
        b"big".to_vec(),
        (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
    );
    r
}

/// An `apply` script that stores `records`.
pub fn set_script(records: &Records) -> Vec<u8> {
    records
        .iter()
        .map(|(k, v)| format!("set {} {}\n", hex(k), hex(v)))
        .collect::<String>()
        .into_bytes()
}

/// Makes a new `db_type` database `dir/name` holding `records` (through `pydbm apply`).
pub fn make(dir: &Path, name: &str, db_type: &str, records: &Records) -> PathBuf {
    let path = dir.join(name);
    ok_in(
        &["apply", "--type", db_type, "--flag", "n", arg(&path)],
        &set_script(records),
    );
    path
}

/// The names of the entries of `dir` that contain `.damaged-` (copies kept by `recover`).
pub fn damaged_copies(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the test directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| arg(p).contains(".damaged-"))
        .collect();
    found.sort();
    found
}
