//! client-core's `Client`, driven by the blocking [`Driver`], against the three single-server
//! topologies (TCP, TLS, Unix socket), in the cell's protocol.
//!
//! This file: the handshake and every group of typed commands, pipelines and transactions.
//! `failures.rs` covers deadlines and faults. Every test uses its own keys under
//! `redwire:core:`, deletes them first, and returns early on the cluster and sentinel
//! topologies (`nodes.rs` covers those).

use std::collections::{HashMap, HashSet};

use client_core::{
    Commands, Error, Frame, Reply, Request, RequestError, RequestId, Script, SetOptions,
    SubmitError, XReadOptions, ZRangeOptions, cmd, frame_into,
};
use redwire_tests::{Driver, TestEnv};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The environment, when the topology is one of the single-server ones.
pub(super) fn standalone() -> Option<TestEnv> {
    let env = TestEnv::load();
    env.is_standalone().then_some(env)
}

/// A key of these tests.
pub(super) fn key(name: &str) -> String {
    format!("redwire:core:{name}")
}

/// A driver with the cell's configuration, after deleting `keys`.
pub(super) fn driver_with_clean(env: &TestEnv, keys: &[&str]) -> Driver {
    let driver = env.driver();
    if !keys.is_empty() {
        let _: i64 = driver.del(keys).expect("DEL");
    }
    driver
}

/// `name=value` fields of a `CLIENT INFO` line.
pub(super) fn client_info_fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The server's error code of a failed typed call.
pub(super) fn server_code(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Server(e)) => e.code().to_owned(),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// `calls=` of `cmdstat_<name>` in `INFO commandstats` (0 when never called).
fn command_calls(driver: &Driver, name: &str) -> u64 {
    let info: String = driver.info(Some("commandstats")).expect("INFO");
    let prefix = format!("cmdstat_{name}:calls=");
    info.lines()
        .find_map(|line| line.trim().strip_prefix(&prefix))
        .map_or(0, |rest| {
            rest.split(',').next().unwrap().parse().expect("a count")
        })
}

// ---------------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------------

#[test]
fn handshake_speaks_the_configured_protocol_and_names_the_connection() {
    let Some(env) = standalone() else { return };
    let name = format!("redwire-core-resp{}", env.protocol);
    let mut config = env.client_config();
    config.client_name = Some(name.clone());
    config.db = 3;
    let driver = env.driver_with(config);

    let info: String = driver.call(cmd("CLIENT").arg("INFO")).expect("CLIENT INFO");
    let fields = client_info_fields(&info);
    assert_eq!(fields["resp"], env.protocol.to_string(), "{info}");
    assert_eq!(fields["name"], name, "{info}");
    assert_eq!(fields["db"], "3", "{info}");
    // Servers from 7.2 take CLIENT SETINFO; older ones refuse it, which must not matter.
    if let Some(lib) = fields.get("lib-name") {
        assert_eq!(lib, "redwire", "{info}");
    }

    // HELLO without a version reports the connection as it is.
    let hello: HashMap<String, Frame> = driver.call(cmd("HELLO")).expect("HELLO");
    assert_eq!(
        hello.get("proto"),
        Some(&Frame::Integer(i64::from(env.protocol))),
        "{hello:?}"
    );

    // Every request shares one connection.
    let first: i64 = driver.client_id().unwrap();
    let again: i64 = driver.client_id().unwrap();
    assert_eq!(first, again);
    assert_eq!(driver.stats().connects, 1);

    // Without a name the connection stays unnamed.
    let plain = env.driver();
    let name: Option<String> = plain.client_getname().unwrap();
    assert_eq!(name.as_deref().filter(|n| !n.is_empty()), None);
    driver.assert_no_anomalies();
}

#[test]
fn handshake_refusals_name_the_failing_step_on_either_protocol() {
    let Some(env) = standalone() else { return };
    // RESP3 sends the name inside HELLO, RESP2 with CLIENT SETNAME: a name the server refuses
    // is a handshake failure either way, not an authentication failure.
    let mut config = env.client_config();
    config.client_name = Some("two words".to_owned());
    let d = env.driver_with(config);
    match d.ping::<String>() {
        Err(Error::Request(RequestError::Handshake { step, message, .. })) => {
            assert!(message.contains("cannot contain spaces"), "{message}");
            assert!(step == "HELLO" || step == "CLIENT SETNAME", "{step}");
        }
        other => panic!(
            "a refused client name over RESP{} gave {other:?}, not a handshake error",
            env.protocol
        ),
    }

    let mut config = env.client_config();
    config.db = 99;
    let d = env.driver_with(config);
    match d.ping::<String>() {
        Err(Error::Request(RequestError::Handshake { step, message, .. })) => {
            assert_eq!(step, "SELECT 99");
            assert!(message.contains("out of range"), "{message}");
        }
        other => panic!("SELECT 99 gave {other:?}, not a handshake error"),
    }
    d.assert_no_anomalies();
}

#[test]
fn large_binary_values_round_trip() {
    let Some(env) = standalone() else { return };
    let k = key("large");
    let d = driver_with_clean(&env, &[&k]);
    // Every byte value, CRLFs included, well past the send buffer's copy threshold and the
    // driver's read size, so it crosses many writes and reads.
    let value: bytes::Bytes = (0..3 * 1024 * 1024 + 7)
        .map(|i: usize| (i.wrapping_mul(31) % 256) as u8)
        .collect::<Vec<u8>>()
        .into();
    let _: () = d.set(&k, value.clone()).unwrap();
    assert_eq!(d.strlen::<usize>(&k).unwrap(), value.len());
    let back: bytes::Bytes = d.get(&k).unwrap();
    assert!(back == value, "the value came back different");
    // Several at once on the shared connection, each with its own reply.
    let ids: Vec<RequestId> = (0..4)
        .map(|_| d.submit(cmd("GET").key(&k).into()))
        .collect();
    for id in ids {
        let back: Vec<u8> = d.wait(id).unwrap().into_value().unwrap();
        assert!(back == value[..], "the value came back different");
    }
    let _: i64 = d.del(&k).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn debug_protocol_types_convert_on_either_protocol() {
    let Some(env) = standalone() else { return };
    let driver = env.driver();
    let debug = |kind: &str| cmd("DEBUG").arg("PROTOCOL").arg(kind);

    assert_eq!(
        driver.call::<String>(debug("string")).unwrap(),
        "Hello World"
    );
    assert_eq!(driver.call::<i64>(debug("integer")).unwrap(), 12345);
    assert_eq!(driver.call::<f64>(debug("double")).unwrap(), DEBUG_DOUBLE);
    assert_eq!(
        driver.call::<String>(debug("bignum")).unwrap(),
        "1234567999999999999999999999999999999"
    );
    assert_eq!(driver.call::<Option<String>>(debug("null")).unwrap(), None);
    assert_eq!(
        driver.call::<Vec<i64>>(debug("array")).unwrap(),
        vec![0, 1, 2]
    );
    assert_eq!(
        driver.call::<HashSet<i64>>(debug("set")).unwrap(),
        HashSet::from([0, 1, 2])
    );
    assert_eq!(
        driver.call::<HashMap<i64, bool>>(debug("map")).unwrap(),
        HashMap::from([(0, false), (1, true), (2, false)])
    );
    assert_eq!(
        driver.call::<String>(debug("attrib")).unwrap(),
        "Some real reply following the attribute"
    );
    assert_eq!(
        driver.call::<String>(debug("verbatim")).unwrap(),
        "This is a verbatim\nstring"
    );
    assert!(driver.call::<bool>(debug("true")).unwrap());
    assert!(!driver.call::<bool>(debug("false")).unwrap());

    // The raw frames are the protocol's own.
    let double: Frame = driver.call(debug("double")).unwrap();
    let null: Frame = driver.call(debug("null")).unwrap();
    if env.protocol == 3 {
        assert_eq!(double, Frame::Double(DEBUG_DOUBLE));
        assert_eq!(null, Frame::Null);
    } else {
        assert_eq!(double, Frame::BulkString("3.141".into()));
        assert_eq!(null, Frame::NullBulkString);
    }

    // A push comes out of band in RESP3, ahead of the reply, which still reaches its request.
    let pushed = driver.call::<String>(debug("push"));
    if env.protocol == 3 {
        assert_eq!(pushed.unwrap(), "Some real reply following the push reply");
        let pushes = driver.take_pushes();
        assert_eq!(pushes.len(), 1, "{pushes:?}");
        assert_eq!(
            pushes[0].1,
            Frame::Push(vec![
                Frame::BulkString("server-cpu-usage".into()),
                Frame::Integer(42)
            ])
        );
    } else {
        assert_eq!(server_code(pushed), "ERR");
    }
    // The connection is still in step.
    assert_eq!(driver.echo::<String>("in step").unwrap(), "in step");
    driver.assert_no_anomalies();
}

// ---------------------------------------------------------------------------------------------
// Typed commands, one group at a time
// ---------------------------------------------------------------------------------------------

#[test]
fn typed_string_commands() {
    let Some(env) = standalone() else { return };
    let (k, k2, n, f) = (key("str"), key("str2"), key("str:n"), key("str:f"));
    let d = driver_with_clean(&env, &[&k, &k2, &n, &f]);

    assert_eq!(d.set::<String>(&k, "v1").unwrap(), "OK");
    assert_eq!(d.get::<Option<String>>(&k).unwrap().as_deref(), Some("v1"));
    assert_eq!(d.get::<Option<String>>(&k2).unwrap(), None);

    // NX on an existing key does nothing; XX GET replaces and returns the old value.
    assert!(
        !d.set_options::<bool>(&k, "v2", &SetOptions::new().nx())
            .unwrap()
    );
    let old: Option<String> = d
        .set_options(&k, "v3", &SetOptions::new().xx().get())
        .unwrap();
    assert_eq!(old.as_deref(), Some("v1"));
    // EX sets a time to live, KEEPTTL keeps it.
    let _: () = d.set_options(&k, "v4", &SetOptions::new().ex(100)).unwrap();
    let ttl: i64 = d.ttl(&k).unwrap();
    assert!((1..=100).contains(&ttl), "TTL {ttl}");
    let _: () = d
        .set_options(&k, "v5", &SetOptions::new().keep_ttl())
        .unwrap();
    assert!(d.ttl::<i64>(&k).unwrap() > 0);
    assert_eq!(d.get::<String>(&k).unwrap(), "v5");
    // PX with NX on a missing key sets it.
    assert!(
        d.set_options::<bool>(&k2, "w", &SetOptions::new().nx().px(100_000))
            .unwrap()
    );
    let pttl: i64 = d.pttl(&k2).unwrap();
    assert!((1..=100_000).contains(&pttl), "PTTL {pttl}");
    assert!(!d.setnx::<bool>(&k2, "again").unwrap());

    assert_eq!(d.incr::<i64>(&n).unwrap(), 1);
    assert_eq!(d.incr_by::<i64>(&n, 41).unwrap(), 42);
    assert_eq!(d.decr::<i64>(&n).unwrap(), 41);
    assert_eq!(d.decr_by::<u8>(&n, 1).unwrap(), 40);
    assert_eq!(d.incr_by_float::<f64>(&f, 2.5).unwrap(), 2.5);
    assert_eq!(d.incr_by_float::<f64>(&f, -0.25).unwrap(), 2.25);

    assert_eq!(d.append::<i64>(&k, "-tail").unwrap(), 7);
    assert_eq!(d.strlen::<i64>(&k).unwrap(), 7);
    assert_eq!(d.getrange::<String>(&k, 0, 1).unwrap(), "v5");
    assert_eq!(d.setrange::<i64>(&k, 0, "V").unwrap(), 7);

    let _: () = d.mset(&[(&k, "m1"), (&k2, "m2")]).unwrap();
    let both: Vec<Option<String>> = d.mget([&k, &k2, &key("str:none")]).unwrap();
    assert_eq!(both, vec![Some("m1".into()), Some("m2".into()), None]);
    assert_eq!(
        d.getdel::<Option<String>>(&k).unwrap().as_deref(),
        Some("m1")
    );
    assert_eq!(d.exists::<i64>(&k).unwrap(), 0);
    // A conversion that does not fit is an error, not a wrong value.
    assert!(matches!(d.get::<i64>(&k2), Err(Error::Conversion(_))));
    let _: i64 = d.del([&k, &k2, &n, &f]).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn typed_key_and_expiry_commands() {
    let Some(env) = standalone() else { return };
    let (k, renamed, copy) = (key("keys:a"), key("keys:b"), key("keys:c"));
    let scan_keys: Vec<String> = (0..25).map(|i| key(&format!("scan:{i}"))).collect();
    let d = driver_with_clean(&env, &[&k, &renamed, &copy]);
    let _: i64 = d.del(scan_keys.as_slice()).unwrap();

    let _: () = d.set(&k, "x").unwrap();
    assert_eq!(d.exists::<i64>([&k, &k, &renamed]).unwrap(), 2);
    assert_eq!(d.type_of::<String>(&k).unwrap(), "string");
    assert_eq!(d.ttl::<i64>(&k).unwrap(), -1);
    assert!(d.expire::<bool>(&k, 100, None).unwrap());
    // NX: only without an expiry; XX: only with one; GT: only later.
    use client_core::ExpireCondition::{Gt, Nx, Xx};
    assert!(!d.expire::<bool>(&k, 50, Some(Nx)).unwrap());
    assert!(d.pexpire::<bool>(&k, 200_000, Some(Xx)).unwrap());
    assert!(!d.expire::<bool>(&k, 10, Some(Gt)).unwrap());
    let ttl: i64 = d.ttl(&k).unwrap();
    assert!((101..=200).contains(&ttl), "TTL {ttl}");
    let at: i64 = d.expiretime(&k).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 90..=now + 210).contains(&at),
        "EXPIRETIME {at}, now {now}"
    );
    assert!(d.persist::<bool>(&k).unwrap());
    assert_eq!(d.ttl::<i64>(&k).unwrap(), -1);

    let _: () = d.rename(&k, &renamed).unwrap();
    assert_eq!(d.exists::<i64>(&k).unwrap(), 0);
    assert!(d.copy::<bool>(&renamed, &copy, false).unwrap());
    assert!(!d.copy::<bool>(&renamed, &copy, false).unwrap());
    assert!(!d.renamenx::<bool>(&renamed, &copy).unwrap());
    assert_eq!(d.touch::<i64>([&renamed, &copy]).unwrap(), 2);
    assert_eq!(d.type_of::<String>(&key("keys:none")).unwrap(), "none");
    assert_eq!(d.ttl::<i64>(&key("keys:none")).unwrap(), -2);

    // SCAN with MATCH and COUNT finds every key, over as many calls as it takes.
    for k in &scan_keys {
        let _: () = d.set(k, "s").unwrap();
    }
    let options = client_core::ScanOptions::new()
        .pattern(key("scan:*"))
        .count(7)
        .key_type("string");
    let (mut cursor, mut found) = (0u64, HashSet::new());
    loop {
        let (next, batch): (u64, Vec<String>) = d.scan_options(cursor, &options).unwrap();
        found.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(found, scan_keys.iter().cloned().collect::<HashSet<_>>());

    assert_eq!(d.del::<i64>([&renamed, &copy, &k]).unwrap(), 2);
    assert_eq!(d.unlink::<i64>(scan_keys.as_slice()).unwrap(), 25);
    d.assert_no_anomalies();
}

#[test]
fn typed_hash_commands() {
    let Some(env) = standalone() else { return };
    let h = key("hash");
    let d = driver_with_clean(&env, &[&h]);

    assert_eq!(
        d.hset::<i64>(&h, [("name", "ada"), ("lang", "rust"), ("n", "1")])
            .unwrap(),
        3
    );
    let all: HashMap<String, String> = d.hgetall(&h).unwrap();
    let expected: HashMap<String, String> = [("name", "ada"), ("lang", "rust"), ("n", "1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(all, expected);
    // The same reply read as pairs, and the raw frame in the protocol's own shape.
    let pairs: Vec<(String, String)> = d.hgetall(&h).unwrap();
    assert_eq!(pairs.len(), 3);
    let raw: Frame = d.hgetall(&h).unwrap();
    match (env.protocol, &raw) {
        (3, Frame::Map(entries)) => assert_eq!(entries.len(), 3),
        (2, Frame::Array(items)) => assert_eq!(items.len(), 6),
        _ => panic!("HGETALL over RESP{} answered {raw:?}", env.protocol),
    }

    assert_eq!(
        d.hget::<Option<String>>(&h, "name").unwrap().as_deref(),
        Some("ada")
    );
    assert_eq!(d.hget::<Option<String>>(&h, "none").unwrap(), None);
    let some: Vec<Option<String>> = d.hmget(&h, ["lang", "none"]).unwrap();
    assert_eq!(some, vec![Some("rust".into()), None]);
    assert_eq!(d.hincrby::<i64>(&h, "n", 9).unwrap(), 10);
    assert_eq!(d.hincrbyfloat::<f64>(&h, "n", 0.5).unwrap(), 10.5);
    assert!(d.hexists::<bool>(&h, "lang").unwrap());
    assert!(!d.hsetnx::<bool>(&h, "lang", "go").unwrap());
    assert_eq!(d.hlen::<i64>(&h).unwrap(), 3);
    let mut fields: Vec<String> = d.hkeys(&h).unwrap();
    fields.sort();
    assert_eq!(fields, ["lang", "n", "name"]);
    assert_eq!(d.hstrlen::<i64>(&h, "name").unwrap(), 3);
    assert_eq!(d.hdel::<i64>(&h, ["n", "none"]).unwrap(), 1);
    let _: i64 = d.del(&h).unwrap();
    let empty: HashMap<String, String> = d.hgetall(&h).unwrap();
    assert!(empty.is_empty());
    d.assert_no_anomalies();
}

#[test]
fn typed_list_commands() {
    let Some(env) = standalone() else { return };
    let (l, other) = (key("list"), key("list:other"));
    let d = driver_with_clean(&env, &[&l, &other]);

    assert_eq!(d.rpush::<i64>(&l, ["a", "b", "c"]).unwrap(), 3);
    assert_eq!(d.lpush::<i64>(&l, "z").unwrap(), 4);
    assert_eq!(
        d.lrange::<Vec<String>>(&l, 0, -1).unwrap(),
        ["z", "a", "b", "c"]
    );
    assert_eq!(d.llen::<i64>(&l).unwrap(), 4);
    assert_eq!(
        d.lindex::<Option<String>>(&l, -1).unwrap().as_deref(),
        Some("c")
    );
    assert_eq!(
        d.lpop::<Option<String>>(&l, None).unwrap().as_deref(),
        Some("z")
    );
    assert_eq!(d.rpop::<Vec<String>>(&l, Some(2)).unwrap(), ["c", "b"]);
    use client_core::{Direction, InsertPosition};
    assert_eq!(
        d.linsert::<i64>(&l, InsertPosition::After, "a", "b")
            .unwrap(),
        2
    );
    assert_eq!(d.lpos::<Option<i64>>(&l, "b").unwrap(), Some(1));
    let _: () = d.lset(&l, 0, "A").unwrap();
    let moved: Option<String> = d
        .lmove(&l, &other, Direction::Left, Direction::Right)
        .unwrap();
    assert_eq!(moved.as_deref(), Some("A"));
    assert_eq!(d.lrange::<Vec<String>>(&other, 0, -1).unwrap(), ["A"]);
    assert_eq!(d.rpush::<i64>(&l, ["x", "b"]).unwrap(), 3);
    assert_eq!(d.lrem::<i64>(&l, 0, "b").unwrap(), 2);
    let _: () = d.ltrim(&l, 0, 0).unwrap();
    assert_eq!(d.lrange::<Vec<String>>(&l, 0, -1).unwrap(), ["x"]);
    assert_eq!(
        d.lpop::<Vec<String>>(&key("list:none"), Some(3)).unwrap(),
        Vec::<String>::new()
    );
    let _: i64 = d.del([&l, &other]).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn typed_set_commands() {
    let Some(env) = standalone() else { return };
    let (s, t) = (key("set:s"), key("set:t"));
    let d = driver_with_clean(&env, &[&s, &t]);

    assert_eq!(d.sadd::<i64>(&s, ["a", "b", "c", "a"]).unwrap(), 3);
    assert_eq!(d.sadd::<i64>(&t, ["b", "c", "d"]).unwrap(), 3);
    let members: HashSet<String> = d.smembers(&s).unwrap();
    assert_eq!(members, HashSet::from(["a".into(), "b".into(), "c".into()]));
    // RESP3 sends a set, RESP2 an array: a Vec reads both.
    let mut listed: Vec<String> = d.smembers(&s).unwrap();
    listed.sort();
    assert_eq!(listed, ["a", "b", "c"]);
    assert!(d.sismember::<bool>(&s, "a").unwrap());
    assert!(!d.sismember::<bool>(&s, "z").unwrap());
    assert_eq!(
        d.smismember::<Vec<bool>>(&s, ["a", "z"]).unwrap(),
        [true, false]
    );
    assert_eq!(d.scard::<u64>(&s).unwrap(), 3);
    let inter: HashSet<String> = d.sinter([&s, &t]).unwrap();
    assert_eq!(inter, HashSet::from(["b".into(), "c".into()]));
    let union: HashSet<String> = d.sunion([&s, &t]).unwrap();
    assert_eq!(union.len(), 4);
    let diff: Vec<String> = d.sdiff([&s, &t]).unwrap();
    assert_eq!(diff, ["a"]);
    assert_eq!(d.srem::<i64>(&s, ["a", "z"]).unwrap(), 1);
    assert_eq!(d.scard::<u64>(&s).unwrap(), 2);
    let _: i64 = d.del([&s, &t]).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn typed_sorted_set_commands() {
    let Some(env) = standalone() else { return };
    let z = key("zset");
    let d = driver_with_clean(&env, &[&z]);

    assert_eq!(
        d.zadd::<i64>(&z, [(1.0, "a"), (2.5, "b"), (3.0, "c")])
            .unwrap(),
        3
    );
    let scored: Vec<(String, f64)> = d
        .zrange_options(&z, 0, -1, &ZRangeOptions::new().with_scores())
        .unwrap();
    assert_eq!(
        scored,
        [("a".into(), 1.0), ("b".into(), 2.5), ("c".into(), 3.0)]
    );
    let best: Vec<(String, f64)> = d
        .zrange_options(
            &z,
            "+inf",
            2,
            &ZRangeOptions::new()
                .by_score()
                .rev()
                .limit(0, 1)
                .with_scores(),
        )
        .unwrap();
    assert_eq!(best, [("c".into(), 3.0)]);
    assert_eq!(d.zrange::<Vec<String>>(&z, 0, 1).unwrap(), ["a", "b"]);
    assert_eq!(d.zscore::<Option<f64>>(&z, "b").unwrap(), Some(2.5));
    assert_eq!(d.zscore::<Option<f64>>(&z, "none").unwrap(), None);
    assert_eq!(d.zincrby::<f64>(&z, 10.0, "a").unwrap(), 11.0);
    assert_eq!(d.zrank::<Option<u64>>(&z, "a").unwrap(), Some(2));
    assert_eq!(d.zcard::<u64>(&z).unwrap(), 3);
    assert_eq!(
        d.zrangebyscore::<Vec<String>>(&z, "(2.5", "+inf").unwrap(),
        ["c", "a"]
    );
    let popped: Vec<(String, f64)> = d.zpopmin(&z, Some(1)).unwrap();
    assert_eq!(popped, [("b".into(), 2.5)]);
    assert_eq!(d.zrem::<i64>(&z, ["c", "none"]).unwrap(), 1);
    let _: i64 = d.del(&z).unwrap();
    d.assert_no_anomalies();
}

/// What `DEBUG PROTOCOL double` sends (three decimals of pi, not the constant).
#[allow(clippy::approx_constant)]
const DEBUG_DOUBLE: f64 = 3.141;

pub(super) type Entries = Vec<(String, HashMap<String, String>)>;

#[test]
fn typed_stream_commands() {
    let Some(env) = standalone() else { return };
    let s = key("stream");
    let d = driver_with_clean(&env, &[&s]);

    let first: String = d.xadd(&s, "1-1", [("f", "v1"), ("g", "w1")]).unwrap();
    assert_eq!(first, "1-1");
    let second: String = d.xadd(&s, "*", [("f", "v2")]).unwrap();
    assert!(second.contains('-') && second != first, "{second}");
    assert_eq!(d.xlen::<u64>(&s).unwrap(), 2);

    let entries: Entries = d.xrange(&s, "-", "+", None).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].0, "1-1");
    assert_eq!(entries[0].1["g"], "w1");
    assert_eq!(entries[1].0, second);
    assert_eq!(entries[1].1["f"], "v2");
    let one: Entries = d.xrange(&s, "-", "+", Some(1)).unwrap();
    assert_eq!(one.len(), 1);

    let read: Option<HashMap<String, Entries>> = d.xread([&s], ["0"]).unwrap();
    let read = read.expect("entries");
    assert_eq!(read[&s].len(), 2);
    assert_eq!(read[&s][1].1["f"], "v2");
    let after: Option<HashMap<String, Entries>> = d.xread([&s], [&second]).unwrap();
    assert_eq!(after, None);
    let counted: Option<HashMap<String, Entries>> = d
        .xread_options([&s], ["0"], &XReadOptions::new().count(1))
        .unwrap();
    assert_eq!(counted.unwrap()[&s].len(), 1);

    assert_eq!(d.xdel::<u64>(&s, ["1-1"]).unwrap(), 1);
    assert_eq!(
        d.xtrim::<u64>(&s, &client_core::StreamTrim::max_len(0))
            .unwrap(),
        1
    );
    let _: i64 = d.del(&s).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn typed_server_commands() {
    let Some(env) = standalone() else { return };
    let d = env.driver();
    assert_eq!(d.ping::<String>().unwrap(), "PONG");
    assert_eq!(d.echo::<String>("hello").unwrap(), "hello");
    assert!(d.dbsize::<u64>().is_ok());
    let (secs, micros): (u64, u64) = d.time().unwrap();
    assert!(secs > 1_600_000_000 && micros < 1_000_000);
    let info: String = d.info(Some("server")).unwrap();
    assert!(info.contains("redis_version:"), "{info}");
    let config: HashMap<String, String> = d.config_get("maxmemory-policy").unwrap();
    assert!(config.contains_key("maxmemory-policy"), "{config:?}");
    d.assert_no_anomalies();
}

#[test]
fn scripts_fall_back_from_noscript_to_eval_then_run_by_hash() {
    let Some(env) = standalone() else { return };
    let k = key("script");
    let d = driver_with_clean(&env, &[&k]);
    let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");

    assert_eq!(
        d.script_flush::<String>(Some(client_core::FlushMode::Sync))
            .unwrap(),
        "OK"
    );
    assert_eq!(
        d.script_exists::<Vec<bool>>([script.sha1()]).unwrap(),
        [false]
    );

    // Not cached: EVALSHA answers NOSCRIPT, the core sends EVAL, the caller sees one reply.
    let (eval_before, sha_before) = (command_calls(&d, "eval"), command_calls(&d, "evalsha"));
    assert_eq!(d.invoke_script::<i64>(&script, [&k], [5]).unwrap(), 5);
    assert_eq!(command_calls(&d, "eval"), eval_before + 1);
    assert_eq!(command_calls(&d, "evalsha"), sha_before + 1);
    assert_eq!(
        d.script_exists::<Vec<bool>>([script.sha1()]).unwrap(),
        [true]
    );

    // Cached now: EVALSHA alone.
    assert_eq!(d.invoke_script::<i64>(&script, [&k], [2]).unwrap(), 7);
    assert_eq!(command_calls(&d, "eval"), eval_before + 1);
    assert_eq!(command_calls(&d, "evalsha"), sha_before + 2);

    // The fallback inside a pipeline: each command keeps its own reply, in order. (The commands
    // after it run before the fallback's EVAL does, so the last one does not read the key.)
    let _: String = d.script_flush(None).unwrap();
    let id = d.submit(Request::pipeline(vec![
        cmd("SET").key(&k).arg(1),
        script_command(&script, &k, 10),
        cmd("ECHO").arg("after"),
    ]));
    let Reply::Pipeline(frames) = d.wait(id).unwrap() else {
        panic!("not a pipeline reply")
    };
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(frame_into::<String>(frames[0].clone()).unwrap(), "OK");
    assert_eq!(frame_into::<i64>(frames[1].clone()).unwrap(), 11);
    assert_eq!(frame_into::<String>(frames[2].clone()).unwrap(), "after");

    // A script error is the server's error, and the connection stays in step.
    let failing = Script::new("return redis.call('INCR', KEYS[1], 'extra')");
    assert_eq!(
        server_code(d.invoke_script::<i64>(&failing, [&k], [0; 0])),
        "ERR"
    );
    assert_eq!(d.get::<String>(&k).unwrap(), "11");
    let _: i64 = d.del(&k).unwrap();
    d.assert_no_anomalies();
}

/// What `invoke_script` sends, as a command for a pipeline (client-core has no public way to
/// get it): `EVALSHA` with the `EVAL` of the source as its `NOSCRIPT` fallback.
fn script_command(script: &Script, key: &str, arg: i64) -> client_core::Command {
    let eval = cmd("EVAL").arg(script.source()).arg(1).key(key).arg(arg);
    cmd("EVALSHA")
        .arg(script.sha1())
        .arg(1)
        .key(key)
        .arg(arg)
        .on_noscript(eval)
}

// ---------------------------------------------------------------------------------------------
// Pipelines and transactions
// ---------------------------------------------------------------------------------------------

#[test]
fn pipelines_answer_in_order_and_errors_stay_in_place() {
    let Some(env) = standalone() else { return };
    let (k, n) = (key("pipe:text"), key("pipe:n"));
    let d = driver_with_clean(&env, &[&k, &n]);

    let id = d.submit(Request::pipeline(vec![
        cmd("SET").key(&k).arg("text"),
        cmd("INCR").key(&k),
        cmd("GET").key(&k),
        cmd("HSET").key(&k).arg("f").arg("v"),
        cmd("SET").key(&n).arg(41),
        cmd("INCR").key(&n),
    ]));
    let Reply::Pipeline(frames) = d.wait(id).unwrap() else {
        panic!("not a pipeline reply")
    };
    assert_eq!(frames.len(), 6, "{frames:?}");
    assert_eq!(frame_into::<String>(frames[0].clone()).unwrap(), "OK");
    assert_eq!(server_code(frame_into::<i64>(frames[1].clone())), "ERR");
    assert_eq!(frame_into::<String>(frames[2].clone()).unwrap(), "text");
    assert_eq!(
        server_code(frame_into::<i64>(frames[3].clone())),
        "WRONGTYPE"
    );
    assert_eq!(frame_into::<i64>(frames[5].clone()).unwrap(), 42);

    // A long pipeline, and many single requests in flight at once: each gets its own reply.
    let keys: Vec<String> = (0..300).map(|i| key(&format!("pipe:{i}"))).collect();
    let mut commands: Vec<_> = keys
        .iter()
        .map(|k| cmd("SET").key(k).arg(format!("value of {k}")))
        .collect();
    commands.extend(keys.iter().map(|k| cmd("GET").key(k)));
    let Reply::Pipeline(frames) = d.wait(d.submit(Request::pipeline(commands))).unwrap() else {
        panic!("not a pipeline reply")
    };
    assert_eq!(frames.len(), 600);
    for (k, frame) in keys.iter().zip(&frames[300..]) {
        assert_eq!(
            frame_into::<String>(frame.clone()).unwrap(),
            format!("value of {k}")
        );
    }
    let ids: Vec<RequestId> = keys
        .iter()
        .rev()
        .map(|k| d.submit(cmd("GET").key(k).into()))
        .collect();
    for (k, id) in keys.iter().rev().zip(ids) {
        let value: String = d.wait(id).unwrap().into_value().unwrap();
        assert_eq!(value, format!("value of {k}"));
    }
    let _: i64 = d.del(keys.as_slice()).unwrap();
    let _: i64 = d.del([&k, &n]).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn transactions_run_atomically_and_report_errors() {
    let Some(env) = standalone() else { return };
    let (n, k) = (key("tx:n"), key("tx:text"));
    let d = driver_with_clean(&env, &[&n, &k]);

    let (a, b, text): (i64, i64, String) = d
        .request(Request::transaction(vec![
            cmd("INCR").key(&n),
            cmd("INCRBY").key(&n).arg(10),
            cmd("GET").key(&n),
        ]))
        .unwrap();
    assert_eq!((a, b, text.as_str()), (1, 11, "11"));

    // A command that fails while running leaves its error inside EXEC's reply.
    let exec: Frame = d
        .request(Request::transaction(vec![
            cmd("SET").key(&k).arg("text"),
            cmd("INCR").key(&k),
            cmd("GET").key(&k),
        ]))
        .unwrap();
    let items = match exec {
        Frame::Array(items) => items,
        other => panic!("EXEC answered {other:?}"),
    };
    assert_eq!(items.len(), 3);
    assert!(items[1].is_error(), "{items:?}");
    assert_eq!(frame_into::<String>(items[2].clone()).unwrap(), "text");

    // A command refused while queuing aborts the whole transaction.
    let aborted = d.request::<Frame>(Request::transaction(vec![
        cmd("INCR").key(&n),
        cmd("NOSUCHCOMMAND").key(&n),
    ]));
    assert_eq!(server_code(aborted), "EXECABORT");
    assert_eq!(d.get::<i64>(&n).unwrap(), 11, "nothing of it ran");
    // The shared connection is not left inside MULTI.
    assert_eq!(d.incr::<i64>(&n).unwrap(), 12);
    let _: i64 = d.del([&n, &k]).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn watch_on_a_dedicated_connection_aborts_exec_after_a_concurrent_change() {
    let Some(env) = standalone() else { return };
    let k = key("watch");
    let d = driver_with_clean(&env, &[&k]);
    let _: () = d.set(&k, "start").unwrap();

    let conn = d.open_dedicated();
    let pinned = d.on(conn);
    assert_eq!(pinned.cmd::<String>(cmd("WATCH").key(&k)).unwrap(), "OK");
    assert_eq!(pinned.get::<String>(&k).unwrap(), "start");
    // Another connection (the shared one) changes the key.
    let _: () = d.set(&k, "changed elsewhere").unwrap();
    let exec: Frame = d
        .request(Request::transaction(vec![cmd("SET").key(&k).arg("mine")]).on(conn))
        .unwrap();
    assert!(
        exec.is_null(),
        "EXEC after a watched change answered {exec:?}"
    );
    assert_eq!(d.get::<String>(&k).unwrap(), "changed elsewhere");

    // Without interference the same transaction goes through.
    assert_eq!(pinned.cmd::<String>(cmd("WATCH").key(&k)).unwrap(), "OK");
    let exec: Vec<String> = d
        .request(Request::transaction(vec![cmd("SET").key(&k).arg("mine")]).on(conn))
        .unwrap();
    assert_eq!(exec, ["OK"]);
    assert_eq!(d.get::<String>(&k).unwrap(), "mine");

    // The dedicated connection is its own client on the server.
    let shared_id: i64 = d.client_id().unwrap();
    let dedicated_id: i64 = pinned.client_id().unwrap();
    assert_ne!(shared_id, dedicated_id);
    d.close_dedicated(conn);
    assert!(matches!(
        d.try_submit(Request::single(cmd("PING")).on(conn)),
        Err(SubmitError::UnknownConnection(_))
    ));
    let _: i64 = d.del(&k).unwrap();
    d.assert_no_anomalies();
}
