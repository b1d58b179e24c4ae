//! What a node keeps and answers for its peers, and the bounds on it.
//!
//! Every peer is a possible attacker (spec/security.md), so nothing a peer
//! sends may grow a node's memory or its answers without a bound. The
//! bounds live in one [`Limits`] (part of the node's `Config`), so that a
//! driver can set them and `spec/security.md` can list them in one place.
//!
//! **What a node stores.** An item is taken only at a key the node holds
//! or is about to hold as one of its `replication` copies: a key in its
//! *replica arc*, the stretch of ring that ends at the node and spans its
//! own range and its `replication - 1` predecessors' ranges. A node knows
//! only its first predecessor, so the arc is estimated from its own ring
//! state: the mean gap between nodes, read off its successor list, times
//! [`ARC_SLACK`] times the replication factor, and never less than its own
//! range. The slack covers uneven gaps: with gaps drawn at random, the
//! sum of 4 gaps exceeds 12 mean gaps with a chance of about 0.2 %, and
//! gateways place nodes in the largest gap, which evens them out. In a ring
//! too small to measure (no successors yet, or fewer nodes than copies)
//! the arc is the whole ring and only the capacity bounds what is kept.
//!
//! **How much.** The store holds at most [`Limits::store_bytes`] and
//! [`Limits::store_items`]. When an item does not fit, items outside the
//! arc (left over from a ring that has changed since) are evicted first,
//! those farthest from the node before nearer ones; an item inside the arc
//! is never evicted for another, and a new one that does not fit is
//! refused. A refused `Put` says why in its reply; a refused `Store` item
//! (which nobody awaits) is counted in [`super::Stats::refused`].
//!
//! **How much is answered.** A `Digest` or a `Want` asks a node to send
//! items, which makes a short message the cause of a long answer. Such
//! answers to one peer are paged: at most [`Limits::answer_bytes`] per
//! sync period. The rest goes at the next exchange, which repeats every
//! sync period anyway, so repair still completes, just spread out.

use crate::id::RingId;
use crate::vecmap::VecMap;

use super::{Item, Node, Store, Time};

/// The replica arc spans this many times the mean gap per copy.
pub const ARC_SLACK: u64 = 3;

/// Bounds on a node's state and answers (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of items the store holds at most.
    pub store_bytes: usize,
    /// Items the store holds at most.
    pub store_items: usize,
    /// Bytes of items sent to one peer per sync period in answer to its
    /// `Digest`s and `Want`s.
    pub answer_bytes: usize,
    /// Peers whose answer budgets are tracked at once; a peer beyond them
    /// is answered at a later exchange.
    pub answer_peers: usize,
    /// Bytes queued for a peer whose link is still being dialled.
    pub dial_queue_bytes: usize,
    /// Reverse paths remembered (`ring.rs`).
    pub paths: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            store_bytes: 128 * 1024 * 1024,
            store_items: 100_000,
            answer_bytes: 16 * 1024 * 1024,
            answer_peers: 64,
            dial_queue_bytes: 4 * 1024 * 1024,
            paths: 1024,
        }
    }
}

/// Why a node did not store an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The key is outside the node's replica arc.
    #[error("out-of-range")]
    OutOfRange,
    /// The store is full of items the node is responsible for.
    #[error("full")]
    Full,
    /// An item at the key replaces this one (an older version).
    #[error("stale")]
    Stale,
}

/// Items refused by a node, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refused {
    /// Keys outside the replica arc.
    pub out_of_range: u64,
    /// No room left.
    pub full: u64,
}

/// Bytes of answers sent to each peer in the current sync period.
#[derive(Debug, Default)]
pub(super) struct Answered {
    peers: VecMap<RingId, (Time, usize)>,
}

impl Answered {
    /// Takes up to `want` bytes of `peer`'s budget for the period starting
    /// at `now`; returns how many bytes may go.
    fn take(&mut self, now: Time, period: Time, limits: &Limits, peer: RingId) -> usize {
        if !self.peers.contains_key(&peer) && self.peers.len() >= limits.answer_peers {
            self.peers
                .retain(|_, (since, _)| now.saturating_sub(*since) < period);
        }
        if !self.peers.contains_key(&peer) && self.peers.len() >= limits.answer_peers {
            return 0;
        }
        let mut entry = self.peers.get(&peer).copied().unwrap_or((now, 0));
        if now.saturating_sub(entry.0) >= period {
            entry = (now, 0);
        }
        let left = limits.answer_bytes.saturating_sub(entry.1);
        self.peers.insert(peer, entry);
        left
    }

    fn spend(&mut self, peer: RingId, bytes: usize) {
        if let Some((_, used)) = self.peers.get_mut(&peer) {
            *used = used.saturating_add(bytes);
        }
    }
}

/// The top 64 bits of an id as a number, for distances that need no more
/// precision than the ring's size gives them.
fn prefix(d: RingId) -> u64 {
    d.prefix_u64()
}

/// The id whose top 64 bits are `v` and the rest zero.
fn from_prefix(v: u64) -> RingId {
    let mut b = [0; 32];
    b[..8].copy_from_slice(&v.to_be_bytes());
    RingId(b)
}

impl<S: Store> Node<S> {
    /// The length of this node's replica arc (top 64 bits), or `None` for
    /// the whole ring.
    fn replica_arc(&self) -> Option<u64> {
        let last = *self.successors.last()?;
        let m = self.successors.len() as u64;
        let gap = prefix(self.id.distance_to(last)) / m;
        let copies = self.cfg.replication.max(1) as u64;
        let mut arc = gap.checked_mul(copies)?.checked_mul(ARC_SLACK)?;
        if let Some(p) = self.predecessor {
            arc = arc.max(prefix(p.distance_to(self.id)));
        }
        Some(arc)
    }

    /// Whether `key` lies in this node's replica arc.
    pub(super) fn may_hold(&self, key: RingId) -> bool {
        if self
            .predecessor
            .is_some_and(|p| key.in_half_open(p, self.id))
        {
            return true;
        }
        match self.replica_arc() {
            Some(arc) => prefix(key.distance_to(self.id)) < arc,
            None => true,
        }
    }

    /// Stores `item` if it belongs in this node's replica arc and fits,
    /// evicting items outside the arc to make room.
    pub(super) fn admit(&mut self, item: Item) -> Result<(), Refusal> {
        let key = item.key();
        let old = self.store.get(&key);
        if let Some(old) = old {
            if old.hash() == item.hash() {
                return Ok(());
            }
            if !item.replaces(old) {
                return Err(Refusal::Stale);
            }
        }
        if !self.may_hold(key) {
            self.stats.refused.out_of_range += 1;
            return Err(Refusal::OutOfRange);
        }
        let freed = old.map_or(0, Item::size);
        let new_items = usize::from(old.is_none());
        let lim = &self.cfg.limits;
        let fits = |s: &S| {
            s.bytes() - freed + item.size() <= lim.store_bytes
                && s.len() + new_items <= lim.store_items
        };
        if !fits(&self.store) {
            if let Some(arc) = self.replica_arc() {
                // Keys clockwise after this node and before its arc, the
                // farthest from it first.
                let arc_start = self.id.wrapping_sub(from_prefix(arc));
                for (k, _) in self.store.range(self.id, arc_start) {
                    if fits(&self.store) {
                        break;
                    }
                    self.store.remove(&k);
                }
            }
        }
        if !fits(&self.store) {
            self.stats.refused.full += 1;
            return Err(Refusal::Full);
        }
        self.store.put(item);
        Ok(())
    }

    /// How many bytes of answers may go to `peer` now.
    pub(super) fn answer_budget(&mut self, peer: RingId) -> usize {
        let (now, period) = (self.now, self.cfg.sync_ms.max(1));
        self.answered.take(now, period, &self.cfg.limits, peer)
    }

    /// Records `bytes` of answers sent to `peer`.
    pub(super) fn answer_spent(&mut self, peer: RingId, bytes: usize) {
        self.answered.spend(peer, bytes);
    }
}
