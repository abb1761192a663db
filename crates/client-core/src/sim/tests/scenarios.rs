//! Focused, deterministic scenarios: one behaviour each, steered by hand.

use std::sync::Mutex;
use std::time::Duration;

use resp_core::Frame;

use super::*;

#[test]
fn handshake_resp3_with_hello_auth_setname_and_select() {
    let mut node = NodeConfig::default().with_user("app", "pw");
    node.record_commands = true;
    let mut config = config();
    config.credentials = Some(CredentialSource::Static(Credentials::new(
        Some("app"),
        "pw",
    )));
    config.db = 3;
    config.client_name = Some("svc".into());
    let mut sim = sim_with(config, node);

    assert_eq!(
        roundtrip(&mut sim, cmd("SET").key("k").arg("v")),
        single(ok())
    );
    sim.submit(cmd("HSET").key("h").arg("f").arg("x").into())
        .unwrap();
    let all = roundtrip(&mut sim, cmd("HGETALL").key("h"));
    assert_eq!(
        all,
        single(Frame::Map(vec![(bulk("f"), bulk("x"))])),
        "a map in RESP3"
    );

    let history = history_names(&sim);
    assert_eq!(history[0], "HELLO 3 AUTH app pw SETNAME svc");
    assert_eq!(history[1], "SELECT 3");
    assert!(
        history[2].starts_with("CLIENT SETINFO LIB-NAME"),
        "{history:?}"
    );
    assert!(
        history[3].starts_with("CLIENT SETINFO LIB-VER"),
        "{history:?}"
    );
    let conn = sim.open_connections()[0];
    let node_conn = sim.node_conn(conn).unwrap();
    assert_eq!(sim.node().protocol_of(node_conn), Some(3));
    assert_eq!(sim.node().db_of(node_conn), Some(3));
    assert_eq!(sim.node().user_of(node_conn), Some("app"));
    assert_eq!(sim.node().name_of(node_conn), Some(&b"svc"[..]));
    let now = sim.now();
    assert_eq!(sim.node_mut().string(3, b"k", now), Some(Bytes::from("v")));
    assert_eq!(
        sim.node_mut().string(0, b"k", now),
        None,
        "written to the selected db"
    );
}

#[test]
fn falls_back_to_resp2_when_the_node_has_no_hello() {
    let mut node = NodeConfig::default().with_password("pw");
    node.hello = false;
    node.setinfo = false;
    node.record_commands = true;
    let mut config = config();
    config.credentials = Some(CredentialSource::Static(Credentials::new(None, "pw")));
    let mut sim = sim_with(config, node);

    sim.submit(cmd("HSET").key("h").arg("f").arg("x").into())
        .unwrap();
    let all = roundtrip(&mut sim, cmd("HGETALL").key("h"));
    assert_eq!(
        all,
        single(Frame::Array(vec![bulk("f"), bulk("x")])),
        "a flat array in RESP2"
    );
    let history = history_names(&sim);
    assert_eq!(history[0], "HELLO 3 AUTH default pw");
    assert_eq!(history[1], "AUTH pw");
    let conn = sim.node_conn(sim.open_connections()[0]).unwrap();
    assert_eq!(sim.node().protocol_of(conn), Some(2));
    assert_eq!(sim.node().user_of(conn), Some("default"));
    // A missing key is RESP2's null bulk string.
    assert!(matches!(
        roundtrip(&mut sim, cmd("GET").key("nope")),
        Ok(Reply::Single(Frame::NullBulkString))
    ));
}

#[test]
fn falls_back_to_resp2_when_the_node_refuses_resp3() {
    let mut node = NodeConfig::default().with_user("app", "pw");
    node.resp3 = false;
    node.record_commands = true;
    let mut config = config();
    config.credentials = Some(CredentialSource::Static(Credentials::new(
        Some("app"),
        "pw",
    )));
    config.client_name = Some("svc".into());
    let mut sim = sim_with(config, node);
    assert_eq!(
        roundtrip(&mut sim, cmd("ECHO").arg("hi")),
        single(bulk("hi"))
    );
    let history = history_names(&sim);
    assert_eq!(history[0], "HELLO 3 AUTH app pw SETNAME svc");
    assert_eq!(history[1], "AUTH app pw");
    assert_eq!(history[2], "CLIENT SETNAME svc");
    let conn = sim.node_conn(sim.open_connections()[0]).unwrap();
    assert_eq!(sim.node().protocol_of(conn), Some(2));
    assert_eq!(sim.node().name_of(conn), Some(&b"svc"[..]));
}

#[test]
fn a_wrong_password_fails_with_the_server_message_and_does_not_hang() {
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let mut config = config();
        config.protocol = protocol;
        config.credentials = Some(CredentialSource::Static(Credentials::new(None, "wrong")));
        let mut sim = sim_with(config, NodeConfig::default().with_password("right"));
        let started = sim.now();
        let id = sim.submit(cmd("GET").key("k").into()).unwrap();
        assert!(sim.run_until_idle());
        let (at, result) = sim.take_response_at(id).unwrap();
        match result {
            Err(RequestError::Auth { message, .. }) => {
                assert!(message.starts_with("WRONGPASS"), "{protocol:?}: {message}");
            }
            other => panic!("{protocol:?}: {other:?}"),
        }
        assert!(
            at - started < Duration::from_millis(10),
            "{protocol:?}: took {:?}",
            at - started
        );
        assert_eq!(sim.client().pending(), 0);
        assert!(
            sim.open_connections().is_empty(),
            "{protocol:?}: the connection is closed"
        );
    }
}

#[test]
fn a_server_down_longer_than_the_policy_fails_fast_with_unavailable() {
    let mut config = config();
    config.timeouts.command = Duration::from_secs(30);
    config.reconnect = ReconnectPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_attempts: Some(3),
    };
    let mut sim = sim_with(config, NodeConfig::default());
    let started = sim.now();
    sim.set_node_down_until(started + Duration::from_secs(3600));
    let id = sim.submit(cmd("GET").key("k").into()).unwrap();
    assert!(sim.run_until_idle(), "the client gives up dialing");
    let (at, result) = sim.take_response_at(id).unwrap();
    match result {
        Err(RequestError::Unavailable {
            attempts: 3,
            last_error,
            ..
        }) => {
            assert!(last_error.contains("refused"), "{last_error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        at - started < Duration::from_millis(200),
        "took {:?}",
        at - started
    );
}

#[test]
fn a_late_reply_after_a_timeout_never_goes_to_the_next_request() {
    let mut sim = sim_with(config(), NodeConfig::default());
    roundtrip(
        &mut sim,
        Request::pipeline(vec![
            cmd("SET").key("a").arg("A"),
            cmd("SET").key("b").arg("B"),
        ]),
    )
    .unwrap();
    let conn = sim.open_connections()[0];

    sim.hold_replies(true);
    let late = sim
        .submit(Request::from(cmd("GET").key("a")).timeout(Duration::from_millis(100)))
        .unwrap();
    sim.run_for(Duration::from_millis(90));
    // A first byte of the reply arrives, so the connection does not look dead at the timeout.
    sim.release_held(conn, 1);
    sim.run_for(Duration::from_millis(15));
    assert!(matches!(
        sim.take_response(late),
        Some(Err(RequestError::Timeout { sent: true, .. }))
    ));
    assert_eq!(
        sim.open_connections(),
        vec![conn],
        "the connection was kept"
    );

    let next = sim.submit(cmd("GET").key("b").into()).unwrap();
    sim.run_for(Duration::from_millis(5));
    sim.hold_replies(false);
    sim.release_held(conn, usize::MAX);
    assert!(sim.run_until_idle());
    assert_eq!(sim.take_response(next), Some(single(bulk("B"))));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn noscript_falls_back_to_eval_once_then_the_cache_serves() {
    let mut sim = sim_with(config(), NodeConfig::default());
    let evalsha = |n: i64| {
        let script = format!("return {n}");
        cmd("EVALSHA")
            .arg(script_sha(&script))
            .arg(0)
            .on_noscript(cmd("EVAL").arg(script).arg(0))
    };
    assert_eq!(roundtrip(&mut sim, evalsha(7)), single(Frame::Integer(7)));
    assert_eq!(
        (
            sim.node().log().total("EVALSHA"),
            sim.node().log().total("EVAL")
        ),
        (1, 1)
    );
    assert_eq!(roundtrip(&mut sim, evalsha(7)), single(Frame::Integer(7)));
    assert_eq!(
        (
            sim.node().log().total("EVALSHA"),
            sim.node().log().total("EVAL")
        ),
        (2, 1)
    );

    // In a pipeline, the fallback's reply takes the place of the NOSCRIPT error.
    let batch = Request::pipeline(vec![evalsha(8), cmd("ECHO").arg("after"), evalsha(7)]);
    let reply = roundtrip(&mut sim, batch);
    assert_eq!(
        reply,
        Ok(Reply::Pipeline(vec![
            Frame::Integer(8),
            bulk("after"),
            Frame::Integer(7)
        ]))
    );
    // Without a fallback, the caller sees NOSCRIPT.
    let bare = cmd("EVALSHA").arg(script_sha("return 9")).arg(0);
    match roundtrip(&mut sim, bare) {
        Ok(Reply::Single(frame)) => assert_eq!(frame.error_code(), Some(&b"NOSCRIPT"[..])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn backpressure_refuses_requests_beyond_max_pending() {
    let mut config = config();
    config.max_pending = 3;
    let mut sim = sim_with(config, NodeConfig::default());
    let ids: Vec<_> = (0..3)
        .map(|i| sim.submit(cmd("ECHO").arg(i).into()).unwrap())
        .collect();
    assert_eq!(
        sim.submit(cmd("ECHO").arg(4).into()).unwrap_err(),
        SubmitError::Backpressure { limit: 3 }
    );
    assert!(sim.run_until_idle());
    for (i, id) in ids.into_iter().enumerate() {
        assert_eq!(sim.take_response(id), Some(single(bulk(&i.to_string()))));
    }
    assert_eq!(
        roundtrip(&mut sim, cmd("ECHO").arg("again")),
        single(bulk("again"))
    );
}

#[test]
fn quit_waits_for_replies_in_flight_then_closes() {
    let mut sim = sim_with(config(), NodeConfig::default());
    roundtrip(&mut sim, cmd("PING")).unwrap();
    sim.hold_replies(true);
    let ids: Vec<_> = (0..3)
        .map(|i| sim.submit(cmd("INCR").key(format!("n{i}")).into()).unwrap())
        .collect();
    sim.run_for(Duration::from_millis(5));
    sim.quit();
    assert_eq!(
        sim.submit(cmd("PING").into()).unwrap_err(),
        SubmitError::Closed
    );
    assert!(!sim.client().is_closed(), "replies are owed");
    assert_eq!(sim.open_connections().len(), 1);
    let conn = sim.open_connections()[0];
    sim.hold_replies(false);
    sim.release_held(conn, usize::MAX);
    assert!(sim.run_until_idle());
    for id in ids {
        assert_eq!(sim.take_response(id), Some(single(Frame::Integer(1))));
    }
    assert!(sim.client().is_closed());
    assert!(sim.open_connections().is_empty());
}

#[test]
fn quit_fails_requests_still_waiting_for_a_connection() {
    let mut sim = sim_with(config(), NodeConfig::default());
    let id = sim.submit(cmd("PING").into()).unwrap();
    sim.quit();
    assert!(sim.run_until_idle());
    assert_eq!(sim.take_response(id), Some(Err(RequestError::Closed)));
    assert!(sim.client().is_closed());
    assert!(sim.open_connections().is_empty());
}

#[test]
fn a_database_out_of_range_fails_the_handshake_with_the_step() {
    let mut config = config();
    config.db = 16;
    let mut sim = sim_with(config, NodeConfig::default());
    match roundtrip(&mut sim, cmd("GET").key("k")) {
        Err(RequestError::Handshake { step, message, .. }) => {
            assert_eq!(step, "SELECT 16");
            assert_eq!(message, "ERR DB index is out of range");
        }
        other => panic!("{other:?}"),
    }
    assert!(sim.open_connections().is_empty());
}

#[test]
fn a_node_that_never_answers_the_handshake_is_replaced_after_the_connect_timeout() {
    let mut config = config();
    config.timeouts.connect = Duration::from_millis(200);
    config.timeouts.command = Duration::from_secs(10);
    let mut faults = Faults::none();
    faults.silent_link = 1.0; // the first write, HELLO, goes nowhere
    let mut sim = Sim::new(config, FakeNode::new(NodeConfig::default()), faults, 1);
    let id = sim.submit(cmd("PING").into()).unwrap();
    sim.run_for(Duration::from_millis(1));
    sim.set_faults(Faults::none());
    assert!(sim.run_until_idle());
    let (at, result) = sim.take_response_at(id).unwrap();
    assert_eq!(result, single(Frame::SimpleString("PONG".into())));
    assert!(sim.elapsed() < Duration::from_secs(1), "done at {at:?}");
}

#[test]
fn closing_a_dedicated_connection_fails_its_requests_and_spares_the_shared_one() {
    let mut sim = sim_with(config(), NodeConfig::default());
    let dedicated = sim.open_dedicated();
    let txn = Request::transaction(vec![cmd("INCR").key("n"), cmd("INCR").key("n")]);
    assert_eq!(
        roundtrip(&mut sim, txn.on(dedicated)),
        single(Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]))
    );
    sim.hold_replies(true);
    let pinned = sim
        .submit(Request::from(cmd("GET").key("n")).on(dedicated))
        .unwrap();
    let shared = sim.submit(cmd("GET").key("n").into()).unwrap();
    sim.run_for(Duration::from_millis(5));
    sim.close_dedicated(dedicated);
    sim.hold_replies(false);
    for conn in sim.open_connections() {
        sim.release_held(conn, usize::MAX);
    }
    assert!(sim.run_until_idle());
    assert!(matches!(
        sim.take_response(pinned),
        Some(Err(RequestError::ConnectionLost { .. }))
    ));
    assert_eq!(sim.take_response(shared), Some(single(bulk("2"))));
    assert_eq!(
        sim.submit(Request::from(cmd("PING")).on(dedicated))
            .unwrap_err(),
        SubmitError::UnknownConnection(dedicated.index())
    );
}

/// Records what the core reports through [`Hooks`](crate::Hooks).
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl crate::Hooks for Recorder {
    fn request_start(&self, r: &crate::hooks::RequestStart<'_>) {
        let line = format!("start {} x{} db{}", r.operation, r.batch_size, r.db);
        self.0.lock().unwrap().push(line);
    }
    fn request_end(&self, r: &crate::hooks::RequestEnd<'_>) {
        let server = r.server.map(ToString::to_string).unwrap_or_default();
        let peer = r.peer.map(|p| p.to_string()).unwrap_or_default();
        let line = format!(
            "end {} {} on {server} ({peer}) retries={}",
            r.operation, r.outcome, r.retries
        );
        self.0.lock().unwrap().push(line);
    }
    fn connected(&self, _conn: crate::ConnId, server: &crate::ServerAddr) {
        self.0.lock().unwrap().push(format!("connected {server}"));
    }
}

#[test]
fn hooks_see_every_request_with_its_outcome() {
    let recorder = std::sync::Arc::new(Recorder::default());
    let mut with_hooks = config();
    with_hooks.hooks = Some(recorder.clone());
    let mut sim = sim_with(with_hooks, NodeConfig::default());
    assert_eq!(
        roundtrip(&mut sim, cmd("SET").key("k").arg("v")),
        single(ok())
    );
    let wrong_type = roundtrip(&mut sim, cmd("HGET").key("k").arg("f")).unwrap();
    assert!(matches!(wrong_type, Reply::Single(Frame::SimpleError(_))));
    let batch = Request::pipeline(vec![cmd("GET").key("k"), cmd("GET").key("k")]);
    let id = sim.submit(batch).unwrap();
    sim.run_until_idle();
    assert!(sim.take_response(id).unwrap().is_ok());

    let seen = recorder.0.lock().unwrap().clone();
    let server = config().server.to_string();
    // The simulation reports the address it "resolved" each node to, as an adapter does.
    let peer = sim_peer(0);
    assert_eq!(
        seen,
        [
            "start SET x1 db0".to_string(),
            format!("connected {server}"),
            format!("end SET ok on {server} ({peer}) retries=0"),
            "start HGET x1 db0".to_string(),
            format!("end HGET server error WRONGTYPE on {server} ({peer}) retries=0"),
            "start PIPELINE x2 db0".to_string(),
            format!("end PIPELINE ok on {server} ({peer}) retries=0"),
        ]
    );
}

#[test]
fn the_core_can_move_between_threads() {
    // Work-stealing executors (tokio) move the core between worker threads and share it
    // behind a lock; single-threaded ones (glommio) need nothing more.
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<crate::Client>();
    send_and_sync::<Config>();
    send_and_sync::<Request>();
}

/// A node that writes a pub/sub message to its first connection at each of `at`, on its
/// own (as a sentinel publishes `+switch-master`).
#[derive(Debug)]
struct Announcing {
    node: FakeNode,
    at: Vec<Instant>,
}

impl Servers for Announcing {
    fn dial(&self, _server: &crate::ServerAddr) -> Dial {
        Dial::Accept(0)
    }
    fn reachable(&self, _node: u16) -> Dial {
        Dial::Accept(0)
    }
    fn accept(&mut self, _node: u16) -> NodeConnId {
        self.node.accept()
    }
    fn receive(
        &mut self,
        _node: u16,
        conn: NodeConnId,
        data: &[u8],
        now: Instant,
        out: &mut bytes::BytesMut,
    ) -> Result<usize, String> {
        self.node.receive(conn, data, now, out)
    }
    fn close(&mut self, _node: u16, conn: NodeConnId) {
        self.node.close(conn);
    }
    fn protocol_of(&self, _node: u16, conn: NodeConnId) -> Option<u8> {
        self.node.protocol_of(conn)
    }
    fn restart(&mut self, _node: u16) {
        self.node.restart();
    }
    fn executions(&self, command: &str, key: &[u8]) -> u32 {
        self.node.log().count(command, key)
    }
    fn stored(&mut self, db: usize, key: &[u8], now: Instant) -> Option<StoredValue> {
        self.node.value(db, key, now).cloned()
    }
    fn next_change(&self) -> Option<Instant> {
        self.at.first().copied()
    }
    fn change(&mut self, now: Instant) -> Vec<Outage> {
        let due = self.at.iter().take_while(|&&at| at <= now).count();
        self.at.drain(..due);
        // An invalidation: a push no subscription claims, which the client hands on as is.
        let data = Bytes::from_static(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nhi\r\n");
        (0..due)
            .map(|_| Outage::Send {
                node: 0,
                conn: NodeConnId(0),
                data: data.clone(),
            })
            .collect()
    }
}

#[test]
fn a_message_a_server_sends_on_its_own_reaches_the_client_while_the_link_is_open() {
    let node = Announcing {
        node: FakeNode::new(NodeConfig::default()),
        at: Vec::new(),
    };
    let mut sim = Sim::with_servers(config(), node, Faults::none(), 1);
    sim.set_trace(std::env::var("REDWIRE_SIM_TRACE").is_ok());
    let ping = sim.submit(cmd("PING").into()).unwrap();
    sim.run_for(Duration::from_millis(100));
    assert!(sim.take_response(ping).unwrap().is_ok());
    let conn = sim.open_connections()[0];
    let first = sim.now() + Duration::from_millis(10);
    sim.servers_mut().at = vec![first];
    sim.run_for(Duration::from_millis(100));
    // Once the client closed the link, what the server sends is lost.
    sim.drop_connection(conn);
    sim.servers_mut().at = vec![sim.now()];
    sim.run_for(Duration::from_millis(100));
    let pushes = sim.pushes();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    let (at, on, frame) = &pushes[0];
    assert!(*at > first, "after a latency");
    assert_eq!(*on, conn);
    assert_eq!(
        *frame,
        Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("hi")])])
    );
}
