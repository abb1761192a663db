//! The properties a seed's run must have, checked on what happened to each request and on
//! the node's keyspace and execution log at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use resp_core::Frame;

use super::ops::Sub;
use super::{Op, Outcome, Shape};
use crate::error::{RequestError, SubmitError};
use crate::event::Reply;
use crate::sim::{Sim, StoredValue};

impl Sub {
    /// Checks the reply. With `replay`, a write may have run more than once.
    pub(super) fn check(&self, frame: &Frame, replay: bool) -> Result<(), String> {
        let bulk = |want: &str| matches!(frame, Frame::BulkString(b) if b == want.as_bytes());
        let int = match frame {
            Frame::Integer(n) => Some(*n),
            _ => None,
        };
        let fine = match self {
            Self::Set { nx, .. } => {
                matches!(frame, Frame::SimpleString(s) if s == "OK")
                    || (*nx && replay && frame.is_null())
            }
            Self::Get { value, acked, .. } => bulk(value) || (!acked && frame.is_null()),
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
    pub(super) calm: bool,
    pub(super) quitted: Option<Instant>,
    pub(super) max_attempts: Option<u32>,
    pub(super) max_retries: u32,
    pub(super) default_timeout: Duration,
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
        match result {
            Ok(reply) => {
                tally.succeeded += 1;
                check_reply(op.shape, &subs[i], reply, rules.replay).map_err(ctx)?;
            }
            Err(error) => {
                tally.failed += 1;
                *tally.errors.entry(error_kind(error)).or_default() += 1;
                let timeout = op.timeout.unwrap_or(rules.default_timeout);
                check_error(error, outcome, *done_at, timeout, rules).map_err(ctx)?;
            }
        }
    }
    Ok(tally)
}

/// Acknowledged writes are in the keyspace; without replay none ran twice; and a request
/// that failed in a way that says it never ran, did not.
pub(super) fn writes(
    sim: &mut Sim,
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
        let claims_unsent = matches!(failure, Some(RequestError::Timeout { sent: false, .. }));
        // These fail only requests that were not sent, or were and may be sent again.
        let unsent = claims_unsent
            || matches!(
                failure,
                Some(RequestError::Unavailable { .. } | RequestError::Closed)
            );
        let resendable = !outcome.pinned && (replay || outcome.retry_safe);
        for (k, sub) in subs[i].iter().enumerate() {
            let Some((command, key)) = sub.write() else {
                continue;
            };
            let runs = sim.node().log().count(command, key.as_bytes());
            if !replay && runs > 1 {
                return Err(ctx(format!(
                    "{command} {key} ran {runs} times without replay"
                )));
            }
            if (claims_unsent || (unsent && !resendable)) && runs > 0 {
                return Err(ctx(format!(
                    "{command} {key} ran {runs} times, yet the request failed with {failure:?}"
                )));
            }
            let Some(frame) = acked.as_ref().and_then(|frames| frames.get(k)) else {
                continue;
            };
            let stored = sim.node_mut().value(db, key.as_bytes(), now).cloned();
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

fn check_reply(shape: Shape, subs: &[Sub], reply: &Reply, replay: bool) -> Result<(), String> {
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
    for (sub, frame) in subs.iter().zip(frames) {
        sub.check(frame, replay)?;
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
    }
}

fn check_error(
    error: &RequestError,
    outcome: &Outcome,
    done_at: Instant,
    timeout: Duration,
    rules: Rules,
) -> Result<(), String> {
    let submitted = outcome.submitted_at.expect("submitted");
    let may_retry = !outcome.pinned && (outcome.retry_safe || rules.replay);
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
        _ if rules.calm => false,
        RequestError::Timeout { after, .. } => {
            let deadline = submitted + timeout;
            if *after != timeout {
                return Err(format!("{error:?}, but the timeout was {timeout:?}"));
            }
            if done_at < deadline || done_at > deadline + Duration::from_millis(1) {
                return Err(format!(
                    "{error:?} after {:?}, not at its deadline",
                    done_at.saturating_duration_since(submitted)
                ));
            }
            true
        }
        RequestError::MayHaveExecuted { .. } => !outcome.pinned && !may_retry,
        RequestError::RetriesExhausted { attempts, .. } => {
            may_retry && *attempts == rules.max_retries + 1
        }
        RequestError::Unavailable { attempts, .. } => {
            !outcome.pinned && Some(*attempts) == rules.max_attempts
        }
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("unexpected failure {error:?}"))
    }
}

/// An acknowledged write is in the keyspace at the end.
fn check_durable(sub: &Sub, reply: &Frame, stored: Option<&StoredValue>) -> Result<(), String> {
    let lost = |what: &str| {
        Err(format!(
            "acknowledged {what} is lost: the key holds {stored:?}"
        ))
    };
    match (sub, reply) {
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
