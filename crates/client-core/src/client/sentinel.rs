//! Redis Sentinel: finding the primary of a service, following its failovers, and reading
//! from its replicas.
//!
//! Requests go to the primary the sentinels name, on that node's shared connection, like a
//! standalone client's. Until a primary is confirmed they wait in `Sentinel::waiting`.
//!
//! **Discovery** asks the sentinels in order `SENTINEL GET-MASTER-ADDR-BY-NAME`, each query
//! with the short `SentinelSettings::timeout` (connecting included), so a dead or paused
//! sentinel only costs that long. The node named is asked `ROLE`; only a node that answers
//! `master` becomes the primary. A sentinel that is down, does not know the service, or
//! names a node that is not (or not yet) a primary passes the turn to the next; a node that
//! says it is a replica also costs a backoff first, as sentinels name a promoted node a
//! little before it has taken the role. After a whole round fails, the next starts after
//! the reconnect policy's backoff. A client that never found a primary gives up after the
//! policy's attempts (rounds): what waits fails with `Unavailable`. One that had a primary
//! keeps trying, and requests fail at their deadlines with `FailoverInProgress`.
//!
//! **Failovers.** A dedicated connection to one sentinel is subscribed to `+switch-master`:
//! the message names the new primary, which is checked with `ROLE` and used at once. The
//! primary is also dropped and discovery runs again when its shared connection is lost, and
//! when it answers `-READONLY` or `-MASTERDOWN`: a single command refused that way was not
//! run and goes again to the next primary (pipelines and transactions get the error, since
//! other commands of theirs ran). A `PING` on the subscription every second tells a sentinel
//! that stopped answering; after the subscription is re-established on another sentinel, a
//! discovery runs in case a switch was missed.
//!
//! **Sentinels and replicas.** Once a primary is known, and every `refresh_interval`,
//! `SENTINEL SENTINELS` adds sentinels the client was not given, and (for replica reads)
//! `SENTINEL REPLICAS` lists the replicas, skipping those flagged `s_down`, `o_down` or
//! `disconnected`. Read-only commands go to them as `SentinelSettings::read_from` says; a
//! replica whose connection fails is dropped until the next refresh lists it again.
//!
//! Every query is a request of the core's own (`Owner::Sentinel`), routed to its node's
//! shared connection. Connections to sentinels authenticate with the sentinel credentials
//! and select no database.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use resp_core::Frame;

use super::Client;
use super::topology::{field, fields, int, items};
use crate::command::cmd;
use crate::config::{ReadFrom, ServerAddr};
use crate::conn::Role;
use crate::error::RequestError;
use crate::event::{ConnId, Reply, RequestId};
use crate::hooks::TopologyChange;
use crate::request::{Body, Owner, Phase, RequestState, Route};

/// How many times one command is sent again after `-READONLY`/`-MASTERDOWN`.
const MAX_RESENDS: u32 = 16;

/// How often the `+switch-master` subscription is checked with a `PING`: a sentinel that
/// stopped answering (paused, or its host gone) would otherwise hold it silently.
const WATCH_PING_INTERVAL: Duration = Duration::from_secs(1);

/// A query of the core's own, and whom it was sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Query {
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME` to sentinel node `sentinel`.
    Primary { sentinel: usize },
    /// `ROLE` to data node `node`, which `named_by` (a sentinel node) named.
    Role { node: usize, named_by: usize },
    /// `SENTINEL SENTINELS`.
    Sentinels { sentinel: usize },
    /// `SENTINEL REPLICAS`.
    Replicas { sentinel: usize },
}

/// What the client knows of the service, and the state of discovery.
#[derive(Debug)]
pub(super) struct Sentinel {
    /// The sentinels (node indices), in the order they are asked.
    sentinels: Vec<usize>,
    /// The confirmed primary.
    primary: Option<usize>,
    /// The node that was the primary before the last change, so that its connections,
    /// closed by its demotion after the switch was heard, still name the failover.
    former: Option<usize>,
    /// Healthy replicas, for replica reads.
    replicas: Vec<usize>,
    round_robin: usize,
    /// Requests waiting for a primary.
    waiting: VecDeque<RequestId>,
    /// Discovery is wanted: requests wait, or the primary must be checked again.
    wanted: bool,
    /// The discovery query in flight (`GET-MASTER-ADDR-BY-NAME` or `ROLE`).
    query: Option<RequestId>,
    /// The sentinel to ask next in this round (a position in `sentinels`).
    next: usize,
    /// Rounds in a row in which no sentinel led to a primary.
    rounds_failed: u32,
    /// Sentinels of this round that refused the handshake, and the last refusal.
    refusals: usize,
    refusal: Option<RequestError>,
    /// When the next discovery step may go, after a backoff.
    retry_at: Option<Instant>,
    /// What went wrong last, for errors.
    last_error: String,
    ever_known: bool,
    /// `SENTINEL SENTINELS`/`REPLICAS` in flight, and when the next are due.
    refreshing: Vec<RequestId>,
    refresh_at: Option<Instant>,
    /// The connection subscribed to `+switch-master`, and when to open one again.
    watch: Option<ConnId>,
    watch_at: Option<Instant>,
    watch_failures: u32,
    /// Which sentinel the next subscription goes to (a position in `sentinels`).
    watch_next: usize,
    /// A subscription was lost since the last one: a switch may have been missed.
    watch_lost: bool,
    /// When to send the next `PING` on the subscription, or to check that the one sent at
    /// `ping_sent` was answered.
    ping_at: Option<Instant>,
    ping_sent: Option<Instant>,
}

impl Sentinel {
    pub(super) fn new(sentinels: Vec<usize>) -> Self {
        Self {
            sentinels,
            primary: None,
            former: None,
            replicas: Vec::new(),
            round_robin: 0,
            waiting: VecDeque::new(),
            wanted: false,
            query: None,
            next: 0,
            rounds_failed: 0,
            refusals: 0,
            refusal: None,
            retry_at: None,
            last_error: String::new(),
            ever_known: false,
            refreshing: Vec::new(),
            refresh_at: None,
            watch: None,
            watch_at: None,
            watch_failures: 0,
            watch_next: 0,
            watch_lost: false,
            ping_at: None,
            ping_sent: None,
        }
    }

    /// Whether node `n` is a sentinel.
    pub(super) fn is_sentinel(&self, n: usize) -> bool {
        self.sentinels.contains(&n)
    }

    /// For `quit`: every request waiting here (the core's own queries included), and no
    /// more timers.
    pub(super) fn take_waiting(&mut self) -> Vec<RequestId> {
        let mut ids: Vec<RequestId> = self.waiting.drain(..).collect();
        ids.extend(self.query.take());
        ids.append(&mut self.refreshing);
        self.wanted = false;
        self.retry_at = None;
        self.refresh_at = None;
        self.watch_at = None;
        self.ping_at = None;
        ids
    }

    /// The earliest sentinel timer.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        let retry = self.retry_at.filter(|_| self.query.is_none());
        [retry, self.refresh_at, self.watch_at, self.ping_at]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Client {
    fn sentinel_mut(&mut self) -> &mut Sentinel {
        self.sentinel.as_mut().expect("sentinel mode")
    }

    fn sentinel_ref(&self) -> &Sentinel {
        self.sentinel.as_ref().expect("sentinel mode")
    }

    fn service(&self) -> &str {
        self.config
            .sentinel
            .as_ref()
            .map_or("", |s| s.service.as_str())
    }

    fn sentinel_timeout_setting(&self) -> Duration {
        self.config
            .sentinel
            .as_ref()
            .map_or(Duration::from_millis(500), |s| s.timeout)
    }

    /// How errors name the primary: `the primary of "svc" (sentinels a:1, b:2)`.
    fn primary_label(&self) -> String {
        let sentinels: Vec<String> = self.config.seed_nodes().map(ToString::to_string).collect();
        format!(
            "the primary of {:?} (sentinels {})",
            self.service(),
            sentinels.join(", ")
        )
    }

    /// The primary as last confirmed.
    pub(super) fn sentinel_primary_node(&self) -> Option<usize> {
        self.sentinel.as_ref().and_then(|s| s.primary)
    }

    /// Sends a request where Sentinel mode puts it: the core's own queries to their node,
    /// reads to a replica when asked to, the rest to the primary, or waits for one.
    pub(super) fn route_sentinel(&mut self, id: RequestId, now: Instant) {
        let Some(state) = self.requests.get(id) else {
            return;
        };
        if let Route::Node(n) = state.route {
            self.send_to_node(n, id, now);
            return;
        }
        let read_from = self
            .config
            .sentinel
            .as_ref()
            .map_or(ReadFrom::Primary, |s| s.read_from);
        let read_only = state.read_only;
        let s = self.sentinel_mut();
        if read_only && read_from != ReadFrom::Primary && !s.replicas.is_empty() {
            let k = match read_from {
                ReadFrom::RoundRobinReplicas => {
                    s.round_robin = s.round_robin.wrapping_add(1);
                    s.round_robin % s.replicas.len()
                }
                _ => 0,
            };
            let replica = s.replicas[k];
            self.send_to_node(replica, id, now);
            return;
        }
        let primary = s.primary;
        match primary {
            Some(primary) => self.send_to_node(primary, id, now),
            None if self.closing => self.complete(id, Err(RequestError::Closed), now),
            None => {
                self.sentinel_mut().waiting.push_back(id);
                self.want_primary(now);
            }
        }
    }

    /// A dedicated connection in Sentinel mode: to the primary, or once one is confirmed.
    pub(super) fn open_dedicated_sentinel(&mut self, now: Instant) -> ConnId {
        if let Some(primary) = self.sentinel_primary_node() {
            return self.open_connection(Role::Dedicated, primary, now);
        }
        let conn = self.new_unresolved(None, now);
        self.want_primary(now);
        conn
    }

    /// Starts discovery unless it runs or waits out a backoff.
    pub(super) fn want_primary(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        let s = self.sentinel_mut();
        s.wanted = true;
        if s.query.is_none() && s.retry_at.is_none() {
            self.ask_sentinel(now);
        }
    }

    /// Asks the next sentinel of the round for the primary.
    fn ask_sentinel(&mut self, now: Instant) {
        let service = self.service().to_owned();
        let timeout = self.sentinel_timeout_setting();
        let s = self.sentinel_mut();
        let sentinel = s.sentinels[s.next % s.sentinels.len()];
        let command = cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(service.as_str());
        let id = self.send_query(command, Query::Primary { sentinel }, sentinel, timeout, now);
        self.sentinel_mut().query = Some(id);
    }

    /// Sends one of the core's own queries to node `node`, failing after `timeout`.
    fn send_query(
        &mut self,
        command: crate::command::Command,
        query: Query,
        node: usize,
        timeout: Duration,
        now: Instant,
    ) -> RequestId {
        let mut state = RequestState::internal(
            Body::Single(command),
            Owner::Sentinel(query),
            Route::Node(node),
            now,
        );
        state.deadline = Some(now + timeout);
        state.timeout = timeout;
        let id = self.requests.insert(state);
        self.deadlines.insert(now + timeout, id);
        self.route(id, now);
        id
    }

    /// A query of the core's own completed.
    pub(super) fn sentinel_query_done(
        &mut self,
        id: RequestId,
        query: Query,
        result: Result<Reply, RequestError>,
        now: Instant,
    ) {
        if self.closing {
            return;
        }
        if let Err(error @ (RequestError::Auth { .. } | RequestError::Handshake { .. })) = &result {
            let s = self.sentinel_mut();
            if let Query::Role { .. } = query {
                // The data node refused the handshake: every request would be refused the
                // same way, so what waits fails now with the server's reason.
                if s.query == Some(id) {
                    s.query = None;
                    self.fail_waiting(error, now);
                }
                return;
            }
            if let Query::Primary { .. } = query {
                // Counted: if every sentinel of the round refuses, so will the next round.
                s.refusals += 1;
                s.refusal = Some(error.clone());
            }
        }
        let frame = match result {
            Ok(Reply::Single(frame)) if frame.is_error() => {
                Err(String::from_utf8_lossy(frame.as_bytes().map_or(&b""[..], |b| b)).into_owned())
            }
            Ok(Reply::Single(frame)) => Ok(frame),
            Ok(Reply::Pipeline(_)) => Err("unexpected pipeline reply".to_owned()),
            // The query went on the node's shared connection (and is never resent).
            Err(
                RequestError::ConnectionLost { server, reason }
                | RequestError::MayHaveExecuted { server, reason, .. },
            ) => Err(format!("the connection to {server} failed: {reason}")),
            Err(error) => Err(error.to_string()),
        };
        match query {
            Query::Primary { sentinel }
            | Query::Role {
                named_by: sentinel, ..
            } => {
                let s = self.sentinel_mut();
                if s.query != Some(id) {
                    return;
                }
                s.query = None;
                if let Query::Role { node, .. } = query {
                    self.role_checked(node, sentinel, frame, now);
                } else {
                    self.primary_named(sentinel, frame, now);
                }
            }
            Query::Sentinels { sentinel } | Query::Replicas { sentinel } => {
                let s = self.sentinel_mut();
                s.refreshing.retain(|&r| r != id);
                let Ok(frame) = frame else {
                    return;
                };
                if matches!(query, Query::Sentinels { .. }) {
                    self.sentinels_listed(&frame);
                } else {
                    self.replicas_listed(sentinel, &frame);
                }
            }
        }
    }

    /// Sentinel `sentinel` answered `GET-MASTER-ADDR-BY-NAME`.
    fn primary_named(&mut self, sentinel: usize, frame: Result<Frame, String>, now: Instant) {
        let who = self.nodes[sentinel].server.to_string();
        let service = self.service().to_owned();
        let named = match frame {
            Ok(frame) if frame.is_null() => Err(format!(
                "sentinel {who} does not monitor a service named {service:?}"
            )),
            Ok(frame) => parse_addr(&frame)
                .ok_or_else(|| format!("sentinel {who} answered {frame:?}, not an address")),
            Err(error) => Err(format!("sentinel {who}: {error}")),
        };
        match named {
            Ok(addr) => {
                let node = self.node_index(&addr);
                self.check_role(node, sentinel, now);
            }
            Err(error) => self.discovery_failed(error, false, now),
        }
    }

    /// Asks node `node`, named by sentinel `named_by`, whether it is a primary.
    fn check_role(&mut self, node: usize, named_by: usize, now: Instant) {
        // The node may have to be connected to first: twice a sentinel's time.
        let timeout = self.sentinel_timeout_setting() * 2;
        let id = self.send_query(
            cmd("ROLE"),
            Query::Role { node, named_by },
            node,
            timeout,
            now,
        );
        self.sentinel_mut().query = Some(id);
    }

    /// Node `node` answered `ROLE`.
    fn role_checked(
        &mut self,
        node: usize,
        sentinel: usize,
        frame: Result<Frame, String>,
        now: Instant,
    ) {
        let who = self.nodes[sentinel].server.to_string();
        let server = self.nodes[node].server.to_string();
        let role = match &frame {
            Ok(frame) => items(frame)
                .and_then(|items| items.first())
                .and_then(Frame::as_bytes)
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            Err(_) => None,
        };
        match (role.as_deref(), frame) {
            (Some("master"), _) => self.primary_confirmed(node, sentinel, now),
            (Some(role), _) => {
                let error = format!(
                    "sentinel {who} named {server}, which says it is a {role}, not the primary"
                );
                self.discovery_failed(error, true, now);
            }
            (None, Err(error)) => {
                let error =
                    format!("sentinel {who} named {server}, which did not answer ROLE: {error}");
                self.discovery_failed(error, false, now);
            }
            (None, Ok(frame)) => {
                let error = format!("{server} answered ROLE with {frame:?}");
                self.discovery_failed(error, false, now);
            }
        }
    }

    /// A discovery step failed: the next sentinel is asked, after a backoff if `backoff` or
    /// at the end of a round.
    fn discovery_failed(&mut self, error: String, backoff: bool, now: Instant) {
        let policy = self.config.reconnect;
        let jitter = self.rng.unit();
        let label = self.primary_label();
        let s = self.sentinel_mut();
        s.last_error = error;
        s.next += 1;
        if s.next >= s.sentinels.len() {
            s.next = 0;
            s.rounds_failed += 1;
            let refused = std::mem::take(&mut s.refusals) >= s.sentinels.len();
            if let Some(error) = s.refusal.take().filter(|_| refused) {
                // Every sentinel refused our credentials: asking again cannot help.
                s.rounds_failed = 0;
                self.fail_waiting(&error, now);
                return;
            }
            let give_up = policy
                .max_attempts
                .is_some_and(|max| s.rounds_failed >= max);
            if !s.ever_known && give_up {
                // No sentinel ever led to a primary: fail what waits, start over on demand.
                let error = RequestError::Unavailable {
                    server: label,
                    attempts: s.rounds_failed,
                    last_error: s.last_error.clone(),
                };
                s.rounds_failed = 0;
                self.fail_waiting(&error, now);
                return;
            }
            s.retry_at = Some(now + policy.delay(s.rounds_failed - 1, jitter));
        } else if backoff {
            s.retry_at = Some(now + policy.delay(0, jitter));
        } else if s.wanted {
            self.ask_sentinel(now);
        }
    }

    /// Fails every request waiting for a primary, and dedicated connections waiting for
    /// one, with `error`; discovery stops until the next request.
    fn fail_waiting(&mut self, error: &RequestError, now: Instant) {
        let s = self.sentinel_mut();
        s.wanted = false;
        let waiting: Vec<RequestId> = s.waiting.drain(..).collect();
        for id in waiting {
            self.complete(id, Err(error.clone()), now);
        }
        self.fail_unresolved(&error.to_string(), now);
    }

    /// Node `node` is the primary: what waited goes to it.
    fn primary_confirmed(&mut self, node: usize, sentinel: usize, now: Instant) {
        let refresh_now = !self.sentinel_ref().ever_known;
        let s = self.sentinel_mut();
        // The sentinel that answered is asked first from now on.
        if let Some(at) = s.sentinels.iter().position(|&k| k == sentinel) {
            s.sentinels[..=at].rotate_right(1);
        }
        let old = s.primary.replace(node);
        if old.is_some_and(|o| o != node) {
            s.former = old;
        }
        if s.former == Some(node) {
            s.former = None;
        }
        s.wanted = false;
        s.ever_known = true;
        s.rounds_failed = 0;
        s.refusals = 0;
        s.refusal = None;
        s.next = 0;
        s.retry_at = None;
        s.replicas.retain(|&r| r != node);
        let waiting: Vec<RequestId> = s.waiting.drain(..).collect();
        if old != Some(node) {
            self.report_topology(sentinel);
        }
        // Dedicated connections that waited for a primary.
        self.resolve_unresolved(|_, _| Some(node));
        // What was queued for a primary that is no longer one goes to the new one.
        let mut pending = waiting;
        if let Some(old) = old.filter(|&o| o != node) {
            pending.extend(self.take_callers_queue(old));
        }
        for id in pending {
            self.route(id, now);
        }
        if refresh_now {
            self.start_sentinel_refresh(sentinel, now);
        }
        self.ensure_watch(now);
        // Subscriptions go to the new primary.
        self.pubsub_reconcile(now);
    }

    /// The requests of callers queued for node `n` because it was the primary or a replica
    /// (the core's own queries, and requests the caller sent to that node, stay).
    fn take_callers_queue(&mut self, n: usize) -> Vec<RequestId> {
        let queue = std::mem::take(&mut self.nodes[n].queue);
        let mut taken = Vec::new();
        for id in queue {
            match self.requests.get(id).map(|s| (&s.owner, s.route)) {
                Some((Owner::Sentinel(_), _) | (_, Route::Node(_))) => {
                    self.nodes[n].queue.push_back(id);
                }
                Some(_) => taken.push(id),
                None => {}
            }
        }
        taken
    }

    /// The primary is gone or no longer one: requests wait for the next, which discovery
    /// looks for.
    fn primary_lost(&mut self, n: usize, now: Instant) {
        if self.sentinel_primary_node() == Some(n) {
            self.forget_primary(n);
            self.want_primary(now);
        }
    }

    /// Node `n` is no longer taken for the primary: requests queued for it wait.
    fn forget_primary(&mut self, n: usize) {
        let s = self.sentinel_mut();
        s.primary = None;
        s.former = Some(n);
        let queued = self.take_callers_queue(n);
        self.sentinel_mut().waiting.extend(queued);
    }

    /// Node `n`'s shared connection failed (its requests were re-queued on it or failed).
    pub(super) fn sentinel_node_failed(&mut self, n: usize, now: Instant) {
        // The core's own queries waiting there fail now, so that discovery moves on.
        let queue = std::mem::take(&mut self.nodes[n].queue);
        let mut queries = Vec::new();
        for id in queue {
            match self.requests.get(id).map(|s| &s.owner) {
                Some(Owner::Sentinel(_)) => queries.push(id),
                Some(_) => self.nodes[n].queue.push_back(id),
                None => {}
            }
        }
        let reason = self.nodes[n].last_error.clone();
        for id in queries {
            let error = RequestError::ConnectionLost {
                server: self.nodes[n].server.to_string(),
                reason: reason.clone(),
            };
            self.complete(id, Err(error), now);
        }
        if self.sentinel_primary_node() == Some(n) {
            self.primary_lost(n, now);
        } else if !self.sentinel_ref().is_sentinel(n) {
            // A replica, or a primary the client no longer follows: what was re-queued
            // there goes where it belongs now.
            self.sentinel_mut().replicas.retain(|&r| r != n);
            for id in self.take_callers_queue(n) {
                self.route(id, now);
            }
        }
    }

    /// Command `index` of request `id` was refused by node `n` with `-READONLY` or
    /// `-MASTERDOWN`: the node is not a usable primary (or replica). Returns true when the
    /// request goes again (a single command, which did not run), false when the caller gets
    /// the reply.
    pub(super) fn sentinel_refused(&mut self, id: RequestId, n: usize, now: Instant) -> bool {
        if self.sentinel_primary_node() == Some(n) {
            self.primary_lost(n, now);
        } else if self.sentinel_ref().replicas.contains(&n) {
            self.sentinel_mut().replicas.retain(|&r| r != n);
        }
        let Some(state) = self.requests.get_mut(id) else {
            return true;
        };
        if !matches!(state.body, Body::Single(_)) || state.redirects >= MAX_RESENDS {
            return false;
        }
        state.redirects += 1;
        state.reset_replies();
        state.phase = Phase::Queued;
        self.route(id, now);
        true
    }

    /// Whether `id` waits for a primary (for its timeout error).
    pub(super) fn waits_for_primary(&self, id: RequestId) -> bool {
        self.sentinel
            .as_ref()
            .is_some_and(|s| s.waiting.contains(&id))
    }

    /// The error for request `id`, waiting for a primary, whose deadline passed: a failover
    /// in progress if there was a primary before, else the sentinels' failure to name one.
    pub(super) fn failover_timeout(
        &mut self,
        id: RequestId,
        command: String,
        after: Duration,
        sent: bool,
    ) -> RequestError {
        let service = self.service().to_owned();
        let label = self.primary_label();
        let s = self.sentinel_mut();
        s.waiting.retain(|&w| w != id);
        if !s.ever_known {
            return RequestError::Unavailable {
                server: label,
                attempts: s.rounds_failed + 1,
                last_error: if s.last_error.is_empty() {
                    format!("discovery had not confirmed a primary within {after:?}")
                } else {
                    s.last_error.clone()
                },
            };
        }
        let detail = if s.last_error.is_empty() {
            "discovery had not confirmed a primary yet".to_owned()
        } else {
            format!("last: {}", s.last_error)
        };
        RequestError::FailoverInProgress {
            command,
            after,
            service,
            detail,
            sent,
        }
    }

    /// Extends the reason a connection to node `n` failed, when `n` is the primary, or was
    /// until the last failover the client followed (the sentinels announce the switch
    /// before they demote the old primary, whose clients are closed then).
    pub(super) fn sentinel_reason(&self, n: usize, reason: &str) -> Option<String> {
        let s = self.sentinel.as_ref()?;
        if s.primary == Some(n) {
            Some(format!(
                "{reason}; the primary of {:?} may be failing over",
                self.service()
            ))
        } else if s.former == Some(n) {
            Some(format!(
                "{reason}; it was the primary of {:?} until a failover",
                self.service()
            ))
        } else {
            None
        }
    }

    // ---- +switch-master ----

    /// Makes sure a connection to a sentinel is subscribed to `+switch-master`.
    fn ensure_watch(&mut self, now: Instant) {
        let s = self.sentinel_ref();
        if self.closing || s.watch.is_some() || s.watch_at.is_some_and(|at| at > now) {
            return;
        }
        let sentinel = s.sentinels[s.watch_next % s.sentinels.len()];
        let conn = self.open_connection(Role::Watch, sentinel, now);
        let s = self.sentinel_mut();
        s.watch = Some(conn);
        s.watch_at = None;
    }

    /// The watch connection `i` is ready: it subscribes. The `SUBSCRIBE` is checked like a
    /// `PING`: unconfirmed after a sentinel's timeout, the subscription goes to another
    /// sentinel. (A link that went silent as the client subscribed left a client that
    /// only subscribes deaf to every later failover: Sentinel pub/sub seed 1150.)
    pub(super) fn watch_ready(&mut self, i: usize, now: Instant) {
        let timeout = self.sentinel_timeout_setting();
        let s = self.sentinel_mut();
        s.ping_sent = Some(now);
        s.ping_at = Some(now + timeout);
        let c = &mut self.conns[i];
        let subscribe = cmd("SUBSCRIBE").arg("+switch-master");
        // The confirmation is a pub/sub frame like the messages: no waiter.
        if c.queue(|out| subscribe.encode_into(out), []) {
            self.events
                .push_back(crate::event::Event::Transmit { conn: c.id });
        }
    }

    /// A frame on the watch connection `i`.
    pub(super) fn watch_frame(&mut self, i: usize, frame: &Frame, now: Instant) {
        let parts = match frame {
            Frame::Push(parts) | Frame::Array(parts) => parts,
            _ => return,
        };
        let kind = parts.first().and_then(Frame::as_bytes);
        match kind.map(|k| &k[..]) {
            Some(b"subscribe") => {
                let s = self.sentinel_mut();
                s.watch_failures = 0;
                s.ping_at = Some(now + WATCH_PING_INTERVAL);
                s.ping_sent = None;
                if std::mem::take(&mut s.watch_lost) && s.ever_known {
                    // A switch may have been announced while no one listened.
                    self.want_primary(now);
                }
            }
            Some(b"message") => {
                let payload = parts.get(2).and_then(Frame::as_bytes);
                if let Some(switch) = payload.and_then(|p| parse_switch(p)) {
                    let sentinel = self.conns[i].node;
                    self.switch_master(&switch, sentinel, now);
                }
            }
            _ => {}
        }
    }

    /// A sentinel announced `+switch-master`.
    fn switch_master(&mut self, switch: &Switch, sentinel: usize, now: Instant) {
        if switch.service != self.service() {
            return;
        }
        let node = self.node_index(&switch.to);
        if self.sentinel_primary_node() == Some(node) {
            return;
        }
        // The announced node is checked at once, whatever discovery was doing.
        let s = self.sentinel_mut();
        s.wanted = true;
        s.retry_at = None;
        s.next = 0;
        if let Some(query) = s.query.take() {
            self.forget(query);
        }
        if let Some(old) = self.sentinel_primary_node() {
            self.forget_primary(old);
        }
        self.check_role(node, sentinel, now);
    }

    /// Sends a `PING` on the subscription, or, when the last one got no answer within a
    /// sentinel's timeout, gives the subscription up for another sentinel's.
    fn ping_watch(&mut self, now: Instant) {
        let timeout = self.sentinel_timeout_setting();
        let s = self.sentinel_mut();
        s.ping_at = None;
        let Some(i) = s.watch.and_then(|conn| self.conn_index(conn)) else {
            return;
        };
        let last_input = self.conns[i].last_input;
        let s = self.sentinel_mut();
        match s.ping_sent.take() {
            Some(sent) if last_input < sent => {
                let conn = self.conns[i].id;
                self.events
                    .push_back(crate::event::Event::Disconnect { conn });
                let reason = format!(
                    "the sentinel holding the +switch-master subscription did not answer PING \
                     within {timeout:?}"
                );
                self.connection_failed(i, &reason, now);
            }
            Some(sent) => s.ping_at = Some((sent + WATCH_PING_INTERVAL).max(now)),
            None => {
                s.ping_sent = Some(now);
                s.ping_at = Some(now + timeout);
                let c = &mut self.conns[i];
                if c.queue(|out| cmd("PING").encode_into(out), []) {
                    self.events
                        .push_back(crate::event::Event::Transmit { conn: c.id });
                }
            }
        }
    }

    /// The watch connection failed: another sentinel is subscribed to after a backoff.
    pub(super) fn watch_failed(&mut self, conn: ConnId, now: Instant) {
        let policy = self.config.reconnect;
        let jitter = self.rng.unit();
        let s = self.sentinel_mut();
        if s.watch != Some(conn) {
            return;
        }
        s.watch = None;
        s.watch_lost = true;
        s.ping_at = None;
        s.ping_sent = None;
        s.watch_next += 1;
        s.watch_failures += 1;
        s.watch_at = Some(now + policy.delay(s.watch_failures - 1, jitter));
    }

    // ---- sentinel list and replicas ----

    fn start_sentinel_refresh(&mut self, sentinel: usize, now: Instant) {
        let Some(settings) = self.config.sentinel.as_ref() else {
            return;
        };
        let service = settings.service.clone();
        let replicas = settings.read_from != ReadFrom::Primary;
        let (timeout, interval) = (settings.timeout, settings.refresh_interval);
        let s = self.sentinel_mut();
        s.refresh_at = Some(now + interval);
        if !s.refreshing.is_empty() {
            return;
        }
        let list = cmd("SENTINEL").arg("SENTINELS").arg(service.as_str());
        let id = self.send_query(list, Query::Sentinels { sentinel }, sentinel, timeout, now);
        self.sentinel_mut().refreshing.push(id);
        if replicas {
            let list = cmd("SENTINEL").arg("REPLICAS").arg(service.as_str());
            let id = self.send_query(list, Query::Replicas { sentinel }, sentinel, timeout, now);
            self.sentinel_mut().refreshing.push(id);
        }
    }

    /// `SENTINEL SENTINELS`: sentinels not known yet are added, last.
    fn sentinels_listed(&mut self, frame: &Frame) {
        for entry in items(frame).unwrap_or_default() {
            let Some((addr, healthy)) = parse_entry(entry) else {
                continue;
            };
            if !healthy || self.nodes.iter().any(|n| n.server == addr) {
                continue;
            }
            let n = self.node_index(&addr);
            self.sentinel_mut().sentinels.push(n);
        }
    }

    /// `SENTINEL REPLICAS`: the healthy replicas serve reads.
    fn replicas_listed(&mut self, sentinel: usize, frame: &Frame) {
        let mut replicas = Vec::new();
        for entry in items(frame).unwrap_or_default() {
            if let Some((addr, true)) = parse_entry(entry) {
                let n = self.node_index(&addr);
                if self.sentinel_primary_node() != Some(n) && !replicas.contains(&n) {
                    replicas.push(n);
                }
            }
        }
        if self.sentinel_ref().replicas != replicas {
            self.sentinel_mut().replicas = replicas;
            self.report_topology(sentinel);
        }
    }

    /// Tells the hooks what the service looks like now.
    fn report_topology(&self, source: usize) {
        let (Some(hooks), Some(s)) = (&self.config.hooks, &self.sentinel) else {
            return;
        };
        let shards = s
            .primary
            .map(|p| {
                let replicas = s.replicas.iter().map(|&r| &self.nodes[r].server).collect();
                vec![(&self.nodes[p].server, replicas)]
            })
            .unwrap_or_default();
        hooks.topology_changed(&TopologyChange {
            source: &self.nodes[source].server,
            shards,
            uncovered_slots: 0,
        });
    }

    /// Sentinel timers: a discovery step after a backoff, the subscription, refreshes.
    pub(super) fn sentinel_timeout(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        let s = self.sentinel_mut();
        if s.query.is_none() && s.retry_at.is_some_and(|at| at <= now) {
            s.retry_at = None;
            if s.wanted {
                self.ask_sentinel(now);
            }
        }
        let s = self.sentinel_ref();
        if s.watch_at.is_some_and(|at| at <= now) {
            self.ensure_watch(now);
        }
        if self.sentinel_ref().ping_at.is_some_and(|at| at <= now) {
            self.ping_watch(now);
        }
        let s = self.sentinel_ref();
        if s.refresh_at.is_some_and(|at| at <= now) {
            let sentinel = s.sentinels[s.next % s.sentinels.len()];
            self.start_sentinel_refresh(sentinel, now);
        }
    }
}

/// `[ip, port]` from `GET-MASTER-ADDR-BY-NAME`.
fn parse_addr(frame: &Frame) -> Option<ServerAddr> {
    let [host, port] = items(frame)? else {
        return None;
    };
    let host = std::str::from_utf8(host.as_bytes()?).ok()?.to_owned();
    let port = u16::try_from(int(port)?).ok()?;
    Some(ServerAddr::Tcp { host, port })
}

/// An entry of `SENTINEL SENTINELS`/`REPLICAS`: its address, and whether it is healthy
/// (no `s_down`, `o_down` or `disconnected` flag).
fn parse_entry(entry: &Frame) -> Option<(ServerAddr, bool)> {
    let fields = fields(entry)?;
    let host = std::str::from_utf8(field(&fields, "ip")?.as_bytes()?).ok()?;
    let port = u16::try_from(int(field(&fields, "port")?)?).ok()?;
    let flags = field(&fields, "flags")
        .and_then(Frame::as_bytes)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .unwrap_or_default();
    let healthy = !flags
        .split(',')
        .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"));
    let addr = ServerAddr::Tcp {
        host: host.to_owned(),
        port,
    };
    Some((addr, healthy))
}

/// A `+switch-master` message: `<service> <old-ip> <old-port> <new-ip> <new-port>`.
#[derive(Debug, PartialEq, Eq)]
struct Switch {
    service: String,
    to: ServerAddr,
}

fn parse_switch(payload: &[u8]) -> Option<Switch> {
    let text = std::str::from_utf8(payload).ok()?;
    let words: Vec<&str> = text.split(' ').collect();
    let [service, _, _, host, port] = words[..] else {
        return None;
    };
    Some(Switch {
        service: service.to_owned(),
        to: ServerAddr::Tcp {
            host: host.to_owned(),
            port: port.parse().ok()?,
        },
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn addresses_entries_and_switches_parse() {
        let addr = Frame::Array(vec![bulk("10.0.0.2"), bulk("6380")]);
        assert_eq!(
            parse_addr(&addr),
            Some(ServerAddr::Tcp {
                host: "10.0.0.2".into(),
                port: 6380
            })
        );
        assert_eq!(parse_addr(&Frame::Array(vec![bulk("h")])), None);
        assert_eq!(parse_addr(&Frame::NullArray), None);

        // RESP2: a flat list of fields; RESP3: a map.
        let flat = Frame::Array(
            [
                "name",
                "x",
                "ip",
                "10.0.0.3",
                "port",
                "6381",
                "flags",
                "s_down,slave",
            ]
            .map(bulk)
            .to_vec(),
        );
        let (addr, healthy) = parse_entry(&flat).unwrap();
        assert_eq!(addr.to_string(), "10.0.0.3:6381");
        assert!(!healthy);
        let map = Frame::Map(vec![
            (bulk("ip"), bulk("10.0.0.4")),
            (bulk("port"), bulk("26379")),
            (bulk("flags"), bulk("sentinel")),
        ]);
        assert_eq!(
            parse_entry(&map).unwrap(),
            (
                ServerAddr::Tcp {
                    host: "10.0.0.4".into(),
                    port: 26379
                },
                true
            )
        );
        let disconnected = Frame::Map(vec![
            (bulk("ip"), bulk("h")),
            (bulk("port"), bulk("1")),
            (bulk("flags"), bulk("slave,disconnected")),
        ]);
        assert!(!parse_entry(&disconnected).unwrap().1);

        let switch = parse_switch(b"svc 10.0.0.1 6379 10.0.0.2 6380").unwrap();
        assert_eq!(switch.service, "svc");
        assert_eq!(switch.to.to_string(), "10.0.0.2:6380");
        assert_eq!(parse_switch(b"svc 10.0.0.1 6379"), None);
        assert_eq!(parse_switch(b"svc a 1 b port"), None);
    }
}
