//! The hash commands take no option types: field-value pairs are any [`ToArgs`] of pairs, and
//! `HSCAN` shares [`ScanOptions`](super::ScanOptions). This file holds their tests.
//!
//! [`ToArgs`]: crate::ToArgs

#[cfg(test)]
mod tests {
    use super::super::ScanOptions;
    use super::super::recorder::record;
    use crate::Commands;

    #[test]
    fn hash_commands() {
        record(|c| c.hset::<()>("h", [("a", "1"), ("b", "2")]))
            .args(&["HSET", "h", "a", "1", "b", "2"])
            .keys(&["h"]);
        record(|c| c.hset::<()>("h", ("a", 1))).args(&["HSET", "h", "a", "1"]);
        record(|c| c.hget::<()>("h", "a"))
            .args(&["HGET", "h", "a"])
            .keys(&["h"]);
        record(|c| c.hmget::<()>("h", ["a", "b"]))
            .args(&["HMGET", "h", "a", "b"])
            .keys(&["h"]);
        record(|c| c.hgetall::<()>("h"))
            .args(&["HGETALL", "h"])
            .keys(&["h"]);
        record(|c| c.hdel::<()>("h", vec!["a"])).args(&["HDEL", "h", "a"]);
        record(|c| c.hincrby::<()>("h", "n", -1)).args(&["HINCRBY", "h", "n", "-1"]);
        record(|c| c.hincrbyfloat::<()>("h", "n", 0.25)).args(&["HINCRBYFLOAT", "h", "n", "0.25"]);
        record(|c| c.hsetnx::<()>("h", "a", "x")).args(&["HSETNX", "h", "a", "x"]);
        record(|c| c.hrandfield::<()>("h", None)).args(&["HRANDFIELD", "h"]);
        record(|c| c.hrandfield::<()>("h", Some(-3))).args(&["HRANDFIELD", "h", "-3"]);
        record(|c| c.hrandfield_with_values::<()>("h", 2)).args(&[
            "HRANDFIELD",
            "h",
            "2",
            "WITHVALUES",
        ]);
        record(|c| c.hscan_options::<()>("h", 7, &ScanOptions::new().pattern("f*").count(9)))
            .args(&["HSCAN", "h", "7", "MATCH", "f*", "COUNT", "9"])
            .keys(&["h"]);
        record(|c| c.hscan::<()>("h", 0)).args(&["HSCAN", "h", "0"]);
    }
}
