use bytes::{Bytes, BytesMut};

use super::*;

fn one(wire: &[u8]) -> Frame {
    let mut buf = BytesMut::from(wire);
    let frame = Decoder::new()
        .decode(&mut buf)
        .unwrap()
        .expect("a whole frame");
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frame
}

fn error(wire: &[u8]) -> DecodeError {
    error_with(wire, Limits::default())
}

fn error_with(wire: &[u8], limits: Limits) -> DecodeError {
    Decoder::with_limits(limits)
        .decode(&mut BytesMut::from(wire))
        .unwrap_err()
}

fn s(text: &'static str) -> Frame {
    Frame::SimpleString(Bytes::from_static(text.as_bytes()))
}

fn b(text: &'static str) -> Frame {
    Frame::BulkString(Bytes::from_static(text.as_bytes()))
}

#[test]
fn scalar_types() {
    assert_eq!(one(b"+OK\r\n"), s("OK"));
    assert_eq!(one(b"+\r\n"), s(""));
    assert_eq!(
        one(b"-ERR unknown command\r\n"),
        Frame::SimpleError("ERR unknown command".into())
    );
    assert_eq!(one(b":0\r\n"), Frame::Integer(0));
    assert_eq!(one(b":-9223372036854775808\r\n"), Frame::Integer(i64::MIN));
    assert_eq!(one(b"$5\r\nhello\r\n"), b("hello"));
    assert_eq!(one(b"$0\r\n\r\n"), b(""));
    assert_eq!(
        one(b"$4\r\na\r\nb\r\n"),
        b("a\r\nb"),
        "bulk strings are binary safe"
    );
    assert_eq!(
        one(b"!10\r\nSYNTAX bad\r\n"),
        Frame::BulkError("SYNTAX bad".into())
    );
    assert_eq!(
        one(b"=15\r\ntxt:Some string\r\n"),
        Frame::verbatim(*b"txt", "Some string")
    );
    assert_eq!(one(b"=4\r\nmkd:\r\n"), Frame::verbatim(*b"mkd", ""));
    assert_eq!(one(b"$-1\r\n"), Frame::NullBulkString);
    assert_eq!(one(b"*-1\r\n"), Frame::NullArray);
    assert_eq!(one(b"_\r\n"), Frame::Null);
    assert_eq!(one(b",3.25\r\n"), Frame::Double(3.25));
    assert_eq!(one(b",-1e-3\r\n"), Frame::Double(-0.001));
    assert_eq!(one(b",10\r\n"), Frame::Double(10.0));
    assert_eq!(one(b",inf\r\n"), Frame::Double(f64::INFINITY));
    assert_eq!(one(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
    assert!(matches!(one(b",nan\r\n"), Frame::Double(d) if d.is_nan()));
    assert_eq!(one(b"#t\r\n"), Frame::Boolean(true));
    assert_eq!(one(b"#f\r\n"), Frame::Boolean(false));
    assert_eq!(
        one(b"(3492890328409238509324850943850943825024385\r\n"),
        Frame::BigNumber("3492890328409238509324850943850943825024385".into())
    );
    assert_eq!(one(b"(-1\r\n"), Frame::BigNumber("-1".into()));
}

#[test]
fn aggregate_types() {
    assert_eq!(one(b"*0\r\n"), Frame::Array(vec![]));
    assert_eq!(
        one(b"*2\r\n$3\r\nfoo\r\n:1\r\n"),
        Frame::Array(vec![b("foo"), Frame::Integer(1)])
    );
    assert_eq!(
        one(b"*2\r\n*1\r\n+a\r\n*0\r\n"),
        Frame::Array(vec![Frame::Array(vec![s("a")]), Frame::Array(vec![])])
    );
    assert_eq!(
        one(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
        Frame::Map(vec![
            (s("first"), Frame::Integer(1)),
            (s("second"), Frame::Integer(2))
        ])
    );
    assert_eq!(one(b"%0\r\n"), Frame::Map(vec![]));
    assert_eq!(
        one(b"~2\r\n+a\r\n#t\r\n"),
        Frame::Set(vec![s("a"), Frame::Boolean(true)])
    );
    assert_eq!(
        one(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
        Frame::Push(vec![b("message"), b("ch"), b("hi")])
    );
    assert_eq!(
        one(b"*3\r\n:1\r\n$-1\r\n_\r\n"),
        Frame::Array(vec![Frame::Integer(1), Frame::NullBulkString, Frame::Null])
    );
}

#[test]
fn attributes_attach_to_the_next_frame() {
    // The example from the RESP3 specification.
    let wire = b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n\
                 *2\r\n:2039123\r\n:9543892\r\n";
    let expected = Frame::Attributed {
        attributes: vec![(
            s("key-popularity"),
            Frame::Map(vec![
                (b("a"), Frame::Double(0.1923)),
                (b("b"), Frame::Double(0.0012)),
            ]),
        )],
        frame: Box::new(Frame::Array(vec![
            Frame::Integer(2039123),
            Frame::Integer(9543892),
        ])),
    };
    assert_eq!(one(wire), expected);

    // Inside an aggregate, the attribute and its frame count as one element.
    let nested = one(b"*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nx\r\n");
    let Frame::Array(items) = nested else {
        panic!("array expected")
    };
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].without_attributes(), &b("x"));
}

#[test]
fn streamed_strings_and_aggregates_become_ordinary_frames() {
    assert_eq!(
        one(b"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n"),
        b("Hello word")
    );
    assert_eq!(one(b"$?\r\n;0\r\n"), b(""));
    assert_eq!(
        one(b"*?\r\n:1\r\n:2\r\n.\r\n"),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
    );
    assert_eq!(one(b"~?\r\n.\r\n"), Frame::Set(vec![]));
    assert_eq!(
        one(b"%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n"),
        Frame::Map(vec![
            (s("a"), Frame::Integer(1)),
            (s("b"), Frame::Integer(2))
        ])
    );
    // Streamed inside counted inside streamed.
    assert_eq!(
        one(b"*?\r\n*1\r\n$?\r\n;2\r\nab\r\n;0\r\n.\r\n"),
        Frame::Array(vec![Frame::Array(vec![b("ab")])])
    );
}

#[test]
fn bulk_payloads_are_slices_of_the_read_buffer() {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n");
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Some(Frame::Array(items)) = Decoder::new().decode(&mut buf).unwrap() else {
        panic!("array expected")
    };
    for item in &items {
        let payload = item.as_bytes().unwrap();
        assert!(
            range.contains(&(payload.as_ptr() as usize)),
            "payload was copied"
        );
    }
}

#[test]
fn incomplete_input_leaves_the_buffer_untouched() {
    let wire: &[u8] = b"*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.5\r\n$?\r\n;1\r\nx\r\n;0\r\n";
    for cut in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut decoder = Decoder::new();
        assert_eq!(decoder.decode(&mut buf), Ok(None), "cut at {cut}");
        assert_eq!(&buf[..], &wire[..cut], "cut at {cut}");
        buf.extend_from_slice(&wire[cut..]);
        assert!(
            decoder.decode(&mut buf).unwrap().is_some(),
            "resumed at {cut}"
        );
        assert!(buf.is_empty());
    }
}

#[test]
fn pending_len_is_where_the_awaited_payload_ends() {
    // Cut inside each payload of an array, a streamed string's chunk and an attribute: the
    // hint is the end of that payload's CRLF; anywhere else there is none.
    let wire: &[u8] = b"*2\r\n$5\r\nhello\r\n$?\r\n;3\r\nabc\r\n;0\r\n";
    let payload_ends = [(8, 15), (23, 28)]; // (payload start, end of its CRLF)
    for cut in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut decoder = Decoder::new();
        assert_eq!(decoder.decode(&mut buf), Ok(None), "cut at {cut}");
        let expected = payload_ends
            .iter()
            .find(|&&(start, end)| (start..end).contains(&cut))
            .map(|&(_, end)| end);
        assert_eq!(decoder.pending_len(), expected, "cut at {cut}");
        if let Some(end) = expected {
            // Growing the buffer to the hint and filling it finishes that payload.
            buf.reserve(end - buf.len());
            assert!(buf.capacity() >= end);
            buf.extend_from_slice(&wire[cut..end]);
            let done = decoder.decode(&mut buf).unwrap();
            assert_eq!(done.is_some(), end == wire.len(), "cut at {cut}");
        }
    }
    // Between frames, and once the stream failed, there is nothing to wait for.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"$3\r\nabc\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(b("abc")));
    assert_eq!(decoder.pending_len(), None);
    let mut buf = BytesMut::from(&b"$3\r\nab"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(decoder.pending_len(), Some(9));
    buf.extend_from_slice(b"cXX");
    assert!(decoder.decode(&mut buf).is_err());
    assert_eq!(decoder.pending_len(), None);
}

#[test]
fn frames_are_split_off_one_at_a_time() {
    let mut buf = BytesMut::from(&b"+OK\r\n:1\r\n$1\r\nx\r\n+PART"[..]);
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(s("OK")));
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Frame::Integer(1)));
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(b("x")));
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(&buf[..], b"+PART");
    assert_eq!(decoder.stream_offset(), 16);
}

#[test]
fn malformed_input_names_the_problem_and_offset() {
    use DecodeError::*;
    assert_eq!(
        error(b"@oops\r\n"),
        InvalidType {
            byte: b'@',
            offset: 0
        }
    );
    assert_eq!(
        error(b"*1\r\n?\r\n"),
        InvalidType {
            byte: b'?',
            offset: 4
        }
    );
    assert_eq!(error(b"$abc\r\n"), InvalidLength { offset: 0 });
    assert_eq!(error(b"$-2\r\n"), InvalidLength { offset: 0 });
    assert_eq!(error(b"!-1\r\n"), InvalidLength { offset: 0 });
    assert_eq!(error(b"%-1\r\n"), InvalidLength { offset: 0 });
    assert_eq!(error(b"|?\r\n"), InvalidLength { offset: 0 });
    assert_eq!(error(b":12x\r\n"), InvalidInteger { offset: 0 });
    assert_eq!(
        error(b":99999999999999999999\r\n"),
        InvalidInteger { offset: 0 }
    );
    assert_eq!(error(b",one\r\n"), InvalidDouble { offset: 0 });
    assert_eq!(error(b"#x\r\n"), InvalidBoolean { offset: 0 });
    assert_eq!(error(b"(12a\r\n"), InvalidBigNumber { offset: 0 });
    assert_eq!(error(b"_x\r\n"), InvalidNull { offset: 0 });
    assert_eq!(error(b"=3\r\ntxt\r\n"), InvalidVerbatim { offset: 0 });
    assert_eq!(error(b"=5\r\ntxt-x\r\n"), InvalidVerbatim { offset: 4 });
    assert_eq!(error(b"$3\r\nabcd\r\n"), MissingCrlf { offset: 7 });
    assert_eq!(error(b"+a\rb\r\n"), BareCarriageReturn { offset: 2 });
    assert_eq!(error(b";3\r\nabc\r\n"), UnexpectedChunk { offset: 0 });
    assert_eq!(error(b"$?\r\n:1\r\n"), ExpectedChunk { offset: 4 });
    assert_eq!(error(b".\r\n"), UnexpectedEnd { offset: 0 });
    assert_eq!(error(b"*1\r\n.\r\n"), UnexpectedEnd { offset: 4 });
    assert_eq!(error(b"%?\r\n+a\r\n.\r\n"), OddMapEntries { offset: 8 });
}

#[test]
fn offsets_count_from_the_start_of_the_stream() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+OK\r\n+OK\r\n:x\r\n"[..]);
    decoder.decode(&mut buf).unwrap();
    decoder.decode(&mut buf).unwrap();
    let err = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(err, DecodeError::InvalidInteger { offset: 10 });
    assert!(err.to_string().contains("offset 10"), "{err}");
}

#[test]
fn errors_are_sticky_until_reset() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"@\r\n"[..]);
    let first = decoder.decode(&mut buf).unwrap_err();
    let mut good = BytesMut::from(&b"+OK\r\n"[..]);
    assert_eq!(decoder.decode(&mut good), Err(first));
    decoder.reset();
    assert_eq!(decoder.decode(&mut good).unwrap(), Some(s("OK")));
}

#[test]
fn limits_are_enforced_before_the_bytes_arrive() {
    let limits = Limits {
        max_bulk_len: 10,
        max_aggregate_len: 3,
        max_depth: 2,
        max_line_len: 8,
    };
    let err = error_with(b"$11\r\n", limits);
    assert_eq!(
        err,
        DecodeError::BulkTooLong {
            len: 11,
            max: 10,
            offset: 0
        }
    );
    assert!(
        err.to_string().contains("max_bulk_len"),
        "the message says what to raise: {err}"
    );
    assert_eq!(
        error_with(b"$?\r\n;6\r\nabcdef\r\n;5\r\n", limits),
        DecodeError::BulkTooLong {
            len: 11,
            max: 10,
            offset: 0
        }
    );
    assert_eq!(
        error_with(b"*4\r\n", limits),
        DecodeError::AggregateTooLong {
            len: 4,
            max: 3,
            offset: 0
        }
    );
    assert_eq!(
        error_with(b"*?\r\n:1\r\n:1\r\n:1\r\n:1\r\n", limits),
        DecodeError::AggregateTooLong {
            len: 4,
            max: 3,
            offset: 0
        }
    );
    assert_eq!(
        error_with(b"*1\r\n*1\r\n*1\r\n", limits),
        DecodeError::TooDeep { max: 2, offset: 8 }
    );
    // A line that is too long fails as soon as it is longer than the limit, CRLF or not.
    assert_eq!(
        error_with(b"+123456789", limits),
        DecodeError::LineTooLong { max: 8, offset: 0 }
    );
    assert_eq!(
        error_with(b"+123456789\r\n", limits),
        DecodeError::LineTooLong { max: 8, offset: 0 }
    );
    assert_eq!(one(b"+12345678\r\n"), s("12345678"));
}

#[test]
fn limits_raised_to_the_maximum_mean_no_limit() {
    // Regression: `max_line_len: usize::MAX` overflowed the bound of the line search (a panic
    // in debug builds; in release builds every line was rejected as too long), and
    // `max_aggregate_len: usize::MAX` overflowed doubling a huge map's declared pair count.
    let unlimited = Limits {
        max_bulk_len: usize::MAX,
        max_aggregate_len: usize::MAX,
        max_depth: 128,
        max_line_len: usize::MAX,
    };
    let mut decoder = Decoder::with_limits(unlimited);
    let mut buf = BytesMut::from(
        &b"+OK\r\n%9999999999999999999\r\n|9999999999999999999\r\n$9999999999999999999\r\n"[..],
    );
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(s("OK")));
    // Frames that cannot complete in practice are incomplete, not errors and not panics.
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
}

#[test]
fn huge_declared_lengths_reserve_nothing() {
    // A peer declaring a 2^27-element array or a 512 MiB bulk and then stalling must not make
    // the decoder allocate for it: the token list only grows with elements that arrived.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"*134217728\r\n:1\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(decoder.scanner.tokens.capacity() < 64);
    let mut buf = BytesMut::from(&b"$536870912\r\nabc"[..]);
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(
        buf.capacity(),
        15,
        "the decoder does not grow the caller's buffer"
    );
}

#[test]
fn nesting_at_the_depth_limit_decodes_on_a_small_stack() {
    let depth = Limits::default().max_depth;
    let mut wire = b"*1\r\n".repeat(depth);
    wire.extend_from_slice(b":1\r\n");
    let too_deep = [b"*1\r\n".as_slice(), &wire].concat();
    // Building and dropping run on a thread with half the usual stack.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let mut frame = one(&wire);
            for _ in 0..depth {
                let Frame::Array(mut items) = frame else {
                    panic!("array expected")
                };
                frame = items.pop().unwrap();
            }
            assert_eq!(frame, Frame::Integer(1));
            assert!(matches!(
                error(&too_deep),
                DecodeError::TooDeep { max: 128, .. }
            ));
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Feeds `wire` in `chunk`-byte reads, as a socket would, and returns the frame and the bytes
/// the decoder examined.
fn feed_in_chunks(wire: &[u8], chunk: usize) -> (Frame, u64) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        if let Some(frame) = decoder.decode(&mut buf).unwrap() {
            assert!(buf.is_empty());
            return (frame, decoder.bytes_examined());
        }
    }
    panic!("the frame never completed");
}

#[test]
fn a_512_mib_bulk_in_4_kib_reads_is_not_rescanned() {
    let len = 512 * 1024 * 1024;
    let mut wire = Vec::with_capacity(len + 32);
    wire.extend_from_slice(format!("${len}\r\n").as_bytes());
    wire.resize(wire.len() + len, b'v');
    wire.extend_from_slice(b"\r\n");
    let (frame, examined) = feed_in_chunks(&wire, 4096);
    assert_eq!(frame.as_bytes().map(Bytes::len), Some(len));
    // The header line and the final CRLF; the payload itself is never looked at, and the
    // 131,072 reads each cost a length comparison, not a scan.
    assert!(examined <= 16, "examined {examined} bytes");
}

#[test]
fn a_million_element_array_in_4_kib_reads_is_scanned_once() {
    let count = 1_000_000;
    let mut wire = format!("*{count}\r\n").into_bytes();
    for i in 0..count {
        wire.extend_from_slice(format!(":{i}\r\n").as_bytes());
    }
    let (frame, examined) = feed_in_chunks(&wire, 4096);
    let Frame::Array(items) = frame else {
        panic!("array expected")
    };
    assert_eq!(items.len(), count);
    assert_eq!(items[count - 1], Frame::Integer(count as i64 - 1));
    // Every byte at most once, plus one re-look at a CR whose LF was in the next read.
    let reads = wire.len().div_ceil(4096) as u64;
    assert!(
        examined <= wire.len() as u64 + reads,
        "examined {examined} of {} bytes",
        wire.len()
    );
}

#[test]
fn a_long_line_in_tiny_reads_is_scanned_once() {
    let mut wire = b"+".to_vec();
    wire.resize(60_001, b'x');
    wire.extend_from_slice(b"\r\n");
    let (frame, examined) = feed_in_chunks(&wire, 7);
    assert_eq!(frame.as_bytes().map(Bytes::len), Some(60_000));
    assert!(examined <= wire.len() as u64, "examined {examined}");
}

#[test]
fn decode_from_bytes_reports_length_without_consuming() {
    let src = Bytes::from_static(b"$3\r\nabc\r\n:7\r\n");
    let (frame, len) = decode(&src).unwrap().unwrap();
    assert_eq!((frame, len), (b("abc"), 9));
    assert_eq!(
        decode(&src.slice(len..)).unwrap(),
        Some((Frame::Integer(7), 4))
    );
    assert_eq!(decode(&Bytes::from_static(b"$3\r\nab")).unwrap(), None);
}

#[test]
fn ok_replies_decode_the_same_split_anywhere() {
    // `+OK` whole at the front takes a shortcut; split, or behind another frame's tail, it is
    // scanned. Both must give the same frames and stream offsets.
    let wire = b"+OK\r\n+OK\r\n$2\r\nhi\r\n+OKAY\r\n+OK\r\n";
    let want = [s("OK"), s("OK"), b("hi"), s("OKAY"), s("OK")];
    for cut in 0..=wire.len() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got = Vec::new();
        while let Some(frame) = decoder
            .decode(&mut buf)
            .unwrap_or_else(|e| panic!("cut at {cut}: {e:?}"))
        {
            got.push(frame);
        }
        buf.extend_from_slice(&wire[cut..]);
        while let Some(frame) = decoder
            .decode(&mut buf)
            .unwrap_or_else(|e| panic!("cut at {cut}: {e:?}"))
        {
            got.push(frame);
        }
        assert_eq!(got, want, "cut at {cut}");
        assert!(buf.is_empty());
        assert_eq!(decoder.stream_offset(), wire.len() as u64);
    }
}

/// The short-bulk shortcut (`$<1 or 2 digits>`, whole frame present) must give what the scan
/// gives: the same frames, offsets, examined bytes and errors, whatever the reads' sizes.
#[test]
fn short_bulks_decode_alike_whole_and_in_pieces() {
    let payload_99 = "x".repeat(99);
    let wires: Vec<Vec<u8>> = vec![
        b"$0\r\n\r\n".to_vec(),
        b"$5\r\nhello\r\n".to_vec(),
        b"$05\r\nhello\r\n".to_vec(),
        b"$2\r\n\r\n\r\n".to_vec(),
        format!("$99\r\n{payload_99}\r\n").into_bytes(),
        format!("$100\r\n{payload_99}y\r\n").into_bytes(),
    ];
    for wire in &wires {
        let whole = one(wire);
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &byte in wire {
            buf.extend_from_slice(&[byte]);
            if let Some(frame) = decoder.decode(&mut buf).unwrap() {
                got = Some(frame);
            }
        }
        assert_eq!(
            got.as_ref(),
            Some(&whole),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
        assert_eq!(decoder.stream_offset(), wire.len() as u64);
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&wire[..]);
        decoder.decode(&mut buf).unwrap();
        // The header, as the scan counts it; never the payload.
        let header = wire.iter().position(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(decoder.bytes_examined(), header as u64);
    }
    // Two in a row, then a partial third that stays in the buffer.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"$1\r\na\r\n$2\r\nbc\r\n$3\r\nde"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(b("a")));
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(b("bc")));
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(&buf[..], b"$3\r\nde");
    // A payload not followed by CRLF is an error (the scan's), not a frame; so is a short bulk
    // over the bulk limit.
    let _ = error(b"$2\r\nabc\r\n");
    let limits = Limits {
        max_bulk_len: 3,
        ..Limits::default()
    };
    let _ = error_with(b"$5\r\nhello\r\n", limits);
    assert_eq!(
        Decoder::with_limits(limits)
            .decode(&mut BytesMut::from(&b"$3\r\nabc\r\n"[..]))
            .unwrap(),
        Some(b("abc"))
    );
}
