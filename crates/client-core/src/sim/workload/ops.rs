//! The commands of a seed's workload, and how they are drawn.

use std::time::Duration;

use bytes::Bytes;

use super::{Op, Shape};
use crate::command::{Command, cmd};
use crate::sim::{SimRng, script_sha};

/// The script that increments `KEYS[1]`, which the fake node runs.
const INCR_SCRIPT: &str = "return redis.call('INCR', KEYS[1])";

/// One key a multi-key command names: a key an earlier `SET` wrote, or one never written.
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub(super) key: String,
    /// The value the earlier `SET` wrote; `None` for a key nobody writes.
    pub(super) value: Option<String>,
    /// That `SET`: (op, sub).
    pub(super) source: Option<(usize, usize)>,
    /// The `SET` was acknowledged before this request was submitted.
    pub(super) acked: bool,
}

/// One command of a request, with what its reply must be.
#[derive(Clone, Debug)]
pub(super) enum Sub {
    Set {
        key: String,
        value: String,
        nx: bool,
        ex: bool,
        /// A later `DEL` may remove the key: its presence at the end is not checked.
        doomed: bool,
    },
    /// A key an earlier request set; `acked` when that `SET` was acknowledged before this
    /// request was submitted.
    Get {
        key: String,
        value: String,
        acked: bool,
    },
    GetMissing {
        key: String,
    },
    Incr {
        key: String,
    },
    Echo {
        text: String,
    },
    Ping,
    Hset {
        key: String,
        field: String,
        value: String,
    },
    Hget {
        key: String,
        field: String,
        value: String,
    },
    Rpush {
        key: String,
        items: [String; 2],
    },
    Lrange {
        key: String,
        items: [String; 2],
    },
    Eval {
        n: i64,
    },
    EvalIncr {
        key: String,
    },
    /// `MGET` of keys in any slots.
    Mget {
        items: Vec<Item>,
    },
    /// `EXISTS` of keys in any slots.
    Exists {
        items: Vec<Item>,
    },
    /// `DEL` of doomed keys (and keys never written) in any slots.
    Del {
        items: Vec<Item>,
    },
    /// `DBSIZE`: summed over the shards in a cluster.
    Dbsize,
}

impl Sub {
    pub(super) fn command(&self) -> Command {
        match self {
            Self::Set {
                key, value, nx, ex, ..
            } => {
                // Large values go by reference, in their own chunks of the write.
                let mut c = cmd("SET").key(key.as_str()).arg(Bytes::from(value.clone()));
                if *nx {
                    c = c.arg("NX");
                }
                if *ex {
                    c = c.arg("EX").arg(1000);
                }
                c
            }
            Self::Get { key, .. } | Self::GetMissing { key } => cmd("GET").key(key.as_str()),
            Self::Incr { key } => cmd("INCR").key(key.as_str()),
            Self::Echo { text } => cmd("ECHO").arg(text.as_str()),
            Self::Ping => cmd("PING"),
            Self::Hset { key, field, value } => cmd("HSET")
                .key(key.as_str())
                .arg(field.as_str())
                .arg(value.as_str()),
            Self::Hget { key, field, .. } => cmd("HGET").key(key.as_str()).arg(field.as_str()),
            Self::Rpush { key, items } => cmd("RPUSH")
                .key(key.as_str())
                .arg(items[0].as_str())
                .arg(items[1].as_str()),
            Self::Lrange { key, .. } => cmd("LRANGE").key(key.as_str()).arg(0).arg(-1),
            Self::Eval { n } => {
                let script = format!("return {n}");
                cmd("EVALSHA")
                    .arg(script_sha(&script))
                    .arg(0)
                    .on_noscript(cmd("EVAL").arg(script).arg(0))
            }
            Self::EvalIncr { key } => cmd("EVALSHA")
                .arg(script_sha(INCR_SCRIPT))
                .arg(1)
                .key(key.as_str())
                .on_noscript(cmd("EVAL").arg(INCR_SCRIPT).arg(1).key(key.as_str())),
            Self::Mget { items } => items
                .iter()
                .fold(cmd("MGET"), |c, item| c.key(item.key.as_str())),
            Self::Exists { items } => items
                .iter()
                .fold(cmd("EXISTS"), |c, item| c.key(item.key.as_str())),
            Self::Del { items } => items
                .iter()
                .fold(cmd("DEL"), |c, item| c.key(item.key.as_str())),
            Self::Dbsize => cmd("DBSIZE"),
        }
    }

    /// The writes this command does, as the nodes log them: (command, key) for each key.
    pub(super) fn writes(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Set { key, .. } => vec![("SET", key)],
            Self::Incr { key } | Self::EvalIncr { key } => vec![("INCR", key)],
            Self::Hset { key, .. } => vec![("HSET", key)],
            Self::Rpush { key, .. } => vec![("RPUSH", key)],
            Self::Del { items } => items.iter().map(|i| ("DEL", i.key.as_str())).collect(),
            _ => Vec::new(),
        }
    }

    /// The keys this command names.
    pub(super) fn keys(&self) -> Vec<&str> {
        match self {
            Self::Set { key, .. }
            | Self::Get { key, .. }
            | Self::GetMissing { key }
            | Self::Incr { key }
            | Self::Hset { key, .. }
            | Self::Hget { key, .. }
            | Self::Rpush { key, .. }
            | Self::Lrange { key, .. }
            | Self::EvalIncr { key } => vec![key],
            Self::Mget { items } | Self::Exists { items } | Self::Del { items } => {
                items.iter().map(|i| i.key.as_str()).collect()
            }
            Self::Echo { .. } | Self::Ping | Self::Eval { .. } | Self::Dbsize => Vec::new(),
        }
    }

    /// Notes, for each key an earlier `SET` wrote, whether that `SET` was acknowledged by
    /// now (`acked(op, sub)`).
    pub(super) fn mark_acked(&mut self, acked: impl Fn(usize, usize) -> bool) {
        if let Self::Mget { items } | Self::Exists { items } | Self::Del { items } = self {
            for item in items {
                if let Some((op, sub)) = item.source {
                    item.acked = acked(op, sub);
                }
            }
        }
    }
}

/// The requests of a seed: mostly single commands, some pipelines and transactions, some
/// concurrent (submitted at the same instant), some with short timeouts or cancelled.
pub(super) fn generate_ops(rng: &mut SimRng, count: usize, calm: bool, dedicated: bool) -> Vec<Op> {
    let mut ops = Vec::with_capacity(count);
    // Earlier SETs of single requests: (op, sub).
    let mut sets: Vec<(usize, usize)> = Vec::new();
    let mut at = Duration::ZERO;
    for i in 0..count {
        if !rng.chance(0.4) {
            at += rng.millis(0, 8);
        }
        let roll = rng.below(100);
        let shape = match roll {
            0..65 => Shape::Single,
            65..88 => Shape::Pipeline,
            _ => Shape::Transaction,
        };
        let len = match shape {
            Shape::Single => 1,
            Shape::Pipeline => rng.between(2, 10) as usize,
            Shape::Transaction => rng.between(1, 5) as usize,
        };
        let mut subs = Vec::with_capacity(len);
        let mut reads = Vec::with_capacity(len);
        while subs.len() < len {
            let j = subs.len();
            let name = |what: &str| format!("{what}:{i}.{j}");
            let mut read = None;
            let pick = rng.below(if shape == Shape::Transaction { 7 } else { 11 });
            let sub = match pick {
                0 | 1 => Sub::Set {
                    key: name("k"),
                    value: if rng.chance(0.02) {
                        name("v").repeat(4000)
                    } else {
                        name("v")
                    },
                    nx: rng.chance(0.2),
                    ex: rng.chance(0.2),
                    doomed: false,
                },
                2 => Sub::Incr { key: name("c") },
                3 => Sub::Echo { text: name("e") },
                4 => Sub::GetMissing { key: name("m") },
                5 if len - j >= 2 => {
                    let (key, field, value) = (name("h"), "f".to_string(), name("hv"));
                    subs.push(Sub::Hset {
                        key: key.clone(),
                        field: field.clone(),
                        value: value.clone(),
                    });
                    reads.push(None);
                    Sub::Hget { key, field, value }
                }
                6 if len - j >= 2 => {
                    let (key, items) = (name("l"), [name("a"), name("b")]);
                    subs.push(Sub::Rpush {
                        key: key.clone(),
                        items: items.clone(),
                    });
                    reads.push(None);
                    Sub::Lrange { key, items }
                }
                5 | 6 => Sub::Ping,
                7 | 8 if !sets.is_empty() => {
                    let (op, k) = *rng.pick(&sets);
                    let earlier: &Op = &ops[op];
                    let Sub::Set { key, value, .. } = &earlier.subs[k] else {
                        unreachable!("`sets` lists SETs only")
                    };
                    read = Some((op, k));
                    Sub::Get {
                        key: key.clone(),
                        value: value.clone(),
                        acked: false,
                    }
                }
                7 | 8 => Sub::Incr { key: name("c") },
                9 => Sub::Eval {
                    n: rng.between(1, 4) as i64,
                },
                _ => Sub::EvalIncr { key: name("s") },
            };
            subs.push(sub);
            reads.push(read);
        }
        if shape == Shape::Single && matches!(subs[0], Sub::Set { nx: false, .. }) {
            sets.push((i, 0));
        }
        let timeout = (!calm && rng.chance(0.1)).then(|| rng.millis(1, 300));
        let cancel_after = rng.chance(0.05).then(|| rng.millis(0, 20));
        let pinned = dedicated && rng.chance(0.3);
        ops.push(Op {
            at,
            shape,
            subs,
            reads,
            timeout,
            cancel_after,
            pinned,
        });
    }
    ops
}
