//! The async-std runtime of the integration suite (see [`crate::rt`]): `client-async-std` with
//! its default executor.

use std::future::Future;
use std::time::{Duration, Instant};

pub use super::JoinHandle;

/// The runtime's name: the middle of the suite's keys (`redwire:async-std:...`).
pub const NAME: &str = "async-std";

/// Runs a test body with async-std's `block_on`; spawned tasks run on its executor threads.
pub fn block_on(fut: impl Future<Output = ()>) {
    async_std::task::block_on(fut);
}

/// As [`block_on`]: async-std's executor always has several threads.
pub fn block_on_multi(fut: impl Future<Output = ()>) {
    block_on(fut);
}

/// Spawns `fut` on async-std's executor.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (handle, task) = super::detached(fut);
    drop(async_std::task::spawn(task));
    handle
}

super::async_io_timers!();

super::detached_runtime_items!();
