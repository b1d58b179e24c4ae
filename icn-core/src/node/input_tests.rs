//! Any sequence of peer input leaves a node sound.
//!
//! Decoders are fuzzed on bytes; this drives the state machine behind them
//! with well-formed messages that hostile or confused peers could send in
//! any order: lists naming the node itself or repeating ids, unasked
//! answers, replies to requests never made, links coming and going, mixed
//! with its own user's gets, messages and leaving, and the data plane:
//! items pushed, put and answered, digests and wants, valid or not. Ids come
//! from a pool of six, so the messages meet the node's own state often. After
//! every input the node must not panic, must come to rest (a bounded number
//! of outputs before its next timeout), must keep its ring state
//! well-formed, and its store must stay within its limits.

use proptest::prelude::*;

use super::*;
use crate::hash::Hash;
use crate::wire::{Body, Dest, ItemBytes, Routed};

/// The store limits of the node under test: small, so that inputs reach them.
fn limits() -> Limits {
    Limits {
        store_bytes: 3000,
        store_items: 6,
        answer_bytes: 2000,
        ..Limits::default()
    }
}

/// Block `i` of a pool of 40 (up to 900 bytes).
fn block(i: u32) -> Block {
    let mut b = vec![0u8; 4 + 100 * (i as usize % 9)];
    b[..4].copy_from_slice(&i.to_be_bytes());
    Block::new(b).unwrap()
}

/// An item as a peer sends it: a block of the pool, or bytes that are no
/// valid object.
fn item() -> impl Strategy<Value = ItemBytes> {
    prop_oneof![
        6 => (0..40u32).prop_map(|i| ItemBytes::Block(block(i).bytes().to_vec())),
        1 => Just(ItemBytes::Object(vec![0xa0])),
    ]
}

/// A key: one of a pooled block, or one of the id pool.
fn key() -> impl Strategy<Value = RingId> {
    prop_oneof![
        (0..40u32).prop_map(|i| RingId::from_hash(block(i).hash())),
        any_id(),
    ]
}

const POOL: [u8; 6] = [0x10, 0x30, 0x50, 0x70, 0x90, 0xd0];
/// The node under test is `id(ME)`.
const ME: usize = 2;

fn id(i: usize) -> RingId {
    RingId([POOL[i % POOL.len()]; 32])
}

fn any_id() -> impl Strategy<Value = RingId> {
    (0..POOL.len()).prop_map(id)
}

/// A peer: any id of the pool but the node's own.
fn peer() -> impl Strategy<Value = RingId> {
    (0..POOL.len() - 1).prop_map(|i| id(if i >= ME { i + 1 } else { i }))
}

fn ids() -> impl Strategy<Value = Vec<RingId>> {
    prop::collection::vec(any_id(), 0..5)
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::FindSuccessor),
        (any_id(), ids()).prop_map(|(node, successors)| Body::Successor { node, successors }),
        (any::<bool>(), 0..3u8).prop_map(|(block, forwarded)| Body::Get { block, forwarded }),
        (0..70u8).prop_map(|hops| Body::GetReply { item: None, hops }),
        (item(), 0..70u8).prop_map(|(item, hops)| Body::GetReply {
            item: Some(item),
            hops
        }),
        item().prop_map(|item| Body::Put { item }),
        (0..70u8).prop_map(|hops| Body::PutReply { error: None, hops }),
        Just(Body::App(vec![1, 2, 3])),
        Just(Body::Signal(vec![4])),
        Just(Body::Unreachable),
    ]
}

fn routed() -> impl Strategy<Value = Routed> {
    (any::<bool>(), any_id(), any_id(), 0..4u64, 0..70u8, body()).prop_map(
        |(key, to, origin, id, hops, body)| Routed {
            dest: if key { Dest::Key(to) } else { Dest::Node(to) },
            origin,
            id,
            hops,
            body,
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::JoinRequest),
        ids().prop_map(|successors| Message::JoinReply { successors }),
        Just(Message::GetState),
        (prop::option::of(any_id()), ids()).prop_map(|(predecessor, successors)| {
            Message::State {
                predecessor,
                successors,
            }
        }),
        Just(Message::Notify),
        (0..3u64).prop_map(|nonce| Message::Ping { nonce }),
        (0..3u64).prop_map(|nonce| Message::Pong { nonce }),
        (prop::option::of(any_id()), ids()).prop_map(|(predecessor, successors)| {
            Message::Leaving {
                predecessor,
                successors,
            }
        }),
        Just(Message::Bye),
        routed().prop_map(Message::Routed),
        prop::collection::vec(item(), 0..6).prop_map(|items| Message::Store { items }),
        prop::collection::vec(key(), 0..10).prop_map(|keys| Message::Want { keys }),
        (
            any_id(),
            any_id(),
            prop::collection::vec((key(), 0..40u32), 0..8)
        )
            .prop_map(|(start, end, e)| Message::Digest {
                start,
                end,
                entries: e
                    .into_iter()
                    .map(|(k, i)| (k, block(i).hash()))
                    .collect::<Vec<(RingId, Hash)>>(),
            }),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Receive(RingId, Message),
    Up(RingId),
    Down(RingId),
    Lost(RingId),
    /// Milliseconds to let pass, timeouts included.
    Wait(u64),
    /// The node's own user: a get, a message to a node, a hang-up, leaving.
    Get,
    Send(RingId),
    HangUp(RingId),
    Leave,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (peer(), message()).prop_map(|(p, m)| Op::Receive(p, m)),
        2 => peer().prop_map(Op::Up),
        1 => peer().prop_map(Op::Down),
        1 => peer().prop_map(Op::Lost),
        2 => (1..5_000u64).prop_map(Op::Wait),
        1 => Just(Op::Get),
        1 => any_id().prop_map(Op::Send),
        1 => peer().prop_map(Op::HangUp),
        1 => Just(Op::Leave),
    ]
}

/// Drains the outputs up to the next timeout and returns it. What the node
/// sends must go to another node and decode; it dials only other nodes.
fn settle(n: &mut Node) -> Result<Time, TestCaseError> {
    for _ in 0..10_000 {
        match n.poll_output() {
            Output::Timeout(at) => return Ok(at),
            Output::Transmit(t) => {
                prop_assert_ne!(t.to, id(ME), "sent to itself");
                prop_assert!(
                    Message::decode(&t.bytes).is_ok(),
                    "sent bytes that do not decode"
                );
            }
            Output::Event(Event::Dial(p) | Event::Hangup(p)) => {
                prop_assert_ne!(p, id(ME), "dialled or hung up on itself");
            }
            Output::Event(_) => {}
        }
    }
    Err(TestCaseError::fail("no rest after 10,000 outputs"))
}

fn check(n: &Node) -> Result<(), TestCaseError> {
    let me = id(ME);
    let s = n.successors();
    prop_assert!(!s.contains(&me), "itself among its successors: {s:?}");
    prop_assert!(
        s.len() <= Config::default().successors,
        "{} successors",
        s.len()
    );
    for w in s.windows(2) {
        prop_assert!(
            me.distance_to(w[0]) < me.distance_to(w[1]),
            "successors out of clockwise order or repeated: {s:?}"
        );
    }
    prop_assert_ne!(n.predecessor(), Some(me));
    let (store, lim) = (n.store(), limits());
    prop_assert!(store.len() <= lim.store_items, "{} items", store.len());
    prop_assert!(store.bytes() <= lim.store_bytes, "{} bytes", store.bytes());
    Ok(())
}

proptest! {
    #[test]
    fn any_peer_input_leaves_the_node_sound(
        lone in any::<bool>(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let cfg = Config { limits: limits(), ..Config::default() };
        let mut n = Node::new(id(ME), cfg);
        let mut now: Time = 0;
        if lone {
            n.bootstrap(now);
        } else {
            n.handle_input(Input::LinkUp(now, id(0))).unwrap();
            n.join(now, id(0));
        }
        let mut next = settle(&mut n)?;
        for op in ops {
            now += 1;
            match op {
                Op::Receive(from, m) => {
                    n.handle_input(Input::Receive(now, from, &m.encode())).unwrap();
                }
                Op::Up(p) => n.handle_input(Input::LinkUp(now, p)).unwrap(),
                Op::Down(p) => n.handle_input(Input::LinkDown(now, p)).unwrap(),
                Op::Lost(p) => n.handle_input(Input::LinkLost(now, p)).unwrap(),
                Op::Wait(ms) => {
                    let until = now + ms;
                    while next <= until {
                        now = next.max(now);
                        n.handle_input(Input::Timeout(now)).unwrap();
                        next = settle(&mut n)?.max(now + 1);
                        check(&n)?;
                    }
                    now = until;
                }
                Op::Get => {
                    n.get(now, &crate::Name::parse("/alice/a").unwrap());
                }
                Op::Send(to) => {
                    n.send_message(now, to, vec![7]);
                }
                Op::HangUp(p) => n.hang_up(now, p),
                Op::Leave => n.leave(now),
            }
            next = settle(&mut n)?.max(now + 1);
            check(&n)?;
        }
    }
}
