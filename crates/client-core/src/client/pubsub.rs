//! Pub/sub: subscriptions the core owns, places on connections and puts back.
//!
//! Each subscription (a kind and a channel or pattern) is an entry with the subscribers that
//! want it and where it is: not placed, sent (waiting for the server's confirmation) or
//! active, on one connection. In RESP3 that connection is the node's shared one (messages
//! are push frames); in RESP2 it is a connection of its own per node, which does nothing
//! else (a subscribed RESP2 connection only takes pub/sub commands).
//!
//! [`reconcile`](Client::pubsub_reconcile) places what is not placed: on the one server, the
//! Sentinel primary, or in a cluster the primary of the channel's slot. It runs after every
//! subscribe, when a connection becomes ready, after a topology read, when a primary is
//! confirmed, and on the retry timer. A subscription whose connection fails, that the server
//! ends (`sunsubscribe` when a slot moves away) or whose node is no longer the right one is
//! placed again; when the server confirms it, its subscribers get
//! [`PubSubEvent::Resubscribed`].
//!
//! Confirmations (`subscribe`, `ssubscribe`, ...) arrive in wire order with replies: each
//! pub/sub command leaves a [`Waiter::PubSub`] in the connection's FIFO that takes one
//! confirmation per channel, or its one error reply.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use resp_core::Frame;

use super::Client;
use super::cluster::{Redirect, error_text, parse_redirect};
use crate::command::cmd;
use crate::config::Protocol;
use crate::conn::{Role, Waiter};
use crate::error::{RequestError, SubmitError};
use crate::event::{ConnId, Event, Reply, RequestId};
use crate::pubsub::{
    Message, Overflow, PubSubEvent, SubscriberId, SubscriberSettings, SubscriptionKind,
};
use crate::request::{Request, RequestState};

/// The most channels one pub/sub command carries.
const MAX_CHANNELS_PER_COMMAND: usize = 512;

/// A connection holding subscriptions that has read nothing for this long gets a `PING`; one
/// that then stays silent for the command timeout (at least this long) is taken for dead.
/// Without it, a half-open connection (a host gone without a reset) would keep its
/// subscriber waiting forever, with no message and no event.
const KEEPALIVE: Duration = Duration::from_secs(1);

type Key = (SubscriptionKind, Bytes);

#[derive(Debug, Default)]
pub(super) struct PubSub {
    subscribers: BTreeMap<SubscriberId, Subscriber>,
    entries: BTreeMap<Key, Entry>,
    next_subscriber: u32,
    /// Subscribe requests, with how many of their subscriptions are not confirmed yet.
    requests: BTreeMap<RequestId, u32>,
    /// RESP2: each node's subscription connection.
    conns: BTreeMap<usize, ConnId>,
    /// Placing waits until then (after connections failed to open).
    retry_at: Option<Instant>,
    /// Subscription connections that failed to open in a row.
    failures: u32,
    next_seq: u64,
    /// Subscriptions confirmed again, reported when their command's last confirmation is in.
    restored: Vec<(SubscriberId, SubscriptionKind, Bytes, String)>,
    /// When the connections holding subscriptions are next checked for silence.
    keepalive_at: Option<Instant>,
    /// `PING`s sent to silent subscription connections, and when.
    pings: BTreeMap<ConnId, Instant>,
}

#[derive(Debug)]
struct Subscriber {
    settings: SubscriberSettings,
    queue: VecDeque<PubSubEvent>,
    /// Messages in `queue` (other events do not count against the capacity).
    messages: usize,
    /// Connections not read because this subscriber's buffer is full.
    blocking: Vec<ConnId>,
    /// Closed (by the application, or by `quit`): it gets nothing more.
    closed: bool,
}

#[derive(Debug)]
struct Entry {
    subscribers: Vec<SubscriberId>,
    place: Place,
    /// The subscription was active once and was lost, for this reason: reported when it is
    /// back.
    lost: Option<String>,
    /// Subscribe requests waiting for the confirmation, and who made them.
    waiting: Vec<(RequestId, SubscriberId)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Unplaced,
    /// The command went out on `conn` as pub/sub command `seq`.
    Sent {
        conn: ConnId,
        node: usize,
        seq: u64,
    },
    Active {
        conn: ConnId,
        node: usize,
    },
}

impl Place {
    fn conn(self) -> Option<ConnId> {
        match self {
            Self::Unplaced => None,
            Self::Sent { conn, .. } | Self::Active { conn, .. } => Some(conn),
        }
    }

    fn node(self) -> Option<usize> {
        match self {
            Self::Unplaced => None,
            Self::Sent { node, .. } | Self::Active { node, .. } => Some(node),
        }
    }
}

/// A pub/sub frame, as read from a push (RESP3) or from an array on a subscription
/// connection (RESP2).
enum Incoming {
    Message(Message),
    Confirmation {
        kind: SubscriptionKind,
        unsubscribe: bool,
        channel: Option<Bytes>,
    },
}

fn parse_incoming(frame: Frame) -> Option<Incoming> {
    let items = match frame {
        Frame::Push(items) | Frame::Array(items) => items,
        _ => return None,
    };
    let mut items = items.into_iter();
    let name = items.next()?;
    let name = name.as_bytes()?;
    let bytes = |f: Option<Frame>| f.and_then(|f| f.as_bytes().cloned());
    let message = |kind, pattern, channel: Option<Bytes>, payload: Option<Bytes>| {
        Some(Incoming::Message(Message {
            kind,
            channel: channel?,
            pattern,
            payload: payload?,
        }))
    };
    match &name[..] {
        b"message" => message(
            SubscriptionKind::Channel,
            None,
            bytes(items.next()),
            bytes(items.next()),
        ),
        b"smessage" => message(
            SubscriptionKind::Shard,
            None,
            bytes(items.next()),
            bytes(items.next()),
        ),
        b"pmessage" => {
            let pattern = bytes(items.next());
            message(
                SubscriptionKind::Pattern,
                pattern,
                bytes(items.next()),
                bytes(items.next()),
            )
        }
        other => {
            let (kind, unsubscribe) = SubscriptionKind::of_confirmation(other)?;
            Some(Incoming::Confirmation {
                kind,
                unsubscribe,
                channel: bytes(items.next()),
            })
        }
    }
}

/// Whether `frame`, read on a connection with `role`, is a pub/sub frame for the core rather
/// than a reply.
#[inline]
pub(super) fn is_pubsub_frame(frame: &Frame, role: Role) -> bool {
    let items = match frame {
        Frame::Push(items) => items,
        Frame::Array(items) if role == Role::Subscriber => items,
        _ => return false,
    };
    items.first().and_then(Frame::as_bytes).is_some_and(|name| {
        matches!(&name[..], b"message" | b"pmessage" | b"smessage")
            || SubscriptionKind::of_confirmation(name).is_some()
    })
}

impl Subscriber {
    /// Adds an event; true when the queue was empty (the subscriber needs waking).
    fn push(&mut self, event: PubSubEvent) -> bool {
        let was_empty = self.queue.is_empty();
        self.queue.push_back(event);
        was_empty
    }

    fn is_full(&self) -> bool {
        self.messages >= self.settings.capacity
    }
}

impl Client {
    // ---- application side ----

    /// Creates a subscriber: a reader of messages with its own buffer, which subscribes with
    /// [`subscribe`](Self::subscribe) and reads with [`poll_pubsub`](Self::poll_pubsub).
    pub fn open_subscriber(&mut self, settings: SubscriberSettings) -> SubscriberId {
        let closed = self.closing;
        let ps = &mut self.pubsub;
        let id = SubscriberId(ps.next_subscriber);
        ps.next_subscriber += 1;
        let settings = SubscriberSettings::new(settings.capacity, settings.overflow);
        ps.subscribers.insert(
            id,
            Subscriber {
                settings,
                queue: VecDeque::new(),
                messages: 0,
                blocking: Vec::new(),
                closed,
            },
        );
        id
    }

    /// Subscribes `subscriber` to `channels` (channel names, patterns, or shard channels
    /// after `kind`). The returned request completes when the server has confirmed every
    /// one (with `OK`), or with the server's error reply, in which case none of them is kept.
    /// A request that times out leaves the subscriptions in place: the core keeps placing
    /// them, and drops them only on [`unsubscribe`](Self::unsubscribe).
    ///
    /// # Errors
    ///
    /// [`SubmitError`]: the client was shut down, no channel was named, the subscriber is
    /// unknown or closed, or too many requests are pending.
    pub fn subscribe(
        &mut self,
        subscriber: SubscriberId,
        kind: SubscriptionKind,
        channels: Vec<Bytes>,
        now: Instant,
    ) -> Result<RequestId, SubmitError> {
        if self.closing {
            return Err(SubmitError::Closed);
        }
        if channels.is_empty() {
            return Err(SubmitError::Empty);
        }
        if self
            .pubsub
            .subscribers
            .get(&subscriber)
            .is_none_or(|s| s.closed)
        {
            return Err(SubmitError::UnknownSubscriber(subscriber.0));
        }
        if self.requests.len() >= self.config.max_pending {
            return Err(SubmitError::Backpressure {
                limit: self.config.max_pending,
            });
        }
        let command = cmd(kind.subscribe_command()).args(channels.clone());
        let state = RequestState::new(Request::single(command), now, self.config.timeouts.command);
        let id = self.admit(state, now);
        let mut outstanding = 0;
        for channel in channels {
            let entry = self
                .pubsub
                .entries
                .entry((kind, channel))
                .or_insert_with(|| Entry {
                    subscribers: Vec::new(),
                    place: Place::Unplaced,
                    lost: None,
                    waiting: Vec::new(),
                });
            if !entry.subscribers.contains(&subscriber) {
                entry.subscribers.push(subscriber);
            }
            if !matches!(entry.place, Place::Active { .. })
                && !entry.waiting.contains(&(id, subscriber))
            {
                entry.waiting.push((id, subscriber));
                outstanding += 1;
            }
        }
        if outstanding == 0 {
            self.complete(id, Ok(Reply::Single(ok())), now);
        } else {
            self.pubsub.requests.insert(id, outstanding);
            self.pubsub_reconcile(now);
        }
        Ok(id)
    }

    /// Unsubscribes `subscriber` from `channels` of `kind` (all of that kind when empty).
    /// Nothing more from them reaches it from now on; the server is told once no other
    /// subscriber wants them.
    pub fn unsubscribe(
        &mut self,
        subscriber: SubscriberId,
        kind: SubscriptionKind,
        channels: &[Bytes],
        now: Instant,
    ) {
        let keys: Vec<Key> = self
            .pubsub
            .entries
            .iter()
            .filter(|((k, channel), entry)| {
                *k == kind
                    && entry.subscribers.contains(&subscriber)
                    && (channels.is_empty() || channels.contains(channel))
            })
            .map(|(key, _)| key.clone())
            .collect();
        self.drop_subscriber_from(subscriber, keys, now);
    }

    /// Closes a subscriber: it is unsubscribed from everything and its buffer is dropped.
    pub fn close_subscriber(&mut self, subscriber: SubscriberId, now: Instant) {
        let keys: Vec<Key> = self
            .pubsub
            .entries
            .iter()
            .filter(|(_, entry)| entry.subscribers.contains(&subscriber))
            .map(|(key, _)| key.clone())
            .collect();
        self.drop_subscriber_from(subscriber, keys, now);
        if let Some(s) = self.pubsub.subscribers.remove(&subscriber) {
            for conn in s.blocking {
                self.resume_input(conn);
            }
        }
    }

    /// The next event for `subscriber`, in order; `None` when there is none now (or the
    /// subscriber is unknown). Taking a message out of a full [`Overflow::Block`] buffer
    /// lets the connections it held back be read again ([`Event::ResumeInput`]).
    #[must_use]
    pub fn poll_pubsub(&mut self, subscriber: SubscriberId) -> Option<PubSubEvent> {
        let s = self.pubsub.subscribers.get_mut(&subscriber)?;
        let event = s.queue.pop_front()?;
        if matches!(event, PubSubEvent::Message(_)) {
            s.messages -= 1;
        }
        if !s.is_full() && !s.blocking.is_empty() {
            let blocking = std::mem::take(&mut s.blocking);
            for conn in blocking {
                self.resume_input(conn);
            }
        }
        Some(event)
    }

    /// Whether `subscriber` may still receive events: false once it was closed (or the
    /// client quit) and its buffer is empty.
    pub fn is_subscriber_open(&self, subscriber: SubscriberId) -> bool {
        self.pubsub
            .subscribers
            .get(&subscriber)
            .is_some_and(|s| !s.closed || !s.queue.is_empty())
    }

    /// Whether the core stopped reading `conn` because a subscriber's buffer is full
    /// ([`Overflow::Block`]): the driver must not read the socket, nor call
    /// [`handle_input`](Self::handle_input), until [`Event::ResumeInput`] names it. Bytes
    /// already read stay in the buffer given to `handle_input`, to hand back then.
    pub fn is_input_paused(&self, conn: ConnId) -> bool {
        self.conn_index(conn).is_some_and(|i| self.conns[i].paused)
    }

    // ---- core side ----

    /// The subscription connections stop existing for `quit`: subscribers are closed, and
    /// subscribe requests still waiting fail.
    pub(super) fn pubsub_quit(&mut self, now: Instant) {
        let ps = &mut self.pubsub;
        ps.entries.clear();
        ps.retry_at = None;
        ps.keepalive_at = None;
        ps.pings.clear();
        let requests: Vec<RequestId> = std::mem::take(&mut ps.requests).into_keys().collect();
        let mut wake = Vec::new();
        for (&id, s) in &mut ps.subscribers {
            s.closed = true;
            wake.push(id);
        }
        for id in requests {
            self.complete(id, Err(RequestError::Closed), now);
        }
        for subscriber in wake {
            self.events.push_back(Event::PubSub { subscriber });
        }
    }

    /// When the retry timer wants waking.
    pub(super) fn pubsub_timer(&self) -> Option<Instant> {
        let ps = &self.pubsub;
        super::earliest(ps.retry_at, ps.keepalive_at)
    }

    pub(super) fn pubsub_timeout(&mut self, now: Instant) {
        if self.pubsub.retry_at.is_some_and(|at| at <= now) {
            self.pubsub.retry_at = None;
            self.pubsub_reconcile(now);
        }
        if self.pubsub.keepalive_at.is_some_and(|at| at <= now) {
            self.pubsub.keepalive_at = None;
            self.pubsub_keepalive(now);
        }
    }

    /// Checks the connections that hold subscriptions: one silent for [`KEEPALIVE`] gets a
    /// `PING`; one still silent a command timeout after its `PING` is closed, and its
    /// subscriptions are placed again (with `Resubscribed`). Paused connections are not
    /// read, so not checked.
    fn pubsub_keepalive(&mut self, now: Instant) {
        // Subscribe requests that ended otherwise (deadline, cancel) are forgotten here; their
        // subscriptions stay, as documented.
        let requests = &self.requests;
        self.pubsub.requests.retain(|id, _| requests.contains(*id));
        for entry in self.pubsub.entries.values_mut() {
            entry.waiting.retain(|(id, _)| requests.contains(*id));
        }
        let mut held: Vec<ConnId> = self
            .pubsub
            .entries
            .values()
            .filter_map(|e| e.place.conn())
            .collect();
        held.sort_unstable();
        held.dedup();
        self.pubsub.pings.retain(|c, _| held.contains(c));
        let limit = self.config.timeouts.command.max(KEEPALIVE);
        for conn in held {
            let Some(i) = self.conn_index(conn) else {
                continue;
            };
            let c = &self.conns[i];
            if !c.is_ready() || c.paused {
                self.pubsub.pings.remove(&conn);
                continue;
            }
            match self.pubsub.pings.get(&conn).copied() {
                Some(sent) if c.last_input >= sent => {
                    self.pubsub.pings.remove(&conn);
                }
                Some(sent) if now.saturating_duration_since(sent) >= limit => {
                    self.pubsub.pings.remove(&conn);
                    self.events.push_back(Event::Disconnect { conn });
                    let reason = format!(
                        "closed by the client: no answer to PING for {limit:?} on a connection holding subscriptions"
                    );
                    self.connection_failed(i, &reason, now);
                    continue;
                }
                Some(_) => continue,
                None => {}
            }
            if now.saturating_duration_since(self.conns[i].last_input) >= KEEPALIVE {
                let c = &mut self.conns[i];
                if c.push(&cmd("PING"), Waiter::Discard) {
                    self.events.push_back(Event::Transmit { conn });
                }
                self.pubsub.pings.insert(conn, now);
            }
        }
        self.arm_keepalive(now);
    }

    /// Keeps the keep-alive check ticking while there are subscriptions.
    fn arm_keepalive(&mut self, now: Instant) {
        let ps = &mut self.pubsub;
        if ps.keepalive_at.is_none() && !ps.entries.is_empty() && !self.closing {
            ps.keepalive_at = Some(now + KEEPALIVE / 4);
        }
    }

    /// Places every subscription that is not placed, and moves those whose node is no
    /// longer the right one.
    pub(super) fn pubsub_reconcile(&mut self, now: Instant) {
        self.arm_keepalive(now);
        if self.closing || self.pubsub.entries.is_empty() || self.pubsub.retry_at.is_some() {
            return;
        }
        // Subscriptions on a node that is no longer theirs: unsubscribed there, placed again.
        let mut moves: Vec<(Key, ConnId)> = Vec::new();
        let keys: Vec<(Key, Place)> = self
            .pubsub
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.place))
            .collect();
        let mut groups: BTreeMap<(ConnId, SubscriptionKind, u16), Vec<Bytes>> = BTreeMap::new();
        for (key, place) in keys {
            let Some(node) = self.pubsub_node(&key, now) else {
                continue;
            };
            if let Some(old) = place.node() {
                if old != node && self.pubsub_follows_node(key.0) {
                    moves.push((key.clone(), place.conn().expect("placed")));
                } else {
                    continue;
                }
            }
            // Not ready yet: placed when it is (`pubsub_conn_ready`).
            let Some(conn) = self.pubsub_conn(node, now) else {
                continue;
            };
            let slot = if key.0 == SubscriptionKind::Shard {
                resp_core::slot(&key.1)
            } else {
                0
            };
            groups.entry((conn, key.0, slot)).or_default().push(key.1);
        }
        for (key, old) in moves {
            if let Some(i) = self.conn_index(old) {
                self.pubsub_send(i, key.0, true, vec![key.1.clone()]);
            }
            let reason = self.moved_reason(key.0);
            if let Some(entry) = self.pubsub.entries.get_mut(&key) {
                if matches!(entry.place, Place::Active { .. }) && entry.lost.is_none() {
                    entry.lost = Some(reason);
                }
                entry.place = Place::Unplaced;
            }
        }
        for ((conn, kind, _), channels) in groups {
            let Some(i) = self.conn_index(conn) else {
                continue;
            };
            let node = self.conns[i].node;
            for chunk in channels.chunks(MAX_CHANNELS_PER_COMMAND) {
                let seq = self.pubsub_send(i, kind, false, chunk.to_vec());
                for channel in chunk {
                    if let Some(entry) = self.pubsub.entries.get_mut(&(kind, channel.clone())) {
                        entry.place = Place::Sent { conn, node, seq };
                    }
                }
            }
        }
    }

    fn moved_reason(&self, kind: SubscriptionKind) -> String {
        if self.sentinel.is_some() {
            "the Sentinel primary changed".into()
        } else if kind == SubscriptionKind::Shard {
            "its slot moved to another node".into()
        } else {
            "its node changed".into()
        }
    }

    /// Whether subscriptions of `kind` move when their node changes: shard channels (their
    /// messages only reach their slot's shard), and everything in Sentinel mode (the old
    /// primary may be gone for good). A cluster's classic channels reach every node.
    fn pubsub_follows_node(&self, kind: SubscriptionKind) -> bool {
        self.sentinel.is_some() || kind == SubscriptionKind::Shard
    }

    /// The node a subscription belongs on, if known now (asking for a topology or a primary
    /// otherwise).
    fn pubsub_node(&mut self, key: &Key, now: Instant) -> Option<usize> {
        if let Some(cluster) = &self.cluster {
            if !cluster.is_known() {
                self.want_refresh(now);
                return None;
            }
            let owner = self.owner(resp_core::slot(&key.1));
            if owner >= self.nodes.len() {
                // No shard owns the slot: a later topology read may say who does.
                self.want_refresh(now);
                return None;
            }
            return Some(owner);
        }
        if self.sentinel.is_some() {
            let primary = self.sentinel_primary_node();
            if primary.is_none() {
                self.want_primary(now);
            }
            return primary;
        }
        Some(0)
    }

    /// The ready connection subscriptions go on at node `n`, opening it if needed.
    fn pubsub_conn(&mut self, n: usize, now: Instant) -> Option<ConnId> {
        let conn = match self.config.protocol {
            Protocol::Resp3 => {
                self.ensure_connection(n, now);
                self.nodes[n].conn?
            }
            Protocol::Resp2 => match self.pubsub.conns.get(&n) {
                Some(&conn) => conn,
                None => {
                    let conn = self.open_connection(Role::Subscriber, n, now);
                    self.pubsub.conns.insert(n, conn);
                    conn
                }
            },
        };
        let i = self.conn_index(conn)?;
        self.conns[i].is_ready().then_some(conn)
    }

    /// Queues a pub/sub command on connection `i`; returns its sequence number.
    fn pubsub_send(
        &mut self,
        i: usize,
        kind: SubscriptionKind,
        unsubscribe: bool,
        channels: Vec<Bytes>,
    ) -> u64 {
        let seq = self.pubsub.next_seq;
        self.pubsub.next_seq += 1;
        let name = if unsubscribe {
            kind.unsubscribe_command()
        } else {
            kind.subscribe_command()
        };
        let waiter = Waiter::PubSub {
            seq,
            kind,
            unsubscribe,
            remaining: channels.len() as u32,
        };
        let command = cmd(name).args(channels);
        let c = &mut self.conns[i];
        if c.push(&command, waiter) {
            self.events.push_back(Event::Transmit { conn: c.id });
        }
        seq
    }

    /// A pub/sub frame arrived on connection `i`.
    pub(super) fn pubsub_frame(&mut self, i: usize, frame: Frame, now: Instant) {
        match parse_incoming(frame) {
            Some(Incoming::Message(message)) => self.deliver_message(i, &message),
            Some(Incoming::Confirmation {
                kind,
                unsubscribe,
                channel,
            }) => self.confirmation(i, kind, unsubscribe, channel, now),
            None => {}
        }
    }

    fn deliver_message(&mut self, i: usize, message: &Message) {
        let conn = self.conns[i].id;
        let name = message.pattern.as_ref().unwrap_or(&message.channel);
        let Some(entry) = self.pubsub.entries.get(&(message.kind, name.clone())) else {
            // Unsubscribed since: the server had sent it before it knew.
            return;
        };
        if entry.place.conn() != Some(conn) {
            // From a node the subscription has left.
            return;
        }
        let mut pause = false;
        let mut wake = Vec::new();
        for &id in &entry.subscribers {
            let Some(s) = self.pubsub.subscribers.get_mut(&id) else {
                continue;
            };
            if s.closed {
                continue;
            }
            match s.settings.overflow {
                Overflow::Lag if s.is_full() => {
                    match s.queue.back_mut() {
                        Some(PubSubEvent::Lagged { skipped }) => *skipped += 1,
                        _ => {
                            if s.push(PubSubEvent::Lagged { skipped: 1 }) {
                                wake.push(id);
                            }
                        }
                    }
                    continue;
                }
                _ => {}
            }
            s.messages += 1;
            if s.push(PubSubEvent::Message(message.clone())) {
                wake.push(id);
            }
            if s.settings.overflow == Overflow::Block && s.is_full() {
                if !s.blocking.contains(&conn) {
                    s.blocking.push(conn);
                }
                pause = true;
            }
        }
        if pause {
            self.conns[i].paused = true;
        }
        for subscriber in wake {
            self.events.push_back(Event::PubSub { subscriber });
        }
    }

    fn resume_input(&mut self, conn: ConnId) {
        // Another subscriber may still hold it back.
        let held = self
            .pubsub
            .subscribers
            .values()
            .any(|s| s.blocking.contains(&conn));
        if let Some(i) = self.conn_index(conn)
            && self.conns[i].paused
            && !held
        {
            self.conns[i].paused = false;
            self.events.push_back(Event::ResumeInput { conn });
        }
    }

    /// A confirmation (or the server ending a subscription on its own) on connection `i`.
    fn confirmation(
        &mut self,
        i: usize,
        kind: SubscriptionKind,
        unsubscribe: bool,
        channel: Option<Bytes>,
        now: Instant,
    ) {
        let conn = self.conns[i].id;
        let solicited = match self.conns[i].waiters.front_mut() {
            Some(Waiter::PubSub {
                kind: k,
                unsubscribe: u,
                remaining,
                seq,
            }) if *k == kind && *u == unsubscribe => {
                let seq = *seq;
                *remaining = remaining.saturating_sub(1);
                if *remaining == 0 {
                    let _ = self.conns[i].pop_waiter();
                    Some((seq, true))
                } else {
                    Some((seq, false))
                }
            }
            _ => None,
        };
        let Some(channel) = channel else {
            return;
        };
        let key = (kind, channel);
        match (solicited, unsubscribe) {
            (Some((_, last)), false) => {
                if let Some(entry) = self.pubsub.entries.get_mut(&key)
                    && entry.place.conn() == Some(conn)
                {
                    let node = self.conns[i].node;
                    entry.place = Place::Active { conn, node };
                    let waiting = std::mem::take(&mut entry.waiting);
                    if let Some(reason) = entry.lost.take() {
                        for &s in &entry.subscribers {
                            self.pubsub
                                .restored
                                .push((s, kind, key.1.clone(), reason.clone()));
                        }
                    }
                    for (id, _) in waiting {
                        self.subscription_confirmed(id, now);
                    }
                }
                if last {
                    self.report_restored();
                }
            }
            // The client only unsubscribes what it no longer wants here: a subscription it
            // still holds on this connection was ended by the server, even when its
            // `sunsubscribe` came while the client waited for its own confirmation (one it
            // subscribed again after that unsubscription, `Sent` later, is not).
            (Some((seq, _)), true) => {
                let resent = self.pubsub.entries.get(&key).is_some_and(
                    |e| matches!(e.place, Place::Sent { conn: c, seq: s, .. } if c == conn && s > seq),
                );
                if !resent {
                    self.ended_by_server(i, &key, now);
                }
            }
            (None, true) => self.ended_by_server(i, &key, now),
            (None, false) => {}
        }
    }

    /// The server ended subscription `key` on connection `i` on its own (a shard channel
    /// whose slot left the node): it is placed again, on the slot's new owner.
    fn ended_by_server(&mut self, i: usize, key: &Key, now: Instant) {
        let conn = self.conns[i].id;
        let Some(entry) = self.pubsub.entries.get_mut(key) else {
            return;
        };
        if entry.place.conn() != Some(conn) {
            return;
        }
        if matches!(entry.place, Place::Active { .. }) && entry.lost.is_none() {
            entry.lost = Some(format!(
                "{} ended the subscription: its slot is served elsewhere now",
                self.nodes[self.conns[i].node].server
            ));
        }
        entry.place = Place::Unplaced;
        if self.cluster.is_some() {
            self.want_refresh(now);
        } else {
            self.pubsub_reconcile(now);
        }
    }

    /// One subscription of request `id` is confirmed.
    fn subscription_confirmed(&mut self, id: RequestId, now: Instant) {
        let Some(left) = self.pubsub.requests.get_mut(&id) else {
            return;
        };
        *left -= 1;
        if *left == 0 {
            self.pubsub.requests.remove(&id);
            self.complete(id, Ok(Reply::Single(ok())), now);
        }
    }

    fn report_restored(&mut self) {
        let restored = std::mem::take(&mut self.pubsub.restored);
        let mut grouped: BTreeMap<(SubscriberId, SubscriptionKind, String), Vec<Bytes>> =
            BTreeMap::new();
        for (s, kind, channel, reason) in restored {
            grouped.entry((s, kind, reason)).or_default().push(channel);
        }
        for ((s, kind, reason), channels) in grouped {
            self.pubsub_event(
                s,
                PubSubEvent::Resubscribed {
                    kind,
                    channels,
                    reason,
                },
            );
        }
    }

    /// Adds an event that is not a message (never dropped, not counted against capacity).
    fn pubsub_event(&mut self, subscriber: SubscriberId, event: PubSubEvent) {
        if let Some(s) = self.pubsub.subscribers.get_mut(&subscriber)
            && !s.closed
            && s.push(event)
        {
            self.events.push_back(Event::PubSub { subscriber });
        }
    }

    /// An error reply on connection `i` whose FIFO front is a pub/sub command: the whole
    /// command was refused.
    pub(super) fn pubsub_refused(&mut self, i: usize, frame: &Frame, now: Instant) {
        let Some(Waiter::PubSub {
            seq, unsubscribe, ..
        }) = self.conns[i].waiters.front().copied()
        else {
            return;
        };
        let _ = self.conns[i].pop_waiter();
        self.report_restored();
        if unsubscribe {
            return;
        }
        let conn = self.conns[i].id;
        let keys: Vec<Key> = self
            .pubsub
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.place, Place::Sent { conn: c, seq: s, .. } if c == conn && s == seq))
            .map(|(k, _)| k.clone())
            .collect();
        let code = frame.error_code().unwrap_or_default();
        let transient = matches!(
            code,
            b"MOVED"
                | b"ASK"
                | b"TRYAGAIN"
                | b"CLUSTERDOWN"
                | b"LOADING"
                | b"MASTERDOWN"
                | b"READONLY"
        );
        if transient {
            for key in &keys {
                if let Some(entry) = self.pubsub.entries.get_mut(key) {
                    entry.place = Place::Unplaced;
                }
            }
            let server = self.nodes[self.conns[i].node].server.clone();
            match (self.cluster.is_some(), parse_redirect(frame, &server)) {
                (true, Redirect::Moved { slot, to }) => {
                    self.moved(slot, &to, now);
                    self.pubsub_reconcile(now);
                }
                _ => self.pubsub_backoff(now),
            }
            return;
        }
        // Refused for good (an ACL denies the channel, ...): the subscriptions are dropped.
        let error = error_text(frame);
        let mut dropped: BTreeMap<(SubscriberId, SubscriptionKind), Vec<Bytes>> = BTreeMap::new();
        let mut refused: Vec<RequestId> = Vec::new();
        for key in keys {
            let Some(entry) = self.pubsub.entries.remove(&key) else {
                continue;
            };
            for (id, _) in &entry.waiting {
                if !refused.contains(id) {
                    refused.push(*id);
                }
            }
            for s in entry.subscribers {
                let asked = entry.waiting.iter().any(|&(_, by)| by == s);
                if !asked {
                    dropped.entry((s, key.0)).or_default().push(key.1.clone());
                }
            }
        }
        for id in refused {
            self.pubsub.requests.remove(&id);
            self.complete(id, Ok(Reply::Single(frame.clone())), now);
        }
        for ((s, kind), channels) in dropped {
            let error = error.clone();
            self.pubsub_event(
                s,
                PubSubEvent::Dropped {
                    kind,
                    channels,
                    error,
                },
            );
        }
    }

    /// Placing failed for a passing reason: try again after the reconnect policy's delay.
    fn pubsub_backoff(&mut self, now: Instant) {
        let ps = &mut self.pubsub;
        ps.failures += 1;
        let attempt = ps.failures.saturating_sub(1);
        let delay = self.config.reconnect.delay(attempt, self.rng.unit());
        self.pubsub.retry_at = Some(now + delay);
    }

    /// Connection `conn` (to node `n`) is gone. Its subscriptions are placed again: at once
    /// if it had been up, after a backoff if it never opened.
    pub(super) fn pubsub_conn_lost(
        &mut self,
        conn: ConnId,
        n: usize,
        was_ready: bool,
        reason: &str,
        now: Instant,
    ) {
        if self.pubsub.conns.get(&n) == Some(&conn) {
            self.pubsub.conns.remove(&n);
        }
        for s in self.pubsub.subscribers.values_mut() {
            s.blocking.retain(|&c| c != conn);
        }
        let mut any = false;
        let server = self.nodes[n].server.to_string();
        for entry in self.pubsub.entries.values_mut() {
            if entry.place.conn() != Some(conn) {
                continue;
            }
            any = true;
            if matches!(entry.place, Place::Active { .. }) && entry.lost.is_none() {
                entry.lost = Some(format!("the connection to {server} was lost: {reason}"));
            }
            entry.place = Place::Unplaced;
        }
        // Restorations reported so far by a command that will never finish.
        self.report_restored();
        let wanted = any
            || self
                .pubsub
                .entries
                .values()
                .any(|e| e.place == Place::Unplaced);
        if !wanted || self.closing {
            return;
        }
        if was_ready {
            self.pubsub.failures = 0;
            self.pubsub_reconcile(now);
        } else if self.pubsub.retry_at.is_none() {
            self.pubsub_backoff(now);
        }
    }

    /// Whether the client holds subscriptions (which need a topology or a primary to live
    /// on, like requests).
    pub(super) fn has_subscriptions(&self) -> bool {
        !self.pubsub.entries.is_empty()
    }

    pub(super) fn pubsub_conn_is(&self, n: usize, conn: ConnId) -> bool {
        self.pubsub.conns.get(&n) == Some(&conn)
    }

    pub(super) fn pubsub_forget_conn(&mut self, n: usize) {
        self.pubsub.conns.remove(&n);
    }

    /// A subscription connection (or the shared one, in RESP3) became ready.
    pub(super) fn pubsub_conn_ready(&mut self, role: Role, now: Instant) {
        if role == Role::Subscriber {
            self.pubsub.failures = 0;
        }
        self.pubsub_reconcile(now);
    }

    /// The handshake of a connection subscriptions wait for was refused: subscribe requests
    /// waiting for a place fail with `error` (their subscriptions are not kept).
    pub(super) fn pubsub_handshake_failed(&mut self, error: &RequestError, now: Instant) {
        let mut failed: Vec<RequestId> = Vec::new();
        for entry in self.pubsub.entries.values() {
            if entry.place == Place::Unplaced {
                for &(id, _) in &entry.waiting {
                    if !failed.contains(&id) {
                        failed.push(id);
                    }
                }
            }
        }
        for &id in &failed {
            self.pubsub.requests.remove(&id);
            self.complete(id, Err(error.clone()), now);
        }
        let mut empty = Vec::new();
        for (key, entry) in &mut self.pubsub.entries {
            let (gone, kept): (Vec<_>, Vec<_>) = entry
                .waiting
                .iter()
                .partition(|(id, _)| failed.contains(id));
            for (_, s) in gone {
                entry.subscribers.retain(|&x| x != s);
            }
            entry.waiting = kept;
            if entry.subscribers.is_empty() {
                empty.push(key.clone());
            }
        }
        for key in empty {
            self.pubsub.entries.remove(&key);
        }
        if self.pubsub.retry_at.is_none() && !self.pubsub.entries.is_empty() {
            self.pubsub_backoff(now);
        }
    }

    /// Removes `subscriber` from the subscriptions `keys`, unsubscribing on the server those
    /// nobody wants any more.
    fn drop_subscriber_from(&mut self, subscriber: SubscriberId, keys: Vec<Key>, now: Instant) {
        let mut sends: BTreeMap<(ConnId, SubscriptionKind), Vec<Bytes>> = BTreeMap::new();
        let mut done: Vec<RequestId> = Vec::new();
        for key in keys {
            let Some(entry) = self.pubsub.entries.get_mut(&key) else {
                continue;
            };
            entry.subscribers.retain(|&s| s != subscriber);
            entry.waiting.retain(|&(id, s)| {
                if s == subscriber {
                    done.push(id);
                }
                s != subscriber
            });
            if entry.subscribers.is_empty() {
                let place = entry.place;
                self.pubsub.entries.remove(&key);
                if let Some(conn) = place.conn() {
                    sends.entry((conn, key.0)).or_default().push(key.1);
                }
            }
        }
        // A subscribe request still waiting counts what was withdrawn as settled.
        for id in done {
            self.subscription_confirmed(id, now);
        }
        for ((conn, kind), channels) in sends {
            if let Some(i) = self.conn_index(conn)
                && self.conns[i].is_ready()
            {
                for chunk in channels.chunks(MAX_CHANNELS_PER_COMMAND) {
                    self.pubsub_send(i, kind, true, chunk.to_vec());
                }
            }
        }
        // A RESP2 subscription connection with nothing left on it (and none waiting for a
        // place) is closed, as the application would close a dedicated one.
        let entries = &self.pubsub.entries;
        if entries.values().any(|e| e.place == Place::Unplaced) {
            return;
        }
        let idle: Vec<ConnId> = self
            .pubsub
            .conns
            .values()
            .copied()
            .filter(|&c| !entries.values().any(|e| e.place.conn() == Some(c)))
            .collect();
        for conn in idle {
            if let Some(i) = self.conn_index(conn) {
                self.events.push_back(Event::Disconnect { conn });
                self.connection_failed(i, "no subscription left on it", now);
            }
        }
    }
}

fn ok() -> Frame {
    Frame::SimpleString(Bytes::from_static(b"OK"))
}
