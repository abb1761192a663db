//! otel-hooks exporting to an OpenTelemetry collector over OTLP/HTTP (protobuf).
//!
//! Built only with the examples crate's `otlp` feature, because `opentelemetry-otlp` brings an
//! HTTP client (reqwest, hyper) that the rest of the workspace does not need:
//!
//! ```sh
//! REDWIRE_URL=redis://127.0.0.1:6379 \
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//! OTEL_SERVICE_NAME=checkout \
//!     cargo run -p redwire-examples --features otlp --example otel_otlp
//! ```
//!
//! Configuration, all read by `opentelemetry-otlp` and the SDK from the environment:
//!
//! - `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL (default `http://localhost:4318`);
//!   spans go to `/v1/traces` and metrics to `/v1/metrics` under it.
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `..._METRICS_ENDPOINT` override one signal's full URL.
//! - `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,key=value` sent with every export (API keys).
//! - `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds per export (default 10000).
//! - `OTEL_SERVICE_NAME`: the `service.name` resource attribute.
//! - `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`: the batch span processor's flush
//!   delay and queue bound; `OTEL_METRIC_EXPORT_INTERVAL`: how often metrics are exported
//!   (milliseconds, default 60000).
//!
//! The exporter is `opentelemetry-otlp` with `default-features = false` and the features
//! `http-proto`, `reqwest-blocking-client`, `trace` and `metrics`: OTLP over HTTP with
//! protobuf bodies and a blocking client on the SDK's own export threads, no gRPC (tonic) and
//! no TLS stack. For an `https://` collector add `reqwest-rustls`.

use std::error::Error;
use std::sync::Arc;

use client_tokio::{Client, Commands, Config};
use opentelemetry_otlp::{MetricExporter, SpanExporter};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otel_hooks::{OtelHooks, QueryText};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());

    // Batched spans and periodic metrics: exports run on the SDK's threads, never inside a
    // request.
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(SpanExporter::builder().with_http().build()?)
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(MetricExporter::builder().with_http().build()?).build(),
        )
        .build();

    let hooks = OtelHooks::builder()
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .query_text(QueryText::Masked)
        .build();
    let mut config = Config::from_url(&url)?;
    config.hooks = Some(Arc::new(hooks));
    let client = Client::connect(config).await?;

    for i in 0..100 {
        client.set::<()>(format!("redwire:otlp:{i}"), i).await?;
    }
    let n: i64 = client
        .del(
            (0..100)
                .map(|i| format!("redwire:otlp:{i}"))
                .collect::<Vec<_>>(),
        )
        .await?;
    println!("wrote and deleted {n} keys; exporting");

    client.quit().await;
    // Flush what is still queued before exiting.
    let flushed = [tracer_provider.shutdown(), meter_provider.shutdown()];
    for error in flushed.into_iter().filter_map(Result::err) {
        eprintln!(
            "export failed: {error}; is a collector listening at OTEL_EXPORTER_OTLP_ENDPOINT?"
        );
    }
    Ok(())
}
