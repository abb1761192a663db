//! The typed command API, written once for every executor.
//!
//! [`Commands`] has one required method, [`command`](Commands::command), which hands a built
//! [`Command`] to whatever executes it, and a provided method per Redis command. A client's
//! `Output` is a future of the reply; a pipeline's is the pipeline itself, so calls chain.

use crate::command::{Command, ToArg};
use crate::value::FromValue;

/// Typed Redis commands, for any executor: a client, a pipeline, a transaction.
///
/// Implementors provide [`command`](Self::command); every other method is provided and builds
/// its [`Command`] the same way everywhere.
pub trait Commands {
    /// What a typed method returns: a future of `T` for a client, the builder itself for a
    /// pipeline.
    type Output<'a, T: FromValue + 'a>
    where
        Self: 'a;

    /// Executes (or queues) a command whose reply converts into `T`.
    fn command<'a, T: FromValue + 'a>(&'a self, command: Command) -> Self::Output<'a, T>;

    /// The escape hatch: any command, built with [`cmd`](crate::cmd), including module commands
    /// the typed API does not cover.
    fn cmd<'a, T: FromValue + 'a>(&'a self, command: Command) -> Self::Output<'a, T> {
        self.command(command)
    }

    /// `GET key`: the value of a string key, `None` when it does not exist.
    fn get<'a, T: FromValue + 'a>(&'a self, key: impl ToArg) -> Self::Output<'a, T> {
        self.command(crate::cmd("GET").key(key))
    }
}
