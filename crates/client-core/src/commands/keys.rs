//! Options of the key commands: [`ExpireCondition`] for the `EXPIRE` family and
//! [`ScanOptions`] for `SCAN` and its per-type variants.

use bytes::Bytes;

use super::owned;
use crate::command::{Command, ToArg};

/// When `EXPIRE`, `PEXPIRE`, `EXPIREAT` and `PEXPIREAT` apply (Redis 7.0 and later).
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::ExpireCondition;
///
/// /// Extends a session to an hour, never shortens it; true when changed.
/// fn extend<C: Commands>(client: &C) -> C::Output<'_, bool> {
///     client.expire("session:1", 3600, Some(ExpireCondition::Gt))
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExpireCondition {
    /// `NX`: only if the key has no expiry.
    Nx,
    /// `XX`: only if the key has an expiry.
    Xx,
    /// `GT`: only if the new expiry is later than the current one (no expiry counts as
    /// infinitely late).
    Gt,
    /// `LT`: only if the new expiry is earlier than the current one.
    Lt,
}

impl ExpireCondition {
    pub(super) fn append_to(condition: Option<Self>, command: Command) -> Command {
        match condition {
            Some(Self::Nx) => command.arg("NX"),
            Some(Self::Xx) => command.arg("XX"),
            Some(Self::Gt) => command.arg("GT"),
            Some(Self::Lt) => command.arg("LT"),
            None => command,
        }
    }
}

/// The options of `SCAN`, `HSCAN`, `SSCAN` and `ZSCAN`: `MATCH pattern`, `COUNT hint` and, for
/// `SCAN` only, `TYPE type`.
///
/// A scan returns a new cursor and a batch: ask for `(u64, Vec<String>)` (or
/// `(u64, Vec<(String, String)>)` for `HSCAN`), and call again with the cursor until it is 0.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::ScanOptions;
///
/// /// One batch of the session keys, from `cursor` (0 to start).
/// fn sessions<C: Commands>(client: &C, cursor: u64) -> C::Output<'_, (u64, Vec<String>)> {
///     let options = ScanOptions::new().pattern("session:*").count(500).key_type("hash");
///     client.scan_options(cursor, &options)
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanOptions {
    pattern: Option<Bytes>,
    count: Option<u64>,
    key_type: Option<Bytes>,
}

impl ScanOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `MATCH pattern`: only names matching this glob-style pattern.
    pub fn pattern(mut self, pattern: impl ToArg) -> Self {
        self.pattern = Some(owned(&pattern));
        self
    }

    /// `COUNT hint`: about how much work each call does (the server's default is 10).
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// `TYPE type`: only keys of this type (`string`, `list`, `hash`, `set`, `zset`, `stream`).
    /// For `SCAN` only: the other scans refuse it.
    pub fn key_type(mut self, key_type: impl ToArg) -> Self {
        self.key_type = Some(owned(&key_type));
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        if let Some(pattern) = &self.pattern {
            command = command.arg("MATCH").arg(pattern.as_ref());
        }
        if let Some(count) = self.count {
            command = command.arg("COUNT").arg(count);
        }
        if let Some(key_type) = &self.key_type {
            command = command.arg("TYPE").arg(key_type.as_ref());
        }
        command
    }
}

#[cfg(test)]
mod tests {
    use super::super::recorder::record;
    use super::*;
    use crate::Commands;

    #[test]
    fn expire_conditions() {
        record(|c| c.expire::<()>("k", 60, None))
            .args(&["EXPIRE", "k", "60"])
            .keys(&["k"]);
        record(|c| c.expire::<()>("k", 60, Some(ExpireCondition::Nx)))
            .args(&["EXPIRE", "k", "60", "NX"]);
        record(|c| c.pexpire::<()>("k", 1500, Some(ExpireCondition::Xx)))
            .args(&["PEXPIRE", "k", "1500", "XX"]);
        record(|c| c.expireat::<()>("k", 1_700_000_000, Some(ExpireCondition::Gt))).args(&[
            "EXPIREAT",
            "k",
            "1700000000",
            "GT",
        ]);
        record(|c| c.pexpireat::<()>("k", 5, Some(ExpireCondition::Lt))).args(&[
            "PEXPIREAT",
            "k",
            "5",
            "LT",
        ]);
    }

    #[test]
    fn scan_options_in_server_order() {
        let options = ScanOptions::new()
            .key_type("zset")
            .count(100)
            .pattern("user:*");
        record(|c| c.scan_options::<()>(42, &options))
            .args(&[
                "SCAN", "42", "MATCH", "user:*", "COUNT", "100", "TYPE", "zset",
            ])
            .keys(&[]);
        record(|c| c.scan::<()>(0)).args(&["SCAN", "0"]);
        record(|c| c.scan_options::<()>(0, &ScanOptions::new().count(5)))
            .args(&["SCAN", "0", "COUNT", "5"]);
    }

    #[test]
    fn key_commands() {
        record(|c| c.del::<()>(["a", "b"]))
            .args(&["DEL", "a", "b"])
            .keys(&["a", "b"]);
        record(|c| c.del::<()>("a"))
            .args(&["DEL", "a"])
            .keys(&["a"]);
        record(|c| c.exists::<()>(vec!["a"]))
            .args(&["EXISTS", "a"])
            .keys(&["a"]);
        record(|c| c.rename::<()>("a", "b"))
            .args(&["RENAME", "a", "b"])
            .keys(&["a", "b"]);
        record(|c| c.copy::<()>("a", "b", true))
            .args(&["COPY", "a", "b", "REPLACE"])
            .keys(&["a", "b"]);
        record(|c| c.copy::<()>("a", "b", false)).args(&["COPY", "a", "b"]);
        record(|c| c.type_of::<()>("a"))
            .args(&["TYPE", "a"])
            .keys(&["a"]);
        record(|c| c.keys::<()>("user:*"))
            .args(&["KEYS", "user:*"])
            .keys(&[]);
        record(|c| c.restore::<()>("a", 0, b"\x00payload".as_slice(), true))
            .args(&["RESTORE", "a", "0", "\0payload", "REPLACE"])
            .keys(&["a"]);
    }
}
