//! [`Batch`]: commands collected through the typed API, for a pipeline or a transaction.

use std::cell::RefCell;

use crate::command::{Command, CommandSpec};
use crate::commands::Commands;
use crate::request::Request;
use crate::value::FromValue;

/// Collects commands through the typed [`Commands`] methods, to send them together as a
/// pipeline or a transaction. Every adapter's pipeline and transaction builders wrap one.
///
/// ```
/// use client_core::{Batch, Commands, Reply};
/// let batch = Batch::new();
/// batch.set::<()>("k", "v").incr::<i64>("n").get::<String>("k");
/// assert_eq!(batch.len(), 3);
/// let request = batch.into_pipeline();
/// assert_eq!(request.len(), 3);
/// ```
#[derive(Debug)]
pub struct Batch {
    commands: RefCell<Vec<Command>>,
}

/// Room for this many commands comes with a new batch: a batch of a hundred then grows three
/// times instead of six (each a `realloc`).
const FIRST_CAPACITY: usize = 16;

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self {
            commands: RefCell::new(Vec::with_capacity(FIRST_CAPACITY)),
        }
    }

    /// How many commands were added.
    pub fn len(&self) -> usize {
        self.commands.borrow().len()
    }

    /// Whether no command was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The commands, in the order they were added.
    pub fn into_commands(self) -> Vec<Command> {
        self.commands.into_inner()
    }

    /// A pipeline request of the commands: sent together, answered in order.
    pub fn into_pipeline(self) -> Request {
        Request::pipeline(self.into_commands())
    }

    /// A transaction request of the commands: `MULTI`, the commands, `EXEC`.
    pub fn into_transaction(self) -> Request {
        Request::transaction(self.into_commands())
    }

    /// Takes the commands out, leaving the batch empty: for builders that end a chain of
    /// typed calls (which return `&Batch`) with a `run`.
    pub fn take_commands(&self) -> Vec<Command> {
        std::mem::take(&mut *self.commands.borrow_mut())
    }
}

impl Commands for Batch {
    type Output<'a, T: FromValue + 'a> = &'a Self;

    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> &'a Self {
        self.commands.borrow_mut().push(command);
        self
    }

    /// Builds the command in its slot at the end of the batch. An argument's [`ToArg`]
    /// conversion runs while the batch is borrowed, so it must not add to the same batch
    /// (that panics). If it panics, the half-built command is taken out again.
    ///
    /// [`ToArg`]: crate::ToArg
    fn command_in_place<'a, T: FromValue + 'a>(
        &'a self,
        name: &'static str,
        spec: Option<&'static CommandSpec>,
        build: impl FnOnce(&mut Command),
    ) -> &'a Self {
        let mut commands = self.commands.borrow_mut();
        commands.push(Command::BLANK);
        let unfinished = Unfinished(&mut commands);
        let command = unfinished.0.last_mut().expect("a command was just pushed");
        command.start(name, spec);
        build(command);
        std::mem::forget(unfinished);
        self
    }
}

/// The batch's commands while the last one is being built: dropped only when building it
/// panicked, and then takes it out.
struct Unfinished<'v>(&'v mut Vec<Command>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        self.0.pop();
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use resp_core::SendBuffer;

    use super::*;
    use crate::command::{Arg, ToArg, cmd};

    fn wire(commands: &[Command]) -> Vec<u8> {
        let mut out = SendBuffer::new();
        commands.iter().for_each(|c| c.encode_into(&mut out));
        out.tail_mut().to_vec()
    }

    #[test]
    fn commands_built_in_their_slots_are_those_the_builder_makes() {
        let batch = Batch::new();
        let long = "v".repeat(300);
        let _ = batch
            .set::<()>("user:1", "ada")
            .get::<String>("user:1")
            .mget::<Vec<String>>(["{t}a", "{t}b"])
            .set::<()>("big", long.as_str())
            .incr::<i64>("n");
        for _ in 0..40 {
            let _ = batch.ping::<String>();
        }
        let commands = batch.into_commands();
        let mut want = vec![
            cmd("SET").key("user:1").arg("ada"),
            cmd("GET").key("user:1"),
            cmd("MGET").key("{t}a").key("{t}b"),
            cmd("SET").key("big").arg(long.as_str()),
            cmd("INCR").key("n"),
        ];
        want.extend((0..40).map(|_| cmd("PING")));
        assert_eq!(wire(&commands), wire(&want));
        for (got, want) in commands.iter().zip(&want) {
            assert_eq!(got.name(), want.name());
            assert_eq!(got.slot(), want.slot(), "{}", want.name());
            assert_eq!(got.is_read_only(), want.is_read_only(), "{}", want.name());
            assert_eq!(got.is_retry_safe(), want.is_retry_safe(), "{}", want.name());
        }
    }

    /// An argument whose conversion panics.
    struct Poisoned;

    impl ToArg for Poisoned {
        fn to_arg(&self) -> Arg<'_> {
            panic!("no argument here")
        }
    }

    #[test]
    fn a_command_whose_argument_panics_is_not_left_half_built_in_the_batch() {
        let batch = Batch::new();
        let _ = batch.set::<()>("a", 1);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let _ = batch.set::<()>("b", Poisoned);
        }));
        assert!(caught.is_err());
        let _ = batch.get::<i64>("a");
        let commands = batch.into_commands();
        assert_eq!(
            wire(&commands),
            wire(&[cmd("SET").key("a").arg(1), cmd("GET").key("a")])
        );
    }
}
