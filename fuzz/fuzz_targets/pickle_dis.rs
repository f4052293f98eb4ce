//! Fuzzes `pydbm pickle dis` (pickletools.dis) on arbitrary bytes.
//! Seeds: fuzz/corpus/pickle_dis/; replayed by `cargo test` (cli/src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_shelve::pickle::fuzzing::pickle_dis(data);
});
