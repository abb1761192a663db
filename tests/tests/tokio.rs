//! The `tokio` runtime of the integration suite: the shared test bodies of `suite/` run with the
//! tokio adapter (`client-tokio`) on tokio runtimes, against the real servers of the cell, in the
//! cell's protocol. Test names are `suite::...`; keys live under `redwire:tokio:`.
//!
//! Another runtime is one more file like this one: its adapter and its `redwire_tests::rt`
//! module behind `mod rt`, then the suite.

/// What the suite sees of the runtime: the adapter's API and the runtime's `block_on`, `spawn`,
/// `sleep`, `timeout`, ...
mod rt {
    pub(crate) use client_tokio::*;
    pub(crate) use redwire_tests::rt::tokio::*;
}

#[path = "suite/mod.rs"]
mod suite;
