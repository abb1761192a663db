//! Options of the sorted-set commands: [`ZAddOptions`], [`ZRangeOptions`], [`ZStoreOptions`]
//! with [`Aggregate`], and [`MinMax`] for the `ZMPOP` family.

use crate::command::Command;

/// The options of `ZADD`: `NX` or `XX`, `GT` or `LT`, and `CH`.
///
/// The reply is the number of members added, or with `CH` added and changed.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::ZAddOptions;
///
/// /// Records a high score: only raises existing scores; the count of scores changed.
/// fn high_score<'a, C: Commands>(client: &'a C, player: &str, score: f64) -> C::Output<'a, u64> {
///     client.zadd_options("scores", [(score, player)], &ZAddOptions::new().gt().ch())
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZAddOptions {
    /// `NX` when true, `XX` when false.
    only_new: Option<bool>,
    /// `GT` when true, `LT` when false.
    only_greater: Option<bool>,
    changed: bool,
}

impl ZAddOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `NX`: only add new members, never update scores.
    pub fn nx(mut self) -> Self {
        self.only_new = Some(true);
        self
    }

    /// `XX`: only update existing members, never add.
    pub fn xx(mut self) -> Self {
        self.only_new = Some(false);
        self
    }

    /// `GT`: only update a score when the new one is greater (new members are still added).
    pub fn gt(mut self) -> Self {
        self.only_greater = Some(true);
        self
    }

    /// `LT`: only update a score when the new one is less (new members are still added).
    pub fn lt(mut self) -> Self {
        self.only_greater = Some(false);
        self
    }

    /// `CH`: count changed members in the reply, not just added ones.
    pub fn ch(mut self) -> Self {
        self.changed = true;
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        command = match self.only_new {
            Some(true) => command.arg("NX"),
            Some(false) => command.arg("XX"),
            None => command,
        };
        command = match self.only_greater {
            Some(true) => command.arg("GT"),
            Some(false) => command.arg("LT"),
            None => command,
        };
        if self.changed {
            command.arg("CH")
        } else {
            command
        }
    }
}

/// What the start and stop of `ZRANGE` are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum RangeBy {
    #[default]
    Index,
    Score,
    Lex,
}

/// The options of `ZRANGE`: `BYSCORE` or `BYLEX`, `REV`, `LIMIT offset count` and
/// `WITHSCORES`.
///
/// By index, start and stop are ranks (`0`, `-1`); by score, scores with `(` for an exclusive
/// bound and `-inf`/`+inf`; by lex, members with `[` or `(` and `-`/`+`. With `REV`, give the
/// higher bound first. With `WITHSCORES`, ask for `Vec<(String, f64)>`, which reads the RESP2
/// flat layout and the RESP3 pairs alike.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::ZRangeOptions;
///
/// /// The ten best players with a score of at least 100, best first.
/// fn leaders<C: Commands>(client: &C) -> C::Output<'_, Vec<(String, f64)>> {
///     let options = ZRangeOptions::new().by_score().rev().limit(0, 10).with_scores();
///     client.zrange_options("scores", "+inf", 100, &options)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZRangeOptions {
    by: RangeBy,
    rev: bool,
    limit: Option<(i64, i64)>,
    with_scores: bool,
}

impl ZRangeOptions {
    /// No options: by index, lowest score first.
    pub fn new() -> Self {
        Self::default()
    }

    /// `BYSCORE`: start and stop are scores.
    pub fn by_score(mut self) -> Self {
        self.by = RangeBy::Score;
        self
    }

    /// `BYLEX`: start and stop are members, compared as bytes (all scores equal).
    pub fn by_lex(mut self) -> Self {
        self.by = RangeBy::Lex;
        self
    }

    /// `REV`: highest first.
    pub fn rev(mut self) -> Self {
        self.rev = true;
        self
    }

    /// `LIMIT offset count`: a page of the range (`BYSCORE` and `BYLEX` only); a negative
    /// count means all from the offset.
    pub fn limit(mut self, offset: i64, count: i64) -> Self {
        self.limit = Some((offset, count));
        self
    }

    /// `WITHSCORES`: each member with its score.
    pub fn with_scores(mut self) -> Self {
        self.with_scores = true;
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        command = match self.by {
            RangeBy::Index => command,
            RangeBy::Score => command.arg("BYSCORE"),
            RangeBy::Lex => command.arg("BYLEX"),
        };
        if self.rev {
            command = command.arg("REV");
        }
        if let Some((offset, count)) = self.limit {
            command = command.arg("LIMIT").arg(offset).arg(count);
        }
        if self.with_scores {
            command.arg("WITHSCORES")
        } else {
            command
        }
    }
}

/// How `ZUNIONSTORE` and `ZINTERSTORE` combine the scores of a member found in several sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// `SUM`, the default.
    Sum,
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
}

/// The options of `ZUNIONSTORE` and `ZINTERSTORE`: `WEIGHTS` and `AGGREGATE`.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::{Aggregate, ZStoreOptions};
///
/// /// This week's ranking: today's scores count double, the best score wins.
/// fn weekly<C: Commands>(client: &C) -> C::Output<'_, u64> {
///     let options = ZStoreOptions::new().weights([2.0, 1.0]).aggregate(Aggregate::Max);
///     client.zunionstore_options("{s}week", ["{s}today", "{s}before"], &options)
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZStoreOptions {
    weights: Vec<f64>,
    aggregate: Option<Aggregate>,
}

impl ZStoreOptions {
    /// No options: weights of 1, scores summed.
    pub fn new() -> Self {
        Self::default()
    }

    /// `WEIGHTS w ...`: a multiplier per input set, in the order of the keys.
    pub fn weights(mut self, weights: impl IntoIterator<Item = f64>) -> Self {
        self.weights = weights.into_iter().collect();
        self
    }

    /// `AGGREGATE SUM|MIN|MAX`.
    pub fn aggregate(mut self, aggregate: Aggregate) -> Self {
        self.aggregate = Some(aggregate);
        self
    }

    pub(super) fn append_to(&self, mut command: Command) -> Command {
        if !self.weights.is_empty() {
            command = command.arg("WEIGHTS");
            for &weight in &self.weights {
                command = command.arg(weight);
            }
        }
        match self.aggregate {
            Some(Aggregate::Sum) => command.arg("AGGREGATE").arg("SUM"),
            Some(Aggregate::Min) => command.arg("AGGREGATE").arg("MIN"),
            Some(Aggregate::Max) => command.arg("AGGREGATE").arg("MAX"),
            None => command,
        }
    }
}

/// Which members `ZMPOP` and `BZMPOP` pop: the lowest scores or the highest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MinMax {
    /// `MIN`: lowest scores first.
    Min,
    /// `MAX`: highest scores first.
    Max,
}

impl MinMax {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Min => "MIN",
            Self::Max => "MAX",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::recorder::record;
    use super::*;
    use crate::Commands;

    #[test]
    fn zadd_options_in_server_order() {
        let options = ZAddOptions::new().ch().lt().xx();
        record(|c| c.zadd_options::<()>("z", [(1.5, "a"), (2.0, "b")], &options))
            .args(&["ZADD", "z", "XX", "LT", "CH", "1.5", "a", "2.0", "b"])
            .keys(&["z"]);
        record(|c| c.zadd_options::<()>("z", (1, "a"), &ZAddOptions::new().nx().gt()))
            .args(&["ZADD", "z", "NX", "GT", "1", "a"]);
        record(|c| c.zadd::<()>("z", [(3, "c")])).args(&["ZADD", "z", "3", "c"]);
    }

    #[test]
    fn zrange_options_in_server_order() {
        let options = ZRangeOptions::new()
            .with_scores()
            .limit(5, 10)
            .rev()
            .by_score();
        record(|c| c.zrange_options::<()>("z", "(5", "-inf", &options))
            .args(&[
                "ZRANGE",
                "z",
                "(5",
                "-inf",
                "BYSCORE",
                "REV",
                "LIMIT",
                "5",
                "10",
                "WITHSCORES",
            ])
            .keys(&["z"]);
        record(|c| c.zrange_options::<()>("z", "[a", "+", &ZRangeOptions::new().by_lex()))
            .args(&["ZRANGE", "z", "[a", "+", "BYLEX"]);
        record(|c| c.zrange::<()>("z", 0, -1)).args(&["ZRANGE", "z", "0", "-1"]);
    }

    #[test]
    fn zstore_options_in_server_order() {
        let options = ZStoreOptions::new()
            .aggregate(Aggregate::Min)
            .weights([2.0, 0.5]);
        record(|c| c.zinterstore_options::<()>("d", ["a", "b"], &options))
            .args(&[
                "ZINTERSTORE",
                "d",
                "2",
                "a",
                "b",
                "WEIGHTS",
                "2.0",
                "0.5",
                "AGGREGATE",
                "MIN",
            ])
            .keys(&["d", "a", "b"]);
        let sum = ZStoreOptions::new().aggregate(Aggregate::Sum);
        record(|c| c.zunionstore_options::<()>("d", ["a"], &sum)).args(&[
            "ZUNIONSTORE",
            "d",
            "1",
            "a",
            "AGGREGATE",
            "SUM",
        ]);
        let max = ZStoreOptions::new().aggregate(Aggregate::Max);
        record(|c| c.zunionstore_options::<()>("d", ["a"], &max)).args(&[
            "ZUNIONSTORE",
            "d",
            "1",
            "a",
            "AGGREGATE",
            "MAX",
        ]);
        record(|c| c.zunionstore::<()>("d", ["a", "b"])).args(&["ZUNIONSTORE", "d", "2", "a", "b"]);
    }

    #[test]
    fn pops() {
        record(|c| c.zpopmin::<()>("z", Some(2))).args(&["ZPOPMIN", "z", "2"]);
        record(|c| c.zmpop::<()>(["a", "b"], MinMax::Max, None))
            .args(&["ZMPOP", "2", "a", "b", "MAX"])
            .keys(&["a", "b"]);
        let r = record(|c| c.bzmpop::<()>(Duration::from_millis(250), ["a"], MinMax::Min, Some(3)));
        r.args(&["BZMPOP", "0.25", "1", "a", "MIN", "COUNT", "3"])
            .keys(&["a"]);
        assert_eq!(
            r.command.block_time(),
            Some(Some(Duration::from_millis(250)))
        );
        record(|c| c.bzpopmax::<()>(["a", "b"], Duration::from_secs(1)))
            .args(&["BZPOPMAX", "a", "b", "1"])
            .keys(&["a", "b"]);
    }
}
