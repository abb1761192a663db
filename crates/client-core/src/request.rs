//! What callers submit ([`Request`]) and what the core keeps about it until it completes.

use std::time::{Duration, Instant};

use resp_core::{Frame, SendBuffer};

use crate::command::Command;
use crate::event::{ConnId, Reply};

/// One submission: a command, a pipeline or a transaction, with its options.
///
/// ```
/// use std::time::Duration;
/// use client_core::{Request, cmd};
/// let single = Request::from(cmd("GET").key("k"));
/// let batch = Request::pipeline(vec![cmd("INCR").key("a"), cmd("GET").key("a")])
///     .timeout(Duration::from_millis(200));
/// assert_eq!(batch.len(), 2);
/// # let _ = single;
/// ```
#[derive(Debug)]
pub struct Request {
    pub(crate) body: Body,
    pub(crate) timeout: Option<Duration>,
    pub(crate) conn: Option<ConnId>,
}

#[derive(Debug)]
pub(crate) enum Body {
    Single(Command),
    Pipeline(Vec<Command>),
    /// Sent as `MULTI`, the commands, `EXEC`; completes with `EXEC`'s reply.
    Transaction(Vec<Command>),
}

impl From<Command> for Request {
    fn from(command: Command) -> Self {
        Self::single(command)
    }
}

impl Request {
    /// One command.
    pub fn single(command: Command) -> Self {
        Self {
            body: Body::Single(command),
            timeout: None,
            conn: None,
        }
    }

    /// Several commands sent together, answered in order by [`Reply::Pipeline`].
    pub fn pipeline(commands: Vec<Command>) -> Self {
        Self {
            body: Body::Pipeline(commands),
            timeout: None,
            conn: None,
        }
    }

    /// Several commands run atomically with `MULTI`/`EXEC`; completes with `EXEC`'s reply.
    pub fn transaction(commands: Vec<Command>) -> Self {
        Self {
            body: Body::Transaction(commands),
            timeout: None,
            conn: None,
        }
    }

    /// Overrides the configured command timeout for this request. Blocking commands still get
    /// their block time added.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Pins the request to a dedicated connection from `open_dedicated`.
    pub fn on(mut self, conn: ConnId) -> Self {
        self.conn = Some(conn);
        self
    }

    /// How many commands the caller put in (`MULTI`/`EXEC` not counted).
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Single(_) => 1,
            Body::Pipeline(commands) | Body::Transaction(commands) => commands.len(),
        }
    }

    /// Whether there is no command at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a request waits or runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a usable connection.
    Queued,
    /// Written into a connection's output (maybe already handed to the adapter).
    Sent(ConnId),
}

/// A request between submit and completion.
#[derive(Debug)]
pub(crate) struct RequestState {
    pub(crate) body: Body,
    pub(crate) pinned: Option<ConnId>,
    pub(crate) phase: Phase,
    pub(crate) deadline: Option<Instant>,
    pub(crate) timeout: Duration,
    pub(crate) started: Instant,
    pub(crate) retries: u32,
    /// Replies collected so far, in command order (for pipelines and transactions).
    pub(crate) replies: Replies,
    /// `NOSCRIPT` fallbacks sent and not answered yet.
    pub(crate) fallbacks_pending: u32,
    pub(crate) retry_safe: bool,
}

#[derive(Debug)]
pub(crate) enum Replies {
    Single(Option<Frame>),
    Batch(Vec<Frame>),
}

impl RequestState {
    pub(crate) fn new(request: Request, now: Instant, default_timeout: Duration) -> Self {
        let commands = request.body.commands();
        let retry_safe = commands.iter().all(|c| c.is_retry_safe())
            && !matches!(request.body, Body::Transaction(_));
        let base = request.timeout.unwrap_or(default_timeout);
        // A blocking command may legitimately hold its reply back for its block time; one that
        // blocks without limit has no deadline at all.
        let mut deadline = Some(now + base);
        for block in commands.iter().filter_map(Command::block_time) {
            deadline = match block {
                Some(block) => deadline.map(|d| d + block),
                None => None,
            };
        }
        let replies = match request.body {
            Body::Single(_) => Replies::Single(None),
            _ => Replies::Batch(Vec::new()),
        };
        Self {
            body: request.body,
            pinned: request.conn,
            phase: Phase::Queued,
            deadline,
            timeout: deadline.map_or(base, |d| d - now),
            started: now,
            retries: 0,
            replies,
            fallbacks_pending: 0,
            retry_safe,
        }
    }

    /// The name hooks and errors use: the command, or `PIPELINE` / `MULTI`.
    pub(crate) fn operation(&self) -> &str {
        match &self.body {
            Body::Single(command) => command.name(),
            Body::Pipeline(_) => "PIPELINE",
            Body::Transaction(_) => "MULTI",
        }
    }

    /// Replies the connection must deliver for this request (fallbacks not counted).
    pub(crate) fn expected_replies(&self) -> usize {
        match &self.body {
            Body::Single(_) => 1,
            Body::Pipeline(commands) => commands.len(),
            Body::Transaction(commands) => commands.len() + 2,
        }
    }

    /// Writes the request into `out`.
    pub(crate) fn encode_into(&self, out: &mut SendBuffer) {
        match &self.body {
            Body::Single(command) => command.encode_into(out),
            Body::Pipeline(commands) => commands.iter().for_each(|c| c.encode_into(out)),
            Body::Transaction(commands) => {
                resp_core::encode_command(out.tail_mut(), ["MULTI"]);
                commands.iter().for_each(|c| c.encode_into(out));
                resp_core::encode_command(out.tail_mut(), ["EXEC"]);
            }
        }
    }

    /// The command whose reply is the `index`th of this request, if the caller wrote it
    /// (`MULTI` and `EXEC` are not).
    pub(crate) fn command_at(&self, index: usize) -> Option<&Command> {
        match &self.body {
            Body::Single(command) => (index == 0).then_some(command),
            Body::Pipeline(commands) => commands.get(index),
            Body::Transaction(commands) => index.checked_sub(1).and_then(|i| commands.get(i)),
        }
    }

    /// Stores the reply to the `index`th command.
    pub(crate) fn store(&mut self, index: usize, frame: Frame) {
        match &mut self.replies {
            Replies::Single(slot) => *slot = Some(frame),
            Replies::Batch(frames) => {
                if index < frames.len() {
                    frames[index] = frame;
                } else {
                    frames.push(frame);
                }
            }
        }
    }

    /// Whether every reply has arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.fallbacks_pending == 0
            && match &self.replies {
                Replies::Single(slot) => slot.is_some(),
                Replies::Batch(frames) => frames.len() == self.expected_replies(),
            }
    }

    /// Forgets replies from an attempt that a connection failure cut short.
    pub(crate) fn reset_replies(&mut self) {
        self.fallbacks_pending = 0;
        match &mut self.replies {
            Replies::Single(slot) => *slot = None,
            Replies::Batch(frames) => frames.clear(),
        }
    }

    /// The caller's result. For a transaction, `EXEC`'s reply; if `MULTI` or queuing failed
    /// (the server then answers `EXEC` with `EXECABORT`), that error reply.
    pub(crate) fn take_reply(&mut self) -> Reply {
        match std::mem::replace(&mut self.replies, Replies::Single(None)) {
            Replies::Single(frame) => Reply::Single(frame.unwrap_or(Frame::Null)),
            Replies::Batch(mut frames) => match self.body {
                Body::Transaction(_) => Reply::Single(frames.pop().unwrap_or(Frame::Null)),
                _ => Reply::Pipeline(frames),
            },
        }
    }
}

impl Body {
    fn commands(&self) -> &[Command] {
        match self {
            Self::Single(command) => std::slice::from_ref(command),
            Self::Pipeline(commands) | Self::Transaction(commands) => commands,
        }
    }
}
