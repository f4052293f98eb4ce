//! Fuzzes the `pydbm apply` script parser (cli/src/script.rs) on arbitrary bytes.
//! Seeds: fuzz/corpus/cli_script/; replayed by `cargo test` (cli/src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_cli::fuzz_entry::cli_script(data);
});
