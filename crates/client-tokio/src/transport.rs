//! The sockets the tokio runtime dials: TCP (with `TCP_NODELAY`), TLS over TCP (rustls), and Unix domain sockets.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use client_core::{ServerAddr, TlsSettings};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// One connected socket.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP, with `TCP_NODELAY`.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
    /// A Unix domain socket.
    Unix(UnixStream),
}

/// Dials `server`, and speaks TLS over it when `tls` says so, with `tls_config` (or the
/// system's roots when none was given).
///
/// # Errors
///
/// Whatever dialling or the TLS handshake failed with.
pub async fn connect(
    server: &ServerAddr,
    tls: Option<&TlsSettings>,
    tls_config: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Stream> {
    match server {
        ServerAddr::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        ServerAddr::Tcp { host, port } => {
            let tcp = TcpStream::connect((host.as_str(), *port)).await?;
            tcp.set_nodelay(true)?;
            let Some(tls) = tls else {
                return Ok(Stream::Tcp(tcp));
            };
            let config = client_driver::tls::config_or_system(tls_config)?;
            let name = client_driver::tls::server_name(&tls.server_name)?;
            let stream = TlsConnector::from(config).connect(name, tcp).await?;
            Ok(Stream::Tls(Box::new(stream)))
        }
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this adapter cannot dial {other}"),
        )),
    }
}

impl Stream {
    /// The socket address a TCP (or TLS) connection reached: what a host name resolved to.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(stream) => stream.peer_addr().ok(),
            Self::Tls(stream) => stream.get_ref().0.peer_addr().ok(),
            Self::Unix(_) => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
