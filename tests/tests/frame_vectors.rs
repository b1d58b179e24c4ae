//! Bootstrap frame vectors in `spec/vectors/frames.json`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use icn_core::bootstrap::Frame;
use icn_tests::vectors::{invalid_frames, sample_frames};

fn vectors() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/frames.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn valid_frames_match_the_spec_vectors() {
    let v = vectors();
    let listed = v["valid"].as_array().unwrap();
    let samples = sample_frames();
    assert_eq!(listed.len(), samples.len());
    for (case, (name, frame)) in listed.iter().zip(samples) {
        assert_eq!(case["name"], name);
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        assert_eq!(frame.encode(), bytes, "{name}");
        assert_eq!(Frame::decode(&bytes).unwrap(), frame, "{name}");
    }
}

#[test]
fn invalid_frames_are_refused() {
    let v = vectors();
    let listed = v["invalid"].as_array().unwrap();
    assert_eq!(listed.len(), invalid_frames().len());
    for case in listed {
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        assert!(Frame::decode(&bytes).is_err(), "{}", case["name"]);
    }
}
