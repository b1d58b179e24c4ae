//! WebRTC DataChannel links of a native peer, on str0m.
//!
//! The same protocol as the browser's links (spec/link.md): complete SDP
//! offers and answers, signed and routed through the ring; glare keeps the
//! offer of the larger node id; each end proves its node key over both DTLS
//! fingerprints before the channel carries ring messages; messages are cut
//! into chunks of at most 16 KiB. str0m is sans-IO like our core, so this
//! module is too: the driver hands it datagrams and the time, and takes
//! datagrams to send, link events and the next deadline.
//!
//! All links of a peer share one UDP socket; an incoming datagram goes to
//! the one `Rtc` that [`Rtc::accepts`] it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use icn_core::bootstrap::NodeCert;
use icn_core::link::carriers::MAX_CHANNELS;
use icn_core::link::policy::IceState;
use icn_core::link::{Incoming, LinkAuth, Outbox, Reassembler, Signal, SignalKind, Transcript};
use icn_core::RingId;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

/// What happened on the links, for the driver.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// The link to this peer is authenticated and carries ring messages.
    Opened(RingId),
    /// The link closed or failed.
    Closed(RingId),
    /// The link's ICE state changed (icn-core's carriers judge it).
    Ice(RingId, IceState),
    /// A ring message arrived.
    Message(RingId, Vec<u8>),
}

struct Link {
    rtc: Rtc,
    cid: Option<ChannelId>,
    session: u64,
    offerer: bool,
    pending: Option<SdpPendingOffer>,
    local_sdp: String,
    remote_sdp: Option<String>,
    auth_sent: bool,
    peer_authed: bool,
    reasm: Reassembler,
    backlog: Outbox,
    dead: bool,
    /// The last datagram went out from the relayed address.
    via_turn: bool,
    /// Something reached this link since it was last driven (a datagram,
    /// a message to send, an answer): drive it at the next poll.
    dirty: bool,
    /// The deadline str0m gave when last driven; until then (and unless
    /// dirty) the link is left alone. A peer wakes for every datagram of any
    /// of its links, and driving all of them each time cost more CPU than
    /// the traffic itself.
    wake: Option<Instant>,
}

impl Link {
    fn new(rtc: Rtc, session: u64, offerer: bool, local_sdp: String) -> Link {
        Link {
            rtc,
            cid: None,
            session,
            offerer,
            pending: None,
            local_sdp,
            remote_sdp: None,
            auth_sent: false,
            peer_authed: false,
            reasm: Reassembler::default(),
            backlog: Outbox::default(),
            dead: false,
            via_turn: false,
            dirty: true,
            wake: None,
        }
    }

    fn is_open(&self) -> bool {
        self.auth_sent && self.peer_authed
    }

    fn transcript(&self, me: RingId, peer: RingId) -> Option<Transcript> {
        let remote = self.remote_sdp.as_deref()?;
        Transcript::of_link(me, peer, self.offerer, &self.local_sdp, remote)
    }

    /// Writes queued chunks until the channel refuses more.
    fn flush(&mut self) {
        let Some(mut ch) = self.cid.and_then(|c| self.rtc.channel(c)) else {
            return;
        };
        while let Some(c) = self.backlog.front() {
            match ch.write(true, c) {
                Ok(true) => self.backlog.pop(),
                Ok(false) => break, // SCTP buffer full: retry after the next poll
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
    }
}

/// The WebRTC links of one native peer.
pub struct RtcLinks {
    me: RingId,
    key: SigningKey,
    cert: NodeCert,
    trusted: Vec<[u8; 32]>,
    local: SocketAddr,
    /// The socket's public address, if a STUN server told it.
    reflexive: Option<SocketAddr>,
    /// The address a TURN server relays for this peer, once allocated.
    relayed: Option<SocketAddr>,
    /// Datagrams str0m sends from the relayed address: the driver wraps
    /// them for the TURN server.
    via_relay: Vec<(SocketAddr, Vec<u8>)>,
    links: HashMap<RingId, Link>,
    rng: u64,
    /// One DTLS certificate for all of this node's links: generating one
    /// per connection (str0m's default) costs a key generation each time,
    /// which dominated the CPU of peers under churn. Its fingerprint is
    /// bound to the node key by the link authentication either way.
    dtls_cert: Option<str0m::config::DtlsCert>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl RtcLinks {
    /// Accepts certificates of the gateways in `announced` (a `Trust` frame)
    /// besides this peer's own gateway.
    pub fn set_trusted(&mut self, announced: &[[u8; 32]]) {
        self.trusted = icn_core::bootstrap::trusted_keys(self.cert.gateway_key, announced);
    }

    /// Links are authenticated with `cert` from now on (a certificate for the
    /// same node from the gateway it joined again through); that gateway's
    /// key is trusted too, the others stay.
    pub fn set_cert(&mut self, cert: NodeCert) {
        self.trusted = icn_core::bootstrap::trusted_keys(cert.gateway_key, &self.trusted);
        self.cert = cert;
    }

    /// The gateway keys whose certificates are accepted.
    pub fn trusted(&self) -> &[[u8; 32]] {
        &self.trusted
    }

    /// Links of node `cert.node_id`, reachable at the UDP address `local`.
    pub fn new(key: SigningKey, cert: NodeCert, local: SocketAddr) -> RtcLinks {
        RtcLinks {
            me: cert.node_id,
            trusted: vec![cert.gateway_key],
            rng: cert.node_id.prefix_u64() ^ now_ms() | 1,
            key,
            cert,
            local,
            reflexive: None,
            relayed: None,
            via_relay: Vec::new(),
            links: HashMap::new(),
            dtls_cert: str0m::crypto::from_feature_flags()
                .dtls_provider
                .generate_certificate(),
        }
    }

    /// The public address a STUN server saw this peer's socket at: offered
    /// as a server-reflexive candidate by links set up from now on.
    pub fn set_reflexive(&mut self, addr: SocketAddr) {
        self.reflexive = Some(addr);
    }

    /// The address a TURN server relays for this peer: offered as a relayed
    /// candidate by links set up from now on.
    pub fn set_relayed(&mut self, addr: SocketAddr) {
        self.relayed = Some(addr);
    }

    /// Datagrams for the TURN server to relay: (peer, datagram).
    pub fn take_relayed(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.via_relay)
    }

    /// Whether the link to `peer` is authenticated and its last datagram
    /// went through the TURN relay.
    pub fn via_turn(&self, peer: &RingId) -> bool {
        self.links
            .get(peer)
            .is_some_and(|l| l.is_open() && l.via_turn)
    }

    /// Whether the link to `peer` is authenticated.
    pub fn is_open(&self, peer: &RingId) -> bool {
        self.links.get(peer).is_some_and(Link::is_open)
    }

    /// Whether a link to `peer` exists or is being set up.
    pub fn has(&self, peer: &RingId) -> bool {
        self.links.contains_key(peer)
    }

    fn session(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng >> 11
    }

    fn new_rtc(&self, now: Instant) -> Option<Rtc> {
        let mut config = Rtc::builder();
        if let Some(c) = &self.dtls_cert {
            config = config.set_dtls_cert(c.clone());
        }
        let mut rtc = config.build(now);
        let candidate = Candidate::host(self.local, "udp").ok()?;
        rtc.add_local_candidate(candidate);
        if let Some(c) = self
            .reflexive
            .filter(|r| *r != self.local)
            .and_then(|r| Candidate::server_reflexive(r, self.local, "udp").ok())
        {
            rtc.add_local_candidate(c);
        }
        if let Some(c) = self
            .relayed
            .and_then(|r| Candidate::relayed(r, self.local, "udp").ok())
        {
            rtc.add_local_candidate(c);
        }
        Some(rtc)
    }

    fn signal(&self, kind: SignalKind, session: u64, to: RingId, sdp: String) -> Vec<u8> {
        Signal::sign(kind, session, to, sdp, self.cert.clone(), &self.key).encode()
    }

    /// Starts a link to `peer` as the offerer; returns the signal to route
    /// to it, or `None` if a link exists, the limit is reached or it failed.
    /// (When to offer is the carriers' decision; this only guards.)
    pub fn start_offer(&mut self, peer: RingId, now: Instant) -> Option<Vec<u8>> {
        if self.links.contains_key(&peer) || self.links.len() >= MAX_CHANNELS || peer == self.me {
            return None;
        }
        let mut rtc = self.new_rtc(now)?;
        let mut api = rtc.sdp_api();
        let cid = api.add_channel("icn".into());
        let (offer, pending) = api.apply()?;
        let sdp = offer.to_sdp_string();
        let session = self.session();
        let mut link = Link::new(rtc, session, true, sdp.clone());
        link.cid = Some(cid);
        link.pending = Some(pending);
        self.links.insert(peer, link);
        Some(self.signal(SignalKind::Offer, session, peer, sdp))
    }

    /// A signaling payload routed to this peer from `from`; returns the
    /// answer to route back, if it was an offer that `accept` (the
    /// carriers' rule) took and that could be answered.
    pub fn handle_signal(
        &mut self,
        from: RingId,
        bytes: &[u8],
        now: Instant,
        accept: impl FnOnce() -> bool,
    ) -> Option<Vec<u8>> {
        let s = Signal::decode(bytes)
            .map_err(|e| tracing::debug!(%from, "undecodable signal: {e}"))
            .ok()?;
        s.verify(from, self.me, &self.trusted, now_ms())
            .map_err(|e| tracing::debug!(%from, "signal refused: {e}"))
            .ok()?;
        tracing::debug!(%from, kind = ?s.kind, "signal");
        match s.kind {
            SignalKind::Offer => {
                if !accept() {
                    return None;
                }
                if let Some(mut old) = self.links.remove(&from) {
                    old.rtc.disconnect();
                }
                let mut rtc = self.new_rtc(now)?;
                let offer = SdpOffer::from_sdp_string(&s.sdp).ok()?;
                let answer = rtc.sdp_api().accept_offer(offer).ok()?;
                let sdp = answer.to_sdp_string();
                let mut link = Link::new(rtc, s.session, false, sdp.clone());
                link.remote_sdp = Some(s.sdp);
                self.links.insert(from, link);
                Some(self.signal(SignalKind::Answer, s.session, from, sdp))
            }
            SignalKind::Answer => {
                let l = self.links.get_mut(&from)?;
                if !l.offerer || l.session != s.session || l.remote_sdp.is_some() {
                    return None;
                }
                let pending = l.pending.take()?;
                let answer = SdpAnswer::from_sdp_string(&s.sdp).ok()?;
                if l.rtc.sdp_api().accept_answer(pending, answer).is_err() {
                    l.dead = true;
                    return None;
                }
                l.remote_sdp = Some(s.sdp);
                l.dirty = true;
                None
            }
        }
    }

    /// A datagram arrived on the shared socket.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        self.handle_datagram_at(now, source, self.local, bytes);
    }

    /// A datagram from `source` arrived at `destination` (the socket, or the
    /// relayed address for what the TURN server passed on).
    pub fn handle_datagram_at(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) {
        let Ok(contents) = bytes.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        );
        if let Some(l) = self.links.values_mut().find(|l| l.rtc.accepts(&input)) {
            l.dirty = true;
            if l.rtc.handle_input(input).is_err() {
                l.dead = true;
            }
        }
    }

    /// Queues one ring message on the link to `peer` (if open).
    pub fn send(&mut self, peer: &RingId, message: &[u8]) {
        let Some(l) = self.links.get_mut(peer).filter(|l| l.is_open()) else {
            return;
        };
        if l.backlog.push_message(message) {
            l.flush();
            l.dirty = true;
        }
    }

    /// Closes the link to `peer`.
    pub fn close(&mut self, peer: &RingId) {
        if let Some(mut l) = self.links.remove(peer) {
            l.rtc.disconnect();
        }
    }

    /// Drives every link to `now`: datagrams to send go to `out`, link
    /// events to `events`. Returns the earliest deadline of any link.
    pub fn poll(
        &mut self,
        now: Instant,
        out: &mut Vec<(SocketAddr, Vec<u8>)>,
        events: &mut Vec<LinkEvent>,
    ) -> Option<Instant> {
        let mut ctx = Ctx {
            me: self.me,
            trusted: &self.trusted,
            cert: &self.cert,
            key: &self.key,
            relayed: self.relayed,
            via_relay: &mut self.via_relay,
        };
        let mut next: Option<Instant> = None;
        for (peer, l) in self.links.iter_mut() {
            if l.dirty || l.wake.is_none_or(|w| now >= w) {
                l.dirty = false;
                if l.rtc.handle_input(Input::Timeout(now)).is_err() {
                    l.dead = true;
                }
                drive(l, *peer, &mut ctx, out, events);
                // Chunks written now become datagrams on the next drive.
                l.flush();
                l.wake = drive(l, *peer, &mut ctx, out, events);
            }
            if let Some(t) = l.wake {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        let dead: Vec<RingId> = self
            .links
            .iter()
            .filter(|(_, l)| l.dead || !l.rtc.is_alive())
            .map(|(p, _)| *p)
            .collect();
        for p in dead {
            if let Some(mut l) = self.links.remove(&p) {
                l.rtc.disconnect();
                events.push(LinkEvent::Closed(p));
            }
        }
        next
    }

    /// Peers with an authenticated link.
    pub fn open_peers(&self) -> Vec<RingId> {
        self.links
            .iter()
            .filter(|(_, l)| l.is_open())
            .map(|(p, _)| *p)
            .collect()
    }
}

struct Ctx<'a> {
    me: RingId,
    trusted: &'a [[u8; 32]],
    cert: &'a NodeCert,
    key: &'a SigningKey,
    relayed: Option<SocketAddr>,
    via_relay: &'a mut Vec<(SocketAddr, Vec<u8>)>,
}

/// Drains one link's outputs; returns its next deadline.
fn drive(
    l: &mut Link,
    peer: RingId,
    ctx: &mut Ctx<'_>,
    out: &mut Vec<(SocketAddr, Vec<u8>)>,
    events: &mut Vec<LinkEvent>,
) -> Option<Instant> {
    loop {
        let o = match l.rtc.poll_output() {
            Ok(o) => o,
            Err(_) => {
                l.dead = true;
                return None;
            }
        };
        let e = match o {
            Output::Transmit(t) => {
                l.via_turn = Some(t.source) == ctx.relayed;
                match l.via_turn {
                    true => ctx.via_relay.push((t.destination, t.contents.to_vec())),
                    false => out.push((t.destination, t.contents.to_vec())),
                }
                continue;
            }
            Output::Timeout(t) => return Some(t),
            Output::Event(e) => e,
        };
        match e {
            Event::ChannelOpen(cid, _) => {
                l.cid = Some(cid);
                let Some(t) = l.transcript(ctx.me, peer) else {
                    l.dead = true;
                    continue;
                };
                let chunk = LinkAuth::sign(&t, ctx.cert.clone(), ctx.key).to_chunk();
                l.backlog.push_first(chunk);
                l.auth_sent = true;
                if l.is_open() {
                    events.push(LinkEvent::Opened(peer));
                }
            }
            Event::ChannelData(d) => match l.reasm.push(&d.data) {
                Ok(Incoming::Auth(a)) if !l.peer_authed => {
                    let ok = l
                        .transcript(ctx.me, peer)
                        .is_some_and(|t| a.verify(&t, peer, ctx.trusted, now_ms()).is_ok());
                    if ok {
                        l.peer_authed = true;
                        if l.is_open() {
                            events.push(LinkEvent::Opened(peer));
                        }
                    } else {
                        l.dead = true;
                    }
                }
                Ok(Incoming::Message(m)) if l.is_open() => events.push(LinkEvent::Message(peer, m)),
                Ok(Incoming::Partial) if l.peer_authed => {}
                _ => l.dead = true,
            },
            Event::ChannelClose(_) => l.dead = true,
            Event::IceConnectionStateChange(s) => {
                let state = match s {
                    IceConnectionState::New => IceState::New,
                    IceConnectionState::Checking => IceState::Checking,
                    IceConnectionState::Connected => IceState::Connected,
                    IceConnectionState::Completed => IceState::Completed,
                    IceConnectionState::Disconnected => IceState::Disconnected,
                };
                events.push(LinkEvent::Ice(peer, state));
            }
            Event::ChannelBufferedAmountLow(_) => l.flush(),
            _ => {}
        }
    }
}
