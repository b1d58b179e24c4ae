//! The browser driver: one `Rc<RefCell<Inner>>` owns the node; WebSocket
//! messages, timer callbacks and API calls each borrow it, feed it one input
//! and then pump its outputs (frames to send, events that settle promises,
//! the next deadline, which arms a single `setTimeout`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use ed25519_dalek::{Signer, SigningKey};
use futures_channel::{mpsc, oneshot};
use icn_core::bootstrap::{join_message, Frame};
use icn_core::node::{Config, Event, Input, Node, Output, RequestError};
use icn_core::{ContentObject, Name, Payload, PublisherId, RingId, SignedObject};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsError, JsValue};
use web_sys::{BinaryType, MessageEvent, WebSocket};

enum Waiter {
    Put(oneshot::Sender<Result<(), RequestError>>),
    Get(oneshot::Sender<Result<SignedObject, RequestError>>),
}

struct Inner {
    node: Node,
    gw: RingId,
    ws: WebSocket,
    key: SigningKey,
    relayed: HashSet<RingId>,
    waiters: HashMap<u64, Waiter>,
    onmessage: Option<Function>,
    timer: Option<i32>,
    timer_cb: Option<Closure<dyn FnMut()>>,
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// A peer of the icn ring, running in this page.
#[wasm_bindgen]
pub struct Peer {
    inner: Rc<RefCell<Inner>>,
    id: RingId,
    publisher: String,
}

fn random_key() -> Result<SigningKey, JsValue> {
    let mut seed = [0u8; 32];
    let crypto = web_sys::window()
        .ok_or_else(|| js_err("no window"))?
        .crypto()?;
    crypto.get_random_values_with_u8_array(&mut seed)?;
    Ok(SigningKey::from_bytes(&seed))
}

fn pump(inner: &Rc<RefCell<Inner>>) {
    let mut events = Vec::new();
    let deadline = {
        let mut guard = inner.borrow_mut();
        let me = &mut *guard;
        loop {
            match me.node.poll_output() {
                Output::Transmit(t) => {
                    let frame = if t.to == me.gw {
                        Frame::Ring(t.bytes)
                    } else {
                        Frame::Relay {
                            peer: t.to,
                            bytes: t.bytes,
                        }
                    };
                    let _ = me.ws.send_with_u8_array(&frame.encode());
                }
                Output::Event(Event::Dial(p)) => {
                    if p != me.gw {
                        me.relayed.insert(p);
                    }
                    let _ = me.node.handle_input(Input::LinkUp(now(), p));
                }
                Output::Event(Event::Hangup(p)) => {
                    me.relayed.remove(&p);
                }
                Output::Event(e) => events.push(e),
                Output::Timeout(at) => break at,
            }
        }
    };
    for e in events {
        settle(inner, e);
    }
    arm_timer(inner, deadline);
}

fn settle(inner: &Rc<RefCell<Inner>>, e: Event) {
    let mut me = inner.borrow_mut();
    match e {
        Event::GetDone { req, result, .. } => {
            if let Some(Waiter::Get(tx)) = me.waiters.remove(&req) {
                let _ = tx.send(result);
            }
        }
        Event::PublishDone { req, result, .. } => {
            if let Some(Waiter::Put(tx)) = me.waiters.remove(&req) {
                let _ = tx.send(result);
            }
        }
        Event::Message { from, bytes } => {
            if let Some(f) = me.onmessage.clone() {
                drop(me);
                let _ = f.call2(
                    &JsValue::NULL,
                    &from.to_hex().into(),
                    &Uint8Array::from(&bytes[..]),
                );
            }
        }
        _ => {}
    }
}

fn arm_timer(inner: &Rc<RefCell<Inner>>, at: u64) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let mut me = inner.borrow_mut();
    if let Some(t) = me.timer.take() {
        window.clear_timeout_with_handle(t);
    }
    let delay = at.saturating_sub(now()).min(60_000) as i32;
    let weak = Rc::downgrade(inner);
    let cb = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade() {
            inner.borrow_mut().timer = None;
            let _ = inner.borrow_mut().node.handle_input(Input::Timeout(now()));
            pump(&inner);
        }
    });
    me.timer = window
        .set_timeout_with_callback_and_timeout_and_arguments_0(cb.as_ref().unchecked_ref(), delay)
        .ok();
    me.timer_cb = Some(cb);
}

fn on_frame(inner: &Rc<RefCell<Inner>>, bytes: &[u8]) {
    let t = now();
    {
        let mut me = inner.borrow_mut();
        let gw = me.gw;
        match Frame::decode(bytes) {
            Ok(Frame::Ring(b)) => {
                let _ = me.node.handle_input(Input::Receive(t, gw, &b));
            }
            Ok(Frame::Relay { peer, bytes }) => {
                if me.relayed.insert(peer) {
                    let _ = me.node.handle_input(Input::LinkUp(t, peer));
                }
                let _ = me.node.handle_input(Input::Receive(t, peer, &bytes));
            }
            Ok(Frame::NoRoute { peer }) => {
                me.relayed.remove(&peer);
                let _ = me.node.handle_input(Input::LinkDown(t, peer));
            }
            _ => {}
        }
    }
    pump(inner);
}

fn message_bytes(e: &MessageEvent) -> Option<Vec<u8>> {
    e.data()
        .dyn_into::<js_sys::ArrayBuffer>()
        .ok()
        .map(|b| Uint8Array::new(&b).to_vec())
}

#[wasm_bindgen]
impl Peer {
    /// Joins the ring through the gateway at `url` (`ws://host/ws`). `options`
    /// may hold `secretKey`, a 32-byte `Uint8Array` seed of the node key.
    pub async fn join(url: String, options: JsValue) -> Result<Peer, JsValue> {
        let key = match Reflect::get(&options, &"secretKey".into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
        {
            Some(v) => {
                let seed: [u8; 32] = Uint8Array::new(&v)
                    .to_vec()
                    .try_into()
                    .map_err(|_| js_err("secretKey must be 32 bytes"))?;
                SigningKey::from_bytes(&seed)
            }
            None => random_key()?,
        };
        let ws = WebSocket::new(&url)?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        // Until the handshake is over, frames go to this channel.
        let (tx, mut rx) = mpsc::unbounded::<Vec<u8>>();
        let early = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(b) = message_bytes(&e) {
                let _ = tx.unbounded_send(b);
            }
        });
        ws.set_onmessage(Some(early.as_ref().unchecked_ref()));
        let Frame::Challenge {
            nonce,
            gateway_key,
            gateway_id,
        } = next_frame(&mut rx).await?
        else {
            return Err(js_err("expected a challenge from the gateway"));
        };
        let my_key = key.verifying_key().to_bytes();
        let signature = key.sign(&join_message(&nonce, &my_key)).to_bytes();
        ws.send_with_u8_array(
            &Frame::Hello {
                key: my_key,
                signature,
            }
            .encode(),
        )?;
        let cert = match next_frame(&mut rx).await? {
            Frame::Welcome(c) => c,
            Frame::Error { code } => {
                return Err(js_err(format!("the gateway refused to admit us: {code}")))
            }
            _ => return Err(js_err("expected a welcome from the gateway")),
        };
        cert.verify(now()).map_err(js_err)?;
        if cert.gateway_key != gateway_key || cert.node_key != my_key {
            return Err(js_err("the certificate is not for this gateway and key"));
        }
        let id = cert.node_id;
        let cfg = Config {
            seed: id.prefix_u64() ^ now(),
            ..Config::default()
        };
        let inner = Rc::new(RefCell::new(Inner {
            node: Node::new(id, cfg),
            gw: gateway_id,
            ws: ws.clone(),
            key,
            relayed: HashSet::new(),
            waiters: HashMap::new(),
            onmessage: None,
            timer: None,
            timer_cb: None,
        }));
        let weak = Rc::downgrade(&inner);
        let steady = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let (Some(inner), Some(b)) = (weak.upgrade(), message_bytes(&e)) {
                on_frame(&inner, &b);
            }
        });
        ws.set_onmessage(Some(steady.as_ref().unchecked_ref()));
        steady.forget();
        drop(early);
        {
            let mut me = inner.borrow_mut();
            let t = now();
            let _ = me.node.handle_input(Input::LinkUp(t, gateway_id));
            me.node.join(t, gateway_id);
        }
        pump(&inner);
        let publisher = PublisherId::from_key(inner.borrow().key.verifying_key()).to_text();
        Ok(Peer {
            inner,
            id,
            publisher,
        })
    }

    /// Hex ring position assigned by the gateway.
    #[wasm_bindgen(getter, js_name = nodeId)]
    pub fn node_id(&self) -> String {
        self.id.to_hex()
    }

    /// `k…` id of this peer's signing key.
    #[wasm_bindgen(getter, js_name = publisherId)]
    pub fn publisher_id(&self) -> String {
        self.publisher.clone()
    }

    /// Signs `bytes` under `/<publisherId><path>` and stores it in the ring;
    /// resolves to the full name. `options.contentType` defaults to
    /// `application/octet-stream`.
    pub fn publish(&self, path: String, bytes: Uint8Array, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        let publisher = self.publisher.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let rel = Name::parse(&path).map_err(|e| js_err(format!("bad name {path:?}: {e}")))?;
            let name = if rel.components()[0] == publisher.as_bytes() {
                rel
            } else {
                rel.prefixed(publisher.as_bytes()).map_err(js_err)?
            };
            let content_type = Reflect::get(&options, &"contentType".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_else(|| "application/octet-stream".into());
            let obj = ContentObject {
                name: name.clone(),
                version: now(),
                content_type,
                created: now(),
                freshness: None,
                payload: Payload::Inline(bytes.to_vec()),
            };
            let signed = SignedObject::sign(obj, &inner.borrow().key).map_err(js_err)?;
            let (tx, rx) = oneshot::channel();
            {
                let mut me = inner.borrow_mut();
                let req = me.node.publish(now(), signed);
                me.waiters.insert(req, Waiter::Put(tx));
            }
            pump(&inner);
            rx.await
                .map_err(|_| js_err("the peer stopped"))?
                .map_err(js_err)?;
            Ok(JsValue::from(name.to_uri()))
        })
    }

    /// Fetches and verifies the newest object under `name`; resolves to
    /// `{ name, version, contentType, publisherId, content }`.
    pub fn get(&self, name: String) -> Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let n = Name::parse(&name).map_err(|e| js_err(format!("bad name {name:?}: {e}")))?;
            let (tx, rx) = oneshot::channel();
            {
                let mut me = inner.borrow_mut();
                let req = me.node.get(now(), &n);
                me.waiters.insert(req, Waiter::Get(tx));
            }
            pump(&inner);
            let obj = rx
                .await
                .map_err(|_| js_err("the peer stopped"))?
                .map_err(js_err)?;
            let out = Object::new();
            let o = obj.object();
            let content = match &o.payload {
                Payload::Inline(b) => Uint8Array::from(&b[..]),
                Payload::Manifest(_) => {
                    return Err(js_err(
                        "large objects (blocks) are not supported in the browser yet",
                    ))
                }
            };
            Reflect::set(&out, &"name".into(), &o.name.to_uri().into())?;
            Reflect::set(&out, &"version".into(), &(o.version as f64).into())?;
            Reflect::set(&out, &"contentType".into(), &o.content_type.clone().into())?;
            Reflect::set(
                &out,
                &"publisherId".into(),
                &obj.publisher().to_text().into(),
            )?;
            Reflect::set(&out, &"content".into(), &content)?;
            Ok(out.into())
        })
    }

    /// Routes `bytes` to the node `node_id` (hex) through the ring.
    pub fn send(&self, node_id: String, bytes: Uint8Array) -> Result<(), JsValue> {
        let to: RingId = node_id.parse().map_err(js_err)?;
        self.inner
            .borrow_mut()
            .node
            .send_message(now(), to, bytes.to_vec());
        pump(&self.inner);
        Ok(())
    }

    /// Called as `onmessage(fromNodeId, bytes)` for messages routed to this peer.
    #[wasm_bindgen(setter)]
    pub fn set_onmessage(&self, f: Function) {
        self.inner.borrow_mut().onmessage = Some(f);
    }

    /// The open links: `[{ nodeId, transport }]`, transport `"websocket"` for
    /// the gateway and `"relay"` for peers reached through it.
    pub fn links(&self) -> Array {
        let me = self.inner.borrow();
        let out = Array::new();
        for id in me.node.ring_view().links {
            let o = Object::new();
            let transport = if id == me.gw { "websocket" } else { "relay" };
            let _ = Reflect::set(&o, &"nodeId".into(), &id.to_hex().into());
            let _ = Reflect::set(&o, &"transport".into(), &transport.into());
            out.push(&o);
        }
        out
    }

    /// Leaves gracefully: hands keys over, then closes the connection.
    pub fn leave(&self) {
        self.inner.borrow_mut().node.leave(now());
        pump(&self.inner);
        let _ = self.inner.borrow().ws.close();
    }
}

/// The next handshake frame from the gateway.
async fn next_frame(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> Result<Frame, JsValue> {
    let bytes = futures_next(rx)
        .await
        .ok_or_else(|| js_err("the gateway closed the connection"))?;
    Frame::decode(&bytes).map_err(js_err)
}

/// The next item of a channel, without pulling in a futures utility crate.
fn futures_next(
    rx: &mut mpsc::UnboundedReceiver<Vec<u8>>,
) -> impl std::future::Future<Output = Option<Vec<u8>>> + '_ {
    std::future::poll_fn(move |cx| {
        use std::pin::Pin;
        futures_core_poll(Pin::new(&mut *rx), cx)
    })
}

fn futures_core_poll(
    rx: std::pin::Pin<&mut mpsc::UnboundedReceiver<Vec<u8>>>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Option<Vec<u8>>> {
    use futures_channel::mpsc::UnboundedReceiver;
    <UnboundedReceiver<Vec<u8>> as futures_core::Stream>::poll_next(rx, cx)
}
