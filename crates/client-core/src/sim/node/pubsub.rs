//! The pub/sub side of a [`FakeNode`], as Redis 7 does it: `(P|S)SUBSCRIBE`,
//! `(P|S)UNSUBSCRIBE`, `PUBLISH`, `SPUBLISH`, glob patterns, a RESP2 connection's subscribed
//! context (`PING` as `[pong, ""]`, `RESET`, `QUIT`), an ACL-like refusal of channels, and the
//! `sunsubscribe` a cluster node sends when a slot leaves it.
//!
//! Frames for a connection other than the one a command came on go to the node's outbox,
//! which the deployment ([`Servers::take_messages`](crate::sim::Servers::take_messages))
//! turns into bytes on that connection. A `PUBLISH` is recorded as a [`Publication`] too, for
//! the deployment to spread: to every node of a cluster, to a primary's replicas (Sentinel),
//! to the nodes of the shard (`SPUBLISH`).

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use resp_core::Frame;

use super::{FakeNode, NodeConnId, encode_for, error, ok};
use crate::sim::cluster::ViewChange;

/// One connection's subscriptions.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shard: BTreeSet<Bytes>,
}

impl Subscriptions {
    /// What `subscribe`/`psubscribe` confirmations count: channels and patterns.
    fn classic(&self) -> i64 {
        (self.channels.len() + self.patterns.len()) as i64
    }

    /// Whether it has any subscription: a RESP2 connection is then in the subscribed
    /// context.
    fn any(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

/// A message published on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Publication {
    /// `SPUBLISH` (a shard channel) rather than `PUBLISH`.
    pub(crate) shard: bool,
    pub(crate) channel: Bytes,
    pub(crate) payload: Bytes,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn set(self, subs: &mut Subscriptions) -> &mut BTreeSet<Bytes> {
        match self {
            Self::Channel => &mut subs.channels,
            Self::Pattern => &mut subs.patterns,
            Self::Shard => &mut subs.shard,
        }
    }

    fn count(self, subs: &Subscriptions) -> i64 {
        match self {
            Self::Shard => subs.shard.len() as i64,
            _ => subs.classic(),
        }
    }

    fn confirmation(self, unsubscribe: bool) -> &'static [u8] {
        match (self, unsubscribe) {
            (Self::Channel, false) => b"subscribe",
            (Self::Pattern, false) => b"psubscribe",
            (Self::Shard, false) => b"ssubscribe",
            (Self::Channel, true) => b"unsubscribe",
            (Self::Pattern, true) => b"punsubscribe",
            (Self::Shard, true) => b"sunsubscribe",
        }
    }
}

/// The commands a RESP2 connection with subscriptions may still run.
const SUBSCRIBED_CONTEXT: &[&str] = &[
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "PING",
    "QUIT",
    "RESET",
];

/// Redis's glob matching, for `*`, `?` and `\` (escape), byte by byte.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to go back to after the last `*`: its position in the pattern, and the text
    // position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(b'?') => {
                p += 1;
                t += 1;
                continue;
            }
            Some(b'\\') if p + 1 < pattern.len() && pattern[p + 1] == text[t] => {
                p += 2;
                t += 1;
                continue;
            }
            Some(&c) if c != b'\\' && c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn push(items: Vec<Frame>) -> Frame {
    Frame::Push(items)
}

fn bulk(bytes: &[u8]) -> Frame {
    Frame::BulkString(Bytes::copy_from_slice(bytes))
}

impl FakeNode {
    /// `-NOPERM` when `name` names a channel (or pattern) the configuration denies.
    pub(super) fn channel_refusal(&self, name: &str, args: &[Bytes]) -> Option<Frame> {
        let channels: &[Bytes] = match name {
            "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" => &args[1..],
            "PUBLISH" | "SPUBLISH" => &args[1..2],
            _ => return None,
        };
        let denied = channels.iter().find(|c| {
            self.config
                .denied_channels
                .iter()
                .any(|prefix| c.starts_with(prefix.as_bytes()))
        })?;
        Some(error(&format!(
            "NOPERM User default has no permissions to access the '{}' channel",
            String::from_utf8_lossy(denied)
        )))
    }

    /// The refusal of a command other than a pub/sub one on a RESP2 connection that has
    /// subscriptions.
    pub(super) fn subscribed_context_refusal(&self, conn: NodeConnId, name: &str) -> Option<Frame> {
        let c = self.conns.get(&conn.0)?;
        if c.protocol != 2 || !c.subscriptions.any() || SUBSCRIBED_CONTEXT.contains(&name) {
            return None;
        }
        Some(error(&format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context",
            name.to_ascii_lowercase()
        )))
    }

    /// Runs `name` if it is a pub/sub command (or `PING` in a RESP2 subscribed context,
    /// `RESET`, `QUIT`). A command with several confirmations leaves all but the last in
    /// the outbox, which goes out before the reply.
    pub(super) fn pubsub_command(
        &mut self,
        conn: NodeConnId,
        name: &str,
        args: &[Bytes],
    ) -> Option<Frame> {
        let channels = &args[1..];
        Some(match name {
            "SUBSCRIBE" => self.subscribe(conn, Kind::Channel, channels),
            "PSUBSCRIBE" => self.subscribe(conn, Kind::Pattern, channels),
            "SSUBSCRIBE" => self.subscribe(conn, Kind::Shard, channels),
            "UNSUBSCRIBE" => self.unsubscribe(conn, Kind::Channel, channels),
            "PUNSUBSCRIBE" => self.unsubscribe(conn, Kind::Pattern, channels),
            "SUNSUBSCRIBE" => self.unsubscribe(conn, Kind::Shard, channels),
            "PUBLISH" | "SPUBLISH" => {
                let publication = Publication {
                    shard: name == "SPUBLISH",
                    channel: args[1].clone(),
                    payload: args[2].clone(),
                };
                let receivers = self.deliver(&publication);
                self.published.push(publication);
                Frame::Integer(receivers as i64)
            }
            "PING" => {
                let c = self.conns.get(&conn.0)?;
                if c.protocol != 2 || !c.subscriptions.any() {
                    return None;
                }
                let message = args.get(1).cloned().unwrap_or_default();
                Frame::Array(vec![bulk(b"pong"), Frame::BulkString(message)])
            }
            // The client closes the connection after the reply; the fake does not close it
            // itself.
            "QUIT" => ok(),
            "RESET" => {
                let needs_auth = !self.config.users.is_empty();
                let c = self.conns.get_mut(&conn.0)?;
                c.subscriptions = Subscriptions::default();
                c.multi = None;
                c.protocol = 2;
                c.db = 0;
                c.name = None;
                c.asking = false;
                c.readonly = false;
                if needs_auth {
                    c.user = None;
                }
                Frame::SimpleString(Bytes::from_static(b"RESET"))
            }
            _ => return None,
        })
    }

    fn subscribe(&mut self, conn: NodeConnId, kind: Kind, channels: &[Bytes]) -> Frame {
        let c = self.conns.get_mut(&conn.0).expect("open");
        let mut frames = Vec::new();
        for channel in channels {
            kind.set(&mut c.subscriptions).insert(channel.clone());
            frames.push(push(vec![
                bulk(kind.confirmation(false)),
                Frame::BulkString(channel.clone()),
                Frame::Integer(kind.count(&c.subscriptions)),
            ]));
        }
        self.reply_last(conn, frames)
    }

    fn unsubscribe(&mut self, conn: NodeConnId, kind: Kind, channels: &[Bytes]) -> Frame {
        let c = self.conns.get_mut(&conn.0).expect("open");
        let names: Vec<Bytes> = if channels.is_empty() {
            kind.set(&mut c.subscriptions).iter().cloned().collect()
        } else {
            channels.to_vec()
        };
        let mut frames = Vec::new();
        for channel in names {
            kind.set(&mut c.subscriptions).remove(&channel);
            frames.push(push(vec![
                bulk(kind.confirmation(true)),
                Frame::BulkString(channel),
                Frame::Integer(kind.count(&c.subscriptions)),
            ]));
        }
        if frames.is_empty() {
            // Nothing to leave: one confirmation with a null channel.
            frames.push(push(vec![
                bulk(kind.confirmation(true)),
                Frame::Null,
                Frame::Integer(kind.count(&c.subscriptions)),
            ]));
        }
        self.reply_last(conn, frames)
    }

    /// All but the last of `frames` go to `conn` before the reply; the last is the reply.
    fn reply_last(&mut self, conn: NodeConnId, mut frames: Vec<Frame>) -> Frame {
        let last = frames.pop().expect("one frame at least");
        self.outbox.extend(frames.into_iter().map(|f| (conn, f)));
        last
    }

    /// Delivers `publication` to this node's subscribers: returns how many received it.
    pub(crate) fn deliver(&mut self, publication: &Publication) -> usize {
        let mut receivers = 0;
        let Publication {
            shard,
            channel,
            payload,
        } = publication;
        for (&id, c) in &self.conns {
            let subs = &c.subscriptions;
            if *shard {
                if subs.shard.contains(channel) {
                    receivers += 1;
                    let frame = push(vec![
                        bulk(b"smessage"),
                        Frame::BulkString(channel.clone()),
                        Frame::BulkString(payload.clone()),
                    ]);
                    self.outbox.push((NodeConnId(id), frame));
                }
                continue;
            }
            if subs.channels.contains(channel) {
                receivers += 1;
                let frame = push(vec![
                    bulk(b"message"),
                    Frame::BulkString(channel.clone()),
                    Frame::BulkString(payload.clone()),
                ]);
                self.outbox.push((NodeConnId(id), frame));
            }
            for pattern in &subs.patterns {
                if glob_match(pattern, channel) {
                    receivers += 1;
                    let frame = push(vec![
                        bulk(b"pmessage"),
                        Frame::BulkString(pattern.clone()),
                        Frame::BulkString(channel.clone()),
                        Frame::BulkString(payload.clone()),
                    ]);
                    self.outbox.push((NodeConnId(id), frame));
                }
            }
        }
        receivers
    }

    /// The frames waiting for `conn`, taken out of the outbox in order.
    pub(super) fn take_own(&mut self, conn: NodeConnId) -> Vec<Frame> {
        if self.outbox.is_empty() {
            return Vec::new();
        }
        let (own, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.outbox)
            .into_iter()
            .partition(|(c, _)| *c == conn);
        self.outbox = rest;
        own.into_iter().map(|(_, f)| f).collect()
    }

    /// What the node wrote on its own to its connections since the last call, encoded in
    /// each one's protocol, in order: pub/sub messages, server-sent unsubscriptions.
    pub fn take_messages(&mut self) -> Vec<(NodeConnId, Bytes)> {
        let outbox = std::mem::take(&mut self.outbox);
        let mut messages: Vec<(NodeConnId, Bytes)> = Vec::new();
        for (conn, frame) in outbox {
            let Some(c) = self.conns.get(&conn.0) else {
                continue;
            };
            let mut out = BytesMut::new();
            encode_for(&frame, c.protocol, &mut out);
            // Frames for one connection in a row go as one write.
            match messages.last_mut() {
                Some((last, data)) if *last == conn => {
                    let mut joined = BytesMut::from(&data[..]);
                    joined.extend_from_slice(&out);
                    *data = joined.freeze();
                }
                _ => messages.push((conn, out.freeze())),
            }
        }
        messages
    }

    /// The messages published here since the last call, for other nodes.
    pub(crate) fn take_published(&mut self) -> Vec<Publication> {
        std::mem::take(&mut self.published)
    }

    /// The channels, patterns and shard channels `conn` is subscribed to, in that order.
    pub fn subscriptions_of(&self, conn: NodeConnId) -> Vec<String> {
        let Some(c) = self.conns.get(&conn.0) else {
            return Vec::new();
        };
        let s = &c.subscriptions;
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        s.channels
            .iter()
            .map(text)
            .chain(s.patterns.iter().map(|p| format!("pattern:{}", text(p))))
            .chain(s.shard.iter().map(|c| format!("shard:{}", text(c))))
            .collect()
    }

    /// How many connections are subscribed to anything.
    pub fn subscribed_connections(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.subscriptions.any())
            .count()
    }

    /// The node's view changes: every shard channel whose slot changes owner in it is ended
    /// with a server-sent `sunsubscribe` (Redis 7's `clusterDelSlot`), in the outbox.
    pub(crate) fn apply_view(&mut self, change: &ViewChange) {
        let Some(view) = self.view() else {
            return;
        };
        let slots: BTreeSet<u16> = self
            .conns
            .values()
            .flat_map(|c| c.subscriptions.shard.iter().map(|ch| resp_core::slot(ch)))
            .collect();
        let before: Vec<(u16, Option<u16>)> = slots.iter().map(|&s| (s, view.owner(s))).collect();
        if let Some(view) = self.view_mut() {
            view.apply(change);
        }
        let view = self.view().expect("a cluster node");
        let lost: Vec<u16> = before
            .into_iter()
            .filter(|&(s, owner)| view.owner(s) != owner)
            .map(|(s, _)| s)
            .collect();
        for slot in lost {
            self.end_shard_slot(slot);
        }
    }

    /// Ends every subscription to a shard channel of `slot`, telling each subscriber.
    fn end_shard_slot(&mut self, slot: u16) {
        for (&id, c) in &mut self.conns {
            let gone: Vec<Bytes> = c
                .subscriptions
                .shard
                .iter()
                .filter(|ch| resp_core::slot(ch) == slot)
                .cloned()
                .collect();
            for channel in gone {
                c.subscriptions.shard.remove(&channel);
                let frame = push(vec![
                    bulk(b"sunsubscribe"),
                    Frame::BulkString(channel),
                    Frame::Integer(c.subscriptions.shard.len() as i64),
                ]);
                self.outbox.push((NodeConnId(id), frame));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::{Bytes, BytesMut};
    use resp_core::Frame;

    use super::glob_match;
    use crate::sim::{
        Clock, ClusterConfig, FakeCluster, FakeNode, FakeSentinels, NodeConfig, NodeConnId,
        SentinelConfig, Servers, ViewChange,
    };

    fn bulk(text: &str) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// A pub/sub frame as the node builds it: a push (an array on a RESP2 connection).
    fn frame(protocol: u8, items: Vec<Frame>) -> Frame {
        if protocol == 3 {
            Frame::Push(items)
        } else {
            Frame::Array(items)
        }
    }

    fn decode_all(mut out: BytesMut) -> Vec<Frame> {
        let mut decoder = resp_core::Decoder::new();
        let mut frames = Vec::new();
        while let Some(f) = decoder.decode(&mut out).expect("valid RESP") {
            frames.push(f);
        }
        assert!(out.is_empty(), "whole frames");
        frames
    }

    /// Sends one command to node `n` of `servers` on `conn`: every frame written back.
    fn send<S: Servers>(
        servers: &mut S,
        n: u16,
        conn: NodeConnId,
        now: Instant,
        args: &[&str],
    ) -> Vec<Frame> {
        let mut wire = BytesMut::new();
        resp_core::encode_command(&mut wire, args.iter().copied());
        let mut out = BytesMut::new();
        assert_eq!(servers.receive(n, conn, &wire, now, &mut out), Ok(1));
        decode_all(out)
    }

    /// What the nodes wrote on their own, decoded, per (node, connection).
    fn messages<S: Servers>(servers: &mut S) -> Vec<(u16, NodeConnId, Frame)> {
        let mut all = Vec::new();
        for outage in servers.take_messages() {
            let crate::sim::Outage::Send { node, conn, data } = outage else {
                panic!("only sends");
            };
            for f in decode_all(BytesMut::from(&data[..])) {
                all.push((node, conn, f));
            }
        }
        all
    }

    fn hello3(node: &mut FakeNode, conn: NodeConnId, now: Instant) {
        send(node, 0, conn, now, &["HELLO", "3"]);
    }

    #[test]
    fn subscribers_get_messages_and_pattern_messages_in_their_protocol() {
        for protocol in [2u8, 3] {
            let now = Clock::new().now();
            let mut node = FakeNode::new(NodeConfig::default());
            let sub = node.accept();
            let publisher = node.accept();
            if protocol == 3 {
                hello3(&mut node, sub, now);
            }
            let confirmations = send(&mut node, 0, sub, now, &["SUBSCRIBE", "a", "b"]);
            let confirm = |name: &str, ch: &str, n: i64| {
                frame(protocol, vec![bulk(name), bulk(ch), Frame::Integer(n)])
            };
            assert_eq!(
                confirmations,
                vec![confirm("subscribe", "a", 1), confirm("subscribe", "b", 2)]
            );
            assert_eq!(
                send(&mut node, 0, sub, now, &["PSUBSCRIBE", "a*"]),
                vec![confirm("psubscribe", "a*", 3)]
            );
            assert_eq!(
                send(&mut node, 0, publisher, now, &["PUBLISH", "a", "hi"]),
                vec![Frame::Integer(2)],
                "the channel and the pattern"
            );
            assert_eq!(
                send(&mut node, 0, publisher, now, &["PUBLISH", "zz", "x"]),
                vec![Frame::Integer(0)]
            );
            let got = messages(&mut node);
            assert_eq!(
                got,
                vec![
                    (
                        0,
                        sub,
                        frame(protocol, vec![bulk("message"), bulk("a"), bulk("hi")])
                    ),
                    (
                        0,
                        sub,
                        frame(
                            protocol,
                            vec![bulk("pmessage"), bulk("a*"), bulk("a"), bulk("hi")]
                        )
                    ),
                ]
            );
            assert_eq!(
                send(&mut node, 0, sub, now, &["UNSUBSCRIBE"]),
                vec![
                    confirm("unsubscribe", "a", 2),
                    confirm("unsubscribe", "b", 1)
                ],
                "all channels, the pattern stays"
            );
            assert_eq!(
                send(&mut node, 0, publisher, now, &["PUBLISH", "b", "x"]),
                vec![Frame::Integer(0)]
            );
        }
    }

    #[test]
    fn a_subscribed_resp2_connection_only_takes_pubsub_commands() {
        let now = Clock::new().now();
        let mut node = FakeNode::new(NodeConfig::default());
        let c = node.accept();
        send(&mut node, 0, c, now, &["SUBSCRIBE", "a"]);
        let refused = send(&mut node, 0, c, now, &["GET", "k"]);
        assert!(
            matches!(&refused[..], [Frame::SimpleError(e)] if e.starts_with(b"ERR Can't execute 'get'")),
            "{refused:?}"
        );
        assert_eq!(
            send(&mut node, 0, c, now, &["PING"]),
            vec![Frame::Array(vec![bulk("pong"), bulk("")])]
        );
        assert_eq!(
            send(&mut node, 0, c, now, &["RESET"]),
            vec![Frame::SimpleString("RESET".into())]
        );
        assert_eq!(node.subscribed_connections(), 0);
        assert!(send(&mut node, 0, c, now, &["GET", "k"])[0].is_null());
        assert_eq!(
            send(&mut node, 0, c, now, &["PING"]),
            vec![Frame::SimpleString("PONG".into())]
        );
        assert_eq!(
            send(&mut node, 0, c, now, &["UNSUBSCRIBE"]),
            vec![Frame::Array(vec![
                bulk("unsubscribe"),
                Frame::NullBulkString,
                Frame::Integer(0)
            ])],
            "nothing to leave"
        );
    }

    #[test]
    fn a_resp3_connection_mixes_and_hears_itself_before_the_reply() {
        let now = Clock::new().now();
        let mut node = FakeNode::new(NodeConfig::default());
        let c = node.accept();
        hello3(&mut node, c, now);
        send(&mut node, 0, c, now, &["SUBSCRIBE", "a"]);
        assert!(send(&mut node, 0, c, now, &["GET", "k"])[0].is_null());
        assert_eq!(
            send(&mut node, 0, c, now, &["PUBLISH", "a", "me"]),
            vec![
                Frame::Push(vec![bulk("message"), bulk("a"), bulk("me")]),
                Frame::Integer(1)
            ]
        );
        assert!(messages(&mut node).is_empty());
    }

    #[test]
    fn denied_channels_are_refused_with_noperm_and_subscriptions_die_with_the_process() {
        let now = Clock::new().now();
        let mut node = FakeNode::new(NodeConfig::default().deny_channels("secret."));
        let c = node.accept();
        let refused = send(&mut node, 0, c, now, &["SUBSCRIBE", "ok", "secret.x"]);
        assert!(
            matches!(&refused[..], [Frame::SimpleError(e)] if e.starts_with(b"NOPERM")),
            "{refused:?}"
        );
        assert_eq!(
            node.subscriptions_of(c),
            Vec::<String>::new(),
            "nothing kept"
        );
        send(&mut node, 0, c, now, &["SUBSCRIBE", "ok"]);
        node.restart();
        let p = node.accept();
        assert_eq!(
            send(&mut node, 0, p, now, &["PUBLISH", "ok", "x"]),
            vec![Frame::Integer(0)]
        );
    }

    /// A shard channel named `<prefix><i>` whose slot node `n` owns.
    fn channel_on(c: &FakeCluster, n: u16, prefix: &str) -> String {
        (0..)
            .map(|i| format!("{prefix}{i}"))
            .find(|k| c.truth().owner(resp_core::slot(k.as_bytes())) == Some(n))
            .expect("some channel")
    }

    #[test]
    fn cluster_shard_channels_route_like_keys_and_reach_their_shard_only() {
        let now = Clock::new().now();
        // Primaries 0 and 1; replica 2 of 0, replica 3 of 1.
        let mut cluster = FakeCluster::new(ClusterConfig::new(2, 1));
        let ch0 = channel_on(&cluster, 0, "s");
        let ch1 = channel_on(&cluster, 1, "s");
        let on0 = cluster.accept(0);
        let moved = send(&mut cluster, 0, on0, now, &["SSUBSCRIBE", &ch1]);
        assert!(
            matches!(&moved[..], [Frame::SimpleError(e)] if e.starts_with(b"MOVED")),
            "{moved:?}"
        );
        let cross = send(&mut cluster, 0, on0, now, &["SSUBSCRIBE", &ch0, &ch1]);
        assert!(
            matches!(&cross[..], [Frame::SimpleError(e)] if e.starts_with(b"CROSSSLOT")),
            "{cross:?}"
        );
        assert_eq!(
            send(&mut cluster, 0, on0, now, &["SSUBSCRIBE", &ch0]),
            vec![Frame::Array(vec![
                bulk("ssubscribe"),
                bulk(&ch0),
                Frame::Integer(1)
            ])]
        );
        // Redis 7 lets a replica serve shard channels of its primary without READONLY.
        let on2 = cluster.accept(2);
        send(&mut cluster, 2, on2, now, &["SSUBSCRIBE", &ch0]);
        let on3 = cluster.accept(3);
        let moved = send(&mut cluster, 3, on3, now, &["SSUBSCRIBE", &ch0]);
        assert!(matches!(&moved[..], [Frame::SimpleError(e)] if e.starts_with(b"MOVED")));
        send(&mut cluster, 3, on3, now, &["SUBSCRIBE", "all"]);

        let publisher = cluster.accept(0);
        assert_eq!(
            send(&mut cluster, 0, publisher, now, &["SPUBLISH", &ch0, "x"]),
            vec![Frame::Integer(1)],
            "the count is the node's own subscribers"
        );
        let got = messages(&mut cluster);
        let smessage = Frame::Array(vec![bulk("smessage"), bulk(&ch0), bulk("x")]);
        assert_eq!(got, vec![(0, on0, smessage.clone()), (2, on2, smessage)]);

        let on1 = cluster.accept(1);
        send(&mut cluster, 1, on1, now, &["PUBLISH", "all", "y"]);
        let got = messages(&mut cluster);
        assert_eq!(
            got,
            vec![(
                3,
                on3,
                Frame::Array(vec![bulk("message"), bulk("all"), bulk("y")])
            )],
            "PUBLISH reaches every node's subscribers"
        );
    }

    #[test]
    fn a_slot_leaving_a_node_ends_its_shard_subscriptions_there() {
        let now = Clock::new().now();
        let mut cluster = FakeCluster::new(ClusterConfig::new(2, 1));
        let ch = channel_on(&cluster, 0, "m");
        let other = channel_on(&cluster, 0, "n");
        let slot = resp_core::slot(ch.as_bytes());
        let sub = cluster.accept(0);
        send(&mut cluster, 0, sub, now, &["SSUBSCRIBE", &ch]);
        let keeps = cluster.accept(0);
        send(&mut cluster, 0, keeps, now, &["SSUBSCRIBE", &other]);
        // Migrating: still served by the source.
        cluster.change_view(
            0,
            &ViewChange::Migrating {
                slots: slot..=slot,
                to: 1,
            },
        );
        assert!(messages(&mut cluster).is_empty());
        let publisher = cluster.accept(0);
        assert_eq!(
            send(&mut cluster, 0, publisher, now, &["SPUBLISH", &ch, "x"]),
            vec![Frame::Integer(1)]
        );
        messages(&mut cluster);
        // The slot is given away: the subscriber is told, the other slot's is not.
        cluster.change_everywhere(&ViewChange::Owner {
            slots: slot..=slot,
            node: 1,
        });
        let got = messages(&mut cluster);
        assert_eq!(
            got,
            vec![(
                0,
                sub,
                Frame::Array(vec![bulk("sunsubscribe"), bulk(&ch), Frame::Integer(0)])
            )]
        );
        assert_eq!(cluster.node(0).unwrap().subscriptions_of(keeps).len(), 1);
        // A failover moves every slot of the shard: the promoted replica's subscribers of
        // them are told too (Redis's clusterDelSlot on the new primary).
        let on2 = cluster.accept(2);
        send(&mut cluster, 2, on2, now, &["SSUBSCRIBE", &other]);
        cluster.change_everywhere(&ViewChange::Promote { node: 2 });
        let got = messages(&mut cluster);
        let told: Vec<(u16, NodeConnId)> = got.iter().map(|(n, c, _)| (*n, *c)).collect();
        assert_eq!(told, vec![(0, keeps), (2, on2)]);
    }

    #[test]
    fn a_sentinel_primary_replicates_publish_and_a_replica_does_not() {
        let now = Clock::new().now();
        let mut set = FakeSentinels::new(SentinelConfig::new("svc", 1, 1));
        let on_replica = set.accept(1);
        send(&mut set, 1, on_replica, now, &["SUBSCRIBE", "a"]);
        let on_primary = set.accept(0);
        send(&mut set, 0, on_primary, now, &["SUBSCRIBE", "a"]);
        let p = set.accept(0);
        assert_eq!(
            send(&mut set, 0, p, now, &["PUBLISH", "a", "1"]),
            vec![Frame::Integer(1)]
        );
        let got = messages(&mut set);
        let told: Vec<(u16, NodeConnId)> = got.iter().map(|(n, c, _)| (*n, *c)).collect();
        assert_eq!(told, vec![(0, on_primary), (1, on_replica)]);
        let r = set.accept(1);
        send(&mut set, 1, r, now, &["PUBLISH", "a", "2"]);
        let got = messages(&mut set);
        let told: Vec<(u16, NodeConnId)> = got.iter().map(|(n, c, _)| (*n, *c)).collect();
        assert_eq!(
            told,
            vec![(1, on_replica)],
            "a replica's PUBLISH stays there"
        );
    }

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob_match(b"news.*", b"news.sport"));
        assert!(glob_match(b"news.*", b"news."));
        assert!(!glob_match(b"news.*", b"new"));
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(!glob_match(b"h?llo", b"hllo"));
        assert!(glob_match(b"*a*b", b"xxaxxb"));
        assert!(!glob_match(b"*a*b", b"xxaxxbc"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a\\*", b"a*"));
        assert!(!glob_match(b"a\\*", b"ab"));
        assert!(glob_match(b"**x", b"abx"));
    }
}
