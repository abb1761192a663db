//! Redis Cluster through the runtime's adapter, against the real 3+3 cluster of the cell.
//!
//! The correctness tests check what the cluster router promises: multi-key commands split
//! per slot and answered in the caller's order, pipelines across every primary, fan-out,
//! transactions confined to one slot (refused before sending otherwise), `WATCH` on an
//! exclusive connection, `scan_cluster` and replica reads. The fault tests put the client
//! under load (64 tasks each pushing its own ids to its own list) while slots migrate, a
//! primary is killed, or a primary is paused, then count every acknowledged id.
//!
//! Every test returns early unless the topology is the cluster. The fault tests leave the
//! cluster as they found it, pass or fail ([`Restore`]), and print one line
//! `EVIDENCE cluster fault=<reshard|kill|pause> protocol=<2|3> recovery_ms=<n> acked=<n>
//! lost=<n> duplicated=<n> failed=<n> failed_kinds=<Kind:n,...>` (see it with `--nocapture`).
//! `recovery_ms` is, for `kill`, from the kill to the first successful write to that shard
//! that started after the process was gone; for `pause`, from the resume to the first
//! successful write to that shard that started after it; for `reshard`, where nothing has to
//! recover, the longest any single push took while the slots moved. `failed_kinds` is empty
//! when nothing failed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use client_core::hooks::{Hooks, RequestEnd};
use client_core::{ReadFrom, RequestId, ServerAddr, frame_into, key_slot};
use redwire_tests::{RawConn, Target, TestEnv, TopologyKind};
use xtask::{SlotView, parse_nodes};

use super::restore::{Restore, blocking};
use super::{key, kind, unique_run};
use crate::rt::{
    self, Client, Commands, Config, Error, Frame, JoinHandle, Request, RequestError, cmd,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The environment, when the topology is the cluster.
fn cluster_env() -> Option<TestEnv> {
    let env = TestEnv::load();
    (env.topology == TopologyKind::Cluster).then_some(env)
}

/// `redis://h:p` -> `h:p`.
fn addr_of(url: &str) -> &str {
    url.trim_start_matches("redis://").trim_end_matches('/')
}

/// A cluster configuration seeded with every node of the env, in the cell's protocol.
pub(super) fn cluster_config(env: &TestEnv) -> Config {
    let hosts: Vec<&str> = env.cluster_nodes.iter().map(|u| addr_of(u)).collect();
    let url = format!("redis+cluster://{}", hosts.join(","));
    let mut config = Config::from_url(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    config.protocol = env.resp_protocol();
    config
}

async fn connect(config: Config) -> Client {
    super::connect_or_fail(config, "to the cluster").await
}

/// The slot map as the first reachable node sees it (`CLUSTER NODES`). Never ask while a
/// node is paused: the raw connection would wait for it.
pub(super) fn topology(env: &TestEnv) -> SlotView {
    for url in &env.cluster_nodes {
        let Ok(mut conn) = RawConn::try_connect(&Target::parse_addr(addr_of(url)), None) else {
            continue;
        };
        let text = conn.request(&["CLUSTER", "NODES"]).text();
        return SlotView::from_nodes(&parse_nodes(&text));
    }
    panic!("no cluster node answers: {:?}", env.cluster_nodes)
}

/// The primaries that own slots, sorted.
pub(super) fn primaries(view: &SlotView) -> Vec<String> {
    let mut primaries: Vec<String> = view.ranges.iter().map(|r| r.2.clone()).collect();
    primaries.sort();
    primaries.dedup();
    assert_eq!(
        primaries.len(),
        3,
        "expected 3 primaries: {:?}",
        view.ranges
    );
    primaries
}

/// The owner of `key`'s slot.
fn owner<'v>(view: &'v SlotView, key: &str) -> &'v str {
    let slot = key_slot(key.as_bytes());
    view.owner(slot)
        .unwrap_or_else(|| panic!("slot {slot} of {key} has no owner"))
}

/// One key per load task (64), spread over the primaries `p` in turn, each with whether it
/// lives on `victim`.
fn keys_per_task(view: &SlotView, p: &[String], victim: &str, name: &str) -> Vec<(String, bool)> {
    (0..64)
        .map(|t| {
            let node = &p[t % p.len()];
            let k = keys_on(view, node, &key(&format!("{name}:{t}")), 1).remove(0);
            (k, node == victim)
        })
        .collect()
}

/// The first `n` keys `{prefix}:{i}` whose slot `primary` owns.
fn keys_on(view: &SlotView, primary: &str, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| owner(view, k) == primary)
        .take(n)
        .collect()
}

/// The client-side address of a `host:port`.
fn server(addr: &str) -> ServerAddr {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    Config::new(host, port.parse().expect("a port")).server
}

/// A command sent to one node, whatever its keys or routing policy say.
async fn on_node<T: client_core::FromValue>(
    client: &Client,
    addr: &str,
    command: client_core::Command,
) -> T {
    let reply = client
        .send(Request::single(command).to_server(server(addr)))
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    frame_into(reply).unwrap_or_else(|e| panic!("{addr}: {e}"))
}

/// `calls` of `cmdstat_<command>` in the `INFO commandstats` of the node at `addr` (a raw
/// connection, so the count does not include the asking).
fn command_calls(addr: &str, command: &str) -> u64 {
    let mut conn = RawConn::connect(&Target::parse_addr(addr), None);
    let text = conn.request(&["INFO", "commandstats"]).text();
    let prefix = format!("cmdstat_{command}:calls=");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// `master` or `slave`, from `ROLE` at `addr`.
fn role(addr: &str) -> String {
    let mut conn = RawConn::connect(&Target::parse_addr(addr), None);
    let reply = conn.request(&["ROLE"]);
    reply
        .items()
        .and_then(|items| items.first())
        .map(|first| first.text())
        .unwrap_or_else(|| panic!("ROLE at {addr} answered {reply:?}"))
}

/// Records what the core reports: redirections by code, and the server of every `GET`.
#[derive(Debug, Default)]
struct Observer {
    redirects: Mutex<BTreeMap<String, usize>>,
    gets: Mutex<Vec<Option<String>>>,
}

impl Observer {
    fn redirects(&self, code: &str) -> usize {
        let map = self
            .redirects
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(code).copied().unwrap_or(0)
    }
}

impl Hooks for Observer {
    fn redirected(&self, _request: RequestId, _from: &ServerAddr, reply: &str) {
        let code = reply
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut map = self
            .redirects
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *map.entry(code).or_default() += 1;
    }

    fn request_end(&self, request: &RequestEnd<'_>) {
        if request.operation.eq_ignore_ascii_case("GET") {
            let server = request.server.map(ToString::to_string);
            self.gets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(server);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load: tasks pushing their own ids
// ---------------------------------------------------------------------------------------------

/// One `RPUSH` of a load task.
#[derive(Debug)]
struct Push {
    id: String,
    start: Instant,
    end: Instant,
    error: Option<Error>,
}

/// What one load task did, on its own list.
#[derive(Debug)]
struct TaskLog {
    key: String,
    /// Whether the list lives on the shard the fault hits.
    on_victim: bool,
    pushes: Vec<Push>,
}

/// Shared by the load tasks and the test.
#[derive(Debug, Default)]
struct Load {
    stop: AtomicBool,
    /// Tasks that have had at least one push acknowledged.
    started: AtomicUsize,
    /// From when a success on the victim shard counts as recovery.
    mark: OnceLock<Instant>,
    /// When the first push on the victim shard that started after `mark` succeeded.
    recovered: Mutex<Option<Instant>>,
}

impl Load {
    fn recovered(&self) -> Option<Instant> {
        *self
            .recovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn wait_started(&self, tasks: usize) {
        super::wait_for_tasks(|| self.started.load(Ordering::Relaxed), tasks).await;
    }

    /// Waits until a push on the victim shard started after `mark` succeeded.
    async fn wait_recovered(&self, limit: Duration) -> Option<Instant> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(at) = self.recovered() {
                return Some(at);
            }
            rt::sleep(Duration::from_millis(10)).await;
        }
        None
    }
}

/// Sets `stop` when dropped, so load tasks end even when the test fails.
struct StopOnDrop(Arc<Load>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// One task per `(key, on_victim)`: `RPUSH key "<task>:<seq>"` with seq 0, 1, 2, ... until
/// `load.stop`, one at a time.
fn spawn_load(
    client: &Client,
    keys: Vec<(String, bool)>,
    load: &Arc<Load>,
) -> Vec<JoinHandle<TaskLog>> {
    keys.into_iter()
        .enumerate()
        .map(|(task, (key, on_victim))| {
            let (client, load) = (client.clone(), load.clone());
            rt::spawn(async move {
                let mut pushes = Vec::new();
                let mut seq = 0u64;
                let mut counted = false;
                while !load.stop.load(Ordering::Relaxed) {
                    let id = format!("{task}:{seq}");
                    seq += 1;
                    let start = Instant::now();
                    let result: Result<i64, Error> = client.rpush(&key, &id).await;
                    let end = Instant::now();
                    let error = result.err();
                    if error.is_none() {
                        if !counted {
                            counted = true;
                            load.started.fetch_add(1, Ordering::Relaxed);
                        }
                        if on_victim && load.mark.get().is_some_and(|&mark| start >= mark) {
                            let mut recovered = load
                                .recovered
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner);
                            recovered.get_or_insert(end);
                        }
                    }
                    let failed = error.is_some();
                    pushes.push(Push {
                        id,
                        start,
                        end,
                        error,
                    });
                    if failed {
                        // Do not spin on a shard that fails fast.
                        rt::sleep(Duration::from_millis(20)).await;
                    }
                }
                TaskLog {
                    key,
                    on_victim,
                    pushes,
                }
            })
        })
        .collect()
}

/// Stops the load and collects every task's log. A task that does not end means a request
/// future that never completed.
async fn finish(load: &Load, tasks: Vec<JoinHandle<TaskLog>>) -> Vec<TaskLog> {
    load.stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for task in tasks {
        let log = rt::timeout(Duration::from_secs(30), task)
            .await
            .expect("a load task did not end in 30 s: a request future never completed")
            .expect("a load task panicked");
        logs.push(log);
    }
    logs
}

/// How often each id is in each task's list now.
async fn list_contents(client: &Client, logs: &[TaskLog]) -> Vec<Vec<String>> {
    let mut lists = Vec::new();
    for log in logs {
        let list: Vec<String> = client
            .lrange(&log.key, 0, -1)
            .await
            .unwrap_or_else(|e| panic!("LRANGE {}: {e}", log.key));
        lists.push(list);
    }
    lists
}

/// Counts of a load run (or of the pushes `filter` selects).
#[derive(Debug, Default)]
struct Tally {
    acked: usize,
    /// Acknowledged, and not in the list.
    lost: usize,
    /// In the list more than once (acknowledged or not).
    duplicated: usize,
    failed: usize,
    kinds: BTreeMap<String, usize>,
    /// The first error of each kind, as the caller reads it.
    first: BTreeMap<String, String>,
    /// List entries no push of that task wrote.
    strays: usize,
    /// A few examples, for failure messages.
    examples: Vec<String>,
}

impl Tally {
    fn of(
        logs: &[TaskLog],
        lists: &[Vec<String>],
        filter: impl Fn(&TaskLog, &Push) -> bool,
    ) -> Self {
        let mut tally = Self::default();
        for (log, list) in logs.iter().zip(lists) {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for id in list {
                *counts.entry(id.as_str()).or_default() += 1;
            }
            let issued: HashSet<&str> = log.pushes.iter().map(|p| p.id.as_str()).collect();
            tally.strays += counts.keys().filter(|id| !issued.contains(*id)).count();
            for push in log.pushes.iter().filter(|p| filter(log, p)) {
                let present = counts.get(push.id.as_str()).copied().unwrap_or(0);
                match &push.error {
                    None => {
                        tally.acked += 1;
                        if present == 0 {
                            tally.lost += 1;
                            tally.example(format!("{} lost {}", log.key, push.id));
                        }
                    }
                    Some(error) => {
                        tally.failed += 1;
                        *tally.kinds.entry(kind(error)).or_default() += 1;
                        tally
                            .first
                            .entry(kind(error))
                            .or_insert_with(|| error.to_string());
                    }
                }
                if present > 1 {
                    tally.duplicated += 1;
                    tally.example(format!("{} holds {} {present} times", log.key, push.id));
                }
            }
        }
        tally
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < 10 {
            self.examples.push(text);
        }
    }

    fn kinds(&self) -> String {
        self.kinds
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn evidence(fault: &str, protocol: u8, recovery: Duration, tally: &Tally) {
    println!(
        "EVIDENCE cluster fault={fault} protocol={protocol} recovery_ms={} acked={} lost={} \
         duplicated={} failed={} failed_kinds={}",
        recovery.as_millis(),
        tally.acked,
        tally.lost,
        tally.duplicated,
        tally.failed,
        tally.kinds()
    );
}

/// Pushes that took longer than `limit`, described.
fn over(logs: &[TaskLog], limit: Duration) -> Vec<String> {
    logs.iter()
        .flat_map(|log| {
            log.pushes.iter().filter_map(move |p| {
                let took = p.end - p.start;
                (took > limit).then(|| format!("{} {} took {took:?}: {:?}", log.key, p.id, p.error))
            })
        })
        .collect()
}

/// Errors of the pushes `filter` selects, described (at most 10).
fn errors(logs: &[TaskLog], filter: impl Fn(&TaskLog, &Push) -> bool) -> Vec<String> {
    logs.iter()
        .flat_map(|log| log.pushes.iter().map(move |p| (log, p)))
        .filter(|(log, p)| p.error.is_some() && filter(log, p))
        .take(10)
        .map(|(log, p)| format!("{} {}: {}", log.key, p.id, p.error.as_ref().unwrap()))
        .collect()
}

async fn delete_lists(client: &Client, logs: &[TaskLog]) {
    for log in logs {
        let _: Result<i64, Error> = client.del(&log.key).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Routing, splitting, fan-out
// ---------------------------------------------------------------------------------------------

#[test]
fn multi_key_commands_across_slots_answer_in_the_callers_order() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let prefix = key(&format!("cluster:multi:{run}"));
        // Three keys on each primary, interleaved: neighbours never share a node.
        let per: Vec<Vec<String>> = p.iter().map(|n| keys_on(&view, n, &prefix, 4)).collect();
        let keys: Vec<String> = (0..3)
            .flat_map(|i| per.iter().map(move |k| k[i].clone()))
            .collect();
        let missing = per[1][3].clone();
        let c = connect(cluster_config(&env)).await;

        // MSET across slots; a key given twice keeps its later value, as on one server.
        let mut pairs: Vec<(String, String)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), format!("v{i}")))
            .collect();
        pairs.push((keys[0].clone(), "v0-again".to_owned()));
        let _: () = c.mset(&pairs).await.unwrap();
        let mut expected: HashMap<&str, String> = HashMap::new();
        for (k, v) in &pairs {
            expected.insert(k.as_str(), v.clone());
        }

        // MGET in the caller's order, with a missing key and a repeated one.
        let order: Vec<String> = [4, 0, 8, 4, 1, 7, 2, 6, 3, 5]
            .iter()
            .map(|&i| keys[i].clone())
            .chain([missing.clone()])
            .chain([keys[0].clone()])
            .collect();
        let got: Vec<Option<String>> = c.mget(order.as_slice()).await.unwrap();
        let want: Vec<Option<String>> = order
            .iter()
            .map(|k| expected.get(k.as_str()).cloned())
            .collect();
        assert_eq!(got, want, "MGET {order:?}");

        // EXISTS counts every occurrence, as on one server; TOUCH counts the existing keys.
        let exists: i64 = c.exists(order.as_slice()).await.unwrap();
        assert_eq!(exists, (order.len() - 1) as i64, "EXISTS {order:?}");
        let mut touch = keys.clone();
        touch.push(missing.clone());
        let touched: i64 = c.touch(touch.as_slice()).await.unwrap();
        assert_eq!(touched, keys.len() as i64);

        // DEL with a repeated and a missing key deletes each existing key once.
        let del = [
            keys[2].clone(),
            keys[5].clone(),
            missing.clone(),
            keys[2].clone(),
            keys[7].clone(),
        ];
        let deleted: i64 = c.del(del.as_slice()).await.unwrap();
        assert_eq!(deleted, 3, "DEL {del:?}");
        let after: Vec<Option<String>> = c.mget(keys.as_slice()).await.unwrap();
        for (k, v) in keys.iter().zip(&after) {
            let gone = del.contains(k);
            assert_eq!(v.is_none(), gone, "{k} after DEL: {v:?}");
        }
        let rest: Vec<String> = keys.iter().filter(|k| !del.contains(k)).cloned().collect();
        let unlinked: i64 = c.unlink(rest.as_slice()).await.unwrap();
        assert_eq!(unlinked, rest.len() as i64);
        assert_eq!(c.exists::<i64>(keys.as_slice()).await.unwrap(), 0);
    });
}

#[test]
fn pipeline_across_every_primary_answers_in_order_with_errors_in_place() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let prefix = key(&format!("cluster:pipe:{run}"));
        let a = keys_on(&view, &p[0], &prefix, 1).remove(0);
        let b = keys_on(&view, &p[1], &prefix, 1).remove(0);
        let (c_key, missing) = {
            let mut two = keys_on(&view, &p[2], &prefix, 2);
            (two.remove(0), two.remove(0))
        };
        let c = connect(cluster_config(&env)).await;

        let pipe = c.pipeline();
        pipe.set::<()>(&a, 1)
            .set::<()>(&b, 10)
            .set::<()>(&c_key, "text")
            .incr::<i64>(&a)
            .get::<String>(&b)
            .incr::<i64>(&c_key)
            .mget::<Vec<Option<String>>>([&c_key, &missing, &a])
            .incr::<i64>(&b)
            .get::<String>(&c_key)
            .echo::<String>("end")
            .exists::<i64>([&a, &b, &c_key, &missing]);
        let frames: Vec<Frame> = pipe.run().await.unwrap();
        assert_eq!(frames.len(), 11, "{frames:?}");
        let text = |i: usize| {
            frame_into::<String>(frames[i].clone())
                .unwrap_or_else(|e| panic!("reply {i}: {e}: {frames:?}"))
        };
        let int = |i: usize| {
            frame_into::<i64>(frames[i].clone())
                .unwrap_or_else(|e| panic!("reply {i}: {e}: {frames:?}"))
        };
        for i in 0..3 {
            assert_eq!(text(i), "OK", "reply {i}: {frames:?}");
        }
        assert_eq!(int(3), 2);
        assert_eq!(text(4), "10");
        assert!(
            frames[5].is_error(),
            "INCR of a string answered {:?}",
            frames[5]
        );
        assert_eq!(
            frame_into::<Vec<Option<String>>>(frames[6].clone()).unwrap(),
            [Some("text".to_owned()), None, Some("2".to_owned())]
        );
        assert_eq!(int(7), 11);
        assert_eq!(text(8), "text");
        assert_eq!(text(9), "end");
        assert_eq!(int(10), 3);

        // Typed, the same pipeline shape converts as a tuple.
        let pipe = c.pipeline();
        pipe.get::<String>(&a)
            .get::<String>(&b)
            .get::<String>(&c_key)
            .del::<i64>([&a, &b, &c_key]);
        let (ra, rb, rc, deleted): (String, String, String, i64) = pipe.run().await.unwrap();
        assert_eq!(
            (ra.as_str(), rb.as_str(), rc.as_str(), deleted),
            ("2", "11", "text", 3)
        );
    });
}

#[test]
fn pipeline_runs_the_commands_on_one_key_in_pipeline_order() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let prefix = key(&format!("cluster:pipe-order:{run}"));
        let a = keys_on(&view, &p[0], &prefix, 1).remove(0);
        let b = keys_on(&view, &p[1], &prefix, 1).remove(0);
        let c = connect(cluster_config(&env)).await;

        // On one server each command sees exactly the effects of the commands before it. The
        // cross-slot MGETs are split; their parts must still run where they stand in the pipeline.
        let pipe = c.pipeline();
        pipe.set::<()>(&a, 1)
            .mget::<Vec<Option<String>>>([&a, &b])
            .incr::<i64>(&a)
            .set::<()>(&b, "x")
            .mget::<Vec<Option<String>>>([&a, &b]);
        let replies: ((), Vec<Option<String>>, i64, (), Vec<Option<String>>) =
            pipe.run().await.unwrap();
        let _: i64 = c.del([&a, &b]).await.unwrap();
        assert_eq!(
            replies.1,
            [Some("1".to_owned()), None],
            "the first MGET saw the effects of later commands: {replies:?}"
        );
        assert_eq!(replies.2, 2);
        assert_eq!(
            replies.4,
            [Some("2".to_owned()), Some("x".to_owned())],
            "{replies:?}"
        );
    });
}

#[test]
fn dbsize_is_the_sum_over_the_primaries() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let prefix = key(&format!("cluster:dbsize:{run}"));
        let keys: Vec<String> = p
            .iter()
            .flat_map(|n| keys_on(&view, n, &prefix, 5))
            .collect();
        let c = connect(cluster_config(&env)).await;
        let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "x")).collect();
        let _: () = c.mset(&pairs).await.unwrap();

        let mut per_node = Vec::new();
        for node in &p {
            per_node.push(on_node::<i64>(&c, node, cmd("DBSIZE")).await);
        }
        let total: i64 = c.dbsize().await.unwrap();
        let mut again = Vec::new();
        for node in &p {
            again.push(on_node::<i64>(&c, node, cmd("DBSIZE")).await);
        }
        let _: i64 = c.del(keys.as_slice()).await.unwrap();
        assert_eq!(per_node, again, "the key counts changed meanwhile");
        assert!(per_node.iter().all(|&n| n >= 5), "{p:?}: {per_node:?}");
        assert_eq!(
            total,
            per_node.iter().sum::<i64>(),
            "DBSIZE through the client vs the primaries {p:?}: {per_node:?}"
        );
    });
}

#[test]
fn transaction_in_one_slot_runs_and_one_across_slots_fails_before_sending() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let c = connect(cluster_config(&env)).await;

        // One hash tag: one slot, one node.
        let tag = format!("{{{}}}", key(&format!("cluster:tx:{run}")));
        let (n, s) = (format!("{tag}:n"), format!("{tag}:s"));
        let tx = c.transaction();
        tx.incr::<i64>(&n)
            .incr_by::<i64>(&n, 10)
            .set::<()>(&s, "x")
            .get::<String>(&s);
        let (one, eleven, (), x): (i64, i64, (), String) = tx.run().await.unwrap();
        assert_eq!((one, eleven, x.as_str()), (1, 11, "x"));
        let _: i64 = c.del([&n, &s]).await.unwrap();

        // Keys on two primaries: refused by the client, nothing reaches a server.
        let prefix = key(&format!("cluster:tx-cross:{run}"));
        let x = keys_on(&view, &p[0], &prefix, 1).remove(0);
        let y = keys_on(&view, &p[1], &prefix, 1).remove(0);
        let _: () = c.mset(&[(&x, "before"), (&y, "before")]).await.unwrap();
        let multi_before: Vec<u64> = p.iter().map(|n| command_calls(n, "multi")).collect();
        let tx = c.transaction();
        tx.set::<()>(&x, "after").set::<()>(&y, "after");
        match tx.run::<Frame>().await {
            Err(Error::Request(RequestError::CrossSlot { command, slots })) => {
                assert_eq!(command, "MULTI");
                let mut want = vec![key_slot(x.as_bytes()), key_slot(y.as_bytes())];
                want.sort_unstable();
                assert_eq!(slots, want);
            }
            other => panic!("expected CrossSlot, got {other:?}"),
        }
        let multi_after: Vec<u64> = p.iter().map(|n| command_calls(n, "multi")).collect();
        let values: Vec<Option<String>> = c.mget([&x, &y]).await.unwrap();
        let _: i64 = c.del([&x, &y]).await.unwrap();
        assert_eq!(
            values,
            [Some("before".to_owned()), Some("before".to_owned())]
        );
        assert_eq!(
            multi_before, multi_after,
            "a MULTI reached a primary of {p:?}"
        );
    });
}

#[test]
fn watch_multi_exec_on_an_exclusive_connection_for_a_key() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let c = connect(cluster_config(&env)).await;

        for (i, primary) in p.iter().enumerate() {
            let prefix = key(&format!("cluster:watch:{run}:{i}"));
            let k = keys_on(&view, primary, &prefix, 1).remove(0);
            let counter = format!("{{{k}}}:count");
            let elsewhere = keys_on(&view, &p[(i + 1) % 3], &prefix, 1).remove(0);
            let _: () = c.set(&k, "start").await.unwrap();

            let ex = c.exclusive_for_key(&k);
            assert_eq!(ex.cmd::<String>(cmd("WATCH").key(&k)).await.unwrap(), "OK");
            assert_eq!(
                ex.get::<String>(&k).await.unwrap(),
                "start",
                "{k} on {primary}"
            );
            // The shared connection changes the watched key: EXEC must fail.
            let _: () = c.set(&k, "changed elsewhere").await.unwrap();
            let tx = ex.transaction();
            tx.set::<()>(&k, "mine").incr::<i64>(&counter);
            let exec: Option<Vec<Frame>> = tx.run().await.unwrap();
            assert_eq!(
                exec, None,
                "EXEC after a watched change went through ({primary})"
            );
            assert_eq!(c.get::<String>(&k).await.unwrap(), "changed elsewhere");
            assert_eq!(c.exists::<i64>(&counter).await.unwrap(), 0);

            // Without interference it goes through.
            assert_eq!(ex.cmd::<String>(cmd("WATCH").key(&k)).await.unwrap(), "OK");
            let tx = ex.transaction();
            tx.set::<()>(&k, "mine").incr::<i64>(&counter);
            let exec: Option<(String, i64)> = tx.run().await.unwrap();
            assert_eq!(exec, Some(("OK".to_owned(), 1)));
            assert_eq!(c.get::<String>(&k).await.unwrap(), "mine");

            // The connection is pinned to the key's node: another node's key is redirected.
            match ex.get::<Option<String>>(&elsewhere).await {
                Err(Error::Server(e)) => assert_eq!(e.code(), "MOVED", "{e}"),
                other => panic!(
                    "a key of {} on {primary}'s connection: {other:?}",
                    p[(i + 1) % 3]
                ),
            }
            drop(ex);
            let _: i64 = c.del([&k, &counter]).await.unwrap();
        }

        // A client that has not read the topology yet: the exclusive connection waits for it,
        // then goes to the key's node.
        let k = keys_on(&view, &p[2], &key(&format!("cluster:watch:{run}:lazy")), 1).remove(0);
        let _: () = c.set(&k, "lazy").await.unwrap();
        let lazy = Client::new(cluster_config(&env), rt::Options::default());
        let ex = lazy.exclusive_for_key(&k);
        let watched = rt::timeout(
            Duration::from_secs(5),
            ex.cmd::<String>(cmd("WATCH").key(&k)),
        )
        .await
        .expect("WATCH on a fresh client's exclusive connection did not answer in 5 s");
        assert_eq!(watched.unwrap(), "OK");
        assert_eq!(
            ex.get::<String>(&k).await.unwrap(),
            "lazy",
            "{k} on {}",
            p[2]
        );
        drop(ex);
        let _: i64 = c.del(&k).await.unwrap();
    });
}

#[test]
fn scan_cluster_finds_every_key_on_every_primary() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let prefix = key(&format!("cluster:scan:{run}"));
        let keys: Vec<String> = (0..300).map(|i| format!("{prefix}:{i}")).collect();
        for primary in &p {
            assert!(
                keys.iter().any(|k| owner(&view, k) == primary),
                "no key on {primary}"
            );
        }
        let c = connect(cluster_config(&env)).await;
        for chunk in keys.chunks(100) {
            let pairs: Vec<(&str, &str)> = chunk.iter().map(|k| (k.as_str(), "1")).collect();
            let _: () = c.mset(&pairs).await.unwrap();
        }

        let found = c
            .scan_cluster(Some(&format!("{prefix}:*")), Some(37))
            .await
            .unwrap();
        let found: Vec<String> = found
            .iter()
            .map(|k| String::from_utf8(k.to_vec()).expect("a UTF-8 key"))
            .collect();
        let found_set: HashSet<&str> = found.iter().map(String::as_str).collect();
        let written: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let _: i64 = c.del(keys.as_slice()).await.unwrap();
        let missed: Vec<&&str> = written.difference(&found_set).collect();
        let extra: Vec<&&str> = found_set.difference(&written).collect();
        assert!(
            missed.is_empty(),
            "scan_cluster missed {} keys: {missed:?}",
            missed.len()
        );
        assert!(
            extra.is_empty(),
            "scan_cluster found keys never written: {extra:?}"
        );
        if found.len() != keys.len() {
            eprintln!(
                "scan_cluster returned {} keys for {} (repeats are allowed)",
                found.len(),
                keys.len()
            );
        }
    });
}

#[test]
fn replica_reads_see_the_write_and_go_to_a_replica() {
    rt::block_on(async {
        let Some(env) = cluster_env() else { return };
        let view = topology(&env);
        let p = primaries(&view);
        let run = unique_run();
        let observer = Arc::new(Observer::default());
        let mut config = cluster_config(&env);
        config.hooks = Some(observer.clone());
        config
            .cluster
            .as_mut()
            .expect("a cluster configuration")
            .read_from = ReadFrom::PreferReplica;
        let c = connect(config).await;

        for (i, primary) in p.iter().enumerate() {
            let replicas = view.replicas.get(primary).cloned().unwrap_or_default();
            assert!(
                !replicas.is_empty(),
                "{primary} has no replica: {:?}",
                view.replicas
            );
            let k = keys_on(
                &view,
                primary,
                &key(&format!("cluster:replica:{run}:{i}")),
                1,
            )
            .remove(0);
            let value = format!("written to {primary}");
            let _: () = c.set(&k, &value).await.unwrap();
            // Wait until a replica has it (WAIT goes to the key's primary).
            let slot = key_slot(k.as_bytes());
            let acked: i64 = frame_into(
                c.send(Request::single(cmd("WAIT").arg(1).arg(2000)).to_slot(slot))
                    .await
                    .unwrap(),
            )
            .unwrap();
            assert!(acked >= 1, "WAIT 1 2000 on {primary} answered {acked}");

            let calls_before: Vec<u64> = replicas.iter().map(|r| command_calls(r, "get")).collect();
            let primary_before = command_calls(primary, "get");
            observer.gets.lock().unwrap().clear();
            let start = Instant::now();
            let read = loop {
                let read: Option<String> = c.get(&k).await.unwrap();
                if read.as_deref() == Some(value.as_str())
                    || start.elapsed() > Duration::from_secs(3)
                {
                    break read;
                }
                rt::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(
                read.as_deref(),
                Some(value.as_str()),
                "GET {k} with replica reads"
            );
            let served_by: Vec<Option<String>> = observer.gets.lock().unwrap().clone();
            let calls_after: Vec<u64> = replicas.iter().map(|r| command_calls(r, "get")).collect();
            let primary_after = command_calls(primary, "get");
            let on_replicas: u64 =
                calls_after.iter().sum::<u64>() - calls_before.iter().sum::<u64>();
            assert!(
                served_by
                    .iter()
                    .all(|s| s.as_ref().is_some_and(|s| replicas.contains(s))),
                "GET {k} was answered by {served_by:?}, not by a replica of {primary} ({replicas:?})"
            );
            assert!(
                on_replicas >= served_by.len() as u64,
                "the replicas {replicas:?} counted {on_replicas} GETs for {} reads",
                served_by.len()
            );
            assert_eq!(primary_before, primary_after, "{primary} served a GET");
            let _: i64 = c.del(&k).await.unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Faults under load
// ---------------------------------------------------------------------------------------------

/// How much later than its deadline a request may complete (scheduling on a busy machine).
const MARGIN: Duration = Duration::from_millis(500);

#[test]
fn resharding_under_load_loses_and_duplicates_nothing() {
    rt::block_on_multi(async {
        let Some(env) = cluster_env() else { return };
        let restore = Restore::new(&env);
        let view = topology(&env);
        let p = primaries(&view);
        let (source, target) = (p[0].clone(), p[1].clone());
        let run = unique_run();

        // Four slots of the source, one hash tag each.
        let mut tags: Vec<(String, u16)> = Vec::new();
        for i in 0.. {
            let tag = format!("{{{}}}", key(&format!("cluster:reshard:{run}:{i}")));
            let slot = key_slot(tag.as_bytes());
            if view.owner(slot) == Some(source.as_str()) && !tags.iter().any(|t| t.1 == slot) {
                tags.push((tag, slot));
            }
            if tags.len() == 4 {
                break;
            }
        }
        let observer = Arc::new(Observer::default());
        let mut config = cluster_config(&env);
        config.hooks = Some(observer.clone());
        let client = connect(config).await;

        // Filler keys written before the lists: the slot's newest keys migrate first, so the lists
        // reach the target early and are redirected with ASK while the fillers follow.
        let filler = "f".repeat(512);
        for (tag, _) in &tags {
            let names: Vec<String> = (0..1000).map(|j| format!("{tag}:filler:{j}")).collect();
            for chunk in names.chunks(250) {
                let pairs: Vec<(&str, &str)> = chunk
                    .iter()
                    .map(|k| (k.as_str(), filler.as_str()))
                    .collect();
                let _: () = client.mset(&pairs).await.unwrap();
            }
        }

        let load = Arc::new(Load::default());
        let _stop = StopOnDrop(load.clone());
        let keys: Vec<(String, bool)> = (0..64)
            .map(|t| (format!("{}:list:{t}", tags[t % tags.len()].0), true))
            .collect();
        let tasks = spawn_load(&client, keys, &load);
        // A reader too: MGET of the oldest and the newest filler of every slot. Split per slot,
        // each part holds two keys that migrate in different batches (TRYAGAIN in between).
        let reader = {
            let (client, load, filler) = (client.clone(), load.clone(), filler.clone());
            let keys: Vec<String> = tags
                .iter()
                .flat_map(|(tag, _)| [format!("{tag}:filler:0"), format!("{tag}:filler:999")])
                .collect();
            rt::spawn(async move {
                let (mut reads, mut problems) = (0usize, Vec::new());
                let want = Some(filler.as_str());
                while !load.stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let read: Result<Vec<Option<String>>, Error> =
                        client.mget(keys.as_slice()).await;
                    let problem = match read {
                        Ok(values) if values.iter().all(|v| v.as_deref() == want) => None,
                        Ok(values) => {
                            let lengths: Vec<Option<usize>> =
                                values.iter().map(|v| v.as_ref().map(String::len)).collect();
                            Some(format!("MGET answered values of lengths {lengths:?}"))
                        }
                        Err(e) => Some(format!("MGET failed after {:?}: {e}", start.elapsed())),
                    };
                    problems.extend(problem);
                    reads += 1;
                }
                (reads, problems)
            })
        };
        load.wait_started(64).await;

        let started = Instant::now();
        let migrations = {
            let (restore, tags, source, target) = (
                restore.clone(),
                tags.clone(),
                source.clone(),
                target.clone(),
            );
            blocking(move || {
                let mut took = Vec::new();
                for (_, slot) in &tags {
                    let t = Instant::now();
                    restore.migrate(*slot, &source, &target);
                    took.push(t.elapsed());
                }
                for (_, slot) in &tags {
                    let t = Instant::now();
                    restore.migrate(*slot, &target, &source);
                    took.push(t.elapsed());
                }
                took
            })
            .await
        };
        let migrated_in = started.elapsed();
        rt::sleep(Duration::from_millis(300)).await;
        let logs = finish(&load, tasks).await;
        let (reads, read_problems) = rt::timeout(Duration::from_secs(30), reader)
            .await
            .expect("the reader did not end in 30 s: an MGET never completed")
            .expect("the reader panicked");
        let lists = list_contents(&client, &logs).await;
        let tally = Tally::of(&logs, &lists, |_, _| true);
        let worst = logs
            .iter()
            .flat_map(|l| l.pushes.iter().map(|p| p.end - p.start))
            .max()
            .unwrap_or_default();
        evidence("reshard", env.protocol, worst, &tally);
        let (ask, moved, tryagain) = (
            observer.redirects("ASK"),
            observer.redirects("MOVED"),
            observer.redirects("TRYAGAIN"),
        );
        println!(
            "reshard: slots {:?} {source} -> {target} -> {source} in {migrated_in:?} ({migrations:?}); \
         redirects ASK={ask} MOVED={moved} TRYAGAIN={tryagain}; longest request {worst:?}; \
         {reads} cross-slot MGETs, {} failed or wrong",
            tags.iter().map(|t| t.1).collect::<Vec<_>>(),
            read_problems.len()
        );

        let failures = errors(&logs, |_, _| true);
        assert_eq!(
            tally.failed, 0,
            "requests failed during the resharding: {failures:?}"
        );
        assert_eq!(
            (tally.lost, tally.duplicated, tally.strays),
            (0, 0, 0),
            "{tally:?}"
        );
        // Each task waited for every push: its list is exactly its ids, in order.
        for (log, list) in logs.iter().zip(&lists) {
            let ids: Vec<&str> = log.pushes.iter().map(|p| p.id.as_str()).collect();
            assert_eq!(list, &ids, "{} is not the task's pushes in order", log.key);
        }
        assert!(
            ask > 0,
            "the client never saw ASK: the test did not exercise a migrating slot"
        );
        assert!(moved > 0, "the client never saw MOVED");
        assert!(
            read_problems.is_empty(),
            "{} of {reads} MGETs failed or answered wrong values: {:?}",
            read_problems.len(),
            &read_problems[..read_problems.len().min(10)]
        );
        let now = topology(&env);
        for (_, slot) in &tags {
            assert_eq!(
                now.owner(*slot),
                Some(source.as_str()),
                "slot {slot} did not come back"
            );
        }

        delete_lists(&client, &logs).await;
        for (tag, _) in &tags {
            let names: Vec<String> = (0..1000).map(|j| format!("{tag}:filler:{j}")).collect();
            let _: i64 = client.del(names.as_slice()).await.unwrap();
        }
    });
}

/// SIGKILL of a primary under load: its replica takes over, the other shards never fail,
/// and no acknowledged write is lost. The kill waits out Redis's election rate limit (see
/// `Faults::wait_until_electable`): a few seconds after another test failed the same shard
/// over, the replica could not be elected for up to 8 s, and with full coverage required
/// every shard answers `CLUSTERDOWN` meanwhile, longer than any request timeout.
#[test]
fn killed_primary_under_load_fails_over_and_keeps_every_acknowledged_write() {
    rt::block_on_multi(async {
        let Some(env) = cluster_env() else { return };
        let restore = Restore::new(&env);
        let view = topology(&env);
        let p = primaries(&view);
        let victim = p[0].clone();
        // With full coverage required, every shard refuses with `CLUSTERDOWN` from when the
        // nodes flag the victim failed until its replica is elected, and the client retries
        // those refusals until the deadline. The deadline must outlast that window for "the
        // other shards never fail" to be the client's property: at 3 s, one slow election
        // in CI (writes back 4.8 s after the kill, against 3.3-3.7 s in four runs after it)
        // timed out an RPUSH to a healthy shard (`TimedOutRetrying` naming `CLUSTERDOWN`).
        let timeout = Duration::from_secs(6);
        let mut config = cluster_config(&env);
        config.timeouts.command = timeout;
        config.timeouts.connect = Duration::from_secs(1);
        let client = connect(config).await;
        let run = unique_run();
        let keys = keys_per_task(&view, &p, &victim, &format!("cluster:kill:{run}"));

        let load = Arc::new(Load::default());
        let _stop = StopOnDrop(load.clone());
        let tasks = spawn_load(&client, keys, &load);
        load.wait_started(64).await;
        // Long enough for ids acknowledged more than 1 s before the kill.
        rt::sleep(Duration::from_millis(1500)).await;

        {
            let (restore, victim) = (restore.clone(), victim.clone());
            blocking(move || restore.wait_until_electable(&victim)).await;
        }
        let killed_at = Instant::now();
        {
            let (restore, victim) = (restore.clone(), victim.clone());
            blocking(move || restore.kill(&victim)).await;
        }
        // The process is gone now: a success on its shard from here on is the new primary's.
        load.mark.set(Instant::now()).expect("set once");
        let recovered = load.wait_recovered(Duration::from_secs(30)).await;
        rt::sleep(Duration::from_secs(1)).await;
        let logs = finish(&load, tasks).await;
        let recovery = recovered.map(|at| at - killed_at);

        let after = topology(&env);
        let promoted = after
            .owner(key_slot(
                logs.iter().find(|l| l.on_victim).unwrap().key.as_bytes(),
            ))
            .map(str::to_owned);
        let lists = list_contents(&client, &logs).await;
        let all = Tally::of(&logs, &lists, |_, _| true);
        evidence("kill", env.protocol, recovery.unwrap_or_default(), &all);
        // Redis replicates asynchronously: what the victim acknowledged just before dying may
        // not have reached its replica. Everything else must be there.
        let window = |log: &TaskLog, p: &Push| {
            log.on_victim
                && p.end + Duration::from_secs(1) >= killed_at
                && p.end < killed_at + MARGIN
        };
        let strict = Tally::of(&logs, &lists, |l, p| !window(l, p));
        let last_second = Tally::of(&logs, &lists, window);
        println!(
            "kill: {victim} killed, {promoted:?} took over, writes recovered after {recovery:?}; \
         acknowledged in the last second before the kill on its shard: {} ({} lost); \
         elsewhere: {} ({} lost)",
            last_second.acked, last_second.lost, strict.acked, strict.lost
        );
        for (kind, message) in &all.first {
            println!("kill: first {kind}: {message}");
        }

        // The killed node comes back as a replica.
        {
            let (restore, victim) = (restore.clone(), victim.clone());
            blocking(move || {
                restore.restart(&victim);
                restore.wait_healthy();
            })
            .await;
        }
        let victim_role = role(&victim);
        // The same client keeps working on that shard with the old primary back as a replica.
        let victim_key = &logs
            .iter()
            .find(|l| l.on_victim)
            .expect("a list on the victim")
            .key;
        let after_restart: Result<i64, Error> = client.rpush(victim_key, "after restart").await;
        delete_lists(&client, &logs).await;

        let late = over(&logs, timeout + MARGIN);
        assert!(late.is_empty(), "requests past their deadline: {late:?}");
        let allowed = [
            "Timeout",
            "MayHaveExecuted",
            "Unavailable",
            "RetriesExhausted",
            "TooManyRedirects",
            "TimedOutRetrying",
        ];
        let unclear: Vec<String> = errors(&logs, |_, p| {
            !allowed.contains(&kind(p.error.as_ref().unwrap()).as_str())
        });
        assert!(
            unclear.is_empty(),
            "errors other than {allowed:?}: {unclear:?}"
        );
        let elsewhere = errors(&logs, |l, _| !l.on_victim);
        assert!(
            elsewhere.is_empty(),
            "requests to the other shards failed: {elsewhere:?}"
        );
        assert!(
            recovery.is_some(),
            "writes to {victim}'s slots did not succeed again within 30 s"
        );
        assert_ne!(
            promoted.as_deref(),
            Some(victim.as_str()),
            "no failover happened"
        );
        assert_eq!(
            strict.lost, 0,
            "acknowledged writes lost: {:?}",
            strict.examples
        );
        assert_eq!(all.duplicated, 0, "duplicated writes: {:?}", all.examples);
        assert_eq!(all.strays, 0, "{all:?}");
        assert_eq!(victim_role, "slave", "{victim} did not rejoin as a replica");
        assert!(
            after_restart.is_ok(),
            "RPUSH after the restart: {after_restart:?}"
        );
    });
}

#[test]
fn paused_primary_times_out_only_its_own_slots_and_recovers() {
    rt::block_on_multi(async {
        let Some(env) = cluster_env() else { return };
        let restore = Restore::new(&env);
        let view = topology(&env);
        let p = primaries(&view);
        let victim = p[1].clone();
        // Short enough that the cluster does not fail the node over (cluster-node-timeout 2 s).
        let pause = Duration::from_millis(1500);
        let timeout = Duration::from_secs(1);
        let mut config = cluster_config(&env);
        config.timeouts.command = timeout;
        config.timeouts.connect = Duration::from_millis(500);
        let client = connect(config).await;
        let run = unique_run();
        let keys = keys_per_task(&view, &p, &victim, &format!("cluster:pause:{run}"));

        let load = Arc::new(Load::default());
        let _stop = StopOnDrop(load.clone());
        let tasks = spawn_load(&client, keys, &load);
        load.wait_started(64).await;
        rt::sleep(Duration::from_millis(300)).await;

        let paused_at = Instant::now();
        {
            let (restore, victim) = (restore.clone(), victim.clone());
            blocking(move || restore.pause(&victim)).await;
        }
        rt::sleep(pause).await;
        let resumed_at = Instant::now();
        load.mark.set(resumed_at).expect("set once");
        {
            let (restore, victim) = (restore.clone(), victim.clone());
            blocking(move || restore.resume(&victim)).await;
        }
        let recovered = load.wait_recovered(Duration::from_secs(10)).await;
        rt::sleep(Duration::from_secs(1)).await;
        let logs = finish(&load, tasks).await;
        let recovery = recovered.map(|at| at - resumed_at);

        let lists = list_contents(&client, &logs).await;
        let all = Tally::of(&logs, &lists, |_, _| true);
        evidence("pause", env.protocol, recovery.unwrap_or_default(), &all);
        let victim_role = role(&victim);
        let others_worst = logs
            .iter()
            .filter(|l| !l.on_victim)
            .flat_map(|l| l.pushes.iter())
            .filter(|p| p.end > paused_at && p.start < resumed_at)
            .map(|p| p.end - p.start)
            .max()
            .unwrap_or_default();
        let victim_failures = Tally::of(&logs, &lists, |l, _| l.on_victim);
        println!(
            "pause: {victim} paused {pause:?}; its slots recovered {recovery:?} after resume; \
         {} of its requests failed ({}); longest request elsewhere meanwhile {others_worst:?}; \
         role afterwards {victim_role}",
            victim_failures.failed,
            victim_failures.kinds()
        );
        for (kind, message) in &all.first {
            println!("pause: first {kind}: {message}");
        }
        delete_lists(&client, &logs).await;

        assert_eq!(
            victim_role, "master",
            "the cluster failed {victim} over: the pause was too long for this machine"
        );
        let elsewhere = errors(&logs, |l, _| !l.on_victim);
        assert!(
            elsewhere.is_empty(),
            "requests to the other primaries failed: {elsewhere:?}"
        );
        let late = over(&logs, timeout + MARGIN);
        assert!(late.is_empty(), "requests past their deadline: {late:?}");
        let unclear = errors(&logs, |_, p| {
            !matches!(
                kind(p.error.as_ref().unwrap()).as_str(),
                "Timeout" | "MayHaveExecuted"
            )
        });
        assert!(
            unclear.is_empty(),
            "errors other than timeouts: {unclear:?}"
        );
        assert!(
            victim_failures.kinds.get("Timeout").is_some_and(|&n| n > 0),
            "no request to {victim}'s slots timed out during a {pause:?} pause: {victim_failures:?}"
        );
        let recovered =
            recovered.unwrap_or_else(|| panic!("{victim}'s slots did not recover within 10 s"));
        let after_recovery = errors(&logs, |_, p| p.start >= recovered);
        assert!(
            after_recovery.is_empty(),
            "failures after the recovery: {after_recovery:?}"
        );
        assert_eq!(all.lost, 0, "acknowledged writes lost: {:?}", all.examples);
        assert_eq!(all.duplicated, 0, "duplicated writes: {:?}", all.examples);
        assert_eq!(all.strays, 0, "{all:?}");
    });
}
