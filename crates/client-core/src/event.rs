//! Handles and events the core hands to its driver.

use std::fmt;

use resp_core::Frame;

use crate::config::ServerAddr;
use crate::error::{Error, RequestError, ServerError};
use crate::value::FromValue;

/// A connection the core asked the adapter to open. Ids are never reused by one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u32);

impl ConnId {
    /// The raw number, for logs.
    pub fn index(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A submitted request. Ids are never reused by one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The raw number, for logs.
    pub fn index(self) -> u64 {
        self.0
    }
}

/// Something the driver must act on. Drain with `while let Some(e) = client.poll_event()`
/// after every input or mutation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Open a connection to `server` and report with `handle_connected` or
    /// `handle_connect_failed`.
    Connect {
        /// The id to report back with.
        conn: ConnId,
        /// Where to connect.
        server: ServerAddr,
        /// Whether to speak TLS, and the name to verify.
        tls: Option<crate::config::TlsSettings>,
    },
    /// Close this connection (or abandon the attempt to open it). Do not report
    /// `handle_closed` for it.
    Disconnect {
        /// The connection.
        conn: ConnId,
    },
    /// This connection has bytes to send: call `poll_transmit` for it. Raised when its output
    /// goes from empty to non-empty, so one event covers any number of queued requests.
    Transmit {
        /// The connection.
        conn: ConnId,
    },
    /// A request completed.
    Response {
        /// The request.
        id: RequestId,
        /// Its replies, or why there are none.
        result: Result<Reply, RequestError>,
    },
    /// A subscriber's buffer went from empty to not empty (or the subscriber was closed by
    /// `quit`): read it with [`Client::poll_pubsub`](crate::Client::poll_pubsub).
    PubSub {
        /// The subscriber.
        subscriber: crate::pubsub::SubscriberId,
    },
    /// Read this connection again: a full subscriber buffer that held it back has room (see
    /// [`Client::is_input_paused`](crate::Client::is_input_paused)). Hand the bytes kept
    /// from before to `handle_input` first.
    ResumeInput {
        /// The connection.
        conn: ConnId,
    },
    /// An out-of-band RESP3 push that neither a request, a subscription nor the client-side
    /// cache claimed (with [`Config::cache`](crate::Config::cache) set, the cache takes the
    /// `invalidate` pushes; without it they come here).
    Push {
        /// The connection it came on.
        conn: ConnId,
        /// The push frame.
        frame: Frame,
    },
}

/// The replies of a completed request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// The reply of a single command, or the `EXEC` reply of a transaction (an array of the
    /// commands' replies, or a null when a `WATCH`ed key changed).
    Single(Frame),
    /// The replies of a pipeline, in order. Error replies stay in place: one failed command
    /// does not fail the others.
    Pipeline(Vec<Frame>),
}

impl Reply {
    /// Converts a single reply into `T`: an error reply becomes [`Error::Server`].
    ///
    /// # Errors
    ///
    /// [`Error::Server`] for an error reply, [`Error::Conversion`] when the reply does not fit.
    pub fn into_value<T: FromValue>(self) -> Result<T, Error> {
        match self {
            Self::Single(frame) => frame_into(frame),
            Self::Pipeline(frames) => Ok(T::from_value(Frame::Array(frames))?),
        }
    }
}

/// Converts one reply frame, turning error replies into [`Error::Server`].
///
/// # Errors
///
/// [`Error::Server`] for an error reply, [`Error::Conversion`] when the frame does not fit.
pub fn frame_into<T: FromValue>(frame: Frame) -> Result<T, Error> {
    match frame {
        Frame::SimpleError(message) | Frame::BulkError(message) => {
            Err(ServerError { message }.into())
        }
        frame => Ok(T::from_value(frame)?),
    }
}
