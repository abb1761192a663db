//! [`SendBuffer`]: encoded output in which large bulk arguments are referenced, not copied.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::encode::{write_array_len, write_bulk, write_bulk_header};

/// Encoded output waiting for the socket, as a queue of chunks for a vectored write.
///
/// Small pieces (headers, short arguments) are copied into a contiguous tail. A bulk argument
/// of at least [`copy_threshold`](Self::copy_threshold) bytes given as [`Bytes`] is queued by
/// reference: its memory goes from the caller's buffer to the socket without being copied.
///
/// `SendBuffer` implements [`Buf`], so `tokio::io::AsyncWriteExt::write_buf`, or
/// [`chunks_vectored`](Buf::chunks_vectored) with `write_vectored`, sends several chunks per
/// system call.
///
/// ```
/// use bytes::{Buf, Bytes};
/// use resp_core::SendBuffer;
///
/// let big = Bytes::from(vec![b'x'; 100 * 1024]);
/// let mut out = SendBuffer::new();
/// out.push_array_len(3);
/// out.push_bulk(b"SET");
/// out.push_bulk(b"key");
/// out.push_bulk_bytes(big.clone());
/// assert_eq!(out.remaining(), 4 + 9 + 9 + 9 + big.len() + 2);
/// // The value's memory is queued as is, not copied.
/// let mut slices = [std::io::IoSlice::new(&[]); 8];
/// let n = out.chunks_vectored(&mut slices);
/// assert_eq!(n, 3); // headers, the value itself, the final CRLF
/// assert_eq!(slices[1].as_ptr(), big.as_ptr());
/// ```
#[derive(Debug)]
pub struct SendBuffer {
    /// Chunks sealed before a referenced bulk, in order; the tail follows them.
    sealed: VecDeque<Bytes>,
    tail: BytesMut,
    sealed_len: usize,
    copy_threshold: usize,
}

impl Default for SendBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBuffer {
    /// The default size from which a [`Bytes`] argument is referenced instead of copied: 16 KiB.
    /// Below it, copying is cheaper than an extra chunk in the write.
    pub const DEFAULT_COPY_THRESHOLD: usize = 16 * 1024;

    /// An empty buffer with the default copy threshold.
    pub fn new() -> Self {
        Self::with_copy_threshold(Self::DEFAULT_COPY_THRESHOLD)
    }

    /// An empty buffer that references `Bytes` arguments of `threshold` bytes or more.
    pub fn with_copy_threshold(threshold: usize) -> Self {
        Self {
            sealed: VecDeque::new(),
            tail: BytesMut::new(),
            sealed_len: 0,
            copy_threshold: threshold,
        }
    }

    /// The size from which [`push_bulk_bytes`](Self::push_bulk_bytes) references instead of
    /// copying.
    pub fn copy_threshold(&self) -> usize {
        self.copy_threshold
    }

    /// The contiguous tail, for encoders that write small pieces directly (for example
    /// [`Frame::encode`](crate::Frame::encode) or [`encode_command`](crate::encode_command)).
    pub fn tail_mut(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Appends an array header: the caller pushes that many elements next.
    pub fn push_array_len(&mut self, len: usize) {
        write_array_len(&mut self.tail, len);
    }

    /// Appends a bulk string argument, copying it.
    pub fn push_bulk(&mut self, data: &[u8]) {
        write_bulk(&mut self.tail, data);
    }

    /// Appends a bulk string argument, referencing its memory when it is at least
    /// [`copy_threshold`](Self::copy_threshold) bytes long, copying it otherwise.
    pub fn push_bulk_bytes(&mut self, data: Bytes) {
        if data.len() < self.copy_threshold {
            return self.push_bulk(&data);
        }
        write_bulk_header(&mut self.tail, data.len());
        self.seal_tail();
        self.sealed_len += data.len();
        self.sealed.push_back(data);
        self.tail.extend_from_slice(b"\r\n");
    }

    /// Appends already-encoded bytes by reference, without framing them: for pieces of a frame
    /// that the caller encoded itself.
    pub fn push_raw(&mut self, bytes: Bytes) {
        if bytes.len() < self.copy_threshold {
            self.tail.extend_from_slice(&bytes);
            return;
        }
        self.seal_tail();
        self.sealed_len += bytes.len();
        self.sealed.push_back(bytes);
    }

    /// Moves everything waiting in `other` to the end of this buffer, leaving `other` empty.
    /// Nothing is copied when this buffer is empty, and large chunks are never copied.
    pub fn append(&mut self, other: &mut Self) {
        if self.is_empty() {
            std::mem::swap(&mut self.sealed, &mut other.sealed);
            std::mem::swap(&mut self.tail, &mut other.tail);
            self.sealed_len = other.sealed_len;
            other.clear();
            return;
        }
        self.seal_tail();
        self.sealed_len += other.sealed_len;
        self.sealed.append(&mut other.sealed);
        other.sealed_len = 0;
        if !other.tail.is_empty() {
            let tail = other.tail.split().freeze();
            self.sealed_len += tail.len();
            self.sealed.push_back(tail);
        }
    }

    /// Whether nothing is waiting to be sent.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Drops everything not yet sent.
    pub fn clear(&mut self) {
        self.sealed.clear();
        self.sealed_len = 0;
        self.tail.clear();
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            let head = self.tail.split().freeze();
            self.sealed_len += head.len();
            self.sealed.push_back(head);
        }
    }
}

impl Buf for SendBuffer {
    fn remaining(&self) -> usize {
        self.sealed_len + self.tail.len()
    }

    fn chunk(&self) -> &[u8] {
        match self.sealed.front() {
            Some(front) => front,
            None => &self.tail,
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.remaining(),
            "advanced past the end of a SendBuffer"
        );
        while cnt > 0 {
            let Some(front) = self.sealed.front_mut() else {
                self.tail.advance(cnt);
                return;
            };
            let step = cnt.min(front.len());
            front.advance(step);
            self.sealed_len -= step;
            cnt -= step;
            if front.is_empty() {
                self.sealed.pop_front();
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let chunks = self
            .sealed
            .iter()
            .map(|b| &b[..])
            .chain(std::iter::once(&self.tail[..]));
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(chunks.filter(|c| !c.is_empty())) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut out: SendBuffer, step: usize) -> Vec<u8> {
        let mut sent = Vec::new();
        while out.has_remaining() {
            let chunk = out.chunk();
            let n = chunk.len().min(step);
            sent.extend_from_slice(&chunk[..n]);
            out.advance(n);
        }
        sent
    }

    #[test]
    fn referenced_and_copied_arguments_send_the_same_bytes() {
        let big = Bytes::from(vec![7u8; 40_000]);
        let mut referenced = SendBuffer::new();
        let mut copied = SendBuffer::with_copy_threshold(usize::MAX);
        for out in [&mut referenced, &mut copied] {
            out.push_array_len(3);
            out.push_bulk(b"SET");
            out.push_bulk_bytes(big.clone());
            out.push_bulk_bytes(Bytes::from_static(b"small"));
        }
        assert_eq!(
            referenced.sealed.len(),
            2,
            "headers, then the big value by reference"
        );
        let expected = drain(copied, usize::MAX);
        assert_eq!(drain(referenced, 1000), expected);
    }

    #[test]
    fn partial_writes_resume_mid_chunk() {
        let mut out = SendBuffer::with_copy_threshold(4);
        out.push_array_len(2);
        out.push_bulk_bytes(Bytes::from_static(b"abcdef"));
        out.push_bulk_bytes(Bytes::from_static(b"ghijkl"));
        let total = out.remaining();
        assert_eq!(drain(out, 3).len(), total);
    }

    #[test]
    fn append_moves_everything_in_order() {
        let mut a = SendBuffer::with_copy_threshold(4);
        let mut b = SendBuffer::with_copy_threshold(4);
        let mut empty = SendBuffer::new();
        a.push_bulk(b"one");
        b.push_bulk_bytes(Bytes::from_static(b"twotwo"));
        b.push_raw(Bytes::from_static(b"+x\r\n"));
        empty.append(&mut a);
        assert!(a.is_empty());
        empty.append(&mut b);
        assert!(b.is_empty() && b.remaining() == 0);
        assert_eq!(drain(empty, 5), b"$3\r\none\r\n$6\r\ntwotwo\r\n+x\r\n");
    }

    #[test]
    fn vectored_view_skips_empty_chunks() {
        let mut out = SendBuffer::with_copy_threshold(1);
        out.push_bulk_bytes(Bytes::from_static(b"a"));
        let mut slices = [IoSlice::new(&[]); 4];
        let n = out.chunks_vectored(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(joined, b"$1\r\na\r\n");
    }
}
