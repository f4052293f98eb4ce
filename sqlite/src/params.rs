//! Statement parameters (spec §1.4 "Parameters"): Python's qmark sequences and named
//! mappings, bound straight from the caller's data.
//!
//! [`BindParams`] is what `execute`/`executemany` take: tuples and arrays of plain values
//! (`(1, "a")`, `[Value::Int(1)]`), slices and `Vec`s, maps (`HashMap<String, V>`,
//! `Vec<(&str, V)>`) and the owned [`Params`] enum. Each element only has to be
//! [`ToBind`]: it is bound from a borrow (text and bytes are copied once, by SQLite), so a
//! parameter set costs no allocation of its own.

use std::collections::{BTreeMap, HashMap};

use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::error::Result;
use crate::value::{to_sql_output, Value};

/// One parameter value: what SQLite binds for it.
pub trait ToBind {
    /// The SQLite value for this parameter; `index` (1-based) is for Python's
    /// "Error binding parameter N" message.
    fn to_bind(&self, index: usize) -> Result<ToSqlOutput<'_>>;
}

impl ToBind for Value {
    fn to_bind(&self, index: usize) -> Result<ToSqlOutput<'_>> {
        to_sql_output(self, index)
    }
}

macro_rules! bind_int {
    ($($t:ty),*) => {$(
        impl ToBind for $t {
            fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::Borrowed(ValueRef::Integer(*self as i64)))
            }
        }
    )*};
}
bind_int!(i8, i16, i32, i64, u8, u16, u32, isize, bool);

impl ToBind for f64 {
    fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Real(*self)))
    }
}
impl ToBind for f32 {
    fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Real(*self as f64)))
    }
}
impl ToBind for str {
    fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes())))
    }
}
impl ToBind for String {
    fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes())))
    }
}
impl ToBind for [u8] {
    fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self)))
    }
}
impl ToBind for Vec<u8> {
    fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self)))
    }
}
impl<const N: usize> ToBind for [u8; N] {
    fn to_bind(&self, _index: usize) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self)))
    }
}
/// `None` binds NULL.
impl<T: ToBind> ToBind for Option<T> {
    fn to_bind(&self, index: usize) -> Result<ToSqlOutput<'_>> {
        match self {
            Some(v) => v.to_bind(index),
            None => Ok(ToSqlOutput::Borrowed(ValueRef::Null)),
        }
    }
}
impl<T: ToBind + ?Sized> ToBind for &T {
    fn to_bind(&self, index: usize) -> Result<ToSqlOutput<'_>> {
        (**self).to_bind(index)
    }
}

/// The parameters of one statement execution: a sequence bound by position (qmark `?`,
/// `?NNN`) or a mapping bound by name (`:name`, `@name`, `$name`).
pub trait BindParams {
    /// A sequence: its length. A mapping: `None` (the default).
    fn positional_len(&self) -> Option<usize> {
        None
    }
    /// Item `i` (0-based) of a sequence; a mapping has none (the default).
    fn positional(&self, _i: usize) -> Option<&dyn ToBind> {
        None
    }
    /// The value for `name` (without its `:`/`@`/`$`) of a mapping.
    fn named(&self, _name: &str) -> Option<&dyn ToBind> {
        None
    }
}

/// No parameters (`()`).
impl BindParams for () {
    fn positional_len(&self) -> Option<usize> {
        Some(0)
    }
    fn positional(&self, _i: usize) -> Option<&dyn ToBind> {
        None
    }
}

impl<P: BindParams + ?Sized> BindParams for &P {
    fn positional_len(&self) -> Option<usize> {
        (**self).positional_len()
    }
    fn positional(&self, i: usize) -> Option<&dyn ToBind> {
        (**self).positional(i)
    }
    fn named(&self, name: &str) -> Option<&dyn ToBind> {
        (**self).named(name)
    }
}

impl<V: ToBind> BindParams for [V] {
    fn positional_len(&self) -> Option<usize> {
        Some(self.len())
    }
    fn positional(&self, i: usize) -> Option<&dyn ToBind> {
        self.get(i).map(|v| v as &dyn ToBind)
    }
}
impl<V: ToBind, const N: usize> BindParams for [V; N] {
    fn positional_len(&self) -> Option<usize> {
        Some(N)
    }
    fn positional(&self, i: usize) -> Option<&dyn ToBind> {
        self.get(i).map(|v| v as &dyn ToBind)
    }
}
impl<V: ToBind> BindParams for Vec<V> {
    fn positional_len(&self) -> Option<usize> {
        Some(self.len())
    }
    fn positional(&self, i: usize) -> Option<&dyn ToBind> {
        self.get(i).map(|v| v as &dyn ToBind)
    }
}

macro_rules! bind_tuple {
    ($n:expr; $($i:tt $t:ident),+) => {
        /// A tuple of values, bound by position (Python's parameter tuple).
        impl<$($t: ToBind),+> BindParams for ($($t,)+) {
            fn positional_len(&self) -> Option<usize> {
                Some($n)
            }
            fn positional(&self, i: usize) -> Option<&dyn ToBind> {
                match i {
                    $($i => Some(&self.$i as &dyn ToBind),)+
                    _ => None,
                }
            }
        }
    };
}
bind_tuple!(1; 0 A);
bind_tuple!(2; 0 A, 1 B);
bind_tuple!(3; 0 A, 1 B, 2 C);
bind_tuple!(4; 0 A, 1 B, 2 C, 3 D);
bind_tuple!(5; 0 A, 1 B, 2 C, 3 D, 4 E);
bind_tuple!(6; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
bind_tuple!(7; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
bind_tuple!(8; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
bind_tuple!(9; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I);
bind_tuple!(10; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J);
bind_tuple!(11; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K);
bind_tuple!(12; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L);

/// A mapping, bound by name.
impl<V: ToBind, S: std::hash::BuildHasher> BindParams for HashMap<String, V, S> {
    fn named(&self, name: &str) -> Option<&dyn ToBind> {
        self.get(name).map(|v| v as &dyn ToBind)
    }
}
/// A mapping, bound by name.
impl<V: ToBind> BindParams for BTreeMap<String, V> {
    fn named(&self, name: &str) -> Option<&dyn ToBind> {
        self.get(name).map(|v| v as &dyn ToBind)
    }
}
/// `(name, value)` pairs, bound by name (a later pair for the same name wins, as in a
/// Python dict built from them).
impl<V: ToBind> BindParams for Vec<(&str, V)> {
    fn named(&self, name: &str) -> Option<&dyn ToBind> {
        self.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v as &dyn ToBind)
    }
}

/// Owned parameters of either shape, for callers that build them at run time.
#[derive(Debug, Clone, Default)]
pub enum Params {
    /// No parameters (`()`).
    #[default]
    None,
    /// A sequence, bound by position.
    Seq(Vec<Value>),
    /// A mapping from names (without the `:`/`@`/`$`) to values.
    Named(HashMap<String, Value>),
}

impl BindParams for Params {
    fn positional_len(&self) -> Option<usize> {
        match self {
            Params::None => Some(0),
            Params::Seq(v) => Some(v.len()),
            Params::Named(_) => None,
        }
    }
    fn positional(&self, i: usize) -> Option<&dyn ToBind> {
        match self {
            Params::Seq(v) => v.get(i).map(|v| v as &dyn ToBind),
            _ => None,
        }
    }
    fn named(&self, name: &str) -> Option<&dyn ToBind> {
        match self {
            Params::Named(m) => m.get(name).map(|v| v as &dyn ToBind),
            _ => None,
        }
    }
}

impl From<()> for Params {
    fn from(_: ()) -> Self {
        Params::None
    }
}
impl From<Vec<Value>> for Params {
    fn from(v: Vec<Value>) -> Self {
        Params::Seq(v)
    }
}
impl<const N: usize> From<[Value; N]> for Params {
    fn from(v: [Value; N]) -> Self {
        Params::Seq(Vec::from(v))
    }
}
impl From<&[Value]> for Params {
    fn from(v: &[Value]) -> Self {
        Params::Seq(v.to_vec())
    }
}
impl From<HashMap<String, Value>> for Params {
    fn from(m: HashMap<String, Value>) -> Self {
        Params::Named(m)
    }
}
impl From<Vec<(&str, Value)>> for Params {
    fn from(v: Vec<(&str, Value)>) -> Self {
        Params::Named(v.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}
