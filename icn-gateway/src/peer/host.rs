//! A native ring node and whatever carries its links: the host half of a
//! tokio driver, shared by native peers and gateways.
//!
//! A link to another node is carried, in order of preference, by an
//! authenticated WebRTC DataChannel ([`super::rtc`]), by a WebSocket
//! (a gateway's connection to one of its clients, or a node's connection up
//! to the gateway it joined through), or by that upstream gateway's relay
//! while a DataChannel is being set up. The rules are those of the browser
//! driver (spec/link.md): a relayed link is up at once, a DataChannel is
//! negotiated beside it, and when the upstream gateway goes away the relayed
//! links go down and the DataChannels carry on.
//!
//! Sockets are not touched here: the owner sends [`Host::datagrams`] on its
//! UDP socket, writes [`Host::take_upstream`] to its upstream WebSocket, and
//! feeds back what arrives. Keeping this sans-IO lets one host serve a peer
//! (one upstream, no clients) and a gateway (many clients, maybe an
//! upstream) alike.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use icn_core::bootstrap::Frame;
use icn_core::link::policy::Waiting;
use icn_core::link::retry::OfferRetries;
use icn_core::node::{Event, Input, Node, Output};
use icn_core::RingId;
use tokio::sync::mpsc;

use super::rtc::{LinkEvent, RtcLinks};
use super::Transport;

/// Peers remembered as unreachable through the upstream relay.
const MAX_NO_ROUTE: usize = 4096;

/// The node and its carriers.
pub struct Host {
    /// The ring node.
    pub node: Node,
    start: Instant,
    /// The node of the gateway this one joined through.
    upstream: Option<RingId>,
    /// Frames for the upstream gateway; `None` once it is gone (or if there
    /// never was one).
    to_upstream: Option<Vec<Frame>>,
    relayed: HashSet<RingId>,
    /// Peers the upstream gateway said it cannot relay to (clients of
    /// another gateway): reached by DataChannel only.
    no_route: HashSet<RingId>,
    /// Messages for peers whose only carrier is a DataChannel still being
    /// set up: sent when it opens, dropped if it fails (icn-core's link
    /// policy).
    waiting: Waiting,
    /// Relayed links whose DataChannel set-up failed: when to offer again.
    retry: OfferRetries,
    /// WebRTC DataChannels.
    pub links: RtcLinks,
    /// Datagrams for the owner to send.
    pub datagrams: Vec<(SocketAddr, Vec<u8>)>,
    /// WebSocket clients (of a gateway): their outgoing frame queues.
    clients: HashMap<RingId, mpsc::UnboundedSender<Vec<u8>>>,
    /// Leaving: links stay open until the owner stops, so the hand-off,
    /// `Leaving` and `Bye` get through (str0m's disconnect drops what is
    /// still queued).
    leaving: bool,
}

impl Host {
    /// A host for `node`; `upstream` is the gateway it joins through, if any.
    pub fn new(node: Node, links: RtcLinks, upstream: Option<RingId>) -> Host {
        Host {
            node,
            start: Instant::now(),
            upstream,
            to_upstream: upstream.map(|_| Vec::new()),
            relayed: HashSet::new(),
            no_route: HashSet::new(),
            waiting: Waiting::new(),
            retry: OfferRetries::new(),
            links,
            datagrams: Vec::new(),
            clients: HashMap::new(),
            leaving: false,
        }
    }

    /// Leaves the ring gracefully; the owner keeps pumping for a moment
    /// so that the goodbyes are delivered, then drops the host.
    pub fn leave(&mut self) {
        self.leaving = true;
        let t = self.now();
        self.node.leave(t);
    }

    /// Milliseconds since the host started: the node's clock.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Feeds the node; a refused input leaves it unchanged.
    pub fn input(&mut self, i: Input<'_>) {
        let _ = self.node.handle_input(i);
    }

    /// Whether the upstream gateway is still connected.
    pub fn has_upstream(&self) -> bool {
        self.to_upstream.is_some()
    }

    /// Frames queued for the upstream gateway.
    pub fn take_upstream(&mut self) -> Vec<Frame> {
        self.to_upstream
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Sends `frame` to every WebSocket client.
    pub fn broadcast(&self, frame: &Frame) {
        let bytes = frame.encode();
        for c in self.clients.values() {
            let _ = c.send(bytes.clone());
        }
    }

    /// Number of WebSocket clients.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Whether `p` is the upstream gateway and still connected.
    fn is_upstream(&self, p: &RingId) -> bool {
        Some(*p) == self.upstream && self.to_upstream.is_some()
    }

    fn carried(&self, p: &RingId) -> bool {
        self.clients.contains_key(p)
            || self.is_upstream(p)
            || self.relayed.contains(p)
            || self.links.is_open(p)
    }

    fn transmit(&mut self, to: RingId, bytes: Vec<u8>) {
        if self.links.is_open(&to) {
            self.links.send(&to, &bytes);
            return;
        }
        if let Some(c) = self.clients.get(&to) {
            let _ = c.send(Frame::Ring(bytes).encode());
            return;
        }
        let frame = if self.is_upstream(&to) {
            Frame::Ring(bytes)
        } else if self.relayed.contains(&to) {
            Frame::Relay { peer: to, bytes }
        } else {
            if self.links.has(&to) {
                self.waiting.push(to, bytes);
            }
            // Otherwise no carrier: the node notices by its timeouts.
            return;
        };
        if let Some(q) = &mut self.to_upstream {
            q.push(frame);
        }
    }

    /// Drains the node and the links until both are quiet, handing the
    /// node's application events to `on_event`; returns the earliest
    /// deadline of either.
    pub fn pump(&mut self, on_event: &mut dyn FnMut(Event)) -> Instant {
        loop {
            let retry_at = self.retry_offers();
            let node_at = loop {
                match self.node.poll_output() {
                    Output::Transmit(t) => {
                        if tracing::enabled!(tracing::Level::TRACE) {
                            let msg = icn_core::wire::Message::decode(&t.bytes);
                            tracing::trace!(me = %self.node.id(), to = %t.to, ?msg, "transmit");
                        }
                        self.transmit(t.to, t.bytes)
                    }
                    Output::Event(Event::Dial(p)) => self.dial(p),
                    Output::Event(Event::Hangup(p)) => {
                        self.relayed.remove(&p);
                        self.waiting.forget(&p);
                        self.retry.forget(&p);
                        if !self.leaving {
                            self.links.close(&p);
                        }
                    }
                    Output::Event(Event::Signal { from, bytes }) => {
                        if let Some(answer) = self.links.handle_signal(from, &bytes, Instant::now())
                        {
                            let t = self.now();
                            self.node.signal(t, from, answer);
                        }
                    }
                    Output::Event(e) => on_event(e),
                    Output::Timeout(at) => break at,
                }
            };
            let mut events = Vec::new();
            let now = Instant::now();
            let rtc_at = self.links.poll(now, &mut self.datagrams, &mut events);
            let quiet = events.is_empty();
            for e in events {
                self.on_link(e);
            }
            if quiet {
                let node_at =
                    self.start + Duration::from_millis(node_at.min(self.now() + 3_600_000));
                let at = rtc_at.map_or(node_at, |r| r.min(node_at));
                return retry_at.map_or(at, |r| r.min(at));
            }
        }
    }

    /// As in the browser: the upstream gateway's relay carries the link at
    /// once while a DataChannel is set up beside it; without it, the link is
    /// up when the DataChannel is.
    fn dial(&mut self, p: RingId) {
        let t = self.now();
        tracing::debug!(peer = %p, carried = self.carried(&p), "dial");
        if self.carried(&p) {
            return self.input(Input::LinkUp(t, p));
        }
        let relay = self.to_upstream.is_some() && !self.no_route.contains(&p);
        if relay {
            self.relayed.insert(p);
            self.input(Input::LinkUp(t, p));
        }
        let offered = self.links.has(&p)
            || match self.links.start_offer(p, Instant::now()) {
                Some(signal) => {
                    self.node.signal(t, p, signal);
                    true
                }
                None => false,
            };
        if !offered && !relay {
            self.input(Input::LinkDown(t, p));
        }
    }

    /// Offers again the DataChannels of relayed links that are due; returns
    /// the next time one is.
    fn retry_offers(&mut self) -> Option<Instant> {
        let relayed = &self.relayed;
        self.retry.retain(|p| relayed.contains(p));
        let t = self.now();
        for p in self.retry.poll_due(t) {
            if self.links.is_open(&p) {
                self.retry.forget(&p);
            } else if !self.links.has(&p) {
                tracing::debug!(peer = %p, "offering a DataChannel again");
                if let Some(signal) = self.links.start_offer(p, Instant::now()) {
                    self.node.signal(t, p, signal);
                }
            }
        }
        self.retry
            .next_due()
            .map(|at| self.start + Duration::from_millis(at))
    }

    fn on_link(&mut self, e: LinkEvent) {
        let t = self.now();
        match e {
            LinkEvent::Opened(p) => {
                tracing::debug!(peer = %p, "datachannel open");
                self.retry.forget(&p);
                for m in self.waiting.take(&p) {
                    self.links.send(&p, &m);
                }
                if !self.relayed.remove(&p) && !self.clients.contains_key(&p) {
                    self.input(Input::LinkUp(t, p));
                }
            }
            LinkEvent::Closed(p, was_open) => {
                tracing::debug!(peer = %p, was_open, "datachannel closed");
                if !self.links.has(&p) {
                    self.waiting.forget(&p);
                }
                if !was_open && self.relayed.contains(&p) && !self.links.has(&p) {
                    self.retry.handle_failed(t, p);
                }
                // Also a set-up that failed: the node may be waiting on it.
                if !self.carried(&p) && !self.links.has(&p) {
                    self.input(Input::LinkDown(t, p));
                }
            }
            LinkEvent::Message(p, m) => self.input(Input::Receive(t, p, &m)),
        }
    }

    /// A frame from the upstream gateway. Returns the gateway keys of a
    /// `Trust` frame, for the owner to apply (a peer trusts them; a gateway
    /// merges them into its own list).
    pub fn handle_upstream_frame(&mut self, f: Frame) -> Option<Vec<[u8; 32]>> {
        let t = self.now();
        let gw = self.upstream?;
        match f {
            Frame::Ring(bytes) => self.input(Input::Receive(t, gw, &bytes)),
            Frame::Relay { peer, bytes } => {
                if !self.carried(&peer) {
                    self.relayed.insert(peer);
                    self.input(Input::LinkUp(t, peer));
                }
                self.input(Input::Receive(t, peer, &bytes));
            }
            Frame::NoRoute { peer } => {
                tracing::debug!(%peer, "no relay route");
                // A client of another gateway: reached by DataChannel only,
                // so the link is down until one opens. (Kept up meanwhile,
                // it took in lookups, answers and the signaling of other
                // peers' channels, and delivered none of them until the
                // channel opened, if it did.)
                if self.no_route.len() < MAX_NO_ROUTE {
                    self.no_route.insert(peer);
                }
                let was = self.relayed.remove(&peer);
                if was && !self.carried(&peer) {
                    self.input(Input::LinkLost(t, peer));
                }
            }
            Frame::Trust { keys } => return Some(keys),
            Frame::Error { code } => {
                tracing::warn!("gateway closed the connection: {code}");
                self.upstream_gone();
            }
            _ => {}
        }
        None
    }

    /// A new upstream gateway (the peer joined again through it after the
    /// last one went away): its node's link is up from now on, and its relay
    /// carries links again.
    pub fn set_upstream(&mut self, gw: RingId) {
        self.upstream = Some(gw);
        self.to_upstream = Some(Vec::new());
        self.no_route.clear();
    }

    /// The upstream gateway is gone: its node is down, and the links it
    /// relayed are lost, not their peers (the node dials those it needs
    /// again, over DataChannels); DataChannels and clients carry on.
    pub fn upstream_gone(&mut self) {
        if self.to_upstream.take().is_none() {
            return;
        }
        let t = self.now();
        if let Some(gw) = self.upstream {
            if !self.carried(&gw) {
                self.input(Input::LinkDown(t, gw));
            }
        }
        for p in std::mem::take(&mut self.relayed) {
            if !self.carried(&p) {
                self.input(Input::LinkLost(t, p));
            }
        }
    }

    /// A WebSocket client joined; frames for it go to `tx`.
    pub fn client_up(&mut self, peer: RingId, tx: mpsc::UnboundedSender<Vec<u8>>) {
        self.clients.insert(peer, tx);
        let t = self.now();
        self.input(Input::LinkUp(t, peer));
    }

    /// A WebSocket client's connection closed.
    pub fn client_down(&mut self, peer: RingId) {
        if self.clients.remove(&peer).is_some() && !self.carried(&peer) {
            let t = self.now();
            self.input(Input::LinkDown(t, peer));
        }
    }

    /// One ring message from a WebSocket client.
    pub fn client_receive(&mut self, peer: RingId, bytes: &[u8]) {
        let t = self.now();
        if let Err(e) = self.node.handle_input(Input::Receive(t, peer, bytes)) {
            tracing::debug!(%peer, "{e}");
        }
    }

    /// The open links and what carries each.
    pub fn links_view(&self) -> Vec<(RingId, Transport)> {
        self.node
            .ring_view()
            .links
            .into_iter()
            .filter_map(|p| {
                let tr = if self.links.is_open(&p) {
                    Transport::WebRtc
                } else if self.clients.contains_key(&p) || self.is_upstream(&p) {
                    Transport::WebSocket
                } else if self.relayed.contains(&p) {
                    Transport::Relay
                } else {
                    return None;
                };
                Some((p, tr))
            })
            .collect()
    }
}
