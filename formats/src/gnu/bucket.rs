//! Hash buckets (gdbm spec §8): a small avail table plus `bucket_elems` slots.

use super::avail::AvailElem;
use super::layout::{GdbmCode, Layout, Malformed};

/// Number of avail entries a bucket holds.
pub const BUCKET_AVAIL: usize = 6;

/// One slot of a bucket (spec §8). `hash == -1` marks an empty slot; its other fields are
/// stale bytes of an earlier occupant, kept because they reach the disk (§12.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketElem {
    /// 31-bit hash of the key, or -1.
    pub hash: i32,
    /// First `min(4, key_size)` key bytes; the rest is whatever was there before.
    pub key_start: [u8; 4],
    /// File address of the record (key bytes then value bytes).
    pub ptr: i64,
    /// Key length.
    pub key_size: i32,
    /// Value length.
    pub data_size: i32,
}

/// A decoded bucket. Encoding a parsed bucket reproduces its bytes exactly when padding
/// and the unused tail are zero (they always are in libgdbm's files).
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(C)]
pub struct Bucket {
    /// All slots. (First, with `#[repr(C)]`: a lookup reads this pointer right after the
    /// cache entry's address, in the same cache line.)
    pub elems: Vec<BucketElem>,
    /// Live entries of `avail`.
    pub av_count: i32,
    /// The bucket's avail table (live then stale).
    pub avail: [AvailElem; BUCKET_AVAIL],
    /// Depth of the bucket in the extendible hash.
    pub bucket_bits: i32,
    /// Live slots.
    pub count: i32,
}

impl Bucket {
    /// An all-zero bucket buffer with `elems` slots (what `calloc` gives libgdbm).
    pub fn zeroed(elems: usize) -> Bucket {
        Bucket {
            av_count: 0,
            avail: [AvailElem::default(); BUCKET_AVAIL],
            bucket_bits: 0,
            count: 0,
            elems: vec![BucketElem::default(); elems],
        }
    }

    /// Resets a (possibly recycled) buffer for a new bucket as a split does (spec §12.4
    /// step 2): only `av_count`, `bucket_bits`, `count` and the hash values change.
    pub fn reset(&mut self, bits: i32) {
        self.av_count = 0;
        self.bucket_bits = bits;
        self.count = 0;
        for e in &mut self.elems {
            e.hash = -1;
        }
    }

    /// Decodes `buf` (`bucket_size` bytes) into `self`, reusing its allocation; `elems`
    /// slots. Fails only if `buf` is too short for them.
    pub fn parse_into(
        &mut self,
        l: Layout,
        buf: &[u8],
        elems: usize,
        at: u64,
    ) -> Result<(), Malformed> {
        let need = l.bucket_header() + elems * l.bucket_elem();
        if buf.len() < need {
            return Err(Malformed::new(
                GdbmCode::BadBucket,
                at,
                format!("a bucket of at least {need} bytes"),
            ));
        }
        self.av_count = l.get_i32(buf, 0);
        let ao = l.bucket_avail_offset();
        for i in 0..BUCKET_AVAIL {
            self.avail[i] = AvailElem::parse(l, buf, ao + i * l.avail_elem());
        }
        let hp = ao + BUCKET_AVAIL * l.avail_elem();
        self.bucket_bits = l.get_i32(buf, hp);
        self.count = l.get_i32(buf, hp + 4);
        self.elems.resize(elems, BucketElem::default());
        let es = l.bucket_elem();
        let o = l.off_size();
        for (i, e) in self.elems.iter_mut().enumerate() {
            let p = l.bucket_header() + i * es;
            e.hash = l.get_i32(buf, p);
            e.key_start.copy_from_slice(&buf[p + 4..p + 8]);
            e.ptr = l.get_off(buf, p + 8);
            e.key_size = l.get_i32(buf, p + 8 + o);
            e.data_size = l.get_i32(buf, p + 12 + o);
        }
        Ok(())
    }

    /// Decodes a bucket.
    pub fn parse(l: Layout, buf: &[u8], elems: usize, at: u64) -> Result<Bucket, Malformed> {
        let mut b = Bucket::zeroed(elems);
        b.parse_into(l, buf, elems, at)?;
        Ok(b)
    }

    /// Encodes into `buf` (`bucket_size` bytes); padding and tail are zeroed.
    pub fn encode_into(&self, l: Layout, buf: &mut [u8]) {
        l.put_i32(buf, 0, self.av_count);
        let ao = l.bucket_avail_offset();
        buf[4..ao].fill(0);
        for (i, a) in self.avail.iter().enumerate() {
            a.encode(l, buf, ao + i * l.avail_elem());
        }
        let hp = ao + BUCKET_AVAIL * l.avail_elem();
        l.put_i32(buf, hp, self.bucket_bits);
        l.put_i32(buf, hp + 4, self.count);
        let es = l.bucket_elem();
        let end = l.bucket_header() + self.elems.len() * es;
        if l.off64 && !l.off_align4 && !l.big_endian {
            // The common layout (x86-64), written slot by slot as fixed 24-byte records:
            // the same bytes as the generic loop below, without its per-field layout tests
            // (every gdbm update re-encodes its bucket).
            let slots = buf[l.bucket_header()..end].chunks_exact_mut(24);
            for (e, out) in self.elems.iter().zip(slots) {
                out[0..4].copy_from_slice(&e.hash.to_le_bytes());
                out[4..8].copy_from_slice(&e.key_start);
                out[8..16].copy_from_slice(&e.ptr.to_le_bytes());
                out[16..20].copy_from_slice(&e.key_size.to_le_bytes());
                out[20..24].copy_from_slice(&e.data_size.to_le_bytes());
            }
        } else {
            self.encode_elems_generic(l, buf);
        }
        buf[end..].fill(0);
    }

    /// Encodes the slots in any layout, field by field.
    fn encode_elems_generic(&self, l: Layout, buf: &mut [u8]) {
        let es = l.bucket_elem();
        let o = l.off_size();
        for (i, e) in self.elems.iter().enumerate() {
            let p = l.bucket_header() + i * es;
            l.put_i32(buf, p, e.hash);
            buf[p + 4..p + 8].copy_from_slice(&e.key_start);
            l.put_off(buf, p + 8, e.ptr);
            l.put_i32(buf, p + 8 + o, e.key_size);
            l.put_i32(buf, p + 12 + o, e.data_size);
        }
    }

    /// Validates a bucket read from `at` (spec §8): counts and bits in range, live avail
    /// entries inside `[bucket_size, next_block]`.
    pub fn validate(
        &self,
        dir_bits: i32,
        bucket_size: i32,
        next_block: i64,
        at: u64,
    ) -> Result<(), Malformed> {
        if self.count < 0 || self.count as usize > self.elems.len() {
            return Err(Malformed::new(
                GdbmCode::BadBucket,
                at,
                format!(
                    "bucket count in 0..={} (found {})",
                    self.elems.len(),
                    self.count
                ),
            ));
        }
        if self.bucket_bits < 0 || self.bucket_bits > dir_bits {
            return Err(Malformed::new(
                GdbmCode::BadBucket,
                at,
                format!("bucket_bits in 0..={dir_bits} (found {})", self.bucket_bits),
            ));
        }
        if self.av_count < 0 || self.av_count as usize > BUCKET_AVAIL {
            return Err(Malformed::new(
                GdbmCode::BadAvail,
                at,
                format!("bucket av_count in 0..=6 (found {})", self.av_count),
            ));
        }
        for (i, a) in self.avail[..self.av_count as usize].iter().enumerate() {
            if a.adr < bucket_size as i64 || a.size < 0 || a.end() > next_block {
                return Err(Malformed::new(
                    GdbmCode::BadAvail,
                    at,
                    format!(
                        "bucket avail entry {i} inside the file ({} bytes at {})",
                        a.size, a.adr
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let l = Layout::NATIVE;
        let mut b = Bucket::zeroed(l.bucket_elems(512));
        b.reset(3);
        b.av_count = 1;
        b.avail[0] = AvailElem {
            size: 512,
            adr: 1536,
        };
        b.elems[2] = BucketElem {
            hash: 77,
            key_start: *b"ab\0\0",
            ptr: 2048,
            key_size: 2,
            data_size: 9,
        };
        b.count = 1;
        let mut buf = vec![0u8; 512];
        b.encode_into(l, &mut buf);
        assert_eq!(Bucket::parse(l, &buf, 16, 0).unwrap(), b);
        assert_eq!(&buf[104..112], &[3, 0, 0, 0, 1, 0, 0, 0]);
    }

    /// `encode_into` writes every byte of the buffer (callers reuse buffers without
    /// clearing them first).
    #[test]
    fn encode_writes_every_byte() {
        for l in [
            Layout::NATIVE,
            Layout::from_magic(super::super::layout::MAGIC32.to_be_bytes()).unwrap(),
        ] {
            let mut b = Bucket::zeroed(l.bucket_elems(512));
            b.reset(2);
            b.elems[1].hash = 5;
            b.elems[1].ptr = 99;
            let mut clean = vec![0u8; 512];
            let mut dirty = vec![0xA5u8; 512];
            b.encode_into(l, &mut clean);
            b.encode_into(l, &mut dirty);
            assert_eq!(clean, dirty, "{l:?}");
        }
    }

    #[test]
    fn native_fast_path_matches_the_generic_encoder() {
        let l = Layout::NATIVE;
        let mut b = Bucket::zeroed(l.bucket_elems(1024));
        for (i, e) in b.elems.iter_mut().enumerate() {
            *e = BucketElem {
                hash: if i % 3 == 0 {
                    -1
                } else {
                    0x1234_5678 + i as i32
                },
                key_start: [i as u8, 0x80, 0xff, 7],
                ptr: 0x0102_0304_0506_0708 + i as i64,
                key_size: -(i as i32),
                data_size: i32::MAX - i as i32,
            };
        }
        let mut fast = vec![0xAAu8; 1024];
        b.encode_into(l, &mut fast);
        let mut generic = fast.clone();
        generic[l.bucket_header()..].fill(0x55);
        b.encode_elems_generic(l, &mut generic);
        let end = l.bucket_header() + b.elems.len() * l.bucket_elem();
        generic[end..].fill(0);
        assert_eq!(fast, generic);
        assert_eq!(Bucket::parse(l, &fast, b.elems.len(), 0).unwrap(), b);
    }
}
