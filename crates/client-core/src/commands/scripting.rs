//! Lua scripts: [`Script`], which runs by its hash and loads itself when the server does not
//! know it yet.

use crate::command::{Command, ToArgs, cmd};

/// A Lua script, run with [`invoke_script`](super::Commands::invoke_script).
///
/// The script is sent as `EVALSHA <sha1> ...`, so only its hash travels on every call. If the
/// server answers `NOSCRIPT` (it restarted, failed over, or `SCRIPT FLUSH` ran), the core sends
/// `EVAL <source> ...` on the same connection instead, which runs and caches the script; the
/// caller sees only that reply.
///
/// ```
/// use client_core::Commands;
/// use client_core::commands::Script;
///
/// /// Releases a lock only if `owner` still holds it; true when released.
/// fn unlock<'a, C: Commands>(client: &'a C, script: &Script, owner: &str) -> C::Output<'a, bool> {
///     client.invoke_script(script, ["lock"], [owner])
/// }
///
/// let unlock_script = Script::new(
///     "if redis.call('GET', KEYS[1]) == ARGV[1] then \
///          return redis.call('DEL', KEYS[1]) \
///      else return 0 end",
/// );
/// assert_eq!(unlock_script.sha1().len(), 40);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Script {
    source: String,
    sha1: String,
}

impl Script {
    /// A script from its Lua source; computes its SHA-1, the name the server caches it under.
    pub fn new(source: impl Into<String>) -> Self {
        let source = source.into();
        let sha1 = sha1_smol::Sha1::from(source.as_bytes())
            .digest()
            .to_string();
        Self { source, sha1 }
    }

    /// The SHA-1 of the source in lower-case hex, as `SCRIPT LOAD` returns it.
    pub fn sha1(&self) -> &str {
        &self.sha1
    }

    /// The Lua source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `EVALSHA` (or `EVALSHA_RO`) with the `EVAL` of the source as its `NOSCRIPT` fallback.
    pub(super) fn invocation(
        &self,
        read_only: bool,
        keys: &impl ToArgs,
        args: &impl ToArgs,
    ) -> Command {
        let (by_hash, by_source) = if read_only {
            ("EVALSHA_RO", "EVAL_RO")
        } else {
            ("EVALSHA", "EVAL")
        };
        let fallback = with_keys_and_args(cmd(by_source).arg(self.source.as_str()), keys, args);
        with_keys_and_args(cmd(by_hash).arg(self.sha1.as_str()), keys, args).on_noscript(fallback)
    }
}

/// `numkeys key... arg...`, as `EVAL`, `EVALSHA` and `FCALL` take them, with the keys marked.
pub(super) fn with_keys_and_args(
    mut command: Command,
    keys: &impl ToArgs,
    args: &impl ToArgs,
) -> Command {
    command = command.arg(keys.arg_count());
    command.push_keys(keys);
    command.push_args(args);
    command
}

#[cfg(test)]
mod tests {
    use super::super::recorder::{Recorded, record};
    use super::*;
    use crate::Commands;

    const NONE: [&str; 0] = [];

    #[test]
    fn the_hash_is_the_servers_sha1_of_the_source() {
        // What `SCRIPT LOAD "return 1"` answers, and SHA-1 of the empty string.
        assert_eq!(
            Script::new("return 1").sha1(),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
        assert_eq!(
            Script::new("").sha1(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(Script::new(String::from("return 1")).source(), "return 1");
    }

    #[test]
    fn invoking_sends_evalsha_and_falls_back_to_eval() {
        let script = Script::new("return KEYS[1]");
        let r = record(|c| c.invoke_script::<()>(&script, ["{u}a", "{u}b"], ("x", 2)));
        r.args(&["EVALSHA", script.sha1(), "2", "{u}a", "{u}b", "x", "2"])
            .keys(&["{u}a", "{u}b"]);
        let fallback = Recorded::new(r.command.noscript_fallback().expect("a fallback").clone());
        fallback
            .args(&["EVAL", "return KEYS[1]", "2", "{u}a", "{u}b", "x", "2"])
            .keys(&["{u}a", "{u}b"]);

        let r = record(|c| c.invoke_script_ro::<()>(&script, NONE, NONE));
        r.args(&["EVALSHA_RO", script.sha1(), "0"]).keys(&[]);
        let fallback = Recorded::new(r.command.noscript_fallback().unwrap().clone());
        fallback.args(&["EVAL_RO", "return KEYS[1]", "0"]);
    }

    #[test]
    fn scripting_commands() {
        record(|c| c.eval::<()>("return 1", ["k"], ["a"]))
            .args(&["EVAL", "return 1", "1", "k", "a"])
            .keys(&["k"]);
        record(|c| c.evalsha_ro::<()>("abc", NONE, NONE)).args(&["EVALSHA_RO", "abc", "0"]);
        record(|c| c.fcall::<()>("f", ["k1", "k2"], NONE))
            .args(&["FCALL", "f", "2", "k1", "k2"])
            .keys(&["k1", "k2"]);
        record(|c| c.script_exists::<()>(["a", "b"])).args(&["SCRIPT", "EXISTS", "a", "b"]);
        record(|c| c.script_flush::<()>(Some(super::super::FlushMode::Async)))
            .args(&["SCRIPT", "FLUSH", "ASYNC"]);
        record(|c| c.function_load::<()>("#!lua name=lib", true)).args(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=lib",
        ]);
    }
}
