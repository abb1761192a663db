//! The cluster seed: a random [`FakeCluster`] under a [`Chaos`] schedule, a client in cluster
//! mode, and a workload whose commands span slots, driven and checked like the standalone
//! seed's.

use std::time::Duration;

use super::check::{Rules, Windows};
use super::ops::{Item, Sub};
use super::{
    Op, Run, SeedReport, SeedScenario, Shape, base_rules, random_client_settings, random_load,
    random_read_from, run_scenario, simulation,
};
use crate::config::{Config, CredentialSource, Credentials, ReadFrom};
use crate::sim::{
    Chaos, ChaosTiming, ClusterConfig, EpisodeKind, FakeCluster, Faults, NodeConfig, Sim, SimRng,
    node_addr,
};

/// Runs the cluster workload of `seed` and checks its properties.
///
/// # Errors
///
/// A description of the first property that failed, with the seed's settings.
pub fn run_cluster_seed(seed: u64) -> Result<SeedReport, String> {
    run_cluster_seed_traced(seed, false)
}

/// [`run_cluster_seed`], printing every step of the simulation to stderr when `trace` is on.
///
/// # Errors
///
/// As [`run_cluster_seed`].
pub fn run_cluster_seed_traced(seed: u64, trace: bool) -> Result<SeedReport, String> {
    run_scenario::<ClusterScenario>("cluster seed", seed, trace)
}

/// Everything a cluster seed decides up front.
struct ClusterScenario {
    seed: u64,
    config: Config,
    cluster: ClusterConfig,
    faults: Faults,
    /// No network faults, no restarts: only the chaos, whose failovers leave silent hosts.
    calm: bool,
    ops: Vec<Op>,
    chaos: Option<Chaos>,
    /// (node, when, how long it stays down).
    restarts: Vec<(u16, Duration, Duration)>,
    quit_at: Option<Duration>,
}

impl SeedScenario for ClusterScenario {
    fn generate(seed: u64) -> Self {
        let mut rng = SimRng::new(seed ^ 0x00c1_0573_7e40);
        let calm = rng.chance(0.3);
        let shards = *rng.pick(&[1, 2, 3, 3, 3, 4]);
        let replicas = *rng.pick(&[0, 1, 1, 2]);
        let mut node = NodeConfig {
            resp3: rng.chance(0.95),
            setinfo: rng.chance(0.7),
            cluster_shards: rng.chance(0.85),
            ..NodeConfig::default()
        };
        let mut credentials = None;
        if rng.chance(0.3) {
            let user = rng.chance(0.5).then_some("app");
            node = match user {
                Some(user) => node.with_user(user, "pw"),
                None => node.with_password("pw"),
            };
            credentials = Some(CredentialSource::Static(Credentials::new(user, "pw")));
        }
        let mut cluster = ClusterConfig::new(shards, replicas);
        cluster.node = node;
        cluster.full_coverage = rng.chance(0.7);
        // Start from one to three of the nodes, in any order.
        let nodes = shards * (1 + replicas);
        let mut seeds: Vec<u16> = (0..nodes).collect();
        shuffle(&mut rng, &mut seeds);
        seeds.truncate(rng.between(1, 3) as usize);
        let mut config = Config::cluster(seeds.iter().map(|&n| node_addr(n)));
        random_client_settings(&mut rng, seed, &mut config, None, (4, 24));
        config.credentials = credentials;
        let settings = config.cluster.as_mut().expect("a cluster configuration");
        settings.read_from = random_read_from(&mut rng);
        settings.min_refresh_interval = rng.millis(5, 200);
        if rng.chance(0.3) {
            settings.refresh_interval = rng.millis(200, 5000);
        }
        let (faults, count) = random_load(&mut rng, calm, &config, 0.03);
        let ops = generate_cluster_ops(&mut rng, count as usize, calm);
        let horizon = ops.last().map_or(Duration::ZERO, |op| op.at);
        let mut hot: Vec<u16> = ops
            .iter()
            .flat_map(|op| op.subs.iter().flat_map(Sub::keys))
            .map(|key| resp_core::slot(key.as_bytes()))
            .collect();
        hot.sort_unstable();
        hot.dedup();
        // The slots of the hash-tag groups, where several keys of one command live, for half
        // the migrations.
        let others = hot.len().div_ceil(GROUPS as usize);
        for group in 0..GROUPS {
            let slot = resp_core::slot(group_tag(group).as_bytes());
            hot.extend(std::iter::repeat_n(slot, others));
        }
        let chaos = rng.chance(0.9).then(|| {
            let timing = ChaosTiming {
                // A crash on a calm network leaves a silent host: requests to it time out,
                // none is told its connection broke.
                silent_crash: if calm { 1.0 } else { 0.5 },
                // Slow migrations keep slots half-moved for longer.
                key_move_ms: if rng.chance(0.5) { (0, 2) } else { (2, 20) },
                ..ChaosTiming::default()
            };
            Chaos::random(rng.next_u64(), horizon, 4, timing)
                .with_hot_slots(hot)
                .with_protected(vec![seeds[0]])
        });
        let mut restarts = Vec::new();
        if !calm && rng.chance(0.1) {
            let at = Duration::from_micros(rng.below(horizon.as_micros() as u64 + 1));
            restarts.push((rng.below(u64::from(nodes)) as u16, at, rng.millis(0, 300)));
        }
        let quit_at = rng
            .chance(0.05)
            .then(|| Duration::from_micros(rng.below(horizon.as_micros() as u64 + 1)));
        Self {
            seed,
            config,
            cluster,
            faults,
            calm,
            ops,
            chaos,
            restarts,
            quit_at,
        }
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let settings = c.cluster.as_ref().expect("a cluster configuration");
        format!(
            "{} ops, {}, {} shards x {} replicas, full coverage {}, seeds {:?}, read from {:?}, \
             replay {}, {:?}, auth {}, resp3 {}, setinfo {}, shards {}, timeout {:?}, \
             connect {:?}, {:?}, retries {}, max_pending {}, min refresh {:?}, refresh {:?}, \
             chaos {:?}, restarts {:?}, quit at {:?}, faults {:?}",
            self.ops.len(),
            if self.calm { "calm" } else { "faulty" },
            self.cluster.shards,
            self.cluster.replicas,
            self.cluster.full_coverage,
            c.seed_nodes().map(ToString::to_string).collect::<Vec<_>>(),
            settings.read_from,
            c.at_least_once_replay,
            c.protocol,
            c.credentials.is_some(),
            self.cluster.node.resp3,
            self.cluster.node.setinfo,
            self.cluster.node.cluster_shards,
            c.timeouts.command,
            c.timeouts.connect,
            c.reconnect,
            c.max_retries,
            c.max_pending,
            settings.min_refresh_interval,
            settings.refresh_interval,
            self.chaos
                .as_ref()
                .map(|c| c.actions().cloned().collect::<Vec<_>>()),
            self.restarts,
            self.quit_at,
            self.faults,
        )
    }

    fn run(self, trace: bool) -> Result<SeedReport, String> {
        let config = &self.config;
        let settings = config.cluster.as_ref().expect("a cluster configuration");
        let rules = Rules {
            split: true,
            seeds: config.seed_nodes().count() as u32,
            ..base_rules(config, self.calm)
        };
        let cluster = FakeCluster::new(self.cluster.clone());
        let mut sim = simulation(config, cluster, &self.faults, self.seed, trace);
        let start = sim.now();
        if let Some(chaos) = &self.chaos {
            sim.cluster_mut().start_chaos(chaos.clone(), start);
        }
        for &(node, at, down_for) in &self.restarts {
            sim.schedule_restart_of(node, at, down_for);
        }
        let settle = Sim::run_until_quiet_within;
        let mut run = Run::start(sim, settle, &self.ops, config.max_pending, self.quit_at)?;
        // A crash disturbs callers until the client could have found the new primary: the
        // cluster's own delays, then a request that timed out on the silent host, a dial
        // that was not answered, a topology read and a reconnect backoff.
        let slack = config.timeouts.command * 2
            + config.timeouts.connect
            + settings.min_refresh_interval
            + config.reconnect.max_delay;
        let mut windows = Windows {
            replica_reads: settings.read_from != ReadFrom::Primary,
            ..Windows::default()
        };
        let end_of_time = run.sim.now();
        for episode in run.sim.cluster().episodes() {
            let ended = episode.ended.unwrap_or(end_of_time);
            match &episode.kind {
                EpisodeKind::Failover { .. } => {
                    windows.disrupted.push((episode.started, ended + slack));
                }
                EpisodeKind::Migration { slots, .. } => {
                    windows
                        .migrations
                        .push((slots.clone(), episode.started, ended));
                }
                _ => {}
            }
        }
        for &(_, at, down_for) in &self.restarts {
            windows
                .disrupted
                .push((start + at, start + at + down_for + slack));
        }
        let tally = run.check(&self.ops, rules, &windows, 0)?;
        let now = run.sim.now();
        run.sim.cluster().check_placement(now)?;
        run.wind_down(false)?;
        if !run.sim.cluster().chaos_done() {
            return Err("the chaos did not finish".into());
        }
        let redirects = run.sim.cluster().redirects();
        Ok(run.report(self.seed, rules, tally, redirects))
    }
}

/// Fisher-Yates, from the seed's generator.
pub(super) fn shuffle<T>(rng: &mut SimRng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Hash-tag groups: keys named `{g<n>}...` share one slot, so that commands with several keys
/// in one slot meet migrations of it (`-TRYAGAIN`).
const GROUPS: u64 = 3;

/// The hash tag of group `n`.
fn group_tag(n: u64) -> String {
    format!("{{g{n}}}")
}

/// `key`, or for three keys in ten, `key` in a random hash-tag group.
fn grouped(rng: &mut SimRng, key: String) -> String {
    if rng.chance(0.3) {
        format!("{}{key}", group_tag(rng.below(GROUPS)))
    } else {
        key
    }
}

/// The requests of a cluster seed: single commands, pipelines whose commands span slots,
/// transactions on one slot (every key shares the hash tag `{t<i>}`, or a group's), and
/// multi-key commands (`MGET`, `EXISTS`, `DEL`) across slots or inside a group's slot, some
/// concurrent, some with short timeouts or cancelled.
fn generate_cluster_ops(rng: &mut SimRng, count: usize, calm: bool) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::with_capacity(count);
    // Earlier single SETs: readable ones, and ones a DEL may remove.
    let mut sets: Vec<(usize, usize)> = Vec::new();
    let mut doomed: Vec<(usize, usize)> = Vec::new();
    let mut at = Duration::ZERO;
    for i in 0..count {
        if !rng.chance(0.4) {
            at += rng.millis(0, 8);
        }
        let shape = match rng.below(100) {
            0..60 => Shape::Single,
            60..85 => Shape::Pipeline,
            _ => Shape::Transaction,
        };
        let len = match shape {
            Shape::Single => 1,
            Shape::Pipeline => rng.between(2, 10) as usize,
            Shape::Transaction => rng.between(1, 5) as usize,
        };
        let mut subs = Vec::with_capacity(len);
        let mut reads = Vec::with_capacity(len);
        let tag = if rng.chance(0.3) {
            group_tag(rng.below(GROUPS))
        } else {
            format!("{{t{i}}}")
        };
        while subs.len() < len {
            let j = subs.len();
            let name = |what: &str| match shape {
                Shape::Transaction => format!("{tag}{what}:{i}.{j}"),
                _ => format!("{what}:{i}.{j}"),
            };
            let set = |rng: &mut SimRng, key: String, doomed: bool| Sub::Set {
                value: if rng.chance(0.02) {
                    format!("v{key}").repeat(4000)
                } else {
                    format!("v{key}")
                },
                key,
                nx: !doomed && rng.chance(0.2),
                ex: !doomed && rng.chance(0.2),
                doomed,
            };
            let mut read = None;
            let pick = if shape == Shape::Transaction {
                rng.below(8)
            } else {
                8 + rng.below(15)
            };
            let sub = match pick {
                // In a transaction: one slot, and pairs that depend on each other.
                0 | 1 => set(rng, name("k"), false),
                2 => Sub::Incr { key: name("c") },
                3 => Sub::Echo { text: name("e") },
                4 => Sub::GetMissing { key: name("m") },
                5 | 6 if len - j >= 2 => {
                    let key = name(if pick == 5 { "h" } else { "l" });
                    let (first, second) = if pick == 5 {
                        let (field, value) = ("f".to_string(), name("hv"));
                        (
                            Sub::Hset {
                                key: key.clone(),
                                field: field.clone(),
                                value: value.clone(),
                            },
                            Sub::Hget { key, field, value },
                        )
                    } else {
                        let items = [name("a"), name("b")];
                        (
                            Sub::Rpush {
                                key: key.clone(),
                                items: items.clone(),
                            },
                            Sub::Lrange { key, items },
                        )
                    };
                    subs.push(first);
                    reads.push(None);
                    second
                }
                5..=7 => Sub::Hset {
                    key: name("h"),
                    field: "f".into(),
                    value: name("hv"),
                },
                // Anywhere else: commands that do not depend on each other.
                8 | 9 if shape == Shape::Single && rng.chance(0.3) => {
                    let key = grouped(rng, name("d"));
                    set(rng, key, true)
                }
                8 | 9 => {
                    let key = grouped(rng, name("k"));
                    set(rng, key, false)
                }
                10 => Sub::Incr { key: name("c") },
                11 => Sub::Echo { text: name("e") },
                12 => Sub::GetMissing { key: name("m") },
                13 if rng.chance(0.5) => Sub::Ping,
                13 => Sub::Dbsize,
                14 | 15 if !sets.is_empty() => {
                    let (op, k) = *rng.pick(&sets);
                    let Sub::Set { key, value, .. } = &ops[op].subs[k] else {
                        unreachable!("`sets` lists SETs only")
                    };
                    read = Some((op, k));
                    Sub::Get {
                        key: key.clone(),
                        value: value.clone(),
                        acked: false,
                    }
                }
                16 => Sub::Mget {
                    items: items(rng, &ops, &sets, &name("m")),
                },
                17 => Sub::Exists {
                    items: items(rng, &ops, &sets, &name("m")),
                },
                18 if !doomed.is_empty() => {
                    // Keys of one group (one slot) for four DELs in ten, else any.
                    let group = rng.chance(0.4).then(|| group_tag(rng.below(GROUPS)));
                    let in_group = |(op, k): &(usize, usize)| {
                        group
                            .as_ref()
                            .is_none_or(|tag| ops[*op].subs[*k].keys()[0].starts_with(tag.as_str()))
                    };
                    let mut picked = Vec::new();
                    for _ in 0..rng.between(1, 3) {
                        let candidates: Vec<usize> = (0..doomed.len())
                            .filter(|&d| in_group(&doomed[d]))
                            .collect();
                        if candidates.is_empty() {
                            break;
                        }
                        let (op, k) = doomed.swap_remove(*rng.pick(&candidates));
                        let Sub::Set { key, value, .. } = &ops[op].subs[k] else {
                            unreachable!("`doomed` lists SETs only")
                        };
                        picked.push(Item {
                            key: key.clone(),
                            value: Some(value.clone()),
                            source: Some((op, k)),
                            acked: false,
                        });
                    }
                    if rng.chance(0.5) || picked.is_empty() {
                        let key = format!("{}{}", group.as_deref().unwrap_or(""), name("m"));
                        picked.push(missing(key));
                    }
                    shuffle(rng, &mut picked);
                    Sub::Del { items: picked }
                }
                19 => Sub::Eval {
                    n: rng.between(1, 4) as i64,
                },
                20 => Sub::EvalIncr { key: name("s") },
                21 => Sub::Rpush {
                    key: name("l"),
                    items: [name("a"), name("b")],
                },
                _ => Sub::Incr { key: name("c") },
            };
            subs.push(sub);
            reads.push(read);
        }
        if shape == Shape::Single {
            match subs[0] {
                Sub::Set { doomed: true, .. } => doomed.push((i, 0)),
                Sub::Set { nx: false, .. } => sets.push((i, 0)),
                _ => {}
            }
        }
        let timeout = (!calm && rng.chance(0.1)).then(|| rng.millis(1, 300));
        let cancel_after = rng.chance(0.05).then(|| rng.millis(0, 20));
        ops.push(Op {
            at,
            shape,
            subs,
            reads,
            timeout,
            cancel_after,
            pinned: false,
        });
    }
    ops
}

/// A key nobody writes.
fn missing(key: String) -> Item {
    Item {
        key,
        value: None,
        source: None,
        acked: false,
    }
}

/// Keys for `MGET`/`EXISTS`: one to four keys of earlier SETs (a key may come twice) and up
/// to two keys nobody writes, in random order, so in random slots; or, four times in ten, all
/// of one hash-tag group, so in one slot.
fn items(rng: &mut SimRng, ops: &[Op], sets: &[(usize, usize)], prefix: &str) -> Vec<Item> {
    let group = rng.chance(0.4).then(|| group_tag(rng.below(GROUPS)));
    let sets: Vec<(usize, usize)> = sets
        .iter()
        .copied()
        .filter(|&(op, k)| {
            group
                .as_ref()
                .is_none_or(|tag| ops[op].subs[k].keys()[0].starts_with(tag.as_str()))
        })
        .collect();
    let prefix = format!("{}{prefix}", group.as_deref().unwrap_or(""));
    let mut items = Vec::new();
    if !sets.is_empty() {
        for _ in 0..rng.between(1, 4) {
            let (op, k) = *rng.pick(&sets);
            let Sub::Set { key, value, .. } = &ops[op].subs[k] else {
                unreachable!("`sets` lists SETs only")
            };
            items.push(Item {
                key: key.clone(),
                value: Some(value.clone()),
                source: Some((op, k)),
                acked: false,
            });
        }
    }
    let missing_count = if items.is_empty() {
        rng.between(1, 2)
    } else {
        rng.below(3)
    };
    for x in 0..missing_count {
        items.push(missing(format!("{prefix}.{x}")));
    }
    shuffle(rng, &mut items);
    items
}
