//! Waiting until something is really true, with progress on stderr and a precise timeout.

use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::resp::Conn;
use crate::state::{Node, State};

/// Why a check is not satisfied yet: which node, what is missing, and a progress summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// `name (addr)` of the node that is not there yet.
    pub(crate) node: String,
    /// What is missing, e.g. `cluster_state:fail`.
    pub(crate) missing: String,
    /// The node's log (for the timeout message).
    pub(crate) log: String,
    /// Progress shown while waiting, e.g. `3/6 nodes ok`.
    pub(crate) progress: String,
}

impl Pending {
    pub(crate) fn at(node: &Node, missing: impl Into<String>) -> Self {
        Self {
            node: node.label(),
            missing: missing.into(),
            log: node.log_hint(),
            progress: String::new(),
        }
    }

    pub(crate) fn progress(mut self, progress: impl Into<String>) -> Self {
        self.progress = progress.into();
        self
    }
}

/// The outcome of one probe: ready, not yet, or a failure that waiting cannot fix.
pub(crate) type Probe<T> = Result<Result<T, Pending>>;

/// Polls `probe` until it is ready or `timeout` passes; shows progress on stderr every
/// second as `[label] waiting for what (progress, 4.1s)`.
pub(crate) fn until<T>(
    label: &str,
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Probe<T>,
) -> Result<T> {
    let start = Instant::now();
    let mut next_report = Duration::from_secs(1);
    loop {
        crate::topology::check_interrupted()?;
        let pending = match probe()? {
            Ok(value) => return Ok(value),
            Err(pending) => pending,
        };
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(Error::NotReady {
                node: pending.node,
                missing: pending.missing,
                secs: timeout.as_secs_f64(),
                log: pending.log,
            });
        }
        if elapsed >= next_report {
            let detail = if pending.progress.is_empty() {
                format!("{}: {}", pending.node, pending.missing)
            } else {
                format!(
                    "{}; {}: {}",
                    pending.progress, pending.node, pending.missing
                )
            };
            eprintln!(
                "[{label}] waiting for {what} ({detail}, {:.1}s)",
                elapsed.as_secs_f64()
            );
            next_report += Duration::from_secs(1);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Opens a connection to `node`, or says why not (as a [`Pending`]).
pub(crate) fn connect(state: &State, node: &Node) -> Result<Conn, Pending> {
    Conn::open(&state.endpoint(node))
        .map_err(|e| Pending::at(node, format!("not accepting connections ({e})")))
}

/// Sends a command and turns any failure into a [`Pending`] naming the node.
pub(crate) fn ask(
    conn: &mut Conn,
    node: &Node,
    args: &[&str],
) -> Result<crate::resp::Reply, Pending> {
    conn.ok(args).map_err(|e| Pending::at(node, e.to_string()))
}

/// Like [`ask`], for text replies (`INFO`, `CLUSTER INFO`, `CLUSTER NODES`).
pub(crate) fn ask_text(conn: &mut Conn, node: &Node, args: &[&str]) -> Result<String, Pending> {
    conn.text(args)
        .map_err(|e| Pending::at(node, e.to_string()))
}

/// Checks that `node` answers PING with PONG.
pub(crate) fn ping(state: &State, node: &Node) -> Result<(), Pending> {
    let mut conn = connect(state, node)?;
    match ask(&mut conn, node, &["PING"])?.text().as_deref() {
        Some("PONG") => Ok(()),
        other => Err(Pending::at(node, format!("PING answered {other:?}"))),
    }
}
