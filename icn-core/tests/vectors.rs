//! Checks icn-core against every test vector in `spec/vectors/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use icn_core::block::chunk;
use icn_core::{ContentObject, Hash, Name, Payload, SignedObject};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

fn json(file: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(dir().join(file)).unwrap()).unwrap()
}

fn files_in(sub: &str) -> BTreeSet<String> {
    fs::read_dir(dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn listed(index: &Value) -> BTreeSet<String> {
    index
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["file"].as_str().unwrap().to_string())
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k} in {v}"))
}

#[test]
fn valid_names() {
    let v = json("names.json");
    let valid = v["valid"].as_array().unwrap();
    assert!(valid.len() >= 5);
    for case in valid {
        let n = Name::parse(s(case, "uri")).unwrap();
        assert_eq!(n.to_uri(), s(case, "canonical"));
        let comps: Vec<String> = n.components().iter().map(hex::encode).collect();
        let want: Vec<String> = case["components_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(comps, want);
        assert_eq!(
            hex::encode(n.canonical_bytes()),
            s(case, "canonical_bytes_hex")
        );
        assert_eq!(n.ring_key().to_hex(), s(case, "ring_key"));
        // The canonical form parses back to the same name.
        assert_eq!(Name::parse(s(case, "canonical")).unwrap(), n);
    }
}

#[test]
fn invalid_names_fail_for_the_stated_reason() {
    let v = json("names.json");
    let invalid = v["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 10);
    for case in invalid {
        let err = Name::parse(s(case, "uri")).unwrap_err();
        assert_eq!(err.code(), s(case, "error"), "{case}");
    }
}

#[test]
fn valid_objects_decode_and_rebuild_byte_for_byte() {
    let index = json("objects.json");
    assert_eq!(
        listed(&index),
        files_in("objects"),
        "objects/ and objects.json disagree"
    );
    let mut blocks_used = BTreeSet::new();
    for case in index.as_array().unwrap() {
        let bytes = fs::read(dir().join("objects").join(s(case, "file"))).unwrap();
        let obj = SignedObject::decode(&bytes).unwrap();
        assert_eq!(obj.name().to_uri(), s(case, "name"));
        assert_eq!(obj.name().ring_key().to_hex(), s(case, "ring_key"));
        assert_eq!(obj.publisher().to_text(), s(case, "publisher"));
        assert_eq!(obj.hash().to_hex(), s(case, "hash"));
        assert_eq!(Hash::of(&bytes).to_hex(), s(case, "hash"));
        let o = obj.object();
        assert_eq!(o.version, case["version"].as_u64().unwrap());
        assert_eq!(o.content_type, s(case, "content_type"));
        assert_eq!(o.created, case["created"].as_u64().unwrap());
        assert_eq!(o.freshness, case["freshness"].as_u64());
        let content = hex::decode(s(case, "content_hex")).unwrap();
        match &o.payload {
            Payload::Inline(b) => assert_eq!(b, &content),
            Payload::Manifest(m) => {
                let got = m
                    .assemble(|r| {
                        blocks_used.insert(r.hash.to_hex());
                        fs::read(dir().join("blocks").join(r.hash.to_hex())).ok()
                    })
                    .unwrap();
                assert_eq!(got, content);
                let hashes: Vec<String> = m.blocks().iter().map(|r| r.hash.to_hex()).collect();
                let want: Vec<&str> = case["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_str().unwrap())
                    .collect();
                assert_eq!(hashes, want);
            }
        }
        // Rebuilding from the description gives exactly the same bytes.
        let seed: [u8; 32] = hex::decode(s(case, "secret_key_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        let key = SigningKey::from_bytes(&seed);
        let payload = match case["block_size"].as_u64() {
            None => Payload::Inline(content),
            Some(bs) => Payload::Manifest(chunk(&content, bs as usize).unwrap().0),
        };
        let rebuilt = SignedObject::sign(
            ContentObject {
                name: Name::parse(s(case, "name")).unwrap(),
                version: o.version,
                content_type: o.content_type.clone(),
                created: o.created,
                freshness: o.freshness,
                payload,
            },
            &key,
        )
        .unwrap();
        assert_eq!(rebuilt.encoded(), &bytes[..], "{}", s(case, "file"));
    }
    assert_eq!(
        blocks_used,
        files_in("blocks"),
        "blocks/ holds unused or missing blocks"
    );
}

#[test]
fn invalid_objects_fail_for_the_stated_reason() {
    let index = json("invalid.json");
    assert_eq!(
        listed(&index),
        files_in("invalid"),
        "invalid/ and invalid.json disagree"
    );
    assert!(index.as_array().unwrap().len() >= 20);
    for case in index.as_array().unwrap() {
        let path: &Path = &dir().join("invalid").join(s(case, "file"));
        let err = SignedObject::decode(&fs::read(path).unwrap()).unwrap_err();
        assert_eq!(err.code(), s(case, "error"), "{}: {err}", s(case, "file"));
        assert!(!s(case, "reason").is_empty());
    }
}
