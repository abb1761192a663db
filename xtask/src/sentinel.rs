//! Sentinel health check and forced failover.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::layout::SENTINEL_SERVICE;
use crate::resp::{Conn, Reply};
use crate::state::{Node, State};
use crate::wait::{self, Pending};

/// Reads a flat `[k1, v1, k2, v2, ...]` reply (SENTINEL MASTER, SENTINEL REPLICAS entries).
fn pairs(reply: &Reply) -> Vec<(String, String)> {
    reply
        .items()
        .unwrap_or_default()
        .chunks(2)
        .filter_map(|kv| Some((kv.first()?.text()?, kv.get(1)?.text()?)))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// The primary's `host:port` according to one sentinel.
pub(crate) fn primary_by(conn: &mut Conn, sentinel: &Node) -> Result<String, Pending> {
    let reply = wait::ask(
        conn,
        sentinel,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE],
    )?;
    match reply.items() {
        Some([host, port]) => Ok(format!(
            "{}:{}",
            host.text().unwrap_or_default(),
            port.text().unwrap_or_default()
        )),
        _ => Err(Pending::at(
            sentinel,
            format!("does not know {SENTINEL_SERVICE} yet ({reply})"),
        )),
    }
}

/// The live role of a data server: `master`, or `slave` with its primary's `host:port` and
/// whether its link is up.
fn role(state: &State, node: &Node) -> Result<(String, Option<String>), Pending> {
    let mut conn = wait::connect(state, node)?;
    let reply = wait::ask(&mut conn, node, &["ROLE"])?;
    let items = reply.items().unwrap_or_default();
    let text = |i: usize| items.get(i).and_then(Reply::text).unwrap_or_default();
    let port = |i: usize| match items.get(i) {
        Some(Reply::Integer(p)) => p.to_string(),
        _ => text(i),
    };
    match text(0).as_str() {
        "master" => Ok(("master".into(), None)),
        "slave" => Ok(("slave".into(), Some(format!("{}:{}", text(1), port(2))))),
        other => Err(Pending::at(node, format!("ROLE says {other:?}"))),
    }
}

/// Checks the sentinel topology: exactly one primary; the other server replicates it with its
/// link up; every sentinel names that primary, sees it healthy, knows the two other sentinels
/// and lists the replica with a good link.
pub(crate) fn check(state: &State) -> Result<String, Pending> {
    let servers: Vec<&Node> = state.servers().collect();
    let mut primary = None;
    let mut replicas = Vec::new();
    for node in &servers {
        match role(state, node)? {
            (r, None) if r == "master" => {
                if let Some(other) = primary.replace(*node) {
                    return Err(Pending::at(
                        node,
                        format!("is a primary, and so is {}", other.label()),
                    ));
                }
            }
            (_, Some(of)) => replicas.push((*node, of)),
            _ => unreachable!("role() returns master or slave"),
        }
    }
    let primary = primary.ok_or_else(|| Pending::at(servers[0], "no server is a primary"))?;
    let primary_addr = primary.addr();
    let online = crate::cluster::online_replicas(&mut wait::connect(state, primary)?, primary)?;
    for (replica, of) in &replicas {
        if *of != primary_addr {
            return Err(Pending::at(
                replica,
                format!("replicates {of}, not {primary_addr}"),
            ));
        }
        let mut conn = wait::connect(state, replica)?;
        crate::cluster::replica_synced(&mut conn, replica)?;
        if !online.contains(&replica.addr()) {
            return Err(Pending::at(
                primary,
                format!("does not list {} as an online replica", replica.addr()),
            ));
        }
    }
    let sentinels: Vec<&Node> = state.sentinels().collect();
    for (ok, sentinel) in sentinels.iter().enumerate() {
        let progress = format!("{ok}/{} sentinels agree on {primary_addr}", sentinels.len());
        let pending = |missing: String| Pending::at(sentinel, missing).progress(progress.clone());
        let mut conn = wait::connect(state, sentinel).map_err(|p| p.progress(progress.clone()))?;
        let named = primary_by(&mut conn, sentinel)?;
        if named != primary_addr {
            return Err(pending(format!("names {named} as the primary")));
        }
        let master = pairs(&wait::ask(
            &mut conn,
            sentinel,
            &["SENTINEL", "MASTER", SENTINEL_SERVICE],
        )?);
        if get(&master, "flags") != "master" {
            return Err(pending(format!(
                "flags the primary `{}`",
                get(&master, "flags")
            )));
        }
        let others = get(&master, "num-other-sentinels");
        if others != (sentinels.len() - 1).to_string() {
            return Err(pending(format!("knows {others} other sentinels")));
        }
        let listed = wait::ask(
            &mut conn,
            sentinel,
            &["SENTINEL", "REPLICAS", SENTINEL_SERVICE],
        )?;
        for (replica, _) in &replicas {
            let entry = listed
                .items()
                .unwrap_or_default()
                .iter()
                .map(pairs)
                .find(|p| format!("{}:{}", get(p, "ip"), get(p, "port")) == replica.addr());
            let Some(entry) = entry else {
                return Err(pending(format!(
                    "does not list the replica {}",
                    replica.addr()
                )));
            };
            // Only the flags: a sentinel refreshes a replica's INFO (its link status and
            // primary) every 10 s, so those fields lag; the servers were checked above.
            let flags = get(&entry, "flags");
            if flags != "slave" {
                return Err(pending(format!(
                    "sees the replica {} as `{flags}`",
                    replica.addr()
                )));
            }
        }
    }
    Ok(primary_addr)
}

/// Waits until [`check`] passes; returns the primary's address.
pub(crate) fn wait_healthy(state: &State, timeout: Duration) -> Result<String> {
    wait::until(
        state.topology.name(),
        "the sentinels to agree on a healthy primary",
        timeout,
        || Ok(check(state)),
    )
}

/// `SENTINEL FAILOVER` on the first sentinel, then waits until every sentinel names the new
/// primary and the old primary replicates from it (xtask sends it the `REPLICAOF` the
/// sentinels would send 8 s later). Returns `(old, new)` addresses.
pub(crate) fn failover(state: &State, timeout: Duration) -> Result<(String, String)> {
    let old = wait_healthy(state, timeout)?;
    let sentinel = state
        .sentinels()
        .next()
        .ok_or_else(|| Error::Setup("the topology has no sentinel".to_owned()))?;
    let label = state.topology.name();
    // Right after a previous failover a sentinel may still refuse (NOGOODSLAVE, INPROG): retry.
    wait::until(
        label,
        "a sentinel to accept SENTINEL FAILOVER",
        timeout,
        || {
            let mut conn = match wait::connect(state, sentinel) {
                Ok(c) => c,
                Err(p) => return Ok(Err(p)),
            };
            match conn.call(&["SENTINEL", "FAILOVER", SENTINEL_SERVICE])? {
                Reply::Error(e) => Ok(Err(Pending::at(
                    sentinel,
                    format!("SENTINEL FAILOVER: {e}"),
                ))),
                _ => Ok(Ok(())),
            }
        },
    )?;
    let new = wait::until(
        label,
        &format!("the sentinels to move the primary off {old}"),
        timeout,
        || {
            let mut agreed = None;
            for s in state.sentinels() {
                let mut conn = match wait::connect(state, s) {
                    Ok(c) => c,
                    Err(p) => return Ok(Err(p)),
                };
                let named = match primary_by(&mut conn, s) {
                    Ok(n) => n,
                    Err(p) => return Ok(Err(p)),
                };
                if named == old || agreed.as_ref().is_some_and(|a| *a != named) {
                    return Ok(Err(Pending::at(s, format!("still names {named}"))));
                }
                agreed = Some(named);
            }
            Ok(agreed.ok_or_else(|| Pending::at(sentinel, "no sentinel answered")))
        },
    )?;
    // The sentinels turn the old primary into a replica of the new one only after watching
    // it for 8 s; do now what they would do then, so the topology settles in about a second.
    let old_node = state.node(&old)?;
    let (host, port) = new.rsplit_once(':').unwrap_or((new.as_str(), ""));
    Conn::open(&state.endpoint(old_node))?.ok(&["REPLICAOF", host, port])?;
    let healthy = wait_healthy(state, timeout)?;
    if healthy != new {
        return Err(Error::Setup(format!(
            "the sentinels moved the primary to {new}, then to {healthy}; is something else \
             failing the topology over?"
        )));
    }
    Ok((old, new))
}
