//! Redis Sentinel through the runtime's adapter, against the real primary, replica and three
//! sentinels of the cell. Every client here is built from the env's `redis+sentinel://` URL:
//! it finds the primary through the sentinels and has to follow its failovers by itself.
//!
//! The fault tests put one client under load ([`TASKS`] tasks, each writing a new key again
//! and again, see [`load`]), move the primary (`SENTINEL FAILOVER`, or SIGKILL of the
//! primary), and check what a user would notice: how soon after the sentinels announce
//! `+switch-master` writes reach the new primary, that every acknowledged write is readable
//! afterwards, and that every request ended within its deadline, failing only with an error
//! that says why.
//!
//! What "acknowledged" means. Redis replicates asynchronously: the old primary may acknowledge
//! a write its replica never receives (just before it dies, or while it still takes writes
//! after its replica was promoted), and Redis itself loses those, whatever the client does. So
//! a write counts as *acknowledged* only once a `WAIT 1` on the same connection counted a
//! replica after it, and as *set-only* when `SET` answered `OK` and no such `WAIT` followed.
//! Acknowledged writes must all be readable; set-only writes that were lost are reported, and
//! must all have been answered by the old primary.
//!
//! Every test returns early unless the topology is the sentinel one. The fault tests leave it
//! healthy, pass or fail ([`Restore`]), and print one line (see it with `--nocapture`):
//! `EVIDENCE sentinel fault=<failover|kill> protocol=<2|3> switch_ms=<n>
//! first_new_primary_write_ms_after_switch=<n> acknowledged=<n> lost=<n> set_only=<n>
//! set_only_lost=<n> failed=<n> failed_kinds=<Kind:n,...>`. `switch_ms` runs from the fault
//! (sending `SENTINEL FAILOVER`, or the kill) to the first `+switch-master` any sentinel
//! published; `first_new_primary_write_ms_after_switch` from that announcement to the end of
//! the first write the new primary answered (negative if it came first).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use client_core::hooks::{Hooks, Outcome, RequestEnd, TopologyChange};
use client_core::{ConnId, ServerAddr};
use redwire_tests::{RawConn, Target, TestEnv, TopologyKind, is_timeout};

use super::restore::{Restore, blocking};
use super::{key, unique_run};
use crate::rt::{self, Client, Commands, Config, Request, cmd};

#[path = "sentinel/load.rs"]
mod load;

use load::{Load, Run, delete, read_back, signed_ms};

/// Load tasks, each with one request in flight at a time.
const TASKS: usize = 32;

/// The command timeout of the clients under load: shorter than the sentinels'
/// `down-after-milliseconds` (3 s), so that requests made while the primary is dead must fail.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How long each `WAIT 1` of the load waits for the replica. Short: while no replica answers,
/// each `WAIT` holds up the writes behind it on the primary's connection that long.
const WAIT_MS: u64 = 10;

/// How much later than its deadline a request may complete (scheduling on a busy machine).
const MARGIN: Duration = Duration::from_millis(500);

/// How soon after `+switch-master` writes must reach the new primary.
const SWITCH_LIMIT: Duration = Duration::from_secs(2);

/// How long the load goes on after the announcement.
const AFTER_SWITCH: Duration = Duration::from_millis(2500);

/// Errors a write may fail with while the primary moves, and why each is right:
/// - `FailoverInProgress`: it waited for a primary until its deadline and was not sent;
/// - `MayHaveExecuted`: it was in flight on the primary's connection when that dropped.
///
/// Also `Timeout` (sent, no reply in time), for a write that waited for a primary through the
/// switch and was sent to the new one just before its deadline (see `load::Run::check`).
const ALLOWED_FAILURES: [&str; 2] = ["FailoverInProgress", "MayHaveExecuted"];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The environment, when the topology is the sentinel one.
fn sentinel_env() -> Option<TestEnv> {
    let env = TestEnv::load();
    (env.topology == TopologyKind::Sentinel).then_some(env)
}

/// The env's `redis+sentinel://` configuration in the cell's protocol, with `query` added to
/// the URL (e.g. `read_from=replica`).
fn sentinel_config(env: &TestEnv, query: &str) -> Config {
    let url = match (query.is_empty(), env.url.contains('?')) {
        (true, _) => env.url.clone(),
        (false, false) => format!("{}?{query}", env.url),
        (false, true) => format!("{}&{query}", env.url),
    };
    let mut config = Config::from_url(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert!(config.sentinel.is_some(), "{url} is not a Sentinel URL");
    config.protocol = env.resp_protocol();
    config
}

async fn connect(config: Config) -> Client {
    super::connect_or_fail(config, "through the sentinels").await
}

/// The primary the sentinels name now, as `host:port`.
fn primary(env: &TestEnv) -> String {
    let (host, port) = env.sentinel_primary();
    format!("{host}:{port}")
}

/// The data server that is not `primary`.
fn other_server(env: &TestEnv, primary: &str) -> String {
    let faults = env.faults();
    let others: Vec<String> = faults
        .state()
        .servers()
        .map(xtask::Node::addr)
        .filter(|a| a != primary)
        .collect();
    assert_eq!(others.len(), 1, "servers other than {primary}: {others:?}");
    others[0].clone()
}

/// `calls` of `cmdstat_<command>` in the `INFO commandstats` of the server at `addr` (a raw
/// connection, so the asking is not counted).
fn command_calls(addr: &str, command: &str) -> u64 {
    let mut conn = RawConn::connect(&Target::parse_addr(addr), None);
    let text = conn.request(&["INFO", "commandstats"]).text();
    let prefix = format!("cmdstat_{command}:calls=");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Reads a flat `[k1, v1, ...]` reply (an entry of `SENTINEL REPLICAS`) as pairs.
fn pairs(frame: &redwire_tests::Frame) -> HashMap<String, String> {
    frame
        .items()
        .unwrap_or_default()
        .chunks(2)
        .filter_map(|kv| Some((kv.first()?.text(), kv.get(1)?.text())))
        .collect()
}

/// `host:port` from two fields of a [`pairs`] map.
fn addr_in(pairs: &HashMap<String, String>, host: &str, port: &str) -> String {
    let field = |name: &str| pairs.get(name).map_or("?", String::as_str);
    format!("{}:{}", field(host), field(port))
}

/// Waits until every sentinel lists `replica` as a replica of `primary` with its link up:
/// sentinels refresh a replica's state only every 10 s, and a client reading from replicas
/// goes by what they list.
async fn wait_sentinels_see_replica(env: &TestEnv, primary: &str, replica: &str) {
    let service = env
        .sentinel_service
        .clone()
        .unwrap_or_else(|| redwire_tests::SENTINEL_SERVICE.to_owned());
    let start = Instant::now();
    loop {
        let mut missing = None;
        for sentinel in &env.sentinels {
            let mut conn = RawConn::connect(&Target::parse_addr(sentinel), None);
            let listed = conn.request(&["SENTINEL", "REPLICAS", &service]);
            let entry = listed
                .items()
                .unwrap_or_default()
                .iter()
                .map(pairs)
                .find(|p| addr_in(p, "ip", "port") == replica);
            let good = entry.as_ref().is_some_and(|p| {
                p.get("flags").map(String::as_str) == Some("slave")
                    && p.get("master-link-status").map(String::as_str) == Some("ok")
                    && addr_in(p, "master-host", "master-port") == primary
            });
            if !good {
                missing = Some(format!("{sentinel} lists {entry:?}"));
                break;
            }
        }
        let Some(missing) = missing else { return };
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the sentinels do not list {replica} as a healthy replica of {primary} after 30 s: \
             {missing}"
        );
        rt::sleep(Duration::from_millis(200)).await;
    }
}

/// A server and which of the connections to it (counted as they complete their handshake).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Via {
    server: String,
    connection: u32,
}

/// Records, from the core's hooks, the server and connection that answered each `SET` (by its
/// key) and each `WAIT` (in the order they end), and the server of each `GET`.
#[derive(Debug, Default)]
struct Observer {
    /// Connections to each server that completed their handshake so far.
    connections: Mutex<HashMap<String, u32>>,
    /// Whether each `SET` succeeded, and where it went last.
    sets: Mutex<HashMap<String, (bool, Via)>>,
    /// Whether each `WAIT` succeeded, and where it went.
    waits: Mutex<Vec<(bool, Option<Via>)>>,
    gets: Mutex<Vec<Option<String>>>,
    /// The replicas the client reads from, by its last topology report.
    read_replicas: Mutex<Vec<String>>,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Observer {
    /// Where a successful `SET` of `key` went.
    fn set_via(&self, key: &str) -> Option<Via> {
        locked(&self.sets)
            .get(key)
            .and_then(|(ok, via)| ok.then(|| via.clone()))
    }

    /// Where a `SET` of `key` was last sent, or waited to be, successful or not.
    fn set_sent_to(&self, key: &str) -> Option<String> {
        locked(&self.sets)
            .get(key)
            .map(|(_, via)| via.server.clone())
    }

    fn set_server(&self, key: &str) -> Option<String> {
        self.set_via(key).map(|v| v.server)
    }

    fn waits(&self) -> Vec<(bool, Option<Via>)> {
        locked(&self.waits).clone()
    }

    fn gets(&self) -> Vec<Option<String>> {
        locked(&self.gets).clone()
    }
}

impl Hooks for Observer {
    fn topology_changed(&self, topology: &TopologyChange<'_>) {
        let replicas = topology.shards.iter().flat_map(|(_, r)| r.iter());
        *locked(&self.read_replicas) = replicas.map(ToString::to_string).collect();
    }

    fn connected(&self, _conn: ConnId, server: &ServerAddr) {
        *locked(&self.connections)
            .entry(server.to_string())
            .or_default() += 1;
    }

    fn request_end(&self, request: &RequestEnd<'_>) {
        let ok = matches!(request.outcome, Outcome::Ok);
        let via = request.server.map(|s| {
            let server = s.to_string();
            let connection = locked(&self.connections).get(&server).copied().unwrap_or(0);
            Via { server, connection }
        });
        let operation = request.operation.to_ascii_uppercase();
        match operation.as_str() {
            "GET" if ok => locked(&self.gets).push(via.map(|v| v.server)),
            "SET" => {
                let key = request.commands.first().and_then(|c| c.arg_bytes(1));
                if let (Some(key), Some(via)) = (key, via) {
                    let key = String::from_utf8_lossy(key).into_owned();
                    locked(&self.sets).insert(key, (ok, via));
                }
            }
            "WAIT" => locked(&self.waits).push((ok, via)),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// +switch-master, as the sentinels publish it
// ---------------------------------------------------------------------------------------------

/// One `+switch-master` message.
#[derive(Debug, Clone)]
struct Announcement {
    at: Instant,
    sentinel: String,
    /// `host:port` of the old and the new primary.
    old: String,
    new: String,
}

/// Subscriptions to `+switch-master` on every sentinel, each read by its own thread: the
/// first sentinel to publish it is the one that ran the failover; the others follow when its
/// hello reaches them.
struct SwitchWatch {
    stop: Arc<AtomicBool>,
    heard: Arc<Mutex<Vec<Announcement>>>,
    threads: Vec<ThreadHandle<()>>,
}

impl SwitchWatch {
    /// Returns once every sentinel confirmed the subscription.
    fn start(env: &TestEnv) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for sentinel in &env.sentinels {
            let mut conn = RawConn::connect(&Target::parse_addr(sentinel), None);
            let confirmed = conn.request(&["SUBSCRIBE", "+switch-master"]);
            assert_eq!(
                confirmed.items().and_then(|i| i.first()).map(|f| f.text()),
                Some("subscribe".to_owned()),
                "SUBSCRIBE +switch-master on {sentinel}: {confirmed:?}"
            );
            conn.set_read_timeout(Duration::from_millis(100));
            let (stop, heard, sentinel) = (stop.clone(), heard.clone(), sentinel.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let raw = match conn.try_read_raw() {
                        Ok(raw) => raw,
                        Err(e) if is_timeout(&e) => continue,
                        Err(e) => {
                            eprintln!("the +switch-master subscription on {sentinel} ended: {e}");
                            return;
                        }
                    };
                    let at = Instant::now();
                    let frame = redwire_tests::parse_frame(&raw)
                        .ok()
                        .flatten()
                        .map(|(f, _)| f);
                    let Some(text) = frame
                        .as_ref()
                        .and_then(|f| f.items())
                        .and_then(|i| i.get(2))
                        .map(redwire_tests::Frame::text)
                    else {
                        eprintln!("{sentinel} published {frame:?}");
                        continue;
                    };
                    // `<service> <old ip> <old port> <new ip> <new port>`
                    let words: Vec<&str> = text.split_whitespace().collect();
                    if let [_, old_host, old_port, new_host, new_port] = words[..] {
                        heard
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(Announcement {
                                at,
                                sentinel: sentinel.clone(),
                                old: format!("{old_host}:{old_port}"),
                                new: format!("{new_host}:{new_port}"),
                            });
                    }
                }
            }));
        }
        Self {
            stop,
            heard,
            threads,
        }
    }

    fn heard(&self) -> Vec<Announcement> {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first announcement, waiting up to `limit` for one.
    async fn first(&self, limit: Duration) -> Option<Announcement> {
        let start = Instant::now();
        loop {
            if let Some(first) = self.heard().into_iter().min_by_key(|a| a.at) {
                return Some(first);
            }
            if start.elapsed() > limit {
                return None;
            }
            rt::sleep(Duration::from_millis(5)).await;
        }
    }

    /// When each sentinel announced the switch, relative to `first`.
    fn spread(&self, first: Instant) -> String {
        self.heard()
            .iter()
            .map(|a| format!("{}:+{}ms", a.sentinel, (a.at - first).as_millis()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for SwitchWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Waits until `deadline`.
async fn sleep_until(deadline: Instant) {
    rt::sleep_until(deadline).await;
}

/// Waits until the topology is healthy (quick when it is), so that a test starts from a
/// primary with its replica in sync.
async fn healthy(restore: &Arc<Restore>) {
    let restore = restore.clone();
    blocking(move || restore.wait_healthy()).await;
}

// ---------------------------------------------------------------------------------------------
// Faults under load
// ---------------------------------------------------------------------------------------------

/// A client for the fault tests, with its observer.
async fn observed_client(env: &TestEnv) -> (Client, Arc<Observer>) {
    let observer = Arc::new(Observer::default());
    let mut config = sentinel_config(env, "");
    config.timeouts.command = TIMEOUT;
    config.timeouts.connect = Duration::from_secs(1);
    config.hooks = Some(observer.clone());
    (connect(config).await, observer)
}

#[test]
fn failover_under_load_moves_writes_to_the_new_primary_and_keeps_acknowledged_ones() {
    rt::block_on_multi(async {
        let Some(env) = sentinel_env() else { return };
        let restore = Restore::new(&env);
        healthy(&restore).await;
        let before = primary(&env);
        let watch = SwitchWatch::start(&env);
        let (client, observer) = observed_client(&env).await;
        let load = Load::start(
            &client,
            &key(&format!("sentinel:failover:{}", unique_run())),
        )
        .await;
        // Long enough for a few WAITs to cover the writes made before the failover.
        rt::sleep(Duration::from_millis(500)).await;

        let fault_at = Instant::now();
        let (old, new) = blocking({
            let restore = restore.clone();
            move || restore.sentinel_failover()
        })
        .await;
        assert_eq!(old, before, "the primary moved before the test's failover");
        let switch = watch
            .first(Duration::from_secs(10))
            .await
            .expect("no sentinel published +switch-master within 10 s of the failover");
        sleep_until(switch.at + AFTER_SWITCH).await;
        let (writes, confirms) = load.finish().await;
        println!(
            "failover: +switch-master heard from {}",
            watch.spread(switch.at)
        );
        drop(watch);
        let values = read_back(&client, &writes).await;

        let run = Run {
            fault: "failover",
            protocol: env.protocol,
            old,
            new,
            fault_at,
            switch: switch.clone(),
            writes,
            confirms,
            values,
            observer: &observer,
        };
        // The old primary takes writes until it is made a replica; the client has as long to stop
        // sending it any as writes have to reach the new primary.
        let tally = run.check(switch.at + SWITCH_LIMIT);
        delete(&client, &run.writes).await;
        // The old primary replicates the new one now, which acknowledges writes again.
        assert!(
            run.acknowledged_by(&run.new) > 0,
            "the new primary {} acknowledged no write with its replica: {tally:?}",
            run.new
        );
    });
}

#[test]
fn killed_primary_under_load_fails_over_and_keeps_acknowledged_writes() {
    rt::block_on_multi(async {
        let Some(env) = sentinel_env() else { return };
        let restore = Restore::new(&env);
        healthy(&restore).await;
        let old = primary(&env);
        let watch = SwitchWatch::start(&env);
        let (client, observer) = observed_client(&env).await;
        let load = Load::start(&client, &key(&format!("sentinel:kill:{}", unique_run()))).await;
        rt::sleep(Duration::from_millis(500)).await;

        let fault_at = Instant::now();
        blocking({
            let (restore, old) = (restore.clone(), old.clone());
            move || restore.kill(&old)
        })
        .await;
        // The process is gone: nothing that starts from here can be answered by it.
        let gone_at = Instant::now();
        let switch = watch
            .first(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| {
                panic!("no sentinel published +switch-master within 30 s of killing {old}")
            });
        let new = switch.new.clone();
        sleep_until(switch.at + AFTER_SWITCH).await;

        // The old primary comes back empty, as a primary, until the sentinels make it a replica
        // of the new one (after about 8 s); the load goes on meanwhile, and must not follow it.
        blocking({
            let (restore, old) = (restore.clone(), old.clone());
            move || {
                restore.restart(&old);
                restore.wait_healthy();
            }
        })
        .await;
        let rejoined_ms = signed_ms(switch.at, Instant::now());
        // A few WAITs with the replica back.
        rt::sleep(Duration::from_millis(300)).await;
        let (writes, confirms) = load.finish().await;
        println!(
            "kill: +switch-master heard from {}; the old primary rejoined {rejoined_ms} ms after it",
            watch.spread(switch.at)
        );
        drop(watch);
        let values = read_back(&client, &writes).await;
        assert_eq!(primary(&env), new, "the sentinels name another primary");

        let run = Run {
            fault: "kill",
            protocol: env.protocol,
            old,
            new,
            fault_at,
            switch,
            writes,
            confirms,
            values,
            observer: &observer,
        };
        let tally = run.check(gone_at);
        delete(&client, &run.writes).await;
        // No primary for longer than a request's deadline: some requests must have said so.
        assert!(
            tally.kinds.contains_key("FailoverInProgress"),
            "no request failed with FailoverInProgress while there was no primary for {} ms: \
         {tally:?}",
            signed_ms(run.fault_at, run.switch.at)
        );
        // Once the old primary rejoined as its replica, the new one acknowledges writes again.
        assert!(
            run.acknowledged_by(&run.new) > 0,
            "the new primary {} acknowledged no write with its replica: {tally:?}",
            run.new
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Replica reads
// ---------------------------------------------------------------------------------------------

#[test]
fn replica_reads_are_answered_by_the_replica() {
    rt::block_on(async {
        let Some(env) = sentinel_env() else { return };
        let primary = primary(&env);
        let replica = other_server(&env, &primary);
        wait_sentinels_see_replica(&env, &primary, &replica).await;
        let observer = Arc::new(Observer::default());
        let mut config = sentinel_config(&env, "read_from=replica");
        config.hooks = Some(observer.clone());
        let c = connect(config).await;

        let k = key(&format!("sentinel:replica:{}", unique_run()));
        let () = c.set(&k, "from the primary").await.unwrap();
        // On the same connection as the SET, so it waits for it.
        let wait = Request::single(cmd("WAIT").arg(1).arg(2000));
        let replicas: i64 = client_core::frame_into(c.send(wait).await.unwrap()).unwrap();
        assert!(replicas >= 1, "WAIT 1 2000 answered {replicas}");
        assert_eq!(
            observer.set_server(&k).as_deref(),
            Some(primary.as_str()),
            "the write did not go to the primary"
        );

        // Reads go to the primary until `SENTINEL REPLICAS` has named a replica (ReadFrom's
        // documented fallback). That answer races the SET and WAIT above, and lost once on a
        // slow glommio cell in CI, so the reads wait for it.
        let listed = Instant::now();
        while !locked(&observer.read_replicas).contains(&replica) {
            assert!(
                listed.elapsed() < Duration::from_secs(5),
                "the client did not list the replica {replica} within 5 s: {:?}",
                locked(&observer.read_replicas)
            );
            rt::sleep(Duration::from_millis(10)).await;
        }
        let calls_before = command_calls(&replica, "get");
        let primary_before = command_calls(&primary, "get");
        for _ in 0..10 {
            let read: Option<String> = c.get(&k).await.unwrap();
            assert_eq!(read.as_deref(), Some("from the primary"), "GET {k}");
        }
        let served_by = observer.gets();
        let on_replica = command_calls(&replica, "get") - calls_before;
        let on_primary = command_calls(&primary, "get") - primary_before;
        assert!(
            served_by.iter().all(|s| s.as_deref() == Some(&replica)),
            "GET was answered by {served_by:?}, not by the replica {replica} (primary {primary})"
        );
        assert!(
            on_replica >= 10 && on_primary == 0,
            "the replica counted {on_replica} GETs and the primary {on_primary}, for 10 reads"
        );
        let _: i64 = c.del(&k).await.unwrap();
    });
}
