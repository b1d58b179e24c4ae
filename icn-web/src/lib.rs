//! # icn-web
//!
//! The browser peer of icn. This crate will drive the `icn-core` node state
//! machine from the browser's event loop (web-sys WebSocket to the gateway,
//! RTCDataChannels to other peers) and expose the JS API (`Peer.join`,
//! `publish`, `get`, `send`, `leave`) through wasm-bindgen.
//!
//! Until the browser driver lands (see the browser-peer issue), it re-exports
//! the core types that the JS API will be written in terms of, so that the
//! crate graph `icn-core <- icn-web` already builds for `wasm32-unknown-unknown`.
#![deny(missing_docs, unreachable_pub)]

pub use icn_core::{Name, PublisherId, RingId, SignedObject};
