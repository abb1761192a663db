//! Redis Sentinel through the tokio adapter, against the real primary, replica and three
//! sentinels of the cell. Every client here is built from the env's `redis+sentinel://` URL:
//! it finds the primary through the sentinels and has to follow its failovers by itself.
//!
//! The fault tests put one client under load ([`TASKS`] tasks, each writing a new key again
//! and again), move the primary (`SENTINEL FAILOVER`, or SIGKILL of the primary), and check
//! what a user would notice: how soon after the sentinels announce `+switch-master` writes
//! reach the new primary, that every confirmed write is readable afterwards, and that every
//! request ended within its deadline, failing only with an error that says why.
//!
//! What "acknowledged" means. Redis replicates asynchronously: the old primary may acknowledge
//! a write its replica never receives (just before it dies, or while it still takes writes
//! after its replica was promoted), and Redis itself loses those, whatever the client does. So
//! each write is a pipeline `SET k v` + `WAIT 1 <ms>` on one connection: it is *acknowledged*
//! when `WAIT` counted a replica, and only *set* when `SET` answered `OK` but `WAIT` counted
//! none. Acknowledged writes must all be readable; set-only writes that were lost are
//! reported, and must all have been answered by the old primary.
//!
//! Every test returns early unless the topology is the sentinel one. The fault tests leave it
//! healthy, pass or fail ([`Heal`]), and print one line (see it with `--nocapture`):
//! `EVIDENCE sentinel fault=<failover|kill> protocol=<2|3> switch_ms=<n>
//! first_new_primary_write_ms_after_switch=<n> acknowledged=<n> lost=<n> set_only=<n>
//! set_only_lost=<n> failed=<n> failed_kinds=<Kind:n,...>`. `switch_ms` runs from the fault
//! (sending `SENTINEL FAILOVER`, or the kill) to the first `+switch-master` any sentinel
//! published; `first_new_primary_write_ms_after_switch` from that announcement to the end of
//! the first write the new primary answered (negative if it came first).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use client_core::frame_into;
use client_core::hooks::{Hooks, Outcome, RequestEnd};
use client_tokio::{Client, Commands, Config, Error, Frame, cmd};
use redwire_tests::{RawConn, Target, TestEnv, TopologyKind, is_timeout};
use tokio::task::JoinHandle;
use xtask::Faults;

use super::{key, kind, unique_run};

/// Load tasks, each with one request in flight at a time.
const TASKS: usize = 32;

/// The command timeout of the clients under load: shorter than the sentinels'
/// `down-after-milliseconds` (3 s), so that requests made while the primary is dead must fail.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How long each write's `WAIT 1` waits for the replica.
const WAIT_MS: u64 = 250;

/// How much later than its deadline a request may complete (scheduling on a busy machine).
const MARGIN: Duration = Duration::from_millis(500);

/// How soon after `+switch-master` writes must reach the new primary.
const SWITCH_LIMIT: Duration = Duration::from_secs(2);

/// How long the load goes on after the announcement.
const AFTER_SWITCH: Duration = Duration::from_millis(2500);

/// Errors a write may fail with while the primary moves, and why each is right:
/// - `FailoverInProgress`: it waited for a primary until its deadline and was not sent;
/// - `MayHaveExecuted`: it was in flight on the primary's connection when that dropped;
/// - `Server_READONLY`: the pipeline reached the old primary after the sentinels had made it a
///   replica, which refused it (the core resends only single commands, not pipelines).
const ALLOWED_FAILURES: [&str; 3] = ["FailoverInProgress", "MayHaveExecuted", "Server_READONLY"];

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
    Client::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connect through the sentinels: {e}"))
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs a blocking call off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Records, from the core's hooks, which server answered each write (by its key) and each
/// `GET`.
#[derive(Debug, Default)]
struct Observer {
    writes: Mutex<HashMap<String, String>>,
    gets: Mutex<Vec<Option<String>>>,
}

impl Observer {
    fn server_of(&self, key: &str) -> Option<String> {
        let writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        writes.get(key).cloned()
    }
}

impl Hooks for Observer {
    fn request_end(&self, request: &RequestEnd<'_>) {
        if !matches!(request.outcome, Outcome::Ok) {
            return;
        }
        let server = request.server.map(ToString::to_string);
        if request.operation.eq_ignore_ascii_case("GET") {
            self.gets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(server);
            return;
        }
        let first = request.commands.first();
        if request.operation.eq_ignore_ascii_case("PIPELINE")
            && first.is_some_and(|c| c.name().eq_ignore_ascii_case("SET"))
            && let (Some(key), Some(server)) = (first.and_then(|c| c.arg_bytes(1)), server)
        {
            let key = String::from_utf8_lossy(key).into_owned();
            self.writes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, server);
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
            tokio::time::sleep(Duration::from_millis(5)).await;
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

// ---------------------------------------------------------------------------------------------
// Healing the topology
// ---------------------------------------------------------------------------------------------

/// Puts the topology back when dropped, pass or fail: restarts a killed server, then waits
/// until the sentinels agree on a healthy primary whose replica is in sync, as the matrix's
/// health check between cells wants it. The fault calls go through it.
struct Heal {
    state: Mutex<HealState>,
}

struct HealState {
    faults: Faults,
    killed: Option<String>,
}

impl Heal {
    fn new(env: &TestEnv) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(HealState {
                faults: env.faults(),
                killed: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn kill(&self, node: &str) {
        let mut s = self.lock();
        s.killed = Some(node.to_owned());
        s.faults
            .kill(node)
            .unwrap_or_else(|e| panic!("kill {node}: {e}"));
    }

    fn restart(&self, node: &str) {
        let mut s = self.lock();
        s.faults
            .restart(node)
            .unwrap_or_else(|e| panic!("restart {node}: {e}"));
        s.killed = None;
    }

    fn sentinel_failover(&self) -> (String, String) {
        self.lock()
            .faults
            .sentinel_failover()
            .unwrap_or_else(|e| panic!("SENTINEL FAILOVER: {e}"))
    }

    fn wait_healthy(&self) {
        self.lock()
            .faults
            .wait_healthy()
            .unwrap_or_else(|e| panic!("the sentinel topology did not become healthy: {e}"));
    }
}

impl Drop for Heal {
    fn drop(&mut self) {
        let s = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut problems = Vec::new();
        if let Some(node) = s.killed.take()
            && let Err(e) = s.faults.restart(&node)
        {
            problems.push(format!("restart {node}: {e}"));
        }
        if let Err(e) = s.faults.wait_healthy() {
            problems.push(format!("wait until healthy: {e}"));
        }
        if !problems.is_empty() {
            let message = format!(
                "the sentinel topology was not healed: {}",
                problems.join("; ")
            );
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load: tasks writing new keys
// ---------------------------------------------------------------------------------------------

/// How one write ended.
#[derive(Debug)]
enum Ack {
    /// `SET` answered `OK` and `WAIT` counted a replica.
    Acknowledged,
    /// `SET` answered `OK`; `WAIT` counted no replica (or failed).
    SetOnly,
    /// The request failed, or `SET` answered an error: the kind and the message.
    Failed(String, String),
}

/// One `SET k v` + `WAIT 1` pipeline of a load task.
#[derive(Debug)]
struct Write {
    key: String,
    value: String,
    start: Instant,
    end: Instant,
    ack: Ack,
}

impl Write {
    fn succeeded(&self) -> bool {
        !matches!(self.ack, Ack::Failed(..))
    }
}

/// Shared by the load tasks and the test.
#[derive(Debug, Default)]
struct Load {
    stop: AtomicBool,
    /// Tasks that have had at least one write acknowledged.
    started: AtomicUsize,
}

impl Load {
    async fn wait_started(&self) {
        let start = Instant::now();
        while self.started.load(Ordering::Relaxed) < TASKS {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "only {} of {TASKS} load tasks got a write acknowledged in 10 s",
                self.started.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Sets `stop` when dropped, so load tasks end even when the test fails.
struct StopOnDrop(Arc<Load>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads a `SET` + `WAIT` pipeline's outcome.
fn ack_of(result: Result<Vec<Frame>, Error>) -> Ack {
    let frames = match result {
        Ok(frames) => frames,
        Err(e) => return Ack::Failed(kind(&e), e.to_string()),
    };
    let Some(set) = frames.first() else {
        return Ack::Failed("Empty".into(), format!("{frames:?}"));
    };
    match frame_into::<String>(set.clone()) {
        Ok(ok) if ok == "OK" => {}
        Ok(other) => return Ack::Failed("UnexpectedReply".into(), other),
        Err(e) => return Ack::Failed(kind(&e), e.to_string()),
    }
    match frames.get(1).map(|w| frame_into::<i64>(w.clone())) {
        Some(Ok(replicas)) if replicas >= 1 => Ack::Acknowledged,
        _ => Ack::SetOnly,
    }
}

/// `TASKS` tasks writing `SET <prefix>:<task>:<seq> <task>:<seq>` + `WAIT 1` until
/// `load.stop`, one at a time each.
fn spawn_load(client: &Client, prefix: &str, load: &Arc<Load>) -> Vec<JoinHandle<Vec<Write>>> {
    (0..TASKS)
        .map(|task| {
            let (client, load, prefix) = (client.clone(), load.clone(), prefix.to_owned());
            tokio::spawn(async move {
                let mut writes = Vec::new();
                let mut counted = false;
                for seq in 0u64.. {
                    if load.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("{prefix}:{task}:{seq}");
                    let value = format!("{task}:{seq}");
                    let start = Instant::now();
                    let pipe = client.pipeline();
                    pipe.set::<()>(&key, &value)
                        .cmd::<i64>(cmd("WAIT").arg(1).arg(WAIT_MS));
                    let ack = ack_of(pipe.run().await);
                    let end = Instant::now();
                    if matches!(ack, Ack::Acknowledged) && !counted {
                        counted = true;
                        load.started.fetch_add(1, Ordering::Relaxed);
                    }
                    let failed = matches!(ack, Ack::Failed(..));
                    writes.push(Write {
                        key,
                        value,
                        start,
                        end,
                        ack,
                    });
                    if failed {
                        // Do not spin on a client that fails fast.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                writes
            })
        })
        .collect()
}

/// Stops the load and collects every write. A task that does not end means a request future
/// that never completed.
async fn finish(load: &Load, tasks: Vec<JoinHandle<Vec<Write>>>) -> Vec<Write> {
    load.stop.store(true, Ordering::Relaxed);
    let mut writes = Vec::new();
    for task in tasks {
        let log = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("a load task did not end in 30 s: a request future never completed")
            .expect("a load task panicked");
        writes.extend(log);
    }
    writes
}

/// What each written key holds now (through the client, from the primary).
async fn read_back(client: &Client, writes: &[Write]) -> Vec<Option<String>> {
    let mut values = Vec::with_capacity(writes.len());
    for chunk in writes.chunks(500) {
        let keys: Vec<&str> = chunk.iter().map(|w| w.key.as_str()).collect();
        let read: Vec<Option<String>> = client
            .mget(keys.as_slice())
            .await
            .unwrap_or_else(|e| panic!("MGET of {} written keys: {e}", keys.len()));
        values.extend(read);
    }
    values
}

async fn delete(client: &Client, writes: &[Write]) {
    for chunk in writes.chunks(500) {
        let keys: Vec<&str> = chunk.iter().map(|w| w.key.as_str()).collect();
        let _: Result<i64, Error> = client.del(keys.as_slice()).await;
    }
}

/// Counts of a load run.
#[derive(Debug, Default)]
struct Tally {
    acknowledged: usize,
    /// Acknowledged and not readable.
    lost: usize,
    set_only: usize,
    set_only_lost: usize,
    /// Set-only writes lost that the old primary had not answered: not Redis's doing.
    set_only_lost_elsewhere: Vec<String>,
    failed: usize,
    kinds: BTreeMap<String, usize>,
    /// The first error of each kind, as the caller reads it.
    first: BTreeMap<String, String>,
    /// A few lost writes, for failure messages.
    examples: Vec<String>,
}

impl Tally {
    fn of(writes: &[Write], values: &[Option<String>], observer: &Observer, old: &str) -> Self {
        let mut tally = Self::default();
        for (write, value) in writes.iter().zip(values) {
            let present = value.as_deref() == Some(write.value.as_str());
            let server = observer.server_of(&write.key);
            match &write.ack {
                Ack::Acknowledged => {
                    tally.acknowledged += 1;
                    if !present {
                        tally.lost += 1;
                        if tally.examples.len() < 10 {
                            tally
                                .examples
                                .push(format!("{} acknowledged by {server:?}", write.key));
                        }
                    }
                }
                Ack::SetOnly => {
                    tally.set_only += 1;
                    if !present {
                        tally.set_only_lost += 1;
                        if server.as_deref() != Some(old) {
                            tally
                                .set_only_lost_elsewhere
                                .push(format!("{} set by {server:?}", write.key));
                        }
                    }
                }
                Ack::Failed(kind, message) => {
                    tally.failed += 1;
                    *tally.kinds.entry(kind.clone()).or_default() += 1;
                    tally
                        .first
                        .entry(kind.clone())
                        .or_insert_with(|| message.clone());
                }
            }
        }
        tally
    }

    fn kinds(&self) -> String {
        self.kinds
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Milliseconds from `from` to `to`, negative when `to` came first.
fn signed_ms(from: Instant, to: Instant) -> i128 {
    if to >= from {
        (to - from).as_millis() as i128
    } else {
        -((from - to).as_millis() as i128)
    }
}

/// What one fault test measured, checked the same way for both faults.
struct Run<'a> {
    fault: &'a str,
    protocol: u8,
    old: String,
    new: String,
    fault_at: Instant,
    switch: Announcement,
    writes: Vec<Write>,
    values: Vec<Option<String>>,
    observer: &'a Observer,
}

impl Run<'_> {
    /// Writes a replica confirmed that `server` answered.
    fn acknowledged_by(&self, server: &str) -> usize {
        self.writes
            .iter()
            .filter(|w| matches!(w.ack, Ack::Acknowledged) && self.answered_by(w, server))
            .count()
    }

    /// Whether `write` succeeded and `server` answered it.
    fn answered_by(&self, write: &Write, server: &str) -> bool {
        write.succeeded() && self.observer.server_of(&write.key).as_deref() == Some(server)
    }

    /// Prints the evidence, then asserts what the module documentation promises.
    /// `old_answers_from`: writes that started after it must not be answered by the old
    /// primary.
    fn check(&self, old_answers_from: Instant) -> Tally {
        let tally = Tally::of(&self.writes, &self.values, self.observer, &self.old);
        let first_new = self
            .writes
            .iter()
            .filter(|w| self.answered_by(w, &self.new))
            .map(|w| w.end)
            .min();
        let first_new_ms = first_new.map(|at| signed_ms(self.switch.at, at));
        let switch_ms = signed_ms(self.fault_at, self.switch.at);
        println!(
            "EVIDENCE sentinel fault={} protocol={} switch_ms={switch_ms} \
             first_new_primary_write_ms_after_switch={} acknowledged={} lost={} set_only={} \
             set_only_lost={} failed={} failed_kinds={}",
            self.fault,
            self.protocol,
            first_new_ms.map_or_else(|| "none".to_owned(), |ms| ms.to_string()),
            tally.acknowledged,
            tally.lost,
            tally.set_only,
            tally.set_only_lost,
            tally.failed,
            tally.kinds()
        );
        let old_late: Vec<String> = self
            .writes
            .iter()
            .filter(|w| self.answered_by(w, &self.old))
            .filter(|w| w.start >= old_answers_from)
            .take(10)
            .map(|w| format!("{} at +{}ms", w.key, signed_ms(self.switch.at, w.end)))
            .collect();
        let old_after_switch = self
            .writes
            .iter()
            .filter(|w| self.answered_by(w, &self.old))
            .filter(|w| w.start >= self.switch.at)
            .count();
        let unknown = self
            .writes
            .iter()
            .filter(|w| w.succeeded() && self.observer.server_of(&w.key).is_none())
            .count();
        println!(
            "{}: {} -> {} (announced first by {}); {} writes; answered by the old primary after \
             the announcement: {old_after_switch}; successes with no server in the hooks: \
             {unknown}",
            self.fault,
            self.old,
            self.new,
            self.switch.sentinel,
            self.writes.len()
        );
        for (kind, message) in &tally.first {
            println!("{}: first {kind}: {message}", self.fault);
        }

        let late: Vec<String> = self
            .writes
            .iter()
            .filter(|w| w.end - w.start > TIMEOUT + MARGIN)
            .take(10)
            .map(|w| format!("{} took {:?}: {:?}", w.key, w.end - w.start, w.ack))
            .collect();
        assert!(late.is_empty(), "requests past their deadline: {late:?}");
        let unclear: Vec<String> = self
            .writes
            .iter()
            .filter_map(|w| match &w.ack {
                Ack::Failed(kind, message) if !ALLOWED_FAILURES.contains(&kind.as_str()) => {
                    Some(format!("{} {kind}: {message}", w.key))
                }
                _ => None,
            })
            .take(10)
            .collect();
        assert!(
            unclear.is_empty(),
            "errors other than {ALLOWED_FAILURES:?}: {unclear:?}"
        );
        assert_eq!(
            self.switch.old, self.old,
            "+switch-master names another old primary"
        );
        assert_eq!(
            self.switch.new, self.new,
            "+switch-master names another new primary"
        );
        let first_new_ms = first_new_ms.unwrap_or_else(|| {
            panic!(
                "no write reached the new primary {} in the {AFTER_SWITCH:?} after +switch-master",
                self.new
            )
        });
        assert!(
            first_new_ms <= SWITCH_LIMIT.as_millis() as i128,
            "writes reached the new primary {} only {first_new_ms} ms after +switch-master",
            self.new
        );
        assert!(
            old_late.is_empty(),
            "the old primary {} still answered writes that started {} ms after \
             +switch-master: {old_late:?}",
            self.old,
            signed_ms(self.switch.at, old_answers_from)
        );
        assert_eq!(
            tally.lost, 0,
            "acknowledged writes (a replica had them) are gone: {:?}",
            tally.examples
        );
        assert!(
            tally.set_only_lost_elsewhere.is_empty(),
            "set-only writes lost that the old primary had not answered: {:?}",
            &tally.set_only_lost_elsewhere[..tally.set_only_lost_elsewhere.len().min(10)]
        );
        tally
    }
}

/// Waits until `deadline`.
async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
}

// ---------------------------------------------------------------------------------------------
// Faults under load
// ---------------------------------------------------------------------------------------------

/// A client under load for a fault test, with its observer, and the `+switch-master` watch.
async fn loaded_client(
    env: &TestEnv,
    fault: &str,
) -> (
    Client,
    Arc<Observer>,
    SwitchWatch,
    Arc<Load>,
    Vec<JoinHandle<Vec<Write>>>,
) {
    let observer = Arc::new(Observer::default());
    let mut config = sentinel_config(env, "");
    config.timeouts.command = TIMEOUT;
    config.timeouts.connect = Duration::from_secs(1);
    config.hooks = Some(observer.clone());
    let watch = SwitchWatch::start(env);
    let client = connect(config).await;
    let load = Arc::new(Load::default());
    let prefix = key(&format!("sentinel:{fault}:{}", unique_run()));
    let tasks = spawn_load(&client, &prefix, &load);
    load.wait_started().await;
    // Long enough that the replica has every write acknowledged before the fault.
    tokio::time::sleep(Duration::from_millis(500)).await;
    (client, observer, watch, load, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_under_load_moves_writes_to_the_new_primary_and_keeps_acknowledged_ones() {
    let Some(env) = sentinel_env() else { return };
    let heal = Heal::new(&env);
    blocking({
        let heal = heal.clone();
        move || heal.wait_healthy()
    })
    .await;
    let before = primary(&env);
    let (client, observer, watch, load, tasks) = loaded_client(&env, "failover").await;
    let _stop = StopOnDrop(load.clone());

    let fault_at = Instant::now();
    let (old, new) = blocking({
        let heal = heal.clone();
        move || heal.sentinel_failover()
    })
    .await;
    assert_eq!(old, before, "the primary moved before the test's failover");
    let switch = watch
        .first(Duration::from_secs(10))
        .await
        .expect("no sentinel published +switch-master within 10 s of the failover");
    sleep_until(switch.at + AFTER_SWITCH).await;
    let writes = finish(&load, tasks).await;
    let spread = watch.spread(switch.at);
    drop(watch);
    let values = read_back(&client, &writes).await;
    println!("failover: +switch-master heard from {spread}");

    let run = Run {
        fault: "failover",
        protocol: env.protocol,
        old,
        new,
        fault_at,
        switch: switch.clone(),
        writes,
        values,
        observer: &observer,
    };
    // The old primary takes writes until it is made a replica; the client has as long as
    // writes have to reach the new primary to stop sending it any.
    let tally = run.check(switch.at + SWITCH_LIMIT);
    delete(&client, &run.writes).await;
    // Once the old primary replicates the new one, writes are acknowledged again.
    assert!(
        run.acknowledged_by(&run.new) > 0,
        "the new primary {} acknowledged no write with its replica: {tally:?}",
        run.new
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_primary_under_load_fails_over_and_keeps_acknowledged_writes() {
    let Some(env) = sentinel_env() else { return };
    let heal = Heal::new(&env);
    blocking({
        let heal = heal.clone();
        move || heal.wait_healthy()
    })
    .await;
    let old = primary(&env);
    let (client, observer, watch, load, tasks) = loaded_client(&env, "kill").await;
    let _stop = StopOnDrop(load.clone());

    let fault_at = Instant::now();
    blocking({
        let (heal, old) = (heal.clone(), old.clone());
        move || heal.kill(&old)
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
        let (heal, old) = (heal.clone(), old.clone());
        move || {
            heal.restart(&old);
            heal.wait_healthy();
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writes = finish(&load, tasks).await;
    let spread = watch.spread(switch.at);
    drop(watch);
    let values = read_back(&client, &writes).await;
    println!(
        "kill: +switch-master heard from {spread}; the old primary rejoined {} ms after it",
        signed_ms(switch.at, Instant::now())
    );
    assert_eq!(primary(&env), new, "the sentinels name another primary");

    let run = Run {
        fault: "kill",
        protocol: env.protocol,
        old,
        new,
        fault_at,
        switch,
        writes,
        values,
        observer: &observer,
    };
    let tally = run.check(gone_at);
    delete(&client, &run.writes).await;
    // No primary for longer than a request's deadline: some must have said so.
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
}

// ---------------------------------------------------------------------------------------------
// Replica reads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn replica_reads_are_answered_by_the_replica() {
    let Some(env) = sentinel_env() else { return };
    let primary = primary(&env);
    let replica = other_server(&env, &primary);
    wait_sentinels_see_replica(&env, &primary, &replica).await;
    let observer = Arc::new(Observer::default());
    let mut config = sentinel_config(&env, "read_from=replica");
    config.hooks = Some(observer.clone());
    let c = connect(config).await;

    let k = key(&format!("sentinel:replica:{}", unique_run()));
    let pipe = c.pipeline();
    pipe.set::<()>(&k, "from the primary")
        .cmd::<i64>(cmd("WAIT").arg(1).arg(2000));
    let ((), replicas): ((), i64) = pipe.run().await.unwrap();
    assert!(replicas >= 1, "WAIT 1 2000 answered {replicas}");
    assert_eq!(
        observer.server_of(&k).as_deref(),
        Some(primary.as_str()),
        "the write did not go to the primary"
    );

    let calls_before = command_calls(&replica, "get");
    let primary_before = command_calls(&primary, "get");
    for _ in 0..10 {
        let read: Option<String> = c.get(&k).await.unwrap();
        assert_eq!(read.as_deref(), Some("from the primary"), "GET {k}");
    }
    let served_by = observer
        .gets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
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
}
