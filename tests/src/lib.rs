//! Cross-crate test support for icn: the deterministic network simulator,
//! the ring invariant checker and the scenarios that `icn-sim` and the
//! integration tests run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod attack;
pub mod invariants;
pub mod losslog;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod vectors;
