//! Observers of what the core does: requests, connections, retries.
//!
//! Install an implementation of [`Hooks`] in [`Config::hooks`](crate::Config::hooks). With
//! none installed, each event costs one branch. `otel-hooks` implements it with OpenTelemetry;
//! implement it yourself for anything else. Hooks run inside the core's calls, so they must be
//! quick and must not block.
//!
//! Request ids are unique within one [`Client`](crate::Client) only. An observer that keeps
//! state per request returns a fresh instance for each client from
//! [`Hooks::for_client`], so that one `Config` (and its hooks) can serve several clients.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::command::Command;
use crate::config::{Config, ServerAddr};
use crate::event::{ConnId, RequestId};

/// Called by the core as things happen. Every method has an empty default.
///
/// The request ids given to [`retry`](Self::retry), [`redirected`](Self::redirected) and
/// [`reconnect_scheduled`](Self::reconnect_scheduled) are those that
/// [`request_start`](Self::request_start) saw: when the cluster router splits a request into
/// parts, events of a part name the request it belongs to.
pub trait Hooks: Send + Sync + 'static {
    /// Called once by [`Client::new`](crate::Client::new) with the client's configuration.
    /// Return an observer for that client alone (`None`, the default, keeps this one): request
    /// and connection ids are unique per client, so an observer that keeps state by id needs
    /// one instance per client.
    fn for_client(&self, _config: &Config) -> Option<Arc<dyn Hooks>> {
        None
    }
    /// A request was accepted by `submit`.
    fn request_start(&self, _request: &RequestStart<'_>) {}
    /// A request completed, successfully or not.
    fn request_end(&self, _request: &RequestEnd<'_>) {}
    /// The core asked the driver to open connection `conn` to `server` (dial, then handshake).
    fn connecting(&self, _conn: ConnId, _server: &ServerAddr) {}
    /// A connection finished its handshake.
    fn connected(&self, _conn: ConnId, _server: &ServerAddr) {}
    /// A connection closed or failed, or could not be opened; `reason` says why. Called once
    /// for every connection [`connecting`](Self::connecting) announced, including those closed
    /// after `quit`.
    fn disconnected(&self, _conn: ConnId, _server: &ServerAddr, _reason: &str) {}
    /// A request is sent again after a connection failure; `attempt` counts from 1.
    fn retry(&self, _request: RequestId, _attempt: u32, _reason: &str) {}
    /// A cluster node redirected a request (`MOVED`, `ASK`) or asked for a retry
    /// (`TRYAGAIN`, `CLUSTERDOWN`, ...): `reply` is the error line.
    fn redirected(&self, _request: RequestId, _from: &ServerAddr, _reply: &str) {}
    /// A server's shared connection failed while requests wait for it: it will be dialled
    /// again after a backoff.
    fn reconnect_scheduled(&self, _reconnect: &Reconnect<'_>) {}
    /// A new cluster topology was read and differs from the last one.
    fn topology_changed(&self, _topology: &TopologyChange<'_>) {}
    /// Client-side caching ([`Config::cache`]): request `request`, the read `command`, was
    /// answered from the cache, without I/O. Its [`request_end`](Self::request_end) follows
    /// at once.
    fn cache_hit(&self, _request: RequestId, _command: &Command) {}
    /// Client-side caching: request `request`, a read whose reply may be cached, is sent to
    /// the server because the cache did not hold it (or it expired). Called each time it is
    /// written, so a read sent again after a lost connection counts again.
    fn cache_miss(&self, _request: RequestId, _command: &Command) {}
    /// Client-side caching: cached replies were dropped, or the server said keys changed.
    fn cache_invalidated(&self, _invalidation: &CacheInvalidation<'_>) {}
}

/// What [`Hooks::cache_invalidated`] sees.
#[derive(Debug)]
#[non_exhaustive]
pub struct CacheInvalidation<'a> {
    /// The server whose connection it came from or concerns; `None` for the client's own
    /// writes.
    pub server: Option<&'a ServerAddr>,
    /// Why.
    pub cause: InvalidationCause,
    /// The keys a server invalidation named; empty for flushes, lost connections and the
    /// client's own writes.
    pub keys: &'a [Bytes],
    /// How many cached replies went (0 when the server named keys nothing was cached for).
    pub entries: usize,
}

/// Why cached replies were dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidationCause {
    /// An invalidation push naming keys (`>2 invalidate [keys]`): they were written, expired
    /// or evicted, or left the server's tracking table. Reported for every such push.
    Server,
    /// A null invalidation push (`>2 invalidate _`): after `FLUSHALL`/`FLUSHDB`, every entry
    /// went. Reported for every such push.
    ServerFlush,
    /// The client sent (or got the reply to) a write naming cached keys: their entries went
    /// at once, before the server's invalidation. Reported when entries went.
    Write,
    /// The client sent (or got the reply to) `FLUSHALL`, `FLUSHDB` or `SWAPDB`: every entry
    /// went. Reported when entries went.
    WriteFlush,
    /// The connection whose tracking covered the entries failed or closed: invalidations may
    /// have been lost with it. Reported when entries went.
    ConnectionLost,
}

impl InvalidationCause {
    /// A short name for metrics and logs: `server`, `server_flush`, `write`, `write_flush`,
    /// `connection_lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::ServerFlush => "server_flush",
            Self::Write => "write",
            Self::WriteFlush => "write_flush",
            Self::ConnectionLost => "connection_lost",
        }
    }
}

/// What [`Hooks::reconnect_scheduled`] sees.
#[derive(Debug)]
#[non_exhaustive]
pub struct Reconnect<'a> {
    /// The server whose shared connection is dialled again.
    pub server: &'a ServerAddr,
    /// Which attempt in a row the coming dial is: 1 after a working connection was lost, more
    /// after dials or handshakes that failed.
    pub attempt: u32,
    /// The backoff before the dial.
    pub delay: Duration,
    /// Why the last connection or attempt failed.
    pub reason: &'a str,
    /// The requests waiting for the connection, each once.
    pub waiting: &'a [RequestId],
}

/// What [`Hooks::topology_changed`] sees.
#[derive(Debug)]
#[non_exhaustive]
pub struct TopologyChange<'a> {
    /// The node that described it.
    pub source: &'a ServerAddr,
    /// Each shard's primary and replicas.
    pub shards: Vec<(&'a ServerAddr, Vec<&'a ServerAddr>)>,
    /// Slots with no owner.
    pub uncovered_slots: usize,
}

/// What [`Hooks::request_start`] sees.
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestStart<'a> {
    /// The request.
    pub id: RequestId,
    /// The command name, or `PIPELINE` / `MULTI` for batches.
    pub operation: &'a str,
    /// Commands in the request (1 for a single command).
    pub batch_size: usize,
    /// The commands, in the caller's order (`MULTI`/`EXEC` not included), for observers that
    /// record them. Their arguments may hold secrets: mask them.
    pub commands: &'a [Command],
    /// The database index.
    pub db: u32,
    /// When it was submitted.
    pub now: Instant,
}

/// What [`Hooks::request_end`] sees.
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestEnd<'a> {
    /// The request.
    pub id: RequestId,
    /// The command name, or `PIPELINE` / `MULTI`.
    pub operation: &'a str,
    /// Commands in the request.
    pub batch_size: usize,
    /// The commands, as in [`RequestStart::commands`].
    pub commands: &'a [Command],
    /// The server it was last sent to, or waited for (after any redirection): the one that
    /// answered, when one did. `None` for a request split across cluster nodes, and for one
    /// that ended before it was routed.
    pub server: Option<&'a ServerAddr>,
    /// The socket address of that server's latest connection, when the adapter reported it
    /// ([`Client::handle_peer_address`](crate::Client::handle_peer_address)): for a host
    /// name, the address it resolved to. `None` for Unix sockets and when not reported.
    pub peer: Option<SocketAddr>,
    /// How it ended.
    pub outcome: Outcome<'a>,
    /// From submit to completion.
    pub duration: Duration,
    /// Times it was sent again.
    pub retries: u32,
}

/// How a request ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// A reply that is not an error (a pipeline may still hold error replies).
    Ok,
    /// An error reply; the code is its first word (`WRONGTYPE`, `MOVED`, ...).
    ServerError {
        /// The error code.
        code: &'a str,
    },
    /// The request failed without a reply.
    Failed(&'a crate::error::RequestError),
}

impl fmt::Display for Outcome<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::ServerError { code } => write!(f, "server error {code}"),
            Self::Failed(error) => write!(f, "failed: {error}"),
        }
    }
}
