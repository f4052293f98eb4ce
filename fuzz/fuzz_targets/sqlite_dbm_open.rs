//! Fuzzes dbm.sqlite3 open: arbitrary bytes as a database file must open, read and check
//! or fail with an error — never panic or hang (SQLite's own parser plus pydbm's header
//! parse, check and stats).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pydbm_sqlite::dbm::open_bytes(data);
});
