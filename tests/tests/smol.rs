//! The `smol` runtime of the integration suite: the shared test bodies of `suite/` run with `client-async-std`'s smol handles,
//! against the real servers of the cell, in the cell's protocol. Test names are `suite::...`;
//! keys live under `redwire:smol:`.

/// What the suite sees of the runtime: the adapter's API and the runtime's `block_on`, `spawn`,
/// `sleep`, `timeout`, ...
mod rt {
    // The smol handles, never the async-std ones the crate root also exports.
    #[allow(
        unused_imports,
        reason = "the suite names some handles only through methods"
    )]
    pub(crate) use client_async_std::smol::{
        Client, Exclusive, Pipeline, RequestFuture, Subscriber,
    };
    pub(crate) use client_async_std::*;
    pub(crate) use redwire_tests::rt::smol::*;
}

#[path = "suite/mod.rs"]
mod suite;
