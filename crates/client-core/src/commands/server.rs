//! Options of the server commands: [`FlushMode`] for `FLUSHDB`, `FLUSHALL` and
//! `SCRIPT FLUSH`.

use crate::command::Command;

/// Whether a flush frees memory before replying (`SYNC`) or in the background (`ASYNC`).
/// Without one, the server's `lazyfree-lazy-user-flush` setting decides.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::FlushMode;
///
/// /// Empties the current database without blocking the server.
/// fn reset<C: Commands>(client: &C) -> C::Output<'_, ()> {
///     client.flushdb(Some(FlushMode::Async))
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushMode {
    /// `ASYNC`: reply at once, free memory in a background thread.
    Async,
    /// `SYNC`: free memory, then reply.
    Sync,
}

impl FlushMode {
    pub(super) fn append_to(mode: Option<Self>, command: Command) -> Command {
        match mode {
            Some(Self::Async) => command.arg("ASYNC"),
            Some(Self::Sync) => command.arg("SYNC"),
            None => command,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::recorder::record;
    use super::*;
    use crate::Commands;

    #[test]
    fn flush_modes() {
        record(|c| c.flushdb::<()>(None))
            .args(&["FLUSHDB"])
            .keys(&[]);
        record(|c| c.flushdb::<()>(Some(FlushMode::Sync))).args(&["FLUSHDB", "SYNC"]);
        record(|c| c.flushall::<()>(Some(FlushMode::Async))).args(&["FLUSHALL", "ASYNC"]);
    }

    #[test]
    fn server_commands() {
        record(|c| c.ping::<()>()).args(&["PING"]);
        record(|c| c.info::<()>(None)).args(&["INFO"]);
        record(|c| c.info::<()>(Some("replication"))).args(&["INFO", "replication"]);
        record(|c| c.config_get::<()>(["maxmemory", "maxmemory-policy"])).args(&[
            "CONFIG",
            "GET",
            "maxmemory",
            "maxmemory-policy",
        ]);
        record(|c| c.config_set::<()>([("maxmemory", "1gb")])).args(&[
            "CONFIG",
            "SET",
            "maxmemory",
            "1gb",
        ]);
        record(|c| c.client_setname::<()>("worker-1")).args(&["CLIENT", "SETNAME", "worker-1"]);
        record(|c| c.memory_usage::<()>("k"))
            .args(&["MEMORY", "USAGE", "k"])
            .keys(&["k"]);
        record(|c| c.object_encoding::<()>("k"))
            .args(&["OBJECT", "ENCODING", "k"])
            .keys(&["k"]);
    }

    #[test]
    fn wait_blocks_in_milliseconds() {
        let r = record(|c| c.wait::<()>(1, Duration::from_millis(250)));
        r.args(&["WAIT", "1", "250"]);
        assert_eq!(
            r.command.block_time(),
            Some(Some(Duration::from_millis(250)))
        );
        let rounded = record(|c| c.wait::<()>(1, Duration::from_micros(10)));
        rounded.args(&["WAIT", "1", "1"]);
        assert_eq!(
            rounded.command.block_time(),
            Some(Some(Duration::from_millis(1))),
            "never 0"
        );
    }
}
