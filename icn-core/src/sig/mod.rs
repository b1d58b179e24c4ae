//! The ed25519 types the core signs and verifies with.
//!
//! Natively they are `ed25519_dalek`'s. With the `webcrypto` feature (the
//! browser peer), they are stand-ins with the same methods whose signatures
//! come from the browser's WebCrypto: Ed25519 code is the largest single
//! piece the wasm bundle would otherwise carry, and the browser already has a
//! native, faster implementation. See `external` for how an asynchronous
//! WebCrypto meets this synchronous core, and for the strictness checks that
//! keep both builds accepting exactly the same signatures.

#[cfg(any(test, feature = "webcrypto"))]
mod field;

#[cfg(feature = "webcrypto")]
mod external;
#[cfg(feature = "webcrypto")]
pub use external::{
    learn_signature, learn_verified, take_wanted, wanting, Signature, Signer, SigningKey,
    VerifyingKey, Wanted,
};

#[cfg(not(feature = "webcrypto"))]
pub use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Errors from the WebCrypto stand-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The bytes are not a curve point.
    #[error("not a valid ed25519 public key")]
    Key,
    /// The signature does not verify (strictly).
    #[error("the signature does not verify")]
    Signature,
}
