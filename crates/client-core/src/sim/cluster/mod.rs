//! [`FakeCluster`]: a Redis Cluster made of [`FakeNode`]s, each with its own address, keyspace
//! and [`ClusterView`], that migrates slots, fails over and grows or shrinks on a seeded
//! schedule ([`Chaos`]).

mod chaos;
#[cfg(test)]
mod tests;
mod view;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use self::chaos::{Chaos, ChaosAction, ChaosTiming, Episode, EpisodeKind};
use self::chaos::{Step, Task};
pub use self::view::{
    ClusterView, Peer, SLOTS, ViewChange, node_addr, node_host, node_id, node_ip, node_port,
};
use super::SimRng;
use super::net::{Dial, Outage, Servers, sends};
use super::node::{FakeNode, NodeConfig, NodeConnId, StoredValue};
use crate::config::ServerAddr;

/// The shape of a [`FakeCluster`] when it starts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Shards (primaries), which split the slots evenly.
    pub shards: u16,
    /// Replicas per shard.
    pub replicas: u16,
    /// How every node behaves (version, users).
    pub node: NodeConfig,
    /// `cluster-require-full-coverage yes` (Redis's default): while a slot has no healthy
    /// owner, every keyed command gets `-CLUSTERDOWN The cluster is down`.
    pub full_coverage: bool,
}

impl ClusterConfig {
    /// `shards` shards of one primary and `replicas` replicas each, full coverage required.
    pub fn new(shards: u16, replicas: u16) -> Self {
        Self {
            shards,
            replicas,
            node: NodeConfig::default(),
            full_coverage: true,
        }
    }
}

/// Whether a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Up and serving.
    Up,
    /// Crashed: dials are refused, or never answered when `silent` (the host is gone).
    Crashed {
        /// No answer at all, instead of refusals.
        silent: bool,
    },
    /// Shutting down: no new connections; open ones close once quiet.
    Retired,
}

/// One data node of a deployment (a cluster, or a Sentinel-watched primary and replicas).
#[derive(Debug)]
pub(super) struct Member {
    pub(super) node: FakeNode,
    pub(super) state: NodeState,
}

impl Member {
    /// `node`, up.
    pub(super) fn up(node: FakeNode) -> Self {
        Self {
            node,
            state: NodeState::Up,
        }
    }
}

/// Where a dial to `node`, in `state` (none: no such node), lands.
pub(super) fn dial_to(node: u16, state: Option<NodeState>) -> Dial {
    match state {
        Some(NodeState::Up) => Dial::Accept(node),
        Some(NodeState::Crashed { silent: true }) => Dial::Ignore,
        _ => Dial::Refuse,
    }
}

/// Bytes reach `conn` of node `n`, one of `members` (see [`FakeNode::receive`]); then the
/// running ones of its `replicas` (asked only when writes ran) copy the writes.
///
/// # Errors
///
/// When `n` does not exist, or the bytes are not commands.
pub(super) fn receive_and_replicate(
    members: &mut BTreeMap<u16, Member>,
    n: u16,
    conn: NodeConnId,
    data: &[u8],
    now: Instant,
    out: &mut BytesMut,
    replicas: impl FnOnce(&BTreeMap<u16, Member>) -> Vec<u16>,
) -> Result<usize, String> {
    let Some(m) = members.get_mut(&n) else {
        return Err(format!("node {n} does not exist"));
    };
    let ran = m.node.receive(conn, data, now, out)?;
    let writes = m.node.take_replication();
    if !writes.is_empty() {
        for replica in replicas(members) {
            if let Some(r) = members.get_mut(&replica)
                && r.state == NodeState::Up
            {
                for write in &writes {
                    r.node.replicate(write, now);
                }
            }
        }
    }
    Ok(ran)
}

/// A Redis Cluster of [`FakeNode`]s on one simulated network.
///
/// Node `n` listens on [`node_addr(n)`](node_addr) (`node-<n>:<7000 + n>`, also reachable as
/// [`node_ip(n)`](node_ip)), holds its own keyspace and its own [`ClusterView`], and answers
/// as a Redis 7 cluster node does from that view. Views change one node at a time, as in a
/// real cluster where `CLUSTER SETSLOT` reaches nodes one by one and gossip spreads the rest:
/// [`change_view`](Self::change_view) changes one, [`change_everywhere`](Self::change_everywhere)
/// all of them.
///
/// Replicas copy their primary's writes synchronously (the same data at all times), so a
/// failover loses no acknowledged write. A migration moves keys one at a time between shards
/// ([`move_key`](Self::move_key)): a key is in exactly one shard at any instant.
///
/// The cluster also keeps the operator's record of what it should look like (the
/// [`truth`](Self::truth)), which every change reaches at once, and can run a [`Chaos`]
/// schedule of migrations, failovers and nodes joining and leaving when it is the servers of
/// a [`Sim`](super::Sim).
#[derive(Debug)]
pub struct FakeCluster {
    config: ClusterConfig,
    members: BTreeMap<u16, Member>,
    truth: ClusterView,
    next_number: u16,
    agenda: BTreeMap<(Instant, u64), Step>,
    next_seq: u64,
    outages: Vec<Outage>,
    chaos: Option<Chaos>,
    /// The random numbers of the chaos's steps (gossip delays, key moves).
    rng: SimRng,
    episodes: Vec<Episode>,
}

impl FakeCluster {
    /// A cluster as `config` describes: primaries `0..shards`, then the replicas of primary
    /// 0, of primary 1, and so on. Every node starts up and agrees on everything.
    pub fn new(config: ClusterConfig) -> Self {
        let shards = config.shards.max(1);
        let primaries: Vec<u16> = (0..shards).collect();
        let replicas: Vec<(u16, u16)> = primaries
            .iter()
            .flat_map(|&p| (0..config.replicas).map(move |j| (shards + p * config.replicas + j, p)))
            .collect();
        let truth = ClusterView::new(&primaries, &replicas);
        let mut cluster = Self {
            members: BTreeMap::new(),
            truth,
            next_number: shards + shards * config.replicas,
            agenda: BTreeMap::new(),
            next_seq: 0,
            outages: Vec::new(),
            chaos: None,
            rng: SimRng::new(0),
            episodes: Vec::new(),
            config,
        };
        for n in 0..cluster.next_number {
            let node = cluster.new_node(n);
            cluster.members.insert(n, Member::up(node));
        }
        cluster
    }

    fn new_node(&self, n: u16) -> FakeNode {
        let view = self.truth.clone().held_by(n);
        FakeNode::in_cluster(self.config.node.clone(), view, self.config.full_coverage)
    }

    /// The configuration it started from.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The addresses of the nodes up now, to start a client from.
    pub fn seeds(&self) -> Vec<ServerAddr> {
        self.members
            .iter()
            .filter(|(_, m)| m.state == NodeState::Up)
            .map(|(&n, _)| node_addr(n))
            .collect()
    }

    /// Every node that ever was, in number order (removed and crashed ones included).
    pub fn numbers(&self) -> Vec<u16> {
        self.members.keys().copied().collect()
    }

    /// Node `n`.
    pub fn node(&self, n: u16) -> Option<&FakeNode> {
        self.members.get(&n).map(|m| &m.node)
    }

    /// Node `n`, to look at its data or change it.
    pub fn node_mut(&mut self, n: u16) -> Option<&mut FakeNode> {
        self.members.get_mut(&n).map(|m| &mut m.node)
    }

    /// Whether node `n` runs.
    pub fn state(&self, n: u16) -> Option<NodeState> {
        self.members.get(&n).map(|m| m.state)
    }

    /// The operator's record: what the cluster looks like once every node has caught up.
    pub fn truth(&self) -> &ClusterView {
        &self.truth
    }

    /// How many replies of each cluster kind (`"MOVED"`, `"ASK"`, ...) all nodes sent.
    pub fn redirects(&self) -> BTreeMap<&'static str, usize> {
        let mut total = BTreeMap::new();
        for m in self.members.values() {
            for (kind, n) in m.node.redirects() {
                *total.entry(kind).or_insert(0) += n;
            }
        }
        total
    }

    /// What happened so far: migrations, failovers, nodes joining and leaving, with when.
    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// The node listening at `server`, by host name or IP address, and port.
    pub fn find(&self, server: &ServerAddr) -> Option<u16> {
        let ServerAddr::Tcp { host, port } = server else {
            return None;
        };
        let n = port.checked_sub(7000)?;
        let named = *host == node_host(n) || *host == node_ip(n);
        (named && self.members.contains_key(&n)).then_some(n)
    }

    /// Node `n` changes its view. Nothing happens to a node that does not exist.
    pub fn change_view(&mut self, n: u16, change: &ViewChange) {
        if let Some(m) = self.members.get_mut(&n) {
            m.node.apply_view(change);
        }
    }

    /// The operator's record and every node's view change at once.
    pub fn change_everywhere(&mut self, change: &ViewChange) {
        self.truth.apply(change);
        for member in self.members.values_mut() {
            member.node.apply_view(change);
        }
    }

    /// Only the operator's record changes (the nodes learn later, one by one).
    pub fn change_truth(&mut self, change: &ViewChange) {
        self.truth.apply(change);
    }

    /// Moves `key` from the shard of primary `from` to the shard of primary `to` (both
    /// primaries and their replicas), at once. False when `from` does not hold it.
    pub fn move_key(&mut self, key: &[u8], from: u16, to: u16, now: Instant) -> bool {
        let Some(entry) = self
            .members
            .get_mut(&from)
            .and_then(|m| m.node.take_key(key, now))
        else {
            return false;
        };
        for replica in self.truth.replicas_of(from) {
            if let Some(m) = self.members.get_mut(&replica) {
                m.node.take_key(key, now);
            }
        }
        let key = Bytes::copy_from_slice(key);
        for n in std::iter::once(to).chain(self.truth.replicas_of(to)) {
            if let Some(m) = self.members.get_mut(&n) {
                m.node.put_key(key.clone(), entry.clone());
            }
        }
        true
    }

    /// The key in the lowest slot of `slots` that primary `from` holds, if any is left.
    pub fn lowest_key_in(
        &mut self,
        from: u16,
        slots: &RangeInclusive<u16>,
        now: Instant,
    ) -> Option<Bytes> {
        let m = self.members.get_mut(&from)?;
        m.node
            .keys(0, now)
            .into_iter()
            .filter(|k| slots.contains(&resp_core::slot(k)))
            .min_by_key(|k| resp_core::slot(k))
    }

    /// A key that primary `from` holds in `slots`, if any is left.
    pub fn key_in(
        &mut self,
        from: u16,
        slots: &RangeInclusive<u16>,
        now: Instant,
    ) -> Option<Bytes> {
        let m = self.members.get_mut(&from)?;
        m.node
            .find_key(|k| slots.contains(&resp_core::slot(k)), now)
    }

    /// Node `n` crashes: dials are refused (`silent`: never answered), and the network
    /// resets (`silent`: silences) its connections. A silent node that crashes again
    /// (`silent: false`) has its silent connections reset.
    pub fn crash(&mut self, n: u16, silent: bool) {
        let Some(m) = self.members.get_mut(&n) else {
            return;
        };
        m.state = NodeState::Crashed { silent };
        m.node.restart();
        self.outages.push(if silent {
            Outage::Silence { node: n }
        } else {
            Outage::Reset {
                node: n,
                reason: "connection reset by peer (node crashed)",
            }
        });
    }

    /// Node `n` comes back up as a replica of `primary`: a fresh process, with a full copy of
    /// the primary's data and of its view. The others learn it is healthy one by one.
    pub fn revive_as_replica(&mut self, n: u16, primary: u16) {
        let Some(source) = self.members.get(&primary) else {
            return;
        };
        let mut view = source
            .node
            .view()
            .cloned()
            .unwrap_or_else(|| self.truth.clone())
            .held_by(n);
        view.apply(&ViewChange::Join {
            node: n,
            primary: Some(primary),
        });
        let mut node =
            FakeNode::in_cluster(self.config.node.clone(), view, self.config.full_coverage);
        node.copy_data_from(&source.node);
        if let Some(m) = self.members.get_mut(&n) {
            // Keep the old process's execution log: it counts what ran there.
            let old = std::mem::replace(&mut m.node, node);
            m.node.inherit(old);
            m.state = NodeState::Up;
        }
    }

    /// A new node joins, up, as a primary without slots (`primary: None`) or as a replica of
    /// `primary` (with a full copy of its data). It knows the cluster as the operator's
    /// record does; the others learn of it by [`ViewChange::Join`]. Returns its number.
    pub fn add_node(&mut self, primary: Option<u16>) -> u16 {
        let n = self.next_number;
        self.next_number += 1;
        let mut view = self.truth.clone().held_by(n);
        view.apply(&ViewChange::Join { node: n, primary });
        let mut node =
            FakeNode::in_cluster(self.config.node.clone(), view, self.config.full_coverage);
        if let Some(source) = primary.and_then(|p| self.members.get(&p)) {
            node.copy_data_from(&source.node);
        }
        self.members.insert(n, Member::up(node));
        n
    }

    /// Node `n` shuts down for good: it accepts no new connections, and closes each of its
    /// connections once nothing is in transit on it.
    pub fn retire(&mut self, n: u16) {
        if let Some(m) = self.members.get_mut(&n) {
            m.state = NodeState::Retired;
            self.outages.push(Outage::Retire { node: n });
        }
    }

    /// Whether every key lives in exactly one shard: the primaries that run hold disjoint
    /// keys, each in a slot its shard owns by the operator's record, and each replica that
    /// runs holds exactly its primary's keys. The first problem found, if any.
    pub fn check_placement(&self, now: Instant) -> Result<(), String> {
        let mut seen: BTreeMap<Bytes, u16> = BTreeMap::new();
        for p in self.truth.primaries() {
            let Some(m) = self.members.get(&p).filter(|m| m.state == NodeState::Up) else {
                continue;
            };
            let keys = m.node.keys(0, now);
            for key in &keys {
                if let Some(other) = seen.insert(key.clone(), p) {
                    return Err(format!("key {key:?} is on both node {other} and node {p}"));
                }
                let slot = resp_core::slot(key);
                if self.truth.owner(slot) != Some(p) {
                    return Err(format!(
                        "key {key:?} (slot {slot}) is on node {p}, but node {:?} owns the slot",
                        self.truth.owner(slot)
                    ));
                }
            }
            for r in self.truth.replicas_of(p) {
                let Some(replica) = self.members.get(&r).filter(|m| m.state == NodeState::Up)
                else {
                    continue;
                };
                if replica.node.keys(0, now) != keys {
                    return Err(format!(
                        "replica {r} does not hold the same keys as primary {p}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Starts `chaos` at `now`: its actions run one after another from their planned times.
    pub fn start_chaos(&mut self, chaos: Chaos, now: Instant) {
        let mut chaos = chaos;
        let first = chaos.first_at(now);
        self.rng = chaos.rng();
        self.chaos = Some(chaos);
        if let Some(at) = first {
            self.schedule(at, Step::Wake);
        }
    }

    /// Whether the chaos has run every planned action to its end.
    pub fn chaos_done(&self) -> bool {
        self.agenda.is_empty() && self.chaos.as_ref().is_none_or(Chaos::is_done)
    }

    fn schedule(&mut self, at: Instant, step: Step) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.agenda.insert((at, seq), step);
    }

    /// Applies one step of the agenda.
    fn apply(&mut self, step: Step, now: Instant) {
        match step {
            Step::View { node, change } => self.change_view(node, &change),
            Step::Truth(change) => self.change_truth(&change),
            Step::Revive { node, primary } => {
                self.revive_as_replica(node, primary);
                self.change_truth(&ViewChange::Failed {
                    node,
                    failed: false,
                });
                self.tell_all(
                    now,
                    Some(node),
                    &ViewChange::Failed {
                        node,
                        failed: false,
                    },
                );
            }
            Step::Retire { node } => self.retire(node),
            Step::Kill { node } => {
                if self.state(node) == Some(NodeState::Crashed { silent: true }) {
                    self.crash(node, false);
                }
            }
            Step::MoveKeys {
                slots,
                cursor,
                latest,
                from,
                to,
                episode,
            } => chaos::move_keys(self, slots, cursor, latest, from, to, episode, now),
            Step::EndEpisode(i) => {
                if let Some(e) = self.episodes.get_mut(i) {
                    e.ended = Some(now);
                }
            }
            Step::TaskDone => {
                if let Some(chaos) = &mut self.chaos {
                    chaos.running = false;
                }
                self.next_task(now);
            }
            Step::Wake => self.next_task(now),
        }
    }

    /// Tells every running node but `except` about `change`, each after its own gossip
    /// delay. Returns when the last one learns it.
    fn tell_all(&mut self, now: Instant, except: Option<u16>, change: &ViewChange) -> Instant {
        let nodes: Vec<u16> = self
            .members
            .iter()
            .filter(|(n, m)| Some(**n) != except && m.state == NodeState::Up)
            .map(|(&n, _)| n)
            .collect();
        let mut last = now;
        for n in nodes {
            let at = now + self.gossip_delay();
            last = last.max(at);
            self.schedule(
                at,
                Step::View {
                    node: n,
                    change: change.clone(),
                },
            );
        }
        last
    }

    fn gossip_delay(&mut self) -> std::time::Duration {
        let max = self.chaos.as_ref().map_or(0, |c| c.timing.gossip_ms);
        self.rng.millis(0, max)
    }

    /// Starts the next task of the chaos, or its next action when one is due.
    fn next_task(&mut self, now: Instant) {
        let Some(chaos) = &mut self.chaos else {
            return;
        };
        if chaos.running {
            return;
        }
        if chaos.tasks.is_empty() {
            match chaos.next_action(now) {
                Ok(Some(action)) => {
                    let tasks = self.plan(action);
                    self.chaos.as_mut().expect("runs").tasks.extend(tasks);
                }
                Ok(None) => return,
                Err(at) => {
                    self.schedule(at, Step::Wake);
                    return;
                }
            }
        }
        let Some(task) = self.chaos.as_mut().expect("runs").tasks.pop_front() else {
            // The action had nothing to do here: go on with the next one.
            self.schedule(now, Step::Wake);
            return;
        };
        self.chaos.as_mut().expect("runs").running = true;
        self.start(task, now);
    }
}

impl Servers for FakeCluster {
    fn dial(&self, server: &ServerAddr) -> Dial {
        match self.find(server) {
            Some(n) => self.reachable(n),
            None => Dial::Refuse,
        }
    }

    fn reachable(&self, node: u16) -> Dial {
        dial_to(node, self.state(node))
    }

    fn accept(&mut self, node: u16) -> NodeConnId {
        let m = self
            .members
            .get_mut(&node)
            .expect("a node that was reachable");
        m.node.accept()
    }

    fn receive(
        &mut self,
        node: u16,
        conn: NodeConnId,
        data: &[u8],
        now: Instant,
        out: &mut BytesMut,
    ) -> Result<usize, String> {
        let truth = &self.truth;
        let ran = receive_and_replicate(&mut self.members, node, conn, data, now, out, |_| {
            truth.replicas_of(node)
        })?;
        self.spread_published(node);
        Ok(ran)
    }

    fn take_messages(&mut self) -> Vec<Outage> {
        let mut all = Vec::new();
        for (&n, m) in &mut self.members {
            all.extend(sends(n, &mut m.node));
        }
        all
    }

    fn close(&mut self, node: u16, conn: NodeConnId) {
        if let Some(m) = self.members.get_mut(&node) {
            m.node.close(conn);
        }
    }

    fn protocol_of(&self, node: u16, conn: NodeConnId) -> Option<u8> {
        self.node(node)?.protocol_of(conn)
    }

    fn restart(&mut self, node: u16) {
        if let Some(m) = self.members.get_mut(&node) {
            m.node.restart();
        }
    }

    fn executions(&self, command: &str, key: &[u8]) -> u32 {
        self.members
            .values()
            .map(|m| m.node.log().count(command, key))
            .sum()
    }

    /// The value in the shard that owns the key's slot by the operator's record.
    fn stored(&mut self, db: usize, key: &[u8], now: Instant) -> Option<StoredValue> {
        let owner = self.truth.owner(resp_core::slot(key))?;
        let m = self.members.get_mut(&owner)?;
        m.node.value(db, key, now).cloned()
    }

    fn next_change(&self) -> Option<Instant> {
        self.agenda.keys().next().map(|&(at, _)| at)
    }

    fn change(&mut self, now: Instant) -> Vec<Outage> {
        while let Some(entry) = self.agenda.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let step = entry.remove();
            self.apply(step, now);
        }
        std::mem::take(&mut self.outages)
    }
}

impl FakeCluster {
    /// What `node` published reaches the other nodes over the cluster bus: a `PUBLISH` every
    /// running node, an `SPUBLISH` the running nodes of its shard (by its own view).
    fn spread_published(&mut self, node: u16) {
        let Some(m) = self.members.get_mut(&node) else {
            return;
        };
        let published = m.node.take_published();
        if published.is_empty() {
            return;
        }
        let shard: Vec<u16> = m.node.view().map_or_else(Vec::new, |view| {
            let primary = view.peer(node).and_then(|p| p.primary).unwrap_or(node);
            std::iter::once(primary)
                .chain(view.replicas_of(primary))
                .collect()
        });
        for publication in &published {
            for (&n, other) in &mut self.members {
                let reaches = n != node
                    && other.state == NodeState::Up
                    && (!publication.shard || shard.contains(&n));
                if reaches {
                    other.node.deliver(publication);
                }
            }
        }
    }

    /// Turns a chaos action into tasks, from the cluster as the operator's record has it now.
    fn plan(&mut self, action: ChaosAction) -> Vec<Task> {
        chaos::plan(self, action)
    }

    /// Runs the first steps of `task`; its last step is [`Step::TaskDone`].
    fn start(&mut self, task: Task, now: Instant) {
        chaos::start(self, task, now);
    }
}
