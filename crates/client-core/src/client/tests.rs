//! Unit tests of the client's getters that adapters steer by.

use std::time::Instant;

use bytes::BytesMut;
use resp_core::SendBuffer;

use super::Client;
use crate::command::cmd;
use crate::config::{Config, Protocol};
use crate::event::{ConnId, Event};

/// The time these tests hand the core: any instant will do, since no timer fires in them.
/// The simulation's virtual clock supplies it, as it does for every other core test.
fn any_instant() -> Instant {
    crate::sim::Clock::new().now()
}

/// A client whose one connection finished its (RESP2, no-auth) handshake.
fn ready(now: Instant) -> (Client, ConnId) {
    let mut config = Config::new("127.0.0.1", 6379);
    config.protocol = Protocol::Resp2;
    let mut core = Client::new(config);
    let ping = core.submit(cmd("PING").into(), now).unwrap();
    let Some(Event::Connect { conn, .. }) = core.poll_event() else {
        panic!("the first request did not dial")
    };
    core.handle_connected(conn, now);
    let mut out = SendBuffer::new();
    let mut input = BytesMut::new();
    loop {
        while core.poll_transmit(conn, &mut out) {}
        // Each handshake step and the PING get a status reply.
        input.extend_from_slice(b"+OK\r\n");
        core.handle_input(conn, &mut input, now);
        while let Some(event) = core.poll_event() {
            if matches!(event, Event::Response { id, .. } if id == ping) {
                return (core, conn);
            }
        }
    }
}

#[test]
fn a_connection_awaits_replies_only_for_bytes_handed_over_and_not_yet_answered() {
    let now = any_instant();
    let (mut core, conn) = ready(now);
    assert!(!core.is_awaiting_replies(conn), "idle after the handshake");

    let _ = core.submit(cmd("GET").key("k").into(), now).unwrap();
    // Queued in the core, not handed to the adapter: nothing is owed yet.
    assert!(!core.is_awaiting_replies(conn));
    let mut out = SendBuffer::new();
    assert!(core.poll_transmit(conn, &mut out));
    assert!(core.is_awaiting_replies(conn));

    // A second request queued behind it: still owed the first reply.
    let _ = core.submit(cmd("GET").key("k2").into(), now).unwrap();
    assert!(core.is_awaiting_replies(conn));
    let mut input = BytesMut::from(&b"$-1\r\n"[..]);
    core.handle_input(conn, &mut input, now);
    // The first is answered and the second not handed over yet.
    assert!(!core.is_awaiting_replies(conn));
    assert!(core.poll_transmit(conn, &mut out));
    assert!(core.is_awaiting_replies(conn));
    input.extend_from_slice(b"$-1\r\n");
    core.handle_input(conn, &mut input, now);
    assert!(!core.is_awaiting_replies(conn));
    assert!(
        !core.is_awaiting_replies(ConnId(conn.0 + 1)),
        "an unknown connection"
    );
}

/// The replies of two pipelines on one connection, with a push and error replies among them,
/// fed whole and a byte at a time: every reply lands in its own request at its own place
/// (the middle of a pipeline takes a shorter path than its ends), and the push goes out as
/// an event of its own.
#[test]
fn pipeline_replies_keep_their_places_around_errors_and_pushes() {
    use resp_core::Frame;

    use crate::event::Reply;
    use crate::request::Request;

    let now = any_instant();
    let wire: &[u8] = b"+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n-ERR no\r\n:5\r\n\
        $1\r\nv\r\n-ERR last\r\n:7\r\n$1\r\nw\r\n";
    let bulk = |s: &'static str| Frame::BulkString(bytes::Bytes::from_static(s.as_bytes()));
    let error = |s: &'static str| Frame::SimpleError(bytes::Bytes::from_static(s.as_bytes()));
    let ok = Frame::SimpleString(bytes::Bytes::from_static(b"OK"));
    for chunk in [wire.len(), 1] {
        let (mut core, conn) = ready(now);
        let first = core
            .submit(
                Request::pipeline(vec![
                    cmd("SET").key("k").arg("v"),
                    cmd("INCR").key("k"),
                    cmd("INCR").key("n"),
                    cmd("GET").key("k"),
                    cmd("INCR").key("k"),
                ]),
                now,
            )
            .unwrap();
        let second = core
            .submit(
                Request::pipeline(vec![cmd("INCR").key("m"), cmd("GET").key("w")]),
                now,
            )
            .unwrap();
        let mut out = SendBuffer::new();
        while core.poll_transmit(conn, &mut out) {}
        let mut input = BytesMut::new();
        let (mut responses, mut pushes) = (Vec::new(), Vec::new());
        for part in wire.chunks(chunk) {
            input.extend_from_slice(part);
            core.handle_input(conn, &mut input, now);
            while let Some(event) = core.poll_event() {
                match event {
                    Event::Response { id, result } => responses.push((id, result.unwrap())),
                    Event::Push { frame, .. } => pushes.push(frame),
                    _ => {}
                }
            }
        }
        assert!(
            input.is_empty(),
            "every byte was taken ({chunk}-byte reads)"
        );
        let want_first = vec![
            ok.clone(),
            error("ERR no"),
            Frame::Integer(5),
            bulk("v"),
            error("ERR last"),
        ];
        assert!(
            matches!(&responses[..], [(a, Reply::Pipeline(x)), (b, Reply::Pipeline(y))]
                if *a == first && *b == second && *x == want_first
                    && *y == vec![Frame::Integer(7), bulk("w")]),
            "{chunk}-byte reads: {responses:?}"
        );
        assert_eq!(
            pushes,
            vec![Frame::Push(vec![
                bulk("invalidate"),
                Frame::Array(vec![bulk("k")])
            ])]
        );
        assert!(!core.is_awaiting_replies(conn));
    }
}
