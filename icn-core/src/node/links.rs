//! The node's view of its links.
//!
//! The core never opens a connection itself: it asks its driver with
//! `Event::Dial` and learns the outcome through `LinkUp`/`LinkDown`. Messages
//! for a peer that is still being dialled wait in a small bounded queue. A link
//! closed on purpose is announced with a `Bye` first, so the other side can
//! tell a hang-up from a crash.

use rustc_hash::FxHashMap as HashMap;

use crate::id::RingId;

use super::Time;

/// Most messages queued for a peer that is still being dialled.
const MAX_QUEUE: usize = 256;

#[derive(Debug)]
pub(super) struct Link {
    pub(super) up: bool,
    pub(super) since: Time,
    pub(super) last_used: Time,
    pub(super) queue: Vec<Vec<u8>>,
    /// The peer said `Bye`: a following link-down is not a crash.
    pub(super) bye_received: bool,
}

/// What [`Links::send`] did with a message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SendOutcome {
    /// The link is up: transmit now.
    Transmit(Vec<u8>),
    /// Queued; the driver must be asked to dial.
    Dial,
    /// Queued behind a dial already under way.
    Queued,
    /// The queue is full; the message was dropped.
    Dropped,
}

#[derive(Debug, Default)]
pub(super) struct Links {
    links: HashMap<RingId, Link>,
}

impl Links {
    pub(super) fn is_up(&self, peer: &RingId) -> bool {
        self.links.get(peer).is_some_and(|l| l.up)
    }

    pub(super) fn len(&self) -> usize {
        self.links.len()
    }

    pub(super) fn peers(&self) -> impl Iterator<Item = (&RingId, &Link)> {
        self.links.iter()
    }

    pub(super) fn send(&mut self, now: Time, peer: RingId, bytes: Vec<u8>) -> SendOutcome {
        match self.links.get_mut(&peer) {
            Some(l) if l.up => {
                l.last_used = now;
                SendOutcome::Transmit(bytes)
            }
            Some(l) if l.queue.len() >= MAX_QUEUE => SendOutcome::Dropped,
            Some(l) => {
                l.queue.push(bytes);
                SendOutcome::Queued
            }
            None => {
                self.links.insert(
                    peer,
                    Link {
                        up: false,
                        since: now,
                        last_used: now,
                        queue: vec![bytes],
                        bye_received: false,
                    },
                );
                SendOutcome::Dial
            }
        }
    }

    /// Marks a link up and returns the messages waiting for it.
    pub(super) fn up(&mut self, now: Time, peer: RingId) -> Vec<Vec<u8>> {
        let l = self.links.entry(peer).or_insert(Link {
            up: true,
            since: now,
            last_used: now,
            queue: Vec::new(),
            bye_received: false,
        });
        l.up = true;
        l.since = now;
        l.last_used = now;
        std::mem::take(&mut l.queue)
    }

    /// Forgets a link; returns whether the peer had said `Bye`, if it existed.
    pub(super) fn down(&mut self, peer: &RingId) -> Option<bool> {
        self.links.remove(peer).map(|l| l.bye_received)
    }

    pub(super) fn bye_received(&mut self, peer: &RingId) {
        if let Some(l) = self.links.get_mut(peer) {
            l.bye_received = true;
        }
    }

    /// Dials that have not completed since `before`.
    pub(super) fn stale_dials(&self, before: Time) -> Vec<RingId> {
        self.links
            .iter()
            .filter(|(_, l)| !l.up && l.since < before)
            .map(|(p, _)| *p)
            .collect()
    }
}
