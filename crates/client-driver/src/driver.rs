//! The driver: the core behind a lock, and the tasks that do its I/O.
//!
//! The core is never held across an `.await`: every task locks it, feeds it one input, drains
//! its events, and unlocks. Each connection has a reader task (socket → `handle_input`) and a
//! writer task (woken by `Event::Transmit`, it takes everything queued since its last write
//! with `poll_transmit` and sends it in one vectored write: auto-pipelining). When a
//! connection owes no replies, the task whose request made it transmit writes at once
//! instead, if the runtime can try a write without waiting (`write_now`). One timer task
//! sleeps until `poll_timeout`. The runtime only spawns, dials, reads, writes and sleeps.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::IoSlice;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use client_core::{
    ConnId, Event, Reply, RequestError, RequestId, SendBuffer, ServerAddr, SubscriberId,
    TlsSettings,
};
use futures_util::future::{AbortHandle, Abortable, Either, select};

use crate::signal::Signal;
use crate::{Connection, Runtime};

/// A request's completion, kept under the lock until its future takes it: the task to wake
/// while it waits, then the result. (A oneshot channel per request cost an allocation and
/// its own synchronization on top of the lock every completion already holds.)
#[derive(Debug)]
enum Completion {
    Waiting(Option<Waker>),
    Done(Result<Reply, RequestError>),
}

impl Completion {
    /// The result; a request still waiting has none, as when the driver shut down.
    fn into_result(self) -> Result<Reply, RequestError> {
        match self {
            Self::Done(result) => result,
            Self::Waiting(_) => Err(RequestError::Closed),
        }
    }
}

/// Request ids are unique numbers: one multiplication spreads them well enough for the map
/// of completions, where SipHash showed in the profiles.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Completions = HashMap<RequestId, Completion, BuildHasherDefault<IdHasher>>;

/// What the tasks and the handles share.
pub(crate) struct Shared<R: Runtime> {
    state: Mutex<State<R>>,
    /// Wakes the timer task when a deadline earlier than the one it sleeps for appears.
    timer: Signal,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> std::fmt::Debug for Shared<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

pub(crate) struct State<R: Runtime> {
    pub(crate) core: client_core::Client,
    waiting: Completions,
    conns: HashMap<ConnId, ConnTasks<R>>,
    /// Subscribers waiting for an event.
    pub(crate) subscribers: HashMap<SubscriberId, Waker>,
    /// `quit` calls waiting for the core to close.
    pub(crate) quitting: Vec<Waker>,
    /// The deadline the timer task sleeps until.
    armed: Option<Instant>,
    /// Responses handed to their futures so far (`feed_first_half` checks it).
    completed: u64,
    timer_task: Option<AbortHandle>,
}

impl<R: Runtime> std::fmt::Debug for State<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("core", &self.core)
            .field("waiting", &self.waiting.len())
            .field("conns", &self.conns.len())
            .finish_non_exhaustive()
    }
}

struct ConnTasks<R: Runtime> {
    writable: Arc<Signal>,
    /// Signalled when the core wants the connection read again after pausing it.
    resume: Arc<Signal>,
    tasks: Vec<AbortHandle>,
    /// The socket's writing half, here while no write is under way: the writer task takes it
    /// out for as long as it awaits a write; `write_now` uses it in place. `None` before the
    /// connection is open.
    output: Option<Output<R>>,
}

/// A connection's writing half and the bytes taken from the core that it has not sent yet.
struct Output<R: Runtime> {
    writer: R::Writer,
    out: SendBuffer,
}

/// A background task of the driver, for [`Runtime::spawn`]: run [`Task::run`] to completion on
/// the runtime. The driver aborts it (it then returns at its next poll) when its connection
/// closes or the last client handle goes away.
pub struct Task<R: Runtime> {
    kind: TaskKind<R>,
    abort: futures_util::future::AbortRegistration,
}

enum TaskKind<R: Runtime> {
    Timer(Arc<Shared<R>>),
    Connection {
        shared: Arc<Shared<R>>,
        conn: ConnId,
        server: ServerAddr,
        tls: Option<TlsSettings>,
    },
    Writer {
        shared: Arc<Shared<R>>,
        conn: ConnId,
        writable: Arc<Signal>,
    },
}

impl<R: Runtime> std::fmt::Debug for Task<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            TaskKind::Timer(_) => "timer",
            TaskKind::Connection { .. } => "connection",
            TaskKind::Writer { .. } => "writer",
        };
        f.debug_struct("Task").field("kind", &kind).finish()
    }
}

impl<R: Runtime> Task<R> {
    /// Spawns a task through the runtime and returns the handle that aborts it.
    fn spawn(kind: TaskKind<R>) -> AbortHandle {
        let (handle, abort) = AbortHandle::new_pair();
        R::spawn(Self { kind, abort });
        handle
    }

    /// The task's work; completes when it is done or aborted.
    pub fn run(self) -> impl Future<Output = ()> {
        let work = async move {
            match self.kind {
                TaskKind::Timer(shared) => timer_task(shared).await,
                TaskKind::Connection {
                    shared,
                    conn,
                    server,
                    tls,
                } => connection(shared, conn, server, tls).await,
                TaskKind::Writer {
                    shared,
                    conn,
                    writable,
                } => write_loop(shared, conn, writable).await,
            }
        };
        async move {
            let _ = Abortable::new(work, self.abort).await;
        }
    }
}

impl<R: Runtime> Shared<R> {
    pub(crate) fn new(
        core: client_core::Client,
        tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> Arc<Self> {
        let state = State {
            core,
            waiting: Completions::default(),
            conns: HashMap::new(),
            subscribers: HashMap::new(),
            quitting: Vec::new(),
            armed: None,
            completed: 0,
            timer_task: None,
        };
        let shared = Arc::new(Self {
            state: Mutex::new(state),
            timer: Signal::default(),
            tls_config,
            _runtime: PhantomData,
        });
        let timer = Task::spawn(TaskKind::Timer(shared.clone()));
        shared.lock().timer_task = Some(timer);
        shared
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<R>> {
        // A panic while holding the lock leaves the core as it was between two calls; carry on.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the core under the lock, then acts on what it asked for.
    pub(crate) fn lock_and<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut client_core::Client) -> T,
    ) -> T {
        let mut state = self.lock();
        let result = f(&mut state.core);
        self.drain(&mut state);
        result
    }

    /// Starts a request (`submit`, `subscribe`, ...: whatever `start` asks the core for) and
    /// registers its completion, to wake `waker`'s task. The result is there at once when the
    /// core answered without I/O (a client-side cache hit).
    pub(crate) fn start(
        self: &Arc<Self>,
        start: impl FnOnce(
            &mut client_core::Client,
            Instant,
        ) -> Result<RequestId, client_core::SubmitError>,
        waker: &Waker,
    ) -> Result<(RequestId, Option<Result<Reply, RequestError>>), client_core::SubmitError> {
        let mut state = self.lock();
        let id = start(&mut state.core, Instant::now())?;
        state
            .waiting
            .insert(id, Completion::Waiting(Some(waker.clone())));
        let completed = state.completed;
        self.drain(&mut state);
        // Only a request the core answered without I/O (a cache hit) is done already; the
        // lookup is skipped unless the drain completed something.
        let answer = if state.completed == completed {
            None
        } else {
            take_done(&mut state.waiting, id)
        };
        Ok((id, answer))
    }

    /// The result of request `id` if it is in, else `Pending` with `cx`'s task to wake.
    pub(crate) fn poll_completion(
        &self,
        id: RequestId,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Reply, RequestError>> {
        let mut state = self.lock();
        // One probe of the map whichever way it goes.
        let Entry::Occupied(mut entry) = state.waiting.entry(id) else {
            // Taken already, or the driver shut down.
            return Poll::Ready(Err(RequestError::Closed));
        };
        match entry.get_mut() {
            Completion::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Completion::Done(_) => Poll::Ready(entry.remove().into_result()),
        }
    }

    /// Cancels a request whose future was dropped.
    pub(crate) fn cancel(self: &Arc<Self>, id: RequestId) {
        let mut state = self.lock();
        if let Some(Completion::Done(_)) = state.waiting.remove(&id) {
            return;
        }
        state.core.cancel(id, Instant::now());
        self.drain(&mut state);
    }

    /// Acts on everything the core asked for. Called with the lock held, after every input.
    pub(crate) fn drain(self: &Arc<Self>, state: &mut State<R>) {
        while let Some(event) = state.core.poll_event() {
            match event {
                Event::Connect { conn, server, tls } => {
                    tracing::debug!(%conn, %server, "dialling");
                    let writable = Arc::new(Signal::default());
                    let resume = Arc::new(Signal::default());
                    let task = Task::spawn(TaskKind::Connection {
                        shared: self.clone(),
                        conn,
                        server,
                        tls,
                    });
                    state.conns.insert(
                        conn,
                        ConnTasks {
                            writable,
                            resume,
                            tasks: vec![task],
                            output: None,
                        },
                    );
                }
                Event::Disconnect { conn } => {
                    tracing::debug!(%conn, "closing");
                    if let Some(conn) = state.conns.remove(&conn) {
                        conn.tasks.iter().for_each(AbortHandle::abort);
                    }
                }
                Event::Transmit { conn } => {
                    if let Some(tasks) = state.conns.get_mut(&conn)
                        && !write_now(&mut state.core, conn, tasks)
                    {
                        tasks.writable.notify();
                    }
                }
                Event::Response { id, result } => {
                    state.completed += 1;
                    if let Some(completion) = state.waiting.get_mut(&id)
                        && let Completion::Waiting(waker) =
                            std::mem::replace(completion, Completion::Done(result))
                    {
                        waker.into_iter().for_each(Waker::wake);
                    }
                }
                Event::Push { conn, frame } => {
                    tracing::debug!(%conn, kind = frame.type_name(), "push frame with no subscriber");
                }
                Event::PubSub { subscriber } => {
                    if let Some(waker) = state.subscribers.remove(&subscriber) {
                        waker.wake();
                    }
                }
                Event::ResumeInput { conn } => {
                    if let Some(conn) = state.conns.get(&conn) {
                        // Kept if the reader is not waiting yet.
                        conn.resume.notify();
                    }
                }
                other => tracing::debug!(?other, "event not handled by this adapter"),
            }
        }
        let next = state.core.poll_timeout();
        if next.is_some_and(|next| state.armed.is_none_or(|armed| next < armed)) {
            state.armed = next;
            self.timer.notify();
        }
        if state.core.is_closed() {
            state.quitting.drain(..).for_each(Waker::wake);
        }
    }

    /// Stops every task: the last client handle is gone.
    pub(crate) fn shut_down(&self) {
        let mut state = self.lock();
        for conn in state.conns.values() {
            conn.tasks.iter().for_each(AbortHandle::abort);
        }
        state.conns.clear();
        if let Some(timer) = state.timer_task.take() {
            timer.abort();
        }
        for completion in state.waiting.values_mut() {
            if let Completion::Waiting(waker) =
                std::mem::replace(completion, Completion::Done(Err(RequestError::Closed)))
            {
                waker.into_iter().for_each(Waker::wake);
            }
        }
        for (_, waker) in state.subscribers.drain() {
            waker.wake();
        }
        state.quitting.drain(..).for_each(Waker::wake);
    }
}

/// Takes request `id`'s result out of `waiting` if it is in.
fn take_done(waiting: &mut Completions, id: RequestId) -> Option<Result<Reply, RequestError>> {
    match waiting.entry(id) {
        Entry::Occupied(entry) if matches!(entry.get(), Completion::Done(_)) => {
            Some(entry.remove().into_result())
        }
        _ => None,
    }
}

/// Sleeps until the core's next deadline, then lets it act.
async fn timer_task<R: Runtime>(shared: Arc<Shared<R>>) {
    loop {
        let armed = shared.lock().armed;
        match armed {
            Some(deadline) => {
                let sleep = std::pin::pin!(R::sleep_until(deadline));
                let rearmed = std::pin::pin!(shared.timer.notified());
                if let Either::Left(..) = select(sleep, rearmed).await {
                    let mut state = shared.lock();
                    state.armed = None;
                    state.core.handle_timeout(Instant::now());
                    shared.drain(&mut state);
                }
            }
            None => shared.timer.notified().await,
        }
    }
}

/// Dials one connection, then reads from it until it closes; a writer task sends.
async fn connection<R: Runtime>(
    shared: Arc<Shared<R>>,
    conn: ConnId,
    server: ServerAddr,
    tls: Option<TlsSettings>,
) {
    let dialled = R::connect(server.clone(), tls, shared.tls_config.clone()).await;
    let Connection {
        mut reader,
        writer,
        peer,
    } = match dialled {
        Ok(connection) => connection,
        Err(error) => {
            tracing::debug!(%conn, %server, %error, "connect failed");
            let mut state = shared.lock();
            state.conns.remove(&conn);
            state
                .core
                .handle_connect_failed(conn, &error.to_string(), Instant::now());
            shared.drain(&mut state);
            return;
        }
    };
    let resume = {
        let mut state = shared.lock();
        let Some(tasks) = state.conns.get_mut(&conn) else {
            return;
        };
        let resume = tasks.resume.clone();
        tasks.output = Some(Output {
            writer,
            out: SendBuffer::new(),
        });
        let write = Task::spawn(TaskKind::Writer {
            shared: shared.clone(),
            conn,
            writable: tasks.writable.clone(),
        });
        tasks.tasks.push(write);
        state.core.handle_connected(conn, Instant::now());
        if let Some(peer) = peer {
            state.core.handle_peer_address(conn, peer);
        }
        shared.drain(&mut state);
        resume
    };
    let mut input = BytesMut::new();
    shared.lock().core.reserve_input(conn, &mut input);
    let reason = loop {
        match R::read(&mut reader, &mut input).await {
            Ok(0) => break "the server closed the connection".to_owned(),
            Ok(_) => {
                if input.len() >= SPLIT_READS_FROM {
                    feed_first_half(&shared, conn, &mut input).await;
                }
                let mut paused = {
                    let mut state = shared.lock();
                    state.core.handle_input(conn, &mut input, Instant::now());
                    state.core.reserve_input(conn, &mut input);
                    shared.drain(&mut state);
                    state.core.is_input_paused(conn)
                };
                // A subscriber's full buffer: the socket is not read (the server's output
                // buffer, then TCP, hold the rest) until it has room again; the bytes already
                // read go in first.
                while paused {
                    resume.notified().await;
                    let mut state = shared.lock();
                    state.core.handle_input(conn, &mut input, Instant::now());
                    state.core.reserve_input(conn, &mut input);
                    shared.drain(&mut state);
                    paused = state.core.is_input_paused(conn);
                }
            }
            Err(error) => break error.to_string(),
        }
    };
    closed(&shared, conn, &reason);
}

/// Reads at least this long are handed to the core in two halves (`feed_first_half`).
const SPLIT_READS_FROM: usize = 512;

/// Hands the core the first half of `input` (a long read: many replies, when many callers
/// share the connection) and, if that completed any request, yields once before the rest.
///
/// The callers it woke then run, and the writer sends their next commands, while the second
/// half waits: the server works on one batch while the client handles the other. Handing
/// over everything at once kept client and server in lock-step, one batch of nearly every
/// caller's command per round trip, each side idle while the other worked (64 tasks on one
/// connection: 58 commands per write; redis-rs keeps two half batches in flight and was
/// faster with more CPU per op). Measured in docs/benchmarks.md.
async fn feed_first_half<R: Runtime>(shared: &Arc<Shared<R>>, conn: ConnId, input: &mut BytesMut) {
    let rest = input.split_off(input.len() / 2);
    let completed = {
        let mut state = shared.lock();
        let before = state.completed;
        state.core.handle_input(conn, input, Instant::now());
        shared.drain(&mut state);
        state.completed != before
    };
    if completed {
        R::yield_now().await;
        if R::WRITE_BETWEEN_HALVES {
            // The callers woke, ran and queued their next commands: they leave now, before
            // the second half wakes the others (see `Runtime::WRITE_BETWEEN_HALVES`).
            let mut state = shared.lock();
            let state = &mut *state;
            if let Some(tasks) = state.conns.get_mut(&conn) {
                write_idle(&mut state.core, conn, tasks);
            }
        }
    }
    // Whatever the first half ended with (part of a frame) goes in front of the rest: the
    // same memory when `handle_input` only split frames off the front, else one copy.
    input.unsplit(rest);
}

/// Writes `conn`'s new output from the calling task, if the connection owes no replies and
/// its writer task is idle: true when everything went to the socket. Otherwise (replies are
/// owed, the writer task is busy, or the socket did not take it all) the writer task must be
/// told, and sends the rest.
///
/// With replies owed, other callers are probably about to submit too (their replies just
/// came), so waiting for the writer task lets their commands share one write. With nothing
/// owed the server is idle: a lone caller's request (or a pipeline) is best sent at once,
/// which saves the writer task's wake-up, its yield and, on runtimes whose tasks run on
/// other threads, two thread crossings per round trip.
fn write_now<R: Runtime>(
    core: &mut client_core::Client,
    conn: ConnId,
    tasks: &mut ConnTasks<R>,
) -> bool {
    !core.is_awaiting_replies(conn) && write_idle(core, conn, tasks)
}

/// Writes what the core holds for `conn` from the calling task if the writer task is idle
/// (its writing half is here and holds nothing unsent): true when all of it went. What the
/// socket does not take stays for the writer task, which was told when the output appeared.
fn write_idle<R: Runtime>(
    core: &mut client_core::Client,
    conn: ConnId,
    tasks: &mut ConnTasks<R>,
) -> bool {
    let Some(output) = tasks.output.as_mut() else {
        return false;
    };
    if output.out.has_remaining() {
        return false;
    }
    let _ = core.poll_transmit(conn, &mut output.out);
    while output.out.has_remaining() {
        let mut slices = [IoSlice::new(&[]); 32];
        let n = output.out.chunks_vectored(&mut slices);
        match R::try_write(&mut output.writer, &slices[..n]) {
            Some(Ok(written)) if written > 0 => output.out.advance(written),
            // Would block, failed or closed: the writer task finds out and handles it.
            _ => return false,
        }
    }
    R::try_flush(&mut output.writer)
}

/// Sends whatever the core queued for `conn`, each time it says there is some.
async fn write_loop<R: Runtime>(shared: Arc<Shared<R>>, conn: ConnId, writable: Arc<Signal>) {
    loop {
        writable.notified().await;
        // Let the tasks that are ready to run (callers about to submit) go first, so this write
        // carries their commands too. Without it, on a multi-thread runtime the writer runs
        // right after each caller and sends one command per packet.
        R::yield_now().await;
        // Out of the shared state for as long as the writes take, so that no caller writes
        // in between.
        let Some(Output {
            mut writer,
            mut out,
        }) = ({
            let mut state = shared.lock();
            let state = &mut *state;
            state.conns.get_mut(&conn).and_then(|tasks| {
                let mut output = tasks.output.take()?;
                let _ = state.core.poll_transmit(conn, &mut output.out);
                Some(output)
            })
        })
        else {
            return;
        };
        while out.has_remaining() {
            let written = {
                let mut slices = [IoSlice::new(&[]); 32];
                let n = out.chunks_vectored(&mut slices);
                R::write(&mut writer, &slices[..n]).await
            };
            match written {
                Ok(0) => return closed(&shared, conn, "the socket accepted no more bytes"),
                Ok(n) => out.advance(n),
                Err(error) => return closed(&shared, conn, &error.to_string()),
            }
        }
        // A TLS session may still hold the end of the last write.
        if let Err(error) = R::flush(&mut writer).await {
            return closed(&shared, conn, &error.to_string());
        }
        if let Some(tasks) = shared.lock().conns.get_mut(&conn) {
            tasks.output = Some(Output { writer, out });
        }
    }
}

/// The connection ended without the core asking: tell it, and stop the other task.
fn closed<R: Runtime>(shared: &Arc<Shared<R>>, conn: ConnId, reason: &str) {
    tracing::debug!(%conn, reason, "connection closed");
    let mut state = shared.lock();
    if let Some(tasks) = state.conns.remove(&conn) {
        tasks.tasks.iter().for_each(AbortHandle::abort);
    }
    state.core.handle_closed(conn, reason, Instant::now());
    shared.drain(&mut state);
}
