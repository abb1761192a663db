//! Finding (and on Debian/Ubuntu as root, installing) the Redis binaries.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The Redis programs xtask runs or copies into its docker image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `redis-server`.
    pub server: PathBuf,
    /// `redis-sentinel`.
    pub sentinel: PathBuf,
    /// `redis-cli` (only copied into the docker image, for debugging inside containers).
    pub cli: PathBuf,
}

const PROGRAMS: [&str; 3] = ["redis-server", "redis-sentinel", "redis-cli"];
const PACKAGES: [&str; 3] = ["redis-server", "redis-sentinel", "redis-tools"];

/// Looks for a program on `PATH` and in the usual system directories.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Finds the binaries, or names the missing ones.
pub fn find() -> Result<Binaries, Vec<&'static str>> {
    let found: Vec<_> = PROGRAMS.iter().map(|p| which(p)).collect();
    let missing: Vec<_> = PROGRAMS
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(p, _)| *p)
        .collect();
    match found.as_slice() {
        [Some(server), Some(sentinel), Some(cli)] => Ok(Binaries {
            server: server.clone(),
            sentinel: sentinel.clone(),
            cli: cli.clone(),
        }),
        _ => Err(missing),
    }
}

/// Finds the binaries; when some are missing and this is Debian or Ubuntu and we are root,
/// installs them with apt-get (saying so on stdout); otherwise says what to install.
pub fn ensure() -> Result<Binaries> {
    let missing = match find() {
        Ok(found) => return Ok(found),
        Err(missing) => missing,
    };
    if !(is_root() && is_debian_like()) {
        return Err(Error::Setup(format!(
            "{} not found on PATH. Install Redis 7 (Debian/Ubuntu: `apt-get install redis-server \
             redis-sentinel redis-tools`; Fedora: `dnf install redis`; macOS: `brew install \
             redis`), or run the servers in containers: `--backend docker --image redis:7`",
            missing.join(", ")
        )));
    }
    println!(
        "xtask: {} missing; installing the Debian packages {} with apt-get \
         (this machine is Debian-like and we are root)",
        missing.join(", "),
        PACKAGES.join(" ")
    );
    // Keep the package's service from starting a system redis on 6379 while it installs.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let placed_policy = !policy.exists()
        && fs::write(
            policy,
            "#!/bin/sh\n# placed by cargo xtask during apt-get install\nexit 101\n",
        )
        .is_ok();
    if placed_policy {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(policy, fs::Permissions::from_mode(0o755));
    }
    let result = apt(&["update"]).and_then(|()| {
        let mut args = vec!["install", "-y", "--no-install-recommends"];
        args.extend(PACKAGES);
        apt(&args)
    });
    if placed_policy {
        let _ = fs::remove_file(policy);
    }
    result?;
    find().map_err(|missing| {
        Error::Setup(format!(
            "apt-get installed {} but {} is still not on PATH",
            PACKAGES.join(" "),
            missing.join(", ")
        ))
    })
}

fn apt(args: &[&str]) -> Result<()> {
    println!("xtask: running apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| Error::io("run apt-get", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            command: format!("apt-get {}", args.join(" ")),
            status: status.to_string(),
            output: "see the apt-get output above".to_owned(),
        })
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn is_debian_like() -> bool {
    fs::read_to_string("/etc/os-release").is_ok_and(|text| debian_like(&text))
}

/// Whether an os-release file describes Debian, Ubuntu or a derivative.
fn debian_like(os_release: &str) -> bool {
    os_release.lines().any(|l| {
        let (key, value) = l.split_once('=').unwrap_or_default();
        let value = value.trim_matches('"');
        (key == "ID" || key == "ID_LIKE")
            && value
                .split_whitespace()
                .any(|v| v == "debian" || v == "ubuntu")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_derivatives_are_recognised() {
        assert!(debian_like(
            "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n"
        ));
        assert!(debian_like("ID=ubuntu\nID_LIKE=debian\n"));
        assert!(debian_like("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"));
        assert!(!debian_like("ID=fedora\nID_LIKE=\"rhel centos\"\n"));
        assert!(!debian_like(""));
    }
}
