//! Encoding frames and commands into a caller-owned [`BytesMut`].
//!
//! Commands, which are arrays of bulk strings, have their own functions that write straight
//! into the buffer: no intermediate allocation, and integers are formatted on the stack.

use std::fmt::Write as _;

use bytes::BytesMut;

use crate::{Frame, Verbatim};

/// Writes a command: an array of bulk strings, one per argument.
///
/// ```
/// use bytes::BytesMut;
/// let mut buf = BytesMut::new();
/// resp_core::encode_command(&mut buf, ["SET", "key", "value"]);
/// assert_eq!(&buf[..], b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
/// ```
pub fn encode_command<I>(dst: &mut BytesMut, args: I)
where
    I: IntoIterator,
    I::IntoIter: ExactSizeIterator,
    I::Item: AsRef<[u8]>,
{
    let args = args.into_iter();
    write_array_len(dst, args.len());
    for arg in args {
        write_bulk(dst, arg.as_ref());
    }
}

/// Writes an array header, `*<len>\r\n`. The caller then writes `len` elements.
#[inline]
pub fn write_array_len(dst: &mut BytesMut, len: usize) {
    write_header(dst, b'*', len);
}

/// Writes one bulk string, `$<len>\r\n<data>\r\n`.
pub fn write_bulk(dst: &mut BytesMut, data: &[u8]) {
    dst.reserve(data.len() + 16);
    write_header(dst, b'$', data.len());
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// Writes an integer as a bulk string argument (`$2\r\n42\r\n`), the way commands take numbers.
/// Formats on the stack, without allocating.
pub fn write_bulk_integer(dst: &mut BytesMut, value: i64) {
    let mut digits = itoa::Buffer::new();
    write_bulk(dst, digits.format(value).as_bytes());
}

/// Writes a float as a bulk string argument, in the shortest form that reads back exactly, with
/// `inf`, `-inf` and `nan` spelled as Redis spells them.
pub fn write_bulk_double(dst: &mut BytesMut, value: f64) {
    let mut text = DoubleText::default();
    text.format(value);
    write_bulk(dst, text.as_bytes());
}

/// Writes the header of a bulk string of `len` bytes, `$<len>\r\n`: for callers that write
/// the payload and its closing `\r\n` themselves (or queue the payload by reference).
pub fn write_bulk_header(dst: &mut BytesMut, len: usize) {
    write_header(dst, b'$', len);
}

/// How many bytes the header of a bulk string of `len` bytes, `$<len>\r\n`, takes.
///
/// ```
/// assert_eq!(resp_core::bulk_header_len(7), b"$7\r\n".len());
/// assert_eq!(resp_core::bulk_header_len(16_384), b"$16384\r\n".len());
/// ```
#[inline]
pub fn bulk_header_len(len: usize) -> usize {
    match len {
        0..10 => 4,
        10..100 => 5,
        _ => itoa::Buffer::new().format(len).len() + 3,
    }
}

/// Writes `$<len>\r\n` into `dst`, which is exactly [`bulk_header_len`]`(len)` bytes long:
/// for encoders that keep commands in a fixed buffer rather than a `BytesMut`.
///
/// # Panics
///
/// If `dst` has another length.
#[inline]
pub fn write_bulk_header_to(dst: &mut [u8], len: usize) {
    let end = dst.len();
    assert_eq!(end, bulk_header_len(len), "a bulk header's room");
    dst[0] = b'$';
    match end {
        4 => dst[1] = b'0' + len as u8,
        5 => (dst[1], dst[2]) = (b'0' + (len / 10) as u8, b'0' + (len % 10) as u8),
        _ => dst[1..end - 2].copy_from_slice(itoa::Buffer::new().format(len).as_bytes()),
    }
    dst[end - 2..].copy_from_slice(b"\r\n");
}

/// Writes the bulk string `$<len>\r\n<data>\r\n` into `dst`, which is exactly
/// [`bulk_header_len`]`(data.len()) + data.len() + 2` bytes long. Everything is written in
/// place: a header formatted elsewhere and copied over would be read back before its bytes
/// reached memory, a store-forwarding stall that costs more than the write.
///
/// ```
/// let mut room = [0u8; 9];
/// resp_core::write_bulk_to(&mut room, b"SET");
/// assert_eq!(&room, b"$3\r\nSET\r\n");
/// ```
///
/// # Panics
///
/// If `dst` has another length.
#[inline]
pub fn write_bulk_to(dst: &mut [u8], data: &[u8]) {
    let (header, rest) = dst.split_at_mut(dst.len() - data.len() - 2);
    write_bulk_header_to(header, data.len());
    let (body, crlf) = rest.split_at_mut(data.len());
    copy_short(body, data);
    crlf.copy_from_slice(b"\r\n");
}

/// `dst.copy_from_slice(src)` for the short arguments most commands have, without a call:
/// a copy of a length known only at run time is a call into `memcpy`, while two overlapping
/// copies of a fixed size compile to a load and a store each.
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match n {
        16..=32 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        }
        8..=15 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// `<marker><decimal len>\r\n`.
///
/// Every piece is written with the inlinable `extend_from_slice`, never `BufMut::put_slice`
/// (not inlined across crates): a write of a known size then compiles to a few stores instead
/// of a call into `memcpy`, and short lengths, which most command arguments have, take one
/// write.
#[inline]
fn write_header(dst: &mut BytesMut, marker: u8, len: usize) {
    if len < 10 {
        dst.extend_from_slice(&[marker, b'0' + len as u8, b'\r', b'\n']);
    } else if len < 100 {
        let (tens, ones) = (len / 10, len % 10);
        dst.extend_from_slice(&[marker, b'0' + tens as u8, b'0' + ones as u8, b'\r', b'\n']);
    } else {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(len).as_bytes();
        dst.reserve(digits.len() + 3);
        dst.extend_from_slice(&[marker]);
        dst.extend_from_slice(digits);
        dst.extend_from_slice(b"\r\n");
    }
}

fn write_line(dst: &mut BytesMut, marker: u8, text: &[u8]) {
    dst.reserve(text.len() + 3);
    dst.extend_from_slice(&[marker]);
    dst.extend_from_slice(text);
    dst.extend_from_slice(b"\r\n");
}

fn write_bulk_like(dst: &mut BytesMut, marker: u8, data: &[u8]) {
    dst.reserve(data.len() + 16);
    write_header(dst, marker, data.len());
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// A double's RESP text (`1.5`, `1e300`, `inf`, `-inf`, `nan`) formatted on the stack, in the
/// shortest form that reads back exactly: for command arguments and keys, without allocating.
///
/// ```
/// assert_eq!(resp_core::DoubleText::new(0.25).as_bytes(), b"0.25");
/// assert_eq!(resp_core::DoubleText::new(f64::NEG_INFINITY).as_bytes(), b"-inf");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DoubleText {
    buf: [u8; 32],
    len: usize,
}

impl DoubleText {
    /// `value`'s text.
    pub fn new(value: f64) -> Self {
        let mut text = Self::default();
        text.format(value);
        text
    }

    fn format(&mut self, value: f64) {
        self.len = 0;
        if value.is_nan() {
            self.push(b"nan");
        } else if value.is_infinite() {
            self.push(if value > 0.0 { b"inf" } else { b"-inf" });
        } else {
            // `{:e}` is the shortest round-trip form and stays short for huge or tiny values
            // (1e300 would be 301 digits with `{}`); the debug form is shorter for common ones.
            if write!(self, "{value:?}").is_err() || self.len > 24 {
                self.len = 0;
                // Cannot fail: `{:e}` of a finite f64 is at most 24 bytes.
                let _ = write!(self, "{value:e}");
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[..bytes.len()].copy_from_slice(bytes);
        self.len = bytes.len();
    }

    /// The text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Frame {
    /// Appends this frame's RESP encoding to `dst`.
    ///
    /// Every frame type is written as itself, RESP3 types included, so that a server or proxy
    /// can answer in whichever protocol its peer negotiated by choosing the frames it builds.
    /// Simple strings and simple errors are written as they are: they must not contain CR or LF
    /// (use a bulk string or bulk error for arbitrary bytes).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use resp_core::Frame;
    /// let mut buf = BytesMut::new();
    /// Frame::Map(vec![(Frame::SimpleString("a".into()), Frame::Double(1.5))]).encode(&mut buf);
    /// assert_eq!(&buf[..], b"%1\r\n+a\r\n,1.5\r\n");
    /// ```
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Self::SimpleString(text) => write_line(dst, b'+', text),
            Self::SimpleError(text) => write_line(dst, b'-', text),
            Self::Integer(value) => {
                let mut digits = itoa::Buffer::new();
                write_line(dst, b':', digits.format(*value).as_bytes());
            }
            Self::BulkString(data) => write_bulk_like(dst, b'$', data),
            Self::BulkError(data) => write_bulk_like(dst, b'!', data),
            Self::VerbatimString(verbatim) => {
                let Verbatim { format, text } = &**verbatim;
                dst.reserve(text.len() + 20);
                write_header(dst, b'=', text.len() + 4);
                dst.extend_from_slice(format);
                dst.extend_from_slice(b":");
                dst.extend_from_slice(text);
                dst.extend_from_slice(b"\r\n");
            }
            Self::NullBulkString => dst.extend_from_slice(b"$-1\r\n"),
            Self::NullArray => dst.extend_from_slice(b"*-1\r\n"),
            Self::Null => dst.extend_from_slice(b"_\r\n"),
            Self::Array(items) => encode_all(dst, b'*', items),
            Self::Set(items) => encode_all(dst, b'~', items),
            Self::Push(items) => encode_all(dst, b'>', items),
            Self::Map(pairs) => encode_pairs(dst, b'%', pairs),
            Self::Double(value) => {
                let mut text = DoubleText::default();
                text.format(*value);
                write_line(dst, b',', text.as_bytes());
            }
            Self::Boolean(value) => {
                dst.extend_from_slice(if *value { b"#t\r\n" } else { b"#f\r\n" });
            }
            Self::BigNumber(digits) => write_line(dst, b'(', digits),
            Self::Attributed { attributes, frame } => {
                encode_pairs(dst, b'|', attributes);
                frame.encode(dst);
            }
        }
    }
}

fn encode_all(dst: &mut BytesMut, marker: u8, items: &[Frame]) {
    write_header(dst, marker, items.len());
    for item in items {
        item.encode(dst);
    }
}

fn encode_pairs(dst: &mut BytesMut, marker: u8, pairs: &[(Frame, Frame)]) {
    write_header(dst, marker, pairs.len());
    for (key, value) in pairs {
        key.encode(dst);
        value.encode(dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulks_of_every_short_length_are_written_whole() {
        for n in 0..=80usize {
            let data: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let mut room = vec![0xAAu8; bulk_header_len(n) + n + 2];
            write_bulk_to(&mut room, &data);
            let mut want = format!("${n}\r\n").into_bytes();
            want.extend_from_slice(&data);
            want.extend_from_slice(b"\r\n");
            assert_eq!(room, want, "{n} bytes");
        }
    }

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        buf.to_vec()
    }

    #[test]
    fn every_type_has_its_wire_form() {
        let cases: Vec<(Frame, &[u8])> = vec![
            (Frame::SimpleString("OK".into()), b"+OK\r\n"),
            (Frame::SimpleError("ERR no".into()), b"-ERR no\r\n"),
            (Frame::Integer(-12), b":-12\r\n"),
            (Frame::BulkString("hi".into()), b"$2\r\nhi\r\n"),
            (Frame::BulkError("SYNTAX x".into()), b"!8\r\nSYNTAX x\r\n"),
            (Frame::verbatim(*b"txt", "Some"), b"=8\r\ntxt:Some\r\n"),
            (Frame::NullBulkString, b"$-1\r\n"),
            (Frame::NullArray, b"*-1\r\n"),
            (Frame::Null, b"_\r\n"),
            (Frame::Array(vec![Frame::Integer(1)]), b"*1\r\n:1\r\n"),
            (Frame::Set(vec![Frame::Boolean(false)]), b"~1\r\n#f\r\n"),
            (Frame::Push(vec![]), b">0\r\n"),
            (
                Frame::Map(vec![(Frame::Integer(1), Frame::Null)]),
                b"%1\r\n:1\r\n_\r\n",
            ),
            (Frame::Double(f64::INFINITY), b",inf\r\n"),
            (Frame::Double(f64::NEG_INFINITY), b",-inf\r\n"),
            (Frame::Double(f64::NAN), b",nan\r\n"),
            (Frame::Double(0.1), b",0.1\r\n"),
            (Frame::Double(3.0), b",3.0\r\n"),
            (Frame::Double(1e300), b",1e300\r\n"),
            (Frame::Boolean(true), b"#t\r\n"),
            (Frame::BigNumber("-123".into()), b"(-123\r\n"),
            (
                Frame::Attributed {
                    attributes: vec![(Frame::SimpleString("k".into()), Frame::Integer(2))],
                    frame: Box::new(Frame::Integer(3)),
                },
                b"|1\r\n+k\r\n:2\r\n:3\r\n",
            ),
        ];
        for (frame, wire) in cases {
            assert_eq!(encoded(&frame), wire, "{frame:?}");
        }
    }

    #[test]
    fn command_arguments_are_bulk_strings() {
        let mut buf = BytesMut::new();
        write_array_len(&mut buf, 4);
        write_bulk(&mut buf, b"INCRBYFLOAT");
        write_bulk(&mut buf, b"");
        write_bulk_integer(&mut buf, i64::MIN);
        write_bulk_double(&mut buf, -0.5);
        assert_eq!(
            &buf[..],
            &b"*4\r\n$11\r\nINCRBYFLOAT\r\n$0\r\n\r\n$20\r\n-9223372036854775808\r\n$4\r\n-0.5\r\n"
                [..]
        );
    }

    #[test]
    fn headers_of_every_digit_count_are_decimal() {
        // The one- and two-digit lengths take their own path.
        for len in [0, 1, 9, 10, 11, 42, 99, 100, 101, 999, 1000, 65_536] {
            let data = vec![b'x'; len];
            let mut buf = BytesMut::new();
            write_bulk(&mut buf, &data);
            write_array_len(&mut buf, len);
            let mut want = format!("${len}\r\n").into_bytes();
            want.extend_from_slice(&data);
            want.extend_from_slice(format!("\r\n*{len}\r\n").as_bytes());
            assert_eq!(&buf[..], &want[..], "length {len}");
            let bulk_len = bulk_header_len(len) + len + 2;
            let mut room = vec![0; bulk_len];
            write_bulk_to(&mut room, &data);
            assert_eq!(&room[..], &want[..bulk_len], "length {len}, into a slice");
        }
    }

    #[test]
    fn doubles_read_back_exactly() {
        for value in [
            f64::MIN_POSITIVE,
            f64::MAX,
            -1e-300,
            123_456.789,
            5e-324,
            0.0,
            -0.0,
        ] {
            let mut text = DoubleText::default();
            text.format(value);
            let back: f64 = std::str::from_utf8(text.as_bytes())
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(back.to_bits(), value.to_bits(), "{value:e}");
        }
    }
}
