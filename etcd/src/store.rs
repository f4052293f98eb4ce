//! [`EtcdDbm`]: the [`Dbm`] mapping over one key prefix of an etcd cluster.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, DeleteOptions, GetOptions, KvClient, Txn, TxnOp};
use pydbm_engine::{CursorPosition, Dbm, Error, OpenMode, RemoteFailure, Result};

use crate::address::EtcdAddress;
use crate::failure;
use crate::request_size::{self, DEFAULT_MAX_REQUEST_BYTES, PROPOSAL_OVERHEAD};

/// The module name [`Dbm::module`] and `whichdb` give for etcd databases.
pub const MODULE: &str = "etcd";

/// Default bound on connecting and on each request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys fetched per range read while iterating.
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// Settings of an [`EtcdDbm`] besides its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Bound on connecting and on each request (the address's `?timeout=` overrides it).
    /// A write that times out may or may not have been applied; the error says so.
    pub timeout: Duration,
    /// Largest request sent (etcd's `--max-request-bytes`, default 1.5 MiB); a larger one
    /// fails locally with [`RemoteFailure::TooLarge`] before anything is sent.
    pub max_request_bytes: usize,
    /// Keys fetched per range read by [`Dbm::keys`].
    pub page_size: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            timeout: DEFAULT_TIMEOUT,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// A dbm mapping stored in an etcd cluster under one key prefix.
///
/// Record `key` is the etcd key `PREFIX/` + `key`; its value is the etcd value. Every call
/// is one or a few etcd requests, run to completion on a private single-threaded tokio
/// runtime: the call returns once the cluster has answered. Writes are acknowledged after
/// Raft has committed them on a majority of members (each member persists its log with
/// fsync before acknowledging), so [`Dbm::sync`] has nothing left to do. Reads are etcd's
/// default linearizable reads. Requests are never retried by pydbm: a request that fails
/// is reported, with whether it may have been applied.
pub struct EtcdDbm {
    address: EtcdAddress,
    shown: PathBuf,
    options: EtcdOptions,
    writable: bool,
    runtime: tokio::runtime::Runtime,
    /// `None` once closed.
    kv: Option<KvClient>,
    /// The puts and deletes of an open [`pydbm_engine::Transaction`] (with their encoded
    /// size), sent as one `Txn` at its commit; `None` outside one.
    pending: Option<(Vec<BatchOp>, usize)>,
}

impl std::fmt::Debug for EtcdDbm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdDbm")
            .field("address", &self.address)
            .field("writable", &self.writable)
            .field("closed", &self.kv.is_none())
            .finish()
    }
}

impl EtcdDbm {
    /// Opens the database at `address` (`etcd://HOST:PORT[,…]/PREFIX[?timeout=SECONDS]`)
    /// with Python's flag semantics: [`OpenMode::Read`] refuses writes,
    /// [`OpenMode::New`] deletes every record under the prefix (one request), the others
    /// open the prefix as it is (an etcd prefix always exists, possibly empty).
    ///
    /// Fails with [`Error::BadArgument`] for a malformed address and [`Error::Remote`] when
    /// no endpoint answers, authentication fails or the cluster refuses the first request.
    pub fn open(address: &str, mode: OpenMode, options: EtcdOptions) -> Result<EtcdDbm> {
        let address = EtcdAddress::parse(address)?;
        let mut options = options;
        if let Some(t) = address.timeout {
            options.timeout = t;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                failure::remote(
                    &address,
                    RemoteFailure::Rejected,
                    format!("cannot start the I/O runtime for the etcd client: {e}"),
                )
            })?;
        if !failure::any_endpoint_accepts(&address, options.timeout) {
            return Err(failure::unreachable(&address, "connect"));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.timeout)
            .with_timeout(options.timeout)
            // A member without a leader refuses at once ("etcdserver: no leader") instead
            // of holding the request until it times out.
            .with_require_leader(true);
        if let Some((name, password)) = &address.user {
            connect = connect.with_user(name.clone(), password.clone());
        }
        let endpoints: Vec<String> = address
            .endpoints
            .iter()
            .map(|e| format!("http://{e}"))
            .collect();
        let client = bounded(&runtime, &address, "connect", options.timeout, || {
            Client::connect(endpoints.clone(), Some(connect.clone()))
        })?;
        let mut db = EtcdDbm {
            shown: PathBuf::from(address.display()),
            address,
            options,
            writable: mode.writable(),
            runtime,
            kv: Some(client.kv_client()),
            pending: None,
        };
        if mode == OpenMode::New {
            db.clear()?;
        } else {
            // One linearizable read proves the cluster answers with a leader and the user
            // may read the prefix, so a bad address fails at open, not at the first get.
            db.len()?;
        }
        Ok(db)
    }

    /// The parsed address (endpoints, prefix, user; never printed with its password).
    pub fn address(&self) -> &EtcdAddress {
        &self.address
    }

    /// The settings in force (timeout after the address's `?timeout=`).
    pub fn options(&self) -> &EtcdOptions {
        &self.options
    }

    /// Deletes every record under the prefix in one request (all or nothing).
    pub fn clear(&mut self) -> Result<()> {
        self.check_writable()?;
        let (start, end) = self.address.record_range();
        self.run("delete of every record", |mut kv| {
            let (start, end) = (start.clone(), end.clone());
            async move {
                kv.delete(start, Some(DeleteOptions::new().with_range(end)))
                    .await
            }
        })?;
        Ok(())
    }

    /// The number of records and the cluster revision the count was taken at (one
    /// `count_only` range read).
    pub fn count_at_revision(&mut self) -> Result<(usize, i64)> {
        let (start, end) = self.address.record_range();
        let resp = self.run("count", |mut kv| {
            let (start, end) = (start.clone(), end.clone());
            async move {
                kv.get(
                    start,
                    Some(GetOptions::new().with_range(end).with_count_only()),
                )
                .await
            }
        })?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        Ok((usize::try_from(resp.count()).unwrap_or(0), revision))
    }

    /// Starts a transaction: puts and deletes collected locally and sent as one etcd `Txn`
    /// by [`EtcdTransaction::commit`], applied all or nothing.
    pub fn transaction(&mut self) -> EtcdTransaction<'_> {
        EtcdTransaction {
            db: self,
            ops: Vec::new(),
            encoded_len: 0,
        }
    }

    fn kv(&self) -> Result<KvClient> {
        self.kv.clone().ok_or_else(|| Error::Closed {
            path: self.shown.clone(),
        })
    }

    fn check_writable(&self) -> Result<()> {
        self.kv()?;
        if self.writable {
            Ok(())
        } else {
            Err(Error::ReadOnly {
                path: self.shown.clone(),
            })
        }
    }

    fn check_size(&self, request: &str, encoded_len: usize) -> Result<()> {
        if encoded_len + PROPOSAL_OVERHEAD > self.options.max_request_bytes {
            return Err(failure::remote(
                &self.address,
                RemoteFailure::TooLarge,
                format!(
                    "{request}: {encoded_len} bytes encoded, over the request limit of {} \
                     bytes (etcd's --max-request-bytes, default 1.5 MiB, less {PROPOSAL_OVERHEAD} \
                     for the proposal header); nothing was sent: split it, or raise the \
                     server's limit and EtcdOptions::max_request_bytes",
                    self.options.max_request_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Runs the request `attempt` makes on a clone of the client, within the timeout,
    /// mapping failures ([`bounded`]).
    fn run<T, Fut>(&self, request: &str, mut attempt: impl FnMut(KvClient) -> Fut) -> Result<T>
    where
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let kv = self.kv()?;
        bounded(
            &self.runtime,
            &self.address,
            request,
            self.options.timeout,
            || attempt(kv.clone()),
        )
    }
}

/// Pause before re-sending a request whose connection could not be made.
const UNSENT_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Runs the request `attempt` makes, for at most `timeout` in all, mapping a client error
/// or the timeout to [`Error::Remote`].
///
/// The one retry: when the member the client picked refused the TCP connection (a member
/// that is down; the client's balancer does not know yet), the request was provably never
/// sent, so it is made again (possibly on another member) until the deadline. Nothing that
/// may have reached a member is ever re-sent (etcd's Go client follows the same rule for
/// mutations).
fn bounded<T, Fut>(
    runtime: &tokio::runtime::Runtime,
    address: &EtcdAddress,
    request: &str,
    timeout: Duration,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T>
where
    Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
{
    let deadline = Instant::now() + timeout;
    runtime.block_on(async {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, attempt()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e))
                    if failure::never_sent(&e)
                        && Instant::now() + UNSENT_RETRY_PAUSE < deadline =>
                {
                    tokio::time::sleep(UNSENT_RETRY_PAUSE).await;
                }
                Ok(Err(e)) => return Err(failure::from_client(address, request, timeout, e)),
                Err(_elapsed) => return Err(failure::timed_out(address, request, timeout)),
            }
        }
    })
}

impl EtcdDbm {
    /// What the open transaction last did to `etcd_key`: `Some(Some(value))` a put,
    /// `Some(None)` a delete, `None` nothing.
    fn pending_value(&self, etcd_key: &[u8]) -> Option<Option<Vec<u8>>> {
        let (ops, _) = self.pending.as_ref()?;
        ops.iter().rev().find_map(|op| match op {
            BatchOp::Put(k, v) if k == etcd_key => Some(Some(v.clone())),
            BatchOp::Delete(k) if k == etcd_key => Some(None),
            _ => None,
        })
    }
}

impl Dbm for EtcdDbm {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let etcd_key = self.address.record_key(key);
        if let Some(v) = self.pending_value(&etcd_key) {
            return Ok(v);
        }
        let mut resp = self.run("get", |mut kv| {
            let etcd_key = etcd_key.clone();
            async move { kv.get(etcd_key, None).await }
        })?;
        Ok(resp
            .take_kvs()
            .into_iter()
            .next()
            .map(|kv| kv.into_key_value().1))
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_writable()?;
        let etcd_key = self.address.record_key(key);
        self.check_size("put", request_size::put_len(etcd_key.len(), value.len()))?;
        if let Some((ops, len)) = &mut self.pending {
            *len += request_size::txn_op_len(request_size::put_len(etcd_key.len(), value.len()));
            ops.push(BatchOp::Put(etcd_key, value.to_vec()));
            return Ok(());
        }
        self.run("put", |mut kv| {
            let (etcd_key, value) = (etcd_key.clone(), value.to_vec());
            async move { kv.put(etcd_key, value, None).await }
        })?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        self.check_writable()?;
        if self.pending.is_some() {
            // Whether the key is there as the transaction sees it; a delete is queued only
            // for a present key.
            let present = self.contains(key)?;
            if present {
                let etcd_key = self.address.record_key(key);
                if let Some((ops, len)) = &mut self.pending {
                    *len += request_size::txn_op_len(request_size::delete_len(etcd_key.len()));
                    ops.push(BatchOp::Delete(etcd_key));
                }
            }
            return Ok(present);
        }
        let etcd_key = self.address.record_key(key);
        let resp = self.run("delete", |mut kv| {
            let etcd_key = etcd_key.clone();
            async move { kv.delete(etcd_key, None).await }
        })?;
        Ok(resp.deleted() > 0)
    }

    fn contains(&mut self, key: &[u8]) -> Result<bool> {
        let etcd_key = self.address.record_key(key);
        if let Some(v) = self.pending_value(&etcd_key) {
            return Ok(v.is_some());
        }
        let resp = self.run("get", |mut kv| {
            let etcd_key = etcd_key.clone();
            async move {
                kv.get(etcd_key, Some(GetOptions::new().with_count_only()))
                    .await
            }
        })?;
        Ok(resp.count() > 0)
    }

    /// Every key in etcd's key order (bytewise), read in pages of
    /// [`EtcdOptions::page_size`] keys at one revision, so the list is one consistent
    /// snapshot even while others write.
    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        let (mut start, end) = self.address.record_range();
        let strip = start.len();
        let page = i64::try_from(self.options.page_size.max(1)).unwrap_or(i64::MAX);
        let mut revision = 0;
        let mut keys = Vec::new();
        loop {
            let mut opts = GetOptions::new()
                .with_range(end.clone())
                .with_keys_only()
                .with_limit(page);
            if revision > 0 {
                opts = opts.with_revision(revision);
            }
            let mut resp = self.run("range read of the keys", |mut kv| {
                let (start, opts) = (start.clone(), opts.clone());
                async move { kv.get(start, Some(opts)).await }
            })?;
            if revision == 0 {
                revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            let more = resp.more();
            let kvs = resp.take_kvs();
            let Some(last) = kvs.last() else { break };
            let mut next = last.key().to_vec();
            next.push(0);
            for kv in kvs {
                let (k, _) = kv.into_key_value();
                keys.push(k[strip..].to_vec());
            }
            if !more {
                break;
            }
            start = next;
        }
        Ok(keys)
    }

    /// One `count_only` range request: no key or value is transferred.
    fn len(&mut self) -> Result<usize> {
        Ok(self.count_at_revision()?.0)
    }

    /// A no-op: every acknowledged write is already committed on a majority of the
    /// cluster's members, each of which fsyncs its Raft log before acknowledging.
    fn sync(&mut self) -> Result<()> {
        self.kv()?;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        self.kv = None;
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.shown
    }

    fn module(&self) -> &'static str {
        MODULE
    }

    /// Starts collecting puts and deletes locally (reads see them); the commit sends them
    /// as one etcd `Txn` (all applied at one revision, or none). Its size is limited by
    /// [`EtcdOptions::max_request_bytes`] and by the server's `--max-txn-ops` (default 128
    /// operations), whose refusal is [`RemoteFailure::TooLarge`].
    fn begin_transaction(&mut self) -> Result<()> {
        self.kv()?;
        self.pending = Some((Vec::new(), 0));
        Ok(())
    }

    fn commit_transaction(&mut self) -> Result<()> {
        let (ops, encoded_len) = self.pending.take().unwrap_or_default();
        EtcdTransaction {
            db: self,
            ops,
            encoded_len,
        }
        .commit()
    }

    /// Nothing was sent: the collected operations are dropped.
    fn rollback_transaction(&mut self) -> Result<()> {
        self.pending = None;
        Ok(())
    }

    /// [`EtcdOptions::page_size`] keys per batch, in etcd's (bytewise) key order, each batch
    /// one range request starting after the last key handed out.
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let (first, end) = self.address.record_range();
        let strip = first.len();
        let start = if pos.started {
            let mut k = self.address.record_key(&pos.last_key);
            k.push(0);
            k
        } else {
            first
        };
        let page = i64::try_from(self.options.page_size.max(1)).unwrap_or(i64::MAX);
        let opts = GetOptions::new()
            .with_range(end)
            .with_keys_only()
            .with_limit(page);
        let mut resp = self.run("range read of the keys", |mut kv| {
            let (start, opts) = (start.clone(), opts.clone());
            async move { kv.get(start, Some(opts)).await }
        })?;
        for kv in resp.take_kvs() {
            let (k, _) = kv.into_key_value();
            out.push(k[strip..].to_vec());
        }
        if let Some(last) = out.last() {
            pos.last_key.clone_from(last);
        }
        Ok(())
    }
}

/// One operation of an [`EtcdTransaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum BatchOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Puts and deletes sent to etcd as one `Txn` (no compare: the success branch always
/// runs), so the cluster applies all of them at one revision or none.
///
/// Its size is checked against [`EtcdOptions::max_request_bytes`] before sending; the
/// number of operations is limited by the server's `--max-txn-ops` (default 128), whose
/// refusal is reported as [`RemoteFailure::TooLarge`]. Dropping it without
/// [`commit`](EtcdTransaction::commit) sends nothing.
pub struct EtcdTransaction<'a> {
    db: &'a mut EtcdDbm,
    ops: Vec<BatchOp>,
    encoded_len: usize,
}

impl EtcdTransaction<'_> {
    /// Adds `db[key] = value`.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        let etcd_key = self.db.address.record_key(key);
        self.encoded_len +=
            request_size::txn_op_len(request_size::put_len(etcd_key.len(), value.len()));
        self.ops.push(BatchOp::Put(etcd_key, value.to_vec()));
        self
    }

    /// Adds `del db[key]` (a missing key is not an error inside a transaction).
    pub fn remove(&mut self, key: &[u8]) -> &mut Self {
        let etcd_key = self.db.address.record_key(key);
        self.encoded_len += request_size::txn_op_len(request_size::delete_len(etcd_key.len()));
        self.ops.push(BatchOp::Delete(etcd_key));
        self
    }

    /// How many operations are queued.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The encoded size of the `Txn` request as it stands.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// Sends every queued operation as one etcd `Txn`. On success all are applied; on a
    /// refusal none is; on a timeout the error says the outcome is unknown (all or none
    /// was applied, never a part).
    pub fn commit(self) -> Result<()> {
        self.db.check_writable()?;
        if self.ops.is_empty() {
            return Ok(());
        }
        let request = format!("transaction of {} operations", self.ops.len());
        self.db.check_size(&request, self.encoded_len)?;
        let ops: Vec<TxnOp> = self
            .ops
            .into_iter()
            .map(|op| match op {
                BatchOp::Put(k, v) => TxnOp::put(k, v, None),
                BatchOp::Delete(k) => TxnOp::delete(k, None),
            })
            .collect();
        let txn = Txn::new().and_then(ops);
        let resp = self.db.run(&request, |mut kv| {
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })?;
        if !resp.succeeded() {
            // A Txn without compares always takes its success branch.
            return Err(failure::remote(
                &self.db.address,
                RemoteFailure::Rejected,
                format!("{request}: the cluster reported the transaction as not succeeded"),
            ));
        }
        Ok(())
    }
}
