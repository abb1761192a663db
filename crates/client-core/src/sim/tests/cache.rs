//! Client-side caching against the fake node's `CLIENT TRACKING`: hits without I/O,
//! invalidations by other connections and by the client's own writes, flushes, broadcast
//! mode, the bounds, RESP2, and a seeded coherence check under random interleavings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::cache::{CacheSettings, TrackingMode};
use crate::command::Command;
use crate::event::RequestId;
use crate::hooks::{CacheInvalidation, Hooks, InvalidationCause, RequestEnd};

/// What the client told its hooks, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Hit(RequestId),
    Miss(RequestId),
    Invalidated {
        cause: InvalidationCause,
        keys: Vec<Bytes>,
        entries: usize,
    },
    Ended(RequestId),
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl Hooks for Recorder {
    fn request_end(&self, request: &RequestEnd<'_>) {
        self.0.lock().unwrap().push(Seen::Ended(request.id));
    }
    fn cache_hit(&self, request: RequestId, _command: &Command) {
        self.0.lock().unwrap().push(Seen::Hit(request));
    }
    fn cache_miss(&self, request: RequestId, _command: &Command) {
        self.0.lock().unwrap().push(Seen::Miss(request));
    }
    fn cache_invalidated(&self, invalidation: &CacheInvalidation<'_>) {
        self.0.lock().unwrap().push(Seen::Invalidated {
            cause: invalidation.cause,
            keys: invalidation.keys.to_vec(),
            entries: invalidation.entries,
        });
    }
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, wanted: impl Fn(&Seen) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|s| wanted(s)).count()
    }

    fn hits(&self) -> usize {
        self.count(|s| matches!(s, Seen::Hit(_)))
    }

    fn misses(&self) -> usize {
        self.count(|s| matches!(s, Seen::Miss(_)))
    }

    fn invalidations(&self, cause: InvalidationCause) -> usize {
        self.count(|s| matches!(s, Seen::Invalidated { cause: c, .. } if *c == cause))
    }
}

/// A client caching with `settings`, recording its hooks, against a node that records
/// commands.
fn caching_sim(settings: CacheSettings) -> (Sim, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut config = config();
    config.cache = Some(settings);
    config.hooks = Some(recorder.clone());
    let node = NodeConfig {
        record_commands: true,
        ..NodeConfig::default()
    };
    (sim_with(config, node), recorder)
}

/// Another client of the node, writing at the server directly.
struct Writer(NodeConnId);

impl Writer {
    fn new(sim: &mut Sim) -> Self {
        let conn = sim.node_mut().accept();
        let mut writer = Self(conn);
        assert!(!writer.run(sim, &["HELLO", "3"]).is_error());
        writer
    }

    /// Runs `args` on the node now; its invalidations leave for the other connections.
    fn run(&mut self, sim: &mut Sim, args: &[&str]) -> Frame {
        let mut request = bytes::BytesMut::new();
        let frame = Frame::Array(args.iter().map(|a| bulk(a)).collect());
        frame.encode(&mut request);
        let mut out = bytes::BytesMut::new();
        let now = sim.now();
        sim.node_mut()
            .receive(self.0, &request, now, &mut out)
            .expect("a command");
        sim.server_messages();
        let mut decoder = resp_core::Decoder::new();
        decoder.decode(&mut out).unwrap().expect("a reply")
    }
}

/// How many times the node ran `command` on `key`.
fn ran(sim: &Sim, command: &str, key: &str) -> u32 {
    sim.node().log().count(command, key.as_bytes())
}

fn get(key: &str) -> Command {
    cmd("GET").key(key)
}

#[test]
fn a_read_is_answered_from_the_cache_after_a_miss_without_io() {
    let (mut sim, hooks) = caching_sim(CacheSettings::new(100));
    roundtrip(&mut sim, cmd("SET").key("k").arg("v1")).unwrap();
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("v1")));
    assert_eq!(
        (hooks.misses(), hooks.hits(), sim.client().cache_len()),
        (1, 0, 1)
    );

    // The second read completes inside submit: no step, no byte sent.
    let steps = sim.steps();
    let id = sim.submit(get("k").into()).unwrap();
    assert!(sim.is_completed(id), "answered at once");
    assert_eq!(sim.take_response(id).unwrap(), single(bulk("v1")));
    assert_eq!(sim.steps(), steps);
    assert_eq!(ran(&sim, "GET", "k"), 1, "the server saw one GET");
    assert_eq!((hooks.misses(), hooks.hits()), (1, 1));
    // Hooks hear of a hit as of any request: a start, then an end.
    assert!(matches!(hooks.seen()[..], [.., Seen::Hit(h), Seen::Ended(e)] if h == id && e == id));

    // The handshake turned tracking on for the shared connection.
    let history = history_names(&sim);
    assert!(
        history.contains(&"CLIENT TRACKING ON".to_owned()),
        "{history:?}"
    );
    let conn = sim.node_conn(sim.open_connections()[0]).unwrap();
    assert!(sim.node().is_tracking(conn));
    // Another argument list is another entry; an error reply is not kept.
    roundtrip(&mut sim, cmd("HSET").key("h").arg("f").arg("x")).unwrap();
    roundtrip(&mut sim, cmd("HGET").key("h").arg("f")).unwrap();
    roundtrip(&mut sim, cmd("HGET").key("h").arg("f")).unwrap();
    roundtrip(&mut sim, cmd("HGET").key("h").arg("g")).unwrap();
    assert_eq!(ran(&sim, "HGET", "h"), 2);
    let wrong = roundtrip(&mut sim, cmd("LRANGE").key("k").arg(0).arg(-1)).unwrap();
    roundtrip(&mut sim, cmd("LRANGE").key("k").arg(0).arg(-1)).unwrap();
    assert!(matches!(wrong, Reply::Single(f) if f.is_error()));
    assert_eq!(ran(&sim, "LRANGE", "k"), 2, "WRONGTYPE is asked again");
}

#[test]
fn another_clients_write_invalidates_and_the_next_read_sees_it() {
    let (mut sim, hooks) = caching_sim(CacheSettings::new(100));
    let mut writer = Writer::new(&mut sim);
    writer.run(&mut sim, &["SET", "k", "old"]);
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("old")));
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("old")));
    assert_eq!(ran(&sim, "GET", "k"), 1);

    assert_eq!(writer.run(&mut sim, &["SET", "k", "new"]), ok());
    assert!(sim.run_until_idle());
    assert_eq!(sim.client().cache_len(), 0, "the push emptied the entry");
    let invalidated = Seen::Invalidated {
        cause: InvalidationCause::Server,
        keys: vec![Bytes::from("k")],
        entries: 1,
    };
    assert!(hooks.seen().contains(&invalidated), "{:?}", hooks.seen());
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("new")));
    assert_eq!(ran(&sim, "GET", "k"), 2, "read from the server again");
    assert!(
        sim.pushes().is_empty(),
        "invalidations are the cache's, not events"
    );
    // Read again, the key is tracked again: the next write invalidates it again.
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("new")));
    writer.run(&mut sim, &["DEL", "k"]);
    assert!(sim.run_until_idle());
    assert_eq!(roundtrip(&mut sim, get("k")), single(Frame::Null));
    assert_eq!(hooks.invalidations(InvalidationCause::Server), 2);
}

#[test]
fn the_clients_own_writes_are_seen_by_its_next_reads() {
    let (mut sim, hooks) = caching_sim(CacheSettings::new(100));
    roundtrip(&mut sim, cmd("SET").key("k").arg("v1")).unwrap();
    roundtrip(&mut sim, get("k")).unwrap();
    assert_eq!(sim.client().cache_len(), 1);

    // Pipelined on the shared connection: the read goes after the write, not to the cache.
    let set = sim.submit(cmd("SET").key("k").arg("v2").into()).unwrap();
    let read = sim.submit(get("k").into()).unwrap();
    assert!(!sim.is_completed(read), "not served from the cache");
    assert!(sim.run_until_idle());
    assert_eq!(sim.take_response(set).unwrap(), single(ok()));
    assert_eq!(sim.take_response(read).unwrap(), single(bulk("v2")));
    assert_eq!(hooks.invalidations(InvalidationCause::Write), 1);

    // A write on a dedicated connection: once acknowledged, the old value is gone even while
    // the server's invalidation for the shared connection is still on its way.
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("v2")));
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("v2")));
    let dedicated = sim.open_dedicated();
    assert!(sim.run_until_idle());
    let shared = sim.open_connections()[0];
    sim.hold_replies(true);
    let set = sim
        .submit(Request::from(cmd("SET").key("k").arg("v3")).on(dedicated))
        .unwrap();
    sim.run_for(Duration::from_millis(10));
    sim.release_held(dedicated, usize::MAX);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.take_response(set).unwrap(), single(ok()));
    let read = sim.submit(get("k").into()).unwrap();
    assert!(
        !sim.is_completed(read),
        "the acknowledged write emptied the entry"
    );
    sim.release_held(shared, usize::MAX);
    sim.hold_replies(false);
    assert!(sim.run_until_idle());
    assert_eq!(sim.take_response(read).unwrap(), single(bulk("v3")));

    // A read in flight while a write on another connection is acknowledged: its reply may
    // show the old value (the server ran it first), and is not kept.
    assert_eq!(
        roundtrip(&mut sim, cmd("SET").key("m").arg("old")),
        single(ok())
    );
    sim.hold_replies(true);
    let read = sim.submit(get("m").into()).unwrap();
    sim.run_for(Duration::from_millis(10));
    let set = sim
        .submit(Request::from(cmd("SET").key("m").arg("new")).on(dedicated))
        .unwrap();
    sim.run_for(Duration::from_millis(10));
    sim.release_held(dedicated, usize::MAX);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.take_response(set).unwrap(), single(ok()));
    sim.release_held(shared, b"$3\r\nold\r\n".len());
    assert_eq!(sim.take_response(read).unwrap(), single(bulk("old")));
    let again = sim.submit(get("m").into()).unwrap();
    assert!(!sim.is_completed(again), "the old value was not kept");
    sim.hold_replies(false);
    sim.release_held(shared, usize::MAX);
    assert!(sim.run_until_idle());
    assert_eq!(sim.take_response(again).unwrap(), single(bulk("new")));
    // Only the shared connection tracks.
    let tracking = history_names(&sim)
        .iter()
        .filter(|c| c.starts_with("CLIENT TRACKING"))
        .count();
    assert_eq!(tracking, 1);
    let dedicated_conn = sim.node_conn(dedicated).unwrap();
    assert!(!sim.node().is_tracking(dedicated_conn));
}

#[test]
fn a_lost_connection_flushes_what_it_tracked() {
    let (mut sim, hooks) = caching_sim(CacheSettings::new(100));
    roundtrip(&mut sim, cmd("SET").key("k").arg("v")).unwrap();
    roundtrip(&mut sim, get("k")).unwrap();
    roundtrip(&mut sim, get("j")).unwrap();
    assert_eq!(sim.client().cache_len(), 2);
    let first = sim.open_connections()[0];
    sim.drop_connection(first);
    assert_eq!(sim.client().cache_len(), 0);
    let lost = Seen::Invalidated {
        cause: InvalidationCause::ConnectionLost,
        keys: Vec::new(),
        entries: 2,
    };
    assert!(hooks.seen().contains(&lost), "{:?}", hooks.seen());
    // The next read goes to the server on a new connection, which tracks again.
    assert_eq!(roundtrip(&mut sim, get("k")), single(bulk("v")));
    assert_eq!(ran(&sim, "GET", "k"), 2);
    assert_ne!(sim.open_connections(), vec![first]);
    let tracking = history_names(&sim)
        .iter()
        .filter(|c| *c == "CLIENT TRACKING ON")
        .count();
    assert_eq!(tracking, 2);
    assert_eq!(sim.client().cache_len(), 1);
}

#[test]
fn a_null_invalidation_after_flushall_or_flushdb_empties_the_cache() {
    for flush in ["FLUSHALL", "FLUSHDB"] {
        let (mut sim, hooks) = caching_sim(CacheSettings::new(100));
        let mut writer = Writer::new(&mut sim);
        writer.run(&mut sim, &["SET", "a", "1"]);
        writer.run(&mut sim, &["SET", "b", "2"]);
        roundtrip(&mut sim, get("a")).unwrap();
        roundtrip(&mut sim, get("b")).unwrap();
        assert_eq!(sim.client().cache_len(), 2);
        writer.run(&mut sim, &[flush]);
        assert!(sim.run_until_idle());
        assert_eq!(sim.client().cache_len(), 0, "{flush}");
        assert_eq!(hooks.invalidations(InvalidationCause::ServerFlush), 1);
        assert_eq!(
            roundtrip(&mut sim, get("a")),
            single(Frame::Null),
            "{flush}"
        );
    }
    // The client's own FLUSHALL empties it at once, before the server's push.
    let (mut sim, hooks) = caching_sim(CacheSettings::new(100));
    roundtrip(&mut sim, cmd("SET").key("a").arg("1")).unwrap();
    roundtrip(&mut sim, get("a")).unwrap();
    let flush = sim.submit(cmd("FLUSHALL").into()).unwrap();
    let read = sim.submit(get("a").into()).unwrap();
    assert!(!sim.is_completed(read));
    assert!(sim.run_until_idle());
    assert_eq!(sim.take_response(flush).unwrap(), single(ok()));
    assert_eq!(sim.take_response(read).unwrap(), single(Frame::Null));
    assert_eq!(hooks.invalidations(InvalidationCause::WriteFlush), 1);
}

#[test]
fn broadcast_mode_caches_only_its_prefixes() {
    let (mut sim, _) = caching_sim(CacheSettings::new(100).broadcast(["user:"]));
    let mut writer = Writer::new(&mut sim);
    writer.run(&mut sim, &["SET", "user:1", "ada"]);
    writer.run(&mut sim, &["SET", "order:1", "tea"]);
    for _ in 0..2 {
        assert_eq!(roundtrip(&mut sim, get("user:1")), single(bulk("ada")));
        assert_eq!(roundtrip(&mut sim, get("order:1")), single(bulk("tea")));
    }
    assert_eq!(ran(&sim, "GET", "user:1"), 1);
    assert_eq!(ran(&sim, "GET", "order:1"), 2, "outside the prefixes");
    let history = history_names(&sim);
    assert!(
        history.contains(&"CLIENT TRACKING ON BCAST PREFIX user:".to_owned()),
        "{history:?}"
    );
    let client_conn = sim.node_conn(sim.open_connections()[0]).unwrap();
    let before = sim.node().invalidations_sent().len();
    writer.run(&mut sim, &["SET", "order:1", "coffee"]);
    assert_eq!(
        sim.node().invalidations_sent().len(),
        before,
        "not under user:"
    );
    writer.run(&mut sim, &["SET", "user:1", "grace"]);
    assert_eq!(
        sim.node().invalidations_sent()[before..],
        [(client_conn, Some(vec![Bytes::from("user:1")]))]
    );
    assert!(sim.run_until_idle());
    assert_eq!(roundtrip(&mut sim, get("user:1")), single(bulk("grace")));
    assert_eq!(ran(&sim, "GET", "user:1"), 2);
}

#[test]
fn entries_expire_after_the_ttl() {
    let settings = CacheSettings::new(100).ttl(Duration::from_secs(1));
    let (mut sim, hooks) = caching_sim(settings);
    roundtrip(&mut sim, cmd("SET").key("k").arg("v")).unwrap();
    roundtrip(&mut sim, get("k")).unwrap();
    // Stored when the reply came, about 200 µs after the read was sent.
    sim.run_for(Duration::from_millis(999));
    roundtrip(&mut sim, get("k")).unwrap();
    assert_eq!((ran(&sim, "GET", "k"), hooks.hits()), (1, 1));
    sim.run_for(Duration::from_millis(2));
    roundtrip(&mut sim, get("k")).unwrap();
    assert_eq!((ran(&sim, "GET", "k"), hooks.misses()), (2, 2), "expired");
}

#[test]
fn the_cache_never_holds_more_than_max_entries() {
    let (mut sim, hooks) = caching_sim(CacheSettings::new(3));
    for i in 0..10 {
        roundtrip(&mut sim, get(&format!("k{i}"))).unwrap();
        assert!(sim.client().cache_len() <= 3);
    }
    assert_eq!(sim.client().cache_len(), 3);
    // The three most recent are there, the oldest are not.
    for i in [9, 8, 7, 0] {
        roundtrip(&mut sim, get(&format!("k{i}"))).unwrap();
    }
    assert_eq!(hooks.hits(), 3);
    assert_eq!(ran(&sim, "GET", "k0"), 2);
    assert_eq!(sim.client().cache_len(), 3);
}

#[test]
fn with_resp2_nothing_is_tracked_or_cached() {
    // RESP2 configured: no CLIENT TRACKING, every read goes to the server.
    let (mut config_sim, hooks) = {
        let recorder = Arc::new(Recorder::default());
        let mut config = config();
        config.protocol = Protocol::Resp2;
        config.cache = Some(CacheSettings::new(100));
        config.hooks = Some(recorder.clone());
        let node = NodeConfig {
            record_commands: true,
            ..NodeConfig::default()
        };
        (sim_with(config, node), recorder)
    };
    // A server without RESP3, with RESP3 configured: the handshake falls back, no tracking.
    let mut old_server = {
        let mut config = config();
        config.cache = Some(CacheSettings::new(100));
        let node = NodeConfig {
            resp3: false,
            record_commands: true,
            ..NodeConfig::default()
        };
        sim_with(config, node)
    };
    for sim in [&mut config_sim, &mut old_server] {
        roundtrip(sim, cmd("SET").key("k").arg("v")).unwrap();
        for _ in 0..2 {
            assert_eq!(roundtrip(sim, get("k")), single(bulk("v")));
        }
        assert_eq!(ran(sim, "GET", "k"), 2);
        assert_eq!(sim.client().cache_len(), 0);
        let history = history_names(sim);
        assert!(
            !history.iter().any(|c| c.contains("TRACKING")),
            "{history:?}"
        );
    }
    assert_eq!(hooks.hits() + hooks.misses(), 0, "the cache is not in use");
}

#[test]
fn a_server_that_refuses_tracking_fails_the_handshake_clearly() {
    let mut config = config();
    config.cache = Some(CacheSettings::new(100));
    let node = NodeConfig {
        tracking: false,
        ..NodeConfig::default()
    };
    config.reconnect.max_attempts = Some(1);
    let mut sim = sim_with(config, node);
    let id = sim.submit(get("k").into()).unwrap();
    assert!(sim.run_until_idle());
    match sim.take_response(id).unwrap() {
        Err(RequestError::Handshake { step, message, .. }) => {
            assert_eq!(step, "CLIENT TRACKING");
            assert!(message.contains("TRACKING"), "{message}");
        }
        other => panic!("expected a handshake error, got {other:?}"),
    }
}

/// One seed of the coherence check: a client caching reads of a few keys while another
/// connection overwrites them with increasing versions at random moments, over a network
/// with random delays, split reads, late writes and spurious pushes. Every read that returns
/// version `v` of a key must complete before the client received the invalidation the
/// server sent when it wrote version `v + 1`. Returns (hits, invalidations received).
fn coherence_seed(seed: u64, mode: TrackingMode) -> (usize, usize) {
    let mut rng = SimRng::new(seed);
    let recorder = Arc::new(Recorder::default());
    let mut config = config();
    let mut settings = CacheSettings::new(1 + rng.below(4) as usize);
    settings.mode = mode;
    config.cache = Some(settings);
    config.hooks = Some(recorder.clone());
    let faults = Faults::calm(&mut rng);
    let mut sim = Sim::new(config, FakeNode::new(NodeConfig::default()), faults, seed);
    let keys = ["a", "b", "c"];
    let mut writer = Writer::new(&mut sim);
    // (key, version) -> how many invalidations naming the key the node had sent to the
    // client's connection before that write, and whether the write sent one.
    let mut writes: BTreeMap<(&str, u64), (usize, bool)> = BTreeMap::new();
    let mut versions = [0u64; 3];
    for key in keys {
        writer.run(&mut sim, &["SET", key, "0"]);
    }
    let mut reads: Vec<(RequestId, &str)> = Vec::new();
    let mut client_conn = None;
    let sent_to = |sim: &Sim, conn: Option<NodeConnId>, key: &str| {
        sim.node()
            .invalidations_sent()
            .iter()
            .filter(|(to, keys)| {
                Some(*to) == conn
                    && keys
                        .as_ref()
                        .is_some_and(|k| k.iter().any(|k| &k[..] == key.as_bytes()))
            })
            .count()
    };
    for _ in 0..200 {
        match rng.below(10) {
            0..=4 => {
                let k = rng.below(3) as usize;
                let id = sim.submit(get(keys[k]).into()).unwrap();
                reads.push((id, keys[k]));
            }
            5..=6 => {
                let k = rng.below(3) as usize;
                versions[k] += 1;
                let before = sent_to(&sim, client_conn, keys[k]);
                let value = versions[k].to_string();
                writer.run(&mut sim, &["SET", keys[k], &value]);
                let sent = sent_to(&sim, client_conn, keys[k]) > before;
                writes.insert((keys[k], versions[k]), (before, sent));
            }
            _ => sim.run_for(rng.millis(0, 4)),
        }
        if client_conn.is_none() {
            client_conn = sim
                .open_connections()
                .first()
                .and_then(|&c| sim.node_conn(c));
        }
    }
    assert!(sim.run_until_idle(), "seed {seed}: did not settle");
    assert!(
        sim.violations().is_empty(),
        "seed {seed}: {:?}",
        sim.violations()
    );
    assert_eq!(
        sim.open_connections().len(),
        1,
        "seed {seed}: one connection throughout"
    );

    let seen = recorder.seen();
    let position = |wanted: &Seen| seen.iter().position(|s| s == wanted);
    // Where the client received the `n`th invalidation naming `key` (from 0).
    let received = |key: &str, n: usize| {
        seen.iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(s, Seen::Invalidated { cause: InvalidationCause::Server, keys, .. }
                    if keys.iter().any(|k| &k[..] == key.as_bytes()))
            })
            .nth(n)
            .map(|(at, _)| at)
    };
    for (id, key) in reads {
        let reply = sim.take_response(id).expect("a response");
        let Ok(Reply::Single(Frame::BulkString(value))) = reply else {
            panic!("seed {seed}: GET {key} answered {reply:?}");
        };
        let version: u64 = std::str::from_utf8(&value).unwrap().parse().unwrap();
        let ended = position(&Seen::Ended(id)).expect("ended");
        let Some(&(before, sent)) = writes.get(&(key, version + 1)) else {
            continue; // never overwritten
        };
        // A reply showing `version` came from a read the server ran before it wrote
        // `version + 1`, so the key was tracked for the client then.
        assert!(
            sent,
            "seed {seed}: writing {key} = {} invalidated nothing",
            version + 1
        );
        if let Some(invalidated) = received(key, before) {
            assert!(
                ended < invalidated,
                "seed {seed}: GET {key} returned version {version} after the client received \
                 the invalidation of version {}",
                version + 1
            );
        }
    }
    let invalidations = recorder.invalidations(InvalidationCause::Server);
    (recorder.hits(), invalidations)
}

#[test]
fn no_read_returns_a_value_whose_invalidation_was_received() {
    let seeds: u64 = std::env::var("REDWIRE_SIM_SEEDS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(300);
    let (mut hits, mut invalidations) = (0, 0);
    for seed in 0..seeds {
        let mode = if seed % 3 == 2 {
            TrackingMode::Broadcast {
                prefixes: Vec::new(),
            }
        } else {
            TrackingMode::Default
        };
        let (h, i) = coherence_seed(seed, mode);
        hits += h;
        invalidations += i;
    }
    // Not vacuous: reads were served from the cache, and invalidations raced with them.
    assert!(hits > seeds as usize, "{hits} hits");
    assert!(
        invalidations > seeds as usize,
        "{invalidations} invalidations"
    );
}
