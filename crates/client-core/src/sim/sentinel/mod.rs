//! [`FakeSentinels`]: a primary, its replicas and the Redis Sentinels that watch them, each
//! at its own address, failing over on an agenda of virtual time.

mod instance;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use self::instance::FakeSentinel;
use self::instance::Watched;
use super::SimRng;
use super::cluster::{
    Member, NodeState, dial_to, node_host, node_ip, node_port, receive_and_replicate,
};
use super::net::{Dial, Outage, Servers, sends};
use super::node::{FakeNode, NodeConfig, NodeConnId, ReplicationRole, StoredValue};
use crate::config::ServerAddr;

/// The node number under which a [`Sim`](super::Sim) knows sentinel `i`; data nodes are
/// numbered from 0.
pub fn sentinel_node(i: u16) -> u16 {
    SENTINEL_BASE + i
}

/// The first sentinel's node number.
const SENTINEL_BASE: u16 = 100;

/// The address sentinel `i` listens on: host `sentinel-<i>`, port `26379 + i`.
///
/// ```
/// use client_core::ServerAddr;
/// assert_eq!(
///     client_core::sim::sentinel_addr(1),
///     ServerAddr::Tcp { host: "sentinel-1".into(), port: 26380 }
/// );
/// ```
pub fn sentinel_addr(i: u16) -> ServerAddr {
    ServerAddr::Tcp {
        host: sentinel_host(i),
        port: sentinel_port(i),
    }
}

/// The host name of sentinel `i`: `sentinel-<i>`.
pub fn sentinel_host(i: u16) -> String {
    format!("sentinel-{i}")
}

/// The IP address sentinel `i` announces to the others: `10.1.0.<i>`. The simulated network
/// reaches it under either.
pub fn sentinel_ip(i: u16) -> String {
    format!("10.1.{}.{}", i / 256, i % 256)
}

/// The port sentinel `i` listens on: `26379 + i`.
pub fn sentinel_port(i: u16) -> u16 {
    26379 + i
}

/// The 40-character run id of sentinel `i` (the SHA-1 of its host name, in hex).
pub fn sentinel_id(i: u16) -> String {
    sha1_smol::Sha1::from(sentinel_host(i).as_bytes())
        .digest()
        .to_string()
}

/// The shape of a [`FakeSentinels`] when it starts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SentinelConfig {
    /// The name the sentinels monitor the primary under.
    pub service: String,
    /// Replicas of the primary (0 to 2 make sense).
    pub replicas: u16,
    /// Sentinels (1 to 5 make sense).
    pub sentinels: u16,
    /// How the data nodes behave (version, users).
    pub node: NodeConfig,
    /// Users and passwords of the sentinels, apart from the data nodes': when not empty,
    /// sentinel connections must authenticate first.
    pub sentinel_users: Vec<(String, String)>,
    /// How long a sentinel takes to flag a node that stopped answering `s_down`
    /// (`down-after-milliseconds`).
    pub down_after: Duration,
    /// Drives the random delays of the agenda (when each sentinel switches).
    pub seed: u64,
}

impl SentinelConfig {
    /// `service` on a primary with `replicas` replicas, watched by `sentinels` sentinels,
    /// nobody requiring a password, `down_after` 1 s.
    pub fn new(service: &str, replicas: u16, sentinels: u16) -> Self {
        Self {
            service: service.to_owned(),
            replicas,
            sentinels,
            node: NodeConfig::default(),
            sentinel_users: Vec::new(),
            down_after: Duration::from_secs(1),
            seed: 0,
        }
    }

    /// Requires `password` for the sentinels' `default` user.
    pub fn with_sentinel_password(mut self, password: &str) -> Self {
        self.sentinel_users
            .push(("default".into(), password.into()));
        self
    }
}

/// A failover, as [`Happening::Failover`] runs it: optionally the primary crashes, after
/// `detection` a replica is promoted (it takes writes; the old primary, if it still runs,
/// is demoted to its replica; with `kill_clients`, every node reconfigured has its normal
/// client connections closed, as Sentinel's `CLIENT KILL TYPE normal` does), and each
/// sentinel switches to it after its own delay up to `switch_within`, publishing
/// `+switch-master`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failover {
    /// `Some(silent)`: the primary crashes first (its host vanishes when `silent`); `None`:
    /// a manual failover (`SENTINEL FAILOVER`), the old primary stays up and is demoted.
    pub crash: Option<bool>,
    /// The replica to promote; `None`: the lowest-numbered replica that runs.
    pub promote: Option<u16>,
    /// From the start to the promotion: failure detection, agreement and election.
    pub detection: Duration,
    /// Each sentinel switches within this long after the promotion.
    pub switch_within: Duration,
    /// Whether the reconfigured nodes close their clients' connections (Sentinel does);
    /// without, clients of the demoted primary stay connected and get `-READONLY` (as
    /// after Redis's own `FAILOVER` command).
    pub kill_clients: bool,
    /// When the primary crashed: it runs again this long after the start (as a replica of
    /// the new primary, with a full copy of its data); `None`: it stays down.
    pub restart_after: Option<Duration>,
}

impl Failover {
    /// The primary crashes (vanishes when `silent`); a replica takes over 1.5 s later and
    /// the sentinels switch within 200 ms after that.
    pub fn crash(silent: bool) -> Self {
        Self {
            crash: Some(silent),
            promote: None,
            detection: Duration::from_millis(1500),
            switch_within: Duration::from_millis(200),
            kill_clients: true,
            restart_after: None,
        }
    }

    /// `SENTINEL FAILOVER`: the primary stays up; a replica takes over 100 ms later and the
    /// sentinels switch within 200 ms after that.
    pub fn manual() -> Self {
        Self {
            crash: None,
            promote: None,
            detection: Duration::from_millis(100),
            switch_within: Duration::from_millis(200),
            kill_clients: true,
            restart_after: None,
        }
    }
}

/// Something that happens to a [`FakeSentinels`] at a planned time
/// ([`FakeSentinels::schedule`]), or now ([`FakeSentinels::apply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Happening {
    /// Data node `node` crashes: dials are refused (never answered when `silent`) and its
    /// connections reset (silenced). Each sentinel flags it `s_down` after `down_after`.
    Crash {
        /// The data node.
        node: u16,
        /// The host vanishes instead of refusing.
        silent: bool,
    },
    /// Data node `node` runs again: the primary with its data if no replica was promoted
    /// meanwhile, else a replica of the current primary with a full copy of its data.
    Restart {
        /// The data node.
        node: u16,
    },
    /// Sentinel `sentinel` crashes (vanishes when `silent`).
    CrashSentinel {
        /// The sentinel's index.
        sentinel: u16,
        /// The host vanishes instead of refusing.
        silent: bool,
    },
    /// Sentinel `sentinel` runs again, naming the current primary (unless it lies).
    RestartSentinel {
        /// The sentinel's index.
        sentinel: u16,
    },
    /// A failover episode starts.
    Failover(Failover),
    /// Replica `node` becomes the primary, at once and without telling the sentinels: see
    /// [`Failover`].
    Promote {
        /// The replica.
        node: u16,
        /// Whether the nodes reconfigured close their clients' connections.
        kill_clients: bool,
    },
    /// Sentinel `sentinel` names `to` from now on and publishes `+switch-master`.
    Switch {
        /// The sentinel's index.
        sentinel: u16,
        /// The data node.
        to: u16,
    },
    /// Sentinel `sentinel` names `names` from now on, whatever happens (a stale or lying
    /// sentinel); it publishes nothing.
    Lie {
        /// The sentinel's index.
        sentinel: u16,
        /// The data node it names.
        names: u16,
    },
    /// Sentinel `sentinel` (every running one when `None`) flags data node `node` `s_down`,
    /// or clears the flag, and publishes `+sdown` or `-sdown`, whether the node runs or not
    /// (a partition between the sentinels and the node).
    Flag {
        /// The sentinel's index, or all.
        sentinel: Option<u16>,
        /// The data node.
        node: u16,
        /// Flag or clear.
        down: bool,
    },
}

/// One failover as it went: who was primary, who took over, when each sentinel switched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverEpisode {
    /// When it started.
    pub started: Instant,
    /// The primary at the start.
    pub from: u16,
    /// Whether the primary crashed (and was it silent).
    pub crashed: Option<bool>,
    /// The replica promoted, and when; `None` while it has not happened, or when no replica
    /// could be.
    pub promoted: Option<(u16, Instant)>,
    /// Each sentinel that switched to the promoted node, with when it published
    /// `+switch-master`.
    pub switched: Vec<(u16, Instant)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Happen(Happening),
    /// Sentinel `sentinel` notices `node` is still down (or back up).
    Notice {
        sentinel: u16,
        node: u16,
        down: bool,
    },
}

#[derive(Debug)]
struct Watcher {
    sentinel: FakeSentinel,
    state: NodeState,
}

/// A primary and its replicas ([`FakeNode`]s with a [`ReplicationRole`]) and the Redis
/// Sentinels that watch them ([`FakeSentinel`]s), on one simulated network.
///
/// Data node `n` (the primary starts as 0, its replicas 1, 2, ...) listens on
/// [`node_addr(n)`](super::node_addr) and is announced by the sentinels under its IP address
/// [`node_ip(n)`](node_ip); sentinel `i` listens on [`sentinel_addr(i)`](sentinel_addr) and is node
/// [`sentinel_node(i)`](sentinel_node) to the [`Sim`](super::Sim). The primary's writes reach its replicas
/// synchronously, so a failover loses no acknowledged write. Each sentinel holds its own
/// belief of the primary, so sentinels can disagree; the operator's truth is
/// [`primary`](Self::primary).
///
/// Things happen on an agenda of virtual time ([`schedule`](Self::schedule)), or at once
/// ([`apply`](Self::apply), then [`Sim::sync_servers`](super::Sim::sync_servers)).
///
/// ```
/// use client_core::sim::{Clock, FakeSentinels, Happening, SentinelConfig};
/// let mut set = FakeSentinels::new(SentinelConfig::new("orders", 1, 3));
/// assert_eq!(set.primary(), 0);
/// let now = Clock::new().now();
/// set.apply(Happening::Promote { node: 1, kill_clients: true }, now);
/// assert_eq!(set.primary(), 1);
/// assert_eq!(set.sentinel(0).unwrap().names(), 0, "no sentinel switched yet");
/// ```
#[derive(Debug)]
pub struct FakeSentinels {
    config: SentinelConfig,
    nodes: BTreeMap<u16, Member>,
    sentinels: Vec<Watcher>,
    primary: u16,
    agenda: BTreeMap<(Instant, u64), Step>,
    next_seq: u64,
    outages: Vec<Outage>,
    rng: SimRng,
    episodes: Vec<FailoverEpisode>,
}

impl FakeSentinels {
    /// Data node 0 the primary, `1..=replicas` its replicas, every sentinel naming node 0.
    pub fn new(config: SentinelConfig) -> Self {
        let sentinels = (0..config.sentinels.max(1))
            .map(|i| Watcher {
                sentinel: FakeSentinel::new(i, 0, config.sentinel_users.clone()),
                state: NodeState::Up,
            })
            .collect();
        let nodes = (0..=config.replicas)
            .map(|n| (n, Member::up(FakeNode::new(config.node.clone()))))
            .collect();
        let mut set = Self {
            rng: SimRng::new(config.seed),
            config,
            nodes,
            sentinels,
            primary: 0,
            agenda: BTreeMap::new(),
            next_seq: 0,
            outages: Vec::new(),
            episodes: Vec::new(),
        };
        set.refresh_roles();
        set
    }

    /// The configuration it started from.
    pub fn config(&self) -> &SentinelConfig {
        &self.config
    }

    /// The sentinels' addresses, in index order, to start a client from.
    pub fn sentinel_addrs(&self) -> Vec<ServerAddr> {
        (0..self.sentinels.len() as u16)
            .map(sentinel_addr)
            .collect()
    }

    /// The operator's truth: the data node that is the primary now.
    pub fn primary(&self) -> u16 {
        self.primary
    }

    /// The other data nodes (replicas, running or not), in number order.
    pub fn replicas(&self) -> Vec<u16> {
        self.nodes
            .keys()
            .copied()
            .filter(|&n| n != self.primary)
            .collect()
    }

    /// Data node `n`.
    pub fn node(&self, n: u16) -> Option<&FakeNode> {
        self.nodes.get(&n).map(|d| &d.node)
    }

    /// Data node `n`, to look at its data or change it.
    pub fn node_mut(&mut self, n: u16) -> Option<&mut FakeNode> {
        self.nodes.get_mut(&n).map(|d| &mut d.node)
    }

    /// Whether data node `n` runs.
    pub fn state(&self, n: u16) -> Option<NodeState> {
        self.nodes.get(&n).map(|d| d.state)
    }

    /// Sentinel `i`.
    pub fn sentinel(&self, i: u16) -> Option<&FakeSentinel> {
        self.sentinels.get(usize::from(i)).map(|w| &w.sentinel)
    }

    /// Whether sentinel `i` runs.
    pub fn sentinel_state(&self, i: u16) -> Option<NodeState> {
        self.sentinels.get(usize::from(i)).map(|w| w.state)
    }

    /// The data nodes that hold `key` (database 0) at `now`, in number order.
    pub fn holders(&mut self, key: &[u8], now: Instant) -> Vec<u16> {
        self.nodes
            .iter_mut()
            .filter_map(|(&n, d)| d.node.value(0, key, now).is_some().then_some(n))
            .collect()
    }

    /// The failovers so far.
    pub fn episodes(&self) -> &[FailoverEpisode] {
        &self.episodes
    }

    /// Plans `what` at `at`.
    pub fn schedule(&mut self, at: Instant, what: Happening) {
        self.plan(at, Step::Happen(what));
    }

    /// Applies `what` now; call [`Sim::sync_servers`](super::Sim::sync_servers) after, so that
    /// the network acts on it.
    pub fn apply(&mut self, what: Happening, now: Instant) {
        self.happen(what, now);
    }

    fn plan(&mut self, at: Instant, step: Step) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.agenda.insert((at, seq), step);
    }

    fn happen(&mut self, what: Happening, now: Instant) {
        match what {
            Happening::Crash { node, silent } => self.crash(node, silent, now),
            Happening::Restart { node } => self.restart_node(node, now),
            Happening::CrashSentinel { sentinel, silent } => {
                if let Some(w) = self.sentinels.get_mut(usize::from(sentinel)) {
                    w.state = NodeState::Crashed { silent };
                    w.sentinel.restart();
                    let node = sentinel_node(sentinel);
                    self.outages.push(if silent {
                        Outage::Silence { node }
                    } else {
                        Outage::Reset {
                            node,
                            reason: "connection reset by peer (sentinel crashed)",
                        }
                    });
                }
            }
            Happening::RestartSentinel { sentinel } => {
                let primary = self.primary;
                if let Some(w) = self.sentinels.get_mut(usize::from(sentinel)) {
                    w.state = NodeState::Up;
                    w.sentinel.restart();
                    w.sentinel.adopt(primary);
                }
            }
            Happening::Failover(plan) => self.start_failover(plan, now),
            Happening::Promote { node, kill_clients } => self.promote(node, kill_clients, now),
            Happening::Switch { sentinel, to } => self.switch(sentinel, to, now),
            Happening::Lie { sentinel, names } => {
                if let Some(w) = self.sentinels.get_mut(usize::from(sentinel)) {
                    w.sentinel.lie(names);
                }
            }
            Happening::Flag {
                sentinel,
                node,
                down,
            } => {
                let all: Vec<u16> = (0..self.sentinels.len() as u16).collect();
                for i in sentinel.map_or(all, |i| vec![i]) {
                    self.notice(i, node, down);
                }
            }
        }
    }

    /// Data node `node` crashes now.
    fn crash(&mut self, node: u16, silent: bool, now: Instant) {
        let Some(d) = self.nodes.get_mut(&node) else {
            return;
        };
        d.state = NodeState::Crashed { silent };
        d.node.restart();
        self.outages.push(if silent {
            Outage::Silence { node }
        } else {
            Outage::Reset {
                node,
                reason: "connection reset by peer (node crashed)",
            }
        });
        let at = now + self.config.down_after;
        for i in 0..self.sentinels.len() as u16 {
            self.plan(
                at,
                Step::Notice {
                    sentinel: i,
                    node,
                    down: true,
                },
            );
        }
        self.refresh_roles();
    }

    /// Data node `node` runs again now.
    fn restart_node(&mut self, node: u16, now: Instant) {
        let primary = self.primary;
        let Some(d) = self.nodes.get_mut(&node) else {
            return;
        };
        if d.state == NodeState::Up {
            return;
        }
        d.state = NodeState::Up;
        d.node.restart();
        if node != primary {
            self.resync(node);
        }
        for i in 0..self.sentinels.len() as u16 {
            let at = now + self.rng.millis(0, 100);
            self.plan(
                at,
                Step::Notice {
                    sentinel: i,
                    node,
                    down: false,
                },
            );
        }
        self.refresh_roles();
    }

    /// `node` takes a full copy of the primary's data (from its disk, if it does not run:
    /// replication is synchronous, so nothing acknowledged is missing).
    fn resync(&mut self, node: u16) {
        let Some(primary) = self.nodes.remove(&self.primary) else {
            return;
        };
        if let Some(d) = self.nodes.get_mut(&node) {
            d.node.copy_data_from(&primary.node);
        }
        self.nodes.insert(self.primary, primary);
    }

    fn start_failover(&mut self, plan: Failover, now: Instant) {
        let from = self.primary;
        self.episodes.push(FailoverEpisode {
            started: now,
            from,
            crashed: plan.crash,
            promoted: None,
            switched: Vec::new(),
        });
        if let Some(silent) = plan.crash {
            self.crash(from, silent, now);
            if let Some(after) = plan.restart_after {
                self.plan(now + after, Step::Happen(Happening::Restart { node: from }));
            }
        }
        let chosen = plan.promote.or_else(|| {
            self.nodes
                .iter()
                .find(|(n, d)| **n != from && d.state == NodeState::Up)
                .map(|(&n, _)| n)
        });
        let Some(node) = chosen else {
            return;
        };
        let at = now + plan.detection;
        let kill_clients = plan.kill_clients;
        self.plan(at, Step::Happen(Happening::Promote { node, kill_clients }));
        for i in 0..self.sentinels.len() as u16 {
            let delay = self.rng.millis(0, plan.switch_within.as_millis() as u64);
            self.plan(
                at + delay,
                Step::Happen(Happening::Switch {
                    sentinel: i,
                    to: node,
                }),
            );
        }
    }

    /// Replica `node` becomes the primary now; with `kill_clients`, every running node it
    /// reconfigures (itself, the other replicas, the old primary) closes its normal client
    /// connections.
    fn promote(&mut self, node: u16, kill_clients: bool, now: Instant) {
        if node == self.primary || self.state(node) != Some(NodeState::Up) {
            return;
        }
        self.primary = node;
        if let Some(e) = self.episodes.last_mut().filter(|e| e.promoted.is_none()) {
            e.promoted = Some((node, now));
        }
        let running: Vec<u16> = self
            .nodes
            .iter()
            .filter(|(_, d)| d.state == NodeState::Up)
            .map(|(&n, _)| n)
            .collect();
        for n in running {
            if n != node {
                self.resync(n);
            }
            if kill_clients {
                self.outages.push(Outage::Reset {
                    node: n,
                    reason: "connection closed by the server (CLIENT KILL TYPE normal)",
                });
            }
        }
        self.refresh_roles();
    }

    /// Sentinel `sentinel` switches to `to` now, if it runs.
    fn switch(&mut self, sentinel: u16, to: u16, now: Instant) {
        let Some(w) = self.sentinels.get_mut(usize::from(sentinel)) else {
            return;
        };
        if w.state != NodeState::Up {
            return;
        }
        let before = w.sentinel.names();
        let sent = w.sentinel.switch(to, &self.config.service);
        if w.sentinel.names() != before
            && let Some(e) = self
                .episodes
                .iter_mut()
                .rev()
                .find(|e| e.promoted.is_some_and(|(n, _)| n == to))
        {
            e.switched.push((sentinel, now));
        }
        self.send(sentinel, sent);
    }

    /// Sentinel `sentinel` flags `node` down or up, if it runs.
    fn notice(&mut self, sentinel: u16, node: u16, down: bool) {
        let Some(w) = self.sentinels.get_mut(usize::from(sentinel)) else {
            return;
        };
        if w.state != NodeState::Up {
            return;
        }
        let sent = w.sentinel.flag(node, down, &self.config.service);
        self.send(sentinel, sent);
    }

    fn send(&mut self, sentinel: u16, messages: Vec<(NodeConnId, Bytes)>) {
        for (conn, data) in messages {
            self.outages.push(Outage::Send {
                node: sentinel_node(sentinel),
                conn,
                data,
            });
        }
    }

    /// Gives every data node the role the truth says: the primary lists its running
    /// replicas; the others replicate it, linked while it runs.
    fn refresh_roles(&mut self) {
        let primary = self.primary;
        let primary_up = self.state(primary) == Some(NodeState::Up);
        let replicas: Vec<(String, u16)> = self
            .nodes
            .iter()
            .filter(|(n, d)| **n != primary && d.state == NodeState::Up)
            .map(|(&n, _)| (node_ip(n), node_port(n)))
            .collect();
        for (&n, d) in &mut self.nodes {
            d.node.set_role(Some(if n == primary {
                ReplicationRole::Primary {
                    replicas: replicas.clone(),
                }
            } else {
                ReplicationRole::Replica {
                    host: node_ip(primary),
                    port: node_port(primary),
                    linked: primary_up,
                }
            }));
        }
    }

    /// Redis replicates a primary's `PUBLISH`: its running replicas deliver it to their own
    /// subscribers. A replica's `PUBLISH` stays on the replica.
    fn replicate_published(&mut self, node: u16) {
        let Some(d) = self.nodes.get_mut(&node) else {
            return;
        };
        let published = d.node.take_published();
        if node != self.primary {
            return;
        }
        for publication in published.iter().filter(|p| !p.shard) {
            for (&n, d) in &mut self.nodes {
                if n != node && d.state == NodeState::Up {
                    d.node.deliver(publication);
                }
            }
        }
    }

    /// The data node or sentinel listening at `server`, as a node number.
    pub fn find(&self, server: &ServerAddr) -> Option<u16> {
        let ServerAddr::Tcp { host, port } = server else {
            return None;
        };
        if let Some(i) = port.checked_sub(26379)
            && usize::from(i) < self.sentinels.len()
            && (*host == sentinel_host(i) || *host == sentinel_ip(i))
        {
            return Some(sentinel_node(i));
        }
        let n = port.checked_sub(7000)?;
        let named = *host == node_host(n) || *host == node_ip(n);
        (named && self.nodes.contains_key(&n)).then_some(n)
    }

    /// The sentinel behind node number `node`, if it is one.
    fn sentinel_index(&self, node: u16) -> Option<usize> {
        let i = usize::from(node.checked_sub(SENTINEL_BASE)?);
        (i < self.sentinels.len()).then_some(i)
    }

    fn watched(&self) -> Watched {
        Watched {
            service: self.config.service.clone(),
            nodes: self
                .nodes
                .iter()
                .map(|(&n, d)| {
                    let up = d.state == NodeState::Up;
                    (n, up, d.node.replication_offset())
                })
                .collect(),
            sentinels: self
                .sentinels
                .iter()
                .map(|w| (w.sentinel.index(), w.state == NodeState::Up))
                .collect(),
            down_after: self.config.down_after,
            quorum: self.sentinels.len() / 2 + 1,
        }
    }
}

impl Servers for FakeSentinels {
    fn dial(&self, server: &ServerAddr) -> Dial {
        match self.find(server) {
            Some(n) => self.reachable(n),
            None => Dial::Refuse,
        }
    }

    fn reachable(&self, node: u16) -> Dial {
        let state = match self.sentinel_index(node) {
            Some(i) => Some(self.sentinels[i].state),
            None => self.state(node),
        };
        dial_to(node, state)
    }

    fn accept(&mut self, node: u16) -> NodeConnId {
        match self.sentinel_index(node) {
            Some(i) => self.sentinels[i].sentinel.accept(),
            None => self
                .nodes
                .get_mut(&node)
                .expect("a node that was reachable")
                .node
                .accept(),
        }
    }

    fn receive(
        &mut self,
        node: u16,
        conn: NodeConnId,
        data: &[u8],
        now: Instant,
        out: &mut BytesMut,
    ) -> Result<usize, String> {
        match self.sentinel_index(node) {
            Some(i) => {
                let watched = self.watched();
                self.sentinels[i]
                    .sentinel
                    .receive(conn, data, out, &watched)
            }
            // The primary's writes reach every running replica, and so do its PUBLISHes.
            None => {
                let ran =
                    receive_and_replicate(&mut self.nodes, node, conn, data, now, out, |all| {
                        all.keys().copied().filter(|&r| r != node).collect()
                    })?;
                self.replicate_published(node);
                Ok(ran)
            }
        }
    }

    fn take_messages(&mut self) -> Vec<Outage> {
        let mut all = Vec::new();
        for (&n, d) in &mut self.nodes {
            all.extend(sends(n, &mut d.node));
        }
        all
    }

    fn close(&mut self, node: u16, conn: NodeConnId) {
        match self.sentinel_index(node) {
            Some(i) => self.sentinels[i].sentinel.close(conn),
            None => {
                if let Some(d) = self.nodes.get_mut(&node) {
                    d.node.close(conn);
                }
            }
        }
    }

    fn protocol_of(&self, node: u16, conn: NodeConnId) -> Option<u8> {
        match self.sentinel_index(node) {
            Some(i) => self.sentinels[i].sentinel.protocol_of(conn),
            None => self.node(node)?.protocol_of(conn),
        }
    }

    fn restart(&mut self, node: u16) {
        match self.sentinel_index(node) {
            Some(i) => self.sentinels[i].sentinel.restart(),
            None => {
                if let Some(d) = self.nodes.get_mut(&node) {
                    d.node.restart();
                }
            }
        }
    }

    fn executions(&self, command: &str, key: &[u8]) -> u32 {
        self.nodes
            .values()
            .map(|d| d.node.log().count(command, key))
            .sum()
    }

    /// The value on the primary, by the operator's truth.
    fn stored(&mut self, db: usize, key: &[u8], now: Instant) -> Option<StoredValue> {
        let d = self.nodes.get_mut(&self.primary)?;
        d.node.value(db, key, now).cloned()
    }

    fn next_change(&self) -> Option<Instant> {
        self.agenda.keys().next().map(|&(at, _)| at)
    }

    fn change(&mut self, now: Instant) -> Vec<Outage> {
        while let Some(entry) = self.agenda.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Step::Happen(what) => self.happen(what, now),
                Step::Notice {
                    sentinel,
                    node,
                    down,
                } => {
                    // Only what is still true by then: a node back up is not flagged down.
                    let up = self.state(node) == Some(NodeState::Up);
                    if up != down {
                        self.notice(sentinel, node, down);
                    }
                }
            }
        }
        std::mem::take(&mut self.outages)
    }
}
