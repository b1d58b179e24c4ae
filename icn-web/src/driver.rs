//! The browser driver: one `Rc<RefCell<Inner>>` owns the node; WebSocket and
//! DataChannel messages, timer callbacks and API calls each borrow it, feed it
//! one input and then [`pump`] its outputs (messages to send, events that
//! settle promises, the next deadline, which arms a single `setTimeout`).
//!
//! Transports are this driver's business, not the node's, and icn-core's
//! [`Carriers`] decides them as for native peers: a message for a peer goes
//! over its authenticated DataChannel when one is open ([`crate::rtc`]),
//! over the WebSocket when it is for the gateway, and otherwise through the
//! gateway's relay while the gateway is there. The node sees one link per
//! peer, whatever carries it; this file carries out the carriers' actions.

use icn_core::vecmap::VecMap;
use std::cell::RefCell;
use std::rc::Rc;

use icn_core::bootstrap::{Frame, NodeCert};
use icn_core::link::carriers::{Action, Carriers, Via};
use icn_core::node::{Event, Input, Node, Output, ReqId};
use icn_core::sig::SigningKey;
use icn_core::wire::{ItemBytes, Message};
use icn_core::{RingId, SignedObject};
use js_sys::{Function, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsError, JsValue};
use web_sys::{MessageEvent, WebSocket};

use crate::crypto;
use crate::gateway::Admitted;
use crate::rtc::{self, RtcLink};
use crate::task;

pub(crate) type Shared = Rc<RefCell<Inner>>;

/// Where a finished request reports: its index in a batch and a channel.
pub(crate) struct Waiter {
    pub(crate) tag: usize,
    pub(crate) tx: task::Sender<(usize, Event)>,
}

pub(crate) struct Inner {
    pub(crate) node: Node,
    pub(crate) me: RingId,
    pub(crate) gw: RingId,
    /// The gateway connection, `None` once it closed.
    pub(crate) ws: Option<WebSocket>,
    pub(crate) key: SigningKey,
    pub(crate) cert: NodeCert,
    /// Gateway keys whose node certificates this peer accepts.
    pub(crate) trusted: Vec<[u8; 32]>,
    /// What carries each link (icn-core's link policy).
    pub(crate) carriers: Carriers,
    /// WebRTC links, negotiating or open.
    pub(crate) rtc: VecMap<RingId, RtcLink>,
    pub(crate) waiters: VecMap<ReqId, Waiter>,
    pub(crate) onmessage: Option<Function>,
    timer: Option<i32>,
    timer_cb: Option<Closure<dyn FnMut()>>,
    ws_handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    /// Gateway URLs of this ring, the one joined through first.
    pub(crate) gateways: Vec<String>,
    /// The one to join again through when stranded.
    pub(crate) next_gateway: usize,
    /// A [`crate::gateway::watch`] is running.
    pub(crate) watching: bool,
    /// `leave()` was called: never join again.
    pub(crate) left: bool,
    /// The STUN and TURN servers new peer connections gather with.
    pub(crate) ice: Vec<icn_core::ice::IceServer>,
    /// `ice` was given to `Peer.join`: the gateway's list does not replace it.
    ice_fixed: bool,
}

pub(crate) fn now() -> u64 {
    js_sys::Date::now() as u64
}

pub(crate) fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

impl Inner {
    /// The driver state of a peer admitted by `a`, `gateways[at]`.
    pub(crate) fn new(
        node: Node,
        key: SigningKey,
        a: &Admitted,
        gateways: Vec<String>,
        at: usize,
        ice: Option<Vec<icn_core::ice::IceServer>>,
    ) -> Self {
        let mut carriers = Carriers::new();
        carriers.handle_upstream_up(a.gateway_id);
        Inner {
            me: node.id(),
            node,
            gw: a.gateway_id,
            ws: Some(a.ws.clone()),
            trusted: vec![a.cert.gateway_key],
            key,
            cert: a.cert.clone(),
            carriers,
            rtc: VecMap::new(),
            waiters: VecMap::new(),
            onmessage: None,
            timer: None,
            timer_cb: None,
            ws_handlers: Vec::new(),
            next_gateway: at + 1,
            gateways,
            watching: false,
            left: false,
            ice_fixed: ice.is_some(),
            ice: ice.unwrap_or_default(),
        }
    }

    /// Sends one ring message to `to` over the carrier the policy picks.
    fn transmit(&mut self, to: RingId, bytes: Vec<u8>) {
        let frame = match self.carriers.carry(to, bytes) {
            Some((Via::Channel, bytes)) => {
                if let Some(link) = self.rtc.get_mut(&to) {
                    link.send(&bytes);
                }
                return;
            }
            Some((Via::Upstream, bytes)) => Frame::Ring(bytes),
            Some((Via::Relay, bytes)) => Frame::Relay { peer: to, bytes },
            // A browser has no clients; otherwise held for a DataChannel or
            // without a carrier (the node notices by its timeouts).
            Some((Via::Client, _)) | None => return,
        };
        if let Some(ws) = &self.ws {
            let _ = ws.send_with_u8_array(&frame.encode());
        }
    }

    pub(crate) fn input(&mut self, input: Input<'_>) {
        // A refused input leaves the node as it was; a peer sending garbage
        // gains nothing by it.
        let _ = self.node.handle_input(input);
    }
}

/// Drains the node's outputs, then acts on its events outside the borrow.
pub(crate) fn pump(inner: &Shared) {
    let mut events = Vec::new();
    let deadline = {
        let mut me = inner.borrow_mut();
        loop {
            match me.node.poll_output() {
                Output::Transmit(t) => me.transmit(t.to, t.bytes),
                Output::Event(e) => events.push(e),
                Output::Timeout(at) => break at,
            }
        }
    };
    let more = !events.is_empty();
    for e in events {
        handle_event(inner, e);
    }
    if more {
        // Handling events may have fed the node more input.
        pump(inner);
    } else {
        arm_timer(inner, deadline);
    }
}

/// Carries out the carriers' actions (outside any borrow while a
/// DataChannel is offered).
pub(crate) fn act(inner: &Shared) {
    loop {
        let Some(a) = inner.borrow_mut().carriers.poll_action() else {
            return;
        };
        match a {
            Action::Offer(p) => {
                if !rtc::start_offer(inner, p) {
                    inner.borrow_mut().carriers.handle_channel_closed(now(), p);
                }
            }
            Action::Close(p) => {
                if let Some(l) = inner.borrow_mut().rtc.remove(&p) {
                    l.close();
                }
            }
            Action::Send(p, m) => {
                if let Some(l) = inner.borrow_mut().rtc.get_mut(&p) {
                    l.send(&m);
                }
            }
            link => {
                if let Some(i) = link.input(now()) {
                    inner.borrow_mut().input(i);
                }
            }
        }
    }
}

fn handle_event(inner: &Shared, e: Event) {
    match e {
        Event::Dial(p) => {
            inner.borrow_mut().carriers.handle_dial(now(), p);
            act(inner);
        }
        Event::Hangup(p) => {
            inner.borrow_mut().carriers.handle_hangup(p);
            act(inner);
        }
        Event::Signal { from, bytes } => rtc::handle_signal(inner, from, bytes),
        Event::Message { from, bytes } => {
            let f = inner.borrow().onmessage.clone();
            if let Some(f) = f {
                let _ = f.call2(
                    &JsValue::NULL,
                    &from.to_hex().into(),
                    &Uint8Array::from(&bytes[..]),
                );
            }
        }
        Event::GetDone { req, .. }
        | Event::BlockDone { req, .. }
        | Event::PublishDone { req, .. }
        | Event::SendFailed { req, .. } => {
            if let Some(w) = inner.borrow_mut().waiters.remove(&req) {
                w.tx.send((w.tag, e));
            }
        }
        Event::Joined => {}
    }
}

/// A DataChannel to `p` has opened and both ends proved their keys.
pub(crate) fn link_opened(inner: &Shared, p: RingId) {
    inner.borrow_mut().carriers.handle_channel_opened(p);
    act(inner);
    pump(inner);
}

/// The DataChannel to `p` closed, or failed to open (the node may be
/// waiting on it).
pub(crate) fn link_closed(inner: &Shared, p: RingId) {
    inner.borrow_mut().carriers.handle_channel_closed(now(), p);
    act(inner);
    pump(inner);
}

fn arm_timer(inner: &Shared, at: u64) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let mut me = inner.borrow_mut();
    if let Some(t) = me.timer.take() {
        window.clear_timeout_with_handle(t);
    }
    let at = me.carriers.poll_timeout().map_or(at, |c| c.min(at));
    let delay = at.saturating_sub(now()).min(60_000) as i32;
    let weak = Rc::downgrade(inner);
    let cb = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade() {
            {
                let mut me = inner.borrow_mut();
                me.timer = None;
                me.input(Input::Timeout(now()));
                me.carriers.handle_timeout(now());
            }
            act(&inner);
            rtc::sweep(&inner);
            pump(&inner);
        }
    });
    me.timer = window
        .set_timeout_with_callback_and_timeout_and_arguments_0(cb.as_ref().unchecked_ref(), delay)
        .ok();
    me.timer_cb = Some(cb);
}

/// Decodes and verifies the objects a ring message carries, for nothing but
/// the signatures they need: the node's own checks then find WebCrypto's
/// answers ([`crypto::gate`]).
pub(crate) fn rehearse_receive(bytes: &[u8]) {
    if let Ok(m) = Message::decode(bytes) {
        for item in m.items() {
            if let ItemBytes::Object(o) = item {
                let _ = SignedObject::decode(o);
            }
        }
    }
}

/// A frame from the gateway, handled once the objects it carries are checked.
pub(crate) fn on_frame(inner: &Shared, bytes: &[u8]) {
    let Ok(frame) = Frame::decode(bytes) else {
        return; // garbage from the gateway: ignored
    };
    let inner = inner.clone();
    crypto::gate(move || {
        if let Frame::Ring(b) | Frame::Relay { bytes: b, .. } = &frame {
            rehearse_receive(b);
            if crypto::owed() {
                return false;
            }
        }
        on_frame_now(&inner, &frame);
        true
    });
}

fn on_frame_now(inner: &Shared, frame: &Frame) {
    {
        let mut me = inner.borrow_mut();
        let (t, gw) = (now(), me.gw);
        match frame {
            Frame::Ring(b) => me.input(Input::Receive(t, gw, b)),
            Frame::Relay { peer, bytes } => {
                me.carriers.handle_relayed(*peer);
                drop(me);
                act(inner);
                inner.borrow_mut().input(Input::Receive(t, *peer, bytes));
                return pump(inner);
            }
            Frame::NoRoute { peer } => me.carriers.handle_no_route(*peer),
            Frame::Trust { keys } => {
                me.trusted = icn_core::bootstrap::trusted_keys(me.cert.gateway_key, keys);
            }
            Frame::IceServers { servers } if !me.ice_fixed => me.ice = servers.clone(),
            _ => {}
        }
    }
    act(inner);
    pump(inner);
}

/// The gateway is gone: its node is down, and the links it relayed are
/// lost, not their peers (the node dials those it needs again, over
/// DataChannels); links on DataChannels carry on.
fn on_gateway_closed(inner: &Shared) {
    {
        let mut me = inner.borrow_mut();
        if me.ws.take().is_none() {
            return;
        }
        me.carriers.handle_upstream_gone();
    }
    act(inner);
    pump(inner);
    crate::gateway::watch(inner);
}

pub(crate) fn message_bytes(data: &JsValue) -> Option<Vec<u8>> {
    data.dyn_ref::<js_sys::ArrayBuffer>()
        .map(|b| Uint8Array::new(b).to_vec())
}

/// Hands the gateway's WebSocket, past its handshake, to the driver.
pub(crate) fn attach_gateway(inner: &Shared, ws: &WebSocket) {
    let weak = Rc::downgrade(inner);
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let data = e.unchecked_into::<MessageEvent>().data();
        if let (Some(inner), Some(b)) = (weak.upgrade(), message_bytes(&data)) {
            on_frame(&inner, &b);
        }
    });
    let weak = Rc::downgrade(inner);
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Some(inner) = weak.upgrade() {
            on_gateway_closed(&inner);
        }
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    let mut me = inner.borrow_mut();
    me.ws_handlers.push(on_message);
    me.ws_handlers.push(on_close);
}

/// Starts `n` requests, at most `window` at a time, and returns their
/// completion events in order. `start(node, now, i)` starts request `i`.
/// (`start` is a trait object so that the four callers share one copy of
/// this state machine.)
pub(crate) async fn requests(
    inner: &Shared,
    n: usize,
    window: usize,
    start: &mut dyn FnMut(&mut Node, u64, usize) -> ReqId,
) -> Result<Vec<Event>, JsValue> {
    let (tx, mut rx) = task::channel();
    let mut out: Vec<Option<Event>> = (0..n).map(|_| None).collect();
    let (mut started, mut done) = (0, 0);
    while done < n {
        while started < n && started - done < window {
            let mut me = inner.borrow_mut();
            let req = start(&mut me.node, now(), started);
            me.waiters.insert(
                req,
                Waiter {
                    tag: started,
                    tx: tx.clone(),
                },
            );
            started += 1;
        }
        pump(inner);
        let (i, e) = rx.recv().await;
        out[i] = Some(e);
        done += 1;
    }
    Ok(out.into_iter().flatten().collect())
}
