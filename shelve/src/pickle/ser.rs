//! serde → pickle: any `Serialize` type as a value graph, then as pickle bytes.
//!
//! Mapping (the one serde-pickle uses, so files interoperate): bool/ints/floats/str/bytes as
//! themselves (u64/i128 beyond i64 as big ints), `None`/`()`/unit structs as `None`, `Some(x)`
//! as `x`, sequences as lists, tuples and tuple structs as tuples, maps and structs as dicts
//! (field names as str keys), enum variants as `'Name'` (unit) or `{'Name': value}`.

use serde::ser::{self, Serialize};

use pydbm_engine::{Error, Result};

use super::pickler::{dumps, DEFAULT_PROTOCOL};
use super::pyint::PyInt;
use super::pystr::PyStr;
use super::value::{Node, NodeId, Pickle};

/// serde serialization error (converted to [`Error::BadArgument`] at the API boundary).
#[derive(Debug)]
pub struct SerError(String);

impl std::fmt::Display for SerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SerError {}
impl ser::Error for SerError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

/// Serializes `value` into a value graph (no sharing: every value is its own node).
pub fn to_pickle<T: Serialize + ?Sized>(value: &T) -> Result<Pickle> {
    let mut p = Pickle::new();
    let root = value
        .serialize(GraphSer { p: &mut p })
        .map_err(|e| Error::BadArgument(format!("serialize: {e}")))?;
    p.root = root;
    Ok(p)
}

/// ```
/// use std::collections::BTreeMap;
/// use pydbm_shelve::pickle::{from_slice, to_vec};
///
/// let mut scores = BTreeMap::new();
/// scores.insert("ada".to_string(), vec![3u8, 1]);
/// let bytes = to_vec(&scores, 2)?;
/// // CPython: pickle.dumps({'ada': [3, 1]}, 2)
/// assert_eq!(bytes, b"\x80\x02}q\x00X\x03\x00\x00\x00adaq\x01]q\x02(K\x03K\x01es.");
/// assert_eq!(from_slice::<BTreeMap<String, Vec<u8>>>(&bytes)?, scores);
/// // A value that does not fit the type is an error, not a panic.
/// assert!(from_slice::<Vec<String>>(&bytes).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
/// `pickle.dumps` of a serde value at `protocol` (0–5; [`DEFAULT_PROTOCOL`] is 4).
pub fn to_vec<T: Serialize + ?Sized>(value: &T, protocol: u8) -> Result<Vec<u8>> {
    let _ = DEFAULT_PROTOCOL;
    dumps(&to_pickle(value)?, protocol)
}

struct GraphSer<'a> {
    p: &'a mut Pickle,
}

type R = std::result::Result<NodeId, SerError>;

fn str_node(p: &mut Pickle, s: &str) -> NodeId {
    p.add(Node::Str(PyStr::from(s)))
}

/// Collects items of a sequence-like value.
struct SeqSer<'a> {
    p: &'a mut Pickle,
    items: Vec<NodeId>,
    tuple: bool,
    variant: Option<&'static str>,
}

impl SeqSer<'_> {
    fn finish(self) -> R {
        let node = if self.tuple {
            Node::Tuple(self.items)
        } else {
            Node::List(self.items)
        };
        let id = self.p.add(node);
        Ok(match self.variant {
            Some(v) => {
                let k = str_node(self.p, v);
                self.p.add(Node::Dict(vec![(k, id)]))
            }
            None => id,
        })
    }
}

/// Collects entries of a map-like value.
struct MapSer<'a> {
    p: &'a mut Pickle,
    items: Vec<(NodeId, NodeId)>,
    key: Option<NodeId>,
    variant: Option<&'static str>,
}

impl MapSer<'_> {
    fn finish(self) -> R {
        let id = self.p.add(Node::Dict(self.items));
        Ok(match self.variant {
            Some(v) => {
                let k = str_node(self.p, v);
                self.p.add(Node::Dict(vec![(k, id)]))
            }
            None => id,
        })
    }
}

impl<'a> ser::Serializer for GraphSer<'a> {
    type Ok = NodeId;
    type Error = SerError;
    type SerializeSeq = SeqSer<'a>;
    type SerializeTuple = SeqSer<'a>;
    type SerializeTupleStruct = SeqSer<'a>;
    type SerializeTupleVariant = SeqSer<'a>;
    type SerializeMap = MapSer<'a>;
    type SerializeStruct = MapSer<'a>;
    type SerializeStructVariant = MapSer<'a>;

    fn serialize_bool(self, v: bool) -> R {
        Ok(self.p.add(Node::Bool(v)))
    }
    fn serialize_i8(self, v: i8) -> R {
        self.serialize_i64(v as i64)
    }
    fn serialize_i16(self, v: i16) -> R {
        self.serialize_i64(v as i64)
    }
    fn serialize_i32(self, v: i32) -> R {
        self.serialize_i64(v as i64)
    }
    fn serialize_i64(self, v: i64) -> R {
        Ok(self.p.add(Node::Int(PyInt::Small(v))))
    }
    fn serialize_i128(self, v: i128) -> R {
        let i = PyInt::from_le_twos_complement(&v.to_le_bytes());
        Ok(self.p.add(Node::Int(i)))
    }
    fn serialize_u8(self, v: u8) -> R {
        self.serialize_i64(v as i64)
    }
    fn serialize_u16(self, v: u16) -> R {
        self.serialize_i64(v as i64)
    }
    fn serialize_u32(self, v: u32) -> R {
        self.serialize_i64(v as i64)
    }
    fn serialize_u64(self, v: u64) -> R {
        self.serialize_i128(v as i128)
    }
    fn serialize_u128(self, v: u128) -> R {
        let mut b = v.to_le_bytes().to_vec();
        b.push(0); // sign byte: non-negative
        Ok(self.p.add(Node::Int(PyInt::from_le_twos_complement(&b))))
    }
    fn serialize_f32(self, v: f32) -> R {
        self.serialize_f64(v as f64)
    }
    fn serialize_f64(self, v: f64) -> R {
        Ok(self.p.add(Node::Float(v)))
    }
    fn serialize_char(self, v: char) -> R {
        Ok(str_node(self.p, v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_str(self, v: &str) -> R {
        Ok(str_node(self.p, v))
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        Ok(self.p.add(Node::Bytes(v.to_vec())))
    }
    fn serialize_none(self) -> R {
        Ok(self.p.add(Node::None))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(self.p.add(Node::None))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _n: &'static str, _i: u32, variant: &'static str) -> R {
        Ok(str_node(self.p, variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _n: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> R {
        let v = value.serialize(GraphSer { p: &mut *self.p })?;
        let k = str_node(self.p, variant);
        Ok(self.p.add(Node::Dict(vec![(k, v)])))
    }
    fn serialize_seq(self, len: Option<usize>) -> std::result::Result<SeqSer<'a>, SerError> {
        Ok(SeqSer {
            p: self.p,
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            tuple: false,
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> std::result::Result<SeqSer<'a>, SerError> {
        Ok(SeqSer {
            p: self.p,
            items: Vec::with_capacity(len.min(4096)),
            tuple: true,
            variant: None,
        })
    }
    fn serialize_tuple_struct(
        self,
        _n: &'static str,
        len: usize,
    ) -> std::result::Result<SeqSer<'a>, SerError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        len: usize,
    ) -> std::result::Result<SeqSer<'a>, SerError> {
        let mut s = self.serialize_tuple(len)?;
        s.variant = Some(variant);
        Ok(s)
    }
    fn serialize_map(self, _len: Option<usize>) -> std::result::Result<MapSer<'a>, SerError> {
        Ok(MapSer {
            p: self.p,
            items: Vec::new(),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(
        self,
        _n: &'static str,
        len: usize,
    ) -> std::result::Result<MapSer<'a>, SerError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        len: usize,
    ) -> std::result::Result<MapSer<'a>, SerError> {
        let mut m = self.serialize_map(Some(len))?;
        m.variant = Some(variant);
        Ok(m)
    }
}

impl ser::SerializeSeq for SeqSer<'_> {
    type Ok = NodeId;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        v: &T,
    ) -> std::result::Result<(), SerError> {
        let id = v.serialize(GraphSer { p: &mut *self.p })?;
        self.items.push(id);
        Ok(())
    }
    fn end(self) -> R {
        self.finish()
    }
}

/// Tuples, tuple structs and tuple variants all become pickled lists/tuples the same way as a
/// sequence: each forwards its elements to [`ser::SerializeSeq::serialize_element`].
macro_rules! forward_to_seq {
    ($($trait:ident :: $method:ident),+ $(,)?) => {$(
        impl ser::$trait for SeqSer<'_> {
            type Ok = NodeId;
            type Error = SerError;
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                v: &T,
            ) -> std::result::Result<(), SerError> {
                ser::SerializeSeq::serialize_element(self, v)
            }
            fn end(self) -> R {
                self.finish()
            }
        }
    )+};
}

forward_to_seq!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for MapSer<'_> {
    type Ok = NodeId;
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> std::result::Result<(), SerError> {
        self.key = Some(k.serialize(GraphSer { p: &mut *self.p })?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(
        &mut self,
        v: &T,
    ) -> std::result::Result<(), SerError> {
        let Some(k) = self.key.take() else {
            return Err(SerError(
                "serialize_value called before serialize_key".into(),
            ));
        };
        let v = v.serialize(GraphSer { p: &mut *self.p })?;
        self.items.push((k, v));
        Ok(())
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeStruct for MapSer<'_> {
    type Ok = NodeId;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> std::result::Result<(), SerError> {
        let k = str_node(self.p, key);
        let v = v.serialize(GraphSer { p: &mut *self.p })?;
        self.items.push((k, v));
        Ok(())
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeStructVariant for MapSer<'_> {
    type Ok = NodeId;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> std::result::Result<(), SerError> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> R {
        self.finish()
    }
}
