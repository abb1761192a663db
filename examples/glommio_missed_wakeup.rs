//! Shows, with glommio alone, the missed wake-up that keeps redwire's glommio adapter off
//! short preempt timers (see "Task queues" in `client-glommio`'s docs).
//!
//! Each round starts an executor on a new thread, as the test harness does, connects a
//! glommio `UnixStream` to `redis-server` and times 20 `PING` round trips. A 5 s timer task
//! bounds a missed wake-up, as a request's deadline does in the client: a stalled round takes
//! 5 s instead of a millisecond.
//!
//! Run it under CPU contention, which it needs to show anything:
//!
//! ```text
//! cargo xtask up standalone-unix
//! yes > /dev/null & yes > /dev/null &
//! cargo run -p redwire-examples --example glommio_missed_wakeup -- \
//!     target/redwire/standalone-unix/redis-unix/redis.sock 3000 short
//! kill %1 %2
//! ```
//!
//! The last argument picks the preempt timer: `short` runs the round in a task queue with
//! `Latency::Matters(1 ms)`, `default` in the executor's default queue (100 ms). On Linux
//! 6.18, `short` stalled about one round in 1,000, `default` none in 20,000.

use std::error::Error;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::{Latency, Shares};

/// A round slower than this counts as stalled.
const STALLED: Duration = Duration::from_millis(200);

fn main() {
    if let Err(error) = run() {
        eprintln!("glommio_missed_wakeup: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: glommio_missed_wakeup <redis unix socket> [rounds] [short|default]";
    let path = args.next().ok_or(usage)?;
    let rounds: usize = args.next().map_or(Ok(1000), |n| n.parse())?;
    let short = match args.next().as_deref() {
        None | Some("short") => true,
        Some("default") => false,
        Some(other) => return Err(format!("{other}: {usage}").into()),
    };
    let mut stalled = 0;
    for round in 0..rounds {
        let path = path.clone();
        let took = std::thread::spawn(move || one_round(&path, short))
            .join()
            .map_err(|_| "a round panicked")??;
        if took > STALLED {
            stalled += 1;
            println!("round {round}: 20 round trips took {took:?}");
        }
    }
    println!("stalled rounds: {stalled} of {rounds}");
    Ok(())
}

/// 20 `PING`s on a new executor and connection: how long they took.
fn one_round(path: &str, short: bool) -> Result<Duration, String> {
    let executor = client_glommio::executor().map_err(|e| e.to_string())?;
    executor.run(async move {
        let queue = if short {
            glommio::executor().create_task_queue(
                Shares::default(),
                Latency::Matters(Duration::from_millis(1)),
                "short",
            )
        } else {
            glommio::executor().current_task_queue()
        };
        let spawn_error = |e: glommio::GlommioError<()>| e.to_string();
        glommio::spawn_local_into(glommio::timer::sleep(Duration::from_secs(5)), queue)
            .map_err(spawn_error)?
            .detach();
        let path = path.to_owned();
        let pings = async move {
            let mut socket = glommio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| format!("connect to {path}: {e}"))?;
            let start = Instant::now();
            let mut reply = [0u8; 7];
            for _ in 0..20 {
                socket
                    .write_all(b"PING\r\n")
                    .await
                    .map_err(|e| e.to_string())?;
                socket
                    .read_exact(&mut reply)
                    .await
                    .map_err(|e| e.to_string())?;
                if &reply != b"+PONG\r\n" {
                    return Err(format!("unexpected reply {reply:?}"));
                }
            }
            Ok(start.elapsed())
        };
        glommio::spawn_local_into(pings, queue)
            .map_err(spawn_error)?
            .await
    })
}
