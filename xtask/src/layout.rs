//! What each topology is made of: its nodes, ports and addresses, before anything runs.
//!
//! Ports (native and docker alike, with the default base 7400):
//!
//! | topology        | servers                                  | sentinels        |
//! |-----------------|------------------------------------------|------------------|
//! | standalone      | 7400                                     |                  |
//! | standalone-tls  | 7410 (TLS only)                          |                  |
//! | standalone-unix | Unix socket only (`port 0`)              |                  |
//! | cluster         | 7430-7432 primaries, 7433-7435 replicas  |                  |
//! | sentinel        | 7440 primary, 7441 replica               | 7445, 7446, 7447 |
//!
//! Cluster bus ports are the server port + 10000 (17430-17435).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// The kinds of server topology xtask can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopologyKind {
    /// One server on TCP.
    Standalone,
    /// One server that only speaks TLS; client certificates are optional.
    StandaloneTls,
    /// One server that only listens on a Unix socket.
    StandaloneUnix,
    /// Three primaries and three replicas, all 16384 slots assigned.
    Cluster,
    /// One primary, one replica and three sentinels (quorum 2).
    Sentinel,
}

impl TopologyKind {
    /// Every topology, in the order the matrix runs them.
    pub const ALL: [Self; 5] = [
        Self::Standalone,
        Self::StandaloneTls,
        Self::StandaloneUnix,
        Self::Cluster,
        Self::Sentinel,
    ];

    /// The name used on the command line, in env files and in directory names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::StandaloneTls => "standalone-tls",
            Self::StandaloneUnix => "standalone-unix",
            Self::Cluster => "cluster",
            Self::Sentinel => "sentinel",
        }
    }

    /// The offset of this topology's port block from the base port.
    fn port_offset(self) -> u16 {
        match self {
            Self::Standalone => 0,
            Self::StandaloneTls => 10,
            Self::StandaloneUnix => 20,
            Self::Cluster => 30,
            Self::Sentinel => 40,
        }
    }

    /// The offset of this topology's addresses in the docker subnet.
    fn ip_offset(self) -> u8 {
        match self {
            Self::Standalone => 10,
            Self::StandaloneTls => 11,
            Self::StandaloneUnix => 12,
            Self::Cluster => 20,
            Self::Sentinel => 30,
        }
    }
}

impl fmt::Display for TopologyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TopologyKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.name()).collect();
                Error::Setup(format!(
                    "unknown topology `{s}`; pick one of: {}",
                    names.join(", ")
                ))
            })
    }
}

/// Where servers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `redis-server` and `redis-sentinel` processes on this machine, on 127.0.0.1.
    Native,
    /// Containers on the `redwire-net` docker network, reached at their container IPs.
    Docker,
}

impl BackendKind {
    /// The name used on the command line and in env files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Docker => "docker",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "native" => Ok(Self::Native),
            "docker" => Ok(Self::Docker),
            _ => Err(Error::Setup(format!(
                "unknown backend `{s}`; pick native or docker (or auto on the command line)"
            ))),
        }
    }
}

/// What a node is in its topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A data server that takes writes (at `up` time; failovers change the live role).
    Primary,
    /// A data server replicating a primary (at `up` time).
    Replica,
    /// A sentinel.
    Sentinel,
}

impl Role {
    /// The name used in state files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Replica => "replica",
            Self::Sentinel => "sentinel",
        }
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "primary" => Ok(Self::Primary),
            "replica" => Ok(Self::Replica),
            "sentinel" => Ok(Self::Sentinel),
            _ => Err(Error::Setup(format!(
                "unknown node role `{s}` in a state file"
            ))),
        }
    }
}

/// The service name the sentinels monitor.
pub const SENTINEL_SERVICE: &str = "redwire-primary";
/// The docker network xtask creates for containers.
pub const DOCKER_NETWORK: &str = "redwire-net";
/// The docker network's subnet: the first three octets; containers get fixed host numbers.
pub const DOCKER_SUBNET_PREFIX: &str = "172.30.77";
/// The first port of the topology blocks.
pub const DEFAULT_BASE_PORT: u16 = 7400;

/// The plan for one node, before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeSpec {
    /// Stable name: `redis-7430`, `sentinel-7445`, `redis-unix`.
    pub(crate) name: String,
    /// Role at `up` time.
    pub(crate) role: Role,
    /// Where clients reach it: `127.0.0.1` (native) or its container IP (docker).
    pub(crate) host: String,
    /// Its TCP (or TLS) port; 0 when it only listens on a Unix socket.
    pub(crate) port: u16,
    /// For replicas, the index of their primary in the node list.
    pub(crate) replica_of: Option<usize>,
}

/// Computes the nodes of `kind`.
pub(crate) fn plan(kind: TopologyKind, backend: BackendKind, base_port: u16) -> Vec<NodeSpec> {
    let base = base_port + kind.port_offset();
    let host = |i: u8| match backend {
        BackendKind::Native => "127.0.0.1".to_owned(),
        BackendKind::Docker => format!("{DOCKER_SUBNET_PREFIX}.{}", kind.ip_offset() + i),
    };
    let server = |i: u8, role, replica_of| NodeSpec {
        name: format!("redis-{}", base + u16::from(i)),
        role,
        host: host(i),
        port: base + u16::from(i),
        replica_of,
    };
    match kind {
        TopologyKind::Standalone | TopologyKind::StandaloneTls => {
            vec![server(0, Role::Primary, None)]
        }
        TopologyKind::StandaloneUnix => vec![NodeSpec {
            name: "redis-unix".to_owned(),
            role: Role::Primary,
            host: host(0),
            port: 0,
            replica_of: None,
        }],
        TopologyKind::Cluster => (0..6)
            .map(|i| {
                if i < 3 {
                    server(i, Role::Primary, None)
                } else {
                    server(i, Role::Replica, Some(usize::from(i - 3)))
                }
            })
            .collect(),
        TopologyKind::Sentinel => {
            let mut nodes = vec![
                server(0, Role::Primary, None),
                server(1, Role::Replica, Some(0)),
            ];
            nodes.extend((5..8).map(|i| NodeSpec {
                name: format!("sentinel-{}", base + u16::from(i)),
                role: Role::Sentinel,
                host: host(i),
                port: base + u16::from(i),
                replica_of: None,
            }));
            nodes
        }
    }
}

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo target directory: `$CARGO_TARGET_DIR` or `<workspace>/target`.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// The default directory under which each topology gets its own folder: `target/redwire/`.
pub fn default_root() -> PathBuf {
    target_dir().join("redwire")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_blocks_do_not_overlap() {
        let mut ports: Vec<u16> = TopologyKind::ALL
            .iter()
            .flat_map(|k| plan(*k, BackendKind::Native, DEFAULT_BASE_PORT))
            .map(|n| n.port)
            .filter(|p| *p != 0)
            .collect();
        let count = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), count, "two topologies share a port");
        assert!(ports.iter().all(|p| (7400..7450).contains(p)));
    }

    #[test]
    fn docker_addresses_are_unique_and_in_the_subnet() {
        let mut hosts: Vec<String> = TopologyKind::ALL
            .iter()
            .flat_map(|k| plan(*k, BackendKind::Docker, DEFAULT_BASE_PORT))
            .map(|n| n.host)
            .collect();
        let count = hosts.len();
        hosts.sort();
        hosts.dedup();
        assert_eq!(hosts.len(), count);
        assert!(hosts.iter().all(|h| h.starts_with("172.30.77.")));
    }

    #[test]
    fn cluster_has_three_primaries_each_with_a_replica() {
        let nodes = plan(
            TopologyKind::Cluster,
            BackendKind::Native,
            DEFAULT_BASE_PORT,
        );
        assert_eq!(nodes.iter().filter(|n| n.role == Role::Primary).count(), 3);
        let mut primaries: Vec<_> = nodes.iter().filter_map(|n| n.replica_of).collect();
        primaries.sort_unstable();
        assert_eq!(primaries, [0, 1, 2]);
    }

    #[test]
    fn names_round_trip() {
        for kind in TopologyKind::ALL {
            assert_eq!(kind.name().parse::<TopologyKind>().unwrap(), kind);
        }
        assert!("clustr".parse::<TopologyKind>().is_err());
    }
}
