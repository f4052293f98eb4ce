//! The one error type of the whole workspace.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout pydbm.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure pydbm reports, one variant per failure class.
///
/// Each variant names the file it concerns where there is one, so an error
/// printed on its own line (the CLI's `pydbm: error: ...`) is enough to act on.
/// I/O errors keep their [`std::io::Error`] as the [`source`](std::error::Error::source).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O call failed on `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file the call was made on.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The file is locked by another handle (in this process or another one).
    #[error("{}: locked by another handle or process", path.display())]
    Locked {
        /// The locked file.
        path: PathBuf,
    },
    /// The file's bytes do not have the structure the format requires.
    #[error("{}: corrupt at offset {offset}: expected {expected}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the first bad byte (or of the structure that is bad).
        offset: u64,
        /// What a valid file has at that offset.
        expected: String,
    },
    /// The file is valid but uses a variant of the format pydbm does not handle.
    #[error("{}: unsupported: {what}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Which variant or feature.
        what: String,
    },
    /// A write was attempted on a handle opened read-only.
    #[error("{}: the database is opened for reading only", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// A file or key that must exist does not.
    #[error("{what}: not found")]
    NotFound {
        /// The missing thing: a path, or a key rendered for humans.
        what: String,
    },
    /// The handle was already closed.
    #[error("{}: the database has already been closed", path.display())]
    Closed {
        /// The file the handle was opened on.
        path: PathBuf,
    },
    /// A hot journal (the undo log of an interrupted transaction) is present, and this open
    /// may not roll it back: a read-only or unlocked open never writes (docs/recovery.md),
    /// and the files may hold the interrupted transaction's torn writes.
    #[error(
        "hot journal {}: open writable or run `pydbm recover`",
        path.display()
    )]
    HotJournal {
        /// The journal file.
        path: PathBuf,
    },
    /// A caller passed an argument the operation cannot take.
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// Bytes a caller handed to a decoder (a pickle stream, not a database file) were
    /// rejected the way CPython rejects them. The box holds the decoder's own typed error
    /// (`pydbm_shelve::pickle::PickleError`: Python exception class, message, stream
    /// offset), reachable through [`source`](std::error::Error::source) or `downcast_ref`.
    #[error("{0}")]
    Decode(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A networked store (an etcd cluster addressed as `etcd://…`) could not be reached or
    /// refused the request. `what` says what happened and what to do about it.
    #[error("{endpoint}: {what}")]
    Remote {
        /// The address or endpoint list the request went to (`etcd://HOST:PORT,…/PREFIX`).
        endpoint: String,
        /// The failure class, for callers that act on it.
        kind: RemoteFailure,
        /// What happened and what to do, for humans.
        what: String,
    },
}

/// The failure classes of [`Error::Remote`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemoteFailure {
    /// No endpoint accepted a connection.
    Unreachable,
    /// The cluster answered but has no leader (fewer than a majority of members are up):
    /// the request was refused before it was proposed, so it was not applied.
    NoQuorum,
    /// No answer within the timeout, or the connection broke while the request was in
    /// flight: the request may or may not have been applied.
    Timeout,
    /// The request exceeds the cluster's request size limit (etcd's `--max-request-bytes`)
    /// or operation count limit (`--max-txn-ops`); nothing was sent or applied.
    TooLarge,
    /// Authentication failed or the user lacks permission.
    Auth,
    /// The cluster's storage quota is exhausted (etcd's `NOSPACE` alarm).
    NoSpace,
    /// Any other refusal by the cluster.
    Rejected,
}

impl Error {
    /// Wraps an [`io::Error`] with the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Builds a [`Error::Corrupt`].
    pub fn corrupt(path: impl AsRef<Path>, offset: u64, expected: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.as_ref().to_path_buf(),
            offset,
            expected: expected.into(),
        }
    }

    /// Builds a [`Error::Unsupported`].
    pub fn unsupported(path: impl AsRef<Path>, what: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.as_ref().to_path_buf(),
            what: what.into(),
        }
    }

    /// True when the error is an I/O error whose kind is `NotFound`, or [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            Error::NotFound { .. } => true,
            _ => false,
        }
    }
}
