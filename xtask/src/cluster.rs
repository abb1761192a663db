//! Cluster set-up, health check, manual failover and slot migration, over plain RESP.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::layout::Role;
use crate::resp::{Conn, Reply, info_field};
use crate::state::{Node, State};
use crate::wait::{self, Pending};

/// Number of hash slots in a Redis cluster.
pub const SLOTS: u16 = 16384;

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node id.
    pub id: String,
    /// `host:port` it announces.
    pub addr: String,
    /// Flags such as `myself`, `master`, `slave`, `fail?`.
    pub flags: Vec<String>,
    /// The primary's id, for replicas.
    pub primary: Option<String>,
    /// Whether the cluster bus link is up.
    pub connected: bool,
    /// Slot ranges it serves (inclusive); importing/migrating markers are left out.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    /// Whether the node is a primary.
    pub fn is_primary(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }

    /// Whether this line describes the node that answered.
    pub fn is_myself(&self) -> bool {
        self.flags.iter().any(|f| f == "myself")
    }

    /// Whether any node suspects or declared this one failing, or it is not fully known yet.
    pub fn is_troubled(&self) -> bool {
        self.flags
            .iter()
            .any(|f| matches!(f.as_str(), "fail" | "fail?" | "handshake" | "noaddr"))
    }
}

/// Parses the output of `CLUSTER NODES`.
pub fn parse_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 8 {
                return None;
            }
            // "127.0.0.1:7430@17430,hostname" -> "127.0.0.1:7430"
            let addr = f[1].split(['@', ',']).next().unwrap_or_default().to_owned();
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|x| (x, x)),
                })
                .collect();
            Some(ClusterNode {
                id: f[0].to_owned(),
                addr,
                flags: f[2].split(',').map(str::to_owned).collect(),
                primary: (f[3] != "-").then(|| f[3].to_owned()),
                connected: f[7] == "connected",
                slots,
            })
        })
        .collect()
}

/// The slot map as one node sees it: slot range -> primary address, plus each primary's
/// replicas, all sorted so two nodes' views compare equal when they agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    /// `(first, last, primary addr)` ranges, sorted.
    pub ranges: Vec<(u16, u16, String)>,
    /// Primary addr -> sorted replica addrs.
    pub replicas: BTreeMap<String, Vec<String>>,
}

impl SlotView {
    /// Builds the view from `CLUSTER NODES` lines.
    pub fn from_nodes(nodes: &[ClusterNode]) -> Self {
        let mut ranges: Vec<(u16, u16, String)> = nodes
            .iter()
            .filter(|n| n.is_primary())
            .flat_map(|n| n.slots.iter().map(|(a, b)| (*a, *b, n.addr.clone())))
            .collect();
        ranges.sort();
        // Merge adjacent ranges of the same owner, so [0-5460] and [0-5459]+[5460] compare equal.
        let mut merged: Vec<(u16, u16, String)> = Vec::new();
        for (a, b, owner) in ranges {
            match merged.last_mut() {
                Some(last) if last.2 == owner && last.1 + 1 == a => last.1 = b,
                _ => merged.push((a, b, owner)),
            }
        }
        let by_id: BTreeMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.id.as_str(), n.addr.as_str()))
            .collect();
        let mut replicas: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for n in nodes
            .iter()
            .filter(|n| n.is_primary() && !n.slots.is_empty())
        {
            replicas.entry(n.addr.clone()).or_default();
        }
        for n in nodes.iter().filter(|n| !n.is_primary()) {
            if let Some(primary) = n.primary.as_deref().and_then(|id| by_id.get(id)) {
                replicas
                    .entry((*primary).to_owned())
                    .or_default()
                    .push(n.addr.clone());
            }
        }
        replicas.values_mut().for_each(|v| v.sort());
        Self {
            ranges: merged,
            replicas,
        }
    }

    /// Whether every slot is served exactly once.
    pub fn covers_all_slots(&self) -> bool {
        let mut next = 0u32;
        for (a, b, _) in &self.ranges {
            if u32::from(*a) != next {
                return false;
            }
            next = u32::from(*b) + 1;
        }
        next == u32::from(SLOTS)
    }

    /// The primary serving `slot`.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.ranges
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, o)| o.as_str())
    }
}

fn nodes_of(conn: &mut Conn, node: &Node) -> Result<Vec<ClusterNode>, Pending> {
    Ok(parse_nodes(&wait::ask_text(
        conn,
        node,
        &["CLUSTER", "NODES"],
    )?))
}

/// Checks that the cluster is healthy: on every node `cluster_state:ok`, all slots assigned,
/// six nodes known and none failing, the same slot map as the first node, three primaries each
/// with one replica, and every replica's link up and synced.
pub(crate) fn check(state: &State) -> Result<(), Pending> {
    let servers: Vec<&Node> = state.servers().collect();
    let mut reference: Option<(String, SlotView)> = None;
    let mut reference_slots = None;
    for (ok, node) in servers.iter().enumerate() {
        let progress = format!("{ok}/{} nodes ok", servers.len());
        let pending = |missing: String| Pending::at(node, missing).progress(progress.clone());
        let mut conn = wait::connect(state, node).map_err(|p| p.progress(progress.clone()))?;
        let info = wait::ask_text(&mut conn, node, &["CLUSTER", "INFO"])?;
        let field = |k| info_field(&info, k).unwrap_or("?").to_owned();
        if field("cluster_state") != "ok" {
            return Err(pending(format!("cluster_state:{}", field("cluster_state"))));
        }
        if field("cluster_slots_assigned") != SLOTS.to_string() {
            return Err(pending(format!(
                "only {} slots assigned",
                field("cluster_slots_assigned")
            )));
        }
        if field("cluster_known_nodes") != servers.len().to_string() {
            return Err(pending(format!(
                "knows {} nodes",
                field("cluster_known_nodes")
            )));
        }
        let nodes = nodes_of(&mut conn, node)?;
        if let Some(bad) = nodes
            .iter()
            .find(|n| n.is_troubled() || !(n.connected || n.is_myself()))
        {
            return Err(pending(format!(
                "sees {} as {} ({})",
                bad.addr,
                bad.flags.join(","),
                if bad.connected {
                    "connected"
                } else {
                    "disconnected"
                }
            )));
        }
        let view = SlotView::from_nodes(&nodes);
        if !view.covers_all_slots() {
            return Err(pending(format!("slot map has gaps: {:?}", view.ranges)));
        }
        if view.replicas.len() != 3 || view.replicas.values().any(|r| r.len() != 1) {
            return Err(pending(format!(
                "expected 3 primaries with one replica each, sees {:?}",
                view.replicas
            )));
        }
        match &reference {
            None => reference = Some((node.label(), view)),
            Some((first, expected)) if *expected != view => {
                return Err(pending(format!(
                    "its slot map {:?} differs from {first}'s {:?}",
                    view.ranges, expected.ranges
                )));
            }
            Some(_) => {}
        }
        let me = nodes.iter().find(|n| n.is_myself());
        match me {
            Some(me) if me.is_primary() => {
                let following = nodes
                    .iter()
                    .filter(|n| n.primary.as_deref() == Some(me.id.as_str()))
                    .count();
                let online = online_replicas(&mut conn, node)?;
                if online.len() != following {
                    return Err(pending(format!(
                        "{} of its {following} replicas are online ({online:?})",
                        online.len()
                    )));
                }
            }
            _ => replica_synced(&mut conn, node).map_err(|p| p.progress(progress.clone()))?,
        }
        // CLUSTER SLOTS leaves out replicas whose replication offset is still 0 as gossiped;
        // clients read it, so it must show every replica too, the same on every node.
        let slots = slots_reply(&mut conn, node)?;
        if let Some(bare) = slots.iter().find(|r| r.3.is_empty()) {
            return Err(pending(format!(
                "CLUSTER SLOTS lists no replica for {}-{}",
                bare.0, bare.1
            )));
        }
        match &reference_slots {
            None => reference_slots = Some((node.label(), slots)),
            Some((first, expected)) if *expected != slots => {
                return Err(pending(format!("its CLUSTER SLOTS differs from {first}'s")));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// One `CLUSTER SLOTS` entry: first and last slot, primary, sorted replicas.
type SlotsEntry = (i64, i64, String, Vec<String>);

/// `CLUSTER SLOTS`, sorted.
fn slots_reply(conn: &mut Conn, node: &Node) -> Result<Vec<SlotsEntry>, Pending> {
    let reply = wait::ask(conn, node, &["CLUSTER", "SLOTS"])?;
    let addr = |r: &Reply| {
        let f = r.items().unwrap_or_default();
        let port = f.get(1).and_then(Reply::integer).unwrap_or(0);
        format!(
            "{}:{port}",
            f.first().and_then(Reply::text).unwrap_or_default()
        )
    };
    let mut ranges: Vec<_> = reply
        .items()
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| {
            let f = entry.items()?;
            let mut replicas: Vec<String> =
                f.get(3..).unwrap_or_default().iter().map(addr).collect();
            replicas.sort();
            Some((
                f.first()?.integer()?,
                f.get(1)?.integer()?,
                addr(f.get(2)?),
                replicas,
            ))
        })
        .collect();
    ranges.sort();
    Ok(ranges)
}

/// The `host:port` of the replicas a primary counts as online (`INFO replication`).
pub(crate) fn online_replicas(conn: &mut Conn, node: &Node) -> Result<Vec<String>, Pending> {
    let info = wait::ask_text(conn, node, &["INFO", "replication"])?;
    Ok(crate::resp::info_fields(&info)
        .filter(|(k, _)| k.starts_with("slave") && k[5..].chars().all(|c| c.is_ascii_digit()))
        .filter_map(|(_, v)| {
            // ip=127.0.0.1,port=7433,state=online,offset=42,lag=0
            let field = |name: &str| {
                v.split(',')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            };
            let (ip, port) = (field("ip")?, field("port")?);
            (field("state")? == "online").then(|| format!("{ip}:{port}"))
        })
        .collect())
}

/// Checks a replica's link to its primary is up and the initial sync is done.
pub(crate) fn replica_synced(conn: &mut Conn, node: &Node) -> Result<(), Pending> {
    let info = wait::ask_text(conn, node, &["INFO", "replication"])?;
    let link = info_field(&info, "master_link_status").unwrap_or("?");
    let syncing = info_field(&info, "master_sync_in_progress").unwrap_or("?");
    if link != "up" || syncing != "0" {
        return Err(Pending::at(
            node,
            format!("master_link_status:{link}, master_sync_in_progress:{syncing}"),
        ));
    }
    Ok(())
}

/// Forms the cluster from six fresh nodes: slots to the primaries, MEET, REPLICATE, then
/// waits until [`check`] passes.
pub(crate) fn create(state: &State, timeout: Duration) -> Result<()> {
    let label = state.topology.name();
    let servers: Vec<&Node> = state.servers().collect();
    let mut conns = Vec::new();
    for node in &servers {
        conns.push(Conn::open(&state.endpoint(node))?);
    }
    let primaries: Vec<usize> = (0..servers.len())
        .filter(|i| servers[*i].role == Role::Primary)
        .collect();
    let count = primaries.len() as u32;
    for (k, &i) in primaries.iter().enumerate() {
        let k = k as u32;
        let first = u32::from(SLOTS) * k / count;
        let last = u32::from(SLOTS) * (k + 1) / count - 1;
        conns[i].ok(&[
            "CLUSTER",
            "ADDSLOTSRANGE",
            &first.to_string(),
            &last.to_string(),
        ])?;
    }
    // Distinct epochs up front spare the cluster its epoch-collision dance.
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.ok(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()])?;
    }
    for node in &servers[1..] {
        conns[0].ok(&["CLUSTER", "MEET", &node.host, &node.port.to_string()])?;
    }
    let ids: Vec<String> = conns
        .iter_mut()
        .map(|c| c.text(&["CLUSTER", "MYID"]))
        .collect::<Result<_>>()?;
    // A replica can only follow a primary it has heard of: wait for gossip, then REPLICATE.
    wait::until(label, "every node to know every other", timeout, || {
        for (ok, node) in servers.iter().enumerate() {
            let mut conn = match wait::connect(state, node) {
                Ok(c) => c,
                Err(p) => return Ok(Err(p)),
            };
            let known = match nodes_of(&mut conn, node) {
                Ok(n) => n,
                Err(p) => return Ok(Err(p)),
            };
            let full = known
                .iter()
                .filter(|n| !n.flags.iter().any(|f| f == "handshake"))
                .count();
            if full < servers.len() {
                let p = Pending::at(node, format!("knows {full}/{} nodes", servers.len()));
                return Ok(Err(p.progress(format!("{ok}/{} nodes met", servers.len()))));
            }
        }
        Ok(Ok(()))
    })?;
    for (i, node) in servers.iter().enumerate() {
        if let Some(primary) = primary_index(node, &servers) {
            conns[i].ok(&["CLUSTER", "REPLICATE", &ids[primary]])?;
        }
    }
    wait::until(label, "the replicas to sync", timeout, || {
        for node in servers.iter().filter(|n| n.role == Role::Replica) {
            let mut conn = match wait::connect(state, node) {
                Ok(c) => c,
                Err(p) => return Ok(Err(p)),
            };
            if let Err(p) = replica_synced(&mut conn, node) {
                return Ok(Err(p));
            }
        }
        Ok(Ok(()))
    })?;
    // One replicated write per primary moves every replica's offset off 0, the point from
    // which CLUSTER SLOTS lists it. The nodes are empty, so FLUSHALL changes nothing else.
    for &i in &primaries {
        conns[i].ok(&["FLUSHALL"])?;
    }
    wait_healthy(state, timeout)
}

fn primary_index(node: &Node, servers: &[&Node]) -> Option<usize> {
    if node.role != Role::Replica {
        return None;
    }
    // Replica k follows primary k (the plan pairs them in order).
    let replicas: Vec<&&Node> = servers.iter().filter(|n| n.role == Role::Replica).collect();
    let k = replicas.iter().position(|n| n.name == node.name)?;
    let primaries: Vec<usize> = (0..servers.len())
        .filter(|i| servers[*i].role == Role::Primary)
        .collect();
    primaries.get(k).copied()
}

/// Waits until [`check`] passes.
pub(crate) fn wait_healthy(state: &State, timeout: Duration) -> Result<()> {
    wait::until(
        state.topology.name(),
        "cluster_state:ok on every node",
        timeout,
        || Ok(check(state)),
    )
}

/// The slot map as the first reachable node sees it.
pub(crate) fn slot_view(state: &State) -> Result<SlotView> {
    let mut last = None;
    for node in state.servers() {
        match Conn::open(&state.endpoint(node)).and_then(|mut c| c.text(&["CLUSTER", "NODES"])) {
            Ok(text) => return Ok(SlotView::from_nodes(&parse_nodes(&text))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Setup("the cluster has no nodes".to_owned())))
}

fn node_at<'a>(state: &'a State, addr: &str) -> Result<&'a Node> {
    state.node(addr)
}

/// The addresses of `primary`'s replicas, as `primary` sees them (none when it is a replica).
pub(crate) fn replicas_of(state: &State, primary: &str) -> Result<Vec<String>> {
    let primary = node_at(state, primary)?;
    let nodes = parse_nodes(&Conn::open(&state.endpoint(primary))?.text(&["CLUSTER", "NODES"])?);
    let Some(me) = nodes.iter().find(|n| n.is_myself() && n.is_primary()) else {
        return Ok(Vec::new());
    };
    Ok(nodes
        .iter()
        .filter(|n| n.primary.as_deref() == Some(me.id.as_str()))
        .map(|n| n.addr.clone())
        .collect())
}

/// Fails `primary` over to its replica with `CLUSTER FAILOVER` and waits until every node
/// agrees and the old primary replicates from the new one. Returns the new primary's address.
pub(crate) fn failover(state: &State, primary: &str, timeout: Duration) -> Result<String> {
    let primary = node_at(state, primary)?;
    let mut conn = Conn::open(&state.endpoint(primary))?;
    let nodes = parse_nodes(&conn.text(&["CLUSTER", "NODES"])?);
    let me = nodes
        .iter()
        .find(|n| n.is_myself())
        .ok_or_else(|| Error::Protocol {
            node: primary.label(),
            command: "CLUSTER NODES".into(),
            reply: "no line flagged myself".into(),
        })?;
    if !me.is_primary() {
        return Err(Error::Setup(format!(
            "{} is a replica now; fail over a primary (see CLUSTER SLOTS)",
            primary.label()
        )));
    }
    let replica = nodes
        .iter()
        .find(|n| n.primary.as_deref() == Some(me.id.as_str()) && n.connected)
        .ok_or_else(|| {
            Error::Setup(format!(
                "{} has no connected replica to promote",
                primary.label()
            ))
        })?;
    let replica_node = node_at(state, &replica.addr)?;
    Conn::open(&state.endpoint(replica_node))?.ok(&["CLUSTER", "FAILOVER"])?;
    let label = state.topology.name();
    let new_addr = replica.addr.clone();
    let old_addr = primary.addr();
    wait::until(
        label,
        &format!("{new_addr} to take over from {old_addr}"),
        timeout,
        || {
            let mut conn = match wait::connect(state, replica_node) {
                Ok(c) => c,
                Err(p) => return Ok(Err(p)),
            };
            let role = match wait::ask(&mut conn, replica_node, &["ROLE"]) {
                Ok(r) => r,
                Err(p) => return Ok(Err(p)),
            };
            match role
                .items()
                .and_then(|i| i.first())
                .and_then(Reply::text)
                .as_deref()
            {
                Some("master") => Ok(Ok(())),
                other => Ok(Err(Pending::at(
                    replica_node,
                    format!("ROLE is still {other:?}"),
                ))),
            }
        },
    )?;
    wait_healthy(state, timeout)?;
    // Every node must now see the old primary as a replica of the new one.
    let view = slot_view(state)?;
    if view
        .replicas
        .get(&new_addr)
        .is_none_or(|r| !r.contains(&old_addr))
    {
        return Err(Error::Setup(format!(
            "after the failover {old_addr} does not replicate {new_addr}: {:?}",
            view.replicas
        )));
    }
    Ok(new_addr)
}

/// Moves `slot` and its keys from its current owner to the primary `target`, with the real
/// steps: SETSLOT IMPORTING on the target, MIGRATING on the source, GETKEYSINSLOT + MIGRATE in
/// batches, then SETSLOT NODE on the target, the source and every other primary. Waits until
/// every node agrees on the new owner.
pub(crate) fn migrate_slot(
    state: &State,
    slot: u16,
    target: &str,
    timeout: Duration,
) -> Result<()> {
    if slot >= SLOTS {
        return Err(Error::Setup(format!(
            "slot {slot} does not exist (0..16383)"
        )));
    }
    let view = slot_view(state)?;
    let source_addr = view
        .owner(slot)
        .ok_or_else(|| Error::Setup(format!("slot {slot} has no owner; is the cluster healthy?")))?
        .to_owned();
    let target = node_at(state, target)?;
    if source_addr == target.addr() {
        return Ok(());
    }
    let source = node_at(state, &source_addr)?;
    let mut src = Conn::open(&state.endpoint(source))?;
    let mut dst = Conn::open(&state.endpoint(target))?;
    let src_id = src.text(&["CLUSTER", "MYID"])?;
    let dst_id = dst.text(&["CLUSTER", "MYID"])?;
    let slot_s = slot.to_string();
    dst.ok(&["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &src_id])?;
    src.ok(&["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &dst_id])?;
    let port = target.port.to_string();
    loop {
        let keys = src.ok(&["CLUSTER", "GETKEYSINSLOT", &slot_s, "100"])?;
        let keys: Vec<Vec<u8>> = keys
            .items()
            .unwrap_or_default()
            .iter()
            .filter_map(|k| match k {
                Reply::Bulk(Some(b)) => Some(b.clone()),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            break;
        }
        let mut args: Vec<Vec<u8>> = ["MIGRATE", &target.host, &port, "", "0", "5000", "KEYS"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        args.extend(keys);
        src.ok(&args)?;
    }
    // Target first, so it owns the slot before the source stops redirecting with ASK.
    dst.ok(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id])?;
    src.ok(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id])?;
    for owner in view.replicas.keys() {
        if *owner != source_addr && *owner != target.addr() {
            let other = node_at(state, owner)?;
            Conn::open(&state.endpoint(other))?
                .ok(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id])?;
        }
    }
    let target_addr = target.addr();
    wait::until(
        state.topology.name(),
        &format!("every node to see slot {slot} on {target_addr}"),
        timeout,
        || {
            for node in state.servers() {
                let mut conn = match wait::connect(state, node) {
                    Ok(c) => c,
                    Err(p) => return Ok(Err(p)),
                };
                let nodes = match nodes_of(&mut conn, node) {
                    Ok(n) => n,
                    Err(p) => return Ok(Err(p)),
                };
                let owner = SlotView::from_nodes(&nodes).owner(slot).map(str::to_owned);
                if owner.as_deref() != Some(target_addr.as_str()) {
                    return Ok(Err(Pending::at(
                        node,
                        format!("sees slot {slot} on {owner:?}"),
                    )));
                }
            }
            Ok(Ok(()))
        },
    )?;
    wait_healthy(state, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
a1 127.0.0.1:7430@17430 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7431@17431 master - 0 1 2 connected 5461-10922 [5462->-a1]
c3 127.0.0.1:7432@17432,host master - 0 1 3 connected 10923-16383
d4 127.0.0.1:7433@17433 slave a1 0 1 1 connected
e5 127.0.0.1:7434@17434 slave b2 0 1 2 connected
f6 127.0.0.1:7435@17435 slave,fail? c3 0 1 3 disconnected
";

    #[test]
    fn cluster_nodes_are_parsed() {
        let nodes = parse_nodes(NODES);
        assert_eq!(nodes.len(), 6);
        assert!(nodes[0].is_myself() && nodes[0].is_primary());
        assert_eq!(nodes[1].slots, [(5461, 10922)]);
        assert_eq!(nodes[2].addr, "127.0.0.1:7432");
        assert_eq!(nodes[3].primary.as_deref(), Some("a1"));
        assert!(nodes[5].is_troubled() && !nodes[5].connected);
    }

    #[test]
    fn slot_view_checks_coverage_and_replicas() {
        let view = SlotView::from_nodes(&parse_nodes(NODES));
        assert!(view.covers_all_slots());
        assert_eq!(view.owner(5461), Some("127.0.0.1:7431"));
        assert_eq!(view.replicas["127.0.0.1:7430"], ["127.0.0.1:7433"]);
        let gap = NODES.replace("0-5460", "1-5460");
        assert!(!SlotView::from_nodes(&parse_nodes(&gap)).covers_all_slots());
    }

    #[test]
    fn split_ranges_compare_equal_to_whole_ones() {
        let split = NODES.replace("0-5460", "0-100 101-5460");
        assert_eq!(
            SlotView::from_nodes(&parse_nodes(&split)),
            SlotView::from_nodes(&parse_nodes(NODES))
        );
    }
}
