//! One connection's state: handshake, output waiting for the socket, and the FIFO of replies
//! it owes.

use std::collections::VecDeque;
use std::time::Instant;

use resp_core::{Decoder, Frame, SendBuffer};

use crate::command::{Command, cmd};
use crate::config::{Config, Protocol};
use crate::event::{ConnId, RequestId};
use crate::input::InputRoom;

/// What a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Shared by every request that is not pinned: requests are pipelined on it.
    Multiplexed,
    /// Owned by one caller (transactions with WATCH, blocking commands).
    Dedicated,
    /// Sentinel mode: subscribed to `+switch-master` on a sentinel; every frame after the
    /// handshake is a pub/sub frame the core reads itself.
    Watch,
    /// RESP2 pub/sub: carries a node's subscriptions and nothing else (a subscribed RESP2
    /// connection takes no other commands).
    Subscriber,
}

#[derive(Debug)]
pub(crate) enum ConnState {
    /// A dedicated cluster connection for a slot whose node is not known yet: dialled once
    /// the topology is read.
    Unresolved(Option<u16>),
    /// Waiting for the adapter to report the socket open.
    Connecting,
    /// Handshake commands sent; requests wait.
    Handshaking(Handshake),
    /// Requests flow.
    Ready,
}

/// Whose reply is next on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Waiter {
    /// The reply to command `index` of a request.
    Request { id: RequestId, index: u32 },
    /// The reply to the `NOSCRIPT` fallback of command `index`.
    Fallback { id: RequestId, index: u32 },
    /// A handshake step.
    Handshake(Step),
    /// A reply nobody needs (`ASKING`'s `+OK`).
    Discard,
    /// A pub/sub command (`SUBSCRIBE`, `SUNSUBSCRIBE`, ...): it takes one confirmation per
    /// channel, or one error reply.
    PubSub {
        seq: u64,
        kind: crate::pubsub::SubscriptionKind,
        unsubscribe: bool,
        remaining: u32,
    },
}

#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: ConnId,
    pub(crate) role: Role,
    /// The node (index in the client's node list) it connects to.
    pub(crate) node: usize,
    /// Cluster replica reads: send `READONLY` in the handshake (the node is a replica).
    pub(crate) read_only: bool,
    /// A connection to a sentinel: it authenticates with the sentinel credentials and
    /// selects no database.
    pub(crate) sentinel: bool,
    pub(crate) state: ConnState,
    /// Until the handshake completes: when to give up on this connection. The connect timeout
    /// covers dialling and the handshake alike, so a server that accepts the socket but never
    /// answers (paused, partitioned) cannot hold requests forever.
    pub(crate) setup_deadline: Option<Instant>,
    pub(crate) out: SendBuffer,
    pub(crate) decoder: Decoder,
    /// How the read buffer the adapter keeps for this connection grows.
    pub(crate) input_room: InputRoom,
    pub(crate) waiters: VecDeque<Waiter>,
    /// How many waiters at the back belong to bytes still in `out`, not yet handed to the
    /// adapter: if the connection fails, those requests were certainly not sent.
    pub(crate) unsent: usize,
    /// Requests pinned to this (dedicated) connection, waiting for its handshake.
    pub(crate) pinned_queue: VecDeque<RequestId>,
    pub(crate) last_input: Instant,
    /// Not read while a subscriber's buffer is full (`Overflow::Block`).
    pub(crate) paused: bool,
    /// The server accepted `CLIENT TRACKING ON` on this RESP3 connection: its reads may be
    /// cached, and its invalidation pushes keep them coherent.
    pub(crate) tracking: bool,
}

impl Connection {
    pub(crate) fn new(id: ConnId, role: Role, node: usize, config: &Config, now: Instant) -> Self {
        Self {
            id,
            role,
            node,
            read_only: false,
            sentinel: false,
            state: ConnState::Connecting,
            setup_deadline: Some(now + config.timeouts.connect),
            out: SendBuffer::new(),
            decoder: Decoder::with_limits(config.limits),
            input_room: InputRoom::default(),
            waiters: VecDeque::new(),
            unsent: 0,
            pinned_queue: VecDeque::new(),
            last_input: now,
            paused: false,
            tracking: false,
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.state, ConnState::Ready)
    }

    pub(crate) fn is_unresolved(&self) -> bool {
        matches!(self.state, ConnState::Unresolved(_))
    }

    /// Takes the waiter whose reply is next on the wire.
    #[inline]
    pub(crate) fn pop_waiter(&mut self) -> Option<Waiter> {
        let waiter = self.waiters.pop_front()?;
        if self.waiters.len() < self.unsent {
            // A reply to bytes we still hold would be impossible; stay consistent anyway.
            self.unsent = self.waiters.len();
        }
        Some(waiter)
    }

    /// Queues `command`'s bytes and the waiter for its reply. True when the output was empty,
    /// so the adapter must be told to transmit.
    pub(crate) fn push(&mut self, command: &Command, waiter: Waiter) -> bool {
        self.queue(|out| command.encode_into(out), [waiter])
    }

    /// Queues bytes that `encode` writes and the waiters for their replies, in wire order.
    /// True when the output was empty, so the adapter must be told to transmit.
    pub(crate) fn queue(
        &mut self,
        encode: impl FnOnce(&mut SendBuffer),
        waiters: impl IntoIterator<Item = Waiter>,
    ) -> bool {
        let was_empty = self.out.is_empty();
        encode(&mut self.out);
        let mut waiters = waiters.into_iter();
        if waiters.size_hint() == (1, Some(1)) {
            // The usual single command: one push is cheaper than `extend`'s setup.
            if let Some(waiter) = waiters.next() {
                self.waiters.push_back(waiter);
                self.unsent += 1;
            }
        } else {
            let before = self.waiters.len();
            self.waiters.extend(waiters);
            self.unsent += self.waiters.len() - before;
        }
        was_empty
    }
}

/// A handshake step, named after its command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Hello,
    Auth,
    SetName,
    Select,
    SetInfo,
    ReadOnly,
    Tracking,
}

impl Step {
    fn describe(self, config: &Config) -> String {
        match self {
            Self::Hello => "HELLO".into(),
            Self::Auth => "AUTH".into(),
            Self::SetName => "CLIENT SETNAME".into(),
            Self::Select => format!("SELECT {}", config.db),
            Self::SetInfo => "CLIENT SETINFO".into(),
            Self::ReadOnly => "READONLY".into(),
            Self::Tracking => "CLIENT TRACKING".into(),
        }
    }
}

/// Progress of one connection's handshake.
#[derive(Debug)]
pub(crate) struct Handshake {
    /// Replies still owed before the connection is ready.
    outstanding: u32,
}

/// How a handshake reply moves things on.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Keep waiting.
    Waiting,
    /// Every reply is in: the connection is ready.
    Ready,
    /// The server refused the credentials.
    AuthFailed(String),
    /// Another step failed.
    Failed { step: String, message: String },
}

impl Handshake {
    /// Queues the first handshake commands on `conn`.
    pub(crate) fn start(conn: &mut Connection, config: &Config) -> Self {
        let mut handshake = Self { outstanding: 0 };
        match config.protocol {
            Protocol::Resp3 => {
                let mut hello = cmd("HELLO").arg(3);
                if let Some(source) = credentials(conn, config) {
                    let credentials = source.current();
                    let user = credentials.username.as_deref().unwrap_or("default");
                    hello = hello
                        .arg("AUTH")
                        .arg(user)
                        .arg(credentials.password.as_str());
                }
                if let Some(name) = &config.client_name {
                    hello = hello.arg("SETNAME").arg(name.as_str());
                }
                handshake.send(conn, &hello, Step::Hello);
            }
            Protocol::Resp2 => handshake.send_rest(conn, config, true),
        }
        handshake
    }

    fn send(&mut self, conn: &mut Connection, command: &Command, step: Step) {
        let _ = conn.push(command, Waiter::Handshake(step));
        self.outstanding += 1;
    }

    /// Everything after `HELLO`: `AUTH` and `CLIENT SETNAME` too when `HELLO` did not do them.
    fn send_rest(&mut self, conn: &mut Connection, config: &Config, auth_and_name: bool) {
        if auth_and_name {
            if let Some(source) = credentials(conn, config) {
                let credentials = source.current();
                let mut auth = cmd("AUTH");
                if let Some(user) = &credentials.username {
                    auth = auth.arg(user.as_str());
                }
                self.send(conn, &auth.arg(credentials.password.as_str()), Step::Auth);
            }
            if let Some(name) = &config.client_name {
                let setname = cmd("CLIENT").arg("SETNAME").arg(name.as_str());
                self.send(conn, &setname, Step::SetName);
            }
        }
        if config.db != 0 && !conn.sentinel {
            self.send(conn, &cmd("SELECT").arg(config.db), Step::Select);
        }
        // Replica reads: a connection to a replica may serve reads of its shard's slots.
        // Only replicas get it: a primary demoted later must answer MOVED, not run commands
        // the table does not flag as writes (EVAL) as replica reads.
        if conn.read_only {
            self.send(conn, &cmd("READONLY"), Step::ReadOnly);
        }
        // Servers before 7.2 answer these with an error, which is ignored.
        let lib_name = cmd("CLIENT").arg("SETINFO").arg("LIB-NAME").arg("redwire");
        self.send(conn, &lib_name, Step::SetInfo);
        let lib_ver = cmd("CLIENT")
            .arg("SETINFO")
            .arg("LIB-VER")
            .arg(env!("CARGO_PKG_VERSION"));
        self.send(conn, &lib_ver, Step::SetInfo);
    }

    /// Client-side caching, on a connection that speaks RESP3 (`HELLO 3` succeeded): turns
    /// tracking on for the shared data connections, whose reads are cached. Not for sentinels,
    /// dedicated connections (their callers read and write around the cache) nor pub/sub
    /// ones. A refusal fails the handshake: a client configured to cache must not quietly
    /// serve reads that nothing invalidates.
    fn send_tracking(&mut self, conn: &mut Connection, config: &Config) {
        let Some(cache) = &config.cache else {
            return;
        };
        if conn.role == Role::Multiplexed && !conn.sentinel {
            self.send(conn, &cache.tracking_command(), Step::Tracking);
        }
    }

    /// Takes the reply to `step`.
    pub(crate) fn on_reply(
        &mut self,
        conn: &mut Connection,
        config: &Config,
        step: Step,
        frame: &Frame,
    ) -> Progress {
        self.outstanding -= 1;
        let error = frame.is_error().then(|| {
            frame
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        });
        match (step, error) {
            (Step::Hello, None) => {
                self.send_rest(conn, config, false);
                self.send_tracking(conn, config);
            }
            (Step::Tracking, None) => conn.tracking = true,
            (Step::Hello, Some(message)) => {
                let code = frame.error_code().unwrap_or_default();
                if is_auth_error(code) {
                    return Progress::AuthFailed(message);
                }
                if !(message.contains("unknown command") || code == b"NOPROTO") {
                    // Refused for another reason, e.g. a client name with a space.
                    return Progress::Failed {
                        step: step.describe(config),
                        message,
                    };
                }
                // A server without RESP3 (or without HELLO at all): speak RESP2.
                self.send_rest(conn, config, true);
            }
            (Step::Auth, Some(message)) => return Progress::AuthFailed(message),
            (Step::SetInfo, _) | (_, None) => {}
            (step, Some(message)) => {
                return Progress::Failed {
                    step: step.describe(config),
                    message,
                };
            }
        }
        if self.outstanding == 0 {
            Progress::Ready
        } else {
            Progress::Waiting
        }
    }
}

/// The credentials for `conn`: the sentinels' own for a connection to a sentinel.
fn credentials<'a>(
    conn: &Connection,
    config: &'a Config,
) -> Option<&'a crate::config::CredentialSource> {
    if conn.sentinel {
        config.sentinel.as_ref()?.credentials.as_ref()
    } else {
        config.credentials.as_ref()
    }
}

/// Whether an error code means the credentials were refused or are missing.
fn is_auth_error(code: &[u8]) -> bool {
    matches!(code, b"WRONGPASS" | b"NOAUTH" | b"NOPERM")
}
