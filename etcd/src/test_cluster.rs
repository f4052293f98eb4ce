//! A throw-away etcd cluster for tests: `N` members of the installed `etcd` binary on free
//! loopback ports, data in a temporary directory, every member killed (SIGKILL) and reaped
//! when the [`TestCluster`] is dropped. Members also get `PR_SET_PDEATHSIG`, so a test
//! process that dies without unwinding leaves no orphan `etcd` behind.
//!
//! Tests call [`TestCluster::start_or_skip`], which reports a missing `etcd` through
//! `pydbm_engine::live_reference::skip_or_fail` (skip loudly; fail under `CI=true`).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pydbm_engine::{Dbm, OpenMode, Result};

use crate::{EtcdDbm, EtcdOptions};

/// Where the etcd server binary is looked for: `$PYDBM_ETCD_BIN`, else `/usr/bin/etcd`
/// (Debian's `etcd-server`).
pub fn etcd_binary() -> PathBuf {
    std::env::var_os("PYDBM_ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// One member's fixed settings.
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    process: Option<Child>,
}

/// A running local etcd cluster (see the module documentation).
#[derive(Debug)]
pub struct TestCluster {
    dir: tempfile_dir::TempDir,
    members: Vec<Member>,
    initial_cluster: String,
}

/// The largest transaction the test cluster accepts (etcd's `--max-txn-ops`; its default of
/// 128 is below the 1,000-key transactions the tests send).
pub const MAX_TXN_OPS: usize = 10_000;

impl TestCluster {
    /// Starts a cluster of `members` members and waits until it has a leader, or reports the
    /// missing binary through `skip_or_fail` and returns `None`.
    ///
    /// # Panics
    /// When the binary is present but the cluster does not come up within 60 s (the
    /// members' logs are printed), or under `CI=true` when the binary is missing.
    pub fn start_or_skip(members: usize) -> Option<TestCluster> {
        if !TestCluster::available_or_skip() {
            return None;
        }
        let cluster = TestCluster::start(members).unwrap_or_else(|e| panic!("{e}"));
        Some(cluster)
    }

    /// Whether the etcd binary runs (`etcd --version`); when it does not, reports it through
    /// `skip_or_fail` (which panics under `CI=true`).
    pub fn available_or_skip() -> bool {
        let bin = etcd_binary();
        let works = Command::new(&bin)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !works {
            pydbm_engine::live_reference::skip_or_fail(&format!(
                "etcd server ({}; Debian package etcd-server)",
                bin.display()
            ));
        }
        works
    }

    /// Starts `members` members on free loopback ports and waits for a leader.
    pub fn start(members: usize) -> std::result::Result<TestCluster, String> {
        let dir = tempfile_dir::TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
        let ports = free_ports(members * 2).map_err(|e| format!("free ports: {e}"))?;
        let members: Vec<Member> = (0..members)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                data_dir: dir.path().join(format!("m{i}.etcd")),
                log: dir.path().join(format!("m{i}.log")),
                process: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = TestCluster {
            dir,
            members,
            initial_cluster,
        };
        for i in 0..cluster.members.len() {
            cluster.spawn(i)?;
        }
        cluster.wait_for_leader(Duration::from_secs(60))?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> std::result::Result<(), String> {
        let token = format!("pydbm-test-{}", self.dir.path().display());
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .map_err(|e| format!("{}: {e}", m.log.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let mut cmd = Command::new(etcd_binary());
        cmd.args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.data_dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &token])
            .args(["--max-txn-ops", &MAX_TXN_OPS.to_string()])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGKILL this child
        // when the thread that spawned it exits, so no etcd outlives its test process.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", etcd_binary().display()))?;
        m.process = Some(child);
        Ok(())
    }

    /// Number of members (running or not).
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The `etcd://` address of every member with key prefix `prefix` (e.g. `/app`) and the
    /// given query (`""` or `"?timeout=2"`).
    pub fn address(&self, prefix: &str, query: &str) -> String {
        let endpoints: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect();
        format!("etcd://{}{prefix}{query}", endpoints.join(","))
    }

    /// The `etcd://` address of member `i` only.
    pub fn member_address(&self, i: usize, prefix: &str, query: &str) -> String {
        format!(
            "etcd://127.0.0.1:{}{prefix}{query}",
            self.members[i].client_port
        )
    }

    /// `HOST:PORT` of every member's client URL, comma-separated (etcdctl's `--endpoints`).
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Process ids of the running members.
    pub fn pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.process.as_ref().map(Child::id))
            .collect()
    }

    /// SIGKILLs member `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts a killed member `i` on its data directory and ports.
    pub fn restart(&mut self, i: usize) -> std::result::Result<(), String> {
        self.kill(i);
        self.spawn(i)
    }

    /// Waits until an all-member client sees a leader (a linearizable read succeeds).
    pub fn wait_for_leader(&self, within: Duration) -> std::result::Result<(), String> {
        let deadline = Instant::now() + within;
        let opts = EtcdOptions {
            timeout: Duration::from_secs(2),
            ..EtcdOptions::default()
        };
        let mut last = String::new();
        while Instant::now() < deadline {
            let probe: Result<usize> = EtcdDbm::open(
                &self.address("/pydbm-test-probe", ""),
                OpenMode::Read,
                opts.clone(),
            )
            .and_then(|mut db| db.len());
            match probe {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "etcd cluster did not get a leader within {within:?}: {last}\n{}",
            self.logs()
        ))
    }

    /// The members' log files, concatenated, for failure messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                format!(
                    "--- {} ---\n{}",
                    m.name,
                    std::fs::read_to_string(&m.log).unwrap_or_default()
                )
            })
            .collect()
    }

    /// The temporary directory holding the members' data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// `n` distinct free loopback ports (each bound once, then released).
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// A directory under the system temp dir removed (with its contents) on drop.
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    /// The directory; removed when dropped.
    #[derive(Debug)]
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// Creates `pydbm-etcd-PID-N` in `/dev/shm` (a tmpfs, so the members' fsyncs are
        /// cheap; a SIGKILLed member's files survive as on disk) when it exists, else in
        /// the system temp dir.
        pub fn new() -> std::io::Result<TempDir> {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let shm = Path::new("/dev/shm");
            let base = if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            let path = base.join(format!(
                "pydbm-etcd-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path)?;
            Ok(TempDir(path))
        }

        /// Its path.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
