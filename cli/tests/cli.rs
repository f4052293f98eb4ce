//! The command-line contract (docs/cli.md): parsing, exit statuses and error lines; every
//! command on every format ([`every_format`]); the fixes of issue 16 item 9 and
//! `--durability` ([`fixes`]). One test binary (link time on 2 cores).

use std::process::{Command, Output};

#[path = "cli/every_format.rs"]
mod every_format;
#[path = "cli/fixes.rs"]
mod fixes;
#[path = "cli/run.rs"]
mod run;

fn pydbm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pydbm"))
        .args(args)
        .output()
        .expect("the pydbm binary was built by cargo for this test")
}

#[test]
fn help_works_for_every_command() {
    let out = pydbm(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "whichdb",
        "get",
        "set",
        "del",
        "keys",
        "dump",
        "load",
        "apply",
        "convert",
        "check",
        "recover",
        "reorganize",
        "stats",
        "crashtest",
        "pickle",
        "marshal",
        "shelve",
        "sqlite",
    ] {
        assert!(text.contains(cmd), "--help lists {cmd}");
        let sub = pydbm(&[cmd, "--help"]);
        assert!(sub.status.success(), "{cmd} --help exits 0");
        assert!(!sub.stdout.is_empty(), "{cmd} --help prints help");
    }
}

#[test]
fn unknown_command_and_bad_flag_exit_2() {
    assert_eq!(pydbm(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        pydbm(&["apply", "--type", "nosuch", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        pydbm(&["crashtest", "--type", "gnu", "--ops", "many"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn dbm_prefix_is_accepted_for_types() {
    let plain = pydbm(&["stats", "--type", "dumb", "/nonexistent/x"]);
    let prefixed = pydbm(&["stats", "--type", "dbm.dumb", "/nonexistent/x"]);
    assert_eq!(plain.status.code(), prefixed.status.code());
    assert_ne!(prefixed.status.code(), Some(2), "dbm.dumb parses as a type");
}

#[test]
fn malformed_script_line_exits_2_with_its_number() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pydbm"))
        .args([
            "apply",
            "--type",
            "dumb",
            path.to_str().expect("utf-8 temp path"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pydbm");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"# comment\nset 61 62\nset 6\n")
        .expect("write script");
    let out = child.wait_with_output().expect("pydbm ran");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pydbm: error: script line 3:"), "{err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
}

#[test]
fn errors_are_one_line_and_never_panic() {
    let out = pydbm(&["keys", "--type", "gnu", "/nonexistent/dir/db"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pydbm: error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `pydbm marshal show|recode` on committed marshal fixtures (made by CPython, see
/// shelve/tests/fixtures/marshal/make.py), and `pydbm whichdb` on whichdb fixtures.
#[test]
fn marshal_and_whichdb_commands() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let nested = root.join("shelve/tests/fixtures/marshal/inputs/corpus-044-nested.v4.marshal");
    let nested = nested.to_str().expect("utf-8 path");
    let out = pydbm(&["marshal", "show", nested]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{'k': [(1, 2.5, 'x'), {'n': None}], 'b': b'y'}\n"
    );
    let out = pydbm(&["marshal", "recode", "--version", "4", nested]);
    assert!(out.status.success());
    // CPython 3.13: marshal.dumps(marshal.loads(data), 4) drops the refcount-only flags
    // (spec §2.3, `044-nested.v4`).
    assert_eq!(&out.stdout[..2], b"\x7b\xda");
    let bad = root.join("shelve/tests/fixtures/marshal/inputs/raw-err_unknown.marshal");
    let out = pydbm(&["marshal", "show", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "pydbm: error: ValueError: bad marshal data (unknown type code) (at offset 0)\n"
    );
    let w = root.join("formats/tests/fixtures/whichdb");
    for (query, want) in [
        ("corpus/gdbm/02-small.gdbm", "dbm.gnu\n"),
        ("corpus/gdbm/09-numsync.gdbm", "dbm.gnu\n"),
        ("corpus/ndbm/small", "dbm.ndbm\n"),
        ("corpus/dumb/py3.13/03-after-close/db", "dbm.dumb\n"),
        ("corpus/dbm-sqlite3/basic.sqlite3", "dbm.sqlite3\n"),
        ("edge/text-file/x", "\n"),
        ("edge/missing/x", "None\n"),
    ] {
        let out = pydbm(&["whichdb", w.join(query).to_str().expect("utf-8")]);
        assert!(out.status.success(), "{query}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{query}");
    }
}

/// `pydbm shelve keys|get` on the shelves CPython 3.11 wrote (shelve/tests/fixtures/shelve/
/// make.py): values print as CPython's repr printed them.
#[test]
fn shelve_commands_read_cpython_shelves() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let tmp = tempfile::tempdir().expect("tempdir");
    let shelf = tmp.path().join("shelf");
    std::fs::copy(root.join("shelve/tests/fixtures/shelve/gnu/shelf"), &shelf)
        .expect("copy fixture");
    let shelf = shelf.to_str().expect("utf-8");
    let out = pydbm(&["shelve", "get", shelf, "nested"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{'k': [(1, 2.5, 'x'), {'n': None}], 'b': b'y'}\n"
    );
    let out = pydbm(&["shelve", "keys", shelf]);
    assert!(out.status.success());
    let keys = String::from_utf8_lossy(&out.stdout);
    assert_eq!(keys.lines().count(), 16);
    assert!(keys.lines().any(|k| k == "unicode-key-\u{e9}"));
    let out = pydbm(&["shelve", "get", shelf, "absent"]);
    assert_eq!(out.status.code(), Some(1));
}

/// gdbm files written by libgdbm 1.23 built for i386 (with and without large-file support),
/// s390x and arm64 (keys with bytes >= 0x80 hashed as unsigned `char`), and OMAGIC copies
/// (formats/tests/fixtures/gnu/layouts, made by its make.py): `check` passes, `stats` names
/// the variant, `dump` lists what the writing build dumped (in its order), and `convert`
/// gives a native file whose records Debian's libgdbm (Python's `dbm.gnu`) lists the same.
#[test]
fn gnu_foreign_builds_check_dump_and_convert_to_native() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let dir = root.join("formats/tests/fixtures/gnu/layouts");
    let debian_python =
        pydbm_engine::live_reference::python(pydbm_engine::live_reference::Python::Gdbm)
            .unwrap_or_else(|| "/usr/bin/python3".into());
    let python = Command::new(&debian_python)
        .args(["-c", "import dbm.gnu"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        pydbm_engine::live_reference::skip_or_fail("/usr/bin/python3 with dbm.gnu");
    }
    let tmp = tempfile::tempdir().unwrap();
    let lines = |o: &Output| -> Vec<String> {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout.clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let names = [
        ("i386-bs512-random", "64-bit off_t aligned to 4 (i386)"),
        ("i386-bs4096-numsync-fill", "numsync"),
        ("s390x-bs2048-random", "big-endian"),
        ("s390x-bs512-numsync-stack", "big-endian"),
        ("omagic-i386-bs1024", "(OMAGIC)"),
        ("omagic-s390x-bs1024", "(OMAGIC)"),
        ("i386-off32-bs1024-fill", "32-bit off_t, standard"),
        ("i386-off32-bs512-numsync-stack", "32-bit off_t, numsync"),
        (
            "omagic-i386-off32-bs1024",
            "32-bit off_t, standard header (OMAGIC)",
        ),
        ("arm64-bs2048-random", "keys hashed as unsigned char"),
        (
            "omagic-arm64-bs1024",
            "(OMAGIC), keys hashed as unsigned char",
        ),
    ];
    for (name, variant) in names {
        let src = dir.join(format!("{name}.gdbm"));
        let src = src.to_str().unwrap();
        let want: Vec<String> = std::fs::read_to_string(dir.join(format!("{name}.txt")))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(lines(&pydbm(&["check", src])), ["ok"], "{name}");
        let stats = lines(&pydbm(&["stats", src])).join("\n");
        assert!(stats.contains(variant), "{name}: {stats}");
        assert_eq!(lines(&pydbm(&["dump", src])), want, "{name}");
        let dst = tmp.path().join(format!("{name}.native.gdbm"));
        let dst = dst.to_str().unwrap();
        lines(&pydbm(&["convert", src, dst, "--type", "gnu"]));
        let stats = lines(&pydbm(&["stats", dst])).join("\n");
        assert!(
            stats.contains("little-endian, 64-bit off_t, standard header\n"),
            "{name}: {stats}"
        );
        let mut want_sorted = want.clone();
        want_sorted.sort();
        let mut got = lines(&pydbm(&["dump", dst]));
        got.sort();
        assert_eq!(got, want_sorted, "{name}: converted");
        if python {
            let listing = Command::new(&debian_python)
                .args([
                    "-c",
                    "import dbm.gnu, sys\n\
                     db = dbm.gnu.open(sys.argv[1], 'r')\n\
                     for k in db.keys():\n    print(k.hex() or '-', db[k].hex() or '-')",
                    dst,
                ])
                .output()
                .unwrap();
            let mut got = lines(&listing);
            got.sort();
            assert_eq!(
                got, want_sorted,
                "{name}: libgdbm's listing of the converted file"
            );
        }
    }
}

/// `PYTHONINTMAXSTRDIGITS` sets the int↔decimal digit limit as for CPython 3.13: a LONG4
/// of 1,786 bytes (4,301 digits) fails `pickle show` by default with CPython's ValueError,
/// prints with the limit off, and an invalid value is refused with CPython's reason.
#[test]
fn int_digit_limit_follows_pythonintmaxstrdigits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.pickle");
    let mut data = b"\x80\x04\x8b".to_vec();
    data.extend_from_slice(&1786u32.to_le_bytes());
    data.extend(std::iter::repeat_n(0x5au8, 1786));
    data.push(b'.');
    std::fs::write(&file, &data).unwrap();
    let run = |env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pydbm"));
        c.args(["pickle", "show"]).arg(&file);
        match env {
            Some(v) => c.env("PYTHONINTMAXSTRDIGITS", v),
            None => c.env_remove("PYTHONINTMAXSTRDIGITS"),
        };
        c.output().unwrap()
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ValueError: Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit"),
        "{err}"
    );
    let out = run(Some("0"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 4301 + 1);
    let out = run(Some("100"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be >= 640 or 0 for unlimited"));
}
