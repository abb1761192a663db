//! The pub/sub seed sweep: subscribers with random buffers and reading speeds, numbered
//! messages published by another client of the server, network faults and server restarts;
//! then the check that nothing went missing without the subscriber being told.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use resp_core::Frame;

use super::SeedReport;
use super::sentinel::{SERVICE, plan_episodes};
use crate::config::{Config, Protocol};
use crate::error::RequestError;
use crate::event::{Reply, RequestId};
use crate::pubsub::{Overflow, PubSubEvent, SubscriberId, SubscriberSettings, SubscriptionKind};
use crate::sim::node::{FakeNode, NodeConfig};
use crate::sim::{
    Chaos, ChaosTiming, ClusterConfig, FakeCluster, FakeSentinels, Faults, SentinelConfig, Servers,
    Sim, SimRng, sentinel_addr,
};

use SubscriptionKind::{Channel, Pattern, Shard};

/// Channels messages are published on: `c<i>` (classic), `p.<i>` (matched by the pattern
/// `p.*`), `s<i>` (shard channels).
const CHANNELS: &[(SubscriptionKind, &str)] = &[
    (Channel, "c0"),
    (Channel, "c1"),
    (Pattern, "p.0"),
    (Pattern, "p.1"),
    (Shard, "s0"),
    (Shard, "s1"),
];

/// A subscription of the workload: its kind and name.
type Sub = (SubscriptionKind, String);

/// A stream of numbered messages one subscriber receives: the kind, the channel.
type Stream = (SubscriptionKind, Bytes);

struct Reader {
    id: SubscriberId,
    overflow: Overflow,
    subs: Vec<Sub>,
    /// Reads this many events every `every`.
    batch: usize,
    every: Duration,
    /// Closed by the application at this point of the run, if ever.
    closes_at: Option<Duration>,
    closed: bool,
    /// Subscribe requests, with the subscriptions each covers.
    requests: Vec<(RequestId, Vec<Sub>)>,
    events: Vec<PubSubEvent>,
    /// When each subscription was confirmed (its request completed with `OK`): what was
    /// published before need not arrive.
    confirmed: BTreeMap<Sub, Duration>,
}

/// Which published channels a subscription covers.
fn covers(sub: &Sub, kind: SubscriptionKind, channel: &str) -> bool {
    match sub.0 {
        Pattern => kind == Pattern && channel.starts_with("p."),
        _ => sub.0 == kind && sub.1 == channel,
    }
}

/// Runs the pub/sub workload of `seed` against one node and checks it.
///
/// # Errors
///
/// The first property that failed, with the seed's settings.
pub fn run_pubsub_seed(seed: u64) -> Result<SeedReport, String> {
    run_pubsub_seed_traced(seed, false)
}

/// [`run_pubsub_seed`], printing every step when `trace` is on.
///
/// # Errors
///
/// As [`run_pubsub_seed`].
#[allow(clippy::too_many_lines)] // one story: set up, run, check
pub fn run_pubsub_seed_traced(seed: u64, trace: bool) -> Result<SeedReport, String> {
    let mut rng = SimRng::new(seed ^ 0x5eed_9b5b);
    let mut config = Config::new("sim-node", 6379);
    draw_client(&mut rng, &mut config);
    let (calm, faults) = draw_faults(&mut rng, &config, 0.2);
    let settings = format!(
        "seed {seed}: {:?}, command timeout {:?}, {}",
        config.protocol,
        config.timeouts.command,
        if calm { "calm" } else { "faults" }
    );
    let mut sim = Sim::new(config, FakeNode::new(NodeConfig::default()), faults, seed);
    sim.set_trace(trace);

    let run_for = Duration::from_millis(rng.between(300, 1500));
    if !calm {
        for _ in 0..rng.below(3) {
            let at = rng.millis(0, run_for.as_millis() as u64);
            let down = rng.millis(1, 200);
            sim.schedule_restart(at, down);
        }
    }

    drive_and_check(
        sim,
        seed,
        &mut rng,
        &settings,
        calm,
        run_for,
        |sim, _, kind, channel, payload| {
            let command = if kind == Shard { "SPUBLISH" } else { "PUBLISH" };
            sim.run_at_server(0, &[command, channel, payload]).is_some()
        },
    )
}

/// Runs the pub/sub workload of `seed` against a cluster (two or three shards, a replica
/// each) under a chaos of failovers, crashes and slot migrations (most of them moving the
/// shard channels' slots), with network faults on most seeds, and checks it as
/// [`run_pubsub_seed`] does. Classic messages are published at a random running node (the
/// cluster bus spreads them), shard messages at their slot's owner.
///
/// # Errors
///
/// The first property that failed, with the seed's settings.
pub fn run_cluster_pubsub_seed(seed: u64) -> Result<SeedReport, String> {
    run_cluster_pubsub_seed_traced(seed, false)
}

/// [`run_cluster_pubsub_seed`], printing every step when `trace` is on.
///
/// # Errors
///
/// As [`run_cluster_pubsub_seed`].
pub fn run_cluster_pubsub_seed_traced(seed: u64, trace: bool) -> Result<SeedReport, String> {
    let mut rng = SimRng::new(seed ^ 0x0c15_9b5b_0000);
    let shards = rng.between(2, 3) as u16;
    let mut cluster_config = ClusterConfig::new(shards, 1);
    cluster_config.full_coverage = rng.chance(0.7);
    let cluster = FakeCluster::new(cluster_config);
    let nodes = shards * 2;
    let mut config = Config::cluster(cluster.seeds());
    draw_client(&mut rng, &mut config);
    if let Some(cluster) = config.cluster.as_mut() {
        cluster.min_refresh_interval = rng.millis(5, 200);
    }
    let (calm, faults) = draw_faults(&mut rng, &config, 0.3);
    let run_for = Duration::from_millis(rng.between(500, 2000));
    // The shard channels' slots, for most of the migrations.
    let hot: Vec<u16> = CHANNELS
        .iter()
        .filter(|(kind, _)| *kind == Shard)
        .map(|(_, name)| resp_core::slot(name.as_bytes()))
        .collect();
    let chaos =
        Chaos::random(rng.next_u64(), run_for, 3, ChaosTiming::default()).with_hot_slots(hot);
    let settings = format!(
        "cluster pub/sub seed {seed}: {shards} shards x 1 replica, full coverage {}, {:?}, \
         command timeout {:?}, {}, run {run_for:?}, chaos {chaos:?}",
        cluster.config().full_coverage,
        config.protocol,
        config.timeouts.command,
        if calm { "calm" } else { "faults" },
    );
    let mut sim = Sim::with_servers(config, cluster, faults, seed);
    sim.set_trace(trace);
    let start = sim.now();
    sim.cluster_mut().start_chaos(chaos, start);
    drive_and_check(
        sim,
        seed,
        &mut rng,
        &settings,
        // Never calm: the chaos may fail a node over at any moment, even at the start, and
        // a subscribe request may then time out.
        false,
        run_for,
        |sim, rng, kind, channel, payload| {
            let (command, node) = if kind == Shard {
                let slot = resp_core::slot(channel.as_bytes());
                let Some(owner) = sim.cluster().truth().owner(slot) else {
                    return false;
                };
                ("SPUBLISH", owner)
            } else {
                ("PUBLISH", rng.below(u64::from(nodes)) as u16)
            };
            // Published only when the node took it: a refusal (MOVED, CLUSTERDOWN) is not.
            matches!(
                sim.run_at_server(node, &[command, channel, payload]),
                Some(Frame::Integer(_))
            )
        },
    )
}

/// Runs the pub/sub workload of `seed` against a Sentinel deployment (a primary, one or two
/// replicas, one to three sentinels) through up to three episodes (failovers with the
/// primary crashed or demoted, sentinels and data nodes down, replicas flagged down), with
/// network faults on most seeds, and checks it as [`run_pubsub_seed`] does. Messages are
/// published at the primary of the moment.
///
/// # Errors
///
/// The first property that failed, with the seed's settings.
pub fn run_sentinel_pubsub_seed(seed: u64) -> Result<SeedReport, String> {
    run_sentinel_pubsub_seed_traced(seed, false)
}

/// [`run_sentinel_pubsub_seed`], printing every step when `trace` is on.
///
/// # Errors
///
/// As [`run_sentinel_pubsub_seed`].
pub fn run_sentinel_pubsub_seed_traced(seed: u64, trace: bool) -> Result<SeedReport, String> {
    let mut rng = SimRng::new(seed ^ 0x5e47_9b5b_0000);
    let replicas = rng.between(1, 2) as u16;
    let sentinels = rng.between(1, 3) as u16;
    let mut servers = SentinelConfig::new(SERVICE, replicas, sentinels);
    servers.seed = rng.next_u64();
    servers.down_after = rng.millis(50, 1000);
    let mut config = Config::sentinel(SERVICE, (0..sentinels).map(sentinel_addr));
    draw_client(&mut rng, &mut config);
    let (calm, faults) = draw_faults(&mut rng, &config, 0.3);
    let horizon = Duration::from_millis(rng.between(500, 2000));
    // Sentinel 0 never goes down, so that the client can always find the primary.
    let episodes = plan_episodes(&mut rng, &servers, 0, horizon, calm);
    // Messages are published until the last episode is over.
    let run_for = episodes.iter().map(|e| e.end).fold(horizon, Duration::max);
    let settings = format!(
        "Sentinel pub/sub seed {seed}: {replicas} replicas, {sentinels} sentinels, {:?}, \
         command timeout {:?}, {}, run {run_for:?}, episodes {:?}",
        config.protocol,
        config.timeouts.command,
        if calm { "calm" } else { "faults" },
        episodes.iter().map(|e| &e.steps).collect::<Vec<_>>(),
    );
    let mut sim = Sim::with_servers(config, FakeSentinels::new(servers), faults, seed);
    sim.set_trace(trace);
    let start = sim.now();
    for episode in &episodes {
        for &(at, what) in &episode.steps {
            sim.servers_mut().schedule(start + at, what);
        }
    }
    drive_and_check(
        sim,
        seed,
        &mut rng,
        &settings,
        // Never calm: a failover may come at any moment, and a subscribe request may then
        // time out.
        false,
        run_for,
        |sim, _, kind, channel, payload| {
            let command = if kind == Shard { "SPUBLISH" } else { "PUBLISH" };
            let primary = sim.servers().primary();
            // Published only when the primary took it (it answers with its receivers).
            matches!(
                sim.run_at_server(primary, &[command, channel, payload]),
                Some(Frame::Integer(_))
            )
        },
    )
}

/// The client settings both sweeps draw: RESP2 or RESP3, the command and connect timeouts,
/// and reconnecting for ever.
fn draw_client(rng: &mut SimRng, config: &mut Config) {
    config.protocol = if rng.chance(0.5) {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    config.timeouts.command = rng.millis(100, 1000);
    config.timeouts.connect = rng.millis(50, 500);
    config.reconnect.max_attempts = None;
}

/// Whether the seed's network is calm (with `calm_chance`), and its faults.
fn draw_faults(rng: &mut SimRng, config: &Config, calm_chance: f64) -> (bool, Faults) {
    let calm = rng.chance(calm_chance);
    let faults = if calm {
        Faults::calm(rng)
    } else {
        Faults::random(rng, config.timeouts.command)
    };
    (calm, faults)
}

/// Runs the workload on `sim` and checks it: subscribers with random buffers and reading
/// speeds, a message every few milliseconds on a random channel (`publish` says whether the
/// server took it), for `run_for`; then three calm seconds, the readers catching up, and a
/// last message on every channel, which must arrive.
#[allow(clippy::too_many_lines)] // one story: subscribe, run, check
fn drive_and_check<S: Servers>(
    mut sim: Sim<S>,
    seed: u64,
    rng: &mut SimRng,
    settings: &str,
    calm: bool,
    run_for: Duration,
    mut publish: impl FnMut(&mut Sim<S>, &mut SimRng, SubscriptionKind, &str, &str) -> bool,
) -> Result<SeedReport, String> {
    let mut readers: Vec<Reader> = Vec::new();
    for _ in 0..rng.between(1, 3) {
        let capacity = if rng.chance(0.5) {
            rng.between(1, 8) as usize
        } else {
            1024
        };
        let overflow = if rng.chance(0.5) {
            Overflow::Block
        } else {
            Overflow::Lag
        };
        let id = sim.open_subscriber(SubscriberSettings::new(capacity, overflow));
        let mut subs: Vec<Sub> = Vec::new();
        for &(kind, name) in CHANNELS {
            let name = if kind == Pattern { "p.*" } else { name };
            let sub = (kind, name.to_owned());
            if rng.chance(0.5) && !subs.contains(&sub) {
                subs.push(sub);
            }
        }
        if subs.is_empty() {
            subs.push((Channel, "c0".to_owned()));
        }
        readers.push(Reader {
            id,
            overflow,
            subs,
            batch: rng.between(1, 4) as usize,
            every: rng.millis(0, 20),
            closes_at: rng
                .chance(0.1)
                .then(|| rng.millis(0, run_for.as_millis() as u64)),
            closed: false,
            requests: Vec::new(),
            events: Vec::new(),
            confirmed: BTreeMap::new(),
        });
    }
    // Subscribe, in one or several requests each.
    for r in &mut readers {
        let mut by_kind: BTreeMap<SubscriptionKind, Vec<String>> = BTreeMap::new();
        for (kind, name) in &r.subs {
            by_kind.entry(*kind).or_default().push(name.clone());
        }
        for (kind, names) in by_kind {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let id = sim
                .subscribe(r.id, kind, &refs)
                .map_err(|e| format!("{settings}: subscribe refused: {e}"))?;
            r.requests
                .push((id, names.into_iter().map(|n| (kind, n)).collect()));
        }
    }

    // Publish numbered messages, read slowly, until the end of the run; then a calm tail.
    // Per channel: the numbers the server published, and when.
    let mut published: BTreeMap<&'static str, Vec<(u64, Duration)>> = BTreeMap::new();
    let mut next: BTreeMap<&'static str, u64> = BTreeMap::new();
    let start = sim.now();
    let tick = Duration::from_millis(1);
    let calm_after = run_for;
    // After three calm seconds the readers catch up; then a last message on every channel,
    // read within a second.
    let catch_up_at = run_for + Duration::from_secs(3);
    let mut last_burst: Option<Duration> = None;
    let mut next_read: Vec<Duration> = vec![Duration::ZERO; readers.len()];
    let mut tally: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut last_publish = Duration::ZERO;
    loop {
        let mut t = sim.now() - start;
        if last_burst.is_some_and(|at| t >= at + Duration::from_secs(1)) {
            break;
        }
        if t >= calm_after {
            sim.set_faults(Faults::none());
        }
        if t >= catch_up_at && last_burst.is_none() {
            // A slow Block reader can be seconds behind, with what ended a subscription (a
            // cluster's `sunsubscribe` after a slot moved) still queued behind messages:
            // the last burst is published once every reader has read everything.
            read_until_quiet(&mut sim, &mut readers, tick, Duration::from_millis(200));
            // Only now does the client see the silence of a connection whose host vanished
            // while a Block reader held it paused: give its keep-alive (a `PING` after a
            // second of silence, and as long again for the answer) time to replace it.
            read_until_quiet(&mut sim, &mut readers, tick, Duration::from_secs(3));
            t = sim.now() - start;
            last_burst = Some(t);
            // One last message on every channel: each must arrive (the check after the
            // run), so each is published again until a server takes it.
            for &(kind, channel) in CHANNELS {
                let n = next.entry(channel).or_insert(0);
                *n += 1;
                let payload = n.to_string();
                for _ in 0..1000 {
                    if publish(&mut sim, rng, kind, channel, &payload) {
                        published
                            .entry(channel)
                            .or_default()
                            .push((*n, sim.now() - start));
                        *tally.entry("published").or_default() += 1;
                        break;
                    }
                    sim.run_for(tick);
                }
            }
        }
        // Publishing stops at the end of the run; the last burst comes once everything had
        // time to recover and every reader caught up.
        let publishing = t < calm_after;
        if publishing && t >= last_publish {
            last_publish = t + rng.millis(0, 3);
            let &(kind, channel) = rng.pick(CHANNELS);
            let n = next.entry(channel).or_insert(0);
            *n += 1;
            let payload = n.to_string();
            if publish(&mut sim, rng, kind, channel, &payload) {
                published.entry(channel).or_default().push((*n, t));
                *tally.entry("published").or_default() += 1;
            }
        }
        for (i, r) in readers.iter_mut().enumerate() {
            if r.closed || t < next_read[i] {
                continue;
            }
            if r.closes_at.is_some_and(|at| t >= at) {
                r.closed = true;
                sim.close_subscriber(r.id);
                continue;
            }
            next_read[i] = t + r.every;
            for _ in 0..r.batch {
                match sim.poll_pubsub(r.id) {
                    Some(e) => r.events.push(e),
                    None => break,
                }
            }
        }
        sim.run_for(tick);
    }
    // Read what is left, every subscriber in turn: with Block, one full buffer holds back
    // the connection the others read too.
    loop {
        let mut any = false;
        for r in readers.iter_mut().filter(|r| !r.closed) {
            if let Some(e) = sim.poll_pubsub(r.id) {
                r.events.push(e);
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    if !sim.violations().is_empty() {
        return Err(format!("{settings}: {:?}", sim.violations()));
    }

    // Check.
    let mut report = SeedReport::empty(seed, calm);
    for r in &mut readers {
        for (id, subs) in &r.requests {
            report.requests += 1;
            match sim
                .take_response_at(*id)
                .map(|(at, result)| (at - start, result))
            {
                Some((at, Ok(Reply::Single(Frame::SimpleString(s))))) if s == "OK" => {
                    report.succeeded += 1;
                    for sub in subs {
                        r.confirmed.insert(sub.clone(), at);
                    }
                }
                Some((_, Err(RequestError::Timeout { .. }))) if !calm => {
                    report.failed += 1;
                    *report.errors.entry("Timeout").or_default() += 1;
                }
                None if r.closed => {}
                other => {
                    return Err(format!(
                        "{settings}: the subscribe request for {subs:?} of {} ended with \
                         {other:?}",
                        r.id
                    ));
                }
            }
        }
        check_reader(r, &published, &mut tally).map_err(|e| format!("{settings}: {e}"))?;
        if !r.closed {
            // After the calm tail, the last message of each channel it covers arrived.
            for (kind, channel) in CHANNELS {
                let Some(&(last, _)) = published.get(channel).and_then(|p| p.last()) else {
                    continue;
                };
                if !r.subs.iter().any(|s| covers(s, *kind, channel)) {
                    continue;
                }
                let of_stream = |e: &PubSubEvent| {
                    matches!(e, PubSubEvent::Message(m)
                        if m.kind == *kind && m.channel == channel.as_bytes())
                };
                let got = r.events.iter().rposition(of_stream);
                let is_last = got.is_some_and(|i| {
                    matches!(&r.events[i], PubSubEvent::Message(m) if number(&m.payload) == Some(last))
                });
                // A Lag buffer may have skipped it, and said so after the last it kept.
                let skipped = r.overflow == Overflow::Lag
                    && r.events[got.map_or(0, |i| i + 1)..]
                        .iter()
                        .any(|e| matches!(e, PubSubEvent::Lagged { .. }));
                if !is_last && !skipped {
                    return Err(format!(
                        "{settings}: {} ({:?}) never got message {last} of {channel} after \
                         the faults stopped: {:?}",
                        r.id, r.subs, r.events
                    ));
                }
            }
        }
    }
    report.steps = sim.steps();
    report.virtual_time = sim.elapsed();
    report.pubsub = tally;
    Ok(report)
}

/// Reads every open reader until nothing came for `quiet_for` of virtual time.
fn read_until_quiet<S: Servers>(
    sim: &mut Sim<S>,
    readers: &mut [Reader],
    tick: Duration,
    quiet_for: Duration,
) {
    let mut quiet = Duration::ZERO;
    while quiet < quiet_for {
        let mut any = false;
        for r in readers.iter_mut().filter(|r| !r.closed) {
            while let Some(e) = sim.poll_pubsub(r.id) {
                r.events.push(e);
                any = true;
            }
        }
        quiet = if any { Duration::ZERO } else { quiet + tick };
        sim.run_for(tick);
    }
}

fn number(payload: &[u8]) -> Option<u64> {
    std::str::from_utf8(payload).ok()?.parse().ok()
}

/// For each stream, messages arrive in publish order without duplicates, and any published
/// message missing between two received ones (or after the subscription was confirmed) is
/// excused by a `Resubscribed` event covering it or a `Lagged` event in between.
fn check_reader(
    r: &Reader,
    published: &BTreeMap<&'static str, Vec<(u64, Duration)>>,
    tally: &mut BTreeMap<&'static str, u64>,
) -> Result<(), String> {
    // Per stream: its last message, and how many Lagged events and Resubscribed events of
    // its subscription had come by then.
    let mut last: BTreeMap<Stream, (u64, u64, u64)> = BTreeMap::new();
    let mut lagged = 0u64;
    let mut resubscribed: BTreeMap<Sub, u64> = BTreeMap::new();
    for (i, event) in r.events.iter().enumerate() {
        match event {
            PubSubEvent::Message(m) => {
                *tally.entry("delivered").or_default() += 1;
                let channel = std::str::from_utf8(&m.channel).unwrap_or_default();
                let sub: Sub = match m.kind {
                    Pattern => (
                        Pattern,
                        String::from_utf8_lossy(m.pattern.as_deref().unwrap_or_default())
                            .into_owned(),
                    ),
                    kind => (kind, channel.to_owned()),
                };
                if !r.subs.contains(&sub) {
                    return Err(format!(
                        "{}: event {i} {m:?} is for {sub:?}, which it never subscribed to",
                        r.id
                    ));
                }
                let n = number(&m.payload).ok_or("a payload that is not a number")?;
                let stream: Stream = (m.kind, m.channel.clone());
                let resubs = resubscribed.get(&sub).copied().unwrap_or(0);
                let (floor, told) = match last.get(&stream) {
                    Some(&(prev, _, _)) if n <= prev => {
                        return Err(format!(
                            "{}: message {n} of {channel} ({:?}) after {prev}: out of order or \
                             a duplicate (event {i})",
                            r.id, m.kind
                        ));
                    }
                    Some(&(prev, lag_at, resub_at)) => (prev, lagged > lag_at || resubs > resub_at),
                    // Before the first one: what was published before the confirmation
                    // (all of it when the request was not confirmed).
                    None => {
                        let floor = match r.confirmed.get(&sub) {
                            Some(&at) => published
                                .get(channel)
                                .and_then(|p| p.iter().rev().find(|&&(_, t)| t <= at))
                                .map_or(0, |&(x, _)| x),
                            None => n.saturating_sub(1),
                        };
                        (floor, lagged > 0 || resubs > 0)
                    }
                };
                let missed: Vec<u64> = published
                    .get(channel)
                    .map(|p| {
                        p.iter()
                            .map(|&(x, _)| x)
                            .filter(|&x| x > floor && x < n)
                            .collect()
                    })
                    .unwrap_or_default();
                if !missed.is_empty() {
                    *tally.entry("missed (told)").or_default() += missed.len() as u64;
                    if !told {
                        return Err(format!(
                            "{}: a silent gap in {channel} ({:?}): got {n} after {floor}, \
                             missing {missed:?}, with no Resubscribed or Lagged before it \
                             (event {i} of {:?})",
                            r.id, m.kind, r.events
                        ));
                    }
                }
                last.insert(stream, (n, lagged, resubs));
            }
            PubSubEvent::Lagged { skipped } => {
                *tally.entry("Lagged events").or_default() += 1;
                *tally.entry("skipped (Lagged)").or_default() += skipped;
                lagged += 1;
            }
            PubSubEvent::Resubscribed { kind, channels, .. } => {
                *tally.entry("Resubscribed events").or_default() += 1;
                for c in channels {
                    let sub = (*kind, String::from_utf8_lossy(c).into_owned());
                    *resubscribed.entry(sub).or_default() += 1;
                }
            }
            PubSubEvent::Dropped { .. } => {
                return Err(format!("{}: {event:?}, with no ACL in the run", r.id));
            }
        }
    }
    Ok(())
}
