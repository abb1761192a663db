//! [`Subscriber`]: pub/sub messages as a `Stream`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use client_core::{
    Error, Message, PubSubEvent, SubscriberId, SubscriberSettings, SubscriptionKind,
};
use futures_core::Stream;

use crate::{Client, RequestFuture, Runtime};

/// A reader of pub/sub messages with its own bounded buffer, from [`Client::subscriber`].
///
/// Subscriptions are kept by the client: after a reconnect, a Sentinel failover or (shard
/// channels) a slot migration they are put back, and the subscriber gets
/// [`PubSubEvent::Resubscribed`] since messages published in between may have been missed.
/// When the buffer is full, its [`Overflow`](client_core::Overflow) policy applies: `Block`
/// (the default) stops reading the connection until there is room, `Lag` skips and reports
/// [`PubSubEvent::Lagged`]. Nothing is ever dropped silently.
///
/// It is a [`Stream`] of [`PubSubEvent`]s; [`next_message`](Self::next_message) skips to the
/// messages. Dropping it unsubscribes.
///
/// ```no_run
/// # async fn demo<R: client_driver::Runtime>(client: client_driver::Client<R>) -> Result<(), client_driver::Error> {
/// use client_driver::PubSubEvent;
///
/// let mut news = client.subscriber();
/// news.subscribe(["news"]).await?;
/// while let Some(event) = news.next_event().await {
///     match event {
///         PubSubEvent::Message(message) => println!("{:?}", message.payload),
///         PubSubEvent::Resubscribed { reason, .. } => eprintln!("may have missed some: {reason}"),
///         other => eprintln!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Subscriber<R: Runtime> {
    client: Client<R>,
    id: SubscriberId,
}

impl<R: Runtime> Client<R> {
    /// A subscriber with the default buffer (1024 messages, [`Overflow::Block`](client_core::Overflow::Block)).
    pub fn subscriber(&self) -> Subscriber<R> {
        self.subscriber_with(SubscriberSettings::default())
    }

    /// A subscriber with its own buffer size and overflow policy.
    pub fn subscriber_with(&self, settings: SubscriberSettings) -> Subscriber<R> {
        let id = self
            .shared()
            .lock_and(|core| core.open_subscriber(settings));
        Subscriber {
            client: self.clone(),
            id,
        }
    }
}

impl<R: Runtime> Subscriber<R> {
    /// Its id in the core, for logs.
    pub fn id(&self) -> SubscriberId {
        self.id
    }

    /// Subscribes to channels (`SUBSCRIBE`); returns once the server confirmed them all.
    ///
    /// # Errors
    ///
    /// The server's refusal (none of the channels is kept then), or a timeout (they stay:
    /// the client keeps placing them until [`unsubscribe`](Self::unsubscribe)).
    pub async fn subscribe<C: AsRef<[u8]>>(
        &self,
        channels: impl IntoIterator<Item = C>,
    ) -> Result<(), Error> {
        self.add(SubscriptionKind::Channel, channels).await
    }

    /// Subscribes to glob-style patterns of channels (`PSUBSCRIBE`).
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    pub async fn psubscribe<C: AsRef<[u8]>>(
        &self,
        patterns: impl IntoIterator<Item = C>,
    ) -> Result<(), Error> {
        self.add(SubscriptionKind::Pattern, patterns).await
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`, Redis 7): in a cluster each goes to the
    /// shard that owns its slot, and follows the slot when it moves.
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    pub async fn ssubscribe<C: AsRef<[u8]>>(
        &self,
        channels: impl IntoIterator<Item = C>,
    ) -> Result<(), Error> {
        self.add(SubscriptionKind::Shard, channels).await
    }

    /// Unsubscribes from channels (all of them when empty). Nothing more comes from them.
    pub fn unsubscribe<C: AsRef<[u8]>>(&self, channels: impl IntoIterator<Item = C>) {
        self.remove(SubscriptionKind::Channel, channels);
    }

    /// Unsubscribes from patterns (all of them when empty).
    pub fn punsubscribe<C: AsRef<[u8]>>(&self, patterns: impl IntoIterator<Item = C>) {
        self.remove(SubscriptionKind::Pattern, patterns);
    }

    /// Unsubscribes from shard channels (all of them when empty).
    pub fn sunsubscribe<C: AsRef<[u8]>>(&self, channels: impl IntoIterator<Item = C>) {
        self.remove(SubscriptionKind::Shard, channels);
    }

    /// The next event; `None` once the client was shut down ([`Client::quit`]) and the buffer
    /// is empty.
    pub async fn next_event(&mut self) -> Option<PubSubEvent> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The next message, skipping other events (use [`next_event`](Self::next_event) to see
    /// resubscriptions and lags).
    pub async fn next_message(&mut self) -> Option<Message> {
        loop {
            if let PubSubEvent::Message(message) = self.next_event().await? {
                return Some(message);
            }
        }
    }

    async fn add<C: AsRef<[u8]>>(
        &self,
        kind: SubscriptionKind,
        channels: impl IntoIterator<Item = C>,
    ) -> Result<(), Error> {
        let channels = to_bytes(channels);
        let id = self.id;
        let shared = self.client.shared().clone();
        let waker = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let (request, answer) =
            shared.start(|core, now| core.subscribe(id, kind, channels, now), &waker)?;
        // Dropping it before the confirmation cancels the request, as for any other.
        RequestFuture::<(), R>::started(shared, request, answer).await
    }

    fn remove<C: AsRef<[u8]>>(
        &self,
        kind: SubscriptionKind,
        channels: impl IntoIterator<Item = C>,
    ) {
        let channels = to_bytes(channels);
        let id = self.id;
        self.client
            .shared()
            .lock_and(|core| core.unsubscribe(id, kind, &channels, Instant::now()));
    }
}

fn to_bytes<C: AsRef<[u8]>>(channels: impl IntoIterator<Item = C>) -> Vec<Bytes> {
    channels
        .into_iter()
        .map(|c| Bytes::copy_from_slice(c.as_ref()))
        .collect()
}

impl<R: Runtime> Stream for Subscriber<R> {
    type Item = PubSubEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PubSubEvent>> {
        let shared = self.client.shared();
        let mut state = shared.lock();
        if let Some(event) = state.core.poll_pubsub(self.id) {
            // Taking one may let a paused connection be read again.
            shared.drain(&mut state);
            return Poll::Ready(Some(event));
        }
        if !state.core.is_subscriber_open(self.id) {
            return Poll::Ready(None);
        }
        state.subscribers.insert(self.id, cx.waker().clone());
        Poll::Pending
    }
}

impl<R: Runtime> Drop for Subscriber<R> {
    fn drop(&mut self) {
        let id = self.id;
        let shared = self.client.shared();
        let mut state = shared.lock();
        state.subscribers.remove(&id);
        state.core.close_subscriber(id, Instant::now());
        shared.drain(&mut state);
    }
}
