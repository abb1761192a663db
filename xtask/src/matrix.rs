//! The integration matrix: topology x runtime x protocol, each cell one `cargo test` run.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::layout::TopologyKind;
use crate::topology::{self, Options, Topology};

/// One runtime of the integration suite: its name and the cargo arguments that run its test
/// target. The suite runs serially (`--test-threads=1`): fault tests must not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runtime {
    /// The name shown in the matrix (`std`, `tokio`, ...).
    pub name: &'static str,
    /// Arguments after `cargo`, e.g. `["test", "-p", "redwire-tests", "--test", "std"]`.
    pub cargo_args: &'static [&'static str],
}

/// THE list of runtimes. To add one: add its test target to `tests/Cargo.toml` (with any
/// feature it needs) and a line here.
pub const RUNTIMES: &[Runtime] = &[
    Runtime {
        name: "std",
        cargo_args: &["test", "-p", "redwire-tests", "--test", "std"],
    },
    Runtime {
        name: "tokio",
        cargo_args: &["test", "-p", "redwire-tests", "--test", "tokio"],
    },
    Runtime {
        name: "async-std",
        cargo_args: &["test", "-p", "redwire-tests", "--test", "async-std"],
    },
    Runtime {
        name: "smol",
        cargo_args: &["test", "-p", "redwire-tests", "--test", "smol"],
    },
    Runtime {
        name: "glommio",
        cargo_args: &["test", "-p", "redwire-tests", "--test", "glommio"],
    },
];

/// RESP protocol versions every cell runs with (`REDWIRE_PROTOCOL`).
pub const PROTOCOLS: [u8; 2] = [2, 3];

/// How long one cell may run before it is killed and counted as failed.
const CELL_TIMEOUT: Duration = Duration::from_secs(600);

/// The outcome of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The topology.
    pub topology: TopologyKind,
    /// The runtime's name.
    pub runtime: &'static str,
    /// 2 or 3.
    pub protocol: u8,
    /// Whether every test passed.
    pub passed: bool,
    /// Wall time of the cell.
    pub elapsed: Duration,
    /// The libtest summary (`12 passed; 0 failed; ...`), or why the cell failed to run.
    pub summary: String,
    /// The cell's full output.
    pub log: PathBuf,
}

/// The cargo binary that runs us (`$CARGO`), or `cargo`.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(crate::layout::workspace_root());
    cmd
}

/// Step 1 of `cargo xtask test`: every crate's own tests (`cargo test --workspace --exclude
/// redwire-tests --no-fail-fast`), output streamed. Returns `(passed, failed, ignored, success)`.
pub fn workspace_tests() -> Result<(u64, u64, u64, bool)> {
    eprintln!("xtask: cargo test --workspace --exclude redwire-tests --no-fail-fast");
    let mut child = cargo()
        // Every crate's tests run even when an earlier one fails: the summary counts them all.
        .args([
            "test",
            "--workspace",
            "--exclude",
            "redwire-tests",
            "--no-fail-fast",
        ])
        // xtask's own tests start real servers; here they must not skip for lack of redis.
        .env("REDWIRE_REQUIRE_SERVERS", "1")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("run cargo test", e))?;
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            println!("{line}");
            if let Some(counts) = parse_summary(&line) {
                passed += counts.0;
                failed += counts.1;
                ignored += counts.2;
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("wait for cargo test", e))?;
    Ok((passed, failed, ignored, status.success()))
}

/// Reads `test result: ok. 12 passed; 0 failed; 1 ignored; ...`.
fn parse_summary(line: &str) -> Option<(u64, u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let count = |what: &str| {
        rest.split(';')
            .find_map(|part| {
                part.trim()
                    .strip_suffix(what)?
                    .trim()
                    .rsplit(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    Some((count("passed"), count("failed"), count("ignored")))
}

/// Compiles every runtime's test target before any server starts, so cell times measure tests.
pub fn build_suites(runtimes: &[Runtime]) -> Result<()> {
    for rt in runtimes {
        eprintln!("xtask: building the {} suite", rt.name);
        let status = cargo()
            .args(rt.cargo_args)
            .arg("--no-run")
            .status()
            .map_err(|e| Error::io("run cargo", e))?;
        if !status.success() {
            return Err(Error::Command {
                command: format!("cargo {} --no-run", rt.cargo_args.join(" ")),
                status: status.to_string(),
                output: "see the compiler output above".to_owned(),
            });
        }
    }
    Ok(())
}

/// Runs the matrix: each topology is brought up once, every runtime x protocol cell runs
/// against it (its health re-checked between cells, and the topology rebuilt if it does not
/// recover), then it is torn down, whatever happened.
pub fn run(
    topologies: &[TopologyKind],
    runtimes: &[Runtime],
    protocols: &[u8],
    options: &Options,
) -> Result<Vec<Cell>> {
    let logs = options.root.join("logs");
    fs::create_dir_all(&logs).map_err(|e| Error::at("create", &logs, e))?;
    let mut cells = Vec::new();
    for &kind in topologies {
        let mut topo = match Topology::up(kind, options) {
            Ok(t) => Some(t),
            Err(e @ Error::Interrupted) => return Err(e),
            Err(e) => {
                eprintln!("[{kind}] could not be brought up: {e}");
                None
            }
        };
        for rt in runtimes {
            for &protocol in protocols {
                topology::check_interrupted()?;
                let log = logs.join(format!("{kind}-{}-resp{protocol}.log", rt.name));
                let healthy = match topo.as_ref().map(Topology::check) {
                    Some(Ok(())) => true,
                    Some(Err(e)) => {
                        eprintln!("[{kind}] unhealthy before the next cell ({e}); rebuilding it");
                        drop(topo.take());
                        topo = Topology::up(kind, options).ok();
                        topo.is_some()
                    }
                    None => false,
                };
                let cell = match (&topo, healthy) {
                    (Some(t), true) => run_cell(kind, rt, protocol, &t.env_file(), &log)?,
                    _ => Cell {
                        topology: kind,
                        runtime: rt.name,
                        protocol,
                        passed: false,
                        elapsed: Duration::ZERO,
                        summary: "the topology did not come up".to_owned(),
                        log: log.clone(),
                    },
                };
                let verdict = if cell.passed { "ok" } else { "FAILED" };
                eprintln!(
                    "[{kind}] {} RESP{protocol}: {verdict} in {:.1}s ({})",
                    rt.name,
                    cell.elapsed.as_secs_f64(),
                    cell.summary
                );
                if !cell.passed {
                    print_failure(&cell);
                }
                cells.push(cell);
            }
        }
        if let Some(Err(e)) = topo.map(Topology::down) {
            eprintln!("[{kind}] teardown failed: {e}; run `cargo xtask down` to retry");
        }
    }
    Ok(cells)
}

fn run_cell(
    kind: TopologyKind,
    rt: &Runtime,
    protocol: u8,
    env_file: &Path,
    log: &Path,
) -> Result<Cell> {
    let out = File::create(log).map_err(|e| Error::at("create", log, e))?;
    let err = out.try_clone().map_err(|e| Error::at("open", log, e))?;
    let start = Instant::now();
    let mut child = cargo()
        .args(rt.cargo_args)
        .args(["--", "--test-threads=1"])
        .env("REDWIRE_ENV_FILE", env_file)
        .env("REDWIRE_PROTOCOL", protocol.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| Error::io("run cargo test", e))?;
    let status: Option<ExitStatus> = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io("wait for cargo test", e))?
        {
            break Some(status);
        }
        if start.elapsed() > CELL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let text = fs::read_to_string(log).unwrap_or_default();
    let summary = match status {
        None => format!("killed after {}s", CELL_TIMEOUT.as_secs()),
        Some(_) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("test result: "))
            .map(|s| s.split("; finished").next().unwrap_or(s).to_owned())
            .unwrap_or_else(|| "no test result (did it compile?)".to_owned()),
    };
    Ok(Cell {
        topology: kind,
        runtime: rt.name,
        protocol,
        passed: status.is_some_and(|s| s.success()),
        elapsed,
        summary,
        log: log.to_path_buf(),
    })
}

/// Prints the failing part of a cell's output (libtest's failures section, or the tail).
fn print_failure(cell: &Cell) {
    let text = fs::read_to_string(&cell.log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines
        .iter()
        .position(|l| l.trim() == "failures:")
        .unwrap_or(lines.len().saturating_sub(40));
    eprintln!(
        "---- output of {} (full log: {}) ----",
        cell_name(cell),
        cell.log.display()
    );
    for line in lines[from..].iter().take(120) {
        eprintln!("{line}");
    }
    eprintln!("----");
}

fn cell_name(cell: &Cell) -> String {
    format!(
        "{} x {} x RESP{}",
        cell.topology, cell.runtime, cell.protocol
    )
}

/// The matrix as a table, followed by the counts.
pub fn render(cells: &[Cell]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<10} {:<6} {:<7} {:>8}  tests",
        "topology", "runtime", "proto", "result", "time"
    );
    for c in cells {
        let _ = writeln!(
            out,
            "{:<16} {:<10} {:<6} {:<7} {:>7.1}s  {}",
            c.topology.name(),
            c.runtime,
            format!("RESP{}", c.protocol),
            if c.passed { "pass" } else { "FAIL" },
            c.elapsed.as_secs_f64(),
            c.summary
        );
    }
    let total: Duration = cells.iter().map(|c| c.elapsed).sum();
    let _ = writeln!(
        out,
        "cells: {} (time in cells: {:.1}s)",
        cells.len(),
        total.as_secs_f64()
    );
    out
}

/// The closing line CI log readers count: `matrix: N passed, M failed`.
pub fn closing_line(cells: &[Cell]) -> String {
    let passed = cells.iter().filter(|c| c.passed).count();
    format!("matrix: {passed} passed, {} failed", cells.len() - passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summaries_are_counted() {
        assert_eq!(
            parse_summary(
                "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Some((12, 0, 3))
        );
        assert_eq!(
            parse_summary("test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured"),
            Some((1, 2, 0))
        );
        assert_eq!(parse_summary("running 3 tests"), None);
    }

    #[test]
    fn closing_line_has_the_plain_shape() {
        let cell = |passed| Cell {
            topology: TopologyKind::Cluster,
            runtime: "std",
            protocol: 3,
            passed,
            elapsed: Duration::from_millis(1500),
            summary: String::new(),
            log: PathBuf::new(),
        };
        let cells = [cell(true), cell(true), cell(false)];
        assert_eq!(closing_line(&cells), "matrix: 2 passed, 1 failed");
        assert!(render(&cells).contains("cluster          std        RESP3  FAIL        1.5s"));
    }

    #[test]
    fn every_runtime_runs_a_test_target_of_the_suite() {
        for rt in RUNTIMES {
            assert_eq!(rt.cargo_args[0], "test", "{}", rt.name);
            assert!(
                rt.cargo_args
                    .windows(2)
                    .any(|w| w == ["-p", "redwire-tests"])
            );
        }
    }
}
