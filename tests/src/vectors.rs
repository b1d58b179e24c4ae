//! Ring messages written to `spec/vectors/messages.json` by `gen-vectors`
//! and checked against it by the tests.

use icn_core::wire::{Body, Dest, ItemBytes, Message, Routed};
use icn_core::{Hash, RingId};

fn id(b: u8) -> RingId {
    RingId([b; 32])
}

/// Named sample messages, one or more of every kind.
pub fn sample_messages() -> Vec<(&'static str, Message)> {
    let routed = |dest, body| {
        Message::Routed(Routed {
            dest,
            origin: id(0x0a),
            id: 42,
            hops: 3,
            body,
        })
    };
    vec![
        ("join-request", Message::JoinRequest),
        (
            "join-reply",
            Message::JoinReply {
                successors: vec![id(1), id(2)],
            },
        ),
        ("get-state", Message::GetState),
        (
            "state",
            Message::State {
                predecessor: Some(id(3)),
                successors: vec![id(4)],
            },
        ),
        (
            "state-no-predecessor",
            Message::State {
                predecessor: None,
                successors: vec![],
            },
        ),
        ("notify", Message::Notify),
        ("ping", Message::Ping { nonce: 7 }),
        ("pong", Message::Pong { nonce: 7 }),
        (
            "digest",
            Message::Digest {
                start: id(5),
                end: id(6),
                entries: vec![(id(5), Hash([9; 32]))],
            },
        ),
        ("want", Message::Want { keys: vec![id(5)] }),
        (
            "store-block",
            Message::Store {
                items: vec![ItemBytes::Block(b"block".to_vec())],
            },
        ),
        (
            "leaving",
            Message::Leaving {
                predecessor: Some(id(3)),
                successors: vec![id(4)],
            },
        ),
        ("bye", Message::Bye),
        (
            "routed-find-successor",
            routed(Dest::Key(id(0x77)), Body::FindSuccessor),
        ),
        (
            "routed-successor",
            routed(
                Dest::Node(id(0x0b)),
                Body::Successor {
                    node: id(0x78),
                    successors: vec![id(0x79)],
                },
            ),
        ),
        (
            "routed-get",
            routed(
                Dest::Key(id(0x77)),
                Body::Get {
                    block: false,
                    forwarded: 0,
                },
            ),
        ),
        (
            "routed-get-reply-none",
            routed(
                Dest::Node(id(0x0b)),
                Body::GetReply {
                    item: None,
                    hops: 4,
                },
            ),
        ),
        (
            "routed-put-reply-stale",
            routed(
                Dest::Node(id(0x0b)),
                Body::PutReply {
                    error: Some("stale".into()),
                    hops: 2,
                },
            ),
        ),
        (
            "routed-app",
            routed(Dest::Node(id(0x0b)), Body::App(b"hello".to_vec())),
        ),
        (
            "routed-signal",
            routed(Dest::Node(id(0x0b)), Body::Signal(b"v=0".to_vec())),
        ),
        (
            "routed-unreachable",
            routed(Dest::Node(id(0x0a)), Body::Unreachable),
        ),
    ]
}

/// Invalid messages and why: `(name, hex, reason)`.
pub fn invalid_messages() -> Vec<(&'static str, String, &'static str)> {
    let too_many = Message::JoinReply {
        successors: vec![id(1); 33],
    }
    .encode();
    vec![
        ("unknown-tag", "8118c8".into(), "tag 200 is not a message"),
        ("wrong-arity", "820000".into(), "join-request with a field"),
        (
            "non-canonical-tag",
            "811800".into(),
            "tag 0 in a two-byte head",
        ),
        ("not-an-array", "a0".into(), "a map, not an array"),
        ("truncated", "8205".into(), "ping without its nonce bytes"),
        (
            "successor-list-33",
            hex::encode(too_many),
            "33 successors, limit 32",
        ),
        (
            "short-node-id",
            "82014141".into(),
            "join-reply with a 1-byte id",
        ),
    ]
}
