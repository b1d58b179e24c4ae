//! A hostile client of a real gateway, for the attack tests
//! (`tests/tests/attacks.rs`) and the attack benchmark (`icn-attack`).
//!
//! It completes the bootstrap handshake as any peer does (which proves only
//! that it holds some key) and then sends raw frames, well-formed and
//! validly signed where that gets it further, but with the intent of the
//! attacks spec/security.md lists: flooding stores, relaying to a client
//! that never reads, joining from one address many times, publishing a
//! manifest of blocks that do not exist. The gateway under attack is a
//! separate process (the `icn` binary), so its memory is its own.

use std::collections::HashMap;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use icn_core::block::{Block, BlockRef, Manifest, MAX_BLOCKS, MAX_BLOCK_SIZE};
use icn_core::bootstrap::Frame;
use icn_core::wire::{Body, Dest, ItemBytes, Message, Routed, MAX_ITEMS};
use icn_core::{ContentObject, Hash, Name, Payload, PublisherId, RingId, SignedObject};
use icn_gateway::peer::{handshake, PeerError, Ws};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A client that completed the handshake and now sends what it likes.
pub struct Attacker {
    ws: Ws,
    /// Its certified ring position.
    pub id: RingId,
    /// The gateway's ring position.
    pub gateway: RingId,
}

impl Attacker {
    /// Joins through the gateway at `ws_url` with `key`.
    pub async fn join(ws_url: &str, key: &SigningKey) -> Result<Attacker, PeerError> {
        let (ws, cert, gateway) = handshake(ws_url, key).await?;
        Ok(Attacker {
            ws,
            id: cert.node_id,
            gateway,
        })
    }

    /// Sends a ring message to the gateway's node; false once the
    /// connection is gone.
    pub async fn ring(&mut self, msg: &Message) -> bool {
        self.frame(&Frame::Ring(msg.encode())).await
    }

    /// Pushes `blocks` to the gateway's node as `Store` messages, paced to
    /// stay within the client's ring budget (8 MiB/s) so that all of them
    /// reach the node; false once the connection is gone.
    pub async fn store_paced(&mut self, blocks: &[Block]) -> bool {
        for m in store_messages(blocks) {
            if !self.ring(&m).await {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(70)).await;
        }
        true
    }

    /// Asks the gateway to relay `bytes` to `peer`.
    pub async fn relay(&mut self, peer: RingId, bytes: Vec<u8>) -> bool {
        self.frame(&Frame::Relay { peer, bytes }).await
    }

    async fn frame(&mut self, f: &Frame) -> bool {
        self.ws.send(WsMessage::binary(f.encode())).await.is_ok()
    }

    /// Reads what the gateway sends for `limit`; returns the bytes of the
    /// binary frames that came, and whether the connection was still open.
    pub async fn received_within(&mut self, limit: Duration) -> (u64, bool) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut total = 0u64;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return (total, true),
                Ok(Some(Ok(WsMessage::Binary(b)))) => total += b.len() as u64,
                Ok(Some(Ok(WsMessage::Close(_)) | Err(_)) | None) => return (total, false),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads (and drops) what the gateway sends for up to `limit`; returns
    /// the code of an `Error` frame if one came, or "closed" if the
    /// connection closed without one.
    pub async fn refusal_within(&mut self, limit: Duration) -> Option<String> {
        let read = async {
            while let Some(m) = self.ws.next().await {
                match m {
                    Ok(WsMessage::Binary(b)) => {
                        if let Ok(Frame::Error { code }) = Frame::decode(&b) {
                            return code;
                        }
                    }
                    Ok(WsMessage::Close(_)) | Err(_) => return "closed".to_string(),
                    Ok(_) => {}
                }
            }
            "closed".to_string()
        };
        tokio::time::timeout(limit, read).await.ok()
    }
}

/// `count` distinct blocks of `size` bytes, numbered from `from`.
pub fn blocks(from: u64, count: usize, size: usize) -> Vec<Block> {
    (from..from + count as u64)
        .filter_map(|i| {
            let mut b = vec![0x5a; size.max(8)];
            b[..8].copy_from_slice(&i.to_be_bytes());
            Block::new(b).ok()
        })
        .collect()
}

/// `Store` messages carrying `blocks`, as many to a message as the wire
/// allows.
pub fn store_messages(blocks: &[Block]) -> Vec<Message> {
    blocks
        .chunks(MAX_ITEMS.min(16))
        .map(|c| Message::Store {
            items: c
                .iter()
                .map(|b| ItemBytes::Block(b.bytes().to_vec()))
                .collect(),
        })
        .collect()
}

/// A version-1 `text/plain` object of `content` under `path`, signed by
/// `key` (the honest peers' objects).
pub fn object(key: &SigningKey, path: &str, content: &[u8]) -> SignedObject {
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    SignedObject::sign(
        ContentObject {
            name: Name::parse(&format!("/{publisher}{path}")).expect("a valid name"),
            version: 1,
            content_type: "text/plain".into(),
            created: 0,
            freshness: None,
            payload: Payload::Inline(content.to_vec()),
        },
        key,
    )
    .expect("a small object")
}

/// A validly signed object under `path` whose manifest declares the most
/// content an object may (16,384 blocks of 1 MiB: 16 GiB) in blocks that
/// exist nowhere.
pub fn oversized_manifest(key: &SigningKey, path: &str) -> SignedObject {
    let size = MAX_BLOCK_SIZE as u32;
    let refs: Vec<BlockRef> = (0..MAX_BLOCKS as u64)
        .map(|i| BlockRef {
            hash: Hash::of(&i.to_be_bytes()),
            size,
        })
        .collect();
    let total = refs.len() as u64 * u64::from(size);
    let manifest = Manifest::new(total, refs).expect("a manifest within the limits");
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let name = Name::parse(&format!("/{publisher}{path}")).expect("a valid name");
    SignedObject::sign(
        ContentObject {
            name,
            version: 1,
            content_type: "application/octet-stream".into(),
            created: 0,
            freshness: None,
            payload: Payload::Manifest(manifest),
        },
        key,
    )
    .expect("an object within the limits")
}

/// The gateway's `/metrics`, by name (labels and comments left out).
pub fn metrics(http_url: &str) -> HashMap<String, u64> {
    let body = ureq::get(&format!("{http_url}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Resident memory of process `pid` in bytes (Linux), 0 if unknown.
pub fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// A reply to a request `origin` never made, for node `to`, under a
/// guessed request id: what a peer that has not seen a request can try.
pub fn forged_reply(to: RingId, from: RingId, id: u64, body: Body) -> Message {
    Message::Routed(Routed {
        dest: Dest::Node(to),
        origin: from,
        id,
        hops: 1,
        body,
    })
}

/// The `n`-th guess of a request id: small counters (what a node numbering
/// its requests from 0 or from its start time would use) mixed with
/// values spread over the whole range.
pub fn guessed_id(n: u64) -> u64 {
    if n % 2 == 0 {
        n / 2
    } else {
        let h = Hash::of(&n.to_be_bytes());
        u64::from_be_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
    }
}
