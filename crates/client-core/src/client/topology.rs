//! Reading a cluster's shape from `CLUSTER SHARDS` or `CLUSTER SLOTS`.
//!
//! Both parsers take the reply as it came (RESP2 arrays or RESP3 maps) and the address of the
//! node that answered, which stands in for nodes that announce no address of their own.

use resp_core::Frame;

use crate::config::ServerAddr;

/// A cluster slot count: slots are `0..SLOTS`.
pub(crate) const SLOTS: usize = 16384;

/// One shard as a node described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardInfo {
    pub(crate) primary: ServerAddr,
    pub(crate) replicas: Vec<ServerAddr>,
    /// Inclusive slot ranges.
    pub(crate) slots: Vec<(u16, u16)>,
}

/// How to pick a node's address from what it announces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddrRules<'a> {
    /// The node that answered: its host replaces an empty announced address.
    pub(crate) answered_by: &'a ServerAddr,
    /// Whether to use the TLS port where a node announces one.
    pub(crate) tls: bool,
}

impl AddrRules<'_> {
    fn addr(&self, host: &[u8], port: Option<i64>, tls_port: Option<i64>) -> Option<ServerAddr> {
        let port = match (self.tls, tls_port, port) {
            (true, Some(tls), _) if tls > 0 => tls,
            (_, _, Some(port)) if port > 0 => port,
            (_, Some(tls), _) if tls > 0 => tls,
            _ => return None,
        };
        let port = u16::try_from(port).ok()?;
        let host = match host {
            // "?" is a node whose address is not known yet: unusable.
            b"?" => return None,
            b"" => match self.answered_by {
                ServerAddr::Tcp { host, .. } => host.clone(),
                ServerAddr::Unix(_) => return None,
            },
            host => std::str::from_utf8(host).ok()?.to_owned(),
        };
        Some(ServerAddr::Tcp { host, port })
    }
}

/// Why a topology reply could not be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadTopology(pub(crate) String);

fn bad(what: impl Into<String>) -> BadTopology {
    BadTopology(what.into())
}

/// The fields of a RESP3 map or a RESP2 flat key/value array, by name.
pub(super) fn fields(frame: &Frame) -> Option<Vec<(&[u8], &Frame)>> {
    match frame.without_attributes() {
        Frame::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| Some((k.as_bytes()?.as_ref(), v)))
            .collect(),
        Frame::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|kv| Some((kv[0].as_bytes()?.as_ref(), &kv[1])))
            .collect(),
        _ => None,
    }
}

pub(super) fn field<'a>(fields: &[(&[u8], &'a Frame)], name: &str) -> Option<&'a Frame> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| *v)
}

pub(super) fn int(frame: &Frame) -> Option<i64> {
    match frame.without_attributes() {
        Frame::Integer(n) => Some(*n),
        other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
    }
}

pub(super) fn items(frame: &Frame) -> Option<&[Frame]> {
    match frame.without_attributes() {
        Frame::Array(items) | Frame::Set(items) => Some(items),
        _ => None,
    }
}

fn slot(n: i64) -> Result<u16, BadTopology> {
    u16::try_from(n)
        .ok()
        .filter(|&s| usize::from(s) < SLOTS)
        .ok_or_else(|| bad(format!("slot {n} is out of range")))
}

/// Parses a `CLUSTER SHARDS` reply (Redis 7+).
pub(crate) fn parse_shards(
    reply: &Frame,
    rules: AddrRules<'_>,
) -> Result<Vec<ShardInfo>, BadTopology> {
    let shards = items(reply).ok_or_else(|| bad("CLUSTER SHARDS did not answer an array"))?;
    let mut out = Vec::new();
    for shard in shards {
        let shard = fields(shard).ok_or_else(|| bad("a shard is not a map"))?;
        let ranges = field(&shard, "slots")
            .and_then(items)
            .ok_or_else(|| bad("a shard has no slots field"))?;
        if ranges.len() % 2 != 0 {
            return Err(bad("a shard's slots are not start/end pairs"));
        }
        let mut slots = Vec::new();
        for pair in ranges.chunks(2) {
            let (Some(start), Some(end)) = (int(&pair[0]), int(&pair[1])) else {
                return Err(bad("a slot range is not two integers"));
            };
            slots.push((slot(start)?, slot(end)?));
        }
        let nodes = field(&shard, "nodes")
            .and_then(items)
            .ok_or_else(|| bad("a shard has no nodes field"))?;
        let mut primary = None;
        let mut replicas = Vec::new();
        for node in nodes {
            let node = fields(node).ok_or_else(|| bad("a node is not a map"))?;
            let text = |name| field(&node, name).and_then(|f| f.as_bytes().map(|b| b.as_ref()));
            if text("health").is_some_and(|h| h == b"fail") {
                continue;
            }
            let host = text("endpoint")
                .filter(|e| !e.is_empty())
                .or_else(|| text("ip"))
                .unwrap_or_default();
            let port = field(&node, "port").and_then(int);
            let tls_port = field(&node, "tls-port").and_then(int);
            let Some(addr) = rules.addr(host, port, tls_port) else {
                continue;
            };
            match text("role") {
                Some(b"master") | Some(b"primary") => primary = Some(addr),
                // A replica still loading its data cannot serve reads yet.
                _ if text("health").is_some_and(|h| h == b"loading") => {}
                _ => replicas.push(addr),
            }
        }
        if let Some(primary) = primary {
            out.push(ShardInfo {
                primary,
                replicas,
                slots,
            });
        }
    }
    Ok(out)
}

/// Parses a `CLUSTER SLOTS` reply (any version); ranges of the same primary become one shard.
pub(crate) fn parse_slots(
    reply: &Frame,
    rules: AddrRules<'_>,
) -> Result<Vec<ShardInfo>, BadTopology> {
    let ranges = items(reply).ok_or_else(|| bad("CLUSTER SLOTS did not answer an array"))?;
    let mut out: Vec<ShardInfo> = Vec::new();
    for range in ranges {
        let range = items(range).filter(|r| r.len() >= 3).ok_or_else(|| {
            bad("a CLUSTER SLOTS entry is not [start, end, primary, replicas...]")
        })?;
        let (Some(start), Some(end)) = (int(&range[0]), int(&range[1])) else {
            return Err(bad("a slot range is not two integers"));
        };
        let mut nodes = range[2..].iter().filter_map(|node| {
            let node = items(node)?;
            let host = node.first()?.as_bytes()?;
            rules.addr(host, node.get(1).and_then(int), None)
        });
        let Some(primary) = nodes.next() else {
            continue;
        };
        let replicas: Vec<ServerAddr> = nodes.collect();
        let slots = (slot(start)?, slot(end)?);
        match out.iter_mut().find(|s| s.primary == primary) {
            Some(shard) => {
                shard.slots.push(slots);
                for replica in replicas {
                    if !shard.replicas.contains(&replica) {
                        shard.replicas.push(replica);
                    }
                }
            }
            None => out.push(ShardInfo {
                primary,
                replicas,
                slots: vec![slots],
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn tcp(host: &str, port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    fn node(ip: &str, endpoint: &str, port: i64, role: &str, health: &str) -> Vec<(Frame, Frame)> {
        vec![
            (bulk("id"), bulk("abc")),
            (bulk("port"), Frame::Integer(port)),
            (bulk("tls-port"), Frame::Integer(port + 1000)),
            (bulk("ip"), bulk(ip)),
            (bulk("endpoint"), bulk(endpoint)),
            (bulk("role"), bulk(role)),
            (bulk("replication-offset"), Frame::Integer(7)),
            (bulk("health"), bulk(health)),
        ]
    }

    fn flat(pairs: Vec<(Frame, Frame)>) -> Frame {
        Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }

    fn shard(slots: &[i64], nodes: Vec<Vec<(Frame, Frame)>>, resp3: bool) -> Frame {
        let wrap = |pairs: Vec<(Frame, Frame)>| {
            if resp3 {
                Frame::Map(pairs)
            } else {
                flat(pairs)
            }
        };
        wrap(vec![
            (
                bulk("slots"),
                Frame::Array(slots.iter().map(|&s| Frame::Integer(s)).collect()),
            ),
            (
                bulk("nodes"),
                Frame::Array(nodes.into_iter().map(wrap).collect()),
            ),
        ])
    }

    #[test]
    fn shards_in_both_protocols_with_announced_addresses() {
        let asked = tcp("seed", 7000);
        let rules = AddrRules {
            answered_by: &asked,
            tls: false,
        };
        for resp3 in [false, true] {
            let reply = Frame::Array(vec![
                shard(
                    &[0, 5460, 10000, 10001],
                    vec![
                        node("10.0.0.1", "redis-a.local", 7000, "master", "online"),
                        node("10.0.0.2", "", 7001, "replica", "online"),
                        node("10.0.0.3", "", 7002, "replica", "loading"),
                        node("10.0.0.4", "", 7003, "replica", "fail"),
                    ],
                    resp3,
                ),
                shard(
                    &[5461, 9999],
                    vec![node("", "", 7004, "master", "online")],
                    resp3,
                ),
            ]);
            let shards = parse_shards(&reply, rules).unwrap();
            assert_eq!(
                shards,
                [
                    ShardInfo {
                        primary: tcp("redis-a.local", 7000),
                        replicas: vec![tcp("10.0.0.2", 7001)],
                        slots: vec![(0, 5460), (10000, 10001)],
                    },
                    ShardInfo {
                        primary: tcp("seed", 7004),
                        replicas: vec![],
                        slots: vec![(5461, 9999)],
                    },
                ]
            );
        }
        let tls = AddrRules {
            answered_by: &asked,
            tls: true,
        };
        let reply = Frame::Array(vec![shard(
            &[0, 1],
            vec![node("h", "", 7000, "master", "online")],
            true,
        )]);
        assert_eq!(
            parse_shards(&reply, tls).unwrap()[0].primary,
            tcp("h", 8000)
        );
    }

    #[test]
    fn slots_group_ranges_by_primary() {
        let asked = tcp("seed", 7000);
        let rules = AddrRules {
            answered_by: &asked,
            tls: false,
        };
        let entry = |start, end, nodes: &[(&str, i64)]| {
            let mut items = vec![Frame::Integer(start), Frame::Integer(end)];
            items.extend(
                nodes
                    .iter()
                    .map(|(h, p)| Frame::Array(vec![bulk(h), Frame::Integer(*p), bulk("id")])),
            );
            Frame::Array(items)
        };
        let reply = Frame::Array(vec![
            entry(0, 99, &[("a", 1), ("b", 2)]),
            entry(100, 199, &[("", 3)]),
            entry(200, 299, &[("a", 1), ("c", 4)]),
            entry(300, 399, &[("?", 5)]),
        ]);
        let shards = parse_slots(&reply, rules).unwrap();
        assert_eq!(shards.len(), 2);
        assert_eq!(shards[0].primary, tcp("a", 1));
        assert_eq!(shards[0].slots, [(0, 99), (200, 299)]);
        assert_eq!(shards[0].replicas, [tcp("b", 2), tcp("c", 4)]);
        assert_eq!(shards[1].primary, tcp("seed", 3));
    }

    #[test]
    fn nonsense_is_an_error_not_a_panic() {
        let asked = tcp("seed", 7000);
        let rules = AddrRules {
            answered_by: &asked,
            tls: false,
        };
        assert!(parse_shards(&Frame::Integer(1), rules).is_err());
        assert!(parse_slots(&bulk("x"), rules).is_err());
        let out_of_range = Frame::Array(vec![Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(16384),
            Frame::Array(vec![bulk("a"), Frame::Integer(1)]),
        ])]);
        assert!(parse_slots(&out_of_range, rules).is_err());
    }
}
