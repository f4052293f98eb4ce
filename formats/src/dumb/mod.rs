//! CPython's `dbm.dumb`: the `.dat`/`.dir`/`.bak` triple.
