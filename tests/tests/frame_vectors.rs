//! Bootstrap frame vectors in `spec/vectors/frames.json`.

use icn_core::bootstrap::Frame;
use icn_tests::vectors::{check_codec_vectors, invalid_frames, read_vectors, sample_frames};

#[test]
fn frames_match_the_spec_vectors() {
    check_codec_vectors(
        &read_vectors("frames.json"),
        sample_frames(),
        invalid_frames().len(),
        Frame::encode,
        |b| Frame::decode(b).ok(),
    );
}
