//! `pydbm apply` end to end, one test binary (link time on 2 cores): operation scripts
//! recorded through the reference libraries, replayed through the CLI binary, must leave
//! the files the references left.

mod dumb;
mod ndbm;
