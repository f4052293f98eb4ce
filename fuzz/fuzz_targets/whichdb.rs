//! Fuzz whichdb: arbitrary bytes laid out as `x`, `x.pag`, `x.dir`, `x.dat`, `x.db` on an
//! in-memory disk (see `whichdb::fuzz_files`). Seeds: fuzz/corpus/whichdb/.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pydbm_formats::whichdb::fuzz_files(data);
});
