//! The client-side cache counters, on a sans-IO core driven by a scripted server: a miss, a
//! hit, an invalidation push, then a miss again, read back from the SDK's in-memory exporter.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use client_core::{CacheSettings, Client, Config, ConnId, Event, SendBuffer, cmd};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use otel_hooks::OtelHooks;

/// HELLO, the two CLIENT SETINFOs, then CLIENT TRACKING ON.
const HANDSHAKE: &[u8] = b"%1\r\n+proto\r\n:3\r\n+OK\r\n+OK\r\n+OK\r\n";

/// Drains events; returns a connection the core asked for and how many responses came.
fn drain(core: &mut Client) -> (Option<ConnId>, usize) {
    let (mut dial, mut responses) = (None, 0);
    let mut out = SendBuffer::new();
    while let Some(event) = core.poll_event() {
        match event {
            Event::Connect { conn, .. } => dial = Some(conn),
            Event::Transmit { conn } => {
                while core.poll_transmit(conn, &mut out) {
                    let n = out.remaining();
                    out.advance(n);
                }
            }
            Event::Response { result, .. } => {
                result.expect("a reply");
                responses += 1;
            }
            _ => {}
        }
    }
    (dial, responses)
}

fn sorted(attributes: impl Iterator<Item = KeyValue>) -> Vec<String> {
    let mut pairs: Vec<String> = attributes
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn hits_misses_and_invalidations_are_counted() {
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    let hooks = OtelHooks::builder().meter_provider(&meter_provider).build();
    let mut config = Config::new("127.0.0.1", 6399);
    config.hooks = Some(Arc::new(hooks));
    config.cache = Some(CacheSettings::new(10));
    let mut core = Client::new(config);
    let now = Instant::now();
    let mut input = BytesMut::new();

    // A miss: the GET goes out after the handshake and its reply is kept.
    core.submit(cmd("GET").key("k").into(), now).unwrap();
    let (dial, _) = drain(&mut core);
    let conn = dial.expect("a dial");
    core.handle_connected(conn, now);
    input.extend_from_slice(HANDSHAKE);
    core.handle_input(conn, &mut input, now);
    let _ = drain(&mut core);
    input.extend_from_slice(b"$1\r\nv\r\n");
    core.handle_input(conn, &mut input, now);
    assert_eq!(drain(&mut core).1, 1);
    // A hit: answered inside submit.
    core.submit(cmd("GET").key("k").into(), now).unwrap();
    assert_eq!(drain(&mut core).1, 1);
    // The server invalidates k; the next GET is a miss again.
    input.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n");
    core.handle_input(conn, &mut input, now);
    core.submit(cmd("GET").key("k").into(), now).unwrap();
    assert_eq!(drain(&mut core).1, 0, "sent to the server");
    assert_eq!(core.cache_len(), 0);

    meter_provider.force_flush().unwrap();
    let exported = metrics.get_finished_metrics().unwrap();
    let last = exported.last().expect("an export");
    let mut counters = Vec::new();
    for metric in last.scope_metrics().flat_map(|s| s.metrics()) {
        if !metric.name().starts_with("redwire.client.cache.") {
            continue;
        }
        if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
            for p in sum.data_points() {
                let attributes = sorted(p.attributes().cloned());
                counters.push((metric.name().to_owned(), attributes, p.value()));
            }
        }
    }
    counters.sort();
    let get = vec![
        "db.operation.name=GET".to_owned(),
        "db.system.name=redis".to_owned(),
    ];
    assert_eq!(
        counters,
        [
            ("redwire.client.cache.hits".to_owned(), get.clone(), 1),
            (
                "redwire.client.cache.invalidations".to_owned(),
                vec![
                    "db.system.name=redis".to_owned(),
                    "redwire.cache.invalidation.cause=server".to_owned(),
                    "server.address=127.0.0.1".to_owned(),
                    "server.port=6399".to_owned(),
                ],
                1
            ),
            ("redwire.client.cache.misses".to_owned(), get, 2),
        ]
    );
}
