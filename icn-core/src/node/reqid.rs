//! Request ids that no other node can guess.
//!
//! A reply is matched to its request by id, and replies travel through
//! other nodes: a node that could predict the ids of another's requests
//! could answer them first with a forged "not found" or a wrong successor
//! (spec/security.md). So ids come from a keyed hash, SHA-256 over secret
//! bytes the driver draws from the system's generator (the OS, or
//! `crypto.getRandomValues` in a browser), the node's id and a counter:
//! without the secret, the next id is as hard to guess as a SHA-256 output.
//! The core stays sans-IO: tests and the simulator pass fixed bytes and
//! replay runs exactly. SHA-256 is already the ring's hash: a request
//! costs one more hash of 72 bytes, as much as hashing a name.

use sha2::{Digest, Sha256};

use crate::id::RingId;

use super::ReqId;

/// The generator of a node's request ids.
#[derive(Debug, Clone)]
pub(super) struct ReqIds {
    key: [u8; 32],
    node: RingId,
    counter: u64,
}

impl ReqIds {
    pub(super) fn new(key: [u8; 32], node: RingId) -> Self {
        ReqIds {
            key,
            node,
            counter: 0,
        }
    }

    /// The next id.
    pub(super) fn next_id(&mut self) -> ReqId {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(self.node.0);
        h.update(self.counter.to_le_bytes());
        let d = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        u64::from_le_bytes(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_secret_and_node_and_repeat_for_the_same_ones() {
        let (a, b) = (RingId([1; 32]), RingId([2; 32]));
        let run = |key, node| {
            let mut g = ReqIds::new(key, node);
            (0..4).map(|_| g.next_id()).collect::<Vec<_>>()
        };
        let first = run([7; 32], a);
        assert_eq!(first, run([7; 32], a), "replayable from the same secret");
        assert_ne!(first, run([8; 32], a), "another secret, other ids");
        assert_ne!(first, run([7; 32], b), "another node, other ids");
        let mut sorted = first.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), first.len());
    }
}
