//! Databases addressed by URL instead of a file path: `etcd://HOST:PORT[,…]/PREFIX`
//! (docs/etcd.md). The one place where the facade and the CLI decide that a "path" names a
//! networked store, and which [`Format`] serves it.

use std::path::Path;

use pydbm_engine::{Format, Result};

/// The scheme of etcd addresses.
pub const ETCD_SCHEME: &str = "etcd://";

/// The module name `whichdb` gives for an etcd address.
pub const ETCD_MODULE: &str = "etcd";

/// Whether `path` is an `etcd://` address rather than a file name.
pub fn is_etcd_address(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.starts_with(ETCD_SCHEME))
}

/// The format serving `path` when it is an address: `None` for a file path; for an etcd
/// address the etcd backend, or, in a build without the `etcd` cargo feature, an
/// [`pydbm_engine::Error::Unsupported`] saying so.
pub fn address_format(path: &Path) -> Option<Result<&'static dyn Format>> {
    if !is_etcd_address(path) {
        return None;
    }
    Some(etcd_format(path))
}

#[cfg(feature = "etcd")]
fn etcd_format(_path: &Path) -> Result<&'static dyn Format> {
    Ok(&pydbm_etcd::FORMAT)
}

#[cfg(not(feature = "etcd"))]
fn etcd_format(path: &Path) -> Result<&'static dyn Format> {
    Err(pydbm_engine::Error::unsupported(
        path,
        "this pydbm was built without the `etcd` cargo feature; rebuild with \
         `cargo build --release --features etcd` to open etcd:// addresses",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_etcd_urls_are_addresses() {
        assert!(is_etcd_address(Path::new("etcd://127.0.0.1:2379/app")));
        assert!(!is_etcd_address(Path::new("etcd:/app")));
        assert!(!is_etcd_address(Path::new("/tmp/etcd://x")));
        assert!(address_format(Path::new("data.gdbm")).is_none());
        let answer = address_format(Path::new("etcd://127.0.0.1:2379/app")).expect("address");
        #[cfg(feature = "etcd")]
        assert_eq!(answer.expect("feature on").module(), "etcd");
        #[cfg(not(feature = "etcd"))]
        {
            let err = answer.err().expect("feature off").to_string();
            assert!(err.contains("without the `etcd` cargo feature"), "{err}");
        }
    }
}
