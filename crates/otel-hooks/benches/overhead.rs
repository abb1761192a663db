//! The cost of the hooks per request: one GET through the core (submit, encode, hand the bytes
//! to the "socket", decode the reply, complete), in steady state, with
//!
//! - `no hooks`: `Config::hooks` is `None` (one branch per event in the core);
//! - `otel, no provider`: `OtelHooks` built with neither a tracer nor a meter provider;
//! - `otel, no-op providers`: the API's no-op tracer and meter (no SDK installed);
//! - `otel, sdk unsampled`: the SDK with the `AlwaysOff` sampler, and SDK metrics;
//! - `otel, sdk, no-op exporter (simple)`: every span sampled and handed to an exporter that
//!   drops it, synchronously; SDK metrics read by a periodic reader whose exporter drops them;
//! - `otel, sdk, no-op exporter (batch)`: the same with the batch span processor, as
//!   production setups use.
//!
//! Run: `cargo bench -p otel-hooks --bench overhead`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use client_core::{Client, Config, ConnId, Event, Reply, SendBuffer, cmd};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::metrics::noop::NoopMeterProvider;
use opentelemetry::trace::noop::NoopTracerProvider;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use otel_hooks::OtelHooks;

const REPLY: &[u8] = b"$16\r\nvalue-of-16-byte\r\n";

/// Drops every span.
#[derive(Debug)]
struct NoopSpans;

impl SpanExporter for NoopSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// Drops every metric export.
#[derive(Debug)]
struct NoopMetrics;

impl PushMetricExporter for NoopMetrics {
    async fn export(&self, _metrics: &ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// A core whose connection finished its handshake, and that connection's id.
fn connected(config: Config, now: Instant) -> (Client, ConnId) {
    let mut core = Client::new(config);
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

/// One GET round trip through the core.
fn round_trip(
    core: &mut Client,
    conn: ConnId,
    out: &mut SendBuffer,
    input: &mut BytesMut,
    now: Instant,
) {
    let id = core.submit(cmd("GET").key("some:key").into(), now).unwrap();
    while let Some(event) = core.poll_event() {
        if let Event::Transmit { conn } = event {
            let _ = core.poll_transmit(conn, out);
        }
    }
    let sent = out.remaining();
    out.advance(sent);
    input.extend_from_slice(REPLY);
    core.handle_input(conn, input, now);
    match core.poll_event() {
        Some(Event::Response {
            id: done,
            result: Ok(Reply::Single(frame)),
        }) if done == id => {
            std::hint::black_box(frame);
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn bench_case(c: &mut Criterion, name: &str, hooks: Option<OtelHooks>) {
    let now = Instant::now();
    let mut config = Config::new("127.0.0.1", 6379);
    config.hooks = hooks.map(|h| Arc::new(h) as Arc<dyn client_core::Hooks>);
    let (mut core, conn) = connected(config, now);
    let mut out = SendBuffer::new();
    let mut input = BytesMut::with_capacity(64 * 1024);
    c.bench_function(name, |b| {
        b.iter(|| round_trip(&mut core, conn, &mut out, &mut input, now));
    });
}

fn sdk_meter() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(NoopMetrics)
                .with_interval(Duration::from_secs(1))
                .build(),
        )
        .build()
}

fn overhead(c: &mut Criterion) {
    bench_case(c, "no hooks", None);
    bench_case(c, "otel, no provider", Some(OtelHooks::builder().build()));

    let hooks = OtelHooks::builder()
        .tracer_provider(&NoopTracerProvider::new())
        .meter_provider(&NoopMeterProvider::new())
        .build();
    bench_case(c, "otel, no-op providers", Some(hooks));

    let tracer = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    let meter = sdk_meter();
    let hooks = OtelHooks::builder()
        .tracer_provider(&tracer)
        .meter_provider(&meter)
        .build();
    bench_case(c, "otel, sdk unsampled", Some(hooks));

    let tracer = SdkTracerProvider::builder()
        .with_simple_exporter(NoopSpans)
        .build();
    let meter = sdk_meter();
    let hooks = OtelHooks::builder()
        .tracer_provider(&tracer)
        .meter_provider(&meter)
        .build();
    bench_case(c, "otel, sdk, no-op exporter (simple)", Some(hooks));

    let tracer = SdkTracerProvider::builder()
        .with_batch_exporter(NoopSpans)
        .build();
    let meter = sdk_meter();
    let hooks = OtelHooks::builder()
        .tracer_provider(&tracer)
        .meter_provider(&meter)
        .build();
    bench_case(c, "otel, sdk, no-op exporter (batch)", Some(hooks));
    let _ = tracer.shutdown();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = overhead
}
criterion_main!(benches);
