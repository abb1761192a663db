//! The scenarios with no client library: the same commands, pre-encoded, written and read on
//! one bare socket, in four ways (the concurrent one as one batch of every task's next
//! command at a time). They show how close a client on this machine can get to its floor, and
//! where `redis-benchmark`'s lead in seq comes from: its event loop takes the socket out of
//! epoll once a reply is read and puts it back after the next write, and on this VM that alone
//! answers sooner than a socket kept registered.
//!
//! A fifth, [`run_tasks`], is the concurrent scenario with its 64 tasks kept: the floor of the
//! client CPU per operation for any client that gives each request a task of its own.

use std::collections::VecDeque;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{BATCH, LARGE, Latencies, Result, SMALL, Sample, Scenario, TASKS};

/// A SET's reply.
const OK: &[u8] = b"+OK\r\n";

/// How long a reply may take before the loop gives up (a wrong reply that is shorter than the
/// expected one would otherwise leave it waiting for bytes that never come).
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// One way of doing the round trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loop {
    /// A blocking `std::net::TcpStream`: `write`, then `read` until the reply is in.
    Blocking,
    /// A non-blocking socket registered once with epoll (as tokio and mio keep theirs).
    Epoll,
    /// A non-blocking socket registered with epoll after each write and removed once its
    /// reply is read: the system calls `redis-benchmark -c 1` makes per request.
    EpollReregistered,
    /// A tokio `TcpStream` on the bench's current-thread runtime.
    Tokio,
}

/// What one loop sends and must get back: a request and its exact reply, in turn, each
/// `commands` commands long. Encoded once, before the clock starts, with resp-core's encoder.
struct Wire {
    exchanges: Vec<(BytesMut, BytesMut)>,
    commands: usize,
}

impl Wire {
    /// SET, then GET, of one key.
    fn set_get(key: &str, value: &[u8]) -> Self {
        let (mut set, mut get, mut get_reply) = (BytesMut::new(), BytesMut::new(), BytesMut::new());
        resp_core::encode_command(&mut set, [b"SET", key.as_bytes(), value]);
        resp_core::encode_command(&mut get, [b"GET", key.as_bytes()]);
        resp_core::write_bulk(&mut get_reply, value);
        Self {
            exchanges: vec![(set, BytesMut::from(OK)), (get, get_reply)],
            commands: 1,
        }
    }

    /// A batch of SETs of `keys` in one write, and their replies in one piece.
    fn set_batch(keys: &[String], value: &[u8]) -> Self {
        let mut request = BytesMut::new();
        for key in keys {
            resp_core::encode_command(&mut request, [b"SET", key.as_bytes(), value]);
        }
        Self {
            exchanges: vec![(request, BytesMut::from(&OK.repeat(keys.len())[..]))],
            commands: keys.len(),
        }
    }

    /// A batch of SETs of `keys`, then a batch of GETs of them, in turn: the concurrent
    /// scenario's commands as a perfect auto-pipeliner would send them, every task's next
    /// command in one write (what fred's 64 commands per server read are).
    fn set_get_batches(keys: &[String], value: &[u8]) -> Self {
        let Self { mut exchanges, .. } = Self::set_batch(keys, value);
        let (mut gets, mut replies) = (BytesMut::new(), BytesMut::new());
        for key in keys {
            resp_core::encode_command(&mut gets, [b"GET", key.as_bytes()]);
            resp_core::write_bulk(&mut replies, value);
        }
        exchanges.push((gets, replies));
        Self {
            exchanges,
            commands: keys.len(),
        }
    }

    fn longest_reply(&self) -> usize {
        self.exchanges
            .iter()
            .map(|(_, r)| r.len())
            .max()
            .unwrap_or(0)
    }
}

/// What the loop does: `seq` and `large` alternate a SET and a GET of a `size`-byte value,
/// `pipeline` sends `BATCH` SETs per round trip, `concurrent` `TASKS` SETs and then `TASKS`
/// GETs (one batch in flight, in lock-step with the server); `ops` commands in all.
pub(crate) fn run(
    how: Loop,
    addr: &str,
    scenario: Scenario,
    ops: usize,
    runtime: &tokio::runtime::Runtime,
) -> Result<Sample> {
    let (wire, size) = match scenario {
        Scenario::Seq => (Wire::set_get("bench:bare", &[b'x'; SMALL]), SMALL),
        Scenario::Large => (Wire::set_get("bench:bare", &vec![b'x'; LARGE]), LARGE),
        Scenario::Pipeline => {
            let keys: Vec<String> = (0..BATCH).map(|i| format!("bench:bare:{i}")).collect();
            (Wire::set_batch(&keys, &[b'x'; SMALL]), SMALL)
        }
        Scenario::Concurrent => {
            let keys: Vec<String> = (0..TASKS).map(|i| format!("bench:bare:c:{i}")).collect();
            (Wire::set_get_batches(&keys, &[b'x'; SMALL]), SMALL)
        }
        _ => return Err(format!("no bare loop for {scenario:?}").into()),
    };
    let trips = ops / wire.commands;
    match how {
        Loop::Blocking => {
            let stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
            timed(&wire, trips, size, Blocking(stream))
        }
        Loop::Epoll | Loop::EpollReregistered => {
            let socket = EpollSocket::connect(addr, how == Loop::EpollReregistered)?;
            timed(&wire, trips, size, socket)
        }
        Loop::Tokio => runtime.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let mut latencies = Latencies::start(trips);
            let mut reply = vec![0; wire.longest_reply()];
            for (request, expected) in wire.exchanges.iter().cycle().take(trips) {
                let t = Instant::now();
                stream.write_all(request).await?;
                let reply = &mut reply[..expected.len()];
                tokio::time::timeout(REPLY_TIMEOUT, stream.read_exact(reply))
                    .await
                    .map_err(|_| "no reply in time")??;
                latencies.push(t);
                check(reply, expected)?;
            }
            Ok(latencies.finish(wire.commands, size))
        }),
    }
}

/// A socket that sends a request and reads exactly `reply.len()` bytes back.
trait RoundTrip {
    fn round_trip(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<()>;
}

/// The timed loop of the synchronous ways: `trips` round trips.
fn timed(wire: &Wire, trips: usize, size: usize, mut socket: impl RoundTrip) -> Result<Sample> {
    let mut latencies = Latencies::start(trips);
    let mut reply = vec![0; wire.longest_reply()];
    for (request, expected) in wire.exchanges.iter().cycle().take(trips) {
        let t = Instant::now();
        let reply = &mut reply[..expected.len()];
        socket.round_trip(request, reply)?;
        latencies.push(t);
        check(reply, expected)?;
    }
    Ok(latencies.finish(wire.commands, size))
}

fn check(reply: &[u8], expected: &[u8]) -> Result<()> {
    if reply == expected {
        Ok(())
    } else {
        Err(format!("unexpected reply {:?}", String::from_utf8_lossy(reply)).into())
    }
}

struct Blocking(TcpStream);

impl RoundTrip for Blocking {
    fn round_trip(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<()> {
        self.0.write_all(request)?;
        self.0.read_exact(reply)
    }
}

/// A non-blocking socket and an epoll instance of its own.
struct EpollSocket {
    stream: TcpStream,
    epoll: OwnedFd,
    /// Added to epoll after each write and removed after each reply, rather than once.
    reregister: bool,
}

impl EpollSocket {
    #[allow(unsafe_code)]
    fn connect(addr: &str, reregister: bool) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        // SAFETY: `epoll_create1` takes no pointer; a non-negative result is a new descriptor
        // that only this `OwnedFd` closes.
        let epoll = unsafe {
            let fd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let socket = Self {
            stream,
            epoll,
            reregister,
        };
        if !reregister {
            socket.control(libc::EPOLL_CTL_ADD)?;
        }
        Ok(socket)
    }

    /// `epoll_ctl(op)` for the socket, waiting for it to become readable.
    #[allow(unsafe_code)]
    fn control(&self, op: libc::c_int) -> io::Result<()> {
        let fd: RawFd = self.stream.as_raw_fd();
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: both descriptors are open for as long as `self` lives, and `event` is a
        // valid `epoll_event` for the duration of the call.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes all of `request`, waiting in `poll` whenever the send buffer is full (a large
    /// value does not fit at once).
    #[allow(unsafe_code)]
    fn write_all(&mut self, mut request: &[u8]) -> io::Result<()> {
        while !request.is_empty() {
            match self.stream.write(request) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => request = &request[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fd = libc::pollfd {
                        fd: self.stream.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    let timeout = REPLY_TIMEOUT.as_millis() as libc::c_int;
                    // SAFETY: `fd` is one valid `pollfd` for the duration of the call.
                    if unsafe { libc::poll(&mut fd, 1, timeout) } < 0 {
                        let error = io::Error::last_os_error();
                        if error.kind() != io::ErrorKind::Interrupted {
                            return Err(error);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Blocks until the socket is readable.
    #[allow(unsafe_code)]
    fn wait(&self) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let timeout = REPLY_TIMEOUT.as_millis() as libc::c_int;
        loop {
            // SAFETY: `events` has room for the 4 events the call may write.
            let n = unsafe {
                libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), 4, timeout)
            };
            match n {
                0 => return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply in time")),
                n if n > 0 => return Ok(()),
                _ => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
            }
        }
    }
}

impl RoundTrip for EpollSocket {
    fn round_trip(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<()> {
        self.write_all(request)?;
        if self.reregister {
            self.control(libc::EPOLL_CTL_ADD)?;
        }
        // Wait, then read what is there, as an event loop does (the reply is never in yet
        // right after the write, so reading first would only add a failed `recvfrom`).
        let mut filled = 0;
        while filled < reply.len() {
            self.wait()?;
            while filled < reply.len() {
                match self.stream.read(&mut reply[filled..]) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        if self.reregister {
            self.control(libc::EPOLL_CTL_DEL)?;
        }
        Ok(())
    }
}

/// The concurrent scenario as the least a tokio client can do that serves `TASKS` tasks over
/// one connection: each task appends its pre-encoded command to a shared buffer under a
/// `std::sync::Mutex`, notes the reply it owes in a FIFO and waits; a writer task (woken by the
/// first command into an empty buffer, which yields once so that the other woken callers join
/// the write, as redwire's does) writes the buffer; a reader task checks each reply against the
/// expected bytes, in FIFO order, and wakes its task. No routing, timeouts, cancellation,
/// conversion or command building: what is left is the tasks, their wake-ups, the lock and the
/// socket. It shows how much CPU per operation any client that gives each request its own task
/// pays on this machine before doing any work of its own.
pub(crate) fn run_tasks(
    addr: &str,
    ops: usize,
    runtime: &tokio::runtime::Runtime,
) -> Result<Sample> {
    let value = [b'x'; SMALL];
    let per_task = ops / TASKS;
    let wires: Vec<Wire> = (0..TASKS)
        .map(|task| Wire::set_get(&format!("bench:bare:t:{task}"), &value))
        .collect();
    // The same value for every key: every task expects the same two replies.
    let replies: Vec<BytesMut> = wires[0].exchanges.iter().map(|(_, r)| r.clone()).collect();
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let line = Arc::new(Mutex::new(Line {
            out: Vec::new(),
            owed: VecDeque::new(),
            done: vec![false; TASKS],
            waiting: (0..TASKS).map(|_| None).collect(),
            writer: None,
        }));
        let cpu = crate::cpu_time(libc::RUSAGE_SELF);
        let start = Instant::now();
        let read = tokio::spawn(read_replies(
            reader,
            line.clone(),
            replies,
            per_task * TASKS,
        ));
        let write = tokio::spawn(write_commands(writer, line.clone()));
        let tasks: Vec<_> = wires
            .into_iter()
            .enumerate()
            .map(|(task, wire)| tokio::spawn(task_loop(line.clone(), task, per_task, wire)))
            .collect();
        tokio::time::timeout(REPLY_TIMEOUT * 10, read)
            .await
            .map_err(|_| "the bare task loop's replies did not all come in time")???;
        for task in tasks {
            task.await?;
        }
        write.abort();
        let wall = start.elapsed();
        let cpu = crate::cpu_time(libc::RUSAGE_SELF) - cpu;
        Ok(crate::finish(per_task * TASKS, SMALL, wall, cpu))
    })
}

/// What the tasks of `run_tasks` share.
struct Line {
    /// Commands not yet taken by the writer.
    out: Vec<u8>,
    /// For each command written or about to be, in order: its task and which reply it expects
    /// (the index of its exchange in `Wire::set_get`: 0 the `SET`'s `+OK`, 1 the `GET`'s value).
    owed: VecDeque<(usize, usize)>,
    /// Per task: its reply is in.
    done: Vec<bool>,
    /// Per task: the waker of a task waiting for its reply.
    waiting: Vec<Option<Waker>>,
    /// The writer task, while it waits for commands.
    writer: Option<Waker>,
}

fn lock(line: &Mutex<Line>) -> MutexGuard<'_, Line> {
    line.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One task: its `wire`'s `SET`, then its `GET`, in turn, `per_task` commands.
async fn task_loop(line: Arc<Mutex<Line>>, task: usize, per_task: usize, wire: Wire) {
    for op in 0..per_task {
        {
            let mut line = lock(&line);
            let first = line.out.is_empty();
            line.out.extend_from_slice(&wire.exchanges[op % 2].0);
            line.owed.push_back((task, op % 2));
            line.done[task] = false;
            if first && let Some(writer) = line.writer.take() {
                writer.wake();
            }
        }
        std::future::poll_fn(|cx| {
            let mut line = lock(&line);
            if line.done[task] {
                return Poll::Ready(());
            }
            line.waiting[task] = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// Writes whatever the tasks queued, each time there is some.
async fn write_commands(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    line: Arc<Mutex<Line>>,
) -> Result<()> {
    let mut taken = Vec::new();
    loop {
        std::future::poll_fn(|cx| {
            let mut line = lock(&line);
            if line.out.is_empty() {
                line.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(())
        })
        .await;
        tokio::task::yield_now().await;
        std::mem::swap(&mut lock(&line).out, &mut taken);
        writer.write_all(&taken).await?;
        taken.clear();
    }
}

/// Reads `total` replies, checks each, and wakes the task that owes it.
async fn read_replies(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    line: Arc<Mutex<Line>>,
    replies: Vec<BytesMut>,
    total: usize,
) -> Result<()> {
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut seen = 0;
    while seen < total {
        if reader.read_buf(&mut input).await? == 0 {
            return Err("the server closed the connection".into());
        }
        let mut line = lock(&line);
        while let Some(&(task, reply)) = line.owed.front() {
            let expected = &replies[reply];
            if input.len() < expected.len() {
                break;
            }
            check(&input[..expected.len()], expected)?;
            input.advance(expected.len());
            line.owed.pop_front();
            line.done[task] = true;
            if let Some(waker) = line.waiting[task].take() {
                waker.wake();
            }
            seen += 1;
        }
        if input.capacity() - input.len() < 4096 {
            input.reserve(64 * 1024);
        }
    }
    Ok(())
}
