//! Commands: a name and arguments, encoded once, with what routing and retries need to know.

mod arg;
mod encoded;
mod spec;
#[rustfmt::skip]
mod table;

use std::time::Duration;

use bytes::Bytes;
use resp_core::SendBuffer;

pub use self::arg::{Arg, ToArg, ToArgs};
use self::encoded::Encoded;
pub(crate) use self::spec::lookup;
pub use self::spec::{
    BeginSearch, CommandFlags, CommandSpec, FindKeys, KeySpec, RequestPolicy, ResponsePolicy,
};

/// Arguments of at least this many bytes given as [`Bytes`] are kept by reference and handed
/// to the socket without a copy. Smaller ones are copied into the command's buffer.
const SHARE_THRESHOLD: usize = SendBuffer::DEFAULT_COPY_THRESHOLD;

/// One command: its name and arguments, already encoded as RESP bulk strings.
///
/// Build one with [`cmd`] (or [`Command::new`]) and chain arguments; mark the arguments that
/// are keys with [`key`](Self::key) so that a cluster can route the command by its slot.
/// The typed methods of [`Commands`](crate::Commands) build these for you.
///
/// ```
/// use client_core::cmd;
/// let c = cmd("SET").key("user:1").arg("ada").arg("EX").arg(60);
/// assert_eq!(c.name(), "SET");
/// assert_eq!(c.arg_count(), 5);
/// assert!(c.spec().unwrap().flags.contains(client_core::CommandFlags::WRITE));
/// ```
#[derive(Clone)]
pub struct Command {
    /// The arguments (name first) as RESP bulk strings, except the shared ones (see
    /// [`Extra::shared`]).
    encoded: Encoded,
    spec: Option<&'static CommandSpec>,
    /// What only some commands need, boxed: every builder call moves the command, and a small
    /// one moves with a few register stores instead of a call into `memcpy`.
    extra: Option<Box<Extra>>,
    argc: u32,
    /// The argument index of the first marked key ([`NO_KEY`] if none); the others' are in
    /// [`Extra::more_keys`]. Their slots are hashed only when a cluster asks, so a standalone
    /// client never pays for CRC16.
    first_key: u32,
    /// The first argument's length: it starts right after its `$<len>\r\n` header.
    name_len: u32,
    retry_safe_override: Option<bool>,
}

/// The longest array header a command can have: `*`, a `u32`'s ten digits and CRLF.
const ARRAY_HEADER_MAX: usize = 13;

/// [`Command::first_key`] of a command without keys.
const NO_KEY: u32 = u32::MAX;

/// The parts of a [`Command`] that most commands leave empty.
#[derive(Clone, Default)]
struct Extra {
    /// Large arguments kept by reference: (offset in `encoded` where they belong, the bytes).
    shared: Vec<(usize, Bytes)>,
    /// The argument indices of the keys after the first.
    more_keys: Vec<u32>,
    /// What to send instead when the server answers `NOSCRIPT` (`EVAL` for an `EVALSHA`).
    noscript_fallback: Option<Command>,
}

/// Starts a command with its name: `cmd("GET").key("k")`.
pub fn cmd(name: &str) -> Command {
    Command::new(name)
}

impl Command {
    /// A command with no arguments yet. The name is looked up in the command table, which
    /// tells whether it reads or writes, where its keys are and whether it blocks.
    pub fn new(name: &str) -> Self {
        Self::with_spec(name, lookup(name.as_bytes()))
    }

    /// A command whose table entry the caller already looked up: the typed methods look each
    /// name up once and keep the entry.
    #[inline]
    pub(crate) fn with_spec(name: &str, spec: Option<&'static CommandSpec>) -> Self {
        let mut command = Self::BLANK;
        // Written where the command already is: bytes written into a local and then moved
        // were read back before they had reached memory (a store-forwarding stall that was
        // most of this function's time).
        command.start(name, spec);
        command
    }

    /// A command with no name yet, for [`start`](Self::start) to give it one where it stays.
    /// A constant, so that it is copied into place from read-only memory: built on the stack
    /// and then moved, its fields were read back before their stores had reached memory.
    pub(crate) const BLANK: Self = Self {
        encoded: Encoded::new(),
        spec: None,
        extra: None,
        argc: 1,
        first_key: NO_KEY,
        name_len: 0,
        retry_safe_override: None,
    };

    /// Names a [`BLANK`](Self::BLANK) command.
    #[inline]
    pub(crate) fn start(&mut self, name: &str, spec: Option<&'static CommandSpec>) {
        debug_assert!(self.encoded.is_empty(), "a command is named once");
        self.spec = spec;
        self.name_len = u32::try_from(name.len()).unwrap_or(u32::MAX);
        self.encoded.push_bulk(name.as_bytes());
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl ToArg) -> Self {
        self.push_arg(arg.to_arg());
        self
    }

    /// Appends a key: an argument that routes the command to the key's cluster slot.
    pub fn key(mut self, key: impl ToArg) -> Self {
        self.push_key(key.to_arg());
        self
    }

    /// Appends several arguments (a slice, a `Vec`, a tuple, ...).
    #[allow(
        clippy::needless_pass_by_value,
        reason = "builder methods take what they are given"
    )]
    pub fn args(mut self, args: impl ToArgs) -> Self {
        self.push_args(&args);
        self
    }

    /// Appends several keys.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "builder methods take what they are given"
    )]
    pub fn keys(mut self, keys: impl ToArgs) -> Self {
        self.push_keys(&keys);
        self
    }

    /// Appends several arguments in place.
    pub(crate) fn push_args(&mut self, args: &impl ToArgs) {
        args.write_args(&mut |arg| self.push_arg(arg));
    }

    /// Appends several keys in place.
    pub(crate) fn push_keys(&mut self, keys: &impl ToArgs) {
        keys.write_args(&mut |key| self.push_key(key));
    }

    /// Declares whether the command may be sent again after a connection dropped before its
    /// reply arrived. By default only commands the table knows as neither writing nor
    /// replicating are (reads, `PING`, ...); declare a write you know to be idempotent here.
    pub fn retry_safe(mut self, safe: bool) -> Self {
        self.retry_safe_override = Some(safe);
        self
    }

    /// Sets the command to send instead if the server answers this one with `NOSCRIPT`: an
    /// `EVALSHA` falls back to the `EVAL` of the same script, which also loads it. The core
    /// sends the fallback on the same connection, once, and the caller sees only its reply.
    ///
    /// The fallback goes out when the `NOSCRIPT` reply arrives, after whatever was already
    /// queued behind the original: in a pipeline, replies stay in order but the script's side
    /// effects may land after those of the commands that follow it. Load the script first
    /// (`SCRIPT LOAD`) where that order matters.
    pub fn on_noscript(mut self, fallback: Self) -> Self {
        self.extra_mut().noscript_fallback = Some(fallback);
        self
    }

    /// The `NOSCRIPT` fallback, if one was set.
    pub fn noscript_fallback(&self) -> Option<&Self> {
        self.extra.as_ref()?.noscript_fallback.as_ref()
    }

    /// Appends one argument in place.
    #[inline]
    pub fn push_arg(&mut self, arg: Arg<'_>) {
        // Borrowed bytes (strings, keys, small values) are most arguments: copied where the
        // builder runs, the other kinds out of line, so that the common case costs no call.
        if let Arg::Bytes(bytes) = arg {
            self.argc += 1;
            self.encoded.push_bulk(bytes);
        } else {
            self.push_other_arg(arg);
        }
    }

    /// [`push_arg`](Self::push_arg) for the arguments that are not borrowed bytes.
    #[inline(never)]
    fn push_other_arg(&mut self, arg: Arg<'_>) {
        self.argc += 1;
        match arg {
            Arg::Shared(bytes) if bytes.len() >= SHARE_THRESHOLD => {
                self.encoded.push_bulk_header(bytes.len());
                let at = self.encoded.len();
                self.extra_mut().shared.push((at, bytes));
                self.encoded.push_raw(b"\r\n");
            }
            other => other.with_bytes(|bytes| self.encoded.push_bulk(bytes)),
        }
    }

    /// Appends one key in place.
    #[inline]
    pub fn push_key(&mut self, key: Arg<'_>) {
        // The index the argument is about to get (the name is 0).
        let index = self.argc;
        if self.first_key == NO_KEY {
            self.first_key = index;
        } else {
            self.extra_mut().more_keys.push(index);
        }
        self.push_arg(key);
    }

    /// The command's name as given, e.g. `"GET"`.
    pub fn name(&self) -> &str {
        // The name came in as a &str and its bytes are stored unchanged.
        std::str::from_utf8(self.name_bytes()).unwrap_or("?")
    }

    /// The name's bytes, without the UTF-8 check of [`name`](Self::name) (hot paths).
    fn name_bytes(&self) -> &[u8] {
        let len = self.name_len as usize;
        let at = resp_core::bulk_header_len(len);
        &self.encoded[at..at + len]
    }

    /// How many arguments, the name included.
    pub fn arg_count(&self) -> usize {
        self.argc as usize
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The arguments kept by reference, with their offsets in `encoded`.
    fn shared(&self) -> &[(usize, Bytes)] {
        self.extra.as_ref().map_or(&[], |extra| &extra.shared)
    }

    /// What the command table knows of this command, if anything. For a container command
    /// such as `CONFIG`, the subcommand named by the first argument (`config|get`) when the
    /// table has it.
    pub fn spec(&self) -> Option<&'static CommandSpec> {
        let spec = self.spec?;
        if spec.subcommands.is_empty() {
            return Some(spec);
        }
        Some(
            self.arg_bytes(1)
                .and_then(|sub| spec.subcommand(sub))
                .unwrap_or(spec),
        )
    }

    /// The cluster slot of the first key, if keys were marked.
    pub fn slot(&self) -> Option<u16> {
        self.key_slots().next()
    }

    /// Whether the marked keys hash to more than one slot.
    pub fn is_cross_slot(&self) -> bool {
        let mut slots = self.key_slots();
        let Some(first) = slots.next() else {
            return false;
        };
        slots.any(|slot| slot != first)
    }

    /// The slot of each marked key, in order, found in one pass over the arguments (a key
    /// looked up by index each would make a many-key `MSET` quadratic).
    fn key_slots(&self) -> impl Iterator<Item = u16> + '_ {
        let mut keys = (self.first_key != NO_KEY)
            .then_some(self.first_key)
            .into_iter()
            .chain(
                self.extra
                    .iter()
                    .flat_map(|extra| extra.more_keys.iter().copied()),
            )
            .peekable();
        let mut args = self.arg_bounds().zip(0u32..);
        std::iter::from_fn(move || {
            let key = *keys.peek()?;
            let ((start, end), _) = args.find(|&(_, index)| index == key)?;
            let _ = keys.next();
            Some(match self.shared().iter().find(|(at, _)| *at == start) {
                Some((_, bytes)) => resp_core::slot(bytes),
                None => resp_core::slot(&self.encoded[start..end]),
            })
        })
    }

    /// Whether the command may be sent again after its connection dropped with no reply.
    ///
    /// An explicit [`retry_safe`](Self::retry_safe) decides; otherwise the table does, and
    /// conservatively: `readonly` commands are safe, and so are commands that carry none of
    /// `write`, `may_replicate`, `pubsub`, `admin` or `blocking` and are not scripts or
    /// transaction control (servers before 7.2 flag neither `PUBLISH` nor `EVAL` as
    /// replicating, yet running them twice is visible). Unknown commands are not safe.
    pub fn is_retry_safe(&self) -> bool {
        self.retry_safe_override
            .unwrap_or_else(|| self.spec().is_some_and(spec_is_retry_safe))
    }

    /// Whether the command blocks on the server (`BLPOP`, `XREAD BLOCK`, `WAIT`, ...).
    pub fn is_blocking(&self) -> bool {
        self.block_time().is_some()
    }

    /// How long the server may hold the reply back: the block timeout of a blocking command,
    /// `Some(None)` when it blocks with no limit (a timeout of 0), `None` when it does not block.
    #[inline]
    pub fn block_time(&self) -> Option<Option<Duration>> {
        // Runs for every submitted command: most are ruled out here, inline, by one flag test
        // and the name's length. The server does not flag WAIT and WAITAOF as blocking, so
        // names of their lengths go on to be read.
        let flagged = self
            .spec
            .is_some_and(|s| s.flags.contains(CommandFlags::BLOCKING));
        if !flagged && !matches!(self.name_len, 4 | 7) {
            return None;
        }
        self.read_block_time(flagged)
    }

    /// [`block_time`](Self::block_time) of a command that may block.
    #[inline(never)]
    fn read_block_time(&self, flagged: bool) -> Option<Option<Duration>> {
        let waits = match self.name_len {
            4 => self.name_bytes().eq_ignore_ascii_case(b"WAIT"),
            7 => self.name_bytes().eq_ignore_ascii_case(b"WAITAOF"),
            _ => false,
        };
        if !flagged && !waits {
            return None;
        }
        let name = self.name_bytes();
        let arg = |i: usize| self.arg_bytes(i);
        let seconds = |i: usize| -> Option<Option<Duration>> {
            let text = std::str::from_utf8(arg(i)?).ok()?;
            let secs: f64 = text.parse().ok()?;
            Some((secs > 0.0).then(|| Duration::from_secs_f64(secs.min(1e9))))
        };
        let millis = |i: usize| -> Option<Option<Duration>> {
            let text = std::str::from_utf8(arg(i)?).ok()?;
            let ms: u64 = text.parse().ok()?;
            Some((ms > 0).then(|| Duration::from_millis(ms)))
        };
        let last = self.arg_count() - 1;
        if name.eq_ignore_ascii_case(b"BLPOP")
            || name.eq_ignore_ascii_case(b"BRPOP")
            || name.eq_ignore_ascii_case(b"BLMOVE")
            || name.eq_ignore_ascii_case(b"BRPOPLPUSH")
            || name.eq_ignore_ascii_case(b"BZPOPMIN")
            || name.eq_ignore_ascii_case(b"BZPOPMAX")
        {
            seconds(last)
        } else if name.eq_ignore_ascii_case(b"BLMPOP") || name.eq_ignore_ascii_case(b"BZMPOP") {
            seconds(1)
        } else if name.eq_ignore_ascii_case(b"WAIT") || name.eq_ignore_ascii_case(b"WAITAOF") {
            millis(last)
        } else if name.eq_ignore_ascii_case(b"XREAD") || name.eq_ignore_ascii_case(b"XREADGROUP") {
            // BLOCK <ms> comes before STREAMS; after STREAMS are keys and ids, which could be
            // named "BLOCK".
            (1..last)
                .take_while(|&i| !arg(i).is_some_and(|a| a.eq_ignore_ascii_case(b"STREAMS")))
                .find(|&i| arg(i).is_some_and(|a| a.eq_ignore_ascii_case(b"BLOCK")))
                .and_then(|i| millis(i + 1))
        } else {
            None
        }
    }

    /// The `index`th argument (0 is the name), unless it was kept by reference.
    pub fn arg_bytes(&self, index: usize) -> Option<&[u8]> {
        self.arg_bounds()
            .nth(index)
            .and_then(|(start, end)| self.encoded.get(start..end))
    }

    /// The whole command (name and arguments) as bulk strings, without the `*<argc>` header;
    /// `None` when an argument was kept by reference (large values). The client-side cache
    /// keys on it and skips such commands.
    pub(crate) fn encoded_args(&self) -> Option<&[u8]> {
        self.shared().is_empty().then_some(&self.encoded[..])
    }

    /// Calls `f` with each argument after the name, shared ones included.
    pub(crate) fn for_each_arg(&self, mut f: impl FnMut(&[u8])) {
        for (start, end) in self.arg_bounds().skip(1) {
            match self.shared().iter().find(|(at, _)| *at == start) {
                Some((_, bytes)) => f(bytes),
                None => f(&self.encoded[start..end]),
            }
        }
    }

    /// The `index`th argument, shared ones included (by reference).
    fn arg_value(&self, index: usize) -> Option<Arg<'_>> {
        let (start, end) = self.arg_bounds().nth(index)?;
        match self.shared().iter().find(|(at, _)| *at == start) {
            Some((_, bytes)) => Some(Arg::Shared(bytes.clone())),
            None => self.encoded.get(start..end).map(Arg::Bytes),
        }
    }

    /// Whether every key is only read, so that a replica may answer.
    pub fn is_read_only(&self) -> bool {
        self.spec()
            .is_some_and(|s| s.flags.contains(CommandFlags::READONLY))
    }

    /// For a command whose keys span slots and that the cluster may split (its request policy
    /// is `multi_shard`, with keys from one position to the end in groups of a key and its
    /// values: `MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`, ...): one command per slot,
    /// in order of first appearance, each with the indices of the key groups it took.
    pub(crate) fn split_by_slot(&self) -> Option<Vec<(u16, Self, Vec<u32>)>> {
        let spec = self.spec()?;
        if spec.request_policy != RequestPolicy::MultiShard || spec.key_specs.len() != 1 {
            return None;
        }
        let key_spec = &spec.key_specs[0];
        let (
            BeginSearch::Index(first),
            FindKeys::Range {
                last_key: -1,
                step,
                limit: 0,
            },
        ) = (&key_spec.begin_search, &key_spec.find_keys)
        else {
            return None;
        };
        let (first, step) = (usize::try_from(*first).ok()?, usize::try_from(*step).ok()?);
        let argc = self.arg_count();
        if first == 0 || step == 0 || !(argc - first).is_multiple_of(step) {
            return None;
        }
        let mut parts: Vec<(u16, Self, Vec<u32>)> = Vec::new();
        for (group, at) in (first..argc).step_by(step).enumerate() {
            let key = self.arg_value(at)?;
            let slot = key.with_bytes(resp_core::slot);
            let part = match parts.iter().position(|(s, _, _)| *s == slot) {
                Some(i) => i,
                None => {
                    let mut command = Self::new(self.name());
                    command.retry_safe_override = self.retry_safe_override;
                    for i in 1..first {
                        command.push_arg(self.arg_value(i)?);
                    }
                    parts.push((slot, command, Vec::new()));
                    parts.len() - 1
                }
            };
            let (_, command, groups) = &mut parts[part];
            command.push_key(key);
            for i in at + 1..at + step {
                command.push_arg(self.arg_value(i)?);
            }
            groups.push(group as u32);
        }
        Some(parts)
    }

    /// The (start, end) of each argument inside `encoded`; shared arguments get an empty range
    /// at their position.
    fn arg_bounds(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let buf = &self.encoded[..];
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= buf.len() {
                return None;
            }
            // `$<len>\r\n`: we wrote it, so it is well formed.
            let header_end = pos + memchr_crlf(&buf[pos..])?;
            let len: usize = std::str::from_utf8(&buf[pos + 1..header_end])
                .ok()?
                .parse()
                .ok()?;
            let start = header_end + 2;
            let shared = self.shared().iter().any(|(at, _)| *at == start);
            let end = if shared { start } else { start + len };
            pos = end + 2;
            Some((start, end))
        })
    }

    /// Writes the whole command, `*<argc>` header included, into `out`; shared arguments are
    /// queued by reference.
    pub fn encode_into(&self, out: &mut SendBuffer) {
        // Most commands share no argument: header and arguments after one reservation.
        if self.extra.is_none() {
            let tail = out.tail_mut();
            tail.reserve(ARRAY_HEADER_MAX + self.encoded.append_len());
            resp_core::write_array_len(tail, self.arg_count());
            self.encoded.append_to(tail);
            return;
        }
        out.push_array_len(self.arg_count());
        let mut from = 0;
        for (at, bytes) in self.shared() {
            out.tail_mut().extend_from_slice(&self.encoded[from..*at]);
            out.push_raw(bytes.clone());
            from = *at;
        }
        out.tail_mut().extend_from_slice(&self.encoded[from..]);
    }

    /// The encoded length of the whole command in bytes.
    pub fn encoded_len(&self) -> usize {
        let mut digits = itoa::Buffer::new();
        let header = 3 + digits.format(self.argc).len();
        header + self.encoded.len() + self.shared().iter().map(|(_, b)| b.len()).sum::<usize>()
    }
}

fn spec_is_retry_safe(spec: &CommandSpec) -> bool {
    let risky = CommandFlags::WRITE
        | CommandFlags::MAY_REPLICATE
        | CommandFlags::PUBSUB
        | CommandFlags::ADMIN
        | CommandFlags::BLOCKING;
    spec.flags.contains(CommandFlags::READONLY)
        || (!spec.flags.intersects(risky) && !matches!(spec.group, "scripting" | "transactions"))
}

fn memchr_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

impl std::fmt::Debug for Command {
    /// Shows the name and argument count only: arguments may hold secrets (`AUTH`, `HELLO`,
    /// `CONFIG SET requirepass`) or megabytes of data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name())
            .field("args", &(self.argc - 1))
            .field("slot", &self.slot())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Buf;

    use super::*;

    fn wire(c: &Command) -> Vec<u8> {
        let mut out = SendBuffer::new();
        c.encode_into(&mut out);
        assert_eq!(out.remaining(), c.encoded_len());
        let mut v = Vec::new();
        while out.has_remaining() {
            let n = out.chunk().len();
            v.extend_from_slice(out.chunk());
            out.advance(n);
        }
        v
    }

    #[test]
    fn encodes_as_an_array_of_bulk_strings() {
        let c = cmd("SET").key("k").arg(42).arg(1.5).arg(b"raw".as_slice());
        assert_eq!(
            wire(&c),
            b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n$3\r\n1.5\r\n$3\r\nraw\r\n"
        );
        assert_eq!(c.arg_bytes(2), Some(&b"42"[..]));
        assert_eq!(c.slot(), Some(resp_core::slot(b"k")));
    }

    #[test]
    fn headers_of_one_and_two_digits_frame_every_argument() {
        for argc in 1..=12 {
            let args: Vec<String> = (0..argc).map(|i| format!("a{i}")).collect();
            let c = cmd(&args[0]).args(&args[1..]);
            let mut want = bytes::BytesMut::new();
            resp_core::encode_command(&mut want, &args);
            assert_eq!(wire(&c), want, "{argc} arguments");
        }
    }

    #[test]
    fn large_shared_arguments_are_not_copied() {
        let value = Bytes::from(vec![b'x'; 100_000]);
        let c = cmd("SET").key("k").arg(value.clone()).arg("KEEPTTL");
        let mut out = SendBuffer::new();
        c.encode_into(&mut out);
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = out.chunks_vectored(&mut slices);
        assert!(
            slices[..n].iter().any(|s| s.as_ptr() == value.as_ptr()),
            "value was copied"
        );
        let bytes = wire(&c);
        assert!(bytes.ends_with(b"\r\n$7\r\nKEEPTTL\r\n"));
        assert_eq!(c.arg_bytes(3), Some(&b"KEEPTTL"[..]));
        assert_eq!(
            c.arg_bytes(2),
            Some(&b""[..]),
            "shared arguments are not readable here"
        );
    }

    #[test]
    fn cross_slot_keys_are_noticed() {
        assert!(!cmd("MGET").keys(["{a}1", "{a}2"]).is_cross_slot());
        assert!(cmd("MGET").keys(["a", "b"]).is_cross_slot());
        // Keys among other arguments, and a key large enough to be kept by reference.
        let big = Bytes::from(vec![b'k'; SHARE_THRESHOLD + 1]);
        let mset = cmd("MSET").key("{b}1").arg("v").key(big.clone()).arg("w");
        assert_eq!(mset.slot(), Some(resp_core::slot(b"{b}1")));
        assert!(mset.is_cross_slot());
        let same = cmd("MSET")
            .key(big.clone())
            .arg("v")
            .key(big.clone())
            .arg("w");
        assert_eq!(same.slot(), Some(resp_core::slot(&big)));
        assert!(!same.is_cross_slot());
        assert_eq!(cmd("PING").slot(), None);
        assert!(!cmd("PING").is_cross_slot());
    }

    #[test]
    fn multi_key_commands_split_per_slot_in_key_order() {
        let big = Bytes::from(vec![b'v'; 20_000]);
        let mset = cmd("MSET")
            .key("{a}1")
            .arg("x")
            .key("{b}1")
            .arg(big.clone())
            .key("{a}2")
            .arg("z");
        let parts = mset.split_by_slot().expect("MSET splits");
        assert_eq!(parts.len(), 2);
        let (slot, a, groups) = &parts[0];
        assert_eq!(*slot, resp_core::slot(b"{a}"));
        assert_eq!(groups, &[0, 2]);
        assert_eq!(
            wire(a),
            b"*5\r\n$4\r\nMSET\r\n$4\r\n{a}1\r\n$1\r\nx\r\n$4\r\n{a}2\r\n$1\r\nz\r\n"
        );
        let (_, b, groups) = &parts[1];
        assert_eq!(groups, &[1]);
        assert!(!b.is_cross_slot() && b.slot() == Some(resp_core::slot(b"{b}")));
        let mut out = SendBuffer::new();
        b.encode_into(&mut out);
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = out.chunks_vectored(&mut slices);
        assert!(
            slices[..n].iter().any(|s| s.as_ptr() == big.as_ptr()),
            "value copied"
        );
        assert_eq!(
            cmd("MGET")
                .keys(["a", "b", "c"])
                .split_by_slot()
                .unwrap()
                .len(),
            3
        );
        assert!(
            cmd("GET").key("a").split_by_slot().is_none(),
            "not multi_shard"
        );
        assert!(
            cmd("MSET").key("a").split_by_slot().is_none(),
            "a key without its value"
        );
    }

    #[test]
    fn retry_safety_comes_from_the_table() {
        assert!(cmd("GET").key("k").is_retry_safe());
        assert!(cmd("ping").is_retry_safe());
        assert!(!cmd("INCR").key("k").is_retry_safe());
        assert!(
            !cmd("PUBLISH").arg("ch").arg("m").is_retry_safe(),
            "a second publish is seen"
        );
        assert!(
            !cmd("EVAL").arg("return 1").arg(0).is_retry_safe(),
            "scripts may write"
        );
        assert!(cmd("EVAL_RO").arg("return 1").arg(0).is_retry_safe());
        assert!(
            !cmd("CONFIG").arg("GET").arg("x").is_retry_safe(),
            "admin: left to the caller"
        );
        assert!(
            !cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg("1")
                .is_retry_safe()
        );
        assert_eq!(cmd("config").arg("get").spec().unwrap().name, "config|get");
        assert!(
            !cmd("MODULE.UNKNOWN").is_retry_safe(),
            "unknown commands are not"
        );
        assert!(
            cmd("SET")
                .key("k")
                .arg("v")
                .retry_safe(true)
                .is_retry_safe()
        );
    }

    #[test]
    fn block_times_are_found_per_command() {
        let secs = |s: f64| Some(Some(Duration::from_secs_f64(s)));
        assert_eq!(
            cmd("BLPOP").keys(["a", "b"]).arg(2.5).block_time(),
            secs(2.5)
        );
        assert_eq!(
            cmd("BLPOP").key("a").arg(0).block_time(),
            Some(None),
            "0 blocks forever"
        );
        assert_eq!(
            cmd("BLMPOP")
                .arg(3)
                .arg(1)
                .key("a")
                .arg("LEFT")
                .block_time(),
            secs(3.0)
        );
        assert_eq!(
            cmd("WAIT").arg(1).arg(250).block_time(),
            Some(Some(Duration::from_millis(250)))
        );
        let xread = cmd("XREAD")
            .arg("COUNT")
            .arg(2)
            .arg("BLOCK")
            .arg(1500)
            .arg("STREAMS");
        assert_eq!(
            xread.key("s").arg("$").block_time(),
            Some(Some(Duration::from_millis(1500)))
        );
        let no_block = cmd("XREAD").arg("STREAMS").key("BLOCK").arg("0");
        assert_eq!(
            no_block.block_time(),
            None,
            "a stream named BLOCK is not an option"
        );
        assert_eq!(cmd("GET").key("k").block_time(), None);
        // Names of WAIT's and WAITAOF's lengths are read, in any case.
        assert_eq!(
            cmd("wait").arg(0).arg(0).block_time(),
            Some(None),
            "WAIT 0 blocks forever"
        );
        assert_eq!(
            cmd("WaitAof").arg(1).arg(0).arg(40).block_time(),
            Some(Some(Duration::from_millis(40)))
        );
        assert_eq!(cmd("PING").block_time(), None);
        assert_eq!(cmd("PUBLISH").arg("c").arg("m").block_time(), None);
    }

    #[test]
    fn a_command_stays_small_enough_to_move_without_memcpy() {
        // Each builder call (`cmd(..).key(..).arg(..)`) moves the command: keep it small.
        assert!(size_of::<Command>() <= 112, "{}", size_of::<Command>());
    }

    #[test]
    fn debug_output_hides_arguments() {
        let c = cmd("AUTH").arg("user").arg("hunter2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("AUTH"));
    }
}
