//! The bounds of `limits.rs`: what a node stores, how much, and how much
//! it answers.

use super::*;
use crate::hash::Hash;
use crate::wire::ItemBytes;

const ME: RingId = RingId([0x80; 32]);

/// Node `ME` with eight successors one 256th of the ring apart (so its
/// replica arc spans 12 of those gaps), predecessor one gap before it.
fn node(limits: Limits) -> Node {
    let cfg = Config {
        limits,
        ..Config::default()
    };
    let succ: Vec<RingId> = (1..=8u8).map(|i| RingId([0x80 + i; 32])).collect();
    let pred = RingId([0x7f; 32]);
    let mut n = Node::new(ME, cfg);
    n.handle_input(Input::LinkUp(0, succ[0])).unwrap();
    n.join(0, succ[0]);
    let reply = Message::JoinReply { successors: succ };
    n.handle_input(Input::Receive(1, RingId([0x81; 32]), &reply.encode()))
        .unwrap();
    n.handle_input(Input::LinkUp(2, pred)).unwrap();
    n.handle_input(Input::Receive(3, pred, &Message::Notify.encode()))
        .unwrap();
    assert_eq!(n.predecessor(), Some(pred));
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
    n
}

/// Blocks of `size` bytes, numbered from `from`, whose keys lie (or, with
/// `inside` false, do not lie) within 12 gaps before `ME`.
fn blocks(from: u32, size: usize, inside: bool, count: usize) -> Vec<Block> {
    (from..)
        .map(|i| {
            let mut b = vec![0u8; size];
            b[..4].copy_from_slice(&i.to_be_bytes());
            Block::new(b).unwrap()
        })
        .filter(|b| {
            let top = RingId::from_hash(b.hash()).0[0];
            (0x74..0x80).contains(&top) == inside
        })
        .take(count)
        .collect()
}

fn store_msg(blocks: &[Block]) -> Vec<u8> {
    Message::Store {
        items: blocks
            .iter()
            .map(|b| ItemBytes::Block(b.bytes().to_vec()))
            .collect(),
    }
    .encode()
}

fn stored(n: &Node, b: &Block) -> bool {
    n.store().get(&RingId::from_hash(b.hash())).is_some()
}

#[test]
fn a_node_keeps_only_items_of_its_replica_arc() {
    let mut n = node(Limits::default());
    let (inside, outside) = (blocks(0, 64, true, 5), blocks(0, 64, false, 5));
    let peer = RingId([0x81; 32]);
    n.handle_input(Input::Receive(10, peer, &store_msg(&inside)))
        .unwrap();
    n.handle_input(Input::Receive(11, peer, &store_msg(&outside)))
        .unwrap();
    assert!(inside.iter().all(|b| stored(&n, b)));
    assert!(!outside.iter().any(|b| stored(&n, b)));
    assert_eq!(n.stats().refused.out_of_range, 5);
    assert_eq!(n.store().len(), 5);
}

#[test]
fn a_full_store_evicts_leftovers_first_and_then_refuses() {
    let mut n = node(Limits {
        store_items: 4,
        ..Limits::default()
    });
    // Two leftovers from an earlier ring, outside the arc.
    let old = blocks(1000, 64, false, 2);
    for b in &old {
        n.store_mut().put(Item::Block(b.clone()));
    }
    let new = blocks(0, 64, true, 6);
    let peer = RingId([0x81; 32]);
    n.handle_input(Input::Receive(10, peer, &store_msg(&new)))
        .unwrap();
    assert!(!old.iter().any(|b| stored(&n, b)), "leftovers kept");
    assert!(new[..4].iter().all(|b| stored(&n, b)));
    assert!(!new[4..].iter().any(|b| stored(&n, b)));
    assert_eq!(n.store().len(), 4);
    assert_eq!(n.stats().refused.full, 2);
}

#[test]
fn a_store_holds_at_most_its_bytes() {
    let mut n = node(Limits {
        store_bytes: 10_000,
        ..Limits::default()
    });
    let new = blocks(0, 3000, true, 5);
    n.handle_input(Input::Receive(10, RingId([0x81; 32]), &store_msg(&new)))
        .unwrap();
    assert_eq!(n.store().len(), 3);
    assert_eq!(n.store().bytes(), 9000);
}

/// Bytes of items `n` sent to `peer` up to its next timeout.
fn items_sent_to(n: &mut Node, peer: RingId) -> usize {
    let mut total = 0;
    while let Output::Transmit(t) = n.poll_output_or_timeout() {
        if t.to != peer {
            continue;
        }
        if let Ok(Message::Store { items }) = Message::decode(&t.bytes) {
            for i in items {
                let (ItemBytes::Object(b) | ItemBytes::Block(b)) = i;
                total += b.len();
            }
        }
    }
    total
}

impl Node {
    /// The next output as a transmit, or `Timeout` (events skipped).
    fn poll_output_or_timeout(&mut self) -> Output {
        loop {
            match self.poll_output() {
                Output::Event(_) => continue,
                o => return o,
            }
        }
    }
}

#[test]
fn answers_to_wants_are_paged_by_the_budget() {
    let mut n = node(Limits {
        answer_bytes: 10_000,
        ..Limits::default()
    });
    let held = blocks(0, 1000, true, 20);
    for b in &held {
        n.store_mut().put(Item::Block(b.clone()));
    }
    let keys: Vec<RingId> = held.iter().map(|b| RingId::from_hash(b.hash())).collect();
    let peer = RingId([0x81; 32]);
    let want = Message::Want { keys }.encode();
    n.handle_input(Input::Receive(10, peer, &want)).unwrap();
    assert_eq!(items_sent_to(&mut n, peer), 10_000);
    // The budget is spent: asking again within the period gets nothing...
    n.handle_input(Input::Receive(20, peer, &want)).unwrap();
    assert_eq!(items_sent_to(&mut n, peer), 0);
    // ...and the next page after it.
    let later = 10 + Config::default().sync_ms;
    n.handle_input(Input::Receive(later, peer, &want)).unwrap();
    assert_eq!(items_sent_to(&mut n, peer), 10_000);
}

#[test]
fn a_digest_does_not_make_a_node_want_keys_outside_its_arc() {
    let mut n = node(Limits::default());
    let (inside, outside) = (blocks(0, 64, true, 3), blocks(0, 64, false, 3));
    let entries: Vec<(RingId, Hash)> = inside
        .iter()
        .chain(&outside)
        .map(|b| (RingId::from_hash(b.hash()), b.hash()))
        .collect();
    let peer = RingId([0x7f; 32]);
    let digest = Message::Digest {
        start: ME,
        end: RingId([0x7f; 32]),
        entries,
    };
    n.handle_input(Input::Receive(10, peer, &digest.encode()))
        .unwrap();
    let mut wanted = Vec::new();
    while let Output::Transmit(t) = n.poll_output_or_timeout() {
        if let Ok(Message::Want { keys }) = Message::decode(&t.bytes) {
            wanted.extend(keys);
        }
    }
    wanted.sort();
    let mut expect: Vec<RingId> = inside.iter().map(|b| RingId::from_hash(b.hash())).collect();
    expect.sort();
    assert_eq!(wanted, expect);
}
