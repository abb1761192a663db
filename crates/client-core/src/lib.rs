//! The sans-IO core of the redwire client (in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod command;
pub mod commands;
pub mod value;

pub use crate::command::{
    Arg, BeginSearch, Command, CommandFlags, CommandSpec, FindKeys, KeySpec, RequestPolicy,
    ResponsePolicy, ToArg, ToArgs, cmd,
};
pub use crate::commands::Commands;
pub use crate::value::{ConversionError, FromValue};
