//! Project automation for redwire: real Redis topologies on demand, fault helpers for
//! the integration suite, and the test matrix behind `cargo xtask test`.
//!
//! The command-line tool (`src/main.rs`) is a thin layer over this library; the integration
//! suite in `tests/` uses the library directly to inject faults.
//!
//! # Topologies
//!
//! [`Topology::up`] starts one of [`TopologyKind::ALL`] on a [`BackendKind`] and returns once it
//! is really ready; dropping the handle tears it down. Each topology lives in its own folder
//! under `target/redwire/` with a state file (for `down` and [`Faults`]) and an env file (for
//! the tests).
//!
//! ```no_run
//! use xtask::{BackendKind, Options, Topology, TopologyKind};
//!
//! # fn main() -> xtask::Result<()> {
//! let topology = Topology::up(TopologyKind::Cluster, &Options::new(BackendKind::Native))?;
//! println!("env file: {}", topology.env_file().display());
//! topology.down()?;
//! # Ok(()) }
//! ```
//!
//! # Faults
//!
//! [`Faults`] kills, restarts, pauses and resumes nodes, fails a cluster primary over,
//! migrates a slot, and triggers a sentinel failover, waiting each time until the topology
//! agrees on the result.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod certs;
mod cluster;
mod config;
mod docker;
mod error;
mod faults;
pub mod gen_commands;
mod install;
mod layout;
pub mod matrix;
mod native;
mod resp;
mod sentinel;
mod state;
mod topology;
mod wait;

pub use cluster::{ClusterNode, SLOTS, SlotView, parse_nodes};
pub use docker::{LOCAL_IMAGE, available as docker_available};
pub use error::{Error, Result};
pub use faults::Faults;
pub use install::{Binaries, ensure as ensure_binaries, find as find_binaries};
pub use layout::{
    BackendKind, DEFAULT_BASE_PORT, DOCKER_NETWORK, DOCKER_SUBNET_PREFIX, Role, SENTINEL_SERVICE,
    TopologyKind, default_root, workspace_root,
};
pub use resp::{
    Address, Conn, Endpoint, REPLY_TIMEOUT, Reply, TlsFiles, client_config, info_field,
};
pub use state::{KeyValues, Node, State};
pub use topology::{Options, Topology, down_all, down_dir, install_interrupt_handler};
