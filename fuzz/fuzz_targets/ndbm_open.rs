//! Fuzzes the Berkeley DB hash (dbm.ndbm) reader and writer: arbitrary bytes opened as a
//! hash file, iterated, looked up, checked, then written to; errors only, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_formats::ndbm::fuzzing::open_bytes(data);
});
