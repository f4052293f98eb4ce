//! `file:` URIs: the one Python 3.13's `dbm.sqlite3` opens a path with (python-formats
//! spec §5: `Path(path).absolute().as_uri()` with every `//` collapsed), and the reading of
//! a `sqlite3.connect(..., uri=True)` name that tells which file SQLite opens ([`FileUri`],
//! following SQLite's documented URI rules, <https://sqlite.org/uri.html>).

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Bytes `pathlib`'s `as_uri` leaves unescaped (`urllib.parse.quote`'s always-safe set plus `/`).
fn is_uri_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~' | b'/')
}

/// The absolute form of `path` without resolving `..` or symlinks (what `Path.absolute()`
/// does): relative paths are joined to the current directory.
pub fn absolute(path: &Path) -> std::io::Result<std::path::PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// `file:` URI of `path` exactly as `dbm.sqlite3._normalize_uri` builds it, followed by
/// `?mode=<mode>`. Every byte outside the unreserved set is written `%XX` (uppercase hex),
/// then every `//` is collapsed to `/` until none is left (spec §5).
pub fn dbm_uri(path: &Path, mode: &str) -> std::io::Result<String> {
    use std::os::unix::ffi::OsStrExt;
    let abs = absolute(path)?;
    let mut uri = String::from("file://");
    for &b in abs.as_os_str().as_bytes() {
        if is_uri_safe(b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    while uri.contains("//") {
        uri = uri.replace("//", "/");
    }
    uri.push_str("?mode=");
    uri.push_str(mode);
    Ok(uri)
}

/// What a `file:` URI given to SQLite (with `SQLITE_OPEN_URI`) names. Plain data: parsing
/// does no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUri {
    /// The percent-decoded path, as SQLite opens it (relative to the current directory
    /// unless absolute); empty for a temporary database (`file:`, `file:?mode=rwc`).
    pub path: PathBuf,
    /// The decoded query parameters in order (`mode`, `vfs`, `cache`, `immutable`, …).
    pub params: Vec<(String, String)>,
}

impl FileUri {
    /// Reads `name` as SQLite does when URIs are enabled: `Ok(None)` when it does not start
    /// with `file:` (exactly; SQLite takes `FILE:x` as a plain file name), `Err` with
    /// SQLite's message for an authority other than empty or `localhost`.
    ///
    /// Rules (uri.html §3, checked against SQLite 3.40 by `pragma database_list`): after
    /// `file:`, `//authority` runs to the next `/`; the path ends at `?` or `#`; the query
    /// is `key=value` pairs split by `&`, ending at `#`. `%HH` (two hex digits) is decoded
    /// in path, keys and values; any other `%` stays; a decoded `%00` drops the rest of
    /// that path, key or value.
    pub fn parse(name: &str) -> Result<Option<FileUri>, String> {
        let Some(rest) = name.strip_prefix("file:") else {
            return Ok(None);
        };
        let mut rest = rest.as_bytes();
        if let Some(after) = rest.strip_prefix(b"//") {
            let end = after.iter().position(|&b| b == b'/').unwrap_or(after.len());
            let authority = &after[..end];
            if !authority.is_empty() && authority != b"localhost" {
                return Err(format!(
                    "invalid uri authority: {}",
                    String::from_utf8_lossy(authority)
                ));
            }
            rest = &after[end..];
        }
        let rest = match rest.iter().position(|&b| b == b'#') {
            Some(i) => &rest[..i],
            None => rest,
        };
        let (path, query) = match rest.iter().position(|&b| b == b'?') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let mut params = Vec::new();
        for pair in query.unwrap_or(b"").split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let text = |b: &[u8]| String::from_utf8_lossy(&percent_decode(b)).into_owned();
            params.push((text(k), text(v)));
        }
        Ok(Some(FileUri {
            path: PathBuf::from(std::ffi::OsString::from_vec(percent_decode(path))),
            params,
        }))
    }

    /// The last value given for query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the database lives in memory (`file::memory:` or `mode=memory`) or is a
    /// temporary one (empty path): then no file in the file system is SQLite's to lock.
    pub fn is_memory_or_temporary(&self) -> bool {
        self.path.as_os_str().is_empty()
            || self.path.as_os_str() == ":memory:"
            || self.param("mode") == Some("memory")
    }
}

/// `%HH` → byte; a `%` not followed by two hex digits stays as it is; a decoded NUL ends
/// the text (SQLite ignores the rest of that component).
fn percent_decode(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let octet = h * 16 + l;
                if octet == 0 {
                    break;
                }
                out.push(octet);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uris_like_sqlite() {
        // Expected paths are what SQLite 3.40.1 (Python 3.13's) reported in
        // `pragma database_list` for each URI, relative to the directory it ran in.
        let cases: &[(&str, Option<&str>)] = &[
            ("FILE:up1.db", None),
            ("file:up2.db", Some("up2.db")),
            ("file://localhost/tmp/u/up3.db", Some("/tmp/u/up3.db")),
            ("file:///tmp/u/up4.db", Some("/tmp/u/up4.db")),
            ("file:up%2564%41.db", Some("up%64A.db")),
            ("file:up6.db%00junk?mode=rwc", Some("up6.db")),
            ("file:up7%zz.db", Some("up7%zz.db")),
            ("file:up9.db#frag", Some("up9.db")),
            ("file:up 12.db", Some("up 12.db")),
            ("file:up15%3fx.db", Some("up15?x.db")),
            ("file:up%", Some("up%")),
            ("file:up%4", Some("up%4")),
        ];
        for (uri, want) in cases {
            let got = FileUri::parse(uri).unwrap().map(|u| u.path);
            assert_eq!(got, want.map(PathBuf::from), "{uri}");
        }
        assert_eq!(
            FileUri::parse("file://host/x.db").unwrap_err(),
            "invalid uri authority: host"
        );
        for memory in [
            "file::memory:",
            "file:?mode=rwc",
            "file:",
            "file://localhost",
            "file:up8.db?mode=memory",
            "file::memory:?cache=shared",
        ] {
            assert!(
                FileUri::parse(memory)
                    .unwrap()
                    .unwrap()
                    .is_memory_or_temporary(),
                "{memory}"
            );
        }
        let u = FileUri::parse("file:a.db?a=1&mode=ro&vfs=unix%2Dexcl&mode=rw")
            .unwrap()
            .unwrap();
        assert_eq!(
            (u.param("mode"), u.param("vfs")),
            (Some("rw"), Some("unix-excl"))
        );
        assert!(!u.is_memory_or_temporary());
    }

    #[test]
    fn escapes_and_collapses_like_python() {
        // Expected strings produced by CPython 3.13.0's dbm.sqlite3._normalize_uri.
        assert_eq!(
            dbm_uri(Path::new("/tmp//a b?#%.db"), "ro").unwrap(),
            "file:/tmp/a%20b%3F%23%25.db?mode=ro"
        );
        assert_eq!(
            dbm_uri(Path::new("/x/é"), "rwc").unwrap(),
            "file:/x/%C3%A9?mode=rwc"
        );
    }
}
