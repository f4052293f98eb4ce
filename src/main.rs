//! The `pydbm` command-line tool (see CLI.md).
fn main() {}
