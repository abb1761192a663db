//! The sans-IO core of redwire, a Redis and Valkey client.
//!
//! [`Client`] holds every decision a Redis client makes (the connection handshake, pipelining,
//! matching replies to requests, timeouts, reconnecting with backoff, what to retry after a
//! connection drops) and does no I/O at all:
//!
//! - no sockets: it asks its driver to dial ([`Event::Connect`]), hands it bytes to write
//!   ([`Client::poll_transmit`]) and takes the bytes it read ([`Client::handle_input`]);
//! - no clock: every method that needs the time takes `now: Instant`, and the core says when
//!   it next needs waking ([`Client::poll_timeout`]);
//! - no threads, no async, no OS randomness: backoff jitter comes from [`Config::seed`].
//!
//! Optional RESP3 client-side caching ([`Config::cache`], [`CacheSettings`]) keeps the replies
//! of single-key reads, answers repeated reads inside [`submit`](Client::submit) without I/O,
//! and drops entries when the server's `CLIENT TRACKING` invalidations arrive (or the client
//! writes the key, or the connection is lost), so that no read is served from the cache once
//! its invalidation was received.
//!
//! Given the same inputs it does the same thing, which is what lets the simulation tests replay
//! a failing seed exactly. Runtime adapters (tokio, async-std, smol, glommio) are thin drivers
//! around it, and so is a plain blocking loop: see `examples/blocking.rs`.
//!
//! # The run loop
//!
//! After every input ([`handle_*`](Client::handle_input)) or mutation
//! ([`submit`](Client::submit), [`cancel`](Client::cancel), ...), drain the outputs:
//! [`poll_event`](Client::poll_event) until it returns `None`, acting on each event, then arm a
//! timer for [`poll_timeout`](Client::poll_timeout). This driver runs the core against a
//! scripted in-memory "server":
//!
//! ```
//! use std::time::Instant;
//! use bytes::{Buf, BytesMut};
//! use client_core::{Client, Config, Event, Frame, Reply, SendBuffer, cmd};
//!
//! let mut core = Client::new(Config::new("127.0.0.1", 6379));
//! let now = Instant::now();
//! let id = core.submit(cmd("GET").key("greeting").into(), now).unwrap();
//!
//! // What the server will answer, in order: HELLO, two CLIENT SETINFOs, then the GET.
//! let mut server_replies = vec![
//!     &b"%1\r\n+proto\r\n:3\r\n"[..], b"+OK\r\n", b"+OK\r\n", b"$5\r\nhello\r\n",
//! ].into_iter();
//! let mut out = SendBuffer::new();
//! let mut input = BytesMut::new();
//! let mut answer = None;
//! while answer.is_none() {
//!     while let Some(event) = core.poll_event() {
//!         match event {
//!             // A real driver dials `server` here and reports back.
//!             Event::Connect { conn, .. } => core.handle_connected(conn, now),
//!             Event::Transmit { conn } => {
//!                 // A real driver writes `out` to the socket, then reads the answer.
//!                 while core.poll_transmit(conn, &mut out) {
//!                     let sent = out.remaining();
//!                     out.advance(sent);
//!                 }
//!                 // The scripted server answers everything at once.
//!                 server_replies.by_ref().for_each(|r| input.extend_from_slice(r));
//!                 core.handle_input(conn, &mut input, now);
//!             }
//!             Event::Response { id: done, result } if done == id => answer = Some(result),
//!             _ => {}
//!         }
//!     }
//!     if let Some(deadline) = core.poll_timeout() {
//!         core.handle_timeout(deadline.min(now)); // a real driver sleeps until `deadline`
//!     }
//! }
//! let reply = answer.unwrap().unwrap();
//! assert_eq!(reply, Reply::Single(Frame::BulkString("hello".into())));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod batch;
mod cache;
mod client;
mod command;
pub mod commands;
mod config;
mod conn;
mod error;
mod event;
pub mod hooks;
mod input;
mod pubsub;
mod request;
mod rng;
mod scan;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod value;

pub use crate::batch::Batch;
pub use crate::cache::{CacheSettings, TrackingMode};
pub use crate::client::{Client, ShardView};
pub use crate::command::{
    Arg, BeginSearch, Command, CommandFlags, CommandSpec, FindKeys, KeySpec, RequestPolicy,
    ResponsePolicy, ToArg, ToArgs, cmd,
};
pub use crate::commands::{
    Aggregate, Commands, Direction, ExpireCondition, FlushMode, GetExExpiry, InsertPosition,
    LPosOptions, MinMax, ScanOptions, Script, SetOptions, StreamTrim, XAddOptions,
    XAutoClaimOptions, XClaimOptions, XPendingOptions, XReadGroupOptions, XReadOptions,
    ZAddOptions, ZRangeOptions, ZStoreOptions,
};
pub use crate::config::{
    ClusterSettings, Config, ConfigError, CredentialSource, Credentials, Protocol, ReadFrom,
    ReconnectPolicy, SentinelSettings, ServerAddr, Timeouts, TlsSettings,
};
pub use crate::error::{Error, RequestError, ServerError, SubmitError};
pub use crate::event::{ConnId, Event, Reply, RequestId, frame_into};
pub use crate::hooks::Hooks;
pub use crate::pubsub::{
    Message, Overflow, PubSubEvent, SubscriberId, SubscriberSettings, SubscriptionKind,
};
pub use crate::request::Request;
pub use crate::scan::ClusterScan;
pub use crate::value::{ConversionError, FromValue};
#[cfg(feature = "serde")]
pub use crate::value::{FrameDeserializer, Json, Serde};
pub use resp_core::slot as key_slot;
pub use resp_core::{Frame, SendBuffer};
