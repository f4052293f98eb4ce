//! What each command does. Every command returns `Result<(), CliError>`; output goes to
//! stdout, progress bars (only when stderr is a terminal) to stderr.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use pydbm_engine::{Dbm, Durability, Format, Items, OpenOptions};

use pydbm_shelve::pickle;

use super::args::{
    Command, DbType, DumpFormat, MarshalCommand, PickleCommand, Py2Options, ShelveCommand, Target,
    WriteOptions,
};
use super::damaged_copy::{Change, DamagedCopy};
use super::database_files;
use super::script::{self, Op};
use super::{hex, CliError};

/// The global `--lock-timeout`, set once by [`run`] before any database is opened.
static LOCK_TIMEOUT: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();

/// `OpenOptions` for Python's `flag`, with the command line's `--lock-timeout` (when given;
/// otherwise each format's default wait, see `OpenOptions::lock_timeout`).
fn open_options(flag: &str) -> Result<OpenOptions, CliError> {
    let mut opts = OpenOptions::from_flag(flag)?;
    if let Some(Some(t)) = LOCK_TIMEOUT.get() {
        opts.lock_timeout = Some(*t);
    }
    Ok(opts)
}

/// Runs `inspect` (a `Format` method that takes its own lock: check, stats, recover) again
/// while it fails with `Error::Locked`, until the global `--lock-timeout` has passed (at
/// most once without one), pausing 1 ms doubling to 50 ms between tries, as the engine's
/// lock waits do.
fn waiting_for_lock<T>(
    mut inspect: impl FnMut() -> pydbm_engine::Result<T>,
) -> pydbm_engine::Result<T> {
    let deadline = LOCK_TIMEOUT
        .get()
        .copied()
        .flatten()
        .map(|t| std::time::Instant::now() + t);
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match inspect() {
            Err(pydbm_engine::Error::Locked { .. })
                if deadline.is_some_and(|d| std::time::Instant::now() < d) =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Runs one parsed command, opening databases with the global `--lock-timeout` wait.
pub fn run(command: Command, lock_timeout: Option<std::time::Duration>) -> Result<(), CliError> {
    let _ = LOCK_TIMEOUT.set(lock_timeout);
    match command {
        Command::Whichdb { path } => whichdb(&path),
        Command::Get { target, key, hex } => get(&target, &key, hex),
        Command::Set {
            target,
            key,
            value,
            hex,
            write,
        } => set(&target, &key, &value, hex, write),
        Command::Del {
            target,
            key,
            hex,
            write,
        } => del(&target, &key, hex, write),
        Command::Keys { target, hex } => keys(&target, hex),
        Command::Dump {
            target,
            format,
            output,
        } => dump(&target, format, output.as_deref()),
        Command::Load {
            target,
            input,
            write,
        } => load(&target, input.as_deref(), write),
        Command::Apply {
            db_type,
            flag,
            path,
            write,
        } => {
            let flag = match flag {
                super::args::ApplyFlag::C => "c",
                super::args::ApplyFlag::N => "n",
                super::args::ApplyFlag::W => "w",
            };
            apply(db_type, flag, &path, write)
        }
        Command::Convert {
            src,
            dst,
            db_type,
            force,
            write,
        } => convert(&src, &dst, db_type, force, write),
        Command::Check { target } => check(&target),
        Command::Recover { target, discard } => recover(&target, discard),
        Command::Reorganize { target, write } => reorganize(&target, write),
        Command::Stats { target } => stats(&target),
        Command::Crashtest {
            db_type,
            ack_writer: Some(path),
            flag,
            transaction,
            ..
        } => {
            let flag = match flag {
                None | Some(super::args::ApplyFlag::C) => "c",
                Some(super::args::ApplyFlag::N) => "n",
                Some(super::args::ApplyFlag::W) => "w",
            };
            super::acked_writer::run(format_of(db_type)?, flag, &path, transaction)
        }
        Command::Crashtest { flag: Some(_), .. } => Err(CliError::Usage(
            "crashtest: --flag is the open flag of --ack-writer and needs it".to_string(),
        )),
        Command::Crashtest {
            db_type, ops, seed, ..
        } => crashtest(db_type, ops, seed),
        Command::Pickle(cmd) => pickle(cmd),
        Command::Marshal(cmd) => marshal(cmd),
        Command::Shelve(cmd) => shelve(cmd),
        Command::Sqlite { path, sql } => sqlite_shell(&path, sql.as_deref()),
    }
}

/// `pydbm sqlite PATH [SQL]`: `python3 -m sqlite3 PATH [SQL]` on the process's stdio
/// (pydbm_sqlite::shell). A failed SQL statement has already printed Python's error line
/// (`OperationalError (SQLITE_ERROR): ...`), so it exits 1 without a second line.
fn sqlite_shell(path: &Path, sql: Option<&str>) -> Result<(), CliError> {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let code = pydbm_sqlite::shell(path, sql, &mut input, &mut io::stdout(), &mut io::stderr())
        .map_err(|e| match e {
            // The shell's own writes to stdout: a closed pipe ends the output quietly.
            pydbm_engine::Error::Io { source, .. }
                if source.kind() == io::ErrorKind::BrokenPipe =>
            {
                CliError::StdoutClosed
            }
            e => CliError::from(e),
        })?;
    if code != 0 {
        let _ = io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}

fn not_yet(what: &str) -> CliError {
    CliError::Failed(format!("{what} is not supported yet"))
}

/// The format implementing `t`, or the "not supported yet" error.
fn format_of(t: DbType) -> Result<&'static dyn Format, CliError> {
    pydbm::format_for(t.module()).ok_or_else(|| not_yet(t.module()))
}

/// The format serving `path` when it is an `etcd://` address (docs/etcd.md), whatever
/// `--type` says: an address names its backend. `None` for a file path.
fn address_format(path: &Path) -> Option<Result<&'static dyn Format, CliError>> {
    pydbm::remote::address_format(path).map(|f| f.map_err(CliError::from))
}

/// The "--type is required" usage error of commands that create a database (`apply`,
/// `convert`): only an `etcd://` address names its own type.
fn require_type(path: &Path, db_type: Option<DbType>) -> Result<(), CliError> {
    if db_type.is_none() && address_format(path).is_none() {
        return Err(CliError::Usage(format!(
            "--type TYPE is required for {} (only an etcd:// address names its own type)",
            path.display()
        )));
    }
    Ok(())
}

/// A database named on the command line: the name to open and its format.
struct Database {
    /// The name as Python's `dbm.open` takes it (`x` for dumb `x.dat`).
    path: PathBuf,
    /// Its format.
    format: &'static dyn Format,
}

/// Whether the command creates a missing database (with `--type`) or needs it to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// A missing database is an error.
    IsAnError,
    /// A missing database is created (the command needs `--type` for it).
    IsCreated,
}

/// The database `target` names: its format is `--type` when given, else what whichdb says;
/// a path naming one of the database's own files (`NAME.dat`, `NAME.dir`, `NAME.db`,
/// `NAME.pag`) names that database (database_files); a directory is refused by name.
fn resolve(target: &Target, missing: Missing) -> Result<Database, CliError> {
    let given = &target.path;
    if let Some(format) = address_format(given) {
        return Ok(Database {
            path: given.clone(),
            format: format?,
        });
    }
    if let Some(t) = target.db_type {
        let format = format_of(t)?;
        let path = database_files::database_name(format.module(), given);
        if let Some(dir) = database_files::directory_among(format.module(), &path) {
            return Err(is_a_directory(&dir));
        }
        return Ok(Database { path, format });
    }
    let found = pydbm::whichdb(given)?;
    if let Some(module) = found.filter(|m| !m.is_empty()) {
        let format = pydbm::format_for(module).ok_or_else(|| not_yet(module))?;
        return Ok(Database {
            path: given.clone(),
            format,
        });
    }
    // `x.dat`, `x.db`, ...: whichdb of `x`, if `x` is a database that has such a file.
    for module in ["dbm.dumb", "dbm.ndbm"] {
        let Some(stem) = database_files::strip_own_suffix(module, given) else {
            continue;
        };
        if let Some(m) = pydbm::whichdb(&stem)?.filter(|m| !m.is_empty()) {
            if database_files::strip_own_suffix(m, given).as_ref() == Some(&stem) {
                let format = pydbm::format_for(m).ok_or_else(|| not_yet(m))?;
                return Ok(Database { path: stem, format });
            }
        }
    }
    if given.is_dir() {
        return Err(is_a_directory(given));
    }
    Err(CliError::Failed(match (found, missing) {
        (Some(_), _) => format!(
            "db type could not be determined: {} (pass --type)",
            given.display()
        ),
        (None, Missing::IsAnError) => format!("db file doesn't exist: {}", given.display()),
        (None, Missing::IsCreated) => format!(
            "db file doesn't exist: {} (pass --type gnu|ndbm|dumb|sqlite3 to create it)",
            given.display()
        ),
    }))
}

fn is_a_directory(path: &Path) -> CliError {
    CliError::Failed(format!("{}: is a directory", path.display()))
}

/// Open options for `flag` at `durability`.
fn options(flag: &str, durability: Durability) -> Result<OpenOptions, CliError> {
    let mut opts = open_options(flag)?;
    opts.durability = durability;
    Ok(opts)
}

/// Opens the database `target` names with `flag` (`r` reads; `w` and `c` write at
/// `durability`).
fn open(
    target: &Target,
    flag: &str,
    durability: Durability,
) -> Result<(Box<dyn Dbm>, Database), CliError> {
    let missing = if flag.starts_with('c') {
        Missing::IsCreated
    } else {
        Missing::IsAnError
    };
    let db = resolve(target, missing)?;
    let handle = db.format.open(&db.path, &options(flag, durability)?)?;
    Ok((handle, db))
}

/// Opens the database `target` names for reading.
fn open_read(target: &Target) -> Result<Box<dyn Dbm>, CliError> {
    Ok(open(target, "r", Durability::default())?.0)
}

fn key_bytes(text: &str, is_hex: bool) -> Result<Vec<u8>, CliError> {
    if is_hex {
        hex::decode(text).map_err(|m| CliError::Usage(format!("bad hex argument: {m}")))
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

/// Writes `bytes` to stdout. A reader that closed the pipe ends the output quietly
/// ([`CliError::StdoutClosed`]).
fn stdout_write(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => CliError::StdoutClosed,
            _ => CliError::Failed(format!("writing stdout: {e}")),
        })
}

fn print_bytes(bytes: &[u8], is_hex: bool) -> Result<(), CliError> {
    if is_hex {
        stdout_write(format!("{}\n", hex::encode(bytes)).as_bytes())
    } else {
        let mut line = bytes.to_vec();
        line.push(b'\n');
        stdout_write(&line)
    }
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})") {
        bar.set_style(style);
    }
    Some(bar)
}

fn whichdb(path: &Path) -> Result<(), CliError> {
    // docs/cli.md: what print(dbm.whichdb(PATH)) prints in CPython 3.13, numsync and byte-swapped
    // gdbm named dbm.gnu.
    let answer = pydbm::whichdb(path)?;
    stdout_write(format!("{}\n", answer.unwrap_or("None")).as_bytes())
}

fn get(target: &Target, key: &str, is_hex: bool) -> Result<(), CliError> {
    let key = key_bytes(key, is_hex)?;
    let mut db = open_read(target)?;
    let value = db.get(&key)?;
    db.close()?;
    match value {
        Some(v) => print_bytes(&v, is_hex),
        None => Err(CliError::Failed(format!(
            "key not found: {}",
            render_key(&key, is_hex)
        ))),
    }
}

/// A key as an error message shows it: hex or text, cut to 200 bytes (excerpt).
fn render_key(key: &[u8], is_hex: bool) -> String {
    if is_hex {
        super::excerpt::excerpt(&hex::encode(key))
    } else {
        super::excerpt::excerpt(&String::from_utf8_lossy(key))
    }
}

fn set(
    target: &Target,
    key: &str,
    value: &str,
    is_hex: bool,
    write: WriteOptions,
) -> Result<(), CliError> {
    let key = key_bytes(key, is_hex)?;
    let value = key_bytes(value, is_hex)?;
    let (mut db, _) = open(target, "c", write.durability.engine())?;
    db.insert(&key, &value)?;
    db.close()?;
    Ok(())
}

fn del(target: &Target, key: &str, is_hex: bool, write: WriteOptions) -> Result<(), CliError> {
    let key = key_bytes(key, is_hex)?;
    let (mut db, _) = open(target, "w", write.durability.engine())?;
    let found = db.remove(&key)?;
    db.close()?;
    if found {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "key not found: {}",
            render_key(&key, is_hex)
        )))
    }
}

fn keys(target: &Target, is_hex: bool) -> Result<(), CliError> {
    let mut db = open_read(target)?;
    let keys = db.keys()?;
    db.close()?;
    let mut out = Vec::new();
    for k in keys {
        if is_hex {
            out.extend_from_slice(hex::encode(&k).as_bytes());
        } else {
            out.extend_from_slice(&k);
        }
        out.push(b'\n');
    }
    stdout_write(&out)
}

fn dump(target: &Target, format: DumpFormat, output: Option<&Path>) -> Result<(), CliError> {
    let text = match format {
        DumpFormat::Hex => {
            let mut db = open_read(target)?;
            let mut text = String::new();
            for item in Items::of(db.as_mut())? {
                let (k, v) = item?;
                text.push_str(&hex::encode(&k));
                text.push(' ');
                text.push_str(&hex::encode(&v));
                text.push('\n');
            }
            db.close()?;
            text.into_bytes()
        }
        DumpFormat::GdbmAscii | DumpFormat::GdbmBinary => {
            let (mut db, found) = open(target, "r", Durability::default())?;
            let mut records = Vec::new();
            for item in Items::of(db.as_mut())? {
                records.push(item?);
            }
            db.close()?;
            if matches!(format, DumpFormat::GdbmAscii) {
                let meta = pydbm_formats::gnu::format::dump_meta(&found.path);
                pydbm_formats::gnu::dump::write_ascii(&meta, &records)
            } else {
                pydbm_formats::gnu::dump::write_binary(&records)
            }
        }
    };
    match output {
        Some(path) => {
            fs::write(path, &text).map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
        }
        None => stdout_write(&text),
    }
}

fn read_input(input: Option<&Path>) -> Result<Vec<u8>, CliError> {
    let mut data = Vec::new();
    match input {
        Some(path) => {
            data =
                fs::read(path).map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?
        }
        None => {
            io::stdin()
                .read_to_end(&mut data)
                .map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
        }
    }
    Ok(data)
}

/// Key-value pairs in order.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// Parses a hex dump (`HEXKEY HEXVAL` lines) into records.
fn parse_hex_dump(data: &[u8], name: &str) -> Result<Records, CliError> {
    let text = super::utf8_position::as_text(data).map_err(|bad| {
        CliError::Failed(format!("{name}: line {}: not a hex dump: {bad}", bad.line))
    })?;
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |m: String| CliError::Failed(format!("{name}: line {}: {m}", i + 1));
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(k), Some(v), None) => {
                records.push((hex::decode(k).map_err(bad)?, hex::decode(v).map_err(bad)?))
            }
            _ => return Err(bad("expected `HEXKEY HEXVAL`".to_string())),
        }
    }
    Ok(records)
}

fn load(target: &Target, input: Option<&Path>, write: WriteOptions) -> Result<(), CliError> {
    let data = read_input(input)?;
    let name = input.map_or("<stdin>".to_string(), |p| p.display().to_string());
    let records = match data.first() {
        Some(b'!') | Some(b'#')
            if data.starts_with(b"!\r\n! GDBM")
                || data.starts_with(b"# GDBM")
                || data.starts_with(b"#:") =>
        {
            pydbm_formats::gnu::dump::read_any(&data)
                .map_err(|m| {
                    CliError::Failed(format!(
                        "{name}: malformed gdbm dump at offset {}: expected {}",
                        m.offset, m.expected
                    ))
                })?
                .records
        }
        Some(b'V') if data.starts_with(b"VERSION=") => pydbm_formats::ndbm::parse_db_dump(&data)
            .map_err(|e| CliError::Failed(format!("{name}: {e}")))?,
        _ => parse_hex_dump(&data, &name)?,
    };
    let (mut db, _) = open(target, "c", write.durability.engine())?;
    let bar = progress_bar(records.len() as u64);
    super::batched_writes::insert_all(db.as_mut(), &mut records.into_iter().map(Ok), &mut || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    })?;
    db.close()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

fn apply(
    db_type: Option<DbType>,
    flag: &str,
    path: &Path,
    write: WriteOptions,
) -> Result<(), CliError> {
    require_type(path, db_type)?;
    let mut script_bytes = Vec::new();
    io::stdin()
        .read_to_end(&mut script_bytes)
        .map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
    let ops = script::parse_bytes(&script_bytes)
        .map_err(|e| CliError::Usage(format!("script line {}: {}", e.line, e.message)))?;
    drop(script_bytes);
    let target = Target {
        path: path.to_path_buf(),
        db_type,
    };
    let db = resolve(&target, Missing::IsCreated)?;
    let opts = options(flag, write.durability.engine())?;
    let mut out = String::new();
    // Whatever `get`/`keys`/`len` printed before a failing line is still printed.
    let result = run_script(db.format, &db.path, &opts, ops, &mut out);
    stdout_write(out.as_bytes())?;
    result
}

/// Runs `ops` on one handle of `path` opened with `opts`, appending what `get`, `keys` and
/// `len` print to `out`. `reopen` opens with `'w'` at the same durability.
///
/// Consecutive `set` and `del` lines run in one transaction of up to
/// [`super::batched_writes::TRANSACTION_BATCH`] lines (one commit instead of one per
/// line); every other line runs on its own between transactions. A `del`
/// of a missing key commits the lines before it, then fails as before; any other failure
/// rolls back its transaction's lines.
fn run_script(
    format: &dyn Format,
    path: &Path,
    opts: &OpenOptions,
    ops: Vec<(usize, Op)>,
    out: &mut String,
) -> Result<(), CliError> {
    let mut db = format.open(path, opts)?;
    let mut ops = ops.into_iter().peekable();
    while let Some((line, op)) = ops.next() {
        let write = match ScriptWrite::of(op) {
            Ok(w) => w,
            Err(op) => {
                run_line(&mut db, format, path, opts, line, op, out)?;
                continue;
            }
        };
        let unbatched = match super::batched_writes::begin(db.as_mut())? {
            Some(mut txn) => {
                let (mut next, mut last, mut n) = (Some((line, write)), line, 0);
                while let Some((line, write)) = next.take() {
                    last = line;
                    let at = |e: pydbm_engine::Error| {
                        CliError::Failed(format!("script line {line}: {e}"))
                    };
                    match write {
                        ScriptWrite::Set(k, v) => txn.insert(&k, &v).map_err(at)?,
                        ScriptWrite::Del(k) => {
                            if !txn.remove(&k).map_err(at)? {
                                txn.commit().map_err(at)?;
                                return Err(key_not_found(line, &k));
                            }
                        }
                    }
                    n += 1;
                    if n < super::batched_writes::TRANSACTION_BATCH
                        && ops.peek().is_some_and(|(_, op)| runs_in_transaction(op))
                    {
                        next = ops
                            .next()
                            .and_then(|(l, op)| ScriptWrite::of(op).ok().map(|w| (l, w)));
                    }
                }
                txn.commit()
                    .map_err(|e| CliError::Failed(format!("script line {last}: {e}")))?;
                None
            }
            None => Some((line, write)),
        };
        if let Some((line, write)) = unbatched {
            run_line(&mut db, format, path, opts, line, write.into_op(), out)?;
        }
    }
    db.close()?;
    Ok(())
}

/// An `apply` line that writes: what runs inside the script's transactions.
enum ScriptWrite {
    Set(Vec<u8>, Vec<u8>),
    Del(Vec<u8>),
}

impl ScriptWrite {
    /// The write `op` is, or `op` back when it is not one.
    fn of(op: Op) -> Result<ScriptWrite, Op> {
        match op {
            Op::Set(k, v) => Ok(ScriptWrite::Set(k, v)),
            Op::Del(k) => Ok(ScriptWrite::Del(k)),
            other => Err(other),
        }
    }

    fn into_op(self) -> Op {
        match self {
            ScriptWrite::Set(k, v) => Op::Set(k, v),
            ScriptWrite::Del(k) => Op::Del(k),
        }
    }
}

/// Whether an `apply` line runs inside the script's transactions: the writes. A `get` ends
/// the transaction before it, so a read-heavy stretch never delays a commit.
fn runs_in_transaction(op: &Op) -> bool {
    matches!(op, Op::Set(..) | Op::Del(_))
}

fn key_not_found(line: usize, key: &[u8]) -> CliError {
    CliError::Failed(format!(
        "script line {line}: key not found: {}",
        render_key(key, true)
    ))
}

/// One `apply` line on its own (its own commit).
fn run_line(
    db: &mut Box<dyn Dbm>,
    format: &dyn Format,
    path: &Path,
    opts: &OpenOptions,
    line: usize,
    op: Op,
    out: &mut String,
) -> Result<(), CliError> {
    let at = |e: pydbm_engine::Error| CliError::Failed(format!("script line {line}: {e}"));
    match op {
        Op::Set(k, v) => db.insert(&k, &v).map_err(at)?,
        Op::Del(k) => {
            if !db.remove(&k).map_err(at)? {
                return Err(key_not_found(line, &k));
            }
        }
        Op::Get(k) => match db.get(&k).map_err(at)? {
            Some(v) => out.push_str(&format!("{}\n", hex::encode(&v))),
            None => out.push_str("None\n"),
        },
        Op::Keys => {
            let keys: Vec<String> = db
                .keys()
                .map_err(at)?
                .iter()
                .map(|k| hex::encode(k))
                .collect();
            out.push_str(&keys.join(" "));
            out.push('\n');
        }
        Op::Len => out.push_str(&format!("{}\n", db.len().map_err(at)?)),
        Op::Sync => db.sync().map_err(at)?,
        Op::Reorganize => db.reorganize().map_err(at)?,
        Op::Reopen => {
            db.close().map_err(at)?;
            *db = format
                .open(path, &options("w", opts.durability)?)
                .map_err(at)?;
        }
    }
    Ok(())
}

/// `convert`: refuses an existing DST unless `force`, and always refuses a DST that is
/// SRC (opening it with `'n'` would empty the source before it is read).
fn convert(
    src: &Path,
    dst: &Path,
    db_type: Option<DbType>,
    force: bool,
    write: WriteOptions,
) -> Result<(), CliError> {
    let source = Target {
        path: src.to_path_buf(),
        db_type: None,
    };
    require_type(dst, db_type)?;
    let destination = Target {
        path: dst.to_path_buf(),
        db_type,
    };
    let source = resolve(&source, Missing::IsAnError)?;
    let destination = resolve(&destination, Missing::IsCreated)?;
    let (from_module, to_module) = (source.format.module(), destination.format.module());
    if database_files::share_a_file(from_module, &source.path, to_module, &destination.path) {
        return Err(CliError::Failed(format!(
            "{} and {} are the same database",
            src.display(),
            dst.display()
        )));
    }
    // An etcd:// prefix is occupied when it holds records; a file when any of its files
    // exists or whichdb recognises it.
    let occupied = if address_format(&destination.path).is_some() {
        let mut probe = destination
            .format
            .open(&destination.path, &options("c", Durability::default())?)?;
        let records = probe.len()?;
        probe.close()?;
        records > 0
    } else {
        database_files::any_exists(to_module, &destination.path)
            || pydbm::whichdb(&destination.path)?.is_some()
    };
    if occupied && !force {
        return Err(CliError::Failed(format!(
            "{}: already exists (pass --force to replace it)",
            dst.display()
        )));
    }
    let mut from = source
        .format
        .open(&source.path, &options("r", Durability::default())?)?;
    let mut to = destination
        .format
        .open(&destination.path, &options("n", write.durability.engine())?)?;
    let total = from.len()? as u64;
    let bar = progress_bar(total);
    super::batched_writes::insert_all(to.as_mut(), &mut Items::of(from.as_mut())?, &mut || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    })?;
    to.close()?;
    from.close()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

fn check(target: &Target) -> Result<(), CliError> {
    let db = resolve(target, Missing::IsAnError)?;
    let problems = waiting_for_lock(|| db.format.check(&db.path))?;
    if problems.is_empty() {
        return stdout_write(b"ok\n");
    }
    let mut text = String::new();
    for p in &problems {
        text.push_str(&format!("{p}\n"));
    }
    stdout_write(text.as_bytes())?;
    Err(CliError::Failed(format!(
        "{} problem(s) found: {}",
        problems.len(),
        target.path.display()
    )))
}

/// `recover`: the database's files are copied aside first ([`DamagedCopy`]); the copy is
/// kept, and its files named, when recovery changed anything (also when it only removed a
/// journal: the journal may be the evidence of what went wrong). With `discard`, the
/// journal is deleted without a rollback (`Format::discard_journal`).
fn recover(target: &Target, discard: bool) -> Result<(), CliError> {
    let db = resolve(target, Missing::IsAnError)?;
    let module = db.format.module();
    let copy = DamagedCopy::take(module, &db.path, std::time::SystemTime::now())
        .map_err(|e| CliError::Failed(format!("keeping a copy before recovery: {e}")))?;
    // --discard deletes the journal without rolling it back (docs/recovery.md).
    let result = waiting_for_lock(|| {
        if discard {
            db.format.discard_journal(&db.path)
        } else {
            db.format.recover(&db.path)
        }
    });
    // An unreadable comparison counts as a change: the copy is kept.
    let change = copy.changes().unwrap_or(Change::Data);
    let kept = if change == Change::Nothing {
        let name = copy.name.clone();
        copy.discard()
            .map_err(|e| CliError::Failed(format!("{}: removing: {e}", name.display())))?;
        None
    } else {
        let files: Vec<String> = copy
            .files()
            .iter()
            .map(|(_, c)| c.display().to_string())
            .collect();
        Some(files.join(", "))
    };
    let lines = match result {
        Ok(lines) => lines,
        Err(e) => {
            return Err(CliError::Failed(match kept {
                Some(files) => format!("{e} (the files as they were before: {files})"),
                None => e.to_string(),
            }))
        }
    };
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    if let Some(files) = kept {
        let only_journals = if change == Change::JournalsOnly {
            " (only a journal changed)"
        } else {
            ""
        };
        text.push_str(&format!(
            "kept a copy of the files as they were before recovery{only_journals}: {files}\n"
        ));
    }
    stdout_write(text.as_bytes())
}

fn reorganize(target: &Target, write: WriteOptions) -> Result<(), CliError> {
    let (mut db, _) = open(target, "w", write.durability.engine())?;
    db.reorganize()?;
    db.close()?;
    Ok(())
}

fn stats(target: &Target) -> Result<(), CliError> {
    let db = resolve(target, Missing::IsAnError)?;
    let lines = waiting_for_lock(|| db.format.stats(&db.path))?;
    let mut text = String::new();
    for (k, v) in lines {
        text.push_str(&format!("{k}: {v}\n"));
    }
    stdout_write(text.as_bytes())
}

fn crashtest(db_type: DbType, ops: u64, seed: u64) -> Result<(), CliError> {
    let format = format_of(db_type)?;
    let mut bar: Option<ProgressBar> = None;
    let mut progress = |done: u64, total: u64| {
        if bar.is_none() {
            bar = progress_bar(total);
        }
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let report = format.crashtest(ops, seed, &mut progress)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut text = String::new();
    for d in &report.details {
        text.push_str(d);
        text.push('\n');
    }
    text.push_str(&format!(
        "crash points: {}, violations: {}\n",
        report.crash_points, report.violations
    ));
    stdout_write(text.as_bytes())?;
    if report.violations > 0 {
        return Err(CliError::Failed(format!(
            "{} violation(s) of crash atomicity in {}",
            report.violations,
            format.module()
        )));
    }
    Ok(())
}

fn load_options(py2: &Py2Options) -> pickle::LoadOptions {
    pickle::LoadOptions {
        encoding: py2.encoding.clone(),
        errors: py2.errors.clone(),
        ..pickle::LoadOptions::default()
    }
}

fn pickle(cmd: PickleCommand) -> Result<(), CliError> {
    match cmd {
        PickleCommand::Dis { file } => {
            // pickletools prints what it decoded before the error, then the error.
            // Streamed line by line: a MARK-heavy listing grows quadratically.
            let data = read_input(file.as_deref())?;
            let mut out = io::BufWriter::new(io::stdout().lock());
            let err = pickle::dis_write(&data, &mut out)
                .and_then(|e| out.flush().map(|()| e))
                .map_err(|e| CliError::Failed(format!("writing stdout: {e}")))?;
            match err {
                None => Ok(()),
                Some(e) => Err(CliError::Failed(format!("ValueError: {e}"))),
            }
        }
        PickleCommand::Show { file, py2 } => {
            let data = read_input(file.as_deref())?;
            let text = pickle::show(&data, &load_options(&py2))?;
            stdout_write(format!("{text}\n").as_bytes())
        }
        PickleCommand::Recode {
            protocol,
            file,
            py2,
        } => {
            check_protocol(protocol)?;
            let data = read_input(file.as_deref())?;
            stdout_write(&pickle::recode(&data, protocol, &load_options(&py2))?)
        }
    }
}

fn marshal(cmd: MarshalCommand) -> Result<(), CliError> {
    use pydbm_shelve::marshal as m;
    let failed = |e: m::MarshalError| CliError::Failed(e.to_string());
    match cmd {
        MarshalCommand::Show { file } => {
            let data = read_input(file.as_deref())?;
            let text = m::show(&data).map_err(failed)?;
            stdout_write(format!("{text}\n").as_bytes())
        }
        MarshalCommand::Recode { version, file } => {
            if version > 5 {
                return Err(CliError::Usage(format!(
                    "--version {version}: marshal versions are 0 to 5"
                )));
            }
            let data = read_input(file.as_deref())?;
            stdout_write(&m::recode(&data, version).map_err(failed)?)
        }
    }
}

fn shelve(cmd: ShelveCommand) -> Result<(), CliError> {
    use pydbm_shelve::shelf::{Shelf, ShelfOptions};
    match cmd {
        ShelveCommand::Keys { target } => {
            let mut sh = Shelf::from_box(open_read(&target)?, ShelfOptions::default());
            let keys = sh.keys()?;
            sh.close()?;
            let mut text = String::new();
            for k in keys {
                text.push_str(&k);
                text.push('\n');
            }
            stdout_write(text.as_bytes())
        }
        ShelveCommand::Get { target, key } => {
            let mut sh = Shelf::from_box(open_read(&target)?, ShelfOptions::default());
            let value = sh.get_pickle(&key)?;
            sh.close()?;
            match value {
                // docs/cli.md: a value as `pickle show` prints it.
                Some(v) => {
                    let text = pydbm_shelve::pickle::repr::repr(&v)?;
                    stdout_write(format!("{text}\n").as_bytes())
                }
                None => Err(CliError::Failed(format!(
                    "key not found: {}",
                    render_key(key.as_bytes(), false)
                ))),
            }
        }
        ShelveCommand::Set {
            target,
            key,
            file,
            protocol,
            write,
        } => {
            check_protocol(protocol)?;
            let data = read_input(file.as_deref())?;
            let value = pickle::loads(&data, &pickle::LoadOptions::default())?;
            let (db, _) = open(&target, "c", write.durability.engine())?;
            let mut sh = Shelf::from_box(
                db,
                ShelfOptions {
                    protocol,
                    ..ShelfOptions::default()
                },
            );
            sh.insert_pickle(&key, &value)?;
            sh.close()?;
            Ok(())
        }
        ShelveCommand::Del { target, key, write } => {
            let (db, _) = open(&target, "w", write.durability.engine())?;
            let mut sh = Shelf::from_box(db, ShelfOptions::default());
            let found = sh.remove(&key)?;
            sh.close()?;
            if found {
                Ok(())
            } else {
                Err(CliError::Failed(format!(
                    "key not found: {}",
                    render_key(key.as_bytes(), false)
                )))
            }
        }
    }
}

/// `--protocol N`: a usage error beyond the highest pickle protocol.
fn check_protocol(protocol: u8) -> Result<(), CliError> {
    if protocol > pickle::HIGHEST_PROTOCOL {
        return Err(CliError::Usage(format!(
            "--protocol {protocol}: pickle protocols are 0 to {}",
            pickle::HIGHEST_PROTOCOL
        )));
    }
    Ok(())
}
