//! Checks shared by the fuzz targets.

use bytes::{Bytes, BytesMut};
use resp_core::{DecodeError, Decoder, Frame, Limits, decode_with_limits};

#[path = "../../tests/support/same.rs"]
mod same;
use same::{same, same_all};

/// What a decoder made of a stream.
#[derive(Debug)]
pub struct Run {
    pub frames: Vec<Frame>,
    pub error: Option<DecodeError>,
    pub consumed: u64,
}

impl Run {
    pub fn assert_same_as(&self, other: &Self) {
        assert!(
            same_all(&self.frames, &other.frames),
            "frames differ:\n{:?}\n{:?}",
            self.frames,
            other.frames
        );
        assert_eq!(self.error, other.error);
        assert_eq!(self.consumed, other.consumed);
    }
}

/// Chunk sizes in 1..=max drawn from `seed`, so that one input byte picks a whole pattern of
/// reads.
pub struct Reads {
    state: u32,
    max: usize,
}

impl Reads {
    pub fn new(seed: u8) -> Self {
        Self {
            state: u32::from(seed).wrapping_mul(2_654_435_761) | 1,
            max: 1 + usize::from(seed % 32),
        }
    }

    fn next_len(&mut self) -> usize {
        // xorshift32
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + self.state as usize % self.max
    }
}

/// Feeds `wire` to a fresh decoder, in reads of the sizes `reads` yields or whole when `None`,
/// decoding after each read until the decoder needs more. Checks that a decode error is sticky
/// and that a failed or incomplete decode leaves the buffer alone.
pub fn feed(wire: &[u8], limits: Limits, mut reads: Option<Reads>) -> Run {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    loop {
        let len = reads.as_mut().map_or(wire.len(), Reads::next_len);
        let end = (fed + len).min(wire.len());
        buf.extend_from_slice(&wire[fed..end]);
        fed = end;
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {
                    assert_eq!(buf.len(), before);
                    break;
                }
                Err(error) => {
                    assert_eq!(decoder.decode(&mut buf), Err(error.clone()), "not sticky");
                    assert_eq!(buf.len(), before);
                    return Run {
                        frames,
                        error: Some(error),
                        consumed: decoder.stream_offset(),
                    };
                }
            }
        }
        if fed == wire.len() {
            break;
        }
    }
    Run {
        frames,
        error: None,
        consumed: decoder.stream_offset(),
    }
}

/// The stateless decoder, frame by frame, agrees with `expected` (its error offsets count from
/// the failing frame, so only the kind of outcome and the frames are compared here).
pub fn assert_stateless_agrees(wire: &[u8], limits: Limits, expected: &Run) {
    let mut rest = Bytes::copy_from_slice(wire);
    let mut frames = Vec::new();
    let mut consumed = 0u64;
    loop {
        match decode_with_limits(&rest, limits) {
            Ok(Some((frame, len))) => {
                assert!(len > 0 && len <= rest.len());
                frames.push(frame);
                rest = rest.slice(len..);
                consumed += len as u64;
            }
            Ok(None) => {
                assert!(
                    expected.error.is_none(),
                    "decoder failed, stateless did not"
                );
                break;
            }
            Err(error) => {
                let absolute = expected
                    .error
                    .as_ref()
                    .expect("stateless failed, decoder did not");
                assert_eq!(error.offset() + consumed, absolute.offset());
                break;
            }
        }
    }
    assert!(same_all(&frames, &expected.frames));
    assert_eq!(consumed, expected.consumed);
}

/// A decoded frame encodes to bytes that decode back to it, with nothing left over.
pub fn assert_reencodes(frame: &Frame, limits: Limits) {
    let mut wire = BytesMut::new();
    frame.encode(&mut wire);
    let wire = wire.freeze();
    let (again, len) = decode_with_limits(&wire, limits)
        .unwrap_or_else(|e| panic!("{frame:?} re-encoded to {wire:?}, which fails: {e}"))
        .unwrap_or_else(|| panic!("{frame:?} re-encoded to {wire:?}, which is incomplete"));
    assert!(
        same(&again, frame),
        "{frame:?} re-encoded to {wire:?}, decoded as {again:?}"
    );
    assert_eq!(len, wire.len());
}
