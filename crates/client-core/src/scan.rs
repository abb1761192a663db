//! [`ClusterScan`]: `SCAN` over every primary of a cluster, for any adapter.

use bytes::Bytes;
use resp_core::Frame;

use crate::client::Client;
use crate::command::cmd;
use crate::error::Error;
use crate::event::frame_into;
use crate::request::Request;

/// A walk over every key with `SCAN`: shard after shard in cluster mode (the one server
/// otherwise). Drive it with any executor: send [`next_request`](Self::next_request), feed the
/// reply to [`advance`](Self::advance), until `next_request` returns `None`.
///
/// As with `SCAN` itself, a key present from start to end is returned at least once. The
/// first request waits for the topology; each shard is then reached through one of its slots,
/// so a failover in between continues on the new primary, while a shard that changes hands
/// during the walk may return some keys twice or miss keys that moved.
///
/// ```
/// use client_core::ClusterScan;
/// let scan = ClusterScan::new(Some("user:*"), Some(100));
/// assert!(scan.next_request().is_some(), "a walk starts with a request");
/// ```
#[derive(Debug)]
pub struct ClusterScan {
    pattern: Option<String>,
    count: Option<u64>,
    cursor: Bytes,
    /// The shard being walked.
    shard: usize,
    /// One slot per shard, read from the topology after the first reply.
    slots: Option<Vec<u16>>,
    done: bool,
}

impl ClusterScan {
    /// A walk with `SCAN`'s `MATCH` pattern and `COUNT` hint.
    pub fn new(pattern: Option<&str>, count: Option<u64>) -> Self {
        Self {
            pattern: pattern.map(str::to_owned),
            count,
            cursor: Bytes::from_static(b"0"),
            shard: 0,
            slots: None,
            done: false,
        }
    }

    /// The next `SCAN` to send, or `None` when the walk is over.
    pub fn next_request(&self) -> Option<Request> {
        if self.done {
            return None;
        }
        let mut scan = cmd("SCAN").arg(self.cursor.clone());
        if let Some(pattern) = &self.pattern {
            scan = scan.arg("MATCH").arg(pattern.as_str());
        }
        if let Some(count) = self.count {
            scan = scan.arg("COUNT").arg(count);
        }
        let mut request = Request::single(scan);
        match &self.slots {
            Some(slots) => {
                if let Some(&slot) = slots.get(self.shard) {
                    request = request.to_slot(slot);
                }
            }
            // Before the first reply: the first shard, once the topology is known.
            None => request.options_mut().shard = Some(0),
        }
        Some(request)
    }

    /// Takes the reply to the last [`next_request`](Self::next_request) and returns its keys.
    ///
    /// # Errors
    ///
    /// A server error reply, or a reply that is not `SCAN`'s `[cursor, keys]`.
    pub fn advance(&mut self, reply: Frame, client: &Client) -> Result<Vec<Bytes>, Error> {
        let (next, keys): (Bytes, Vec<Bytes>) = frame_into(reply)?;
        let slots = self.slots.get_or_insert_with(|| {
            client
                .cluster_shards()
                .iter()
                .map(|s| s.first_slot)
                .collect()
        });
        if &next[..] == b"0" {
            self.shard += 1;
            self.cursor = Bytes::from_static(b"0");
            self.done = self.shard >= slots.len().max(1);
        } else {
            self.cursor = next;
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn page(cursor: &str, keys: &[&str]) -> Frame {
        let keys = keys
            .iter()
            .map(|k| Frame::BulkString(Bytes::copy_from_slice(k.as_bytes())))
            .collect();
        Frame::Array(vec![
            Frame::BulkString(Bytes::copy_from_slice(cursor.as_bytes())),
            Frame::Array(keys),
        ])
    }

    #[test]
    fn one_server_is_walked_until_the_cursor_comes_back_to_zero() {
        let client = Client::new(Config::new("h", 1));
        let mut scan = ClusterScan::new(Some("k*"), Some(10));
        let first = scan.next_request().unwrap();
        assert_eq!(
            first.options().shard,
            Some(0),
            "the first request waits for a topology"
        );
        assert_eq!(scan.advance(page("17", &["k1"]), &client).unwrap().len(), 1);
        let second = scan.next_request().unwrap();
        let crate::request::Body::Single(command) = &second.body else {
            panic!("a single SCAN");
        };
        assert_eq!(command.arg_bytes(1), Some(&b"17"[..]), "the cursor goes on");
        assert_eq!(
            scan.advance(page("0", &["k2", "k3"]), &client)
                .unwrap()
                .len(),
            2
        );
        assert!(
            scan.next_request().is_none(),
            "one server: done after its cursor ends"
        );
        let mut bad = ClusterScan::new(None, None);
        assert!(bad.advance(Frame::Integer(1), &client).is_err());
    }
}
