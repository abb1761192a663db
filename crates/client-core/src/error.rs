//! What can go wrong with a request, from submit to reply.

use std::time::Duration;

use bytes::Bytes;

use crate::value::ConversionError;

/// Why `submit` refused a request. Nothing was queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// `max_pending` requests are already waiting for replies.
    #[error(
        "{limit} requests are already waiting for replies (Config::max_pending); \
         slow down or raise the limit"
    )]
    Backpressure {
        /// The limit in force.
        limit: usize,
    },
    /// The client was shut down with `quit`.
    #[error("the client was shut down; create a new one")]
    Closed,
    /// The request was pinned to a connection that does not exist (any more).
    #[error("connection {0} is closed or was never opened; open a new dedicated connection")]
    UnknownConnection(u32),
    /// The request holds no command.
    #[error("the request holds no command")]
    Empty,
    /// The request named a server ([`Request::to_server`](crate::Request::to_server)) that
    /// is not the configured one, outside cluster mode.
    #[error("{0} is not the server this client talks to; name servers only in cluster mode")]
    UnknownServer(String),
    /// The subscriber does not exist, or was closed.
    #[error("subscriber#{0} is closed or was never opened; open a new subscriber")]
    UnknownSubscriber(u32),
}

/// Why a request failed after it was accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No reply came before the deadline.
    #[error("{command} timed out after {after:?} {}", if *.sent { "waiting for its reply" } else { "before it could be sent (no usable connection)" })]
    Timeout {
        /// The command, or `PIPELINE`/`MULTI`.
        command: String,
        /// The timeout that ran out.
        after: Duration,
        /// Whether it had been handed to the connection.
        sent: bool,
    },
    /// The connection dropped after a write was sent and before its reply: it may or may not
    /// have run, so it was not sent again.
    #[error(
        "the connection to {server} was lost after {command} was sent ({reason}); it may have \
         executed. It was not retried because it is not known to be idempotent (mark it \
         retry_safe, or enable Config::at_least_once_replay)"
    )]
    MayHaveExecuted {
        /// The command, or `PIPELINE`/`MULTI`.
        command: String,
        /// The server.
        server: String,
        /// Why the connection went: closed by the server, an I/O error, or closed by the
        /// client because the server stopped answering.
        reason: String,
    },
    /// A dedicated connection the request was pinned to was lost.
    #[error("dedicated connection to {server} was lost: {reason}")]
    ConnectionLost {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
    /// The server stayed unreachable for longer than the reconnect policy allows.
    #[error(
        "{server} is unreachable after {attempts} connection attempts (last error: {last_error}); check that the server runs and the address is right"
    )]
    Unavailable {
        /// The server.
        server: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last_error: String,
    },
    /// The server refused the credentials.
    #[error("authentication with {server} failed: {message}")]
    Auth {
        /// The server.
        server: String,
        /// The server's error.
        message: String,
    },
    /// The connection handshake failed for another reason (e.g. `SELECT` of a database that
    /// does not exist).
    #[error("connection handshake with {server} failed at {step}: {message}")]
    Handshake {
        /// The server.
        server: String,
        /// The failing step, e.g. `SELECT 99`.
        step: String,
        /// The server's error.
        message: String,
    },
    /// The request was retried `max_retries` times after connection failures.
    #[error(
        "{command} failed after {attempts} attempts; the last connection to {server} was lost: {reason}"
    )]
    RetriesExhausted {
        /// The command.
        command: String,
        /// Attempts made.
        attempts: u32,
        /// The server.
        server: String,
        /// The last failure.
        reason: String,
    },
    /// The keys of a cluster request hash to several slots and the command cannot be split
    /// (a transaction, or a multi-key command the cluster does not split): nothing was sent.
    #[error(
        "CROSSSLOT: the keys of {command} hash to slots {slots:?}, and a cluster runs it only \
         when they share one slot (use a hash tag such as {{user:1}}); nothing was sent"
    )]
    CrossSlot {
        /// The command, or `MULTI`.
        command: String,
        /// The distinct slots the keys hash to.
        slots: Vec<u16>,
    },
    /// A cluster command was redirected (`MOVED`, `ASK`) or retried (`TRYAGAIN`,
    /// `CLUSTERDOWN`) more often than `ClusterSettings::max_redirects` allows.
    #[error(
        "{command} for slot {slot} gave up after {redirects} redirections or retries between \
         {nodes:?}; last reply: {last}"
    )]
    TooManyRedirects {
        /// The command.
        command: String,
        /// The slot it was for.
        slot: u16,
        /// Redirections and retries made.
        redirects: u32,
        /// The nodes it went to, in order.
        nodes: Vec<String>,
        /// The last error reply.
        last: String,
    },
    /// Cluster: the deadline passed while the request waited out the backoff before its next
    /// attempt, because the cluster refused the last one with an answer that asks for a retry:
    /// `CLUSTERDOWN` (a shard has no primary, so with `cluster-require-full-coverage` every
    /// node refuses keyed commands), `TRYAGAIN` (a slot in migration), `LOADING`,
    /// `MASTERDOWN` or `READONLY`. A refused attempt did not run.
    #[error(
        "{command} timed out after {after:?} waiting to be sent again: the cluster refused \
         its last attempt with {last:?} ({redirects} redirections and retries in all), and \
         that attempt did not run"
    )]
    TimedOutRetrying {
        /// The command, or `PIPELINE`/`MULTI`.
        command: String,
        /// The timeout that ran out.
        after: Duration,
        /// Redirections and retries made.
        redirects: u32,
        /// The refusal, e.g. `CLUSTERDOWN The cluster is down`.
        last: String,
    },
    /// Sentinel mode: the request's deadline passed while the client had no confirmed
    /// primary to send it to, because the primary was failing over (or the sentinels could
    /// not name one that answers as a primary).
    #[error(
        "{command} timed out after {after:?} waiting for a primary of {service}: a failover \
         was in progress ({detail}); {}",
        if *.sent { "an earlier attempt was sent and may have run" } else { "it was not sent" }
    )]
    FailoverInProgress {
        /// The command, or `PIPELINE`/`MULTI`.
        command: String,
        /// The timeout that ran out.
        after: Duration,
        /// The Sentinel service.
        service: String,
        /// What the discovery saw last, e.g. the sentinels naming a node that is a replica.
        detail: String,
        /// Whether an earlier attempt had been sent (to a primary whose connection then
        /// failed, for a request that may be sent again): it may have run.
        sent: bool,
    },
    /// The caller cancelled the request.
    #[error("the request was cancelled")]
    Cancelled,
    /// The client shut down before the request completed.
    #[error("the client shut down before the reply arrived")]
    Closed,
}

/// An error reply from the server, e.g. `WRONGTYPE Operation against a key holding the wrong
/// kind of value`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("server error: {}", String::from_utf8_lossy(.message))]
pub struct ServerError {
    /// The whole error line.
    pub message: Bytes,
}

impl ServerError {
    /// The error code: the first word (`WRONGTYPE`, `MOVED`, `ERR`, ...).
    pub fn code(&self) -> &str {
        let end = self
            .message
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(self.message.len());
        std::str::from_utf8(&self.message[..end]).unwrap_or("ERR")
    }
}

/// Any failure of a typed call: the request, the server's answer, or its conversion.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused up front.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// The request failed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The server answered with an error.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The reply did not convert into the requested type.
    #[error(transparent)]
    Conversion(#[from] ConversionError),
}
