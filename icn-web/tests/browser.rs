//! Unit tests of the browser peer in headless Chromium (wasm-bindgen-test).
//!
//! Run with `scripts/test.sh`, or by hand:
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p icn-web --target wasm32-unknown-unknown`
//! (the runner, `wasm-bindgen-test-runner`, is set in `.cargo/config.toml`;
//! Chromium's flags are in `icn-web/webdriver.json`).
#![cfg(target_arch = "wasm32")]
// clippy does not see `#[wasm_bindgen_test]` functions as tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::rc::Rc;

use icn_core::bootstrap::NodeCert;
use icn_core::link::{
    chunks, sdp_fingerprint, Incoming, LinkAuth, Reassembler, Transcript, MAX_CHUNK,
};
use icn_core::{ContentObject, Name, ObjectError, Payload, RingId, SignedObject};
use icn_web::crypto::{checked, secrets_kept, signing_key};
use icn_web::Peer;
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{
    MessageEvent, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelType, RtcIceGatheringState,
    RtcPeerConnection, RtcSdpType, RtcSessionDescriptionInit,
};

wasm_bindgen_test_configure!(run_in_browser);

fn message(e: JsValue) -> String {
    e.dyn_into::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|v| format!("not an Error: {v:?}"))
}

async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        let _ = web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    JsFuture::from(p).await.unwrap();
}

#[wasm_bindgen_test]
async fn join_refuses_bad_input_with_clear_errors() {
    let kept = secrets_kept();
    let opts = Object::new();
    Reflect::set(&opts, &"secretKey".into(), &Uint8Array::new_with_length(5)).unwrap();
    let e = Peer::join("ws://127.0.0.1:9/ws".into(), opts.into())
        .await
        .err()
        .unwrap();
    assert_eq!(message(e), "secretKey must be 32 bytes");
    // ICE servers are checked before anything else happens.
    let ice = |servers: JsValue| {
        let o = Object::new();
        Reflect::set(&o, &"iceServers".into(), &servers).unwrap();
        JsValue::from(o)
    };
    let server = |urls: JsValue| {
        let o = Object::new();
        Reflect::set(&o, &"urls".into(), &urls).unwrap();
        js_sys::Array::of1(&o).into()
    };
    for (servers, why) in [
        (JsValue::from_str("stun:x"), "iceServers: must be an array"),
        (
            server("http://x".into()),
            "iceServers: not a STUN or TURN URL: \"http://x\"",
        ),
        (
            server(js_sys::Array::new().into()),
            "iceServers: an ICE server has no URL",
        ),
        (
            server(JsValue::from(7)),
            "iceServers: urls must be a string or an array",
        ),
        (
            server(
                (0..5)
                    .map(|_| JsValue::from("stun:x"))
                    .collect::<js_sys::Array>()
                    .into(),
            ),
            "iceServers: more than 4 urls in a server",
        ),
    ] {
        let e = Peer::join("ws://127.0.0.1:9/ws".into(), ice(servers))
            .await
            .err()
            .unwrap();
        assert_eq!(message(e), why);
    }
    // Good ones pass that check (and the join fails later, on the gateway).
    let e = Peer::join(
        "ws://127.0.0.1:9/ws".into(),
        ice(server("stun:203.0.113.1:3478".into())),
    )
    .await
    .err()
    .unwrap();
    assert!(message(e).contains("could not reach the gateway"));
    // Nothing listens on port 9: the error names the gateway address.
    let e = Peer::join("ws://127.0.0.1:9/ws".into(), JsValue::UNDEFINED)
        .await
        .err()
        .unwrap();
    assert!(message(e).contains("could not reach the gateway at ws://127.0.0.1:9/ws"));
    // Not a WebSocket URL at all: the browser's own SyntaxError, not a panic.
    assert!(Peer::join("http://[".into(), JsValue::UNDEFINED)
        .await
        .is_err());
    // A join that failed keeps no signing key: a page retrying while the
    // gateway is down must not pile them up.
    assert_eq!(secrets_kept(), kept);
}

#[wasm_bindgen_test]
async fn objects_signed_in_the_browser_verify_and_tampering_is_caught() {
    let key = signing_key(Some([4; 32])).await.unwrap();
    let publisher = icn_core::PublisherId::from_key(key.verifying_key()).to_text();
    let name = Name::parse("/wasm/test")
        .unwrap()
        .under_publisher(&publisher)
        .unwrap();
    let obj = ContentObject {
        name,
        version: 1,
        content_type: "text/plain".into(),
        created: 1,
        freshness: None,
        payload: Payload::Inline(b"from wasm".to_vec()),
    };
    let signed = checked(|| SignedObject::sign(obj.clone(), &key).unwrap()).await;
    let bytes = signed.encoded().to_vec();
    assert_eq!(
        checked(|| SignedObject::decode(&bytes)).await.unwrap(),
        signed
    );
    for i in [10, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        assert!(
            checked(|| SignedObject::decode(&bad)).await.is_err(),
            "byte {i} flipped and still accepted"
        );
    }
}

/// The spec's vectors, signed natively by ed25519-dalek, get the same
/// verdicts from WebCrypto plus icn-core's strictness checks.
#[wasm_bindgen_test]
async fn webcrypto_gives_the_spec_vectors_their_verdicts() {
    let valid: [&[u8]; 2] = [
        include_bytes!("../../spec/vectors/objects/inline-hello.cbor"),
        include_bytes!("../../spec/vectors/objects/inline-empty-unicode-name.cbor"),
    ];
    for bytes in valid {
        assert!(checked(|| SignedObject::decode(bytes)).await.is_ok());
    }
    let refused: [(&[u8], ObjectError); 5] = [
        (
            include_bytes!("../../spec/vectors/invalid/bad-signature.cbor"),
            ObjectError::BadSignature,
        ),
        (
            include_bytes!("../../spec/vectors/invalid/tampered-content.cbor"),
            ObjectError::BadSignature,
        ),
        (
            include_bytes!("../../spec/vectors/invalid/small-order-key.cbor"),
            ObjectError::BadSignature,
        ),
        (
            include_bytes!("../../spec/vectors/invalid/non-canonical-s.cbor"),
            ObjectError::BadSignature,
        ),
        (
            include_bytes!("../../spec/vectors/invalid/bad-publisher-key.cbor"),
            ObjectError::PublisherKey,
        ),
    ];
    for (bytes, error) in refused {
        assert_eq!(checked(|| SignedObject::decode(bytes)).await, Err(error));
    }
}

/// Without WebCrypto's answer a valid signature is refused, never passed.
#[wasm_bindgen_test]
async fn a_signature_webcrypto_did_not_check_is_refused() {
    // Only this test checks this vector, so WebCrypto has not seen it yet.
    let bytes = include_bytes!("../../spec/vectors/objects/manifest-3-blocks.cbor");
    assert_eq!(SignedObject::decode(bytes), Err(ObjectError::BadSignature));
    assert!(checked(|| SignedObject::decode(bytes)).await.is_ok());
}

async fn gathered(pc: &RtcPeerConnection) -> String {
    while pc.ice_gathering_state() != RtcIceGatheringState::Complete {
        sleep(5).await;
    }
    pc.local_description().unwrap().sdp()
}

/// Two RTCPeerConnections in this page, linked by complete SDPs.
async fn pair() -> (
    RtcPeerConnection,
    RtcPeerConnection,
    RtcDataChannel,
    String,
    String,
) {
    let a = RtcPeerConnection::new().unwrap();
    let b = RtcPeerConnection::new().unwrap();
    let dc = a.create_data_channel("icn");
    let offer = JsFuture::from(a.create_offer()).await.unwrap();
    JsFuture::from(a.set_local_description(offer.unchecked_ref()))
        .await
        .unwrap();
    let offer_sdp = gathered(&a).await;
    let d = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
    d.set_sdp(&offer_sdp);
    JsFuture::from(b.set_remote_description(&d)).await.unwrap();
    let answer = JsFuture::from(b.create_answer()).await.unwrap();
    JsFuture::from(b.set_local_description(answer.unchecked_ref()))
        .await
        .unwrap();
    let answer_sdp = gathered(&b).await;
    let d = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
    d.set_sdp(&answer_sdp);
    JsFuture::from(a.set_remote_description(&d)).await.unwrap();
    (a, b, dc, offer_sdp, answer_sdp)
}

#[wasm_bindgen_test]
async fn chromium_fingerprints_bind_the_link_authentication() {
    let (a, b, _dc, offer, answer) = pair().await;
    let (fa, fb) = (
        sdp_fingerprint(&offer).unwrap(),
        sdp_fingerprint(&answer).unwrap(),
    );
    assert!(
        fa.starts_with("SHA-256 ") && fa.len() == 8 + 32 * 3 - 1,
        "{fa}"
    );
    assert_ne!(fa, fb, "each connection has its own DTLS certificate");
    let gw = signing_key(Some([1; 32])).await.unwrap();
    let node = signing_key(Some([2; 32])).await.unwrap();
    let cert = checked(|| {
        NodeCert::issue(
            &gw,
            RingId([2; 32]),
            node.verifying_key().to_bytes(),
            u64::MAX,
        )
    })
    .await;
    let t = Transcript {
        offerer: RingId([1; 32]),
        answerer: RingId([2; 32]),
        offer_fingerprint: fa,
        answer_fingerprint: fb,
    };
    let auth = checked(|| LinkAuth::sign(&t, cert.clone(), &node)).await;
    let trusted = [gw.verifying_key().to_bytes()];
    assert!(checked(|| auth.verify(&t, RingId([2; 32]), &trusted, 0))
        .await
        .is_ok());
    let mut swapped = t.clone();
    std::mem::swap(
        &mut swapped.offer_fingerprint,
        &mut swapped.answer_fingerprint,
    );
    assert!(
        checked(|| auth.verify(&swapped, RingId([2; 32]), &trusted, 0))
            .await
            .is_err()
    );
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn chunked_messages_cross_a_real_datachannel() {
    let (a, b, dc, _, _) = pair().await;
    let got: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let sink = got.clone();
    let reasm = Rc::new(RefCell::new(Reassembler::default()));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let bytes = Uint8Array::new(&e.data()).to_vec();
        assert!(bytes.len() <= MAX_CHUNK);
        if let Ok(Incoming::Message(m)) = reasm.borrow_mut().push(&bytes) {
            sink.borrow_mut().push(m);
        }
    });
    let on_channel =
        Closure::<dyn FnMut(RtcDataChannelEvent)>::new(move |e: RtcDataChannelEvent| {
            let ch = e.channel();
            ch.set_binary_type(RtcDataChannelType::Arraybuffer);
            ch.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            std::mem::forget(ch);
        });
    b.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
    while dc.ready_state() != web_sys::RtcDataChannelState::Open {
        sleep(10).await;
    }
    let messages: Vec<Vec<u8>> = [0usize, 1, MAX_CHUNK, 700 * 1024]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 % 256) as u8).collect())
        .collect();
    for m in &messages {
        for c in chunks(m) {
            dc.send_with_u8_array(&c).unwrap();
        }
    }
    for _ in 0..500 {
        if got.borrow().len() == messages.len() {
            break;
        }
        sleep(10).await;
    }
    assert_eq!(*got.borrow(), messages);
    drop(on_channel);
    a.close();
    b.close();
}
