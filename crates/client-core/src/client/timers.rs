//! Request deadlines.
//!
//! Most requests share the default timeout, so their deadlines arrive in submit order: those
//! go in a FIFO (O(1)). Deadlines that would break the order (per-request timeouts, blocking
//! commands) go in a heap. Completed requests are dropped from the fronts as they complete,
//! which keeps both about as long as the number of requests in flight.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use super::slab::Slab;
use crate::event::RequestId;

#[derive(Debug, Default)]
pub(super) struct Deadlines {
    in_order: VecDeque<(Instant, RequestId)>,
    out_of_order: BinaryHeap<Reverse<(Instant, RequestId)>>,
}

impl Deadlines {
    pub(super) fn insert(&mut self, deadline: Instant, id: RequestId) {
        if self
            .in_order
            .back()
            .is_none_or(|&(last, _)| last <= deadline)
        {
            self.in_order.push_back((deadline, id));
        } else {
            self.out_of_order.push(Reverse((deadline, id)));
        }
    }

    /// The earliest deadline (possibly of a request that already completed: waking early is
    /// harmless).
    pub(super) fn next(&self) -> Option<Instant> {
        let a = self.in_order.front().map(|&(d, _)| d);
        let b = self.out_of_order.peek().map(|Reverse((d, _))| *d);
        super::earliest(a, b)
    }

    /// The next request whose deadline is at or before `now` and that is still pending.
    pub(super) fn pop_due(&mut self, now: Instant, requests: &Slab) -> Option<RequestId> {
        loop {
            let front = self.in_order.front().copied();
            let top = self.out_of_order.peek().map(|Reverse(entry)| *entry);
            let (deadline, id) = match (front, top) {
                (Some(f), Some(t)) if t.0 < f.0 => {
                    self.out_of_order.pop();
                    t
                }
                (Some(f), _) => {
                    self.in_order.pop_front();
                    f
                }
                (None, Some(t)) => {
                    self.out_of_order.pop();
                    t
                }
                (None, None) => return None,
            };
            if deadline > now {
                self.insert_back(deadline, id);
                return None;
            }
            if requests.contains(id) {
                return Some(id);
            }
        }
    }

    /// Puts back an entry `pop_due` took but that is not due.
    fn insert_back(&mut self, deadline: Instant, id: RequestId) {
        if self
            .in_order
            .front()
            .is_none_or(|&(first, _)| deadline <= first)
        {
            self.in_order.push_front((deadline, id));
        } else {
            self.out_of_order.push(Reverse((deadline, id)));
        }
    }

    /// Drops entries of completed requests from the fronts.
    pub(super) fn forget_completed(&mut self, requests: &Slab) {
        while self
            .in_order
            .front()
            .is_some_and(|&(_, id)| !requests.contains(id))
        {
            self.in_order.pop_front();
        }
        while self
            .out_of_order
            .peek()
            .is_some_and(|Reverse((_, id))| !requests.contains(*id))
        {
            self.out_of_order.pop();
        }
    }
}
