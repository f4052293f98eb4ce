//! The command line's grammar (clap derive): every command and flag of docs/cli.md.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// pydbm: open, inspect, convert and crash-test Python's dbm, shelve, pickle and marshal
/// files without Python.
///
/// PATH is what Python's dbm.open takes: for dbm.dumb and dbm.ndbm, the name without
/// its extension. KEY and VALUE are UTF-8 text, or lowercase hex with --hex ('-' is the
/// empty byte string). Errors print one line `pydbm: error: ...`; the exit status is 0 on
/// success, 1 on an operational failure (missing key, corrupt file, held lock, I/O
/// error) and 2 on a usage error.
#[derive(Debug, Parser)]
#[command(name = "pydbm", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Wait up to SECONDS (decimals allowed) for a lock another handle or process holds,
    /// instead of each format's default: fail at once for gnu, ndbm and dumb (as libgdbm
    /// does), wait 5 s for sqlite3 (as CPython's sqlite3 does). 0 fails at once everywhere.
    #[arg(long = "lock-timeout", global = true, value_name = "SECONDS", value_parser = parse_seconds)]
    pub lock_timeout: Option<std::time::Duration>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--lock-timeout`'s value: a finite, non-negative number of seconds.
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{text:?} is not a finite, non-negative number of seconds"))
}

/// A dbm format, named as the Python module (`gnu` or `dbm.gnu`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbType {
    /// dbm.gnu: GNU dbm 1.23 files.
    #[value(name = "gnu", alias = "dbm.gnu")]
    Gnu,
    /// dbm.ndbm: Berkeley DB 5.3 hash (NAME.db), as Debian's Python writes it.
    #[value(name = "ndbm", alias = "dbm.ndbm")]
    Ndbm,
    /// dbm.dumb: CPython's pure-Python NAME.dat/NAME.dir pair.
    #[value(name = "dumb", alias = "dbm.dumb")]
    Dumb,
    /// dbm.sqlite3: Python 3.13's SQLite-backed dbm.
    #[value(name = "sqlite3", alias = "dbm.sqlite3")]
    Sqlite3,
}

impl DbType {
    /// The Python module name, e.g. `dbm.gnu`.
    pub fn module(self) -> &'static str {
        match self {
            DbType::Gnu => "dbm.gnu",
            DbType::Ndbm => "dbm.ndbm",
            DbType::Dumb => "dbm.dumb",
            DbType::Sqlite3 => "dbm.sqlite3",
        }
    }
}

/// The flag `apply` opens its handle with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyFlag {
    /// Open for reading and writing, creating the database if missing.
    C,
    /// Always create a new, empty database.
    N,
    /// Open an existing database for reading and writing.
    W,
}

/// Output form of `dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// One `HEXKEY HEXVAL` line per record.
    Hex,
    /// gdbm_dump's ASCII format.
    GdbmAscii,
    /// gdbm_dump's binary ("flat file") format.
    GdbmBinary,
}

/// How durable each write of a writing command is (`--durability`; docs/cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityLevel {
    /// No journal: fastest; a killed process or a power loss may lose or tear anything
    /// since the last sync.
    None,
    /// The default: every completed operation survives a killed process (nothing fsynced).
    Process,
    /// Every commit is fsynced and survives a power loss.
    Full,
}

impl DurabilityLevel {
    /// The engine's [`pydbm_engine::Durability`] for this level.
    pub fn engine(self) -> pydbm_engine::Durability {
        match self {
            DurabilityLevel::None => pydbm_engine::Durability::None,
            DurabilityLevel::Process => pydbm_engine::Durability::Process,
            DurabilityLevel::Full => pydbm_engine::Durability::Full,
        }
    }
}

/// Options of every command that writes a database.
#[derive(Debug, Clone, Copy, Args)]
pub struct WriteOptions {
    /// Crash safety of each write: none, process (survives a killed process) or full
    /// (also survives a power loss).
    #[arg(long, value_enum, default_value = "process")]
    pub durability: DurabilityLevel,
}

/// Options shared by commands that open an existing database.
#[derive(Debug, Args)]
pub struct Target {
    /// The database: what Python's dbm.open takes (without .dat/.dir/.db for dumb and ndbm;
    /// a path naming one of those files opens its database).
    pub path: PathBuf,
    /// The format; detected like dbm.whichdb when omitted.
    #[arg(long = "type", value_enum)]
    pub db_type: Option<DbType>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what Python's dbm.whichdb(PATH) prints: dbm.gnu, dbm.ndbm, dbm.dumb, dbm.sqlite3,
    /// an empty line (unknown format) or None (missing or unreadable).
    Whichdb {
        /// The file, as dbm.whichdb takes it.
        path: PathBuf,
    },
    /// Print the value stored under KEY (exit 1 if it is missing).
    Get {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// The key (UTF-8 text, or hex with --hex).
        key: String,
        /// KEY is hex and the value is printed as hex.
        #[arg(long)]
        hex: bool,
    },
    /// Store VALUE under KEY, creating the database if it does not exist (needs --type then).
    Set {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// KEY and VALUE are hex.
        #[arg(long)]
        hex: bool,
        /// Durability of the write.
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Delete KEY (exit 1 if it is missing).
    Del {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// The key.
        key: String,
        /// KEY is hex.
        #[arg(long)]
        hex: bool,
        /// Durability of the write.
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Print every key, one a line, in the file's own iteration order.
    Keys {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// Print keys as hex.
        #[arg(long)]
        hex: bool,
    },
    /// Write every record: hex lines, or gdbm_dump's ASCII or binary format.
    Dump {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// Output format.
        #[arg(long, value_enum, default_value = "hex")]
        format: DumpFormat,
        /// Write to FILE instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Store every record of a dump (hex lines, gdbm ASCII/binary, or Berkeley DB db_dump
    /// text) into PATH, creating it.
    Load {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// Read the dump from FILE instead of stdin.
        #[arg(short = 'i', long = "input")]
        input: Option<PathBuf>,
        /// Durability of the writes.
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Run a script from stdin on one open handle, as Python's dbm module would.
    ///
    /// Lines: `set HEXKEY HEXVAL`, `del HEXKEY`, `get HEXKEY`, `keys`, `len`,
    /// `sync`, `reorganize`, `reopen`; `#` comments and blank lines are ignored. `get` prints
    /// the value as hex (or `None`), `keys` prints the keys as hex on one line separated by
    /// spaces, `len` prints the count.
    Apply {
        /// The format (required unless PATH is an etcd:// address).
        #[arg(long = "type", value_enum)]
        db_type: Option<DbType>,
        /// How to open PATH.
        #[arg(long, value_enum, default_value = "c")]
        flag: ApplyFlag,
        /// The database.
        path: PathBuf,
        /// Durability of the writes.
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Copy every record of SRC (any readable format) into a new DST of TYPE. An existing
    /// DST is refused unless --force is given.
    Convert {
        /// The source database.
        src: PathBuf,
        /// The new database.
        dst: PathBuf,
        /// The format of DST (required unless DST is an etcd:// address).
        #[arg(long = "type", value_enum)]
        db_type: Option<DbType>,
        /// Replace DST if it exists.
        #[arg(long)]
        force: bool,
        /// Durability of the writes.
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Verify every structure of the file: print `ok`, or each problem with its offset and
    /// exit 1.
    Check {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
    },
    /// Roll back a hot journal, or rebuild a damaged file from what is readable, and say
    /// what was lost. The files as they were before are kept as NAME.damaged-TIMESTAMP.
    Recover {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// Delete the journal without rolling it back (for a journal recovery refuses
        /// because another program wrote the file after the crash): the files keep their
        /// current bytes.
        #[arg(long)]
        discard: bool,
    },
    /// Compact the file, as db.reorganize() does.
    Reorganize {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// Durability of the rewrite.
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Print format, variant, record count, sizes and free space.
    Stats {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
    },
    /// Crash a random workload at every write and sync point and check every recovery.
    Crashtest {
        /// The format to test.
        #[arg(long = "type", value_enum)]
        db_type: DbType,
        /// Operations in the workload.
        #[arg(long, default_value_t = 200)]
        ops: u64,
        /// Seed of the workload and of the crash simulation.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Instead of simulating crashes, be the writer the real-kill harness SIGKILLs
        /// (docs/realkill.md): run an `apply` script from stdin on PATH, printing and
        /// flushing `ack LINE` as each operation completes.
        #[arg(long, value_name = "PATH", conflicts_with_all = ["ops", "seed"])]
        ack_writer: Option<PathBuf>,
        /// The open flag of `--ack-writer` (`c`, `n` or `w`, as `apply --flag`; default `c`).
        #[arg(long, value_enum)]
        flag: Option<ApplyFlag>,
        /// With `--ack-writer`: run the whole script as one transaction, printing
        /// `committing` before its commit and `committed` after (docs/realkill.md).
        #[arg(long, requires = "ack_writer")]
        transaction: bool,
    },
    /// Inspect and re-encode pickles.
    #[command(subcommand)]
    Pickle(PickleCommand),
    /// Inspect and re-encode marshal data.
    #[command(subcommand)]
    Marshal(MarshalCommand),
    /// Read and write shelves (dbm files of pickled values).
    #[command(subcommand)]
    Shelve(ShelveCommand),
    /// Run SQL on a SQLite database, like `python3 -m sqlite3 PATH [SQL]`.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQL to run; without it, an interactive shell (`.help`, `.quit`).
        sql: Option<String>,
    },
}

/// Options for reading Python 2 pickles.
#[derive(Debug, Args)]
pub struct Py2Options {
    /// How Python 2 `str` data is decoded (as pickle.loads's encoding).
    #[arg(long, default_value = "ASCII")]
    pub encoding: String,
    /// Decoding error handling (as pickle.loads's errors).
    #[arg(long, default_value = "strict")]
    pub errors: String,
}

/// `pydbm pickle ...`
#[derive(Debug, Subcommand)]
pub enum PickleCommand {
    /// Print what `python3 -m pickletools FILE` prints.
    Dis {
        /// The pickle (stdin when omitted).
        file: Option<PathBuf>,
    },
    /// Print repr(pickle.loads(data)) as CPython would.
    Show {
        /// The pickle (stdin when omitted).
        file: Option<PathBuf>,
        /// Python 2 string decoding.
        #[command(flatten)]
        py2: Py2Options,
    },
    /// Write pickle.dumps(pickle.loads(data), protocol=N) to stdout.
    Recode {
        /// Protocol of the output, 0 to 5.
        #[arg(long)]
        protocol: u8,
        /// The pickle (stdin when omitted).
        file: Option<PathBuf>,
        /// Python 2 string decoding.
        #[command(flatten)]
        py2: Py2Options,
    },
}

/// `pydbm marshal ...`
#[derive(Debug, Subcommand)]
pub enum MarshalCommand {
    /// Print repr(marshal.loads(data)).
    Show {
        /// The marshal data (stdin when omitted).
        file: Option<PathBuf>,
    },
    /// Write marshal.dumps(marshal.loads(data), N) to stdout.
    // `--version` is this command's argument, not clap's propagated version flag.
    #[command(disable_version_flag = true)]
    Recode {
        /// marshal version of the output, 0 to 5.
        #[arg(long)]
        version: u32,
        /// The marshal data (stdin when omitted).
        file: Option<PathBuf>,
    },
}

/// `pydbm shelve ...`
#[derive(Debug, Subcommand)]
pub enum ShelveCommand {
    /// Print the keys of a shelf, one a line.
    Keys {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
    },
    /// Print a value of a shelf as `pickle show` prints it.
    Get {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// The key (UTF-8 text).
        key: String,
    },
    /// `shelf[KEY] = pickle.loads(data)`: stores the value of a pickle (read from FILE or
    /// stdin), pickled again at the shelf's protocol as `shelve` does; creates the shelf
    /// (needs --type then).
    Set {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// The key (UTF-8 text).
        key: String,
        /// The pickle holding the value (stdin when omitted).
        file: Option<PathBuf>,
        /// Pickle protocol of the stored value (shelve's default: 4).
        #[arg(long, default_value_t = 4)]
        protocol: u8,
        /// Durability of the write.
        #[command(flatten)]
        write: WriteOptions,
    },
    /// `del shelf[KEY]` (exit 1 if it is missing).
    Del {
        /// The database and its format.
        #[command(flatten)]
        target: Target,
        /// The key (UTF-8 text).
        key: String,
        /// Durability of the write.
        #[command(flatten)]
        write: WriteOptions,
    },
}
