//! Bringing a topology up and down, on either backend, and tearing down on Ctrl-C.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::certs;
use crate::config::{self, ConfigInput};
use crate::docker;
use crate::error::{Error, Result};
use crate::install::{self, Binaries};
use crate::layout::{self, BackendKind, DEFAULT_BASE_PORT, Role, TopologyKind};
use crate::native;
use crate::state::{Node, State};
use crate::{cluster, sentinel, wait};

/// How to bring topologies up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Native processes or docker containers.
    pub backend: BackendKind,
    /// Docker only: the image to run; `None` builds and uses `redwire/redis:local`.
    pub image: Option<String>,
    /// The directory holding one folder per topology (default `target/redwire/`).
    pub root: PathBuf,
    /// The first port of the topology blocks (default 7400).
    pub base_port: u16,
    /// How long to wait for a topology to become ready.
    pub timeout: Duration,
}

impl Options {
    /// Defaults for `backend`: `target/redwire/`, ports from 7400, a 60 s readiness timeout.
    pub fn new(backend: BackendKind) -> Self {
        Self {
            backend,
            image: None,
            root: layout::default_root(),
            base_port: DEFAULT_BASE_PORT,
            timeout: Duration::from_secs(60),
        }
    }

    /// The folder of one topology.
    pub fn dir_of(&self, kind: TopologyKind) -> PathBuf {
        self.root.join(kind.name())
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static ACTIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs a Ctrl-C (and SIGTERM) handler that tears down every topology this process
/// brought up, then exits with status 130.
pub fn install_interrupt_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!("\nxtask: interrupted; tearing down the topologies that are up");
        let dirs = ACTIVE.lock().map(|a| a.clone()).unwrap_or_default();
        for dir in dirs {
            if let Err(e) = down_dir(&dir) {
                eprintln!("xtask: teardown of {} failed: {e}", dir.display());
            }
        }
        std::process::exit(130);
    })
    .map_err(|e| Error::Setup(format!("cannot install the Ctrl-C handler: {e}")))
}

/// Fails with [`Error::Interrupted`] once Ctrl-C was pressed.
pub(crate) fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

fn register(dir: &Path) {
    if let Ok(mut active) = ACTIVE.lock() {
        active.push(dir.to_path_buf());
    }
}

fn unregister(dir: &Path) {
    if let Ok(mut active) = ACTIVE.lock() {
        active.retain(|d| d != dir);
    }
}

/// A running topology. Dropping it tears it down (processes killed, containers removed, its
/// folder deleted) unless [`Topology::detach`] was called.
#[derive(Debug)]
pub struct Topology {
    state: State,
    children: Vec<Child>,
    timeout: Duration,
    detached: bool,
}

impl Topology {
    /// Starts `kind` and waits until it is really ready (see [`Topology::check`]). A previous
    /// instance left in the same folder is torn down first.
    pub fn up(kind: TopologyKind, options: &Options) -> Result<Self> {
        check_interrupted()?;
        let started = Instant::now();
        let dir = options.dir_of(kind);
        if dir.exists() {
            eprintln!(
                "[{kind}] tearing down the previous instance in {}",
                dir.display()
            );
            down_dir(&dir)?;
        }
        let image = match options.backend {
            BackendKind::Native => None,
            BackendKind::Docker => Some(
                options
                    .image
                    .clone()
                    .unwrap_or_else(|| docker::LOCAL_IMAGE.to_owned()),
            ),
        };
        let binaries = match &image {
            Some(image) if image != docker::LOCAL_IMAGE => None,
            _ => Some(install::ensure()?),
        };
        fs::create_dir_all(&dir).map_err(|e| Error::at("create", &dir, e))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| Error::at("resolve", &dir, e))?;
        register(&dir);
        let state = match prepare(kind, options, &dir, image, binaries.as_ref()) {
            Ok(state) => state,
            Err(e) => {
                let _ = down_dir(&dir);
                return Err(e);
            }
        };
        let mut topology = Self {
            state,
            children: Vec::new(),
            timeout: options.timeout,
            detached: false,
        };
        topology.state.save()?;
        topology.start(binaries.as_ref(), &options.root)?;
        wait_ready(&topology.state, options.timeout, true)?;
        topology.state.write_env_file()?;
        eprintln!(
            "[{kind}] ready on the {} backend in {:.1}s",
            options.backend,
            started.elapsed().as_secs_f64()
        );
        Ok(topology)
    }

    fn start(&mut self, binaries: Option<&Binaries>, root: &Path) -> Result<()> {
        let label = self.state.topology.name();
        match self.state.backend {
            BackendKind::Native => {
                let binaries = binaries.expect("native topologies resolve the binaries");
                eprintln!("[{label}] starting {} processes", self.state.nodes.len());
                for i in 0..self.state.nodes.len() {
                    let node = &self.state.nodes[i];
                    if node.is_sentinel() && i > 0 && !self.state.nodes[i - 1].is_sentinel() {
                        self.servers_synced()?;
                    }
                    let binary = if node.is_sentinel() {
                        &binaries.sentinel
                    } else {
                        &binaries.server
                    };
                    let child = native::spawn(binary, node)?;
                    self.state.nodes[i].pid = Some(child.id());
                    self.children.push(child);
                    self.state.save()?;
                }
            }
            BackendKind::Docker => {
                let image = self.state.image.clone().unwrap_or_default();
                docker::ensure_network()?;
                docker::ensure_image(&image, binaries, root)?;
                eprintln!(
                    "[{label}] starting {} containers from {image}",
                    self.state.nodes.len()
                );
                for i in 0..self.state.nodes.len() {
                    let node = &self.state.nodes[i];
                    if node.is_sentinel() && i > 0 && !self.state.nodes[i - 1].is_sentinel() {
                        self.servers_synced()?;
                    }
                    let name = docker::run(&self.state.nodes[i], &image, &self.state.dir)?;
                    self.state.nodes[i].container = Some(name);
                    self.state.save()?;
                }
            }
        }
        Ok(())
    }

    /// Sentinels learn replicas from the primary's INFO, which they refresh every 10 s: starting
    /// them once the replica is synced lets their first look find it.
    fn servers_synced(&self) -> Result<()> {
        let state = &self.state;
        wait::until(
            state.topology.name(),
            "the replica to sync before the sentinels start",
            self.timeout,
            || {
                for node in state.servers() {
                    if let Err(pending) = wait::ping(state, node) {
                        if let Some(exited) = exited(state, node) {
                            return Err(exited);
                        }
                        return Ok(Err(pending));
                    }
                    if node.role == Role::Replica {
                        let mut conn = match wait::connect(state, node) {
                            Ok(c) => c,
                            Err(p) => return Ok(Err(p)),
                        };
                        if let Err(p) = cluster::replica_synced(&mut conn, node) {
                            return Ok(Err(p));
                        }
                    }
                }
                Ok(Ok(()))
            },
        )
    }

    /// What `down` and the fault helpers need.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The env file the tests read.
    pub fn env_file(&self) -> PathBuf {
        self.state.env_file()
    }

    /// Waits until the topology is healthy again (every node answers PING; cluster: state ok
    /// and one slot map everywhere, replicas synced; sentinel: all sentinels agree).
    pub fn check(&self) -> Result<()> {
        wait_ready(&self.state, self.timeout, false)
    }

    /// Leaves the topology running after this handle is dropped (`cargo xtask up`).
    pub fn detach(mut self) -> State {
        self.detached = true;
        unregister(&self.state.dir);
        self.state.clone()
    }

    /// Tears the topology down now.
    pub fn down(mut self) -> Result<()> {
        self.detached = true;
        teardown(
            &State::load(&self.state.file()).unwrap_or_else(|_| self.state.clone()),
            &mut self.children,
        )
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if !self.detached {
            let state = State::load(&self.state.file()).unwrap_or_else(|_| self.state.clone());
            if let Err(e) = teardown(&state, &mut self.children) {
                eprintln!("[{}] teardown failed: {e}", self.state.topology);
            }
        }
    }
}

/// Builds the state, node folders, configs and certificates; starts nothing.
fn prepare(
    kind: TopologyKind,
    options: &Options,
    dir: &Path,
    image: Option<String>,
    binaries: Option<&Binaries>,
) -> Result<State> {
    let specs = layout::plan(kind, options.backend, options.base_port);
    let tls = if kind == TopologyKind::StandaloneTls {
        let hosts: Vec<String> = specs
            .iter()
            .map(|s| s.host.clone())
            .filter(|h| h != "127.0.0.1")
            .collect();
        Some(certs::generate(&dir.join("tls"), &hosts)?)
    } else {
        None
    };
    let mut nodes = Vec::new();
    for spec in &specs {
        let node_dir = dir.join(&spec.name);
        fs::create_dir_all(&node_dir).map_err(|e| Error::at("create", &node_dir, e))?;
        let unix_socket =
            (kind == TopologyKind::StandaloneUnix).then(|| node_dir.join("redis.sock"));
        if let Some(socket) = &unix_socket {
            // sun_path holds 108 bytes including the terminating NUL.
            if socket.as_os_str().len() > 107 {
                return Err(Error::Setup(format!(
                    "the Unix socket path {} is longer than the 107 bytes a socket path may have; \
                     set CARGO_TARGET_DIR to a shorter directory",
                    socket.display()
                )));
            }
        }
        let primary = match spec.role {
            Role::Replica => spec.replica_of.map(|i| &specs[i]),
            Role::Sentinel => specs.iter().find(|s| s.role == Role::Primary),
            Role::Primary => None,
        }
        .filter(|_| kind != TopologyKind::Cluster)
        .map(|p| (p.host.as_str(), p.port));
        let input = ConfigInput {
            topology: kind,
            backend: options.backend,
            node: spec,
            dir: &node_dir,
            unix_socket: unix_socket.as_deref(),
            tls: tls.as_ref().map(|(server, _)| server),
            primary,
        };
        let (file, text) = if spec.role == Role::Sentinel {
            ("sentinel.conf", config::sentinel(&input))
        } else {
            ("redis.conf", config::server(&input))
        };
        let config = node_dir.join(file);
        fs::write(&config, text).map_err(|e| Error::at("write", &config, e))?;
        nodes.push(Node {
            name: spec.name.clone(),
            role: spec.role,
            host: spec.host.clone(),
            port: spec.port,
            unix_socket,
            tls: tls.is_some(),
            dir: node_dir,
            config,
            pid: None,
            container: (options.backend == BackendKind::Docker)
                .then(|| format!("redwire-{}-{}", kind.name(), spec.name)),
        });
    }
    Ok(State {
        topology: kind,
        backend: options.backend,
        dir: dir.to_path_buf(),
        image,
        server_binary: binaries.map(|b| b.server.clone()),
        sentinel_binary: binaries.map(|b| b.sentinel.clone()),
        tls: tls.map(|(_, client)| client),
        nodes,
    })
}

/// Waits until every node answers PING, then for the topology's own notion of ready. `fresh`
/// forms the cluster (only right after `up`).
pub(crate) fn wait_ready(state: &State, timeout: Duration, fresh: bool) -> Result<()> {
    let label = state.topology.name();
    wait::until(label, "every node to answer PING", timeout, || {
        let total = state.nodes.len();
        for (ok, node) in state.nodes.iter().enumerate() {
            if let Err(pending) = wait::ping(state, node) {
                if let Some(exited) = exited(state, node) {
                    return Err(exited);
                }
                return Ok(Err(pending.progress(format!("{ok}/{total} nodes answer"))));
            }
        }
        Ok(Ok(()))
    })?;
    match state.topology {
        TopologyKind::Cluster if fresh => cluster::create(state, timeout),
        TopologyKind::Cluster => cluster::wait_healthy(state, timeout),
        TopologyKind::Sentinel => sentinel::wait_healthy(state, timeout).map(drop),
        _ => Ok(()),
    }
}

/// When a node's process or container is gone, an error quoting the end of its log.
fn exited(state: &State, node: &Node) -> Option<Error> {
    let running = match state.backend {
        BackendKind::Native => node.pid.is_some_and(|pid| !native::is_zombie_or_gone(pid)),
        BackendKind::Docker => node.container.as_deref().is_none_or(|name| {
            docker::docker(&["inspect", "--format", "{{.State.Running}}", name])
                .is_ok_and(|s| s == "true")
        }),
    };
    if running {
        return None;
    }
    let log = fs::read_to_string(node.log_file())
        .or_else(|_| fs::read_to_string(node.dir.join("stderr.log")))
        .unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(8).collect();
    Some(Error::Setup(format!(
        "{} exited while starting; the end of its log ({}):\n{}",
        node.label(),
        node.log_hint(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )))
}

/// Stops everything of `state` and removes its folder. Safe to call twice or concurrently.
fn teardown(state: &State, children: &mut [Child]) -> Result<()> {
    let result = match state.backend {
        BackendKind::Native => {
            let pids: Vec<u32> = state.nodes.iter().filter_map(|n| n.pid).collect();
            native::kill_all_under(&state.dir, &pids)
        }
        BackendKind::Docker => {
            let names: Vec<String> = state
                .nodes
                .iter()
                .filter_map(|n| n.container.clone())
                .collect();
            let r = docker::remove_all(&state.dir, &names);
            docker::remove_network_if_unused();
            r
        }
    };
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    result?;
    remove_dir(&state.dir)?;
    unregister(&state.dir);
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::at("remove", dir, e)),
        _ => Ok(()),
    }
}

/// Tears down whatever runs from the topology folder `dir` (using its state file when there
/// is one, and a sweep for stray processes and containers regardless), then removes the
/// folder. Returns whether there was anything.
pub fn down_dir(dir: &Path) -> Result<bool> {
    if !dir.exists() {
        return Ok(false);
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::at("resolve", dir, e))?;
    match State::load(&State::file_in(&dir)) {
        Ok(state) => teardown(&state, &mut [])?,
        Err(_) => {
            native::kill_all_under(&dir, &[])?;
            if docker::available() {
                docker::remove_all(&dir, &[])?;
            }
            remove_dir(&dir)?;
            unregister(&dir);
        }
    }
    Ok(true)
}

/// Tears down every topology under `root`. Returns the names of those that were up.
pub fn down_all(root: &Path) -> Result<Vec<TopologyKind>> {
    let mut downed = Vec::new();
    for kind in TopologyKind::ALL {
        if down_dir(&root.join(kind.name()))? {
            downed.push(kind);
        }
    }
    if docker::available() {
        docker::remove_network_if_unused();
    }
    Ok(downed)
}
