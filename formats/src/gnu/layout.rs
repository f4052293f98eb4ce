//! The byte layout variants of a gdbm file (gdbm spec §3.2, §4, §21) and the
//! field codec shared by every on-disk structure.
//!
//! A gdbm file is a plain image of C structs, so its layout depends on the writer's
//! endianness and `off_t` width. [`Layout`] names one variant; its methods give every
//! structure's field offsets and read/write integers in that variant. Nothing here does I/O.

use std::fmt;

/// gdbm error codes of libgdbm 1.23 that pydbm reports (gdbm spec §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GdbmCode {
    /// 2 "Block size error".
    BlockSizeError = 2,
    /// 7 "Bad magic number".
    BadMagicNumber = 7,
    /// 8 "Empty database".
    EmptyDatabase = 8,
    /// 18 "Malformed data" (dump loading).
    MalformedData = 18,
    /// 21 "Byte-swapped file".
    ByteSwapped = 21,
    /// 22 "File header assumes wrong off_t size".
    BadFileOffset = 22,
    /// 25 "Unexpected end of file".
    FileEof = 25,
    /// 29 "Database needs recovery".
    NeedRecovery = 29,
    /// 31 "Bucket directory overflow".
    DirOverflow = 31,
    /// 32 "Malformed bucket header".
    BadBucket = 32,
    /// 33 "Malformed database file header".
    BadHeader = 33,
    /// 34 "Malformed avail_block".
    BadAvail = 34,
    /// 35 "Malformed hash table".
    BadHashTable = 35,
    /// 36 "Invalid directory entry".
    BadDirEntry = 36,
    /// 41 "Malformed bucket hash entry".
    BadHashEntry = 41,
}

impl GdbmCode {
    /// libgdbm's message for the code (`gdbm_strerror`).
    pub fn message(self) -> &'static str {
        match self {
            GdbmCode::BlockSizeError => "Block size error",
            GdbmCode::BadMagicNumber => "Bad magic number",
            GdbmCode::EmptyDatabase => "Empty database",
            GdbmCode::MalformedData => "Malformed data",
            GdbmCode::ByteSwapped => "Byte-swapped file",
            GdbmCode::BadFileOffset => "File header assumes wrong off_t size",
            GdbmCode::FileEof => "Unexpected end of file",
            GdbmCode::NeedRecovery => "Database needs recovery",
            GdbmCode::DirOverflow => "Bucket directory overflow",
            GdbmCode::BadBucket => "Malformed bucket header",
            GdbmCode::BadHeader => "Malformed database file header",
            GdbmCode::BadAvail => "Malformed avail_block",
            GdbmCode::BadHashTable => "Malformed hash table",
            GdbmCode::BadDirEntry => "Invalid directory entry",
            GdbmCode::BadHashEntry => "Malformed bucket hash entry",
        }
    }
}

/// A structural problem found by a pure parser: where, what was expected, and the
/// libgdbm error code the reference reports for it. Convert with [`Malformed::at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Absolute file offset of the bad structure or field.
    pub offset: u64,
    /// What a valid file has there.
    pub expected: String,
    /// The matching libgdbm error code.
    pub code: GdbmCode,
}

impl Malformed {
    /// Builds a problem report.
    pub fn new(code: GdbmCode, offset: u64, expected: impl Into<String>) -> Self {
        Malformed {
            offset,
            expected: expected.into(),
            code,
        }
    }

    /// The workspace error for this problem in file `path` (always [`pydbm_engine::Error::Corrupt`]).
    pub fn at(&self, path: &std::path::Path) -> pydbm_engine::Error {
        pydbm_engine::Error::corrupt(
            path,
            self.offset,
            format!("{} (gdbm: {})", self.expected, self.code.message()),
        )
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "offset {}: expected {} (gdbm: {})",
            self.offset,
            self.expected,
            self.code.message()
        )
    }
}

/// `OMAGIC`: the original format (gdbm ≤ 1.8), whose magic does not say the `off_t` width
/// (spec §3.2; docs/gdbm.md "Layouts": pydbm derives it from the header).
pub const OMAGIC: u32 = 0x13579ace;
/// `MAGIC32`: standard format with 32-bit `off_t`.
pub const MAGIC32: u32 = 0x13579acd;
/// `MAGIC64`: standard format with 64-bit `off_t` (what libgdbm 1.23 writes on x86-64).
pub const MAGIC64: u32 = 0x13579acf;
/// Extended (numsync) format with 32-bit `off_t`.
pub const NUMSYNC_MAGIC32: u32 = 0x13579ad0;
/// Extended (numsync) format with 64-bit `off_t`.
pub const NUMSYNC_MAGIC64: u32 = 0x13579ad1;

/// One layout variant: byte order, `off_t` width and alignment, header format (spec §3.2,
/// §4, §21; docs/gdbm.md "Layouts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Integers are big-endian (a file from a big-endian machine).
    pub big_endian: bool,
    /// `off_t` is 8 bytes (MAGIC64 / NUMSYNC_MAGIC64, usually OMAGIC); else 4 bytes (MAGIC32).
    pub off64: bool,
    /// An 8-byte `off_t` aligned to 4 bytes, as the i386 ABI lays out structs (spec §21): the
    /// avail element is 12 bytes (`av_adr` at 4), the bucket's avail table starts at 4 and
    /// the bucket header is 84 bytes, so a 512-byte bucket holds 17 slots. Only meaningful
    /// with `off64` (a 4-byte `off_t` is 4-aligned everywhere).
    pub off_align4: bool,
    /// The writer's plain `char` is unsigned (s390x, PowerPC, ARM), so key bytes ≥ 0x80
    /// hash zero-extended (spec §0 fact 2, §7). Not in the header: an opened big-endian
    /// file's keys decide it, unsigned when none can ([`crate::gnu::char_sign`]);
    /// little-endian files are x86's signed `char` (libgdbm on x86-64 and i386).
    pub unsigned_char: bool,
    /// Extended header with the numsync counter (spec §4).
    pub numsync: bool,
    /// The file carries OMAGIC (read with the native 64-bit standard layout).
    pub omagic: bool,
}

impl Layout {
    /// What libgdbm 1.23 writes on x86-64: little-endian, 64-bit, standard header.
    pub const NATIVE: Layout = Layout {
        big_endian: false,
        off64: true,
        off_align4: false,
        unsigned_char: false,
        numsync: false,
        omagic: false,
    };
    /// The native extended (numsync) layout.
    pub const NATIVE_NUMSYNC: Layout = Layout {
        big_endian: false,
        off64: true,
        off_align4: false,
        unsigned_char: false,
        numsync: true,
        omagic: false,
    };

    /// The layout a file's magic names, with 8-aligned offsets. Unknown magic →
    /// [`GdbmCode::BadMagicNumber`] at offset 0. The magic alone does not tell the offset
    /// alignment (nor, for OMAGIC, the width): [`Layout::detect`] settles both from the
    /// header.
    pub fn from_magic(bytes: [u8; 4]) -> Result<Layout, Malformed> {
        for big_endian in [false, true] {
            let v = if big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            };
            let (off64, numsync, omagic) = match v {
                OMAGIC => (true, false, true),
                MAGIC32 => (false, false, false),
                MAGIC64 => (true, false, false),
                NUMSYNC_MAGIC32 => (false, true, false),
                NUMSYNC_MAGIC64 => (true, true, false),
                _ => continue,
            };
            return Ok(Layout {
                big_endian,
                off64,
                off_align4: false,
                unsigned_char: false,
                numsync,
                omagic,
            });
        }
        Err(Malformed::new(
            GdbmCode::BadMagicNumber,
            0,
            "a gdbm magic number (0x13579ace..0x13579ad1, either byte order)",
        ))
    }

    /// Identifies the layout of a file from the first bytes of its header (at least 40, or
    /// all of a shorter file): the byte order, header format and (except for OMAGIC) the
    /// `off_t` width come from the magic (spec §3.2); the alignment of 8-byte offsets —
    /// and for OMAGIC the width — from the header's own `bucket_size` and `bucket_elems`,
    /// because every writing ABI stores `bucket_elems = (bucket_size − sizeof(hash_bucket))
    /// / sizeof(bucket_element) + 1` (spec §3.1 rule 5) and the candidates' bucket headers
    /// differ by more than one element (docs/gdbm.md "Layouts"). A header that fits no
    /// candidate gets the magic's 8-aligned layout, whose validation then names the field.
    pub fn detect(prefix: &[u8]) -> Result<Layout, Malformed> {
        if prefix.len() < 4 {
            return Err(Malformed::new(
                GdbmCode::FileEof,
                0,
                "a 4-byte magic number",
            ));
        }
        let named = Layout::from_magic([prefix[0], prefix[1], prefix[2], prefix[3]])?;
        let candidates: &[(bool, bool)] = match (named.omagic, named.off64) {
            // OMAGIC predates the width-specific magics: x86-64, i386 with large files, i386.
            (true, _) => &[(true, false), (true, true), (false, false)],
            (false, true) => &[(true, false), (true, true)],
            (false, false) => &[(false, false)],
        };
        for &(off64, off_align4) in candidates {
            let l = Layout {
                off64,
                off_align4,
                ..named
            };
            if l.header_matches(prefix) {
                return Ok(l);
            }
        }
        Ok(named)
    }

    /// Whether `prefix` holds a header whose `bucket_elems` is the slot count this layout
    /// gives its `bucket_size` (the test [`Layout::detect`] tells layouts apart by).
    fn header_matches(self, prefix: &[u8]) -> bool {
        let p = 8 + self.off_size();
        if prefix.len() < p + 16 {
            return false;
        }
        let bucket_size = self.get_i32(prefix, p + 8);
        let bucket_elems = self.get_i32(prefix, p + 12);
        let min = self.bucket_header() + self.bucket_elem();
        bucket_size >= 0
            && bucket_size as usize >= min
            && bucket_elems as i64 == self.bucket_elems(bucket_size as usize) as i64
    }

    /// A short name of the variant for messages and `stats`, e.g. "little-endian, 64-bit
    /// off_t aligned to 4 (i386), standard header".
    pub fn describe(self) -> String {
        format!(
            "{}-endian, {}, {} header{}{}",
            if self.big_endian { "big" } else { "little" },
            match (self.off64, self.off_align4) {
                (false, _) => "32-bit off_t",
                (true, false) => "64-bit off_t",
                (true, true) => "64-bit off_t aligned to 4 (i386)",
            },
            if self.numsync {
                "numsync (extended)"
            } else {
                "standard"
            },
            if self.omagic { " (OMAGIC)" } else { "" },
            if self.unsigned_char {
                ", keys hashed as unsigned char"
            } else {
                ""
            }
        )
    }

    /// The magic number this layout writes (as a native value).
    pub fn magic(self) -> u32 {
        match (self.omagic, self.numsync, self.off64) {
            (true, _, _) => OMAGIC,
            (false, false, true) => MAGIC64,
            (false, false, false) => MAGIC32,
            (false, true, true) => NUMSYNC_MAGIC64,
            (false, true, false) => NUMSYNC_MAGIC32,
        }
    }

    /// Whether libgdbm 1.23 on x86-64 reads this layout itself (spec §21: byte-swapped →
    /// error 21, 32-bit → error 22; an i386 file carries the native magic, so its
    /// `bucket_elems` fails the header check → error 33). pydbm reads them all.
    pub fn reference_code(self) -> Option<GdbmCode> {
        if self.big_endian {
            Some(GdbmCode::ByteSwapped)
        } else if !self.off64 {
            Some(GdbmCode::BadFileOffset)
        } else if self.off_align4 {
            Some(GdbmCode::BadHeader)
        } else {
            None
        }
    }

    /// Size of an `off_t`.
    pub fn off_size(self) -> usize {
        if self.off64 {
            8
        } else {
            4
        }
    }
    /// Size of the standard header fields before the avail block (40 / 32).
    pub fn header_base(self) -> usize {
        if self.off64 {
            40
        } else {
            32
        }
    }
    /// Offset of the header's avail block (40 std, 72 numsync; 32 / 64 for 32-bit).
    pub fn header_avail_offset(self) -> usize {
        self.header_base() + if self.numsync { 32 } else { 0 }
    }
    /// Size of an avail block head: `size`, `count`, `next_block` (16 / 12; 16 in both
    /// 64-bit alignments, `next_block` falling at 8 either way).
    pub fn avail_head(self) -> usize {
        if self.off64 {
            16
        } else {
            12
        }
    }
    /// Size of one avail element: `int av_size; off_t av_adr;` (16, 12 with 4-aligned
    /// 8-byte offsets, 8 with 4-byte offsets).
    pub fn avail_elem(self) -> usize {
        self.avail_adr_offset() + self.off_size()
    }
    /// Offset of `av_adr` inside an avail element (8 when 8-byte offsets are 8-aligned,
    /// else 4: no padding after `av_size`).
    pub fn avail_adr_offset(self) -> usize {
        if self.off64 && !self.off_align4 {
            8
        } else {
            4
        }
    }
    /// Size of one bucket element (24 / 20; 24 in both 64-bit alignments, having no
    /// padding).
    pub fn bucket_elem(self) -> usize {
        if self.off64 {
            24
        } else {
            20
        }
    }
    /// Offset of the bucket's avail array: after `int av_count`, aligned like an `off_t`
    /// (8, or 4 with 4-aligned or 4-byte offsets).
    pub fn bucket_avail_offset(self) -> usize {
        self.avail_adr_offset()
    }
    /// Size of the bucket header before `h_table` (112; 84 with 4-aligned 8-byte
    /// offsets; 60 with 4-byte offsets).
    pub fn bucket_header(self) -> usize {
        self.bucket_avail_offset() + 6 * self.avail_elem() + 8
    }
    /// Header avail capacity for a block size (spec §3.1 rule 6, §4).
    pub fn header_avail_capacity(self, block_size: usize) -> usize {
        block_size.saturating_sub(self.header_avail_offset() + self.avail_head())
            / self.avail_elem()
    }
    /// Slots per bucket for a bucket size (spec §3.1 rule 5).
    pub fn bucket_elems(self, bucket_size: usize) -> usize {
        bucket_size.saturating_sub(self.bucket_header()) / self.bucket_elem()
    }

    /// Reads an `int` at `pos` (caller guarantees bounds).
    #[inline]
    pub fn get_i32(self, buf: &[u8], pos: usize) -> i32 {
        let b: [u8; 4] = buf[pos..pos + 4]
            .try_into()
            .expect("slice of length 4 converts to [u8; 4]");
        if self.big_endian {
            i32::from_be_bytes(b)
        } else {
            i32::from_le_bytes(b)
        }
    }
    /// Reads an `unsigned` at `pos`.
    #[inline]
    pub fn get_u32(self, buf: &[u8], pos: usize) -> u32 {
        self.get_i32(buf, pos) as u32
    }
    /// Reads an `off_t` at `pos` (4 or 8 bytes, sign-extended).
    #[inline]
    pub fn get_off(self, buf: &[u8], pos: usize) -> i64 {
        if self.off64 {
            let b: [u8; 8] = buf[pos..pos + 8]
                .try_into()
                .expect("slice of length 8 converts to [u8; 8]");
            if self.big_endian {
                i64::from_be_bytes(b)
            } else {
                i64::from_le_bytes(b)
            }
        } else {
            self.get_i32(buf, pos) as i64
        }
    }
    /// Writes an `int` at `pos`.
    #[inline]
    pub fn put_i32(self, buf: &mut [u8], pos: usize, v: i32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        buf[pos..pos + 4].copy_from_slice(&b);
    }
    /// Writes an `off_t` at `pos` (truncated to 32 bits in a 32-bit layout).
    #[inline]
    pub fn put_off(self, buf: &mut [u8], pos: usize, v: i64) {
        if self.off64 {
            let b = if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            buf[pos..pos + 8].copy_from_slice(&b);
        } else {
            self.put_i32(buf, pos, v as i32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_variants() {
        let l = Layout::from_magic(MAGIC64.to_le_bytes()).unwrap();
        assert_eq!(l, Layout::NATIVE);
        let l = Layout::from_magic(NUMSYNC_MAGIC32.to_be_bytes()).unwrap();
        assert!(l.big_endian && !l.off64 && l.numsync);
        assert_eq!(l.reference_code(), Some(GdbmCode::ByteSwapped));
        assert_eq!(l.magic(), NUMSYNC_MAGIC32);
        let l = Layout::from_magic(OMAGIC.to_le_bytes()).unwrap();
        assert!(l.omagic && l.off64 && !l.numsync);
        assert_eq!(
            Layout::from_magic([1, 2, 3, 4]).unwrap_err().code,
            GdbmCode::BadMagicNumber
        );
    }

    #[test]
    fn sizes_match_spec_table() {
        // gdbm spec §3.1 table.
        let n = Layout::NATIVE;
        let s = Layout::NATIVE_NUMSYNC;
        for (bs, elems, std_cap, ns_cap) in [
            (512, 16, 28, 26),
            (1024, 38, 60, 58),
            (2048, 80, 124, 122),
            (4096, 166, 252, 250),
            (8192, 336, 508, 506),
        ] {
            assert_eq!(n.bucket_elems(bs), elems);
            assert_eq!(n.header_avail_capacity(bs), std_cap);
            assert_eq!(s.header_avail_capacity(bs), ns_cap);
        }
        assert_eq!(n.bucket_header(), 112);
    }

    /// spec §21 derivation for the i386 ABI (8-byte `off_t` aligned to 4): the same
    /// header, 12-byte avail elements, an 84-byte bucket header; the figures libgdbm 1.23
    /// built for i386 writes (`bucket_elems` 17 at 512 bytes, header avail capacity 38;
    /// checked against the committed i386 fixtures in formats/tests/gnu.rs).
    #[test]
    fn i386_sizes() {
        let l = Layout {
            off_align4: true,
            ..Layout::NATIVE
        };
        assert_eq!(
            (l.avail_elem(), l.avail_head(), l.bucket_header()),
            (12, 16, 84)
        );
        assert_eq!(
            (l.bucket_elems(512), l.header_avail_capacity(512)),
            (17, 38)
        );
        assert_eq!(l.bucket_elems(4096), 167);
        let m32 = Layout {
            off64: false,
            ..Layout::NATIVE
        };
        assert_eq!(
            (m32.avail_elem(), m32.avail_head(), m32.bucket_header()),
            (8, 12, 60)
        );
    }

    /// The alignment (and for OMAGIC the width) comes from the header's bucket fields.
    #[test]
    fn detect_from_header() {
        for base in [Layout::NATIVE, Layout::NATIVE_NUMSYNC] {
            for big_endian in [false, true] {
                for (off64, off_align4) in [(true, false), (true, true), (false, false)] {
                    for omagic in [false, true] {
                        if omagic && base.numsync {
                            continue;
                        }
                        let l = Layout {
                            big_endian,
                            off64,
                            off_align4,
                            omagic,
                            ..base
                        };
                        for bs in [512usize, 1024, 2048, 4096, 8192] {
                            let mut buf = vec![0u8; 40];
                            l.put_i32(&mut buf, 0, l.magic() as i32);
                            l.put_i32(&mut buf, 4, bs as i32);
                            let p = 8 + l.off_size();
                            l.put_i32(&mut buf, p + 8, bs as i32);
                            l.put_i32(&mut buf, p + 12, l.bucket_elems(bs) as i32);
                            assert_eq!(Layout::detect(&buf).unwrap(), l, "{bs}");
                        }
                    }
                }
            }
        }
        // A header that fits no candidate keeps the magic's layout (validation reports it).
        let mut buf = vec![0u8; 40];
        buf[..4].copy_from_slice(&MAGIC64.to_le_bytes());
        buf[24..28].copy_from_slice(&512i32.to_le_bytes());
        buf[28..32].copy_from_slice(&15i32.to_le_bytes());
        assert_eq!(Layout::detect(&buf).unwrap(), Layout::NATIVE);
    }
}
