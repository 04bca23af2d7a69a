//! A real PostgreSQL primary with streaming hot-standby replicas, on loopback, for tests.
//!
//! dbroute's promise is about *where* a statement runs, so its tests need servers that really
//! are a primary and real hot standbys: a write sent to a standby fails there exactly as it
//! would in production. This crate starts such a cluster from the system's PostgreSQL server
//! binaries, in a temporary directory, on free loopback ports:
//!
//! * `initdb` + `pg_ctl start` for the primary (`wal_level = replica`, trust authentication on
//!   127.0.0.1 only, `fsync = off` because the data is thrown away);
//! * `pg_basebackup -R -X stream` + `pg_ctl start` for each replica.
//!
//! When the process runs as root (as CI does), every server command runs as the `postgres`
//! user through `runuser`, since `initdb` and `postgres` refuse to run as root.
//!
//! [`shared`] starts one cluster per test binary, on first use. A small watchdog process stops
//! the servers and removes the directory when the test binary exits, however it exits, so no
//! server outlives the tests.
//!
//! ```no_run
//! let cluster = dbroute_test_cluster::shared();
//! println!("primary at {}", cluster.primary().url());
//! for replica in cluster.replicas() {
//!     println!("{} at {}", replica.name(), replica.url());
//! }
//! ```

mod logs;

#[cfg(feature = "http")]
pub mod http;

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use logs::Logs;

/// Replay paused on every replica of a cluster until dropped:
/// [`Cluster::pause_all_replay`].
#[derive(Debug)]
pub struct ReplayPaused<'c>(&'c Cluster);

impl Drop for ReplayPaused<'_> {
    fn drop(&mut self) {
        for replica in &self.0.replicas {
            if let Err(error) = self.0.resume_replay(replica) {
                tracing::warn!(%error, "could not resume replay");
            }
        }
    }
}

/// How many hot standbys [`shared`] starts.
pub const SHARED_REPLICAS: usize = 2;

/// One PostgreSQL server of the cluster.
#[derive(Debug, Clone)]
pub struct Node {
    name: String,
    port: u16,
    data_dir: PathBuf,
}

impl Node {
    /// `"primary"`, `"replica-1"`, `"replica-2"`, ...
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loopback TCP port the server listens on; `SELECT inet_server_port()` answers it.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for the `postgres` database as the `postgres` superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// Why the cluster could not start. The message says which step failed and how to fix it.
#[derive(Debug)]
pub struct ClusterError(String);

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

type Result<T> = std::result::Result<T, ClusterError>;

/// A running primary and its hot standbys. Dropping it stops the servers and removes their data.
#[derive(Debug)]
pub struct Cluster {
    root: PathBuf,
    bin_dir: PathBuf,
    as_postgres: bool,
    primary: Node,
    replicas: Vec<Node>,
}

/// The cluster shared by every test of this test binary, started on first use.
///
/// # Panics
///
/// Panics, with the reason and the fix, when the cluster cannot start: a test that needs it
/// cannot run without it.
pub fn shared() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = Cluster::start(SHARED_REPLICAS)
            .unwrap_or_else(|e| panic!("could not start the PostgreSQL test cluster: {e}"));
        // Statics are never dropped: a watchdog cleans up when this process exits.
        cluster.spawn_watchdog();
        cluster
    })
}

impl Cluster {
    /// Starts a primary and `replicas` streaming hot standbys, waiting until every standby
    /// streams from the primary.
    pub fn start(replicas: usize) -> Result<Cluster> {
        let started = Instant::now();
        let bin_dir = find_bin_dir()?;
        let as_postgres = running_as_root();
        let root = tempfile::Builder::new()
            .prefix("dbroute-cluster-")
            .tempdir()
            .map_err(|e| ClusterError(format!("cannot create a temporary directory: {e}")))?
            .keep();
        let mut cluster = Cluster {
            primary: Node {
                name: "primary".into(),
                port: free_port()?,
                data_dir: root.join("primary"),
            },
            root,
            bin_dir,
            as_postgres,
            replicas: Vec::new(),
        };
        if as_postgres {
            cluster.run(Command::new("chown").args(["postgres:", path_str(&cluster.root)]))?;
        }
        cluster.init_primary()?;
        let nodes = (1..=replicas)
            .map(|i| {
                Ok(Node {
                    name: format!("replica-{i}"),
                    port: free_port()?,
                    data_dir: cluster.root.join(format!("replica-{i}")),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if cluster.bin_dir.join("pg_basebackup").exists() {
            for node in &nodes {
                cluster.start_replica(node)?;
            }
        } else {
            cluster.start_replicas_from_copies(&nodes)?;
        }
        cluster.replicas = nodes;
        cluster.wait_for_streaming(replicas)?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            primary_port = cluster.primary.port,
            replicas,
            "PostgreSQL test cluster started"
        );
        Ok(cluster)
    }

    /// The primary.
    pub fn primary(&self) -> &Node {
        &self.primary
    }

    /// The hot standbys, in order (`replica-1` first).
    pub fn replicas(&self) -> &[Node] {
        &self.replicas
    }

    /// Blocks until every replica has replayed the primary's current WAL position, so that a
    /// read on any replica sees everything committed on the primary before this call.
    pub fn wait_for_replay(&self) -> Result<()> {
        let lsn = self.psql(&self.primary, "SELECT pg_current_wal_lsn()")?;
        let check = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        for replica in &self.replicas {
            poll(Duration::from_secs(30), || {
                Ok(self.psql(replica, &check)? == "t")
            })
            .map_err(|e| ClusterError(format!("{} did not replay to {lsn}: {e}", replica.name)))?;
        }
        Ok(())
    }

    /// Stops `node` at once, as a crash would (`pg_ctl stop -m immediate`): its connections
    /// break mid-statement.
    pub fn kill(&self, node: &Node) -> Result<()> {
        self.run(self.server_command(&self.bin_dir.join("pg_ctl")).args([
            "-D",
            path_str(&node.data_dir),
            "stop",
            "-m",
            "immediate",
            "-w",
        ]))
        .map(|_| ())
    }

    /// Starts `node` again after [`kill`](Self::kill), on the same port, and waits until it
    /// accepts connections (a replica then resumes streaming on its own).
    pub fn restart(&self, node: &Node) -> Result<()> {
        self.pg_ctl_start(node)
    }

    /// Pauses WAL replay on replica `node` (`pg_wal_replay_pause()`) and waits until the
    /// pause is in effect (a pause is only requested at first): from then on it keeps answering
    /// reads from an ever older snapshot.
    pub fn pause_replay(&self, node: &Node) -> Result<()> {
        self.psql(node, "SELECT pg_wal_replay_pause()")?;
        poll(Duration::from_secs(10), || {
            Ok(self.psql(node, "SELECT pg_get_wal_replay_pause_state()")? == "paused")
        })
        .map_err(|e| ClusterError(format!("{}: replay did not pause: {e}", node.name)))
    }

    /// Pauses replay on every replica until the returned guard is dropped (also when a test
    /// panics): reads on replicas then miss every later write, for sure.
    pub fn pause_all_replay(&self) -> Result<ReplayPaused<'_>> {
        for replica in &self.replicas {
            self.pause_replay(replica)?;
        }
        Ok(ReplayPaused(self))
    }

    /// Resumes WAL replay on replica `node`.
    pub fn resume_replay(&self, node: &Node) -> Result<()> {
        self.psql(node, "SELECT pg_wal_replay_resume()").map(|_| ())
    }

    /// Runs one SQL statement on `node` with `psql` and returns its unaligned output.
    pub fn psql(&self, node: &Node, sql: &str) -> Result<String> {
        // Server-only builds have no psql: any client on the PATH speaks to every major.
        let psql = Some(self.bin_dir.join("psql"))
            .filter(|path| path.exists())
            .unwrap_or_else(|| PathBuf::from("psql"));
        let port = node.port.to_string();
        self.run(self.server_command(&psql).args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ]))
        .map(|out| out.trim().to_owned())
    }

    fn init_primary(&self) -> Result<()> {
        let data = path_str(&self.primary.data_dir);
        self.run(self.server_command(&self.bin_dir.join("initdb")).args([
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]))?;
        let conf = format!(
            "\n# dbroute test cluster\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{root}'\nwal_level = replica\nmax_wal_senders = 10\n\
             max_replication_slots = 10\nhot_standby = on\nfsync = off\nfull_page_writes = off\n\
             max_connections = 200\nshared_buffers = 32MB\nwal_receiver_status_interval = 1s\n",
            port = self.primary.port,
            root = self.root.display(),
        );
        self.append(&self.primary.data_dir.join("postgresql.conf"), &conf)?;
        self.pg_ctl_start(&self.primary)
    }

    fn start_replica(&self, node: &Node) -> Result<()> {
        let port = self.primary.port.to_string();
        self.run(
            self.server_command(&self.bin_dir.join("pg_basebackup"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-D",
                    path_str(&node.data_dir),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                ]),
        )?;
        // The copied postgresql.conf names the primary's port: the last setting wins.
        self.append(
            &node.data_dir.join("postgresql.conf"),
            &format!("port = {}\n", node.port),
        )?;
        self.pg_ctl_start(node)
    }

    /// Builds standbys from cold copies of the primary's data directory, for server builds that
    /// ship without `pg_basebackup` (the embedded-postgres packages `scripts/pg-majors.sh`
    /// fetches): a copy of a cleanly stopped primary starts from its shutdown checkpoint and
    /// streams from there, like a base backup would.
    fn start_replicas_from_copies(&self, nodes: &[Node]) -> Result<()> {
        let primary_data = path_str(&self.primary.data_dir);
        self.run(self.server_command(&self.bin_dir.join("pg_ctl")).args([
            "-D",
            primary_data,
            "-w",
            "-m",
            "fast",
            "stop",
        ]))?;
        for node in nodes {
            self.run(self.server_command(Path::new("cp")).args([
                "-a",
                primary_data,
                path_str(&node.data_dir),
            ]))?;
            // The copy holds the primary's log: a start failure should show the replica's own.
            let _ = std::fs::remove_file(node.data_dir.join("server.log"));
            std::fs::write(node.data_dir.join("standby.signal"), "")
                .map_err(|e| ClusterError(format!("cannot mark {} a standby: {e}", node.name)))?;
            self.append(
                &node.data_dir.join("postgresql.conf"),
                &format!(
                    "port = {}\nprimary_conninfo = 'host=127.0.0.1 port={} user=postgres \
                     application_name={}'\n",
                    node.port, self.primary.port, node.name
                ),
            )?;
        }
        self.pg_ctl_start(&self.primary)?;
        nodes.iter().try_for_each(|node| {
            // Once seen in CI (PostgreSQL 14): a copy's first start stopped with nothing in its
            // log. A second start has always worked; a second failure is reported.
            self.pg_ctl_start(node).or_else(|first| {
                tracing::warn!(node = %node.name, %first, "standby did not start; trying again");
                std::thread::sleep(Duration::from_millis(500));
                self.pg_ctl_start(node)
            })
        })
    }

    fn pg_ctl_start(&self, node: &Node) -> Result<()> {
        let log = node.data_dir.join("server.log");
        self.run(self.server_command(&self.bin_dir.join("pg_ctl")).args([
            "-D",
            path_str(&node.data_dir),
            "-l",
            path_str(&log),
            "-w",
            "-t",
            "60",
            "start",
        ]))
        .map(|_| ())
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            ClusterError(format!("{e}\nserver log of {}:\n{tail}", node.name))
        })
    }

    fn wait_for_streaming(&self, replicas: usize) -> Result<()> {
        let sql = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'";
        poll(Duration::from_secs(60), || {
            Ok(self.psql(&self.primary, sql)? == replicas.to_string())
        })
        .map_err(|e| ClusterError(format!("replicas never started streaming: {e}")))
    }

    fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.replicas.iter().chain(std::iter::once(&self.primary))
    }

    fn stop_script(&self) -> String {
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let prefix = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let mut script = String::new();
        for node in self.nodes() {
            script.push_str(&format!(
                "{prefix}'{}' -D '{}' stop -m immediate >/dev/null 2>&1; ",
                pg_ctl.display(),
                node.data_dir.display()
            ));
        }
        script.push_str(&format!("rm -rf '{}'", self.root.display()));
        script
    }

    /// Starts a detached shell that waits for this process to exit, then stops the servers.
    fn spawn_watchdog(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop}",
            pid = std::process::id(),
            stop = self.stop_script()
        );
        let spawned = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            tracing::warn!(
                "no watchdog for the test cluster at {}: {e}",
                self.root.display()
            );
        }
    }

    fn server_command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    fn append(&self, file: &Path, text: &str) -> Result<()> {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| ClusterError(format!("cannot write {}: {e}", file.display())))
    }

    fn run(&self, cmd: &mut Command) -> Result<String> {
        let shown = format!("{cmd:?}");
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ClusterError(format!("cannot run {shown}: {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(ClusterError(format!(
                "{shown} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &self.stop_script()])
            .stdin(Stdio::null())
            .status();
    }
}

fn poll(limit: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let last = ready();
        if let Ok(true) = last {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(match last {
                Err(e) => e,
                _ => ClusterError(format!("still not ready after {limit:?}")),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `$DBROUTE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` that has `initdb`.
fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DBROUTE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        ClusterError(
            "no PostgreSQL server binaries found under /usr/lib/postgresql/*/bin: install them \
             (`apt-get install postgresql`) or set DBROUTE_PG_BIN to the directory holding initdb"
                .into(),
        )
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| ClusterError(format!("cannot find a free loopback port: {e}")))
}

fn path_str(path: &Path) -> &str {
    // Temporary directories are built from ASCII names.
    path.to_str().unwrap_or_default()
}
