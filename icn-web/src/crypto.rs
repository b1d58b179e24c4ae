//! Ed25519 by the browser's WebCrypto, behind the core's synchronous
//! signatures.
//!
//! icn-core, built with its `webcrypto` feature, signs and verifies through
//! an oracle: a signature it has not been told about fails and is recorded as
//! wanted (see `icn_core::sig`). This module answers. In `async` code,
//! [`rehearse`] runs a side-effect-free rehearsal, asks WebCrypto what it
//! wanted, and repeats until nothing is missing; the real call then finds
//! every answer. Everything that arrives from the network goes through
//! `gate` instead: each piece of work checks its signatures first and
//! backs out untouched while one is owed; the gate has WebCrypto answer and
//! runs it again, one piece at a time in arrival order, so a message that
//! needs a signature checked never overtakes or is overtaken by the ones
//! around it. Work that needs no signature runs at once while the gate is
//! idle.
//!
//! Keeping Ed25519 out of the wasm takes 3.1 KB off the bundle as served
//! (the curve code went, the asynchronous plumbing above came), and the node
//! key lives in WebCrypto as a non-extractable key once the peer started.
//! A check WebCrypto has not answered before is a trip to its thread; with
//! the answers and curve-point checks cached, a 1 KiB `get` is faster than
//! with the wasm's own Ed25519 (p50 0.8-0.9 ms against 1.2-1.4 ms,
//! `tests/browser/bench.mjs` on c62d0ce).
//!
//! [`signing_key`], [`rehearse`] and [`checked`] are public for tests and for Rust code
//! that signs with icn-core's types in the page.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use icn_core::sig::{self, SigningKey, VerifyingKey, Wanted};
use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CryptoKey, SubtleCrypto};

use crate::driver::js_err;
use crate::task::{self, wait};

const ALG: &str = "Ed25519";
/// Rehearsals of one piece of work before it runs anyway: a link signal
/// needs two (its certificate, then its own signature).
const MAX_ROUNDS: usize = 4;

/// Pieces of work waiting for WebCrypto at most.
const MAX_QUEUED: usize = 256;
/// Public keys kept imported.
const MAX_PUBLIC: usize = 64;

type Job = Box<dyn FnMut() -> bool>;

thread_local! {
    /// The secret halves of this page's signing keys, by public key: one
    /// entry per [`signing_key`] call until [`forget`] undoes it, so two
    /// peers of one page with the same key each hold their own.
    static KEYS: RefCell<Vec<([u8; 32], CryptoKey)>> = const { RefCell::new(Vec::new()) };
    /// Public keys imported for verification, oldest first.
    static PUBLIC: RefCell<Vec<([u8; 32], CryptoKey)>> = const { RefCell::new(Vec::new()) };
    /// Work waiting for WebCrypto, in arrival order.
    static QUEUE: RefCell<VecDeque<Job>> = const { RefCell::new(VecDeque::new()) };
    /// Whether a task is draining [`QUEUE`].
    static DRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Why a page outside a secure context cannot run a peer.
pub const NOT_SECURE: &str = "icn needs a secure context: open this page over https (or on \
                              localhost); on plain http the browser hides WebCrypto, which \
                              icn signs and verifies with";

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let w = web_sys::window().ok_or_else(|| js_err("no window"))?;
    // Outside a secure context `crypto.subtle` is undefined, and the first
    // call on it would fail with a message about `undefined`.
    if !w.is_secure_context() {
        return Err(js_err(NOT_SECURE));
    }
    Ok(w.crypto()?.subtle())
}

/// 32 bytes from the browser's cryptographic generator.
pub fn random_secret() -> Result<[u8; 32], JsValue> {
    let w = web_sys::window().ok_or_else(|| js_err("no window"))?;
    let mut s = [0u8; 32];
    w.crypto()?.get_random_values_with_u8_array(&mut s)?;
    Ok(s)
}

/// A signing key from a 32-byte seed, or a fresh random one. The secret
/// stays in WebCrypto (not extractable); the public key comes back through
/// a JWK export of a short-lived extractable copy.
pub async fn signing_key(seed: Option<[u8; 32]>) -> Result<SigningKey, JsValue> {
    let w = web_sys::window().ok_or_else(|| js_err("no window"))?;
    let seed = match seed {
        Some(s) => s,
        None => random_secret()?,
    };
    // PKCS #8 for an Ed25519 private key: a fixed prefix, then the seed.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&seed);
    let data = Uint8Array::from(&pkcs8[..]);
    let usage = Array::of1(&"sign".into());
    let s = subtle()?;
    let import = |extractable| s.import_key_with_str("pkcs8", &data, ALG, extractable, &usage);
    let copy: CryptoKey = wait(import(true)?)
        .await
        .map_err(|e| {
            js_err(format!(
                "this browser has no Ed25519 in WebCrypto (Chromium 137, Firefox 129 \
                 and Safari 17 have it): {}",
                e.as_string()
                    .or_else(|| js_sys::Error::from(e).message().as_string())
                    .unwrap_or_default()
            ))
        })?
        .unchecked_into();
    let jwk = wait(s.export_key("jwk", &copy)?).await?;
    let x = Reflect::get(&jwk, &"x".into())?
        .as_string()
        .unwrap_or_default();
    // Base64url to bytes, through the browser's base64 decoder.
    let raw = w.atob(&x.replace('-', "+").replace('_', "/"))?;
    let mut public = [0u8; 32];
    if raw.chars().count() != 32 {
        return Err(js_err("WebCrypto gave no Ed25519 public key"));
    }
    for (b, c) in public.iter_mut().zip(raw.chars()) {
        *b = c as u8;
    }
    let key: CryptoKey = wait(import(false)?).await?.unchecked_into();
    let public = VerifyingKey::from_bytes(&public).map_err(js_err)?;
    KEYS.with(|k| k.borrow_mut().push((public.to_bytes(), key)));
    Ok(SigningKey::from_public(public))
}

/// Drops one secret that [`signing_key`] kept for `key`: a peer that
/// failed to join or has left signs nothing more, and a page that joins
/// again and again does not pile up keys.
pub(crate) fn forget(key: &SigningKey) {
    let public = key.verifying_key().to_bytes();
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if let Some(i) = k.iter().position(|e| e.0 == public) {
            k.swap_remove(i);
        }
    });
}

/// How many secrets [`signing_key`] keeps (for tests).
pub fn secrets_kept() -> usize {
    KEYS.with(|k| k.borrow().len())
}

/// `key` imported for verification, from [`PUBLIC`] when it was imported
/// lately: most signatures come from a few publishers and peers, and an
/// import is one more trip to WebCrypto's thread.
async fn public_key(s: &SubtleCrypto, key: [u8; 32]) -> Option<CryptoKey> {
    let known = PUBLIC.with(|p| p.borrow().iter().find(|e| e.0 == key).map(|e| e.1.clone()));
    if known.is_some() {
        return known;
    }
    let data = Uint8Array::from(&key[..]);
    let usage = Array::of1(&"verify".into());
    let p = s
        .import_key_with_str("raw", &data, ALG, false, &usage)
        .ok()?;
    let k: CryptoKey = wait(p).await.ok()?.unchecked_into();
    PUBLIC.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() == MAX_PUBLIC {
            p.remove(0);
        }
        p.push((key, k.clone()));
    });
    Some(k)
}

/// Has WebCrypto answer what the oracle wanted.
async fn answer(wanted: Vec<Wanted>) -> Result<(), JsValue> {
    let s = subtle()?;
    for w in wanted {
        match w {
            Wanted::Verify { key, sig, msg } => {
                // A key WebCrypto refuses verifies nothing.
                // So does a verification WebCrypto throws on.
                let ok = match public_key(&s, key).await {
                    Some(k) => {
                        match s.verify_with_str_and_u8_array_and_u8_array(ALG, &k, &sig, &msg) {
                            Ok(v) => wait(v).await.is_ok_and(|v| v.is_truthy()),
                            Err(_) => false,
                        }
                    }
                    None => false,
                };
                sig::learn_verified(&key, &sig, &msg, ok);
            }
            Wanted::Sign { key, msg } => {
                let secret =
                    KEYS.with(|k| k.borrow().iter().find(|e| e.0 == key).map(|e| e.1.clone()));
                let Some(secret) = secret else { continue };
                let sig = wait(s.sign_with_str_and_u8_array(ALG, &secret, &msg)?).await?;
                let sig: [u8; 64] = Uint8Array::new(&sig)
                    .to_vec()
                    .try_into()
                    .map_err(|_| js_err("WebCrypto gave no Ed25519 signature"))?;
                sig::learn_signature(&key, &msg, sig);
            }
        }
    }
    Ok(())
}

/// Runs `f` until it wants no signature the oracle lacks, having WebCrypto
/// answer between runs. `f` must have no effect besides its signatures.
pub async fn rehearse(f: &dyn Fn()) {
    for _ in 0..MAX_ROUNDS {
        sig::take_wanted();
        f();
        let wanted = sig::take_wanted();
        if wanted.is_empty() || answer(wanted).await.is_err() {
            return;
        }
    }
}

/// `f()`, once WebCrypto answered every signature it asks for: [`rehearse`],
/// then the call itself. `f` must have no effect besides its signatures.
pub async fn checked<T>(f: impl Fn() -> T) -> T {
    rehearse(&|| {
        f();
    })
    .await;
    f()
}

/// Whether the work just done asked for a signature WebCrypto has not given
/// yet (and so did nothing it cannot do again).
pub(crate) fn owed() -> bool {
    sig::wanting()
}

/// Runs `work` after all work gated before it, again and again until it
/// returns `true`, with WebCrypto answering what it wanted in between.
/// `work` checks its signatures before anything else and returns `false`,
/// having changed nothing, when [`owed`] says one is missing. It runs at once
/// when nothing is queued.
pub(crate) fn gate(work: impl FnMut() -> bool + 'static) {
    gate_boxed(Box::new(work));
}

/// [`gate`], compiled once rather than for each caller's closure.
fn gate_boxed(mut work: Job) {
    if !DRAINING.get() {
        sig::take_wanted();
        if work() {
            return;
        }
    }
    // A peer flooding this page with objects to check gets its surplus
    // dropped, as a lossy link would; the ring's timeouts cover the loss.
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        if q.len() < MAX_QUEUED {
            q.push_back(work);
        }
    });
    if !DRAINING.replace(true) {
        task::spawn(drain());
    }
}

async fn drain() {
    while let Some(mut work) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        for _ in 0..MAX_ROUNDS {
            sig::take_wanted();
            if work() {
                break;
            }
            if answer(sig::take_wanted()).await.is_err() {
                break;
            }
        }
    }
    DRAINING.set(false);
}
