//! Redis Sentinel: the client asks the sentinels for the primary of a service, follows its
//! failovers, and can send reads to the replicas.
//!
//! Start a primary, a replica and three sentinels with `cargo xtask up sentinel` (service
//! `redwire-primary`, sentinels on 7445-7447), then
//! `cargo run -p redwire-examples --example sentinel`; or point `REDWIRE_SENTINEL_URL` at
//! yours, e.g. `redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster`. Add
//! `?sentinel_password=...` when the sentinels require a password (the URL's own user and
//! password are the data nodes').

use std::error::Error;
use std::time::Duration;

use client_tokio::{Client, Commands, Config, ReadFrom};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_SENTINEL_URL").unwrap_or_else(|_| {
        "redis+sentinel://127.0.0.1:7445,127.0.0.1:7446,127.0.0.1:7447/redwire-primary".into()
    });
    let mut config = Config::from_url(&url)?;
    if let Some(sentinel) = config.sentinel.as_mut() {
        // Each sentinel gets this long to answer before the next one is asked.
        sentinel.timeout = Duration::from_millis(300);
        // Reads go to a healthy replica; writes always go to the primary.
        sentinel.read_from = ReadFrom::PreferReplica;
    }
    // The first request asks a sentinel, checks the node it names with ROLE, and subscribes
    // to +switch-master so that a failover is followed at once.
    let client = Client::connect(config).await?;
    client
        .set::<()>("redwire:sentinel:greeting", "hello")
        .await?;
    println!("primary                -> {:?}", client.sentinel_primary());

    // Replicas copy asynchronously: a read right after a write may not see it yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let greeting: Option<String> = client.get("redwire:sentinel:greeting").await?;
    println!("GET (from a replica)   -> {greeting:?}");

    // A write that arrives during a failover waits for the new primary (up to its
    // timeout); one in flight when the old primary went away fails with an error saying it
    // may have executed, so it is never applied twice behind your back.
    let visits: i64 = client.incr("redwire:sentinel:visits").await?;
    println!("INCR                   -> {visits}");

    client
        .del::<()>(["redwire:sentinel:greeting", "redwire:sentinel:visits"])
        .await?;
    client.quit().await;
    Ok(())
}
