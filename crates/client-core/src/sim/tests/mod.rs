//! The seed sweep and the focused scenarios.
//!
//! `scenarios` drives the client through situations the brief names one by one (`cluster`
//! and `sentinel` those of the two modes, with their sweeps);
//! `regressions` holds one deterministic test per core bug the seed sweep found, named
//! after what was wrong, with the seed that found it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use resp_core::Frame;

use super::*;
use crate::command::cmd;
use crate::config::{Config, CredentialSource, Credentials, Protocol, ReconnectPolicy};
use crate::error::{RequestError, SubmitError};
use crate::event::Reply;
use crate::request::Request;

/// Seeds the sweep runs unless `REDWIRE_SIM_SEEDS` says otherwise.
const DEFAULT_SEEDS: u64 = 10_000;

/// The command that replays `seed` of the sweep `test` with a trace.
fn repro(test: &str, seed: u64) -> String {
    format!(
        "REDWIRE_SIM_SEED={seed} cargo test -p client-core --lib sim::tests::{test} -- \
         --nocapture"
    )
}

/// Runs one seed, turning a panic inside the core or the harness into a failure too.
fn run_caught(
    run: fn(u64, bool) -> Result<SeedReport, String>,
    seed: u64,
    trace: bool,
) -> Result<SeedReport, String> {
    match std::panic::catch_unwind(|| run(seed, trace)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("panicked: {message}"))
        }
    }
}

/// A seed sweep: `default_seeds` seeds of `run` (or `REDWIRE_SIM_SEEDS`, starting at
/// `REDWIRE_SIM_FROM`) on up to 8 threads,
/// stopping at the first failure and naming the smallest failing seed seen with the command
/// that replays it; or just the seed `REDWIRE_SIM_SEED`, with a trace. `test` is the test's
/// path under `sim::tests`.
fn sweep(test: &str, default_seeds: u64, run: fn(u64, bool) -> Result<SeedReport, String>) {
    if let Ok(seed) = std::env::var("REDWIRE_SIM_SEED") {
        let seed: u64 = seed.trim().parse().expect("REDWIRE_SIM_SEED is a number");
        match run_caught(run, seed, true) {
            Ok(report) => eprintln!("seed {seed} passed: {report:?}"),
            Err(e) => panic!("simulation seed {seed} failed: {e}"),
        }
        return;
    }
    let seeds: u64 = std::env::var("REDWIRE_SIM_SEEDS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(default_seeds);
    let first: u64 = std::env::var("REDWIRE_SIM_FROM")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(8) as u64;
    let next = AtomicU64::new(first);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<(u64, String)>> = Mutex::new(None);
    let totals = Mutex::new((0usize, 0usize, 0u64, std::collections::BTreeMap::new()));
    let redirects = Mutex::new(std::collections::BTreeMap::new());
    let pubsub = Mutex::new(std::collections::BTreeMap::new());
    #[allow(clippy::disallowed_methods)] // the test harness reads the real clock for its timing
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= first + seeds {
                        break;
                    }
                    match run_caught(run, seed, false) {
                        Ok(report) => {
                            let mut t = totals.lock().unwrap();
                            t.0 += report.requests;
                            t.1 += report.failed;
                            t.2 += report.steps;
                            for (kind, n) in report.errors {
                                *t.3.entry(kind).or_insert(0usize) += n;
                            }
                            let mut p = pubsub.lock().unwrap();
                            for (kind, n) in report.pubsub {
                                *p.entry(kind).or_insert(0u64) += n;
                            }
                            let mut r = redirects.lock().unwrap();
                            for (kind, n) in report.redirects {
                                *r.entry(kind).or_insert(0usize) += n;
                            }
                        }
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            let mut failure = failure.lock().unwrap();
                            // Report the smallest failing seed seen.
                            if failure.as_ref().is_none_or(|(s, _)| seed < *s) {
                                *failure = Some((seed, e));
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some((seed, e)) = failure.into_inner().unwrap() {
        panic!(
            "simulation seed {seed} failed: {e}\n\nreproduce with: {}\n",
            repro(test, seed)
        );
    }
    let elapsed = started.elapsed();
    let (requests, failed, steps, errors) = totals.into_inner().unwrap();
    eprintln!(
        "{seeds} seeds, {requests} requests ({failed} failed as faults allow), {steps} steps in \
         {elapsed:.2?}: {:.0} seeds/s\nfailures and refusals by kind: {errors:?}",
        seeds as f64 / elapsed.as_secs_f64()
    );
    let pubsub = pubsub.into_inner().unwrap();
    if !pubsub.is_empty() {
        eprintln!("pub/sub: {pubsub:?}");
    }
    let redirects = redirects.into_inner().unwrap();
    if !redirects.is_empty() {
        eprintln!("cluster redirections and refusals the nodes sent: {redirects:?}");
    }
}

#[test]
fn random_seeds() {
    sweep("random_seeds", DEFAULT_SEEDS, run_seed_traced);
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 77, 4242] {
        let a = run_seed(seed).unwrap();
        let b = run_seed(seed).unwrap();
        assert_eq!(
            (a.requests, a.succeeded, a.failed, a.steps, a.virtual_time),
            (b.requests, b.succeeded, b.failed, b.steps, b.virtual_time)
        );
    }
}

mod cache;
mod cluster;
mod pubsub;
mod regressions;
mod scenarios;
mod sentinel;

// ---- helpers for the focused tests ----

fn ok() -> Frame {
    Frame::SimpleString("OK".into())
}

fn bulk(text: &str) -> Frame {
    Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
}

fn single(frame: Frame) -> Result<Reply, RequestError> {
    Ok(Reply::Single(frame))
}

fn config() -> Config {
    Config::new("sim-node", 6379)
}

fn sim_with(config: Config, node: NodeConfig) -> Sim {
    Sim::new(config, FakeNode::new(node), Faults::none(), 1)
}

/// Submits `request`, runs until everything settles, returns its response.
fn roundtrip(sim: &mut Sim, request: impl Into<Request>) -> Result<Reply, RequestError> {
    let id = sim.submit(request.into()).expect("accepted");
    assert!(sim.run_until_idle(), "the simulation did not settle");
    sim.take_response(id).expect("a response")
}

fn history_names(sim: &Sim) -> Vec<String> {
    as_text(sim.node().history())
}

/// A server's command history, each command as one line of text.
fn as_text(history: &[(NodeConnId, Vec<Bytes>)]) -> Vec<String> {
    history
        .iter()
        .map(|(_, args)| {
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}
