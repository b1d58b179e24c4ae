//! `icn swarm --respond`: native peers answer application messages so that
//! a browser can measure DataChannel throughput to and from them, next to
//! the same measurement between two browsers (tests/browser/bench.mjs runs
//! the same protocol in a page).
//!
//! The protocol, over the ring's `send` (routed by node id, one hop when the
//! two are linked):
//! - `pull <N>` (ASCII, N at most [`MAX_PULL`]): the peer answers with N
//!   bytes in messages of [`CHUNK`] bytes;
//! - any other message: the peer answers with the number of bytes received
//!   from that sender so far (8 bytes, little-endian), so the sender knows
//!   when everything arrived.

use std::collections::HashMap;

use icn_core::RingId;
use tokio::sync::mpsc;

use crate::peer::Peer;

/// Bytes per answer message of a `pull`.
pub const CHUNK: usize = 16 * 1024;

/// The largest `pull` answered.
pub const MAX_PULL: usize = 64 * 1024 * 1024;

/// Senders whose byte counts are kept; more reset the counts.
const MAX_SENDERS: usize = 1024;

/// What a message asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Ask {
    /// `pull <N>`: send N bytes back.
    Pull(usize),
    /// Count these bytes and acknowledge the running total.
    Count,
}

/// Reads a message of the protocol (anything that is not a valid `pull`
/// is counted).
pub fn parse(bytes: &[u8]) -> Ask {
    bytes
        .strip_prefix(b"pull ")
        .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
        .filter(|n| *n <= MAX_PULL)
        .map_or(Ask::Count, Ask::Pull)
}

/// Answers `peer`'s messages until the peer stops.
pub async fn run(peer: Peer, mut inbox: mpsc::Receiver<(RingId, Vec<u8>)>) {
    let mut counts: HashMap<RingId, u64> = HashMap::new();
    while let Some((from, bytes)) = inbox.recv().await {
        let sent = match parse(&bytes) {
            Ask::Pull(n) => {
                let mut left = n;
                let mut ok = true;
                while left > 0 && ok {
                    let k = left.min(CHUNK);
                    ok = peer.send(from, vec![0x5a; k]).await.is_ok();
                    left -= k;
                }
                ok
            }
            Ask::Count => {
                if counts.len() >= MAX_SENDERS && !counts.contains_key(&from) {
                    counts.clear();
                }
                let c = counts.entry(from).or_default();
                *c += bytes.len() as u64;
                peer.send(from, c.to_le_bytes().to_vec()).await.is_ok()
            }
        };
        if !sent {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_within_the_limit_are_pulls_and_everything_else_is_counted() {
        assert_eq!(parse(b"pull 10485760"), Ask::Pull(10 * 1024 * 1024));
        assert_eq!(parse(b"pull 0"), Ask::Pull(0));
        assert_eq!(
            parse(format!("pull {}", MAX_PULL + 1).as_bytes()),
            Ask::Count
        );
        assert_eq!(parse(b"pull -1"), Ask::Count);
        assert_eq!(parse(b"pull "), Ask::Count);
        assert_eq!(parse(&[0u8; 16384]), Ask::Count);
        assert_eq!(parse(b"pul 5"), Ask::Count);
    }
}
