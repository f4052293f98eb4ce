//! Bucket split and directory doubling (gdbm spec §12.4), on an open handle.

use pydbm_engine::Result;

use super::avail::{self, AvailElem};
use super::directory;
use super::handle::GdbmFile;
use super::hash::dir_index;
use super::layout::{GdbmCode, Malformed};
use pydbm_engine::Store;

/// libgdbm's directory limit: a directory of this many bytes or more is not doubled
/// (`GDBM_DIR_OVERFLOW`).
const MAX_DIR_HALF: i32 = 1 << 29;

/// pydbm's own bound (deliberate difference, docs/gdbm.md): a split may grow the
/// directory to at most `max(SANE_DIR_FLOOR, SANE_DIR_FILE_MULTIPLE × file size)` bytes.
const SANE_DIR_FLOOR: u64 = 1 << 24;
/// See [`SANE_DIR_FLOOR`].
const SANE_DIR_FILE_MULTIPLE: u64 = 64;

/// Number of leading bits (of the 31 hash bits) that all of `hashes` share; 31 when they
/// are all equal (or there is at most one).
pub(super) fn common_prefix_bits(hashes: impl Iterator<Item = i32>) -> u32 {
    let mut first = None;
    let mut diff = 0u32;
    for h in hashes {
        let h = h as u32 & 0x7fff_ffff;
        match first {
            None => first = Some(h),
            Some(f) => diff |= f ^ h,
        }
    }
    if diff == 0 {
        31
    } else {
        diff.leading_zeros() - 1
    }
}

impl<S: Store> GdbmFile<S> {
    /// Before splitting the full current bucket (depth `b`) for a key hashing to `h`:
    /// works out how deep the split must go (one bit past the longest prefix the live
    /// hashes and `h` share) and refuses up front when that can never work or needs a
    /// directory beyond libgdbm's limit (`DirOverflow`) or pydbm's sanity bound
    /// (`BadBucket`), instead of doubling the directory step by step first.
    fn check_splittable(&mut self, old_adr: i64, b: i32, h: i32) -> Result<()> {
        let dir_bits = self.header.dir_bits;
        if b < 0 || b > dir_bits {
            return Err(self.corrupt_at(
                GdbmCode::BadBucket,
                old_adr as u64,
                format!("a bucket depth between 0 and the directory depth {dir_bits} (found {b})"),
            ));
        }
        let live = self.cur().elems.iter().filter(|e| e.hash != -1);
        let q = common_prefix_bits(live.map(|e| e.hash).chain(std::iter::once(h)));
        if q >= 31 {
            // Only a damaged file has a full bucket whose keys all share the new key's hash.
            return Err(self.corrupt_at(
                GdbmCode::BadBucket,
                old_adr as u64,
                "distinct hash values in a full bucket".into(),
            ));
        }
        let need_bits = (q + 1) as i32;
        if need_bits <= dir_bits {
            return Ok(());
        }
        let final_size = (self.header.dir_size.max(0) as u64) << (need_bits - dir_bits) as u32;
        if final_size > MAX_DIR_HALF as u64 {
            return Err(Malformed::new(
                GdbmCode::DirOverflow,
                16,
                format!("a directory under 2^30 bytes (this split needs {final_size})"),
            )
            .at(self.st.path()));
        }
        let bound = SANE_DIR_FLOOR.max(self.st.len().saturating_mul(SANE_DIR_FILE_MULTIPLE));
        if final_size > bound {
            return Err(self.corrupt_at(
                GdbmCode::BadBucket,
                old_adr as u64,
                format!(
                    "full-bucket hash values that split within a directory of {bound} bytes \
                     (they share {q} leading bits: {final_size} bytes needed)"
                ),
            ));
        }
        Ok(())
    }

    fn corrupt_at(&mut self, code: GdbmCode, offset: u64, expected: String) -> pydbm_engine::Error {
        self.need_recovery = true;
        Malformed::new(code, offset, expected).at(self.st.path())
    }

    /// Splits the current (full) bucket until the bucket for hash `h` has room; the new
    /// bucket for `h` becomes current. Old directories are freed at the end (step 10).
    pub(super) fn split(&mut self, h: i32) -> Result<()> {
        let n = self.header.bucket_elems as usize;
        let bsize = self.header.bucket_size;
        let mut old_dirs: Vec<(i64, i32)> = Vec::new();
        while self.cur().count as usize >= n {
            let old_adr = self.current;
            let b = self.cur().bucket_bits;
            self.check_splittable(old_adr, b, h)?;
            let new_bits = b + 1;
            let adr0 = self.alloc(bsize)?;
            let mut nb0 = self.cache.take_buffer();
            nb0.reset(new_bits);
            let adr1 = self.alloc(bsize)?;
            let mut nb1 = self.cache.take_buffer();
            nb1.reset(new_bits);
            if self.header.dir_bits == b {
                if self.header.dir_size >= MAX_DIR_HALF {
                    return Err(Malformed::new(
                        GdbmCode::DirOverflow,
                        16,
                        "a directory under 2^30 bytes",
                    )
                    .at(self.st.path()));
                }
                let new_size = self.header.dir_size * 2;
                let new_adr = self.alloc(new_size)?;
                old_dirs.push((self.header.dir, self.header.dir_size));
                self.dir = directory::doubled(&self.dir);
                self.header.dir = new_adr;
                self.header.dir_size = new_size;
                self.header.dir_bits += 1;
                self.dir_changed = true;
                self.header_changed = true;
            }
            // Step 5: distribute the old slots in order.
            let shift = 31 - new_bits as u32;
            let olds = self.cur().elems.clone();
            for e in olds.iter().filter(|e| e.hash != -1) {
                let target = if (e.hash as u32 >> shift) & 1 == 1 {
                    &mut nb1
                } else {
                    &mut nb0
                };
                let mut i = (e.hash as usize) % n;
                while target.elems[i].hash != -1 {
                    i = (i + 1) % n;
                }
                target.elems[i] = *e;
                target.count += 1;
            }
            // Step 6: bucket 1 gets a fresh block.
            let blk = self.alloc(self.header.block_size)?;
            nb1.avail[0] = AvailElem {
                size: self.header.block_size,
                adr: blk,
            };
            nb1.av_count = 1;
            // Step 7: bucket 0 inherits the old bucket's table (smallest to bucket 1 if full).
            let old = self.cur();
            let oc = old.av_count.clamp(0, 6) as usize;
            let old_avail = old.avail;
            if oc == 6 {
                avail::put(&mut nb1.avail, &mut nb1.av_count, old_avail[0], false)
                    .map_err(|m| m.at(self.st.path()))?;
                nb0.avail[..5].copy_from_slice(&old_avail[1..6]);
                nb0.av_count = 5;
            } else {
                nb0.avail[..oc].copy_from_slice(&old_avail[..oc]);
                nb0.av_count = oc as i32;
            }
            // Step 8: directory entries.
            let dir_bits = self.header.dir_bits as u32;
            let s = dir_bits - new_bits as u32;
            let d = dir_index(h, dir_bits);
            let start1 = ((d >> s) | 1) << s;
            let end = start1 + (1usize << s);
            let start0 = start1 - (1usize << s);
            self.dir[start0..start1].fill(adr0);
            self.dir[start1..end].fill(adr1);
            self.dir_changed = true;
            // Step 9: old buffer to the pool; the old space to the other bucket.
            let to_n0 = self.dir[d] == adr0;
            let free_old = AvailElem {
                size: bsize,
                adr: old_adr,
            };
            {
                let other = if to_n0 { &mut nb1 } else { &mut nb0 };
                avail::put(&mut other.avail, &mut other.av_count, free_old, false)
                    .map_err(|m| m.at(self.st.path()))?;
            }
            for (adr, bucket) in [(adr0, nb0), (adr1, nb1)] {
                if let Some((eadr, eb, changed)) = self.cache.make_room(self.header.dir_bits as u32)
                {
                    if changed {
                        self.write_bucket(eadr, &eb)?;
                    }
                    self.cache.release_buffer(eb);
                }
                self.cache.insert(adr, bucket, true, Some(old_adr));
            }
            let (ob, _) = self
                .cache
                .remove(old_adr)
                .expect("the bucket being split is cached");
            self.cache.release_buffer(ob);
            let cur = if to_n0 { adr0 } else { adr1 };
            self.cache.touch(cur);
            self.current = cur;
        }
        for (adr, size) in old_dirs {
            self.free(adr, size)?;
        }
        Ok(())
    }
}
