//! A test executor that records the commands the typed methods build, and checks them against
//! the server's command table: argument counts, and which arguments are keys.

use std::cell::RefCell;
use std::time::Duration;

use bytes::Buf;
use resp_core::SendBuffer;

use super::*;
use crate::command::{BeginSearch, FindKeys, KeySpec};

/// Records every command instead of sending it.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    sent: RefCell<Vec<Command>>,
}

impl Commands for Recorder {
    type Output<'a, T: FromValue + 'a> = ();

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> Self::Output<'a, T> {
        self.sent.borrow_mut().push(command);
    }
}

/// Runs `call` on a fresh recorder and returns the one command it built.
pub(super) fn record(call: impl FnOnce(&Recorder)) -> Recorded {
    let recorder = Recorder::default();
    call(&recorder);
    let mut sent = recorder.sent.take();
    assert_eq!(sent.len(), 1, "one typed call builds one command");
    Recorded::new(sent.remove(0))
}

/// One recorded command and its arguments as they went on the wire.
pub(super) struct Recorded {
    pub(super) command: Command,
    args: Vec<Vec<u8>>,
}

impl Recorded {
    pub(super) fn new(command: Command) -> Self {
        let args = wire_args(&command);
        Self { command, args }
    }

    /// Asserts the exact arguments, the name included.
    pub(super) fn args(&self, expected: &[&str]) -> &Self {
        let got: Vec<String> = self
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into())
            .collect();
        assert_eq!(got, expected);
        self
    }

    /// Asserts which arguments are keys: the ones the server's key specs name, and the ones
    /// marked for routing (the command's slot is the first key's, and it spans slots exactly
    /// when the keys do).
    pub(super) fn keys(&self, expected: &[&str]) -> &Self {
        let name = self.command.name();
        if let Some(from_table) = table_keys(&self.command, &self.args) {
            let from_table: Vec<String> = from_table
                .iter()
                .map(|k| String::from_utf8_lossy(k).into())
                .collect();
            assert_eq!(
                from_table, expected,
                "{name}: the keys the server's key specs name"
            );
        }
        let first = expected.first().map(|k| resp_core::slot(k.as_bytes()));
        assert_eq!(
            self.command.slot(),
            first,
            "{name}: slot of the first marked key"
        );
        let spans = expected
            .iter()
            .any(|k| Some(resp_core::slot(k.as_bytes())) != first);
        assert_eq!(self.command.is_cross_slot(), spans, "{name}: cross-slot");
        self
    }
}

/// The command's arguments, read back from its wire encoding.
fn wire_args(command: &Command) -> Vec<Vec<u8>> {
    let mut out = SendBuffer::new();
    command.encode_into(&mut out);
    let mut wire = Vec::new();
    while out.has_remaining() {
        let chunk = out.chunk();
        wire.extend_from_slice(chunk);
        let n = chunk.len();
        out.advance(n);
    }
    let line = |at: &mut usize| -> usize {
        let end = *at
            + wire[*at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF");
        let n = std::str::from_utf8(&wire[*at + 1..end])
            .unwrap()
            .parse()
            .unwrap();
        *at = end + 2;
        n
    };
    let mut at = 0;
    assert_eq!(wire[0], b'*');
    let count = line(&mut at);
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(wire[at], b'$');
        let len = line(&mut at);
        args.push(wire[at..at + len].to_vec());
        assert_eq!(&wire[at + len..at + len + 2], b"\r\n");
        at += len + 2;
    }
    assert_eq!(at, wire.len(), "nothing after the last argument");
    assert_eq!(args.len(), command.arg_count());
    args
}

/// The keys the server would find, by the command table's key specs; `None` when a spec needs
/// the command's own code.
fn table_keys(command: &Command, args: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    let spec = command.spec()?;
    let mut keys = Vec::new();
    for key_spec in spec.key_specs {
        for index in spec_positions(key_spec, args)? {
            keys.push(args[index].clone());
        }
    }
    Some(keys)
}

fn spec_positions(spec: &KeySpec, args: &[Vec<u8>]) -> Option<Vec<usize>> {
    let argc = args.len() as i64;
    let begin = match spec.begin_search {
        BeginSearch::Index(i) => i64::from(i),
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => {
            let start = i64::from(start_from);
            let found = if start >= 0 {
                (start..argc).find(|&i| args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
            } else {
                (1..=argc + start)
                    .rev()
                    .find(|&i| args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
            };
            found? + 1
        }
        _ => return None,
    };
    if begin >= argc {
        return Some(Vec::new()); // An optional key that is not there.
    }
    let positions: Vec<i64> = match spec.find_keys {
        FindKeys::Range {
            last_key,
            step,
            limit,
        } => {
            let last = if last_key >= 0 {
                begin + i64::from(last_key)
            } else {
                let last = argc + i64::from(last_key);
                if limit > 1 {
                    begin + (last - begin + 1) / i64::from(limit) - 1
                } else {
                    last
                }
            };
            (begin..=last).step_by(step as usize).collect()
        }
        FindKeys::KeyNum {
            key_num_index,
            first_key,
            step,
        } => {
            let count_at = (begin + i64::from(key_num_index)) as usize;
            let count: i64 = std::str::from_utf8(&args[count_at]).ok()?.parse().ok()?;
            let first = begin + i64::from(first_key);
            (0..count).map(|n| first + n * i64::from(step)).collect()
        }
        _ => return None,
    };
    Some(positions.into_iter().map(|i| i as usize).collect())
}

#[test]
fn timeouts_are_written_in_the_servers_units() {
    assert_eq!(timeout_seconds(Duration::ZERO), "0");
    assert_eq!(timeout_seconds(Duration::from_secs(5)), "5");
    assert_eq!(timeout_seconds(Duration::from_millis(1500)), "1.5");
    assert_eq!(timeout_seconds(Duration::from_millis(10)), "0.01");
    assert_eq!(
        timeout_seconds(Duration::from_nanos(1)),
        "0.001",
        "never rounded to forever"
    );
    assert_eq!(timeout_millis(Duration::from_micros(1500)), 2);
    assert_eq!(timeout_millis(Duration::MAX), u64::MAX);
}

/// Every typed method, called once: each command must be known to the table, have an argument
/// count the server accepts, and mark as keys exactly the arguments the server's key specs
/// name (so cluster routing agrees with the server).
#[test]
fn every_method_fits_the_servers_command_table() {
    let c = Recorder::default();
    let t = Duration::from_secs(1);
    let none: [&str; 0] = [];
    let script = Script::new("return 1");
    let scan = ScanOptions::new().pattern("*").count(10);

    // Strings: 20.
    c.get::<()>("k");
    c.set::<()>("k", "v");
    c.set_options::<()>("k", "v", &SetOptions::new().ex(1).nx().get());
    c.setnx::<()>("k", "v");
    c.setex::<()>("k", 1, "v");
    c.psetex::<()>("k", 1, "v");
    c.getdel::<()>("k");
    c.getex::<()>("k", GetExExpiry::Persist);
    c.mget::<()>(["a", "b"]);
    c.mset::<()>(&[("a", "1"), ("b", "2")]);
    c.msetnx::<()>(&[("a", "1"), ("b", "2")]);
    c.incr::<()>("k");
    c.incr_by::<()>("k", 2);
    c.incr_by_float::<()>("k", 0.5);
    c.decr::<()>("k");
    c.decr_by::<()>("k", 2);
    c.append::<()>("k", "v");
    c.strlen::<()>("k");
    c.getrange::<()>("k", 0, -1);
    c.setrange::<()>("k", 1, "v");
    // Keys: 23.
    c.del::<()>(["a", "b"]);
    c.unlink::<()>(["a", "b"]);
    c.exists::<()>(["a", "b"]);
    c.expire::<()>("k", 1, Some(ExpireCondition::Nx));
    c.pexpire::<()>("k", 1, None);
    c.expireat::<()>("k", 1, None);
    c.pexpireat::<()>("k", 1, Some(ExpireCondition::Lt));
    c.expiretime::<()>("k");
    c.pexpiretime::<()>("k");
    c.ttl::<()>("k");
    c.pttl::<()>("k");
    c.persist::<()>("k");
    c.type_of::<()>("k");
    c.rename::<()>("a", "b");
    c.renamenx::<()>("a", "b");
    c.keys::<()>("*");
    c.scan::<()>(0);
    c.scan_options::<()>(0, &scan.clone().key_type("hash"));
    c.touch::<()>(["a", "b"]);
    c.copy::<()>("a", "b", true);
    c.dump::<()>("k");
    c.restore::<()>("k", 0, "payload", true);
    c.randomkey::<()>();
    // Hashes: 17.
    c.hset::<()>("h", [("f", "v"), ("g", "w")]);
    c.hsetnx::<()>("h", "f", "v");
    c.hget::<()>("h", "f");
    c.hmget::<()>("h", ["f", "g"]);
    c.hgetall::<()>("h");
    c.hdel::<()>("h", ["f", "g"]);
    c.hexists::<()>("h", "f");
    c.hincrby::<()>("h", "f", 1);
    c.hincrbyfloat::<()>("h", "f", 1.5);
    c.hkeys::<()>("h");
    c.hvals::<()>("h");
    c.hlen::<()>("h");
    c.hstrlen::<()>("h", "f");
    c.hscan::<()>("h", 0);
    c.hscan_options::<()>("h", 0, &scan);
    c.hrandfield::<()>("h", Some(2));
    c.hrandfield_with_values::<()>("h", 2);
    // Lists: 21.
    c.lpush::<()>("l", ["a", "b"]);
    c.rpush::<()>("l", ["a", "b"]);
    c.lpushx::<()>("l", "a");
    c.rpushx::<()>("l", "a");
    c.lpop::<()>("l", Some(2));
    c.rpop::<()>("l", None);
    c.lrange::<()>("l", 0, -1);
    c.llen::<()>("l");
    c.lindex::<()>("l", 0);
    c.lset::<()>("l", 0, "x");
    c.lrem::<()>("l", 0, "x");
    c.ltrim::<()>("l", 0, 9);
    c.linsert::<()>("l", InsertPosition::After, "p", "x");
    c.lmove::<()>("a", "b", Direction::Left, Direction::Left);
    c.lmpop::<()>(["a", "b"], Direction::Left, Some(2));
    c.lpos::<()>("l", "x");
    c.lpos_options::<()>("l", "x", &LPosOptions::new().rank(1).count(2).max_len(3));
    c.blpop::<()>(["a", "b"], t);
    c.brpop::<()>(["a", "b"], t);
    c.blmove::<()>("a", "b", Direction::Right, Direction::Left, t);
    c.blmpop::<()>(t, ["a", "b"], Direction::Right, Some(2));
    // Sets: 18.
    c.sadd::<()>("s", ["a", "b"]);
    c.srem::<()>("s", ["a", "b"]);
    c.smembers::<()>("s");
    c.sismember::<()>("s", "a");
    c.smismember::<()>("s", ["a", "b"]);
    c.scard::<()>("s");
    c.spop::<()>("s", Some(1));
    c.srandmember::<()>("s", Some(-1));
    c.sinter::<()>(["a", "b"]);
    c.sintercard::<()>(["a", "b"], Some(1));
    c.sunion::<()>(["a", "b"]);
    c.sdiff::<()>(["a", "b"]);
    c.sinterstore::<()>("d", ["a", "b"]);
    c.sunionstore::<()>("d", ["a", "b"]);
    c.sdiffstore::<()>("d", ["a", "b"]);
    c.smove::<()>("a", "b", "m");
    c.sscan::<()>("s", 0);
    c.sscan_options::<()>("s", 0, &scan);
    // Sorted sets: 27.
    c.zadd::<()>("z", [(1.0, "a"), (2.0, "b")]);
    c.zadd_options::<()>("z", [(1.0, "a")], &ZAddOptions::new().xx().gt().ch());
    c.zincrby::<()>("z", 1.0, "a");
    c.zrem::<()>("z", ["a", "b"]);
    c.zscore::<()>("z", "a");
    c.zmscore::<()>("z", ["a", "b"]);
    c.zrank::<()>("z", "a");
    c.zrevrank::<()>("z", "a");
    c.zcard::<()>("z");
    c.zcount::<()>("z", "-inf", "+inf");
    c.zrange::<()>("z", 0, -1);
    let by_score = ZRangeOptions::new()
        .by_score()
        .rev()
        .limit(0, 5)
        .with_scores();
    c.zrange_options::<()>("z", "+inf", "-inf", &by_score);
    c.zrangebyscore::<()>("z", 0, 10);
    c.zremrangebyscore::<()>("z", 0, 10);
    c.zremrangebyrank::<()>("z", 0, 10);
    c.zpopmin::<()>("z", Some(2));
    c.zpopmax::<()>("z", None);
    c.zmpop::<()>(["a", "b"], MinMax::Min, Some(2));
    c.bzpopmin::<()>(["a", "b"], t);
    c.bzpopmax::<()>(["a", "b"], t);
    c.bzmpop::<()>(t, ["a", "b"], MinMax::Max, None);
    c.zscan::<()>("z", 0);
    c.zscan_options::<()>("z", 0, &scan);
    let store = ZStoreOptions::new()
        .weights([1.0, 2.0])
        .aggregate(Aggregate::Max);
    c.zunionstore::<()>("d", ["a", "b"]);
    c.zunionstore_options::<()>("d", ["a", "b"], &store);
    c.zinterstore::<()>("d", ["a", "b"]);
    c.zinterstore_options::<()>("d", ["a", "b"], &store);
    // Streams: 26.
    c.xadd::<()>("x", "*", [("f", "v")]);
    let trim = StreamTrim::min_id("1-0").approximate().limit(10);
    c.xadd_options::<()>(
        "x",
        "*",
        [("f", "v")],
        &XAddOptions::new().no_mkstream().trim(trim),
    );
    c.xlen::<()>("x");
    c.xrange::<()>("x", "-", "+", Some(10));
    c.xrevrange::<()>("x", "+", "-", None);
    c.xread::<()>(["a", "b"], ["0", "0"]);
    c.xread_options::<()>(
        ["a", "b"],
        ["0", "0"],
        &XReadOptions::new().count(1).block(t),
    );
    c.xreadgroup::<()>("g", "c", ["a", "b"], [">", ">"]);
    let group = XReadGroupOptions::new().count(1).block(t).no_ack();
    c.xreadgroup_options::<()>("g", "c", ["a", "b"], [">", ">"], &group);
    c.xgroup_create::<()>("x", "g", "$", true);
    c.xgroup_destroy::<()>("x", "g");
    c.xgroup_createconsumer::<()>("x", "g", "c");
    c.xgroup_delconsumer::<()>("x", "g", "c");
    c.xgroup_setid::<()>("x", "g", "0");
    c.xack::<()>("x", "g", ["1-0", "2-0"]);
    c.xpending::<()>("x", "g");
    let pending = XPendingOptions::range("-", "+", 10).idle(5).consumer("c");
    c.xpending_options::<()>("x", "g", &pending);
    c.xclaim::<()>("x", "g", "c", 10, ["1-0"]);
    let claim = XClaimOptions::new()
        .idle(1)
        .time(2)
        .retry_count(3)
        .force()
        .just_id()
        .last_id("4");
    c.xclaim_options::<()>("x", "g", "c", 10, ["1-0"], &claim);
    c.xautoclaim::<()>("x", "g", "c", 10, "0-0");
    let auto = XAutoClaimOptions::new().count(5).just_id();
    c.xautoclaim_options::<()>("x", "g", "c", 10, "0-0", &auto);
    c.xdel::<()>("x", ["1-0"]);
    c.xtrim::<()>("x", &StreamTrim::max_len(5));
    c.xinfo_stream::<()>("x");
    c.xinfo_groups::<()>("x");
    c.xinfo_consumers::<()>("x", "g");
    // Scripting: 12.
    c.invoke_script::<()>(&script, ["a", "b"], ["1"]);
    c.invoke_script_ro::<()>(&script, ["a"], none);
    c.eval::<()>("return 1", ["a", "b"], ["1"]);
    c.eval_ro::<()>("return 1", ["a"], none);
    c.evalsha::<()>(script.sha1(), ["a"], none);
    c.evalsha_ro::<()>(script.sha1(), none, none);
    c.script_load::<()>("return 1");
    c.script_exists::<()>([script.sha1()]);
    c.script_flush::<()>(Some(FlushMode::Sync));
    c.fcall::<()>("f", ["a", "b"], ["1"]);
    c.fcall_ro::<()>("f", ["a"], none);
    c.function_load::<()>("#!lua name=lib", false);
    // Server and connection: 17.
    c.ping::<()>();
    c.echo::<()>("hi");
    c.dbsize::<()>();
    c.flushdb::<()>(None);
    c.flushall::<()>(Some(FlushMode::Async));
    c.info::<()>(Some("server"));
    c.time::<()>();
    c.lastsave::<()>();
    c.config_get::<()>("maxmemory");
    c.config_set::<()>(("maxmemory", "1gb"));
    c.client_id::<()>();
    c.client_getname::<()>();
    c.client_setname::<()>("me");
    c.memory_usage::<()>("k");
    c.object_encoding::<()>("k");
    c.object_idletime::<()>("k");
    c.wait::<()>(1, t);
    // Publishing: 7.
    c.publish::<()>("ch", "m");
    c.spublish::<()>("ch", "m");
    c.pubsub_channels::<()>(Some("*"));
    c.pubsub_numsub::<()>(["a", "b"]);
    c.pubsub_numpat::<()>();
    c.pubsub_shardchannels::<()>(None);
    c.pubsub_shardnumsub::<()>(["a", "b"]);

    let sent = c.sent.take();
    assert_eq!(sent.len(), 20 + 23 + 17 + 21 + 18 + 27 + 26 + 12 + 17 + 7);
    let fallbacks: Vec<Command> = sent
        .iter()
        .filter_map(|c| c.noscript_fallback().cloned())
        .collect();
    assert_eq!(fallbacks.len(), 2);
    for command in sent.into_iter().chain(fallbacks) {
        let name = command.name().to_owned();
        let spec = command
            .spec()
            .unwrap_or_else(|| panic!("{name} is not in the command table"));
        assert!(
            spec.accepts_arg_count(command.arg_count()),
            "{name}: {} arguments, arity {}",
            command.arg_count(),
            spec.arity
        );
        let args = wire_args(&command);
        let keys = table_keys(&command, &args)
            .unwrap_or_else(|| panic!("{name}: key specs the test cannot follow"));
        let first = keys.first().map(|k| resp_core::slot(k));
        assert_eq!(
            command.slot(),
            first,
            "{name}: marked keys differ from the key specs"
        );
        let spans = keys.iter().any(|k| Some(resp_core::slot(k)) != first);
        assert_eq!(command.is_cross_slot(), spans, "{name}: cross-slot");
        let blocking = spec.flags.contains(crate::CommandFlags::BLOCKING)
            && !matches!(spec.name, "xread" | "xreadgroup" | "wait");
        if blocking {
            assert!(command.is_blocking(), "{name}: block time not found");
        }
    }
}
