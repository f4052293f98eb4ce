//! Fuzzes the gdbm dump readers (ASCII and binary, gdbm spec §17), their writers' round trip
//! and loading the records into a fresh gdbm file.
//! Seeds: fuzz/corpus/gnu_dump/; replayed by `cargo test` (cli/src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_formats::gnu::fuzz_entry::fuzz_gnu_dump(data);
});
