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

/// Address → the slot holding that bucket.
type AdrMap = HashMap<i64, usize, BuildHasherDefault<AdrHasher>>;

use super::bucket::{Bucket, BucketElem};
use pydbm_engine::prefetch::{prefetch_address, prefetch_value};
use pydbm_engine::slab::Slab;

/// Hints the CPU to load slot `elem` (`usize::MAX`: none) of the elems array at `base`.
#[inline]
fn prefetch_elem(base: usize, elem: usize) {
    if elem != usize::MAX {
        prefetch_address(base.wrapping_add(elem.wrapping_mul(std::mem::size_of::<BucketElem>())));
    }
}

const NIL: usize = usize::MAX;

/// The stamp of a free slot (never the least recently used: eviction takes the minimum).
const FREE: u64 = u64::MAX;

/// A directory index with no slot hint.
const NO_HINT: u32 = u32::MAX;

/// A cached bucket. Laid out so that a lookup's two reads, `adr` (to confirm a hint) and
/// the bucket's `elems` pointer, share the entry's first cache line.
#[repr(C, align(64))]
struct Entry {
    adr: i64,
    bucket: Bucket,
    changed: bool,
}

/// LRU cache of buckets keyed by file address, plus the buffer pool.
///
/// The LRU order (gdbm spec §12.7) is kept as recency stamps rather than a linked list:
/// making a bucket most recently used writes one `u64` (the next counter value) instead of
/// relinking it and its neighbours, so a cache hit touches no other entry. The order only
/// matters when the cache evicts, which scans for the smallest stamp (rare: the cache grows
/// while `cache_bits < dir_bits`).
pub struct BucketCache {
    slots: Slab<Entry>,
    /// `stamps[i]`: slot `i`'s recency (larger = more recently used; [`FREE`] if empty).
    /// Stamps of occupied slots are distinct; kept apart from the (large) entries so the
    /// eviction scan reads a compact array.
    stamps: Vec<u64>,
    /// The last stamp handed out: the most recently used bucket's stamp.
    clock: u64,
    map: AdrMap,
    /// Addresses marked changed since the last `take_changed` (may hold stale entries).
    dirty: Vec<i64>,
    /// The slot last made most recently used: a lookup hint only (may be stale or NIL).
    head: usize,
    /// Directory index → the slot that held its bucket when last looked up ([`NO_HINT`]:
    /// none): a lookup hint only, read before the hash map. A hint may be stale (the
    /// directory entry changed, the bucket was evicted, the slot reused): a hit is taken
    /// only when the hinted slot holds the directory entry's address. Kept compact (4
    /// bytes an entry) so it stays in the CPU's near caches: a lookup then starts loading
    /// the bucket's slots without waiting for a far memory access first.
    hints: Vec<u32>,
    /// Slot → the address of its bucket's `elems` buffer when the slot was last filled
    /// (stale once the slot is emptied): only ever prefetched.
    bases: Vec<usize>,
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
            slots: Slab::new(),
            stamps: Vec::new(),
            clock: 0,
            map: AdrMap::default(),
            dirty: Vec::new(),
            hints: Vec::new(),
            bases: Vec::new(),
            head: NIL,
            cache_bits: 9,
            pool: Vec::new(),
            elems,
        }
    }

    /// The slot holding `adr`. The most recently used bucket (the handle's current bucket,
    /// which nearly every lookup asks for) is checked before the hash map.
    #[inline]
    fn find(&self, adr: i64) -> Option<usize> {
        if self.head_holds(adr) {
            return Some(self.head);
        }
        self.map.get(&adr).copied()
    }

    /// Whether the most recently used slot holds the bucket at `adr`.
    #[inline]
    fn head_holds(&self, adr: i64) -> bool {
        self.slots.get(self.head).is_some_and(|e| e.adr == adr)
    }

    /// Makes slot `i` the most recently used.
    #[inline]
    fn stamp_front(&mut self, i: usize) {
        self.clock += 1;
        self.stamps[i] = self.clock;
        self.head = i;
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

    /// Makes the bucket at `adr` most recently used. Returns false if not cached.
    pub fn touch(&mut self, adr: i64) -> bool {
        let found = self.find(adr);
        self.hit(found)
    }

    /// [`BucketCache::touch`] for the bucket that directory entry `dir_index` names
    /// (`adr`), hinting the CPU to load slot `elem` of the bucket (where the caller's probe
    /// walk starts; `usize::MAX`: none) as early as it can: tries the hint recorded for
    /// that entry before the hash map, and records it on a map hit. Hints never change the
    /// outcome, only the memory traffic. They are bounded by the largest directory index
    /// asked for (the caller's directory).
    #[inline]
    pub fn touch_dir(&mut self, dir_index: usize, adr: i64, elem: usize) -> bool {
        if self.head_holds(adr) {
            return self.hit(Some(self.head));
        }
        if let Some(&hint) = self.hints.get(dir_index) {
            let i = hint as usize;
            if let Some(&base) = self.bases.get(i) {
                // Prefetch before checking the hint: the check and the slot loads overlap.
                prefetch_elem(base, elem);
                if self.slots.get(i).is_some_and(|e| e.adr == adr) {
                    return self.hit(Some(i));
                }
            }
        }
        let Some(&i) = self.map.get(&adr) else {
            return false;
        };
        if let Some(&base) = self.bases.get(i) {
            prefetch_elem(base, elem);
        }
        if self.hints.len() <= dir_index {
            self.hints.resize(dir_index + 1, NO_HINT);
        }
        self.hints[dir_index] = u32::try_from(i).unwrap_or(NO_HINT);
        self.hit(Some(i))
    }

    /// The end of a lookup: makes slot `found` most recently used.
    #[inline]
    fn hit(&mut self, found: Option<usize>) -> bool {
        match found {
            Some(i) => {
                if self.stamps[i] != self.clock {
                    // The caller reads this entry's first line next (its bucket's `elems`
                    // pointer): start loading it.
                    if let Some(e) = self.slots.get(i) {
                        prefetch_value(&e.adr);
                    }
                    self.stamp_front(i);
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
        // The least recently used bucket: the smallest stamp (free slots hold FREE).
        let lru = self
            .stamps
            .iter()
            .enumerate()
            .min_by_key(|&(_, &st)| st)
            .filter(|&(_, &st)| st != FREE)
            .map(|(i, _)| i)?;
        let e = self.remove_slot(lru);
        Some((e.adr, e.bucket, e.changed))
    }

    fn remove_slot(&mut self, i: usize) -> Entry {
        self.stamps[i] = FREE;
        if self.head == i {
            self.head = NIL;
        }
        let e = self.slots.remove(i).expect("removed slot is occupied");
        self.map.remove(&e.adr);
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
        let base = entry.bucket.elems.as_ptr() as usize;
        let i = self.slots.insert(entry);
        if self.stamps.len() <= i {
            // A new slot (stamped just below) and its side arrays.
            self.stamps.resize(i + 1, FREE);
            self.bases.resize(i + 1, 0);
        }
        self.bases[i] = base;
        self.map.insert(adr, i);
        if changed {
            self.dirty.push(adr);
        }
        let anchor = after
            .and_then(|a| self.map.get(&a).copied())
            .filter(|&a| a != i);
        match anchor {
            None => self.stamp_front(i),
            // The anchor is the most recently used bucket (a split's old bucket always is):
            // the new bucket takes its stamp and the anchor a fresh one, so the new bucket
            // sits right after the anchor, ahead of everything else (including buckets
            // inserted after the anchor before it, as a list insertion would place them).
            Some(a) if self.stamps[a] == self.clock => {
                self.stamps[i] = self.stamps[a];
                self.stamp_front(a);
            }
            Some(a) => self.insert_after_older(i, a),
        }
    }

    /// Places slot `i` right after slot `a` in the LRU order when `a` is not the most
    /// recently used: renumbers every occupied slot in order (O(n log n); never taken by
    /// the handle, whose anchors are always the front, but kept exact for any caller).
    fn insert_after_older(&mut self, i: usize, a: usize) {
        let mut order: Vec<usize> = (0..self.stamps.len())
            .filter(|&j| j != i && self.stamps[j] != FREE)
            .collect();
        order.sort_by_key(|&j| std::cmp::Reverse(self.stamps[j]));
        let pos = order
            .iter()
            .position(|&j| j == a)
            .expect("the anchor is an occupied slot");
        order.insert(pos + 1, i);
        let n = order.len() as u64;
        for (rank, &j) in order.iter().enumerate() {
            self.stamps[j] = self.clock + n - rank as u64;
        }
        self.clock += n;
        self.head = order[0];
    }

    /// Removes the bucket at `adr` from the cache and returns it (for a split's old bucket).
    pub fn remove(&mut self, adr: i64) -> Option<(Bucket, bool)> {
        let i = *self.map.get(&adr)?;
        let e = self.remove_slot(i);
        Some((e.bucket, e.changed))
    }

    /// The cached bucket at `adr`.
    pub fn get(&self, adr: i64) -> Option<&Bucket> {
        self.find(adr)
            .map(|i| &self.slots.get(i).expect("mapped slot is occupied").bucket)
    }

    /// The cached bucket at `adr`, mutably; marks it changed when `mark` is set.
    pub fn get_mut(&mut self, adr: i64, mark: bool) -> Option<&mut Bucket> {
        let i = self.find(adr)?;
        let e = self.slots.get_mut(i).expect("mapped slot is occupied");
        if mark && !e.changed {
            e.changed = true;
            self.dirty.push(adr);
        }
        Some(&mut e.bucket)
    }

    /// Marks the bucket at `adr` changed.
    pub fn mark_changed(&mut self, adr: i64) {
        if let Some(&i) = self.map.get(&adr) {
            self.slots
                .get_mut(i)
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
                let e = self.slots.get_mut(i).expect("mapped slot is occupied");
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
impl BucketCache {
    /// An empty cache starting at `2^cache_bits` buckets (tests: small caches evict often).
    fn with_bits(elems: usize, cache_bits: u32) -> BucketCache {
        BucketCache {
            cache_bits,
            ..BucketCache::new(elems)
        }
    }

    /// Cached addresses, most recently used first.
    fn lru_order(&self) -> Vec<i64> {
        let mut v: Vec<(u64, i64)> = self
            .slots
            .iter()
            .map(|(i, e)| (self.stamps[i], e.adr))
            .collect();
        v.sort_by_key(|&(st, _)| std::cmp::Reverse(st));
        v.into_iter().map(|(_, adr)| adr).collect()
    }
}

/// The previous LRU implementation (a doubly linked list relinked on every touch), kept as
/// the reference the stamp-based order is checked against.
#[cfg(test)]
mod list_lru {
    use std::collections::HashMap;

    const NIL: usize = usize::MAX;

    #[derive(Clone, Copy)]
    struct Link {
        prev: usize,
        next: usize,
    }

    /// Linked-list LRU over addresses, with the same growth rule as `BucketCache`.
    pub struct ListLru {
        adrs: Vec<Option<i64>>,
        links: Vec<Link>,
        free_slots: Vec<usize>,
        map: HashMap<i64, usize>,
        head: usize,
        tail: usize,
        cache_bits: u32,
    }

    impl ListLru {
        pub fn new(cache_bits: u32) -> ListLru {
            ListLru {
                adrs: Vec::new(),
                links: Vec::new(),
                free_slots: Vec::new(),
                map: HashMap::new(),
                head: NIL,
                tail: NIL,
                cache_bits,
            }
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

        pub fn touch(&mut self, adr: i64) -> bool {
            match self.map.get(&adr).copied() {
                Some(i) => {
                    if self.head != i {
                        self.unlink(i);
                        self.link_after(i, NIL);
                    }
                    true
                }
                None => false,
            }
        }

        pub fn make_room(&mut self, dir_bits: u32) -> Option<i64> {
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
            self.remove_slot(t)
        }

        fn remove_slot(&mut self, i: usize) -> Option<i64> {
            self.unlink(i);
            let adr = self.adrs[i].take();
            if let Some(a) = adr {
                self.map.remove(&a);
            }
            self.free_slots.push(i);
            adr
        }

        pub fn insert(&mut self, adr: i64, after: Option<i64>) {
            let unlinked = Link {
                prev: NIL,
                next: NIL,
            };
            let i = match self.free_slots.pop() {
                Some(i) => {
                    self.adrs[i] = Some(adr);
                    self.links[i] = unlinked;
                    i
                }
                None => {
                    self.adrs.push(Some(adr));
                    self.links.push(unlinked);
                    self.adrs.len() - 1
                }
            };
            self.map.insert(adr, i);
            let anchor = after.and_then(|a| self.map.get(&a).copied()).unwrap_or(NIL);
            let anchor = if anchor == i { NIL } else { anchor };
            self.link_after(i, anchor);
        }

        pub fn remove(&mut self, adr: i64) -> Option<i64> {
            let i = *self.map.get(&adr)?;
            self.remove_slot(i)
        }

        /// Cached addresses, most recently used first.
        pub fn order(&self) -> Vec<i64> {
            let mut out = Vec::new();
            let mut i = self.head;
            while i != NIL {
                out.push(self.adrs[i].expect("linked slot is occupied"));
                i = self.links[i].next;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One step of a random workload over both LRU implementations.
    #[derive(Debug, Clone)]
    enum Op {
        /// A lookup: touch if cached, else make room and load at the front (`get_bucket`).
        Get(i64),
        /// The same lookup through directory entry `.1`'s slot hint (`touch_dir`): hints
        /// go stale as buckets move, and must never change the outcome.
        GetDir(i64, usize),
        /// A split of the bucket at the address (loaded first): two new buckets linked
        /// right after it, the old one removed, one of the new ones made current.
        Split(i64, bool),
        /// An insertion after an arbitrary cached bucket (not only the front).
        InsertAfter(i64, i64),
        /// Removal of a bucket.
        Remove(i64),
        /// A directory doubling (lets the cache grow).
        GrowDir,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0i64..40).prop_map(Op::Get),
            2 => ((0i64..40), any::<bool>()).prop_map(|(a, c)| Op::Split(a, c)),
            1 => ((0i64..40), (0i64..40)).prop_map(|(a, b)| Op::InsertAfter(a, b)),
            1 => (0i64..40).prop_map(Op::Remove),
            1 => Just(Op::GrowDir),
        ]
    }

    /// [`op`] plus lookups through directory hints (kept apart so the committed regression
    /// seeds of `stamps_match_list_lru` still generate the cases they were saved for).
    fn op_with_hints() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => op(),
            2 => ((0i64..40), (0usize..8)).prop_map(|(a, d)| Op::GetDir(a, d)),
        ]
    }

    /// Runs `ops` on both; returns an error at the first differing victim or order.
    fn same_victims(bits: u32, ops: &[Op]) -> Result<(), TestCaseError> {
        let mut new = BucketCache::with_bits(1, bits);
        let mut old = list_lru::ListLru::new(bits);
        let mut dir_bits = bits;
        let mut next_adr = 1000i64;
        let room = |new: &mut BucketCache, old: &mut list_lru::ListLru, dir_bits: u32| {
            let a = new.make_room(dir_bits).map(|(adr, _, _)| adr);
            let b = old.make_room(dir_bits);
            prop_assert_eq!(a, b, "victims differ");
            Ok(())
        };
        for op in ops {
            match *op {
                Op::Get(adr) | Op::GetDir(adr, _) => {
                    let hit = match *op {
                        Op::GetDir(_, dir_index) => new.touch_dir(dir_index, adr, 0),
                        _ => new.touch(adr),
                    };
                    prop_assert_eq!(hit, old.touch(adr));
                    if !hit {
                        room(&mut new, &mut old, dir_bits)?;
                        new.insert(adr, Bucket::zeroed(1), false, None);
                        old.insert(adr, None);
                    }
                }
                Op::Split(adr, second) => {
                    if !new.touch(adr) {
                        room(&mut new, &mut old, dir_bits)?;
                        new.insert(adr, Bucket::zeroed(1), false, None);
                        old.insert(adr, None);
                    } else {
                        old.touch(adr);
                    }
                    let (a0, a1) = (next_adr, next_adr + 1);
                    next_adr += 2;
                    for a in [a0, a1] {
                        room(&mut new, &mut old, dir_bits)?;
                        new.insert(a, Bucket::zeroed(1), true, Some(adr));
                        old.insert(a, Some(adr));
                    }
                    prop_assert_eq!(new.remove(adr).is_some(), old.remove(adr).is_some());
                    let cur = if second { a1 } else { a0 };
                    prop_assert_eq!(new.touch(cur), old.touch(cur));
                }
                Op::InsertAfter(anchor, adr) => {
                    if !new.contains(adr) {
                        room(&mut new, &mut old, dir_bits)?;
                        new.insert(adr, Bucket::zeroed(1), false, Some(anchor));
                        old.insert(adr, Some(anchor));
                    }
                }
                Op::Remove(adr) => {
                    prop_assert_eq!(new.remove(adr).is_some(), old.remove(adr).is_some());
                }
                Op::GrowDir => dir_bits += 1,
            }
            prop_assert_eq!(new.lru_order(), old.order(), "orders differ after {:?}", op);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// The stamp order evicts the same buckets, in the same order, as the linked list.
        #[test]
        fn stamps_match_list_lru(bits in 0u32..4, ops in proptest::collection::vec(op(), 1..300)) {
            same_victims(bits, &ops)?;
        }

        /// Lookups through stale or fresh directory hints hit, miss and reorder exactly as
        /// plain lookups do.
        #[test]
        fn dir_hints_never_change_lookups(
            bits in 0u32..4,
            ops in proptest::collection::vec(op_with_hints(), 1..300),
        ) {
            same_victims(bits, &ops)?;
        }
    }

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
