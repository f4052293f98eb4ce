//! Entry points of the dumb fuzz targets (`fuzz/fuzz_targets/dumb_*.rs`), also replayed over
//! their seed corpora by plain `cargo test`. Each panics only when an invariant is broken.

use std::path::Path;
use std::sync::Arc;

use pydbm_engine::{Dbm, MemVfs, OpenOptions, Vfs};

use super::db::DumbDb;
use super::dir_index;
use super::format::FORMAT;

/// `dumb_dir`: parses `data` as a `.dir` file; what parses must re-encode to CPython's
/// canonical text, which must parse back to the same entries.
pub fn dir_text(data: &[u8]) {
    let path = Path::new("fuzz.dir");
    if let Ok(entries) = dir_index::parse(path, data) {
        let text = dir_index::encode(entries.iter().map(|(k, s)| (k.as_slice(), *s)));
        let again = dir_index::parse(path, &text).expect("canonical .dir text parses");
        assert_eq!(again, entries, "re-encoded .dir parses to the same entries");
    }
}

/// `dumb_open`: `data` = 2-byte little-endian `.dir` length, the `.dir` bytes, then the
/// `.dat` bytes, as files of an in-memory file system. Opening read-only, reading every
/// value, `check`, `stats`, then opening for writing, inserting, deleting, syncing and
/// closing must give errors or results, never a panic; whatever pydbm wrote must reopen
/// and hold the inserted key.
pub fn open_pair(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let dir_len = usize::from(u16::from_le_bytes([data[0], data[1]])).min(data.len() - 2);
    let (dir, dat) = data[2..].split_at(dir_len);
    let mem = MemVfs::new();
    let name = Path::new("/fuzz/db");
    mem.write_file(Path::new("/fuzz/db.dir"), dir);
    mem.write_file(Path::new("/fuzz/db.dat"), dat);
    let vfs: Arc<dyn Vfs> = Arc::new(mem);
    let flag = |f: &str| {
        let mut o = OpenOptions::from_flag(f).expect("fixed flags are valid");
        o.no_lock = true;
        o
    };
    let _ = FORMAT.check_in(&*vfs, name);
    let _ = FORMAT.stats_in(&*vfs, name);
    let first_key = match DumbDb::open_in(vfs.clone(), name, &flag("r")) {
        Ok(mut db) => {
            let keys = db.keys().expect("keys of an open handle");
            for k in &keys {
                let _ = db.get(k);
            }
            db.close()
                .expect("closing a read-only handle writes nothing");
            keys.into_iter().next()
        }
        Err(_) => return,
    };
    let mut db = DumbDb::open_in(vfs.clone(), name, &flag("w"))
        .expect("opened read-only, so opens for writing");
    let wrote = db.insert(b"fuzz-key", b"fuzz-value");
    if let Some(k) = first_key {
        let _ = db.remove(&k);
    }
    let _ = db.sync();
    let _ = db.close();
    let mut again =
        DumbDb::open_in(vfs.clone(), name, &flag("r")).expect("pydbm's own files reopen");
    if wrote.is_ok() {
        assert_eq!(
            again.get(b"fuzz-key").ok().flatten().as_deref(),
            Some(&b"fuzz-value"[..]),
            "the inserted key survives close"
        );
    }
    let _ = FORMAT.recover_in(vfs, name);
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Every file of `fuzz/corpus/<target>/`.
    pub(crate) fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut out: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("readable corpus entry").path())
            .map(|p| {
                let data = std::fs::read(&p).expect("readable seed");
                (p, data)
            })
            .collect();
        out.sort();
        assert!(!out.is_empty(), "no seeds for {target}");
        out
    }

    #[test]
    fn dumb_open_seeds_replay() {
        for (_, data) in seeds("dumb_open") {
            super::open_pair(&data);
        }
    }

    #[test]
    fn dumb_dir_seeds_replay() {
        for (_, data) in seeds("dumb_dir") {
            super::dir_text(&data);
        }
    }
}
