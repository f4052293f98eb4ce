#![no_main]
//! pickle: load + dis + recode arbitrary bytes (pydbm_shelve::pickle::fuzzing::pickle_load).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_shelve::pickle::fuzzing::pickle_load(data);
});
