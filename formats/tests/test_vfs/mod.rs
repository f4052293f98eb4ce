//! A plain std::fs `Vfs` for the whichdb tests, until the engine's `OsVfs` is on main.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pydbm_engine::{Error, Result, Vfs, VfsFile, VfsOpen};

#[derive(Debug)]
pub struct StdVfs;

#[derive(Debug)]
pub struct StdFile(File, PathBuf);

impl Vfs for StdVfs {
    fn open(&self, path: &Path, how: VfsOpen) -> Result<Box<dyn VfsFile>> {
        assert!(!how.write, "whichdb only reads");
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Box::new(StdFile(f, path.to_path_buf())))
    }
    fn exists(&self, path: &Path) -> Result<bool> {
        Ok(std::fs::symlink_metadata(path).is_ok())
    }
    fn remove(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io(from, e))
    }
    fn sync_dir(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }
}

impl VfsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.0
            .read_at(buf, offset)
            .map_err(|e| Error::io(&self.1, e))
    }
    fn write_at(&self, _data: &[u8], _offset: u64) -> Result<()> {
        Err(Error::ReadOnly {
            path: self.1.clone(),
        })
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    fn len(&self) -> Result<u64> {
        Ok(self.0.metadata().map_err(|e| Error::io(&self.1, e))?.len())
    }
    fn set_len(&self, _len: u64) -> Result<()> {
        Err(Error::ReadOnly {
            path: self.1.clone(),
        })
    }
    fn path(&self) -> &Path {
        &self.1
    }
    fn identity(&self) -> Option<(u64, u64)> {
        None
    }
}
