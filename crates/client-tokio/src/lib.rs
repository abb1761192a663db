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

mod driver;
mod pubsub;
mod transport;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use client_core::Reply;
pub use client_core::{
    Batch, CacheSettings, Command, Commands, Config, ConnId, Error, Frame, FromValue, Message,
    Overflow, PubSubEvent, ReadFrom, Request, RequestError, SentinelSettings, ServerAddr,
    ServerError, SubmitError, SubscriberSettings, SubscriptionKind, cmd,
};
pub use futures_core::Stream;

pub use crate::pubsub::Subscriber;
use tokio::sync::oneshot;

use crate::driver::Shared;

/// A Redis client: cheap to clone, `Send + Sync`, shared by any number of tasks.
///
/// Requests from every clone share one multiplexed connection per server and are pipelined
/// automatically. Dropping the last clone closes the connections; call [`quit`](Self::quit)
/// first to wait for replies still in flight.
#[derive(Clone, Debug)]
pub struct Client {
    handle: Arc<Handle>,
}

/// Closes everything when the last [`Client`] clone goes away.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.shut_down();
    }
}

/// Options of the tokio adapter beyond [`Config`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// The TLS configuration for `rediss://` servers: your roots, client certificate, ... By
    /// default the operating system's root certificates are trusted, with no client
    /// certificate.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    /// Connects to the server `config` names, and checks it answers (`PING`), so that a wrong
    /// address or password shows up here rather than on the first command.
    ///
    /// # Errors
    ///
    /// The [`Error`] of that first `PING`: unreachable server, refused credentials, ...
    pub async fn connect(config: Config) -> Result<Self, Error> {
        Self::connect_with(config, Options::default()).await
    }

    /// [`connect`](Self::connect) with adapter options (TLS configuration).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(config: Config, options: Options) -> Result<Self, Error> {
        let client = Self::new(config, options);
        client.command::<()>(cmd("PING")).await?;
        Ok(client)
    }

    /// Parses a URL (`redis://`, `rediss://`, `redis+unix://`; see [`Config::from_url`]) and
    /// connects.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Config`] for an invalid URL, [`ConnectError::Connect`] when the first
    /// `PING` fails.
    pub async fn from_url(url: &str) -> Result<Self, ConnectError> {
        let config = Config::from_url(url)?;
        Ok(Self::connect(config).await?)
    }

    /// A client that connects lazily, on its first request. Must be called inside a tokio
    /// runtime.
    pub fn new(config: Config, options: Options) -> Self {
        let core = client_core::Client::new(config);
        let shared = Shared::new(core, options.tls);
        Self {
            handle: Arc::new(Handle { shared }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Sends a raw request (a command, pipeline or transaction) and waits for its reply; a
    /// pipeline's replies come as one array, error replies in place.
    pub fn send(&self, request: Request) -> RequestFuture<Frame> {
        RequestFuture::new(self.shared().clone(), request)
    }

    /// A pipeline: add commands with the typed methods, then [`Pipeline::run`]. The commands
    /// leave together and the replies come back in order; one failing command does not fail the
    /// others (read them as `Vec<Frame>` to see each).
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            client: self,
            conn: None,
            batch: Batch::new(),
            transaction: false,
        }
    }

    /// A transaction (`MULTI` ... `EXEC`): like [`pipeline`](Self::pipeline), run atomically;
    /// the result is `EXEC`'s reply.
    pub fn transaction(&self) -> Pipeline<'_> {
        Pipeline {
            client: self,
            conn: None,
            batch: Batch::new(),
            transaction: true,
        }
    }

    /// A connection of your own, for `WATCH`/`MULTI`/`EXEC` and blocking commands: never
    /// shared with other requests, so it cannot hold them up or see their state. Closed when
    /// the [`Exclusive`] is dropped.
    pub fn exclusive(&self) -> Exclusive {
        let conn = self
            .shared()
            .lock_and(|core| core.open_dedicated(Instant::now()));
        Exclusive {
            client: self.clone(),
            conn,
        }
    }

    /// An exclusive connection to the node that serves `key` (in cluster mode; the one server
    /// otherwise): for `WATCH`/`MULTI`/`EXEC` and blocking commands on keys of `key`'s slot.
    /// Keys in other slots get `MOVED` on it.
    pub fn exclusive_for_key(&self, key: impl AsRef<[u8]>) -> Exclusive {
        let slot = client_core::key_slot(key.as_ref());
        let conn = self
            .shared()
            .lock_and(|core| core.open_dedicated_for_slot(Some(slot), Instant::now()));
        Exclusive {
            client: self.clone(),
            conn,
        }
    }

    /// Walks every key of a cluster with `SCAN`, one primary after the other (outside cluster
    /// mode: the one server). `pattern` and `count` are `SCAN`'s `MATCH` and `COUNT`.
    ///
    /// As with `SCAN` itself, a key present from start to end is returned at least once; a
    /// shard that changes hands during the walk may return some keys twice or miss keys that
    /// moved.
    ///
    /// # Errors
    ///
    /// The first failed `SCAN` request.
    pub async fn scan_cluster(
        &self,
        pattern: Option<&str>,
        count: Option<u64>,
    ) -> Result<Vec<bytes::Bytes>, Error> {
        let mut scan = client_core::ClusterScan::new(pattern, count);
        let mut keys = Vec::new();
        while let Some(request) = scan.next_request() {
            let reply = self.send(request).await?;
            keys.extend(self.shared().lock_and(|core| scan.advance(reply, core))?);
        }
        Ok(keys)
    }

    /// In Sentinel mode, the primary the client sends writes to now: the node the sentinels
    /// named and that answered `ROLE` as a primary. `None` before the first request, while a
    /// failover is being followed, and outside Sentinel mode.
    pub fn sentinel_primary(&self) -> Option<ServerAddr> {
        self.shared()
            .lock_and(|core| core.sentinel_primary().cloned())
    }

    /// Shuts down gracefully: new requests are refused, requests in flight get their replies,
    /// then the connections close.
    pub async fn quit(&self) {
        let closed = self.shared().closed.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        let done = self.shared().lock_and(|core| {
            core.quit(Instant::now());
            core.is_closed()
        });
        if !done {
            closed.await;
        }
    }
}

impl Commands for Client {
    type Output<'a, T: FromValue + 'a> = RequestFuture<T>;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> RequestFuture<T> {
        RequestFuture::new(self.shared().clone(), Request::single(command))
    }
}

/// Why [`Client::from_url`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not valid.
    #[error(transparent)]
    Config(#[from] client_core::ConfigError),
    /// The server could not be reached or refused the connection.
    #[error(transparent)]
    Connect(#[from] Error),
}

/// A connection owned by one caller. See [`Client::exclusive`].
#[derive(Debug)]
pub struct Exclusive {
    client: Client,
    conn: ConnId,
}

impl Exclusive {
    /// A pipeline on this connection.
    pub fn pipeline(&self) -> Pipeline<'_> {
        let conn = Some(self.conn);
        Pipeline {
            client: &self.client,
            conn,
            batch: Batch::new(),
            transaction: false,
        }
    }

    /// A transaction on this connection: after a `WATCH` on it, `EXEC` fails (a null reply,
    /// read as `None`) if a watched key changed.
    pub fn transaction(&self) -> Pipeline<'_> {
        let conn = Some(self.conn);
        Pipeline {
            client: &self.client,
            conn,
            batch: Batch::new(),
            transaction: true,
        }
    }
}

impl Commands for Exclusive {
    type Output<'a, T: FromValue + 'a> = RequestFuture<T>;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> RequestFuture<T> {
        RequestFuture::new(
            self.client.shared().clone(),
            Request::single(command).on(self.conn),
        )
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        let conn = self.conn;
        self.client
            .shared()
            .lock_and(|core| core.close_dedicated(conn, Instant::now()));
    }
}

/// Commands collected for a pipeline or transaction; run them with [`run`](Self::run).
#[derive(Debug)]
pub struct Pipeline<'c> {
    client: &'c Client,
    conn: Option<ConnId>,
    batch: Batch,
    transaction: bool,
}

impl Pipeline<'_> {
    /// Sends the commands and converts the replies (or, for a transaction, `EXEC`'s reply) into
    /// `T`: a tuple with one element per command, a `Vec`, or `Vec<Frame>` to see each reply,
    /// errors included.
    ///
    /// It takes the commands out, so it ends a chain of typed calls:
    /// `client.pipeline().set::<()>("k", 1).get::<i64>("k").run::<((), i64)>()`.
    pub fn run<T: FromValue>(&self) -> RequestFuture<T> {
        let commands = self.batch.take_commands();
        let mut request = if self.transaction {
            Request::transaction(commands)
        } else {
            Request::pipeline(commands)
        };
        if let Some(conn) = self.conn {
            request = request.on(conn);
        }
        RequestFuture::new(self.client.shared().clone(), request)
    }
}

impl Commands for Pipeline<'_> {
    type Output<'a, T: FromValue + 'a>
        = &'a Self
    where
        Self: 'a;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> &'a Self {
        let _ = self.batch.command::<T>(command);
        self
    }
}

/// The reply of one request, converted into `T`. Lazy: the request is submitted when the
/// future is first polled. Dropping it before it completes cancels the request; its reply, if
/// it comes, is discarded without disturbing the connection.
#[derive(Debug)]
#[must_use = "a request is sent only when its future is awaited"]
pub struct RequestFuture<T> {
    shared: Arc<Shared>,
    state: FutureState,
    _reply: PhantomData<fn() -> T>,
}

#[derive(Debug)]
enum FutureState {
    Unsent(Option<Request>),
    Waiting {
        id: client_core::RequestId,
        rx: oneshot::Receiver<Result<Reply, RequestError>>,
    },
    Done,
}

impl<T> RequestFuture<T> {
    fn new(shared: Arc<Shared>, request: Request) -> Self {
        Self {
            shared,
            state: FutureState::Unsent(Some(request)),
            _reply: PhantomData,
        }
    }

    /// The future of a request already started with [`Shared::start`].
    pub(crate) fn started(
        shared: Arc<Shared>,
        id: client_core::RequestId,
        rx: oneshot::Receiver<Result<Reply, RequestError>>,
    ) -> Self {
        Self {
            shared,
            state: FutureState::Waiting { id, rx },
            _reply: PhantomData,
        }
    }
}

impl<T: FromValue> Future for RequestFuture<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let FutureState::Unsent(request) = &mut this.state {
            let Some(request) = request.take() else {
                return Poll::Pending;
            };
            match this.shared.start(|core, now| core.submit(request, now)) {
                Ok((id, rx)) => this.state = FutureState::Waiting { id, rx },
                Err(error) => {
                    this.state = FutureState::Done;
                    return Poll::Ready(Err(error.into()));
                }
            }
        }
        let FutureState::Waiting { rx, .. } = &mut this.state else {
            return Poll::Pending;
        };
        let result = std::task::ready!(Pin::new(rx).poll(cx));
        this.state = FutureState::Done;
        Poll::Ready(match result {
            Ok(Ok(reply)) => reply.into_value(),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(RequestError::Closed.into()),
        })
    }
}

impl<T> Drop for RequestFuture<T> {
    fn drop(&mut self) {
        if let FutureState::Waiting { id, .. } = self.state {
            self.shared.cancel(id);
        }
    }
}

impl Shared {
    /// Runs `f` on the core under the lock, then acts on what it asked for.
    pub(crate) fn lock_and<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut client_core::Client) -> R,
    ) -> R {
        let mut state = self.lock();
        let result = f(&mut state.core);
        self.drain(&mut state);
        result
    }
}
