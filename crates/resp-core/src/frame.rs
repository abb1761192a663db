//! The [`Frame`] type: one complete RESP2 or RESP3 value.

use bytes::Bytes;

/// One complete RESP value, as decoded from the wire or to be encoded onto it.
///
/// String payloads are [`Bytes`]: when a frame was decoded, they are slices of the read buffer,
/// never copies (the one exception is a RESP3 *streamed* string of more than one chunk, whose
/// chunks are joined).
///
/// RESP2 and RESP3 share this one type. The three nulls are kept apart so that a proxy can
/// re-encode exactly what it received; [`Frame::is_null`] treats them alike.
///
/// Streamed strings (`$?`) and streamed aggregates (`*?`, `%?`, `~?`, `>?`) have no variant of
/// their own: they decode into [`Frame::BulkString`], [`Frame::Array`], [`Frame::Map`],
/// [`Frame::Set`] and [`Frame::Push`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
// A word-sized tag: every variant's data then starts at the second word, and a frame moves as
// five words. With a byte tag, the bytes beside it (a boolean's) made every move copy them with
// two overlapping narrow loads, which waited for the stores of the move before (a
// store-forwarding stall, a tenth of a pipeline's reply handling). The tag's spare values
// still give `Option<Frame>` its niche: both are 40 bytes.
#[repr(u64)]
pub enum Frame {
    /// `+OK\r\n`: a short, binary-unsafe status line.
    SimpleString(Bytes),
    /// `-ERR message\r\n`: an error reply. The first word is the error code (see
    /// [`Frame::error_code`]).
    SimpleError(Bytes),
    /// `:42\r\n`: a signed 64-bit integer.
    Integer(i64),
    /// `$5\r\nhello\r\n`: a binary-safe string.
    BulkString(Bytes),
    /// `!21\r\nSYNTAX invalid syntax\r\n`: a binary-safe error reply (RESP3).
    BulkError(Bytes),
    /// `=15\r\ntxt:Some string\r\n`: a string with a three-byte format such as `txt` or `mkd`
    /// (RESP3). Boxed (see [`Verbatim`]); [`Frame::verbatim`] builds one.
    VerbatimString(Box<Verbatim>),
    /// `$-1\r\n`: the RESP2 null bulk string.
    NullBulkString,
    /// `*-1\r\n`: the RESP2 null array.
    NullArray,
    /// `_\r\n`: the RESP3 null.
    Null,
    /// `*2\r\n...`: an ordered sequence.
    Array(Vec<Self>),
    /// `%1\r\n...`: key-value pairs in wire order (RESP3). Kept as pairs, not hashed, so that
    /// order, duplicates and non-hashable keys (doubles, aggregates) survive.
    Map(Vec<(Self, Self)>),
    /// `~2\r\n...`: an unordered collection (RESP3), in wire order.
    Set(Vec<Self>),
    /// `>3\r\n...`: out-of-band data (RESP3): pub/sub messages, invalidations, monitor lines.
    Push(Vec<Self>),
    /// `,3.14\r\n`: a double (RESP3), including `inf`, `-inf` and `nan`.
    Double(f64),
    /// `#t\r\n`: a boolean (RESP3).
    Boolean(bool),
    /// `(3492890328409238509324850943850943825024385\r\n`: an integer of any size (RESP3), as
    /// its decimal text (an optional `-` and digits).
    BigNumber(Bytes),
    /// `|1\r\n...`: attributes (RESP3) attached to the frame that follows them on the wire.
    Attributed {
        /// The attribute key-value pairs.
        attributes: Vec<(Self, Self)>,
        /// The frame the attributes describe.
        frame: Box<Self>,
    },
}

/// The payload of a [`Frame::VerbatimString`].
///
/// Out of line, so that a frame stays five words: behind the word-sized tag (see [`Frame`]'s
/// source), the format's three bytes would take a sixth. Verbatim strings are rare (`INFO`
/// and a few other text replies over RESP3); every other reply moves in 40 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verbatim {
    /// The format, e.g. `*b"txt"`.
    pub format: [u8; 3],
    /// The text after the `xxx:` prefix.
    pub text: Bytes,
}

impl Frame {
    /// A verbatim string: `Frame::verbatim(*b"txt", "Some string")`.
    pub fn verbatim(format: [u8; 3], text: impl Into<Bytes>) -> Self {
        Self::VerbatimString(Box::new(Verbatim {
            format,
            text: text.into(),
        }))
    }

    /// Whether this is any of the three nulls.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null | Self::NullBulkString | Self::NullArray)
    }

    /// Whether this is an error reply, simple or bulk.
    pub fn is_error(&self) -> bool {
        matches!(self, Self::SimpleError(_) | Self::BulkError(_))
    }

    /// For an error reply, its code: the text up to the first space (`WRONGTYPE`, `MOVED`,
    /// `ERR`, ...). `None` for every other frame.
    ///
    /// ```
    /// # use resp_core::Frame;
    /// let moved = Frame::SimpleError("MOVED 3999 127.0.0.1:6381".into());
    /// assert_eq!(moved.error_code(), Some(&b"MOVED"[..]));
    /// ```
    pub fn error_code(&self) -> Option<&[u8]> {
        match self {
            Self::SimpleError(text) | Self::BulkError(text) => {
                let end = memchr::memchr(b' ', text).unwrap_or(text.len());
                Some(&text[..end])
            }
            _ => None,
        }
    }

    /// The payload of a string-like frame (simple, bulk, verbatim text, simple or bulk error,
    /// big number), as bytes.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Self::SimpleString(b)
            | Self::BulkString(b)
            | Self::SimpleError(b)
            | Self::BulkError(b)
            | Self::BigNumber(b) => Some(b),
            Self::VerbatimString(verbatim) => Some(&verbatim.text),
            _ => None,
        }
    }

    /// The payload of a string reply: a simple or bulk string, or a verbatim string's text.
    /// Errors and numbers are not string replies (see [`as_bytes`](Self::as_bytes) for every
    /// frame that carries bytes).
    pub fn string_payload(&self) -> Option<&Bytes> {
        match self {
            Self::SimpleString(b) | Self::BulkString(b) => Some(b),
            Self::VerbatimString(verbatim) => Some(&verbatim.text),
            _ => None,
        }
    }

    /// [`string_payload`](Self::string_payload) by value; the frame back if it is not a string
    /// reply.
    pub fn into_string_payload(self) -> Result<Bytes, Self> {
        match self {
            Self::SimpleString(b) | Self::BulkString(b) => Ok(b),
            Self::VerbatimString(verbatim) => Ok(verbatim.text),
            other => Err(other),
        }
    }

    /// The frame without its attributes, if it has any.
    pub fn without_attributes(&self) -> &Self {
        let mut frame = self;
        while let Self::Attributed { frame: inner, .. } = frame {
            frame = inner;
        }
        frame
    }

    /// The RESP name of this frame's type, for error messages (`"bulk string"`, `"map"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SimpleString(_) => "simple string",
            Self::SimpleError(_) => "simple error",
            Self::Integer(_) => "integer",
            Self::BulkString(_) => "bulk string",
            Self::BulkError(_) => "bulk error",
            Self::VerbatimString(_) => "verbatim string",
            Self::NullBulkString => "null bulk string",
            Self::NullArray => "null array",
            Self::Null => "null",
            Self::Array(_) => "array",
            Self::Map(_) => "map",
            Self::Set(_) => "set",
            Self::Push(_) => "push",
            Self::Double(_) => "double",
            Self::Boolean(_) => "boolean",
            Self::BigNumber(_) => "big number",
            Self::Attributed { .. } => "attributed frame",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_are_null_and_nothing_else_is() {
        assert!(Frame::Null.is_null());
        assert!(Frame::NullBulkString.is_null());
        assert!(Frame::NullArray.is_null());
        assert!(!Frame::BulkString(Bytes::new()).is_null());
        assert!(!Frame::Array(Vec::new()).is_null());
    }

    #[test]
    fn error_code_is_first_word() {
        let e = Frame::BulkError("SYNTAX invalid syntax".into());
        assert_eq!(e.error_code(), Some(&b"SYNTAX"[..]));
        let bare = Frame::SimpleError("NOSCRIPT".into());
        assert_eq!(bare.error_code(), Some(&b"NOSCRIPT"[..]));
        assert_eq!(Frame::SimpleString("OK".into()).error_code(), None);
    }

    #[test]
    fn attributes_can_be_looked_through() {
        let inner = Frame::Integer(7);
        let f = Frame::Attributed {
            attributes: vec![(Frame::SimpleString("ttl".into()), Frame::Integer(3))],
            frame: Box::new(inner.clone()),
        };
        assert_eq!(f.without_attributes(), &inner);
        assert_eq!(f.type_name(), "attributed frame");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_frame_is_five_words_and_its_option_no_more() {
        assert_eq!(size_of::<Frame>(), 40);
        assert_eq!(size_of::<Option<Frame>>(), 40);
        let verbatim = Frame::verbatim(*b"mkd", "# Title");
        assert_eq!(verbatim.as_bytes().map(|b| &b[..]), Some(&b"# Title"[..]));
    }

    #[test]
    fn string_payloads_are_those_of_string_replies_only() {
        let strings = [
            Frame::SimpleString("a".into()),
            Frame::BulkString("a".into()),
            Frame::verbatim(*b"txt", "a"),
        ];
        for frame in strings {
            assert_eq!(frame.string_payload().map(|b| &b[..]), Some(&b"a"[..]));
            assert_eq!(frame.into_string_payload().ok(), Some(Bytes::from("a")));
        }
        let others = [
            Frame::SimpleError("ERR a".into()),
            Frame::BulkError("ERR a".into()),
            Frame::BigNumber("1".into()),
            Frame::Integer(1),
            Frame::Null,
        ];
        for frame in others {
            assert_eq!(frame.string_payload(), None);
            assert_eq!(frame.clone().into_string_payload(), Err(frame));
        }
    }
}
