//! client-core's `Client` under deadlines and faults, driven by the blocking [`Driver`] against
//! the three single-server topologies: timeouts, blocking commands, cancellation, quit,
//! connections the server closes, a paused server, authentication, a restart under load, and a
//! server that is not there at all.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use client_core::{
    Commands, CredentialSource, Credentials, Error, Request, RequestError, RequestId, SubmitError,
    XReadOptions, cmd,
};
use redwire_tests::{Driver, TestEnv};

use super::client::{Entries, client_info_fields, driver_with_clean, key, standalone};

fn is_allowed_failure(error: &RequestError) -> bool {
    matches!(
        error,
        RequestError::Timeout { .. }
            | RequestError::MayHaveExecuted { .. }
            | RequestError::Unavailable { .. }
            | RequestError::RetriesExhausted { .. }
    )
}

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

#[test]
fn a_timed_out_request_does_not_shift_later_replies() {
    let Some(env) = standalone() else { return };
    let k = key("timeout");
    let d = driver_with_clean(&env, &[&k]);
    let _: () = d.set(&k, "mine").unwrap();

    let start = Instant::now();
    let sleep = d.submit(
        Request::single(cmd("DEBUG").arg("SLEEP").arg("0.5")).timeout(Duration::from_millis(100)),
    );
    // Queued right behind it on the same connection.
    let get = d.submit(cmd("GET").key(&k).into());
    let error = d.wait(sleep).unwrap_err();
    let waited = start.elapsed();
    match &error {
        RequestError::Timeout { sent, after, .. } => {
            assert!(*sent, "{error}");
            assert_eq!(*after, Duration::from_millis(100));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(95) && waited < Duration::from_millis(450),
        "timed out after {waited:?}"
    );
    // The request behind it gets its own reply, not DEBUG SLEEP's.
    let value: String = d.wait(get).unwrap().into_value().unwrap();
    assert_eq!(value, "mine");
    // And so does the next request on the client.
    assert_eq!(d.get::<String>(&k).unwrap(), "mine");
    assert_eq!(d.echo::<String>("next").unwrap(), "next");
    let _: i64 = d.del(&k).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn blocking_commands_get_their_block_time_on_top_of_the_timeout() {
    let Some(env) = standalone() else { return };
    let (l, s) = (key("blocking:list"), key("blocking:stream"));
    let mut config = env.client_config();
    config.timeouts.command = Duration::from_millis(200);
    let d = env.driver_with(config);
    let _: i64 = d.del([&l, &s]).unwrap();
    let conn = d.open_dedicated();
    let pinned = d.on(conn);

    let start = Instant::now();
    let popped: Option<(String, String)> = pinned.blpop(&l, Duration::from_secs(1)).unwrap();
    let waited = start.elapsed();
    assert_eq!(popped, None);
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "BLPOP 1 s answered after {waited:?}"
    );

    let start = Instant::now();
    let read: Option<HashMap<String, Entries>> = pinned
        .xread_options(
            [&s],
            ["$"],
            &XReadOptions::new().block(Duration::from_millis(400)),
        )
        .unwrap();
    assert_eq!(read, None);
    assert!(start.elapsed() >= Duration::from_millis(380));

    // A BLPOP that an element ends early.
    let id = d.submit(Request::single(cmd("BLPOP").key(&l).arg(5)).on(conn));
    d.run_for(Duration::from_millis(50));
    assert_eq!(d.rpush::<i64>(&l, "x").unwrap(), 1);
    let popped: (String, String) = d.wait(id).unwrap().into_value().unwrap();
    assert_eq!(popped, (l.clone(), "x".to_owned()));

    // On the shared connection too, the block time extends the deadline.
    let popped: Option<(String, String)> = d.blpop(&l, Duration::from_millis(300)).unwrap();
    assert_eq!(popped, None);
    d.close_dedicated(conn);
    d.assert_no_anomalies();
}

#[test]
fn a_cancelled_request_does_not_shift_later_replies() {
    let Some(env) = standalone() else { return };
    let k = key("cancel");
    let d = driver_with_clean(&env, &[&k]);
    let _: () = d.set(&k, "kept").unwrap();
    let sleep = d.submit(cmd("DEBUG").arg("SLEEP").arg("0.2").into());
    let get = d.submit(cmd("GET").key(&k).into());
    d.run_for(Duration::from_millis(20));
    d.cancel(sleep);
    assert_eq!(d.wait(sleep), Err(RequestError::Cancelled));
    let value: String = d.wait(get).unwrap().into_value().unwrap();
    assert_eq!(value, "kept");
    assert_eq!(d.echo::<String>("next").unwrap(), "next");
    let _: i64 = d.del(&k).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn backpressure_and_quit() {
    let Some(env) = standalone() else { return };
    let mut config = env.client_config();
    config.max_pending = 5;
    let d = env.driver_with(config);
    let ids: Vec<RequestId> = (0..5)
        .map(|i| d.submit(cmd("ECHO").arg(i).into()))
        .collect();
    assert_eq!(
        d.try_submit(cmd("PING").into()),
        Err(SubmitError::Backpressure { limit: 5 })
    );
    for (i, id) in ids.into_iter().enumerate() {
        let echoed: usize = d.wait(id).unwrap().into_value().unwrap();
        assert_eq!(echoed, i);
    }
    assert_eq!(d.ping::<String>().unwrap(), "PONG");

    // Quit: what is in flight is answered, then every connection closes.
    let slow = d.submit(cmd("DEBUG").arg("SLEEP").arg("0.05").into());
    let after = d.submit(cmd("ECHO").arg("last").into());
    d.turn();
    assert!(d.quit(Duration::from_secs(2)), "the client did not close");
    assert!(d.wait(slow).is_ok());
    let last: String = d.wait(after).unwrap().into_value().unwrap();
    assert_eq!(last, "last");
    assert_eq!(d.try_submit(cmd("PING").into()), Err(SubmitError::Closed));
    d.assert_no_anomalies();
}

#[test]
fn connections_the_server_closes_are_replaced_or_reported() {
    let Some(env) = standalone() else { return };
    let (k, l) = (key("kill"), key("kill:list"));
    // Not the default database nor an unnamed connection: a replacement must restore both.
    let mut config = env.client_config();
    config.db = 5;
    config.client_name = Some("redwire-kill".to_owned());
    let d = env.driver_with(config);
    let _: i64 = d.del([&k, &l]).unwrap();
    let _: () = d.set(&k, "still here").unwrap();
    let dedicated = d.open_dedicated();
    let pinned = d.on(dedicated);
    let shared_id: i64 = d.client_id().unwrap();
    let dedicated_id: i64 = pinned.client_id().unwrap();

    // The server drops the shared connection: the next requests go over a new one.
    let killed: i64 = pinned
        .cmd(cmd("CLIENT").arg("KILL").arg("ID").arg(shared_id))
        .unwrap();
    assert_eq!(killed, 1);
    assert_eq!(d.get::<String>(&k).unwrap(), "still here");
    assert_ne!(d.client_id::<i64>().unwrap(), shared_id);
    let info: String = d.call(cmd("CLIENT").arg("INFO")).unwrap();
    let fields = client_info_fields(&info);
    assert_eq!(
        (fields["db"].as_str(), fields["name"].as_str()),
        ("5", "redwire-kill"),
        "{info}"
    );

    // The server drops a dedicated connection under a blocked BLPOP: it fails, and says so.
    let blpop = d.submit(Request::single(cmd("BLPOP").key(&l).arg(5)).on(dedicated));
    d.run_for(Duration::from_millis(50));
    let killed: i64 = d
        .cmd(cmd("CLIENT").arg("KILL").arg("ID").arg(dedicated_id))
        .unwrap();
    assert_eq!(killed, 1);
    let start = Instant::now();
    match d.wait(blpop) {
        Err(RequestError::ConnectionLost { .. }) => {}
        other => panic!("expected the dedicated connection to be lost, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(1));

    // Closing a dedicated connection fails what waits on it at once.
    let dedicated = d.open_dedicated();
    let blpop = d.submit(Request::single(cmd("BLPOP").key(&l).arg(5)).on(dedicated));
    d.run_for(Duration::from_millis(50));
    d.close_dedicated(dedicated);
    assert!(matches!(
        d.wait(blpop),
        Err(RequestError::ConnectionLost { .. })
    ));
    assert_eq!(d.llen::<i64>(&l).unwrap(), 0);
    let _: i64 = d.del(&k).unwrap();
    d.assert_no_anomalies();
}

#[test]
fn a_paused_server_times_requests_out_and_the_client_recovers() {
    let Some(env) = standalone() else { return };
    let node = env.server_names().remove(0);
    let mut config = env.client_config();
    config.timeouts.command = Duration::from_millis(300);
    config.timeouts.connect = Duration::from_millis(200);
    let d = env.driver_with(config);
    assert_eq!(d.ping::<String>().unwrap(), "PONG");

    let guard = env.pause(&node);
    // Sent, never answered: a timeout that says it was sent.
    let start = Instant::now();
    match d.get::<Option<String>>(key("paused")) {
        Err(Error::Request(RequestError::Timeout { sent: true, .. })) => {}
        other => panic!("expected a timeout after sending, got {other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // The silent connection was given up; a new one cannot finish its handshake.
    let start = Instant::now();
    match d.get::<Option<String>>(key("paused")) {
        Err(Error::Request(RequestError::Timeout { .. } | RequestError::Unavailable { .. })) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    drop(guard);

    assert!(
        d.run_until(Duration::from_secs(5), |d| d.ping::<String>().is_ok()),
        "the client did not recover after the server resumed"
    );
    assert_eq!(d.echo::<String>("back").unwrap(), "back");
    d.assert_no_anomalies();
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

const ACL_USER: &str = "redwire-test";

fn config_as(env: &TestEnv, password: &str) -> client_core::Config {
    if env.url.starts_with("redis://") || env.url.starts_with("rediss://") {
        // The credentials travel in the URL, as a user would write them.
        let url = env
            .url
            .replacen("://", &format!("://{ACL_USER}:{password}@"), 1);
        let mut config = client_core::Config::from_url(&url).unwrap();
        config.protocol = env.resp_protocol();
        config
    } else {
        let mut config = env.client_config();
        config.credentials = Some(CredentialSource::Static(Credentials::new(
            Some(ACL_USER),
            password,
        )));
        config
    }
}

#[test]
fn wrong_password_fails_with_an_auth_error_and_the_right_one_works() {
    let Some(env) = standalone() else { return };
    let _user = env.acl_user(ACL_USER, "right");

    let wrong = env.driver_with(config_as(&env, "wrong"));
    let start = Instant::now();
    match wrong.ping::<String>() {
        Err(Error::Request(RequestError::Auth { message, .. })) => {
            assert!(message.contains("WRONGPASS"), "{message}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    // Again: refused the same way, not stuck.
    assert!(matches!(
        wrong.ping::<String>(),
        Err(Error::Request(RequestError::Auth { .. }))
    ));

    let right = env.driver_with(config_as(&env, "right"));
    assert_eq!(right.ping::<String>().unwrap(), "PONG");
    assert_eq!(
        right.call::<String>(cmd("ACL").arg("WHOAMI")).unwrap(),
        ACL_USER
    );
    wrong.assert_no_anomalies();
    right.assert_no_anomalies();
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/// Restarts a killed node even when an assertion failed, so later tests find it running.
struct RestartOnDrop<'a> {
    faults: &'a mut redwire_tests::Faults,
    node: String,
    restarted: bool,
}

impl RestartOnDrop<'_> {
    fn restart(&mut self) {
        self.faults.restart(&self.node).expect("restart");
        self.restarted = true;
    }
}

impl Drop for RestartOnDrop<'_> {
    fn drop(&mut self) {
        if !self.restarted {
            let _ = self.faults.restart(&self.node);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Set(usize),
    Get(usize),
}

#[test]
fn server_restart_under_load_completes_every_request_once_without_mismatch() {
    let Some(env) = standalone() else { return };
    let node = env.server_names().remove(0);
    let d = env.driver();
    assert_eq!(d.ping::<String>().unwrap(), "PONG");
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let k = |i: usize| key(&format!("restart:{run:x}:{i}"));
    let v = |i: usize| format!("v{i}");

    let mut ops: Vec<(RequestId, Op)> = Vec::new();
    let mut submit = |d: &Driver, range: std::ops::Range<usize>| {
        for i in range {
            ops.push((d.submit(cmd("SET").key(k(i)).arg(v(i)).into()), Op::Set(i)));
            ops.push((d.submit(cmd("GET").key(k(i)).into()), Op::Get(i)));
        }
    };
    // Wave 1 completes; wave 2 is on the wire when the server dies; wave 3 is written to the
    // dead socket before anyone can know; wave 4 is submitted while the core knows the server
    // is gone, so it must wait for the reconnect and then succeed.
    submit(&d, 0..200);
    assert!(d.run_until(Duration::from_secs(5), |d| d.completed() >= 101));
    submit(&d, 200..350);
    d.turn();

    let mut faults = env.faults();
    faults.kill(&node).expect("kill");
    let mut guard = RestartOnDrop {
        faults: &mut faults,
        node,
        restarted: false,
    };
    submit(&d, 350..425);
    assert!(
        d.run_until(Duration::from_secs(2), |d| d.stats().closed_by_peer > 0),
        "the driver never saw the connection close: {:?}",
        d.stats()
    );
    d.run_for(Duration::from_millis(100));
    submit(&d, 425..500);
    d.run_for(Duration::from_millis(50));
    guard.restart();

    let (mut failed, mut nil): (HashMap<String, usize>, usize) = (HashMap::new(), 0);
    for (id, op) in ops {
        match (op, d.wait(id)) {
            (Op::Set(i) | Op::Get(i), Err(error)) if i >= 425 => {
                panic!("{op:?}, submitted while the server was down, failed: {error:?}")
            }
            (Op::Get(i), Ok(reply)) if i >= 425 => {
                assert_eq!(reply.into_value::<Option<String>>().unwrap(), Some(v(i)));
            }
            (Op::Set(i), Ok(reply)) => {
                assert_eq!(reply.into_value::<String>().unwrap(), "OK", "SET {}", k(i));
            }
            (Op::Get(i), Ok(reply)) => match reply.into_value::<Option<String>>().unwrap() {
                Some(value) => assert_eq!(value, v(i), "GET {} answered another value", k(i)),
                None => nil += 1,
            },
            (op, Err(error)) => {
                assert!(is_allowed_failure(&error), "{op:?} failed with {error:?}");
                let kind = format!("{error:?}");
                let kind = kind.split([' ', '{']).next().unwrap_or_default().to_owned();
                *failed.entry(kind).or_default() += 1;
            }
        }
    }
    d.assert_no_anomalies();
    assert_eq!(d.pending(), 0);
    let stats = d.stats();
    assert!(
        stats.closed_by_peer + stats.disconnects >= 1 && stats.connects >= 2,
        "no reconnect happened: {stats:?}"
    );
    eprintln!("restart under load: failures {failed:?}, {nil} nil GETs, {stats:?}");

    // After the restart, new requests succeed.
    let _: () = d.set(k(1000), "after").unwrap();
    assert_eq!(d.get::<String>(k(1000)).unwrap(), "after");
    let _: i64 = d.del(k(1000)).unwrap();
    let _: i64 = d.del((0..500).map(k).collect::<Vec<_>>()).unwrap();
}

#[test]
fn an_unreachable_server_fails_requests_in_bounded_time() {
    let Some(env) = standalone() else { return };
    // Nothing listens there.
    let mut config = client_core::Config::new("127.0.0.1", 7399);
    config.protocol = env.resp_protocol();
    config.reconnect.max_attempts = Some(3);
    config.reconnect.base_delay = Duration::from_millis(10);
    config.reconnect.max_delay = Duration::from_millis(50);
    let d = Driver::new(config.clone(), None);

    for _ in 0..2 {
        let start = Instant::now();
        let result = d.ping::<String>();
        let waited = start.elapsed();
        match result {
            Err(Error::Request(RequestError::Unavailable { attempts, .. })) => {
                assert_eq!(attempts, 3);
            }
            Err(Error::Request(RequestError::Timeout { sent: false, .. })) => {}
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(waited < Duration::from_secs(2), "failed after {waited:?}");
    }
    assert!(d.stats().connect_failures >= 3);

    // With no limit on attempts, the request's own deadline ends it.
    config.reconnect.max_attempts = None;
    config.timeouts.command = Duration::from_millis(300);
    let d = Driver::new(config, None);
    let start = Instant::now();
    match d.ping::<String>() {
        Err(Error::Request(RequestError::Timeout { sent: false, .. })) => {}
        other => panic!("expected a timeout before sending, got {other:?}"),
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(1),
        "timed out after {waited:?}"
    );
    d.assert_no_anomalies();
}
