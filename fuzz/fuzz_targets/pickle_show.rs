//! Fuzzes `pydbm pickle show` (load, then repr) on arbitrary bytes.
//! Seeds: fuzz/corpus/pickle_show/; replayed by `cargo test` (cli/src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_shelve::pickle::fuzzing::pickle_show(data);
});
