//! Quick start: redwire's tokio client against a real server.
//!
//! Run it with `cargo xtask demo`, which starts a throwaway server and sets `REDWIRE_URL`, or
//! against your own: `REDWIRE_URL=redis://127.0.0.1:6379 cargo run -p redwire-examples
//! --example quickstart`.

use std::collections::HashMap;
use std::error::Error;

use client_tokio::{Client, Commands};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // Connects, negotiates RESP3 with HELLO, and checks the server answers.
    let client = Client::from_url(&url).await?;

    // Typed commands: the reply converts into the type you ask for.
    client
        .set::<()>("redwire:greeting", "hello from redwire")
        .await?;
    let greeting: Option<String> = client.get("redwire:greeting").await?;
    println!("GET greeting     -> {greeting:?}");

    // Concurrent requests share one connection and leave in one write.
    let (a, b, c) = tokio::join!(
        client.incr::<i64>("redwire:counter"),
        client.incr::<i64>("redwire:counter"),
        client.incr::<i64>("redwire:counter"),
    );
    println!("INCR x3          -> {}, {}, {}", a?, b?, c?);

    client
        .hset::<i64>("redwire:user", [("name", "ada"), ("lang", "rust")])
        .await?;
    let user: HashMap<String, String> = client.hgetall("redwire:user").await?;
    println!("HGETALL user     -> {user:?}");

    // A pipeline: one round trip, replies in order, typed as a tuple.
    let pipe = client.pipeline();
    pipe.incr_by::<i64>("redwire:counter", 10)
        .get::<String>("redwire:greeting");
    let (counter, again): (i64, String) = pipe.run().await?;
    println!("PIPELINE         -> ({counter}, {again:?})");

    // A transaction: MULTI/EXEC, atomically.
    let tx = client.transaction();
    tx.incr::<i64>("redwire:counter")
        .del::<i64>("redwire:counter");
    let (last, deleted): (i64, i64) = tx.run().await?;
    println!("MULTI/EXEC       -> ({last}, {deleted})");

    client
        .del::<i64>(["redwire:greeting", "redwire:user"])
        .await?;
    client.quit().await;
    Ok(())
}
