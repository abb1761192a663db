//! The async-std and smol adapter of redwire: a Redis and Valkey client.
//!
//! **async-std is discontinued upstream**: its authors recommend smol instead. This crate
//! keeps async-std users served because they asked for it, and serves smol users with the same
//! code: both runtimes share one futures-io driver (sockets from `async-net`, timers from
//! `async-io`, TLS through futures-rustls) and differ only in the executor that runs the
//! driver's tasks. Pick the executor with a feature:
//!
//! - `async-std` (default): [`Client`] and the other handles at the crate root.
//! - `smol`: the same handles in [`smol`], on smol's global executor.
//!
//! All client logic lives in the sans-IO `client-core`, and the handles are `client-driver`'s,
//! so the API is the one of every redwire adapter.
//!
//! ```no_run
//! # #[cfg(feature = "async-std")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use client_async_std::{Client, Commands};
//!
//! let client = Client::from_url("redis://127.0.0.1:6379").await?;
//! client.set::<()>("greeting", "hello").await?;
//! let greeting: Option<String> = client.get("greeting").await?;
//! # let _ = greeting;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use async_net::TcpStream;
use async_net::unix::UnixStream;
use client_driver::io as fio;
pub use client_driver::{
    Batch, CacheSettings, Command, Commands, Config, ConnId, ConnectError, Error, Frame, FromValue,
    Message, Options, Overflow, PubSubEvent, ReadFrom, Request, RequestError, SentinelSettings,
    ServerAddr, ServerError, Stream, SubmitError, SubscriberSettings, SubscriptionKind, cmd,
};
use client_driver::{Runtime, Task};

/// An executor the driver's tasks run on; the rest of [`AsyncIo`] is the same for every
/// runtime built on `async-io`.
pub trait Executor: std::fmt::Debug + 'static {
    /// Runs `task` in the background, detached.
    fn spawn(task: impl Future<Output = ()> + Send + 'static);
}

/// A runtime built on `async-io` (async-std, smol): `async-net` sockets, `async-io` timers,
/// and tasks on `E`.
#[derive(Debug)]
pub struct AsyncIo<E>(PhantomData<E>);

impl<E: Executor> Runtime for AsyncIo<E> {
    client_driver::futures_io_runtime!();

    type Local = ();

    fn spawn(task: Task<Self>) {
        E::spawn(task.run());
    }

    async fn sleep_until(deadline: Instant) {
        async_io::Timer::at(deadline).await;
    }

    async fn yield_now() {
        futures_lite::future::yield_now().await;
    }

    // Both executors run woken tasks in order: see the trait's documentation.
    const WRITE_BETWEEN_HALVES: bool = true;
}

impl<E> fio::Dial for AsyncIo<E> {
    type Tcp = TcpStream;
    type Unix = UnixStream;
    const VECTORED: bool = true;

    async fn tcp(host: &str, port: u16) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let peer = tcp.peer_addr().ok();
        Ok((tcp, peer))
    }

    async fn unix(path: &Path) -> io::Result<UnixStream> {
        UnixStream::connect(path).await
    }
}

/// async-std's executor.
#[cfg(feature = "async-std")]
#[derive(Debug)]
pub struct AsyncStdExecutor;

#[cfg(feature = "async-std")]
impl Executor for AsyncStdExecutor {
    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        // Dropping async-std's handle detaches the task.
        drop(async_std::task::spawn(task));
    }
}

/// The async-std runtime, for the driver.
#[cfg(feature = "async-std")]
pub type AsyncStd = AsyncIo<AsyncStdExecutor>;

#[cfg(feature = "async-std")]
client_driver::handles!(AsyncStd, "async-std");

/// The handles on smol's global executor: `client_async_std::smol::Client` and so on, the
/// same API as at the crate root.
#[cfg(feature = "smol")]
pub mod smol {
    use std::future::Future;

    use crate::{AsyncIo, Executor};

    /// smol's global executor.
    #[derive(Debug)]
    pub struct SmolExecutor;

    impl Executor for SmolExecutor {
        fn spawn(task: impl Future<Output = ()> + Send + 'static) {
            ::smol::spawn(task).detach();
        }
    }

    /// The smol runtime, for the driver.
    pub type Smol = AsyncIo<SmolExecutor>;

    client_driver::handles!(Smol, "smol");
}
