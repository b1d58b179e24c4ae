//! Ring message vectors in `spec/vectors/messages.json`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use icn_core::wire::Message;
use icn_tests::vectors::{invalid_messages, sample_messages};

fn vectors() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/messages.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn valid_messages_match_the_spec_vectors() {
    let v = vectors();
    let listed = v["valid"].as_array().unwrap();
    let samples = sample_messages();
    assert_eq!(listed.len(), samples.len());
    for (case, (name, msg)) in listed.iter().zip(samples) {
        assert_eq!(case["name"], name);
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        assert_eq!(msg.encode(), bytes, "{name}");
        assert_eq!(Message::decode(&bytes).unwrap(), msg, "{name}");
    }
}

#[test]
fn invalid_messages_are_refused() {
    let v = vectors();
    let listed = v["invalid"].as_array().unwrap();
    assert_eq!(listed.len(), invalid_messages().len());
    for case in listed {
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        assert!(Message::decode(&bytes).is_err(), "{}", case["name"]);
    }
}
