//! Putting a topology back after a fault test, pass or fail.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redwire_tests::TestEnv;
use xtask::Faults;

use crate::rt;

/// Puts the topology back when dropped, pass or fail: resumes paused nodes, restarts killed
/// ones, moves migrated cluster slots back to their first owner, then waits until the
/// topology is healthy (for a sentinel group: the sentinels agree on a primary whose replica
/// is in sync), as the matrix's health check between cells wants it. The fault calls go
/// through it so that it knows what to undo.
pub(crate) struct Restore {
    state: Mutex<RestoreState>,
}

struct RestoreState {
    faults: Faults,
    paused: Vec<String>,
    killed: Vec<String>,
    /// `(slot, owner before the test)`, in the order they were first moved.
    moved: Vec<(u16, String)>,
}

impl Restore {
    pub(crate) fn new(env: &TestEnv) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(RestoreState {
                faults: env.faults(),
                paused: Vec::new(),
                killed: Vec::new(),
                moved: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RestoreState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn pause(&self, node: &str) {
        let mut s = self.lock();
        s.paused.push(node.to_owned());
        s.faults
            .pause(node)
            .unwrap_or_else(|e| panic!("pause {node}: {e}"));
    }

    pub(crate) fn resume(&self, node: &str) {
        let mut s = self.lock();
        s.faults
            .resume(node)
            .unwrap_or_else(|e| panic!("resume {node}: {e}"));
        s.paused.retain(|n| n != node);
    }

    pub(crate) fn kill(&self, node: &str) {
        let mut s = self.lock();
        s.killed.push(node.to_owned());
        s.faults
            .kill(node)
            .unwrap_or_else(|e| panic!("kill {node}: {e}"));
    }

    /// Cluster: waits until `node`'s replicas may be elected (Redis's rate limit), so that a
    /// kill right after starts a failover at once.
    pub(crate) fn wait_until_electable(&self, node: &str) {
        self.lock()
            .faults
            .wait_until_electable(node)
            .unwrap_or_else(|e| panic!("wait until {node} can fail over: {e}"));
    }

    pub(crate) fn restart(&self, node: &str) {
        let mut s = self.lock();
        s.faults
            .restart(node)
            .unwrap_or_else(|e| panic!("restart {node}: {e}"));
        s.killed.retain(|n| n != node);
    }

    /// Moves cluster slot `slot` from `from` (its owner now) to `to`.
    pub(crate) fn migrate(&self, slot: u16, from: &str, to: &str) {
        let mut s = self.lock();
        if !s.moved.iter().any(|(m, _)| *m == slot) {
            s.moved.push((slot, from.to_owned()));
        }
        s.faults
            .migrate_slot(slot, to)
            .unwrap_or_else(|e| panic!("migrate slot {slot} from {from} to {to}: {e}"));
    }

    /// `SENTINEL FAILOVER`: the old and the new primary. Nothing to undo: the topology stays
    /// healthy, with the roles swapped.
    pub(crate) fn sentinel_failover(&self) -> (String, String) {
        self.lock()
            .faults
            .sentinel_failover()
            .unwrap_or_else(|e| panic!("SENTINEL FAILOVER: {e}"))
    }

    pub(crate) fn wait_healthy(&self) {
        self.lock()
            .faults
            .wait_healthy()
            .unwrap_or_else(|e| panic!("the topology did not become healthy: {e}"));
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let s = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut problems = Vec::new();
        for node in std::mem::take(&mut s.paused) {
            if let Err(e) = s.faults.resume(&node) {
                problems.push(format!("resume {node}: {e}"));
            }
        }
        for node in std::mem::take(&mut s.killed) {
            if let Err(e) = s.faults.restart(&node) {
                problems.push(format!("restart {node}: {e}"));
            }
        }
        if !s.moved.is_empty() {
            // A killed node must be back before slots can move.
            if let Err(e) = s.faults.wait_healthy() {
                problems.push(format!("wait until healthy: {e}"));
            }
        }
        // Back to the first owner; a no-op for slots that are there already.
        for (slot, owner) in std::mem::take(&mut s.moved).into_iter().rev() {
            if let Err(e) = s.faults.migrate_slot(slot, &owner) {
                problems.push(format!("move slot {slot} back to {owner}: {e}"));
            }
        }
        if let Err(e) = s.faults.wait_healthy() {
            problems.push(format!("wait until healthy: {e}"));
        }
        if !problems.is_empty() {
            let message = format!("the topology was not restored: {}", problems.join("; "));
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

/// Runs a blocking fault call off the runtime's threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    // The join error of any runtime names the panic; the hook has printed its message already.
    rt::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| panic!("a blocking fault call failed: {e}"))
}
