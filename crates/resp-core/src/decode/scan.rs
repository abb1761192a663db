//! Phase one of decoding: find where a frame ends, recording what it holds as offsets.
//!
//! The scanner is resumable. When the buffer ends mid-frame it remembers how far it got (the
//! open aggregates, a bulk whose payload is still arriving, where an unfinished line search
//! stopped), so the next call continues from there. Every byte is examined at most a constant
//! number of times, however the input is split: a 512 MiB bulk arriving in 4 KiB reads costs
//! one header parse and one CRLF check, not a rescan per read.

use super::error::{DecodeError, Limits};

/// A byte range of the frame being scanned, relative to its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Which aggregate a header opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AggregateKind {
    Array,
    Map,
    Set,
    Push,
    Attribute,
}

/// One scanned element, in wire order. Aggregates are followed by their elements.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Token {
    SimpleString(Span),
    SimpleError(Span),
    BigNumber(Span),
    BulkString(Span),
    BulkError(Span),
    /// The whole payload, `xxx:` prefix included.
    Verbatim(Span),
    Integer(i64),
    Double(f64),
    Boolean(bool),
    Null,
    NullBulkString,
    NullArray,
    /// `len` counts elements, or pairs for maps and attributes (whose attached frame follows
    /// the pairs).
    Aggregate {
        kind: AggregateKind,
        len: usize,
    },
    /// A streamed string; its `chunks` chunk tokens follow, `total` bytes in all.
    StreamedString {
        chunks: usize,
        total: usize,
    },
    Chunk(Span),
}

impl Token {
    /// The payload's bytes, for the tokens that have one.
    pub(crate) fn span(&self) -> Option<Span> {
        match *self {
            Self::SimpleString(span)
            | Self::SimpleError(span)
            | Self::BigNumber(span)
            | Self::BulkString(span)
            | Self::BulkError(span)
            | Self::Verbatim(span)
            | Self::Chunk(span) => Some(span),
            _ => None,
        }
    }
}

/// An aggregate whose elements have not all been scanned.
#[derive(Clone, Copy, Debug)]
enum Open {
    /// A counted aggregate still waiting for `remaining` elements.
    Counted { remaining: usize },
    /// A streamed aggregate (`*?`), closed by `.`; `token` is its `Aggregate` token.
    Streamed {
        token: usize,
        kind: AggregateKind,
        count: usize,
        header_at: usize,
    },
    /// A streamed string (`$?`), closed by `;0`; `token` is its `StreamedString` token, which
    /// gets the counts when the string ends.
    StreamedString {
        token: usize,
        header_at: usize,
        chunks: usize,
        total: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BulkKind {
    String,
    Error,
    Verbatim,
    Chunk,
}

/// A bulk whose header has been read and whose payload starts at `start`.
#[derive(Clone, Copy, Debug)]
struct PendingBulk {
    kind: BulkKind,
    start: usize,
    len: usize,
}

#[derive(Debug)]
pub(crate) struct Scanner {
    limits: Limits,
    /// The next unscanned byte, relative to the frame's first byte (which is the buffer's).
    pos: usize,
    /// Where an unfinished search for the current line's CR stopped.
    line_search: usize,
    pending_bulk: Option<PendingBulk>,
    open: Vec<Open>,
    pub(crate) tokens: Vec<Token>,
    examined: u64,
}

/// Token vectors that grew past this many entries for one huge frame are not kept for the next.
const KEEP_TOKEN_CAPACITY: usize = 1 << 12;

impl Scanner {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            pos: 0,
            line_search: 0,
            pending_bulk: None,
            open: Vec::new(),
            tokens: Vec::new(),
            examined: 0,
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many bytes the scanner has read, over its whole life. Bulk payloads are not read,
    /// only their trailing CRLF.
    pub(crate) fn examined(&self) -> u64 {
        self.examined
    }

    /// Whether no frame is in progress: nothing of it scanned, not even part of its first
    /// line.
    pub(crate) fn is_idle(&self) -> bool {
        self.pos == 0 && self.line_search == 0
    }

    /// Counts `n` bytes that the decoder read itself, around the scanner.
    pub(crate) fn note_examined(&mut self, n: usize) {
        self.examined += n as u64;
    }

    /// How many bytes of the current frame have been scanned.
    pub(crate) fn scanned(&self) -> usize {
        self.pos
    }

    /// Where the bulk payload being waited for ends, its CRLF included, relative to the
    /// frame's first byte; `None` unless the scan stopped inside a payload.
    pub(crate) fn pending_end(&self) -> Option<usize> {
        self.pending_bulk.map(|bulk| bulk.start + bulk.len + 2)
    }

    /// Forgets the frame in progress, keeping limits and statistics.
    pub(crate) fn reset(&mut self) {
        self.pos = 0;
        self.line_search = 0;
        self.pending_bulk = None;
        self.open.clear();
        self.tokens.clear();
        if self.tokens.capacity() > KEEP_TOKEN_CAPACITY {
            self.tokens = Vec::new();
        }
    }

    /// Scans `buf`, which must start with the frame's first byte and hold at least what earlier
    /// calls since the last reset saw. Returns the frame's length once it is complete, with its
    /// tokens in `self.tokens`; `None` while more bytes are needed. `base` is the stream offset
    /// of `buf[0]`, for error messages.
    pub(crate) fn scan(&mut self, buf: &[u8], base: u64) -> Result<Option<usize>, DecodeError> {
        loop {
            if let Some(bulk) = self.pending_bulk {
                let end = bulk.start + bulk.len;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                self.examined += 2;
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(DecodeError::MissingCrlf {
                        offset: base + end as u64,
                    });
                }
                self.pending_bulk = None;
                self.pos = end + 2;
                self.line_search = self.pos;
                let span = Span {
                    start: bulk.start,
                    end,
                };
                let token = match bulk.kind {
                    BulkKind::String => Token::BulkString(span),
                    BulkKind::Error => Token::BulkError(span),
                    BulkKind::Verbatim => {
                        if buf[bulk.start + 3] != b':' {
                            let offset = base + bulk.start as u64;
                            return Err(DecodeError::InvalidVerbatim { offset });
                        }
                        Token::Verbatim(span)
                    }
                    BulkKind::Chunk => {
                        // A chunk is part of its streamed string, not an element of its own.
                        self.tokens.push(Token::Chunk(span));
                        continue;
                    }
                };
                if self.element(token, base)? {
                    return Ok(Some(self.pos));
                }
                continue;
            }

            let header_at = self.pos;
            let Some(&marker) = buf.get(header_at) else {
                return Ok(None);
            };
            let offset = base + header_at as u64;
            if !is_marker(marker) {
                return Err(DecodeError::InvalidType {
                    byte: marker,
                    offset,
                });
            }
            if marker != b';' && matches!(self.open.last(), Some(Open::StreamedString { .. })) {
                return Err(DecodeError::ExpectedChunk { offset });
            }
            let Some(line) = self.line(buf, base)? else {
                return Ok(None);
            };
            let content = &buf[line.start..line.end];
            self.pos = line.end + 2;
            self.line_search = self.pos;

            let token = match marker {
                b'+' => Token::SimpleString(line),
                b'-' => Token::SimpleError(line),
                b':' => Token::Integer(
                    parse_i64(content).ok_or(DecodeError::InvalidInteger { offset })?,
                ),
                b',' => Token::Double(
                    parse_double(content).ok_or(DecodeError::InvalidDouble { offset })?,
                ),
                b'#' => match content {
                    b"t" => Token::Boolean(true),
                    b"f" => Token::Boolean(false),
                    _ => return Err(DecodeError::InvalidBoolean { offset }),
                },
                b'_' if content.is_empty() => Token::Null,
                b'_' => return Err(DecodeError::InvalidNull { offset }),
                b'(' if is_big_number(content) => Token::BigNumber(line),
                b'(' => return Err(DecodeError::InvalidBigNumber { offset }),
                b'$' if content == b"?" => {
                    self.check_depth(offset)?;
                    let token = self.tokens.len();
                    self.open.push(Open::StreamedString {
                        token,
                        header_at,
                        chunks: 0,
                        total: 0,
                    });
                    self.tokens.push(Token::StreamedString {
                        chunks: 0,
                        total: 0,
                    });
                    continue;
                }
                b'$' if content == b"-1" => Token::NullBulkString,
                b'$' | b'!' | b'=' | b';' => {
                    let len = parse_len(content).ok_or(DecodeError::InvalidLength { offset })?;
                    let kind = match marker {
                        b'$' => BulkKind::String,
                        b'!' => BulkKind::Error,
                        b'=' => BulkKind::Verbatim,
                        _ => BulkKind::Chunk,
                    };
                    if kind == BulkKind::Chunk {
                        let Some(Open::StreamedString {
                            token,
                            header_at,
                            chunks,
                            total,
                        }) = self.open.last_mut()
                        else {
                            return Err(DecodeError::UnexpectedChunk { offset });
                        };
                        let total_now = *total as u64 + len as u64;
                        if total_now > self.limits.max_bulk_len as u64 {
                            let max = self.limits.max_bulk_len;
                            let offset = base + *header_at as u64;
                            return Err(DecodeError::BulkTooLong {
                                len: total_now,
                                max,
                                offset,
                            });
                        }
                        if len == 0 {
                            let (chunks, total) = (*chunks, *total);
                            self.tokens[*token] = Token::StreamedString { chunks, total };
                            self.open.pop();
                            if self.complete_element(base)? {
                                return Ok(Some(self.pos));
                            }
                            continue;
                        }
                        *chunks += 1;
                        *total += len;
                    } else if len > self.limits.max_bulk_len {
                        let max = self.limits.max_bulk_len;
                        return Err(DecodeError::BulkTooLong {
                            len: len as u64,
                            max,
                            offset,
                        });
                    }
                    if kind == BulkKind::Verbatim && len < 4 {
                        return Err(DecodeError::InvalidVerbatim { offset });
                    }
                    self.pending_bulk = Some(PendingBulk {
                        kind,
                        start: self.pos,
                        len,
                    });
                    continue;
                }
                b'*' if content == b"-1" => Token::NullArray,
                b'*' | b'%' | b'~' | b'>' | b'|' => {
                    let kind = match marker {
                        b'*' => AggregateKind::Array,
                        b'%' => AggregateKind::Map,
                        b'~' => AggregateKind::Set,
                        b'>' => AggregateKind::Push,
                        _ => AggregateKind::Attribute,
                    };
                    if content == b"?" && kind != AggregateKind::Attribute {
                        self.check_depth(offset)?;
                        let token = self.tokens.len();
                        self.open.push(Open::Streamed {
                            token,
                            kind,
                            count: 0,
                            header_at,
                        });
                        self.tokens.push(Token::Aggregate { kind, len: 0 });
                        continue;
                    }
                    let len = parse_len(content).ok_or(DecodeError::InvalidLength { offset })?;
                    if len > self.limits.max_aggregate_len {
                        let max = self.limits.max_aggregate_len;
                        return Err(DecodeError::AggregateTooLong {
                            len: len as u64,
                            max,
                            offset,
                        });
                    }
                    // Saturating: with `max_aggregate_len` raised near `usize::MAX`, a declared
                    // count can double past it, and such a frame can never complete anyway.
                    let elements = match kind {
                        AggregateKind::Map => len.saturating_mul(2),
                        AggregateKind::Attribute => len.saturating_mul(2).saturating_add(1),
                        _ => len,
                    };
                    let token = Token::Aggregate { kind, len };
                    if elements == 0 {
                        token
                    } else {
                        self.check_depth(offset)?;
                        self.tokens.push(token);
                        self.open.push(Open::Counted {
                            remaining: elements,
                        });
                        continue;
                    }
                }
                b'.' => {
                    let Some(Open::Streamed {
                        token, kind, count, ..
                    }) = self.open.last().copied()
                    else {
                        return Err(DecodeError::UnexpectedEnd { offset });
                    };
                    if !content.is_empty() {
                        return Err(DecodeError::UnexpectedEnd { offset });
                    }
                    let len = if kind == AggregateKind::Map {
                        if count % 2 != 0 {
                            return Err(DecodeError::OddMapEntries { offset });
                        }
                        count / 2
                    } else {
                        count
                    };
                    self.tokens[token] = Token::Aggregate { kind, len };
                    self.open.pop();
                    if self.complete_element(base)? {
                        return Ok(Some(self.pos));
                    }
                    continue;
                }
                _ => {
                    return Err(DecodeError::InvalidType {
                        byte: marker,
                        offset,
                    });
                }
            };
            if self.element(token, base)? {
                return Ok(Some(self.pos));
            }
        }
    }

    /// Records a complete element; true when it completes the whole frame.
    fn element(&mut self, token: Token, base: u64) -> Result<bool, DecodeError> {
        self.tokens.push(token);
        self.complete_element(base)
    }

    /// Counts one finished element against the innermost open aggregate, closing every
    /// aggregate that this fills. True when nothing is left open: the frame is complete.
    fn complete_element(&mut self, base: u64) -> Result<bool, DecodeError> {
        loop {
            match self.open.last_mut() {
                None => return Ok(true),
                Some(Open::Counted { remaining }) => {
                    *remaining -= 1;
                    if *remaining > 0 {
                        return Ok(false);
                    }
                    self.open.pop();
                }
                Some(Open::Streamed {
                    kind,
                    count,
                    header_at,
                    ..
                }) => {
                    *count += 1;
                    let per_entry = if *kind == AggregateKind::Map { 2 } else { 1 };
                    if *count / per_entry > self.limits.max_aggregate_len {
                        let (max, offset) = (self.limits.max_aggregate_len, *header_at as u64);
                        let len = (*count / per_entry) as u64;
                        return Err(DecodeError::AggregateTooLong {
                            len,
                            max,
                            offset: base + offset,
                        });
                    }
                    return Ok(false);
                }
                Some(Open::StreamedString { header_at, .. }) => {
                    // Only chunks reach a streamed string, and chunks are not elements.
                    let offset = base + *header_at as u64;
                    return Err(DecodeError::ExpectedChunk { offset });
                }
            }
        }
    }

    fn check_depth(&self, offset: u64) -> Result<(), DecodeError> {
        if self.open.len() >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                max: self.limits.max_depth,
                offset,
            });
        }
        Ok(())
    }

    /// Finds the line that starts after the marker at `self.pos`, resuming an earlier search.
    /// Returns its content, without the marker and CRLF.
    fn line(&mut self, buf: &[u8], base: u64) -> Result<Option<Span>, DecodeError> {
        let start = self.pos + 1;
        let from = self.line_search.max(start);
        // Never search past the longest line allowed: a hostile peer must not make us read
        // megabytes to find out that a line is too long.
        // Saturating: `max_line_len` may be set to `usize::MAX` to mean no limit.
        let line_end = start.saturating_add(self.limits.max_line_len);
        let limit = line_end.saturating_add(1).min(buf.len());
        let too_long = || DecodeError::LineTooLong {
            max: self.limits.max_line_len,
            offset: base + self.pos as u64,
        };
        let window = buf.get(from..limit).unwrap_or(&[]);
        match find_cr(window) {
            Some(i) => {
                let cr = from + i;
                self.examined += i as u64 + 1;
                if cr - start > self.limits.max_line_len {
                    return Err(too_long());
                }
                match buf.get(cr + 1) {
                    None => {
                        // The LF has not arrived; look at this CR again next time.
                        self.line_search = cr;
                        Ok(None)
                    }
                    Some(b'\n') => Ok(Some(Span { start, end: cr })),
                    Some(_) => Err(DecodeError::BareCarriageReturn {
                        offset: base + cr as u64,
                    }),
                }
            }
            None => {
                self.examined += window.len() as u64;
                self.line_search = from + window.len();
                if buf.len() > line_end {
                    return Err(too_long());
                }
                Ok(None)
            }
        }
    }
}

/// The first CR in `window`. Most lines are a few bytes long (`+OK`, `:1000`, `$5`, `*2`): a
/// plain loop finds their CR before memchr's dispatch and vector setup would have started.
fn find_cr(window: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = &window[..window.len().min(SHORT)];
    match head.iter().position(|&b| b == b'\r') {
        Some(i) => Some(i),
        None => memchr::memchr(b'\r', &window[head.len()..]).map(|i| head.len() + i),
    }
}

fn is_marker(byte: u8) -> bool {
    matches!(
        byte,
        b'+' | b'-'
            | b':'
            | b'$'
            | b'*'
            | b'_'
            | b','
            | b'#'
            | b'('
            | b'!'
            | b'='
            | b'%'
            | b'~'
            | b'>'
            | b'|'
            | b';'
            | b'.'
    )
}

/// A non-negative decimal length.
fn parse_len(text: &[u8]) -> Option<usize> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    let mut value: usize = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(usize::from(b - b'0'))?;
    }
    Some(value)
}

fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut value: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(b - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

fn parse_double(text: &[u8]) -> Option<f64> {
    match text {
        b"inf" | b"+inf" => return Some(f64::INFINITY),
        b"-inf" => return Some(f64::NEG_INFINITY),
        b"nan" | b"-nan" => return Some(f64::NAN),
        _ => {}
    }
    // Rust's parser also takes "infinity" and "NaN" spellings; RESP allows only the above, so
    // insist on a digit being present.
    if !text.iter().any(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn is_big_number(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_to_the_edges() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"1a"), None);
        assert_eq!(parse_i64(b"+5"), Some(5));
    }

    #[test]
    fn lengths_reject_signs_and_junk() {
        assert_eq!(parse_len(b"12"), Some(12));
        assert_eq!(parse_len(b"-1"), None);
        assert_eq!(parse_len(b"+1"), None);
        assert_eq!(parse_len(b"99999999999999999999"), None);
    }

    #[test]
    fn doubles_take_only_resp_spellings() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_double(b"nan").unwrap().is_nan());
        assert_eq!(parse_double(b"1e10"), Some(1e10));
        assert_eq!(parse_double(b"infinity"), None);
        assert_eq!(parse_double(b"NaN"), None);
        assert_eq!(parse_double(b""), None);
    }
}
