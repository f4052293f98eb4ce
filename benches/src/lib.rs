//! Shared harness for pydbm's side-by-side benchmarks.
