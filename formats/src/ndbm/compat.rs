//! The gdbm_compat layout of `dbm.ndbm` (Fedora, Arch, conda, … where `_dbm` links
//! `libgdbm_compat`, `dbm.ndbm.library == "GNU gdbm"`): `NAME.pag` is an ordinary gdbm
//! database and `NAME.dir` a 16-byte stamp (gdbm spec §20). The `.pag` file goes through
//! pydbm's `gnu` module.
//!
//! Locking: libgdbm_compat always opens with `GDBM_NOLOCK`, so it neither takes nor honours a
//! lock on this layout; pydbm still takes the `gnu` module's `flock` on `NAME.pag` (shared
//! for `'r'`, exclusive otherwise; none with `'u'`) so that pydbm processes exclude each
//! other (docs/locking.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pydbm_engine::{Dbm, Error, Format, OpenMode, OpenOptions, Problem, Result, Vfs, VfsOpen};

use crate::gnu::{self, GnuDb, GnuOptions};

/// `dbm.ndbm.library` for this layout.
pub const LIBRARY: &str = "GNU gdbm";

/// The `.dir` stamp gdbm 1.23 writes: `"GDBM"` then version 1, 23, 0, big-endian u32s.
pub const DIR_STAMP: [u8; 16] = [0x47, 0x44, 0x42, 0x4d, 0, 0, 0, 1, 0, 0, 0, 23, 0, 0, 0, 0];

fn with_ext(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// `NAME.pag`.
pub fn pag_path(path: &Path) -> PathBuf {
    with_ext(path, ".pag")
}

/// `NAME.dir`.
pub fn dir_path(path: &Path) -> PathBuf {
    with_ext(path, ".dir")
}

/// Whether both files of the layout exist (what `whichdb` tests).
pub fn exists(vfs: &dyn Vfs, path: &Path) -> Result<bool> {
    Ok(vfs.exists(&pag_path(path))? && vfs.exists(&dir_path(path))?)
}

/// Checks an existing `.dir` as gdbm 1.23 does: empty is accepted; otherwise 16 bytes,
/// the `GDBM` magic and a version not newer than 1.23.
pub fn check_dir_stamp(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    if bytes.len() != 16 || bytes[..4] != DIR_STAMP[..4] {
        return Err(Error::corrupt(
            path,
            0,
            "an empty file or the 16-byte GDBM stamp",
        ));
    }
    let v = |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    if (v(4), v(8), v(12)) > (1, 23, 0) {
        return Err(Error::corrupt(
            path,
            4,
            format!(
                "a library version up to 1.23.0, found {}.{}.{}",
                v(4),
                v(8),
                v(12)
            ),
        ));
    }
    Ok(())
}

/// `pydbm check` of a gdbm_compat pair: the `NAME.dir` stamp (gdbm spec §20), then every
/// structure of `NAME.pag` as `dbm.gnu` checks it.
pub fn check(vfs: &dyn Vfs, path: &Path) -> Result<Vec<Problem>> {
    let dir = dir_path(path);
    let f = vfs.open(&dir, VfsOpen::READ)?;
    let len = f.len()?.min(64) as usize;
    let mut stamp = vec![0u8; len];
    f.read_exact_at(&mut stamp, 0)?;
    let mut problems = Vec::new();
    if let Err(Error::Corrupt {
        path,
        offset,
        expected,
    }) = check_dir_stamp(&dir, &stamp)
    {
        problems.push(Problem {
            file: path,
            offset: Some(offset),
            message: format!("expected {expected}"),
        });
    }
    problems.extend(gnu::FORMAT.check(&pag_path(path))?);
    Ok(problems)
}

/// `pydbm stats` of a gdbm_compat pair: `dbm.gnu`'s figures for `NAME.pag`, named as
/// `dbm.ndbm` over gdbm_compat.
pub fn stats(path: &Path) -> Result<Vec<(String, String)>> {
    let mut lines = gnu::FORMAT.stats(&pag_path(path))?;
    for (name, value) in &mut lines {
        if name == "format" {
            *value = format!(
                "dbm.ndbm (gdbm_compat: {} is a {value} file, {} its stamp)",
                pag_path(path).display(),
                dir_path(path).display()
            );
        }
    }
    lines.insert(1, ("library".to_string(), LIBRARY.to_string()));
    Ok(lines)
}

/// A gdbm_compat `dbm.ndbm` database: a [`GnuDb`] on `NAME.pag` that reports itself as
/// `dbm.ndbm`.
#[derive(Debug)]
pub struct CompatDb {
    inner: GnuDb,
    path: PathBuf,
}

impl CompatDb {
    /// `dbm.ndbm.open(NAME, flag)` under gdbm_compat: opens or creates `NAME.pag` (flag
    /// mapping of gdbm spec §20) and checks or writes the `NAME.dir` stamp.
    pub fn open_with(vfs: Arc<dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<CompatDb> {
        let dir = dir_path(path);
        let pag = pag_path(path);
        if vfs.exists(&dir)? {
            let f = vfs.open(&dir, VfsOpen::READ)?;
            let len = f.len()?.min(64) as usize;
            let mut b = vec![0u8; len];
            f.read_exact_at(&mut b, 0)?;
            check_dir_stamp(&dir, &b)?;
        } else if matches!(opts.mode, OpenMode::Read | OpenMode::Write) {
            return Err(Error::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
            ));
        }
        let inner = gnu::open_with(vfs.clone(), &pag, opts, GnuOptions::default())?;
        if opts.mode.writable() {
            let needs = !vfs.exists(&dir)? || opts.mode == OpenMode::New;
            if needs {
                let f = vfs.open(
                    &dir,
                    VfsOpen {
                        truncate: true,
                        mode: opts.file_mode,
                        ..VfsOpen::CREATE
                    },
                )?;
                f.write_at(&DIR_STAMP, 0)?;
                f.sync()?;
            }
        }
        Ok(CompatDb {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// `dbm.ndbm.library`: `"GNU gdbm"`.
    pub fn library(&self) -> &'static str {
        LIBRARY
    }
}

impl Dbm for CompatDb {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.insert(key, value)
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        self.inner.remove(key)
    }
    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        self.inner.keys()
    }
    fn len(&mut self) -> Result<usize> {
        self.inner.len()
    }
    fn sync(&mut self) -> Result<()> {
        self.inner.sync()
    }
    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn module(&self) -> &'static str {
        "dbm.ndbm"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::MemVfs;

    /// `check` and `stats` of a pair name `NAME.pag` and `NAME.dir`, never `NAME.db`.
    #[test]
    fn check_and_stats_read_the_pair() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("x");
        let vfs: Arc<dyn Vfs> = Arc::new(pydbm_engine::OsVfs::new());
        let mut db =
            CompatDb::open_with(vfs.clone(), &p, &OpenOptions::from_flag("c").unwrap()).unwrap();
        db.insert(b"a", b"1").unwrap();
        db.close().unwrap();
        assert_eq!(check(&*vfs, &p).unwrap(), vec![]);
        let st = stats(&p).unwrap();
        assert!(st[0].1.starts_with("dbm.ndbm (gdbm_compat"), "{st:?}");
        assert!(st.iter().any(|(k, v)| k == "records" && v == "1"), "{st:?}");
        std::fs::write(dir_path(&p), b"not a gdbm stamp").unwrap();
        let problems = check(&*vfs, &p).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].file, dir_path(&p));
    }

    #[test]
    fn creates_pag_and_stamp_and_reopens() {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let p = Path::new("/c/x");
        assert!(
            CompatDb::open_with(vfs.clone(), p, &OpenOptions::from_flag("r").unwrap()).is_err()
        );
        let mut db =
            CompatDb::open_with(vfs.clone(), p, &OpenOptions::from_flag("c").unwrap()).unwrap();
        db.insert(b"a", b"1").unwrap();
        assert_eq!(db.module(), "dbm.ndbm");
        assert_eq!(db.library(), "GNU gdbm");
        db.close().unwrap();
        assert_eq!(mem.read_file(&dir_path(p)).unwrap(), DIR_STAMP.to_vec());
        assert!(exists(&*vfs, p).unwrap());
        let mut db =
            CompatDb::open_with(vfs.clone(), p, &OpenOptions::from_flag("r").unwrap()).unwrap();
        assert_eq!(db.get(b"a").unwrap(), Some(b"1".to_vec()));
        db.close().unwrap();
        // A .dir stamp of a newer library is refused, as gdbm does.
        let mut newer = DIR_STAMP;
        newer[11] = 24;
        mem.write_file(&dir_path(p), &newer);
        assert!(matches!(
            CompatDb::open_with(vfs, p, &OpenOptions::from_flag("r").unwrap()),
            Err(Error::Corrupt { .. })
        ));
    }
}
