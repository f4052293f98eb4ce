//! Arbitrary bytes opened as a gdbm file: iterate, get, check, salvage, insert, delete.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_formats::gnu::fuzz_entry::fuzz_gnu_open(data);
});
