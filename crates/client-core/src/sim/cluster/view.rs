//! [`ClusterView`]: what one node of a [`FakeCluster`](super::FakeCluster) believes about the
//! cluster, and the replies (`CLUSTER SHARDS`, `CLUSTER SLOTS`, `-MOVED`, `-ASK`) built from it.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use bytes::Bytes;
use resp_core::Frame;

use crate::config::ServerAddr;

/// How many hash slots a cluster has.
pub const SLOTS: usize = resp_core::SLOT_COUNT as usize;

/// The owner of a slot nobody serves.
const NOBODY: u16 = u16::MAX;

/// The address node `n` of a [`FakeCluster`](super::FakeCluster) listens on and announces:
/// host `node-<n>`, port `7000 + n`.
///
/// ```
/// use client_core::ServerAddr;
/// assert_eq!(
///     client_core::sim::node_addr(2),
///     ServerAddr::Tcp { host: "node-2".into(), port: 7002 }
/// );
/// ```
pub fn node_addr(n: u16) -> ServerAddr {
    ServerAddr::Tcp {
        host: node_host(n),
        port: node_port(n),
    }
}

/// The host name node `n` announces (its preferred endpoint): `node-<n>`.
pub fn node_host(n: u16) -> String {
    format!("node-{n}")
}

/// The IP address node `n` announces next to its host name: `10.0.<n / 256>.<n % 256>`. The
/// simulated network reaches the node under either.
pub fn node_ip(n: u16) -> String {
    format!("10.0.{}.{}", n / 256, n % 256)
}

/// The port node `n` listens on: `7000 + n`.
pub fn node_port(n: u16) -> u16 {
    7000 + n
}

/// Node `n`'s 40-character cluster id (the SHA-1 of its host name, in hex).
pub fn node_id(n: u16) -> String {
    sha1_smol::Sha1::from(node_host(n).as_bytes())
        .digest()
        .to_string()
}

/// One node, as a view knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The primary it replicates, or `None` for a primary.
    pub primary: Option<u16>,
    /// Whether the view takes it for failed (`health: fail`).
    pub failed: bool,
}

/// A change to a [`ClusterView`]: what `CLUSTER SETSLOT`, `CLUSTER MEET`, `CLUSTER FORGET`,
/// failure detection, a failover or gossip about one of them does to what a node believes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewChange {
    /// `CLUSTER SETSLOT <slot> IMPORTING <from>` for every slot of the range (on the target).
    Importing {
        /// The slots.
        slots: RangeInclusive<u16>,
        /// Where they come from.
        from: u16,
    },
    /// `CLUSTER SETSLOT <slot> MIGRATING <to>` for every slot of the range (on the source).
    Migrating {
        /// The slots.
        slots: RangeInclusive<u16>,
        /// Where they go.
        to: u16,
    },
    /// `CLUSTER SETSLOT <slot> NODE <node>`: the slots belong to `node` now; any migrating or
    /// importing state for them is cleared.
    Owner {
        /// The slots.
        slots: RangeInclusive<u16>,
        /// The new owner.
        node: u16,
    },
    /// The node is marked failed (or healthy again).
    Failed {
        /// The node.
        node: u16,
        /// Failed or not.
        failed: bool,
    },
    /// The replica `node` is now the primary of its shard: it takes its old primary's slots,
    /// the other replicas follow it, and the old primary becomes its replica.
    Promote {
        /// The replica promoted.
        node: u16,
    },
    /// The view learns of `node` (`CLUSTER MEET`, or a node coming back).
    Join {
        /// The node.
        node: u16,
        /// The primary it replicates, or `None` for a primary.
        primary: Option<u16>,
    },
    /// The view forgets `node` (`CLUSTER FORGET`).
    Forget {
        /// The node.
        node: u16,
    },
}

/// What one node believes about the cluster: which nodes there are and their roles, who owns
/// each slot, and its own migrating and importing slots.
///
/// The operator's record of the cluster is a view too, one that belongs to no node and
/// learns every change at once.
#[derive(Clone, Debug)]
pub struct ClusterView {
    me: Option<u16>,
    peers: BTreeMap<u16, Peer>,
    owners: Vec<u16>,
    migrating: BTreeMap<u16, u16>,
    importing: BTreeMap<u16, u16>,
    /// How many slots each node owns (`NOBODY` counts the unassigned ones).
    counts: BTreeMap<u16, usize>,
    /// Some slot is unassigned or owned by a failed node.
    degraded: bool,
}

impl ClusterView {
    /// A view with `primaries`, each owning an equal share of the slots (in order), and
    /// `replicas` (replica, primary).
    pub fn new(primaries: &[u16], replicas: &[(u16, u16)]) -> Self {
        let mut peers = BTreeMap::new();
        let mut owners = vec![NOBODY; SLOTS];
        let count = primaries.len().max(1);
        for (i, &p) in primaries.iter().enumerate() {
            peers.insert(
                p,
                Peer {
                    primary: None,
                    failed: false,
                },
            );
            let (lo, hi) = (i * SLOTS / count, (i + 1) * SLOTS / count);
            owners[lo..hi].fill(p);
        }
        for &(r, p) in replicas {
            peers.insert(
                r,
                Peer {
                    primary: Some(p),
                    failed: false,
                },
            );
        }
        let mut counts = BTreeMap::new();
        for &owner in &owners {
            *counts.entry(owner).or_insert(0) += 1;
        }
        let mut view = Self {
            me: None,
            peers,
            owners,
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            counts,
            degraded: false,
        };
        view.recompute();
        view
    }

    /// This view as node `me` holds it.
    pub fn held_by(mut self, me: u16) -> Self {
        self.me = Some(me);
        self
    }

    /// The node holding this view (`None` for the operator's record).
    pub fn me(&self) -> Option<u16> {
        self.me
    }

    /// Who owns `slot`.
    pub fn owner(&self, slot: u16) -> Option<u16> {
        self.owners
            .get(usize::from(slot))
            .copied()
            .filter(|&n| n != NOBODY)
    }

    /// The node `slot` migrates to, when this node migrates it.
    pub fn migrating(&self, slot: u16) -> Option<u16> {
        self.migrating.get(&slot).copied()
    }

    /// The node `slot` comes from, when this node imports it.
    pub fn importing(&self, slot: u16) -> Option<u16> {
        self.importing.get(&slot).copied()
    }

    /// What the view knows of node `n`.
    pub fn peer(&self, n: u16) -> Option<Peer> {
        self.peers.get(&n).copied()
    }

    /// Every node the view knows, in number order.
    pub fn peers(&self) -> impl Iterator<Item = (u16, Peer)> + '_ {
        self.peers.iter().map(|(&n, &p)| (n, p))
    }

    /// The primaries, in number order.
    pub fn primaries(&self) -> Vec<u16> {
        self.peers
            .iter()
            .filter(|(_, p)| p.primary.is_none())
            .map(|(&n, _)| n)
            .collect()
    }

    /// The replicas of `primary`, in number order.
    pub fn replicas_of(&self, primary: u16) -> Vec<u16> {
        self.peers
            .iter()
            .filter(|(_, p)| p.primary == Some(primary))
            .map(|(&n, _)| n)
            .collect()
    }

    /// The slot ranges `node` owns, in slot order.
    pub fn ranges_of(&self, node: u16) -> Vec<RangeInclusive<u16>> {
        self.ranges()
            .into_iter()
            .filter(|(_, owner)| *owner == node)
            .map(|(range, _)| range)
            .collect()
    }

    /// How many slots `node` owns.
    pub fn slot_count(&self, node: u16) -> usize {
        self.counts.get(&node).copied().unwrap_or(0)
    }

    /// Whether every slot is served by a node not taken for failed.
    pub fn is_healthy(&self) -> bool {
        !self.degraded
    }

    /// Whether this view's node is a replica of `primary`.
    pub fn i_replicate(&self, primary: u16) -> bool {
        self.me
            .and_then(|me| self.peers.get(&me))
            .is_some_and(|p| p.primary == Some(primary))
    }

    /// Whether this view's node is a primary.
    pub fn i_am_primary(&self) -> bool {
        self.me
            .and_then(|me| self.peers.get(&me))
            .is_some_and(|p| p.primary.is_none())
    }

    /// Applies `change`.
    pub fn apply(&mut self, change: &ViewChange) {
        match change {
            ViewChange::Importing { slots, from } => {
                for slot in slots.clone() {
                    self.importing.insert(slot, *from);
                }
            }
            ViewChange::Migrating { slots, to } => {
                for slot in slots.clone() {
                    self.migrating.insert(slot, *to);
                }
            }
            ViewChange::Owner { slots, node } => {
                for slot in slots.clone() {
                    let Some(owner) = self.owners.get_mut(usize::from(slot)) else {
                        break;
                    };
                    let old = std::mem::replace(owner, *node);
                    *self.counts.entry(old).or_insert(1) -= 1;
                    *self.counts.entry(*node).or_insert(0) += 1;
                    self.migrating.remove(&slot);
                    self.importing.remove(&slot);
                }
                self.counts.retain(|_, n| *n > 0);
            }
            ViewChange::Failed { node, failed } => {
                if let Some(peer) = self.peers.get_mut(node) {
                    peer.failed = *failed;
                }
            }
            ViewChange::Promote { node } => {
                let Some(old) = self.peers.get(node).and_then(|p| p.primary) else {
                    return;
                };
                for (&n, peer) in &mut self.peers {
                    if n == *node {
                        peer.primary = None;
                        peer.failed = false;
                    } else if n == old || peer.primary == Some(old) {
                        peer.primary = Some(*node);
                    }
                }
                if let Some(count) = self.counts.remove(&old) {
                    for owner in &mut self.owners {
                        if *owner == old {
                            *owner = *node;
                        }
                    }
                    *self.counts.entry(*node).or_insert(0) += count;
                }
            }
            ViewChange::Join { node, primary } => {
                self.peers.insert(
                    *node,
                    Peer {
                        primary: *primary,
                        failed: false,
                    },
                );
            }
            ViewChange::Forget { node } => {
                self.peers.remove(node);
            }
        }
        self.recompute();
    }

    fn recompute(&mut self) {
        self.degraded = self
            .counts
            .keys()
            .any(|&owner| owner == NOBODY || self.peers.get(&owner).is_some_and(|p| p.failed));
    }

    /// Contiguous runs of slots with one owner: (slots, owner), in slot order.
    fn ranges(&self) -> Vec<(RangeInclusive<u16>, u16)> {
        let mut ranges = Vec::new();
        let mut start = 0;
        for slot in 1..=SLOTS {
            if slot == SLOTS || self.owners[slot] != self.owners[start] {
                if self.owners[start] != NOBODY {
                    ranges.push((start as u16..=(slot - 1) as u16, self.owners[start]));
                }
                start = slot;
            }
        }
        ranges
    }

    /// `CLUSTER SHARDS`, as Redis 7 answers it (RESP3 maps; RESP2 flattens them): a shard per
    /// primary with its slot ranges (a flat list of inclusive start and end slots) and its
    /// nodes, primary first. `offset` gives a node's replication offset.
    pub fn shards_reply(&self, offset: impl Fn(u16) -> i64) -> Frame {
        let ranges = self.ranges();
        let shards = self
            .primaries()
            .into_iter()
            .map(|primary| {
                let slots = ranges
                    .iter()
                    .filter(|(_, owner)| *owner == primary)
                    .flat_map(|(range, _)| {
                        [
                            Frame::Integer(i64::from(*range.start())),
                            Frame::Integer(i64::from(*range.end())),
                        ]
                    })
                    .collect();
                let nodes = std::iter::once(primary)
                    .chain(self.replicas_of(primary))
                    .map(|n| self.shard_node(n, offset(n)))
                    .collect();
                Frame::Map(vec![
                    (text("slots"), Frame::Array(slots)),
                    (text("nodes"), Frame::Array(nodes)),
                ])
            })
            .collect();
        Frame::Array(shards)
    }

    /// One node of a `CLUSTER SHARDS` shard, with the fields in Redis's order.
    fn shard_node(&self, n: u16, offset: i64) -> Frame {
        let peer = self.peers.get(&n).copied().unwrap_or(Peer {
            primary: None,
            failed: true,
        });
        let role = if peer.primary.is_some() {
            "replica"
        } else {
            "master"
        };
        let health = if peer.failed {
            "fail"
        } else if peer.primary.is_some() && offset == 0 {
            "loading"
        } else {
            "online"
        };
        Frame::Map(vec![
            (text("id"), bulk(node_id(n))),
            (text("port"), Frame::Integer(i64::from(node_port(n)))),
            (text("ip"), bulk(node_ip(n))),
            (text("endpoint"), bulk(node_host(n))),
            (text("hostname"), bulk(node_host(n))),
            (text("role"), text(role)),
            (text("replication-offset"), Frame::Integer(offset)),
            (text("health"), text(health)),
        ])
    }

    /// `CLUSTER SLOTS`, as Redis 7 answers it with host names as the preferred endpoint: per
    /// slot range, its start and end, then the primary and the replicas not failed, each as
    /// host name, port, id and a map with the IP address.
    pub fn slots_reply(&self) -> Frame {
        let entry = |n: u16| {
            Frame::Array(vec![
                bulk(node_host(n)),
                Frame::Integer(i64::from(node_port(n))),
                bulk(node_id(n)),
                Frame::Map(vec![(text("ip"), bulk(node_ip(n)))]),
            ])
        };
        let ranges = self.ranges();
        let items = ranges
            .into_iter()
            .map(|(range, owner)| {
                let mut item = vec![
                    Frame::Integer(i64::from(*range.start())),
                    Frame::Integer(i64::from(*range.end())),
                    entry(owner),
                ];
                for replica in self.replicas_of(owner) {
                    if self.peers.get(&replica).is_some_and(|p| !p.failed) {
                        item.push(entry(replica));
                    }
                }
                Frame::Array(item)
            })
            .collect();
        Frame::Array(items)
    }

    /// `-MOVED <slot> <host>:<port>` naming `node`.
    pub fn moved(slot: u16, node: u16) -> Frame {
        error(&format!(
            "MOVED {slot} {}:{}",
            node_host(node),
            node_port(node)
        ))
    }

    /// `-ASK <slot> <host>:<port>` naming `node`.
    pub fn ask(slot: u16, node: u16) -> Frame {
        error(&format!(
            "ASK {slot} {}:{}",
            node_host(node),
            node_port(node)
        ))
    }
}

fn text(s: &'static str) -> Frame {
    Frame::BulkString(Bytes::from_static(s.as_bytes()))
}

fn bulk(s: String) -> Frame {
    Frame::BulkString(Bytes::from(s))
}

fn error(message: &str) -> Frame {
    Frame::SimpleError(Bytes::copy_from_slice(message.as_bytes()))
}
