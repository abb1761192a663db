//! Fault helpers for tests: kill and restart, pause and resume, cluster failover, slot
//! migration and sentinel failover, on either backend.
//!
//! ```no_run
//! # fn main() -> xtask::Result<()> {
//! let mut faults = xtask::Faults::load(std::path::Path::new("target/redwire/standalone/state"))?;
//! let node = faults.state().servers().next().unwrap().name.clone();
//! faults.pause(&node)?;   // SIGSTOP (docker pause): connections stay open, nothing answers
//! faults.resume(&node)?;  // SIGCONT (docker unpause)
//! faults.kill(&node)?;    // SIGKILL (docker kill): the data is gone, nothing was persisted
//! faults.restart(&node)?; // same config, same port; returns once PING answers
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::process::Signal;

use crate::docker;
use crate::error::{Error, Result};
use crate::layout::{BackendKind, TopologyKind};
use crate::native;
use crate::state::State;
use crate::{cluster, sentinel, topology, wait};

/// Fault injection against a running topology, driven by its state file. Every call re-reads
/// the state file, so helpers used from several processes see each other's restarts.
#[derive(Debug)]
pub struct Faults {
    file: PathBuf,
    state: State,
    timeout: Duration,
    /// Processes this handle restarted; reaped if it kills them again.
    children: Vec<Child>,
}

impl Faults {
    /// Opens the topology described by the state file at `path` (`REDWIRE_STATE_FILE`).
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self {
            file: path.to_path_buf(),
            state: State::load(path)?,
            timeout: Duration::from_secs(60),
            children: Vec::new(),
        })
    }

    /// Changes how long helpers wait for the topology to settle (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The topology as last read from the state file.
    pub fn state(&self) -> &State {
        &self.state
    }

    fn reload(&mut self) -> Result<()> {
        self.state = State::load(&self.file)?;
        Ok(())
    }

    /// Kills `node` (name or `host:port`) with SIGKILL, or `docker kill`, and waits until it
    /// is gone. Nothing was persisted, so a restarted node starts empty.
    ///
    /// Cluster: the kill first waits until the node's replicas may start an election (see
    /// [`wait_until_electable`](Self::wait_until_electable)), so that the failover it
    /// starts takes the usual few seconds.
    pub fn kill(&mut self, node: &str) -> Result<()> {
        let replicas = self.wait_until_electable(node)?;
        let n = self.state.node(node)?.clone();
        match self.state.backend {
            BackendKind::Native => {
                let pid = n.pid.ok_or_else(|| not_running(&n.label()))?;
                // With any child it forked (a replica's sync), which would outlive it.
                native::kill_all_under(&n.dir, &[pid])?;
                for child in self.children.iter_mut().filter(|c| c.id() == pid) {
                    let _ = child.wait();
                }
            }
            BackendKind::Docker => {
                let name = n
                    .container
                    .as_deref()
                    .ok_or_else(|| not_running(&n.label()))?;
                docker::docker(&["kill", "--signal", "KILL", name])?;
                docker::docker(&["wait", name])?;
            }
        }
        // The replicas' election comes a few seconds later; `wait_healthy` dates it.
        let mut elections = self.elections()?;
        for replica in replicas {
            elections.insert(replica, None);
        }
        self.save_elections(&elections)
    }

    /// Cluster: waits, saying so, until the replicas of `node` (when it is a primary) may
    /// start a failover election, and returns them. Redis lets a replica start one only 8 s
    /// after its previous one; this helper dates the failovers it causes. A test that times
    /// a failover calls it before starting the clock; [`kill`](Self::kill) calls it too.
    pub fn wait_until_electable(&mut self, node: &str) -> Result<Vec<String>> {
        self.reload()?;
        if self.state.topology != TopologyKind::Cluster {
            return Ok(Vec::new());
        }
        let replicas = cluster::replicas_of(&self.state, node)?;
        self.wait_elections(&replicas, &format!("{node} can fail over"))?;
        Ok(replicas)
    }

    /// Starts a killed `node` again with its config (same port, same folder) and waits until
    /// it answers PING. A cluster node rejoins with its saved `nodes.conf`.
    pub fn restart(&mut self, node: &str) -> Result<()> {
        self.reload()?;
        let n = self.state.node(node)?.clone();
        match self.state.backend {
            BackendKind::Native => {
                if n.pid
                    .is_some_and(|pid| native::belongs_to(pid, &self.state.dir))
                {
                    return Err(Error::Setup(format!(
                        "{} is still running; kill it before restarting it",
                        n.label()
                    )));
                }
                let binary = if n.is_sentinel() {
                    self.state.sentinel_binary.clone()
                } else {
                    self.state.server_binary.clone()
                }
                .ok_or_else(|| Error::Setup("the state file names no redis binary".to_owned()))?;
                let child = native::spawn(&binary, &n)?;
                self.state.node_mut(node)?.pid = Some(child.id());
                self.children.push(child);
                self.state.save()?;
            }
            BackendKind::Docker => {
                let name = n
                    .container
                    .as_deref()
                    .ok_or_else(|| not_running(&n.label()))?;
                docker::docker(&["start", name])?;
            }
        }
        let state = &self.state;
        let node = state.node(node)?;
        wait::until(
            state.topology.name(),
            &format!("{} to answer PING", node.label()),
            self.timeout,
            || Ok(wait::ping(state, node)),
        )
    }

    /// Freezes `node` with SIGSTOP (or `docker pause`): its sockets stay open but nothing
    /// answers until [`Faults::resume`].
    pub fn pause(&mut self, node: &str) -> Result<()> {
        self.signal_or_docker(node, Signal::STOP, "pause")
    }

    /// Thaws a paused `node` with SIGCONT (or `docker unpause`).
    pub fn resume(&mut self, node: &str) -> Result<()> {
        self.signal_or_docker(node, Signal::CONT, "unpause")
    }

    fn signal_or_docker(&mut self, node: &str, signal: Signal, docker_verb: &str) -> Result<()> {
        self.reload()?;
        let n = self.state.node(node)?;
        match self.state.backend {
            BackendKind::Native => {
                let pid = n.pid.ok_or_else(|| not_running(&n.label()))?;
                if !native::signal(pid, signal, &self.state.dir)? {
                    return Err(not_running(&n.label()));
                }
            }
            BackendKind::Docker => {
                let name = n
                    .container
                    .as_deref()
                    .ok_or_else(|| not_running(&n.label()))?;
                docker::docker(&[docker_verb, name])?;
            }
        }
        Ok(())
    }

    /// Cluster: fails the primary `primary` (name or `host:port`) over to its replica with
    /// `CLUSTER FAILOVER`, waits until every node agrees, and returns the new primary's
    /// `host:port`.
    pub fn cluster_failover(&mut self, primary: &str) -> Result<String> {
        self.reload()?;
        self.expect(TopologyKind::Cluster, "cluster_failover")?;
        let replicas = cluster::replicas_of(&self.state, primary)?;
        self.wait_elections(&replicas, &format!("{primary} can fail over"))?;
        let promoted = cluster::failover(&self.state, primary, self.timeout)?;
        let mut elections = self.elections()?;
        elections.insert(promoted.clone(), Some(SystemTime::now()));
        self.save_elections(&elections)?;
        Ok(promoted)
    }

    /// Cluster: moves `slot` and its keys to the primary `target` (name or `host:port`).
    pub fn migrate_slot(&mut self, slot: u16, target: &str) -> Result<()> {
        self.reload()?;
        self.expect(TopologyKind::Cluster, "migrate_slot")?;
        cluster::migrate_slot(&self.state, slot, target, self.timeout)
    }

    /// Sentinel: `SENTINEL FAILOVER`, then waits until every sentinel names the new primary
    /// and the old one replicates it. Returns `(old, new)` as `host:port`.
    pub fn sentinel_failover(&mut self) -> Result<(String, String)> {
        self.reload()?;
        self.expect(TopologyKind::Sentinel, "sentinel_failover")?;
        sentinel::failover(&self.state, self.timeout)
    }

    /// Waits until the topology is healthy again (see [`crate::Topology::check`]).
    pub fn wait_healthy(&mut self) -> Result<()> {
        self.reload()?;
        topology::wait_ready(&self.state, self.timeout, false)?;
        if self.state.topology == TopologyKind::Cluster {
            self.date_pending_elections()?;
        }
        Ok(())
    }

    /// Where the cluster's failover elections are dated: a line per replica that ran one,
    /// `<host:port> <milliseconds since the Unix epoch>`, or `<host:port> pending` from a kill
    /// of its primary until the cluster is healthy again. In the topology's folder, so that
    /// test processes run one after another see each other's failovers.
    fn election_file(&self) -> PathBuf {
        self.state.dir.join("elections")
    }

    /// When each replica's last election began; `None` while a kill's failover is pending.
    fn elections(&self) -> Result<BTreeMap<String, Option<SystemTime>>> {
        let file = self.election_file();
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(format!("read {}", file.display()), e)),
        };
        let mut elections = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let parsed = match line.split_once(' ') {
                Some((addr, ELECTION_PENDING)) => Some((addr, None)),
                Some((addr, millis)) => millis
                    .parse()
                    .ok()
                    .map(|ms| (addr, Some(UNIX_EPOCH + Duration::from_millis(ms)))),
                None => None,
            };
            let (addr, at) = parsed.ok_or_else(|| {
                Error::Setup(format!(
                    "{}: {line:?} is not `<host:port> <millis>|pending`",
                    file.display()
                ))
            })?;
            elections.insert(addr.to_owned(), at);
        }
        Ok(elections)
    }

    fn save_elections(&self, elections: &BTreeMap<String, Option<SystemTime>>) -> Result<()> {
        let mut text = String::new();
        for (addr, at) in elections {
            let stamp = match at {
                Some(at) => at
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis()
                    .to_string(),
                None => ELECTION_PENDING.to_owned(),
            };
            text.push_str(&format!("{addr} {stamp}\n"));
        }
        let file = self.election_file();
        std::fs::write(&file, text).map_err(|e| Error::io(format!("write {}", file.display()), e))
    }

    /// A kill's failover is over once the cluster is healthy: dates its election now (later
    /// than it began, which only makes the next wait longer).
    fn date_pending_elections(&self) -> Result<()> {
        let mut elections = self.elections()?;
        if elections.values().any(Option::is_none) {
            let now = SystemTime::now();
            for at in elections.values_mut().filter(|at| at.is_none()) {
                *at = Some(now);
            }
            self.save_elections(&elections)?;
        }
        Ok(())
    }

    /// Waits, saying so, until [`ELECTION_INTERVAL`] has passed since the last election of
    /// each of `replicas`.
    fn wait_elections(&mut self, replicas: &[String], what: &str) -> Result<()> {
        let mut elections = self.elections()?;
        if replicas
            .iter()
            .any(|r| matches!(elections.get(r), Some(None)))
        {
            // Killed again before the last kill's failover was waited for.
            topology::wait_ready(&self.state, self.timeout, false)?;
            self.date_pending_elections()?;
            elections = self.elections()?;
        }
        let now = SystemTime::now();
        let latest = replicas
            .iter()
            .filter_map(|r| elections.get(r).copied().flatten())
            .max();
        let Some(latest) = latest else {
            return Ok(());
        };
        let since = now.duration_since(latest).unwrap_or_default();
        if let Some(left) = ELECTION_INTERVAL.checked_sub(since) {
            eprintln!(
                "[{}] waiting {:.1}s until {what}: Redis lets a replica start an election \
                 only {}s after its last one, which was {:.1}s ago",
                self.state.topology.name(),
                left.as_secs_f64(),
                ELECTION_INTERVAL.as_secs(),
                since.as_secs_f64()
            );
            std::thread::sleep(left);
        }
        Ok(())
    }

    fn expect(&self, kind: TopologyKind, what: &str) -> Result<()> {
        if self.state.topology == kind {
            Ok(())
        } else {
            Err(Error::Setup(format!(
                "{what} needs the {kind} topology, but this one is {}",
                self.state.topology
            )))
        }
    }
}

/// How long after a failover election a cluster fault waits before it starts another one.
/// Redis lets a replica begin an election only when its previous one began more than
/// `2 * max(2 * cluster-node-timeout, 2 s)` ago (8 s here). A primary killed sooner keeps its
/// slots uncovered until then, and with `cluster-require-full-coverage` every node answers
/// `CLUSTERDOWN` meanwhile: a test measuring the client's failover would be measuring that
/// rate limit (found when the cluster kill test ran a few seconds after the previous test's
/// `CLUSTER FAILOVER`). Half a second more covers the replica's own clock.
pub(crate) const ELECTION_INTERVAL: Duration =
    Duration::from_millis(4 * crate::config::CLUSTER_NODE_TIMEOUT.as_millis() as u64 + 500);

/// What [`Faults::election_file`] holds for a replica between its primary's kill and the
/// wait for the failover.
const ELECTION_PENDING: &str = "pending";

fn not_running(label: &str) -> Error {
    Error::Setup(format!(
        "{label} is not running (killed and not restarted?); call restart first"
    ))
}
