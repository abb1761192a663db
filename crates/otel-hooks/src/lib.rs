//! OpenTelemetry traces and metrics for redwire, following the semantic conventions for
//! database clients and for Redis.
//!
//! [`OtelHooks`] implements client-core's [`Hooks`]: install it in [`Config::hooks`] and every
//! request becomes a span, timed by the `db.client.operation.duration` histogram.
//!
//! ```
//! use std::sync::Arc;
//! use client_core::Config;
//! use opentelemetry::metrics::noop::NoopMeterProvider;
//! use opentelemetry::trace::noop::NoopTracerProvider;
//! use otel_hooks::{OtelHooks, QueryText};
//!
//! // In an application, these are the SDK's providers with their exporters
//! // (`opentelemetry_sdk::trace::SdkTracerProvider`, `opentelemetry_sdk::metrics::SdkMeterProvider`).
//! let tracer_provider = NoopTracerProvider::new();
//! let meter_provider = NoopMeterProvider::new();
//! let hooks = OtelHooks::builder()
//!     .tracer_provider(&tracer_provider)
//!     .meter_provider(&meter_provider)
//!     .query_text(QueryText::Masked)
//!     .build();
//! let mut config = Config::new("127.0.0.1", 6379);
//! config.hooks = Some(Arc::new(hooks));
//! // client_tokio::Client::connect(config).await? ...
//! ```
//!
//! # Spans
//!
//! One span per request (a command, a pipeline or a transaction), of kind `CLIENT`, named by its
//! `db.operation.name`. Its parent is the caller's current [`Context`] when the request is
//! submitted: with client-tokio that is when its future is first polled, inside the caller's
//! task, so `future.with_context(cx)` and `Context::attach` both work.
//!
//! | attribute | value |
//! |---|---|
//! | `db.system.name` | `redis`, set when the span is created |
//! | `db.operation.name` | the command name as given (`GET`); for a pipeline or transaction of two or more commands `PIPELINE` / `MULTI`, or `PIPELINE GET` / `MULTI SET` when every command has the same name; a pipeline of one command is that command |
//! | `db.operation.batch.size` | the number of commands of a pipeline or transaction of two or more |
//! | `db.namespace` | the database index of the client's configuration (`Config::db`), as a string |
//! | `db.query.text` | opt-in ([`QueryText`]): masked (`SET ? ?`) or with arguments; credentials never |
//! | `db.stored_procedure.name` | the SHA1 of `EVALSHA`/`EVALSHA_RO`, the function of `FCALL`/`FCALL_RO` |
//! | `server.address`, `server.port` | the node the request was last sent to, after any redirection (the one that answered, when one did); absent for a request split across cluster nodes |
//! | `network.peer.address`, `network.peer.port` | the socket address the node's connection reached, as the adapter reports it (`RequestEnd::peer`; the tokio adapter does): for a host name, the address it resolved to. Without a report, the node's own address when it is an IP address or a Unix socket path (the client connects to exactly that), and absent for a host name |
//! | `db.response.status_code` | the error prefix of an error reply (`WRONGTYPE`, `ERR`, `MOVED` on a dedicated connection), of a refused `AUTH`/`HELLO` in the handshake, or of the last reply of a request that ran out of redirections |
//! | `error.type` | on failure: the status code for error replies, otherwise the client's error ([`error_type`]): `timeout`, `connection_lost`, `may_have_executed`, `unavailable`, ... |
//!
//! A failed request's span has status `Error` with the error's message. Events record what
//! happened during the request: `redirect` (`MOVED`, `ASK`, `TRYAGAIN`, ...: the reply's
//! prefix, slot, the node that answered and the node it pointed to), `retry` (attempt,
//! reason) and `reconnect` (the server, the attempt, the backoff and the reason), the last
//! for every request waiting for a connection that is dialled again.
//!
//! # Metrics
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `db.client.operation.duration` histogram, buckets 1 ms to 10 s as the conventions advise | `s` | `db.system.name`, `db.operation.name`, `db.namespace`, `server.*`, `network.peer.*`, `db.response.status_code`, `error.type`, as on the span |
//! | `db.client.connection.count` up-down counter | `{connection}` | `db.client.connection.pool.name` (`host:port/db`), `db.client.connection.state`: `connecting` (dial and handshake) or `ready` |
//! | `redwire.client.redirections` counter | `{redirection}` | `db.system.name`, `db.response.status_code` (`MOVED`, `ASK`, `TRYAGAIN`, ...), `server.*` of the node that redirected |
//! | `redwire.client.retries` counter | `{retry}` | `db.system.name` |
//! | `redwire.client.reconnects` counter | `{reconnect}` | `db.system.name`, `server.*` |
//! | `redwire.client.timeouts` counter (`Timeout`, and `TimedOutRetrying` in a cluster) | `{timeout}` | `db.system.name`, `db.operation.name`, `server.*` |
//! | `redwire.client.cache.hits` counter | `{hit}` | `db.system.name`, `db.operation.name` (`GET`, `HGETALL`, ...) |
//! | `redwire.client.cache.misses` counter | `{miss}` | `db.system.name`, `db.operation.name`; each time a cacheable read is sent to the server |
//! | `redwire.client.cache.invalidations` counter | `{invalidation}` | `db.system.name`, `redwire.cache.invalidation.cause` (`server`, `server_flush`, `write`, `write_flush`, `connection_lost`), `server.*` of the connection it came from or concerned (none for own writes); one per push, flush, own write that dropped entries, or lost connection that held some |
//!
//! The connection states are this client's own: the conventions' `idle`/`used` describe pooled
//! connections, and redwire multiplexes. The conventions define no client-side caching
//! metrics, so the cache counters are named under `redwire.client.` like this crate's other
//! counters, not under the conventions' `db.client.` namespace.
//!
//! # Cost
//!
//! With no hooks in the configuration, the core pays one branch per event. With an
//! `OtelHooks` built with neither a tracer nor a meter provider, each hook is one branch too.
//! Otherwise the per-request cost is measured by `cargo bench -p otel-hooks` (see the crate's
//! README).
//!
//! # One instance per client
//!
//! Request ids are unique within one client only, so the core asks the hooks for an instance
//! of their own for each client ([`Hooks::for_client`]); one `OtelHooks` in a `Config` that is
//! cloned for several clients keeps their spans apart. When a client is dropped without
//! `quit`, the spans still open end with `error.type` `closed` and its connections leave the
//! connection count.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod query;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use client_core::hooks::{CacheInvalidation, Hooks, Outcome, Reconnect, RequestEnd, RequestStart};
use client_core::{Command, Config, ConnId, RequestError, RequestId, ServerAddr};
use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider, UpDownCounter};
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue, Value};

pub use crate::query::QueryText;

/// Attribute and instrument names.
pub mod names {
    /// `db.system.name`
    pub const DB_SYSTEM_NAME: &str = "db.system.name";
    /// `db.operation.name`
    pub const DB_OPERATION_NAME: &str = "db.operation.name";
    /// `db.operation.batch.size`
    pub const DB_OPERATION_BATCH_SIZE: &str = "db.operation.batch.size";
    /// `db.namespace`
    pub const DB_NAMESPACE: &str = "db.namespace";
    /// `db.query.text`
    pub const DB_QUERY_TEXT: &str = "db.query.text";
    /// `db.stored_procedure.name`
    pub const DB_STORED_PROCEDURE_NAME: &str = "db.stored_procedure.name";
    /// `db.response.status_code`
    pub const DB_RESPONSE_STATUS_CODE: &str = "db.response.status_code";
    /// `error.type`
    pub const ERROR_TYPE: &str = "error.type";
    /// `server.address`
    pub const SERVER_ADDRESS: &str = "server.address";
    /// `server.port`
    pub const SERVER_PORT: &str = "server.port";
    /// `network.peer.address`
    pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
    /// `network.peer.port`
    pub const NETWORK_PEER_PORT: &str = "network.peer.port";
    /// `db.client.connection.pool.name`
    pub const DB_CLIENT_CONNECTION_POOL_NAME: &str = "db.client.connection.pool.name";
    /// `db.client.connection.state`
    pub const DB_CLIENT_CONNECTION_STATE: &str = "db.client.connection.state";
    /// Event attribute: the slot of a `MOVED`/`ASK` redirection.
    pub const REDIRECT_SLOT: &str = "redwire.redirect.slot";
    /// Event attribute: the node that answered with the redirection.
    pub const REDIRECT_FROM: &str = "redwire.redirect.from";
    /// Event attribute: the node a `MOVED`/`ASK` redirection pointed to.
    pub const REDIRECT_TO: &str = "redwire.redirect.to";
    /// Event attribute: the attempt of a retry or reconnect, from 1.
    pub const ATTEMPT: &str = "redwire.attempt";
    /// Event attribute: why a retry or reconnect happened.
    pub const REASON: &str = "redwire.reason";
    /// Event attribute: the backoff before a reconnect, in seconds.
    pub const DELAY: &str = "redwire.reconnect.delay";

    /// The operation duration histogram.
    pub const OPERATION_DURATION: &str = "db.client.operation.duration";
    /// The connection count.
    pub const CONNECTION_COUNT: &str = "db.client.connection.count";
    /// Redirections (`MOVED`, `ASK`, `TRYAGAIN`, ...).
    pub const REDIRECTIONS: &str = "redwire.client.redirections";
    /// Requests sent again after a connection failure.
    pub const RETRIES: &str = "redwire.client.retries";
    /// Shared connections dialled again after a failure.
    pub const RECONNECTS: &str = "redwire.client.reconnects";
    /// Requests that timed out.
    pub const TIMEOUTS: &str = "redwire.client.timeouts";
    /// Reads answered from the client-side cache.
    pub const CACHE_HITS: &str = "redwire.client.cache.hits";
    /// Cacheable reads sent to the server.
    pub const CACHE_MISSES: &str = "redwire.client.cache.misses";
    /// Client-side cache invalidations (server pushes, flushes, own writes, lost connections).
    pub const CACHE_INVALIDATIONS: &str = "redwire.client.cache.invalidations";
    /// Attribute of [`CACHE_INVALIDATIONS`]: why (`server`, `server_flush`, `write`,
    /// `write_flush`, `connection_lost`).
    pub const CACHE_INVALIDATION_CAUSE: &str = "redwire.cache.invalidation.cause";
}

use names::*;

/// The bucket boundaries the conventions advise for `db.client.operation.duration`.
pub const DURATION_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// The longest `db.query.text` by default, in bytes.
pub const DEFAULT_MAX_QUERY_TEXT: usize = 1024;

const REDIS: &str = "redis";

/// client-core's [`Hooks`] on OpenTelemetry: spans and metrics for every request.
///
/// Build one with [`OtelHooks::builder`] and put it in [`Config::hooks`]. See the
/// [crate documentation](crate) for the attributes.
pub struct OtelHooks {
    shared: Arc<Shared>,
    /// Whether anything is recorded at all: the one branch when nothing is.
    enabled: bool,
    /// The client's database index, and as `db.namespace`.
    db: u32,
    namespace: Value,
    client: Mutex<ClientState>,
}

struct Shared {
    tracer: Option<BoxedTracer>,
    instruments: Option<Instruments>,
    query_text: QueryText,
    max_query_text: usize,
}

struct Instruments {
    duration: Histogram<f64>,
    connections: UpDownCounter<i64>,
    redirections: Counter<u64>,
    retries: Counter<u64>,
    reconnects: Counter<u64>,
    timeouts: Counter<u64>,
    cache_hits: Counter<u64>,
    cache_misses: Counter<u64>,
    cache_invalidations: Counter<u64>,
}

/// What one client's instance tracks.
#[derive(Default)]
struct ClientState {
    /// Open spans of sampled requests.
    spans: HashMap<RequestId, BoxedSpan, BuildHasherDefault<IdHasher>>,
    /// Open connections: whether ready, and their pool name.
    conns: HashMap<ConnId, (bool, Value), BuildHasherDefault<IdHasher>>,
    /// Attributes per server, made once. A client talks to a handful of servers: a scan of
    /// a short list is cheaper than hashing the address.
    /// Keyed by the server and the address it was reached at (for host names).
    servers: Vec<(Reached, Arc<ServerAttributes>)>,
}

/// Hashes the integer ids of one client, which are distinct by construction.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // Spread the sequential ids over the high bits the table uses.
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).rotate_left(5);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = self.0.rotate_left(32) ^ u64::from(n);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(32) ^ n;
    }
}

/// The attributes that describe one server.
struct ServerAttributes {
    /// `host:port` or the socket path, for event attributes and pool names.
    label: Value,
    attributes: Vec<KeyValue>,
}

/// Builds an [`OtelHooks`].
#[derive(Default)]
#[must_use]
pub struct OtelHooksBuilder {
    tracer: Option<BoxedTracer>,
    meter: Option<Meter>,
    query_text: QueryText,
    max_query_text: Option<usize>,
}

impl fmt::Debug for OtelHooksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelHooksBuilder")
            .field("tracing", &self.tracer.is_some())
            .field("metrics", &self.meter.is_some())
            .field("query_text", &self.query_text)
            .finish_non_exhaustive()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("redwire")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl OtelHooksBuilder {
    /// Records spans with a tracer of `provider` (an `SdkTracerProvider`, say).
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.tracer = Some(BoxedTracer::new(Box::new(
            provider.tracer_with_scope(scope()),
        )));
        self
    }

    /// Records metrics with a meter of `provider` (an `SdkMeterProvider`, say).
    pub fn meter_provider<P: MeterProvider + ?Sized>(mut self, provider: &P) -> Self {
        self.meter = Some(provider.meter_with_scope(scope()));
        self
    }

    /// Uses the providers installed globally (`opentelemetry::global`) now. Set them first:
    /// the hooks keep what they find.
    pub fn global_providers(mut self) -> Self {
        self.tracer = Some(opentelemetry::global::tracer_with_scope(scope()));
        self.meter = Some(opentelemetry::global::meter_with_scope(scope()));
        self
    }

    /// Whether spans carry `db.query.text` ([`QueryText::Off`] by default).
    pub fn query_text(mut self, mode: QueryText) -> Self {
        self.query_text = mode;
        self
    }

    /// The longest `db.query.text`, in bytes ([`DEFAULT_MAX_QUERY_TEXT`] by default); longer
    /// ones are cut and end with `...`.
    pub fn max_query_text(mut self, bytes: usize) -> Self {
        self.max_query_text = Some(bytes);
        self
    }

    /// The hooks.
    pub fn build(self) -> OtelHooks {
        let instruments = self.meter.map(|meter| Instruments {
            duration: meter
                .f64_histogram(OPERATION_DURATION)
                .with_unit("s")
                .with_description("Duration of database client operations.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            connections: meter
                .i64_up_down_counter(CONNECTION_COUNT)
                .with_unit("{connection}")
                .with_description("Connections in each state: connecting or ready.")
                .build(),
            redirections: meter
                .u64_counter(REDIRECTIONS)
                .with_unit("{redirection}")
                .with_description(
                    "Cluster redirections and retry requests (MOVED, ASK, TRYAGAIN, ...).",
                )
                .build(),
            retries: meter
                .u64_counter(RETRIES)
                .with_unit("{retry}")
                .with_description("Requests sent again after a connection failure.")
                .build(),
            reconnects: meter
                .u64_counter(RECONNECTS)
                .with_unit("{reconnect}")
                .with_description(
                    "Shared connections dialled again after a failure, with requests waiting.",
                )
                .build(),
            timeouts: meter
                .u64_counter(TIMEOUTS)
                .with_unit("{timeout}")
                .with_description("Requests that timed out.")
                .build(),
            cache_hits: meter
                .u64_counter(CACHE_HITS)
                .with_unit("{hit}")
                .with_description("Reads answered from the client-side cache, without I/O.")
                .build(),
            cache_misses: meter
                .u64_counter(CACHE_MISSES)
                .with_unit("{miss}")
                .with_description("Reads that could be cached, sent to the server.")
                .build(),
            cache_invalidations: meter
                .u64_counter(CACHE_INVALIDATIONS)
                .with_unit("{invalidation}")
                .with_description(
                    "Client-side cache invalidations: server pushes, flushes, own writes, lost connections.",
                )
                .build(),
        });
        let shared = Shared {
            tracer: self.tracer,
            instruments,
            query_text: self.query_text,
            max_query_text: self.max_query_text.unwrap_or(DEFAULT_MAX_QUERY_TEXT),
        };
        OtelHooks::with_shared(Arc::new(shared), 0)
    }
}

impl OtelHooks {
    /// A builder: add a tracer provider, a meter provider, or both.
    pub fn builder() -> OtelHooksBuilder {
        OtelHooksBuilder::default()
    }

    fn with_shared(shared: Arc<Shared>, db: u32) -> Self {
        Self {
            enabled: shared.tracer.is_some() || shared.instruments.is_some(),
            db,
            namespace: Value::from(db.to_string()),
            client: Mutex::new(ClientState::default()),
            shared,
        }
    }

    /// `db.namespace` of a request in database `db` (the client's, unless these hooks were
    /// not made for one client by [`Hooks::for_client`]).
    fn namespace(&self, db: u32) -> Value {
        if db == self.db {
            self.namespace.clone()
        } else {
            Value::from(db.to_string())
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClientState> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn span_event(&self, request: RequestId, name: &'static str, attributes: Vec<KeyValue>) {
        if self.shared.tracer.is_none() {
            return;
        }
        if let Some(span) = self.lock().spans.get_mut(&request) {
            span.add_event(name, attributes);
        }
    }
}

impl fmt::Debug for OtelHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelHooks")
            .field("tracing", &self.shared.tracer.is_some())
            .field("metrics", &self.shared.instruments.is_some())
            .field("query_text", &self.shared.query_text)
            .finish_non_exhaustive()
    }
}

/// A server, and the socket address the adapter said it reached (for host names).
type Reached = (ServerAddr, Option<SocketAddr>);

impl ClientState {
    /// The attributes of `server`, reached at `peer` when the adapter said where.
    fn server(&mut self, server: &ServerAddr, peer: Option<SocketAddr>) -> Arc<ServerAttributes> {
        if let Some((_, attributes)) = self
            .servers
            .iter()
            .find(|((s, p), _)| s == server && *p == peer)
        {
            return attributes.clone();
        }
        let attributes = Arc::new(ServerAttributes::of(server, peer));
        self.servers
            .push(((server.clone(), peer), attributes.clone()));
        attributes
    }
}

impl ServerAttributes {
    fn of(server: &ServerAddr, peer: Option<SocketAddr>) -> Self {
        match server {
            ServerAddr::Tcp { host, port } => {
                let host: Arc<str> = Arc::from(host.as_str());
                let port = i64::from(*port);
                let mut attributes = vec![
                    KeyValue::new(SERVER_ADDRESS, host.clone()),
                    KeyValue::new(SERVER_PORT, port),
                ];
                if let Some(peer) = peer {
                    // Where the connection went: a host name's resolved address.
                    attributes.push(KeyValue::new(NETWORK_PEER_ADDRESS, peer.ip().to_string()));
                    attributes.push(KeyValue::new(NETWORK_PEER_PORT, i64::from(peer.port())));
                } else if host.parse::<IpAddr>().is_ok() {
                    // The client dials exactly this address: it is the peer.
                    attributes.push(KeyValue::new(NETWORK_PEER_ADDRESS, host));
                    attributes.push(KeyValue::new(NETWORK_PEER_PORT, port));
                }
                Self {
                    label: Value::from(server.to_string()),
                    attributes,
                }
            }
            ServerAddr::Unix(path) => {
                let path: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
                Self {
                    label: Value::from(path.clone()),
                    attributes: vec![
                        KeyValue::new(SERVER_ADDRESS, path.clone()),
                        KeyValue::new(NETWORK_PEER_ADDRESS, path),
                    ],
                }
            }
            other => Self {
                label: Value::from(other.to_string()),
                attributes: vec![KeyValue::new(SERVER_ADDRESS, other.to_string())],
            },
        }
    }

    /// `server.address` and `server.port` only.
    fn server_only(&self) -> impl Iterator<Item = KeyValue> + '_ {
        self.attributes
            .iter()
            .filter(|kv| kv.key.as_str().starts_with("server."))
            .cloned()
    }
}

/// `db.operation.name` by the conventions: the command; for a batch of two or more,
/// `PIPELINE`/`MULTI`, followed by the command when all are the same.
fn operation_name(operation: &str, commands: &[Command]) -> (Cow<'static, str>, Option<i64>) {
    let batch = matches!(operation, "PIPELINE" | "MULTI");
    match commands {
        [single] if operation == "PIPELINE" => (single.name().to_owned().into(), None),
        [first, rest @ ..] if batch && rest.iter().all(|c| c.name() == first.name()) => {
            let size = (commands.len() >= 2).then_some(commands.len() as i64);
            (format!("{operation} {}", first.name()).into(), size)
        }
        _ if batch => {
            let size = (commands.len() >= 2).then_some(commands.len() as i64);
            (Cow::Owned(operation.to_owned()), size)
        }
        _ => (Cow::Owned(operation.to_owned()), None),
    }
}

/// The script a single `EVALSHA` or `FCALL` runs.
fn stored_procedure(commands: &[Command]) -> Option<String> {
    let [command] = commands else {
        return None;
    };
    let name = command.name();
    let runs_script = ["EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
    runs_script
        .then(|| command.arg_bytes(1))
        .flatten()
        .map(|name| String::from_utf8_lossy(name).into_owned())
}

/// The first word of an error line.
fn prefix(line: &str) -> &str {
    line.split(' ').next().unwrap_or(line)
}

/// `error.type` of a request that failed without an error reply, and the
/// `db.response.status_code` that came with it, if any.
///
/// | error | `error.type` | `db.response.status_code` |
/// |---|---|---|
/// | `Timeout` | `timeout` | |
/// | `MayHaveExecuted` | `may_have_executed` | |
/// | `ConnectionLost` | `connection_lost` | |
/// | `Unavailable` | `unavailable` | |
/// | `Auth`, `Handshake` | the server's error prefix (`WRONGPASS`, `ERR`) | the same |
/// | `RetriesExhausted` | `retries_exhausted` | |
/// | `CrossSlot` | `CROSSSLOT` | |
/// | `TooManyRedirects` | `too_many_redirects` | the last reply's prefix (`MOVED`, `TRYAGAIN`) |
/// | `TimedOutRetrying` | `timeout` | the refusal's prefix (`CLUSTERDOWN`, `TRYAGAIN`) |
/// | `Cancelled` | `cancelled` | |
/// | `Closed` | `closed` | |
/// | any other | `_OTHER` | |
pub fn error_type(error: &RequestError) -> (Cow<'_, str>, Option<&str>) {
    match error {
        RequestError::Timeout { .. } => ("timeout".into(), None),
        RequestError::MayHaveExecuted { .. } => ("may_have_executed".into(), None),
        RequestError::ConnectionLost { .. } => ("connection_lost".into(), None),
        RequestError::Unavailable { .. } => ("unavailable".into(), None),
        RequestError::Auth { message, .. } | RequestError::Handshake { message, .. } => {
            let code = prefix(message);
            (code.into(), Some(code))
        }
        RequestError::RetriesExhausted { .. } => ("retries_exhausted".into(), None),
        RequestError::CrossSlot { .. } => ("CROSSSLOT".into(), None),
        RequestError::FailoverInProgress { .. } => ("failover_in_progress".into(), None),
        RequestError::TooManyRedirects { last, .. } => {
            ("too_many_redirects".into(), Some(prefix(last)))
        }
        RequestError::TimedOutRetrying { last, .. } => ("timeout".into(), Some(prefix(last))),
        RequestError::Cancelled => ("cancelled".into(), None),
        RequestError::Closed => ("closed".into(), None),
        _ => ("_OTHER".into(), None),
    }
}

/// The attributes and status message of an outcome that is a failure.
fn failure(outcome: &Outcome<'_>) -> Option<(Vec<KeyValue>, String)> {
    match outcome {
        Outcome::Ok => None,
        Outcome::ServerError { code } => {
            let code = (*code).to_owned();
            Some((
                vec![
                    KeyValue::new(DB_RESPONSE_STATUS_CODE, code.clone()),
                    KeyValue::new(ERROR_TYPE, code.clone()),
                ],
                format!("the server answered with an error: {code}"),
            ))
        }
        Outcome::Failed(error) => {
            let (kind, code) = error_type(error);
            let mut attributes = Vec::with_capacity(2);
            if let Some(code) = code {
                attributes.push(KeyValue::new(DB_RESPONSE_STATUS_CODE, code.to_owned()));
            }
            attributes.push(KeyValue::new(ERROR_TYPE, kind.into_owned()));
            Some((attributes, error.to_string()))
        }
        _ => Some((
            vec![KeyValue::new(ERROR_TYPE, "_OTHER")],
            outcome.to_string(),
        )),
    }
}

impl Hooks for OtelHooks {
    fn for_client(&self, config: &Config) -> Option<Arc<dyn Hooks>> {
        Some(Arc::new(Self::with_shared(self.shared.clone(), config.db)))
    }

    fn request_start(&self, request: &RequestStart<'_>) {
        if !self.enabled {
            return;
        }
        let Some(tracer) = &self.shared.tracer else {
            return;
        };
        let (operation, batch_size) = operation_name(request.operation, request.commands);
        let namespace = self.namespace(request.db);
        let mut attributes = Vec::with_capacity(6);
        attributes.push(KeyValue::new(DB_SYSTEM_NAME, REDIS));
        attributes.push(KeyValue::new(DB_OPERATION_NAME, operation.clone()));
        attributes.push(KeyValue::new(DB_NAMESPACE, namespace));
        if let Some(size) = batch_size {
            attributes.push(KeyValue::new(DB_OPERATION_BATCH_SIZE, size));
        }
        let text = query::render(
            request.commands,
            self.shared.query_text,
            self.shared.max_query_text,
        );
        if let Some(text) = text {
            attributes.push(KeyValue::new(DB_QUERY_TEXT, text));
        }
        if let Some(name) = stored_procedure(request.commands) {
            attributes.push(KeyValue::new(DB_STORED_PROCEDURE_NAME, name));
        }
        let builder = SpanBuilder {
            name: operation,
            span_kind: Some(SpanKind::Client),
            attributes: Some(attributes),
            ..SpanBuilder::default()
        };
        let span = Context::map_current(|cx| tracer.build_with_context(builder, cx));
        // Unsampled spans are dropped at once: nothing to keep.
        if span.is_recording() {
            self.lock().spans.insert(request.id, span);
        }
    }

    fn request_end(&self, request: &RequestEnd<'_>) {
        if !self.enabled {
            return;
        }
        let (span, server) = {
            let mut client = self.lock();
            let span = client.spans.remove(&request.id);
            (span, request.server.map(|s| client.server(s, request.peer)))
        };
        let failure = failure(&request.outcome);
        if let Some(mut span) = span {
            if let Some(server) = &server {
                span.set_attributes(server.attributes.iter().cloned());
            }
            if let Some((attributes, message)) = &failure {
                span.set_attributes(attributes.iter().cloned());
                span.set_status(Status::error(message.clone()));
            }
            span.end();
        }
        let Some(instruments) = &self.shared.instruments else {
            return;
        };
        let (operation, _) = operation_name(request.operation, request.commands);
        let operation = Value::from(operation);
        let mut attributes = Vec::with_capacity(9);
        attributes.push(KeyValue::new(DB_SYSTEM_NAME, REDIS));
        attributes.push(KeyValue::new(DB_OPERATION_NAME, operation.clone()));
        attributes.push(KeyValue::new(DB_NAMESPACE, self.namespace.clone()));
        if let Some(server) = &server {
            attributes.extend(server.attributes.iter().cloned());
        }
        if let Some((failure, _)) = failure {
            attributes.extend(failure);
        }
        instruments
            .duration
            .record(request.duration.as_secs_f64(), &attributes);
        if let Outcome::Failed(
            RequestError::Timeout { .. } | RequestError::TimedOutRetrying { .. },
        ) = request.outcome
        {
            let mut attributes = vec![
                KeyValue::new(DB_SYSTEM_NAME, REDIS),
                KeyValue::new(DB_OPERATION_NAME, operation),
            ];
            if let Some(server) = &server {
                attributes.extend(server.server_only());
            }
            instruments.timeouts.add(1, &attributes);
        }
    }

    fn connecting(&self, conn: ConnId, server: &ServerAddr) {
        if !self.enabled {
            return;
        }
        let Some(instruments) = &self.shared.instruments else {
            return;
        };
        let pool = {
            let mut client = self.lock();
            let label = client.server(server, None).label.clone();
            let pool = Value::from(format!("{}/{}", label.as_str(), self.db));
            client.conns.insert(conn, (false, pool.clone()));
            pool
        };
        instruments
            .connections
            .add(1, &connection_attributes(pool, false));
    }

    fn connected(&self, conn: ConnId, _server: &ServerAddr) {
        if !self.enabled {
            return;
        }
        let Some(instruments) = &self.shared.instruments else {
            return;
        };
        let pool = {
            let mut client = self.lock();
            match client.conns.get_mut(&conn) {
                Some((ready, pool)) if !*ready => {
                    *ready = true;
                    pool.clone()
                }
                _ => return,
            }
        };
        let counter = &instruments.connections;
        counter.add(-1, &connection_attributes(pool.clone(), false));
        counter.add(1, &connection_attributes(pool, true));
    }

    fn disconnected(&self, conn: ConnId, _server: &ServerAddr, _reason: &str) {
        if !self.enabled {
            return;
        }
        let Some(instruments) = &self.shared.instruments else {
            return;
        };
        let removed = self.lock().conns.remove(&conn);
        if let Some((ready, pool)) = removed {
            let attributes = connection_attributes(pool, ready);
            instruments.connections.add(-1, &attributes);
        }
    }

    fn retry(&self, request: RequestId, attempt: u32, reason: &str) {
        if !self.enabled {
            return;
        }
        if let Some(instruments) = &self.shared.instruments {
            instruments
                .retries
                .add(1, &[KeyValue::new(DB_SYSTEM_NAME, REDIS)]);
        }
        self.span_event(
            request,
            "retry",
            vec![
                KeyValue::new(ATTEMPT, i64::from(attempt)),
                KeyValue::new(REASON, reason.to_owned()),
            ],
        );
    }

    fn redirected(&self, request: RequestId, from: &ServerAddr, reply: &str) {
        if !self.enabled {
            return;
        }
        let from = self.lock().server(from, None);
        let mut words = reply.split(' ');
        let code = words.next().unwrap_or(reply).to_owned();
        if let Some(instruments) = &self.shared.instruments {
            let mut attributes = vec![
                KeyValue::new(DB_SYSTEM_NAME, REDIS),
                KeyValue::new(DB_RESPONSE_STATUS_CODE, code.clone()),
            ];
            attributes.extend(from.server_only());
            instruments.redirections.add(1, &attributes);
        }
        let mut attributes = vec![
            KeyValue::new(DB_RESPONSE_STATUS_CODE, code.clone()),
            KeyValue::new(REDIRECT_FROM, from.label.clone()),
        ];
        if code == "MOVED" || code == "ASK" {
            if let Some(slot) = words.next().and_then(|s| s.parse::<i64>().ok()) {
                attributes.push(KeyValue::new(REDIRECT_SLOT, slot));
            }
            if let Some(to) = words.next() {
                attributes.push(KeyValue::new(REDIRECT_TO, to.to_owned()));
            }
        }
        self.span_event(request, "redirect", attributes);
    }

    fn reconnect_scheduled(&self, reconnect: &Reconnect<'_>) {
        if !self.enabled {
            return;
        }
        let server = self.lock().server(reconnect.server, None);
        if let Some(instruments) = &self.shared.instruments {
            let mut attributes = vec![KeyValue::new(DB_SYSTEM_NAME, REDIS)];
            attributes.extend(server.server_only());
            instruments.reconnects.add(1, &attributes);
        }
        if self.shared.tracer.is_none() {
            return;
        }
        let mut attributes: Vec<KeyValue> = server.server_only().collect();
        attributes.push(KeyValue::new(ATTEMPT, i64::from(reconnect.attempt)));
        attributes.push(KeyValue::new(DELAY, reconnect.delay.as_secs_f64()));
        attributes.push(KeyValue::new(REASON, reconnect.reason.to_owned()));
        let mut client = self.lock();
        for id in reconnect.waiting {
            if let Some(span) = client.spans.get_mut(id) {
                span.add_event("reconnect", attributes.clone());
            }
        }
    }

    fn cache_hit(&self, _request: RequestId, command: &Command) {
        if !self.enabled {
            return;
        }
        if let Some(instruments) = &self.shared.instruments {
            instruments
                .cache_hits
                .add(1, &Self::read_attributes(command));
        }
    }

    fn cache_miss(&self, _request: RequestId, command: &Command) {
        if !self.enabled {
            return;
        }
        if let Some(instruments) = &self.shared.instruments {
            instruments
                .cache_misses
                .add(1, &Self::read_attributes(command));
        }
    }

    fn cache_invalidated(&self, invalidation: &CacheInvalidation<'_>) {
        if !self.enabled {
            return;
        }
        let Some(instruments) = &self.shared.instruments else {
            return;
        };
        let mut attributes = vec![
            KeyValue::new(DB_SYSTEM_NAME, REDIS),
            KeyValue::new(CACHE_INVALIDATION_CAUSE, invalidation.cause.as_str()),
        ];
        if let Some(server) = invalidation.server {
            attributes.extend(self.lock().server(server, None).server_only());
        }
        instruments.cache_invalidations.add(1, &attributes);
    }
}

impl OtelHooks {
    /// `db.system.name` and `db.operation.name` of a cached or cacheable read.
    fn read_attributes(command: &Command) -> [KeyValue; 2] {
        [
            KeyValue::new(DB_SYSTEM_NAME, REDIS),
            KeyValue::new(DB_OPERATION_NAME, command.name().to_owned()),
        ]
    }
}

fn connection_attributes(pool: Value, ready: bool) -> [KeyValue; 2] {
    let state = if ready { "ready" } else { "connecting" };
    [
        KeyValue::new(DB_CLIENT_CONNECTION_POOL_NAME, pool),
        KeyValue::new(DB_CLIENT_CONNECTION_STATE, state),
    ]
}

impl Drop for OtelHooks {
    /// The client is gone (dropped without `quit`): its open spans end as closed, and its
    /// connections leave the count.
    fn drop(&mut self) {
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, mut span) in client.spans.drain() {
            span.set_attribute(KeyValue::new(ERROR_TYPE, "closed"));
            span.set_status(Status::error("the client was dropped before the reply"));
            span.end();
        }
        if let Some(instruments) = &self.shared.instruments {
            for (_, (ready, pool)) in client.conns.drain() {
                instruments
                    .connections
                    .add(-1, &connection_attributes(pool, ready));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use client_core::cmd;

    use super::*;

    #[test]
    fn operation_names_follow_the_conventions() {
        let get = [cmd("GET").key("a")];
        assert_eq!(operation_name("GET", &get), ("GET".into(), None));
        assert_eq!(operation_name("PIPELINE", &get), ("GET".into(), None));
        assert_eq!(operation_name("MULTI", &get), ("MULTI GET".into(), None));
        let gets = [cmd("GET").key("a"), cmd("GET").key("b")];
        assert_eq!(
            operation_name("PIPELINE", &gets),
            ("PIPELINE GET".into(), Some(2))
        );
        let mixed = [
            cmd("SET").key("a").arg(1),
            cmd("GET").key("a"),
            cmd("INCR").key("a"),
        ];
        assert_eq!(operation_name("MULTI", &mixed), ("MULTI".into(), Some(3)));
    }

    #[test]
    fn scripts_are_named() {
        let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff831";
        assert_eq!(
            stored_procedure(&[cmd("EVALSHA").arg(sha).arg(0)]).as_deref(),
            Some(sha)
        );
        assert_eq!(
            stored_procedure(&[cmd("FCALL").arg("myfunc").arg(0)]).as_deref(),
            Some("myfunc")
        );
        assert_eq!(
            stored_procedure(&[cmd("EVAL").arg("return 1").arg(0)]),
            None
        );
    }

    #[test]
    fn error_types() {
        let auth = RequestError::Auth {
            server: "h:1".into(),
            message: "WRONGPASS invalid username-password pair".into(),
        };
        assert_eq!(error_type(&auth), ("WRONGPASS".into(), Some("WRONGPASS")));
        let timeout = RequestError::Timeout {
            command: "GET".into(),
            after: std::time::Duration::from_secs(1),
            sent: true,
        };
        assert_eq!(error_type(&timeout), ("timeout".into(), None));
    }

    #[test]
    fn with_no_provider_nothing_is_recorded() {
        let hooks = OtelHooks::builder().build();
        assert!(!hooks.enabled);
        assert!(format!("{hooks:?}").contains("tracing: false"));
    }
}
