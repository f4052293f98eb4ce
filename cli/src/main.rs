//! The `pydbm` command-line tool; see docs/cli.md and `pydbm --help`.

fn main() {
    std::process::exit(pydbm_cli::main());
}
