//! copyreg as explicit values (pickle spec §8): the extension registry, the class filter
//! ("restricting globals"), and the constructors the unpickler may evaluate.
//!
//! Nothing here is process-global: a registry is passed to the loader and the dumper.
//!
//! ```
//! use std::sync::Arc;
//! use pydbm_shelve::pickle::{self, ClassFilter, DumpOptions, ExtensionRegistry, LoadOptions};
//!
//! // copyreg.add_extension('collections', 'OrderedDict', 200); pickle.dumps(OrderedDict, 2)
//! let mut registry = ExtensionRegistry::new();
//! registry.add_extension("collections", "OrderedDict", 200)?;
//! let plain = b"\x80\x02ccollections\nOrderedDict\nq\x00."; // the same, unregistered
//! let class = pickle::loads(plain, &LoadOptions::default())?;
//! let opts = DumpOptions { extensions: Arc::new(registry.clone()), ..DumpOptions::new(2) };
//! let (ext, _) = pickle::dumps_with(&class, &opts)?;
//! assert_eq!(ext, b"\x80\x02\x82\xc8."); // EXT1 200
//! let load = LoadOptions { extensions: Arc::new(registry), ..LoadOptions::default() };
//! assert!(pickle::loads(&ext, &load)?.isomorphic(&class));
//! assert!(pickle::loads(&ext, &LoadOptions::default()).is_err()); // unregistered code
//!
//! // "Restricting globals": an allow-list refuses anything else, before it is referenced.
//! let evil = b"cos\nsystem\n(S'echo hi'\ntR.";
//! let safe = LoadOptions { filter: ClassFilter::safe_builtins(), ..LoadOptions::default() };
//! let err = pickle::loads(evil, &safe).unwrap_err();
//! assert!(err.to_string().contains("global 'os.system' is forbidden"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use pydbm_engine::{Error, Result};

use super::error::PickleError;
use super::value::{Construct, Instance, Node, NodeId, Pickle};
use crate::py_exc::PyExc;

/// copyreg's extension registry: `(module, name) ↔ code` for the `EXT1/EXT2/EXT4` opcodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionRegistry {
    by_name: HashMap<(String, String), i32>,
    by_code: HashMap<i32, (String, String)>,
}

impl ExtensionRegistry {
    /// An empty registry (CPython's state before any `copyreg.add_extension`).
    pub fn new() -> Self {
        Self::default()
    }

    /// `copyreg.add_extension(module, name, code)`. Errors (CPython's ValueError texts):
    /// code outside `1..=0x7fffffff`, or the key or code already registered differently.
    pub fn add_extension(&mut self, module: &str, name: &str, code: i64) -> Result<()> {
        if !(1..=0x7fff_ffff).contains(&code) {
            return Err(Error::BadArgument("ValueError: code out of range".into()));
        }
        let code = code as i32;
        let key = (module.to_string(), name.to_string());
        if self.by_name.get(&key) == Some(&code) && self.by_code.get(&code) == Some(&key) {
            return Ok(());
        }
        if let Some(c) = self.by_name.get(&key) {
            return Err(Error::BadArgument(format!(
                "ValueError: key ('{module}', '{name}') is already registered with code {c}"
            )));
        }
        if let Some((m, n)) = self.by_code.get(&code) {
            return Err(Error::BadArgument(format!(
                "ValueError: code {code} is already in use for key ('{m}', '{n}')"
            )));
        }
        self.by_name.insert(key.clone(), code);
        self.by_code.insert(code, key);
        Ok(())
    }

    /// `copyreg.remove_extension(module, name, code)`; ValueError text when not registered so.
    pub fn remove_extension(&mut self, module: &str, name: &str, code: i64) -> Result<()> {
        let key = (module.to_string(), name.to_string());
        if self.by_name.get(&key).map(|&c| c as i64) != Some(code) {
            return Err(Error::BadArgument(format!(
                "ValueError: key ('{module}', '{name}') is not registered with code {code}"
            )));
        }
        self.by_name.remove(&key);
        self.by_code.remove(&(code as i32));
        Ok(())
    }

    /// The code of a global, if registered.
    pub fn code_of(&self, module: &str, name: &str) -> Option<i32> {
        self.by_name
            .get(&(module.to_string(), name.to_string()))
            .copied()
    }

    /// The global a code stands for, if registered.
    pub fn lookup(&self, code: i32) -> Option<(&str, &str)> {
        self.by_code
            .get(&code)
            .map(|(m, n)| (m.as_str(), n.as_str()))
    }
}

/// A caller's class check for [`ClassFilter::Custom`]: `(module, qualname)` → accept or error.
pub type ClassCheck = Arc<dyn Fn(&str, &str) -> Result<()> + Send + Sync>;

/// Which globals the unpickler accepts (Python's "Restricting Globals" `find_class` hook,
/// pickle spec §1.9). Globals are never imported either way; the filter only rejects.
#[derive(Clone, Default)]
pub enum ClassFilter {
    /// Every global is accepted as a name.
    #[default]
    AllowAll,
    /// Only these `(module, qualname)` pairs (Python 3 names, after `fix_imports`).
    AllowList(Vec<(String, String)>),
    /// A caller's decision: `Ok(())` accepts, an error rejects.
    Custom(ClassCheck),
}

impl std::fmt::Debug for ClassFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassFilter::AllowAll => f.write_str("AllowAll"),
            ClassFilter::AllowList(l) => f.debug_tuple("AllowList").field(l).finish(),
            ClassFilter::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl ClassFilter {
    /// The documentation recipe's allow-list plus what ordinary data needs (pickle spec §1.9).
    pub fn safe_builtins() -> ClassFilter {
        let names: &[(&str, &str)] = &[
            ("builtins", "range"),
            ("builtins", "complex"),
            ("builtins", "set"),
            ("builtins", "frozenset"),
            ("builtins", "slice"),
            ("builtins", "bytearray"),
            ("builtins", "bytes"),
            ("builtins", "object"),
            ("builtins", "getattr"),
            ("copyreg", "_reconstructor"),
            ("_codecs", "encode"),
            ("collections", "OrderedDict"),
            ("datetime", "datetime"),
            ("datetime", "date"),
            ("datetime", "time"),
            ("datetime", "timedelta"),
            ("datetime", "timezone"),
            ("decimal", "Decimal"),
        ];
        ClassFilter::AllowList(
            names
                .iter()
                .map(|(m, n)| (m.to_string(), n.to_string()))
                .collect(),
        )
    }

    /// Checks one global; the error is worded like the documentation recipe's.
    pub fn check(&self, module: &str, name: &str) -> Result<()> {
        match self {
            ClassFilter::AllowAll => Ok(()),
            ClassFilter::AllowList(l) => {
                if l.iter().any(|(m, n)| m == module && n == name) {
                    Ok(())
                } else {
                    Err(PickleError::new(
                        PyExc::UnpicklingError,
                        format!("global '{module}.{name}' is forbidden"),
                    )
                    .into())
                }
            }
            ClassFilter::Custom(f) => f(module, name),
        }
    }
}

fn global_is(p: &Pickle, id: NodeId, module: &str, name: &str) -> bool {
    matches!(p.node(id), Node::Global { module: m, name: n } if m == module && n == name)
}

/// Evaluates the few pure constructors CPython's own pickler emits for built-in types, so
/// that loading `REDUCE` of them yields the built-in value rather than an opaque instance
/// (pickle spec §1.5: bytes at protocol < 3, bytearray < 5, set/frozenset < 4, nested
/// qualnames < 4, default object reduction at protocol < 2). Returns `None` when the call
/// is not one of them; never executes anything.
pub fn evaluate_known_call(p: &Pickle, callable: NodeId, args: NodeId) -> Option<Node> {
    let Node::Global { module, name } = p.node(callable) else {
        return None;
    };
    let Node::Tuple(a) = p.node(args) else {
        return None;
    };
    match (module.as_str(), name.as_str(), a.as_slice()) {
        ("_codecs", "encode", [s, enc]) => {
            let (Node::Str(s), Node::Str(enc)) = (p.node(*s), p.node(*enc)) else {
                return None;
            };
            if !matches!(enc.as_str(), Some("latin1") | Some("latin-1")) {
                return None;
            }
            let mut out = Vec::with_capacity(s.as_bytes().len());
            for cp in s.code_points() {
                if cp > 0xff {
                    return None;
                }
                out.push(cp as u8);
            }
            Some(Node::Bytes(out))
        }
        ("builtins", "bytes", []) => Some(Node::Bytes(Vec::new())),
        ("builtins", "bytearray", []) => Some(Node::ByteArray(Vec::new())),
        ("builtins", "bytearray", [b]) => match p.node(*b) {
            Node::Bytes(b) => Some(Node::ByteArray(b.clone())),
            _ => None,
        },
        ("builtins", "bytearray", [s, enc]) => {
            // 3.6/3.7 form: bytearray('xyz\x80', 'latin-1') (pickle spec §1.7)
            let (Node::Str(s), Node::Str(enc)) = (p.node(*s), p.node(*enc)) else {
                return None;
            };
            if !matches!(enc.as_str(), Some("latin1") | Some("latin-1")) {
                return None;
            }
            let mut out = Vec::new();
            for cp in s.code_points() {
                if cp > 0xff {
                    return None;
                }
                out.push(cp as u8);
            }
            Some(Node::ByteArray(out))
        }
        ("builtins", "set", []) => Some(Node::Set(Vec::new())),
        ("builtins", "frozenset", []) => Some(Node::FrozenSet(Vec::new())),
        ("builtins", "set", [l]) | ("builtins", "frozenset", [l]) => {
            let Node::List(items) = p.node(*l) else {
                return None;
            };
            Some(if name == "set" {
                Node::Set(items.clone())
            } else {
                Node::FrozenSet(items.clone())
            })
        }
        ("builtins", "getattr", [obj, attr]) => {
            let (Node::Global { module, name }, Node::Str(attr)) = (p.node(*obj), p.node(*attr))
            else {
                return None;
            };
            Some(Node::Global {
                module: module.clone(),
                name: format!("{name}.{}", attr.as_str()?),
            })
        }
        ("copyreg", "_reconstructor", [cls, base, state]) => {
            if !matches!(p.node(*cls), Node::Global { .. }) {
                return None;
            }
            Some(Node::Instance(Box::new(Instance {
                construct: Construct::Reconstructor {
                    cls: *cls,
                    base: *base,
                    base_state: *state,
                },
                list_items: Vec::new(),
                dict_items: Vec::new(),
                state: None,
            })))
        }
        _ => None,
    }
}

/// True when `id` is the global `builtins.object`.
pub fn is_builtins_object(p: &Pickle, id: NodeId) -> bool {
    global_is(p, id, "builtins", "object")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::{dumps_with, loads, DumpOptions, LoadOptions};

    #[test]
    fn add_and_remove_follow_copyreg_rules() {
        let mut r = ExtensionRegistry::new();
        assert!(r.add_extension("m", "A", 0).is_err());
        assert!(r.add_extension("m", "A", 0x8000_0000).is_err());
        r.add_extension("m", "A", 5).unwrap();
        r.add_extension("m", "A", 5).unwrap(); // same registration again: fine
        assert!(r.add_extension("m", "A", 6).is_err());
        assert!(r.add_extension("m", "B", 5).is_err());
        assert!(r.remove_extension("m", "A", 6).is_err());
        r.remove_extension("m", "A", 5).unwrap();
        assert_eq!(r.lookup(5), None);
    }

    #[test]
    fn ext_opcodes_both_ways() {
        // test_global_ext1/2/4 in CPython's pickletester: EXT only at protocol >= 2.
        // Expected bytes: CPython 3.11 pickle.dumps((m.Small, m.Mid, m.Big), 2/1) with
        // these codes registered (run by hand; the classes are three empty classes).
        let mut r = ExtensionRegistry::new();
        r.add_extension("m", "Small", 0xf0).unwrap();
        r.add_extension("m", "Mid", 0x1234).unwrap();
        r.add_extension("m", "Big", 0x12345678).unwrap();
        let r = Arc::new(r);
        let mut p = Pickle::new();
        let a = p.add(Node::Global {
            module: "m".into(),
            name: "Small".into(),
        });
        let b = p.add(Node::Global {
            module: "m".into(),
            name: "Mid".into(),
        });
        let c = p.add(Node::Global {
            module: "m".into(),
            name: "Big".into(),
        });
        p.root = p.add(Node::Tuple(vec![a, b, c]));
        let opts = |q| DumpOptions {
            extensions: r.clone(),
            ..DumpOptions::new(q)
        };
        let (b2, _) = dumps_with(&p, &opts(2)).unwrap();
        assert_eq!(
            b2,
            b"\x80\x02\x82\xf0\x83\x34\x12\x84\x78\x56\x34\x12\x87q\x00.".to_vec()
        );
        let (b1, _) = dumps_with(&p, &opts(1)).unwrap();
        assert!(b1.starts_with(b"(cm\nSmall\nq\x00"));
        let lo = LoadOptions {
            extensions: r.clone(),
            ..LoadOptions::default()
        };
        let back = loads(&b2, &lo).unwrap();
        assert!(p.isomorphic(&back));
    }
}
