//! [`MemDbm`]: a [`Dbm`] held in memory, for tests and examples of code written against
//! the trait.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{CursorPosition, Dbm, Error, Result};

/// The most keys [`MemDbm`]'s cursor hands out per [`Dbm::next_keys`] batch.
const BATCH: usize = 64;

/// A [`Dbm`] kept in a `BTreeMap` (iteration in key order), with transactions (a copy of
/// the map taken at [`Dbm::begin_transaction`] is put back on rollback) and a cursor.
/// Nothing is written anywhere; [`Dbm::sync`] does nothing.
///
/// ```
/// use pydbm_engine::{Dbm, MemDbm};
/// let mut db = MemDbm::new();
/// db.insert(b"k", b"v")?;
/// assert_eq!(db.get(b"k")?, Some(b"v".to_vec()));
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemDbm {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The map at the start of the open transaction.
    before: Option<BTreeMap<Vec<u8>, Vec<u8>>>,
    path: PathBuf,
    closed: bool,
}

impl Default for MemDbm {
    fn default() -> Self {
        MemDbm::new()
    }
}

impl MemDbm {
    /// An empty database, named `<memory>` in errors.
    pub fn new() -> MemDbm {
        MemDbm {
            map: BTreeMap::new(),
            before: None,
            path: PathBuf::from("<memory>"),
            closed: false,
        }
    }

    fn open(&mut self) -> Result<&mut BTreeMap<Vec<u8>, Vec<u8>>> {
        if self.closed {
            return Err(Error::Closed {
                path: self.path.clone(),
            });
        }
        Ok(&mut self.map)
    }
}

impl Dbm for MemDbm {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.open()?.get(key).cloned())
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.open()?.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        Ok(self.open()?.remove(key).is_some())
    }
    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self.open()?.keys().cloned().collect())
    }
    fn len(&mut self) -> Result<usize> {
        Ok(self.open()?.len())
    }
    fn sync(&mut self) -> Result<()> {
        self.open().map(|_| ())
    }
    fn close(&mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn module(&self) -> &'static str {
        "memory"
    }
    fn begin_transaction(&mut self) -> Result<()> {
        let snapshot = self.open()?.clone();
        self.before = Some(snapshot);
        Ok(())
    }
    fn commit_transaction(&mut self) -> Result<()> {
        self.open()?;
        self.before = None;
        Ok(())
    }
    fn rollback_transaction(&mut self) -> Result<()> {
        if let Some(before) = self.before.take() {
            self.map = before;
        }
        Ok(())
    }
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        use std::ops::Bound;
        let lower = if pos.started {
            Bound::Excluded(pos.last_key.clone())
        } else {
            Bound::Unbounded
        };
        let map = self.open()?;
        out.extend(
            map.range((lower, Bound::Unbounded))
                .take(BATCH)
                .map(|(k, _)| k.clone()),
        );
        if let Some(last) = out.last() {
            pos.last_key.clone_from(last);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_commit_roll_back_and_poison() {
        let mut db = MemDbm::new();
        db.insert(b"a", b"1").unwrap();
        {
            let mut t = db.transaction().unwrap();
            t.insert(b"b", b"2").unwrap();
            assert!(t.remove(b"a").unwrap());
        }
        assert_eq!(db.keys().unwrap(), vec![b"a".to_vec()]);
        let mut t = db.transaction().unwrap();
        t.insert(b"b", b"2").unwrap();
        t.commit().unwrap();
        assert_eq!(db.len().unwrap(), 2);
        let mut boxed: Box<dyn Dbm> = Box::new(db);
        let mut t = boxed.transaction().unwrap();
        t.insert(b"c", b"3").unwrap();
        t.rollback().unwrap();
        assert_eq!(boxed.len().unwrap(), 2);
    }

    #[test]
    fn cursors_walk_every_key_in_batches_through_box_dyn() {
        let mut db = MemDbm::new();
        for i in 0..1000u32 {
            db.insert(format!("{i:05}").as_bytes(), &i.to_le_bytes())
                .unwrap();
        }
        let mut boxed: Box<dyn Dbm> = Box::new(db);
        let keys: Vec<Vec<u8>> = boxed.keys_iter().map(|k| k.unwrap()).collect();
        assert_eq!(keys, boxed.keys().unwrap());
        let dyn_ref: &mut dyn Dbm = boxed.as_mut();
        let n = crate::Iter::new(dyn_ref)
            .map(|kv| kv.unwrap())
            .filter(|(k, v)| {
                u32::from_le_bytes(v[..4].try_into().unwrap())
                    == std::str::from_utf8(k).unwrap().parse::<u32>().unwrap()
            })
            .count();
        assert_eq!(n, 1000);
    }
}
