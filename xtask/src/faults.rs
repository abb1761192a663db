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

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

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
    pub fn kill(&mut self, node: &str) -> Result<()> {
        self.reload()?;
        let n = self.state.node(node)?.clone();
        match self.state.backend {
            BackendKind::Native => {
                let pid = n.pid.ok_or_else(|| not_running(&n.label()))?;
                native::signal(pid, Signal::KILL, &self.state.dir)?;
                native::wait_gone(&[pid], Duration::from_secs(10))?;
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
        Ok(())
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
        cluster::failover(&self.state, primary, self.timeout)
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
        topology::wait_ready(&self.state, self.timeout, false)
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

fn not_running(label: &str) -> Error {
    Error::Setup(format!(
        "{label} is not running (killed and not restarted?); call restart first"
    ))
}
