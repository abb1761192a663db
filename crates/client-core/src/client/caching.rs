//! Client-side caching in the client: serving hits, filling on replies, and every event that
//! empties entries (invalidation pushes, the client's own writes, lost connections). The
//! store itself is `crate::cache::LocalCache`; the rules are in docs/architecture.md
//! ("Client-side caching").

use std::time::Instant;

use resp_core::Frame;

use super::Client;
use crate::cache::{self, Effect, Invalidation, LocalCache};
use crate::command::Command;
use crate::event::{ConnId, Reply, RequestId};
use crate::hooks::{CacheInvalidation, InvalidationCause};
use crate::request::{Body, Owner, RequestState, Route};

impl Client {
    /// Cached replies held now, over every connection. 0 when caching is off.
    pub fn cache_len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// The read request `id` would be, if its reply may come from or go into the cache: a
    /// single cacheable command of the caller's, not pinned, not sent to a chosen node, not
    /// after `ASK`.
    fn cacheable_read(state: &RequestState) -> Option<(&[u8], &[u8])> {
        let Body::Single(command) = &state.body else {
            return None;
        };
        if state.pinned.is_some()
            || state.detour().ask.is_some()
            || !matches!(state.owner, Owner::Caller)
            || matches!(state.route, Route::Node(_))
        {
            return None;
        }
        cache::cacheable(command)
    }

    /// Before request `id` is written on connection `i`: completes it from the cache when the
    /// connection tracks and holds its reply. Returns whether it did.
    pub(super) fn serve_from_cache(&mut self, i: usize, id: RequestId, now: Instant) -> bool {
        let Some(cache) = &mut self.cache else {
            return false;
        };
        let c = &self.conns[i];
        let Some(state) = self.requests.get(id) else {
            return false;
        };
        if !c.tracking {
            return false;
        }
        let Some((key, command)) = Self::cacheable_read(state) else {
            return false;
        };
        if !cache.settings.covers(key) {
            return false;
        }
        let Some(frame) = cache.get(c.id, command, now) else {
            return false;
        };
        if let Some(hooks) = &self.config.hooks
            && let Body::Single(command) = &state.body
        {
            hooks.cache_hit(id, command);
        }
        self.complete(id, Ok(Reply::Single(frame)), now);
        true
    }

    /// Request `id` is being written on connection `i`: a cacheable read starts a fill (a
    /// miss); a command that may write drops the entries of the keys it names, and a
    /// database flush drops them all, so that a read sent after a write never finds what
    /// the write replaced.
    pub(super) fn cache_on_write(&mut self, i: usize, id: RequestId) {
        if self.cache.is_none() {
            return;
        }
        let Some(state) = self.requests.get(id) else {
            return;
        };
        let conn = self.conns[i].id;
        let tracking = self.conns[i].tracking;
        let read = Self::cacheable_read(state).filter(|_| tracking);
        let cache = self.cache.as_mut().expect("checked");
        if let Some((key, command)) = read.filter(|(key, _)| cache.settings.covers(key)) {
            cache.begin_fill(id, conn, key, command);
            if let Some(hooks) = &self.config.hooks
                && let Body::Single(command) = &state.body
            {
                hooks.cache_miss(id, command);
            }
            return;
        }
        let (removed, flushed) = drop_written(cache, state.body.commands());
        self.report_local_writes(removed, flushed);
    }

    /// Request `id` completes, however it ends: its fill (if any) is over, and the entries of
    /// the keys its writes name go again. A read on another connection (the shared one, for
    /// a write on a dedicated connection) may have cached the old value while the write was
    /// in flight, and its invalidation may still be on its way on that other connection:
    /// once the write is acknowledged, no read may return what it replaced.
    pub(super) fn cache_on_complete(&mut self, id: RequestId, state: &RequestState) {
        let Some(cache) = &mut self.cache else {
            return;
        };
        cache.end_fill(id);
        if Self::cacheable_read(state).is_none() {
            let (removed, flushed) = drop_written(cache, state.body.commands());
            self.report_local_writes(removed, flushed);
        }
    }

    fn report_local_writes(&self, removed: usize, flushed: bool) {
        if removed > 0
            && let Some(hooks) = &self.config.hooks
        {
            hooks.cache_invalidated(&CacheInvalidation {
                server: None,
                cause: if flushed {
                    InvalidationCause::WriteFlush
                } else {
                    InvalidationCause::Write
                },
                keys: &[],
                entries: removed,
            });
        }
    }

    /// A reply to request `id` arrived on connection `i`, before it is stored in the request:
    /// a fill of the cache takes a copy.
    pub(super) fn cache_on_reply(&mut self, i: usize, id: RequestId, frame: &Frame, now: Instant) {
        if let Some(cache) = &mut self.cache {
            cache.complete_fill(id, self.conns[i].id, frame, now);
        }
    }

    /// Whether `frame`, received on connection `i`, was an invalidation push the cache took.
    pub(super) fn cache_push(&mut self, i: usize, frame: &Frame) -> bool {
        let Some(cache) = &mut self.cache else {
            return false;
        };
        let Some(invalidation) = cache::invalidation(frame) else {
            return false;
        };
        let (keys, entries, cause) = match invalidation {
            Invalidation::Keys(keys) => {
                let removed = keys.iter().map(|k| cache.invalidate(k)).sum();
                (keys, removed, InvalidationCause::Server)
            }
            Invalidation::All => (Vec::new(), cache.flush(), InvalidationCause::ServerFlush),
        };
        if let Some(hooks) = &self.config.hooks {
            hooks.cache_invalidated(&CacheInvalidation {
                server: Some(&self.nodes[self.conns[i].node].server),
                cause,
                keys: &keys,
                entries,
            });
        }
        true
    }

    /// Connection `conn` (to node `node`) failed or closed: what its tracking covered may
    /// have changed unseen, so its entries go.
    pub(super) fn cache_conn_gone(&mut self, conn: ConnId, node: usize) {
        let Some(cache) = &mut self.cache else {
            return;
        };
        let entries = cache.flush_conn(conn);
        if entries > 0
            && let Some(hooks) = &self.config.hooks
        {
            hooks.cache_invalidated(&CacheInvalidation {
                server: Some(&self.nodes[node].server),
                cause: InvalidationCause::ConnectionLost,
                keys: &[],
                entries,
            });
        }
    }
}

/// Drops the entries `commands` may change: those of every argument of a command that may
/// write, or all of them for a database flush. Returns how many went, and whether all did.
fn drop_written(cache: &mut LocalCache, commands: &[Command]) -> (usize, bool) {
    let (mut removed, mut flushed) = (0, false);
    for command in commands {
        match cache::effect(command) {
            Effect::None => {}
            Effect::Keys => command.for_each_arg(|arg| removed += cache.invalidate(arg)),
            Effect::Flush => {
                removed += cache.flush();
                flushed = true;
            }
        }
    }
    (removed, flushed)
}
