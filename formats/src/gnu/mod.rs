//! gdbm 1.23 (`dbm.gnu`): see docs/gdbm.md and the spec.
