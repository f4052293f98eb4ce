//! The bounded page cache: fixed-size pages of the pager's files, least recently used first
//! out. The cache only stores; the pager decides when a dirty page may leave it (after its
//! journal record is on disk, see pager.rs).

use std::collections::{BTreeMap, HashMap};

/// A page's key: the pager's file index and the page number (offset / page size).
pub type PageKey = (usize, u64);

/// A cached page.
#[derive(Debug, Clone)]
pub struct Page {
    /// Exactly one page of bytes; bytes past the file's end are zero.
    pub data: Box<[u8]>,
    /// Changed since it was last written to the file.
    pub dirty: bool,
    tick: u64,
}

/// A bounded LRU cache of pages.
#[derive(Debug)]
pub struct PageCache {
    page_size: usize,
    max_pages: usize,
    pages: HashMap<PageKey, Page>,
    order: BTreeMap<u64, PageKey>,
    tick: u64,
}

impl PageCache {
    /// A cache of `capacity_bytes / page_size` pages (at least 4).
    pub fn new(page_size: usize, capacity_bytes: usize) -> PageCache {
        PageCache {
            page_size,
            max_pages: (capacity_bytes / page_size.max(1)).max(4),
            pages: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    /// The page size.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Whether the cache is at capacity (the next insert needs an eviction first).
    pub fn is_full(&self) -> bool {
        self.pages.len() >= self.max_pages
    }

    /// Number of cached pages.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The page under `key`, marked most recently used.
    pub fn get_mut(&mut self, key: PageKey) -> Option<&mut Page> {
        let t = self.next_tick();
        let page = self.pages.get_mut(&key)?;
        self.order.remove(&page.tick);
        page.tick = t;
        self.order.insert(t, key);
        Some(page)
    }

    /// Whether `key` is cached (does not change the LRU order).
    pub fn contains(&self, key: PageKey) -> bool {
        self.pages.contains_key(&key)
    }

    /// Adds a page (the caller made room first if [`PageCache::is_full`]).
    pub fn insert(&mut self, key: PageKey, data: Box<[u8]>, dirty: bool) -> &mut Page {
        debug_assert_eq!(data.len(), self.page_size);
        self.remove(key);
        let t = self.next_tick();
        self.order.insert(t, key);
        self.pages.entry(key).or_insert(Page {
            data,
            dirty,
            tick: t,
        })
    }

    /// The least recently used page's key.
    pub fn lru(&self) -> Option<PageKey> {
        self.order.values().next().copied()
    }

    /// Takes a page out.
    pub fn remove(&mut self, key: PageKey) -> Option<Page> {
        let page = self.pages.remove(&key)?;
        self.order.remove(&page.tick);
        Some(page)
    }

    /// Keys of every dirty page, sorted (file, then page number).
    pub fn dirty_keys(&self) -> Vec<PageKey> {
        let mut v: Vec<PageKey> = self
            .pages
            .iter()
            .filter(|(_, p)| p.dirty)
            .map(|(k, _)| *k)
            .collect();
        v.sort_unstable();
        v
    }

    /// Keys of file `file`'s pages numbered `first_page` or more.
    pub fn keys_from(&self, file: usize, first_page: u64) -> Vec<PageKey> {
        self.pages
            .keys()
            .filter(|k| k.0 == file && k.1 >= first_page)
            .copied()
            .collect()
    }

    /// Drops every page.
    pub fn clear(&mut self) {
        self.pages.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_order_and_bound() {
        let mut c = PageCache::new(8, 32);
        assert!(!c.is_full());
        for i in 0..4 {
            c.insert((0, i), vec![i as u8; 8].into(), i == 2);
        }
        assert!(c.is_full());
        assert_eq!(c.lru(), Some((0, 0)));
        c.get_mut((0, 0)).unwrap();
        assert_eq!(c.lru(), Some((0, 1)));
        assert_eq!(c.dirty_keys(), vec![(0, 2)]);
        c.remove((0, 1));
        assert_eq!(c.lru(), Some((0, 2)));
        let mut k = c.keys_from(0, 2);
        k.sort();
        assert_eq!(k, vec![(0, 2), (0, 3)]);
        c.clear();
        assert!(c.is_empty());
    }
}
