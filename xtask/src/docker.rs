//! The docker backend: containers on a network xtask creates, from an image built locally.
//!
//! The image `redwire/redis:local` is built `FROM scratch` out of this machine's own
//! `redis-server`, `redis-sentinel` and `redis-cli` and the shared libraries `ldd` lists, so
//! no registry is needed. Each topology directory is bind-mounted at the same path inside its
//! containers: configs, logs, certificates and Unix sockets have one path on both sides.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};
use crate::install::Binaries;
use crate::layout::{DOCKER_NETWORK, DOCKER_SUBNET_PREFIX};
use crate::state::Node;

/// The tag of the image built from local binaries.
pub const LOCAL_IMAGE: &str = "redwire/redis:local";
/// The label every xtask container carries; its value is the topology directory.
pub(crate) const LABEL: &str = "redwire.dir";

/// Runs `docker args...` and returns its stdout, or an error with its stderr.
pub(crate) fn docker(args: &[&str]) -> Result<String> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io("run `docker` (is it installed and on PATH?)", e))?;
    check(&format!("docker {}", args.join(" ")), &output)?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn check(command: &str, output: &Output) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    let tail: Vec<&str> = text.trim().lines().rev().take(15).collect();
    Err(Error::Command {
        command: command.to_owned(),
        status: output.status.to_string(),
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

/// Whether a docker engine answers (`docker info` succeeds).
pub fn available() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Creates the `redwire-net` bridge network (subnet 172.30.77.0/24) unless it exists.
pub(crate) fn ensure_network() -> Result<()> {
    if docker(&["network", "inspect", DOCKER_NETWORK]).is_ok() {
        return Ok(());
    }
    let subnet = format!("--subnet={DOCKER_SUBNET_PREFIX}.0/24");
    let gateway = format!("--gateway={DOCKER_SUBNET_PREFIX}.1");
    docker(&[
        "network",
        "create",
        "--driver",
        "bridge",
        &subnet,
        &gateway,
        "--label",
        "redwire=1",
        DOCKER_NETWORK,
    ])
    .map(drop)
    .map_err(|e| {
        Error::Setup(format!(
            "cannot create the docker network {DOCKER_NETWORK} ({DOCKER_SUBNET_PREFIX}.0/24): {e}. \
             If another network uses that subnet, remove it or run with --backend native"
        ))
    })
}

/// Removes the network when no container uses it any more.
pub(crate) fn remove_network_if_unused() {
    let in_use = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("network={DOCKER_NETWORK}"),
    ])
    .map(|out| !out.is_empty())
    .unwrap_or(true);
    if !in_use {
        let _ = docker(&["network", "rm", DOCKER_NETWORK]);
    }
}

/// Makes sure `image` exists: the local image is built when missing; any other image is used
/// as it is (docker pulls it if a registry can be reached).
pub(crate) fn ensure_image(
    image: &str,
    binaries: Option<&Binaries>,
    context_root: &Path,
) -> Result<()> {
    if image != LOCAL_IMAGE || docker(&["image", "inspect", image]).is_ok() {
        return Ok(());
    }
    let binaries = binaries.ok_or_else(|| {
        Error::Setup(format!(
            "building {LOCAL_IMAGE} needs redis-server on this machine"
        ))
    })?;
    build_local_image(binaries, &context_root.join("docker-image"))
}

fn build_local_image(binaries: &Binaries, context: &Path) -> Result<()> {
    eprintln!("[docker] building {LOCAL_IMAGE} from this machine's redis binaries (FROM scratch)");
    let _ = fs::remove_dir_all(context);
    let rootfs = context.join("rootfs");
    let mut files: Vec<PathBuf> = Vec::new();
    for binary in [&binaries.server, &binaries.sentinel, &binaries.cli] {
        files.push(binary.clone());
        files.extend(shared_libraries(binary)?);
    }
    files.sort();
    files.dedup();
    for file in &files {
        let target = rootfs.join(file.strip_prefix("/").unwrap_or(file));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::at("create", parent, e))?;
        }
        // fs::copy follows symlinks: the image gets the real file under the path ldd named.
        fs::copy(file, &target).map_err(|e| Error::at("copy into the image context", file, e))?;
    }
    // The binaries live under /usr/bin inside the image whatever their path on the host.
    let bin = rootfs.join("usr/bin");
    fs::create_dir_all(&bin).map_err(|e| Error::at("create", &bin, e))?;
    for (binary, name) in [
        (&binaries.server, "redis-server"),
        (&binaries.sentinel, "redis-sentinel"),
        (&binaries.cli, "redis-cli"),
    ] {
        let target = bin.join(name);
        if !target.exists() {
            fs::copy(binary, &target).map_err(|e| Error::at("copy", binary, e))?;
        }
    }
    for dir in ["tmp", "data"] {
        let path = rootfs.join(dir);
        fs::create_dir_all(&path).map_err(|e| Error::at("create", &path, e))?;
    }
    let dockerfile = "# generated by cargo xtask: the host's redis binaries and their libraries\n\
                      FROM scratch\n\
                      COPY rootfs/ /\n\
                      ENV PATH=/usr/local/bin:/usr/bin:/bin\n\
                      WORKDIR /data\n\
                      ENTRYPOINT [\"/usr/bin/redis-server\"]\n";
    let path = context.join("Dockerfile");
    fs::write(&path, dockerfile).map_err(|e| Error::at("write", &path, e))?;
    let context_str = context.to_string_lossy();
    // The classic builder needs no buildx plugin and no registry for FROM scratch.
    let output = Command::new("docker")
        .args(["build", "--quiet", "--tag", LOCAL_IMAGE, &context_str])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io("run `docker build`", e))?;
    check(
        &format!("docker build --tag {LOCAL_IMAGE} {context_str}"),
        &output,
    )
}

/// The shared libraries `ldd` lists for `binary`, including the dynamic loader.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| Error::io("run ldd (install libc-bin)", e))?;
    check(&format!("ldd {}", binary.display()), &output)?;
    let text = String::from_utf8_lossy(&output.stdout);
    if let Some(line) = text.lines().find(|l| l.contains("not found")) {
        return Err(Error::Setup(format!(
            "{} needs a library this machine lacks ({}); reinstall redis-server",
            binary.display(),
            line.trim()
        )));
    }
    Ok(parse_ldd(&text))
}

fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            // "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x...)"; "linux-vdso.so.1 (0x...)" has no file.
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.trim(),
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Starts `node` in a container: fixed IP on the network, the topology dir mounted at the same
/// path, `redis-server <config>` (with `--sentinel` for sentinels).
pub(crate) fn run(node: &Node, image: &str, topology_dir: &Path) -> Result<String> {
    let name = node.container.clone().unwrap_or_else(|| node.name.clone());
    let _ = docker(&["rm", "-f", &name]);
    let mount = format!("{0}:{0}", topology_dir.display());
    let label = format!("{LABEL}={}", topology_dir.display());
    let config = node.config.to_string_lossy();
    let mut args = vec![
        "run",
        "--detach",
        "--name",
        &name,
        "--label",
        &label,
        "--network",
        DOCKER_NETWORK,
        "--ip",
        &node.host,
        "--volume",
        &mount,
        "--entrypoint",
        "redis-server",
        image,
        &config,
    ];
    if node.is_sentinel() {
        args.push("--sentinel");
    }
    docker(&args)?;
    Ok(name)
}

/// Removes every container of the topology in `dir` (paused ones too).
pub(crate) fn remove_all(dir: &Path, names: &[String]) -> Result<()> {
    let filter = format!("label={LABEL}={}", dir.display());
    let listed = docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])?;
    let mut targets: Vec<String> = listed.lines().map(str::to_owned).collect();
    targets.extend(names.iter().cloned());
    targets.sort();
    targets.dedup();
    for name in &targets {
        // A paused container is unpaused first: some engines refuse to kill it otherwise.
        let _ = docker(&["unpause", name]);
        match docker(&["rm", "--force", "--volumes", name]) {
            Ok(_) => {}
            // Already gone (or going): that is what we want.
            Err(Error::Command { output, .. })
                if output.contains("No such container")
                    || output.contains("already in progress") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed_into_files() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n\
                    \tlibmissing.so => not found\n";
        assert_eq!(
            parse_ldd(text),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libssl.so.3"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }
}
