//! [`FakeSentinel`]: one Redis Sentinel process as a sans-IO state machine, with its own
//! belief of which data node is the primary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use resp_core::Frame;

use super::{sentinel_id, sentinel_ip, sentinel_port};
use crate::sim::cluster::{node_id, node_ip, node_port};
use crate::sim::node::{
    BAD_CLIENT_NAME, CommandReader, NodeConnId, ReadsCommands, authenticate, encode_for, error,
    feed, next_command, ok, unknown_command, valid_client_name,
};

/// The commands a sentinel knows, with Redis's arity (negative: at least that many).
const COMMANDS: &[(&str, i32)] = &[
    ("PING", -1),
    ("SENTINEL", -2),
    ("SUBSCRIBE", -2),
    ("UNSUBSCRIBE", -1),
    ("PSUBSCRIBE", -2),
    ("PUNSUBSCRIBE", -1),
    ("HELLO", -1),
    ("AUTH", -2),
    ("CLIENT", -2),
    ("ROLE", 1),
    ("INFO", -1),
];

/// What a RESP2 connection may still send once it subscribed.
const WHILE_SUBSCRIBED: &[&str] = &[
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PSUBSCRIBE",
    "PUNSUBSCRIBE",
    "PING",
];

/// What a sentinel sees of the deployment it watches, besides its own beliefs: handed to it
/// with each command, since the [`FakeSentinels`](super::FakeSentinels) own the nodes.
#[derive(Debug)]
pub(super) struct Watched {
    /// The name it monitors the primary under.
    pub(super) service: String,
    /// Every data node: its number, whether it runs, and its replication offset.
    pub(super) nodes: Vec<(u16, bool, i64)>,
    /// Every sentinel: its index and whether it runs.
    pub(super) sentinels: Vec<(u16, bool)>,
    /// How long an unreachable node takes to be flagged `s_down`.
    pub(super) down_after: Duration,
    /// The quorum of the service.
    pub(super) quorum: usize,
}

#[derive(Debug)]
struct SentinelConn {
    reader: CommandReader,
    /// 2 or 3.
    protocol: u8,
    user: Option<String>,
    name: Option<Bytes>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
}

impl ReadsCommands for SentinelConn {
    fn reader(&mut self) -> &mut CommandReader {
        &mut self.reader
    }
}

impl SentinelConn {
    fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// One Redis 7 sentinel, as a state machine: connections in, commands in, replies out, and
/// pub/sub messages when its beliefs change.
///
/// It speaks RESP2 and RESP3 (`HELLO 3`): `HELLO [protover [AUTH user pass] [SETNAME name]]`,
/// `AUTH`, `CLIENT SETNAME|GETNAME|SETINFO|ID`, `PING`, `ROLE`, `INFO`,
/// `SENTINEL GET-MASTER-ADDR-BY-NAME|MASTER|MASTERS|SENTINELS|REPLICAS|SLAVES|MYID`, and
/// `SUBSCRIBE`, `PSUBSCRIBE`, `UNSUBSCRIBE`, `PUNSUBSCRIBE` (confirmations as push frames in
/// RESP3, arrays in RESP2). A RESP2 connection that subscribed may only (un)subscribe and
/// `PING` (answered `["pong", ""]`), as in Redis; RESP3 ones may send anything.
///
/// Its belief (the primary it names) changes only when told: [`FakeSentinels`] has it switch
/// after a failover, publishing `+switch-master`, or lie.
///
/// [`FakeSentinels`]: super::FakeSentinels
#[derive(Debug)]
pub struct FakeSentinel {
    index: u16,
    users: Vec<(String, String)>,
    conns: BTreeMap<u64, SentinelConn>,
    next_conn: u64,
    /// The data node it names as the primary.
    primary: u16,
    /// It names `primary` whatever happens (a stale or lying sentinel).
    lying: bool,
    /// Its configuration epoch: one more per switch.
    epoch: u64,
    /// Data nodes it takes for subjectively down.
    down: BTreeSet<u16>,
    history: Vec<(NodeConnId, Vec<Bytes>)>,
}

impl FakeSentinel {
    /// Sentinel `index`, naming data node `primary`, requiring one of `users` to log in
    /// when not empty.
    pub(super) fn new(index: u16, primary: u16, users: Vec<(String, String)>) -> Self {
        Self {
            index,
            users,
            conns: BTreeMap::new(),
            next_conn: 0,
            primary,
            lying: false,
            epoch: 0,
            down: BTreeSet::new(),
            history: Vec::new(),
        }
    }

    /// Its index among the sentinels.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// The data node it names as the primary.
    pub fn names(&self) -> u16 {
        self.primary
    }

    /// Whether it keeps naming the same node whatever happens.
    pub fn is_lying(&self) -> bool {
        self.lying
    }

    /// The data nodes it flags `s_down`.
    pub fn flagged_down(&self) -> &BTreeSet<u16> {
        &self.down
    }

    /// Its configuration epoch: how many times it switched.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Connections subscribed to `channel` (by name or by a pattern that matches it).
    pub fn subscribers(&self, channel: &str) -> usize {
        self.conns
            .values()
            .filter(|c| {
                c.channels.contains(channel.as_bytes())
                    || c.patterns.iter().any(|p| glob(p, channel.as_bytes()))
            })
            .count()
    }

    /// Every command it received, with its connection.
    pub fn history(&self) -> &[(NodeConnId, Vec<Bytes>)] {
        &self.history
    }

    /// The protocol (2 or 3) `conn` speaks.
    pub fn protocol_of(&self, conn: NodeConnId) -> Option<u8> {
        self.conns.get(&conn.0).map(|c| c.protocol)
    }

    /// The name `conn` set.
    pub fn name_of(&self, conn: NodeConnId) -> Option<&[u8]> {
        self.conns.get(&conn.0).and_then(|c| c.name.as_deref())
    }

    /// Accepts a new connection: RESP2, not authenticated, not subscribed.
    pub(super) fn accept(&mut self) -> NodeConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            id,
            SentinelConn {
                reader: CommandReader::new(),
                protocol: 2,
                user: None,
                name: None,
                channels: BTreeSet::new(),
                patterns: BTreeSet::new(),
            },
        );
        NodeConnId(id)
    }

    /// Forgets a connection.
    pub(super) fn close(&mut self, conn: NodeConnId) {
        self.conns.remove(&conn.0);
    }

    /// The process restarts: every connection (and subscription) is gone.
    pub(super) fn restart(&mut self) {
        self.conns.clear();
    }

    /// Names `node` from now on, whatever happens.
    pub(super) fn lie(&mut self, node: u16) {
        self.primary = node;
        self.lying = true;
    }

    /// Names `node` without telling anyone (a sentinel that restarts with the current
    /// configuration); a lying sentinel stays as it is.
    pub(super) fn adopt(&mut self, node: u16) {
        if !self.lying && self.primary != node {
            self.primary = node;
            self.epoch += 1;
        }
    }

    /// Switches to `to`, as after a failover: publishes `+switch-master <service> <old ip>
    /// <old port> <new ip> <new port>`. Returns the messages for its subscribers; nothing
    /// when it names `to` already, or lies.
    pub(super) fn switch(&mut self, to: u16, service: &str) -> Vec<(NodeConnId, Bytes)> {
        if self.lying || self.primary == to {
            return Vec::new();
        }
        let from = std::mem::replace(&mut self.primary, to);
        self.epoch += 1;
        let payload = format!(
            "{service} {} {} {} {}",
            node_ip(from),
            node_port(from),
            node_ip(to),
            node_port(to)
        );
        self.publish("+switch-master", &payload)
    }

    /// Flags data node `node` `s_down` (or clears it), publishing `+sdown` (`-sdown`) as
    /// Redis does: `<master|slave> <name> <ip> <port>`, then `@ <service> <ip> <port>` of the
    /// primary for a replica. Nothing when the flag does not change.
    pub(super) fn flag(
        &mut self,
        node: u16,
        down: bool,
        service: &str,
    ) -> Vec<(NodeConnId, Bytes)> {
        let changed = if down {
            self.down.insert(node)
        } else {
            self.down.remove(&node)
        };
        if !changed {
            return Vec::new();
        }
        let (ip, port) = (node_ip(node), node_port(node));
        let payload = if node == self.primary {
            format!("master {service} {ip} {port}")
        } else {
            let (pip, pport) = (node_ip(self.primary), node_port(self.primary));
            format!("slave {ip}:{port} {ip} {port} @ {service} {pip} {pport}")
        };
        self.publish(if down { "+sdown" } else { "-sdown" }, &payload)
    }

    /// `message` (or `pmessage`) frames for every connection subscribed to `channel`, each
    /// encoded in its protocol.
    pub(super) fn publish(&self, channel: &str, payload: &str) -> Vec<(NodeConnId, Bytes)> {
        let bulk = |b: &[u8]| Frame::BulkString(Bytes::copy_from_slice(b));
        let mut sent = Vec::new();
        for (&id, c) in &self.conns {
            let mut out = BytesMut::new();
            if c.channels.contains(channel.as_bytes()) {
                let message = Frame::Push(vec![
                    bulk(b"message"),
                    bulk(channel.as_bytes()),
                    bulk(payload.as_bytes()),
                ]);
                encode_for(&message, c.protocol, &mut out);
            }
            for pattern in c.patterns.iter().filter(|p| glob(p, channel.as_bytes())) {
                let message = Frame::Push(vec![
                    bulk(b"pmessage"),
                    bulk(pattern),
                    bulk(channel.as_bytes()),
                    bulk(payload.as_bytes()),
                ]);
                encode_for(&message, c.protocol, &mut out);
            }
            if !out.is_empty() {
                sent.push((NodeConnId(id), out.freeze()));
            }
        }
        sent
    }

    /// Bytes arrived on `conn`: runs every complete command, appends the replies to `out`.
    /// Returns how many commands ran.
    ///
    /// # Errors
    ///
    /// When the bytes are not commands: the connection is then closed.
    pub(super) fn receive(
        &mut self,
        conn: NodeConnId,
        data: &[u8],
        out: &mut BytesMut,
        watched: &Watched,
    ) -> Result<usize, String> {
        feed(&mut self.conns, conn, data)?;
        let mut ran = 0;
        while let Some(args) = next_command(&mut self.conns, conn)? {
            self.history.push((conn, args.clone()));
            let replies = self.execute(conn, &args, watched);
            let protocol = self.conns.get(&conn.0).map_or(2, |c| c.protocol);
            for reply in replies {
                // A null array is RESP2's null; RESP3 has one null.
                let reply = match reply {
                    Frame::NullArray if protocol == 3 => Frame::Null,
                    other => other,
                };
                encode_for(&reply, protocol, out);
            }
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs one command; most answer one frame, (un)subscriptions one per channel.
    fn execute(&mut self, conn: NodeConnId, args: &[Bytes], watched: &Watched) -> Vec<Frame> {
        let upper = args[0].to_ascii_uppercase();
        let Some(&(name, arity)) = COMMANDS.iter().find(|(n, _)| n.as_bytes() == &upper[..]) else {
            return vec![unknown_command(args)];
        };
        let count = args.len() as i32;
        if (arity > 0 && count != arity) || (arity < 0 && count < -arity) {
            let lower = name.to_ascii_lowercase();
            return vec![error(&format!(
                "ERR wrong number of arguments for '{lower}' command"
            ))];
        }
        let c = self.conns.get_mut(&conn.0).expect("open");
        if !self.users.is_empty() && c.user.is_none() && !matches!(name, "AUTH" | "HELLO") {
            return vec![error("NOAUTH Authentication required.")];
        }
        let subscribed = c.protocol == 2 && c.subscriptions() > 0;
        if subscribed && !WHILE_SUBSCRIBED.contains(&name) {
            let lower = name.to_ascii_lowercase();
            return vec![error(&format!(
                "ERR Can't execute '{lower}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / \
                 QUIT / RESET are allowed in this context"
            ))];
        }
        let bulk = |text: &str| Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()));
        match name {
            "PING" if subscribed => vec![Frame::Array(vec![
                bulk("pong"),
                args.get(1).cloned().map_or(bulk(""), Frame::BulkString),
            ])],
            "PING" => vec![match args.get(1) {
                Some(message) => Frame::BulkString(message.clone()),
                None => Frame::SimpleString(Bytes::from_static(b"PONG")),
            }],
            "AUTH" => {
                let user = args.get(2).map(|_| &args[1]);
                vec![
                    match authenticate(&self.users, user, args.last().expect("arity")) {
                        Ok(user) => {
                            c.user = Some(user);
                            ok()
                        }
                        Err(e) => e,
                    },
                ]
            }
            "HELLO" => vec![self.hello(conn, args)],
            "CLIENT" => {
                let sub = args[1].to_ascii_uppercase();
                vec![match (&sub[..], args.len()) {
                    (b"SETNAME", 3) if !valid_client_name(&args[2]) => error(BAD_CLIENT_NAME),
                    (b"SETNAME", 3) => {
                        c.name = Some(args[2].clone());
                        ok()
                    }
                    (b"GETNAME", 2) => c.name.clone().map_or(Frame::Null, Frame::BulkString),
                    (b"ID", 2) => Frame::Integer(conn.0 as i64),
                    (b"SETINFO", 4) => ok(),
                    _ => error(&format!(
                        "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                        String::from_utf8_lossy(&args[1])
                    )),
                }]
            }
            "ROLE" => vec![Frame::Array(vec![
                bulk("sentinel"),
                Frame::Array(vec![bulk(&watched.service)]),
            ])],
            "INFO" => vec![self.info(watched)],
            "SUBSCRIBE" | "PSUBSCRIBE" => {
                let pattern = name == "PSUBSCRIBE";
                let kind = if pattern { "psubscribe" } else { "subscribe" };
                args[1..]
                    .iter()
                    .map(|channel| {
                        let set = if pattern {
                            &mut c.patterns
                        } else {
                            &mut c.channels
                        };
                        set.insert(channel.clone());
                        Frame::Push(vec![
                            bulk(kind),
                            Frame::BulkString(channel.clone()),
                            Frame::Integer(c.subscriptions() as i64),
                        ])
                    })
                    .collect()
            }
            "UNSUBSCRIBE" | "PUNSUBSCRIBE" => {
                let pattern = name == "PUNSUBSCRIBE";
                let kind = if pattern {
                    "punsubscribe"
                } else {
                    "unsubscribe"
                };
                let set = if pattern { &c.patterns } else { &c.channels };
                let targets: Vec<Bytes> = if args.len() > 1 {
                    args[1..].to_vec()
                } else {
                    set.iter().cloned().collect()
                };
                if targets.is_empty() {
                    return vec![Frame::Push(vec![
                        bulk(kind),
                        Frame::Null,
                        Frame::Integer(0),
                    ])];
                }
                targets
                    .into_iter()
                    .map(|channel| {
                        let set = if pattern {
                            &mut c.patterns
                        } else {
                            &mut c.channels
                        };
                        set.remove(&channel);
                        Frame::Push(vec![
                            bulk(kind),
                            Frame::BulkString(channel),
                            Frame::Integer(c.subscriptions() as i64),
                        ])
                    })
                    .collect()
            }
            _ => vec![self.sentinel_command(args, watched)],
        }
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`, as a Redis 7 sentinel answers it.
    fn hello(&mut self, conn: NodeConnId, args: &[Bytes]) -> Frame {
        let mut protocol = None;
        if let Some(version) = args.get(1) {
            match std::str::from_utf8(version)
                .ok()
                .and_then(|v| v.parse().ok())
            {
                Some(v @ (2 | 3)) => protocol = Some(v),
                Some(_) => return error("NOPROTO unsupported protocol version"),
                None => return error("ERR Protocol version is not an integer or out of range"),
            }
        }
        let (mut user, mut name) = (None, None);
        let mut i = 2;
        while i < args.len() {
            let option = args[i].to_ascii_uppercase();
            match &option[..] {
                b"AUTH" if i + 2 < args.len() => {
                    match authenticate(&self.users, Some(&args[i + 1]), &args[i + 2]) {
                        Ok(u) => user = Some(u),
                        Err(e) => return e,
                    }
                    i += 3;
                }
                b"SETNAME" if i + 1 < args.len() => {
                    if !valid_client_name(&args[i + 1]) {
                        return error(BAD_CLIENT_NAME);
                    }
                    name = Some(args[i + 1].clone());
                    i += 2;
                }
                _ => {
                    let shown = String::from_utf8_lossy(&args[i]);
                    return error(&format!("ERR Syntax error in HELLO option '{shown}'"));
                }
            }
        }
        let c = self.conns.get_mut(&conn.0).expect("open");
        if user.is_none() && c.user.is_none() && !self.users.is_empty() {
            return error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the \
                 client and select the RESP protocol version at the same time",
            );
        }
        if user.is_some() {
            c.user = user;
        }
        if name.is_some() {
            c.name = name;
        }
        if let Some(protocol) = protocol {
            c.protocol = protocol;
        }
        let field = |k: &'static str| Frame::BulkString(Bytes::from_static(k.as_bytes()));
        Frame::Map(vec![
            (field("server"), field("redis")),
            (field("version"), field("7.2.0")),
            (field("proto"), Frame::Integer(i64::from(c.protocol))),
            (field("id"), Frame::Integer(conn.0 as i64)),
            (field("mode"), field("sentinel")),
            (field("role"), field("master")),
            (field("modules"), Frame::Array(Vec::new())),
        ])
    }

    /// `INFO`: the `# Sentinel` section.
    fn info(&self, watched: &Watched) -> Frame {
        let status = if self.down.contains(&self.primary) {
            "sdown"
        } else {
            "ok"
        };
        let text = format!(
            "# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\nsentinel_running_scripts:0\r\n\
             master0:name={},status={status},address={}:{},slaves={},sentinels={}\r\n",
            watched.service,
            node_ip(self.primary),
            node_port(self.primary),
            self.replicas(watched).len(),
            watched.sentinels.len(),
        );
        Frame::verbatim(*b"txt", text)
    }

    /// `SENTINEL <subcommand> ...`.
    fn sentinel_command(&self, args: &[Bytes], watched: &Watched) -> Frame {
        let sub = args[1].to_ascii_uppercase();
        let service = args.get(2).map(|s| &s[..]);
        let known = service == Some(watched.service.as_bytes());
        let arity = |n: usize, label: &str| {
            (args.len() != n).then(|| {
                error(&format!(
                    "ERR wrong number of arguments for 'sentinel|{label}' command"
                ))
            })
        };
        let no_such = || error("ERR No such master with that name");
        match &sub[..] {
            b"GET-MASTER-ADDR-BY-NAME" => {
                if let Some(e) = arity(3, "get-master-addr-by-name") {
                    return e;
                }
                if !known {
                    return Frame::NullArray;
                }
                Frame::Array(vec![
                    Frame::BulkString(node_ip(self.primary).into()),
                    Frame::BulkString(node_port(self.primary).to_string().into()),
                ])
            }
            b"MASTER" => {
                if let Some(e) = arity(3, "master") {
                    return e;
                }
                if known {
                    self.master_entry(watched)
                } else {
                    no_such()
                }
            }
            b"MASTERS" => Frame::Array(vec![self.master_entry(watched)]),
            b"REPLICAS" | b"SLAVES" => {
                let label = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
                if let Some(e) = arity(3, &label) {
                    return e;
                }
                if !known {
                    return no_such();
                }
                Frame::Array(
                    self.replicas(watched)
                        .into_iter()
                        .map(|(n, up, offset)| self.replica_entry(n, up, offset, watched))
                        .collect(),
                )
            }
            b"SENTINELS" => {
                if let Some(e) = arity(3, "sentinels") {
                    return e;
                }
                if !known {
                    return no_such();
                }
                Frame::Array(
                    watched
                        .sentinels
                        .iter()
                        .filter(|(i, _)| *i != self.index)
                        .map(|&(i, up)| sentinel_entry(i, up, watched))
                        .collect(),
                )
            }
            b"MYID" => Frame::BulkString(sentinel_id(self.index).into()),
            _ => error(&format!(
                "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
                String::from_utf8_lossy(&args[1])
            )),
        }
    }

    /// The data nodes it lists as replicas: all but the one it names.
    fn replicas(&self, watched: &Watched) -> Vec<(u16, bool, i64)> {
        watched
            .nodes
            .iter()
            .copied()
            .filter(|&(n, _, _)| n != self.primary)
            .collect()
    }

    /// The primary as `SENTINEL MASTER` shows it.
    fn master_entry(&self, watched: &Watched) -> Frame {
        let n = self.primary;
        let up = watched.nodes.iter().any(|&(m, up, _)| m == n && up);
        let mut flags = Vec::new();
        if self.down.contains(&n) {
            flags.extend(["s_down", "o_down"]);
        }
        flags.push("master");
        if !up {
            flags.push("disconnected");
        }
        let mut fields = common_fields(
            watched.service.clone(),
            &node_ip(n),
            node_port(n),
            node_id(n),
            &flags,
            watched.down_after,
        );
        let others = watched.sentinels.len().saturating_sub(1);
        fields.extend([
            ("info-refresh", "100".into()),
            ("role-reported", "master".into()),
            ("role-reported-time", "1000".into()),
            ("config-epoch", self.epoch.to_string()),
            ("num-slaves", self.replicas(watched).len().to_string()),
            ("num-other-sentinels", others.to_string()),
            ("quorum", watched.quorum.to_string()),
            ("failover-timeout", "180000".into()),
            ("parallel-syncs", "1".into()),
        ]);
        entry(fields)
    }

    /// A replica as `SENTINEL REPLICAS` shows it: flags `slave`, with `s_down` when this
    /// sentinel flags it and `disconnected` when it does not run.
    fn replica_entry(&self, n: u16, up: bool, offset: i64, watched: &Watched) -> Frame {
        let mut flags = Vec::new();
        if self.down.contains(&n) {
            flags.push("s_down");
        }
        flags.push("slave");
        if !up {
            flags.push("disconnected");
        }
        let primary_ok = !self.down.contains(&self.primary)
            && watched
                .nodes
                .iter()
                .any(|&(m, up, _)| m == self.primary && up);
        let (ip, port) = (node_ip(n), node_port(n));
        let mut fields = common_fields(
            format!("{ip}:{port}"),
            &ip,
            port,
            node_id(n),
            &flags,
            watched.down_after,
        );
        fields.extend([
            ("info-refresh", "100".into()),
            ("role-reported", "slave".into()),
            ("role-reported-time", "1000".into()),
            (
                "master-link-down-time",
                if primary_ok { "0" } else { "1000" }.into(),
            ),
            (
                "master-link-status",
                if primary_ok { "ok" } else { "err" }.into(),
            ),
            ("master-host", node_ip(self.primary)),
            ("master-port", node_port(self.primary).to_string()),
            ("slave-priority", "100".into()),
            ("slave-repl-offset", offset.to_string()),
            ("replica-announced", "1".into()),
        ]);
        entry(fields)
    }
}

/// Another sentinel as `SENTINEL SENTINELS` shows it: named by its run id, flagged
/// `s_down,sentinel,disconnected` when it does not run.
fn sentinel_entry(i: u16, up: bool, watched: &Watched) -> Frame {
    let flags: &[&str] = if up {
        &["sentinel"]
    } else {
        &["s_down", "sentinel", "disconnected"]
    };
    let mut fields = common_fields(
        sentinel_id(i),
        &sentinel_ip(i),
        sentinel_port(i),
        sentinel_id(i),
        flags,
        watched.down_after,
    );
    fields.extend([
        ("last-hello-message", "500".into()),
        ("voted-leader", "?".into()),
        ("voted-leader-epoch", "0".into()),
    ]);
    entry(fields)
}

/// The fields every instance starts with, in Redis's order.
fn common_fields(
    name: String,
    ip: &str,
    port: u16,
    runid: String,
    flags: &[&str],
    down_after: Duration,
) -> Vec<(&'static str, String)> {
    vec![
        ("name", name),
        ("ip", ip.to_owned()),
        ("port", port.to_string()),
        ("runid", runid),
        ("flags", flags.join(",")),
        ("link-pending-commands", "0".into()),
        ("link-refcount", "1".into()),
        ("last-ping-sent", "0".into()),
        ("last-ok-ping-reply", "100".into()),
        ("last-ping-reply", "100".into()),
        (
            "down-after-milliseconds",
            down_after.as_millis().to_string(),
        ),
    ]
}

/// An instance's fields as a map of bulk strings (flattened to an array in RESP2).
fn entry(fields: Vec<(&'static str, String)>) -> Frame {
    Frame::Map(
        fields
            .into_iter()
            .map(|(k, v)| {
                (
                    Frame::BulkString(Bytes::from_static(k.as_bytes())),
                    Frame::BulkString(v.into()),
                )
            })
            .collect(),
    )
}

/// Whether `text` matches the glob `pattern`: `*` matches any run of bytes, `?` any one
/// byte, `\` escapes the next byte (character classes are not supported).
pub(super) fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && glob(&rest[1..], &text[1..])
        }
        Some((&b, rest)) => text.first() == Some(&b) && glob(rest, &text[1..]),
    }
}
