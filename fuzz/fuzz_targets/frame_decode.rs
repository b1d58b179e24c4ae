//! Fuzzes the bootstrap frame decoder (gateway WebSocket): no input may
//! panic, and anything accepted must re-encode to exactly the input.
#![no_main]

use icn_core::bootstrap::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::decode(data) {
        assert_eq!(f.encode(), data);
    }
});
