//! resp-core against the bytes a real server sends: every `DEBUG PROTOCOL` type decoded one
//! byte at a time and whole, and cluster key slots against `CLUSTER KEYSLOT`.

use bytes::{Bytes, BytesMut};
use redwire_tests::{TestEnv, TopologyKind, encode};
use resp_core::{Decoder, Frame};

/// Decodes `raw`, fed to a fresh decoder one byte at a time: the frame must complete on the
/// last byte and not before, leaving nothing behind.
fn decode_bytewise(raw: &[u8]) -> Frame {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    for (i, &byte) in raw.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                assert_eq!(
                    i + 1,
                    raw.len(),
                    "{:?} decoded after {} bytes",
                    String::from_utf8_lossy(raw),
                    i + 1
                );
                assert!(buf.is_empty(), "{} bytes left", buf.len());
                return frame;
            }
            Ok(None) => {}
            Err(e) => panic!(
                "{:?}: error after byte {i}: {e}",
                String::from_utf8_lossy(raw)
            ),
        }
    }
    panic!("{:?}: incomplete", String::from_utf8_lossy(raw));
}

/// Decodes `raw` in one piece, with the decoder and with `resp_core::decode`.
fn decode_whole(raw: &[u8]) -> Frame {
    let mut buf = BytesMut::from(raw);
    let frame = Decoder::new()
        .decode(&mut buf)
        .expect("valid RESP")
        .expect("a whole frame");
    assert!(buf.is_empty());
    let (again, used) = resp_core::decode(&Bytes::copy_from_slice(raw))
        .expect("valid RESP")
        .expect("a whole frame");
    assert_eq!(used, raw.len());
    assert_eq!(again, frame);
    frame
}

/// What `DEBUG PROTOCOL double` sends (three decimals of pi, not the constant).
#[allow(clippy::approx_constant)]
const DEBUG_DOUBLE: f64 = 3.141;

fn bulk(text: &str) -> Frame {
    Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
}

fn ints(values: &[i64]) -> Vec<Frame> {
    values.iter().map(|&n| Frame::Integer(n)).collect()
}

/// What each `DEBUG PROTOCOL` type decodes to in `protocol`: the frames it answers with.
fn expected(kind: &str, protocol: u8) -> Vec<Frame> {
    let resp3 = protocol == 3;
    let attributed = "Some real reply following the attribute";
    let frame = match kind {
        "string" => bulk("Hello World"),
        "integer" => Frame::Integer(12345),
        "double" if resp3 => Frame::Double(DEBUG_DOUBLE),
        "double" => bulk("3.141"),
        "bignum" if resp3 => Frame::BigNumber("1234567999999999999999999999999999999".into()),
        "bignum" => bulk("1234567999999999999999999999999999999"),
        "null" if resp3 => Frame::Null,
        "null" => Frame::NullBulkString,
        "array" => Frame::Array(ints(&[0, 1, 2])),
        "set" if resp3 => Frame::Set(ints(&[0, 1, 2])),
        "set" => Frame::Array(ints(&[0, 1, 2])),
        "map" if resp3 => Frame::Map(
            [(0, false), (1, true), (2, false)]
                .into_iter()
                .map(|(k, v)| (Frame::Integer(k), Frame::Boolean(v)))
                .collect(),
        ),
        "map" => Frame::Array(ints(&[0, 0, 1, 1, 2, 0])),
        "attrib" if resp3 => Frame::Attributed {
            attributes: vec![(
                bulk("key-popularity"),
                Frame::Array(vec![bulk("key:123"), Frame::Integer(90)]),
            )],
            frame: Box::new(bulk(attributed)),
        },
        "attrib" => bulk(attributed),
        "push" if resp3 => {
            return vec![
                Frame::Push(vec![bulk("server-cpu-usage"), Frame::Integer(42)]),
                bulk("Some real reply following the push reply"),
            ];
        }
        "push" => Frame::SimpleError("ERR RESP2 is not supported by this command".into()),
        "verbatim" if resp3 => Frame::verbatim(*b"txt", "This is a verbatim\nstring"),
        "verbatim" => bulk("This is a verbatim\nstring"),
        "true" if resp3 => Frame::Boolean(true),
        "true" => Frame::Integer(1),
        "false" if resp3 => Frame::Boolean(false),
        "false" => Frame::Integer(0),
        other => panic!("no expectation for {other}"),
    };
    vec![frame]
}

const TYPES: [&str; 13] = [
    "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push",
    "verbatim", "true", "false",
];

#[test]
fn resp_core_decodes_every_debug_protocol_type_byte_by_byte() {
    let env = TestEnv::load();
    let mut conn = env.connect_hello();
    let mut stream = Vec::new();
    let mut all_expected = Vec::new();
    for kind in TYPES {
        conn.send_raw(&encode(&["DEBUG", "PROTOCOL", kind]));
        let want = expected(kind, env.protocol);
        for want in &want {
            let raw = conn.read_raw();
            let context = format!(
                "DEBUG PROTOCOL {kind} over RESP{}: {:?}",
                env.protocol,
                String::from_utf8_lossy(&raw)
            );
            assert_eq!(&decode_bytewise(&raw), want, "{context} (byte by byte)");
            assert_eq!(&decode_whole(&raw), want, "{context} (whole)");
            stream.extend_from_slice(&raw);
        }
        all_expected.extend(want);
    }

    // The whole conversation through one decoder, byte by byte: state carries across frames.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for &byte in &stream {
        buf.extend_from_slice(&[byte]);
        while let Some(frame) = decoder.decode(&mut buf).expect("valid RESP") {
            frames.push(frame);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(frames, all_expected);
    assert_eq!(decoder.stream_offset(), stream.len() as u64);

    // And in reads of every size from 2 to 64 bytes.
    for step in 2..=64 {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for piece in stream.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(frame) = decoder.decode(&mut buf).expect("valid RESP") {
                frames.push(frame);
            }
        }
        assert_eq!(frames, all_expected, "reads of {step} bytes");
    }
}

/// A small deterministic generator (xorshift64*), seeded per run and printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn word(&mut self, max: u64) -> String {
        const ALPHABET: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-.{}";
        let len = self.below(max + 1);
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len() as u64) as usize]))
            .collect()
    }
}

#[test]
fn resp_core_slot_matches_cluster_keyslot() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Cluster {
        return;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    // Hash tag edge cases, then random keys, many with tags.
    let mut keys: Vec<String> = [
        "",
        "a",
        "{}",
        "{}x",
        "x{}",
        "{a}",
        "{a",
        "a}",
        "}{a}",
        "{{a}}",
        "{a}{b}",
        "{}{b}",
        "user:{1000}:profile",
        "{user:1000}",
        "ключ",
        "{ключ}x",
        "\u{1F980}{\u{1F980}}",
        "123456789",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    while keys.len() < 200 {
        let key = match rng.below(4) {
            0 => rng.word(24),
            1 => format!("{}{{{}}}{}", rng.word(6), rng.word(6), rng.word(6)),
            2 => format!("{{{}}}{}", rng.word(8), rng.word(8)),
            _ => format!("{}{{{}", rng.word(8), rng.word(8)),
        };
        keys.push(key);
    }

    let mut conn = env.connect_hello();
    let mut batch = Vec::new();
    for key in &keys {
        batch.extend(encode(&["CLUSTER", "KEYSLOT", key]));
    }
    conn.send_raw(&batch);
    for key in &keys {
        let server = conn
            .read_frame()
            .integer()
            .unwrap_or_else(|| panic!("CLUSTER KEYSLOT {key:?} is not an integer"));
        assert_eq!(
            i64::from(resp_core::slot(key.as_bytes())),
            server,
            "slot of {key:?} (seed {seed})"
        );
    }
    // The CRC16 test vector of the Redis Cluster specification.
    assert_eq!(resp_core::crc16(b"123456789"), 0x31c3);
}
