//! [`EtcdFormat`]: the [`Format`] entry points the `pydbm` CLI and `pydbm::open` dispatch
//! to for `etcd://` addresses.

use std::path::Path;

use pydbm_engine::{Dbm, Error, Format, OpenOptions, Result};

use crate::{EtcdAddress, EtcdDbm, EtcdOptions, MODULE};

/// The etcd backend as a [`Format`]; its "path" is an `etcd://` address.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcdFormat;

/// The one [`EtcdFormat`] value, for registries of formats.
pub static FORMAT: EtcdFormat = EtcdFormat;

/// The address text of `path`, which must be valid UTF-8.
fn address_text(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::BadArgument(format!(
            "etcd address {} is not valid UTF-8",
            path.display()
        ))
    })
}

impl Format for EtcdFormat {
    fn module(&self) -> &'static str {
        MODULE
    }

    /// Opens the address with the flag's mode ([`EtcdDbm::open`]); gdbm's `f`/`s`/`u`
    /// modifiers and the durability setting have no meaning for etcd and are ignored
    /// (every write is replicated and fsynced by the cluster before it is acknowledged).
    /// The `vfs` is not used: an etcd database lives in the cluster named by the address,
    /// not in files, so every file layer opens the same cluster.
    fn open_in(
        &self,
        vfs: std::sync::Arc<dyn pydbm_engine::Vfs>,
        path: &Path,
        opts: &OpenOptions,
    ) -> Result<Box<dyn Dbm>> {
        let _ = vfs;
        let db = EtcdDbm::open(address_text(path)?, opts.mode, EtcdOptions::default())?;
        Ok(Box::new(db))
    }

    /// Records under the prefix, the cluster revision the count was taken at, and the
    /// address (password hidden).
    fn stats(&self, path: &Path) -> Result<Vec<(String, String)>> {
        let text = address_text(path)?;
        let address = EtcdAddress::parse(text)?;
        let mut db = EtcdDbm::open(text, pydbm_engine::OpenMode::Read, EtcdOptions::default())?;
        let (records, revision) = db.count_at_revision()?;
        db.close()?;
        Ok(vec![
            ("format".into(), MODULE.into()),
            ("endpoints".into(), address.endpoints.join(",")),
            ("prefix".into(), format!("{}/", address.prefix)),
            ("records".into(), records.to_string()),
            ("revision".into(), revision.to_string()),
        ])
    }
}
