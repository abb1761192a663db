//! Client-side caching: the settings ([`CacheSettings`]), which reads may be cached, and the
//! bounded local store of their replies that server invalidations keep coherent.
//!
//! The [`Client`](crate::Client) turns `CLIENT TRACKING` on for its shared RESP3 connections
//! and keeps the replies of single-key reads sent on them here, each entry tied to the
//! connection whose tracking covers it. What empties entries, and why that is enough for no
//! stale read to be served once the server's invalidation arrived, is described in
//! `docs/architecture.md` ("Client-side caching") and on [`CacheSettings`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use resp_core::Frame;

use crate::command::Command;
use crate::event::{ConnId, RequestId};

/// Client-side caching: `CLIENT TRACKING` on the shared connections, and a bounded local copy
/// of the replies of single-key reads (`GET`, `HGETALL`, `LRANGE`, ...) that the server's
/// invalidation pushes keep coherent.
///
/// It needs RESP3: invalidations arrive as push frames on the connection that read the key.
/// With [`Protocol::Resp2`](crate::Protocol::Resp2), or on a server that does not speak RESP3,
/// the client sends no `CLIENT TRACKING` and caches nothing (RESP2 would need `REDIRECT` to a
/// subscribed connection, which redwire does not do); `Config::from_url` refuses
/// `cache_size` together with `protocol=2`.
///
/// ```
/// use std::time::Duration;
/// use client_core::{CacheSettings, Config};
/// let mut config = Config::new("127.0.0.1", 6379);
/// config.cache = Some(CacheSettings::new(10_000).ttl(Duration::from_secs(30)));
/// // Or only for keys under some prefixes, with one invalidation per write under them:
/// let bcast = CacheSettings::new(1_000).broadcast(["user:", "product:"]);
/// assert_eq!(bcast.max_entries, 1_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheSettings {
    /// The most replies kept at once, over every connection; past it the least recently used
    /// one goes. 0 caches nothing.
    pub max_entries: usize,
    /// How long a reply may be served from the cache at most (default 60 s), as a bound on
    /// staleness should an invalidation ever be lost with the connection still up.
    pub ttl: Duration,
    /// How the server tracks what this client caches.
    pub mode: TrackingMode,
}

impl CacheSettings {
    /// At most `max_entries` replies, kept up to 60 s, in [`TrackingMode::Default`].
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries,
            ttl: Duration::from_secs(60),
            mode: TrackingMode::Default,
        }
    }

    /// Keeps replies up to `ttl`.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Broadcast mode: only keys that start with one of `prefixes` are cached (every key when
    /// there are none), and the server invalidates every write under them.
    #[must_use]
    pub fn broadcast<P: Into<Bytes>>(mut self, prefixes: impl IntoIterator<Item = P>) -> Self {
        self.mode = TrackingMode::Broadcast {
            prefixes: prefixes.into_iter().map(Into::into).collect(),
        };
        self
    }

    /// Whether a read of `key` may be cached in this mode.
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        match &self.mode {
            TrackingMode::Default => true,
            TrackingMode::Broadcast { prefixes } => {
                prefixes.is_empty() || prefixes.iter().any(|p| key.starts_with(p))
            }
        }
    }

    /// The `CLIENT TRACKING` command that turns this mode on.
    pub(crate) fn tracking_command(&self) -> Command {
        let on = crate::command::cmd("CLIENT").arg("TRACKING").arg("ON");
        match &self.mode {
            TrackingMode::Default => on,
            TrackingMode::Broadcast { prefixes } => {
                prefixes.iter().fold(on.arg("BCAST"), |command, prefix| {
                    command.arg("PREFIX").arg(prefix.clone())
                })
            }
        }
    }
}

/// How the server tracks the keys a client caches (`CLIENT TRACKING ON [BCAST ...]`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TrackingMode {
    /// The server remembers which keys each connection read and invalidates those: precise,
    /// at the cost of server memory per cached key (`tracking-table-max-keys`; when that table
    /// is full the server invalidates keys to make room).
    #[default]
    Default,
    /// The server remembers nothing per key and invalidates every write to a key under the
    /// prefixes (every key with none), whether this client read it or not. Only keys under
    /// the prefixes are cached.
    Broadcast {
        /// The key prefixes.
        prefixes: Vec<Bytes>,
    },
}

/// The reads whose replies may be cached: read-only, deterministic, one key, the first
/// argument, and a reply that depends on that key's value and the arguments alone (no time,
/// no randomness, no other key). Lower case, sorted, as the command table names them.
const CACHEABLE: &[&str] = &[
    "bitcount",
    "bitpos",
    "exists",
    "get",
    "getbit",
    "getrange",
    "hexists",
    "hget",
    "hgetall",
    "hkeys",
    "hlen",
    "hmget",
    "hstrlen",
    "hvals",
    "lindex",
    "llen",
    "lpos",
    "lrange",
    "scard",
    "sismember",
    "smembers",
    "smismember",
    "strlen",
    "substr",
    "type",
    "xlen",
    "xrange",
    "xrevrange",
    "zcard",
    "zcount",
    "zlexcount",
    "zmscore",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrank",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscore",
];

/// Writes that change every key of a database, or swap databases: a local flush.
const FLUSHING: &[&str] = &["flushall", "flushdb", "swapdb"];

/// For a command whose reply may be cached: its Redis key and its whole encoding (the cache
/// key). `None` for any other command, and for one with an argument kept by reference.
pub(crate) fn cacheable(command: &Command) -> Option<(&[u8], &[u8])> {
    let spec = command.spec()?;
    CACHEABLE.binary_search(&spec.name).ok()?;
    // EXISTS takes several keys; only the one-key form is a single-key read.
    if spec.name == "exists" && command.arg_count() != 2 {
        return None;
    }
    Some((command.arg_bytes(1)?, command.encoded_args()?))
}

/// What a command that is not a cacheable read does to the cache when sent or acknowledged.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing: it only reads.
    None,
    /// It may change any key among its arguments.
    Keys,
    /// It changes a whole database.
    Flush,
}

/// See [`Effect`]. A command the table does not flag `readonly` may write; its keys are
/// looked for among all its arguments (a value that happens to name a cached key costs that
/// entry, nothing more), which also covers scripts and module commands whose keys the table
/// cannot locate.
pub(crate) fn effect(command: &Command) -> Effect {
    match command.spec() {
        Some(spec) if FLUSHING.contains(&spec.name) => Effect::Flush,
        Some(_) if command.is_read_only() => Effect::None,
        _ => Effect::Keys,
    }
}

/// The decoded payload of an invalidation push.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// These keys changed.
    Keys(Vec<Bytes>),
    /// Everything: after `FLUSHALL`/`FLUSHDB`, or when the server's tracking table was reset.
    All,
}

/// `>2 invalidate [keys]` or `>2 invalidate _`: the push the server sends a tracking RESP3
/// connection. `None` for any other frame.
pub(crate) fn invalidation(frame: &Frame) -> Option<Invalidation> {
    let Frame::Push(items) = frame else {
        return None;
    };
    let [name, keys] = &items[..] else {
        return None;
    };
    if name.as_bytes().is_none_or(|n| &n[..] != b"invalidate") {
        return None;
    }
    match keys {
        keys if keys.is_null() => Some(Invalidation::All),
        Frame::Array(keys) | Frame::Set(keys) => Some(Invalidation::Keys(
            keys.iter().filter_map(|k| k.as_bytes().cloned()).collect(),
        )),
        _ => None,
    }
}

/// One cached reply.
#[derive(Debug)]
struct Entry {
    frame: Frame,
    /// The Redis key it depends on.
    key: Bytes,
    expires_at: Instant,
    /// Its place in the LRU order.
    tick: u64,
}

/// A cacheable read on its way to the server: its reply is stored only if nothing made it
/// doubtful meanwhile.
#[derive(Debug)]
struct Fill {
    conn: ConnId,
    key: Bytes,
    command: Bytes,
    /// An invalidation of the key (or a flush of the connection) came after the read was
    /// written: the reply may predate it, so it is not stored.
    spoiled: bool,
}

/// Where an entry lives: the connection whose tracking covers it, and the encoded command.
type Slot = (ConnId, Bytes);

/// The local store: cached replies by connection and command, an index by Redis key for
/// invalidations, an LRU order for the bound, and the reads in flight that may fill it.
///
/// Ordered maps throughout, like the rest of the core: no hashing seeds, so the same inputs
/// give the same evictions.
#[derive(Debug)]
pub(crate) struct LocalCache {
    pub(crate) settings: CacheSettings,
    entries: BTreeMap<Slot, Entry>,
    by_key: BTreeMap<Bytes, BTreeSet<Slot>>,
    lru: BTreeMap<u64, Slot>,
    next_tick: u64,
    fills: BTreeMap<RequestId, Fill>,
    fills_by_key: BTreeMap<Bytes, BTreeSet<RequestId>>,
}

impl LocalCache {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        Self {
            settings,
            entries: BTreeMap::new(),
            by_key: BTreeMap::new(),
            lru: BTreeMap::new(),
            next_tick: 0,
            fills: BTreeMap::new(),
            fills_by_key: BTreeMap::new(),
        }
    }

    /// Replies held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The reply to `command` cached for `conn`, if there is one and it has not expired at
    /// `now` (an expired one is dropped).
    pub(crate) fn get(&mut self, conn: ConnId, command: &[u8], now: Instant) -> Option<Frame> {
        let slot = (conn, Bytes::copy_from_slice(command));
        let entry = self.entries.get_mut(&slot)?;
        if entry.expires_at <= now {
            self.remove(&slot);
            return None;
        }
        self.lru.remove(&entry.tick);
        entry.tick = self.next_tick;
        self.next_tick += 1;
        self.lru.insert(entry.tick, slot);
        Some(entry.frame.clone())
    }

    /// Request `id`, a read of `key` encoded as `command`, was written on `conn`. A request
    /// written again (after a lost connection) starts a new fill.
    pub(crate) fn begin_fill(&mut self, id: RequestId, conn: ConnId, key: &[u8], command: &[u8]) {
        self.end_fill(id);
        let key = Bytes::copy_from_slice(key);
        self.fills_by_key.entry(key.clone()).or_default().insert(id);
        let command = Bytes::copy_from_slice(command);
        let fill = Fill {
            conn,
            key,
            command,
            spoiled: false,
        };
        self.fills.insert(id, fill);
    }

    /// Request `id` is done (answered, failed, cancelled): forget its fill.
    pub(crate) fn end_fill(&mut self, id: RequestId) {
        if let Some(fill) = self.fills.remove(&id)
            && let Some(ids) = self.fills_by_key.get_mut(&fill.key)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.fills_by_key.remove(&fill.key);
            }
        }
    }

    /// The reply to request `id` arrived on `conn`: stores it when `id` is a fill written on
    /// `conn` that nothing spoiled, and the reply is a plain value (no error, no attributes).
    /// Returns whether it was stored.
    pub(crate) fn complete_fill(
        &mut self,
        id: RequestId,
        conn: ConnId,
        frame: &Frame,
        now: Instant,
    ) -> bool {
        let Some(fill) = self.fills.get(&id) else {
            return false;
        };
        let storable = !fill.spoiled
            && fill.conn == conn
            && !frame.is_error()
            && !matches!(frame, Frame::Attributed { .. } | Frame::Push(_))
            && self.settings.max_entries > 0;
        if !storable {
            return false;
        }
        let slot = (conn, fill.command.clone());
        let key = fill.key.clone();
        self.remove(&slot);
        while self.entries.len() >= self.settings.max_entries {
            let Some((_, oldest)) = self.lru.pop_first() else {
                break;
            };
            self.remove(&oldest);
        }
        let tick = self.next_tick;
        self.next_tick += 1;
        self.lru.insert(tick, slot.clone());
        self.by_key
            .entry(key.clone())
            .or_default()
            .insert(slot.clone());
        let entry = Entry {
            frame: frame.clone(),
            key,
            expires_at: now + self.settings.ttl,
            tick,
        };
        self.entries.insert(slot, entry);
        true
    }

    /// `key` changed: its entries go, on every connection, and reads of it in flight will not
    /// be stored. Returns how many entries went.
    pub(crate) fn invalidate(&mut self, key: &[u8]) -> usize {
        if let Some(ids) = self.fills_by_key.get(key) {
            for id in ids {
                if let Some(fill) = self.fills.get_mut(id) {
                    fill.spoiled = true;
                }
            }
        }
        let Some(slots) = self.by_key.remove(key) else {
            return 0;
        };
        let removed = slots.len();
        for slot in slots {
            if let Some(entry) = self.entries.remove(&slot) {
                self.lru.remove(&entry.tick);
            }
        }
        removed
    }

    /// Everything changed: every entry goes, no read in flight will be stored. Returns how
    /// many entries went.
    pub(crate) fn flush(&mut self) -> usize {
        let removed = self.entries.len();
        self.entries.clear();
        self.by_key.clear();
        self.lru.clear();
        for fill in self.fills.values_mut() {
            fill.spoiled = true;
        }
        removed
    }

    /// Connection `conn` is gone or replaced: its tracking covers nothing any more. Its
    /// entries go and its reads in flight will not be stored. Returns how many entries went.
    pub(crate) fn flush_conn(&mut self, conn: ConnId) -> usize {
        for fill in self.fills.values_mut().filter(|f| f.conn == conn) {
            fill.spoiled = true;
        }
        let slots: Vec<Slot> = self
            .entries
            .range((conn, Bytes::new())..)
            .take_while(|((c, _), _)| *c == conn)
            .map(|(slot, _)| slot.clone())
            .collect();
        for slot in &slots {
            self.remove(slot);
        }
        slots.len()
    }

    fn remove(&mut self, slot: &Slot) {
        let Some(entry) = self.entries.remove(slot) else {
            return;
        };
        self.lru.remove(&entry.tick);
        if let Some(slots) = self.by_key.get_mut(&entry.key) {
            slots.remove(slot);
            if slots.is_empty() {
                self.by_key.remove(&entry.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::cmd;

    /// A time to start from (the simulation clock's one real reading).
    fn t0() -> Instant {
        crate::sim::Clock::new().now()
    }

    fn id(n: u64) -> RequestId {
        RequestId(n)
    }

    fn bulk(s: &'static str) -> Frame {
        Frame::BulkString(Bytes::from_static(s.as_bytes()))
    }

    /// Caches `command` (a cacheable read) on `conn` with `reply`, as a miss then its reply.
    fn fill(cache: &mut LocalCache, n: u64, conn: u32, command: &Command, reply: &Frame) -> bool {
        let (key, encoded) = cacheable(command).expect("cacheable");
        cache.begin_fill(id(n), ConnId(conn), key, encoded);
        let stored = cache.complete_fill(id(n), ConnId(conn), reply, t0());
        cache.end_fill(id(n));
        stored
    }

    #[test]
    fn only_single_key_reads_are_cacheable() {
        assert!(cacheable(&cmd("GET").key("k")).is_some());
        assert!(cacheable(&cmd("get").key("k")).is_some());
        assert!(cacheable(&cmd("HGETALL").key("h")).is_some());
        assert!(cacheable(&cmd("EXISTS").key("a")).is_some());
        assert!(cacheable(&cmd("EXISTS").key("a").key("b")).is_none());
        assert!(cacheable(&cmd("SET").key("k").arg("v")).is_none());
        assert!(cacheable(&cmd("MGET").key("a").key("b")).is_none());
        assert!(cacheable(&cmd("TTL").key("k")).is_none(), "depends on time");
        assert!(cacheable(&cmd("SRANDMEMBER").key("s")).is_none(), "random");
        assert!(cacheable(&cmd("GET")).is_none(), "no key");
        let hget = cmd("HGET").key("h").arg("f");
        let (key, encoded) = cacheable(&hget).unwrap();
        assert_eq!(key, b"h");
        assert_eq!(encoded, b"$4\r\nHGET\r\n$1\r\nh\r\n$1\r\nf\r\n");
        // The table must stay sorted for the binary search.
        assert!(CACHEABLE.windows(2).all(|w| w[0] < w[1]));
        // Every name is a read-only command of the table.
        for name in CACHEABLE {
            let c = cmd(name).key("k");
            assert!(c.is_read_only(), "{name}");
        }
    }

    #[test]
    fn writes_and_flushes_are_told_apart() {
        assert_eq!(effect(&cmd("GET").key("k")), Effect::None);
        assert_eq!(effect(&cmd("SET").key("k").arg("v")), Effect::Keys);
        assert_eq!(effect(&cmd("EVAL").arg("s").arg(0)), Effect::Keys);
        assert_eq!(effect(&cmd("MY.MODULECMD").arg("k")), Effect::Keys);
        assert_eq!(effect(&cmd("FLUSHALL")), Effect::Flush);
        assert_eq!(effect(&cmd("flushdb").arg("ASYNC")), Effect::Flush);
    }

    #[test]
    fn invalidation_pushes_are_recognised() {
        let name = || bulk("invalidate");
        let keys = Frame::Array(vec![bulk("a"), bulk("b")]);
        assert_eq!(
            invalidation(&Frame::Push(vec![name(), keys.clone()])),
            Some(Invalidation::Keys(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            invalidation(&Frame::Push(vec![name(), Frame::Null])),
            Some(Invalidation::All)
        );
        assert_eq!(
            invalidation(&Frame::Array(vec![name(), keys.clone()])),
            None
        );
        assert_eq!(
            invalidation(&Frame::Push(vec![bulk("message"), keys])),
            None
        );
    }

    #[test]
    fn a_fill_is_served_until_its_key_is_invalidated() {
        let mut cache = LocalCache::new(CacheSettings::new(10));
        let get = cmd("GET").key("k");
        let now = t0();
        assert!(fill(&mut cache, 1, 0, &get, &bulk("v")));
        let encoded = get.encoded_args().unwrap();
        assert_eq!(cache.get(ConnId(0), encoded, now), Some(bulk("v")));
        assert_eq!(
            cache.get(ConnId(1), encoded, now),
            None,
            "another connection"
        );
        assert_eq!(cache.invalidate(b"other"), 0);
        assert_eq!(cache.invalidate(b"k"), 1);
        assert_eq!(cache.get(ConnId(0), encoded, now), None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_reply_whose_key_was_invalidated_in_flight_is_not_stored() {
        let mut cache = LocalCache::new(CacheSettings::new(10));
        let get = cmd("GET").key("k");
        let (key, encoded) = cacheable(&get).unwrap();
        cache.begin_fill(id(1), ConnId(0), key, encoded);
        cache.begin_fill(id(2), ConnId(0), b"j", encoded);
        cache.invalidate(b"k");
        assert!(!cache.complete_fill(id(1), ConnId(0), &bulk("old"), t0()));
        // Another key's fill is untouched.
        assert!(cache.complete_fill(id(2), ConnId(0), &bulk("j"), t0()));
        // Written again after a lost connection: a fresh fill.
        cache.begin_fill(id(1), ConnId(3), key, encoded);
        cache.flush_conn(ConnId(0));
        assert!(cache.complete_fill(id(1), ConnId(3), &bulk("new"), t0()));
        assert!(!cache.complete_fill(id(1), ConnId(4), &bulk("x"), t0()));
        cache.begin_fill(id(5), ConnId(3), key, encoded);
        cache.flush();
        assert!(!cache.complete_fill(id(5), ConnId(3), &bulk("x"), t0()));
        for n in [1, 2, 5] {
            cache.end_fill(id(n));
        }
        assert!(cache.fills.is_empty() && cache.fills_by_key.is_empty());
    }

    #[test]
    fn errors_and_unknown_requests_are_not_stored() {
        let mut cache = LocalCache::new(CacheSettings::new(10));
        let get = cmd("GET").key("k");
        let error = Frame::SimpleError("WRONGTYPE no".into());
        assert!(!fill(&mut cache, 1, 0, &get, &error));
        assert!(!cache.complete_fill(id(9), ConnId(0), &bulk("v"), t0()));
        let mut none = LocalCache::new(CacheSettings::new(0));
        assert!(!fill(&mut none, 1, 0, &get, &bulk("v")));
        assert_eq!(cache.len() + none.len(), 0);
    }

    #[test]
    fn the_least_recently_used_entry_makes_room() {
        let mut cache = LocalCache::new(CacheSettings::new(2));
        let now = t0();
        let (a, b, c) = (
            cmd("GET").key("a"),
            cmd("GET").key("b"),
            cmd("GET").key("c"),
        );
        fill(&mut cache, 1, 0, &a, &bulk("a"));
        fill(&mut cache, 2, 0, &b, &bulk("b"));
        // a is used, so b is the least recently used.
        assert!(
            cache
                .get(ConnId(0), a.encoded_args().unwrap(), now)
                .is_some()
        );
        fill(&mut cache, 3, 0, &c, &bulk("c"));
        assert_eq!(cache.len(), 2);
        assert!(
            cache
                .get(ConnId(0), b.encoded_args().unwrap(), now)
                .is_none()
        );
        assert!(
            cache
                .get(ConnId(0), a.encoded_args().unwrap(), now)
                .is_some()
        );
        assert!(
            cache
                .get(ConnId(0), c.encoded_args().unwrap(), now)
                .is_some()
        );
        // The index by key follows evictions.
        assert_eq!(cache.invalidate(b"b"), 0);
        assert_eq!(cache.lru.len(), 2);
        assert_eq!(cache.by_key.len(), 2);
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut cache = LocalCache::new(CacheSettings::new(10).ttl(Duration::from_secs(5)));
        let get = cmd("GET").key("k");
        let start = t0();
        let (key, encoded) = cacheable(&get).unwrap();
        cache.begin_fill(id(1), ConnId(0), key, encoded);
        cache.complete_fill(id(1), ConnId(0), &bulk("v"), start);
        let almost = start + Duration::from_millis(4_999);
        assert!(cache.get(ConnId(0), encoded, almost).is_some());
        assert!(
            cache
                .get(ConnId(0), encoded, start + Duration::from_secs(5))
                .is_none()
        );
        assert_eq!(cache.len(), 0, "dropped when found expired");
        assert!(cache.by_key.is_empty() && cache.lru.is_empty());
    }

    #[test]
    fn a_connection_flush_leaves_other_connections_alone() {
        let mut cache = LocalCache::new(CacheSettings::new(10));
        let now = t0();
        let (a, b) = (cmd("GET").key("a"), cmd("GET").key("b"));
        fill(&mut cache, 1, 0, &a, &bulk("a"));
        fill(&mut cache, 2, 1, &a, &bulk("a"));
        fill(&mut cache, 3, 1, &b, &bulk("b"));
        assert_eq!(cache.flush_conn(ConnId(1)), 2);
        assert!(
            cache
                .get(ConnId(0), a.encoded_args().unwrap(), now)
                .is_some()
        );
        assert_eq!(cache.invalidate(b"a"), 1);
        assert_eq!(cache.flush(), 0);
    }

    #[test]
    fn broadcast_mode_covers_its_prefixes_and_names_them() {
        let settings = CacheSettings::new(1).broadcast(["user:", "p:"]);
        assert!(settings.covers(b"user:1") && settings.covers(b"p:x"));
        assert!(!settings.covers(b"order:1"));
        let tracking = settings.tracking_command();
        let args: Vec<&[u8]> = (0..tracking.arg_count())
            .map(|i| tracking.arg_bytes(i).unwrap())
            .collect();
        let expected: [&[u8]; 8] = [
            b"CLIENT",
            b"TRACKING",
            b"ON",
            b"BCAST",
            b"PREFIX",
            b"user:",
            b"PREFIX",
            b"p:",
        ];
        assert_eq!(args, expected);
        assert!(CacheSettings::new(1).broadcast::<&str>([]).covers(b"any"));
        assert!(CacheSettings::new(1).covers(b"any"));
        assert_eq!(
            CacheSettings::new(1).tracking_command().arg_count(),
            3,
            "CLIENT TRACKING ON"
        );
    }
}
