//! Which carrier takes each of a node's links, as one sans-IO state machine
//! that the browser driver, the native driver and the simulator all feed.
//!
//! The node sees one link per peer; what carries it is the driver's
//! business, and the rules for choosing are the same everywhere
//! (spec/link.md, "Carriers"):
//!
//! * **Preference.** An authenticated DataChannel first, then a WebSocket
//!   (a gateway's client, or the gateway this node joined through, its
//!   *upstream*), then the upstream gateway's relay.
//! * **Dialling.** While the upstream is connected, a dialled link is up at
//!   once on its relay (unless the gateway said it has no route to that
//!   peer) and a DataChannel is offered beside it; without the upstream the
//!   link is up when the DataChannel opens, and down if its set-up fails.
//!   At most [`MAX_CHANNELS`] DataChannels exist at once; one that is not
//!   open after [`SETUP_MS`] is abandoned.
//! * **Waiting.** Messages for a peer whose only carrier is a DataChannel
//!   being set up wait for it, within [`Waiting`]'s bounds.
//! * **Retries.** A relayed link whose DataChannel failed is offered again
//!   on [`OfferRetries`]' schedule, so it does not stay on a relay that
//!   dies with the gateway.
//! * **Death.** A DataChannel is dead when its ICE state says so
//!   ([`IceWatch`]); the upstream going away loses its relayed links (the
//!   peers live on and are dialled again) and takes its own node down.
//! * **Answers.** An offer is answered unless an open DataChannel to its
//!   sender stands, or our own offer wins the glare, or the limit is
//!   reached.
//!
//! The driver tells this machine what its runtime did (`handle_*`), asks it
//! where a message goes ([`Carriers::carry`]) and drains
//! [`Carriers::poll_action`]: link changes for the node, DataChannels to
//! offer or close, and held messages to send. Time is an input in ms.

use std::collections::VecDeque;

use crate::id::RingId;
use crate::link::policy::{IceState, IceWatch, Waiting};
use crate::link::retry::OfferRetries;
use crate::link::wins_glare;
use crate::node::Input;
use crate::vecmap::{VecMap, VecSet};

/// Most DataChannels (set up or being set up) at once (Chromium allows a
/// tab 500 peer connections over its life).
pub const MAX_CHANNELS: usize = 64;
/// How long a DataChannel may take from offer to authenticated, ms.
pub const SETUP_MS: u64 = 15_000;
/// Peers remembered as unreachable through the upstream relay.
pub const MAX_NO_ROUTE: usize = 4096;

/// What carries a message or a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The authenticated DataChannel to the peer.
    Channel,
    /// The WebSocket of a client of this gateway.
    Client,
    /// The WebSocket up to the gateway this node joined through (a `Ring`
    /// frame).
    Upstream,
    /// That gateway's relay (a `Relay` frame).
    Relay,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Tell the node its link to the peer is up ([`Input::LinkUp`]).
    Up(RingId),
    /// Tell the node its link to the peer is down ([`Input::LinkDown`]).
    Down(RingId),
    /// Tell the node its link lost its carrier, not its peer
    /// ([`Input::LinkLost`]).
    Lost(RingId),
    /// Offer a DataChannel to the peer. If that cannot even start, report
    /// [`Carriers::handle_channel_closed`].
    Offer(RingId),
    /// Close the DataChannel to the peer (already forgotten here).
    Close(RingId),
    /// Send this ring message on the DataChannel that just opened.
    Send(RingId, Vec<u8>),
}

impl Action {
    /// The node input of a link change, at `now`.
    pub fn input(&self, now: u64) -> Option<Input<'static>> {
        match *self {
            Action::Up(p) => Some(Input::LinkUp(now, p)),
            Action::Down(p) => Some(Input::LinkDown(now, p)),
            Action::Lost(p) => Some(Input::LinkLost(now, p)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Channel {
    open: bool,
    offerer: bool,
    started: u64,
    ice: IceWatch,
}

/// The carriers of one node's links.
#[derive(Debug, Default)]
pub struct Carriers {
    /// The gateway this node joined through, while its WebSocket is open.
    upstream: Option<RingId>,
    clients: VecSet<RingId>,
    relayed: VecSet<RingId>,
    no_route: VecSet<RingId>,
    channels: VecMap<RingId, Channel>,
    waiting: Waiting,
    retry: OfferRetries,
    leaving: bool,
    actions: VecDeque<Action>,
}

impl Carriers {
    /// No carriers yet.
    pub fn new() -> Carriers {
        Carriers::default()
    }

    /// The WebSocket to gateway `gw` is open (first join, or a new join
    /// after the last upstream went away): it carries `gw`'s link and relays
    /// links to other peers.
    pub fn handle_upstream_up(&mut self, gw: RingId) {
        self.upstream = Some(gw);
        self.no_route = VecSet::new();
    }

    /// The upstream WebSocket closed: the gateway's own link goes down, and
    /// the links it relayed are lost (not their peers).
    pub fn handle_upstream_gone(&mut self) {
        let Some(gw) = self.upstream.take() else {
            return;
        };
        if !self.is_carried(&gw) {
            self.actions.push_back(Action::Down(gw));
        }
        for p in std::mem::take(&mut self.relayed).drain() {
            self.retry.forget(&p);
            if !self.is_carried(&p) {
                self.actions.push_back(Action::Lost(p));
            }
        }
    }

    /// A WebSocket client of this gateway is admitted.
    pub fn handle_client_up(&mut self, p: RingId) {
        self.clients.insert(p);
        self.actions.push_back(Action::Up(p));
    }

    /// A WebSocket client's connection closed.
    pub fn handle_client_down(&mut self, p: RingId) {
        if self.clients.remove(&p) && !self.is_carried(&p) {
            self.actions.push_back(Action::Down(p));
        }
    }

    /// The node dialled `p` ([`crate::node::Event::Dial`]).
    pub fn handle_dial(&mut self, now: u64, p: RingId) {
        if self.is_carried(&p) {
            self.actions.push_back(Action::Up(p));
            return;
        }
        let relay = self.upstream.is_some() && !self.no_route.contains(&p);
        if relay {
            self.relayed.insert(p);
            self.actions.push_back(Action::Up(p));
        }
        if !self.channels.contains_key(&p) && !self.offer(now, p) && !relay {
            self.actions.push_back(Action::Down(p));
        }
    }

    /// Starts a DataChannel as the offerer, within the limit.
    fn offer(&mut self, now: u64, p: RingId) -> bool {
        if self.channels.len() >= MAX_CHANNELS || Some(p) == self.upstream {
            return false;
        }
        self.channels.insert(p, channel(now, true));
        self.actions.push_back(Action::Offer(p));
        true
    }

    /// The node hung up on `p` ([`crate::node::Event::Hangup`]).
    pub fn handle_hangup(&mut self, p: RingId) {
        self.relayed.remove(&p);
        self.waiting.forget(&p);
        self.retry.forget(&p);
        // Leaving: links stay open until the driver stops, so that the
        // hand-off and goodbyes get through.
        if !self.leaving && self.channels.remove(&p).is_some() {
            self.actions.push_back(Action::Close(p));
        }
    }

    /// The node is leaving the ring: hang-ups no longer close DataChannels.
    pub fn handle_leave(&mut self) {
        self.leaving = true;
    }

    /// A verified offer from `p` arrived: whether to answer it. An open
    /// DataChannel stands (the offer was made before the peer took ours),
    /// and on glare the larger id's offer does; otherwise the answerer's
    /// DataChannel replaces any earlier one (the driver closes that).
    pub fn handle_offer(&mut self, now: u64, me: RingId, p: RingId) -> bool {
        match self.channels.get(&p) {
            Some(c) if c.open || c.offerer && wins_glare(me, p) => return false,
            Some(_) => {}
            None if self.channels.len() >= MAX_CHANNELS => return false,
            None => {}
        }
        self.channels.insert(p, channel(now, false));
        true
    }

    /// The DataChannel to `p` opened and both ends proved their keys.
    pub fn handle_channel_opened(&mut self, p: RingId) {
        let was = self.is_carried(&p);
        let Some(c) = self.channels.get_mut(&p) else {
            return;
        };
        c.open = true;
        self.retry.forget(&p);
        self.relayed.remove(&p);
        for m in self.waiting.take(&p) {
            self.actions.push_back(Action::Send(p, m));
        }
        if !was {
            self.actions.push_back(Action::Up(p));
        }
    }

    /// The DataChannel to `p` closed by itself, or failed to set up.
    pub fn handle_channel_closed(&mut self, now: u64, p: RingId) {
        if let Some(c) = self.channels.remove(&p) {
            self.after_close(now, p, c.open);
        }
    }

    fn after_close(&mut self, now: u64, p: RingId, was_open: bool) {
        self.waiting.forget(&p);
        if !was_open && self.relayed.contains(&p) {
            self.retry.handle_failed(now, p);
        }
        if !self.is_carried(&p) {
            self.actions.push_back(Action::Down(p));
        }
    }

    /// The ICE state of the DataChannel to `p` changed.
    pub fn handle_ice_state(&mut self, now: u64, p: RingId, state: IceState) {
        let dead = self
            .channels
            .get_mut(&p)
            .is_some_and(|c| c.ice.handle_state(now, state));
        if dead {
            self.close(now, p);
        }
    }

    /// Closes the DataChannel to `p` on this machine's own decision.
    fn close(&mut self, now: u64, p: RingId) {
        if let Some(c) = self.channels.remove(&p) {
            self.actions.push_back(Action::Close(p));
            self.after_close(now, p, c.open);
        }
    }

    /// A `Relay` frame from `p` came through the upstream gateway.
    pub fn handle_relayed(&mut self, p: RingId) {
        if !self.is_carried(&p) {
            self.relayed.insert(p);
            self.actions.push_back(Action::Up(p));
        }
    }

    /// The upstream gateway cannot relay to `p` (a client of another
    /// gateway): the link is lost until a DataChannel opens.
    pub fn handle_no_route(&mut self, p: RingId) {
        if self.no_route.len() < MAX_NO_ROUTE {
            self.no_route.insert(p);
        }
        if self.relayed.remove(&p) && !self.is_carried(&p) {
            self.retry.forget(&p);
            self.actions.push_back(Action::Lost(p));
        }
    }

    /// Where a ring message for `to` goes, with the message; `None` if it
    /// waits for a DataChannel or has no carrier (the node notices by its
    /// timeouts).
    pub fn carry(&mut self, to: RingId, bytes: Vec<u8>) -> Option<(Via, Vec<u8>)> {
        if let Some(via) = self.via(&to) {
            return Some((via, bytes));
        }
        if self.channels.contains_key(&to) {
            self.waiting.push(to, bytes);
        }
        None
    }

    /// What carries the link to `p` now, if anything.
    pub fn via(&self, p: &RingId) -> Option<Via> {
        if self.channels.get(p).is_some_and(|c| c.open) {
            Some(Via::Channel)
        } else if self.clients.contains(p) {
            Some(Via::Client)
        } else if self.upstream == Some(*p) {
            Some(Via::Upstream)
        } else if self.relayed.contains(p) {
            Some(Via::Relay)
        } else {
            None
        }
    }

    /// Whether something carries the link to `p` now.
    pub fn is_carried(&self, p: &RingId) -> bool {
        self.via(p).is_some()
    }

    /// Whether a DataChannel to `p` exists or is being set up.
    pub fn has_channel(&self, p: &RingId) -> bool {
        self.channels.contains_key(p)
    }

    /// Acts on time: abandons DataChannels late to open or dead by ICE, and
    /// offers again those of relayed links that are due.
    pub fn handle_timeout(&mut self, now: u64) {
        let stale: Vec<RingId> = self
            .channels
            .iter_mut()
            .filter_map(|(p, c)| {
                let late = !c.open && now.saturating_sub(c.started) > SETUP_MS;
                (late || c.ice.poll_dead(now)).then_some(*p)
            })
            .collect();
        for p in stale {
            self.close(now, p);
        }
        let relayed = &self.relayed;
        self.retry.retain(|p| relayed.contains(p));
        for p in self.retry.poll_due(now) {
            if !self.channels.contains_key(&p) && !self.offer(now, p) {
                self.retry.handle_failed(now, p);
            }
        }
    }

    /// When [`Carriers::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        let channels = self.channels.values().filter_map(|c| {
            let setup = (!c.open).then_some(c.started + SETUP_MS + 1);
            match (setup, c.ice.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        });
        channels.chain(self.retry.next_due()).min()
    }

    /// The next thing for the driver to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
}

fn channel(now: u64, offerer: bool) -> Channel {
    Channel {
        open: false,
        offerer,
        started: now,
        ice: IceWatch::new(),
    }
}

#[cfg(test)]
#[path = "carriers_tests.rs"]
mod tests;
