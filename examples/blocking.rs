//! Drives redwire's sans-IO core from a plain blocking `std::net` loop: no async runtime, no
//! threads. This is the whole contract between the core and an I/O layer, in one file; an
//! embedded event loop (mio, epoll, a game loop) does the same.
//!
//! Run it with `REDWIRE_URL=redis://127.0.0.1:7400 cargo run -p redwire-examples --example
//! blocking` against any server (`cargo xtask up standalone` starts one).

use std::error::Error;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use client_core::{
    Client, Config, ConnId, Event, Reply, Request, RequestId, SendBuffer, ServerAddr, cmd,
};

/// The socket the core asked for, and the buffers the adapter owns.
struct Socket {
    conn: ConnId,
    stream: TcpStream,
    input: BytesMut,
    output: SendBuffer,
}

/// Runs the core until request `id` completes, doing whatever I/O it asks for.
fn run_until(
    core: &mut Client,
    socket: &mut Option<Socket>,
    id: RequestId,
) -> Result<Reply, Box<dyn Error>> {
    loop {
        // 1. Drain events: dial, hang up, transmit, complete.
        while let Some(event) = core.poll_event() {
            match event {
                Event::Connect {
                    conn,
                    server: ServerAddr::Tcp { host, port },
                    ..
                } => match TcpStream::connect((host.as_str(), port)) {
                    Ok(stream) => {
                        stream.set_nodelay(true)?;
                        let (input, output) =
                            (BytesMut::with_capacity(16 * 1024), SendBuffer::new());
                        *socket = Some(Socket {
                            conn,
                            stream,
                            input,
                            output,
                        });
                        core.handle_connected(conn, Instant::now());
                    }
                    Err(e) => core.handle_connect_failed(conn, &e.to_string(), Instant::now()),
                },
                Event::Connect { conn, .. } => {
                    core.handle_connect_failed(conn, "this example dials TCP only", Instant::now());
                }
                Event::Disconnect { conn } => {
                    if socket.as_ref().is_some_and(|s| s.conn == conn) {
                        *socket = None;
                    }
                }
                Event::Transmit { conn } => {
                    if let Some(s) = socket.as_mut().filter(|s| s.conn == conn)
                        && core.poll_transmit(conn, &mut s.output)
                    {
                        while s.output.has_remaining() {
                            let n = s.stream.write(s.output.chunk())?;
                            s.output.advance(n);
                        }
                    }
                }
                Event::Response { id: done, result } if done == id => return Ok(result?),
                Event::Response { .. } | Event::Push { .. } => {}
                other => println!("unhandled event {other:?}"),
            }
        }
        // 2. Wait for input, but no longer than the core's next deadline.
        let now = Instant::now();
        let wait = core
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now));
        let Some(s) = socket.as_mut() else {
            std::thread::sleep(wait.unwrap_or(Duration::from_millis(10)));
            core.handle_timeout(Instant::now());
            continue;
        };
        s.stream.set_read_timeout(Some(
            wait.unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(1)),
        ))?;
        let mut chunk = [0u8; 16 * 1024];
        match s.stream.read(&mut chunk) {
            Ok(0) => {
                let conn = s.conn;
                *socket = None;
                core.handle_closed(conn, "the server closed the connection", Instant::now());
            }
            Ok(n) => {
                s.input.extend_from_slice(&chunk[..n]);
                core.handle_input(s.conn, &mut s.input, Instant::now());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                let conn = s.conn;
                *socket = None;
                core.handle_closed(conn, &e.to_string(), Instant::now());
            }
        }
        // 3. Let the core act on whatever is due.
        core.handle_timeout(Instant::now());
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut core = Client::new(Config::from_url(&url)?);
    let mut socket = None;

    let mut call = |core: &mut Client, request: Request| -> Result<Reply, Box<dyn Error>> {
        let id = core.submit(request, Instant::now())?;
        run_until(core, &mut socket, id)
    };

    let reply = call(
        &mut core,
        cmd("SET")
            .key("redwire:blocking")
            .arg("no runtime needed")
            .into(),
    )?;
    println!("SET  -> {reply:?}");
    let value: String = call(&mut core, cmd("GET").key("redwire:blocking").into())?.into_value()?;
    println!("GET  -> {value}");

    // A pipeline: one submit, many replies, in order; one failing command fails alone.
    let batch = Request::pipeline(vec![
        cmd("INCR").key("redwire:n"),
        cmd("HSET").key("redwire:blocking").arg("f").arg("v"), // WRONGTYPE: the key is a string
        cmd("INCRBY").key("redwire:n").arg(10),
    ]);
    let Reply::Pipeline(replies) = call(&mut core, batch)? else {
        unreachable!("pipeline")
    };
    for reply in &replies {
        println!("PIPE -> {reply:?}");
    }

    // A transaction: MULTI/EXEC around the commands; the reply is EXEC's array.
    let tx = Request::transaction(vec![
        cmd("INCR").key("redwire:n"),
        cmd("GET").key("redwire:n"),
    ]);
    let (incremented, read): (i64, String) = call(&mut core, tx)?.into_value()?;
    println!("MULTI-> ({incremented}, {read})");

    call(
        &mut core,
        cmd("DEL").keys(["redwire:blocking", "redwire:n"]).into(),
    )?;
    Ok(())
}
