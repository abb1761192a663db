//! otel-hooks through the runtime's adapter, against real servers: the spans and metrics a user's
//! OpenTelemetry backend would receive, read back from the SDK's in-memory exporters.
//!
//! Each test asserts the exact attribute sets of the spans and metric points it causes: a GET
//! (under a caller's span), failing commands (an error reply, a timeout), pipelines and a
//! transaction, a `MOVED` redirection in the cluster (the node that redirected and the one
//! that served are read from the cluster's own topology), and `AUTH`/`HELLO` whose
//! credentials never reach the telemetry.

use std::collections::BTreeMap;
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use client_core::{ServerAddr, key_slot};
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use otel_hooks::{DURATION_BUCKETS, OtelHooks, QueryText};
use redwire_tests::{RawConn, Target, TestEnv, TopologyKind};
use xtask::{SlotView, parse_nodes};

use super::{client_with, debug_sleep, key, standalone};
use crate::rt::{self, Client, Commands, Config, Error, Frame, Request, RequestError, cmd};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Attributes as `key -> value` text, for whole-set comparisons.
type Attributes = BTreeMap<String, String>;

fn attributes(list: &[KeyValue]) -> Attributes {
    list.iter()
        .map(|kv| (kv.key.as_str().to_owned(), kv.value.to_string()))
        .collect()
}

fn expect(pairs: &[(&str, String)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// `server.*` and `network.peer.*` of the node at `server`, as the conventions describe it:
/// the peer is the address the connection reached (an IP address as given; for a host name
/// such as the TLS cell's `localhost`, the first of its addresses that takes a connection,
/// as the adapter dials them in order), or a Unix socket's path.
fn node(server: &ServerAddr) -> Vec<(&'static str, String)> {
    match server {
        ServerAddr::Tcp { host, port } => {
            let peer = if host.parse::<IpAddr>().is_ok() {
                host.clone()
            } else {
                (host.as_str(), *port)
                    .to_socket_addrs()
                    .unwrap_or_else(|e| panic!("resolve {host}: {e}"))
                    .find(|a| TcpStream::connect_timeout(a, Duration::from_secs(1)).is_ok())
                    .unwrap_or_else(|| panic!("no address of {host}:{port} takes a connection"))
                    .ip()
                    .to_string()
            };
            vec![
                ("server.address", host.clone()),
                ("server.port", port.to_string()),
                ("network.peer.address", peer),
                ("network.peer.port", port.to_string()),
            ]
        }
        ServerAddr::Unix(path) => {
            let path = path.display().to_string();
            vec![
                ("server.address", path.clone()),
                ("network.peer.address", path),
            ]
        }
        other => panic!("unexpected server address {other:?}"),
    }
}

/// The common attributes of a request to `server` in database `db`, plus `extra`.
fn request_attributes(
    operation: &str,
    db: u32,
    server: &ServerAddr,
    extra: &[(&'static str, String)],
) -> Attributes {
    let mut pairs = vec![
        ("db.system.name", "redis".to_owned()),
        ("db.operation.name", operation.to_owned()),
        ("db.namespace", db.to_string()),
    ];
    pairs.extend(node(server));
    pairs.extend(extra.iter().cloned());
    expect(&pairs)
}

/// An SDK wired to in-memory exporters, and hooks that report to it.
struct Telemetry {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
}

impl Telemetry {
    fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        Self {
            spans,
            metrics,
            tracer_provider,
            meter_provider,
        }
    }

    fn hooks(&self, query_text: QueryText) -> Arc<OtelHooks> {
        Arc::new(
            OtelHooks::builder()
                .tracer_provider(&self.tracer_provider)
                .meter_provider(&self.meter_provider)
                .query_text(query_text)
                .build(),
        )
    }

    fn finished_spans(&self) -> Vec<SpanData> {
        self.tracer_provider.force_flush().expect("flush spans");
        self.spans.get_finished_spans().expect("finished spans")
    }

    /// The one finished span called `name`.
    fn span(&self, name: &str) -> SpanData {
        let mut found: Vec<SpanData> = self
            .finished_spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        assert_eq!(found.len(), 1, "spans named {name}: {found:#?}");
        found.remove(0)
    }

    /// The latest export (cumulative: it holds everything so far).
    fn collect(&self) -> ResourceMetrics {
        self.metrics.reset();
        self.meter_provider.force_flush().expect("flush metrics");
        let mut exported = self.metrics.get_finished_metrics().expect("metrics");
        exported.pop().expect("one export")
    }

    /// The points of the duration histogram: attributes, count.
    fn durations(&self) -> Vec<(Attributes, u64)> {
        let metrics = self.collect();
        let mut points = Vec::new();
        for metric in metrics.scope_metrics().flat_map(|s| s.metrics()) {
            if metric.name() != "db.client.operation.duration" {
                continue;
            }
            assert_eq!(metric.unit(), "s");
            let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else {
                panic!("the duration is not an f64 histogram: {:?}", metric.data());
            };
            for point in histogram.data_points() {
                let bounds: Vec<f64> = point.bounds().collect();
                assert_eq!(bounds, DURATION_BUCKETS, "bucket boundaries");
                let attributes = attributes(&point.attributes().cloned().collect::<Vec<_>>());
                points.push((attributes, point.count()));
            }
        }
        points
    }

    /// The points of the counter or up-down counter `name`: attributes, value.
    fn sums(&self, name: &str) -> Vec<(Attributes, i64)> {
        let metrics = self.collect();
        let mut points = Vec::new();
        for metric in metrics.scope_metrics().flat_map(|s| s.metrics()) {
            if metric.name() != name {
                continue;
            }
            match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    for p in sum.data_points() {
                        let attributes = attributes(&p.attributes().cloned().collect::<Vec<_>>());
                        points.push((attributes, i64::try_from(p.value()).unwrap()));
                    }
                }
                AggregatedMetrics::I64(MetricData::Sum(sum)) => {
                    for p in sum.data_points() {
                        let attributes = attributes(&p.attributes().cloned().collect::<Vec<_>>());
                        points.push((attributes, p.value()));
                    }
                }
                other => panic!("{name} is not a sum: {other:?}"),
            }
        }
        points
    }
}

/// The one histogram point whose `db.operation.name` is `operation`.
fn duration_of(points: &[(Attributes, u64)], operation: &str) -> (Attributes, u64) {
    let found: Vec<_> = points
        .iter()
        .filter(|(a, _)| a.get("db.operation.name").map(String::as_str) == Some(operation))
        .cloned()
        .collect();
    assert_eq!(
        found.len(),
        1,
        "duration points of {operation}: {points:#?}"
    );
    found[0].clone()
}

/// Every attribute value of every span and event, as text.
fn every_value(spans: &[SpanData]) -> String {
    let mut all = String::new();
    for span in spans {
        all.push_str(&span.name);
        for kv in span
            .attributes
            .iter()
            .chain(span.events.iter().flat_map(|e| &e.attributes))
        {
            all.push_str(&format!(" {}={}", kv.key, kv.value));
        }
        all.push('\n');
    }
    all
}

// ---------------------------------------------------------------------------------------------
// Standalone
// ---------------------------------------------------------------------------------------------

#[test]
fn a_get_is_one_client_span_under_the_callers_span_with_one_duration_point() {
    rt::block_on(async {
        let Some(env) = standalone() else { return };
        let k = key("otel:get");
        let telemetry = Telemetry::new();
        let mut config = env.client_config();
        config.hooks = Some(telemetry.hooks(QueryText::Off));
        let (server, db) = (config.server.clone(), config.db);
        let c = client_with(&env, config).await;
        let _: () = c.set(&k, "v").await.unwrap();

        let caller = telemetry.tracer_provider.tracer("the-application");
        let cx = Context::current_with_span(caller.start("handle request"));
        let caller_span = cx.span().span_context().clone();
        let value: Option<String> = c.get(&k).with_context(cx.clone()).await.unwrap();
        assert_eq!(value.as_deref(), Some("v"));
        cx.span().end();

        let get = telemetry.span("GET");
        assert_eq!(get.span_kind, SpanKind::Client);
        assert_eq!(
            get.parent_span_id,
            caller_span.span_id(),
            "parent: the caller's span"
        );
        assert_eq!(get.span_context.trace_id(), caller_span.trace_id());
        assert_eq!(get.status, Status::Unset);
        assert!(get.events.is_empty(), "{:?}", get.events);
        assert_eq!(
            attributes(&get.attributes),
            request_attributes("GET", db, &server, &[])
        );
        // db.system.name is there at creation, for samplers: it comes first.
        assert_eq!(get.attributes[0], KeyValue::new("db.system.name", "redis"));

        let points = telemetry.durations();
        assert_eq!(
            duration_of(&points, "GET"),
            (request_attributes("GET", db, &server, &[]), 1)
        );

        // One shared connection, ready; none connecting. After quit, none.
        let pool = match &server {
            ServerAddr::Unix(path) => format!("{}/{db}", path.display()),
            tcp => format!("{tcp}/{db}"),
        };
        let state = |s: &str| {
            expect(&[
                ("db.client.connection.pool.name", pool.clone()),
                ("db.client.connection.state", s.to_owned()),
            ])
        };
        let connections = telemetry.sums("db.client.connection.count");
        assert!(
            connections.contains(&(state("ready"), 1)),
            "{connections:#?}"
        );
        assert!(
            connections.contains(&(state("connecting"), 0)),
            "{connections:#?}"
        );
        let _: i64 = c.del(&k).await.unwrap();
        c.quit().await;
        let connections = telemetry.sums("db.client.connection.count");
        assert!(
            connections.contains(&(state("ready"), 0)),
            "{connections:#?}"
        );
    });
}

/// A server named by host name: `server.*` keep the name, `network.peer.*` are the address
/// it resolved to, which the adapter reports to the core.
#[test]
fn a_host_name_server_reports_the_address_it_resolved_to_as_the_peer() {
    rt::block_on(async {
        let Some(env) = standalone() else { return };
        let mut config = env.client_config();
        let ServerAddr::Tcp { host, port } = config.server.clone() else {
            return; // Unix socket: the path is the peer.
        };
        if env.tls.is_some() || host != "127.0.0.1" {
            return; // Plain TCP on loopback only: over TLS the certificate would have to name localhost.
        }
        let telemetry = Telemetry::new();
        config.server = ServerAddr::Tcp {
            host: "localhost".to_owned(),
            port,
        };
        config.hooks = Some(telemetry.hooks(QueryText::Off));
        let db = config.db;
        let c = client_with(&env, config).await;
        let k = key("otel:host-name");
        let _: Option<String> = c.get(&k).await.unwrap();

        let expected = expect(&[
            ("db.system.name", "redis".to_owned()),
            ("db.operation.name", "GET".to_owned()),
            ("db.namespace", db.to_string()),
            ("server.address", "localhost".to_owned()),
            ("server.port", port.to_string()),
            // The server listens on 127.0.0.1 only: that is where "localhost" got through.
            ("network.peer.address", "127.0.0.1".to_owned()),
            ("network.peer.port", port.to_string()),
        ]);
        assert_eq!(attributes(&telemetry.span("GET").attributes), expected);
        assert_eq!(duration_of(&telemetry.durations(), "GET"), (expected, 1));
        c.quit().await;
    });
}

#[test]
fn failing_commands_carry_the_error_prefix_or_the_client_error() {
    rt::block_on(async {
        let Some(env) = standalone() else { return };
        let k = key("otel:failing");
        let telemetry = Telemetry::new();
        let mut config = env.client_config();
        config.hooks = Some(telemetry.hooks(QueryText::Off));
        let (server, db) = (config.server.clone(), config.db);
        let c = client_with(&env, config).await;
        let _: () = c.set(&k, "a string").await.unwrap();

        // An error reply.
        match c.hget::<Option<String>>(&k, "field").await {
            Err(Error::Server(e)) => assert_eq!(e.code(), "WRONGTYPE"),
            other => panic!("expected WRONGTYPE, got {other:?}"),
        }
        let wrongtype = [
            ("db.response.status_code", "WRONGTYPE".to_owned()),
            ("error.type", "WRONGTYPE".to_owned()),
        ];
        let hget = telemetry.span("HGET");
        assert_eq!(hget.span_kind, SpanKind::Client);
        assert!(
            matches!(hget.status, Status::Error { .. }),
            "{:?}",
            hget.status
        );
        assert_eq!(
            attributes(&hget.attributes),
            request_attributes("HGET", db, &server, &wrongtype)
        );

        // A failure without a reply: the deadline passes while the server sleeps.
        let slow = debug_sleep("0.3").timeout(Duration::from_millis(50));
        match c.send(slow).await {
            Err(Error::Request(RequestError::Timeout { sent: true, .. })) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
        let timeout = [("error.type", "timeout".to_owned())];
        let debug = telemetry.span("DEBUG");
        let Status::Error { description } = &debug.status else {
            panic!("status {:?}", debug.status);
        };
        assert!(description.contains("timed out"), "{description}");
        assert_eq!(
            attributes(&debug.attributes),
            request_attributes("DEBUG", db, &server, &timeout)
        );

        let points = telemetry.durations();
        assert_eq!(
            duration_of(&points, "HGET"),
            (request_attributes("HGET", db, &server, &wrongtype), 1)
        );
        assert_eq!(
            duration_of(&points, "DEBUG"),
            (request_attributes("DEBUG", db, &server, &timeout), 1)
        );
        let mut timeouts = vec![
            ("db.system.name", "redis".to_owned()),
            ("db.operation.name", "DEBUG".to_owned()),
        ];
        timeouts.extend(
            node(&server)
                .into_iter()
                .filter(|(k, _)| k.starts_with("server.")),
        );
        assert_eq!(
            telemetry.sums("redwire.client.timeouts"),
            vec![(expect(&timeouts), 1)]
        );
        // Let the server finish sleeping before cleaning up.
        rt::sleep(Duration::from_millis(300)).await;
        let _: i64 = c.del(&k).await.unwrap();
    });
}

#[test]
fn pipelines_and_transactions_are_one_span_each_with_their_batch_size() {
    rt::block_on(async {
        let Some(env) = standalone() else { return };
        let (a, b) = (key("otel:pipeline:a"), key("otel:pipeline:b"));
        let telemetry = Telemetry::new();
        let mut config = env.client_config();
        config.hooks = Some(telemetry.hooks(QueryText::Masked));
        let (server, db) = (config.server.clone(), config.db);
        let c = client_with(&env, config).await;

        let ((), n, text): ((), i64, String) = c
            .pipeline()
            .set::<()>(&a, 1)
            .incr::<i64>(&a)
            .get::<String>(&a)
            .run()
            .await
            .unwrap();
        assert_eq!((n, text.as_str()), (2, "2"));
        let same = Request::pipeline(vec![cmd("GET").key(&a), cmd("GET").key(&b)]);
        let replies: Vec<Frame> = match c.send(same).await.unwrap() {
            Frame::Array(replies) => replies,
            other => panic!("pipeline reply {other:?}"),
        };
        assert_eq!(replies.len(), 2);
        let tx = Request::transaction(vec![cmd("INCR").key(&a), cmd("DEL").key(&a).key(&b)]);
        let _: Frame = c.send(tx).await.unwrap();

        let pipeline = telemetry.span("PIPELINE");
        assert_eq!(pipeline.span_kind, SpanKind::Client);
        assert_eq!(
            attributes(&pipeline.attributes),
            request_attributes(
                "PIPELINE",
                db,
                &server,
                &[
                    ("db.operation.batch.size", "3".to_owned()),
                    ("db.query.text", "SET ? ?; INCR ?; GET ?".to_owned()),
                ]
            )
        );
        let gets = telemetry.span("PIPELINE GET");
        assert_eq!(
            attributes(&gets.attributes),
            request_attributes(
                "PIPELINE GET",
                db,
                &server,
                &[
                    ("db.operation.batch.size", "2".to_owned()),
                    ("db.query.text", "GET ?".to_owned()),
                ]
            )
        );
        let multi = telemetry.span("MULTI");
        assert_eq!(
            attributes(&multi.attributes),
            request_attributes(
                "MULTI",
                db,
                &server,
                &[
                    ("db.operation.batch.size", "2".to_owned()),
                    ("db.query.text", "INCR ?; DEL ? ?".to_owned()),
                ]
            )
        );

        let points = telemetry.durations();
        for operation in ["PIPELINE", "PIPELINE GET", "MULTI"] {
            assert_eq!(
                duration_of(&points, operation),
                (request_attributes(operation, db, &server, &[]), 1),
                "{operation}"
            );
        }
    });
}

#[test]
fn auth_and_hello_credentials_are_never_recorded() {
    rt::block_on(async {
        let Some(env) = standalone() else { return };
        let k = key("otel:auth");
        let telemetry = Telemetry::new();
        let mut config = env.client_config();
        // Arguments on: only credentials are masked.
        config.hooks = Some(telemetry.hooks(QueryText::Full));
        let (server, db) = (config.server.clone(), config.db);
        let c = client_with(&env, config).await;
        const SECRET: &str = "s3cret-never-recorded";

        let auth = Request::single(cmd("AUTH").arg("redwire-nobody").arg(SECRET));
        match c.send(auth).await {
            Err(Error::Server(e)) => assert_eq!(e.code(), "WRONGPASS", "{e}"),
            other => panic!("expected WRONGPASS, got {other:?}"),
        }
        // The cell's own protocol, so that even an accepted HELLO would change nothing.
        let hello = Request::single(
            cmd("HELLO")
                .arg(i32::from(env.protocol))
                .arg("AUTH")
                .arg("redwire-nobody")
                .arg(SECRET),
        );
        match c.send(hello).await {
            Err(Error::Server(e)) => assert_eq!(e.code(), "WRONGPASS", "{e}"),
            other => panic!("expected WRONGPASS, got {other:?}"),
        }
        let _: () = c.set(&k, "visible").await.unwrap();

        let wrongpass = |text: &str| {
            [
                ("db.query.text", text.to_owned()),
                ("db.response.status_code", "WRONGPASS".to_owned()),
                ("error.type", "WRONGPASS".to_owned()),
            ]
        };
        assert_eq!(
            attributes(&telemetry.span("AUTH").attributes),
            request_attributes("AUTH", db, &server, &wrongpass("AUTH ? ?"))
        );
        let hello_text = format!("HELLO {} AUTH ? ?", env.protocol);
        assert_eq!(
            attributes(&telemetry.span("HELLO").attributes),
            request_attributes("HELLO", db, &server, &wrongpass(&hello_text))
        );
        // Other arguments are recorded, as asked.
        assert_eq!(
            attributes(&telemetry.span("SET").attributes),
            request_attributes(
                "SET",
                db,
                &server,
                &[("db.query.text", format!("SET {k} visible"))]
            )
        );
        let everything = every_value(&telemetry.finished_spans());
        assert!(!everything.contains(SECRET), "{everything}");
        let _: i64 = c.del(&k).await.unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------

/// `redis://h:p` -> `h:p`.
fn addr_of(url: &str) -> &str {
    url.trim_start_matches("redis://").trim_end_matches('/')
}

/// The slot map as the first reachable node sees it.
fn slot_view(env: &TestEnv) -> SlotView {
    for url in &env.cluster_nodes {
        let Ok(mut conn) = RawConn::try_connect(&Target::parse_addr(addr_of(url)), None) else {
            continue;
        };
        let text = conn.request(&["CLUSTER", "NODES"]).text();
        return SlotView::from_nodes(&parse_nodes(&text));
    }
    panic!("no cluster node answers: {:?}", env.cluster_nodes)
}

fn server(addr: &str) -> ServerAddr {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    Config::new(host, port.parse().expect("a port")).server
}

#[test]
fn a_moved_redirection_is_an_event_and_the_span_names_the_node_that_served() {
    rt::block_on(async {
        let env = TestEnv::load();
        if env.topology != TopologyKind::Cluster {
            return;
        }
        let k = key("otel:moved");
        let slot = key_slot(k.as_bytes());
        let view = slot_view(&env);
        let owner = view.owner(slot).expect("the slot has an owner").to_owned();
        let wrong = view
            .ranges
            .iter()
            .map(|r| r.2.clone())
            .find(|primary| *primary != owner)
            .expect("another primary");

        let telemetry = Telemetry::new();
        let hosts: Vec<&str> = env.cluster_nodes.iter().map(|u| addr_of(u)).collect();
        let mut config = Config::from_url(&format!("redis+cluster://{}", hosts.join(","))).unwrap();
        config.protocol = env.resp_protocol();
        config.hooks = Some(telemetry.hooks(QueryText::Off));
        let db = config.db;
        let c = Client::connect(config)
            .await
            .expect("connect to the cluster");

        // Sent to a node that does not own the key's slot: it answers MOVED to the owner.
        let misrouted = Request::single(cmd("GET").key(&k)).to_server(server(&wrong));
        let reply = c.send(misrouted).await.unwrap();
        assert!(
            matches!(reply, Frame::Null | Frame::NullBulkString),
            "{reply:?}"
        );

        let get = telemetry.span("GET");
        assert_eq!(get.status, Status::Unset);
        assert_eq!(
            attributes(&get.attributes),
            request_attributes("GET", db, &server(&owner), &[])
        );
        assert_eq!(get.events.len(), 1, "{:?}", get.events);
        let event = &get.events[0];
        assert_eq!(event.name, "redirect");
        assert_eq!(
            attributes(&event.attributes),
            expect(&[
                ("db.response.status_code", "MOVED".to_owned()),
                ("redwire.redirect.from", wrong.clone()),
                ("redwire.redirect.slot", slot.to_string()),
                ("redwire.redirect.to", owner.clone()),
            ])
        );

        let points = telemetry.durations();
        assert_eq!(
            duration_of(&points, "GET"),
            (request_attributes("GET", db, &server(&owner), &[]), 1)
        );
        let mut redirected = vec![
            ("db.system.name", "redis".to_owned()),
            ("db.response.status_code", "MOVED".to_owned()),
        ];
        redirected.extend(
            node(&server(&wrong))
                .into_iter()
                .filter(|(k, _)| k.starts_with("server.")),
        );
        assert_eq!(
            telemetry.sums("redwire.client.redirections"),
            vec![(expect(&redirected), 1)]
        );
    });
}
