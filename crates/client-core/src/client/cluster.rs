//! Redis Cluster: the slot map, routing, splitting and fan-out, redirections and topology
//! refresh.
//!
//! The cluster router sits between `submit` and the per-node queues of the standalone client.
//! A request is *planned* once a topology is known:
//!
//! - a command, transaction or pipeline whose keys all belong to one node goes to that node
//!   whole (`Route::Slot`, or `Route::Any` without keys), on its shared connection;
//! - anything else is split into child requests, each one an ordinary request that the same
//!   machinery routes, retries and redirects; a child's completion goes into its parent's
//!   reply (`Owner::Child`) instead of to the caller. Multi-key commands are split per slot and
//!   recombined in key order or by the command's response policy; keyless commands with an
//!   `all_shards`/`all_nodes` policy go to every primary or node; pipelines go per node.
//!
//! `MOVED` updates the slot and asks for a refresh; the command goes again to the new owner.
//! `ASK` sends `ASKING` and the command to the importing node, once. `TRYAGAIN`,
//! `CLUSTERDOWN`, `LOADING` and `MASTERDOWN` wait with backoff and go again. In a pipeline only
//! the redirected command goes again (as a child); a transaction whose queuing was refused is
//! sent again whole once `EXEC` has answered `EXECABORT`. Every request counts its
//! redirections, up to `ClusterSettings::max_redirects`.
//!
//! Topology reads (`CLUSTER SHARDS`, or `CLUSTER SLOTS` where that is unknown) are requests of
//! the core's own (`Owner::Refresh`). One runs at a time, at most one per
//! `min_refresh_interval` (longer after failures), on a node with a working connection when
//! there is one.

use std::collections::VecDeque;
use std::time::Instant;

use resp_core::Frame;

use super::Client;
use super::combine::FanIn;
use super::topology::{self, AddrRules, SLOTS, ShardInfo};
use crate::command::{Command, RequestPolicy, ResponsePolicy, cmd};
use crate::config::{ReadFrom, ServerAddr};
use crate::conn::{ConnState, Connection, Role};
use crate::error::RequestError;
use crate::event::{ConnId, Event, Reply, RequestId};
use crate::hooks::TopologyChange;
use crate::request::{Body, Dest, Owner, Phase, RequestState, Route, Target};

/// No shard owns the slot.
const NO_SHARD: u16 = u16::MAX;

/// One shard: indices into the client's node list.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Shard {
    primary: usize,
    replicas: Vec<usize>,
    /// A slot it owns: fanned-out commands route by it, so they follow a failover.
    first_slot: Option<u16>,
}

/// What the client knows of the cluster, and the state of topology reads.
#[derive(Debug)]
pub(super) struct Cluster {
    /// Shard index of every slot.
    slots: Vec<u16>,
    shards: Vec<Shard>,
    /// Whether a topology was read successfully.
    known: bool,
    /// Requests waiting for a topology (none known yet, or their slot has no owner).
    waiting: VecDeque<RequestId>,
    /// Requests waiting out a `TRYAGAIN`/`CLUSTERDOWN` backoff.
    delayed: Vec<(Instant, RequestId)>,
    /// The topology read in flight.
    refresh: Option<RequestId>,
    /// Another read was asked for while one ran.
    refresh_wanted: bool,
    /// When a rate-limited read that was asked for may start.
    refresh_due: Option<Instant>,
    last_refresh: Option<Instant>,
    periodic_at: Option<Instant>,
    /// The server does not know `CLUSTER SHARDS` (before Redis 7): use `CLUSTER SLOTS`.
    use_slots: bool,
    /// Failed reads in a row, the last error and node.
    failures: u32,
    last_error: String,
    last_failed: Option<usize>,
    /// Nodes whose topology read failed since the last one that worked: asked last.
    bad: Vec<usize>,
    /// Rotations for choosing nodes.
    next_candidate: usize,
    round_robin: usize,
}

impl Cluster {
    pub(super) fn new() -> Self {
        Self {
            slots: vec![NO_SHARD; SLOTS],
            shards: Vec::new(),
            known: false,
            waiting: VecDeque::new(),
            delayed: Vec::new(),
            refresh: None,
            refresh_wanted: false,
            refresh_due: None,
            last_refresh: None,
            periodic_at: None,
            use_slots: false,
            failures: 0,
            last_error: String::new(),
            last_failed: None,
            bad: Vec::new(),
            next_candidate: 0,
            round_robin: 0,
        }
    }

    /// For `quit`: every request waiting here, and no more timers.
    pub(super) fn take_waiting(&mut self) -> Vec<RequestId> {
        let mut ids: Vec<RequestId> = self.waiting.drain(..).collect();
        ids.extend(self.delayed.drain(..).map(|(_, id)| id));
        ids.extend(self.refresh.take());
        self.refresh_due = None;
        self.periodic_at = None;
        ids
    }

    /// The shards that own slots, with their nodes' addresses from `addr`.
    pub(super) fn shard_views(&self, addr: &dyn Fn(usize) -> ServerAddr) -> Vec<super::ShardView> {
        let mut views: Vec<super::ShardView> = Vec::new();
        for (index, shard) in self.shards.iter().enumerate() {
            let mut owned = self
                .slots
                .iter()
                .enumerate()
                .filter(|&(_, &s)| usize::from(s) == index);
            let Some((first, _)) = owned.next() else {
                continue;
            };
            views.push(super::ShardView {
                primary: addr(shard.primary),
                replicas: shard.replicas.iter().map(|&r| addr(r)).collect(),
                first_slot: first as u16,
                slot_count: 1 + owned.count(),
            });
        }
        views
    }

    /// The earliest cluster timer: a delayed retry, a rate-limited or periodic refresh.
    /// Whether a topology was read.
    pub(super) fn is_known(&self) -> bool {
        self.known
    }

    pub(super) fn next_timer(&self) -> Option<Instant> {
        let delayed = self.delayed.iter().map(|&(at, _)| at).min();
        let refresh = if self.refresh.is_none() {
            self.refresh_due.into_iter().chain(self.periodic_at).min()
        } else {
            None
        };
        delayed.into_iter().chain(refresh).min()
    }
}

/// Error codes the cluster router acts on instead of passing them to the caller.
pub(super) fn is_redirect(code: &[u8]) -> bool {
    matches!(
        code,
        b"MOVED" | b"ASK" | b"TRYAGAIN" | b"CLUSTERDOWN" | b"LOADING" | b"MASTERDOWN" | b"READONLY"
    )
}

/// A redirection or retry request, parsed from an error reply.
#[derive(Debug)]
pub(super) enum Redirect {
    Moved { slot: u16, to: ServerAddr },
    Ask { slot: u16, to: ServerAddr },
    Retry,
}

/// Parses a redirection; an empty host means the host of `from`, the node that answered.
pub(super) fn parse_redirect(frame: &Frame, from: &ServerAddr) -> Redirect {
    let text = frame.as_bytes().map(|b| &b[..]).unwrap_or_default();
    let text = String::from_utf8_lossy(text);
    let mut words = text.split_ascii_whitespace();
    let code = words.next().unwrap_or_default();
    let slot = words.next().and_then(|s| s.parse::<u16>().ok());
    let to = words.next().and_then(|addr| {
        let (host, port) = addr.rsplit_once(':')?;
        let host = match (host.trim_start_matches('[').trim_end_matches(']'), from) {
            ("", ServerAddr::Tcp { host, .. }) => host.as_str(),
            (host, _) => host,
        };
        Some(ServerAddr::Tcp {
            host: host.to_owned(),
            port: port.parse().ok()?,
        })
    });
    match (code, slot, to) {
        ("MOVED", Some(slot), Some(to)) if usize::from(slot) < SLOTS => {
            Redirect::Moved { slot, to }
        }
        ("ASK", Some(slot), Some(to)) if usize::from(slot) < SLOTS => Redirect::Ask { slot, to },
        _ => Redirect::Retry,
    }
}

/// How the router treats one command.
enum Plan {
    Slot(u16),
    Any,
    /// Per slot: the command for that slot and the key groups it took.
    Split(Vec<(u16, Command, Vec<u32>)>),
    /// To every primary, or every node.
    Fan {
        all_nodes: bool,
    },
}

fn plan_command(command: &Command) -> Plan {
    match command.slot() {
        Some(slot) if !command.is_cross_slot() => Plan::Slot(slot),
        // Not splittable: the server answers CROSSSLOT, as it would to any client.
        Some(slot) => command
            .split_by_slot()
            .map_or(Plan::Slot(slot), Plan::Split),
        None => match command.spec().map(|s| s.request_policy) {
            Some(RequestPolicy::AllNodes) => Plan::Fan { all_nodes: true },
            Some(RequestPolicy::AllShards) => Plan::Fan { all_nodes: false },
            _ => Plan::Any,
        },
    }
}

/// The commands one node gets from a split request, with where each reply goes.
struct Group {
    node: usize,
    route: Route,
    commands: Vec<Command>,
    targets: Vec<Target>,
}

/// Adds `command` to `node`'s group (made on first use). A group made for a keyless or
/// fanned-out command follows the slot of the first keyed command that joins it.
fn join(groups: &mut Vec<Group>, node: usize, route: Route, command: Command, target: Target) {
    match groups.iter_mut().find(|g| g.node == node) {
        Some(group) => {
            if matches!(group.route, Route::Any | Route::Node(_)) && matches!(route, Route::Slot(_))
            {
                group.route = route;
            }
            group.commands.push(command);
            group.targets.push(target);
        }
        None => groups.push(Group {
            node,
            route,
            commands: vec![command],
            targets: vec![target],
        }),
    }
}

fn response_policy(command: &Command) -> ResponsePolicy {
    command
        .spec()
        .map_or(ResponsePolicy::Default, |s| s.response_policy)
}

pub(super) fn error_text(frame: &Frame) -> String {
    frame
        .as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

impl Client {
    fn cluster_mut(&mut self) -> &mut Cluster {
        self.cluster.as_mut().expect("cluster mode")
    }

    fn cluster_ref(&self) -> &Cluster {
        self.cluster.as_ref().expect("cluster mode")
    }

    // ---- routing ----

    /// Routes an unpinned request in cluster mode.
    pub(super) fn route_cluster(&mut self, id: RequestId, now: Instant) {
        let Some(state) = self.requests.get(id) else {
            return;
        };
        if state.route == Route::Unplanned {
            if !self.cluster_ref().known {
                self.wait_for_topology(id, now);
                return;
            }
            self.plan(id, now);
        }
        let Some(state) = self.requests.get(id) else {
            return;
        };
        let (route, read_only, ask) = (state.route, state.read_only, state.detour().ask);
        let node = match route {
            Route::Unplanned | Route::Split => return,
            Route::Node(n) => Some(n),
            Route::Shard(k) => self.shard_node(k),
            Route::Any => self.any_node(),
            Route::Slot(slot) => self.slot_node(slot, read_only),
        };
        // A part sent to a node that has left the cluster goes anywhere instead (what is
        // left of it after `settle_fan_parts`: keyless commands).
        let node = match (route, node) {
            (Route::Node(n), Some(_)) if self.is_child(id) && !self.in_topology(n) => self
                .settle_fan_parts(id, n, now)
                .then(|| self.any_node())
                .flatten(),
            (_, Some(n)) => self.settle_fan_parts(id, n, now).then_some(n),
            (_, None) => {
                self.wait_for_topology(id, now);
                return;
            }
        };
        match ask.or(node) {
            Some(n) => self.send_to_node(n, id, now),
            None if self.requests.contains(id) => self.wait_for_topology(id, now),
            None => {}
        }
    }

    fn is_child(&self, id: RequestId) -> bool {
        self.requests
            .get(id)
            .is_some_and(|s| matches!(s.owner, Owner::Child { .. }))
    }

    /// Whether node `n` is a node of the current topology.
    fn in_topology(&self, n: usize) -> bool {
        self.cluster_ref()
            .shards
            .iter()
            .any(|s| s.primary == n || s.replicas.contains(&n))
    }

    /// A child about to go to node `n` may carry parts of commands fanned out to every
    /// shard. A part is dropped when its shard left the cluster: `n` is no longer a node of
    /// the topology, or another part of the same command already goes to `n` (the shard's
    /// slots moved there), so that no shard answers twice and none is waited for in vain.
    /// Otherwise `n` is recorded as the part's node. Returns false when nothing is left to
    /// send (the child is gone).
    fn settle_fan_parts(&mut self, id: RequestId, n: usize, now: Instant) -> bool {
        let Some(state) = self.requests.get(id) else {
            return false;
        };
        let Owner::Child { parent, dest } = &state.owner else {
            return true;
        };
        if !dest.0.iter().any(|t| matches!(t, Target::Part { .. })) {
            return true;
        }
        let (parent, targets) = (*parent, dest.0.clone());
        let in_topology = self.in_topology(n);
        let Some(parent_state) = self.requests.get_mut(parent) else {
            return false;
        };
        let mut moot = Vec::new();
        for (j, target) in targets.iter().enumerate() {
            let Target::Part { index, part } = *target else {
                continue;
            };
            let Some((_, fan)) = parent_state
                .detour_mut()
                .fan_ins
                .iter_mut()
                .find(|(i, _)| *i == index)
            else {
                continue;
            };
            if fan.nodes.is_empty() {
                continue;
            }
            let part = part as usize;
            let taken = fan
                .nodes
                .iter()
                .enumerate()
                .any(|(p, &node)| p != part && node == Some(n));
            if taken || !in_topology {
                moot.push(j);
                if fan.skip(part) {
                    let fan_ins = &mut parent_state.detour_mut().fan_ins;
                    let at = fan_ins.iter().position(|(i, _)| *i == index);
                    if let Some(at) = at {
                        let (_, fan) = fan_ins.swap_remove(at);
                        parent_state.store(
                            index as usize,
                            fan.combine(&|n| self.nodes[n].server.to_string()),
                        );
                    }
                }
            } else if let Some(node) = fan.nodes.get_mut(part) {
                *node = Some(n);
            }
        }
        if moot.is_empty() {
            return true;
        }
        let left = match self.requests.get_mut(id) {
            Some(state) => {
                if let Owner::Child { dest, .. } = &mut state.owner {
                    for &j in moot.iter().rev() {
                        dest.0.remove(j);
                    }
                }
                let body = std::mem::replace(&mut state.body, Body::Pipeline(Vec::new()));
                let mut commands: Vec<Command> = match body {
                    Body::Single(command) => vec![command],
                    Body::Pipeline(commands) | Body::Transaction(commands) => commands,
                };
                for &j in moot.iter().rev() {
                    commands.remove(j);
                }
                let left = commands.len();
                state.body = Body::Pipeline(commands);
                state.reset_replies();
                left
            }
            None => 0,
        };
        if left == 0 {
            self.requests.remove(id);
        }
        self.complete_if_done(parent, now);
        left > 0
    }

    /// Requests whose node is unreachable: routed again after the next topology read.
    pub(super) fn wait_for_new_topology(
        &mut self,
        ids: impl IntoIterator<Item = RequestId>,
        now: Instant,
    ) {
        for id in ids {
            if let Some(state) = self.requests.get_mut(id) {
                // An ASK target that is gone is no target: the slot's owner decides.
                if let Some(detour) = &mut state.detour {
                    detour.ask = None;
                }
                self.cluster_mut().waiting.push_back(id);
            }
        }
        self.want_refresh(now);
    }

    fn wait_for_topology(&mut self, id: RequestId, now: Instant) {
        if self.closing {
            self.complete(id, Err(RequestError::Closed), now);
            return;
        }
        let cluster = self.cluster_mut();
        if !cluster.known && cluster.waiting.is_empty() && cluster.refresh.is_none() {
            // Discovery starts over: failures of an earlier attempt do not count.
            cluster.failures = 0;
            cluster.bad.clear();
            cluster.last_failed = None;
        }
        cluster.waiting.push_back(id);
        self.want_refresh(now);
    }

    /// Decides where request `id` goes, splitting it if it spans nodes.
    fn plan(&mut self, id: RequestId, now: Instant) {
        let Some(state) = self.requests.get(id) else {
            return;
        };
        if let Body::Transaction(commands) = &state.body {
            let mut slots: Vec<u16> = commands.iter().filter_map(Command::slot).collect();
            slots.sort_unstable();
            slots.dedup();
            if slots.len() > 1 || commands.iter().any(Command::is_cross_slot) {
                let error = RequestError::CrossSlot {
                    command: "MULTI".into(),
                    slots,
                };
                self.complete(id, Err(error), now);
                return;
            }
            let route = slots.first().map_or(Route::Any, |&s| Route::Slot(s));
            self.set_route(id, route);
            return;
        }
        // The common case, a single command for one slot (or none), allocates nothing here.
        if let Body::Single(command) = &state.body {
            match plan_command(command) {
                Plan::Slot(slot) => self.set_route(id, Route::Slot(slot)),
                Plan::Any => self.set_route(id, Route::Any),
                plan => self.split(id, vec![plan], now),
            }
            return;
        }
        let plans: Vec<Plan> = state.body.commands().iter().map(plan_command).collect();
        // A pipeline whose commands are all on one node is sent whole.
        let mut whole = Some(Route::Any);
        let mut node = None;
        for plan in &plans {
            match plan {
                Plan::Slot(slot) => {
                    let owner = self.owner(*slot);
                    if node.is_some_and(|n| n != owner) {
                        whole = None;
                        break;
                    }
                    node = Some(owner);
                    if whole == Some(Route::Any) {
                        whole = Some(Route::Slot(*slot));
                    }
                }
                Plan::Any => {}
                Plan::Split(_) | Plan::Fan { .. } => {
                    whole = None;
                    break;
                }
            }
        }
        match whole {
            Some(route) => self.set_route(id, route),
            None => self.split(id, plans, now),
        }
    }

    /// The primary that owns `slot`, or for an unowned slot a number that is no node's, so
    /// that commands for it form a group of their own (which waits for an owner).
    pub(super) fn owner(&self, slot: u16) -> usize {
        let cluster = self.cluster_ref();
        match cluster
            .shards
            .get(usize::from(cluster.slots[usize::from(slot)]))
        {
            Some(shard) => shard.primary,
            None => usize::MAX - usize::from(slot),
        }
    }

    fn set_route(&mut self, id: RequestId, route: Route) {
        if let Some(state) = self.requests.get_mut(id) {
            state.route = route;
        }
    }

    /// A child of `parent`.
    fn spawn(
        &mut self,
        parent: RequestId,
        body: Body,
        dest: Dest,
        route: Route,
        now: Instant,
    ) -> Option<RequestId> {
        let state = RequestState::internal(body, Owner::Child { parent, dest }, route, now);
        let child = self.requests.insert(state);
        self.requests
            .get_mut(parent)?
            .detour_mut()
            .children
            .push(child);
        Some(child)
    }

    /// Splits request `id` into one child per node. Each node gets its commands (and its
    /// parts of split or fanned-out commands) in the request's order, so commands on the same
    /// keys run in the order the caller wrote them.
    fn split(&mut self, id: RequestId, plans: Vec<Plan>, now: Instant) {
        let anchor = plans
            .iter()
            .find_map(|p| match p {
                Plan::Slot(slot) => Some((self.owner(*slot), Route::Slot(*slot))),
                _ => None,
            })
            .or_else(|| self.any_node().map(|n| (n, Route::Node(n))))
            .unwrap_or((usize::MAX, Route::Any));
        // Fanned-out commands go to each primary by one of its slots (so that they follow a
        // failover), to replicas by address.
        let (primaries, everyone) = {
            let cluster = self.cluster_ref();
            let by_slot = |s: &Shard| {
                let route = s.first_slot.map_or(Route::Node(s.primary), Route::Slot);
                (s.primary, route)
            };
            let primaries: Vec<(usize, Route)> = cluster.shards.iter().map(by_slot).collect();
            let mut everyone = primaries.clone();
            let replicas = cluster.shards.iter().flat_map(|s| s.replicas.iter());
            everyone.extend(replicas.map(|&r| (r, Route::Node(r))));
            (primaries, everyone)
        };
        let owners: Vec<Vec<usize>> = plans
            .iter()
            .map(|plan| match plan {
                Plan::Slot(slot) => vec![self.owner(*slot)],
                Plan::Split(parts) => parts.iter().map(|(slot, _, _)| self.owner(*slot)).collect(),
                _ => Vec::new(),
            })
            .collect();
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        let commands = state.body.commands();
        let mut groups: Vec<Group> = Vec::new();
        let mut fan_ins = Vec::new();
        for (index, plan) in plans.into_iter().enumerate() {
            let command = &commands[index];
            let whole = Target::Whole(index as u32);
            let index = index as u32;
            match plan {
                Plan::Slot(slot) => {
                    let node = owners[index as usize][0];
                    join(&mut groups, node, Route::Slot(slot), command.clone(), whole);
                }
                Plan::Any => join(&mut groups, anchor.0, anchor.1, command.clone(), whole),
                Plan::Split(parts) => {
                    let mut fan = FanIn::new(response_policy(command), parts.len());
                    fan.positions = parts.iter().map(|(_, _, keys)| keys.clone()).collect();
                    for (part, ((slot, sub, _), &node)) in
                        parts.into_iter().zip(&owners[index as usize]).enumerate()
                    {
                        let target = Target::Part {
                            index,
                            part: part as u32,
                        };
                        join(&mut groups, node, Route::Slot(slot), sub, target);
                    }
                    fan_ins.push((index, fan));
                }
                Plan::Fan { all_nodes } => {
                    let nodes = if all_nodes { &everyone } else { &primaries };
                    let mut fan = FanIn::new(response_policy(command), nodes.len());
                    fan.nodes = nodes.iter().map(|&(n, _)| Some(n)).collect();
                    for (part, &(node, route)) in nodes.iter().enumerate() {
                        let target = Target::Part {
                            index,
                            part: part as u32,
                        };
                        join(&mut groups, node, route, command.clone(), target);
                    }
                    fan_ins.push((index, fan));
                }
            }
        }
        state.detour_mut().fan_ins = fan_ins;
        state.route = Route::Split;
        let mut children = Vec::with_capacity(groups.len());
        for group in groups {
            let body = match <[Command; 1]>::try_from(group.commands) {
                Ok([one]) => Body::Single(one),
                Err(many) => Body::Pipeline(many),
            };
            children.extend(self.spawn(id, body, Dest(group.targets), group.route, now));
        }
        for child in children {
            self.route(child, now);
        }
    }

    /// A child's result goes into its parent; the parent completes when it has everything.
    pub(super) fn deliver(
        &mut self,
        parent: RequestId,
        dest: Dest,
        result: Result<Reply, RequestError>,
        now: Instant,
    ) {
        let reply = match result {
            Ok(reply) => reply,
            Err(error) => {
                // One part failed: the request as a whole did. If another part ran, an error
                // that says nothing ran (`Closed`, `Unavailable`, ...) would be wrong.
                let never_ran = |e: &RequestError| {
                    matches!(
                        e,
                        RequestError::Closed
                            | RequestError::Unavailable { .. }
                            | RequestError::Auth { .. }
                            | RequestError::Handshake { .. }
                            | RequestError::Timeout { sent: false, .. }
                    )
                };
                let replay = self.config.at_least_once_replay;
                let error = match (self.requests.get(parent), error) {
                    (Some(p), e) if p.written && !p.retry_safe && !replay && never_ran(&e) => {
                        RequestError::MayHaveExecuted {
                            command: p.operation().to_owned(),
                            server: "the cluster".into(),
                            reason: format!("another part of it could not be sent: {e}"),
                        }
                    }
                    (_, error) => error,
                };
                self.complete(parent, Err(error), now);
                return;
            }
        };
        let Some(state) = self.requests.get_mut(parent) else {
            return;
        };
        let frames = match reply {
            Reply::Single(frame) => vec![frame],
            Reply::Pipeline(frames) => frames,
        };
        for (frame, target) in frames.into_iter().zip(dest.0) {
            match target {
                Target::Whole(at) => state.store(at as usize, frame),
                Target::Part { index, part } => {
                    let fan_ins = &mut state.detour_mut().fan_ins;
                    let Some(at) = fan_ins.iter().position(|(i, _)| *i == index) else {
                        continue;
                    };
                    if fan_ins[at].1.store(part as usize, frame) {
                        let (_, fan) = fan_ins.swap_remove(at);
                        state.store(
                            index as usize,
                            fan.combine(&|n| self.nodes[n].server.to_string()),
                        );
                    }
                }
            }
        }
        self.complete_if_done(parent, now);
    }

    /// Any node for a keyless command: a primary with a working connection if there is one.
    fn any_node(&mut self) -> Option<usize> {
        let cluster = self.cluster.as_mut()?;
        let count = cluster.shards.len();
        if count == 0 {
            return None;
        }
        let start = cluster.round_robin;
        cluster.round_robin = cluster.round_robin.wrapping_add(1);
        let primaries = (0..count).map(|k| cluster.shards[(start + k) % count].primary);
        let ready = primaries.clone().find(|&n| {
            self.nodes[n]
                .conn
                .and_then(|c| self.conns.iter().find(|x| x.id == c))
                .is_some_and(Connection::is_ready)
        });
        ready.or_else(|| primaries.clone().next())
    }

    /// The primary of the `k`th shard, if the topology is known and has that many.
    fn shard_node(&self, k: u32) -> Option<usize> {
        let cluster = self.cluster_ref();
        let shard = cluster.shards.get(k as usize).filter(|_| cluster.known)?;
        Some(shard.primary)
    }

    /// The node for `slot`: its primary, or for reads with replica reads on, a replica that
    /// is not failing.
    fn slot_node(&mut self, slot: u16, read_only: bool) -> Option<usize> {
        let read_from = self.config.cluster.as_ref().map(|c| c.read_from);
        let cluster = self.cluster.as_mut()?;
        let shard = cluster
            .shards
            .get(usize::from(cluster.slots[usize::from(slot)]))?;
        let primary = shard.primary;
        if !read_only || shard.replicas.is_empty() {
            return Some(primary);
        }
        let healthy =
            |n: &usize| self.nodes[*n].failures == 0 && self.nodes[*n].reconnect_at.is_none();
        let replica = match read_from {
            Some(ReadFrom::PreferReplica) => shard.replicas.iter().copied().find(healthy),
            Some(ReadFrom::RoundRobinReplicas) => {
                let count = shard.replicas.len();
                let start = cluster.round_robin;
                cluster.round_robin = cluster.round_robin.wrapping_add(1);
                (0..count)
                    .map(|k| shard.replicas[(start + k) % count])
                    .find(healthy)
            }
            _ => None,
        };
        Some(replica.unwrap_or(primary))
    }

    /// Whether connections to node `n` serve replica reads (and so send `READONLY`).
    pub(super) fn is_replica_reader(&self, n: usize) -> bool {
        let read_from = self.config.cluster.as_ref().map(|c| c.read_from);
        read_from.is_some_and(|r| r != ReadFrom::Primary)
            && self
                .cluster
                .as_ref()
                .is_some_and(|c| c.shards.iter().any(|s| s.replicas.contains(&n)))
    }

    /// The node for a dedicated connection, if the topology is known.
    pub(super) fn dedicated_node(&mut self, slot: Option<u16>) -> Option<usize> {
        if !self.cluster_ref().known {
            return None;
        }
        match slot {
            Some(slot) => self.slot_node(slot, false),
            None => self.any_node(),
        }
    }

    /// A dedicated connection whose node is not known until the topology is.
    pub(super) fn open_unresolved(&mut self, slot: Option<u16>, now: Instant) -> ConnId {
        let conn = self.new_unresolved(slot, now);
        self.want_refresh(now);
        conn
    }

    // ---- redirections ----

    /// Command `index` of request `id`, sent to `node`, was answered with a redirection or
    /// a retry request.
    pub(super) fn redirect(
        &mut self,
        id: RequestId,
        index: usize,
        node: usize,
        frame: Frame,
        now: Instant,
    ) {
        if let Some(hooks) = &self.config.hooks {
            hooks.redirected(
                self.caller_of(id),
                &self.nodes[node].server,
                &error_text(&frame),
            );
        }
        let redirect = parse_redirect(&frame, &self.nodes[node].server);
        if let Redirect::Moved { slot, to } = &redirect {
            self.moved(*slot, to, now);
        }
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        match &state.body {
            Body::Transaction(_) => {
                // The server refused to queue it and will answer EXEC with EXECABORT: go
                // again, whole, once that is in.
                let detour = state.detour_mut();
                if detour.tx_redirect.is_none() {
                    detour.tx_redirect = Some(frame.clone());
                }
                detour.hops.push(node);
                state.store(index, frame);
                self.complete_if_done(id, now);
            }
            Body::Single(_) => {
                state.detour_mut().hops.push(node);
                self.go_again(id, &redirect, &frame, now);
            }
            Body::Pipeline(commands) => {
                // The other commands ran (or will); only this one goes again.
                let Some(command) = commands.get(index).cloned() else {
                    return;
                };
                let route = match &redirect {
                    Redirect::Moved { slot, .. } | Redirect::Ask { slot, .. } => Route::Slot(*slot),
                    Redirect::Retry => command.slot().map_or(Route::Any, Route::Slot),
                };
                let redirects = state.redirects;
                let dest = Dest(vec![Target::Whole(index as u32)]);
                let Some(child) = self.spawn(id, Body::Single(command), dest, route, now) else {
                    return;
                };
                if let Some(child_state) = self.requests.get_mut(child) {
                    child_state.redirects = redirects;
                    child_state.detour_mut().hops.push(node);
                }
                self.go_again(child, &redirect, &frame, now);
            }
        }
    }

    /// A transaction refused at queuing time (its reply `frame` held the redirection) goes
    /// again, whole.
    pub(super) fn redirect_transaction(&mut self, id: RequestId, frame: &Frame, now: Instant) {
        let from = match self.requests.get(id).and_then(|s| s.detour().hops.last()) {
            Some(&n) => self.nodes[n].server.clone(),
            None => self.config.server.clone(),
        };
        let redirect = parse_redirect(frame, &from);
        self.go_again(id, &redirect, frame, now);
    }

    /// Sends request `id` again after a redirection, counting it.
    fn go_again(&mut self, id: RequestId, redirect: &Redirect, last: &Frame, now: Instant) {
        let max = self.config.cluster.as_ref().map_or(0, |c| c.max_redirects);
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        state.redirects += 1;
        if state.redirects > max {
            let slot = match (redirect, state.route) {
                (Redirect::Moved { slot, .. } | Redirect::Ask { slot, .. }, _) => *slot,
                (_, Route::Slot(slot)) => slot,
                _ => 0,
            };
            let error = RequestError::TooManyRedirects {
                command: state.operation().to_owned(),
                slot,
                redirects: state.redirects - 1,
                nodes: state
                    .detour()
                    .hops
                    .iter()
                    .map(|&n| self.nodes[n].server.to_string())
                    .collect(),
                last: error_text(last),
            };
            self.complete(id, Err(error), now);
            return;
        }
        state.reset_replies();
        state.phase = Phase::Queued;
        match redirect {
            Redirect::Moved { slot, .. } => {
                state.route = Route::Slot(*slot);
                // The replica was stale or refused: the primary answers from now on.
                state.read_only = false;
                self.route(id, now);
            }
            Redirect::Ask { slot, to } => {
                state.route = Route::Slot(*slot);
                state.read_only = false;
                let to = to.clone();
                let node = self.node_index(&to);
                if let Some(state) = self.requests.get_mut(id) {
                    state.detour_mut().ask = Some(node);
                }
                self.route(id, now);
            }
            Redirect::Retry => {
                // A write that reached a replica (READONLY) or a shard without a primary
                // (CLUSTERDOWN): the topology may have changed. Wait, read it, go again.
                state.read_only = false;
                state.detour_mut().refused = Some(error_text(last));
                let attempt = state.redirects.saturating_sub(1);
                let delay = self.config.reconnect.delay(attempt, self.rng.unit());
                self.cluster_mut().delayed.push((now + delay, id));
                self.want_refresh(now);
            }
        }
    }

    /// `MOVED`: `slot` is `to`'s now. The map is patched at once and a refresh asked for.
    pub(super) fn moved(&mut self, slot: u16, to: &ServerAddr, now: Instant) {
        let node = self.node_index(to);
        let cluster = self.cluster_mut();
        let shard = match cluster.shards.iter().position(|s| s.primary == node) {
            Some(shard) => shard,
            None => {
                cluster.shards.push(Shard {
                    primary: node,
                    replicas: Vec::new(),
                    first_slot: Some(slot),
                });
                cluster.shards.len() - 1
            }
        };
        cluster.slots[usize::from(slot)] = shard as u16;
        self.want_refresh(now);
    }

    // ---- topology ----

    /// Node `n`'s shared connection failed: the topology may have changed. A topology read
    /// waiting for that node is failed at once so that another node is asked.
    pub(super) fn cluster_node_failed(&mut self, n: usize, now: Instant) {
        if let Some(refresh) = self.cluster_ref().refresh
            && let Some(at) = self.nodes[n].queue.iter().position(|&id| id == refresh)
        {
            self.nodes[n].queue.remove(at);
            let error = RequestError::ConnectionLost {
                server: self.nodes[n].server.to_string(),
                reason: self.nodes[n].last_error.clone(),
            };
            self.complete(refresh, Err(error), now);
        }
        self.want_refresh(now);
    }

    /// Asks for a topology read: now, or when the rate limit allows.
    pub(super) fn want_refresh(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        let min = self
            .config
            .cluster
            .as_ref()
            .map(|c| c.min_refresh_interval)
            .unwrap_or_default();
        let nodes = self.nodes.len();
        let cluster = self.cluster_mut();
        if cluster.refresh.is_some() {
            cluster.refresh_wanted = true;
            return;
        }
        // After failures, wait longer between reads (up to 8x the minimum), but only once
        // every known node failed in this round: while one is left untried, it is asked
        // after the minimum interval. When most nodes are gone (a removed shard, a dead
        // primary), walking them at the longest interval took seconds to reach the one that
        // answers.
        let backoff = if cluster.bad.len() < nodes {
            0
        } else {
            cluster.failures.min(3)
        };
        let interval = min * (1 << backoff);
        let earliest = cluster.last_refresh.map_or(now, |t| t + interval);
        if earliest <= now {
            self.start_refresh(now);
        } else {
            cluster.refresh_due = Some(cluster.refresh_due.map_or(earliest, |d| d.min(earliest)));
        }
    }

    fn start_refresh(&mut self, now: Instant) {
        // Every known node failed: this read, after the longest wait, starts a new round.
        let nodes = self.nodes.len();
        let cluster = self.cluster_mut();
        if cluster.bad.len() >= nodes {
            cluster.bad.clear();
        }
        let node = self.refresh_node();
        let deadline = now + self.config.timeouts.connect + self.config.timeouts.command;
        let cluster = self.cluster_mut();
        cluster.refresh_due = None;
        cluster.refresh_wanted = false;
        cluster.last_refresh = Some(now);
        let command = if cluster.use_slots {
            cmd("CLUSTER").arg("SLOTS")
        } else {
            cmd("CLUSTER").arg("SHARDS")
        };
        let mut state = RequestState::internal(
            Body::Single(command),
            Owner::Refresh,
            Route::Node(node),
            now,
        );
        state.deadline = Some(deadline);
        state.timeout = deadline - now;
        let id = self.requests.insert(state);
        self.deadlines.insert(deadline, id);
        self.cluster_mut().refresh = Some(id);
        self.route(id, now);
    }

    /// The node to read the topology from, in this order of preference: a node of the
    /// topology with a working connection; one of the topology; any other known node (the
    /// seeds); skipping nodes whose read failed since the last good one. When every node has
    /// failed: one with a working connection, else anyone but the last to fail.
    fn refresh_node(&mut self) -> usize {
        let count = self.nodes.len();
        let cluster = self.cluster.as_mut().expect("cluster mode");
        let start = cluster.next_candidate;
        cluster.next_candidate = cluster.next_candidate.wrapping_add(1);
        let cluster = &**cluster;
        let in_topology = |n: usize| {
            cluster
                .shards
                .iter()
                .any(|s| s.primary == n || s.replicas.contains(&n))
        };
        let ready = |n: usize| {
            self.nodes[n]
                .conn
                .and_then(|c| self.conns.iter().find(|x| x.id == c))
                .is_some_and(Connection::is_ready)
        };
        let order: Vec<usize> = (0..count).map(|k| (start + k) % count).collect();
        let pick = |test: &dyn Fn(usize) -> bool| {
            order
                .iter()
                .copied()
                .find(|&n| !cluster.bad.contains(&n) && test(n))
        };
        pick(&|n| in_topology(n) && ready(n))
            .or_else(|| pick(&in_topology))
            .or_else(|| pick(&|_| true))
            // Every node failed lately: one with a working connection is the best bet.
            .or_else(|| order.iter().copied().find(|&n| ready(n)))
            .or_else(|| {
                order
                    .iter()
                    .copied()
                    .find(|&n| Some(n) != cluster.last_failed)
            })
            .unwrap_or(0)
    }

    /// The topology read sent to `node` completed.
    pub(super) fn refresh_done(
        &mut self,
        node: usize,
        result: Result<Reply, RequestError>,
        now: Instant,
    ) {
        if self.closing {
            return;
        }
        let rules = AddrRules {
            answered_by: &self.nodes[node].server,
            tls: self.config.tls.is_some(),
        };
        let cluster = self.cluster.as_mut().expect("cluster mode");
        cluster.refresh = None;
        // A periodic read that fell due while this one ran is this one.
        if cluster.periodic_at.is_some_and(|t| t <= now) {
            cluster.periodic_at = None;
        }
        let outcome: Result<Vec<ShardInfo>, String> = match result {
            Ok(Reply::Single(frame)) if frame.is_error() => {
                let text = error_text(&frame);
                if !cluster.use_slots && frame.error_code() == Some(b"ERR") {
                    // A server before 7.0: CLUSTER SLOTS from now on, and at once; not a
                    // failed read.
                    cluster.use_slots = true;
                    cluster.last_refresh = None;
                    self.want_refresh(now);
                    return;
                }
                Err(text)
            }
            Ok(Reply::Single(frame)) => {
                let parsed = if cluster.use_slots {
                    topology::parse_slots(&frame, rules)
                } else {
                    topology::parse_shards(&frame, rules)
                };
                parsed.map_err(|e| format!("unusable topology: {}", e.0))
            }
            Ok(Reply::Pipeline(_)) => Err("unexpected pipeline reply".into()),
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(shards) if shards.iter().any(|s| !s.slots.is_empty()) => {
                let interval = self
                    .config
                    .cluster
                    .as_ref()
                    .map(|c| c.refresh_interval)
                    .unwrap_or_default();
                let cluster = self.cluster_mut();
                cluster.failures = 0;
                cluster.last_failed = None;
                cluster.bad.clear();
                cluster.periodic_at = Some(now + interval);
                self.apply_topology(node, &shards, now);
            }
            Ok(_) => self.refresh_failed(node, "the node knows no slot owners", now),
            Err(error) => self.refresh_failed(node, &error, now),
        }
        if self.cluster_ref().refresh_wanted {
            self.want_refresh(now);
        }
    }

    fn refresh_failed(&mut self, node: usize, error: &str, now: Instant) {
        let max = self.config.reconnect.max_attempts;
        let seeds: Vec<String> = self.config.seed_nodes().map(ToString::to_string).collect();
        let last_error = format!("{}: {error}", self.nodes[node].server);
        let cluster = self.cluster.as_mut().expect("cluster mode");
        cluster.failures += 1;
        cluster.last_failed = Some(node);
        if !cluster.bad.contains(&node) {
            cluster.bad.push(node);
        }
        cluster.last_error = last_error;
        // Every seed gets a chance, whatever the policy's attempts.
        let give_up = max.map(|max| max.max(seeds.len() as u32));
        if !cluster.known && give_up.is_some_and(|limit| cluster.failures >= limit) {
            // Nobody could describe the cluster: what waits for it fails now, and the next
            // request starts over.
            let attempts = cluster.failures;
            let last_error = cluster.last_error.clone();
            cluster.failures = 0;
            cluster.last_failed = None;
            cluster.bad.clear();
            let waiting: Vec<RequestId> = cluster.waiting.drain(..).collect();
            for id in waiting {
                let error = RequestError::Unavailable {
                    server: format!("the cluster (seeds {})", seeds.join(", ")),
                    attempts,
                    last_error: last_error.clone(),
                };
                self.complete(id, Err(error), now);
            }
            self.fail_unresolved(&format!("no cluster topology: {last_error}"), now);
            return;
        }
        // Subscriptions wait for a topology too: a client that only subscribes has no
        // request waiting, yet must keep looking for a node that answers.
        if cluster.known
            || !cluster.waiting.is_empty()
            || self.conns.iter().any(Connection::is_unresolved)
            || self.has_subscriptions()
        {
            self.want_refresh(now);
        }
    }

    /// Installs a topology read from `source` and sends whatever waited for it.
    fn apply_topology(&mut self, source: usize, infos: &[ShardInfo], now: Instant) {
        let mut shards = Vec::with_capacity(infos.len());
        let mut slots = vec![NO_SHARD; SLOTS];
        for info in infos {
            let primary = self.node_index(&info.primary);
            let replicas = info.replicas.iter().map(|r| self.node_index(r)).collect();
            let index = shards.len() as u16;
            for &(start, end) in &info.slots {
                for slot in start..=end {
                    slots[usize::from(slot)] = index;
                }
            }
            let first_slot = info.slots.iter().map(|&(start, _)| start).min();
            shards.push(Shard {
                primary,
                replicas,
                first_slot,
            });
        }
        let cluster = self.cluster.as_mut().expect("cluster mode");
        let changed = !cluster.known || cluster.shards != shards || cluster.slots != slots;
        cluster.known = true;
        cluster.shards = shards;
        cluster.slots = slots;
        if changed && let Some(hooks) = &self.config.hooks {
            let cluster = self.cluster_ref();
            hooks.topology_changed(&TopologyChange {
                source: &self.nodes[source].server,
                shards: cluster
                    .shards
                    .iter()
                    .map(|s| {
                        let replicas = s.replicas.iter().map(|&r| &self.nodes[r].server).collect();
                        (&self.nodes[s.primary].server, replicas)
                    })
                    .collect(),
                uncovered_slots: cluster.slots.iter().filter(|&&s| s == NO_SHARD).count(),
            });
        }
        // Shared connections opened before their node was known to be a replica (the seeds'
        // connections, for a start) serve replica reads from now on.
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.role != Role::Multiplexed || c.read_only || !self.is_replica_reader(c.node) {
                continue;
            }
            let c = &mut self.conns[i];
            c.read_only = true;
            if !matches!(c.state, ConnState::Connecting | ConnState::Unresolved(_))
                && c.push(&cmd("READONLY"), crate::conn::Waiter::Discard)
            {
                self.events.push_back(Event::Transmit { conn: c.id });
            }
        }
        // Dedicated connections that waited for their node.
        self.resolve_unresolved(Self::dedicated_node);
        // Requests that waited for a topology, and, if it changed, those queued for a node
        // that may no longer be the right one.
        let mut pending: Vec<RequestId> = self.cluster_mut().waiting.drain(..).collect();
        if changed {
            for node in &mut self.nodes {
                pending.extend(node.queue.drain(..));
            }
        }
        for id in pending {
            self.route(id, now);
        }
        // Subscriptions that wait for a node, or whose slot moved.
        self.pubsub_reconcile(now);
    }

    /// Cluster timers: delayed retries, rate-limited and periodic refreshes.
    pub(super) fn cluster_timeout(&mut self, now: Instant) {
        let cluster = self.cluster_mut();
        let mut due = Vec::new();
        cluster.delayed.retain(|&(at, id)| {
            if at <= now {
                due.push(id);
            }
            at > now
        });
        for id in due {
            self.route(id, now);
        }
        if self.closing {
            return;
        }
        let cluster = self.cluster_ref();
        if cluster.refresh.is_none() {
            let wanted = cluster.refresh_due.is_some_and(|d| d <= now);
            let periodic = cluster.known && cluster.periodic_at.is_some_and(|d| d <= now);
            if wanted || periodic {
                self.start_refresh(now);
            }
        }
    }
}

/// A `CROSSSLOT`-style error reply, for tests.
#[cfg(test)]
pub(crate) fn error_frame(text: &str) -> Frame {
    Frame::SimpleError(bytes::Bytes::copy_from_slice(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirections_parse() {
        let from = ServerAddr::Tcp {
            host: "node-1".into(),
            port: 7001,
        };
        let parse = |frame: &Frame| parse_redirect(frame, &from);
        let moved = parse(&error_frame("MOVED 3999 127.0.0.1:6381"));
        assert!(matches!(
            moved,
            Redirect::Moved { slot: 3999, to: ServerAddr::Tcp { ref host, port: 6381 } } if host == "127.0.0.1"
        ));
        let ask = parse(&error_frame("ASK 1 [::1]:7000"));
        assert!(
            matches!(ask, Redirect::Ask { slot: 1, to: ServerAddr::Tcp { ref host, .. } } if host == "::1")
        );
        let bare = parse(&error_frame("MOVED 5 :7003"));
        assert!(
            matches!(bare, Redirect::Moved { to: ServerAddr::Tcp { ref host, port: 7003 }, .. } if host == "node-1")
        );
        assert!(matches!(parse(&error_frame("TRYAGAIN x")), Redirect::Retry));
        assert!(matches!(
            parse(&error_frame("MOVED 99999 h:1")),
            Redirect::Retry
        ));
        assert!(is_redirect(b"CLUSTERDOWN") && !is_redirect(b"ERR"));
    }
}
