//! `pydbm.pickle_scan(data)`: the globals a pickle would import, found without executing it.
//!
//! The pickle is loaded by pydbm's unpickler (`pydbm_shelve::pickle::loads`), which builds a
//! value graph and never imports or calls anything: every `GLOBAL`, `STACK_GLOBAL`, `INST`
//! and `EXT` opcode becomes a `Node::Global { module, name }` in the graph's arena (with
//! Python 2 names already mapped as `fix_imports=True` maps them, i.e. what `find_class`
//! would be asked for). The scan lists those nodes in stream order, each pair once.

use pyo3::prelude::*;

use pydbm_shelve::pickle::{loads, LoadOptions, Node, Persistent, Pickle};

use crate::byte_args::to_bytes;

/// The `(module, name)` pairs of every global in `p`, first occurrence first.
pub fn globals_of(p: &Pickle) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for node in &p.nodes {
        if let Node::Global { module, name } = node {
            if seen.insert((module.as_str(), name.as_str())) {
                out.push((module.clone(), name.clone()));
            }
        }
    }
    out
}

/// `pickle_scan(data) -> list[tuple[str, str]]`: the `(module, qualname)` of every global
/// the pickle in `data` would import when loaded, in stream order, without executing it.
///
/// Persistent ids are accepted (kept as ids); out-of-band buffers are not. A truncated or
/// malformed pickle raises `pickle.UnpicklingError` with the offset and opcode that failed;
/// a non-bytes argument raises `TypeError`.
#[pyfunction]
pub fn pickle_scan(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let bytes = to_bytes(data, "pickle_scan() argument must be a bytes-like object")?;
    let opts = LoadOptions {
        persistent: Persistent::Keep,
        ..LoadOptions::default()
    };
    let loaded = py.allow_threads(|| loads(&bytes, &opts));
    match loaded {
        Ok(p) => Ok(globals_of(&p)),
        Err(e) => {
            let cls = py.import("pickle")?.getattr("UnpicklingError")?;
            Err(PyErr::from_value(cls.call1((e.to_string(),))?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_global_once_in_stream_order() {
        // pickle.dumps([collections.OrderedDict, collections.OrderedDict, os.getcwd], 2)
        // made by CPython 3.11: GLOBAL opcodes with a memoized repeat.
        let data = b"\x80\x02]q\x00(ccollections\nOrderedDict\nq\x01h\x01cposix\ngetcwd\nq\x02e.";
        let p = loads(data, &LoadOptions::default()).unwrap();
        assert_eq!(
            globals_of(&p),
            vec![
                ("collections".to_string(), "OrderedDict".to_string()),
                ("posix".to_string(), "getcwd".to_string()),
            ]
        );
    }

    #[test]
    fn truncated_pickle_is_an_error() {
        assert!(loads(b"\x80\x02]q\x00(ccollections\nOrd", &LoadOptions::default()).is_err());
    }
}
