//! Fuzzes the dbm.dumb `.dir` parser: arbitrary bytes must parse or fail with an error,
//! never panic, and whatever parses must re-encode to a text that parses to the same entries.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pydbm_formats::dumb::fuzzing::dir_text(data);
});
