//! `Shelf`: Python's `shelve.Shelf` — a persistent dictionary of pickled values over any
//! [`Dbm`].
//!
//! python-formats spec §4: keys are `str`, stored UTF-8 encoded (`keyencoding="utf-8"`);
//! each value is its own pickle, written with a fresh memo at the shelf's protocol (CPython
//! 3.10–3.13's default is `pickle.DEFAULT_PROTOCOL` = 4), read back with `pickle.loads`'
//! defaults. With `writeback`, values read or stored are kept in a cache; `sync` pickles
//! every cached value again (so changes made through [`Shelf::get_mut`] persist), empties
//! the cache and syncs the database; `close` is `sync` then the database's close, after
//! which every call fails ("invalid operation on closed shelf"). Values are `Pickle` graphs
//! ([`Shelf::get_pickle`]) or any serde type ([`Shelf::get`], [`Shelf::insert`]).
//!
//! # Example
//!
//! A shelf of serde structs over a gdbm file (in memory here; any [`Dbm`] works, e.g.
//! `pydbm::open`'s `Box<dyn Dbm>` with [`Shelf::from_box`]). The record stored is the pickle
//! CPython's `shelve` stores for the same dict:
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use pydbm_engine::{Dbm, MemVfs, OpenOptions, Vfs};
//! use pydbm_formats::gnu;
//! use pydbm_shelve::shelf::Shelf;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Person {
//!     name: String,
//!     born: u32,
//!     langs: Vec<String>,
//! }
//!
//! let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
//! let path = Path::new("/mem/people");
//! let db = gnu::open_with(vfs.clone(), path, &OpenOptions::from_flag("c")?, Default::default())?;
//! let mut shelf = Shelf::new(db);
//! let ada = Person { name: "Ada".into(), born: 1815, langs: vec!["en".into(), "fr".into()] };
//! shelf.insert("ada", &ada)?;
//! assert_eq!(shelf.get::<Person>("ada")?, Some(ada));
//! assert_eq!(shelf.get::<Person>("grace")?, None);
//! let repr = pydbm_shelve::pickle::repr::repr(&shelf.get_pickle("ada")?.expect("stored"))?;
//! assert_eq!(repr, "{'name': 'Ada', 'born': 1815, 'langs': ['en', 'fr']}");
//! assert_eq!(shelf.keys()?, vec!["ada".to_string()]);
//! shelf.close()?;
//!
//! // CPython 3.13: pickle.dumps({'name': 'Ada', 'born': 1815, 'langs': ['en', 'fr']}, 4)
//! let cpython: &[u8] = b"\x80\x04\x952\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x04name\x94\x8c\x03Ada\x94\
//!     \x8c\x04born\x94M\x17\x07\x8c\x05langs\x94]\x94(\x8c\x02en\x94\x8c\x02fr\x94eu.";
//! let mut raw = gnu::open_with(vfs, path, &OpenOptions::from_flag("r")?, Default::default())?;
//! assert_eq!(raw.get(b"ada")?.as_deref(), Some(cpython));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use pydbm_engine::{Dbm, Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::pickle::{self, LoadOptions, Pickle};

/// `shelve`'s default protocol in CPython 3.10–3.13 (`pickle.DEFAULT_PROTOCOL`; spec §4).
pub const DEFAULT_PROTOCOL: u8 = pickle::DEFAULT_PROTOCOL;

/// Settings of a [`Shelf`] (`shelve.Shelf(dict, protocol=None, writeback=False)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShelfOptions {
    /// Pickle protocol for stored values (0–5).
    pub protocol: u8,
    /// Cache values and write them all back on `sync`/`close`.
    pub writeback: bool,
}

impl Default for ShelfOptions {
    fn default() -> Self {
        ShelfOptions {
            protocol: DEFAULT_PROTOCOL,
            writeback: false,
        }
    }
}

/// A dictionary of pickled values keyed by `str`, over a dbm database `D`.
///
/// `D` may be a concrete format or `dyn Dbm` (the default), e.g. what `pydbm::open`
/// returns. Dropping an open shelf closes it as Python's `__del__` does, ignoring errors;
/// call [`Shelf::close`] to see them.
pub struct Shelf<D: Dbm + ?Sized = dyn Dbm> {
    dict: Option<Box<D>>,
    path: PathBuf,
    opts: ShelfOptions,
    load: LoadOptions,
    cache: HashMap<String, Pickle>,
}

fn closed(path: &std::path::Path) -> Error {
    Error::Closed {
        path: path.to_path_buf(),
    }
}

impl<D: Dbm> Shelf<D> {
    /// `shelve.Shelf(dict)` with default options.
    pub fn new(dict: D) -> Shelf<D> {
        Shelf::from_box(Box::new(dict), ShelfOptions::default())
    }

    /// `shelve.Shelf(dict, protocol, writeback)`.
    pub fn with_options(dict: D, opts: ShelfOptions) -> Shelf<D> {
        Shelf::from_box(Box::new(dict), opts)
    }
}

impl<D: Dbm + ?Sized> Shelf<D> {
    /// A shelf over an already boxed database (`Box<dyn Dbm>` from `pydbm::open`).
    pub fn from_box(dict: Box<D>, opts: ShelfOptions) -> Shelf<D> {
        let path = dict.path().to_path_buf();
        Shelf {
            dict: Some(dict),
            path,
            opts,
            load: LoadOptions::default(),
            cache: HashMap::new(),
        }
    }

    /// The options the shelf was made with.
    pub fn options(&self) -> ShelfOptions {
        self.opts
    }

    fn dict(&mut self) -> Result<&mut D> {
        match self.dict.as_deref_mut() {
            Some(d) => Ok(d),
            None => Err(closed(&self.path)),
        }
    }

    /// `shelf[key]` as a Rust type through serde (`pickle::from_pickle`): `None` when the
    /// key is absent. Errors: [`Shelf::get_pickle`]'s, or a value that does not fit `T`.
    pub fn get<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        match self.get_pickle(key)? {
            Some(p) => Ok(Some(pickle::from_pickle(&p)?)),
            None => Ok(None),
        }
    }

    /// `shelf[key] = value` for a Rust value through serde (`pickle::to_pickle`), pickled
    /// at the shelf's protocol. Errors: [`Shelf::insert_pickle`]'s, or serde's.
    pub fn insert<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let p = pickle::to_pickle(value)?;
        self.insert_pickle(key, &p)
    }

    /// `shelf[key]` / `shelf.get(key)` as the loaded value graph, or `None`.
    ///
    /// With writeback, a value read from the database is cached (later reads return the
    /// cached value). Errors: the database's, or a malformed pickle.
    pub fn get_pickle(&mut self, key: &str) -> Result<Option<Pickle>> {
        if let Some(v) = self.cache.get(key) {
            return Ok(Some(v.clone()));
        }
        let Some(bytes) = self.dict()?.get(key.as_bytes())? else {
            return Ok(None);
        };
        let value = pickle::loads(&bytes, &self.load)?;
        if self.opts.writeback {
            self.cache.insert(key.to_string(), value.clone());
        }
        Ok(Some(value))
    }

    /// A mutable reference to the cached value of `key` (writeback shelves only: changes
    /// are written by the next [`Shelf::sync`] or [`Shelf::close`]). Fails with
    /// [`Error::BadArgument`] on a shelf without writeback, where a change could not persist.
    pub fn get_mut(&mut self, key: &str) -> Result<Option<&mut Pickle>> {
        if !self.opts.writeback {
            return Err(Error::BadArgument(
                "get_mut needs a writeback shelf: without writeback, changes to a fetched value are not stored"
                    .into(),
            ));
        }
        if !self.cache.contains_key(key) && self.get_pickle(key)?.is_none() {
            return Ok(None);
        }
        Ok(self.cache.get_mut(key))
    }

    /// `shelf[key] = value` for a value graph: pickles `value` at the shelf's protocol and
    /// stores it at once (also with writeback, which caches it too). Errors: the
    /// database's, or a value the protocol cannot hold.
    pub fn insert_pickle(&mut self, key: &str, value: &Pickle) -> Result<()> {
        if self.dict.is_none() {
            return Err(closed(&self.path));
        }
        if self.opts.writeback {
            self.cache.insert(key.to_string(), value.clone());
        }
        let bytes = pickle::dumps(value, self.opts.protocol)?;
        self.dict()?.insert(key.as_bytes(), &bytes)
    }

    /// `del shelf[key]`: returns whether the key was there (Python raises `KeyError`).
    pub fn remove(&mut self, key: &str) -> Result<bool> {
        let existed = self.dict()?.remove(key.as_bytes())?;
        self.cache.remove(key);
        Ok(existed)
    }

    /// `key in shelf`.
    pub fn contains(&mut self, key: &str) -> Result<bool> {
        self.dict()?.contains(key.as_bytes())
    }

    /// `len(shelf)`.
    pub fn len(&mut self) -> Result<usize> {
        self.dict()?.len()
    }

    /// `len(shelf) == 0`.
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `list(shelf.keys())`, decoded from UTF-8 in the database's order. A key that is not
    /// UTF-8 (written by another tool) fails as Python's iteration does, with
    /// [`Error::Corrupt`] naming the key's position in the listing.
    pub fn keys(&mut self) -> Result<Vec<String>> {
        let raw = self.dict()?.keys()?;
        let mut keys = Vec::with_capacity(raw.len());
        for (i, k) in raw.into_iter().enumerate() {
            match String::from_utf8(k) {
                Ok(s) => keys.push(s),
                Err(_) => {
                    return Err(Error::corrupt(
                        &self.path,
                        i as u64,
                        "a UTF-8 key (shelve's keyencoding); UnicodeDecodeError in Python",
                    ))
                }
            }
        }
        Ok(keys)
    }

    /// `shelf.sync()`: with writeback, pickles every cached value again and empties the
    /// cache; then syncs the database.
    pub fn sync(&mut self) -> Result<()> {
        if self.dict.is_none() {
            return Err(closed(&self.path));
        }
        let cache = std::mem::take(&mut self.cache);
        let protocol = self.opts.protocol;
        let dict = self.dict()?;
        for (key, value) in &cache {
            let bytes = pickle::dumps(value, protocol)?;
            dict.insert(key.as_bytes(), &bytes)?;
        }
        dict.sync()
    }

    /// `shelf.close()`: [`Shelf::sync`], then closes the database. Closing twice is fine;
    /// every other call afterwards fails with [`Error::Closed`].
    pub fn close(&mut self) -> Result<()> {
        if self.dict.is_none() {
            return Ok(());
        }
        let synced = self.sync();
        let closed = match self.dict.take() {
            Some(mut d) => d.close(),
            None => Ok(()),
        };
        self.cache.clear();
        synced.and(closed)
    }
}

impl<D: Dbm + ?Sized> Drop for Shelf<D> {
    fn drop(&mut self) {
        // Python's Shelf.__del__ closes; errors cannot be reported from drop.
        let _ = self.close();
    }
}
