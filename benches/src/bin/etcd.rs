//! The etcd backend: N sets then N gets through `EtcdDbm` against the same requests made
//! with `etcd-client` directly (its async API awaited one at a time on a current-thread
//! tokio runtime, as `EtcdDbm` does), then the N sets as `EtcdTransaction`s of 1,000 keys.
//! One 3-member cluster from `/usr/bin/etcd` on loopback (`pydbm_etcd::test_cluster`,
//! data in /dev/shm), one run; the two loops alternate twice and the better of each is
//! reported, so a load spike does not decide the ratio.
//!
//! `cargo run --release -p pydbm-benches --bin etcd [N]` (default 10,000). Keys are
//! 16 bytes, values 100 bytes. Times are wall clock (the work is round trips to etcd).

use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};
use pydbm_engine::{Dbm, OpenMode};
use pydbm_etcd::test_cluster::TestCluster;
use pydbm_etcd::{EtcdDbm, EtcdOptions};

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:012}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    (0..100).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

/// Seconds of (sets, gets).
fn run_etcd_dbm(address: &str, n: usize) -> (f64, f64) {
    let opts = EtcdOptions {
        timeout: Duration::from_secs(30),
        ..EtcdOptions::default()
    };
    let mut db = EtcdDbm::open(address, OpenMode::New, opts).expect("open");
    let t0 = Instant::now();
    for i in 0..n {
        db.insert(&key(i), &value(i)).expect("insert");
    }
    let t1 = Instant::now();
    for i in 0..n {
        assert_eq!(db.get(&key(i)).expect("get"), Some(value(i)));
    }
    let t2 = Instant::now();
    db.close().expect("close");
    ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64())
}

/// The same requests through etcd-client: keys `PREFIX/` + key, as EtcdDbm stores them.
fn run_raw(endpoints: &[String], prefix: &str, n: usize) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = ConnectOptions::new()
            .with_timeout(Duration::from_secs(30))
            .with_require_leader(true);
        let client = Client::connect(endpoints, Some(opts))
            .await
            .expect("connect");
        let mut kv = client.kv_client();
        let full = |i: usize| {
            let mut k = format!("{prefix}/").into_bytes();
            k.extend(key(i));
            k
        };
        let t0 = Instant::now();
        for i in 0..n {
            kv.put(full(i), value(i), None).await.expect("put");
        }
        let t1 = Instant::now();
        for i in 0..n {
            let resp = kv.get(full(i), None).await.expect("get");
            assert_eq!(resp.kvs()[0].value(), value(i).as_slice());
        }
        let t2 = Instant::now();
        ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64())
    })
}

/// Seconds to write N keys as transactions of `batch` keys.
fn run_transactions(address: &str, n: usize, batch: usize) -> f64 {
    let mut db = EtcdDbm::open(address, OpenMode::New, EtcdOptions::default()).expect("open");
    let t0 = Instant::now();
    for start in (0..n).step_by(batch) {
        let mut txn = db.transaction();
        for i in start..(start + batch).min(n) {
            txn.insert(&key(i), &value(i));
        }
        txn.commit().expect("commit");
    }
    let took = t0.elapsed().as_secs_f64();
    assert_eq!(db.len().expect("len"), n);
    took
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N is a count"))
        .unwrap_or(10_000);
    let Some(cluster) = TestCluster::start_or_skip(3) else {
        return;
    };
    let endpoints: Vec<String> = cluster
        .endpoints()
        .split(',')
        .map(|e| format!("http://{e}"))
        .collect();
    let mut best_dbm = (f64::MAX, f64::MAX);
    let mut best_raw = (f64::MAX, f64::MAX);
    for round in 0..2 {
        let raw = run_raw(&endpoints, &format!("/raw{round}"), n);
        let dbm = run_etcd_dbm(&cluster.address(&format!("/dbm{round}"), ""), n);
        println!(
            "round {round}: EtcdDbm set {:.3}s get {:.3}s | etcd-client set {:.3}s get {:.3}s",
            dbm.0, dbm.1, raw.0, raw.1
        );
        if dbm.0 + dbm.1 < best_dbm.0 + best_dbm.1 {
            best_dbm = dbm;
        }
        if raw.0 + raw.1 < best_raw.0 + best_raw.1 {
            best_raw = raw;
        }
    }
    let ops = (2 * n) as f64;
    let dbm_rate = ops / (best_dbm.0 + best_dbm.1);
    let raw_rate = ops / (best_raw.0 + best_raw.1);
    println!(
        "{n} sets + {n} gets: EtcdDbm {dbm_rate:.0} ops/s (set {:.3}s, get {:.3}s), \
         etcd-client {raw_rate:.0} ops/s (set {:.3}s, get {:.3}s); throughput ratio {:.3}",
        best_dbm.0,
        best_dbm.1,
        best_raw.0,
        best_raw.1,
        dbm_rate / raw_rate
    );
    let txn = run_transactions(&cluster.address("/txn", ""), n, 1000);
    println!(
        "{n} sets as transactions of 1,000: {txn:.3}s ({:.0} sets/s, {:.1}x the one-at-a-time EtcdDbm sets)",
        n as f64 / txn,
        best_dbm.0 / txn
    );
}
