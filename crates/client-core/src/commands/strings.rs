//! Options of the string commands: [`SetOptions`] for `SET`, [`GetExExpiry`] for `GETEX`.

use crate::command::Command;

/// When a key written by `SET` expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetExpiry {
    Ex(u64),
    Px(u64),
    ExAt(u64),
    PxAt(u64),
    KeepTtl,
}

/// The options of `SET`: an expiry (`EX`, `PX`, `EXAT`, `PXAT` or `KEEPTTL`), a condition
/// (`NX` or `XX`) and `GET`. Setting a second expiry or condition replaces the first.
///
/// With `NX` or `XX` the reply is `OK` or a null, which `bool` reads as true or false; with
/// `GET` it is the old value, so ask for an `Option<String>`.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::SetOptions;
///
/// /// Takes a lock for 30 seconds unless someone holds it; true when taken.
/// fn try_lock<'a, C: Commands>(client: &'a C, owner: &str) -> C::Output<'a, bool> {
///     client.set_options("lock", owner, &SetOptions::new().nx().ex(30))
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    expiry: Option<SetExpiry>,
    /// `NX` when true, `XX` when false.
    only_if_missing: Option<bool>,
    get: bool,
}

impl SetOptions {
    /// No options: a plain `SET`.
    pub fn new() -> Self {
        Self::default()
    }

    /// `EX seconds`: expire after this many seconds.
    pub fn ex(mut self, seconds: u64) -> Self {
        self.expiry = Some(SetExpiry::Ex(seconds));
        self
    }

    /// `PX milliseconds`: expire after this many milliseconds.
    pub fn px(mut self, millis: u64) -> Self {
        self.expiry = Some(SetExpiry::Px(millis));
        self
    }

    /// `EXAT unix-seconds`: expire at this Unix time, in seconds.
    pub fn exat(mut self, unix_seconds: u64) -> Self {
        self.expiry = Some(SetExpiry::ExAt(unix_seconds));
        self
    }

    /// `PXAT unix-milliseconds`: expire at this Unix time, in milliseconds.
    pub fn pxat(mut self, unix_millis: u64) -> Self {
        self.expiry = Some(SetExpiry::PxAt(unix_millis));
        self
    }

    /// `KEEPTTL`: keep the key's current time to live.
    pub fn keep_ttl(mut self) -> Self {
        self.expiry = Some(SetExpiry::KeepTtl);
        self
    }

    /// `NX`: set only if the key does not exist.
    pub fn nx(mut self) -> Self {
        self.only_if_missing = Some(true);
        self
    }

    /// `XX`: set only if the key already exists.
    pub fn xx(mut self) -> Self {
        self.only_if_missing = Some(false);
        self
    }

    /// `GET`: reply with the old value (or a null) instead of `OK`.
    pub fn get(mut self) -> Self {
        self.get = true;
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        command = match self.expiry {
            Some(SetExpiry::Ex(n)) => command.arg("EX").arg(n),
            Some(SetExpiry::Px(n)) => command.arg("PX").arg(n),
            Some(SetExpiry::ExAt(n)) => command.arg("EXAT").arg(n),
            Some(SetExpiry::PxAt(n)) => command.arg("PXAT").arg(n),
            Some(SetExpiry::KeepTtl) => command.arg("KEEPTTL"),
            None => command,
        };
        command = match self.only_if_missing {
            Some(true) => command.arg("NX"),
            Some(false) => command.arg("XX"),
            None => command,
        };
        if self.get {
            command.arg("GET")
        } else {
            command
        }
    }
}

/// What `GETEX` does to the key's expiry while reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetExExpiry {
    /// `EX seconds`: expire after this many seconds.
    Ex(u64),
    /// `PX milliseconds`: expire after this many milliseconds.
    Px(u64),
    /// `EXAT unix-seconds`: expire at this Unix time, in seconds.
    ExAt(u64),
    /// `PXAT unix-milliseconds`: expire at this Unix time, in milliseconds.
    PxAt(u64),
    /// `PERSIST`: remove the expiry.
    Persist,
}

impl GetExExpiry {
    pub(super) fn append_to(self, command: Command) -> Command {
        match self {
            Self::Ex(n) => command.arg("EX").arg(n),
            Self::Px(n) => command.arg("PX").arg(n),
            Self::ExAt(n) => command.arg("EXAT").arg(n),
            Self::PxAt(n) => command.arg("PXAT").arg(n),
            Self::Persist => command.arg("PERSIST"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::recorder::record;
    use super::*;
    use crate::Commands;

    #[test]
    fn set_options_in_server_order() {
        let options = SetOptions::new().get().nx().ex(60);
        record(|c| c.set_options::<()>("k", "v", &options))
            .args(&["SET", "k", "v", "EX", "60", "NX", "GET"])
            .keys(&["k"]);
        record(|c| c.set_options::<()>("k", 1, &SetOptions::new().px(1500).xx()))
            .args(&["SET", "k", "1", "PX", "1500", "XX"]);
        record(|c| c.set_options::<()>("k", "v", &SetOptions::new().exat(1_700_000_000))).args(&[
            "SET",
            "k",
            "v",
            "EXAT",
            "1700000000",
        ]);
        record(|c| c.set_options::<()>("k", "v", &SetOptions::new().pxat(5).keep_ttl()))
            .args(&["SET", "k", "v", "KEEPTTL"]);
        record(|c| c.set_options::<()>("k", "v", &SetOptions::new().pxat(5)))
            .args(&["SET", "k", "v", "PXAT", "5"]);
        record(|c| c.set_options::<()>("k", "v", &SetOptions::new())).args(&["SET", "k", "v"]);
    }

    #[test]
    fn getex_expiries() {
        record(|c| c.getex::<()>("k", GetExExpiry::Ex(5))).args(&["GETEX", "k", "EX", "5"]);
        record(|c| c.getex::<()>("k", GetExExpiry::Px(5))).args(&["GETEX", "k", "PX", "5"]);
        record(|c| c.getex::<()>("k", GetExExpiry::ExAt(5))).args(&["GETEX", "k", "EXAT", "5"]);
        record(|c| c.getex::<()>("k", GetExExpiry::PxAt(5))).args(&["GETEX", "k", "PXAT", "5"]);
        record(|c| c.getex::<()>("k", GetExExpiry::Persist)).args(&["GETEX", "k", "PERSIST"]);
    }

    #[test]
    fn string_commands() {
        record(|c| c.get::<()>("k"))
            .args(&["GET", "k"])
            .keys(&["k"]);
        record(|c| c.mget::<()>(["a", "b"]))
            .args(&["MGET", "a", "b"])
            .keys(&["a", "b"]);
        record(|c| c.mset::<()>(&[("a", 1), ("b", 2)]))
            .args(&["MSET", "a", "1", "b", "2"])
            .keys(&["a", "b"]);
        record(|c| c.msetnx::<()>(&[("{t}a", "x")])).args(&["MSETNX", "{t}a", "x"]);
        let owned = vec![("a".to_string(), "1".to_string())];
        record(|c| c.mset::<()>(&owned))
            .args(&["MSET", "a", "1"])
            .keys(&["a"]);
        record(|c| c.setex::<()>("k", 10, "v")).args(&["SETEX", "k", "10", "v"]);
        record(|c| c.psetex::<()>("k", 10, "v")).args(&["PSETEX", "k", "10", "v"]);
        record(|c| c.incr_by::<()>("n", -3)).args(&["INCRBY", "n", "-3"]);
        record(|c| c.decr_by::<()>("n", 3)).args(&["DECRBY", "n", "3"]);
        record(|c| c.incr_by_float::<()>("n", 0.5)).args(&["INCRBYFLOAT", "n", "0.5"]);
        record(|c| c.getrange::<()>("k", 0, -1)).args(&["GETRANGE", "k", "0", "-1"]);
        record(|c| c.setrange::<()>("k", 6, "x")).args(&["SETRANGE", "k", "6", "x"]);
    }
}
