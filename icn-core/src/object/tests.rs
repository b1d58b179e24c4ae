use super::*;
use crate::block::chunk;
use proptest::prelude::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn name_for(key: &SigningKey, path: &str) -> Name {
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    Name::parse(path)
        .unwrap()
        .prefixed(publisher.as_bytes())
        .unwrap()
}

fn sample(key: &SigningKey, payload: Payload) -> ContentObject {
    ContentObject {
        name: name_for(key, "/blog/hello"),
        version: 7,
        content_type: "text/plain".into(),
        created: 1_700_000_000_000,
        freshness: Some(60),
        payload,
    }
}

#[test]
fn sign_decode_round_trip() {
    let k = key(1);
    let o = SignedObject::sign(sample(&k, Payload::Inline(b"hi".to_vec())), &k).unwrap();
    let back = SignedObject::decode(o.encoded()).unwrap();
    assert_eq!(back, o);
    assert_eq!(back.publisher(), PublisherId::from_key(k.verifying_key()));
    // Encoding is deterministic.
    let again = SignedObject::sign(sample(&k, Payload::Inline(b"hi".to_vec())), &k).unwrap();
    assert_eq!(again.encoded(), o.encoded());
}

#[test]
fn manifest_round_trip() {
    let k = key(2);
    let data = vec![9u8; 10_000];
    let (m, _) = chunk(&data, 1024).unwrap();
    let o = SignedObject::sign(sample(&k, Payload::Manifest(m.clone())), &k).unwrap();
    let back = SignedObject::decode(o.encoded()).unwrap();
    assert_eq!(back.object().payload, Payload::Manifest(m));
}

#[test]
fn every_single_byte_flip_is_refused() {
    let k = key(3);
    let o = SignedObject::sign(sample(&k, Payload::Inline(b"hello world".to_vec())), &k).unwrap();
    for i in 0..o.encoded().len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = o.encoded().to_vec();
            bad[i] ^= mask;
            assert!(
                SignedObject::decode(&bad).is_err(),
                "flip {mask:#x} at {i} accepted"
            );
        }
    }
}

#[test]
fn foreign_publisher_is_refused() {
    let (alice, mallory) = (key(4), key(5));
    let mut obj = sample(&alice, Payload::Inline(vec![]));
    assert!(matches!(
        SignedObject::sign(obj.clone(), &mallory),
        Err(ObjectError::PublisherMismatch { .. })
    ));
    obj.name = Name::parse("/alice/blog").unwrap();
    let err = SignedObject::sign(obj, &alice).unwrap_err();
    assert_eq!(err.code(), "publisher-mismatch");
}

#[test]
fn content_type_and_inline_limits() {
    let k = key(6);
    let mut o = sample(&k, Payload::Inline(vec![0; MAX_INLINE_SIZE + 1]));
    assert_eq!(
        SignedObject::sign(o.clone(), &k),
        Err(ObjectError::InlineTooLarge(MAX_INLINE_SIZE + 1))
    );
    o.payload = Payload::Inline(vec![]);
    o.content_type = "text/plain\r\nX: y".into();
    assert_eq!(SignedObject::sign(o, &k), Err(ObjectError::ContentType));
}

#[test]
fn newer_versions_and_ties_are_ordered() {
    let k = key(7);
    let mut a = sample(&k, Payload::Inline(b"a".to_vec()));
    let b = SignedObject::sign(a.clone(), &k).unwrap();
    a.payload = Payload::Inline(b"b".to_vec());
    let c = SignedObject::sign(a.clone(), &k).unwrap();
    assert!(b.supersedes(&c) ^ c.supersedes(&b));
    a.version += 1;
    let d = SignedObject::sign(a, &k).unwrap();
    assert!(d.supersedes(&b) && d.supersedes(&c));
    assert!(!b.supersedes(&b));
}

proptest! {
    #[test]
    fn round_trips(
        seed in any::<u8>(),
        path in proptest::collection::vec("[a-z0-9%]{1,12}", 1..6),
        version in any::<u64>(),
        created in any::<u64>(),
        freshness in proptest::option::of(any::<u64>()),
        content in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let k = key(seed);
        let Ok(rel) = Name::parse(&format!("/{}", path.join("/"))) else { return Ok(()) };
        let publisher = PublisherId::from_key(k.verifying_key()).to_text();
        let obj = ContentObject {
            name: rel.prefixed(publisher.as_bytes()).unwrap(),
            version, created, freshness,
            content_type: "application/octet-stream".into(),
            payload: Payload::Inline(content),
        };
        let signed = SignedObject::sign(obj.clone(), &k).unwrap();
        let back = SignedObject::decode(signed.encoded()).unwrap();
        prop_assert_eq!(back.object(), &obj);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = SignedObject::decode(&bytes);
    }
}
