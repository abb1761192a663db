//! The fake cluster on its own, driven with raw RESP: redirections, migrations, replicas,
//! the `CLUSTER` replies, and the chaos's steps.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use resp_core::Frame;

use super::*;
use crate::sim::{Clock, Servers, StoredValue};

fn bulk(text: &str) -> Frame {
    Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
}

fn ok() -> Frame {
    Frame::SimpleString("OK".into())
}

/// Sends one command to node `n` on `conn`; returns the raw reply bytes.
fn raw(c: &mut FakeCluster, n: u16, conn: NodeConnId, now: Instant, args: &[&str]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    resp_core::encode_command(&mut wire, args.iter().copied());
    let mut out = BytesMut::new();
    assert_eq!(
        Servers::receive(c, n, conn, &wire, now, &mut out),
        Ok(1),
        "{args:?}"
    );
    out.to_vec()
}

/// Sends one command to node `n` on `conn`; returns the decoded reply.
fn run(c: &mut FakeCluster, n: u16, conn: NodeConnId, now: Instant, args: &[&str]) -> Frame {
    let mut out = BytesMut::from(&raw(c, n, conn, now, args)[..]);
    let frame = resp_core::Decoder::new()
        .decode(&mut out)
        .expect("valid RESP")
        .expect("a whole reply");
    assert!(out.is_empty(), "one reply");
    frame
}

fn error_text(frame: &Frame) -> String {
    match frame {
        Frame::SimpleError(e) | Frame::BulkError(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A key named `<prefix><i>` whose slot node `n` owns (by the operator's record).
fn key_on(c: &FakeCluster, n: u16, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| c.truth().owner(resp_core::slot(k.as_bytes())) == Some(n))
        .expect("some key")
}

/// The offset a primary's `ROLE` reports, as the bulk string its replica lines carry.
fn role_offset(role: &[Frame]) -> Frame {
    let Frame::Integer(offset) = role[1] else {
        panic!("an offset: {role:?}")
    };
    bulk(&offset.to_string())
}

fn three_shards(replicas: u16) -> FakeCluster {
    FakeCluster::new(ClusterConfig::new(3, replicas))
}

#[test]
fn layout_addresses_and_ids() {
    let c = three_shards(1);
    assert_eq!(c.numbers(), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(c.truth().primaries(), vec![0, 1, 2]);
    assert_eq!(c.truth().replicas_of(1), vec![4]);
    assert_eq!(c.truth().ranges_of(0), vec![0..=5460]);
    assert_eq!(c.truth().ranges_of(2), vec![10922..=16383]);
    assert_eq!(c.find(&node_addr(4)), Some(4));
    let by_ip = ServerAddr::Tcp {
        host: "10.0.0.4".into(),
        port: 7004,
    };
    assert_eq!(c.find(&by_ip), Some(4));
    let wrong_port = ServerAddr::Tcp {
        host: "node-4".into(),
        port: 7003,
    };
    assert_eq!(c.find(&wrong_port), None);
    assert_eq!(node_id(0).len(), 40);
    assert_ne!(node_id(0), node_id(1));
    assert_eq!(c.dial(&node_addr(9)), Dial::Refuse);
}

#[test]
fn a_keyed_command_for_another_nodes_slot_is_moved() {
    let now = Clock::new().now();
    let mut c = three_shards(0);
    let conn = c.accept(0);
    let mine = key_on(&c, 0, "k");
    let theirs = key_on(&c, 1, "k");
    let slot = resp_core::slot(theirs.as_bytes());
    assert_eq!(run(&mut c, 0, conn, now, &["SET", &mine, "v"]), ok());
    assert_eq!(run(&mut c, 0, conn, now, &["GET", &mine]), bulk("v"));
    assert_eq!(
        raw(&mut c, 0, conn, now, &["GET", &theirs]),
        format!("-MOVED {slot} node-1:7001\r\n").into_bytes()
    );
    // Keyless commands run anywhere.
    assert_eq!(
        run(&mut c, 0, conn, now, &["PING"]),
        Frame::SimpleString("PONG".into())
    );
    assert_eq!(run(&mut c, 0, conn, now, &["ECHO", "x"]), bulk("x"));
    assert_eq!(run(&mut c, 0, conn, now, &["DBSIZE"]), Frame::Integer(1));
    let on_1 = c.accept(1);
    assert_eq!(run(&mut c, 1, on_1, now, &["DBSIZE"]), Frame::Integer(0));
    assert_eq!(c.executions("SET", mine.as_bytes()), 1);
    assert_eq!(
        c.executions("GET", theirs.as_bytes()),
        0,
        "a redirect runs nothing"
    );
}

#[test]
fn keys_in_different_slots_are_crossslot() {
    let now = Clock::new().now();
    let mut c = three_shards(0);
    let conn = c.accept(0);
    let a = key_on(&c, 0, "a");
    let b = (0..)
        .map(|i| format!("b{i}"))
        .find(|k| {
            let s = resp_core::slot(k.as_bytes());
            c.truth().owner(s) == Some(0) && s != resp_core::slot(a.as_bytes())
        })
        .unwrap();
    let crossslot = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n".to_vec();
    assert_eq!(
        raw(&mut c, 0, conn, now, &["MGET", &a, &b]),
        crossslot,
        "same node, two slots"
    );
    assert_eq!(raw(&mut c, 0, conn, now, &["DEL", &a, &b]), crossslot);
    assert_eq!(
        raw(&mut c, 0, conn, now, &["MSET", &a, "1", &b, "2"]),
        crossslot
    );
    // A hash tag puts keys in one slot.
    let tag = key_on(&c, 0, "t");
    let (x, y) = (format!("{{{tag}}}x"), format!("{{{tag}}}y"));
    assert_eq!(run(&mut c, 0, conn, now, &["MSET", &x, "1", &y, "2"]), ok());
    assert_eq!(
        run(
            &mut c,
            0,
            conn,
            now,
            &["MGET", &x, &y, &format!("{{{tag}}}z")]
        ),
        Frame::Array(vec![bulk("1"), bulk("2"), Frame::NullBulkString])
    );
    assert_eq!(
        run(&mut c, 0, conn, now, &["EXISTS", &x, &y, &x]),
        Frame::Integer(3)
    );
    assert_eq!(
        run(&mut c, 0, conn, now, &["UNLINK", &x]),
        Frame::Integer(1)
    );
    assert_eq!(
        run(&mut c, 0, conn, now, &["TOUCH", &x, &y]),
        Frame::Integer(1)
    );
    // Each key of a multi-key command counts once in the log.
    assert_eq!(c.executions("MGET", x.as_bytes()), 1);
    assert_eq!(c.executions("MGET", y.as_bytes()), 1);
}

/// Slot `slot` migrating from node 0 to node 1, set the way redis-cli does.
fn start_migration(c: &mut FakeCluster, slot: u16) {
    c.change_view(
        1,
        &ViewChange::Importing {
            slots: slot..=slot,
            from: 0,
        },
    );
    c.change_view(
        0,
        &ViewChange::Migrating {
            slots: slot..=slot,
            to: 1,
        },
    );
}

#[test]
fn a_migrating_slot_asks_for_missing_keys_and_asking_is_one_shot() {
    let now = Clock::new().now();
    let mut c = three_shards(0);
    let tag = key_on(&c, 0, "m");
    let slot = resp_core::slot(tag.as_bytes());
    let (here, gone) = (format!("{{{tag}}}here"), format!("{{{tag}}}gone"));
    let source = c.accept(0);
    run(&mut c, 0, source, now, &["SET", &here, "1"]);
    start_migration(&mut c, slot);

    // The source serves keys it still has, and sends the client to the target for others.
    assert_eq!(run(&mut c, 0, source, now, &["GET", &here]), bulk("1"));
    assert_eq!(
        raw(&mut c, 0, source, now, &["SET", &gone, "2"]),
        format!("-ASK {slot} node-1:7001\r\n").into_bytes()
    );
    // The target refuses without ASKING (the slot is not its own yet)...
    let target = c.accept(1);
    assert_eq!(
        raw(&mut c, 1, target, now, &["SET", &gone, "2"]),
        format!("-MOVED {slot} node-0:7000\r\n").into_bytes()
    );
    // ... serves the next command after ASKING ...
    assert_eq!(run(&mut c, 1, target, now, &["ASKING"]), ok());
    assert_eq!(run(&mut c, 1, target, now, &["SET", &gone, "2"]), ok());
    // ... and only that one.
    assert_eq!(
        error_text(&run(&mut c, 1, target, now, &["GET", &gone])),
        format!("MOVED {slot} node-0:7000")
    );
    // ASKING before MULTI covers the whole transaction.
    assert_eq!(run(&mut c, 1, target, now, &["ASKING"]), ok());
    assert_eq!(run(&mut c, 1, target, now, &["MULTI"]), ok());
    assert_eq!(
        run(&mut c, 1, target, now, &["INCR", &gone]).error_code(),
        None,
        "queued"
    );
    assert_eq!(
        run(&mut c, 1, target, now, &["GET", &gone]),
        Frame::SimpleString("QUEUED".into())
    );
    assert_eq!(
        run(&mut c, 1, target, now, &["EXEC"]),
        Frame::Array(vec![Frame::Integer(3), bulk("3")])
    );
    assert_eq!(
        error_text(&run(&mut c, 1, target, now, &["GET", &gone])),
        format!("MOVED {slot} node-0:7000"),
        "ASKING ended with the transaction"
    );
    // A node that neither owns nor imports the slot sends the client to the owner.
    let other = c.accept(2);
    assert_eq!(
        error_text(&run(&mut c, 2, other, now, &["GET", &gone])),
        format!("MOVED {slot} node-0:7000")
    );
}

#[test]
fn a_multi_key_command_on_a_half_moved_slot_is_tryagain() {
    let now = Clock::new().now();
    let mut c = three_shards(0);
    let tag = key_on(&c, 0, "t");
    let slot = resp_core::slot(tag.as_bytes());
    let (a, b) = (format!("{{{tag}}}a"), format!("{{{tag}}}b"));
    let source = c.accept(0);
    run(&mut c, 0, source, now, &["MSET", &a, "1", &b, "2"]);
    start_migration(&mut c, slot);
    assert!(c.move_key(a.as_bytes(), 0, 1, now));
    assert!(!c.move_key(a.as_bytes(), 0, 1, now), "a key moves once");
    let tryagain = b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n".to_vec();
    // The source has b but not a.
    assert_eq!(raw(&mut c, 0, source, now, &["MGET", &a, &b]), tryagain);
    assert_eq!(run(&mut c, 0, source, now, &["GET", &b]), bulk("2"));
    assert_eq!(
        error_text(&run(&mut c, 0, source, now, &["GET", &a])),
        format!("ASK {slot} node-1:7001")
    );
    // The target, after ASKING, has a but not b.
    let target = c.accept(1);
    run(&mut c, 1, target, now, &["ASKING"]);
    assert_eq!(raw(&mut c, 1, target, now, &["MGET", &a, &b]), tryagain);
    run(&mut c, 1, target, now, &["ASKING"]);
    assert_eq!(
        run(&mut c, 1, target, now, &["MGET", &a, &a]),
        Frame::Array(vec![bulk("1"), bulk("1")]),
        "the same key twice is not several keys"
    );
    // Once the last key moved and the slot is the target's, everything is simple again.
    assert!(c.move_key(b.as_bytes(), 0, 1, now));
    assert_eq!(c.key_in(0, &(slot..=slot), now), None);
    c.change_everywhere(&ViewChange::Owner {
        slots: slot..=slot,
        node: 1,
    });
    assert_eq!(
        run(&mut c, 1, target, now, &["MGET", &a, &b]),
        Frame::Array(vec![bulk("1"), bulk("2")])
    );
    assert_eq!(
        error_text(&run(&mut c, 0, source, now, &["GET", &a])),
        format!("MOVED {slot} node-1:7001")
    );
    assert_eq!(c.check_placement(now), Ok(()));
}

#[test]
fn transactions_are_checked_when_queued_and_at_exec() {
    let now = Clock::new().now();
    let mut c = three_shards(0);
    let conn = c.accept(0);
    let mine = key_on(&c, 0, "x");
    let theirs = key_on(&c, 2, "x");
    run(&mut c, 0, conn, now, &["MULTI"]);
    assert_eq!(
        run(&mut c, 0, conn, now, &["SET", &mine, "1"]),
        Frame::SimpleString("QUEUED".into())
    );
    assert!(error_text(&run(&mut c, 0, conn, now, &["SET", &theirs, "1"])).starts_with("MOVED "));
    assert_eq!(
        error_text(&run(&mut c, 0, conn, now, &["EXEC"])),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert!(run(&mut c, 0, conn, now, &["GET", &mine]).is_null());
    // The slot moves away between MULTI and EXEC: EXEC redirects and discards.
    run(&mut c, 0, conn, now, &["MULTI"]);
    run(&mut c, 0, conn, now, &["SET", &mine, "1"]);
    let slot = resp_core::slot(mine.as_bytes());
    c.change_everywhere(&ViewChange::Owner {
        slots: slot..=slot,
        node: 1,
    });
    assert_eq!(
        error_text(&run(&mut c, 0, conn, now, &["EXEC"])),
        format!("MOVED {slot} node-1:7001")
    );
    assert_eq!(
        error_text(&run(&mut c, 0, conn, now, &["EXEC"])),
        "ERR EXEC without MULTI"
    );
    assert_eq!(c.executions("SET", mine.as_bytes()), 0);
}

#[test]
fn replicas_serve_reads_after_readonly_and_copy_every_write() {
    let now = Clock::new().now();
    let mut c = three_shards(1);
    let key = key_on(&c, 0, "r");
    let elsewhere = key_on(&c, 1, "r");
    let slot = resp_core::slot(key.as_bytes());
    let primary = c.accept(0);
    run(&mut c, 0, primary, now, &["SET", &key, "v"]);
    run(
        &mut c,
        0,
        primary,
        now,
        &["RPUSH", &format!("{{{key}}}l"), "a", "b"],
    );
    // Replica 3 copies node 0.
    let replica = c.accept(3);
    let moved = format!("MOVED {slot} node-0:7000");
    assert_eq!(
        error_text(&run(&mut c, 3, replica, now, &["GET", &key])),
        moved
    );
    assert_eq!(run(&mut c, 3, replica, now, &["READONLY"]), ok());
    assert_eq!(run(&mut c, 3, replica, now, &["GET", &key]), bulk("v"));
    assert_eq!(
        run(
            &mut c,
            3,
            replica,
            now,
            &["LRANGE", &format!("{{{key}}}l"), "0", "-1"]
        ),
        Frame::Array(vec![bulk("a"), bulk("b")])
    );
    // Writes, and other shards' keys, go elsewhere even after READONLY.
    assert_eq!(
        error_text(&run(&mut c, 3, replica, now, &["SET", &key, "w"])),
        moved
    );
    assert!(error_text(&run(&mut c, 3, replica, now, &["GET", &elsewhere])).starts_with("MOVED "));
    assert_eq!(run(&mut c, 3, replica, now, &["READWRITE"]), ok());
    assert_eq!(
        error_text(&run(&mut c, 3, replica, now, &["GET", &key])),
        moved
    );
    // The replica ran nothing itself: the log counts the primary's runs only.
    assert_eq!(c.executions("SET", key.as_bytes()), 1);
    assert_eq!(c.node(3).unwrap().log().count("GET", key.as_bytes()), 1);
    assert_eq!(c.check_placement(now), Ok(()));
    // A READONLY replica runs scripts (EVAL is not flagged as a write) but refuses their
    // writes, as Redis 7 does.
    run(&mut c, 3, replica, now, &["READONLY"]);
    let script = "return redis.call('INCR', KEYS[1])";
    assert_eq!(
        error_text(&run(&mut c, 3, replica, now, &["EVAL", script, "1", &key])),
        "READONLY You can't write against a read only replica."
    );
}

#[test]
fn a_failed_primary_takes_the_cluster_down_until_its_replica_is_promoted() {
    let now = Clock::new().now();
    let mut c = three_shards(1);
    let key = key_on(&c, 1, "f");
    let conn = c.accept(1);
    run(&mut c, 1, conn, now, &["SET", &key, "kept"]);
    c.crash(1, false);
    assert_eq!(c.dial(&node_addr(1)), Dial::Refuse);
    c.change_everywhere(&ViewChange::Failed {
        node: 1,
        failed: true,
    });
    let other = c.accept(0);
    let mine = key_on(&c, 0, "f");
    assert_eq!(
        error_text(&run(&mut c, 0, other, now, &["GET", &mine])),
        "CLUSTERDOWN The cluster is down",
        "full coverage: every keyed command is refused"
    );
    assert_eq!(
        run(&mut c, 0, other, now, &["PING"]),
        Frame::SimpleString("PONG".into())
    );
    c.change_everywhere(&ViewChange::Promote { node: 4 });
    assert_eq!(c.truth().primaries(), vec![0, 2, 4]);
    assert_eq!(c.truth().replicas_of(4), vec![1]);
    let promoted = c.accept(4);
    assert_eq!(run(&mut c, 4, promoted, now, &["GET", &key]), bulk("kept"));
    let slot = resp_core::slot(key.as_bytes());
    assert_eq!(
        error_text(&run(&mut c, 0, other, now, &["GET", &key])),
        format!("MOVED {slot} node-4:7004")
    );
    // The old primary comes back as a replica with the new primary's data.
    run(&mut c, 4, promoted, now, &["SET", &key, "newer"]);
    c.revive_as_replica(1, 4);
    c.change_everywhere(&ViewChange::Failed {
        node: 1,
        failed: false,
    });
    let back = c.accept(1);
    run(&mut c, 1, back, now, &["READONLY"]);
    assert_eq!(run(&mut c, 1, back, now, &["GET", &key]), bulk("newer"));
    // ROLE follows the views: node 1 copies node 4, which lists it.
    let Frame::Array(role) = run(&mut c, 1, back, now, &["ROLE"]) else {
        panic!("an array")
    };
    assert_eq!(
        role[..4],
        [
            bulk("slave"),
            bulk("10.0.0.4"),
            Frame::Integer(7004),
            bulk("connected")
        ]
    );
    let Frame::Array(role) = run(&mut c, 4, promoted, now, &["ROLE"]) else {
        panic!("an array")
    };
    assert_eq!(role[0], bulk("master"));
    assert_eq!(
        role[2],
        Frame::Array(vec![Frame::Array(vec![
            bulk("10.0.0.1"),
            bulk("7001"),
            role_offset(&role)
        ])])
    );
    assert_eq!(
        c.executions("SET", key.as_bytes()),
        2,
        "the old process's log is kept"
    );
    assert_eq!(c.check_placement(now), Ok(()));

    // Without full coverage, only the failed owner's slots are affected.
    let mut config = ClusterConfig::new(3, 1);
    config.full_coverage = false;
    let mut c = FakeCluster::new(config);
    c.crash(1, true);
    assert_eq!(c.dial(&node_addr(1)), Dial::Ignore);
    c.change_everywhere(&ViewChange::Failed {
        node: 1,
        failed: true,
    });
    let conn = c.accept(0);
    let mine = key_on(&c, 0, "g");
    assert!(run(&mut c, 0, conn, now, &["GET", &mine]).is_null());
}

#[test]
fn cluster_shards_in_resp2_and_resp3() {
    let now = Clock::new().now();
    let mut c = three_shards(1);
    let conn = c.accept(2);
    let resp2 = raw(&mut c, 2, conn, now, &["CLUSTER", "SHARDS"]);
    let id0 = node_id(0);
    let start = format!(
        "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*16\r\n\
         $2\r\nid\r\n$40\r\n{id0}\r\n$4\r\nport\r\n:7000\r\n$2\r\nip\r\n$8\r\n10.0.0.0\r\n\
         $8\r\nendpoint\r\n$6\r\nnode-0\r\n$8\r\nhostname\r\n$6\r\nnode-0\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:"
    );
    assert!(
        resp2.starts_with(start.as_bytes()),
        "{}",
        String::from_utf8_lossy(&resp2)
    );
    run(&mut c, 2, conn, now, &["HELLO", "3"]);
    let Frame::Array(shards) = run(&mut c, 2, conn, now, &["CLUSTER", "SHARDS"]) else {
        panic!("an array of shards");
    };
    assert_eq!(shards.len(), 3);
    let Frame::Map(shard) = &shards[1] else {
        panic!("a shard is a map in RESP3");
    };
    assert_eq!(
        shard[0],
        (
            bulk("slots"),
            Frame::Array(vec![Frame::Integer(5461), Frame::Integer(10921)])
        )
    );
    let (name, Frame::Array(nodes)) = &shard[1] else {
        panic!("nodes");
    };
    assert_eq!(*name, bulk("nodes"));
    let Frame::Map(replica) = &nodes[1] else {
        panic!("a node is a map");
    };
    let fields: Vec<&Frame> = replica.iter().map(|(k, _)| k).collect();
    let names = [
        "id",
        "port",
        "ip",
        "endpoint",
        "hostname",
        "role",
        "replication-offset",
        "health",
    ];
    assert_eq!(
        fields,
        names
            .iter()
            .map(|n| bulk(n))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(replica[0].1, bulk(&node_id(4)));
    assert_eq!(replica[1].1, Frame::Integer(7004));
    assert_eq!(replica[3].1, bulk("node-4"));
    assert_eq!(replica[5].1, bulk("replica"));
    assert!(matches!(replica[6].1, Frame::Integer(n) if n > 0));
    assert_eq!(replica[7].1, bulk("online"));

    // A failed node says so; a migrated range splits the shard's slots.
    c.change_everywhere(&ViewChange::Failed {
        node: 4,
        failed: true,
    });
    c.change_everywhere(&ViewChange::Owner {
        slots: 100..=199,
        node: 1,
    });
    let Frame::Array(shards) = run(&mut c, 2, conn, now, &["CLUSTER", "SHARDS"]) else {
        panic!("an array of shards");
    };
    let Frame::Map(shard0) = &shards[0] else {
        panic!()
    };
    assert_eq!(
        shard0[0].1,
        Frame::Array([0, 99, 200, 5460].map(Frame::Integer).to_vec())
    );
    let Frame::Map(shard1) = &shards[1] else {
        panic!()
    };
    assert_eq!(
        shard1[0].1,
        Frame::Array([100, 199, 5461, 10921].map(Frame::Integer).to_vec())
    );
    let Frame::Array(nodes) = &shard1[1].1 else {
        panic!()
    };
    let Frame::Map(replica) = &nodes[1] else {
        panic!()
    };
    assert_eq!(replica[7].1, bulk("fail"));
}

#[test]
fn cluster_slots_keyslot_and_myid() {
    let now = Clock::new().now();
    let mut c = three_shards(1);
    let conn = c.accept(0);
    let resp2 = raw(&mut c, 0, conn, now, &["CLUSTER", "SLOTS"]);
    let (id0, id3) = (node_id(0), node_id(3));
    let first = format!(
        "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$6\r\nnode-0\r\n:7000\r\n$40\r\n{id0}\r\n\
         *2\r\n$2\r\nip\r\n$8\r\n10.0.0.0\r\n*4\r\n$6\r\nnode-3\r\n:7003\r\n$40\r\n{id3}\r\n\
         *2\r\n$2\r\nip\r\n$8\r\n10.0.0.3\r\n*4\r\n:5461\r\n"
    );
    assert!(
        resp2.starts_with(first.as_bytes()),
        "{}",
        String::from_utf8_lossy(&resp2)
    );
    run(&mut c, 0, conn, now, &["HELLO", "3"]);
    let Frame::Array(ranges) = run(&mut c, 0, conn, now, &["CLUSTER", "SLOTS"]) else {
        panic!()
    };
    let Frame::Array(last) = &ranges[2] else {
        panic!()
    };
    assert_eq!(last[0], Frame::Integer(10922));
    assert_eq!(last[1], Frame::Integer(16383));
    let Frame::Array(primary) = &last[2] else {
        panic!()
    };
    assert_eq!(
        primary[3],
        Frame::Map(vec![(bulk("ip"), bulk("10.0.0.2"))]),
        "a map in RESP3"
    );
    // Failed replicas are left out.
    c.change_everywhere(&ViewChange::Failed {
        node: 5,
        failed: true,
    });
    let Frame::Array(ranges) = run(&mut c, 0, conn, now, &["CLUSTER", "SLOTS"]) else {
        panic!()
    };
    let Frame::Array(last) = &ranges[2] else {
        panic!()
    };
    assert_eq!(last.len(), 3);
    assert_eq!(
        run(&mut c, 0, conn, now, &["CLUSTER", "KEYSLOT", "somekey"]),
        Frame::Integer(11058)
    );
    assert_eq!(
        run(
            &mut c,
            0,
            conn,
            now,
            &["CLUSTER", "KEYSLOT", "{user1000}.following"]
        ),
        Frame::Integer(i64::from(resp_core::slot(b"user1000")))
    );
    assert_eq!(
        run(&mut c, 0, conn, now, &["CLUSTER", "MYID"]),
        bulk(&node_id(0))
    );
    assert!(run(&mut c, 0, conn, now, &["CLUSTER", "NOPE"]).is_error());
}

#[test]
fn cluster_mode_handshake_and_standalone_refusals() {
    let now = Clock::new().now();
    let mut c = three_shards(0);
    let conn = c.accept(0);
    let Frame::Map(hello) = run(&mut c, 0, conn, now, &["HELLO", "3"]) else {
        panic!()
    };
    assert!(hello.contains(&(bulk("mode"), bulk("cluster"))));
    assert_eq!(run(&mut c, 0, conn, now, &["SELECT", "0"]), ok());
    assert_eq!(
        error_text(&run(&mut c, 0, conn, now, &["SELECT", "1"])),
        "ERR SELECT is not allowed in cluster mode"
    );

    let mut node = FakeNode::new(NodeConfig::default());
    let conn = node.accept();
    for command in [&["CLUSTER", "SHARDS"][..], &["READONLY"], &["ASKING"]] {
        let mut wire = BytesMut::new();
        resp_core::encode_command(&mut wire, command.iter().copied());
        let mut out = BytesMut::new();
        node.receive(conn, &wire, now, &mut out).unwrap();
        assert_eq!(
            &out[..],
            b"-ERR This instance has cluster support disabled\r\n",
            "{command:?}"
        );
    }
}

/// Runs the cluster's own agenda until nothing is left, from `now`.
fn settle(c: &mut FakeCluster, now: &mut Instant) -> Vec<Outage> {
    let mut outages = Vec::new();
    for _ in 0..100_000 {
        let Some(at) = c.next_change() else {
            return outages;
        };
        *now = (*now).max(at);
        outages.extend(c.change(*now));
    }
    panic!("the agenda never emptied");
}

/// Every running node agrees with the operator's record on who owns each slot and on the
/// roles.
fn converged(c: &FakeCluster) -> Result<(), String> {
    for n in c.numbers() {
        if c.state(n) != Some(NodeState::Up) {
            continue;
        }
        let view = c.node(n).unwrap().view().unwrap();
        for slot in 0..SLOTS as u16 {
            if view.owner(slot) != c.truth().owner(slot) {
                return Err(format!(
                    "node {n} thinks slot {slot} is {:?}'s",
                    view.owner(slot)
                ));
            }
            if view.migrating(slot).is_some() || view.importing(slot).is_some() {
                return Err(format!("node {n} still migrates slot {slot}"));
            }
        }
        let mine: Vec<_> = view.peers().collect();
        let truth: Vec<_> = c.truth().peers().collect();
        if mine != truth {
            return Err(format!("node {n} sees {mine:?}, not {truth:?}"));
        }
    }
    Ok(())
}

#[test]
fn chaos_migrates_keys_one_at_a_time_and_every_node_catches_up() {
    let mut now = Clock::new().now();
    let mut c = three_shards(1);
    let conn = c.accept(0);
    let tag = key_on(&c, 0, "hot");
    let slot = resp_core::slot(tag.as_bytes());
    for i in 0..20 {
        run(
            &mut c,
            0,
            conn,
            now,
            &["SET", &format!("{{{tag}}}{i}"), "v"],
        );
    }
    let chaos = Chaos::new(5, ChaosTiming::default()).then(
        Duration::from_millis(3),
        ChaosAction::Migrate(Some(slot..=slot)),
    );
    c.start_chaos(chaos, now);
    // Watch the keys move: at every step, each key is in exactly one shard (mid-migration,
    // keys sit on the target before the record says the target owns them).
    let mut moved_some = false;
    while let Some(at) = c.next_change() {
        now = at;
        assert!(c.change(now).is_empty());
        if let Err(e) = c.check_placement(now) {
            assert!(e.contains("but node Some(0) owns the slot"), "{e}");
            moved_some = true;
        }
    }
    assert!(moved_some);
    assert!(c.chaos_done());
    let EpisodeKind::Migration { to, .. } = c.episodes()[0].kind.clone() else {
        panic!("{:?}", c.episodes());
    };
    assert_eq!(c.truth().owner(slot), Some(to));
    assert_eq!(c.node(to).unwrap().keys(0, now).len(), 20);
    let replica = c.truth().replicas_of(to)[0];
    assert_eq!(
        c.node(replica).unwrap().keys(0, now).len(),
        20,
        "the target's replica too"
    );
    assert!(c.node(0).unwrap().keys(0, now).is_empty());
    assert!(
        c.node(3).unwrap().keys(0, now).is_empty(),
        "the source's replica too"
    );
    assert_eq!(c.check_placement(now), Ok(()));
    converged(&c).unwrap();
    let episode = &c.episodes()[0];
    assert_eq!(
        episode.kind,
        EpisodeKind::Migration {
            slots: slot..=slot,
            from: 0,
            to
        }
    );
    assert!(episode.ended.is_some_and(|end| end > episode.started));
}

#[test]
fn chaos_fails_over_adds_and_removes_nodes() {
    let mut now = Clock::new().now();
    let mut c = three_shards(1);
    let conn = c.accept(2);
    let key = key_on(&c, 2, "fo");
    run(&mut c, 2, conn, now, &["SET", &key, "v"]);
    let timing = ChaosTiming {
        revive: (1.0, (10, 20)),
        silent_crash: 0.0,
        ..ChaosTiming::default()
    };
    let chaos = Chaos::new(9, timing)
        .then(Duration::ZERO, ChaosAction::Failover)
        .then(Duration::from_millis(1), ChaosAction::AddNode)
        .then(Duration::from_millis(2), ChaosAction::RemoveShard);
    c.start_chaos(chaos, now);
    let outages = settle(&mut c, &mut now);
    assert!(c.chaos_done());
    let kinds: Vec<_> = c.episodes().iter().map(|e| &e.kind).collect();
    let Some(EpisodeKind::Failover {
        primary,
        replica,
        silent: false,
    }) = kinds.first().copied()
    else {
        panic!("{kinds:?}");
    };
    assert!(outages.contains(&Outage::Reset {
        node: *primary,
        reason: "connection reset by peer (node crashed)"
    }));
    assert_eq!(
        c.truth().peer(*primary).map(|p| p.primary),
        Some(Some(*replica))
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EpisodeKind::Join { node: 6 }))
    );
    let Some(EpisodeKind::Leave { nodes }) = kinds.last().copied() else {
        panic!("{kinds:?}");
    };
    for n in nodes {
        assert_eq!(c.state(*n), Some(NodeState::Retired));
        assert!(outages.contains(&Outage::Retire { node: *n }));
        assert!(c.truth().peer(*n).is_none());
    }
    let primaries = c.truth().primaries();
    let served: usize = primaries.iter().map(|&p| c.truth().slot_count(p)).sum();
    assert_eq!(served, SLOTS, "every slot still has an owner");
    converged(&c).unwrap();
    assert_eq!(c.check_placement(now), Ok(()));
    let owner = c.truth().owner(resp_core::slot(key.as_bytes())).unwrap();
    assert_eq!(
        Servers::stored(&mut c, 0, key.as_bytes(), now),
        Some(StoredValue::String("v".into())),
        "the key survived on node {owner}"
    );
}
