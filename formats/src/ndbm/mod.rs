//! `dbm.ndbm`: Berkeley DB 5.3 hash, gdbm_compat `.pag`/`.dir`, db1.85 (read-only).
