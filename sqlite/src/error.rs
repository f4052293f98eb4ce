//! The DB-API exception hierarchy of Python's `sqlite3` module (spec §1.9), as one Rust
//! error type whose [`ErrorKind`] names the Python class.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rusqlite::ffi;

use crate::result_codes::result_code_name;

/// Which Python exception class an [`Error`] is.
///
/// The DB-API classes form Python's hierarchy (see [`ErrorKind::is_a`]); the last few are
/// the built-in Python exceptions the module raises for bad arguments.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `sqlite3.Warning` (subclass of `Exception`; unused by the module since 3.x).
    Warning,
    /// `sqlite3.Error`: base of every other DB-API error.
    Error,
    /// `sqlite3.InterfaceError`: misuse of the low-level C API.
    InterfaceError,
    /// `sqlite3.DatabaseError`: errors related to the database (e.g. not a database file).
    DatabaseError,
    /// `sqlite3.DataError` (`SQLITE_TOOBIG`).
    DataError,
    /// `sqlite3.OperationalError`: locked, read-only, I/O, syntax errors, interrupted.
    OperationalError,
    /// `sqlite3.IntegrityError`: constraint violations.
    IntegrityError,
    /// `sqlite3.InternalError`.
    InternalError,
    /// `sqlite3.ProgrammingError`: API misuse (closed objects, wrong bindings, wrong thread).
    ProgrammingError,
    /// `sqlite3.NotSupportedError`.
    NotSupportedError,
    /// Python's `ValueError` (bad `isolation_level`, `autocommit`, blob sizes).
    ValueError,
    /// Python's `TypeError`.
    TypeError,
    /// Python's `OverflowError`.
    OverflowError,
    /// Python's `MemoryError` (`SQLITE_NOMEM`).
    MemoryError,
    /// Python's `IndexError` (`Row` lookups, blob slices).
    IndexError,
    /// Python's `DeprecationWarning`, raised as an exception: a deprecation
    /// [`crate::warning::Warning`] under [`crate::warning::WarningAction::Error`].
    DeprecationWarning,
    /// Python's `ResourceWarning`, raised as an exception (a [`crate::warning::Warning`]
    /// of that category under [`crate::warning::WarningAction::Error`]).
    ResourceWarning,
}

impl ErrorKind {
    /// The parent class in Python's hierarchy, `None` for the roots.
    pub fn parent(self) -> Option<ErrorKind> {
        use ErrorKind::*;
        match self {
            InterfaceError | DatabaseError => Some(Error),
            DataError | OperationalError | IntegrityError | InternalError | ProgrammingError
            | NotSupportedError => Some(DatabaseError),
            _ => None,
        }
    }

    /// Whether `except base:` in Python would catch this class.
    pub fn is_a(self, base: ErrorKind) -> bool {
        let mut k = Some(self);
        while let Some(c) = k {
            if c == base {
                return true;
            }
            k = c.parent();
        }
        false
    }

    /// The Python class name, e.g. `"OperationalError"`.
    pub fn name(self) -> &'static str {
        use ErrorKind::*;
        match self {
            Warning => "Warning",
            Error => "Error",
            InterfaceError => "InterfaceError",
            DatabaseError => "DatabaseError",
            DataError => "DataError",
            OperationalError => "OperationalError",
            IntegrityError => "IntegrityError",
            InternalError => "InternalError",
            ProgrammingError => "ProgrammingError",
            NotSupportedError => "NotSupportedError",
            ValueError => "ValueError",
            TypeError => "TypeError",
            OverflowError => "OverflowError",
            MemoryError => "MemoryError",
            IndexError => "IndexError",
            DeprecationWarning => "DeprecationWarning",
            ResourceWarning => "ResourceWarning",
        }
    }

    /// The class CPython raises for an SQLite primary result code (spec §1.9,
    /// `Modules/_sqlite/util.c` behaviour).
    pub fn for_result_code(code: i32) -> ErrorKind {
        match code & 0xff {
            ffi::SQLITE_INTERNAL | ffi::SQLITE_NOTFOUND => ErrorKind::InternalError,
            ffi::SQLITE_NOMEM => ErrorKind::MemoryError,
            ffi::SQLITE_ERROR
            | ffi::SQLITE_PERM
            | ffi::SQLITE_ABORT
            | ffi::SQLITE_BUSY
            | ffi::SQLITE_LOCKED
            | ffi::SQLITE_READONLY
            | ffi::SQLITE_INTERRUPT
            | ffi::SQLITE_IOERR
            | ffi::SQLITE_FULL
            | ffi::SQLITE_CANTOPEN
            | ffi::SQLITE_PROTOCOL
            | ffi::SQLITE_EMPTY
            | ffi::SQLITE_SCHEMA => ErrorKind::OperationalError,
            ffi::SQLITE_CORRUPT => ErrorKind::DatabaseError,
            ffi::SQLITE_TOOBIG => ErrorKind::DataError,
            ffi::SQLITE_CONSTRAINT | ffi::SQLITE_MISMATCH => ErrorKind::IntegrityError,
            ffi::SQLITE_MISUSE => ErrorKind::InterfaceError,
            _ => ErrorKind::DatabaseError,
        }
    }
}

/// An exception of Python's `sqlite3` module: its class, its message (`str(exc)`), and for
/// errors that came from SQLite the extended result code and its name (3.11+). An error
/// converted from rusqlite keeps rusqlite's error as its
/// [`source`](std::error::Error::source). Equality compares what Python sees (class,
/// message, code, name), not the source.
#[derive(Debug, Clone)]
pub struct Error {
    /// The Python class.
    pub kind: ErrorKind,
    /// `str(exc)` as Python shows it.
    pub message: String,
    /// `exc.sqlite_errorcode`: the extended result code, when SQLite raised it.
    pub sqlite_errorcode: Option<i32>,
    /// `exc.sqlite_errorname`, e.g. `"SQLITE_CONSTRAINT_UNIQUE"`.
    pub sqlite_errorname: Option<&'static str>,
    /// The lower-level error this one was made from (rusqlite's, an I/O error), if any.
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        (
            self.kind,
            &self.message,
            self.sqlite_errorcode,
            self.sqlite_errorname,
        ) == (
            other.kind,
            &other.message,
            other.sqlite_errorcode,
            other.sqlite_errorname,
        )
    }
}

impl Eq for Error {}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` raised by the module itself (no SQLite code).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            sqlite_errorcode: None,
            sqlite_errorname: None,
            source: None,
        }
    }

    /// This error with `source` as the lower-level error it was made from (reported by
    /// [`std::error::Error::source`]).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// An error SQLite reported with extended result code `code` and message `message`.
    pub fn from_code(code: i32, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::for_result_code(code),
            message: message.into(),
            sqlite_errorcode: Some(code),
            sqlite_errorname: Some(result_code_name(code)),
            source: None,
        }
    }

    /// `ProgrammingError(message)`.
    pub fn programming(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::ProgrammingError, message)
    }

    /// `OperationalError(message)`.
    pub fn operational(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::OperationalError, message)
    }

    /// `ValueError(message)`.
    pub fn value(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::ValueError, message)
    }

    /// Python's "Cannot operate on a closed database." ProgrammingError.
    pub fn closed_database() -> Self {
        Error::programming("Cannot operate on a closed database.")
    }

    /// Whether `except base:` catches this error.
    pub fn is_a(&self, base: ErrorKind) -> bool {
        self.kind.is_a(base)
    }

    /// The primary SQLite result code (low byte of the extended one), if any.
    pub fn primary_code(&self) -> Option<i32> {
        self.sqlite_errorcode.map(|c| c & 0xff)
    }

    /// Maps this error to the workspace's [`pydbm_engine::Error`] for the file `path`:
    /// busy/locked/protocol (a lost WAL lock race) → `Locked`, a hot journal or WAL a
    /// read-only connection may not recover → `HotJournal`, other read-only → `ReadOnly`, not-a-database/corrupt → `Corrupt`,
    /// cannot-open on a missing file → an I/O `NotFound`, anything else → an I/O error
    /// carrying SQLite's message.
    pub fn to_engine(&self, path: &Path) -> pydbm_engine::Error {
        match self.primary_code() {
            // SQLITE_PROTOCOL is the loser of WAL's lock race giving up after SQLite's own
            // retries (sqlite3 spec on result codes): contention, like BUSY, not damage.
            Some(ffi::SQLITE_BUSY) | Some(ffi::SQLITE_LOCKED) | Some(ffi::SQLITE_PROTOCOL) => {
                pydbm_engine::Error::Locked {
                    path: path.to_path_buf(),
                }
            }
            // A read-only connection that meets a killed writer's leftovers it may not repair:
            // a hot rollback journal (SQLITE_READONLY_ROLLBACK) or a WAL index that needs
            // rebuilding (RECOVERY, CANTINIT). Like every format's readers (docs/recovery.md),
            // say so and name the file, rather than "opened for reading only".
            Some(ffi::SQLITE_READONLY) => match self.sqlite_errorcode {
                Some(ffi::SQLITE_READONLY_ROLLBACK) => pydbm_engine::Error::HotJournal {
                    path: sidecar(path, "-journal"),
                },
                Some(ffi::SQLITE_READONLY_RECOVERY | ffi::SQLITE_READONLY_CANTINIT) => {
                    pydbm_engine::Error::HotJournal {
                        path: sidecar(path, "-wal"),
                    }
                }
                _ => pydbm_engine::Error::ReadOnly {
                    path: path.to_path_buf(),
                },
            },
            Some(ffi::SQLITE_NOTADB) | Some(ffi::SQLITE_CORRUPT) => pydbm_engine::Error::corrupt(
                path,
                0,
                format!("an SQLite database (SQLite said: {})", self.message),
            ),
            Some(ffi::SQLITE_CANTOPEN) if !path.exists() => pydbm_engine::Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, self.message.clone()),
            ),
            // the I/O error wraps this one, so the source chain reaches SQLite's (and
            // rusqlite's) error; its text is SQLite's message as before
            _ => pydbm_engine::Error::io(path, std::io::Error::other(self.clone())),
        }
    }
}

/// `path` with `suffix` appended to its file name (`db` → `db-journal`, `db-wal`).
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    std::path::PathBuf::from(name)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<rusqlite::Error> for Error {
    /// The Python exception CPython raises for the same failure, keeping `e` as the source.
    fn from(e: rusqlite::Error) -> Self {
        let python = Error::python_class_of(&e);
        python.with_source(e)
    }
}

impl Error {
    /// The Python exception for a rusqlite error (class and message; no source).
    fn python_class_of(e: &rusqlite::Error) -> Error {
        use rusqlite::Error as R;
        match e {
            R::SqliteFailure(err, msg) => {
                let text = msg.clone().unwrap_or_else(|| errstr(err.extended_code));
                Error::from_code(err.extended_code, text)
            }
            R::MultipleStatement => {
                Error::programming("You can only execute one statement at a time.")
            }
            R::SqlInputError { error, msg, .. } => Error::from_code(error.extended_code, msg.clone()),
            R::ExecuteReturnedResults => {
                Error::programming("execute returned results where none were expected")
            }
            &R::InvalidParameterCount(given, wanted) => Error::programming(format!(
                "Incorrect number of bindings supplied. The current statement uses {wanted}, and there are {given} supplied."
            )),
            R::NulError(_) => Error::programming("the query contains a null character"),
            R::Utf8Error(_) | R::InvalidColumnType(..) | R::FromSqlConversionFailure(..) => {
                Error::operational(e.to_string())
            }
            R::UserFunctionError(inner) => Error::operational(inner.to_string()),
            other => Error::new(ErrorKind::InterfaceError, other.to_string()),
        }
    }
}

/// SQLite's English text for a result code (`sqlite3_errstr`).
pub fn errstr(code: i32) -> String {
    // SAFETY: sqlite3_errstr returns a pointer to a static NUL-terminated string for any code.
    unsafe {
        let p = ffi::sqlite3_errstr(code);
        if p.is_null() {
            return "unknown error".to_string();
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_matches_python() {
        assert!(ErrorKind::IntegrityError.is_a(ErrorKind::DatabaseError));
        assert!(ErrorKind::IntegrityError.is_a(ErrorKind::Error));
        assert!(ErrorKind::InterfaceError.is_a(ErrorKind::Error));
        assert!(!ErrorKind::InterfaceError.is_a(ErrorKind::DatabaseError));
        assert!(!ErrorKind::Warning.is_a(ErrorKind::Error));
        assert!(!ErrorKind::ValueError.is_a(ErrorKind::Error));
    }

    #[test]
    fn codes_map_to_classes_and_names() {
        let e = Error::from_code(1555, "UNIQUE constraint failed: t.a");
        assert_eq!(e.kind, ErrorKind::IntegrityError);
        assert_eq!(e.sqlite_errorname, Some("SQLITE_CONSTRAINT_PRIMARYKEY"));
        assert_eq!(
            Error::from_code(5, "database is locked").kind,
            ErrorKind::OperationalError
        );
        assert_eq!(Error::from_code(26, "x").kind, ErrorKind::DatabaseError);
        assert_eq!(Error::from_code(18, "x").kind, ErrorKind::DataError);
        assert_eq!(result_code_name(2067), "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(result_code_name(123456), "SQLITE_UNKNOWN");
    }

    #[test]
    fn rusqlite_errors_stay_the_source_through_the_engine_error() {
        let conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
        let raw = conn.execute("not sql", []).expect_err("a syntax error");
        let e = Error::from(raw);
        assert_eq!(e.kind, ErrorKind::OperationalError);
        let src = std::error::Error::source(&e).expect("rusqlite's error is the source");
        assert!(src.downcast_ref::<rusqlite::Error>().is_some(), "{src:?}");
        // the engine's Io error wraps this error; the chain reaches rusqlite's
        let engine = e.to_engine(Path::new("/x/db"));
        assert_eq!(engine.to_string(), format!("/x/db: {}", e.message));
        let io = std::error::Error::source(&engine)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("an io::Error source");
        let inner = io.get_ref().and_then(|i| i.downcast_ref::<Error>());
        assert_eq!(inner, Some(&e));
        let deepest = std::error::Error::source(io).expect("io's source is rusqlite's error");
        assert!(deepest.downcast_ref::<rusqlite::Error>().is_some());
    }

    #[test]
    fn lock_races_map_to_locked() {
        let p = std::path::Path::new("/x/db");
        for (code, msg) in [
            (5, "database is locked"),
            (6, "database table is locked"),
            (15, "locking protocol"),
        ] {
            assert!(
                matches!(
                    Error::from_code(code, msg).to_engine(p),
                    pydbm_engine::Error::Locked { .. }
                ),
                "{code} {msg}"
            );
        }
        assert!(!matches!(
            Error::from_code(11, "database disk image is malformed").to_engine(p),
            pydbm_engine::Error::Locked { .. }
        ));
    }
}
