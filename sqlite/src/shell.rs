//! `python3 -m sqlite3 [PATH] [SQL]` (CPython 3.12+'s `sqlite3.__main__`): run one SQL
//! string, or a line-based interactive loop, printing each row as Python's `print(row)`.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::connection::{connect, ConnectOptions, Connection};
use crate::error::Error;
use crate::value::str_repr;

fn io_err(e: std::io::Error) -> pydbm_engine::Error {
    pydbm_engine::Error::io("<stdio>", e)
}

/// The error line Python's CLI prints: `Type (SQLITE_NAME): message` for errors SQLite
/// raised, `Type: message` for the module's own.
fn error_line(e: &Error) -> String {
    match e.sqlite_errorname {
        Some(name) => format!("{} ({name}): {}", e.kind.name(), e.message),
        None => format!("{}: {}", e.kind.name(), e.message),
    }
}

/// Runs `sql` and prints its rows to `out`; an error goes to `err`. Returns whether it
/// succeeded.
fn execute(
    con: &Connection,
    sql: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> pydbm_engine::Result<bool> {
    match con.execute(sql, ()) {
        Ok(mut cur) => {
            while let Some(row) = cur.fetchone().transpose() {
                match row {
                    Ok(v) => writeln!(out, "{}", v.repr()).map_err(io_err)?,
                    Err(e) => {
                        writeln!(err, "{}", error_line(&e)).map_err(io_err)?;
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
        Err(e) => {
            writeln!(err, "{}", error_line(&e)).map_err(io_err)?;
            Ok(false)
        }
    }
}

/// `python3 -m sqlite3 PATH [SQL]` over `input`/`out`/`err`.
///
/// The connection is opened with `isolation_level=None` (autocommit), as Python's CLI does.
/// With a non-empty `sql`, runs it and returns exit status 1 if it failed, else 0. Without
/// (or with `""`, as Python's `if args.sql:` reads it), prints the
/// banner to `err`, then reads lines: prompt `sqlite> ` (`    ... ` while a statement is
/// incomplete, by `sqlite3_complete`), `.help`, `.version`, `.quit` (status 0); errors are
/// printed and the loop goes on; end of input prints a newline to `err` and returns 0.
/// Fails only when the database cannot be opened or the streams fail.
pub fn shell(
    path: &Path,
    sql: Option<&str>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> pydbm_engine::Result<i32> {
    let opts = ConnectOptions {
        isolation_level: None,
        ..Default::default()
    };
    let con = connect(path, &opts).map_err(|e| e.to_engine(path))?;
    let status = run(&con, path, sql, input, out, err);
    let _ = con.close();
    status
}

fn run(
    con: &Connection,
    path: &Path,
    sql: Option<&str>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> pydbm_engine::Result<i32> {
    // `if args.sql:` in Python's CLI: an empty SQL argument starts the interactive shell.
    if let Some(sql) = sql.filter(|s| !s.is_empty()) {
        return Ok(if execute(con, sql, out, err)? { 0 } else { 1 });
    }
    let name = path.to_string_lossy();
    let db_name = if name == ":memory:" {
        "a transient in-memory database".to_string()
    } else {
        str_repr(&name)
    };
    writeln!(
        err,
        "sqlite3 shell, running on SQLite version {}\nConnected to {db_name}\n\nEach command will be run using execute() on the cursor.\nType \".help\" for more information; type \".quit\" or CTRL-D to quit.",
        crate::sqlite_version()
    )
    .map_err(io_err)?;
    let mut buffer: Vec<String> = Vec::new();
    loop {
        let prompt = if buffer.is_empty() {
            "sqlite> "
        } else {
            "    ... "
        };
        write!(out, "{prompt}").map_err(io_err)?;
        out.flush().map_err(io_err)?;
        let mut line = String::new();
        if input.read_line(&mut line).map_err(io_err)? == 0 {
            writeln!(err).map_err(io_err)?;
            return Ok(0);
        }
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        buffer.push(line.to_string());
        let source = buffer.join("\n");
        match source.as_str() {
            ".version" => writeln!(out, "{}", crate::sqlite_version()).map_err(io_err)?,
            ".help" => writeln!(out, "Enter SQL code and press enter.").map_err(io_err)?,
            ".quit" => return Ok(0),
            _ => {
                if !crate::cursor::complete_statement(&source) {
                    continue;
                }
                execute(con, &source, out, err)?;
            }
        }
        buffer.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_shell(sql: Option<&str>, input: &str) -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = shell(
            Path::new(":memory:"),
            sql,
            &mut input.as_bytes(),
            &mut out,
            &mut err,
        )
        .unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn one_shot_sql_like_python() {
        // CPython 3.13: `python -m sqlite3 db "select * from nope"` → status 1,
        // stderr "OperationalError (SQLITE_ERROR): no such table: nope".
        let (code, out, err) = run_shell(Some("select * from nope"), "");
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            "OperationalError (SQLITE_ERROR): no such table: nope\n"
        );
        let (code, _, err) = run_shell(Some("select 1; select 2"), "");
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "ProgrammingError: You can only execute one statement at a time.\n"
        );
        let (code, out, _) = run_shell(Some("select 1, 'a', x'00', 1.5, NULL"), "");
        assert_eq!((code, out.as_str()), (0, "(1, 'a', b'\\x00', 1.5, None)\n"));
    }
}
