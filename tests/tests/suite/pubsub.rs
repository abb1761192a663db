//! Pub/sub through the runtime's adapter, against the real servers of the cell, in its protocol
//! (RESP3: subscriptions on the shared connection; RESP2: on a connection of their own).
//!
//! Every message carries its sequence number, so each test checks order, duplicates and gaps,
//! not only counts. A gap is allowed only right after an event that announces it
//! (`Resubscribed` after a restart or a failover, `Lagged` for a subscriber that chose to
//! skip): never silently. Each test prints one line (see it with `--nocapture`):
//! `EVIDENCE pubsub test=<name> protocol=<2|3> ...` with its message counts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redwire_tests::{TestEnv, TopologyKind};

use super::restore::{Restore, blocking};
use crate::rt::{
    self, Client, Commands, Message, Overflow, PubSubEvent, Subscriber, SubscriberSettings,
    SubscriptionKind,
};

/// How long a test waits for one event before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

fn channel(name: &str) -> String {
    format!("redwire:{}:pubsub:{name}:{}", rt::NAME, super::unique_run())
}

/// The next event, failing the test after [`PATIENCE`].
async fn next(sub: &mut Subscriber, what: &str) -> PubSubEvent {
    rt::timeout(PATIENCE, sub.next_event())
        .await
        .unwrap_or_else(|_| panic!("no event within {PATIENCE:?} while waiting for {what}"))
        .unwrap_or_else(|| panic!("the subscriber ended while waiting for {what}"))
}

/// The sequence number a message carries.
fn seq(message: &Message) -> u64 {
    message.payload_as::<u64>().expect("a numbered payload")
}

/// Reads until `want` messages of `channel` arrived (or a gap announcement), checking order.
struct Tally {
    /// Per channel (or pattern): the next number expected.
    next: BTreeMap<String, u64>,
    messages: u64,
    resubscribed: Vec<String>,
    lagged: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            next: BTreeMap::new(),
            messages: 0,
            resubscribed: Vec::new(),
            lagged: 0,
        }
    }

    /// Takes one event; a message must be the next number of its channel unless `gap_ok`.
    fn take(&mut self, event: PubSubEvent, gap_ok: bool) {
        match event {
            PubSubEvent::Message(message) => {
                let name = String::from_utf8_lossy(&message.channel).into_owned();
                let n = seq(&message);
                let expected = self.next.entry(name.clone()).or_insert(0);
                if gap_ok {
                    assert!(
                        n >= *expected,
                        "{name}: {n} came again or out of order (expected {expected} or later)"
                    );
                } else {
                    assert_eq!(
                        n, *expected,
                        "{name}: message {n} where {expected} was due, with no event announcing a gap"
                    );
                }
                *expected = n + 1;
                self.messages += 1;
            }
            PubSubEvent::Resubscribed { reason, .. } => self.resubscribed.push(reason),
            PubSubEvent::Lagged { skipped } => self.lagged += skipped,
            other => panic!("unexpected event {other:?}"),
        }
    }
}

async fn publish_numbered(client: &Client, channel: &str, range: std::ops::Range<u64>) -> i64 {
    let mut receivers = 0;
    for n in range {
        let r: i64 = client.publish(channel, n).await.expect("PUBLISH");
        receivers = r;
    }
    receivers
}

#[test]
fn each_subscription_kind_receives_every_message_in_order() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        if !env.is_standalone() {
            return;
        }
        let client = super::client_with(&env, env.client_config()).await;
        let publisher = super::client_with(&env, env.client_config()).await;
        let plain = channel("plain");
        let pattern_base = channel("pattern");
        let shard = channel("shard");
        let mut sub = client.subscriber();
        sub.subscribe([&plain]).await.expect("SUBSCRIBE");
        sub.psubscribe([format!("{pattern_base}:*")])
            .await
            .expect("PSUBSCRIBE");
        sub.ssubscribe([&shard]).await.expect("SSUBSCRIBE");
        const N: u64 = 500;
        let matched = format!("{pattern_base}:x");
        let counts = futures_util::join!(
            publish_numbered(&publisher, &plain, 0..N),
            publish_numbered(&publisher, &matched, 0..N),
            async {
                for n in 0..N {
                    let _: i64 = publisher.spublish(&shard, n).await.expect("SPUBLISH");
                }
                1
            }
        );
        assert_eq!((counts.0, counts.1), (1, 1), "one receiver each");
        let mut tally = Tally::new();
        let mut kinds = BTreeMap::new();
        while tally.messages < 3 * N {
            let event = next(&mut sub, "the published messages").await;
            if let PubSubEvent::Message(m) = &event {
                *kinds.entry(format!("{:?}", m.kind)).or_insert(0u64) += 1;
                if m.kind == SubscriptionKind::Pattern {
                    assert_eq!(
                        m.pattern.as_deref(),
                        Some(format!("{pattern_base}:*").as_bytes())
                    );
                }
            }
            tally.take(event, false);
        }
        assert_eq!(kinds.values().copied().collect::<Vec<_>>(), vec![N, N, N]);
        // Unsubscribed: the server counts no receiver any more.
        sub.unsubscribe([&plain]);
        sub.punsubscribe(Vec::<String>::new());
        let mut gone = false;
        for _ in 0..50 {
            let r: i64 = publisher.publish(&plain, N).await.expect("PUBLISH");
            let p: i64 = publisher.publish(&matched, N).await.expect("PUBLISH");
            if r == 0 && p == 0 {
                gone = true;
                break;
            }
            rt::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            gone,
            "the server still counts the unsubscribed channel and pattern"
        );
        println!(
            "EVIDENCE pubsub test=kinds protocol={} channel={} pattern={} shard={}",
            env.protocol, kinds["Channel"], kinds["Pattern"], kinds["Shard"]
        );
    });
}

#[test]
fn a_subscriber_is_resubscribed_after_a_server_restart_and_told_so() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        if env.topology != TopologyKind::Standalone {
            return;
        }
        let node = env.server_names().remove(0);
        let client = super::client_with(&env, env.client_config()).await;
        let publisher = super::client_with(&env, env.client_config()).await;
        let name = channel("restart");
        let mut sub = client.subscriber();
        sub.subscribe([&name]).await.expect("SUBSCRIBE");
        publish_numbered(&publisher, &name, 0..100).await;
        let mut tally = Tally::new();
        while tally.messages < 100 {
            tally.take(next(&mut sub, "messages before the restart").await, false);
        }
        let restore = Restore::new(&env);
        {
            let restore = restore.clone();
            let node = node.clone();
            blocking(move || {
                restore.kill(&node);
                std::thread::sleep(Duration::from_millis(300));
                restore.restart(&node);
            })
            .await;
        }
        let restarted = Instant::now();
        // The subscriber hears that it was put back before anything else.
        let event = next(&mut sub, "the resubscription").await;
        let PubSubEvent::Resubscribed {
            kind,
            channels,
            reason,
        } = event
        else {
            panic!("expected Resubscribed first, got {event:?}");
        };
        let back_after = restarted.elapsed();
        assert_eq!(kind, SubscriptionKind::Channel);
        assert_eq!(channels, vec![bytes::Bytes::from(name.clone())]);
        assert!(reason.contains("lost"), "{reason}");
        // From then on nothing is missed. The publisher's own connection came back too.
        let receivers = publish_numbered(&publisher, &name, 100..200).await;
        assert_eq!(receivers, 1);
        while tally.messages < 200 {
            tally.take(next(&mut sub, "messages after the restart").await, false);
        }
        drop(restore);
        println!(
            "EVIDENCE pubsub test=restart protocol={} before=100 after=100 resubscribed_ms_after_restart={} reason={reason:?}",
            env.protocol,
            back_after.as_millis()
        );
    });
}

#[test]
fn a_slow_blocking_subscriber_loses_nothing() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        if !env.is_standalone() {
            return;
        }
        let client = super::client_with(&env, env.client_config()).await;
        let publisher = super::client_with(&env, env.client_config()).await;
        let name = channel("slow-block");
        let mut sub = client.subscriber_with(SubscriberSettings::new(16, Overflow::Block));
        sub.subscribe([&name]).await.expect("SUBSCRIBE");
        const N: u64 = 20_000;
        // Published in pipelines of 500, far faster than the reader below takes them.
        let publishing = {
            let publisher = publisher.clone();
            let name = name.clone();
            rt::spawn(async move {
                let mut n = 0;
                while n < N {
                    let batch = publisher.pipeline();
                    for k in n..(n + 500).min(N) {
                        batch.publish::<i64>(&name, k);
                    }
                    let _: Vec<i64> = batch.run().await.expect("PUBLISH pipeline");
                    n = (n + 500).min(N);
                }
            })
        };
        let mut tally = Tally::new();
        let started = Instant::now();
        while tally.messages < N {
            tally.take(next(&mut sub, "the published messages").await, false);
            if tally.messages.is_multiple_of(100) {
                rt::sleep(Duration::from_millis(1)).await;
            }
        }
        publishing.await.expect("the publisher");
        assert_eq!(tally.lagged, 0);
        assert!(tally.resubscribed.is_empty(), "{:?}", tally.resubscribed);
        // Meanwhile the client's other requests still work (RESP3: after the pause lifted).
        let _: String = client.ping().await.expect("PING after the slow read");
        println!(
            "EVIDENCE pubsub test=slow_block protocol={} published={N} received={} lagged=0 capacity=16 read_ms={}",
            env.protocol,
            tally.messages,
            started.elapsed().as_millis()
        );
    });
}

#[test]
fn a_lagging_subscriber_is_told_exactly_how_many_it_skipped() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        if !env.is_standalone() {
            return;
        }
        let client = super::client_with(&env, env.client_config()).await;
        let publisher = super::client_with(&env, env.client_config()).await;
        let name = channel("slow-lag");
        let mut sub = client.subscriber_with(SubscriberSettings::new(64, Overflow::Lag));
        sub.subscribe([&name]).await.expect("SUBSCRIBE");
        const N: u64 = 5_000;
        let batch = publisher.pipeline();
        for k in 0..N {
            batch.publish::<i64>(&name, k);
        }
        let _: Vec<i64> = batch.run().await.expect("PUBLISH pipeline");
        let mut tally = Tally::new();
        let mut gap_next = false;
        let mut lag_events = 0;
        // Read what the buffer holds: the first 64 messages, then the count of those skipped.
        while tally.messages + tally.lagged < N {
            let event = next(&mut sub, "the messages and the lag report").await;
            let is_lag = matches!(event, PubSubEvent::Lagged { .. });
            lag_events += u64::from(is_lag);
            tally.take(event, gap_next);
            gap_next = is_lag;
        }
        assert_eq!(
            tally.messages + tally.lagged,
            N,
            "every message was either delivered or counted as skipped"
        );
        // With room again, the next message is delivered, right after the last one counted.
        let _: i64 = publisher.publish(&name, N).await.expect("PUBLISH");
        let event = next(&mut sub, "a message after the lag").await;
        let PubSubEvent::Message(m) = &event else {
            panic!("expected the message published after the lag, got {event:?}");
        };
        assert_eq!(seq(m), N);
        assert!(
            tally.lagged > 0,
            "nothing was skipped: the test did not fill the buffer"
        );
        println!(
            "EVIDENCE pubsub test=slow_lag protocol={} published={} received={} skipped={} lag_events={lag_events} capacity=64",
            env.protocol, N, tally.messages, tally.lagged
        );
    });
}

/// The primary that owns `channel`'s slot, as `host:port`.
fn shard_owner(env: &TestEnv, channel: &str) -> String {
    let view = super::cluster::topology(env);
    view.owner(client_core::key_slot(channel.as_bytes()))
        .expect("an owner")
        .to_owned()
}

#[test]
fn a_sharded_subscriber_follows_its_slot_across_a_migration_and_a_failover() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        if env.topology != TopologyKind::Cluster {
            return;
        }
        let client =
            super::connect_or_fail(super::cluster::cluster_config(&env), "to the cluster").await;
        let publisher =
            super::connect_or_fail(super::cluster::cluster_config(&env), "to the cluster").await;
        let name = channel("sharded");
        let slot = client_core::key_slot(name.as_bytes());
        let mut sub = client.subscriber();
        sub.ssubscribe([&name]).await.expect("SSUBSCRIBE");
        let mut also = client.subscriber();
        let plain = channel("cluster-plain");
        also.subscribe([&plain]).await.expect("SUBSCRIBE");

        let mut tally = Tally::new();
        let mut sent = 0u64;
        let mut phases = Vec::new();
        let restore = Restore::new(&env);
        let source = shard_owner(&env, &name);
        let view = super::cluster::topology(&env);
        let target = super::cluster::primaries(&view)
            .into_iter()
            .find(|p| *p != source)
            .expect("another primary");
        for phase in ["migration", "failover"] {
            for _ in 0..100 {
                let _: i64 = publisher.spublish(&name, sent).await.expect("SPUBLISH");
                sent += 1;
            }
            while tally.messages < sent {
                tally.take(next(&mut sub, "messages before the fault").await, false);
            }
            let fault_at = Instant::now();
            match phase {
                "migration" => {
                    let (restore, source, target) =
                        (restore.clone(), source.clone(), target.clone());
                    blocking(move || restore.migrate(slot, &source, &target)).await;
                }
                _ => {
                    let owner = shard_owner(&env, &name);
                    let mut faults = env.faults();
                    blocking(move || faults.cluster_failover(&owner).expect("CLUSTER FAILOVER"))
                        .await;
                }
            }
            let event = next(&mut sub, "the resubscription after the {phase}").await;
            let PubSubEvent::Resubscribed { kind, reason, .. } = event else {
                panic!("{phase}: expected Resubscribed, got {event:?}");
            };
            assert_eq!(kind, SubscriptionKind::Shard);
            let back_ms = fault_at.elapsed().as_millis();
            // After the announcement, every message arrives.
            for _ in 0..100 {
                let _: i64 = publisher.spublish(&name, sent).await.expect("SPUBLISH");
                sent += 1;
            }
            while tally.messages < sent {
                tally.take(next(&mut sub, "messages after the fault").await, false);
            }
            phases.push(format!(
                "{phase}_resubscribed_ms={back_ms} {phase}_reason={reason:?}"
            ));
        }
        // A classic channel on the same client kept working throughout.
        let _: i64 = publisher.publish(&plain, 0u64).await.expect("PUBLISH");
        let event = next(&mut also, "a classic message").await;
        assert!(matches!(event, PubSubEvent::Message(_)), "{event:?}");
        // Put the failed-over shard back as it was (its first primary takes over again), then
        // the slot goes back to its first owner (Restore, on drop).
        let owner = shard_owner(&env, &name);
        if owner != target {
            let mut faults = env.faults();
            blocking(move || {
                faults
                    .cluster_failover(&owner)
                    .expect("CLUSTER FAILOVER back")
            })
            .await;
        }
        drop(restore);
        println!(
            "EVIDENCE pubsub test=sharded protocol={} spublished={sent} received={} {}",
            env.protocol,
            tally.messages,
            phases.join(" ")
        );
    });
}

#[test]
fn a_subscriber_follows_a_sentinel_failover() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        if env.topology != TopologyKind::Sentinel {
            return;
        }
        let client = super::connect_or_fail(env.client_config(), "through the sentinels").await;
        let publisher = super::connect_or_fail(env.client_config(), "through the sentinels").await;
        let name = channel("sentinel");
        let mut sub = client.subscriber();
        sub.subscribe([&name]).await.expect("SUBSCRIBE");
        publish_numbered(&publisher, &name, 0..100).await;
        let mut tally = Tally::new();
        while tally.messages < 100 {
            tally.take(next(&mut sub, "messages before the failover").await, false);
        }
        let restore = Restore::new(&env);
        let started = Instant::now();
        let (old, new) = {
            let restore = restore.clone();
            blocking(move || restore.sentinel_failover()).await
        };
        let event = next(&mut sub, "the resubscription on the new primary").await;
        let PubSubEvent::Resubscribed { reason, .. } = event else {
            panic!("expected Resubscribed, got {event:?}");
        };
        let back_ms = started.elapsed().as_millis();
        // The publisher follows the failover too; its PUBLISH reaches the new primary.
        let mut receivers = 0;
        for n in 100..200 {
            receivers = loop {
                match publisher.publish::<i64>(&name, n).await {
                    Ok(r) => break r,
                    Err(e) => {
                        eprintln!("PUBLISH {n} during the failover: {e}");
                        rt::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
        }
        assert!(receivers >= 1);
        while tally.messages < 200 {
            tally.take(next(&mut sub, "messages after the failover").await, false);
        }
        drop(restore);
        println!(
            "EVIDENCE pubsub test=sentinel protocol={} before=100 after=100 old={old} new={new} resubscribed_ms={back_ms} reason={reason:?}",
            env.protocol
        );
    });
}
