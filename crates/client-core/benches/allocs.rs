//! Allocations per request in the core alone: submit a GET, encode it, hand it to the
//! "socket", decode its reply and complete it, in steady state.
//!
//! Run: `cargo bench -p client-core --bench allocs`. It prints allocations per request, in
//! total and excluding those of the read buffer (which the adapter owns and refills), and the
//! time per request on this machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use client_core::{Batch, Client, Commands, Config, ConnId, Event, Reply, SendBuffer, cmd};

/// Counts every allocation and reallocation.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REPLY: &[u8] = b"$16\r\nvalue-of-16-byte\r\n";

/// A core whose connection finished its handshake, and that connection's id.
fn connected(now: Instant) -> (Client, ConnId) {
    let mut core = Client::new(Config::new("127.0.0.1", 6379));
    let warmup = core.submit(cmd("PING").into(), now).unwrap();
    let mut out = SendBuffer::new();
    let mut input = BytesMut::new();
    let mut conn = None;
    let mut done = false;
    while !done {
        while let Some(event) = core.poll_event() {
            match event {
                Event::Connect { conn: c, .. } => {
                    conn = Some(c);
                    core.handle_connected(c, now);
                    let _ = core.poll_transmit(c, &mut out);
                    // HELLO's map, then the two CLIENT SETINFOs, then PING.
                    input.extend_from_slice(b"%1\r\n+proto\r\n:3\r\n+OK\r\n+OK\r\n+PONG\r\n");
                    core.handle_input(c, &mut input, now);
                }
                Event::Response { id, .. } if id == warmup => done = true,
                _ => {}
            }
        }
    }
    (core, conn.unwrap())
}

/// Hands the core's output to the "socket", which takes all of it.
fn send(core: &mut Client, out: &mut SendBuffer) {
    while let Some(event) = core.poll_event() {
        if let Event::Transmit { conn } = event {
            let _ = core.poll_transmit(conn, out);
        }
    }
    let sent = out.remaining();
    out.advance(sent);
}

/// Runs `n` GETs through the core; returns allocations counted and the time taken.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]
fn run(core: &mut Client, conn: ConnId, n: u64, now: Instant) -> (u64, u64, Duration) {
    let mut out = SendBuffer::new();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut input_growth = 0;
    let before = ALLOCS.load(Relaxed);
    let start = Instant::now();
    for i in 0..n {
        let id = core.submit(cmd("GET").key("some:key").into(), now).unwrap();
        send(core, &mut out);
        // The adapter's read: count what the read buffer itself allocates separately.
        let mark = ALLOCS.load(Relaxed);
        input.reserve(REPLY.len());
        input.extend_from_slice(REPLY);
        input_growth += ALLOCS.load(Relaxed) - mark;
        core.handle_input(conn, &mut input, now);
        match core.poll_event() {
            Some(Event::Response {
                id: done,
                result: Ok(Reply::Single(frame)),
            }) if done == id => {
                std::hint::black_box(frame);
            }
            other => panic!("request {i}: unexpected {other:?}"),
        }
    }
    (ALLOCS.load(Relaxed) - before, input_growth, start.elapsed())
}

/// Commands per pipeline in [`run_pipelines`], as in `cargo xtask bench`'s pipeline scenario.
const BATCH: usize = 100;

/// Runs `n` pipelines of [`BATCH`] `SET`s of 16-byte values through the core, built with the
/// typed API as an adapter's pipeline builder does; returns allocations counted and the time.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]
fn run_pipelines(core: &mut Client, conn: ConnId, n: u64, keys: &[String]) -> (u64, Duration) {
    let now = Instant::now();
    let value = Bytes::from_static(b"value-of-16-byte");
    let replies = b"+OK\r\n".repeat(BATCH);
    let mut out = SendBuffer::new();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let before = ALLOCS.load(Relaxed);
    let start = Instant::now();
    for i in 0..n {
        let batch = Batch::new();
        for key in keys {
            let _ = batch.set::<()>(key, &value);
        }
        let id = core.submit(batch.into_pipeline(), now).unwrap();
        send(core, &mut out);
        input.extend_from_slice(&replies);
        core.handle_input(conn, &mut input, now);
        match core.poll_event() {
            Some(Event::Response {
                id: done,
                result: Ok(Reply::Pipeline(frames)),
            }) if done == id && frames.len() == BATCH => {
                std::hint::black_box(frames);
            }
            other => panic!("pipeline {i}: unexpected {other:?}"),
        }
    }
    (ALLOCS.load(Relaxed) - before, start.elapsed())
}

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]
fn main() {
    let now = Instant::now();
    let (mut core, conn) = connected(now);
    run(&mut core, conn, 10_000, now); // warm up buffers and queues
    let n = 1_000_000;
    let mut rounds = Vec::new();
    for _ in 0..5 {
        rounds.push(run(&mut core, conn, n, now));
    }
    rounds.sort_by_key(|r| r.2);
    let (allocs, input_allocs, time) = rounds[rounds.len() / 2];
    println!("client-core GET round trip, {n} requests per round, median of 5 rounds:");
    println!(
        "  allocations per request:                    {:.3}",
        allocs as f64 / n as f64
    );
    println!(
        "  of which the read buffer's own:             {:.3}",
        input_allocs as f64 / n as f64
    );
    println!(
        "  allocations per request beyond the buffer:  {:.3}",
        (allocs - input_allocs) as f64 / n as f64
    );
    println!(
        "  time per request:                           {:.0} ns",
        time.as_nanos() as f64 / n as f64
    );

    let keys: Vec<String> = (0..BATCH).map(|i| format!("bench:key:{i}")).collect();
    run_pipelines(&mut core, conn, 1_000, &keys); // warm up
    let n = 20_000;
    let mut rounds = Vec::new();
    for _ in 0..5 {
        rounds.push(run_pipelines(&mut core, conn, n, &keys));
    }
    rounds.sort_by_key(|r| r.1);
    let (allocs, time) = rounds[rounds.len() / 2];
    let commands = (n * BATCH as u64) as f64;
    println!(
        "client-core pipelines of {BATCH} SETs (16 B values), {n} per round, median of 5 rounds:"
    );
    println!(
        "  allocations per command:                    {:.3}",
        allocs as f64 / commands
    );
    println!(
        "  time per command:                           {:.0} ns",
        time.as_nanos() as f64 / commands
    );
}
