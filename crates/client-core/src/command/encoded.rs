//! [`Encoded`]: a command's arguments as RESP bulk strings, held inline while they are short.

use std::ops::Deref;

use bytes::BytesMut;

/// How many encoded bytes a command holds without a heap allocation: `GET` or `SET` of a
/// 20-byte key and a 30-byte value fits. The size keeps [`Command`](super::Command) small
/// enough (112 bytes) that moving it, which every builder call does, compiles to a few vector
/// stores rather than a call into `memcpy`.
const INLINE: usize = 78;

/// The most a bulk string's framing adds to its payload: `$`, 20 digits and two CRLFs.
const BULK_OVERHEAD: usize = 25;

/// The bytes of a command's arguments. Short commands, which are most of them, live inline:
/// a pipeline of a hundred `SET`s then allocates nothing per command, where a buffer each cost
/// a `malloc` and a `free` (and glibc's per-thread cache keeps only seven blocks of a size,
/// so most of a batch took its slower paths).
#[derive(Clone)]
pub(super) enum Encoded {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(BytesMut),
}

impl Encoded {
    pub(super) const fn new() -> Self {
        Self::Inline {
            len: 0,
            buf: [0; INLINE],
        }
    }

    /// Appends a bulk string: `$<len>\r\n<data>\r\n`.
    #[inline]
    pub(super) fn push_bulk(&mut self, data: &[u8]) {
        let len = data.len();
        if len < INLINE {
            let total = resp_core::bulk_header_len(len) + len + 2;
            if let Some(room) = self.inline_room(total) {
                resp_core::write_bulk_to(room, data);
                return;
            }
        }
        resp_core::write_bulk(self.heap(len + BULK_OVERHEAD), data);
    }

    /// Appends the header of a bulk string of `len` bytes, `$<len>\r\n`, whose payload goes
    /// elsewhere.
    pub(super) fn push_bulk_header(&mut self, len: usize) {
        let header = resp_core::bulk_header_len(len);
        if let Some(room) = self.inline_room(header) {
            resp_core::write_bulk_header_to(room, len);
            return;
        }
        resp_core::write_bulk_header(self.heap(header), len);
    }

    /// Appends bytes as they are.
    pub(super) fn push_raw(&mut self, bytes: &[u8]) {
        if let Some(room) = self.inline_room(bytes.len()) {
            room.copy_from_slice(bytes);
            return;
        }
        self.heap(bytes.len()).extend_from_slice(bytes);
    }

    /// The next `n` bytes of the inline buffer, counted as written, if they fit.
    fn inline_room(&mut self, n: usize) -> Option<&mut [u8]> {
        let Self::Inline { len, buf } = self else {
            return None;
        };
        let at = usize::from(*len);
        let room = buf.get_mut(at..at + n)?;
        // `at + n` is at most INLINE, which fits a u8.
        *len = u8::try_from(at + n).unwrap_or(u8::MAX);
        Some(room)
    }

    /// How many bytes [`append_to`](Self::append_to) writes before it cuts the surplus off.
    pub(super) fn append_len(&self) -> usize {
        match self {
            Self::Inline { .. } => INLINE,
            Self::Heap(heap) => heap.len(),
        }
    }

    /// Appends the bytes to `out`. An inline buffer is copied whole and the bytes past its
    /// end cut off again: a copy of a fixed size compiles to a few vector moves, where one of
    /// the length written would be a call into `memcpy`.
    #[inline]
    pub(super) fn append_to(&self, out: &mut BytesMut) {
        match self {
            Self::Inline { len, buf } => {
                let end = out.len() + usize::from(*len);
                out.extend_from_slice(buf);
                out.truncate(end);
            }
            Self::Heap(heap) => out.extend_from_slice(heap),
        }
    }

    /// The heap buffer, moving the inline bytes there first, with room for `additional` more.
    fn heap(&mut self, additional: usize) -> &mut BytesMut {
        if let Self::Inline { len, buf } = self {
            let used = &buf[..usize::from(*len)];
            let mut heap = BytesMut::with_capacity((used.len() + additional).max(2 * INLINE));
            heap.extend_from_slice(used);
            *self = Self::Heap(heap);
        }
        let Self::Heap(heap) = self else {
            unreachable!("the inline bytes were just moved to the heap")
        };
        heap.reserve(additional);
        heap
    }
}

impl Deref for Encoded {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => &buf[..usize::from(*len)],
            Self::Heap(heap) => heap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(data: &[u8]) -> Vec<u8> {
        let mut want = format!("${}\r\n", data.len()).into_bytes();
        want.extend_from_slice(data);
        want.extend_from_slice(b"\r\n");
        want
    }

    #[test]
    fn short_commands_stay_inline_and_long_ones_move_to_the_heap_intact() {
        let mut encoded = Encoded::new();
        let mut want = Vec::new();
        for (i, len) in [3, 9, 10, 11, 0, 99, 100, 1000, 5].into_iter().enumerate() {
            let data = vec![b'a' + i as u8; len];
            encoded.push_bulk(&data);
            want.extend_from_slice(&bulk(&data));
            assert_eq!(&encoded[..], &want[..], "after {len} bytes");
            let inline = matches!(encoded, Encoded::Inline { .. });
            assert_eq!(inline, want.len() <= INLINE, "{} bytes", want.len());
        }
        encoded.push_bulk_header(20_000);
        encoded.push_raw(b"\r\n");
        want.extend_from_slice(b"$20000\r\n\r\n");
        assert_eq!(&encoded[..], &want[..]);
    }

    #[test]
    fn appending_copies_exactly_the_bytes_written() {
        for len in [0, 1, 9, 40, INLINE - 7, INLINE, 200] {
            let mut encoded = Encoded::new();
            encoded.push_raw(&vec![b'v'; len]);
            let mut out = BytesMut::from(&b"head"[..]);
            out.reserve(encoded.append_len());
            encoded.append_to(&mut out);
            let mut want = b"head".to_vec();
            want.extend_from_slice(&vec![b'v'; len]);
            assert_eq!(&out[..], &want[..], "{len} bytes");
        }
    }

    #[test]
    fn a_bulk_that_exactly_fills_the_inline_buffer_stays_inline() {
        let mut encoded = Encoded::new();
        // `$71\r\n` + 71 + CRLF = 78 bytes.
        let data = [b'x'; INLINE - 7];
        encoded.push_bulk(&data);
        assert!(matches!(encoded, Encoded::Inline { len, .. } if usize::from(len) == INLINE));
        assert_eq!(&encoded[..], &bulk(&data)[..]);
        encoded.push_raw(b"!");
        assert!(matches!(encoded, Encoded::Heap(_)));
        assert_eq!(encoded.len(), INLINE + 1);
    }
}
