//! The simulator's links: each node's [`Carriers`](icn_core::link::carriers)
//! decide, as in both drivers, and the simulator plays the network under
//! them. An offer reaches its peer after one latency; if the peer answers
//! it (the carriers' glare and limit rules), the DataChannel opens at both
//! ends after another latency plus `dial_ms`. An offer to a node that is
//! gone or unreachable fails after a round trip plus `detect_ms`, and a
//! closed channel is seen by the other end after one latency (or
//! `detect_ms` after a crash): stand-ins for ICE, to be replaced by a model
//! of it.

use icn_core::link::carriers::Action;
use icn_core::node::Input;
use icn_core::RingId;

use super::{pair, Ev, Sim};

/// Node `at`'s DataChannel (`ws` false) or WebSocket to `peer` closed;
/// `lost`: the peer lives on, and the node is told `LinkLost`.
pub(super) fn gone(at: usize, peer: RingId, ws: bool, lost: bool) -> Ev {
    Ev::Gone { at, peer, ws, lost }
}

impl Sim {
    /// Removes every link of node `i`: its peers, and whether each link was
    /// a WebSocket.
    pub(super) fn cut(&mut self, i: usize) -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        for (set, ws) in [(&mut self.links, false), (&mut self.ws, true)] {
            set.retain(|&(a, b)| {
                let other = match (a == i, b == i) {
                    (true, _) => b,
                    (_, true) => a,
                    _ => return true,
                };
                out.push((other, ws));
                false
            });
        }
        out.sort_unstable();
        out
    }

    /// Carries out node `i`'s carrier actions; `lost` turns the link-down
    /// of that peer into a link-lost. The caller drains the node after.
    pub(super) fn act(&mut self, i: usize, lost: Option<RingId>) {
        let now = self.now;
        while let Some(a) = self.slots[i].carriers.poll_action() {
            match a {
                Action::Offer(p) => self.offer(i, p),
                Action::Close(p) => {
                    let t = self.index_of(&p);
                    if let Some(t) = t.filter(|t| self.links.remove(&pair(i, *t))) {
                        let me = self.slots[i].id;
                        self.schedule_on_link(i, t, gone(t, me, false, false));
                    }
                }
                Action::Send(p, bytes) => self.send(i, p, bytes),
                link => {
                    let input = match link {
                        Action::Down(p) if lost == Some(p) => Some(Input::LinkLost(now, p)),
                        _ => link.input(now),
                    };
                    if let (Some(n), Some(input)) = (self.slots[i].node.as_mut(), input) {
                        let _ = n.handle_input(input);
                    }
                }
            }
        }
    }

    /// Node `i` offers a DataChannel to `peer`.
    fn offer(&mut self, i: usize, peer: RingId) {
        match self.index_of(&peer).filter(|&t| self.reachable(i, t)) {
            Some(t) => {
                let at = self.now + self.latency();
                self.schedule(at, Ev::Offer { to: t, from: i });
            }
            None => {
                let at = self.now + 2 * self.latency() + self.net.dial_ms + self.net.detect_ms;
                self.schedule(at, gone(i, peer, false, false));
            }
        }
    }

    /// Whether `a` and `b` both run and can reach each other.
    pub(super) fn reachable(&self, a: usize, b: usize) -> bool {
        self.slots[a].node.is_some()
            && self.slots[b].node.is_some()
            && self.slots[a].group == self.slots[b].group
    }

    /// Sends one message from `i` on its link to `to`, if one is open.
    pub(super) fn send(&mut self, i: usize, to: RingId, bytes: Vec<u8>) {
        let Some(t) = self.index_of(&to) else {
            return;
        };
        let p = pair(i, t);
        let ok = (self.links.contains(&p) || self.ws.contains(&p)) && self.reachable(i, t);
        let lost = self.net.loss > 0.0 && self.rng.chance(self.net.loss);
        if ok && !lost {
            let from = self.slots[i].id;
            self.schedule_on_link(i, t, Ev::Deliver { to: t, from, bytes });
        }
    }

    /// An offer from `from` reaches `to`.
    pub(super) fn on_offer(&mut self, to: usize, from: usize) {
        let (me, peer) = (self.slots[to].id, self.slots[from].id);
        let now = self.now;
        if !self.reachable(from, to) {
            let at = now + self.latency() + self.net.detect_ms;
            self.schedule(at, gone(from, me, false, false));
        } else if self.slots[to].carriers.handle_offer(now, me, peer) {
            let at = now + self.latency() + self.net.dial_ms;
            let (offerer, answerer) = (from, to);
            self.schedule(at, Ev::Open { offerer, answerer });
        }
    }

    /// The answer reached the offerer: the channel opens at both ends if
    /// both still want it, and fails at those that do otherwise.
    pub(super) fn on_open(&mut self, a: usize, b: usize) {
        let (a_id, b_id) = (self.slots[a].id, self.slots[b].id);
        let both = self.reachable(a, b)
            && self.slots[a].carriers.has_channel(&b_id)
            && self.slots[b].carriers.has_channel(&a_id);
        if both {
            self.links.insert(pair(a, b));
        }
        for (x, peer) in [(a, b_id), (b, a_id)] {
            if both {
                self.slots[x].carriers.handle_channel_opened(peer);
            } else {
                self.slots[x].carriers.handle_channel_closed(self.now, peer);
            }
            self.act(x, None);
            self.drain(x);
        }
    }

    /// Node `at` sees its link to `peer` close, unless the two were linked
    /// again meanwhile.
    pub(super) fn on_gone(&mut self, at: usize, peer: RingId, ws: bool, lost: bool) {
        let relinked = self.index_of(&peer).is_some_and(|p| {
            let set = if ws { &self.ws } else { &self.links };
            set.contains(&pair(at, p))
        });
        if relinked {
            return;
        }
        let now = self.now;
        let c = &mut self.slots[at].carriers;
        match ws {
            true => c.handle_client_down(peer),
            false => c.handle_channel_closed(now, peer),
        }
        self.act(at, lost.then_some(peer));
        self.drain(at);
    }
}
