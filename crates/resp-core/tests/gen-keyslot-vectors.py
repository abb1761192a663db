#!/usr/bin/env python3
"""Regenerates keyslot-vectors.txt by asking a real redis-server for CLUSTER KEYSLOT.

Usage: python3 crates/resp-core/tests/gen-keyslot-vectors.py   (needs redis-server on PATH)

It starts a throwaway cluster-enabled server on 127.0.0.1:7399 in a temp dir, asks it for the
slot of a fixed, seeded set of keys (plain words, hash-tag edge cases, random binary keys), and
writes one '<slot> <key as hex>' line per key. The Rust test compares slot() with every line.
"""
import os, random, socket, subprocess, tempfile, time

PORT = 7399
HERE = os.path.dirname(os.path.abspath(__file__))

def keys():
    fixed = [b"", b"foo", b"bar", b"hello", b"123456789", b"user:1000", b"{user1000}.following",
             b"{user1000}.followers", b"foo{}{bar}", b"foo{{bar}}zap", b"foo{bar}{zap}", b"{}",
             b"{", b"}", b"}{", b"{a}", b"a{b}c", b"{{}}", b"\x00", b"\xff\xfe{\x01}"]
    rng = random.Random(20261121)
    alphabet = b"{}ab:\x00\xff" + bytes(range(32, 127))
    extra = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(200)]
    return fixed + extra

def command(sock, *args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    sock.sendall(out)
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += sock.recv(4096)
    if not reply.startswith(b":"):
        raise SystemExit(f"unexpected reply {reply!r}")
    return int(reply[1:-2])

def main():
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1",
                                   "--cluster-enabled", "yes", "--save", "", "--dir", tmp],
                                  stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    sock = socket.create_connection(("127.0.0.1", PORT))
                    break
                except OSError:
                    time.sleep(0.05)
            version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                     text=True).stdout.split()[2]
            lines = [f"# CLUSTER KEYSLOT answers from redis-server {version}, written by",
                     "# gen-keyslot-vectors.py in this folder: '<slot> <key as hex>'."]
            for key in keys():
                lines.append(f"{command(sock, b'CLUSTER', b'KEYSLOT', key)} {key.hex()}")
            with open(os.path.join(HERE, "keyslot-vectors.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
        finally:
            server.terminate()
            server.wait()

main()
