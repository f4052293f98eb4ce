//! `MarshalError`: why marshal data could not be loaded, or a value could not be dumped.

use std::fmt;

pub use crate::py_exc::PyExc;

/// A marshal failure: the exception CPython raises, its message, and for loads the offset
/// of the byte where reading failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarshalError {
    /// CPython's exception class for this failure.
    pub exc: PyExc,
    /// CPython's message, e.g. `bad marshal data (unknown type code)`.
    pub message: String,
    /// Offset in the input where the failing item starts (`None` for dumps).
    pub offset: Option<u64>,
}

impl MarshalError {
    pub(crate) fn at(offset: usize, exc: PyExc, message: impl Into<String>) -> MarshalError {
        MarshalError {
            exc,
            message: message.into(),
            offset: Some(offset as u64),
        }
    }

    pub(crate) fn dump(exc: PyExc, message: impl Into<String>) -> MarshalError {
        MarshalError {
            exc,
            message: message.into(),
            offset: None,
        }
    }
}

impl fmt::Display for MarshalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.exc.name(), self.message)?;
        if let Some(off) = self.offset {
            write!(f, " (at offset {off})")?;
        }
        Ok(())
    }
}

impl std::error::Error for MarshalError {}

impl From<MarshalError> for pydbm_engine::Error {
    /// Load failures become [`pydbm_engine::Error::Corrupt`] on the pseudo-path
    /// `<marshal data>`; dump failures become [`pydbm_engine::Error::BadArgument`].
    fn from(e: MarshalError) -> Self {
        let text = format!("{}: {}", e.exc.name(), e.message);
        match e.offset {
            Some(offset) => pydbm_engine::Error::corrupt("<marshal data>", offset, text),
            None => pydbm_engine::Error::BadArgument(text),
        }
    }
}
