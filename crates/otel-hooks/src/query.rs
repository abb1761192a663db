//! `db.query.text`: commands rendered in redis-cli syntax, masked.

use client_core::Command;

/// Whether spans carry `db.query.text`, and how much of it.
///
/// The semantic conventions make the query text opt-in. Whatever the choice, the arguments
/// that carry credentials are always replaced by `?`: those of `AUTH`, the `AUTH` part of
/// `HELLO`, the values of `CONFIG SET requirepass` and `masterauth`, the `AUTH`/`AUTH2` part of
/// `MIGRATE`, and the rules of `ACL SETUSER`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryText {
    /// No `db.query.text` (the default).
    #[default]
    Off,
    /// Command names and subcommands, every argument replaced by `?`: `SET ? ?`,
    /// `CONFIG GET ?`.
    Masked,
    /// Arguments too, quoted as redis-cli quotes them (credentials still replaced by `?`).
    /// Keys and values may be personal data: turn this on only where that is allowed.
    Full,
}

/// The `db.query.text` of a request, or `None` when it is off. Commands of a batch are joined
/// with `; `, or given once when they all read the same. Longer than `max` bytes, the text is
/// cut and ends with `...`.
pub(crate) fn render(commands: &[Command], mode: QueryText, max: usize) -> Option<String> {
    if mode == QueryText::Off {
        return None;
    }
    let mut texts: Vec<String> = Vec::with_capacity(commands.len());
    let mut total = 0;
    for command in commands {
        if total > max {
            break;
        }
        let mut text = String::new();
        render_command(command, mode, max, &mut text);
        total += text.len() + 2;
        texts.push(text);
    }
    let cut = texts.len() < commands.len();
    if !cut && texts.windows(2).all(|pair| pair[0] == pair[1]) {
        texts.truncate(1);
    }
    let mut out = texts.join("; ");
    if cut {
        out.push_str("; ...");
    }
    truncate(&mut out, max);
    Some(out)
}

/// Renders one command into `out`, stopping once `out` is longer than `max`.
fn render_command(command: &Command, mode: QueryText, max: usize, out: &mut String) {
    out.push_str(command.name());
    let secret = Secrets::of(command);
    // A container's subcommand (`CONFIG GET`, `CLIENT SETNAME`) is not data.
    let subcommand = command
        .spec()
        .is_some_and(|spec| spec.name.contains('|'))
        .then_some(1);
    for index in 1..command.arg_count() {
        if out.len() > max {
            return;
        }
        out.push(' ');
        let shown = mode == QueryText::Full || Some(index) == subcommand;
        match command.arg_bytes(index) {
            Some(arg) if shown && !secret.hides(command, index) => quote(arg, out),
            // Masked, secret, or a large argument kept by reference.
            _ => out.push('?'),
        }
    }
}

/// Which arguments of a command hold credentials.
enum Secrets {
    None,
    /// Every argument from this index on.
    From(usize),
    /// `HELLO ... AUTH user pass ...`: the two arguments after `AUTH`.
    HelloAuth,
    /// `MIGRATE ... AUTH pass` / `AUTH2 user pass`.
    MigrateAuth,
    /// `CONFIG SET name value ...`: the values of secret parameters.
    ConfigSet,
}

impl Secrets {
    fn of(command: &Command) -> Self {
        let name = command.name();
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        let arg_is = |i: usize, n: &str| {
            command
                .arg_bytes(i)
                .is_some_and(|a| a.eq_ignore_ascii_case(n.as_bytes()))
        };
        if is("AUTH") {
            Self::From(1)
        } else if is("HELLO") {
            Self::HelloAuth
        } else if is("MIGRATE") {
            Self::MigrateAuth
        } else if is("CONFIG") && arg_is(1, "SET") {
            Self::ConfigSet
        } else if is("ACL") && arg_is(1, "SETUSER") {
            Self::From(3)
        } else {
            Self::None
        }
    }

    fn hides(&self, command: &Command, index: usize) -> bool {
        let arg_is = |i: usize, n: &str| {
            command
                .arg_bytes(i)
                .is_some_and(|a| a.eq_ignore_ascii_case(n.as_bytes()))
        };
        match self {
            Self::None => false,
            Self::From(first) => index >= *first,
            Self::HelloAuth => {
                (index >= 2 && arg_is(index - 1, "AUTH"))
                    || (index >= 3 && arg_is(index - 2, "AUTH"))
            }
            Self::MigrateAuth => {
                (index >= 2 && (arg_is(index - 1, "AUTH") || arg_is(index - 1, "AUTH2")))
                    || (index >= 3 && arg_is(index - 2, "AUTH2"))
            }
            // CONFIG SET p1 v1 p2 v2: values sit at odd indices from 3.
            Self::ConfigSet => {
                index >= 3
                    && index % 2 == 1
                    && (arg_is(index - 1, "requirepass") || arg_is(index - 1, "masterauth"))
            }
        }
    }
}

/// Appends `arg` as redis-cli shows it: bare when it is plain printable text, otherwise in
/// double quotes with escapes.
fn quote(arg: &[u8], out: &mut String) {
    let plain = !arg.is_empty()
        && arg
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
    if plain {
        // ASCII graphic bytes are valid UTF-8.
        out.push_str(std::str::from_utf8(arg).unwrap_or("?"));
        return;
    }
    out.push('"');
    for &b in arg {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b' ' | b'\'' => out.push(char::from(b)),
            b if b.is_ascii_graphic() => out.push(char::from(b)),
            b => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\x");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
    out.push('"');
}

/// Cuts `text` to at most `max` bytes (on a character boundary), ending with `...` if cut.
fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
}

#[cfg(test)]
mod tests {
    use client_core::cmd;

    use super::*;

    fn full(commands: &[Command]) -> String {
        render(commands, QueryText::Full, 1024).unwrap()
    }

    fn masked(commands: &[Command]) -> String {
        render(commands, QueryText::Masked, 1024).unwrap()
    }

    #[test]
    fn off_renders_nothing() {
        assert_eq!(render(&[cmd("GET").key("k")], QueryText::Off, 1024), None);
    }

    #[test]
    fn masked_keeps_names_and_subcommands_only() {
        assert_eq!(masked(&[cmd("SET").key("user:1").arg("ada")]), "SET ? ?");
        assert_eq!(
            masked(&[cmd("CONFIG").arg("GET").arg("maxmemory")]),
            "CONFIG GET ?"
        );
        assert_eq!(masked(&[cmd("PING")]), "PING");
    }

    #[test]
    fn full_quotes_like_redis_cli() {
        let text = full(&[cmd("SET").key("k").arg("hello world").arg(&b"\x00\"\n"[..])]);
        assert_eq!(text, r#"SET k "hello world" "\x00\"\n""#);
        assert_eq!(full(&[cmd("GET").key("")]), r#"GET """#);
    }

    #[test]
    fn credentials_are_never_rendered() {
        assert_eq!(full(&[cmd("AUTH").arg("s3cret")]), "AUTH ?");
        assert_eq!(full(&[cmd("auth").arg("app").arg("s3cret")]), "auth ? ?");
        assert_eq!(
            full(&[cmd("HELLO")
                .arg(3)
                .arg("AUTH")
                .arg("app")
                .arg("s3cret")
                .arg("SETNAME")
                .arg("n")]),
            "HELLO 3 AUTH ? ? SETNAME n"
        );
        assert_eq!(
            full(&[cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg("1mb")
                .arg("REQUIREPASS")
                .arg("s3cret")]),
            "CONFIG SET maxmemory 1mb REQUIREPASS ?"
        );
        assert_eq!(
            full(&[cmd("CONFIG").arg("SET").arg("masterauth").arg("s3cret")]),
            "CONFIG SET masterauth ?"
        );
        assert_eq!(
            full(&[cmd("MIGRATE")
                .arg("h")
                .arg(1)
                .arg("")
                .arg(0)
                .arg(5)
                .arg("AUTH2")
                .arg("u")
                .arg("p")
                .arg("KEYS")
                .arg("k")]),
            r#"MIGRATE h 1 "" 0 5 AUTH2 ? ? KEYS k"#
        );
        assert_eq!(
            full(&[cmd("ACL")
                .arg("SETUSER")
                .arg("app")
                .arg("on")
                .arg(">s3cret")]),
            "ACL SETUSER app ? ?"
        );
    }

    #[test]
    fn batches_join_or_collapse() {
        let same = [cmd("GET").key("a"), cmd("GET").key("b")];
        assert_eq!(masked(&same), "GET ?");
        assert_eq!(full(&same), "GET a; GET b");
        let mixed = [cmd("SET").key("a").arg(1), cmd("INCR").key("a")];
        assert_eq!(masked(&mixed), "SET ? ?; INCR ?");
    }

    #[test]
    fn long_text_is_cut() {
        let big = "x".repeat(5000);
        let text = render(
            &[cmd("SET").key("k").arg(big.as_str())],
            QueryText::Full,
            100,
        )
        .unwrap();
        assert_eq!(text.len(), 100);
        assert!(text.ends_with("..."));
        let many: Vec<Command> = (0..1000).map(|i| cmd("GET").key(i.to_string())).collect();
        let text = render(&many, QueryText::Full, 64).unwrap();
        assert!(text.len() <= 64 && text.ends_with("..."), "{text}");
    }
}
