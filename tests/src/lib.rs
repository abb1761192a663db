//! Support library of redwire's integration suite.
//!
//! The suite runs once per runtime (`tests/tests/<runtime>.rs`) and per protocol, against the
//! real servers `cargo xtask test` starts. The xtask hands each run an env file
//! (`REDWIRE_ENV_FILE`) and a protocol (`REDWIRE_PROTOCOL`); [`TestEnv::load`] reads both.
//!
//! Tests speak RESP two ways. [`RawConn`] sends bytes over a plain socket and splits whole
//! replies off what comes back; [`Frame`] is a deliberately small, independent reading of
//! RESP2/RESP3 that serves as the oracle the codec is checked against. [`Driver`] runs
//! client-core's sans-IO `Client` over blocking `std` sockets, the `std` runtime's adapter.
//!
//! The async runtimes share one set of test bodies (`tests/tests/suite/`); [`rt`] holds what
//! each runtime gives them: a way to run a test, spawn, sleep and time out.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod frame;
pub mod rt;

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use driver::{Driver, DriverStats, HANG_GUARD, Pinned};
pub use frame::{Frame, parse_frame};
pub use xtask::{BackendKind, Faults, KeyValues, SENTINEL_SERVICE, TlsFiles, TopologyKind};

/// How long a test waits for a reply before it fails (a paused-server test shortens it).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment of one matrix cell: which topology, where it is, which protocol.
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// The topology under test.
    pub topology: TopologyKind,
    /// Native processes or docker containers.
    pub backend: BackendKind,
    /// RESP protocol version to negotiate with `HELLO`: 2 or 3.
    pub protocol: u8,
    /// `REDWIRE_URL`: `redis://`, `rediss://`, `redis+unix://` or `redis+sentinel://`.
    pub url: String,
    /// TLS files (`REDWIRE_TLS_CA`, `REDWIRE_TLS_CLIENT_CERT`, `REDWIRE_TLS_CLIENT_KEY`).
    pub tls: Option<TlsFiles>,
    /// Cluster: every node's URL (`REDWIRE_CLUSTER_NODES`).
    pub cluster_nodes: Vec<String>,
    /// Sentinel: the sentinels' `host:port` (`REDWIRE_SENTINELS`).
    pub sentinels: Vec<String>,
    /// Sentinel: the monitored service name (`REDWIRE_SENTINEL_SERVICE`).
    pub sentinel_service: Option<String>,
    /// Sentinel: the primary's URL when the topology came up (`REDWIRE_PRIMARY_URL`).
    pub primary_url: Option<String>,
    /// The state file the fault helpers use (`REDWIRE_STATE_FILE`).
    pub state_file: PathBuf,
    /// The env file this was read from.
    pub env_file: PathBuf,
}

const HOW_TO_RUN: &str = "run the integration suite with `cargo xtask test` (or point \
    REDWIRE_ENV_FILE at the env file `cargo xtask up <topology>` printed)";

impl TestEnv {
    /// Reads `REDWIRE_ENV_FILE` and `REDWIRE_PROTOCOL` (default 3).
    ///
    /// # Panics
    ///
    /// When `REDWIRE_ENV_FILE` is unset ("run the integration suite with `cargo xtask test`"),
    /// or the file is unreadable or incomplete.
    pub fn load() -> Self {
        let Some(path) = std::env::var_os("REDWIRE_ENV_FILE") else {
            panic!("REDWIRE_ENV_FILE is not set: {HOW_TO_RUN}");
        };
        let path = PathBuf::from(path);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {} ({e}): {HOW_TO_RUN}", path.display()));
        let protocol = match std::env::var("REDWIRE_PROTOCOL").as_deref() {
            Ok("2") => 2,
            Ok("3") | Err(_) => 3,
            Ok(other) => panic!("REDWIRE_PROTOCOL={other}: expected 2 or 3"),
        };
        Self::parse(&text, &path, protocol)
    }

    fn parse(text: &str, path: &Path, protocol: u8) -> Self {
        let mut vars = KeyValues::parse(text);
        let mut required = |key: &str| {
            vars.take(key)
                .unwrap_or_else(|| panic!("{} lacks {key}: {HOW_TO_RUN}", path.display()))
        };
        let topology = required("REDWIRE_TOPOLOGY")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let backend = required("REDWIRE_BACKEND")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let url = required("REDWIRE_URL");
        let state_file = PathBuf::from(required("REDWIRE_STATE_FILE"));
        let list = |v: Option<String>| -> Vec<String> {
            v.map(|s| s.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let tls = match (
            vars.take("REDWIRE_TLS_CA"),
            vars.take("REDWIRE_TLS_CLIENT_CERT"),
            vars.take("REDWIRE_TLS_CLIENT_KEY"),
        ) {
            (Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
                ca: ca.into(),
                cert: cert.into(),
                key: key.into(),
            }),
            _ => None,
        };
        Self {
            topology,
            backend,
            protocol,
            url,
            tls,
            cluster_nodes: list(vars.take("REDWIRE_CLUSTER_NODES")),
            sentinels: list(vars.take("REDWIRE_SENTINELS")),
            sentinel_service: vars.take("REDWIRE_SENTINEL_SERVICE"),
            primary_url: vars.take("REDWIRE_PRIMARY_URL"),
            state_file,
            env_file: path.to_path_buf(),
        }
    }

    /// Whether the topology under test is one of `kinds`.
    pub fn is(&self, kinds: &[TopologyKind]) -> bool {
        kinds.contains(&self.topology)
    }

    /// Whether the topology is one of the three single-server ones.
    pub fn is_standalone(&self) -> bool {
        self.is(&[
            TopologyKind::Standalone,
            TopologyKind::StandaloneTls,
            TopologyKind::StandaloneUnix,
        ])
    }

    /// The fault helpers for this topology.
    pub fn faults(&self) -> Faults {
        Faults::load(&self.state_file).unwrap_or_else(|e| panic!("fault helpers unavailable: {e}"))
    }

    /// Where a plain command should go: the standalone server, the cluster seed node, or the
    /// primary the sentinels name right now.
    pub fn target(&self) -> Target {
        if self.topology == TopologyKind::Sentinel {
            let (host, port) = self.sentinel_primary();
            return Target::Tcp { host, port };
        }
        Target::from_url(&self.url)
    }

    /// Asks the first answering sentinel for the primary's address.
    pub fn sentinel_primary(&self) -> (String, u16) {
        let service = self.sentinel_service.as_deref().unwrap_or(SENTINEL_SERVICE);
        for sentinel in &self.sentinels {
            let Ok(mut conn) = RawConn::try_connect(&Target::parse_addr(sentinel), None) else {
                continue;
            };
            let reply = conn.request(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", service]);
            if let Some([host, port]) = reply.items() {
                let port = port.text().parse().expect("a port number");
                return (host.text(), port);
            }
        }
        panic!(
            "no sentinel of {:?} names a primary for {service}",
            self.sentinels
        );
    }

    /// A raw connection to [`TestEnv::target`] (TLS with the client certificate when the
    /// topology is TLS). No `HELLO` is sent.
    pub fn connect(&self) -> RawConn {
        RawConn::connect(&self.target(), self.tls_with_cert(true).as_ref())
    }

    /// A client-core configuration for one node at `host:port` (from `CLUSTER SLOTS`, a
    /// sentinel, ...), in the cell's protocol.
    pub fn config_for(&self, addr: &str) -> client_core::Config {
        let (host, port) = addr
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{addr} is not host:port"));
        let mut config = client_core::Config::new(host, port.parse().expect("a port"));
        config.protocol = self.resp_protocol();
        config
    }

    /// Creates the ACL user `name` with password `password` and every permission; the user is
    /// deleted when the returned guard drops, even when an assertion failed.
    pub fn acl_user(&self, name: &'static str, password: &str) -> AclUser<'_> {
        let mut admin = self.connect_hello();
        let secret = format!(">{password}");
        let reply = admin.request(&[
            "ACL", "SETUSER", name, "reset", "on", &secret, "~*", "&*", "+@all",
        ]);
        assert_eq!(reply.text(), "OK", "{reply:?}");
        AclUser { env: self, name }
    }

    /// Pauses `node` (SIGSTOP, or `docker pause`); it resumes when the returned guard drops,
    /// even when an assertion failed, so later tests are not stuck.
    pub fn pause(&self, node: &str) -> PausedNode {
        let mut faults = self.faults();
        faults.pause(node).expect("pause");
        PausedNode {
            faults,
            node: node.to_owned(),
        }
    }

    /// Like [`TestEnv::connect`], then `HELLO <protocol>`, asserting the server switched.
    pub fn connect_hello(&self) -> RawConn {
        let mut conn = self.connect();
        conn.hello(self.protocol);
        conn
    }

    /// A raw connection (plus `HELLO`) to a `host:port` the topology reported, e.g. from
    /// `CLUSTER SLOTS` or a sentinel.
    pub fn connect_to(&self, addr: &str) -> RawConn {
        let mut conn = RawConn::connect(&Target::parse_addr(addr), None);
        conn.hello(self.protocol);
        conn
    }

    /// The TLS client settings, with or without presenting the client certificate.
    pub fn tls_with_cert(&self, with_cert: bool) -> Option<TlsClient> {
        self.tls.as_ref().map(|files| TlsClient {
            files: files.clone(),
            with_cert,
        })
    }

    /// The node names the fault helpers accept for the data server(s), e.g. `redis-7400`.
    pub fn server_names(&self) -> Vec<String> {
        self.faults()
            .state()
            .servers()
            .map(|n| n.name.clone())
            .collect()
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Plain TCP.
    Tcp {
        /// Host name or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// TLS over TCP; the host is also the name checked against the certificate.
    Tls {
        /// Host name or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket.
    Unix(PathBuf),
}

impl Target {
    /// Reads `redis://h:p`, `rediss://h:p` or `redis+unix:///path` (no credentials, no db).
    pub fn from_url(url: &str) -> Self {
        if let Some(path) = url.strip_prefix("redis+unix://") {
            return Self::Unix(path.into());
        }
        if let Some(addr) = url.strip_prefix("rediss://") {
            let Self::Tcp { host, port } = Self::parse_addr(addr) else {
                unreachable!()
            };
            return Self::Tls { host, port };
        }
        match url.strip_prefix("redis://") {
            Some(addr) => Self::parse_addr(addr),
            None => {
                panic!("cannot connect to {url} directly (only redis://, rediss://, redis+unix://)")
            }
        }
    }

    /// Reads `host:port`.
    pub fn parse_addr(addr: &str) -> Self {
        let addr = addr.trim_end_matches('/');
        let (host, port) = addr
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{addr} is not host:port"));
        Self::Tcp {
            host: host.to_owned(),
            port: port
                .parse()
                .unwrap_or_else(|_| panic!("{addr} has a bad port")),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Tls { host, port } => write!(f, "tls://{host}:{port}"),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// TLS client settings for a [`Target::Tls`].
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The CA and client pair.
    pub files: TlsFiles,
    /// Whether to present the client certificate (the server accepts both ways).
    pub with_cert: bool,
}

trait Stream: Read + Write + Send {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }
}

impl Stream for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }
}

impl Stream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
}

/// A blocking connection that sends raw bytes and reads whole RESP replies.
pub struct RawConn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    target: Target,
}

impl std::fmt::Debug for RawConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConn")
            .field("target", &self.target)
            .finish()
    }
}

impl RawConn {
    /// Connects, panicking with the address on failure.
    pub fn connect(target: &Target, tls: Option<&TlsClient>) -> Self {
        Self::try_connect(target, tls).unwrap_or_else(|e| panic!("cannot connect to {target}: {e}"))
    }

    /// Connects (for TLS, also completes the handshake).
    pub fn try_connect(target: &Target, tls: Option<&TlsClient>) -> io::Result<Self> {
        let stream: Box<dyn Stream> = match target {
            Target::Unix(path) => Box::new(UnixStream::connect(path)?),
            Target::Tcp { host, port } => Box::new(tcp(host, *port)?),
            Target::Tls { host, port } => {
                let tls = tls.ok_or_else(|| io::Error::other("a TLS target needs TLS files"))?;
                let config =
                    xtask::client_config(&tls.files, tls.with_cert).map_err(io::Error::other)?;
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(io::Error::other)?;
                let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
                let mut stream = rustls::StreamOwned::new(conn, tcp(host, *port)?);
                stream.sock.set_read_timeout(Some(READ_TIMEOUT))?;
                // Handshake now, so certificate problems surface here and not in a read.
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                Box::new(stream)
            }
        };
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(Self {
            stream,
            buf: Vec::new(),
            target: target.clone(),
        })
    }

    /// Where this connection goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Changes the read timeout.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set a read timeout");
    }

    /// Writes `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes)
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.target));
    }

    /// Writes `bytes`, returning the error (e.g. after the server died).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
    }

    /// Reads until one whole reply is buffered and returns its exact bytes.
    pub fn try_read_raw(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match parse_frame(&self.buf) {
                Ok(Some((_, len))) => return Ok(self.buf.drain(..len).collect()),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // A signal (glommio's executor sends some to its thread) ended the wait early.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Like [`RawConn::try_read_raw`], panicking with the address on failure.
    pub fn read_raw(&mut self) -> Vec<u8> {
        self.try_read_raw()
            .unwrap_or_else(|e| panic!("read a reply from {}: {e}", self.target))
    }

    /// Reads one reply and parses it.
    pub fn read_frame(&mut self) -> Frame {
        let raw = self.read_raw();
        parse_frame(&raw)
            .expect("a whole frame")
            .expect("a whole frame")
            .0
    }

    /// Sends a command (RESP array of bulk strings) and returns its exact reply bytes.
    pub fn request_raw(&mut self, args: &[&str]) -> Vec<u8> {
        self.send_raw(&encode(args));
        self.read_raw()
    }

    /// Sends a command and returns its parsed reply.
    pub fn request(&mut self, args: &[&str]) -> Frame {
        self.send_raw(&encode(args));
        self.read_frame()
    }

    /// `HELLO <protocol>`, asserting the reply names that protocol.
    pub fn hello(&mut self, protocol: u8) -> Frame {
        let reply = self.request(&["HELLO", &protocol.to_string()]);
        assert_eq!(
            reply.get("proto").and_then(Frame::integer),
            Some(i64::from(protocol)),
            "HELLO {protocol} to {} answered {reply:?}",
            self.target
        );
        reply
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

fn tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host} resolves to nothing"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Whether an I/O error is a read timeout (`WouldBlock` on Unix, `TimedOut` elsewhere).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// An ACL user that exists until this guard drops. See [`TestEnv::acl_user`].
#[derive(Debug)]
pub struct AclUser<'a> {
    env: &'a TestEnv,
    name: &'static str,
}

impl Drop for AclUser<'_> {
    fn drop(&mut self) {
        let mut conn = self.env.connect_hello();
        conn.request(&["ACL", "DELUSER", self.name]);
    }
}

/// A node paused until this guard drops. See [`TestEnv::pause`].
#[derive(Debug)]
pub struct PausedNode {
    faults: Faults,
    node: String,
}

impl Drop for PausedNode {
    fn drop(&mut self) {
        let _ = self.faults.resume(&self.node);
    }
}
