//! `cargo xtask`: see `docs/xtask.md`, or run `cargo xtask help`.

use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use xtask::matrix::{self, RUNTIMES, Runtime};
use xtask::{BackendKind, Error, Options, Result, Topology, TopologyKind};

const USAGE: &str = "\
cargo xtask <command>

commands:
  up <topology> [--backend native|docker|auto] [--image IMG]
        start a topology and leave it running; prints its URLs and env file
  down [<topology>...]
        stop topologies (all when none is named) and delete their folders
  test [--backend B] [--image IMG] [--topology T]... [--runtime R]... [--protocol 2|3]...
        THE test command: every crate's tests, then the integration matrix
        (topology x runtime x protocol); ends with `matrix: N passed, M failed`
  test-cluster [--backend B] [--image IMG]
        the integration matrix on the cluster topology only
  test-sentinel [--backend B] [--image IMG]
        the integration matrix on the sentinel topology only
  gen-commands [--from-file]
        regenerate the command table: ask a real server for COMMAND INFO/DOCS and write
        crates/client-core/commands.json, then generate src/command/table.rs from it
        (--from-file: only the code, from the checked-in data)
  demo [--backend B] [--image IMG]
        start a standalone server, run `cargo run --example quickstart` against it
  bench [--rounds N] [--quick]
        the tokio client against fred, redis-rs and redis-benchmark, and redwire on
        async-std, smol and glommio against redwire on tokio: a dedicated server on port 7490
        pinned to CPU 1, the bench (bench/, built --release) pinned to CPU 0, N interleaved
        rounds (default 5); prints markdown tables, writes target/bench/results.md
  help  this text

topologies: standalone, standalone-tls, standalone-unix, cluster, sentinel
backends:   native (default: local redis-server processes), docker (containers built from
            the local binaries, or --image), auto (docker if `docker info` works)";

/// Parsed command-line flags shared by the commands.
#[derive(Debug, Default)]
struct Flags {
    positional: Vec<String>,
    backend: Option<String>,
    image: Option<String>,
    topologies: Vec<String>,
    runtimes: Vec<String>,
    protocols: Vec<String>,
    rounds: Option<String>,
    quick: bool,
}

fn parse_flags(args: &[String]) -> Result<Flags> {
    let mut flags = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| {
                    Error::Setup(format!("{name} needs a value; see `cargo xtask help`"))
                })
        };
        match name {
            "--backend" => flags.backend = Some(value()?),
            "--image" => flags.image = Some(value()?),
            "--topology" => flags.topologies.push(value()?),
            "--runtime" => flags.runtimes.push(value()?),
            "--protocol" => flags.protocols.push(value()?),
            "--rounds" => flags.rounds = Some(value()?),
            "--quick" => flags.quick = true,
            "-h" | "--help" => flags.positional.insert(0, "help".to_owned()),
            "--from-file" => flags.positional.push("from-file".to_owned()),
            flag if flag.starts_with('-') => {
                return Err(Error::Setup(format!(
                    "unknown option {flag}; see `cargo xtask help`"
                )));
            }
            _ => flags.positional.push(arg.clone()),
        }
    }
    Ok(flags)
}

impl Flags {
    fn options(&self) -> Result<Options> {
        let backend = match self.backend.as_deref().unwrap_or("native") {
            "auto" => {
                let picked = if xtask::docker_available() {
                    BackendKind::Docker
                } else {
                    BackendKind::Native
                };
                eprintln!("xtask: --backend auto picked {picked}");
                picked
            }
            other => other.parse()?,
        };
        if self.image.is_some() && backend != BackendKind::Docker {
            return Err(Error::Setup(
                "--image only applies to --backend docker".to_owned(),
            ));
        }
        if backend == BackendKind::Docker && !xtask::docker_available() {
            return Err(Error::Setup(
                "--backend docker, but `docker info` fails: start the docker engine (or use \
                 --backend native)"
                    .to_owned(),
            ));
        }
        let mut options = Options::new(backend);
        options.image = self.image.clone();
        Ok(options)
    }

    fn no_positional(&self, command: &str) -> Result<()> {
        match self.positional.first() {
            Some(extra) => Err(Error::Setup(format!(
                "`{command}` takes no argument `{extra}`"
            ))),
            None => Ok(()),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let flags = parse_flags(rest)?;
    if flags.positional.first().map(String::as_str) == Some("help") {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    match command.as_str() {
        "up" => up(&flags),
        "down" => down(&flags),
        "test" => {
            flags.no_positional("test")?;
            test(&flags, None, true)
        }
        "test-cluster" => {
            flags.no_positional("test-cluster")?;
            test(&flags, Some(TopologyKind::Cluster), false)
        }
        "test-sentinel" => {
            flags.no_positional("test-sentinel")?;
            test(&flags, Some(TopologyKind::Sentinel), false)
        }
        "demo" => {
            flags.no_positional("demo")?;
            demo(&flags)
        }
        "gen-commands" => gen_commands(&flags),
        "bench" => {
            flags.no_positional("bench")?;
            bench(&flags)
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Error::Setup(format!(
            "unknown command `{other}`\n\n{USAGE}"
        ))),
    }
}

fn gen_commands(flags: &Flags) -> Result<ExitCode> {
    let root = xtask::workspace_root();
    match flags.positional.as_slice() {
        [] => {
            eprintln!("gen-commands: starting a standalone server to ask for COMMAND INFO/DOCS");
            let topology = Topology::up(TopologyKind::Standalone, &flags.options()?)?;
            let state = topology.state();
            let node = state
                .servers()
                .next()
                .ok_or_else(|| Error::Setup("no server node".into()))?;
            let mut conn = xtask::Conn::open(&state.endpoint(node))?;
            let data = xtask::gen_commands::fetch(&mut conn)?;
            topology.down()?;
            xtask::gen_commands::write(&root, &data)?;
            let count = data["commands"].as_array().map_or(0, Vec::len);
            println!("gen-commands: {count} commands from {}", data["source"]);
        }
        [flag] if flag == "from-file" => xtask::gen_commands::generate_from_file(&root)?,
        _ => {
            return Err(Error::Setup(
                "usage: cargo xtask gen-commands [--from-file]".into(),
            ));
        }
    }
    println!(
        "gen-commands: wrote {} and {}",
        xtask::gen_commands::DATA_FILE,
        xtask::gen_commands::TABLE_FILE
    );
    Ok(ExitCode::SUCCESS)
}

fn up(flags: &Flags) -> Result<ExitCode> {
    let [name] = flags.positional.as_slice() else {
        return Err(Error::Setup(
            "usage: cargo xtask up <standalone|standalone-tls|standalone-unix|cluster|sentinel> \
             [--backend native|docker|auto] [--image IMG]"
                .to_owned(),
        ));
    };
    let kind: TopologyKind = name.parse()?;
    let options = flags.options()?;
    xtask::install_interrupt_handler()?;
    let topology = Topology::up(kind, &options)?;
    let env_file = topology.env_file();
    let state = topology.detach();
    println!("{kind} is up ({} backend):", state.backend);
    for (key, value) in state.env_vars() {
        println!("  {key}={value}");
    }
    println!("env file: {}", env_file.display());
    println!(
        "run the suite against it: REDWIRE_ENV_FILE={} REDWIRE_PROTOCOL=3 cargo test -p \
         redwire-tests --test std -- --test-threads=1",
        env_file.display()
    );
    println!("stop it: cargo xtask down {kind}");
    Ok(ExitCode::SUCCESS)
}

fn down(flags: &Flags) -> Result<ExitCode> {
    let root = xtask::default_root();
    if flags.positional.is_empty() {
        let downed = xtask::down_all(&root)?;
        if downed.is_empty() {
            println!("nothing was up");
        }
        for kind in downed {
            println!("{kind} is down");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for name in &flags.positional {
        let kind: TopologyKind = name.parse()?;
        if xtask::down_dir(&root.join(kind.name()))? {
            println!("{kind} is down");
        } else {
            println!("{kind} was not up");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn selected<T: Clone>(
    all: &[T],
    wanted: &[String],
    name: impl Fn(&T) -> String,
    what: &str,
) -> Result<Vec<T>> {
    if wanted.is_empty() {
        return Ok(all.to_vec());
    }
    wanted
        .iter()
        .map(|w| {
            all.iter().find(|x| name(x) == *w).cloned().ok_or_else(|| {
                let names: Vec<String> = all.iter().map(&name).collect();
                Error::Setup(format!("unknown {what} `{w}`; known: {}", names.join(", ")))
            })
        })
        .collect()
}

fn test(flags: &Flags, only: Option<TopologyKind>, with_unit_tests: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let options = flags.options()?;
    let topologies = match only {
        Some(kind) => vec![kind],
        None => selected(
            &TopologyKind::ALL,
            &flags.topologies,
            |k| k.name().to_owned(),
            "topology",
        )?,
    };
    let runtimes: Vec<Runtime> =
        selected(RUNTIMES, &flags.runtimes, |r| r.name.to_owned(), "runtime")?;
    let protocols: Vec<u8> = selected(
        &matrix::PROTOCOLS,
        &flags.protocols,
        u8::to_string,
        "protocol",
    )?;
    xtask::install_interrupt_handler()?;
    // Install (or complain about) the servers before anything long starts.
    if options.backend == BackendKind::Native || options.image.is_none() {
        xtask::ensure_binaries()?;
    }
    let mut unit_ok = true;
    let mut unit_line = None;
    if with_unit_tests {
        let unit_start = Instant::now();
        let (passed, failed, ignored, ok) = matrix::workspace_tests()?;
        unit_ok = ok;
        unit_line = Some(format!(
            "workspace tests: {} ({passed} tests passed, {failed} failed, {ignored} ignored, {:.1}s)",
            if ok { "ok" } else { "FAILED" },
            unit_start.elapsed().as_secs_f64()
        ));
        println!("{}", unit_line.as_deref().unwrap_or_default());
    }
    matrix::build_suites(&runtimes)?;
    let cells = matrix::run(&topologies, &runtimes, &protocols, &options)?;
    println!();
    println!("integration matrix ({} backend):", options.backend);
    print!("{}", matrix::render(&cells));
    if let Some(line) = unit_line {
        println!("{line}");
    }
    println!("total time: {:.1}s", started.elapsed().as_secs_f64());
    let closing = matrix::closing_line(&cells);
    println!("{closing}");
    let all_passed = unit_ok && cells.iter().all(|c| c.passed);
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn demo(flags: &Flags) -> Result<ExitCode> {
    let options = flags.options()?;
    xtask::install_interrupt_handler()?;
    // Build first: a missing example fails here, before any server starts.
    eprintln!("xtask: building the quickstart example");
    let output = matrix::cargo()
        .args(["build", "--example", "quickstart"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io("run cargo build --example quickstart", e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("no example target named") {
            return Err(Error::Setup(
                "the quickstart example does not exist yet: cargo finds no example target named \
                 `quickstart` (examples/quickstart.rs arrives with the client crates). Once it \
                 exists, `cargo xtask demo` starts a server and runs it with REDWIRE_URL set"
                    .to_owned(),
            ));
        }
        return Err(Error::Command {
            command: "cargo build --example quickstart".to_owned(),
            status: output.status.to_string(),
            output: stderr.into_owned(),
        });
    }
    let topology = Topology::up(TopologyKind::Standalone, &options)?;
    let url = topology
        .state()
        .env_vars()
        .into_iter()
        .find(|(k, _)| k == "REDWIRE_URL")
        .map(|(_, v)| v)
        .unwrap_or_default();
    eprintln!("xtask: REDWIRE_URL={url} cargo run --example quickstart");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(xtask::workspace_root())
        .args(["run", "--example", "quickstart"])
        .env("REDWIRE_URL", &url)
        .status()
        .map_err(|e| Error::io("run cargo run --example quickstart", e))?;
    topology.down()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The port of the benchmark's own server, away from the test topologies' blocks (7400-7449).
const BENCH_PORT: u16 = 7490;

fn bench(flags: &Flags) -> Result<ExitCode> {
    let rounds: usize =
        match &flags.rounds {
            Some(r) => r.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                Error::Setup(format!("--rounds needs a positive number, not `{r}`"))
            })?,
            None => 5,
        };
    if flags.backend.as_deref().is_some_and(|b| b != "native") || flags.image.is_some() {
        return Err(Error::Setup(
            "bench runs a native server only (it pins the server process to a CPU)".to_owned(),
        ));
    }
    let root = xtask::workspace_root();
    xtask::install_interrupt_handler()?;
    xtask::ensure_binaries()?;

    // Build first, so that a compile error fails before any server starts.
    eprintln!("xtask: cargo build --release --manifest-path bench/Cargo.toml");
    let status = matrix::cargo()
        .args(["build", "--release", "--manifest-path", "bench/Cargo.toml"])
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::io("run cargo build --manifest-path bench/Cargo.toml", e))?;
    if !status.success() {
        return Err(Error::Command {
            command: "cargo build --release --manifest-path bench/Cargo.toml".to_owned(),
            status: status.to_string(),
            output: String::new(),
        });
    }
    let binary = root.join("bench/target/release/redwire-bench");

    // A standalone server of its own (`save ""`, `appendonly no`), in its own folder; dropping
    // `topology` (also on an early return) tears it down.
    let mut options = Options::new(BackendKind::Native);
    options.root = root.join("target/bench/servers");
    options.base_port = BENCH_PORT;
    let topology = Topology::up(TopologyKind::Standalone, &options)?;
    let state = topology.state();
    let node = state
        .servers()
        .next()
        .ok_or_else(|| Error::Setup("the standalone topology has no server".to_owned()))?;
    let (host, port, pid) = (node.host.clone(), node.port, node.pid);

    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let taskset = cpus >= 2
        && Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    let mut pinned = false;
    if let (true, Some(pid)) = (taskset, pid) {
        pinned = Command::new("taskset")
            .args(["-a", "-pc", "1", &pid.to_string()])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    }
    if pinned {
        eprintln!(
            "xtask: server (pid {}) pinned to CPU 1, bench to CPU 0",
            pid.unwrap_or(0)
        );
    } else {
        eprintln!("xtask: no pinning (taskset missing, fewer than 2 CPUs, or taskset failed)");
    }

    let out = root.join("target/bench/results.md");
    let mut args: Vec<String> = vec![
        "--host".into(),
        host,
        "--port".into(),
        port.to_string(),
        "--rounds".into(),
        rounds.to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if flags.quick {
        args.push("--quick".into());
    }
    let mut command = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    eprintln!("xtask: {} {}", binary.display(), args.join(" "));
    let status = command
        .args(&args)
        .current_dir(&root)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::io("run the bench binary", e));
    topology.down()?;
    let status = status?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
