//! pickle: value graph, unpickler, pickler, copyreg registry, disassembler, serde.
//!
//! - [`loads`] turns bytes into a [`Pickle`] (an arena graph of [`Node`]s) without executing
//!   anything; [`dumps`] writes a graph back, byte-identical to CPython 3.13's `pickle.dumps`
//!   for the same object graph.
//! - [`recode`], [`show`], [`dis`] are what `pydbm pickle recode|show|dis` print.
//! - [`to_vec`] / [`from_slice`] map serde types to pickles and back.
//!
//! See `docs/pickle.md` and the pickle spec (`python-formats.md` §1, §8).

mod big_stack;
mod compat_table;
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
