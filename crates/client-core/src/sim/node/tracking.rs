//! Client-side caching on a [`FakeNode`]: `CLIENT TRACKING` and the invalidation pushes it
//! sends, as Redis 7 does.
//!
//! - `CLIENT TRACKING ON [BCAST] [PREFIX p ...] [NOLOOP]` and `CLIENT TRACKING OFF`;
//!   `PREFIX` without `BCAST` is refused as Redis refuses it, and `REDIRECT`, `OPTIN` and
//!   `OPTOUT` are not supported. With [`NodeConfig::tracking`](super::NodeConfig::tracking)
//!   off the node does not know the subcommand (a server before 6, or a proxy).
//! - Default mode: the keys a tracking connection reads (commands the table flags
//!   `readonly`) are remembered for it until they are invalidated; a write to such a key sends
//!   `>2 invalidate [key]` to each connection that read it (the writer included, unless
//!   `NOLOOP`), and forgets them. Broadcast mode: every write to a key under one of the
//!   connection's prefixes (any key without prefixes) is sent, read or not.
//! - A write is a command the table flags `write`, run on this node by a client (directly or
//!   inside `EXEC`), and `EVAL`/`EVALSHA` for the keys they declare. `FLUSHALL` and `FLUSHDB`
//!   send the null invalidation `>2 invalidate _` to every tracking connection and empty the
//!   table. What the node does not see as a command does not invalidate: keys expiring by
//!   time, writes a replica copies from its primary, and keys a cluster migration moves.
//! - Only RESP3 connections get pushes (RESP2 would need `REDIRECT`, as in Redis).
//! - The writer's own invalidations follow its reply (Redis 7 holds them until the reply is
//!   written); the others' leave at once, through the node's outbox like pub/sub messages
//!   (an [`Outage::Send`](crate::sim::Outage::Send)), after what that connection was already sent.
//!   So, as with Redis, on every connection a reply that shows a key's old value comes
//!   before the invalidation of that key.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use resp_core::Frame;

use super::cluster::{key_positions, spec_of};
use super::{FakeNode, NodeConnId, error, ok};
use crate::command::CommandFlags;

/// One connection's `CLIENT TRACKING` settings.
#[derive(Clone, Debug, Default)]
struct Tracker {
    bcast: bool,
    prefixes: Vec<Bytes>,
    noloop: bool,
}

/// A node's tracking state.
#[derive(Debug, Default)]
pub(super) struct Tracking {
    /// Connections with tracking on.
    trackers: BTreeMap<u64, Tracker>,
    /// Default mode: who read each key since its last invalidation.
    table: BTreeMap<Bytes, BTreeSet<u64>>,
    /// Invalidations for the connection whose command is running: they follow its reply.
    after_reply: Vec<Bytes>,
    /// Invalidation pushes sent, for tests: (to, keys; `None` for a flush).
    sent: Vec<(NodeConnId, Option<Vec<Bytes>>)>,
}

/// What an invalidation says.
enum Invalidate {
    Keys(Vec<Bytes>),
    All,
}

impl FakeNode {
    /// `CLIENT TRACKING ON|OFF [BCAST] [PREFIX p]... [NOLOOP]`.
    pub(super) fn client_tracking(&mut self, conn: NodeConnId, args: &[Bytes]) -> Frame {
        let Some(switch) = args.get(2).map(|a| a.to_ascii_uppercase()) else {
            return error("ERR wrong number of arguments for 'client|tracking' command");
        };
        let mut tracker = Tracker::default();
        let mut i = 3;
        while i < args.len() {
            match &args[i].to_ascii_uppercase()[..] {
                b"BCAST" => tracker.bcast = true,
                b"NOLOOP" => tracker.noloop = true,
                b"PREFIX" if i + 1 < args.len() => {
                    tracker.prefixes.push(args[i + 1].clone());
                    i += 1;
                }
                b"REDIRECT" | b"OPTIN" | b"OPTOUT" => {
                    return error("ERR the fake node does not support REDIRECT, OPTIN or OPTOUT");
                }
                _ => return error("ERR syntax error"),
            }
            i += 1;
        }
        match &switch[..] {
            b"ON" if !tracker.bcast && !tracker.prefixes.is_empty() => {
                error("ERR PREFIX option requires BCAST mode to be enabled")
            }
            b"ON" => {
                self.tracking.trackers.insert(conn.0, tracker);
                ok()
            }
            b"OFF" => {
                self.tracking_forget(conn);
                ok()
            }
            _ => error("ERR syntax error"),
        }
    }

    /// Connection `conn` closed, or turned tracking off.
    pub(super) fn tracking_forget(&mut self, conn: NodeConnId) {
        self.tracking.trackers.remove(&conn.0);
        self.tracking.table.retain(|_, readers| {
            readers.remove(&conn.0);
            !readers.is_empty()
        });
    }

    /// The node restarted: no connection tracks any more.
    pub(super) fn tracking_reset(&mut self) {
        self.tracking = Tracking {
            sent: std::mem::take(&mut self.tracking.sent),
            ..Tracking::default()
        };
    }

    /// Command `name` ran on `conn` and answered `reply`: a read remembers its keys for a
    /// tracking connection, a write invalidates its keys.
    pub(super) fn track(
        &mut self,
        conn: NodeConnId,
        name: &'static str,
        args: &[Bytes],
        reply: &Frame,
    ) {
        if self.tracking.trackers.is_empty() {
            return;
        }
        let Some(spec) = spec_of(name) else {
            return;
        };
        if matches!(name, "FLUSHALL" | "FLUSHDB") {
            self.tracking.table.clear();
            self.invalidate(conn, &Invalidate::All);
            return;
        }
        let keys: Vec<Bytes> = key_positions(name, args)
            .into_iter()
            .map(|i| args[i].clone())
            .collect();
        if keys.is_empty() {
            return;
        }
        let writes = spec.flags.contains(CommandFlags::WRITE) || matches!(name, "EVAL" | "EVALSHA");
        if writes && !reply.is_error() {
            self.invalidate(conn, &Invalidate::Keys(keys));
        } else if spec.flags.contains(CommandFlags::READONLY)
            && self
                .tracking
                .trackers
                .get(&conn.0)
                .is_some_and(|t| !t.bcast)
        {
            for key in keys {
                self.tracking.table.entry(key).or_default().insert(conn.0);
            }
        }
    }

    /// Sends what `invalidation` means to every connection it concerns; `writer` ran it.
    fn invalidate(&mut self, writer: NodeConnId, invalidation: &Invalidate) {
        // Per recipient, the keys it is told about, in order.
        let mut recipients: BTreeMap<u64, Vec<Bytes>> = BTreeMap::new();
        match invalidation {
            Invalidate::All => {
                for &to in self.tracking.trackers.keys() {
                    recipients.insert(to, Vec::new());
                }
            }
            Invalidate::Keys(keys) => {
                for key in keys {
                    if let Some(readers) = self.tracking.table.remove(key) {
                        for to in readers {
                            recipients.entry(to).or_default().push(key.clone());
                        }
                    }
                    for (&to, tracker) in &self.tracking.trackers {
                        let covered = tracker.prefixes.is_empty()
                            || tracker.prefixes.iter().any(|p| key.starts_with(p));
                        if tracker.bcast && covered {
                            recipients.entry(to).or_default().push(key.clone());
                        }
                    }
                }
            }
        }
        for (to, mut keys) in recipients {
            let Some(tracker) = self.tracking.trackers.get(&to) else {
                continue;
            };
            if to == writer.0 && tracker.noloop {
                continue;
            }
            if self.protocol_of(NodeConnId(to)) != Some(3) {
                continue;
            }
            let all = matches!(invalidation, Invalidate::All);
            keys.dedup();
            let payload = if all {
                Frame::Null
            } else {
                Frame::Array(keys.iter().cloned().map(Frame::BulkString).collect())
            };
            let push = Frame::Push(vec![
                Frame::BulkString(Bytes::from_static(b"invalidate")),
                payload,
            ]);
            self.tracking
                .sent
                .push((NodeConnId(to), (!all).then_some(keys)));
            if to == writer.0 {
                let mut bytes = BytesMut::new();
                push.encode(&mut bytes);
                self.tracking.after_reply.push(bytes.freeze());
            } else {
                // Other connections get it through the node's outbox, as pub/sub messages.
                self.outbox.push((NodeConnId(to), push));
            }
        }
    }

    /// After the reply to a command of the writer: its own invalidations.
    pub(super) fn tracking_after_reply(&mut self, out: &mut BytesMut) {
        for push in self.tracking.after_reply.drain(..) {
            out.extend_from_slice(&push);
        }
    }

    /// Whether `conn` has tracking on.
    pub fn is_tracking(&self, conn: NodeConnId) -> bool {
        self.tracking.trackers.contains_key(&conn.0)
    }

    /// Every invalidation push the node sent (or, for a closed connection, meant to), in
    /// order: to whom, and the keys (`None` for a flush).
    pub fn invalidations_sent(&self) -> &[(NodeConnId, Option<Vec<Bytes>>)] {
        &self.tracking.sent
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use resp_core::{Decoder, Frame};

    use super::*;
    use crate::sim::{Clock, NodeConfig};

    /// Runs `args` on `conn`: its reply, then whatever followed it (its own invalidations).
    fn run(node: &mut FakeNode, conn: NodeConnId, args: &[&str]) -> (Frame, Vec<Frame>) {
        let mut wire = BytesMut::new();
        resp_core::encode_command(&mut wire, args.iter().copied());
        let mut out = BytesMut::new();
        let now = Clock::new().now();
        node.receive(conn, &wire, now, &mut out).expect("commands");
        let mut decoder = Decoder::new();
        let reply = decoder.decode(&mut out).unwrap().expect("a reply");
        let mut after = Vec::new();
        while let Some(frame) = decoder.decode(&mut out).unwrap() {
            after.push(frame);
        }
        (reply, after)
    }

    fn invalidate(keys: Option<&[&str]>) -> Frame {
        let payload = keys.map_or(Frame::Null, |keys| {
            Frame::Array(
                keys.iter()
                    .map(|k| Frame::BulkString(Bytes::copy_from_slice(k.as_bytes())))
                    .collect(),
            )
        });
        Frame::Push(vec![Frame::BulkString("invalidate".into()), payload])
    }

    /// The pushes on their way to other connections, decoded, by connection (one write may
    /// carry several).
    fn sent(node: &mut FakeNode) -> Vec<(NodeConnId, Frame)> {
        let mut frames = Vec::new();
        for (conn, data) in node.take_messages() {
            let mut data = BytesMut::from(&data[..]);
            let mut decoder = Decoder::new();
            while let Some(frame) = decoder.decode(&mut data).unwrap() {
                frames.push((conn, frame));
            }
        }
        frames
    }

    fn tracking_conn(node: &mut FakeNode, options: &[&str]) -> NodeConnId {
        let conn = node.accept();
        run(node, conn, &["HELLO", "3"]);
        let mut args = vec!["CLIENT", "TRACKING", "ON"];
        args.extend_from_slice(options);
        assert_eq!(run(node, conn, &args).0, ok());
        conn
    }

    #[test]
    fn writes_invalidate_the_keys_each_connection_read_once() {
        let mut node = FakeNode::new(NodeConfig::default());
        let reader = tracking_conn(&mut node, &[]);
        let writer = node.accept();
        run(&mut node, writer, &["HSET", "h", "f", "0"]);
        run(&mut node, reader, &["GET", "k"]);
        run(&mut node, reader, &["HGET", "h", "f"]);
        assert!(sent(&mut node).is_empty());
        run(&mut node, writer, &["SET", "k", "1"]);
        assert_eq!(sent(&mut node), [(reader, invalidate(Some(&["k"])))]);
        // Forgotten once invalidated: the next write sends nothing until it is read again.
        run(&mut node, writer, &["SET", "k", "2"]);
        assert!(sent(&mut node).is_empty());
        // A failed write changes nothing.
        run(&mut node, writer, &["RPUSH", "h", "x"]);
        assert!(sent(&mut node).is_empty());
        // The reader's own write: the invalidation follows its reply.
        let (reply, after) = run(&mut node, reader, &["HSET", "h", "f", "v"]);
        assert_eq!(reply, Frame::Integer(0));
        assert_eq!(after, [invalidate(Some(&["h"]))]);
        assert!(sent(&mut node).is_empty());
        // A flush: a null invalidation to every tracking connection.
        let other = tracking_conn(&mut node, &["NOLOOP"]);
        run(&mut node, reader, &["GET", "k"]);
        let (_, after) = run(&mut node, other, &["FLUSHALL"]);
        assert!(after.is_empty(), "NOLOOP");
        assert_eq!(sent(&mut node), [(reader, invalidate(None))]);
        run(&mut node, reader, &["GET", "k"]);
        run(&mut node, writer, &["FLUSHDB"]);
        assert_eq!(
            sent(&mut node),
            [(reader, invalidate(None)), (other, invalidate(None))]
        );
        assert_eq!(node.invalidations_sent().len(), 5);
    }

    #[test]
    fn broadcast_mode_sends_every_write_under_the_prefixes() {
        let mut node = FakeNode::new(NodeConfig::default());
        let bcast = tracking_conn(&mut node, &["BCAST", "PREFIX", "user:"]);
        let writer = node.accept();
        run(&mut node, writer, &["SET", "user:1", "a"]);
        run(&mut node, writer, &["SET", "order:1", "a"]);
        run(&mut node, writer, &["SET", "user:1", "b"]);
        assert_eq!(
            sent(&mut node),
            [
                (bcast, invalidate(Some(&["user:1"]))),
                (bcast, invalidate(Some(&["user:1"])))
            ]
        );
    }

    #[test]
    fn tracking_is_refused_or_silent_as_in_redis() {
        let mut node = FakeNode::new(NodeConfig::default());
        let c = node.accept();
        let (reply, _) = run(&mut node, c, &["CLIENT", "TRACKING", "ON", "PREFIX", "a"]);
        assert!(reply.is_error());
        let (reply, _) = run(&mut node, c, &["CLIENT", "TRACKING", "ON", "OPTIN"]);
        assert!(reply.is_error());
        // RESP2 without REDIRECT: accepted, and nothing is ever sent.
        assert_eq!(run(&mut node, c, &["CLIENT", "TRACKING", "ON"]).0, ok());
        run(&mut node, c, &["GET", "k"]);
        let (_, after) = run(&mut node, c, &["SET", "k", "v"]);
        assert!(after.is_empty());
        // OFF, and a closed connection, stop it.
        let on = tracking_conn(&mut node, &[]);
        run(&mut node, on, &["GET", "k"]);
        assert_eq!(run(&mut node, on, &["CLIENT", "TRACKING", "OFF"]).0, ok());
        assert!(!node.is_tracking(on));
        run(&mut node, c, &["SET", "k", "w"]);
        assert!(sent(&mut node).is_empty());
        let closed = tracking_conn(&mut node, &[]);
        run(&mut node, closed, &["GET", "k"]);
        node.close(closed);
        run(&mut node, c, &["SET", "k", "x"]);
        assert!(sent(&mut node).is_empty());
        // An older server does not know the subcommand.
        let mut old = FakeNode::new(NodeConfig {
            tracking: false,
            ..NodeConfig::default()
        });
        let c = old.accept();
        let (reply, _) = run(&mut old, c, &["CLIENT", "TRACKING", "ON"]);
        assert!(reply.is_error());
    }
}
