//! The `pydbm` command-line front end (CLI.md): grammar in [`args`], byte notation in
//! [`hex`], `apply` scripts in [`script`], the commands in [`commands`].

pub mod args;
pub mod commands;
pub mod hex;
pub mod script;

use std::fmt;

/// A command's failure, with the exit status it maps to.
#[derive(Debug)]
pub enum CliError {
    /// A usage error (exit status 2): bad flag value, malformed script line.
    Usage(String),
    /// An operational failure (exit status 1): missing key, corrupt file, held lock, I/O.
    Failed(String),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<pydbm_engine::Error> for CliError {
    fn from(e: pydbm_engine::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

/// Parses `std::env::args`, runs the command and returns the exit status. Errors are
/// printed to stderr as one line `pydbm: error: ...`.
pub fn main() -> i32 {
    use clap::Parser;
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let code = e.exit_code();
            let _ = e.print();
            return code;
        }
    };
    match commands::run(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pydbm: error: {e}");
            e.exit_code()
        }
    }
}
