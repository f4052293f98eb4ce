//! Fuzzes hot-journal rollback: any journal bytes must roll back cleanly or fail with an
//! error, never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pydbm_engine::recover_in_memory(data);
});
