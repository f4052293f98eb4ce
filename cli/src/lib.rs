//! The `pydbm` command-line front end (docs/cli.md): grammar in [`args`], byte notation in
//! [`hex`], `apply` scripts in [`script`], the commands in [`commands`], a database's files
//! in [`database_files`], `recover`'s copy in [`damaged_copy`], quoted input in
//! [`excerpt`], where input stops being UTF-8 in [`utf8_position`].
//!
//! A crate of its own (`pydbm-cli`, binary `pydbm`) so that the `pydbm` library carries no
//! command-line dependencies (clap, indicatif).
#![warn(missing_docs)]

pub mod acked_writer;
pub mod args;
pub mod batched_writes;
pub mod commands;
pub mod damaged_copy;
pub mod database_files;
pub mod excerpt;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_entry;
pub mod hex;
pub mod script;
pub mod utf8_position;

use std::fmt;

/// A command's failure, with the exit status it maps to.
#[non_exhaustive]
#[derive(Debug)]
pub enum CliError {
    /// A usage error (exit status 2): bad flag value, malformed script line.
    Usage(String),
    /// An operational failure (exit status 1): missing key, corrupt file, held lock, I/O.
    Failed(String),
    /// Standard output was closed by its reader (`pydbm keys db | head`): output ends
    /// quietly with exit status 141, what a shell reports for a Unix tool ended by SIGPIPE
    /// (docs/cli.md).
    StdoutClosed,
}

/// The exit status of a command whose standard output was closed by its reader:
/// 128 + SIGPIPE, as a shell reports `seq 100000 | head -1`'s `seq`.
pub const EXIT_STDOUT_CLOSED: i32 = 141;

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
            CliError::StdoutClosed => EXIT_STDOUT_CLOSED,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
            CliError::StdoutClosed => f.write_str("standard output was closed"),
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
    match std::panic::catch_unwind(|| commands::run(cli.command, cli.lock_timeout)) {
        Ok(Ok(())) => 0,
        Ok(Err(CliError::StdoutClosed)) => EXIT_STDOUT_CLOSED,
        Ok(Err(e)) => {
            eprintln!("pydbm: error: {}", one_line(&e.to_string()));
            e.exit_code()
        }
        Err(_) => 1,
    }
}

/// clap's rendered error as one line: its first paragraph without the `error: ` prefix
/// (for a missing argument, the argument's name is on the paragraph's next lines), clap's
/// `tip:` if any, the usage line, and the `--help` of the command being parsed.
fn usage_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let paragraphs: Vec<String> = rendered
        .split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .collect();
    let first = paragraphs.first().map_or("bad usage", String::as_str);
    let mut line = excerpt::excerpt(first.strip_prefix("error: ").unwrap_or(first));
    if let Some(tip) = paragraphs.iter().find(|p| p.starts_with("tip: ")) {
        line.push_str(&format!("; {tip}"));
    }
    let help = format!("see {} --help", command_path(std::env::args().skip(1)));
    match paragraphs.iter().find_map(|p| p.strip_prefix("Usage: ")) {
        Some(usage) => format!("{line} (usage: {usage}; {help})"),
        None => format!("{line} ({help})"),
    }
}

/// `pydbm` followed by the (sub)commands that lead `args`: `pydbm shelve get` for
/// `shelve get --type x`.
fn command_path(args: impl Iterator<Item = String>) -> String {
    use clap::CommandFactory;
    let mut command = args::Cli::command();
    let mut path = String::from("pydbm");
    for arg in args {
        let Some(sub) = command.find_subcommand(&arg).cloned() else {
            break;
        };
        path.push(' ');
        path.push_str(sub.get_name());
        command = sub;
    }
    path
}

/// An error message folded onto one line: line breaks become `\n`.
fn one_line(message: &str) -> String {
    message.replace('\r', "\\r").replace('\n', "\\n")
}
