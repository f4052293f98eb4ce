//! Values crossing the Python `sqlite3` API: what parameters bind and what rows hold
//! (spec §1.4 "Types", §1.5), plus the adapter and converter registries.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::error::{Error, Result};
use crate::row::Row;

/// A Python-side value: a parameter to bind, a column value, or what a row factory,
/// converter or user function returns.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None` ↔ NULL.
    Null,
    /// `int` ↔ INTEGER (`bool` binds as 1/0).
    Int(i64),
    /// `float` ↔ REAL (NaN is stored as NULL by SQLite).
    Float(f64),
    /// `str` ↔ TEXT (UTF-8; embedded NUL kept).
    Text(String),
    /// `bytes`/`bytearray`/`memoryview` ↔ BLOB. A TEXT column also reads as this under
    /// `TextFactory::Bytes`.
    Bytes(Vec<u8>),
    /// A tuple: the default row type (see [`Tuple`]: rows of one fetch share storage).
    Tuple(Tuple),
    /// A `sqlite3.Row` (boxed, so every value stays 32 bytes).
    Row(Box<Row>),
    /// Any other object: binds through an adapter or its own [`Object::conform`].
    Object(Arc<dyn Object>),
}

/// An immutable tuple of values (Python's `tuple`), cheap to clone.
///
/// The values live in a shared block: the rows of one `fetchall`/`fetchmany` are cut from
/// blocks of several rows each, so a fetched row costs no allocation of its own (only its
/// text and bytes do). A row keeps its whole block alive. Derefs to `[Value]`.
#[derive(Clone)]
pub struct Tuple {
    block: Arc<Vec<Value>>,
    start: u32,
    len: u32,
}

impl Tuple {
    /// A tuple of `values`.
    pub fn new(values: Vec<Value>) -> Tuple {
        let len = values.len() as u32;
        Tuple {
            block: Arc::new(values),
            start: 0,
            len,
        }
    }

    /// `block[start..start + len]`; callers keep the range inside the block.
    pub(crate) fn in_block(block: &Arc<Vec<Value>>, start: usize, len: usize) -> Tuple {
        debug_assert!(start + len <= block.len());
        Tuple {
            block: block.clone(),
            start: start as u32,
            len: len as u32,
        }
    }

    /// The values as a slice.
    pub fn as_slice(&self) -> &[Value] {
        let a = self.start as usize;
        &self.block[a..a + self.len as usize]
    }
}

impl std::ops::Deref for Tuple {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        self.as_slice()
    }
}

impl Debug for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

impl PartialEq for Tuple {
    fn eq(&self, other: &Tuple) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl From<Vec<Value>> for Tuple {
    fn from(v: Vec<Value>) -> Tuple {
        Tuple::new(v)
    }
}

impl Default for Tuple {
    fn default() -> Tuple {
        Tuple::new(Vec::new())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a == b,
            // Python: 1 == 1.0
            (Int(a), Float(b)) | (Float(b), Int(a)) => (*a as f64) == *b,
            (Text(a), Text(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Tuple(a), Tuple(b)) => a == b,
            (Row(a), Row(b)) => a == b,
            (Object(a), Object(b)) => Arc::ptr_eq(a, b) || a.eq_object(b.as_ref()),
            _ => false,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// The Python type name (`type(v).__name__`), used in Python's error messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::Null => "NoneType".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Text(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::Row(_) => "sqlite3.Row".into(),
            Value::Object(o) => o.type_name().to_string(),
        }
    }

    /// The values of a tuple or `Row`, `None` for anything else.
    pub fn as_tuple(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(v) => Some(v),
            Value::Row(r) => Some(r.values()),
            _ => None,
        }
    }

    /// The integer, if this is an `int`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is a `str`.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is `bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Python's `repr()` for the plain types (used by the shell and `iterdump`).
    pub fn repr(&self) -> String {
        match self {
            Value::Null => "None".into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => float_repr(*f),
            Value::Text(s) => str_repr(s),
            Value::Bytes(b) => bytes_repr(b),
            Value::Tuple(v) => {
                let items: Vec<String> = v.iter().map(Value::repr).collect();
                if items.len() == 1 {
                    format!("({},)", items[0])
                } else {
                    format!("({})", items.join(", "))
                }
            }
            Value::Row(r) => format!("<sqlite3.Row object with {} columns>", r.len()),
            Value::Object(o) => format!("<{} object>", o.type_name()),
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, `inf`, `nan`, `1.0` for integral.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python switches to exponent form outside [1e-4, 1e16): 1e+16, 1.5e-05.
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Python's `repr(str)`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(bytes)`.
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::from("b");
    out.push(quote as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote as char);
    out
}

/// `sqlite3.PrepareProtocol`: the marker passed to [`Object::conform`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrepareProtocol;

/// A user object that may appear in parameters or results.
///
/// It binds through a registered adapter ([`register_adapter`]) or, failing that, its own
/// [`Object::conform`] (Python's `__conform__`).
pub trait Object: Any + Debug + Send + Sync {
    /// `type(obj).__name__`, used in "type 'X' is not supported" errors.
    fn type_name(&self) -> &str;
    /// Python's `__conform__(PrepareProtocol)`: the value to bind, or `None` to decline.
    fn conform(&self, _protocol: &PrepareProtocol) -> Option<Value> {
        None
    }
    /// Equality with another object (Python `==`); identity by default.
    fn eq_object(&self, _other: &dyn Object) -> bool {
        false
    }
}

type AdapterFn = Arc<dyn Fn(&dyn Any) -> Result<Value> + Send + Sync>;
/// A converter: called with the raw bytes of a non-NULL column value.
pub type ConverterFn = Arc<dyn Fn(&[u8]) -> Result<Value> + Send + Sync>;

fn adapters() -> &'static RwLock<HashMap<TypeId, AdapterFn>> {
    static A: std::sync::OnceLock<RwLock<HashMap<TypeId, AdapterFn>>> = std::sync::OnceLock::new();
    A.get_or_init(|| RwLock::new(HashMap::new()))
}

fn converters() -> &'static RwLock<HashMap<String, ConverterFn>> {
    static C: std::sync::OnceLock<RwLock<HashMap<String, ConverterFn>>> =
        std::sync::OnceLock::new();
    C.get_or_init(|| RwLock::new(HashMap::new()))
}

/// `sqlite3.register_adapter(T, f)`: objects of exactly type `T` bind as `f(obj)`.
/// Process-wide, like Python's module-level registry.
pub fn register_adapter<T: Object>(f: impl Fn(&T) -> Result<Value> + Send + Sync + 'static) {
    let wrapped: AdapterFn = Arc::new(move |a: &dyn Any| match a.downcast_ref::<T>() {
        Some(t) => f(t),
        None => Err(Error::programming("adapter called with the wrong type")),
    });
    if let Ok(mut m) = adapters().write() {
        m.insert(TypeId::of::<T>(), wrapped);
    }
}

/// `sqlite3.register_converter(name, f)`: columns whose declared type (with
/// `PARSE_DECLTYPES`) or `[name]` column-name tag (with `PARSE_COLNAMES`) is `name`
/// (case-insensitive: stored upper-cased) convert through `f(bytes)`.
pub fn register_converter(name: &str, f: impl Fn(&[u8]) -> Result<Value> + Send + Sync + 'static) {
    if let Ok(mut m) = converters().write() {
        m.insert(name.to_uppercase(), Arc::new(f));
    }
}

/// The converter registered under `name` (case-insensitive), if any.
pub fn converter(name: &str) -> Option<ConverterFn> {
    converters().read().ok()?.get(&name.to_uppercase()).cloned()
}

/// `sqlite3.adapt(obj)`: a registered adapter for the object's exact type, else its
/// `conform`, else `ProgrammingError: can't adapt`. Plain values are returned as they are.
pub fn adapt(v: &Value) -> Result<Value> {
    match v {
        Value::Object(o) => {
            adapt_object(o.as_ref())?.ok_or_else(|| Error::programming("can't adapt"))
        }
        other => Ok(other.clone()),
    }
}

/// The adapter's or `conform`'s value for `o`, `None` when neither applies. An adapter's
/// error is returned as it is (CPython 3.11–3.13 let the adapter's exception through).
fn adapt_object(o: &dyn Object) -> Result<Option<Value>> {
    let any: &dyn Any = o;
    let f = adapters()
        .read()
        .ok()
        .and_then(|m| m.get(&any.type_id()).cloned());
    if let Some(f) = f {
        return f(any).map(Some);
    }
    Ok(o.conform(&PrepareProtocol))
}

/// Turns a parameter into what SQLite binds, adapting objects; `index` (1-based) is for
/// Python's "Error binding parameter N: type 'X' is not supported" message. Plain values
/// are bound without copying.
pub(crate) fn to_sql_output(v: &Value, index: usize) -> Result<ToSqlOutput<'_>> {
    use rusqlite::types::Value as S;
    let unsupported = |t: String| {
        Error::programming(format!(
            "Error binding parameter {index}: type '{t}' is not supported"
        ))
    };
    Ok(match v {
        Value::Null => ToSqlOutput::Owned(S::Null),
        Value::Int(i) => ToSqlOutput::Owned(S::Integer(*i)),
        Value::Float(f) => ToSqlOutput::Owned(S::Real(*f)),
        Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        Value::Object(o) => match adapt_object(o.as_ref())? {
            Some(Value::Null) => ToSqlOutput::Owned(S::Null),
            Some(Value::Int(i)) => ToSqlOutput::Owned(S::Integer(i)),
            Some(Value::Float(f)) => ToSqlOutput::Owned(S::Real(f)),
            Some(Value::Text(s)) => ToSqlOutput::Owned(S::Text(s)),
            Some(Value::Bytes(b)) => ToSqlOutput::Owned(S::Blob(b)),
            _ => return Err(unsupported(v.type_name())),
        },
        other => return Err(unsupported(other.type_name())),
    })
}

/// How TEXT columns come back (`Connection.text_factory`).
#[derive(Clone, Default)]
pub enum TextFactory {
    /// `str` (default): strict UTF-8; invalid bytes raise Python's OperationalError.
    #[default]
    Str,
    /// `bytes`: the raw bytes.
    Bytes,
    /// Any callable taking the bytes.
    Custom(ConverterFn),
}

impl std::fmt::Debug for TextFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextFactory::Str => f.write_str("str"),
            TextFactory::Bytes => f.write_str("bytes"),
            TextFactory::Custom(_) => f.write_str("<callable>"),
        }
    }
}

/// Converts a column value as Python's cursor does without a converter.
pub(crate) fn from_sql(v: ValueRef<'_>, tf: &TextFactory, colname: &str) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        ValueRef::Text(t) => match tf {
            TextFactory::Str => match std::str::from_utf8(t) {
                Ok(s) => Value::Text(s.to_string()),
                Err(_) => {
                    return Err(Error::operational(format!(
                        "Could not decode to UTF-8 column '{colname}' with text '{}'",
                        String::from_utf8_lossy(t)
                    )))
                }
            },
            TextFactory::Bytes => Value::Bytes(t.to_vec()),
            TextFactory::Custom(f) => f(t)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_match_python() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1.5e-5), "1.5e-05");
        assert_eq!(float_repr(f64::INFINITY), "inf");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a\nb"), "'a\\nb'");
        assert_eq!(bytes_repr(b"\xff'a"), "b\"\\xff'a\"");
        assert_eq!(Value::Tuple(vec![Value::Int(1)].into()).repr(), "(1,)");
    }

    #[derive(Debug)]
    struct Point(i64, i64);
    impl Object for Point {
        fn type_name(&self) -> &str {
            "Point"
        }
        fn conform(&self, _p: &PrepareProtocol) -> Option<Value> {
            Some(Value::Text(format!("{};{}", self.0, self.1)))
        }
    }
    #[derive(Debug)]
    struct Opaque;
    impl Object for Opaque {
        fn type_name(&self) -> &str {
            "object"
        }
    }

    #[test]
    fn conform_then_unsupported() {
        let p = Value::Object(Arc::new(Point(1, 2)));
        assert_eq!(adapt(&p).unwrap(), Value::Text("1;2".into()));
        let e = to_sql_output(&Value::Object(Arc::new(Opaque)), 1).unwrap_err();
        assert_eq!(
            e.message,
            "Error binding parameter 1: type 'object' is not supported"
        );
    }
}
