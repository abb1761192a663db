//! The tokio adapter of redwire: a Redis and Valkey client.
//!
//! All client logic lives in the sans-IO `client-core`; this crate only owns sockets (TCP with
//! `TCP_NODELAY`, TLS through rustls, Unix sockets), timers and tasks.
//!
//! ```no_run
//! use client_tokio::{Client, Commands};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from_url("redis://127.0.0.1:6379").await?;
//! client.set::<()>("greeting", "hello").await?;
//! let greeting: Option<String> = client.get("greeting").await?;
//!
//! // Concurrent callers share one connection; what they send leaves in one write.
//! let (a, b) = tokio::join!(client.incr::<i64>("hits"), client.incr::<i64>("hits"));
//!
//! // Pipelines and transactions use the same typed methods.
//! let ((), n): ((), i64) = client.pipeline().set::<()>("k", 1).incr::<i64>("k").run().await?;
//! # let _ = (greeting, a, b, n);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod transport;

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::BytesMut;
pub use client_driver::{
    Batch, CacheSettings, Command, Commands, Config, ConnId, ConnectError, Error, Frame, FromValue,
    Message, Options, Overflow, PubSubEvent, ReadFrom, Request, RequestError, SentinelSettings,
    ServerAddr, ServerError, Stream, SubmitError, SubscriberSettings, SubscriptionKind, cmd,
};
use client_driver::{Connection, Runtime, Task, TlsSettings};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

client_driver::handles!(Tokio, "tokio");

/// The tokio runtime, for the driver: tasks with `tokio::spawn`, sockets from `tokio::net`,
/// TLS through tokio-rustls, timers from `tokio::time`. Works on the current-thread and the
/// multi-thread runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Reader = tokio::io::ReadHalf<transport::Stream>;
    type Writer = tokio::io::WriteHalf<transport::Stream>;
    type Local = ();

    fn spawn(task: Task<Self>) {
        drop(tokio::spawn(task.run()));
    }

    async fn connect(
        server: ServerAddr,
        tls: Option<TlsSettings>,
        tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> std::io::Result<Connection<Self>> {
        let stream = transport::connect(&server, tls.as_ref(), tls_config).await?;
        let peer = stream.peer_addr();
        let (reader, writer) = tokio::io::split(stream);
        Ok(Connection {
            reader,
            writer,
            peer,
        })
    }

    fn read<'a>(
        reader: &'a mut Self::Reader,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = std::io::Result<usize>> + 'a {
        reader.read_buf(buf)
    }

    fn write<'a>(
        writer: &'a mut Self::Writer,
        slices: &'a [IoSlice<'a>],
    ) -> impl Future<Output = std::io::Result<usize>> + 'a {
        writer.write_vectored(slices)
    }

    fn flush(writer: &mut Self::Writer) -> impl Future<Output = std::io::Result<()>> + '_ {
        writer.flush()
    }

    fn try_write(
        writer: &mut Self::Writer,
        slices: &[IoSlice<'_>],
    ) -> Option<std::io::Result<usize>> {
        // One attempt with a waker that does nothing: a socket that would block registers
        // it and returns `Pending`, and the writer task, told to write, registers its own.
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(writer).poll_write_vectored(&mut cx, slices) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => None,
        }
    }

    fn try_flush(writer: &mut Self::Writer) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        matches!(Pin::new(writer).poll_flush(&mut cx), Poll::Ready(Ok(())))
    }

    async fn sleep_until(deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await;
    }

    async fn yield_now() {
        tokio::task::yield_now().await;
    }
}
