//! The Sentinel seed: a random [`FakeSentinels`] whose primary fails over (and whose nodes
//! and sentinels crash and come back) under a workload, a client in Sentinel mode, driven
//! and checked like the standalone seed's.

use std::collections::BTreeMap;
use std::time::Duration;

use super::check::{Rules, Windows};
use super::cluster::shuffle;
use super::ops::generate_ops;
use super::{
    Op, Run, SeedReport, SeedScenario, base_rules, random_client_settings, random_load,
    random_read_from, run_scenario, simulation,
};
use crate::config::{Config, CredentialSource, Credentials};
use crate::sim::{
    Failover, FakeSentinels, Faults, Happening, NodeConfig, SentinelConfig, Sim, SimRng,
    sentinel_addr,
};

pub(super) const SERVICE: &str = "sim-service";

/// Runs the Sentinel workload of `seed` and checks its properties.
///
/// # Errors
///
/// A description of the first property that failed, with the seed's settings.
pub fn run_sentinel_seed(seed: u64) -> Result<SeedReport, String> {
    run_sentinel_seed_traced(seed, false)
}

/// [`run_sentinel_seed`], printing every step of the simulation to stderr when `trace` is
/// on.
///
/// # Errors
///
/// As [`run_sentinel_seed`].
pub fn run_sentinel_seed_traced(seed: u64, trace: bool) -> Result<SeedReport, String> {
    run_scenario::<SentinelScenario>("sentinel seed", seed, trace)
}

/// Something that happens to the servers over a stretch of the run, from `start` to `end`
/// (relative to the start of the workload): the happenings it is made of, and when.
#[derive(Clone, Debug)]
pub(super) struct Episode {
    pub(super) start: Duration,
    pub(super) end: Duration,
    pub(super) steps: Vec<(Duration, Happening)>,
}

/// Everything a Sentinel seed decides up front.
struct SentinelScenario {
    seed: u64,
    config: Config,
    servers: SentinelConfig,
    faults: Faults,
    /// No network faults: only the episodes, whose crashes are silent.
    calm: bool,
    ops: Vec<Op>,
    /// A sentinel that names one data node whatever happens: (sentinel, node).
    liar: Option<(u16, u16)>,
    episodes: Vec<Episode>,
    quit_at: Option<Duration>,
}

impl SeedScenario for SentinelScenario {
    fn generate(seed: u64) -> Self {
        let mut rng = SimRng::new(seed ^ 0x5e47_1e1a);
        let calm = rng.chance(0.3);
        let replicas = *rng.pick(&[0, 1, 1, 2, 2]);
        let sentinels = rng.between(1, 5) as u16;
        let mut servers = SentinelConfig::new(SERVICE, replicas, sentinels);
        servers.seed = rng.next_u64();
        servers.down_after = rng.millis(50, 1000);
        let mut node = NodeConfig {
            resp3: rng.chance(0.95),
            setinfo: rng.chance(0.7),
            ..NodeConfig::default()
        };
        let dedicated = rng.chance(0.2);
        let mut credentials = None;
        if rng.chance(0.3) {
            let user = rng.chance(0.5).then_some("app");
            node = match user {
                Some(user) => node.with_user(user, "pw"),
                None => node.with_password("pw"),
            };
            credentials = Some(CredentialSource::Static(Credentials::new(user, "pw")));
        }
        servers.node = node;
        let sentinel_password = rng.chance(0.3);
        if sentinel_password {
            servers = servers.with_sentinel_password("sentinel-pw");
        }
        // The client knows one to all of the sentinels, the first of which never crashes
        // nor lies, so that it can always find the primary.
        let mut known: Vec<u16> = (0..sentinels).collect();
        shuffle(&mut rng, &mut known);
        known.truncate(rng.between(1, u64::from(sentinels)) as usize);
        let protected = known[0];
        let mut config = Config::sentinel(SERVICE, known.iter().map(|&i| sentinel_addr(i)));
        random_client_settings(&mut rng, seed, &mut config, Some(0.7), (4, 24));
        config.credentials = credentials;
        let settings = config.sentinel.as_mut().expect("Sentinel settings");
        if sentinel_password {
            let credentials = Credentials::new(None, "sentinel-pw");
            settings.credentials = Some(CredentialSource::Static(credentials));
        }
        settings.timeout = rng.millis(20, 500);
        settings.read_from = random_read_from(&mut rng);
        if rng.chance(0.5) {
            settings.refresh_interval = rng.millis(200, 5000);
        }
        let (faults, count) = random_load(&mut rng, calm, &config, 0.05);
        let mut ops = generate_ops(&mut rng, count as usize, calm, dedicated);
        // Spread the requests over seconds, so that they meet the failovers.
        let stretch = rng.between(1, 30) as u32;
        for op in &mut ops {
            op.at *= stretch;
        }
        let horizon = ops.last().map_or(Duration::ZERO, |op| op.at);
        let liar = (sentinels > 1 && rng.chance(0.2)).then(|| {
            let others: Vec<u16> = (0..sentinels).filter(|&i| i != protected).collect();
            (
                *rng.pick(&others),
                rng.below(u64::from(replicas) + 1) as u16,
            )
        });
        let episodes = plan_episodes(&mut rng, &servers, protected, horizon, calm);
        let quit_at = rng
            .chance(0.05)
            .then(|| Duration::from_micros(rng.below(horizon.as_micros() as u64 + 1)));
        Self {
            seed,
            config,
            servers,
            faults,
            calm,
            ops,
            liar,
            episodes,
            quit_at,
        }
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let settings = c.sentinel.as_ref().expect("Sentinel settings");
        format!(
            "{} ops, {}, {} replicas, {} sentinels (client knows {:?}), liar {:?}, read from \
             {:?}, sentinel timeout {:?}, refresh {:?}, down after {:?}, replay {}, {:?} db \
             {}, auth {}, sentinel auth {}, resp3 {}, setinfo {}, timeout {:?}, connect {:?}, \
             {:?}, retries {}, max_pending {}, episodes {:?}, quit at {:?}, faults {:?}",
            self.ops.len(),
            if self.calm { "calm" } else { "faulty" },
            self.servers.replicas,
            self.servers.sentinels,
            settings
                .sentinels
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            self.liar,
            settings.read_from,
            settings.timeout,
            settings.refresh_interval,
            self.servers.down_after,
            c.at_least_once_replay,
            c.protocol,
            c.db,
            c.credentials.is_some(),
            settings.credentials.is_some(),
            self.servers.node.resp3,
            self.servers.node.setinfo,
            c.timeouts.command,
            c.timeouts.connect,
            c.reconnect,
            c.max_retries,
            c.max_pending,
            self.episodes,
            self.quit_at,
            self.faults,
        )
    }

    fn run(self, trace: bool) -> Result<SeedReport, String> {
        let config = &self.config;
        let settings = config.sentinel.as_ref().expect("Sentinel settings");
        let rules = Rules {
            sentinel: true,
            ..base_rules(config, self.calm)
        };
        let sentinels = FakeSentinels::new(self.servers.clone());
        let mut sim = simulation(config, sentinels, &self.faults, self.seed, trace);
        let start = sim.now();
        let servers = sim.servers_mut();
        if let Some((sentinel, names)) = self.liar {
            servers.apply(Happening::Lie { sentinel, names }, start);
        }
        for episode in &self.episodes {
            for &(at, what) in &episode.steps {
                servers.schedule(start + at, what);
            }
        }
        let settle = Sim::run_until_quiet_within;
        let mut run = Run::start(sim, settle, &self.ops, config.max_pending, self.quit_at)?;
        // An episode disturbs callers until the client could have found the primary again:
        // a request that timed out on a silent host, a dial not answered, a round of
        // sentinels each taking their whole timeout (a `ROLE` check twice that), and a
        // backoff.
        let sentinels = u32::from(self.servers.sentinels);
        let slack = config.timeouts.command * 2
            + config.timeouts.connect
            + config.reconnect.max_delay
            + settings.timeout * 2 * (sentinels + 2);
        let mut windows = Windows::default();
        for episode in &self.episodes {
            windows
                .disrupted
                .push((start + episode.start, start + episode.end + slack));
        }
        if self.liar.is_some() {
            // A liar costs a discovery a backoff whenever it is asked, which any lost
            // connection may lead to: on a calm network, only at the start.
            windows.disrupted.push((start, start + slack));
        }
        let tally = run.check(&self.ops, rules, &windows, config.db as usize)?;
        run.wind_down(true)?;
        Ok(run.report(self.seed, rules, tally, BTreeMap::new()))
    }
}

/// Up to three episodes, one after another over the workload: failovers (the primary
/// crashed, or alive and demoted, with or without its clients' connections closed), a
/// sentinel (never `protected`) down for a while, a data node down for a while, a replica
/// the sentinels cannot reach. Everything that goes down comes back.
pub(super) fn plan_episodes(
    rng: &mut SimRng,
    servers: &SentinelConfig,
    protected: u16,
    horizon: Duration,
    calm: bool,
) -> Vec<Episode> {
    let mut episodes = Vec::new();
    let count = if rng.chance(0.1) {
        0
    } else {
        rng.between(1, 3)
    };
    let mut at = Duration::from_micros(rng.below(horizon.as_micros() as u64 / 2 + 1));
    for _ in 0..count {
        let kind = rng.below(100);
        let episode = if kind < 55 && servers.replicas > 0 {
            let crash = rng.chance(0.6).then(|| calm || rng.chance(0.5));
            let mut failover = if crash.is_some() {
                Failover::crash(crash == Some(true))
            } else {
                Failover::manual()
            };
            failover.detection = rng.millis(20, 1500);
            failover.switch_within = rng.millis(0, 300);
            failover.kill_clients = crash.is_some() || rng.chance(0.7);
            failover.restart_after =
                crash.map(|_| failover.detection + failover.switch_within + rng.millis(0, 2000));
            let end = at
                + failover
                    .restart_after
                    .unwrap_or(failover.detection + failover.switch_within);
            Episode {
                start: at,
                end,
                steps: vec![(at, Happening::Failover(failover))],
            }
        } else if kind < 70 && servers.sentinels > 1 {
            let others: Vec<u16> = (0..servers.sentinels).filter(|&i| i != protected).collect();
            let sentinel = *rng.pick(&others);
            let silent = calm || rng.chance(0.5);
            let end = at + rng.millis(50, 3000);
            Episode {
                start: at,
                end,
                steps: vec![
                    (at, Happening::CrashSentinel { sentinel, silent }),
                    (end, Happening::RestartSentinel { sentinel }),
                ],
            }
        } else if kind < 85 {
            let node = rng.below(u64::from(servers.replicas) + 1) as u16;
            let silent = calm || rng.chance(0.5);
            let end = at + rng.millis(50, 2000);
            Episode {
                start: at,
                end,
                steps: vec![
                    (at, Happening::Crash { node, silent }),
                    (end, Happening::Restart { node }),
                ],
            }
        } else {
            let node = rng.below(u64::from(servers.replicas) + 1) as u16;
            let end = at + rng.millis(50, 3000);
            let flag = |down| Happening::Flag {
                sentinel: None,
                node,
                down,
            };
            Episode {
                start: at,
                end,
                steps: vec![(at, flag(true)), (end, flag(false))],
            }
        };
        at = episode.end + rng.millis(0, 1000);
        episodes.push(episode);
    }
    episodes
}
