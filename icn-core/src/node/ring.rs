//! Ring membership and routing: join, stabilize, notify, check-predecessor,
//! fix-fingers, graceful leave, failure handling and hop-by-hop forwarding.

use crate::id::RingId;
use crate::wire::{Body, Dest, Message, Routed};

use super::data::Kind;
use super::{Event, Node, Store};

/// Routed messages are dropped after this many hops (a loop or a broken ring).
pub(super) const MAX_HOPS: u8 = 64;
/// Idle time after which an unneeded link may be closed.
const IDLE_MS: u64 = 30_000;
/// How long a node remembers an origin's way back (how many: `Limits::paths`).
const PATH_MS: u64 = 60_000;
/// Hops a message may take along ways back before it is routed by id.
const WAY_BACK_HOPS: u8 = MAX_HOPS / 2;

impl<S: Store> Node<S> {
    /// Starts a new ring with this node as its only member.
    pub fn bootstrap(&mut self, now: super::Time) {
        self.advance(now);
        // A node that starts a ring (again) has no node to come back to:
        // alone, it waits for newcomers instead of asking them to let it in.
        self.bootstrap = None;
        self.become_member();
    }

    /// Joins the ring through `via`, a member this node has (or will have) a
    /// link to. Completes with [`Event::Joined`]; retried until it succeeds.
    pub fn join(&mut self, now: super::Time, via: RingId) {
        self.advance(now);
        // A member that lost every successor is alone: it joins anew.
        if self.successors.is_empty() {
            self.joined = false;
            self.predecessor = None;
        }
        self.bootstrap = Some(via);
        // Joining again through another node: the earlier attempt ends.
        self.requests.retain(|_, p| !matches!(p.kind, Kind::Join));
        self.start_join(via);
    }

    /// A link to a gateway is up (the first, or a new one after the one
    /// before was lost): that gateway becomes the node to come back to. A
    /// member that still has successors stays one (its ring and the
    /// gateway's find each other: spec/ring.md, "Merging rings"); any other
    /// node joins through it. Keeping the old bootstrap node would make a
    /// node that later loses its successors ask a gateway that is gone.
    pub fn handle_gateway_up(&mut self, now: super::Time, gateway: RingId) {
        self.advance(now);
        if self.joined && !self.successors.is_empty() {
            self.bootstrap = Some(gateway);
        } else {
            self.join(now, gateway);
        }
    }

    /// Asks `via` to let this node in, and keeps asking until it is a
    /// member. The bootstrap node stays what `join` was given: joining
    /// again through a neighbour must not make that neighbour the node to
    /// come back to, or a node whose stand-in died would ask it for good.
    fn start_join(&mut self, via: RingId) {
        self.send(via, &Message::JoinRequest);
        let id = self.new_request_id();
        let pending = self.pending(Kind::Join);
        self.requests.insert(id, pending);
    }

    /// Closes the link to `peer` on purpose (with `Bye`, so the peer does
    /// not presume this node dead). Should a ring role need the link, the
    /// node dials it again when it next sends there.
    pub fn hang_up(&mut self, now: super::Time, peer: RingId) {
        self.advance(now);
        self.close_link(peer);
    }

    /// Says `Bye` on the link to `peer` if it is up, forgets the link and
    /// tells the driver to close it.
    pub(super) fn close_link(&mut self, peer: RingId) {
        if self.links.is_up(&peer) {
            self.send(peer, &Message::Bye);
        }
        if self.links.down(&peer).is_some() {
            self.emit(Event::Hangup(peer));
        }
    }

    /// Leaves gracefully: hands owned items to the successor, tells every
    /// linked peer (`Leaving`) and hangs up every link.
    pub fn leave(&mut self, now: super::Time) {
        self.advance(now);
        if !self.joined {
            return;
        }
        if let Some(s) = self.successors.first().copied() {
            let from = self.predecessor.unwrap_or(self.id);
            self.hand_off(s, from, self.id);
        }
        // Every linked peer hears it, not only the neighbours: a node that
        // has this one as a finger, or for a reply, stops routing to it at
        // once instead of into a link whose far end is gone (it closes only
        // when the transport notices, seconds later). `Leaving` also says
        // `Bye`.
        let leaving = Message::Leaving {
            predecessor: self.predecessor,
            successors: self.successors.clone(),
        };
        let peers: Vec<RingId> = self.links.peers().map(|(p, _)| *p).collect();
        for p in peers {
            if self.links.is_up(&p) {
                self.send(p, &leaving);
            }
            self.links.down(&p);
            self.emit(Event::Hangup(p));
        }
        self.joined = false;
        self.left = true;
        self.requests.clear();
    }

    pub(super) fn become_member(&mut self) {
        if self.joined {
            return;
        }
        self.joined = true;
        self.requests.retain(|_, p| !matches!(p.kind, Kind::Join));
        let now = self.now;
        self.next_stabilize = now;
        self.next_fix_fingers = now;
        self.next_check_predecessor = now + self.jitter(self.cfg.check_predecessor_ms);
        self.next_sync = now + self.jitter(self.cfg.sync_ms);
        self.emit(Event::Joined);
        self.send_held();
    }

    /// Whether this node is responsible for `key` (it is the key's successor).
    pub fn is_responsible(&self, key: RingId) -> bool {
        if !self.joined {
            return false;
        }
        match self.predecessor {
            Some(p) => key.in_half_open(p, self.id),
            // Alone in the ring.
            None => self.successors.is_empty(),
        }
    }

    fn known_nodes(&self) -> impl Iterator<Item = RingId> + '_ {
        self.successors
            .iter()
            .chain(self.fingers.values())
            .copied()
            .filter(|n| !self.is_dead(n))
    }

    /// Replaces the successor list with `list`, keeping it ordered clockwise
    /// from this node without duplicates, this node, or dead nodes.
    pub(super) fn set_successors(&mut self, list: Vec<RingId>) {
        let mut out: Vec<RingId> = Vec::with_capacity(self.cfg.successors);
        let mut last = RingId::ZERO;
        for n in list {
            if n == self.id || self.is_dead(&n) {
                continue;
            }
            let d = self.id.distance_to(n);
            if !out.is_empty() && d <= last {
                continue;
            }
            last = d;
            out.push(n);
            if out.len() == self.cfg.successors {
                break;
            }
        }
        let r = self.cfg.replication.saturating_sub(1);
        if out.iter().take(r).ne(self.successors.iter().take(r)) {
            self.sync_soon = true;
        }
        self.successors = out;
    }

    pub(super) fn ring_timers(&mut self) {
        let now = self.now;
        if let Some(mut p) = self.awaiting_state.filter(|p| now >= p.deadline) {
            if p.retried {
                self.peer_died(p.peer);
            } else {
                p.retried = true;
                p.deadline = now + self.cfg.ping_timeout_ms;
                self.awaiting_state = Some(p);
                self.send(p.peer, &Message::GetState);
            }
        }
        if let Some(mut p) = self.awaiting_pong.filter(|p| now >= p.deadline) {
            if p.retried {
                self.peer_died(p.peer);
            } else {
                p.retried = true;
                p.deadline = now + self.cfg.ping_timeout_ms;
                self.awaiting_pong = Some(p);
                self.send(p.peer, &Message::Ping { nonce: p.nonce });
            }
        }
        if !self.joined {
            return;
        }
        if now >= self.next_stabilize {
            self.next_stabilize = now + self.jitter(self.cfg.stabilize_ms);
            self.stabilize();
            self.prune_links();
        }
        if now >= self.next_check_predecessor {
            self.next_check_predecessor = now + self.jitter(self.cfg.check_predecessor_ms);
            if let (Some(p), None) = (self.predecessor, self.awaiting_pong) {
                let nonce = self.member_nonce();
                self.awaiting_pong = Some(super::Probe {
                    peer: p,
                    nonce,
                    deadline: now + self.cfg.ping_timeout_ms,
                    retried: false,
                });
                self.send(p, &Message::Ping { nonce });
            }
        }
        if now >= self.next_fix_fingers {
            let all = self.fingers.is_empty()
                && !self
                    .requests
                    .values()
                    .any(|p| matches!(p.kind, Kind::Finger(_)));
            self.next_fix_fingers = now + self.jitter(self.cfg.fix_fingers_ms);
            self.fix_fingers(all);
        }
    }

    /// Zave's stabilize: ask the first live successor for its state.
    fn stabilize(&mut self) {
        if self.awaiting_state.is_some() {
            return;
        }
        if self.successors.is_empty() {
            // Every successor is gone: fall back on the closest known node,
            // or any node this one still has a link to that it dialled or
            // heard from. A link the peer opened and never used is no sign
            // of a member: a gateway's clients are linked from their
            // handshake on, and one that never speaks would otherwise become
            // its successor and cut the ring until probes found it mute.
            let linked: Vec<RingId> = self.links.known().collect();
            let mut known: Vec<RingId> = self
                .known_nodes()
                .chain(self.predecessor)
                .chain(linked.iter().copied().filter(|p| !self.is_dead(p)))
                .collect();
            self.id.sort_clockwise(&mut known);
            self.set_successors(known);
            // Nobody left that we know of: join again, through the bootstrap
            // node while it is linked, else through any linked node. A node
            // that started the ring (a gateway) stays alone instead: nodes
            // linked to it are newcomers waiting for it to let them in.
            if self.successors.is_empty() && self.bootstrap.is_some() {
                if let Some(via) = self.rejoin_via(0) {
                    self.joined = false;
                    self.predecessor = None;
                    self.start_join(via);
                    return;
                }
            }
        }
        if let Some(s) = self.successors.first().copied() {
            self.awaiting_state = Some(super::Probe {
                peer: s,
                nonce: 0,
                deadline: self.now + self.cfg.ping_timeout_ms,
                retried: false,
            });
            self.send(s, &Message::GetState);
        }
    }

    pub(super) fn on_state(
        &mut self,
        from: RingId,
        predecessor: Option<RingId>,
        successors: Vec<RingId>,
    ) {
        // An answer to this node's `GetState`, or the first successor telling
        // unasked of a newcomer between the two (see `on_notify`); any other
        // unasked state would only make this node send for nothing.
        let asked = matches!(self.awaiting_state, Some(p) if p.peer == from);
        let told = self.successors.first() == Some(&from)
            && predecessor.is_some_and(|p| p.in_open(self.id, from));
        if !asked && !told {
            return;
        }
        if asked {
            self.awaiting_state = None;
        }
        let mut list = Vec::with_capacity(successors.len() + 2);
        if let Some(p) = predecessor {
            if p.in_open(self.id, from) && !self.is_dead(&p) {
                list.push(p);
                // A closer successor: ask it at once rather than next round,
                // so a joiner far from its place walks back at network speed.
                self.next_stabilize = self.now;
            }
        }
        list.push(from);
        list.extend(successors);
        self.set_successors(list);
        if let Some(s) = self.successors.first().copied() {
            self.send(s, &Message::Notify);
        }
    }

    /// Zave's notify/rectify: adopt the notifier as predecessor if there is
    /// none, the current one is dead, or the notifier lies between.
    pub(super) fn on_notify(&mut self, from: RingId) {
        if !self.joined || from == self.id {
            return;
        }
        let adopt = match self.predecessor {
            None => true,
            Some(p) if p == from => false,
            Some(p) => self.is_dead(&p) || from.in_open(p, self.id),
        };
        if adopt {
            let old = self.predecessor.replace(from);
            // Keys in (old, from] now belong to the new predecessor. Without
            // a known old predecessor the range is unknown: handing off
            // "everything up to `from`" would ship every replica this node
            // holds; the new predecessor's digest exchange fetches what it
            // lacks instead.
            if let Some(old) = old {
                self.hand_off(from, old, from);
                // The old predecessor still takes this node for its
                // successor and would learn of the newcomer at its next
                // stabilize, a period away. Until then a lookup for a key in
                // between went from it to here and back round the ring: while
                // a gateway admitted newcomers every few milliseconds, one
                // join in ten circled until its hop limit and waited two
                // seconds for its retry. Told now, it adopts the newcomer
                // within a round trip.
                if self.links.is_up(&old) && !self.is_dead(&old) {
                    let state = Message::State {
                        predecessor: Some(from),
                        successors: self.successors.clone(),
                    };
                    self.send(old, &state);
                }
            } else {
                self.sync_soon = true;
            }
        }
        if self.successors.is_empty() {
            self.set_successors(vec![from]);
        }
    }

    pub(super) fn on_join_request(&mut self, from: RingId) {
        if !self.joined {
            return;
        }
        // This node may already count the joiner among its successors (a
        // lone node takes any node linked to it): answering with a list that
        // starts with the joiner would give it no successor at all.
        let others = || self.successors.iter().copied().filter(|s| *s != from);
        if self.is_responsible(from) || others().next().is_none() {
            let mut list = vec![self.id];
            list.extend(others());
            list.truncate(crate::wire::MAX_SUCCESSORS);
            self.send(from, &Message::JoinReply { successors: list });
        } else if others()
            .next()
            .is_some_and(|s| from.in_half_open(self.id, s))
        {
            let mut list: Vec<RingId> = others().collect();
            list.truncate(crate::wire::MAX_SUCCESSORS);
            self.send(from, &Message::JoinReply { successors: list });
            // The joiner is this node's successor now. Left to stabilize,
            // the successor learnt of it only when the joiner notified it,
            // and not at all if it had no predecessor yet: until this node's
            // next round the joiner had none either and claimed no keys, and
            // lookups for them went round until their hop limit. Asked at
            // once, it answers after its `JoinReply` (the link keeps order).
            self.set_finger(0, from);
        } else {
            let req = self.new_request_id();
            let pending = self.pending(Kind::JoinLookup(from));
            self.requests.insert(req, pending);
            self.route(Routed {
                dest: Dest::Key(from),
                origin: self.id,
                id: req,
                hops: 0,
                body: Body::FindSuccessor,
            });
        }
    }

    pub(super) fn on_join_reply(&mut self, from: RingId, successors: Vec<RingId>) {
        if self.joined || self.left {
            return;
        }
        // Only a member answers a join: whatever this node presumed of
        // `from` (say, when it was between rings and answered no state
        // question), it is a live member now.
        self.dead.remove(&from);
        self.set_successors(successors);
        if !self.successors.is_empty() {
            self.become_member();
        }
    }

    pub(super) fn on_leaving(
        &mut self,
        from: RingId,
        predecessor: Option<RingId>,
        successors: Vec<RingId>,
    ) {
        self.links.bye_received(&from);
        if self.successors.first() == Some(&from) {
            let mut list: Vec<RingId> = successors;
            list.extend(self.successors.iter().skip(1).copied());
            self.id.sort_clockwise(&mut list);
            self.mark_gone(from);
            self.set_successors(list);
        }
        if self.predecessor == Some(from) {
            self.mark_gone(from);
            self.predecessor = predecessor.filter(|p| *p != self.id && !self.is_dead(p));
            self.sync_soon = true;
        }
        self.mark_gone(from);
    }

    fn mark_gone(&mut self, peer: RingId) {
        self.dead
            .insert(peer, self.now + 10 * self.cfg.stabilize_ms.max(1000));
        self.successors.retain(|s| *s != peer);
        self.fingers.retain(|_, f| *f != peer);
        if self.predecessor == Some(peer) {
            self.predecessor = None;
        }
    }

    /// A peer is presumed dead: forget it everywhere and repair.
    pub(super) fn peer_died(&mut self, peer: RingId) {
        if peer == self.id {
            return;
        }
        // A lost node tried again and still not there is no new death.
        if !self.lost.contains(&peer) {
            self.stats.presumed_dead += 1;
            self.lost.insert(self.now, peer);
        }
        let was_successor = self.successors.contains(&peer);
        let was_predecessor = self.predecessor == Some(peer);
        self.mark_gone(peer);
        if was_successor || was_predecessor {
            self.sync_soon = true;
        }
        if matches!(self.awaiting_state, Some(p) if p.peer == peer) {
            self.awaiting_state = None;
            self.next_stabilize = self.now;
        }
        if matches!(self.awaiting_pong, Some(p) if p.peer == peer) {
            self.awaiting_pong = None;
        }
        // Presumed dead but the link may be open: say Bye first, so that if
        // it is alive after all it does not presume us dead in turn.
        self.close_link(peer);
    }

    /// Looks up fingers: all of them right after joining, then one per tick.
    fn fix_fingers(&mut self, all: bool) {
        let Some(succ) = self.successors.first().copied() else {
            return;
        };
        // Fingers k with 2^k <= distance(self, successor) are the successor.
        let dist = self.id.distance_to(succ);
        let kmin = 255 - dist.leading_zeros().min(255);
        self.fingers.retain(|k, _| *k > kmin);
        // Each round also looks up the successor itself (finger 0, key
        // self + 1): a successor list that skips nodes (a wrong join answer,
        // repairs after losses) is otherwise only walked back one node per
        // stabilize round, and fingers below `kmin` are never looked up.
        let ks: Vec<u32> = if all {
            std::iter::once(0).chain(kmin + 1..256).collect()
        } else {
            if self.next_finger <= kmin || self.next_finger > 255 {
                self.next_finger = 255;
            }
            let k = self.next_finger;
            self.next_finger -= 1;
            if k > kmin {
                vec![0, k]
            } else {
                vec![0]
            }
        };
        for k in ks {
            let req = self.new_request_id();
            let pending = self.pending(Kind::Finger(k));
            self.requests.insert(req, pending);
            self.route(Routed {
                dest: Dest::Key(self.id.finger_start(k)),
                origin: self.id,
                id: req,
                hops: 0,
                body: Body::FindSuccessor,
            });
        }
    }

    /// Looks every finger up again now (after the ring changed a lot).
    pub fn refresh_fingers(&mut self, now: super::Time) {
        self.advance(now);
        if self.joined {
            self.fix_fingers(true);
        }
    }

    pub(super) fn set_finger(&mut self, k: u32, node: RingId) {
        if node == self.id || self.is_dead(&node) {
            return;
        }
        if let Some(s) = self.successors.first().copied() {
            if node.in_open(self.id, s) {
                // Between this node and its successor: the list missed it.
                let mut list = vec![node];
                list.extend(self.successors.iter().copied());
                self.set_successors(list);
                self.next_stabilize = self.now;
            }
        }
        if k == 0 {
            return; // the successor, not a finger
        }
        self.fingers.insert(k, node);
        if !self.links.is_up(&node) {
            let nonce = self.random();
            self.send(node, &Message::Ping { nonce });
        }
    }

    /// Closes idle links that no ring role needs, when over the link budget.
    fn prune_links(&mut self) {
        if self.links.len() <= self.cfg.max_links {
            return;
        }
        let target = self.cfg.max_links * 3 / 4;
        let idle_before = self.now.saturating_sub(IDLE_MS);
        let mut idle: Vec<(u64, RingId)> = self
            .links
            .peers()
            .filter(|(p, l)| l.up && l.last_used < idle_before && !self.needs_link(p))
            .map(|(p, l)| (l.last_used, *p))
            .collect();
        idle.sort_unstable();
        for (_, p) in idle
            .into_iter()
            .take(self.links.len().saturating_sub(target))
        {
            self.close_link(p);
        }
    }

    pub(super) fn needs_link(&self, p: &RingId) -> bool {
        self.is_ring_neighbour(p) || self.bootstrap == Some(*p)
    }

    /// Whether `p` is this node's predecessor, a successor or a finger.
    pub(super) fn is_ring_neighbour(&self, p: &RingId) -> bool {
        self.predecessor == Some(*p)
            || self.successors.contains(p)
            || self.fingers.values().any(|f| f == p)
    }

    /// The next hop towards `key`, avoiding `avoid` if another choice exists.
    pub(super) fn next_hop(&self, key: RingId, avoid: Option<RingId>) -> Option<RingId> {
        let usable = |n: &RingId| self.links.is_up(n) && !self.is_dead(n) && Some(*n) != avoid;
        // The successor list knows the owners of keys just ahead exactly.
        let mut prev = self.id;
        for s in &self.successors {
            if key.in_half_open(prev, *s) {
                if usable(s) {
                    return Some(*s);
                }
                // The owner is not linked (its DataChannel is still being
                // set up, or failed and is dialled again): wait on it. Any
                // other hop points back here, and the message went round in
                // circles until its hop limit.
                if !self.is_dead(s) && Some(*s) != avoid {
                    return Some(*s);
                }
                break;
            }
            prev = *s;
        }
        // Otherwise the closest preceding live link (BOPlish, Figure 1).
        let best = self
            .successors
            .iter()
            .chain(self.fingers.values())
            .chain(self.predecessor.iter())
            .filter(|n| usable(n) && n.in_open(self.id, key))
            .max_by_key(|n| self.id.distance_to(**n))
            .copied();
        best.or_else(|| self.successors.iter().find(|s| usable(s)).copied())
            .or_else(|| {
                self.successors
                    .first()
                    .copied()
                    .filter(|s| Some(*s) != avoid)
            })
            // `avoid` is a preference: a retry whose only way is the hop it
            // took before goes that way again rather than nowhere (it came
            // back `Unreachable` at once, and waited four periods more).
            .or_else(|| avoid.and_then(|_| self.next_hop(key, None)))
    }

    /// The linked node nearest after `key` between `key` and this one
    /// (successors and fingers are among the linked), other than `from`.
    fn nearest_after(&self, key: RingId, from: RingId) -> Option<RingId> {
        self.links
            .up_peers()
            .into_iter()
            .filter(|n| n.in_open(key, self.id) && *n != from && !self.is_dead(n))
            .min_by_key(|n| key.distance_to(*n))
    }

    /// Routes a message that starts here (or arrives here) one step on.
    pub(super) fn route(&mut self, r: Routed) {
        let from = self.id;
        self.on_routed(from, r);
    }

    pub(super) fn on_routed(&mut self, from: RingId, r: Routed) {
        if let Body::Get { forwarded, .. } = r.body {
            if forwarded > 0 {
                return self.deliver(r);
            }
        }
        let signal = matches!(r.body, Body::Signal(_));
        if from != self.id && r.origin != self.id {
            self.remember_path(r.origin, from);
        }
        let here = match r.dest {
            Dest::Node(n) => n == self.id,
            // Without a predecessor (just joined, or it died) a node claims
            // no keys: a wrong claim would hand joiners a wrong successor.
            // Requests in that short window are retried.
            Dest::Key(k) => self.is_responsible(k),
        };
        if here {
            return self.deliver(r);
        }
        // A replica on the way answers a get as the owner would: the item
        // verifies by itself, and the owner stores every put on its replicas.
        // The owner's successor thus answers for a crashed owner's keys
        // while it still takes the dead node for its predecessor.
        if let (Body::Get { block, .. }, Dest::Key(k)) = (&r.body, r.dest) {
            if self.held(&k, *block).is_some() {
                return self.deliver(r);
            }
        }
        if let Dest::Node(n) = r.dest {
            // A signal this node starts sets up its link to `n`: whatever
            // carries that link meanwhile (a gateway's relay) may not reach
            // `n` (a client of another gateway), so it goes another way.
            let setting_up = r.origin == self.id && signal;
            if self.links.is_up(&n) && !setting_up {
                return self.forward_to(n, r);
            }
            // A node may be known to nobody around its id yet: one setting
            // up its first links (only the gateway it joined through knows
            // it), or one whose successor list skips nodes that joined
            // before it. Routed by id, its answers would end at the node
            // responsible for its id, which has no link to it. So a message
            // for a node goes back the way that node's own messages came,
            // as NDN's data retraces its interest.
            // Only for the first half of the hop limit: a node keeps one way
            // per origin, the last one, and the ways of requests that took
            // different routes can join into a cycle. In a stable ring of
            // 4,096 nodes some answers went round one until the hop limit,
            // and publishes were lost; past the budget, a message is routed
            // by id, which reaches every member.
            if let Some(hop) = self
                .path_back(n)
                .filter(|hop| *hop != from && r.hops < WAY_BACK_HOPS)
            {
                return self.forward_to(hop, r);
            }
            if self.is_responsible(n) {
                self.stats.undeliverable.unlinked_node += 1;
                return self.unreachable(r);
            }
        }
        if !self.joined {
            self.stats.undeliverable.not_member += 1;
            return self.unreachable(r);
        }
        if r.hops >= MAX_HOPS {
            self.stats.undeliverable.hop_limit += 1;
            return self.unreachable(r);
        }
        let key = match r.dest {
            Dest::Key(k) | Dest::Node(k) => k,
        };
        let avoid = match (&r.body, r.dest) {
            // Signaling sets up the link to `n`: it must not wait behind
            // that very link. Sent on past `n` when nothing precedes it, it
            // reaches `n`'s successor, which links to `n` as its predecessor.
            (Body::Signal(_), Dest::Node(n)) => Some(n),
            _ => self
                .requests
                .get(&r.id)
                .filter(|_| r.origin == self.id)
                .and_then(|p| p.avoid),
        };
        // The previous hop took this node for the key's owner (the key lies
        // between that hop and here), yet the key is not this node's: a node
        // joined in between that the previous hop's successor list does not
        // show yet, and the predecessor is nearer. Routing on by fingers
        // would bring the message back to that hop, round and round until
        // its hop limit.
        // That holds after a forward step (at most half the ring clockwise;
        // ids a gateway assigns are often exactly half a ring apart), and
        // for a key-routed message from a node of this one's successor list:
        // such a node sends a key lying behind this one here only by this
        // rule, so the message goes on backwards until its owner. (Routed by
        // fingers instead, it went back towards the hop that overshot, which
        // sent it to the same successor again: most hop-limit drops while
        // many nodes joined at once were such loops.) A message sent back
        // from further ahead, or by a way back (rule 3), did not overshoot:
        // following predecessors from there would walk the ring backwards.
        let forward = from.distance_to(self.id) <= self.id.distance_to(from);
        let handed_back = matches!(r.dest, Dest::Key(_)) && self.successors.contains(&from);
        let overshot = from != self.id && (forward || handed_back) && key.in_open(from, self.id);
        if let Some(p) = self
            .predecessor
            .filter(|p| overshot && *p != from && !self.is_dead(p))
        {
            return self.forward_to(p, r);
        }
        // With no predecessor to pass it back to (a newcomer that the node
        // before it has not found yet), the message goes to the linked node
        // nearest after the key, each such step nearer; with none, a lookup
        // ends here: this node is the key's closest successor known. Routed
        // on by fingers, it went round until its hop limit, and while a
        // gateway let many peers in, joins waited for retries. Should a node
        // unknown to this one lie between, stabilization mends the answer,
        // as it does any answer given while nodes join. Data requests are
        // never answered so: their answers must be exact.
        if overshot && self.predecessor.is_none() {
            if let Some(m) = self.nearest_after(key, from) {
                return self.forward_to(m, r);
            }
            if r.body == Body::FindSuccessor && matches!(r.dest, Dest::Key(_)) {
                return self.deliver(r);
            }
        }
        match self.next_hop(key, avoid) {
            Some(next) => {
                if r.origin == self.id {
                    if let Some(p) = self.requests.get_mut(&r.id) {
                        p.first_hop = Some(next);
                    }
                }
                self.forward_to(next, r)
            }
            None => {
                self.stats.undeliverable.no_hop += 1;
                self.unreachable(r)
            }
        }
    }

    /// Where to (re)join, at attempt `n`: the bootstrap node while its link
    /// is up, else one of the linked nodes (another at each attempt: one
    /// that is no member either ignores the request), else the bootstrap
    /// node anyway (its link may come back).
    pub(super) fn rejoin_via(&self, n: u32) -> Option<RingId> {
        if let Some(b) = self.bootstrap.filter(|b| self.links.is_up(b)) {
            return Some(b);
        }
        let linked = self.links.up_peers();
        match linked.len() {
            0 => self.bootstrap,
            len => Some(linked[n as usize % len]),
        }
    }

    fn remember_path(&mut self, origin: RingId, via: RingId) {
        let now = self.now;
        let max = self.cfg.limits.paths;
        if self.paths.len() >= max {
            self.paths
                .retain(|_, (_, at)| now.saturating_sub(*at) < PATH_MS);
        }
        if self.paths.len() < max || self.paths.contains_key(&origin) {
            self.paths.insert(origin, (via, now));
        }
    }

    /// The neighbour a recent message from `n` came through, if its link is
    /// up: the way back to `n`.
    fn path_back(&self, n: RingId) -> Option<RingId> {
        self.paths
            .get(&n)
            .filter(|(via, at)| {
                self.now.saturating_sub(*at) < PATH_MS
                    && *via != n
                    && self.links.is_up(via)
                    && !self.is_dead(via)
            })
            .map(|(via, _)| *via)
    }

    pub(super) fn forward_to(&mut self, next: RingId, mut r: Routed) {
        if r.origin != self.id {
            self.stats.forwarded += 1;
        }
        if matches!(r.body, Body::Get { .. } | Body::GetReply { .. }) {
            self.stats.get_messages += 1;
        }
        r.hops = r.hops.saturating_add(1);
        self.send(next, &Message::Routed(r));
    }

    fn unreachable(&mut self, r: Routed) {
        let is_reply = matches!(
            r.body,
            Body::Successor { .. }
                | Body::GetReply { .. }
                | Body::PutReply { .. }
                | Body::Unreachable
        );
        if !is_reply {
            self.reply(&r, Body::Unreachable);
        }
    }

    /// Sends `body` back to the origin of `r`, routed by node id.
    pub(super) fn reply(&mut self, r: &Routed, body: Body) {
        let msg = Routed {
            dest: Dest::Node(r.origin),
            origin: self.id,
            id: r.id,
            hops: 0,
            body,
        };
        if r.origin == self.id {
            self.on_reply(msg);
        } else {
            self.route(msg);
        }
    }
}
