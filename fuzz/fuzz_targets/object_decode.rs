//! Fuzzes the strict object decoder: no input may panic, and anything accepted
//! must re-encode to itself and verify.
#![no_main]

use icn_core::SignedObject;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = SignedObject::decode_unverified(data) {
        assert_eq!(obj.encoded(), data);
        let _ = obj.verify();
        let _ = obj.name().ring_key();
    }
});
