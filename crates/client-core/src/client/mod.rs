//! [`Client`]: the sans-IO state machine.

mod caching;
mod cluster;
mod combine;
mod failure;
mod pubsub;
mod sentinel;
mod slab;
#[cfg(test)]
mod tests;
mod timers;
mod topology;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use resp_core::{Frame, SendBuffer};

use self::cluster::Cluster;
pub(crate) use self::combine::FanIn;
pub(crate) use self::sentinel::Query as SentinelQuery;
use self::sentinel::Sentinel;
use self::slab::Slab;
use self::timers::Deadlines;
use crate::cache::LocalCache;
use crate::config::{Config, ServerAddr, TlsSettings};
use crate::conn::{ConnState, Connection, Handshake, Progress, Role, Waiter};
use crate::error::{RequestError, SubmitError};
use crate::event::{ConnId, Event, Reply, RequestId};
use crate::hooks::{Outcome, RequestEnd, RequestStart};
use crate::request::{Body, Owner, Phase, Request, RequestState, Route};
use crate::rng::Rng;

/// A server the client talks to (the one server, or a cluster node), and the requests
/// waiting for its shared connection.
#[derive(Debug)]
struct Node {
    server: ServerAddr,
    tls: Option<TlsSettings>,
    /// The shared (multiplexed) connection, in whatever state it is.
    conn: Option<ConnId>,
    /// Requests waiting for the shared connection to be ready, in submit order.
    queue: VecDeque<RequestId>,
    /// Failed connection attempts in a row.
    failures: u32,
    last_error: String,
    reconnect_at: Option<Instant>,
    /// The socket address the adapter said its latest connection reached (a host name's
    /// resolved address), for hooks.
    peer: Option<SocketAddr>,
}

/// One cluster shard, as [`Client::cluster_shards`] shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardView {
    /// The primary.
    pub primary: ServerAddr,
    /// Its replicas.
    pub replicas: Vec<ServerAddr>,
    /// The lowest slot it owns.
    pub first_slot: u16,
    /// How many slots it owns.
    pub slot_count: usize,
}

/// The sans-IO Redis client: every decision, no I/O.
///
/// The methods come in four kinds:
///
/// - **getters** (`&self`): [`config`](Self::config), [`pending`](Self::pending),
///   [`is_closed`](Self::is_closed), [`cache_len`](Self::cache_len);
/// - **inputs** from the driver: [`handle_connected`](Self::handle_connected),
///   [`handle_connect_failed`](Self::handle_connect_failed),
///   [`handle_input`](Self::handle_input), [`handle_closed`](Self::handle_closed),
///   [`handle_timeout`](Self::handle_timeout);
/// - **mutators** from the application: [`submit`](Self::submit), [`cancel`](Self::cancel),
///   [`open_dedicated`](Self::open_dedicated), [`close_dedicated`](Self::close_dedicated),
///   [`quit`](Self::quit);
/// - **outputs**, drained after every input or mutation: [`poll_event`](Self::poll_event)
///   until `None`, [`poll_transmit`](Self::poll_transmit) for each connection an
///   [`Event::Transmit`] named, and [`poll_timeout`](Self::poll_timeout) to arm the one timer.
///
/// Time is always an argument; the same inputs give the same outputs.
#[derive(Debug)]
pub struct Client {
    config: Config,
    /// Standalone: the one server. Cluster: every node seen, seeds first. Sentinel: the
    /// sentinels first, then every data node seen. Indices are stable.
    nodes: Vec<Node>,
    cluster: Option<Box<Cluster>>,
    sentinel: Option<Box<Sentinel>>,
    pubsub: pubsub::PubSub,
    /// Client-side caching, when configured.
    cache: Option<Box<LocalCache>>,
    conns: Vec<Connection>,
    requests: Slab,
    deadlines: Deadlines,
    events: VecDeque<Event>,
    next_conn: u32,
    rng: Rng,
    closing: bool,
}

impl Client {
    /// A client for `config`. It connects when the first request is submitted (or a dedicated
    /// connection is opened).
    pub fn new(mut config: Config) -> Self {
        // An observer that keeps state by request id gets one instance per client.
        if let Some(own) = config.hooks.as_ref().and_then(|h| h.for_client(&config)) {
            config.hooks = Some(own);
        }
        let cluster = config.cluster.as_ref().map(|_| Box::new(Cluster::new()));
        let mut client = Self {
            rng: Rng::new(config.seed),
            nodes: Vec::new(),
            cluster,
            sentinel: None,
            pubsub: pubsub::PubSub::default(),
            cache: config
                .cache
                .clone()
                .map(|settings| Box::new(LocalCache::new(settings))),
            conns: Vec::new(),
            requests: Slab::default(),
            deadlines: Deadlines::default(),
            events: VecDeque::new(),
            next_conn: 0,
            closing: false,
            config,
        };
        let seeds: Vec<ServerAddr> = client.config.seed_nodes().cloned().collect();
        let indices: Vec<usize> = seeds.iter().map(|seed| client.node_index(seed)).collect();
        if client.config.sentinel.is_some() {
            client.sentinel = Some(Box::new(Sentinel::new(indices)));
        }
        client
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Requests submitted and not yet completed.
    pub fn pending(&self) -> usize {
        self.requests.len()
    }

    /// In cluster mode, the shards as last read: each primary, its replicas and one slot it
    /// owns (for [`Request::to_slot`]). Empty before the first topology read, and outside
    /// cluster mode.
    pub fn cluster_shards(&self) -> Vec<ShardView> {
        self.cluster
            .as_ref()
            .map(|c| c.shard_views(&|n| self.nodes[n].server.clone()))
            .unwrap_or_default()
    }

    /// In Sentinel mode, the primary as last confirmed (the sentinels named it and it
    /// answered `ROLE` as a primary); `None` before that, while a failover is followed, and
    /// outside Sentinel mode.
    pub fn sentinel_primary(&self) -> Option<&ServerAddr> {
        self.sentinel_primary_node().map(|n| &self.nodes[n].server)
    }

    /// Whether `conn` owes replies to bytes already handed to the adapter. The adapter can
    /// use it to decide when to write: with nothing outstanding the server is idle, so output
    /// is best written at once; with replies outstanding, waiting a moment lets more
    /// callers' commands share the write. False for unknown connections.
    pub fn is_awaiting_replies(&self, conn: ConnId) -> bool {
        self.conn_index(conn)
            .is_some_and(|i| self.conns[i].waiters.len() > self.conns[i].unsent)
    }

    /// Whether [`quit`](Self::quit) finished: every request completed, every connection closed.
    pub fn is_closed(&self) -> bool {
        self.closing && self.requests.is_empty() && self.conns.is_empty()
    }

    // ---- mutators ----

    /// Accepts a request. Its completion arrives as [`Event::Response`] with the returned id.
    ///
    /// # Errors
    ///
    /// [`SubmitError`] when the request is refused outright (backpressure, shut down, empty,
    /// pinned to an unknown connection); nothing is queued then.
    pub fn submit(&mut self, request: Request, now: Instant) -> Result<RequestId, SubmitError> {
        if self.closing {
            return Err(SubmitError::Closed);
        }
        if request.is_empty() {
            return Err(SubmitError::Empty);
        }
        if self.requests.len() >= self.config.max_pending {
            return Err(SubmitError::Backpressure {
                limit: self.config.max_pending,
            });
        }
        let options = request.options();
        if let Some(conn) = options.conn
            && self.conn_index(conn).is_none()
        {
            return Err(SubmitError::UnknownConnection(conn.0));
        }
        let target = match &options.server {
            None => None,
            Some(server) if self.cluster.is_some() || self.sentinel.is_some() => {
                Some(self.node_index(server))
            }
            Some(server) if *server == self.nodes[0].server => Some(0),
            Some(server) => return Err(SubmitError::UnknownServer(server.to_string())),
        };
        let slot = options.slot.filter(|_| self.cluster.is_some());
        let shard = options.shard.filter(|_| self.cluster.is_some());
        let mut state = RequestState::new(request, now, self.config.timeouts.command);
        if let Some(node) = target {
            state.route = Route::Node(node);
        } else if let Some(slot) = slot {
            state.route = Route::Slot(slot);
        } else if let Some(shard) = shard {
            state.route = Route::Shard(shard);
        }
        let id = self.admit(state, now);
        self.route(id, now);
        Ok(id)
    }

    /// Takes a caller's request in: it gets an id, its deadline, and hooks hear of it.
    fn admit(&mut self, state: RequestState, now: Instant) -> RequestId {
        let deadline = state.deadline;
        let id = self.requests.insert(state);
        if let Some(deadline) = deadline {
            self.deadlines.insert(deadline, id);
        }
        if let Some(hooks) = &self.config.hooks {
            let state = self.requests.get(id).expect("just inserted");
            hooks.request_start(&RequestStart {
                id,
                operation: state.operation(),
                batch_size: state.body_len(),
                commands: state.body.commands(),
                db: self.config.db,
                now,
            });
        }
        id
    }

    /// Cancels a request: it completes at once with [`RequestError::Cancelled`]. If it was
    /// already sent, its reply is read and dropped when it comes, so no other request can get
    /// it. Unknown or completed ids are ignored.
    pub fn cancel(&mut self, id: RequestId, now: Instant) {
        if self.requests.contains(id) {
            self.complete(id, Err(RequestError::Cancelled), now);
            // After quit, that may have been the last reply a connection was kept open for.
            self.close_idle_when_quitting();
        }
    }

    /// Opens a connection for one caller's exclusive use (`WATCH`/`MULTI`, blocking commands).
    /// Pin requests to it with [`Request::on`]. It is never shared, and not reconnected: when
    /// it fails, its requests fail with [`RequestError::ConnectionLost`].
    ///
    /// In cluster mode it goes to any primary; use
    /// [`open_dedicated_for_slot`](Self::open_dedicated_for_slot) for commands with keys.
    pub fn open_dedicated(&mut self, now: Instant) -> ConnId {
        self.open_dedicated_for_slot(None, now)
    }

    /// Opens a dedicated connection to the primary that owns `slot` (in cluster mode; the one
    /// server otherwise), for `WATCH`/`MULTI`/`EXEC` or blocking commands on keys of that slot
    /// (`resp_core::slot` computes it). If the topology is not known yet, the connection is
    /// dialled once it is. It stays with that node: after a resharding or failover, the
    /// server answers `MOVED` and the caller opens a new one.
    pub fn open_dedicated_for_slot(&mut self, slot: Option<u16>, now: Instant) -> ConnId {
        if self.sentinel.is_some() {
            return self.open_dedicated_sentinel(now);
        }
        if self.cluster.is_none() {
            return self.open_connection(Role::Dedicated, 0, now);
        }
        match self.dedicated_node(slot) {
            Some(n) => self.open_connection(Role::Dedicated, n, now),
            None => self.open_unresolved(slot, now),
        }
    }

    /// Closes a dedicated connection; requests still pinned to it fail with
    /// [`RequestError::ConnectionLost`].
    pub fn close_dedicated(&mut self, conn: ConnId, now: Instant) {
        if let Some(i) = self.conn_index(conn)
            && self.conns[i].role == Role::Dedicated
        {
            if !self.conns[i].is_unresolved() {
                self.events.push_back(Event::Disconnect { conn });
            }
            self.connection_failed(i, "closed by the application", now);
        }
    }

    /// Shuts down gracefully: no new requests; those in flight get their replies (or time
    /// out); then every connection is closed. Requests still waiting for a connection fail
    /// with [`RequestError::Closed`].
    pub fn quit(&mut self, now: Instant) {
        self.closing = true;
        let mut waiting: Vec<RequestId> = Vec::new();
        for n in 0..self.nodes.len() {
            self.nodes[n].reconnect_at = None;
            // Parts of a split request that already ran in part are in flight: they wait
            // for a connection that is being set up, if there is one.
            let opening = self.nodes[n]
                .conn
                .and_then(|c| self.conn_index(c))
                .is_some();
            let queue = std::mem::take(&mut self.nodes[n].queue);
            for id in queue {
                if opening && self.is_part_of_written(id) {
                    self.nodes[n].queue.push_back(id);
                } else {
                    waiting.push(id);
                }
            }
        }
        if let Some(cluster) = &mut self.cluster {
            waiting.extend(cluster.take_waiting());
        }
        if let Some(sentinel) = &mut self.sentinel {
            waiting.extend(sentinel.take_waiting());
        }
        for id in waiting {
            if self.requests.contains(id) {
                self.complete(id, Err(RequestError::Closed), now);
            }
        }
        for i in 0..self.conns.len() {
            for id in std::mem::take(&mut self.conns[i].pinned_queue) {
                if self.requests.contains(id) {
                    self.complete(id, Err(RequestError::Closed), now);
                }
            }
        }
        self.pubsub_quit(now);
        self.close_idle_when_quitting();
    }

    // ---- inputs ----

    /// The adapter opened the connection `conn` asked for by [`Event::Connect`].
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let Some(i) = self.conn_index(conn) else {
            return;
        };
        let c = &mut self.conns[i];
        if !matches!(c.state, ConnState::Connecting) {
            return;
        }
        c.last_input = now;
        c.setup_deadline = Some(now + self.config.timeouts.connect);
        let handshake = Handshake::start(c, &self.config);
        c.state = ConnState::Handshaking(handshake);
        self.events.push_back(Event::Transmit { conn });
    }

    /// The adapter tells the core which socket address `conn` reached: for a server named by
    /// host name, the address it resolved to. Optional; hooks report it as the request's
    /// [`peer`](crate::hooks::RequestEnd::peer) (OpenTelemetry's `network.peer.*`).
    pub fn handle_peer_address(&mut self, conn: ConnId, peer: SocketAddr) {
        if let Some(i) = self.conn_index(conn) {
            let node = self.conns[i].node;
            self.nodes[node].peer = Some(peer);
        }
    }

    /// The adapter could not open `conn`.
    pub fn handle_connect_failed(&mut self, conn: ConnId, reason: &str, now: Instant) {
        if let Some(i) = self.conn_index(conn) {
            self.connection_failed(i, reason, now);
        }
    }

    /// Makes room in `input`, `conn`'s read buffer, for the next read; call it after
    /// [`handle_input`](Self::handle_input). It keeps a few KiB free. While a frame waits for
    /// a long bulk payload, the buffer grows towards the payload's end ahead of the bytes (by
    /// at most what has arrived plus 1 MiB per call); between frames it takes back, without
    /// copying, the room the longest payload so far needed (up to 1 MiB) once no reply holds
    /// a slice of it. Payloads are then read where they stay: grown a read at a time, the
    /// buffer moved a long payload's first part again at every reallocation.
    pub fn reserve_input(&mut self, conn: ConnId, input: &mut BytesMut) {
        match self.conn_index(conn) {
            Some(i) => {
                let conn = &mut self.conns[i];
                let pending = conn.decoder.pending_len();
                conn.input_room.reserve(input, pending);
            }
            None => crate::input::InputRoom::default().reserve(input, None),
        }
    }

    /// Bytes arrived on `conn`. Whole frames are split off the front of `input`; a partial
    /// frame stays there for the next call.
    pub fn handle_input(&mut self, conn: ConnId, input: &mut BytesMut, now: Instant) {
        let Some(mut i) = self.conn_index(conn) else {
            input.clear();
            return;
        };
        self.conns[i].last_input = now;
        // Replies that only a request waits for (no cache to fill, no pub/sub or sentinel
        // frames to pick out) may take the short way in the middle of a pipeline.
        let runs = self.cache.is_none()
            && matches!(self.conns[i].role, Role::Multiplexed | Role::Dedicated);
        loop {
            // A subscriber's full buffer holds the rest back (`Overflow::Block`).
            if self.conns[i].paused {
                break;
            }
            let frame = match self.conns[i].decoder.decode(input) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    self.events.push_back(Event::Disconnect { conn });
                    self.connection_failed(i, &format!("protocol error: {error}"), now);
                    input.clear();
                    return;
                }
            };
            let frame = if runs {
                match self.store_in_run(i, frame) {
                    Some(frame) => frame,
                    None => continue,
                }
            } else {
                frame
            };
            if self.conns[i].role == Role::Watch && self.conns[i].is_ready() {
                self.watch_frame(i, &frame, now);
                match self.conn_index(conn) {
                    Some(j) => i = j,
                    None => return,
                }
                continue;
            }
            if pubsub::is_pubsub_frame(&frame, self.conns[i].role) {
                self.pubsub_frame(i, frame, now);
                match self.conn_index(conn) {
                    Some(j) => i = j,
                    None => return,
                }
                continue;
            }
            if let Frame::Push(_) = frame {
                if !self.cache_push(i, &frame) {
                    self.events.push_back(Event::Push { conn, frame });
                }
                continue;
            }
            if matches!(self.conns[i].waiters.front(), Some(Waiter::PubSub { .. })) {
                // The one reply a pub/sub command gets that is not a confirmation: an error.
                self.pubsub_refused(i, &frame, now);
                match self.conn_index(conn) {
                    Some(j) => i = j,
                    None => return,
                }
                continue;
            }
            let Some(waiter) = self.conns[i].pop_waiter() else {
                self.events.push_back(Event::Disconnect { conn });
                self.connection_failed(i, "the server sent a reply nobody asked for", now);
                input.clear();
                return;
            };
            match waiter {
                Waiter::Handshake(step) => {
                    if !self.on_handshake_reply(i, step, &frame, now) {
                        input.clear();
                        return;
                    }
                }
                Waiter::Request { id, index } => self.on_reply(i, id, index, frame, false, now),
                Waiter::Fallback { id, index } => self.on_reply(i, id, index, frame, true, now),
                Waiter::Discard | Waiter::PubSub { .. } => {}
            }
            // Completing requests never removes connections, but stay robust to it.
            if self.conns.get(i).is_none_or(|c| c.id != conn) {
                match self.conn_index(conn) {
                    Some(j) => i = j,
                    None => return,
                }
            }
        }
        self.close_idle_when_quitting();
    }

    /// Stores `frame`, read on connection `i`, if it is a reply in the middle of a pipeline
    /// or transaction (any reply in order but its last) and is neither an error nor a push:
    /// what `on_reply` would do with it, without the checks that only the others need. The
    /// frame back otherwise, for the general path.
    #[inline]
    fn store_in_run(&mut self, i: usize, frame: Frame) -> Option<Frame> {
        if frame.is_error() || matches!(frame, Frame::Push(_)) {
            return Some(frame);
        }
        let Some(&Waiter::Request { id, index }) = self.conns[i].waiters.front() else {
            return Some(frame);
        };
        let Some(state) = self.requests.get_mut(id) else {
            return Some(frame);
        };
        match state.store_before_last(index as usize, frame) {
            Ok(()) => {
                self.conns[i].pop_waiter();
                None
            }
            Err(frame) => Some(frame),
        }
    }

    /// The connection `conn` closed (EOF or an I/O error) without the core asking.
    pub fn handle_closed(&mut self, conn: ConnId, reason: &str, now: Instant) {
        if let Some(i) = self.conn_index(conn) {
            self.connection_failed(i, reason, now);
        }
    }

    /// The time from [`poll_timeout`](Self::poll_timeout) came. Calling it early, late or
    /// twice is harmless: it acts on whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Connections that did not open, or finish their handshake, in time.
        while let Some(i) = self
            .conns
            .iter()
            .position(|c| c.setup_deadline.is_some_and(|d| d <= now))
        {
            let conn = self.conns[i].id;
            if !self.conns[i].is_unresolved() {
                self.events.push_back(Event::Disconnect { conn });
            }
            let after = self.config.timeouts.connect;
            let step = match self.conns[i].state {
                ConnState::Connecting => "connect",
                ConnState::Unresolved(_) if self.sentinel.is_some() => {
                    "primary discovery through the sentinels"
                }
                ConnState::Unresolved(_) => "cluster topology discovery",
                _ => "handshake",
            };
            self.connection_failed(i, &format!("{step} timed out after {after:?}"), now);
        }
        for n in 0..self.nodes.len() {
            if self.nodes[n].reconnect_at.is_some_and(|at| at <= now) {
                self.nodes[n].reconnect_at = None;
                self.ensure_connection(n, now);
            }
        }
        while let Some(id) = self.deadlines.pop_due(now, &self.requests) {
            self.request_timed_out(id, now);
        }
        // After the deadlines: a topology read that just timed out may make one due now.
        if self.cluster.is_some() {
            self.cluster_timeout(now);
        }
        if self.sentinel.is_some() {
            self.sentinel_timeout(now);
        }
        self.pubsub_timeout(now);
        // After quit, a connection kept open for replies that timed out is done with.
        self.close_idle_when_quitting();
    }

    // ---- outputs ----

    /// The next thing for the driver to do.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves `conn`'s pending output into `out` (which the adapter then writes to the
    /// socket). Returns false when there was nothing to send.
    #[must_use]
    pub fn poll_transmit(&mut self, conn: ConnId, out: &mut SendBuffer) -> bool {
        let Some(i) = self.conn_index(conn) else {
            return false;
        };
        let c = &mut self.conns[i];
        if c.out.is_empty() {
            return false;
        }
        out.append(&mut c.out);
        c.unsent = 0;
        true
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Adapters ask after every input, so this is written as plain loops: the chain of
        // iterators it was cost about as much as submitting a request.
        let mut next = self.deadlines.next();
        for conn in &self.conns {
            next = earliest(next, conn.setup_deadline);
        }
        for node in &self.nodes {
            next = earliest(next, node.reconnect_at);
        }
        if let Some(cluster) = &self.cluster {
            next = earliest(next, cluster.next_timer());
        }
        if let Some(sentinel) = &self.sentinel {
            next = earliest(next, sentinel.next_timer());
        }
        earliest(next, self.pubsub_timer())
    }

    // ---- internals ----

    fn conn_index(&self, conn: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == conn)
    }

    /// The index of the node at `server`, added if new.
    fn node_index(&mut self, server: &ServerAddr) -> usize {
        if let Some(i) = self.nodes.iter().position(|n| n.server == *server) {
            return i;
        }
        // A cluster node is verified under its own name, unless it is the configured server
        // (whose name may have been overridden).
        let tls = self.config.tls.as_ref().map(|tls| match server {
            ServerAddr::Tcp { host, .. } if *server != self.config.server => TlsSettings {
                server_name: host.clone(),
            },
            _ => tls.clone(),
        });
        self.nodes.push(Node {
            server: server.clone(),
            tls,
            conn: None,
            queue: VecDeque::new(),
            failures: 0,
            last_error: String::new(),
            reconnect_at: None,
            peer: None,
        });
        self.nodes.len() - 1
    }

    fn open_connection(&mut self, role: Role, node: usize, now: Instant) -> ConnId {
        let conn = self.new_connection(role, node, now);
        self.dial(conn, node);
        conn
    }

    /// A connection to node `node`, not dialled yet (it is pushed last in `conns`).
    fn new_connection(&mut self, role: Role, node: usize, now: Instant) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let mut c = Connection::new(conn, role, node, &self.config, now);
        c.read_only = self.cluster.is_some() && self.is_replica_reader(node);
        self.conns.push(c);
        conn
    }

    /// A dedicated connection whose node is not known yet (no cluster topology, no Sentinel
    /// primary): [`resolve_unresolved`](Self::resolve_unresolved) dials it once it is.
    fn new_unresolved(&mut self, slot: Option<u16>, now: Instant) -> ConnId {
        let conn = self.new_connection(Role::Dedicated, 0, now);
        if let Some(c) = self.conns.last_mut() {
            c.state = ConnState::Unresolved(slot);
        }
        conn
    }

    /// Dials each connection waiting for its node to the node `pick` names for its slot, if
    /// any.
    fn resolve_unresolved(
        &mut self,
        mut pick: impl FnMut(&mut Self, Option<u16>) -> Option<usize>,
    ) {
        let unresolved: Vec<(ConnId, Option<u16>)> = self
            .conns
            .iter()
            .filter_map(|c| match c.state {
                ConnState::Unresolved(slot) => Some((c.id, slot)),
                _ => None,
            })
            .collect();
        for (conn, slot) in unresolved {
            let Some(node) = pick(self, slot) else {
                continue;
            };
            if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
                c.state = ConnState::Connecting;
                self.dial(conn, node);
            }
        }
    }

    /// Fails every connection still waiting for its node.
    fn fail_unresolved(&mut self, reason: &str, now: Instant) {
        while let Some(i) = self.conns.iter().position(Connection::is_unresolved) {
            self.connection_failed(i, reason, now);
        }
    }

    /// Asks the adapter to open `conn` to node `node`. The connection is to that node from
    /// now on, and speaks to it as a sentinel or a data node.
    fn dial(&mut self, conn: ConnId, node: usize) {
        let sentinel = self.sentinel.as_ref().is_some_and(|s| s.is_sentinel(node));
        if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
            c.node = node;
            c.sentinel = sentinel;
        }
        self.events.push_back(Event::Connect {
            conn,
            server: self.nodes[node].server.clone(),
            tls: self.nodes[node].tls.clone(),
        });
        if let Some(hooks) = &self.config.hooks {
            hooks.connecting(conn, &self.nodes[node].server);
        }
    }

    /// Makes sure node `n`'s shared connection exists or is being (re)established.
    fn ensure_connection(&mut self, n: usize, now: Instant) {
        let node = &self.nodes[n];
        if node.conn.is_none() && node.reconnect_at.is_none() && !self.closing {
            self.nodes[n].conn = Some(self.open_connection(Role::Multiplexed, n, now));
        }
    }

    /// Sends a request where it belongs, or queues it until it can be.
    fn route(&mut self, id: RequestId, now: Instant) {
        let Some(state) = self.requests.get(id) else {
            return;
        };
        if let Some(pinned) = state.pinned {
            match self.conn_index(pinned) {
                Some(i) if self.conns[i].is_ready() => self.write(i, id),
                Some(i) => self.conns[i].pinned_queue.push_back(id),
                None => {
                    let server = self.nodes[0].server.to_string();
                    let reason = "the connection had already closed".to_string();
                    self.complete(
                        id,
                        Err(RequestError::ConnectionLost { server, reason }),
                        now,
                    );
                }
            }
            return;
        }
        if self.cluster.is_some() {
            self.route_cluster(id, now);
        } else if self.sentinel.is_some() {
            self.route_sentinel(id, now);
        } else {
            self.send_to_node(0, id, now);
        }
    }

    /// Writes request `id` on node `n`'s shared connection, or queues it there until the
    /// connection is ready.
    fn send_to_node(&mut self, n: usize, id: RequestId, now: Instant) {
        if self.config.hooks.is_some()
            && let Some(state) = self.requests.get_mut(id)
        {
            state.node = Some(n);
        }
        let node = &self.nodes[n];
        match node.conn.and_then(|c| self.conn_index(c)) {
            Some(i) if self.conns[i].is_ready() && node.queue.is_empty() => {
                if !self.serve_from_cache(i, id, now) {
                    self.write(i, id);
                }
            }
            // After quit no connection is made: a request re-routed now cannot wait for one.
            _ if self.closing => self.complete(id, Err(RequestError::Closed), now),
            _ => {
                self.nodes[n].queue.push_back(id);
                self.ensure_connection(n, now);
            }
        }
    }

    /// Writes request `id` into connection `i`'s output.
    fn write(&mut self, i: usize, id: RequestId) {
        self.cache_on_write(i, id);
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        let c = &mut self.conns[i];
        state.node = Some(c.node);
        let asking = state.detour.as_mut().and_then(|d| d.ask.take()).is_some();
        state.asking = asking;
        let was_empty = if asking {
            let asking = crate::command::cmd("ASKING");
            c.push(&asking, Waiter::Discard)
        } else {
            false
        };
        let waiters =
            (0..state.expected_replies() as u32).map(|index| Waiter::Request { id, index });
        let was_empty = c.queue(|out| state.encode_into(out), waiters) || was_empty;
        state.phase = Phase::Sent(c.id);
        state.written = true;
        if let Some(detour) = &mut state.detour {
            detour.refused = None;
        }
        // A split request has run (in part) once any of its parts is written.
        let mut owner = match &state.owner {
            Owner::Child { parent, .. } => Some(*parent),
            _ => None,
        };
        while let Some(parent) = owner.and_then(|p| self.requests.get_mut(p)) {
            parent.written = true;
            owner = match &parent.owner {
                Owner::Child { parent, .. } => Some(*parent),
                _ => None,
            };
        }
        let c = &self.conns[i];
        if was_empty {
            self.events.push_back(Event::Transmit { conn: c.id });
        }
    }

    fn on_handshake_reply(
        &mut self,
        i: usize,
        step: crate::conn::Step,
        frame: &Frame,
        now: Instant,
    ) -> bool {
        let c = &mut self.conns[i];
        let ConnState::Handshaking(mut handshake) =
            std::mem::replace(&mut c.state, ConnState::Ready)
        else {
            return true;
        };
        let was_empty = c.out.is_empty();
        let progress = handshake.on_reply(c, &self.config, step, frame);
        if was_empty && !c.out.is_empty() {
            self.events.push_back(Event::Transmit { conn: c.id });
        }
        let server = self.nodes[self.conns[i].node].server.to_string();
        let error = match progress {
            Progress::Waiting => {
                self.conns[i].state = ConnState::Handshaking(handshake);
                return true;
            }
            Progress::Ready => {
                self.connection_ready(i, now);
                return true;
            }
            Progress::AuthFailed(message) => RequestError::Auth { server, message },
            Progress::Failed { step, message } => RequestError::Handshake {
                server,
                step,
                message,
            },
        };
        let conn = self.conns[i].id;
        self.events.push_back(Event::Disconnect { conn });
        self.handshake_failed(i, &error, now);
        false
    }

    /// The handshake finished: queued requests go out.
    fn connection_ready(&mut self, i: usize, now: Instant) {
        self.conns[i].setup_deadline = None;
        let conn = self.conns[i].id;
        let n = self.conns[i].node;
        if let Some(hooks) = &self.config.hooks {
            hooks.connected(conn, &self.nodes[n].server);
        }
        let role = self.conns[i].role;
        let queue = match role {
            Role::Multiplexed => {
                self.nodes[n].failures = 0;
                std::mem::take(&mut self.nodes[n].queue)
            }
            Role::Dedicated => std::mem::take(&mut self.conns[i].pinned_queue),
            Role::Watch => {
                self.watch_ready(i, now);
                VecDeque::new()
            }
            Role::Subscriber => VecDeque::new(),
        };
        for id in queue {
            if self.requests.contains(id) {
                self.write(i, id);
            }
        }
        if matches!(role, Role::Multiplexed | Role::Subscriber) {
            self.pubsub_conn_ready(role, now);
        }
        self.close_idle_when_quitting();
    }

    /// A reply (or a fallback's reply) for command `index` of request `id` arrived on
    /// connection `i`.
    fn on_reply(
        &mut self,
        i: usize,
        id: RequestId,
        index: u32,
        frame: Frame,
        is_fallback: bool,
        now: Instant,
    ) {
        // A request that timed out or was cancelled is gone: its reply is dropped here, so
        // it can never be taken for another request's.
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        let index = index as usize;
        if is_fallback {
            state.fallbacks_pending -= 1;
        }
        // Most replies are not errors: only an error can be a NOSCRIPT to answer with the
        // fallback, a refusal that ends a Sentinel primary, or a cluster redirection.
        let frame = if frame.is_error() {
            match self.intercept_error(i, id, index, frame, is_fallback, now) {
                Some(frame) => frame,
                None => return,
            }
        } else {
            frame
        };
        self.cache_on_reply(i, id, &frame, now);
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        state.store(index, frame);
        // A pipeline's replies but the last leave it incomplete: no second lookup for those.
        if state.is_complete() {
            self.complete_if_done(id, now);
        }
    }

    /// An error reply to request `id`: sends the `NOSCRIPT` fallback, gives up a Sentinel
    /// node that refuses, or follows a cluster redirection, and then returns `None`; the
    /// frame back when it is the request's reply as it is.
    #[cold]
    fn intercept_error(
        &mut self,
        i: usize,
        id: RequestId,
        index: usize,
        frame: Frame,
        is_fallback: bool,
        now: Instant,
    ) -> Option<Frame> {
        let state = self.requests.get_mut(id)?;
        if !is_fallback
            && frame.error_code() == Some(b"NOSCRIPT")
            && !matches!(state.body, Body::Transaction(_))
            && let Some(fallback) = state.command_at(index).and_then(|c| c.noscript_fallback())
        {
            let fallback = fallback.clone();
            state.fallbacks_pending += 1;
            let c = &mut self.conns[i];
            // Sent to an importing node after ASK: the fallback needs ASKING too, or the node
            // answers MOVED and the script is never loaded there.
            let asked = state.asking && c.push(&crate::command::cmd("ASKING"), Waiter::Discard);
            if c.push(
                &fallback,
                Waiter::Fallback {
                    id,
                    index: index as u32,
                },
            ) || asked
            {
                self.events.push_back(Event::Transmit { conn: c.id });
            }
            return None;
        }
        // Sentinel mode: a primary (or replica) that refuses is one no longer; a request the
        // caller sent to a node of its choosing gets the reply as it is.
        if self.sentinel.is_some()
            && state.pinned.is_none()
            && matches!(state.owner, Owner::Caller)
            && !matches!(state.route, Route::Node(_))
            && matches!(frame.error_code(), Some(b"READONLY" | b"MASTERDOWN"))
        {
            let node = self.conns[i].node;
            if self.sentinel_refused(id, node, now) {
                return None;
            }
        }
        let state = self.requests.get_mut(id)?;
        if self.cluster.is_some()
            && state.pinned.is_none()
            && let Some(code) = frame.error_code()
            && cluster::is_redirect(code)
        {
            let node = self.conns[i].node;
            self.redirect(id, index, node, frame, now);
            return None;
        }
        Some(frame)
    }

    /// Completes request `id` if every reply is in. A transaction a cluster node refused to
    /// queue goes out again instead, where the refusal pointed.
    fn complete_if_done(&mut self, id: RequestId, now: Instant) {
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        if !state.is_complete() {
            return;
        }
        if let Some(redirect) = state.detour.as_mut().and_then(|d| d.tx_redirect.take()) {
            self.redirect_transaction(id, &redirect, now);
            return;
        }
        let reply = state.take_reply();
        self.complete(id, Ok(reply), now);
    }

    /// Completes a request: removes it and tells the driver.
    fn complete(&mut self, id: RequestId, result: Result<Reply, RequestError>, now: Instant) {
        // Most completions are a caller's request with nothing else to tell (no hooks, no
        // cache, no parts): its state is dropped where it lies, not moved out first.
        if self.config.hooks.is_none()
            && self.cache.is_none()
            && self
                .requests
                .get(id)
                .is_some_and(|s| matches!(s.owner, Owner::Caller) && s.children().is_empty())
        {
            self.requests.discard(id);
            self.deadlines.forget_completed(&self.requests);
            self.events.push_back(Event::Response { id, result });
            return;
        }
        let Some(state) = self.requests.remove(id) else {
            return;
        };
        self.cache_on_complete(id, &state);
        self.deadlines.forget_completed(&self.requests);
        for &child in state.children() {
            self.forget(child);
        }
        match state.owner {
            Owner::Caller => {}
            Owner::Child { parent, dest } => {
                self.deliver(parent, dest, result, now);
                return;
            }
            Owner::Refresh => {
                let node = match state.route {
                    Route::Node(n) => n,
                    _ => 0,
                };
                self.refresh_done(node, result, now);
                return;
            }
            Owner::Sentinel(query) => {
                self.sentinel_query_done(id, query, result, now);
                return;
            }
        }
        if let Some(hooks) = &self.config.hooks {
            let server = state.node.map(|n| &self.nodes[n].server);
            let peer = state.node.and_then(|n| self.nodes[n].peer);
            let code = match &result {
                Ok(Reply::Single(frame)) => frame.error_code(),
                _ => None,
            };
            let outcome = match (&result, code) {
                (Err(error), _) => Outcome::Failed(error),
                (Ok(_), Some(code)) => Outcome::ServerError {
                    code: std::str::from_utf8(code).unwrap_or("ERR"),
                },
                (Ok(_), None) => Outcome::Ok,
            };
            hooks.request_end(&RequestEnd {
                id,
                operation: state.operation(),
                batch_size: state.body_len(),
                commands: state.body.commands(),
                server,
                peer,
                outcome,
                duration: now.saturating_duration_since(state.started),
                retries: state.retries,
            });
        }
        self.events.push_back(Event::Response { id, result });
    }

    /// The caller's request that `id` is (a part of), as hooks know it.
    fn caller_of(&self, mut id: RequestId) -> RequestId {
        while let Some(RequestState {
            owner: Owner::Child { parent, .. },
            ..
        }) = self.requests.get(id)
        {
            id = *parent;
        }
        id
    }

    /// Whether `id` is a part of a split request another part of which was written.
    fn is_part_of_written(&self, id: RequestId) -> bool {
        let mut owner = self.requests.get(id).map(|s| &s.owner);
        while let Some(Owner::Child { parent, .. }) = owner {
            let Some(state) = self.requests.get(*parent) else {
                return false;
            };
            if state.written {
                return true;
            }
            owner = Some(&state.owner);
        }
        false
    }

    /// Removes a child request (and its children) whose parent completed: replies to it are
    /// dropped when they come.
    fn forget(&mut self, id: RequestId) {
        if let Some(state) = self.requests.remove(id) {
            for &child in state.children() {
                self.forget(child);
            }
        }
    }

    /// After `quit`, closes connections with nothing left to answer.
    fn close_idle_when_quitting(&mut self) {
        if !self.closing {
            return;
        }
        let mut i = 0;
        while i < self.conns.len() {
            let c = &self.conns[i];
            let owes_replies = c.waiters.iter().any(|w| match w {
                Waiter::Request { id, .. } | Waiter::Fallback { id, .. } => {
                    self.requests.contains(*id)
                }
                Waiter::Handshake(_) | Waiter::Discard | Waiter::PubSub { .. } => false,
            }) || (self.nodes[c.node].conn == Some(c.id)
                && self.nodes[c.node]
                    .queue
                    .iter()
                    .any(|&id| self.requests.contains(id)));
            if owes_replies {
                i += 1;
                continue;
            }
            let conn = c.id;
            let n = c.node;
            let dialled = !c.is_unresolved();
            self.conns.remove(i);
            self.cache_conn_gone(conn, n);
            if self.nodes[n].conn == Some(conn) {
                self.nodes[n].conn = None;
            }
            // A connection never dialled (waiting for its node) is unknown to the adapter.
            if !dialled {
                continue;
            }
            if let Some(hooks) = &self.config.hooks {
                hooks.disconnected(conn, &self.nodes[n].server, "closed after quit");
            }
            self.events.push_back(Event::Disconnect { conn });
        }
    }
}

impl RequestState {
    /// Commands the caller put in.
    fn body_len(&self) -> usize {
        match &self.body {
            Body::Single(_) => 1,
            Body::Pipeline(commands) | Body::Transaction(commands) => commands.len(),
        }
    }
}

/// The earlier of two optional instants.
#[inline]
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
