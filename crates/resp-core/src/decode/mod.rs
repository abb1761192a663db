//! Zero-copy decoding of RESP2 and RESP3 frames.
//!
//! Decoding runs in two phases. The [scanner](scan) walks the bytes once, resumably, and
//! records what the frame holds as offsets. Once the frame is complete, its bytes are split off
//! the read buffer and frozen into one [`Bytes`], and the frame is built from the offsets by
//! slicing that `Bytes`: bulk payloads share the read buffer's memory and are never copied. (A
//! frame without string payloads, such as an integer, is built first and then simply skipped in
//! the read buffer.)

mod error;
mod scan;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub use self::error::{DecodeError, Limits};
use self::scan::{AggregateKind, Scanner, Span, Token};
use crate::Frame;

/// Splits whole frames off a read buffer, resuming where it stopped when the buffer ended
/// mid-frame.
///
/// Feed it the same buffer every time, appending what the socket delivers: between two calls
/// that return `Ok(None)`, the bytes already in the buffer must stay as they were (only the
/// decoder removes bytes from the front). To start over on another stream, call
/// [`reset`](Self::reset).
///
/// ```
/// use bytes::BytesMut;
/// use resp_core::{Decoder, Frame};
///
/// let mut decoder = Decoder::new();
/// let mut buf = BytesMut::from(&b"$5\r\nhel"[..]);
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None); // incomplete: buffer untouched
/// assert_eq!(buf.len(), 7);
/// buf.extend_from_slice(b"lo\r\n:42\r\n");
/// assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Frame::BulkString("hello".into())));
/// assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Frame::Integer(42)));
/// assert!(buf.is_empty());
/// ```
#[derive(Debug)]
pub struct Decoder {
    scanner: Scanner,
    /// Bytes split off as complete frames so far: the stream offset of the buffer's start.
    consumed: u64,
    /// The first error, returned again on every later call: the stream is out of sync.
    failed: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            scanner: Scanner::new(limits),
            consumed: 0,
            failed: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        self.scanner.limits()
    }

    /// Splits the next complete frame off the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` ends before the frame does; `buf` is then left untouched,
    /// and the next call resumes the scan where this one stopped instead of starting over.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the bytes are not valid RESP or exceed the [`Limits`]. The error is
    /// sticky: every later call returns it again until [`reset`](Self::reset).
    #[inline]
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if buf.len() < self.scanner.scanned() {
            // Someone else consumed from this buffer: what was scanned is gone, start afresh.
            self.scanner.reset();
        }
        if self.scanner.is_idle() && buf.starts_with(OK_LINE) {
            // The commonest reply of all (every SET in a pipeline gets one): no scan, no
            // tokens, and the frame's bytes are static.
            buf.advance(OK_LINE.len());
            self.scanner.note_examined(OK_LINE.len());
            self.consumed += OK_LINE.len() as u64;
            return Ok(Some(Frame::SimpleString(Bytes::from_static(b"OK"))));
        }
        if self.scanner.is_idle()
            && let Some((header, len)) = short_bulk(buf)
            && len <= self.scanner.limits().max_bulk_len
            && header - 2 <= self.scanner.limits().max_line_len
        {
            // A whole short bulk string (most GET replies): sliced off without tokens, as the
            // scan would, its payload unread.
            buf.advance(header);
            let payload = buf.split_to(len).freeze();
            buf.advance(2);
            self.scanner.note_examined(header);
            self.consumed += (header + len + 2) as u64;
            return Ok(Some(Frame::BulkString(payload)));
        }
        match self.scanner.scan(buf, self.consumed) {
            Ok(Some(len)) => {
                let frame = split_frame(&self.scanner.tokens, buf, len);
                self.scanner.reset();
                self.consumed += len as u64;
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Forgets the frame in progress and any sticky error, to decode a new stream.
    pub fn reset(&mut self) {
        self.scanner.reset();
        self.consumed = 0;
        self.failed = None;
    }

    /// How many bytes of input this decoder has examined over its life.
    ///
    /// Each byte of a line is looked at a bounded number of times however the input is split,
    /// and a bulk payload's bytes are not looked at at all (only the CRLF after it). This
    /// counter makes that checkable: it is the decoder's work, independent of timing.
    pub fn bytes_examined(&self) -> u64 {
        self.scanner.examined()
    }

    /// How long the buffer must be before the next call can finish the bulk payload that the
    /// frame in progress is waiting for: the payload's end and its CRLF, counted from the
    /// buffer's start. `None` when the last call did not stop inside a payload.
    ///
    /// A reader can grow its buffer to this length before the payload arrives, so that the
    /// payload is read in place instead of being moved each time the buffer grows. The length
    /// comes from the peer and is only bounded by [`Limits::max_bulk_len`]: grow towards it in
    /// steps bounded by what has arrived, not all at once.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use resp_core::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// let mut buf = BytesMut::from(&b"$10\r\nhel"[..]);
    /// assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    /// assert_eq!(decoder.pending_len(), Some(17)); // "$10\r\n", 10 bytes, "\r\n"
    /// ```
    pub fn pending_len(&self) -> Option<usize> {
        if self.failed.is_some() {
            return None;
        }
        self.scanner.pending_end()
    }

    /// The stream offset of the next byte the decoder will split off: the total length of the
    /// frames decoded since creation or [`reset`](Self::reset).
    pub fn stream_offset(&self) -> u64 {
        self.consumed
    }
}

/// Decodes one frame from the front of `src` with the default [`Limits`], without consuming
/// anything: returns the frame and its length in bytes, or `None` if `src` ends mid-frame.
/// Bulk payloads are slices of `src`.
///
/// Prefer a [`Decoder`] for a stream: it does not rescan a partial frame on every call.
///
/// ```
/// use bytes::Bytes;
/// use resp_core::{Frame, decode};
///
/// let src = Bytes::from_static(b"*2\r\n+OK\r\n#t\r\ntrailing");
/// let (frame, len) = decode(&src).unwrap().unwrap();
/// assert_eq!(len, 13);
/// let ok = Frame::SimpleString("OK".into());
/// assert_eq!(frame, Frame::Array(vec![ok, Frame::Boolean(true)]));
/// ```
///
/// # Errors
///
/// A [`DecodeError`] when the bytes are not valid RESP or exceed the limits.
pub fn decode(src: &Bytes) -> Result<Option<(Frame, usize)>, DecodeError> {
    decode_with_limits(src, Limits::default())
}

/// [`decode`] with explicit limits.
///
/// # Errors
///
/// A [`DecodeError`] when the bytes are not valid RESP or exceed `limits`.
pub fn decode_with_limits(
    src: &Bytes,
    limits: Limits,
) -> Result<Option<(Frame, usize)>, DecodeError> {
    let mut scanner = Scanner::new(limits);
    Ok(scanner
        .scan(src, 0)?
        .map(|len| (build(&scanner.tokens, src), len)))
}

/// Splits the `len` bytes of a complete frame off `buf` and builds the frame that `tokens`
/// describe from them.
fn split_frame(tokens: &[Token], buf: &mut BytesMut, len: usize) -> Frame {
    // The commonest replies of all are a handful of fixed statuses: answer those with static
    // bytes and skip the split, its reference count and, for a buffer never split before, an
    // allocation. (Simple strings are not bulk payloads; those are always slices.)
    if let [Token::SimpleString(span)] = *tokens
        && let Some(status) = well_known_status(&buf[span.start..span.end])
    {
        buf.advance(len);
        return Frame::SimpleString(Bytes::from_static(status));
    }
    if tokens.iter().any(|token| token.span().is_some()) {
        build_owned(tokens, buf.split_to(len).freeze())
    } else {
        // Nothing to slice (numbers, nulls, booleans and aggregates of them): skip freezing,
        // which costs a reference count, and for a buffer that was never split before, an
        // allocation.
        let frame = build(tokens, &Bytes::new());
        buf.advance(len);
        frame
    }
}

/// `+OK`, which [`Decoder::decode`] answers before scanning.
const OK_LINE: &[u8] = b"+OK\r\n";

/// A whole bulk string of fewer than 100 bytes at the front of `buf`: the length of its
/// header (`$<len>\r\n`) and of its payload. `None` for anything else, or when the frame has
/// not all arrived: the scanner then handles it as usual.
#[inline]
fn short_bulk(buf: &[u8]) -> Option<(usize, usize)> {
    let (header, len) = match *buf {
        [b'$', d, b'\r', b'\n', ..] if d.is_ascii_digit() => (4, usize::from(d - b'0')),
        [b'$', tens, ones, b'\r', b'\n', ..] if tens.is_ascii_digit() && ones.is_ascii_digit() => {
            (5, usize::from(tens - b'0') * 10 + usize::from(ones - b'0'))
        }
        _ => return None,
    };
    let end = header + len;
    (buf.get(end..end + 2)? == b"\r\n").then_some((header, len))
}

fn well_known_status(text: &[u8]) -> Option<&'static [u8]> {
    match text {
        b"OK" => Some(b"OK"),
        b"QUEUED" => Some(b"QUEUED"),
        b"PONG" => Some(b"PONG"),
        _ => None,
    }
}

/// [`build`] from a frame's own bytes. A frame of one string (`+OK`, `$5 hello`, an error: most
/// replies) takes `src` itself as its payload instead of a slice of it, which saves
/// incrementing and then decrementing the shared reference count.
fn build_owned(tokens: &[Token], src: Bytes) -> Frame {
    match *tokens {
        [Token::SimpleString(span)] => Frame::SimpleString(narrow(src, span)),
        [Token::SimpleError(span)] => Frame::SimpleError(narrow(src, span)),
        [Token::BigNumber(span)] => Frame::BigNumber(narrow(src, span)),
        [Token::BulkString(span)] => Frame::BulkString(narrow(src, span)),
        [Token::BulkError(span)] => Frame::BulkError(narrow(src, span)),
        _ => build(tokens, &src),
    }
}

/// `src[span]`, reusing `src` rather than slicing a new reference to it.
fn narrow(mut src: Bytes, span: Span) -> Bytes {
    src.truncate(span.end);
    src.advance(span.start);
    src
}

/// Phase two: the frame that `tokens` describe, with payloads sliced out of `src`.
fn build(tokens: &[Token], src: &Bytes) -> Frame {
    let mut next = 0;
    build_one(tokens, &mut next, src)
}

fn slice(src: &Bytes, span: Span) -> Bytes {
    src.slice(span.start..span.end)
}

/// Builds the frame starting at `tokens[*next]`. Recursion depth is bounded by
/// `Limits::max_depth`, which the scanner enforced.
fn build_one(tokens: &[Token], next: &mut usize, src: &Bytes) -> Frame {
    let token = tokens[*next];
    *next += 1;
    match token {
        Token::SimpleString(span) => Frame::SimpleString(slice(src, span)),
        Token::SimpleError(span) => Frame::SimpleError(slice(src, span)),
        Token::BigNumber(span) => Frame::BigNumber(slice(src, span)),
        Token::BulkString(span) | Token::Chunk(span) => Frame::BulkString(slice(src, span)),
        Token::BulkError(span) => Frame::BulkError(slice(src, span)),
        Token::Verbatim(span) => {
            let format = [src[span.start], src[span.start + 1], src[span.start + 2]];
            let text = src.slice(span.start + 4..span.end);
            Frame::verbatim(format, text)
        }
        Token::Integer(value) => Frame::Integer(value),
        Token::Double(value) => Frame::Double(value),
        Token::Boolean(value) => Frame::Boolean(value),
        Token::Null => Frame::Null,
        Token::NullBulkString => Frame::NullBulkString,
        Token::NullArray => Frame::NullArray,
        Token::StreamedString { chunks, total } => {
            let chunk_spans = tokens[*next..*next + chunks]
                .iter()
                .filter_map(|t| match t {
                    Token::Chunk(span) => Some(*span),
                    _ => None,
                });
            *next += chunks;
            // One chunk is sliced like any bulk; several must be joined, which copies.
            let text = if chunks == 1 {
                chunk_spans
                    .map(|span| slice(src, span))
                    .next()
                    .unwrap_or_default()
            } else {
                let mut joined = BytesMut::with_capacity(total);
                chunk_spans.for_each(|span| joined.put_slice(&src[span.start..span.end]));
                joined.freeze()
            };
            Frame::BulkString(text)
        }
        Token::Aggregate { kind, len } => match kind {
            AggregateKind::Array => Frame::Array(build_many(tokens, next, src, len)),
            AggregateKind::Set => Frame::Set(build_many(tokens, next, src, len)),
            AggregateKind::Push => Frame::Push(build_many(tokens, next, src, len)),
            AggregateKind::Map => Frame::Map(build_pairs(tokens, next, src, len)),
            AggregateKind::Attribute => {
                let attributes = build_pairs(tokens, next, src, len);
                let frame = Box::new(build_one(tokens, next, src));
                Frame::Attributed { attributes, frame }
            }
        },
    }
}

fn build_many(tokens: &[Token], next: &mut usize, src: &Bytes, len: usize) -> Vec<Frame> {
    // Safe to size from `len`: every element has already arrived and been scanned.
    let mut items = Vec::with_capacity(len);
    for _ in 0..len {
        items.push(build_one(tokens, next, src));
    }
    items
}

fn build_pairs(tokens: &[Token], next: &mut usize, src: &Bytes, len: usize) -> Vec<(Frame, Frame)> {
    let mut pairs = Vec::with_capacity(len);
    for _ in 0..len {
        let key = build_one(tokens, next, src);
        let value = build_one(tokens, next, src);
        pairs.push((key, value));
    }
    pairs
}

#[cfg(test)]
mod tests;
