#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use ed25519_dalek::SigningKey;
use icn_core::block::BlockRef;
use icn_core::{ContentObject, Name, PublisherId};

use super::*;

/// Blocks by hash; a hash missing from the map fails.
struct Blocks(HashMap<Hash, Block>);

impl Fetch for Blocks {
    async fn fetch(&self, hash: Hash) -> Result<Block, String> {
        self.0.get(&hash).cloned().ok_or_else(|| "gone".to_string())
    }
}

/// Four blocks of 10 bytes (byte `i` of the content is `i`) and the
/// object naming them.
fn fixture() -> (Vec<Block>, Arc<SignedObject>) {
    let blocks: Vec<Block> = (0..4u8)
        .map(|b| Block::new((b * 10..b * 10 + 10).collect()).unwrap())
        .collect();
    let refs = blocks
        .iter()
        .map(|b| BlockRef {
            hash: b.hash(),
            size: 10,
        })
        .collect();
    let key = SigningKey::from_bytes(&[3; 32]);
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let o = SignedObject::sign(
        ContentObject {
            name: Name::parse(&format!("/{publisher}/f")).unwrap(),
            version: 1,
            content_type: "application/octet-stream".into(),
            created: 0,
            freshness: None,
            payload: Payload::Manifest(Manifest::new(40, refs).unwrap()),
        },
        &key,
    )
    .unwrap();
    (blocks, Arc::new(o))
}

async fn collect(p: Pieces) -> (Vec<u8>, Option<StreamError>) {
    let mut out = Vec::new();
    let mut p = p;
    while let Some(r) = p.next().await {
        match r {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[tokio::test]
async fn the_rest_of_a_range_comes_block_by_block() {
    let (blocks, o) = fixture();
    let fetch = Arc::new(Blocks(
        blocks.iter().map(|b| (b.hash(), b.clone())).collect(),
    ));
    // Bytes 15..33: the first piece (15..20) was sent; the rest starts at
    // block 2, offset 20.
    let (got, err) = collect(rest(fetch, o, 2, 20, (15, 33))).await;
    assert!(err.is_none());
    assert_eq!(got, (20..33).collect::<Vec<u8>>());
}

#[tokio::test]
async fn a_missing_block_ends_the_stream_with_its_hash() {
    let (blocks, o) = fixture();
    let missing = blocks[2].hash();
    let fetch = Arc::new(Blocks(
        blocks
            .iter()
            .filter(|b| b.hash() != missing)
            .map(|b| (b.hash(), b.clone()))
            .collect(),
    ));
    let (got, err) = collect(rest(fetch, o, 1, 10, (0, 40))).await;
    assert_eq!(got, (10..20).collect::<Vec<u8>>());
    assert!(matches!(err, Some(StreamError::Block { hash, .. }) if hash == missing));
}

#[test]
fn a_block_other_than_the_one_named_is_refused() {
    let b = Block::new(vec![1; 9]).unwrap();
    let named = |size| BlockRef {
        hash: b.hash(),
        size,
    };
    assert!(piece(&b, &named(10), 0, 0, 10).is_err());
    assert_eq!(piece(&b, &named(9), 100, 103, 105).unwrap(), vec![1, 1]);
    let other = BlockRef {
        hash: Hash::of(b"another"),
        size: 9,
    };
    assert!(piece(&b, &other, 0, 0, 9).is_err());
}
