//! Fuzz-target bodies that need the CLI crate, and the replay of every committed fuzz
//! corpus (fuzz/corpus/TARGET/) through the function its target calls, under plain
//! `cargo test`. Compiled only for tests and with the `fuzzing` feature (the fuzz crate).

/// The body of the `cli_script` fuzz target: arbitrary bytes as an `apply` script. The
/// CLI reads scripts as UTF-8; a parsed script names only lines it has.
pub fn cli_script(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    match crate::script::parse(text) {
        Ok(ops) => assert!(ops.iter().all(|(n, _)| (1..=lines).contains(n))),
        Err(e) => assert!((1..=lines).contains(&e.line), "error line {}", e.line),
    }
}

/// A fuzz target: its name (fuzz/fuzz_targets/NAME.rs), the path of the function its body
/// calls, and that function.
#[cfg(test)]
type Target = (&'static str, &'static str, fn(&[u8]));

/// Every fuzz target.
#[cfg(test)]
const TARGETS: &[Target] = &[
    (
        "cli_script",
        "pydbm_cli::fuzz_entry::cli_script",
        cli_script,
    ),
    (
        "dumb_dir",
        "pydbm_formats::dumb::fuzzing::dir_text",
        pydbm_formats::dumb::fuzzing::dir_text,
    ),
    (
        "dumb_open",
        "pydbm_formats::dumb::fuzzing::open_pair",
        pydbm_formats::dumb::fuzzing::open_pair,
    ),
    (
        "gnu_dump",
        "pydbm_formats::gnu::fuzz_entry::fuzz_gnu_dump",
        pydbm_formats::gnu::fuzz_entry::fuzz_gnu_dump,
    ),
    (
        "gnu_open",
        "pydbm_formats::gnu::fuzz_entry::fuzz_gnu_open",
        pydbm_formats::gnu::fuzz_entry::fuzz_gnu_open,
    ),
    ("journal_recovery", "pydbm_engine::recover_in_memory", |d| {
        let _ = pydbm_engine::recover_in_memory(d);
    }),
    (
        "marshal_load",
        "pydbm_shelve::marshal::fuzz_one",
        pydbm_shelve::marshal::fuzz_one,
    ),
    (
        "marshal_show",
        "pydbm_shelve::marshal::fuzz_show",
        pydbm_shelve::marshal::fuzz_show,
    ),
    (
        "ndbm_db_dump",
        "pydbm_formats::ndbm::fuzzing::db_dump_text",
        pydbm_formats::ndbm::fuzzing::db_dump_text,
    ),
    (
        "ndbm_open",
        "pydbm_formats::ndbm::fuzzing::open_bytes",
        pydbm_formats::ndbm::fuzzing::open_bytes,
    ),
    (
        "ndbm_open_any",
        "pydbm_formats::ndbm::fuzzing::open_any_bytes",
        pydbm_formats::ndbm::fuzzing::open_any_bytes,
    ),
    (
        "pickle_dis",
        "pydbm_shelve::pickle::fuzzing::pickle_dis",
        pydbm_shelve::pickle::fuzzing::pickle_dis,
    ),
    (
        "pickle_load",
        "pydbm_shelve::pickle::fuzzing::pickle_load",
        pydbm_shelve::pickle::fuzzing::pickle_load,
    ),
    (
        "pickle_show",
        "pydbm_shelve::pickle::fuzzing::pickle_show",
        pydbm_shelve::pickle::fuzzing::pickle_show,
    ),
    (
        "sqlite_datetime",
        "pydbm_sqlite::datetime::fuzz_converters",
        pydbm_sqlite::datetime::fuzz_converters,
    ),
    ("sqlite_dbm_open", "pydbm_sqlite::dbm::open_bytes", |d| {
        let _ = pydbm_sqlite::dbm::open_bytes(d);
    }),
    ("whichdb", "pydbm_formats::whichdb::fuzz_files", |d| {
        let _ = pydbm_formats::whichdb::fuzz_files(d);
    }),
];

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn fuzz_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
    }

    /// Every target under fuzz/fuzz_targets/ is listed in [`super::TARGETS`] (so a new
    /// target cannot go unreplayed), calls the function listed for it, and has a
    /// non-empty corpus; every corpus input replays without a panic.
    #[test]
    fn every_fuzz_target_replays_its_corpus() {
        let mut names: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
            .expect("fuzz/fuzz_targets is committed")
            .map(|e| {
                let p = e.expect("readable directory entry").path();
                p.file_stem().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        names.sort();
        let listed: Vec<&str> = super::TARGETS.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(
            names, listed,
            "fuzz/fuzz_targets/ and fuzz_entry::TARGETS differ"
        );
        for (name, path, body) in super::TARGETS {
            let src = std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs")))
                .expect("readable target source");
            assert!(
                src.contains(path),
                "fuzz_targets/{name}.rs does not call {path}"
            );
            let dir = fuzz_dir().join("corpus").join(name);
            let mut n = 0;
            for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let p = e.expect("readable directory entry").path();
                let data = std::fs::read(&p).expect("readable corpus file");
                body(&data);
                n += 1;
            }
            assert!(n > 0, "{name}: empty corpus");
        }
    }
}
