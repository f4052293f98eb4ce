//! The per-handle bucket cache and bucket-buffer pool (gdbm spec §12.6, §12.7).
//!
//! libgdbm keeps recently used buckets in an LRU cache and recycles bucket-sized buffers
//! through a LIFO pool; because a split only partly resets a recycled buffer, which buffer
//! a new bucket gets decides stale bytes in the file. This module models both exactly.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for bucket addresses (multiplicative; addresses are not attacker-chosen
/// keys of a long-lived map, and collisions only cost speed).
#[derive(Default)]
pub struct AdrHasher(u64);

impl Hasher for AdrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, v: i64) {
        // Bucket addresses are multiples of the block size, so the product's low bits are
        // zero; the hash table picks slots by the low bits: fold the high half down.
        let h = (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

type AdrMap = HashMap<i64, usize, BuildHasherDefault<AdrHasher>>;

/// Hints the CPU to load the cache lines holding `v` (no effect off x86-64).
#[inline]
fn prefetch_value<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (v as *const T).cast::<u8>();
        let mut off = 0;
        while off < std::mem::size_of::<T>() {
            // SAFETY: `_mm_prefetch` needs SSE, part of the x86-64 baseline the compiler
            // targets. A prefetch is only a hint: it never faults and reads nothing into the
            // program; every address hinted lies inside `v`, a live borrow (`wrapping_add`
            // keeps the pointer arithmetic itself free of undefined behaviour).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(off).cast()) };
            off += 64;
        }
        if let Some(last) = std::mem::size_of::<T>().checked_sub(1) {
            // SAFETY: as above; `last` is `v`'s last byte (its line may not be covered yet
            // when `v` does not start on a line boundary).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(last).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

use super::bucket::Bucket;

const NIL: usize = usize::MAX;

struct Entry {
    adr: i64,
    bucket: Bucket,
    changed: bool,
}

/// A slot's place in the LRU list. Kept apart from the (large) entries so that moving a
/// bucket to the front touches two 16-byte links, not two entries' cache lines.
#[derive(Clone, Copy)]
struct Link {
    prev: usize,
    next: usize,
}

/// LRU cache of buckets keyed by file address, plus the buffer pool.
pub struct BucketCache {
    slots: Vec<Option<Entry>>,
    /// `links[i]`: slot `i`'s neighbours in the LRU list (meaningful while it is occupied).
    links: Vec<Link>,
    free_slots: Vec<usize>,
    map: AdrMap,
    /// Addresses marked changed since the last `take_changed` (may hold stale entries).
    dirty: Vec<i64>,
    head: usize,
    tail: usize,
    /// log2 of the capacity (starts at 9: 512 buckets, gdbm spec §12.7).
    cache_bits: u32,
    /// LIFO pool of recycled buffers (spec §12.6 item 4).
    pool: Vec<Bucket>,
    elems: usize,
}

impl BucketCache {
    /// An empty cache for buckets of `elems` slots.
    pub fn new(elems: usize) -> BucketCache {
        BucketCache {
            slots: Vec::new(),
            links: Vec::new(),
            free_slots: Vec::new(),
            map: AdrMap::default(),
            dirty: Vec::new(),
            head: NIL,
            tail: NIL,
            cache_bits: 9,
            pool: Vec::new(),
            elems,
        }
    }

    /// The slot holding `adr`. The most recently used bucket (the handle's current bucket,
    /// which nearly every lookup asks for) is checked before the hash map.
    #[inline]
    fn find(&self, adr: i64) -> Option<usize> {
        if let Some(Some(e)) = self.slots.get(self.head) {
            if e.adr == adr {
                return Some(self.head);
            }
        }
        self.map.get(&adr).copied()
    }

    /// Number of cached buckets.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether the bucket at `adr` is cached.
    pub fn contains(&self, adr: i64) -> bool {
        self.find(adr).is_some()
    }

    /// A buffer from the pool (most recently released first), or a zeroed one.
    pub fn take_buffer(&mut self) -> Bucket {
        self.pool
            .pop()
            .unwrap_or_else(|| Bucket::zeroed(self.elems))
    }

    /// Returns a buffer to the pool.
    pub fn release_buffer(&mut self, b: Bucket) {
        self.pool.push(b);
    }

    fn unlink(&mut self, i: usize) {
        let Link { prev: p, next: n } = self.links[i];
        if p != NIL {
            self.links[p].next = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.links[n].prev = p;
        } else {
            self.tail = p;
        }
    }

    fn link_after(&mut self, i: usize, after: usize) {
        let next = if after == NIL {
            self.head
        } else {
            self.links[after].next
        };
        self.links[i] = Link { prev: after, next };
        if after == NIL {
            self.head = i;
        } else {
            self.links[after].next = i;
        }
        if next != NIL {
            self.links[next].prev = i;
        } else {
            self.tail = i;
        }
    }

    /// Makes the bucket at `adr` most recently used. Returns false if not cached.
    pub fn touch(&mut self, adr: i64) -> bool {
        match self.find(adr) {
            Some(i) => {
                if self.head != i {
                    // The caller reads this entry next (its bucket's slots): start loading
                    // it now, so that miss overlaps the LRU relinking's misses.
                    prefetch_value(&self.slots[i]);
                    self.unlink(i);
                    self.link_after(i, NIL);
                }
                true
            }
            None => false,
        }
    }

    /// If the cache is full, grows it (while `cache_bits < dir_bits`) or evicts the least
    /// recently used bucket, returning it (and whether it was changed) so the caller can
    /// write it first; its buffer must then go back through [`BucketCache::release_buffer`].
    pub fn make_room(&mut self, dir_bits: u32) -> Option<(i64, Bucket, bool)> {
        if self.map.len() < (1usize << self.cache_bits) {
            return None;
        }
        if self.cache_bits < dir_bits {
            self.cache_bits += 1;
            return None;
        }
        let t = self.tail;
        if t == NIL {
            return None;
        }
        let e = self.remove_slot(t);
        Some((e.adr, e.bucket, e.changed))
    }

    fn remove_slot(&mut self, i: usize) -> Entry {
        self.unlink(i);
        let e = self.slots[i].take().expect("removed slot is occupied");
        self.map.remove(&e.adr);
        self.free_slots.push(i);
        e
    }

    /// Inserts a bucket at the front (`after = None`) or right after the cached bucket at
    /// `after`. The caller has made room.
    pub fn insert(&mut self, adr: i64, bucket: Bucket, changed: bool, after: Option<i64>) {
        let entry = Entry {
            adr,
            bucket,
            changed,
        };
        let unlinked = Link {
            prev: NIL,
            next: NIL,
        };
        let i = match self.free_slots.pop() {
            Some(i) => {
                self.slots[i] = Some(entry);
                self.links[i] = unlinked;
                i
            }
            None => {
                self.slots.push(Some(entry));
                self.links.push(unlinked);
                self.slots.len() - 1
            }
        };
        self.map.insert(adr, i);
        if changed {
            self.dirty.push(adr);
        }
        let anchor = after.and_then(|a| self.map.get(&a).copied()).unwrap_or(NIL);
        let anchor = if anchor == i { NIL } else { anchor };
        self.link_after(i, anchor);
    }

    /// Removes the bucket at `adr` from the cache and returns it (for a split's old bucket).
    pub fn remove(&mut self, adr: i64) -> Option<(Bucket, bool)> {
        let i = *self.map.get(&adr)?;
        let e = self.remove_slot(i);
        Some((e.bucket, e.changed))
    }

    /// The cached bucket at `adr`.
    pub fn get(&self, adr: i64) -> Option<&Bucket> {
        self.find(adr).map(|i| {
            &self.slots[i]
                .as_ref()
                .expect("mapped slot is occupied")
                .bucket
        })
    }

    /// The cached bucket at `adr`, mutably; marks it changed when `mark` is set.
    pub fn get_mut(&mut self, adr: i64, mark: bool) -> Option<&mut Bucket> {
        let i = self.find(adr)?;
        let e = self.slots[i].as_mut().expect("mapped slot is occupied");
        if mark && !e.changed {
            e.changed = true;
            self.dirty.push(adr);
        }
        Some(&mut e.bucket)
    }

    /// Marks the bucket at `adr` changed.
    pub fn mark_changed(&mut self, adr: i64) {
        if let Some(&i) = self.map.get(&adr) {
            self.slots[i]
                .as_mut()
                .expect("mapped slot is occupied")
                .changed = true;
        }
    }

    /// Addresses of changed buckets (in the order they were first changed); clears their
    /// flags. (libgdbm writes them most recently used first; within one transaction the
    /// order does not change the resulting bytes.)
    pub fn take_changed(&mut self) -> Vec<i64> {
        let mut out = std::mem::take(&mut self.dirty);
        out.retain(|adr| match self.map.get(adr) {
            Some(&i) => {
                let e = self.slots[i].as_mut().expect("mapped slot is occupied");
                std::mem::replace(&mut e.changed, false)
            }
            None => false,
        });
        out
    }

    /// Drops every cached bucket and pooled buffer (after an error, the state is reloaded).
    pub fn clear(&mut self) {
        *self = BucketCache::new(self.elems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Block-aligned addresses must spread over the hash table's low bits.
    #[test]
    fn adr_hash_spreads_aligned_addresses() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<AdrHasher>::default();
        let low: std::collections::HashSet<u64> = (1..=4096i64)
            .map(|i| b.hash_one(i * 4096) & 0xFFF)
            .collect();
        assert!(low.len() > 2000, "{} distinct low-12-bit values", low.len());
    }

    #[test]
    fn lru_and_pool() {
        let mut c = BucketCache::new(4);
        for a in [10, 20, 30] {
            let b = c.take_buffer();
            c.insert(a, b, false, None);
        }
        c.insert(40, Bucket::zeroed(4), true, Some(30));
        assert!(c.touch(10));
        assert_eq!(c.take_changed(), vec![40]);
        let (mut b, _) = c.remove(20).unwrap();
        b.count = 7;
        c.release_buffer(b);
        assert_eq!(c.take_buffer().count, 7);
        assert_eq!(c.len(), 3);
    }
}
