//! The cluster side of a [`FakeNode`]: which node serves a command (Redis's
//! `getNodeByQuery`) and the `CLUSTER` command.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use resp_core::Frame;

use super::keyspace::{Entry, parse_i64};
use super::{COMMANDS, FakeNode, NodeConfig, NodeConnId, error};
use crate::command::{BeginSearch, CommandFlags, CommandSpec, FindKeys, cmd};
use crate::sim::cluster::{ClusterView, node_id};

const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";

/// What a node of a cluster holds beyond a standalone node's state.
#[derive(Debug)]
pub(super) struct ClusterRole {
    pub(super) view: ClusterView,
    /// `cluster-require-full-coverage`: while a slot has no healthy owner, every keyed
    /// command gets `-CLUSTERDOWN`.
    full_coverage: bool,
    /// How many redirections and refusals of each kind it answered.
    redirects: BTreeMap<&'static str, usize>,
}

/// The command table's entry for each command the fake node knows.
pub(super) fn spec_of(name: &str) -> Option<&'static CommandSpec> {
    static SPECS: OnceLock<BTreeMap<&'static str, &'static CommandSpec>> = OnceLock::new();
    SPECS
        .get_or_init(|| {
            COMMANDS
                .iter()
                .filter_map(|&(name, _)| Some((name, cmd(name).spec()?)))
                .collect()
        })
        .get(name)
        .copied()
}

/// The positions of `args` that hold keys, by the command table's key specs (`name` is one
/// of the node's upper-case command names).
pub(super) fn key_positions(name: &str, args: &[Bytes]) -> Vec<usize> {
    let Some(spec) = spec_of(name) else {
        return Vec::new();
    };
    let argc = args.len();
    let mut keys = Vec::new();
    for key_spec in spec.key_specs {
        let start = match key_spec.begin_search {
            BeginSearch::Index(i) if i > 0 => i as usize,
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => {
                let found = if start_from >= 0 {
                    (start_from as usize..argc)
                        .find(|&i| args[i].eq_ignore_ascii_case(keyword.as_bytes()))
                } else {
                    let from = argc.saturating_sub(start_from.unsigned_abs() as usize);
                    (1..=from)
                        .rev()
                        .find(|&i| args[i].eq_ignore_ascii_case(keyword.as_bytes()))
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            _ => continue,
        };
        match key_spec.find_keys {
            FindKeys::Range { last_key, step, .. } => {
                let last = if last_key >= 0 {
                    start + last_key as usize
                } else {
                    argc.saturating_sub(last_key.unsigned_abs() as usize)
                };
                let step = step.max(1) as usize;
                keys.extend((start..=last.min(argc.saturating_sub(1))).step_by(step));
            }
            FindKeys::KeyNum {
                key_num_index,
                first_key,
                step,
            } => {
                let count = args
                    .get(start + key_num_index.max(0) as usize)
                    .and_then(|n| parse_i64(n))
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0);
                let first = start + first_key.max(0) as usize;
                let step = step.max(1) as usize;
                keys.extend(
                    (0..count)
                        .map(|i| first + i * step)
                        .take_while(|&i| i < argc),
                );
            }
            _ => {}
        }
    }
    keys
}

impl FakeNode {
    /// A node of a cluster, holding `view` (which names it).
    pub(crate) fn in_cluster(config: NodeConfig, view: ClusterView, full_coverage: bool) -> Self {
        let mut node = Self::new(config);
        node.cluster = Some(ClusterRole {
            view,
            full_coverage,
            redirects: BTreeMap::new(),
        });
        node
    }

    /// How many replies of each cluster kind (`"MOVED"`, `"ASK"`, `"TRYAGAIN"`,
    /// `"CLUSTERDOWN"`, `"CROSSSLOT"`) this node sent.
    pub fn redirects(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.cluster
            .iter()
            .flat_map(|c| c.redirects.iter().map(|(&k, &n)| (k, n)))
    }

    /// What this node believes about its cluster; `None` for a standalone node.
    pub fn view(&self) -> Option<&ClusterView> {
        self.cluster.as_ref().map(|c| &c.view)
    }

    /// The view, to change it.
    pub(crate) fn view_mut(&mut self) -> Option<&mut ClusterView> {
        self.cluster.as_mut().map(|c| &mut c.view)
    }

    /// Removes `key` from database 0 and returns it, unless it is missing or expired.
    pub(crate) fn take_key(&mut self, key: &[u8], now: Instant) -> Option<Entry> {
        self.keyspace.take(0, key, now)
    }

    /// Stores `key` in database 0.
    pub(crate) fn put_key(&mut self, key: Bytes, entry: Entry) {
        self.keyspace.put(0, key, entry);
    }

    /// The first live key of database 0 (in key order) that `wanted` accepts.
    pub(crate) fn find_key(
        &mut self,
        wanted: impl Fn(&[u8]) -> bool,
        now: Instant,
    ) -> Option<Bytes> {
        self.keyspace.find(0, wanted, now)
    }

    /// Every live key of database `db` at `now`, in key order.
    pub fn keys(&self, db: usize, now: Instant) -> Vec<Bytes> {
        self.keyspace.keys(db, now)
    }

    /// Whether this node serves the queued commands of a transaction, at `EXEC`; the
    /// redirection or error to answer when it does not.
    pub(super) fn route_transaction(
        &mut self,
        conn: NodeConnId,
        queued: &[(&'static str, Vec<Bytes>)],
        now: Instant,
    ) -> Option<Frame> {
        self.cluster.as_ref()?;
        let commands: Vec<(&'static str, &[Bytes])> = queued
            .iter()
            .map(|(name, args)| (*name, &args[..]))
            .collect();
        self.route(conn, &commands, now)
    }

    /// Whether this node serves `commands` (one, or a transaction's) on `conn`: `None` when it
    /// does, else the `-MOVED`, `-ASK`, `-TRYAGAIN`, `-CROSSSLOT` or `-CLUSTERDOWN` to answer
    /// (counted).
    pub(super) fn route(
        &mut self,
        conn: NodeConnId,
        commands: &[(&'static str, &[Bytes])],
        now: Instant,
    ) -> Option<Frame> {
        let reply = self.redirect(conn, commands, now)?;
        let code = match reply.error_code() {
            Some(b"MOVED") => "MOVED",
            Some(b"ASK") => "ASK",
            Some(b"TRYAGAIN") => "TRYAGAIN",
            Some(b"CROSSSLOT") => "CROSSSLOT",
            _ => "CLUSTERDOWN",
        };
        if let Some(c) = &mut self.cluster {
            *c.redirects.entry(code).or_insert(0) += 1;
        }
        Some(reply)
    }

    /// Redis's `getNodeByQuery`, for database 0: `None` when this node serves `commands`.
    fn redirect(
        &mut self,
        conn: NodeConnId,
        commands: &[(&'static str, &[Bytes])],
        now: Instant,
    ) -> Option<Frame> {
        let role = self.cluster.as_ref()?;
        let view = &role.view;
        let me = view.me()?;
        let (asking, readonly) = self
            .conns
            .get(&conn.0)
            .map_or((false, false), |c| (c.asking, c.readonly));
        let mut first: Option<(u16, &Bytes)> = None;
        let mut owner = None;
        let (mut migrating, mut importing, mut multiple) = (false, false, false);
        let (mut missing, mut existing) = (0, 0);
        let mut writes = false;
        // Shard pub/sub commands: a migrating slot's channels stay with the source until the
        // slot is given away, a replica serves them without READONLY, and they work while
        // the cluster is down (`cluster-allow-pubsubshard-when-down yes`).
        let shard_pubsub = commands
            .iter()
            .any(|(name, _)| matches!(*name, "SSUBSCRIBE" | "SUNSUBSCRIBE" | "SPUBLISH"));
        for &(name, args) in commands {
            let risky = CommandFlags::WRITE | CommandFlags::MAY_REPLICATE;
            if !shard_pubsub {
                writes |= spec_of(name).is_none_or(|s| s.flags.intersects(risky));
            }
            for i in key_positions(name, args) {
                let key = &args[i];
                let slot = resp_core::slot(key);
                match first {
                    None => {
                        first = Some((slot, key));
                        let Some(o) = view.owner(slot) else {
                            return Some(error("CLUSTERDOWN Hash slot not served"));
                        };
                        owner = Some(o);
                        migrating = o == me && view.migrating(slot).is_some();
                        importing = !migrating && view.importing(slot).is_some();
                    }
                    Some((first_slot, _)) if first_slot != slot => return Some(error(CROSSSLOT)),
                    Some((_, first_key)) => multiple |= importing && key != first_key,
                }
                if (migrating || importing) && !shard_pubsub {
                    if self.keyspace.value(0, key, now).is_some() {
                        existing += 1;
                    } else {
                        missing += 1;
                    }
                }
            }
        }
        let (Some((slot, _)), Some(owner)) = (first, owner) else {
            // No key: any node serves it.
            return None;
        };
        if role.full_coverage && !view.is_healthy() && !shard_pubsub {
            return Some(error("CLUSTERDOWN The cluster is down"));
        }
        if migrating && missing > 0 {
            if existing > 0 {
                return Some(error(TRYAGAIN));
            }
            let to = view.migrating(slot).unwrap_or(owner);
            return Some(ClusterView::ask(slot, to));
        }
        if importing && asking {
            return (multiple && missing > 0).then(|| error(TRYAGAIN));
        }
        if (readonly || shard_pubsub) && !writes && view.i_replicate(owner) {
            return None;
        }
        (owner != me).then(|| ClusterView::moved(slot, owner))
    }

    /// `CLUSTER SHARDS | SLOTS | KEYSLOT <key> | MYID | INFO`.
    pub(super) fn cluster_command(&self, args: &[Bytes]) -> Frame {
        let Some(role) = &self.cluster else {
            return error("ERR This instance has cluster support disabled");
        };
        let sub = args[1].to_ascii_uppercase();
        match (&sub[..], args.len()) {
            // Replicas copy every write at once: the whole shard is at the same offset.
            (b"SHARDS", 2) if self.config.cluster_shards => role.view.shards_reply(|_| self.offset),
            (b"SLOTS", 2) => role.view.slots_reply(),
            (b"KEYSLOT", 3) => Frame::Integer(i64::from(resp_core::slot(&args[2]))),
            (b"MYID", 2) => Frame::BulkString(node_id(role.view.me().unwrap_or(0)).into()),
            (b"INFO", 2) => {
                let state = if role.view.is_healthy() { "ok" } else { "fail" };
                let known = role.view.peers().count();
                let info = format!(
                    "cluster_enabled:1\r\ncluster_state:{state}\r\ncluster_known_nodes:{known}\r\n\
                     cluster_size:{}\r\n",
                    role.view.primaries().len()
                );
                Frame::BulkString(info.into())
            }
            _ => error(&format!(
                "ERR unknown subcommand '{}'. Try CLUSTER HELP.",
                String::from_utf8_lossy(&args[1])
            )),
        }
    }
}
