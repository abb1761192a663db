//! RESP2 and RESP3 framing for Redis and Valkey clients, servers and proxies.
//!
//! - [`Decoder`] splits whole [`Frame`]s off a read buffer. Bulk payloads are [`bytes::Bytes`]
//!   slices of that buffer, never copies. Incomplete input is `Ok(None)`, not an error, and the
//!   next call resumes where the last one stopped: a large frame arriving in many small reads is
//!   scanned once, not once per read.
//! - [`Limits`] bound bulk lengths, aggregate sizes, nesting depth and line length, so hostile
//!   input ends in a [`DecodeError`] that says what was wrong and where, never in a panic, a
//!   stack overflow or an allocation sized by an untrusted length.
//! - [`Frame::encode`] writes every frame type; [`encode_command`], [`write_bulk`] and friends
//!   write commands straight into a `BytesMut`; [`SendBuffer`] queues large arguments by
//!   reference for vectored writes.
//! - [`slot`] computes Redis Cluster key slots, hash tags included.
//! - With the `codec` feature, `RespCodec` plugs the decoder and encoder into
//!   `tokio_util::codec::Framed`.
//!
//! This crate does no I/O and reads no clock.
//!
//! ```
//! use bytes::BytesMut;
//! use resp_core::{Decoder, Frame, encode_command};
//!
//! // What a client writes...
//! let mut out = BytesMut::new();
//! encode_command(&mut out, ["GET", "greeting"]);
//! assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n");
//!
//! // ...and how it reads the reply, however the socket splits it.
//! let mut decoder = Decoder::new();
//! let mut input = BytesMut::new();
//! for piece in [&b"$5\r"[..], b"\nhel", b"lo\r\n"] {
//!     input.extend_from_slice(piece);
//!     if let Some(frame) = decoder.decode(&mut input)? {
//!         assert_eq!(frame, Frame::BulkString("hello".into()));
//!     }
//! }
//! # Ok::<(), resp_core::DecodeError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "codec")]
mod codec;
mod decode;
mod encode;
mod frame;
mod send;
mod slot;

#[cfg(feature = "codec")]
pub use crate::codec::{CodecError, RespCodec};
pub use crate::decode::{DecodeError, Decoder, Limits, decode, decode_with_limits};
pub use crate::encode::{
    DoubleText, bulk_header_len, encode_command, write_array_len, write_bulk, write_bulk_double,
    write_bulk_header, write_bulk_header_to, write_bulk_integer, write_bulk_to,
};
pub use crate::frame::{Frame, Verbatim};
pub use crate::send::SendBuffer;
pub use crate::slot::{SLOT_COUNT, crc16, hash_tag, slot};
