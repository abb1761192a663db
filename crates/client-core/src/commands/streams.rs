//! Options of the stream commands: [`StreamTrim`], [`XAddOptions`], [`XReadOptions`],
//! [`XReadGroupOptions`], [`XPendingOptions`], [`XClaimOptions`] and [`XAutoClaimOptions`].

use std::time::Duration;

use bytes::Bytes;

use super::{owned, timeout_millis};
use crate::command::{Command, ToArg};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Threshold {
    MaxLen(u64),
    MinId(Bytes),
}

/// How to trim a stream, for `XTRIM` and `XADD`: `MAXLEN` or `MINID`, exact or approximate
/// (`~`), with an optional `LIMIT` on the work done.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::StreamTrim;
///
/// /// Keeps about the last million events; the number of entries removed.
/// fn trim<C: Commands>(client: &C) -> C::Output<'_, u64> {
///     client.xtrim("events", &StreamTrim::max_len(1_000_000).approximate())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamTrim {
    threshold: Threshold,
    approximate: bool,
    limit: Option<u64>,
}

impl StreamTrim {
    /// `MAXLEN len`: keep at most this many entries.
    pub fn max_len(len: u64) -> Self {
        Self {
            threshold: Threshold::MaxLen(len),
            approximate: false,
            limit: None,
        }
    }

    /// `MINID id`: drop the entries whose id is lower than this one.
    pub fn min_id(id: impl ToArg) -> Self {
        Self {
            threshold: Threshold::MinId(owned(&id)),
            approximate: false,
            limit: None,
        }
    }

    /// `~`: trim only whole macro nodes, which is much cheaper; a few more entries may stay.
    pub fn approximate(mut self) -> Self {
        self.approximate = true;
        self
    }

    /// `LIMIT count`: evict at most this many entries per call (approximate trimming only).
    pub fn limit(mut self, count: u64) -> Self {
        self.limit = Some(count);
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        command = match &self.threshold {
            Threshold::MaxLen(_) => command.arg("MAXLEN"),
            Threshold::MinId(_) => command.arg("MINID"),
        };
        if self.approximate {
            command = command.arg("~");
        }
        command = match &self.threshold {
            Threshold::MaxLen(len) => command.arg(*len),
            Threshold::MinId(id) => command.arg(id.as_ref()),
        };
        match self.limit {
            Some(count) => command.arg("LIMIT").arg(count),
            None => command,
        }
    }
}

/// The options of `XADD`: `NOMKSTREAM` and trimming.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::{StreamTrim, XAddOptions};
///
/// /// Appends an event if the stream exists, keeping about 10k entries; the new id or null.
/// fn log<'a, C: Commands>(client: &'a C, level: &str) -> C::Output<'a, Option<String>> {
///     let trim = StreamTrim::max_len(10_000).approximate();
///     let options = XAddOptions::new().no_mkstream().trim(trim);
///     client.xadd_options("log", "*", [("level", level)], &options)
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XAddOptions {
    no_mkstream: bool,
    trim: Option<StreamTrim>,
}

impl XAddOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `NOMKSTREAM`: do not create a missing stream; the reply is then a null.
    pub fn no_mkstream(mut self) -> Self {
        self.no_mkstream = true;
        self
    }

    /// Trims the stream as part of the append.
    pub fn trim(mut self, trim: StreamTrim) -> Self {
        self.trim = Some(trim);
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        if self.no_mkstream {
            command = command.arg("NOMKSTREAM");
        }
        match &self.trim {
            Some(trim) => trim.append_to(command),
            None => command,
        }
    }
}

fn append_count_block(
    mut command: Command,
    count: Option<u64>,
    block: Option<Duration>,
) -> Command {
    if let Some(count) = count {
        command = command.arg("COUNT").arg(count);
    }
    match block {
        Some(timeout) => command.arg("BLOCK").arg(timeout_millis(timeout)),
        None => command,
    }
}

/// The options of `XREAD`: `COUNT` and `BLOCK`.
///
/// The reply maps each stream to its entries: ask for
/// `Option<HashMap<String, Vec<(String, HashMap<String, String>)>>>`, which reads the RESP3 map
/// and the RESP2 array of `[stream, entries]` pairs alike, and is `None` when a blocking read
/// timed out.
///
/// ```
/// use std::collections::HashMap;
/// use std::time::Duration;
///
/// use client_core::Commands;
/// use client_core::commands::XReadOptions;
///
/// type Entries = Vec<(String, HashMap<String, String>)>;
///
/// /// Waits up to 5 s for up to 100 new entries after `last_id`.
/// type Batch = Option<HashMap<String, Entries>>;
///
/// fn next<'a, C: Commands>(client: &'a C, last_id: &str) -> C::Output<'a, Batch> {
///     let options = XReadOptions::new().count(100).block(Duration::from_secs(5));
///     client.xread_options(["events"], [last_id], &options)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XReadOptions {
    count: Option<u64>,
    block: Option<Duration>,
}

impl XReadOptions {
    /// No options: return at once with what is there.
    pub fn new() -> Self {
        Self::default()
    }

    /// `COUNT count`: at most this many entries per stream.
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// `BLOCK milliseconds`: wait this long for an entry; [`Duration::ZERO`] waits with no
    /// limit. A request's own deadline is extended by the block time.
    pub fn block(mut self, timeout: Duration) -> Self {
        self.block = Some(timeout);
        self
    }

    pub(super) fn append_to(&self, command: Command) -> Command {
        append_count_block(command, self.count, self.block)
    }
}

/// The options of `XREADGROUP`: `COUNT`, `BLOCK` and `NOACK`.
///
/// ```
/// use std::time::Duration;
///
/// use client_core::Commands;
/// use client_core::commands::XReadGroupOptions;
/// use resp_core::Frame;
///
/// /// New entries for this consumer, waiting up to a second.
/// fn work<'a, C: Commands>(client: &'a C, me: &str) -> C::Output<'a, Frame> {
///     let options = XReadGroupOptions::new().count(10).block(Duration::from_secs(1));
///     client.xreadgroup_options("workers", me, ["jobs"], [">"], &options)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XReadGroupOptions {
    count: Option<u64>,
    block: Option<Duration>,
    no_ack: bool,
}

impl XReadGroupOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `COUNT count`: at most this many entries per stream.
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// `BLOCK milliseconds`: wait this long for an entry; [`Duration::ZERO`] waits with no
    /// limit.
    pub fn block(mut self, timeout: Duration) -> Self {
        self.block = Some(timeout);
        self
    }

    /// `NOACK`: acknowledge the entries as they are read (nothing goes to the pending list).
    pub fn no_ack(mut self) -> Self {
        self.no_ack = true;
        self
    }

    pub(super) fn append_to(&self, command: Command) -> Command {
        let command = append_count_block(command, self.count, self.block);
        if self.no_ack {
            command.arg("NOACK")
        } else {
            command
        }
    }
}

/// The extended form of `XPENDING`: a range of pending entries, optionally idle for a while or
/// owned by one consumer.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::XPendingOptions;
///
/// /// Up to 10 entries pending for more than a minute.
/// fn stuck<C: Commands>(client: &C) -> C::Output<'_, Vec<(String, String, u64, u64)>> {
///     let options = XPendingOptions::range("-", "+", 10).idle(60_000);
///     client.xpending_options("jobs", "workers", &options)
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XPendingOptions {
    idle: Option<u64>,
    start: Bytes,
    end: Bytes,
    count: u64,
    consumer: Option<Bytes>,
}

impl XPendingOptions {
    /// `start end count`: at most `count` entries with ids from `start` to `end` (`-` and `+`
    /// for all; `(` before an id excludes it).
    pub fn range(start: impl ToArg, end: impl ToArg, count: u64) -> Self {
        Self {
            idle: None,
            start: owned(&start),
            end: owned(&end),
            count,
            consumer: None,
        }
    }

    /// `IDLE min-idle-time`: only entries not delivered for this many milliseconds.
    pub fn idle(mut self, min_idle_millis: u64) -> Self {
        self.idle = Some(min_idle_millis);
        self
    }

    /// Only the entries of this consumer.
    pub fn consumer(mut self, consumer: impl ToArg) -> Self {
        self.consumer = Some(owned(&consumer));
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        if let Some(idle) = self.idle {
            command = command.arg("IDLE").arg(idle);
        }
        command = command
            .arg(self.start.as_ref())
            .arg(self.end.as_ref())
            .arg(self.count);
        match &self.consumer {
            Some(consumer) => command.arg(consumer.as_ref()),
            None => command,
        }
    }
}

/// The options of `XCLAIM`: `IDLE`, `TIME`, `RETRYCOUNT`, `FORCE`, `JUSTID` and `LASTID`.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::XClaimOptions;
///
/// /// Takes over entries idle for 5 minutes; only their ids.
/// fn take_over<'a, C: Commands>(client: &'a C, ids: Vec<String>) -> C::Output<'a, Vec<String>> {
///     let options = XClaimOptions::new().just_id();
///     client.xclaim_options("jobs", "workers", "me", 300_000, ids, &options)
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XClaimOptions {
    idle: Option<u64>,
    time: Option<u64>,
    retry_count: Option<u64>,
    force: bool,
    just_id: bool,
    last_id: Option<Bytes>,
}

impl XClaimOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `IDLE ms`: set the entries' idle time to this (default 0).
    pub fn idle(mut self, millis: u64) -> Self {
        self.idle = Some(millis);
        self
    }

    /// `TIME unix-ms`: set the entries' last delivery time to this Unix time in milliseconds.
    pub fn time(mut self, unix_millis: u64) -> Self {
        self.time = Some(unix_millis);
        self
    }

    /// `RETRYCOUNT count`: set the delivery counter (by default it is incremented).
    pub fn retry_count(mut self, count: u64) -> Self {
        self.retry_count = Some(count);
        self
    }

    /// `FORCE`: create pending entries for ids that are not pending yet.
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// `JUSTID`: reply with the ids only, and do not increment the delivery counter.
    pub fn just_id(mut self) -> Self {
        self.just_id = true;
        self
    }

    /// `LASTID id`: update the group's last delivered id.
    pub fn last_id(mut self, id: impl ToArg) -> Self {
        self.last_id = Some(owned(&id));
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        if let Some(idle) = self.idle {
            command = command.arg("IDLE").arg(idle);
        }
        if let Some(time) = self.time {
            command = command.arg("TIME").arg(time);
        }
        if let Some(count) = self.retry_count {
            command = command.arg("RETRYCOUNT").arg(count);
        }
        if self.force {
            command = command.arg("FORCE");
        }
        if self.just_id {
            command = command.arg("JUSTID");
        }
        match &self.last_id {
            Some(id) => command.arg("LASTID").arg(id.as_ref()),
            None => command,
        }
    }
}

/// The options of `XAUTOCLAIM`: `COUNT` and `JUSTID`.
///
/// The reply is `[next-start-id, entries, deleted-ids]`: ask for a 3-tuple.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::XAutoClaimOptions;
///
/// type Claimed = (String, Vec<String>, Vec<String>);
///
/// /// Claims up to 25 entries idle for a minute, from `start`; ids only.
/// fn sweep<'a, C: Commands>(client: &'a C, start: &str) -> C::Output<'a, Claimed> {
///     let options = XAutoClaimOptions::new().count(25).just_id();
///     client.xautoclaim_options("jobs", "workers", "me", 60_000, start, &options)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XAutoClaimOptions {
    count: Option<u64>,
    just_id: bool,
}

impl XAutoClaimOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `COUNT count`: claim at most this many entries (the server's default is 100).
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// `JUSTID`: reply with the ids only.
    pub fn just_id(mut self) -> Self {
        self.just_id = true;
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        if let Some(count) = self.count {
            command = command.arg("COUNT").arg(count);
        }
        if self.just_id {
            command.arg("JUSTID")
        } else {
            command
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::recorder::record;
    use super::*;
    use crate::Commands;

    #[test]
    fn trimming() {
        record(|c| c.xtrim::<()>("s", &StreamTrim::max_len(100)))
            .args(&["XTRIM", "s", "MAXLEN", "100"]);
        let approx = StreamTrim::min_id("1-0").approximate().limit(50);
        record(|c| c.xtrim::<()>("s", &approx))
            .args(&["XTRIM", "s", "MINID", "~", "1-0", "LIMIT", "50"])
            .keys(&["s"]);
    }

    #[test]
    fn xadd_options_come_before_the_id() {
        let options = XAddOptions::new()
            .trim(StreamTrim::max_len(10).approximate())
            .no_mkstream();
        record(|c| c.xadd_options::<()>("s", "*", [("f", "v"), ("g", "w")], &options))
            .args(&[
                "XADD",
                "s",
                "NOMKSTREAM",
                "MAXLEN",
                "~",
                "10",
                "*",
                "f",
                "v",
                "g",
                "w",
            ])
            .keys(&["s"]);
        record(|c| c.xadd::<()>("s", "5-1", ("f", 1))).args(&["XADD", "s", "5-1", "f", "1"]);
    }

    #[test]
    fn reads_put_keys_after_streams_and_block_in_milliseconds() {
        let options = XReadOptions::new().block(Duration::from_secs(2)).count(5);
        let r = record(|c| c.xread_options::<()>(["a", "b"], ["0-0", "$"], &options));
        r.args(&[
            "XREAD", "COUNT", "5", "BLOCK", "2000", "STREAMS", "a", "b", "0-0", "$",
        ])
        .keys(&["a", "b"]);
        assert_eq!(r.command.block_time(), Some(Some(Duration::from_secs(2))));
        record(|c| c.xread::<()>(["a"], ["0"])).args(&["XREAD", "STREAMS", "a", "0"]);
        let forever = XReadOptions::new().block(Duration::ZERO);
        let r = record(|c| c.xread_options::<()>(["a"], ["$"], &forever));
        assert_eq!(r.command.block_time(), Some(None));

        let group = XReadGroupOptions::new()
            .no_ack()
            .block(Duration::from_millis(10))
            .count(1);
        let r = record(|c| c.xreadgroup_options::<()>("g", "c1", ["s"], [">"], &group));
        r.args(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "COUNT",
            "1",
            "BLOCK",
            "10",
            "NOACK",
            "STREAMS",
            "s",
            ">",
        ])
        .keys(&["s"]);
        assert_eq!(
            r.command.block_time(),
            Some(Some(Duration::from_millis(10)))
        );
        record(|c| c.xreadgroup::<()>("g", "c1", ["s"], [">"])).args(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "STREAMS",
            "s",
            ">",
        ]);
    }

    #[test]
    fn pending_and_claims() {
        record(|c| c.xpending::<()>("s", "g"))
            .args(&["XPENDING", "s", "g"])
            .keys(&["s"]);
        let range = XPendingOptions::range("-", "+", 10)
            .consumer("c1")
            .idle(500);
        record(|c| c.xpending_options::<()>("s", "g", &range))
            .args(&["XPENDING", "s", "g", "IDLE", "500", "-", "+", "10", "c1"]);
        let claim = XClaimOptions::new()
            .last_id("9-0")
            .just_id()
            .force()
            .retry_count(2)
            .time(1_700_000_000_000)
            .idle(5);
        record(|c| c.xclaim_options::<()>("s", "g", "c", 100, ["1-0", "2-0"], &claim))
            .args(&[
                "XCLAIM",
                "s",
                "g",
                "c",
                "100",
                "1-0",
                "2-0",
                "IDLE",
                "5",
                "TIME",
                "1700000000000",
                "RETRYCOUNT",
                "2",
                "FORCE",
                "JUSTID",
                "LASTID",
                "9-0",
            ])
            .keys(&["s"]);
        let auto = XAutoClaimOptions::new().just_id().count(3);
        record(|c| c.xautoclaim_options::<()>("s", "g", "c", 100, "0-0", &auto))
            .args(&[
                "XAUTOCLAIM",
                "s",
                "g",
                "c",
                "100",
                "0-0",
                "COUNT",
                "3",
                "JUSTID",
            ])
            .keys(&["s"]);
    }

    #[test]
    fn groups() {
        record(|c| c.xgroup_create::<()>("s", "g", "$", true))
            .args(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])
            .keys(&["s"]);
        record(|c| c.xgroup_destroy::<()>("s", "g"))
            .args(&["XGROUP", "DESTROY", "s", "g"])
            .keys(&["s"]);
        record(|c| c.xack::<()>("s", "g", ["1-0"])).args(&["XACK", "s", "g", "1-0"]);
        record(|c| c.xinfo_stream::<()>("s"))
            .args(&["XINFO", "STREAM", "s"])
            .keys(&["s"]);
    }
}
