//! The file header block (gdbm spec §3, §4, §18) and the block size rule for new files (§3.1).
//!
//! ```
//! use pydbm_formats::gnu::header::Header;
//! use pydbm_formats::gnu::layout::{Layout, MAGIC64};
//!
//! let header = Header::new(Layout::NATIVE, 512);
//! let block = header.encode();
//! assert_eq!(block.len(), 512);
//! assert_eq!(block[..4], MAGIC64.to_le_bytes());
//! assert_eq!(Header::parse(&block)?, header);
//! // A truncated block is refused, naming the offset and what was expected there.
//! let err = Header::parse(&block[..100]).unwrap_err();
//! assert!(err.to_string().contains("512"), "{err}");
//! # Ok::<(), pydbm_formats::gnu::Malformed>(())
//! ```

use super::avail::{AvailBlock, AvailElem};
use super::layout::{GdbmCode, Layout, Malformed};

/// The decoded header block: every field of the standard or extended header plus the
/// header avail table (live and stale slots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Byte order, offset width and header format of the file.
    pub layout: Layout,
    /// Block size in bytes (header block, directory unit, file growth unit).
    pub block_size: i32,
    /// File address of the directory.
    pub dir: i64,
    /// Directory size in bytes.
    pub dir_size: i32,
    /// log2 of the number of directory entries.
    pub dir_bits: i32,
    /// Bucket size in bytes.
    pub bucket_size: i32,
    /// Slots per bucket.
    pub bucket_elems: i32,
    /// First unallocated byte (= file size after every completed update).
    pub next_block: i64,
    /// Extended header: `ext.version` (numsync layout only).
    pub ext_version: i32,
    /// Extended header: number of `gdbm_sync` calls (numsync layout only).
    pub numsync: u32,
    /// The header's avail table (`table.len()` = capacity for the block size).
    pub avail: AvailBlock,
}

/// Block size for a new file (spec §3.1): requests below 512 use `st_blksize`; the
/// result is rounded up to a power of two ≥ 64.
pub fn new_block_size(requested: i32, st_blksize: u64) -> i32 {
    let mut bs: i64 = if requested < 512 {
        st_blksize as i64
    } else {
        requested as i64
    };
    bs = bs.min(i32::MAX as i64 / 2);
    let mut p: i64 = 64;
    let mut n = 0;
    while p < bs && n < 25 {
        p *= 2;
        n += 1;
    }
    p as i32
}

impl Header {
    /// The header of a brand-new database (spec §2): one block each for header,
    /// directory and bucket, then a free block; `next_block = 4 * block_size`.
    pub fn new(layout: Layout, block_size: i32) -> Header {
        let bs = block_size as usize;
        let cap = layout.header_avail_capacity(bs);
        let dir_entries = bs / layout.off_size();
        Header {
            layout,
            block_size,
            dir: block_size as i64,
            dir_size: block_size,
            dir_bits: dir_entries.trailing_zeros() as i32,
            bucket_size: block_size,
            bucket_elems: layout.bucket_elems(bs) as i32,
            next_block: 4 * block_size as i64,
            ext_version: 0,
            numsync: 0,
            avail: AvailBlock {
                size: cap as i32,
                count: 0,
                next_block: 0,
                table: vec![AvailElem::default(); cap],
            },
        }
    }

    /// Reads the magic and block size from the first bytes of a file: the layout (detected
    /// from the magic and the header's bucket fields, [`Layout::detect`]) and how many
    /// bytes the header block has. Fails per spec §18 rules 1–2.
    pub fn peek(buf: &[u8]) -> Result<(Layout, usize), Malformed> {
        let layout = Layout::detect(buf)?;
        if buf.len() < layout.header_base() {
            return Err(Malformed::new(
                GdbmCode::FileEof,
                0,
                format!("a header of at least {} bytes", layout.header_base()),
            ));
        }
        let bs = layout.get_i32(buf, 4);
        let min = layout.header_avail_offset() as i64;
        if (bs as i64) <= min || (bs as i64) - min < 32 {
            return Err(Malformed::new(
                GdbmCode::BlockSizeError,
                4,
                format!("block size > {} (found {bs})", min + 31),
            ));
        }
        Ok((layout, bs as usize))
    }

    /// Decodes a whole header block (`buf` holds at least `block_size` bytes).
    pub fn parse(buf: &[u8]) -> Result<Header, Malformed> {
        let (l, bs) = Header::peek(buf)?;
        if buf.len() < bs {
            return Err(Malformed::new(
                GdbmCode::FileEof,
                0,
                format!("a header block of {bs} bytes"),
            ));
        }
        let o = l.off_size();
        let mut p = 8;
        let dir = l.get_off(buf, p);
        p += o;
        let dir_size = l.get_i32(buf, p);
        let dir_bits = l.get_i32(buf, p + 4);
        let bucket_size = l.get_i32(buf, p + 8);
        let bucket_elems = l.get_i32(buf, p + 12);
        let next_block = l.get_off(buf, p + 16);
        let (ext_version, numsync) = if l.numsync {
            let b = l.header_base();
            (l.get_i32(buf, b), l.get_u32(buf, b + 4))
        } else {
            (0, 0)
        };
        let cap = l.header_avail_capacity(bs);
        let avail = AvailBlock::parse(l, buf, l.header_avail_offset(), cap, 0)?;
        Ok(Header {
            layout: l,
            block_size: bs as i32,
            dir,
            dir_size,
            dir_bits,
            bucket_size,
            bucket_elems,
            next_block,
            ext_version,
            numsync,
            avail,
        })
    }

    /// Encodes the whole header block (`block_size` bytes; padding and tail zero).
    pub fn encode(&self) -> Vec<u8> {
        let l = self.layout;
        let mut buf = vec![0u8; self.block_size as usize];
        self.encode_into(&mut buf);
        let _ = l;
        buf
    }

    /// Encodes into `buf` (at least `block_size` bytes, assumed zeroed where unused).
    pub fn encode_into(&self, buf: &mut [u8]) {
        let l = self.layout;
        l.put_i32(buf, 0, l.magic() as i32);
        l.put_i32(buf, 4, self.block_size);
        let o = l.off_size();
        l.put_off(buf, 8, self.dir);
        let p = 8 + o;
        l.put_i32(buf, p, self.dir_size);
        l.put_i32(buf, p + 4, self.dir_bits);
        l.put_i32(buf, p + 8, self.bucket_size);
        l.put_i32(buf, p + 12, self.bucket_elems);
        l.put_off(buf, p + 16, self.next_block);
        if l.numsync {
            let b = l.header_base();
            l.put_i32(buf, b, self.ext_version);
            l.put_i32(buf, b + 4, self.numsync as i32);
            buf[b + 8..b + 32].fill(0);
        }
        self.avail.encode(l, buf, l.header_avail_offset());
    }

    /// Validates the fields against the file size (spec §18 rules 4–6). Returns whether
    /// the file needs recovery (`next_block < file_size`, rule 3: the open still succeeds).
    pub fn validate(&self, file_size: u64) -> Result<bool, Malformed> {
        let l = self.layout;
        let fs = file_size as i64;
        let bs = self.block_size as usize;
        let bad =
            |off: usize, what: String| Err(Malformed::new(GdbmCode::BadHeader, off as u64, what));
        let p = 8 + l.off_size();
        if !(self.dir > 0 && self.dir < fs) {
            return bad(
                8,
                format!("directory address inside the file (found {})", self.dir),
            );
        }
        let min_dir = bs as i64;
        if (self.dir_size as i64) < min_dir || self.dir.saturating_add(self.dir_size as i64) >= fs {
            return bad(
                p,
                format!(
                    "directory size ≥ {min_dir} ending before end of file (found {} at {})",
                    self.dir_size, self.dir
                ),
            );
        }
        let entries = self.dir_size as usize / l.off_size();
        if !entries.is_power_of_two()
            || entries * l.off_size() != self.dir_size as usize
            || self.dir_bits as u32 != entries.trailing_zeros()
        {
            return bad(
                p + 4,
                format!(
                    "dir_bits = log2 of the entry count of a {}-byte directory (found {})",
                    self.dir_size, self.dir_bits
                ),
            );
        }
        let min_bucket = l.bucket_header() + l.bucket_elem();
        if (self.bucket_size as i64) < min_bucket as i64 {
            return bad(
                p + 8,
                format!(
                    "bucket size > {} (found {})",
                    min_bucket - 1,
                    self.bucket_size
                ),
            );
        }
        // pydbm: a bucket must fit in the file (bounds the buffers a hostile header sizes).
        if self.bucket_size as i64 > fs {
            return bad(
                p + 8,
                format!(
                    "a bucket size within the {fs}-byte file (found {})",
                    self.bucket_size
                ),
            );
        }
        if self.bucket_elems as usize != l.bucket_elems(self.bucket_size as usize) {
            return bad(
                p + 12,
                format!(
                    "bucket_elems = {} for {}-byte buckets (found {})",
                    l.bucket_elems(self.bucket_size as usize),
                    self.bucket_size,
                    self.bucket_elems
                ),
            );
        }
        let ao = l.header_avail_offset();
        if self.avail.size as usize != self.avail.table.len() || self.avail.size <= 1 {
            return bad(
                ao,
                format!(
                    "header avail size {} (found {})",
                    self.avail.table.len(),
                    self.avail.size
                ),
            );
        }
        self.avail
            .validate(self.bucket_size as i64, self.next_block, ao as u64)?;
        if self.next_block < 0 {
            return bad(
                p + 16,
                format!("next_block ≥ 0 (found {})", self.next_block),
            );
        }
        Ok(self.next_block < fs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_rule() {
        assert_eq!(new_block_size(0, 4096), 4096);
        assert_eq!(new_block_size(600, 4096), 1024);
        assert_eq!(new_block_size(512, 4096), 512);
        assert_eq!(new_block_size(0, 100), 128);
    }

    #[test]
    fn new_header_roundtrip() {
        for l in [Layout::NATIVE, Layout::NATIVE_NUMSYNC] {
            let h = Header::new(l, 4096);
            let b = h.encode();
            assert_eq!(Header::parse(&b).unwrap(), h);
            assert_eq!(h.dir_bits, 9);
            assert_eq!(h.bucket_elems, 166);
        }
    }
}
