//! A blocking driver of client-core's sans-IO [`Client`], for the `std` runtime.
//!
//! [`Driver`] does what every runtime adapter does, with plain `std::net` sockets and no async:
//! it dials what [`Event::Connect`] asks for (TCP, Unix socket, or TLS with rustls and the
//! topology's CA and client certificate), writes what [`Client::poll_transmit`] hands over,
//! feeds what it reads to [`Client::handle_input`], reports closed sockets, and calls
//! [`Client::handle_timeout`] when [`Client::poll_timeout`] says so. Sockets are non-blocking
//! and polled in turn, with short sleeps when nothing moves: crude, and plenty for tests. Dials
//! (TCP connect and TLS handshake) run on a short-lived thread each, so that a server that
//! accepts but never answers, or an address that does not answer at all, never stalls the loop:
//! the core's connect timeout decides, as it would with any adapter.
//!
//! Tests use it through [`Driver::submit`] / [`Driver::wait`], [`Driver::call`], or the typed
//! methods of [`Commands`], which it implements synchronously:
//! `driver.get::<Option<String>>("k")`. [`Driver::on`] pins typed calls to a dedicated
//! connection (for `WATCH` and blocking commands).
//!
//! The driver also checks the core's side of the contract as it goes: every request completes
//! exactly once, and only requests that were submitted complete; anything else is recorded as
//! an anomaly ([`Driver::anomalies`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use client_core::{
    Client, Command, Commands, Config, ConnId, Error, Event, Frame, FromValue, Protocol, Reply,
    Request, RequestError, RequestId, SendBuffer, ServerAddr, SubmitError, TlsSettings,
};

use crate::{TestEnv, TlsFiles};

/// How long [`Driver::wait`] lets one request take before it declares the core stuck. Every
/// request has a deadline in the core (5 s by default), so reaching this is a bug.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// How long the driver sleeps when no socket moved.
const IDLE_SLEEP: Duration = Duration::from_micros(500);

/// How long dialling one address may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// What the driver saw, for assertions about reconnects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// `Event::Connect` received.
    pub connects: u32,
    /// Dials that failed (reported with `handle_connect_failed`).
    pub connect_failures: u32,
    /// `Event::Disconnect` received.
    pub disconnects: u32,
    /// Sockets that closed or failed under the driver (reported with `handle_closed`).
    pub closed_by_peer: u32,
    /// Push frames received.
    pub pushes: u32,
}

/// A blocking driver of one [`Client`]. See the [module documentation](self).
pub struct Driver {
    inner: RefCell<Inner>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.try_borrow() {
            Ok(inner) => f
                .debug_struct("Driver")
                .field("server", &inner.core.config().server)
                .field("sockets", &inner.sockets.len())
                .field("stats", &inner.stats)
                .finish(),
            Err(_) => f.write_str("Driver { <busy> }"),
        }
    }
}

struct Inner {
    core: Client,
    tls: Option<Arc<rustls::ClientConfig>>,
    sockets: Vec<Socket>,
    /// Dials in progress, each on its own thread.
    dials: Vec<Dial>,
    /// Connections whose socket failed under the driver: events the core queued for them
    /// before it heard about it are stale, not wrong.
    lost: HashSet<ConnId>,
    /// Completed requests whose result nobody has taken yet.
    done: HashMap<RequestId, Result<Reply, RequestError>>,
    submitted: HashSet<RequestId>,
    completed: HashSet<RequestId>,
    pushes: Vec<(ConnId, Frame)>,
    anomalies: Vec<String>,
    stats: DriverStats,
}

/// A connection being opened on another thread.
struct Dial {
    conn: ConnId,
    server: ServerAddr,
    result: mpsc::Receiver<io::Result<Stream>>,
}

struct Socket {
    conn: ConnId,
    stream: Stream,
    input: BytesMut,
    output: SendBuffer,
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Unix(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Unix(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_nonblocking(true),
            Self::Unix(s) => s.set_nonblocking(true),
            Self::Tls(s) => s.sock.set_nonblocking(true),
        }
    }

    /// Pushes out TLS records rustls still holds (plain sockets hold nothing back).
    fn flush_tls(&mut self) -> io::Result<()> {
        if let Self::Tls(s) = self {
            while s.conn.wants_write() {
                match s.conn.write_tls(&mut s.sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if would_block(&e) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Driver {
    /// A driver for `config`. `tls` are the files to use when the core asks for TLS.
    pub fn new(config: Config, tls: Option<&TlsFiles>) -> Self {
        let tls = tls.map(|files| {
            xtask::client_config(files, true)
                .unwrap_or_else(|e| panic!("TLS client configuration: {e}"))
        });
        Self {
            inner: RefCell::new(Inner {
                core: Client::new(config),
                tls,
                sockets: Vec::new(),
                dials: Vec::new(),
                lost: HashSet::new(),
                done: HashMap::new(),
                submitted: HashSet::new(),
                completed: HashSet::new(),
                pushes: Vec::new(),
                anomalies: Vec::new(),
                stats: DriverStats::default(),
            }),
        }
    }

    /// Submits a request, panicking if the core refuses it.
    pub fn submit(&self, request: Request) -> RequestId {
        self.try_submit(request)
            .unwrap_or_else(|e| panic!("submit refused: {e}"))
    }

    /// Submits a request.
    ///
    /// # Errors
    ///
    /// The core's [`SubmitError`].
    pub fn try_submit(&self, request: Request) -> Result<RequestId, SubmitError> {
        let mut inner = self.inner.borrow_mut();
        let id = inner.core.submit(request, Instant::now())?;
        inner.submitted.insert(id);
        inner.drain_events();
        Ok(id)
    }

    /// Runs the I/O until request `id` completes, and returns its result.
    ///
    /// # Panics
    ///
    /// When it takes longer than [`HANG_GUARD`], or `id` was already taken.
    pub fn wait(&self, id: RequestId) -> Result<Reply, RequestError> {
        let mut inner = self.inner.borrow_mut();
        let start = Instant::now();
        loop {
            if let Some(result) = inner.done.remove(&id) {
                return result;
            }
            assert!(
                !inner.completed.contains(&id),
                "request {} was already waited for",
                id.index()
            );
            assert!(
                start.elapsed() < HANG_GUARD,
                "request {} did not complete within {HANG_GUARD:?}: the core is stuck \
                 ({} pending, poll_timeout in {:?}, stats {:?})",
                id.index(),
                inner.core.pending(),
                inner
                    .core
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(Instant::now())),
                inner.stats,
            );
            inner.turn_or_sleep(None);
        }
    }

    /// Cancels request `id` (see [`Client::cancel`]); its result is still taken with
    /// [`Driver::wait`].
    pub fn cancel(&self, id: RequestId) {
        let mut inner = self.inner.borrow_mut();
        inner.core.cancel(id, Instant::now());
        inner.drain_events();
    }

    /// Whether request `id` completed and its result waits to be taken by [`Driver::wait`].
    pub fn is_done(&self, id: RequestId) -> bool {
        self.inner.borrow().done.contains_key(&id)
    }

    /// How many submitted requests completed so far (taken or not).
    pub fn completed(&self) -> usize {
        self.inner.borrow().completed.len()
    }

    /// Submits `request` and converts its reply into `T`.
    ///
    /// # Errors
    ///
    /// The request's failure, the server's error reply, or a conversion error.
    pub fn request<T: FromValue>(&self, request: Request) -> Result<T, Error> {
        let id = self.try_submit(request)?;
        self.wait(id)?.into_value()
    }

    /// Runs one command and converts its reply into `T`.
    ///
    /// # Errors
    ///
    /// As [`Driver::request`].
    pub fn call<T: FromValue>(&self, command: Command) -> Result<T, Error> {
        self.request(Request::single(command))
    }

    /// One round of I/O without sleeping: events, writes, reads, due timers.
    pub fn turn(&self) {
        self.inner.borrow_mut().turn();
    }

    /// Runs the I/O for `duration` (completions are kept for [`Driver::wait`]).
    pub fn run_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut inner = self.inner.borrow_mut();
        while Instant::now() < until {
            inner.turn_or_sleep(Some(until));
        }
    }

    /// Runs the I/O until `done` says so, for at most `limit`; returns whether it did.
    pub fn run_until(&self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let until = Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            self.inner.borrow_mut().turn_or_sleep(Some(until));
        }
    }

    /// Opens a dedicated connection (see [`Client::open_dedicated`]); pin requests to it with
    /// [`Request::on`] or [`Driver::on`].
    pub fn open_dedicated(&self) -> ConnId {
        let mut inner = self.inner.borrow_mut();
        let conn = inner.core.open_dedicated(Instant::now());
        inner.drain_events();
        conn
    }

    /// Closes a dedicated connection.
    pub fn close_dedicated(&self, conn: ConnId) {
        let mut inner = self.inner.borrow_mut();
        inner.core.close_dedicated(conn, Instant::now());
        inner.drain_events();
    }

    /// Typed commands pinned to the dedicated connection `conn`.
    pub fn on(&self, conn: ConnId) -> Pinned<'_> {
        Pinned { driver: self, conn }
    }

    /// Shuts the client down gracefully and runs the I/O until every connection closed (at most
    /// `limit`); returns whether it got there.
    pub fn quit(&self, limit: Duration) -> bool {
        {
            let mut inner = self.inner.borrow_mut();
            inner.core.quit(Instant::now());
            inner.drain_events();
        }
        self.run_until(limit, |d| {
            let inner = d.inner.borrow();
            inner.core.is_closed() && inner.sockets.is_empty()
        })
    }

    /// Push frames received so far, taken out.
    pub fn take_pushes(&self) -> Vec<(ConnId, Frame)> {
        std::mem::take(&mut self.inner.borrow_mut().pushes)
    }

    /// What the driver saw so far.
    pub fn stats(&self) -> DriverStats {
        self.inner.borrow().stats
    }

    /// Requests the core has not completed yet.
    pub fn pending(&self) -> usize {
        self.inner.borrow().core.pending()
    }

    /// Breaches of the core's contract seen so far: a request completed twice, or a completion
    /// for an id that was never submitted.
    pub fn anomalies(&self) -> Vec<String> {
        self.inner.borrow().anomalies.clone()
    }

    /// Panics if [`Driver::anomalies`] is not empty.
    pub fn assert_no_anomalies(&self) {
        let anomalies = self.anomalies();
        assert!(
            anomalies.is_empty(),
            "the core broke its contract: {anomalies:#?}"
        );
    }
}

impl Inner {
    /// One round of I/O; sleeps briefly (never past `until` or the core's next deadline) when
    /// nothing moved.
    fn turn_or_sleep(&mut self, until: Option<Instant>) {
        if self.turn() {
            return;
        }
        let now = Instant::now();
        let mut sleep = IDLE_SLEEP;
        for deadline in [until, self.core.poll_timeout()].into_iter().flatten() {
            sleep = sleep.min(deadline.saturating_duration_since(now));
        }
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }

    /// Drains events, writes, reads, fires due timers. Returns whether anything moved.
    fn turn(&mut self) -> bool {
        let mut progress = self.drain_events();
        progress |= self.finish_dials();
        progress |= self.drain_events();
        progress |= self.write_sockets();
        progress |= self.read_sockets();
        let now = Instant::now();
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
            progress = true;
        }
        progress | self.drain_events()
    }

    /// Acts on every event the core has. Returns whether there was any.
    fn drain_events(&mut self) -> bool {
        let mut any = false;
        while let Some(event) = self.core.poll_event() {
            any = true;
            match event {
                Event::Connect { conn, server, tls } => {
                    self.stats.connects += 1;
                    let (sender, result) = mpsc::channel();
                    let (target, config) = (server.clone(), self.tls.clone());
                    std::thread::spawn(move || {
                        // The driver may have given up on it meanwhile: then nobody listens.
                        let _ = sender.send(dial(&target, tls.as_ref(), config));
                    });
                    self.dials.push(Dial {
                        conn,
                        server,
                        result,
                    });
                }
                Event::Disconnect { conn } => {
                    self.stats.disconnects += 1;
                    self.sockets.retain(|s| s.conn != conn);
                    self.dials.retain(|d| d.conn != conn);
                }
                Event::Transmit { conn } => {
                    match self.sockets.iter_mut().find(|s| s.conn == conn) {
                        Some(socket) => {
                            let _ = self.core.poll_transmit(conn, &mut socket.output);
                        }
                        None if self.lost.contains(&conn) => {}
                        None => self
                            .anomalies
                            .push(format!("Transmit for {conn}, which has no socket")),
                    }
                }
                Event::Response { id, result } => {
                    if !self.submitted.contains(&id) {
                        self.anomalies.push(format!(
                            "a response for request {}, which was never submitted",
                            id.index()
                        ));
                    } else if !self.completed.insert(id) {
                        self.anomalies.push(format!(
                            "request {} completed twice (again with {result:?})",
                            id.index()
                        ));
                    } else {
                        self.done.insert(id, result);
                    }
                }
                Event::Push { conn, frame } => {
                    self.stats.pushes += 1;
                    self.pushes.push((conn, frame));
                }
                other => self.anomalies.push(format!("unknown event {other:?}")),
            }
        }
        any
    }

    /// Takes the dials that finished: connected sockets join the loop, failures go to the core.
    fn finish_dials(&mut self) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.dials.len() {
            let outcome = match self.dials[i].result.try_recv() {
                Err(mpsc::TryRecvError::Empty) => {
                    i += 1;
                    continue;
                }
                Ok(outcome) => outcome,
                Err(mpsc::TryRecvError::Disconnected) => {
                    Err(io::Error::other("the dialling thread died"))
                }
            };
            progress = true;
            let Dial { conn, server, .. } = self.dials.remove(i);
            match outcome.and_then(|stream| stream.set_nonblocking().map(|()| stream)) {
                Ok(stream) => {
                    self.sockets.push(Socket {
                        conn,
                        stream,
                        input: BytesMut::with_capacity(64 * 1024),
                        output: SendBuffer::new(),
                    });
                    self.core.handle_connected(conn, Instant::now());
                }
                Err(e) => {
                    self.stats.connect_failures += 1;
                    let reason = format!("cannot connect to {server}: {e}");
                    self.core
                        .handle_connect_failed(conn, &reason, Instant::now());
                }
            }
        }
        progress
    }

    /// Writes what each socket has pending, as far as the socket takes it.
    fn write_sockets(&mut self) -> bool {
        let mut progress = false;
        let mut broken = Vec::new();
        for socket in &mut self.sockets {
            let result = (|| -> io::Result<bool> {
                let mut wrote = false;
                while socket.output.has_remaining() {
                    match socket.stream.write(socket.output.chunk()) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            socket.output.advance(n);
                            wrote = true;
                        }
                        Err(e) if would_block(&e) => break,
                        Err(e) => return Err(e),
                    }
                }
                socket.stream.flush_tls()?;
                Ok(wrote)
            })();
            match result {
                Ok(wrote) => progress |= wrote,
                Err(e) => broken.push((socket.conn, format!("write failed: {e}"))),
            }
        }
        for (conn, reason) in broken {
            self.closed(conn, &reason);
            progress = true;
        }
        progress
    }

    /// Reads what each socket has and hands it to the core.
    fn read_sockets(&mut self) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.sockets.len() {
            let socket = &mut self.sockets[i];
            let conn = socket.conn;
            let mut chunk = [0u8; 32 * 1024];
            let mut got = false;
            let mut failure = None;
            for _ in 0..16 {
                match socket.stream.read(&mut chunk) {
                    Ok(0) => {
                        failure = Some("the server closed the connection".to_owned());
                        break;
                    }
                    Ok(n) => {
                        socket.input.extend_from_slice(&chunk[..n]);
                        got = true;
                    }
                    Err(e) if would_block(&e) => break,
                    Err(e) => {
                        failure = Some(format!("read failed: {e}"));
                        break;
                    }
                }
            }
            if got {
                progress = true;
                let mut input = std::mem::take(&mut socket.input);
                self.core.handle_input(conn, &mut input, Instant::now());
                // The core may have dropped this socket's connection (a protocol error); its
                // Disconnect event comes with the next drain.
                if let Some(socket) = self.sockets.iter_mut().find(|s| s.conn == conn) {
                    socket.input = input;
                }
            }
            if let Some(reason) = failure {
                self.closed(conn, &reason);
                progress = true;
                continue;
            }
            i += 1;
        }
        progress
    }

    /// A socket failed under us: forget it and tell the core.
    fn closed(&mut self, conn: ConnId, reason: &str) {
        if let Some(i) = self.sockets.iter().position(|s| s.conn == conn) {
            self.sockets.remove(i);
            self.lost.insert(conn);
            self.stats.closed_by_peer += 1;
            self.core.handle_closed(conn, reason, Instant::now());
        }
    }
}

/// Opens a blocking connection (TLS: with its handshake done, so certificate problems show up
/// as a failed dial). Runs on a dialling thread.
fn dial(
    server: &ServerAddr,
    tls: Option<&TlsSettings>,
    config: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Stream> {
    match (server, tls) {
        (ServerAddr::Unix(path), _) => Ok(Stream::Unix(UnixStream::connect(path)?)),
        (ServerAddr::Tcp { host, port }, None) => Ok(Stream::Tcp(tcp(host, *port)?)),
        (ServerAddr::Tcp { host, port }, Some(settings)) => {
            let config = config.ok_or_else(|| {
                io::Error::other("the core asked for TLS, but the driver has no TLS files")
            })?;
            let name = rustls::pki_types::ServerName::try_from(settings.server_name.clone())
                .map_err(io::Error::other)?;
            let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
            let sock = tcp(host, *port)?;
            sock.set_read_timeout(Some(DIAL_TIMEOUT))?;
            let mut stream = rustls::StreamOwned::new(conn, sock);
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
            stream.sock.set_read_timeout(None)?;
            Ok(Stream::Tls(Box::new(stream)))
        }
        (other, _) => Err(io::Error::other(format!("cannot dial {other}"))),
    }
}

fn tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host} resolves to nothing"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The typed command API, executed at once: every method returns the converted reply.
impl Commands for Driver {
    type Output<'a, T: FromValue + 'a>
        = Result<T, Error>
    where
        Self: 'a;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> Self::Output<'a, T> {
        self.call(command)
    }
}

/// Typed commands pinned to one dedicated connection: [`Driver::on`].
#[derive(Debug, Clone, Copy)]
pub struct Pinned<'d> {
    driver: &'d Driver,
    conn: ConnId,
}

impl Pinned<'_> {
    /// The connection the commands go to.
    pub fn conn(&self) -> ConnId {
        self.conn
    }
}

impl Commands for Pinned<'_> {
    type Output<'a, T: FromValue + 'a>
        = Result<T, Error>
    where
        Self: 'a;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> Self::Output<'a, T> {
        self.driver.request(Request::single(command).on(self.conn))
    }
}

impl TestEnv {
    /// The client configuration for this cell: the env's URL and the cell's protocol. For the
    /// sentinel topology that is the `redis+sentinel://` URL, so the client finds the primary
    /// through the sentinels and follows its failovers; for the cluster, the seed node.
    pub fn client_config(&self) -> Config {
        let mut config =
            Config::from_url(&self.url).unwrap_or_else(|e| panic!("{}: {e}", self.url));
        config.protocol = self.resp_protocol();
        config
    }

    /// The cell's protocol as client-core names it.
    pub fn resp_protocol(&self) -> Protocol {
        if self.protocol == 2 {
            Protocol::Resp2
        } else {
            Protocol::Resp3
        }
    }

    /// A driver with [`TestEnv::client_config`].
    pub fn driver(&self) -> Driver {
        self.driver_with(self.client_config())
    }

    /// A driver with `config` and this topology's TLS files.
    pub fn driver_with(&self, config: Config) -> Driver {
        Driver::new(config, self.tls.as_ref())
    }
}
