//! The node's view of its links.
//!
//! The core never opens a connection itself: it asks its driver with
//! `Event::Dial` and learns the outcome through `LinkUp`/`LinkDown`. Messages
//! for a peer that is still being dialled wait in a queue bounded in bytes
//! (`Limits::dial_queue_bytes`). A link
//! closed on purpose is announced with a `Bye` first, so the other side can
//! tell a hang-up from a crash; a link whose carrier went away (`LinkLost`:
//! the gateway that relayed it died) is no crash either.
//!
//! A crash of the peer may go unnoticed by the transport for a long time
//! (ICE gives up on a silent DataChannel after some 25 s), and every message
//! sent meanwhile is lost. So a link that carries messages but has been
//! silent for [`SILENT_MS`] is probed: the node pings the peer, and if
//! nothing at all comes back within the ping timeout the peer is presumed
//! dead. Links in use are thus checked within seconds, idle ones cost
//! nothing.

use crate::vecmap::VecMap;

use crate::id::RingId;

use super::Time;

/// Silence after which a link that is sent on is probed.
const SILENT_MS: u64 = 1000;

#[derive(Debug)]
pub(super) struct Link {
    pub(super) up: bool,
    pub(super) since: Time,
    pub(super) last_used: Time,
    pub(super) queue: Vec<Vec<u8>>,
    /// The peer said `Bye`: a following link-down is not a crash.
    pub(super) bye_received: bool,
    /// When the peer was last heard from (or the link came up).
    pub(super) last_heard: Time,
    /// This node dialled the peer, or the peer has sent a message on the
    /// link: a link the peer opened and never used proves nothing about it.
    pub(super) known: bool,
    /// A probe is out: the peer must be heard from by then.
    pub(super) probe_deadline: Option<Time>,
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
    links: VecMap<RingId, Link>,
}

impl Links {
    pub(super) fn is_up(&self, peer: &RingId) -> bool {
        self.links.get(peer).is_some_and(|l| l.up)
    }

    pub(super) fn len(&self) -> usize {
        self.links.len()
    }

    pub(super) fn any_up(&self) -> bool {
        self.links.values().any(|l| l.up)
    }

    pub(super) fn peers(&self) -> impl Iterator<Item = (&RingId, &Link)> {
        self.links.iter()
    }

    /// Sends on the link to `peer`, or queues behind its dial while the
    /// queue holds less than `max_queue` bytes.
    pub(super) fn send(
        &mut self,
        now: Time,
        peer: RingId,
        bytes: Vec<u8>,
        max_queue: usize,
    ) -> SendOutcome {
        match self.links.get_mut(&peer) {
            Some(l) if l.up => {
                l.last_used = now;
                SendOutcome::Transmit(bytes)
            }
            Some(l) if l.queue.iter().map(Vec::len).sum::<usize>() + bytes.len() > max_queue => {
                SendOutcome::Dropped
            }
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
                        last_heard: now,
                        known: true,
                        probe_deadline: None,
                    },
                );
                SendOutcome::Dial
            }
        }
    }

    /// Marks a link up and returns the messages waiting for it.
    pub(super) fn up(&mut self, now: Time, peer: RingId) -> Vec<Vec<u8>> {
        let l = self.links.get_or_insert_with(peer, || Link {
            up: true,
            since: now,
            last_used: now,
            queue: Vec::new(),
            bye_received: false,
            last_heard: now,
            known: false,
            probe_deadline: None,
        });
        l.up = true;
        l.since = now;
        l.last_used = now;
        l.last_heard = now;
        l.probe_deadline = None;
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

    /// The peer was heard from: it is alive.
    pub(super) fn heard(&mut self, now: Time, peer: &RingId) {
        if let Some(l) = self.links.get_mut(peer) {
            l.last_heard = now;
            l.known = true;
            l.probe_deadline = None;
        }
    }

    /// Peers this node dialled or heard from (see [`Link::known`]).
    pub(super) fn known(&self) -> impl Iterator<Item = RingId> + '_ {
        self.links.iter().filter(|(_, l)| l.known).map(|(p, _)| *p)
    }

    /// Whether the up link to `peer`, about to be sent on, has been silent
    /// too long and has no probe out.
    pub(super) fn wants_probe(&self, now: Time, peer: &RingId) -> bool {
        self.links.get(peer).is_some_and(|l| {
            l.up && l.probe_deadline.is_none() && now.saturating_sub(l.last_heard) >= SILENT_MS
        })
    }

    /// A probe to `peer` is out: it must be heard from by `deadline`.
    pub(super) fn probe_out(&mut self, peer: &RingId, deadline: Time) {
        if let Some(l) = self.links.get_mut(peer) {
            l.probe_deadline = Some(deadline);
        }
    }

    /// Peers with an up link, in id order.
    pub(super) fn up_peers(&self) -> Vec<RingId> {
        let mut up: Vec<RingId> = self
            .links
            .iter()
            .filter(|(_, l)| l.up)
            .map(|(p, _)| *p)
            .collect();
        up.sort_unstable();
        up
    }

    /// Peers whose probe went unanswered by `now`.
    pub(super) fn unanswered_probes(&self, now: Time) -> Vec<RingId> {
        self.links
            .iter()
            .filter(|(_, l)| l.probe_deadline.is_some_and(|d| d <= now))
            .map(|(p, _)| *p)
            .collect()
    }

    /// The earliest pending deadline of any link: a dial's or a probe's.
    pub(super) fn next_deadline(&self, dial_timeout: Time) -> Option<Time> {
        self.links
            .values()
            .filter_map(|l| {
                if l.up {
                    l.probe_deadline
                } else {
                    Some(l.since + dial_timeout)
                }
            })
            .min()
    }

    /// Dials started at `before` or earlier that have not completed.
    pub(super) fn stale_dials(&self, before: Time) -> Vec<RingId> {
        self.links
            .iter()
            .filter(|(_, l)| !l.up && l.since <= before)
            .map(|(p, _)| *p)
            .collect()
    }
}
