//! The native backend: `redis-server` / `redis-sentinel` processes on this machine.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::error::{Error, Result};
use crate::state::Node;

/// Starts a node's process. It runs in its own process group, so a Ctrl-C in the terminal
/// reaches xtask (which tears down in order) rather than the servers directly.
pub(crate) fn spawn(binary: &Path, node: &Node) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let stderr_path = node.dir.join("stderr.log");
    let stderr = File::create(&stderr_path).map_err(|e| Error::at("create", &stderr_path, e))?;
    Command::new(binary)
        .arg(&node.config)
        .current_dir(&node.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Error::io(
                format!("start {} for {}", binary.display(), node.label()),
                e,
            )
        })
}

/// Sends `signal` to `pid` if that process is still one of ours (its command line names a
/// file under `dir`), so a recycled pid is never hit. Returns whether it was sent.
pub(crate) fn signal(pid: u32, signal: Signal, dir: &Path) -> Result<bool> {
    send(pid, signal, dir, false)
}

/// [`signal`], and with `group` to the whole process group `pid` leads, if it leads one.
fn send(pid: u32, signal: Signal, dir: &Path, group: bool) -> Result<bool> {
    if !belongs_to(pid, dir) {
        return Ok(false);
    }
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Ok(false);
    };
    let leads_group = group && rustix::process::getpgid(Some(p)).is_ok_and(|g| g == p);
    let sent = if leads_group {
        rustix::process::kill_process_group(p, signal)
    } else {
        kill_process(p, signal)
    };
    match sent {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(Error::io(format!("send {signal:?} to pid {pid}"), e.into())),
    }
}

/// Whether `pid` is a live (not zombie) process whose command line or working directory is
/// under `dir`.
pub(crate) fn belongs_to(pid: u32, dir: &Path) -> bool {
    let proc = Path::new("/proc").join(pid.to_string());
    if is_zombie_or_gone(pid) {
        return false;
    }
    let dir = dir.to_string_lossy();
    let cmdline = fs::read(proc.join("cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    let cwd = fs::read_link(proc.join("cwd")).unwrap_or_default();
    cmdline.contains(dir.as_ref()) || cwd.to_string_lossy().starts_with(dir.as_ref())
}

/// Whether the process has exited: gone, or a zombie none of whose threads still runs.
///
/// A zombie counts, since it holds no sockets any more, but only once all its threads are
/// dead: a killed server's main thread can be a zombie while another of its threads is still
/// exiting, and the threads share their open files, so the listening socket closes with the
/// last of them.
pub(crate) fn is_zombie_or_gone(pid: u32) -> bool {
    has_exited(Path::new("/proc"), pid)
}

/// [`is_zombie_or_gone`] against a `/proc` at `proc`.
fn has_exited(proc: &Path, pid: u32) -> bool {
    let Ok(threads) = fs::read_dir(proc.join(pid.to_string()).join("task")) else {
        return true;
    };
    threads.filter_map(|t| t.ok()).all(|t| {
        match fs::read_to_string(t.path().join("stat")) {
            // The state follows the parenthesised command name: "123 (redis-server) S ...".
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_none_or(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
            Err(_) => true,
        }
    })
}

/// Every live process whose command line or working directory is under `dir`.
pub(crate) fn processes_under(dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && belongs_to(*pid, dir))
        .collect()
}

/// SIGKILLs every process of ours under `dir` and waits until they are gone.
///
/// A server forks for a replica's full sync or a save, and the child (in the server's process
/// group, with the node's folder as working directory) starts with the server's listening
/// sockets. One forked after the sweep that found its parent would outlive a kill of the pids
/// that sweep found: so the signal goes to the whole process group of each of the nodes in
/// `pids` (every node leads its own, see [`spawn`]), and the sweep repeats until it finds
/// nobody. A process the sweep found is killed alone: its group may not be ours.
pub(crate) fn kill_all_under(dir: &Path, pids: &[u32]) -> Result<()> {
    let mut targets: Vec<u32> = pids.to_vec();
    for _ in 0..KILL_SWEEPS {
        targets.extend(processes_under(dir));
        targets.sort_unstable();
        targets.dedup();
        targets.retain(|pid| !is_zombie_or_gone(*pid));
        if targets.is_empty() {
            return Ok(());
        }
        for pid in &targets {
            send(*pid, Signal::KILL, dir, pids.contains(pid))?;
        }
        wait_gone(&targets, Duration::from_secs(10))?;
        targets.clear();
    }
    Err(Error::Setup(format!(
        "processes kept appearing under {} through {KILL_SWEEPS} rounds of SIGKILL; \
         check `ls -l /proc/*/cwd | grep {}`",
        dir.display(),
        dir.display()
    )))
}

/// How many times [`kill_all_under`] sweeps before it gives up.
const KILL_SWEEPS: usize = 10;

/// Waits until every pid has exited.
pub(crate) fn wait_gone(pids: &[u32], timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while let Some(pid) = pids.iter().find(|p| !is_zombie_or_gone(**p)) {
        if start.elapsed() > timeout {
            return Err(Error::Setup(format!(
                "process {pid} is still alive {}s after SIGKILL; is it stuck in the kernel? \
                 Check `ps -o pid,stat,cmd -p {pid}`",
                timeout.as_secs()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A killed server whose main thread is a zombie while another thread is still exiting
    /// has not exited: its threads share the listening socket until the last one is gone.
    #[test]
    fn a_zombie_has_exited_only_when_every_thread_has() {
        let proc = std::env::temp_dir().join(format!("redwire-proc-test-{}", std::process::id()));
        let thread = |tid: u32, state: &str| {
            let dir = proc.join("123/task").join(tid.to_string());
            fs::create_dir_all(&dir).unwrap();
            let name = if tid == 123 {
                "redis-server"
            } else {
                "bio_close_file"
            };
            fs::write(
                dir.join("stat"),
                format!("{tid} ({name}) {state} 1 123 123 0 -1"),
            )
            .unwrap();
        };
        thread(123, "S");
        thread(124, "S");
        assert!(!has_exited(&proc, 123), "running");
        thread(123, "Z");
        assert!(
            !has_exited(&proc, 123),
            "the main thread is a zombie, another runs"
        );
        thread(124, "D");
        assert!(!has_exited(&proc, 123), "the other is still exiting");
        fs::remove_dir_all(proc.join("123/task/124")).unwrap();
        assert!(has_exited(&proc, 123), "only the zombie is left");
        fs::remove_dir_all(proc.join("123")).unwrap();
        assert!(has_exited(&proc, 123), "reaped");
        let _ = fs::remove_dir_all(&proc);
    }

    /// A process that forks all the time, as a server under a replica's full sync may at the
    /// moment it is torn down: every child it made, before or during the kill, is gone after.
    #[test]
    fn kill_all_under_leaves_no_child_of_a_forking_process() {
        use std::os::unix::process::CommandExt;
        let dir = std::env::temp_dir().join(format!("redwire-kill-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let mut parent = Command::new("sh")
            .args(["-c", "while :; do sleep 30 & done"])
            .current_dir(&dir)
            .process_group(0)
            .spawn()
            .unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(processes_under(&dir).len() > 1, "the loop forked");
        kill_all_under(&dir, &[parent.id()]).unwrap();
        let _ = parent.wait();
        let left = processes_under(&dir);
        let _ = fs::remove_dir_all(&dir);
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
