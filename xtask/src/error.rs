//! The one error type of xtask: every message says what happened and what to do next.

use std::path::Path;

/// Everything that can go wrong while setting up, probing or tearing down a topology.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file, socket or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What xtask was doing, with the path or address involved.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A server or sentinel did not reach the expected state before the deadline.
    #[error(
        "{node} did not become ready within {secs:.0}s: {missing}; look at {log} \
         (or re-run with the topology left up: `cargo xtask up <topology>`)"
    )]
    NotReady {
        /// Name and address of the node that was not ready.
        node: String,
        /// What was still missing when time ran out.
        missing: String,
        /// How long xtask waited.
        secs: f64,
        /// The node's log file (or `docker logs <name>`).
        log: String,
    },
    /// A server answered a command with an error reply.
    #[error("{node} answered `{command}` with the error `{message}`")]
    Server {
        /// Address of the node.
        node: String,
        /// The command that failed.
        command: String,
        /// The error line the server sent.
        message: String,
    },
    /// A server answered with a reply of an unexpected shape.
    #[error("{node} answered `{command}` with an unexpected reply: {reply}")]
    Protocol {
        /// Address of the node.
        node: String,
        /// The command that was sent.
        command: String,
        /// A rendering of what came back.
        reply: String,
    },
    /// An external program (docker, apt-get, cargo) failed.
    #[error("`{command}` failed ({status}){}", if .output.is_empty() { String::new() } else { format!(":\n{}", .output) })]
    Command {
        /// The command line that was run.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// The machine lacks something xtask cannot install by itself, or a request made no sense.
    #[error("{0}")]
    Setup(String),
    /// A TLS certificate could not be generated or loaded.
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    /// The user pressed Ctrl-C; teardown is under way.
    #[error("interrupted (Ctrl-C); the topologies that were up are being torn down")]
    Interrupted,
}

/// xtask's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error, with what xtask was doing when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// An I/O error about a path.
    pub(crate) fn at(what: &str, path: &Path, source: std::io::Error) -> Self {
        Self::io(format!("{what} {}", path.display()), source)
    }
}
