//! The client in Sentinel mode against [`FakeSentinels`]: discovery, failovers under load,
//! lying sentinels, replica reads and passwords, each in RESP2 and RESP3.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::ReadFrom;
use crate::config::ServerAddr;
use crate::event::RequestId;

const SERVICE: &str = "orders";

/// A client of `set` in Sentinel mode speaking `protocol`, on a perfect network; traced with
/// `REDWIRE_SIM_TRACE`.
fn sentinel_sim(set: FakeSentinels, protocol: Protocol) -> Sim<FakeSentinels> {
    let mut config = Config::sentinel(SERVICE, set.sentinel_addrs());
    config.protocol = protocol;
    sim_of(config, set, Faults::none(), 1)
}

fn sim_of(config: Config, set: FakeSentinels, faults: Faults, seed: u64) -> Sim<FakeSentinels> {
    let mut sim = Sim::with_servers(config, set, faults, seed);
    sim.set_trace(std::env::var("REDWIRE_SIM_TRACE").is_ok());
    sim
}

fn set_of(replicas: u16, sentinels: u16) -> FakeSentinels {
    FakeSentinels::new(SentinelConfig::new(SERVICE, replicas, sentinels))
}

/// The address the sentinels announce data node `n` under.
fn announced(n: u16) -> ServerAddr {
    ServerAddr::Tcp {
        host: node_ip(n),
        port: node_port(n),
    }
}

/// Submits `request`, runs until nothing is pending, returns its response and when it came.
fn exchange(
    sim: &mut Sim<FakeSentinels>,
    request: impl Into<Request>,
) -> (Duration, Result<Reply, RequestError>) {
    let start = sim.now();
    let id = sim.submit(request.into()).expect("accepted");
    assert!(
        sim.run_until_quiet_within(1_000_000),
        "the simulation did not settle"
    );
    let (at, result) = sim.take_response_at(id).expect("a response");
    (at - start, result)
}

fn both_protocols(test: impl Fn(Protocol)) {
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        test(protocol);
    }
}

/// The commands sentinel `i` received, as text.
fn asked(sim: &Sim<FakeSentinels>, i: u16) -> Vec<String> {
    as_text(sim.servers().sentinel(i).unwrap().history())
}

#[test]
fn discovery_asks_the_first_sentinel_checks_the_role_and_subscribes() {
    both_protocols(|protocol| {
        let mut sim = sentinel_sim(set_of(2, 3), protocol);
        let (_, set) = exchange(&mut sim, cmd("SET").key("k").arg("v"));
        assert_eq!(set, single(ok()), "{protocol:?}");
        let (_, get) = exchange(&mut sim, cmd("GET").key("k"));
        assert_eq!(get, single(bulk("v")));
        assert_eq!(sim.client().sentinel_primary(), Some(&announced(0)));
        let first = asked(&sim, 0);
        assert!(
            first.contains(&"SENTINEL GET-MASTER-ADDR-BY-NAME orders".to_owned()),
            "{first:?}"
        );
        assert!(first.contains(&"SUBSCRIBE +switch-master".to_owned()));
        assert!(first.iter().all(|c| !c.starts_with("SELECT")));
        assert_eq!(
            sim.servers()
                .sentinel(0)
                .unwrap()
                .subscribers("+switch-master"),
            1
        );
        for i in [1, 2] {
            assert!(
                asked(&sim, i)
                    .iter()
                    .all(|c| !c.contains("GET-MASTER-ADDR")),
                "only the first sentinel is asked"
            );
        }
        let now = sim.now();
        assert_eq!(sim.servers_mut().holders(b"k", now), vec![0, 1, 2]);
        assert_eq!(sim.servers().executions("SET", b"k"), 1);
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    });
}

#[test]
fn discovery_gets_past_a_refusing_and_a_silent_sentinel_well_within_the_deadline() {
    both_protocols(|protocol| {
        let mut set = set_of(1, 3);
        let now = Clock::new().now();
        set.apply(
            Happening::CrashSentinel {
                sentinel: 0,
                silent: false,
            },
            now,
        );
        set.apply(
            Happening::CrashSentinel {
                sentinel: 1,
                silent: true,
            },
            now,
        );
        let mut sim = sentinel_sim(set, protocol);
        let (took, set) = exchange(&mut sim, cmd("SET").key("k").arg("v"));
        assert_eq!(set, single(ok()), "{protocol:?}");
        // One sentinel timeout (500 ms) for the silent one, and the rest is quick; the
        // request's own deadline is 5 s.
        assert!(took < Duration::from_millis(800), "took {took:?}");
        assert_eq!(sim.client().sentinel_primary(), Some(&announced(0)));
        assert!(asked(&sim, 2).contains(&"SENTINEL GET-MASTER-ADDR-BY-NAME orders".to_owned()));
        // The next request needs no discovery.
        let (took, get) = exchange(&mut sim, cmd("GET").key("k"));
        assert_eq!(get, single(bulk("v")));
        assert!(took < Duration::from_millis(5), "took {took:?}");
    });
}

/// One write of a stream: `SET <key> <key>`, its request and when it was submitted.
struct Write {
    key: String,
    id: RequestId,
    submitted: Instant,
}

/// Submits `count` writes of unique keys `<prefix><i>`, one every `every`, running the
/// simulation in between; then runs until nothing is pending.
fn write_stream(
    sim: &mut Sim<FakeSentinels>,
    prefix: &str,
    count: usize,
    every: Duration,
) -> Vec<Write> {
    let mut writes = Vec::new();
    for i in 0..count {
        let key = format!("{prefix}{i}");
        let submitted = sim.now();
        let id = sim
            .submit(cmd("SET").key(key.as_str()).arg(key.as_str()).into())
            .expect("accepted");
        writes.push(Write { key, id, submitted });
        sim.run_for(every);
    }
    assert!(
        sim.run_until_quiet_within(2_000_000),
        "the simulation did not settle"
    );
    writes
}

/// How a stream of writes went.
#[derive(Debug, Default)]
struct Outcome {
    /// The acknowledged writes: key, submitted and completed.
    acked: Vec<(String, Instant, Instant)>,
    /// Failures by kind.
    failed: BTreeMap<&'static str, usize>,
}

/// Checks what a stream of writes through a failover must give: every write completed
/// once, none is left pending; each succeeded or failed with `MayHaveExecuted`,
/// `FailoverInProgress` or `Timeout`; every acknowledged write is on the primary (by the
/// operator's truth) and on every running replica; no write ran twice.
fn check_writes(sim: &mut Sim<FakeSentinels>, writes: &[Write]) -> Outcome {
    assert_eq!(sim.client().pending(), 0, "nothing left pending");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let mut outcome = Outcome::default();
    let now = sim.now();
    let primary = sim.servers().primary();
    let running: Vec<u16> = std::iter::once(primary)
        .chain(sim.servers().replicas())
        .filter(|&n| sim.servers().state(n) == Some(NodeState::Up))
        .collect();
    for w in writes {
        let (done, result) = sim
            .take_response_at(w.id)
            .unwrap_or_else(|| panic!("{} never completed", w.key));
        let ran = sim.servers().executions("SET", w.key.as_bytes());
        assert!(ran <= 1, "{} ran {ran} times", w.key);
        match result {
            Ok(reply) => {
                assert_eq!(reply, Reply::Single(ok()), "{}", w.key);
                assert_eq!(ran, 1, "{} acknowledged", w.key);
                let holders = sim.servers_mut().holders(w.key.as_bytes(), now);
                for n in &running {
                    assert!(
                        holders.contains(n),
                        "acknowledged {} is not on node {n} (primary {primary}): {holders:?}",
                        w.key
                    );
                }
                outcome.acked.push((w.key.clone(), w.submitted, done));
            }
            Err(e) => {
                let kind = match e {
                    RequestError::MayHaveExecuted { .. } => "MayHaveExecuted",
                    RequestError::FailoverInProgress { .. } => "FailoverInProgress",
                    RequestError::Timeout { .. } => "Timeout",
                    other => panic!("{} failed with {other:?}", w.key),
                };
                *outcome.failed.entry(kind).or_default() += 1;
            }
        }
    }
    outcome
}

/// The sentinel the client's `+switch-master` subscription is on.
fn watched(sim: &Sim<FakeSentinels>) -> u16 {
    (0..sim.servers().sentinel_addrs().len() as u16)
        .find(|&i| {
            sim.servers()
                .sentinel(i)
                .is_some_and(|s| s.subscribers("+switch-master") > 0)
        })
        .expect("a subscription")
}

/// A client of 1 primary, 2 replicas and 3 sentinels, on a network with random latencies
/// but no faults, sending a write every 20 ms for 4 s, with `failover` starting 1 s in.
fn failover_under_writes(
    protocol: Protocol,
    failover: Failover,
    record: bool,
) -> (Sim<FakeSentinels>, Vec<Write>) {
    let mut config = SentinelConfig::new(SERVICE, 2, 3);
    config.node.record_commands = record;
    config.seed = 3;
    let mut client = Config::sentinel(SERVICE, (0..3).map(sentinel_addr));
    client.protocol = protocol;
    // Random latencies, reads split at random, deferred writes, pushes: but nothing lost.
    let faults = Faults::calm(&mut SimRng::new(3));
    let mut sim = sim_of(client, FakeSentinels::new(config), faults, 3);
    let (_, warm) = exchange(&mut sim, cmd("SET").key("warm").arg("1"));
    assert_eq!(warm, single(ok()));
    let at = sim.now() + Duration::from_secs(1);
    sim.servers_mut()
        .schedule(at, Happening::Failover(failover));
    let writes = write_stream(&mut sim, "w", 200, Duration::from_millis(20));
    (sim, writes)
}

/// The client followed the `+switch-master` of the sentinel it listens to at once: within
/// 40 ms of its publication (a connection to the new primary, its handshake and `ROLE`,
/// a few round trips of up to 3 ms each, then the next write of the stream, one every
/// 20 ms) a write was acknowledged by the new primary, and every write submitted after that
/// succeeded within 10 ms.
fn assert_followed_the_switch(sim: &Sim<FakeSentinels>, writes: &[Write], outcome: &Outcome) {
    let episode = sim.servers().episodes()[0].clone();
    let (to, promoted) = episode.promoted.expect("promoted");
    assert_eq!(sim.client().sentinel_primary(), Some(&announced(to)));
    let watched = watched(sim);
    let published = episode
        .switched
        .iter()
        .find(|(i, _)| *i == watched)
        .map(|&(_, at)| at)
        .expect("the watched sentinel switched");
    let settled = published + Duration::from_millis(40);
    let first = outcome
        .acked
        .iter()
        .map(|&(_, _, done)| done)
        .filter(|&done| done > promoted)
        .min()
        .expect("writes acknowledged after the promotion");
    assert!(
        first <= settled,
        "the first write on the new primary came {:?} after +switch-master",
        first.saturating_duration_since(published)
    );
    for w in writes.iter().filter(|w| w.submitted > settled) {
        let acked = outcome.acked.iter().find(|(k, _, _)| *k == w.key);
        let Some(&(_, submitted, done)) = acked else {
            panic!("{}, submitted after the switch settled, failed", w.key);
        };
        assert!(
            done - submitted <= Duration::from_millis(10),
            "{} took {:?}",
            w.key,
            done - submitted
        );
    }
}

#[test]
fn a_crash_failover_under_writes_loses_no_acknowledged_write() {
    both_protocols(|protocol| {
        let (mut sim, writes) = failover_under_writes(protocol, Failover::crash(false), false);
        assert_eq!(sim.servers().primary(), 1);
        let outcome = check_writes(&mut sim, &writes);
        assert!(outcome.acked.len() > 100, "{protocol:?}: {outcome:?}");
        assert_followed_the_switch(&sim, &writes, &outcome);
        // Writes after the switch settled all succeed.
        let (_, after) = exchange(&mut sim, cmd("SET").key("after").arg("1"));
        assert_eq!(after, single(ok()));
    });
}

#[test]
fn a_silent_crash_failover_under_writes_loses_no_acknowledged_write() {
    both_protocols(|protocol| {
        let (mut sim, writes) = failover_under_writes(protocol, Failover::crash(true), false);
        let outcome = check_writes(&mut sim, &writes);
        assert!(outcome.acked.len() > 100, "{protocol:?}: {outcome:?}");
        assert_followed_the_switch(&sim, &writes, &outcome);
    });
}

#[test]
fn a_manual_failover_under_writes_demotes_the_old_primary_and_loses_nothing() {
    both_protocols(|protocol| {
        let (mut sim, writes) = failover_under_writes(protocol, Failover::manual(), false);
        assert_eq!(sim.servers().state(0), Some(NodeState::Up));
        assert!(sim.servers().node(0).unwrap().is_replica());
        let outcome = check_writes(&mut sim, &writes);
        assert!(outcome.acked.len() > 150, "{protocol:?}: {outcome:?}");
        assert_followed_the_switch(&sim, &writes, &outcome);
    });
}

#[test]
fn writes_refused_with_readonly_by_the_demoted_primary_go_again_to_the_new_one() {
    both_protocols(|protocol| {
        let mut failover = Failover::manual();
        failover.kill_clients = false;
        let (mut sim, writes) = failover_under_writes(protocol, failover, true);
        let outcome = check_writes(&mut sim, &writes);
        assert_followed_the_switch(&sim, &writes, &outcome);
        // The writes node 0 received but did not run were refused with -READONLY.
        let old = sim.servers().node(0).unwrap();
        let refused: Vec<String> = old
            .history()
            .iter()
            .filter(|(_, args)| args[0] == "SET" && old.log().count("SET", &args[1]) == 0)
            .map(|(_, args)| String::from_utf8_lossy(&args[1]).into_owned())
            .collect();
        assert!(!refused.is_empty(), "{protocol:?}: no write got -READONLY");
        for key in &refused {
            let w = writes.iter().find(|w| w.key == *key).expect("a write");
            assert!(
                outcome.acked.iter().any(|(k, _, _)| k == key),
                "{key}, refused with -READONLY, was not resent: {:?}",
                sim.is_completed(w.id)
            );
            assert_eq!(
                sim.servers()
                    .node(1)
                    .unwrap()
                    .log()
                    .count("SET", key.as_bytes()),
                1
            );
        }
    });
}

/// `SET` commands data node `n` received (by its history).
fn sets_received(sim: &Sim<FakeSentinels>, n: u16) -> Vec<String> {
    sim.servers()
        .node(n)
        .unwrap()
        .history()
        .iter()
        .filter(|(_, args)| args[0] == "SET")
        .map(|(_, args)| String::from_utf8_lossy(&args[1]).into_owned())
        .collect()
}

fn recording_set(replicas: u16, sentinels: u16) -> FakeSentinels {
    let mut config = SentinelConfig::new(SERVICE, replicas, sentinels);
    config.node.record_commands = true;
    FakeSentinels::new(config)
}

#[test]
fn a_sentinel_naming_a_replica_is_passed_over_for_one_that_names_the_primary() {
    both_protocols(|protocol| {
        let mut set = recording_set(2, 3);
        set.apply(
            Happening::Lie {
                sentinel: 0,
                names: 1,
            },
            Clock::new().now(),
        );
        let mut sim = sentinel_sim(set, protocol);
        let (took, first) = exchange(&mut sim, cmd("SET").key("k").arg("v"));
        assert_eq!(first, single(ok()), "{protocol:?}");
        assert!(took < Duration::from_millis(200), "took {took:?}");
        assert_eq!(sim.client().sentinel_primary(), Some(&announced(0)));
        // The replica was asked ROLE, and never got a write.
        let role_asked = sim
            .servers()
            .node(1)
            .unwrap()
            .history()
            .iter()
            .any(|(_, a)| a[0] == "ROLE");
        assert!(role_asked);
        let writes = write_stream(&mut sim, "w", 20, Duration::from_millis(10));
        let outcome = check_writes(&mut sim, &writes);
        assert_eq!(outcome.acked.len(), 20);
        assert!(
            sets_received(&sim, 1).is_empty(),
            "{:?}",
            sets_received(&sim, 1)
        );
    });
}

#[test]
fn a_stale_sentinel_naming_the_demoted_primary_does_not_keep_writes_there() {
    both_protocols(|protocol| {
        let mut config = SentinelConfig::new(SERVICE, 1, 3);
        config.node.record_commands = true;
        let mut set = FakeSentinels::new(config);
        // Sentinel 0, which the client asks first and listens to, will never switch.
        set.apply(
            Happening::Lie {
                sentinel: 0,
                names: 0,
            },
            Clock::new().now(),
        );
        let mut sim = sentinel_sim(set, protocol);
        assert_eq!(
            exchange(&mut sim, cmd("SET").key("warm").arg("1")).1,
            single(ok())
        );
        let mut failover = Failover::manual();
        failover.kill_clients = false;
        let at = sim.now() + Duration::from_millis(500);
        sim.servers_mut()
            .schedule(at, Happening::Failover(failover));
        let writes = write_stream(&mut sim, "w", 100, Duration::from_millis(20));
        let outcome = check_writes(&mut sim, &writes);
        assert_eq!(sim.client().sentinel_primary(), Some(&announced(1)));
        // Node 0 refused at most the writes in flight when it was demoted, and the one
        // after: the client went on to the other sentinels.
        let old = sim.servers().node(0).unwrap();
        let refused = sets_received(&sim, 0)
            .into_iter()
            .filter(|k| old.log().count("SET", k.as_bytes()) == 0)
            .count();
        assert!(
            refused <= 2,
            "{protocol:?}: node 0 refused {refused} writes"
        );
        assert_eq!(outcome.acked.len(), 100, "{outcome:?}");
    });
}

/// A client reading from replicas (`PreferReplica`), refreshing the replicas every second.
fn replica_reader(set: FakeSentinels, protocol: Protocol) -> Sim<FakeSentinels> {
    let mut config = Config::sentinel(SERVICE, set.sentinel_addrs());
    config.protocol = protocol;
    let settings = config.sentinel.as_mut().unwrap();
    settings.read_from = ReadFrom::PreferReplica;
    settings.refresh_interval = Duration::from_secs(1);
    sim_of(config, set, Faults::none(), 1)
}

/// How many `GET`s of `key` each data node ran.
fn gets_by_node(sim: &Sim<FakeSentinels>, key: &str) -> Vec<u32> {
    (0..3)
        .map(|n| {
            sim.servers()
                .node(n)
                .map_or(0, |node| node.log().count("GET", key.as_bytes()))
        })
        .collect()
}

#[test]
fn replica_reads_go_to_a_replica_and_writes_to_the_primary() {
    both_protocols(|protocol| {
        let mut sim = replica_reader(set_of(2, 2), protocol);
        assert_eq!(
            exchange(&mut sim, cmd("SET").key("k").arg("v")).1,
            single(ok())
        );
        for _ in 0..5 {
            assert_eq!(exchange(&mut sim, cmd("GET").key("k")).1, single(bulk("v")));
        }
        let gets = gets_by_node(&sim, "k");
        assert_eq!(gets[0], 0, "{protocol:?}: no read on the primary: {gets:?}");
        assert_eq!(gets[1] + gets[2], 5);
        assert_eq!(sim.servers().executions("SET", b"k"), 1);
        assert_eq!(sim.servers().node(0).unwrap().log().count("SET", b"k"), 1);
    });
}

#[test]
fn a_replica_flagged_s_down_gets_no_reads() {
    both_protocols(|protocol| {
        let mut set = set_of(2, 2);
        // The sentinels cannot reach node 1 (it runs: a partition).
        set.apply(
            Happening::Flag {
                sentinel: None,
                node: 1,
                down: true,
            },
            Clock::new().now(),
        );
        let mut sim = replica_reader(set, protocol);
        assert_eq!(
            exchange(&mut sim, cmd("SET").key("k").arg("v")).1,
            single(ok())
        );
        for _ in 0..5 {
            assert_eq!(exchange(&mut sim, cmd("GET").key("k")).1, single(bulk("v")));
        }
        assert_eq!(gets_by_node(&sim, "k"), [0, 0, 5], "{protocol:?}");
        // Node 2 is flagged too, node 1 is back: after the next refresh, reads go to 1.
        let now = sim.now();
        for (node, down) in [(2, true), (1, false)] {
            sim.servers_mut().apply(
                Happening::Flag {
                    sentinel: None,
                    node,
                    down,
                },
                now,
            );
        }
        sim.sync_servers();
        sim.run_for(Duration::from_millis(1100));
        for _ in 0..5 {
            assert_eq!(exchange(&mut sim, cmd("GET").key("k")).1, single(bulk("v")));
        }
        assert_eq!(gets_by_node(&sim, "k"), [0, 5, 5], "{protocol:?}");
    });
}

#[test]
fn the_sentinels_and_the_data_nodes_get_their_own_passwords() {
    both_protocols(|protocol| {
        let mut config = SentinelConfig::new(SERVICE, 1, 2).with_sentinel_password("s-pw");
        config.node = NodeConfig::default().with_password("d-pw");
        config.node.record_commands = true;
        let set = FakeSentinels::new(config);
        let mut client = Config::sentinel(SERVICE, set.sentinel_addrs());
        client.protocol = protocol;
        client.credentials = Some(CredentialSource::Static(Credentials::new(None, "d-pw")));
        client.sentinel.as_mut().unwrap().credentials =
            Some(CredentialSource::Static(Credentials::new(None, "s-pw")));
        let mut sim = sim_of(client, set, Faults::none(), 1);
        assert_eq!(
            exchange(&mut sim, cmd("SET").key("k").arg("v")).1,
            single(ok())
        );
        assert_eq!(exchange(&mut sim, cmd("GET").key("k")).1, single(bulk("v")));
        let sentinel = asked(&sim, 0);
        assert!(
            sentinel.iter().any(|c| c.contains("s-pw"))
                && !sentinel.iter().any(|c| c.contains("d-pw")),
            "{sentinel:?}"
        );
        let data: Vec<String> = sim
            .servers()
            .node(0)
            .unwrap()
            .history()
            .iter()
            .map(|(_, args)| String::from_utf8_lossy(&args.concat()).into_owned())
            .collect();
        assert!(
            data.iter().any(|c| c.contains("d-pw")) && !data.iter().any(|c| c.contains("s-pw")),
            "{data:?}"
        );
    });
}

#[test]
fn a_wrong_sentinel_password_fails_requests_with_the_reason() {
    both_protocols(|protocol| {
        let set =
            FakeSentinels::new(SentinelConfig::new(SERVICE, 1, 2).with_sentinel_password("s-pw"));
        let mut client = Config::sentinel(SERVICE, set.sentinel_addrs());
        client.protocol = protocol;
        client.sentinel.as_mut().unwrap().credentials =
            Some(CredentialSource::Static(Credentials::new(None, "wrong")));
        let mut sim = sim_of(client, set, Faults::none(), 1);
        let (took, result) = exchange(&mut sim, cmd("SET").key("k").arg("v"));
        let Err(error) = result else {
            panic!("{protocol:?}: {result:?}")
        };
        assert!(
            error.to_string().contains("WRONGPASS"),
            "{protocol:?} after {took:?}: {error}"
        );
        // Every sentinel refused the credentials: the request fails after one round, as an
        // authentication error, not at its deadline as an unreachable server.
        assert!(
            matches!(error, RequestError::Auth { .. }),
            "{protocol:?}: {error:?}"
        );
        assert!(took < Duration::from_millis(500), "{protocol:?}: {took:?}");
        assert_eq!(sim.servers().executions("SET", b"k"), 0);
    });
}

/// A write submitted after the primary (which has no replica) crashed, with a 1 s timeout:
/// how long it took and how it failed.
fn stranded_write(protocol: Protocol) -> (Sim<FakeSentinels>, Duration, RequestError) {
    // No replica: once the primary is gone, no sentinel can name another.
    let mut sim = sentinel_sim(set_of(0, 2), protocol);
    assert_eq!(
        exchange(&mut sim, cmd("SET").key("warm").arg("1")).1,
        single(ok())
    );
    let now = sim.now();
    sim.servers_mut().apply(
        Happening::Crash {
            node: 0,
            silent: false,
        },
        now,
    );
    sim.sync_servers();
    let request = Request::from(cmd("SET").key("k").arg("v")).timeout(Duration::from_secs(1));
    let (took, result) = exchange(&mut sim, request);
    let error = result.expect_err("no primary to send it to");
    (sim, took, error)
}

#[test]
fn requests_waiting_longer_than_their_deadline_for_a_primary_fail_with_failover_in_progress() {
    both_protocols(|protocol| {
        let (sim, took, error) = stranded_write(protocol);
        assert!(
            matches!(error, RequestError::FailoverInProgress { sent: false, .. }),
            "{protocol:?}: {error:?}"
        );
        assert_eq!(took, Duration::from_secs(1), "at its deadline");
        assert_eq!(sim.servers().executions("SET", b"k"), 0, "it was not sent");
        let text = error.to_string();
        assert!(
            text.contains("orders") && text.contains("10.0.0.0:7000"),
            "{text}"
        );
    });
}

/// The text of `FailoverInProgress` reads well (a core bug, fixed since: ten spaces after
/// "a failover", a line break lost in the format string).
#[test]
fn the_failover_in_progress_message_has_no_run_of_spaces() {
    let (_, _, error) = stranded_write(Protocol::Resp3);
    let text = error.to_string();
    assert!(!text.contains("  "), "{text:?}");
}

/// When the `ROLE` query's connection to the old primary fails, what `FailoverInProgress`
/// tells the caller does not speak of a "dedicated connection": the query went on the
/// node's shared connection (a core bug, fixed since).
#[test]
fn the_failover_in_progress_detail_does_not_call_the_shared_connection_dedicated() {
    let (_, _, error) = stranded_write(Protocol::Resp3);
    let text = error.to_string();
    assert!(!text.contains("dedicated"), "{text:?}");
}

/// After a warm-up write, submits `SET k v` (1 s deadline), which the primary (node 0) runs
/// while every reply is held back from then on; returns its id.
fn set_held_on_the_primary(sim: &mut Sim<FakeSentinels>) -> RequestId {
    let (_, warm) = exchange(sim, cmd("SET").key("warm").arg("1"));
    assert_eq!(warm, single(ok()));
    sim.hold_replies(true);
    let request = Request::from(cmd("SET").key("k").arg("v")).timeout(Duration::from_secs(1));
    let id = sim.submit(request).unwrap();
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.servers().executions("SET", b"k"), 1);
    id
}

/// A write that was sent (and ran) before its connection to the primary broke is re-queued
/// when it may be sent again (`at_least_once_replay`, or a retry-safe command); if no
/// primary is found before its deadline, the `FailoverInProgress` it fails with must not say
/// "it was not sent" (a core bug, fixed since: it now has `sent`).
#[test]
fn a_write_that_ran_before_the_primary_crashed_is_not_reported_as_unsent() {
    both_protocols(|protocol| {
        let set = set_of(0, 2);
        let mut config = Config::sentinel(SERVICE, set.sentinel_addrs());
        config.protocol = protocol;
        // Writes may be sent again: the client re-queues one whose connection broke.
        config.at_least_once_replay = true;
        config.max_retries = 3;
        let mut sim = sim_of(config, set, Faults::none(), 1);
        // The primary runs the SET; its reply never leaves before it crashes.
        let id = set_held_on_the_primary(&mut sim);
        let now = sim.now();
        sim.servers_mut().apply(
            Happening::Crash {
                node: 0,
                silent: false,
            },
            now,
        );
        sim.sync_servers();
        sim.hold_replies(false);
        assert!(sim.run_until_quiet_within(1_000_000));
        let result = sim.take_response(id).expect("a response");
        assert!(
            !matches!(
                result,
                Err(RequestError::FailoverInProgress { sent: false, .. })
            ),
            "{protocol:?}: the SET ran on the old primary, yet the client says it was not \
             sent: {result:?}"
        );
    });
}

/// A client of `set` in database 3 (RESP3) that opens a dedicated connection before any
/// primary is known, runs `SET d 1` on it, then `GET d` on the shared connection.
fn dedicated_before_discovery(set: FakeSentinels, config: Config) -> Sim<FakeSentinels> {
    let mut sim = sim_of(config, set, Faults::none(), 1);
    let conn = sim.open_dedicated();
    let (_, set) = exchange(
        &mut sim,
        Request::from(cmd("SET").key("d").arg("1")).on(conn),
    );
    assert_eq!(set, single(ok()));
    let (_, get) = exchange(&mut sim, cmd("GET").key("d"));
    assert_eq!(
        get,
        single(bulk("1")),
        "the dedicated connection wrote elsewhere"
    );
    sim
}

/// A dedicated connection opened before discovery selects the database once it is dialled to
/// the primary (a core bug found by sentinel seed 11, fixed since: it was created for node
/// 0, the first sentinel, and kept the handshake of a sentinel connection).
#[test]
fn a_dedicated_connection_opened_before_discovery_selects_the_database() {
    let set = recording_set(1, 2);
    let mut config = Config::sentinel(SERVICE, set.sentinel_addrs());
    config.db = 3;
    let sim = dedicated_before_discovery(set, config);
    assert!(
        sim.servers()
            .node(0)
            .unwrap()
            .keys(3, sim.now())
            .contains(&"d".into())
    );
}

/// The same connection authenticates with the data nodes' credentials, not the sentinels'
/// (the same core bug, fixed since).
#[test]
fn a_dedicated_connection_opened_before_discovery_uses_the_data_credentials() {
    let mut servers = SentinelConfig::new(SERVICE, 1, 2).with_sentinel_password("s-pw");
    servers.node = NodeConfig::default().with_password("d-pw");
    let set = FakeSentinels::new(servers);
    let mut config = Config::sentinel(SERVICE, set.sentinel_addrs());
    config.credentials = Some(CredentialSource::Static(Credentials::new(None, "d-pw")));
    config.sentinel.as_mut().unwrap().credentials =
        Some(CredentialSource::Static(Credentials::new(None, "s-pw")));
    dedicated_before_discovery(set, config);
}

/// A request sent to the old primary and re-queued when that connection fails (here: a
/// read, retry-safe, on a connection closed because the host vanished) goes to the new
/// primary the client follows by then (a core bug found by sentinel seed 81, fixed since:
/// it stayed queued for the old node and failed at its deadline, or got `-READONLY` once
/// the old node was back as a replica).
#[test]
fn a_request_requeued_from_the_old_primary_goes_to_the_new_one() {
    both_protocols(|protocol| {
        let set = set_of(1, 1);
        let mut config = Config::sentinel(SERVICE, set.sentinel_addrs());
        config.protocol = protocol;
        config.timeouts.command = Duration::from_secs(1);
        let mut sim = sim_of(config, set, Faults::none(), 1);
        assert_eq!(
            exchange(&mut sim, cmd("SET").key("k").arg("v")).1,
            single(ok())
        );
        // The primary's host vanishes; node 1 takes over 100 ms later.
        let mut failover = Failover::crash(true);
        failover.detection = Duration::from_millis(100);
        failover.switch_within = Duration::ZERO;
        let now = sim.now();
        sim.servers_mut().apply(Happening::Failover(failover), now);
        sim.sync_servers();
        // Two reads into the silence; the first one's timeout (1 s) condemns the
        // connection, the second (3 s) is re-queued.
        let first = sim.submit(cmd("GET").key("k").into()).unwrap();
        sim.run_for(Duration::from_millis(50));
        let request = Request::from(cmd("GET").key("k")).timeout(Duration::from_secs(3));
        let second = sim.submit(request).unwrap();
        sim.run_for(Duration::from_millis(500));
        assert_eq!(sim.client().sentinel_primary(), Some(&announced(1)));
        assert!(sim.run_until_quiet_within(1_000_000));
        let first = sim.take_response(first).unwrap();
        assert!(
            matches!(first, Err(RequestError::Timeout { .. })),
            "{first:?}"
        );
        assert_eq!(
            sim.take_response(second).unwrap(),
            single(bulk("v")),
            "{protocol:?}: the second read was re-queued for node 0, not sent to node 1"
        );
    });
}

/// A dedicated connection opened while no primary is known is not dialled yet; `quit` must
/// not ask the adapter to close it (`Event::Disconnect`), since the adapter never opened it
/// (a core bug found by sentinel seeds 263 and 1286, fixed since).
#[test]
fn quit_does_not_close_a_dedicated_connection_that_was_never_dialled() {
    let mut sim = sentinel_sim(set_of(1, 1), Protocol::Resp3);
    let conn = sim.open_dedicated();
    sim.quit();
    assert!(sim.run_until_quiet_within(100_000));
    assert!(sim.client().is_closed());
    assert!(!sim.open_connections().contains(&conn));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// Seeds the Sentinel sweep runs unless `REDWIRE_SIM_SEEDS` says otherwise.
const SENTINEL_SEEDS: u64 = 300;

/// Random failovers, node and sentinel outages, lying sentinels and network faults under a
/// random workload, with the standalone sweep's checks (see `run_sentinel_seed`).
/// The sentinel holding the `+switch-master` subscription vanishes (its connections go
/// silent; nobody is told). The `PING` sent on the subscription every second goes
/// unanswered, so the client subscribes on another sentinel, and a later manual failover
/// that keeps the clients of the demoted primary connected (so nothing else would tell the
/// client: it only reads) is still followed at once.
#[test]
fn a_silent_sentinel_holding_the_subscription_is_replaced_and_the_next_switch_followed() {
    both_protocols(|protocol| {
        let mut sim = sentinel_sim(set_of(1, 3), protocol);
        let (_, warm) = exchange(&mut sim, cmd("SET").key("k").arg("v"));
        assert_eq!(warm, single(ok()));
        let first = watched(&sim);
        let now = sim.now();
        let crash = Happening::CrashSentinel {
            sentinel: first,
            silent: true,
        };
        sim.servers_mut().apply(crash, now);
        sim.sync_servers();
        sim.run_for(Duration::from_secs(3));
        let others: Vec<u16> = (0..3)
            .filter(|&i| i != first)
            .filter(|&i| {
                sim.servers()
                    .sentinel(i)
                    .is_some_and(|s| s.subscribers("+switch-master") > 0)
            })
            .collect();
        assert_eq!(others.len(), 1, "{protocol:?}: subscribed on {others:?}");

        let mut failover = Failover::manual();
        failover.kill_clients = false;
        let now = sim.now();
        sim.servers_mut().apply(Happening::Failover(failover), now);
        sim.sync_servers();
        sim.run_for(Duration::from_secs(3));
        let episode = sim.servers().episodes()[0].clone();
        let (to, _) = episode.promoted.expect("promoted");
        let published = episode
            .switched
            .iter()
            .find(|(i, _)| *i == others[0])
            .map(|&(_, at)| at)
            .expect("the watched sentinel switched");
        assert!(published < sim.now());
        assert_eq!(
            sim.client().sentinel_primary(),
            Some(&announced(to)),
            "{protocol:?}"
        );
        let (took, read) = exchange(&mut sim, cmd("GET").key("k"));
        assert_eq!(read, single(bulk("v")), "{protocol:?}");
        assert!(took < Duration::from_millis(50), "{protocol:?}: {took:?}");
    });
}

/// A write the caller sends to a replica by name (`Request::to_server`) gets the replica's
/// `-READONLY` as its reply: it is neither resent nor taken as news of a failover.
#[test]
fn a_write_sent_to_a_replica_by_name_gets_its_readonly_reply() {
    both_protocols(|protocol| {
        let mut sim = sentinel_sim(recording_set(1, 1), protocol);
        let (_, warm) = exchange(&mut sim, cmd("SET").key("warm").arg("1"));
        assert_eq!(warm, single(ok()));
        let request = Request::from(cmd("SET").key("k").arg("v")).to_server(announced(1));
        let (_, result) = exchange(&mut sim, request);
        let Ok(Reply::Single(frame)) = &result else {
            panic!("{protocol:?}: {result:?}")
        };
        assert_eq!(frame.error_code(), Some(&b"READONLY"[..]), "{protocol:?}");
        assert_eq!(sets_received(&sim, 1).len(), 1, "{protocol:?}: sent once");
        assert_eq!(sim.client().sentinel_primary(), Some(&announced(0)));
        let (_, write) = exchange(&mut sim, cmd("SET").key("k").arg("v"));
        assert_eq!(write, single(ok()), "{protocol:?}");
    });
}

#[test]
fn random_sentinel_seeds() {
    sweep(
        "sentinel::random_sentinel_seeds",
        SENTINEL_SEEDS,
        run_sentinel_seed_traced,
    );
}

/// The `+switch-master` can reach the client before the demoted primary closes its
/// clients' connections (Redis reconfigures the old primary after the switch). A write in
/// flight there then fails with `MayHaveExecuted`, and its message must still say why:
/// the node had just stopped being the primary. It did not once the switch had been
/// heard first (real-server Sentinel failover test, glommio RESP3 cell).
#[test]
fn a_write_lost_on_the_demoted_primary_after_the_switch_names_the_failover() {
    both_protocols(|protocol| {
        let mut sim = sentinel_sim(set_of(1, 2), protocol);
        let id = set_held_on_the_primary(&mut sim);
        let old = sim
            .open_connections()
            .into_iter()
            .find(|&c| sim.node_of(c) == Some(0))
            .expect("a connection to the primary");
        // The replica is promoted and every sentinel switches; only the sentinels'
        // messages reach the client.
        let now = sim.now();
        let promote = Happening::Promote {
            node: 1,
            kill_clients: false,
        };
        sim.servers_mut().apply(promote, now);
        for sentinel in 0..2 {
            let switch = Happening::Switch { sentinel, to: 1 };
            sim.servers_mut().apply(switch, now);
        }
        sim.sync_servers();
        sim.run_for(Duration::from_millis(5));
        for conn in sim.open_connections() {
            let node = sim.node_of(conn);
            if (0..2).any(|i| node == Some(sentinel_node(i))) {
                sim.release_held(conn, usize::MAX);
            }
        }
        sim.run_for(Duration::from_millis(5));
        assert_ne!(
            sim.client().sentinel_primary(),
            Some(&announced(0)),
            "{protocol:?}: the switch was heard"
        );
        // Then the demoted primary closes the connection the SET is waiting on.
        sim.drop_connection(old);
        sim.hold_replies(false);
        assert!(sim.run_until_quiet_within(1_000_000));
        let result = sim.take_response(id).expect("a response");
        let Err(error @ RequestError::MayHaveExecuted { .. }) = &result else {
            panic!("{protocol:?}: {result:?}");
        };
        let message = error.to_string();
        assert!(
            message.contains("failover") || message.contains("failing over"),
            "{protocol:?}: {message}"
        );
    });
}
