//! The properties a seed's run must have, checked on what happened to each request and on
//! the servers' keyspaces and execution logs at the end.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use bytes::Bytes;
use resp_core::Frame;

use super::ops::{Item, Sub};
use super::{Op, Outcome, Shape};
use crate::error::{RequestError, SubmitError};
use crate::event::Reply;
use crate::sim::{Servers, Sim, StoredValue};

impl Sub {
    /// Checks the reply. With `replay`, a write may have run more than once; `stale(key)`
    /// says a read of `key` may have missed an acknowledged write (a replica read during a
    /// migration of its slot).
    pub(super) fn check(
        &self,
        frame: &Frame,
        replay: bool,
        stale: &dyn Fn(&str) -> bool,
    ) -> Result<(), String> {
        let bulk = |want: &str| matches!(frame, Frame::BulkString(b) if b == want.as_bytes());
        let int = match frame {
            Frame::Integer(n) => Some(*n),
            _ => None,
        };
        // An item's value: the written one, or null when it may not be there (yet).
        let item_fine = |item: &Item, got: &Frame| match &item.value {
            Some(value) => {
                matches!(got, Frame::BulkString(b) if b == value.as_bytes())
                    || (got.is_null() && (!item.acked || stale(&item.key)))
            }
            None => got.is_null(),
        };
        let written = |items: &[Item]| items.iter().filter(|i| i.value.is_some()).count() as i64;
        let fine = match self {
            Self::Set { nx, .. } => {
                matches!(frame, Frame::SimpleString(s) if s == "OK")
                    || (*nx && replay && frame.is_null())
            }
            Self::Get {
                key, value, acked, ..
            } => bulk(value) || (frame.is_null() && (!acked || stale(key))),
            Self::GetMissing { .. } => frame.is_null(),
            Self::Incr { .. } | Self::EvalIncr { .. } => {
                int == Some(1) || (replay && int.is_some_and(|n| n > 1))
            }
            Self::Echo { text } => bulk(text),
            Self::Ping => matches!(frame, Frame::SimpleString(s) if s == "PONG"),
            Self::Hset { .. } => int == Some(1) || (replay && int == Some(0)),
            Self::Hget { value, .. } => bulk(value),
            Self::Rpush { .. } => {
                int == Some(2) || (replay && int.is_some_and(|n| n > 2 && n % 2 == 0))
            }
            Self::Lrange { items, .. } => match frame {
                Frame::Array(got) => {
                    let pair = |chunk: &[Frame]| {
                        matches!(chunk, [Frame::BulkString(a), Frame::BulkString(b)]
                            if a == items[0].as_bytes() && b == items[1].as_bytes())
                    };
                    !got.is_empty()
                        && got.len() % 2 == 0
                        && (replay || got.len() == 2)
                        && got.chunks(2).all(pair)
                }
                _ => false,
            },
            Self::Eval { n } => int == Some(*n),
            Self::Mget { items } => match frame {
                Frame::Array(got) => {
                    got.len() == items.len() && items.iter().zip(got).all(|(i, g)| item_fine(i, g))
                }
                _ => false,
            },
            Self::Exists { items } => {
                let sure = items
                    .iter()
                    .filter(|i| i.value.is_some() && i.acked && !stale(&i.key))
                    .count() as i64;
                int.is_some_and(|n| (sure..=written(items)).contains(&n))
            }
            Self::Del { items } => {
                // With replay, a part that ran twice counts 0 the second time.
                let sure = if replay {
                    0
                } else {
                    items
                        .iter()
                        .filter(|i| i.value.is_some() && i.acked)
                        .count() as i64
                };
                int.is_some_and(|n| (sure..=written(items)).contains(&n))
            }
            Self::Dbsize => int.is_some_and(|n| n >= 0),
        };
        if fine {
            Ok(())
        } else {
            Err(format!("{self:?} got the reply {frame:?}"))
        }
    }
}

/// What a run allows of failures.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rules {
    pub(super) replay: bool,
    /// Pipelines may be split into parts that fail on their own (cluster mode).
    pub(super) split: bool,
    pub(super) calm: bool,
    pub(super) quitted: Option<Instant>,
    pub(super) max_attempts: Option<u32>,
    /// Cluster discovery gives up after `max(max_attempts, seeds)` failed reads: every seed
    /// is tried. 0 outside cluster mode.
    pub(super) seeds: u32,
    /// Sentinel mode: a request may wait for a primary until its deadline
    /// (`FailoverInProgress`, or `Unavailable` before any primary was found, with the
    /// discovery rounds made as attempts), and a demoted primary may refuse a pipeline's or
    /// a transaction's writes with `-READONLY` during a failover.
    pub(super) sentinel: bool,
    pub(super) max_retries: u32,
    pub(super) default_timeout: Duration,
}

/// Times when the cluster did things a caller may notice.
#[derive(Clone, Debug, Default)]
pub(super) struct Windows {
    /// Failovers and restarts, from the crash until the client may have found the new
    /// primary: a request that overlaps one may fail as a network fault allows, even in a
    /// run without faults, and may run out of redirections.
    pub(super) disrupted: Vec<(Instant, Instant)>,
    /// Slot migrations, from the start until every node learned the new owner.
    pub(super) migrations: Vec<(RangeInclusive<u16>, Instant, Instant)>,
    /// Reads may go to replicas.
    pub(super) replica_reads: bool,
}

impl Windows {
    fn disrupted(&self, from: Instant, to: Instant) -> bool {
        self.disrupted.iter().any(|&(a, b)| a <= to && from <= b)
    }

    /// Whether any slot was migrating between `from` and `to`.
    fn any_migration(&self, from: Instant, to: Instant) -> bool {
        self.migrations
            .iter()
            .any(|(_, a, b)| *a <= to && from <= *b)
    }

    /// Whether a read of `key` between `from` and `to` may have gone to a replica of a
    /// migration's source, which no longer has the keys that moved.
    fn stale(&self, key: &str, from: Instant, to: Instant) -> bool {
        let slot = resp_core::slot(key.as_bytes());
        self.replica_reads
            && self
                .migrations
                .iter()
                .any(|(slots, a, b)| slots.contains(&slot) && *a <= to && from <= *b)
    }
}

/// What the requests' outcomes add up to.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) succeeded: usize,
    pub(super) failed: usize,
    pub(super) errors: BTreeMap<&'static str, usize>,
}

/// Every request completed once, with the right reply or an error its situation allows.
pub(super) fn outcomes(
    ops: &[Op],
    subs: &[Vec<Sub>],
    outcomes: &[Outcome],
    rules: Rules,
    windows: &Windows,
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    for (i, (op, outcome)) in ops.iter().zip(outcomes).enumerate() {
        let ctx = |e: String| format!("op {i} ({:?} {:?}): {e}", op.shape, subs[i]);
        match &outcome.refused {
            Some(SubmitError::Backpressure { .. }) => {
                *tally.errors.entry("Backpressure").or_default() += 1;
            }
            Some(_) => *tally.errors.entry("Closed").or_default() += 1,
            None => {}
        }
        if outcome.id.is_none() {
            continue;
        }
        let Some((done_at, result)) = &outcome.result else {
            return Err(ctx("never completed".into()));
        };
        let submitted = outcome.submitted_at.expect("submitted");
        match result {
            Ok(reply) => {
                tally.succeeded += 1;
                let stale = |key: &str| windows.stale(key, submitted, *done_at);
                let refused = rules.sentinel && windows.disrupted(submitted, *done_at);
                check_reply(op.shape, &subs[i], reply, rules.replay, refused, &stale)
                    .map_err(ctx)?;
            }
            Err(error) => {
                tally.failed += 1;
                *tally.errors.entry(error_kind(error)).or_default() += 1;
                let timeout = op.timeout.unwrap_or(rules.default_timeout);
                // A transaction in a slot under migration gets TRYAGAIN (multi-key, keys on
                // both sides) until the migration ends, and may run out of time meanwhile.
                let migrating = matches!(op.shape, Shape::Transaction)
                    && windows.any_migration(submitted, *done_at);
                let disrupted = windows.disrupted(submitted, *done_at) || migrating;
                check_error(error, outcome, *done_at, timeout, rules, disrupted).map_err(ctx)?;
            }
        }
    }
    Ok(tally)
}

/// Acknowledged writes are in the keyspace; without replay none ran twice; and a request
/// that failed in a way that says it never ran, did not.
pub(super) fn writes<S: Servers>(
    sim: &mut Sim<S>,
    db: usize,
    ops: &[Op],
    subs: &[Vec<Sub>],
    outcomes: &[Outcome],
    replay: bool,
) -> Result<(), String> {
    let now = sim.now();
    for (i, (op, outcome)) in ops.iter().zip(outcomes).enumerate() {
        let ctx = |e: String| format!("op {i} ({:?} {:?}): {e}", op.shape, subs[i]);
        let acked = acked_frames(op.shape, outcome);
        let failure = match &outcome.result {
            Some((_, Err(error))) => Some(error),
            _ => None,
        };
        // `sent: false` is a promise that the request never left, whatever the settings.
        let claims_unsent = matches!(
            failure,
            Some(
                RequestError::Timeout { sent: false, .. }
                    | RequestError::FailoverInProgress { sent: false, .. }
            )
        );
        // These fail only requests that were not sent, or were and may be sent again.
        let unsent = claims_unsent
            || matches!(
                failure,
                Some(RequestError::Unavailable { .. } | RequestError::Closed)
            );
        let resendable = !outcome.pinned && (replay || outcome.retry_safe);
        for (k, sub) in subs[i].iter().enumerate() {
            for (command, key) in sub.writes() {
                let runs = sim.servers().executions(command, key.as_bytes());
                if !replay && runs > 1 {
                    return Err(ctx(format!(
                        "{command} {key} ran {runs} times without replay"
                    )));
                }
                if (claims_unsent || (unsent && !resendable)) && runs > 0 {
                    return Err(ctx(format!(
                        "{command} {key} ran {runs} times, yet the request failed with \
                         {failure:?}"
                    )));
                }
            }
            let Some(frame) = acked.as_ref().and_then(|frames| frames.get(k)) else {
                continue;
            };
            if let Sub::Del { items } = sub {
                // An acknowledged DEL removed every key whose SET it came after.
                for item in items.iter().filter(|i| i.acked) {
                    let stored = sim.servers_mut().stored(db, item.key.as_bytes(), now);
                    if stored.is_some() {
                        return Err(ctx(format!(
                            "{} was deleted (acknowledged with {frame:?}) after its SET was \
                             acknowledged, yet holds {stored:?}",
                            item.key
                        )));
                    }
                }
                continue;
            }
            let Some((_, key)) = sub.writes().into_iter().next() else {
                continue;
            };
            let stored = sim.servers_mut().stored(db, key.as_bytes(), now);
            check_durable(sub, frame, stored.as_ref()).map_err(ctx)?;
        }
    }
    Ok(())
}

/// Whether sub `k` of `op`, a `SET`, was acknowledged with `OK`.
pub(super) fn set_acked(outcome: &Outcome, op: &Op, k: usize) -> bool {
    let frames = acked_frames(op.shape, outcome);
    frames
        .and_then(|f| f.get(k).cloned())
        .is_some_and(|f| matches!(f, Frame::SimpleString(_)))
}

/// The replies of each command of an op that succeeded.
fn acked_frames(shape: Shape, outcome: &Outcome) -> Option<Vec<Frame>> {
    match (&outcome.result, shape) {
        (Some((_, Ok(Reply::Single(frame)))), Shape::Single) => Some(vec![frame.clone()]),
        (Some((_, Ok(Reply::Pipeline(frames)))), Shape::Pipeline) => Some(frames.clone()),
        (Some((_, Ok(Reply::Single(Frame::Array(frames))))), Shape::Transaction) => {
            Some(frames.clone())
        }
        _ => None,
    }
}

/// `refused`: a demoted primary may have refused the writes with `-READONLY` (a whole
/// transaction with `-EXECABORT`); those did not run.
fn check_reply(
    shape: Shape,
    subs: &[Sub],
    reply: &Reply,
    replay: bool,
    refused: bool,
    stale: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let readonly = |frame: &Frame| frame.error_code() == Some(&b"READONLY"[..]);
    if refused
        && let (Shape::Transaction, Reply::Single(frame)) = (shape, reply)
        && frame.error_code() == Some(&b"EXECABORT"[..])
    {
        return Ok(());
    }
    let frames: &[Frame] = match (shape, reply) {
        (Shape::Single, Reply::Single(frame)) => std::slice::from_ref(frame),
        (Shape::Pipeline, Reply::Pipeline(frames)) => frames,
        (Shape::Transaction, Reply::Single(Frame::Array(frames))) => frames,
        _ => return Err(format!("a reply of the wrong shape: {reply:?}")),
    };
    if frames.len() != subs.len() {
        return Err(format!(
            "{} replies for {} commands: {frames:?}",
            frames.len(),
            subs.len()
        ));
    }
    // Keys whose write in this request was refused: a later read of them finds nothing.
    let mut unwritten: Vec<&str> = Vec::new();
    for (sub, frame) in subs.iter().zip(frames) {
        if refused && readonly(frame) && !sub.writes().is_empty() {
            unwritten.extend(sub.keys());
            continue;
        }
        if sub.keys().iter().any(|key| unwritten.contains(key)) {
            continue;
        }
        sub.check(frame, replay, stale)?;
    }
    Ok(())
}

fn error_kind(error: &RequestError) -> &'static str {
    match error {
        RequestError::Timeout { sent: false, .. } => "Timeout (not sent)",
        RequestError::Timeout { sent: true, .. } => "Timeout (sent)",
        RequestError::MayHaveExecuted { .. } => "MayHaveExecuted",
        RequestError::ConnectionLost { .. } => "ConnectionLost",
        RequestError::Unavailable { .. } => "Unavailable",
        RequestError::Auth { .. } => "Auth",
        RequestError::Handshake { .. } => "Handshake",
        RequestError::RetriesExhausted { .. } => "RetriesExhausted",
        RequestError::Cancelled => "Cancelled",
        RequestError::Closed => "Closed",
        RequestError::CrossSlot { .. } => "CrossSlot",
        RequestError::TooManyRedirects { .. } => "TooManyRedirects",
        RequestError::TimedOutRetrying { .. } => "TimedOutRetrying",
        RequestError::FailoverInProgress { .. } => "FailoverInProgress",
    }
}

/// `disrupted`: the request overlapped a failover or restart, which a caller may notice even
/// on a perfect network.
fn check_error(
    error: &RequestError,
    outcome: &Outcome,
    done_at: Instant,
    timeout: Duration,
    rules: Rules,
    disrupted: bool,
) -> Result<(), String> {
    let submitted = outcome.submitted_at.expect("submitted");
    let may_retry = !outcome.pinned && (outcome.retry_safe || rules.replay);
    // A part of a split pipeline runs out of retries on its own.
    let part_may_retry = !outcome.pinned && (outcome.part_retry_safe || rules.replay);
    let after_quit = rules.quitted.is_some_and(|at| at <= done_at);
    let fine = match error {
        RequestError::Cancelled => outcome.cancelled_at == Some(done_at),
        _ if outcome.cancelled_at.is_some_and(|at| at <= done_at) => false,
        RequestError::Closed => after_quit,
        // A shared connection is never coming back after quit: nothing waits for one.
        RequestError::Timeout { sent: false, .. } if after_quit && !outcome.pinned => {
            return Err(format!(
                "{error:?}: after quit, a request waited for a connection until its deadline \
                 instead of failing with Closed"
            ));
        }
        RequestError::ConnectionLost { .. } => outcome.pinned,
        // The workload's transactions use one slot, and multi-key commands are split.
        RequestError::CrossSlot { .. } => false,
        // Redirections and CLUSTERDOWN retries run out only while a shard has no primary.
        RequestError::TooManyRedirects { .. } => disrupted,
        // Refusals (CLUSTERDOWN, TRYAGAIN) outlast a deadline only while a shard has no
        // primary or a slot moves.
        RequestError::TimedOutRetrying { after, .. } => {
            at_deadline(error, *after, submitted, done_at, timeout)?;
            disrupted
        }
        // After quit, a split request some parts of which never left fails as a whole: with
        // `MayHaveExecuted` when another part was sent.
        RequestError::MayHaveExecuted { .. } if rules.split && after_quit => !outcome.pinned,
        _ if rules.calm && !disrupted => false,
        RequestError::FailoverInProgress { after, .. } if rules.sentinel => {
            at_deadline(error, *after, submitted, done_at, timeout)?;
            !outcome.pinned
        }
        // Discovery gives up after the policy's rounds, or the deadline comes first.
        RequestError::Unavailable { .. } if rules.sentinel => !outcome.pinned,
        RequestError::Timeout { after, .. } => {
            at_deadline(error, *after, submitted, done_at, timeout)?;
            true
        }
        RequestError::MayHaveExecuted { .. } => !outcome.pinned && !may_retry,
        RequestError::RetriesExhausted { attempts, .. } => {
            (may_retry || (rules.split && part_may_retry)) && *attempts == rules.max_retries + 1
        }
        RequestError::Unavailable { attempts, .. } => {
            !outcome.pinned
                && (Some(*attempts) == rules.max_attempts
                    || Some(*attempts) == rules.max_attempts.map(|max| max.max(rules.seeds)))
        }
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("unexpected failure {error:?}"))
    }
}

/// A request that failed for its timeout `after` did at its deadline.
fn at_deadline(
    error: &RequestError,
    after: Duration,
    submitted: Instant,
    done_at: Instant,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = submitted + timeout;
    if after != timeout {
        return Err(format!("{error:?}, but the timeout was {timeout:?}"));
    }
    if done_at < deadline || done_at > deadline + Duration::from_millis(1) {
        return Err(format!(
            "{error:?} after {:?}, not at its deadline",
            done_at.saturating_duration_since(submitted)
        ));
    }
    Ok(())
}

/// An acknowledged write is in the keyspace at the end.
fn check_durable(sub: &Sub, reply: &Frame, stored: Option<&StoredValue>) -> Result<(), String> {
    let lost = |what: &str| {
        Err(format!(
            "acknowledged {what} is lost: the key holds {stored:?}"
        ))
    };
    match (sub, reply) {
        (Sub::Set { doomed: true, .. }, _) => Ok(()),
        (Sub::Set { value, .. }, Frame::SimpleString(_)) => match stored {
            Some(StoredValue::String(s)) if s == value.as_bytes() => Ok(()),
            _ => lost("SET"),
        },
        (Sub::Incr { .. } | Sub::EvalIncr { .. }, Frame::Integer(n)) => match stored {
            Some(StoredValue::String(s))
                if std::str::from_utf8(s)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    >= Some(*n) =>
            {
                Ok(())
            }
            _ => lost("INCR"),
        },
        (Sub::Hset { field, value, .. }, Frame::Integer(_)) => match stored {
            Some(StoredValue::Hash(h))
                if h.get(field.as_bytes()) == Some(&Bytes::from(value.clone())) =>
            {
                Ok(())
            }
            _ => lost("HSET"),
        },
        (Sub::Rpush { .. }, Frame::Integer(n)) => match stored {
            Some(StoredValue::List(l)) if l.len() as i64 >= *n => Ok(()),
            _ => lost("RPUSH"),
        },
        _ => Ok(()),
    }
}
