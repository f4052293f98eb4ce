//! Structural verification, statistics and salvage of a gdbm file image (gdbm spec §3–§9,
//! §18). Pure: works on the file's bytes.

use std::collections::HashSet;

use super::avail::{self, AvailBlock};
use super::bucket::Bucket;
use super::directory;
use super::hash::{dir_index, hash_for};
use super::header::Header;
use super::layout::Layout;

/// One problem: file offset and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Offset of the bad structure.
    pub offset: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

fn find(offset: u64, message: impl Into<String>) -> Finding {
    Finding {
        offset,
        message: message.into(),
    }
}

/// What a walk of the file found: records, problems and space accounting.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// The header, when it parsed.
    pub header: Option<Header>,
    /// Every problem found.
    pub problems: Vec<Finding>,
    /// Readable records `(key, value)` in iteration order.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
    /// Distinct buckets.
    pub buckets: usize,
    /// Buckets that could not be read (their records are lost).
    pub bad_buckets: usize,
    /// Live slots that could not be read.
    pub bad_records: usize,
    /// Bytes listed as free (header table, stack blocks, bucket tables).
    pub free_bytes: u64,
    /// Free pieces listed.
    pub free_pieces: usize,
    /// Avail-stack blocks.
    pub stack_blocks: usize,
}

fn slice(data: &[u8], at: i64, len: usize) -> Option<&[u8]> {
    let start = usize::try_from(at).ok()?;
    data.get(start..start.checked_add(len)?)
}

/// Walks every structure of `data` (a whole gdbm file): header, directory, each bucket and
/// its records, the header avail table and the whole avail stack, and checks that no two
/// allocated regions overlap.
pub fn walk(data: &[u8]) -> Walk {
    let mut w = Walk::default();
    let header = match Header::parse(data) {
        Ok(h) => h,
        Err(m) => {
            w.problems
                .push(find(m.offset, format!("header: {}", m.expected)));
            return w;
        }
    };
    let size = data.len() as u64;
    match header.validate(size) {
        Ok(true) => w.problems.push(find(
            32,
            format!(
                "header next_block = {} but the file has {size} bytes (needs recovery)",
                header.next_block
            ),
        )),
        Ok(false) => {}
        Err(m) => {
            w.problems
                .push(find(m.offset, format!("header: {}", m.expected)));
            w.header = Some(header);
            return w;
        }
    }
    if header.next_block > size as i64 {
        w.problems.push(find(
            32,
            format!(
                "header next_block = {} beyond the file's {size} bytes",
                header.next_block
            ),
        ));
    }
    let l: Layout = header.layout;
    let bs = header.block_size as u64;
    let bsize = header.bucket_size as usize;
    let elems = header.bucket_elems as usize;
    let mut regions: Vec<(u64, u64, String)> = vec![
        (0, bs, "header".into()),
        (
            header.dir as u64,
            header.dir_size as u64,
            "directory".into(),
        ),
    ];
    let dir = directory::parse(
        l,
        slice(data, header.dir, header.dir_size as usize).unwrap_or(&[]),
    );
    // Directory: runs of equal entries, aligned to each bucket's depth.
    let mut i = 0;
    let dir_bits = header.dir_bits;
    // The writer's `char` signedness (spec §7): the first key that tells fixes it for the
    // rest of the walk (char_sign); undecided, big-endian files count as unsigned.
    let mut unsigned_char: Option<bool> = None;
    while i < dir.len() {
        let adr = dir[i];
        let mut j = i;
        while j < dir.len() && dir[j] == adr {
            j += 1;
        }
        let at = header.dir as u64 + (i * l.off_size()) as u64;
        w.buckets += 1;
        let raw = if adr >= bs as i64 {
            slice(data, adr, bsize)
        } else {
            None
        };
        let Some(raw) = raw else {
            w.problems.push(find(
                at,
                format!("directory entry {i}: bucket address {adr} inside the file"),
            ));
            w.bad_buckets += 1;
            i = j;
            continue;
        };
        let b = match Bucket::parse(l, raw, elems, adr as u64).and_then(|b| {
            b.validate(dir_bits, header.bucket_size, header.next_block, adr as u64)
                .map(|_| b)
        }) {
            Ok(b) => b,
            Err(m) => {
                w.problems
                    .push(find(m.offset, format!("bucket: {}", m.expected)));
                w.bad_buckets += 1;
                i = j;
                continue;
            }
        };
        regions.push((adr as u64, bsize as u64, format!("bucket at {adr}")));
        let run = 1usize << (dir_bits - b.bucket_bits).max(0);
        if j - i != run || i % run != 0 {
            w.problems.push(find(
                at,
                format!(
                    "directory entries {i}..{j} for a depth-{} bucket: an aligned run of {run}",
                    b.bucket_bits
                ),
            ));
        }
        if !avail::is_sorted(&b.avail, b.av_count as usize) {
            w.problems
                .push(find(adr as u64, "bucket avail table sorted by size"));
        }
        for a in &b.avail[..b.av_count as usize] {
            w.free_bytes += a.size as u64;
            w.free_pieces += 1;
            regions.push((
                a.adr as u64,
                a.size as u64,
                format!("free piece in bucket {adr}"),
            ));
        }
        let mut live = 0;
        for (s, e) in b.elems.iter().enumerate() {
            if e.hash == -1 {
                continue;
            }
            live += 1;
            let slot_off = adr as u64 + (l.bucket_header() + s * l.bucket_elem()) as u64;
            let ks = e.key_size.max(0) as usize;
            let ds = e.data_size.max(0) as usize;
            let Some(rec) = (if e.key_size >= 0 && e.data_size >= 0 {
                slice(data, e.ptr, ks + ds)
            } else {
                None
            }) else {
                w.problems.push(find(
                    slot_off,
                    format!(
                        "slot {s}: record of {}+{} bytes at {} inside the file",
                        e.key_size, e.data_size, e.ptr
                    ),
                ));
                w.bad_records += 1;
                continue;
            };
            let key = &rec[..ks];
            if unsigned_char.is_none() {
                unsigned_char = super::char_sign::evidence(key, e.hash);
            }
            let h = hash_for(key, unsigned_char.unwrap_or(header.layout.big_endian));
            if h != e.hash {
                w.problems.push(find(
                    slot_off,
                    format!("slot {s}: hash {:#x} of its key (stored {:#x})", h, e.hash),
                ));
                w.bad_records += 1;
                continue;
            }
            if dir.get(dir_index(h, dir_bits as u32)) != Some(&adr) {
                w.problems.push(find(
                    slot_off,
                    format!("slot {s}: key belongs to another bucket"),
                ));
                w.bad_records += 1;
                continue;
            }
            let pre = ks.min(4);
            if e.key_start[..pre] != key[..pre] {
                w.problems.push(find(
                    slot_off + 4,
                    format!("slot {s}: key_start = first key bytes"),
                ));
            }
            if ks + ds > 0 {
                regions.push((
                    e.ptr as u64,
                    (ks + ds) as u64,
                    format!("record of slot {s} in bucket {adr}"),
                ));
            }
            w.records.push((key.to_vec(), rec[ks..].to_vec()));
        }
        if live != b.count {
            w.problems.push(find(
                adr as u64 + (l.bucket_header() - 4) as u64,
                format!("bucket count = {live} live slots (found {})", b.count),
            ));
        }
        i = j;
    }
    // Header avail table and the avail stack.
    let ha = &header.avail;
    if !avail::is_sorted(&ha.table, ha.count as usize) {
        w.problems.push(find(
            l.header_avail_offset() as u64,
            "header avail table sorted by size",
        ));
    }
    for a in &ha.table[..ha.count as usize] {
        w.free_bytes += a.size as u64;
        w.free_pieces += 1;
        regions.push((a.adr as u64, a.size as u64, "free piece in header".into()));
    }
    let stack_len =
        (ha.size.max(0) as usize * l.avail_elem()) / 2 + l.avail_head() + l.avail_elem();
    let slots = (stack_len - l.avail_head()) / l.avail_elem();
    let mut next = ha.next_block;
    let mut seen = HashSet::new();
    while next != 0 {
        if !seen.insert(next) {
            w.problems
                .push(find(next as u64, "an avail stack without cycles"));
            break;
        }
        let Some(raw) = (if next >= bsize as i64 {
            slice(data, next, stack_len)
        } else {
            None
        }) else {
            w.problems.push(find(
                next.max(0) as u64,
                format!("an avail-stack block of {stack_len} bytes inside the file"),
            ));
            break;
        };
        let blk = match AvailBlock::parse(l, raw, 0, slots, next as u64).and_then(|b| {
            b.validate(header.bucket_size as i64, header.next_block, next as u64)
                .map(|_| b)
        }) {
            Ok(b) => b,
            Err(m) => {
                w.problems
                    .push(find(m.offset, format!("avail stack: {}", m.expected)));
                break;
            }
        };
        w.stack_blocks += 1;
        regions.push((next as u64, stack_len as u64, "avail-stack block".into()));
        for a in &blk.table[..blk.count as usize] {
            w.free_bytes += a.size as u64;
            w.free_pieces += 1;
            regions.push((
                a.adr as u64,
                a.size as u64,
                "free piece in avail stack".into(),
            ));
        }
        next = blk.next_block;
    }
    // No two regions may overlap.
    regions.retain(|r| r.1 > 0);
    regions.sort_by_key(|r| (r.0, r.1));
    for (k, r) in regions.iter().enumerate() {
        if k > 0 {
            let p = &regions[k - 1];
            if r.0 < p.0 + p.1 && w.problems.len() < 1000 {
                w.problems.push(find(
                    r.0,
                    format!("{} not overlapping {} ({} bytes at {})", r.2, p.2, p.1, p.0),
                ));
            }
        }
    }
    let mut header = header;
    // As the handle: a file no key decides is unsigned if big-endian (char_sign).
    header.layout.unsigned_char = unsigned_char.unwrap_or(header.layout.big_endian);
    w.header = Some(header);
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gnu::{FileOptions, GdbmFile};
    use pydbm_engine::{Pager, PagerOptions};

    fn sample() -> Vec<u8> {
        let mut db = GdbmFile::open(
            Pager::in_memory("t", &[], PagerOptions::default()).unwrap(),
            FileOptions {
                writable: true,
                block_size: 512,
                ..FileOptions::default()
            },
        )
        .unwrap();
        for i in 0..300u32 {
            db.store(&i.to_le_bytes(), &vec![7u8; (i % 50) as usize], true)
                .unwrap();
        }
        for i in (0..300u32).step_by(3) {
            db.delete(&i.to_le_bytes()).unwrap();
        }
        db.close().unwrap().image().unwrap()
    }

    #[test]
    fn clean_file_has_no_problems() {
        let w = walk(&sample());
        assert!(w.problems.is_empty(), "{:?}", w.problems);
        assert_eq!(w.records.len(), 200);
        assert!(w.buckets > 1);
    }

    #[test]
    fn damage_is_reported_with_offset() {
        let mut d = sample();
        let h = Header::parse(&d).unwrap();
        let dir = directory::parse(
            h.layout,
            &d[h.dir as usize..(h.dir + h.dir_size as i64) as usize],
        );
        let b = dir[0] as usize;
        d[b + 108] = 0xff; // count of the first bucket
        let w = walk(&d);
        assert!(
            w.problems.iter().any(|p| p.offset == b as u64),
            "{:?}",
            w.problems
        );
        assert!(w.bad_buckets >= 1);
    }
}
