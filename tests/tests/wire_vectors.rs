//! Ring message vectors in `spec/vectors/messages.json`.

use icn_core::wire::Message;
use icn_tests::vectors::{check_codec_vectors, invalid_messages, read_vectors, sample_messages};

#[test]
fn messages_match_the_spec_vectors() {
    check_codec_vectors(
        &read_vectors("messages.json"),
        sample_messages(),
        invalid_messages().len(),
        Message::encode,
        |b| Message::decode(b).ok(),
    );
}
