//! Fuzzes the ring message decoder: no input may panic, and anything accepted
//! must re-encode to exactly the input (strict, canonical decoding).
#![no_main]

use icn_core::wire::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.encode(), data);
    }
});
