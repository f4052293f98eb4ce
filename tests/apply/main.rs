//! `pydbm apply` and the other file-writing commands end to end, one test binary (link time
//! on 2 cores): operation scripts recorded through the reference libraries, replayed through
//! the CLI binary, must leave the files the references left; the sqlite3 module checks
//! `pydbm sqlite` and `--type sqlite3` against CPython 3.13.

mod dumb;
mod ndbm;
mod sqlite3;
