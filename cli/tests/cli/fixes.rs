//! The command-line defects of issue 16 item 9, each through the binary: usage errors name
//! what is missing, echoed input is cut, non-UTF-8 scripts name their line, directories
//! are named, gdbm_compat pairs are checked as pairs, dumb alignment as CPython reads it,
//! a database's own file names it, `set` says how to create, a closed stdout ends quietly;
//! and `--durability` reaching the engine of every writing command (issue 17 item 3).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use super::run::{arg, content, fails, fails_in, make, ok, ok_in, ok_text, pydbm_with, sample};

#[test]
fn usage_errors_name_the_missing_argument_and_the_command() {
    let err = fails(&["get"], 2);
    assert!(err.contains("<PATH> <KEY>"), "{err}");
    assert!(err.contains("see pydbm get --help"), "{err}");
    let err = fails(&["get", "--type", "gnu", "db"], 2);
    assert!(err.contains("not provided: <KEY>"), "{err}");
    let err = fails(&["shelve", "get", "db"], 2);
    assert!(
        err.contains("<KEY>") && err.contains("see pydbm shelve get --help"),
        "{err}"
    );
    let err = fails(&["convert", "a", "b"], 2);
    assert!(err.contains("--type TYPE is required for b"), "{err}");
    let err = fails(&["keys", "--tpye", "gnu", "db"], 2);
    assert!(
        err.contains("'--tpye'") && err.contains("'--type'"),
        "{err}"
    );
    let err = fails(&["set", "--type", "nope", "db", "k", "v"], 2);
    assert!(
        err.contains("possible values: gnu, ndbm, dumb, sqlite3"),
        "{err}"
    );
    assert!(err.contains("see pydbm set --help"), "{err}");
}

#[test]
fn long_malformed_input_is_cut_in_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    let huge = "z".repeat(5 << 20);
    for (script, code) in [
        (format!("set {huge} 00\n"), 2),
        (format!("{huge}\n"), 2),
        (format!("get {huge}0\n"), 2),
    ] {
        let err = fails_in(
            &["apply", "--type", "gnu", arg(&db)],
            script.as_bytes(),
            code,
        );
        assert!(err.len() < 400, "{} bytes: {}", err.len(), &err[..400]);
        assert!(err.contains("script line 1:"), "{err}");
        // The word quoted is the 5 MiB one (with `get`'s extra digit: one byte more).
        let whole = [huge.len(), huge.len() + 1].map(|n| format!("…({n} bytes in all)"));
        assert!(whole.iter().any(|w| err.contains(w.as_str())), "{err}");
    }
    // A missing key read from a script is cut too.
    let err = fails_in(
        &["apply", "--type", "gnu", arg(&db)],
        format!("del {}\n", "ab".repeat(1 << 20)).as_bytes(),
        1,
    );
    assert!(
        err.len() < 400 && err.contains("key not found: abab"),
        "{err}"
    );
    let err = fails_in(
        &["load", "--type", "gnu", arg(&db)],
        format!("{huge} 00\n").as_bytes(),
        1,
    );
    assert!(err.len() < 400 && err.contains("line 1"), "{err}");
}

#[test]
fn a_script_that_is_not_utf8_names_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    let err = fails_in(
        &["apply", "--type", "dumb", arg(&db)],
        b"set 61 62\n# note\nset 63 \xff\xfe\n",
        2,
    );
    assert!(
        err.contains("script line 3: not UTF-8 text: byte 0xff at column 8"),
        "{err}"
    );
    assert!(!db.with_extension("dat").exists(), "nothing ran");
    // A hex dump for `load` likewise.
    let err = fails_in(&["load", "--type", "gnu", arg(&db)], b"6b 76\n6c \xff\n", 1);
    assert!(
        err.contains("line 2: not a hex dump: not UTF-8 text: byte 0xff at column 4"),
        "{err}"
    );
}

#[test]
fn directories_are_named_as_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().join("d");
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::create_dir(dir.path().join("d.dat")).expect("mkdir");
    std::fs::create_dir(dir.path().join("d.db")).expect("mkdir");
    let d = arg(&d);
    let want = format!("pydbm: error: {d}: is a directory\n");
    assert_eq!(fails(&["get", d, "k"], 1), want);
    assert_eq!(fails(&["get", "--type", "gnu", d, "k"], 1), want);
    assert_eq!(fails(&["set", "--type", "sqlite3", d, "k", "v"], 1), want);
    assert_eq!(
        fails(&["keys", "--type", "dumb", d], 1),
        format!("pydbm: error: {d}.dat: is a directory\n")
    );
    assert_eq!(
        fails(&["check", "--type", "ndbm", d], 1),
        format!("pydbm: error: {d}.db: is a directory\n")
    );
    // whichdb answers as CPython does: a directory cannot be opened.
    assert_eq!(ok_text(&["whichdb", d]), "None\n");
}

/// A gdbm_compat `dbm.ndbm` pair (NAME.pag, a gdbm file, and NAME.dir, its stamp; the
/// whichdb corpus file libgdbm_compat wrote): `check` and `stats` read the pair.
#[test]
fn check_and_stats_read_a_gdbm_compat_pair() {
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("formats/tests/fixtures/whichdb/corpus/gdbm");
    for ext in ["pag", "dir"] {
        std::fs::copy(
            corpus.join(format!("11-ndbm.{ext}")),
            dir.path().join(format!("p.{ext}")),
        )
        .expect("copy the pair");
    }
    let p = dir.path().join("p");
    let p = arg(&p);
    assert_eq!(ok_text(&["whichdb", p]), "dbm.ndbm\n");
    for t in [&["--type", "ndbm"][..], &[]] {
        let check: Vec<&str> = ["check"]
            .iter()
            .copied()
            .chain(t.iter().copied())
            .chain([p])
            .collect();
        assert_eq!(ok_text(&check), "ok\n");
        let stats: Vec<&str> = ["stats"]
            .iter()
            .copied()
            .chain(t.iter().copied())
            .chain([p])
            .collect();
        let stats = ok_text(&stats);
        assert!(
            stats.starts_with("format: dbm.ndbm (gdbm_compat: "),
            "{stats}"
        );
        assert!(
            stats.contains("p.pag") && stats.contains("p.dir"),
            "{stats}"
        );
        assert!(!stats.contains("p.db"), "{stats}");
    }
    // The records are those of the .pag file read as gdbm.
    let gnu = ok_text(&["keys", &format!("{p}.pag")]);
    assert_eq!(ok_text(&["keys", p]), gnu);
    std::fs::write(format!("{p}.dir"), b"not a stamp").expect("damage the stamp");
    let out = pydbm_with(&["check", "--type", "ndbm", p], b"");
    assert_eq!(out.code, Some(1));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.starts_with(&format!("{p}.dir: offset 0: expected ")),
        "{listing}"
    );
}

/// A dumb entry that does not start at a 512-byte boundary: CPython reads it, so `check`
/// accepts it, as `recover` does ("index ok").
#[test]
fn check_and_recover_agree_on_an_unaligned_dumb_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = dir.path().join("u");
    std::fs::write(name.with_extension("dat"), b"xxhello").expect("write .dat");
    std::fs::write(name.with_extension("dir"), b"'k', (2, 5)\n").expect("write .dir");
    let n = arg(&name);
    assert_eq!(ok_text(&["check", n]), "ok\n");
    let report = ok_text(&["recover", n]);
    assert!(report.contains("index ok: 1 records"), "{report}");
    assert_eq!(ok_text(&["get", n, "k"]), "hello\n");
    let stats = ok_text(&["stats", n]);
    assert!(
        stats.contains("values not at a 512-byte boundary (CPython reads them): 1"),
        "{stats}"
    );
    // CPython's own dbm.dumb reads the value.
    let py = Command::new("python3")
        .args(["-c", "import dbm.dumb, sys; sys.stdout.write(dbm.dumb.open(sys.argv[1], 'r')[b'k'].decode())", n])
        .output();
    match py {
        Ok(o) if o.status.success() => assert_eq!(o.stdout, b"hello"),
        _ => pydbm_engine::live_reference::skip_or_fail("python3 with dbm.dumb"),
    }
}

/// `NAME.dat`/`.dir`/`.bak` (dumb) and `NAME.db` (ndbm) open database NAME, with or without
/// `--type`; a name that is no database's file keeps Python's meaning.
#[test]
fn a_database_file_name_opens_its_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dumb = make(dir.path(), "dumbdb", "dumb", &sample());
    let nd = make(dir.path(), "nd", "ndbm", &sample());
    let want = content(&dumb);
    for (db, own) in [
        (&dumb, ".dat"),
        (&dumb, ".dir"),
        (&dumb, ".bak"),
        (&nd, ".db"),
    ] {
        let file = format!("{}{own}", arg(db));
        let t = if own == ".db" { "ndbm" } else { "dumb" };
        assert_eq!(ok(&["keys", &file]), ok(&["keys", arg(db)]), "{file}");
        assert_eq!(
            ok(&["keys", "--type", t, &file]),
            ok(&["keys", arg(db)]),
            "{file}"
        );
        assert_eq!(ok_text(&["check", &file]), "ok\n", "{file}");
    }
    ok(&[
        "set",
        "--type",
        "dumb",
        &format!("{}.dat", arg(&dumb)),
        "added",
        "1",
    ]);
    assert_eq!(ok_text(&["get", arg(&dumb), "added"]), "1\n");
    assert!(!dir.path().join("dumbdb.dat.dat").exists());
    ok(&["del", &format!("{}.dir", arg(&dumb)), "added"]);
    assert_eq!(content(&dumb), want);
    // No database `fresh` exists: `fresh.dat` is a new database's name, as in
    // dbm.dumb.open('fresh.dat', 'c').
    let fresh = dir.path().join("fresh.dat");
    ok(&["set", "--type", "dumb", arg(&fresh), "k", "v"]);
    assert!(dir.path().join("fresh.dat.dat").exists());
}

#[test]
fn set_on_a_missing_database_says_type_creates_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("brandnew");
    let err = fails(&["set", arg(&p), "k", "v"], 1);
    assert!(
        err.contains("doesn't exist") && err.contains("pass --type"),
        "{err}"
    );
    let err = fails(&["get", arg(&p), "k"], 1);
    assert!(
        err.contains("doesn't exist") && !err.contains("--type"),
        "{err}"
    );
    ok(&["set", "--type", "gnu", arg(&p), "k", "v"]);
    assert_eq!(ok_text(&["get", arg(&p), "k"]), "v\n");
}

/// `pydbm keys DB | head -1`: the reader closes the pipe; pydbm stops without a message
/// and exits 141, as a shell reports a Unix tool ended by SIGPIPE (docs/cli.md).
#[test]
fn a_closed_stdout_ends_output_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let records = (0..30_000u32)
        .map(|i| (format!("key-{i:08}").into_bytes(), b"v".to_vec()))
        .collect();
    let p = dir.path().join("many");
    let script = super::run::set_script(&records);
    ok_in(
        &["apply", "--type", "gnu", "--durability", "none", arg(&p)],
        &script,
    );
    let sq = dir.path().join("sq");
    let count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) SELECT x FROM c";
    for args in [
        &["keys", arg(&p)][..],
        &["dump", arg(&p)],
        &["keys", "--hex", arg(&p)],
        &["sqlite", arg(&sq), count],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pydbm"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pydbm");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).expect("pydbm writes");
        drop(stdout);
        let out = child.wait_with_output().expect("pydbm ran");
        assert_eq!(out.status.code(), Some(141), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

/// What one writing command does at each `--durability`, seen by strace: (fsync and
/// fdatasync calls, opens of a `-journal` file).
fn traced(args: &[&str]) -> Option<(usize, usize)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("trace");
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,openat",
            "-o",
            arg(&log),
        ])
        .arg(env!("CARGO_BIN_EXE_pydbm"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .ok()?;
    assert!(status.success(), "pydbm {args:?} under strace");
    let text = std::fs::read_to_string(&log).expect("strace log");
    let syncs = text
        .lines()
        .filter(|l| l.contains(" fsync(") || l.contains(" fdatasync("))
        .count();
    let journals = text.lines().filter(|l| l.contains("-journal\"")).count();
    Some((syncs, journals))
}

/// `--durability none|process|full` reaches the engine of every writing command: `none`
/// writes no journal and never syncs, `process` (the default) journals without syncing
/// (gnu, ndbm, dumb), `full` syncs more than `process`.
#[test]
fn durability_reaches_every_writing_command() {
    // strace installed and allowed to trace (ptrace may be denied in a container).
    let can_trace = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !can_trace {
        pydbm_engine::live_reference::skip_or_fail("strace (able to trace a child)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let src = make(dir.path(), "src", "dumb", &sample());
    let pickle = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("shelve/tests/fixtures/pickle/corpus/p3/081-nested.p4.pickle");
    let dump = dir.path().join("dump.txt");
    ok(&["dump", arg(&src), "-o", arg(&dump)]);
    let script = dir.path().join("script");
    std::fs::write(&script, b"set 61 62\n").expect("script");
    for f in ["gnu", "ndbm", "dumb", "sqlite3"] {
        let mut seen = Vec::new();
        for level in ["none", "process", "full", "default"] {
            let p = make(dir.path(), &format!("{f}_{level}"), f, &sample());
            let p = arg(&p);
            let conv = dir.path().join(format!("conv_{f}_{level}"));
            let mut commands: Vec<Vec<&str>> = vec![
                vec!["set", p, "k", "v"],
                vec!["del", p, "alpha"],
                vec!["load", "--type", f, p, "-i", arg(&dump)],
                vec!["convert", arg(&src), arg(&conv), "--type", f],
                vec!["shelve", "set", p, "s", arg(&pickle)],
                vec!["shelve", "del", p, "s"],
            ];
            if matches!(f, "gnu" | "dumb") {
                commands.push(vec!["reorganize", p]);
            }
            let mut per_command = Vec::new();
            for mut c in commands {
                if level != "default" {
                    let at = if c[0] == "shelve" { 2 } else { 1 };
                    c.insert(at, level);
                    c.insert(at, "--durability");
                }
                let Some(t) = traced(&c) else {
                    pydbm_engine::live_reference::skip_or_fail("strace that can trace");
                    return;
                };
                per_command.push((c.join(" "), t));
            }
            seen.push(per_command);
        }
        let [none, process, full, default] = &seen[..] else {
            unreachable!("four levels")
        };
        for i in 0..none.len() {
            let (cmd, (n_sync, n_journal)) = &none[i];
            let (_, (p_sync, p_journal)) = &process[i];
            let (_, (f_sync, _)) = &full[i];
            let table = format!("{f}: {cmd}: syncs none {n_sync}, process {p_sync}, full {f_sync}");
            assert!(f_sync > p_sync, "{table}");
            // `none` may still sync where the reference syncs whatever pydbm's durability
            // (libgdbm when it creates a file; `sync()` as shelve's close calls it).
            assert!(n_sync <= p_sync, "{table}");
            if f == "sqlite3" {
                // SQLite's WAL: `process` syncs the log at checkpoints, `none` never.
                assert!(n_sync < p_sync, "{table}");
            } else {
                // pydbm's journal (SQLite keeps its own, whatever the durability).
                assert_eq!(*n_journal, 0, "{table}: none writes no journal");
                assert!(*p_journal > 0, "{table}: process journals");
            }
            assert_eq!(
                default[i].1, process[i].1,
                "{table}: the default is process"
            );
        }
    }
    // apply reads its script from stdin; the same split.
    let apply = |level: &str| {
        let p = dir.path().join(format!("apply_{level}"));
        let log = dir.path().join(format!("apply_{level}.trace"));
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "strace -f -qq -e trace=fsync,fdatasync -o {} {} apply --type gnu --durability {level} {} < {}",
                arg(&log),
                env!("CARGO_BIN_EXE_pydbm"),
                arg(&p),
                arg(&script)
            ))
            .status()
            .expect("sh");
        assert!(out.success());
        std::fs::read_to_string(&log)
            .expect("log")
            .lines()
            .filter(|l| l.contains("sync("))
            .count()
    };
    assert_eq!(apply("none"), 1, "gdbm's sync at creation only");
    assert!(apply("full") > 1);
    let _ = ok_in(
        &[
            "apply",
            "--type",
            "gnu",
            "--durability",
            "none",
            arg(&dir.path().join("x")),
        ],
        b"len\n",
    );
}
