//! The state file (what fault helpers and `down` need) and the env file (what tests read).
//!
//! Both are `KEY=VALUE` text. A state file has one `node=` line per node whose fields are
//! separated by tabs: name, role, host, port, unix socket, tls, dir, config, pid, container.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::layout::{BackendKind, Role, SENTINEL_SERVICE, TopologyKind};
use crate::resp::{Address, Endpoint, TlsFiles};

/// One running node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Stable name, e.g. `redis-7430` or `sentinel-7445`.
    pub name: String,
    /// Role at `up` time.
    pub role: Role,
    /// The address clients use: `127.0.0.1` or the container IP.
    pub host: String,
    /// TCP (or TLS) port; 0 when the node only has a Unix socket.
    pub port: u16,
    /// The Unix socket path, when the node has one.
    pub unix_socket: Option<PathBuf>,
    /// Whether the port speaks TLS only.
    pub tls: bool,
    /// The node's working directory (config, logs, nodes.conf).
    pub dir: PathBuf,
    /// The config file the node was started with.
    pub config: PathBuf,
    /// Native backend: the process id.
    pub pid: Option<u32>,
    /// Docker backend: the container name.
    pub container: Option<String>,
}

impl Node {
    /// Whether this is a sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.role == Role::Sentinel
    }

    /// The address to reach the node at.
    pub fn address(&self) -> Address {
        match &self.unix_socket {
            Some(path) if self.port == 0 => Address::Unix(path.clone()),
            _ => Address::Tcp {
                host: self.host.clone(),
                port: self.port,
            },
        }
    }

    /// `host:port` (or the socket path).
    pub fn addr(&self) -> String {
        self.address().to_string()
    }

    /// The node's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// Where to look when the node misbehaves.
    pub fn log_hint(&self) -> String {
        match &self.container {
            Some(name) => format!("{} (or `docker logs {name}`)", self.log_file().display()),
            None => self.log_file().display().to_string(),
        }
    }

    /// `name (addr)` for messages.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.addr())
    }
}

/// Everything xtask knows about a topology that is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Which topology.
    pub topology: TopologyKind,
    /// Where it runs.
    pub backend: BackendKind,
    /// The topology's directory (removed by `down`).
    pub dir: PathBuf,
    /// Docker backend: the image the containers run.
    pub image: Option<String>,
    /// Native backend: the `redis-server` binary (used to restart nodes).
    pub server_binary: Option<PathBuf>,
    /// Native backend: the `redis-sentinel` binary.
    pub sentinel_binary: Option<PathBuf>,
    /// TLS files, for the TLS topology.
    pub tls: Option<TlsFiles>,
    /// The nodes.
    pub nodes: Vec<Node>,
}

impl State {
    /// The state file's path inside a topology directory.
    pub fn file_in(dir: &Path) -> PathBuf {
        dir.join("state")
    }

    /// The env file's path inside a topology directory.
    pub fn env_file_in(dir: &Path) -> PathBuf {
        dir.join("env")
    }

    /// This topology's state file.
    pub fn file(&self) -> PathBuf {
        Self::file_in(&self.dir)
    }

    /// This topology's env file.
    pub fn env_file(&self) -> PathBuf {
        Self::env_file_in(&self.dir)
    }

    /// How to connect to `node`.
    pub fn endpoint(&self, node: &Node) -> Endpoint {
        Endpoint {
            address: node.address(),
            tls: if node.tls { self.tls.clone() } else { None },
        }
    }

    /// The data servers (not sentinels).
    pub fn servers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| !n.is_sentinel())
    }

    /// The sentinels.
    pub fn sentinels(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.is_sentinel())
    }

    /// Finds a node by name (`redis-7430`), address (`127.0.0.1:7430`) or socket path.
    pub fn node(&self, which: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == which || n.addr() == which)
            .ok_or_else(|| {
                let known: Vec<_> = self.nodes.iter().map(Node::label).collect();
                Error::Setup(format!(
                    "no node `{which}` in the {} topology; it has: {}",
                    self.topology,
                    known.join(", ")
                ))
            })
    }

    pub(crate) fn node_mut(&mut self, which: &str) -> Result<&mut Node> {
        let name = self.node(which)?.name.clone();
        Ok(self
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("node() found it"))
    }

    /// Reads a state file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).map_err(|e| Error::at("read the state file", path, e))?;
        Self::parse(&text).map_err(|why| {
            Error::Setup(format!(
                "the state file {} is damaged ({why}); run `cargo xtask down` and bring the \
                 topology up again",
                path.display()
            ))
        })
    }

    /// Writes the state file (atomically: a crash leaves the old one or the new one).
    pub fn save(&self) -> Result<()> {
        write_atomically(&self.file(), &self.render())
    }

    fn render(&self) -> String {
        let opt = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let mut out =
            String::from("# written by `cargo xtask up`; read by `down` and the fault helpers\n");
        let _ = writeln!(out, "topology={}", self.topology);
        let _ = writeln!(out, "backend={}", self.backend);
        let _ = writeln!(out, "dir={}", self.dir.display());
        let _ = writeln!(out, "image={}", self.image.clone().unwrap_or_default());
        let _ = writeln!(out, "server-binary={}", opt(&self.server_binary));
        let _ = writeln!(out, "sentinel-binary={}", opt(&self.sentinel_binary));
        if let Some(tls) = &self.tls {
            let _ = writeln!(out, "tls-ca={}", tls.ca.display());
            let _ = writeln!(out, "tls-cert={}", tls.cert.display());
            let _ = writeln!(out, "tls-key={}", tls.key.display());
        }
        for n in &self.nodes {
            let fields = [
                n.name.clone(),
                n.role.name().to_owned(),
                n.host.clone(),
                n.port.to_string(),
                opt(&n.unix_socket),
                n.tls.to_string(),
                n.dir.display().to_string(),
                n.config.display().to_string(),
                n.pid.map(|p| p.to_string()).unwrap_or_default(),
                n.container.clone().unwrap_or_default(),
            ];
            let _ = writeln!(out, "node={}", fields.join("\t"));
        }
        out
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut get = KeyValues::parse(text);
        let nodes = get
            .all("node")
            .iter()
            .map(|line| parse_node(line))
            .collect::<Result<Vec<_>, _>>()?;
        let path = |v: String| (!v.is_empty()).then(|| PathBuf::from(v));
        let tls = match (
            get.take("tls-ca"),
            get.take("tls-cert"),
            get.take("tls-key"),
        ) {
            (Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
                ca: ca.into(),
                cert: cert.into(),
                key: key.into(),
            }),
            _ => None,
        };
        Ok(Self {
            topology: get
                .required("topology")?
                .parse()
                .map_err(|e: Error| e.to_string())?,
            backend: get
                .required("backend")?
                .parse()
                .map_err(|e: Error| e.to_string())?,
            dir: get.required("dir")?.into(),
            image: get.take("image").filter(|s| !s.is_empty()),
            server_binary: get.take("server-binary").and_then(path),
            sentinel_binary: get.take("sentinel-binary").and_then(path),
            tls,
            nodes,
        })
    }

    /// The variables tests read (the env file's content), in a stable order.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("REDWIRE_TOPOLOGY".to_owned(), self.topology.to_string()),
            ("REDWIRE_BACKEND".to_owned(), self.backend.to_string()),
            (
                "REDWIRE_STATE_FILE".to_owned(),
                self.file().display().to_string(),
            ),
        ];
        let mut set = |k: &str, v: String| vars.push((k.to_owned(), v));
        let servers: Vec<&Node> = self.servers().collect();
        let first = servers[0];
        match self.topology {
            TopologyKind::Standalone => {
                set(
                    "REDWIRE_URL",
                    format!("redis://{}:{}", first.host, first.port),
                );
            }
            TopologyKind::StandaloneTls => {
                // Natively the certificate names `localhost`; in docker the container IP.
                let host = match self.backend {
                    BackendKind::Native => "localhost",
                    BackendKind::Docker => first.host.as_str(),
                };
                set("REDWIRE_URL", format!("rediss://{host}:{}", first.port));
                if let Some(tls) = &self.tls {
                    set("REDWIRE_TLS_CA", tls.ca.display().to_string());
                    set("REDWIRE_TLS_CLIENT_CERT", tls.cert.display().to_string());
                    set("REDWIRE_TLS_CLIENT_KEY", tls.key.display().to_string());
                }
            }
            TopologyKind::StandaloneUnix => {
                let socket = first.unix_socket.as_ref().map(|p| p.display().to_string());
                set(
                    "REDWIRE_URL",
                    format!("redis+unix://{}", socket.unwrap_or_default()),
                );
            }
            TopologyKind::Cluster => {
                let urls: Vec<_> = servers
                    .iter()
                    .map(|n| format!("redis://{}:{}", n.host, n.port))
                    .collect();
                set("REDWIRE_URL", urls[0].clone());
                set("REDWIRE_CLUSTER_NODES", urls.join(","));
            }
            TopologyKind::Sentinel => {
                let sentinels: Vec<_> = self.sentinels().map(Node::addr).collect();
                set("REDWIRE_SENTINELS", sentinels.join(","));
                set("REDWIRE_SENTINEL_SERVICE", SENTINEL_SERVICE.to_owned());
                set(
                    "REDWIRE_URL",
                    format!(
                        "redis+sentinel://{}/{SENTINEL_SERVICE}",
                        sentinels.join(",")
                    ),
                );
                let primary = servers
                    .iter()
                    .find(|n| n.role == Role::Primary)
                    .unwrap_or(&first);
                set(
                    "REDWIRE_PRIMARY_URL",
                    format!("redis://{}:{}", primary.host, primary.port),
                );
            }
        }
        vars
    }

    /// Writes the env file.
    pub fn write_env_file(&self) -> Result<PathBuf> {
        let mut text = String::from(
            "# written by `cargo xtask up`; the integration tests read it via REDWIRE_ENV_FILE\n",
        );
        for (k, v) in self.env_vars() {
            let _ = writeln!(text, "{k}={v}");
        }
        let path = self.env_file();
        write_atomically(&path, &text)?;
        Ok(path)
    }
}

fn parse_node(line: &str) -> Result<Node, String> {
    let f: Vec<&str> = line.split('\t').collect();
    let [
        name,
        role,
        host,
        port,
        unix,
        tls,
        dir,
        config,
        pid,
        container,
    ] = f[..]
    else {
        return Err(format!("a node line has {} fields instead of 10", f.len()));
    };
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(Node {
        name: name.to_owned(),
        role: role.parse().map_err(|e: Error| e.to_string())?,
        host: host.to_owned(),
        port: port.parse().map_err(|_| format!("bad port {port:?}"))?,
        unix_socket: some(unix).map(PathBuf::from),
        tls: tls == "true",
        dir: dir.into(),
        config: config.into(),
        pid: some(pid)
            .map(|p| p.parse().map_err(|_| format!("bad pid {p:?}")))
            .transpose()?,
        container: some(container),
    })
}

/// `KEY=VALUE` lines; `#` starts a comment line; a key may repeat.
#[derive(Debug, Default)]
pub struct KeyValues {
    pairs: Vec<(String, String)>,
}

impl KeyValues {
    /// Parses `KEY=VALUE` lines, skipping blank and comment lines.
    pub fn parse(text: &str) -> Self {
        let pairs = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
            .collect();
        Self { pairs }
    }

    /// The last value of `key`, if any, removing it.
    pub fn take(&mut self, key: &str) -> Option<String> {
        let i = self.pairs.iter().rposition(|(k, _)| k == key)?;
        Some(self.pairs.remove(i).1)
    }

    /// The value of `key`, or an error naming it.
    pub fn required(&mut self, key: &str) -> Result<String, String> {
        self.take(key).ok_or_else(|| format!("`{key}` is missing"))
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| Error::at("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{DEFAULT_BASE_PORT, plan};

    fn sample(kind: TopologyKind, backend: BackendKind) -> State {
        let dir = PathBuf::from("/tmp/redwire-test").join(kind.name());
        let nodes = plan(kind, backend, DEFAULT_BASE_PORT)
            .into_iter()
            .enumerate()
            .map(|(i, spec)| Node {
                unix_socket: (spec.port == 0).then(|| dir.join("redis.sock")),
                tls: kind == TopologyKind::StandaloneTls,
                dir: dir.join(&spec.name),
                config: dir.join(&spec.name).join("redis.conf"),
                pid: (backend == BackendKind::Native).then_some(1000 + i as u32),
                container: (backend == BackendKind::Docker).then(|| format!("c{i}")),
                name: spec.name,
                role: spec.role,
                host: spec.host,
                port: spec.port,
            })
            .collect();
        State {
            topology: kind,
            backend,
            dir: dir.clone(),
            image: (backend == BackendKind::Docker).then(|| "redwire/redis:local".into()),
            server_binary: Some("/usr/bin/redis-server".into()),
            sentinel_binary: None,
            tls: (kind == TopologyKind::StandaloneTls).then(|| TlsFiles {
                ca: dir.join("ca.crt"),
                cert: dir.join("client.crt"),
                key: dir.join("client.key"),
            }),
            nodes,
        }
    }

    #[test]
    fn state_round_trips_for_every_topology_and_backend() {
        for kind in TopologyKind::ALL {
            for backend in [BackendKind::Native, BackendKind::Docker] {
                let state = sample(kind, backend);
                assert_eq!(
                    State::parse(&state.render()).unwrap(),
                    state,
                    "{kind}/{backend}"
                );
            }
        }
    }

    #[test]
    fn env_file_has_the_documented_keys() {
        let keys = |kind, backend| -> Vec<String> {
            sample(kind, backend)
                .env_vars()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        let common = [
            "REDWIRE_TOPOLOGY",
            "REDWIRE_BACKEND",
            "REDWIRE_STATE_FILE",
            "REDWIRE_URL",
        ];
        for kind in TopologyKind::ALL {
            let k = keys(kind, BackendKind::Native);
            for key in common {
                assert!(k.iter().any(|x| x == key), "{kind} lacks {key}");
            }
        }
        let vars = sample(TopologyKind::Cluster, BackendKind::Native).env_vars();
        let nodes = &vars
            .iter()
            .find(|(k, _)| k == "REDWIRE_CLUSTER_NODES")
            .unwrap()
            .1;
        assert_eq!(nodes.split(',').count(), 6);
        let vars = sample(TopologyKind::Sentinel, BackendKind::Docker).env_vars();
        let url = &vars.iter().find(|(k, _)| k == "REDWIRE_URL").unwrap().1;
        assert_eq!(
            url,
            "redis+sentinel://172.30.77.35:7445,172.30.77.36:7446,172.30.77.37:7447/redwire-primary"
        );
        let vars = sample(TopologyKind::StandaloneTls, BackendKind::Native).env_vars();
        assert!(vars.contains(&("REDWIRE_URL".into(), "rediss://localhost:7410".into())));
        assert!(vars.iter().any(|(k, _)| k == "REDWIRE_TLS_CLIENT_KEY"));
    }

    #[test]
    fn damaged_state_is_reported() {
        assert!(State::parse("topology=cluster\n").is_err());
        assert!(State::parse("topology=cluster\nbackend=native\ndir=/x\nnode=a\tb\n").is_err());
    }
}
