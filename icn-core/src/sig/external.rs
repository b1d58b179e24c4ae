//! Ed25519 types for builds whose signatures are made and checked outside
//! the wasm, by the browser's WebCrypto (feature `webcrypto`).
//!
//! WebCrypto is asynchronous and the core is not, so the two meet through a
//! cache (the *oracle*). Code signs and verifies as usual; a signature the
//! oracle does not know yet fails and is recorded as *wanted*. A driver runs
//! a side-effect-free rehearsal of what it is about to do, takes the wanted
//! list ([`take_wanted`]), has WebCrypto answer it ([`learn_verified`],
//! [`learn_signature`]), and then does the real thing, which finds every
//! answer in the cache. A miss during the real thing is a failed check, never
//! a pass.
//!
//! What WebCrypto's RFC 8032 verification leaves out is checked here, so that
//! a browser accepts exactly what `ed25519_dalek`'s `verify_strict` accepts:
//! keys must be curve points, `S` must be below the group order, and neither
//! the key nor `R` may have small order.

use std::cell::RefCell;
use std::collections::VecDeque;

use sha2::{Digest, Sha256};

use super::field;
use super::SigError;

/// An ed25519 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Wraps 64 signature bytes.
    pub fn from_bytes(bytes: &[u8; 64]) -> Signature {
        Signature(*bytes)
    }

    /// The 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }
}

/// An ed25519 public key that is a point on the curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VerifyingKey([u8; 32]);

impl VerifyingKey {
    /// The key, if `bytes` decode to a curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<VerifyingKey, SigError> {
        // The check is an exponentiation (about 500 multiplications); the
        // same few keys come back with every name and object.
        let known = ORACLE.with(|o| o.borrow().points.contains(bytes));
        if known || field::is_point(bytes) {
            if !known {
                ORACLE.with(|o| push(&mut o.borrow_mut().points, *bytes, POINTS));
            }
            Ok(VerifyingKey(*bytes))
        } else {
            Err(SigError::Key)
        }
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The 32 bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Strict verification: the checks WebCrypto leaves out, then its
    /// answer from the oracle (a miss is recorded and fails).
    pub fn verify_strict(&self, msg: &[u8], sig: &Signature) -> Result<(), SigError> {
        let (r, s) = split(&sig.0);
        if field::is_small_order(&self.0)
            || field::is_small_order(&r)
            || !field::is_canonical_scalar(&s)
        {
            return Err(SigError::Signature);
        }
        let digest = verify_digest(&self.0, &sig.0, msg);
        match ORACLE.with(|o| cached(&o.borrow().verified, &digest)) {
            Some(true) => Ok(()),
            Some(false) => Err(SigError::Signature),
            None => {
                want(Wanted::Verify {
                    key: self.0,
                    sig: sig.0,
                    msg: msg.to_vec(),
                });
                Err(SigError::Signature)
            }
        }
    }
}

/// A signing key whose secret half lives in WebCrypto: this side knows only
/// the public key, and signatures come from the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigningKey(VerifyingKey);

impl SigningKey {
    /// The signing key whose public half is `key`.
    pub fn from_public(key: VerifyingKey) -> SigningKey {
        SigningKey(key)
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0
    }
}

/// Signing, as `ed25519_dalek`'s `Signer` trait offers it.
pub trait Signer {
    /// The signature of `msg`; all zeros (which verifies nowhere) when the
    /// oracle does not know it yet, and then it is wanted.
    fn sign(&self, msg: &[u8]) -> Signature;
}

impl Signer for SigningKey {
    fn sign(&self, msg: &[u8]) -> Signature {
        let digest = sign_digest(&self.0 .0, msg);
        let known = ORACLE.with(|o| cached(&o.borrow().signed, &digest));
        known.map(Signature).unwrap_or_else(|| {
            want(Wanted::Sign {
                key: self.0 .0,
                msg: msg.to_vec(),
            });
            Signature([0; 64])
        })
    }
}

/// A question for WebCrypto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// Does `sig` verify for `msg` under `key` (RFC 8032)?
    Verify {
        /// The public key.
        key: [u8; 32],
        /// The signature.
        sig: [u8; 64],
        /// The signed message.
        msg: Vec<u8>,
    },
    /// The signature of `msg` by the secret key of `key`.
    Sign {
        /// The public key of the signer.
        key: [u8; 32],
        /// The message.
        msg: Vec<u8>,
    },
}

/// Answers kept; more than any one rehearsal needs (a message carries at
/// most 64 objects, a link set-up two signatures).
const CACHE: usize = 256;
/// Keys remembered as curve points.
const POINTS: usize = 32;
/// Questions kept between two [`take_wanted`] calls.
const MAX_WANTED: usize = 128;

#[derive(Default)]
struct Oracle {
    /// Keys lately found to be curve points.
    points: VecDeque<[u8; 32]>,
    verified: VecDeque<([u8; 32], bool)>,
    signed: VecDeque<([u8; 32], [u8; 64])>,
    wanted: Vec<Wanted>,
}

thread_local! {
    static ORACLE: RefCell<Oracle> = RefCell::new(Oracle::default());
}

fn split(sig: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0; 32];
    let mut s = [0; 32];
    r.copy_from_slice(&sig[..32]);
    s.copy_from_slice(&sig[32..]);
    (r, s)
}

/// The cache key of an answer: a hash of what was asked.
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn verify_digest(key: &[u8; 32], sig: &[u8; 64], msg: &[u8]) -> [u8; 32] {
    digest(&[b"v", key, sig, msg])
}

fn sign_digest(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    digest(&[b"s", key, msg])
}

/// The answer cached under `digest`.
fn cached<T: Copy>(answers: &VecDeque<([u8; 32], T)>, digest: &[u8; 32]) -> Option<T> {
    answers.iter().find(|e| &e.0 == digest).map(|e| e.1)
}

fn want(w: Wanted) {
    ORACLE.with(|o| {
        let mut o = o.borrow_mut();
        if o.wanted.len() < MAX_WANTED && !o.wanted.contains(&w) {
            o.wanted.push(w);
        }
    });
}

fn push<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(item);
}

/// Whether questions were recorded since the last [`take_wanted`].
pub fn wanting() -> bool {
    ORACLE.with(|o| !o.borrow().wanted.is_empty())
}

/// Takes the questions recorded since the last call.
pub fn take_wanted() -> Vec<Wanted> {
    ORACLE.with(|o| std::mem::take(&mut o.borrow_mut().wanted))
}

/// Records WebCrypto's verdict on `sig` over `msg` under `key`.
pub fn learn_verified(key: &[u8; 32], sig: &[u8; 64], msg: &[u8], ok: bool) {
    let d = verify_digest(key, sig, msg);
    ORACLE.with(|o| push(&mut o.borrow_mut().verified, (d, ok), CACHE));
}

/// Records a signature WebCrypto made; it also verifies, so a node checking
/// its own object finds the answer too.
pub fn learn_signature(key: &[u8; 32], msg: &[u8], sig: [u8; 64]) {
    let d = sign_digest(key, msg);
    ORACLE.with(|o| push(&mut o.borrow_mut().signed, (d, sig), CACHE));
    learn_verified(key, &sig, msg, true);
}
