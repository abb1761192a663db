//! One deterministic test per core bug the seed sweep found.

use std::time::Duration;

use super::*;

/// Seed 119: a pipeline whose EVALSHA got NOSCRIPT had its fallback queued but not yet
/// written when the connection dropped. The core took the whole pipeline for never sent and
/// sent it again, so its SET ran twice, without at-least-once replay.
#[test]
fn a_pipeline_waiting_for_its_noscript_fallback_is_not_sent_twice() {
    let mut faults = Faults::none();
    faults.deferred_flush = 1.0;
    let mut sim = Sim::new(config(), FakeNode::new(NodeConfig::default()), faults, 1);
    roundtrip(&mut sim, cmd("PING")).unwrap();
    let conn = sim.open_connections()[0];
    sim.hold_replies(true);
    let script = "return 5";
    let evalsha = cmd("EVALSHA")
        .arg(script_sha(script))
        .arg(0)
        .on_noscript(cmd("EVAL").arg(script).arg(0));
    let id = sim
        .submit(Request::pipeline(vec![
            cmd("SET").key("x").arg("1"),
            evalsha,
        ]))
        .unwrap();
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.node().log().count("SET", b"x"), 1);
    // The replies arrive (the fallback is queued, its write deferred), then the link drops.
    sim.release_held(conn, usize::MAX);
    sim.drop_connection(conn);
    sim.hold_replies(false);
    assert!(sim.run_until_idle());
    assert!(
        matches!(
            sim.take_response(id),
            Some(Err(RequestError::MayHaveExecuted { .. }))
        ),
        "a pipeline that ran must not be taken for unsent"
    );
    assert_eq!(sim.node().log().count("SET", b"x"), 1, "the SET ran once");
}

/// Seed 100: after `quit`, a connection dropped with a read in flight. The read was
/// re-queued for a connection that quit never lets the core open, and sat there until its
/// deadline (seconds) instead of failing at once with `Closed`, holding up the shutdown.
#[test]
fn after_quit_a_dropped_connection_fails_its_requests_at_once() {
    let mut config = config();
    config.timeouts.command = Duration::from_secs(30);
    let mut sim = sim_with(config, NodeConfig::default());
    roundtrip(&mut sim, cmd("PING")).unwrap();
    let conn = sim.open_connections()[0];
    sim.hold_replies(true);
    let id = sim.submit(cmd("GET").key("k").into()).unwrap();
    sim.run_for(Duration::from_millis(5));
    sim.quit();
    let dropped_at = sim.now();
    sim.drop_connection(conn);
    assert!(sim.run_until_idle());
    assert_eq!(
        sim.take_response_at(id),
        Some((dropped_at, Err(RequestError::Closed)))
    );
    assert!(sim.client().is_closed());
}

/// Seed 9356: after `quit`, the last requests in flight timed out instead of being
/// answered (the link had gone silent). Their connection was kept open for good, so the
/// client never reached `is_closed`; a driver waiting for it would hang. A cancellation
/// had the same effect.
#[test]
fn after_quit_a_connection_closes_when_its_last_request_times_out_or_is_cancelled() {
    for cancel in [false, true] {
        let mut sim = sim_with(config(), NodeConfig::default());
        roundtrip(&mut sim, cmd("PING")).unwrap();
        sim.hold_replies(true);
        let request = Request::from(cmd("GET").key("k")).timeout(Duration::from_millis(100));
        let id = sim.submit(request).unwrap();
        // A reply byte keeps the connection from looking dead when the request times out.
        sim.run_for(Duration::from_millis(50));
        sim.release_held(sim.open_connections()[0], 1);
        sim.quit();
        if cancel {
            sim.cancel(id);
        }
        assert!(sim.run_until_idle());
        let expected = if cancel { "Cancelled" } else { "Timeout" };
        let result = sim.take_response(id).unwrap();
        assert!(format!("{result:?}").contains(expected), "{result:?}");
        assert!(
            sim.client().is_closed(),
            "cancel {cancel}: the client finished quitting"
        );
        assert!(sim.open_connections().is_empty(), "cancel {cancel}");
    }
}

/// Found writing the seed properties for `Unavailable`: a connection that was up and dropped
/// counted as a failed connection attempt, so after a drop the core made one reconnect
/// attempt fewer than `max_attempts`; with `max_attempts: Some(1)`, a read in flight failed
/// with "unreachable after 1 connection attempts (last error: connection reset)" without a
/// single reconnect.
#[test]
fn after_a_drop_every_reconnect_attempt_of_the_policy_is_made() {
    for max in [1, 2, 3] {
        let mut config = config();
        config.reconnect = ReconnectPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_attempts: Some(max),
        };
        let mut sim = sim_with(config, NodeConfig::default());
        roundtrip(&mut sim, cmd("PING")).unwrap();
        let conn = sim.open_connections()[0];
        sim.hold_replies(true);
        let id = sim.submit(cmd("GET").key("k").into()).unwrap();
        sim.run_for(Duration::from_millis(5));
        let until = sim.now() + Duration::from_secs(3600);
        sim.set_node_down_until(until);
        let dials = sim.dials();
        sim.drop_connection(conn);
        assert!(sim.run_until_idle());
        match sim.take_response(id) {
            Some(Err(RequestError::Unavailable {
                attempts,
                last_error,
                ..
            })) => {
                assert_eq!(attempts, max);
                assert_eq!(last_error, "connection refused");
            }
            other => panic!("max_attempts {max}: {other:?}"),
        }
        assert_eq!(
            sim.dials() - dials,
            u64::from(max),
            "reconnect attempts made"
        );
    }
}

/// Seed 49: with at-least-once replay, a transaction was sent (and ran), its connection
/// dropped, and it was queued to be sent again; it then timed out waiting for a connection
/// and said `Timeout { sent: false }`, "before it could be sent", though it had run.
#[test]
fn a_timeout_after_a_sent_attempt_says_sent() {
    let mut config = config();
    config.at_least_once_replay = true;
    config.timeouts.command = Duration::from_millis(100);
    config.reconnect.max_attempts = None;
    let mut sim = sim_with(config, NodeConfig::default());
    roundtrip(&mut sim, cmd("PING")).unwrap();
    let conn = sim.open_connections()[0];
    sim.hold_replies(true);
    let id = sim.submit(cmd("INCR").key("n").into()).unwrap();
    sim.run_for(Duration::from_millis(5));
    assert_eq!(sim.node().log().count("INCR", b"n"), 1, "it ran");
    let until = sim.now() + Duration::from_secs(3600);
    sim.set_node_down_until(until);
    sim.drop_connection(conn);
    assert!(sim.run_until_idle());
    match sim.take_response(id) {
        Some(Err(RequestError::Timeout { sent, .. })) => assert!(sent, "it was sent once"),
        other => panic!("{other:?}"),
    }
}

/// Found by the real-server suite (std runtime, RESP3 cells): a HELLO refused for a reason
/// other than credentials, here a client name with a space, was reported as an authentication
/// failure. It is a handshake failure at HELLO, as `CLIENT SETNAME` is under RESP2.
#[test]
fn a_hello_refused_for_its_client_name_is_a_handshake_error_not_an_auth_error() {
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let mut with_bad_name = config();
        with_bad_name.protocol = protocol;
        with_bad_name.client_name = Some("two words".into());
        let mut sim = sim_with(with_bad_name, NodeConfig::default());
        let error = roundtrip(&mut sim, cmd("PING")).unwrap_err();
        let expected_step = match protocol {
            Protocol::Resp3 => "HELLO",
            Protocol::Resp2 => "CLIENT SETNAME",
        };
        match error {
            RequestError::Handshake { step, message, .. } => {
                assert_eq!(step, expected_step);
                assert!(message.contains("cannot contain spaces"), "{message}");
            }
            other => panic!("{protocol:?}: expected a handshake error, got {other:?}"),
        }
    }
}
