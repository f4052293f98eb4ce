//! Fuzzes dbm.ndbm opening through the sniffing path users hit (`format::open_any`:
//! db-1.85 hash read-only, else Berkeley DB 5.3 hash), reading and writing.
//! Seeds: fuzz/corpus/ndbm_open_any/; replayed by `cargo test` (cli/src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_formats::ndbm::fuzzing::open_any_bytes(data);
});
