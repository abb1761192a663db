//! Quick start: talk to a real Redis or Valkey server with resp-core over a plain blocking
//! socket.
//!
//! redwire's client crates (the sans-IO core and its runtime adapters) are still being built;
//! until they land, this example shows the layer they stand on: commands encoded into a
//! `BytesMut`, replies split off the read buffer as zero-copy frames, RESP3 negotiated with
//! HELLO.
//!
//! Run it with `cargo xtask demo`, which starts a server and sets `REDWIRE_URL`, or against
//! your own server: `REDWIRE_URL=redis://127.0.0.1:6379 cargo run -p redwire-examples --example
//! quickstart`.

use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::BytesMut;
use resp_core::{Decoder, Frame, encode_command};

/// One blocking connection: write a command, read frames until one is complete.
struct Connection {
    socket: TcpStream,
    decoder: Decoder,
    input: BytesMut,
    output: BytesMut,
}

impl Connection {
    fn call<const N: usize>(&mut self, args: [&str; N]) -> Result<Frame, Box<dyn Error>> {
        encode_command(&mut self.output, args);
        self.socket.write_all(&self.output)?;
        self.output.clear();
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.input)? {
                return Ok(frame);
            }
            let mut chunk = [0u8; 4096];
            let n = self.socket.read(&mut chunk)?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("REDWIRE_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("REDWIRE_URL={url}: this example speaks plain redis:// only"))?;
    let socket = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    socket.set_nodelay(true)?;
    let mut conn = Connection {
        socket,
        decoder: Decoder::new(),
        input: BytesMut::new(),
        output: BytesMut::new(),
    };

    // HELLO 3 switches the connection to RESP3; its reply is a map describing the server.
    match conn.call(["HELLO", "3", "SETNAME", "redwire-quickstart"])? {
        Frame::Map(info) => {
            for (key, value) in info {
                let (Some(key), Some(value)) = (key.as_bytes(), value.as_bytes()) else {
                    continue;
                };
                if matches!(&key[..], b"server" | b"version" | b"mode") {
                    println!(
                        "{:>8}: {}",
                        String::from_utf8_lossy(key),
                        String::from_utf8_lossy(value)
                    );
                }
            }
        }
        other => {
            return Err(format!("HELLO 3 answered {other:?}; is this Redis 6 or newer?").into());
        }
    }

    println!(
        "SET greeting -> {:?}",
        conn.call(["SET", "redwire:greeting", "hello from redwire"])?
    );
    println!(
        "GET greeting -> {:?}",
        conn.call(["GET", "redwire:greeting"])?
    );
    println!(
        "INCR counter -> {:?}",
        conn.call(["INCR", "redwire:counter"])?
    );
    println!(
        "HSET user    -> {:?}",
        conn.call(["HSET", "redwire:user", "name", "ada", "lang", "rust"])?
    );
    // In RESP3 a hash comes back as a map, not a flat array.
    println!(
        "HGETALL user -> {:?}",
        conn.call(["HGETALL", "redwire:user"])?
    );
    println!(
        "DEL          -> {:?}",
        conn.call(["DEL", "redwire:greeting", "redwire:counter", "redwire:user"])?
    );
    Ok(())
}
