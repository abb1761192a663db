//! The integration suite on the `std` runtime: blocking `std::net` sockets and raw RESP bytes.
//!
//! Run through `cargo xtask test`, once per topology and protocol. Every test reads the
//! environment first and returns early when its topology is not the one under test.

use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

use redwire_tests::{Frame, RawConn, Target, TestEnv, TopologyKind, is_timeout, parse_frame};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One entry of `CLUSTER SLOTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SlotRange {
    start: u16,
    end: u16,
    primary: String,
    replicas: Vec<String>,
}

fn cluster_slots(conn: &mut RawConn) -> Vec<SlotRange> {
    let reply = conn.request(&["CLUSTER", "SLOTS"]);
    let node_addr = |node: &Frame| {
        let f = node.items().expect("a node entry");
        format!("{}:{}", f[0].text(), f[1].text())
    };
    let mut ranges: Vec<SlotRange> = reply
        .items()
        .unwrap_or_else(|| panic!("CLUSTER SLOTS answered {reply:?}"))
        .iter()
        .map(|entry| {
            let f = entry.items().expect("a slot range entry");
            let slot = |i: usize| u16::try_from(f[i].integer().expect("a slot number")).unwrap();
            let mut replicas: Vec<String> = f[3..].iter().map(node_addr).collect();
            replicas.sort();
            SlotRange {
                start: slot(0),
                end: slot(1),
                primary: node_addr(&f[2]),
                replicas,
            }
        })
        .collect();
    ranges.sort_by_key(|r| r.start);
    ranges
}

fn addr_of(url: &str) -> String {
    url.trim_start_matches("redis://").to_owned()
}

fn key_slot(conn: &mut RawConn, key: &str) -> u16 {
    let slot = conn
        .request(&["CLUSTER", "KEYSLOT", key])
        .integer()
        .expect("a slot");
    u16::try_from(slot).unwrap()
}

/// The primary serving `key` in the cluster.
fn owner_of(env: &TestEnv, key: &str) -> (u16, String) {
    let mut seed = env.connect_hello();
    let slot = key_slot(&mut seed, key);
    let owner = cluster_slots(&mut seed)
        .into_iter()
        .find(|r| (r.start..=r.end).contains(&slot))
        .unwrap_or_else(|| panic!("slot {slot} has no owner"))
        .primary;
    (slot, owner)
}

/// A connection (after HELLO) to the server that holds `key`: the cluster slot owner, the
/// sentinels' primary, or the standalone server.
fn conn_for_key(env: &TestEnv, key: &str) -> RawConn {
    if env.topology == TopologyKind::Cluster {
        env.connect_to(&owner_of(env, key).1)
    } else {
        env.connect_hello()
    }
}

/// The first element of `ROLE` at `addr` (`master` or `slave`), and the rest of the reply.
fn role(env: &TestEnv, addr: &str) -> (String, Vec<Frame>) {
    let reply = env.connect_to(addr).request(&["ROLE"]);
    let items = reply
        .items()
        .unwrap_or_else(|| panic!("ROLE at {addr} answered {reply:?}"));
    (items[0].text(), items[1..].to_vec())
}

// ---------------------------------------------------------------------------------------------
// Every topology
// ---------------------------------------------------------------------------------------------

#[test]
fn hello_negotiates_the_requested_protocol() {
    let env = TestEnv::load();
    let mut conn = env.connect();
    let raw = conn.request_raw(&["HELLO", &env.protocol.to_string()]);
    // RESP3 answers HELLO with a map, RESP2 with a flat array.
    let kind = if env.protocol == 3 { b'%' } else { b'*' };
    assert_eq!(
        raw[0],
        kind,
        "HELLO {} answered {:?}",
        env.protocol,
        String::from_utf8_lossy(&raw)
    );
    let (hello, used) = parse_frame(&raw).unwrap().unwrap();
    assert_eq!(used, raw.len());
    assert_eq!(
        hello.get("proto").and_then(Frame::integer),
        Some(i64::from(env.protocol))
    );
    let server = hello.get("server").map(Frame::text).unwrap_or_default();
    assert!(
        server == "redis" || server == "valkey",
        "server is {server:?}"
    );
    let mode = hello.get("mode").map(Frame::text).unwrap_or_default();
    let expected = if env.topology == TopologyKind::Cluster {
        "cluster"
    } else {
        "standalone"
    };
    assert_eq!(mode, expected);
    if env.topology != TopologyKind::Cluster {
        assert_eq!(
            hello.get("role").map(Frame::text).as_deref(),
            Some("master")
        );
    }
}

#[test]
fn ping_set_get_are_answered_with_the_expected_bytes() {
    let env = TestEnv::load();
    let key = "redwire:std:greeting";
    let mut conn = conn_for_key(&env, key);
    assert_eq!(conn.request_raw(&["PING"]), b"+PONG\r\n");
    assert_eq!(conn.request_raw(&["SET", key, "hello"]), b"+OK\r\n");
    assert_eq!(conn.request_raw(&["GET", key]), b"$5\r\nhello\r\n");
    assert_eq!(conn.request_raw(&["DEL", key]), b":1\r\n");
    let null: &[u8] = if env.protocol == 3 {
        b"_\r\n"
    } else {
        b"$-1\r\n"
    };
    assert_eq!(conn.request_raw(&["GET", key]), null);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let env = TestEnv::load();
    let key = "{redwire:std}:counter";
    let mut conn = conn_for_key(&env, key);
    let mut batch = redwire_tests::encode(&["DEL", key]);
    for _ in 0..3 {
        batch.extend(redwire_tests::encode(&["INCR", key]));
    }
    batch.extend(redwire_tests::encode(&["GET", key]));
    conn.send_raw(&batch);
    let replies: Vec<Vec<u8>> = (0..5).map(|_| conn.read_raw()).collect();
    assert!(replies[0] == b":0\r\n" || replies[0] == b":1\r\n");
    assert_eq!(
        &replies[1..],
        [&b":1\r\n"[..], b":2\r\n", b":3\r\n", b"$1\r\n3\r\n"]
    );
    conn.request(&["DEL", key]);
}

#[test]
fn debug_protocol_yields_every_type_of_the_negotiated_protocol() {
    let env = TestEnv::load();
    let mut conn = env.connect_hello();
    // What Redis 7 sends for each DEBUG PROTOCOL type, per protocol.
    let cases: [(&str, &[u8], &[u8]); 12] = [
        (
            "string",
            b"$11\r\nHello World\r\n",
            b"$11\r\nHello World\r\n",
        ),
        ("integer", b":12345\r\n", b":12345\r\n"),
        ("double", b"$5\r\n3.141\r\n", b",3.141\r\n"),
        (
            "bignum",
            b"$37\r\n1234567999999999999999999999999999999\r\n",
            b"(1234567999999999999999999999999999999\r\n",
        ),
        ("null", b"$-1\r\n", b"_\r\n"),
        (
            "array",
            b"*3\r\n:0\r\n:1\r\n:2\r\n",
            b"*3\r\n:0\r\n:1\r\n:2\r\n",
        ),
        (
            "set",
            b"*3\r\n:0\r\n:1\r\n:2\r\n",
            b"~3\r\n:0\r\n:1\r\n:2\r\n",
        ),
        (
            "map",
            b"*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n",
            b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n",
        ),
        ("true", b":1\r\n", b"#t\r\n"),
        ("false", b":0\r\n", b"#f\r\n"),
        (
            "verbatim",
            b"$25\r\nThis is a verbatim\nstring\r\n",
            b"=29\r\ntxt:This is a verbatim\nstring\r\n",
        ),
        (
            "attrib",
            b"$39\r\nSome real reply following the attribute\r\n",
            b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n\
              $39\r\nSome real reply following the attribute\r\n",
        ),
    ];
    for (kind, resp2, resp3) in cases {
        let expected = if env.protocol == 3 { resp3 } else { resp2 };
        let raw = conn.request_raw(&["DEBUG", "PROTOCOL", kind]);
        assert_eq!(
            String::from_utf8_lossy(&raw),
            String::from_utf8_lossy(expected),
            "DEBUG PROTOCOL {kind} over RESP{}",
            env.protocol
        );
    }
    // A push frame arrives in RESP3 before the reply it precedes; RESP2 cannot carry it.
    conn.send_raw(&redwire_tests::encode(&["DEBUG", "PROTOCOL", "push"]));
    if env.protocol == 3 {
        let push = conn.read_frame();
        assert_eq!(
            push,
            Frame::Push(vec![
                Frame::Bulk(b"server-cpu-usage".to_vec()),
                Frame::Integer(42)
            ])
        );
        assert_eq!(
            conn.read_frame().text(),
            "Some real reply following the push reply"
        );
    } else {
        assert!(conn.read_frame().is_error());
    }
    // The attribute's value parses into the reply it annotates.
    if env.protocol == 3 {
        let Frame::Attributed { attributes, value } =
            conn.request(&["DEBUG", "PROTOCOL", "attrib"])
        else {
            panic!("no attribute frame");
        };
        assert_eq!(attributes[0].0.text(), "key-popularity");
        assert_eq!(value.text(), "Some real reply following the attribute");
    }
}

// ---------------------------------------------------------------------------------------------
// standalone-tls
// ---------------------------------------------------------------------------------------------

#[test]
fn tls_accepts_clients_with_and_without_a_certificate() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::StandaloneTls {
        return;
    }
    let target = env.target();
    assert!(
        matches!(target, Target::Tls { .. }),
        "{} is not a TLS URL",
        env.url
    );
    for with_cert in [true, false] {
        let mut conn = RawConn::connect(&target, env.tls_with_cert(with_cert).as_ref());
        conn.hello(env.protocol);
        assert_eq!(
            conn.request_raw(&["PING"]),
            b"+PONG\r\n",
            "client cert: {with_cert}"
        );
    }
}

#[test]
fn tls_certificate_names_every_address_of_the_server() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::StandaloneTls {
        return;
    }
    let Target::Tls { host, port } = env.target() else {
        panic!("not a TLS URL")
    };
    let mut hosts = vec![host];
    if env.backend == redwire_tests::BackendKind::Native {
        hosts.push("127.0.0.1".to_owned());
    }
    for host in hosts {
        let target = Target::Tls { host, port };
        let mut conn = RawConn::connect(&target, env.tls_with_cert(true).as_ref());
        assert_eq!(conn.request_raw(&["PING"]), b"+PONG\r\n", "{target}");
    }
}

#[test]
fn tls_port_does_not_answer_plaintext() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::StandaloneTls {
        return;
    }
    let Target::Tls { host, port } = env.target() else {
        panic!("not a TLS URL")
    };
    let mut conn = RawConn::connect(&Target::Tcp { host, port }, None);
    conn.set_read_timeout(Duration::from_secs(2));
    conn.send_raw(b"*1\r\n$4\r\nPING\r\n");
    // The server closes the connection or stays silent; it never says PONG in the clear.
    match conn.try_read_raw() {
        Ok(reply) => assert_ne!(reply, b"+PONG\r\n"),
        Err(e) => assert!(
            is_timeout(&e) || e.kind() != std::io::ErrorKind::Other,
            "unexpected error {e}"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// standalone-unix
// ---------------------------------------------------------------------------------------------

#[test]
fn unix_socket_is_the_only_listener() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::StandaloneUnix {
        return;
    }
    let Target::Unix(path) = env.target() else {
        panic!("{} is not a unix URL", env.url)
    };
    let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        meta.file_type().is_socket(),
        "{} is not a socket",
        path.display()
    );
    let mut conn = env.connect_hello();
    let port = conn.request(&["CONFIG", "GET", "port"]);
    assert_eq!(
        port.get("port").map(Frame::text).as_deref(),
        Some("0"),
        "{port:?}"
    );
    let socket = conn.request(&["CONFIG", "GET", "unixsocket"]);
    assert_eq!(
        socket.get("unixsocket").map(Frame::text),
        Some(path.display().to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// cluster
// ---------------------------------------------------------------------------------------------

#[test]
fn cluster_is_ok_on_every_node_and_covers_every_slot() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Cluster {
        return;
    }
    assert_eq!(env.cluster_nodes.len(), 6);
    let mut views = Vec::new();
    for url in &env.cluster_nodes {
        let mut conn = env.connect_to(&addr_of(url));
        let info = conn.request(&["CLUSTER", "INFO"]).text();
        for line in [
            "cluster_state:ok",
            "cluster_slots_assigned:16384",
            "cluster_known_nodes:6",
        ] {
            assert!(
                info.lines().any(|l| l.trim() == line),
                "{url} lacks {line}:\n{info}"
            );
        }
        views.push((url, cluster_slots(&mut conn)));
    }
    let (first, slots) = &views[0];
    for (url, view) in &views[1..] {
        assert_eq!(view, slots, "{url} and {first} disagree on the slot map");
    }
    let mut next = 0u32;
    for range in slots {
        assert_eq!(
            u32::from(range.start),
            next,
            "slots before {} are not covered",
            range.start
        );
        assert!(!range.replicas.is_empty(), "{range:?} has no replica");
        next = u32::from(range.end) + 1;
    }
    assert_eq!(next, 16384, "slots from {next} on are not covered");
    let mut primaries: Vec<&str> = slots.iter().map(|r| r.primary.as_str()).collect();
    primaries.sort_unstable();
    primaries.dedup();
    assert_eq!(primaries.len(), 3, "{slots:?}");
}

#[test]
fn cluster_redirects_a_key_to_its_owner_with_moved() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Cluster {
        return;
    }
    let key = "redwire:std:moved";
    let (slot, owner) = owner_of(&env, key);
    let mut seed = env.connect_hello();
    let other = cluster_slots(&mut seed)
        .into_iter()
        .map(|r| r.primary)
        .find(|p| *p != owner)
        .expect("another primary");
    let mut conn = env.connect_to(&other);
    let expected = format!("-MOVED {slot} {owner}\r\n");
    assert_eq!(
        String::from_utf8_lossy(&conn.request_raw(&["GET", key])),
        expected
    );
}

#[test]
fn cluster_failover_promotes_the_replica() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Cluster {
        return;
    }
    let key = "{redwire:failover}:k";
    let (slot, old) = owner_of(&env, key);
    let mut conn = env.connect_to(&old);
    assert_eq!(conn.request_raw(&["SET", key, "before"]), b"+OK\r\n");
    // Make sure the replica has the write before it takes over.
    assert_eq!(conn.request(&["WAIT", "1", "5000"]).integer(), Some(1));

    let mut faults = env.faults();
    let new = faults.cluster_failover(&old).expect("cluster failover");
    assert_ne!(new, old);
    assert_eq!(role(&env, &new).0, "master");
    assert_eq!(role(&env, &old).0, "slave");
    assert_eq!(owner_of(&env, key), (slot, new.clone()));
    let mut conn = env.connect_to(&new);
    assert_eq!(conn.request_raw(&["GET", key]), b"$6\r\nbefore\r\n");
    conn.request(&["DEL", key]);
}

#[test]
fn cluster_slot_migration_moves_keys_to_the_target() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Cluster {
        return;
    }
    let tag = "{redwire:migrate}";
    let (slot, source) = owner_of(&env, tag);
    let mut seed = env.connect_hello();
    let target = cluster_slots(&mut seed)
        .into_iter()
        .map(|r| r.primary)
        .find(|p| *p != source)
        .expect("another primary");
    // More keys than one MIGRATE batch (100) holds.
    let keys: Vec<String> = (0..150).map(|i| format!("{tag}:{i}")).collect();
    let mut src = env.connect_to(&source);
    for key in &keys {
        assert_eq!(src.request_raw(&["SET", key, key]), b"+OK\r\n");
    }

    env.faults()
        .migrate_slot(slot, &target)
        .expect("slot migration");

    let count = |conn: &mut RawConn| {
        conn.request(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
            .integer()
    };
    let mut dst = env.connect_to(&target);
    assert_eq!(count(&mut dst), Some(150));
    assert_eq!(count(&mut src), Some(0));
    let moved = format!("-MOVED {slot} {target}\r\n");
    assert_eq!(
        String::from_utf8_lossy(&src.request_raw(&["GET", &keys[7]])),
        moved
    );
    assert_eq!(dst.request(&["GET", &keys[7]]).text(), keys[7]);
    assert_eq!(owner_of(&env, tag), (slot, target));
    for key in &keys {
        dst.request(&["DEL", key]);
    }
}

// ---------------------------------------------------------------------------------------------
// sentinel
// ---------------------------------------------------------------------------------------------

#[test]
fn sentinels_agree_on_a_primary_that_says_master() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Sentinel {
        return;
    }
    assert_eq!(env.sentinels.len(), 3);
    let service = env
        .sentinel_service
        .clone()
        .expect("REDWIRE_SENTINEL_SERVICE");
    assert!(env.url.starts_with("redis+sentinel://") && env.url.ends_with(&format!("/{service}")));
    let mut named = Vec::new();
    for sentinel in &env.sentinels {
        let mut conn = env.connect_to(sentinel);
        let reply = conn.request(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &service]);
        let items = reply
            .items()
            .unwrap_or_else(|| panic!("{sentinel} answered {reply:?}"));
        named.push(format!("{}:{}", items[0].text(), items[1].text()));
    }
    assert!(
        named.iter().all(|n| *n == named[0]),
        "the sentinels disagree: {named:?}"
    );
    let primary = &named[0];
    let (kind, rest) = role(&env, primary);
    assert_eq!(kind, "master", "{primary}");
    let replicas = rest[1].items().expect("the replica list");
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    let replica = replicas[0].items().expect("a replica entry");
    let replica_addr = format!("{}:{}", replica[0].text(), replica[1].text());
    let (kind, rest) = role(&env, &replica_addr);
    assert_eq!(kind, "slave");
    assert_eq!(format!("{}:{}", rest[0].text(), rest[1].text()), *primary);
    assert_eq!(rest[2].text(), "connected");
}

#[test]
fn sentinel_failover_moves_the_primary() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Sentinel {
        return;
    }
    let (host, port) = env.sentinel_primary();
    let before = format!("{host}:{port}");
    let key = "redwire:std:sentinel";
    let mut conn = env.connect_to(&before);
    assert_eq!(conn.request_raw(&["SET", key, "kept"]), b"+OK\r\n");
    assert_eq!(conn.request(&["WAIT", "1", "5000"]).integer(), Some(1));

    let (old, new) = env.faults().sentinel_failover().expect("sentinel failover");
    assert_eq!(old, before);
    assert_ne!(new, old);
    let (host, port) = env.sentinel_primary();
    assert_eq!(format!("{host}:{port}"), new);
    assert_eq!(role(&env, &new).0, "master");
    assert_eq!(role(&env, &old).0, "slave");
    let mut conn = env.connect_to(&new);
    assert_eq!(conn.request_raw(&["GET", key]), b"$4\r\nkept\r\n");
    conn.request(&["DEL", key]);
}

// ---------------------------------------------------------------------------------------------
// standalone faults (TCP, TLS and Unix socket alike)
// ---------------------------------------------------------------------------------------------

#[test]
fn paused_server_is_silent_until_resumed() {
    let env = TestEnv::load();
    if !env.is_standalone() {
        return;
    }
    let node = env.server_names().remove(0);
    let mut conn = env.connect_hello();
    assert_eq!(conn.request_raw(&["PING"]), b"+PONG\r\n");
    let guard = env.pause(&node);
    conn.set_read_timeout(Duration::from_millis(300));
    conn.send_raw(b"*1\r\n$4\r\nPING\r\n");
    let err = conn.try_read_raw().expect_err("a paused server answered");
    assert!(is_timeout(&err), "expected a read timeout, got {err}");
    drop(guard);
    conn.set_read_timeout(redwire_tests::READ_TIMEOUT);
    // The PING sent while paused is answered once the server runs again.
    assert_eq!(conn.read_raw(), b"+PONG\r\n");
}

#[test]
fn killed_server_restarts_empty() {
    let env = TestEnv::load();
    if !env.is_standalone() {
        return;
    }
    let node = env.server_names().remove(0);
    let key = "redwire:std:volatile";
    let mut conn = env.connect_hello();
    assert_eq!(conn.request_raw(&["SET", key, "gone"]), b"+OK\r\n");
    let mut faults = env.faults();
    faults.kill(&node).expect("kill");
    // The write may already fail (broken pipe); the read must.
    let _ = conn.try_send_raw(b"*1\r\n$4\r\nPING\r\n");
    assert!(conn.try_read_raw().is_err(), "a killed server answered");
    faults.restart(&node).expect("restart");
    let mut conn = env.connect_hello();
    assert_eq!(conn.request_raw(&["PING"]), b"+PONG\r\n");
    // Nothing is persisted: a restarted server is empty.
    let null: &[u8] = if env.protocol == 3 {
        b"_\r\n"
    } else {
        b"$-1\r\n"
    };
    assert_eq!(conn.request_raw(&["GET", key]), null);
}

// ---------------------------------------------------------------------------------------------
// client-core through the blocking driver, and resp-core against real bytes
// ---------------------------------------------------------------------------------------------

#[path = "std/client.rs"]
mod client;
#[path = "std/codec.rs"]
mod codec;
#[path = "std/failures.rs"]
mod failures;
#[path = "std/nodes.rs"]
mod nodes;
