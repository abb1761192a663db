//! The `async-std` runtime of the integration suite: the shared test bodies of `suite/` run with the async-std adapter (`client-async-std`),
//! against the real servers of the cell, in the cell's protocol. Test names are `suite::...`;
//! keys live under `redwire:async-std:`.

/// What the suite sees of the runtime: the adapter's API and the runtime's `block_on`, `spawn`,
/// `sleep`, `timeout`, ...
mod rt {
    pub(crate) use client_async_std::*;
    pub(crate) use redwire_tests::rt::async_std::*;
}

#[path = "suite/mod.rs"]
mod suite;
