//! [`Storage`] over the engine's [`Pager`]: every gdbm update is one journaled
//! transaction, so a crash never leaves a half-applied store, delete or reorganize.

use std::path::{Path, PathBuf};

use pydbm_engine::{Error, Pager, Result};

use super::storage::Storage;

/// A gdbm file held by a [`Pager`] (file id 0).
#[derive(Debug)]
pub struct PagerStorage {
    pager: Option<Pager>,
    path: PathBuf,
}

impl PagerStorage {
    /// Wraps an open pager whose file 0 is the gdbm file.
    pub fn new(pager: Pager, path: impl Into<PathBuf>) -> PagerStorage {
        PagerStorage {
            pager: Some(pager),
            path: path.into(),
        }
    }

    fn p(&mut self) -> Result<&mut Pager> {
        self.pager.as_mut().ok_or_else(|| Error::Closed {
            path: self.path.clone(),
        })
    }
}

impl Storage for PagerStorage {
    fn len(&self) -> u64 {
        self.pager.as_ref().map_or(0, |p| p.len(0))
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.p()?.read_at(0, offset, buf)
    }
    #[inline]
    fn bytes_at(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        self.p()?.bytes_at(0, offset, len)
    }
    fn prefetch(&self, offset: u64, len: usize) {
        if let Some(p) = &self.pager {
            p.prefetch(0, offset, len);
        }
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.p()?.write_at(0, offset, data)
    }
    fn set_len(&mut self, len: u64) -> Result<()> {
        self.p()?.set_len(0, len)
    }
    fn commit(&mut self) -> Result<()> {
        self.p()?.commit()
    }
    fn rollback(&mut self) -> Result<()> {
        self.p()?.rollback()
    }
    fn sync(&mut self) -> Result<()> {
        self.p()?.sync()
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn finish(&mut self) -> Result<()> {
        match self.pager.take() {
            Some(p) => p.close(),
            None => Ok(()),
        }
    }
}
