//! The bounded page cache: fixed-size pages of the pager's files, evicted by the CLOCK
//! algorithm (an approximation of least-recently-used that costs one bit per access). The
//! cache only stores; the pager decides when a dirty page may leave it (after its journal
//! record is on disk, see pager.rs).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::slab::Slab;

/// A page's key: the pager's file index and the page number (offset / page size).
pub type PageKey = (usize, u64);

/// FxHash-style hasher for [`PageKey`]s: a rotate-xor-multiply over the key's integers.
/// The index is looked up on every page read, and SipHash cost more than the lookup it
/// guards; keys are page numbers of the pager's own files, bounded by the cache size.
#[derive(Debug, Default, Clone, Copy)]
pub struct PageKeyHasher(u64);

impl PageKeyHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(Self::SEED);
    }
}

impl Hasher for PageKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }

    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
}

/// A cached page.
#[derive(Debug, Clone)]
pub struct Page {
    /// Exactly one page of bytes; bytes past the file's end are zero.
    pub data: Box<[u8]>,
    /// Changed since it was last written to the file.
    pub dirty: bool,
}

#[derive(Debug)]
struct Slot {
    key: PageKey,
    page: Page,
    /// Set on access, cleared as the clock hand passes; a clear slot is the next victim.
    referenced: bool,
}

/// A bounded cache of pages with CLOCK eviction.
#[derive(Debug)]
pub struct PageCache {
    page_size: usize,
    max_pages: usize,
    slots: Slab<Slot>,
    index: HashMap<PageKey, usize, BuildHasherDefault<PageKeyHasher>>,
    hand: usize,
}

impl PageCache {
    /// A cache of `capacity_bytes / page_size` pages (at least 4).
    pub fn new(page_size: usize, capacity_bytes: usize) -> PageCache {
        PageCache {
            page_size,
            max_pages: (capacity_bytes / page_size.max(1)).max(4),
            slots: Slab::new(),
            index: HashMap::default(),
            hand: 0,
        }
    }

    /// The page size.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Whether the cache is at capacity (the next insert needs an eviction first).
    pub fn is_full(&self) -> bool {
        self.index.len() >= self.max_pages
    }

    /// Number of cached pages.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The page under `key`, marked as recently used.
    pub fn get_mut(&mut self, key: PageKey) -> Option<&mut Page> {
        let i = *self.index.get(&key)?;
        let slot = self
            .slots
            .get_mut(i)
            .expect("index only names occupied slots");
        slot.referenced = true;
        Some(&mut slot.page)
    }

    /// The page under `key`, without marking it used.
    pub fn peek(&self, key: PageKey) -> Option<&Page> {
        let i = *self.index.get(&key)?;
        self.slots.get(i).map(|slot| &slot.page)
    }

    /// Whether `key` is cached (does not count as a use).
    pub fn contains(&self, key: PageKey) -> bool {
        self.index.contains_key(&key)
    }

    /// Adds a page (the caller made room first if [`PageCache::is_full`]).
    pub fn insert(&mut self, key: PageKey, data: Box<[u8]>, dirty: bool) -> &mut Page {
        debug_assert_eq!(data.len(), self.page_size);
        self.remove(key);
        let slot = Slot {
            key,
            page: Page { data, dirty },
            referenced: true,
        };
        let i = self.slots.insert(slot);
        self.index.insert(key, i);
        &mut self.slots.get_mut(i).expect("slot filled just above").page
    }

    /// The key of the page to evict next: the clock hand sweeps, clearing referenced bits,
    /// and stops at the first page not used since its last pass. `None` when empty.
    pub fn victim(&mut self) -> Option<PageKey> {
        if self.index.is_empty() {
            return None;
        }
        // Terminates within two sweeps: the first clears every bit it passes.
        loop {
            if self.hand >= self.slots.slot_count() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            if let Some(slot) = self.slots.get_mut(i) {
                if slot.referenced {
                    slot.referenced = false;
                } else {
                    return Some(slot.key);
                }
            }
        }
    }

    /// Takes a page out.
    pub fn remove(&mut self, key: PageKey) -> Option<Page> {
        let i = self.index.remove(&key)?;
        let slot = self
            .slots
            .remove(i)
            .expect("index only names occupied slots");
        Some(slot.page)
    }

    /// Keys of every dirty page, sorted (file, then page number).
    pub fn dirty_keys(&self) -> Vec<PageKey> {
        let mut v: Vec<PageKey> = self
            .slots
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.page.dirty)
            .map(|s| s.key)
            .collect();
        v.sort_unstable();
        v
    }

    /// Keys of file `file`'s pages numbered `first_page` or more, sorted (a fixed order keeps
    /// the slot reuse, hence eviction, deterministic: crash tests replay runs event by event).
    pub fn keys_from(&self, file: usize, first_page: u64) -> Vec<PageKey> {
        let mut v: Vec<PageKey> = self
            .index
            .keys()
            .filter(|k| k.0 == file && k.1 >= first_page)
            .copied()
            .collect();
        v.sort_unstable();
        v
    }

    /// Drops every page.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.index.clear();
        self.hand = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_evicts_unreferenced_pages_first() {
        let mut c = PageCache::new(8, 32);
        assert!(!c.is_full());
        for i in 0..4 {
            c.insert((0, i), vec![i as u8; 8].into(), i == 2);
        }
        assert!(c.is_full());
        // Every page is referenced once after insert: the first sweep clears, then page 0.
        assert_eq!(c.victim(), Some((0, 0)));
        c.get_mut((0, 0)).unwrap();
        c.get_mut((0, 1)).unwrap();
        // 0 and 1 were used since the hand passed; 2 was not.
        assert_eq!(c.victim(), Some((0, 2)));
        assert_eq!(c.dirty_keys(), vec![(0, 2)]);
        c.remove((0, 2));
        c.insert((1, 9), vec![9; 8].into(), false);
        assert_eq!(c.len(), 4);
        assert_eq!(c.keys_from(0, 1), vec![(0, 1), (0, 3)]);
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.victim(), None);
    }
}
