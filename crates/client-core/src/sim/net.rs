//! [`Sim`]: the seeded network and scheduler, playing the adapter between a [`Client`] and
//! its [`Servers`]: one [`FakeNode`], or the nodes of a [`FakeCluster`] or of
//! [`FakeSentinels`](super::FakeSentinels).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use resp_core::{Frame, SendBuffer};

use super::cluster::FakeCluster;
use super::faults::Faults;
use super::node::{FakeNode, NodeConnId, StoredValue};
use super::{Clock, SimRng};
use crate::client::Client;
use crate::config::{Config, ServerAddr};
use crate::error::{RequestError, SubmitError};
use crate::event::{ConnId, Event, Reply, RequestId};
use crate::pubsub::{PubSubEvent, SubscriberId, SubscriberSettings, SubscriptionKind};
use crate::request::Request;

/// Where a dial lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dial {
    /// Node number `n` accepts it.
    Accept(u16),
    /// Connection refused: no such server, or it is down.
    Refuse,
    /// Nothing answers (a host that is gone): the dialer's connect timeout must fire.
    Ignore,
}

/// What servers do to the network on their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outage {
    /// The node's process died, or its host is back without it: its connections, silent
    /// ones included, are reset.
    Reset {
        /// The node.
        node: u16,
        /// What the client is told.
        reason: &'static str,
    },
    /// The node's host is gone: its connections go silent, nobody is told.
    Silence {
        /// The node.
        node: u16,
    },
    /// The node shuts down gracefully: it accepts no new connections, and each of its
    /// connections is closed once nothing is in transit on it.
    Retire {
        /// The node.
        node: u16,
    },
    /// The node writes `data` to one of its connections on its own (a pub/sub message): it
    /// reaches the client after the replies already on their way, with the usual latency,
    /// if the connection is still open at both ends and not silent.
    Send {
        /// The node.
        node: u16,
        /// Its connection.
        conn: NodeConnId,
        /// The bytes, encoded in the protocol the connection speaks.
        data: Bytes,
    },
}

/// The server side of a [`Sim`]: what dials reach, and the state machines that answer.
///
/// [`FakeNode`] is one server answering every address; [`FakeCluster`] and
/// [`FakeSentinels`](super::FakeSentinels) are many, each under its own address, that also
/// change on their own schedule (migrations, failovers).
pub trait Servers: fmt::Debug {
    /// Where a dial to `server` lands now.
    fn dial(&self, server: &ServerAddr) -> Dial;
    /// Whether node `node` takes a connection now (the dial may be older than a crash).
    fn reachable(&self, node: u16) -> Dial;
    /// Node `node` accepts a connection.
    fn accept(&mut self, node: u16) -> NodeConnId;
    /// Bytes reach `conn` of `node`: see [`FakeNode::receive`].
    ///
    /// # Errors
    ///
    /// When the bytes are not commands.
    fn receive(
        &mut self,
        node: u16,
        conn: NodeConnId,
        data: &[u8],
        now: Instant,
        out: &mut BytesMut,
    ) -> Result<usize, String>;
    /// `conn` of `node` closed.
    fn close(&mut self, node: u16, conn: NodeConnId);
    /// The protocol `conn` of `node` speaks.
    fn protocol_of(&self, node: u16, conn: NodeConnId) -> Option<u8>;
    /// Node `node` restarts: its connections are gone, its data stays.
    fn restart(&mut self, node: u16);
    /// How many times `command` ran on `key`, on every node.
    fn executions(&self, command: &str, key: &[u8]) -> u32;
    /// The value of `key` in database `db`, wherever it lives.
    fn stored(&mut self, db: usize, key: &[u8], now: Instant) -> Option<StoredValue>;
    /// What the nodes wrote to their connections on their own since the last call (pub/sub
    /// messages, a server-sent `sunsubscribe`), as [`Outage::Send`]s in order. The
    /// simulation takes them after every [`receive`](Self::receive) and
    /// [`change`](Self::change).
    fn take_messages(&mut self) -> Vec<Outage> {
        Vec::new()
    }
    /// When the servers next change on their own, if ever.
    fn next_change(&self) -> Option<Instant> {
        None
    }
    /// Applies every change due at `now`; returns what the network must do about them.
    fn change(&mut self, now: Instant) -> Vec<Outage> {
        let _ = now;
        Vec::new()
    }
}

/// One server under every address, as node 0.
impl Servers for FakeNode {
    fn dial(&self, _server: &ServerAddr) -> Dial {
        Dial::Accept(0)
    }

    fn reachable(&self, _node: u16) -> Dial {
        Dial::Accept(0)
    }

    fn accept(&mut self, _node: u16) -> NodeConnId {
        Self::accept(self)
    }

    fn receive(
        &mut self,
        _node: u16,
        conn: NodeConnId,
        data: &[u8],
        now: Instant,
        out: &mut BytesMut,
    ) -> Result<usize, String> {
        Self::receive(self, conn, data, now, out)
    }

    fn close(&mut self, _node: u16, conn: NodeConnId) {
        Self::close(self, conn);
    }

    fn protocol_of(&self, _node: u16, conn: NodeConnId) -> Option<u8> {
        Self::protocol_of(self, conn)
    }

    fn restart(&mut self, _node: u16) {
        Self::restart(self);
    }

    fn executions(&self, command: &str, key: &[u8]) -> u32 {
        self.log().count(command, key)
    }

    fn stored(&mut self, db: usize, key: &[u8], now: Instant) -> Option<StoredValue> {
        self.value(db, key, now).cloned()
    }

    fn take_messages(&mut self) -> Vec<Outage> {
        sends(0, self)
    }
}

/// What `node` wrote on its own, as [`Outage::Send`]s.
pub(super) fn sends(node: u16, server: &mut FakeNode) -> Vec<Outage> {
    server
        .take_messages()
        .into_iter()
        .map(|(conn, data)| Outage::Send { node, conn, data })
        .collect()
}

#[derive(Debug)]
enum Action {
    /// The dial succeeded.
    Connected(ConnId),
    /// The dial was refused.
    ConnectFailed(ConnId),
    /// The adapter gets round to `poll_transmit`.
    Flush(ConnId),
    /// A piece of data reaches the server.
    ToServer(ConnId, Bytes),
    /// A piece of data reaches the client.
    ToClient(ConnId, Bytes),
    /// The server is done stalling this connection: it reads what piled up.
    Unstall(ConnId),
    /// The network drops the connection; the client is told.
    Drop(ConnId, &'static str),
    /// The server sees the client's close (after the bytes sent before it).
    ServerClose(ConnId),
    /// A server restarts and stays down for a while.
    Restart(u16, Duration),
    /// A retiring server closes its connections once they are quiet.
    Retire(u16, u32),
}

#[derive(Debug)]
struct Scheduled {
    at: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest, and among equals the first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// One connection as the network sees it.
#[derive(Debug)]
struct Link {
    /// The node the dial reached, if any.
    node: Option<u16>,
    node_conn: Option<NodeConnId>,
    /// The client still has it: no `Disconnect` from the core, no close reported to it.
    client_open: bool,
    /// The server still has it.
    server_open: bool,
    /// Arrival time of the last piece scheduled each way: TCP keeps order.
    to_server_at: Instant,
    to_client_at: Instant,
    /// The client's read buffer, which the core splits frames off.
    input: BytesMut,
    flush_pending: bool,
    stalled_until: Option<Instant>,
    /// Bytes that reached the server while it stalled, in order.
    stalled: VecDeque<Bytes>,
    /// Half-open: everything is lost, nobody is told.
    silent: bool,
    /// Replies held back by [`Sim::hold_replies`].
    held: VecDeque<Bytes>,
    /// Pieces scheduled either way that have not arrived yet.
    in_transit: u32,
}

impl Link {
    /// Nothing is on its way either way, or waiting at the server.
    fn quiet(&self) -> bool {
        self.in_transit == 0 && self.stalled.is_empty() && self.held.is_empty()
    }
}

/// The network, the scheduler and the adapter: drives a [`Client`] against its [`Servers`]
/// (a [`FakeNode`] by default, or a [`FakeCluster`]) on a virtual clock, with the faults of a
/// seed.
///
/// Inputs to the client happen one at a time, in virtual-time order (ties in the order they
/// were scheduled), and after each one every event the client raised is handled at once:
/// dials, writes, closes and responses. When nothing is scheduled before the client's
/// [`poll_timeout`](Client::poll_timeout), time jumps there and `handle_timeout` runs. The
/// servers' own changes ([`Servers::next_change`]) go first among things due at the same time.
#[derive(Debug)]
pub struct Sim<S: Servers = FakeNode> {
    client: Client,
    servers: S,
    clock: Clock,
    faults: Faults,
    rng: SimRng,
    queue: BinaryHeap<Scheduled>,
    next_seq: u64,
    links: BTreeMap<ConnId, Link>,
    /// Nodes refusing connections until a time, after a restart.
    down_until: BTreeMap<u16, Instant>,
    submitted: BTreeSet<RequestId>,
    completed: BTreeSet<RequestId>,
    responses: BTreeMap<RequestId, (Instant, Result<Reply, RequestError>)>,
    violations: Vec<String>,
    /// Pushes no request claimed, with when and where they came.
    pushes: Vec<(Instant, ConnId, Frame)>,
    hold: bool,
    trace: bool,
    steps: u64,
    dials: u64,
    /// A violation made going on pointless (the client would spin): stop stepping.
    halted: bool,
    out: SendBuffer,
}

impl Sim<FakeNode> {
    /// A simulation of a client with `config` against `node`, with `faults`; `seed` drives
    /// every random choice of the network.
    pub fn new(config: Config, node: FakeNode, faults: Faults, seed: u64) -> Self {
        Self::with_servers(config, node, faults, seed)
    }

    /// The server.
    pub fn node(&self) -> &FakeNode {
        &self.servers
    }

    /// The server, to look at its data or change it.
    pub fn node_mut(&mut self) -> &mut FakeNode {
        &mut self.servers
    }

    /// Restarts the server in `after`; it refuses connections for `down_for`.
    pub fn schedule_restart(&mut self, after: Duration, down_for: Duration) {
        self.schedule_restart_of(0, after, down_for);
    }

    /// Makes the server refuse connections until `until`.
    pub fn set_node_down_until(&mut self, until: Instant) {
        self.down_until.insert(0, until);
    }
}

impl Sim<FakeCluster> {
    /// The cluster.
    pub fn cluster(&self) -> &FakeCluster {
        &self.servers
    }

    /// The cluster, to look at its nodes or change them.
    pub fn cluster_mut(&mut self) -> &mut FakeCluster {
        &mut self.servers
    }
}

impl<S: Servers> Sim<S> {
    /// A simulation of a client with `config` against `servers`, with `faults`; `seed` drives
    /// every random choice of the network.
    pub fn with_servers(config: Config, servers: S, faults: Faults, seed: u64) -> Self {
        Self {
            client: Client::new(config),
            servers,
            clock: Clock::new(),
            faults,
            rng: SimRng::new(seed),
            queue: BinaryHeap::new(),
            next_seq: 0,
            links: BTreeMap::new(),
            down_until: BTreeMap::new(),
            submitted: BTreeSet::new(),
            completed: BTreeSet::new(),
            responses: BTreeMap::new(),
            violations: Vec::new(),
            pushes: Vec::new(),
            hold: false,
            trace: false,
            steps: 0,
            dials: 0,
            halted: false,
            out: SendBuffer::new(),
        }
    }

    /// Prints every step to stderr.
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Adds a line to the trace, when tracing.
    pub fn note(&self, what: impl FnOnce() -> String) {
        self.log(what);
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The client under test.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The servers.
    pub fn servers(&self) -> &S {
        &self.servers
    }

    /// The servers, to look at them or change them.
    pub fn servers_mut(&mut self) -> &mut S {
        &mut self.servers
    }

    /// Applies what the servers did since the last step: call it after changing them by
    /// hand (crashing a cluster node, say), so that the network acts on it now.
    pub fn sync_servers(&mut self) {
        let now = self.now();
        for outage in self.servers.change(now) {
            self.outage(&outage);
        }
        self.server_messages();
    }

    /// Carries what the nodes wrote on their own to the connections it was for. The Sim does
    /// it after every command the network brings and every server change; a test that drives
    /// a node directly (through [`node_mut`](Self::node_mut)) calls it after.
    pub fn server_messages(&mut self) {
        for outage in self.servers.take_messages() {
            self.outage(&outage);
        }
    }

    /// Replaces the faults from now on.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// The pushes the client handed out (no request claimed them), with when and on which
    /// connection, in order.
    pub fn pushes(&self) -> &[(Instant, ConnId, Frame)] {
        &self.pushes
    }

    /// Connections the client asked to open so far.
    pub fn dials(&self) -> u64 {
        self.dials
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Broken rules seen so far: responses for unknown or already completed requests, a
    /// wake-up time in the past.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Connections the client holds (dialing or open), in id order.
    pub fn open_connections(&self) -> Vec<ConnId> {
        self.links
            .iter()
            .filter(|(_, l)| l.client_open)
            .map(|(&id, _)| id)
            .collect()
    }

    /// The server side of connection `conn`, once it was accepted.
    pub fn node_conn(&self, conn: ConnId) -> Option<NodeConnId> {
        self.links.get(&conn).and_then(|l| l.node_conn)
    }

    /// The node connection `conn` was dialed to, if the dial reached one.
    pub fn node_of(&self, conn: ConnId) -> Option<u16> {
        self.links.get(&conn).and_then(|l| l.node)
    }

    /// Submits a request now, and handles what the client does about it.
    ///
    /// # Errors
    ///
    /// What [`Client::submit`] refuses.
    pub fn submit(&mut self, request: Request) -> Result<RequestId, SubmitError> {
        let result = self.client.submit(request, self.now());
        if let Ok(id) = result {
            self.submitted.insert(id);
            self.log(|| format!("submit -> request {}", id.0));
        }
        self.drain();
        result
    }

    /// Opens a subscriber now.
    pub fn open_subscriber(&mut self, settings: SubscriberSettings) -> SubscriberId {
        let id = self.client.open_subscriber(settings);
        self.log(|| format!("open {id}"));
        id
    }

    /// Subscribes `subscriber` now; the request completes like any other.
    ///
    /// # Errors
    ///
    /// As [`Client::subscribe`].
    pub fn subscribe(
        &mut self,
        subscriber: SubscriberId,
        kind: SubscriptionKind,
        channels: &[&str],
    ) -> Result<RequestId, SubmitError> {
        let channels: Vec<Bytes> = channels
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_bytes()))
            .collect();
        self.log(|| format!("{subscriber}: {} {channels:?}", kind.subscribe_command()));
        let id = self
            .client
            .subscribe(subscriber, kind, channels, self.now())?;
        self.submitted.insert(id);
        self.drain();
        Ok(id)
    }

    /// Unsubscribes `subscriber` now (from every `kind` subscription when `channels` is
    /// empty).
    pub fn unsubscribe(
        &mut self,
        subscriber: SubscriberId,
        kind: SubscriptionKind,
        channels: &[&str],
    ) {
        let channels: Vec<Bytes> = channels
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_bytes()))
            .collect();
        self.log(|| format!("{subscriber}: {} {channels:?}", kind.unsubscribe_command()));
        self.client
            .unsubscribe(subscriber, kind, &channels, self.now());
        self.drain();
    }

    /// Closes a subscriber now.
    pub fn close_subscriber(&mut self, subscriber: SubscriberId) {
        self.log(|| format!("close {subscriber}"));
        self.client.close_subscriber(subscriber, self.now());
        self.drain();
    }

    /// Takes the next event of `subscriber`, as an application reading it would.
    pub fn poll_pubsub(&mut self, subscriber: SubscriberId) -> Option<PubSubEvent> {
        let event = self.client.poll_pubsub(subscriber);
        self.drain();
        event
    }

    /// Takes every event `subscriber` has now.
    pub fn drain_pubsub(&mut self, subscriber: SubscriberId) -> Vec<PubSubEvent> {
        std::iter::from_fn(|| self.poll_pubsub(subscriber)).collect()
    }

    /// Cancels a request now.
    pub fn cancel(&mut self, id: RequestId) {
        self.log(|| format!("cancel request {}", id.0));
        self.client.cancel(id, self.now());
        self.drain();
    }

    /// Asks the client to shut down gracefully.
    pub fn quit(&mut self) {
        self.log(|| "quit".into());
        self.client.quit(self.now());
        self.drain();
    }

    /// Opens a dedicated connection (see [`Client::open_dedicated`]).
    pub fn open_dedicated(&mut self) -> ConnId {
        let conn = self.client.open_dedicated(self.now());
        self.log(|| format!("{conn}: opened as dedicated"));
        self.drain();
        conn
    }

    /// Closes a dedicated connection (see [`Client::close_dedicated`]).
    pub fn close_dedicated(&mut self, conn: ConnId) {
        self.log(|| format!("{conn}: closing the dedicated connection"));
        self.client.close_dedicated(conn, self.now());
        self.drain();
    }

    /// Restarts node `node` in `after`; it refuses connections for `down_for`.
    pub fn schedule_restart_of(&mut self, node: u16, after: Duration, down_for: Duration) {
        let at = self.now() + after;
        self.schedule(at, Action::Restart(node, down_for));
    }

    /// Runs the command `args` on node `node` now, from a client of its own that the
    /// network does not carry (a publisher elsewhere, say); what it makes the node write to
    /// other connections goes out as usual. Its reply, or `None` when the node takes no
    /// connection now.
    pub fn run_at_server(&mut self, node: u16, args: &[&str]) -> Option<Frame> {
        if self.is_down(node) || self.servers.reachable(node) != Dial::Accept(node) {
            return None;
        }
        let conn = self.servers.accept(node);
        let mut wire = BytesMut::new();
        resp_core::encode_command(&mut wire, args.iter().copied());
        let mut out = BytesMut::new();
        let now = self.now();
        let ran = self.servers.receive(node, conn, &wire, now, &mut out);
        self.servers.close(node, conn);
        self.log(|| format!("node {node} runs {args:?} for another client: {ran:?}"));
        self.server_messages();
        ran.ok()?;
        resp_core::Decoder::new().decode(&mut out).ok().flatten()
    }

    /// The network drops `conn` now, with whatever is in transit; the client is told.
    pub fn drop_connection(&mut self, conn: ConnId) {
        self.drop_link(conn, "connection reset (by the test)");
    }

    /// While on, replies are held back instead of delivered; see
    /// [`release_held`](Self::release_held).
    pub fn hold_replies(&mut self, on: bool) {
        self.hold = on;
    }

    /// Delivers up to `max` bytes of the replies held for `conn`, now.
    pub fn release_held(&mut self, conn: ConnId, max: usize) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        let mut data = BytesMut::new();
        while data.len() < max {
            let Some(mut piece) = link.held.pop_front() else {
                break;
            };
            let take = piece.len().min(max - data.len());
            data.extend_from_slice(&piece.split_to(take));
            if !piece.is_empty() {
                link.held.push_front(piece);
            }
        }
        if !data.is_empty() {
            self.deliver(conn, &data);
        }
    }

    /// The response of request `id`, once (later calls return `None`).
    pub fn take_response(&mut self, id: RequestId) -> Option<Result<Reply, RequestError>> {
        self.responses.remove(&id).map(|(_, result)| result)
    }

    /// The response of request `id` with the time it came, once.
    pub fn take_response_at(
        &mut self,
        id: RequestId,
    ) -> Option<(Instant, Result<Reply, RequestError>)> {
        self.responses.remove(&id)
    }

    /// Whether request `id` completed.
    pub fn is_completed(&self, id: RequestId) -> bool {
        self.completed.contains(&id)
    }

    /// Runs everything due up to `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Instant) {
        while !self.halted && self.next_due().is_some_and(|at| at <= until) {
            self.step();
        }
        self.clock.advance_to(until);
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now() + duration;
        self.run_until(until);
    }

    /// Runs until nothing is scheduled and the client wants no wake-up, for at most 10
    /// million steps. Returns whether it got there.
    pub fn run_until_idle(&mut self) -> bool {
        self.run_until_idle_within(10_000_000)
    }

    /// Like [`run_until_idle`](Self::run_until_idle), for at most `max_steps` steps.
    pub fn run_until_idle_within(&mut self, max_steps: u64) -> bool {
        let limit = self.steps + max_steps;
        while self.steps < limit {
            if !self.step() {
                return !self.halted;
            }
        }
        false
    }

    /// Runs until the client has no request pending, nothing is in transit or scheduled on
    /// the network and the servers plan no change, for at most `max_steps` steps; returns
    /// whether it got there. Unlike [`run_until_idle`](Self::run_until_idle), it does not
    /// wait for timers of an idle client (a cluster client refreshes its topology forever).
    pub fn run_until_quiet_within(&mut self, max_steps: u64) -> bool {
        let limit = self.steps + max_steps;
        while self.steps < limit {
            if self.client.pending() == 0
                && self.queue.is_empty()
                && self.servers.next_change().is_none()
            {
                return !self.halted;
            }
            if !self.step() {
                return !self.halted;
            }
        }
        false
    }

    /// When the next thing happens: a scheduled action, a change of the servers or the
    /// client's timer.
    fn next_due(&self) -> Option<Instant> {
        let event = self.queue.peek().map(|s| s.at);
        let change = self.servers.next_change();
        event
            .into_iter()
            .chain(change)
            .chain(self.client.poll_timeout())
            .min()
    }

    /// Does the next thing. False when there is nothing left to do, or when the client
    /// would spin (see [`violations`](Self::violations)).
    pub fn step(&mut self) -> bool {
        if self.halted {
            return false;
        }
        let event = self.queue.peek().map(|s| s.at);
        let timer = self.client.poll_timeout();
        self.steps += 1;
        if let Some(at) = self.servers.next_change()
            && event.is_none_or(|event| at <= event)
            && timer.is_none_or(|timer| at <= timer)
        {
            self.clock.advance_to(at);
            let now = self.now();
            for outage in self.servers.change(now) {
                self.outage(&outage);
            }
            self.server_messages();
            return true;
        }
        match (event, timer) {
            (None, None) => return false,
            (event, Some(timer)) if event.is_none_or(|event| timer < event) => {
                self.clock.advance_to(timer);
                let now = self.now();
                self.log(|| "timeout".into());
                self.client.handle_timeout(now);
                self.drain();
                if let Some(next) = self.client.poll_timeout().filter(|&next| next <= now) {
                    self.violations.push(format!(
                        "after handle_timeout at {:?}, poll_timeout still asks to be woken at \
                         {:?}: a driver would spin",
                        self.clock.elapsed(),
                        self.clock.elapsed() - (now - next),
                    ));
                    self.halted = true;
                }
            }
            _ => {
                let Scheduled { at, action, .. } = self.queue.pop().expect("peeked");
                self.clock.advance_to(at);
                self.apply(action);
            }
        }
        true
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Scheduled { at, seq, action });
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            let t = self.clock.elapsed();
            eprintln!("{:>6}.{:06}s  {}", t.as_secs(), t.subsec_micros(), what());
        }
    }

    fn latency(&mut self) -> Duration {
        let (low, high) = self.faults.latency;
        low + (high.saturating_sub(low)).mul_f64(self.rng.unit())
    }

    /// Handles every event the client raised.
    fn drain(&mut self) {
        let mut resume = Vec::new();
        while let Some(event) = self.client.poll_event() {
            let now = self.now();
            match event {
                Event::Connect { conn, server, .. } => {
                    self.dials += 1;
                    let dial = self.servers.dial(&server);
                    let node = match dial {
                        Dial::Accept(n) => Some(n),
                        _ => None,
                    };
                    let link = Link {
                        node,
                        node_conn: None,
                        client_open: true,
                        server_open: false,
                        to_server_at: now,
                        to_client_at: now,
                        input: BytesMut::new(),
                        flush_pending: false,
                        stalled_until: None,
                        stalled: VecDeque::new(),
                        silent: false,
                        held: VecDeque::new(),
                        in_transit: 0,
                    };
                    self.links.insert(conn, link);
                    let (low, high) = self.faults.connect_latency;
                    let at = now + low + high.saturating_sub(low).mul_f64(self.rng.unit());
                    let down = node.is_some_and(|n| self.is_down(n));
                    if dial == Dial::Refuse || down || self.rng.chance(self.faults.refuse_connect) {
                        self.log(|| format!("{conn}: dial {server} (will be refused)"));
                        self.schedule(at, Action::ConnectFailed(conn));
                    } else if dial == Dial::Ignore
                        || self.rng.chance(self.faults.unanswered_connect)
                    {
                        self.log(|| format!("{conn}: dial {server} (will never be answered)"));
                    } else {
                        self.log(|| format!("{conn}: dial {server}"));
                        self.schedule(at, Action::Connected(conn));
                    }
                }
                Event::Transmit { conn } => {
                    let Some(link) = self.links.get_mut(&conn) else {
                        self.violations
                            .push(format!("Transmit for {conn}, never dialed"));
                        continue;
                    };
                    if link.flush_pending || !link.client_open {
                        continue;
                    }
                    if self.rng.chance(self.faults.deferred_flush) {
                        link.flush_pending = true;
                        let at = now + self.rng.millis(0, 2);
                        self.schedule(at, Action::Flush(conn));
                    } else {
                        self.flush(conn);
                    }
                }
                Event::Disconnect { conn } => {
                    self.log(|| format!("{conn}: closed by the client"));
                    let Some(link) = self.links.get_mut(&conn) else {
                        self.violations
                            .push(format!("Disconnect for {conn}, never dialed"));
                        continue;
                    };
                    link.client_open = false;
                    if link.server_open {
                        let stall_end = link.stalled_until.unwrap_or(now);
                        let at = link.to_server_at.max(now).max(stall_end);
                        self.schedule(at, Action::ServerClose(conn));
                    }
                }
                Event::Response { id, result } => {
                    self.log(|| format!("request {} completed: {}", id.0, describe(&result)));
                    if !self.submitted.contains(&id) {
                        self.violations
                            .push(format!("a response for unknown request {}", id.0));
                    } else if !self.completed.insert(id) {
                        self.violations
                            .push(format!("a second response for request {}", id.0));
                    } else {
                        self.responses.insert(id, (now, result));
                    }
                }
                Event::Push { conn, frame } => {
                    self.log(|| format!("{conn}: push {frame:?}"));
                    self.pushes.push((now, conn, frame));
                }
                Event::PubSub { subscriber } => {
                    self.log(|| format!("{subscriber} has events"));
                }
                Event::ResumeInput { conn } => {
                    self.log(|| format!("{conn}: read again"));
                    resume.push(conn);
                }
            }
        }
        // Bytes kept while the input was paused go in first, as a driver does before it reads
        // the socket again.
        for conn in resume {
            if self.links.get(&conn).is_some_and(|l| l.client_open) {
                self.deliver(conn, &[]);
            }
        }
    }

    /// The adapter writes what the client has for `conn`.
    fn flush(&mut self, conn: ConnId) {
        let mut wrote = false;
        while self.client.poll_transmit(conn, &mut self.out) {
            wrote = true;
        }
        if !wrote {
            return;
        }
        let data = self.out.copy_to_bytes(self.out.remaining());
        let now = self.now();
        self.log(|| format!("{conn}: client writes {}", show(&data)));
        let Some(link) = self.links.get(&conn) else {
            return;
        };
        if link.silent {
            return;
        }
        if self.rng.chance(self.faults.silent_link) {
            self.log(|| format!("{conn}: the link goes silent"));
            self.links.get_mut(&conn).expect("exists").silent = true;
            return;
        }
        let mut last = now;
        for piece in self.pieces(data) {
            let sample = self.latency();
            let link = self.links.get_mut(&conn).expect("exists");
            let at = (now + sample).max(link.to_server_at);
            link.to_server_at = at;
            link.in_transit += 1;
            last = at;
            self.schedule(at, Action::ToServer(conn, piece));
        }
        if self.rng.chance(self.faults.drop_in_transit) {
            let at = now + last.saturating_duration_since(now).mul_f64(self.rng.unit());
            self.schedule(
                at,
                Action::Drop(conn, "connection reset (request bytes lost)"),
            );
        }
    }

    /// `data` in one piece, or split at random byte boundaries.
    fn pieces(&mut self, mut data: Bytes) -> Vec<Bytes> {
        if data.len() < 2 || !self.rng.chance(self.faults.split) {
            return vec![data];
        }
        let mut pieces = Vec::new();
        // Mostly small pieces, single bytes included.
        let max = 1 + self.rng.below(data.len() as u64 / 2 + 1) as usize;
        while !data.is_empty() {
            let take = (1 + self.rng.below(max as u64) as usize).min(data.len());
            pieces.push(data.split_to(take));
        }
        pieces
    }

    fn apply(&mut self, action: Action) {
        let now = self.now();
        match action {
            Action::Connected(conn) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                if !link.client_open {
                    return;
                }
                let Some(node) = link.node else {
                    return;
                };
                match self.servers.reachable(node) {
                    _ if self.is_down(node) => {
                        self.apply(Action::ConnectFailed(conn));
                        return;
                    }
                    Dial::Refuse => {
                        self.apply(Action::ConnectFailed(conn));
                        return;
                    }
                    Dial::Ignore => {
                        self.log(|| format!("{conn}: the dial is never answered"));
                        return;
                    }
                    Dial::Accept(_) => {}
                }
                let node_conn = self.servers.accept(node);
                let link = self.links.get_mut(&conn).expect("exists");
                link.node_conn = Some(node_conn);
                link.server_open = true;
                self.log(|| format!("{conn}: connected (node {node} conn {})", node_conn.0));
                self.client.handle_connected(conn, now);
                self.client.handle_peer_address(conn, sim_peer(node));
                self.drain();
            }
            Action::ConnectFailed(conn) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                if !link.client_open {
                    return;
                }
                link.client_open = false;
                self.log(|| format!("{conn}: connection refused"));
                self.client
                    .handle_connect_failed(conn, "connection refused", now);
                self.drain();
            }
            Action::Flush(conn) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                link.flush_pending = false;
                if link.client_open {
                    self.flush(conn);
                }
            }
            Action::ToServer(conn, data) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                link.in_transit -= 1;
                if !link.server_open || link.silent {
                    return;
                }
                if link.stalled_until.is_some() {
                    link.stalled.push_back(data);
                    return;
                }
                if self.rng.chance(self.faults.stall) {
                    let (low, high) = self.faults.stall_for;
                    let until = now + low + high.saturating_sub(low).mul_f64(self.rng.unit());
                    let link = self.links.get_mut(&conn).expect("exists");
                    link.stalled_until = Some(until);
                    link.stalled.push_back(data);
                    self.log(|| format!("{conn}: the server stalls until {:?}", until - now));
                    self.schedule(until, Action::Unstall(conn));
                    return;
                }
                self.serve(conn, &data);
            }
            Action::Unstall(conn) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                link.stalled_until = None;
                let pending = std::mem::take(&mut link.stalled);
                self.log(|| format!("{conn}: the server reads again"));
                for data in pending {
                    if self.links.get(&conn).is_some_and(|l| l.server_open) {
                        self.serve(conn, &data);
                    }
                }
            }
            Action::ToClient(conn, data) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                link.in_transit -= 1;
                if !link.client_open || link.silent {
                    return;
                }
                if self.hold {
                    link.held.push_back(data);
                    return;
                }
                self.deliver(conn, &data);
            }
            Action::Drop(conn, reason) => self.drop_link(conn, reason),
            Action::ServerClose(conn) => {
                let Some(link) = self.links.get_mut(&conn) else {
                    return;
                };
                if link.server_open {
                    link.server_open = false;
                    if let (Some(node), Some(node_conn)) = (link.node, link.node_conn) {
                        self.servers.close(node, node_conn);
                    }
                }
            }
            Action::Restart(node, down_for) => {
                self.log(|| format!("node {node} restarts, down for {down_for:?}"));
                self.servers.restart(node);
                self.down_until.insert(node, now + down_for);
                self.reset_links(node, false, "connection reset by peer (server restart)");
            }
            Action::Retire(node, tries) => {
                let busy = self
                    .links
                    .values()
                    .any(|l| l.node == Some(node) && l.server_open && !l.silent && !l.quiet());
                if busy && tries < 1000 {
                    self.schedule(
                        now + Duration::from_millis(1),
                        Action::Retire(node, tries + 1),
                    );
                } else {
                    self.log(|| format!("node {node} shuts down"));
                    // A silent link is dead already; nobody will ever hear of it.
                    self.reset_links(node, true, "connection closed by the server (shutdown)");
                }
            }
        }
    }

    /// Whether `node` refuses connections after a restart.
    fn is_down(&self, node: u16) -> bool {
        self.down_until
            .get(&node)
            .is_some_and(|&until| until > self.now())
    }

    /// Every connection the server `node` holds (but silent ones, with `skip_silent`) is
    /// reset; the client is told.
    fn reset_links(&mut self, node: u16, skip_silent: bool, reason: &'static str) {
        let on_node: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, l)| l.node == Some(node) && !(skip_silent && l.silent))
            .map(|(&id, _)| id)
            .collect();
        for conn in on_node {
            let link = self.links.get_mut(&conn).expect("exists");
            link.server_open = false;
            link.stalled.clear();
            if link.node_conn.is_some() {
                self.drop_link(conn, reason);
            }
        }
    }

    /// Acts on what the servers did on their own.
    fn outage(&mut self, outage: &Outage) {
        match *outage {
            Outage::Reset { node, reason } => {
                self.log(|| format!("node {node} dies: its connections are reset"));
                self.reset_links(node, false, reason);
            }
            Outage::Silence { node } => {
                self.log(|| format!("node {node} vanishes: its connections go silent"));
                for link in self.links.values_mut() {
                    if link.node == Some(node) {
                        // The process behind it is gone: closing the link later must not
                        // touch the node's next process.
                        link.silent = true;
                        link.server_open = false;
                        link.stalled.clear();
                    }
                }
            }
            Outage::Retire { node } => {
                self.log(|| format!("node {node} retires"));
                let now = self.now();
                self.schedule(now, Action::Retire(node, 0));
            }
            Outage::Send {
                node,
                conn: node_conn,
                ref data,
            } => {
                let found = self.links.iter().find(|(_, l)| {
                    l.node == Some(node) && l.node_conn == Some(node_conn) && l.server_open
                });
                let Some((&conn, link)) = found else {
                    return;
                };
                if link.silent || !link.client_open {
                    return;
                }
                self.log(|| format!("{conn}: node {node} sends {}", show(data)));
                self.send_to_client(conn, data.clone());
            }
        }
    }

    /// Schedules `data` to reach the client on `conn` after what is already on its way, in
    /// pieces, each after a latency; returns when the last piece arrives.
    fn send_to_client(&mut self, conn: ConnId, data: Bytes) -> Instant {
        let now = self.now();
        let mut last = now;
        for piece in self.pieces(data) {
            let sample = self.latency();
            let link = self.links.get_mut(&conn).expect("exists");
            let at = (now + sample).max(link.to_client_at);
            link.to_client_at = at;
            link.in_transit += 1;
            last = at;
            self.schedule(at, Action::ToClient(conn, piece));
        }
        last
    }

    /// The server reads `data` on `conn` and answers.
    fn serve(&mut self, conn: ConnId, data: &[u8]) {
        let now = self.now();
        let link = self.links.get_mut(&conn).expect("exists");
        let node_conn = link.node_conn.expect("accepted");
        let node = link.node.expect("accepted");
        let mut out = BytesMut::new();
        let ran = match self.servers.receive(node, node_conn, data, now, &mut out) {
            Ok(ran) => ran,
            Err(e) => {
                // The client wrote something that is not a command: its encoding is broken.
                self.violations
                    .push(format!("{conn}: the server could not read the client: {e}"));
                self.drop_link(conn, "connection closed by the server (protocol error)");
                return;
            }
        };
        // Messages to other connections (a PUBLISH) leave as the command runs.
        self.server_messages();
        if out.is_empty() {
            return;
        }
        let pushes = self.servers.protocol_of(node, node_conn) == Some(3);
        if pushes && self.rng.chance(self.faults.push) {
            self.log(|| format!("{conn}: an invalidation push comes first"));
            let mut with_push =
                BytesMut::from(&b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n"[..]);
            with_push.extend_from_slice(&out);
            out = with_push;
        }
        let mut data = out.freeze();
        self.log(|| format!("{conn}: server ran {ran}, replies {}", show(&data)));
        let lost = ran > 0 && self.rng.chance(self.faults.drop_reply);
        if lost {
            let keep = self.rng.below(data.len() as u64) as usize;
            data.truncate(keep);
        } else if self.rng.chance(self.faults.garbage) {
            self.log(|| format!("{conn}: garbage follows the replies"));
            let mut corrupt = BytesMut::from(&data[..]);
            corrupt.extend_from_slice(b"?\x00 not RESP\r\n");
            data = corrupt.freeze();
        }
        let mut last = now;
        if !data.is_empty() {
            last = self.send_to_client(conn, data);
        }
        if lost {
            self.schedule(last, Action::Drop(conn, "connection reset (replies lost)"));
        }
    }

    /// Bytes reach the client's read buffer; the client takes whole frames.
    fn deliver(&mut self, conn: ConnId, data: &[u8]) {
        let now = self.now();
        self.log(|| format!("{conn}: client reads {}", show(data)));
        let link = self.links.get_mut(&conn).expect("exists");
        let mut input = std::mem::take(&mut link.input);
        input.extend_from_slice(data);
        // A driver does not read a connection the core paused: the bytes wait in its buffer.
        if !self.client.is_input_paused(conn) {
            self.client.handle_input(conn, &mut input, now);
            self.client.reserve_input(conn, &mut input);
        }
        if let Some(link) = self.links.get_mut(&conn) {
            link.input = input;
        }
        self.drain();
    }

    /// Both ends lose the connection; the client is told (unless it closed it already).
    fn drop_link(&mut self, conn: ConnId, reason: &'static str) {
        let now = self.now();
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        if link.server_open {
            link.server_open = false;
            if let (Some(node), Some(node_conn)) = (link.node, link.node_conn) {
                self.servers.close(node, node_conn);
            }
        }
        link.stalled.clear();
        if link.client_open {
            link.client_open = false;
            self.log(|| format!("{conn}: dropped: {reason}"));
            self.client.handle_closed(conn, reason, now);
            self.drain();
        }
    }
}

fn describe(result: &Result<Reply, RequestError>) -> String {
    match result {
        Ok(Reply::Single(frame)) => format!("{frame:?}"),
        Ok(Reply::Pipeline(frames)) => format!("pipeline {frames:?}"),
        Err(e) => format!("error {e:?}"),
    }
}

/// Bytes for a trace line: escaped, shortened.
fn show(data: &[u8]) -> String {
    let text: String = data
        .iter()
        .take(400)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if data.len() > 400 {
        format!("{} bytes: {text}...", data.len())
    } else {
        format!("{} bytes: {text}", data.len())
    }
}

/// The socket address the simulation says a connection to node `node` reached, as a real
/// adapter reports the address a host name resolved to: `10.0.<node / 256>.<node % 256>:6379`.
pub fn sim_peer(node: u16) -> std::net::SocketAddr {
    let [high, low] = node.to_be_bytes();
    std::net::SocketAddr::from(([10, 0, high, low], 6379))
}
