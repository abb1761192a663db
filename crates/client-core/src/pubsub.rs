//! Pub/sub: what a subscriber is, what it receives, and how its buffer behaves when its
//! reader falls behind.
//!
//! Subscriptions are state the core owns: [`Client::subscribe`](crate::Client::subscribe)
//! records them, the core places them on a connection (RESP3: the shared connection, through
//! push frames; RESP2: a connection of their own), and puts them back after the connection
//! is lost, after a Sentinel failover, and (sharded channels) after their slot moves. Each
//! time it does, the subscriber gets [`PubSubEvent::Resubscribed`]: messages published in
//! between may have been missed.

use std::fmt;

use bytes::Bytes;
use resp_core::Frame;

use crate::value::{ConversionError, FromValue};

/// A subscriber: one reader of messages, with its own buffer. Ids are never reused by one
/// core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(pub(crate) u32);

impl SubscriberId {
    /// The raw number, for logs.
    pub fn index(self) -> u32 {
        self.0
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subscriber#{}", self.0)
    }
}

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubscriptionKind {
    /// A channel (`SUBSCRIBE`; messages from `PUBLISH`). In a cluster, `PUBLISH` reaches
    /// every node.
    Channel,
    /// A glob-style pattern of channels (`PSUBSCRIBE`).
    Pattern,
    /// A shard channel (`SSUBSCRIBE`; messages from `SPUBLISH`): it lives in the slot of its
    /// name, on the shard that owns that slot.
    Shard,
}

impl SubscriptionKind {
    /// The command that subscribes.
    pub fn subscribe_command(self) -> &'static str {
        match self {
            Self::Channel => "SUBSCRIBE",
            Self::Pattern => "PSUBSCRIBE",
            Self::Shard => "SSUBSCRIBE",
        }
    }

    /// The command that unsubscribes.
    pub fn unsubscribe_command(self) -> &'static str {
        match self {
            Self::Channel => "UNSUBSCRIBE",
            Self::Pattern => "PUNSUBSCRIBE",
            Self::Shard => "SUNSUBSCRIBE",
        }
    }

    /// The kind a confirmation or message names (`subscribe`, `pmessage`, ...), and whether
    /// it is an unsubscription.
    pub(crate) fn of_confirmation(name: &[u8]) -> Option<(Self, bool)> {
        Some(match name {
            b"subscribe" => (Self::Channel, false),
            b"psubscribe" => (Self::Pattern, false),
            b"ssubscribe" => (Self::Shard, false),
            b"unsubscribe" => (Self::Channel, true),
            b"punsubscribe" => (Self::Pattern, true),
            b"sunsubscribe" => (Self::Shard, true),
            _ => return None,
        })
    }
}

impl fmt::Display for SubscriptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Channel => "channel",
            Self::Pattern => "pattern",
            Self::Shard => "shard channel",
        })
    }
}

/// What a subscriber's buffer does when it is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Stop reading the connection the messages come on until the subscriber takes some:
    /// nothing is dropped, and the server buffers (up to its `client-output-buffer-limit`
    /// for pub/sub, past which it closes the connection, which the subscriber then hears
    /// about as a [`PubSubEvent::Resubscribed`]). In RESP3 the connection is the shared
    /// one, so replies to other requests wait too. The default.
    #[default]
    Block,
    /// Keep reading and skip what does not fit; the subscriber gets
    /// [`PubSubEvent::Lagged`] with the number skipped, where they would have been.
    Lag,
}

/// How a subscriber buffers messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberSettings {
    /// Messages held for the subscriber before [`overflow`](Self::overflow) applies. At
    /// least 1. Default 1024.
    pub capacity: usize,
    /// What happens when the buffer is full. Default [`Overflow::Block`].
    pub overflow: Overflow,
}

impl Default for SubscriberSettings {
    fn default() -> Self {
        Self {
            capacity: 1024,
            overflow: Overflow::Block,
        }
    }
}

impl SubscriberSettings {
    /// Settings with `capacity` and `overflow`.
    pub fn new(capacity: usize, overflow: Overflow) -> Self {
        Self {
            capacity: capacity.max(1),
            overflow,
        }
    }
}

/// One published message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The kind of subscription it came through.
    pub kind: SubscriptionKind,
    /// The channel it was published to.
    pub channel: Bytes,
    /// For a [`SubscriptionKind::Pattern`] subscription: the pattern that matched.
    pub pattern: Option<Bytes>,
    /// What was published.
    pub payload: Bytes,
}

impl Message {
    /// The payload converted like a reply: `String`, `i64`, `Vec<u8>`, a `Json<T>`, ...
    ///
    /// ```
    /// # use client_core::{Message, SubscriptionKind};
    /// # fn show(message: &Message) -> Result<(), client_core::ConversionError> {
    /// let count: i64 = message.payload_as()?;
    /// # let _ = count; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversionError`] when the payload does not fit `T`.
    pub fn payload_as<T: FromValue>(&self) -> Result<T, ConversionError> {
        T::from_value(Frame::BulkString(self.payload.clone()))
    }
}

/// What a subscriber receives, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PubSubEvent {
    /// A message.
    Message(Message),
    /// The buffer was full ([`Overflow::Lag`]): this many messages were skipped here.
    Lagged {
        /// How many.
        skipped: u64,
    },
    /// These subscriptions had been lost (their connection failed, the Sentinel primary
    /// changed, their slot moved) and are in place again: messages published in between may
    /// have been missed.
    Resubscribed {
        /// Their kind.
        kind: SubscriptionKind,
        /// The channels or patterns.
        channels: Vec<Bytes>,
        /// Why they had been lost.
        reason: String,
    },
    /// The server refused to put these subscriptions back (for example an ACL change now
    /// denies the channel): they are dropped, and no more messages come from them.
    Dropped {
        /// Their kind.
        kind: SubscriptionKind,
        /// The channels or patterns.
        channels: Vec<Bytes>,
        /// The server's error.
        error: String,
    },
}
