//! The browser bundle and demo page, embedded in the binary.
//!
//! `build.rs` compiles `icn-web` to wasm and runs wasm-bindgen on it; the
//! resulting files are included here so `icn gateway` serves `/pkg/…` and
//! `/` with nothing else installed. Each response carries a strong ETag (the
//! SHA-256 of the file) and `Cache-Control: no-cache`, so browsers revalidate
//! cheaply and never run a stale bundle after an upgrade.

use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// File name under `/pkg/` (or `""` for the page at `/`).
    pub name: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub bytes: &'static [u8],
}

macro_rules! pkg {
    ($file:literal, $ctype:literal) => {
        Asset {
            name: $file,
            content_type: $ctype,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/", $file)),
        }
    };
}

/// The JS API, its wasm and its TypeScript declarations.
pub static PKG: [Asset; 3] = [
    pkg!("icn_web.js", "text/javascript; charset=utf-8"),
    pkg!("icn_web_bg.wasm", "application/wasm"),
    pkg!("icn_web.d.ts", "application/typescript; charset=utf-8"),
];

/// The demo page served at `/`.
pub static PAGE: Asset = Asset {
    name: "",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("page.html"),
};

/// The file `/pkg/<name>`, if it is one of ours.
pub fn pkg(name: &str) -> Option<&'static Asset> {
    PKG.iter().find(|a| a.name == name)
}

impl Asset {
    /// Strong ETag: the quoted hex SHA-256 of the bytes.
    pub fn etag(&self) -> String {
        let d = Sha256::digest(self.bytes);
        let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_embedded_and_whole() {
        let wasm = pkg("icn_web_bg.wasm").unwrap();
        assert_eq!(&wasm.bytes[..4], b"\0asm");
        let js = std::str::from_utf8(pkg("icn_web.js").unwrap().bytes).unwrap();
        assert!(js.contains("class Peer"), "the JS glue exports Peer");
        assert!(std::str::from_utf8(pkg("icn_web.d.ts").unwrap().bytes)
            .unwrap()
            .contains("publish("));
        assert!(pkg("../Cargo.toml").is_none());
        assert_ne!(pkg("icn_web.js").unwrap().etag(), wasm.etag());
    }
}
