//! OpenTelemetry with otel-hooks: every request becomes a span, timed by the
//! `db.client.operation.duration` histogram, both printed to stdout.
//!
//! Run it against a server: `REDWIRE_URL=redis://127.0.0.1:6379 cargo run -p redwire-examples
//! --example otel_stdout`. The spans print as each request ends; the metrics print at the end,
//! when the meter provider shuts down.

use std::error::Error;
use std::sync::Arc;

use client_tokio::{Client, Commands, Config};
use opentelemetry::Context;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otel_hooks::{OtelHooks, QueryText};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());

    // The SDK, exporting to stdout: spans as they end, metrics when read.
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default()).build(),
        )
        .build();

    // The hooks: spans and metrics for every request, with the query text masked
    // (`SET ? ?`). Credentials are never recorded.
    let hooks = OtelHooks::builder()
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .query_text(QueryText::Masked)
        .build();
    let mut config = Config::from_url(&url)?;
    config.hooks = Some(Arc::new(hooks));
    let client = Client::connect(config).await?;

    // The application's own span: the requests made under it become its children.
    let tracer = tracer_provider.tracer("otel-example");
    let cx = Context::current_with_span(tracer.start("checkout"));
    async {
        client.set::<()>("redwire:otel:cart", "3 items").await?;
        let cart: Option<String> = client.get("redwire:otel:cart").await?;
        println!("GET cart -> {cart:?}");
        let (n, _): (i64, i64) = client
            .pipeline()
            .incr::<i64>("redwire:otel:orders")
            .del::<i64>("redwire:otel:cart")
            .run()
            .await?;
        println!("orders   -> {n}");
        // A failing command: its span has status Error and error.type WRONGTYPE.
        let wrong = client
            .hget::<Option<String>>("redwire:otel:orders", "f")
            .await;
        println!("HGET     -> {wrong:?}");
        Ok::<(), Box<dyn Error>>(())
    }
    .with_context(cx.clone())
    .await?;
    cx.span().end();

    client.quit().await;
    tracer_provider.shutdown()?;
    meter_provider.shutdown()?;
    Ok(())
}
