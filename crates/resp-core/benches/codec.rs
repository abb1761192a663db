//! Codec throughput: resp-core side by side with the `redis-protocol` crate.
//!
//! Both sides use their zero-copy API: a whole frame is split off a `BytesMut`, frozen, and its
//! payloads are slices of it (`Decoder::decode` here, `decode_bytes_mut` there). Each corpus
//! item is a group with one function per codec, so `target/criterion/<group>/` holds the pair.
//!
//! ```text
//! cargo bench -p resp-core --bench codec
//! ```
//!
//! Every corpus buffer is built once, outside the timed loops; each timed decode starts from a
//! fresh copy of it made before the clock starts. Decoded frames are dropped inside the timed
//! loop on both sides, as a client would drop them after use.
//!
//! Time is the benchmark thread's CPU time, not wall time: on a machine shared with builds and
//! test suites, the time the thread spends waiting for a core is not counted against whichever
//! side happened to be running.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redis_protocol::resp2::decode::decode_bytes_mut as rp2_decode;
use redis_protocol::resp2::encode::{
    extend_encode as rp2_encode, extend_encode_borrowed as rp2_encode_borrowed,
};
use redis_protocol::resp2::types::{BorrowedFrame as Rp2Borrowed, BytesFrame as Rp2Frame};
use redis_protocol::resp3::decode::complete::decode_bytes_mut as rp3_decode;
use redis_protocol::resp3::encode::complete::extend_encode as rp3_encode;
use redis_protocol::resp3::types::BytesFrame as Rp3Frame;
use resp_core::{Decoder, Frame, encode_command};

/// Criterion's clock: CPU time consumed by the calling thread.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Durations in nanoseconds, formatted as wall time is.
        static WALL_TIME: WallTime = WallTime;
        WALL_TIME.formatter()
    }
}

type Bench = Criterion<ThreadCpuTime>;

/// One corpus item: a buffer of one or more whole frames.
struct Item {
    name: &'static str,
    wire: Bytes,
    /// Uses RESP3 types, which redis-protocol decodes only with its RESP3 decoder.
    resp3: bool,
}

fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn corpus() -> Vec<Item> {
    let item = |name, wire: Vec<u8>, resp3| Item {
        name,
        wire: Bytes::from(wire),
        resp3,
    };

    // Replies a client sees most: statuses, counters, short values, errors, nulls, pairs.
    // Small replies are decoded from a stream of 64, as from a client's long-lived read buffer;
    // one `+OK` alone in a fresh buffer shows the cost of a buffer's first split as well.
    let times_64 = |reply: &[u8]| reply.repeat(64);
    let replies: [&[u8]; 6] = [
        b"+OK\r\n",
        b":1000\r\n",
        b"$5\r\nhello\r\n",
        b"-ERR unknown command 'FOO'\r\n",
        b"$-1\r\n",
        b"*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n",
    ];
    let mixed: Vec<u8> = replies
        .iter()
        .cycle()
        .take(64)
        .copied()
        .collect::<Vec<_>>()
        .concat();

    // LRANGE-like: 100 short values.
    let mut array = b"*100\r\n".to_vec();
    for i in 0..100 {
        bulk(&mut array, format!("value:{i:08}").as_bytes());
    }

    let mut bulk_16k = Vec::new();
    bulk(&mut bulk_16k, &vec![b'x'; 16 * 1024]);
    let mut bulk_1m = Vec::new();
    bulk(&mut bulk_1m, &vec![b'x'; 1024 * 1024]);

    // HGETALL under RESP3: 10 field/value pairs.
    let mut map = b"%10\r\n".to_vec();
    for i in 0..10 {
        bulk(&mut map, format!("field:{i}").as_bytes());
        bulk(&mut map, format!("value:{i:08}").as_bytes());
    }

    // What a server answers to HELLO 3.
    let hello = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n\
                  $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
                  $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        .to_vec();

    vec![
        item("small +OK x1", b"+OK\r\n".to_vec(), false),
        item("small +OK x64", times_64(b"+OK\r\n"), false),
        item("small :1000 x64", times_64(b":1000\r\n"), false),
        item("small $5 hello x64", times_64(b"$5\r\nhello\r\n"), false),
        item("small mixed x64", mixed, false),
        item("array 100 bulks", array, false),
        item("bulk 16 KiB", bulk_16k, false),
        item("bulk 1 MiB", bulk_1m, false),
        item("map 10 pairs", map, true),
        item("map HELLO", hello, true),
    ]
}

/// Times `decode_all` over `iters` fresh copies of `wire`. The copies are made before the clock
/// starts, as many per timed batch as fit in 64 MiB, so that neither copying nor reading the
/// clock is counted against the decoder.
fn time_decode(wire: &Bytes, iters: u64, mut decode_all: impl FnMut(&mut BytesMut)) -> Duration {
    let per_batch = ((64 << 20) / wire.len()).clamp(1, 4096) as u64;
    let mut bufs = Vec::new();
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(per_batch);
        bufs.extend((0..n).map(|_| BytesMut::from(&wire[..])));
        let start = thread_cpu_now();
        for buf in &mut bufs {
            decode_all(buf);
        }
        total += thread_cpu_now().saturating_sub(start);
        // The emptied buffers, which hold the last reference to their memory, are freed
        // untimed.
        bufs.clear();
        left -= n;
    }
    total
}

/// Decodes every frame in the buffer with resp-core.
fn redwire_all(wire: &Bytes) -> Vec<Frame> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&wire[..]);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf).expect("valid corpus") {
        frames.push(frame);
    }
    assert!(buf.is_empty());
    frames
}

fn rp2_all(wire: &Bytes) -> Vec<Rp2Frame> {
    let mut buf = BytesMut::from(&wire[..]);
    let mut frames = Vec::new();
    while let Some((frame, _, _)) = rp2_decode(&mut buf).expect("valid corpus") {
        frames.push(frame);
    }
    assert!(buf.is_empty());
    frames
}

fn rp3_all(wire: &Bytes) -> Vec<Rp3Frame> {
    let mut buf = BytesMut::from(&wire[..]);
    let mut frames = Vec::new();
    while let Some((frame, _, _)) = rp3_decode(&mut buf).expect("valid corpus") {
        frames.push(frame);
    }
    assert!(buf.is_empty());
    frames
}

/// The claim the comparison rests on, checked before anything is timed: a decoded bulk payload
/// is a slice of the read buffer's own allocation, on both sides.
fn check_zero_copy(item: &Item) {
    let mut buf = BytesMut::from(&item.wire[..]);
    let allocation = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Some(Frame::BulkString(payload)) = Decoder::new().decode(&mut buf).unwrap() else {
        panic!("{} is not one bulk string", item.name);
    };
    let start = payload.as_ptr() as usize;
    assert!(
        allocation.contains(&start) && allocation.contains(&(start + payload.len() - 1)),
        "resp-core copied the payload of {}",
        item.name
    );

    let mut buf = BytesMut::from(&item.wire[..]);
    let allocation = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Some((Rp2Frame::BulkString(payload), _, _)) = rp2_decode(&mut buf).unwrap() else {
        panic!("{} is not one bulk string", item.name);
    };
    assert!(
        allocation.contains(&(payload.as_ptr() as usize)),
        "redis-protocol copied the payload of {}",
        item.name
    );
}

fn decode(c: &mut Bench) {
    for item in corpus() {
        if item.name.starts_with("bulk") {
            check_zero_copy(&item);
        }
        let mut group = c.benchmark_group(format!("decode/{}", item.name));
        group.throughput(Throughput::Bytes(item.wire.len() as u64));
        let wire = &item.wire;
        if wire.len() >= 4096 {
            // Decoding a bulk never reads its payload, so it takes as long for 1 MiB as for 5
            // bytes, but each fresh copy of the input costs a copy of the payload. Criterion
            // runs as many iterations as fill its measured time: keep that time short enough
            // that the untimed copies stay under a few GiB.
            group.sample_size(50);
            group.warm_up_time(Duration::from_micros(1));
            let measured_ns = ((1u64 << 34) / wire.len() as u64).max(1);
            group.measurement_time(Duration::from_nanos(measured_ns));
        }

        // One decoder for all iterations, as a connection keeps one.
        let mut decoder = Decoder::new();
        group.bench_function("redwire", |b| {
            b.iter_custom(|iters| {
                time_decode(wire, iters, |buf| {
                    while let Some(frame) = decoder.decode(buf).unwrap() {
                        black_box(frame);
                    }
                })
            });
        });
        if !item.resp3 {
            group.bench_function("redis-protocol resp2", |b| {
                b.iter_custom(|iters| {
                    time_decode(wire, iters, |buf| {
                        while let Some(frame) = rp2_decode(buf).unwrap() {
                            black_box(frame);
                        }
                    })
                });
            });
        }
        // Its RESP3 decoder rejects some RESP2 replies (`$-1`); measure it where it can.
        let mut buf = BytesMut::from(&wire[..]);
        let rp3_decodes =
            std::iter::from_fn(|| rp3_decode(&mut buf).transpose()).all(|result| result.is_ok());
        if rp3_decodes {
            group.bench_function("redis-protocol resp3", |b| {
                b.iter_custom(|iters| {
                    time_decode(wire, iters, |buf| {
                        while let Some(frame) = rp3_decode(buf).unwrap() {
                            black_box(frame);
                        }
                    })
                });
            });
        }
        group.finish();
    }
}

fn encode(c: &mut Bench) {
    // A command: SET with a session-sized value.
    let (key, value) = (&b"user:1000:session"[..], &[b'v'; 64][..]);
    let mut expected = BytesMut::new();
    encode_command(&mut expected, [&b"SET"[..], key, value]);
    let rp_args = [
        Rp2Borrowed::BulkString(b"SET"),
        Rp2Borrowed::BulkString(key),
        Rp2Borrowed::BulkString(value),
    ];
    let mut check = BytesMut::new();
    rp2_encode_borrowed(&mut check, &Rp2Borrowed::Array(&rp_args), false).unwrap();
    assert_eq!(check, expected, "both sides must write the same command");
    let mut group = c.benchmark_group("encode/command SET");
    group.throughput(Throughput::Bytes(expected.len() as u64));
    let mut buf = BytesMut::with_capacity(1024);
    group.bench_function("redwire", |b| {
        b.iter(|| {
            buf.clear();
            encode_command(&mut buf, black_box([&b"SET"[..], key, value]));
        });
    });
    group.bench_function("redis-protocol resp2", |b| {
        b.iter(|| {
            buf.clear();
            let args = [
                Rp2Borrowed::BulkString(b"SET"),
                Rp2Borrowed::BulkString(key),
                Rp2Borrowed::BulkString(value),
            ];
            rp2_encode_borrowed(&mut buf, &Rp2Borrowed::Array(black_box(&args)), false).unwrap();
        });
    });
    group.finish();

    // Each corpus item, re-encoded from its decoded frames.
    for item in corpus() {
        let mut group = c.benchmark_group(format!("encode/{}", item.name));
        group.throughput(Throughput::Bytes(item.wire.len() as u64));
        let mut buf = BytesMut::with_capacity(item.wire.len());

        let frames = redwire_all(&item.wire);
        for frame in &frames {
            frame.encode(&mut buf);
        }
        assert_eq!(
            buf, item.wire,
            "resp-core re-encodes {} as it was",
            item.name
        );
        group.bench_function("redwire", |b| {
            b.iter(|| {
                buf.clear();
                for frame in black_box(&frames) {
                    frame.encode(&mut buf);
                }
            });
        });

        buf.clear();
        if item.resp3 {
            let frames = rp3_all(&item.wire);
            for frame in &frames {
                rp3_encode(&mut buf, frame, false).unwrap();
            }
            // Its maps are hash maps: the same bytes, perhaps in another order.
            assert_eq!(buf.len(), item.wire.len(), "{}", item.name);
            group.bench_function("redis-protocol resp3", |b| {
                b.iter(|| {
                    buf.clear();
                    for frame in black_box(&frames) {
                        rp3_encode(&mut buf, frame, false).unwrap();
                    }
                });
            });
        } else {
            let frames = rp2_all(&item.wire);
            for frame in &frames {
                rp2_encode(&mut buf, frame, false).unwrap();
            }
            assert_eq!(
                buf, item.wire,
                "redis-protocol re-encodes {} as it was",
                item.name
            );
            group.bench_function("redis-protocol resp2", |b| {
                b.iter(|| {
                    buf.clear();
                    for frame in black_box(&frames) {
                        rp2_encode(&mut buf, frame, false).unwrap();
                    }
                });
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = codec;
    // Short runs: the whole suite stays near three minutes on two shared cores.
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = decode, encode
}
criterion_main!(codec);
