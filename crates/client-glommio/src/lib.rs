//! The glommio adapter of redwire: a Redis and Valkey client for thread-per-core programs.
//!
//! glommio runs one executor per thread and never moves a task between threads, so the
//! handles here are `!Send`: a [`Client`] belongs to the executor that created it, and its
//! connections, timers and tasks stay there. The API is the one of every redwire adapter
//! (typed commands, pipelines, transactions, exclusive connections, pub/sub streams, TCP, TLS
//! and Unix sockets); all client logic lives in the sans-IO `client-core`, and the driver is
//! `client-driver`'s futures-io one.
//!
//! # One client per executor
//!
//! Start the executors with [`executor`] or [`executor_pool`] (they check the locked-memory
//! limit glommio needs and say what to do when it is too low), and create a client inside
//! each: every core then has its own connections and pipelines its own requests, with no lock
//! or atomic shared between cores. To spread work, give each executor its share of it (keys
//! hashed to executors, or a `glommio::channels::shared_channel` per executor carrying
//! requests from the others) rather than one client; see `examples/glommio_per_core.rs`.
//!
//! # Task queues
//!
//! The client's tasks (its connections, timers, and the tasks that read and write the
//! sockets) run in the task queue of the task that creates the [`Client`], under that queue's
//! latency and shares. When tasks keep the executor busy, glommio reads the sockets only when
//! its preempt timer fires, every 100 ms by default: a busy loop of yours, or a loop of cache
//! hits (which yields every 64 hits), then delays the client's replies by up to that much. An
//! executor that waits for I/O now and then reads them at once.
//!
//! Shortening that (a `Latency::Matters` queue, or `LocalExecutorBuilder::preempt_timer`) is
//! what the client did until it met a glommio bug: with a short preempt timer, glommio 0.9
//! sometimes goes to sleep without noticing a socket completion, and stays asleep until a
//! timer of the executor fires, or for good. The suite saw a connection handshake time out
//! and `SET`s answered 5 s late. `examples/glommio_missed_wakeup.rs` shows it with glommio
//! alone (Linux 6.18, under CPU contention): about one round of 20 round trips in 1,000
//! stalls with a 1 ms preempt timer, none in 20,000 with the default. Think twice before you
//! create a client in such a queue.
//!
//! ```no_run
//! use client_glommio::{Client, Commands};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let executor = client_glommio::executor()?;
//! executor.run(async {
//!     let client = Client::from_url("redis://127.0.0.1:6379").await?;
//!     client.set::<()>("greeting", "hello").await?;
//!     let greeting: Option<String> = client.get("greeting").await?;
//!     # let _ = greeting;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use client_driver::io as fio;
pub use client_driver::{
    Batch, CacheSettings, Command, Commands, Config, ConnId, ConnectError, Error, Frame, FromValue,
    Message, Options, Overflow, PubSubEvent, ReadFrom, Request, RequestError, SentinelSettings,
    ServerAddr, ServerError, Stream, SubmitError, SubscriberSettings, SubscriptionKind, cmd,
};
use client_driver::{Runtime, Task};
use glommio::net::{TcpStream, UnixStream};
use glommio::{LocalExecutor, LocalExecutorBuilder, LocalExecutorPoolBuilder, Placement};

/// The glommio runtime, for the driver: tasks with `spawn_local`, glommio's io_uring sockets
/// and timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Glommio;

client_driver::handles!(Glommio, "glommio (`!Send`: it stays on its executor)");

impl Runtime for Glommio {
    client_driver::futures_io_runtime!();

    /// Makes every handle `!Send` and `!Sync`: its tasks live on one executor.
    type Local = Rc<()>;

    /// Spawns into the current task queue: the one the client was created in, since the
    /// driver spawns its later tasks from its own (see "Task queues" in the crate docs).
    fn spawn(task: Task<Self>) {
        glommio::spawn_local(task.run()).detach();
    }

    async fn sleep_until(deadline: Instant) {
        glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
    }

    async fn yield_now() {
        futures_lite::future::yield_now().await;
    }
}

impl fio::Dial for Glommio {
    type Tcp = TcpStream;
    type Unix = UnixStream;
    // glommio's sockets write only the first slice of a vectored write: gather them.
    const VECTORED: bool = false;

    async fn tcp(host: &str, port: u16) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        // Host names resolve with std's blocking resolver, as glommio's connect does.
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(io::Error::from)?;
        tcp.set_nodelay(true).map_err(io::Error::from)?;
        let peer = tcp.peer_addr().ok();
        Ok((tcp, peer))
    }

    async fn unix(path: &Path) -> io::Result<UnixStream> {
        UnixStream::connect(path).await.map_err(io::Error::from)
    }
}

/// The least locked memory glommio's io_uring rings need: 512 KiB.
pub const MIN_MEMLOCK: u64 = 512 * 1024;

/// The buffer memory each executor registers with io_uring: 1 MiB rather than glommio's
/// default 10 MiB, so that executors start under common locked-memory limits (8 MiB on many
/// systems). glommio works without registered buffers too; it only logs it.
const IO_MEMORY: usize = 1024 * 1024;

/// Why an executor could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The locked-memory limit (`ulimit -l`, `RLIMIT_MEMLOCK`) is below what glommio needs.
    #[error(
        "glommio needs a locked-memory limit of at least {} KiB for its io_uring rings, and \
         this process may lock only {} KiB: raise it with `ulimit -l {}` (or LimitMEMLOCK= in \
         a systemd unit, --ulimit memlock= for docker)",
        MIN_MEMLOCK / 1024,
        limit / 1024,
        MIN_MEMLOCK / 1024
    )]
    Memlock {
        /// The process's soft limit, in bytes.
        limit: u64,
    },
    /// glommio refused to start the executor.
    #[error("glommio could not start an executor: {0}")]
    Glommio(#[source] io::Error),
}

/// Checks the locked-memory limit glommio needs, returning it (`None`: unlimited).
///
/// # Errors
///
/// [`StartError::Memlock`] when the soft limit is under [`MIN_MEMLOCK`].
pub fn check_memlock() -> Result<Option<u64>, StartError> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock).current;
    match limit {
        Some(limit) if limit < MIN_MEMLOCK => Err(StartError::Memlock { limit }),
        other => Ok(other),
    }
}

/// An executor on the current thread, after checking the locked-memory limit: create clients
/// inside [`LocalExecutor::run`].
///
/// # Errors
///
/// [`StartError::Memlock`] when the limit is too low, [`StartError::Glommio`] when glommio
/// fails to set up io_uring.
pub fn executor() -> Result<LocalExecutor, StartError> {
    check_memlock()?;
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(IO_MEMORY)
        .make()
        .map_err(|e| StartError::Glommio(e.into()))
}

/// A builder of `count` executors on their own threads, one per CPU where there are as many,
/// after checking the locked-memory limit: `on_each` runs on every executor and typically
/// creates its client.
///
/// # Errors
///
/// As [`executor`].
pub fn executor_pool(count: usize) -> Result<LocalExecutorPoolBuilder, StartError> {
    check_memlock()?;
    Ok(
        LocalExecutorPoolBuilder::new(glommio::PoolPlacement::MaxSpread(count, None))
            .io_memory(IO_MEMORY),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    use super::*;

    #[test]
    fn a_memlock_limit_below_512_kib_is_a_clear_error_and_enough_starts_an_executor() {
        let before = getrlimit(Resource::Memlock);
        if before.current.is_some_and(|limit| limit < MIN_MEMLOCK) {
            // This machine is already too low: the check must say so.
            assert!(matches!(executor(), Err(StartError::Memlock { .. })));
            return;
        }
        // Lowering the soft limit is always allowed, and raising it back up to the hard one.
        let low = Rlimit {
            current: Some(64 * 1024),
            maximum: before.maximum,
        };
        setrlimit(Resource::Memlock, low).expect("lower the soft memlock limit");
        let refused = executor();
        setrlimit(Resource::Memlock, before).expect("restore the memlock limit");

        let error = refused.expect_err("an executor with 64 KiB of locked memory");
        assert!(matches!(error, StartError::Memlock { limit: 65_536 }));
        let message = error.to_string();
        assert!(message.contains("at least 512 KiB"), "{message}");
        assert!(message.contains("only 64 KiB"), "{message}");
        assert!(message.contains("ulimit -l 512"), "{message}");

        let executor = executor().expect("an executor under the restored limit");
        let answer = executor.run(async {
            Glommio::sleep_until(Instant::now() + Duration::from_millis(5)).await;
            42
        });
        assert_eq!(answer, 42);
    }
}
