//! Fuzzes the `pydbm apply` script parser (src/cli/script.rs) on arbitrary bytes.
//! Seeds: fuzz/corpus/cli_script/; replayed by `cargo test` (src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm::fuzz_entry::cli_script(data);
});
