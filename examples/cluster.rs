//! Redis Cluster: one client for the whole cluster, routing every command by its key's slot.
//!
//! Start a cluster with `cargo xtask up cluster` (3 primaries, 3 replicas on ports
//! 7430-7435), then `cargo run -p redwire-examples --example cluster`; or point
//! `REDWIRE_CLUSTER_URL` at yours, e.g. `redis+cluster://10.0.0.1:7000,10.0.0.2:7000`.

use std::error::Error;

use client_tokio::{Client, Commands, Config, Frame, cmd};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_CLUSTER_URL")
        .unwrap_or_else(|_| "redis+cluster://127.0.0.1:7430,127.0.0.1:7431".into());
    // Reads the topology (CLUSTER SHARDS) from the first seed that answers.
    let client = Client::connect(Config::from_url(&url)?).await?;

    // Keys go to the primary of their slot; connections open as they are needed.
    client.set::<()>("redwire:cluster:a", 1).await?;
    client.set::<()>("redwire:cluster:b", 2).await?;
    client.set::<()>("redwire:cluster:c", 3).await?;

    // Multi-key commands whose keys live on different nodes are split per slot, and the
    // replies come back in your order.
    let keys = [
        "redwire:cluster:a",
        "redwire:cluster:b",
        "redwire:cluster:c",
    ];
    let values: Vec<Option<i64>> = client.mget(keys).await?;
    println!("MGET across slots      -> {values:?}");

    // Pipelines that span nodes are split per node and reassembled in order.
    let (a, b, n): (i64, i64, i64) = client
        .pipeline()
        .incr::<i64>("redwire:cluster:a")
        .incr::<i64>("redwire:cluster:b")
        .exists::<i64>(keys)
        .run()
        .await?;
    println!("pipeline across nodes  -> a={a} b={b} exists={n}");

    // Keyless commands follow the command table's cluster policy: DBSIZE sums every primary.
    let total: i64 = client.command(cmd("DBSIZE")).await?;
    println!("DBSIZE (all primaries) -> {total}");

    // A transaction runs on one node: give its keys one hash tag.
    let exec: Frame = client
        .transaction()
        .set::<()>("{redwire:user:1}:name", "ada")
        .incr::<i64>("{redwire:user:1}:visits")
        .run()
        .await?;
    println!("MULTI/EXEC on one slot -> {exec:?}");

    // SCAN over the whole cluster, one primary after the other.
    let found = client
        .scan_cluster(Some("redwire:cluster:*"), Some(100))
        .await?;
    println!("SCAN across primaries  -> {} keys", found.len());

    let _: i64 = client.del(keys).await?;
    client.quit().await;
    Ok(())
}
