//! The rollback journal's on-disk records as plain data: parse and encode, no I/O.
//!
//! Layout (all integers little-endian; see docs/journal.md for the diagram):
//!
//! ```text
//! header:  magic "pydbmJNL" | version u32 = 2 | page_size u32 | salt u64 | nfiles u32
//!          nfiles × ( name_len u32 | name bytes | exists u8 | orig_len u64 )
//!          crc32 u32 over every header byte before it
//! record:  file u32 | offset u64 | len u32 | crc32 u32 | data[len]
//!          crc32 over salt (8 bytes) | file | offset | len | data
//!   file < nfiles          pre-image: the original bytes at `offset` of that file
//!   file = POST_MARK       post-images: data = n × (record index u32 | crc32 u32), the crc
//!                          of that pre-image record's range as a write left it (offset 0)
//!   file = LENGTHS_MARK    lengths: offset = file index, data = lo u64 | hi u64, the least
//!                          and greatest length the transaction gave the file so far
//! ```
//!
//! Version 1 journals (no post-images, no lengths) still parse; recovery treats them as
//! unverifiable (docs/journal.md, "Versions").
//!
//! A journal is "hot" when its header parses. A commit invalidates it by overwriting the
//! magic with zeros ([`INVALIDATED_MAGIC`]): one small write instead of a truncation. Records are read until the first one that
//! does not parse or whose crc fails: that is a torn tail and ends the journal. The salt is
//! fresh for each transaction, so a record left over from an older journal never validates.
//!
//! # Example
//!
//! Encode a journal, read it back, and see a torn tail end it:
//!
//! ```
//! use pydbm_engine::journal::{
//!     parse_journal, JournalFile, JournalHeader, JournalRecord, INVALIDATED_MAGIC, MAGIC, VERSION,
//! };
//!
//! let header = JournalHeader {
//!     version: VERSION,
//!     page_size: 4096,
//!     salt: 0x5eed,
//!     files: vec![JournalFile { name: b"db".to_vec(), orig_len: Some(8192) }],
//! };
//! let mut bytes = header.encode();
//! assert!(bytes.starts_with(MAGIC));
//! let first = JournalRecord { file: 0, offset: 0, data: vec![7; 100] };
//! let second = JournalRecord { file: 0, offset: 4096, data: vec![9; 50] };
//! first.encode_into(&mut bytes, header.salt);
//! bytes.extend(second.encode(header.salt));
//!
//! let parsed = parse_journal(&bytes).unwrap().expect("a hot journal");
//! assert_eq!(parsed.header, header);
//! assert_eq!(parsed.records, vec![first.clone(), second]);
//! assert_eq!(parsed.ignored_tail, 0);
//!
//! // A crash while the second record was being written: it fails its crc and ends the journal.
//! bytes.truncate(bytes.len() - 10);
//! let torn = parse_journal(&bytes).unwrap().expect("the header is intact");
//! assert_eq!(torn.records, vec![first]);
//! assert!(torn.ignored_tail > 0);
//!
//! // A commit overwrites the magic with zeros: the journal is no longer hot.
//! bytes[..8].copy_from_slice(&INVALIDATED_MAGIC);
//! assert_eq!(parse_journal(&bytes), Ok(None));
//! // A bad header says where and what was expected.
//! let err = JournalHeader::parse(b"pydbmJNX").unwrap_err();
//! assert_eq!((err.offset, err.expected), (0, "the magic \"pydbmJNL\""));
//! ```

/// The 8 bytes a journal starts with.
pub const MAGIC: &[u8; 8] = b"pydbmJNL";
/// The journal format version this code writes (3: version 2 plus fresh-image records).
pub const VERSION: u32 = 3;
/// The version that added post-image and lengths records (still read; see docs/journal.md,
/// "Versions").
pub const VERSION_2: u32 = 2;
/// The older version this code still reads (pre-images only; see docs/journal.md,
/// "Versions").
pub const VERSION_1: u32 = 1;
/// A record's `file` field for a post-image record.
pub const POST_MARK: u32 = u32::MAX;
/// A record's `file` field for a lengths record.
pub const LENGTHS_MARK: u32 = u32::MAX - 1;
/// A record's `file` field for a fresh-image record (version 3).
pub const FRESH_MARK: u32 = u32::MAX - 2;
/// Bytes of one fresh-image entry (file, offset, crc32).
pub const FRESH_ENTRY_LEN: usize = 16;
/// Fresh-image pieces never straddle a multiple of this (nor a page boundary): a write torn
/// at sector boundaries leaves each piece whole, as written or as before.
pub const FRESH_SECTOR: u64 = 512;
/// Bytes of one post-image entry (record index, crc32).
pub const POST_ENTRY_LEN: usize = 8;
/// The most data a post-image or lengths record holds (whatever the page size).
pub const MAX_MARK_DATA: usize = 4096;
/// The largest page size a journal may declare (the pager's own limit): a record's data
/// buffer is never larger.
pub const MAX_PAGE_SIZE: u32 = 1 << 24;
/// The largest header recovery reads (the pager refuses file sets whose header is larger).
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// Bytes of a record before its data.
pub const RECORD_HEADER_LEN: usize = 4 + 8 + 4 + 4;

/// One database file as the journal header remembers it at the start of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalFile {
    /// The file name relative to the journal's directory (or an absolute path), as bytes.
    pub name: Vec<u8>,
    /// The file's length when the transaction began, or `None` if it did not exist.
    pub orig_len: Option<u64>,
}

/// The journal header: which files the transaction covers and how they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalHeader {
    /// Format version: [`VERSION`] when written by this code, [`VERSION_1`] for an old one.
    pub version: u32,
    /// Page size of the pager that wrote it; no record holds more bytes.
    pub page_size: u32,
    /// Per-transaction random value folded into every record's crc.
    pub salt: u64,
    /// The database files, in the pager's file order (a record's `file` indexes this).
    pub files: Vec<JournalFile>,
}

/// One page's original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    /// Index into [`JournalHeader::files`].
    pub file: u32,
    /// Byte offset of `data` in that file.
    pub offset: u64,
    /// The bytes the file held there when the transaction began.
    pub data: Vec<u8>,
}

/// What a transaction's write left in one pre-image record's range: the crc32 of those
/// bytes right after the write (docs/journal.md, "Post-images").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostImage {
    /// Index of the pre-image record (counting pre-image records only, in journal order).
    pub record: u32,
    /// crc32 (IEEE) of the record's byte range as the write left it.
    pub crc: u32,
}

/// The range of lengths a transaction gave one file so far (its original length included
/// when it existed): recovery refuses a file whose length lies outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthMark {
    /// Index into [`JournalHeader::files`].
    pub file: u32,
    /// The least length.
    pub lo: u64,
    /// The greatest length.
    pub hi: u64,
}

/// What a transaction's write left in one piece of a file that has no pre-image: bytes at
/// or past the file's original length (an append, or a file the transaction created). The
/// piece runs from `offset` to the next multiple of [`FRESH_SECTOR`] or of the page size,
/// whichever comes first (docs/journal.md, "Post-images").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshImage {
    /// Index into [`JournalHeader::files`].
    pub file: u32,
    /// Where the piece starts.
    pub offset: u64,
    /// crc32 (IEEE) of the piece as the write left it (zeros past the file's length).
    pub crc: u32,
}

impl FreshImage {
    /// The end of the piece starting at `offset` in a journal of pages of `page_size` bytes.
    pub fn piece_end(offset: u64, page_size: u64) -> u64 {
        let next = |m: u64| (offset / m + 1).saturating_mul(m);
        next(FRESH_SECTOR).min(next(page_size.max(1)))
    }
}

/// One record of a journal: a pre-image, a batch of post-images, a lengths mark or a batch
/// of fresh images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    /// The original bytes of a range.
    Pre(JournalRecord),
    /// Post-images of earlier pre-image records (at least one).
    Post(Vec<PostImage>),
    /// A file's length range so far.
    Lengths(LengthMark),
    /// Fresh images (at least one; version 3).
    Fresh(Vec<FreshImage>),
}

/// Why a journal's bytes do not hold a valid header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeader {
    /// Offset in the journal of the first bad byte.
    pub offset: u64,
    /// What a valid header has there.
    pub expected: &'static str,
}

fn take<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    n: usize,
    what: &'static str,
) -> Result<&'a [u8], BadHeader> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= buf.len())
        .ok_or(BadHeader {
            offset: *pos as u64,
            expected: what,
        })?;
    let s = &buf[*pos..end];
    *pos = end;
    Ok(s)
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("caller passes exactly 4 bytes"))
}

fn u64_at(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("caller passes exactly 8 bytes"))
}

impl JournalHeader {
    /// The header's bytes, crc included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.files.len() * 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.page_size.to_le_bytes());
        out.extend_from_slice(&self.salt.to_le_bytes());
        out.extend_from_slice(&(self.files.len() as u32).to_le_bytes());
        for f in &self.files {
            out.extend_from_slice(&(f.name.len() as u32).to_le_bytes());
            out.extend_from_slice(&f.name);
            out.push(u8::from(f.orig_len.is_some()));
            out.extend_from_slice(&f.orig_len.unwrap_or(0).to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses a header from the start of `buf`; returns it and its length in bytes.
    ///
    /// Never allocates more than `buf` holds: every length is checked against the bytes
    /// left before it is used.
    pub fn parse(buf: &[u8]) -> Result<(JournalHeader, usize), BadHeader> {
        let mut pos = 0usize;
        if take(buf, &mut pos, 8, "the magic \"pydbmJNL\"")? != MAGIC {
            return Err(BadHeader {
                offset: 0,
                expected: "the magic \"pydbmJNL\"",
            });
        }
        let version = u32_at(take(buf, &mut pos, 4, "version")?);
        if !(VERSION_1..=VERSION).contains(&version) {
            return Err(BadHeader {
                offset: 8,
                expected: "journal version 1, 2 or 3",
            });
        }
        let page_size = u32_at(take(buf, &mut pos, 4, "page size")?);
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(BadHeader {
                offset: 12,
                expected: "a page size in 1..=16 MiB",
            });
        }
        let salt = u64_at(take(buf, &mut pos, 8, "salt")?);
        let nfiles = u32_at(take(buf, &mut pos, 4, "file count")?) as usize;
        // Each file entry takes at least 13 bytes: bound the allocation by what is there.
        if nfiles > (buf.len() - pos) / 13 {
            return Err(BadHeader {
                offset: 24,
                expected: "a file count that fits the journal",
            });
        }
        let mut files = Vec::with_capacity(nfiles);
        for _ in 0..nfiles {
            let name_len = u32_at(take(buf, &mut pos, 4, "file name length")?) as usize;
            let name = take(buf, &mut pos, name_len, "file name bytes")?.to_vec();
            let exists_at = pos;
            let exists = take(buf, &mut pos, 1, "file exists flag")?[0];
            let len = u64_at(take(buf, &mut pos, 8, "original file length")?);
            let orig_len = match exists {
                0 => None,
                1 => Some(len),
                _ => {
                    return Err(BadHeader {
                        offset: exists_at as u64,
                        expected: "exists flag 0 or 1",
                    })
                }
            };
            files.push(JournalFile { name, orig_len });
        }
        let crc_at = pos;
        let crc = u32_at(take(buf, &mut pos, 4, "header crc32")?);
        if crc != crc32fast::hash(&buf[..crc_at]) {
            return Err(BadHeader {
                offset: crc_at as u64,
                expected: "a header crc32 matching the header bytes",
            });
        }
        Ok((
            JournalHeader {
                version,
                page_size,
                salt,
                files,
            },
            pos,
        ))
    }
}

fn record_crc(salt: u64, head: &[u8], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&salt.to_le_bytes());
    h.update(head);
    h.update(data);
    h.finalize()
}

/// Appends one record (`file`, `offset`, `data`) with its salted crc to `out`.
fn encode_record(out: &mut Vec<u8>, salt: u64, file: u32, offset: u64, data: &[u8]) {
    let at = out.len();
    out.extend_from_slice(&file.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let crc = record_crc(salt, &out[at..], data);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(data);
}

/// Appends post-image records for `posts` to `out` (as many records as
/// [`MAX_MARK_DATA`] needs; nothing for an empty slice), building each in place.
pub fn encode_posts(out: &mut Vec<u8>, salt: u64, posts: &[PostImage]) {
    for chunk in posts.chunks(MAX_MARK_DATA / POST_ENTRY_LEN) {
        let at = out.len();
        out.extend_from_slice(&POST_MARK.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&((chunk.len() * POST_ENTRY_LEN) as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        for p in chunk {
            out.extend_from_slice(&p.record.to_le_bytes());
            out.extend_from_slice(&p.crc.to_le_bytes());
        }
        let data_at = at + RECORD_HEADER_LEN;
        let crc = record_crc(salt, &out[at..at + 16], &out[data_at..]);
        out[at + 16..data_at].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Appends fresh-image records for `fresh` to `out` (as many records as [`MAX_MARK_DATA`]
/// needs; nothing for an empty slice).
pub fn encode_fresh(out: &mut Vec<u8>, salt: u64, fresh: &[FreshImage]) {
    for chunk in fresh.chunks(MAX_MARK_DATA / FRESH_ENTRY_LEN) {
        let at = out.len();
        out.extend_from_slice(&FRESH_MARK.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&((chunk.len() * FRESH_ENTRY_LEN) as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        for f in chunk {
            out.extend_from_slice(&f.file.to_le_bytes());
            out.extend_from_slice(&f.offset.to_le_bytes());
            out.extend_from_slice(&f.crc.to_le_bytes());
        }
        let data_at = at + RECORD_HEADER_LEN;
        let crc = record_crc(salt, &out[at..at + 16], &out[data_at..]);
        out[at + 16..data_at].copy_from_slice(&crc.to_le_bytes());
    }
}

impl LengthMark {
    /// Appends the lengths record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>, salt: u64) {
        let mut data = [0u8; 16];
        data[..8].copy_from_slice(&self.lo.to_le_bytes());
        data[8..].copy_from_slice(&self.hi.to_le_bytes());
        encode_record(out, salt, LENGTHS_MARK, u64::from(self.file), &data);
    }
}

impl JournalEntry {
    /// Parses one record at the start of `buf` for a journal whose header is `header`;
    /// returns it and its length. `None` when the bytes are not a whole valid record (a torn
    /// or stale tail). A pre-image's file index must name a header file that existed, its
    /// bytes lie below that file's original length, its length be in 1..=page size; a
    /// post-image record holds 1..=512 entries at offset 0; a lengths record names a header
    /// file and has `lo <= hi`; a fresh-image record holds 1..=256 entries naming header
    /// files, at offset 0, in version 3 only; version 1 journals hold pre-images only; every
    /// crc matches.
    pub fn parse(buf: &[u8], header: &JournalHeader) -> Option<(JournalEntry, usize)> {
        let head = buf.get(..RECORD_HEADER_LEN)?;
        let file = u32_at(&head[0..4]);
        let offset = u64_at(&head[4..12]);
        let len = u32_at(&head[12..16]);
        let crc = u32_at(&head[16..20]);
        let marks = header.version >= VERSION_2;
        match file {
            FRESH_MARK if header.version >= VERSION => {
                let n = len as usize;
                if offset != 0 || n == 0 || n > MAX_MARK_DATA || !n.is_multiple_of(FRESH_ENTRY_LEN)
                {
                    return None;
                }
                let data = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + n)?;
                if record_crc(header.salt, &head[..16], data) != crc {
                    return None;
                }
                let fresh: Vec<FreshImage> = data
                    .chunks_exact(FRESH_ENTRY_LEN)
                    .map(|e| FreshImage {
                        file: u32_at(&e[..4]),
                        offset: u64_at(&e[4..12]),
                        crc: u32_at(&e[12..]),
                    })
                    .collect();
                if fresh.iter().any(|f| f.file as usize >= header.files.len()) {
                    return None;
                }
                Some((JournalEntry::Fresh(fresh), RECORD_HEADER_LEN + n))
            }
            POST_MARK if marks => {
                let n = len as usize;
                if offset != 0 || n == 0 || n > MAX_MARK_DATA || !n.is_multiple_of(POST_ENTRY_LEN) {
                    return None;
                }
                let data = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + n)?;
                if record_crc(header.salt, &head[..16], data) != crc {
                    return None;
                }
                let posts = data
                    .chunks_exact(POST_ENTRY_LEN)
                    .map(|e| PostImage {
                        record: u32_at(&e[..4]),
                        crc: u32_at(&e[4..]),
                    })
                    .collect();
                Some((JournalEntry::Post(posts), RECORD_HEADER_LEN + n))
            }
            LENGTHS_MARK if marks => {
                if len != 16 || offset >= header.files.len() as u64 {
                    return None;
                }
                let data = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + 16)?;
                if record_crc(header.salt, &head[..16], data) != crc {
                    return None;
                }
                let (lo, hi) = (u64_at(&data[..8]), u64_at(&data[8..]));
                if lo > hi {
                    return None;
                }
                let mark = LengthMark {
                    file: offset as u32,
                    lo,
                    hi,
                };
                Some((JournalEntry::Lengths(mark), RECORD_HEADER_LEN + 16))
            }
            _ => JournalRecord::parse(buf, header).map(|(r, n)| (JournalEntry::Pre(r), n)),
        }
    }
}

impl JournalRecord {
    /// The record's bytes, its crc computed with the transaction's `salt`.
    pub fn encode(&self, salt: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + self.data.len());
        self.encode_into(&mut out, salt);
        out
    }

    /// Appends the record's bytes to `out` (see [`JournalRecord::encode`]).
    pub fn encode_into(&self, out: &mut Vec<u8>, salt: u64) {
        encode_record(out, salt, self.file, self.offset, &self.data);
    }

    /// Parses one record at the start of `buf` for a journal whose header is `header`;
    /// returns it and its length. `None` when the bytes are not a whole valid record (a torn
    /// or stale tail): the file index must name a header file that existed, the bytes lie below
    /// its original length, the length be in 1..=page size, and the crc match.
    pub fn parse(buf: &[u8], header: &JournalHeader) -> Option<(JournalRecord, usize)> {
        let head = buf.get(..RECORD_HEADER_LEN)?;
        let file = u32_at(&head[0..4]);
        let offset = u64_at(&head[4..12]);
        let len = u32_at(&head[12..16]);
        let crc = u32_at(&head[16..20]);
        // The pager never writes an empty record (it journals at least one byte below the
        // original length), so one is a stale or forged tail.
        if file as usize >= header.files.len() || len == 0 || len > header.page_size {
            return None;
        }
        // The pager journals only bytes below a file's original length.
        let end = offset.checked_add(u64::from(len))?;
        if end > header.files[file as usize].orig_len? {
            return None;
        }
        let data = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len as usize)?;
        if record_crc(header.salt, &head[..16], data) != crc {
            return None;
        }
        Some((
            JournalRecord {
                file,
                offset,
                data: data.to_vec(),
            },
            RECORD_HEADER_LEN + len as usize,
        ))
    }
}

/// A whole journal read back: the header and the valid prefix of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedJournal {
    /// The header.
    pub header: JournalHeader,
    /// Every pre-image record up to the first invalid record.
    pub records: Vec<JournalRecord>,
    /// Every post-image entry up to the first invalid record.
    pub posts: Vec<PostImage>,
    /// Every lengths mark up to the first invalid record.
    pub lengths: Vec<LengthMark>,
    /// Every fresh-image entry up to the first invalid record.
    pub fresh: Vec<FreshImage>,
    /// Bytes after the last valid record (a torn tail, or zero).
    pub ignored_tail: usize,
}

/// The bytes a committed transaction writes over the magic to invalidate its journal.
pub const INVALIDATED_MAGIC: [u8; 8] = [0; 8];

/// Parses a whole journal file's bytes. `Ok(None)` for an empty journal or one whose magic
/// was overwritten with [`INVALIDATED_MAGIC`] (not hot);
/// `Err` when the header is bad (then no page write of its transaction can have happened,
/// since pages are written only after the header and records reached the journal).
pub fn parse_journal(buf: &[u8]) -> Result<Option<ParsedJournal>, BadHeader> {
    if buf.is_empty() || buf.starts_with(&INVALIDATED_MAGIC) {
        return Ok(None);
    }
    let (header, mut pos) = JournalHeader::parse(buf)?;
    let (mut records, mut posts, mut lengths, mut fresh) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some((entry, n)) = JournalEntry::parse(&buf[pos..], &header) {
        match entry {
            JournalEntry::Pre(rec) => records.push(rec),
            JournalEntry::Post(p) => posts.extend(p),
            JournalEntry::Lengths(m) => lengths.push(m),
            JournalEntry::Fresh(f) => fresh.extend(f),
        }
        pos += n;
    }
    Ok(Some(ParsedJournal {
        header,
        records,
        posts,
        lengths,
        fresh,
        ignored_tail: buf.len() - pos,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (JournalHeader, Vec<JournalRecord>) {
        let header = JournalHeader {
            version: VERSION,
            page_size: 16,
            salt: 0x1234_5678_9abc_def0,
            files: vec![
                JournalFile {
                    name: b"db.dat".to_vec(),
                    orig_len: Some(40),
                },
                JournalFile {
                    name: b"db.dir".to_vec(),
                    orig_len: None,
                },
            ],
        };
        let records = vec![
            JournalRecord {
                file: 0,
                offset: 16,
                data: vec![7; 16],
            },
            JournalRecord {
                file: 0,
                offset: 32,
                data: vec![9; 8],
            },
        ];
        (header, records)
    }

    fn encode_all(h: &JournalHeader, recs: &[JournalRecord]) -> Vec<u8> {
        let mut buf = h.encode();
        for r in recs {
            buf.extend(r.encode(h.salt));
        }
        buf
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let (h, recs) = sample();
        let buf = encode_all(&h, &recs);
        let p = parse_journal(&buf).unwrap().unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.records, recs);
        assert_eq!(p.ignored_tail, 0);
        // Every truncation keeps a valid prefix of records, never a partial one.
        let hlen = h.encode().len();
        for cut in hlen..buf.len() {
            let p = parse_journal(&buf[..cut]).unwrap().unwrap();
            assert!(p.records.len() < 2);
            assert_eq!(p.records[..], recs[..p.records.len()]);
        }
        for cut in 1..hlen {
            assert!(parse_journal(&buf[..cut]).is_err());
        }
        assert_eq!(parse_journal(&[]).unwrap(), None);
        let mut invalidated = buf.clone();
        invalidated[..8].copy_from_slice(&INVALIDATED_MAGIC);
        assert_eq!(parse_journal(&invalidated).unwrap(), None);
    }

    #[test]
    fn flipped_bits_are_detected() {
        let (h, recs) = sample();
        let buf = encode_all(&h, &recs);
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            match parse_journal(&bad) {
                Err(_) => {}
                Ok(Some(p)) => assert!(p.records.len() < 2, "flip at {i} undetected"),
                Ok(None) => panic!("non-empty journal parsed as empty"),
            }
        }
    }

    #[test]
    fn stale_salt_rejects_records() {
        let (h, recs) = sample();
        let mut buf = h.encode();
        buf.extend(recs[0].encode(h.salt ^ 1));
        assert!(parse_journal(&buf).unwrap().unwrap().records.is_empty());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn header_strategy() -> impl Strategy<Value = JournalHeader> {
            (
                1u32..5000,
                any::<u64>(),
                proptest::collection::vec(
                    (
                        proptest::collection::vec(any::<u8>(), 0..12),
                        proptest::option::of(0u64..100_000),
                    ),
                    1..4,
                ),
            )
                .prop_map(|(page_size, salt, files)| JournalHeader {
                    version: VERSION,
                    page_size,
                    salt,
                    files: files
                        .into_iter()
                        .map(|(name, orig_len)| JournalFile { name, orig_len })
                        .collect(),
                })
        }

        proptest! {
            #[test]
            fn encode_parse_round_trip(h in header_strategy(), seeds in proptest::collection::vec((any::<u32>(), any::<u64>(), any::<u8>(), 0usize..300), 0..6)) {
                let mut recs = Vec::new();
                for (f, off, byte, len) in seeds {
                    let file = f % h.files.len() as u32;
                    let Some(orig) = h.files[file as usize].orig_len else { continue };
                    let len = len.min(h.page_size as usize).min(orig as usize);
                    if len == 0 {
                        continue; // the pager never writes an empty record
                    }
                    let offset = off % (orig - len as u64 + 1);
                    recs.push(JournalRecord { file, offset, data: vec![byte; len] });
                }
                let mut buf = h.encode();
                for r in &recs {
                    buf.extend(r.encode(h.salt));
                }
                let p = parse_journal(&buf).unwrap().unwrap();
                prop_assert_eq!(p.header, h);
                prop_assert_eq!(p.records, recs);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let mut buf = MAGIC.to_vec();
                buf.extend(&bytes);
                let _ = parse_journal(&buf);
                let _ = parse_journal(&bytes);
            }
        }
    }
}
