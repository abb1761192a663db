//! OtelHooks on a sans-IO core driven by a scripted "server": what only failures show (a
//! retry and a reconnect during one request), checked through the SDK's in-memory exporters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use client_core::{Client, Config, ConnId, Event, Reply, RequestId, SendBuffer, cmd};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use otel_hooks::OtelHooks;

const HANDSHAKE: &[u8] = b"%1\r\n+proto\r\n:3\r\n+OK\r\n+OK\r\n";

fn text(attributes: &[KeyValue]) -> Vec<String> {
    let mut pairs: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    pairs.sort();
    pairs
}

/// Drains events; returns the connection asked for, if any, and the response to `id`.
fn drain(core: &mut Client, id: RequestId) -> (Option<ConnId>, Option<Reply>) {
    let (mut dial, mut reply) = (None, None);
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
            Event::Response { id: done, result } if done == id => reply = Some(result.unwrap()),
            _ => {}
        }
    }
    (dial, reply)
}

#[test]
fn a_lost_connection_shows_as_retry_and_reconnect_events_and_counters() {
    let spans = InMemorySpanExporter::default();
    let metrics = InMemoryMetricExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    let hooks = OtelHooks::builder()
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .build();
    let mut config = Config::new("127.0.0.1", 6399);
    config.hooks = Some(Arc::new(hooks));
    let mut core = Client::new(config);
    let now = Instant::now();
    let mut input = BytesMut::new();

    // The GET is written; the connection drops before its reply.
    let id = core.submit(cmd("GET").key("k").into(), now).unwrap();
    let (dial, _) = drain(&mut core, id);
    let first = dial.expect("a dial");
    core.handle_connected(first, now);
    input.extend_from_slice(HANDSHAKE);
    core.handle_input(first, &mut input, now);
    let _ = drain(&mut core, id);
    core.handle_closed(first, "connection reset by peer", now);
    let _ = drain(&mut core, id);

    // It is read-only: sent again on the next connection, dialled after the backoff.
    let later = now + Duration::from_secs(1);
    core.handle_timeout(later);
    let (dial, _) = drain(&mut core, id);
    let second = dial.expect("a second dial");
    core.handle_connected(second, later);
    input.extend_from_slice(HANDSHAKE);
    core.handle_input(second, &mut input, later);
    let _ = drain(&mut core, id);
    input.extend_from_slice(b"$1\r\nv\r\n");
    core.handle_input(second, &mut input, later);
    let (_, reply) = drain(&mut core, id);
    assert!(reply.is_some(), "the GET completed");

    tracer_provider.force_flush().unwrap();
    let finished = spans.get_finished_spans().unwrap();
    assert_eq!(finished.len(), 1, "{finished:#?}");
    let get = &finished[0];
    assert_eq!(get.name, "GET");
    let events: Vec<(String, Vec<String>)> = get
        .events
        .iter()
        .map(|e| (e.name.to_string(), text(&e.attributes)))
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(
        events[0],
        (
            "retry".to_owned(),
            vec![
                "redwire.attempt=1".to_owned(),
                "redwire.reason=connection reset by peer".to_owned()
            ]
        )
    );
    let (name, attributes) = &events[1];
    assert_eq!(name, "reconnect");
    let delay = attributes
        .iter()
        .find(|a| a.starts_with("redwire.reconnect.delay="))
        .expect("a delay");
    let without_delay: Vec<&String> = attributes.iter().filter(|a| *a != delay).collect();
    assert_eq!(
        without_delay,
        [
            "redwire.attempt=1",
            "redwire.reason=connection reset by peer",
            "server.address=127.0.0.1",
            "server.port=6399",
        ]
    );

    meter_provider.force_flush().unwrap();
    let exported = metrics.get_finished_metrics().unwrap();
    let last = exported.last().expect("an export");
    let mut counters = Vec::new();
    for metric in last.scope_metrics().flat_map(|s| s.metrics()) {
        match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                for p in sum.data_points() {
                    let attributes: Vec<KeyValue> = p.attributes().cloned().collect();
                    counters.push((
                        metric.name().to_owned(),
                        text(&attributes),
                        p.value() as i64,
                    ));
                }
            }
            AggregatedMetrics::I64(MetricData::Sum(sum)) => {
                for p in sum.data_points() {
                    let attributes: Vec<KeyValue> = p.attributes().cloned().collect();
                    counters.push((metric.name().to_owned(), text(&attributes), p.value()));
                }
            }
            _ => {}
        }
    }
    counters.sort();
    let pool = "db.client.connection.pool.name=127.0.0.1:6399/0".to_owned();
    assert_eq!(
        counters,
        [
            (
                "db.client.connection.count".to_owned(),
                vec![
                    pool.clone(),
                    "db.client.connection.state=connecting".to_owned()
                ],
                0
            ),
            (
                "db.client.connection.count".to_owned(),
                vec![pool, "db.client.connection.state=ready".to_owned()],
                1
            ),
            (
                "redwire.client.reconnects".to_owned(),
                vec![
                    "db.system.name=redis".to_owned(),
                    "server.address=127.0.0.1".to_owned(),
                    "server.port=6399".to_owned()
                ],
                1
            ),
            (
                "redwire.client.retries".to_owned(),
                vec!["db.system.name=redis".to_owned()],
                1
            ),
        ]
    );

    // Dropping the client (no quit) takes its connection out of the count.
    drop(core);
    meter_provider.force_flush().unwrap();
    let exported = metrics.get_finished_metrics().unwrap();
    let last = exported.last().unwrap();
    let ready: i64 = last
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .filter(|m| m.name() == "db.client.connection.count")
        .filter_map(|m| match m.data() {
            AggregatedMetrics::I64(MetricData::Sum(sum)) => Some(
                sum.data_points()
                    .filter(|p| p.attributes().any(|kv| kv.value.as_str() == "ready"))
                    .map(|p| p.value())
                    .sum::<i64>(),
            ),
            _ => None,
        })
        .sum();
    assert_eq!(ready, 0);
}
