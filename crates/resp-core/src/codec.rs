//! A tokio-util codec for whole frames (feature `codec`), for servers and proxies built on
//! `tokio_util::codec::Framed`.

use bytes::BytesMut;

use crate::{DecodeError, Decoder, Frame, Limits};

/// Decodes and encodes whole [`Frame`]s for `tokio_util::codec::Framed`.
///
/// Decoding resumes across reads like [`Decoder`] does, so a large frame arriving in many small
/// reads is not rescanned each time.
///
/// ```
/// use bytes::BytesMut;
/// use resp_core::{Frame, RespCodec};
/// use tokio_util::codec::{Decoder as _, Encoder as _};
///
/// let mut codec = RespCodec::default();
/// let mut wire = BytesMut::new();
/// codec.encode(Frame::SimpleString("PONG".into()), &mut wire).unwrap();
/// assert_eq!(codec.decode(&mut wire).unwrap(), Some(Frame::SimpleString("PONG".into())));
/// ```
#[derive(Debug, Default)]
pub struct RespCodec {
    decoder: Decoder,
}

impl RespCodec {
    /// A codec that decodes with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            decoder: Decoder::with_limits(limits),
        }
    }
}

/// What can go wrong under a [`RespCodec`]: the transport failed, or the peer sent bad RESP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Reading or writing the transport failed.
    #[error("transport error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent bytes that are not valid RESP, or exceed the limits.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl tokio_util::codec::Decoder for RespCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        Ok(self.decoder.decode(src)?)
    }
}

impl tokio_util::codec::Encoder<Frame> for RespCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        frame.encode(dst);
        Ok(())
    }
}

impl tokio_util::codec::Encoder<&Frame> for RespCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        frame.encode(dst);
        Ok(())
    }
}
