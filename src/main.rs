//! The `pydbm` command-line tool; see CLI.md and `pydbm --help`.

fn main() {
    std::process::exit(pydbm::cli::main());
}
