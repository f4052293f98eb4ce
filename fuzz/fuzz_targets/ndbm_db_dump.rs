//! Fuzzes the `db_dump` / `db_dump -p` text parser (formats/src/ndbm/db_dump.rs).
//! Seeds: fuzz/corpus/ndbm_db_dump/; replayed by `cargo test` (cli/src/fuzz_entry.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_formats::ndbm::fuzzing::db_dump_text(data);
});
