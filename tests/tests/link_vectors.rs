//! Direct-link vectors in `spec/vectors/links.json` (spec/link.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::SigningKey;
use icn_core::link::{chunks, Incoming, Reassembler, Signal};
use icn_core::RingId;
use icn_tests::vectors::link_case;

fn vectors() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/links.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn signals_and_authentication_match_the_vectors() {
    let v = vectors();
    let case = link_case();
    let trusted = [SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes()];
    let (a, b) = (RingId([0xaa; 32]), RingId([0xbb; 32]));
    let listed = v["signals"].as_array().unwrap();
    assert_eq!(listed.len(), case.signals.len());
    for (json, (name, signal)) in listed.iter().zip(&case.signals) {
        assert_eq!(json["name"], *name);
        let bytes = hex::decode(json["hex"].as_str().unwrap()).unwrap();
        assert_eq!(signal.encode(), bytes, "{name}");
        let decoded = Signal::decode(&bytes).unwrap();
        let (from, to) = if *name == "offer" { (a, b) } else { (b, a) };
        assert_eq!(decoded.verify(from, to, &trusted, 0), Ok(()), "{name}");
        assert!(
            decoded.verify(to, from, &trusted, 0).is_err(),
            "{name} reversed"
        );
    }
    let t = &v["transcript"];
    assert_eq!(t["offer_fingerprint"], case.transcript.offer_fingerprint);
    assert_eq!(t["answer_fingerprint"], case.transcript.answer_fingerprint);
    let chunk = hex::decode(v["auth_chunk_by_b_hex"].as_str().unwrap()).unwrap();
    assert_eq!(case.auth.to_chunk(), chunk);
    let Ok(Incoming::Auth(auth)) = Reassembler::default().push(&chunk) else {
        panic!("the vector is not an auth chunk");
    };
    assert_eq!(auth.verify(&case.transcript, b, &trusted, 0), Ok(()));
}

#[test]
fn chunking_matches_the_vectors() {
    let v = vectors();
    let message: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let cs = chunks(&message);
    let lengths: Vec<u64> = cs.iter().map(|c| c.len() as u64).collect();
    let headers: Vec<u64> = cs.iter().map(|c| u64::from(c[0])).collect();
    let want = |k: &str| -> Vec<u64> {
        v["chunking"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    };
    assert_eq!(lengths, want("chunk_lengths"));
    assert_eq!(headers, want("chunk_headers"));
}
