//! What callers submit ([`Request`]) and what the core keeps about it until it completes.

use std::time::{Duration, Instant};

use resp_core::{Frame, SendBuffer};

use crate::client::FanIn;
use crate::command::Command;
use crate::config::ServerAddr;
use crate::event::{ConnId, Reply, RequestId};

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
    /// What few requests set, out of line: a request then fits in 120 bytes, which moves
    /// (from the caller's future to the core, several times) with a few vector stores, where
    /// 184 bytes took a call into `memcpy` each time.
    pub(crate) options: Option<Box<Options>>,
}

/// A request's own timeout and where it must go, when it has any of them.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) timeout: Option<Duration>,
    pub(crate) conn: Option<ConnId>,
    pub(crate) server: Option<ServerAddr>,
    pub(crate) slot: Option<u16>,
    /// The `n`th shard of the topology (for [`ClusterScan`](crate::ClusterScan)'s first
    /// request, before any topology is known).
    pub(crate) shard: Option<u32>,
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
            options: None,
        }
    }

    /// Several commands sent together, answered in order by [`Reply::Pipeline`].
    pub fn pipeline(commands: Vec<Command>) -> Self {
        Self {
            body: Body::Pipeline(commands),
            options: None,
        }
    }

    /// Several commands run atomically with `MULTI`/`EXEC`; completes with `EXEC`'s reply.
    pub fn transaction(commands: Vec<Command>) -> Self {
        Self {
            body: Body::Transaction(commands),
            options: None,
        }
    }

    /// Overrides the configured command timeout for this request. Blocking commands still get
    /// their block time added.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options_mut().timeout = Some(timeout);
        self
    }

    /// Pins the request to a dedicated connection from `open_dedicated`.
    pub fn on(mut self, conn: ConnId) -> Self {
        self.options_mut().conn = Some(conn);
        self
    }

    /// Sends the request to the cluster node at `server` (on its shared connection) instead of
    /// where its keys would route it: for per-node commands such as `SCAN` over a cluster,
    /// `INFO` or `CLUSTER` subcommands. Outside cluster mode, only the configured server is
    /// accepted.
    pub fn to_server(mut self, server: ServerAddr) -> Self {
        self.options_mut().server = Some(server);
        self
    }

    /// Sends the request to the cluster node that owns `slot` (as if its commands had a key
    /// there), wherever that node is after a failover or resharding: for per-shard commands
    /// such as `SCAN`. Outside cluster mode it changes nothing.
    pub fn to_slot(mut self, slot: u16) -> Self {
        self.options_mut().slot = Some(slot);
        self
    }

    /// The options, created empty on first use.
    pub(crate) fn options_mut(&mut self) -> &mut Options {
        self.options.get_or_insert_with(Box::default)
    }

    /// The options, or none set.
    pub(crate) fn options(&self) -> &Options {
        const NONE: &Options = &Options {
            timeout: None,
            conn: None,
            server: None,
            slot: None,
            shard: None,
        };
        self.options.as_deref().unwrap_or(NONE)
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

/// Whom a request's completion goes to.
#[derive(Debug)]
pub(crate) enum Owner {
    /// The application, through [`Event::Response`](crate::Event::Response).
    Caller,
    /// A request the cluster router split: the result goes into the parent's reply.
    Child { parent: RequestId, dest: Dest },
    /// The core's own topology read.
    Refresh,
    /// The core's own Sentinel query.
    Sentinel(crate::client::SentinelQuery),
}

/// Where a child request's replies go in its parent: one target per reply of the child.
#[derive(Debug)]
pub(crate) struct Dest(pub(crate) Vec<Target>);

/// Where one reply of a child request goes in its parent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// It is the parent's reply `n`.
    Whole(u32),
    /// It is part `part` of the parent's fanned-out command `index`.
    Part { index: u32, part: u32 },
}

/// Where the cluster router sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Not decided yet (no topology, or not looked at).
    Unplanned,
    /// The owner of this slot (or one of its replicas, for reads).
    Slot(u16),
    /// The primary of the `n`th shard, once a topology is known.
    Shard(u32),
    /// Any node.
    Any,
    /// This node.
    Node(usize),
    /// Split into child requests; the request itself is never sent.
    Split,
}

/// A request between submit and completion.
#[derive(Debug)]
pub(crate) struct RequestState {
    pub(crate) body: Body,
    pub(crate) pinned: Option<ConnId>,
    pub(crate) phase: Phase,
    pub(crate) owner: Owner,
    pub(crate) route: Route,
    /// Whether a replica may answer (every command only reads).
    pub(crate) read_only: bool,
    /// The last write went with `ASKING` (a `NOSCRIPT` fallback needs it too).
    pub(crate) asking: bool,
    /// `MOVED`/`ASK`/`TRYAGAIN`/`CLUSTERDOWN` answers so far.
    pub(crate) redirects: u32,
    /// Whether any of its bytes (or a part's, for a split request) were written to a
    /// connection, in any attempt: it may have run.
    pub(crate) written: bool,
    /// What only a redirected, refused or split request needs (see [`Detour`]).
    pub(crate) detour: Option<Box<Detour>>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) timeout: Duration,
    pub(crate) started: Instant,
    pub(crate) retries: u32,
    /// The node it was last written to, or queued at when hooks are installed: for hooks.
    pub(crate) node: Option<usize>,
    /// Replies collected so far, in command order (for pipelines and transactions).
    pub(crate) replies: Replies,
    /// `NOSCRIPT` fallbacks sent and not answered yet.
    pub(crate) fallbacks_pending: u32,
    pub(crate) retry_safe: bool,
}

/// The parts of a request that only the cluster's redirections, refusals and splits fill
/// in, out of line: a request that never meets them allocates none of it, and its state is
/// 144 bytes smaller to build, move into the slab and drop.
#[derive(Debug, Default)]
pub(crate) struct Detour {
    /// Send `ASKING` first, to this node, on the next write only.
    pub(crate) ask: Option<usize>,
    /// The nodes the redirections came from.
    pub(crate) hops: Vec<usize>,
    /// The refusal (`CLUSTERDOWN`, `TRYAGAIN`, ...) whose backoff it waits out before its
    /// next attempt; cleared when that attempt is written.
    pub(crate) refused: Option<String>,
    /// A transaction that a cluster node refused to queue (it answers `EXECABORT`): the
    /// redirection to follow once `EXEC`'s reply is in.
    pub(crate) tx_redirect: Option<Frame>,
    /// Children of a split request.
    pub(crate) children: Vec<RequestId>,
    /// Parts of fanned-out commands, by the index of the command.
    pub(crate) fan_ins: Vec<(u32, FanIn)>,
}

/// The detour of a request that has none.
const NO_DETOUR: &Detour = &Detour {
    ask: None,
    hops: Vec::new(),
    refused: None,
    tx_redirect: None,
    children: Vec::new(),
    fan_ins: Vec::new(),
};

#[derive(Debug)]
pub(crate) enum Replies {
    Single(Option<Frame>),
    /// Every reply so far arrived in order (one connection answers in order): the first
    /// `frames.len()` of the `usize` expected. They become the caller's reply as they are.
    InOrder(Vec<Frame>, usize),
    /// By position, with how many are still missing: a split pipeline's replies arrive in any
    /// order.
    Batch(Vec<Option<Frame>>, usize),
}

impl Replies {
    /// No reply yet, with room for every reply `body` gets.
    fn for_body(body: &Body) -> Self {
        if let Body::Single(_) = body {
            return Self::Single(None);
        }
        let n = body.expected_replies();
        Self::InOrder(Vec::with_capacity(n), n)
    }
}

impl RequestState {
    pub(crate) fn new(request: Request, now: Instant, default_timeout: Duration) -> Self {
        // One pass over the commands (this runs for every request): whether all may be sent
        // again, whether all only read, and how much longer than the timeout their replies may
        // take. A blocking command may legitimately hold its reply back for its block time;
        // one that blocks without limit (`None`) leaves the request no deadline at all.
        let transaction = matches!(request.body, Body::Transaction(_));
        let (mut retry_safe, mut read_only) = (!transaction, !transaction);
        let mut blocked = Some(Duration::ZERO);
        for command in request.body.commands() {
            // Each stays false once one command makes it so, without asking the rest.
            retry_safe = retry_safe && command.is_retry_safe();
            read_only = read_only && command.is_read_only();
            if let Some(block) = command.block_time() {
                blocked = blocked.zip(block).map(|(sum, block)| sum + block);
            }
        }
        let options = request.options();
        let (base, pinned) = (options.timeout.unwrap_or(default_timeout), options.conn);
        let timeout = blocked.map(|blocked| base + blocked);
        let replies = Replies::for_body(&request.body);
        Self {
            body: request.body,
            pinned,
            phase: Phase::Queued,
            owner: Owner::Caller,
            route: Route::Unplanned,
            read_only,
            asking: false,
            redirects: 0,
            written: false,
            detour: None,
            deadline: timeout.map(|timeout| now + timeout),
            timeout: timeout.unwrap_or(base),
            started: now,
            retries: 0,
            node: None,
            fallbacks_pending: 0,
            retry_safe,
            replies,
        }
    }

    /// Its detour, empty if it has none.
    pub(crate) fn detour(&self) -> &Detour {
        self.detour.as_deref().unwrap_or(NO_DETOUR)
    }

    /// Its detour, created empty on first use.
    pub(crate) fn detour_mut(&mut self) -> &mut Detour {
        self.detour.get_or_insert_with(Box::default)
    }

    /// Its child requests, if it was split.
    pub(crate) fn children(&self) -> &[RequestId] {
        &self.detour().children
    }

    /// A request the core makes itself (a split part, a redirected command, a topology read):
    /// no deadline of its own, owned by `owner`.
    pub(crate) fn internal(body: Body, owner: Owner, route: Route, now: Instant) -> Self {
        let mut state = Self::new(
            Request {
                body,
                options: None,
            },
            now,
            Duration::ZERO,
        );
        state.deadline = None;
        state.owner = owner;
        state.route = route;
        state
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
        self.body.expected_replies()
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
    #[inline]
    pub(crate) fn store(&mut self, index: usize, frame: Frame) {
        match &mut self.replies {
            Replies::Single(slot) => *slot = Some(frame),
            Replies::InOrder(frames, n) if index == frames.len() && index < *n => {
                frames.push(frame);
            }
            Replies::InOrder(frames, _) if index < frames.len() => frames[index] = frame,
            Replies::InOrder(..) => self.store_out_of_order(index, frame),
            Replies::Batch(frames, missing) => {
                if let Some(slot) = frames.get_mut(index) {
                    if slot.is_none() {
                        *missing -= 1;
                    }
                    *slot = Some(frame);
                }
            }
        }
    }

    /// Stores the reply to the `index`th command if it is the next in order and not the
    /// last one, so that storing it cannot complete the request; gives the frame back
    /// otherwise.
    #[inline]
    pub(crate) fn store_before_last(&mut self, index: usize, frame: Frame) -> Result<(), Frame> {
        match &mut self.replies {
            Replies::InOrder(frames, n) if index == frames.len() && index + 1 < *n => {
                frames.push(frame);
                Ok(())
            }
            _ => Err(frame),
        }
    }

    /// A reply ahead of its turn (parts of a split request answer in any order): the replies
    /// are kept by position from now on.
    #[cold]
    fn store_out_of_order(&mut self, index: usize, frame: Frame) {
        if let Replies::InOrder(frames, n) = &mut self.replies {
            let n = *n;
            let mut slots: Vec<Option<Frame>> =
                std::mem::take(frames).into_iter().map(Some).collect();
            let missing = n - slots.len();
            slots.resize_with(n, || None);
            self.replies = Replies::Batch(slots, missing);
        }
        self.store(index, frame);
    }

    /// Whether every reply has arrived.
    #[inline]
    pub(crate) fn is_complete(&self) -> bool {
        self.fallbacks_pending == 0
            && match &self.replies {
                Replies::Single(slot) => slot.is_some(),
                Replies::InOrder(frames, n) => frames.len() == *n,
                Replies::Batch(_, missing) => *missing == 0,
            }
    }

    /// Forgets replies from an attempt that a connection failure cut short.
    pub(crate) fn reset_replies(&mut self) {
        self.fallbacks_pending = 0;
        if let Some(detour) = &mut self.detour {
            detour.tx_redirect = None;
        }
        self.replies = Replies::for_body(&self.body);
    }

    /// The caller's result. For a transaction, `EXEC`'s reply; if `MULTI` or queuing failed
    /// (the server then answers `EXEC` with `EXECABORT`), that error reply.
    pub(crate) fn take_reply(&mut self) -> Reply {
        match std::mem::replace(&mut self.replies, Replies::Single(None)) {
            Replies::Single(frame) => Reply::Single(frame.unwrap_or(Frame::Null)),
            Replies::InOrder(mut frames, n) => {
                // Complete when taken, so this pads nothing; it matches `Batch` if not.
                frames.resize_with(n, || Frame::Null);
                match self.body {
                    Body::Transaction(_) => Reply::Single(frames.pop().unwrap_or(Frame::Null)),
                    _ => Reply::Pipeline(frames),
                }
            }
            Replies::Batch(frames, _) => {
                let mut frames = frames.into_iter().map(|f| f.unwrap_or(Frame::Null));
                match self.body {
                    Body::Transaction(_) => {
                        Reply::Single(frames.next_back().unwrap_or(Frame::Null))
                    }
                    _ => Reply::Pipeline(frames.collect()),
                }
            }
        }
    }
}

impl Body {
    /// Replies the server sends for this body: one per command, plus `MULTI`'s and `EXEC`'s
    /// for a transaction.
    fn expected_replies(&self) -> usize {
        match self {
            Self::Single(_) => 1,
            Self::Pipeline(commands) => commands.len(),
            Self::Transaction(commands) => commands.len() + 2,
        }
    }

    pub(crate) fn commands(&self) -> &[Command] {
        match self {
            Self::Single(command) => std::slice::from_ref(command),
            Self::Pipeline(commands) | Self::Transaction(commands) => commands,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::cmd;

    /// The texts of a completed pipeline's replies.
    fn texts(mut state: RequestState) -> Vec<Vec<u8>> {
        let Reply::Pipeline(frames) = state.take_reply() else {
            panic!("a pipeline's reply")
        };
        frames
            .iter()
            .map(|f| f.as_bytes().expect("a string reply").to_vec())
            .collect()
    }

    fn pipeline(n: usize) -> RequestState {
        let commands = (0..n).map(|i| cmd("GET").key(format!("k{i}"))).collect();
        // Any instant will do: no deadline is checked.
        let now = crate::sim::Clock::new().now();
        RequestState::new(Request::pipeline(commands), now, Duration::from_secs(1))
    }

    fn bulk(text: &str) -> Frame {
        Frame::BulkString(bytes::Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn a_request_stays_small_enough_to_move_without_memcpy() {
        // It moves from the caller's future through the driver into the core: past 128 bytes
        // each move is a call into `memcpy`.
        assert!(size_of::<Request>() <= 128, "{}", size_of::<Request>());
        let options = Request::from(cmd("GET").key("k"))
            .timeout(Duration::from_millis(5))
            .to_slot(7);
        assert_eq!(options.options().timeout, Some(Duration::from_millis(5)));
        assert_eq!(options.options().slot, Some(7));
        assert!(
            Request::from(cmd("GET")).options.is_none(),
            "nothing set, nothing boxed"
        );
    }

    #[test]
    fn what_only_the_cluster_needs_is_kept_out_of_a_request_state() {
        // Every request's state is built, moved into the slab and dropped.
        assert!(
            size_of::<RequestState>() <= 304,
            "{}",
            size_of::<RequestState>()
        );
        let state = pipeline(2);
        assert!(state.detour.is_none());
        assert!(state.children().is_empty() && state.detour().hops.is_empty());
    }

    #[test]
    fn replies_in_order_become_the_pipeline_reply_and_out_of_order_ones_keep_their_places() {
        let mut state = pipeline(3);
        for (i, t) in ["a", "b", "c"].into_iter().enumerate() {
            assert!(!state.is_complete());
            state.store(i, bulk(t));
        }
        assert!(state.is_complete());
        assert_eq!(texts(state), [b"a", b"b", b"c"]);

        // Parts of a split request: 0, then 2, then 1 (stored twice: counted once).
        let mut state = pipeline(3);
        state.store(0, bulk("a"));
        state.store(2, bulk("c"));
        assert!(!state.is_complete());
        state.store(1, bulk("b0"));
        state.store(1, bulk("b"));
        state.store(7, bulk("out of range"));
        assert!(state.is_complete());
        assert_eq!(texts(state), [b"a", b"b", b"c"]);

        // A reply stored again in order replaces the first; the count is unchanged.
        let mut state = pipeline(2);
        state.store(0, bulk("x"));
        state.store(0, bulk("a"));
        assert!(!state.is_complete());
        state.store(1, bulk("b"));
        assert!(state.is_complete());
    }
}
