//! A WebSocket client's outgoing frames: a queue bounded in bytes.
//!
//! Frames for a client come from the ring node and from other clients'
//! relays, faster than a slow or hostile client may read them. The socket
//! writer takes them one at a time and waits while the socket is full, so
//! a client that reads slowly is slowed; the queue in front of it holds at
//! most [`Outbox::limit`] bytes, and a frame that would go past that closes
//! the queue: the writer sees [`Overflow`] and disconnects the client
//! instead of buffering for it without end.
//!
//! tokio's bounded channel counts messages, not bytes, and frames range
//! from a few bytes to a megabyte, so the bound is kept here beside an
//! unbounded channel.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

/// The client's queue is full: it is not reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send queue full")]
pub struct Overflow;

struct Shared {
    queued: AtomicUsize,
    limit: usize,
    overflowed: AtomicBool,
    wake: Notify,
}

/// The sending half; cheap to clone.
#[derive(Clone)]
pub struct OutboxTx {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    shared: Arc<Shared>,
}

/// The receiving half, read by the client's socket writer.
pub struct Outbox {
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    shared: Arc<Shared>,
}

/// A queue of at most `limit` bytes.
pub fn outbox(limit: usize) -> (OutboxTx, Outbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        limit,
        overflowed: AtomicBool::new(false),
        wake: Notify::new(),
    });
    (
        OutboxTx {
            tx,
            shared: shared.clone(),
        },
        Outbox { rx, shared },
    )
}

impl OutboxTx {
    /// Queues `frame`, or closes the queue if it would hold more than its
    /// limit. A closed queue takes nothing more.
    pub fn send(&self, frame: Vec<u8>) -> Result<(), Overflow> {
        let s = &self.shared;
        if s.overflowed.load(Ordering::Relaxed) {
            return Err(Overflow);
        }
        let len = frame.len();
        let before = s.queued.fetch_add(len, Ordering::Relaxed);
        if before + len > s.limit {
            s.queued.fetch_sub(len, Ordering::Relaxed);
            s.overflowed.store(true, Ordering::Relaxed);
            s.wake.notify_one();
            return Err(Overflow);
        }
        if self.tx.send(frame).is_err() {
            s.queued.fetch_sub(len, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Outbox {
    /// The next frame; `Ok(None)` once every sender is gone, `Err` once the
    /// queue overflowed.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, Overflow> {
        let s = self.shared.clone();
        if s.overflowed.load(Ordering::Relaxed) {
            return Err(Overflow);
        }
        tokio::select! {
            _ = s.wake.notified() => Err(Overflow),
            f = self.rx.recv() => {
                if let Some(f) = &f {
                    s.queued.fetch_sub(f.len(), Ordering::Relaxed);
                }
                Ok(f)
            }
        }
    }

    /// Resolves once the queue has overflowed (at once if it has).
    pub async fn overflowed(&self) {
        let s = &self.shared;
        while !s.overflowed.load(Ordering::Relaxed) {
            s.wake.notified().await;
        }
    }

    /// Bytes queued now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// The most bytes the queue holds.
    pub fn limit(&self) -> usize {
        self.shared.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_queue_that_would_pass_its_limit_closes() {
        let (tx, mut rx) = outbox(10);
        tx.send(vec![0; 6]).unwrap();
        tx.send(vec![0; 4]).unwrap();
        assert_eq!(rx.queued(), 10);
        assert_eq!(rx.recv().await, Ok(Some(vec![0; 6])));
        tx.send(vec![0; 6]).unwrap();
        assert_eq!(tx.send(vec![0; 1]), Err(Overflow));
        // Closed for good, even once there is room again.
        assert_eq!(rx.recv().await, Err(Overflow));
        assert_eq!(tx.send(vec![0; 1]), Err(Overflow));
    }

    #[tokio::test]
    async fn frames_come_out_in_order_until_the_senders_go() {
        let (tx, mut rx) = outbox(100);
        for i in 0..5u8 {
            tx.send(vec![i]).unwrap();
        }
        drop(tx);
        for i in 0..5u8 {
            assert_eq!(rx.recv().await, Ok(Some(vec![i])));
        }
        assert_eq!(rx.recv().await, Ok(None));
        assert_eq!(rx.queued(), 0);
    }
}
