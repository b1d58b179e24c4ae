//! A battery of malformed inputs: every decoder must refuse them with a typed
//! error and never panic, allocate without bound, or accept a mutation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::SigningKey;
use icn_core::block::chunk;
use icn_core::{ContentObject, Name, Payload, PublisherId, SignedObject};
use proptest::prelude::*;

fn valid(manifest: bool) -> SignedObject {
    let key = SigningKey::from_bytes(&[11; 32]);
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let payload = if manifest {
        Payload::Manifest(chunk(&[3u8; 100], 30).unwrap().0)
    } else {
        Payload::Inline(b"some content".to_vec())
    };
    let obj = ContentObject {
        name: Name::parse("/a/b")
            .unwrap()
            .prefixed(publisher.as_bytes())
            .unwrap(),
        version: 300,
        content_type: "text/plain".into(),
        created: 1000,
        freshness: Some(5),
        payload,
    };
    SignedObject::sign(obj, &key).unwrap()
}

#[test]
fn every_truncation_is_malformed() {
    for manifest in [false, true] {
        let good = valid(manifest);
        let bytes = good.encoded();
        for len in 0..bytes.len() {
            let err = SignedObject::decode(&bytes[..len]).unwrap_err();
            assert_eq!(err.code(), "malformed", "prefix of {len} bytes: {err}");
        }
    }
}

#[test]
fn every_byte_flip_of_a_manifest_object_is_refused() {
    let good = valid(true);
    for i in 0..good.encoded().len() {
        for mask in [0x01u8, 0x10, 0xff] {
            let mut bad = good.encoded().to_vec();
            bad[i] ^= mask;
            assert!(SignedObject::decode(&bad).is_err(), "flip {mask:#x} at {i}");
        }
    }
}

#[test]
fn non_objects_are_wrong_type() {
    for bytes in [&[0x00][..], &[0x40], &[0x60], &[0x80], &[0xf6], &[0xf5]] {
        let err = SignedObject::decode(bytes).unwrap_err();
        assert_eq!(err.code(), "wrong-type", "{bytes:x?}");
    }
    // A map with the wrong key types.
    let err = SignedObject::decode(&[0xa1, 0x61, b'a', 0x00]).unwrap_err();
    assert_eq!(err.code(), "unknown-field");
}

#[test]
fn huge_claimed_lengths_fail_fast() {
    for head in [0x5b, 0x7b, 0x9b, 0xbb] {
        let mut bytes = vec![0xa1, 0x01, head];
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        let err = SignedObject::decode(&bytes).unwrap_err();
        assert_eq!(err.code(), "malformed", "head {head:#x}");
    }
}

#[test]
fn names_over_limits() {
    assert_eq!(
        Name::parse(&"/a".repeat(10_000)).unwrap_err().code(),
        "name-too-long"
    );
    assert_eq!(
        Name::parse(&format!("/{}", "%41".repeat(300)))
            .unwrap_err()
            .code(),
        "component-too-long"
    );
    assert_eq!(Name::from_components(vec![]).unwrap_err().code(), "empty");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random edits of a valid object: never a panic, never accepted.
    #[test]
    fn random_edits_are_refused(pos in any::<prop::sample::Index>(), byte in any::<u8>(), op in 0u8..3, manifest in any::<bool>()) {
        let good = valid(manifest);
        let mut bytes = good.encoded().to_vec();
        let i = pos.index(bytes.len());
        match op {
            0 => { prop_assume!(bytes[i] != byte); bytes[i] = byte }
            1 => { bytes.insert(i, byte); }
            _ => { bytes.remove(i); }
        }
        prop_assert!(SignedObject::decode(&bytes).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SignedObject::decode(&bytes);
        let _ = SignedObject::decode_unverified(&bytes);
    }
}
