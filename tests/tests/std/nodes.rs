//! client-core's `Client`, driven by the blocking [`Driver`], talking to one node of the cluster
//! and sentinel topologies (cluster routing and sentinel discovery are not the core's job yet).

use client_core::{Commands, Error, Frame, Reply, Request, cmd, frame_into};
use redwire_tests::{TestEnv, TopologyKind};

#[test]
fn cluster_node_serves_the_keys_of_its_own_slots_through_the_core() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Cluster {
        return;
    }
    // The seed may have become a replica after a failover test: talk to a primary.
    let ranges = super::cluster_slots(&mut env.connect_hello());
    let primary = ranges[0].primary.clone();
    let owns = |key: &str| {
        let slot = resp_core::slot(key.as_bytes());
        ranges
            .iter()
            .any(|r| r.primary == primary && (r.start..=r.end).contains(&slot))
    };
    let mut keys = (0..).map(|i| format!("redwire:core:cluster:{i}"));
    let own = keys.by_ref().find(|k| owns(k)).unwrap();
    let foreign = keys.find(|k| !owns(k)).unwrap();

    let d = env.driver_with(env.config_for(&primary));
    let hello: std::collections::HashMap<String, Frame> = d.call(cmd("HELLO")).unwrap();
    assert_eq!(
        hello.get("mode").cloned().map(frame_into::<String>),
        Some(Ok("cluster".to_owned()))
    );
    let _: () = d.set(&own, "here").unwrap();
    assert_eq!(d.get::<String>(&own).unwrap(), "here");

    // A pipeline of keys in one slot (one hash tag) of this node.
    let tag = format!("{{{own}}}");
    let id = d.submit(Request::pipeline(vec![
        cmd("SET").key(format!("{tag}:a")).arg(1),
        cmd("INCR").key(format!("{tag}:a")),
        cmd("DEL").key(format!("{tag}:a")),
    ]));
    let Reply::Pipeline(frames) = d.wait(id).unwrap() else {
        panic!("not a pipeline reply")
    };
    assert_eq!(frame_into::<i64>(frames[1].clone()).unwrap(), 2);

    // A key of another node is redirected; without cluster routing that is the server's error.
    match d.get::<Option<String>>(&foreign) {
        Err(Error::Server(e)) => assert_eq!(e.code(), "MOVED", "{e}"),
        other => panic!("GET of a foreign key answered {other:?}"),
    }
    assert_eq!(d.del::<i64>(&own).unwrap(), 1);
    d.assert_no_anomalies();
}

#[test]
fn sentinel_primary_and_sentinels_speak_to_the_core() {
    let env = TestEnv::load();
    if env.topology != TopologyKind::Sentinel {
        return;
    }
    let (host, port) = env.sentinel_primary();
    let key = "redwire:core:sentinel";
    let d = env.driver();
    let role: Vec<Frame> = d.call(cmd("ROLE")).unwrap();
    assert_eq!(frame_into::<String>(role[0].clone()).unwrap(), "master");
    let _: () = d.set(key, "primary").unwrap();
    assert_eq!(d.get::<String>(key).unwrap(), "primary");
    assert_eq!(d.del::<i64>(key).unwrap(), 1);
    d.assert_no_anomalies();

    // A sentinel takes the same handshake (it refuses CLIENT SETINFO on 7.0, which is fine).
    let service = env
        .sentinel_service
        .clone()
        .unwrap_or_else(|| redwire_tests::SENTINEL_SERVICE.to_owned());
    for sentinel in &env.sentinels {
        let s = env.driver_with(env.config_for(sentinel));
        let named: (String, String) = s
            .call(
                cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(service.as_str()),
            )
            .unwrap();
        assert_eq!(named, (host.clone(), port.to_string()), "{sentinel}");
        s.assert_no_anomalies();
    }
}
