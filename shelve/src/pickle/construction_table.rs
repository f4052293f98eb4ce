//! What constructing a few standard-library exception classes does, as data.
//!
//! CPython loads `REDUCE(cls, args)` by calling `cls(*args)`; for an exception class whose
//! `__init__` is Python code, that call stores attributes and may replace `args`, and the
//! 3.13 re-dump (`BaseException.__reduce__`: `(cls, self.args, self.__dict__)`, the dict only
//! when the instance has one) carries them. pydbm never runs code: this table states, per
//! class and number of positional arguments, the observable result — the new `args` and the
//! instance dict in insertion order — and the unpickler builds it
//! (`Unpickler::reduce_instance`). A BUILD afterwards sets each state key as an attribute
//! (`BaseException.__setstate__`): an existing key keeps its place and its key object, a new
//! one is appended.
//!
//! The facts were observed from outside on live CPython 3.13
//! (`tests/fixtures/pickle/compat/observe_construction.py`: each class called with marker
//! arguments whose `repr` and `str` are distinct tokens), not read from its source; the test
//! `observed_effects_match_live_cpython_313` renders this table in the script's notation and
//! compares it with a fresh run. A class or arity not listed here loads as before (the
//! arguments and state exactly as the pickle holds them).

/// One piece of a text an `__init__` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text.
    Lit(&'static str),
    /// `repr()` of positional argument I.
    Repr(usize),
    /// `str()` of positional argument I.
    Str(usize),
}

/// A value an argument slot or attribute holds after construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Made {
    /// Positional argument I itself (the same object).
    Arg(usize),
    /// `None`.
    None,
    /// A new empty list.
    EmptyList,
    /// A new str: the pieces concatenated.
    Text(&'static [Piece]),
    /// The K-th new object (`EmptyList` or `Text`, counted over `args` then the dict's values
    /// in order) again.
    Same(usize),
}

/// The observable result of `module.name(*args)` with `arity` positional arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Construction {
    /// The class's module.
    pub module: &'static str,
    /// The class's name.
    pub name: &'static str,
    /// The number of positional arguments.
    pub arity: usize,
    /// The instance's `args`: a new tuple of these values (no class here keeps the tuple
    /// the call received; the observer would print `orig`).
    pub args: &'static [Made],
    /// The instance dict in insertion order, `None` when the instance has none (the
    /// re-dump then has no BUILD).
    pub dict: Option<&'static [(&'static str, Made)]>,
}

/// Attribute names whose setattr on these classes does not store into the instance dict
/// (the data descriptors every class of [`CONSTRUCTIONS`] has, as observed): a BUILD state
/// naming one of them, or any other `__dunder__` name, is left as the pickle holds it.
pub(crate) const SETATTR_DESCRIPTORS: &[&str] = &[
    "__cause__",
    "__context__",
    "__suppress_context__",
    "__traceback__",
    "__weakref__",
    "args",
];

use Made::{Arg, EmptyList, Same, Text};
use Piece::{Lit, Repr, Str};

const fn c(
    module: &'static str,
    name: &'static str,
    arity: usize,
    args: &'static [Made],
    dict: Option<&'static [(&'static str, Made)]>,
) -> Construction {
    Construction {
        module,
        name,
        arity,
        args,
        dict,
    }
}

const CP: &str = "configparser";
const HC: &str = "http.client";
const TS: &str = "test.support";
const TEST_FAILED_DICT: Option<&[(&str, Made)]> = Some(&[("msg", Arg(0)), ("stats", Made::None)]);

/// Every (class, arity) whose construction CPython 3.13 completes, for the classes whose
/// `__init__` changes what their re-dump holds (sorted by module, name, arity).
pub(crate) const CONSTRUCTIONS: &[Construction] = &[
    c(
        CP,
        "DuplicateSectionError",
        1,
        &[Arg(0), Made::None, Made::None],
        Some(&[
            ("message", Text(&[Lit("Section "), Repr(0), Lit(" already exists")])),
            ("section", Arg(0)),
            ("source", Made::None),
            ("lineno", Made::None),
        ]),
    ),
    c(
        CP,
        "DuplicateSectionError",
        2,
        &[Arg(0), Arg(1), Made::None],
        Some(&[
            (
                "message",
                Text(&[
                    Lit("While reading from "),
                    Repr(1),
                    Lit(": section "),
                    Repr(0),
                    Lit(" already exists"),
                ]),
            ),
            ("section", Arg(0)),
            ("source", Arg(1)),
            ("lineno", Made::None),
        ]),
    ),
    c(
        CP,
        "Error",
        0,
        &[Text(&[])],
        Some(&[("message", Same(0))]),
    ),
    c(
        CP,
        "Error",
        1,
        &[Arg(0)],
        Some(&[("message", Arg(0))]),
    ),
    c(
        CP,
        "InterpolationDepthError",
        3,
        &[Arg(0), Arg(1), Arg(2)],
        Some(&[
            (
                "message",
                Text(&[
                    Lit("Recursion limit exceeded in value substitution: option "),
                    Repr(0),
                    Lit(" in section "),
                    Repr(1),
                    Lit(" contains an interpolation key which cannot be substituted in 10 steps. Raw value: "),
                    Repr(2),
                ]),
            ),
            ("option", Arg(0)),
            ("section", Arg(1)),
        ]),
    ),
    c(
        CP,
        "InterpolationError",
        3,
        &[Arg(0), Arg(1), Arg(2)],
        Some(&[("message", Arg(2)), ("option", Arg(0)), ("section", Arg(1))]),
    ),
    c(
        CP,
        "InterpolationSyntaxError",
        3,
        &[Arg(0), Arg(1), Arg(2)],
        Some(&[("message", Arg(2)), ("option", Arg(0)), ("section", Arg(1))]),
    ),
    c(
        CP,
        "NoOptionError",
        2,
        &[Arg(0), Arg(1)],
        Some(&[
            (
                "message",
                Text(&[Lit("No option "), Repr(0), Lit(" in section: "), Repr(1)]),
            ),
            ("option", Arg(0)),
            ("section", Arg(1)),
        ]),
    ),
    c(
        CP,
        "NoSectionError",
        1,
        &[Arg(0)],
        Some(&[
            ("message", Text(&[Lit("No section: "), Repr(0)])),
            ("section", Arg(0)),
        ]),
    ),
    c(
        CP,
        "ParsingError",
        1,
        &[Arg(0)],
        Some(&[
            (
                "message",
                Text(&[Lit("Source contains parsing errors: "), Repr(0)]),
            ),
            ("source", Arg(0)),
            ("errors", EmptyList),
        ]),
    ),
    c(
        HC,
        "IncompleteRead",
        1,
        &[Arg(0)],
        Some(&[("partial", Arg(0)), ("expected", Made::None)]),
    ),
    c(
        HC,
        "IncompleteRead",
        2,
        &[Arg(0)],
        Some(&[("partial", Arg(0)), ("expected", Arg(1))]),
    ),
    c(
        HC,
        "LineTooLong",
        1,
        &[Text(&[
            Lit("got more than 65536 bytes when reading "),
            Str(0),
        ])],
        None,
    ),
    c(TS, "TestFailed", 1, &[Arg(0)], TEST_FAILED_DICT),
    c(
        TS,
        "TestFailed",
        2,
        &[Arg(0), Arg(1)],
        TEST_FAILED_DICT,
    ),
    c(
        TS,
        "TestFailed",
        3,
        &[Arg(0), Arg(1), Arg(2)],
        TEST_FAILED_DICT,
    ),
    c(
        TS,
        "TestFailed",
        4,
        &[Arg(0), Arg(1), Arg(2), Arg(3)],
        TEST_FAILED_DICT,
    ),
];

/// The construction of `module.name` with `arity` positional arguments, if listed.
pub(crate) fn lookup(module: &str, name: &str, arity: usize) -> Option<&'static Construction> {
    CONSTRUCTIONS
        .iter()
        .find(|c| c.module == module && c.name == name && c.arity == arity)
}

/// Whether BUILD's setattr of `key` on a listed class stores into the instance dict.
pub(crate) fn stored_in_dict(key: &str) -> bool {
    let dunder = key.starts_with("__") && key.ends_with("__");
    !dunder && !SETATTR_DESCRIPTORS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::live_reference::{python_or_skip, Python};

    /// The classes of the table, in the observer's order.
    fn classes() -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = CONSTRUCTIONS.iter().map(|c| (c.module, c.name)).collect();
        v.dedup();
        v
    }

    fn text(pieces: &[Piece]) -> String {
        let mut out = String::from("\"");
        for p in pieces {
            match p {
                Lit(s) => {
                    for ch in s.chars() {
                        match ch {
                            '{' => out.push_str("{{"),
                            '}' => out.push_str("}}"),
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str("\\n"),
                            '\t' => out.push_str("\\t"),
                            c => out.push(c),
                        }
                    }
                }
                Repr(i) => out.push_str(&format!("{{r{i}}}")),
                Str(i) => out.push_str(&format!("{{s{i}}}")),
            }
        }
        out.push('"');
        out
    }

    /// The table in observe_construction.py's notation (see its docstring).
    fn render() -> String {
        let mut out = String::new();
        for (module, name) in classes() {
            for n in 0..5 {
                out.push_str(&format!("{module}.{name}/{n}\t"));
                let Some(c) = lookup(module, name, n) else {
                    out.push_str("raises\n");
                    continue;
                };
                let mut fresh = 0;
                let mut value = |m: &Made| match m {
                    Arg(i) => format!("a{i}"),
                    Made::None => "None".to_string(),
                    EmptyList => {
                        fresh += 1;
                        format!("[]#{}", fresh - 1)
                    }
                    Text(p) => {
                        fresh += 1;
                        format!("{}#{}", text(p), fresh - 1)
                    }
                    Same(k) => format!("#{k}"),
                };
                let args: Vec<String> = c.args.iter().map(&mut value).collect();
                let args = format!("({})", args.join(", "));
                let dict = match c.dict {
                    None => "none".to_string(),
                    Some(d) => {
                        let v: Vec<String> = d
                            .iter()
                            .map(|(k, m)| format!("{k}: {}", value(m)))
                            .collect();
                        format!("{{{}}}", v.join(", "))
                    }
                };
                out.push_str(&format!("args={args}\tdict={dict}\n"));
            }
            out.push_str(&format!(
                "{module}.{name}\tsetattr-descriptors={}\n",
                SETATTR_DESCRIPTORS.join(",")
            ));
        }
        out
    }

    #[test]
    fn table_is_sorted_and_unique() {
        for w in CONSTRUCTIONS.windows(2) {
            assert!(
                (w[0].module, w[0].name, w[0].arity) < (w[1].module, w[1].name, w[1].arity),
                "{:?} then {:?}",
                w[0],
                w[1]
            );
        }
        assert!(!stored_in_dict("args") && !stored_in_dict("__notes__"));
        assert!(stored_in_dict("message") && stored_in_dict("_Error__message"));
    }

    /// The table says what live CPython 3.13 does: observe_construction.py's output (the
    /// classes called with marker arguments, arities 0..4) equals the table rendered in the
    /// same notation, line for line.
    #[test]
    fn observed_effects_match_live_cpython_313() {
        let Some(py) = python_or_skip(
            Python::Py313,
            "import configparser, http.client, test.support",
        ) else {
            return;
        };
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pickle/compat/observe_construction.py");
        let out = std::process::Command::new(py)
            .arg(&script)
            .output()
            .expect("run observe_construction.py with CPython 3.13");
        assert!(
            out.status.success(),
            "observe_construction.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let observed = String::from_utf8(out.stdout).expect("the observer prints UTF-8");
        let table = render();
        for (o, t) in observed.lines().zip(table.lines()) {
            assert_eq!(t, o, "table (left) differs from live CPython 3.13 (right)");
        }
        assert_eq!(table.lines().count(), observed.lines().count());
    }
}
