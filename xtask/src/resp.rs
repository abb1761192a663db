//! A tiny blocking RESP2 client, only what xtask needs to set up and probe servers.
//!
//! It is deliberately independent of `resp-core`: xtask must keep working while the codec is
//! rewritten, and a bug in the codec must not hide behind a broken test harness.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{Error, Result};

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP address: an IP address or host name and a port.
    Tcp {
        /// IP address or host name.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix(PathBuf),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// PEM files for a TLS connection: the CA that signed the server, and the client's pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The test CA certificate (PEM).
    pub ca: PathBuf,
    /// The client certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// The client's private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// How to reach one server: its address and, for TLS, the files to trust and present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The address.
    pub address: Address,
    /// TLS files when the server only speaks TLS.
    pub tls: Option<TlsFiles>,
}

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and friends.
    Status(String),
    /// `-ERR ...`: the server refused the command.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$5\r\nhello`, or `$-1` (None).
    Bulk(Option<Vec<u8>>),
    /// `*2 ...`, or `*-1` (None).
    Array(Option<Vec<Self>>),
}

impl Reply {
    /// The reply as text when it is a status or a bulk string.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Status(s) => Some(s.clone()),
            Self::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// The elements when the reply is a non-null array.
    pub fn items(&self) -> Option<&[Self]> {
        match self {
            Self::Array(Some(items)) => Some(items),
            _ => None,
        }
    }

    /// The value when the reply is an integer.
    pub fn integer(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(s) => write!(f, "+{s}"),
            Self::Error(s) => write!(f, "-{s}"),
            Self::Integer(i) => write!(f, ":{i}"),
            Self::Bulk(None) | Self::Array(None) => f.write_str("(nil)"),
            Self::Bulk(Some(b)) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Self::Array(Some(items)) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

enum Transport {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Unix(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Unix(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            Self::Unix(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// A blocking connection to one server, speaking RESP2.
pub struct Conn {
    address: Address,
    reader: BufReader<Transport>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("address", &self.address)
            .finish()
    }
}

/// How long xtask waits for a reply before it calls a server unresponsive.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Conn {
    /// Connects to `endpoint` (TCP, Unix socket or TLS over TCP).
    pub fn open(endpoint: &Endpoint) -> Result<Self> {
        let address = endpoint.address.clone();
        let context = |what: &str| format!("{what} {address}");
        let transport = match (&endpoint.address, &endpoint.tls) {
            (Address::Unix(path), _) => {
                let s =
                    UnixStream::connect(path).map_err(|e| Error::io(context("connect to"), e))?;
                s.set_read_timeout(Some(REPLY_TIMEOUT))
                    .and_then(|()| s.set_write_timeout(Some(REPLY_TIMEOUT)))
                    .map_err(|e| Error::io(context("configure"), e))?;
                Transport::Unix(s)
            }
            (Address::Tcp { host, port }, tls) => {
                let tcp =
                    tcp_connect(host, *port).map_err(|e| Error::io(context("connect to"), e))?;
                tcp.set_read_timeout(Some(REPLY_TIMEOUT))
                    .and_then(|()| tcp.set_write_timeout(Some(REPLY_TIMEOUT)))
                    .and_then(|()| tcp.set_nodelay(true))
                    .map_err(|e| Error::io(context("configure"), e))?;
                match tls {
                    None => Transport::Tcp(tcp),
                    Some(files) => {
                        let config = client_config(files, true)?;
                        let name = ServerName::try_from(host.clone())
                            .map_err(|e| Error::Tls(format!("bad server name {host}: {e}")))?;
                        let conn = rustls::ClientConnection::new(config, name)
                            .map_err(|e| Error::Tls(e.to_string()))?;
                        Transport::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
                    }
                }
            }
        };
        Ok(Self {
            address,
            reader: BufReader::new(transport),
        })
    }

    /// The address this connection goes to.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Changes how long a read may block (the default is [`REPLY_TIMEOUT`]).
    pub fn set_read_timeout(&mut self, timeout: Duration) -> Result<()> {
        let r = match self.reader.get_mut() {
            Transport::Tcp(s) => s.set_read_timeout(Some(timeout)),
            Transport::Unix(s) => s.set_read_timeout(Some(timeout)),
            Transport::Tls(s) => s.sock.set_read_timeout(Some(timeout)),
        };
        r.map_err(|e| Error::io(format!("configure {}", self.address), e))
    }

    /// Sends one command and reads its reply; an error reply is returned as [`Reply::Error`].
    pub fn call<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Result<Reply> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            let arg = arg.as_ref();
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let command = render(args);
        let writer = self.reader.get_mut();
        writer
            .write_all(&out)
            .and_then(|()| writer.flush())
            .map_err(|e| Error::io(format!("send `{command}` to {}", self.address), e))?;
        read_reply(&mut self.reader).map_err(|e| {
            Error::io(
                format!("read the reply to `{command}` from {}", self.address),
                e,
            )
        })
    }

    /// Like [`Conn::call`], but an error reply becomes [`Error::Server`].
    pub fn ok<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Result<Reply> {
        match self.call(args)? {
            Reply::Error(message) => Err(Error::Server {
                node: self.address.to_string(),
                command: render(args),
                message,
            }),
            reply => Ok(reply),
        }
    }

    /// Sends a command whose reply must be text (a status or bulk string), e.g. `INFO`.
    pub fn text<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Result<String> {
        let reply = self.ok(args)?;
        reply.text().ok_or_else(|| Error::Protocol {
            node: self.address.to_string(),
            command: render(args),
            reply: reply.to_string(),
        })
    }
}

/// Renders a command for messages: `CLUSTER SETSLOT 42 NODE abc`.
fn render<S: AsRef<[u8]>>(args: &[S]) -> String {
    args.iter()
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn tcp_connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host} resolves to nothing"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Builds a rustls client configuration that trusts the test CA and, when `with_client_cert`,
/// presents the client certificate.
pub fn client_config(
    files: &TlsFiles,
    with_client_cert: bool,
) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(&files.ca)? {
        roots
            .add(cert)
            .map_err(|e| Error::Tls(format!("{} is not a usable CA: {e}", files.ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = if with_client_cert {
        let certs = load_certs(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .map_err(|e| Error::Tls(format!("cannot read the key {}: {e}", files.key.display())))?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| Error::Tls(e.to_string()))?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(config))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::Tls(format!(
                "cannot read certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// Reads one RESP2 reply.
fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(1);
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad length {s:?}")))
    };
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(int(rest)?),
        "$" => match usize::try_from(int(rest)?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut data = vec![0; len + 2];
                r.read_exact(&mut data)?;
                data.truncate(len);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match usize::try_from(int(rest)?) {
            Err(_) => Reply::Array(None),
            Ok(len) => Reply::Array(Some(
                (0..len).map(|_| read_reply(r)).collect::<io::Result<_>>()?,
            )),
        },
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a RESP2 reply: {line:?}"),
            ));
        }
    })
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    if !line.ends_with(b"\r\n") || line.len() < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("truncated line {:?}", String::from_utf8_lossy(&line)),
        ));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Parses `INFO` output into `(field, value)` pairs.
pub(crate) fn info_fields(info: &str) -> impl Iterator<Item = (&str, &str)> {
    info.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end().split_once(':'))
}

/// One field of `INFO` (or `CLUSTER INFO`) output.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info_fields(info).find(|(k, _)| *k == field).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut io::Cursor::new(bytes))
    }

    #[test]
    fn parses_every_resp2_reply_kind() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Reply::Status("OK".into()));
        assert_eq!(
            parse(b"-ERR no\r\n").unwrap(),
            Reply::Error("ERR no".into())
        );
        assert_eq!(parse(b":-7\r\n").unwrap(), Reply::Integer(-7));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"*-1\r\n").unwrap(), Reply::Array(None));
        assert_eq!(
            parse(b"$5\r\nhe\r\no\r\n").unwrap(),
            Reply::Bulk(Some(b"he\r\no".to_vec()))
        );
        assert_eq!(
            parse(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n").unwrap(),
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Array(Some(vec![Reply::Bulk(Some(b"x".to_vec()))]))
            ]))
        );
    }

    #[test]
    fn truncated_or_foreign_input_is_an_error() {
        assert_eq!(parse(b"").unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            parse(b"+OK").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            parse(b"%1\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(parse(b"$3\r\nab").is_err());
    }

    #[test]
    fn info_fields_skip_sections() {
        let info = "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n";
        assert_eq!(info_field(info, "role"), Some("slave"));
        assert_eq!(info_field(info, "master_link_status"), Some("up"));
        assert_eq!(info_field(info, "nope"), None);
    }
}
