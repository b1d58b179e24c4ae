//! # icn-gateway
//!
//! The native side of icn. Today it holds the `icn` command-line tool that
//! publishers use offline: key generation, signing files into content objects
//! (with blocks for large files), verification, inspection and extraction.
//! The warp HTTP gateway and the native peer driver join it in later issues.
//!
//! The modules are split by what they touch: [`keyfile`] reads and writes
//! PKCS#8 PEM keys, [`objfile`] reads and writes object and block files with
//! size limits, and [`cli`] parses arguments and turns every failure into one
//! line naming the file and the problem.
#![deny(missing_docs, unreachable_pub)]

pub mod cli;
pub mod client;
pub mod gateway;
pub mod keyfile;
pub mod objfile;
pub mod peer;
pub mod size;
pub mod swarm;
pub mod tls;
