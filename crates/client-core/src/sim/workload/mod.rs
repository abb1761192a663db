//! The random workload of one seed: what is decided up front ([`Scenario`]), how it is
//! driven through a [`Sim`], and (in `check`) the properties its run must have.

mod check;
mod cluster;
mod ops;
mod pubsub;
mod sentinel;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use resp_core::Frame;

use self::check::{Rules, Windows};
pub use self::cluster::{run_cluster_seed, run_cluster_seed_traced};
use self::ops::{Sub, generate_ops};
pub use self::pubsub::{
    run_cluster_pubsub_seed, run_cluster_pubsub_seed_traced, run_pubsub_seed,
    run_pubsub_seed_traced, run_sentinel_pubsub_seed, run_sentinel_pubsub_seed_traced,
};
pub use self::sentinel::{run_sentinel_seed, run_sentinel_seed_traced};
use super::SimRng;
use super::node::{FakeNode, NodeConfig};
use super::{Faults, Servers, Sim};
use crate::command::cmd;
use crate::config::{Config, CredentialSource, Credentials, Protocol, ReadFrom, ReconnectPolicy};
use crate::error::{RequestError, SubmitError};
use crate::event::{ConnId, Reply, RequestId};
use crate::request::Request;

/// What one seed's run did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Requests submitted (refused ones not counted).
    pub requests: usize,
    /// Requests that completed with a reply.
    pub succeeded: usize,
    /// Requests that completed with an error.
    pub failed: usize,
    /// Scheduler steps.
    pub steps: u64,
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// Whether `Config::at_least_once_replay` was on.
    pub replay: bool,
    /// Whether the run had no faults at all.
    pub calm: bool,
    /// How many requests failed with each kind of error (`"Timeout"`, `"MayHaveExecuted"`,
    /// ...), and how many `submit` refused (`"Backpressure"`, `"Closed"`).
    pub errors: BTreeMap<&'static str, usize>,
    /// In a cluster, how many replies of each cluster kind the nodes sent (`"MOVED"`,
    /// `"ASK"`, `"TRYAGAIN"`, `"CLUSTERDOWN"`, `"CROSSSLOT"`): what the run exercised.
    pub redirects: BTreeMap<&'static str, usize>,
    /// In the pub/sub sweep: messages published, delivered, missed with the subscriber
    /// told, and the `Lagged` and `Resubscribed` events.
    pub pubsub: BTreeMap<&'static str, u64>,
}

impl SeedReport {
    /// A report of nothing yet.
    fn empty(seed: u64, calm: bool) -> Self {
        Self {
            seed,
            requests: 0,
            succeeded: 0,
            failed: 0,
            steps: 0,
            virtual_time: Duration::ZERO,
            replay: false,
            calm,
            errors: BTreeMap::new(),
            redirects: BTreeMap::new(),
            pubsub: BTreeMap::new(),
        }
    }
}

/// Runs the workload of `seed` and checks its properties.
///
/// # Errors
///
/// A description of the first property that failed, with the seed's settings.
pub fn run_seed(seed: u64) -> Result<SeedReport, String> {
    run_seed_traced(seed, false)
}

/// [`run_seed`], printing every step of the simulation to stderr when `trace` is on.
///
/// # Errors
///
/// As [`run_seed`].
pub fn run_seed_traced(seed: u64, trace: bool) -> Result<SeedReport, String> {
    run_scenario::<Scenario>("seed", seed, trace)
}

/// What a kind of seed decides up front, and how its run goes.
trait SeedScenario: Sized {
    /// Everything the seed decides, from the seed alone.
    fn generate(seed: u64) -> Self;
    /// The decisions, for a failure's message and a trace.
    fn summary(&self) -> String;
    /// Runs the workload and checks its properties.
    fn run(self, trace: bool) -> Result<SeedReport, String>;
}

/// Generates the scenario of `seed` and runs it; a failure names the settings. With `trace`,
/// `label` and the settings are printed first.
fn run_scenario<T: SeedScenario>(
    label: &str,
    seed: u64,
    trace: bool,
) -> Result<SeedReport, String> {
    let scenario = T::generate(seed);
    let summary = scenario.summary();
    if trace {
        eprintln!("{label} {seed}: {summary}");
    }
    scenario
        .run(trace)
        .map_err(|e| format!("{e}\n  settings: {summary}"))
}

/// Draws the first client settings of a seed, in the order every kind of seed draws them: the
/// client's own seed, the protocol, the database when `db_zero` (the chance of database 0)
/// is given, and now and then a client name.
fn random_client_identity(rng: &mut SimRng, seed: u64, config: &mut Config, db_zero: Option<f64>) {
    config.seed = rng.next_u64();
    config.protocol = if rng.chance(0.7) {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    if let Some(db_zero) = db_zero {
        config.db = if rng.chance(db_zero) {
            0
        } else {
            rng.between(1, 15) as u32
        };
    }
    if rng.chance(0.3) {
        config.client_name = Some(format!("sim-{seed}"));
    }
}

/// Draws the rest of the client settings every kind of seed shares, in this order: the
/// timeouts, the reconnect policy, replay, retries, and now and then a small `max_pending`
/// between the bounds of `tight`.
fn random_client_limits(rng: &mut SimRng, config: &mut Config, tight: (u64, u64)) {
    config.timeouts.command = rng.millis(200, 1500);
    config.timeouts.connect = rng.millis(50, 500);
    config.reconnect = ReconnectPolicy {
        base_delay: rng.millis(1, 50),
        max_delay: rng.millis(50, 500),
        max_attempts: if rng.chance(0.2) {
            None
        } else {
            Some(rng.between(1, 8) as u32)
        },
    };
    config.at_least_once_replay = rng.chance(0.3);
    config.max_retries = rng.between(0, 4) as u32;
    if rng.chance(0.05) {
        config.max_pending = rng.between(tight.0, tight.1) as usize;
    }
}

/// Where a client in cluster or Sentinel mode reads: mostly from primaries.
fn random_read_from(rng: &mut SimRng) -> ReadFrom {
    match rng.below(100) {
        0..60 => ReadFrom::Primary,
        60..85 => ReadFrom::PreferReplica,
        _ => ReadFrom::RoundRobinReplicas,
    }
}

/// The network's faults (none but latency when `calm`), then how many requests: 15 to 60,
/// or with a chance of `big`, 100 to 200.
fn random_load(rng: &mut SimRng, calm: bool, config: &Config, big: f64) -> (Faults, u64) {
    let faults = if calm {
        Faults::calm(rng)
    } else {
        Faults::random(rng, config.timeouts.command)
    };
    let count = if rng.chance(big) {
        rng.between(100, 200)
    } else {
        rng.between(15, 60)
    };
    (faults, count)
}

/// [`random_client_identity`] then [`random_client_limits`], for the seeds that draw nothing
/// in between.
fn random_client_settings(
    rng: &mut SimRng,
    seed: u64,
    config: &mut Config,
    db_zero: Option<f64>,
    tight: (u64, u64),
) {
    random_client_identity(rng, seed, config, db_zero);
    random_client_limits(rng, config, tight);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Single,
    Pipeline,
    Transaction,
}

/// One request of the workload, before submission.
#[derive(Debug)]
struct Op {
    at: Duration,
    shape: Shape,
    subs: Vec<Sub>,
    /// Indexes of earlier `SET`s this request reads: (op, sub) for each `Sub::Get`.
    reads: Vec<Option<(usize, usize)>>,
    timeout: Option<Duration>,
    cancel_after: Option<Duration>,
    /// Sent on a dedicated connection.
    pinned: bool,
}

/// What happened to an op.
#[derive(Debug, Default)]
struct Outcome {
    id: Option<RequestId>,
    submitted_at: Option<Instant>,
    refused: Option<SubmitError>,
    retry_safe: bool,
    /// Some of its commands may be sent again (a cluster sends a pipeline's parts for
    /// different nodes as requests of their own, each retried on its own terms).
    part_retry_safe: bool,
    pinned: bool,
    cancelled_at: Option<Instant>,
    result: Option<(Instant, Result<Reply, RequestError>)>,
}

/// Everything a seed decides up front.
struct Scenario {
    seed: u64,
    config: Config,
    node: NodeConfig,
    faults: Faults,
    calm: bool,
    ops: Vec<Op>,
    /// (when, how long the server stays down).
    restarts: Vec<(Duration, Duration)>,
    /// When the client is told to quit, if before the end.
    quit_at: Option<Duration>,
}

impl SeedScenario for Scenario {
    fn generate(seed: u64) -> Self {
        let mut rng = SimRng::new(seed);
        let calm = rng.chance(0.1);
        let mut config = Config::new("sim-node", 6379);
        random_client_identity(&mut rng, seed, &mut config, Some(0.5));
        let mut node = NodeConfig {
            hello: rng.chance(0.85),
            resp3: rng.chance(0.9),
            setinfo: rng.chance(0.7),
            ..NodeConfig::default()
        };
        if rng.chance(0.4) {
            let user = rng.chance(0.5).then_some("app");
            node = match user {
                Some(user) => node.with_user(user, "pw"),
                None => node.with_password("pw"),
            };
            let credentials = Credentials::new(user, "pw");
            config.credentials = Some(CredentialSource::Static(credentials));
        }
        random_client_limits(&mut rng, &mut config, (2, 16));
        let (faults, count) = random_load(&mut rng, calm, &config, 0.03);
        let dedicated = rng.chance(0.2);
        let ops = generate_ops(&mut rng, count as usize, calm, dedicated);
        let horizon = ops.last().map_or(Duration::ZERO, |op| op.at);
        let random_time =
            |rng: &mut SimRng| Duration::from_micros(rng.below(horizon.as_micros() as u64 + 1));
        let mut restarts = Vec::new();
        if !calm && rng.chance(0.1) {
            restarts.push((random_time(&mut rng), rng.millis(0, 300)));
        }
        let quit_at = rng.chance(0.05).then(|| random_time(&mut rng));
        Self {
            seed,
            config,
            node,
            faults,
            calm,
            ops,
            restarts,
            quit_at,
        }
    }

    fn summary(&self) -> String {
        let c = &self.config;
        format!(
            "{} ops, {}, replay {}, {:?} db {}, auth {}, hello {}, resp3 {}, setinfo {}, \
             timeout {:?}, \
             connect {:?}, {:?}, retries {}, max_pending {}, restarts {:?}, quit at {:?}, \
             faults {:?}",
            self.ops.len(),
            if self.calm { "calm" } else { "faulty" },
            c.at_least_once_replay,
            c.protocol,
            c.db,
            c.credentials.is_some(),
            self.node.hello,
            self.node.resp3,
            self.node.setinfo,
            c.timeouts.command,
            c.timeouts.connect,
            c.reconnect,
            c.max_retries,
            c.max_pending,
            self.restarts,
            self.quit_at,
            self.faults,
        )
    }

    fn run(self, trace: bool) -> Result<SeedReport, String> {
        let config = &self.config;
        let rules = base_rules(config, self.calm);
        let node = FakeNode::new(self.node.clone());
        let mut sim = simulation(config, node, &self.faults, self.seed, trace);
        for &(at, down_for) in &self.restarts {
            sim.schedule_restart(at, down_for);
        }
        let settle = Sim::run_until_idle_within;
        let mut run = Run::start(sim, settle, &self.ops, config.max_pending, self.quit_at)?;
        let db = config.db as usize;
        let tally = run.check(&self.ops, rules, &Windows::default(), db)?;
        run.wind_down(false)?;
        Ok(run.report(self.seed, rules, tally, BTreeMap::new()))
    }
}

/// The rules of a run of `config` for a standalone client: the kinds of seeds that differ
/// say so.
fn base_rules(config: &Config, calm: bool) -> Rules {
    Rules {
        replay: config.at_least_once_replay,
        split: false,
        calm,
        quitted: None,
        max_attempts: config.reconnect.max_attempts,
        seeds: 0,
        sentinel: false,
        max_retries: config.max_retries,
        default_timeout: config.timeouts.command,
    }
}

/// A simulation of a client with `config` talking to `servers` through `faults`, its own
/// randomness derived from the seed's, tracing every step when `trace` is on.
fn simulation<S: Servers>(
    config: &Config,
    servers: S,
    faults: &Faults,
    seed: u64,
    trace: bool,
) -> Sim<S> {
    let mut sim = Sim::with_servers(config.clone(), servers, faults.clone(), seed ^ 0xface_feed);
    sim.set_trace(trace);
    sim
}

/// What a [`Run`] submits, cancels and quits, and when.
struct Plan<'a> {
    ops: &'a [Op],
    max_pending: usize,
    quit_at: Option<Duration>,
}

/// Runs a simulation until it settles, within a number of steps: whether it did.
type Settle<S> = fn(&mut Sim<S>, u64) -> bool;

/// A seed's run in progress.
struct Run<S: Servers> {
    sim: Sim<S>,
    /// How to wait for the run to settle: idle for a standalone client, quiet for a cluster
    /// client (which refreshes its topology forever).
    settle: Settle<S>,
    outcomes: Vec<Outcome>,
    /// The ops' commands, with `Sub::Get`'s expectations filled in at submission.
    subs: Vec<Vec<Sub>>,
    by_id: BTreeMap<RequestId, usize>,
    quitted: Option<Instant>,
    /// The dedicated connection pinned requests use, once opened.
    dedicated: Option<ConnId>,
}

/// What the agenda holds, in the order of equal times: submissions first (by index), then
/// cancellations, then the quit.
const SUBMIT: u8 = 0;
const CANCEL: u8 = 1;
const QUIT: u8 = 2;

impl<S: Servers> Run<S> {
    fn new(sim: Sim<S>, ops: &[Op], settle: Settle<S>) -> Self {
        Self {
            sim,
            settle,
            outcomes: ops.iter().map(|_| Outcome::default()).collect(),
            subs: ops.iter().map(|op| op.subs.clone()).collect(),
            by_id: BTreeMap::new(),
            quitted: None,
            dedicated: None,
        }
    }

    /// Runs `ops` through `sim` (at most `max_pending` at once, quitting at `quit_at`) until
    /// everything settled.
    fn start(
        sim: Sim<S>,
        settle: Settle<S>,
        ops: &[Op],
        max_pending: usize,
        quit_at: Option<Duration>,
    ) -> Result<Self, String> {
        let mut run = Self::new(sim, ops, settle);
        let plan = Plan {
            ops,
            max_pending,
            quit_at,
        };
        run.drive(&plan)?;
        Ok(run)
    }

    /// Checks the outcomes of `ops` under `rules` (with the run's quit) and `windows`, and
    /// their writes in database `db`.
    fn check(
        &mut self,
        ops: &[Op],
        rules: Rules,
        windows: &Windows,
        db: usize,
    ) -> Result<check::Tally, String> {
        let rules = Rules {
            quitted: self.quitted,
            ..rules
        };
        let tally = check::outcomes(ops, &self.subs, &self.outcomes, rules, windows)?;
        check::writes(
            &mut self.sim,
            db,
            ops,
            &self.subs,
            &self.outcomes,
            rules.replay,
        )?;
        Ok(tally)
    }

    /// The end of every run: after a quit, the client is closed; otherwise it recovers once
    /// the faults stop (`discovers`: see [`recovers`]). And the simulation saw no violation.
    fn wind_down(&mut self, discovers: bool) -> Result<(), String> {
        if self.quitted.is_some() {
            closed_after_quit(&self.sim)?;
        } else {
            recovers(&mut self.sim, self.settle, discovers)?;
        }
        match self.sim.violations().first() {
            Some(v) => Err(v.clone()),
            None => Ok(()),
        }
    }

    /// What the run of `seed` did.
    fn report(
        &self,
        seed: u64,
        rules: Rules,
        tally: check::Tally,
        redirects: BTreeMap<&'static str, usize>,
    ) -> SeedReport {
        SeedReport {
            seed,
            requests: self.outcomes.iter().filter(|o| o.id.is_some()).count(),
            succeeded: tally.succeeded,
            failed: tally.failed,
            steps: self.sim.steps(),
            virtual_time: self.sim.elapsed(),
            replay: rules.replay,
            calm: rules.calm,
            errors: tally.errors,
            redirects,
            pubsub: BTreeMap::new(),
        }
    }

    /// Submits, cancels and quits on schedule, then runs until everything settled.
    fn drive(&mut self, scenario: &Plan<'_>) -> Result<(), String> {
        let start = self.sim.now();
        let mut agenda: BinaryHeap<Reverse<(Duration, u8, usize)>> = scenario
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| Reverse((op.at, SUBMIT, i)))
            .collect();
        if let Some(at) = scenario.quit_at {
            agenda.push(Reverse((at, QUIT, 0)));
        }
        while let Some(Reverse((at, kind, i))) = agenda.pop() {
            self.sim.run_until(start + at);
            self.collect();
            match kind {
                QUIT => {
                    self.quitted = Some(self.sim.now());
                    self.sim.quit();
                }
                CANCEL => {
                    let id = self.outcomes[i].id.filter(|&id| !self.sim.is_completed(id));
                    if let Some(id) = id {
                        self.outcomes[i].cancelled_at = Some(self.sim.now());
                        self.sim.cancel(id);
                    }
                }
                _ => {
                    let op = &scenario.ops[i];
                    self.submit(scenario, i)?;
                    if let (Some(after), true) = (op.cancel_after, self.outcomes[i].id.is_some()) {
                        agenda.push(Reverse((at + after, CANCEL, i)));
                    }
                }
            }
            self.collect();
        }
        if !(self.settle)(&mut self.sim, 2_000_000) {
            if let Some(v) = self.sim.violations().first() {
                return Err(v.clone());
            }
            let pending = self.sim.client().pending();
            return Err(format!(
                "the run did not settle: {pending} requests pending"
            ));
        }
        self.collect();
        if let Some(v) = self.sim.violations().first() {
            return Err(v.clone());
        }
        match self.sim.client().pending() {
            0 => Ok(()),
            n => Err(format!("{n} requests still pending at the end")),
        }
    }

    /// Submits op `i` now.
    fn submit(&mut self, scenario: &Plan<'_>, i: usize) -> Result<(), String> {
        let op = &scenario.ops[i];
        // A read of an earlier SET must see it if that SET was acknowledged already.
        let outcomes = &self.outcomes;
        let acked = |j: usize, k: usize| check::set_acked(&outcomes[j], &scenario.ops[j], k);
        for (sub, read) in self.subs[i].iter_mut().zip(&op.reads) {
            if let (Sub::Get { acked: a, .. }, Some((j, k))) = (&mut *sub, read) {
                *a = acked(*j, *k);
            }
            sub.mark_acked(acked);
        }
        let subs = &self.subs[i];
        let build = |conn: Option<ConnId>| {
            let commands = subs.iter().map(Sub::command).collect::<Vec<_>>();
            let mut request = match op.shape {
                Shape::Single => Request::single(commands.into_iter().next().expect("one")),
                Shape::Pipeline => Request::pipeline(commands),
                Shape::Transaction => Request::transaction(commands),
            };
            if let Some(timeout) = op.timeout {
                request = request.timeout(timeout);
            }
            match conn {
                Some(conn) => request.on(conn),
                None => request,
            }
        };
        let outcome = &mut self.outcomes[i];
        outcome.retry_safe =
            op.shape != Shape::Transaction && subs.iter().all(|sub| sub.command().is_retry_safe());
        outcome.part_retry_safe =
            op.shape != Shape::Transaction && subs.iter().any(|sub| sub.command().is_retry_safe());
        outcome.pinned = op.pinned;
        outcome.submitted_at = Some(self.sim.now());
        let pending = self.sim.client().pending();
        if op.pinned && self.quitted.is_none() && self.dedicated.is_none() {
            self.dedicated = Some(self.sim.open_dedicated());
        }
        let mut result = self.sim.submit(build(self.dedicated.filter(|_| op.pinned)));
        if let Err(SubmitError::UnknownConnection(_)) = result
            && op.pinned
            && self.quitted.is_none()
        {
            // The dedicated connection failed: a caller opens another.
            self.dedicated = Some(self.sim.open_dedicated());
            result = self.sim.submit(build(self.dedicated));
        }
        let max_pending = scenario.max_pending;
        let outcome = &mut self.outcomes[i];
        match result {
            Ok(id) => {
                outcome.id = Some(id);
                self.by_id.insert(id, i);
                self.sim
                    .note(|| format!("op {i} is request {}: {:?}", id.0, self.subs[i]));
            }
            Err(SubmitError::Backpressure { limit })
                if limit == max_pending && pending >= max_pending =>
            {
                outcome.refused = Some(SubmitError::Backpressure { limit });
            }
            Err(SubmitError::Closed) if self.quitted.is_some() => {
                outcome.refused = Some(SubmitError::Closed);
            }
            Err(e) => {
                return Err(format!(
                    "op {i}: submit refused with {e:?} with {pending} pending"
                ));
            }
        }
        Ok(())
    }

    /// Moves responses from the sim to the ops they belong to.
    fn collect(&mut self) {
        for (&id, &i) in &self.by_id {
            if self.outcomes[i].result.is_none()
                && let Some(response) = self.sim.take_response_at(id)
            {
                self.outcomes[i].result = Some(response);
            }
        }
    }
}

/// After `quit`, the client is closed and holds no connection.
fn closed_after_quit<S: Servers>(sim: &Sim<S>) -> Result<(), String> {
    if !sim.client().is_closed() || !sim.open_connections().is_empty() {
        return Err(format!(
            "after quit, the client is not closed: {} pending, connections {:?}",
            sim.client().pending(),
            sim.open_connections()
        ));
    }
    Ok(())
}

/// Liveness: once the faults stop, requests succeed again, and `quit` closes everything.
/// `discovers`: the client finds its server through others (Sentinel mode), so the first
/// probe may also fail with `Unavailable` (its discovery ran into a half-open connection).
fn recovers<S: Servers>(
    sim: &mut Sim<S>,
    settle: Settle<S>,
    discovers: bool,
) -> Result<(), String> {
    sim.set_faults(Faults::none());
    // Outlast stalls and server downtime.
    sim.run_for(Duration::from_secs(10));
    let mut recovered = false;
    for attempt in 0..3 {
        let request = Request::pipeline(vec![cmd("ECHO").arg("probe"), cmd("PING")]);
        let id = sim
            .submit(request)
            .map_err(|e| format!("probe refused: {e}"))?;
        if !settle(sim, 1_000_000) {
            return Err("the probe did not settle".into());
        }
        match sim.take_response(id) {
            Some(Ok(Reply::Pipeline(frames)))
                if frames.len() == 2 && frames[0] == Frame::BulkString("probe".into()) =>
            {
                recovered = true;
                break;
            }
            // A half-open connection left from the faults is only found by a timeout.
            Some(Err(RequestError::Timeout { .. } | RequestError::RetriesExhausted { .. }))
                if attempt == 0 => {}
            Some(Err(RequestError::Unavailable { .. })) if attempt == 0 && discovers => {}
            other => return Err(format!("probe {attempt} after the faults: {other:?}")),
        }
    }
    if !recovered {
        return Err("the client did not recover after the faults ended".into());
    }
    sim.quit();
    if !settle(sim, 100_000) || !sim.client().is_closed() {
        return Err("quit did not close the client".into());
    }
    if !sim.open_connections().is_empty() {
        return Err(format!(
            "connections left open after quit: {:?}",
            sim.open_connections()
        ));
    }
    Ok(())
}
