//! Fuzz marshal loading: arbitrary bytes through `marshal::fuzz_one` (load, repr, re-dump
//! at every version, re-load). Seeds: fuzz/corpus/marshal_load/.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_shelve::marshal::fuzz_one(data);
});
