//! # pydbm-etcd
//!
//! [`EtcdDbm`]: pydbm's [`pydbm_engine::Dbm`] mapping over one key prefix of an etcd v3
//! cluster, addressed as `etcd://HOST:PORT[,HOST:PORT…]/PREFIX` ([`EtcdAddress`]).
//! Record `key` is the etcd key `/PREFIX/` + `key`, so `etcdctl get --prefix /PREFIX/`
//! lists a database. [`EtcdTransaction`] sends many writes as one etcd `Txn`.
//! Guarantees, limits and the key layout: `docs/etcd.md`.
//!
//! [`test_cluster`] starts a throw-away 3-member cluster from the `etcd` binary for tests.
#![warn(missing_docs)]

pub mod address;
mod failure;
pub mod format;
pub mod request_size;
mod store;
#[cfg(feature = "test-support")]
pub mod test_cluster;

pub use address::{is_etcd_address, EtcdAddress};
pub use format::{EtcdFormat, FORMAT};
pub use store::{
    EtcdDbm, EtcdOptions, EtcdTransaction, DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, MODULE,
};
