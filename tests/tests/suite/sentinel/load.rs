//! The load of the sentinel fault tests, and what it proves.
//!
//! [`TASKS`] tasks write new keys with single `SET`s through one client, each with one request
//! in flight, so the client's own handling of a failover is what is under test (single
//! commands that get `-READONLY` are sent again to the new primary). Beside them a confirmer
//! sends `WAIT 1 <ms>` over and over through the same client. The client sends every command
//! for the primary over one shared connection, and `WAIT` waits for the replication offset of
//! the last write on its own connection: so a `WAIT` that counted a replica proves that every
//! `SET` answered on that connection before the `WAIT` was sent had reached the replica. Which
//! connection answered each request comes from the hooks ([`Observer`]).
//!
//! A write is *acknowledged* when such a `WAIT` covers it, and *set-only* when `SET` answered
//! `OK` and no `WAIT` covers it: the old primary's last writes before it died, and those it took
//! after its replica was promoted, which Redis itself drops when it rejoins as a replica.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use client_core::frame_into;

use super::super::kind;
use super::{
    ALLOWED_FAILURES, Announcement, MARGIN, Observer, SWITCH_LIMIT, TASKS, TIMEOUT, Via, WAIT_MS,
};
use crate::rt::{self, Client, Commands, Error, JoinHandle, Request, cmd};

/// Pause between two `WAIT`s of the confirmer (each also holds the primary's connection for up
/// to [`WAIT_MS`] while no replica answers).
const CONFIRM_EVERY: Duration = Duration::from_millis(50);

/// One `SET` of a load task.
#[derive(Debug)]
pub(super) struct Write {
    key: String,
    value: String,
    start: Instant,
    end: Instant,
    /// `Err((kind, message))` when it failed.
    result: Result<(), (String, String)>,
}

/// One `WAIT` of the confirmer.
#[derive(Debug)]
pub(super) struct Confirm {
    start: Instant,
    end: Instant,
    /// Replicas counted, or `(kind, message)`.
    replicas: Result<i64, (String, String)>,
}

/// Shared by the load tasks, the confirmer and the test.
#[derive(Debug, Default)]
struct Flags {
    stop: AtomicBool,
    /// The confirmer stops after the writers, with one last `WAIT`.
    stop_confirming: AtomicBool,
    /// Writers that have had at least one `SET` answered.
    started: AtomicUsize,
}

/// Stops everything when dropped, so tasks end even when the test fails.
struct StopOnDrop(Arc<Flags>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
        self.0.stop_confirming.store(true, Ordering::Relaxed);
    }
}

/// The running load.
pub(super) struct Load {
    flags: Arc<Flags>,
    writers: Vec<JoinHandle<Vec<Write>>>,
    confirmer: JoinHandle<Vec<Confirm>>,
    _stop: StopOnDrop,
}

impl Load {
    /// Starts the writers (keys `<prefix>:<task>:<seq>`) and the confirmer, and returns once
    /// every writer has had a write answered.
    pub(super) async fn start(client: &Client, prefix: &str) -> Self {
        let flags = Arc::new(Flags::default());
        let writers = (0..TASKS)
            .map(|task| {
                let (client, flags) = (client.clone(), flags.clone());
                let prefix = format!("{prefix}:{task}");
                rt::spawn(async move { write_until_stopped(&client, &prefix, &flags).await })
            })
            .collect();
        let confirmer = {
            let (client, flags) = (client.clone(), flags.clone());
            rt::spawn(async move { confirm_until_stopped(&client, &flags).await })
        };
        super::super::wait_for_tasks(|| flags.started.load(Ordering::Relaxed), TASKS).await;
        Self {
            _stop: StopOnDrop(flags.clone()),
            flags,
            writers,
            confirmer,
        }
    }

    /// Stops the writers, then the confirmer after one last `WAIT`, and collects what they
    /// did. A task that does not end means a request future that never completed.
    pub(super) async fn finish(self) -> (Vec<Write>, Vec<Confirm>) {
        self.flags.stop.store(true, Ordering::Relaxed);
        let limit = Duration::from_secs(30);
        let mut writes = Vec::new();
        for task in self.writers {
            let log = rt::timeout(limit, task)
                .await
                .expect("a load task did not end in 30 s: a request future never completed")
                .expect("a load task panicked");
            writes.extend(log);
        }
        self.flags.stop_confirming.store(true, Ordering::Relaxed);
        let confirms = rt::timeout(limit, self.confirmer)
            .await
            .expect("the confirmer did not end in 30 s: a WAIT never completed")
            .expect("the confirmer panicked");
        (writes, confirms)
    }
}

async fn write_until_stopped(client: &Client, prefix: &str, flags: &Flags) -> Vec<Write> {
    let mut writes = Vec::new();
    let mut counted = false;
    for seq in 0u64.. {
        if flags.stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("{prefix}:{seq}");
        let value = format!("{prefix}:{seq}");
        let start = Instant::now();
        let result: Result<(), Error> = client.set(&key, &value).await;
        let end = Instant::now();
        let failed = result.is_err();
        if !failed && !counted {
            counted = true;
            flags.started.fetch_add(1, Ordering::Relaxed);
        }
        writes.push(Write {
            key,
            value,
            start,
            end,
            result: result.map_err(|e| (kind(&e), e.to_string())),
        });
        if failed {
            // Do not spin on a client that fails fast.
            rt::sleep(Duration::from_millis(20)).await;
        }
    }
    writes
}

async fn confirm_until_stopped(client: &Client, flags: &Flags) -> Vec<Confirm> {
    let mut confirms = Vec::new();
    loop {
        let last = flags.stop_confirming.load(Ordering::Relaxed);
        let start = Instant::now();
        let wait = Request::single(cmd("WAIT").arg(1).arg(WAIT_MS));
        let replicas = match client.send(wait).await.map(frame_into::<i64>) {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) | Err(e) => Err((kind(&e), e.to_string())),
        };
        confirms.push(Confirm {
            start,
            end: Instant::now(),
            replicas,
        });
        if last {
            return confirms;
        }
        rt::sleep(CONFIRM_EVERY).await;
    }
}

/// What each written key holds now (through the client, from the primary).
pub(super) async fn read_back(client: &Client, writes: &[Write]) -> Vec<Option<String>> {
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

pub(super) async fn delete(client: &Client, writes: &[Write]) {
    for chunk in writes.chunks(500) {
        let keys: Vec<&str> = chunk.iter().map(|w| w.key.as_str()).collect();
        let _: Result<i64, Error> = client.del(keys.as_slice()).await;
    }
}

/// Counts of a load run.
#[derive(Debug, Default)]
pub(super) struct Tally {
    acknowledged: usize,
    /// Acknowledged and not readable.
    lost: usize,
    set_only: usize,
    set_only_lost: usize,
    /// Set-only writes lost that the old primary had not answered: not Redis's doing.
    set_only_lost_elsewhere: Vec<String>,
    failed: usize,
    pub(super) kinds: BTreeMap<String, usize>,
    /// The first error of each kind, as the caller reads it.
    first: BTreeMap<String, String>,
    /// A few lost writes, for failure messages.
    examples: Vec<String>,
}

impl Tally {
    fn kinds(&self) -> String {
        self.kinds
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Milliseconds from `from` to `to`, negative when `to` came first.
pub(super) fn signed_ms(from: Instant, to: Instant) -> i128 {
    let ms = |d: Duration| i128::try_from(d.as_millis()).unwrap_or(i128::MAX);
    if to >= from {
        ms(to - from)
    } else {
        -ms(from - to)
    }
}

/// What one fault test measured, checked the same way for both faults.
pub(super) struct Run<'a> {
    pub(super) fault: &'a str,
    pub(super) protocol: u8,
    pub(super) old: String,
    pub(super) new: String,
    /// When the fault was triggered.
    pub(super) fault_at: Instant,
    /// The first `+switch-master`.
    pub(super) switch: Announcement,
    pub(super) writes: Vec<Write>,
    pub(super) confirms: Vec<Confirm>,
    /// What each written key holds afterwards.
    pub(super) values: Vec<Option<String>>,
    pub(super) observer: &'a Observer,
}

impl Run<'_> {
    /// The server and connection that answered a successful write.
    fn via(&self, write: &Write) -> Option<Via> {
        write
            .result
            .is_ok()
            .then(|| self.observer.set_via(&write.key))
            .flatten()
    }

    fn answered_by(&self, write: &Write, server: &str) -> bool {
        self.via(write).is_some_and(|v| v.server == server)
    }

    /// For each connection, when the last `WAIT` on it that counted a replica was sent.
    fn confirmed_until(&self) -> HashMap<Via, Instant> {
        let waits = self.observer.waits();
        assert_eq!(
            waits.len(),
            self.confirms.len(),
            "the hooks saw {} WAITs end, the confirmer sent {}",
            waits.len(),
            self.confirms.len()
        );
        let mut until: HashMap<Via, Instant> = HashMap::new();
        for (confirm, (ok, via)) in self.confirms.iter().zip(waits) {
            if let (Ok(1..), true, Some(via)) = (&confirm.replicas, ok, via) {
                let at = until.entry(via).or_insert(confirm.start);
                *at = (*at).max(confirm.start);
            }
        }
        until
    }

    fn tally(&self) -> Tally {
        let until = self.confirmed_until();
        let mut tally = Tally::default();
        for (write, value) in self.writes.iter().zip(&self.values) {
            let present = value.as_deref() == Some(write.value.as_str());
            let via = self.via(write);
            let server = via.as_ref().map(|v| v.server.as_str());
            match &write.result {
                Ok(()) => {
                    let covered = via
                        .as_ref()
                        .and_then(|v| until.get(v))
                        .is_some_and(|&at| write.end < at);
                    if covered {
                        tally.acknowledged += 1;
                        if !present {
                            tally.lost += 1;
                            if tally.examples.len() < 10 {
                                tally
                                    .examples
                                    .push(format!("{} acknowledged via {via:?}", write.key));
                            }
                        }
                    } else {
                        tally.set_only += 1;
                        if !present {
                            tally.set_only_lost += 1;
                            if server != Some(self.old.as_str()) {
                                tally
                                    .set_only_lost_elsewhere
                                    .push(format!("{} set via {via:?}", write.key));
                            }
                        }
                    }
                }
                Err((kind, message)) => {
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

    /// Acknowledged writes that `server` answered.
    pub(super) fn acknowledged_by(&self, server: &str) -> usize {
        let until = self.confirmed_until();
        self.writes
            .iter()
            .filter(|w| {
                self.via(w).is_some_and(|v| {
                    v.server == server && until.get(&v).is_some_and(|&at| w.end < at)
                })
            })
            .count()
    }

    /// Prints the evidence, then asserts what the module documentation promises. Writes that
    /// started from `old_answers_from` on must not be answered by the old primary.
    pub(super) fn check(&self, old_answers_from: Instant) -> Tally {
        let tally = self.tally();
        let first_new = self
            .writes
            .iter()
            .filter(|w| self.answered_by(w, &self.new))
            .map(|w| w.end)
            .min();
        let first_new_ms = first_new.map(|at| signed_ms(self.switch.at, at));
        println!(
            "EVIDENCE sentinel fault={} protocol={} switch_ms={} \
             first_new_primary_write_ms_after_switch={} acknowledged={} lost={} set_only={} \
             set_only_lost={} failed={} failed_kinds={}",
            self.fault,
            self.protocol,
            signed_ms(self.fault_at, self.switch.at),
            first_new_ms.map_or_else(|| "none".to_owned(), |ms| ms.to_string()),
            tally.acknowledged,
            tally.lost,
            tally.set_only,
            tally.set_only_lost,
            tally.failed,
            tally.kinds()
        );
        self.describe(&tally);

        let late: Vec<String> = self
            .writes
            .iter()
            .filter(|w| w.end - w.start > TIMEOUT + MARGIN)
            .take(10)
            .map(|w| {
                format!(
                    "{} took {:?} from {} ms after the switch: {:?}",
                    w.key,
                    w.end - w.start,
                    signed_ms(self.switch.at, w.start),
                    w.result
                )
            })
            .collect();
        assert!(late.is_empty(), "SETs past their deadline: {late:?}");
        let wait_limit = TIMEOUT + Duration::from_millis(WAIT_MS) + MARGIN;
        let late_waits: Vec<String> = self
            .confirms
            .iter()
            .filter(|c| c.end - c.start > wait_limit)
            .take(10)
            .map(|c| format!("took {:?}: {:?}", c.end - c.start, c.replicas))
            .collect();
        assert!(
            late_waits.is_empty(),
            "WAITs past their deadline: {late_waits:?}"
        );
        // Sent to the new primary at the end of a wait that spanned the switch: it was sent,
        // so a timeout waiting for the reply is the truth.
        let released_late = |w: &Write| {
            w.start < self.switch.at
                && w.end >= self.switch.at
                && self.observer.set_sent_to(&w.key).as_deref() == Some(self.new.as_str())
        };
        let unclear: Vec<String> = self
            .writes
            .iter()
            .filter_map(|w| match &w.result {
                Err((kind, _)) if kind == "Timeout" && released_late(w) => None,
                Err((kind, message)) if !ALLOWED_FAILURES.contains(&kind.as_str()) => {
                    Some(format!(
                        "{} {kind}: {message} (sent to {:?}, from {} ms to {} ms after the switch)",
                        w.key,
                        self.observer.set_sent_to(&w.key),
                        signed_ms(self.switch.at, w.start),
                        signed_ms(self.switch.at, w.end),
                    ))
                }
                _ => None,
            })
            .take(10)
            .collect();
        assert!(
            unclear.is_empty(),
            "errors other than {ALLOWED_FAILURES:?}: {unclear:?}"
        );
        // What the caller reads says why.
        let unexplained: Vec<&String> = self
            .writes
            .iter()
            .filter_map(|w| match &w.result {
                Err((kind, message)) if ALLOWED_FAILURES.contains(&kind.as_str()) => Some(message),
                _ => None,
            })
            .filter(|m| !m.contains("failover") && !m.contains("failing over"))
            .take(5)
            .collect();
        assert!(
            unexplained.is_empty(),
            "errors that do not mention the failover: {unexplained:?}"
        );
        assert_eq!(
            (&self.switch.old, &self.switch.new),
            (&self.old, &self.new),
            "+switch-master names other primaries"
        );
        let first_new_ms = first_new_ms.unwrap_or_else(|| {
            panic!(
                "no write reached the new primary {} after +switch-master",
                self.new
            )
        });
        assert!(
            first_new_ms <= i128::try_from(SWITCH_LIMIT.as_millis()).unwrap_or(i128::MAX),
            "writes reached the new primary {} only {first_new_ms} ms after +switch-master",
            self.new
        );
        let old_late: Vec<String> = self
            .writes
            .iter()
            .filter(|w| w.start >= old_answers_from && self.answered_by(w, &self.old))
            .take(10)
            .map(|w| format!("{} at +{}ms", w.key, signed_ms(self.switch.at, w.end)))
            .collect();
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

    /// The details behind the evidence line.
    fn describe(&self, tally: &Tally) {
        let fault = self.fault;
        let old_after_switch = self
            .writes
            .iter()
            .filter(|w| w.start >= self.switch.at && self.answered_by(w, &self.old))
            .count();
        let unknown = self
            .writes
            .iter()
            .filter(|w| w.result.is_ok() && self.via(w).is_none())
            .count();
        println!(
            "{fault}: {} -> {} (announced first by {}); {} writes; answered by the old primary \
             after the announcement: {old_after_switch}; successes the hooks did not place: \
             {unknown}",
            self.old,
            self.new,
            self.switch.sentinel,
            self.writes.len()
        );
        let mut waits: BTreeMap<String, usize> = BTreeMap::new();
        for confirm in &self.confirms {
            let outcome = match &confirm.replicas {
                Ok(n) => format!("replicas={n}"),
                Err((kind, _)) => kind.clone(),
            };
            *waits.entry(outcome).or_default() += 1;
        }
        let slowest = self
            .writes
            .iter()
            .map(|w| w.end - w.start)
            .max()
            .unwrap_or_default();
        println!("{fault}: WAITs {waits:?}; slowest SET {slowest:?}");
        for (kind, message) in &tally.first {
            println!("{fault}: first {kind}: {message}");
        }
        // Few: one WAIT at a time.
        for (confirm, (_, via)) in self.confirms.iter().zip(self.observer.waits()) {
            if let Err((kind, message)) = &confirm.replicas {
                println!(
                    "{fault}: WAIT sent at {:+} ms from the switch failed after {:?} (last sent \
                     or waiting for {via:?}), {kind}: {message}",
                    signed_ms(self.switch.at, confirm.start),
                    confirm.end - confirm.start
                );
            }
        }
        let failed: Vec<&Write> = self.writes.iter().filter(|w| w.result.is_err()).collect();
        if let (Some(first), Some(last)) = (
            failed.iter().map(|w| w.start).min(),
            failed.iter().map(|w| w.end).max(),
        ) {
            println!(
                "{fault}: failed SETs started from {:+} ms and ended by {:+} ms from the switch",
                signed_ms(self.switch.at, first),
                signed_ms(self.switch.at, last)
            );
        }
    }
}
