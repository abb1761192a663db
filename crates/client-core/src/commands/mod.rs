//! The typed command API, written once for every executor.
//!
//! [`Commands`] has one required method, [`command`](Commands::command), which hands a built
//! [`Command`] to whatever executes it, and a provided method per Redis command. A client's
//! `Output` is a future of the reply; a pipeline's is the pipeline itself, so calls chain.
//!
//! Conventions shared by every method:
//!
//! * The caller picks the reply type: `client.get::<Option<String>>("k")`,
//!   `client.hgetall::<HashMap<String, String>>("h")`. Any [`FromValue`] type works, and the
//!   conversions read RESP2 and RESP3 replies alike (see [`crate::value`]).
//! * Keys are marked as keys, so that a cluster routes each command to its slot and notices
//!   commands whose keys span slots. Everything else is a plain argument.
//! * A parameter taking several values is any [`ToArgs`]: one value, an array, a `Vec`, or a
//!   tuple (field-value pairs are `[("f", "v"), ...]` or `("f", "v")`).
//! * An optional count or flag is an `Option` or `bool` parameter. A command with several
//!   options has a plain method and an `_options` one taking a builder, such as
//!   [`set_options`](Commands::set_options) with [`SetOptions`].
//! * Numbers keep the server's units, named in the parameter (`seconds`, `millis`), except
//!   block timeouts: those are a [`Duration`] for every blocking command, written as decimal
//!   seconds for `BLPOP` and its family and as milliseconds for `XREAD BLOCK` and `WAIT`, as
//!   the server reads them. [`Duration::ZERO`] blocks with no limit, as on the server; any
//!   other duration is rounded up to a whole millisecond, so it never becomes zero.
//! * `SELECT` and `SUBSCRIBE` have no typed method: the database is part of the client's
//!   configuration (a `SELECT` sent on a shared connection would change it under every other
//!   caller), and subscriptions are state the core owns.

mod hashes;
mod keys;
mod lists;
mod pubsub;
mod scripting;
mod server;
mod sets;
mod sorted_sets;
mod streams;
mod strings;

#[cfg(test)]
mod recorder;

use std::time::Duration;

use bytes::Bytes;

pub use self::keys::{ExpireCondition, ScanOptions};
pub use self::lists::{Direction, InsertPosition, LPosOptions};
pub use self::scripting::Script;
pub use self::server::FlushMode;
pub use self::sorted_sets::{Aggregate, MinMax, ZAddOptions, ZRangeOptions, ZStoreOptions};
pub use self::streams::{
    StreamTrim, XAddOptions, XAutoClaimOptions, XClaimOptions, XPendingOptions, XReadGroupOptions,
    XReadOptions,
};
pub use self::strings::{GetExExpiry, SetOptions};
use crate::command::{Command, CommandSpec, ToArg, ToArgs, lookup};
use crate::value::FromValue;

/// The command table's entry for a name written in the source, looked up once per call site
/// and kept in a `OnceLock`.
macro_rules! spec {
    ($name:literal) => {{
        static SPEC: std::sync::OnceLock<Option<&'static CommandSpec>> = std::sync::OnceLock::new();
        *SPEC.get_or_init(|| lookup($name.as_bytes()))
    }};
}

/// `cmd(name)` for a name written in the source, with its arguments:
/// `known!("SET", key(key), arg(value))` builds what `cmd("SET").key(key).arg(value)` does.
///
/// The command table is searched once per call site, not once per command built (the search
/// was 3% of a pipeline's client CPU). The arguments are written where the command already
/// is: a chain of by-value builder calls moves the command (112 bytes) at every step, and a
/// move right after the narrow stores of an argument's bytes reads them back before they
/// reach memory (a store-forwarding stall). Built in place, a pipeline's commands take less
/// user CPU for the same instruction count (docs/benchmarks.md). The argument kinds are those
/// of [`in_place!`].
macro_rules! known {
    ($name:literal $(, $kind:ident ( $($arg:expr),* ))* $(,)?) => {{
        #[allow(unused_mut, reason = "commands without arguments")]
        let mut command = Command::with_spec($name, spec!($name));
        $( in_place!(command, $kind($($arg),*)); )*
        command
    }};
}

/// A typed method's whole body: `command!(self, "SET", key(key), arg(value))` hands the command
/// that `known!` with the same arguments builds to
/// [`command_in_place`](Commands::command_in_place), which writes it where it stays (for a
/// batch, its slot in the batch) instead of building it aside and moving it there.
macro_rules! command {
    ($executor:ident, $name:literal $(, $kind:ident ( $($arg:expr),* ))* $(,)?) => {{
        $executor.command_in_place(
            $name,
            spec!($name),
            #[allow(unused_variables, reason = "commands without arguments")]
            |command: &mut Command| {
                $( in_place!(command, $kind($($arg),*)); )*
            },
        )
    }};
}

/// One argument of [`known!`], appended to `command` in place: `arg`, `key`, `args` and `keys`
/// as the [`Command`] builder methods of those names append them; `arg_if(option)` the
/// argument if there is one, `flag(on, word)` the word if `on`, `option(word, option)` the word
/// and the argument if there is one (`COUNT 5`).
macro_rules! in_place {
    ($command:ident, arg($arg:expr)) => {
        $command.push_arg(ToArg::to_arg(&$arg))
    };
    ($command:ident, key($key:expr)) => {
        $command.push_key(ToArg::to_arg(&$key))
    };
    ($command:ident, args($args:expr)) => {
        $command.push_args(&$args)
    };
    ($command:ident, keys($keys:expr)) => {
        $command.push_keys(&$keys)
    };
    ($command:ident, arg_if($arg:expr)) => {
        if let Some(arg) = $arg {
            $command.push_arg(ToArg::to_arg(&arg));
        }
    };
    ($command:ident, flag($on:expr, $word:expr)) => {
        if $on {
            $command.push_arg(ToArg::to_arg(&$word));
        }
    };
    ($command:ident, option($word:expr, $arg:expr)) => {
        if let Some(arg) = $arg {
            $command.push_arg(ToArg::to_arg(&$word));
            $command.push_arg(ToArg::to_arg(&arg));
        }
    };
}

/// A block timeout in whole milliseconds, rounded up so that only zero means no limit.
fn timeout_millis(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A block timeout as `BLPOP` and its family read it: decimal seconds, to the millisecond.
fn timeout_seconds(timeout: Duration) -> String {
    let millis = timeout_millis(timeout);
    let (seconds, fraction) = (millis / 1000, millis % 1000);
    if fraction == 0 {
        seconds.to_string()
    } else {
        format!("{seconds}.{fraction:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// An argument copied out, for options builders that outlive the caller's borrow.
fn owned(arg: &impl ToArg) -> Bytes {
    arg.to_arg().with_bytes(Bytes::copy_from_slice)
}

/// Typed Redis commands, for any executor: a client, a pipeline, a transaction.
///
/// Implementors provide [`command`](Self::command); every other method is provided and builds
/// its [`Command`] the same way everywhere. The [module documentation](self) lists the
/// conventions the methods share.
///
/// ```
/// use std::collections::HashMap;
///
/// use client_core::Commands;
///
/// type Profile = HashMap<String, String>;
///
/// /// Works with any executor: the caller awaits a client's output, or chains a pipeline's.
/// fn profile<'a, C: Commands>(client: &'a C, user: &str) -> C::Output<'a, Profile> {
///     client.hgetall(format!("user:{user}"))
/// }
/// ```
pub trait Commands {
    /// What a typed method returns: a future of `T` for a client, the builder itself for a
    /// pipeline.
    type Output<'a, T: FromValue + 'a>
    where
        Self: 'a;

    /// Executes (or queues) a command whose reply converts into `T`.
    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> Self::Output<'a, T>;

    /// Executes (or queues) the command `name`, whose arguments `build` appends in place: how
    /// the typed methods send their commands. `spec` is the command table's entry for `name`.
    ///
    /// The default builds the command and hands it to [`command`](Self::command). A
    /// [`Batch`](crate::Batch) builds it in its slot in the batch, so that the command is not
    /// moved right after its bytes were written: such a move reads them back before they reach
    /// memory (a store-forwarding stall; docs/benchmarks.md). An executor that wraps a batch
    /// passes this on to it as it passes on `command`.
    fn command_in_place<'a, T: FromValue + 'a>(
        &'a self,
        name: &'static str,
        spec: Option<&'static CommandSpec>,
        build: impl FnOnce(&mut Command),
    ) -> Self::Output<'a, T> {
        let mut command = Command::with_spec(name, spec);
        build(&mut command);
        self.command(command)
    }

    /// The escape hatch: any command, built with [`cmd`], including module commands the typed
    /// API does not cover.
    fn cmd<'a, T: FromValue + 'a>(&'a self, command: Command) -> Self::Output<'a, T> {
        self.command(command)
    }

    // Strings.

    /// `GET key`: the value of a string key, a null when it does not exist.
    fn get<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "GET", key(key))
    }

    /// `SET key value`: stores a string; replies `OK`.
    fn set<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        value: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "SET", key(key), arg(value))
    }

    /// `SET key value [EX|PX|EXAT|PXAT|KEEPTTL] [NX|XX] [GET]`: stores a string with options;
    /// replies `OK`, a null when `NX`/`XX` prevented it, or the old value with `GET`.
    fn set_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        value: impl ToArg,
        options: &SetOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("SET", key(key), arg(value))))
    }

    /// `SETNX key value`: stores a string unless the key exists; replies 1 if set, else 0.
    fn setnx<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        value: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "SETNX", key(key), arg(value))
    }

    /// `SETEX key seconds value`: stores a string that expires; replies `OK`.
    fn setex<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        seconds: u64,
        value: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "SETEX", key(key), arg(seconds), arg(value))
    }

    /// `PSETEX key milliseconds value`: stores a string that expires; replies `OK`.
    fn psetex<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        millis: u64,
        value: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "PSETEX", key(key), arg(millis), arg(value))
    }

    /// `GETDEL key`: the value of a string key, deleting it; a null when it did not exist.
    fn getdel<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "GETDEL", key(key))
    }

    /// `GETEX key EX|PX|EXAT|PXAT|PERSIST`: the value of a string key, changing its expiry.
    fn getex<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        expiry: GetExExpiry,
    ) -> Self::Output<'a, T> {
        self.command(expiry.append_to(known!("GETEX", key(key))))
    }

    /// `MGET key...`: the values of several keys, with a null for each missing one.
    fn mget<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "MGET", keys(keys))
    }

    /// `MSET key value...`: stores several strings at once; replies `OK`.
    fn mset<'a, T: FromValue + 'a>(
        &'a self,
        items: &[(impl ToArg, impl ToArg)],
    ) -> Self::Output<'a, T> {
        let command = items
            .iter()
            .fold(known!("MSET"), |c, (key, value)| c.key(key).arg(value));
        self.command(command)
    }

    /// `MSETNX key value...`: stores several strings unless any key exists; replies 1 if all
    /// were set, else 0.
    fn msetnx<'a, T: FromValue + 'a>(
        &'a self,
        items: &[(impl ToArg, impl ToArg)],
    ) -> Self::Output<'a, T> {
        let command = items
            .iter()
            .fold(known!("MSETNX"), |c, (key, value)| c.key(key).arg(value));
        self.command(command)
    }

    /// `INCR key`: adds 1 to an integer; replies the new value.
    fn incr<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "INCR", key(key))
    }

    /// `INCRBY key delta`: adds to an integer; replies the new value.
    fn incr_by<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        delta: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "INCRBY", key(key), arg(delta))
    }

    /// `INCRBYFLOAT key delta`: adds to a float; replies the new value (as a bulk string, which
    /// `f64` reads).
    fn incr_by_float<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        delta: f64,
    ) -> Self::Output<'a, T> {
        command!(self, "INCRBYFLOAT", key(key), arg(delta))
    }

    /// `DECR key`: subtracts 1 from an integer; replies the new value.
    fn decr<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "DECR", key(key))
    }

    /// `DECRBY key delta`: subtracts from an integer; replies the new value.
    fn decr_by<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        delta: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "DECRBY", key(key), arg(delta))
    }

    /// `APPEND key value`: appends to a string; replies its new length.
    fn append<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        value: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "APPEND", key(key), arg(value))
    }

    /// `STRLEN key`: the length of a string in bytes, 0 when missing.
    fn strlen<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "STRLEN", key(key))
    }

    /// `GETRANGE key start end`: the bytes of a string between two inclusive offsets (negative
    /// from the end).
    fn getrange<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        start: i64,
        end: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "GETRANGE", key(key), arg(start), arg(end))
    }

    /// `SETRANGE key offset value`: overwrites part of a string; replies its new length.
    fn setrange<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        offset: u64,
        value: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "SETRANGE", key(key), arg(offset), arg(value))
    }

    // Keys and expiry.

    /// `DEL key...`: deletes keys; replies how many existed.
    fn del<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "DEL", keys(keys))
    }

    /// `UNLINK key...`: deletes keys, freeing memory in the background; replies how many
    /// existed.
    fn unlink<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "UNLINK", keys(keys))
    }

    /// `EXISTS key...`: how many of the keys exist (a key named twice counts twice).
    fn exists<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "EXISTS", keys(keys))
    }

    /// `EXPIRE key seconds [NX|XX|GT|LT]`: sets a time to live; replies 1 if set, 0 if the key
    /// is missing or the condition failed.
    fn expire<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        seconds: i64,
        condition: Option<ExpireCondition>,
    ) -> Self::Output<'a, T> {
        self.command(ExpireCondition::append_to(
            condition,
            known!("EXPIRE", key(key), arg(seconds)),
        ))
    }

    /// `PEXPIRE key milliseconds [NX|XX|GT|LT]`: sets a time to live; replies 1 if set, else 0.
    fn pexpire<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        millis: i64,
        condition: Option<ExpireCondition>,
    ) -> Self::Output<'a, T> {
        self.command(ExpireCondition::append_to(
            condition,
            known!("PEXPIRE", key(key), arg(millis)),
        ))
    }

    /// `EXPIREAT key unix-seconds [NX|XX|GT|LT]`: sets an expiry time; replies 1 if set, else 0.
    fn expireat<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        unix_seconds: i64,
        condition: Option<ExpireCondition>,
    ) -> Self::Output<'a, T> {
        let command = known!("EXPIREAT", key(key), arg(unix_seconds));
        self.command(ExpireCondition::append_to(condition, command))
    }

    /// `PEXPIREAT key unix-milliseconds [NX|XX|GT|LT]`: sets an expiry time; replies 1 if set,
    /// else 0.
    fn pexpireat<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        unix_millis: i64,
        condition: Option<ExpireCondition>,
    ) -> Self::Output<'a, T> {
        let command = known!("PEXPIREAT", key(key), arg(unix_millis));
        self.command(ExpireCondition::append_to(condition, command))
    }

    /// `EXPIRETIME key`: the expiry as a Unix time in seconds; -1 with no expiry, -2 when
    /// missing.
    fn expiretime<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "EXPIRETIME", key(key))
    }

    /// `PEXPIRETIME key`: the expiry as a Unix time in milliseconds; -1 with no expiry, -2 when
    /// missing.
    fn pexpiretime<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "PEXPIRETIME", key(key))
    }

    /// `TTL key`: the seconds left to live; -1 with no expiry, -2 when missing.
    fn ttl<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "TTL", key(key))
    }

    /// `PTTL key`: the milliseconds left to live; -1 with no expiry, -2 when missing.
    fn pttl<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "PTTL", key(key))
    }

    /// `PERSIST key`: removes the expiry; replies 1 if there was one, else 0.
    fn persist<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "PERSIST", key(key))
    }

    /// `TYPE key`: the key's type as a status (`string`, `list`, `set`, `zset`, `hash`,
    /// `stream`), `none` when missing.
    fn type_of<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "TYPE", key(key))
    }

    /// `RENAME key newkey`: renames a key, replacing any `newkey`; replies `OK`.
    fn rename<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        new_key: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "RENAME", key(key), key(new_key))
    }

    /// `RENAMENX key newkey`: renames a key unless `newkey` exists; replies 1 if renamed, else 0.
    fn renamenx<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        new_key: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "RENAMENX", key(key), key(new_key))
    }

    /// `KEYS pattern`: every key matching a glob-style pattern. It blocks the server while it
    /// walks the whole keyspace: prefer [`scan`](Self::scan).
    fn keys<'a, T: FromValue + 'a>(&'a self, pattern: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "KEYS", arg(pattern))
    }

    /// `SCAN cursor`: the next cursor and a batch of keys, as `(u64, Vec<String>)`; cursor 0
    /// starts and ends a scan. On a cluster client this scans one node; the tokio client's
    /// `scan_cluster` walks every primary (or route each call with `Request::to_slot`).
    fn scan<'a, T: FromValue + 'a>(&'a self, cursor: u64) -> Self::Output<'a, T> {
        command!(self, "SCAN", arg(cursor))
    }

    /// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: the next cursor and a batch of
    /// matching keys.
    fn scan_options<'a, T: FromValue + 'a>(
        &'a self,
        cursor: u64,
        options: &ScanOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("SCAN", arg(cursor))))
    }

    /// `TOUCH key...`: updates the keys' last access time; replies how many exist.
    fn touch<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "TOUCH", keys(keys))
    }

    /// `COPY source destination [REPLACE]`: copies a value; replies 1 if copied, 0 if the
    /// destination exists and `replace` is false.
    fn copy<'a, T: FromValue + 'a>(
        &'a self,
        source: impl ToArg,
        destination: impl ToArg,
        replace: bool,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "COPY",
            key(source),
            key(destination),
            flag(replace, "REPLACE")
        )
    }

    /// `DUMP key`: the value serialized in the server's format (read it as `Bytes`), a null when
    /// missing.
    fn dump<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "DUMP", key(key))
    }

    /// `RESTORE key ttl serialized [REPLACE]`: recreates a key from [`dump`](Self::dump)'s
    /// output, with a time to live in milliseconds (0 for none); replies `OK`.
    fn restore<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        ttl_millis: u64,
        serialized: impl ToArg,
        replace: bool,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "RESTORE",
            key(key),
            arg(ttl_millis),
            arg(serialized),
            flag(replace, "REPLACE")
        )
    }

    /// `RANDOMKEY`: a random key name, a null when the database is empty.
    fn randomkey<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "RANDOMKEY")
    }

    // Hashes.

    /// `HSET key field value...`: sets fields from field-value pairs; replies how many were new.
    fn hset<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        fields: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "HSET", key(key), args(fields))
    }

    /// `HSETNX key field value`: sets a field unless it exists; replies 1 if set, else 0.
    fn hsetnx<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        field: impl ToArg,
        value: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "HSETNX", key(key), arg(field), arg(value))
    }

    /// `HGET key field`: a field's value, a null when missing.
    fn hget<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        field: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "HGET", key(key), arg(field))
    }

    /// `HMGET key field...`: the values of several fields, with a null for each missing one.
    fn hmget<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        fields: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "HMGET", key(key), args(fields))
    }

    /// `HGETALL key`: every field and value; read it as a `HashMap` on either protocol.
    fn hgetall<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "HGETALL", key(key))
    }

    /// `HDEL key field...`: deletes fields; replies how many existed.
    fn hdel<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        fields: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "HDEL", key(key), args(fields))
    }

    /// `HEXISTS key field`: 1 if the field exists, else 0.
    fn hexists<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        field: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "HEXISTS", key(key), arg(field))
    }

    /// `HINCRBY key field delta`: adds to an integer field; replies the new value.
    fn hincrby<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        field: impl ToArg,
        delta: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "HINCRBY", key(key), arg(field), arg(delta))
    }

    /// `HINCRBYFLOAT key field delta`: adds to a float field; replies the new value.
    fn hincrbyfloat<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        field: impl ToArg,
        delta: f64,
    ) -> Self::Output<'a, T> {
        command!(self, "HINCRBYFLOAT", key(key), arg(field), arg(delta))
    }

    /// `HKEYS key`: every field name.
    fn hkeys<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "HKEYS", key(key))
    }

    /// `HVALS key`: every field value.
    fn hvals<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "HVALS", key(key))
    }

    /// `HLEN key`: the number of fields, 0 when missing.
    fn hlen<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "HLEN", key(key))
    }

    /// `HSTRLEN key field`: the length of a field's value in bytes, 0 when missing.
    fn hstrlen<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        field: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "HSTRLEN", key(key), arg(field))
    }

    /// `HSCAN key cursor`: the next cursor and a batch of fields and values, as
    /// `(u64, Vec<(String, String)>)`.
    fn hscan<'a, T: FromValue + 'a>(&'a self, key: impl ToArg, cursor: u64) -> Self::Output<'a, T> {
        command!(self, "HSCAN", key(key), arg(cursor))
    }

    /// `HSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and a batch of
    /// matching fields and values.
    fn hscan_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        cursor: u64,
        options: &ScanOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("HSCAN", key(key), arg(cursor))))
    }

    /// `HRANDFIELD key [count]`: one random field (a null when missing), or with a count that
    /// many distinct fields (negative: that many, repeats allowed).
    fn hrandfield<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: Option<i64>,
    ) -> Self::Output<'a, T> {
        command!(self, "HRANDFIELD", key(key), arg_if(count))
    }

    /// `HRANDFIELD key count WITHVALUES`: random fields with their values, as pairs.
    fn hrandfield_with_values<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "HRANDFIELD", key(key), arg(count), arg("WITHVALUES"))
    }

    // Lists.

    /// `LPUSH key element...`: prepends elements (the last one ends up first); replies the new
    /// length.
    fn lpush<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        elements: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "LPUSH", key(key), args(elements))
    }

    /// `RPUSH key element...`: appends elements; replies the new length.
    fn rpush<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        elements: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "RPUSH", key(key), args(elements))
    }

    /// `LPUSHX key element...`: prepends only if the list exists; replies the new length (0
    /// when missing).
    fn lpushx<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        elements: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "LPUSHX", key(key), args(elements))
    }

    /// `RPUSHX key element...`: appends only if the list exists; replies the new length (0 when
    /// missing).
    fn rpushx<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        elements: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "RPUSHX", key(key), args(elements))
    }

    /// `LPOP key [count]`: removes and returns the first element (a null when empty), or with a
    /// count up to that many as a list.
    fn lpop<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(self, "LPOP", key(key), arg_if(count))
    }

    /// `RPOP key [count]`: removes and returns the last element (a null when empty), or with a
    /// count up to that many as a list.
    fn rpop<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(self, "RPOP", key(key), arg_if(count))
    }

    /// `LRANGE key start stop`: the elements between two inclusive indexes (negative from the
    /// end; `0, -1` for all).
    fn lrange<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "LRANGE", key(key), arg(start), arg(stop))
    }

    /// `LLEN key`: the length of a list, 0 when missing.
    fn llen<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "LLEN", key(key))
    }

    /// `LINDEX key index`: the element at an index (negative from the end), a null when out of
    /// range.
    fn lindex<'a, T: FromValue + 'a>(&'a self, key: impl ToArg, index: i64) -> Self::Output<'a, T> {
        command!(self, "LINDEX", key(key), arg(index))
    }

    /// `LSET key index element`: replaces the element at an index; replies `OK`.
    fn lset<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        index: i64,
        element: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "LSET", key(key), arg(index), arg(element))
    }

    /// `LREM key count element`: removes up to `count` equal elements (from the tail when
    /// negative, all when 0); replies how many.
    fn lrem<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: i64,
        element: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "LREM", key(key), arg(count), arg(element))
    }

    /// `LTRIM key start stop`: keeps only the elements between two inclusive indexes; replies
    /// `OK`.
    fn ltrim<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "LTRIM", key(key), arg(start), arg(stop))
    }

    /// `LINSERT key BEFORE|AFTER pivot element`: inserts next to the first `pivot`; replies the
    /// new length, -1 when the pivot is missing, 0 when the list is.
    fn linsert<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        position: InsertPosition,
        pivot: impl ToArg,
        element: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "LINSERT",
            key(key),
            arg(position.as_str()),
            arg(pivot),
            arg(element)
        )
    }

    /// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`: moves an element between lists;
    /// replies it, a null when the source is empty.
    fn lmove<'a, T: FromValue + 'a>(
        &'a self,
        source: impl ToArg,
        destination: impl ToArg,
        from: Direction,
        to: Direction,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "LMOVE",
            key(source),
            key(destination),
            arg(from.as_str()),
            arg(to.as_str())
        )
    }

    /// `LMPOP numkeys key... LEFT|RIGHT [COUNT count]`: pops from the first non-empty list;
    /// replies `[key, elements]`, a null when all are empty.
    fn lmpop<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        from: Direction,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "LMPOP",
            arg(keys.arg_count()),
            keys(keys),
            arg(from.as_str()),
            option("COUNT", count)
        )
    }

    /// `LPOS key element`: the index of the first equal element, a null when none.
    fn lpos<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        element: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "LPOS", key(key), arg(element))
    }

    /// `LPOS key element [RANK rank] [COUNT count] [MAXLEN len]`: the index of a matching
    /// element, or with `COUNT` a list of indexes.
    fn lpos_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        element: impl ToArg,
        options: &LPosOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("LPOS", key(key), arg(element))))
    }

    /// `BLPOP key... timeout`: pops the first element of the first non-empty list, waiting up
    /// to `timeout`; replies `[key, element]`, a null on timeout.
    fn blpop<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        timeout: Duration,
    ) -> Self::Output<'a, T> {
        command!(self, "BLPOP", keys(keys), arg(timeout_seconds(timeout)))
    }

    /// `BRPOP key... timeout`: pops the last element of the first non-empty list, waiting up to
    /// `timeout`; replies `[key, element]`, a null on timeout.
    fn brpop<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        timeout: Duration,
    ) -> Self::Output<'a, T> {
        command!(self, "BRPOP", keys(keys), arg(timeout_seconds(timeout)))
    }

    /// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`: [`lmove`](Self::lmove),
    /// waiting up to `timeout` for an element; a null on timeout.
    fn blmove<'a, T: FromValue + 'a>(
        &'a self,
        source: impl ToArg,
        destination: impl ToArg,
        from: Direction,
        to: Direction,
        timeout: Duration,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "BLMOVE",
            key(source),
            key(destination),
            arg(from.as_str()),
            arg(to.as_str()),
            arg(timeout_seconds(timeout))
        )
    }

    /// `BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT count]`: [`lmpop`](Self::lmpop),
    /// waiting up to `timeout`; a null on timeout.
    fn blmpop<'a, T: FromValue + 'a>(
        &'a self,
        timeout: Duration,
        keys: impl ToArgs,
        from: Direction,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "BLMPOP",
            arg(timeout_seconds(timeout)),
            arg(keys.arg_count()),
            keys(keys),
            arg(from.as_str()),
            option("COUNT", count)
        )
    }

    // Sets.

    /// `SADD key member...`: adds members; replies how many were new.
    fn sadd<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        members: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "SADD", key(key), args(members))
    }

    /// `SREM key member...`: removes members; replies how many were there.
    fn srem<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        members: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "SREM", key(key), args(members))
    }

    /// `SMEMBERS key`: every member (a set in RESP3, an array in RESP2; both read as `HashSet`).
    fn smembers<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "SMEMBERS", key(key))
    }

    /// `SISMEMBER key member`: 1 if the member is in the set, else 0.
    fn sismember<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        member: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "SISMEMBER", key(key), arg(member))
    }

    /// `SMISMEMBER key member...`: 1 or 0 for each member, in order.
    fn smismember<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        members: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "SMISMEMBER", key(key), args(members))
    }

    /// `SCARD key`: the number of members, 0 when missing.
    fn scard<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "SCARD", key(key))
    }

    /// `SPOP key [count]`: removes and returns a random member (a null when empty), or with a
    /// count up to that many.
    fn spop<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(self, "SPOP", key(key), arg_if(count))
    }

    /// `SRANDMEMBER key [count]`: a random member (a null when empty), or with a count that many
    /// distinct members (negative: repeats allowed).
    fn srandmember<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: Option<i64>,
    ) -> Self::Output<'a, T> {
        command!(self, "SRANDMEMBER", key(key), arg_if(count))
    }

    /// `SINTER key...`: the members in every set.
    fn sinter<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "SINTER", keys(keys))
    }

    /// `SINTERCARD numkeys key... [LIMIT limit]`: the size of the intersection, counting up to
    /// `limit` when given.
    fn sintercard<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        limit: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "SINTERCARD",
            arg(keys.arg_count()),
            keys(keys),
            option("LIMIT", limit)
        )
    }

    /// `SUNION key...`: the members in any set.
    fn sunion<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "SUNION", keys(keys))
    }

    /// `SDIFF key...`: the members of the first set that are in none of the others.
    fn sdiff<'a, T: FromValue + 'a>(&'a self, keys: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "SDIFF", keys(keys))
    }

    /// `SINTERSTORE destination key...`: stores the intersection; replies its size.
    fn sinterstore<'a, T: FromValue + 'a>(
        &'a self,
        destination: impl ToArg,
        keys: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "SINTERSTORE", key(destination), keys(keys))
    }

    /// `SUNIONSTORE destination key...`: stores the union; replies its size.
    fn sunionstore<'a, T: FromValue + 'a>(
        &'a self,
        destination: impl ToArg,
        keys: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "SUNIONSTORE", key(destination), keys(keys))
    }

    /// `SDIFFSTORE destination key...`: stores the difference; replies its size.
    fn sdiffstore<'a, T: FromValue + 'a>(
        &'a self,
        destination: impl ToArg,
        keys: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "SDIFFSTORE", key(destination), keys(keys))
    }

    /// `SMOVE source destination member`: moves a member; replies 1 if moved, 0 if it was not in
    /// the source.
    fn smove<'a, T: FromValue + 'a>(
        &'a self,
        source: impl ToArg,
        destination: impl ToArg,
        member: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "SMOVE", key(source), key(destination), arg(member))
    }

    /// `SSCAN key cursor`: the next cursor and a batch of members, as `(u64, Vec<String>)`.
    fn sscan<'a, T: FromValue + 'a>(&'a self, key: impl ToArg, cursor: u64) -> Self::Output<'a, T> {
        command!(self, "SSCAN", key(key), arg(cursor))
    }

    /// `SSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and a batch of
    /// matching members.
    fn sscan_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        cursor: u64,
        options: &ScanOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("SSCAN", key(key), arg(cursor))))
    }

    // Sorted sets.

    /// `ZADD key score member...`: adds members or updates their scores, from score-member
    /// pairs such as `[(1.5, "a")]`; replies how many were new.
    fn zadd<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        items: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "ZADD", key(key), args(items))
    }

    /// `ZADD key [NX|XX] [GT|LT] [CH] score member...`: [`zadd`](Self::zadd) with conditions;
    /// replies how many were added (or changed, with `CH`).
    fn zadd_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        items: impl ToArgs,
        options: &ZAddOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("ZADD", key(key))).args(items))
    }

    /// `ZINCRBY key increment member`: adds to a member's score; replies the new score.
    fn zincrby<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        increment: f64,
        member: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZINCRBY", key(key), arg(increment), arg(member))
    }

    /// `ZREM key member...`: removes members; replies how many were there.
    fn zrem<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        members: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "ZREM", key(key), args(members))
    }

    /// `ZSCORE key member`: a member's score, a null when missing.
    fn zscore<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        member: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZSCORE", key(key), arg(member))
    }

    /// `ZMSCORE key member...`: the score of each member, with a null for each missing one.
    fn zmscore<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        members: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "ZMSCORE", key(key), args(members))
    }

    /// `ZRANK key member`: a member's rank, lowest score first; a null when missing.
    fn zrank<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        member: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZRANK", key(key), arg(member))
    }

    /// `ZREVRANK key member`: a member's rank, highest score first; a null when missing.
    fn zrevrank<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        member: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZREVRANK", key(key), arg(member))
    }

    /// `ZCARD key`: the number of members, 0 when missing.
    fn zcard<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "ZCARD", key(key))
    }

    /// `ZCOUNT key min max`: how many scores lie between two bounds (`(` for exclusive,
    /// `-inf`/`+inf`).
    fn zcount<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        min: impl ToArg,
        max: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZCOUNT", key(key), arg(min), arg(max))
    }

    /// `ZRANGE key start stop`: the members between two inclusive ranks, lowest score first.
    fn zrange<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        start: impl ToArg,
        stop: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZRANGE", key(key), arg(start), arg(stop))
    }

    /// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`: a
    /// range by rank, score or member, with or without scores.
    fn zrange_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        start: impl ToArg,
        stop: impl ToArg,
        options: &ZRangeOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("ZRANGE", key(key), arg(start), arg(stop))))
    }

    /// `ZRANGEBYSCORE key min max`: the members with scores between two bounds, lowest first
    /// (for paging or scores use [`zrange_options`](Self::zrange_options)).
    fn zrangebyscore<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        min: impl ToArg,
        max: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZRANGEBYSCORE", key(key), arg(min), arg(max))
    }

    /// `ZREMRANGEBYSCORE key min max`: removes the members with scores between two bounds;
    /// replies how many.
    fn zremrangebyscore<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        min: impl ToArg,
        max: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "ZREMRANGEBYSCORE", key(key), arg(min), arg(max))
    }

    /// `ZREMRANGEBYRANK key start stop`: removes the members between two inclusive ranks;
    /// replies how many.
    fn zremrangebyrank<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> Self::Output<'a, T> {
        command!(self, "ZREMRANGEBYRANK", key(key), arg(start), arg(stop))
    }

    /// `ZPOPMIN key [count]`: removes and returns the lowest-scored members with their scores.
    fn zpopmin<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(self, "ZPOPMIN", key(key), arg_if(count))
    }

    /// `ZPOPMAX key [count]`: removes and returns the highest-scored members with their scores.
    fn zpopmax<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(self, "ZPOPMAX", key(key), arg_if(count))
    }

    /// `ZMPOP numkeys key... MIN|MAX [COUNT count]`: pops from the first non-empty sorted set;
    /// replies `[key, [[member, score]...]]`, a null when all are empty.
    fn zmpop<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        from: MinMax,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "ZMPOP",
            arg(keys.arg_count()),
            keys(keys),
            arg(from.as_str()),
            option("COUNT", count)
        )
    }

    /// `BZPOPMIN key... timeout`: pops the lowest-scored member of the first non-empty set,
    /// waiting up to `timeout`; replies `[key, member, score]`, a null on timeout.
    fn bzpopmin<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        timeout: Duration,
    ) -> Self::Output<'a, T> {
        command!(self, "BZPOPMIN", keys(keys), arg(timeout_seconds(timeout)))
    }

    /// `BZPOPMAX key... timeout`: pops the highest-scored member of the first non-empty set,
    /// waiting up to `timeout`; replies `[key, member, score]`, a null on timeout.
    fn bzpopmax<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        timeout: Duration,
    ) -> Self::Output<'a, T> {
        command!(self, "BZPOPMAX", keys(keys), arg(timeout_seconds(timeout)))
    }

    /// `BZMPOP timeout numkeys key... MIN|MAX [COUNT count]`: [`zmpop`](Self::zmpop), waiting
    /// up to `timeout`; a null on timeout.
    fn bzmpop<'a, T: FromValue + 'a>(
        &'a self,
        timeout: Duration,
        keys: impl ToArgs,
        from: MinMax,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "BZMPOP",
            arg(timeout_seconds(timeout)),
            arg(keys.arg_count()),
            keys(keys),
            arg(from.as_str()),
            option("COUNT", count)
        )
    }

    /// `ZSCAN key cursor`: the next cursor and a batch of members with scores, as
    /// `(u64, Vec<(String, f64)>)`.
    fn zscan<'a, T: FromValue + 'a>(&'a self, key: impl ToArg, cursor: u64) -> Self::Output<'a, T> {
        command!(self, "ZSCAN", key(key), arg(cursor))
    }

    /// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and a batch of
    /// matching members with scores.
    fn zscan_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        cursor: u64,
        options: &ScanOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("ZSCAN", key(key), arg(cursor))))
    }

    /// `ZUNIONSTORE destination numkeys key...`: stores the union, scores summed; replies its
    /// size.
    fn zunionstore<'a, T: FromValue + 'a>(
        &'a self,
        destination: impl ToArg,
        keys: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "ZUNIONSTORE",
            key(destination),
            arg(keys.arg_count()),
            keys(keys)
        )
    }

    /// `ZUNIONSTORE destination numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]`: stores
    /// the union with weights and an aggregate; replies its size.
    fn zunionstore_options<'a, T: FromValue + 'a>(
        &'a self,
        destination: impl ToArg,
        keys: impl ToArgs,
        options: &ZStoreOptions,
    ) -> Self::Output<'a, T> {
        let command = known!(
            "ZUNIONSTORE",
            key(destination),
            arg(keys.arg_count()),
            keys(keys)
        );
        self.command(options.append_to(command))
    }

    /// `ZINTERSTORE destination numkeys key...`: stores the intersection, scores summed;
    /// replies its size.
    fn zinterstore<'a, T: FromValue + 'a>(
        &'a self,
        destination: impl ToArg,
        keys: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "ZINTERSTORE",
            key(destination),
            arg(keys.arg_count()),
            keys(keys)
        )
    }

    /// `ZINTERSTORE destination numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]`: stores
    /// the intersection with weights and an aggregate; replies its size.
    fn zinterstore_options<'a, T: FromValue + 'a>(
        &'a self,
        destination: impl ToArg,
        keys: impl ToArgs,
        options: &ZStoreOptions,
    ) -> Self::Output<'a, T> {
        let command = known!(
            "ZINTERSTORE",
            key(destination),
            arg(keys.arg_count()),
            keys(keys)
        );
        self.command(options.append_to(command))
    }

    // Streams.

    /// `XADD key id field value...`: appends an entry (`"*"` lets the server pick the id) from
    /// field-value pairs; replies its id.
    fn xadd<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        id: impl ToArg,
        fields: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "XADD", key(key), arg(id), args(fields))
    }

    /// `XADD key [NOMKSTREAM] [MAXLEN|MINID [~] threshold [LIMIT count]] id field value...`:
    /// appends an entry and trims; replies its id, a null when `NOMKSTREAM` found no stream.
    fn xadd_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        id: impl ToArg,
        fields: impl ToArgs,
        options: &XAddOptions,
    ) -> Self::Output<'a, T> {
        self.command(
            options
                .append_to(known!("XADD", key(key)))
                .arg(id)
                .args(fields),
        )
    }

    /// `XLEN key`: the number of entries, 0 when missing.
    fn xlen<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "XLEN", key(key))
    }

    /// `XRANGE key start end [COUNT count]`: the entries with ids from `start` to `end` (`-` and
    /// `+` for all), as `[id, [field, value...]]` pairs.
    fn xrange<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        start: impl ToArg,
        end: impl ToArg,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XRANGE",
            key(key),
            arg(start),
            arg(end),
            option("COUNT", count)
        )
    }

    /// `XREVRANGE key end start [COUNT count]`: [`xrange`](Self::xrange) newest first; note the
    /// higher id comes first.
    fn xrevrange<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        end: impl ToArg,
        start: impl ToArg,
        count: Option<usize>,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XREVRANGE",
            key(key),
            arg(end),
            arg(start),
            option("COUNT", count)
        )
    }

    /// `XREAD STREAMS key... id...`: the entries after each id (one id per key), per stream; a
    /// null when there are none.
    fn xread<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        ids: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "XREAD", arg("STREAMS"), keys(keys), args(ids))
    }

    /// `XREAD [COUNT count] [BLOCK ms] STREAMS key... id...`: [`xread`](Self::xread) with a
    /// count and an optional wait; a null on timeout.
    fn xread_options<'a, T: FromValue + 'a>(
        &'a self,
        keys: impl ToArgs,
        ids: impl ToArgs,
        options: &XReadOptions,
    ) -> Self::Output<'a, T> {
        self.command(
            options
                .append_to(known!("XREAD"))
                .arg("STREAMS")
                .keys(keys)
                .args(ids),
        )
    }

    /// `XREADGROUP GROUP group consumer STREAMS key... id...`: entries for a consumer of a
    /// group (`">"` for never-delivered ones), per stream.
    fn xreadgroup<'a, T: FromValue + 'a>(
        &'a self,
        group: impl ToArg,
        consumer: impl ToArg,
        keys: impl ToArgs,
        ids: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XREADGROUP",
            arg("GROUP"),
            arg(group),
            arg(consumer),
            arg("STREAMS"),
            keys(keys),
            args(ids)
        )
    }

    /// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key... id...`:
    /// [`xreadgroup`](Self::xreadgroup) with options; a null on timeout.
    fn xreadgroup_options<'a, T: FromValue + 'a>(
        &'a self,
        group: impl ToArg,
        consumer: impl ToArg,
        keys: impl ToArgs,
        ids: impl ToArgs,
        options: &XReadGroupOptions,
    ) -> Self::Output<'a, T> {
        let command = known!("XREADGROUP", arg("GROUP"), arg(group), arg(consumer));
        self.command(
            options
                .append_to(command)
                .arg("STREAMS")
                .keys(keys)
                .args(ids),
        )
    }

    /// `XGROUP CREATE key group id [MKSTREAM]`: creates a consumer group starting after `id`
    /// (`"$"` for new entries only); replies `OK`.
    fn xgroup_create<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        id: impl ToArg,
        mkstream: bool,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XGROUP",
            arg("CREATE"),
            key(key),
            arg(group),
            arg(id),
            flag(mkstream, "MKSTREAM")
        )
    }

    /// `XGROUP DESTROY key group`: deletes a consumer group; replies 1 if it existed, else 0.
    fn xgroup_destroy<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "XGROUP", arg("DESTROY"), key(key), arg(group))
    }

    /// `XGROUP CREATECONSUMER key group consumer`: adds a consumer; replies 1 if new, else 0.
    fn xgroup_createconsumer<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XGROUP",
            arg("CREATECONSUMER"),
            key(key),
            arg(group),
            arg(consumer)
        )
    }

    /// `XGROUP DELCONSUMER key group consumer`: removes a consumer; replies how many entries it
    /// had pending.
    fn xgroup_delconsumer<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XGROUP",
            arg("DELCONSUMER"),
            key(key),
            arg(group),
            arg(consumer)
        )
    }

    /// `XGROUP SETID key group id`: moves the group's last delivered id; replies `OK`.
    fn xgroup_setid<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        id: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "XGROUP", arg("SETID"), key(key), arg(group), arg(id))
    }

    /// `XACK key group id...`: acknowledges entries; replies how many were pending.
    fn xack<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        ids: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "XACK", key(key), arg(group), args(ids))
    }

    /// `XPENDING key group`: the group's pending summary: `[count, lowest id, highest id,
    /// [[consumer, count]...]]`.
    fn xpending<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "XPENDING", key(key), arg(group))
    }

    /// `XPENDING key group [IDLE ms] start end count [consumer]`: pending entries, each as
    /// `[id, consumer, idle ms, deliveries]`.
    fn xpending_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        options: &XPendingOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!("XPENDING", key(key), arg(group))))
    }

    /// `XCLAIM key group consumer min-idle-time id...`: takes over entries idle for at least
    /// `min_idle_millis`; replies the claimed entries.
    fn xclaim<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle_millis: u64,
        ids: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XCLAIM",
            key(key),
            arg(group),
            arg(consumer),
            arg(min_idle_millis),
            args(ids)
        )
    }

    /// `XCLAIM key group consumer min-idle-time id... [IDLE ms] [TIME ms] [RETRYCOUNT n]
    /// [FORCE] [JUSTID] [LASTID id]`: [`xclaim`](Self::xclaim) with options.
    fn xclaim_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle_millis: u64,
        ids: impl ToArgs,
        options: &XClaimOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!(
            "XCLAIM",
            key(key),
            arg(group),
            arg(consumer),
            arg(min_idle_millis),
            args(ids)
        )))
    }

    /// `XAUTOCLAIM key group consumer min-idle-time start`: claims idle entries from `start`
    /// (`"0-0"` to begin); replies `[next start, entries, deleted ids]`.
    fn xautoclaim<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle_millis: u64,
        start: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "XAUTOCLAIM",
            key(key),
            arg(group),
            arg(consumer),
            arg(min_idle_millis),
            arg(start)
        )
    }

    /// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`:
    /// [`xautoclaim`](Self::xautoclaim) with options.
    fn xautoclaim_options<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle_millis: u64,
        start: impl ToArg,
        options: &XAutoClaimOptions,
    ) -> Self::Output<'a, T> {
        self.command(options.append_to(known!(
            "XAUTOCLAIM",
            key(key),
            arg(group),
            arg(consumer),
            arg(min_idle_millis),
            arg(start)
        )))
    }

    /// `XDEL key id...`: deletes entries; replies how many existed.
    fn xdel<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        ids: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "XDEL", key(key), args(ids))
    }

    /// `XTRIM key MAXLEN|MINID [~] threshold [LIMIT count]`: trims a stream; replies how many
    /// entries were removed.
    fn xtrim<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        trim: &StreamTrim,
    ) -> Self::Output<'a, T> {
        self.command(trim.append_to(known!("XTRIM", key(key))))
    }

    /// `XINFO STREAM key`: facts about a stream (length, groups, first and last entries), as a
    /// map (a flat array in RESP2).
    fn xinfo_stream<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "XINFO", arg("STREAM"), key(key))
    }

    /// `XINFO GROUPS key`: facts about each consumer group of a stream.
    fn xinfo_groups<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "XINFO", arg("GROUPS"), key(key))
    }

    /// `XINFO CONSUMERS key group`: facts about each consumer of a group.
    fn xinfo_consumers<'a, T: FromValue + 'a>(
        &'a self,
        key: impl ToArg,
        group: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "XINFO", arg("CONSUMERS"), key(key), arg(group))
    }

    // Scripting and functions.

    /// `EVALSHA sha1 numkeys key... arg...`, falling back to `EVAL` of the source when the
    /// server does not have the script: runs a [`Script`]; replies what the script returns.
    fn invoke_script<'a, T: FromValue + 'a>(
        &'a self,
        script: &Script,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(script.invocation(false, &keys, &args))
    }

    /// `EVALSHA_RO sha1 numkeys key... arg...`, falling back to `EVAL_RO`: runs a read-only
    /// [`Script`], which may go to a replica and may be retried.
    fn invoke_script_ro<'a, T: FromValue + 'a>(
        &'a self,
        script: &Script,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(script.invocation(true, &keys, &args))
    }

    /// `EVAL script numkeys key... arg...`: runs Lua source; replies what it returns.
    fn eval<'a, T: FromValue + 'a>(
        &'a self,
        script: impl ToArg,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(scripting::with_keys_and_args(
            known!("EVAL", arg(script)),
            &keys,
            &args,
        ))
    }

    /// `EVAL_RO script numkeys key... arg...`: runs read-only Lua source.
    fn eval_ro<'a, T: FromValue + 'a>(
        &'a self,
        script: impl ToArg,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(scripting::with_keys_and_args(
            known!("EVAL_RO", arg(script)),
            &keys,
            &args,
        ))
    }

    /// `EVALSHA sha1 numkeys key... arg...`: runs a cached script by hash; fails with
    /// `NOSCRIPT` if the server does not have it (prefer [`invoke_script`](Self::invoke_script)).
    fn evalsha<'a, T: FromValue + 'a>(
        &'a self,
        sha1: impl ToArg,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(scripting::with_keys_and_args(
            known!("EVALSHA", arg(sha1)),
            &keys,
            &args,
        ))
    }

    /// `EVALSHA_RO sha1 numkeys key... arg...`: runs a cached read-only script by hash.
    fn evalsha_ro<'a, T: FromValue + 'a>(
        &'a self,
        sha1: impl ToArg,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(scripting::with_keys_and_args(
            known!("EVALSHA_RO", arg(sha1)),
            &keys,
            &args,
        ))
    }

    /// `SCRIPT LOAD script`: caches Lua source without running it; replies its SHA-1.
    fn script_load<'a, T: FromValue + 'a>(&'a self, script: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "SCRIPT", arg("LOAD"), arg(script))
    }

    /// `SCRIPT EXISTS sha1...`: 1 or 0 for each hash, whether the script is cached.
    fn script_exists<'a, T: FromValue + 'a>(&'a self, sha1s: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "SCRIPT", arg("EXISTS"), args(sha1s))
    }

    /// `SCRIPT FLUSH [ASYNC|SYNC]`: empties the script cache; replies `OK`.
    fn script_flush<'a, T: FromValue + 'a>(
        &'a self,
        mode: Option<FlushMode>,
    ) -> Self::Output<'a, T> {
        self.command(FlushMode::append_to(mode, known!("SCRIPT", arg("FLUSH"))))
    }

    /// `FCALL function numkeys key... arg...`: calls a library function; replies what it
    /// returns.
    fn fcall<'a, T: FromValue + 'a>(
        &'a self,
        function: impl ToArg,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(scripting::with_keys_and_args(
            known!("FCALL", arg(function)),
            &keys,
            &args,
        ))
    }

    /// `FCALL_RO function numkeys key... arg...`: calls a read-only library function.
    fn fcall_ro<'a, T: FromValue + 'a>(
        &'a self,
        function: impl ToArg,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Self::Output<'a, T> {
        self.command(scripting::with_keys_and_args(
            known!("FCALL_RO", arg(function)),
            &keys,
            &args,
        ))
    }

    /// `FUNCTION LOAD [REPLACE] code`: loads a function library; replies its name.
    fn function_load<'a, T: FromValue + 'a>(
        &'a self,
        code: impl ToArg,
        replace: bool,
    ) -> Self::Output<'a, T> {
        command!(
            self,
            "FUNCTION",
            arg("LOAD"),
            flag(replace, "REPLACE"),
            arg(code)
        )
    }

    // Server and connection.

    /// `PING`: replies `PONG`.
    fn ping<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "PING")
    }

    /// `ECHO message`: replies the message.
    fn echo<'a, T: FromValue + 'a>(&'a self, message: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "ECHO", arg(message))
    }

    /// `DBSIZE`: the number of keys in the database.
    fn dbsize<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "DBSIZE")
    }

    /// `FLUSHDB [ASYNC|SYNC]`: deletes every key of the database; replies `OK`.
    fn flushdb<'a, T: FromValue + 'a>(&'a self, mode: Option<FlushMode>) -> Self::Output<'a, T> {
        self.command(FlushMode::append_to(mode, known!("FLUSHDB")))
    }

    /// `FLUSHALL [ASYNC|SYNC]`: deletes every key of every database; replies `OK`.
    fn flushall<'a, T: FromValue + 'a>(&'a self, mode: Option<FlushMode>) -> Self::Output<'a, T> {
        self.command(FlushMode::append_to(mode, known!("FLUSHALL")))
    }

    /// `INFO [section]`: the server's report as text (`# Section` headers, `name:value` lines).
    /// On a cluster client every primary answers, and the reply is a map from each node's
    /// address to its report (read it as `HashMap<String, String>`).
    fn info<'a, T: FromValue + 'a>(&'a self, section: Option<&str>) -> Self::Output<'a, T> {
        command!(self, "INFO", arg_if(section))
    }

    /// `TIME`: the server's clock as `[unix seconds, microseconds]`, both as text.
    fn time<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "TIME")
    }

    /// `LASTSAVE`: the Unix time of the last successful save to disk.
    fn lastsave<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "LASTSAVE")
    }

    /// `CONFIG GET parameter...`: the matching parameters and their values (glob patterns
    /// allowed), as a map.
    fn config_get<'a, T: FromValue + 'a>(&'a self, parameters: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "CONFIG", arg("GET"), args(parameters))
    }

    /// `CONFIG SET parameter value...`: changes parameters from name-value pairs; replies `OK`.
    fn config_set<'a, T: FromValue + 'a>(&'a self, parameters: impl ToArgs) -> Self::Output<'a, T> {
        command!(self, "CONFIG", arg("SET"), args(parameters))
    }

    /// `CLIENT ID`: the id of the connection the command runs on.
    fn client_id<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "CLIENT", arg("ID"))
    }

    /// `CLIENT GETNAME`: the name of the connection the command runs on, a null when unnamed.
    fn client_getname<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "CLIENT", arg("GETNAME"))
    }

    /// `CLIENT SETNAME name`: names the one connection the command runs on (only that one, and
    /// not after a reconnect: name every connection through the client's configuration
    /// instead); replies `OK`.
    fn client_setname<'a, T: FromValue + 'a>(&'a self, name: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "CLIENT", arg("SETNAME"), arg(name))
    }

    /// `MEMORY USAGE key`: the bytes a key and its value take, a null when missing.
    fn memory_usage<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "MEMORY", arg("USAGE"), key(key))
    }

    /// `OBJECT ENCODING key`: the internal encoding of a value (`listpack`, `hashtable`, ...), a
    /// null when missing.
    fn object_encoding<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "OBJECT", arg("ENCODING"), key(key))
    }

    /// `OBJECT IDLETIME key`: the seconds since the key was last accessed, a null when missing.
    fn object_idletime<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        command!(self, "OBJECT", arg("IDLETIME"), key(key))
    }

    /// `WAIT numreplicas timeout`: waits until the writes sent before it on this connection
    /// reach `replicas` replicas, or `timeout` passes; replies how many acknowledged.
    fn wait<'a, T: FromValue + 'a>(
        &'a self,
        replicas: u64,
        timeout: Duration,
    ) -> Self::Output<'a, T> {
        command!(self, "WAIT", arg(replicas), arg(timeout_millis(timeout)))
    }

    // Publishing.

    /// `PUBLISH channel message`: sends a message; replies how many subscribers received it
    /// (on this node, in a cluster).
    fn publish<'a, T: FromValue + 'a>(
        &'a self,
        channel: impl ToArg,
        message: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "PUBLISH", arg(channel), arg(message))
    }

    /// `SPUBLISH shardchannel message`: sends a message on a shard channel, routed like a key to
    /// the node owning its slot; replies how many subscribers received it.
    fn spublish<'a, T: FromValue + 'a>(
        &'a self,
        channel: impl ToArg,
        message: impl ToArg,
    ) -> Self::Output<'a, T> {
        command!(self, "SPUBLISH", key(channel), arg(message))
    }

    /// `PUBSUB CHANNELS [pattern]`: the channels with at least one subscriber.
    fn pubsub_channels<'a, T: FromValue + 'a>(
        &'a self,
        pattern: Option<&str>,
    ) -> Self::Output<'a, T> {
        command!(self, "PUBSUB", arg("CHANNELS"), arg_if(pattern))
    }

    /// `PUBSUB NUMSUB channel...`: each channel with its subscriber count, as pairs.
    fn pubsub_numsub<'a, T: FromValue + 'a>(
        &'a self,
        channels: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "PUBSUB", arg("NUMSUB"), args(channels))
    }

    /// `PUBSUB NUMPAT`: the number of pattern subscriptions.
    fn pubsub_numpat<'a, T: FromValue + 'a>(&'a self) -> Self::Output<'a, T> {
        command!(self, "PUBSUB", arg("NUMPAT"))
    }

    /// `PUBSUB SHARDCHANNELS [pattern]`: the shard channels with at least one subscriber.
    fn pubsub_shardchannels<'a, T: FromValue + 'a>(
        &'a self,
        pattern: Option<&str>,
    ) -> Self::Output<'a, T> {
        command!(self, "PUBSUB", arg("SHARDCHANNELS"), arg_if(pattern))
    }

    /// `PUBSUB SHARDNUMSUB shardchannel...`: each shard channel with its subscriber count, as
    /// pairs.
    fn pubsub_shardnumsub<'a, T: FromValue + 'a>(
        &'a self,
        channels: impl ToArgs,
    ) -> Self::Output<'a, T> {
        command!(self, "PUBSUB", arg("SHARDNUMSUB"), args(channels))
    }
}
