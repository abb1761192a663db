//! Combining the replies of a command the cluster router sent to several nodes, by the
//! command table's `response_policy` tip.

use bytes::Bytes;
use resp_core::Frame;

use crate::command::ResponsePolicy;

/// One part of a fanned-out command.
#[derive(Debug)]
enum Part {
    Waiting,
    Done(Frame),
    /// Dropped: its shard left the cluster (its data is with shards that answer anyway).
    Skipped,
}

/// What a fanned-out command's parent keeps until every part has answered.
#[derive(Debug)]
pub(crate) struct FanIn {
    pub(crate) policy: ResponsePolicy,
    parts: Vec<Part>,
    missing: usize,
    /// For a command split by key (`MGET`, ...): which of the original key groups each part
    /// took, so that array replies go back in the caller's order. Empty otherwise.
    pub(crate) positions: Vec<Vec<u32>>,
    /// For a command fanned out to nodes: the node each part is routed to, so that no node
    /// answers twice when a topology change moves a part, and [`ResponsePolicy::Special`]
    /// replies are labelled by the node that gave them. Empty otherwise.
    pub(crate) nodes: Vec<Option<usize>>,
}

impl FanIn {
    pub(crate) fn new(policy: ResponsePolicy, parts: usize) -> Self {
        Self {
            policy,
            parts: (0..parts).map(|_| Part::Waiting).collect(),
            missing: parts,
            positions: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// Stores part `part`'s reply; true when it was the last one missing.
    pub(crate) fn store(&mut self, part: usize, frame: Frame) -> bool {
        self.settle(part, Part::Done(frame))
    }

    /// Drops part `part`: its shard left the cluster. True when it was the last one missing.
    pub(crate) fn skip(&mut self, part: usize) -> bool {
        self.settle(part, Part::Skipped)
    }

    fn settle(&mut self, part: usize, to: Part) -> bool {
        if let Some(slot) = self.parts.get_mut(part)
            && matches!(slot, Part::Waiting)
        {
            *slot = to;
            self.missing -= 1;
        }
        self.missing == 0
    }

    /// The caller's reply, once every part is in; `label` names a node (by index) for
    /// [`ResponsePolicy::Special`] replies.
    pub(crate) fn combine(self, label: &dyn Fn(usize) -> String) -> Frame {
        let mut parts = Vec::with_capacity(self.parts.len());
        let mut labels = Vec::new();
        for (i, part) in self.parts.into_iter().enumerate() {
            let frame = match part {
                Part::Skipped => continue,
                Part::Waiting => Frame::Null,
                Part::Done(frame) => frame,
            };
            parts.push(frame);
            if self.policy == ResponsePolicy::Special {
                let node = self.nodes.get(i).copied().flatten();
                labels.push(node.map_or_else(|| i.to_string(), label));
            }
        }
        if !self.positions.is_empty() {
            if let Some(error) = parts.iter().find(|p| p.is_error()) {
                return error.clone();
            }
            if self.policy == ResponsePolicy::Default {
                return in_key_order(parts, &self.positions);
            }
        }
        combine(self.policy, parts, &labels)
    }
}

/// Array replies of per-slot parts put back in the order of the caller's keys.
fn in_key_order(parts: Vec<Frame>, positions: &[Vec<u32>]) -> Frame {
    let total = positions.iter().map(Vec::len).sum();
    let mut out: Vec<Option<Frame>> = (0..total).map(|_| None).collect();
    for (part, frame) in parts.into_iter().enumerate() {
        let Frame::Array(items) = frame else {
            return error("ERR a split command answered a part with something other than an array");
        };
        for (item, &at) in items.into_iter().zip(&positions[part]) {
            if let Some(slot) = out.get_mut(at as usize) {
                *slot = Some(item);
            }
        }
    }
    Frame::Array(out.into_iter().map(|f| f.unwrap_or(Frame::Null)).collect())
}

fn error(text: &str) -> Frame {
    Frame::SimpleError(Bytes::copy_from_slice(text.as_bytes()))
}

fn integers(parts: &[Frame]) -> Option<Vec<i64>> {
    parts
        .iter()
        .map(|p| match p.without_attributes() {
            Frame::Integer(n) => Some(*n),
            Frame::Boolean(b) => Some(i64::from(*b)),
            _ => None,
        })
        .collect()
}

/// Combines `parts` by `policy`. An error in any part wins, except for
/// [`ResponsePolicy::OneSucceeded`].
pub(crate) fn combine(policy: ResponsePolicy, parts: Vec<Frame>, labels: &[String]) -> Frame {
    if policy == ResponsePolicy::OneSucceeded {
        let ok = parts.iter().position(|p| !p.is_error()).unwrap_or(0);
        return parts.into_iter().nth(ok).unwrap_or(Frame::Null);
    }
    if let Some(error) = parts.iter().find(|p| p.is_error()) {
        return error.clone();
    }
    match policy {
        ResponsePolicy::AllSucceeded => parts.into_iter().next().unwrap_or(Frame::Null),
        ResponsePolicy::AggSum | ResponsePolicy::AggMin | ResponsePolicy::AggMax => {
            let Some(values) = integers(&parts) else {
                return error("ERR a fanned-out command answered a part with a non-integer");
            };
            let value = match policy {
                ResponsePolicy::AggSum => values.iter().fold(0i64, |a, &b| a.saturating_add(b)),
                ResponsePolicy::AggMin => values.iter().copied().min().unwrap_or(0),
                _ => values.iter().copied().max().unwrap_or(0),
            };
            Frame::Integer(value)
        }
        ResponsePolicy::AggLogicalAnd | ResponsePolicy::AggLogicalOr => logical(policy, &parts),
        ResponsePolicy::Special => Frame::Map(
            parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let label = labels.get(i).cloned().unwrap_or_else(|| i.to_string());
                    (Frame::BulkString(Bytes::from(label)), p)
                })
                .collect(),
        ),
        // Arrays are concatenated (KEYS, SLOWLOG GET); otherwise the first reply that is not
        // null (RANDOMKEY).
        _ => {
            if parts.iter().all(|p| matches!(p, Frame::Array(_))) {
                Frame::Array(
                    parts
                        .into_iter()
                        .flat_map(|p| match p {
                            Frame::Array(items) => items,
                            _ => Vec::new(),
                        })
                        .collect(),
                )
            } else {
                parts
                    .into_iter()
                    .find(|p| !p.is_null())
                    .unwrap_or(Frame::Null)
            }
        }
    }
}

/// AND/OR of integers, or element-wise of arrays of integers (`SCRIPT EXISTS`).
fn logical(policy: ResponsePolicy, parts: &[Frame]) -> Frame {
    let and = policy == ResponsePolicy::AggLogicalAnd;
    let op = |a: i64, b: i64| {
        i64::from(if and {
            a != 0 && b != 0
        } else {
            a != 0 || b != 0
        })
    };
    if let Some(values) = integers(parts) {
        let start = i64::from(and);
        return Frame::Integer(values.into_iter().fold(start, op));
    }
    let mut out: Option<Vec<i64>> = None;
    for part in parts {
        let Frame::Array(items) = part else {
            return error("ERR a fanned-out command answered a part with a non-array");
        };
        let Some(values) = integers(items) else {
            return error("ERR a fanned-out command answered an array of non-integers");
        };
        out = Some(match out {
            None => values,
            Some(acc) => acc.into_iter().zip(values).map(|(a, b)| op(a, b)).collect(),
        });
    }
    Frame::Array(
        out.unwrap_or_default()
            .into_iter()
            .map(Frame::Integer)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i64]) -> Vec<Frame> {
        values.iter().map(|&n| Frame::Integer(n)).collect()
    }

    #[test]
    fn aggregates() {
        let p = |policy| combine(policy, ints(&[3, 1, 2]), &[]);
        assert_eq!(p(ResponsePolicy::AggSum), Frame::Integer(6));
        assert_eq!(p(ResponsePolicy::AggMin), Frame::Integer(1));
        assert_eq!(p(ResponsePolicy::AggMax), Frame::Integer(3));
        assert_eq!(
            combine(ResponsePolicy::AggLogicalAnd, ints(&[1, 0]), &[]),
            Frame::Integer(0)
        );
        assert_eq!(
            combine(ResponsePolicy::AggLogicalOr, ints(&[1, 0]), &[]),
            Frame::Integer(1)
        );
        let arrays = vec![
            Frame::Array(ints(&[1, 1, 0])),
            Frame::Array(ints(&[1, 0, 0])),
        ];
        assert_eq!(
            combine(ResponsePolicy::AggLogicalAnd, arrays, &[]),
            Frame::Array(ints(&[1, 0, 0]))
        );
    }

    #[test]
    fn errors_win_except_for_one_succeeded() {
        let parts = vec![Frame::Integer(1), error("ERR nope")];
        assert_eq!(
            combine(ResponsePolicy::AggSum, parts.clone(), &[]),
            error("ERR nope")
        );
        assert_eq!(
            combine(ResponsePolicy::AllSucceeded, parts.clone(), &[]),
            error("ERR nope")
        );
        let reversed: Vec<Frame> = parts.into_iter().rev().collect();
        assert_eq!(
            combine(ResponsePolicy::OneSucceeded, reversed, &[]),
            Frame::Integer(1)
        );
    }

    #[test]
    fn default_concatenates_arrays_and_special_labels_by_node() {
        let parts = vec![Frame::Array(ints(&[1])), Frame::Array(ints(&[2, 3]))];
        assert_eq!(
            combine(ResponsePolicy::Default, parts, &[]),
            Frame::Array(ints(&[1, 2, 3]))
        );
        let parts = vec![Frame::Null, Frame::Integer(9)];
        assert_eq!(
            combine(ResponsePolicy::Default, parts, &[]),
            Frame::Integer(9)
        );
        let labels = ["a:1".to_string(), "b:2".to_string()];
        let Frame::Map(pairs) = combine(ResponsePolicy::Special, ints(&[1, 2]), &labels) else {
            panic!("a map");
        };
        assert_eq!(pairs[1].0, Frame::BulkString(Bytes::from_static(b"b:2")));
    }

    #[test]
    fn skipped_parts_count_as_answered_and_add_nothing() {
        let mut fan = FanIn::new(ResponsePolicy::AggSum, 3);
        assert!(!fan.store(0, Frame::Integer(2)));
        assert!(!fan.skip(1));
        assert!(fan.store(2, Frame::Integer(3)));
        assert_eq!(fan.combine(&|n| n.to_string()), Frame::Integer(5));
    }

    #[test]
    fn special_replies_are_labelled_by_the_node_each_part_went_to() {
        let mut fan = FanIn::new(ResponsePolicy::Special, 3);
        fan.nodes = vec![Some(3), Some(5), Some(7)];
        fan.store(0, Frame::Integer(1));
        fan.skip(1);
        fan.nodes[2] = Some(9); // the part followed a failover
        assert!(fan.store(2, Frame::Integer(2)));
        let Frame::Map(pairs) = fan.combine(&|n| format!("node-{n}")) else {
            panic!("a map");
        };
        let labels: Vec<Frame> = pairs.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            labels,
            [
                Frame::BulkString(Bytes::from_static(b"node-3")),
                Frame::BulkString(Bytes::from_static(b"node-9"))
            ]
        );
    }

    #[test]
    fn split_replies_return_in_key_order() {
        let mut fan = FanIn::new(ResponsePolicy::Default, 2);
        fan.positions = vec![vec![0, 2], vec![1]];
        assert!(!fan.store(1, Frame::Array(ints(&[20]))));
        assert!(fan.store(0, Frame::Array(ints(&[10, 30]))));
        assert_eq!(
            fan.combine(&|n| n.to_string()),
            Frame::Array(ints(&[10, 20, 30]))
        );
    }
}
