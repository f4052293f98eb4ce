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
/// printed to stderr as one line `pydbm: error: ...`; help and version go to stdout.
/// A panic (a bug) is reported the same way with exit status 1, never as a backtrace.
pub fn main() -> i32 {
    use clap::error::ErrorKind;
    use clap::Parser;
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return 0;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return 2;
        }
        Err(e) => {
            eprintln!("pydbm: error: {}", usage_message(&e));
            return 2;
        }
    };
    // PYTHONINTMAXSTRDIGITS sets the int<->decimal digit limit as it does for CPython.
    if let Err(e) = pydbm_shelve::int_max_str_digits::set_from_env() {
        eprintln!("pydbm: error: {e}");
        return 2;
    }
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "pydbm: error: internal error (a bug, please report it): {}{at}",
            what.replace('\n', " ")
        );
    }));
    match std::panic::catch_unwind(|| commands::run(cli.command)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("pydbm: error: {}", one_line(&e.to_string()));
            e.exit_code()
        }
        Err(_) => 1,
    }
}

/// clap's rendered error as one line: its first line without the `error: ` prefix, plus the
/// hint that `--help` exists.
fn usage_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("bad usage");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    format!("{} (see pydbm --help)", first.trim())
}

/// An error message folded onto one line: line breaks become `\n`.
fn one_line(message: &str) -> String {
    message.replace('\r', "\\r").replace('\n', "\\n")
}
