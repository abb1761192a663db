//! Connections over `futures-io` streams, shared by the runtimes built on those traits
//! (async-std, smol, glommio): one [`Stream`] type for TCP, TLS and Unix sockets, TLS through
//! futures-rustls, and the reads and writes a [`Runtime`](crate::Runtime) implementation
//! hands to the driver. A runtime only dials its own TCP and Unix sockets.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

#[doc(hidden)]
pub use bytes::BytesMut;
use client_core::{ServerAddr, TlsSettings};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
#[doc(hidden)]
pub use rustls;

/// One connected socket of a futures-io runtime: `T` is its TCP stream, `U` its Unix stream.
#[derive(Debug)]
pub enum Stream<T, U> {
    /// Plain TCP.
    Tcp(T),
    /// TLS over TCP.
    Tls(Box<futures_rustls::client::TlsStream<T>>),
    /// A Unix domain socket.
    Unix(U),
}

/// The reading half of a [`Stream`], for [`Runtime::Reader`](crate::Runtime::Reader).
pub type Reader<T, U> = ReadHalf<Stream<T, U>>;

/// The writing half of a [`Stream`], for [`Runtime::Writer`](crate::Runtime::Writer).
#[derive(Debug)]
pub struct Writer<T, U> {
    half: WriteHalf<Stream<T, U>>,
    /// Where several slices are gathered into one write, for streams whose vectored write
    /// sends only the first slice; `None` when the stream writes slices together.
    gather: Option<Vec<u8>>,
}

/// How a futures-io runtime dials its own sockets; [`connect`] does the rest (TLS, splitting).
pub trait Dial {
    /// The runtime's TCP stream.
    type Tcp: AsyncRead + AsyncWrite + Unpin;
    /// The runtime's Unix stream.
    type Unix: AsyncRead + AsyncWrite + Unpin;
    /// Whether both write several slices in one vectored write (see [`Stream::split`]).
    const VECTORED: bool;

    /// Connects to `host:port` with `TCP_NODELAY`, returning the stream and the address it
    /// reached.
    fn tcp(
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<(Self::Tcp, Option<SocketAddr>)>>;

    /// Connects to the Unix socket at `path`.
    fn unix(path: &Path) -> impl Future<Output = io::Result<Self::Unix>>;
}

/// The [`Runtime`](crate::Runtime) items every futures-io runtime writes the same way, for a
/// runtime type that implements [`Dial`]: `Reader`, `Writer`, `connect`, `read`, `write`,
/// `flush`, `try_write` and `try_flush`.
/// Use it inside the `impl Runtime` block; the runtime adds `Local`, `spawn`, `sleep_until`
/// and `yield_now`.
#[macro_export]
macro_rules! futures_io_runtime {
    () => {
        type Reader =
            $crate::io::Reader<<Self as $crate::io::Dial>::Tcp, <Self as $crate::io::Dial>::Unix>;
        type Writer =
            $crate::io::Writer<<Self as $crate::io::Dial>::Tcp, <Self as $crate::io::Dial>::Unix>;

        async fn connect(
            server: $crate::ServerAddr,
            tls: ::std::option::Option<$crate::TlsSettings>,
            tls_config: ::std::option::Option<::std::sync::Arc<$crate::io::rustls::ClientConfig>>,
        ) -> ::std::io::Result<$crate::Connection<Self>> {
            let (reader, writer, peer) =
                $crate::io::connect::<Self>(server, tls, tls_config).await?;
            ::std::result::Result::Ok($crate::Connection {
                reader,
                writer,
                peer,
            })
        }

        fn read<'a>(
            reader: &'a mut Self::Reader,
            buf: &'a mut $crate::io::BytesMut,
        ) -> impl ::std::future::Future<Output = ::std::io::Result<usize>> + 'a {
            $crate::io::read(reader, buf)
        }

        fn write<'a>(
            writer: &'a mut Self::Writer,
            slices: &'a [::std::io::IoSlice<'a>],
        ) -> impl ::std::future::Future<Output = ::std::io::Result<usize>> + 'a {
            $crate::io::write(writer, slices)
        }

        fn flush(
            writer: &mut Self::Writer,
        ) -> impl ::std::future::Future<Output = ::std::io::Result<()>> + '_ {
            $crate::io::flush(writer)
        }

        fn try_write(
            writer: &mut Self::Writer,
            slices: &[::std::io::IoSlice<'_>],
        ) -> ::std::option::Option<::std::io::Result<usize>> {
            $crate::io::try_write(writer, slices)
        }

        fn try_flush(writer: &mut Self::Writer) -> bool {
            $crate::io::try_flush(writer)
        }
    };
}

/// The halves of a dialled connection and the address it reached.
pub type Dialled<T, U> = (Reader<T, U>, Writer<T, U>, Option<SocketAddr>);

/// Dials `server` with `D`'s sockets, speaking TLS over TCP when `tls` says so, and splits the
/// stream: [`Runtime::connect`](crate::Runtime::connect) for a futures-io runtime.
///
/// # Errors
///
/// Whatever dialling or the TLS handshake failed with; `Unsupported` for an address kind the
/// adapters cannot dial.
pub async fn connect<D: Dial>(
    server: ServerAddr,
    tls: Option<TlsSettings>,
    config: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Dialled<D::Tcp, D::Unix>> {
    let (stream, peer) = match &server {
        ServerAddr::Unix(path) => (Stream::Unix(D::unix(path).await?), None),
        ServerAddr::Tcp { host, port } => {
            let (tcp, peer) = D::tcp(host, *port).await?;
            let stream = match &tls {
                Some(settings) => self::tls(tcp, settings, config).await?,
                None => Stream::Tcp(tcp),
            };
            (stream, peer)
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("this adapter cannot dial {other}"),
            ));
        }
    };
    let (reader, writer) = stream.split(D::VECTORED);
    Ok((reader, writer, peer))
}

/// Speaks TLS over the connected `tcp`, checking the certificate against `tls.server_name`
/// with `config` (the system's roots when it is `None`).
///
/// # Errors
///
/// A bad server name, no usable root certificates, or a failed handshake.
pub async fn tls<T, U>(
    tcp: T,
    tls: &TlsSettings,
    config: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Stream<T, U>>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let config = crate::tls::config_or_system(config)?;
    let name = crate::tls::server_name(&tls.server_name)?;
    let stream = futures_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(Stream::Tls(Box::new(stream)))
}

impl<T, U> Stream<T, U>
where
    T: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    /// Splits the stream for the reader and writer tasks. `vectored` says whether the TCP and
    /// Unix streams write several slices in one call; when they do not, the writer copies the
    /// slices of one write together first (one system call rather than one per command).
    pub fn split(self, vectored: bool) -> (Reader<T, U>, Writer<T, U>) {
        let (reader, half) = AsyncReadExt::split(self);
        let gather = (!vectored).then(Vec::new);
        (reader, Writer { half, gather })
    }
}

/// Reads what is available into the spare capacity of `buf`: [`Runtime::read`] for a
/// futures-io stream. futures-io reads into initialized memory, so the spare capacity is
/// zeroed first.
///
/// [`Runtime::read`]: crate::Runtime::read
///
/// # Errors
///
/// The stream's read error.
pub async fn read<S: AsyncRead + Unpin>(reader: &mut S, buf: &mut BytesMut) -> io::Result<usize> {
    let filled = buf.len();
    buf.resize(buf.capacity(), 0);
    let result = reader.read(&mut buf[filled..]).await;
    buf.truncate(filled + *result.as_ref().unwrap_or(&0));
    result
}

/// The most one gathered write copies together.
const GATHER_LIMIT: usize = 256 * 1024;

/// Writes some of `slices`: [`Runtime::write`](crate::Runtime::write) for a futures-io
/// stream.
///
/// # Errors
///
/// The stream's write error.
pub async fn write<T, U>(writer: &mut Writer<T, U>, slices: &[IoSlice<'_>]) -> io::Result<usize>
where
    T: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let Some(gather) = writer.gather.as_mut().filter(|_| slices.len() > 1) else {
        return writer.half.write_vectored(slices).await;
    };
    gather.clear();
    for slice in slices {
        if gather.len() + slice.len() > GATHER_LIMIT && !gather.is_empty() {
            break;
        }
        gather.extend_from_slice(slice);
    }
    writer.half.write_all(gather).await?;
    Ok(gather.len())
}

/// Flushes what the stream still buffers: [`Runtime::flush`](crate::Runtime::flush) for a
/// futures-io stream.
///
/// # Errors
///
/// The stream's write error.
pub async fn flush<T, U>(writer: &mut Writer<T, U>) -> io::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    writer.half.flush().await
}

/// One write attempt that does not wait: [`Runtime::try_write`](crate::Runtime::try_write)
/// for a futures-io stream. `None` for streams that gather slices (glommio's): their writes
/// are copies handed to io_uring, not one system call that either happens or does not.
pub fn try_write<T, U>(
    writer: &mut Writer<T, U>,
    slices: &[IoSlice<'_>],
) -> Option<io::Result<usize>>
where
    T: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    if writer.gather.is_some() {
        return None;
    }
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match Pin::new(&mut writer.half).poll_write_vectored(&mut cx, slices) {
        Poll::Ready(result) => Some(result),
        Poll::Pending => None,
    }
}

/// [`Runtime::try_flush`](crate::Runtime::try_flush) for a futures-io stream.
pub fn try_flush<T, U>(writer: &mut Writer<T, U>) -> bool
where
    T: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let mut cx = Context::from_waker(std::task::Waker::noop());
    matches!(
        Pin::new(&mut writer.half).poll_flush(&mut cx),
        Poll::Ready(Ok(()))
    )
}

impl<T, U> AsyncRead for Stream<T, U>
where
    T: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<T, U> AsyncWrite for Stream<T, U>
where
    T: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
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
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_close(cx),
            Self::Tls(s) => Pin::new(s).poll_close(cx),
            Self::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}
