//! [`Batch`]: commands collected through the typed API, for a pipeline or a transaction.

use std::cell::RefCell;

use crate::command::Command;
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
}
