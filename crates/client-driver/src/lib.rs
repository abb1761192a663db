//! The runtime-generic driver shared by redwire's adapters.
//!
//! All client logic lives in the sans-IO `client-core`. What is left for an adapter is the
//! same for every async runtime: hand the core's inputs over from tasks, wake request futures
//! and pub/sub streams, keep one reader and one writer task per connection and one timer task.
//! This crate does that once, over the few things a runtime really provides ([`Runtime`]:
//! spawning, dialling, reading, writing, sleeping). The adapter crates (`client-tokio`,
//! `client-async-std` with smol, `client-glommio`) implement [`Runtime`] and name the handles
//! of this crate for their runtime, so the public API is the same on every runtime.
//!
//! With the `futures-io` feature, `io` supplies the connection half that
//! runtimes built on the `futures-io` traits share: one stream type for TCP, TLS (rustls
//! through futures-rustls) and Unix sockets, and reading into the driver's buffer.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod driver;
#[cfg(feature = "futures-io")]
pub mod io;
mod pubsub;
mod signal;
pub mod tls;

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
pub use client_core::{
    Batch, CacheSettings, Command, Commands, Config, ConnId, Error, Frame, FromValue, Message,
    Overflow, PubSubEvent, ReadFrom, Request, RequestError, SentinelSettings, ServerAddr,
    ServerError, SubmitError, SubscriberSettings, SubscriptionKind, TlsSettings, cmd,
};
pub use futures_core::Stream;

pub use crate::client::{Client, ConnectError, Exclusive, Options, Pipeline, RequestFuture};
pub use crate::driver::Task;
pub use crate::pubsub::Subscriber;

/// What an async runtime provides to the driver. An adapter crate implements it on a marker
/// type and names the driver's handles for it (`type Client = client_driver::Client<Tokio>`).
///
/// Every method is a thin call into the runtime: the driver decides what runs when.
pub trait Runtime: std::fmt::Debug + Sized + 'static {
    /// The reading half of a connected socket.
    type Reader: Unpin + 'static;
    /// The writing half of a connected socket.
    type Writer: Unpin + 'static;
    /// Kept by every client handle: `()` where handles may move between threads, `Rc<()>`
    /// (or another `!Send` type) on a thread-per-core runtime whose tasks never leave their
    /// executor.
    type Local: Unpin + 'static;

    /// Runs `task` in the background until it finishes or the driver aborts it:
    /// `tokio::spawn(task.run())` and the like. The handle may be dropped (detached).
    fn spawn(task: Task<Self>);

    /// Dials `server`, speaking TLS over TCP when `tls` says so: with `tls_config`, or the
    /// system's roots ([`tls::system_roots_config`]) when it is `None`.
    fn connect(
        server: ServerAddr,
        tls: Option<TlsSettings>,
        tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> impl Future<Output = std::io::Result<Connection<Self>>>;

    /// Reads what is available into the spare capacity of `buf` (which has at least 4 KiB),
    /// returning how many bytes came; 0 at the end of the stream.
    fn read<'a>(
        reader: &'a mut Self::Reader,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = std::io::Result<usize>> + 'a;

    /// Writes some of `slices` in one vectored write, returning how many bytes went.
    fn write<'a>(
        writer: &'a mut Self::Writer,
        slices: &'a [IoSlice<'a>],
    ) -> impl Future<Output = std::io::Result<usize>> + 'a;

    /// Pushes out whatever the writer still buffers (a TLS session keeps the end of a write
    /// when the socket was full). The driver flushes after every run of writes.
    fn flush(writer: &mut Self::Writer) -> impl Future<Output = std::io::Result<()>> + '_;

    /// Writes some of `slices` now, from whichever task calls it, without waiting: `None`
    /// when the socket takes nothing at the moment, or when the runtime cannot try a write
    /// without a task of its own (the default). The driver uses it to send a request at once
    /// when the connection is idle, saving the writer task's wake-up; whatever it does not
    /// take, the writer task sends.
    fn try_write(
        writer: &mut Self::Writer,
        slices: &[IoSlice<'_>],
    ) -> Option<std::io::Result<usize>> {
        let _ = (writer, slices);
        None
    }

    /// Like [`flush`](Self::flush), without waiting: true when nothing is left buffered.
    /// Only called after [`try_write`](Self::try_write) took bytes.
    fn try_flush(writer: &mut Self::Writer) -> bool {
        let _ = writer;
        false
    }

    /// Completes at `deadline`.
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()>;

    /// Lets the other tasks that are ready run first, once.
    fn yield_now() -> impl Future<Output = ()>;

    /// Whether the reader task, after it hands the core the first half of a long read and
    /// yields, sends the commands the woken callers queued meanwhile itself, before it hands
    /// over the second half (when the writer task is idle).
    ///
    /// On an executor that runs tasks in the order they woke, the writer task runs only after
    /// the second half has woken the other callers too, so it sends everybody's commands in
    /// one batch and the two half batches in flight become one (async-std and smol: 0.7×
    /// the throughput of sending between the halves). tokio's `yield_now` lets the writer go
    /// first anyway, and there the extra write cost throughput. Measured in
    /// docs/benchmarks.md; the default is not to.
    const WRITE_BETWEEN_HALVES: bool = false;
}

/// A connected socket, split for its reader and writer tasks.
pub struct Connection<R: Runtime> {
    /// The reading half.
    pub reader: R::Reader,
    /// The writing half.
    pub writer: R::Writer,
    /// The address a TCP or TLS connection reached (what a host name resolved to): reported
    /// to the core, for the hooks' `network.peer.*`. `None` for Unix sockets.
    pub peer: Option<SocketAddr>,
}

impl<R: Runtime> std::fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Names the driver's handles for one runtime, as an adapter crate exports them:
/// `handles!(Tokio, "tokio")` declares `Client`, `Exclusive`, `Pipeline<'c>`,
/// `RequestFuture<T>` and `Subscriber` for the runtime type `Tokio`.
#[macro_export]
macro_rules! handles {
    ($runtime:ty, $name:literal) => {
        #[doc = concat!("A Redis client on ", $name, ": cheap to clone, shared by any number of tasks.")]
        ///
        /// Requests from every clone share one multiplexed connection per server and are
        /// pipelined automatically. Dropping the last clone closes the connections; call
        /// `quit` first to wait for replies still in flight. `Client::new` must be called
        /// inside the runtime.
        pub type Client = $crate::Client<$runtime>;
        /// A connection owned by one caller, for `WATCH`/`MULTI`/`EXEC` and blocking commands.
        pub type Exclusive = $crate::Exclusive<$runtime>;
        /// Commands collected for a pipeline or transaction.
        pub type Pipeline<'c> = $crate::Pipeline<'c, $runtime>;
        /// The reply of one request, converted into `T`.
        pub type RequestFuture<T> = $crate::RequestFuture<T, $runtime>;
        /// A reader of pub/sub messages: a `Stream` of `PubSubEvent`s.
        pub type Subscriber = $crate::Subscriber<$runtime>;
    };
}
