//! Client-side caching (RESP3): repeated reads of a key are answered from local memory until
//! the server says the key changed.
//!
//! Start a server with `cargo xtask up standalone` (port 7400), then
//! `cargo run -p redwire-examples --example caching`; or point `REDWIRE_URL` at yours. The
//! same settings go in a URL: `redis://host:6379?cache_size=10000&cache_ttl=60000` (add
//! `&cache_prefix=user:` for broadcast tracking of some prefixes only).

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use client_core::hooks::{CacheInvalidation, Hooks};
use client_core::{Command, RequestId};
use client_tokio::{CacheSettings, Client, Commands, Config};

/// Counts what the cache does; `otel-hooks` exports the same as OpenTelemetry counters.
#[derive(Debug, Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
}

impl Hooks for Counts {
    fn cache_hit(&self, _request: RequestId, _command: &Command) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
    fn cache_miss(&self, _request: RequestId, _command: &Command) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
    fn cache_invalidated(&self, _invalidation: &CacheInvalidation<'_>) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:7400".into());
    let counts = Arc::new(Counts::default());
    let mut config = Config::from_url(&url)?;
    // Up to 10,000 replies, each kept at most a minute (tracking invalidates them sooner).
    config.cache = Some(CacheSettings::new(10_000).ttl(Duration::from_secs(60)));
    config.hooks = Some(counts.clone());
    let client = Client::connect(config).await?;
    let other = Client::from_url(&url).await?;

    let _: () = other.set("redwire:example:cached", "first").await?;
    for _ in 0..1000 {
        // The first read goes to the server; the next 999 are answered locally.
        let _: String = client.get("redwire:example:cached").await?;
    }
    // Another client changes the key: the server pushes an invalidation to this one.
    let _: () = other.set("redwire:example:cached", "second").await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let now: String = client.get("redwire:example:cached").await?;
    println!("after the other client's write: {now}");
    println!(
        "hits {}, misses {}, invalidations {}",
        counts.hits.load(Ordering::Relaxed),
        counts.misses.load(Ordering::Relaxed),
        counts.invalidations.load(Ordering::Relaxed)
    );
    client.quit().await;
    Ok(())
}
