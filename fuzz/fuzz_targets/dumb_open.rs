//! Fuzzes opening an arbitrary dbm.dumb `.dat`/`.dir` pair (in memory), reading, checking,
//! writing and reopening it: never a panic, and pydbm's own writes always reopen.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_formats::dumb::fuzzing::open_pair(data);
});
