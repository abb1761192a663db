//! Bringing topologies up and down leaves nothing behind: no process, no port, no folder.
//!
//! These start real servers (natively, on their own ports and folders, so they do not disturb
//! a topology brought up with `cargo xtask up`). Without redis-server installed they are
//! skipped, unless `REDWIRE_REQUIRE_SERVERS=1` (as `cargo xtask test` sets) makes that fatal.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use xtask::{BackendKind, Conn, Options, Topology, TopologyKind};

fn servers_available(test: &str) -> bool {
    if xtask::find_binaries().is_ok() {
        return true;
    }
    if std::env::var_os("REDWIRE_REQUIRE_SERVERS").is_some() {
        panic!("{test}: redis-server is not installed; `cargo xtask test` installs it");
    }
    eprintln!("{test}: skipped, redis-server is not installed (run `cargo xtask test`)");
    false
}

fn options(name: &str, base_port: u16) -> Options {
    let mut options = Options::new(BackendKind::Native);
    options.root = xtask::default_root()
        .with_file_name("redwire-selftest")
        .join(format!("{name}-{}", std::process::id()));
    options.base_port = base_port;
    options
}

/// Live processes whose command line mentions `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| {
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(&needle)
                .then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

fn assert_nothing_left(dir: &Path, ports: &[u16]) {
    assert!(!dir.exists(), "{} still exists", dir.display());
    let procs = processes_under(dir);
    assert!(procs.is_empty(), "processes left behind: {procs:?}");
    for port in ports {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
            "port {port} still listens"
        );
    }
}

fn ping_all(topology: &Topology) {
    let state = topology.state();
    for node in &state.nodes {
        let mut conn = Conn::open(&state.endpoint(node)).unwrap();
        assert_eq!(conn.text(&["PING"]).unwrap(), "PONG", "{}", node.label());
    }
}

fn ports_of(topology: &Topology) -> Vec<u16> {
    let mut ports: Vec<u16> = topology.state().nodes.iter().map(|n| n.port).collect();
    // Cluster bus ports too.
    if topology.state().topology == TopologyKind::Cluster {
        ports.extend(ports.clone().iter().map(|p| p + 10000));
    }
    ports
}

#[test]
fn standalone_up_down_twice_leaves_nothing_behind() {
    if !servers_available("standalone_up_down") {
        return;
    }
    let options = options("standalone", 7500);
    let dir: PathBuf = options.dir_of(TopologyKind::Standalone);

    // 1: the library handle's down().
    let topology = Topology::up(TopologyKind::Standalone, &options).unwrap();
    ping_all(&topology);
    let ports = ports_of(&topology);
    assert!(topology.env_file().exists());
    topology.down().unwrap();
    assert_nothing_left(&dir, &ports);

    // 2: what `cargo xtask up` + `cargo xtask down` do: detach, then tear down from the folder.
    let topology = Topology::up(TopologyKind::Standalone, &options).unwrap();
    ping_all(&topology);
    topology.detach();
    assert!(xtask::down_dir(&dir).unwrap());
    assert_nothing_left(&dir, &ports);
    assert!(
        !xtask::down_dir(&dir).unwrap(),
        "a second down finds nothing"
    );

    // 3: dropping the handle tears down too, even when the state file is gone (stray sweep).
    let topology = Topology::up(TopologyKind::Standalone, &options).unwrap();
    fs::remove_file(topology.state().file()).unwrap();
    drop(topology);
    assert_nothing_left(&dir, &ports);
    let _ = fs::remove_dir_all(&options.root);
}

#[test]
fn cluster_up_down_twice_leaves_nothing_behind() {
    if !servers_available("cluster_up_down") {
        return;
    }
    let options = options("cluster", 7600);
    let dir = options.dir_of(TopologyKind::Cluster);
    for _ in 0..2 {
        let topology = Topology::up(TopologyKind::Cluster, &options).unwrap();
        ping_all(&topology);
        let ports = ports_of(&topology);
        topology.detach();
        assert!(xtask::down_dir(&dir).unwrap());
        assert_nothing_left(&dir, &ports);
    }
    let _ = fs::remove_dir_all(&options.root);
}
