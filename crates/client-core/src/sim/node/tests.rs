//! The fake node on its own: commands, expiry, transactions, auth, protocols.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use resp_core::Frame;

use crate::sim::{Clock, FakeNode, NodeConfig, NodeConnId, ReplicationRole};

fn ok() -> Frame {
    Frame::SimpleString("OK".into())
}

fn bulk(text: &str) -> Frame {
    Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
}

fn node_run(node: &mut FakeNode, conn: NodeConnId, now: Instant, args: &[&str]) -> Frame {
    let mut wire = BytesMut::new();
    resp_core::encode_command(&mut wire, args.iter().copied());
    let mut out = BytesMut::new();
    assert_eq!(node.receive(conn, &wire, now, &mut out), Ok(1));
    resp_core::Decoder::new()
        .decode(&mut out)
        .unwrap()
        .expect("a whole reply")
}

#[test]
fn node_expires_keys_on_the_virtual_clock() {
    let mut clock = Clock::new();
    let mut node = FakeNode::new(NodeConfig::default());
    let c = node.accept();
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["SET", "k", "v", "PX", "1500"]),
        ok()
    );
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["TTL", "k"]),
        Frame::Integer(2)
    );
    clock.advance(Duration::from_millis(1499));
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["GET", "k"]),
        bulk("v")
    );
    clock.advance(Duration::from_millis(1));
    assert!(node_run(&mut node, c, clock.now(), &["GET", "k"]).is_null());
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["TTL", "k"]),
        Frame::Integer(-2)
    );
    node_run(&mut node, c, clock.now(), &["SET", "p", "1"]);
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["TTL", "p"]),
        Frame::Integer(-1)
    );
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["EXPIRE", "p", "10"]),
        Frame::Integer(1)
    );
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["INCR", "p"]),
        Frame::Integer(2)
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        node_run(&mut node, c, clock.now(), &["EXISTS", "p"]),
        Frame::Integer(0)
    );
}

#[test]
fn node_strings_lists_and_hashes() {
    let now = Clock::new().now();
    let mut node = FakeNode::new(NodeConfig::default());
    let c = node.accept();
    let mut run = |args: &[&str]| node_run(&mut node, c, now, args);
    assert!(run(&["SET", "k", "v", "XX"]).is_null());
    assert_eq!(run(&["SET", "k", "v", "NX"]), ok());
    assert!(run(&["SET", "k", "w", "NX"]).is_null());
    assert_eq!(run(&["INCRBY", "n", "5"]), Frame::Integer(5));
    assert_eq!(run(&["INCR", "k"]).error_code(), Some(&b"ERR"[..]));
    assert_eq!(
        run(&["LPUSH", "k", "x"]).error_code(),
        Some(&b"WRONGTYPE"[..])
    );
    assert_eq!(run(&["RPUSH", "l", "a", "b", "c"]), Frame::Integer(3));
    assert_eq!(run(&["LPUSH", "l", "z"]), Frame::Integer(4));
    assert_eq!(
        run(&["LRANGE", "l", "1", "-2"]),
        Frame::Array(vec![bulk("a"), bulk("b")])
    );
    assert_eq!(run(&["LPOP", "l"]), bulk("z"));
    assert_eq!(run(&["RPOP", "l"]), bulk("c"));
    assert_eq!(run(&["LLEN", "l"]), Frame::Integer(2));
    assert_eq!(run(&["HSET", "h", "a", "1", "b", "2"]), Frame::Integer(2));
    assert_eq!(run(&["HGET", "h", "b"]), bulk("2"));
    assert_eq!(run(&["HDEL", "h", "a", "x"]), Frame::Integer(1));
    assert_eq!(run(&["DEL", "h", "l", "nope"]), Frame::Integer(2));
    assert_eq!(run(&["ECHO", "hi"]), bulk("hi"));
    assert_eq!(run(&["PING"]), Frame::SimpleString("PONG".into()));
    let unknown = run(&["FROB", "x"]);
    assert!(
        unknown
            .as_bytes()
            .unwrap()
            .starts_with(b"ERR unknown command 'FROB'"),
        "{unknown:?}"
    );
    assert_eq!(
        run(&["GET"]),
        Frame::SimpleError("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(
        run(&["SELECT", "16"]),
        Frame::SimpleError("ERR DB index is out of range".into())
    );
    assert_eq!(run(&["SELECT", "15"]), ok());
    assert!(run(&["GET", "k"]).is_null(), "db 15 is another keyspace");
}

#[test]
fn node_transactions_queue_then_run_or_abort() {
    let now = Clock::new().now();
    let mut node = FakeNode::new(NodeConfig::default());
    let c = node.accept();
    let mut run = |args: &[&str]| node_run(&mut node, c, now, args);
    assert_eq!(run(&["MULTI"]), ok());
    assert_eq!(run(&["INCR", "n"]), Frame::SimpleString("QUEUED".into()));
    assert_eq!(run(&["GET", "n"]), Frame::SimpleString("QUEUED".into()));
    assert_eq!(
        run(&["EXEC"]),
        Frame::Array(vec![Frame::Integer(1), bulk("1")])
    );
    assert_eq!(run(&["MULTI"]), ok());
    assert_eq!(run(&["INCR", "n"]), Frame::SimpleString("QUEUED".into()));
    assert!(run(&["NOPE"]).is_error());
    assert_eq!(run(&["EXEC"]).error_code(), Some(&b"EXECABORT"[..]));
    assert_eq!(
        run(&["GET", "n"]),
        bulk("1"),
        "the aborted INCR did not run"
    );
    assert_eq!(run(&["EXEC"]).error_code(), Some(&b"ERR"[..]));
    assert_eq!(node.log().count("INCR", b"n"), 1);
}

#[test]
fn node_requires_auth_when_a_password_is_set() {
    let now = Clock::new().now();
    let mut node = FakeNode::new(
        NodeConfig::default()
            .with_password("pw")
            .with_user("u", "p2"),
    );
    let c = node.accept();
    let mut run = |args: &[&str]| node_run(&mut node, c, now, args);
    assert_eq!(run(&["GET", "k"]).error_code(), Some(&b"NOAUTH"[..]));
    assert_eq!(run(&["HELLO", "3"]).error_code(), Some(&b"NOAUTH"[..]));
    assert_eq!(run(&["AUTH", "bad"]).error_code(), Some(&b"WRONGPASS"[..]));
    assert_eq!(
        run(&["AUTH", "u", "pw"]).error_code(),
        Some(&b"WRONGPASS"[..])
    );
    assert_eq!(run(&["AUTH", "u", "p2"]), ok());
    assert!(run(&["GET", "k"]).is_null());
    assert_eq!(run(&["HELLO", "4"]).error_code(), Some(&b"NOPROTO"[..]));

    let mut plain = FakeNode::new(NodeConfig::default());
    let c = plain.accept();
    let reply = node_run(&mut plain, c, now, &["AUTH", "x"]);
    assert!(
        reply
            .as_bytes()
            .unwrap()
            .starts_with(b"ERR AUTH <password> called without")
    );
}

#[test]
fn node_replies_in_the_negotiated_protocol() {
    let now = Clock::new().now();
    let mut node = FakeNode::new(NodeConfig::default());
    let c = node.accept();
    let mut out = BytesMut::new();
    let send = |node: &mut FakeNode, args: &[&str], out: &mut BytesMut| {
        let mut wire = BytesMut::new();
        resp_core::encode_command(&mut wire, args.iter().copied());
        out.clear();
        node.receive(c, &wire, now, out).unwrap();
    };
    send(&mut node, &["GET", "missing"], &mut out);
    assert_eq!(&out[..], b"$-1\r\n");
    send(&mut node, &["HELLO", "3"], &mut out);
    assert!(out.starts_with(b"%7\r\n"), "{out:?}");
    send(&mut node, &["GET", "missing"], &mut out);
    assert_eq!(&out[..], b"_\r\n");
    send(&mut node, &["HELLO", "2"], &mut out);
    assert!(out.starts_with(b"*14\r\n"), "{out:?}");
    // A command split over many reads runs once, when complete.
    let mut wire = BytesMut::new();
    resp_core::encode_command(&mut wire, ["INCR", "n"]);
    out.clear();
    for byte in wire.iter() {
        node.receive(c, &[*byte], now, &mut out).unwrap();
    }
    assert_eq!(&out[..], b":1\r\n");
    assert!(
        node.receive(c, b"+not a command\r\n", now, &mut out)
            .is_err()
    );
    assert!(!node.is_open(c), "a protocol error closes the connection");
}

/// What `node` writes back for the command `args` on `conn`, as raw bytes.
fn raw(node: &mut FakeNode, conn: NodeConnId, now: Instant, args: &[&str]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    resp_core::encode_command(&mut wire, args.iter().copied());
    let mut out = BytesMut::new();
    node.receive(conn, &wire, now, &mut out).unwrap();
    out.to_vec()
}

#[test]
fn a_replica_serves_reads_and_refuses_writes_as_redis_7_does() {
    let now = Clock::new().now();
    let mut node = FakeNode::new(NodeConfig::default());
    let c = node.accept();
    node_run(&mut node, c, now, &["SET", "k", "v"]);
    node.set_role(Some(ReplicationRole::Replica {
        host: "10.0.0.0".into(),
        port: 7000,
        linked: true,
    }));
    assert!(node.is_replica());
    let readonly = b"-READONLY You can't write against a read only replica.\r\n";
    assert_eq!(raw(&mut node, c, now, &["SET", "k", "w"]), readonly);
    assert_eq!(raw(&mut node, c, now, &["INCR", "n"]), readonly);
    assert_eq!(raw(&mut node, c, now, &["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(raw(&mut node, c, now, &["PING"]), b"+PONG\r\n");
    let script = "return redis.call('INCR', KEYS[1])";
    assert_eq!(
        raw(&mut node, c, now, &["EVAL", script, "1", "n"]),
        readonly
    );
    // A write queued in a transaction is refused, and EXEC aborts.
    assert_eq!(raw(&mut node, c, now, &["MULTI"]), b"+OK\r\n");
    assert_eq!(raw(&mut node, c, now, &["GET", "k"]), b"+QUEUED\r\n");
    assert_eq!(raw(&mut node, c, now, &["DEL", "k"]), readonly);
    assert!(raw(&mut node, c, now, &["EXEC"]).starts_with(b"-EXECABORT"));
    // Nothing refused ran.
    assert_eq!(node.log().count("SET", b"k"), 1);
    assert_eq!(node.log().count("INCR", b"n"), 0);
    assert_eq!(node.log().count("DEL", b"k"), 0);
    // HELLO says which it is.
    let hello = node_run(&mut node, c, now, &["HELLO", "3"]);
    let Frame::Map(fields) = hello else {
        panic!("a map")
    };
    assert!(
        fields.contains(&(bulk("role"), bulk("replica"))),
        "{fields:?}"
    );
    // Back to a primary: writes run again.
    node.set_role(Some(ReplicationRole::Primary { replicas: vec![] }));
    assert_eq!(raw(&mut node, c, now, &["SET", "k", "w"]), b"+OK\r\n");
}

#[test]
fn role_answers_in_redis_7_shapes_in_both_protocols() {
    let now = Clock::new().now();
    let mut node = FakeNode::new(NodeConfig::default());
    let c = node.accept();
    // A lone node is a primary without replicas; each write moves the offset.
    assert_eq!(
        raw(&mut node, c, now, &["ROLE"]),
        b"*3\r\n$6\r\nmaster\r\n:1\r\n*0\r\n"
    );
    node.set_role(Some(ReplicationRole::Primary {
        replicas: vec![("10.0.0.1".into(), 7001), ("10.0.0.2".into(), 7002)],
    }));
    node_run(&mut node, c, now, &["SET", "k", "v"]);
    let primary = b"*3\r\n$6\r\nmaster\r\n:2\r\n*2\r\n\
        *3\r\n$8\r\n10.0.0.1\r\n$4\r\n7001\r\n$1\r\n2\r\n\
        *3\r\n$8\r\n10.0.0.2\r\n$4\r\n7002\r\n$1\r\n2\r\n";
    assert_eq!(raw(&mut node, c, now, &["ROLE"]), primary);
    node_run(&mut node, c, now, &["HELLO", "3"]);
    assert_eq!(
        raw(&mut node, c, now, &["ROLE"]),
        primary,
        "RESP3 has the same arrays"
    );
    node.set_role(Some(ReplicationRole::Replica {
        host: "10.0.0.1".into(),
        port: 7001,
        linked: true,
    }));
    assert_eq!(
        raw(&mut node, c, now, &["ROLE"]),
        b"*5\r\n$5\r\nslave\r\n$8\r\n10.0.0.1\r\n:7001\r\n$9\r\nconnected\r\n:2\r\n"
    );
    node.set_role(Some(ReplicationRole::Replica {
        host: "10.0.0.1".into(),
        port: 7001,
        linked: false,
    }));
    assert_eq!(
        raw(&mut node, c, now, &["ROLE"]),
        b"*5\r\n$5\r\nslave\r\n$8\r\n10.0.0.1\r\n:7001\r\n$7\r\nconnect\r\n:-1\r\n"
    );
}
