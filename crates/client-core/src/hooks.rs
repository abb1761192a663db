//! Observers of what the core does: requests, connections, retries.
//!
//! Install an implementation of [`Hooks`] in [`Config::hooks`](crate::Config::hooks). With
//! none installed, each event costs one branch. `otel-hooks` implements it with OpenTelemetry;
//! implement it yourself for anything else. Hooks run inside the core's calls, so they must be
//! quick and must not block.

use std::fmt;
use std::time::{Duration, Instant};

use crate::config::ServerAddr;
use crate::event::{ConnId, RequestId};

/// Called by the core as things happen. Every method has an empty default.
pub trait Hooks: Send + Sync + 'static {
    /// A request was accepted by `submit`.
    fn request_start(&self, _request: &RequestStart<'_>) {}
    /// A request completed, successfully or not.
    fn request_end(&self, _request: &RequestEnd<'_>) {}
    /// A connection finished its handshake.
    fn connected(&self, _conn: ConnId, _server: &ServerAddr) {}
    /// A connection closed or failed; `reason` says why.
    fn disconnected(&self, _conn: ConnId, _server: &ServerAddr, _reason: &str) {}
    /// A request is sent again after a connection failure.
    fn retry(&self, _request: RequestId, _attempt: u32, _reason: &str) {}
    /// A cluster node redirected a request (`MOVED`, `ASK`) or asked for a retry
    /// (`TRYAGAIN`, `CLUSTERDOWN`, ...): `reply` is the error line.
    fn redirected(&self, _request: RequestId, _from: &ServerAddr, _reply: &str) {}
    /// A new cluster topology was read and differs from the last one.
    fn topology_changed(&self, _topology: &TopologyChange<'_>) {}
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
    /// The server that answered (after any redirection), if one did.
    pub server: Option<&'a ServerAddr>,
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
