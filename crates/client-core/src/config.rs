//! Client configuration, built in code or parsed from a URL.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// `rediss+cluster`.
    #[error("unsupported scheme {0:?}: use redis://, rediss://, redis+unix:// or redis+cluster://")]
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
        }
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

    /// Every node given to start from: `server`, then the cluster seeds.
    pub fn seed_nodes(&self) -> impl Iterator<Item = &ServerAddr> {
        let more = self.cluster.iter().flat_map(|c| c.seeds.iter());
        std::iter::once(&self.server).chain(more)
    }

    /// Parses `redis://[user:password@]host[:port][/db][?protocol=2|3&client_name=..]`,
    /// `rediss://...` (TLS) and `redis+unix:///path/to.sock[?db=N&...]` (also `unix://`).
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
        for (name, value) in url.query_pairs() {
            match &*name {
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
                        "a known parameter (db, protocol, client_name, timeout, connect_timeout, sni)",
                    ));
                }
            }
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
