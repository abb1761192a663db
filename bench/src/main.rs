//! `redwire-bench`: the redwire tokio client side by side with fred, redis-rs and
//! `redis-benchmark`, and redwire on its other runtimes (async-std, smol, glommio) side by side
//! with redwire on tokio, against one running server. Normally started by `cargo xtask bench`,
//! which brings up a dedicated server pinned to CPU 1 and runs this binary pinned to CPU 0.
//!
//! ```text
//! redwire-bench --port 7490 [--host 127.0.0.1] [--rounds 5] [--quick] [--out FILE]
//!               [--redis-benchmark PATH]
//! ```
//!
//! Every round runs every scenario once per client, the clients back to back and in a rotating
//! order; the table reports each client's median over the rounds. Client CPU time is the
//! process's `getrusage(RUSAGE_SELF)` user + system time around a run (the server is another
//! process); for `redis-benchmark` it is `RUSAGE_CHILDREN` around its run. For the concurrent
//! scenarios the table also gives the commands per read event of the server (its
//! `total_reads_processed` counter in `INFO stats`, taken before and after each run): how deep
//! the client's automatic pipelining is, as the server sees it.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use bytes::Bytes;
use client_async_std::AsyncStd;
use client_async_std::smol::Smol;
use client_driver::Runtime;
use client_glommio::Glommio;
use client_tokio::Commands as _;
use client_tokio::Tokio;
use fred::prelude::{ClientLike as _, KeysInterface as _};

type BoxError = Box<dyn StdError + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

mod bare;

const SMALL: usize = 16;
const LARGE: usize = 100 * 1024;
const TASKS: usize = 64;
const BATCH: usize = 100;

// ---------------------------------------------------------------------------------------------
// The three clients behind one interface.

/// A spawned worker of the `concurrent` scenario, to await.
type Joined = Pin<Box<dyn Future<Output = Result<()>>>>;

/// One handle of a client; `Clone` gives another handle on the same multiplexed connection.
trait Bench: Clone + 'static {
    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<()>>;
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Option<Bytes>>>;
    /// One pipeline of `SET key value` for every key.
    fn pipeline_set(&mut self, keys: &[String], value: &Bytes) -> impl Future<Output = Result<()>>;
    /// Starts `worker(self, ...)` as a task of the client's runtime (each implementation names
    /// its runtime's spawn, so that the compiler checks `Send` where that runtime needs it).
    fn spawn_worker(self, task: usize, per_task: usize, value: Bytes) -> Joined;
}

fn spawn_tokio<F: Future<Output = Result<()>> + Send + 'static>(work: F) -> Joined {
    let handle = tokio::spawn(work);
    Box::pin(async move { handle.await? })
}

fn spawn_async_std<F: Future<Output = Result<()>> + Send + 'static>(work: F) -> Joined {
    Box::pin(async_std::task::spawn(work))
}

fn spawn_smol<F: Future<Output = Result<()>> + Send + 'static>(work: F) -> Joined {
    Box::pin(smol::spawn(work))
}

fn spawn_glommio<F: Future<Output = Result<()>> + 'static>(work: F) -> Joined {
    Box::pin(glommio::spawn_local(work))
}

/// redwire on runtime `R`.
struct Redwire<R: Runtime>(client_driver::Client<R>);

impl<R: Runtime> Clone for Redwire<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The same redwire calls on every runtime; only the spawn differs.
macro_rules! redwire_bench {
    ($runtime:ty, $spawn:path) => {
        impl Bench for Redwire<$runtime> {
            async fn set(&mut self, key: &str, value: &Bytes) -> Result<()> {
                Ok(self.0.set::<()>(key, value).await?)
            }

            async fn get(&mut self, key: &str) -> Result<Option<Bytes>> {
                Ok(self.0.get::<Option<Bytes>>(key).await?)
            }

            async fn pipeline_set(&mut self, keys: &[String], value: &Bytes) -> Result<()> {
                let pipeline = self.0.pipeline();
                for key in keys {
                    pipeline.set::<()>(key, value);
                }
                let replies: Vec<()> = pipeline.run().await?;
                check_len(replies.len(), keys.len())
            }

            fn spawn_worker(self, task: usize, per_task: usize, value: Bytes) -> Joined {
                $spawn(worker(self, task, per_task, value))
            }
        }
    };
}

redwire_bench!(Tokio, spawn_tokio);
redwire_bench!(AsyncStd, spawn_async_std);
redwire_bench!(Smol, spawn_smol);
redwire_bench!(Glommio, spawn_glommio);

#[derive(Clone)]
struct Fred(fred::prelude::Client);

impl Bench for Fred {
    async fn set(&mut self, key: &str, value: &Bytes) -> Result<()> {
        Ok(self
            .0
            .set::<(), _, _>(key, value.clone(), None, None, false)
            .await?)
    }

    async fn get(&mut self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.0.get::<Option<Bytes>, _>(key).await?)
    }

    async fn pipeline_set(&mut self, keys: &[String], value: &Bytes) -> Result<()> {
        let pipeline = self.0.pipeline();
        for key in keys {
            pipeline
                .set::<(), _, _>(key.as_str(), value.clone(), None, None, false)
                .await?;
        }
        let replies: Vec<fred::prelude::Value> = pipeline.all().await?;
        check_len(replies.len(), keys.len())
    }

    fn spawn_worker(self, task: usize, per_task: usize, value: Bytes) -> Joined {
        spawn_tokio(worker(self, task, per_task, value))
    }
}

#[derive(Clone)]
struct RedisRs(redis::aio::MultiplexedConnection);

impl Bench for RedisRs {
    async fn set(&mut self, key: &str, value: &Bytes) -> Result<()> {
        Ok(redis::cmd("SET")
            .arg(key)
            .arg(&value[..])
            .exec_async(&mut self.0)
            .await?)
    }

    async fn get(&mut self, key: &str) -> Result<Option<Bytes>> {
        Ok(redis::cmd("GET")
            .arg(key)
            .query_async::<Option<Bytes>>(&mut self.0)
            .await?)
    }

    async fn pipeline_set(&mut self, keys: &[String], value: &Bytes) -> Result<()> {
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("SET").arg(key.as_str()).arg(&value[..]);
        }
        let replies: Vec<redis::Value> = pipe.query_async(&mut self.0).await?;
        check_len(replies.len(), keys.len())
    }

    fn spawn_worker(self, task: usize, per_task: usize, value: Bytes) -> Joined {
        spawn_tokio(worker(self, task, per_task, value))
    }
}

fn check_len(got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("pipeline: {got} replies for {want} commands").into())
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Seq,
    Concurrent,
    Pipeline,
    Large,
    ConcurrentMt,
    ConcurrentMtTwoCpus,
}

impl Scenario {
    const ALL: [Self; 6] = [
        Self::Seq,
        Self::Concurrent,
        Self::Pipeline,
        Self::Large,
        Self::ConcurrentMt,
        Self::ConcurrentMtTwoCpus,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Seq => "seq",
            Self::Concurrent => "concurrent",
            Self::Pipeline => "pipeline",
            Self::Large => "large",
            Self::ConcurrentMt => "concurrent-mt",
            Self::ConcurrentMtTwoCpus => "concurrent-mt-2cpu",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Seq => "seq: 1 task, SET+GET 16 B",
            Self::Concurrent => "concurrent: 64 tasks, 1 connection, SET/GET 16 B",
            Self::Pipeline => "pipeline: 100 SETs of 16 B per batch",
            Self::Large => "large: 1 task, SET+GET 100 KiB",
            Self::ConcurrentMt => "concurrent, multi-thread runtime (2 workers)",
            Self::ConcurrentMtTwoCpus => {
                "concurrent, multi-thread runtime (2 workers free to run on both CPUs)"
            }
        }
    }

    /// The tokio multi-thread scenarios.
    fn multi_thread(self) -> bool {
        matches!(self, Self::ConcurrentMt | Self::ConcurrentMtTwoCpus)
    }

    /// Commands sent in one run of this scenario at `sizes`.
    fn commands(self, sizes: Sizes) -> usize {
        match self {
            Self::Seq => sizes.seq_ops,
            Self::Concurrent | Self::ConcurrentMt | Self::ConcurrentMtTwoCpus => {
                sizes.concurrent_ops / TASKS * TASKS
            }
            Self::Pipeline => sizes.pipeline_ops / BATCH * BATCH,
            Self::Large => sizes.large_ops,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Redwire,
    Fred,
    RedisRs,
    RedisBenchmark,
    RedwireAsyncStd,
    RedwireSmol,
    RedwireGlommio,
    BareTokio,
    BareBlocking,
    BareEpoll,
    BareEpollReregistered,
    BareTokioTasks,
}

impl Who {
    const ALL: [Self; 12] = [
        Self::Redwire,
        Self::Fred,
        Self::RedisRs,
        Self::RedisBenchmark,
        Self::RedwireAsyncStd,
        Self::RedwireSmol,
        Self::RedwireGlommio,
        Self::BareTokio,
        Self::BareBlocking,
        Self::BareEpoll,
        Self::BareEpollReregistered,
        Self::BareTokioTasks,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Redwire => "redwire",
            Self::Fred => "fred",
            Self::RedisRs => "redis-rs",
            Self::RedisBenchmark => "redis-benchmark",
            Self::RedwireAsyncStd => "redwire-async-std",
            Self::RedwireSmol => "redwire-smol",
            Self::RedwireGlommio => "redwire-glommio",
            Self::BareTokio => "bare-tokio",
            Self::BareBlocking => "bare-blocking",
            Self::BareEpoll => "bare-epoll",
            Self::BareEpollReregistered => "bare-epoll-reregistered",
            Self::BareTokioTasks => "bare-tokio-tasks",
        }
    }

    /// A loop on a bare socket, without a client library (see `bare`): it runs in every
    /// scenario but the multi-thread ones.
    fn bare(self) -> Option<bare::Loop> {
        match self {
            Self::BareTokio => Some(bare::Loop::Tokio),
            Self::BareBlocking => Some(bare::Loop::Blocking),
            Self::BareEpoll => Some(bare::Loop::Epoll),
            Self::BareEpollReregistered => Some(bare::Loop::EpollReregistered),
            _ => None,
        }
    }

    /// redwire on a runtime other than tokio: measured against redwire on tokio, and not in
    /// the multi-thread tokio scenario.
    fn other_runtime(self) -> bool {
        matches!(
            self,
            Self::RedwireAsyncStd | Self::RedwireSmol | Self::RedwireGlommio
        )
    }
}

/// The result of one run.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    ops_per_s: f64,
    /// Only for `large`: payload megabytes (10^6 bytes) per second, SET and GET together.
    mb_per_s: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    /// The mean latency. `redis-benchmark`'s percentiles are the top of 8 µs wide histogram
    /// buckets at seq's latencies (every p50 it prints is 7 more than a multiple of 8), so
    /// its p50 can be up to 7 µs above the true one; its mean has no such steps.
    mean_us: Option<f64>,
    cpu_us_per_op: f64,
    /// Commands per read event of the server (`total_reads_processed` in `INFO stats`) during
    /// the run: how many commands the client's writes carried, as the server saw them.
    commands_per_read: Option<f64>,
    /// The round it was taken in (set by the round loop), to compare clients within a round.
    round: usize,
}

#[derive(Clone, Copy, Debug)]
struct Sizes {
    seq_ops: usize,
    concurrent_ops: usize,
    pipeline_ops: usize,
    large_ops: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        let full = Self {
            seq_ops: 40_000,
            concurrent_ops: 400_000,
            pipeline_ops: 1_000_000,
            large_ops: 4_000,
        };
        if quick {
            Self {
                seq_ops: full.seq_ops / 10,
                concurrent_ops: full.concurrent_ops / 10,
                pipeline_ops: full.pipeline_ops / 10,
                large_ops: full.large_ops / 10,
            }
        } else {
            full
        }
    }
}

/// User + system CPU time of this process (`who = RUSAGE_SELF`) or of its waited-for children
/// (`RUSAGE_CHILDREN`).
#[allow(unsafe_code)]
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: `getrusage` only writes the struct it is given, which is zero-initialisable.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn finish(ops: usize, bytes_per_op: usize, wall: Duration, cpu: Duration) -> Sample {
    let secs = wall.as_secs_f64();
    Sample {
        ops_per_s: ops as f64 / secs,
        mb_per_s: (ops * bytes_per_op) as f64 / secs / 1e6,
        p50_us: None,
        p99_us: None,
        mean_us: None,
        cpu_us_per_op: cpu.as_secs_f64() * 1e6 / ops as f64,
        commands_per_read: None,
        round: 0,
    }
}

async fn seq<B: Bench>(mut client: B, ops: usize, size: usize) -> Result<Sample> {
    let value = Bytes::from(vec![b'x'; size]);
    let key = if size == SMALL {
        "bench:seq"
    } else {
        "bench:large"
    };
    let mut latencies = Latencies::start(ops);
    for _ in 0..ops / 2 {
        let t = Instant::now();
        client.set(key, &value).await?;
        let t = latencies.push(t);
        let got = client.get(key).await?;
        latencies.push(t);
        if got.as_ref().map(Bytes::len) != Some(size) {
            return Err("GET returned the wrong value".into());
        }
    }
    Ok(latencies.finish(1, size))
}

/// Per-operation (or per-round-trip) latencies, with the wall and CPU time of their run.
struct Latencies {
    nanos: Vec<u64>,
    cpu: Duration,
    start: Instant,
}

impl Latencies {
    /// Starts the run's clocks, with room for `ops` latencies.
    fn start(ops: usize) -> Self {
        Self {
            nanos: Vec::with_capacity(ops),
            cpu: cpu_time(libc::RUSAGE_SELF),
            start: Instant::now(),
        }
    }

    /// Records the time since `since`, and returns now: the start of a next operation that
    /// follows at once.
    fn push(&mut self, since: Instant) -> Instant {
        let now = Instant::now();
        self.nanos.push((now - since).as_nanos() as u64);
        now
    }

    /// The run's sample, counting `commands` per recorded latency, of `size`-byte values.
    fn finish(mut self, commands: usize, size: usize) -> Sample {
        let wall = self.start.elapsed();
        let cpu = cpu_time(libc::RUSAGE_SELF) - self.cpu;
        self.nanos.sort_unstable();
        let mut sample = finish(self.nanos.len() * commands, size, wall, cpu);
        sample.p50_us = Some(percentile(&self.nanos, 0.50));
        sample.p99_us = Some(percentile(&self.nanos, 0.99));
        sample.mean_us =
            Some(self.nanos.iter().sum::<u64>() as f64 / self.nanos.len() as f64 / 1000.0);
        sample
    }
}

async fn concurrent<B: Bench>(client: B, ops: usize) -> Result<Sample> {
    let value = Bytes::from(vec![b'x'; SMALL]);
    let per_task = ops / TASKS;
    let cpu = cpu_time(libc::RUSAGE_SELF);
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| client.clone().spawn_worker(task, per_task, value.clone()))
        .collect();
    for task in tasks {
        task.await?;
    }
    let wall = start.elapsed();
    let cpu = cpu_time(libc::RUSAGE_SELF) - cpu;
    Ok(finish(per_task * TASKS, SMALL, wall, cpu))
}

/// One of the `concurrent` scenario's tasks: SET and GET in turn on its own key.
async fn worker<B: Bench>(mut client: B, task: usize, per_task: usize, value: Bytes) -> Result<()> {
    let key = format!("bench:c:{task}");
    for i in 0..per_task {
        if i % 2 == 0 {
            client.set(&key, &value).await?;
        } else if client.get(&key).await?.is_none() {
            return Err("GET returned nil".into());
        }
    }
    Ok(())
}

async fn pipeline<B: Bench>(mut client: B, ops: usize) -> Result<Sample> {
    let value = Bytes::from(vec![b'x'; SMALL]);
    let keys: Vec<String> = (0..BATCH).map(|i| format!("bench:p:{i}")).collect();
    let batches = ops / BATCH;
    let cpu = cpu_time(libc::RUSAGE_SELF);
    let start = Instant::now();
    for _ in 0..batches {
        client.pipeline_set(&keys, &value).await?;
    }
    let wall = start.elapsed();
    let cpu = cpu_time(libc::RUSAGE_SELF) - cpu;
    Ok(finish(batches * BATCH, SMALL, wall, cpu))
}

async fn run_scenario<B: Bench>(client: B, scenario: Scenario, sizes: Sizes) -> Result<Sample> {
    match scenario {
        Scenario::Seq => seq(client, sizes.seq_ops, SMALL).await,
        Scenario::Concurrent | Scenario::ConcurrentMt | Scenario::ConcurrentMtTwoCpus => {
            concurrent(client, sizes.concurrent_ops).await
        }
        Scenario::Pipeline => pipeline(client, sizes.pipeline_ops).await,
        Scenario::Large => seq(client, sizes.large_ops, LARGE).await,
    }
}

// ---------------------------------------------------------------------------------------------
// redis-benchmark.

/// One test's line of `redis-benchmark --csv`: name, requests per second, p50, p99 and mean
/// in ms.
type Row = (String, f64, f64, f64, f64);

/// One `redis-benchmark --csv` run; returns the rows `(test, rps, p50, p99, mean ms)` and the
/// child's CPU time.
fn redis_benchmark(
    binary: &str,
    host: &str,
    port: u16,
    args: &[&str],
) -> Result<(Vec<Row>, Duration)> {
    let cpu = cpu_time(libc::RUSAGE_CHILDREN);
    let output = Process::new(binary)
        .args(["-h", host, "-p", &port.to_string(), "--csv"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {binary}: {e}"))?;
    let cpu = cpu_time(libc::RUSAGE_CHILDREN) - cpu;
    if !output.status.success() {
        return Err(format!(
            "{binary} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut header: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in stdout.lines() {
        let fields: Vec<String> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"').to_owned())
            .collect();
        if fields.first().map(String::as_str) == Some("test") {
            header = fields;
            continue;
        }
        let column = |name: &str| -> Option<f64> {
            let i = header.iter().position(|h| h == name)?;
            fields.get(i)?.parse().ok()
        };
        let rps = column("rps").or_else(|| fields.get(1)?.parse().ok());
        if let Some(rps) = rps {
            rows.push((
                fields[0].clone(),
                rps,
                column("p50_latency_ms").unwrap_or(f64::NAN),
                column("p99_latency_ms").unwrap_or(f64::NAN),
                column("avg_latency_ms").unwrap_or(f64::NAN),
            ));
        }
    }
    if rows.is_empty() {
        return Err(format!("no results in the output of {binary} {args:?}:\n{stdout}").into());
    }
    Ok((rows, cpu))
}

fn redis_benchmark_sample(
    binary: &str,
    host: &str,
    port: u16,
    scenario: Scenario,
    sizes: Sizes,
) -> Result<Option<Sample>> {
    let (n, args): (usize, Vec<String>) = match scenario {
        Scenario::Seq => (
            sizes.seq_ops / 2,
            ["-c", "1", "-P", "1", "-t", "set,get", "-d", "16"]
                .map(String::from)
                .to_vec(),
        ),
        Scenario::Pipeline => (
            sizes.pipeline_ops,
            ["-c", "1", "-P", "100", "-t", "set", "-d", "16"]
                .map(String::from)
                .to_vec(),
        ),
        Scenario::Large => (
            sizes.large_ops / 2,
            ["-c", "1", "-P", "1", "-t", "set,get", "-d", "102400"]
                .map(String::from)
                .to_vec(),
        ),
        Scenario::Concurrent | Scenario::ConcurrentMt | Scenario::ConcurrentMtTwoCpus => {
            return Ok(None);
        }
    };
    let n_arg = n.to_string();
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(["-n", &n_arg]);
    let (rows, cpu) = redis_benchmark(binary, host, port, &all)?;
    // Total time = sum of each test's time; latencies: the mean over the tests.
    let secs: f64 = rows.iter().map(|(_, rps, ..)| n as f64 / rps).sum();
    let ops = n * rows.len();
    let bytes = if scenario == Scenario::Large {
        LARGE
    } else {
        SMALL
    };
    let mut sample = finish(ops, bytes, Duration::from_secs_f64(secs), cpu);
    let mean = |f: fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64 * 1000.0;
    sample.p50_us = Some(mean(|r| r.2)).filter(|v| v.is_finite());
    sample.p99_us = Some(mean(|r| r.3)).filter(|v| v.is_finite());
    sample.mean_us = Some(mean(|r| r.4)).filter(|v| v.is_finite());
    Ok(Some(sample))
}

// ---------------------------------------------------------------------------------------------
// The server's side, and CPUs.

/// A connection of the bench's own to the server, for its read counter.
struct ServerStats {
    stream: std::net::TcpStream,
}

impl ServerStats {
    fn connect(host: &str, port: u16) -> Result<Self> {
        let stream = std::net::TcpStream::connect((host, port))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream })
    }

    /// The read events the server has processed since it started (`total_reads_processed`
    /// in `INFO stats`). Asking counts as one.
    fn reads(&mut self) -> Result<u64> {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        self.stream
            .write_all(b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")?;
        let mut reader = BufReader::new(&self.stream);
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let len: usize = header
            .strip_prefix('$')
            .and_then(|n| n.trim_end().parse().ok())
            .ok_or_else(|| format!("INFO stats answered {header:?}"))?;
        let mut body = vec![0; len + 2];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body);
        body.lines()
            .find_map(|line| line.strip_prefix("total_reads_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| "INFO stats has no total_reads_processed".into())
    }
}

/// Lets the calling thread run on every CPU the machine has, whatever the process was
/// pinned to.
#[allow(unsafe_code)]
fn allow_every_cpu() {
    // SAFETY: `set` is a zeroed `cpu_set_t` that `CPU_SET` fills and `sched_setaffinity`
    // only reads; pid 0 is the calling thread.
    let done = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        // Every online CPU, not `available_parallelism`: that counts the pinned ones.
        let online = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1);
        for cpu in 0..online as usize {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if done != 0 {
        eprintln!(
            "bench: a worker could not widen its CPU affinity: {}",
            std::io::Error::last_os_error()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Driver.

struct Clients {
    runtime: tokio::runtime::Runtime,
    redwire: Redwire<Tokio>,
    fred: Fred,
    redis_rs: RedisRs,
}

impl Clients {
    fn connect(runtime: tokio::runtime::Runtime, url: &str) -> Result<Self> {
        let (redwire, fred, redis_rs) = runtime.block_on(async {
            let config = client_core::Config::from_url(url)?;
            let redwire = Redwire(client_tokio::Client::connect(config).await?);
            let config = fred::prelude::Config::from_url(url)?;
            let fred = fred::prelude::Builder::from_config(config).build()?;
            fred.init().await?;
            let redis_rs = redis::Client::open(url)?
                .get_multiplexed_async_connection()
                .await?;
            Ok::<_, BoxError>((redwire, Fred(fred), RedisRs(redis_rs)))
        })?;
        Ok(Self {
            runtime,
            redwire,
            fred,
            redis_rs,
        })
    }

    fn run(&self, who: Who, scenario: Scenario, sizes: Sizes) -> Result<Sample> {
        match who {
            Who::Redwire => {
                self.runtime
                    .block_on(run_scenario(self.redwire.clone(), scenario, sizes))
            }
            Who::Fred => self
                .runtime
                .block_on(run_scenario(self.fred.clone(), scenario, sizes)),
            Who::RedisRs => {
                self.runtime
                    .block_on(run_scenario(self.redis_rs.clone(), scenario, sizes))
            }
            _ => Err(format!("{} does not run on tokio", who.name()).into()),
        }
    }
}

/// redwire on the other runtimes, each client created on (and for glommio, bound to) its
/// runtime; every run blocks the bench's thread on that runtime, as the tokio runs do.
struct OtherRuntimes {
    async_std: Redwire<AsyncStd>,
    smol: Redwire<Smol>,
    glommio: glommio::LocalExecutor,
    glommio_client: Redwire<Glommio>,
}

impl OtherRuntimes {
    fn connect(url: &str) -> Result<Self> {
        let config = client_core::Config::from_url(url)?;
        let async_std =
            async_std::task::block_on(client_async_std::Client::connect(config.clone()))?;
        let smol = smol::block_on(client_async_std::smol::Client::connect(config.clone()))?;
        let glommio = client_glommio::executor()?;
        let glommio_client = glommio.run(client_glommio::Client::connect(config))?;
        Ok(Self {
            async_std: Redwire(async_std),
            smol: Redwire(smol),
            glommio,
            glommio_client: Redwire(glommio_client),
        })
    }

    fn run(&self, who: Who, scenario: Scenario, sizes: Sizes) -> Result<Sample> {
        match who {
            Who::RedwireAsyncStd => {
                async_std::task::block_on(run_scenario(self.async_std.clone(), scenario, sizes))
            }
            Who::RedwireSmol => smol::block_on(run_scenario(self.smol.clone(), scenario, sizes)),
            Who::RedwireGlommio => {
                self.glommio
                    .run(run_scenario(self.glommio_client.clone(), scenario, sizes))
            }
            _ => Err(format!("{} runs on tokio", who.name()).into()),
        }
    }
}

struct Args {
    host: String,
    port: u16,
    rounds: usize,
    quick: bool,
    out: Option<String>,
    redis_benchmark: String,
    /// `--only NAME,...`: the clients to run (for profiling one of them); all by default.
    only: Option<Vec<String>>,
    /// `--scenario NAME,...` (`seq`, `concurrent`, `pipeline`, `large`, `concurrent-mt`).
    scenarios: Option<Vec<String>>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        host: "127.0.0.1".to_owned(),
        port: 7490,
        rounds: 5,
        quick: false,
        out: None,
        redis_benchmark: "redis-benchmark".to_owned(),
        only: None,
        scenarios: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse()?,
            "--rounds" => args.rounds = value()?.parse()?,
            "--quick" => args.quick = true,
            "--out" => args.out = Some(value()?),
            "--redis-benchmark" => args.redis_benchmark = value()?,
            "--only" => args.only = Some(value()?.split(',').map(String::from).collect()),
            "--scenario" => {
                args.scenarios = Some(value()?.split(',').map(String::from).collect());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(args)
}

impl Args {
    fn client_selected(&self, who: Who) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == who.name()))
    }

    fn scenario_selected(&self, scenario: Scenario) -> bool {
        self.scenarios
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == scenario.name()))
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let sizes = Sizes::new(args.quick);
    let url = format!("redis://{}:{}", args.host, args.port);
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The same, but each worker first lets itself run on every CPU: `cargo xtask bench` pins
    // the bench to CPU 0, so the workers of `multi` share it; these share both with the server.
    let multi_two_cpus = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(allow_every_cpu)
        .enable_all()
        .build()?;
    let current = Clients::connect(current, &url)?;
    let multi = Clients::connect(multi, &url)?;
    let multi_two_cpus = Clients::connect(multi_two_cpus, &url)?;
    let others = OtherRuntimes::connect(&url)?;
    let mut server = ServerStats::connect(&args.host, args.port)?;
    // One sample of `who` in `scenario`: `None` when it does not run there.
    let addr = format!("{}:{}", args.host, args.port);
    let run = |who: Who, scenario: Scenario, sizes: Sizes| -> Result<Option<Sample>> {
        if who == Who::BareTokioTasks {
            if scenario != Scenario::Concurrent {
                return Ok(None);
            }
            return bare::run_tasks(&addr, sizes.concurrent_ops, &current.runtime).map(Some);
        }
        if let Some(how) = who.bare() {
            let ops = match scenario {
                Scenario::Seq => sizes.seq_ops,
                Scenario::Large => sizes.large_ops,
                Scenario::Pipeline => sizes.pipeline_ops,
                Scenario::Concurrent => sizes.concurrent_ops,
                _ => return Ok(None),
            };
            return bare::run(how, &addr, scenario, ops, &current.runtime).map(Some);
        }
        if who.other_runtime() {
            if scenario.multi_thread() {
                return Ok(None);
            }
            return others.run(who, scenario, sizes).map(Some);
        }
        let clients = match scenario {
            Scenario::ConcurrentMt => &multi,
            Scenario::ConcurrentMtTwoCpus => &multi_two_cpus,
            _ => &current,
        };
        clients.run(who, scenario, sizes).map(Some)
    };
    let have_rb = Process::new(&args.redis_benchmark)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_rb {
        eprintln!(
            "bench: {} not found; its column stays empty",
            args.redis_benchmark
        );
    }

    // Warm-up: every client, every scenario, a tenth of the quick size.
    let warm = Sizes {
        seq_ops: sizes.seq_ops / 10,
        concurrent_ops: (sizes.concurrent_ops / 10).max(TASKS * 2),
        pipeline_ops: (sizes.pipeline_ops / 10).max(BATCH),
        large_ops: (sizes.large_ops / 10).max(2),
    };
    for scenario in Scenario::ALL {
        if !args.scenario_selected(scenario) {
            continue;
        }
        for who in Who::ALL {
            if who != Who::RedisBenchmark && args.client_selected(who) {
                run(who, scenario, warm)?;
            }
        }
    }

    // samples[scenario][who] = one sample per round
    let mut samples = vec![vec![Vec::<Sample>::new(); Who::ALL.len()]; Scenario::ALL.len()];
    let started = Instant::now();
    for round in 0..args.rounds {
        for (s, scenario) in Scenario::ALL.into_iter().enumerate() {
            if !args.scenario_selected(scenario) {
                continue;
            }
            for k in 0..Who::ALL.len() {
                let who = Who::ALL[(k + round) % Who::ALL.len()];
                if !args.client_selected(who) {
                    continue;
                }
                let reads = server.reads()?;
                let sample = if who == Who::RedisBenchmark {
                    if !have_rb {
                        continue;
                    }
                    match redis_benchmark_sample(
                        &args.redis_benchmark,
                        &args.host,
                        args.port,
                        scenario,
                        sizes,
                    )? {
                        Some(sample) => sample,
                        None => continue,
                    }
                } else {
                    match run(who, scenario, sizes)? {
                        Some(sample) => sample,
                        None => continue,
                    }
                };
                // Less the read of the `INFO` that took the first count.
                let reads = server.reads()?.saturating_sub(reads + 1).max(1);
                let sample = Sample {
                    commands_per_read: Some(scenario.commands(sizes) as f64 / reads as f64),
                    round,
                    ..sample
                };
                eprintln!(
                    "round {}/{} {:<14} {:<16} {:>12.0} ops/s {:>9.1} MB/s p50 {:>7} µs cpu {:>6.2} µs/op",
                    round + 1,
                    args.rounds,
                    format!("{scenario:?}"),
                    who.name(),
                    sample.ops_per_s,
                    sample.mb_per_s,
                    sample.p50_us.map_or("-".to_owned(), |v| format!("{v:.1}")),
                    sample.cpu_us_per_op,
                );
                samples[s][who as usize].push(sample);
            }
        }
    }
    let elapsed = started.elapsed();

    let table = render(&samples, &args, sizes, elapsed);
    println!("{table}");
    if let Some(out) = &args.out {
        if let Some(parent) = std::path::Path::new(out).parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, &table)?;
        eprintln!("bench: wrote {out}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The report.

#[derive(Clone, Copy)]
enum Metric {
    OpsPerS,
    MbPerS,
    P50,
    P99,
    Mean,
    Cpu,
    CommandsPerRead,
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Self::OpsPerS => "ops/s ↑",
            Self::MbPerS => "MB/s ↑",
            Self::P50 => "p50 µs ↓",
            Self::P99 => "p99 µs ↓",
            Self::Mean => "mean µs ↓",
            Self::Cpu => "client CPU µs/op ↓",
            Self::CommandsPerRead => "commands per server read ↑",
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Self::OpsPerS | Self::MbPerS | Self::CommandsPerRead)
    }

    fn get(self, s: &Sample) -> Option<f64> {
        match self {
            Self::OpsPerS => Some(s.ops_per_s),
            Self::MbPerS => Some(s.mb_per_s),
            Self::P50 => s.p50_us,
            Self::P99 => s.p99_us,
            Self::Mean => s.mean_us,
            Self::Cpu => Some(s.cpu_us_per_op),
            Self::CommandsPerRead => s.commands_per_read,
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Self::OpsPerS => format!("{v:.0}"),
            Self::MbPerS => format!("{v:.0}"),
            Self::P50 | Self::P99 | Self::Mean => format!("{v:.1}"),
            Self::Cpu => format!("{v:.2}"),
            Self::CommandsPerRead => format!("{v:.1}"),
        }
    }
}

/// The metrics a scenario's rows report.
fn metrics_of(scenario: Scenario) -> &'static [Metric] {
    match scenario {
        Scenario::Seq => &[
            Metric::OpsPerS,
            Metric::P50,
            Metric::Mean,
            Metric::P99,
            Metric::Cpu,
        ],
        Scenario::Large => &[Metric::MbPerS, Metric::P50, Metric::Mean, Metric::Cpu],
        Scenario::Pipeline => &[Metric::OpsPerS, Metric::Cpu],
        Scenario::Concurrent | Scenario::ConcurrentMt | Scenario::ConcurrentMtTwoCpus => {
            &[Metric::OpsPerS, Metric::Cpu, Metric::CommandsPerRead]
        }
    }
}

/// The median of one metric over a client's rounds.
fn median_of(runs: &[Sample], metric: Metric) -> Option<f64> {
    let mut values: Vec<f64> = runs.iter().filter_map(|r| metric.get(r)).collect();
    (!values.is_empty()).then(|| median(&mut values))
}

/// Each round's `runs ÷ others` for one metric (the best of `others` in that round), over
/// the rounds in which `runs` and at least one of `others` ran: the median, the lowest and the
/// highest. A slow spell of the host that lasts a round slows every client in it, so these
/// move less than the ratio of the medians; how far they spread says how much the host moved.
fn round_ratios(runs: &[Sample], others: &[&[Sample]], metric: Metric) -> Option<[f64; 3]> {
    let mut ratios: Vec<f64> = runs
        .iter()
        .filter_map(|sample| {
            let value = metric.get(sample)?;
            let best = others
                .iter()
                .filter_map(|other| other.iter().find(|o| o.round == sample.round))
                .filter_map(|o| metric.get(o))
                .reduce(|a, b| {
                    if metric.higher_is_better() {
                        a.max(b)
                    } else {
                        a.min(b)
                    }
                })?;
            (best > 0.0).then(|| value / best)
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    // `median` sorts them: the first and the last are then the lowest and the highest.
    let middle = median(&mut ratios);
    Some([middle, ratios[0], ratios[ratios.len() - 1]])
}

/// A cell for [`round_ratios`]' result: the median, then the lowest and highest in brackets.
fn bracket(ratios: Option<[f64; 3]>) -> String {
    ratios.map_or("n/a".to_owned(), |[middle, low, high]| {
        format!("{middle:.2}× ({low:.2}–{high:.2})")
    })
}

/// One table row: the scenario, the metric, each value, each `a ÷ b` ratio, then `more` cells
/// already formatted.
fn write_row(
    out: &mut String,
    scenario: Scenario,
    metric: Metric,
    values: &[Option<f64>],
    ratios: &[(Option<f64>, Option<f64>)],
    more: &[String],
) {
    let _ = write!(out, "| {} | {} |", scenario.title(), metric.label());
    for value in values {
        let cell = value.map_or("n/a".to_owned(), |v| metric.format(v));
        let _ = write!(out, " {cell} |");
    }
    for ratio in ratios {
        let cell = match *ratio {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "n/a".to_owned(),
        };
        let _ = write!(out, " {cell} |");
    }
    for cell in more {
        let _ = write!(out, " {cell} |");
    }
    let _ = writeln!(out);
}

/// The main table's ratios again, taken within each round (see [`round_ratios`]).
fn write_round_ratios(out: &mut String, samples: &[Vec<Vec<Sample>>]) {
    let _ = writeln!(
        out,
        "\nThe same ratios taken within each round: redwire ÷ the other client in the same round, \
         the median over the rounds and, in brackets, the lowest and highest. Where the brackets \
         are wide the host's speed moved during the run, and no median above decides much:\n"
    );
    let _ = writeln!(
        out,
        "| scenario | metric | redwire ÷ best of fred/redis-rs | redwire ÷ redis-benchmark | redwire ÷ bare tokio |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: |");
    for (s, scenario) in Scenario::ALL.into_iter().enumerate() {
        let of = |who: Who| samples[s][who as usize].as_slice();
        for &metric in metrics_of(scenario) {
            let cells = [
                round_ratios(of(Who::Redwire), &[of(Who::Fred), of(Who::RedisRs)], metric),
                round_ratios(of(Who::Redwire), &[of(Who::RedisBenchmark)], metric),
                round_ratios(of(Who::Redwire), &[of(Who::BareTokio)], metric),
            ];
            let _ = write!(out, "| {} | {} |", scenario.title(), metric.label());
            for cell in cells {
                let _ = write!(out, " {} |", bracket(cell));
            }
            let _ = writeln!(out);
        }
    }
}

fn render(samples: &[Vec<Vec<Sample>>], args: &Args, sizes: Sizes, elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Medians of {} rounds ({}; {:.0} s of measurement). Ops per run: seq {}, concurrent {}, \
         pipeline {}, large {}. ↑ higher is better, ↓ lower is better; the ratios are \
         redwire ÷ the other, for every metric.\n",
        args.rounds,
        if args.quick { "--quick" } else { "full size" },
        elapsed.as_secs_f64(),
        sizes.seq_ops,
        sizes.concurrent_ops,
        sizes.pipeline_ops,
        sizes.large_ops,
    );
    let _ = writeln!(
        out,
        "| scenario | metric | redwire | fred | redis-rs | redis-benchmark | redwire ÷ best of fred/redis-rs | redwire ÷ redis-benchmark |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (s, scenario) in Scenario::ALL.into_iter().enumerate() {
        for metric in metrics_of(scenario) {
            let medians: Vec<Option<f64>> = samples[s]
                .iter()
                .map(|runs| median_of(runs, *metric))
                .collect();
            let best = match (medians[1], medians[2]) {
                (Some(a), Some(b)) => Some(if metric.higher_is_better() {
                    a.max(b)
                } else {
                    a.min(b)
                }),
                (a, b) => a.or(b),
            };
            let ratios = [(medians[0], best), (medians[0], medians[3])];
            write_row(&mut out, scenario, *metric, &medians[..4], &ratios, &[]);
        }
    }
    write_round_ratios(&mut out, samples);
    let _ = writeln!(
        out,
        "\nredwire on each runtime, the same scenarios in the same rounds (the ratios are the \
         runtime ÷ tokio; async-std and smol use their global executors, glommio one executor \
         on the bench's thread):\n"
    );
    let _ = writeln!(
        out,
        "| scenario | metric | tokio | async-std | smol | glommio | async-std ÷ tokio | smol ÷ tokio | glommio ÷ tokio |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let runtimes = [
        Who::Redwire,
        Who::RedwireAsyncStd,
        Who::RedwireSmol,
        Who::RedwireGlommio,
    ];
    for (s, scenario) in Scenario::ALL.into_iter().enumerate() {
        if scenario.multi_thread() {
            continue;
        }
        for metric in metrics_of(scenario) {
            let medians: Vec<Option<f64>> = runtimes
                .iter()
                .map(|who| median_of(&samples[s][*who as usize], *metric))
                .collect();
            let ratios = [
                (medians[1], medians[0]),
                (medians[2], medians[0]),
                (medians[3], medians[0]),
            ];
            write_row(&mut out, scenario, *metric, &medians, &ratios, &[]);
        }
    }
    let _ = writeln!(
        out,
        "\nThe scenarios without a client library, in the same rounds: the same commands on one bare \
         socket, through a tokio `TcpStream`, a blocking `std` one, and epoll with the socket \
         registered once or, as `redis-benchmark` does, after each write (the ratios are each \
         ÷ redis-benchmark):\n"
    );
    let _ = writeln!(
        out,
        "| scenario | metric | redwire | bare tokio | bare blocking | bare epoll | bare epoll re-registered | redis-benchmark | redwire ÷ rb | tokio ÷ rb | blocking ÷ rb | epoll ÷ rb | re-registered ÷ rb |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let floor = [
        Who::Redwire,
        Who::BareTokio,
        Who::BareBlocking,
        Who::BareEpoll,
        Who::BareEpollReregistered,
        Who::RedisBenchmark,
    ];
    for scenario in [
        Scenario::Seq,
        Scenario::Large,
        Scenario::Pipeline,
        Scenario::Concurrent,
    ] {
        let metrics: &[Metric] = match scenario {
            Scenario::Large => &[Metric::MbPerS, Metric::P50, Metric::Mean, Metric::Cpu],
            Scenario::Seq => &[Metric::OpsPerS, Metric::P50, Metric::Mean, Metric::Cpu],
            Scenario::Pipeline => &[Metric::OpsPerS, Metric::Cpu],
            _ => &[Metric::OpsPerS, Metric::Cpu, Metric::CommandsPerRead],
        };
        for &metric in metrics {
            let medians: Vec<Option<f64>> = floor
                .iter()
                .map(|who| median_of(&samples[scenario as usize][*who as usize], metric))
                .collect();
            let ratios: Vec<_> = medians[..5].iter().map(|m| (*m, medians[5])).collect();
            write_row(&mut out, scenario, metric, &medians, &ratios, &[]);
        }
    }
    write_task_floor(&mut out, samples);
    out
}

/// The concurrent scenario beside the least a tokio client that gives each request a task of
/// its own can do (`bare::run_tasks`): how much of redwire's CPU per operation is its own work
/// and how much any such client pays here, and what that leaves of the target (half of the
/// faster peer's CPU per operation).
fn write_task_floor(out: &mut String, samples: &[Vec<Vec<Sample>>]) {
    let _ = writeln!(
        out,
        "\nThe concurrent scenario beside a bare client of 64 tokio tasks (each task's command \
         appended to a shared buffer under a lock, one writer and one reader task, each reply \
         checked and handed to its task in order; nothing else) and the bare lock-step loop \
         (one batch of every task's command, no tasks), in the same rounds:\n"
    );
    let _ = writeln!(
        out,
        "| scenario | metric | redwire | bare tokio tasks | bare tokio | redis-rs | redwire ÷ redis-rs | tasks ÷ redis-rs | redwire ÷ tasks | redwire ÷ tasks, per round |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let scenario = Scenario::Concurrent;
    let of = |who: Who| samples[scenario as usize][who as usize].as_slice();
    let who = [
        Who::Redwire,
        Who::BareTokioTasks,
        Who::BareTokio,
        Who::RedisRs,
    ];
    for metric in [Metric::OpsPerS, Metric::Cpu, Metric::CommandsPerRead] {
        let medians: Vec<Option<f64>> = who.iter().map(|who| median_of(of(*who), metric)).collect();
        let ratios = [
            (medians[0], medians[3]),
            (medians[1], medians[3]),
            (medians[0], medians[1]),
        ];
        // The ratio that a change to redwire's request path moves, also taken within each
        // round, so that the host's drift between rounds cancels.
        let per_round = bracket(round_ratios(
            of(Who::Redwire),
            &[of(Who::BareTokioTasks)],
            metric,
        ));
        write_row(out, scenario, metric, &medians, &ratios, &[per_round]);
    }
}
