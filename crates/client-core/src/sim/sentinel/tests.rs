//! The fake sentinels and their data nodes on their own, driven with raw RESP: discovery
//! replies in both protocols, pub/sub, passwords, replication and the agenda's failovers.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use resp_core::Frame;

use super::*;
use crate::sim::Clock;
use crate::sim::node_addr;

fn bulk(text: &str) -> Frame {
    Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
}

/// Sends one command to node `n` on `conn`; returns the raw reply bytes.
fn raw(s: &mut FakeSentinels, n: u16, conn: NodeConnId, now: Instant, args: &[&str]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    resp_core::encode_command(&mut wire, args.iter().copied());
    let mut out = BytesMut::new();
    assert_eq!(
        Servers::receive(s, n, conn, &wire, now, &mut out),
        Ok(1),
        "{args:?}"
    );
    out.to_vec()
}

/// Every frame in `bytes`.
fn frames(bytes: &[u8]) -> Vec<Frame> {
    let mut input = BytesMut::from(bytes);
    let mut decoder = resp_core::Decoder::new();
    let mut all = Vec::new();
    while let Some(frame) = decoder.decode(&mut input).expect("valid RESP") {
        all.push(frame);
    }
    assert!(input.is_empty(), "whole frames");
    all
}

/// Sends one command to node `n` on `conn`; returns its one reply, decoded.
fn run(s: &mut FakeSentinels, n: u16, conn: NodeConnId, now: Instant, args: &[&str]) -> Frame {
    let mut all = frames(&raw(s, n, conn, now, args));
    assert_eq!(all.len(), 1, "one reply to {args:?}: {all:?}");
    all.remove(0)
}

/// The value of `field` in an instance entry: a map (RESP3) or a flat array (RESP2).
fn field(entry: &Frame, name: &str) -> Option<String> {
    let pairs: Vec<(Frame, Frame)> = match entry {
        Frame::Map(pairs) => pairs.clone(),
        Frame::Array(items) => items
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect(),
        other => panic!("not an entry: {other:?}"),
    };
    pairs.into_iter().find_map(|(k, v)| match (k, v) {
        (Frame::BulkString(k), Frame::BulkString(v)) if k == name.as_bytes() => {
            Some(String::from_utf8_lossy(&v).into_owned())
        }
        _ => None,
    })
}

fn entries(reply: Frame) -> Vec<Frame> {
    match reply {
        Frame::Array(entries) => entries,
        other => panic!("not an array: {other:?}"),
    }
}

fn set(replicas: u16, sentinels: u16) -> FakeSentinels {
    FakeSentinels::new(SentinelConfig::new("orders", replicas, sentinels))
}

/// Applies everything due by `until`, in order; returns the outages.
fn run_agenda(s: &mut FakeSentinels, until: Instant) -> Vec<Outage> {
    let mut outages = Vec::new();
    while let Some(at) = s.next_change().filter(|&at| at <= until) {
        outages.extend(s.change(at));
    }
    outages
}

/// The `message` frames in `outages` sent by sentinel `i`, as (channel, payload).
fn messages(outages: &[Outage], i: u16) -> Vec<(String, String)> {
    outages
        .iter()
        .filter_map(|o| match o {
            Outage::Send { node, data, .. } if *node == sentinel_node(i) => Some(frames(data)),
            _ => None,
        })
        .flatten()
        .map(|f| {
            let (Frame::Push(items) | Frame::Array(items)) = f else {
                panic!("a message: {f:?}")
            };
            let text = |f: &Frame| String::from_utf8_lossy(f.as_bytes().unwrap()).into_owned();
            (text(&items[1]), text(&items[2]))
        })
        .collect()
}

#[test]
fn addresses_reach_the_sentinels_and_the_data_nodes() {
    let s = set(2, 3);
    assert_eq!(s.dial(&sentinel_addr(2)), Dial::Accept(sentinel_node(2)));
    let by_ip = ServerAddr::Tcp {
        host: "10.1.0.1".into(),
        port: 26380,
    };
    assert_eq!(s.dial(&by_ip), Dial::Accept(sentinel_node(1)));
    assert_eq!(s.dial(&sentinel_addr(3)), Dial::Refuse, "only three");
    assert_eq!(s.dial(&node_addr(2)), Dial::Accept(2));
    let by_ip = ServerAddr::Tcp {
        host: "10.0.0.1".into(),
        port: 7001,
    };
    assert_eq!(s.dial(&by_ip), Dial::Accept(1));
    assert_eq!(s.dial(&node_addr(3)), Dial::Refuse);
    assert_eq!(s.sentinel_addrs().len(), 3);
    assert_eq!((s.primary(), s.replicas()), (0, vec![1, 2]));
}

#[test]
fn a_sentinel_names_the_primary_in_both_protocols() {
    let now = Clock::new().now();
    let mut s = set(1, 2);
    let n = sentinel_node(0);
    let c = s.accept(n);
    let addr = b"*2\r\n$8\r\n10.0.0.0\r\n$4\r\n7000\r\n";
    let ask = ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "orders"];
    assert_eq!(raw(&mut s, n, c, now, &ask), addr);
    let unknown = ["SENTINEL", "get-master-addr-by-name", "nope"];
    assert_eq!(raw(&mut s, n, c, now, &unknown), b"*-1\r\n");
    assert_eq!(raw(&mut s, n, c, now, &["PING"]), b"+PONG\r\n");
    assert_eq!(
        raw(&mut s, n, c, now, &["CLIENT", "SETNAME", "app"]),
        b"+OK\r\n"
    );
    assert_eq!(
        raw(
            &mut s,
            n,
            c,
            now,
            &["CLIENT", "SETINFO", "LIB-NAME", "redwire"]
        ),
        b"+OK\r\n"
    );
    let hello = run(&mut s, n, c, now, &["HELLO", "3", "SETNAME", "disc"]);
    let Frame::Map(hello) = hello else {
        panic!("a map")
    };
    assert!(hello.contains(&(bulk("mode"), bulk("sentinel"))));
    assert!(hello.contains(&(bulk("proto"), Frame::Integer(3))));
    assert_eq!(s.sentinel(0).unwrap().name_of(c), Some(&b"disc"[..]));
    assert_eq!(
        raw(&mut s, n, c, now, &ask),
        addr,
        "the same array in RESP3"
    );
    assert_eq!(raw(&mut s, n, c, now, &unknown), b"_\r\n");
    assert_eq!(
        raw(&mut s, n, c, now, &["SENTINEL", "SENTINELS", "nope"]),
        b"-ERR No such master with that name\r\n"
    );
    assert!(raw(&mut s, n, c, now, &["GET", "k"]).starts_with(b"-ERR unknown command 'GET'"));
    assert!(raw(&mut s, n, c, now, &["SENTINEL", "FROB"]).starts_with(b"-ERR unknown subcommand"));
    assert_eq!(
        run(&mut s, n, c, now, &["ROLE"]),
        Frame::Array(vec![bulk("sentinel"), Frame::Array(vec![bulk("orders")])])
    );
    let master = run(&mut s, n, c, now, &["SENTINEL", "MASTER", "orders"]);
    assert_eq!(field(&master, "flags").as_deref(), Some("master"));
    assert_eq!(field(&master, "num-slaves").as_deref(), Some("1"));
    assert_eq!(field(&master, "num-other-sentinels").as_deref(), Some("1"));
}

#[test]
fn replicas_and_sentinels_are_maps_in_resp3_and_flat_arrays_in_resp2() {
    let now = Clock::new().now();
    let mut s = set(2, 3);
    let n = sentinel_node(1);
    let c = s.accept(n);
    let replicas = entries(run(&mut s, n, c, now, &["SENTINEL", "REPLICAS", "orders"]));
    assert_eq!(replicas.len(), 2);
    assert!(matches!(replicas[0], Frame::Array(_)), "RESP2: flat arrays");
    assert_eq!(
        field(&replicas[0], "name").as_deref(),
        Some("10.0.0.1:7001")
    );
    assert_eq!(field(&replicas[0], "ip").as_deref(), Some("10.0.0.1"));
    assert_eq!(field(&replicas[0], "port").as_deref(), Some("7001"));
    assert_eq!(field(&replicas[1], "flags").as_deref(), Some("slave"));
    assert_eq!(field(&replicas[1], "runid"), Some(crate::sim::node_id(2)));
    assert_eq!(
        field(&replicas[1], "master-link-status").as_deref(),
        Some("ok")
    );
    // The first bytes, exactly: an array of two arrays of field/value bulk strings.
    let bytes = raw(&mut s, n, c, now, &["SENTINEL", "SLAVES", "orders"]);
    assert!(
        bytes.starts_with(b"*2\r\n*42\r\n$4\r\nname\r\n$13\r\n10.0.0.1:7001\r\n$2\r\nip\r\n"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    run(&mut s, n, c, now, &["HELLO", "3"]);
    let bytes = raw(&mut s, n, c, now, &["SENTINEL", "REPLICAS", "orders"]);
    assert!(bytes.starts_with(b"*2\r\n%21\r\n$4\r\nname\r\n"));
    let sentinels = entries(run(&mut s, n, c, now, &["SENTINEL", "SENTINELS", "orders"]));
    assert_eq!(sentinels.len(), 2, "the others");
    assert!(matches!(sentinels[0], Frame::Map(_)));
    assert_eq!(field(&sentinels[0], "ip").as_deref(), Some("10.1.0.0"));
    assert_eq!(field(&sentinels[1], "port").as_deref(), Some("26381"));
    assert_eq!(field(&sentinels[1], "flags").as_deref(), Some("sentinel"));
    assert_eq!(field(&sentinels[1], "name"), Some(sentinel_id(2)));

    // A crashed replica is disconnected at once, s_down after down_after; a crashed
    // sentinel is s_down to the others.
    s.apply(
        Happening::Crash {
            node: 2,
            silent: false,
        },
        now,
    );
    s.apply(
        Happening::CrashSentinel {
            sentinel: 2,
            silent: true,
        },
        now,
    );
    let replicas = entries(run(&mut s, n, c, now, &["SENTINEL", "REPLICAS", "orders"]));
    assert_eq!(
        field(&replicas[1], "flags").as_deref(),
        Some("slave,disconnected")
    );
    let sentinels = entries(run(&mut s, n, c, now, &["SENTINEL", "SENTINELS", "orders"]));
    assert_eq!(
        field(&sentinels[1], "flags").as_deref(),
        Some("s_down,sentinel,disconnected")
    );
    let later = now + Duration::from_secs(1);
    run_agenda(&mut s, later);
    let replicas = entries(run(
        &mut s,
        n,
        c,
        later,
        &["SENTINEL", "REPLICAS", "orders"],
    ));
    assert_eq!(
        field(&replicas[1], "flags").as_deref(),
        Some("s_down,slave,disconnected")
    );
    // Flagged down while it runs (a partition): s_down alone.
    s.apply(
        Happening::Flag {
            sentinel: Some(1),
            node: 1,
            down: true,
        },
        later,
    );
    let replicas = entries(run(
        &mut s,
        n,
        c,
        later,
        &["SENTINEL", "REPLICAS", "orders"],
    ));
    assert_eq!(
        field(&replicas[0], "flags").as_deref(),
        Some("s_down,slave")
    );
}

#[test]
fn subscribers_get_confirmations_then_switch_master_messages() {
    let now = Clock::new().now();
    let mut s = set(1, 2);
    let n = sentinel_node(0);
    let resp2 = s.accept(n);
    let resp3 = s.accept(n);
    run(&mut s, n, resp3, now, &["HELLO", "3"]);
    assert_eq!(
        raw(
            &mut s,
            n,
            resp2,
            now,
            &["SUBSCRIBE", "+switch-master", "+sdown"]
        ),
        b"*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n\
          *3\r\n$9\r\nsubscribe\r\n$6\r\n+sdown\r\n:2\r\n"
    );
    assert_eq!(
        raw(&mut s, n, resp3, now, &["SUBSCRIBE", "+switch-master"]),
        b">3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"
    );
    // RESP2 in subscribed mode: only (un)subscribing and PING.
    assert_eq!(
        raw(&mut s, n, resp2, now, &["PING"]),
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    );
    assert!(
        raw(&mut s, n, resp2, now, &["SENTINEL", "MASTERS"])
            .starts_with(b"-ERR Can't execute 'sentinel': only (P|S)SUBSCRIBE")
    );
    // RESP3 may go on asking.
    assert_eq!(raw(&mut s, n, resp3, now, &["PING"]), b"+PONG\r\n");
    assert!(raw(&mut s, n, resp3, now, &["SENTINEL", "MASTERS"]).starts_with(b"*1\r\n%"));
    assert_eq!(s.sentinel(0).unwrap().subscribers("+switch-master"), 2);

    s.apply(
        Happening::Promote {
            node: 1,
            kill_clients: true,
        },
        now,
    );
    s.apply(Happening::Switch { sentinel: 0, to: 1 }, now);
    let outages = s.change(now);
    let sends: Vec<&Outage> = outages
        .iter()
        .filter(|o| matches!(o, Outage::Send { .. }))
        .collect();
    let payload = "orders 10.0.0.0 7000 10.0.0.1 7001";
    let message2 = format!(
        "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n${}\r\n{payload}\r\n",
        payload.len()
    );
    assert_eq!(
        sends[0],
        &Outage::Send {
            node: sentinel_node(0),
            conn: resp2,
            data: Bytes::from(message2.clone()),
        }
    );
    assert_eq!(
        sends[1],
        &Outage::Send {
            node: sentinel_node(0),
            conn: resp3,
            data: Bytes::from(message2.replacen('*', ">", 1)),
        }
    );
    assert_eq!(sends.len(), 2, "sentinel 1 has no subscribers");
    assert_eq!(
        run(
            &mut s,
            n,
            resp3,
            now,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "orders"]
        ),
        Frame::Array(vec![bulk("10.0.0.1"), bulk("7001")])
    );

    // Unsubscribing answers per channel; a pattern gets pmessages.
    assert_eq!(
        frames(&raw(&mut s, n, resp2, now, &["UNSUBSCRIBE"])).len(),
        2
    );
    assert_eq!(
        raw(&mut s, n, resp2, now, &["UNSUBSCRIBE"]),
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    );
    assert_eq!(
        raw(&mut s, n, resp2, now, &["PSUBSCRIBE", "+s*"]),
        b"*3\r\n$10\r\npsubscribe\r\n$3\r\n+s*\r\n:1\r\n"
    );
    s.apply(
        Happening::Flag {
            sentinel: Some(0),
            node: 0,
            down: true,
        },
        now,
    );
    let outages = s.change(now);
    let pmessage = "*4\r\n$8\r\npmessage\r\n$3\r\n+s*\r\n$6\r\n+sdown\r\n$56\r\n\
                    slave 10.0.0.0:7000 10.0.0.0 7000 @ orders 10.0.0.1 7001\r\n";
    assert!(
        outages.contains(&Outage::Send {
            node: sentinel_node(0),
            conn: resp2,
            data: Bytes::from(pmessage),
        }),
        "{outages:?}"
    );
}

#[test]
fn the_sentinels_have_their_own_password() {
    let now = Clock::new().now();
    let mut config = SentinelConfig::new("orders", 0, 1).with_sentinel_password("s-pw");
    config.node = NodeConfig::default().with_password("d-pw");
    let mut s = FakeSentinels::new(config);
    let n = sentinel_node(0);
    let c = s.accept(n);
    let ask = ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "orders"];
    assert_eq!(
        raw(&mut s, n, c, now, &ask),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert!(raw(&mut s, n, c, now, &["HELLO", "3"]).starts_with(b"-NOAUTH HELLO must be called"));
    assert!(
        raw(
            &mut s,
            n,
            c,
            now,
            &["HELLO", "3", "AUTH", "default", "d-pw"]
        )
        .starts_with(b"-WRONGPASS")
    );
    assert!(matches!(
        run(
            &mut s,
            n,
            c,
            now,
            &["HELLO", "3", "AUTH", "default", "s-pw"]
        ),
        Frame::Map(_)
    ));
    assert_eq!(
        raw(&mut s, n, c, now, &ask),
        b"*2\r\n$8\r\n10.0.0.0\r\n$4\r\n7000\r\n"
    );
    let other = s.accept(n);
    assert_eq!(raw(&mut s, n, other, now, &["AUTH", "s-pw"]), b"+OK\r\n");
    // The data node wants its own password.
    let d = s.accept(0);
    assert!(raw(&mut s, 0, d, now, &["AUTH", "s-pw"]).starts_with(b"-WRONGPASS"));
    assert_eq!(raw(&mut s, 0, d, now, &["AUTH", "d-pw"]), b"+OK\r\n");
}

#[test]
fn replicas_copy_every_write_and_refuse_their_own() {
    let now = Clock::new().now();
    let mut s = set(2, 1);
    let p = s.accept(0);
    let r = s.accept(1);
    assert_eq!(raw(&mut s, 0, p, now, &["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(raw(&mut s, 1, r, now, &["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(
        raw(&mut s, 1, r, now, &["SET", "k", "w"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(s.holders(b"k", now), vec![0, 1, 2]);
    assert_eq!(s.executions("SET", b"k"), 1, "copies are not executions");
    assert_eq!(
        raw(&mut s, 1, r, now, &["ROLE"]),
        b"*5\r\n$5\r\nslave\r\n$8\r\n10.0.0.0\r\n:7000\r\n$9\r\nconnected\r\n:2\r\n"
    );
    let Frame::Array(role) = run(&mut s, 0, p, now, &["ROLE"]) else {
        panic!("an array")
    };
    assert_eq!(role[0], bulk("master"));
    assert_eq!(entries(role[2].clone()).len(), 2);
    // A replica that was down misses writes, then resyncs when it comes back.
    s.apply(
        Happening::Crash {
            node: 2,
            silent: false,
        },
        now,
    );
    raw(&mut s, 0, p, now, &["SET", "k2", "v2"]);
    assert_eq!(s.holders(b"k2", now), vec![0, 1]);
    let Frame::Array(role) = run(&mut s, 0, p, now, &["ROLE"]) else {
        panic!("an array")
    };
    assert_eq!(
        entries(role[2].clone()).len(),
        1,
        "ROLE lists running replicas"
    );
    s.apply(Happening::Restart { node: 2 }, now);
    assert_eq!(s.holders(b"k2", now), vec![0, 1, 2]);
    assert_eq!(
        s.stored(0, b"k2", now),
        Some(StoredValue::String("v2".into()))
    );
}

#[test]
fn a_failover_crashes_the_primary_promotes_a_replica_and_the_sentinels_follow() {
    let clock = Clock::new();
    let start = clock.now();
    let mut config = SentinelConfig::new("orders", 2, 3);
    config.seed = 5;
    let mut s = FakeSentinels::new(config);
    let subscribed: Vec<NodeConnId> = (0..3)
        .map(|i| {
            let n = sentinel_node(i);
            let c = s.accept(n);
            raw(&mut s, n, c, start, &["SUBSCRIBE", "+switch-master"]);
            c
        })
        .collect();
    let p = s.accept(0);
    raw(&mut s, 0, p, start, &["SET", "kept", "1"]);
    s.schedule(start, Happening::Failover(Failover::crash(false)));
    let outages = run_agenda(&mut s, start);
    assert_eq!(
        outages,
        vec![Outage::Reset {
            node: 0,
            reason: "connection reset by peer (node crashed)"
        }]
    );
    assert_eq!(s.dial(&node_addr(0)), Dial::Refuse);
    assert_eq!(s.primary(), 0, "not promoted yet");
    // Detection: after down_after the sentinels flag it; after 1.5 s node 1 takes over.
    let promoted = start + Duration::from_millis(1500);
    let outages = run_agenda(&mut s, promoted);
    assert_eq!(s.primary(), 1);
    for n in [1, 2] {
        assert!(outages.contains(&Outage::Reset {
            node: n,
            reason: "connection closed by the server (CLIENT KILL TYPE normal)"
        }));
    }
    let q = s.accept(1);
    assert_eq!(
        raw(&mut s, 1, q, promoted, &["GET", "kept"]),
        b"$1\r\n1\r\n"
    );
    assert_eq!(
        raw(&mut s, 1, q, promoted, &["SET", "new", "2"]),
        b"+OK\r\n"
    );
    assert_eq!(s.holders(b"new", promoted), vec![1, 2]);
    let r = s.accept(2);
    assert!(
        raw(&mut s, 2, r, promoted, &["ROLE"])
            .starts_with(b"*5\r\n$5\r\nslave\r\n$8\r\n10.0.0.1\r\n:7001\r\n")
    );
    // Each sentinel switches within 200 ms and tells its subscriber.
    let outages = run_agenda(&mut s, promoted + Duration::from_millis(200));
    for i in 0..3 {
        assert_eq!(s.sentinel(i).unwrap().names(), 1);
        assert_eq!(
            messages(&outages, i),
            vec![(
                "+switch-master".to_owned(),
                "orders 10.0.0.0 7000 10.0.0.1 7001".to_owned()
            )]
        );
        assert!(outages.iter().any(
            |o| matches!(o, Outage::Send { conn, .. } if *conn == subscribed[usize::from(i)])
        ));
    }
    let episode = &s.episodes()[0];
    assert_eq!((episode.from, episode.crashed), (0, Some(false)));
    assert_eq!(episode.promoted, Some((1, promoted)));
    assert_eq!(episode.switched.len(), 3);
    // The old primary comes back as a replica of the new one, with its data.
    s.apply(Happening::Restart { node: 0 }, promoted);
    let back = s.accept(0);
    assert_eq!(
        raw(&mut s, 0, back, promoted, &["GET", "new"]),
        b"$1\r\n2\r\n"
    );
    assert!(raw(&mut s, 0, back, promoted, &["SET", "x", "1"]).starts_with(b"-READONLY"));
    let n = sentinel_node(0);
    let c = s.accept(n);
    let replicas = entries(run(
        &mut s,
        n,
        c,
        promoted,
        &["SENTINEL", "REPLICAS", "orders"],
    ));
    let names: Vec<String> = replicas.iter().map(|r| field(r, "ip").unwrap()).collect();
    assert_eq!(names, ["10.0.0.0", "10.0.0.2"]);
}

#[test]
fn a_manual_failover_demotes_the_live_primary_and_a_liar_never_switches() {
    let now = Clock::new().now();
    let mut s = set(1, 3);
    s.apply(
        Happening::Lie {
            sentinel: 2,
            names: 0,
        },
        now,
    );
    let old = s.accept(0);
    raw(&mut s, 0, old, now, &["SET", "k", "v"]);
    s.schedule(now, Happening::Failover(Failover::manual()));
    let outages = run_agenda(&mut s, now + Duration::from_secs(1));
    assert_eq!(s.primary(), 1);
    assert!(outages.contains(&Outage::Reset {
        node: 0,
        reason: "connection closed by the server (CLIENT KILL TYPE normal)"
    }));
    assert_eq!(s.state(0), Some(NodeState::Up));
    let again = s.accept(0);
    assert_eq!(
        raw(&mut s, 0, again, now, &["SET", "k", "w"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(raw(&mut s, 0, again, now, &["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(s.sentinel(0).unwrap().names(), 1);
    assert_eq!(s.sentinel(1).unwrap().names(), 1);
    let liar = s.sentinel(2).unwrap();
    assert_eq!((liar.names(), liar.is_lying()), (0, true));
    assert_eq!(s.episodes()[0].switched.len(), 2);
    // A restarted sentinel names the current primary, the liar still its own.
    s.apply(
        Happening::CrashSentinel {
            sentinel: 0,
            silent: false,
        },
        now,
    );
    s.apply(
        Happening::CrashSentinel {
            sentinel: 2,
            silent: false,
        },
        now,
    );
    assert_eq!(s.dial(&sentinel_addr(0)), Dial::Refuse);
    let outages = s.change(now);
    assert!(outages.contains(&Outage::Reset {
        node: sentinel_node(0),
        reason: "connection reset by peer (sentinel crashed)"
    }));
    s.apply(Happening::RestartSentinel { sentinel: 0 }, now);
    s.apply(Happening::RestartSentinel { sentinel: 2 }, now);
    assert_eq!(s.sentinel(0).unwrap().names(), 1);
    assert_eq!(s.sentinel(2).unwrap().names(), 0);
}

#[test]
fn a_silent_crash_is_never_answered() {
    let now = Clock::new().now();
    let mut s = set(1, 2);
    s.apply(
        Happening::Crash {
            node: 0,
            silent: true,
        },
        now,
    );
    s.apply(
        Happening::CrashSentinel {
            sentinel: 1,
            silent: true,
        },
        now,
    );
    assert_eq!(s.dial(&node_addr(0)), Dial::Ignore);
    assert_eq!(s.dial(&sentinel_addr(1)), Dial::Ignore);
    let outages = s.change(now);
    assert!(outages.contains(&Outage::Silence { node: 0 }));
    assert!(outages.contains(&Outage::Silence {
        node: sentinel_node(1)
    }));
    // The replica's link to its primary is down.
    let r = s.accept(1);
    assert!(raw(&mut s, 1, r, now, &["ROLE"]).ends_with(b"$7\r\nconnect\r\n:-1\r\n"));
}

#[test]
fn globs_match_as_redis_patterns_do() {
    use super::instance::glob;
    assert!(glob(b"*", b"+switch-master"));
    assert!(glob(b"+s*", b"+sdown"));
    assert!(glob(b"+?down", b"+sdown"));
    assert!(!glob(b"+?down", b"+down"));
    assert!(glob(b"a\\*", b"a*"));
    assert!(!glob(b"a\\*", b"ab"));
    assert!(!glob(b"-*", b"+sdown"));
}
