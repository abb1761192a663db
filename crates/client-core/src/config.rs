//! Client configuration, built in code or parsed from a URL.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::CacheSettings;
use crate::hooks::Hooks;

/// Everything the core needs to know to connect, authenticate and behave under failure.
///
/// ```
/// use client_core::{Config, Protocol};
/// let config = Config::from_url("redis://app:s3cret@cache.internal:6380/2?protocol=2")?;
/// assert_eq!(config.db, 2);
/// assert_eq!(config.protocol, Protocol::Resp2);
/// assert!(!format!("{config:?}").contains("s3cret"), "secrets never show in Debug output");
/// # Ok::<(), client_core::ConfigError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Where the server is.
    pub server: ServerAddr,
    /// Whether to speak TLS (`rediss://`). The adapter does the TLS itself; this says that it
    /// must, and under which server name.
    pub tls: Option<TlsSettings>,
    /// The database to `SELECT` after connecting.
    pub db: u32,
    /// RESP3 (the default: `HELLO 3`) or RESP2.
    pub protocol: Protocol,
    /// The name to set with `HELLO ... SETNAME` / `CLIENT SETNAME`.
    pub client_name: Option<String>,
    /// How to authenticate, if at all.
    pub credentials: Option<CredentialSource>,
    /// Connect and command timeouts.
    pub timeouts: Timeouts,
    /// How to reconnect after a connection fails.
    pub reconnect: ReconnectPolicy,
    /// Most requests that may wait for a reply at once; `submit` fails fast beyond it.
    pub max_pending: usize,
    /// Resend writes whose connection dropped after they were sent. Off by default: such a
    /// write fails with an error saying it may have executed. Turning it on gives
    /// at-least-once delivery, so a write may run twice.
    pub at_least_once_replay: bool,
    /// How many times a request may be sent again after connection failures.
    pub max_retries: u32,
    /// Seed for the random choices (backoff jitter): the same seed and inputs give the same
    /// behaviour.
    pub seed: u64,
    /// Observers of requests and connections; `None` costs one branch per event.
    pub hooks: Option<Arc<dyn Hooks>>,
    /// Decoder limits for replies.
    pub limits: resp_core::Limits,
    /// Redis Cluster mode: `None` talks to `server` alone; `Some` discovers the cluster from
    /// `server` and the settings' other seeds and routes every command by its slot.
    pub cluster: Option<ClusterSettings>,
    /// Redis Sentinel mode: `None` talks to `server`; `Some` asks the sentinels for the
    /// primary of a service, follows its failovers and (opt-in) reads from its replicas.
    /// [`server`](Self::server) is then the first sentinel.
    pub sentinel: Option<SentinelSettings>,
    /// Client-side caching of single-key reads, kept coherent by RESP3 `CLIENT TRACKING`
    /// invalidations; `None` (the default) caches nothing. Ignored with RESP2: see
    /// [`CacheSettings`].
    pub cache: Option<CacheSettings>,
}

/// How to find a primary through Redis Sentinel.
///
/// ```
/// use std::time::Duration;
/// use client_core::{Config, Credentials, CredentialSource, ReadFrom, ServerAddr};
/// let mut config = Config::sentinel("orders", [
///     ServerAddr::Tcp { host: "10.0.0.1".into(), port: 26379 },
///     ServerAddr::Tcp { host: "10.0.0.2".into(), port: 26379 },
/// ]);
/// // The data nodes and the sentinels authenticate separately.
/// config.credentials = Some(CredentialSource::Static(Credentials::new(None, "data-pw")));
/// let sentinel = config.sentinel.as_mut().unwrap();
/// sentinel.credentials = Some(CredentialSource::Static(Credentials::new(None, "sentinel-pw")));
/// sentinel.read_from = ReadFrom::RoundRobinReplicas;
/// sentinel.timeout = Duration::from_millis(200);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SentinelSettings {
    /// The name the sentinels monitor the primary under (`sentinel monitor <name> ...`).
    pub service: String,
    /// The sentinels, asked in this order. Those that `SENTINEL SENTINELS` names are added.
    pub sentinels: Vec<ServerAddr>,
    /// How to authenticate with the sentinels, if they require it. The data nodes use
    /// [`Config::credentials`].
    pub credentials: Option<CredentialSource>,
    /// How long one sentinel gets to answer a query, connecting included, before the next
    /// one is asked (default 500 ms): a dead or paused sentinel never stalls discovery.
    pub timeout: Duration,
    /// Where read-only commands go: the primary (the default), or replicas that
    /// `SENTINEL REPLICAS` lists as healthy.
    pub read_from: ReadFrom,
    /// How often to re-read the sentinel list and the replicas (default 30 s).
    pub refresh_interval: Duration,
}

impl SentinelSettings {
    /// Settings for `service` monitored by `sentinels`, with the defaults.
    pub fn new(service: &str, sentinels: impl IntoIterator<Item = ServerAddr>) -> Self {
        Self {
            service: service.to_owned(),
            sentinels: sentinels.into_iter().collect(),
            credentials: None,
            timeout: Duration::from_millis(500),
            read_from: ReadFrom::Primary,
            refresh_interval: Duration::from_secs(30),
        }
    }
}

/// How to run against a Redis Cluster.
///
/// ```
/// use std::time::Duration;
/// use client_core::{Config, ReadFrom, ServerAddr};
/// let mut config = Config::cluster([
///     ServerAddr::Tcp { host: "10.0.0.1".into(), port: 7000 },
///     ServerAddr::Tcp { host: "10.0.0.2".into(), port: 7000 },
/// ]);
/// let cluster = config.cluster.as_mut().unwrap();
/// cluster.read_from = ReadFrom::PreferReplica;
/// cluster.refresh_interval = Duration::from_secs(30);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterSettings {
    /// More nodes to discover the cluster from, tried after [`Config::server`].
    pub seeds: Vec<ServerAddr>,
    /// How often to re-read the topology when nothing asked for it (default 60 s).
    pub refresh_interval: Duration,
    /// The least time between two topology reads, however many `MOVED` replies or failed
    /// connections ask for one (default 100 ms): a refresh never stampedes.
    pub min_refresh_interval: Duration,
    /// Where read-only commands go.
    pub read_from: ReadFrom,
    /// How many `MOVED`/`ASK` redirections, `TRYAGAIN` and `CLUSTERDOWN` retries one command
    /// may go through before it fails (default 16).
    pub max_redirects: u32,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            refresh_interval: Duration::from_secs(60),
            min_refresh_interval: Duration::from_millis(100),
            read_from: ReadFrom::Primary,
            max_redirects: 16,
        }
    }
}

/// Where a cluster client sends commands that only read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadFrom {
    /// Every command goes to the slot's primary (the default): reads see every write.
    #[default]
    Primary,
    /// Reads go to one replica of the slot's shard (the same one while it is up), or to the
    /// primary when the shard has none. Replicas copy asynchronously: a read may miss a
    /// recent write.
    PreferReplica,
    /// Reads go to the shard's replicas in turn, or to the primary when it has none.
    RoundRobinReplicas,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("db", &self.db)
            .field("protocol", &self.protocol)
            .field("client_name", &self.client_name)
            .field("credentials", &self.credentials)
            .field("timeouts", &self.timeouts)
            .field("reconnect", &self.reconnect)
            .field("max_pending", &self.max_pending)
            .field("at_least_once_replay", &self.at_least_once_replay)
            .field("max_retries", &self.max_retries)
            .field("seed", &self.seed)
            .field("hooks", &self.hooks.as_ref().map(|_| ".."))
            .field("limits", &self.limits)
            .field("cluster", &self.cluster)
            .field("sentinel", &self.sentinel)
            .field("cache", &self.cache)
            .finish()
    }
}

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerAddr {
    /// A host name or IP address and a port.
    Tcp {
        /// Host name or IP address (without brackets for IPv6).
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix(PathBuf),
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// TLS settings the core carries for the adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// The name to verify the server's certificate against (SNI); the host by default.
    pub server_name: String,
}

/// The RESP version to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2: no `HELLO`; authentication with `AUTH`.
    Resp2,
    /// RESP3, negotiated with `HELLO 3`; falls back to RESP2 on servers without `HELLO`.
    Resp3,
}

/// A user name and password. The password never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The ACL user; `None` means the `default` user (`AUTH <password>`).
    pub username: Option<String>,
    /// The password or token.
    pub password: String,
}

impl Credentials {
    /// Credentials for `username` (or the default user) with `password`.
    pub fn new(username: Option<&str>, password: &str) -> Self {
        Self {
            username: username.map(str::to_owned),
            password: password.to_owned(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where credentials come from: fixed, or a provider asked before every handshake, for
/// rotating tokens.
#[derive(Clone)]
pub enum CredentialSource {
    /// The same credentials every time.
    Static(Credentials),
    /// Asked before each handshake; it must not block (return a cached token).
    Provider(Arc<dyn Fn() -> Credentials + Send + Sync>),
}

impl CredentialSource {
    pub(crate) fn current(&self) -> Credentials {
        match self {
            Self::Static(credentials) => credentials.clone(),
            Self::Provider(provider) => provider(),
        }
    }
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(credentials) => f.debug_tuple("Static").field(credentials).finish(),
            Self::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

/// Timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// From asking the adapter to dial until the connection is established.
    pub connect: Duration,
    /// From submit until the reply, for requests with no timeout of their own. Blocking
    /// commands get their block time added.
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            command: Duration::from_secs(5),
        }
    }
}

/// Exponential backoff with jitter between reconnect attempts.
///
/// Attempt `n` (from 0) waits a random time between half and all of
/// `min(base_delay * 2^n, max_delay)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The first delay's upper bound.
    pub base_delay: Duration,
    /// The largest delay.
    pub max_delay: Duration,
    /// Failed attempts in a row before requests waiting for the connection fail; `None`
    /// retries until each request's own deadline.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            max_attempts: Some(10),
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt `attempt` (0-based), with `jitter` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        let cap = exp.min(self.max_delay);
        cap / 2 + cap.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// A URL or setting that could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL does not parse.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, with any password removed.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The scheme is not one of `redis`, `rediss`, `redis+unix`, `unix`, `redis+cluster`,
    /// `rediss+cluster`, `redis+sentinel`, `rediss+sentinel`.
    #[error(
        "unsupported scheme {0:?}: use redis://, rediss://, redis+unix://, redis+cluster:// or redis+sentinel://"
    )]
    UnsupportedScheme(String),
    /// A query parameter has a value that cannot be used.
    #[error("invalid value {value:?} for {name}: {expected}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

impl Config {
    /// A configuration for a server at `host:port`, with defaults for everything else.
    pub fn new(host: &str, port: u16) -> Self {
        Self::for_server(ServerAddr::Tcp {
            host: host.to_owned(),
            port,
        })
    }

    /// A configuration for `server`, with defaults for everything else: RESP3, db 0,
    /// 5 s timeouts, 10 reconnect attempts, 100,000 pending requests at most, no replay.
    pub fn for_server(server: ServerAddr) -> Self {
        Self {
            server,
            tls: None,
            db: 0,
            protocol: Protocol::Resp3,
            client_name: None,
            credentials: None,
            timeouts: Timeouts::default(),
            reconnect: ReconnectPolicy::default(),
            max_pending: 100_000,
            at_least_once_replay: false,
            max_retries: 3,
            seed: 0x5eed_cafe,
            hooks: None,
            limits: resp_core::Limits::default(),
            cluster: None,
            sentinel: None,
            cache: None,
        }
    }

    /// A Sentinel configuration: the primary of `service`, as the `sentinels` name it (the
    /// first becomes [`server`](Self::server)), with the defaults of
    /// [`for_server`](Self::for_server) and [`SentinelSettings::new`].
    ///
    /// # Panics
    ///
    /// When `sentinels` is empty.
    pub fn sentinel(service: &str, sentinels: impl IntoIterator<Item = ServerAddr>) -> Self {
        let settings = SentinelSettings::new(service, sentinels);
        let first = settings
            .sentinels
            .first()
            .expect("Sentinel mode needs at least one sentinel")
            .clone();
        let mut config = Self::for_server(first);
        config.sentinel = Some(settings);
        config
    }

    /// A cluster configuration discovering the topology from `seeds` (the first becomes
    /// [`server`](Self::server)), with the defaults of [`for_server`](Self::for_server) and
    /// [`ClusterSettings::default`].
    ///
    /// # Panics
    ///
    /// When `seeds` is empty.
    pub fn cluster(seeds: impl IntoIterator<Item = ServerAddr>) -> Self {
        let mut seeds = seeds.into_iter();
        let first = seeds
            .next()
            .expect("a cluster needs at least one seed node");
        let mut config = Self::for_server(first);
        config.cluster = Some(ClusterSettings {
            seeds: seeds.collect(),
            ..ClusterSettings::default()
        });
        config
    }

    /// Every node given to start from: `server`, then the cluster seeds; in Sentinel mode,
    /// the sentinels.
    pub fn seed_nodes(&self) -> impl Iterator<Item = &ServerAddr> {
        let more = self.cluster.iter().flat_map(|c| c.seeds.iter());
        let start = match &self.sentinel {
            Some(s) if !s.sentinels.is_empty() => None,
            _ => Some(&self.server),
        };
        let sentinels = self.sentinel.iter().flat_map(|s| s.sentinels.iter());
        start.into_iter().chain(more).chain(sentinels)
    }

    /// Parses `redis://[user:password@]host[:port][/db][?protocol=2|3&client_name=..]`,
    /// `rediss://...` (TLS) and `redis+unix:///path/to.sock[?db=N&...]` (also `unix://`).
    ///
    /// Client-side caching: `cache_size=N` turns it on with at most `N` replies,
    /// `cache_ttl=ms` bounds their age, and each `cache_prefix=p` adds a prefix of broadcast
    /// mode ([`CacheSettings::broadcast`]). It needs RESP3, so `protocol=2` with `cache_size`
    /// is an error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use client_core::{Config, TrackingMode};
    /// let config = Config::from_url("redis://h?cache_size=1000&cache_ttl=5000&cache_prefix=user:")?;
    /// let cache = config.cache.unwrap();
    /// assert_eq!((cache.max_entries, cache.ttl), (1000, Duration::from_secs(5)));
    /// assert_eq!(cache.mode, TrackingMode::Broadcast { prefixes: vec!["user:".into()] });
    /// assert!(Config::from_url("redis://h?cache_size=10&protocol=2").is_err());
    /// # Ok::<(), client_core::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the part of the URL that is wrong.
    pub fn from_url(text: &str) -> Result<Self, ConfigError> {
        if let Some((scheme, rest)) = text.split_once("://")
            && let Some(base) = scheme.strip_suffix("+cluster")
        {
            return Self::from_cluster_url(text, base, rest);
        }
        if let Some((scheme, rest)) = text.split_once("://")
            && let Some(base) = scheme.strip_suffix("+sentinel")
        {
            return Self::from_sentinel_url(text, base, rest);
        }
        let url = url::Url::parse(text).map_err(|e| ConfigError::InvalidUrl {
            url: redact(text),
            reason: e.to_string(),
        })?;
        let invalid = |reason: &str| ConfigError::InvalidUrl {
            url: redact(text),
            reason: reason.into(),
        };
        let mut config = match url.scheme() {
            "redis" | "rediss" => {
                let host = url.host_str().ok_or_else(|| invalid("no host"))?;
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let port = url.port().unwrap_or(6379);
                let mut config = Self::for_server(ServerAddr::Tcp {
                    host: host.clone(),
                    port,
                });
                if url.scheme() == "rediss" {
                    config.tls = Some(TlsSettings { server_name: host });
                }
                let db = url.path().trim_start_matches('/');
                if !db.is_empty() {
                    config.db = parse_param("db", db, "a database number")?;
                }
                config
            }
            "redis+unix" | "unix" => {
                if url.path().is_empty() {
                    return Err(invalid("no socket path"));
                }
                Self::for_server(ServerAddr::Unix(PathBuf::from(url.path())))
            }
            other => return Err(ConfigError::UnsupportedScheme(other.to_owned())),
        };
        let decode = |s: &str| {
            percent_decode(s)
                .ok_or_else(|| invalid("user or password is not valid percent-encoded UTF-8"))
        };
        if let Some(password) = url.password() {
            let user = Some(url.username())
                .filter(|u| !u.is_empty())
                .map(decode)
                .transpose()?;
            config.credentials = Some(CredentialSource::Static(Credentials {
                username: user,
                password: decode(password)?,
            }));
        } else if !url.username().is_empty() {
            // `redis://token@host`: a password for the default user, as redis-cli reads it.
            let password = decode(url.username())?;
            config.credentials = Some(CredentialSource::Static(Credentials {
                username: None,
                password,
            }));
        }
        let (mut cache_ttl, mut cache_prefixes) = (None, Vec::new());
        for (name, value) in url.query_pairs() {
            match &*name {
                "cache_size" => {
                    let size = parse_param("cache_size", &value, "a number of entries")?;
                    config.cache = Some(CacheSettings::new(size));
                }
                "cache_ttl" => {
                    let ms: u64 = parse_param("cache_ttl", &value, "milliseconds")?;
                    cache_ttl = Some(Duration::from_millis(ms));
                }
                "cache_prefix" => cache_prefixes.push(value.into_owned()),
                "db" => config.db = parse_param("db", &value, "a database number")?,
                "protocol" => {
                    config.protocol = match &*value {
                        "2" | "resp2" => Protocol::Resp2,
                        "3" | "resp3" => Protocol::Resp3,
                        _ => return Err(bad_param("protocol", &value, "2 or 3")),
                    }
                }
                "client_name" | "name" => config.client_name = Some(value.into_owned()),
                "timeout" => {
                    let ms: u64 = parse_param("timeout", &value, "milliseconds")?;
                    config.timeouts.command = Duration::from_millis(ms);
                }
                "connect_timeout" => {
                    let ms: u64 = parse_param("connect_timeout", &value, "milliseconds")?;
                    config.timeouts.connect = Duration::from_millis(ms);
                }
                "sni" | "server_name" => {
                    if let Some(tls) = &mut config.tls {
                        tls.server_name = value.into_owned();
                    }
                }
                _ => {
                    return Err(bad_param(
                        &name,
                        &value,
                        "a known parameter (db, protocol, client_name, timeout, connect_timeout, sni, cache_size, cache_ttl, cache_prefix)",
                    ));
                }
            }
        }
        match &mut config.cache {
            Some(_) if config.protocol == Protocol::Resp2 => {
                return Err(invalid(
                    "client-side caching (cache_size) needs RESP3 invalidations: drop protocol=2 or cache_size",
                ));
            }
            Some(cache) => {
                if let Some(ttl) = cache_ttl {
                    cache.ttl = ttl;
                }
                if !cache_prefixes.is_empty() {
                    *cache = cache.clone().broadcast(cache_prefixes);
                }
            }
            None if cache_ttl.is_some() || !cache_prefixes.is_empty() => {
                return Err(invalid(
                    "cache_ttl and cache_prefix need cache_size, which turns caching on",
                ));
            }
            None => {}
        }
        Ok(config)
    }
}

impl Config {
    /// `redis+cluster://[user:pw@]host:port,host:port[/db][?..]`: the first node as for
    /// `redis://`, the others as seeds.
    fn from_cluster_url(text: &str, base: &str, rest: &str) -> Result<Self, ConfigError> {
        if base != "redis" && base != "rediss" {
            return Err(ConfigError::UnsupportedScheme(format!("{base}+cluster")));
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let mut hosts = hosts.split(',');
        let first = hosts.next().unwrap_or_default();
        let mut config = Self::from_url(&format!("{base}://{userinfo}{first}{tail}"))?;
        let mut seeds = Vec::new();
        for host in hosts {
            let seed = Self::from_url(&format!("{base}://{host}")).map_err(|e| {
                ConfigError::InvalidUrl {
                    url: redact(text),
                    reason: format!("seed node {host:?}: {e}"),
                }
            })?;
            seeds.push(seed.server);
        }
        config.cluster = Some(ClusterSettings {
            seeds,
            ..ClusterSettings::default()
        });
        Ok(config)
    }
}

impl Config {
    /// `redis+sentinel://[user:pw@]host:port,host:port/service[/db][?..]`: the sentinels,
    /// the service, and for the data nodes the credentials, database and the parameters of
    /// `redis://`. `sentinel_username`, `sentinel_password`, `sentinel_timeout` (ms) and
    /// `read_from` (`primary`, `replica`, `round_robin`) set [`SentinelSettings`].
    fn from_sentinel_url(text: &str, base: &str, rest: &str) -> Result<Self, ConfigError> {
        if base != "redis" && base != "rediss" {
            return Err(ConfigError::UnsupportedScheme(format!("{base}+sentinel")));
        }
        let invalid = |reason: String| ConfigError::InvalidUrl {
            url: redact(text),
            reason,
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let service = segments
            .next()
            .map(|s| percent_decode(s).ok_or_else(|| invalid("bad service name".into())))
            .transpose()?
            .ok_or_else(|| {
                invalid("no service name: use redis+sentinel://host:port/<service>".into())
            })?;
        let db = segments.next().unwrap_or_default();
        if segments.next().is_some() {
            return Err(invalid("the path is /<service>[/<db>]".into()));
        }
        let mut sentinels = Vec::new();
        for host in hosts.split(',') {
            let parsed = Self::from_url(&format!("{base}://{host}"))
                .map_err(|e| invalid(format!("sentinel {host:?}: {e}")))?;
            sentinels.push(parsed.server);
        }
        let mut settings = SentinelSettings::new(&service, sentinels);
        let (mut user, mut password) = (None, None);
        let mut passed = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_decode(value)
                .ok_or_else(|| invalid(format!("{name} is not valid percent-encoded UTF-8")))?;
            match name {
                "sentinel_username" | "sentinel_user" => user = Some(decoded),
                "sentinel_password" => password = Some(decoded),
                "sentinel_timeout" => {
                    let ms: u64 = parse_param(name, &decoded, "milliseconds")?;
                    settings.timeout = Duration::from_millis(ms);
                }
                "read_from" => {
                    settings.read_from = match &*decoded {
                        "primary" | "master" => ReadFrom::Primary,
                        "replica" | "prefer_replica" => ReadFrom::PreferReplica,
                        "round_robin" | "round_robin_replicas" => ReadFrom::RoundRobinReplicas,
                        _ => {
                            return Err(bad_param(
                                name,
                                &decoded,
                                "primary, replica or round_robin",
                            ));
                        }
                    }
                }
                _ => passed.push(pair),
            }
        }
        if let Some(password) = password {
            settings.credentials = Some(CredentialSource::Static(Credentials {
                username: user,
                password,
            }));
        } else if user.is_some() {
            return Err(invalid("sentinel_username needs sentinel_password".into()));
        }
        let first = settings.sentinels[0].to_string();
        let db = if db.is_empty() {
            String::new()
        } else {
            format!("/{db}")
        };
        let query = if passed.is_empty() {
            String::new()
        } else {
            format!("?{}", passed.join("&"))
        };
        let mut config = Self::from_url(&format!("{base}://{userinfo}{first}{db}{query}"))?;
        config.sentinel = Some(settings);
        Ok(config)
    }
}

fn parse_param<T: std::str::FromStr>(
    name: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, ConfigError> {
    value.parse().map_err(|_| bad_param(name, value, expected))
}

fn bad_param(name: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidParameter {
        name: name.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The URL with anything between `://` and `@` replaced, for error messages.
fn redact(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}://<redacted>@{}", &text[..start], &text[at + 1..])
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_urls() {
        let c = Config::from_url("redis://localhost").unwrap();
        assert_eq!(
            c.server,
            ServerAddr::Tcp {
                host: "localhost".into(),
                port: 6379
            }
        );
        assert_eq!(
            (c.db, c.protocol, c.tls.is_none()),
            (0, Protocol::Resp3, true)
        );

        let c = Config::from_url(
            "rediss://u%40x:p%2Fw@[::1]:7000/3?protocol=2&client_name=app&timeout=250",
        )
        .unwrap();
        assert_eq!(
            c.server,
            ServerAddr::Tcp {
                host: "::1".into(),
                port: 7000
            }
        );
        assert_eq!(c.server.to_string(), "[::1]:7000");
        assert_eq!(
            c.tls,
            Some(TlsSettings {
                server_name: "::1".into()
            })
        );
        assert_eq!(c.db, 3);
        assert_eq!(c.protocol, Protocol::Resp2);
        assert_eq!(c.client_name.as_deref(), Some("app"));
        assert_eq!(c.timeouts.command, Duration::from_millis(250));
        let Some(CredentialSource::Static(creds)) = c.credentials else {
            panic!("credentials")
        };
        assert_eq!(creds, Credentials::new(Some("u@x"), "p/w"));
    }

    #[test]
    fn password_only_urls_authenticate_the_default_user() {
        let c = Config::from_url("redis://:secret@h:1").unwrap();
        let Some(CredentialSource::Static(creds)) = c.credentials else {
            panic!("credentials")
        };
        assert_eq!(creds, Credentials::new(None, "secret"));
    }

    #[test]
    fn unix_urls() {
        let c = Config::from_url("redis+unix:///run/redis.sock?db=5").unwrap();
        assert_eq!(c.server, ServerAddr::Unix("/run/redis.sock".into()));
        assert_eq!(c.db, 5);
        assert_eq!(c.server.to_string(), "unix:/run/redis.sock");
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_leaking_the_password() {
        let err = Config::from_url("http://h").unwrap_err();
        assert_eq!(err, ConfigError::UnsupportedScheme("http".into()));
        let err = Config::from_url("redis://h/x").unwrap_err();
        assert!(err.to_string().contains("db"), "{err}");
        let err = Config::from_url("redis://h?protocol=4").unwrap_err();
        assert!(err.to_string().contains("2 or 3"), "{err}");
        let err = Config::from_url("redis://u:hunter2@h?bogus=1").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = Config::from_url("redis://u:hunter2@:99999").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let mut c = Config::from_url("redis://admin:hunter2@h").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        c.credentials = Some(CredentialSource::Provider(Arc::new(|| {
            Credentials::new(None, "tok")
        })));
        assert!(format!("{c:?}").contains("Provider(..)"));
    }

    #[test]
    fn cluster_urls_list_seed_nodes() {
        let c =
            Config::from_url("redis+cluster://:pw@a:7000,b:7001,[::1]:7002/0?protocol=2").unwrap();
        let seeds: Vec<String> = c.seed_nodes().map(ToString::to_string).collect();
        assert_eq!(seeds, ["a:7000", "b:7001", "[::1]:7002"]);
        assert_eq!(c.protocol, Protocol::Resp2);
        assert!(c.credentials.is_some());
        let tls = Config::from_url("rediss+cluster://a:1,b:2").unwrap();
        assert!(tls.tls.is_some() && tls.cluster.is_some());
        let err = Config::from_url("redis+cluster://a:1,b:x").unwrap_err();
        assert!(err.to_string().contains("seed node"), "{err}");
        assert!(Config::from_url("redis://a:1").unwrap().cluster.is_none());
    }

    #[test]
    fn sentinel_urls_name_the_service_and_keep_the_two_credentials_apart() {
        let c = Config::from_url(
            "redis+sentinel://app:data-pw@s1:26379,[::1]:26380/orders?db=2&sentinel_password=s%2Fpw&sentinel_timeout=150&read_from=round_robin&protocol=2",
        )
        .unwrap();
        let s = c.sentinel.as_ref().unwrap();
        assert_eq!(s.service, "orders");
        let sentinels: Vec<String> = c.seed_nodes().map(ToString::to_string).collect();
        assert_eq!(sentinels, ["s1:26379", "[::1]:26380"]);
        assert_eq!(c.server.to_string(), "s1:26379");
        assert_eq!((c.db, c.protocol), (2, Protocol::Resp2));
        assert_eq!(s.timeout, Duration::from_millis(150));
        assert_eq!(s.read_from, ReadFrom::RoundRobinReplicas);
        let Some(CredentialSource::Static(data)) = &c.credentials else {
            panic!("data credentials")
        };
        assert_eq!(*data, Credentials::new(Some("app"), "data-pw"));
        let Some(CredentialSource::Static(sentinel)) = &s.credentials else {
            panic!("sentinel credentials")
        };
        assert_eq!(*sentinel, Credentials::new(None, "s/pw"));
        assert!(!format!("{c:?}").contains("s/pw"));

        let c = Config::from_url("redis+sentinel://s1/orders/3").unwrap();
        assert_eq!(c.db, 3);
        assert_eq!(c.sentinel.unwrap().read_from, ReadFrom::Primary);
        let err = Config::from_url("redis+sentinel://s1:1,s2:2").unwrap_err();
        assert!(err.to_string().contains("service"), "{err}");
        let err = Config::from_url("redis+sentinel://s1:x/orders").unwrap_err();
        assert!(err.to_string().contains("sentinel"), "{err}");
        let err = Config::from_url("redis+sentinel://s1/orders?read_from=any").unwrap_err();
        assert!(err.to_string().contains("round_robin"), "{err}");
        let err = Config::from_url("redis+sentinel://s1/orders?bogus=1").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn cache_urls_turn_caching_on_and_refuse_resp2() {
        use crate::cache::TrackingMode;
        let c = Config::from_url("redis://h?cache_size=50").unwrap();
        let cache = c.cache.unwrap();
        assert_eq!(cache.max_entries, 50);
        assert_eq!(cache.mode, TrackingMode::Default);
        let c = Config::from_url("redis://h?cache_prefix=a:&cache_size=5&cache_prefix=b:").unwrap();
        let prefixes = vec![bytes::Bytes::from("a:"), bytes::Bytes::from("b:")];
        assert_eq!(c.cache.unwrap().mode, TrackingMode::Broadcast { prefixes });
        let err = Config::from_url("redis://h?protocol=2&cache_size=5").unwrap_err();
        assert!(err.to_string().contains("RESP3"), "{err}");
        let err = Config::from_url("redis://h?cache_ttl=5").unwrap_err();
        assert!(err.to_string().contains("cache_size"), "{err}");
        let err = Config::from_url("redis://h?cache_size=lots").unwrap_err();
        assert!(err.to_string().contains("cache_size"), "{err}");
        let c = Config::from_url("redis+sentinel://s1/orders?cache_size=7").unwrap();
        assert_eq!(c.cache.unwrap().max_entries, 7);
        assert!(Config::from_url("redis://h").unwrap().cache.is_none());
    }

    #[test]
    fn backoff_grows_to_the_cap_with_bounded_jitter() {
        let p = ReconnectPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_attempts: None,
        };
        assert_eq!(p.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(p.delay(0, 0.999_999).as_millis(), 99);
        assert_eq!(p.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(20, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay(u32::MAX, 1.0), Duration::from_secs(1));
    }
}
