//! The same session on async-std, smol and glommio: every adapter has the tokio adapter's API,
//! because they all name `client-driver`'s handles for their runtime.
//!
//! Run it against a server: `cargo xtask up standalone`, then
//! `REDWIRE_URL=redis://127.0.0.1:7400 cargo run -p redwire-examples --example runtimes`.

use std::error::Error;

use client_async_std::Commands;
use client_driver::{Client, Runtime};

/// A few commands, a pipeline and a pub/sub round trip: written once, for any runtime.
async fn session<R: Runtime>(name: &str, client: Client<R>) -> Result<(), Box<dyn Error>> {
    let key = format!("redwire:runtimes:{name}");
    client.set::<()>(&key, name).await?;
    let back: String = client.get(&key).await?;
    let (hits, _): (i64, i64) = client
        .pipeline()
        .incr::<i64>(format!("{key}:hits"))
        .expire::<i64>(format!("{key}:hits"), 60, None)
        .run()
        .await?;

    let mut news = client.subscriber();
    news.subscribe([format!("{key}:news")]).await?;
    client
        .publish::<i64>(format!("{key}:news"), "hello")
        .await?;
    let message = news.next_message().await.ok_or("the client closed")?;

    println!(
        "{name:>9}: GET -> {back:?}, INCR -> {hits}, message on {:?}: {:?}",
        String::from_utf8_lossy(&message.channel),
        String::from_utf8_lossy(&message.payload),
    );
    client.del::<i64>(&key).await?;
    client.quit().await;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());

    // async-std (discontinued upstream, still supported): its own block_on and executor.
    async_std::task::block_on(async {
        let client = client_async_std::Client::from_url(&url).await?;
        session("async-std", client).await
    })?;

    // smol: the same futures-io driver, tasks on smol's global executor.
    smol::block_on(async {
        let client = client_async_std::smol::Client::from_url(&url).await?;
        session("smol", client).await
    })?;

    // glommio: a client per executor, created on it (its handles are !Send).
    let executor = client_glommio::executor()?;
    executor.run(async {
        let client = client_glommio::Client::from_url(&url).await?;
        session("glommio", client).await
    })?;
    Ok(())
}
