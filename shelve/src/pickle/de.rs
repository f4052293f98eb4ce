//! pickle → serde: any `Deserialize` type from a pickle or from a loaded value graph.
//!
//! The inverse of [`super::ser`]'s mapping: lists, tuples, sets and frozensets are
//! sequences; dicts are maps (and structs); `None` is unit/`None`; a str is a unit
//! variant, a one-entry dict `{'Variant': value}` any other variant. Instances and globals
//! have no serde form and are an error. Cycles and nesting deeper than 128 levels are an error instead of a
//! loop or a stack overflow.

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use pydbm_engine::{Error, Result};

use super::unpickler::{loads, LoadOptions};
use super::value::{Node, NodeId, Pickle};

/// Deepest nesting followed (serde's recursion is deep per level; keeps any stack safe).
const MAX_DEPTH: usize = 128;

/// serde deserialization error (converted to [`Error::BadArgument`] at the API boundary).
#[derive(Debug)]
pub struct DeError(String);

impl std::fmt::Display for DeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DeError {}
impl de::Error for DeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

/// Deserializes the root of a loaded graph.
pub fn from_pickle<T: DeserializeOwned>(p: &Pickle) -> Result<T> {
    if p.root >= p.nodes.len() {
        return Err(Error::BadArgument(
            "pickle root is not a node of the graph".into(),
        ));
    }
    T::deserialize(NodeDe {
        p,
        id: p.root,
        depth: 0,
    })
    .map_err(|e| Error::BadArgument(format!("deserialize: {e}")))
}

/// `pickle.loads` into a serde type, with default [`LoadOptions`].
pub fn from_slice<T: DeserializeOwned>(data: &[u8]) -> Result<T> {
    from_pickle(&loads(data, &LoadOptions::default())?)
}

/// `pickle.loads` into a serde type, with explicit options.
pub fn from_slice_with<T: DeserializeOwned>(data: &[u8], opts: &LoadOptions) -> Result<T> {
    from_pickle(&loads(data, opts)?)
}

#[derive(Clone, Copy)]
struct NodeDe<'a> {
    p: &'a Pickle,
    id: NodeId,
    depth: usize,
}

impl<'a> NodeDe<'a> {
    fn child(&self, id: NodeId) -> std::result::Result<NodeDe<'a>, DeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DeError(
                "nesting deeper than 128 levels (recursive value?)".into(),
            ));
        }
        Ok(NodeDe {
            p: self.p,
            id,
            depth: self.depth + 1,
        })
    }
    fn node(&self) -> &'a Node {
        self.p.node(self.id)
    }
}

struct Seq<'a> {
    de: NodeDe<'a>,
    items: &'a [NodeId],
    pos: usize,
}

impl<'de, 'a> de::SeqAccess<'de> for Seq<'a> {
    type Error = DeError;
    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<Option<S::Value>, DeError> {
        let Some(&id) = self.items.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        seed.deserialize(self.de.child(id)?).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.pos)
    }
}

struct Map<'a> {
    de: NodeDe<'a>,
    items: &'a [(NodeId, NodeId)],
    pos: usize,
}

impl<'de, 'a> de::MapAccess<'de> for Map<'a> {
    type Error = DeError;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, DeError> {
        let Some(&(k, _)) = self.items.get(self.pos) else {
            return Ok(None);
        };
        seed.deserialize(self.de.child(k)?).map(Some)
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> std::result::Result<V::Value, DeError> {
        let Some(&(_, v)) = self.items.get(self.pos) else {
            return Err(DeError("map value without key".into()));
        };
        self.pos += 1;
        seed.deserialize(self.de.child(v)?)
    }
}

struct Enum<'a> {
    de: NodeDe<'a>,
    variant: NodeId,
    value: Option<NodeId>,
}

impl<'de, 'a> de::EnumAccess<'de> for Enum<'a> {
    type Error = DeError;
    type Variant = Enum<'a>;
    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> std::result::Result<(V::Value, Enum<'a>), DeError> {
        let v = seed.deserialize(self.de.child(self.variant)?)?;
        Ok((v, self))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for Enum<'a> {
    type Error = DeError;
    fn unit_variant(self) -> std::result::Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(v) if matches!(self.de.p.node(v), Node::None) => Ok(()),
            Some(_) => Err(DeError("expected a unit variant".into())),
        }
    }
    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> std::result::Result<T::Value, DeError> {
        let v = self
            .value
            .ok_or_else(|| DeError("expected a newtype variant".into()))?;
        seed.deserialize(self.de.child(v)?)
    }
    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        let v = self
            .value
            .ok_or_else(|| DeError("expected a tuple variant".into()))?;
        de::Deserializer::deserialize_any(self.de.child(v)?, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        let v = self
            .value
            .ok_or_else(|| DeError("expected a struct variant".into()))?;
        de::Deserializer::deserialize_any(self.de.child(v)?, visitor)
    }
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.node() {
            Node::None => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Int(i) => match i.to_i64() {
                Some(v) => visitor.visit_i64(v),
                None => {
                    let b = i.to_le_twos_complement();
                    let neg = b[b.len() - 1] & 0x80 != 0;
                    if !neg && b.len() == 9 && b[8] == 0 {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&b[..8]);
                        return visitor.visit_u64(u64::from_le_bytes(a));
                    }
                    if b.len() <= 16 {
                        let neg = b[b.len() - 1] & 0x80 != 0;
                        let mut a = if neg { [0xffu8; 16] } else { [0u8; 16] };
                        a[..b.len()].copy_from_slice(&b);
                        visitor.visit_i128(i128::from_le_bytes(a))
                    } else if b.len() == 17 && b[16] == 0 {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&b[..16]);
                        visitor.visit_u128(u128::from_le_bytes(a))
                    } else {
                        Err(DeError(format!("int {i} does not fit 128 bits")))
                    }
                }
            },
            Node::Float(f) => visitor.visit_f64(*f),
            Node::Str(s) => match s.as_str() {
                Some(t) => visitor.visit_str(t),
                None => visitor.visit_string(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            },
            Node::Bytes(b) | Node::ByteArray(b) | Node::PickleBuffer { data: b, .. } => {
                visitor.visit_bytes(b)
            }
            Node::List(items) | Node::Tuple(items) | Node::Set(items) | Node::FrozenSet(items) => {
                visitor.visit_seq(Seq {
                    de: self,
                    items,
                    pos: 0,
                })
            }
            Node::Dict(items) => visitor.visit_map(Map {
                de: self,
                items,
                pos: 0,
            }),
            Node::Global { module, name } => Err(DeError(format!(
                "the global {module}.{name} has no serde form"
            ))),
            Node::Instance(_) => Err(DeError("an instance has no serde form".into())),
            Node::PersistentId { .. } => Err(DeError("a persistent id has no serde form".into())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.node() {
            Node::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.node() {
            Node::Str(_) => visitor.visit_enum(Enum {
                de: self,
                variant: self.id,
                value: None,
            }),
            Node::Dict(items) if items.len() == 1 => visitor.visit_enum(Enum {
                de: self,
                variant: items[0].0,
                value: Some(items[0].1),
            }),
            _ => Err(DeError(
                "expected a str or a one-entry dict for an enum".into(),
            )),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.node() {
            Node::None => visitor.visit_unit(),
            _ => Err(DeError("expected None".into())),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.node() {
            Node::Str(s) => {
                let t = s.as_str().unwrap_or("");
                let mut c = t.chars();
                match (c.next(), c.next()) {
                    (Some(ch), None) => visitor.visit_char(ch),
                    _ => Err(DeError("expected a one-character str".into())),
                }
            }
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 str string bytes byte_buf
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, DeError> for NodeDe<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}
