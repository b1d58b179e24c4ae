//! The JavaScript API: `Peer.join`, `publish`, `get`, `send`, `links`, `leave`.

use std::cell::RefCell;
use std::rc::Rc;

use icn_core::block::{chunk, DEFAULT_BLOCK_SIZE};
use icn_core::hash::Hash;
use icn_core::ice::IceServer;
use icn_core::link::carriers::Via;
use icn_core::node::{Config, Event, Item, Node, RequestError, Store};
use icn_core::{ContentObject, Name, NameError, Payload, PublisherId, RingId, SignedObject};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::crypto;
use crate::driver::{act, js_err, now, pump, requests, Inner, Shared};
use crate::gateway::{handshake, start};
use crate::task::{self, sleep};

/// Requests in flight at once when moving the blocks of one object.
const BLOCK_WINDOW: usize = 8;

/// Gateway URLs a peer takes from `options.gateways`.
const MAX_GATEWAYS: usize = 16;

/// A peer of the icn ring, running in this page.
#[wasm_bindgen]
pub struct Peer {
    inner: Shared,
    id: RingId,
    publisher: String,
}

fn option(options: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(options, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `iceServers` as `RTCConfiguration` has it: `[{ urls, username?,
/// credential? }]`, `urls` a string or an array of them; checked here so a
/// bad entry fails the join, not every link later.
fn ice_servers(v: JsValue) -> Result<Vec<IceServer>, JsValue> {
    let bad = |why: &str| js_err(format!("iceServers: {why}"));
    let list: Array = v.dyn_into().map_err(|_| bad("must be an array"))?;
    // The shapes are JavaScript's business; the limits and URLs are the
    // core's, as for a list the gateway sends. (Cut first so that a huge
    // array costs nothing: one over the limit fails the check anyway.)
    let text = |o: &JsValue, k: &str| match option(o, k) {
        None => Ok(String::new()),
        Some(v) => v
            .as_string()
            .ok_or_else(|| bad(&format!("{k} must be a string"))),
    };
    let mut out = Vec::new();
    for s in list.iter().take(icn_core::ice::MAX_ICE_SERVERS + 1) {
        let urls = match option(&s, "urls") {
            Some(u) if u.is_string() => Array::of1(&u),
            Some(u) => u
                .dyn_into()
                .map_err(|_| bad("urls must be a string or an array"))?,
            None => Array::new(),
        };
        let urls = urls
            .iter()
            .take(icn_core::ice::MAX_ICE_URLS + 1)
            .map(|u| u.as_string().ok_or_else(|| bad("a url is not a string")))
            .collect::<Result<Vec<_>, JsValue>>()?;
        out.push(IceServer {
            urls,
            username: text(&s, "username")?,
            credential: text(&s, "credential")?,
        });
    }
    icn_core::ice::check_list(&out).map_err(|e| bad(&e.to_string()))?;
    Ok(out)
}

fn request_message(e: RequestError) -> String {
    match e {
        RequestError::Invalid => {
            "verification failed: a peer served an object or block that does not verify".into()
        }
        e => e.to_string(),
    }
}

fn request_error(e: RequestError) -> JsValue {
    js_err(request_message(e))
}

/// The error for a name the API cannot take.
fn bad_name(name: &str, e: NameError) -> JsValue {
    js_err(format!("bad name '{name}': {e}"))
}

#[wasm_bindgen]
impl Peer {
    /// Joins the ring through the gateway at `url` (`ws://host/ws`). `options`
    /// may hold `secretKey`, a 32-byte `Uint8Array` seed of the node key, and
    /// `gateways`, WebSocket URLs of more gateways of the same ring: tried in
    /// turn if `url` does not answer, and joined again through (keeping the
    /// ring position) should this peer be stranded later, its gateway gone
    /// and no DataChannel left; and `iceServers`, as `RTCConfiguration`
    /// has it, used instead of the STUN and TURN servers the gateway offers.
    #[wasm_bindgen(unchecked_return_type = "Promise<Peer>")]
    pub fn join(url: String, options: JsValue) -> Promise {
        task::promise(async move { Peer::join_with(url, options).await.map(JsValue::from) })
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

    /// Whether this peer is a member of the ring (it has a successor).
    #[wasm_bindgen(getter)]
    pub fn joined(&self) -> bool {
        self.inner.borrow().node.is_joined()
    }

    /// Signs `bytes` under `/<publisherId><path>` and stores it in the ring;
    /// resolves to the full name. Content above 256 KiB is split into
    /// blocks, stored first. `options.contentType` defaults to
    /// `application/octet-stream`.
    pub fn publish(&self, path: String, bytes: Uint8Array, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        let publisher = self.publisher.clone();
        task::promise(async move {
            let name = Name::parse(&path)
                .and_then(|n| n.under_publisher(&publisher))
                .map_err(|e| bad_name(&path, e))?;
            let content_type = option(&options, "contentType")
                .and_then(|v| v.as_string())
                .unwrap_or_else(|| "application/octet-stream".into());
            let data = bytes.to_vec();
            let payload = if data.len() <= DEFAULT_BLOCK_SIZE {
                Payload::Inline(data)
            } else {
                let (manifest, blocks) = chunk(&data, DEFAULT_BLOCK_SIZE).map_err(js_err)?;
                let done = requests(&inner, blocks.len(), BLOCK_WINDOW, &mut |node, t, i| {
                    node.put_block(t, blocks[i].clone())
                })
                .await?;
                for e in done {
                    if let Event::PublishDone { result: Err(e), .. } = e {
                        return Err(js_err(format!("storing a block failed: {e}")));
                    }
                }
                Payload::Manifest(manifest)
            };
            let t = now();
            let obj = ContentObject {
                name: name.clone(),
                version: t,
                content_type,
                created: t,
                freshness: None,
                payload,
            };
            let key = inner.borrow().key;
            let signed = crypto::checked(|| SignedObject::sign(obj.clone(), &key))
                .await
                .map_err(js_err)?;
            let done = requests(&inner, 1, 1, &mut |node, t, _| {
                node.publish(t, signed.clone())
            })
            .await?;
            if let Some(Event::PublishDone { result: Err(e), .. }) = done.into_iter().next() {
                return Err(request_error(e));
            }
            Ok(JsValue::from(name.to_uri()))
        })
    }

    /// Fetches and verifies the newest object under `name` (and its blocks);
    /// resolves to `{ name, version, contentType, publisherId, content }`.
    pub fn get(&self, name: String) -> Promise {
        let inner = self.inner.clone();
        task::promise(async move {
            let n = Name::parse_content(&name).map_err(|e| bad_name(&name, e))?;
            let done = requests(&inner, 1, 1, &mut |node, t, _| node.get(t, &n)).await?;
            let obj = match done.into_iter().next() {
                Some(Event::GetDone { result: Ok(o), .. }) => o,
                Some(Event::GetDone { result: Err(e), .. }) => return Err(request_error(e)),
                _ => return Err(js_err("the peer stopped")),
            };
            let o = obj.object();
            let content = match &o.payload {
                Payload::Inline(b) => Uint8Array::from(&b[..]),
                Payload::Manifest(m) => fetch_blocks(&inner, m).await?,
            };
            let out = Object::new();
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

    /// The open links: `[{ nodeId, transport }]`, transport `"webrtc"` for an
    /// authenticated DataChannel between the two peers' own addresses (host
    /// or server-reflexive), `"turn"` for one through a TURN relay,
    /// `"websocket"` for the gateway and `"relay"` for a peer reached
    /// through the gateway's relay.
    pub fn links(&self) -> Array {
        let me = self.inner.borrow();
        let out = Array::new();
        for id in me.node.ring_view().links {
            let transport = if id == me.gw {
                "websocket"
            } else if let Some(l) = me.rtc.get(&id).filter(|l| l.is_open()) {
                if l.via_turn {
                    "turn"
                } else {
                    "webrtc"
                }
            } else if me.carriers.via(&id) == Some(Via::Relay) {
                "relay"
            } else {
                continue;
            };
            let o = Object::new();
            let _ = Reflect::set(&o, &"nodeId".into(), &id.to_hex().into());
            let _ = Reflect::set(&o, &"transport".into(), &transport.into());
            out.push(&o);
        }
        out
    }

    /// This peer's view of the ring, for pictures and diagnostics:
    /// `{ id, predecessor, successors, fingers, lost }` as hex ids (`lost`:
    /// peers presumed dead that it still tries now and then), `items` held
    /// and `presumedDead` (peers it took for dead so far).
    pub fn ring(&self) -> Object {
        let v = self.inner.borrow().node.ring_view();
        let hexes =
            |ids: &[RingId]| -> Array { ids.iter().map(|i| JsValue::from(i.to_hex())).collect() };
        let o = Object::new();
        let _ = Reflect::set(&o, &"id".into(), &v.id.to_hex().into());
        let pred = v.predecessor.map_or(JsValue::NULL, |p| p.to_hex().into());
        let _ = Reflect::set(&o, &"predecessor".into(), &pred);
        let _ = Reflect::set(&o, &"successors".into(), &hexes(&v.successors));
        let _ = Reflect::set(&o, &"fingers".into(), &hexes(&v.fingers));
        let _ = Reflect::set(
            &o,
            &"items".into(),
            &(self.inner.borrow().node.store().len() as f64).into(),
        );
        let _ = Reflect::set(&o, &"lost".into(), &hexes(&v.lost));
        let dead = self.inner.borrow().node.stats().presumed_dead as f64;
        let _ = Reflect::set(&o, &"presumedDead".into(), &dead.into());
        o
    }

    /// Opens a DataChannel link to `node_id` (signaled through the ring) and
    /// resolves once it is authenticated; rejects after 15 s.
    pub fn connect(&self, node_id: String) -> Promise {
        let inner = self.inner.clone();
        task::promise(async move {
            let to: RingId = node_id.parse().map_err(js_err)?;
            // A dial like the ring's own (icn-core's carriers): the node
            // learns of the link, whatever carries it.
            let refused = {
                let mut me = inner.borrow_mut();
                let own = to == me.me || to == me.gw;
                if !own {
                    me.carriers.handle_dial(now(), to);
                }
                own
            };
            act(&inner);
            pump(&inner);
            if refused || !inner.borrow().rtc.contains_key(&to) {
                return Err(js_err("too many peer connections, or not a peer"));
            }
            let start = now();
            while now() - start < 15_000 {
                if inner.borrow().rtc.get(&to).is_some_and(|l| l.is_open()) {
                    return Ok(JsValue::UNDEFINED);
                }
                sleep(20).await;
            }
            Err(js_err("timed out setting up the DataChannel"))
        })
    }

    /// Closes the link to `node_id` (with a goodbye, so the peer does not
    /// take this one for dead). The ring dials it again if it needs it.
    pub fn disconnect(&self, node_id: String) -> Result<(), JsValue> {
        let to: RingId = node_id.parse().map_err(js_err)?;
        self.inner.borrow_mut().node.hang_up(now(), to);
        pump(&self.inner);
        Ok(())
    }

    /// Leaves gracefully: hands keys over to the neighbours, waits until the
    /// channels drained, then closes every link. Leaving again does nothing.
    pub fn leave(&self) -> Promise {
        let inner = self.inner.clone();
        task::promise(async move {
            {
                let mut me = inner.borrow_mut();
                // Once only: the key is forgotten below, and a second
                // forget would drop the key of another peer of this page
                // that joined with the same secret.
                if std::mem::replace(&mut me.left, true) {
                    return Ok(JsValue::UNDEFINED);
                }
                // Hang-ups leave the channels open until the goodbyes
                // went out (below).
                me.carriers.handle_leave();
                me.node.leave(now());
            }
            pump(&inner);
            sleep(300).await;
            let mut me = inner.borrow_mut();
            for (_, l) in me.rtc.drain() {
                l.close();
            }
            if let Some(ws) = me.ws.take() {
                let _ = ws.close();
            }
            crypto::forget(&me.key);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// For tests of the trust model: makes this peer serve a forged object.
    /// Finds a name under this peer's publisher id whose ring key this peer
    /// owns and stores `content` under it, unverified, with a made-up
    /// signature (well-formed, so only the signature check itself can catch
    /// it). Returns the name; an honest `get` of it must fail.
    #[wasm_bindgen(js_name = plantForgedObject)]
    pub fn plant_forged_object(&self, content: Uint8Array) -> Result<String, JsValue> {
        let mut me = self.inner.borrow_mut();
        for i in 0..100_000u32 {
            let name = Name::parse(&format!("/{}/forged/{i}", self.publisher)).map_err(js_err)?;
            if !me.node.is_responsible(name.ring_key()) {
                continue;
            }
            let obj = ContentObject {
                name: name.clone(),
                version: now(),
                content_type: "text/plain".into(),
                created: now(),
                freshness: None,
                payload: Payload::Inline(content.to_vec()),
            };
            // Not signed: the key's signature is not asked of WebCrypto, and
            // the 64 bytes at the end (the signature) are replaced by a hash
            // of the object, with S kept below the group order.
            let mut bytes = SignedObject::sign(obj, &me.key)
                .map_err(js_err)?
                .encoded()
                .to_vec();
            let fake = Hash::of(&bytes);
            let n = bytes.len();
            for i in 0..64 {
                bytes[n - 64 + i] = fake.0[i % 32] ^ i as u8;
            }
            bytes[n - 1] &= 0x0f;
            let forged = SignedObject::decode_unverified(&bytes).map_err(js_err)?;
            me.node.store_mut().put(Item::Object(forged));
            return Ok(name.to_uri());
        }
        Err(js_err("this peer owns no key range yet"))
    }
}

impl Peer {
    /// The work of [`Peer::join`].
    async fn join_with(url: String, options: JsValue) -> Result<Peer, JsValue> {
        let mut gateways = vec![url];
        if let Some(list) = option(&options, "gateways") {
            let list: Array = list
                .dyn_into()
                .map_err(|_| js_err("gateways must be an array of WebSocket URLs"))?;
            for u in list.iter().take(MAX_GATEWAYS) {
                let u = u
                    .as_string()
                    .ok_or_else(|| js_err("gateways must be an array of WebSocket URLs"))?;
                gateways.push(u);
            }
        }
        let ice = match option(&options, "iceServers") {
            Some(v) => Some(ice_servers(v)?),
            None => None,
        };
        // The key comes last before the handshake, so that a join no gateway
        // admits forgets it again (below) and no other error leaves it kept.
        let key = match option(&options, "secretKey") {
            Some(v) => {
                let seed: [u8; 32] = Uint8Array::new(&v)
                    .to_vec()
                    .try_into()
                    .map_err(|_| js_err("secretKey must be 32 bytes"))?;
                crypto::signing_key(Some(seed)).await?
            }
            None => crypto::signing_key(None).await?,
        };
        let mut admitted = Err(js_err("no gateway URL"));
        let mut at = 0;
        for (i, u) in gateways.iter().enumerate() {
            admitted = handshake(u, &key, None).await;
            if admitted.is_ok() {
                at = i;
                break;
            }
        }
        let admitted = match admitted {
            Ok(a) => a,
            Err(e) => {
                crypto::forget(&key);
                return Err(e);
            }
        };
        let id = admitted.cert.node_id;
        let cfg = Config {
            seed: id.prefix_u64() ^ now(),
            secret: crypto::random_secret()?,
            ..Config::default()
        };
        let publisher = PublisherId::from_key(key.verifying_key()).to_text();
        let inner = Rc::new(RefCell::new(Inner::new(
            Node::new(id, cfg),
            key,
            &admitted,
            gateways,
            at,
            ice,
        )));
        start(&inner, admitted);
        Ok(Peer {
            inner,
            id,
            publisher,
        })
    }
}

/// Fetches the blocks of `m`, each checked against the manifest, in order.
async fn fetch_blocks(inner: &Shared, m: &icn_core::Manifest) -> Result<Uint8Array, JsValue> {
    let refs = m.blocks().to_vec();
    let done = requests(inner, refs.len(), BLOCK_WINDOW, &mut |node, t, i| {
        node.get_block(t, refs[i].hash)
    })
    .await?;
    let out = Uint8Array::new_with_length(m.size() as u32);
    let mut offset = 0u32;
    for (i, e) in done.into_iter().enumerate() {
        let block = match e {
            Event::BlockDone { result: Ok(b), .. } => b,
            Event::BlockDone { result: Err(e), .. } => {
                return Err(js_err(format!("block {i}: {}", request_message(e))))
            }
            _ => return Err(js_err("the peer stopped")),
        };
        m.check_block(i, block.bytes()).map_err(js_err)?;
        out.set(&Uint8Array::from(block.bytes()), offset);
        offset += block.bytes().len() as u32;
    }
    Ok(out)
}
