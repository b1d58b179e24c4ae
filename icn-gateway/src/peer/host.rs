//! A native ring node and whatever carries its links: the host half of a
//! tokio driver, shared by native peers and gateways.
//!
//! A link to another node is carried by an authenticated WebRTC
//! DataChannel ([`super::rtc`]), by a WebSocket (a gateway's connection to
//! one of its clients, or a node's connection up to the gateway it joined
//! through), or by that upstream gateway's relay. Which one, and when a
//! link is up, down or lost, is decided by icn-core's
//! [`Carriers`](icn_core::link::carriers), as in the browser; this file
//! only carries out its actions.
//!
//! Sockets are not touched here: the owner sends [`Host::datagrams`] on its
//! UDP socket, writes [`Host::take_upstream`] to its upstream WebSocket, and
//! feeds back what arrives. Keeping this sans-IO lets one host serve a peer
//! (one upstream, no clients) and a gateway (many clients, maybe an
//! upstream) alike.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use icn_core::bootstrap::Frame;
use icn_core::link::carriers::{Action, Carriers, Via};
use icn_core::link::policy::IceState;
use icn_core::node::{Event, Input, Node, Output};
use icn_core::RingId;

use super::outbox::OutboxTx;
use super::rtc::{LinkEvent, RtcLinks};
use super::Transport;

/// The node and its carriers.
pub struct Host {
    /// The ring node.
    pub node: Node,
    start: Instant,
    /// The node of the gateway this one joined through (kept after it went,
    /// until another takes its place).
    upstream: Option<RingId>,
    /// Frames for the upstream gateway; `None` once it is gone (or if there
    /// never was one).
    to_upstream: Option<Vec<Frame>>,
    carriers: Carriers,
    /// WebRTC DataChannels.
    pub links: RtcLinks,
    /// Datagrams for the owner to send.
    pub datagrams: Vec<(SocketAddr, Vec<u8>)>,
    /// WebSocket clients (of a gateway): their outgoing frame queues.
    clients: HashMap<RingId, OutboxTx>,
}

impl Host {
    /// A host for `node`; `upstream` is the gateway it joins through, if any.
    pub fn new(node: Node, links: RtcLinks, upstream: Option<RingId>) -> Host {
        let mut carriers = Carriers::new();
        if let Some(gw) = upstream {
            carriers.handle_upstream_up(gw);
        }
        Host {
            node,
            start: Instant::now(),
            upstream,
            to_upstream: upstream.map(|_| Vec::new()),
            carriers,
            links,
            datagrams: Vec::new(),
            clients: HashMap::new(),
        }
    }

    /// Leaves the ring gracefully; the owner keeps pumping for a moment
    /// so that the goodbyes are delivered, then drops the host.
    pub fn leave(&mut self) {
        self.carriers.handle_leave();
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

    fn transmit(&mut self, to: RingId, bytes: Vec<u8>) {
        let frame = match self.carriers.carry(to, bytes) {
            Some((Via::Channel, bytes)) => return self.links.send(&to, &bytes),
            Some((Via::Client, bytes)) => {
                if let Some(c) = self.clients.get(&to) {
                    let _ = c.send(Frame::Ring(bytes).encode());
                }
                return;
            }
            Some((Via::Upstream, bytes)) => Frame::Ring(bytes),
            Some((Via::Relay, bytes)) => Frame::Relay { peer: to, bytes },
            None => return, // held for a DataChannel, or no carrier
        };
        if let Some(q) = &mut self.to_upstream {
            q.push(frame);
        }
    }

    /// Carries out the carriers' actions.
    fn act(&mut self) {
        while let Some(a) = self.carriers.poll_action() {
            let t = self.now();
            match a {
                Action::Offer(p) => match self.links.start_offer(p, Instant::now()) {
                    Some(signal) => {
                        self.node.signal(t, p, signal);
                    }
                    None => self.carriers.handle_channel_closed(t, p),
                },
                Action::Close(p) => self.links.close(&p),
                Action::Send(p, m) => self.links.send(&p, &m),
                link => {
                    if let Some(i) = link.input(t) {
                        self.input(i);
                    }
                }
            }
        }
    }

    /// Drains the node and the links until both are quiet, handing the
    /// node's application events to `on_event`; returns the earliest
    /// deadline of any of them.
    pub fn pump(&mut self, on_event: &mut dyn FnMut(Event)) -> Instant {
        loop {
            let t = self.now();
            self.carriers.handle_timeout(t);
            self.act();
            let node_at = loop {
                match self.node.poll_output() {
                    Output::Transmit(t) => {
                        if tracing::enabled!(tracing::Level::TRACE) {
                            let msg = icn_core::wire::Message::decode(&t.bytes);
                            tracing::trace!(me = %self.node.id(), to = %t.to, ?msg, "transmit");
                        }
                        self.transmit(t.to, t.bytes)
                    }
                    Output::Event(Event::Dial(p)) => {
                        tracing::debug!(peer = %p, "dial");
                        let t = self.now();
                        self.carriers.handle_dial(t, p);
                        self.act();
                    }
                    Output::Event(Event::Hangup(p)) => {
                        self.carriers.handle_hangup(p);
                        self.act();
                    }
                    Output::Event(Event::Signal { from, bytes }) => self.on_signal(from, &bytes),
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
            self.act();
            if quiet {
                let node_at =
                    self.start + Duration::from_millis(node_at.min(self.now() + 3_600_000));
                let at = rtc_at.map_or(node_at, |r| r.min(node_at));
                let carriers_at = self.carriers.poll_timeout();
                return carriers_at.map_or(at, |c| (self.start + Duration::from_millis(c)).min(at));
            }
        }
    }

    fn on_signal(&mut self, from: RingId, bytes: &[u8]) {
        let (t, me) = (self.now(), self.node.id());
        let carriers = &mut self.carriers;
        let answer = self.links.handle_signal(from, bytes, Instant::now(), || {
            carriers.handle_offer(t, me, from)
        });
        if let Some(answer) = answer {
            self.node.signal(t, from, answer);
        } else if self.carriers.has_channel(&from) && !self.links.has(&from) {
            // Accepted, but the answer could not be made.
            self.carriers.handle_channel_closed(t, from);
            self.act();
        }
    }

    fn on_link(&mut self, e: LinkEvent) {
        let t = self.now();
        match e {
            LinkEvent::Opened(p) => {
                tracing::debug!(peer = %p, "datachannel open");
                self.carriers.handle_channel_opened(p);
            }
            LinkEvent::Closed(p) => {
                tracing::debug!(peer = %p, "datachannel closed");
                self.carriers.handle_channel_closed(t, p);
            }
            LinkEvent::Ice(p, state) => {
                if state == IceState::Disconnected {
                    tracing::debug!(peer = %p, "ice disconnected");
                }
                self.carriers.handle_ice_state(t, p, state);
            }
            LinkEvent::Message(p, m) => self.input(Input::Receive(t, p, &m)),
        }
        self.act();
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
                self.carriers.handle_relayed(peer);
                self.act();
                self.input(Input::Receive(t, peer, &bytes));
            }
            Frame::NoRoute { peer } => {
                tracing::debug!(%peer, "no relay route");
                self.carriers.handle_no_route(peer);
                self.act();
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
    /// last one went away): its node's link is carried by it from now on,
    /// and its relay carries links again.
    pub fn set_upstream(&mut self, gw: RingId) {
        self.upstream = Some(gw);
        self.to_upstream = Some(Vec::new());
        self.carriers.handle_upstream_up(gw);
    }

    /// The upstream gateway is gone: its node is down, and the links it
    /// relayed are lost, not their peers (the node dials those it needs
    /// again, over DataChannels); DataChannels and clients carry on.
    pub fn upstream_gone(&mut self) {
        if self.to_upstream.take().is_some() {
            self.carriers.handle_upstream_gone();
            self.act();
        }
    }

    /// A WebSocket client joined; frames for it go to `tx`.
    pub fn client_up(&mut self, peer: RingId, tx: OutboxTx) {
        self.clients.insert(peer, tx);
        self.carriers.handle_client_up(peer);
        self.act();
    }

    /// A WebSocket client's connection closed.
    pub fn client_down(&mut self, peer: RingId) {
        if self.clients.remove(&peer).is_some() {
            self.carriers.handle_client_down(peer);
            self.act();
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
                let tr = match self.carriers.via(&p)? {
                    Via::Channel if self.links.via_turn(&p) => Transport::Turn,
                    Via::Channel => Transport::WebRtc,
                    Via::Client | Via::Upstream => Transport::WebSocket,
                    Via::Relay => Transport::Relay,
                };
                Some((p, tr))
            })
            .collect()
    }
}
