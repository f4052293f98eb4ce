//! `pydbm::open` and `pydbm::whichdb`: Python's `dbm.open(file, flag, mode)` and
//! `dbm.whichdb(file)` over every format in the registry.
//!
//! python-formats spec §6: unless the flag contains `n`, `whichdb` decides the format of an
//! existing database; a missing one is created with the default format when the flag
//! contains `c` or `n`, else it is an error. pydbm's default format is CPython 3.13's: the
//! first of `dbm.sqlite3`, `dbm.gnu`, `dbm.ndbm`, `dbm.dumb` that pydbm implements
//! ([`crate::registry::MODULES`] order), so `pydbm::open(new, "c")` makes the same kind of
//! file as `dbm.open(new, 'c')` on 3.13.

use std::path::Path;

use pydbm_engine::{Dbm, Error, Format, OpenMode, OpenOptions, OsVfs, Result};
use pydbm_formats::whichdb::whichdb as whichdb_on;

use crate::registry::{format_for, MODULES};
use pydbm_shelve::shelf::{Shelf, ShelfOptions};

/// `dbm.whichdb(path)` as the `pydbm whichdb` command prints it: `None` when `path` cannot
/// be opened, `Some("")` for an unknown format, else the module name. CPython 3.13's answer,
/// except that gdbm files CPython cannot name but pydbm opens (numsync, byte-swapped) are
/// `Some("dbm.gnu")` (see `pydbm_formats::whichdb`).
///
/// An `etcd://` address answers `Some("etcd")` from its form alone (no request is made;
/// docs/etcd.md).
///
/// ```
/// use pydbm::formats::{dumb::DumbDb, gnu};
/// use pydbm::{Dbm, OpenOptions};
///
/// let dir = tempfile::tempdir()?;
/// gnu::open(&dir.path().join("g"), &OpenOptions::from_flag("c")?)?.close()?;
/// DumbDb::open(&dir.path().join("d"), &OpenOptions::from_flag("c")?)?.close()?;
/// std::fs::write(dir.path().join("text"), "not a database")?;
/// assert_eq!(pydbm::whichdb(dir.path().join("g"))?, Some("dbm.gnu"));
/// assert_eq!(pydbm::whichdb(dir.path().join("d"))?, Some("dbm.dumb")); // d.dat + d.dir
/// assert_eq!(pydbm::whichdb(dir.path().join("text"))?, Some(""));
/// assert_eq!(pydbm::whichdb(dir.path().join("missing"))?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn whichdb(path: impl AsRef<Path>) -> Result<Option<&'static str>> {
    if crate::remote::is_etcd_address(path.as_ref()) {
        return Ok(Some(crate::remote::ETCD_MODULE));
    }
    whichdb_on(&OsVfs::new(), path.as_ref())
}

/// The module a new database gets: the first of CPython 3.13's order that pydbm implements,
/// or `None` when no format is registered.
pub fn default_module() -> Option<&'static str> {
    MODULES.iter().copied().find(|m| format_for(m).is_some())
}

/// `dbm.open(path, flag)` with the default mode `0o666`. See [`open_with_mode`].
///
/// This is the Python-shaped entry point: a flag string, and CPython 3.13's order for a new
/// database (`dbm.sqlite3` first, whatever the name). From Rust, [`crate::Options`] opens the
/// format you name (`open_gnu`, …) or finds it from the file or its extension.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let mut db = pydbm::open(dir.path().join("new.gdbm"), "c")?;
/// assert_eq!(db.module(), "dbm.sqlite3"); // Python 3.13's default, despite the name
/// db.insert(b"k", b"v")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open(path: impl AsRef<Path>, flag: &str) -> Result<Box<dyn Dbm>> {
    open_with_mode(path, flag, 0o666)
}

/// `dbm.open(path, flag, mode)`: opens the database at `path` (for dumb and ndbm, the name
/// without extension), choosing its format as CPython does.
///
/// `flag` is `r`, `w`, `c` or `n`, optionally followed by gdbm's `f`, `s`, `u`. Errors, in
/// CPython's words where it has them:
/// - [`Error::BadArgument`] for a malformed flag;
/// - [`Error::NotFound`] "db file doesn't exist; use 'c' or 'n' flag to create a new db" for
///   `r`/`w` on a missing database;
/// - [`Error::Unsupported`] "db type could not be determined" when whichdb does not know
///   the file, and "db type is dbm.X, but the module is not available" when pydbm does not
///   implement that format (or no format at all for a new database);
/// - whatever the format's own `open` reports.
pub fn open_with_mode(path: impl AsRef<Path>, flag: &str, mode: u32) -> Result<Box<dyn Dbm>> {
    let path = path.as_ref();
    let mut opts = OpenOptions::from_flag(flag)?;
    opts.file_mode = mode;
    let format = choose_format(path, opts.mode)?;
    format.open(path, &opts)
}

/// `shelve.open(path, flag, protocol, writeback)` (CPython's `DbfilenameShelf`): a
/// [`Shelf`] over `pydbm::open(path, flag)`, with `opts` giving the protocol (default 4, as
/// CPython 3.10–3.13) and writeback. Errors are [`open`]'s.
///
/// ```
/// use pydbm::shelve::shelf::ShelfOptions;
///
/// let dir = tempfile::tempdir()?;
/// // The file name does not choose the format: like CPython 3.13's shelve.open, a new
/// // database is dbm.sqlite3 (use a format's own `open` to choose one).
/// let path = dir.path().join("prefs.gdbm");
/// let mut shelf = pydbm::open_shelf(&path, "c", ShelfOptions::default())?;
/// shelf.insert("volume", &11u8)?;
/// shelf.insert("themes", &vec!["dark", "light"])?;
/// shelf.close()?;
/// assert_eq!(pydbm::whichdb(&path)?, Some("dbm.sqlite3"));
///
/// let mut again = pydbm::open_shelf(&path, "r", ShelfOptions::default())?;
/// assert_eq!(again.get::<u8>("volume")?, Some(11));
/// assert_eq!(again.get::<Vec<String>>("themes")?, Some(vec!["dark".into(), "light".into()]));
/// // The raw record is the pickle CPython writes: pickle.dumps(11, 4)
/// let mut raw = pydbm::open(&path, "r")?;
/// assert_eq!(raw.get(b"volume")?, Some(b"\x80\x04K\x0b.".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_shelf(path: impl AsRef<Path>, flag: &str, opts: ShelfOptions) -> Result<Shelf> {
    Ok(Shelf::from_box(open(path, flag)?, opts))
}

/// The format `dbm.open` would use for `path` under `mode` (spec §6); for an `etcd://`
/// address, the etcd backend (or the error of a build without it).
fn choose_format(path: &Path, mode: OpenMode) -> Result<&'static dyn Format> {
    if let Some(format) = crate::remote::address_format(path) {
        return format;
    }
    let found = if mode == OpenMode::New {
        None
    } else {
        whichdb(path)?
    };
    match found {
        None => {
            if !matches!(mode, OpenMode::Create | OpenMode::New) {
                return Err(Error::NotFound {
                    what: format!(
                        "{} (db file doesn't exist; use 'c' or 'n' flag to create a new db)",
                        path.display()
                    ),
                });
            }
            default_module().and_then(format_for).ok_or_else(|| {
                Error::unsupported(path, "no dbm format is available to create a new db")
            })
        }
        Some("") => Err(Error::unsupported(path, "db type could not be determined")),
        Some(module) => format_for(module).ok_or_else(|| {
            Error::unsupported(
                path,
                format!("db type is {module}, but the module is not available"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    use pydbm_engine::live_reference::{python_or_skip, Python};
    use pydbm_shelve::pickle::{self, LoadOptions};

    fn shelve_fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("shelve/tests/fixtures/shelve")
    }

    /// (key, CPython's repr) of every record of the shelve fixtures.
    fn fixture_reprs() -> Vec<(String, String)> {
        let text =
            std::fs::read_to_string(shelve_fixtures().join("records.tsv")).expect("records.tsv");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let mut f = l.splitn(3, '\t');
                let k = f.next().expect("key hex");
                let key = (0..k.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&k[i..i + 2], 16).expect("hex"))
                    .collect::<Vec<u8>>();
                let _ = f.next();
                (
                    String::from_utf8(key).expect("utf-8"),
                    f.next().expect("repr").to_string(),
                )
            })
            .collect()
    }

    /// Shelves CPython 3.11 wrote with dbm.dumb and dbm.gnu (make.py) and CPython 3.13 wrote
    /// with dbm.sqlite3 (its `shelve.open` default) and dbm.dumb (make313.py) open through
    /// `open_shelf` (whichdb picks the format) and give the values CPython printed.
    #[test]
    fn reads_cpython_shelves_from_files() {
        let want = fixture_reprs();
        for (dir, module, files) in [
            ("dumb", "dumb", &["shelf.dat", "shelf.dir"][..]),
            ("gnu", "gnu", &["shelf"][..]),
            ("py313/sqlite3", "sqlite3", &["shelf"][..]),
            ("py313/dumb", "dumb", &["shelf.dat", "shelf.dir"][..]),
        ] {
            let module = format!("dbm.{module}");
            // Every format is registered: a missing one fails instead of skipping.
            assert!(
                format_for(&module).is_some(),
                "{module} is not in pydbm's registry"
            );
            let tmp = tempfile::tempdir().expect("tempdir");
            for f in files {
                std::fs::copy(shelve_fixtures().join(dir).join(f), tmp.path().join(f))
                    .expect("copy fixture");
            }
            let mut sh = open_shelf(tmp.path().join("shelf"), "r", ShelfOptions::default())
                .expect("open CPython's shelf");
            let mut keys = sh.keys().expect("keys");
            keys.sort();
            let mut want_keys: Vec<String> = want.iter().map(|w| w.0.clone()).collect();
            want_keys.sort();
            assert_eq!(keys, want_keys, "{dir}");
            for (k, r) in &want {
                let v = sh.get_pickle(k).expect("get").expect("present");
                assert_eq!(&pickle::repr::repr(&v).expect("repr"), r, "{dir} {k}");
            }
            sh.close().expect("close");
        }
    }

    /// pydbm writes a shelf through each registered format CPython 3.11 can open; CPython's
    /// `shelve.open` reads every value back equal to what CPython itself wrote.
    #[test]
    fn cpython_reads_pydbm_shelves() {
        cpython_reads_pydbm_shelves_with(
            Python::Gdbm,
            "import shelve, dbm.gnu, dbm.dumb, dbm.ndbm",
            &["dbm.dumb", "dbm.gnu", "dbm.ndbm"],
        );
    }

    /// The same against live CPython 3.13 (issue 7) with the backends its build has:
    /// dbm.sqlite3 (3.13's default) and dbm.dumb.
    #[test]
    fn cpython313_reads_pydbm_shelves() {
        cpython_reads_pydbm_shelves_with(
            Python::Py313,
            "import shelve, dbm.sqlite3, dbm.dumb",
            &["dbm.sqlite3", "dbm.dumb"],
        );
    }

    fn cpython_reads_pydbm_shelves_with(which: Python, probe: &str, modules: &[&str]) {
        let Some(py) = python_or_skip(which, probe) else {
            return;
        };
        let py = py.as_path();
        let text = std::fs::read_to_string(shelve_fixtures().join("records.tsv")).expect("tsv");
        for &module in modules {
            let format =
                format_for(module).unwrap_or_else(|| panic!("{module} is not in pydbm's registry"));
            let tmp = tempfile::tempdir().expect("tempdir");
            let path = tmp.path().join("shelf");
            let mut opts = OpenOptions::from_flag("n").expect("flag");
            opts.file_mode = 0o666;
            let db = format.open(&path, &opts).expect("create");
            let mut sh = Shelf::from_box(db, ShelfOptions::default());
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let mut f = line.splitn(3, '\t');
                let unhex = |h: &str| {
                    (0..h.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
                        .collect::<Vec<u8>>()
                };
                let key = String::from_utf8(unhex(f.next().expect("k"))).expect("utf-8");
                let value = pickle::loads(&unhex(f.next().expect("v")), &LoadOptions::default())
                    .expect("loads");
                sh.insert_pickle(&key, &value).expect("insert");
            }
            sh.close().expect("close");
            let script = "import shelve, sys\nwith shelve.open(sys.argv[1], 'r') as sh:\n    for k in sorted(sh):\n        print(k.encode().hex(), repr(sh[k]))\n";
            let out = Command::new(py)
                .arg("-c")
                .arg(script)
                .arg(&path)
                .output()
                .expect("python runs");
            assert!(
                out.status.success(),
                "{module}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut want: Vec<String> = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| {
                    let mut f = l.splitn(3, '\t');
                    let k = f.next().expect("k").to_string();
                    let _ = f.next();
                    format!("{k} {}", f.next().expect("repr"))
                })
                .collect();
            want.sort();
            let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            got.sort();
            assert_eq!(got, want, "{module}");
        }
    }

    #[test]
    fn read_of_missing_db_is_cpythons_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        for flag in ["r", "w", "ru"] {
            let err = open(dir.path().join("nothing"), flag)
                .err()
                .expect("missing db");
            assert!(err.is_not_found(), "{err}");
            assert!(
                err.to_string()
                    .contains("db file doesn't exist; use 'c' or 'n' flag to create a new db"),
                "{err}"
            );
        }
        // Nothing was created.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn unknown_file_is_not_determined() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("text");
        std::fs::write(&p, b"hello, world\n").expect("write");
        for flag in ["r", "w", "c"] {
            let err = open(&p, flag).err().expect("unknown type");
            assert!(
                matches!(&err, Error::Unsupported { what, .. } if what == "db type could not be determined"),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_flag_is_rejected_before_touching_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = open(dir.path().join("x"), "x").err().expect("bad flag");
        assert!(matches!(err, Error::BadArgument(_)), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn known_but_unimplemented_format_says_so() {
        // A gdbm header (native magic) is named dbm.gnu by whichdb.
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("g");
        let mut header = 0x13579acfu32.to_ne_bytes().to_vec();
        header.extend([0u8; 60]);
        std::fs::write(&p, &header).expect("write");
        assert_eq!(whichdb(&p).expect("whichdb"), Some("dbm.gnu"));
        match format_for("dbm.gnu") {
            None => {
                let err = open(&p, "r").err().expect("gnu not registered");
                assert!(err
                    .to_string()
                    .contains("db type is dbm.gnu, but the module is not available"));
            }
            Some(f) => assert_eq!(f.module(), "dbm.gnu"),
        }
    }

    /// 'c' on a missing name creates the default format, which whichdb then names; data
    /// written survives a reopen with 'r'; 'n' over it starts empty.
    #[test]
    fn create_uses_the_default_and_round_trips() {
        let module = default_module().expect("a dbm format is registered");
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("new");
        {
            let mut db = open(&p, "c").expect("create");
            assert_eq!(db.module(), module);
            db.insert(b"k", b"v").expect("insert");
            db.close().expect("close");
        }
        assert_eq!(whichdb(&p).expect("whichdb"), Some(module));
        {
            let mut db = open(&p, "r").expect("reopen");
            assert_eq!(db.get(b"k").expect("get"), Some(b"v".to_vec()));
            db.close().expect("close");
        }
        {
            let mut db = open(&p, "n").expect("new");
            assert_eq!(db.len().expect("len"), 0);
            db.close().expect("close");
        }
    }
}
