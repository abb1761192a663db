//! What happens to requests when a connection fails, a handshake is refused or a deadline
//! passes: the rules of "What happens to a request when things go wrong" in
//! docs/architecture.md.

use std::time::Instant;

use super::Client;
use crate::conn::{Role, Waiter};
use crate::error::RequestError;
use crate::event::{Event, RequestId};
use crate::hooks::Reconnect;
use crate::request::Phase;

impl Client {
    /// Connection `i` is gone (failed to open, closed, broke the protocol, or was closed by
    /// us). Its requests are re-queued or failed, and the shared connection is re-established
    /// with backoff if anyone is waiting.
    pub(super) fn connection_failed(&mut self, i: usize, reason: &str, now: Instant) {
        let conn = self.conns.remove(i);
        let n = conn.node;
        self.cache_conn_gone(conn.id, n);
        if let Some(hooks) = &self.config.hooks
            && !conn.is_unresolved()
        {
            hooks.disconnected(conn.id, &self.nodes[n].server, reason);
        }
        let server = self.nodes[n].server.to_string();
        let sentinel_reason = self
            .sentinel
            .as_ref()
            .and_then(|_| self.sentinel_reason(n, reason));
        let reason = sentinel_reason.as_deref().unwrap_or(reason);
        if conn.role == Role::Watch {
            self.watch_failed(conn.id, now);
            self.close_idle_when_quitting();
            return;
        }
        if conn.role == Role::Subscriber {
            if self.cluster.is_some() {
                // As for a shared connection: the node may have failed over. Without a new
                // topology, the subscriptions would be placed on the same node again, and a
                // client that only subscribes would redial a dead primary for ever (cluster
                // pub/sub seed 17).
                self.cluster_node_failed(n, now);
            }
            self.pubsub_conn_lost(conn.id, n, conn.is_ready(), reason, now);
            self.close_idle_when_quitting();
            return;
        }
        // Each request once, in wire order, with whether any of its bytes left the core.
        let sent_waiters = conn.waiters.len() - conn.unsent;
        let mut affected: Vec<(RequestId, bool)> = Vec::new();
        for (position, waiter) in conn.waiters.iter().enumerate() {
            let (Waiter::Request { id, .. } | Waiter::Fallback { id, .. }) = *waiter else {
                continue;
            };
            let sent = position < sent_waiters;
            match affected.iter_mut().find(|(seen, _)| *seen == id) {
                Some(entry) => entry.1 |= sent,
                None => affected.push((id, sent)),
            }
        }

        if conn.role == Role::Dedicated {
            let pinned = conn.pinned_queue.iter().map(|&id| (id, false));
            for (id, _) in affected.into_iter().chain(pinned) {
                let error = RequestError::ConnectionLost {
                    server: server.clone(),
                    reason: reason.to_owned(),
                };
                self.complete(id, Err(error), now);
            }
            self.close_idle_when_quitting();
            return;
        }

        let mut requeue = Vec::new();
        for (id, sent) in affected {
            let Some(state) = self.requests.get_mut(id) else {
                continue;
            };
            // A pending NOSCRIPT fallback means replies to this request already came: it was
            // sent and (the rest of a pipeline) ran, even if the fallback's bytes were not.
            let sent = sent || state.fallbacks_pending > 0;
            state.reset_replies();
            state.phase = Phase::Queued;
            if !sent {
                // Never left the core: nothing can have run. Send it on the next connection.
                if state.retries == 0 && state.redirects == 0 && state.children().is_empty() {
                    state.written = false;
                }
                requeue.push(id);
            } else if !(state.retry_safe || self.config.at_least_once_replay) {
                let command = state.operation().to_owned();
                let error = RequestError::MayHaveExecuted {
                    command,
                    server: server.clone(),
                    reason: reason.to_owned(),
                };
                self.complete(id, Err(error), now);
            } else if state.retries >= self.config.max_retries {
                let error = RequestError::RetriesExhausted {
                    command: state.operation().to_owned(),
                    attempts: state.retries + 1,
                    server: server.clone(),
                    reason: reason.to_owned(),
                };
                self.complete(id, Err(error), now);
            } else {
                state.retries += 1;
                let attempt = state.retries;
                if let Some(hooks) = &self.config.hooks {
                    hooks.retry(self.caller_of(id), attempt, reason);
                }
                requeue.push(id);
            }
        }
        if self.closing {
            // After quit no connection is made again: a request must not wait for one.
            for id in requeue {
                self.complete(id, Err(RequestError::Closed), now);
            }
        } else {
            // Re-queued requests go before newer ones, in their original order.
            for id in requeue.into_iter().rev() {
                self.nodes[n].queue.push_front(id);
            }
        }
        if self.nodes[n].conn == Some(conn.id) {
            self.nodes[n].conn = None;
            // Only dials and handshakes that did not finish are failed attempts; losing a
            // connection that was up is not one, so the policy's attempts all get made.
            if !conn.is_ready() {
                self.nodes[n].failures += 1;
            }
            self.nodes[n].last_error = reason.to_owned();
            if self.cluster.is_some() {
                self.cluster_node_failed(n, now);
            }
            if self.sentinel.is_some() {
                self.sentinel_node_failed(n, now);
            }
            self.schedule_reconnect(n, now);
        }
        if conn.role == Role::Multiplexed {
            self.pubsub_conn_lost(conn.id, n, conn.is_ready(), reason, now);
        }
        self.close_idle_when_quitting();
    }

    /// The shared connection needs re-establishing: after a backoff delay if requests wait,
    /// or not at all (the next submit connects) if none do. Past the policy's attempts, the
    /// waiting requests fail.
    fn schedule_reconnect(&mut self, n: usize, now: Instant) {
        if self.closing {
            return;
        }
        let policy = self.config.reconnect;
        let node = &mut self.nodes[n];
        if self.cluster.is_some() && policy.max_attempts.is_some_and(|max| node.failures >= max) {
            // A cluster node that stays away may have been failed over or removed: its
            // requests wait for the next topology read instead (they time out at their
            // deadlines if it still names this node).
            node.failures = 0;
            let queue = std::mem::take(&mut node.queue);
            self.wait_for_new_topology(queue, now);
            return;
        }
        if policy.max_attempts.is_some_and(|max| node.failures >= max) {
            let attempts = node.failures;
            node.failures = 0;
            let server = node.server.to_string();
            let last_error = node.last_error.clone();
            for id in std::mem::take(&mut node.queue) {
                let error = RequestError::Unavailable {
                    server: server.clone(),
                    attempts,
                    last_error: last_error.clone(),
                };
                self.complete(id, Err(error), now);
            }
            return;
        }
        let requests = &self.requests;
        node.queue.retain(|&id| requests.contains(id));
        if node.queue.is_empty() {
            return;
        }
        let delay = policy.delay(node.failures.saturating_sub(1), self.rng.unit());
        node.reconnect_at = Some(now + delay);
        if let Some(hooks) = &self.config.hooks {
            let node = &self.nodes[n];
            let mut waiting: Vec<RequestId> = Vec::with_capacity(node.queue.len());
            for &id in &node.queue {
                let caller = self.caller_of(id);
                if !waiting.contains(&caller) {
                    waiting.push(caller);
                }
            }
            hooks.reconnect_scheduled(&Reconnect {
                server: &node.server,
                attempt: node.failures + 1,
                delay,
                reason: &node.last_error,
                waiting: &waiting,
            });
        }
    }

    /// The server refused the handshake of connection `i`: every request waiting for it fails
    /// with `error`, since sending them again would be refused the same way.
    pub(super) fn handshake_failed(&mut self, i: usize, error: &RequestError, now: Instant) {
        let conn = self.conns.remove(i);
        let n = conn.node;
        if let Some(hooks) = &self.config.hooks {
            hooks.disconnected(conn.id, &self.nodes[n].server, &error.to_string());
        }
        let waiting: Vec<RequestId> = match conn.role {
            Role::Dedicated => conn.pinned_queue.into_iter().collect(),
            Role::Watch => {
                self.watch_failed(conn.id, now);
                Vec::new()
            }
            Role::Subscriber => {
                if self.pubsub_conn_is(n, conn.id) {
                    self.pubsub_forget_conn(n);
                }
                self.pubsub_handshake_failed(error, now);
                Vec::new()
            }
            Role::Multiplexed => {
                let node = &mut self.nodes[n];
                node.conn = None;
                node.failures += 1;
                node.last_error = error.to_string();
                std::mem::take(&mut node.queue).into_iter().collect()
            }
        };
        for id in waiting {
            self.complete(id, Err(error.clone()), now);
        }
        if conn.role == Role::Multiplexed {
            self.pubsub_handshake_failed(error, now);
        }
    }

    /// Request `id`'s deadline passed. If it was sent, its reply will be dropped when it comes;
    /// and if the connection has been silent for as long as the command timeout (or the
    /// request's own, if longer), the connection is taken for dead and replaced.
    pub(super) fn request_timed_out(&mut self, id: RequestId, now: Instant) {
        let Some(state) = self.requests.get(id) else {
            return;
        };
        let waited = state.timeout;
        // A split request is sent through its children.
        let mut sent_on = Vec::new();
        self.sent_conns(id, &mut sent_on);
        // A short per-request timeout says nothing about the connection: only silence as long
        // as the configured command timeout (or this request's, if longer) condemns it.
        let silence_limit = waited.max(self.config.timeouts.command);
        let error = if self.waits_for_primary(id) {
            let command = state.operation().to_owned();
            let sent = state.written;
            self.failover_timeout(id, command, waited, sent)
        } else if let Some((redirects, last)) =
            // A part still waiting for its reply makes it a plain timeout.
            sent_on.is_empty().then(|| self.refusal(id)).flatten()
        {
            RequestError::TimedOutRetrying {
                command: state.operation().to_owned(),
                after: waited,
                redirects,
                last,
            }
        } else {
            RequestError::Timeout {
                command: state.operation().to_owned(),
                after: waited,
                // An earlier attempt (or a part of a split request) that was written counts:
                // it may have run.
                sent: state.written,
            }
        };
        self.complete(id, Err(error), now);
        for conn in sent_on {
            // A connection the core stopped reading (a full subscriber buffer) is not silent.
            if let Some(i) = self.conn_index(conn)
                && !self.conns[i].paused
                && now.saturating_duration_since(self.conns[i].last_input) >= silence_limit
            {
                self.events.push_back(Event::Disconnect { conn });
                let reason = format!(
                    "closed by the client: no reply for {silence_limit:?}, the server is unresponsive"
                );
                self.connection_failed(i, &reason, now);
            }
        }
    }

    /// The refusal request `id` (or, when split, one of its parts) waits out a backoff
    /// after, with its count of redirections and retries.
    fn refusal(&self, id: RequestId) -> Option<(u32, String)> {
        let state = self.requests.get(id)?;
        if let Some(last) = &state.detour().refused {
            return Some((state.redirects, last.clone()));
        }
        state
            .children()
            .iter()
            .find_map(|&child| self.refusal(child))
    }

    /// The connections request `id` (or, when split, its children) was written to.
    fn sent_conns(&self, id: RequestId, out: &mut Vec<crate::event::ConnId>) {
        let Some(state) = self.requests.get(id) else {
            return;
        };
        if let Phase::Sent(conn) = state.phase
            && !out.contains(&conn)
        {
            out.push(conn);
        }
        for &child in state.children() {
            self.sent_conns(child, out);
        }
    }
}
