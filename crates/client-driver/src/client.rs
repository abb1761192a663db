//! The client handles: [`Client`], [`Exclusive`], [`Pipeline`] and [`RequestFuture`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use client_core::{
    Batch, Command, CommandSpec, Commands, Config, ConnId, Error, Frame, FromValue, Reply, Request,
    RequestError, ServerAddr, cmd,
};

use crate::Runtime;
use crate::driver::Shared;

/// A Redis client: cheap to clone, shared by any number of tasks; `Send + Sync` unless the
/// runtime keeps tasks on one thread ([`Runtime::Local`], glommio).
///
/// Requests from every clone share one multiplexed connection per server and are pipelined
/// automatically. Dropping the last clone closes the connections; call [`quit`](Self::quit)
/// first to wait for replies still in flight.
pub struct Client<R: Runtime> {
    handle: Arc<Handle<R>>,
    /// `!Send` on thread-per-core runtimes ([`Runtime::Local`]).
    _local: PhantomData<R::Local>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            _local: PhantomData,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

/// Closes everything when the last [`Client`] clone goes away.
#[derive(Debug)]
struct Handle<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Drop for Handle<R> {
    fn drop(&mut self) {
        self.shared.shut_down();
    }
}

/// Options of the adapters beyond [`Config`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// The TLS configuration for `rediss://` servers: your roots, client certificate, ... By
    /// default the operating system's root certificates are trusted, with no client
    /// certificate.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl<R: Runtime> Client<R> {
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

    /// A client that connects lazily, on its first request. Must be called inside the
    /// runtime (it starts the timer task there).
    pub fn new(config: Config, options: Options) -> Self {
        let core = client_core::Client::new(config);
        let shared = Shared::new(core, options.tls);
        Self {
            handle: Arc::new(Handle { shared }),
            _local: PhantomData,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<R>> {
        &self.handle.shared
    }

    /// Sends a raw request (a command, pipeline or transaction) and waits for its reply; a
    /// pipeline's replies come as one array, error replies in place.
    pub fn send(&self, request: Request) -> RequestFuture<Frame, R> {
        RequestFuture::new(self.shared().clone(), request)
    }

    /// A pipeline: add commands with the typed methods, then [`Pipeline::run`]. The commands
    /// leave together and the replies come back in order; one failing command does not fail the
    /// others (read them as `Vec<Frame>` to see each).
    pub fn pipeline(&self) -> Pipeline<'_, R> {
        Pipeline {
            client: self,
            conn: None,
            batch: Batch::new(),
            transaction: false,
        }
    }

    /// A transaction (`MULTI` ... `EXEC`): like [`pipeline`](Self::pipeline), run atomically;
    /// the result is `EXEC`'s reply.
    pub fn transaction(&self) -> Pipeline<'_, R> {
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
    pub fn exclusive(&self) -> Exclusive<R> {
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
    pub fn exclusive_for_key(&self, key: impl AsRef<[u8]>) -> Exclusive<R> {
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
        self.shared().lock_and(|core| core.quit(Instant::now()));
        std::future::poll_fn(|cx| {
            let mut state = self.shared().lock();
            if state.core.is_closed() {
                return Poll::Ready(());
            }
            state.quitting.push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

impl<R: Runtime> Commands for Client<R> {
    type Output<'a, T: FromValue + 'a> = RequestFuture<T, R>;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> RequestFuture<T, R> {
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
pub struct Exclusive<R: Runtime> {
    client: Client<R>,
    conn: ConnId,
}

impl<R: Runtime> Exclusive<R> {
    /// A pipeline on this connection.
    pub fn pipeline(&self) -> Pipeline<'_, R> {
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
    pub fn transaction(&self) -> Pipeline<'_, R> {
        let conn = Some(self.conn);
        Pipeline {
            client: &self.client,
            conn,
            batch: Batch::new(),
            transaction: true,
        }
    }
}

impl<R: Runtime> Commands for Exclusive<R> {
    type Output<'a, T: FromValue + 'a> = RequestFuture<T, R>;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> RequestFuture<T, R> {
        RequestFuture::new(
            self.client.shared().clone(),
            Request::single(command).on(self.conn),
        )
    }
}

impl<R: Runtime> Drop for Exclusive<R> {
    fn drop(&mut self) {
        let conn = self.conn;
        self.client
            .shared()
            .lock_and(|core| core.close_dedicated(conn, Instant::now()));
    }
}

/// Commands collected for a pipeline or transaction; run them with [`run`](Self::run).
#[derive(Debug)]
pub struct Pipeline<'c, R: Runtime> {
    client: &'c Client<R>,
    conn: Option<ConnId>,
    batch: Batch,
    transaction: bool,
}

impl<R: Runtime> Pipeline<'_, R> {
    /// Sends the commands and converts the replies (or, for a transaction, `EXEC`'s reply) into
    /// `T`: a tuple with one element per command, a `Vec`, or `Vec<Frame>` to see each reply,
    /// errors included.
    ///
    /// It takes the commands out, so it ends a chain of typed calls:
    /// `client.pipeline().set::<()>("k", 1).get::<i64>("k").run::<((), i64)>()`.
    pub fn run<T: FromValue>(&self) -> RequestFuture<T, R> {
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

impl<R: Runtime> Commands for Pipeline<'_, R> {
    type Output<'a, T: FromValue + 'a>
        = &'a Self
    where
        Self: 'a;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> &'a Self {
        let _ = self.batch.command::<T>(command);
        self
    }

    fn command_in_place<'a, T: FromValue + 'a>(
        &'a self,
        name: &'static str,
        spec: Option<&'static CommandSpec>,
        build: impl FnOnce(&mut Command),
    ) -> &'a Self {
        let _ = self.batch.command_in_place::<T>(name, spec, build);
        self
    }
}

/// The reply of one request, converted into `T`. Lazy: the request is submitted when the
/// future is first polled. Dropping it before it completes cancels the request; its reply, if
/// it comes, is discarded without disturbing the connection.
#[must_use = "a request is sent only when its future is awaited"]
pub struct RequestFuture<T, R: Runtime> {
    shared: Arc<Shared<R>>,
    state: FutureState,
    _reply: PhantomData<fn() -> T>,
}

#[derive(Debug)]
enum FutureState {
    Unsent(Option<Request>),
    Waiting(client_core::RequestId),
    /// Answered on its first poll, held back one yield (see `budget`).
    Answered(Result<Reply, RequestError>),
    Done,
}

impl<T, R: Runtime> std::fmt::Debug for RequestFuture<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestFuture")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<T, R: Runtime> RequestFuture<T, R> {
    fn new(shared: Arc<Shared<R>>, request: Request) -> Self {
        Self {
            shared,
            state: FutureState::Unsent(Some(request)),
            _reply: PhantomData,
        }
    }

    /// The future of a request already started with [`Shared::start`], and its result if
    /// that gave one.
    pub(crate) fn started(
        shared: Arc<Shared<R>>,
        id: client_core::RequestId,
        answer: Option<Result<Reply, RequestError>>,
    ) -> Self {
        let state = match answer {
            Some(result) => FutureState::Answered(result),
            None => FutureState::Waiting(id),
        };
        Self {
            shared,
            state,
            _reply: PhantomData,
        }
    }
}

impl<T: FromValue, R: Runtime> Future for RequestFuture<T, R> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match &mut this.state {
            FutureState::Unsent(request) => {
                let Some(request) = request.take() else {
                    return Poll::Pending;
                };
                let started = this
                    .shared
                    .start(|core, now| core.submit(request, now), cx.waker());
                match started {
                    Ok((id, None)) => {
                        budget::spent(false);
                        this.state = FutureState::Waiting(id);
                        return Poll::Pending;
                    }
                    Ok((_, Some(result))) => {
                        if budget::spent(true) {
                            // Answered at once (a cache hit), many times in a row: let the
                            // other tasks run before handing the reply over.
                            this.state = FutureState::Answered(result);
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        result
                    }
                    Err(error) => {
                        this.state = FutureState::Done;
                        return Poll::Ready(Err(error.into()));
                    }
                }
            }
            FutureState::Waiting(id) => {
                let id = *id;
                std::task::ready!(this.shared.poll_completion(id, cx))
            }
            FutureState::Answered(_) => {
                let FutureState::Answered(result) =
                    std::mem::replace(&mut this.state, FutureState::Done)
                else {
                    unreachable!("matched just above")
                };
                result
            }
            FutureState::Done => return Poll::Pending,
        };
        this.state = FutureState::Done;
        Poll::Ready(match result {
            Ok(reply) => reply.into_value(),
            Err(error) => Err(error.into()),
        })
    }
}

/// How many requests in a row a thread may see answered at once (served from the client-side
/// cache) before the next one yields. A loop of cache hits never waits for I/O, so on an
/// executor with one thread (smol's global one, glommio, tokio's current-thread) it would
/// otherwise keep the connection tasks from ever running: no invalidation would be read, no
/// other request sent. Yielding once in a while bounds that, as tokio's cooperative budget
/// does for its own resources.
mod budget {
    use std::cell::Cell;

    /// Requests answered at once before one yields.
    const IN_A_ROW: u32 = 64;

    std::thread_local! {
        static ANSWERED_AT_ONCE: Cell<u32> = const { Cell::new(0) };
    }

    /// Records whether a request was answered on its first poll; true when this one should
    /// yield.
    pub(super) fn spent(at_once: bool) -> bool {
        ANSWERED_AT_ONCE.with(|count| {
            if !at_once {
                count.set(0);
                return false;
            }
            let n = count.get() + 1;
            count.set(n % IN_A_ROW);
            n == IN_A_ROW
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn every_64th_request_answered_at_once_yields_and_a_wait_resets_the_count() {
            let yields: Vec<usize> = (1..=130).filter(|_| super::spent(true)).collect();
            assert_eq!(yields.len(), 2);
            for _ in 0..10 {
                assert!(!super::spent(true));
            }
            assert!(!super::spent(false));
            assert!((1..64).all(|_| !super::spent(true)));
            assert!(super::spent(true));
        }
    }
}

impl<T, R: Runtime> Drop for RequestFuture<T, R> {
    fn drop(&mut self) {
        if let FutureState::Waiting(id) = self.state {
            self.shared.cancel(id);
        }
    }
}
