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
    if !belongs_to(pid, dir) {
        return Ok(false);
    }
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Ok(false);
    };
    match kill_process(p, signal) {
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

/// Whether the process has exited (a zombie counts: it holds no sockets any more).
pub(crate) fn is_zombie_or_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "123 (redis-server) S ...".
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        Err(_) => true,
    }
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
pub(crate) fn kill_all_under(dir: &Path, pids: &[u32]) -> Result<()> {
    let mut targets: Vec<u32> = pids.to_vec();
    targets.extend(processes_under(dir));
    targets.sort_unstable();
    targets.dedup();
    for pid in &targets {
        signal(*pid, Signal::KILL, dir)?;
    }
    wait_gone(&targets, Duration::from_secs(10))
}

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
