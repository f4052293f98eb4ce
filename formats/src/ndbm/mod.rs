//! `dbm.ndbm`: the Berkeley DB 5.3 hash file Python's `dbm.ndbm` writes on Debian and
//! Ubuntu (`NAME.db`), read and written at the spec's level L3 (identical to libdb on every
//! live byte for the same operation sequence).
//!
//! Layout of the module (ndbm spec in `docs/spec/ndbm.md`, design note `docs/ndbm.md`):
//! - [`meta`], [`page`]: the on-disk structures as plain data with parse/encode (no I/O).
//! - [`hash`]: libdb's hash function and the key order of sorted pages (§3.3, §3.4).
//! - [`store`] (lookup, insert, replace, delete), `alloc` (free list, overflow chains),
//!   `split` (table expansion): libdb's algorithms over the engine's [`pydbm_engine::Store`].
//! - [`db_dump`]: a parser for `db_dump` text output.

pub mod check;
pub mod compat;
pub mod db;
pub mod db185;
pub mod db_dump;
pub mod format;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod hash;
mod inplace;
pub mod live;
pub mod meta;
pub mod page;
pub mod page_edit;
mod raw_lookup;
pub mod store;

mod alloc;
mod split;

pub use db::{db_path, NdbmDb, LIBRARY};
pub use db_dump::parse_db_dump;
pub use format::{NdbmFormat, FORMAT};
pub use store::HashStore;

/// Page size of every file the ndbm shim creates (`set_pagesize(4096)`, ndbm spec §1).
pub const PAGE_SIZE: usize = 4096;

/// Byte order of a Berkeley DB file: the creating host's, detected from the meta magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Little-endian (x86, ARM): what pydbm writes for new files.
    Little,
    /// Big-endian (files made with `set_lorder(4321)` or on big-endian hosts).
    Big,
}

impl Endian {
    /// Decodes a u32 from the first 4 bytes of `b` (the caller passes at least 4 bytes).
    pub fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    /// Decodes a u16 from the first 2 bytes of `b`.
    pub fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    /// Encodes a u32.
    pub fn bytes32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a u16.
    pub fn bytes16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

#[cfg(test)]
mod corpus_tests;
