//! pickle: value graph, unpickler, pickler, copyreg registry, disassembler, serde.
//!
//! - [`loads`] turns bytes into a [`Pickle`] (an arena graph of [`Node`]s) without executing
//!   anything; [`dumps`] writes a graph back, byte-identical to CPython 3.13's `pickle.dumps`
//!   for the same object graph.
//! - [`recode`], [`show`], [`dis()`] are what `pydbm pickle recode|show|dis` print.
//! - [`to_vec`] / [`from_slice`] map serde types to pickles and back.
//!
//! See `docs/pickle.md` and the pickle spec (`python-formats.md` §1, §8).
//!
//! # Examples
//!
//! Load a pickle CPython 3.13 wrote, print it as Python would, and write it back at two
//! protocols, byte for byte as CPython does:
//!
//! ```
//! use pydbm_shelve::pickle::{self, LoadOptions};
//!
//! // pickle.dumps((None, True, 2.5, b'\x00\xff', 'h\xe9', frozenset({3}), [1, [2]], 2**70), 4)
//! let p4: &[u8] = b"\x80\x04\x955\x00\x00\x00\x00\x00\x00\x00(N\x88G@\x04\x00\x00\x00\x00\x00\x00C\x02\x00\xff\x94\
//!     \x8c\x03h\xc3\xa9\x94(K\x03\x91\x94]\x94(K\x01]\x94K\x02ae\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@t\x94.";
//! let opts = LoadOptions::default();
//! let value = pickle::loads(p4, &opts)?; // a graph of nodes; nothing is executed
//! assert_eq!(
//!     pickle::repr::repr(&value)?,
//!     "(None, True, 2.5, b'\\x00\\xff', 'h\u{e9}', frozenset({3}), [1, [2]], 1180591620717411303424)"
//! );
//! assert_eq!(pickle::dumps(&value, 4)?, p4);
//! // pickle.dumps(pickle.loads(p4), 2): protocol 2 has no bytes or frozenset opcodes.
//! let p2: &[u8] = b"\x80\x02(N\x88G@\x04\x00\x00\x00\x00\x00\x00c_codecs\nencode\nq\x00X\x03\x00\x00\x00\x00\xc3\xbfq\x01\
//!     X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04X\x03\x00\x00\x00h\xc3\xa9q\x05c__builtin__\nfrozenset\nq\x06]q\x07K\x03\
//!     a\x85q\x08Rq\t]q\n(K\x01]q\x0bK\x02ae\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@tq\x0c.";
//! assert_eq!(pickle::recode(p4, 2, &opts)?, p2);
//! // Truncated input is an error naming the offset, never a panic.
//! assert!(pickle::loads(&p4[..20], &opts).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `pickletools.dis`, line for line:
//!
//! ```
//! // pickle.dumps([1, 'a'], 2)
//! let text = pydbm_shelve::pickle::dis(b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01e.")?;
//! assert_eq!(
//!     text,
//!     "    0: \\x80 PROTO      2
//!     2: ]    EMPTY_LIST
//!     3: q    BINPUT     0
//!     5: (    MARK
//!     6: K        BININT1    1
//!     8: X        BINUNICODE 'a'
//!    14: q        BINPUT     1
//!    16: e        APPENDS    (MARK at 5)
//!    17: .    STOP
//! highest protocol among opcodes = 2
//! "
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod big_stack;
mod canonical_table;
mod compat_table;
mod construction_table;
pub mod copyreg;
mod de;
pub mod dis;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod opcodes;
pub mod optimize;
pub mod pickler;
mod printable_table;
pub mod pyint;
pub mod pystr;
pub mod repr;
mod ser;
pub mod stdlib_reduce;
pub mod text;
pub mod unpickler;
pub mod value;

use pydbm_engine::Result;

pub use copyreg::{ClassFilter, ExtensionRegistry};
pub use de::{from_pickle, from_slice, from_slice_with};
pub use dis::{dis, dis_partial, dis_write};
pub use error::PickleError;
pub use optimize::optimize;
pub use pickler::{dumps, dumps_with, DumpOptions, DEFAULT_PROTOCOL, HIGHEST_PROTOCOL};
pub use pyint::PyInt;
pub use pystr::PyStr;
pub use ser::{to_pickle, to_vec};
pub use unpickler::{loads, loads_with_end, LoadOptions, Persistent, PersistentLoad};
pub use value::{Construct, Instance, Node, NodeId, Pickle};

/// `repr(pickle.loads(data))` as CPython prints it for built-in types (`pydbm pickle show`).
pub fn show(data: &[u8], opts: &LoadOptions) -> Result<String> {
    repr::repr(&loads(data, opts)?)
}

/// `pickle.dumps(pickle.loads(data), protocol)` (`pydbm pickle recode`).
pub fn recode(data: &[u8], protocol: u8, opts: &LoadOptions) -> Result<Vec<u8>> {
    let p = loads(data, opts)?;
    let d = DumpOptions {
        extensions: opts.extensions.clone(),
        ..DumpOptions::new(protocol)
    };
    Ok(dumps_with(&p, &d)?.0)
}
