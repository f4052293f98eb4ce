//! `PyExc`: the Python exception class a decoder failure corresponds to, shared by marshal
//! and pickle.

/// The Python exception class CPython raises for the same failure (marshal: spec §2.4;
/// pickle: the classes `pickle.loads` and `pickletools` raise).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyExc {
    /// `EOFError`.
    EofError,
    /// `ValueError`.
    ValueError,
    /// `TypeError`.
    TypeError,
    /// `UnicodeDecodeError`.
    UnicodeDecodeError,
    /// `RecursionError`.
    RecursionError,
    /// `MemoryError` (pydbm's output limits).
    MemoryError,
    /// `pickle.UnpicklingError`.
    UnpicklingError,
    /// `KeyError`.
    KeyError,
    /// `AttributeError`.
    AttributeError,
    /// `OverflowError`.
    OverflowError,
    /// `LookupError`.
    LookupError,
}

impl PyExc {
    /// The class name as Python prints it.
    pub fn name(self) -> &'static str {
        match self {
            PyExc::EofError => "EOFError",
            PyExc::ValueError => "ValueError",
            PyExc::TypeError => "TypeError",
            PyExc::UnicodeDecodeError => "UnicodeDecodeError",
            PyExc::RecursionError => "RecursionError",
            PyExc::MemoryError => "MemoryError",
            PyExc::UnpicklingError => "UnpicklingError",
            PyExc::KeyError => "KeyError",
            PyExc::AttributeError => "AttributeError",
            PyExc::OverflowError => "OverflowError",
            PyExc::LookupError => "LookupError",
        }
    }
}

impl std::fmt::Display for PyExc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
