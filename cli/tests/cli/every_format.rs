//! Every command of docs/cli.md through the binary, on every format (gnu, ndbm, dumb,
//! sqlite3): round trips checked against the records stored, error exits checked (2 usage,
//! 1 operational).

use std::collections::BTreeSet;
use std::path::Path;

use super::run::{
    arg, content, damaged_copies, dump_lines, fails, fails_in, hex, make, ok, ok_in, ok_text,
    sample, Records, FORMATS,
};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `set`, `get`, `del`, `keys` and `whichdb`, with text and hex arguments and every
/// durability.
#[test]
fn single_operations_on_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    for f in FORMATS {
        let p = dir.path().join(format!("db_{f}"));
        let p = arg(&p);
        ok(&["set", "--type", f, p, "alpha", "1"]);
        // The format of an existing database is detected.
        ok(&["set", p, "beta", "two"]);
        ok(&["set", "--hex", p, "00ff10", "0102ff"]);
        ok(&["set", "--durability", "none", p, "n1", "x"]);
        ok(&["set", "--durability", "full", p, "f1", "y"]);
        ok(&["set", "--durability", "process", p, "p1", "z"]);
        assert_eq!(ok_text(&["get", p, "alpha"]), "1\n", "{f}");
        assert_eq!(ok_text(&["get", "--hex", p, "00ff10"]), "0102ff\n", "{f}");
        assert_eq!(ok_text(&["get", "--hex", p, "616c706861"]), "31\n", "{f}");
        assert_eq!(ok_text(&["whichdb", p]), format!("dbm.{f}\n"));
        let keys = ok(&["keys", p]);
        let keys: BTreeSet<&[u8]> = keys
            .split(|&b| b == b'\n')
            .filter(|k| !k.is_empty())
            .collect();
        let want: BTreeSet<&[u8]> = [
            &b"alpha"[..],
            b"beta",
            b"n1",
            b"f1",
            b"p1",
            &[0, 0xff, 0x10],
        ]
        .into_iter()
        .collect();
        assert_eq!(keys, want, "{f}");
        // `keys --hex` and `dump` list the same keys in the same (the file's) order.
        let hex_keys = ok_text(&["keys", "--hex", p]);
        let dumped: Vec<String> = dump_lines(&ok_text(&["dump", p]))
            .iter()
            .map(|(k, _)| hex(k))
            .collect();
        assert_eq!(hex_keys.lines().collect::<Vec<_>>(), dumped, "{f}");
        ok(&["del", p, "beta"]);
        ok(&["del", "--hex", "--durability", "none", p, "6e31"]);
        let err = fails(&["get", p, "beta"], 1);
        assert!(err.contains("key not found: beta"), "{err}");
        fails(&["del", p, "beta"], 1);
        fails(&["del", "--hex", p, "zz"], 2);
        fails(&["set", "--durability", "sometimes", p, "k", "v"], 2);
        let mut want = Records::new();
        for (k, v) in [
            (&b"alpha"[..], &b"1"[..]),
            (b"f1", b"y"),
            (b"p1", b"z"),
            (&[0, 0xff, 0x10], &[1, 2, 0xff]),
        ] {
            want.insert(k.to_vec(), v.to_vec());
        }
        assert_eq!(content(Path::new(p)), want, "{f}");
        let missing = dir.path().join(format!("missing_{f}"));
        let err = fails(&["get", "--type", f, arg(&missing), "k"], 1);
        assert!(err.contains("missing_"), "{err}");
        fails(&["keys", "--type", f, arg(&missing)], 1);
    }
    // The empty byte string is `-`.
    let p = dir.path().join("empty");
    ok(&["set", "--type", "dumb", "--hex", arg(&p), "6b", "-"]);
    assert_eq!(ok_text(&["get", "--hex", arg(&p), "6b"]), "-\n");
    assert_eq!(ok_text(&["get", arg(&p), "k"]), "\n");
}

/// `dump` (hex, gdbm ASCII, gdbm binary; stdout and `-o`) of every format, loaded (stdin
/// and `-i`) into every format, gives the records stored.
#[test]
fn dump_and_load_round_trip_between_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let records = sample();
    for f in FORMATS {
        let src = make(dir.path(), &format!("src_{f}"), f, &records);
        let hex_dump = ok(&["dump", arg(&src)]);
        assert_eq!(
            dump_lines(std::str::from_utf8(&hex_dump).expect("utf-8"))
                .into_iter()
                .collect::<Records>(),
            records,
            "{f}"
        );
        let to_file = dir.path().join(format!("dump_{f}.txt"));
        ok(&["dump", arg(&src), "-o", arg(&to_file)]);
        assert_eq!(std::fs::read(&to_file).expect("dump file"), hex_dump);
        let ascii = ok(&["dump", "--format", "gdbm-ascii", arg(&src)]);
        assert!(ascii.starts_with(b"# GDBM dump file"), "{f}");
        let binary = ok(&["dump", "--format", "gdbm-binary", arg(&src)]);
        for (name, data) in [("hex", &hex_dump), ("ascii", &ascii), ("binary", &binary)] {
            for g in FORMATS {
                let dst = dir.path().join(format!("load_{f}_{name}_{g}"));
                ok_in(&["load", "--type", g, arg(&dst)], data);
                assert_eq!(content(&dst), records, "{f} {name} dump into {g}");
            }
        }
        let dst = dir.path().join(format!("load_file_{f}"));
        ok(&[
            "load",
            "--type",
            f,
            "--durability",
            "full",
            arg(&dst),
            "-i",
            arg(&to_file),
        ]);
        assert_eq!(content(&dst), records, "{f} from -i");
        let err = fails_in(&["load", "--type", f, arg(&dst)], b"6b 76\nzz 00\n", 1);
        assert!(err.contains("line 2"), "{err}");
    }
    fails(
        &[
            "load",
            "--type",
            "gnu",
            arg(&dir.path().join("x")),
            "-i",
            "/nonexistent/dump",
        ],
        1,
    );
    fails(&["dump", "--format", "yaml", arg(&dir.path().join("x"))], 2);
}

/// `load` reads Berkeley DB's `db_dump -p` text (made by `db5.3_dump -p` from the corpus
/// files Python's `dbm.ndbm` wrote) into every format: the records are the ones pydbm reads
/// from the `.db` file itself.
#[test]
fn load_reads_berkeley_db_dump_text_into_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus = root().join("formats/tests/fixtures/ndbm/corpus");
    for name in ["small", "bigvals"] {
        std::fs::copy(
            corpus.join(format!("{name}.db")),
            dir.path().join(format!("{name}.db")),
        )
        .expect("copy corpus file");
        let want = content(&dir.path().join(name));
        assert!(!want.is_empty());
        let dump = corpus.join(format!("{name}.dump.txt"));
        for f in FORMATS {
            let dst = dir.path().join(format!("{name}_{f}"));
            ok(&["load", "--type", f, arg(&dst), "-i", arg(&dump)]);
            assert_eq!(content(&dst), want, "{name} into {f}");
        }
    }
}

/// `apply`: every script operation on every format, with `--flag c|n|w` and `--durability`.
#[test]
fn apply_runs_every_operation_on_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = b"# two records\nset 6b31 7631\nset 6b32 7632\n\nget 6b31\nget 6e6f6e65\nlen\nkeys\nsync\nreopen\ndel 6b31\nget 6b31\nlen\nreorganize\nget 6b32\n";
    for f in FORMATS {
        let p = dir.path().join(format!("apply_{f}"));
        let args = ["apply", "--type", f, "--durability", "full", arg(&p)];
        let printed_before_reorganize = |out: &[u8]| {
            let text = std::str::from_utf8(out).expect("utf-8").to_string();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[..3], ["7631", "None", "2"], "{f}: {text}");
            let keys: BTreeSet<&str> = lines[3].split(' ').collect();
            assert_eq!(keys, BTreeSet::from(["6b31", "6b32"]), "{f}");
            assert_eq!(lines[4..6], ["None", "1"], "{f}: {text}");
            lines.len()
        };
        if matches!(f, "gnu" | "dumb") {
            let out = ok_in(&args, script);
            assert_eq!(printed_before_reorganize(&out), 7, "{f}");
            assert!(out.ends_with(b"\n7632\n"), "{f}");
        } else {
            // dbm.ndbm and dbm.sqlite3 have no reorganize(): the error names the line, and
            // what the earlier lines printed is still printed.
            let out = super::run::pydbm_with(&args, script);
            assert_eq!(out.code, Some(1), "{f}: {}", out.stderr);
            assert!(out.stderr.contains("script line 14:"), "{}", out.stderr);
            assert_eq!(printed_before_reorganize(&out.stdout), 6, "{f}");
        }
        let mut want = Records::new();
        want.insert(b"k2".to_vec(), b"v2".to_vec());
        assert_eq!(content(&p), want, "{f}");
        // 'w' keeps what is there; 'n' starts empty; 'c' creates.
        ok_in(
            &["apply", "--type", f, "--flag", "w", arg(&p)],
            b"set 6b33 7633\n",
        );
        assert_eq!(content(&p).len(), 2, "{f}");
        assert_eq!(
            ok_in(
                &[
                    "apply",
                    "--type",
                    f,
                    "--flag",
                    "n",
                    "--durability",
                    "none",
                    arg(&p)
                ],
                b"len\n"
            ),
            b"0\n"
        );
        let fresh = dir.path().join(format!("fresh_{f}"));
        fails_in(
            &["apply", "--type", f, "--flag", "w", arg(&fresh)],
            b"len\n",
            1,
        );
        assert_eq!(
            ok_in(&["apply", "--type", f, arg(&fresh)], b"set 61 62\nlen\n"),
            b"1\n"
        );
        let err = fails_in(&["apply", "--type", f, arg(&fresh)], b"len\ndel 7a\n", 1);
        assert!(err.contains("script line 2: key not found: 7a"), "{err}");
        let err = fails_in(&["apply", "--type", f, arg(&fresh)], b"set 61\n", 2);
        assert!(err.contains("script line 1:"), "{err}");
    }
    fails_in(&["apply", arg(&dir.path().join("x"))], b"", 2);
}

/// `convert` between every pair of formats; an existing destination is refused unless
/// `--force`; a source converted onto itself is always refused.
#[test]
fn convert_between_every_pair_of_formats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let records = sample();
    for f in FORMATS {
        let src = make(dir.path(), &format!("src_{f}"), f, &records);
        for g in FORMATS {
            let dst = dir.path().join(format!("conv_{f}_{g}"));
            ok(&["convert", arg(&src), arg(&dst), "--type", g]);
            assert_eq!(content(&dst), records, "{f} -> {g}");
            assert_eq!(ok_text(&["whichdb", arg(&dst)]), format!("dbm.{g}\n"));
            // An existing destination: refused, and left as it was.
            ok(&["set", arg(&dst), "extra", "1"]);
            let err = fails(&["convert", arg(&src), arg(&dst), "--type", g], 1);
            assert!(
                err.contains("already exists") && err.contains("--force"),
                "{err}"
            );
            assert_eq!(ok_text(&["get", arg(&dst), "extra"]), "1\n");
            ok(&[
                "convert",
                "--force",
                "--durability",
                "none",
                arg(&src),
                arg(&dst),
                "--type",
                g,
            ]);
            assert_eq!(content(&dst), records, "{f} -> {g} --force");
        }
        let err = fails(
            &["convert", "--force", arg(&src), arg(&src), "--type", f],
            1,
        );
        assert!(err.contains("same database"), "{err}");
        assert_eq!(content(&src), records, "{f} untouched");
    }
    let missing = dir.path().join("missing");
    fails(
        &[
            "convert",
            arg(&missing),
            arg(&dir.path().join("out")),
            "--type",
            "gnu",
        ],
        1,
    );
    let err = fails(&["convert", arg(&missing), arg(&dir.path().join("out"))], 2);
    assert!(err.contains("--type"), "{err}");
}

/// `check`, `stats`, `recover` and `reorganize` on sound files of every format.
#[test]
fn check_stats_recover_reorganize_on_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let records = sample();
    for f in FORMATS {
        let p = make(dir.path(), &format!("db_{f}"), f, &records);
        assert_eq!(ok_text(&["check", arg(&p)]), "ok\n", "{f}");
        let stats = ok_text(&["stats", arg(&p)]);
        assert!(
            stats.starts_with(&format!("format: dbm.{f}")),
            "{f}: {stats}"
        );
        assert!(stats.lines().any(|l| l == "records: 5"), "{f}: {stats}");
        // Nothing to recover: nothing changes and no copy is left behind.
        ok(&["recover", arg(&p)]);
        assert_eq!(
            damaged_copies(dir.path()),
            Vec::<std::path::PathBuf>::new(),
            "{f}"
        );
        assert_eq!(content(&p), records, "{f}");
        if matches!(f, "gnu" | "dumb") {
            ok(&["reorganize", "--durability", "full", arg(&p)]);
            assert_eq!(content(&p), records, "{f}");
            assert_eq!(ok_text(&["check", arg(&p)]), "ok\n", "{f}");
        } else {
            let err = fails(&["reorganize", arg(&p)], 1);
            assert!(err.contains("unsupported: reorganize"), "{err}");
        }
        fails(&["check", "--type", f, arg(&dir.path().join("nothing"))], 1);
        fails(&["stats", "--type", f, arg(&dir.path().join("nothing"))], 1);
    }
    fails(&["check"], 2);
}

/// Damaged files: `check` names each problem and exits 1; `recover` salvages gnu and dumb
/// files (the damaged files kept as NAME.damaged-TIMESTAMP, named in its output) so that
/// `check` passes again; ndbm and sqlite3 files, which `recover` does not rebuild, are left
/// as they were with no copy.
#[test]
fn check_and_recover_damaged_files_of_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let records: Records = (1..=40u32)
        .map(|i| {
            (
                format!("{i:04x}").into_bytes(),
                format!("{i:04x}aaaa").into_bytes(),
            )
        })
        .collect();
    // Where each format's records are: gdbm's first data block after the 4096-byte
    // directory and bucket; a Berkeley DB hash page's item offsets; SQLite's table page;
    // the dumb index (a line that is not an entry).
    for (f, file, offset) in [
        ("gnu", "", Some(12288 + 16)),
        ("ndbm", ".db", Some(4096 + 26)),
        ("sqlite3", "", Some(4096 + 8)),
        ("dumb", ".dir", None),
    ] {
        let p = make(dir.path(), &format!("bad_{f}"), f, &records);
        let damaged = dir.path().join(format!("bad_{f}{file}"));
        let mut bytes = std::fs::read(&damaged).expect("read");
        match offset {
            Some(at) => bytes[at..at + 40].fill(0xff),
            None => bytes.extend_from_slice(b"garbage line\n"),
        }
        std::fs::write(&damaged, &bytes).expect("damage the file");
        let out = super::run::pydbm_with(&["check", arg(&p)], b"");
        assert_eq!(out.code, Some(1), "{f}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{f}: {}", out.stderr);
        let report = ok_text(&["recover", arg(&p)]);
        let copies = damaged_copies(dir.path());
        if matches!(f, "gnu" | "dumb") {
            let last = report.lines().last().expect("recover reports");
            assert!(
                last.starts_with("kept a copy of the files as they were before recovery: "),
                "{f}: {report}"
            );
            let copy = copies
                .iter()
                .find(|c| arg(c).ends_with(file) && arg(c).contains(&format!("bad_{f}.damaged-")))
                .unwrap_or_else(|| panic!("{f}: a copy of {file} in {copies:?}"));
            assert!(last.contains(arg(copy)), "{last}");
            assert_eq!(
                std::fs::read(copy).expect("copy"),
                bytes,
                "{f}: the damaged bytes"
            );
            assert_eq!(ok_text(&["check", arg(&p)]), "ok\n", "{f} after recover");
            let salvaged = content(&p);
            assert!(!salvaged.is_empty(), "{f}");
            // Keys are checked (gdbm stores their hash); damaged value bytes are not.
            for k in salvaged.keys() {
                assert!(
                    records.contains_key(k),
                    "{f}: salvaged keys are stored ones"
                );
            }
            for c in copies {
                std::fs::remove_file(c).expect("remove copy");
            }
        } else {
            assert!(
                copies.is_empty(),
                "{f}: nothing changed, no copy: {copies:?}"
            );
            assert_eq!(
                std::fs::read(&damaged).expect("read"),
                bytes,
                "{f} left alone"
            );
        }
    }
}

/// `crashtest` on every format: a short workload, 0 violations.
#[test]
fn crashtest_on_every_format() {
    for f in FORMATS {
        let text = ok_text(&["crashtest", "--type", f, "--ops", "8", "--seed", "5"]);
        let last = text.lines().last().expect("crashtest prints");
        let points: u64 = last
            .strip_prefix("crash points: ")
            .and_then(|r| r.strip_suffix(", violations: 0"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{f}: {last}"));
        assert!(points > 0, "{f}");
    }
    fails(&["crashtest", "--ops", "8"], 2);
}

/// A pickle fixture of the corpus (made by CPython with `pickle.dumps(value, N)`).
fn pickle_file(name: &str, protocol: u8) -> std::path::PathBuf {
    root().join(format!(
        "shelve/tests/fixtures/pickle/corpus/p3/{name}.p{protocol}.pickle"
    ))
}

/// CPython 3.13's `repr` and `pickletools.dis` text of a corpus pickle (manifest.tsv).
fn manifest(file: &str) -> (String, String) {
    let text = std::fs::read_to_string(root().join("shelve/tests/fixtures/pickle/manifest.tsv"))
        .expect("manifest.tsv");
    let line = text
        .lines()
        .find(|l| l.split('\t').next() == Some(file))
        .unwrap_or_else(|| panic!("{file} in manifest.tsv"));
    let f: Vec<&str> = line.split('\t').collect();
    let text = |h: &str| String::from_utf8(super::run::unhex(h)).expect("utf-8");
    (text(f[2]), text(f[3]))
}

/// `shelve set|get|keys|del` on every format, checked against CPython's reprs and pickle
/// bytes; and `shelve keys|get` on the shelves CPython wrote with each format.
#[test]
fn shelve_commands_on_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (nested_repr, _) = manifest("p3/081-nested.p4.pickle");
    let (dict_repr, _) = manifest("p3/068-d_mixed_keys.p4.pickle");
    let nested = pickle_file("081-nested", 4);
    let dict = std::fs::read(pickle_file("068-d_mixed_keys", 4)).expect("pickle");
    for f in FORMATS {
        let p = dir.path().join(format!("shelf_{f}"));
        let p = arg(&p);
        ok(&["shelve", "set", "--type", f, p, "nested", arg(&nested)]);
        ok_in(&["shelve", "set", "--durability", "full", p, "ключ"], &dict);
        assert_eq!(
            ok_text(&["shelve", "get", p, "nested"]),
            format!("{nested_repr}\n")
        );
        assert_eq!(
            ok_text(&["shelve", "get", p, "ключ"]),
            format!("{dict_repr}\n")
        );
        let keys: BTreeSet<String> = ok_text(&["shelve", "keys", p])
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["nested".to_string(), "ключ".to_string()])
        );
        // Stored as shelve stores it: pickle.dumps(value, 4), CPython's bytes.
        assert_eq!(
            super::run::unhex(ok_text(&["get", "--hex", p, &hex(b"nested")]).trim_end()),
            std::fs::read(&nested).expect("pickle")
        );
        ok(&[
            "shelve",
            "set",
            "--protocol",
            "2",
            p,
            "nested",
            arg(&nested),
        ]);
        assert_eq!(
            super::run::unhex(ok_text(&["get", "--hex", p, &hex(b"nested")]).trim_end()),
            std::fs::read(pickle_file("081-nested", 2)).expect("pickle")
        );
        ok(&["shelve", "del", "--durability", "none", p, "nested"]);
        fails(&["shelve", "get", p, "nested"], 1);
        fails(&["shelve", "del", p, "nested"], 1);
        fails(
            &["shelve", "set", "--protocol", "9", p, "k", arg(&nested)],
            2,
        );
        fails_in(&["shelve", "set", p, "k"], b"\x80\x04not a pickle", 1);
    }
    // Shelves CPython wrote (shelve/tests/fixtures/shelve/make.py, make313.py) with each
    // format, against the reprs CPython printed (records.tsv).
    let fixtures = root().join("shelve/tests/fixtures/shelve");
    let tsv = std::fs::read_to_string(fixtures.join("records.tsv")).expect("records.tsv");
    let want: Vec<(String, &str)> = tsv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.splitn(3, '\t').collect();
            (
                String::from_utf8(super::run::unhex(f[0])).expect("utf-8 key"),
                f[2],
            )
        })
        .collect();
    for (sub, files) in [
        ("gnu", &["shelf"][..]),
        ("ndbm", &["shelf.db"][..]),
        ("dumb", &["shelf.dat", "shelf.dir"][..]),
        ("py313/sqlite3", &["shelf"][..]),
    ] {
        let d = dir.path().join(sub.replace('/', "_"));
        std::fs::create_dir(&d).expect("mkdir");
        for file in files {
            std::fs::copy(fixtures.join(sub).join(file), d.join(file)).expect("copy shelf");
        }
        let shelf = d.join("shelf");
        let keys: BTreeSet<String> = ok_text(&["shelve", "keys", arg(&shelf)])
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(keys, want.iter().map(|w| w.0.clone()).collect(), "{sub}");
        for (k, r) in &want {
            assert_eq!(
                ok_text(&["shelve", "get", arg(&shelf), k]),
                format!("{r}\n"),
                "{sub} {k}"
            );
        }
    }
}

/// `pickle dis|show|recode` against CPython's output for corpus pickles (manifest.tsv and
/// the corpus files themselves), from a file and from stdin.
#[test]
fn pickle_commands() {
    for name in [
        "081-nested",
        "068-d_mixed_keys",
        "040-s_nonbmp",
        "017-int_10p100",
    ] {
        for protocol in 0..=5u8 {
            let file = pickle_file(name, protocol);
            let (repr, dis) = manifest(&format!("p3/{name}.p{protocol}.pickle"));
            assert_eq!(
                ok_text(&["pickle", "show", arg(&file)]),
                format!("{repr}\n")
            );
            assert_eq!(
                ok_text(&["pickle", "dis", arg(&file)]),
                dis,
                "{name} p{protocol}"
            );
            let data = std::fs::read(&file).expect("pickle");
            assert_eq!(
                ok_in(&["pickle", "show"], &data),
                format!("{repr}\n").into_bytes()
            );
            for to in 0..=5u8 {
                let want = std::fs::read(pickle_file(name, to)).expect("pickle");
                let p = to.to_string();
                assert_eq!(
                    ok(&["pickle", "recode", "--protocol", &p, arg(&file)]),
                    want,
                    "{name} {protocol}->{to}"
                );
            }
        }
    }
    let data = std::fs::read(pickle_file("081-nested", 4)).expect("pickle");
    let err = fails_in(&["pickle", "show"], &data[..data.len() / 2], 1);
    assert!(err.contains("offset") || err.contains("pickle"), "{err}");
    fails(
        &[
            "pickle",
            "recode",
            "--protocol",
            "6",
            arg(&pickle_file("081-nested", 4)),
        ],
        2,
    );
    fails(&["pickle", "show", "/nonexistent/pickle"], 1);
    fails(&["pickle", "frob"], 2);
}

/// `marshal show|recode` from a file and stdin against CPython's output
/// (shelve/tests/fixtures/marshal/expected-3.13.tsv, made by CPython 3.13: `repr`, and `marshal.dumps(loads(data), V)`
/// for V = 0..2, where no reference flags make 3.11's bytes differ from 3.13's).
#[test]
fn marshal_commands() {
    let fixtures = root().join("shelve/tests/fixtures/marshal");
    let tsv =
        std::fs::read_to_string(fixtures.join("expected-3.13.tsv")).expect("expected-3.13.tsv");
    let expected = |file: &str, column: &str| -> String {
        tsv.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.splitn(3, '\t').collect();
                (f.len() == 3 && f[0] == file && f[1] == column).then(|| f[2].to_string())
            })
            .unwrap_or_else(|| panic!("{file} {column} in expected.tsv"))
    };
    for file in [
        "corpus-044-nested.v0.marshal",
        "corpus-044-nested.v4.marshal",
        "corpus-000-none.v2.marshal",
    ] {
        let path = fixtures.join("inputs").join(file);
        let repr = expected(file, "repr");
        assert_eq!(
            ok_text(&["marshal", "show", arg(&path)]),
            format!("{repr}\n")
        );
        let data = std::fs::read(&path).expect("marshal");
        assert_eq!(
            ok_in(&["marshal", "show"], &data),
            format!("{repr}\n").into_bytes()
        );
        for v in 0..=2 {
            let want = super::run::unhex(&expected(file, &format!("v{v}")));
            let v = v.to_string();
            assert_eq!(
                ok(&["marshal", "recode", "--version", &v, arg(&path)]),
                want,
                "{file} v{v}"
            );
        }
    }
    let v4 = fixtures.join("inputs/corpus-044-nested.v4.marshal");
    let data = std::fs::read(&v4).expect("marshal");
    fails(&["marshal", "recode", "--version", "6", arg(&v4)], 2);
    fails_in(&["marshal", "show"], &data[..data.len() / 2], 1);
}

/// `sqlite PATH SQL` on a dbm.sqlite3 file made by `pydbm set`: reads its table, and a
/// failing statement exits 1.
#[test]
fn sqlite_command_reads_a_dbm_sqlite3_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = make(dir.path(), "s", "sqlite3", &sample());
    assert_eq!(
        ok_text(&["sqlite", arg(&p), "SELECT count(*) FROM Dict"]),
        "(5,)\n"
    );
    assert_eq!(
        ok_text(&[
            "sqlite",
            arg(&p),
            "SELECT value FROM Dict WHERE key = CAST('alpha' AS BLOB)"
        ]),
        "(b'1',)\n"
    );
    let out = super::run::pydbm_with(&["sqlite", arg(&p), "SELECT * FROM nosuch"], b"");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
}

/// A real writer killed with SIGKILL while its journal exists: `recover` leaves a committed
/// prefix of the writes, keeps the files as they were (journal included, renamed
/// `COPY.journal` so that nothing treats it as hot), and opening the copy never touches the
/// recovered database.
#[test]
fn recover_after_a_killed_writer_keeps_an_inert_copy_of_its_journal() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("temp dir");
    let keys: Vec<Vec<u8>> = (0..20_000u32)
        .map(|i| format!("k{i:06}").into_bytes())
        .collect();
    let script: String = keys
        .iter()
        .map(|k| format!("set {} {}\n", hex(k), hex(&[7u8; 40])))
        .collect();
    // The file each format journals, as a suffix of the database's name.
    // ... and how long the writer runs after its journal appears.
    for (f, file, run_ms) in [("gnu", "", 60), ("ndbm", ".db", 0), ("dumb", ".dat", 150)] {
        let p = dir.path().join(format!("killed_{f}"));
        let journal = dir.path().join(format!("killed_{f}{file}-journal"));
        // The database exists before the writer starts (a kill while it is being created
        // leaves no database to recover); its clean close leaves no journal.
        ok(&[
            "set",
            "--type",
            f,
            "--hex",
            arg(&p),
            &hex(&keys[0]),
            &hex(&[7u8; 40]),
        ]);
        assert!(!journal.exists(), "{f}");
        // The acknowledging writer commits each set on its own (`apply` batches them into
        // one transaction, whose journal exists only while it commits).
        let mut child = Command::new(env!("CARGO_BIN_EXE_pydbm"))
            .args([
                "crashtest",
                "--type",
                f,
                "--ack-writer",
                arg(&p),
                "--flag",
                "w",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pydbm apply");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(script.as_bytes())
            .expect("write the script");
        let start = Instant::now();
        while !journal.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{f}: no journal appeared"
            );
            assert!(
                child.try_wait().expect("poll").is_none(),
                "{f}: the writer ended first"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(run_ms));
        child.kill().expect("SIGKILL the writer");
        child.wait().expect("reap the writer");
        let journal_bytes = std::fs::read(&journal).expect("the killed writer's journal");
        let report = ok_text(&["recover", arg(&p)]);
        let copies = damaged_copies(dir.path());
        let mine = format!("killed_{f}.damaged-");
        let kept = copies
            .iter()
            .find(|c| arg(c).contains(&mine) && arg(c).ends_with(&format!("{file}.journal")))
            .unwrap_or_else(|| panic!("{f}: the journal is kept: {report} {copies:?}"));
        assert!(
            std::fs::read(kept).expect("kept journal") == journal_bytes,
            "{f}: the kept journal holds the killed writer's bytes"
        );
        assert!(report.contains(arg(kept)), "{f}: {report}");
        assert_eq!(ok_text(&["check", arg(&p)]), "ok\n", "{f}: {report}");
        let got: Vec<Vec<u8>> = content(&p).into_keys().collect();
        assert_eq!(
            got,
            keys[..got.len()],
            "{f}: a committed prefix of the sets"
        );
        // Opening the copy (whatever it holds) leaves the recovered database as it is.
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|x| arg(x).starts_with(arg(&p)) && !arg(x).contains(".damaged-"))
            .map(|x| (std::fs::read(&x).expect("read"), x))
            .collect();
        let copy_name = arg(kept)
            .strip_suffix(&format!("{file}.journal"))
            .expect("COPY + suffix + .journal");
        let _ = super::run::pydbm_with(&["keys", "--type", f, copy_name], b"");
        for (bytes, x) in files {
            assert_eq!(
                std::fs::read(&x).expect("read"),
                bytes,
                "{f}: {}",
                x.display()
            );
        }
        assert!(
            !damaged_copies(dir.path())
                .iter()
                .any(|c| arg(c).ends_with("-journal")),
            "{f}: no hot journal beside the copy"
        );
    }
}
