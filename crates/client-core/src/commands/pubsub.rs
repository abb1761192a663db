//! Publishing and pub/sub introspection take no option types. Subscribing is not a typed
//! command: subscriptions are connection state that the core owns. This file holds the tests.

#[cfg(test)]
mod tests {
    use super::super::recorder::record;
    use crate::Commands;

    #[test]
    fn publishing() {
        record(|c| c.publish::<()>("news", "hello"))
            .args(&["PUBLISH", "news", "hello"])
            .keys(&[]);
        // A shard channel routes like a key: to the node that owns its slot.
        record(|c| c.spublish::<()>("orders", "o1"))
            .args(&["SPUBLISH", "orders", "o1"])
            .keys(&["orders"]);
        record(|c| c.pubsub_channels::<()>(None)).args(&["PUBSUB", "CHANNELS"]);
        record(|c| c.pubsub_channels::<()>(Some("news.*"))).args(&["PUBSUB", "CHANNELS", "news.*"]);
        record(|c| c.pubsub_numsub::<()>(["a", "b"])).args(&["PUBSUB", "NUMSUB", "a", "b"]);
        record(|c| c.pubsub_shardnumsub::<()>(["a"])).args(&["PUBSUB", "SHARDNUMSUB", "a"]);
    }
}
