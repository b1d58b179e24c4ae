//! Writes `spec/vectors/` from fixed seeds.
//!
//! Run `cargo run -p icn-tests --bin gen-vectors` after a deliberate change to
//! the spec. Output is deterministic (ed25519 signatures and CBOR encodings
//! both are), and the tests in `icn-core/tests/vectors.rs` re-derive every
//! valid vector from its description, so a code change that alters the wire
//! format fails the tests until the spec and the vectors are updated together.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use ciborium::value::{Integer, Value};
use ed25519_dalek::{Signer, SigningKey};
use icn_core::block::chunk;
use icn_core::object::SIGNATURE_TAG;
use icn_core::{ContentObject, Name, Payload, PublisherId, SignedObject};
use serde_json::{json, Value as Json};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    for sub in ["objects", "invalid", "blocks"] {
        let dir = root.join(sub);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
    }
    write_json(&root.join("names.json"), &names());
    let (objects, base) = objects(&root);
    write_json(&root.join("objects.json"), &objects);
    write_json(&root.join("invalid.json"), &invalid(&root, &base));
    write_json(&root.join("messages.json"), &messages());
    write_json(&root.join("links.json"), &links());
    write_json(&root.join("frames.json"), &frames());
    println!("wrote {}", root.display());
}

fn write_json(path: &Path, v: &Json) {
    fs::write(path, serde_json::to_string_pretty(v).unwrap() + "\n").unwrap();
}

/// spec/link.md: signed signals, the transcript, an authentication chunk,
/// and how a 40,000-byte ring message is chunked.
fn links() -> Json {
    let case = icn_tests::vectors::link_case();
    let signals: Vec<Json> = case
        .signals
        .iter()
        .map(|(name, s)| json!({ "name": name, "sdp": s.sdp, "hex": hex::encode(s.encode()) }))
        .collect();
    let message: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let chunks = icn_core::link::chunks(&message);
    json!({
        "about": "gateway key seed 0x01; node A seed 0x02, id 0xaa.., node B seed 0x03, id 0xbb..; certificates expire at 2^40 ms",
        "signals": signals,
        "transcript": {
            "offerer": case.transcript.offerer.to_hex(),
            "answerer": case.transcript.answerer.to_hex(),
            "offer_fingerprint": case.transcript.offer_fingerprint,
            "answer_fingerprint": case.transcript.answer_fingerprint,
        },
        "auth_chunk_by_b_hex": hex::encode(case.auth.to_chunk()),
        "chunking": {
            "message": "40000 bytes, byte i = i mod 251",
            "chunk_lengths": chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            "chunk_headers": chunks.iter().map(|c| c[0]).collect::<Vec<_>>(),
        },
    })
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn publisher(k: &SigningKey) -> String {
    PublisherId::from_key(k.verifying_key()).to_text()
}

fn names() -> Json {
    let pk = publisher(&key(1));
    let valid_uris = [
        format!("/{pk}/blog/2026/hello"),
        "/a".to_string(),
        "/alice/blog/h%c3%a9llo%20world".to_string(),
        "/alice/héllo".to_string(),
        "/x/%2F%25%3F%23/~._-".to_string(),
        format!("/{}", "z".repeat(255)),
        format!("/{}", vec!["q"; 32].join("/")),
    ];
    let valid: Vec<Json> = valid_uris
        .iter()
        .map(|uri| {
            let n = Name::parse(uri).unwrap();
            json!({
                "uri": uri,
                "canonical": n.to_uri(),
                "components_hex": n.components().iter().map(hex::encode).collect::<Vec<_>>(),
                "canonical_bytes_hex": hex::encode(n.canonical_bytes()),
                "ring_key": n.ring_key().to_hex(),
            })
        })
        .collect();
    let invalid_cases = [
        ("", "no-leading-slash"),
        ("blog/x", "no-leading-slash"),
        ("/", "empty"),
        ("/a//b", "empty-component"),
        ("/a/b/", "empty-component"),
        ("/a/.", "dot-component"),
        ("/a/%2E%2e", "dot-component"),
        ("/a/%g1", "bad-escape"),
        ("/a/%", "bad-escape"),
        ("/a?x=1", "bad-character"),
        ("/a#frag", "bad-character"),
        ("/a\u{7f}", "bad-character"),
    ];
    let mut invalid: Vec<Json> = invalid_cases
        .iter()
        .map(|(uri, code)| json!({"uri": uri, "error": code}))
        .collect();
    invalid.push(json!({"uri": format!("/{}", "z".repeat(256)), "error": "component-too-long"}));
    invalid.push(json!({"uri": "/q".repeat(33), "error": "too-many-components"}));
    invalid.push(json!({"uri": format!("/{}", vec!["y".repeat(250); 5].join("/")), "error": "name-too-long"}));
    for v in &invalid {
        let uri = v["uri"].as_str().unwrap();
        let got = Name::parse(uri).unwrap_err().code();
        assert_eq!(got, v["error"].as_str().unwrap(), "{uri}");
    }
    json!({"valid": valid, "invalid": invalid})
}

struct Spec {
    file: &'static str,
    seed: u8,
    path: &'static str,
    version: u64,
    content_type: &'static str,
    created: u64,
    freshness: Option<u64>,
    content: Vec<u8>,
    block_size: Option<usize>,
}

fn objects(root: &Path) -> (Json, SignedObject) {
    let specs = vec![
        Spec {
            file: "inline-hello.cbor",
            seed: 1,
            path: "/blog/2026/hello",
            version: 1,
            content_type: "text/plain; charset=utf-8",
            created: 1_790_000_000_000,
            freshness: Some(300),
            content: b"hello, icn\n".to_vec(),
            block_size: None,
        },
        Spec {
            file: "inline-empty-unicode-name.cbor",
            seed: 2,
            path: "/docs/h%C3%A9llo%20world",
            version: u64::MAX,
            content_type: "application/octet-stream",
            created: 0,
            freshness: None,
            content: vec![],
            block_size: None,
        },
        Spec {
            file: "manifest-3-blocks.cbor",
            seed: 3,
            path: "/video/clip",
            version: 1_790_000_000_123,
            content_type: "video/mp4",
            created: 1_790_000_000_123,
            freshness: Some(0),
            content: (0u8..40).collect(),
            block_size: Some(16),
        },
    ];
    let mut out = Vec::new();
    let mut first = None;
    for s in specs {
        let k = key(s.seed);
        let name = Name::parse(s.path)
            .unwrap()
            .prefixed(publisher(&k).as_bytes())
            .unwrap();
        let (payload, blocks) = match s.block_size {
            None => (Payload::Inline(s.content.clone()), vec![]),
            Some(bs) => {
                let (m, blocks) = chunk(&s.content, bs).unwrap();
                for b in &blocks {
                    fs::write(root.join("blocks").join(b.hash().to_hex()), b.bytes()).unwrap();
                }
                (
                    Payload::Manifest(m),
                    blocks.iter().map(|b| b.hash().to_hex()).collect(),
                )
            }
        };
        let obj = ContentObject {
            name,
            version: s.version,
            content_type: s.content_type.into(),
            created: s.created,
            freshness: s.freshness,
            payload,
        };
        let signed = SignedObject::sign(obj, &k).unwrap();
        fs::write(root.join("objects").join(s.file), signed.encoded()).unwrap();
        out.push(json!({
            "file": s.file,
            "secret_key_hex": hex::encode(k.to_bytes()),
            "publisher": publisher(&k),
            "name": signed.name().to_uri(),
            "ring_key": signed.name().ring_key().to_hex(),
            "version": s.version,
            "content_type": s.content_type,
            "created": s.created,
            "freshness": s.freshness,
            "content_hex": hex::encode(&s.content),
            "block_size": s.block_size,
            "blocks": blocks,
            "hash": signed.hash().to_hex(),
        }));
        first.get_or_insert(signed);
    }
    (Json::Array(out), first.unwrap())
}

fn uint(v: u64) -> Value {
    Value::Integer(Integer::from(v))
}

fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

fn envelope(body: &[u8], sig: &[u8]) -> Vec<u8> {
    enc(&Value::Map(vec![
        (uint(1), Value::Bytes(body.to_vec())),
        (uint(2), Value::Bytes(sig.to_vec())),
    ]))
}

fn signed_envelope(k: &SigningKey, body: &[u8]) -> Vec<u8> {
    let mut msg = SIGNATURE_TAG.to_vec();
    msg.extend_from_slice(body);
    envelope(body, &k.sign(&msg).to_bytes())
}

/// The fields of a valid body for key `k`, to be altered one at a time.
fn body_fields(k: &SigningKey) -> Vec<(u64, Value)> {
    let name = Name::parse("/blog/x")
        .unwrap()
        .prefixed(publisher(k).as_bytes())
        .unwrap();
    vec![
        (0, uint(1)),
        (
            1,
            Value::Array(
                name.components()
                    .iter()
                    .map(|c| Value::Bytes(c.clone()))
                    .collect(),
            ),
        ),
        (2, uint(5)),
        (3, Value::Text("text/plain".into())),
        (4, uint(1_790_000_000_000)),
        (6, Value::Bytes(b"payload".to_vec())),
        (7, Value::Bytes(k.verifying_key().to_bytes().to_vec())),
    ]
}

fn body_with(k: &SigningKey, key: u64, value: Option<Value>) -> Vec<u8> {
    let mut fields = body_fields(k);
    fields.retain(|(n, _)| *n != key);
    if let Some(v) = value {
        fields.push((key, v));
    }
    fields.sort_by_key(|(n, _)| *n);
    enc(&Value::Map(
        fields.into_iter().map(|(n, v)| (uint(n), v)).collect(),
    ))
}

fn invalid(root: &Path, base: &SignedObject) -> Json {
    let k = key(9);
    let other = key(10);
    let good = base.encoded().to_vec();
    let body = base.body_bytes().to_vec();
    let sig = &good[good.len() - 64..];
    let mut cases: Vec<(&str, &str, &str, Vec<u8>)> = Vec::new();
    let mut add = |file, code, reason, bytes| cases.push((file, code, reason, bytes));

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    add(
        "bad-signature.cbor",
        "bad-signature",
        "last signature byte flipped",
        flipped,
    );
    let mut payload_flip = good.clone();
    let pos = payload_flip.windows(5).position(|w| w == b"hello").unwrap();
    payload_flip[pos] ^= 0x20;
    add(
        "tampered-content.cbor",
        "bad-signature",
        "one byte of the inline content changed",
        payload_flip,
    );
    add(
        "publisher-mismatch.cbor",
        "publisher-mismatch",
        "name under key 9's publisher id, body key and signature by key 10",
        {
            let mut fields = body_fields(&k);
            fields[6].1 = Value::Bytes(other.verifying_key().to_bytes().to_vec());
            let b = enc(&Value::Map(
                fields.into_iter().map(|(n, v)| (uint(n), v)).collect(),
            ));
            signed_envelope(&other, &b)
        },
    );
    add(
        "truncated.cbor",
        "malformed",
        "valid object missing its last 10 bytes",
        good[..good.len() - 10].to_vec(),
    );
    add("empty.cbor", "malformed", "zero bytes", vec![]);
    add(
        "trailing-byte.cbor",
        "trailing-bytes",
        "valid object followed by 0x00",
        [good.clone(), vec![0]].concat(),
    );
    add(
        "non-canonical-length.cbor",
        "non-canonical",
        "body length written with a 2-byte argument",
        {
            let mut v = vec![0xa2, 0x01, 0x59];
            v.extend_from_slice(&(body.len() as u16).to_be_bytes());
            v.extend_from_slice(&body);
            v.extend_from_slice(&[0x02, 0x58, 0x40]);
            v.extend_from_slice(sig);
            v
        },
    );
    add(
        "indefinite-map.cbor",
        "non-canonical",
        "envelope as an indefinite-length map",
        {
            let mut v = good.clone();
            v[0] = 0xbf;
            v.push(0xff);
            v
        },
    );
    add(
        "keys-out-of-order.cbor",
        "non-canonical",
        "signature (key 2) before body (key 1)",
        {
            enc(&Value::Map(vec![
                (uint(2), Value::Bytes(sig.to_vec())),
                (uint(1), Value::Bytes(body.clone())),
            ]))
        },
    );
    add(
        "duplicate-key.cbor",
        "duplicate-key",
        "envelope with key 1 twice",
        {
            enc(&Value::Map(vec![
                (uint(1), Value::Bytes(body.clone())),
                (uint(1), Value::Bytes(body.clone())),
                (uint(2), Value::Bytes(sig.to_vec())),
            ]))
        },
    );
    add(
        "huge-length.cbor",
        "malformed",
        "byte string claiming 2^32 bytes",
        vec![0xa1, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00],
    );
    add(
        "huge-array.cbor",
        "malformed",
        "array claiming 2^64-1 items",
        vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    add(
        "deep-nesting.cbor",
        "malformed",
        "arrays nested 64 deep",
        [vec![0x81; 64], vec![0x00]].concat(),
    );
    add(
        "wrong-type-signature.cbor",
        "wrong-type",
        "signature as a text string",
        {
            enc(&Value::Map(vec![
                (uint(1), Value::Bytes(body.clone())),
                (uint(2), Value::Text("sig".into())),
            ]))
        },
    );
    add(
        "signature-63-bytes.cbor",
        "bad-signature-length",
        "signature one byte short",
        envelope(&body, &sig[..63]),
    );
    add(
        "signature-65-bytes.cbor",
        "bad-signature-length",
        "signature one byte long",
        envelope(&body, &[sig, &[0]].concat()),
    );
    add(
        "missing-signature.cbor",
        "missing-field",
        "envelope without key 2",
        enc(&Value::Map(vec![(uint(1), Value::Bytes(body.clone()))])),
    );
    add(
        "unknown-envelope-key.cbor",
        "unknown-field",
        "envelope with an extra key 3",
        {
            let mut v = good.clone();
            v[0] = 0xa3;
            v.extend_from_slice(&[0x03, 0x00]);
            v
        },
    );
    add(
        "float-version.cbor",
        "unsupported",
        "version as a half-precision float",
        signed_envelope(&k, &body_with(&k, 2, Some(Value::Float(1.0)))),
    );
    add(
        "unsupported-format.cbor",
        "unsupported-format",
        "format 2",
        signed_envelope(&k, &body_with(&k, 0, Some(uint(2)))),
    );
    add(
        "missing-version.cbor",
        "missing-field",
        "body without key 2",
        signed_envelope(&k, &body_with(&k, 2, None)),
    );
    add(
        "unknown-body-key.cbor",
        "unknown-field",
        "body with key 8",
        signed_envelope(&k, &body_with(&k, 8, Some(uint(0)))),
    );
    add("negative-version.cbor", "wrong-type", "version -1", {
        signed_envelope(
            &k,
            &body_with(&k, 2, Some(Value::Integer(Integer::from(-1)))),
        )
    });
    add(
        "dot-dot-name.cbor",
        "bad-name",
        "name with a '..' component",
        {
            let n = vec![
                Value::Bytes(publisher(&k).into_bytes()),
                Value::Bytes(b"..".to_vec()),
            ];
            signed_envelope(&k, &body_with(&k, 1, Some(Value::Array(n))))
        },
    );
    add(
        "name-33-components.cbor",
        "bad-name",
        "name with 33 components",
        {
            let mut n = vec![Value::Bytes(publisher(&k).into_bytes())];
            n.extend((0..32).map(|_| Value::Bytes(b"q".to_vec())));
            signed_envelope(&k, &body_with(&k, 1, Some(Value::Array(n))))
        },
    );
    add(
        "name-component-256.cbor",
        "bad-name",
        "name component of 256 bytes",
        {
            let n = vec![
                Value::Bytes(publisher(&k).into_bytes()),
                Value::Bytes(vec![b'a'; 256]),
            ];
            signed_envelope(&k, &body_with(&k, 1, Some(Value::Array(n))))
        },
    );
    add(
        "content-type-newline.cbor",
        "bad-content-type",
        "content type with CR LF",
        {
            signed_envelope(
                &k,
                &body_with(&k, 3, Some(Value::Text("text/html\r\nX: y".into()))),
            )
        },
    );
    add(
        "manifest-size-mismatch.cbor",
        "bad-manifest",
        "manifest total 10, blocks sum to 16",
        {
            let m = Value::Map(vec![
                (uint(0), uint(10)),
                (
                    uint(1),
                    Value::Array(vec![Value::Array(vec![
                        Value::Bytes(vec![7; 32]),
                        uint(16),
                    ])]),
                ),
            ]);
            signed_envelope(&k, &body_with(&k, 6, Some(m)))
        },
    );
    add(
        "manifest-no-blocks.cbor",
        "bad-manifest",
        "manifest with an empty block list",
        {
            let m = Value::Map(vec![(uint(0), uint(0)), (uint(1), Value::Array(vec![]))]);
            signed_envelope(&k, &body_with(&k, 6, Some(m)))
        },
    );
    add(
        "bad-publisher-key.cbor",
        "bad-publisher-key",
        "32 bytes that are not an ed25519 point",
        {
            let not_a_point = (0u8..=255)
                .map(|i| [i; 32])
                .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
                .unwrap();
            signed_envelope(
                &k,
                &body_with(&k, 7, Some(Value::Bytes(not_a_point.to_vec()))),
            )
        },
    );
    add(
        "small-order-key.cbor",
        "bad-signature",
        "publisher key is the identity point (small order); R is the identity \
         and S is 0, which RFC 8032's equation without the small-order check accepts",
        {
            let mut identity = [0u8; 32];
            identity[0] = 1;
            let id = PublisherId::from_key_bytes(&identity).unwrap().to_text();
            let name = Name::parse("/blog/x")
                .unwrap()
                .prefixed(id.as_bytes())
                .unwrap();
            let mut fields = body_fields(&k);
            fields[1].1 = Value::Array(
                name.components()
                    .iter()
                    .map(|c| Value::Bytes(c.clone()))
                    .collect(),
            );
            fields[6].1 = Value::Bytes(identity.to_vec());
            let b = enc(&Value::Map(
                fields.into_iter().map(|(n, v)| (uint(n), v)).collect(),
            ));
            let mut sig = [0u8; 64];
            sig[0] = 1;
            envelope(&b, &sig)
        },
    );
    add(
        "non-canonical-s.cbor",
        "bad-signature",
        "the valid signature with the group order L added to S",
        {
            const L: [u8; 32] = [
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
                0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
            ];
            let mut s2 = sig.to_vec();
            let mut carry = 0u16;
            for i in 0..32 {
                let v = u16::from(s2[32 + i]) + u16::from(L[i]) + carry;
                s2[32 + i] = v as u8;
                carry = v >> 8;
            }
            envelope(&body, &s2)
        },
    );
    add(
        "too-large.cbor",
        "too-large",
        "1 MiB + 1 byte",
        vec![0u8; 1024 * 1024 + 1],
    );

    let mut index = Vec::new();
    for (file, code, reason, bytes) in cases {
        let got = SignedObject::decode(&bytes).unwrap_err();
        assert_eq!(got.code(), code, "{file}: {got}");
        fs::write(root.join("invalid").join(file), &bytes).unwrap();
        index.push(json!({"file": file, "error": code, "reason": reason}));
    }
    Json::Array(index)
}

/// `{"valid": [{name, hex}], "invalid": [{name, hex, reason}]}` for a codec:
/// its named samples encoded, and invalid inputs it must refuse.
fn codec_vectors<T>(
    samples: Vec<(&str, T)>,
    invalid: Vec<(&str, String, &str)>,
    encode: impl Fn(&T) -> Vec<u8>,
    refuses: impl Fn(&[u8]) -> bool,
) -> Json {
    let valid: Vec<Json> = samples
        .iter()
        .map(|(name, v)| json!({"name": name, "hex": hex::encode(encode(v))}))
        .collect();
    let invalid: Vec<Json> = invalid
        .into_iter()
        .map(|(name, hex, reason)| {
            assert!(refuses(&hex::decode(&hex).unwrap()), "{name}");
            json!({"name": name, "hex": hex, "reason": reason})
        })
        .collect();
    json!({"valid": valid, "invalid": invalid})
}

/// spec/bootstrap.md: bootstrap frames (the ICE server list).
fn frames() -> Json {
    use icn_core::bootstrap::Frame;
    codec_vectors(
        icn_tests::vectors::sample_frames(),
        icn_tests::vectors::invalid_frames(),
        Frame::encode,
        |b| Frame::decode(b).is_err(),
    )
}

fn messages() -> Json {
    use icn_core::wire::Message;
    codec_vectors(
        icn_tests::vectors::sample_messages(),
        icn_tests::vectors::invalid_messages(),
        Message::encode,
        |b| Message::decode(b).is_err(),
    )
}
