//! The replication side of a [`FakeNode`]: whether it is a primary or a replica, `ROLE`, a
//! replica's `-READONLY`, and the stream of writes a primary hands to its replicas.

use std::time::Instant;

use bytes::Bytes;
use resp_core::Frame;

use super::FakeNode;
use super::cluster::spec_of;
use crate::command::CommandFlags;
use crate::sim::cluster::{node_ip, node_port};

/// What a replica answers to a write, as Redis does.
pub(super) const READONLY: &str = "READONLY You can't write against a read only replica.";

/// Where a standalone [`FakeNode`] stands among the data nodes of a replicated set, such as
/// the ones behind Redis Sentinel. (A cluster node takes its role from its
/// [`ClusterView`](crate::sim::ClusterView) instead.)
///
/// A replica refuses writes with `-READONLY You can't write against a read only replica.`
/// and serves reads; both answer `ROLE` as Redis 7 does.
///
/// ```
/// use client_core::sim::{FakeNode, NodeConfig, ReplicationRole};
/// let mut node = FakeNode::new(NodeConfig::default());
/// node.set_role(Some(ReplicationRole::Replica {
///     host: "10.0.0.0".into(),
///     port: 7000,
///     linked: true,
/// }));
/// assert!(node.is_replica());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationRole {
    /// It takes writes and hands each one to its replicas.
    Primary {
        /// The replicas connected to it, as IP address and port (what `ROLE` lists).
        replicas: Vec<(String, u16)>,
    },
    /// It copies the primary at `host:port` and refuses writes.
    Replica {
        /// The primary's IP address or host name.
        host: String,
        /// The primary's port.
        port: u16,
        /// Whether its link to the primary is up: `ROLE` says `connected`, or `connect` (and
        /// offset -1) while it tries to reach it.
        linked: bool,
    },
}

/// A write a primary ran, for its replicas to run too.
#[derive(Clone, Debug)]
pub(crate) struct Replicated {
    db: usize,
    name: &'static str,
    args: Vec<Bytes>,
}

/// Whether the command table marks `name` (one of the node's upper-case command names) as a
/// write.
pub(super) fn is_write(name: &str) -> bool {
    spec_of(name).is_some_and(|s| s.flags.contains(CommandFlags::WRITE))
}

impl FakeNode {
    /// Makes this standalone node a primary or a replica; `None` (the default) is a lone
    /// node, which answers `ROLE` as a primary without replicas and hands writes to nobody.
    pub fn set_role(&mut self, role: Option<ReplicationRole>) {
        self.role = role;
    }

    /// The role [`set_role`](Self::set_role) gave it.
    pub fn role(&self) -> Option<&ReplicationRole> {
        self.role.as_ref()
    }

    /// Whether it is a replica, by its role or, in a cluster, by its view.
    pub fn is_replica(&self) -> bool {
        match &self.cluster {
            Some(c) => c.view.me().is_some() && !c.view.i_am_primary(),
            None => matches!(self.role, Some(ReplicationRole::Replica { .. })),
        }
    }

    /// The replication offset: how many writes it ran as a primary or copied as a replica.
    pub fn replication_offset(&self) -> i64 {
        self.offset
    }

    /// Whether it is a standalone replica, which refuses writes (a cluster replica redirects
    /// them instead).
    pub(super) fn read_only(&self) -> bool {
        self.cluster.is_none() && self.is_replica()
    }

    /// `ROLE`, as Redis 7 answers it: `master`, the offset and `[ip, port, offset]` per
    /// replica (bulk strings); or `slave`, the primary's address, port, link state and offset.
    pub(super) fn role_reply(&self) -> Frame {
        let bulk = |text: String| Frame::BulkString(text.into());
        let primary = |replicas: Vec<(String, u16)>| {
            let replicas = replicas
                .into_iter()
                .map(|(ip, port)| {
                    Frame::Array(vec![
                        bulk(ip),
                        bulk(port.to_string()),
                        bulk(self.offset.to_string()),
                    ])
                })
                .collect();
            Frame::Array(vec![
                bulk("master".into()),
                Frame::Integer(self.offset),
                Frame::Array(replicas),
            ])
        };
        let replica = |host: String, port: u16, linked: bool| {
            Frame::Array(vec![
                bulk("slave".into()),
                bulk(host),
                Frame::Integer(i64::from(port)),
                bulk(if linked { "connected" } else { "connect" }.into()),
                Frame::Integer(if linked { self.offset } else { -1 }),
            ])
        };
        if let Some(c) = &self.cluster {
            let view = &c.view;
            let me = view.me().unwrap_or(0);
            return match view.peer(me).and_then(|p| p.primary) {
                Some(p) => {
                    let linked = view.peer(p).is_some_and(|p| !p.failed);
                    replica(node_ip(p), node_port(p), linked)
                }
                None => primary(
                    view.replicas_of(me)
                        .into_iter()
                        .map(|r| (node_ip(r), node_port(r)))
                        .collect(),
                ),
            };
        }
        match &self.role {
            Some(ReplicationRole::Replica { host, port, linked }) => {
                replica(host.clone(), *port, *linked)
            }
            Some(ReplicationRole::Primary { replicas }) => primary(replicas.clone()),
            None => primary(Vec::new()),
        }
    }

    /// The writes this node ran as a primary since the last call, for its replicas.
    pub(crate) fn take_replication(&mut self) -> Vec<Replicated> {
        std::mem::take(&mut self.replication)
    }

    /// Runs a write its primary ran (not logged: it ran once, on the primary).
    pub(crate) fn replicate(&mut self, write: &Replicated, now: Instant) {
        self.keyspace.run(write.db, write.name, &write.args, now);
        self.offset += 1;
    }

    /// Takes this node's data over from `primary`, as a full resynchronisation does.
    pub(crate) fn copy_data_from(&mut self, primary: &Self) {
        self.keyspace = primary.keyspace.clone();
        self.offset = primary.offset;
    }

    /// Queues a write this node ran for its replicas, when it is a primary with replicas to
    /// feed: a cluster primary, or a standalone one with a [`ReplicationRole`].
    pub(super) fn replicate_out(&mut self, db: usize, name: &'static str, args: &[Bytes]) {
        let feeds = match &self.cluster {
            Some(c) => c.view.i_am_primary(),
            None => matches!(self.role, Some(ReplicationRole::Primary { .. })),
        };
        if !feeds || !is_write(name) {
            return;
        }
        self.offset += 1;
        self.replication.push(Replicated {
            db,
            name,
            args: args.to_vec(),
        });
    }
}
