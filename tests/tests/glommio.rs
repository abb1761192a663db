//! The `glommio` runtime of the integration suite: the shared test bodies of `suite/` run with the glommio adapter (`client-glommio`), one executor per test,
//! against the real servers of the cell, in the cell's protocol. Test names are `suite::...`;
//! keys live under `redwire:glommio:`.

/// What the suite sees of the runtime: the adapter's API and the runtime's `block_on`, `spawn`,
/// `sleep`, `timeout`, ...
mod rt {
    pub(crate) use client_glommio::*;
    pub(crate) use redwire_tests::rt::glommio::*;
}

#[path = "suite/mod.rs"]
mod suite;
