//! The tokio runtime of the integration suite (see [`crate::rt`]).

use std::future::Future;
use std::time::{Duration, Instant};

/// The runtime's name: the middle of the suite's keys (`redwire:tokio:...`).
pub const NAME: &str = "tokio";

/// A spawned task: awaiting it gives the task's output, or an error if it panicked.
pub type JoinHandle<T> = tokio::task::JoinHandle<T>;

/// Runs a test body on a current-thread runtime with every driver enabled, as `#[tokio::test]`
/// does.
pub fn block_on(fut: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread tokio runtime")
        .block_on(fut);
}

/// Runs a test body on a multi-thread runtime with two workers, for tests whose tasks must run
/// in parallel (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`).
pub fn block_on_multi(fut: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a multi-thread tokio runtime")
        .block_on(fut);
}

/// Spawns `fut` on the current runtime.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut)
}

/// Runs a blocking call (a fault helper, a raw socket) off the runtime's threads.
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
}

/// Waits for `d`.
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

/// Waits until `deadline`.
pub async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
}

/// Runs `fut` for at most `d`.
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, super::Elapsed> {
    super::race_timeout(sleep(d), fut).await
}

/// Lets the other ready tasks run before this one goes on.
pub async fn yield_now() {
    tokio::task::yield_now().await;
}
