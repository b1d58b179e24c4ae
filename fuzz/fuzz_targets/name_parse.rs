//! Fuzzes name parsing: no input may panic, and every accepted name must
//! round-trip through its canonical URI form.
#![no_main]

use icn_core::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(name) = Name::parse(text) {
            let uri = name.to_uri();
            assert_eq!(Name::parse(&uri).as_ref(), Ok(&name));
            let _ = name.ring_key();
        }
    }
});
