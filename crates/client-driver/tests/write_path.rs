//! The driver's write path, over a runtime whose sockets are in-memory pipes to a small fake
//! server: its writer keeps what it is given until flushed, as a TLS session does when the
//! socket is full, so a driver that forgot to flush would never get a reply. Two flavours of
//! the runtime: one that can try a write without waiting (`try_write`), so that the calling
//! task writes when the connection is idle, and one that cannot, so that every byte goes
//! through the writer task.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use client_driver::{
    Commands, Config, Connection, Options, Runtime, ServerAddr, Task, TlsSettings,
};
use resp_core::{Decoder, Frame};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

/// What the writers of one flavour did, counted for the assertions.
#[derive(Debug, Default)]
struct Counts {
    /// Writes by the writer task (`Runtime::write`).
    task_writes: AtomicUsize,
    /// Writes that went through `try_write` from the calling task.
    direct_writes: AtomicUsize,
}

static WITH_TRY: Counts = Counts {
    task_writes: AtomicUsize::new(0),
    direct_writes: AtomicUsize::new(0),
};
static WITHOUT_TRY: Counts = Counts {
    task_writes: AtomicUsize::new(0),
    direct_writes: AtomicUsize::new(0),
};

/// The fake runtime: tokio tasks and timers, in-memory sockets. `TRY` says whether it
/// implements `try_write`.
#[derive(Debug)]
struct Piped<const TRY: bool>;

impl<const TRY: bool> Piped<TRY> {
    fn counts() -> &'static Counts {
        if TRY { &WITH_TRY } else { &WITHOUT_TRY }
    }
}

/// A writer that holds everything until flushed.
#[derive(Debug)]
struct Holding {
    pipe: WriteHalf<DuplexStream>,
    held: Vec<u8>,
}

impl Holding {
    fn hold(&mut self, slices: &[IoSlice<'_>]) -> usize {
        let before = self.held.len();
        for slice in slices {
            self.held.extend_from_slice(slice);
        }
        self.held.len() - before
    }
}

impl<const TRY: bool> Runtime for Piped<TRY> {
    type Reader = ReadHalf<DuplexStream>;
    type Writer = Holding;
    type Local = ();

    fn spawn(task: Task<Self>) {
        drop(tokio::spawn(task.run()));
    }

    async fn connect(
        _server: ServerAddr,
        _tls: Option<TlsSettings>,
        _tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> io::Result<Connection<Self>> {
        let (client, server) = tokio::io::duplex(1 << 20);
        drop(tokio::spawn(fake_server(server)));
        let (reader, pipe) = tokio::io::split(client);
        Ok(Connection {
            reader,
            writer: Holding {
                pipe,
                held: Vec::new(),
            },
            peer: None,
        })
    }

    fn read<'a>(
        reader: &'a mut Self::Reader,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        reader.read_buf(buf)
    }

    async fn write<'a>(
        writer: &'a mut Self::Writer,
        slices: &'a [IoSlice<'a>],
    ) -> io::Result<usize> {
        Self::counts().task_writes.fetch_add(1, Ordering::Relaxed);
        Ok(writer.hold(slices))
    }

    async fn flush(writer: &mut Self::Writer) -> io::Result<()> {
        writer.pipe.write_all(&writer.held).await?;
        writer.held.clear();
        writer.pipe.flush().await
    }

    fn try_write(writer: &mut Self::Writer, slices: &[IoSlice<'_>]) -> Option<io::Result<usize>> {
        if !TRY {
            return None;
        }
        Self::counts().direct_writes.fetch_add(1, Ordering::Relaxed);
        Some(Ok(writer.hold(slices)))
    }

    fn try_flush(writer: &mut Self::Writer) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        while !writer.held.is_empty() {
            match Pin::new(&mut writer.pipe).poll_write(&mut cx, &writer.held) {
                Poll::Ready(Ok(n)) if n > 0 => drop(writer.held.drain(..n)),
                _ => return false,
            }
        }
        true
    }

    async fn sleep_until(deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await;
    }

    async fn yield_now() {
        tokio::task::yield_now().await;
    }
}

/// Answers the handshake, `PING` and `ECHO` (with its argument, so that a reply given to the
/// wrong request shows).
async fn fake_server(mut pipe: DuplexStream) {
    let mut decoder = Decoder::new();
    let mut input = BytesMut::with_capacity(16 * 1024);
    loop {
        match pipe.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut replies = Vec::new();
        while let Some(frame) = decoder
            .decode(&mut input)
            .expect("the client sent valid RESP")
        {
            let Frame::Array(args) = frame else {
                panic!("a command that is not an array: {frame:?}")
            };
            let arg = |i: usize| match args.get(i) {
                Some(Frame::BulkString(b)) => b.clone(),
                other => panic!("argument {i}: {other:?}"),
            };
            let name = arg(0).to_ascii_uppercase();
            match &name[..] {
                b"HELLO" => replies.extend_from_slice(b"%1\r\n+proto\r\n:3\r\n"),
                b"PING" => replies.extend_from_slice(b"+PONG\r\n"),
                b"ECHO" => {
                    let text = arg(1);
                    replies.extend_from_slice(format!("${}\r\n", text.len()).as_bytes());
                    replies.extend_from_slice(&text);
                    replies.extend_from_slice(b"\r\n");
                }
                _ => replies.extend_from_slice(b"+OK\r\n"),
            }
        }
        if pipe.write_all(&replies).await.is_err() {
            return;
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// One client of flavour `TRY`: a hundred requests one after the other, then a hundred at
/// once; every reply must be its own request's.
async fn exercise<const TRY: bool>() {
    let mut config = Config::new("127.0.0.1", 1);
    config.timeouts.command = Duration::from_secs(2);
    let client = client_driver::Client::<Piped<TRY>>::new(config, Options::default());
    for i in 0..100 {
        let text = format!("one at a time {i}");
        let echoed: String = client
            .echo(&text)
            .await
            .unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        assert_eq!(echoed, text);
    }
    let requests: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let text = format!("together {i}");
                let echoed: String = client.echo(&text).await.expect("a concurrent request");
                assert_eq!(echoed, text);
            })
        })
        .collect();
    for request in requests {
        request.await.expect("a concurrent request's task");
    }
    let _: Bytes = client.echo("last").await.expect("the last request");
}

#[test]
fn the_writer_task_flushes_what_its_writer_holds() {
    runtime().block_on(exercise::<false>());
    let counts = &WITHOUT_TRY;
    assert_eq!(counts.direct_writes.load(Ordering::Relaxed), 0);
    // The handshake, 100 requests one at a time, the concurrent ones in a few batches.
    let writes = counts.task_writes.load(Ordering::Relaxed);
    assert!(
        (102..150).contains(&writes),
        "{writes} writes by the writer task"
    );
}

#[test]
fn an_idle_connection_is_written_by_the_calling_task_and_a_busy_one_by_the_writer() {
    runtime().block_on(exercise::<true>());
    let counts = &WITH_TRY;
    let direct = counts.direct_writes.load(Ordering::Relaxed);
    let task = counts.task_writes.load(Ordering::Relaxed);
    // Each request sent one at a time found the connection idle: the caller wrote it.
    assert!(direct >= 100, "{direct} direct writes");
    // The hundred sent together mostly shared the writer task's writes: one caller found the
    // connection idle, the rest queued behind its request.
    assert!(task >= 1, "the writer task never wrote");
    assert!(
        direct + task < 150,
        "{direct} direct and {task} task writes"
    );
}
