//! The glommio runtime of the integration suite (see [`crate::rt`]): `client-glommio` on one
//! executor per test.

use std::future::Future;
use std::time::{Duration, Instant};

pub use super::JoinHandle;

/// The runtime's name: the middle of the suite's keys (`redwire:glommio:...`).
pub const NAME: &str = "glommio";

/// Runs a test body on a glommio executor on the test's thread, started as a user would
/// (`client_glommio::executor`, which checks the locked-memory limit).
pub fn block_on(fut: impl Future<Output = ()>) {
    let executor = client_glommio::executor().unwrap_or_else(|e| panic!("{e}"));
    executor.run(fut);
}

/// As [`block_on`]: a glommio executor is one thread, and a client stays on its executor, so
/// the body's tasks run concurrently but never in parallel.
pub fn block_on_multi(fut: impl Future<Output = ()>) {
    block_on(fut);
}

/// Spawns `fut` on the current executor.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (handle, task) = super::detached(fut);
    glommio::spawn_local(task).detach();
    handle
}

/// Waits for `d`.
pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await;
}

/// Waits until `deadline`.
pub async fn sleep_until(deadline: Instant) {
    sleep(deadline.saturating_duration_since(Instant::now())).await;
}

super::detached_runtime_items!();
