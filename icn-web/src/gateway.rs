//! The gateway connection: the bootstrap handshake, and connecting again
//! when it ends.
//!
//! A peer whose gateway goes away stays in the ring over its DataChannels,
//! and connects again, to the next gateway URL it was given, on the
//! schedule of `icn_core::link::reconnect` (as native peers do): soon when
//! it is stranded (no link, no member), with growing waits while it is in
//! the ring, so that a restarted gateway finds the ring its peers form. It
//! presents the certificate it holds (spec/bootstrap.md, "Joining again
//! elsewhere") and goes on with the same ring position, key and store.

use icn_core::bootstrap::{join_message, Frame, NodeCert};
use icn_core::link::reconnect::Reconnect;
use icn_core::node::Input;
use icn_core::sig::{Signer, SigningKey};
use icn_core::RingId;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::driver::{attach_gateway, js_err, message_bytes, now, on_frame, pump, Shared};
use crate::{crypto, task};

/// How often the schedule is looked at while the connection is down, ms.
const CHECK_MS: i32 = 500;

/// A finished handshake, not yet handed to the driver.
pub(crate) struct Admitted {
    pub(crate) ws: WebSocket,
    pub(crate) cert: NodeCert,
    pub(crate) gateway_id: RingId,
    /// Frames that arrived right after the welcome (the `Trust` list).
    pub(crate) early: Vec<Vec<u8>>,
    // Kept until the driver installs its own handlers.
    _handlers: [Closure<dyn FnMut(JsValue)>; 2],
}

/// Connects to `url` and proves `key`; with `cert`, asks to keep the ring
/// position that certificate names.
pub(crate) async fn handshake(
    url: &str,
    key: &SigningKey,
    cert: Option<NodeCert>,
) -> Result<Admitted, JsValue> {
    let ws = WebSocket::new(url)?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    // Until the handshake is over, frames go to this channel.
    let (tx, mut rx) = task::channel::<Option<Vec<u8>>>();
    let tx2 = tx.clone();
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let data = e.unchecked_into::<MessageEvent>().data();
        tx.send(message_bytes(&data));
    });
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        tx2.send(None);
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    let result = admit(&ws, &mut rx, url, key, cert).await;
    if result.is_err() {
        let _ = ws.close();
    }
    let (cert, gateway_id) = result?;
    let mut early = Vec::new();
    while let Some(Some(b)) = rx.try_recv() {
        early.push(b);
    }
    Ok(Admitted {
        ws,
        cert,
        gateway_id,
        early,
        _handlers: [on_message, on_close],
    })
}

async fn admit(
    ws: &WebSocket,
    rx: &mut task::Receiver<Option<Vec<u8>>>,
    url: &str,
    key: &SigningKey,
    cert: Option<NodeCert>,
) -> Result<(NodeCert, RingId), JsValue> {
    let Frame::Challenge {
        nonce,
        gateway_key,
        gateway_id,
    } = next_frame(rx, url).await?
    else {
        return Err(js_err("expected a challenge from the gateway"));
    };
    let my_key = key.verifying_key().to_bytes();
    let proof = join_message(&nonce, &my_key);
    let signature = crypto::checked(|| key.sign(&proof)).await.to_bytes();
    let keep = cert.as_ref().map(|c| c.node_id);
    ws.send_with_u8_array(
        &Frame::Hello {
            key: my_key,
            signature,
            cert,
        }
        .encode(),
    )?;
    let cert = match next_frame(rx, url).await? {
        Frame::Welcome(c) => c,
        Frame::Error { code } => {
            return Err(js_err(format!("the gateway refused to admit us: {code}")))
        }
        _ => return Err(js_err("expected a welcome from the gateway")),
    };
    let t = now();
    crypto::checked(|| cert.verify(t)).await.map_err(js_err)?;
    if cert.gateway_key != gateway_key || cert.node_key != my_key {
        return Err(js_err("the certificate is not for this gateway and key"));
    }
    if keep.is_some_and(|id| id != cert.node_id) {
        return Err(js_err("the gateway gave another ring position"));
    }
    Ok((cert, gateway_id))
}

async fn next_frame(rx: &mut task::Receiver<Option<Vec<u8>>>, url: &str) -> Result<Frame, JsValue> {
    let bytes = rx.recv().await.ok_or_else(|| {
        js_err(format!(
            "could not reach the gateway at {url}, or it closed the connection"
        ))
    })?;
    Frame::decode(&bytes).map_err(js_err)
}

/// Hands the connection of a peer joining again to the driver: the new
/// gateway replaces the old one, then [`start`].
fn install(inner: &Shared, a: Admitted) {
    {
        let mut me = inner.borrow_mut();
        me.ws = Some(a.ws.clone());
        me.gw = a.gateway_id;
        me.carriers.handle_upstream_up(a.gateway_id);
        if !me.trusted.contains(&a.cert.gateway_key) {
            me.trusted.push(a.cert.gateway_key);
        }
        me.cert = a.cert.clone();
    }
    start(inner, a);
}

/// Starts the driver on the admitted connection its `Inner` holds: the
/// gateway becomes this peer's bootstrap link, and the node joins (again)
/// through it.
pub(crate) fn start(inner: &Shared, a: Admitted) {
    attach_gateway(inner, &a.ws);
    for b in &a.early {
        on_frame(inner, b);
    }
    {
        let mut me = inner.borrow_mut();
        let (t, gw) = (now(), me.gw);
        me.input(Input::LinkUp(t, gw));
        me.node.handle_gateway_up(t, gw);
    }
    pump(inner);
}

/// Runs while the gateway connection is down: connects again on the
/// reconnect schedule, to the next gateway URL each time.
pub(crate) fn watch(inner: &Shared) {
    {
        let mut me = inner.borrow_mut();
        if me.watching || me.left {
            return;
        }
        me.watching = true;
    }
    let inner = inner.clone();
    task::spawn(async move {
        let mut schedule = Reconnect::new();
        schedule.handle_lost(now());
        while !schedule.gave_up() {
            task::sleep(CHECK_MS).await;
            let (url, key, cert, stranded) = {
                let mut me = inner.borrow_mut();
                if me.left || me.ws.is_some() {
                    break;
                }
                let stranded = me.node.is_cut_off();
                if !schedule.poll_try(now(), stranded) {
                    continue;
                }
                let url = me.gateways[me.next_gateway % me.gateways.len()].clone();
                me.next_gateway += 1;
                (url, me.key, me.cert.clone(), stranded)
            };
            match handshake(&url, &key, Some(cert)).await {
                Ok(a) if !inner.borrow().left => {
                    install(&inner, a);
                    break;
                }
                Ok(_) => break,
                Err(_) => schedule.handle_failed(now(), stranded),
            }
        }
        inner.borrow_mut().watching = false;
    });
}
