//! `PickleError`: why a pickle stream could not be loaded or disassembled, as CPython's
//! `pickle.loads` / `pickletools` would report it.

use std::fmt;

use crate::py_exc::PyExc;

/// A pickle stream rejected: the exception class CPython raises, its message, and where in
/// the stream reading failed. Carried through the workspace's one error type as
/// [`pydbm_engine::Error::Decode`]; [`PickleError::of`] finds it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    /// CPython's exception class for this failure.
    pub exc: PyExc,
    /// CPython's message, e.g. `pickle data was truncated`.
    pub message: String,
    /// Offset in the stream of the opcode being read (`None` where the failure has no
    /// position, such as a class filter asked outside a load).
    pub offset: Option<u64>,
    /// The name of that opcode (`BININT1`), when one was read.
    pub opcode: Option<&'static str>,
}

impl PickleError {
    /// A failure of class `exc` with CPython's `message`, not yet placed in a stream.
    pub fn new(exc: PyExc, message: impl Into<String>) -> PickleError {
        PickleError {
            exc,
            message: message.into(),
            offset: None,
            opcode: None,
        }
    }

    /// This failure placed at `offset`, while reading `opcode` (if any).
    pub fn at(mut self, offset: usize, opcode: Option<&'static str>) -> PickleError {
        self.offset = Some(offset as u64);
        self.opcode = opcode;
        self
    }

    /// The pickle failure inside `e`, if `e` is one ([`pydbm_engine::Error::Decode`]
    /// holding a `PickleError`).
    pub fn of(e: &pydbm_engine::Error) -> Option<&PickleError> {
        match e {
            pydbm_engine::Error::Decode(inner) => inner.downcast_ref::<PickleError>(),
            _ => None,
        }
    }
}

impl fmt::Display for PickleError {
    /// `EXC: MESSAGE (at offset N, opcode NAME)`: CPython's `str` of the exception first, so
    /// the text starts as Python's traceback line does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.exc.name(), self.message)?;
        match (self.offset, self.opcode) {
            (Some(off), Some(op)) => write!(f, " (at offset {off}, opcode {op})"),
            (Some(off), None) => write!(f, " (at offset {off})"),
            (None, _) => Ok(()),
        }
    }
}

impl std::error::Error for PickleError {}

impl From<PickleError> for pydbm_engine::Error {
    /// [`pydbm_engine::Error::Decode`] holding the pickle failure.
    fn from(e: PickleError) -> Self {
        pydbm_engine::Error::Decode(Box::new(e))
    }
}
