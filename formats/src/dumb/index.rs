//! The in-memory index of a dumb database: CPython's `_index` dict, an insertion-ordered map
//! from key to [`Slot`].
//!
//! Lookup is a hash probe; order is the order keys were first inserted (an updated key keeps
//! its place, a deleted and re-added key moves to the end), as for a Python dict.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use super::dir_index::Slot;

/// A fast keyed hasher for index keys: 8 bytes per multiply-rotate step, a per-index random
/// seed (from std's `RandomState`) so crafted keys cannot be made to collide in advance, and a
/// final avalanche so the low and high bits both mix.
#[derive(Debug, Clone, Copy)]
pub struct KeyHasherBuilder(u64);

impl Default for KeyHasherBuilder {
    fn default() -> Self {
        KeyHasherBuilder(std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
    }
}

impl BuildHasher for KeyHasherBuilder {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0)
    }
}

/// The hasher built by [`KeyHasherBuilder`].
#[derive(Debug, Clone, Copy)]
pub struct KeyHasher(u64);

impl KeyHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        // murmur3's fmix64.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Insertion-ordered map from key bytes to [`Slot`].
#[derive(Debug, Default, Clone)]
pub struct Index {
    /// Entries in insertion order; `None` marks a removed entry until the next compaction.
    entries: Vec<Option<(Box<[u8]>, Slot)>>,
    /// Key → position in `entries`.
    positions: HashMap<Box<[u8]>, usize, KeyHasherBuilder>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Index::default()
    }

    /// Builds the index from `.dir` entries in file order; a repeated key keeps its first
    /// position and takes the last slot (dict assignment).
    pub fn from_entries(entries: Vec<(Vec<u8>, Slot)>) -> Self {
        let mut index = Index::new();
        index.entries.reserve(entries.len());
        index.positions.reserve(entries.len());
        for (k, s) in entries {
            index.set(&k, s);
        }
        index
    }

    /// The slot of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Slot> {
        let &i = self.positions.get(key)?;
        self.entries[i].as_ref().map(|(_, s)| *s)
    }

    /// Sets `key`'s slot; a new key goes to the end. Returns whether the key was new.
    pub fn set(&mut self, key: &[u8], slot: Slot) -> bool {
        if let Some(&i) = self.positions.get(key) {
            if let Some((_, s)) = self.entries[i].as_mut() {
                *s = slot;
            }
            false
        } else {
            let owned: Box<[u8]> = key.into();
            self.positions.insert(owned.clone(), self.entries.len());
            self.entries.push(Some((owned, slot)));
            true
        }
    }

    /// Removes `key`; returns its slot if it was present.
    pub fn remove(&mut self, key: &[u8]) -> Option<Slot> {
        let i = self.positions.remove(key)?;
        let slot = self.entries[i].take().map(|(_, s)| s);
        if self.entries.len() > 32 && self.positions.len() < self.entries.len() / 2 {
            self.compact();
        }
        slot
    }

    fn compact(&mut self) {
        self.entries.retain(Option::is_some);
        for (i, e) in self.entries.iter().enumerate() {
            if let Some((k, _)) = e {
                if let Some(p) = self.positions.get_mut(k) {
                    *p = i;
                }
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Entries in iteration order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Slot)> {
        self.entries.iter().flatten().map(|(k, s)| (&**k, *s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_python_dict_order() {
        let s = |p| Slot { pos: p, siz: 1 };
        let mut ix = Index::new();
        for i in 0..100u64 {
            ix.set(format!("k{i}").as_bytes(), s(i));
        }
        ix.set(b"k5", s(999));
        for i in 10..90u64 {
            assert!(ix.remove(format!("k{i}").as_bytes()).is_some());
        }
        ix.set(b"k20", s(7));
        let keys: Vec<String> = ix
            .iter()
            .map(|(k, _)| String::from_utf8(k.to_vec()).unwrap())
            .collect();
        assert_eq!(keys.len(), 21);
        assert_eq!(keys[5], "k5");
        assert_eq!(keys[10], "k90");
        assert_eq!(keys[20], "k20");
        assert_eq!(ix.get(b"k5"), Some(s(999)));
        assert_eq!(ix.get(b"k50"), None);
        assert_eq!(ix.len(), 21);
        let dup = Index::from_entries(vec![
            (b"a".to_vec(), s(1)),
            (b"b".to_vec(), s(2)),
            (b"a".to_vec(), s(3)),
        ]);
        assert_eq!(
            dup.iter().collect::<Vec<_>>(),
            vec![(&b"a"[..], s(3)), (&b"b"[..], s(2))]
        );
    }
}
