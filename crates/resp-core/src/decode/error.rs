//! Decoding errors and limits.

/// Bounds that keep a hostile or broken peer from exhausting memory or stack.
///
/// The defaults are safe for a client talking to a real server. Lower them for a proxy or
/// server that reads from untrusted clients.
///
/// ```
/// use resp_core::Limits;
/// let mut limits = Limits::default();
/// limits.max_bulk_len = 1 << 20;
/// assert_eq!(limits.max_depth, 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest bulk string, bulk error, verbatim string or streamed string accepted, in bytes.
    /// Default: 512 MiB, the server's own `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// Most elements one aggregate may declare (pairs, for maps and attributes). Default: 2^27.
    /// Memory is never reserved from a declared count, only for elements that arrived.
    pub max_aggregate_len: usize,
    /// Deepest nesting of aggregates and attributes. Default: 128, far below what would overflow
    /// a 2 MiB thread stack while building or dropping the frame.
    pub max_depth: usize,
    /// Longest line (simple string, simple error, number, length header) without its CRLF.
    /// Default: 64 KiB.
    pub max_line_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bulk_len: 512 * 1024 * 1024,
            max_aggregate_len: 1 << 27,
            max_depth: 128,
            max_line_len: 64 * 1024,
        }
    }
}

/// What was wrong with the bytes a peer sent. Every variant carries the byte offset, counted from
/// the start of the stream the decoder has read, where the problem was found.
///
/// A decode error means the stream is out of sync: the connection cannot be used any further.
/// The [`Decoder`](crate::Decoder) keeps returning it until [`reset`](crate::Decoder::reset).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A frame started with a byte that is not a RESP type marker.
    #[error(
        "byte 0x{byte:02x} at offset {offset} does not start a RESP frame; \
         the peer is not speaking RESP or the stream is out of sync"
    )]
    InvalidType {
        /// The offending byte.
        byte: u8,
        /// Where it was.
        offset: u64,
    },
    /// A length header is not a decimal number, or is negative where that is not allowed.
    #[error("invalid length in the frame header at offset {offset}")]
    InvalidLength {
        /// Where the header starts.
        offset: u64,
    },
    /// An integer frame is not a decimal that fits in an `i64`.
    #[error("invalid integer at offset {offset}: expected a decimal that fits in 64 bits")]
    InvalidInteger {
        /// Where the frame starts.
        offset: u64,
    },
    /// A double frame is not a number, `inf`, `-inf` or `nan`.
    #[error("invalid double at offset {offset}")]
    InvalidDouble {
        /// Where the frame starts.
        offset: u64,
    },
    /// A boolean frame is neither `#t` nor `#f`.
    #[error("invalid boolean at offset {offset}: expected #t or #f")]
    InvalidBoolean {
        /// Where the frame starts.
        offset: u64,
    },
    /// A big number frame holds something other than an optional `-` and digits.
    #[error("invalid big number at offset {offset}: expected an optional '-' and digits")]
    InvalidBigNumber {
        /// Where the frame starts.
        offset: u64,
    },
    /// A RESP3 null (`_`) has content before its CRLF.
    #[error("invalid null at offset {offset}: '_' must be followed directly by CRLF")]
    InvalidNull {
        /// Where the frame starts.
        offset: u64,
    },
    /// A verbatim string is shorter than its `xxx:` format prefix, or lacks the colon.
    #[error("invalid verbatim string at offset {offset}: expected a 3-byte format and ':'")]
    InvalidVerbatim {
        /// Where the frame starts.
        offset: u64,
    },
    /// A bulk payload is not followed by CRLF: its declared length is wrong.
    #[error("expected CRLF after a bulk payload at offset {offset}; the declared length is wrong")]
    MissingCrlf {
        /// Where the CRLF should have been.
        offset: u64,
    },
    /// A carriage return inside a line is not followed by a line feed.
    #[error("carriage return without line feed at offset {offset}")]
    BareCarriageReturn {
        /// Where the carriage return is.
        offset: u64,
    },
    /// A line grew past [`Limits::max_line_len`] without a CRLF.
    #[error(
        "line at offset {offset} is longer than the limit of {max} bytes; \
         raise Limits::max_line_len if this peer is trusted"
    )]
    LineTooLong {
        /// The limit in force.
        max: usize,
        /// Where the line starts.
        offset: u64,
    },
    /// A bulk or streamed string declared more bytes than [`Limits::max_bulk_len`].
    #[error(
        "bulk of {len} bytes at offset {offset} exceeds the limit of {max} bytes; \
         raise Limits::max_bulk_len if this peer is trusted"
    )]
    BulkTooLong {
        /// The declared (or accumulated, for streamed strings) length.
        len: u64,
        /// The limit in force.
        max: usize,
        /// Where the frame starts.
        offset: u64,
    },
    /// An aggregate declared more elements than [`Limits::max_aggregate_len`].
    #[error(
        "aggregate of {len} elements at offset {offset} exceeds the limit of {max}; \
         raise Limits::max_aggregate_len if this peer is trusted"
    )]
    AggregateTooLong {
        /// The declared (or counted, for streamed aggregates) number of elements.
        len: u64,
        /// The limit in force.
        max: usize,
        /// Where the frame starts.
        offset: u64,
    },
    /// Aggregates nest deeper than [`Limits::max_depth`].
    #[error("aggregates nest deeper than the limit of {max} at offset {offset}")]
    TooDeep {
        /// The limit in force.
        max: usize,
        /// Where the aggregate that went too deep starts.
        offset: u64,
    },
    /// A streamed-string chunk (`;`) appeared outside a streamed string.
    #[error("streamed-string chunk ';' at offset {offset} outside a streamed string")]
    UnexpectedChunk {
        /// Where the chunk starts.
        offset: u64,
    },
    /// Something other than a chunk (`;`) appeared inside a streamed string.
    #[error("expected a streamed-string chunk ';' at offset {offset}")]
    ExpectedChunk {
        /// Where the unexpected frame starts.
        offset: u64,
    },
    /// An end marker (`.`) appeared outside a streamed aggregate.
    #[error("end marker '.' at offset {offset} outside a streamed aggregate")]
    UnexpectedEnd {
        /// Where the marker is.
        offset: u64,
    },
    /// A streamed map or attribute ended after a key with no value.
    #[error("streamed map ending at offset {offset} has a key without a value")]
    OddMapEntries {
        /// Where the end marker is.
        offset: u64,
    },
}

impl DecodeError {
    /// The stream offset the error refers to.
    pub fn offset(&self) -> u64 {
        match *self {
            Self::InvalidType { offset, .. }
            | Self::InvalidLength { offset }
            | Self::InvalidInteger { offset }
            | Self::InvalidDouble { offset }
            | Self::InvalidBoolean { offset }
            | Self::InvalidBigNumber { offset }
            | Self::InvalidNull { offset }
            | Self::InvalidVerbatim { offset }
            | Self::MissingCrlf { offset }
            | Self::BareCarriageReturn { offset }
            | Self::LineTooLong { offset, .. }
            | Self::BulkTooLong { offset, .. }
            | Self::AggregateTooLong { offset, .. }
            | Self::TooDeep { offset, .. }
            | Self::UnexpectedChunk { offset }
            | Self::ExpectedChunk { offset }
            | Self::UnexpectedEnd { offset }
            | Self::OddMapEntries { offset } => offset,
        }
    }
}
