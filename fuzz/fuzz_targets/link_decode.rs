//! Fuzzes the direct-link decoders (spec/link.md): signals routed through
//! the ring and DataChannel chunks. No input may panic; an accepted signal
//! re-encodes to exactly the input; the reassembler stays within its limit.
#![no_main]

use icn_core::link::{Incoming, Reassembler, Signal};
use icn_core::wire::MAX_MESSAGE_SIZE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Signal::decode(data) {
        assert_eq!(s.encode(), data);
    }
    // The same bytes as a stream of chunks, split at every 0xff byte.
    let mut r = Reassembler::default();
    for chunk in data.split(|b| *b == 0xff) {
        if let Ok(Incoming::Message(m)) = r.push(chunk) {
            assert!(m.len() <= MAX_MESSAGE_SIZE);
        }
    }
});
