//! What each command does. Every command returns `Result<(), CliError>`; output goes to
//! stdout, progress bars (only when stderr is a terminal) to stderr.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use pydbm_engine::{Dbm, Format, Items, OpenOptions};

use pydbm_shelve::pickle;

use super::args::{
    Command, DbType, DumpFormat, MarshalCommand, PickleCommand, Py2Options, ShelveCommand, Target,
};
use super::script::{self, Op};
use super::{hex, CliError};

/// Runs one parsed command.
pub fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Whichdb { path } => whichdb(&path),
        Command::Get { target, key, hex } => get(&target, &key, hex),
        Command::Set {
            target,
            key,
            value,
            hex,
        } => set(&target, &key, &value, hex),
        Command::Del { target, key, hex } => del(&target, &key, hex),
        Command::Keys { target, hex } => keys(&target, hex),
        Command::Dump {
            target,
            format,
            output,
        } => dump(&target, format, output.as_deref()),
        Command::Load { target, input } => load(&target, input.as_deref()),
        Command::Apply {
            db_type,
            flag,
            path,
        } => {
            let flag = match flag {
                super::args::ApplyFlag::C => "c",
                super::args::ApplyFlag::N => "n",
                super::args::ApplyFlag::W => "w",
            };
            apply(db_type, flag, &path)
        }
        Command::Convert { src, dst, db_type } => convert(&src, &dst, db_type),
        Command::Check { target } => check(&target),
        Command::Recover { target } => recover(&target),
        Command::Reorganize { target } => reorganize(&target),
        Command::Stats { target } => stats(&target),
        Command::Crashtest { db_type, ops, seed } => crashtest(db_type, ops, seed),
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
    let code = pydbm_sqlite::shell(path, sql, &mut input, &mut io::stdout(), &mut io::stderr())?;
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
    crate::format_for(t.module()).ok_or_else(|| not_yet(t.module()))
}

/// The format of an existing database: `--type` when given, else what whichdb says.
fn detect(target: &Target) -> Result<&'static dyn Format, CliError> {
    if let Some(t) = target.db_type {
        return format_of(t);
    }
    match crate::whichdb(&target.path)? {
        Some(module) if !module.is_empty() => {
            crate::format_for(module).ok_or_else(|| not_yet(module))
        }
        Some(_) => Err(CliError::Failed(format!(
            "db type could not be determined: {} (pass --type)",
            target.path.display()
        ))),
        None => Err(CliError::Failed(format!(
            "db file doesn't exist: {}",
            target.path.display()
        ))),
    }
}

fn open(target: &Target, flag: &str) -> Result<Box<dyn Dbm>, CliError> {
    let format = detect(target)?;
    let opts = OpenOptions::from_flag(flag)?;
    Ok(format.open(&target.path, &opts)?)
}

fn key_bytes(text: &str, is_hex: bool) -> Result<Vec<u8>, CliError> {
    if is_hex {
        hex::decode(text).map_err(|m| CliError::Usage(format!("bad hex argument: {m}")))
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

fn stdout_write(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Failed(format!("writing stdout: {e}")))
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
    // CLI.md: what print(dbm.whichdb(PATH)) prints in CPython 3.13, numsync and byte-swapped
    // gdbm named dbm.gnu.
    let answer = crate::whichdb(path)?;
    stdout_write(format!("{}\n", answer.unwrap_or("None")).as_bytes())
}

fn get(target: &Target, key: &str, is_hex: bool) -> Result<(), CliError> {
    let key = key_bytes(key, is_hex)?;
    let mut db = open(target, "r")?;
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

fn render_key(key: &[u8], is_hex: bool) -> String {
    if is_hex {
        hex::encode(key)
    } else {
        String::from_utf8_lossy(key).into_owned()
    }
}

fn set(target: &Target, key: &str, value: &str, is_hex: bool) -> Result<(), CliError> {
    let key = key_bytes(key, is_hex)?;
    let value = key_bytes(value, is_hex)?;
    let mut db = open(target, "c")?;
    db.insert(&key, &value)?;
    db.close()?;
    Ok(())
}

fn del(target: &Target, key: &str, is_hex: bool) -> Result<(), CliError> {
    let key = key_bytes(key, is_hex)?;
    let mut db = open(target, "w")?;
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
    let mut db = open(target, "r")?;
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
            let mut db = open(target, "r")?;
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
            let mut db = open(target, "r")?;
            let mut records = Vec::new();
            for item in Items::of(db.as_mut())? {
                records.push(item?);
            }
            db.close()?;
            if matches!(format, DumpFormat::GdbmAscii) {
                let meta = pydbm_formats::gnu::format::dump_meta(&target.path);
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
    let text = std::str::from_utf8(data)
        .map_err(|e| CliError::Failed(format!("{name}: not a hex dump: {e}")))?;
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

fn load(target: &Target, input: Option<&Path>) -> Result<(), CliError> {
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
    let mut db = open(target, "c")?;
    let bar = progress_bar(records.len() as u64);
    for (k, v) in &records {
        db.insert(k, v)?;
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    db.close()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

fn apply(db_type: DbType, flag: &str, path: &Path) -> Result<(), CliError> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
    let ops = script::parse(&text)
        .map_err(|e| CliError::Usage(format!("script line {}: {}", e.line, e.message)))?;
    let format = format_of(db_type)?;
    let mut out = String::new();
    // Whatever `get`/`keys`/`len` printed before a failing line is still printed.
    let result = run_script(format, flag, path, ops, &mut out);
    stdout_write(out.as_bytes())?;
    result
}

/// Runs `ops` on one handle of `path`, appending what `get`, `keys` and `len` print to `out`.
fn run_script(
    format: &dyn Format,
    flag: &str,
    path: &Path,
    ops: Vec<(usize, Op)>,
    out: &mut String,
) -> Result<(), CliError> {
    let mut db = format.open(path, &OpenOptions::from_flag(flag)?)?;
    for (line, op) in ops {
        let at = |e: pydbm_engine::Error| CliError::Failed(format!("script line {line}: {e}"));
        match op {
            Op::Set(k, v) => db.insert(&k, &v).map_err(at)?,
            Op::Del(k) => {
                if !db.remove(&k).map_err(at)? {
                    return Err(CliError::Failed(format!(
                        "script line {line}: key not found: {}",
                        hex::encode(&k)
                    )));
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
                db = format
                    .open(path, &OpenOptions::from_flag("w")?)
                    .map_err(at)?;
            }
        }
    }
    db.close()?;
    Ok(())
}

fn convert(src: &Path, dst: &Path, db_type: DbType) -> Result<(), CliError> {
    let source = Target {
        path: src.to_path_buf(),
        db_type: None,
    };
    let mut from = open(&source, "r")?;
    let mut to = format_of(db_type)?.open(dst, &OpenOptions::from_flag("n")?)?;
    let total = from.len()? as u64;
    let bar = progress_bar(total);
    for item in Items::of(from.as_mut())? {
        let (k, v) = item?;
        to.insert(&k, &v)?;
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    to.close()?;
    from.close()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

fn check(target: &Target) -> Result<(), CliError> {
    let problems = detect(target)?.check(&target.path)?;
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

fn recover(target: &Target) -> Result<(), CliError> {
    let lines = detect(target)?.recover(&target.path)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    stdout_write(text.as_bytes())
}

fn reorganize(target: &Target) -> Result<(), CliError> {
    let mut db = open(target, "w")?;
    db.reorganize()?;
    db.close()?;
    Ok(())
}

fn stats(target: &Target) -> Result<(), CliError> {
    let lines = detect(target)?.stats(&target.path)?;
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
            if protocol > pickle::HIGHEST_PROTOCOL {
                return Err(CliError::Usage(format!(
                    "--protocol {protocol}: pickle protocols are 0 to {}",
                    pickle::HIGHEST_PROTOCOL
                )));
            }
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
            let mut sh = Shelf::from_box(open(&target, "r")?, ShelfOptions::default());
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
            let mut sh = Shelf::from_box(open(&target, "r")?, ShelfOptions::default());
            let value = sh.get_pickle(&key)?;
            sh.close()?;
            match value {
                // CLI.md: a value as `pickle show` prints it.
                Some(v) => {
                    let text = pydbm_shelve::pickle::repr::repr(&v)?;
                    stdout_write(format!("{text}\n").as_bytes())
                }
                None => Err(CliError::Failed(format!("key not found: {key}"))),
            }
        }
    }
}
