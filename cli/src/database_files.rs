//! The files a database named `PATH` consists of, per format: what `pydbm` looks at to
//! tell whether a database exists, to open `NAME` when given one of its own files
//! (`NAME.dat`, `NAME.db`, …), to refuse a directory, and to copy a database aside.
//!
//! python-formats spec: dbm.gnu and dbm.sqlite3 are the one file `PATH`; dbm.dumb is
//! `PATH.dat`, `PATH.dir` and `PATH.bak`; dbm.ndbm is Berkeley DB's `PATH.db`, or
//! gdbm_compat's `PATH.pag` + `PATH.dir` pair.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Every file of a `module` database, as suffixes appended to its `PATH` (besides pydbm's
/// journals, `FILE-journal`). The unknown module has none.
pub fn suffixes(module: &str) -> &'static [&'static str] {
    match module {
        "dbm.gnu" => &[""],
        "dbm.ndbm" => &[".db", ".pag", ".dir"],
        "dbm.dumb" => &[".dat", ".dir", ".bak"],
        "dbm.sqlite3" => &["", "-wal", "-shm"],
        _ => &[],
    }
}

/// The files that hold a `module` database's records (those that must be regular files).
fn data_suffixes(module: &str) -> &'static [&'static str] {
    match module {
        "dbm.ndbm" => &[".db", ".pag", ".dir"],
        "dbm.dumb" => &[".dat", ".dir"],
        "dbm.gnu" | "dbm.sqlite3" => &[""],
        _ => &[],
    }
}

/// `path` with `suffix` appended byte-wise (as CPython's `filename + ".dat"`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// Whether a `module` database named `path` exists: the file itself (gnu, sqlite3),
/// `PATH.dat` (dumb), `PATH.db` or the `PATH.pag`/`PATH.dir` pair (ndbm).
pub fn exists(module: &str, path: &Path) -> bool {
    let has = |s: &str| with_suffix(path, s).exists();
    match module {
        "dbm.ndbm" => has(".db") || (has(".pag") && has(".dir")),
        "dbm.dumb" => has(".dat"),
        "dbm.gnu" | "dbm.sqlite3" => has(""),
        _ => false,
    }
}

/// Whether any file of a `module` database named `path` exists (what replacing it would
/// overwrite).
pub fn any_exists(module: &str, path: &Path) -> bool {
    suffixes(module)
        .iter()
        .any(|s| with_suffix(path, s).symlink_metadata().is_ok())
}

/// When `path` names one of a `module` database's own files (`x.dat` of dumb `x`, `x.db`
/// or `x.pag` of ndbm `x`), the database's name `x`; `None` for the single-file formats.
pub fn strip_own_suffix(module: &str, path: &Path) -> Option<PathBuf> {
    if matches!(module, "dbm.gnu" | "dbm.sqlite3") {
        return None;
    }
    let name = path.file_name()?.to_str()?;
    suffixes(module).iter().find_map(|s| {
        let stem = name.strip_suffix(s)?;
        (!stem.is_empty()).then(|| path.with_file_name(stem))
    })
}

/// The name `pydbm` opens for `path` given as a `module` database: `path` itself, or, when
/// `path` names one of the files of an existing database and no database `path` exists,
/// that database's name.
pub fn database_name(module: &str, path: &Path) -> PathBuf {
    match strip_own_suffix(module, path) {
        Some(stem) if !exists(module, path) && exists(module, &stem) => stem,
        _ => path.to_path_buf(),
    }
}

/// The first data file of a `module` database named `path` that is a directory.
pub fn directory_among(module: &str, path: &Path) -> Option<PathBuf> {
    data_suffixes(module)
        .iter()
        .map(|s| with_suffix(path, s))
        .find(|f| f.is_dir())
}

/// Whether databases `a` (of `module_a`) and `b` (of `module_b`) share a data file (the
/// same inode, whatever the names).
pub fn share_a_file(module_a: &str, a: &Path, module_b: &str, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ids = |module: &str, path: &Path| -> Vec<(u64, u64)> {
        data_suffixes(module)
            .iter()
            .filter_map(|s| with_suffix(path, s).metadata().ok())
            .map(|m| (m.dev(), m.ino()))
            .collect()
    };
    let of_b = ids(module_b, b);
    ids(module_a, a).iter().any(|id| of_b.contains(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_files_name_their_database() {
        let dir = tempfile::tempdir().expect("temp dir");
        let x = dir.path().join("x");
        std::fs::write(with_suffix(&x, ".dat"), b"").expect("write");
        assert!(exists("dbm.dumb", &x));
        let dat = with_suffix(&x, ".dat");
        assert_eq!(database_name("dbm.dumb", &dat), x);
        assert_eq!(database_name("dbm.dumb", &with_suffix(&x, ".dir")), x);
        // A database that does not exist keeps its name (dbm.dumb.open('y.dat', 'c') makes
        // y.dat.dat).
        let y = with_suffix(&dir.path().join("y"), ".dat");
        assert_eq!(database_name("dbm.dumb", &y), y);
        assert_eq!(database_name("dbm.gnu", &dat), dat);
        assert_eq!(
            strip_own_suffix("dbm.ndbm", Path::new("/t/nd.db")),
            Some("/t/nd".into())
        );
        assert_eq!(strip_own_suffix("dbm.ndbm", Path::new("/t/.db")), None);
        assert!(directory_among("dbm.gnu", dir.path()).is_some());
        assert!(directory_among("dbm.dumb", &x).is_none());
    }
}
