//! Unit tests of the client's getters that adapters steer by.

use std::time::Instant;

use bytes::BytesMut;
use resp_core::SendBuffer;

use super::Client;
use crate::command::cmd;
use crate::config::{Config, Protocol};
use crate::event::{ConnId, Event};

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
    #[allow(clippy::disallowed_methods)] // any instant will do: no timer fires here
    let now = Instant::now();
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
