//! Rings that were apart become one: after a partition, and when a gateway
//! that restarted founds a ring beside the one its peers still form.
//!
//! Chord's stabilize only repairs a ring from the pointers it has; two rings
//! whose nodes know nothing of each other stay two rings for ever (Zave,
//! "Reasoning about identifier spaces"). Two things are added, after
//! Shafaat et al. ("Dealing with network partitions in structured overlay
//! networks"):
//!
//! - **The lost list.** A node presumed dead is kept (at most [`MAX_LOST`]
//!   of them, each for [`FORGET_MS`]) and contacted again now and then, with
//!   a link probe: from 5 s after its death, doubling to once a minute. A
//!   partition that heals is found within a minute of healing. Drivers add
//!   nodes from an earlier run ([`Node::remember`]); a gateway keeps them on
//!   disk, so that a restarted one finds its old ring when its peers connect
//!   again.
//! - **The zipper.** A node that hears from a lost node again sends it
//!   `Merge { candidate: self }`. A node told of a candidate that lies
//!   between it and its successor takes the candidate as its successor and
//!   tells the candidate of its old successor in turn; a candidate farther
//!   on is passed to the successor. Each step places one node of one ring
//!   among the nodes of the other, as two sorted lists are merged, and
//!   the merge ends where it began, where the candidate already is the
//!   successor. A passed-on candidate gets strictly closer with every hop,
//!   so no `Merge` circles. Predecessors, successor lists, fingers and data
//!   follow through stabilize, notify and hand-off as after any join.
//!
//! Both rings run the zipper from each contact, so the merge takes about as
//! many steps as there are nodes, a few milliseconds each: a simpler scheme
//! than Shafaat's lookups for the ring sizes of a gateway's audience.

use crate::id::RingId;
use crate::vecmap::VecMap;
use crate::wire::Message;

use super::{Node, Store, Time, LINK_PROBE};

/// Lost nodes kept; the oldest goes first.
pub(super) const MAX_LOST: usize = 16;
/// First wait before a lost node is contacted again.
pub(super) const FIRST_TRY_MS: u64 = 5_000;
/// Longest wait between two tries.
pub(super) const MAX_TRY_MS: u64 = 60_000;
/// How long a lost node is tried.
pub(super) const FORGET_MS: u64 = 10 * 60_000;

/// One lost node.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    next_try: Time,
    wait: u64,
    until: Time,
}

/// The lost list; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct Lost(VecMap<RingId, Entry>);

impl Lost {
    /// Keeps `peer` (once: a node lost again keeps its schedule).
    pub(super) fn insert(&mut self, now: Time, peer: RingId) {
        if self.0.contains_key(&peer) {
            return;
        }
        if self.0.len() >= MAX_LOST {
            let oldest = self.0.iter().min_by_key(|(_, e)| e.until).map(|(p, _)| *p);
            if let Some(p) = oldest {
                self.0.remove(&p);
            }
        }
        self.0.insert(
            peer,
            Entry {
                next_try: now + FIRST_TRY_MS,
                wait: FIRST_TRY_MS,
                until: now + FORGET_MS,
            },
        );
    }

    pub(super) fn contains(&self, peer: &RingId) -> bool {
        self.0.contains_key(peer)
    }

    pub(super) fn remove(&mut self, peer: &RingId) -> bool {
        self.0.remove(peer).is_some()
    }

    /// The next time a try is due.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        self.0.values().map(|e| e.next_try.min(e.until)).min()
    }

    /// Forgets what is too old and returns the nodes to try now, each then
    /// waiting twice as long (up to [`MAX_TRY_MS`]).
    pub(super) fn due(&mut self, now: Time) -> Vec<RingId> {
        self.0.retain(|_, e| e.until > now);
        let mut out = Vec::new();
        for (p, e) in self.0.iter_mut() {
            if e.next_try <= now {
                e.wait = (e.wait * 2).min(MAX_TRY_MS);
                e.next_try = now + e.wait;
                out.push(*p);
            }
        }
        out
    }

    pub(super) fn peers(&self) -> impl Iterator<Item = RingId> + '_ {
        self.0.keys().copied()
    }
}

impl<S: Store> Node<S> {
    /// Nodes of an earlier run (a gateway's, kept on disk) to contact, as if
    /// they had been lost: when one is heard from again, the ring it is in
    /// and this node's become one.
    pub fn remember(&mut self, now: Time, peers: &[RingId]) {
        self.advance(now);
        for p in peers.iter().filter(|p| **p != self.id).take(MAX_LOST) {
            self.lost.insert(now, *p);
        }
    }

    /// The nodes this one knows of (neighbours, fingers, lost nodes), at
    /// most `max`: what a driver keeps for [`Node::remember`].
    pub fn known_nodes_list(&self, max: usize) -> Vec<RingId> {
        let mut out: Vec<RingId> = self
            .successors
            .iter()
            .copied()
            .chain(self.predecessor)
            .chain(self.fingers.values().copied())
            .chain(self.lost.peers())
            .collect();
        self.id.sort_clockwise(&mut out);
        out.dedup();
        out.truncate(max);
        out
    }

    /// Tries lost nodes that are due: a link probe, which dials them.
    pub(super) fn lost_timers(&mut self) {
        if !self.joined {
            return;
        }
        for peer in self.lost.due(self.now) {
            let nonce = self.random() | LINK_PROBE;
            self.send(peer, &Message::Ping { nonce });
        }
    }

    /// A message came from `peer` (a link that comes up proves nothing: a
    /// relay opens links to frozen and dead peers alike): if it was
    /// lost, it lives, and this node places itself in the peer's ring. The
    /// peer, which lost this node too, places itself in this node's ring.
    /// The lost peer stays presumed dead for the rest of its time: one that
    /// answers may be no member (a link probe is answered by any node).
    pub(super) fn heard_from(&mut self, peer: RingId) {
        if !self.lost.remove(&peer) || !self.joined {
            return;
        }
        self.send(peer, &Message::Merge { candidate: self.id });
    }

    /// The zipper's step (module documentation).
    pub(super) fn on_merge(&mut self, candidate: RingId) {
        if !self.joined || candidate == self.id {
            return;
        }
        match self.successors.first().copied() {
            Some(s) if s == candidate => {}
            Some(s) if !candidate.in_open(self.id, s) => {
                self.send(s, &Message::Merge { candidate });
            }
            first => {
                // A live node told of it: not dead, whatever this node
                // presumed while the rings were apart.
                self.dead.remove(&candidate);
                self.lost.remove(&candidate);
                let mut list = vec![candidate];
                list.extend(self.successors.iter().copied());
                self.set_successors(list);
                if let Some(old) = first {
                    self.send(candidate, &Message::Merge { candidate: old });
                }
                self.next_stabilize = self.now;
            }
        }
    }
}

/// Whether a lost node is kept; for tests.
#[cfg(test)]
pub(super) fn is_lost<S: Store>(n: &Node<S>, peer: &RingId) -> bool {
    n.lost.contains(peer)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
