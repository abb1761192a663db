//! Pub/sub: a channel, and keyspace notifications (the server publishing what happens to
//! keys) read as a `Stream`.
//!
//! Start a server with `cargo xtask up standalone` (port 7400), then
//! `cargo run -p redwire-examples --example pubsub`; or point `REDWIRE_URL` at yours. The
//! example turns keyspace notifications on with `CONFIG SET notify-keyspace-events`, which
//! needs a user allowed to run `CONFIG`.

use std::error::Error;
use std::time::Duration;

use client_core::SetOptions;
use client_tokio::{Client, Commands, PubSubEvent, cmd};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:7400".into());
    let client = Client::from_url(&url).await?;

    // 1. A channel. The subscription is confirmed by the server when `subscribe` returns,
    //    so nothing published after it is missed.
    let mut chat = client.subscriber();
    chat.subscribe(["redwire:example:chat"]).await?;
    for text in ["hello", "how are you?"] {
        let receivers: i64 = client.publish("redwire:example:chat", text).await?;
        println!("published {text:?} to {receivers} subscriber(s)");
    }
    for _ in 0..2 {
        let message = chat.next_message().await.ok_or("the subscriber ended")?;
        let text: String = message.payload_as()?;
        println!("chat: {text}");
    }

    // 2. Keyspace notifications: K = keyspace events (`__keyspace@<db>__:<key>` carries the
    //    event name), g = generic commands (DEL, EXPIRE...), $ = strings, x = expirations.
    let _: () = client
        .command(
            cmd("CONFIG")
                .arg("SET")
                .arg("notify-keyspace-events")
                .arg("Kg$x"),
        )
        .await?;
    let mut keyspace = client.subscriber();
    keyspace
        .psubscribe(["__keyspace@0__:redwire:example:*"])
        .await?;
    let _: () = client.set("redwire:example:a", "1").await?;
    let _: () = client
        .set_options("redwire:example:b", "2", &SetOptions::new().px(50))
        .await?;
    let _: i64 = client.del("redwire:example:a").await?;
    // set, set, expire (the PX), del, then the expiry of b a little later.
    for _ in 0..5 {
        let Some(event) =
            tokio::time::timeout(Duration::from_secs(2), keyspace.next_event()).await?
        else {
            break;
        };
        match event {
            PubSubEvent::Message(message) => {
                let key = String::from_utf8_lossy(&message.channel);
                let key = key.trim_start_matches("__keyspace@0__:");
                let what: String = message.payload_as()?;
                println!("keyspace: {key} <- {what}");
            }
            // After a reconnect, the subscriptions are put back, and the subscriber is told
            // that notifications in between may have been missed.
            PubSubEvent::Resubscribed { reason, .. } => println!("resubscribed ({reason})"),
            other => println!("{other:?}"),
        }
    }
    let _: () = client
        .command(
            cmd("CONFIG")
                .arg("SET")
                .arg("notify-keyspace-events")
                .arg(""),
        )
        .await?;
    client.quit().await;
    Ok(())
}
