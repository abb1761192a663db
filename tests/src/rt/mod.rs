//! The runtime seam of the integration suite.
//!
//! The test bodies in `tests/tests/suite/` are written once and run once per async runtime. Each
//! runtime's test target (`tests/tests/<runtime>.rs`) declares a `mod rt` that re-exports its
//! adapter crate (`Client`, `Config`, ...) and one of the submodules here, and includes the
//! suite; the suite reaches the runtime only through that `rt`. A runtime module provides the
//! same items as [`tokio`]: `NAME`, `block_on`, `block_on_multi`, `spawn`, `spawn_blocking`,
//! `JoinHandle<T>`, `sleep`, `sleep_until`, `timeout` and `yield_now`.
//!
//! A `JoinHandle<T>` is a future of `Result<T, E>` where `E: Debug + Display`; the suite only
//! awaits it and unwraps or matches the result, so each runtime may bring its own error type.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use futures_channel::oneshot;
use futures_util::FutureExt as _;
use futures_util::future::{Either, select};

/// `spawn_blocking`, `timeout` and `yield_now` for a runtime module that has `spawn` (returning
/// the shared [`JoinHandle`]) and `sleep`: the same for every runtime but tokio.
macro_rules! detached_runtime_items {
    () => {
        /// Runs a blocking call (a fault helper, a raw socket) on a thread of its own.
        pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            spawn(blocking::unblock(f))
        }

        /// Runs `fut` for at most `d`.
        pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, super::Elapsed> {
            super::race_timeout(sleep(d), fut).await
        }

        /// Lets the other ready tasks run before this one goes on.
        pub async fn yield_now() {
            futures_lite::future::yield_now().await;
        }
    };
}
use detached_runtime_items;

/// `sleep` and `sleep_until` on async-io's timers (async-std, smol).
macro_rules! async_io_timers {
    () => {
        /// Waits for `d`.
        pub async fn sleep(d: Duration) {
            async_io::Timer::after(d).await;
        }

        /// Waits until `deadline`.
        pub async fn sleep_until(deadline: Instant) {
            async_io::Timer::at(deadline).await;
        }
    };
}
use async_io_timers;

pub mod async_std;
pub mod glommio;
pub mod smol;
pub mod tokio;

/// A [`tokio::timeout`] (or another runtime's) whose deadline passed before its future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline passed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `fut` until it finishes or `sleep` does, whichever is first: a timeout for any runtime
/// that has a sleep. When both are ready at the same poll, `fut` wins.
pub async fn race_timeout<F: Future>(
    sleep: impl Future<Output = ()>,
    fut: F,
) -> Result<F::Output, Elapsed> {
    match select(pin!(fut), pin!(sleep)).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(((), _)) => Err(Elapsed),
    }
}

/// A task that panicked, or was dropped by its runtime before it finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the task panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}

/// A spawned task of a runtime whose own handle cancels the task when dropped (smol) or has
/// no result for a panic: the task runs detached and sends its outcome here. Dropping it
/// leaves the task running, as tokio's handle does.
#[derive(Debug)]
pub struct JoinHandle<T>(oneshot::Receiver<Result<T, Panicked>>);

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|outcome| {
            outcome.unwrap_or_else(|_| Err(Panicked("its runtime dropped it".to_owned())))
        })
    }
}

/// Splits `fut` into the task to spawn detached and the [`JoinHandle`] that gets its output,
/// or the message it panicked with.
pub fn detached<F: Future>(fut: F) -> (JoinHandle<F::Output>, impl Future<Output = ()>) {
    let (tx, rx) = oneshot::channel();
    let task = async move {
        let outcome = AssertUnwindSafe(fut).catch_unwind().await.map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Panicked(message)
        });
        let _ = tx.send(outcome);
    };
    (JoinHandle(rx), task)
}
