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
            "merge",
            Message::Merge {
                candidate: RingId([0x0d; 32]),
            },
        ),
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
        (
            "merge-short-candidate",
            "820d4141".into(),
            "merge with a 1-byte candidate",
        ),
    ]
}

/// The inputs of the direct-link vectors (`spec/vectors/links.json`): a
/// gateway key (seed 1) certifies two nodes (seeds 2 and 3, ids 0xaa… and
/// 0xbb…, expiry 2^40 ms); node A offers, node B answers.
pub struct LinkCase {
    /// Signals: (name, signal) — deterministic, ed25519 signatures included.
    pub signals: Vec<(&'static str, icn_core::link::Signal)>,
    /// The transcript both ends sign.
    pub transcript: icn_core::link::Transcript,
    /// B's authentication chunk.
    pub auth: icn_core::link::LinkAuth,
}

/// SDPs of the vectors (trimmed to the lines that matter).
pub const OFFER_SDP: &str =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 0A:1B:2C:3D\r\na=setup:actpass\r\n";
/// The answer's SDP.
pub const ANSWER_SDP: &str =
    "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 4E:5F:60:71\r\na=setup:active\r\n";

/// Builds the link vectors from fixed keys.
pub fn link_case() -> LinkCase {
    use ed25519_dalek::SigningKey;
    use icn_core::bootstrap::NodeCert;
    use icn_core::link::{sdp_fingerprint, LinkAuth, Signal, SignalKind, Transcript};
    let gw = SigningKey::from_bytes(&[1; 32]);
    let (ka, kb) = (
        SigningKey::from_bytes(&[2; 32]),
        SigningKey::from_bytes(&[3; 32]),
    );
    let expires = 1 << 40;
    let ca = NodeCert::issue(&gw, id(0xaa), ka.verifying_key().to_bytes(), expires);
    let cb = NodeCert::issue(&gw, id(0xbb), kb.verifying_key().to_bytes(), expires);
    let offer = Signal::sign(SignalKind::Offer, 7, id(0xbb), OFFER_SDP.into(), ca, &ka);
    let answer = Signal::sign(
        SignalKind::Answer,
        7,
        id(0xaa),
        ANSWER_SDP.into(),
        cb.clone(),
        &kb,
    );
    let transcript = Transcript {
        offerer: id(0xaa),
        answerer: id(0xbb),
        offer_fingerprint: sdp_fingerprint(OFFER_SDP).unwrap_or_default(),
        answer_fingerprint: sdp_fingerprint(ANSWER_SDP).unwrap_or_default(),
    };
    let auth = LinkAuth::sign(&transcript, cb, &kb);
    LinkCase {
        signals: vec![("offer", offer), ("answer", answer)],
        transcript,
        auth,
    }
}

/// Named sample bootstrap frames (spec/bootstrap.md): the ICE server list
/// with and without TURN credentials, and an empty one.
pub fn sample_frames() -> Vec<(&'static str, icn_core::bootstrap::Frame)> {
    use icn_core::bootstrap::Frame;
    use icn_core::ice::IceServer;
    vec![
        ("ice-servers-none", Frame::IceServers { servers: vec![] }),
        (
            "ice-servers-stun",
            Frame::IceServers {
                servers: vec![IceServer::stun("stun:203.0.113.1:8080")],
            },
        ),
        (
            "ice-servers-stun-and-turn",
            Frame::IceServers {
                servers: vec![
                    IceServer::stun("stun:203.0.113.1:8080"),
                    IceServer {
                        urls: vec![
                            "turn:203.0.113.1:3478".into(),
                            "turn:203.0.113.1:3478?transport=tcp".into(),
                        ],
                        // `EXPIRY:NODE`, and base64 of HMAC-SHA1 under the
                        // secret "s3cret" (coturn's use-auth-secret).
                        username: "1700000000:ab".into(),
                        credential: "tZGaATN13OEz2X8Mx0RAvpSRvDg=".into(),
                    },
                ],
            },
        ),
    ]
}

/// Invalid bootstrap frames and why: `(name, hex, reason)`.
pub fn invalid_frames() -> Vec<(&'static str, String, &'static str)> {
    // [8, [[urls, "", ""]]] with the given CBOR of `urls`.
    let one_server = |urls: &str| format!("82088183{urls}6060");
    let nine = format!("820889{}", "8381667374756e3a786060".repeat(9));
    vec![
        (
            "ice-url-not-stun-or-turn",
            one_server("81687474703a2f2f78"),
            "http://x is not a STUN or TURN URL",
        ),
        (
            "ice-server-without-url",
            one_server("80"),
            "a server needs a URL",
        ),
        (
            "ice-url-with-space",
            one_server("81677374756e3a6120"),
            "a URL of printable ASCII only",
        ),
        ("ice-too-many-servers", nine, "at most 8 servers"),
    ]
}

/// The vectors file `spec/vectors/{file}`.
pub fn read_vectors(file: &str) -> serde_json::Value {
    let path = format!("{}/../spec/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Checks a codec against `{"valid": [..], "invalid": [..]}` vectors: each
/// sample, in order and by name, encodes to its listed bytes and decodes
/// back to itself; each invalid input is refused.
pub fn check_codec_vectors<T: PartialEq + std::fmt::Debug>(
    v: &serde_json::Value,
    samples: Vec<(&str, T)>,
    invalid_count: usize,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Option<T>,
) {
    let hex_of = |case: &serde_json::Value| {
        hex::decode(case["hex"].as_str().unwrap_or_default()).unwrap_or_default()
    };
    let listed = v["valid"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), samples.len(), "valid vectors");
    for (case, (name, value)) in listed.iter().zip(samples) {
        assert_eq!(case["name"], name);
        let bytes = hex_of(case);
        assert_eq!(encode(&value), bytes, "{name}");
        assert_eq!(decode(&bytes), Some(value), "{name}");
    }
    let listed = v["invalid"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), invalid_count, "invalid vectors");
    for case in &listed {
        assert_eq!(decode(&hex_of(case)), None, "{}", case["name"]);
    }
}
