//! Deterministic simulation: the core against a fake Redis node, a fake Redis Cluster, or fake
//! Redis Sentinels and their data nodes, on a seeded, faulty network, on a virtual clock.
//!
//! Everything here is sans-IO like the core itself, so a whole run (client, network and
//! server) is a pure function of its seed: a failing seed replays exactly, with a trace.
//! Nothing reads the real clock except [`Clock::new`], once, for the base of virtual time.
//!
//! # The parts
//!
//! - [`FakeNode`] is a small Redis server as a state machine: per connection it decodes
//!   commands with `resp_core::Decoder`, runs them against an in-memory keyspace shared by all
//!   its connections, and encodes replies in the protocol the connection negotiated (RESP2, or
//!   RESP3 after `HELLO 3`). It knows the handshake (`HELLO`, `AUTH`, `SELECT`,
//!   `CLIENT SETNAME/SETINFO`), strings and counters with expiry, lists, hashes,
//!   `MULTI`/`EXEC`/`DISCARD` and a script cache (`EVAL`/`EVALSHA`/`SCRIPT LOAD` of
//!   `return <integer>` and of an `INCR` script), `CLIENT TRACKING` (default and `BCAST`
//!   modes, with RESP3 invalidation pushes as Redis 7 sends them; `node/tracking.rs`), and
//!   answers anything else with `-ERR unknown command`. [`NodeConfig`] makes it an older server (no `HELLO`, no RESP3, no
//!   `CLIENT SETINFO`, no `CLUSTER SHARDS`) or one that requires a password. Its
//!   [`ExecutionLog`] counts, per key, how many times each command ran (each key of a
//!   multi-key command once), which is how tests tell "ran at most once". It also knows
//!   `MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS` and `TOUCH` of several keys. A standalone
//!   node can be given a [`ReplicationRole`]: a replica of an address refuses writes (by
//!   the command table's write flag, before it queues them in a transaction; a script's
//!   `INCR` too) with `-READONLY You can't write against a read only replica.` and serves
//!   reads; `ROLE` answers in Redis 7's shapes (`master`, offset, `[ip, port, offset]` per
//!   replica; or `slave`, ip, port, `connected`/`connect`, offset), and `HELLO` says
//!   `role: replica`. It speaks pub/sub as Redis 7 does (`node/pubsub.rs`):
//!   `(P|S)SUBSCRIBE`, `(P|S)UNSUBSCRIBE`, `PUBLISH` and `SPUBLISH` (answering the number of
//!   its receivers), `*`/`?` globs, confirmations and messages as pushes in RESP3 and arrays
//!   in RESP2, where a subscribed connection only takes pub/sub commands, `PING` (`[pong,
//!   ""]`), `QUIT` and `RESET`; [`NodeConfig::deny_channels`] makes it refuse channels with
//!   `-NOPERM`. What a node writes to other connections reaches them through
//!   [`Servers::take_messages`]. In a cluster, `PUBLISH` reaches every node, `SPUBLISH` the
//!   nodes of the shard, shard commands are routed like keyed ones (a replica serves them,
//!   a migrating slot's channels stay with the source), and a node whose view gives a slot
//!   to another owner ends the slot's shard subscriptions with `sunsubscribe`; a Sentinel
//!   primary's `PUBLISH` reaches its replicas' subscribers.
//! - [`FakeCluster`] is a Redis 7 cluster of `FakeNode`s. Node `n` listens on
//!   [`node_addr(n)`](node_addr) (`node-<n>:<7000 + n>`, also reachable by its IP address
//!   [`node_ip(n)`](node_ip)), has its own keyspace, and holds its own [`ClusterView`]: the
//!   nodes and their roles (a shard is a primary and 0 to 2 replicas), the owner of each
//!   slot, and its own `MIGRATING`/`IMPORTING` slots. From that view it answers as Redis's
//!   `getNodeByQuery` does (`node/cluster.rs`): a keyed command for a slot it does not serve
//!   gets `-MOVED <slot> <host>:<port>`; keys in several slots `-CROSSSLOT`; on a migrating
//!   source, a command runs if its keys are all there, gets `-ASK` if none is, `-TRYAGAIN`
//!   if some are; an importing target runs a command only right after `ASKING` (one-shot, or
//!   for a whole `MULTI`...`EXEC`), `-TRYAGAIN` for several keys not all there; a replica
//!   serves reads of its primary's slots on a connection that sent `READONLY` (until
//!   `READWRITE`), and redirects the rest to the primary; with full coverage required (the
//!   default), a slot owned by a node marked failed makes every keyed command
//!   `-CLUSTERDOWN`. A queued command is checked when queued (a redirect makes `EXEC` answer
//!   `EXECABORT`), and `EXEC` checks the whole transaction again (a redirect discards it).
//!   `CLUSTER SHARDS` (maps in RESP3, the fields in Redis's order: `id`, `port`, `ip`,
//!   `endpoint`, `hostname`, `role`, `replication-offset`, `health`), `CLUSTER SLOTS` (host
//!   names as the preferred endpoint), `CLUSTER KEYSLOT`, `MYID` and `INFO` describe the
//!   node's view; `HELLO` says `mode: cluster`; `SELECT` of another database is refused. A
//!   primary's writes go to its replicas synchronously (a replication stream the cluster
//!   applies right after each read), so a failover loses no acknowledged write. Nodes are up,
//!   crashed (dials refused and connections reset, or for a vanished host dials never
//!   answered and connections silent), or retired (no new connections; each open one closed
//!   once nothing is in transit on it). The cluster also keeps the operator's record of what
//!   it should look like ([`FakeCluster::truth`]), which answers where a key lives now.
//! - [`FakeSentinels`] is a primary, 0 to 2 replicas and 1 to 5 Redis 7 sentinels
//!   (`sentinel/`). Data node `n` (the primary starts as 0) listens on
//!   [`node_addr(n)`](node_addr) and is announced by its IP address; sentinel `i` listens on
//!   [`sentinel_addr(i)`](sentinel_addr) (`sentinel-<i>:<26379 + i>`) and is node
//!   [`sentinel_node(i)`](sentinel_node) to the network. The primary's writes reach the
//!   running replicas synchronously, so a failover loses no acknowledged write. Each
//!   [`FakeSentinel`] speaks RESP2 and RESP3: `HELLO [3] [AUTH u p] [SETNAME n]`, `AUTH`
//!   (its own users, apart from the data nodes'), `CLIENT SETNAME/GETNAME/SETINFO/ID`,
//!   `PING`, `ROLE`, `INFO`, `SENTINEL GET-MASTER-ADDR-BY-NAME` (`[ip, port]` as bulk
//!   strings, a null array for an unknown service), `SENTINEL MASTER|MASTERS|SENTINELS|
//!   REPLICAS|SLAVES|MYID` (maps in RESP3, flat field/value arrays in RESP2, in Redis's
//!   field order, with flags such as `slave`, `s_down,slave`, `slave,disconnected`,
//!   `sentinel`), and `(P)SUBSCRIBE`/`(P)UNSUBSCRIBE` (confirmations as pushes in RESP3,
//!   arrays in RESP2; a subscribed RESP2 connection may then only (un)subscribe and `PING`,
//!   as in Redis). Each sentinel holds its own belief of the primary, so sentinels can
//!   disagree; when it switches it publishes `+switch-master <service> <old ip> <old port>
//!   <new ip> <new port>` to its subscribers, and `+sdown`/`-sdown` when it flags a node,
//!   through [`Outage::Send`]. What happens is a [`Happening`] on an agenda of virtual time:
//!   a data node or a sentinel crashes (refusing, or silent) and restarts (a data node that
//!   is not the primary comes back as a replica with a full copy); a [`Failover`] (the
//!   primary crashed first, or alive for a manual one) promotes a replica after a detection
//!   delay, has every running node it reconfigures close its normal client connections (as
//!   Sentinel's `CLIENT KILL TYPE normal`; or not, as after Redis's `FAILOVER`, so that
//!   clients of the demoted primary get `-READONLY`), demotes the old primary if it runs (or
//!   brings the crashed one back as a replica later), and has each sentinel switch after its
//!   own delay; a sentinel can lie (keep naming one node, a
//!   replica, whatever happens) or flag a running node `s_down`. Sentinels flag a crashed
//!   node `s_down` after `down_after`. The operator's truth says which node is primary now
//!   ([`FakeSentinels::primary`]) and which nodes hold a key; each failover is recorded as a
//!   [`FailoverEpisode`] (when the replica was promoted, when each sentinel switched).
//! - [`Chaos`] is what happens to a cluster under load, planned per seed and run one action
//!   at a time on the cluster's own agenda (`cluster/chaos.rs`). A migration sets
//!   `IMPORTING` on the target, then `MIGRATING` on the source, moves the keys one at a time
//!   over virtual time (a key is in exactly one shard at any instant, replicas included), and
//!   gives each slot to the target as soon as its last key has moved, as `redis-cli` does:
//!   the target learns first, then the source, then every other node after its own gossip
//!   delay, so views disagree for a while. A failover crashes a primary that has a replica,
//!   has every node mark it failed after a detection delay, promotes the replica (which has
//!   the same data) on itself, then on the others one by one, and sometimes brings the old
//!   primary back as a replica (a fresh process with a full copy). A node joins as a
//!   primary and receives slots by migration (sometimes with a replica of its own); a shard
//!   leaves by migrating all its slots away, then every node forgets it and it shuts down.
//!   Migrations prefer the slots of the workload's keys, and one seed node of the client is
//!   never crashed nor removed, so that it can always find the cluster again.
//! - [`Clock`] is the virtual clock: a base [`Instant`] plus an offset only the simulation
//!   advances.
//! - [`Sim`] is the network and the scheduler, and plays the adapter, between a client and its
//!   [`Servers`]: a `FakeNode` answering every address, or a `FakeCluster` or
//!   `FakeSentinels` whose nodes each answer their own. It reacts to [`Event::Connect`](crate::Event::Connect) (dialing
//!   `server` after a random latency; a dial to no node, or to one that is down, is refused;
//!   one to a vanished host is never answered),
//!   [`Event::Transmit`](crate::Event::Transmit) (draining
//!   [`poll_transmit`](crate::Client::poll_transmit) into a pipe to the server, at once or a
//!   little later) and [`Event::Disconnect`](crate::Event::Disconnect), and carries bytes both
//!   ways in order, with random delays, in pieces split at random byte boundaries down to
//!   single bytes. An event queue ordered by virtual time (ties in the order things were
//!   scheduled) feeds the client through `handle_connected`, `handle_connect_failed`,
//!   `handle_input` and `handle_closed`, draining [`poll_event`](crate::Client::poll_event)
//!   after every input as the crate docs say; when nothing is due before
//!   [`poll_timeout`](crate::Client::poll_timeout), time jumps there and `handle_timeout`
//!   runs. The servers' own changes (a cluster's agenda) go first among things due at the same
//!   time, and what they do to connections ([`Outage`]: reset, silenced, closed once quiet)
//!   reaches every link to that node; a message a server sends on its own ([`Outage::Send`])
//!   follows the replies already on their way on that link, and is lost if the link closed
//!   or went silent. Pushes no request claimed are kept ([`Sim::pushes`]). Tests can also
//!   steer it by hand: hold replies back and
//!   release them byte by byte, drop a connection, take a server down, restart it, change a
//!   cluster and apply it at once ([`Sim::sync_servers`]). A cluster client refreshes its
//!   topology forever, so it is never idle: [`Sim::run_until_quiet_within`] runs until no
//!   request is pending and nothing is in transit or planned.
//! - [`Faults`] are what a seed's network and server do wrong, each with its own
//!   probability: refused dials, dials never answered (the connect timeout must fire),
//!   connections dropped with requests in transit (lost before the server ran them) or with
//!   replies in transit (the server ran the commands; the client never hears), a server
//!   stalling a connection for longer than the request timeout, links that go silent for good
//!   without anyone being told, garbage bytes after the replies, RESP3 pushes between
//!   replies, writes the adapter makes late. Server restarts (every connection dropped,
//!   scripts forgotten, data kept, connections refused for a while) are scheduled per seed.
//!
//! # The seed sweep
//!
//! [`run_seed`] derives everything from its seed: the client's configuration (RESP2 or RESP3,
//! database, password or ACL user, client name, timeouts, reconnect policy, retries,
//! at-least-once replay for about a third of the seeds, sometimes a tiny `max_pending`), the
//! node's version, the faults (none at all for one seed in ten), and a workload of 15 to 60
//! requests (100 to 200 for a few seeds) over virtual time, many of them in flight at once:
//! single commands, pipelines of 2 to 10 commands and transactions, made of `SET` (plain,
//! `NX`, `EX`, now and then a value of tens of KB), `GET`s of earlier keys and of missing ones, `INCR`,
//! `ECHO`, `PING`, `HSET`+`HGET`, `RPUSH`+`LRANGE`, and `EVALSHA` with an `EVAL` fallback
//! (`Command::on_noscript`), a side-effecting one included. Some requests have short
//! timeouts of their own, some are cancelled, some go on a dedicated connection, and a few
//! seeds quit in the middle. Every key is unique to its request, so every reply can be
//! checked. Then it checks:
//!
//! - every request completes exactly once (one `Event::Response` per id, none for unknown
//!   ids), and the run settles in a bounded number of steps with nothing pending;
//! - every reply is the right one for its command: a `GET` of `k` returns `k`'s value (or
//!   null before it was set, never once its `SET` was acknowledged), `ECHO` its own text,
//!   `INCR` 1, pipelines and transactions in order;
//! - every acknowledged write is in the keyspace at the end (`INCR` acknowledged with `n`
//!   leaves at least `n`);
//! - without at-least-once replay, no write ran twice (the execution log);
//! - failures have the right kind: `MayHaveExecuted` only for sent writes that the core may
//!   not resend, `RetriesExhausted` only for what it may resend, after `max_retries + 1`
//!   attempts, `Unavailable` after exactly the policy's attempts, `ConnectionLost` only on a
//!   dedicated connection, `Cancelled` only when cancelled, `Closed` only after quit, and
//!   `Timeout` exactly at the deadline, with `sent: false` only when the request never ran;
//!   a fault-free run has no failures at all;
//! - the core never asks to be woken at or before the time it just handled;
//! - once the faults stop, requests succeed again, and `quit` ends with every connection
//!   closed.
//!
//! # The cluster seed sweep
//!
//! [`run_cluster_seed`] runs the same kind of workload against a [`FakeCluster`] of 1 to 4
//! shards with 0 to 2 replicas each (full coverage required or not, `CLUSTER SHARDS` known
//! or not), a client in cluster mode started from 1 to 3 of its nodes (RESP2 or RESP3,
//! `ReadFrom::Primary`, `PreferReplica` or `RoundRobinReplicas`, random refresh intervals,
//! timeouts, reconnect policy, retries and replay), and a [`Chaos`] of up to four
//! migrations, failovers, nodes joining and shards leaving for nine seeds in ten. Three
//! seeds in ten have no network faults (no restarts, and their failovers leave a silent
//! host: requests to it time out, none learns its connection broke); the others have
//! random [`Faults`], and sometimes a node restart. The workload's keys are unique to their
//! request and fall in random slots: single commands, pipelines whose independent commands
//! span slots (so the client splits them per node), transactions whose keys share the hash
//! tag `{t<i>}` (one slot), `MGET` and `EXISTS` of earlier keys and missing ones across
//! slots, `DEL` of keys set earlier for it, `DBSIZE` and `PING` (sent to every primary),
//! scripts with and without keys. The checks are the standalone ones, with what a cluster
//! changes:
//!
//! - the execution log is summed over every node that ever ran (crashed and replaced
//!   processes included), and an acknowledged write is looked up in the shard that owns the
//!   key's slot at the end; every key is in exactly one shard, each replica holding exactly
//!   its primary's keys;
//! - an acknowledged `DEL` removed every key whose `SET` was acknowledged before it; `MGET`
//!   sees the acknowledged values; `EXISTS` and `DEL` count between the keys surely there
//!   and the keys that may be;
//! - a read served by a replica may miss keys of a slot migrating at the time (a source's
//!   replica no longer has the keys that moved, as in Redis), but nothing else;
//! - a pipeline is sent as parts, each retried on its own terms, so `RetriesExhausted` may
//!   come from a part that may be resent; after `quit`, a split request some parts of which
//!   never left fails with `MayHaveExecuted` when another part was sent; `CROSSSLOT` never
//!   happens (the workload's transactions use one slot);
//! - without network faults nothing fails, except requests that overlap a failover (from the
//!   crash until the client could have found the new primary), which may fail as a network
//!   fault allows; `TooManyRedirects` only happens there.
//!
//! # The Sentinel seed sweep
//!
//! [`run_sentinel_seed`] runs the standalone workload, spread over up to a few seconds,
//! against [`FakeSentinels`] of 0 to 2 replicas and 1 to 5 sentinels (the sentinels with
//! their own password now and then), with a client in Sentinel mode that knows one to all
//! of the sentinels (RESP2 or RESP3, any database, `ReadFrom::Primary`, `PreferReplica` or
//! `RoundRobinReplicas`, random sentinel timeouts and refresh intervals, and the standalone
//! seed's random timeouts, reconnect policy, retries and replay). Up to three episodes
//! follow one another: failovers (the primary crashed, refusing or silent, and back later
//! as a replica; or alive and demoted, with or without its clients' connections closed), a
//! sentinel down for a while, a data node down for a while, a replica the sentinels flag
//! `s_down`; and one seed in five with several sentinels has one that lies. The first
//! sentinel the client knows never crashes nor lies. Three seeds in ten have no network
//! faults. The checks are the standalone ones, with what Sentinel mode changes: a request
//! that overlaps an episode (until the client could have found the primary again) may fail
//! as a network fault allows, and also with `FailoverInProgress` at its deadline or
//! `Unavailable` (discovery gave up); there, a demoted primary may refuse a pipeline's
//! writes with `-READONLY` (a transaction's with `-EXECABORT`), which then did not run, and
//! the pipeline's reads of them find nothing. Dedicated connections are left out while a
//! known core bug about them stands (see `DEDICATED` in `workload/sentinel.rs`).
//!
//! # The pub/sub seed sweep
//!
//! [`run_pubsub_seed`] runs 1 to 3 subscribers (RESP2 or RESP3; Block or Lag buffers of 1
//! to 8 messages or the default; reading 1 to 4 events every 0 to 20 ms; one in ten closed
//! midway) subscribed to classic channels, a pattern and shard channels of one node, while
//! a client the network does not carry ([`Sim::run_at_server`]) publishes numbered
//! messages, under random network faults (half-open links included) and
//! up to two server restarts, then a calm tail. It checks that each stream arrives in
//! publish order without duplicates, that every published message missing after a
//! subscription was confirmed is preceded by a `Resubscribed` covering it or a `Lagged`,
//! that subscribe requests complete once (with `OK`, or `Timeout` under faults), and that
//! after the faults, once every reader caught up, a last message on every channel arrives
//! (or a `Lagged` says it was skipped).
//!
//! [`run_cluster_pubsub_seed`] runs the same workload and check against a [`FakeCluster`]
//! of two or three shards with a replica each, under a [`Chaos`] of failovers, crashes,
//! shard removals and slot migrations (most of them moving the shard channels' slots), with
//! network faults on most seeds: classic messages are published at a random running node,
//! shard messages at their slot's owner. [`run_sentinel_pubsub_seed`] runs it against
//! [`FakeSentinels`] (one or two replicas, one to three sentinels) through up to three
//! episodes of failovers (the primary crashed or demoted), sentinel and data-node outages
//! and replicas flagged down, publishing at the primary of the moment.
//!
//! # Reproducing a failure
//!
//! `cargo test -p client-core` sweeps 10,000 standalone seeds, 2,000 cluster seeds, 300
//! Sentinel seeds, 300 pub/sub seeds, 200 cluster pub/sub seeds and 200 Sentinel pub/sub
//! seeds. A
//! failing seed panics with its settings, the broken property, and a one-line command that
//! replays just that seed with a trace of every step, e.g.
//!
//! ```text
//! REDWIRE_SIM_SEED=4711 cargo test -p client-core --lib sim::tests::random_seeds -- --nocapture
//! REDWIRE_SIM_SEED=98 cargo test -p client-core --lib sim::tests::cluster::random_cluster_seeds -- --nocapture
//! REDWIRE_SIM_SEED=81 cargo test -p client-core --lib sim::tests::sentinel::random_sentinel_seeds -- --nocapture
//! REDWIRE_SIM_SEED=2 cargo test -p client-core --lib sim::tests::pubsub::random_pubsub_seeds -- --nocapture
//! REDWIRE_SIM_SEED=17 cargo test -p client-core --lib sim::tests::pubsub::random_cluster_pubsub_seeds -- --nocapture
//! REDWIRE_SIM_SEED=49 cargo test -p client-core --lib sim::tests::pubsub::random_sentinel_pubsub_seeds -- --nocapture
//! ```
//!
//! `REDWIRE_SIM_SEEDS=<n>` sweeps `n` seeds instead (e.g. 100000 for a soak), and
//! `REDWIRE_SIM_FROM=<first>` starts the sweep at seed `first`. The trace names
//! the request each op of the workload became.
//!
//! # Example
//!
//! ```
//! use client_core::sim::{FakeNode, Faults, NodeConfig, Sim};
//! use client_core::{Config, Frame, Reply, cmd};
//!
//! let node = FakeNode::new(NodeConfig::default());
//! let mut sim = Sim::new(Config::new("node", 6379), node, Faults::none(), 7);
//! let set = sim.submit(cmd("SET").key("k").arg("v").into()).unwrap();
//! let get = sim.submit(cmd("GET").key("k").into()).unwrap();
//! assert!(sim.run_until_idle());
//! let ok = Frame::SimpleString("OK".into());
//! assert_eq!(sim.take_response(set).unwrap(), Ok(Reply::Single(ok)));
//! assert_eq!(sim.take_response(get).unwrap(), Ok(Reply::Single(Frame::BulkString("v".into()))));
//! ```
//!
//! The same against three shards with a replica each, one of them failing over:
//!
//! ```
//! use client_core::sim::{ClusterConfig, FakeCluster, Faults, Sim, ViewChange};
//! use client_core::{Config, Frame, Reply, cmd};
//!
//! let cluster = FakeCluster::new(ClusterConfig::new(3, 1));
//! let config = Config::cluster(cluster.seeds());
//! let mut sim = Sim::with_servers(config, cluster, Faults::none(), 7);
//! let set = sim.submit(cmd("SET").key("k").arg("v").into()).unwrap();
//! assert!(sim.run_until_quiet_within(100_000));
//! let ok = Frame::SimpleString("OK".into());
//! assert_eq!(sim.take_response(set).unwrap(), Ok(Reply::Single(ok)));
//! // The primary of "k" dies and its replica takes over, with the same data.
//! let primary = sim.cluster().truth().owner(resp_core::slot(b"k")).unwrap();
//! let replica = sim.cluster().truth().replicas_of(primary)[0];
//! sim.cluster_mut().crash(primary, false);
//! sim.cluster_mut().change_everywhere(&ViewChange::Promote { node: replica });
//! sim.sync_servers();
//! let get = sim.submit(cmd("GET").key("k").into()).unwrap();
//! assert!(sim.run_until_quiet_within(100_000));
//! assert_eq!(sim.take_response(get).unwrap(), Ok(Reply::Single(Frame::BulkString("v".into()))));
//! ```

mod cluster;
mod faults;
mod net;
mod node;
mod sentinel;
#[cfg(test)]
mod tests;
mod workload;

use std::time::{Duration, Instant};

pub use self::cluster::{
    Chaos, ChaosAction, ChaosTiming, ClusterConfig, ClusterView, Episode, EpisodeKind, FakeCluster,
    NodeState, Peer, SLOTS, ViewChange, node_addr, node_host, node_id, node_ip, node_port,
};
pub use self::faults::Faults;
pub use self::net::{Dial, Outage, Servers, Sim, sim_peer};
pub use self::node::{
    ExecutionLog, FakeNode, NodeConfig, NodeConnId, ReplicationRole, StoredValue, script_sha,
};
pub use self::sentinel::{
    Failover, FailoverEpisode, FakeSentinel, FakeSentinels, Happening, SentinelConfig,
    sentinel_addr, sentinel_host, sentinel_id, sentinel_ip, sentinel_node, sentinel_port,
};
pub use self::workload::{
    SeedReport, run_cluster_pubsub_seed, run_cluster_pubsub_seed_traced, run_cluster_seed,
    run_cluster_seed_traced, run_pubsub_seed, run_pubsub_seed_traced, run_seed, run_seed_traced,
    run_sentinel_pubsub_seed, run_sentinel_pubsub_seed_traced, run_sentinel_seed,
    run_sentinel_seed_traced,
};

/// The virtual clock: a base instant plus an offset that only the simulation moves.
///
/// The base is the only reading of a real clock in a simulation; everything after it is
/// arithmetic, so a run does not depend on how fast the machine is.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    offset: Duration,
}

impl Clock {
    /// A clock starting now. Reads the real clock once, for the base.
    #[allow(clippy::disallowed_methods)] // the one real reading: the base of virtual time
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A clock starting at `base`.
    pub fn starting_at(base: Instant) -> Self {
        Self {
            base,
            offset: Duration::ZERO,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Virtual time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// Moves time forward by `by`.
    pub fn advance(&mut self, by: Duration) {
        self.offset += by;
    }

    /// Moves time forward to `to`; a time in the past leaves the clock as it is.
    pub fn advance_to(&mut self, to: Instant) {
        if let Some(offset) = to.checked_duration_since(self.base) {
            self.offset = self.offset.max(offset);
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// The simulation's own seeded random numbers (SplitMix64), apart from the core's.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        // Spread small consecutive seeds apart.
        Self(seed ^ 0x6a09_e667_f3bc_c909)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `[low, high]`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low) + 1)
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A duration between `low` and `high` milliseconds, with microsecond resolution.
    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_micros(self.between(low * 1000, high * 1000))
    }

    /// One element of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
