//! The in-memory index of a dumb database: CPython's `_index` dict, an insertion-ordered map
//! from key to [`Slot`].
//!
//! Lookup is a hash probe; order is the order keys were first inserted (an updated key keeps
//! its place, a deleted and re-added key moves to the end), as for a Python dict.

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

/// A table cell: no entry (probing stops here).
const EMPTY: u64 = 0;
/// A table cell whose entry was removed (probing goes on past it).
const TOMBSTONE: u64 = u64::MAX;
/// A live cell holds entry number + 1 in its low [`ENTRY_BITS`] bits (no process can hold
/// 2^48 entries: each takes more than one byte of a 2^48-byte address space) and the top 16
/// bits of the key's hash above them, so most non-matching cells are passed without reading
/// their entry.
const ENTRY_BITS: u32 = 48;
const ENTRY_MASK: u64 = (1 << ENTRY_BITS) - 1;

fn cell_of(n: usize, hash: u64) -> u64 {
    (hash >> ENTRY_BITS << ENTRY_BITS) | (n as u64 + 1)
}

/// One key of the index, in insertion order.
#[derive(Debug, Clone)]
struct Entry {
    /// Where the key's bytes start in `Index::arena`.
    key_at: usize,
    key_len: usize,
    hash: u64,
    slot: Slot,
    /// False once removed (until the next compaction drops it).
    live: bool,
}

/// Insertion-ordered map from key bytes to [`Slot`].
///
/// Layout, chosen so that lookups in (or near) insertion order touch memory in order: the
/// key bytes of all entries back to back in one arena (no allocation per key), the entries
/// in insertion order, and an open-addressing table (linear probing, at most half full) of
/// entry numbers, the only part a lookup reaches at a random place.
#[derive(Debug, Clone)]
pub struct Index {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// Power-of-two length; cells hold [`EMPTY`], [`TOMBSTONE`] or a [`cell_of`].
    table: Vec<u64>,
    live: usize,
    tombstones: usize,
    hasher: KeyHasherBuilder,
    /// Changed whenever a cell of the table may have changed, so a [`Lookup`] taken before
    /// is known to be stale.
    version: u64,
}

/// A key's hash from [`Index::prefetch`], for [`Index::lookup_hashed`] of the same key.
#[derive(Debug, Clone, Copy)]
pub struct KeyHash {
    hash: u64,
    key_len: usize,
}

/// The result of [`Index::lookup`]: the key's slot if present, and where its cell is (or
/// would go), valid until the index next changes.
#[derive(Debug, Clone, Copy)]
pub struct Lookup {
    hash: u64,
    cell: std::result::Result<usize, usize>,
    version: u64,
    slot: Option<Slot>,
}

impl Lookup {
    /// The key's slot when it was looked up; `None` when absent.
    pub fn slot(&self) -> Option<Slot> {
        self.slot
    }
}

impl Default for Index {
    fn default() -> Self {
        Index {
            arena: Vec::new(),
            entries: Vec::new(),
            table: vec![EMPTY; 16],
            live: 0,
            tombstones: 0,
            hasher: KeyHasherBuilder::default(),
            version: 0,
        }
    }
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
        index
            .arena
            .reserve(entries.iter().map(|(k, _)| k.len()).sum());
        for (k, s) in entries {
            index.set(&k, s);
        }
        index
    }

    fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        h.write_usize(key.len());
        h.finish()
    }

    fn key_of(&self, e: &Entry) -> &[u8] {
        &self.arena[e.key_at..e.key_at + e.key_len]
    }

    /// Probes for `key`: `Ok(cell)` holding its entry, or `Err(cell)` where it would go (the
    /// first tombstone passed, else the empty cell that ended the probe).
    fn find(&self, key: &[u8], hash: u64) -> std::result::Result<usize, usize> {
        let mask = self.table.len() - 1;
        let mut i = hash as usize & mask;
        let mut free = None;
        // The table is at most half full of entries and tombstones, so an empty cell ends
        // every probe.
        let tag = hash >> ENTRY_BITS;
        loop {
            match self.table[i] {
                EMPTY => return Err(free.unwrap_or(i)),
                TOMBSTONE => {
                    free.get_or_insert(i);
                }
                c if c >> ENTRY_BITS == tag => {
                    let e = &self.entries[(c & ENTRY_MASK) as usize - 1];
                    if e.hash == hash && self.key_of(e) == key {
                        return Ok(i);
                    }
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
    }

    /// The entry number a live cell holds.
    fn entry_at(&self, cell: usize) -> usize {
        (self.table[cell] & ENTRY_MASK) as usize - 1
    }

    /// The slot of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Slot> {
        let cell = self.find(key, self.hash(key)).ok()?;
        Some(self.entries[self.entry_at(cell)].slot)
    }

    /// Hashes `key` and asks the CPU to start loading the table cell where its probe begins,
    /// without waiting for it: the caller can do other work while that (usually cache-missing)
    /// load is in flight, then call [`Index::lookup_hashed`] with the result.
    pub fn prefetch(&self, key: &[u8]) -> KeyHash {
        let hash = self.hash(key);
        let cell = &self.table[hash as usize & (self.table.len() - 1)];
        pydbm_engine::prefetch::prefetch_value(cell);
        KeyHash {
            hash,
            key_len: key.len(),
        }
    }

    /// Looks `key` up once, for a following [`Index::set_found`]: a set after a get then
    /// costs no second hash and probe.
    pub fn lookup(&self, key: &[u8]) -> Lookup {
        let hash = self.hash(key);
        self.lookup_at(key, hash)
    }

    /// [`Index::lookup`] with the hash [`Index::prefetch`] computed for the same `key`. A
    /// `hashed` computed for a key of another length is ignored (the key is hashed again).
    pub fn lookup_hashed(&self, key: &[u8], hashed: KeyHash) -> Lookup {
        if hashed.key_len != key.len() {
            return self.lookup(key);
        }
        self.lookup_at(key, hashed.hash)
    }

    fn lookup_at(&self, key: &[u8], hash: u64) -> Lookup {
        let cell = self.find(key, hash);
        Lookup {
            hash,
            cell,
            version: self.version,
            slot: cell.ok().map(|c| self.entries[self.entry_at(c)].slot),
        }
    }

    /// Sets `key`'s slot, `found` being [`Index::lookup`] of the same `key`; a new key goes
    /// to the end. Returns whether the key was new. If the index changed since the lookup,
    /// this probes again (it is then [`Index::set`]).
    pub fn set_found(&mut self, found: Lookup, key: &[u8], slot: Slot) -> bool {
        if found.version != self.version {
            return self.set(key, slot);
        }
        self.set_at(found.hash, found.cell, key, slot)
    }

    /// Sets `key`'s slot; a new key goes to the end. Returns whether the key was new.
    pub fn set(&mut self, key: &[u8], slot: Slot) -> bool {
        let hash = self.hash(key);
        let found = self.find(key, hash);
        self.set_at(hash, found, key, slot)
    }

    fn set_at(
        &mut self,
        hash: u64,
        found: std::result::Result<usize, usize>,
        key: &[u8],
        slot: Slot,
    ) -> bool {
        let cell = match found {
            Ok(cell) => {
                let n = self.entry_at(cell);
                self.entries[n].slot = slot;
                return false;
            }
            Err(cell) => cell,
        };
        self.version = self.version.wrapping_add(1);
        if self.table[cell] == TOMBSTONE {
            self.tombstones -= 1;
        }
        self.entries.push(Entry {
            key_at: self.arena.len(),
            key_len: key.len(),
            hash,
            slot,
            live: true,
        });
        self.arena.extend_from_slice(key);
        self.table[cell] = cell_of(self.entries.len() - 1, hash);
        self.live += 1;
        if (self.live + self.tombstones) * 8 > self.table.len() * 7 {
            self.rebuild_table();
        }
        true
    }

    /// Removes `key`; returns its slot if it was present.
    pub fn remove(&mut self, key: &[u8]) -> Option<Slot> {
        let cell = self.find(key, self.hash(key)).ok()?;
        self.version = self.version.wrapping_add(1);
        let n = self.entry_at(cell);
        self.table[cell] = TOMBSTONE;
        self.tombstones += 1;
        self.live -= 1;
        self.entries[n].live = false;
        let slot = self.entries[n].slot;
        if self.entries.len() > 32 && self.live < self.entries.len() / 2 {
            self.compact();
        }
        Some(slot)
    }

    /// Drops removed entries and their key bytes, keeping the order of the others.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len());
        let mut entries = Vec::with_capacity(self.live);
        for e in self.entries.iter().filter(|e| e.live) {
            entries.push(Entry {
                key_at: arena.len(),
                ..e.clone()
            });
            arena.extend_from_slice(self.key_of(e));
        }
        self.arena = arena;
        self.entries = entries;
        self.rebuild_table();
    }

    /// Re-creates the table without tombstones, less than half full (so a growing index
    /// doubles its table; smaller tables keep more of it in the CPU caches).
    fn rebuild_table(&mut self) {
        let len = (self.live + self.live / 7 + 2).next_power_of_two().max(16);
        self.table.clear();
        self.table.resize(len, EMPTY);
        let mask = len - 1;
        for (n, e) in self.entries.iter().enumerate().filter(|(_, e)| e.live) {
            let mut i = e.hash as usize & mask;
            while self.table[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.table[i] = cell_of(n, e.hash);
        }
        self.tombstones = 0;
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Appends up to `max` live keys, in iteration order, starting at entry number `start`
    /// (0 for the first); returns the entry number to continue from. The numbers stay
    /// valid while the index is not changed.
    pub fn keys_from(&self, start: usize, max: usize, out: &mut Vec<Vec<u8>>) -> usize {
        let mut i = start;
        let mut taken = 0;
        while i < self.entries.len() && taken < max {
            let e = &self.entries[i];
            if e.live {
                out.push(self.key_of(e).to_vec());
                taken += 1;
            }
            i += 1;
        }
        i
    }

    /// Entries in iteration order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Slot)> {
        self.entries
            .iter()
            .filter(|e| e.live)
            .map(|e| (self.key_of(e), e.slot))
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
        assert!(ix.remove(b"k50").is_none());
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

    /// Random sets, updates and removals (with compactions and table rebuilds) against a
    /// plain ordered list with Python dict semantics.
    #[test]
    fn matches_a_dict_model() {
        let mut rng = pydbm_engine::prng::SplitMix64::new(11);
        let mut ix = Index::new();
        let mut model: Vec<(Vec<u8>, Slot)> = Vec::new();
        for step in 0..20_000u64 {
            let key: Vec<u8> = match rng.below(4) {
                0 => Vec::new(),
                _ => format!("k{}", rng.below(300)).into_bytes(),
            };
            let slot = Slot {
                pos: step,
                siz: rng.below(9),
            };
            if rng.below(3) == 0 {
                let want = model
                    .iter()
                    .position(|(k, _)| *k == key)
                    .map(|i| model.remove(i).1);
                assert_eq!(ix.remove(&key), want, "step {step}");
            } else {
                let new = match model.iter_mut().find(|(k, _)| *k == key) {
                    Some(e) => {
                        e.1 = slot;
                        false
                    }
                    None => {
                        model.push((key.clone(), slot));
                        true
                    }
                };
                if rng.below(2) == 0 {
                    assert_eq!(ix.set(&key, slot), new, "step {step}");
                } else {
                    let found = ix.lookup(&key);
                    assert_eq!(found.slot().is_none(), new, "step {step}");
                    if rng.below(8) == 0 {
                        // A lookup made stale by a change in between must still set right.
                        let other = format!("k{}", rng.below(300)).into_bytes();
                        if other != key && ix.remove(&other).is_some() {
                            let i = model.iter().position(|(k, _)| *k == other);
                            model.remove(i.expect("the model holds what the index held"));
                        }
                    }
                    assert_eq!(ix.set_found(found, &key, slot), new, "step {step}");
                }
            }
            assert_eq!(ix.len(), model.len());
            if step % 97 == 0 {
                let got: Vec<(Vec<u8>, Slot)> = ix.iter().map(|(k, s)| (k.to_vec(), s)).collect();
                assert_eq!(got, model, "step {step}");
                for (k, s) in &model {
                    assert_eq!(ix.get(k), Some(*s));
                }
                assert_eq!(ix.get(b"absent"), None);
            }
        }
    }
}
