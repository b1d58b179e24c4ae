use super::*;
use proptest::prelude::*;

fn id(b: u8) -> RingId {
    RingId([b; 32])
}

fn samples() -> Vec<Message> {
    let routed = |dest, body| {
        Message::Routed(Routed {
            dest,
            origin: id(9),
            id: u64::MAX,
            hops: 3,
            body,
        })
    };
    vec![
        Message::JoinRequest,
        Message::JoinReply {
            successors: vec![id(1), id(2)],
        },
        Message::GetState,
        Message::State {
            predecessor: None,
            successors: vec![],
        },
        Message::State {
            predecessor: Some(id(4)),
            successors: vec![id(5)],
        },
        Message::Notify,
        Message::Ping { nonce: 7 },
        Message::Pong { nonce: 1 << 40 },
        Message::Digest {
            start: id(7),
            end: id(8),
            entries: vec![(id(1), Hash([2; 32]))],
        },
        Message::Want { keys: vec![id(3)] },
        Message::Store {
            items: vec![ItemBytes::Object(vec![1, 2]), ItemBytes::Block(vec![3])],
        },
        Message::Leaving {
            predecessor: Some(id(1)),
            successors: vec![id(2)],
        },
        Message::Bye,
        routed(Dest::Key(id(1)), Body::FindSuccessor),
        routed(
            Dest::Node(id(1)),
            Body::Successor {
                node: id(2),
                successors: vec![id(3)],
            },
        ),
        routed(
            Dest::Key(id(1)),
            Body::Get {
                block: true,
                forwarded: 2,
            },
        ),
        routed(
            Dest::Node(id(1)),
            Body::GetReply {
                item: None,
                hops: 4,
            },
        ),
        routed(
            Dest::Node(id(1)),
            Body::GetReply {
                item: Some(ItemBytes::Block(vec![0; 10])),
                hops: 4,
            },
        ),
        routed(
            Dest::Key(id(1)),
            Body::Put {
                item: ItemBytes::Object(vec![5]),
            },
        ),
        routed(
            Dest::Node(id(1)),
            Body::PutReply {
                error: Some("stale".into()),
                hops: 1,
            },
        ),
        routed(
            Dest::Node(id(1)),
            Body::PutReply {
                error: None,
                hops: 1,
            },
        ),
        routed(Dest::Node(id(1)), Body::App(b"hi".to_vec())),
        routed(Dest::Node(id(1)), Body::Signal(b"sdp".to_vec())),
        routed(Dest::Node(id(1)), Body::Unreachable),
    ]
}

#[test]
fn every_message_round_trips() {
    for m in samples() {
        let bytes = m.encode();
        assert_eq!(Message::decode(&bytes), Ok(m.clone()), "{m:?}");
        // Every strict prefix is refused.
        for len in 0..bytes.len() {
            assert!(Message::decode(&bytes[..len]).is_err());
        }
    }
}

#[test]
fn limits_and_unknown_tags() {
    let too_many = Message::JoinReply {
        successors: vec![id(1); MAX_SUCCESSORS + 1],
    };
    assert!(Message::decode(&too_many.encode()).is_err());
    assert_eq!(
        Message::decode(&[0x81, 0x18, 99]),
        Err(WireError::UnknownTag(99))
    );
    assert_eq!(
        Message::decode(&[0x82, 0x00, 0x00]),
        Err(WireError::Arity(0))
    );
    assert!(Message::decode(&vec![0u8; MAX_MESSAGE_SIZE + 1]).is_err());
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn mutations_never_panic(i in any::<prop::sample::Index>(), which in any::<prop::sample::Index>(), b in any::<u8>()) {
        let all = samples();
        let mut bytes = which.get(&all).encode();
        let at = i.index(bytes.len());
        bytes[at] = b;
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes);
        }
    }
}
