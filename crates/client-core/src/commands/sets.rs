//! The set commands take no option types (`SSCAN` shares [`ScanOptions`](super::ScanOptions)).
//! This file holds their tests.

#[cfg(test)]
mod tests {
    use super::super::ScanOptions;
    use super::super::recorder::record;
    use crate::Commands;

    #[test]
    fn set_commands() {
        record(|c| c.sadd::<()>("s", ["a", "b"]))
            .args(&["SADD", "s", "a", "b"])
            .keys(&["s"]);
        record(|c| c.smismember::<()>("s", ["a", "b"])).args(&["SMISMEMBER", "s", "a", "b"]);
        record(|c| c.spop::<()>("s", None)).args(&["SPOP", "s"]);
        record(|c| c.spop::<()>("s", Some(2))).args(&["SPOP", "s", "2"]);
        record(|c| c.srandmember::<()>("s", Some(-5))).args(&["SRANDMEMBER", "s", "-5"]);
        record(|c| c.sinter::<()>(["a", "b"]))
            .args(&["SINTER", "a", "b"])
            .keys(&["a", "b"]);
        record(|c| c.sintercard::<()>(["a", "b"], Some(10)))
            .args(&["SINTERCARD", "2", "a", "b", "LIMIT", "10"])
            .keys(&["a", "b"]);
        record(|c| c.sunionstore::<()>("d", ["a", "b"]))
            .args(&["SUNIONSTORE", "d", "a", "b"])
            .keys(&["d", "a", "b"]);
        record(|c| c.smove::<()>("a", "b", "m"))
            .args(&["SMOVE", "a", "b", "m"])
            .keys(&["a", "b"]);
        record(|c| c.sscan_options::<()>("s", 3, &ScanOptions::new().count(2)))
            .args(&["SSCAN", "s", "3", "COUNT", "2"])
            .keys(&["s"]);
    }
}
