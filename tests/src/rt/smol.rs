//! The smol runtime of the integration suite (see [`crate::rt`]): `client-async-std`'s
//! `smol` handles, whose tasks run on smol's global executor.

use std::future::Future;
use std::time::{Duration, Instant};

pub use super::JoinHandle;

/// The runtime's name: the middle of the suite's keys (`redwire:smol:...`).
pub const NAME: &str = "smol";

/// Runs a test body with `smol::block_on`; spawned tasks run on smol's global executor.
pub fn block_on(fut: impl Future<Output = ()>) {
    smol::block_on(fut);
}

/// As [`block_on`]: the test body and the global executor's thread run in parallel.
pub fn block_on_multi(fut: impl Future<Output = ()>) {
    block_on(fut);
}

/// Spawns `fut` on smol's global executor.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (handle, task) = super::detached(fut);
    smol::spawn(task).detach();
    handle
}

super::async_io_timers!();

super::detached_runtime_items!();
