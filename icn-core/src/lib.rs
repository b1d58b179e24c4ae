//! # icn-core
//!
//! The part of icn that every participant shares: browsers, the gateway, native
//! peers and the signing CLI. It has no I/O at all: it never reads a clock, an
//! RNG or a socket, so the same code builds for `wasm32-unknown-unknown` and for
//! native targets, and every behaviour can be replayed deterministically.
//!
//! The protocol these types implement is written down in `spec/` at the root of
//! the repository; that text is authoritative and the test vectors in
//! `spec/vectors/` are checked against this crate.
//!
//! * [`name`]: hierarchical names, their limits, URI form and canonical bytes.
//! * [`publisher`]: self-certifying publisher ids (`k` + base32 of an ed25519 key).
//! * [`id`]: 256-bit ring ids and circular interval arithmetic.
//! * [`hash`]: the SHA-256 [`Hash`](struct@hash::Hash) newtype used for blocks and objects.
//! * [`object`]: signed, CBOR-encoded content objects and their strict decoder.
//! * [`block`]: splitting large content into content-addressed blocks and back.
//! * [`node`]: the Chord node as a sans-IO state machine.
//! * [`vecmap`]: the small sorted maps and sets every table of a node uses.
//! * [`sig`]: the ed25519 types: ed25519-dalek's natively; with the `webcrypto`
//!   feature (the browser peer), stand-ins answered by the browser's WebCrypto.
//! * [`bootstrap`], [`link`]: joining through a gateway; signaling, authenticating
//!   and framing direct (WebRTC) links.
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod base32;
pub mod block;
pub mod bootstrap;
mod cbor;
pub mod hash;
pub mod ice;
pub mod id;
pub mod link;
pub mod name;
pub mod node;
pub mod object;
pub mod publisher;
pub mod sig;
pub mod vecmap;
pub mod wire;

pub use block::{Block, BlockError, BlockRef, Manifest};
pub use hash::Hash;
pub use id::RingId;
pub use name::{Name, NameError};
pub use object::{ContentObject, ObjectError, Payload, SignedObject};
pub use publisher::{PublisherId, PublisherIdError};
