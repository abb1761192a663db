//! Thread-per-core with glommio: one executor per CPU, each with its own client, and the work
//! split between them by key, so that no client, lock or connection is shared across cores.
//!
//! Run it against a server: `cargo xtask up standalone`, then
//! `REDWIRE_URL=redis://127.0.0.1:7400 cargo run -p redwire-examples --example glommio_per_core`.
//!
//! A client's handles are `!Send`: create it inside the executor that uses it. Work that
//! arrives on one executor for a key another one owns would go over a
//! `glommio::channels::shared_channel` to that executor; here each executor simply takes the
//! keys that hash to it.

use std::error::Error;

use client_glommio::{Client, Commands};

/// Keys written in all, spread over the executors.
const KEYS: u64 = 10_000;

fn main() {
    if let Err(error) = run() {
        // Display, not Debug: a too-low memlock limit says how to raise it.
        eprintln!("glommio_per_core: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let executors = std::thread::available_parallelism().map_or(1, usize::from);

    // Checks the locked-memory limit first: too low, and this says how to raise it.
    let pool = client_glommio::executor_pool(executors)?.on_all_shards(move || {
        let url = url.clone();
        async move { per_core(&url, executors).await.map_err(|e| e.to_string()) }
    })?;

    let mut written = 0;
    for outcome in pool.join_all() {
        let (shard, count, check) = outcome.map_err(|e| format!("executor failed: {e}"))??;
        println!("executor {shard}: wrote {count} keys, read one back as {check:?}");
        written += count;
    }
    println!("{written} keys written by {executors} executors, each with its own client");
    Ok(())
}

/// One executor's work: its own client, and the keys that hash to it.
async fn per_core(
    url: &str,
    executors: usize,
) -> Result<(usize, usize, Option<u64>), Box<dyn Error>> {
    let shard = glommio::executor().id();
    let index = shard % executors;
    let client = Client::from_url(url).await?;
    // This executor's share: every key whose number hashes to it. The requests of one
    // executor are pipelined on its own connection.
    let mine: Vec<u64> = (0..KEYS)
        .filter(|n| (*n as usize) % executors == index)
        .collect();
    let batch = client.pipeline();
    for n in &mine {
        batch.set::<()>(format!("redwire:per-core:{n}"), shard as u64);
    }
    let _: Vec<()> = batch.run().await?;
    let check: Option<u64> = client.get(format!("redwire:per-core:{}", mine[0])).await?;
    client.quit().await;
    Ok((shard, mine.len(), check))
}
