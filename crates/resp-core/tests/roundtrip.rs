//! Property tests for the codec, through the public API only.
//!
//! - Every frame the encoder can write decodes back to itself, and exactly consumes its bytes.
//! - How the input is split across reads changes nothing: not the frames, not the error.
//! - The stateless [`decode`] and the resumable [`Decoder`] agree, on valid and invalid input.
//! - No input panics the decoder, and a decode error is sticky.
//! - A frame written with RESP3 streamed strings and aggregates decodes to the same frame as its
//!   ordinary encoding.
//!
//! Doubles make `PartialEq` on frames unusable here (NaN != NaN), so frames are compared with
//! [`same`], which treats all NaNs as equal and other doubles by their bits.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use resp_core::{DecodeError, Decoder, Frame, Limits, decode, decode_with_limits};

// ---------------------------------------------------------------------------------------------
// Frame equality (in tests/support/same.rs, shared with the fuzz targets)

#[path = "support/same.rs"]
mod same;
use same::{same, same_all};

#[test]
fn same_treats_nan_as_equal_and_signed_zeros_as_different() {
    let nan = Frame::Array(vec![Frame::Double(f64::NAN)]);
    let other_nan = Frame::Array(vec![Frame::Double(-f64::NAN)]);
    assert!(same(&nan, &other_nan));
    assert!(!same(&Frame::Double(0.0), &Frame::Double(-0.0)));
    assert!(!same(&Frame::Integer(1), &Frame::Double(1.0)));
    assert!(!same(
        &Frame::Map(vec![(Frame::Null, Frame::Double(1.0))]),
        &Frame::Map(vec![(Frame::Null, Frame::Double(2.0))])
    ));
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Text for simple strings and errors: any bytes but CR and LF, which the encoder requires.
fn line_text() -> impl Strategy<Value = Bytes> {
    let byte = any::<u8>().prop_map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b });
    vec(byte, 0..12).prop_map(Bytes::from)
}

/// A binary payload, biased towards bytes that mean something in RESP.
fn payload() -> impl Strategy<Value = Bytes> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        1 => select(&b"\r\n$*%:+-;.?"[..]),
    ];
    vec(byte, 0..24).prop_map(Bytes::from)
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => -1e6..1e6f64,
        1 => select(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e300, 5e-324][..]),
    ]
}

fn integer() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => any::<i64>(),
        1 => -1000..1000i64,
        1 => select(&[i64::MIN, i64::MAX, 0, -1][..]),
    ]
}

fn scalar() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_text().prop_map(Frame::SimpleString),
        line_text().prop_map(Frame::SimpleError),
        integer().prop_map(Frame::Integer),
        payload().prop_map(Frame::BulkString),
        payload().prop_map(Frame::BulkError),
        // The decoder takes any three bytes as the format, CR and LF included: the payload is
        // length-prefixed and only the ':' after the format is checked.
        (any::<[u8; 3]>(), payload()).prop_map(|(format, text)| Frame::verbatim(format, text)),
        Just(Frame::NullBulkString),
        Just(Frame::NullArray),
        Just(Frame::Null),
        double().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[0-9]{1,40}".prop_map(|digits| Frame::BigNumber(Bytes::from(digits))),
    ]
}

/// Any frame, nested up to four aggregates deep. Attributes may wrap any frame, another
/// attributed frame included: `|1 k v |1 k v x` decodes to exactly that nesting.
fn frame() -> impl Strategy<Value = Frame> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        let pairs = vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Frame::Array),
            vec(inner.clone(), 0..6).prop_map(Frame::Set),
            vec(inner.clone(), 0..6).prop_map(Frame::Push),
            pairs.clone().prop_map(Frame::Map),
            (pairs, inner).prop_map(|(attributes, frame)| Frame::Attributed {
                attributes,
                frame: Box::new(frame),
            }),
        ]
    })
}

/// Bytes that look like RESP without being built to be valid: lines that start with a marker
/// and hold a length, `?`, `-1` or text, bulk payloads with a correct or wrong length, bare
/// CRLFs and noise, in any order.
fn resp_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let marker = select(&b"+-:$*_,#(!=%~>|;."[..]);
    let content = prop_oneof![
        (0..12u32).prop_map(|n| n.to_string().into_bytes()),
        select(&["?", "-1", "", "t", "f", "inf", "nan", "1.5", "-", "txt:"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        line_text().prop_map(|b| b.to_vec()),
    ];
    let line = (marker, content).prop_map(|(marker, mut content)| {
        content.insert(0, marker);
        content.extend_from_slice(b"\r\n");
        content
    });
    let bulk = (select(&b"$!=;"[..]), payload(), -1..=1i64).prop_map(|(marker, data, skew)| {
        let len = (data.len() as i64 + skew).max(0);
        let mut piece = format!("{}{len}\r\n", marker as char).into_bytes();
        piece.extend_from_slice(&data);
        piece.extend_from_slice(b"\r\n");
        piece
    });
    let piece = prop_oneof![
        6 => line,
        3 => bulk,
        1 => vec(any::<u8>(), 1..4),
        1 => prop_oneof![Just(b"\r\n".to_vec()), Just(b"\r".to_vec()), Just(b"\n".to_vec())],
    ];
    vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// One edit to a valid encoding.
#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
    ]
}

fn mutate(wire: &mut Vec<u8>, mutation: &Mutation) {
    match *mutation {
        Mutation::Flip { at, mask } if !wire.is_empty() => {
            let at = at % wire.len();
            wire[at] ^= mask;
        }
        Mutation::Insert { at, byte } => wire.insert(at % (wire.len() + 1), byte),
        Mutation::Delete { at } if !wire.is_empty() => {
            wire.remove(at % wire.len());
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the decoder

fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        frame.encode(&mut buf);
    }
    buf.to_vec()
}

/// What a decoder made of a stream.
#[derive(Debug)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<DecodeError>,
    /// The decoder's stream offset at the end: the bytes taken by whole frames.
    consumed: u64,
}

impl Outcome {
    fn same_as(&self, other: &Self) -> bool {
        same_all(&self.frames, &other.frames)
            && self.error == other.error
            && self.consumed == other.consumed
    }
}

/// Feeds `wire` to a fresh decoder in pieces ending at `cuts` (then the rest), decoding after
/// each piece until the decoder needs more. Checks on the way that an error is sticky and that
/// an incomplete frame leaves the buffer untouched.
fn feed(wire: &[u8], cuts: impl IntoIterator<Item = usize>, limits: Limits) -> Outcome {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    for end in cuts.into_iter().chain([wire.len()]) {
        if end < fed {
            continue;
        }
        buf.extend_from_slice(&wire[fed..end]);
        fed = end;
        loop {
            let before = buf.clone();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {
                    assert_eq!(buf, before, "an incomplete frame must not consume bytes");
                    break;
                }
                Err(error) => {
                    for _ in 0..2 {
                        assert_eq!(decoder.decode(&mut buf), Err(error.clone()), "not sticky");
                    }
                    assert_eq!(buf, before, "a failed decode must not consume bytes");
                    return Outcome {
                        frames,
                        error: Some(error),
                        consumed: decoder.stream_offset(),
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        consumed: decoder.stream_offset(),
    }
}

fn feed_whole(wire: &[u8], limits: Limits) -> Outcome {
    feed(wire, [], limits)
}

fn feed_bytewise(wire: &[u8], limits: Limits) -> Outcome {
    feed(wire, 0..wire.len(), limits)
}

/// The same stream through the stateless [`decode_with_limits`], one frame at a time. Its
/// error's offset counts from the start of the frame that failed, not of the stream.
fn decode_stateless(wire: &[u8], limits: Limits) -> Outcome {
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
                return Outcome {
                    frames,
                    error: None,
                    consumed,
                };
            }
            Err(error) => {
                return Outcome {
                    frames,
                    error: Some(error),
                    consumed,
                };
            }
        }
    }
}

/// Cut positions for a stream: every one for short streams, an even spread for long ones.
fn cut_positions(len: usize) -> Vec<usize> {
    let step = (len / 160).max(1);
    (1..len).step_by(step).collect()
}

// ---------------------------------------------------------------------------------------------
// Streamed encoding

/// A small deterministic generator for the streamed encoder's choices.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n, for n > 0.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Mostly true: most strings and aggregates are streamed, some stay counted, so that the
    /// two forms nest inside each other.
    fn stream(&mut self) -> bool {
        self.below(8) != 0
    }
}

fn put_header(out: &mut BytesMut, marker: u8, len: usize) {
    out.put_u8(marker);
    out.put_slice(len.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

/// Writes `frame` with bulk strings as RESP3 streamed strings (`$?`, random `;n` chunks, `;0`)
/// and arrays, maps, sets and pushes as streamed aggregates (`*?` ... `.`). Attributes have no
/// streamed form and stay counted, their contents streamed.
fn encode_streamed(frame: &Frame, dice: &mut Dice, out: &mut BytesMut) {
    let streamed_marker = match frame {
        Frame::Array(_) => b'*',
        Frame::Set(_) => b'~',
        Frame::Push(_) => b'>',
        Frame::Map(_) => b'%',
        _ => 0,
    };
    match frame {
        Frame::BulkString(data) if dice.stream() => {
            out.put_slice(b"$?\r\n");
            let mut rest = &data[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(1 + dice.below(rest.len()));
                put_header(out, b';', chunk.len());
                out.put_slice(chunk);
                out.put_slice(b"\r\n");
                rest = tail;
            }
            out.put_slice(b";0\r\n");
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let streamed = dice.stream();
            if streamed {
                out.put_slice(&[streamed_marker, b'?', b'\r', b'\n']);
            } else {
                put_header(out, streamed_marker, items.len());
            }
            for item in items {
                encode_streamed(item, dice, out);
            }
            if streamed {
                out.put_slice(b".\r\n");
            }
        }
        Frame::Map(pairs) => {
            let streamed = dice.stream();
            if streamed {
                out.put_slice(b"%?\r\n");
            } else {
                put_header(out, b'%', pairs.len());
            }
            encode_pairs_streamed(pairs, dice, out);
            if streamed {
                out.put_slice(b".\r\n");
            }
        }
        Frame::Attributed { attributes, frame } => {
            put_header(out, b'|', attributes.len());
            encode_pairs_streamed(attributes, dice, out);
            encode_streamed(frame, dice, out);
        }
        other => other.encode(out),
    }
}

fn encode_pairs_streamed(pairs: &[(Frame, Frame)], dice: &mut Dice, out: &mut BytesMut) {
    for (key, value) in pairs {
        encode_streamed(key, dice, out);
        encode_streamed(value, dice, out);
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// (a) encode, then decode: the same frame, and exactly the encoded bytes consumed.
    #[test]
    fn encoded_frames_decode_to_themselves(frame in frame()) {
        let wire = encode(std::slice::from_ref(&frame));

        let mut buf = BytesMut::from(&wire[..]);
        let decoded = Decoder::new().decode(&mut buf).unwrap();
        let decoded = decoded.expect("a whole encoded frame decodes");
        prop_assert!(same(&decoded, &frame), "{:?}\n  became {:?}", frame, decoded);
        prop_assert!(buf.is_empty(), "{} bytes left over", buf.len());

        // One byte short is incomplete, not an error and not a different frame.
        let short = Bytes::copy_from_slice(&wire[..wire.len() - 1]);
        prop_assert_eq!(decode(&short).unwrap(), None);
    }

    /// (c) the stateless decoder agrees with the `Decoder` on a valid frame and its length.
    #[test]
    fn stateless_decode_agrees_on_valid_frames(frame in frame(), tail in payload()) {
        let mut wire = encode(std::slice::from_ref(&frame));
        let len = wire.len();
        wire.extend_from_slice(&tail);
        let (decoded, consumed) = decode(&Bytes::from(wire)).unwrap().expect("a whole frame");
        prop_assert_eq!(consumed, len);
        prop_assert!(same(&decoded, &frame));
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// (b) a sequence of frames split in two at every position, or fed one byte at a time,
    /// decodes to the same frames as when fed whole.
    #[test]
    fn splitting_the_input_changes_nothing(frames in vec(frame(), 1..4)) {
        let wire = encode(&frames);
        let limits = Limits::default();
        let whole = feed_whole(&wire, limits);
        prop_assert!(whole.error.is_none(), "{:?}", whole.error);
        prop_assert!(same_all(&whole.frames, &frames));
        prop_assert_eq!(whole.consumed, wire.len() as u64);

        for cut in cut_positions(wire.len()) {
            let split = feed(&wire, [cut], limits);
            prop_assert!(split.same_as(&whole), "cut at {}: {:?}", cut, split);
        }
        let bytewise = feed_bytewise(&wire, limits);
        prop_assert!(bytewise.same_as(&whole), "byte by byte: {:?}", bytewise);
    }

    /// (c) on a sequence of frames the stateless decoder, applied frame by frame, agrees with
    /// the `Decoder`.
    #[test]
    fn stateless_decode_agrees_on_sequences(frames in vec(frame(), 1..4)) {
        let wire = encode(&frames);
        let stateless = decode_stateless(&wire, Limits::default());
        prop_assert!(stateless.same_as(&feed_whole(&wire, Limits::default())));
    }

    /// (e) a frame written with streamed strings and aggregates decodes to the same frame as
    /// its ordinary encoding, whole and byte by byte.
    #[test]
    fn streamed_encodings_decode_to_the_same_frame(frame in frame(), seed in any::<u64>()) {
        let mut wire = BytesMut::new();
        encode_streamed(&frame, &mut Dice(seed), &mut wire);
        let whole = feed_whole(&wire, Limits::default());
        prop_assert!(whole.error.is_none(), "{:?} in {:?}", whole.error, wire);
        prop_assert_eq!(whole.frames.len(), 1);
        prop_assert!(same(&whole.frames[0], &frame), "{:?}\n  became {:?}", frame, whole.frames[0]);
        prop_assert_eq!(whole.consumed, wire.len() as u64);
        prop_assert!(feed_bytewise(&wire, Limits::default()).same_as(&whole));
        let stateless = decode(&wire.freeze()).unwrap().expect("a whole frame");
        prop_assert!(same(&stateless.0, &frame));
    }
}

/// Limits small enough that random input runs into every one of them.
fn tiny_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_bulk_len = 16;
    limits.max_aggregate_len = 4;
    limits.max_depth = 3;
    limits.max_line_len = 24;
    limits
}

/// Limits raised as far as they go, the way a caller says "no limit".
fn no_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_bulk_len = usize::MAX;
    limits.max_aggregate_len = usize::MAX;
    limits.max_line_len = usize::MAX;
    limits
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        Just(tiny_limits()),
        Just(no_limits())
    ]
}

proptest! {
    #![proptest_config(config(2048))]

    /// (d) arbitrary bytes never panic. Whatever they are, feeding them whole, byte by byte or
    /// split once gives the same frames and the same error, and the stateless decoder agrees.
    #[test]
    fn arbitrary_bytes_never_panic(wire in resp_ish_bytes(), cut in any::<usize>(), limits in limits()) {
        let whole = feed_whole(&wire, limits);
        let bytewise = feed_bytewise(&wire, limits);
        prop_assert!(bytewise.same_as(&whole), "whole {:?}\n  bytewise {:?}", whole, bytewise);
        let split = feed(&wire, [cut % (wire.len() + 1)], limits);
        prop_assert!(split.same_as(&whole), "whole {:?}\n  split {:?}", whole, split);
        check_stateless(&wire, limits, &whole)?;
    }

    /// (d) valid encodings with one byte flipped, inserted or deleted never panic, and decode
    /// the same whole, byte by byte and statelessly.
    #[test]
    fn mutated_encodings_never_panic(
        frames in vec(frame(), 1..3),
        mutations in vec(mutation(), 1..3),
        limits in limits(),
    ) {
        let mut wire = encode(&frames);
        for m in &mutations {
            mutate(&mut wire, m);
        }
        let whole = feed_whole(&wire, limits);
        let bytewise = feed_bytewise(&wire, limits);
        prop_assert!(bytewise.same_as(&whole), "whole {:?}\n  bytewise {:?}", whole, bytewise);
        check_stateless(&wire, limits, &whole)?;
    }
}

/// The stateless decoder, frame by frame, finds the frames the `Decoder` found; where the
/// `Decoder` failed, the stateless one fails on the same bytes with the same error, offsets
/// counted from the start of the failing frame instead of the stream.
fn check_stateless(wire: &[u8], limits: Limits, expected: &Outcome) -> Result<(), TestCaseError> {
    let stateless = decode_stateless(wire, limits);
    prop_assert!(same_all(&stateless.frames, &expected.frames));
    prop_assert_eq!(stateless.consumed, expected.consumed);
    match (&stateless.error, &expected.error) {
        (None, None) => {}
        (Some(relative), Some(absolute)) => {
            prop_assert_eq!(relative.offset() + expected.consumed, absolute.offset());
            // Same variant and fields: the `Decoder` restarted at the failing frame reports
            // exactly the stateless error.
            let rest = &wire[expected.consumed as usize..];
            let restarted = feed_whole(rest, limits);
            prop_assert_eq!(restarted.error.as_ref(), Some(relative));
        }
        (got, want) => prop_assert!(false, "stateless {:?}, decoder {:?}", got, want),
    }
    Ok(())
}

/// A large bulk, and every bulk of an array, decode to slices of the buffer they arrived in,
/// however the reads were split: nothing is copied out of the read buffer.
#[test]
fn bulk_payloads_are_not_copied() {
    let mut wire = BytesMut::new();
    Frame::BulkString(Bytes::from(vec![b'x'; 1 << 20])).encode(&mut wire);
    Frame::Array(
        (0..100)
            .map(|i| Frame::BulkString(format!("v{i}").into()))
            .collect(),
    )
    .encode(&mut wire);

    // Arrive in 4 KiB reads; the buffer is sized for the whole stream so that it never moves.
    let mut buf = BytesMut::with_capacity(wire.len());
    let allocation = buf.as_ptr() as usize..buf.as_ptr() as usize + wire.len();
    let within = |payload: &Bytes| {
        let start = payload.as_ptr() as usize;
        allocation.contains(&start) && allocation.contains(&(start + payload.len() - 1))
    };
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    for read in wire.chunks(4096) {
        buf.extend_from_slice(read);
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(buf.as_ptr() as usize, allocation.end, "the buffer moved");
    let [Frame::BulkString(big), Frame::Array(items)] = &frames[..] else {
        panic!("a bulk and an array expected, got {frames:?}");
    };
    assert_eq!(big.len(), 1 << 20);
    assert!(within(big), "the 1 MiB payload was copied");
    for item in items {
        assert!(within(item.as_bytes().unwrap()), "{item:?} was copied");
    }
}
