//! Bucket split and directory doubling (gdbm spec §12.4), on an open handle.

use pydbm_engine::Result;

use super::avail::{self, AvailElem};
use super::directory;
use super::handle::GdbmFile;
use super::hash::dir_index;
use super::layout::{GdbmCode, Malformed};
use super::storage::Storage;

impl<S: Storage> GdbmFile<S> {
    /// Splits the current (full) bucket until the bucket for hash `h` has room; the new
    /// bucket for `h` becomes current. Old directories are freed at the end (step 10).
    pub(super) fn split(&mut self, h: i32) -> Result<()> {
        let n = self.header.bucket_elems as usize;
        let bsize = self.header.bucket_size;
        let mut old_dirs: Vec<(i64, i32)> = Vec::new();
        while self.cur().count as usize >= n {
            let old_adr = self.current;
            let b = self.cur().bucket_bits;
            {
                // pydbm: a full bucket whose keys all share one hash can never be split
                // (only a damaged file has one); refuse instead of doubling the directory
                // until it overflows.
                let e = &self.cur().elems;
                if e.len() > 1 && e.iter().all(|x| x.hash == e[0].hash) {
                    self.need_recovery = true;
                    return Err(Malformed::new(
                        GdbmCode::BadBucket,
                        old_adr as u64,
                        "distinct hash values in a full bucket",
                    )
                    .at(self.st.path()));
                }
            }
            let new_bits = b + 1;
            let adr0 = self.alloc(bsize)?;
            let mut nb0 = self.cache.take_buffer();
            nb0.reset(new_bits);
            let adr1 = self.alloc(bsize)?;
            let mut nb1 = self.cache.take_buffer();
            nb1.reset(new_bits);
            if self.header.dir_bits == b {
                if self.header.dir_size >= (1 << 29) {
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
