//! [`Signal`]: wakes the one task that waits for it, keeping the wake-up if that task is busy.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use futures_util::task::AtomicWaker;

/// A wake-up for one waiting task (a connection's writer, its paused reader, the timer).
/// A signal sent while the task is not waiting is kept, and ends its next wait at once.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Wakes the waiting task, or lets its next wait end at once.
    pub(crate) fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Waits until [`notify`](Self::notify) was called since the last wait ended.
    pub(crate) async fn notified(&self) {
        poll_fn(|cx| {
            if self.set.swap(false, Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.set.swap(false, Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}
