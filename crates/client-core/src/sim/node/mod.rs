//! [`FakeNode`]: a small Redis server as a sans-IO state machine.

mod cluster;
mod keyspace;
mod pubsub;
mod replication;
#[cfg(test)]
mod tests;
mod tracking;

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use resp_core::{Decoder, Frame};

use self::cluster::ClusterRole;
pub use self::keyspace::StoredValue;
use self::keyspace::{Keyspace, parse_i64};
pub(crate) use self::pubsub::Publication;
use self::pubsub::Subscriptions;
pub use self::replication::ReplicationRole;
use self::replication::{READONLY, Replicated, is_write};

/// How a [`FakeNode`] behaves: which server version it mimics, and who may log in.
///
/// ```
/// use client_core::sim::NodeConfig;
/// let mut old_redis = NodeConfig::default().with_password("s3cret");
/// old_redis.hello = false; // Redis 5: no HELLO, no RESP3
/// old_redis.setinfo = false; // before 7.2: no CLIENT SETINFO
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeConfig {
    /// Whether the node knows `HELLO` (Redis 6 and later). Without it, `HELLO` is an unknown
    /// command and connections speak RESP2.
    pub hello: bool,
    /// Whether `HELLO 3` is accepted; without it, `HELLO 3` answers `NOPROTO` (a server or
    /// proxy that speaks RESP2 only).
    pub resp3: bool,
    /// Whether the node knows `CLIENT SETINFO` (Redis 7.2 and later).
    pub setinfo: bool,
    /// Whether a cluster node knows `CLUSTER SHARDS` (Redis 7 and later); without it, only
    /// `CLUSTER SLOTS`.
    pub cluster_shards: bool,
    /// Users and their passwords. When not empty, connections must authenticate first
    /// (`NOAUTH` otherwise). `AUTH <password>` logs in as `default`.
    pub users: Vec<(String, String)>,
    /// How many databases `SELECT` accepts (16, as Redis's default).
    pub databases: usize,
    /// Whether to keep every command received, for [`FakeNode::history`].
    pub record_commands: bool,
    /// Channel prefixes no user may use, as an ACL that denies them would: subscribing to,
    /// or publishing on, a channel (or pattern) that starts with one is refused with
    /// `-NOPERM`.
    pub denied_channels: Vec<String>,
    /// Whether the node knows `CLIENT TRACKING` (Redis 6 and later): client-side caching's
    /// invalidations (see `sim/node/tracking.rs`).
    pub tracking: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            hello: true,
            resp3: true,
            setinfo: true,
            cluster_shards: true,
            users: Vec::new(),
            databases: 16,
            record_commands: false,
            denied_channels: Vec::new(),
            tracking: true,
        }
    }
}

impl NodeConfig {
    /// Requires `password` for the `default` user.
    pub fn with_password(mut self, password: &str) -> Self {
        self.users.push(("default".into(), password.into()));
        self
    }

    /// Denies every channel that starts with `prefix` (see
    /// [`denied_channels`](Self::denied_channels)).
    pub fn deny_channels(mut self, prefix: &str) -> Self {
        self.denied_channels.push(prefix.into());
        self
    }

    /// Adds an ACL user that must authenticate with `password`.
    pub fn with_user(mut self, user: &str, password: &str) -> Self {
        self.users.push((user.into(), password.into()));
        self
    }
}

/// A connection accepted by a [`FakeNode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeConnId(pub u64);

/// How many times each command ran, per key: the evidence for "ran at most once".
///
/// A command counts when it executes (inside `EXEC` for a transaction, not when queued),
/// once under each of its keys (or the empty key for commands without one): `DEL a b` counts
/// a `DEL` of `a` and one of `b`. A script that increments a key also counts as an `INCR` of
/// that key. Writes a replica copies from its primary do not count: they ran once, on the
/// primary.
#[derive(Clone, Debug, Default)]
pub struct ExecutionLog {
    counts: BTreeMap<(&'static str, Bytes), u32>,
}

impl ExecutionLog {
    /// How many times `command` (upper case, e.g. `"INCR"`) ran on `key`.
    pub fn count(&self, command: &str, key: &[u8]) -> u32 {
        self.counts
            .iter()
            .filter(|((name, k), _)| *name == command && &k[..] == key)
            .map(|(_, n)| *n)
            .sum()
    }

    /// How many times `command` ran, on any key.
    pub fn total(&self, command: &str) -> u32 {
        self.counts
            .iter()
            .filter(|((name, _), _)| *name == command)
            .map(|(_, n)| *n)
            .sum()
    }

    fn record(&mut self, command: &'static str, key: Bytes) {
        *self.counts.entry((command, key)).or_default() += 1;
    }
}

/// A per-connection transaction between `MULTI` and `EXEC`.
#[derive(Debug, Default)]
struct Multi {
    queued: Vec<(&'static str, Vec<Bytes>)>,
    /// A command was refused while queuing: `EXEC` aborts.
    dirty: bool,
}

#[derive(Debug)]
struct NodeConn {
    reader: CommandReader,
    /// 2 or 3.
    protocol: u8,
    user: Option<String>,
    db: usize,
    name: Option<Bytes>,
    multi: Option<Multi>,
    /// `ASKING` was sent: the next command (or the next transaction) may use an importing
    /// slot.
    asking: bool,
    /// `READONLY` was sent: a replica serves reads of its primary's slots.
    readonly: bool,
    /// Its channels, patterns and shard channels.
    subscriptions: Subscriptions,
}

/// A Redis server as a state machine: connections in, bytes in, bytes out.
///
/// It reads no clock (time is an argument, for expiry) and does no I/O; the [`Sim`](super::Sim)
/// carries bytes to and from it. The keyspace is shared by all connections and survives
/// [`restart`](Self::restart), like a server with persistence; the script cache does not.
///
/// A node of a [`FakeCluster`](super::FakeCluster) also holds a
/// [`ClusterView`](super::ClusterView) and answers
/// like a Redis 7 cluster node: `-MOVED`, `-ASK`, `-TRYAGAIN`, `-CROSSSLOT`, `-CLUSTERDOWN`,
/// `ASKING`, `READONLY`, `READWRITE` and `CLUSTER SHARDS|SLOTS|KEYSLOT|MYID|INFO`.
#[derive(Debug)]
pub struct FakeNode {
    config: NodeConfig,
    keyspace: Keyspace,
    conns: BTreeMap<u64, NodeConn>,
    next_conn: u64,
    /// Loaded scripts, by digest.
    scripts: BTreeMap<String, Bytes>,
    log: ExecutionLog,
    history: Vec<(NodeConnId, Vec<Bytes>)>,
    cluster: Option<ClusterRole>,
    /// A standalone node's place among replicated data nodes.
    role: Option<ReplicationRole>,
    /// Writes run as a primary that the replicas have not copied yet.
    replication: Vec<Replicated>,
    /// The replication offset: writes run or copied so far.
    offset: i64,
    /// Pub/sub frames for connections, written on their own (messages, confirmations, a
    /// server-sent `sunsubscribe`): those for the connection a command came on go out before
    /// its reply; the others are taken by [`take_messages`](Self::take_messages).
    outbox: Vec<(NodeConnId, Frame)>,
    /// Messages published here since the last [`take_published`](Self::take_published), for
    /// the deployment to spread to other nodes.
    published: Vec<Publication>,
    /// `CLIENT TRACKING`: who tracks what, and invalidations on their way.
    tracking: tracking::Tracking,
}

/// The digest under which [`FakeNode`] caches a script for `EVALSHA`: its SHA-1, in hex, as
/// Redis computes it.
///
/// ```
/// assert_eq!(client_core::sim::script_sha("return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
/// ```
pub fn script_sha(script: &str) -> String {
    sha1_smol::Sha1::from(script.as_bytes())
        .digest()
        .to_string()
}

pub(super) fn ok() -> Frame {
    Frame::SimpleString(Bytes::from_static(b"OK"))
}

pub(super) fn error(message: &str) -> Frame {
    Frame::SimpleError(Bytes::copy_from_slice(message.as_bytes()))
}

/// The commands the node knows, with Redis's arity (negative: at least that many).
const COMMANDS: &[(&str, i32)] = &[
    ("PING", -1),
    ("ECHO", 2),
    ("GET", 2),
    ("SET", -3),
    ("INCR", 2),
    ("INCRBY", 3),
    ("DEL", -2),
    ("EXISTS", -2),
    ("EXPIRE", 3),
    ("PEXPIRE", 3),
    ("TTL", 2),
    ("PTTL", 2),
    ("LPUSH", -3),
    ("RPUSH", -3),
    ("LPOP", -2),
    ("RPOP", -2),
    ("LRANGE", 4),
    ("LLEN", 2),
    ("HSET", -4),
    ("HGET", 3),
    ("HGETALL", 2),
    ("HDEL", -3),
    ("HELLO", -1),
    ("AUTH", -2),
    ("SELECT", 2),
    ("CLIENT", -2),
    ("MULTI", 1),
    ("EXEC", 1),
    ("DISCARD", 1),
    ("EVAL", -3),
    ("EVALSHA", -3),
    ("SCRIPT", -2),
    ("DBSIZE", 1),
    ("FLUSHALL", -1),
    ("FLUSHDB", -1),
    ("MGET", -2),
    ("MSET", -3),
    ("UNLINK", -2),
    ("TOUCH", -2),
    ("CLUSTER", -2),
    ("ASKING", 1),
    ("READONLY", 1),
    ("READWRITE", 1),
    ("ROLE", 1),
    ("SUBSCRIBE", -2),
    ("PSUBSCRIBE", -2),
    ("SSUBSCRIBE", -2),
    ("UNSUBSCRIBE", -1),
    ("PUNSUBSCRIBE", -1),
    ("SUNSUBSCRIBE", -1),
    ("PUBLISH", 3),
    ("SPUBLISH", 3),
    ("QUIT", -1),
    ("RESET", 1),
];

/// Commands that take no key: logged under the empty key.
const KEYLESS: &[&str] = &[
    "PING",
    "ECHO",
    "HELLO",
    "AUTH",
    "SELECT",
    "CLIENT",
    "MULTI",
    "EXEC",
    "DISCARD",
    "SCRIPT",
    "DBSIZE",
    "FLUSHALL",
    "FLUSHDB",
    "CLUSTER",
    "ASKING",
    "READONLY",
    "READWRITE",
    "ROLE",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "PUBLISH",
    "SPUBLISH",
    "QUIT",
    "RESET",
];

impl FakeNode {
    /// A node with an empty keyspace.
    pub fn new(config: NodeConfig) -> Self {
        Self {
            keyspace: Keyspace::new(config.databases),
            config,
            conns: BTreeMap::new(),
            next_conn: 0,
            scripts: BTreeMap::new(),
            log: ExecutionLog::default(),
            history: Vec::new(),
            cluster: None,
            role: None,
            replication: Vec::new(),
            offset: 1,
            outbox: Vec::new(),
            published: Vec::new(),
            tracking: tracking::Tracking::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Accepts a new connection: RESP2, database 0, not authenticated.
    pub fn accept(&mut self) -> NodeConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        let conn = NodeConn {
            reader: CommandReader::new(),
            protocol: 2,
            user: None,
            db: 0,
            name: None,
            multi: None,
            asking: false,
            readonly: false,
            subscriptions: Subscriptions::default(),
        };
        self.conns.insert(id, conn);
        NodeConnId(id)
    }

    /// Forgets a connection (the peer closed it, or the network dropped it). Its unfinished
    /// transaction and any partial command are discarded.
    pub fn close(&mut self, conn: NodeConnId) {
        self.conns.remove(&conn.0);
        self.tracking_forget(conn);
    }

    /// Whether `conn` is open.
    pub fn is_open(&self, conn: NodeConnId) -> bool {
        self.conns.contains_key(&conn.0)
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Restarts the server: every connection is dropped and the script cache is emptied; the
    /// data stays (as with persistence).
    pub fn restart(&mut self) {
        self.conns.clear();
        self.scripts.clear();
        self.outbox.clear();
        self.published.clear();
        self.tracking_reset();
    }

    /// Bytes arrived on `conn`: runs every complete command in them, in order, and appends the
    /// replies to `out`. A partial command waits for more bytes. Returns how many commands
    /// ran.
    ///
    /// # Errors
    ///
    /// When the bytes are not commands (arrays of bulk strings): the connection is then
    /// closed, as a server does on a protocol error.
    pub fn receive(
        &mut self,
        conn: NodeConnId,
        data: &[u8],
        now: Instant,
        out: &mut BytesMut,
    ) -> Result<usize, String> {
        feed(&mut self.conns, conn, data)?;
        let mut ran = 0;
        while let Some(args) = next_command(&mut self.conns, conn)? {
            if self.config.record_commands {
                self.history.push((conn, args.clone()));
            }
            let reply = self.execute(conn, &args, now);
            // HELLO switches the protocol for its own reply already.
            let protocol = self.conns.get(&conn.0).map_or(2, |c| c.protocol);
            // Pub/sub frames for this connection (a message it published to itself, all but
            // the last confirmation) come before the reply, as in Redis.
            for frame in self.take_own(conn) {
                encode_for(&frame, protocol, out);
            }
            encode_for(&reply, protocol, out);
            self.tracking_after_reply(out);
            ran += 1;
        }
        Ok(ran)
    }

    /// The value of `key` in database `db` at `now`, if it exists and has not expired.
    pub fn value(&mut self, db: usize, key: &[u8], now: Instant) -> Option<&StoredValue> {
        self.keyspace.value(db, key, now)
    }

    /// The string under `key` in `db` at `now` (`None` if missing, expired or not a string).
    pub fn string(&mut self, db: usize, key: &[u8], now: Instant) -> Option<Bytes> {
        match self.value(db, key, now) {
            Some(StoredValue::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// How many times each command ran, per key.
    pub fn log(&self) -> &ExecutionLog {
        &self.log
    }

    /// Every command received, with its connection, when
    /// [`NodeConfig::record_commands`] is on.
    pub fn history(&self) -> &[(NodeConnId, Vec<Bytes>)] {
        &self.history
    }

    /// Takes over from `old`, an earlier process of this node: what ran there stays in the
    /// execution log and history, and connection ids go on from where it stopped (a close of
    /// one of its connections must not hit one of this process's).
    pub(crate) fn inherit(&mut self, old: Self) {
        for (key, n) in old.log.counts {
            *self.log.counts.entry(key).or_default() += n;
        }
        let mut history = old.history;
        history.append(&mut self.history);
        self.history = history;
        self.next_conn = self.next_conn.max(old.next_conn);
    }

    /// The protocol (2 or 3) `conn` speaks.
    pub fn protocol_of(&self, conn: NodeConnId) -> Option<u8> {
        self.conns.get(&conn.0).map(|c| c.protocol)
    }

    /// The database `conn` selected.
    pub fn db_of(&self, conn: NodeConnId) -> Option<usize> {
        self.conns.get(&conn.0).map(|c| c.db)
    }

    /// The user `conn` authenticated as.
    pub fn user_of(&self, conn: NodeConnId) -> Option<&str> {
        self.conns.get(&conn.0).and_then(|c| c.user.as_deref())
    }

    /// The name `conn` set with `CLIENT SETNAME` or `HELLO ... SETNAME`.
    pub fn name_of(&self, conn: NodeConnId) -> Option<&[u8]> {
        self.conns.get(&conn.0).and_then(|c| c.name.as_deref())
    }

    /// Runs one command received on `conn`. `ASKING` covers only the command after it, or the
    /// whole transaction when that command is `MULTI`.
    fn execute(&mut self, conn: NodeConnId, args: &[Bytes], now: Instant) -> Frame {
        let reply = self.execute_command(conn, args, now);
        if let Some(c) = self.conns.get_mut(&conn.0)
            && c.multi.is_none()
            && !args[0].eq_ignore_ascii_case(b"ASKING")
        {
            c.asking = false;
        }
        reply
    }

    fn execute_command(&mut self, conn: NodeConnId, args: &[Bytes], now: Instant) -> Frame {
        let upper = args[0].to_ascii_uppercase();
        let known = COMMANDS
            .iter()
            .find(|(name, _)| name.as_bytes() == &upper[..]);
        let known = known.filter(|(name, _)| *name != "HELLO" || self.config.hello);
        let c = self.conns.get_mut(&conn.0).expect("open");
        let Some(&(name, arity)) = known else {
            if let Some(multi) = &mut c.multi {
                multi.dirty = true;
            }
            return unknown_command(args);
        };
        let count = args.len() as i32;
        if (arity > 0 && count != arity) || (arity < 0 && count < -arity) {
            if let Some(multi) = &mut c.multi {
                multi.dirty = true;
            }
            let lower = name.to_ascii_lowercase();
            return error(&format!(
                "ERR wrong number of arguments for '{lower}' command"
            ));
        }
        if !self.config.users.is_empty() && c.user.is_none() && !matches!(name, "AUTH" | "HELLO") {
            if let Some(multi) = &mut c.multi {
                multi.dirty = true;
            }
            return error("NOAUTH Authentication required.");
        }
        // An ACL refuses a channel before anything else looks at the command.
        if let Some(refusal) = self.channel_refusal(name, args) {
            if let Some(multi) = &mut self.conns.get_mut(&conn.0).expect("open").multi {
                multi.dirty = true;
            }
            return refusal;
        }
        // A replica refuses a write before it queues or runs it (EXEC checks the queued ones).
        if self.read_only() && is_write(name) {
            if let Some(multi) = &mut self.conns.get_mut(&conn.0).expect("open").multi {
                multi.dirty = true;
            }
            return error(READONLY);
        }
        // A cluster node checks a command's keys before it queues or runs it; EXEC checks
        // those of the whole transaction.
        if self.cluster.is_some()
            && !matches!(name, "MULTI" | "EXEC" | "DISCARD")
            && let Some(redirect) = self.route(conn, &[(name, args)], now)
        {
            if let Some(multi) = &mut self.conns.get_mut(&conn.0).expect("open").multi {
                multi.dirty = true;
            }
            return redirect;
        }
        // A RESP2 connection with subscriptions takes only pub/sub commands.
        if let Some(refusal) = self.subscribed_context_refusal(conn, name) {
            return refusal;
        }
        let c = self.conns.get_mut(&conn.0).expect("open");
        if let Some(multi) = &mut c.multi {
            match name {
                "EXEC" | "DISCARD" => {}
                "MULTI" => return error("ERR MULTI calls can not be nested"),
                _ => {
                    multi.queued.push((name, args.to_vec()));
                    return Frame::SimpleString(Bytes::from_static(b"QUEUED"));
                }
            }
        }
        match name {
            "MULTI" => {
                c.multi = Some(Multi::default());
                ok()
            }
            "DISCARD" => match c.multi.take() {
                Some(_) => ok(),
                None => error("ERR DISCARD without MULTI"),
            },
            "EXEC" => {
                let Some(Multi { queued, dirty }) = c.multi.take() else {
                    return error("ERR EXEC without MULTI");
                };
                // A redirection discards the transaction, before EXECABORT is considered.
                if let Some(redirect) = self.route_transaction(conn, &queued, now) {
                    return redirect;
                }
                if self.read_only() && queued.iter().any(|(name, _)| is_write(name)) {
                    return error(&format!(
                        "EXECABORT Transaction discarded because of: {READONLY}"
                    ));
                }
                if dirty {
                    return error("EXECABORT Transaction discarded because of previous errors.");
                }
                Frame::Array(
                    queued
                        .iter()
                        .map(|(name, args)| self.run(conn, name, args, now))
                        .collect(),
                )
            }
            _ => self.run(conn, name, args, now),
        }
    }

    /// Runs one command now (not queued), and logs it.
    fn run(&mut self, conn: NodeConnId, name: &'static str, args: &[Bytes], now: Instant) -> Frame {
        let keys = if KEYLESS.contains(&name) {
            Vec::new()
        } else {
            cluster::key_positions(name, args)
        };
        if keys.is_empty() {
            self.log.record(name, Bytes::new());
        }
        for i in keys {
            self.log.record(name, args[i].clone());
        }
        if let Some(reply) = self.pubsub_command(conn, name, args) {
            return reply;
        }
        let c = self.conns.get_mut(&conn.0).expect("open");
        let reply = match name {
            "PING" => match args.get(1) {
                Some(message) => Frame::BulkString(message.clone()),
                None => Frame::SimpleString(Bytes::from_static(b"PONG")),
            },
            "ECHO" => Frame::BulkString(args[1].clone()),
            "HELLO" => self.hello(conn, args),
            "AUTH" => match self
                .authenticate(args.get(2).map(|_| &args[1]), args.last().expect("arity"))
            {
                Ok(user) => {
                    self.conns.get_mut(&conn.0).expect("open").user = Some(user);
                    ok()
                }
                Err(e) => e,
            },
            "SELECT" => match parse_i64(&args[1]) {
                None => error("ERR value is not an integer or out of range"),
                Some(db) if db != 0 && self.cluster.is_some() => {
                    error("ERR SELECT is not allowed in cluster mode")
                }
                Some(db) if db < 0 || db as usize >= self.keyspace.databases() => {
                    error("ERR DB index is out of range")
                }
                Some(db) => {
                    c.db = db as usize;
                    ok()
                }
            },
            "CLIENT" => {
                let sub = args[1].to_ascii_uppercase();
                match (&sub[..], args.len()) {
                    (b"SETNAME", 3) if !valid_client_name(&args[2]) => error(BAD_CLIENT_NAME),
                    (b"SETNAME", 3) => {
                        c.name = Some(args[2].clone());
                        ok()
                    }
                    (b"GETNAME", 2) => c.name.clone().map_or(Frame::Null, Frame::BulkString),
                    (b"ID", 2) => Frame::Integer(conn.0 as i64),
                    (b"SETINFO", 4) if self.config.setinfo => ok(),
                    (b"TRACKING", _) if self.config.tracking => self.client_tracking(conn, args),
                    _ => error(&format!(
                        "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                        String::from_utf8_lossy(&args[1])
                    )),
                }
            }
            "EVAL" | "EVALSHA" => self.eval(name, conn, args, now),
            "SCRIPT" => {
                let sub = args[1].to_ascii_uppercase();
                match (&sub[..], args.get(2)) {
                    (b"LOAD", Some(script)) => {
                        let sha = script_sha(&String::from_utf8_lossy(script));
                        self.scripts.insert(sha.clone(), script.clone());
                        Frame::BulkString(sha.into())
                    }
                    (b"FLUSH", _) => {
                        self.scripts.clear();
                        ok()
                    }
                    _ => error("ERR unknown subcommand or wrong number of arguments for 'script'"),
                }
            }
            "CLUSTER" => self.cluster_command(args),
            "ROLE" => self.role_reply(),
            "ASKING" | "READONLY" | "READWRITE" if self.cluster.is_none() => {
                error("ERR This instance has cluster support disabled")
            }
            "ASKING" => {
                c.asking = true;
                ok()
            }
            "READONLY" | "READWRITE" => {
                c.readonly = name == "READONLY";
                ok()
            }
            _ => {
                let db = c.db;
                let reply = self.keyspace.run(db, name, args, now);
                self.replicate_out(db, name, args);
                reply
            }
        };
        self.track(conn, name, args, &reply);
        reply
    }

    /// `AUTH [user] password`: the user logged in, or the error reply.
    fn authenticate(&self, user: Option<&Bytes>, password: &Bytes) -> Result<String, Frame> {
        authenticate(&self.config.users, user, password)
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`. Like Redis, it checks the name
    /// before it authenticates or switches protocol.
    fn hello(&mut self, conn: NodeConnId, args: &[Bytes]) -> Frame {
        let mut protocol = None;
        if let Some(version) = args.get(1) {
            match parse_i64(version) {
                Some(2) => protocol = Some(2),
                Some(3) if self.config.resp3 => protocol = Some(3),
                Some(_) => return error("NOPROTO unsupported protocol version"),
                None => return error("ERR Protocol version is not an integer or out of range"),
            }
        }
        let (mut auth, mut name) = (None, None);
        let mut i = 2;
        while i < args.len() {
            let option = args[i].to_ascii_uppercase();
            match &option[..] {
                b"AUTH" if i + 2 < args.len() => {
                    auth = Some((&args[i + 1], &args[i + 2]));
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
        let user = match auth {
            Some((user, password)) => match self.authenticate(Some(user), password) {
                Ok(user) => Some(user),
                Err(e) => return e,
            },
            None => None,
        };
        let c = self.conns.get_mut(&conn.0).expect("open");
        if user.is_none() && c.user.is_none() && !self.config.users.is_empty() {
            return error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the \
                 client and select the RESP protocol version at the same time",
            );
        }
        if let Some(user) = user {
            c.user = Some(user);
        }
        if let Some(name) = name {
            c.name = Some(name);
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
            (
                field("mode"),
                field(if self.cluster.is_some() {
                    "cluster"
                } else {
                    "standalone"
                }),
            ),
            (
                field("role"),
                field(if self.is_replica() {
                    "replica"
                } else {
                    "master"
                }),
            ),
            (field("modules"), Frame::Array(Vec::new())),
        ])
    }

    /// `EVAL script numkeys ...` and `EVALSHA sha numkeys ...`, for two scripts:
    /// `return <integer>` and `return redis.call('INCR', KEYS[1])`.
    fn eval(&mut self, name: &str, conn: NodeConnId, args: &[Bytes], now: Instant) -> Frame {
        let script = if name == "EVAL" {
            let script = args[1].clone();
            self.scripts.insert(
                script_sha(&String::from_utf8_lossy(&script)),
                script.clone(),
            );
            script
        } else {
            let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
            match self.scripts.get(&sha) {
                Some(script) => script.clone(),
                None => return error("NOSCRIPT No matching script. Please use EVAL."),
            }
        };
        let Some(numkeys) = parse_i64(&args[2]).and_then(|n| usize::try_from(n).ok()) else {
            return error("ERR value is not an integer or out of range");
        };
        if numkeys > args.len() - 3 {
            return error("ERR Number of keys can't be greater than number of args");
        }
        let keys = &args[3..3 + numkeys];
        let text = String::from_utf8_lossy(&script);
        let body = text.trim().strip_prefix("return ").map(str::trim);
        if let Some(n) = body.and_then(|b| b.parse::<i64>().ok()) {
            return Frame::Integer(n);
        }
        if body == Some("redis.call('INCR', KEYS[1])") {
            let Some(key) = keys.first() else {
                return error("ERR user_script:1: Script attempted to access nonexistent key");
            };
            // The script fails at its write on a replica: the INCR never ran.
            if self.is_replica() {
                return error(READONLY);
            }
            self.log.record("INCR", key.clone());
            let db = self.conns.get(&conn.0).map_or(0, |c| c.db);
            let incr = [Bytes::from_static(b"INCR"), key.clone()];
            let reply = self.keyspace.run(db, "INCR", &incr, now);
            self.replicate_out(db, "INCR", &incr);
            return reply;
        }
        error("ERR user_script:1: the fake node only runs `return <integer>` and INCR scripts")
    }
}

/// Redis's answer to a command it does not know.
pub(super) fn unknown_command(args: &[Bytes]) -> Frame {
    let shown = String::from_utf8_lossy(&args[0]);
    let rest: Vec<String> = args[1..]
        .iter()
        .map(|a| format!("'{}'", String::from_utf8_lossy(a)))
        .collect();
    error(&format!(
        "ERR unknown command '{shown}', with args beginning with: {} ",
        rest.join(" ")
    ))
}

/// `AUTH [user] password` against `users`: the user logged in, or Redis's error reply.
pub(super) fn authenticate(
    users: &[(String, String)],
    user: Option<&Bytes>,
    password: &Bytes,
) -> Result<String, Frame> {
    let user = user.map_or("default".into(), |u| {
        String::from_utf8_lossy(u).into_owned()
    });
    if users.is_empty() && user == "default" {
        return Err(error(
            "ERR AUTH <password> called without any password configured for the default \
             user. Are you sure your configuration is correct?",
        ));
    }
    let password = String::from_utf8_lossy(password);
    if users.iter().any(|(u, p)| *u == user && *p == password) {
        Ok(user)
    } else {
        Err(error(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

/// The bytes a connection received that do not make a whole command yet.
#[derive(Debug)]
pub(super) struct CommandReader {
    decoder: Decoder,
    input: BytesMut,
}

impl CommandReader {
    /// Nothing received yet.
    pub(super) fn new() -> Self {
        Self {
            decoder: Decoder::new(),
            input: BytesMut::new(),
        }
    }
}

/// A server's connection, which reads commands.
pub(super) trait ReadsCommands {
    /// What it received and has not run yet.
    fn reader(&mut self) -> &mut CommandReader;
}

impl ReadsCommands for NodeConn {
    fn reader(&mut self) -> &mut CommandReader {
        &mut self.reader
    }
}

/// Bytes arrived on `conn`, one of `conns`.
///
/// # Errors
///
/// When `conn` is closed.
pub(super) fn feed<C: ReadsCommands>(
    conns: &mut BTreeMap<u64, C>,
    conn: NodeConnId,
    data: &[u8],
) -> Result<(), String> {
    let Some(c) = conns.get_mut(&conn.0) else {
        return Err(format!("connection {} is closed", conn.0));
    };
    c.reader().input.extend_from_slice(data);
    Ok(())
}

/// The arguments of the next whole command `conn` (one of `conns`, open) received, if any.
///
/// # Errors
///
/// When the bytes are not commands (arrays of bulk strings): the connection is then closed,
/// as a server does on a protocol error.
pub(super) fn next_command<C: ReadsCommands>(
    conns: &mut BTreeMap<u64, C>,
    conn: NodeConnId,
) -> Result<Option<Vec<Bytes>>, String> {
    let reader = conns.get_mut(&conn.0).expect("open").reader();
    let frame = match reader.decoder.decode(&mut reader.input) {
        Ok(Some(frame)) => frame,
        Ok(None) => return Ok(None),
        Err(e) => {
            conns.remove(&conn.0);
            return Err(format!("protocol error: {e}"));
        }
    };
    let Some(args) = command_args(frame) else {
        conns.remove(&conn.0);
        return Err("protocol error: expected an array of bulk strings".into());
    };
    Ok(Some(args))
}

/// The arguments of a command frame (an array of bulk strings).
pub(super) fn command_args(frame: Frame) -> Option<Vec<Bytes>> {
    let Frame::Array(items) = frame else {
        return None;
    };
    if items.is_empty() {
        return None;
    }
    items
        .into_iter()
        .map(|item| match item {
            Frame::BulkString(bytes) => Some(bytes),
            _ => None,
        })
        .collect()
}

/// Encodes `reply` for a connection speaking `protocol`: RESP3 as is, RESP2 with the RESP3
/// types mapped the way Redis maps them.
pub(super) fn encode_for(reply: &Frame, protocol: u8, out: &mut BytesMut) {
    if protocol == 3 {
        reply.encode(out);
    } else {
        to_resp2(reply.clone()).encode(out);
    }
}

fn to_resp2(frame: Frame) -> Frame {
    match frame {
        Frame::Map(pairs) => Frame::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [to_resp2(k), to_resp2(v)])
                .collect(),
        ),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            Frame::Array(items.into_iter().map(to_resp2).collect())
        }
        Frame::Null => Frame::NullBulkString,
        Frame::Boolean(b) => Frame::Integer(i64::from(b)),
        Frame::Double(d) => Frame::BulkString(d.to_string().into()),
        Frame::BulkError(message) => Frame::SimpleError(message),
        Frame::BigNumber(text) => Frame::BulkString(text),
        Frame::VerbatimString(verbatim) => Frame::BulkString(verbatim.text),
        Frame::Attributed { frame, .. } => to_resp2(*frame),
        other => other,
    }
}

/// Redis's answer to a client name it refuses.
pub(super) const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// Whether Redis accepts `name` as a client name: printable ASCII without spaces.
pub(super) fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}
