//! Fuzzes sqlite3's default `date` / `timestamp` converters (sqlite/src/datetime.rs).
//! Seeds: fuzz/corpus/sqlite_datetime/; replayed by `cargo test` (cli/src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_sqlite::datetime::fuzz_converters(data);
});
