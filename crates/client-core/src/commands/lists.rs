//! Options of the list commands: [`Direction`], [`InsertPosition`] and [`LPosOptions`].

use crate::command::Command;

/// Which end of a list: `LEFT` (the head, where `LPUSH` adds) or `RIGHT` (the tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `LEFT`: the head.
    Left,
    /// `RIGHT`: the tail.
    Right,
}

impl Direction {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Left => "LEFT",
            Self::Right => "RIGHT",
        }
    }
}

/// Where `LINSERT` puts the new element relative to the pivot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InsertPosition {
    /// `BEFORE` the pivot.
    Before,
    /// `AFTER` the pivot.
    After,
}

impl InsertPosition {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Before => "BEFORE",
            Self::After => "AFTER",
        }
    }
}

/// The options of `LPOS`: `RANK`, `COUNT` and `MAXLEN`.
///
/// Without `COUNT` the reply is one index or a null (`Option<i64>`); with it, a list of indexes
/// (`Vec<i64>`).
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::LPosOptions;
///
/// /// The indexes of the last two "error" entries among the first 1000.
/// fn last_errors<C: Commands>(client: &C) -> C::Output<'_, Vec<i64>> {
///     client.lpos_options("log", "error", &LPosOptions::new().rank(-1).count(2).max_len(1000))
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LPosOptions {
    rank: Option<i64>,
    count: Option<u64>,
    max_len: Option<u64>,
}

impl LPosOptions {
    /// No options: the index of the first match.
    pub fn new() -> Self {
        Self::default()
    }

    /// `RANK rank`: skip to the rank-th match; negative ranks search from the tail.
    pub fn rank(mut self, rank: i64) -> Self {
        self.rank = Some(rank);
        self
    }

    /// `COUNT count`: return up to this many indexes (0 for all).
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// `MAXLEN len`: compare at most this many elements.
    pub fn max_len(mut self, max_len: u64) -> Self {
        self.max_len = Some(max_len);
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        if let Some(rank) = self.rank {
            command = command.arg("RANK").arg(rank);
        }
        if let Some(count) = self.count {
            command = command.arg("COUNT").arg(count);
        }
        if let Some(max_len) = self.max_len {
            command = command.arg("MAXLEN").arg(max_len);
        }
        command
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::recorder::record;
    use super::*;
    use crate::Commands;

    #[test]
    fn lpos_options_in_server_order() {
        let options = LPosOptions::new().max_len(10).count(0).rank(-2);
        record(|c| c.lpos_options::<()>("l", "x", &options))
            .args(&["LPOS", "l", "x", "RANK", "-2", "COUNT", "0", "MAXLEN", "10"])
            .keys(&["l"]);
        record(|c| c.lpos::<()>("l", "x")).args(&["LPOS", "l", "x"]);
    }

    #[test]
    fn list_commands() {
        record(|c| c.lpush::<()>("l", ["a", "b"]))
            .args(&["LPUSH", "l", "a", "b"])
            .keys(&["l"]);
        record(|c| c.lpop::<()>("l", None)).args(&["LPOP", "l"]);
        record(|c| c.rpop::<()>("l", Some(3))).args(&["RPOP", "l", "3"]);
        record(|c| c.linsert::<()>("l", InsertPosition::Before, "p", "x"))
            .args(&["LINSERT", "l", "BEFORE", "p", "x"]);
        record(|c| c.linsert::<()>("l", InsertPosition::After, "p", "x"))
            .args(&["LINSERT", "l", "AFTER", "p", "x"]);
        record(|c| c.lmove::<()>("a", "b", Direction::Left, Direction::Right))
            .args(&["LMOVE", "a", "b", "LEFT", "RIGHT"])
            .keys(&["a", "b"]);
        record(|c| c.lmpop::<()>(["a", "b"], Direction::Right, Some(2)))
            .args(&["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "2"])
            .keys(&["a", "b"]);
        record(|c| c.lrem::<()>("l", -2, "x")).args(&["LREM", "l", "-2", "x"]);
    }

    #[test]
    fn blocking_list_commands_carry_their_timeout_in_seconds() {
        let r = record(|c| c.blpop::<()>(["a", "b"], Duration::from_millis(1500)));
        r.args(&["BLPOP", "a", "b", "1.5"]).keys(&["a", "b"]);
        assert_eq!(
            r.command.block_time(),
            Some(Some(Duration::from_millis(1500)))
        );
        let forever = record(|c| c.brpop::<()>("a", Duration::ZERO));
        forever.args(&["BRPOP", "a", "0"]);
        assert_eq!(
            forever.command.block_time(),
            Some(None),
            "zero blocks with no limit"
        );
        let two = Duration::from_secs(2);
        record(|c| c.blmove::<()>("a", "b", Direction::Right, Direction::Left, two))
            .args(&["BLMOVE", "a", "b", "RIGHT", "LEFT", "2"])
            .keys(&["a", "b"]);
        let r = record(|c| c.blmpop::<()>(Duration::from_secs(3), ["a"], Direction::Left, None));
        r.args(&["BLMPOP", "3", "1", "a", "LEFT"]).keys(&["a"]);
        assert_eq!(r.command.block_time(), Some(Some(Duration::from_secs(3))));
    }
}
