//! [`Faults`]: what a seed's network and server do wrong, and how often.

use std::time::Duration;

use super::SimRng;

/// What can go wrong on the network and at the server, with a probability each, plus the
/// delays. [`Faults::none`] is a fast, perfect network.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Faults {
    /// Delay of each piece of data, one way (drawn uniformly from the range).
    pub latency: (Duration, Duration),
    /// Delay before a dial succeeds or is refused.
    pub connect_latency: (Duration, Duration),
    /// Per piece of data: split it at random byte boundaries (down to single bytes), each
    /// part arriving on its own.
    pub split: f64,
    /// Per dial: refused.
    pub refuse_connect: f64,
    /// Per dial: never answered, so the core's connect timeout must fire.
    pub unanswered_connect: f64,
    /// Per write: the connection drops while (some of) the bytes are in transit; they never
    /// reach the server.
    pub drop_in_transit: f64,
    /// Per batch of commands the server ran: the connection drops before (all of) the replies
    /// reach the client.
    pub drop_reply: f64,
    /// Per batch of bytes reaching the server: the server stalls that connection for
    /// [`stall_for`](Self::stall_for) before reading it.
    pub stall: f64,
    /// How long a stall lasts.
    pub stall_for: (Duration, Duration),
    /// Per write: the link goes silent for good (half-open): nothing more is delivered either
    /// way, and nobody is told.
    pub silent_link: f64,
    /// Per batch of replies: bytes that are not RESP follow them (a broken proxy, memory
    /// corruption), so the client must give the connection up.
    pub garbage: f64,
    /// Per batch of replies on a RESP3 connection: an out-of-band push (a client-side caching
    /// invalidation) comes first, which must not be taken for a reply.
    pub push: f64,
    /// Per [`Event::Transmit`](crate::Event::Transmit): the adapter calls `poll_transmit` a little later instead of
    /// at once, so more requests pile into one write, and a connection can fail with output
    /// the core never handed over.
    pub deferred_flush: f64,
}

impl Faults {
    /// A perfect network: 100 µs each way, no faults.
    pub fn none() -> Self {
        let tick = Duration::from_micros(100);
        Self {
            latency: (tick, tick),
            connect_latency: (tick, tick),
            split: 0.0,
            refuse_connect: 0.0,
            unanswered_connect: 0.0,
            drop_in_transit: 0.0,
            drop_reply: 0.0,
            stall: 0.0,
            stall_for: (Duration::ZERO, Duration::ZERO),
            silent_link: 0.0,
            garbage: 0.0,
            push: 0.0,
            deferred_flush: 0.0,
        }
    }

    /// No faults, but random delays, split reads, deferred writes and RESP3 pushes.
    pub fn calm(rng: &mut SimRng) -> Self {
        Self {
            latency: (Duration::from_micros(20), rng.millis(1, 3)),
            connect_latency: (Duration::from_micros(50), rng.millis(1, 5)),
            split: rng.unit(),
            push: rng.unit() * 0.1,
            deferred_flush: rng.unit() * 0.5,
            ..Self::none()
        }
    }

    /// Random probabilities for every fault, for a seed's run. `timeout` is the command
    /// timeout, which stalls outlast.
    pub fn random(rng: &mut SimRng, timeout: Duration) -> Self {
        let mut p = |max: f64| {
            if rng.chance(0.3) {
                0.0
            } else {
                rng.unit() * max
            }
        };
        let (refuse, unanswered, in_transit, reply) = (p(0.2), p(0.05), p(0.05), p(0.05));
        let (stall, silent, garbage) = (p(0.02), p(0.01), p(0.005));
        let mut faults = Self::calm(rng);
        faults.refuse_connect = refuse;
        faults.unanswered_connect = unanswered;
        faults.drop_in_transit = in_transit;
        faults.drop_reply = reply;
        faults.stall = stall;
        faults.stall_for = (timeout.mul_f64(1.1), timeout.mul_f64(2.5));
        faults.silent_link = silent;
        faults.garbage = garbage;
        faults
    }
}
