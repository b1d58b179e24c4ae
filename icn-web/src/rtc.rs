//! WebRTC DataChannel links between browser peers.
//!
//! One `RTCPeerConnection` with one reliable, ordered DataChannel per
//! neighbour. Offers and answers are complete SDPs (ICE candidates gathered
//! first, no trickling), signed and routed through the ring as `Signal`
//! bodies (`icn_core::link`); while the gateway is there, the route's first
//! hop is usually its relay. Glare (both ends offering at once) keeps the
//! offer of the larger node id. When the channel opens, each end sends a
//! `LinkAuth` over both DTLS fingerprints; only when both verified does the
//! link carry ring messages.
//!
//! Sending respects `bufferedAmount`: chunks wait in a bounded backlog while
//! more than [`HIGH_WATER`] bytes are queued in the channel, and are flushed
//! from `bufferedamountlow`.

use icn_core::link::carriers::MAX_CHANNELS;
use icn_core::link::policy::IceState;
use icn_core::link::{Incoming, LinkAuth, Outbox, Reassembler, Signal, SignalKind, Transcript};
use icn_core::node::Input;
use icn_core::RingId;
use js_sys::Array;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelState,
    RtcDataChannelType, RtcIceConnectionState, RtcIceGatheringState, RtcPeerConnection,
    RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
};

use crate::crypto;
use crate::driver::{
    act, js_err, link_closed, link_opened, message_bytes, now, pump, rehearse_receive, Shared,
};
use crate::task::{self, sleep, wait};

/// Bytes queued inside a channel above which chunks wait in the backlog.
const HIGH_WATER: u32 = 1024 * 1024;
/// Where `bufferedamountlow` fires.
const LOW_WATER: u32 = 256 * 1024;
/// How long a closed link's connection lingers so its channel's close
/// reaches the peer.
const CLOSE_GRACE_MS: i32 = 1_000;
/// Longest wait for ICE gathering before sending what was gathered.
const GATHER_MS: u64 = 2_000;

type Handler = Closure<dyn FnMut(JsValue)>;

/// One WebRTC link, negotiating or open.
pub(crate) struct RtcLink {
    pc: RtcPeerConnection,
    dc: Option<RtcDataChannel>,
    session: u64,
    offerer: bool,
    local_sdp: Option<String>,
    remote_sdp: Option<String>,
    auth_sent: bool,
    peer_authed: bool,
    /// The peer's proof arrived (it may still wait for WebCrypto).
    auth_seen: bool,
    reasm: Reassembler,
    backlog: Outbox,
    /// The candidate pair the link settled on goes through a TURN relay.
    pub(crate) via_turn: bool,
    /// When `via_turn` was last asked of the browser (ICE may move an
    /// open link to a better pair, from a relayed one to a direct one).
    classified: u64,
    handlers: Vec<Handler>,
}

impl RtcLink {
    pub(crate) fn is_open(&self) -> bool {
        self.auth_sent && self.peer_authed
    }

    /// Closes the link and detaches every handler first: the closures die
    /// with the link, and a browser event for a closed channel must find
    /// no handler rather than a dropped closure. The channel closes at once
    /// (an orderly close: what it holds, a `Bye` say, goes out first, then
    /// the peer sees it close); the connection a second later, since
    /// closing it at once drops all that and leaves the peer with a link it
    /// takes for open until ICE gives up on it, half a minute later.
    pub(crate) fn close(&self) {
        if let Some(dc) = &self.dc {
            dc.set_onopen(None);
            dc.set_onmessage(None);
            dc.set_onclose(None);
            dc.set_onbufferedamountlow(None);
            dc.close();
        }
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.set_ondatachannel(None);
        let pc = self.pc.clone();
        task::spawn(async move {
            sleep(CLOSE_GRACE_MS).await;
            pc.close();
        });
    }

    /// Queues one ring message and sends what the channel takes now.
    pub(crate) fn send(&mut self, message: &[u8]) {
        if self.backlog.push_message(message) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(dc) = &self.dc else { return };
        while dc.buffered_amount() <= HIGH_WATER {
            let Some(c) = self.backlog.front() else {
                break;
            };
            if dc.send_with_u8_array(c).is_err() {
                break;
            }
            self.backlog.pop();
        }
    }

    fn transcript(&self, me: RingId, peer: RingId) -> Option<Transcript> {
        let remote = self.remote_sdp.as_deref()?;
        Transcript::of_link(me, peer, self.offerer, self.local_sdp.as_deref()?, remote)
    }
}

/// A peer connection gathering candidates with the page's ICE servers
/// (the gateway's list, or the one given to `Peer.join`).
fn new_pc(inner: &Shared) -> Result<RtcPeerConnection, JsValue> {
    let cfg = RtcConfiguration::new();
    let servers = Array::new();
    for s in &inner.borrow().ice {
        let o = js_sys::Object::new();
        let urls: Array = s.urls.iter().map(|u| JsValue::from_str(u)).collect();
        js_sys::Reflect::set(&o, &"urls".into(), &urls)?;
        if !s.username.is_empty() {
            js_sys::Reflect::set(&o, &"username".into(), &s.username.as_str().into())?;
            js_sys::Reflect::set(&o, &"credential".into(), &s.credential.as_str().into())?;
        }
        servers.push(&o);
    }
    cfg.set_ice_servers(&servers);
    RtcPeerConnection::new_with_configuration(&cfg)
}

/// Marks the link to `peer` as relayed by TURN if the candidate pair its
/// connection selected has a relayed end (from `getStats`).
fn classify(inner: &Shared, peer: RingId, session: u64) {
    let Some(pc) = inner
        .borrow_mut()
        .rtc
        .get_mut(&peer)
        .filter(|l| l.session == session)
        .map(|l| {
            l.classified = now();
            l.pc.clone()
        })
    else {
        return;
    };
    let inner = inner.clone();
    task::spawn(async move {
        let Ok(report) = wait(pc.get_stats()).await else {
            return;
        };
        let turn = selected_pair_is_relayed(&report.unchecked_into());
        if let Some(l) = inner.borrow_mut().rtc.get_mut(&peer) {
            if l.session == session {
                l.via_turn = turn;
            }
        }
    });
}

/// Whether an `RTCStatsReport`'s selected candidate pair has a relayed end.
fn selected_pair_is_relayed(report: &js_sys::Map) -> bool {
    let get = |o: &JsValue, k: &str| {
        js_sys::Reflect::get(o, &k.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    let mut pair_id = None;
    let mut nominated = None;
    report.for_each(&mut |v, _| match get(&v, "type").as_deref() {
        Some("transport") => pair_id = pair_id.take().or(get(&v, "selectedCandidatePairId")),
        Some("candidate-pair")
            if get(&v, "state").as_deref() == Some("succeeded")
                && js_sys::Reflect::get(&v, &"nominated".into()).ok() == Some(JsValue::TRUE) =>
        {
            nominated = get(&v, "id");
        }
        _ => {}
    });
    let Some(pair) = pair_id.or(nominated).map(|id| report.get(&id.into())) else {
        return false;
    };
    ["localCandidateId", "remoteCandidateId"].iter().any(|end| {
        get(&pair, end).is_some_and(|id| {
            get(&report.get(&id.into()), "candidateType").as_deref() == Some("relay")
        })
    })
}

fn random_session() -> u64 {
    (js_sys::Math::random() * 9.0e15) as u64
}

/// Starts a link to `peer` as the offerer, unless one exists or the page is
/// at its limit. Returns whether a link exists or is being set up.
pub(crate) fn start_offer(inner: &Shared, peer: RingId) -> bool {
    {
        let me = inner.borrow();
        if me.rtc.contains_key(&peer) {
            return true;
        }
        if me.rtc.len() >= MAX_CHANNELS || peer == me.gw {
            return false;
        }
    }
    let Ok(pc) = new_pc(inner) else { return false };
    let dc = pc.create_data_channel("icn");
    let session = random_session();
    insert_link(inner, peer, pc.clone(), Some(dc.clone()), session, true);
    attach_channel(inner, peer, session, &dc);
    let inner = inner.clone();
    task::spawn(async move {
        let r = async {
            let offer = wait(pc.create_offer()).await?;
            wait(pc.set_local_description(offer.unchecked_ref())).await?;
            let sdp = gathered_sdp(&inner, &pc).await?;
            send_signal(&inner, peer, SignalKind::Offer, session, sdp);
            Ok::<(), JsValue>(())
        }
        .await;
        if r.is_err() {
            drop_link(&inner, peer, session);
        }
    });
    true
}

fn insert_link(
    inner: &Shared,
    peer: RingId,
    pc: RtcPeerConnection,
    dc: Option<RtcDataChannel>,
    session: u64,
    offerer: bool,
) {
    let weak = std::rc::Rc::downgrade(inner);
    let watch_pc = pc.clone();
    let on_state = Handler::new(move |_| {
        if matches!(
            watch_pc.connection_state(),
            RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
        ) {
            if let Some(inner) = weak.upgrade() {
                drop_link(&inner, peer, session);
            }
        }
    });
    pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
    let weak = std::rc::Rc::downgrade(inner);
    let watch_pc = pc.clone();
    let on_ice = Handler::new(move |_| {
        let state = match watch_pc.ice_connection_state() {
            RtcIceConnectionState::New => IceState::New,
            RtcIceConnectionState::Checking => IceState::Checking,
            RtcIceConnectionState::Connected => IceState::Connected,
            RtcIceConnectionState::Completed => IceState::Completed,
            RtcIceConnectionState::Disconnected => IceState::Disconnected,
            RtcIceConnectionState::Failed => IceState::Failed,
            _ => IceState::Closed,
        };
        let Some(inner) = weak.upgrade() else { return };
        let current = inner
            .borrow()
            .rtc
            .get(&peer)
            .is_some_and(|l| l.session == session);
        if current {
            // The carriers judge the state (and may close the link).
            inner
                .borrow_mut()
                .carriers
                .handle_ice_state(now(), peer, state);
            act(&inner);
            pump(&inner);
        }
    });
    pc.set_oniceconnectionstatechange(Some(on_ice.as_ref().unchecked_ref()));
    let link = RtcLink {
        pc,
        dc,
        session,
        offerer,
        local_sdp: None,
        remote_sdp: None,
        auth_sent: false,
        peer_authed: false,
        auth_seen: false,
        reasm: Reassembler::default(),
        backlog: Outbox::default(),
        via_turn: false,
        classified: 0,
        handlers: vec![on_state, on_ice],
    };
    if let Some(old) = inner.borrow_mut().rtc.insert(peer, link) {
        old.close();
    }
}

/// Closes and forgets the link to `peer` if it is still session `session`.
fn drop_link(inner: &Shared, peer: RingId, session: u64) {
    let removed = {
        let mut me = inner.borrow_mut();
        match me.rtc.get(&peer) {
            Some(l) if l.session == session => me.rtc.remove(&peer),
            _ => None,
        }
    };
    if let Some(l) = removed {
        l.close();
        link_closed(inner, peer);
    }
}

/// Waits until ICE gathering completes, or the SDP holds the best kind of
/// candidate the page's servers can give (relayed with TURN, else
/// server-reflexive with STUN), or [`GATHER_MS`] passed; returns the local
/// SDP with its candidates. (Chromium may take seconds to call gathering
/// complete after the candidates that matter arrived.)
async fn gathered_sdp(inner: &Shared, pc: &RtcPeerConnection) -> Result<String, JsValue> {
    let enough = {
        let ice = &inner.borrow().ice;
        match (ice.iter().any(|s| s.is_turn()), ice.is_empty()) {
            (true, _) => Some(" typ relay"),
            (false, false) => Some(" typ srflx"),
            (false, true) => None,
        }
    };
    let start = now();
    while pc.ice_gathering_state() != RtcIceGatheringState::Complete && now() - start < GATHER_MS {
        let has = |kind: &str| {
            pc.local_description()
                .is_some_and(|d| d.sdp().contains(kind))
        };
        if enough.is_some_and(has) {
            break;
        }
        sleep(5).await;
    }
    pc.local_description()
        .map(|d| d.sdp())
        .ok_or_else(|| js_err("no local description"))
}

fn send_signal(inner: &Shared, to: RingId, kind: SignalKind, session: u64, sdp: String) {
    let inner = inner.clone();
    crypto::gate(move || send_signal_now(&inner, to, kind, session, &sdp));
}

/// Signs and sends; `false` (nothing done) while WebCrypto owes the signature.
fn send_signal_now(inner: &Shared, to: RingId, kind: SignalKind, session: u64, sdp: &str) -> bool {
    {
        let mut guard = inner.borrow_mut();
        let me = &mut *guard;
        let signal = Signal::sign(kind, session, to, sdp.into(), me.cert.clone(), &me.key);
        if crypto::owed() {
            return false;
        }
        let Some(l) = me.rtc.get_mut(&to).filter(|l| l.session == session) else {
            return true;
        };
        l.local_sdp = Some(sdp.into());
        let t = now();
        me.node.signal(t, to, signal.encode());
    }
    pump(inner);
    true
}

/// A signaling payload routed to this peer.
pub(crate) fn handle_signal(inner: &Shared, from: RingId, bytes: Vec<u8>) {
    let inner = inner.clone();
    crypto::gate(move || {
        let verdict = {
            let me = inner.borrow();
            Signal::decode(&bytes).map(|s| {
                let ok = s.verify(from, me.me, &me.trusted, now()).is_ok();
                (s, ok)
            })
        };
        match verdict {
            Ok((signal, true)) => on_signal(&inner, from, signal),
            // Forged, misrouted or garbage: ignored, once WebCrypto has said so.
            _ => return !crypto::owed(),
        }
        true
    });
}

/// A signal that verified: an offer to answer, or the answer to our offer.
fn on_signal(inner: &Shared, from: RingId, signal: Signal) {
    match signal.kind {
        SignalKind::Offer => answer(inner, from, signal),
        SignalKind::Answer => {
            let pc = {
                let mut me = inner.borrow_mut();
                let Some(l) = me.rtc.get_mut(&from) else {
                    return;
                };
                if !l.offerer || l.session != signal.session || l.remote_sdp.is_some() {
                    return;
                }
                l.remote_sdp = Some(signal.sdp.clone());
                l.pc.clone()
            };
            let desc = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
            desc.set_sdp(&signal.sdp);
            let inner = inner.clone();
            task::spawn(async move {
                if wait(pc.set_remote_description(&desc)).await.is_err() {
                    drop_link(&inner, from, signal.session);
                }
            });
        }
    }
}

fn answer(inner: &Shared, from: RingId, offer: Signal) {
    {
        // An open link stands, and on glare the larger id's offer
        // (icn-core's carriers).
        let mut guard = inner.borrow_mut();
        let me = &mut *guard;
        if !me.carriers.handle_offer(now(), me.me, from) {
            return;
        }
    }
    let Ok(pc) = new_pc(inner) else {
        if let Some(old) = inner.borrow_mut().rtc.remove(&from) {
            old.close();
        }
        return link_closed(inner, from);
    };
    let session = offer.session;
    insert_link(inner, from, pc.clone(), None, session, false);
    if let Some(l) = inner.borrow_mut().rtc.get_mut(&from) {
        l.remote_sdp = Some(offer.sdp.clone());
    }
    let weak = std::rc::Rc::downgrade(inner);
    let on_channel = Handler::new(move |e: JsValue| {
        let dc = e.unchecked_into::<RtcDataChannelEvent>().channel();
        if let Some(inner) = weak.upgrade() {
            let ok = match inner.borrow_mut().rtc.get_mut(&from) {
                Some(l) if l.session == session && l.dc.is_none() => {
                    l.dc = Some(dc.clone());
                    true
                }
                _ => false,
            };
            if ok {
                attach_channel(&inner, from, session, &dc);
                if dc.ready_state() == RtcDataChannelState::Open {
                    on_open(&inner, from, session);
                }
            } else {
                dc.close();
            }
        }
    });
    pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
    if let Some(l) = inner.borrow_mut().rtc.get_mut(&from) {
        l.handlers.push(on_channel);
    }
    let inner = inner.clone();
    task::spawn(async move {
        let r = async {
            let desc = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
            desc.set_sdp(&offer.sdp);
            wait(pc.set_remote_description(&desc)).await?;
            let ans = wait(pc.create_answer()).await?;
            wait(pc.set_local_description(ans.unchecked_ref())).await?;
            let sdp = gathered_sdp(&inner, &pc).await?;
            send_signal(&inner, from, SignalKind::Answer, session, sdp);
            Ok::<(), JsValue>(())
        }
        .await;
        if r.is_err() {
            drop_link(&inner, from, session);
        }
    });
}

fn attach_channel(inner: &Shared, peer: RingId, session: u64, dc: &RtcDataChannel) {
    dc.set_binary_type(RtcDataChannelType::Arraybuffer);
    dc.set_buffered_amount_low_threshold(LOW_WATER);
    let w = std::rc::Rc::downgrade(inner);
    let on_open_h = Handler::new(move |_| {
        if let Some(inner) = w.upgrade() {
            on_open(&inner, peer, session);
        }
    });
    let w = std::rc::Rc::downgrade(inner);
    let on_message = Handler::new(move |e: JsValue| {
        let data = e.unchecked_into::<MessageEvent>().data();
        if let (Some(inner), Some(b)) = (w.upgrade(), message_bytes(&data)) {
            on_chunk(&inner, peer, session, &b);
        }
    });
    let w = std::rc::Rc::downgrade(inner);
    let on_close = Handler::new(move |_| {
        if let Some(inner) = w.upgrade() {
            drop_link(&inner, peer, session);
        }
    });
    let w = std::rc::Rc::downgrade(inner);
    let on_low = Handler::new(move |_| {
        if let Some(inner) = w.upgrade() {
            if let Some(l) = inner.borrow_mut().rtc.get_mut(&peer) {
                l.flush();
            }
        }
    });
    dc.set_onopen(Some(on_open_h.as_ref().unchecked_ref()));
    dc.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    dc.set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
    if let Some(l) = inner.borrow_mut().rtc.get_mut(&peer) {
        l.handlers.extend([on_open_h, on_message, on_close, on_low]);
    }
}

/// The channel opened: prove our key over the transcript.
fn on_open(inner: &Shared, peer: RingId, session: u64) {
    let inner = inner.clone();
    crypto::gate(move || on_open_now(&inner, peer, session));
}

/// `false` (nothing done) while WebCrypto owes the proof's signature.
fn on_open_now(inner: &Shared, peer: RingId, session: u64) -> bool {
    let opened = {
        let mut guard = inner.borrow_mut();
        let me = &mut *guard;
        let Some(l) = me.rtc.get_mut(&peer).filter(|l| l.session == session) else {
            return true;
        };
        if l.auth_sent {
            return true;
        }
        let Some(t) = l.transcript(me.me, peer) else {
            return true;
        };
        let auth = LinkAuth::sign(&t, me.cert.clone(), &me.key);
        if crypto::owed() {
            return false;
        }
        if let Some(dc) = &l.dc {
            let _ = dc.send_with_u8_array(&auth.to_chunk());
        }
        l.auth_sent = true;
        l.is_open()
    };
    if opened {
        classify(inner, peer, session);
        link_opened(inner, peer);
    }
    true
}

fn on_chunk(inner: &Shared, peer: RingId, session: u64, chunk: &[u8]) {
    enum Next {
        Nothing,
        Auth(Box<(LinkAuth, Transcript)>),
        Deliver(Vec<u8>),
        Drop,
    }
    let next = {
        let mut guard = inner.borrow_mut();
        let me = &mut *guard;
        let Some(l) = me.rtc.get_mut(&peer).filter(|l| l.session == session) else {
            return;
        };
        let authing = l.auth_seen;
        match l.reasm.push(chunk) {
            Ok(Incoming::Auth(auth)) if !authing => match l.transcript(me.me, peer) {
                Some(t) => {
                    l.auth_seen = true;
                    Next::Auth(Box::new((*auth, t)))
                }
                None => Next::Drop,
            },
            // Delivered in order after the proof before them is checked.
            Ok(Incoming::Message(m)) if authing => Next::Deliver(m),
            Ok(Incoming::Partial) if authing => Next::Nothing,
            // Anything before authentication, a second auth, or garbage.
            _ => Next::Drop,
        }
    };
    let inner = inner.clone();
    match next {
        Next::Nothing => {}
        Next::Auth(b) => {
            let (auth, t) = *b;
            crypto::gate(move || on_auth(&inner, peer, session, &auth, &t));
        }
        Next::Deliver(m) => crypto::gate(move || {
            rehearse_receive(&m);
            if crypto::owed() {
                return false;
            }
            let open = inner
                .borrow()
                .rtc
                .get(&peer)
                .is_some_and(|l| l.session == session && l.is_open());
            if open {
                inner.borrow_mut().input(Input::Receive(now(), peer, &m));
                pump(&inner);
            }
            true
        }),
        Next::Drop => drop_link(&inner, peer, session),
    }
}

/// Checks the peer's proof: the link opens, or drops. `false` (nothing
/// done) while WebCrypto owes its verdict.
fn on_auth(inner: &Shared, peer: RingId, session: u64, auth: &LinkAuth, t: &Transcript) -> bool {
    let opened = {
        let mut guard = inner.borrow_mut();
        let me = &mut *guard;
        let ok = auth.verify(t, peer, &me.trusted, now()).is_ok();
        if !ok && crypto::owed() {
            return false;
        }
        let Some(l) = me.rtc.get_mut(&peer).filter(|l| l.session == session) else {
            return true;
        };
        l.peer_authed = ok;
        ok.then_some(l.is_open())
    };
    match opened {
        Some(true) => {
            classify(inner, peer, session);
            link_opened(inner, peer);
        }
        Some(false) => {}
        None => drop_link(inner, peer, session),
    }
    true
}

/// How often an open link's candidate pair is looked at again.
const CLASSIFY_MS: u64 = 5_000;

/// Looks again at which candidate pair each open link uses (how long a
/// link may take to open, and when ICE means it is dead, are the
/// carriers' business).
pub(crate) fn sweep(inner: &Shared) {
    let t = now();
    let due: Vec<(RingId, u64)> = inner
        .borrow()
        .rtc
        .iter()
        .filter(|(_, l)| l.is_open() && t.saturating_sub(l.classified) >= CLASSIFY_MS)
        .map(|(p, l)| (*p, l.session))
        .collect();
    for (p, s) in due {
        classify(inner, p, s);
    }
}
